"""The default evaluation of a tune: the simulation, and the checks of a tune file against its scenario.

:func:`prepare_simulation` loads the base scenario, checks that every parameter's bounds (or
choices) build a simulation, that integer keys are tuned as integers, and, with a tiny dry run,
that every metric is a number in the run summary. :class:`SimulationEvaluator` then runs one
replicate of a trial.
"""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any

from sim.core.errors import FleetsimInputError, ScenarioError
from sim.studies.tune_spec import TuneSpec

DRY_RUN_MAX_VEHICLES = 10
DRY_RUN_MAX_DAYS = 0.02


# ---------------------------------------------------------------------------------- metrics
def summary_metric(summary: dict[str, Any], path: str) -> float:
    """The number at dotted ``path`` in a run summary; NaN where it is null or absent."""
    node: Any = summary
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return math.nan
        node = node[part]
    if isinstance(node, (bool, int, float)):
        return float(node)
    return math.nan


def _numeric_paths(node: Any, prefix: str = "") -> list[str]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _numeric_paths(v, f"{prefix}{k}.")]
    return [prefix[:-1]] if node is None or isinstance(node, (int, float)) else []


def _metric_problem(summary: dict[str, Any], path: str) -> str | None:
    """Why ``path`` is not a numeric metric of ``summary`` (None if it is)."""
    node: Any = summary
    walked: list[str] = []
    for part in path.split("."):
        if node is None:
            return f"'{'.'.join(walked)}' is null in this scenario's summary, so the metric is undefined"
        if not isinstance(node, dict) or part not in node:
            close = difflib.get_close_matches(path, _numeric_paths(summary), n=1, cutoff=0.6)
            did = f" (did you mean '{close[0]}'?)" if close else ""
            return (f"unknown metric{did}; allowed: a number in summary.json as a dotted path, e.g. "
                    "jobs.latency_s.p95, co2_kg.total, fleet.trips_impacted")
        node = node[part]
        walked.append(part)
    if isinstance(node, dict):
        inside = ", ".join(f"{path}.{k}" for k in list(node)[:6])
        return f"a table, not a number; allowed: a number inside it, e.g. {inside}"
    if node is not None and not isinstance(node, (int, float)):
        return f"{node!r} is not a number"
    return None


# ---------------------------------------------------------------------------------- simulation
@dataclass(frozen=True)
class SimulationEvaluator:
    """The default ``evaluate``: run the scenario with the overrides and the replicate's seed.

    Picklable (a scenario and metric names), so it runs in worker processes and on Dask.
    """

    scenario: Any  # sim.scenario.Scenario
    metrics: tuple[str, ...]

    def __call__(self, overrides: dict[str, Any], seed: int) -> dict[str, float]:
        from sim.runner import run

        summary = run(self.scenario.with_overrides({**overrides, "run.seed": seed})).summary
        return {m: summary_metric(summary, m) for m in self.metrics}


def _integer_key(key: str, scenario) -> bool:
    """Whether scenario key ``key`` (or the policy parameter ``dispatch.params.NAME``) takes integers."""
    from sim.scenario import dispatch_param_default
    from sim.schema import KEYS_BY_PATH

    if key in KEYS_BY_PATH:
        return KEYS_BY_PATH[key].kind == "int"
    if key.startswith("dispatch.params."):
        default = dispatch_param_default(scenario, key.split(".", 2)[2])
        return isinstance(default, int) and not isinstance(default, bool)
    return False


def prepare_simulation(spec: TuneSpec, seed: int) -> SimulationEvaluator:
    """Load the base scenario, check every parameter and metric against it; the evaluator of its trials."""
    from sim.runner import Simulation, run
    from sim.scenario import ConfigFileError, load_scenario
    from sim.studies.sweep_file import short_line

    try:
        scenario = load_scenario(spec.scenario)
    except ConfigFileError as exc:  # the message names the scenario file: not repeated
        raise ScenarioError(short_line(spec.source, f"[tune] {exc}")) from None
    except FleetsimInputError as exc:
        raise ScenarioError(short_line(spec.source, f"[tune] scenario: {exc}")) from None
    try:
        base = scenario.with_overrides(spec.set)
    except FleetsimInputError as exc:
        raise ScenarioError(f"{spec.source}: [set]: {exc}") from None
    tiny = {"fleet.vehicles": min(base["fleet.vehicles"], DRY_RUN_MAX_VEHICLES),
            "fleet.robotaxi.vehicles": min(base["fleet.robotaxi.vehicles"], DRY_RUN_MAX_VEHICLES),
            "run.days": min(base["run.days"], DRY_RUN_MAX_DAYS)}
    for p in spec.params:
        where = f"{spec.source}: [params] {p.key}"
        for value in p.corners():
            try:
                Simulation(base.with_overrides({**tiny, p.key: value}))
            except FleetsimInputError as exc:
                raise ScenarioError(f"{where}: {exc}" if p.key not in str(exc) else
                                    f"{spec.source}: [params]: {exc}") from None
        if p.choices is None and not p.integer and _integer_key(p.key, base):
            raise ScenarioError(f"{where}: takes integers; allowed: {{ low = .., high = .., int = true }}")
    corner = {p.key: p.corners()[0] for p in spec.params}
    summary = run(base.with_overrides({**tiny, **corner, "run.seed": seed})).summary
    for m in spec.metrics:
        problem = _metric_problem(summary, m)
        if problem:
            raise ScenarioError(f"{spec.source}: {spec.where(m)} {m}: {problem}")
    return SimulationEvaluator(scenario, spec.metrics)
