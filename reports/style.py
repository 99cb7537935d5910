"""Shared look of the report figures: colours, labels, units, time axis, titles, empty panels and
the note drawn when an axis leaves a peak off scale.

Every figure takes its colours from here, so a state or energy category has one colour across
the whole report (driving is the same blue in the fleet-state and the power figures).
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path

import matplotlib as mpl
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.text import Annotation, Text
from matplotlib.ticker import Formatter, MaxNLocator, ScalarFormatter, StrMethodFormatter

from sim.core import quantities
from sim.results import Results, schema

# Vehicle states, bottom to top of the stacked area, and their colours.
STATES = ("driving", "parked", "available", "serving")
STATE_LABELS = {
    "driving": "driving",
    "parked": "parked (asleep / offline)",
    "available": "available (awake, chip idle)",
    "serving": "serving (chip busy)",
    "charging": "charging (drawing power)",
}
STATE_COLORS = {
    "driving": "#4C72B0",
    "parked": "#B8B8B8",
    "available": "#55A868",
    "serving": "#DD8452",
    "charging": "#8E44AD",
}

# Load-side power categories (the results schema's), same order as stacked.
ENERGY_CATEGORIES = schema.ENERGY_CATEGORIES
ENERGY_LABELS = {
    "driving": "driving",
    "inference_active": "chip, serving",
    "inference_idle": "chip, idle",
    "awake_overhead": "awake-car overhead",
    "sleep": "sleep drain",
    "charging_losses": "charging losses",
    "discharge_losses": "discharge losses",
}
ENERGY_COLORS = {
    "driving": STATE_COLORS["driving"],
    "inference_active": STATE_COLORS["serving"],
    "inference_idle": STATE_COLORS["available"],
    "awake_overhead": "#A8D5A2",
    "sleep": STATE_COLORS["parked"],
    "charging_losses": STATE_COLORS["charging"],
    "discharge_losses": "#D98CC0",
}
GRID_COLOR = "#111111"
PRICE_COLOR = "#B8860B"
CARBON_COLOR = "#2F4F4F"
UTILIZATION_COLOR = STATE_COLORS["serving"]
CAPACITY_COLOR = STATE_COLORS["available"]

# Grid figure groups, energy-flow extras, and the fleet vs data-center comparison.
STORED_COLOR = "#2E86AB"  # energy put into (or, drawn down, taken out of) the batteries
OTHER_LOAD_COLOR = "#7F9CC7"  # driving, sleep drain and discharge losses, grouped
INFERENCE_COLOR = STATE_COLORS["serving"]
SOURCE_COLORS = {"grid_import": "#4A4A4A", "battery_drawdown": STORED_COLOR}
ATTRIBUTION_COLORS = {"jobs_served": STATE_COLORS["serving"], "standby": STATE_COLORS["available"]}
FLEET_COLOR = STATE_COLORS["serving"]
DATACENTER_COLOR = "#4C4C7F"
USD_COLORS = {"electricity": PRICE_COLOR, "carbon": CARBON_COLOR, "owner_payouts": "#55A868",
              "hardware": "#8C7BC4"}
SOLAR_COLOR = "#F2C200"
CAP_COLOR = "#C0392B"

JOB_CLASSES = schema.JOB_CLASSES
CLASS_COLORS = {"interactive": "#1F4E9C", "batch": "#A0522D"}

# Figure sizes, inches (width, height); pixel size = inches × dpi (no tight bbox).
SIZE_WIDE = (11.0, 5.0)
SIZE_TALL = (11.0, 6.5)

# Axis units that fit the data: one table for the figures, the page and the command line
power_unit = quantities.power_unit  # (divisor, unit) that shows a power in W below 1,000
energy_unit = quantities.energy_unit  # (divisor, unit) that shows an energy in kWh below 1,000 (kWh at least)
power_text = quantities.power_w  # one power (W) in the unit that fits it: ``40.9 MW``, ``6.63 W``
energy_text = quantities.energy_kwh  # one energy (kWh) in the unit that fits it: ``8.6 GWh``, ``0.692 kWh``
#: (from, divisor, unit) for durations given in s: ms below a second, minutes from 10 min, hours from 10 h
DURATION_UNITS = ((36000.0, 3600.0, "h"), (600.0, 60.0, "min"), (1.0, 1.0, "s"), (0.0, 1e-3, "ms"))


def duration_unit(max_s: float) -> tuple[float, str]:
    """(divisor, unit) for an axis of durations (s) up to ``max_s``: ``(1e-3, "ms")`` for waits of
    milliseconds, ``(1.0, "s")``, ``(60.0, "min")``, ``(3600.0, "h")``."""
    m = abs(float(max_s)) if np.isfinite(max_s) else 0.0
    for start, div, unit in DURATION_UNITS:
        if m >= start and m > 0:
            return div, unit
    return 1.0, "s"


def zone(results: Results) -> tzinfo | None:
    """The scenario's time zone, or None to fall back to the offsets in the time column."""
    try:
        return results.scenario.start_datetime().tzinfo
    except Exception:
        return None


