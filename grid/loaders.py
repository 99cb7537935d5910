"""Signal loaders: a generic two-column ``time,value`` CSV and the EIA-930 carbon CSV.

Every loader first checks the path with :func:`sim.core.inputs.check_data_file` (a regular file of at
most 2 GiB, outside ``/dev``, ``/proc`` and ``/sys``), then raises
:class:`sim.core.errors.DataFileError` with one line naming ``file:line``, the bad value (at most 80
characters of it) and what is allowed.

Values, after conversion to the internal unit, must lie in :data:`BOUNDS`:

- carbon intensity 0 .. 10,000 gCO2/kWh (the dirtiest real grids are about 1,000-1,200);
- price -10 .. 1,000 US $/kWh (negative wholesale prices exist; retail is at most a few $/kWh);
- power -1e12 .. 1e12 W (1 TW) and energy -1e15 .. 1e15 Wh (1 PWh), negative meaning export;
- fraction 0 .. 1 (0 .. 100 %).

Times: ``time_s`` within +-1e10 s (about 317 years); ISO 8601 stamps in the years 1900 .. 2200.
"""
from __future__ import annotations

import csv
import io
import math
import re
import statistics
from datetime import datetime, timedelta, timezone
from pathlib import Path

from grid.profiles import load_eia930
from grid.signals import CalendarSignal, StepSignal
from sim.core.errors import DataFileError
from sim.core.inputs import check_data_file, quote

__all__ = ["BOUNDS", "UNITS", "load_eia930", "load_eia930_signal", "load_time_value_csv", "parse_unit"]

G_PER_LB = 453.59237  # grams per international avoirdupois pound (exact by definition)

# Accepted unit suffix -> (internal unit, multiplier, divisor): internal = value * multiplier / divisor.
UNITS: dict[str, tuple[str, float, float]] = {
    "g_per_kwh": ("g_per_kwh", 1.0, 1.0),
    "kg_per_mwh": ("g_per_kwh", 1.0, 1.0),
    "kg_per_kwh": ("g_per_kwh", 1000.0, 1.0),
    "t_per_mwh": ("g_per_kwh", 1000.0, 1.0),
    "lb_per_mwh": ("g_per_kwh", G_PER_LB, 1000.0),
    "lbs_per_mwh": ("g_per_kwh", G_PER_LB, 1000.0),
    "lb_per_kwh": ("g_per_kwh", G_PER_LB, 1.0),
    "lbs_per_kwh": ("g_per_kwh", G_PER_LB, 1.0),
    "usd_per_kwh": ("usd_per_kwh", 1.0, 1.0),
    "usd_per_mwh": ("usd_per_kwh", 1.0, 1000.0),
    "w": ("w", 1.0, 1.0),
    "kw": ("w", 1e3, 1.0),
    "mw": ("w", 1e6, 1.0),
    "gw": ("w", 1e9, 1.0),
    "wh": ("wh", 1.0, 1.0),
    "kwh": ("wh", 1e3, 1.0),
    "mwh": ("wh", 1e6, 1.0),
    "fraction": ("fraction", 1.0, 1.0),
    "pct": ("fraction", 1.0, 100.0),
}
#: allowed (lowest, highest) value of each internal unit, after conversion; see the module docstring
BOUNDS: dict[str, tuple[float, float]] = {
    "g_per_kwh": (0.0, 10_000.0),
    "usd_per_kwh": (-10.0, 1_000.0),
    "w": (-1e12, 1e12),
    "wh": (-1e15, 1e15),
    "fraction": (0.0, 1.0),
}
MAX_TIME_S = 1e10  # largest |time_s|, s (about 317 years)
YEARS = (1900, 2200)  # allowed years of ISO 8601 stamps (pandas' nanosecond instants end in 2262)
MAX_COLUMN_CHARS = 80  # longest value column name: it becomes the signal's name
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_BY_LENGTH = sorted(UNITS, key=len, reverse=True)
_BRACKETED = re.compile(r"(.*?)\s*[\[(]([^\])]+)[\])]\s*")
_ALLOWED_UNITS = ", ".join(UNITS)
_CALENDAR_TIME = ("time", "timestamp")
_OFFSET_TIME = "time_s"


