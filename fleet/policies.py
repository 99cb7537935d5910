"""Dispatch policies: a small base class, a registry by name, and the built-in policies.

A policy chooses which vehicle serves a job. It receives a :class:`fleet.fleetview.FleetView`
and its own ``random.Random``; ``select(job)`` returns a vehicle handle that has a free slot, or
``None`` to leave the job queued. Decisions must be O(1) or O(log n) in fleet size: use the
view's indexes, never a scan. A policy that keeps its own index overrides
``on_vehicle_changed``, which the dispatcher calls whenever a vehicle's free slots change.

A user policy is named in a scenario as ``module:Class`` (the module must be importable).
"""
from __future__ import annotations

import difflib
import importlib
import importlib.util
import random
from collections import deque
from pathlib import Path
from typing import ClassVar

from sim.errors import ScenarioError

_REGISTRY: dict[str, type[DispatchPolicy]] = {}


class DispatchPolicy:
    """Base class of dispatch policies."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    #: whether the dispatcher must call :meth:`on_vehicle_changed`
    wants_updates: ClassVar[bool] = False

    def __init__(self, view, rng: random.Random, **params) -> None:
        if params:
            key = next(iter(params))
            raise ScenarioError(f"dispatch.params.{key}: policy '{self.name}' takes no parameter '{key}'")
        self.view = view
        self.rng = rng

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


@register
class RandomPolicy(DispatchPolicy):
    """Uniformly random among vehicles with a free slot."""

    name = "random"
    summary = "a vehicle chosen uniformly at random among those with a free slot"

    def __init__(self, view, rng: random.Random, **params) -> None:
        super().__init__(view, rng, **params)
        self._pick = view.uniform

    def select(self, job):
        return self._pick(self.rng)


@register
class LeastLoadedPolicy(DispatchPolicy):
    """Join the vehicle with the fewest busy slots (ties uniformly at random)."""

    name = "least_loaded"
    summary = "the vehicle with the fewest busy slots, ties broken at random"

    def __init__(self, view, rng: random.Random, **params) -> None:
        super().__init__(view, rng, **params)
        self._pick = view.least_loaded

    def select(self, job):
        return self._pick(self.rng)


@register
class RoundRobinPolicy(DispatchPolicy):
    """Cycle through vehicles with a free slot in the order they became free.

    A rotation queue holds each vehicle with a free slot once; a served vehicle that still has
    a free slot goes to the back. Stale entries are skipped lazily (amortised O(1)).
    """

    name = "round_robin"
    summary = "cycles through vehicles with a free slot in turn"
    wants_updates = True

    def __init__(self, view, rng: random.Random, **params) -> None:
        super().__init__(view, rng, **params)
        self._ring: deque = deque()
        self._queued: set[int] = set()

    def on_vehicle_changed(self, vehicle) -> None:
        vid = self.view.vehicle_id(vehicle)
        if vid not in self._queued and self.view.free_slots(vehicle) > 0:
            self._ring.append(vehicle)
            self._queued.add(vid)

    def select(self, job):
        ring, queued, view = self._ring, self._queued, self.view
        while ring:
            v = ring.popleft()
            queued.discard(view.vehicle_id(v))
            if view.free_slots(v) > 0:
                return v
        return None
