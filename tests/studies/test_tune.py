"""Tuning: finds constructed optima, respects constraints, is deterministic, checks its file, runs the simulation."""
from __future__ import annotations

import csv
import json
import math

import pytest

pytest.importorskip("optuna", reason="Optuna is an optional extra: pip install 'fleetsim[tune]'")

from reports.tune_figures import draw_tune_figures
from sim.core.errors import ScenarioError
from sim.runner import run
from sim.scenario import default_scenario
from sim.studies.tune import replicate_seeds, run_tune
from sim.studies.tune_output import FAIL, TrialRecord, best_trial, pareto_front

OUTPUTS = ("best.json", "trials.csv", "history.png", "pareto.png", "tune.json")


# Analytic evaluations (top level, so worker processes can unpickle them).
def bowl(overrides: dict, seed: int) -> dict:
    """cost = (x - 2.5)^2 + (y + 1)^2: the minimum is at (2.5, -1); the seed must not matter."""
    x, y = overrides["x"], overrides["y"]
    return {"cost": (x - 2.5) ** 2 + (y + 1) ** 2 + 0.0 * seed, "x": x, "y": y}


KIND_COST = {"a": 1.0, "b": 0.0, "c": 2.0}


def mixed(overrides: dict, seed: int) -> dict:
    """An integer, a categorical and a float dimension: the minimum is n = 3, kind = 'b', x = 1."""
    return {"cost": (overrides["n"] - 3) ** 2 + KIND_COST[overrides["kind"]] + (overrides["x"] - 1.0) ** 2}


def noisy(overrides: dict, seed: int) -> dict:
    """cost = x + a seed-dependent term whose mean over the two replicates is known (0.5)."""
    return {"cost": overrides["x"] + seed % 2, "odd": seed % 2}


def flaky(overrides: dict, seed: int) -> dict:
    """Raises below x = 1; an undefined (null) cost above x = 4."""
    if overrides["x"] < 1.0:
        raise ValueError("x too small")
    return {"cost": None if overrides["x"] > 4.0 else overrides["x"]}


