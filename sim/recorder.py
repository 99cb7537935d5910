"""Time-weighted running aggregates, updated on state changes and read per sample interval.

A *level* is a piecewise-constant quantity (a count of vehicles in a state, a power in W, a
queue length). Components call :meth:`Recorder.add` with a delta at the instant the level
changes; the recorder integrates each level exactly over time, so a sample costs
O(number of levels) and never scans the fleet. *Counters* count events per interval.
"""
from __future__ import annotations

from collections.abc import Sequence


class Recorder:
    """Exact time integrals of levels and per-interval event counts."""

    __slots__ = (
        "level_names",
        "counter_names",
        "level",
        "_acc",
        "_t_last",
        "_total",
        "counts",
        "_t_interval",
    )

    def __init__(self, level_names: Sequence[str], counter_names: Sequence[str], t0_s: float = 0.0):
        self.level_names = tuple(level_names)
        self.counter_names = tuple(counter_names)
        n = len(self.level_names)
        self.level = [0.0] * n  # current value of each level
        self._acc = [0.0] * n  # integral over the open interval (unit*s)
        self._t_last = [t0_s] * n
        self._total = [0.0] * n  # integral since t0 up to the last closed interval (unit*s)
        self.counts = [0] * len(self.counter_names)
        self._t_interval = t0_s

    def add(self, i: int, delta: float, t_s: float) -> None:
        """Change level ``i`` by ``delta`` at time ``t_s`` (non-decreasing)."""
        level = self.level
        self._acc[i] += level[i] * (t_s - self._t_last[i])
        self._t_last[i] = t_s
        level[i] += delta

    def add_integral(self, i: int, amount: float) -> None:
        """Add an impulse ``amount`` (unit*s) to level ``i``'s integral (e.g. an instant purchase)."""
        self._acc[i] += amount

    def close_interval(self, t_s: float) -> tuple[float, list[float], list[int]]:
        """Close the interval ending at ``t_s``.

        Returns ``(duration_s, integrals, counts)``: each level's integral over the interval
        (unit*s) and each counter's events; then starts a new interval.
        """
        level, acc, t_last, total = self.level, self._acc, self._t_last, self._total
        integrals = []
        for i in range(len(level)):
            a = acc[i] + level[i] * (t_s - t_last[i])
            integrals.append(a)
            total[i] += a
            acc[i] = 0.0
            t_last[i] = t_s
        counts = self.counts
        self.counts = [0] * len(counts)
        duration = t_s - self._t_interval
        self._t_interval = t_s
        return duration, integrals, counts

    def totals(self) -> dict[str, float]:
        """Integral of every level from t0 to the end of the last closed interval (unit*s)."""
        return dict(zip(self.level_names, self._total))
