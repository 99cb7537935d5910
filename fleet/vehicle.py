"""A vehicle: one SimPy process that drives its owner's itinerary, charges and serves jobs.

Between two events every power of a vehicle is constant, so the energy of a segment is computed
analytically when it ends (:meth:`Vehicle._settle`). Powers are re-derived after each state change
(:meth:`Vehicle._apply`), which pushes the deltas to the fleet recorder and the grid meter and
schedules the next internal threshold: the next charging-taper step, the charge limit, or the
serving guard of an unplugged car. Thresholds are scheduled at their exact instant, and only if
they fall before the car's next departure; a threshold that moves later leaves its earlier event
in place, which then finds nothing to do and reschedules (one event per state change, never a
periodic tick).

Load-side categories (W): driving, inference_active, inference_idle, awake_overhead, sleep.
Plugged: the charger draws ``P`` from the grid, ``efficiency*P`` reaches the DC bus, feeds the
loads and the rest charges the battery; ``(1-efficiency)*P`` is a charging loss. At the charge
limit the charger only covers the loads. Unplugged: the battery supplies the loads, and with a
discharge efficiency below 1 the difference is a discharge loss.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from simpy.events import Timeout

from fleet import channels as ch
from fleet.battery import BatterySpec, ChargerSpec
from fleet.channels import (
    BUSY_SLOTS,
    CHARGING,
    OFF_LOW,
    OFF_NO_CONNECTION,
    OFF_OPTED_OUT,
    ONLINE_CHIP_W,
    ONLINE_SLOTS,
    P_ACTIVE,
    P_BATTERY,
    P_CHARGE_LOSS,
    P_DISCHARGE_LOSS,
    P_DRIVING,
    P_GRID,
    P_IDLE,
    P_OVERHEAD,
    P_SLEEP,
    PLUGGED,
)
from fleet.chip import CHIP_PRESETS, ChipSpec
from fleet.mobility import HOME, WORK
from fleet.vehicle_billing import JobBilling
from fleet.vehicle_sessions import TOL_WH, ChargingSessions
from grid.chargers import CHARGER_PRESETS
from sim.core.params import EFFICIENCY, EFFICIENCY_FLOOR, param
from sim.core.timers import call_later

DRIVING, PARKED, AVAILABLE, SERVING = ch.DRIVING, ch.PARKED, ch.AVAILABLE, ch.SERVING
_TOL_WH = TOL_WH
_INF = float("inf")
#: a batched car is job-metered at its charge limit only if the charger covers this much more than
#: its largest load (the awake car and the chip at full power), float round-off included
_COVER_MARGIN = 1.0 + 1e-9
#: each power the vehicle holds (W) and its recorder level, in the order ``_apply`` updates them
_POWER_LEVELS = (("p_drive", P_DRIVING), ("p_active", P_ACTIVE), ("p_idle", P_IDLE),
                 ("p_overhead", P_OVERHEAD), ("p_sleep", P_SLEEP), ("p_closs", P_CHARGE_LOSS),
                 ("p_dloss", P_DISCHARGE_LOSS), ("p_batt", P_BATTERY), ("p_grid", P_GRID))


def _covered_slots(base_w: float, slot_w: float, charger_out_w: float, slots: int) -> int:
    """The most busy slots (0..``slots``) whose load ``base_w + slot_w * busy`` (W) does not exceed
    ``charger_out_w`` (W), with the same float expression as :meth:`Vehicle._apply`'s test; -1 if
    even the base load exceeds it."""
    k = slots
    while k >= 0 and base_w + slot_w * k > charger_out_w:
        k -= 1
    return k


@dataclass(frozen=True)
class VehicleSpec:
    """Static parameters shared by the vehicles of one model."""

    battery: BatterySpec = field(default_factory=BatterySpec)
    chip: ChipSpec = field(default_factory=lambda: CHIP_PRESETS["hw4"])
    home_charger: ChargerSpec = field(default_factory=ChargerSpec)
    # Charger at work for the cars with workplace access (grid.chargers preset workplace_l2).
    workplace_charger: ChargerSpec = field(default_factory=lambda: CHARGER_PRESETS["workplace_l2"])
    # A car plugs in at home (or its depot) only below this state of charge; 1 = always.
    plug_below_soc: float = 1.0
    # Unplugged, a car stops serving at this state of charge at the latest (0: only its guard).
    serve_floor_soc: float = 0.0
    # A robotaxi charging (or in line for a stall) declines rides below this state of charge.
    ready_soc: float = 0.0
    #: "personal" or "robotaxi"
    profile: str = "personal"
    # Model 3 LR AWD 2024: 259 Wh/mi EPA, wall to wheels (facts.md §2: insideevs.com/news/719013)
    # = 160.9 Wh/km at the wall; x 0.90 charging efficiency (emobpy default) = 144.8 Wh/km at the
    # battery terminals.
    driving_wh_per_km: float = param(144.8, doc="driving consumption at the battery, Wh/km; EPA 259 Wh/mi x 0.90 "
                                     "(facts.md §2)", lo=0.0, lo_open=True, hi=1e4)
    # Awake car, computer and cameras on: 250-350 W measured (facts.md §1: freeteslacharging.com;
    # tesladiyrepair.com; model3.info), emobpy auxiliary load 300 W.
    awake_overhead_w: float = param(300.0, doc="awake-car overhead without the chip, W; 250-350 W measured "
                                    "(facts.md §1)", lo=0.0, hi=1e5)
    # Asleep: Model 3 loses ~5.5 km/24 h (facts.md §1) x 150 Wh/km = 825 Wh/day = 34 W (derived).
    sleep_w: float = param(34.0, doc="asleep drain, W; 5.5 km/24 h x 150 Wh/km (facts.md §1)", lo=0.0, hi=1e5)
    # Public DC fast charger used for an en-route top-up when a trip would otherwise empty the
    # battery: 90-93 % efficient (facts.md §2: nenpower.com; support.evcs.com; veic.org).
    public_dc_efficiency: float = param(0.92, doc="efficiency of an en-route DC fast top-up; 90-93 % (facts.md §2); "
                                        + EFFICIENCY_FLOOR, **EFFICIENCY)
    #: chip power per busy slot above idle (W), derived from the chip
    slot_active_w: float = field(init=False)
    #: what one busy slot is billed (W): its active power plus its share of the idle chip and
    #: the awake car, ``slot_active_w + (idle_w + awake_overhead_w) / slots``
    slot_served_w: float = field(init=False)
    #: the active part of a busy slot's bill, ``slot_active_w / slot_served_w`` (0 if nothing is billed)
    slot_active_share: float = field(init=False)

    def __post_init__(self) -> None:
        chip = self.chip
        object.__setattr__(self, "slot_active_w", (chip.active_w - chip.idle_w) / chip.slots)
        served = self.slot_active_w + (chip.idle_w + self.awake_overhead_w) / chip.slots
        object.__setattr__(self, "slot_served_w", served)
        object.__setattr__(self, "slot_active_share", self.slot_active_w / served if served > 0.0 else 0.0)


class Vehicle(ChargingSessions, JobBilling):
    """State and energy accounting of one car; ``run`` is its SimPy process.

    Charging sessions and depots are in :mod:`fleet.vehicle_sessions`, billing in
    :mod:`fleet.vehicle_billing`.
    """

    __slots__ = (
        "vid",
        "ctx",
        "spec",
        "opted_in",
        "has_home_charger",
        "weight",
        # dynamic state
        "state",
        "place",
        "plugged",
        "connected",
        "full",
        "low",
        "step",
        "busy",
        "jobs",
        "energy_wh",
        "t_s",
        "guard_wh",
        "next_departure_s",
        # powers in force since t_s (W)
        "trip_w",
        "p_drive",
        "p_active",
        "p_idle",
        "p_overhead",
        "p_sleep",
        "p_grid",
        "p_closs",
        "p_dloss",
        "p_batt",
        # what the recorder currently holds for this vehicle
        "r_state",
        "r_online_slots",
        "r_busy",
        "r_charging",
        "r_plugged",
        "r_offline",
        # threshold event
        "check_event",
        "check_at",
        # per-vehicle accounts (Wh) and counters
        "e_drive",
        "e_infer",
        "e_sleep",
        "e_loss",
        "e_infer_batt_since_plug",
        "meter",
        "trips",
        "km",
        "trips_impacted",
        "fast_charges",
        "jobs_done",
        "tokens_done",
        "preempted",
        # dispatcher index bookkeeping, own job queue (vehicle queueing) and predicted departure
        "bucket",
        "bucket_pos",
        "local",
        "dep_pred_s",
        # average-cost battery content: carbon (g/Wh) and cost ($/Wh) of the stored energy
        "batt_g_per_wh",
        "batt_usd_per_wh",
        # cost ($) and CO2 (g) of the inference energy; the idle chip and awake car are billed
        # up to base_t, the busy slots' active power when each job run ends
        "infer_usd",
        "infer_g",
        "base_t",
        "table",  # the shared price/carbon table (exact cumulative integrals)
        # smart charging: planned windows of this plug-in session, the pending window event,
        # the energy the next tour needs at departure (Wh), and counters
        "windows",
        "window_event",
        "need_wh",
        "charge_fallbacks",
        "charge_shortfalls",
        # the charger in use while plugged, its power now (its step power within the site's
        # budget, W), workplace access, and the home/depot site (None: a private charger)
        "charger",
        "p_charger_w",
        "has_workplace_charger",
        "site",
        "at_site",
        # where the car's grid draw is metered while plugged (the depot, or its home's demand meter
        # when the household tariff has demand charges; None: nowhere), and that home meter
        "draw_site",
        "home_demand",
        "waiting",
        "site_floor_w",
        "site_want_w",
        "site_budget_w",
        "rides_declined",
        # Job metering, plugged at the charge limit (see change_slots): the recorder's folded
        # level that holds the busy slots, or (batched) the chip's active power (-1: not
        # job-metered), the most busy slots the charger covers, and what was billed but not yet
        # added to the meter and the energy accounts: level-unit-seconds (slot-s, or W·s), and
        # their price ($·s/kWh per unit) and carbon (g·s/kWh per unit) integrals
        "m_level",
        "cover_busy",
        "m_slot_s",
        "m_price",
        "m_carbon",
        # Batched serving (fleet.batching; None: slots mode): the chip's server, the batch the
        # dispatcher may fill (busy + 1 while the chip takes another job; the slots in slots mode),
        # and the per-job bill accumulated since the start: a job's share of the car's inference
        # power (all of it, and its chip's active part) as Wh, $ and g, up to b_t (s), with the
        # chip's active power billed since b_t (W: p_active, unless job-metered)
        "server",
        "cap",
        "b_act_w",
        # the pending start or end of a link outage (None: none planned), and when the outage under
        # way ends (s; inf: the link is up)
        "outage_event",
        "outage_end_s",
        "b_t",
        "b_wh",
        "b_act_wh",
        "b_usd",
        "b_g",
        "b_act_usd",
        "b_act_g",
    )

    #: meter the busy slots of a car at its charge limit per job run (False: at every slot change,
    #: the reference the tests compare against; the totals agree to rounding)
    JOB_METERING = True

    def __init__(
        self,
        vid: int,
        ctx,
        spec: VehicleSpec,
        energy_wh: float,
        opted_in: bool,
        has_home_charger: bool,
        meter,
        weight: float = 1.0,
    ) -> None:
        self.vid = vid
        self.ctx = ctx
        self.spec = spec
        self.opted_in = opted_in
        self.has_home_charger = has_home_charger
        self.weight = weight
        self.state = PARKED
        self.place = HOME
        self.plugged = False
        self.connected = False
        self.full = False
        self.low = False
        self.step = 0
        self.busy = 0
        self.jobs = []
        self.energy_wh = energy_wh
        self.t_s = 0.0
        self.guard_wh = 0.0
        self.next_departure_s = _INF
        self.trip_w = 0.0
        self.p_drive = self.p_active = self.p_idle = self.p_overhead = self.p_sleep = 0.0
        self.p_grid = self.p_closs = self.p_dloss = self.p_batt = 0.0
        self.r_state = -1
        self.r_online_slots = 0
        self.r_busy = 0
        self.r_charging = False
        self.r_plugged = False
        self.r_offline = -1
        self.check_event = None
        self.check_at = _INF
        self.e_drive = self.e_infer = self.e_sleep = self.e_loss = 0.0
        self.e_infer_batt_since_plug = 0.0
        self.meter = meter
        self.trips = 0
        self.km = 0.0
        self.trips_impacted = 0
        self.fast_charges = 0
        self.jobs_done = 0
        self.tokens_done = 0
        self.preempted = 0
        self.bucket = -1
        self.bucket_pos = -1
        self.local = None
        self.dep_pred_s = _INF
        self.batt_g_per_wh, self.batt_usd_per_wh = ctx.battery_content0
        self.infer_usd = self.infer_g = 0.0
        self.base_t = 0.0
        self.table = meter.table
        self.windows = None
        self.window_event = None
        self.need_wh = 0.0
        self.charge_fallbacks = 0
        self.charge_shortfalls = 0
        self.charger = spec.home_charger
        self.p_charger_w = 0.0
        self.has_workplace_charger = False
        self.site = None
        self.at_site = False
        self.draw_site = None
        self.home_demand = None
        self.waiting = False
        self.site_floor_w = self.site_want_w = self.site_budget_w = 0.0
        self.rides_declined = 0
        self.m_level = -1
        self.cover_busy = 0
        self.m_slot_s = self.m_price = self.m_carbon = 0.0
        self.server = None
        self.cap = spec.chip.slots
        self.outage_event = None
        self.outage_end_s = _INF
        self.b_t = 0.0
        self.b_act_w = 0.0
        self.b_wh = self.b_act_wh = self.b_usd = self.b_g = self.b_act_usd = self.b_act_g = 0.0

    # ------------------------------------------------------------------ read-only helpers
    @property
    def soc(self) -> float:
        """State of charge at the last settled instant (0..1)."""
        return self.energy_wh / self.spec.battery.capacity_wh

    @property
    def job_metered(self) -> bool:
        """Whether its busy slots are metered per job run (plugged at the charge limit, online)."""
        return self.m_level >= 0

    @property
    def grid_w(self) -> float:
        """Power drawn from the grid now (W), busy slots at the charge limit included."""
        if self.m_level >= 0:
            return self.p_grid + self._metered_units() * self.ctx.metered_grid_w[self.m_level]
        return self.p_grid

    def _metered_units(self) -> float:
        """What the car holds in its job-metered level: its busy slots, or (batched) its chip's
        active power (W)."""
        return self.busy if self.server is None else self.b_act_w

    @property
    def free_slots(self) -> int:
        """Free chip slots if online, else 0."""
        if self.state == AVAILABLE or self.state == SERVING:
            return self.cap - self.busy
        return 0

    # ------------------------------------------------------------------ the process
    def run(self):
        """SimPy process: follow each day's itinerary; parking and serving happen between trips."""
        ctx = self.ctx
        env = ctx.env
        vid = self.vid
        day = 0
        self._arrive_home_at_start()
        planner = ctx.planner
        while planner.has_day(day):
            plan = planner.day(day)
            a, b = plan.offsets[vid], plan.offsets[vid + 1]
            for k in range(a, b):
                dep = plan.depart_s[k]
                if dep > env.now:
                    yield Timeout(env, dep - env.now)
                if self.spec.ready_soc and self._declines(env.now):
                    self._decline(env.now, plan, k, b, day)
                    continue
                duration = plan.arrive_s[k] - dep
                self._depart(env.now, plan.distance_km[k], duration)
                yield Timeout(env, duration)
                self._arrive(env.now, plan, k, b, day)
            day += 1

    # ------------------------------------------------------------------ trips
    def _arrive_home_at_start(self) -> None:
        """Place the car at home, parked, at time 0."""
        plan = self.ctx.planner.day(0)
        a = plan.offsets[self.vid]
        b = plan.offsets[self.vid + 1]
        if b > a:
            self._park_home(0.0, plan.depart_s[a], plan.distance_km[a] + plan.km_after[a], plan.arrive_s[b - 1])
        else:
            self._park_home(0.0, *self.ctx.planner.next_tour(self.vid, 0))

    def _park_home(self, now: float, depart_s: float, tour_km: float, back_s: float) -> None:
        """Park at home (a robotaxi: its depot) until ``depart_s``; unplugged, keep the next tour's energy."""
        self.next_departure_s = depart_s
        spec = self.spec
        bat = spec.battery
        self.need_wh = min(bat.charge_limit_soc * bat.capacity_wh, bat.reserve_soc * bat.capacity_wh
                           + tour_km * spec.driving_wh_per_km / bat.discharge_efficiency)
        if self.has_home_charger and (self.energy_wh < spec.plug_below_soc * bat.capacity_wh
                                      or self.energy_wh < self.need_wh):
            site = self.site
            if site is None or site.has_free_stall():
                self._park(now, HOME, 0.0, depart_s, spec.home_charger if site is None else site.spec.charger)
                return
            if site.spec.when_full == "wait":
                site.wait(self, now)
                self.waiting = True
            else:
                site.turned_away += 1
        self._park(now, HOME, tour_km, back_s)
        if self.waiting:  # a car already at its limit gives up its stall to the line
            for m in self.site.plugged:
                mb = m.spec.battery
                if m.energy_wh >= mb.charge_limit_soc * mb.capacity_wh - _TOL_WH:
                    m._settle(now)
                    m._leave_stall(now)
                    break

    def _depart(self, now: float, distance_km: float, duration_s: float) -> None:
        """Leave the parking spot: preempt jobs, unplug, start driving at constant power."""
        ctx = self.ctx
        self._settle(now)
        if self.jobs:
            ctx.dispatcher.preempt_all(self, now, "departure")
        if self.server is not None:  # the chip drives: the models in its memory are lost
            self.server.power_down()
        if self.plugged:
            if self.energy_wh < self.need_wh - _TOL_WH:
                self.charge_shortfalls += 1
            self.windows = self.window_event = None
        spec = self.spec
        bat = spec.battery
        trip_wh = distance_km * spec.driving_wh_per_km
        draw_wh = trip_wh / bat.discharge_efficiency
        floor_wh = bat.reserve_soc * bat.capacity_wh
        after_wh = self.energy_wh - draw_wh
        if after_wh < floor_wh:
            # Counterfactual: without the battery energy inference used since the car was last
            # plugged, would this trip have ended above the reserve?
            infer_wh = self.e_infer_batt_since_plug / bat.discharge_efficiency
            if infer_wh > 0.0 and after_wh + infer_wh >= floor_wh:
                self.trips_impacted += 1
            if after_wh < 0.05 * bat.capacity_wh:
                self._fast_charge(now, floor_wh + draw_wh - self.energy_wh)
        self.state = DRIVING
        self.plugged = False
        self.full = False
        self.low = False
        self.connected = False
        self.outage_event = None
        self.outage_end_s = _INF
        self.next_departure_s = _INF
        self.trip_w = trip_wh * 3600.0 / duration_s
        self.trips += 1
        self.km += distance_km
        ctx.rec.count(ch.C_TRIPS, self.weight)
        self._apply(now)
        self.draw_site = None  # unplugged: the draw is 0 from now on
        if self.at_site:
            self._unplug_site(now)
        elif self.waiting:
            self.site.stop_waiting(self, now)
            self.waiting = False
        ctx.dispatcher.vehicle_changed(self)

    def _fast_charge(self, now: float, energy_wh: float) -> None:
        """Instant en-route top-up of ``energy_wh`` at a public DC charger, bought at ``now``."""
        eff = self.spec.public_dc_efficiency
        grid_wh = energy_wh / eff
        e0 = self.energy_wh
        price, carbon = self.meter.prices_at(now)  # $/kWh, g/kWh
        self.batt_g_per_wh = (self.batt_g_per_wh * e0 + grid_wh * carbon / 1000.0) / (e0 + energy_wh)
        self.batt_usd_per_wh = (self.batt_usd_per_wh * e0 + grid_wh * price / 1000.0) / (e0 + energy_wh)
        self.energy_wh += energy_wh
        self.e_loss += grid_wh - energy_wh
        self.fast_charges += 1
        self.meter.add_energy(now, grid_wh)
        rec = self.ctx.rec
        rec.add_integral(ch.P_GRID, grid_wh * 3600.0 * self.weight)
        rec.add_integral(ch.P_CHARGE_LOSS, (grid_wh - energy_wh) * 3600.0 * self.weight)
        rec.add_integral(ch.P_BATTERY, energy_wh * 3600.0 * self.weight)

    def _arrive(self, now: float, plan, k: int, end: int, day: int) -> None:
        """End trip ``k`` of today's plan and park at its destination."""
        self._settle(now)
        self.trip_w = 0.0
        if k + 1 >= end:  # the day's last trip ends at home
            self._park_home(now, *self.ctx.planner.next_tour(self.vid, day))
            return
        nxt = k + 1
        dest = plan.destination
        j = nxt  # the last trip of the tour under way or starting next: back home then
        while j < end - 1 and dest[j] != HOME:
            j += 1
        if dest[k] == HOME:  # a tour ended at home and another starts later today (robotaxi rides)
            self._park_home(now, plan.depart_s[nxt], plan.distance_km[nxt] + plan.km_after[nxt], plan.arrive_s[j])
        else:
            self.next_departure_s = plan.depart_s[nxt]
            self._park(now, dest[k], plan.km_after[k], plan.arrive_s[j])

    def _park(self, now: float, place: int, remaining_km: float, back_s: float,
              charger: ChargerSpec | None = None) -> None:
        """Park at ``place``, plugged into ``charger`` if given (or at work with access); go online if allowed.

        ``remaining_km`` is what is left of today's tour and ``back_s`` the time the car is next
        at a charger (the tour's home arrival, or the next departure when plugged).
        """
        ctx = self.ctx
        spec = self.spec
        bat = spec.battery
        self.place = place
        if charger is None and place == WORK and self.has_workplace_charger:
            charger = spec.workplace_charger
            self.need_wh = min(bat.charge_limit_soc * bat.capacity_wh, bat.reserve_soc * bat.capacity_wh
                               + remaining_km * spec.driving_wh_per_km / bat.discharge_efficiency)
        self.plugged = charger is not None
        if self.plugged:
            self._plug(now, charger)
        self.connected = self.opted_in and (place == HOME or ctx.rng.random() < ctx.away_connectivity)
        self.outage_event = None
        self.outage_end_s = _INF
        if self.connected and ctx.links is not None:
            self._plan_outage(now)
        if self.plugged and not self.full and self._strategy_signal() is not None:
            self._plan_charging(now)
        # Keep enough for the rest of today's tour, the reserve, and sleep until back home.
        park_s = back_s - now if back_s < _INF else 0.0
        self.guard_wh = max(
            bat.reserve_soc * bat.capacity_wh
            + remaining_km * spec.driving_wh_per_km / bat.discharge_efficiency
            + spec.sleep_w * park_s / 3600.0 / bat.discharge_efficiency,
            spec.serve_floor_soc * bat.capacity_wh,
        )
        self.low = not self.plugged and self.energy_wh <= self.guard_wh + _TOL_WH
        self.state = AVAILABLE if self._can_serve() else PARKED
        if ctx.departure_rng is not None:  # what a dispatcher with predicted departures believes
            dep = self.next_departure_s
            self.dep_pred_s = max(now, dep + ctx.departure_rng.gauss(0.0, ctx.departure_error_s)) \
                if dep < _INF else _INF
        self._apply(now)
        ctx.dispatcher.vehicle_changed(self)

    def _can_serve(self) -> bool:
        return self.connected and not self.low

    # ------------------------------------------------------------------ jobs (called by the dispatcher)
    def change_slots(self, job, now: float, delta: int) -> None:
        """Occupy (``delta`` = 1) or free (``delta`` = -1: completion or preemption) one chip slot
        with ``job`` at ``now`` on an online car, and account the change.

        This is :meth:`_apply`'s fast path for a change of busy slots: only the chip's active
        power, the state (available/serving) and what feeds the load change: the grid at the
        charge limit, else the battery. A battery with discharge losses, or a tapered charger that
        no longer covers the load, takes the general path.

        A car plugged at its charge limit (``job_metered``) settles nothing here: its own powers
        exclude its busy slots and stay constant, each job's run adds its slot's energy to the
        car and its grid meter when billed (:meth:`bill_job`), and the recorder holds the busy
        slots in one folded level for the car's chip and charger (:meth:`_metered_level`). With
        batched serving the folded level holds the chip's active power (W) instead, when the
        charger covers the chip at full power: each change bills the jobs (as always), moves the
        busy count and the level, and settles nothing else.
        """
        server = self.server
        if server is not None:  # batched: the chip's power comes from its server
            self._advance_batch_bill(now)
            if delta > 0:
                self.jobs.append(job)
                job.bill_mark = (self.b_wh, self.b_act_wh, self.b_usd, self.b_g, self.b_act_usd, self.b_act_g)
                job.run_mark = self.b_act_wh
            elif delta < 0:
                self.jobs.remove(job)
            i = self.m_level
            if i >= 0:  # the chip's active power, its grid draw and losses in one folded level
                busy = self.busy + delta
                self.busy = busy
                rec = self.ctx.rec
                w = self.weight
                if delta:
                    state = SERVING if busy else AVAILABLE
                    rec.add_moving(BUSY_SLOTS, delta * w, self.state, state, w, now)
                    self.state = self.r_state = state
                    self.r_busy = busy
                act = server.active_w
                d = act - self.b_act_w
                if d:
                    rec.add(i, d * w, now)
                    self.b_act_w = act
                    if self.draw_site is not None:
                        self.draw_site.add_draw(now, d * self.ctx.metered_grid_w[i])
                self.cap = busy + 1 if server.has_room() else busy
                return
        else:
            if delta > 0:
                self.jobs.append(job)
            else:
                self.jobs.remove(job)
            i = self.m_level
        if i >= 0:  # busy slots, chip power, grid draw and charger losses in one folded level
            busy = self.busy + delta
            self.busy = busy
            state = SERVING if busy else AVAILABLE
            w = self.weight
            self.ctx.rec.add_moving(i, delta * w, self.state, state, w, now)
            self.state = self.r_state = state
            if self.draw_site is not None:
                self.draw_site.add_draw(now, delta * self.ctx.metered_grid_w[i])
            if busy > self.cover_busy:  # the charger no longer covers the load: general path
                self._settle(now)
                self._apply(now)
            return
        dt = now - self.t_s
        if dt > 0.0:  # _settle, inlined; an online car has no driving or sleep power
            h = dt / 3600.0
            if self.p_batt > 0.0:
                self._charge_content(now, self.p_batt * h)
            self.energy_wh += self.p_batt * h
            infer = (self.p_active + self.p_idle + self.p_overhead) * h
            self.e_infer += infer
            if not self.plugged:
                self.e_infer_batt_since_plug += infer
            self.e_loss += (self.p_closs + self.p_dloss) * h
            self.t_s = now
        busy = self.busy + delta
        self.busy = busy
        state = SERVING if busy else AVAILABLE
        spec = self.spec
        if server is None:
            p_active = spec.slot_active_w * busy
        else:
            p_active = server.active_w
            self.cap = busy + 1 if server.has_room() else busy
        load = self.p_overhead + self.p_idle + p_active
        plugged = self.plugged
        if plugged:
            p_batt = self.charger.efficiency * self.p_charger_w - load
            general = p_batt < 0.0 or self.p_dloss != 0.0
            if self.full:
                p_batt = 0.0
        else:
            p_batt = -load
            general = spec.battery.discharge_efficiency != 1.0
        if general:
            self.state = state
            self._apply(now)
            return
        w = self.weight
        rec = self.ctx.rec
        add = rec.add
        rec.add_moving(BUSY_SLOTS, delta * w, self.state, state, w, now)
        self.state = self.r_state = state
        self.r_busy = busy
        add(P_ACTIVE, (p_active - self.p_active) * w, now)
        self.p_active = self.b_act_w = p_active
        if plugged and self.full:  # at the charge limit: the charger covers the load
            eff = self.charger.efficiency
            p_grid = load / eff
            p_closs = p_grid * (1.0 - eff)
            add(P_GRID, (p_grid - self.p_grid) * w, now)
            add(P_CHARGE_LOSS, (p_closs - self.p_closs) * w, now)
            if self.draw_site is not None:
                self.draw_site.add_draw(now, p_grid - self.p_grid)
            self.p_grid = p_grid
            self.p_closs = p_closs
            self.meter.set_power(now, p_grid)
        else:  # the battery takes the change (charging slower, or discharging faster)
            add(P_BATTERY, (p_batt - self.p_batt) * w, now)
            self.p_batt = p_batt
            self._plan_threshold(now)

    def chip_power_changed(self, now: float) -> None:
        """The chip's server changed its power at ``now`` with the same jobs (a prefill ended)."""
        self.change_slots(None, now, 0)

    # ------------------------------------------------------------------ energy
    def _settle(self, now: float) -> None:
        """Integrate the constant powers of the segment ``[t_s, now]``."""
        self._bill_base(now)
        if self.server is not None:
            self._advance_batch_bill(now)
        dt = now - self.t_s
        if dt > 0.0:
            h = dt / 3600.0
            if self.p_batt > 0.0:
                self._charge_content(now, self.p_batt * h)
            self.energy_wh += self.p_batt * h
            infer = (self.p_active + self.p_idle + self.p_overhead) * h
            self.e_infer += infer
            if not self.plugged:
                self.e_infer_batt_since_plug += infer
            self.e_loss += (self.p_closs + self.p_dloss) * h
            self.e_drive += self.p_drive * h
            self.e_sleep += self.p_sleep * h
            self.t_s = now

    def _apply(self, now: float) -> None:
        """Derive powers from the state, push deltas to the recorder and meter, plan thresholds.

        Call after :meth:`_settle` at ``now`` and after changing the state fields.
        """
        spec = self.spec
        chip = spec.chip
        bat = spec.battery
        w = self.weight
        state = self.state
        if state == DRIVING:
            p_active = p_idle = p_overhead = p_sleep = 0.0
            load = self.trip_w
        elif state == PARKED:
            p_active = p_idle = p_overhead = 0.0
            p_sleep = load = spec.sleep_w
        else:
            p_sleep = 0.0
            p_overhead = spec.awake_overhead_w
            p_idle = chip.idle_w
            server = self.server
            p_active = spec.slot_active_w * self.busy if server is None else server.active_w
            load = p_overhead + p_idle + p_active
        charging = False
        p_dloss = 0.0
        if self.plugged:
            charger = self.charger
            eff = charger.efficiency
            step_w = charger.step_powers_w[self.step]
            if self.at_site:  # the site's cap may hold the charger below its step power
                want = self.site_floor_w if self.full else max(step_w, self.site_floor_w)
                if want != self.site_want_w:
                    self.site_want_w = want
                    for m in self.site.allocate():
                        if m is not self:
                            m._rebudget(now)
                step_w = min(step_w, self.site_budget_w)
            self.p_charger_w = step_w
            if self.full and load > eff * step_w:
                self.full = False  # the charger cannot cover the load: the battery drains
            if self.full:
                p_grid = load / eff
                p_batt = 0.0
            else:
                charging = True
                p_grid = step_w
                p_batt = eff * p_grid - load
                if p_batt < 0.0:  # loads exceed the tapered charger: the battery covers the rest
                    deficit = -p_batt
                    p_batt = -deficit / bat.discharge_efficiency
                    p_dloss = deficit * (1.0 / bat.discharge_efficiency - 1.0)
            p_closs = p_grid * (1.0 - eff)
        else:
            p_grid = p_closs = 0.0
            p_batt = -load / bat.discharge_efficiency
            p_dloss = load * (1.0 / bat.discharge_efficiency - 1.0)
        grid_w_held = self.grid_w  # what the site holds for this car
        grid_w_now = p_grid
        held_level = self.m_level  # while >= 0, this level holds the car's busy slots (batched: chip W)
        held_units = self._metered_units()
        self.b_act_w = p_active
        m_level = -1
        if (self.JOB_METERING and self.plugged and self.full and (state == AVAILABLE or state == SERVING)
                and (self.server is None or (p_overhead + chip.active_w) * _COVER_MARGIN <= eff * step_w)):
            m_level = self._metered_level(eff)
        if m_level != held_level:  # bill the running jobs' runs so far under the old mode
            for job in self.jobs:
                self.bill_job(job, now)
        if self.m_slot_s:
            self._flush_metered()
        busy = self.busy
        r_busy = busy
        units = self._metered_units()
        if m_level >= 0:  # the busy slots go to the folded level; the car's own powers exclude them
            base = p_overhead + p_idle
            if self.server is None:
                self.cover_busy = _covered_slots(base, spec.slot_active_w, eff * step_w, chip.slots)
                r_busy = 0
            p_active = 0.0
            p_grid = base / eff
            p_closs = p_grid * (1.0 - eff)

        # Recorder updates, each scaled by weight.
        changes = []
        if state != self.r_state:
            if self.r_state >= 0:
                changes.append((self.r_state, -w))
            changes.append((state, w))
            self.r_state = state
        if state == PARKED:
            offline = OFF_OPTED_OUT if not self.opted_in else OFF_NO_CONNECTION if not self.connected else OFF_LOW
        else:
            offline = -1
        if offline != self.r_offline:
            if self.r_offline >= 0:
                changes.append((self.r_offline, -w))
            if offline >= 0:
                changes.append((offline, w))
            self.r_offline = offline
        online_slots = chip.slots if (state == AVAILABLE or state == SERVING) else 0
        if online_slots != self.r_online_slots:
            d = (online_slots - self.r_online_slots) * w
            changes.append((ONLINE_SLOTS, d))
            changes.append((ONLINE_CHIP_W, d * chip.active_w / chip.slots))
            self.r_online_slots = online_slots
        if r_busy != self.r_busy:
            changes.append((BUSY_SLOTS, (r_busy - self.r_busy) * w))
            self.r_busy = r_busy
        if m_level != held_level or units != held_units:
            if held_level >= 0 and held_units:
                changes.append((held_level, -held_units * w))
            if m_level >= 0 and units:
                changes.append((m_level, units * w))
            self.m_level = m_level
        if charging != self.r_charging:
            changes.append((CHARGING, w if charging else -w))
            self.r_charging = charging
        if self.plugged != self.r_plugged:
            changes.append((PLUGGED, w if self.plugged else -w))
            self.r_plugged = self.plugged
        p_drive = self.trip_w if state == DRIVING else 0.0
        old_grid_w = self.p_grid
        powers = (p_drive, p_active, p_idle, p_overhead, p_sleep, p_closs, p_dloss, p_batt, p_grid)
        for (name, i), p in zip(_POWER_LEVELS, powers):
            old = getattr(self, name)
            if p != old:
                changes.append((i, (p - old) * w))
                setattr(self, name, p)
        if p_grid != old_grid_w:
            self.meter.set_power(now, p_grid)
        if self.draw_site is not None and grid_w_now != grid_w_held:
            self.draw_site.add_draw(now, grid_w_now - grid_w_held)
        self.ctx.rec.add_changes(changes, now)
        self._plan_threshold(now)

    def _flush_metered(self) -> None:
        """Add the job-metered busy slots (batched: chip power) billed so far to the grid meter and
        the energy accounts."""
        grid_w = self.ctx.metered_grid_w[self.m_level]  # per unit of the level
        slot_s = self.m_slot_s
        unit_w = self.spec.slot_active_w if self.server is None else 1.0  # active W per unit
        self.meter.add_draw(grid_w * slot_s, grid_w * self.m_price, grid_w * self.m_carbon)
        self.e_infer += unit_w * slot_s / 3600.0
        self.e_loss += grid_w * (1.0 - self.charger.efficiency) * slot_s / 3600.0
        self.m_slot_s = self.m_price = self.m_carbon = 0.0

    def _metered_level(self, eff: float) -> int:
        """The recorder's folded level for this car's busy slots at the charge limit through a
        charger of efficiency ``eff`` (its grid W per unit: ``ctx.metered_grid_w[level]``).

        One unit of the level is one busy slot: it counts in the busy slots, its active power in
        the chip's, its grid draw (active / eff) in the grid's and the difference in the charger
        losses. Cars with the same slot power and charger efficiency share the level. With
        batched serving one unit is 1 W of the chip's active power, and the busy slots (the
        jobs held) stay in their own level.
        """
        ctx = self.ctx
        batched = self.server is not None
        active_w = 1.0 if batched else self.spec.slot_active_w
        key = (batched, active_w, eff)
        i = ctx.metered_levels.get(key)
        if i is None:
            grid_w = active_w / eff
            coefficients = ((P_ACTIVE, active_w), (P_GRID, grid_w), (P_CHARGE_LOSS, grid_w * (1.0 - eff)))
            i = ctx.rec.add_fold(coefficients if batched else ((BUSY_SLOTS, 1.0),) + coefficients)
            ctx.metered_levels[key] = i
            ctx.metered_grid_w[i] = grid_w
        return i

    # ------------------------------------------------------------------ thresholds
    def _next_threshold_s(self, now: float) -> float:
        """Exact time of the next internal threshold under the current powers (inf if none)."""
        p = self.p_batt
        if self.plugged:
            if self.full or p == 0.0:
                return _INF
            bat = self.spec.battery
            charger = self.charger
            cap = bat.capacity_wh
            if p > 0.0:  # charging up to the end of this taper step or the limit
                target_soc = min(charger.step_upper_soc(self.step), bat.charge_limit_soc)
                return now + max(0.0, target_soc * cap - self.energy_wh) * 3600.0 / p
            # The load exceeds the charger's output at this step: the battery drains, and a
            # serving car stops at its reserve. (The step does not go back down while plugged:
            # a conservative simplification that avoids chattering across a step boundary.)
            if self.state in (AVAILABLE, SERVING):
                return now + max(0.0, self.energy_wh - bat.reserve_soc * cap) * 3600.0 / -p
            return _INF
        if self.state in (AVAILABLE, SERVING) and p < 0.0:
            return now + max(0.0, self.energy_wh - self.guard_wh) * 3600.0 / -p
        return _INF

    def _plan_threshold(self, now: float) -> None:
        """Schedule the next threshold if it comes before both the planned one and departure.

        A threshold at or after the next departure needs no event: departing settles the
        segment and the next parking plans its own thresholds.
        """
        t = self._next_threshold_s(now)
        if t < self.check_at and t < self.next_departure_s:
            self.check_event = call_later(self.ctx.env, t - now, self._on_threshold)
            self.check_at = t

    def _on_threshold(self, ev) -> None:
        if ev is not self.check_event:
            return  # superseded by an earlier threshold
        self.check_event = None
        self.check_at = _INF
        now = self.ctx.env.now
        self._settle(now)
        bat = self.spec.battery
        cap = bat.capacity_wh
        if self.plugged and not self.full:
            charger = self.charger
            e = self.energy_wh
            if self.p_batt > 0.0:
                reached = True
                if e >= bat.charge_limit_soc * cap - _TOL_WH:
                    self.full = True
                    if self.at_site and self.site.waiting:
                        self._leave_stall(now)  # free the stall for the next car in line
                        return
                elif e >= charger.step_upper_soc(self.step) * cap - _TOL_WH:
                    self.step += 1
                else:
                    reached = False  # an earlier plan that the powers have since pushed back
                if reached and self.low:  # charged up a step since it hit the reserve: serve again
                    self.low = False
                    self.state = AVAILABLE if self._can_serve() else PARKED
                    self._apply(now)
                    self.ctx.dispatcher.vehicle_changed(self)
                    return
            elif self.p_batt < 0.0:
                if self.state in (AVAILABLE, SERVING) and e <= bat.reserve_soc * cap + _TOL_WH:
                    self._stop_serving(now)
                    return
            self._apply(now)
        elif not self.plugged and self.state in (AVAILABLE, SERVING):
            if self.energy_wh <= self.guard_wh + _TOL_WH:
                self._stop_serving(now)
            else:
                self._plan_threshold(now)
        else:
            self._plan_threshold(now)

    # ------------------------------------------------------------------ link outages
    def link(self):
        """The link the car uses where it is parked now (fleet.network.LinkSpec): home or away."""
        return self.ctx.links[0 if self.place == HOME else 1]

    def _plan_outage(self, now: float) -> None:
        """Plan the link's next outage, if it comes before the car leaves."""
        link = self.link()
        if link.outages_per_day <= 0.0:
            return
        t = now + self.ctx.network_rng.expovariate(link.outages_per_day / 86400.0)
        if t < self.next_departure_s:
            self.outage_event = call_later(self.ctx.env, t - now, self._on_outage, True)

    def _plan_outage_end(self, now: float) -> None:
        """Plan the end of the outage under way, if it comes before the car leaves."""
        if self.outage_end_s < self.next_departure_s:
            self.outage_event = call_later(self.ctx.env, self.outage_end_s - now, self._on_outage, False)

    def replan_link(self, now: float) -> None:
        """The car stays longer than planned (it declined a ride): plan its link's next outage, or
        the end of the one under way, in the extra time."""
        if self.ctx.links is None or self.outage_event is not None:
            return
        if self.outage_end_s < _INF:
            self._plan_outage_end(now)
        elif self.connected:
            self._plan_outage(now)

    def _on_outage(self, ev) -> None:
        """The link goes down (``ev.value`` True: preempt the jobs, go offline) or comes back."""
        if ev is not self.outage_event:
            return  # the car left since
        ctx = self.ctx
        now = ctx.env.now
        self._settle(now)
        self.outage_event = None
        if ev.value:
            if self.jobs:
                ctx.dispatcher.preempt_all(self, now, "outage")
            self.connected = False
            link = self.link()
            self.outage_end_s = now + link.outage_median_s * math.exp(ctx.network_rng.gauss(0.0, 1.0))
            self._plan_outage_end(now)
        else:
            self.connected = True
            self.outage_end_s = _INF
            self._plan_outage(now)
        self.state = AVAILABLE if self._can_serve() else PARKED
        self._apply(now)
        ctx.dispatcher.vehicle_changed(self)

    def _stop_serving(self, now: float) -> None:
        """The battery reached what the car must keep: preempt its jobs and go to sleep."""
        self.low = True
        if self.jobs:
            self.ctx.dispatcher.preempt_all(self, now, "reserve")
        if self.server is not None:  # the chip sleeps: the models in its memory are lost
            self.server.power_down()
        self.state = PARKED
        self._apply(now)
        self.ctx.dispatcher.vehicle_changed(self)

    # ------------------------------------------------------------------ end of run
    def finish(self, now: float) -> None:
        """Settle every account at the end of the run (after the jobs still running are billed)."""
        self._settle(now)
        if self.m_slot_s:
            self._flush_metered()
        self.meter.settle(now)