def write(tmp_path, text: str, name: str = "t.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


BOWL = """
[tune]
name = "bowl"
trials = {trials}
sampler_seed = 1
parallel = {parallel}
seeds = {seeds}
pareto = ["x", "y"]
[params]
x = {{ low = 0.0, high = 5.0 }}
y = {{ low = -3.0, high = 3.0 }}
[objective]
cost = 1.0
"""


def rows(folder) -> list[dict]:
    with (folder / "trials.csv").open() as f:
        return list(csv.DictReader(f))


def test_finds_the_minimum_of_a_constructed_bowl(tmp_path):
    out = tmp_path / "out"
    res = run_tune(write(tmp_path, BOWL.format(trials=60, parallel=1, seeds=1)), out_dir=out, progress=False,
                   evaluate=bowl)
    assert abs(res.best.params["x"] - 2.5) < 0.2 and abs(res.best.params["y"] + 1.0) < 0.2
    best = json.loads((out / "best.json").read_text())
    assert best["number"] == res.best.number and best["feasible"] is True
    assert best["objective"] == pytest.approx((best["params"]["x"] - 2.5) ** 2 + (best["params"]["y"] + 1) ** 2)
    table = rows(out)
    assert len(table) == 60 and [int(r["number"]) for r in table] == list(range(60))
    assert min(float(r["objective"]) for r in table) == best["objective"]
    assert {"param.x", "param.y", "mean.cost", "objective", "feasible", "state"} <= set(table[0])


def test_integer_and_categorical_parameters(tmp_path):
    spec = write(tmp_path, """
[tune]
trials = 50
sampler_seed = 3
[params]
n = { low = 0, high = 8, int = true }
kind = { choices = ["a", "b", "c"] }
x = { low = 0.01, high = 10.0, log = true }
[objective]
cost = 1.0
""")
    res = run_tune(spec, out_dir=tmp_path / "out", progress=False, evaluate=mixed)
    assert all(isinstance(r.params["n"], int) and 0 <= r.params["n"] <= 8 for r in res.trials)
    assert {r.params["kind"] for r in res.trials} <= set(KIND_COST)
    assert res.best.params["n"] == 3 and res.best.params["kind"] == "b"
    assert abs(res.best.params["x"] - 1.0) < 0.3


def test_a_constraint_moves_the_best_to_its_boundary(tmp_path):
    """x <= 1.5 excludes the unconstrained minimum (2.5, -1): the best lands at (1.5, -1)."""
    spec = BOWL.format(trials=60, parallel=1, seeds=1) + "[[constraints]]\nmetric = \"x\"\nmax = 1.5\n"
    out = tmp_path / "out"
    res = run_tune(write(tmp_path, spec), out_dir=out, progress=False, evaluate=bowl)
    assert res.best.feasible and res.best.params["x"] <= 1.5
    assert abs(res.best.params["x"] - 1.5) < 0.2 and abs(res.best.params["y"] + 1.0) < 0.2
    table = rows(out)
    for r in table:  # the table marks every trial with x > 1.5 infeasible, and only those
        assert (r["feasible"] == "True") == (float(r["param.x"]) <= 1.5)
        assert float(r["violation"]) == pytest.approx(max(0.0, float(r["param.x"]) - 1.5))
    assert any(r["feasible"] == "False" for r in table)
    assert json.loads((out / "tune.json").read_text())["counts"]["feasible"] == sum(
        r["feasible"] == "True" for r in table)


def test_metrics_are_averaged_over_the_replicate_seeds(tmp_path):
    seeds = replicate_seeds(1, 2)
    assert sorted(s % 2 for s in seeds) == [0, 1]  # root seed 1 gives one odd and one even seed
    spec = write(tmp_path, "[tune]\ntrials = 3\nseeds = 2\nroot_seed = 1\n[params]\nx = { low = 0.0, high = 1.0 }\n"
                           "[objective]\ncost = 1.0\n[[constraints]]\nmetric = \"odd\"\nmax = 1.0\n")
    res = run_tune(spec, out_dir=tmp_path / "out", progress=False, evaluate=noisy)
    for r in res.trials:
        assert r.metrics["odd"] == 0.5
        assert r.objective == pytest.approx(r.params["x"] + 0.5)


def test_replicate_seeds_are_stable():
    assert replicate_seeds(7, 2) == [1201125462, 3618983171]
    assert replicate_seeds(7, 3)[:2] == replicate_seeds(7, 2)


def test_parallel_trials_are_identical_on_one_or_two_workers(tmp_path):
    spec = write(tmp_path, BOWL.format(trials=8, parallel=2, seeds=2))
    run_tune(spec, out_dir=tmp_path / "w1", workers=1, progress=False, evaluate=bowl, draw=draw_tune_figures)
    run_tune(spec, out_dir=tmp_path / "w2", workers=2, progress=False, evaluate=bowl, draw=draw_tune_figures)
    for name in OUTPUTS:
        assert (tmp_path / "w1" / name).read_bytes() == (tmp_path / "w2" / name).read_bytes(), name


def test_failed_trials_are_recorded_and_the_tune_goes_on(tmp_path):
    spec = write(tmp_path, "[tune]\ntrials = 12\n[params]\nx = { low = 0.0, high = 5.0 }\n[objective]\ncost = 1.0\n")
    res = run_tune(spec, out_dir=tmp_path / "out", progress=False, evaluate=flaky)
    assert len(res.trials) == 12
    for r in res.trials:
        x = r.params["x"]
        if x < 1.0:
            assert r.state == FAIL and "ValueError: x too small" in r.error
        elif x > 4.0:
            assert r.state == FAIL and "objective undefined" in r.error
        else:
            assert r.state == "COMPLETE" and r.objective == x
    assert res.best is None or 1.0 <= res.best.params["x"] <= 4.0


@pytest.mark.parametrize("text, expected", [
    ("[tune]\ntrails = 3\n", "[tune] trails: unknown key (did you mean 'trials'?)"),
    ("[tune]\ntrials = 0\n", "[tune] trials = 0: allowed: an integer >= 1"),
    ("[tune]\npareto = [\"cost\"]\n", "[tune] pareto"),
    ("[knobs]\n", "knobs: unknown table"),
    ("[params]\nz = { low = 3.0, high = 1.0 }\n", "[params] z: low = 3.0, high = 1.0: allowed: low < high"),
    ("[params]\nz = { low = 0.0, high = 1.0, log = true }\n", "[params] z: low = 0.0: allowed: > 0 with log"),
    ("[params]\nz = { low = 0.5, high = 3, int = true }\n", "[params] z: low = 0.5: allowed: an integer"),
    ("[params]\nz = { low = 0, high = 3, step = 1 }\n", "[params] z: unknown key 'step'"),
    ("[params]\nz = { choices = [] }\n", "[params] z: choices = []"),
    ("[params]\n\"run.seed\" = { low = 1, high = 9, int = true }\n", "[params] run.seed"),
    ("[objective]\nprice = \"high\"\n", "[objective] price = 'high'"),
    ("[[constraints]]\nmetric = \"cost\"\n", "[[constraints]] #1 cost: no bound"),
    ("[[constraints]]\nmetric = \"cost\"\nmin = 2\nmax = 1\n", "min = 2 > max = 1"),
])
def test_bad_tune_files_name_the_file_and_the_key(tmp_path, text, expected):
    base = {"tune": "[tune]\ntrials = 2\n", "params": "[params]\nx = { low = 0.0, high = 1.0 }\n",
            "objective": "[objective]\ncost = 1.0\n"}
    for table in base:  # the case's own table replaces the valid one
        if text.startswith(f"[{table}]"):
            base[table] = ""
    path = write(tmp_path, "".join(base.values()) + text)
    with pytest.raises(ScenarioError) as err:
        run_tune(path, out_dir=tmp_path / "out", progress=False, evaluate=bowl)
    msg = str(err.value)
    assert msg.startswith(str(path)) and expected in msg and "\n" not in msg
    assert not (tmp_path / "out").exists()


def test_a_metric_the_evaluation_lacks_is_an_error(tmp_path):
    spec = write(tmp_path, "[tune]\ntrials = 2\n[params]\nx = { low = 0.0, high = 1.0 }\ny = { low = 0.0, high = 1.0 }"
                           "\n[objective]\nprice = 1.0\n")
    with pytest.raises(ScenarioError, match=r"\[objective\] price: not among the evaluated metrics; allowed: cost"):
        run_tune(spec, out_dir=tmp_path / "out", progress=False, evaluate=bowl)


SIM = """
[tune]
name = "pod"
trials = 3
root_seed = 7
[set]
"run.days" = 0.05
"fleet.vehicles" = 20
"dispatch.policy" = "power_of_d"
[params]
{params}
[objective]
{objective}
[[constraints]]
metric = "fleet.trips_impacted"
max = 0
"""
POD = '"dispatch.params.d" = { low = 1, high = 4, int = true }'
OBJ = '"co2_kg.total" = 1.0\n"jobs.slo_attainment" = -100.0'


@pytest.mark.parametrize("params, objective, expected", [
    ('"fleet.vehicels" = { low = 10, high = 20, int = true }', OBJ,
     "unknown scenario key 'fleet.vehicels'; did you mean 'fleet.vehicles'?"),
    ('"dispatch.params.q" = { low = 1, high = 4, int = true }', OBJ,
     "dispatch.params.q: policy 'power_of_d' takes no parameter 'q'"),
    ('"dispatch.params.d" = { low = 0, high = 4, int = true }', OBJ, "dispatch.params.d = 0: allowed: an integer >= 1"),
    ('"dispatch.params.d" = { low = 1.0, high = 4.0 }', OBJ, "dispatch.params.d = 1.0: allowed: an integer"),
    ('"fleet.vehicles" = { low = 10.0, high = 20.0 }', OBJ, "[params] fleet.vehicles: takes integers"),
    ('"fleet.chip.preset" = { choices = ["hw4", "hw9"] }', OBJ, "fleet.chip.preset = 'hw9'"),
    (POD, '"co2_kg.totl" = 1.0', "[objective] co2_kg.totl: unknown metric (did you mean 'co2_kg.total'?)"),
    (POD, '"jobs.latency_s" = 1.0', "[objective] jobs.latency_s: a table, not a number"),
])
def test_bad_parameters_and_metrics_are_found_before_any_trial(tmp_path, params, objective, expected):
    path = write(tmp_path, SIM.format(params=params, objective=objective))
    with pytest.raises(ScenarioError) as err:
        run_tune(path, out_dir=tmp_path / "out", progress=False)
    assert str(err.value).startswith(str(path)) and expected in str(err.value)
    assert not (tmp_path / "out").exists()


def test_a_small_simulation_tune_writes_every_output(tmp_path):
    out = tmp_path / "out"
    res = run_tune(write(tmp_path, SIM.format(params=POD, objective=OBJ)), out_dir=out, progress=False,
                   draw=draw_tune_figures)
    for name in OUTPUTS:
        assert (out / name).is_file(), name
    for name in ("history.png", "pareto.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(rows(out)) == 3 and all(r["state"] == "COMPLETE" for r in rows(out))
    meta = json.loads((out / "tune.json").read_text())
    assert meta["seeds"] == replicate_seeds(7, 1) and meta["counts"]["complete"] == 3
    # The best trial's metrics are those of a direct run with its parameters and the replicate seed.
    best = json.loads((out / "best.json").read_text())
    assert 1 <= best["params"]["dispatch.params.d"] <= 4
    sc = default_scenario().with_overrides({"run.days": 0.05, "fleet.vehicles": 20, "dispatch.policy": "power_of_d",
                                            **best["params"], "run.seed": meta["seeds"][0]})
    direct = run(sc).summary
    assert best["metrics"]["co2_kg.total"] == direct["co2_kg"]["total"]
    assert best["objective"] == pytest.approx(direct["co2_kg"]["total"] - 100.0 * direct["jobs"]["slo_attainment"])
    assert best["feasible"] is (direct["fleet"]["trips_impacted"] == 0) is res.best.feasible


def test_pareto_front_of_constructed_points():
    pts = [(1.0, 5.0), (2.0, 3.0), (3.0, 4.0), (4.0, 1.0), (2.0, 3.0), (5.0, 5.0), (math.nan, 0.0)]
    # Lower is better in both: (3, 4) is dominated by (2, 3), (5, 5) by all; equal points both stay.
    assert pareto_front(pts) == [0, 1, 4, 3]
    # Higher y is better: (1, 5) is at least as good as every other point, and better than each.
    assert pareto_front(pts, maximize=(False, True)) == [0]
    assert pareto_front(pts, maximize=(True, True)) == [5]
    # Higher x is better, lower y: (4, 1) beats (2, 3) and (3, 4); (5, 5) keeps the highest x.
    assert pareto_front(pts, maximize=(True, False)) == [3, 5]
    assert pareto_front([]) == []


def test_best_trial_prefers_feasible_then_least_violation():
    recs = [TrialRecord(0, {}, objective=1.0, violation=0.5), TrialRecord(1, {}, objective=3.0),
            TrialRecord(2, {}, objective=2.0), TrialRecord(3, {}, state=FAIL)]
    assert best_trial(recs).number == 2
    infeasible = [TrialRecord(0, {}, objective=1.0, violation=0.5), TrialRecord(1, {}, objective=5.0, violation=0.1)]
    assert best_trial(infeasible).number == 1
    assert best_trial([TrialRecord(0, {}, state=FAIL)]) is None
