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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.text import Annotation, Text
from matplotlib.ticker import Formatter, MaxNLocator, NullLocator
from matplotlib.transforms import Bbox

from reports import style
from sim.core import quantities
from sim.results import catalog
from sim.studies.sweep import load_sweep

SWEEP_JSON, SWEEP_CSV, AGGREGATE_CSV, FAILURES_CSV = "sweep.json", "sweep.csv", "aggregate.csv", "failures.csv"
STATS = ("mean", "std", "ci95_low", "ci95_high")
MAX_BAR_METRICS = 12
MAX_LINE_METRICS = 4
HEADLINE_METRICS = ("jobs.slo_attainment", "jobs.latency_s.p95", "co2_kg.total", "cost_usd.total",
                    "utilization.mean", "fleet.trips_impacted", "comparison.fleet.g_co2_per_million_tokens",
                    "availability.available_gw")
PARETO_X = ("comparison.fleet.g_co2_per_million_tokens", "co2_kg.total")  # first present is the default
PARETO_Y = "jobs.slo_attainment"
PALETTE = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C",
           "#CCB974", "#64B5CD")
FRONT_COLOR = "#C0392B"
CI_COLOR = "#222222"
NOTE_COLOR = "#555555"
ZERO_CLOSE = 1.0  # an axis starts at 0 when the data's nearest value is within this many data spans of 0
MARGIN = 0.08  # share of the data span left free on each side of a panel

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


# ---------------------------------------------------------------------------------- metric display
SHARE_UNIT = "share (0..1)"  # the results catalogue's unit of a share, shown in %
Units = tuple[tuple[float, str], ...]


def _count_units(noun: str) -> Units:
    """Counts of ``noun`` from trillions down: ``(1e6, "million tokens")`` ... ``(1, "tokens")``."""
    return tuple((div, f"{word} {noun}".strip()) for div, word in
                 ((1e12, "trillion"), (1e9, "billion"), (1e6, "million"), (1.0, "")))


#: catalogue unit -> (factor to the base unit of the table, the table's (divisor, unit) rows, largest first)
SCALED_UNITS: dict[str, tuple[float, Units]] = {
    "GW": (1e9, quantities.POWER_UNITS),
    "kW": (1e3, quantities.POWER_UNITS),
    "W": (1.0, quantities.POWER_UNITS),
    "kWh": (1.0, (*quantities.ENERGY_UNITS, (1e-3, "Wh"))),
    "Wh": (1e-3, (*quantities.ENERGY_UNITS, (1e-3, "Wh"))),
    "kg CO2": (1.0, (*quantities.CO2_UNITS, (1e-3, "g CO2"))),
    "g CO2": (1e-3, (*quantities.CO2_UNITS, (1e-3, "g CO2"))),
    "$": (1.0, ((1e12, "$ trillion"), (1e9, "$ billion"), (1e6, "$ million"), (1.0, "$"))),
    "count": (1.0, _count_units("")),
    "tokens": (1.0, _count_units("tokens")),
    "vehicles": (1.0, _count_units("vehicles")),
    "km": (1.0, _count_units("km")),
}
#: catalogue units written without a unit (an index or ratio is a plain number)
UNITLESS = ("", "index (0..1)", "ratio")
#: metrics where more is better, when nothing else says (a tune's weights and bounds come first)
HIGHER_IS_BETTER = ("slo_attainment", "utilization.mean", "available", "nameplate", "tokens.served",
                    "tokens.generated", "jobs.completed", "owners_served_share", "tokens_per_s")


def pretty(text: str) -> str:
    """``CO2`` written with a subscript two, as the figures and the page show it."""
    return text.replace("CO2", "CO₂")


@dataclass(frozen=True)
class MetricDisplay:
    """How a metric is shown: its catalogue label, the unit it is drawn in, the factor from its stored
    value to that unit (100 for a share shown in %, 1e6 for GW shown in kW), and whether it is a share."""

    label: str
    unit: str = ""
    factor: float = 1.0
    share: bool = False

    @property
    def text(self) -> str:
        """``available inference power (kW)``; the label alone for a plain number."""
        return f"{self.label} ({self.unit})" if self.unit else self.label

    def format(self, value: float, digits: int = 4) -> str:
        """A stored value in this unit: ``99.91 %``, ``1,584 g CO₂/million tokens``, ``n/a``."""
        v = float(value) * self.factor if value is not None else math.nan
        if not math.isfinite(v):
            return "n/a"
        return f"{fmt_sig(v, digits)} {self.unit}".strip() if self.unit != "%" else f"{fmt_sig(v, digits)} %"


