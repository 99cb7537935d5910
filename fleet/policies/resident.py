"""A policy for fleets serving several models: send a job where its model already is."""
from __future__ import annotations

import random

from fleet.policies.base import DispatchPolicy, register
from fleet.policies.keyed import LoadBuckets


@register
class ResidentModelPolicy(DispatchPolicy):
    """The least loaded eligible car whose chip holds the job's model (resident or loading) and has
    room for the job; if there is none, the least loaded eligible car (which loads the model).

    One load index per model the jobs need, fed by ``on_vehicle_changed``: O(models) per update,
    O(max load) per decision. With one model it is ``least_loaded``.
    """

    name = "resident_model"
    summary = "the least loaded car already holding the job's model; else the least loaded car (it loads the model)"
    wants_updates = True

    def __init__(self, view, rng: random.Random, **params) -> None:
        super().__init__(view, rng, **params)
        self._holding = {name: LoadBuckets(rng) for name in view.model_names}

    def on_vehicle_changed(self, vehicle) -> None:
        view = self.view
        vid = view.vehicle_id(vehicle)
        if view.eligible(vehicle):
            load, held = view.load(vehicle), view.models_held(vehicle)
        else:
            load, held = None, ()
        for name, cars in self._holding.items():
            cars.refile(vehicle, vid, load if name in held else None)

    def select(self, job):
        view = self.view
        cars = self._holding.get(view.job_model(job))
        if cars is not None:
            v = cars.least_loaded()
            if v is not None and view.takes_job(v, job):
                return v
        return view.least_loaded(self.rng)
