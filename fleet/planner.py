"""Day-by-day itinerary plans for the whole fleet, drawn lazily and shared by all vehicles.

The fleet is one or more **groups** of consecutive vehicle ids, each with its own itinerary model
(personal cars: :class:`fleet.mobility.MobilityModel`; robotaxis:
:class:`fleet.robotaxi.RobotaxiModel`; anything with the same ``plan_day``). The first vehicle that
needs local day ``d`` triggers one vectorised draw per group, in group order, and the group plans
are concatenated into one CSR plan over all vehicles. Each model owns its generator, so the order
of draws is fixed by the day index alone and a group's plans do not depend on the other groups.
Plans are converted to compact arrays once, because the vehicles read them one scalar at a time.
Day 0 is the local day that contains the start instant; its trips that would depart before the
start are skipped (every car starts parked at home).
"""
from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from fleet.mobility import HOME, DayPlan
from fleet.robotaxi import OccupiedDayPlan
from sim.core.clock import DAY_S, Clock

_INF = float("inf")


class _Dwell(Protocol):
    min_dwell_s: float  # s


class ItineraryModel(Protocol):
    """What the planner needs of an itinerary model: ``params.min_dwell_s`` and ``plan_day``."""

    @property
    def params(self) -> _Dwell: ...

    def plan_day(self, day_start_s: float, day_length_s: float, weekend: bool, commuter: np.ndarray,
                 earliest_depart_s: np.ndarray | None = None) -> DayPlan: ...


class PlanLists:
    """One day's plan in compact ``array`` columns, plus the km left in each tour after each trip.

    A tour ends at a trip whose destination is HOME (or at the vehicle's last trip of the day).
    Vehicles read one scalar at a time: indexing an ``array.array`` yields a Python number
    directly (unlike numpy scalars) and stores 8 bytes per value (unlike lists of floats).
    ``occupied_km`` (km with a passenger aboard) is None for plans without that column.
    """

    __slots__ = ("offsets", "depart_s", "arrive_s", "distance_km", "destination", "km_after", "occupied_km")

    def __init__(self, plan: DayPlan) -> None:
        self.offsets = array("q", plan.offsets.astype(np.int64).tobytes())
        self.depart_s = array("d", plan.depart_s.astype(np.float64).tobytes())
        self.arrive_s = array("d", plan.arrive_s.astype(np.float64).tobytes())
        self.distance_km = array("d", plan.distance_km.astype(np.float64).tobytes())
        self.destination = array("b", plan.destination.astype(np.int8).tobytes())
        self.km_after = array("d", _km_after(plan).tobytes())
        occ = getattr(plan, "occupied_km", None)
        self.occupied_km = None if occ is None else array("d", np.asarray(occ, dtype=np.float64).tobytes())


def _km_after(plan: DayPlan) -> np.ndarray:
    """Per trip, the km of the later trips of its tour (float64)."""
    n = len(plan.distance_km)
    if n == 0:
        return np.array([], dtype=np.float64)
    cs = np.cumsum(plan.distance_km, dtype=np.float64)
    is_end = plan.destination == HOME
    is_end[plan.offsets[1:][np.diff(plan.offsets) > 0] - 1] = True
    idx = np.arange(n)
    end = np.minimum.accumulate(np.where(is_end, idx, n)[::-1])[::-1]  # next tour end at or after k
    return cs[end] - cs


def concat_plans(plans: Sequence[DayPlan]) -> DayPlan:
    """One plan over the vehicles of ``plans`` in order (vehicle ids shifted by the preceding counts).

    If any plan has ``occupied_km`` the result is an :class:`OccupiedDayPlan`, with zeros for
    plans without that column.
    """
    if len(plans) == 1:
        return plans[0]
    offsets = [np.zeros(1, dtype=np.int64)]
    base = 0
    for p in plans:
        offsets.append(p.offsets[1:].astype(np.int64) + base)
        base += int(p.offsets[-1])
    cols = [np.concatenate([getattr(p, f) for p in plans])
            for f in ("depart_s", "arrive_s", "distance_km", "destination")]
    if not any(isinstance(p, OccupiedDayPlan) for p in plans):
        return DayPlan(np.concatenate(offsets), *cols)
    occ = np.concatenate([p.occupied_km if isinstance(p, OccupiedDayPlan) else np.zeros(len(p.depart_s))
                          for p in plans])
    return OccupiedDayPlan(np.concatenate(offsets), *cols, occ)


