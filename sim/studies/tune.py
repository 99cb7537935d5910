"""Tuning: search scenario keys (a policy's parameters, a chip preset, ...) for the best objective.

A tune file (TOML) names a base scenario, the search space, an objective and constraints::

    [tune]
    name = "weighted_co2"                 # output folder results/tune_<name> (default: the file's stem)
    scenario = "../examples/default.toml" # relative to the tune file; absent = the built-in scenario
    trials = 40                           # trials in all (default 20)
    seeds = 2                             # replicate runs per trial, averaged (default 1)
    root_seed = 7                         # the replicate seeds derive from it (default 0)
    sampler_seed = 1                      # seed of Optuna's TPE sampler (default 0)
    parallel = 2                          # trials evaluated at once (default 1)
    pareto = ["jobs.latency_s.p95", "co2_kg.total"]  # metrics of pareto.png (optional)

    [set]                                 # fixed scenario overrides, as `--set KEY=VALUE`
    "run.days" = 1
    "dispatch.policy" = "weighted"

    [params]                              # the search space: scenario keys, incl. dispatch.params.*
    "dispatch.params.candidates" = { low = 1, high = 8, int = true }
    "dispatch.params.w_load" = { low = 0.0, high = 5.0 }
    "dispatch.params.w_carbon" = { low = 0.01, high = 10.0, log = true }
    "fleet.chip.preset" = { choices = ["hw4", "future_1kw"] }

    [objective]                           # minimise the weighted sum of summary metrics
    "co2_kg.total" = 1.0
    "jobs.slo_attainment" = -100.0        # a negative weight rewards more

    [[constraints]]                       # min and/or max on a metric's mean over the seeds
    metric = "jobs.latency_s.p95"
    max = 2.0

    [[constraints]]
    metric = "fleet.trips_impacted"
    max = 0

Keys are dotted paths; ``run.days = 1`` (a TOML sub-table) means the same as ``"run.days" = 1``.
A parameter is ``{ low, high }`` (a float), with ``int = true`` (an integer, both ends included)
and/or ``log = true`` (sampled on a log scale, low > 0), or ``{ choices = [...] }``. Metrics are
dotted paths into ``summary.json`` with a number (or null) value, e.g. ``jobs.latency_s.p95``,
``co2_kg.total``, ``fleet.trips_impacted``, ``comparison.fleet.g_co2_per_million_tokens``.
File paths in ``[set]`` and in choices are relative to the tune file. ``run.seed`` cannot be set
or tuned: the replicates set it.

Before any trial runs, the file is checked: every parameter's low and high (or every choice)
builds the scenario and its simulation (so ``dispatch.params.*`` names and types are checked by
the policy), an integer key needs ``int = true``, and a tiny dry run (at most 10 cars, about half
an hour) checks that every metric exists in the summary. Errors are one line naming the file
and the key.

**A trial** takes its parameters from Optuna's TPE sampler (ask/tell), merges them over ``[set]``
and runs one simulation per replicate seed, each a separate task on the executor (a process
pool, also for one worker, or Dask, see :mod:`sim.studies.executors`). The replicate seeds are derived as sweeps derive
them: the first 32-bit word of each of ``numpy.random.SeedSequence(root_seed).spawn(seeds)``, the
same for every trial (common random numbers: trials differ by their parameters, not by their
luck). Each metric is averaged over the seeds (a null in any seed makes it undefined), the
objective is the weighted sum of the means, and each constraint is passed to Optuna as a
constraint value (<= 0 is met), so TPE models feasibility; the table marks infeasible trials. A
trial whose replicate raises or kills its process, or whose objective is undefined, is recorded as failed (its error in
the table) and the tune goes on.

**Determinism.** Trials are asked ``parallel`` at a time and told in trial order once the whole
batch has finished, so the trials depend only on the file (``sampler_seed``, ``parallel``,
``seeds`` ...) and the Optuna version, not on ``workers``, the scheduler, or which replicate
finishes first: the same file gives byte-identical outputs serial or parallel. Changing
``parallel`` changes the trials (the sampler sees fewer finished trials per decision).

**Outputs** (folder ``results/tune_<name>`` by default, written atomically, replacing an earlier
tune folder): ``best.json`` (the feasible trial with the lowest objective, or the least violating
one if none is feasible: number, params, objective, metric means, feasible), ``trials.csv`` (one
row per trial: number, state, ``param.<key>``, ``mean.<metric>``, objective, feasible, violation,
error), and with ``draw=reports.tune_figures.draw_tune_figures`` (as ``fleetsim tune`` passes)
``history.png`` (objective per trial, best feasible so far, the best trial's range over its seeds) and
``pareto.png`` (the two ``pareto`` metrics, default the first two metrics named; feasible and infeasible
trials and the non-dominated front of the feasible ones, a metric counting as higher-is-better when its
objective weight is negative, else when a constraint gives it a lower bound only, else by its nature
(SLO attainment, available power, tokens served); omitted when the file
names a single metric) and ``tune.json`` (metadata). The command line ends by printing the best trial.

Optuna is an optional extra: ``pip install 'fleetsim[tune]'``.
"""
from __future__ import annotations

