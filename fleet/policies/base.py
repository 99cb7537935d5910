"""The dispatch-policy contract, its parameters, and the registry of policies by name.

A policy chooses which vehicle serves a job. It is built once per run with a read-only
:class:`fleet.fleetview.FleetView`, its own ``random.Random`` and its parameters
(``dispatch.params``). ``select(job)`` returns an *eligible* vehicle handle from the view (one
with a free slot; under vehicle queueing any online vehicle) or ``None`` to leave the job
queued. Decisions must be O(1) or O(log n) in fleet size: use the view's indexes or keep your
own, fed by ``on_vehicle_changed``, which the dispatcher calls after every change of a
vehicle's load or eligibility when ``wants_updates`` is true. A policy must not change
vehicles, jobs or the fleet, and must not scan the fleet.

A user policy is named in a scenario as ``package.module:Class`` or ``path/to/file.py:Class``:

- ``file.py:Class``: a Python file inside the folder of the scenario file that names it (a path
  relative to that folder, without ``..``, whose real path, symbolic links resolved, stays inside
  the folder); for ``--set``, inside the current folder; for a sweep or tune file, inside that
  file's folder. Absolute paths are refused where a user writes them. When a scenario is read,
  the relative path is made absolute, so a results folder's ``scenario.toml`` names the policy
  file by its absolute path: ``fleetsim run`` refuses to rerun that file as it stands; name the
  policy again with ``--set dispatch.policy=file.py:Class`` (from the policy's folder).
- ``package.module:Class``: a module on the Python path.

A scenario file is data, so policy code is parsed before it runs: unless the module is already
imported, it is located without running any code (the top-level name with
``importlib.util.find_spec``, each submodule in its parent package's folders with
``importlib.machinery.PathFinder``), its source is read and parsed (:mod:`ast`), and it (with its
parent packages) is executed only if it defines (``class Class``) or imports
(``from ... import Class``) the class at its top level. The class must then be a subclass of
:class:`DispatchPolicy` (not the base class itself) that defines :meth:`DispatchPolicy.select`.
"""
from __future__ import annotations

import ast
import difflib
import importlib
import importlib.machinery
import importlib.util
import math
import random
import sys
from pathlib import Path
from typing import ClassVar

from sim.core.errors import FleetsimInputError, ScenarioError
from sim.core.inputs import check_data_file, quote

#: what ``dispatch.policy`` may be
POLICY_ALLOWED = ("a registered name (fleetsim policies), package.module:Class, or file.py:Class in the "
                  "scenario's folder")

_REGISTRY: dict[str, type[DispatchPolicy]] = {}


class DispatchPolicy:
    """Base class of dispatch policies.

    ``PARAMS`` maps each parameter a policy takes to its default; the values a scenario gives
    in ``dispatch.params`` are checked against it (name, type) and merged into ``self.params``.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    #: whether the dispatcher must call :meth:`on_vehicle_changed`
    wants_updates: ClassVar[bool] = False
    #: parameter name -> default value (its type is the allowed type)
    PARAMS: ClassVar[dict[str, float | int | str]] = {}

    def __init__(self, view, rng: random.Random, **params) -> None:
        self.check_params(params)
        self.params = {**self.PARAMS, **{k: (float(v) if type(self.PARAMS[k]) is float else v)
                                         for k, v in params.items()}}
        self.view = view
        self.rng = rng

    @classmethod
    def check_params(cls, params: dict) -> None:
        """Refuse (one-line ScenarioError) a parameter the policy does not take, or of the wrong type."""
        label = cls.name or cls.__name__
        for key, value in params.items():
            if key not in cls.PARAMS:
                hint = difflib.get_close_matches(key, cls.PARAMS, n=1)
                did = f" (did you mean '{hint[0]}'?)" if hint else ""
                allowed = ", ".join(cls.PARAMS) or "none"
                raise ScenarioError(f"dispatch.params.{quote(key)[1:-1]}: policy '{label}' takes no parameter "
                                    f"{quote(key)}{did}; allowed: {allowed}")
            want = type(cls.PARAMS[key])
            ok = isinstance(value, want) or (want is float and isinstance(value, int))
            if not ok or isinstance(value, bool) or (isinstance(value, float) and not math.isfinite(value)):
                noun = {int: "an integer", float: "a finite number", str: "a string"}.get(want, want.__name__)
                raise ScenarioError(f"dispatch.params.{key} = {quote(value)}: allowed: {noun}")

    def _require(self, key: str, ok: bool, allowed: str) -> None:
        """Reject a parameter value with the one-line error of bad input."""
        if not ok:
            raise ScenarioError(f"dispatch.params.{key} = {self.params[key]!r}: allowed: {allowed}")

    def select(self, job):
        """Return a vehicle with a free slot for ``job``, or None to keep it queued."""
        raise NotImplementedError

    def on_vehicle_changed(self, vehicle) -> None:
        """Called after ``vehicle``'s free slots changed (only if ``wants_updates``)."""


