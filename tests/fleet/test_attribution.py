"""Per-job attribution of inference energy, cost and CO2, checked against independent truth.

Expected values come from hand computation with the published inputs only: the hw4 chip (4 slots,
1,000 prefill and 40 decode tok/s per slot, 80 W idle, 160 W active), the 300 W awake overhead,
the 90 % home charger, PG&E EV2-A summer prices and the CAISO 2022 hourly carbon profile (both
by local hour; the default run starts Monday 2022-06-06 00:00 in Los Angeles, so local hour =
simulation hour). Aggregate checks compare the jobs table with paths that do not go through
``Vehicle.bill_job``: the recorder's busy and online slot-seconds, and the vehicles' grid meters.

A busy hw4 slot is billed ``(160 - 80) / 4 + (80 + 300) / 4 = 20 + 95 = 115 W``.
"""
from __future__ import annotations

import functools

import numpy as np
import pytest
from hand_values import CAISO, ev2a_summer

from fleet.channels import AVAILABLE
from fleet.jobs import BATCH_CLASS, INTERACTIVE_CLASS, Job
from fleet.mobility import HOME, WORK, DayPlan
from fleet.planner import PlanLists
from sim.results import load_results, write_results
from sim.runner import Simulation, _NoTrips
from sim.scenario import default_scenario

DAY_S = 86400.0
PREFILL, DECODE = 1000.0, 40.0  # hw4 tokens/s per slot
IDLE_W, ACTIVE_W, SLOTS, OVERHEAD_W = 80.0, 160.0, 4, 300.0
SERVED_W = (ACTIVE_W - IDLE_W) / SLOTS + (IDLE_W + OVERHEAD_W) / SLOTS  # 115 W
CHARGER_EFF = 0.90


def caiso(hour: int) -> float:
    return float(CAISO[hour])


