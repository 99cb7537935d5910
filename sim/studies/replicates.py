"""Replicates of one run (``run.replicates``): the scenario on several seeds, on the study executors,
and a 95 % confidence interval of the mean of every summary number.

Replicate 0 is the run itself (``run.seed``) and its results are the folder's; replicate i >= 1 runs
on seed :func:`replicate_seed` (run.seed, i) in a worker and returns only its summary's numbers. The
interval is Student's t over the replicates (:func:`sim.studies.stats.mean_ci`): it bounds the mean
over seeds, the expected value of each number, not one run's value.
"""
from __future__ import annotations

import numpy as np

from sim.results import Results
from sim.runner import Simulation
from sim.scenario import Scenario
from sim.studies.stats import mean_ci

#: summary numbers without an interval: the run's own wall clock, its seed and the replicate count
_NOT_ESTIMATES = ("seed", "run.wall_s", "run.decisions_per_wall_s", "run.events", "run.simulated_s", "run.days")


def replicate_seed(seed: int, i: int) -> int:
    """The seed of replicate ``i`` of a run on ``seed``: the seed itself for replicate 0, else an
    independent one drawn from numpy's SeedSequence(seed) with spawn key (i,), below 10^18."""
    if i == 0:
        return seed
    state = np.random.SeedSequence(entropy=seed, spawn_key=(i,)).generate_state(1, dtype=np.uint64)[0]
    return int(state) % 10**18


def summary_numbers(summary: dict, prefix: str = "") -> dict[str, float | None]:
    """Every number (or null) of a summary by dotted path, list elements by index (``cohorts.0.grid_kwh``);
    booleans and strings left out."""
    out: dict[str, float | None] = {}
    items = summary.items() if isinstance(summary, dict) else enumerate(summary)
    for key, value in items:
        path = f"{prefix}{key}"
        if isinstance(value, (dict, list)):
            out.update(summary_numbers(value, path + "."))
        elif value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
            out[path] = value
    return out


def run_replicate(scenario_toml: str, i: int) -> dict[str, float | None]:
    """Replicate ``i`` of the scenario (TOML text): its summary's numbers (runs in a worker)."""
    import tomllib

    from sim.scenario import resolve

    base = resolve(tomllib.loads(scenario_toml))
    sim = Simulation(base.with_overrides({"run.seed": replicate_seed(base["run.seed"], i), "run.replicates": 1,
                                          "report.figures": False}))
    sim.execute()
    return summary_numbers(sim.results().summary)


def intervals(per_replicate: list[dict[str, float | None]]) -> list[dict]:
    """For each number of the first replicate's summary: the mean over the replicates, the 95 %
    interval [low, high] (null with fewer than two finite values) and every replicate's value."""
    out = []
    for key in per_replicate[0]:
        if key in _NOT_ESTIMATES or key.startswith("ci95."):
            continue
        values = [r.get(key) for r in per_replicate]
        ci = mean_ci(values)
        finite = ci.n >= 2

        def num(x: float) -> float | None:
            return float(x) if np.isfinite(x) else None

        out.append({"key": key, "n": ci.n, "mean": num(ci.mean), "low": num(ci.low) if finite else None,
                    "high": num(ci.high) if finite else None, "values": values})
    return out


def run_replicates(scenario: Scenario, sim: Simulation, executor) -> Results:
    """The results of the executed simulation ``sim`` (replicate 0 of ``scenario``) with the
    summary's ``ci95`` list over ``run.replicates`` replicates, the others run on ``executor``."""
    return add_intervals(scenario, sim.results(), executor)


def add_intervals(scenario: Scenario, results: Results, executor) -> Results:
    """``results`` (replicate 0 of ``scenario``) with the summary's ``ci95`` list over
    ``run.replicates`` replicates, the others run on ``executor``."""
    n = scenario["run.replicates"]
    text = scenario.to_toml()
    futures = [executor.submit(run_replicate, text, i) for i in range(1, n)]
    per_replicate = [summary_numbers(results.summary)] + [f.result() for f in futures]
    results.summary["ci95"] = intervals(per_replicate)
    return results
