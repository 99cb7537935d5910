"""Comparison figures of a sweep folder: metric bars, a Pareto scatter and lines over a numeric axis.

A sweep folder (written by ``fleetsim sweep``) holds ``sweep.json`` (the sweep's axes, seeds and
metrics), ``sweep.csv`` (one row per point), ``aggregate.csv`` (one row per configuration: for each
metric its ``.mean``, ``.std``, ``.ci95_low`` and ``.ci95_high`` over seeds) and ``failures.csv``.
These figures read those tables only; they never run a simulation. As in :mod:`reports.figures`,
``make_<name>`` returns a :class:`~matplotlib.figure.Figure` (or None when the sweep lacks the data)
and :func:`draw_all` saves them as deterministic PNGs.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator, PercentFormatter

from reports import style
from sim.studies.sweep import load_sweep

SWEEP_JSON, SWEEP_CSV, AGGREGATE_CSV, FAILURES_CSV = "sweep.json", "sweep.csv", "aggregate.csv", "failures.csv"
STATS = ("mean", "std", "ci95_low", "ci95_high")
MAX_BAR_METRICS = 12
HEADLINE_METRICS = ("jobs.slo_attainment", "jobs.latency_s.p95", "co2_kg.total", "cost_usd.total",
                    "utilization.mean", "fleet.trips_impacted", "comparison.fleet.g_co2_per_million_tokens",
                    "availability.available_gw")
PARETO_X = ("comparison.fleet.g_co2_per_million_tokens", "co2_kg.total")  # first present is the default
PARETO_Y = "jobs.slo_attainment"
# Known metrics: (label, unit); a fraction (0..1) has unit "%" and is drawn as a percentage.
METRIC_LABELS = {
    "jobs.slo_attainment": ("SLO attainment", "%"),
    "jobs.latency_s.p50": ("latency p50", "s"),
    "jobs.latency_s.p95": ("latency p95", "s"),
    "jobs.latency_s.p99": ("latency p99", "s"),
    "co2_kg.total": ("CO₂ emissions", "kg"),
    "cost_usd.total": ("total cost", "$"),
    "cost_usd.electricity": ("electricity cost", "$"),
    "utilization.mean": ("chip-slot utilization", "%"),
    "fleet.trips_impacted": ("trips impacted", "trips"),
    "comparison.fleet.g_co2_per_million_tokens": ("fleet CO₂ per million tokens", "g"),
    "comparison.fleet.kwh_per_million_tokens": ("fleet energy per million tokens", "kWh"),
    "comparison.fleet.usd_per_million_tokens": ("fleet cost per million tokens", "$"),
    "availability.available_gw": ("available inference power", "GW"),
    "energy_kwh.grid_import": ("grid import", "kWh"),
}
PALETTE = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C",
           "#CCB974", "#64B5CD")
FRONT_COLOR = "#C0392B"
CI_COLOR = "#222222"


# ---------------------------------------------------------------------------------- tables
@dataclass(frozen=True)
class SweepTables:
    """A sweep folder's tables: ``meta`` (sweep.json), ``points`` (sweep.csv), ``aggregate``
    (aggregate.csv) and ``failures`` (failures.csv, empty when the sweep has none)."""

    folder: Path
    meta: dict[str, Any]
    points: pd.DataFrame
    aggregate: pd.DataFrame
    failures: pd.DataFrame

    @property
    def axes(self) -> list[str]:
        """The axis keys in sweep order (from sweep.json, else the aggregate's non-metric columns)."""
        keys = [str(a["key"]) for a in self.meta.get("axes", [])]
        if keys:
            return [k for k in keys if k in self.aggregate.columns]
        suffixes = tuple(f".{s}" for s in STATS)
        return [c for c in self.aggregate.columns if c not in ("config", "n") and not c.endswith(suffixes)]

    @property
    def metrics(self) -> list[str]:
        """Every metric with a ``.mean`` column in the aggregate, the sweep's listed order first."""
        have = [c[: -len(".mean")] for c in self.aggregate.columns if c.endswith(".mean")]
        listed = [m for m in self.meta.get("metrics", []) if m in have]
        return listed + [m for m in have if m not in listed]


def load_tables(folder: str | Path) -> SweepTables:
    """Read the sweep ``folder``'s tables through :func:`sim.studies.sweep.load_sweep` (for notebooks as much
    as for the report): the same DataFrames, plus the folder and the axis and metric names.

    Raises :class:`FileNotFoundError` naming the file when one of the sweep's four files is missing.
    """
    f = Path(folder)
    for name in (SWEEP_JSON, SWEEP_CSV, AGGREGATE_CSV, FAILURES_CSV):
        if not (f / name).is_file():
            raise FileNotFoundError(f"{f / name}: missing; not a finished fleetsim sweep folder")
    t = load_sweep(f)
    return SweepTables(f, t.meta, t.points, t.aggregate, t.failures)


# ---------------------------------------------------------------------------------- labels
def metric_label(metric: str, unit: str | None = None) -> str:
    """``SLO attainment (%)`` for a known metric, else the dotted name; ``unit`` replaces the known unit."""
    label, known = METRIC_LABELS.get(metric, (metric, ""))
    unit = known if unit is None else unit
    return f"{label} ({unit})" if unit else label


def display_scale(agg: pd.DataFrame, metric: str) -> tuple[float, str]:
    """(factor, axis label) to draw ``metric`` with: a power in GW (``*_gw``) in the unit that shows
    its largest mean below 1000 (kW for a small fleet); every other metric as it is (factor 1)."""
    if not metric.endswith("_gw"):
        return 1.0, metric_label(metric)
    mean = pd.to_numeric(agg.get(f"{metric}.mean", pd.Series(dtype=float)), errors="coerce").to_numpy(dtype=float)
    top = float(np.max(np.abs(mean[np.isfinite(mean)]))) if np.isfinite(mean).any() else 0.0
    div, unit = style.power_unit(top * 1e9)
    return 1e9 / div, metric_label(metric, unit)


def is_fraction(metric: str) -> bool:
    """True when the metric is a share 0..1 (drawn as a percentage)."""
    return METRIC_LABELS.get(metric, ("", ""))[1] == "%" or metric.endswith(".slo_attainment")


def fmt_value(v: Any) -> str:
    """An axis value as written in a label: ``200``, ``0.25``, ``random``."""
    if isinstance(v, bool | np.bool_):
        return str(bool(v)).lower()
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else f"{float(v):g}"
    return str(v)


def short_names(axes: Sequence[str]) -> dict[str, str]:
    """Each axis key's last dotted part (``dispatch.policy`` → ``policy``), the full key if ambiguous."""
    last = [a.rsplit(".", 1)[-1] for a in axes]
    return {a: s if last.count(s) == 1 else a for a, s in zip(axes, last)}


def config_labels(df: pd.DataFrame, axes: Sequence[str]) -> list[str]:
    """One label per row: ``policy=random, vehicles=200`` (the config id when there are no axes)."""
    names = short_names(axes)
    if not axes:
        return [f"config {c}" for c in df.get("config", pd.Series(range(len(df))))]
    return [", ".join(f"{names[a]}={fmt_value(v)}" for a, v in zip(axes, row))
            for row in df[list(axes)].itertuples(index=False)]


def _colors(df: pd.DataFrame, axes: Sequence[str]) -> list[str]:
    """One colour per value of the first axis (configurations sharing it share a colour)."""
    if not axes:
        return [PALETTE[0]] * len(df)
    values = list(dict.fromkeys(df[axes[0]].tolist()))
    return [PALETTE[values.index(v) % len(PALETTE)] for v in df[axes[0]]]


# ---------------------------------------------------------------------------------- choice
def _is_number(v: Any) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool | np.bool_)


