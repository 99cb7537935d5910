"""A weighted score over load, preemption risk, state of charge, carbon and price."""
from __future__ import annotations

import random

from fleet.policies.base import DispatchPolicy, register

_INF = float("inf")


@register
class WeightedPolicy(DispatchPolicy):
    """The candidate with the lowest weighted score; the weights are what tuning searches.

    score = w_load * load + w_risk * risk + w_soc * (1 - soc) + w_carbon * carbon + w_price * price

    - load: busy slots plus own queued jobs, over the chip's slots (0 = idle, 1 = full);
    - risk: the job's expected service time over the known remaining parked time, capped at 1
      (0 when the departure is unknown);
    - 1 - soc: the state of charge the car would spend;
    - carbon, price: the car's marginal kWh (grid if plugged, stored charge if not) relative
      to the region's grid now (about 1.1 for a plugged car with a 90 % efficient charger).

    Candidates: ``candidates`` eligible vehicles sampled uniformly without replacement, plus the
    least-loaded vehicle, so a decision costs O(candidates), independent of fleet size.
    """

    name = "weighted"
    summary = ("lowest weighted score of load, preemption risk, SoC, carbon and price over sampled candidates "
               "(params: w_load, w_risk, w_soc, w_carbon, w_price, candidates)")
    PARAMS = {"w_load": 1.0, "w_risk": 1.0, "w_soc": 0.0, "w_carbon": 0.0, "w_price": 0.0, "candidates": 8}

    def __init__(self, view, rng: random.Random, **params) -> None:
        super().__init__(view, rng, **params)
        p = self.params
        for key in ("w_load", "w_risk", "w_soc", "w_carbon", "w_price"):
            self._require(key, p[key] >= 0.0, "a number >= 0")
        self._require("candidates", p["candidates"] >= 1, "an integer >= 1")
        self.weights = tuple(p[k] for k in ("w_load", "w_risk", "w_soc", "w_carbon", "w_price"))
        self.candidates = p["candidates"]

    def score(self, v, job, now: float, grid_carbon: float, grid_price: float) -> float:
        """The weighted score of serving ``job`` on ``v`` now (lower is better)."""
        view = self.view
        w_load, w_risk, w_soc, w_carbon, w_price = self.weights
        s = w_load * view.load(v) / view.slots(v)
        if w_risk:
            left = view.departure_s(v) - now
            if left < _INF:
                s += w_risk * (min(1.0, view.service_s(v, job) / left) if left > 0.0 else 1.0)
        if w_soc:
            s += w_soc * (1.0 - view.soc(v))
        if w_carbon:
            s += w_carbon * view.marginal_carbon_g_per_kwh(v) / grid_carbon if grid_carbon > 0.0 else 0.0
        if w_price:
            s += w_price * view.marginal_price_usd_per_kwh(v) / grid_price if grid_price > 0.0 else 0.0
        return s

    def select(self, job):
        view, rng = self.view, self.rng
        first = view.least_loaded(rng)
        if first is None:
            return None
        now = view.now_s
        carbon = view.carbon_g_per_kwh() if self.weights[3] else 0.0
        price = view.price_usd_per_kwh() if self.weights[4] else 0.0
        best, best_score = first, self.score(first, job, now, carbon, price)
        seen = {view.vehicle_id(first)}
        n = min(self.candidates, view.n_eligible - 1)
        while len(seen) <= n:
            v = view.uniform(rng)
            vid = view.vehicle_id(v)
            if vid in seen:
                continue
            seen.add(vid)
            x = self.score(v, job, now, carbon, price)
            if x < best_score:
                best, best_score = v, x
        return best
