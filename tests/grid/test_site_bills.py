"""Complete site bills: demand charges at every site whose tariff has them (homes and the depot),
prorated to the run's length and inside the total cost; PV netted at the depot first.

Truth used: a home's 15-minute peak, bill and prorating share worked out by hand from a charging
session of known length; the whole-trace billing of :meth:`grid.tariff.TouTariff.demand_charges_usd`
on the draw each home meter was fed, recorded during a real run (the streaming meter must agree);
the shares of calendar months counted in hours by hand (March has 743 hours in Los Angeles); PV
netting on a hand-built depot profile, every kWh, dollar and gram added up segment by segment in
the comments; and, for a real depot with PV, the same integrals recomputed with scalar loops.
"""
from __future__ import annotations

import math
import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from grid.chargers import CHARGER_PRESETS
from grid.demand import DemandCalendar, DemandMeter, month_run_share
from grid.signals import StepSignal
from grid.sites import Site, SiteSpec
from grid.tariff import ALL_HOURS, PGE_B10, WEEKDAYS, DemandCharge, TouPeriod, TouTariff
from sim.builders import site_summary
from sim.core.clock import Clock
from sim.runner import Simulation
from sim.scenario import default_scenario

LA = ZoneInfo("America/Los_Angeles")
REL = 1e-9
B10_USD_PER_KW = 20.50  # PG&E B-10 maximum demand charge, $/kW-month (grid/tariff.py)


def _clock(*local: int) -> Clock:
    return Clock(datetime(*local, tzinfo=LA))


def _parts_add_up(cost: dict) -> None:
    parts = ("electricity", "demand_charges", "solar_export", "carbon", "owner_payouts")
    assert cost["total"] == pytest.approx(sum(cost[p] for p in parts), rel=REL, abs=1e-9)


# ------------------------------------------------------------------------------------ prorating
def test_a_months_share_counts_its_local_hours_daylight_saving_included():
    # March 2022 in Los Angeles: 31 days less the hour skipped on the 13th = 743 hours.
    assert month_run_share(_clock(2022, 3, 1), 86_400.0, "2022-03") == pytest.approx(24 / 743, rel=REL)
    # Noon June 30 to noon July 1: 12 of June's 720 hours and 12 of July's 744.
    clock = _clock(2022, 6, 30, 12)
    assert month_run_share(clock, 86_400.0, "2022-06") == pytest.approx(12 / 720, rel=REL)
    assert month_run_share(clock, 86_400.0, "2022-07") == pytest.approx(12 / 744, rel=REL)
    assert month_run_share(clock, 86_400.0, "2022-08") == 0.0


# ------------------------------------------------------------------------------------ the home meter
def test_the_streaming_meter_bills_as_the_whole_trace_does_across_dst_and_month_ends():
    """Random draws (pauses from a minute to half a day) against the whole-trace bill, for a tariff
    with three charges: every hour (15 min), weekday evenings (5 min) and every hour on the hour."""
    tariff = TouTariff("t", (TouPeriod("all", 0.1, ALL_HOURS),), demand_charges=(
        DemandCharge("max", 10.0), DemandCharge("evening", 5.0, hours=(16, 17, 18, 19, 20), weekdays=WEEKDAYS,
                                                interval_s=300.0), DemandCharge("hourly", 2.0, interval_s=3600.0)))
    starts = [(2022, 11, 5, 7, 13, 9), (2022, 3, 12, 23, 0, 0), (2022, 6, 29, 0, 30, 0), (2022, 10, 30, 17, 0, 0)]
    for seed, start in enumerate(starts):
        rng = random.Random(seed)
        clock = _clock(*start)
        horizon = rng.uniform(1.5, 4.0) * 86_400.0
        for tar in (PGE_B10, tariff):
            meter = DemandMeter(DemandCalendar(tar, clock, horizon))
            times, watts, p, t = [0.0], [0.0], 0.0, 0.0
            while (t := t + rng.expovariate(1.0 / rng.choice([60.0, 900.0, 7_200.0, 43_200.0]))) < horizon:
                new = rng.choice([0.0, rng.uniform(0.0, 11_500.0), p])
                meter.add_draw(t, new - p)
                p = new
                times.append(t)
                watts.append(p)
            want = tar.demand_charges_usd(clock, times, watts, horizon)
            got = meter.bills()
            assert [(b.month, b.charge) for b in got] == [(b.month, b.charge) for b in want]
            assert len({b.month for b in got}) >= 1 and any(b.peak_kw > 0 for b in got)
            for g, w in zip(got, want):
                assert g.peak_kw == pytest.approx(w.peak_kw, rel=REL, abs=1e-12)
                assert g.usd == pytest.approx(w.usd, rel=REL, abs=1e-12)