def register(cls: type[DispatchPolicy]) -> type[DispatchPolicy]:
    """Class decorator: make a policy selectable by its ``name``."""
    if not cls.name:
        raise ValueError(f"{cls.__qualname__} needs a non-empty name")
    _REGISTRY[cls.name] = cls
    return cls


def policy_names() -> list[str]:
    """Registered policy names, sorted."""
    return sorted(_REGISTRY)


def split_policy(name: str) -> tuple[str, str, str]:
    """``name`` as ``(kind, where, cls)``: ``("name", name, "")`` for a registered name,
    ``("module", "package.module", "Class")`` or ``("file", "path/file.py", "Class")``.

    Only the form is checked (raise ScenarioError otherwise): the text after the last ``:`` is an
    identifier, and the text before it is a dotted module name or a path ending ``.py``.
    """
    if not isinstance(name, str) or not name:
        raise _bad_policy(name, "empty")
    if ":" not in name:
        return "name", name, ""
    where, _, attr = name.rpartition(":")
    if not attr.isidentifier():
        raise _bad_policy(name, "no class name after the last ':'")
    if where.endswith(".py") and Path(where).name != ".py":
        return "file", where, attr
    if where and all(part.isidentifier() for part in where.split(".")):
        return "module", where, attr
    raise _bad_policy(name, "no module name or .py file before the last ':'")


def _bad_policy(name: object, problem: str) -> ScenarioError:
    return ScenarioError(f"dispatch.policy = {quote(name)}: {problem}; allowed: {POLICY_ALLOWED}")


def policy_class(name: str) -> type[DispatchPolicy]:
    """Resolve a registered name, ``package.module:Class`` or ``path/file.py:Class`` (see the
    module docstring: code is parsed before it runs); raise ScenarioError otherwise.

    A file path may be absolute here: the rule that a user names only files inside the scenario's
    folder is enforced where the user's text is read (:func:`sim.scenario.load_scenario`,
    :func:`sim.scenario.anchor_path`), before relative paths are made absolute.
    """
    kind, where, attr = split_policy(name)
    if kind == "name":
        if name not in _REGISTRY:
            hint = difflib.get_close_matches(name, _REGISTRY, n=1)
            did = f" (did you mean '{hint[0]}'?)" if hint else ""
            raise ScenarioError(
                f"dispatch.policy: unknown policy {quote(name, 40)}{did}; allowed: "
                + ", ".join(policy_names())
                + " or module:Class"
            )
        return _REGISTRY[name]
    module = _load_policy_file(name, where, attr) if kind == "file" else _import_policy_module(name, where, attr)
    cls = getattr(module, attr, None)
    if cls is DispatchPolicy:
        raise ScenarioError(f"dispatch.policy = {quote(name)}: the base class itself chooses no vehicle; allowed: "
                            "a class derived from fleet.policies.DispatchPolicy, or a registered name")
    if not (isinstance(cls, type) and issubclass(cls, DispatchPolicy)):
        raise ScenarioError(f"dispatch.policy = {quote(name)}: {attr} is not a DispatchPolicy subclass in "
                            f"{quote(where)}; allowed: a class derived from fleet.policies.DispatchPolicy")
    if cls.select is DispatchPolicy.select:
        raise ScenarioError(f"dispatch.policy = {quote(name)}: {attr} does not define select(job); allowed: a "
                            "DispatchPolicy subclass that chooses vehicles")
    return cls


