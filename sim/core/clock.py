"""Simulation clock: seconds since the scenario's start instant <-> local calendar.

Simulation time is a float number of seconds since ``start``, a timezone-aware datetime.
Every hour-of-day, weekday or tariff-period question goes through :class:`Clock`, so daylight
saving time is handled in one place (local hours come from ``zoneinfo``).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

HOUR_S = 3600.0
DAY_S = 86400.0


@dataclass(frozen=True)
class LocalHour:
    """One local clock hour that begins at simulation time ``t_s``."""

    t_s: float
    hour: int  # local hour of day, 0..23
    weekday: int  # Monday = 0 .. Sunday = 6
    month: int  # 1..12
    date_ordinal: int  # proleptic Gregorian ordinal of the local date


class Clock:
    """Maps simulation seconds to local calendar fields for a tz-aware start instant."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None or start.utcoffset() is None:
            raise ValueError("start must be timezone-aware")
        self.start = start
        self._start_utc = start.astimezone(timezone.utc)

    def to_datetime(self, t_s: float) -> datetime:
        """Local datetime at simulation time ``t_s`` (seconds)."""
        return (self._start_utc + timedelta(seconds=t_s)).astimezone(self.start.tzinfo)

    def weekday(self, t_s: float) -> int:
        """Local weekday at ``t_s`` (Monday = 0)."""
        return self.to_datetime(t_s).weekday()

    def local_hours(self, t0_s: float, t1_s: float) -> list[LocalHour]:
        """Every local clock hour overlapping ``[t0_s, t1_s)``, in order.

        The first entry starts at or before ``t0_s`` (its ``t_s`` may be negative). Hours are
        whole UTC hours shifted by the zone's offset, so a DST change yields a 23- or 25-hour day
        with the repeated or skipped local hour exactly as the zone defines it.
        """
        start_utc = self._start_utc + timedelta(seconds=t0_s)
        floor = start_utc.replace(minute=0, second=0, microsecond=0)
        # Zones with a non-whole-hour offset (e.g. +05:30) start local hours off the UTC hour.
        offset = self.to_datetime(t0_s).utcoffset() or timedelta(0)
        shift = timedelta(seconds=offset.total_seconds() % HOUR_S)
        if floor + shift > start_utc:
            floor -= timedelta(hours=1)
        floor += shift
        hours: list[LocalHour] = []
        cur = floor
        end_utc = self._start_utc + timedelta(seconds=t1_s)
        while cur < end_utc:
            local = cur.astimezone(self.start.tzinfo)
            t = (cur - self._start_utc).total_seconds()
            hours.append(LocalHour(t, local.hour, local.weekday(), local.month, local.toordinal()))
            cur += timedelta(hours=1)
        return hours

    def local_midnights(self, t0_s: float, t1_s: float) -> list[float]:
        """Simulation times of every local midnight in ``(t0_s - 1 day, t1_s]``, in order.

        The first value is the midnight that begins the local day containing ``t0_s``.
        """
        tz = self.start.tzinfo
        day = self.to_datetime(t0_s).date()
        out: list[float] = []
        while True:
            midnight = datetime(day.year, day.month, day.day, tzinfo=tz)
            t = (midnight.astimezone(timezone.utc) - self._start_utc).total_seconds()
            if t > t1_s:
                return out
            out.append(t)
            day += timedelta(days=1)
