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
        """Re-key ``v`` (id ``vid``) if ``present``, else remove it (nothing to do if its key stands)."""
        entry = self._entry
        if present:
            key = self._key(v)
            old = entry.get(vid)
            if old is not None:
                if old[0] == key:
                    return
                self._sorted.remove(old)
            new = (key, self._rng.random(), vid, v)
            self._sorted.add(new)
            entry[vid] = new
        else:
            old = entry.pop(vid, None)
            if old is not None:
                self._sorted.remove(old)

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


class LoadBuckets:
    """Vehicles bucketed by an integer load: O(1) updates, least loaded in O(max load).

    Each bucket is a list with swap-remove; ``least_loaded`` picks uniformly among the vehicles
    of the lowest non-empty bucket.
    """

    __slots__ = ("_buckets", "_where", "_rng")

    def __init__(self, rng: random.Random) -> None:
        self._buckets: list[list] = []
        self._where: dict[int, tuple[int, int]] = {}  # vehicle id -> (bucket, position)
        self._rng = rng

    def __len__(self) -> int:
        return len(self._where)

    def refile(self, v, vid: int, load: int | None) -> None:
        """File ``v`` under ``load``, or remove it when ``load`` is None."""
        where = self._where
        old = where.get(vid)
        if old is not None:
            if old[0] == load:
                return
            bucket = self._buckets[old[0]]
            last = bucket.pop()
            if last[0] != vid:
                bucket[old[1]] = last
                where[last[0]] = (old[0], old[1])
            del where[vid]
        if load is not None:
            while len(self._buckets) <= load:
                self._buckets.append([])
            bucket = self._buckets[load]
            where[vid] = (load, len(bucket))
            bucket.append((vid, v))

    def least_loaded(self):
        """A vehicle with the lowest load (uniform among ties), or None."""
        if self._where:
            for bucket in self._buckets:
                if bucket:
                    return bucket[int(self._rng.random() * len(bucket))][1]
        return None