def hour_integral(t0: float, t1: float, per_hour) -> float:
    """Integral over [t0, t1] (s) of f(local hour) in f x hours, split at every hour boundary."""
    total, t = 0.0, t0
    while t < t1:
        h = int(t // 3600)
        t_next = min(t1, (h + 1) * 3600.0)
        total += (t_next - t) / 3600.0 * per_hour(h % 24)
        t = t_next
    return total


def service_s(prompt: int, output: int) -> float:
    return prompt / PREFILL + output / DECODE


def scenario(over: dict):
    return default_scenario().with_overrides({"report.figures": False, **over})


def submit_at(sim: Simulation, jobs: list[Job]) -> None:
    """Hand each job to the dispatcher at its arrival time."""
    for job in jobs:
        ev = sim.env.timeout(job.arrival_s)
        ev.callbacks.append(lambda _ev, job=job: sim.dispatcher.submit(job))


class FixedPlanner(_NoTrips):
    """All cars stay home except the trips given: ``trips[vid] = [(depart_s, arrive_s, km, place)]``."""

    def __init__(self, trips: list[list[tuple[float, float, float, int]]]) -> None:
        super().__init__(len(trips))
        off = np.zeros(len(trips) + 1, np.int64)
        off[1:] = np.cumsum([len(t) for t in trips])
        flat = [x for t in trips for x in t]

        def col(i, dt):
            return np.array([f[i] for f in flat], dt)

        self._plan = PlanLists(DayPlan(off, col(0, float), col(1, float), col(2, float), col(3, np.int8)))


ONE_CAR_HOME = {
    "run.days": 1.0,
    "fleet.vehicles": 1,
    "fleet.mobility": False, "fleet.network.enabled": False,
    "fleet.opt_in_share": 1.0,
    "workload.interactive.rate_per_s": 0.0,
    "workload.batch.rate_per_s": 0.0,
}


# ====================================================================== 1. plugged, at the limit
# (arrival s, class, prompt, output): the hand-computed service time is in the comment.
PLUGGED_JOBS = [
    (10.0, INTERACTIVE_CLASS, 800, 200),  # 0.8 + 5 s, hour 0
    (53940.0, INTERACTIVE_CLASS, 1000, 4760),  # 14:59:00 -> 15:01:00 (1 + 119 s): off-peak -> partial
    (53970.0, BATCH_CLASS, 2000, 1200),  # 14:59:30 -> 15:00:02 (2 + 30 s), alongside the one above
    (59400.0, BATCH_CLASS, 250, 100),  # 16:30, 0.25 + 2.5 s, peak
    (75570.0, INTERACTIVE_CLASS, 500, 2380),  # 20:59:30 -> 21:00:30 (0.5 + 59.5 s): peak -> partial
]


def test_plugged_car_at_its_limit_bills_each_job_its_slot_at_the_grid_price():
    sim = Simulation(scenario({**ONE_CAR_HOME, "fleet.home_charger_share": 1.0,
                               "fleet.initial_soc_min": 0.9, "fleet.initial_soc_max": 0.9}))
    jobs = [Job(i, c, t, p, o, 1e9, 1e9) for i, (t, c, p, o) in enumerate(PLUGGED_JOBS)]
    submit_at(sim, jobs)
    res = sim.run()
    v = sim.vehicles[0]
    assert v.spec.slot_served_w == pytest.approx(115.0, abs=1e-12) and SERVED_W == 115.0
    assert v.plugged and v.full  # at the charge limit all day: the charger covers the load
    kw_grid = SERVED_W / CHARGER_EFF / 1000.0  # kW drawn from the grid for one busy slot
    runs = []
    tab = res.jobs.set_index("job_id")
    for i, (t, _c, p, o) in enumerate(PLUGGED_JOBS):
        row = tab.loc[i]
        dur = service_s(p, o)
        runs.append((t, t + dur))
        assert row["outcome"] == "completed" and row["start_s"] == t
        assert row["finish_s"] == pytest.approx(t + dur, abs=1e-9)
        assert row["energy_wh"] == pytest.approx(SERVED_W * dur / 3600.0, rel=1e-9, abs=1e-12)
        assert row["cost_usd"] == pytest.approx(kw_grid * hour_integral(t, t + dur, ev2a_summer), rel=1e-9)
        assert row["co2_g"] == pytest.approx(kw_grid * hour_integral(t, t + dur, caiso), rel=1e-9)
    # the 14:59 job spans the price step: its cost is not the off-peak (or partial-peak) price x time
    row = tab.loc[1]
    assert row["cost_usd"] > kw_grid * 120.0 / 3600.0 * 0.22558 * 1.1
    assert row["cost_usd"] < kw_grid * 120.0 / 3600.0 * 0.42760 * 0.9

    # The car's inference account: idle chip and awake car all day, plus 20 W per busy slot; at
    # the limit every grid Wh feeds exactly these loads, so it equals the grid meter's bill.
    def bill(per_hour) -> float:
        base = (IDLE_W + OVERHEAD_W) * hour_integral(0.0, DAY_S, per_hour)
        active = sum((ACTIVE_W - IDLE_W) / SLOTS * hour_integral(a, b, per_hour) for a, b in runs)
        return (base + active) / CHARGER_EFF / 1000.0

    assert v.infer_usd == pytest.approx(bill(ev2a_summer), rel=1e-9)
    assert v.infer_g == pytest.approx(bill(caiso), rel=1e-9)
    assert v.meter.cost_usd == pytest.approx(bill(ev2a_summer), rel=1e-9)
    veh = res.vehicles.iloc[0]
    assert veh["inference_usd"] == pytest.approx(bill(ev2a_summer), rel=1e-9)
    assert veh["inference_co2_g"] == pytest.approx(bill(caiso), rel=1e-9)
    busy_wh = sum(b - a for a, b in runs) * (ACTIVE_W - IDLE_W) / SLOTS / 3600.0
    assert veh["inference_wh"] == pytest.approx((IDLE_W + OVERHEAD_W) * 24.0 + busy_wh, rel=1e-12)


# ====================================================================== 2. unplugged, on battery
def test_unplugged_car_bills_jobs_at_the_battery_content_through_discharge_losses():
    de = 0.95
    sim = Simulation(scenario({**ONE_CAR_HOME, "fleet.home_charger_share": 0.0,
                               "fleet.battery.discharge_efficiency": de,
                               "fleet.initial_soc_min": 0.6, "fleet.initial_soc_max": 0.6}))
    spec = [(100.0, INTERACTIVE_CLASS, 1000, 400), (54000.0, BATCH_CLASS, 4000, 2000),
            (54010.0, INTERACTIVE_CLASS, 300, 90)]
    jobs = [Job(i, c, t, p, o, 1e9, 1e9) for i, (t, c, p, o) in enumerate(spec)]
    submit_at(sim, jobs)
    res = sim.run()
    v = sim.vehicles[0]
    assert not v.plugged and v.state == AVAILABLE  # parked at home, online, on its battery
    # The start's content, by hand: the first day's mean price and carbon through the charger.
    usd0 = np.mean([ev2a_summer(h) for h in range(24)]) / 1000.0 / CHARGER_EFF  # $/Wh
    g0 = np.mean(CAISO) / 1000.0 / CHARGER_EFF  # g/Wh
    assert sim.ctx.battery_content0 == pytest.approx((g0, usd0), rel=1e-12)
    assert (v.batt_g_per_wh, v.batt_usd_per_wh) == sim.ctx.battery_content0  # discharging only
    tab = res.jobs.set_index("job_id")
    busy_s = 0.0
    for i, (t, _c, p, o) in enumerate(spec):
        row = tab.loc[i]
        dur = service_s(p, o)
        busy_s += dur
        wh = SERVED_W * dur / 3600.0
        assert row["outcome"] == "completed" and row["finish_s"] == pytest.approx(t + dur, abs=1e-9)
        assert row["energy_wh"] == pytest.approx(wh, rel=1e-12)
        assert row["cost_usd"] == pytest.approx(wh / de * usd0, rel=1e-12)
        assert row["co2_g"] == pytest.approx(wh / de * g0, rel=1e-12)
    # the car's own account: every inference Wh drawn from the battery at the same content
    infer_wh = (IDLE_W + OVERHEAD_W) * 24.0 + (ACTIVE_W - IDLE_W) / SLOTS * busy_s / 3600.0
    assert v.e_infer == pytest.approx(infer_wh, rel=1e-12)
    assert v.infer_usd == pytest.approx(infer_wh / de * usd0, rel=1e-12)
    assert v.infer_g == pytest.approx(infer_wh / de * g0, rel=1e-12)


# ====================================================================== 2b. charged at home, serving at work
def test_battery_content_charged_overnight_prices_jobs_served_away_on_the_battery():
    """Car 0 charges at home from 30 % on a 1.4 kW charger (never full: 0.9 x 1400 - 380 W online
    = 880 W into the battery) until it leaves for work at 08:00; at work it serves a job on its
    battery at 10:00. The job pays the battery's average content: the start's charge (valued at
    the first 12 h mean, the run's horizon) mixed with 8 h of charging at the hourly carbon."""
    de = 0.95
    horizon = 43200.0
    sim = Simulation(scenario({
        "run.days": horizon / DAY_S, "fleet.vehicles": 1, "fleet.opt_in_share": 1.0,
        "fleet.home_charger_share": 1.0, "fleet.away_connectivity": 1.0, "fleet.charger.power_w": 1400.0,
        "fleet.battery.discharge_efficiency": de, "fleet.initial_soc_min": 0.3, "fleet.initial_soc_max": 0.3,
        "run.warmup_days": 0.0,
        "workload.interactive.rate_per_s": 0.0, "workload.batch.rate_per_s": 0.0,
    }))
    sim.ctx.planner = FixedPlanner([[(28800.0, 30600.0, 30.0, WORK), (61200.0, 63000.0, 30.0, HOME)]])
    submit_at(sim, [Job(0, INTERACTIVE_CLASS, 36000.0, 1000, 400, 1e9, 1e9)])
    res = sim.run()
    v = sim.vehicles[0]
    assert v.place == WORK and not v.plugged and v.fast_charges == 0

    e0 = 0.3 * 75000.0
    stored_per_h = CHARGER_EFF * 1400.0 - (IDLE_W + OVERHEAD_W)  # 880 Wh per hour, hours 0..7
    grid_kwh_per_h = stored_per_h / CHARGER_EFF / 1000.0
    g0 = np.mean(CAISO[:12]) / 1000.0 / CHARGER_EFF
    usd0 = np.mean([ev2a_summer(h) for h in range(12)]) / 1000.0 / CHARGER_EFF
    e_dep = e0 + 8 * stored_per_h
    g_content = (g0 * e0 + sum(grid_kwh_per_h * CAISO[h] for h in range(8))) / e_dep
    usd_content = (usd0 * e0 + sum(grid_kwh_per_h * ev2a_summer(h) for h in range(8))) / e_dep
    assert v.batt_g_per_wh == pytest.approx(g_content, rel=1e-12)
    assert v.batt_g_per_wh != pytest.approx(g0, rel=1e-3)  # charging moved the content

    row = res.jobs.set_index("job_id").loc[0]
    wh = SERVED_W * service_s(1000, 400) / 3600.0
    assert row["outcome"] == "completed" and row["start_s"] == 36000.0
    assert row["energy_wh"] == pytest.approx(wh, rel=1e-12)
    assert row["co2_g"] == pytest.approx(wh / de * g_content, rel=1e-12)
    assert row["cost_usd"] == pytest.approx(wh / de * usd_content, rel=1e-12)


# ====================================================================== 3. a random fleet
RANDOM_SEED = 8


@functools.lru_cache(maxsize=None)
def random_run(carbon_price: float = 0.0):
    """A default-ish day of 50-200 cars with mobility, mixed chargers, discharge losses and busy slots."""
    rng = np.random.default_rng(RANDOM_SEED)
    over = {
        "run.seed": RANDOM_SEED,
        "run.days": 1.0,
        "fleet.vehicles": int(rng.integers(50, 200)),
        "fleet.opt_in_share": float(rng.uniform(0.2, 0.4)),  # scarce slots: some jobs never start
        "fleet.home_charger_share": float(rng.uniform(0.5, 0.9)),
        "fleet.initial_soc_min": 0.2,
        "fleet.initial_soc_max": 0.8,
        "fleet.battery.discharge_efficiency": float(rng.uniform(0.9, 1.0)),
        "fleet.charger.power_w": float(rng.choice([1400.0, 7200.0, 11500.0])),
        "workload.interactive.rate_per_s": float(rng.uniform(0.3, 1.0)),
        "workload.interactive.max_wait_s": 2.0,
        "workload.batch.rate_per_s": float(rng.uniform(0.2, 0.5)),
        "grid.carbon_price_usd_per_tonne": carbon_price,
    }
    sim = Simulation(scenario(over))
    res = sim.run()
    return sim, res


def test_random_fleet_jobs_add_up_to_the_recorder_and_the_vehicles():
    sim, res = random_run()
    jobs, veh, s = res.jobs, res.vehicles, res.summary
    att = s["attribution"]
    totals = sim.rec.totals()  # slot-seconds, weight 1
    assert (veh["weight"] == 1.0).all()
    assert s["jobs"]["preempted"] > 0 and s["jobs"]["running_at_end"] > 0  # all billing paths taken
    assert not veh["home_charger"].all() and veh["home_charger"].any()
    assert SERVED_W == sim.spec.slot_served_w

    # Served energy: every busy slot-second is billed to exactly one job (recorder path).
    served_wh = SERVED_W * totals["busy_slots"] / 3600.0
    assert jobs["energy_wh"].sum() == pytest.approx(served_wh, rel=1e-9)
    # Standby: online cars' idle chip and awake car on their free slots (recorder path).
    standby_wh = (IDLE_W + OVERHEAD_W) / SLOTS * (totals["online_slots"] - totals["busy_slots"]) / 3600.0
    assert att["standby_kwh"] == pytest.approx(standby_wh / 1000.0, rel=1e-9)
    assert att["jobs_served_kwh"] == pytest.approx(served_wh / 1000.0, rel=1e-9)
    assert att["inference_kwh"] == pytest.approx(s["energy_kwh"]["inference"], rel=1e-9)
    assert att["inference_kwh"] == pytest.approx((served_wh + standby_wh) / 1000.0, rel=1e-9)
    assert att["standby_share"] == pytest.approx(standby_wh / (served_wh + standby_wh), rel=1e-9)
    assert abs(att["jobs_total_minus_inference_kwh"]) <= 1e-12 * att["inference_kwh"]

    # Totals with standby shared out add up to the vehicles' inference accounts.
    assert jobs["energy_total_wh"].sum() == pytest.approx(veh["inference_wh"].sum(), rel=1e-9)
    assert jobs["co2_total_g"].sum() == pytest.approx(veh["inference_co2_g"].sum(), rel=1e-9)
    assert jobs["cost_total_usd"].sum() == pytest.approx(veh["inference_usd"].sum(), rel=1e-9)
    assert att["jobs_served_usd"] == pytest.approx(jobs["cost_usd"].sum(), rel=1e-12)
    assert att["jobs_served_co2_kg"] == pytest.approx(jobs["co2_g"].sum() / 1000.0, rel=1e-12)
    assert att["inference_usd"] == pytest.approx(veh["inference_usd"].sum(), rel=1e-12)
    assert att["inference_co2_kg"] == pytest.approx(veh["inference_co2_g"].sum() / 1000.0, rel=1e-12)
    # served <= inference in every currency (the busy slots' share of the car's account)
    assert jobs["cost_usd"].sum() < veh["inference_usd"].sum()
    assert jobs["co2_g"].sum() < veh["inference_co2_g"].sum()

    cols = ["energy_wh", "cost_usd", "co2_g", "energy_total_wh", "cost_total_usd", "co2_total_g"]
    assert (jobs[cols].to_numpy() >= 0.0).all()
    never = jobs["start_s"].isna()
    assert never.sum() > 0  # some jobs were dropped without ever starting
    assert (jobs.loc[never, cols].to_numpy() == 0.0).all()
    started = jobs[~never]
    assert (started["energy_wh"] > 0.0).all() and (started["cost_usd"] > 0.0).all()
    assert (started["co2_g"] > 0.0).all()

    # One uninterrupted run: energy = 115 W x (end - start), the end being the finish or the horizon.
    once = jobs[jobs["preemptions"] == 0]
    done = once[once["outcome"] == "completed"]
    assert len(done) > 1000
    np.testing.assert_allclose(done["energy_wh"], SERVED_W * (done["finish_s"] - done["start_s"]) / 3600.0,
                               rtol=1e-9)
    np.testing.assert_allclose(done["finish_s"] - done["start_s"],
                               done["prompt_tokens"] / PREFILL + done["output_tokens"] / DECODE, rtol=1e-9)
    running = once[once["outcome"] == "running"]
    assert len(running) > 0
    np.testing.assert_allclose(running["energy_wh"], SERVED_W * (DAY_S - running["start_s"]) / 3600.0, rtol=1e-9)
    # A completed preempted job ran at least one full service in all (interactive jobs restart,
    # batch jobs keep whole decoded tokens only) and at most from its first start to its finish.
    pre = jobs[(jobs["preemptions"] > 0) & (jobs["outcome"] == "completed")]
    assert len(pre) > 10
    span_wh = SERVED_W * (pre["finish_s"] - pre["start_s"]) / 3600.0
    full_wh = SERVED_W * (pre["prompt_tokens"] / PREFILL + pre["output_tokens"] / DECODE) / 3600.0
    assert (pre["energy_wh"] <= span_wh * (1 + 1e-12)).all()
    assert (pre["energy_wh"] >= full_wh * (1 - 1e-12)).all()
    assert (pre["energy_wh"] > full_wh * (1 + 1e-9)).any()  # some runs were lost to preemption

    # Standby is shared in proportion to served energy: every started job's total / served is
    # the fleet's inference / served energy (recorder path).
    ratio = (served_wh + standby_wh) / served_wh
    np.testing.assert_allclose(started["energy_total_wh"], started["energy_wh"] * ratio, rtol=1e-9)


def test_attribution_columns_reach_the_files(tmp_path):
    _sim, res = random_run()
    out = write_results(res, tmp_path / "r")
    back = load_results(out)
    for col in ("energy_wh", "cost_usd", "co2_g", "energy_total_wh", "cost_total_usd", "co2_total_g"):
        np.testing.assert_allclose(back.jobs[col], res.jobs[col], rtol=1e-12, atol=1e-15)
    for col in ("inference_usd", "inference_co2_g", "inference_wh"):
        np.testing.assert_allclose(back.vehicles[col], res.vehicles[col], rtol=1e-12, atol=1e-15)
    assert back.summary["attribution"].keys() == res.summary["attribution"].keys()
    assert set(back.summary["cost_usd"]) == {"electricity", "demand_charges", "solar_export", "carbon", "owner_payouts",
                                             "total"}


def test_fleet_at_its_limit_inference_bill_equals_the_grid_meters():
    """Every car at home, plugged, at its charge limit and online all day: each grid Wh feeds the
    inference loads, so the vehicles' inference accounts equal their meters' bills, and the jobs'
    totals (served + shared standby) add up to the fleet's electricity bill."""
    sim = Simulation(scenario({
        "run.days": 1.0, "run.seed": 5, "fleet.vehicles": 12, "fleet.mobility": False, "fleet.opt_in_share": 1.0,
        "fleet.network.enabled": False,
        "fleet.home_charger_share": 1.0, "fleet.initial_soc_min": 0.9, "fleet.initial_soc_max": 0.9,
        "workload.service": "exponential", "workload.mean_service_s": 30.0,
        "workload.interactive.rate_per_s": 0.8, "workload.interactive.diurnal": "flat",
        "workload.batch.rate_per_s": 0.0,
    }))
    res = sim.run()
    veh, jobs = res.vehicles, res.jobs
    assert all(v.full and v.plugged for v in sim.vehicles)
    assert res.summary["utilization"]["mean"] > 0.3
    np.testing.assert_allclose(veh["inference_usd"], veh["cost_usd"], rtol=1e-9)
    np.testing.assert_allclose(veh["inference_co2_g"], veh["co2_g"], rtol=1e-9)
    assert jobs["cost_total_usd"].sum() == pytest.approx(res.summary["cost_usd"]["electricity"], rel=1e-9)
    assert jobs["co2_total_g"].sum() / 1000.0 == pytest.approx(res.summary["co2_kg"]["total"], rel=1e-9)
    # exponential service: one uninterrupted run per job, billed at the grid's mean price over it
    done = jobs[jobs["outcome"] == "completed"]
    assert (done["preemptions"] == 0).all() and len(done) > 10000
    sample = done.iloc[:: max(1, len(done) // 200)]
    kw_grid = SERVED_W / CHARGER_EFF / 1000.0
    for row in sample.itertuples():
        assert row.cost_usd == pytest.approx(kw_grid * hour_integral(row.start_s, row.finish_s, ev2a_summer),
                                             rel=1e-9)
        assert row.co2_g == pytest.approx(kw_grid * hour_integral(row.start_s, row.finish_s, caiso), rel=1e-9)


# ====================================================================== 4. preemption
# Job 0 (1000 prompt, 400 output: 1 s prefill + 10 s decode on a 1-slot hw4) arrives at 3590 s
# and starts on car 0 (round robin), which has no home charger and leaves at 3595 s: 5 s on its
# battery. It restarts at once on car 1 (plugged), across 01:00 (carbon 308 -> 305 g/kWh).
# Interactive restarts from scratch (11 s); batch keeps 4 s x 40 = 160 tokens and redoes the
# prefill: 1 + 240 / 40 = 7 s.
@pytest.mark.parametrize("cls, second_run_s", [(INTERACTIVE_CLASS, 11.0), (BATCH_CLASS, 7.0)])
def test_preempted_job_carries_the_energy_cost_and_co2_of_both_runs(cls, second_run_s):
    de = 0.95
    days = 4320.0 / DAY_S
    sim = Simulation(scenario({
        "fleet.vehicles": 2, "fleet.mobility": False, "fleet.opt_in_share": 1.0, "fleet.chip.slots": 1,
        "fleet.network.enabled": False,
        "fleet.home_charger_share": 1.0, "fleet.battery.discharge_efficiency": de,
        "fleet.initial_soc_min": 0.6, "fleet.initial_soc_max": 0.6,
        "workload.interactive.rate_per_s": 0.0, "workload.batch.rate_per_s": 0.0,
        "dispatch.policy": "round_robin", "run.days": days,
    }))
    sim.ctx.planner = FixedPlanner([[(3595.0, 4000.0, 5.0, HOME)], []])
    sim.vehicles[0].has_home_charger = False
    submit_at(sim, [Job(0, cls, 3590.0, 1000, 400, 1e9, 1e9)])
    res = sim.run()
    row = res.jobs.set_index("job_id").loc[0]
    assert row["outcome"] == "completed" and row["preemptions"] == 1 and row["vehicle_id"] == 1
    assert list(res.vehicles["preemptions"]) == [1, 0]
    assert row["finish_s"] == pytest.approx(3595.0 + second_run_s, abs=1e-9)

    served_w = (ACTIVE_W - IDLE_W) / 1 + (IDLE_W + OVERHEAD_W) / 1  # one slot: 460 W
    first_wh = served_w * 5.0 / 3600.0
    second_wh = served_w * second_run_s / 3600.0
    assert row["energy_wh"] == pytest.approx(first_wh + second_wh, rel=1e-12)
    # Car 0's battery content: the grid's mean over the run's first 4320 s (the whole horizon,
    # shorter than a day) through the charger; price is off-peak throughout.
    horizon = 4320.0
    usd0 = 0.22558 / 1000.0 / CHARGER_EFF
    g0 = (3600.0 * 308 + (horizon - 3600.0) * 305) / horizon / 1000.0 / CHARGER_EFF
    kw_grid = served_w / CHARGER_EFF / 1000.0
    t1 = 3595.0 + second_run_s
    want_usd = first_wh / de * usd0 + kw_grid * hour_integral(3595.0, t1, ev2a_summer)
    want_g = first_wh / de * g0 + kw_grid * hour_integral(3595.0, t1, caiso)
    assert row["cost_usd"] == pytest.approx(want_usd, rel=1e-9)
    assert row["co2_g"] == pytest.approx(want_g, rel=1e-9)


# ====================================================================== 5. carbon price
def test_carbon_price_adds_exactly_its_share_to_costs():
    _s0, r0 = random_run(0.0)
    _s50, r50 = random_run(50.0)
    j0, j50 = r0.jobs, r50.jobs
    assert list(j0["job_id"]) == list(j50["job_id"])
    for col in ("energy_wh", "co2_g", "energy_total_wh", "co2_total_g"):
        np.testing.assert_array_equal(j50[col].to_numpy(), j0[col].to_numpy(), err_msg=col)
    per_g = 50.0 / 1e6  # $/g
    np.testing.assert_allclose(j50["cost_usd"] - j0["cost_usd"], j0["co2_g"] * per_g, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(j50["cost_total_usd"] - j0["cost_total_usd"], j0["co2_total_g"] * per_g,
                               rtol=1e-9, atol=1e-15)
    # the vehicles' inference accounts are electricity only
    for col in ("inference_usd", "inference_co2_g", "inference_wh", "cost_usd", "co2_g"):
        np.testing.assert_array_equal(r50.vehicles[col].to_numpy(), r0.vehicles[col].to_numpy(), err_msg=col)
    c0, c50 = r0.summary["cost_usd"], r50.summary["cost_usd"]
    assert c0["carbon"] == 0.0
    assert c50["carbon"] == pytest.approx(r50.summary["co2_kg"]["total"] * 50.0 / 1000.0, rel=1e-12)
    assert c50["electricity"] == c0["electricity"] and c50["owner_payouts"] == c0["owner_payouts"]
    assert c50["total"] == pytest.approx(c50["electricity"] + c50["carbon"] + c50["owner_payouts"], rel=1e-12)
    a0, a50 = r0.summary["attribution"], r50.summary["attribution"]
    assert a50["inference_usd"] - a0["inference_usd"] == pytest.approx(a0["inference_co2_kg"] * 1000 * per_g,
                                                                       rel=1e-9)
    assert a50["jobs_served_usd"] - a0["jobs_served_usd"] == pytest.approx(a0["jobs_served_co2_kg"] * 1000 * per_g,
                                                                           rel=1e-9)