class DayPlanner:
    """Lazily drawn, cached day plans for a fleet over a horizon.

    ``DayPlanner(model, clock, commuter, horizon_s)`` is a fleet of ``len(commuter)`` vehicles
    of one model; :meth:`from_groups` builds a mixed fleet.
    """

    def __init__(self, model: ItineraryModel, clock: Clock, commuter: np.ndarray, horizon_s: float) -> None:
        self._setup([(model, commuter)], clock, horizon_s)

    @classmethod
    def from_groups(
        cls, groups: Sequence[tuple[ItineraryModel, np.ndarray | int]], clock: Clock, horizon_s: float
    ) -> DayPlanner:
        """A planner for groups ``(model, commuter flags or vehicle count)`` in vehicle-id order.

        Group ``g`` owns vehicle ids ``sum(n_0..n_{g-1})`` onwards. A count ``n`` stands for ``n``
        non-commuters (robotaxis ignore the flags). Give each model its own generator: then a
        group's plans are identical to those of a planner of that group alone.
        """
        self = cls.__new__(cls)
        self._setup(groups, clock, horizon_s)
        return self

    def _setup(self, groups: Sequence[tuple[ItineraryModel, np.ndarray | int]], clock: Clock,
               horizon_s: float) -> None:
        if not groups:
            raise ValueError("a DayPlanner needs at least one group")
        flags = [np.zeros(int(c), dtype=bool) if isinstance(c, (int, np.integer)) else np.asarray(c, dtype=bool)
                 for _, c in groups]
        if any(f.ndim != 1 for f in flags):
            raise ValueError("commuter flags must be 1-D")
        self.groups = [(m, f) for (m, _), f in zip(groups, flags)]
        self.model = groups[0][0]
        self.commuter = np.concatenate(flags)
        self.n_vehicles = len(self.commuter)
        self._dwell_s = np.concatenate([np.full(len(f), float(m.params.min_dwell_s)) for m, f in self.groups])
        self.clock = clock
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
        if entered == self.n_vehicles:
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
        earliest = None if self._last_arrival is None else self._last_arrival + self._dwell_s
        parts, lo = [], 0
        for model, flags in self.groups:
            hi = lo + len(flags)
            parts.append(model.plan_day(start, length, weekend, flags, None if earliest is None else earliest[lo:hi]))
            lo = hi
        plan = concat_plans(parts)
        if d == 0 and start < 0.0:
            plan = _drop_before(plan, 0.0)
        last = np.full(self.n_vehicles, -_INF)
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
                e = a  # the trip that ends the tour
                while e < b - 1 and plan.destination[e] != HOME:
                    e += 1
                return plan.depart_s[a], plan.distance_km[a] + plan.km_after[a], plan.arrive_s[e]


def _drop_before(plan: DayPlan, t0_s: float) -> DayPlan:
    """The plan without trips departing before ``t0_s``."""
    keep = plan.depart_s >= t0_s
    vehicle = np.repeat(np.arange(plan.n_vehicles), np.diff(plan.offsets))
    counts = np.bincount(vehicle[keep], minlength=plan.n_vehicles)
    offsets = np.zeros(plan.n_vehicles + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    cols = (offsets, plan.depart_s[keep], plan.arrive_s[keep], plan.distance_km[keep], plan.destination[keep])
    if isinstance(plan, OccupiedDayPlan):
        return OccupiedDayPlan(*cols, plan.occupied_km[keep])
    return DayPlan(*cols)
