"""Charging sites (grid.sites), charger presets (grid.chargers) and robotaxi depots, against independent truth.

Truth used: budgets computed by hand and by an independent water-filling solver (bisection on the
common extra level); step-trace integrals computed by hand; the demand charge recomputed from the
depot's trace over clock-aligned 15-minute intervals and local calendar months; solar use
integrated exactly on a 1 s grid; charger numbers from the sources cited in grid/chargers.py and
charge times summed by hand along the taper. Invariants are checked at every plug-in, arrival,
departure and declined ride (by wrapping the vehicle's methods) and at checkpoints every minute
(by running the environment to each checkpoint in turn). Every scenario is seeded.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.battery import BatterySpec
from fleet.charging import charge_time_s
from fleet.robotaxi import RobotaxiParams
from fleet.vehicle import Vehicle
from grid.chargers import CHARGER_PRESETS, ChargerSpec
from grid.sites import Site, SiteSpec
from grid.tariff import PGE_B10
from sim.core.errors import ScenarioError
from sim.results import write_results
from sim.runner import Simulation
from sim.scenario import default_scenario

REL = 1e-9
ROOT = Path(__file__).resolve().parents[2]
SAN_JOSE_EPW = ROOT.parent / "shared" / "data" / "weather-epw" / "USA_CA_San.Jose-Mineta.epw"


# ---------------------------------------------------------------------------------- helpers
@dataclass(eq=False)  # identity semantics, as vehicles have: list.remove must find this very member
class Member:
    site_floor_w: float
    site_want_w: float
    site_priority: float = 0.0
    site_budget_w: float = 0.0


def _site(cap_w: float, sharing: str = "fair", stalls: int = 10, when_full: str = "wait") -> Site:
    return Site(SiteSpec("s", stalls, cap_w, CHARGER_PRESETS["depot_dc"], sharing=sharing, when_full=when_full))


def _water_fill(floors: list[float], wants: list[float], cap: float) -> list[float]:
    """Fair budgets, solved independently: ``min(want, floor + lam)`` with ``lam`` found by bisection
    so that the budgets fill the cap (or every want when the cap allows)."""
    f = np.asarray(floors, dtype=float)
    want = np.maximum(np.asarray(wants, dtype=float), f)
    if math.isinf(cap) or want.sum() <= cap:
        return want.tolist()
    lo, hi = 0.0, float((want - f).max())
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if np.minimum(want, f + mid).sum() > cap:
            hi = mid
        else:
            lo = mid
    return np.minimum(want, f + lo).tolist()


def _priority_fill(floors: list[float], wants: list[float], prios: list[float], cap: float) -> list[float]:
    """Priority budgets by hand: floors first, then the spare cap in ascending priority."""
    out = list(floors)
    spare = cap - sum(floors)
    for i in sorted(range(len(floors)), key=lambda i: prios[i]):
        give = min(max(wants[i] - floors[i], 0.0), max(spare, 0.0))
        out[i] += give
        spare -= give
    return out


def _scenario(**over):
    base = {
        "run.seed": 7,
        "run.days": 2.0,
        "fleet.vehicles": 80,
        "fleet.robotaxi.vehicles": 40,
        "workload.interactive.rate_per_s": 0.1,
        "workload.batch.rate_per_s": 0.05,
    }
    base.update(over)
    return default_scenario().with_overrides(base)


def _depot(**over) -> dict:
    return {f"fleet.robotaxi.depot.{k}": v for k, v in over.items()}


def _energy_now(v: Vehicle, now: float) -> float:
    """A vehicle's stored energy at ``now`` (its powers are constant since its last settlement)."""
    return v.energy_wh + v.p_batt * (now - v.t_s) / 3600.0


def _need_wh(v: Vehicle, km: float) -> float:
    """Energy a robotaxi must hold to drive ``km`` and keep its reserve (at most its charge limit)."""
    bat = v.spec.battery
    return min(bat.charge_limit_soc * bat.capacity_wh,
               bat.reserve_soc * bat.capacity_wh + km * v.spec.driving_wh_per_km / bat.discharge_efficiency)


