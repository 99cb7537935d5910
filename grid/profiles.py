"""Built-in hourly profiles (24 values by local hour) and the EIA-930 carbon CSV loader.

Carbon intensities are average (not marginal) grams of CO2 per kWh of generation.
"""
from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from grid.signals import StepSignal
from sim.core.clock import Clock
from sim.core.errors import DataFileError
from sim.core.inputs import quote

#: highest carbon intensity accepted, gCO2/kWh (the most carbon-intensive grids are about 1,000-1,200)
MAX_CARBON_G_PER_KWH = 10_000.0
#: years an EIA-930 timestamp may have
EIA_YEARS = (1900, 2200)
#: a plain ASCII decimal number: no '_', no non-ASCII digits, no 'nan' or 'inf'
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")

if TYPE_CHECKING:
    import pandas as pd

# CAISO 2022 average carbon intensity by Pacific local hour 0..23 (gCO2/kWh), rounded to 1 g.
# Source: HewlettPackard/dc-rl@a92b475 data/CarbonIntensity/CISO_NG_&_avgCI.csv (MIT; derived
# from US EIA-930), column avg_CI, mean by America/Los_Angeles hour. Annual mean 256 g/kWh.
CAISO_2022_CARBON_G_PER_KWH: tuple[float, ...] = (
    308, 305, 303, 301, 301, 301, 301, 283, 231, 193, 181, 178,
    177, 177, 178, 184, 208, 241, 266, 294, 306, 309, 310, 311,
)

# ERCOT 2022 average carbon intensity by Central local hour 0..23 (gCO2/kWh), rounded to 1 g.
# Source: HewlettPackard/dc-rl@a92b475 data/CarbonIntensity/ERCO_NG_&_avgCI.csv (MIT; derived
# from US EIA-930), column avg_CI, mean by America/Chicago hour. Annual mean 347 g/kWh.
ERCOT_2022_CARBON_G_PER_KWH: tuple[float, ...] = (
    342, 330, 324, 322, 324, 329, 338, 351, 356, 344, 333, 333,
    337, 342, 345, 347, 347, 353, 366, 377, 383, 383, 372, 356,
)


@dataclass(frozen=True)
class HourlyProfile:
    """A 24-value profile indexed by local hour of day in ``timezone`` (an IANA zone name)."""

    name: str
    values: tuple[float, ...]
    unit: str
    timezone: str
    source: str

    def __post_init__(self) -> None:
        if len(self.values) != 24 or not all(math.isfinite(v) for v in self.values):
            raise ValueError(f"profile {self.name}: needs 24 finite values (local hours 0..23)")
        ZoneInfo(self.timezone)  # raises for an unknown zone

    def signal(self, clock: Clock, t0_s: float, t1_s: float) -> StepSignal:
        """Step signal over ``[t0_s, t1_s]`` using the hours of the profile's own time zone.

        The profile's zone may differ from the clock's (e.g. a CAISO profile in a UTC run);
        simulation time 0 stays ``clock.start``.
        """
        own = Clock(clock.start.astimezone(ZoneInfo(self.timezone)))
        return StepSignal.from_local_hourly(own, self.values, t0_s, t1_s, self.name, self.unit)


_DCRL = ("HewlettPackard/dc-rl@a92b475 data/CarbonIntensity/{}_NG_&_avgCI.csv (MIT; US EIA-930 2022), "
         "mean avg_CI by local hour")

CARBON_PROFILES: dict[str, HourlyProfile] = {
    "caiso_2022": HourlyProfile(
        "caiso_2022", CAISO_2022_CARBON_G_PER_KWH, "g_per_kwh", "America/Los_Angeles", _DCRL.format("CISO")
    ),
    "ercot_2022": HourlyProfile(
        "ercot_2022", ERCOT_2022_CARBON_G_PER_KWH, "g_per_kwh", "America/Chicago", _DCRL.format("ERCO")
    ),
}


