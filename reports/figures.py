"""The report figures, one builder per figure, drawn from a loaded results folder.

Each ``make_<name>(results, dpi)`` returns a matplotlib :class:`~matplotlib.figure.Figure`
(object-oriented API, Agg canvas, no pyplot global state) so its data can be inspected;
``draw_<name>(results, path, dpi)`` builds it, saves it as PNG and returns the path.
Time-series values are interval means drawn at the interval midpoint, in local time.
The energy figures live in :mod:`reports.energy_figures`, the batched-serving figure in
:mod:`reports.serving_figure`, the depot-site figure in :mod:`reports.depot`; :data:`FIGURES`
lists every figure drawn from the results alone.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import tzinfo
from pathlib import Path, PurePath

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

from reports import cohort_figure, depot, energy_figures, serving_figure, style
from sim.results import Results

ECDF_MAX_POINTS = 4000  # quantiles drawn per class; enough for a smooth curve at any dpi


def _zone(results: Results) -> tzinfo | None:
    """The scenario's time zone, or None to fall back to the offsets in the time column."""
    return style.zone(results)


def _vehicles_label(results: Results) -> str:
    fleet = results.summary.get("fleet", {})
    sim_n, rep_n = fleet.get("vehicles_simulated"), fleet.get("vehicles_represented")
    if sim_n is not None and rep_n is not None and float(rep_n) != float(sim_n):
        return f"{style.count_text(float(rep_n))} vehicles represented by {sim_n:,} simulated"
    return f"{style.count_text(float(rep_n if rep_n is not None else len(results.vehicles)))} vehicles"


def _subtitle(results: Results) -> str:
    return style.subtitle(results.summary)


def _interval_text(ts: pd.DataFrame) -> str:
    """The sample interval as a phrase: ``15 min``, ``1 min``, ``1 h`` (the median row spacing)."""
    t = ts["t_s"].to_numpy(dtype=float)
    return style.fmt_duration(float(np.median(np.diff(np.concatenate([[0.0], t]))))) if len(t) else "?"


def _legend_right(ax: Axes, handles: list, title: str | None = None, **kw) -> None:
    """A frameless legend outside the axes, to its right (never on the data)."""
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, title=title, **kw)


# ------------------------------------------------------------------------------ fleet states
def make_fleet_states(results: Results, dpi: int = 110) -> Figure:
    """Stacked area of mean vehicle counts per state (vehicles, thousand or million vehicles as fits)
    with charging as a line."""
    ts = results.timeseries
    fig = style.new_figure(style.SIZE_WIDE, dpi)
    ax = fig.add_subplot()
    style.figure_title(fig, f"Fleet state over time — {_vehicles_label(results)}", results.summary)
    if len(ts) == 0:
        ax.set_ylabel("vehicles (mean over each interval)")
        style.empty_panel(ax, "no time-series samples in this run")
        return fig
    lt = style.local_times(ts, _zone(results))
    x, pad = lt.x, lt.pad
    layers = [pad(ts[s]) for s in style.STATES]
    total = max(float(np.max(np.sum(layers, axis=0))), float(ts["charging"].max()))
    div, word = style.count_unit(total)
    ax.set_ylabel(f"{word + ' ' if word else ''}vehicles (mean over each interval)")
    polys = ax.stackplot(x, [layer / div for layer in layers], colors=[style.STATE_COLORS[s] for s in style.STATES],
                         labels=[style.STATE_LABELS[s] for s in style.STATES], alpha=0.9, lw=0)
    for poly, state in zip(polys, style.STATES, strict=True):
        poly.set_gid(f"state:{state}")
    line, = ax.plot(x, pad(ts["charging"]) / div, color=style.STATE_COLORS["charging"],
                    lw=1.8, label=style.STATE_LABELS["charging"], gid="line:charging")
    ax.set_ylim(0, total / div * 1.03 or 1.0)
    style.count_axis(ax.yaxis, div)
    ax.grid(axis="y", alpha=0.3)
    style.time_axis(ax, lt)
    _legend_right(ax, [*reversed(polys), line], "state (stack top → bottom)")
    return style.plain_numbers(fig)