def subtitle(summary: dict) -> str:
    """``scenario 'name', seed N`` for figure titles."""
    return f"scenario '{summary.get('scenario', '?')}', seed {summary.get('seed', '?')}"


@dataclass(frozen=True)
class LocalTimes:
    """Sample times in local time: interval midpoints, the run's first and last instants."""

    mid: pd.Series  # timezone-aware datetimes, one per row
    start: pd.Timestamp  # start of the first interval
    end: pd.Timestamp  # end of the last interval
    tz: tzinfo

    @property
    def x(self) -> pd.DatetimeIndex:
        """Plot positions: run start, every interval midpoint, run end (pair with :meth:`pad`)."""
        return pd.DatetimeIndex([self.start, *self.mid, self.end])

    @staticmethod
    def pad(values: np.ndarray | pd.Series) -> np.ndarray:
        """``values`` (one per row) with the first and last repeated to span the whole run."""
        v = np.asarray(values, dtype=float)
        return np.concatenate([v[:1], v, v[-1:]])


def local_times(ts: pd.DataFrame, tz: tzinfo | None) -> LocalTimes:
    """Midpoints of the sample intervals as timezone-aware local datetimes (``ts`` non-empty).

    ``ts["time"]`` is the local ISO end time of each interval and ``ts["t_s"]`` its end in
    simulation seconds; an interval starts at the previous row's end (the first at t = 0 s).
    Values in the time series are interval means, so they are drawn at the interval midpoint.
    ``tz`` None falls back to the fixed UTC offset written in the first row.
    """
    end = pd.to_datetime(ts["time"], utc=True, format="ISO8601")
    t_end = ts["t_s"].to_numpy(dtype=float)
    t_start = np.concatenate([[0.0], t_end[:-1]])
    mid = end - pd.to_timedelta((t_end - t_start) / 2.0, unit="s")
    if tz is None:
        tz = pd.Timestamp(ts["time"].iloc[0]).tzinfo
    start = end.iloc[0] - pd.to_timedelta(t_end[0] - t_start[0], unit="s")
    return LocalTimes(mid.dt.tz_convert(tz), start.tz_convert(tz), end.iloc[-1].tz_convert(tz), tz)


class LocalTimeFormatter(Formatter):
    """Tick labels in local time: the date (``Tue 07 Jun``) at a local midnight, else the clock
    time (``19:00``, with seconds only when a tick falls between minutes)."""

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz

    def __call__(self, x: float, pos: int | None = None) -> str:
        t = pd.Timestamp(mdates.num2date(x, tz=self.tz)).round("s")
        if (t.hour, t.minute, t.second) == (0, 0, 0):
            return f"{t:%a %d %b}"
        return f"{t:%H:%M:%S}" if t.second else f"{t:%H:%M}"


def is_midnight(x: float, tz: tzinfo) -> bool:
    """True when the date number ``x`` (days) is a local midnight in ``tz`` (to the second)."""
    t = pd.Timestamp(mdates.num2date(x, tz=tz)).round("s")
    return (t.hour, t.minute, t.second) == (0, 0, 0)


#: room per tick label on a time axis (em of the tick font): a date (``Tue 07 Jun``, 5.2 em) next to a
#: clock time (``12:00``, 3 em) with a gap between them
TIME_TICK_EM = 6.0