def load_eia930(path: str | Path) -> pd.Series:
    """Read an EIA-930 carbon CSV (dc-rl format) into a Series of gCO2/kWh by UTC timestamp.

    Needs columns ``timestamp`` (ISO 8601; an offset-less stamp is taken as UTC) and ``avg_CI``
    (gCO2/kWh, a number >= 0); other columns are ignored. Rows with an empty ``avg_CI`` (hours
    the source lacks; CISO 2022 has three) are left out. Timestamps must strictly increase.
    Raises :class:`DataFileError` naming ``file:line``, the bad value and what is allowed.
    """
    import pandas as pd

    p = str(path)
    try:
        fh = open(path, newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise DataFileError(p, None, f"cannot read EIA-930 carbon file ({exc.strerror or exc})") from None
    stamps: list[datetime] = []
    values: list[float] = []
    with fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise DataFileError(p, 1, "file is empty; expected a header with columns timestamp,avg_CI")
        cols = [c.strip() for c in header]
        missing = [c for c in ("timestamp", "avg_CI") if c not in cols]
        if missing:
            raise DataFileError(
                p, 1, f"missing column {', '.join(missing)}; header is {quote(','.join(cols))}, needs timestamp "
                "and avg_CI")
        i_ts, i_ci = cols.index("timestamp"), cols.index("avg_CI")
        need = max(i_ts, i_ci) + 1
        prev: datetime | None = None
        for row in reader:
            line = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank line
            if len(row) < need:
                raise DataFileError(p, line, f"row has {len(row)} fields; needs at least {need} (timestamp and avg_CI)")
            raw_ts, raw_ci = row[i_ts].strip(), row[i_ci].strip()
            try:
                ts = datetime.fromisoformat(raw_ts) if raw_ts.isascii() else None
            except ValueError:
                ts = None
            if ts is None or not EIA_YEARS[0] <= ts.year <= EIA_YEARS[1]:
                raise DataFileError(
                    p, line, f"timestamp {quote(raw_ts)} is not allowed; expected an ISO 8601 date-time like "
                    f"2022-01-01 00:00:00+00:00 in the years {EIA_YEARS[0]}-{EIA_YEARS[1]}")
            if ts.tzinfo is None:
                ts = ts.replace(tzinfo=ZoneInfo("UTC"))
            if prev is not None and ts <= prev:
                raise DataFileError(
                    p, line, f"timestamp {quote(raw_ts)} is not after the previous row's; timestamps must strictly "
                    "increase")
            prev = ts
            if raw_ci == "":
                continue  # hour missing in the source data
            ci = float(raw_ci) if _DECIMAL.fullmatch(raw_ci) else math.nan
            if not 0.0 <= ci <= MAX_CARBON_G_PER_KWH:  # also refuses nan
                raise DataFileError(
                    p, line, f"avg_CI {quote(raw_ci)} is not allowed; must be a plain number >= 0 and <= "
                    f"{MAX_CARBON_G_PER_KWH:,g} (gCO2/kWh) or empty")
            stamps.append(ts)
            values.append(ci)
    if not values:
        raise DataFileError(p, None, "no rows with an avg_CI value")
    index = pd.DatetimeIndex(pd.to_datetime(stamps, utc=True), name="timestamp")
    return pd.Series(values, index=index, name="carbon_g_per_kwh", dtype=float)


def hourly_profile_from_eia930(series: pd.Series, tz: str) -> list[float]:
    """Mean of ``series`` (indexed by tz-aware timestamps) by local hour of day in ``tz``: 24 values."""
    if getattr(series.index, "tz", None) is None:
        raise ValueError("series index must be tz-aware timestamps")
    local_hour = series.index.tz_convert(ZoneInfo(tz)).hour
    means = series.groupby(local_hour).mean()
    absent = sorted(set(range(24)) - {int(h) for h in means.index})
    if absent:
        raise ValueError(f"series has no data for local hours {absent} in {tz}")
    return [float(means.loc[h]) for h in range(24)]
