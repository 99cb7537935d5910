"""Typical-year hourly weather from EnergyPlus EPW files, and its mapping onto a run's calendar.

An EPW file has 8 header lines (the first is ``LOCATION``) and then 8,760 hourly rows of a
365-day typical year in local standard time (no daylight saving). EPW hour ``h`` (1..24) is the
hour *ending* at ``h``:00, so row ``month/day/h`` covers ``[h-1, h)`` o'clock standard time. Each
month of a typical (TMY) year may come from a different real year; the year column is ignored.

The path is checked with :func:`sim.core.inputs.check_data_file` before it is opened; errors are one
line naming ``file:line``, the bad value (at most 80 characters of it) and what is allowed.
"""
from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from grid.signals import StepSignal
from sim.core.clock import Clock
from sim.core.errors import DataFileError
from sim.core.inputs import check_data_file, quote

if TYPE_CHECKING:
    import pandas as pd

HEADER_LINES = 8
HOURS_PER_YEAR = 8760
# The non-leap calendar year stamped on the typical year's rows (any non-leap year would do).
NOMINAL_YEAR = 2001

# (column, 1-based EPW field, allowed min, allowed max, unit) after the EnergyPlus weather file
# format (Auxiliary Programs, "EnergyPlus Weather File Data Dictionary"): 99.9, 9999 and 999 mark
# missing values, so they fall outside the allowed ranges.
_FIELDS: tuple[tuple[str, int, float, float, str], ...] = (
    ("temp_air_c", 7, -70.0, 70.0, "°C"),
    ("ghi_w_per_m2", 14, 0.0, 1500.0, "W/m²"),
    ("dni_w_per_m2", 15, 0.0, 1500.0, "W/m²"),
    ("dhi_w_per_m2", 16, 0.0, 1500.0, "W/m²"),
    ("wind_speed_m_per_s", 22, 0.0, 40.0, "m/s"),
)
_MIN_FIELDS = max(f[1] for f in _FIELDS)


@dataclass(frozen=True)
class EpwWeather:
    """One EPW typical year: site metadata and hourly data.

    ``data`` has 8,760 rows and columns ``temp_air_c``, ``ghi_w_per_m2``, ``dni_w_per_m2``,
    ``dhi_w_per_m2`` and ``wind_speed_m_per_s``. Its index holds tz-aware timestamps at the fixed
    offset ``utc_offset_h`` (local standard time) marking the START of each hour, in the nominal
    year :data:`NOMINAL_YEAR`: EPW ``1/1`` hour 1 is ``2001-01-01 00:00``, ``12/31`` hour 24 is
    ``2001-12-31 23:00``. Irradiances are means over the hour.
    """

    path: str
    city: str
    latitude_deg: float  # north positive
    longitude_deg: float  # east positive
    utc_offset_h: float  # local standard time minus UTC, hours
    elevation_m: float
    data: pd.DataFrame

    @property
    def tz(self) -> timezone:
        """The file's fixed local-standard-time zone."""
        return timezone(timedelta(hours=self.utc_offset_h))