def parse_unit(column: str) -> tuple[str, str, float, float] | None:
    """``(quantity, internal unit, multiplier, divisor)`` for a value column name, or ``None``.

    Accepts ``<quantity>_<unit>`` (``carbon_lb_per_mwh``) and ``<quantity> [<unit>]`` or
    ``<quantity> (<unit>)`` with a written unit (``value [g/kWh]``, ``Price (USD/MWh)``).
    """
    text = column.strip()
    m = _BRACKETED.fullmatch(text)
    if m:
        quantity = re.sub(r"\W+", "_", m.group(1).strip().lower()).strip("_") or "value"
        unit = m.group(2).strip().lower().replace(" ", "").replace("$", "usd").replace("%", "pct")
        unit = re.sub(r"co2(eq|e)?|co₂(eq|e)?", "", unit).replace("/", "_per_")
        if unit in UNITS:
            return (quantity, *UNITS[unit])
        return None
    name = text.lower()
    for suffix in _BY_LENGTH:
        if name.endswith("_" + suffix):
            quantity = name[: -len(suffix) - 1]
            if quantity and quantity != "per" and not quantity.endswith("_per"):
                return (quantity, *UNITS[suffix])
            return None
    return None


def load_time_value_csv(path: str | Path, *, key: str = "grid.carbon") -> CalendarSignal | StepSignal:
    """Read a two-column signal CSV whose header carries the time base and the value's unit.

    First column: ``time`` (or ``timestamp``), ISO 8601 date-times, an offset-less stamp being
    UTC -> :class:`CalendarSignal`; or ``time_s``, seconds since the run's start ->
    :class:`StepSignal`. Times must strictly increase; the last value holds for the median
    spacing, so at least two rows are needed.

    Second column: ``<quantity>_<unit>`` or ``<quantity> [<unit>]``; values are converted to the
    project's internal units and the signal is named ``<quantity>_<internal unit>``:

    ============================================  ================  ==========================
    unit in the header                            internal unit     conversion
    ============================================  ================  ==========================
    ``g_per_kwh``, ``[g/kWh]``, ``[gCO2/kWh]``    ``g_per_kwh``     x 1
    ``kg_per_mwh``, ``[kg/MWh]``                  ``g_per_kwh``     x 1
    ``kg_per_kwh``, ``t_per_mwh``                 ``g_per_kwh``     x 1000
    ``lb_per_mwh``, ``lbs_per_mwh``, ``[lb/MWh]`` ``g_per_kwh``     x 453.59237 / 1000
    ``lb_per_kwh``, ``lbs_per_kwh``               ``g_per_kwh``     x 453.59237
    ``usd_per_kwh``, ``[$/kWh]``, ``[USD/kWh]``   ``usd_per_kwh``   x 1
    ``usd_per_mwh``, ``[$/MWh]``, ``(USD/MWh)``   ``usd_per_kwh``   / 1000
    ``w``, ``kw``, ``mw`` (megawatt), ``gw``      ``w``             x 1, 1e3, 1e6, 1e9
    ``wh``, ``kwh``, ``mwh``                      ``wh``            x 1, 1e3, 1e6
    ``fraction``; ``pct``, ``[%]``                ``fraction``      x 1; / 100
    ============================================  ================  ==========================

    Unit names are case-insensitive. CRLF line endings, a UTF-8 byte-order mark and blank lines
    are accepted. Numbers are plain ASCII decimals (``12``, ``-0.5``, ``1e3``); converted values
    must lie in :data:`BOUNDS`. ``key`` names the scenario key in the file check's message.
    """
    p = str(check_data_file(path, key))
    rows = _read_rows(p)
    if not rows:
        raise DataFileError(p, 1, "file is empty; expected a header like time,carbon_g_per_kwh or time_s,power_w")
    head_line, header = rows[0]
    if len(header) != 2:
        raise DataFileError(
            p, head_line, f"header {quote(','.join(header))} has {len(header)} columns; needs exactly two: "
            "time (ISO 8601) or time_s (seconds), then <quantity>_<unit>"
        )
    time_col, value_col = header[0].strip(), header[1].strip()
    if time_col.lower() not in (*_CALENDAR_TIME, _OFFSET_TIME):
        raise DataFileError(
            p, head_line, f"first column {quote(time_col)} is not allowed; use time (ISO 8601 date-time) "
            "or time_s (seconds since the run's start)"
        )
    if len(value_col) > MAX_COLUMN_CHARS:
        raise DataFileError(p, head_line, f"column {quote(value_col)} is too long; allowed: a name of at "
                            f"most {MAX_COLUMN_CHARS} characters like carbon_g_per_kwh")
    parsed = parse_unit(value_col)
    if parsed is None:
        raise DataFileError(
            p, head_line, f"column {quote(value_col)} has no known unit; name it <quantity>_<unit> or "
            f"'<quantity> [<unit>]' with unit one of {_ALLOWED_UNITS}"
        )
    quantity, unit, mul, div = parsed
    lo, hi = BOUNDS[unit]
    calendar = time_col.lower() != _OFFSET_TIME
    times: list[float] = []  # seconds: since the first stamp (calendar) or since the run's start
    stamps: list[datetime] = []
    values: list[float] = []
    prev_raw = ""
    for line, row in rows[1:]:
        if len(row) != 2:
            raise DataFileError(p, line, f"row has {len(row)} fields; needs 2 ({time_col}, {value_col})")
        raw_t, raw_v = row[0].strip(), row[1].strip()
        if calendar:
            stamp = _parse_stamp(p, line, time_col, raw_t)
            t = (stamp - stamps[0]).total_seconds() if stamps else 0.0
            stamps.append(stamp)
        else:
            t = _parse_float(raw_t)
            if not abs(t) <= MAX_TIME_S:  # also refuses nan
                raise DataFileError(p, line, f"time_s {quote(raw_t)} is not allowed; must be a finite number "
                                    f"of seconds within +-{MAX_TIME_S:g}")
        if times and t <= times[-1]:
            raise DataFileError(
                p, line, f"{time_col} {quote(raw_t)} is not after the previous row's {quote(prev_raw)}; "
                "times must strictly increase",
            )
        times.append(t)
        prev_raw = raw_t
        v = _parse_float(raw_v)
        if not math.isfinite(v):
            raise DataFileError(p, line, f"{value_col} {quote(raw_v)} is not allowed; must be a finite number")
        v = v * mul / div
        if not lo <= v <= hi:  # also refuses an overflow to inf
            raise DataFileError(p, line, f"{value_col} {quote(raw_v)} is {v:g} {unit}; allowed: "
                                f"{lo:,g} .. {hi:,g} {unit}")
        values.append(v)
    if len(values) < 2:
        raise DataFileError(p, None, f"has {len(values)} data rows; needs at least two to know the step length")
    step_s = statistics.median(b - a for a, b in zip(times, times[1:]))
    name = f"{quantity}_{unit}"
    try:
        if calendar:
            return CalendarSignal(stamps, values, stamps[-1] + timedelta(seconds=step_s), name, unit)
        return StepSignal(times, values, times[-1] + step_s, name, unit)
    except (ValueError, OverflowError) as exc:  # e.g. a last step that runs past pandas' year 2262
        raise DataFileError(p, None, f"cannot build the signal: {quote(str(exc))}") from None