def numeric_axes(tables: SweepTables) -> list[str]:
    """The axes whose values are all numbers, with at least two distinct values."""
    declared = {str(a["key"]): a.get("values", []) for a in tables.meta.get("axes", [])}
    out = []
    for axis in tables.axes:
        values = declared.get(axis) or tables.aggregate[axis].tolist()
        col = tables.aggregate[axis]
        if (all(_is_number(v) for v in values) and pd.api.types.is_numeric_dtype(col)
                and not pd.api.types.is_bool_dtype(col) and col.nunique() >= 2):
            out.append(axis)
    return out


@dataclass(frozen=True)
class SweepChoice:
    """What the comparison figures show: bar metrics, the Pareto pair and its directions, line metrics."""

    metrics: tuple[str, ...]
    x: str | None
    y: str | None
    minimise_x: bool = True
    maximise_y: bool = True
    line_metrics: tuple[str, ...] = ()
    line_axes: tuple[str, ...] = ()


def _has_values(tables: SweepTables, metric: str) -> bool:
    col = tables.aggregate.get(f"{metric}.mean")
    return col is not None and bool(np.isfinite(pd.to_numeric(col, errors="coerce")).any())


def _check(tables: SweepTables, metric: str, what: str) -> str:
    if metric not in tables.metrics:
        raise ValueError(f"{what} = {metric!r}: not a metric of {tables.folder / AGGREGATE_CSV}; "
                         f"allowed: {', '.join(tables.metrics)}")
    return metric


