"""Energy figures: fleet load against the grid's signals, where each kWh came from and went, and
the fleet against a data center per million generated tokens.

Each ``make_<name>(results, dpi)`` is a pure function of a loaded results folder that returns a
matplotlib :class:`~matplotlib.figure.Figure`, or None when the folder lacks the data the figure
needs (an older folder, or no tokens generated): the report then skips the figure.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from reports import style
from sim.results import Results


def _num(v: float) -> str:
    """A compact number: ``8,783``, ``244``, ``18.3``, ``0.0421``."""
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def _text_color(color: str) -> str:
    r, g, b = to_rgb(color)
    return "white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.55 else "black"


# ------------------------------------------------------------------------------ grid
GRID_COLUMNS = ("grid_w", "battery_w", "price_usd_per_kwh", "carbon_g_per_kwh")
LOAD_GROUPS: dict[str, tuple[str, ...]] = {  # stack bottom to top: group -> power_w_ columns
    "stored": (),  # net battery charging: battery_w clipped at 0 W
    "charging_losses": ("charging_losses",),
    "inference": ("inference_active", "inference_idle", "awake_overhead"),
    "other": ("driving", "sleep", "discharge_losses"),
}
LOAD_LABELS = {
    "stored": "charging: stored in batteries (net)",
    "charging_losses": "charging: losses",
    "inference": "inference: chip serving + idle + awake overhead",
    "other": "driving, sleep drain, discharge losses",
}
LOAD_COLORS = {
    "stored": style.STORED_COLOR,
    "charging_losses": style.ENERGY_COLORS["charging_losses"],
    "inference": style.INFERENCE_COLOR,
    "other": style.OTHER_LOAD_COLOR,
}


def load_groups_w(ts: pd.DataFrame) -> dict[str, np.ndarray]:
    """Mean power (W, >= 0) per sample interval of each stacked group of the grid figure.

    ``stored`` is ``battery_w`` (net power into the batteries, positive = charging) clipped at 0.
    Since ``grid_w = sum(power_w_*) + battery_w``, the groups add up to ``grid_w`` wherever the
    batteries gain energy, and to ``grid_w`` plus the net drawdown wherever they feed the loads.
    Missing ``power_w_`` columns count as 0 W.
    """
    zero = np.zeros(len(ts))
    out = {"stored": np.clip(ts["battery_w"].to_numpy(dtype=float), 0.0, None)}
    for group, cats in LOAD_GROUPS.items():
        if cats:
            cols = [ts[f"power_w_{c}"].to_numpy(dtype=float) for c in cats if f"power_w_{c}" in ts]
            out[group] = np.clip(np.sum(cols, axis=0) if cols else zero, 0.0, None)
    return {g: out[g] for g in LOAD_GROUPS}


def fleet_average_signals(summary: dict[str, Any]) -> tuple[float | None, float | None]:
    """What the fleet paid ($/kWh) and emitted (gCO2/kWh) on average per kWh drawn from the grid."""
    grid = (summary.get("energy_kwh") or {}).get("grid_import")
    if not grid or grid <= 0:
        return None, None
    usd = (summary.get("cost_usd") or {}).get("electricity")
    co2 = (summary.get("co2_kg") or {}).get("total")
    return (usd / grid if usd is not None else None), (1000.0 * co2 / grid if co2 is not None else None)


DRAWDOWN_LABEL = "of the loads, fed by the batteries (net drawdown)"
DRAWDOWN_HATCH = "////"
DRAWDOWN_EDGE = "#1B2631"


def make_grid(results: Results, dpi: int = 110) -> Figure | None:
    """Stacked fleet load by group (kW/MW) with grid draw as a line, the batteries' share of the
    loads hatched; a start-up peak is left off scale with a note; price and carbon intensity below."""
    ts = results.timeseries
    if not set(GRID_COLUMNS) <= set(ts.columns):
        return None
    fig, ax, axs, empty = style.power_over_signals(
        len(ts), f"Fleet load against the grid's carbon and price ({style.subtitle(results.summary)})",
        "Grid signals, and what the fleet's grid energy cost and emitted on average", [3.0, 1.4], dpi)
    if empty:
        return fig
    lt = style.local_times(ts, style.zone(results))
    x, pad = lt.x, lt.pad
    groups = load_groups_w(ts)
    grid_raw = ts["grid_w"].to_numpy(dtype=float)
    top_raw = np.sum(list(groups.values()), axis=0)
    y_max_w = style.clipped_max(np.maximum(top_raw, grid_raw))
    div, unit = style.power_unit(y_max_w)
    layers = {g: pad(v) for g, v in groups.items()}
    grid_w = pad(grid_raw)
    top_w = pad(top_raw)
    shown = [g for g in LOAD_GROUPS if np.any(layers[g] > 0)]
    polys = ax.stackplot(x, [layers[g] / div for g in shown], colors=[LOAD_COLORS[g] for g in shown],
                         labels=[LOAD_LABELS[g] for g in shown], alpha=0.85, lw=0) if shown else []
    for poly, g in zip(polys, shown, strict=True):
        poly.set_gid(f"load:{g}")
    handles = list(reversed(polys))
    if np.any(top_w > grid_w * (1 + 1e-9) + 1e-9):  # the batteries fed part of the loads
        handles.append(ax.fill_between(x, np.minimum(grid_w, top_w) / div, top_w / div, facecolor="none",
                                       edgecolor=DRAWDOWN_EDGE, hatch=DRAWDOWN_HATCH, lw=0, gid="batteries:drawdown",
                                       label=DRAWDOWN_LABEL))
    line, = ax.plot(x, grid_w / div, color=style.GRID_COLOR, lw=1.4, gid="line:grid",
                    label="grid draw (= stack less hatched part)" if len(handles) > len(polys) else "grid draw")
    if not shown and not np.any(grid_w != 0):
        style.empty_panel(ax, "no power drawn in this run (all loads 0 W)")
    ax.set_ylabel(f"power ({unit}, mean over each interval)")
    y_top = (y_max_w / div) * 1.08 if y_max_w > 0 else 1.0
    ax.set_ylim(min(0.0, float(np.min(grid_w / div)) * 1.05), y_top)
    style.off_scale_note(ax, lt, ts["t_s"].to_numpy(dtype=float), np.maximum(top_raw, grid_raw), y_top, div, unit,
                         "grid draw")
    ax.grid(axis="y", alpha=0.3)
    ax.tick_params(labelbottom=False)
    ax.legend(handles=[line, *handles], loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
              title="load (stack top → bottom)")
    _signals_panel(axs, x, pad(ts["price_usd_per_kwh"]), pad(ts["carbon_g_per_kwh"]), results.summary)
    style.time_axis(axs, lt)
    return style.plain_numbers(fig)


def _signals_panel(ax: Axes, x: pd.DatetimeIndex, price: np.ndarray, carbon: np.ndarray,
                   summary: dict[str, Any]) -> None:
    """Price ($/kWh, left axis) and carbon intensity (gCO2/kWh, right axis), fleet averages dashed."""
    axc = ax.twinx()
    handles = [ax.plot(x, price, color=style.PRICE_COLOR, lw=1.2, gid="line:price", label="price ($/kWh, left)")[0],
               axc.plot(x, carbon, color=style.CARBON_COLOR, lw=1.2, gid="line:carbon",
                        label="carbon intensity (gCO₂/kWh, right)")[0]]
    avg_usd, avg_g = fleet_average_signals(summary)
    if avg_usd is not None:
        handles.append(ax.axhline(avg_usd, color=style.PRICE_COLOR, lw=1.0, ls="--", gid="avg:price",
                                  label=f"fleet paid {avg_usd:.3g} $/kWh on average"))
    if avg_g is not None:
        handles.append(axc.axhline(avg_g, color=style.CARBON_COLOR, lw=1.0, ls=":", gid="avg:carbon",
                                   label=f"fleet's grid energy: {avg_g:.3g} gCO₂/kWh on average"))
    ax.set_ylabel("price ($/kWh)", color=style.PRICE_COLOR)
    axc.set_ylabel("gCO₂/kWh", color=style.CARBON_COLOR)
    top_p = float(np.nanmax(price)) if np.any(np.isfinite(price)) else 0.0
    top_c = float(np.nanmax(carbon)) if np.any(np.isfinite(carbon)) else 0.0
    ax.set_ylim(0, max(top_p, avg_usd or 0.0) * 1.15 or 1.0)
    axc.set_ylim(0, max(top_c, avg_g or 0.0) * 1.15 or 1.0)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.07, 1.0), frameon=False, fontsize="small")


# ------------------------------------------------------------------------------ energy flows
@dataclass(frozen=True)
class Flow:
    """One stacked segment: a source or use of energy (kWh, >= 0)."""

    key: str
    label: str
    kwh: float
    color: str


INFERENCE_KEYS = ("inference_active", "inference_idle", "awake_overhead")
#: what a use includes where its plain name could be misread (chip serving is not a job's whole bill)
USE_NOTES = {"inference_active": "busy slots' power above idle only"}


def energy_flows(energy_kwh: dict[str, Any]) -> tuple[list[Flow], list[Flow]] | None:
    """Sources and uses of the run's energy (kWh) from ``summary["energy_kwh"]``.

    Sources: grid import, the depot's PV used (``solar_used``, when above 0), and the net battery
    drawdown when ``battery_change`` < 0. Uses: every
    energy category above 0 kWh (fleet order), and the net battery charge gain when
    ``battery_change`` > 0. By the energy balance both add up to the same total. None when
    ``grid_import`` or ``battery_change`` is missing.
    """
    grid, batt = energy_kwh.get("grid_import"), energy_kwh.get("battery_change")
    if grid is None or batt is None:
        return None
    sources = [Flow("grid_import", "grid import", max(float(grid), 0.0), style.SOURCE_COLORS["grid_import"])]
    solar = float(energy_kwh.get("solar_used") or 0.0)
    if solar > 0:  # the depot's PV, used at the site before the grid
        sources.append(Flow("solar_used", "depot PV used", solar, style.SOLAR_COLOR))
    if batt < 0:
        sources.append(Flow("battery_drawdown", "net battery drawdown", -float(batt),
                            style.SOURCE_COLORS["battery_drawdown"]))
    uses = [Flow(c, style.ENERGY_LABELS[c] + (f" ({USE_NOTES[c]})" if c in USE_NOTES else ""), float(energy_kwh[c]),
                 style.ENERGY_COLORS[c])
            for c in style.ENERGY_CATEGORIES if (energy_kwh.get(c) or 0.0) > 0]
    if batt > 0:
        uses.append(Flow("battery_gain", "net battery charge gain", float(batt), style.STORED_COLOR))
    return sources, uses


def attribution_flows(summary: dict[str, Any]) -> list[Flow] | None:
    """Inference energy (kWh) split into jobs served and standby, or None without an attribution.

    Jobs served: each job's busy slot while it ran, its power above idle plus its share of the idle
    chip and the awake car; standby: the rest (online cars' free slots). The attribution bills the
    simulated cars' jobs; with representative vehicles (``fleet.weight``) the fleet's inference
    energy is theirs times the weight, so the split is scaled by it to add up to the fleet's."""
    a = summary.get("attribution")
    if not isinstance(a, dict) or a.get("jobs_served_kwh") is None or a.get("standby_kwh") is None:
        return None
    served, standby = float(a["jobs_served_kwh"]), float(a["standby_kwh"])
    if served + standby <= 0:
        return None
    fleet = summary.get("fleet") or {}
    if fleet.get("vehicles_simulated") and fleet.get("vehicles_represented"):
        weight = float(fleet["vehicles_represented"]) / float(fleet["vehicles_simulated"])
        if weight != 1.0:  # a represented fleet
            served, standby = served * weight, standby * weight
    return [Flow("jobs_served", "jobs served (busy slots: power above idle + their share of idle chip and awake car)",
                 served, style.ATTRIBUTION_COLORS["jobs_served"]),
            Flow("standby", "standby (online cars' free slots: their share of idle chip and awake car)", standby,
                 style.ATTRIBUTION_COLORS["standby"])]


LABEL_MIN_SHARE = 0.11  # segments narrower than this share of the axis get no in-bar label
LEGEND_WRAP = 62  # characters: longer legend entries break before their description in parentheses


def _legend_label(f: Flow, value: str, share: str) -> str:
    """``label: value (share)``; a long label's parenthesised description goes on a second line."""
    text = f"{f.label}: {value} ({share})"
    if len(text) > LEGEND_WRAP and " (" in f.label:
        head, _, note = f.label.partition(" (")
        text = f"{head}: {value} ({share})\n({note}"
    return text


def _stacked_row(ax: Axes, y: float, kind: str, flows: Sequence[Flow], base_kwh: float,
                 unit: tuple[float, str], span_kwh: float, base_name: str = "") -> list[Any]:
    """One horizontal bar of stacked ``flows`` from 0; % of ``base_kwh``; segments wider than
    :data:`LABEL_MIN_SHARE` of ``span_kwh`` (the axis) are labelled in the bar, in the axis's unit; the
    legend gives each flow in the unit that fits it (``0.692 kWh`` beside ``3.61 MWh``)."""
    div, name = unit
    left, handles = 0.0, []
    for f in flows:
        pct = 100.0 * f.kwh / base_kwh
        bars = ax.barh(y, f.kwh / div, left=left / div, height=0.62, color=f.color, edgecolor="white", lw=0.8,
                       gid=f"{kind}:{f.key}",
                       label=_legend_label(f, style.energy_text(f.kwh), style.share_text(pct) + base_name))
        handles.append(bars)
        if f.kwh >= LABEL_MIN_SHARE * span_kwh:
            ax.text((left + f.kwh / 2.0) / div, y, f"{_num(f.kwh / div)} {name}\n{pct:.0f} %", ha="center",
                    va="center", fontsize=8.5, color=_text_color(f.color))
        left += f.kwh
    return handles


def _inference_bracket(ax: Axes, uses: Sequence[Flow], unit: tuple[float, str], x_max: float) -> None:
    """A bracket above the uses bar's inference segments naming their total (in the unit of the
    split below it), kept inside the axis (``x_max``, axis units)."""
    div = unit[0]
    left = 0.0
    start = end = None
    for f in uses:
        if f.key in INFERENCE_KEYS:
            start = left if start is None else start
            end = left + f.kwh
        left += f.kwh
    if start is None or end is None:
        return
    y = 0.38
    ax.plot([start / div, start / div, end / div, end / div], [y - 0.04, y, y, y - 0.04], color="#333333", lw=1.0,
            gid="bracket:inference")
    total_div, total_unit = style.energy_unit(end - start)
    centre = (start + end) / 2.0 / div
    ha, x = ("left", start / div) if centre < 0.2 * x_max else ("right", end / div) if centre > 0.8 * x_max \
        else ("center", centre)
    ax.text(x, y + 0.03, f"inference {_num((end - start) / total_div)} {total_unit}: split below", ha=ha,
            va="bottom", fontsize=8.5, color="#333333")


def make_energy_flows(results: Results, dpi: int = 110) -> Figure | None:
    """Sources vs uses of the run's energy as two stacked bars (kWh/MWh and %); below, on its own
    axis, the inference energy split into jobs served and standby."""
    energy = results.summary.get("energy_kwh")
    flows = energy_flows(energy) if isinstance(energy, dict) else None
    if flows is None:
        return None
    sources, uses = flows
    split = attribution_flows(results.summary)
    fig = style.new_figure(style.SIZE_TALL if split is not None else style.SIZE_WIDE, dpi)
    if split is not None:
        ax, axa = fig.subplots(2, 1, height_ratios=[2.2, 1.0])
    else:
        ax, axa = fig.add_subplot(), None
    style.figure_title(fig, "Where each kWh came from and went", results.summary)
    total = sum(f.kwh for f in sources)
    span = max(total, sum(f.kwh for f in uses))
    unit = style.energy_unit(span)
    ax.set_xlabel(f"energy over the whole run ({unit[1]})")
    if total <= 0:
        style.empty_panel(ax, "no energy drawn from the grid or the batteries in this run")
        return fig
    handles = _stacked_row(ax, 1.0, "source", sources, total, unit, span)
    handles += _stacked_row(ax, 0.0, "use", uses, total, unit, span)
    ax.set_xlim(0, span / unit[0] * 1.02)
    _inference_bracket(ax, uses, unit, span / unit[0] * 1.02)
    ax.set_yticks([1.0, 0.0], ["sources", "uses"])
    ax.set_ylim(-0.5, 1.5)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize="small",
              title="sources, then uses (% of all energy)")
    if axa is not None and split is not None:
        base = sum(f.kwh for f in split)
        a_unit = style.energy_unit(base)
        h = _stacked_row(axa, 0.0, "attribution", split, base, a_unit, base, " of inference")
        axa.set_yticks([0.0], ["inference,\nbilled to"])
        axa.set_ylim(-0.5, 0.5)
        axa.set_xlim(0, base / a_unit[0] * 1.02)
        axa.set_xlabel(f"inference energy over the whole run ({a_unit[1]}; its own scale)")
        axa.set_title("The inference energy (bracket above), billed to jobs or left as standby", fontsize="medium")
        axa.grid(axis="x", alpha=0.3)
        axa.legend(handles=h, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize="small",
                   title="inference energy split")
    return style.plain_numbers(fig)


