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
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator, PercentFormatter

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
        return f"{rep_n:,.0f} vehicles represented by {sim_n:,} simulated"
    return f"{rep_n if rep_n is not None else len(results.vehicles):,.0f} vehicles"


def _subtitle(results: Results) -> str:
    return style.subtitle(results.summary)


# ------------------------------------------------------------------------------ fleet states
def make_fleet_states(results: Results, dpi: int = 110) -> Figure:
    """Stacked area of mean vehicle counts per state (vehicles) with charging as a line."""
    ts = results.timeseries
    fig = style.new_figure(style.SIZE_WIDE, dpi)
    ax = fig.add_subplot()
    ax.set_title(f"Fleet state over time — {_vehicles_label(results)} ({_subtitle(results)})")
    ax.set_ylabel("vehicles (mean over each interval)")
    if len(ts) == 0:
        style.empty_panel(ax, "no time-series samples in this run")
        return fig
    lt = style.local_times(ts, _zone(results))
    x, pad = lt.x, lt.pad
    layers = [pad(ts[s]) for s in style.STATES]
    polys = ax.stackplot(x, layers, colors=[style.STATE_COLORS[s] for s in style.STATES],
                         labels=[style.STATE_LABELS[s] for s in style.STATES], alpha=0.9, lw=0)
    for poly, state in zip(polys, style.STATES, strict=True):
        poly.set_gid(f"state:{state}")
    line, = ax.plot(x, pad(ts["charging"]), color=style.STATE_COLORS["charging"],
                    lw=1.8, label=style.STATE_LABELS["charging"], gid="line:charging")
    total = float(np.max(np.sum(layers, axis=0)))
    ax.set_ylim(0, max(total, float(ts["charging"].max())) * 1.03 or 1.0)
    ax.grid(axis="y", alpha=0.3)
    style.time_axis(ax, lt)
    ax.legend(handles=[*reversed(polys), line], loc="upper left", bbox_to_anchor=(1.01, 1.0),
              frameon=False, title="state (stack top → bottom)")
    return fig


# ------------------------------------------------------------------------------ utilization
def make_utilization(results: Results, dpi: int = 110) -> Figure:
    """Chip-slot utilization (%) with available inference power (kW/MW/GW) on a second axis."""
    ts = results.timeseries
    fig = style.new_figure(style.SIZE_WIDE, dpi)
    ax = fig.add_subplot()
    ax.set_title(f"Chip utilization and available inference power ({_subtitle(results)})")
    ax.set_ylabel("utilization (busy / online chip slots, %)")
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=100))
    if len(ts) == 0:
        style.empty_panel(ax, "no time-series samples in this run")
        return fig
    lt = style.local_times(ts, _zone(results))
    x, pad = lt.x, lt.pad
    util = 100.0 * pad(ts["utilization"])
    avail_w = pad(ts["available_inference_w"])
    div, unit = style.power_unit(float(np.max(np.abs(avail_w))))
    ax2 = ax.twinx()
    ax2.set_ylabel(f"available inference power ({unit})")
    ax2.fill_between(x, avail_w / div, color=style.CAPACITY_COLOR, alpha=0.18, lw=0)
    h_cap, = ax2.plot(x, avail_w / div, color=style.CAPACITY_COLOR, lw=1.4,
                      label=f"available inference power ({unit}, right axis)")
    h_util, = ax.plot(x, util, color=style.UTILIZATION_COLOR, lw=1.8, label="utilization (%, left axis)")
    handles = [h_util, h_cap]
    mean = results.summary.get("utilization", {}).get("mean")
    if mean is not None:
        handles.append(ax.axhline(100.0 * mean, color=style.UTILIZATION_COLOR, lw=1, ls="--",
                                  label=f"mean utilization {100.0 * mean:.1f} %"))
    ax.set_zorder(ax2.get_zorder() + 1)  # utilization line above the capacity band
    ax.patch.set_visible(False)
    ax.set_ylim(0, max(float(np.max(util)) * 1.15, 1.0))
    ax2.set_ylim(0, max(float(np.max(avail_w / div)) * 1.15, 1.0))
    ax.grid(axis="y", alpha=0.3)
    style.time_axis(ax, lt)
    if not np.any(avail_w > 0):
        style.empty_panel(ax, "no chips online in this run (no inference capacity)")
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, -0.14), ncol=3, frameon=False)
    return fig


