"""The dispatch-policy contract, its parameters, and the registry of policies by name.

A policy chooses which vehicle serves a job. It is built once per run with a read-only
:class:`fleet.fleetview.FleetView`, its own ``random.Random`` and its parameters
(``dispatch.params``). ``select(job)`` returns an *eligible* vehicle handle from the view (one
with a free slot; under vehicle queueing any online vehicle) or ``None`` to leave the job
queued. Decisions must be O(1) or O(log n) in fleet size: use the view's indexes or keep your
own, fed by ``on_vehicle_changed``, which the dispatcher calls after every change of a
vehicle's load or eligibility when ``wants_updates`` is true. A policy must not change
vehicles, jobs or the fleet, and must not scan the fleet.

A user policy is named in a scenario as ``module:Class`` or ``path/to/file.py:Class``.
"""
from __future__ import annotations

import difflib
import importlib
import importlib.util
import math
import random
from pathlib import Path
from typing import ClassVar

from sim.errors import ScenarioError

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
        label = self.name or type(self).__name__
        for key, value in params.items():
            if key not in self.PARAMS:
                hint = difflib.get_close_matches(key, self.PARAMS, n=1)
                did = f" (did you mean '{hint[0]}'?)" if hint else ""
                allowed = ", ".join(self.PARAMS) or "none"
                raise ScenarioError(f"dispatch.params.{key}: policy '{label}' takes no parameter '{key}'{did}; "
                                    f"allowed: {allowed}")
            want = type(self.PARAMS[key])
            ok = isinstance(value, want) or (want is float and isinstance(value, int))
            if not ok or isinstance(value, bool) or (isinstance(value, float) and not math.isfinite(value)):
                noun = {int: "an integer", float: "a finite number", str: "a string"}.get(want, want.__name__)
                raise ScenarioError(f"dispatch.params.{key} = {value!r}: allowed: {noun}")
        self.params = {**self.PARAMS, **{k: (float(v) if type(self.PARAMS[k]) is float else v)
                                         for k, v in params.items()}}
        self.view = view
        self.rng = rng

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


def policy_class(name: str) -> type[DispatchPolicy]:
    """Resolve a registered name or ``module:Class``; raise ScenarioError otherwise."""
    if ":" in name:
        module_name, _, attr = name.rpartition(":")
        module = _import_policy_module(module_name)
        cls = getattr(module, attr, None)
        if not (isinstance(cls, type) and issubclass(cls, DispatchPolicy)):
            raise ScenarioError(
                f"dispatch.policy: '{name}' is not a DispatchPolicy subclass in module '{module_name}'"
            )
        return cls
    if name not in _REGISTRY:
        hint = difflib.get_close_matches(name, _REGISTRY, n=1)
        did = f" (did you mean '{hint[0]}'?)" if hint else ""
        raise ScenarioError(
            f"dispatch.policy: unknown policy '{name}'{did}; allowed: "
            + ", ".join(policy_names())
            + " or module:Class"
        )
    return _REGISTRY[name]


def _import_policy_module(module_name: str):
    """Import ``package.module`` or load a ``path/to/file.py``."""
    if module_name.endswith(".py"):
        path = Path(module_name)
        if not path.is_file():
            raise ScenarioError(f"dispatch.policy: policy file '{module_name}' not found")
        spec = importlib.util.spec_from_file_location(f"fleetsim_user_policy_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # noqa: BLE001 - a user's file: report it in one line
            raise ScenarioError(f"dispatch.policy: cannot load '{module_name}' ({type(exc).__name__}: {exc})") from None
        return module
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise ScenarioError(f"dispatch.policy: cannot import module '{module_name}' ({exc})") from None