# ------------------------------------------------------------------------------ utilization
#: bands of the chips' nameplate power, stack bottom to top: what is available first
NAMEPLATE_BANDS = ("serving", "available", "offline", "opted_out", "driving")
NAMEPLATE_LABELS = {
    "serving": "serving: busy chip slots",
    "available": "available: online, chip slots idle",
    "offline": "parked offline: no connection, or battery kept for trips",
    "opted_out": "parked, owner not opted in",
    "driving": "driving",
}
NAMEPLATE_COLORS = {
    "serving": style.STATE_COLORS["serving"],
    "available": style.STATE_COLORS["available"],
    "offline": "#9A9A9A",
    "opted_out": "#D9D9D9",
    "driving": style.STATE_COLORS["driving"],
}


def nameplate_w(results: Results) -> float | None:
    """Every represented car's chip at full power (W): ``availability.nameplate_gw``, or for an
    older folder the online chip power per online car times the fleet; None when unknown."""
    g = (results.summary.get("availability") or {}).get("nameplate_gw")
    if g is not None:
        return float(g) * 1e9
    ts = results.timeseries
    online = (ts["available"] + ts["serving"]).to_numpy(dtype=float)
    ok = online > 0
    if not ok.any():
        return None
    per_car = float(np.median(ts["available_inference_w"].to_numpy(dtype=float)[ok] / online[ok]))
    cars = float((ts["driving"] + ts["parked"] + ts["available"] + ts["serving"]).max())
    return per_car * cars


def nameplate_split_w(results: Results) -> dict[str, np.ndarray] | None:
    """The chips' nameplate power (W) split per sample row into :data:`NAMEPLATE_BANDS`, adding up to
    the nameplate; None when the nameplate is unknown.

    Online chips (``available_inference_w``) split into serving (the busy share of their slots,
    ``utilization``) and available; the rest of the nameplate is split over driving, owners not opted
    in and other offline parked cars in proportion to their vehicle counts (exact when every car
    carries the same chip).
    """
    total = nameplate_w(results)
    if total is None:
        return None
    ts = results.timeseries
    online = np.clip(ts["available_inference_w"].to_numpy(dtype=float), 0.0, None)
    busy = np.clip(ts["utilization"].to_numpy(dtype=float), 0.0, 1.0) * online
    rest = np.clip(total - online, 0.0, None)
    opted = ts["offline_opted_out"].to_numpy(dtype=float) if "offline_opted_out" in ts else np.zeros(len(ts))
    counts = {"offline": np.clip(ts["parked"].to_numpy(dtype=float) - opted, 0.0, None),
              "opted_out": np.clip(opted, 0.0, None),
              "driving": np.clip(ts["driving"].to_numpy(dtype=float), 0.0, None)}
    n_off = sum(counts.values())
    bands = {"serving": busy, "available": online - busy}
    for band, n in counts.items():
        share = np.divide(n, n_off, out=np.full(len(ts), 1.0 if band == "offline" else 0.0), where=n_off > 0)
        bands[band] = rest * share
    return {b: bands[b] for b in NAMEPLATE_BANDS}


def _mean_text(values_w: np.ndarray) -> str:
    """``mean 40.9 MW``: the mean of ``values_w`` (W) in the unit that fits it, not the axis's."""
    return f"mean {style.power_text(float(np.mean(values_w)))}"