# ------------------------------------------------------------------------------ comparison
SIDES = {"fleet": "fleet", "datacenter": "data center"}
SIDE_COLORS = {"fleet": style.FLEET_COLOR, "datacenter": style.DATACENTER_COLOR}
METRICS = {  # key in ratio_fleet_to_datacenter -> (summary field, panel title, unit)
    "kwh": ("kwh_per_million_tokens", "energy", "kWh"),
    "co2": ("g_co2_per_million_tokens", "emissions", "g CO₂"),
    "usd": ("usd_per_million_tokens", "cost", "$"),
}
USD_LABELS = {"electricity": "electricity", "carbon": "carbon price", "owner_payouts": "owner payouts",
              "hardware": "hardware (GPU-hours)"}


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def comparison_of(summary: dict[str, Any]) -> dict[str, Any] | None:
    """``summary["comparison"]`` when it holds finite per-million figures for both sides, else None."""
    c = summary.get("comparison")
    if not isinstance(c, dict):
        return None
    for side in SIDES:
        d = c.get(side)
        if not isinstance(d, dict) or not all(_finite(d.get(field)) for field, _, _ in METRICS.values()):
            return None
    return c


def _usd_parts(d: dict[str, Any]) -> list[tuple[str, float]]:
    """Nonzero cost components ($ per million tokens), known ones first; the total if none."""
    b = d.get("usd_breakdown_per_million_tokens")
    if not isinstance(b, dict) or not all(_finite(v) for v in b.values()):
        return [("total", float(d["usd_per_million_tokens"]))]
    keys = [k for k in USD_LABELS if k in b] + sorted(k for k in b if k not in USD_LABELS)
    return [(k, float(b[k])) for k in keys if b[k] != 0]