def fmt_sig(x: float, digits: int = 4) -> str:
    """``x`` to ``digits`` significant digits with thousands separators (``1,584``, ``99.91``, ``0.0123``)."""
    if not math.isfinite(x):
        return "n/a"
    if x == 0:
        return "0"
    return f"{x:,.{max(0, digits - 1 - math.floor(math.log10(abs(x))))}f}"


def metric_display(metric: str, values: Iterable[float] = ()) -> MetricDisplay:
    """The display of ``metric`` (a summary key) for ``values`` (stored units; NaN ignored): the results
    catalogue's label and unit, a power, energy, CO₂ mass, dollar sum or count in the unit that shows the
    largest value below 1,000 (``kW`` for a 1,000-car fleet, not ``1.6e-04 GW``), a share in %. A key the
    catalogue does not document is labelled with its name's words and has no unit."""
    label, unit = pretty(catalog.metric_label(metric)), catalog.metric_unit(metric)
    if unit == SHARE_UNIT:
        return MetricDisplay(label, "%", 100.0, True)
    if unit in SCALED_UNITS:
        base, table = SCALED_UNITS[unit]
        v = np.abs(np.asarray(list(values), dtype=float))
        top = float(v[np.isfinite(v)].max()) if np.isfinite(v).any() else 0.0
        div, name = quantities.unit_for(top * base, table)
        return MetricDisplay(label, pretty(name), base / div)
    if unit is None or unit in UNITLESS:
        return MetricDisplay(label)
    return MetricDisplay(label, pretty(unit))


def metric_values(agg: pd.DataFrame, metric: str) -> np.ndarray:
    """Every stored mean and CI end of ``metric`` in the aggregate (what an axis must hold)."""
    cols = [agg[c] for c in (f"{metric}.{s}" for s in ("mean", "ci95_low", "ci95_high")) if c in agg]
    if not cols:
        return np.array([])
    return np.concatenate([pd.to_numeric(c, errors="coerce").to_numpy(dtype=float) for c in cols])


def display_for(agg: pd.DataFrame, metric: str) -> MetricDisplay:
    """:func:`metric_display` of ``metric`` for its values in the aggregate."""
    return metric_display(metric, metric_values(agg, metric))


def metric_label(metric: str) -> str:
    """``SLO attainment (%)``: the catalogue's label with the metric's unit (not scaled to any values)."""
    return metric_display(metric).text


def is_fraction(metric: str) -> bool:
    """True when the metric is a share 0..1 (shown in %)."""
    return catalog.metric_unit(metric) == SHARE_UNIT


def higher_is_better(metric: str) -> bool:
    """Whether more of ``metric`` is better by its nature (SLO attainment, available power, tokens ...)."""
    return any(word in metric for word in HIGHER_IS_BETTER)


def _whole(v: float) -> bool:
    return abs(v - round(v)) < 1e-6 * max(1.0, abs(v))


