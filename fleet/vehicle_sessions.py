"""A vehicle's charging sessions: smart-charging windows, depot stalls and robotaxi rides.

Methods of :class:`fleet.vehicle.Vehicle` (a mixin with no state of its own; :class:`SessionHost`
declares what it uses of the vehicle, and tests/project/test_layers.py checks both sides of that
contract): planning a plug-in session's charging windows (:mod:`fleet.charging`) and holding
between them; plugging in at a depot site, sharing its cap, waiting in line for a stall and giving
a stall back at the charge limit; a robotaxi declining a ride it cannot or should not take.
"""
from __future__ import annotations

from typing import Any, Protocol

from fleet import channels as ch
from fleet.charging import charge_time_s, cheapest_windows
from fleet.mobility import HOME
from grid.chargers import ChargerSpec
from sim.core.timers import call_later

PARKED, AVAILABLE = ch.PARKED, ch.AVAILABLE
TOL_WH = 1e-6  # energies within this of a threshold count as at it (Wh)
_TOL_WH = TOL_WH


class SessionHost(Protocol):
    """The vehicle state and calls :class:`ChargingSessions` uses (of :class:`fleet.vehicle.Vehicle`)."""

    vid: int
    ctx: Any  # the run's shared context
    spec: Any  # VehicleSpec
    state: int
    place: int
    plugged: bool
    connected: bool
    full: bool
    low: bool
    step: int  # charging taper step
    jobs: list
    energy_wh: float
    guard_wh: float
    need_wh: float
    next_departure_s: float
    e_infer_batt_since_plug: float
    charger: Any  # ChargerSpec in use while plugged
    charge_fallbacks: int
    windows: Any  # planned charging windows of this session, or None
    window_event: Any
    site: Any  # the home or depot site, or None
    at_site: bool
    draw_site: Any  # where the grid draw is metered while plugged: the depot, a home's demand meter, or None
    home_demand: Any  # grid.demand.DemandMeter of the car's home, or None
    waiting: bool
    site_floor_w: float
    site_want_w: float
    site_budget_w: float
    rides_declined: int

    def _settle(self, now: float) -> None: ...
    def _apply(self, now: float) -> None: ...
    def _plan_threshold(self, now: float) -> None: ...
    def replan_link(self, now: float) -> None: ...
    def _can_serve(self) -> bool: ...
    def bill_job(self, job, now: float) -> None: ...


