"""Represented fleets (``fleet.represents``) and replicates (``run.replicates``): stratified weights,
the workload scaled to the represented fleet, and 95 % intervals that cover a full run's value."""
from __future__ import annotations

import subprocess
import sys

import pytest

from sim.core.errors import ScenarioError
from sim.runner import Simulation
from sim.scenario import default_scenario
from sim.studies.executors import InlineExecutor
from sim.studies.replicates import intervals, replicate_seed, run_replicates, summary_numbers

FAST = {"run.days": 0.2, "run.warmup_days": 0.0, "report.figures": False}
#: the coverage check's runs: 0.1 days (the fleet's first hours) keep it to seconds
COVER = {**FAST, "run.days": 0.1}
#: the numbers the represented run must estimate, as the full run reports them and as the represented one does
ESTIMATES = {"availability.available_gw": "availability.available_gw",
             "energy_kwh.grid_import": "energy_kwh.grid_import",
             "co2_kg.total": "co2_kg.total",
             "tokens.served": "represented.tokens_served"}


def _summary(over: dict) -> dict:
    sim = Simulation(default_scenario().with_overrides({**FAST, **over}))
    sim.execute()
    return sim.results().summary


def test_each_cohort_weighs_its_share_of_the_represented_fleet():
    """Three cars in two equal cohorts (2 and 1 simulated) stand for 10: 5 real cars each, so the
    first cohort's cars weigh 2.5 and the second's 5."""
    s = _summary({"fleet.vehicles": 3, "fleet.represents": 10,
                  "fleet.cohorts": [{"name": "a", "share": 0.5}, {"name": "b", "share": 0.5}]})
    assert [c["vehicles_simulated"] for c in s["cohorts"]] == [2, 1]
    assert [c["vehicles_represented"] for c in s["cohorts"]] == [5.0, 5.0]
    assert s["fleet"]["vehicles_represented"] == 10.0
    assert s["represented"]["demand_scale"] == pytest.approx(10 / 3, rel=1e-15)


def test_the_workload_is_scaled_to_the_represented_fleet():
    s = _summary({"fleet.vehicles": 40, "fleet.represents": 1000})
    scale = 1000 / 40
    assert s["represented"]["jobs_arrived"] == pytest.approx(s["jobs"]["arrived"] * scale, rel=1e-15)
    assert s["represented"]["tokens_served"] == pytest.approx(s["tokens"]["served"] * scale, rel=1e-15)
    plain = _summary({"fleet.vehicles": 40})
    assert plain["represented"]["demand_scale"] == 1.0
    assert plain["jobs"] == s["jobs"]  # the simulated cars and their jobs are the same