class ReadableFormatter(Formatter):
    """Tick labels as written numbers: thousands separators, as many decimals as the ticks need, never
    an offset or a ``1e8`` multiplier."""

    _ticks: tuple[float, ...] = ()

    def set_locs(self, locs: Sequence[float]) -> None:
        """Remember every tick value: the decimals are those the ticks need together."""
        self._ticks = tuple(float(v) for v in locs)

    def __call__(self, x: float, pos: int | None = None) -> str:
        locs = [v for v in self._ticks if math.isfinite(v)] or [x]
        decimals = next((d for d in range(8) if all(_whole(v * 10**d) for v in locs)), 8)
        text = f"{x:,.{decimals}f}"
        return text[1:] if text.startswith("-") and float(text.replace(",", "")) == 0 else text


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
    tokens (else total CO₂), y SLO attainment. Lines: the metrics the sweep file names, then the Pareto
    pair, at most :data:`MAX_LINE_METRICS`, against every numeric axis.
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
        listed = [m for m in tables.meta.get("metrics", []) if m in have and _has_values(tables, m)]
        lines = list(dict.fromkeys(m for m in (*listed, py, px) if m is not None))[:MAX_LINE_METRICS] or bars[:1]
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
def _stats(agg: pd.DataFrame, metric: str, disp: MetricDisplay) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, CI low and CI high of ``metric`` per configuration in ``disp``'s unit (NaN where absent);
    a share's interval is cut to 0..100 %, the values a share can take."""
    def col(stat: str) -> np.ndarray:
        c = agg.get(f"{metric}.{stat}")
        v = np.full(len(agg), np.nan) if c is None else pd.to_numeric(c, errors="coerce").to_numpy(dtype=float)
        return v * disp.factor
    mean, lo, hi = col("mean"), col("ci95_low"), col("ci95_high")
    if disp.share:
        lo, hi = np.clip(lo, 0.0, 100.0), np.clip(hi, 0.0, 100.0)
    return mean, lo, hi


def varies(values: np.ndarray) -> bool:
    """Whether the finite ``values`` differ (beyond a relative 1e-9: rounding in the aggregate)."""
    v = values[np.isfinite(values)]
    return v.size > 1 and float(np.ptp(v)) > 1e-9 * float(np.max(np.abs(v)))


def value_range(*arrays: np.ndarray) -> tuple[float, float]:
    """Axis limits that hold every finite value of ``arrays`` with a margin of :data:`MARGIN` of their
    span each side, so that small differences show (99.86 % against 99.9 %). The axis starts at 0 only
    when 0 is close: the value nearest to it is at most :data:`ZERO_CLOSE` spans away. A single value
    gets ±5 % of itself (±1 for 0), not below 0 when it is not negative."""
    v = np.concatenate([np.asarray(a, dtype=float).ravel() for a in arrays]) if arrays else np.array([])
    v = v[np.isfinite(v)]
    if v.size == 0:
        return 0.0, 1.0
    lo, hi = float(v.min()), float(v.max())
    span = hi - lo
    if span <= 1e-9 * max(abs(lo), abs(hi)):
        pad = 0.05 * abs(hi) or 1.0
        return (lo - pad if lo < 0 or lo - pad >= 0 else -0.05 * pad), hi + pad
    low, high = lo - MARGIN * span, hi + MARGIN * span
    if 0.0 <= lo <= ZERO_CLOSE * span:
        low = 0.0
    elif -ZERO_CLOSE * span <= hi <= 0.0:
        high = 0.0
    return low, high


def _title(tables: SweepTables) -> str:
    """``sweep 'policies' · scenario default · 2 seeds`` (the scenario by its file's stem)."""
    m = tables.meta
    seeds = len(m.get("seeds", []))
    sc = m.get("scenario")
    scenario = Path(str(sc)).stem if sc else "built-in"
    name = m.get("name", tables.folder.name)
    return f"sweep '{name}' · scenario {scenario} · {seeds or '?'} seed{'s' * (seeds != 1)}"


def scenario_name(meta: dict[str, Any]) -> str:
    """The sweep's base scenario, quoted, or ``built-in`` when it has none."""
    sc = meta.get("scenario")
    return f"'{sc}'" if sc else "built-in"


def no_variation_note(mean: np.ndarray, disp: MetricDisplay) -> str:
    """One line for a panel whose means are all equal: ``no variation: 504 s in every configuration``."""
    v = mean[np.isfinite(mean)]
    return f"no variation: {disp.format(v[0] / disp.factor)} in every configuration" if v.size else "no value"