def time_ticks_that_fit(axis: Axis | None, most: int) -> int:
    """How many local-time ticks the drawn width of ``axis`` holds without their labels touching
    (at most ``most``, at least 5); ``most`` when the axis is not placed yet."""
    if axis is None or axis.axes is None or axis.figure is None:
        return most
    width_pt = axis.axes.get_window_extent().width * 72.0 / axis.figure.dpi
    size_pt = FontProperties(size=mpl.rcParams["xtick.labelsize"]).get_size_in_points()
    return max(5, min(most, int(width_pt / (TIME_TICK_EM * size_pt)) + 1))


class FittedDateLocator(mdates.AutoDateLocator):
    """An :class:`~matplotlib.dates.AutoDateLocator` that asks, each time it places ticks, how many the
    axis's drawn width holds (:func:`time_ticks_that_fit`), so a panel narrowed by a legend beside it
    gets fewer ticks rather than labels that run into each other."""

    def __init__(self, tz: tzinfo, most: int = 12) -> None:
        super().__init__(tz=tz, minticks=min(4, most), maxticks=most)
        self.most = most

    def get_locator(self, dmin: datetime, dmax: datetime) -> mdates.DateLocator:
        n = time_ticks_that_fit(self.axis, self.most)
        self.maxticks = dict.fromkeys(self.maxticks, n)
        self.minticks = min(4 if n >= 7 else 3, n)  # few ticks: whole days rather than too many hours
        return super().get_locator(dmin, dmax)


def time_axis(ax: Axes, lt: LocalTimes, max_ticks: int = 12) -> None:
    """Local-time ticks spanning the whole run (dates only at midnights, clock times elsewhere, as many
    as the drawn axis holds up to ``max_ticks``), and an x label naming the zone and the year, or the
    date(s) when no tick shows one."""
    locator = FittedDateLocator(lt.tz, max_ticks)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(LocalTimeFormatter(lt.tz))
    ax.set_xlim(lt.start, lt.end)
    lo, hi = ax.get_xlim()
    ticks = [t for t in locator() if lo <= t <= hi]
    if any(is_midnight(t, lt.tz) for t in ticks):
        when = f"{lt.start.year}" if lt.start.year == lt.end.year else f"{lt.start.year}–{lt.end.year}"
    else:  # no date on any tick: name the day(s) in the label
        last = lt.end - pd.Timedelta(microseconds=1)  # a run ending at midnight ends on the day before
        when = (f"{lt.start:%a %d %b %Y}" if lt.start.date() == last.date()
                else f"{lt.start:%a %d %b} – {last:%a %d %b %Y}")
    ax.set_xlabel(f"local time, {lt.tz} ({when})")