def _home_scenario(**over):
    base = {"run.days": 1.0, "fleet.vehicles": 1, "fleet.mobility": False, "fleet.opt_in_share": 0.0,
            "fleet.home_charger_share": 1.0, "grid.tariff": "pge_b10", "report.figures": False,
            "workload.interactive.rate_per_s": 0.0, "workload.batch.rate_per_s": 0.0}
    base.update(over)
    return default_scenario().with_overrides(base)


def test_a_home_on_a_demand_tariff_is_billed_its_15_minute_peak_prorated_to_the_run():
    """One car parked at home from local midnight (Monday 2022-06-06), asleep (opted out), plugged
    into an 11.5 kW, 90 % charger, 600 s of charging short of its 90 % limit, below the taper.

    By hand: charging, the battery takes 0.9 x 11,500 - 34 (asleep) = 10,316 W, so the car starts
    10,316 x 600 / 3600 Wh below the limit; from 600 s on the charger covers the 34 W sleep drain,
    34 / 0.9 W from the grid. The first 15-minute interval holds 11,500 x 600 + 34 / 0.9 x 300 W*s,
    so its average, the month's peak, is 7.67926 kW; June's bill is that x 20.50 $/kW, and the run
    carries 1 of June's 30 days of it.
    """
    cap_wh, limit = 75_000.0, 0.9
    e0 = limit * cap_wh - (0.9 * 11_500.0 - 34.0) * 600.0 / 3600.0
    sc = _home_scenario(**{"fleet.initial_soc_min": e0 / cap_wh, "fleet.initial_soc_max": e0 / cap_wh,
                           "fleet.charger.taper_start_soc": 0.95})
    assert (sc["fleet.battery.capacity_wh"], sc["fleet.battery.charge_limit_soc"], sc["fleet.vehicle.sleep_w"]) \
        == (cap_wh, limit, 34.0)
    res = Simulation(sc).run()
    peak_kw = (11_500.0 * 600.0 + 34.0 / 0.9 * 300.0) / 900.0 / 1000.0
    monthly = peak_kw * B10_USD_PER_KW
    s = res.summary
    homes = s["households"]
    assert homes["tariff"] == "pge_b10" and homes["homes"] == 1.0
    (bill,) = homes["demand_bills"]
    assert (bill["month"], bill["charge"]) == ("2022-06", "maximum_demand")
    assert bill["peak_kw_max"] == pytest.approx(peak_kw, rel=REL)
    assert bill["peak_kw_mean"] == pytest.approx(peak_kw, rel=REL)
    assert bill["usd_monthly"] == pytest.approx(monthly, rel=REL)
    assert bill["run_share"] == pytest.approx(1 / 30, rel=REL)
    assert bill["usd_prorated"] == pytest.approx(monthly / 30, rel=REL)
    assert homes["demand_charge_usd"] == pytest.approx(monthly / 30, rel=REL)
    assert homes["demand_charge_monthly_usd"] == pytest.approx(monthly, rel=REL)
    assert res.vehicles["demand_charge_usd"].iloc[0] == pytest.approx(monthly / 30, rel=REL)
    # In the total cost, prorated; the electricity is the car's meter, untouched by the bill.
    cost = s["cost_usd"]
    assert cost["demand_charges"] == pytest.approx(monthly / 30, rel=REL)
    assert cost["electricity"] == pytest.approx(res.vehicles["cost_usd"].iloc[0], rel=REL)
    assert cost["solar_export"] == 0.0 and s["energy_kwh"]["solar_used"] == 0.0
    _parts_add_up(cost)
    assert s["checks"]["passed"]
    # The household tariff without demand charges bills none.
    assert Simulation(_home_scenario(**{"grid.tariff": "pge_ev2a"})).run().summary["households"] is None


