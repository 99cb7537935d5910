"""Read and check a sweep file, and expand it into points (configuration x seed).

The file format is documented in :mod:`sim.studies.sweep`. Everything is checked here, before anything
runs: the file's own keys, every ``[set]`` and ``[axes]`` key and value against the scenario
schema, every configuration as a whole, and every dispatch policy named. Bad input raises
:class:`sim.core.errors.ScenarioError` with one line naming the sweep file, the key, the value and
what is allowed.
"""
from __future__ import annotations

import hashlib
import itertools
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w

from sim.budget import Limits, check_sweep, estimate_configs, finished_points, sweep_size
from sim.core.errors import FleetsimInputError, ScenarioError
from sim.core.inputs import NAME_ALLOWED, check_data_file, is_plain_name, quote
from sim.scenario import (
    PATH_KEYS,
    POLICY_KEY,
    ConfigFileError,
    Scenario,
    anchor_path,
    check_dispatch,
    load_scenario,
    names_builtin,
    read_toml_file,
)
from sim.schema import KEYS_BY_PATH

SECTIONS = ("sweep", "set", "axes")
SWEEP_KEYS = ("name", "scenario", "seeds", "root_seed", "combine", "metrics", "figures")
COMBINE = ("product", "zip")
#: endings of a path key's value that name a data file (as does any value with a '/')
DATA_SUFFIXES = (".csv", ".toml", ".json", ".epw")
MAX_SEEDS = 10_000
_METRIC = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$")


@dataclass(frozen=True)
class Point:
    """One run of a sweep: a configuration (axis values) with one replicate seed."""

    index: int
    config_index: int
    replicate: int
    seed: int
    labels: tuple[Any, ...]  # the axis values as written in the sweep file, in axis order
    toml: str  # the fully resolved scenario (Scenario.to_toml())
    id: str  # hash of ``toml``: the point's folder name
    config: str  # hash of the scenario without run.seed: shared by the replicates


@dataclass(frozen=True)
class SweepSpec:
    """A checked sweep file and its points, in index order (configuration-major)."""

    path: Path
    name: str
    scenario: str | None
    seeds: list[int]
    root_seed: int
    combine: str
    metrics: list[str] | None
    figures: bool
    set: dict[str, Any]
    axes: dict[str, list[Any]]
    points: list[Point]

    @property
    def n_configs(self) -> int:
        """Number of configurations (points per seed)."""
        return len(self.points) // len(self.seeds)


def derive_seeds(root_seed: int, n: int) -> list[int]:
    """Replicate seeds: the first 32-bit word of each of ``n`` SeedSequence children of ``root_seed``.

    Child i depends only on (root_seed, i), so adding seeds or axis values never changes a seed.
    """
    return [int(child.generate_state(1)[0]) for child in np.random.SeedSequence(root_seed).spawn(n)]


