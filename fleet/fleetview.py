"""The free-slot index and the read-only view of the fleet that dispatch policies see.

:class:`FreeSlotIndex` keeps every online vehicle that has at least one free chip slot in a
bucket keyed by its number of busy slots. Each bucket is an array with swap-remove, so adding,
removing, moving and picking a vehicle are O(1); finding the least-loaded bucket is
O(max slots). No decision ever scans the fleet.
"""
from __future__ import annotations

import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from fleet.vehicle import Vehicle


class FreeSlotIndex:
    """Online vehicles with a free slot, bucketed by busy-slot count."""

    __slots__ = ("buckets", "size")

    def __init__(self) -> None:
        self.buckets: list[list] = []
        self.size = 0

    def update(self, v: Vehicle, key: int) -> None:
        """File ``v`` under ``key``: its busy-slot count if online with a free slot, else -1."""
        if key == v.bucket:
            return
        if v.bucket >= 0:
            bucket = self.buckets[v.bucket]
            last = bucket.pop()
            if last is not v:
                bucket[v.bucket_pos] = last
                last.bucket_pos = v.bucket_pos
            self.size -= 1
        if key >= 0:
            while len(self.buckets) <= key:
                self.buckets.append([])
            bucket = self.buckets[key]
            v.bucket_pos = len(bucket)
            bucket.append(v)
            self.size += 1
        else:
            v.bucket_pos = -1
        v.bucket = key

    def least_loaded(self, rng: random.Random) -> Vehicle | None:
        """A uniformly chosen vehicle among those with the fewest busy slots."""
        for bucket in self.buckets:
            if bucket:
                return bucket[int(rng.random() * len(bucket))]
        return None

    def uniform(self, rng: random.Random) -> Vehicle | None:
        """A uniformly chosen vehicle among all with a free slot."""
        if not self.size:
            return None
        r = int(rng.random() * self.size)
        for bucket in self.buckets:
            if r < len(bucket):
                return bucket[r]
            r -= len(bucket)
        return None  # pragma: no cover


class FleetView:
    """Read-only access to the fleet for dispatch policies.

    Policies receive vehicle handles from this view and may read them only through the view's
    methods. They must not change a vehicle, hold a reference across runs, or scan the fleet.
    """

    __slots__ = ("_index", "_env", "_price", "_carbon", "least_loaded", "uniform")

    def __init__(self, index: FreeSlotIndex, env, price_signal, carbon_signal) -> None:
        self._index = index
        self._env = env
        self._price = price_signal
        self._carbon = carbon_signal
        #: ``least_loaded(rng)``: a vehicle with the fewest busy slots, ties broken uniformly
        #: (O(max slots)).
        self.least_loaded = index.least_loaded
        #: ``uniform(rng)``: a vehicle chosen uniformly among those with a free slot.
        self.uniform = index.uniform

    @property
    def now_s(self) -> float:
        """Current simulation time (s)."""
        return self._env.now

    @property
    def n_with_free_slot(self) -> int:
        """Number of online vehicles with at least one free slot."""
        return self._index.size

    @staticmethod
    def free_slots(v) -> int:
        """Free slots of ``v`` (0 if offline)."""
        return v.free_slots

    @staticmethod
    def busy_slots(v) -> int:
        """Busy slots of ``v``."""
        return v.busy

    @staticmethod
    def soc(v) -> float:
        """State of charge of ``v`` at its last event (0..1)."""
        return v.soc

    @staticmethod
    def plugged(v) -> bool:
        """Whether ``v`` is plugged in."""
        return v.plugged

    @staticmethod
    def next_departure_s(v) -> float:
        """Scheduled departure of ``v`` (s; inf when unknown)."""
        return v.next_departure_s

    @staticmethod
    def chip(v):
        """Chip specification of ``v``."""
        return v.spec.chip

    @staticmethod
    def vehicle_id(v) -> int:
        """Identifier of ``v``."""
        return v.vid

    def price_usd_per_kwh(self) -> float:
        """Current grid price ($/kWh)."""
        return self._price.value(self._env.now)

    def carbon_g_per_kwh(self) -> float:
        """Current grid carbon intensity (gCO2/kWh)."""
        return self._carbon.value(self._env.now)