# ------------------------------------------------------------------------------ power
def make_power(results: Results, dpi: int = 110) -> Figure:
    """Stacked load-side power by category with grid draw as a line; price and carbon below."""
    ts = results.timeseries
    fig, ax, axp, empty = style.power_over_signals(
        len(ts), f"Fleet power by category and grid draw ({_subtitle(results)})", "Grid signals", [3, 1], dpi)
    if empty:
        return fig
    lt = style.local_times(ts, _zone(results))
    x, pad = lt.x, lt.pad
    cats = [c for c in style.ENERGY_CATEGORIES if np.any(ts[f"power_w_{c}"].to_numpy(dtype=float) > 0)]
    layers = [np.clip(pad(ts[f"power_w_{c}"]), 0.0, None) for c in cats]  # drop -1e-10 W round-off
    grid_w = pad(ts["grid_w"])
    top = np.sum(layers, axis=0) if layers else np.zeros(len(x))
    y_max_w = _power_axis_max_w(top, grid_w)
    div, unit = style.power_unit(y_max_w)
    ax.set_ylabel(f"power ({unit}, mean over each interval)")
    handles = []
    if cats:
        polys = ax.stackplot(x, [layer / div for layer in layers], lw=0, alpha=0.9,
                             colors=[style.ENERGY_COLORS[c] for c in cats],
                             labels=[style.ENERGY_LABELS[c] for c in cats])
        for poly, cat in zip(polys, cats, strict=True):
            poly.set_gid(f"power:{cat}")
        handles = list(reversed(polys))
    line, = ax.plot(x, grid_w / div, color=style.GRID_COLOR, lw=1.3, gid="line:grid",
                    label="grid draw (charging input, incl. losses)")
    if not cats and not np.any(grid_w != 0):
        style.empty_panel(ax, "no power drawn in this run (all categories 0 W)")
    y_min = min(0.0, float(np.min(grid_w / div)) * 1.05)
    ax.set_ylim(y_min, (y_max_w / div) * 1.08 if y_max_w > 0 else 1.0)
    peak = int(np.argmax(ts["grid_w"].to_numpy(dtype=float)))  # row index
    peak_w = float(ts["grid_w"].iloc[peak])
    if peak_w > y_max_w * 1.08:  # a start-up charging spike would flatten the stack
        t_end = ts["t_s"].to_numpy(dtype=float)
        half = pd.Timedelta(seconds=(t_end[peak] - (t_end[peak - 1] if peak else 0.0)) / 2.0)
        mid = lt.mid.iloc[peak]
        when = f"{(mid - half):%a %H:%M}–{(mid + half):%H:%M}"
        ax.annotate(f"grid draw peaks off scale: {peak_w / div:,.3g} {unit} ({when})",
                    xy=(mid, y_max_w * 1.08 / div), xytext=(24, -10), textcoords="offset points",
                    ha="left", va="top", fontsize=9, arrowprops={"arrowstyle": "->", "color": "#333333"},
                    bbox={"boxstyle": "round,pad=0.3", "fc": "white", "ec": "#999999"})
    ax.grid(axis="y", alpha=0.3)
    ax.legend(handles=[line, *handles], loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
              title="power (stack top → bottom)")
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
    return fig


def _power_axis_max_w(top_w: np.ndarray, grid_w: np.ndarray) -> float:
    """Upper power-axis limit (W): the whole stack and grid draw, except that grid peaks more than
    1.5 × above both the stack and the grid's 97th percentile are left off scale (annotated)."""
    top = float(np.max(top_w)) if len(top_w) else 0.0
    grid_max = float(np.max(grid_w)) if len(grid_w) else 0.0
    robust = max(top, float(np.quantile(grid_w, 0.97)) if len(grid_w) else 0.0)
    return max(top, grid_max) if grid_max <= 1.5 * robust or robust <= 0 else robust


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
    ax.set_title(f"Latency of completed jobs, arrival to last token ({_subtitle(results)})")
    ax.set_xlabel("latency (s, log scale)")
    ax.set_ylabel("share of completed jobs with latency ≤ x")
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    ax.set_ylim(0, 1.02)
    lo, hi, drawn = np.inf, 0.0, 0
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
            ax.step(v, frac, where="post", color=color, lw=2, gid=f"ecdf:{cls}",
                    label=f"{cls}: {len(lat):,} completed, SLO attainment {att_txt}")
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


def make_dispatch(results: Results, dpi: int = 110) -> Figure:
    """Queue length and mean wait per class over time, and preemptions per interval by cause."""
    ts = results.timeseries
    fig = style.new_figure(style.SIZE_TALL, dpi)
    axes = fig.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": [1.0, 1.0, 0.8]})
    pol = results.summary.get("dispatch", {}).get("policy", "?")
    axes[0].set_title(f"Dispatch: queues, waits and preemptions — policy '{pol}' ({_subtitle(results)})")
    axes[0].set_ylabel("queued jobs\n(mean)")
    axes[1].set_ylabel("mean wait of jobs\nstarted (s)")
    axes[2].set_ylabel("preemptions per\ninterval, by cause")
    if len(ts) == 0:
        style.empty_panel(axes[0], "no time-series samples in this run")
        return fig
    lt = style.local_times(ts, _zone(results))
    x, pad = lt.x, lt.pad
    top_q, top_w = 1.0, 1.0
    for cls in style.JOB_CLASSES:
        color = style.CLASS_COLORS[cls]
        q = pad(ts[f"queue_{cls}"])
        axes[0].plot(x, q, color=color, lw=1.6, label=cls, gid=f"queue:{cls}")
        wait = mean_wait_by_interval(results, cls)
        axes[1].plot(lt.mid, wait, color=color, lw=1.4, marker=".", ms=3, label=cls, gid=f"wait:{cls}")
        top_q = max(top_q, float(np.nanmax(q)) * 1.15)
        if np.any(np.isfinite(wait)):
            top_w = max(top_w, float(np.nanmax(wait)) * 1.15)
    axes[0].set_ylim(0, top_q)
    axes[1].set_ylim(0, top_w)
    mids = lt.mid
    width = (ts["t_s"].diff().fillna(ts["t_s"].iloc[0]).to_numpy(dtype=float) / 86400.0) * 0.9
    bottom = np.zeros(len(ts))
    total = 0
    for cause, color in PREEMPTION_COLORS.items():
        col = f"preempted_{cause}"
        if col not in ts:
            continue
        n = ts[col].to_numpy(dtype=float)
        total += int(n.sum())
        axes[2].bar(mids, n, width=width, bottom=bottom, color=color, label=f"{cause} ({int(n.sum()):,})",
                    gid=f"preempted:{cause}")
        bottom += n
    if total == 0:
        style.empty_panel(axes[2], "no preemptions in this run")
    else:  # headroom above the tallest bar for the causes' legend (one row)
        axes[2].set_ylim(0, float(bottom.max()) * 1.45)
    for ax in axes:
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(loc="upper right", frameon=False, ncol=2)
    axes[2].legend(loc="upper right", frameon=False, ncol=len(PREEMPTION_COLORS))
    style.time_axis(axes[2], lt)
    return fig


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