import math
import statistics
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sim.core.errors import ScenarioError
from sim.publish import FolderLock
from sim.studies.executors import RecoveringPool, make_executor
from sim.studies.tune_output import FAIL, DrawTune, TrialRecord, best_trial, check_out_dir, write_outputs
from sim.studies.tune_sim import SimulationEvaluator, prepare_simulation
from sim.studies.tune_spec import Param, TuneSpec, load_tune

__all__ = ["SimulationEvaluator", "TuneResult", "TuneSpec", "load_tune", "replicate_seeds", "run_tune"]

#: ``evaluate(overrides, seed) -> {metric: value}``: one replicate of one trial.
Evaluate = Callable[[dict[str, Any], int], dict[str, float]]


@dataclass
class TuneResult:
    """A finished tune: its output folder, the best trial (None if none completed) and every trial."""

    out_dir: Path
    best: TrialRecord | None
    trials: list[TrialRecord]
    spec: TuneSpec


def replicate_seeds(root_seed: int, n: int) -> list[int]:
    """The ``run.seed`` of each replicate: the first 32-bit word of each child of ``SeedSequence(root_seed)``."""
    return [int(child.generate_state(1)[0]) for child in np.random.SeedSequence(root_seed).spawn(n)]


def _import_optuna():
    try:
        import optuna
    except ImportError:
        raise ScenarioError("fleetsim tune needs Optuna: pip install 'fleetsim[tune]'") from None
    return optuna


# ---------------------------------------------------------------------------------- trials
def _replicate(evaluate: Evaluate, overrides: dict[str, Any], seed: int,
               metrics: tuple[str, ...]) -> tuple[dict[str, float], list[str] | None]:
    """One replicate (runs on a worker): the metrics, or the names evaluate returned if some are missing."""
    out = evaluate(overrides, seed)
    if any(m not in out for m in metrics):
        return {}, sorted(out)
    values = {}
    for m in metrics:
        v = out[m]
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float, np.number))):
            raise TypeError(f"metric {m} = {v!r}: not a number")
        values[m] = math.nan if v is None else float(v)
    return values, None


def _suggest(trial, p: Param) -> Any:
    if p.choices is not None:
        return trial.suggest_categorical(p.key, list(p.choices))
    if p.integer:
        return trial.suggest_int(p.key, p.low, p.high, log=p.log)
    return trial.suggest_float(p.key, p.low, p.high, log=p.log)