def _number(p: str, line: int, raw: str, what: str, lo: float, hi: float, unit: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not lo <= value <= hi:  # also rejects nan
        raise DataFileError(p, line, f"{what} is {quote(raw.strip())}; allowed: a number in {lo:g}..{hi:g} {unit}")
    return value


def _location(p: str, line: str) -> tuple[str, float, float, float, float]:
    fields = next(csv.reader([line]), [])
    if not fields or fields[0].strip().upper() != "LOCATION":
        head = fields[0].strip() if fields else ""
        raise DataFileError(p, 1, f"first line starts with {quote(head)}; an EPW file starts with a LOCATION line")
    if len(fields) < 10:
        raise DataFileError(
            p, 1, f"LOCATION line has {len(fields)} fields; needs 10 (LOCATION,city,state,country,source,"
            "WMO,latitude,longitude,time zone,elevation)")
    lat = _number(p, 1, fields[6], "latitude (field 7)", -90, 90, "degrees")
    lon = _number(p, 1, fields[7], "longitude (field 8)", -180, 180, "degrees")
    tz = _number(p, 1, fields[8], "time zone (field 9)", -12, 14, "hours from UTC")
    elev = _number(p, 1, fields[9], "elevation (field 10)", -1000, 9999, "m")
    return fields[1].strip(), lat, lon, tz, elev


def read_epw(path: str | Path, *, key: str = "fleet.robotaxi.depot.weather_epw") -> EpwWeather:
    """Read an EPW typical-year weather file (8,760 hourly rows; see :class:`EpwWeather`).

    Rows must run 1/1 hour 1 .. 12/31 hour 24 in order (365 days, no Feb 29). Raises
    :class:`DataFileError` naming ``file:line``, the bad value and what is allowed;
    ``key`` names the scenario key if the path is not a readable data file.
    """
    import pandas as pd

    p = str(path)
    check_data_file(path, key)
    try:
        with open(path, encoding="utf-8", errors="replace", newline="") as fh:
            lines = fh.read().splitlines()
    except OSError as exc:
        raise DataFileError(p, None, f"cannot read EPW weather file ({exc.strerror or exc})") from None
    if not lines:
        raise DataFileError(p, 1, "file is empty; expected an EPW weather file (LOCATION line first)")
    city, lat, lon, tz, elev = _location(p, lines[0])
    if len(lines) <= HEADER_LINES:
        raise DataFileError(p, len(lines), f"file has {len(lines)} lines; an EPW file has {HEADER_LINES} "
                            "header lines, then hourly rows")
    columns: list[list[float]] = [[] for _ in _FIELDS]
    jan1 = date(NOMINAL_YEAR, 1, 1)
    n = 0
    for line_no, text in enumerate(lines[HEADER_LINES:], start=HEADER_LINES + 1):
        if not text.strip():
            continue
        if n == HOURS_PER_YEAR:
            raise DataFileError(p, line_no, f"extra row after {HOURS_PER_YEAR:,} hourly rows; "
                                f"an EPW typical year has exactly {HOURS_PER_YEAR:,}")
        fields = text.split(",")
        if len(fields) < _MIN_FIELDS:
            raise DataFileError(p, line_no, f"row has {len(fields)} fields; needs at least {_MIN_FIELDS} "
                                "(an EPW data row has 35)")
        want = jan1 + timedelta(days=n // 24)
        got = tuple(fields[1:4])
        try:
            ok = (int(got[0]), int(got[1]), int(got[2])) == (want.month, want.day, n % 24 + 1)
        except ValueError:
            ok = False
        if not ok:
            raise DataFileError(
                p, line_no, f"month/day/hour is {quote('/'.join(s.strip() for s in got))}; expected "
                f"'{want.month}/{want.day}/{n % 24 + 1}' (365 days from 1/1, no 2/29, hours 1..24 in order)")
        for col, (name, field, lo, hi, unit) in zip(columns, _FIELDS):
            col.append(_number(p, line_no, fields[field - 1], f"{name} (field {field})", lo, hi, unit))
        n += 1
    if n < HOURS_PER_YEAR:
        raise DataFileError(p, len(lines), f"file ends after {n:,} hourly rows; an EPW typical year has "
                            f"{HOURS_PER_YEAR:,} (lines {HEADER_LINES + 1}..{HEADER_LINES + HOURS_PER_YEAR})")
    index = pd.date_range(
        datetime(NOMINAL_YEAR, 1, 1, tzinfo=timezone(timedelta(hours=tz))), periods=HOURS_PER_YEAR, freq="h",
        name="hour_start")
    data = pd.DataFrame({name: col for (name, *_), col in zip(_FIELDS, columns)}, index=index)
    return EpwWeather(p, city, lat, lon, tz, elev, data)


def typical_year_signal(
    clock: Clock,
    t0_s: float,
    t1_s: float,
    weather: EpwWeather,
    hourly: Sequence[float] | np.ndarray | pd.Series,
    name: str,
    unit: str,
) -> StepSignal:
    """Map 8,760 hourly values of ``weather``'s typical year onto the run's calendar.

    For each hour of local standard time (the file's fixed offset, so daylight saving never
    shifts the sun) overlapping ``[t0_s, t1_s]``, take the value whose month, day and hour match;
    Feb 29 uses Feb 28. One piece per hour, the first starting at ``t0_s``; any year works.
    """
    vals = np.asarray(hourly, dtype=float)
    if vals.shape != (HOURS_PER_YEAR,):
        raise ValueError(f"signal {name}: needs {HOURS_PER_YEAR} hourly values (one typical year); got {vals.size}")
    if not t1_s > t0_s:
        raise ValueError(f"signal {name}: needs t0_s < t1_s; got {t0_s} s .. {t1_s} s")
    cur = clock.to_datetime(t0_s).astimezone(weather.tz).replace(minute=0, second=0, microsecond=0)
    end = clock.to_datetime(t1_s)
    start_utc = clock.start.astimezone(timezone.utc)
    jan1 = date(NOMINAL_YEAR, 1, 1).toordinal()
    times: list[float] = []
    values: list[float] = []
    while cur < end:
        day = 28 if (cur.month, cur.day) == (2, 29) else cur.day
        row = (date(NOMINAL_YEAR, cur.month, day).toordinal() - jan1) * 24 + cur.hour
        times.append((cur.astimezone(timezone.utc) - start_utc).total_seconds())
        values.append(float(vals[row]))
        cur += timedelta(hours=1)
    times[0] = float(t0_s)  # the first hour may start before the run
    return StepSignal(times, values, t1_s, name, unit)