class Probe:
    """Run a simulation while checking the depot's invariants.

    Wrappers record every plug-in (stall count), every robotaxi arrival at the depot (plugged,
    waiting or parked unplugged), departure and declined ride; ``run`` replaces the environment's
    ``run_until`` so the run stops at each checkpoint, where the depot's members are inspected.
    """

    def __init__(self, monkeypatch, scenario, step_s: float = 60.0) -> None:
        self.sim = Simulation(scenario)
        self.step_s = step_s
        self.site = self.sim.site
        self.max_plugged_at_plug = 0
        self.arrival_errors: list = []
        self.arrivals = {"plugged": 0, "waited": 0, "left": 0, "unplugged": 0}
        self.depart_errors: list = []
        self.decline_errors: list = []
        self.declines_seen = 0
        self.checkpoint_errors: list = []
        self.checkpoints = 0
        self.waiting_seen = 0
        self.binding_full = 0  # checkpoints with every stall taken and the cap holding a charger back
        self.all_limited = 0  # ... and every member charging below its step power
        self.above_limit: list = []  # plugged robotaxis found above their charge limit
        self.wrong_step: list = []  # charging robotaxis whose taper step is not their SoC's
        self.plans: dict[int, object] = {}
        probe = self

        orig_plug = Site.plug

        def plug(site, member, now):
            orig_plug(site, member, now)
            probe.max_plugged_at_plug = max(probe.max_plugged_at_plug, len(site.plugged))

        orig_park_home = Vehicle._park_home

        def park_home(v, now, depart_s, tour_km, back_s):
            if v.site is None:
                return orig_park_home(v, now, depart_s, tour_km, back_s)
            site = v.site
            below = v.energy_wh < max(v.spec.plug_below_soc * v.spec.battery.capacity_wh, _need_wh(v, tour_km))
            free = len(site.plugged) < site.spec.stalls
            away0 = site.turned_away
            orig_park_home(v, now, depart_s, tour_km, back_s)
            plugged_here = v.at_site and v.plugged and v in site.plugged
            if below and free:
                ok, kind = plugged_here and not v.waiting, "plugged"
            elif below and site.spec.when_full == "wait":
                # in line, or seated at once in a stall that a car at its limit gave up
                ok = (v.waiting and not v.at_site and v in site.waiting) or (plugged_here and not v.waiting)
                kind = "waited"
            elif below:
                ok, kind = not v.at_site and not v.waiting and not v.plugged, "left"
            else:
                ok, kind = not v.at_site and not v.waiting and not v.plugged, "unplugged"
            if kind in ("waited", "left") and site.turned_away != away0 + 1:
                ok = False
            probe.arrivals[kind] += 1
            if not ok:
                probe.arrival_errors.append((now, v.vid, kind, v.soc, v.at_site, v.waiting, v.plugged))

        orig_depart = Vehicle._depart

        def depart(v, now, distance_km, duration_s):
            if v.site is not None:
                e = _energy_now(v, now)
                ready = v.spec.ready_soc * v.spec.battery.capacity_wh
                if v.waiting or (v.plugged and e < ready - 1e-6) or e < _need_wh(v, distance_km) - 1e-6:
                    probe.depart_errors.append((now, v.vid, v.waiting, v.plugged, e / v.spec.battery.capacity_wh))
            return orig_depart(v, now, distance_km, duration_s)

        orig_decline = Vehicle._decline

        def decline(v, now, plan, k, end, day):
            probe.declines_seen += 1
            e = _energy_now(v, now)
            ready = v.spec.ready_soc * v.spec.battery.capacity_wh
            need = _need_wh(v, plan.distance_km[k] + plan.km_after[k])
            if v.site is None or not (v.waiting or (v.plugged and e < ready + 1e-6) or e < need + 1e-6):
                probe.decline_errors.append((now, v.vid, v.waiting, v.plugged, e))
            return orig_decline(v, now, plan, k, end, day)

        monkeypatch.setattr(Site, "plug", plug)
        monkeypatch.setattr(Vehicle, "_park_home", park_home)
        monkeypatch.setattr(Vehicle, "_depart", depart)
        monkeypatch.setattr(Vehicle, "_decline", decline)

        planner = self.sim.ctx.planner
        orig_draw = planner._draw

        def draw(d):  # keep every day plan (the planner releases old days)
            orig_draw(d)
            probe.plans[d] = planner._plans[d]

        planner._draw = draw

    def run(self):
        sim = self.sim
        orig = sim.env.run_until

        def stepping(until):
            t = self.step_s
            while t < until:
                orig(t)
                self.check(t)
                t += self.step_s
            orig(until)

        sim.env.run_until = stepping
        self.res = sim.run()
        return self.res

    def check(self, now: float) -> None:
        site = self.site
        spec = site.spec
        cap = spec.cap_w
        members = list(site.plugged)
        self.checkpoints += 1
        err = self.checkpoint_errors
        if site.waiting:
            self.waiting_seen += 1
        if len(members) > spec.stalls:
            err.append((now, "stalls", len(members)))
        if len(set(map(id, members))) != len(members) or any(m in site.waiting for m in members):
            err.append((now, "member twice"))
        draw = sum(m.grid_w for m in members)
        if abs(site.draw_w - draw) > REL * max(cap if math.isfinite(cap) else draw, 1.0):
            err.append((now, "site draw != members' draw", site.draw_w, draw))
        if draw > cap * (1 + REL):
            err.append((now, "cap", draw))
        budgets = [m.site_budget_w for m in members]
        if sum(budgets) > cap * (1 + REL):
            err.append((now, "budgets over cap", sum(budgets)))
        charging = []
        for m in members:
            bat = m.spec.battery
            e = _energy_now(m, now)
            if not (m.at_site and m.plugged):
                err.append((now, "member not plugged at the site", m.vid))
            if e > bat.charge_limit_soc * bat.capacity_wh + 1e-6:
                self.above_limit.append((now, m.vid, e / bat.capacity_wh))
            if m.grid_w > m.site_budget_w * (1 + REL) + 1e-9:
                err.append((now, "draw over budget", m.vid, m.grid_w, m.site_budget_w))
            if not m.full:
                charging.append(m)
                soc = e / bat.capacity_wh
                width = (1.0 - m.charger.taper_start_soc) / m.charger.taper_steps
                edge = (soc - m.charger.taper_start_soc) / width
                near_edge = abs(edge - round(edge)) * width * bat.capacity_wh < 1e-6
                if m.p_batt > 0.0 and not near_edge and m.step != m.charger.step_index(soc):
                    self.wrong_step.append((now, m.vid, soc, m.step))
        # Independent truth for the budgets: each member's floor (its own worst-case load through
        # the charger) and want (its taper step's power, or only the floor at the limit).
        floors, wants = [], []
        for m in members:
            f = (m.spec.awake_overhead_w + m.spec.chip.active_w) / spec.charger.efficiency
            floors.append(f)
            wants.append(f if m.full else max(spec.charger.step_powers_w[m.step], f))
        if spec.sharing == "fair" and members:
            truth = _water_fill(floors, wants, cap)
            for m, b in zip(members, truth):
                if abs(m.site_budget_w - b) > 1e-9 * cap:
                    err.append((now, "budget != water-filling", m.vid, m.site_budget_w, b))
            limited = [m for m in charging if m.grid_w < spec.charger.step_powers_w[m.step] * (1 - 1e-12)]
            if limited and len(members) == spec.stalls:
                self.binding_full += 1
                by_step: dict[int, list[float]] = {}
                for m in charging:
                    by_step.setdefault(m.step, []).append(m.grid_w)
                for step, draws in by_step.items():
                    if max(draws) - min(draws) > 1e-9 * cap:
                        err.append((now, "unequal draw at one step", step, draws))
                if len(limited) == len(members):
                    self.all_limited += 1  # equal floors, all held back: each gets cap / stalls exactly
                    for m in members:
                        if abs(m.grid_w - cap / spec.stalls) > 1e-9 * cap:
                            err.append((now, "not cap / stalls", m.vid, m.grid_w))

    def planned_rides(self, vid: int) -> int:
        horizon = self.sim.horizon_s
        n = 0
        for plan in self.plans.values():
            a, b = plan.offsets[vid], plan.offsets[vid + 1]
            n += sum(1 for k in range(a, b) if plan.depart_s[k] < horizon)
        return n

    def assert_clean(self) -> None:
        assert not self.arrival_errors, self.arrival_errors[:5]
        assert not self.depart_errors, self.depart_errors[:5]
        assert not self.decline_errors, self.decline_errors[:5]
        assert not self.checkpoint_errors, self.checkpoint_errors[:5]
        assert self.checkpoints > 2000
        assert 0 < self.max_plugged_at_plug <= self.site.spec.stalls
        res = self.res
        assert res.summary["checks"]["passed"], res.summary["checks"]
        # Every planned ride before the horizon was either driven or declined.
        veh = res.vehicles.set_index("vehicle_id")
        for v in self.sim.vehicles:
            if v.site is not None:
                assert v.trips + v.rides_declined == self.planned_rides(v.vid), v.vid
        assert (veh.loc[veh["profile"] == "personal", "rides_declined"] == 0).all()


