"""A custom dispatch policy: serve from plugged-in cars first (their energy comes from the grid
now, not from a battery that must be recharged later). Used by plugged_first.toml."""
from fleet.policies import DispatchPolicy


class PluggedFirst(DispatchPolicy):
    """Pick a random plugged car with a free slot; fall back to any car with a free slot."""

    name = "plugged_first"
    summary = "a plugged-in car if one has a free slot, else any car"
    wants_updates = True  # keep our own index of plugged cars with a free slot

    def __init__(self, view, rng, **params):
        super().__init__(view, rng, **params)
        self.plugged: dict[int, object] = {}  # vehicle id -> handle (insertion order is stable)

    def on_vehicle_changed(self, vehicle):
        vid = self.view.vehicle_id(vehicle)
        if self.view.plugged(vehicle) and self.view.free_slots(vehicle) > 0:
            self.plugged[vid] = vehicle
        else:
            self.plugged.pop(vid, None)

    def select(self, job):
        if self.plugged:
            vid, vehicle = self.plugged.popitem()  # O(1): the most recently listed plugged car
            self.plugged[vid] = vehicle  # still listed; on_vehicle_changed updates it after the job starts
            return vehicle
        return self.view.uniform(self.rng)