@pytest.mark.parametrize("over, expected", [
    ({"fleet.represents": 100, "fleet.weight": 2.0}, "fleet.represents = 100 and fleet.weight = 2.0: allowed: one"),
    ({"fleet.represents": 10}, "fleet.represents = 10: allowed: 0 or at least the simulated vehicles (40)"),
])
def test_contradictory_representations_are_refused(over, expected):
    with pytest.raises(ScenarioError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        default_scenario().with_overrides({"fleet.vehicles": 40, **over})


def test_a_cohort_without_a_simulated_car_cannot_stand_for_real_ones():
    sc = default_scenario().with_overrides({**FAST, "fleet.vehicles": 3, "fleet.represents": 1000, "fleet.cohorts": [
        {"name": "big", "share": 0.9}, {"name": "rare", "share": 0.1}]})
    with pytest.raises(ScenarioError, match="cohort 'rare' stands for 100 vehicles but has no simulated one"):
        Simulation(sc)


def test_replicate_seeds_are_fixed_and_distinct():
    seeds = [replicate_seed(7, i) for i in range(50)]
    assert seeds[0] == 7 and len(set(seeds)) == 50 and all(0 <= s < 10**18 for s in seeds)
    assert seeds == [replicate_seed(7, i) for i in range(50)]


def test_intervals_are_students_t_over_the_replicates():
    per = [{"x": 1.0, "y": None, "seed": 1}, {"x": 2.0, "y": 3.0, "seed": 2}, {"x": 6.0, "y": None, "seed": 3}]
    (x, y) = intervals(per)
    # mean 3, s = sqrt(7), t(0.975, 2) = 4.302653: 3 ± 4.302653 x sqrt(7/3)
    assert x["key"] == "x" and x["mean"] == 3.0 and x["n"] == 3
    assert x["high"] - 3.0 == pytest.approx(4.302652729696 * (7 / 3) ** 0.5, rel=1e-9)
    assert y["n"] == 1 and y["mean"] == 3.0 and y["low"] is None and y["high"] is None
    assert x["values"] == [1.0, 2.0, 6.0]


def test_the_replicates_are_the_same_on_any_number_of_workers():
    """The folder's summary with its intervals does not depend on the executor."""
    sc = default_scenario().with_overrides({**FAST, "fleet.vehicles": 30, "run.replicates": 3})
    sims = [Simulation(sc), Simulation(sc)]
    for s in sims:
        s.execute()
    inline = run_replicates(sc, sims[0], InlineExecutor())
    from sim.studies.executors import make_executor

    with make_executor(2) as pool:
        pooled = run_replicates(sc, sims[1], pool)
    strip = ("run.wall_s", "run.decisions_per_wall_s")
    a = [e for e in inline.summary["ci95"] if e["key"] not in strip]
    b = [e for e in pooled.summary["ci95"] if e["key"] not in strip]
    assert a == b and len(a) > 100


def test_the_intervals_cover_the_full_runs_value():
    """1,000 cars represented by 100, four replicates each, 20 seeds: the 95 % interval of available
    power, grid energy, CO2 and tokens served covers the full 1,000-car run's value in at least 85 %
    of the seeds (19, 19, 19 and 17 of 20; the full-size check, 20,000 by 2,000, is
    bench/validate_represented.py)."""
    covered = dict.fromkeys(ESTIMATES, 0)
    seeds = range(1, 21)
    for seed in seeds:
        sim = Simulation(default_scenario().with_overrides({**COVER, "fleet.vehicles": 1000, "run.seed": seed}))
        sim.execute()
        full = summary_numbers(sim.results().summary)
        sc = default_scenario().with_overrides({**COVER, "fleet.vehicles": 100, "fleet.represents": 1000,
                                                "run.seed": seed, "run.replicates": 4})
        sim = Simulation(sc)
        sim.execute()
        ci = {e["key"]: e for e in run_replicates(sc, sim, InlineExecutor()).summary["ci95"]}
        for full_key, key in ESTIMATES.items():
            covered[full_key] += ci[key]["low"] <= full[full_key] <= ci[key]["high"]
    assert all(n >= 0.85 * len(seeds) for n in covered.values()), covered


def test_replicates_from_the_command_line(tmp_path):
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, "-m", "sim.cli", "run", "--set", "fleet.vehicles=20", "--set", "run.days=0.05",
                        "--set", "run.replicates=2", "--workers", "2", "--out", str(out), "--no-report",
                        "--no-progress"], capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "95 % intervals of the mean over 2 replicates: available inference power" in p.stdout
    import json

    ci = {e["key"]: e for e in json.loads((out / "summary.json").read_text())["ci95"]}
    grid = ci["energy_kwh.grid_import"]
    assert grid["n"] == 2 and grid["low"] <= grid["mean"] <= grid["high"]
    assert grid["values"][0] == json.loads((out / "summary.json").read_text())["energy_kwh"]["grid_import"]


@pytest.mark.parametrize("args, expected", [
    (["--workers", "0", "--set", "run.replicates=2"], "--workers = 0: allowed: an integer >= 1"),
    (["--workers", "2"], "--workers/--scheduler: allowed only with run.replicates > 1"),
])
def test_worker_options_are_checked_before_the_run(tmp_path, args, expected):
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, "-m", "sim.cli", "run", "--set", "fleet.vehicles=20", "--set", "run.days=0.05",
                        *args, "--out", str(out), "--no-report", "--no-progress"], capture_output=True, text=True,
                       cwd=tmp_path)
    assert p.returncode == 2 and not out.exists()
    assert p.stderr.strip() == f"fleetsim: error: {expected}" or expected in p.stderr.strip().splitlines()[0]
    assert len(p.stderr.strip().splitlines()) == 1


def test_a_cohort_without_cars_is_named_before_the_warm_up():
    sc = default_scenario().with_overrides({"run.days": 0.05, "fleet.vehicles": 3, "fleet.represents": 1000,
                                            "fleet.cohorts": [{"name": "big", "share": 0.9},
                                                              {"name": "rare", "share": 0.1}]})
    with pytest.raises(ScenarioError, match="^fleet.represents = 1000: cohort 'rare'"):
        Simulation(sc)
