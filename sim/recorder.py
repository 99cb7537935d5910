"""Time-weighted running aggregates, updated on state changes and read per sample interval.

A *level* is a piecewise-constant quantity (a count of vehicles in a state, a power in W, a
queue length). Components call :meth:`Recorder.add` with a delta at the instant the level
changes; the recorder integrates each level exactly over time, so a sample costs
O(number of levels) and never scans the fleet. *Counters* count events per interval.
"""
from __future__ import annotations

from collections.abc import Sequence


class Recorder:
    """Exact time integrals of levels and per-interval event counts.

    A level's integral over the open interval ``[t_open, t]`` is
    ``level * (t - t_open) - acc``, where each change ``delta`` at time ``u`` adds
    ``delta * (u - t_open)`` to ``acc``: two list updates per change, whatever the history.
    """

    __slots__ = ("level_names", "counter_names", "level", "acc", "t_open", "_total", "counts")

    def __init__(self, level_names: Sequence[str], counter_names: Sequence[str], t0_s: float = 0.0):
        self.level_names = tuple(level_names)
        self.counter_names = tuple(counter_names)
        n = len(self.level_names)
        self.level = [0.0] * n  # current value of each level
        self.acc = [0.0] * n  # sum of delta * (time of change - t_open) over the open interval
        self.t_open = t0_s  # start of the open interval (s)
        self._total = [0.0] * n  # integral since t0 up to the last closed interval (unit*s)
        self.counts = [0.0] * len(self.counter_names)  # weighted event counts

    def add(self, i: int, delta: float, t_s: float) -> None:
        """Change level ``i`` by ``delta`` at time ``t_s`` (within the open interval)."""
        self.acc[i] += delta * (t_s - self.t_open)
        self.level[i] += delta

    def add_integral(self, i: int, amount: float) -> None:
        """Add an impulse ``amount`` (unit*s) to level ``i``'s integral (e.g. an instant purchase)."""
        self.acc[i] -= amount

    def close_interval(self, t_s: float) -> tuple[float, list[float], list[float]]:
        """Close the interval ending at ``t_s``.

        Returns ``(duration_s, integrals, counts)``: each level's integral over the interval
        (unit*s) and each counter's events; then starts a new interval.
        """
        duration = t_s - self.t_open
        level, acc, total = self.level, self.acc, self._total
        integrals = []
        for i in range(len(level)):
            a = level[i] * duration - acc[i]
            integrals.append(a)
            total[i] += a
            acc[i] = 0.0
        counts = self.counts
        self.counts = [0.0] * len(counts)
        self.t_open = t_s
        return duration, integrals, counts

    def totals(self) -> dict[str, float]:
        """Integral of every level from t0 to the end of the last closed interval (unit*s)."""
        return dict(zip(self.level_names, self._total))
