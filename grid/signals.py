"""Piecewise-constant time series with exact integrals: offset-indexed and calendar-anchored.

A :class:`StepSignal` holds ``values[i]`` on ``[times_s[i], times_s[i+1])`` and its last value
until ``end_s``. Integrals come from cumulative sums precomputed at the breakpoints, so they are
exact (no sampling). Scalar queries use plain Python lists and :mod:`bisect` because they sit on
the simulator's hot path; the ``*_at``/``*_over`` methods are vectorised for reports.

A :class:`CalendarSignal` holds the same kind of series anchored to tz-aware instants (stored as
UTC), for data that lives on the calendar (carbon, prices); ``to_step`` gives a run's offset form.
"""
from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from sim.core.clock import Clock


class StepSignal:
    """Piecewise-constant signal of ``unit`` over simulation time in seconds.

    Integrals are in ``unit``·s (e.g. a $/kWh price integrates to $·s/kWh).
    """

    __slots__ = ("name", "unit", "end_s", "_times", "_values", "_cum", "_times_a", "_values_a", "_cum_a", "filled_s")

    def __init__(
        self,
        times_s: Sequence[float],
        values: Sequence[float],
        end_s: float,
        name: str,
        unit: str,
    ) -> None:
        times = [float(t) for t in times_s]
        vals = [float(v) for v in values]
        end = float(end_s)
        #: seconds of the signal's span held by a value carried over missing data rows (see ``_cut``)
        self.filled_s = 0.0
        if not times:
            raise ValueError(f"signal {name}: needs at least one breakpoint")
        if len(times) != len(vals):
            raise ValueError(
                f"signal {name}: {len(times)} breakpoints but {len(vals)} values; lengths must be equal"
            )
        for i, t in enumerate(times):
            if not math.isfinite(t):
                raise ValueError(f"signal {name}: breakpoint {i} is {t}; must be finite seconds")
            if i and t <= times[i - 1]:
                raise ValueError(
                    f"signal {name}: breakpoint {i} ({t} s) is not after breakpoint {i - 1} "
                    f"({times[i - 1]} s); times must strictly increase"
                )
        for i, v in enumerate(vals):
            if not math.isfinite(v):
                raise ValueError(f"signal {name}: value {i} is {v}; values must be finite")
        if not math.isfinite(end) or end <= times[-1]:
            raise ValueError(
                f"signal {name}: end_s {end} s must be finite and after the last breakpoint {times[-1]} s"
            )
        cum = [0.0] * len(times)
        acc = 0.0
        for i in range(1, len(times)):
            acc += vals[i - 1] * (times[i] - times[i - 1])
            cum[i] = acc
        self.name = name
        self.unit = unit
        self.end_s = end
        self._times = times
        self._values = vals
        self._cum = cum
        self._times_a = np.asarray(times, dtype=float)
        self._values_a = np.asarray(vals, dtype=float)
        self._cum_a = np.asarray(cum, dtype=float)

    # ---- read-only views -------------------------------------------------------------------
    @property
    def start_s(self) -> float:
        """First breakpoint (s): the signal is defined on ``[start_s, end_s]``."""
        return self._times[0]

    @property
    def times_s(self) -> tuple[float, ...]:
        """Breakpoints (s)."""
        return tuple(self._times)

    @property
    def values(self) -> tuple[float, ...]:
        """Value of each piece (``unit``)."""
        return tuple(self._values)

    def __len__(self) -> int:
        return len(self._times)

    def __repr__(self) -> str:
        return (
            f"StepSignal({self.name!r}, unit={self.unit!r}, pieces={len(self._times)}, "
            f"span={self._times[0]} s..{self.end_s} s)"
        )

    # ---- scalar queries (hot path) ---------------------------------------------------------
    def _out_of_range(self, t_s: float) -> ValueError:
        return ValueError(
            f"signal {self.name} covers {self._times[0]} s .. {self.end_s} s; asked for {t_s} s"
        )

    def value(self, t_s: float) -> float:
        """Value (``unit``) at ``t_s`` seconds; at ``end_s`` the last piece's value."""
        times = self._times
        if not (times[0] <= t_s <= self.end_s):
            raise self._out_of_range(t_s)
        return self._values[bisect_right(times, t_s) - 1]

    def cumulative(self, t_s: float) -> float:
        """Exact integral (``unit``·s) from ``start_s`` to ``t_s`` seconds."""
        times = self._times
        if not (times[0] <= t_s <= self.end_s):
            raise self._out_of_range(t_s)
        i = bisect_right(times, t_s) - 1
        return self._cum[i] + self._values[i] * (t_s - times[i])

    def integral(self, t0_s: float, t1_s: float) -> float:
        """Exact integral (``unit``·s) over ``[t0_s, t1_s]``; requires ``t0_s <= t1_s``."""
        if t1_s < t0_s:
            raise ValueError(f"signal {self.name}: integral from {t0_s} s to earlier {t1_s} s")
        times = self._times
        if not (times[0] <= t0_s and t1_s <= self.end_s):
            raise self._out_of_range(t0_s if t0_s < times[0] else t1_s)
        vals = self._values
        i = bisect_right(times, t0_s) - 1
        j = bisect_right(times, t1_s) - 1
        if i == j:  # same piece: avoid cancellation between large cumulative sums
            return vals[i] * (t1_s - t0_s)
        return (
            vals[i] * (times[i + 1] - t0_s)
            + (self._cum[j] - self._cum[i + 1])
            + vals[j] * (t1_s - times[j])
        )

    def mean(self, t0_s: float, t1_s: float) -> float:
        """Time-weighted mean (``unit``) over ``[t0_s, t1_s]``; requires ``t0_s < t1_s``."""
        if not t1_s > t0_s:
            raise ValueError(f"signal {self.name}: mean needs t0_s < t1_s; got {t0_s} s .. {t1_s} s")
        return self.integral(t0_s, t1_s) / (t1_s - t0_s)

    def covering(self, t0_s: float, t1_s: float) -> StepSignal:
        """This signal, after checking that it covers ``[t0_s, t1_s]`` seconds of a run.

        Raises ``ValueError`` naming both spans otherwise (e.g. a ``time_s`` CSV shorter than the
        run), before any query can fail half-way through the run.
        """
        if not (self._times[0] <= t0_s and t1_s <= self.end_s):
            raise ValueError(
                f"signal {self.name}: data covers {self._times[0]:g} s .. {self.end_s:g} s of the run; "
                f"the run needs {t0_s:g} s .. {t1_s:g} s"
            )
        return self

    # ---- vectorised queries (reports) ------------------------------------------------------
    def _check_array(self, ts: np.ndarray) -> None:
        if ts.size == 0:
            return
        bad = (ts < self._times[0]) | (ts > self.end_s) | ~np.isfinite(ts)
        if bad.any():
            raise self._out_of_range(float(ts[np.argmax(bad)]))

    def values_at(self, ts: np.ndarray) -> np.ndarray:
        """Values (``unit``) at each time in ``ts`` (s)."""
        ts = np.asarray(ts, dtype=float)
        self._check_array(ts)
        idx = np.searchsorted(self._times_a, ts, side="right") - 1
        return self._values_a[idx]

    def cumulative_at(self, ts: np.ndarray) -> np.ndarray:
        """Exact integrals (``unit``·s) from ``start_s`` to each time in ``ts`` (s)."""
        ts = np.asarray(ts, dtype=float)
        self._check_array(ts)
        idx = np.searchsorted(self._times_a, ts, side="right") - 1
        return self._cum_a[idx] + self._values_a[idx] * (ts - self._times_a[idx])

    def means_over(self, edges_s: np.ndarray) -> np.ndarray:
        """Mean (``unit``) over each interval ``[edges_s[k], edges_s[k+1]]``; edges strictly increase."""
        edges = np.asarray(edges_s, dtype=float)
        if edges.ndim != 1 or edges.size < 2:
            raise ValueError(f"signal {self.name}: means_over needs at least two edges")
        widths = np.diff(edges)
        if not (widths > 0).all():
            raise ValueError(f"signal {self.name}: means_over edges must strictly increase")
        return np.diff(self.cumulative_at(edges)) / widths

    # ---- constructors ----------------------------------------------------------------------
    @classmethod
    def from_local_hourly(
        cls,
        clock: Clock,
        profile: Sequence[float],
        t0_s: float,
        t1_s: float,
        name: str,
        unit: str,
    ) -> StepSignal:
        """Signal over ``[t0_s, t1_s]`` taking ``profile[h]`` during each local clock hour ``h``.

        ``profile`` has 24 values indexed by the clock's local hour of day (0..23). One piece per
        local clock hour, so a daylight-saving day has 23 or 25 pieces; the first piece starts
        at ``t0_s``.
        """
        prof = [float(v) for v in profile]
        if len(prof) != 24:
            raise ValueError(f"signal {name}: hourly profile has {len(prof)} values; needs 24 (local hours 0..23)")
        if not t1_s > t0_s:
            raise ValueError(f"signal {name}: needs t0_s < t1_s; got {t0_s} s .. {t1_s} s")
        hours = clock.local_hours(t0_s, t1_s)
        times = [max(h.t_s, t0_s) for h in hours]
        return cls(times, [prof[h.hour] for h in hours], t1_s, name, unit)

    @classmethod
    def from_utc_series(
        cls,
        clock: Clock,
        utc_times: pd.DatetimeIndex,
        values: Sequence[float],
        t0_s: float,
        t1_s: float,
        name: str,
        unit: str,
    ) -> StepSignal:
        """Calendar-anchored signal over ``[t0_s, t1_s]`` from timestamped data.

        Each value holds from its timestamp until the next one (a missing row extends the
        previous value); the last value holds for one median sampling step. Simulation time 0 is
        ``clock.start``, so the data's instants map to the same instants of the run. Raises
        ``ValueError`` if the data does not cover ``[t0_s, t1_s]``.
        """
        import pandas as pd  # local: keeps `grid.signals` import light for the hot path

        idx = pd.DatetimeIndex(utc_times)
        if idx.tz is None:
            raise ValueError(f"signal {name}: timestamps must be timezone-aware (UTC)")
        vals = np.asarray(values, dtype=float)
        if len(idx) != len(vals):
            raise ValueError(f"signal {name}: {len(idx)} timestamps but {len(vals)} values; lengths must be equal")
        if len(idx) < 2:
            raise ValueError(f"signal {name}: needs at least two timestamps to know the sampling step")
        if not t1_s > t0_s:
            raise ValueError(f"signal {name}: needs t0_s < t1_s; got {t0_s} s .. {t1_s} s")
        secs = np.asarray((idx - pd.Timestamp(clock.start)).total_seconds(), dtype=float)
        steps = np.diff(secs)
        if not (steps > 0).all():
            k = int(np.argmax(steps <= 0)) + 1
            raise ValueError(f"signal {name}: timestamp {idx[k]} does not follow {idx[k - 1]}; must strictly increase")
        step_s = float(np.median(steps))
        end = idx[-1] + pd.Timedelta(seconds=step_s)
        return cls._cut(clock, idx, secs, vals, end, float(secs[-1] + step_s), t0_s, t1_s, name, unit)

    @classmethod
    def _cut(
        cls,
        clock: Clock,
        idx: pd.DatetimeIndex,
        secs: np.ndarray,
        vals: np.ndarray,
        end: pd.Timestamp,
        end_data_s: float,
        t0_s: float,
        t1_s: float,
        name: str,
        unit: str,
    ) -> StepSignal:
        """The pieces of validated calendar data that cover ``[t0_s, t1_s]`` of the run.

        ``secs`` are the run seconds of the timestamps ``idx`` (strictly increasing); the data
        ends at ``end`` (run second ``end_data_s``). Raises ``ValueError`` if it does not cover.
        """
        if secs[0] > t0_s or end_data_s < t1_s:
            raise ValueError(
                f"signal {name}: data covers {idx[0]} .. {end} only; the run needs "
                f"{clock.to_datetime(t0_s)} .. {clock.to_datetime(t1_s)}"
            )
        lo = int(np.searchsorted(secs, t0_s, side="right")) - 1
        hi = int(np.searchsorted(secs, t1_s, side="left"))  # pieces lo..hi-1 start before t1_s
        times = secs[lo:hi].tolist()
        times[0] = float(t0_s)
        signal = cls(times, vals[lo:hi].tolist(), t1_s, name, unit)
        signal.filled_s = filled_seconds(secs, end_data_s, t0_s, t1_s)
        return signal


