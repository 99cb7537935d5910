"""Day-by-day itinerary plans for the whole fleet, drawn lazily and shared by all vehicles.

The first vehicle that needs local day ``d`` triggers one vectorised draw for every vehicle
(:meth:`fleet.mobility.MobilityModel.plan_day`); the order of draws is therefore fixed by the day
index alone and runs are reproducible. Plans are converted to Python lists once, because the
vehicles read them one scalar at a time. Day 0 is the local day that contains the start instant;
its trips that would depart before the start are skipped (every car starts parked at home).
"""
from __future__ import annotations

from array import array

import numpy as np

from fleet.mobility import DayPlan, MobilityModel
from sim.clock import DAY_S, Clock

_INF = float("inf")


class PlanLists:
    """One day's plan in compact ``array`` columns, plus the km left in each tour after each trip.

    Vehicles read one scalar at a time: indexing an ``array.array`` yields a Python number
    directly (unlike numpy scalars) and stores 8 bytes per value (unlike lists of floats).
    """

    __slots__ = ("offsets", "depart_s", "arrive_s", "distance_km", "destination", "km_after")

    def __init__(self, plan: DayPlan) -> None:
        self.offsets = array("q", plan.offsets.astype(np.int64).tobytes())
        self.depart_s = array("d", plan.depart_s.astype(np.float64).tobytes())
        self.arrive_s = array("d", plan.arrive_s.astype(np.float64).tobytes())
        self.distance_km = array("d", plan.distance_km.astype(np.float64).tobytes())
        self.destination = array("b", plan.destination.astype(np.int8).tobytes())
        cs = np.cumsum(plan.distance_km)
        n_trips = np.diff(plan.offsets)
        last = np.repeat(plan.offsets[1:] - 1, n_trips)
        km_after = (cs[last] - cs) if len(cs) else np.array([], dtype=np.float64)
        self.km_after = array("d", km_after.astype(np.float64).tobytes())


class DayPlanner:
    """Lazily drawn, cached day plans for ``n_vehicles`` cars over a horizon."""

    def __init__(self, model: MobilityModel, clock: Clock, commuter: np.ndarray, horizon_s: float) -> None:
        self.model = model
        self.clock = clock
        self.commuter = np.asarray(commuter, dtype=bool)
        self.horizon_s = horizon_s
        self.midnights = clock.local_midnights(0.0, horizon_s + 2 * DAY_S)
        self._plans: dict[int, PlanLists] = {}
        self._last_arrival: np.ndarray | None = None
        self._planned_through = -1
        self._entered: dict[int, int] = {}  # day -> vehicles that have entered it

    @property
    def n_days(self) -> int:
        """Local days that overlap the horizon."""
        return sum(1 for m in self.midnights if m < self.horizon_s)

    def has_day(self, d: int) -> bool:
        """Whether local day ``d`` starts before the horizon."""
        return d + 1 < len(self.midnights) and self.midnights[d] < self.horizon_s

    def day(self, d: int) -> PlanLists:
        """Plan of local day ``d`` (0 = the day containing the start) for a vehicle entering it.

        Every vehicle enters every day once, in order; when the last one enters day ``d``, no
        vehicle needs the plans before ``d`` any more and they are released.
        """
        entered = self._entered.get(d, 0) + 1
        self._entered[d] = entered
        if entered == len(self.commuter):
            for old in [k for k in self._plans if k < d]:
                del self._plans[old]
            self._entered.pop(d - 1, None)
        return self._get(d)

    def _get(self, d: int) -> PlanLists:
        plan = self._plans.get(d)
        if plan is None:
            while self._planned_through < d:
                self._draw(self._planned_through + 1)
            plan = self._plans[d]
        return plan

    def _draw(self, d: int) -> None:
        start = self.midnights[d]
        length = self.midnights[d + 1] - start
        weekend = self.clock.weekday(start + 1.0) >= 5
        earliest = None
        if self._last_arrival is not None:
            earliest = self._last_arrival + self.model.params.min_dwell_s
        plan = self.model.plan_day(start, length, weekend, self.commuter, earliest)
        if d == 0 and start < 0.0:
            plan = _drop_before(plan, 0.0)
        last = np.full(len(self.commuter), -_INF)
        counts = np.diff(plan.offsets)
        has = counts > 0
        last[has] = plan.arrive_s[plan.offsets[1:][has] - 1]
        if self._last_arrival is not None:
            last = np.maximum(last, self._last_arrival)
        self._last_arrival = last
        self._plans[d] = PlanLists(plan)
        self._planned_through = d

    def next_tour(self, vid: int, d: int) -> tuple[float, float, float]:
        """Vehicle ``vid``'s first tour after local day ``d``: (departure s, km, home arrival s).

        ``(inf, 0, inf)`` when it has no trip before the horizon.
        """
        while True:
            d += 1
            if not self.has_day(d):
                return _INF, 0.0, _INF
            plan = self._get(d)
            a, b = plan.offsets[vid], plan.offsets[vid + 1]
            if b > a:
                return plan.depart_s[a], plan.distance_km[a] + plan.km_after[a], plan.arrive_s[b - 1]


def _drop_before(plan: DayPlan, t0_s: float) -> DayPlan:
    """The plan without trips departing before ``t0_s``."""
    keep = plan.depart_s >= t0_s
    vehicle = np.repeat(np.arange(plan.n_vehicles), np.diff(plan.offsets))
    counts = np.bincount(vehicle[keep], minlength=plan.n_vehicles)
    offsets = np.zeros(plan.n_vehicles + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return DayPlan(offsets, plan.depart_s[keep], plan.arrive_s[keep], plan.distance_km[keep],
                   plan.destination[keep])
