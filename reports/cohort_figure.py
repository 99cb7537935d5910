"""The cohort figure (``cohorts.png``) of a mixed fleet: each cohort's available inference power over
time, and how its share of the fleet's cars and chip power compares with its share of the tokens
served and its energy per million tokens. Drawn only for runs of more than one cohort."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from reports import style
from sim.results import Results

#: one colour per cohort, in the summary's order (cycled beyond eight)
COHORT_COLORS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C")
#: the shares compared per cohort: summary key, label
SHARES = (("vehicles_represented", "cars"), ("nameplate_gw", "chip nameplate"),
          ("available_gw", "available power"), ("tokens_served", "tokens served"))


def cohort_color(i: int) -> str:
    return COHORT_COLORS[i % len(COHORT_COLORS)]


def _shares(cohorts: list[dict], key: str) -> np.ndarray:
    values = np.array([float(c.get(key) or 0.0) for c in cohorts])
    total = values.sum()
    return values / total if total > 0 else np.zeros_like(values)


def make_cohorts(results: Results, dpi: int = 110) -> Figure | None:
    """Three panels: available inference power by cohort (stacked, kW/MW/GW) over local time; each
    cohort's share of cars, chip nameplate, available power and tokens served (%); and each
    cohort's inference energy per million tokens (kWh). None for a run of one cohort."""
    cohorts = results.summary.get("cohorts") or []
    ts = results.cohorts
    if len(cohorts) < 2 or ts is None:
        return None
    names = [c["name"] for c in cohorts]
    fig = style.new_figure(style.SIZE_TALL, dpi)
    grid = fig.add_gridspec(2, 2, height_ratios=[1.15, 1.0])
    top = fig.add_subplot(grid[0, :])
    top.set_title(f"Available inference power by cohort ({style.subtitle(results.summary)})")
    first = ts[ts["cohort"] == names[0]]
    lt = style.local_times(first, style.zone(results))
    layers = [lt.pad(ts[ts["cohort"] == n]["available_inference_w"].to_numpy()) for n in names]
    peak = float(np.max(np.sum(layers, axis=0))) if len(first) else 0.0
    div, unit = style.power_unit(peak)
    top.set_ylabel(f"available inference power ({unit})")
    if len(first):
        colors = [cohort_color(i) for i in range(len(names))]
        polys = top.stackplot(lt.x, [layer / div for layer in layers], colors=colors, labels=names, alpha=0.9, lw=0)
        for poly, name in zip(polys, names, strict=True):
            poly.set_gid(f"cohort:{name}")
        top.set_ylim(0, peak / div * 1.05 or 1.0)
        style.time_axis(top, lt)
        top.legend(handles=list(reversed(polys)), loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
                   title="cohort (stack top → bottom)")
    else:
        style.empty_panel(top, "no time-series samples in this run")
    top.grid(axis="y", alpha=0.3)

    left = fig.add_subplot(grid[1, 0])
    left.set_title("Each cohort's share of the fleet")
    width = 0.8 / len(names)
    y = np.arange(len(SHARES))
    for i, name in enumerate(names):
        share = 100.0 * np.array([_shares(cohorts, key)[i] for key, _ in SHARES])
        left.barh(y + (i - (len(names) - 1) / 2) * width, share, height=width, color=cohort_color(i), label=name)
    left.set_yticks(y, [label for _, label in SHARES])
    left.invert_yaxis()
    left.set_xlim(0, 100)
    left.set_xlabel("share of the fleet's total (%)")
    left.grid(axis="x", alpha=0.3)

    right = fig.add_subplot(grid[1, 1])
    right.set_title("Inference energy per million tokens served")
    kwh = [c.get("inference_kwh_per_million_tokens") for c in cohorts]
    shown = [(i, v) for i, v in enumerate(kwh) if v is not None]
    if shown:
        idx = np.arange(len(shown))
        values = np.array([v for _, v in shown])
        bars = right.barh(idx, values, color=[cohort_color(i) for i, _ in shown])
        right.set_yticks(idx, [names[i] for i, _ in shown])
        right.invert_yaxis()
        right.set_xlim(0, float(values.max()) * 1.3)
        right.bar_label(bars, labels=[f"{v:,.2f}" for v in values], padding=3, fontsize=8)
    else:
        style.empty_panel(right, "no tokens served by any cohort")
    right.set_xlabel("kWh per million tokens (simulated cars' own inference energy)")
    right.grid(axis="x", alpha=0.3)
    return fig
