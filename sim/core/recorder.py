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

    __slots__ = ("level_names", "counter_names", "level", "acc", "t_open", "_total", "counts", "_folds")

    def __init__(self, level_names: Sequence[str], counter_names: Sequence[str], t0_s: float = 0.0):
        self.level_names = tuple(level_names)
        self.counter_names = tuple(counter_names)
        n = len(self.level_names)
        self.level = [0.0] * n  # current value of each level
        self.acc = [0.0] * n  # sum of delta * (time of change - t_open) over the open interval
        self.t_open = t0_s  # start of the open interval (s)
        self._total = [0.0] * n  # integral since t0 up to the last closed interval (unit*s)
        self.counts = [0.0] * len(self.counter_names)  # weighted event counts
        self._folds: list[tuple[int, tuple[tuple[int, float], ...]]] = []  # hidden level -> named ones

    def add_fold(self, coefficients: Sequence[tuple[int, float]]) -> int:
        """A new hidden level; each unit of it counts ``c`` units in named level ``j`` for every
        ``(j, c)`` in ``coefficients``.

        One ``add`` to it replaces one ``add`` per named level when several levels always move
        together (the busy slots of cars at their charge limit: slots, chip power, grid draw and
        charger losses). Its integrals are added into the named ones when an interval closes.
        May be called at any time: the new level is 0 until first changed. Returns its index.
        """
        i = len(self.level)
        self.level.append(0.0)
        self.acc.append(0.0)
        self._folds.append((i, tuple((int(j), float(c)) for j, c in coefficients)))
        return i

    def add(self, i: int, delta: float, t_s: float) -> None:
        """Change level ``i`` by ``delta`` at time ``t_s`` (within the open interval)."""
        self.acc[i] += delta * (t_s - self.t_open)
        self.level[i] += delta

    def add_moving(self, i: int, delta: float, src: int, dst: int, amount: float, t_s: float) -> None:
        """Change level ``i`` by ``delta`` and, if ``src != dst``, move ``amount`` from level ``src``
        to level ``dst``, at time ``t_s``: a car's busy slots and its state count in one call."""
        since = t_s - self.t_open
        acc, level = self.acc, self.level
        acc[i] += delta * since
        level[i] += delta
        if src != dst:
            d = amount * since
            acc[src] -= d
            level[src] -= amount
            acc[dst] += d
            level[dst] += amount

    def add_changes(self, changes: Sequence[tuple[int, float]], t_s: float) -> None:
        """Change each level ``i`` by ``delta`` for every ``(i, delta)`` in ``changes`` at ``t_s``."""
        since = t_s - self.t_open
        acc, level = self.acc, self.level
        for i, d in changes:
            acc[i] += d * since
            level[i] += d

    def count(self, i: int, amount: float = 1.0) -> None:
        """Count ``amount`` events (weighted) on counter ``i`` in the open interval."""
        self.counts[i] += amount

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
            integrals.append(level[i] * duration - acc[i])
            acc[i] = 0.0
        for i, coefficients in self._folds:
            a = integrals[i]
            for j, c in coefficients:
                integrals[j] += c * a
        del integrals[len(self.level_names):]
        for i, a in enumerate(integrals):
            total[i] += a
        counts = self.counts
        self.counts = [0.0] * len(counts)
        self.t_open = t_s
        return duration, integrals, counts

    def add_closed(self, integrals: Sequence[float]) -> None:
        """Add another recorder's closed-interval ``integrals`` (unit*s, one per named level) to this
        one's totals: a fleet's totals over the recorders of its cohorts."""
        total = self._total
        for i, a in enumerate(integrals):
            total[i] += a

    def totals(self) -> dict[str, float]:
        """Integral of every level from t0 to the end of the last closed interval (unit*s)."""
        return dict(zip(self.level_names, self._total))