# ---------------------------------------------------------------------------------- 1. Site by hand
def test_fair_water_filling_by_hand():
    site = _site(100.0)
    a, b, c = Member(5.0, 10.0), Member(5.0, 60.0), Member(5.0, 60.0)
    site.plugged = [a, b, c]
    # 85 spare: a's 5 extra is below a third of it; b and c share the remaining 80 equally.
    assert site.allocate() == [a, b, c]
    assert [a.site_budget_w, b.site_budget_w, c.site_budget_w] == pytest.approx([10.0, 45.0, 45.0], rel=1e-12)
    assert site.allocate() == []  # nothing moved
    b.site_want_w = 50.0  # still above its share of 45: no budget moves
    assert site.allocate() == []
    c.site_want_w = 30.0  # extras 5 / 45 / 25: c takes 25, b the rest up to its 45 extra
    assert site.allocate() == [b, c]
    assert [a.site_budget_w, b.site_budget_w, c.site_budget_w] == pytest.approx([10.0, 50.0, 30.0], rel=1e-12)


def test_fair_sharing_gives_every_member_its_floor_first():
    site = _site(30.0)
    a, b, c = Member(8.0, 0.0), Member(8.0, 100.0), Member(4.0, 100.0)
    site.plugged = [a, b, c]
    site.allocate()
    # a wants nothing but keeps its floor; 30 - 20 = 10 spare split 5 / 5 between b and c.
    assert [a.site_budget_w, b.site_budget_w, c.site_budget_w] == pytest.approx([8.0, 13.0, 9.0], rel=1e-12)


def test_priority_sharing_by_hand():
    site = _site(100.0, "priority")
    a, b, c = Member(5.0, 60.0, 0), Member(5.0, 60.0, 1), Member(5.0, 10.0, 2)
    site.plugged = [c, b, a]  # served in priority order, not in plug order
    assert set(site.allocate()) == {a, b, c}
    # 85 spare: a takes its 55 extra, b the 30 left, c nothing beyond its floor.
    assert [a.site_budget_w, b.site_budget_w, c.site_budget_w] == pytest.approx([60.0, 35.0, 5.0], rel=1e-12)
    c.site_want_w = 4.0  # below its floor: still the floor, nothing moves
    assert site.allocate() == []
    b.site_want_w = 30.0  # b needs only 25 extra; the 5 left go to c, who wants nothing more
    assert site.allocate() == [b]
    assert [a.site_budget_w, b.site_budget_w, c.site_budget_w] == pytest.approx([60.0, 30.0, 5.0], rel=1e-12)