def _comparison_panel(ax: Axes, c: dict[str, Any], key: str) -> None:
    field, title, unit = METRICS[key]
    seen: set[str] = set()
    for i, side in enumerate(SIDES):
        d = c[side]
        if key == "usd":
            bottom = 0.0
            for part, v in _usd_parts(d):
                color = style.USD_COLORS.get(part, SIDE_COLORS[side])
                label = USD_LABELS.get(part, part.replace("_", " ")) if part not in seen else None
                ax.bar(i, v, bottom=bottom, width=0.6, color=color, gid=f"usd:{side}:{part}", label=label,
                       edgecolor="white", lw=0.8)
                seen.add(part)
                bottom += v
        else:
            ax.bar(i, d[field], width=0.6, color=SIDE_COLORS[side], gid=f"{key}:{side}")
        ax.text(i, d[field], _num(d[field]), ha="center", va="bottom", fontsize=9)
    ratio = (c.get("ratio_fleet_to_datacenter") or {}).get(key)
    ratio_txt = f"fleet = {_num(ratio)} × data center" if _finite(ratio) else "ratio n/a"
    ax.set_title(f"{title}, {unit} per million tokens\n{ratio_txt}", fontsize="medium")
    ax.set_xticks(range(len(SIDES)), list(SIDES.values()))
    ax.set_xlim(-0.6, len(SIDES) - 0.4)
    top = max(float(c[s][field]) for s in SIDES)
    ax.set_ylim(0, top * 1.15 if top > 0 else 1.0)
    ax.set_ylabel(f"{unit} per million generated tokens")
    ax.grid(axis="y", alpha=0.3)
    if key == "usd" and seen:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=2, fontsize="small", frameon=False)


