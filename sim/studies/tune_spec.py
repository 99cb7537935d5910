"""TUNE.toml: read and check a tuning file (the format is documented in :mod:`sim.studies.tune`).

Only the file's own structure is checked here (types, ranges, unknown keys); whether its
parameters are scenario keys and its metrics are summary metrics is checked by :mod:`sim.studies.tune`
against the scenario. Every problem is a one-line :class:`sim.core.errors.ScenarioError` that names
the file and the key.
"""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.core.errors import ScenarioError
from sim.core.inputs import NAME_ALLOWED, is_plain_name, quote
from sim.scenario import anchor_path, read_toml_file
from sim.studies.sweep_file import check_data_path

TUNE_KEYS = {
    "name": NAME_ALLOWED,
    "scenario": "a scenario file path, relative to the tune file",
    "trials": "an integer >= 1",
    "seeds": "an integer >= 1",
    "root_seed": "an integer >= 0",
    "sampler_seed": "an integer >= 0",
    "parallel": "an integer >= 1",
    "pareto": "a list of two metric names",
}
TABLES = ("tune", "set", "params", "objective", "constraints")
PARAM_KEYS = ("low", "high", "int", "log", "choices")
CONSTRAINT_KEYS = ("metric", "min", "max")


@dataclass(frozen=True)
class Param:
    """One dimension of the search space: a number in ``[low, high]`` or one of ``choices``."""

    key: str
    low: float | int | None = None
    high: float | int | None = None
    integer: bool = False
    log: bool = False
    choices: tuple[Any, ...] | None = None

    def corners(self) -> tuple[Any, ...]:
        """The values that bound the dimension: every choice, or low and high."""
        return self.choices if self.choices is not None else (self.low, self.high)

    def describe(self) -> dict[str, Any]:
        """The dimension as written in a TUNE file (for tune.json)."""
        if self.choices is not None:
            return {"choices": list(self.choices)}
        return {"low": self.low, "high": self.high, "int": self.integer, "log": self.log}


@dataclass(frozen=True)
class Constraint:
    """``min <= metric <= max`` (either bound may be absent) on a metric's mean over seeds."""

    metric: str
    min: float | None = None
    max: float | None = None

    def violations(self, value: float) -> dict[str, float]:
        """Name -> amount by which ``value`` breaks each bound (<= 0: met; an undefined value: inf)."""
        out = {}
        if self.max is not None:
            out[f"{self.metric} <= {self.max:g}"] = math.inf if math.isnan(value) else value - self.max
        if self.min is not None:
            out[f"{self.metric} >= {self.min:g}"] = math.inf if math.isnan(value) else self.min - value
        return out


@dataclass(frozen=True)
class TuneSpec:
    """A checked TUNE file."""

    name: str
    source: str  # the file, for error messages
    scenario: str | None  # absolute path, None = the built-in scenario
    trials: int
    seeds: int
    root_seed: int
    sampler_seed: int
    parallel: int
    pareto: tuple[str, str] | None
    set: dict[str, Any] = field(default_factory=dict)
    params: tuple[Param, ...] = ()
    objective: dict[str, float] = field(default_factory=dict)
    constraints: tuple[Constraint, ...] = ()

    @property
    def metrics(self) -> tuple[str, ...]:
        """Every metric the tune reads: objective, constraints, then the Pareto pair (no repeats)."""
        names = [*self.objective, *(c.metric for c in self.constraints), *(self.pareto or ())]
        return tuple(dict.fromkeys(names))

    def where(self, metric: str) -> str:
        """The table that names ``metric`` (for error messages)."""
        if metric in self.objective:
            return "[objective]"
        if any(c.metric == metric for c in self.constraints):
            return "[[constraints]]"
        return "[tune] pareto"

    def pareto_pair(self) -> tuple[str, str] | None:
        """The two metrics of the Pareto figure: ``pareto``, else the first two metrics read, else None."""
        if self.pareto is not None:
            return self.pareto
        m = self.metrics
        return (m[0], m[1]) if len(m) >= 2 else None

    def maximized(self, metric: str) -> bool:
        """Whether more of ``metric`` is better: it has a negative objective weight."""
        return self.objective.get(metric, 0.0) < 0