def _violations(spec: TuneSpec, metrics: dict[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for c in spec.constraints:
        out.update(c.violations(metrics[c.metric]))
    return out


def _collect(spec: TuneSpec, number: int, params: dict[str, Any], futures: Sequence[Future]) -> TrialRecord:
    """Average the replicates of one trial into its record."""
    rec = TrialRecord(number, params)
    runs = []
    for fut in futures:
        try:
            values, returned = fut.result()
        except Exception as exc:
            if rec.state != FAIL:
                rec.state, rec.error = FAIL, f"{type(exc).__name__}: {exc}".replace("\n", " ")
            continue
        if returned is not None:
            m = next(m for m in spec.metrics if m not in returned)
            raise ScenarioError(f"{spec.source}: {spec.where(m)} {m}: not among the evaluated metrics; "
                                f"allowed: {', '.join(returned) or 'none'}")
        runs.append(values)
    if rec.state == FAIL:
        return rec
    rec.metrics = {m: statistics.fmean(r[m] for r in runs) for m in spec.metrics}
    rec.objective = math.fsum(w * rec.metrics[m] for m, w in spec.objective.items())
    rec.replicate_objectives = tuple(math.fsum(w * r[m] for m, w in spec.objective.items()) for r in runs)
    if math.isnan(rec.objective):
        undefined = [m for m in spec.objective if math.isnan(rec.metrics[m])]
        rec.state, rec.error = FAIL, f"objective undefined: {', '.join(undefined)} null in a replicate"
        return rec
    rec.violation = math.fsum(max(0.0, v) for v in _violations(spec, rec.metrics).values())
    return rec


def _constraints_of(frozen_trial) -> list[float]:
    """Constraint values for Optuna < 5 (``TPESampler(constraints_func=...)``)."""
    return frozen_trial.user_attrs.get("constraints", [])


def _sampler(optuna, spec: TuneSpec):
    if spec.constraints and not hasattr(optuna.trial.Trial, "set_constraint"):
        return optuna.samplers.TPESampler(seed=spec.sampler_seed, constraints_func=_constraints_of)
    return optuna.samplers.TPESampler(seed=spec.sampler_seed)


def _tell(optuna, study, trial, spec: TuneSpec, rec: TrialRecord) -> None:
    if rec.state == FAIL:
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return
    if spec.constraints:
        violations = _violations(spec, rec.metrics)
        if hasattr(trial, "set_constraint"):  # Optuna >= 5
            for name, v in violations.items():
                trial.set_constraint(name, v)
        else:
            trial.set_user_attr("constraints", list(violations.values()))
    study.tell(trial, rec.objective)


@contextmanager
def _quiet(optuna):
    """Optuna logs every trial at INFO; the progress bar does that job."""
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)


def _metadata(spec: TuneSpec, seeds: list[int], records: list[TrialRecord], evaluate: Evaluate,
              optuna_version: str) -> dict[str, Any]:
    from sim import __version__

    best = best_trial(records)
    name = ("simulation" if isinstance(evaluate, SimulationEvaluator)
            else f"{getattr(evaluate, '__module__', '?')}.{getattr(evaluate, '__qualname__', type(evaluate).__name__)}")
    return {
        "name": spec.name,
        "fleetsim_version": __version__,
        "optuna_version": optuna_version,
        "tune_file": spec.source,
        "scenario": spec.scenario or "<built-in>",
        "evaluate": name,
        "sampler": {"name": "TPESampler", "seed": spec.sampler_seed},
        "trials": spec.trials,
        "parallel": spec.parallel,
        "root_seed": spec.root_seed,
        "seeds": seeds,
        "set": spec.set,
        "params": {p.key: p.describe() for p in spec.params},
        "objective": spec.objective,
        "constraints": [{"metric": c.metric, "min": c.min, "max": c.max} for c in spec.constraints],
        "pareto": list(spec.pareto_pair() or []),
        "counts": {"complete": sum(r.state != FAIL for r in records), "failed": sum(r.state == FAIL for r in records),
                   "feasible": sum(bool(r.feasible) for r in records)},
        "best_trial": None if best is None else best.number,
    }


def run_tune(spec_or_path: TuneSpec | str | Path, out_dir: str | Path | None = None, workers: int = 1,
             scheduler: str | None = None, progress: bool = True, evaluate: Evaluate | None = None,
             draw: DrawTune | None = None) -> TuneResult:
    """Run a tune and write its outputs; see the module docstring for the file and the outputs.

    ``workers`` and ``scheduler`` choose the executor (:func:`sim.studies.executors.make_executor`); they do
    not change the results. ``evaluate(overrides, seed) -> {metric: value}`` replaces the
    simulation (a picklable top-level function when ``workers > 1``); it receives ``[set]`` and the
    trial's parameters as dotted keys, and its parameter names are free (no scenario is loaded).
    ``draw`` adds the figures to the folder (the command line passes
    :func:`reports.tune_figures.draw_tune_figures`).
    """
    from tqdm import tqdm

    spec = spec_or_path if isinstance(spec_or_path, TuneSpec) else load_tune(spec_or_path)
    optuna = _import_optuna()
    out = Path(out_dir) if out_dir is not None else Path("results") / f"tune_{spec.name}"
    check_out_dir(out, protect=[Path(spec.source)] if Path(spec.source).is_file() else [])
    with FolderLock(out):  # one writer: a second tune of this folder is refused at once
        seeds = replicate_seeds(spec.root_seed, spec.seeds)
        if evaluate is None:
            evaluate = prepare_simulation(spec, seeds[0])
        records: list[TrialRecord] = []
        bar = tqdm(total=spec.trials, desc=f"tune {spec.name}", unit="trial", disable=not progress, file=sys.stderr)
        with _quiet(optuna), bar:
            # Replicates run in worker processes, so that one that kills its process fails its trial and
            # the tune goes on in a new pool; except a custom ``evaluate`` with one worker, which runs in
            # this process: worker processes may be unable to import it (a lambda, a closure, a notebook's).
            in_process = not isinstance(evaluate, SimulationEvaluator)
            pool = RecoveringPool(lambda: make_executor(workers, scheduler, serial_in_process=in_process), workers)
            with pool:
                study = optuna.create_study(direction="minimize", sampler=_sampler(optuna, spec))
                futures: dict[tuple[int, int], Future] = {}  # of a batch: (trial, replicate) -> its future

                def submit(ex, task: tuple[int, int, dict[str, Any]]) -> Future:
                    return ex.submit(_replicate, evaluate, task[2], seeds[task[1]], spec.metrics)

                while len(records) < spec.trials:
                    batch = [study.ask() for _ in range(min(spec.parallel, spec.trials - len(records)))]
                    params = [{p.key: _suggest(t, p) for p in spec.params} for t in batch]
                    futures.clear()
                    pool.run([(t, r, {**spec.set, **ps}) for t, ps in enumerate(params) for r in range(len(seeds))],
                             submit, lambda task, fut: futures.__setitem__(task[:2], fut), noun="replicate")
                    for t, (trial, ps) in enumerate(zip(batch, params)):
                        rec = _collect(spec, trial.number, ps, [futures[t, r] for r in range(len(seeds))])
                        _tell(optuna, study, trial, spec, rec)
                        records.append(rec)
                        best = best_trial(records)
                        if best is not None:
                            bar.set_postfix_str(f"best {best.objective:.4g} (trial {best.number})", refresh=False)
                        bar.update(1)
        meta = _metadata(spec, seeds, records, evaluate, optuna.__version__)
        write_outputs(out, spec, records, meta, draw=draw)
    return TuneResult(out, best_trial(records), records, spec)