class ChargingSessions:
    """Charging-session and depot behaviour of a vehicle (see the module docstring)."""

    __slots__ = ()

    @property
    def site_priority(self) -> float:
        """Order under a site's priority sharing: the lowest state of charge first."""
        return self.energy_wh / self.spec.battery.capacity_wh

    def _declines(self, now: float) -> bool:
        """A robotaxi declines a ride in line for a stall, charging below its ready level, or when
        the ride would take it below its reserve (another car takes it)."""
        if self.waiting:
            return True
        self._settle(now)
        if self.energy_wh < self.need_wh - _TOL_WH:
            return True
        return self.plugged and self.energy_wh < self.spec.ready_soc * self.spec.battery.capacity_wh

    def _decline(self, now: float, plan, k: int, end: int, day: int) -> None:
        """Stay at the depot (another car takes the ride); the next ride is the next departure."""
        self.rides_declined += 1
        if k + 1 < end:
            dep, km = plan.depart_s[k + 1], plan.distance_km[k + 1] + plan.km_after[k + 1]
        else:
            dep, km, _ = self.ctx.planner.next_tour(self.vid, day)
        self.next_departure_s = dep
        bat = self.spec.battery
        self.need_wh = min(bat.charge_limit_soc * bat.capacity_wh, bat.reserve_soc * bat.capacity_wh
                           + km * self.spec.driving_wh_per_km / bat.discharge_efficiency)
        # Thresholds and the link's outages were planned only up to the declined ride: plan afresh.
        self._settle(now)
        self._plan_threshold(now)
        self.replan_link(now)
        self.ctx.dispatcher.vehicle_changed(self)

    def _plug(self, now: float, charger: ChargerSpec) -> None:
        """Connect to ``charger`` (at the home or depot site when the car has one)."""
        self.plugged = True
        self.charger = charger
        self.e_infer_batt_since_plug = 0.0
        cap = self.spec.battery.capacity_wh
        self.full = self.energy_wh >= self.spec.battery.charge_limit_soc * cap - _TOL_WH
        self.step = charger.step_index(self.energy_wh / cap)
        self.low = False
        if self.place == HOME and self.site is not None:
            spec = self.spec
            self.site.plug(self, now)
            self.at_site = True
            self.draw_site = self.site
            self.site_floor_w = (spec.awake_overhead_w + spec.chip.active_w) / charger.efficiency
            self.site_want_w = self.site_budget_w = 0.0  # _apply asks the site for a budget
        elif self.place == HOME:
            self.draw_site = self.home_demand  # its home's demand meter (None: no demand charges)

    def _unplug_site(self, now: float) -> None:
        """Give the stall back (the car's draw is already 0), share the cap anew, seat the next in line."""
        site = self.site
        self.at_site = False
        self.draw_site = None
        site.unplug(self, now)
        self.site_want_w = self.site_budget_w = 0.0
        for m in site.allocate():
            m._rebudget(now)
        nxt = site.next_waiting(now)
        if nxt is not None:
            nxt._plug_from_line(now)

    def _leave_stall(self, now: float) -> None:
        """At the charge limit with cars in line: unplug (settled at ``now``) and serve from the battery.

        Its jobs keep running: their runs so far are billed at the grid, the rest from the battery.
        """
        for job in self.jobs:
            self.bill_job(job, now)
        self.plugged = False
        self.full = False
        self.windows = self.window_event = None
        self.guard_wh = max(self.need_wh, self.spec.serve_floor_soc * self.spec.battery.capacity_wh)
        self.low = self.energy_wh <= self.guard_wh + _TOL_WH
        self.state = AVAILABLE if self._can_serve() else PARKED
        self._apply(now)
        self._unplug_site(now)
        self.ctx.dispatcher.vehicle_changed(self)

    def _rebudget(self, now: float) -> None:
        """The site changed this car's budget: settle and re-derive the powers."""
        self._settle(now)
        self._apply(now)

    def _plug_from_line(self, now: float) -> None:
        """A stall freed up while this car waited at its depot: plug in now."""
        self._settle(now)
        for job in self.jobs:  # runs so far came from the battery
            self.bill_job(job, now)
        self.waiting = False
        self._plug(now, self.site.spec.charger)
        if not self.full and self._strategy_signal() is not None:
            self._plan_charging(now)
        self.state = AVAILABLE if self._can_serve() else PARKED
        self._apply(now)
        self.ctx.dispatcher.vehicle_changed(self)

    def _strategy_signal(self):
        """What this session's charging strategy minimises (the site's own, else the scenario's)."""
        if self.at_site:
            return self.site.charging_signal
        return self.ctx.charging_signal

    def _plan_charging(self, now: float) -> None:
        """Plan this session's charging windows (see :mod:`fleet.charging`); hold until the first."""
        ctx = self.ctx
        spec = self.spec
        bat = spec.battery
        end = min(self.next_departure_s, ctx.horizon_s)
        if end <= now:
            return
        chip = spec.chip
        worst_w = spec.awake_overhead_w + chip.active_w if self.connected else spec.sleep_w
        charger = self.charger
        e = self.energy_wh
        need_s = charge_time_s(charger, bat, e, max(e, self.need_wh), worst_w)
        if need_s > end - now:  # even charging throughout cannot meet the need: immediate
            self.charge_fallbacks += 1
            return
        full_s = charge_time_s(charger, bat, e, bat.charge_limit_soc * bat.capacity_wh, worst_w)
        times, values = self._strategy_signal()
        windows = cheapest_windows(times, values, now, end, min(full_s, end - now))
        if not windows or (windows[0][0] <= now and windows[0][1] >= end):
            return  # charging throughout: immediate
        self.windows = windows
        if windows[0][0] > now:
            self.full = True  # hold: the charger covers the load only
            self._window_at(now, windows[0][0])
        else:
            self._window_at(now, windows[0][1])

    def _window_at(self, now: float, t: float) -> None:
        self.window_event = call_later(self.ctx.env, t - now, self._on_window)

    def _on_window(self, ev) -> None:
        """A window boundary: start charging, or hold until the next window."""
        if ev is not self.window_event:
            return  # the car left; the plan is void
        self.window_event = None
        now = self.ctx.env.now
        windows = self.windows
        self._settle(now)
        bat = self.spec.battery
        at_limit = self.energy_wh >= bat.charge_limit_soc * bat.capacity_wh - _TOL_WH
        start, end = windows[0]
        if now < end:  # a window opens
            if self.full and not at_limit:
                self.full = False
                self._apply(now)
            self._window_at(now, end)
            return
        windows.pop(0)  # a window closes
        if not self.full:
            if windows or at_limit:
                self.full = True
                self._apply(now)
            else:  # the plan's last window closed short of the limit: charge on
                self.charge_fallbacks += 1
        if windows:
            self._window_at(now, windows[0][0])
        else:
            self.windows = None