def choose(tables: SweepTables, metrics: Sequence[str] | None = None, x: str | None = None,
           y: str | None = None, minimise_x: bool = True, maximise_y: bool = True,
           line_metrics: Sequence[str] | None = None) -> SweepChoice:
    """Resolve the figures' contents; every argument left None gets a sensible default.

    Bars: the sweep's metrics when at most :data:`MAX_BAR_METRICS`, else the headline metrics it has
    (its first :data:`MAX_BAR_METRICS` if it has none of them). Pareto: x the fleet's gCO₂ per million
    tokens (else total CO₂), y SLO attainment. Lines: the Pareto pair against every numeric axis.
    Raises :class:`ValueError` naming a requested metric the aggregate lacks.
    """
    have = tables.metrics
    if metrics is not None:
        bars = [_check(tables, m, "metrics") for m in metrics]
    elif len(have) <= MAX_BAR_METRICS:
        bars = have
    else:
        bars = [m for m in HEADLINE_METRICS if m in have] or have[:MAX_BAR_METRICS]
    px = _check(tables, x, "x") if x is not None else next((m for m in PARETO_X if _has_values(tables, m)), None)
    py = _check(tables, y, "y") if y is not None else (PARETO_Y if _has_values(tables, PARETO_Y) else None)
    if line_metrics is not None:
        lines = [_check(tables, m, "line_metrics") for m in line_metrics]
    else:
        lines = [m for m in (py, px) if m is not None] or bars[:1]
    return SweepChoice(tuple(bars), px, py, minimise_x, maximise_y, tuple(lines), tuple(numeric_axes(tables)))


# ---------------------------------------------------------------------------------- pareto front
def pareto_front(df: pd.DataFrame, x: str, y: str, minimise_x: bool = True, maximise_y: bool = True) -> pd.DataFrame:
    """The rows of ``df`` that no other row dominates on columns ``x`` and ``y``, sorted by ``x``.

    A row dominates another when it is at least as good on both columns and better on one ("good"
    means low ``x`` when ``minimise_x``, high ``y`` when ``maximise_y``). Identical rows do not
    dominate each other, so tied optima are all kept. Rows with a missing value are left out.
    Returns the kept rows (original index) in ascending ``x``, ties in ascending ``y``.
    """
    xs = pd.to_numeric(df[x], errors="coerce").to_numpy(dtype=float)
    ys = pd.to_numeric(df[y], errors="coerce").to_numpy(dtype=float)
    a = xs if minimise_x else -xs  # both "lower is better" from here on
    b = -ys if maximise_y else ys
    keep = np.zeros(len(df), dtype=bool)
    best_b, last_a = math.inf, math.nan
    for i in np.lexsort((b, a)):  # by a, then by b
        if not (np.isfinite(a[i]) and np.isfinite(b[i])):
            continue
        if b[i] < best_b:
            keep[i], best_b, last_a = True, b[i], a[i]
        elif b[i] == best_b and a[i] == last_a:  # a duplicate of the last kept row
            keep[i] = True
    front = df[keep]
    order = np.lexsort((ys[keep], xs[keep]))
    return front.iloc[order]


