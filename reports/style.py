"""Shared look of the report figures: colours, labels, units, time axis, empty panels.

Every figure takes its colours from here, so a state or energy category has one colour across
the whole report (driving is the same blue in the fleet-state and the power figures).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

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


def time_axis(ax: Axes, lt: LocalTimes, max_ticks: int = 12) -> None:
    """Date/time ticks in local time spanning the whole run, and an x label naming the zone."""
    locator = mdates.AutoDateLocator(tz=lt.tz, minticks=min(4, max_ticks), maxticks=max_ticks)
    fmt = mdates.ConciseDateFormatter(locator, tz=lt.tz)
    fmt.formats = ["%Y", "%b", "%a %d %b", "%H:%M", "%H:%M", "%S.%f"]
    fmt.zero_formats = ["", "%Y", "%b", "%a %d %b", "%a %d %b", "%H:%M"]
    fmt.offset_formats = [""] * 6  # the year goes into the axis label instead
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(fmt)
    ax.set_xlim(lt.start, lt.end)
    years = f"{lt.start.year}" if lt.start.year == lt.end.year else f"{lt.start.year}–{lt.end.year}"
    ax.set_xlabel(f"local time, {lt.tz} ({years})")


def new_figure(size: tuple[float, float], dpi: int) -> Figure:
    """A pyplot-free figure on an Agg canvas, constrained layout (pixels = ``size`` × ``dpi``)."""
    fig = Figure(figsize=size, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def power_over_signals(n_samples: int, title: str, lower_title: str, height_ratios: list[float],
                       dpi: int) -> tuple[Figure, Axes, Axes, bool]:
    """A tall figure with a power panel above a grid-signal panel (shared time axis), titled.

    Returns ``(fig, power_ax, signal_ax, empty)``; with no time-series samples both panels say so
    and ``empty`` is True (draw nothing more).
    """
    fig = new_figure(SIZE_TALL, dpi)
    ax, lower = fig.subplots(2, 1, sharex=True, height_ratios=height_ratios)
    ax.set_title(title)
    lower.set_title(lower_title, fontsize="medium")
    if n_samples == 0:
        ax.set_ylabel("power")
        empty_panel(ax, "no time-series samples in this run")
        empty_panel(lower, "no time-series samples")
    return fig, ax, lower, n_samples == 0


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
