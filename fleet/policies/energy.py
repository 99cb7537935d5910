"""Energy-, carbon- and price-aware dispatch: where does the next kWh of inference come from?

A plugged car's marginal energy comes from its region's grid now (through the charger's
losses); an unplugged car's comes from its battery, charged earlier at the grid's price and
carbon of that time (average-cost accounting, see ``fleet.vehicle``).

These policies choose among vehicles with a free slot; under vehicle queueing, when every
online car is full, the job joins the least loaded one.
"""
from __future__ import annotations

import random

from fleet.policies.base import DispatchPolicy, register
from fleet.policies.keyed import KeyedIndex, LoadBuckets


class _PluggedOrBatteryPolicy(DispatchPolicy):
    """Keeps cars with a free slot in two indexes: plugged ones in O(1) buckets by load, unplugged
    ones sorted by ``_battery_key`` (O(log n)). Subclasses choose between the two heads."""

    wants_updates = True

    def __init__(self, view, rng: random.Random, **params) -> None:
        super().__init__(view, rng, **params)
        self._plugged = LoadBuckets(rng)
        self._battery = KeyedIndex(self._battery_key, rng)

    def _battery_key(self, v):
        raise NotImplementedError

    def on_vehicle_changed(self, vehicle) -> None:
        view = self.view
        vid = view.vehicle_id(vehicle)
        free = view.free_slots(vehicle) > 0
        plugged = view.plugged(vehicle)
        self._plugged.refile(vehicle, vid, view.load(vehicle) if free and plugged else None)
        self._battery.refile(vehicle, vid, free and not plugged)


@register
class EnergyAwarePolicy(_PluggedOrBatteryPolicy):
    """Plugged-in vehicles first (least loaded), then the highest state of charge above the reserve.

    Unplugged cars are only eligible while above what they must keep (reserve and the rest of
    the day's trips), so every candidate is above its reserve. Plugged cars sit in buckets by
    load (O(1) updates), unplugged ones in a sorted index by SoC (O(log n)).
    """

    name = "energy_aware"
    summary = "plugged-in cars first, then the unplugged car with the highest state of charge"

    def _battery_key(self, v) -> float:
        return -self.view.soc(v)

    def select(self, job):
        v = self._plugged.least_loaded()
        if v is None:
            v = self._battery.first()
        return v if v is not None else self.view.least_loaded(self.rng)


class _MarginalSourcePolicy(_PluggedOrBatteryPolicy):
    """The eligible vehicle whose marginal kWh is lowest in ``signal`` (carbon or price) now.

    Plugged cars all draw on the region's grid now: the least loaded of them stands for the
    grid. Unplugged cars are sorted by their battery's stored intensity, which does not change
    while they discharge. A decision compares the two heads: O(log n).
    """

    signal = ""

    def __init__(self, view, rng: random.Random, **params) -> None:
        self._marginal = (view.marginal_carbon_g_per_kwh if self.signal == "carbon"
                          else view.marginal_price_usd_per_kwh)
        super().__init__(view, rng, **params)

    def _battery_key(self, v) -> float:
        return self._marginal(v)

    def select(self, job):
        grid = self._plugged.least_loaded()
        battery = self._battery.first()
        if grid is None and battery is None:
            return self.view.least_loaded(self.rng)
        if grid is None or battery is None:
            return grid if battery is None else battery
        return grid if self._marginal(grid) <= self._battery.first_key() else battery


@register
class CarbonAwarePolicy(_MarginalSourcePolicy):
    __doc__ = _MarginalSourcePolicy.__doc__.replace("``signal`` (carbon or price)", "carbon (g/kWh)")
    name = "carbon_aware"
    summary = "the car whose next kWh is cleanest now: the grid if plugged, its battery's charge if not"
    signal = "carbon"


@register
class PriceAwarePolicy(_MarginalSourcePolicy):
    __doc__ = _MarginalSourcePolicy.__doc__.replace("``signal`` (carbon or price)", "price ($/kWh)")
    name = "price_aware"
    summary = "the car whose next kWh is cheapest now: the grid if plugged, its battery's charge if not"
    signal = "price"