# ---------------------------------------------------------------------------------- figures
def _stats(agg: pd.DataFrame, metric: str, factor: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, CI low and CI high of ``metric`` per configuration, times ``factor`` (NaN where absent)."""
    def col(stat: str) -> np.ndarray:
        c = agg.get(f"{metric}.{stat}")
        v = np.full(len(agg), np.nan) if c is None else pd.to_numeric(c, errors="coerce").to_numpy(dtype=float)
        return v * factor
    return col("mean"), col("ci95_low"), col("ci95_high")


def _title(tables: SweepTables) -> str:
    m = tables.meta
    seeds = len(m.get("seeds", [])) or "?"
    return f"sweep '{m.get('name', tables.folder.name)}', scenario {scenario_name(m)}, {seeds} seed(s)"


def scenario_name(meta: dict[str, Any]) -> str:
    """The sweep's base scenario, quoted, or ``built-in`` when it has none."""
    sc = meta.get("scenario")
    return f"'{sc}'" if sc else "built-in"


def make_bars(tables: SweepTables, choice: SweepChoice, dpi: int = 110) -> Figure | None:
    """One panel per metric: the mean over seeds per configuration (bars) and its 95 % CI (whiskers)."""
    metrics, agg = choice.metrics, tables.aggregate
    if not metrics or agg.empty:
        return None
    ncols = 1 if len(metrics) == 1 else 2 if len(metrics) <= 4 else 3
    nrows = math.ceil(len(metrics) / ncols)
    fig = style.new_figure((11.0, 0.7 + nrows * (1.1 + 0.26 * len(agg))), dpi)
    fig.suptitle(f"Mean over seeds with 95 % confidence interval, by configuration — {_title(tables)}")
    panels = list(fig.subplots(nrows, ncols, sharey=True, squeeze=False).flat)
    y = np.arange(len(agg))
    labels, colors, configs = config_labels(agg, tables.axes), _colors(agg, tables.axes), agg["config"].tolist()
    for ax, metric in zip(panels, metrics):
        factor, label = display_scale(agg, metric)
        mean, lo, hi = _stats(agg, metric, factor)
        bars = ax.barh(y, np.where(np.isfinite(mean), mean, 0.0), height=0.7, color=colors, alpha=0.85)
        for patch, cfg in zip(bars.patches, configs):
            patch.set_gid(f"bar:{metric}:{cfg}")
        ok = np.isfinite(mean) & np.isfinite(lo) & np.isfinite(hi)
        if ok.any():
            ax.hlines(y[ok], lo[ok], hi[ok], color=CI_COLOR, lw=1.2, gid=f"ci:{metric}")
            ax.vlines(np.concatenate([lo[ok], hi[ok]]), np.tile(y[ok] - 0.18, 2), np.tile(y[ok] + 0.18, 2),
                      color=CI_COLOR, lw=1.2)
        for k in np.flatnonzero(~np.isfinite(mean)):
            ax.text(0.0, y[k], " n/a", va="center", fontsize=8, color="#555555")
        ax.set_title(label, fontsize="medium")
        ax.tick_params(axis="y", labelsize=8)
        if np.isfinite(mean).any() and np.nanmin(np.concatenate([mean, lo, hi])) >= 0:
            ax.set_xlim(left=0.0, right=None if np.nanmax(np.concatenate([mean, lo, hi])) > 0 else 1.0)
        if is_fraction(metric):
            ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0))
        ax.grid(axis="x", alpha=0.3)
        ax.axvline(0.0, color="#888888", lw=0.8)
    for ax in panels[len(metrics):]:
        ax.set_visible(False)
    first = panels[0]
    first.set_yticks(y, labels=labels)
    first.set_ylim(len(agg) - 0.5, -0.5)  # first configuration on top
    return fig