def digest(text: str) -> str:
    """First 16 hex digits of the SHA-256 of ``text``."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def config_id(scenario_toml: str) -> str:
    """Hash of a resolved scenario with ``run.seed`` removed (the same for every replicate)."""
    values = tomllib.loads(scenario_toml)
    values.get("run", {}).pop("seed", None)
    return digest(tomli_w.dumps(values))


def read_sweep(path: str | Path, *, limits: Limits | None = None, out_dir: str | Path | None = None,
               workers: int = 1) -> SweepSpec:
    """Read, check and expand a sweep file; raise ScenarioError (one line) on bad input.

    ``limits`` (default: the memory available now, no force): the number of points is checked
    from the axes' lengths before any configuration is resolved, then every configuration's
    estimate before the points are expanded (:func:`sim.budget.check_sweep`: memory with
    ``workers`` points running at once, 0 when they run elsewhere; disk where ``out_dir``,
    default ``results/sweep_<name>``, is; events).
    """
    p = Path(path)
    limits = limits or Limits()
    raw = read_toml_file(p, "sweep")
    for name, value in raw.items():
        if name not in SECTIONS:
            raise ScenarioError(f"{p}: unknown key '{name}'; allowed: the tables [sweep], [set] and [axes]")
        if not isinstance(value, dict):
            raise ScenarioError(f"{p}: {name} = {value!r}: allowed: a table [{name}]")
    head = _check_head(p, raw.get("sweep", {}))
    fixed = _flatten(raw.get("set", {}))
    axes = _flatten(raw.get("axes", {}))
    n_points, size_text = sweep_size(axes, head["combine"], head["seeds"])
    check_sweep(n_points, None, limits, source=str(p), size_text=size_text)  # before anything is resolved
    base = _base_scenario(p, head["scenario"])
    _check_keys(p, fixed, axes)
    base_dir = p.resolve().parent
    fixed_used = {k: anchor_path(k, v, base_dir) for k, v in fixed.items()}
    _check_data_files(p, base, fixed, axes, base_dir)
    try:
        base_set = base.with_overrides(fixed_used)
    except ScenarioError as exc:
        raise ScenarioError(f"{p}: [set] {exc}") from None
    # Each value on its own: a value that is wrong whatever the other axes say is reported as such
    # (values valid only together with another axis's values are checked per configuration).
    wrong_alone: set[str] = set()
    for key, values in axes.items():
        if not isinstance(values, list) or not values:
            raise ScenarioError(f"{p}: [axes] {key} = {values!r}: allowed: a non-empty list of values")
        for v in values:
            try:
                base_set.with_overrides({key: anchor_path(key, v, base_dir)})
            except ScenarioError as exc:
                if len(axes) == 1:
                    raise ScenarioError(f"{p}: [axes] {exc}") from None
                wrong_alone.add(str(exc))
    combos = _combinations(p, head["combine"], axes)
    seeds = derive_seeds(head["root_seed"], head["seeds"])
    if not limits.force:  # every configuration's estimate, before the points are expanded
        out = Path(out_dir) if out_dir is not None else Path("results") / f"sweep_{head['name'] or p.stem}"
        configs = ({k: anchor_path(k, vals[i], base_dir) for (k, vals), i in zip(axes.items(), combo)}
                   for combo in combos)
        check_sweep(len(combos) * len(seeds), estimate_configs(base_set, configs, report=head["figures"]), limits,
                    out_dir=out, workers=workers, source=str(p), size_text=size_text,
                    done_points=finished_points(out))
    points = _expand(p, base, fixed_used, axes, combos, seeds, base_dir, wrong_alone)
    return SweepSpec(p, head["name"] or p.stem, head["scenario"], seeds, head["root_seed"], head["combine"],
                     head["metrics"], head["figures"], fixed, axes, points)


# ---------------------------------------------------------------------------------- helpers
def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_head(p: Path, table: dict[str, Any]) -> dict[str, Any]:
    """The [sweep] table with defaults filled in (``name`` defaults to the file's stem, which must
    then be a plain name: it becomes the sweep folder's name)."""

    def bad(key: str, value: Any, allowed: str) -> ScenarioError:  # the value quoted, one short line
        return ScenarioError(f"{p}: [sweep] {key} = {quote(value)}: allowed: {allowed}")

    for key in table:
        if key not in SWEEP_KEYS:
            raise ScenarioError(f"{p}: unknown key {quote('[sweep] ' + key)}; allowed: {', '.join(SWEEP_KEYS)}")
    h = {"name": None, "scenario": None, "seeds": 1, "root_seed": 0, "combine": "product", "metrics": None,
         "figures": False, **table}
    if h["name"] is None:
        if not is_plain_name(p.stem):
            raise ScenarioError(f"{p}: no [sweep] name, and the file name {quote(p.stem)} is not a plain name; "
                                f"set [sweep] name ({NAME_ALLOWED})")
        h["name"] = p.stem
    if not is_plain_name(h["name"]):
        raise bad("name", h["name"], NAME_ALLOWED)
    if h["scenario"] is not None and not (isinstance(h["scenario"], str) and h["scenario"]):
        raise bad("scenario", h["scenario"], "a scenario file path, relative to the sweep file")
    if not (_is_int(h["seeds"]) and 1 <= h["seeds"] <= MAX_SEEDS):
        raise bad("seeds", h["seeds"], f"an integer between 1 and {MAX_SEEDS}")
    if not (_is_int(h["root_seed"]) and h["root_seed"] >= 0):
        raise bad("root_seed", h["root_seed"], "an integer >= 0")
    if h["combine"] not in COMBINE:
        raise bad("combine", h["combine"], " or ".join(repr(c) for c in COMBINE))
    m = h["metrics"]
    if m is not None:
        ok = isinstance(m, list) and m and all(isinstance(x, str) and _METRIC.match(x) for x in m)
        if not ok or len(set(m)) != len(m):
            raise bad("metrics", m, "a non-empty list of distinct dotted names of summary.json values, "
                                  "e.g. [\"jobs.slo_attainment\", \"co2_kg.total\"]")
    if not isinstance(h["figures"], bool):
        raise bad("figures", h["figures"], "true or false")
    return h


def _base_scenario(p: Path, scenario: str | None) -> Scenario:
    if scenario is None:
        return load_scenario(None)
    path = Path(scenario)
    if not path.is_absolute():
        path = p.resolve().parent / path
    try:
        return load_scenario(path)
    except ConfigFileError as exc:  # the message names the scenario file: not repeated
        raise ScenarioError(short_line(p, f"[sweep] {exc}")) from None
    except ScenarioError as exc:
        raise ScenarioError(short_line(p, f"[sweep] scenario = {quote(scenario, 40)}: {exc}")) from None


def short_line(source: str | Path, text: str, limit: int = 280) -> str:
    """``source: text``, with only the file name of ``source`` (quoted) when the line would be
    longer than ``limit`` characters."""
    line = f"{source}: {text}"
    return line if len(line) <= limit else f"{quote(Path(source).name, 40)}: {text}"


def is_data_path(key: str, value: Any) -> bool:
    """Whether ``value`` of scenario ``key`` names a data file: a path key's value (not the dispatch
    policy, which is checked on its own) that is not a built-in name and ends in .csv, .toml, .json
    or .epw or holds a '/' (any non-empty trace is a file)."""
    if key not in PATH_KEYS or key == POLICY_KEY or not isinstance(value, str) or not value:
        return False
    return not names_builtin(key, value) and (value.endswith(DATA_SUFFIXES) or "/" in value or key == "workload.trace")


def check_data_path(key: str, value: Any, base_dir: Path, where: str, seen: set[str] | None = None) -> None:
    """Refuse (one-line ScenarioError naming ``where``, then the path) a data file that ``value`` of
    ``key``, written in a file in the folder ``base_dir``, names and that cannot be read
    (:func:`sim.core.inputs.check_data_file`). Paths in ``seen`` are skipped; the checked one is added."""
    if not is_data_path(key, value):
        return
    path = str(anchor_path(key, value, base_dir))
    if seen is not None:
        if path in seen:
            return
        seen.add(path)
    try:
        check_data_file(path, where)
    except FleetsimInputError as exc:
        raise ScenarioError(str(exc)) from None


def _check_data_files(p: Path, base: Scenario, fixed: dict[str, Any], axes: dict[str, Any], base_dir: Path) -> None:
    """Every distinct data file of every configuration (a trace, carbon signal, tariff or weather
    file named in [set], [axes] or the scenario) must be readable, before anything runs."""
    seen: set[str] = set()
    for section, table in (("set", fixed), ("axes", axes)):
        for key, values in table.items():
            for value in (values if section == "axes" and isinstance(values, list) else [values]):
                try:
                    check_data_path(key, value, base_dir, f"[{section}] {key}", seen)
                except ScenarioError as exc:
                    raise ScenarioError(f"{p}: {exc}") from None
    for key in PATH_KEYS:
        if key not in fixed and key not in axes:
            try:  # the scenario's own paths are absolute already
                check_data_path(key, base[key], base_dir, f"[sweep] scenario: {key}", seen)
            except ScenarioError as exc:
                raise ScenarioError(f"{p}: {exc}") from None


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys, whether written quoted ("fleet.vehicles") or as nested tables."""
    out: dict[str, Any] = {}
    for name, value in table.items():
        path = prefix + name
        if isinstance(value, dict) and path not in KEYS_BY_PATH:
            out.update(_flatten(value, path + "."))
        else:
            out[path] = value
    return out


def _check_keys(p: Path, fixed: dict[str, Any], axes: dict[str, Any]) -> None:
    for section, keys in (("set", fixed), ("axes", axes)):
        if "run.seed" in keys:
            raise ScenarioError(f"{p}: [{section}] run.seed: not allowed; the seeds come from [sweep] seeds "
                                "and root_seed")
    both = [k for k in axes if k in fixed]
    if both:
        raise ScenarioError(f"{p}: [axes] {both[0]}: also in [set]; allowed: a key in one of them")


def _combinations(p: Path, combine: str, axes: dict[str, list[Any]]) -> list[tuple[int, ...]]:
    """Index tuples into the axes' value lists, one per configuration, in order."""
    sizes = [len(v) for v in axes.values()]
    for key, values in axes.items():
        for i, v in enumerate(values):
            if v in values[:i]:
                raise ScenarioError(f"{p}: [axes] {key} = {values!r}: value {v!r} appears twice; "
                                    "allowed: distinct values")
    if not axes:
        return [()]
    if combine == "product":
        return list(itertools.product(*(range(n) for n in sizes)))
    if len(set(sizes)) != 1:
        shown = ", ".join(f"{k} ({n})" for k, n in zip(axes, sizes))
        raise ScenarioError(f"{p}: [sweep] combine = 'zip': the axes have different lengths ({shown}); "
                            "allowed: axes of equal length, or combine = 'product'")
    return [(i,) * len(axes) for i in range(sizes[0])]


def _expand(p: Path, base: Scenario, fixed: dict[str, Any], axes: dict[str, list[Any]],
            combos: list[tuple[int, ...]], seeds: list[int], base_dir: Path, wrong_alone: set[str]) -> list[Point]:
    points: list[Point] = []
    ids: dict[str, int] = {}
    for c, combo in enumerate(combos):
        labels = tuple(values[i] for values, i in zip(axes.values(), combo))
        overrides = {**fixed, **{k: anchor_path(k, v, base_dir) for k, v in zip(axes, labels)}}
        shown = ", ".join(f"{k} = {v!r}" for k, v in zip(axes, labels))
        try:
            config = base.with_overrides(overrides)
        except ScenarioError as exc:
            where = "[axes]" if str(exc) in wrong_alone else f"configuration ({shown}):"
            raise ScenarioError(f"{p}: {where} {exc}") from None
        try:  # a policy that does not load, or a parameter it does not take, fails here, not at run time
            check_dispatch(config)
        except ScenarioError as exc:
            raise ScenarioError(f"{p}: configuration ({shown}): {exc}") from None
        cid = config_id(config.to_toml())
        for r, seed in enumerate(seeds):
            toml = config.with_overrides({"run.seed": seed}).to_toml()
            pid = digest(toml)
            if pid in ids:
                raise ScenarioError(f"{p}: configuration ({shown}) resolves to the same scenario as configuration "
                                    f"{points[ids[pid]].config_index + 1}; allowed: axes that change the scenario")
            ids[pid] = len(points)
            points.append(Point(len(points), c, r, seed, labels, toml, pid, cid))
    return points