def filled_seconds(secs: np.ndarray, end_s: float, t0_s: float, t1_s: float) -> float:
    """Seconds of ``[t0_s, t1_s]`` where a value holds past its data's step: the fill rule.

    Data rows at ``secs`` (strictly increasing, the data ending at ``end_s``) each hold until the
    next row. The step is the median spacing of the rows (an hour for EIA-930); a row followed by
    missing ones holds its value on, and the time beyond its own step is filled time (22 missing
    hours of an hourly file are 22 x 3,600 s).
    """
    if len(secs) < 2:
        return 0.0
    step = float(np.median(np.diff(secs)))
    nxt = np.append(secs[1:], end_s)
    start = np.maximum(secs + step, t0_s)
    stop = np.minimum(nxt, t1_s)
    over = (nxt - secs > step * (1.0 + 1e-9)) & (stop > start)
    return float((stop[over] - start[over]).sum())


def _utc(when: datetime, name: str) -> datetime:
    """``when`` converted to UTC; raises ``ValueError`` for a naive datetime."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"signal {name}: instant {when} must be timezone-aware")
    return when.astimezone(timezone.utc)


class CalendarSignal:
    """Piecewise-constant signal of ``unit`` anchored to calendar instants.

    ``values[i]`` holds on ``[times[i], times[i+1])`` and the last value until ``end``. Instants
    are stored in UTC, so queries in any zone (across daylight-saving changes too) are exact.
    Integrals are in ``unit``·s, computed from cumulative sums like :class:`StepSignal`.
    Use :meth:`to_step` to get the offset form (simulation seconds) for a run.
    """

    __slots__ = ("name", "unit", "_times", "_end", "_epoch", "_steps")

    def __init__(
        self,
        times: Sequence[datetime] | pd.DatetimeIndex,
        values: Sequence[float],
        end: datetime,
        name: str,
        unit: str,
    ) -> None:
        import pandas as pd

        if isinstance(times, pd.DatetimeIndex):
            if times.tz is None:
                raise ValueError(f"signal {name}: timestamps must be timezone-aware")
            idx = times.tz_convert("UTC")
        else:
            idx = pd.DatetimeIndex([_utc(t, name) for t in times])
        if len(idx) == 0:
            raise ValueError(f"signal {name}: needs at least one timestamp")
        gaps = idx[1:] - idx[:-1]
        if len(gaps) and not (gaps > pd.Timedelta(0)).all():
            k = int(np.argmax(gaps <= pd.Timedelta(0))) + 1
            raise ValueError(f"signal {name}: timestamp {idx[k]} does not follow {idx[k - 1]}; must strictly increase")
        end_ts = pd.Timestamp(_utc(end, name))
        if end_ts <= idx[-1]:
            raise ValueError(f"signal {name}: end {end_ts} must be after the last timestamp {idx[-1]}")
        secs = np.asarray((idx - idx[0]).total_seconds(), dtype=float)
        # StepSignal checks lengths, finiteness and strictly increasing times.
        self._steps = StepSignal(secs, values, (end_ts - idx[0]).total_seconds(), name, unit)
        self.name = name
        self.unit = unit
        self._times = idx
        self._end = end_ts
        self._epoch: datetime = idx[0].to_pydatetime()

    @classmethod
    def from_series(
        cls, series: pd.Series, name: str, unit: str, step: timedelta | None = None
    ) -> CalendarSignal:
        """Signal from a Series indexed by tz-aware timestamps.

        The last value holds for ``step``, or by default for the median spacing of the index.
        """
        import pandas as pd

        idx = series.index
        if not isinstance(idx, pd.DatetimeIndex) or idx.tz is None:
            raise ValueError(f"signal {name}: series index must be timezone-aware timestamps")
        if len(idx) == 0:
            raise ValueError(f"signal {name}: needs at least one timestamp")
        if step is None:
            if len(idx) < 2:
                raise ValueError(f"signal {name}: needs at least two timestamps (or a step) to know the last step")
            gaps_s = np.diff(np.asarray((idx - idx[0]).total_seconds(), dtype=float))
            step = timedelta(seconds=float(np.median(gaps_s)))
        return cls(idx, series.to_numpy(dtype=float), idx[-1] + pd.Timedelta(step), name, unit)

    # ---- read-only views -------------------------------------------------------------------
    @property
    def start(self) -> pd.Timestamp:
        """First timestamp (UTC): the signal is defined on ``[start, end]``."""
        return self._times[0]

    @property
    def end(self) -> pd.Timestamp:
        """End instant (UTC) of the last piece."""
        return self._end

    @property
    def times(self) -> pd.DatetimeIndex:
        """Start of each piece (UTC)."""
        return self._times

    @property
    def values(self) -> tuple[float, ...]:
        """Value of each piece (``unit``)."""
        return self._steps.values

    def __len__(self) -> int:
        return len(self._times)

    def __repr__(self) -> str:
        return (
            f"CalendarSignal({self.name!r}, unit={self.unit!r}, pieces={len(self)}, "
            f"span={self.start.isoformat()}..{self._end.isoformat()})"
        )

    def to_series(self) -> pd.Series:
        """Values (``unit``) indexed by the UTC start of each piece."""
        import pandas as pd

        return pd.Series(self.values, index=self._times, name=self.name, dtype=float)

    # ---- queries -----------------------------------------------------------------------------
    def _offset_s(self, when: datetime) -> float:
        """Seconds from ``start`` to ``when``; raises ``ValueError`` outside ``[start, end]``."""
        t_s = (_utc(when, self.name) - self._epoch).total_seconds()
        if not (0.0 <= t_s <= self._steps.end_s):
            raise ValueError(
                f"signal {self.name} covers {self.start.isoformat()} .. {self._end.isoformat()}; "
                f"asked for {when.isoformat()}"
            )
        return t_s

    def value(self, when: datetime) -> float:
        """Value (``unit``) at the tz-aware instant ``when``; at ``end`` the last piece's value."""
        return self._steps.value(self._offset_s(when))

    def integral(self, start: datetime, end: datetime) -> float:
        """Exact integral (``unit``·s) over ``[start, end]`` (tz-aware); requires ``start <= end``."""
        a_s, b_s = self._offset_s(start), self._offset_s(end)
        if b_s < a_s:
            raise ValueError(f"signal {self.name}: integral from {start.isoformat()} to earlier {end.isoformat()}")
        return self._steps.integral(a_s, b_s)

    def mean(self, start: datetime, end: datetime) -> float:
        """Time-weighted mean (``unit``) over ``[start, end]`` (tz-aware); requires ``start < end``."""
        a_s, b_s = self._offset_s(start), self._offset_s(end)
        if not b_s > a_s:
            raise ValueError(
                f"signal {self.name}: mean needs start < end; got {start.isoformat()} .. {end.isoformat()}"
            )
        return self._steps.integral(a_s, b_s) / (b_s - a_s)

    def to_step(self, clock: Clock, t0_s: float, t1_s: float) -> StepSignal:
        """Offset form over ``[t0_s, t1_s]`` seconds of a run whose time 0 is ``clock.start``.

        Raises ``ValueError`` naming both spans if the data does not cover the run.
        """
        import pandas as pd

        if not t1_s > t0_s:
            raise ValueError(f"signal {self.name}: needs t0_s < t1_s; got {t0_s} s .. {t1_s} s")
        origin = pd.Timestamp(clock.start)
        secs = np.asarray((self._times - origin).total_seconds(), dtype=float)
        end_s = (self._end - origin).total_seconds()
        vals = np.asarray(self._steps.values, dtype=float)
        return StepSignal._cut(clock, self._times, secs, vals, self._end, end_s, t0_s, t1_s, self.name, self.unit)
