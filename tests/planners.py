"""A hand-written itinerary for vehicle 0, shared by the tests that hand-compute a car's day."""
from __future__ import annotations

import numpy as np

from fleet.mobility import DayPlan
from fleet.planner import PlanLists

NO_NEXT_TOUR = (float("inf"), 0.0, float("inf"))


class OneDayPlanner:
    """Vehicle 0 makes ``trips`` = [(depart_s, arrive_s, km, place)] on day 0 and nothing afterwards;
    ``next_tour`` is what the car expects after its last trip: (depart s, km, back s)."""

    def __init__(self, trips: list[tuple[float, float, float, int]],
                 next_tour: tuple[float, float, float] = NO_NEXT_TOUR) -> None:
        dep, arr, km, dest = (np.array(x) for x in zip(*trips))
        self.plan = PlanLists(DayPlan(np.array([0, len(trips)]), dep.astype(float), arr.astype(float),
                                      km.astype(float), dest.astype(np.int8)))
        self._next_tour = next_tour

    def has_day(self, d: int) -> bool:
        return d == 0

    def day(self, d: int):
        return self.plan

    def next_tour(self, vid: int, d: int) -> tuple[float, float, float]:
        return self._next_tour