def make_utilization(results: Results, dpi: int = 110) -> Figure:
    """Above: the chips' nameplate power (kW/MW/GW) split into serving, available, offline, owners
    not opted in and driving, stacked, the available inference power drawn as a line. Below: the
    busy share of the available chip slots (%)."""
    ts = results.timeseries
    fig = style.new_figure(style.SIZE_TALL, dpi)
    ax, axu = fig.subplots(2, 1, sharex=True, height_ratios=[2.2, 1.0])
    style.figure_title(fig, "Available inference power against driving and opt-out, and its utilization",
                       results.summary)
    axu.set_ylabel("busy share of available\nchip slots (%)")
    axu.yaxis.set_major_formatter(style.PercentTicks())
    if len(ts) == 0:
        ax.set_ylabel("power")
        style.empty_panel(ax, "no time-series samples in this run")
        style.empty_panel(axu, "no time-series samples")
        return fig
    lt = style.local_times(ts, _zone(results))
    x, pad = lt.x, lt.pad
    avail_w = pad(ts["available_inference_w"])
    bands = nameplate_split_w(results)
    total_w = nameplate_w(results) or 0.0
    div, unit = style.power_unit(max(total_w, float(np.max(np.abs(avail_w)))))
    ax.set_ylabel(f"chip power at full load ({unit})")
    handles = []
    if bands is not None and total_w > 0:
        shown = [b for b in NAMEPLATE_BANDS if np.any(bands[b] > 0)]
        polys = ax.stackplot(x, [pad(bands[b]) / div for b in shown], colors=[NAMEPLATE_COLORS[b] for b in shown],
                             alpha=0.9, lw=0, labels=[f"{NAMEPLATE_LABELS[b]} ({_mean_text(bands[b])})"
                                                      for b in shown])
        for poly, b in zip(polys, shown, strict=True):
            poly.set_gid(f"nameplate:{b}")
        top = max(total_w, float(np.max(avail_w))) / div
        _outline_thin_bands(ax, x, [pad(bands[b]) / div for b in shown], [NAMEPLATE_COLORS[b] for b in shown],
                            shown, top)
        handles.append(ax.axhline(total_w / div, color="#333333", lw=1.0, ls="--", gid="line:nameplate",
                                  label=f"nameplate: every car's chip at full power ({style.power_text(total_w)})"))
        handles += list(reversed(polys))
    line, = ax.plot(x, avail_w / div, color="#1E6B34", lw=1.6, gid="line:available",
                    label=f"available inference power ({_mean_text(ts['available_inference_w'])})")
    handles.insert(1 if len(handles) else 0, line)
    ax.set_ylim(0, max(total_w, float(np.max(avail_w))) / div * 1.05 or 1.0)
    ax.grid(axis="y", alpha=0.3)
    ax.tick_params(labelbottom=False)
    _legend_right(ax, handles, "chip nameplate power (stack top → bottom)", fontsize="small")

    util = 100.0 * pad(ts["utilization"])
    if not np.any(avail_w > 0):
        style.empty_panel(axu, "no chips online in this run (no inference capacity)")
    else:
        h = [axu.plot(x, util, color=style.UTILIZATION_COLOR, lw=1.5, gid="line:utilization",
                      label="busy share of available chip slots")[0]]
        mean = results.summary.get("utilization", {}).get("mean")
        if mean is not None:
            h.append(axu.axhline(100.0 * mean, color=style.UTILIZATION_COLOR, lw=1, ls="--", gid="line:mean",
                                 label=f"mean over the run {100.0 * mean:.3g} %"))
        axu.set_ylim(0, max(float(np.max(util)), 100.0 * (mean or 0.0)) * 1.15 or 1.0)
        _legend_right(axu, h, "utilization of what is available", fontsize="small")
    axu.grid(axis="y", alpha=0.3)
    style.time_axis(axu, lt)
    return style.plain_numbers(fig)


# ------------------------------------------------------------------------------ power
STORED_LABEL = "into the batteries (net stored)"
DRAWDOWN_LABEL = "of the loads, fed by the batteries (net drawdown)"
DRAWDOWN_HATCH = "////"
THIN_BAND_SHARE = 0.02  # bands below this share of the axis height also get a line along their top
ROUND_OFF = 1e-9  # battery flows below this share of the run's largest power are round-off, drawn as 0


def _energy_wh(power_w: np.ndarray, dt_s: np.ndarray) -> float:
    return float(np.sum(power_w * dt_s)) / 3600.0