def test_every_home_meter_matches_the_whole_trace_bill_of_the_draw_it_was_fed(monkeypatch):
    """Thirty cars over a month end (noon June 30 to noon July 1), driving, serving and charging.

    Every draw change a home meter receives is recorded; the recorded trace's energy is the car's
    whole grid energy (no public top-ups, no workplace charging: it charges only at home, job-metered
    busy slots at its limit included), and its whole-trace bill is the meter's."""
    fed: dict[int, list[tuple[float, float]]] = {}
    add = DemandMeter.add_draw

    def recording(self, now, delta_w):
        fed.setdefault(id(self), []).append((now, delta_w))
        add(self, now, delta_w)

    monkeypatch.setattr(DemandMeter, "add_draw", recording)
    sc = default_scenario().with_overrides({
        "run.start": "2022-06-30T12:00:00 America/Los_Angeles", "run.days": 1.0, "run.seed": 3,
        "fleet.vehicles": 30, "fleet.home_charger_share": 0.8, "fleet.opt_in_share": 1.0,
        "grid.tariff": "pge_b10", "report.figures": False})
    sim = Simulation(sc)
    res = sim.run()
    veh = res.vehicles.set_index("vehicle_id")
    metered = [v for v in sim.vehicles if v.home_demand is not None]
    assert len(metered) == int(veh["home_charger"].sum()) > 10
    assert all(v.home_demand is None for v in sim.vehicles if not v.has_home_charger)
    share = {"2022-06": 12 / 720, "2022-07": 12 / 744}
    checked = 0
    for v in metered:
        changes = fed.get(id(v.home_demand), [])
        times, watts = [0.0], [0.0]
        for t, d in changes:
            if t >= sim.horizon_s:  # the meter closing its last interval at the end
                continue
            if t == times[-1]:
                watts[-1] += d
            else:
                times.append(t)
                watts.append(watts[-1] + d)
        bills = v.home_demand.bills()
        want = PGE_B10.demand_charges_usd(sim.clock, times, watts, sim.horizon_s)
        assert [b.month for b in bills] == [b.month for b in want] == ["2022-06", "2022-07"]
        for g, w in zip(bills, want):
            assert g.peak_kw == pytest.approx(w.peak_kw, rel=REL, abs=1e-12)
            assert g.peak_kw <= 11.5 * (1 + REL)  # never above the home charger's grid power
        prorated = sum(b.usd * share[b.month] for b in bills)
        assert veh.loc[v.vid, "demand_charge_usd"] == pytest.approx(prorated, rel=REL, abs=1e-12)
        if veh.loc[v.vid, "fast_charges"] == 0:
            edges = np.append(times, sim.horizon_s)
            assert float(np.dot(watts, np.diff(edges))) / 3600.0 == pytest.approx(veh.loc[v.vid, "grid_wh"],
                                                                                rel=1e-9, abs=1e-6)
            checked += 1
    assert checked > 10 and veh["jobs_completed"].sum() > 0
    s = res.summary
    rows = s["households"]["demand_bills"]
    assert [r["month"] for r in rows] == ["2022-06", "2022-07"]
    assert [r["run_share"] for r in rows] == pytest.approx([12 / 720, 12 / 744], rel=REL)
    for r in rows:
        assert r["usd_prorated"] == pytest.approx(r["usd_monthly"] * r["run_share"], rel=REL)
    total = float((veh["demand_charge_usd"] * veh["weight"]).sum())
    assert s["households"]["demand_charge_usd"] == pytest.approx(total, rel=REL)
    assert sum(r["usd_prorated"] for r in rows) == pytest.approx(total, rel=REL)
    assert s["cost_usd"]["demand_charges"] == pytest.approx(total, rel=REL) and total > 0
    _parts_add_up(s["cost_usd"])
    assert s["checks"]["passed"]