def new_figure(size: tuple[float, float], dpi: int) -> Figure:
    """A pyplot-free figure on an Agg canvas, constrained layout (pixels = ``size`` × ``dpi``)."""
    fig = Figure(figsize=size, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def fit_title(fig: Figure, text: str, max_share: float = 0.97) -> Text:
    """``text`` as the figure's title (centred on the whole figure, never on a narrower axes); when
    it is wider than ``max_share`` of the figure, its last `` (...)`` (the scenario subtitle) goes on
    a line of its own and the rest wraps at spaces, so it is never clipped at the figure's edges."""
    title = fig.suptitle(text)
    limit = max_share * fig.bbox.width
    renderer = fig.canvas.get_renderer()
    head, sep, tail = text.rpartition(" (")
    main, sub = (head, [f"({tail}"]) if sep and head else (text, [])
    width = len(main)
    while title.get_window_extent(renderer).width > limit and width > 10:
        title.set_text("\n".join([*textwrap.wrap(main, width), *sub]))
        width = int(width * 0.9) if title.get_window_extent(renderer).width > limit else width
    return title


def figure_title(fig: Figure, main: str, summary: dict) -> Text:
    """The figure's title: ``main (scenario 'name', seed N)``, on two lines when too wide."""
    return fit_title(fig, f"{main} ({subtitle(summary)})")


def power_over_signals(n_samples: int, title: str, lower_title: str, height_ratios: list[float],
                       dpi: int) -> tuple[Figure, Axes, Axes, bool]:
    """A tall figure with a power panel above a grid-signal panel (shared time axis), titled.

    Returns ``(fig, power_ax, signal_ax, empty)``; with no time-series samples both panels say so
    and ``empty`` is True (draw nothing more).
    """
    fig = new_figure(SIZE_TALL, dpi)
    ax, lower = fig.subplots(2, 1, sharex=True, height_ratios=height_ratios)
    fit_title(fig, title)
    lower.set_title(lower_title, fontsize="medium")
    if n_samples == 0:
        ax.set_ylabel("power")
        empty_panel(ax, "no time-series samples in this run")
        empty_panel(lower, "no time-series samples")
    return fig, ax, lower, n_samples == 0


# ------------------------------------------------------------------------------ off-scale peaks
CLIP_QUANTILE = 0.97  # the "typical top" of a series: its 97th percentile
CLIP_FACTOR = 1.5  # a peak more than this many times the typical top is left off scale
CLIP_NOTE_GID = "clip-note"  # gid of the note drawn where an axis leaves a peak off scale


def clipped_max(values: np.ndarray, floor: float = 0.0) -> float:
    """Upper axis limit (units of ``values``): their maximum, unless it is more than
    :data:`CLIP_FACTOR` × the typical top (the larger of their :data:`CLIP_QUANTILE` quantile and
    ``floor``), as a start-up charging peak is; then that typical top, the peak left off scale."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not len(v):
        return float(floor)
    peak = float(np.max(v))
    typical = max(float(np.quantile(v, CLIP_QUANTILE)), float(floor))
    return typical if typical > 0 and peak > CLIP_FACTOR * typical else max(peak, float(floor))


def clip_note(ax: Axes, x: pd.Timestamp, y_top: float, text: str, right_half: bool) -> Annotation:
    """A boxed note with an arrow to the top of the axis at ``x`` (data units), saying what was left
    off scale; it points left from the right half of the axis so it stays inside."""
    return ax.annotate(text, xy=(x, y_top), xytext=(-30 if right_half else 30, -16), textcoords="offset points",
                       ha="right" if right_half else "left", va="top", fontsize=9, gid=CLIP_NOTE_GID,
                       arrowprops={"arrowstyle": "->", "color": "#333333"},
                       bbox={"boxstyle": "round,pad=0.3", "fc": "white", "ec": "#999999"}, zorder=5)


def off_scale_note(ax: Axes, lt: LocalTimes, t_end_s: np.ndarray, values: np.ndarray, y_top: float,
                   div: float, unit: str, what: str) -> Annotation | None:
    """When the largest of ``values`` (one per sample row, W) is above ``y_top`` (axis units ×
    ``div``), a :func:`clip_note` naming ``what``, its value in ``unit`` and its interval; else None."""
    if not len(values):
        return None
    peak = int(np.argmax(values))
    peak_v = float(values[peak])
    if peak_v <= y_top * div * (1.0 + 1e-9):
        return None
    half = pd.Timedelta(seconds=(t_end_s[peak] - (t_end_s[peak - 1] if peak else 0.0)) / 2.0)
    mid = lt.mid.iloc[peak]
    when = f"{(mid - half):%a %H:%M}–{(mid + half):%H:%M}"
    right = mid > lt.start + (lt.end - lt.start) / 2
    return clip_note(ax, mid, y_top, f"off scale: {what} peaks at {peak_v / div:,.3g} {unit} ({when})", right)


# ------------------------------------------------------------------------------ numbers on axes
#: (from, divisor, word) for counts: thousands only from 100,000 (below, 12,345 reads best as is)
COUNT_UNITS = ((1e9, 1e9, "billion"), (1e6, 1e6, "million"), (1e5, 1e3, "thousand"))


def count_unit(max_count: float) -> tuple[float, str]:
    """(divisor, word) for an axis of counts: ``(1e6, "million")`` for 100 million cars,
    ``(1e3, "thousand")`` from 100,000, else ``(1.0, "")`` (whole numbers with separators)."""
    m = abs(float(max_count)) if np.isfinite(max_count) else 0.0
    for start, div, word in COUNT_UNITS:
        if m >= start:
            return div, word
    return 1.0, ""


def count_text(n: float) -> str:
    """A count for a label: ``2,000``, ``250 thousand``, ``100 million``, ``1.5 billion``."""
    div, word = count_unit(n)
    return f"{n:,.0f}" if div == 1.0 else f"{n / div:,.3g} {word}"


def count_axis(axis: Axis, div: float) -> None:
    """Tick labels for counts divided by ``div``: whole numbers with separators when ``div`` is 1,
    plain decimals otherwise; never an offset or exponent."""
    if div == 1.0:
        axis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=3))
        axis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    else:
        plain_axis(axis)


def plain_axis(axis: Axis) -> None:
    """Plain tick labels on a linear axis: no offset (``+8e1``) and no exponent (``1e8``)."""
    fmt = ScalarFormatter(useOffset=False)
    fmt.set_scientific(False)
    axis.set_major_formatter(fmt)


def plain_numbers(fig: Figure) -> Figure:
    """Plain tick labels on every linear axis of ``fig`` still using matplotlib's default formatter:
    no offset or exponent, thousands separators where the axis reaches 1,000 (call it once the
    limits are set); returns ``fig``."""
    for ax in fig.axes:
        for axis, (lo, hi) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            fmt = axis.get_major_formatter()
            if type(fmt) is ScalarFormatter and axis.get_scale() == "linear":
                if max(abs(lo), abs(hi)) >= 1000:
                    axis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
                else:
                    plain_axis(axis)
    return fig


SHARE_FLOOR_PCT = 0.001  # shares below this (round-off, a trace) are written as "< 0.001 %"


def share_text(pct: float) -> str:
    """A share in percent: one decimal (``26.0 %``), two significant digits below 0.1 % (``0.019 %``),
    ``< 0.001 %`` below that (never an exponent)."""
    if pct >= 0.1 or pct == 0:
        return f"{pct:.1f} %"
    return f"{pct:.2g} %" if pct >= SHARE_FLOOR_PCT else f"< {SHARE_FLOOR_PCT:g} %"


def decimals_for(values: np.ndarray | list[float]) -> int:
    """The fewest decimals (0 to 6) that write each of ``values`` exactly (to 1e-9 of the largest)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    tol = 1e-9 * max(1.0, float(np.max(np.abs(v)))) if len(v) else 0.0
    for d in range(7):
        if np.all(np.abs(v - np.round(v, d)) <= tol):
            return d
    return 6


class PercentTicks(Formatter):
    """Percent tick labels with the fewest decimals that tell the ticks apart (``15 %``, ``0.4 %``,
    ``0.05 %``) rather than a fixed count (``0.400%``); ``scale`` turns a data value into percent
    (100 for fractions, 1 for values already in %)."""

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale

    def __call__(self, x: float, pos: int | None = None) -> str:
        return self.format_ticks([x])[0]

    def format_ticks(self, values: list[float] | np.ndarray) -> list[str]:
        pct = np.asarray(values, dtype=float) * self.scale
        d = decimals_for(pct)
        return [f"{v:.{d}f} %" for v in pct]


def empty_panel(ax: Axes, message: str) -> None:
    """Annotate ``ax`` as intentionally empty (keeps the axes so labels stay readable)."""
    ax.text(0.5, 0.5, message, transform=ax.transAxes, ha="center", va="center",
            fontsize=12, color="#555555",
            bbox={"boxstyle": "round,pad=0.6", "fc": "#F4F4F4", "ec": "#BBBBBB"})


def save(fig: Figure, path: str | Path, dpi: int) -> Path:
    """Write ``fig`` as PNG at ``dpi`` (fixed pixel size, no metadata timestamps)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=dpi, format="png", metadata={"Software": None})
    return p


def fmt_duration(s: float) -> str:
    """A short human duration: ``20 s``, ``8.4 min``, ``6 h``, ``2 d``."""
    if s < 60:
        return f"{s:.3g} s"
    if s < 3600:
        return f"{s / 60:.3g} min"
    if s < 86400:
        return f"{s / 3600:.3g} h"
    return f"{s / 86400:.3g} d"