def make_power(results: Results, dpi: int = 110) -> Figure:
    """Where the grid's power goes: the loads by category stacked, the net power into the batteries
    on top, the loads' battery-fed part hatched, so the stack less the hatch meets the grid draw line
    at every sample; price and carbon below."""
    ts = results.timeseries
    fig, ax, axp, empty = style.power_over_signals(
        len(ts), f"Where the grid's power goes: loads by category and battery storage ({_subtitle(results)})",
        "Grid signals", [3, 1], dpi)
    if empty:
        return fig
    lt = style.local_times(ts, _zone(results))
    x, pad = lt.x, lt.pad
    split = power_split_w(ts)
    cats = [c for c in style.ENERGY_CATEGORIES if np.any(split[c] > 0)]
    grid_w = ts["grid_w"].to_numpy(dtype=float)
    top = np.sum([split[c] for c in cats], axis=0) if cats else np.zeros(len(ts))
    stored, drawdown = split["stored"], split["drawdown"]
    y_max_w = _power_axis_max_w(top + stored, grid_w)
    div, unit = style.power_unit(y_max_w)
    ax.set_ylabel(f"power ({unit}, mean over each interval)")
    dt = np.diff(np.concatenate([[0.0], ts["t_s"].to_numpy(dtype=float)]))
    stack_wh = _energy_wh(top + stored, dt)
    keys = [*cats, "stored"] if np.any(stored > 0) else cats
    handles = []
    if keys:
        labels = [STORED_LABEL if k == "stored" else style.ENERGY_LABELS[k] for k in keys]
        colors = [style.STORED_COLOR if k == "stored" else style.ENERGY_COLORS[k] for k in keys]
        shares = [100.0 * _energy_wh(split[k], dt) / stack_wh if stack_wh > 0 else 0.0 for k in keys]
        polys = ax.stackplot(x, [pad(split[k]) / div for k in keys], lw=0, alpha=0.9, colors=colors,
                             labels=[f"{lab} — {style.share_text(sh)}" for lab, sh in zip(labels, shares, strict=True)])
        for poly, k in zip(polys, keys, strict=True):
            poly.set_gid(f"power:{k}")
        _outline_thin_bands(ax, x, [pad(split[k]) / div for k in keys], colors, keys, y_max_w / div)
        handles = list(reversed(polys))
    if np.any(drawdown > 0):
        share = 100.0 * _energy_wh(drawdown, dt) / stack_wh if stack_wh > 0 else 0.0
        handles.append(ax.fill_between(x, pad(top - drawdown) / div, pad(top) / div, facecolor="none",
                                       edgecolor="#1B2631", hatch=DRAWDOWN_HATCH, lw=0, gid="power:drawdown",
                                       label=f"{DRAWDOWN_LABEL} — {style.share_text(share)}"))
    line, = ax.plot(x, pad(grid_w) / div, color=style.GRID_COLOR, lw=1.3, gid="line:grid",
                    label="grid draw (= stack less hatched part)" if np.any(drawdown > 0) else "grid draw (= stack)")
    if not cats and not np.any(grid_w != 0):
        style.empty_panel(ax, "no power drawn in this run (all categories 0 W)")
    y_min = min(0.0, float(np.min(grid_w / div)) * 1.05)
    ax.set_ylim(y_min, (y_max_w / div) * 1.08 if y_max_w > 0 else 1.0)
    style.off_scale_note(ax, lt, ts["t_s"].to_numpy(dtype=float), np.maximum(top + stored, grid_w),
                         (y_max_w / div) * 1.08, div, unit, "grid draw")
    ax.grid(axis="y", alpha=0.3)
    _legend_right(ax, [line, *handles], "power (stack top → bottom),\nshare of the energy of loads + stored",
                  fontsize="small")
    ax.tick_params(labelbottom=False)

    price = pad(ts["price_usd_per_kwh"])
    carbon = pad(ts["carbon_g_per_kwh"])
    axc = axp.twinx()
    hp, = axp.plot(x, price, color=style.PRICE_COLOR, lw=1.0, label="price ($/kWh, left)")
    hc, = axc.plot(x, carbon, color=style.CARBON_COLOR, lw=1.0, ls="--",
                   label="carbon intensity (gCO₂/kWh, right)")
    axp.set_ylabel("price ($/kWh)", color=style.PRICE_COLOR)
    axc.set_ylabel("gCO₂/kWh", color=style.CARBON_COLOR)
    axp.set_ylim(0, max(float(np.nanmax(price)) * 1.15, 1e-3) if np.any(np.isfinite(price)) else 1)
    axc.set_ylim(0, max(float(np.nanmax(carbon)) * 1.15, 1.0) if np.any(np.isfinite(carbon)) else 1)
    axp.grid(axis="y", alpha=0.3)
    axp.legend(handles=[hp, hc], loc="upper left", bbox_to_anchor=(1.01 + 0.06, 1.0), frameon=False)
    style.time_axis(axp, lt)
    return style.plain_numbers(fig)


