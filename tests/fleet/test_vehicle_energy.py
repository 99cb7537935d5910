"""Single-vehicle days computed by hand, and the energy balance on random scenarios.

The hand computations below use only the published parameters (charger power and efficiency,
loads, consumption, the PG&E EV2-A hours and the CAISO hourly profile) and elementary
arithmetic; they do not call the simulator's charging or signal code.
"""
from __future__ import annotations

import numpy as np
import pytest
from hand_values import CAISO, ev2a_summer
from planners import OneDayPlanner

from fleet.jobs import BATCH_CLASS, Job
from fleet.mobility import HOME, WORK
from sim.runner import Simulation
from sim.scenario import default_scenario

BASE = {
    "run.days": 1.0,
    "run.warmup_days": 0.0,  # the hand computation starts from the stated state of charge
    "fleet.network.enabled": False,  # no link outages: the hand computation assumes the car stays online
    "fleet.vehicles": 1,
    "fleet.opt_in_share": 1.0,
    "fleet.away_connectivity": 1.0,
    "fleet.initial_soc_min": 0.6,
    "fleet.initial_soc_max": 0.6,
    "workload.interactive.rate_per_s": 0.0,
    "workload.batch.rate_per_s": 0.0,
}


def hand_integral(segments: list[tuple[float, float, float]], per_hour) -> float:
    """Sum of power (W) x hours x f(local hour) over segments (t0, t1, W), split at hours."""
    total = 0.0
    for t0, t1, p in segments:
        t = t0
        while t < t1:
            h = int(t // 3600)
            t_next = min(t1, (h + 1) * 3600.0)
            total += p * (t_next - t) / 3600.0 * per_hour(h % 24)
            t = t_next
    return total


def test_drive_work_idle_home_charge_day_matches_hand_computation():
    sim = Simulation(default_scenario().with_overrides(BASE))
    # Home -> work at 08:00 (30 km, 30 min), work -> home at 17:00 (30 km, 30 min).
    sim.ctx.planner = OneDayPlanner([(28800.0, 30600.0, 30.0, WORK), (61200.0, 63000.0, 30.0, HOME)])
    res = sim.run()
    v = sim.vehicles[0]

    cap, limit = 75000.0, 0.9 * 75000.0
    eff, p_max = 0.90, 11500.0
    load = 300.0 + 80.0  # awake overhead + idle chip, W (online, no jobs)
    trip_wh = 30.0 * 144.8

    def step_power(soc_mid: float) -> float:  # linear taper from 0.8 (100 %) to 1.0 (10 %)
        return p_max * (1.0 - 0.9 * (soc_mid - 0.8) / 0.2)

    def charge(e0: float, t0: float, t_end: float):
        """Charge from e0 at t0 (stepped taper); return grid segments and the energy at t_end."""
        pieces = [(0.8 * cap, p_max), (0.85 * cap, step_power(0.825)), (0.9 * cap, step_power(0.875))]
        segs, e, t = [], e0, t0
        for upper, p in pieces:
            if e >= upper:
                continue
            dt = (upper - e) / (eff * p - load) * 3600.0
            if t + dt >= t_end:
                segs.append((t, t_end, p))
                return segs, e + (eff * p - load) * (t_end - t) / 3600.0
            segs.append((t, t + dt, p))
            e, t = upper, t + dt
        segs.append((t, t_end, load / eff))  # at the limit: the charger covers the load
        return segs, e

    segs_morning, e = charge(0.6 * cap, 0.0, 28800.0)
    assert e == pytest.approx(limit, abs=1e-9)
    e -= trip_wh  # to work
    e -= load * (61200.0 - 30600.0) / 3600.0  # parked at work, awake, on battery
    e -= trip_wh  # home
    segs_evening, e_end = charge(e, 63000.0, 86400.0)
    grid_segments = segs_morning + segs_evening

    grid_wh = hand_integral(grid_segments, lambda h: 1.0)
    cost = hand_integral(grid_segments, ev2a_summer) / 1000.0
    co2_g = hand_integral(grid_segments, lambda h: CAISO[h]) / 1000.0

    assert v.energy_wh == pytest.approx(e_end, abs=1e-6)
    assert v.meter.energy_wh == pytest.approx(grid_wh, abs=1e-6)
    assert v.meter.cost_usd == pytest.approx(cost, rel=1e-9)
    assert v.meter.co2_g == pytest.approx(co2_g, rel=1e-9)
    assert v.e_drive == pytest.approx(2 * trip_wh, abs=1e-9)
    awake_s = 86400.0 - 2 * 1800.0
    assert v.e_infer == pytest.approx(load * awake_s / 3600.0, abs=1e-6)
    assert v.e_loss == pytest.approx(grid_wh * (1 - eff), abs=1e-6)
    s = res.summary
    assert s["energy_kwh"]["driving"] == pytest.approx(2 * trip_wh / 1000.0, abs=1e-12)
    assert abs(s["checks"]["energy_balance_residual_kwh"]) < 1e-9
    assert s["fleet"]["trips"] == 2 and s["fleet"]["trips_impacted"] == 0


def test_serving_on_battery_stops_exactly_at_the_guard():
    end_s = 83000.0  # the run ends during the drive home
    over = dict(BASE, **{"fleet.initial_soc_min": 0.3, "fleet.initial_soc_max": 0.3,
                         "fleet.home_charger_share": 0.0, "run.days": end_s / 86400.0})
    sim = Simulation(default_scenario().with_overrides(over))
    sim.ctx.planner = OneDayPlanner([(3600.0, 5400.0, 20.0, WORK), (82800.0, 84600.0, 20.0, HOME)])
    env = sim.env

    def submit_batch(_ev):
        for i in range(4):  # fill the four slots with long batch work
            sim.dispatcher.submit(Job(i, BATCH_CLASS, env.now, 4000, 10**7, 1e9, 1e9))

    ev = env.timeout(6000.0)
    ev.callbacks.append(submit_batch)
    res = sim.run()
    v = sim.vehicles[0]

    cap = 75000.0
    trip_wh = 20.0 * 144.8
    idle_w, full_w, sleep_w = 300.0 + 80.0, 300.0 + 160.0, 34.0
    # At home without a charger the car is online (Wi-Fi) and idles on its battery until 01:00.
    e_arrive = 0.3 * cap - idle_w * 1.0 - trip_wh
    # At work its guard is the reserve, the trip home and sleep until it is home (23:30).
    guard = 0.2 * cap + trip_wh + sleep_w * (84600.0 - 5400.0) / 3600.0
    e_jobs = e_arrive - idle_w * (6000.0 - 5400.0) / 3600.0
    t_cross = 6000.0 + (e_jobs - guard) / full_w * 3600.0
    assert 6000.0 < t_cross < 82800.0
    e_depart = guard - sleep_w * (82800.0 - t_cross) / 3600.0
    e_end = e_depart - trip_wh * (end_s - 82800.0) / 1800.0

    assert v.energy_wh == pytest.approx(e_end, abs=1e-6)
    assert v.e_infer == pytest.approx(idle_w * (3600.0 + 600.0) / 3600.0
                                      + full_w * (t_cross - 6000.0) / 3600.0, abs=1e-6)
    assert v.e_sleep == pytest.approx(sleep_w * (82800.0 - t_cross) / 3600.0, abs=1e-6)
    assert e_depart - trip_wh >= 0.2 * cap  # the trip home keeps the reserve
    s = res.summary
    assert s["jobs"]["preempted_by_cause"] == {"departure": 0, "reserve": 4, "outage": 0}
    assert s["fleet"]["trips_impacted"] == 0
    jobs = res.jobs
    assert (jobs["preemptions"] == 1).all() and (jobs["outcome"] == "queued").all()
    assert abs(s["checks"]["energy_balance_residual_kwh"]) < 1e-9


@pytest.mark.parametrize("seed", [3, 11, 29])
def test_energy_and_job_balance_on_random_scenarios(seed):
    rng = np.random.default_rng(seed)
    over = {
        "run.seed": int(seed),
        "run.days": float(rng.uniform(0.5, 1.5)),
        "run.sample_interval_s": float(rng.choice([300.0, 900.0, 3600.0])),
        "fleet.vehicles": int(rng.integers(50, 200)),
        "fleet.opt_in_share": float(rng.uniform(0.2, 1.0)),
        "fleet.home_charger_share": float(rng.uniform(0.5, 1.0)),
        "fleet.initial_soc_min": 0.2,
        "fleet.initial_soc_max": 0.8,
        "fleet.battery.capacity_wh": float(rng.uniform(40000, 90000)),
        "fleet.battery.discharge_efficiency": float(rng.uniform(0.9, 1.0)),
        "fleet.charger.power_w": float(rng.choice([1400.0, 7200.0, 11500.0])),
        "fleet.charger.taper_steps": int(rng.integers(1, 8)),
        "fleet.chip.preset": str(rng.choice(["hw4", "future_1kw"])),
        "workload.interactive.rate_per_s": float(rng.uniform(0.05, 0.5)),
        "workload.batch.rate_per_s": float(rng.uniform(0.0, 0.2)),
    }
    res = Simulation(default_scenario().with_overrides(over)).run()
    c = res.summary["checks"]
    total = res.summary["energy_kwh"]["grid_import"] + abs(res.summary["energy_kwh"]["battery_change"])
    assert abs(c["energy_balance_residual_kwh"]) <= 1e-9 * max(total, 1.0)
    assert c["vehicle_energy_residual_max_wh"] < 1e-6
    assert abs(c["grid_meter_vs_recorder_kwh"]) <= 1e-9 * max(total, 1.0)
    assert c["job_balance_residual"] == 0
    # The time series integrates to the same grid energy as the summary.
    ts = res.timeseries
    dt = np.diff(np.concatenate([[0.0], ts["t_s"].to_numpy()]))
    assert (ts["grid_w"] * dt).sum() / 3.6e6 == pytest.approx(res.summary["energy_kwh"]["grid_import"], rel=1e-9)
    assert res.summary["fleet"]["trips_impacted"] == 0


def test_battery_content_carries_the_carbon_and_cost_of_its_charging_hours():
    """Average-cost battery accounting: with no load while parked, every grid Wh goes to the battery
    (or its charging losses), so content x energy at the end = the start's content + what the
    meter paid, exactly."""
    over = {"run.days": 1.0, "fleet.vehicles": 3, "fleet.mobility": False, "fleet.opt_in_share": 0.0,
            "fleet.network.enabled": False,
            "fleet.vehicle.sleep_w": 0.0, "fleet.initial_soc_min": 0.3, "fleet.initial_soc_max": 0.6,
            "workload.interactive.rate_per_s": 0.0, "workload.batch.rate_per_s": 0.0}
    sim = Simulation(default_scenario().with_overrides(over))
    sim.execute()
    g0_per_wh, usd0_per_wh = sim.ctx.battery_content0
    # the start's content: the grid's mean over the first day (CAISO 2022 hours, June 6 local),
    # through the home charger's losses
    hours = np.arange(0.0, 86400.0, 3600.0) + 1800.0
    eff = sim.spec.home_charger.efficiency
    assert g0_per_wh * 1000.0 * eff == pytest.approx(np.mean([sim.carbon.value(t) for t in hours]), rel=1e-12)
    assert usd0_per_wh * 1000.0 * eff == pytest.approx(np.mean([sim.price.value(t) for t in hours]), rel=1e-12)
    for v, e0 in zip(sim.vehicles, sim.initial_energy_wh):
        assert v.meter.energy_wh > 1000.0  # it charged
        assert v.energy_wh == pytest.approx(0.9 * v.spec.battery.capacity_wh, abs=1e-6)
        want_g = g0_per_wh * e0 + v.meter.co2_g
        want_usd = usd0_per_wh * e0 + v.meter.cost_usd
        assert v.batt_g_per_wh * v.energy_wh == pytest.approx(want_g, rel=1e-9)
        assert v.batt_usd_per_wh * v.energy_wh == pytest.approx(want_usd, rel=1e-9)
        # charging at night mixes in cleaner or dirtier energy: the average moved
        assert v.batt_g_per_wh != pytest.approx(g0_per_wh, rel=1e-6)


def test_discharging_leaves_the_battery_content_unchanged():
    """Cars that never charge (no home charger) only discharge: their content stays the start's."""
    over = {"run.days": 1.0, "fleet.vehicles": 40, "fleet.home_charger_share": 0.0, "fleet.opt_in_share": 0.5,
            "workload.interactive.rate_per_s": 0.05, "workload.batch.rate_per_s": 0.0}
    sim = Simulation(default_scenario().with_overrides(over))
    sim.execute()
    g0_per_wh, usd0_per_wh = sim.ctx.battery_content0
    drove = [(v, e0) for v, e0 in zip(sim.vehicles, sim.initial_energy_wh) if v.km > 0 and v.fast_charges == 0]
    assert len(drove) > 10
    for v, e0 in drove:
        assert v.energy_wh < e0
        assert v.batt_g_per_wh == g0_per_wh and v.batt_usd_per_wh == usd0_per_wh