# ------------------------------------------------------------------------------------ the depot's PV
def test_pv_is_netted_at_the_site_first_on_a_hand_built_profile():
    """Two hours from local midnight (June 6, 2022). Draw 100 kW to 1800 s, 40 kW to 5400 s, then 0;
    PV 60 kW the first hour, 10 kW the second; price 0.2 then 0.5 $/kWh at 3600 s; carbon 300 then
    100 g/kWh at 2700 s. Segment by segment (kW used / exported, hours):
    [0, 1800) 60 / 0, 0.5 h; [1800, 2700) 40 / 20, 0.25 h; [2700, 3600) 40 / 20, 0.25 h;
    [3600, 5400) 10 / 0, 0.5 h; [5400, 7200) 0 / 10, 0.5 h.
    Used 30 + 10 + 10 + 5 = 55 kWh; exported 5 + 5 + 5 = 15 kWh; PV 70 kWh; draw 90 kWh; grid 35 kWh.
    Saved: $ 60*0.5*0.2 + 40*0.25*0.2 * 2 + 10*0.5*0.5 = 12.5; g 60*0.5*300 + 40*0.25*300 +
    40*0.25*100 + 10*0.5*100 = 13,500. Grid import 40 kW on [0, 1800) and 30 kW on [3600, 5400):
    $ 40*0.5*0.2 + 30*0.5*0.5 = 11.5, g 40*0.5*300 + 30*0.5*100 = 7,500; its 15-minute peak 40 kW
    (the draw's is 100), billed 20 $/kW x 40 = 800 for June, of which the run holds 2 h / 720 h.
    """
    clock = _clock(2022, 6, 6)
    horizon = 7_200.0
    site = Site(SiteSpec("depot", 10, math.inf, CHARGER_PRESETS["depot_dc"]))
    for t, delta_kw in ((0.0, 100.0), (1_800.0, -60.0), (5_400.0, -40.0)):
        site.add_draw(t, delta_kw * 1000.0)
    site.tariff = TouTariff("flat", (TouPeriod("all", 0.2, ALL_HOURS),), demand_charges=(DemandCharge("max", 20.0),))
    site.solar = StepSignal([0.0, 3_600.0], [60_000.0, 10_000.0], horizon, "pv", "w")
    site.export_usd_per_kwh = 0.08
    price = StepSignal([0.0, 3_600.0], [0.2, 0.5], horizon, "price", "usd_per_kwh")
    carbon = StepSignal([0.0, 2_700.0], [300.0, 100.0], horizon, "carbon", "g_per_kwh")
    out = site_summary(site, clock, horizon, price, carbon)
    expected = {"energy_kwh": 90.0, "solar_kwh": 70.0, "solar_used_kwh": 55.0, "solar_exported_kwh": 15.0,
                "grid_kwh": 35.0, "solar_saved_usd": 12.5, "solar_saved_co2_kg": 13.5, "grid_cost_usd": 11.5,
                "grid_co2_kg": 7.5, "solar_export_usd": 15.0 * 0.08, "peak_kw": 100.0,
                "demand_charge_monthly_usd": 800.0, "demand_charge_usd": 800.0 * 2 / 720}
    for key, value in expected.items():
        assert out[key] == pytest.approx(value, rel=REL), key
    (bill,) = out["demand_bills"]
    assert (bill["peak_kw"], bill["usd_monthly"]) == pytest.approx((40.0, 800.0), rel=REL)
    assert bill["run_share"] == pytest.approx(2 / 720, rel=REL)
    # Without PV the bill is on the draw itself and no PV figure is reported.
    site.solar = None
    bare = site_summary(site, clock, horizon, price, carbon)
    assert bare["demand_bills"][0]["peak_kw"] == pytest.approx(100.0, rel=REL)
    assert bare["grid_kwh"] == pytest.approx(90.0, rel=REL)
    assert bare["solar_used_kwh"] is None and bare["solar_export_usd"] is None


def _scalar_pv_integrals(site: Site, price: StepSignal, carbon: StepSignal, horizon: float) -> dict[str, float]:
    """kWh, $ and kg of min(draw, PV) and kWh of max(PV - draw, 0), one merged segment at a time."""
    cuts = sorted({*site.trace_t, *site.solar.times_s, *price.times_s, *carbon.times_s, 0.0, horizon})
    used_ws = usd = g = export_ws = 0.0
    for a, b in zip(cuts, cuts[1:]):
        if b > horizon:
            break
        draw = site.trace_w[max(i for i, t in enumerate(site.trace_t) if t <= a)]
        pv = site.solar.value(a)
        used = min(draw, pv)
        used_ws += used * (b - a)
        export_ws += (pv - used) * (b - a)
        usd += used * (b - a) * price.value(a)
        g += used * (b - a) * carbon.value(a)
    return {"solar_used_kwh": used_ws / 3.6e6, "solar_exported_kwh": export_ws / 3.6e6,
            "solar_saved_usd": usd / 3.6e6, "solar_saved_co2_kg": g / 3.6e9}