def power_split_w(ts: pd.DataFrame) -> dict[str, np.ndarray]:
    """Where the grid's power goes, per sample row (W, >= 0): every load category, ``stored`` (net
    power into the batteries) and ``drawdown`` (the loads' part the batteries fed), so that the loads
    plus ``stored`` less ``drawdown`` equal ``grid_w``. The battery term is what the grid draw leaves
    after the loads: ``battery_w`` up to round-off, since ``grid_w = sum(power_w_*) + battery_w``."""
    out = {c: np.clip(ts[f"power_w_{c}"].to_numpy(dtype=float), 0.0, None)  # drop -1e-10 W round-off
           for c in style.ENERGY_CATEGORIES}
    loads = np.sum(list(out.values()), axis=0)
    grid = ts["grid_w"].to_numpy(dtype=float)
    battery = grid - loads  # = battery_w up to round-off (grid = loads + battery), so the identity is exact
    scale = float(np.max(np.maximum(np.abs(grid), loads), initial=0.0))
    battery[np.abs(battery) <= ROUND_OFF * scale] = 0.0  # a difference of round-off is no battery flow
    out["stored"] = np.clip(battery, 0.0, None)
    out["drawdown"] = np.clip(-battery, 0.0, None)
    return out


def _outline_thin_bands(ax: Axes, x: pd.DatetimeIndex, layers: list[np.ndarray], colors: list[str],
                        keys: list[str], y_top: float) -> None:
    """A line along the top of every band thinner than :data:`THIN_BAND_SHARE` of the axis (``y_top``)
    on average, so a small band (chip serving at 1 %) is seen; its size stays in the legend."""
    cum = np.zeros(len(x))
    for layer, color, key in zip(layers, colors, keys, strict=True):
        cum = cum + layer
        if y_top > 0 and 0 < float(np.mean(layer)) < THIN_BAND_SHARE * y_top:
            ax.plot(x, cum, color=color, lw=1.4, gid=f"edge:{key}", zorder=3)


def _power_axis_max_w(top_w: np.ndarray, grid_w: np.ndarray) -> float:
    """Upper power-axis limit (W): the whole stack and grid draw, except that a peak more than
    1.5 × above their 97th percentile (a start-up charging peak) is left off scale (annotated)."""
    if not len(top_w) and not len(grid_w):
        return 0.0
    envelope = np.maximum(top_w, grid_w) if len(top_w) == len(grid_w) else np.concatenate([top_w, grid_w])
    return style.clipped_max(envelope)


# ------------------------------------------------------------------------------ latency
_DURATION_TICKS = ((0.01, "10 ms"), (0.1, "0.1 s"), (1, "1 s"), (10, "10 s"), (60, "1 min"),
                   (600, "10 min"), (3600, "1 h"), (6 * 3600, "6 h"), (86400, "1 d"),
                   (7 * 86400, "1 wk"))