def load_eia930_signal(path: str | Path, *, key: str = "grid.carbon") -> CalendarSignal:
    """EIA-930 carbon CSV (dc-rl format, see :func:`load_eia930`) as a carbon signal (gCO2/kWh).

    Hours with an empty ``avg_CI`` take the previous hour's value; the last value holds one hour
    (the median spacing). Values above 10,000 gCO2/kWh are refused (:data:`BOUNDS`).
    """
    p = check_data_file(path, key)
    series = load_eia930(p)
    lo, hi = BOUNDS["g_per_kwh"]
    bad = series[(series < lo) | (series > hi)]
    if len(bad):
        raise DataFileError(str(p), None, f"avg_CI at {bad.index[0]} is {bad.iloc[0]:g} g_per_kwh; allowed: "
                            f"{lo:,g} .. {hi:,g} g_per_kwh")
    return CalendarSignal.from_series(series, "carbon_g_per_kwh", "g_per_kwh")


# ---- helpers --------------------------------------------------------------------------------
def _read_rows(p: str) -> list[tuple[int, list[str]]]:
    """Non-blank CSV rows with their 1-based line numbers."""
    try:
        data = Path(p).read_bytes()
    except OSError as exc:
        raise DataFileError(p, None, f"cannot read signal file ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataFileError(p, line, "is not UTF-8 text; save the file as UTF-8 CSV") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[tuple[int, list[str]]] = []
    try:
        for row in reader:
            if row and any(field.strip() for field in row):
                rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise DataFileError(p, reader.line_num, f"malformed CSV ({exc})") from None
    return rows


def _parse_stamp(p: str, line: int, column: str, raw: str) -> datetime:
    """ISO 8601 date-time in UTC; an offset-less stamp is taken as UTC."""
    try:
        stamp = datetime.fromisoformat(raw)
    except ValueError:
        raise DataFileError(
            p, line, f"{column} {quote(raw)} is not an ISO 8601 date-time like 2022-01-01T00:00:00+00:00"
        ) from None
    try:
        stamp = stamp.replace(tzinfo=timezone.utc) if stamp.tzinfo is None else stamp.astimezone(timezone.utc)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00
        stamp = datetime.min
    if not YEARS[0] <= stamp.year <= YEARS[1]:
        raise DataFileError(p, line, f"{column} {quote(raw)} is not allowed; allowed: a date-time in the "
                            f"years {YEARS[0]} .. {YEARS[1]} (UTC)")
    return stamp


def _parse_float(raw: str) -> float:
    """A plain ASCII decimal number (``-1.5``, ``2e3``), else nan (no ``_``, no non-ASCII digits)."""
    return float(raw) if _NUMBER.fullmatch(raw) else math.nan
