"""The results contract: summary keys, table columns, and a lossless write/load round trip."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from fleet import channels as ch
from sim.results import load_results, write_results
from sim.runner import run
from sim.scenario import default_scenario

REQUIRED_SUMMARY_KEYS = [
    "run.wall_s", "run.events", "seed", "fleetsim_version",
    "fleet.vehicles_simulated", "fleet.trips", "fleet.trips_impacted", "fleet.avg_available_inference_gw",
    "jobs.arrived", "jobs.completed", "jobs.dropped", "jobs.preempted",
    "jobs.latency_s.p50", "jobs.latency_s.p95", "jobs.latency_s.p99", "jobs.slo_attainment",
    "utilization.mean",
    "energy_kwh.driving", "energy_kwh.inference", "energy_kwh.grid_import",
    "cost_usd.electricity", "co2_kg.total",
    "tokens.served", "inference_j_per_token",
    "checks.energy_balance_residual_kwh", "checks.job_balance_residual",
]


@pytest.fixture(scope="module")
def results():
    return run(default_scenario().with_overrides({"run.days": 0.25, "fleet.vehicles": 80}))


@pytest.mark.parametrize("key", REQUIRED_SUMMARY_KEYS)
def test_summary_has_required_key(results, key):
    value = results.metric(key)
    assert value is not None
    assert isinstance(value, (int, float, str))


def test_summary_totals_agree_with_the_tables(results):
    s, jobs, veh, ts = results.summary, results.jobs, results.vehicles, results.timeseries
    assert s["jobs"]["arrived"] == len(jobs) == jobs["job_id"].nunique()
    assert s["jobs"]["completed"] == int((jobs["outcome"] == "completed").sum())
    assert s["fleet"]["trips"] == int(veh["trips"].sum()) == int(ts["trips_started"].sum())
    assert s["jobs"]["arrived"] == int(ts["jobs_arrived"].sum())
    assert s["tokens"]["served"] == int(jobs.loc[jobs["outcome"] == "completed",
                                                 ["prompt_tokens", "output_tokens"]].sum().sum())
    assert s["co2_kg"]["total"] == pytest.approx(veh["co2_g"].sum() / 1000.0, rel=1e-12)
    # the energy categories of the summary are the time integrals of the time-series powers
    dt = ts["t_s"].diff().fillna(ts["t_s"].iloc[0]).to_numpy()
    for cat in ch.ENERGY_CATEGORIES:
        assert (ts[f"power_w_{cat}"] * dt).sum() / 3.6e6 == pytest.approx(s["energy_kwh"][cat], rel=1e-9, abs=1e-9)
    # J/token = inference energy over generated tokens
    assert s["inference_j_per_token"] == pytest.approx(
        s["energy_kwh"]["inference"] * 3.6e6 / s["tokens"]["generated"], rel=1e-12)


def test_write_and_load_round_trip(results, tmp_path):
    out = write_results(results, tmp_path / "r")
    back = load_results(out)
    assert back.summary == json.loads(json.dumps(results.summary))
    pd.testing.assert_frame_equal(back.timeseries.drop(columns=["time"]),
                                  results.timeseries.drop(columns=["time"]), check_dtype=False)
    assert list(back.jobs.columns) == list(results.jobs.columns)
    assert back.scenario.to_toml() == results.scenario.to_toml()
    # nothing but the results files, no temporary folders left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_write_failure_leaves_nothing_behind(results, tmp_path):
    def boom(_folder):
        raise RuntimeError("figure failed")

    with pytest.raises(RuntimeError):
        write_results(results, tmp_path / "r", before_publish=boom)
    assert list(tmp_path.iterdir()) == []


def test_the_results_schema_names_what_the_simulation_records():
    """The folder format (sim.results.schema) and the simulation's own names agree, so reports can
    read folders without importing fleet."""
    from fleet import channels as ch
    from fleet.jobs import CLASS_NAMES, OUTCOME_NAMES
    from sim.results import schema

    assert schema.ENERGY_CATEGORIES == ch.ENERGY_CATEGORIES
    assert schema.JOB_CLASSES == CLASS_NAMES
    assert schema.OUTCOMES == OUTCOME_NAMES
    assert {f"power_w_{c}" for c in schema.ENERGY_CATEGORIES} <= set(ch.LEVELS)