def make_bars(tables: SweepTables, choice: SweepChoice, dpi: int = 110) -> Figure | None:
    """One panel per metric: the mean over seeds per configuration and its 95 % CI (whiskers); each
    panel's axis fits its own values (:func:`value_range`). A panel whose axis starts at 0 draws bars,
    one that does not draws dots (a bar's length would mean nothing), and a panel whose means are all
    equal says so under its axis."""
    metrics, agg = choice.metrics, tables.aggregate
    if not metrics or agg.empty:
        return None
    ncols = 1 if len(metrics) == 1 else 2 if len(metrics) <= 4 else 3
    nrows = math.ceil(len(metrics) / ncols)
    fig = style.new_figure((11.0, 1.0 + nrows * (1.4 + 0.26 * len(agg))), dpi)
    fig.suptitle(f"Mean over seeds with 95 % confidence interval, by configuration\n{_title(tables)}")
    panels = list(fig.subplots(nrows, ncols, sharey=True, squeeze=False).flat)
    y = np.arange(len(agg))
    for ax, metric in zip(panels, metrics):
        _bar_panel(ax, tables, metric, y)
    for ax in panels[len(metrics):]:
        ax.set_visible(False)
    first = panels[0]
    first.set_yticks(y, labels=config_labels(agg, tables.axes))
    first.set_ylim(len(agg) - 0.5, -0.5)  # first configuration on top
    return fig


def _bar_panel(ax: Axes, tables: SweepTables, metric: str, y: np.ndarray) -> None:
    """One metric's panel of :func:`make_bars`."""
    agg = tables.aggregate
    disp = display_for(agg, metric)
    mean, lo, hi = _stats(agg, metric, disp)
    colors, configs = _colors(agg, tables.axes), agg["config"].tolist()
    low, high = value_range(mean, lo, hi)
    finite = np.isfinite(mean)
    if low == 0.0 or high == 0.0:
        bars = ax.barh(y, np.where(finite, mean, 0.0), height=0.7, color=colors, alpha=0.85)
        for patch, cfg in zip(bars.patches, configs):
            patch.set_gid(f"bar:{metric}:{cfg}")
        ax.axvline(0.0, color="#888888", lw=0.8)
    elif finite.any():
        ax.scatter(mean[finite], y[finite], s=40, c=[c for c, f in zip(colors, finite) if f], zorder=3,
                   edgecolors="white", gid=f"mean:{metric}")
    ok = finite & np.isfinite(lo) & np.isfinite(hi)
    if ok.any():
        ax.hlines(y[ok], lo[ok], hi[ok], color=CI_COLOR, lw=1.2, gid=f"ci:{metric}")
        ax.vlines(np.concatenate([lo[ok], hi[ok]]), np.tile(y[ok] - 0.18, 2), np.tile(y[ok] + 0.18, 2),
                  color=CI_COLOR, lw=1.2)
    for k in np.flatnonzero(~finite):
        ax.text(low, y[k], " n/a", va="center", fontsize=8, color=NOTE_COLOR)
    ax.set_xlim(low, high)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]))
    ax.xaxis.set_major_formatter(ReadableFormatter())
    ax.set_title(disp.text, fontsize="medium")
    ax.tick_params(axis="y", labelsize=8)
    ax.grid(axis="x", alpha=0.3)
    if finite.any() and not varies(mean):
        ax.set_xlabel(no_variation_note(mean, disp), fontsize=8.5, color=NOTE_COLOR)


def _ci_cross(ax: Axes, x: np.ndarray, y: np.ndarray, xs: tuple, ys: tuple) -> None:
    """Horizontal (x CI) and vertical (y CI) whiskers through each point, where the CI is known."""
    okx = np.isfinite(xs[0]) & np.isfinite(xs[1])
    oky = np.isfinite(ys[0]) & np.isfinite(ys[1])
    if okx.any():
        ax.hlines(y[okx], xs[0][okx], xs[1][okx], color=CI_COLOR, lw=1.0, alpha=0.5, gid="ci:x")
    if oky.any():
        ax.vlines(x[oky], ys[0][oky], ys[1][oky], color=CI_COLOR, lw=1.0, alpha=0.5, gid="ci:y")


def better(minimise: bool) -> str:
    """``lower is better`` or ``higher is better``."""
    return "lower is better" if minimise else "higher is better"


def front_step(minimise_x: bool) -> str:
    """``where`` of the step line that outlines a Pareto front sorted by x: it holds each point's y
    until the next x when x is minimised, and takes the next y at once when x is maximised."""
    return "post" if minimise_x else "pre"