def test_a_depot_with_pv_nets_it_first_and_its_prorated_bill_joins_the_total_cost():
    """Twelve robotaxis, one day, a synthetic 80 kW PV from 08:00 to 18:00 (no pvlib needed: the
    immediate strategy does not read the PV, so it may be set after building)."""
    sc = default_scenario().with_overrides({
        "run.days": 1.0, "run.seed": 5, "fleet.vehicles": 4, "fleet.robotaxi.vehicles": 12,
        "fleet.robotaxi.depot.stalls": 4, "fleet.robotaxi.depot.export_usd_per_kwh": 0.05,
        "report.figures": False})
    sim = Simulation(sc)
    horizon = sim.horizon_s
    sim.site.solar = StepSignal([0.0, 8 * 3600.0, 18 * 3600.0], [0.0, 80_000.0, 0.0], horizon, "pv", "w")
    res = sim.run()
    s = res.summary
    depot = s["robotaxi"]["depot"]
    mine = _scalar_pv_integrals(sim.site, sim.price, sim.carbon, horizon)
    for key, value in mine.items():
        assert depot[key] == pytest.approx(value, rel=1e-9), key
    assert depot["solar_kwh"] == pytest.approx(800.0, rel=REL)  # 80 kW x 10 h
    assert 0.0 < depot["solar_used_kwh"] < 800.0 and depot["solar_exported_kwh"] > 0.0
    assert depot["solar_used_kwh"] + depot["solar_exported_kwh"] == pytest.approx(800.0, rel=REL)
    assert depot["grid_kwh"] == pytest.approx(depot["energy_kwh"] - depot["solar_used_kwh"], rel=REL)
    assert depot["solar_export_usd"] == pytest.approx(depot["solar_exported_kwh"] * 0.05, rel=REL)
    # The prorated bill: June's bill x 1 of its 30 days.
    (bill,) = depot["demand_bills"]
    assert bill["run_share"] == pytest.approx(1 / 30, rel=REL)
    assert bill["usd_prorated"] == pytest.approx(bill["usd_monthly"] / 30, rel=REL)
    assert bill["usd_monthly"] == pytest.approx(bill["peak_kw"] * B10_USD_PER_KW, rel=REL)
    assert depot["demand_charge_usd"] == pytest.approx(depot["demand_charge_monthly_usd"] / 30, rel=REL)
    # The fleet: PV is a source beside the grid, and the grid's energy, cost and CO2 fall by it.
    veh = res.vehicles
    assert (veh["weight"] == 1.0).all()
    e, cost = s["energy_kwh"], s["cost_usd"]
    drawn_kwh = float(veh["grid_wh"].sum()) / 1000.0
    assert e["solar_used"] == pytest.approx(depot["solar_used_kwh"], rel=REL)
    assert e["grid_import"] + e["solar_used"] == pytest.approx(drawn_kwh, rel=1e-9)
    assert cost["electricity"] == pytest.approx(float(veh["cost_usd"].sum()) - depot["solar_saved_usd"], rel=1e-9)
    assert s["co2_kg"]["total"] == pytest.approx(float(veh["co2_g"].sum()) / 1000.0 - depot["solar_saved_co2_kg"],
                                                 rel=1e-9)
    assert cost["demand_charges"] == pytest.approx(depot["demand_charge_usd"], rel=REL)  # homes: pge_ev2a, none
    assert cost["solar_export"] == pytest.approx(-depot["solar_export_usd"], rel=REL)
    _parts_add_up(cost)
    assert s["households"] is None
    assert s["checks"]["passed"]
    assert abs(s["checks"]["energy_balance_residual_kwh"]) < 1e-9 * drawn_kwh


def test_a_run_across_a_clock_change_still_prorates_each_month_by_its_own_hours():
    """Two days from 2022-11-05 local midnight span the fall-back day (25 hours): 49 of November's
    721 hours."""
    clock = _clock(2022, 11, 5)
    horizon = (datetime(2022, 11, 7, tzinfo=LA).astimezone(timezone.utc)
               - datetime(2022, 11, 5, tzinfo=LA).astimezone(timezone.utc)).total_seconds()
    assert horizon == 49 * 3600.0 and timedelta(seconds=horizon) == timedelta(hours=49)
    cal = DemandCalendar(PGE_B10, clock, horizon)
    assert cal.months == ["2022-11"]
    assert cal.run_share == pytest.approx([49 / 721], rel=REL)