@pytest.mark.parametrize("sharing", ["fair", "priority"])
def test_no_cap_gives_every_member_its_want(sharing):
    site = _site(math.inf, sharing)
    ms = [Member(5.0, 1e6, 1), Member(5.0, 3.0, 0), Member(5.0, 7e5, 2)]
    site.plugged = list(ms)
    assert site.allocate() == ms
    assert [m.site_budget_w for m in ms] == [1e6, 5.0, 7e5]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 1e3), st.floats(0.0, 2e5), st.integers(0, 5)), min_size=1, max_size=12),
       st.floats(0.0, 1.0), st.sampled_from(["fair", "priority"]))
def test_allocation_matches_independent_solution(rows, frac, sharing):
    floors = [r[0] for r in rows]
    wants = [r[1] for r in rows]
    prios = [r[2] for r in rows]
    need = sum(max(w, f) for f, w in zip(floors, wants))
    cap = sum(floors) + frac * (need - sum(floors)) + 1e-6  # anywhere between the floors and every want
    site = _site(cap, sharing)
    ms = [Member(f, w, p) for f, w, p in zip(floors, wants, prios)]
    site.plugged = list(ms)
    site.allocate()
    got = [m.site_budget_w for m in ms]
    truth = _water_fill(floors, wants, cap) if sharing == "fair" else _priority_fill(floors, wants, prios, cap)
    assert got == pytest.approx(truth, rel=1e-9, abs=1e-6 * max(cap, 1.0))
    assert sum(got) <= cap * (1 + 1e-12)
    assert all(b >= f for b, f in zip(got, floors))
    assert all(b <= max(w, f) * (1 + 1e-12) for b, f, w in zip(got, floors, wants))


def test_site_spec_validation():
    charger = CHARGER_PRESETS["depot_dc"]
    SiteSpec("ok", 1, math.inf, charger)  # inf = no cap
    bad = [
        dict(stalls=0, cap_w=1e5),
        dict(stalls=-3, cap_w=1e5),
        dict(stalls=2, cap_w=0.0),
        dict(stalls=2, cap_w=-1.0),
        dict(stalls=2, cap_w=math.nan),
        dict(stalls=2, cap_w=1e5, sharing="equal"),
        dict(stalls=2, cap_w=1e5, when_full="queue"),
    ]
    for kw in bad:
        with pytest.raises(ValueError, match="site depot"):
            SiteSpec("depot", charger=charger, **kw)


def test_scenario_rejects_a_cap_below_the_stalls_floors():
    # 40 stalls x (300 W awake + 160 W busy hw4 chip) / 0.92 = 20 kW.
    with pytest.raises(ScenarioError, match="cap_w.*20000 W"):
        Simulation(_scenario(**_depot(stalls=40, cap_w=19_999.0)))
    with pytest.raises(ScenarioError, match="sharing"):
        _scenario(**_depot(sharing="equal"))
    with pytest.raises(ScenarioError, match="when_full"):
        _scenario(**_depot(when_full="queue"))


def test_stalls_line_trace_and_sample_integrals_by_hand():
    site = _site(2000.0, stalls=1)
    a, b = Member(1.0, 1.0), Member(1.0, 1.0)
    assert site.has_free_stall()
    site.plug(a, 0.0)
    assert not site.has_free_stall()
    site.add_draw(10.0, 1000.0)
    site.wait(b, 20.0)
    assert site.turned_away == 1 and list(site.waiting) == [b]
    site.add_draw(30.0, 500.0)
    site.add_draw(30.0, -200.0)  # same instant: one trace value, the one that holds
    site.add_draw(35.0, 0.0)  # no change: no trace point
    # [0,10) 0 W, [10,30) 1000 W, [30,40) 1300 W; 1 plugged all along; 1 waiting from 20 s.
    assert site.sample(40.0) == pytest.approx((1000 * 20 + 1300 * 10, 40.0, 20.0))
    site.add_draw(50.0, -1300.0 + 1e-12)  # float dust snaps to 0
    assert site.draw_w == 0.0
    site.unplug(a, 50.0)
    assert site.next_waiting(50.0) is b and site.next_waiting(50.0) is None
    site.plug(b, 50.0)
    assert site.sample(60.0) == pytest.approx((1300 * 10, 20.0, 10.0))
    assert site.trace_t == [0.0, 10.0, 30.0, 50.0]
    assert site.trace_w == pytest.approx([0.0, 1000.0, 1300.0, 0.0])
    assert site.peak_w == pytest.approx(1300.0)
    site.wait(a, 60.0)
    site.stop_waiting(a, 61.0)
    assert not site.waiting and site.turned_away == 2