def _ci_cross(ax: Axes, x: np.ndarray, y: np.ndarray, xs: tuple, ys: tuple) -> None:
    """Horizontal (x CI) and vertical (y CI) whiskers through each point, where the CI is known."""
    okx = np.isfinite(xs[0]) & np.isfinite(xs[1])
    oky = np.isfinite(ys[0]) & np.isfinite(ys[1])
    if okx.any():
        ax.hlines(y[okx], xs[0][okx], xs[1][okx], color=CI_COLOR, lw=1.0, alpha=0.7, gid="ci:x")
    if oky.any():
        ax.vlines(x[oky], ys[0][oky], ys[1][oky], color=CI_COLOR, lw=1.0, alpha=0.7, gid="ci:y")


def _better(minimise: bool) -> str:
    return "lower is better" if minimise else "higher is better"


def make_pareto(tables: SweepTables, choice: SweepChoice, dpi: int = 110) -> Figure | None:
    """Scatter of the configurations' means of ``choice.x`` against ``choice.y`` with CI crosses and
    the non-dominated front as a step line; None when the sweep lacks either metric."""
    if choice.x is None or choice.y is None:
        return None
    agg = tables.aggregate
    (fx, x_label), (fy, y_label) = display_scale(agg, choice.x), display_scale(agg, choice.y)
    x, xlo, xhi = _stats(agg, choice.x, fx)
    y, ylo, yhi = _stats(agg, choice.y, fy)
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any():
        return None
    fig = style.new_figure(style.SIZE_TALL, dpi)
    ax = fig.add_subplot()
    dx, dy = ("minimise" if choice.minimise_x else "maximise"), ("maximise" if choice.maximise_y else "minimise")
    ax.set_title(f"Pareto front: {dx} x, {dy} y — {_title(tables)}")
    ax.set_xlabel(f"{x_label}, mean over seeds ({_better(choice.minimise_x)})")
    ax.set_ylabel(f"{y_label}, mean over seeds ({_better(not choice.maximise_y)})")
    _ci_cross(ax, x[ok], y[ok], (xlo[ok], xhi[ok]), (ylo[ok], yhi[ok]))
    colors = np.array(_colors(agg, tables.axes), dtype=object)[ok]
    ax.scatter(x[ok], y[ok], c=list(colors), s=46, zorder=3, edgecolors="white", gid="pareto:points",
               label="configuration (mean; whiskers: 95 % CI)")
    pts = pd.DataFrame({"x": x, "y": y, "config": agg["config"].to_numpy()})
    front = pareto_front(pts, "x", "y", choice.minimise_x, choice.maximise_y)
    ax.step(front["x"], front["y"], where="post" if choice.minimise_x else "pre", color=FRONT_COLOR, lw=1.8,
            zorder=2, gid="pareto:front", label=f"non-dominated front ({dx} x, {dy} y)")
    ax.scatter(front["x"], front["y"], s=110, facecolors="none", edgecolors=FRONT_COLOR, lw=1.5, zorder=4)
    for label, xi, yi in zip(np.array(config_labels(agg, tables.axes), dtype=object)[ok], x[ok], y[ok]):
        ax.annotate(label, (xi, yi), xytext=(6, 5), textcoords="offset points", fontsize=8, color="#333333")
    if is_fraction(choice.y):
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    if is_fraction(choice.x):
        ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    ax.margins(0.12)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=2, frameon=False, fontsize=9)
    return fig


