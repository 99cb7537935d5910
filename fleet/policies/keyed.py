"""An index of eligible vehicles sorted by a policy's key: O(log n) updates and queries.

Entries are ``(key, tiebreak, vehicle id, vehicle)``; the tiebreak is a uniform draw made when
the vehicle is (re)filed, so vehicles with equal keys come out in random order rather than by
id. Built on ``sortedcontainers.SortedList``.
"""
from __future__ import annotations

import random
from collections.abc import Callable

from sortedcontainers import SortedList

_INF = float("inf")


class KeyedIndex:
    """Vehicles sorted by ``key(vehicle)``; ``refile`` after any change that moves the key."""

    __slots__ = ("_key", "_rng", "_sorted", "_entry")

    def __init__(self, key: Callable, rng: random.Random) -> None:
        self._key = key
        self._rng = rng
        self._sorted = SortedList()
        self._entry: dict[int, tuple] = {}

    def __len__(self) -> int:
        return len(self._sorted)

    def refile(self, v, vid: int, present: bool) -> None:
        """Re-key ``v`` (id ``vid``) if ``present``, else remove it."""
        old = self._entry.pop(vid, None)
        if old is not None:
            self._sorted.remove(old)
        if present:
            entry = (self._key(v), self._rng.random(), vid, v)
            self._sorted.add(entry)
            self._entry[vid] = entry

    def first(self):
        """The vehicle with the smallest key, or None."""
        return self._sorted[0][3] if self._sorted else None

    def last(self):
        """The vehicle with the largest key, or None."""
        return self._sorted[-1][3] if self._sorted else None

    def first_key(self):
        """The smallest key, or None."""
        return self._sorted[0][0] if self._sorted else None

    def first_above(self, key):
        """The vehicle with the smallest key strictly greater than ``key``, or None."""
        i = self._sorted.bisect_right((key, _INF))
        return self._sorted[i][3] if i < len(self._sorted) else None