def close_groups(px: np.ndarray, radius: float) -> list[list[int]]:
    """Indices of points (pixel positions, one row each) whose markers overlap: each point joins the
    first group with a member closer than ``radius`` pixels; groups in order of their first point."""
    groups: list[list[int]] = []
    for i, p in enumerate(px):
        g = next((g for g in groups if any(math.dist(p, px[j]) < radius for j in g)), None)
        if g is None:
            groups.append([i])
        else:
            g.append(i)
    return groups


def label_box(ann: Annotation, renderer) -> Bbox:
    """The pixel box of an annotation's text (without its leader line), at its current position."""
    ann.update_positions(renderer)
    return Text.get_window_extent(ann, renderer)


LABEL_DISTANCES = (6.0, 16.0, 30.0, 48.0, 70.0)  # points from the marker
LABEL_ANGLES = (45, 135, -45, -135, 0, 180, 90, -90)  # degrees, first tried first
MARKER_PX = 8.0  # points closer than this many pixels share a label (their markers overlap)
CLEAR_PX = 14.0  # a label keeps this many pixels from the other points
MARKER_RADIUS_PX = 5.0  # and this many from its own
LABEL_COLOR = "#333333"


def _overlap(a: Bbox, b: Bbox) -> float:
    """Area (pixels²) shared by two boxes."""
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w * h if w > 0 and h > 0 else 0.0


def _outside(box: Bbox, frame: Bbox) -> float:
    """Area (pixels²) of ``box`` outside ``frame``."""
    return box.width * box.height - _overlap(box, frame)


def label_points(ax: Axes, xs: Sequence[float], ys: Sequence[float], labels: Sequence[str],
                 colors: Sequence[str] | None = None, fontsize: float = 8.0) -> list[Annotation]:
    """Label each point (data coordinates) where the text overlaps no other label and no point and
    stays inside the axes; points whose markers overlap on the page share one label listing them.
    A label takes its point's colour (``colors``), a shared label dark grey.

    Each label takes the first free spot of :data:`LABEL_DISTANCES` × :data:`LABEL_ANGLES` around its
    point, kept clear of the other points by :data:`CLEAR_PX`, else the least overlapping spot; a label
    set off from its point gets a thin leader line. The figure's layout is run once first and then
    kept, so the positions checked are those saved.
    """
    fig = ax.figure
    fig.canvas.draw()  # runs the layout: the pixel positions below are final
    fig.set_layout_engine("none")
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    px = ax.transData.transform(np.column_stack([xs, ys])) if len(xs) else np.empty((0, 2))
    placed: list[Bbox] = []
    out = []
    for g in close_groups(px, MARKER_PX):
        text = labels[g[0]] if len(g) == 1 else f"{len(g)} configurations here:\n" + "\n".join(labels[i] for i in g)
        color = colors[g[0]] if colors is not None and len(g) == 1 else LABEL_COLOR
        points = [Bbox.from_extents(u - r, v - r, u + r, v + r) for k, (u, v) in enumerate(px)
                  for r in ((MARKER_RADIUS_PX if k in g else CLEAR_PX),)]
        best: tuple[float, float, float] = (math.inf, 0.0, 0.0)
        for dist, angle in ((d, a) for d in LABEL_DISTANCES for a in LABEL_ANGLES):
            dx, dy = dist * math.cos(math.radians(angle)), dist * math.sin(math.radians(angle))
            ann = _annotation(ax, text, xs[g[0]], ys[g[0]], dx, dy, fontsize, color)
            box = label_box(ann, renderer)
            ann.remove()
            cost = sum(_overlap(box, t) for t in (*points, *placed)) + 4.0 * _outside(box, frame)
            if cost < best[0]:
                best = (cost, dx, dy)
            if cost == 0:
                break
        ann = _annotation(ax, text, xs[g[0]], ys[g[0]], best[1], best[2], fontsize, color,
                          leader=math.hypot(best[1], best[2]) > 10)
        placed.append(label_box(ann, renderer))
        out.append(ann)
    return out