def _token_makers(summary: dict[str, Any]) -> str:
    """Who generated the compared tokens: ``the fleet``, or ``the 2,000 simulated cars`` when they
    stand for a larger fleet (the per-token figures are theirs)."""
    fleet = summary.get("fleet") or {}
    sim_n, rep_n = fleet.get("vehicles_simulated"), fleet.get("vehicles_represented")
    if sim_n and rep_n and float(rep_n) != float(sim_n):
        return f"the {style.count_text(float(sim_n))} simulated cars"
    return "the fleet"


def make_comparison(results: Results, dpi: int = 110) -> Figure | None:
    """kWh, gCO2 and $ per million generated tokens, fleet vs data center ($ stacked by component)."""
    c = comparison_of(results.summary)
    if c is None:
        return None
    fig = style.new_figure(style.SIZE_WIDE, dpi)
    style.figure_title(fig, "Fleet against a data center, per million tokens", results.summary)
    for ax, key in zip(fig.subplots(1, len(METRICS)), METRICS, strict=True):
        _comparison_panel(ax, c, key)
    dc = c["datacenter"]
    batch = dc.get("batch")
    asked = dc.get("batch_size")
    ran = f"batch {batch}" if batch is not None else (f"batch {asked}" if asked is not None else "")
    if batch is not None and asked is not None and batch < asked:
        ran += f" (of {asked} asked: what its KV cache holds)"
    parts = [ran,
             f"{dc['j_per_token']:.3g} J/token (GPU)" if _finite(dc.get("j_per_token")) else "",
             f"model '{dc['model']}'" if dc.get("model") else "",
             f"PUE {dc['pue']:.3g}" if _finite(dc.get("pue")) else "",
             f"carbon profile '{dc['carbon_profile']}'" if dc.get("carbon_profile") else ""]
    if _finite(dc.get("hardware_usd_per_gpu_hour")) and dc["hardware_usd_per_gpu_hour"] == 0:
        parts.append("GPU hardware not priced (0 $/GPU-hour)")
    tokens = c.get("tokens_generated")
    makers = _token_makers(results.summary)
    note = f"{style.count_text(tokens)} tokens generated by {makers}\n" if _finite(tokens) else ""
    shown = [p for p in parts if p] or ["as configured"]
    fig.supxlabel(note + "\n".join(_pack(["data center: " + shown[0], *shown[1:]])), fontsize=9)
    return style.plain_numbers(fig)


NOTE_WIDTH = 120  # characters per line of the comparison's note (9 pt on the 11-inch figure)


def _pack(parts: Sequence[str], width: int = NOTE_WIDTH) -> list[str]:
    """``parts`` joined by ``, `` into lines of at most ``width`` characters (a longer part alone)."""
    lines: list[str] = []
    for part in parts:
        if lines and len(lines[-1]) + 2 + len(part) <= width:
            lines[-1] += ", " + part
        elif lines:
            lines[-1] += ","
            lines.append(part)
        else:
            lines.append(part)
    return lines