def line_groups(tables: SweepTables, axis: str) -> list[tuple[str, pd.DataFrame]]:
    """The aggregate split into one line per value of the other axes (a single line for a zip
    sweep, where the axes move together), each sorted by ``axis``; labels like ``policy=random``."""
    agg = tables.aggregate
    others = [] if tables.meta.get("combine") == "zip" else [a for a in tables.axes if a != axis]
    if not others:
        return [("", agg.sort_values(axis, kind="stable"))]
    keys = agg[others].astype(str).agg("\x1f".join, axis=1)
    groups = []
    for key in dict.fromkeys(keys):
        sub = agg[keys == key].sort_values(axis, kind="stable")
        groups.append((config_labels(sub.iloc[:1], others)[0], sub))
    return groups


def make_lines(tables: SweepTables, choice: SweepChoice, dpi: int = 110) -> Figure | None:
    """Each line metric (rows) against each numeric axis (columns): the mean over seeds as a line and
    its 95 % CI as a band, one line per value of the other axes; None without a numeric axis."""
    if not choice.line_axes or not choice.line_metrics:
        return None
    rows, cols = len(choice.line_metrics), len(choice.line_axes)
    fig = style.new_figure((11.0, 0.8 + 3.6 * rows), dpi)
    fig.suptitle(f"Metric against a numeric axis: mean over seeds and 95 % CI band — {_title(tables)}")
    grid = fig.subplots(rows, cols, squeeze=False)
    for r, metric in enumerate(choice.line_metrics):
        for c, axis in enumerate(choice.line_axes):
            _line_panel(grid[r][c], tables, metric, axis)
    return fig


def _line_panel(ax: Axes, tables: SweepTables, metric: str, axis: str) -> None:
    groups = line_groups(tables, axis)
    factor, label = display_scale(tables.aggregate, metric)
    for k, (label, sub) in enumerate(groups):
        color = PALETTE[k % len(PALETTE)]
        xv = sub[axis].to_numpy(dtype=float)
        mean, lo, hi = _stats(sub, metric, factor)
        gid = f"{metric}:{axis}:{label}"
        ax.plot(xv, mean, color=color, marker="o", ms=4, lw=1.6, gid=f"line:{gid}", label=label or metric)
        ok = np.isfinite(lo) & np.isfinite(hi)
        if ok.any():
            ax.fill_between(xv, np.where(ok, lo, 0.0), np.where(ok, hi, 0.0), where=ok, color=color, alpha=0.18,
                            lw=0, gid=f"band:{gid}")
    values = np.unique(tables.aggregate[axis].to_numpy(dtype=float))
    if values.min() > 0 and values.max() / values.min() >= 100:
        ax.set_xscale("log")
    if len(values) <= 12:
        ax.set_xticks(values, labels=[fmt_value(v) for v in values])
        ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel(axis)
    ax.set_ylabel(label)
    if is_fraction(metric):
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    ax.grid(alpha=0.3)
    if len(groups) > 1:
        ax.legend(fontsize=8, frameon=False)


# ---------------------------------------------------------------------------------- save
FIGURES = {"bars.png": make_bars, "pareto.png": make_pareto, "lines.png": make_lines}


def draw_all(tables: SweepTables, choice: SweepChoice, fig_dir: str | Path, dpi: int = 110) -> list[Path]:
    """Draw every comparison figure the sweep has data for into ``fig_dir``; return the PNG paths in
    order. A skipped figure's PNG left from an earlier drawing is removed."""
    out = Path(fig_dir)
    paths = []
    for name, make in FIGURES.items():
        fig = make(tables, choice, dpi)
        if fig is None:
            (out / name).unlink(missing_ok=True)
        else:
            paths.append(style.save(fig, out / name, dpi))
    return paths