def _ecdf(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted values and their cumulative fractions, thinned to ``ECDF_MAX_POINTS`` quantiles."""
    v = np.sort(values)
    frac = np.arange(1, len(v) + 1) / len(v)
    if len(v) > ECDF_MAX_POINTS:
        idx = np.unique(np.linspace(0, len(v) - 1, ECDF_MAX_POINTS).round().astype(int))
        v, frac = v[idx], frac[idx]
    return v, frac


def _class_attainment(results: Results, cls: str, jobs: pd.DataFrame) -> float | None:
    by_class = results.summary.get("jobs", {}).get("by_class", {})
    if cls in by_class:
        return by_class[cls].get("slo_attainment")
    left = jobs["outcome"].isin(["completed", "dropped"])
    return float(jobs["slo_met"].sum() / left.sum()) if left.sum() else None


def make_latency(results: Results, dpi: int = 110) -> Figure:
    """ECDF of completed-job latency (s, log axis) per class, SLOs marked, attainment in legend."""
    jobs = results.jobs
    fig = style.new_figure(style.SIZE_WIDE, dpi)
    ax = fig.add_subplot()
    style.figure_title(fig, "Latency of completed jobs, arrival to last token", results.summary)
    ax.set_xlabel("latency (s, log scale)")
    ax.set_ylabel("share of completed jobs with latency ≤ x (%)")
    ax.yaxis.set_major_formatter(style.PercentTicks(100.0))
    ax.set_ylim(0, 1.02)
    lo, hi, drawn = np.inf, 0.0, 0
    jobs_s = results.summary.get("jobs", {})
    rows, arrived = jobs_s.get("table_rows"), jobs_s.get("arrived")
    sampled = rows is not None and arrived is not None and rows < arrived
    if sampled and rows == 0:
        style.empty_panel(ax, f"the job table was not written (report.jobs = 'none'): "
                              f"{jobs_s.get('completed', 0):,} jobs completed; see summary.json")
        ax.set_xticks([])
        ax.set_xlabel("latency (s)")
        return fig
    if sampled:
        ax.set_title(f"from a uniform sample of {rows:,} of the {arrived:,} jobs (report.jobs = 'sample'); "
                     "attainment of all jobs", fontsize="small")
    for cls in style.JOB_CLASSES:
        cj = jobs[jobs["job_class"] == cls]
        lat = cj.loc[cj["outcome"] == "completed", "latency_s"].to_numpy(dtype=float)
        lat = lat[np.isfinite(lat)]
        slos = cj["slo_s"].to_numpy(dtype=float)
        slo = float(pd.Series(slos).mode().iloc[0]) if len(slos) else None
        att = _class_attainment(results, cls, cj)
        att_txt = f"{100.0 * att:.1f} %" if att is not None else "n/a"
        color = style.CLASS_COLORS[cls]
        if len(lat):
            v, frac = _ecdf(np.maximum(lat, 1e-3))
            shown = "in the sample" if sampled else "completed"
            ax.step(v, frac, where="post", color=color, lw=2, gid=f"ecdf:{cls}",
                    label=f"{cls}: {len(lat):,} {shown}, SLO attainment {att_txt}")
            lo, hi, drawn = min(lo, v[0]), max(hi, v[-1]), drawn + 1
        else:
            ax.plot([], [], color=color, lw=2,
                    label=f"{cls}: no completed jobs ({len(cj):,} arrived), SLO attainment {att_txt}")
        if slo is not None and slo > 0:
            ax.axvline(slo, color=color, ls="--", lw=1.2, gid=f"slo:{cls}",
                       label=f"{cls} SLO {style.fmt_duration(slo)}")
            lo, hi = min(lo, slo), max(hi, slo)
    ax.set_xscale("log")
    x_lo, x_hi = (lo / 2.0, hi * 2.0) if np.isfinite(lo) and hi > 0 else (0.1, 1e4)
    ax.set_xlim(x_lo, x_hi)
    ticks = [(t, s) for t, s in _DURATION_TICKS if x_lo <= t <= x_hi]
    if len(ticks) >= 2:
        ax.xaxis.set_major_locator(FixedLocator([t for t, _ in ticks]))
        ax.xaxis.set_major_formatter(FixedFormatter([s for _, s in ticks]))
        ax.xaxis.set_minor_locator(NullLocator())
    if drawn == 0:
        style.empty_panel(ax, "no completed jobs in this run")
    ax.grid(alpha=0.3, which="major")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, frameon=False)
    return fig


# ------------------------------------------------------------------------------ dispatch
PREEMPTION_COLORS = {"departure": "#C0392B", "reserve": "#8E44AD", "outage": "#D68910"}


def mean_wait_by_interval(results: Results, cls: str) -> np.ndarray:
    """Mean queue wait (s) of the ``cls`` jobs that started in each sample interval (NaN if none)."""
    ts, jobs = results.timeseries, results.jobs
    edges = np.concatenate([[0.0], ts["t_s"].to_numpy(dtype=float)])
    j = jobs[(jobs["job_class"] == cls) & jobs["start_s"].notna()]
    start = j["start_s"].to_numpy(dtype=float)
    wait = j["wait_s"].to_numpy(dtype=float)
    k = np.clip(np.searchsorted(edges, start, side="right") - 1, 0, len(ts) - 1)
    total = np.bincount(k, weights=wait, minlength=len(ts))
    count = np.bincount(k, minlength=len(ts))
    return np.divide(total, count, out=np.full(len(ts), np.nan), where=count > 0)


def _dispatch_data(results: Results) -> tuple[dict, dict, dict]:
    """Queue lengths (jobs, per row), mean waits (s, per row) per class, and preemptions per row by cause."""
    ts = results.timeseries
    queues = {cls: ts[f"queue_{cls}"].to_numpy(dtype=float) for cls in style.JOB_CLASSES if f"queue_{cls}" in ts}
    waits = {cls: mean_wait_by_interval(results, cls) for cls in style.JOB_CLASSES}
    preempted = {cause: ts[f"preempted_{cause}"].to_numpy(dtype=float) for cause in PREEMPTION_COLORS
                 if f"preempted_{cause}" in ts}
    return queues, waits, preempted


def _any_positive(series: dict[str, np.ndarray]) -> bool:
    return any(np.any(np.nan_to_num(v) > 0) for v in series.values())


def make_dispatch(results: Results, dpi: int = 110) -> Figure:
    """Queue length and mean wait per class over time, and preemptions per interval by cause; a
    panel with nothing to show (no job ever queued or waited, no preemption) is left out and one line
    under the title says why."""
    ts = results.timeseries
    main = f"Dispatch: queues, waits and preemptions — policy '{policy_name(results.summary)}'"
    if len(ts) == 0:
        fig = style.new_figure(style.SIZE_WIDE, dpi)
        ax = fig.add_subplot()
        style.figure_title(fig, main, results.summary)
        ax.set_ylabel("jobs")
        style.empty_panel(ax, "no time-series samples in this run")
        return fig
    queues, waits, preempted = _dispatch_data(results)
    shown = {"queue": _any_positive(queues), "wait": _any_positive(waits), "preempted": _any_positive(preempted)}
    panels = [k for k, ok in shown.items() if ok]
    fig = style.new_figure(style.SIZE_TALL if len(panels) > 1 else style.SIZE_WIDE, dpi)
    axes = fig.subplots(max(len(panels), 1), 1, sharex=True, squeeze=False)[:, 0]
    style.figure_title(fig, main, results.summary)
    lt = style.local_times(ts, _zone(results))
    why = _left_out_note(shown)
    if why:
        axes[0].set_title(why, fontsize="small", color="#555555", loc="left")
    if not panels:
        axes[0].set_ylabel("jobs")
        style.empty_panel(axes[0], "no job queued or waited, and no preemptions, in this run")
    for ax, panel in zip(axes, panels, strict=False):
        if panel == "queue":
            _queue_panel(ax, lt, queues)
        elif panel == "wait":
            _wait_panel(ax, lt, waits)
        else:
            _preemption_panel(ax, lt, ts, preempted)
        ax.grid(axis="y", alpha=0.3)
    style.time_axis(axes[-1], lt)
    return style.plain_numbers(fig)


def policy_name(summary: dict) -> str:
    """The dispatch policy as a title names it: a built-in's name (``least_loaded``), a policy file's
    name without its folder (``plugged_first.py:PluggedFirst``)."""
    pol = str(summary.get("dispatch", {}).get("policy", "?"))
    path, sep, cls = pol.rpartition(":")
    return f"{PurePath(path).name}{sep}{cls}" if sep and "/" in path else pol


def _left_out_note(shown: dict[str, bool]) -> str:
    """One line naming the panels left out and why (empty when every panel is drawn)."""
    parts = []
    if not shown["queue"] and not shown["wait"]:
        parts.append("no job waited for a chip (queues empty, every job started on arrival): "
                     "queue and wait panels left out")
    elif not shown["queue"]:
        parts.append("queues stayed empty: queue panel left out")
    elif not shown["wait"]:
        parts.append("every job started on arrival: wait panel left out")
    if not shown["preempted"]:
        parts.append("no preemptions: preemption panel left out")
    return "; ".join(parts)


def _queue_panel(ax: Axes, lt: style.LocalTimes, queues: dict[str, np.ndarray]) -> None:
    top = 0.0
    for cls, q in queues.items():
        ax.plot(lt.x, lt.pad(q), color=style.CLASS_COLORS[cls], lw=1.6, label=cls, gid=f"queue:{cls}")
        top = max(top, float(np.nanmax(q)))
    ax.set_ylim(0, top * 1.15 or 1.0)
    ax.set_ylabel("queued jobs\n(mean, jobs)")
    _legend_right(ax, ax.get_lines(), "job class")


def _wait_panel(ax: Axes, lt: style.LocalTimes, waits: dict[str, np.ndarray]) -> None:
    """Mean wait per interval and class, in ms, s, min or h as the longest wait fits."""
    top = max((float(np.nanmax(w)) for w in waits.values() if np.any(np.isfinite(w))), default=0.0)
    div, unit = style.duration_unit(top)
    for cls, wait in waits.items():
        ax.plot(lt.mid, wait / div, color=style.CLASS_COLORS[cls], lw=1.4, marker=".", ms=3, label=cls,
                gid=f"wait:{cls}")
    ax.set_ylim(0, top / div * 1.15 or 1.0)
    ax.set_ylabel(f"mean wait of jobs\nstarted ({unit})")
    _legend_right(ax, ax.get_lines(), "job class")


def _preemption_panel(ax: Axes, lt: style.LocalTimes, ts: pd.DataFrame, preempted: dict[str, np.ndarray]) -> None:
    width = (ts["t_s"].diff().fillna(ts["t_s"].iloc[0]).to_numpy(dtype=float) / 86400.0) * 0.9
    bottom = np.zeros(len(ts))
    handles = []
    for cause, n in preempted.items():
        handles.append(ax.bar(lt.mid, n, width=width, bottom=bottom, color=PREEMPTION_COLORS[cause],
                              label=f"{cause} ({int(n.sum()):,})", gid=f"preempted:{cause}"))
        bottom += n
    ax.set_ylim(0, float(bottom.max()) * 1.1 or 1.0)
    style.count_axis(ax.yaxis, 1.0)
    ax.set_ylabel(f"preemptions per\n{_interval_text(ts)} interval")
    _legend_right(ax, handles, "cause (total)")


# ------------------------------------------------------------------------------ save helpers
# Every figure drawn from the results alone, in page order; a builder returns None to skip its
# figure when the results lack its data (e.g. no data-center comparison in an older folder).
FIGURES: dict[str, Callable[[Results, int], Figure | None]] = {
    "fleet_states.png": make_fleet_states,
    "utilization.png": make_utilization,
    "power.png": make_power,
    "latency.png": make_latency,
    "dispatch.png": make_dispatch,
    "serving.png": serving_figure.make_serving,
    "grid.png": energy_figures.make_grid,
    "energy_flows.png": energy_figures.make_energy_flows,
    "comparison.png": energy_figures.make_comparison,
    "cohorts.png": cohort_figure.make_cohorts,
}
DEPOT_FIGURE = "depot.png"  # drawn last, from the per-site samples (sites.csv) when the run has them


def draw_all(results: Results, fig_dir: str | Path, dpi: int = 110,
             sites: pd.DataFrame | None = None) -> list[Path]:
    """Draw every figure the results have data for into ``fig_dir`` (created if needed); return the
    PNG paths in order. ``sites`` (per-site samples) adds the depot figure. A skipped figure's PNG
    left from an earlier drawing is removed, so the folder matches the report page."""
    out = Path(fig_dir)
    made = [(name, make(results, dpi)) for name, make in FIGURES.items()]
    made.append((DEPOT_FIGURE, depot.make_depot(sites, dpi, _zone(results), _subtitle(results))))
    paths = []
    for name, fig in made:
        if fig is None:
            (out / name).unlink(missing_ok=True)
        else:
            paths.append(style.save(fig, out / name, dpi))
    return paths
