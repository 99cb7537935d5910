"""Signal loaders: a generic two-column ``time,value`` CSV and the EIA-930 carbon CSV.

Every loader raises :class:`sim.errors.DataFileError` with one line naming ``file:line``, the bad
value and what is allowed.
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
from sim.errors import DataFileError

__all__ = ["UNITS", "load_eia930", "load_eia930_signal", "load_time_value_csv", "parse_unit"]

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


def load_time_value_csv(path: str | Path) -> CalendarSignal | StepSignal:
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
    are accepted.
    """
    p = str(path)
    rows = _read_rows(p)
    if not rows:
        raise DataFileError(p, 1, "file is empty; expected a header like time,carbon_g_per_kwh or time_s,power_w")
    head_line, header = rows[0]
    if len(header) != 2:
        raise DataFileError(
            p, head_line, f"header {','.join(header)!r} has {len(header)} columns; needs exactly two: "
            "time (ISO 8601) or time_s (seconds), then <quantity>_<unit>"
        )
    time_col, value_col = header[0].strip(), header[1].strip()
    if time_col.lower() not in (*_CALENDAR_TIME, _OFFSET_TIME):
        raise DataFileError(
            p, head_line, f"first column {time_col!r} is not allowed; use time (ISO 8601 date-time) "
            "or time_s (seconds since the run's start)"
        )
    parsed = parse_unit(value_col)
    if parsed is None:
        raise DataFileError(
            p, head_line, f"column {value_col!r} has no known unit; name it <quantity>_<unit> or "
            f"'<quantity> [<unit>]' with unit one of {_ALLOWED_UNITS}"
        )
    quantity, unit, mul, div = parsed
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
            if not math.isfinite(t):
                raise DataFileError(p, line, f"time_s {raw_t!r} is not allowed; must be a finite number of seconds")
        if times and t <= times[-1]:
            raise DataFileError(
                p, line, f"{time_col} {raw_t!r} is not after the previous row's {prev_raw!r}; "
                "times must strictly increase",
            )
        times.append(t)
        prev_raw = raw_t
        v = _parse_float(raw_v)
        if not math.isfinite(v):
            raise DataFileError(p, line, f"{value_col} {raw_v!r} is not allowed; must be a finite number")
        values.append(v * mul / div)
    if len(values) < 2:
        raise DataFileError(p, None, f"has {len(values)} data rows; needs at least two to know the step length")
    step_s = statistics.median(b - a for a, b in zip(times, times[1:]))
    name = f"{quantity}_{unit}"
    if calendar:
        return CalendarSignal(stamps, values, stamps[-1] + timedelta(seconds=step_s), name, unit)
    return StepSignal(times, values, times[-1] + step_s, name, unit)


def load_eia930_signal(path: str | Path) -> CalendarSignal:
    """EIA-930 carbon CSV (dc-rl format, see :func:`load_eia930`) as a carbon signal (gCO2/kWh).

    Hours with an empty ``avg_CI`` take the previous hour's value; the last value holds one hour
    (the median spacing).
    """
    return CalendarSignal.from_series(load_eia930(path), "carbon_g_per_kwh", "g_per_kwh")


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
            p, line, f"{column} {raw!r} is not an ISO 8601 date-time like 2022-01-01T00:00:00+00:00"
        ) from None
    if stamp.tzinfo is None:
        return stamp.replace(tzinfo=timezone.utc)
    return stamp.astimezone(timezone.utc)


def _parse_float(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        return math.nan