# ---------------------------------------------------------------------------------- 2. cap and stalls
@pytest.mark.parametrize("stalls,cap_w,sharing,when_full", [
    (5, 150_000.0, "fair", "wait"),
    (5, 150_000.0, "fair", "leave"),
    (40, 400_000.0, "fair", "wait"),
    (5, 150_000.0, "priority", "wait"),
    (5, 150_000.0, "priority", "leave"),
])
def test_cap_and_stalls_never_exceeded(monkeypatch, stalls, cap_w, sharing, when_full):
    probe = Probe(monkeypatch, _scenario(**_depot(stalls=stalls, cap_w=cap_w, sharing=sharing, when_full=when_full)))
    res = probe.run()
    sim, site = probe.sim, probe.site
    assert sim.site is site and site.spec.stalls == stalls and site.spec.cap_w == cap_w
    assert max(site.trace_w) <= cap_w * (1 + REL)
    assert max(site.trace_w) >= 0.95 * cap_w  # the cap did bind: the bound above is not vacuous
    assert min(site.trace_w) >= 0.0
    sites = res.sites
    assert sites is not None and len(sites) == len(res.timeseries)
    assert sites["load_w"].max() <= cap_w * (1 + REL)
    assert (sites["cap_w"] == cap_w).all()
    assert sites["plugged"].max() <= stalls + 1e-9
    probe.assert_clean()
    depot = res.summary["robotaxi"]["depot"]
    assert depot["peak_kw"] * 1000.0 <= cap_w * (1 + REL)
    assert depot["stalls"] == stalls and depot["cap_kw"] == pytest.approx(cap_w / 1000.0)
    if stalls < 40:  # the tight depots do fill up: the checks above were exercised
        assert probe.max_plugged_at_plug == stalls
        assert depot["arrivals_finding_stalls_full"] == probe.arrivals["waited"] + probe.arrivals["left"] > 0
    else:
        assert probe.arrivals["waited"] == probe.arrivals["left"] == 0
    if when_full == "leave":
        assert sites["waiting"].max() == 0.0 and probe.waiting_seen == 0
        assert probe.arrivals["left"] > 0 and probe.arrivals["waited"] == 0
    elif stalls < 40:
        assert sites["waiting"].max() > 0.0 and probe.arrivals["left"] == 0
    # The sampled draw integrates to the step trace's energy.
    dt = np.diff(np.concatenate([[0.0], sites["t_s"].to_numpy()]))
    trace_kwh = _trace_integral(site.trace_t, site.trace_w, sim.horizon_s) / 3.6e6
    assert (sites["load_w"] * dt).sum() / 3.6e6 == pytest.approx(trace_kwh, rel=REL)
    assert depot["energy_kwh"] == pytest.approx(trace_kwh, rel=REL)


def _trace_integral(times, watts, end_s) -> float:
    """W*s of a step trace (``watts[i]`` from ``times[i]``, the last until ``end_s``), one segment at a time."""
    total = 0.0
    for i, w in enumerate(watts):
        t1 = times[i + 1] if i + 1 < len(times) else end_s
        total += w * (min(t1, end_s) - times[i])
    return total


# ---------------------------------------------------------------------------------- 3. fair shares
def test_fair_sharing_equal_draw_when_stalls_full_and_cap_binding(monkeypatch):
    """3 stalls under a 100 kW cap (a third of one 150 kW stall each): the cap binds most of the time."""
    probe = Probe(monkeypatch, _scenario(**_depot(stalls=3, cap_w=100_000.0, sharing="fair", when_full="wait")))
    probe.run()
    probe.assert_clean()  # includes equal draws per taper step and budgets = independent water-filling
    assert probe.binding_full > 500  # the situation under test is common, not vacuous
    assert probe.all_limited > 100  # ... and three cars held back under 100 kW get 33.3 kW each