def _import_policy_module(name: str, module_name: str, attr: str):
    """Import ``package.module``, unless its source shows that it cannot hold the class ``attr``."""
    if module_name not in sys.modules:
        spec = _find_module(module_name)
        _require_class(name, f"module {quote(module_name)}", _module_source(name, module_name, spec), attr)
    try:
        return importlib.import_module(module_name)
    except (Exception, SystemExit) as exc:
        raise ScenarioError(f"dispatch.policy: cannot import module {quote(module_name)} "
                            f"({type(exc).__name__}: {quote(str(exc))})") from None


def _find_module(module_name: str):
    """The spec of ``package.module``, found without executing anything.

    ``importlib.util.find_spec`` of a dotted name imports (runs) the parent packages, so only the
    top-level name goes through it (which runs nothing); each submodule is then looked up in its
    parent's folders with :class:`importlib.machinery.PathFinder`. A name already imported is taken
    from ``sys.modules``.
    """
    parts = module_name.split(".")

    def cannot(problem: str) -> ScenarioError:
        return ScenarioError(f"dispatch.policy: cannot import module {quote(module_name)} ({problem})")

    spec = None
    for depth in range(len(parts)):
        full = ".".join(parts[:depth + 1])
        try:
            if depth == 0:
                spec = importlib.util.find_spec(full)
            else:
                parent = sys.modules.get(".".join(parts[:depth]))
                locations = getattr(parent, "__path__", None) if parent is not None else None
                if locations is None:
                    locations = spec.submodule_search_locations
                if locations is None:
                    raise cannot(f"{quote('.'.join(parts[:depth]))} is a module, not a package; allowed: "
                                 "package.module:Class with package a folder on the Python path")
                spec = importlib.machinery.PathFinder.find_spec(full, list(locations))
        except ScenarioError:
            raise
        except Exception as exc:
            raise cannot(f"{type(exc).__name__}: {quote(str(exc))}") from None
        if spec is None:
            raise cannot("not found on the Python path")
    return spec


def _module_source(name: str, module_name: str, spec) -> str:
    """The Python source of the module ``spec`` describes (one-line error if it has none)."""
    source = None
    get_source = getattr(spec.loader, "get_source", None)
    if get_source is not None:
        try:
            source = get_source(spec.name)
        except (ImportError, OSError, UnicodeDecodeError, SyntaxError) as exc:
            raise ScenarioError(f"dispatch.policy = {quote(name)}: cannot read module {quote(module_name)} "
                                f"({type(exc).__name__}: {quote(str(exc))})") from None
    if source is None:
        raise ScenarioError(f"dispatch.policy = {quote(name)}: module {quote(module_name)} has no Python source to "
                            "check (built-in or compiled); allowed: a module written in Python")
    return source


def _require_class(name: str, what: str, source: str | bytes, attr: str) -> None:
    """Refuse ``source`` (of ``what``) unless its top level defines or imports the class ``attr``."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        detail = f"line {exc.lineno}: {exc.msg}" if isinstance(exc, SyntaxError) else type(exc).__name__
        raise ScenarioError(f"dispatch.policy = {quote(name)}: cannot parse {what} ({quote(detail)})") from None
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == attr:
            return
        if isinstance(node, ast.ImportFrom) and any((a.asname or a.name) == attr for a in node.names):
            return
    raise ScenarioError(f"dispatch.policy = {quote(name)}: {what} has no class {attr} at its top level, so it was "
                        f"not run; allowed: a file or module that defines (class {attr}) or imports it")


def _load_policy_file(name: str, path_text: str, attr: str):
    """Load ``path/to/file.py`` after checking that its top level defines or imports ``attr``."""
    path = Path(path_text)
    try:
        check_data_file(path, "dispatch.policy (policy file)")
        source = path.read_bytes()
    except FleetsimInputError as exc:
        raise ScenarioError(str(exc)) from None
    except OSError as exc:
        raise ScenarioError(f"dispatch.policy (policy file) = {quote(path_text)}: cannot read "
                            f"({quote(exc.strerror or type(exc).__name__)})") from None
    _require_class(name, f"policy file {quote(path.name)}", source, attr)
    spec = importlib.util.spec_from_file_location(f"fleetsim_user_policy_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:
        raise ScenarioError(f"dispatch.policy: cannot load {quote(path_text)} "
                            f"({type(exc).__name__}: {quote(str(exc))})") from None
    return module
