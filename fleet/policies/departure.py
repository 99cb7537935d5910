"""Departure-aware dispatch: send a job to a car that stays parked long enough to finish it."""
from __future__ import annotations

import random

from fleet.policies.base import DispatchPolicy, register
from fleet.policies.keyed import KeyedIndex


@register
class DepartureAwarePolicy(DispatchPolicy):
    """Prefer vehicles whose remaining parked time covers the job's expected service time.

    Among those, the tightest fit: the earliest departure after the job's expected end, which
    keeps long-parked cars for long jobs. If none fits, the lowest preemption risk: the latest
    departure. Departures are what the dispatcher knows (``dispatch.departure_knowledge``):
    the itinerary (``exact``), a noisy estimate (``predicted``) or nothing (``none``, when every
    car seems to stay and the choice is random). Only vehicles with a free slot are
    candidates; under vehicle queueing, when every online car is full, the job joins the least
    loaded one. One sorted index by known departure: O(log n) per decision and per change.
    """

    name = "departure_aware"
    summary = "the car whose known departure most tightly covers the job's service time"
    wants_updates = True

    def __init__(self, view, rng: random.Random, **params) -> None:
        super().__init__(view, rng, **params)
        self._by_departure = KeyedIndex(view.departure_s, rng)
        #: decisions with a fitting vehicle, and without (the fallback to the latest departure)
        self.fits = 0
        self.misfits = 0

    def on_vehicle_changed(self, vehicle) -> None:
        view = self.view
        self._by_departure.refile(vehicle, view.vehicle_id(vehicle), view.free_slots(vehicle) > 0)

    def select(self, job):
        index = self._by_departure
        any_vehicle = index.first()
        if any_vehicle is None:
            return self.view.least_loaded(self.rng)
        end_s = self.view.now_s + self.view.service_s(any_vehicle, job)
        v = index.first_above(end_s)
        if v is not None:
            self.fits += 1
            return v
        self.misfits += 1
        return index.last()