# ---------------------------------------------------------------------------------- 4. demand charge
def test_demand_charge_is_tariff_rate_times_monthly_peak_15_min_average(monkeypatch, tmp_path):
    """Three days across a month end (June 29 - July 1, 2022, PDT throughout)."""
    tz = ZoneInfo("America/Los_Angeles")
    sc = _scenario(**{"run.start": "2022-06-29T00:00:00 America/Los_Angeles", "run.days": 3.0},
                   **_depot(stalls=6, cap_w=300_000.0))
    sim = Simulation(sc)
    res = sim.run()
    site = sim.site
    horizon = sim.horizon_s
    assert sim.clock.to_datetime(0.0) == datetime(2022, 6, 29, tzinfo=tz)
    month_end = (datetime(2022, 7, 1, tzinfo=tz) - datetime(2022, 6, 29, tzinfo=tz)).total_seconds()
    # Energy of every clock-aligned 15-minute interval (local midnight is t = 0), segment by segment.
    n = math.ceil(horizon / 900.0)
    energy = np.zeros(n)
    times, watts = site.trace_t, site.trace_w
    for i, w in enumerate(watts):
        t0 = times[i]
        t1 = min(times[i + 1] if i + 1 < len(times) else horizon, horizon)
        while t0 < t1:
            k = int(t0 // 900.0)
            seg_end = min(t1, (k + 1) * 900.0)
            energy[k] += w * (seg_end - t0)
            t0 = seg_end
    kw = energy / 900.0 / 1000.0
    starts = np.arange(n) * 900.0
    june, july = kw[starts < month_end].max(), kw[starts >= month_end].max()
    rate = PGE_B10.demand_charges[0].usd_per_kw
    assert rate == 20.50  # PG&E B-10 maximum demand charge, $/kW-month (grid/tariff.py)
    depot = res.summary["robotaxi"]["depot"]
    assert depot["tariff"] == "pge_b10"
    assert [b["month"] for b in depot["demand_bills"]] == ["2022-06", "2022-07"]
    assert [b["peak_kw"] for b in depot["demand_bills"]] == pytest.approx([june, july], rel=REL)
    # Each month's bill, prorated to the run's share of it: 2 of June's 30 days, 1 of July's 31.
    assert [b["usd_monthly"] for b in depot["demand_bills"]] == pytest.approx([rate * june, rate * july], rel=REL)
    assert [b["run_share"] for b in depot["demand_bills"]] == pytest.approx([2 / 30, 1 / 31], rel=REL)
    assert depot["demand_charge_monthly_usd"] == pytest.approx(rate * (june + july), rel=REL)
    assert depot["demand_charge_usd"] == pytest.approx(rate * (june * 2 / 30 + july / 31), rel=REL)
    assert june > 0 and july > 0
    # A 15-minute average never exceeds the instantaneous peak, which never exceeds the cap.
    assert max(june, july) <= depot["peak_kw"] * (1 + REL)
    assert depot["peak_kw"] <= 300.0 * (1 + REL)
    assert depot["peak_kw"] == pytest.approx(max(watts) / 1000.0, rel=REL)
    assert depot["energy_kwh"] == pytest.approx(energy.sum() / 3.6e6, rel=REL)
    # Files: sites.csv and the new vehicles.csv columns.
    out = write_results(res, tmp_path / "out")
    sites = pd.read_csv(out / "sites.csv")
    assert list(sites.columns) == ["t_s", "time", "site", "load_w", "cap_w", "solar_w", "plugged", "waiting"]
    assert (sites["site"] == "depot").all() and len(sites) == len(res.timeseries)
    veh = pd.read_csv(out / "vehicles.csv")
    assert {"profile", "rides_declined", "workplace_charger"} <= set(veh.columns)
    assert (veh["profile"] == "robotaxi").sum() == 40 and (veh["profile"] == "personal").sum() == 80
    assert (veh.loc[veh["profile"] == "robotaxi", "vehicle_id"] >= 80).all()  # built after the personal cars
    assert not veh.loc[veh["profile"] == "robotaxi", "workplace_charger"].any()


# ---------------------------------------------------------------------------------- 5. rides
def test_generous_depot_never_impacts_or_fast_charges_a_ride(monkeypatch):
    """One stall per robotaxi and a cap no car can reach (40 x 150 kW).

    By hand: the probe checks that a robotaxi departs only holding its reserve plus the ride's
    energy (it declines the ride otherwise, or plugs in at the depot on arrival when it holds less),
    so no ride ends below the reserve: none is impacted by inference and none needs a fast charge.
    The longest ride (max_ride_km / (1 - empty_share)) fits under the charge limit, so that
    requirement is never capped.
    """
    p = RobotaxiParams()
    sc = _scenario(**_depot(stalls=40, cap_w=6_000_000.0))
    cap_wh = sc["fleet.robotaxi.capacity_wh"]
    longest_wh = p.max_ride_km / (1 - p.empty_share) * sc["fleet.robotaxi.driving_wh_per_km"]
    assert sc["fleet.battery.reserve_soc"] * cap_wh + longest_wh < sc["fleet.battery.charge_limit_soc"] * cap_wh
    probe = Probe(monkeypatch, sc)
    res = probe.run()
    probe.assert_clean()
    veh = res.vehicles
    taxis = veh[veh["profile"] == "robotaxi"]
    assert len(taxis) == 40 and taxis["trips"].sum() > 1000
    assert taxis["trips_impacted"].sum() == 0
    assert taxis["fast_charges"].sum() == 0
    assert probe.waiting_seen == 0 and res.sites["waiting"].max() == 0.0
    rt = res.summary["robotaxi"]
    assert rt["depot"]["arrivals_finding_stalls_full"] == 0
    assert rt["rides"] == taxis["trips"].sum() and rt["vehicles"] == 40
    assert rt["rides_declined"] == taxis["rides_declined"].sum() == probe.declines_seen
    assert probe.arrivals["plugged"] > 0 and probe.arrivals["unplugged"] > 0
    # No fast charge and no other charger: the depot's energy is exactly what the robotaxis' meters bought.
    assert rt["depot"]["energy_kwh"] == pytest.approx(taxis["grid_wh"].sum() / 1000.0, rel=REL)


def test_tight_depot_declines_rides_and_counts_them(monkeypatch):
    probe = Probe(monkeypatch, _scenario(**_depot(stalls=3, cap_w=100_000.0, when_full="wait")))
    res = probe.run()
    probe.assert_clean()  # every decline was in line or charging below ready_soc; departures never were
    veh = res.vehicles
    taxis = veh[veh["profile"] == "robotaxi"]
    rt = res.summary["robotaxi"]
    assert rt["rides_declined"] == taxis["rides_declined"].sum() == veh["rides_declined"].sum()
    assert rt["rides_declined"] == probe.declines_seen > 0
    assert probe.waiting_seen > 0 and probe.arrivals["waited"] > 0
    assert rt["rides"] == taxis["trips"].sum()
    assert rt["rides_per_vehicle_day"] == pytest.approx(taxis["trips"].sum() / 40 / 2.0)


def test_a_declined_ride_does_not_let_a_plugged_robotaxi_charge_past_its_limit(monkeypatch):
    """A ride declined while charging moves the next departure later: the charging thresholds that
    fell after the declined ride must be planned then (one personal car, one robotaxi, one stall)."""
    sc = _scenario(**{"fleet.vehicles": 1, "fleet.robotaxi.vehicles": 1, "workload.interactive.rate_per_s": 0.0,
                      "workload.batch.rate_per_s": 0.0}, **_depot(stalls=1))
    probe = Probe(monkeypatch, sc, step_s=10.0)
    res = probe.run()
    assert probe.declines_seen > 0
    assert probe.wrong_step == [], probe.wrong_step[:3]
    assert probe.above_limit == [], f"{len(probe.above_limit)} checkpoints, e.g. {probe.above_limit[:3]}"
    limit = sc["fleet.battery.charge_limit_soc"] * sc["fleet.robotaxi.capacity_wh"]
    assert res.vehicles["energy_final_wh"].iloc[1] <= limit + 1e-6


def test_no_car_waits_while_a_stall_is_held_at_the_charge_limit(monkeypatch):
    """A car at its limit gives its stall to the line, when it gets there or when a car joins the line."""
    probe = Probe(monkeypatch, _scenario(**_depot(stalls=3, cap_w=100_000.0, when_full="wait")))
    held = []
    check = probe.check

    def check_and_watch(now):
        check(now)
        site = probe.site
        if site.waiting:
            held.extend((now, m.vid) for m in site.plugged if m.full and not m.jobs)

    probe.check = check_and_watch
    probe.run()
    assert probe.waiting_seen > 0
    assert held == [], f"{len(held)} checkpoints with a car in line and a stall held at the limit, e.g. {held[:3]}"


def test_charging_windows_end_with_the_stall_session(monkeypatch):
    """A car leaving its stall at the limit ends its smart-charging plan with it."""
    sc = _scenario(**{"fleet.vehicles": 20, "workload.interactive.rate_per_s": 0.0, "workload.batch.rate_per_s": 0.0},
                   **_depot(stalls=3, strategy="carbon_aware"))
    orig = Vehicle._on_window
    stray = []

    def on_window(v, ev):
        live = ev is v.window_event
        plugged, fallbacks = v.plugged, v.charge_fallbacks
        orig(v, ev)
        if live and not plugged:
            stray.append((v.ctx.env.now, v.vid, v.charge_fallbacks - fallbacks))

    monkeypatch.setattr(Vehicle, "_on_window", on_window)
    orig_leave = Vehicle._leave_stall
    leaves = []

    def leave(v, now):
        leaves.append(v.vid)
        orig_leave(v, now)

    monkeypatch.setattr(Vehicle, "_leave_stall", leave)
    res = Simulation(sc).run()
    assert res.summary["checks"]["passed"]
    assert leaves  # cars did leave their stalls at the limit
    assert stray == [], f"{len(stray)} window events acted on unplugged cars, e.g. {stray[:3]}"


# ---------------------------------------------------------------------------------- 6. solar
def _solar_run(strategy: str):
    sc = _scenario(**{"fleet.vehicles": 10},
                   **_depot(stalls=40, cap_w=1_500_000.0, strategy=strategy, solar_kw_dc=300.0,
                            weather_epw=str(SAN_JOSE_EPW)))
    sim = Simulation(sc)
    return sim, sim.run()


def _exact_min_integral_1s(trace_t, trace_w, pv_t, pv_w, end_s) -> tuple[float, float]:
    """W*s of min(draw, PV) and of PV over [0, end_s] on a 1 s grid, exactly.

    PV changes only on whole seconds, so it is constant in each 1 s cell; the draw is constant in
    every cell that holds none of its breakpoints, and split at its breakpoints in the others.
    """
    assert all(float(t).is_integer() for t in pv_t) and float(end_s).is_integer()
    cells = np.arange(int(end_s), dtype=float)
    pv = np.asarray(pv_w)[np.searchsorted(pv_t, cells, side="right") - 1]
    tt = np.asarray(trace_t)
    tw = np.asarray(trace_w)
    draw = tw[np.searchsorted(tt, cells, side="right") - 1]
    per_cell = np.minimum(draw, pv)
    inside = tt[(tt % 1.0 != 0.0) & (tt < end_s)]  # sorted: the trace's times increase
    for s in np.unique(np.floor(inside)).astype(int):
        i0, i1 = np.searchsorted(inside, [s, s + 1.0])
        edges = [float(s)] + inside[i0:i1].tolist() + [s + 1.0]
        total = 0.0
        for a, b in zip(edges, edges[1:]):
            w = tw[np.searchsorted(tt, a, side="right") - 1]
            total += min(w, pv[s]) * (b - a)
        per_cell[s] = total
    return float(per_cell.sum()), float(pv.sum())


def test_solar_following_uses_more_pv_and_solar_use_is_exact():
    pytest.importorskip("pvlib", reason="pvlib (the 'solar' extra) is not installed")
    if not SAN_JOSE_EPW.exists():
        pytest.skip(f"San Jose EPW not found at {SAN_JOSE_EPW}")
    used = {}
    for strategy in ("immediate", "solar_following"):
        sim, res = _solar_run(strategy)
        depot = res.summary["robotaxi"]["depot"]
        site = sim.site
        assert site.solar is not None
        solar_kwh, used_kwh, energy_kwh = depot["solar_kwh"], depot["solar_used_kwh"], depot["energy_kwh"]
        assert 0.0 < used_kwh <= min(solar_kwh, energy_kwh) * (1 + REL)
        mine_used, mine_pv = _exact_min_integral_1s(site.trace_t, site.trace_w, site.solar.times_s,
                                                    site.solar.values, sim.horizon_s)
        assert used_kwh == pytest.approx(mine_used / 3.6e6, rel=1e-9)
        assert solar_kwh == pytest.approx(mine_pv / 3.6e6, rel=1e-9)
        # 300 kW DC in San Jose in June: a few kWh per kW DC a day, nothing at night.
        assert 3.0 * 300 * 2 < solar_kwh < 8.0 * 300 * 2
        dt = np.diff(np.concatenate([[0.0], res.sites["t_s"].to_numpy()]))
        assert (res.sites["solar_w"] * dt).sum() / 3.6e6 == pytest.approx(solar_kwh, rel=1e-9)
        assert res.summary["checks"]["passed"]
        used[strategy] = used_kwh
    assert used["solar_following"] > used["immediate"]


# ---------------------------------------------------------------------------------- 7. chargers
@pytest.mark.parametrize("name,power_w,eff", [
    ("l1", 1_400.0, 0.825),  # 120 V x 12 A; L1 80-85 %
    ("l2_home", 11_500.0, 0.90),  # Tesla Wall Connector; L2 ~90 %
    ("workplace_l2", 7_200.0, 0.90),  # 30 A on 240 V
    ("dc_fast", 150_000.0, 0.92),  # DC 90-93 %
    ("depot_dc", 150_000.0, 0.92),
    ("inductive", 25_000.0, 0.90),  # Cybercab pad 19-25 kW
])
def test_charger_presets_carry_the_cited_numbers(name, power_w, eff):
    c = CHARGER_PRESETS[name]
    assert (c.name, c.power_w, c.efficiency) == (name, power_w, eff)
    assert c.taper_end_fraction == 0.1
    if name in ("dc_fast", "depot_dc"):
        assert (c.taper_start_soc, c.taper_steps) == (0.3, 5)
    else:
        assert (c.taper_start_soc, c.taper_steps) == (0.8, 4)
    assert set(CHARGER_PRESETS) == {"l1", "l2_home", "workplace_l2", "dc_fast", "depot_dc", "inductive"}
    assert ChargerSpec() == CHARGER_PRESETS["l2_home"]


def test_dc_fast_taper_steps_and_10_to_80_percent_average_by_hand():
    c = CHARGER_PRESETS["dc_fast"]
    # Steps of 14 % SoC from 30 %; the linear taper 150 kW -> 15 kW at each step's mid-point:
    # 1 - 0.9 x (mid - 0.3) / 0.7 at mids 0.37, 0.51, 0.65, 0.79, 0.93 = 0.91, 0.73, 0.55, 0.37, 0.19.
    assert c.step_powers_w == pytest.approx([150e3, 136.5e3, 109.5e3, 82.5e3, 55.5e3, 28.5e3], rel=1e-12)
    assert [c.step_index(s) for s in (0.1, 0.2999, 0.3, 0.4399, 0.44, 0.85, 0.86, 0.999, 1.0)] == \
        [0, 0, 1, 1, 2, 4, 5, 5, 5]
    bat = BatterySpec(capacity_wh=60_000.0)
    # 10 % -> 80 %: 20 % at 150 kW, 14 % each at 136.5, 109.5 and 82.5 kW, then 8 % at 55.5 kW.
    pieces = [(0.20, 150e3), (0.14, 136.5e3), (0.14, 109.5e3), (0.14, 82.5e3), (0.08, 55.5e3)]
    hand_s = sum(frac * 60_000.0 / (0.92 * p) * 3600.0 for frac, p in pieces)
    t = charge_time_s(c, bat, 0.1 * 60_000.0, 0.8 * 60_000.0, 0.0)
    assert t == pytest.approx(hand_s, rel=1e-12)
    grid_kw = 0.7 * 60_000.0 / 0.92 / t * 3.6  # grid energy / time, kW
    battery_kw = 0.7 * 60_000.0 / t * 3.6
    assert grid_kw == pytest.approx(103.3, abs=0.1)
    assert 80.0 <= battery_kw <= 120.0 and 80.0 <= grid_kw <= 120.0  # "real sessions average 80-100 kW"
    assert CHARGER_PRESETS["depot_dc"].step_powers_w == c.step_powers_w
