"""Behaviours that once went wrong: representative weights, plugged cars whose load exceeds the
charger, long tours across several midnights, preemption order, sliver intervals, reruns."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fleet.jobs import BATCH_CLASS, Job
from fleet.policies import DispatchPolicy
from sim.cli import main
from sim.runner import Simulation, run
from sim.scenario import default_scenario

ROOT = Path(__file__).resolve().parents[2]


def test_weight_scales_fleet_totals_but_not_the_workload():
    base = {"run.days": 0.3, "fleet.vehicles": 60}
    one = run(default_scenario().with_overrides(base)).summary
    ten = run(default_scenario().with_overrides(dict(base, **{"fleet.weight": 10.0}))).summary
    assert ten["tokens"]["generated"] == one["tokens"]["generated"]  # same simulated workload
    assert ten["inference_j_per_token"] == pytest.approx(one["inference_j_per_token"], rel=1e-12)
    assert ten["energy_kwh"]["inference"] == pytest.approx(10 * one["energy_kwh"]["inference"], rel=1e-9)
    assert ten["fleet"]["trips"] == 10 * one["fleet"]["trips"]
    assert ten["fleet"]["opted_in"] == pytest.approx(10 * one["fleet"]["opted_in"])
    res = run(default_scenario().with_overrides(dict(base, **{"fleet.weight": 10.0})))
    assert res.timeseries["trips_started"].sum() == pytest.approx(res.summary["fleet"]["trips"])


def test_plugged_car_whose_load_exceeds_the_charger_keeps_its_reserve():
    # A 1.44 kW L1 charger cannot cover a 1 kW chip plus the awake overhead at 80 % efficiency:
    # the battery makes up the difference, and the car must stop serving at its reserve.
    over = {"run.days": 0.9, "fleet.vehicles": 10, "fleet.mobility": False, "fleet.opt_in_share": 1.0,
            "fleet.network.enabled": False,
            "fleet.chip.preset": "future_1kw", "fleet.charger.power_w": 1440.0, "fleet.charger.efficiency": 0.8,
            "fleet.battery.capacity_wh": 8000.0, "fleet.initial_soc_min": 0.5, "fleet.initial_soc_max": 0.5,
            "fleet.battery.discharge_efficiency": 0.9,
            "workload.interactive.rate_per_s": 0.0, "workload.batch.rate_per_s": 3.2}
    sim = Simulation(default_scenario().with_overrides(over))
    res = sim.run()
    reserve_wh = 0.2 * 8000.0
    assert min(v.energy_wh for v in sim.vehicles) >= reserve_wh - 1e-6
    assert res.summary["jobs"]["preempted_by_cause"].get("reserve", 0) > 0
    assert res.summary["checks"]["passed"], res.summary["checks"]


def test_fast_path_clears_discharge_losses():
    over = {"run.days": 0.1, "fleet.vehicles": 20, "fleet.mobility": False, "fleet.opt_in_share": 1.0,
            "fleet.network.enabled": False,
            "fleet.chip.preset": "future_1kw", "fleet.charger.power_w": 1200.0,
            "fleet.battery.discharge_efficiency": 0.9, "workload.batch.rate_per_s": 4.6,
            "workload.interactive.rate_per_s": 0.0}
    checks = run(default_scenario().with_overrides(over)).summary["checks"]
    assert checks["passed"], checks
    assert checks["vehicle_energy_residual_max_wh"] < 1e-6


def test_tours_running_past_several_midnights():
    over = {"run.days": 4.0, "fleet.vehicles": 60, "fleet.itinerary.min_dwell_s": 40000.0,
            "workload.interactive.rate_per_s": 0.05, "workload.batch.rate_per_s": 0.0}
    res = run(default_scenario().with_overrides(over))
    assert res.summary["fleet"]["trips"] > 0 and res.summary["checks"]["passed"]


def test_preempted_jobs_requeue_earliest_arrival_first():
    over = {"run.days": 0.01, "fleet.vehicles": 1, "fleet.mobility": False, "fleet.opt_in_share": 1.0,
            "fleet.network.enabled": False,
            "workload.interactive.rate_per_s": 0.0, "workload.batch.rate_per_s": 0.0}
    sim = Simulation(default_scenario().with_overrides(over))
    env, disp = sim.env, sim.dispatcher
    seen = {}

    def submit(_ev):
        for job_id, arrival in ((0, 5.0), (1, 3.0), (2, 4.0)):  # started in this order
            disp.submit(Job(job_id, BATCH_CLASS, arrival, 100, 10**6, 1e9, 1e9))

    def preempt(_ev):
        v = sim.vehicles[0]
        disp.preempt_all(v, env.now, "test")
        seen["order"] = [j.job_id for j in disp.queue.jobs() if j.job_class == BATCH_CLASS]

    env.timeout(6.0).callbacks.append(submit)
    env.timeout(7.0).callbacks.append(preempt)
    sim.execute()
    assert seen["order"] == [1, 2, 0]


def test_no_sliver_interval_at_the_horizon():
    res = run(default_scenario().with_overrides(
        {"run.days": 1.1, "run.sample_interval_s": 60.0, "fleet.vehicles": 20,
         "workload.interactive.rate_per_s": 0.01, "workload.batch.rate_per_s": 0.0}))
    t = res.timeseries["t_s"].to_numpy()
    assert np.all(np.diff(t) > 1.0)
    assert t[-1] == pytest.approx(1.1 * 86400.0)


def test_resolved_scenario_with_relative_paths_reruns(tmp_path, capsys, monkeypatch):
    out = tmp_path / "pf"
    assert main(["run", str(ROOT / "examples" / "plugged_first.toml"), "--set", "run.days=0.05",
                 "--set", "fleet.vehicles=30", "--out", str(out), "--no-report"]) == 0
    again = tmp_path / "again"
    # The resolved scenario names the policy file by its absolute path: a scenario file may only
    # name policy files inside its own folder, so the rerun names the policy again.
    assert main(["run", str(out / "scenario.toml"), "--out", str(again), "--no-report"]) == 2
    assert "dispatch.policy" in capsys.readouterr().err and not again.exists()
    monkeypatch.chdir(ROOT / "examples")
    assert main(["run", str(out / "scenario.toml"), "--set", "dispatch.policy=plugged_first.py:PluggedFirst",
                 "--out", str(again), "--no-report"]) == 0
    assert (out / "jobs.csv").read_bytes() == (again / "jobs.csv").read_bytes()


class FullVehiclePolicy(DispatchPolicy):
    """Breaks the contract: returns a vehicle without a free slot."""

    name = "full_vehicle"

    def select(self, job):
        if not hasattr(self, "_first"):
            self._first = self.view.least_loaded(self.rng)
        return self._first  # the same vehicle every time, even once its only slot is busy


def test_a_policy_choosing_a_full_vehicle_is_a_one_line_error(capsys, tmp_path):
    code = main(["run", "--set", f"dispatch.policy={__name__}:FullVehiclePolicy", "--set", "fleet.vehicles=2",
                 "--set", "fleet.mobility=false", "--set", "fleet.opt_in_share=1", "--set", "fleet.chip.slots=1",
                 "--set", "run.days=0.05", "--out", str(tmp_path / "x"), "--no-report"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "no free slot" in err
    assert not (tmp_path / "x").exists()