def _annotation(ax: Axes, text: str, x: float, y: float, dx: float, dy: float, fontsize: float, color: str,
                leader: bool = False) -> Annotation:
    ha = "left" if dx > 1e-9 else "right" if dx < -1e-9 else "center"
    va = "bottom" if dy > 1e-9 else "top" if dy < -1e-9 else "center"
    arrow = {"arrowstyle": "-", "color": "#777777", "lw": 0.8, "shrinkA": 1, "shrinkB": 4} if leader else None
    return ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", ha=ha, va=va, fontsize=fontsize,
                       color=color, arrowprops=arrow, gid="pareto:label", zorder=5,
                       bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8})


def make_pareto(tables: SweepTables, choice: SweepChoice, dpi: int = 110) -> Figure | None:
    """Scatter of the configurations' means of ``choice.x`` against ``choice.y`` with CI crosses, the
    non-dominated front as a step line, and each configuration labelled where no label overlaps
    another (configurations at the same point share one label); None when the sweep lacks either metric."""
    if choice.x is None or choice.y is None:
        return None
    agg = tables.aggregate
    dx_, dy_ = display_for(agg, choice.x), display_for(agg, choice.y)
    x, xlo, xhi = _stats(agg, choice.x, dx_)
    y, ylo, yhi = _stats(agg, choice.y, dy_)
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any():
        return None
    fig = style.new_figure(style.SIZE_TALL, dpi)
    ax = fig.add_subplot()
    ax.set_title(f"Trade-off of the configurations: {dy_.label} against {dx_.label}\n{_title(tables)}")
    ax.set_xlabel(f"{dx_.text}, mean over seeds ({better(choice.minimise_x)})")
    ax.set_ylabel(f"{dy_.text}, mean over seeds ({better(not choice.maximise_y)})")
    _ci_cross(ax, x[ok], y[ok], (xlo[ok], xhi[ok]), (ylo[ok], yhi[ok]))
    colors = np.array(_colors(agg, tables.axes), dtype=object)[ok]
    ax.scatter(x[ok], y[ok], c=list(colors), s=46, zorder=3, edgecolors="white", gid="pareto:points",
               label="configuration (mean; whiskers: 95 % CI)")
    pts = pd.DataFrame({"x": x, "y": y, "config": agg["config"].to_numpy()})
    front = pareto_front(pts, "x", "y", choice.minimise_x, choice.maximise_y)
    ax.step(front["x"], front["y"], where=front_step(choice.minimise_x), color=FRONT_COLOR, lw=1.8, zorder=2,
            gid="pareto:front", label="Pareto front: no other configuration is better on both")
    ax.scatter(front["x"], front["y"], s=110, facecolors="none", edgecolors=FRONT_COLOR, lw=1.5, zorder=4)
    ax.margins(0.12)
    ax.xaxis.set_major_formatter(ReadableFormatter())
    ax.yaxis.set_major_formatter(ReadableFormatter())
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=2, frameon=False, fontsize=9)
    label_points(ax, x[ok], y[ok], list(np.array(config_labels(agg, tables.axes), dtype=object)[ok]), list(colors))
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
    fig = style.new_figure((11.0, 1.0 + 2.9 * rows), dpi)
    fig.suptitle(f"Each metric against a numeric axis: mean over seeds and 95 % CI band\n{_title(tables)}")
    grid = fig.subplots(rows, cols, squeeze=False)
    for r, metric in enumerate(choice.line_metrics):
        for c, axis in enumerate(choice.line_axes):
            _line_panel(grid[r][c], tables, metric, axis)
    return fig


def _line_panel(ax: Axes, tables: SweepTables, metric: str, axis: str) -> None:
    groups = line_groups(tables, axis)
    disp = display_for(tables.aggregate, metric)
    for k, (group, sub) in enumerate(groups):
        color = PALETTE[k % len(PALETTE)]
        xv = sub[axis].to_numpy(dtype=float)
        mean, lo, hi = _stats(sub, metric, disp)
        gid = f"{metric}:{axis}:{group}"
        ax.plot(xv, mean, color=color, marker="o", ms=4, lw=1.6, gid=f"line:{gid}", label=group or disp.label)
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
    ax.set_xlabel(short_names(tables.axes)[axis])
    ax.set_title(disp.text, fontsize="medium")
    ax.set_ylabel(disp.unit or disp.label)
    ax.yaxis.set_major_formatter(ReadableFormatter())
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