def load_tune(path: str | Path) -> TuneSpec:
    """Read and check a TUNE file."""
    p = Path(path)
    raw = read_toml_file(p, "tune")
    return parse_tune(raw, source=str(p), base_dir=p.parent, default_name=p.stem)


def parse_tune(raw: dict[str, Any], source: str = "<tune>", base_dir: str | Path = ".",
               default_name: str = "tune") -> TuneSpec:
    """Check a parsed TUNE file; relative paths are taken relative to ``base_dir``.

    ``name`` (default ``default_name``, the file's stem) must be a plain name: it becomes the
    tune folder's name.
    """
    base = Path(base_dir)

    def bad(where: str, problem: str) -> ScenarioError:
        return ScenarioError(f"{source}: {where}: {problem}")

    seen: set[str] = set()

    def anchored(key: str, value: Any, where: str = "[set]") -> Any:
        """``value`` anchored to the tune file's folder; a data file it names must be readable."""
        try:
            check_data_path(key, value, base, f"{where} {key}", seen)
            return anchor_path(key, value, base)
        except ScenarioError as exc:
            raise ScenarioError(f"{source}: {exc}") from None

    for name in raw:
        if name not in TABLES:
            raise bad(name, f"unknown table{_hint(name, TABLES)}; allowed: {', '.join(TABLES)}")
    tune = _table(raw, "tune", bad)
    for key in tune:
        if key not in TUNE_KEYS:
            raise bad(f"[tune] {key}", f"unknown key{_hint(key, TUNE_KEYS)}; allowed: {', '.join(TUNE_KEYS)}")

    def integer(key: str, default: int, lo: int) -> int:
        v = tune.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise bad(f"[tune] {key} = {quote(v)}", f"allowed: {TUNE_KEYS[key]}")
        return v

    if "name" not in tune and not is_plain_name(default_name):
        raise bad("[tune] name", f"absent, and the file name {quote(default_name)} is not a plain name; set "
                                 f"[tune] name ({NAME_ALLOWED})")
    name = tune.get("name", default_name)
    if not is_plain_name(name):
        raise bad(f"[tune] name = {quote(name)}", f"allowed: {TUNE_KEYS['name']}")
    scenario = tune.get("scenario")
    if scenario is not None:
        if not isinstance(scenario, str) or not scenario:
            raise bad(f"[tune] scenario = {quote(scenario)}", f"allowed: {TUNE_KEYS['scenario']}")
        scenario = str((base / scenario).resolve())
    pareto = tune.get("pareto")
    if pareto is not None:
        if not (isinstance(pareto, list) and len(pareto) == 2 and all(isinstance(m, str) and m for m in pareto)
                and pareto[0] != pareto[1]):
            raise bad(f"[tune] pareto = {quote(pareto)}", "allowed: a list of two different metric names")
        pareto = (pareto[0], pareto[1])

    settings = _flatten(_table(raw, "set", bad))
    for key, value in settings.items():
        if key == "run.seed":
            raise bad(f"[set] {key}", "the replicate seeds come from [tune] root_seed; allowed: not run.seed")
        settings[key] = anchored(key, value)

    params = tuple(_param(key, spec, bad, anchored)
                   for key, spec in _flatten(_table(raw, "params", bad), leaf=_is_param).items())
    if not params:
        raise bad("[params]", "no parameters to tune; allowed: at least one, e.g. \"dispatch.params.d\" = "
                              "{ low = 1, high = 8, int = true }")

    objective = _flatten(_table(raw, "objective", bad))
    if not objective:
        raise bad("[objective]", "empty; allowed: at least one metric = weight, e.g. \"co2_kg.total\" = 1.0")
    for metric, w in objective.items():
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w):
            raise bad(f"[objective] {metric} = {quote(w)}", "allowed: a finite number (the metric's weight)")
        objective[metric] = float(w)

    rows = raw.get("constraints", [])
    if not (isinstance(rows, list) and all(isinstance(r, dict) for r in rows)):
        raise bad("constraints", "allowed: [[constraints]] tables with metric and min and/or max")
    constraints = tuple(_constraint(i, row, bad) for i, row in enumerate(rows, 1))

    return TuneSpec(
        name=name, source=source, scenario=scenario,
        trials=integer("trials", 20, 1), seeds=integer("seeds", 1, 1), root_seed=integer("root_seed", 0, 0),
        sampler_seed=integer("sampler_seed", 0, 0), parallel=integer("parallel", 1, 1), pareto=pareto,
        set=settings, params=params, objective=objective, constraints=constraints,
    )


# ---------------------------------------------------------------------------------- helpers
def _hint(name: str, allowed) -> str:
    close = difflib.get_close_matches(name, list(allowed), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _table(raw: dict[str, Any], name: str, bad) -> dict[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        raise bad(name, "allowed: a table")
    return value


def _is_param(value: Any) -> bool:
    return isinstance(value, dict) and any(k in value for k in ("low", "high", "choices"))


def _flatten(table: dict[str, Any], prefix: str = "", leaf=lambda v: not isinstance(v, dict)) -> dict[str, Any]:
    """Dotted keys: ``run.days = 1`` (a nested table in TOML) and ``"run.days" = 1`` mean the same."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        path = prefix + key
        if leaf(value) or not isinstance(value, dict):
            out[path] = value
        else:
            out.update(_flatten(value, path + ".", leaf))
    return out


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _param(key: str, spec: Any, bad, anchored) -> Param:
    where = f"[params] {key}"
    if not isinstance(spec, dict):
        raise bad(where, f"{quote(spec)}: allowed: a table {{ low = .., high = .. }} or {{ choices = [..] }}")
    for k in spec:
        if k not in PARAM_KEYS:
            raise bad(where, f"unknown key '{k}'{_hint(k, PARAM_KEYS)}; allowed: {', '.join(PARAM_KEYS)}")
    if key == "run.seed":
        raise bad(where, "the replicate seeds come from [tune] root_seed; allowed: not run.seed")
    if "choices" in spec:
        choices = spec["choices"]
        extra = [k for k in spec if k != "choices"]
        if extra:
            raise bad(where, f"'choices' cannot be combined with {', '.join(extra)}")
        ok = (isinstance(choices, list) and choices and len(set(map(repr, choices))) == len(choices)
              and all(isinstance(c, (str, int, float, bool)) for c in choices))
        if not ok:
            raise bad(where, f"choices = {quote(choices)}: allowed: a non-empty list of distinct strings, numbers "
                             "or booleans")
        return Param(key, choices=tuple(anchored(key, c, "[params]") for c in choices))
    low, high = spec.get("low"), spec.get("high")
    is_int, log = spec.get("int", False), spec.get("log", False)
    for flag, v in (("int", is_int), ("log", log)):
        if not isinstance(v, bool):
            raise bad(where, f"{flag} = {quote(v)}: allowed: true or false")
    for bound, v in (("low", low), ("high", high)):
        if not _number(v):
            raise bad(where, f"{bound} = {quote(v)}: allowed: a finite number")
        if is_int and not float(v).is_integer():
            raise bad(where, f"{bound} = {quote(v)}: allowed: an integer (int = true)")
    if not low < high:
        raise bad(where, f"low = {quote(low)}, high = {quote(high)}: allowed: low < high")
    if log and low <= 0:
        raise bad(where, f"low = {quote(low)}: allowed: > 0 with log = true")
    if is_int:
        return Param(key, int(low), int(high), integer=True, log=log)
    return Param(key, float(low), float(high), log=log)


def _constraint(i: int, row: dict[str, Any], bad) -> Constraint:
    where = f"[[constraints]] #{i}"
    for k in row:
        if k not in CONSTRAINT_KEYS:
            raise bad(where, f"unknown key '{k}'{_hint(k, CONSTRAINT_KEYS)}; allowed: {', '.join(CONSTRAINT_KEYS)}")
    metric = row.get("metric")
    if not (isinstance(metric, str) and metric):
        raise bad(where, f"metric = {quote(metric)}: allowed: a metric name, e.g. \"jobs.latency_s.p95\"")
    lo, hi = row.get("min"), row.get("max")
    if lo is None and hi is None:
        raise bad(f"{where} {metric}", "no bound; allowed: min and/or max")
    for bound, v in (("min", lo), ("max", hi)):
        if v is not None and not _number(v):
            raise bad(f"{where} {metric}", f"{bound} = {quote(v)}: allowed: a finite number")
    if lo is not None and hi is not None and lo > hi:
        raise bad(f"{where} {metric}", f"min = {quote(lo)} > max = {quote(hi)}; allowed: min <= max")
    return Constraint(metric, None if lo is None else float(lo), None if hi is None else float(hi))
