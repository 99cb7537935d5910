"""Load-balancing policies: random, round robin, least loaded, power of d choices,
join the idle queue, and least work left."""
from __future__ import annotations

import random
from collections import deque

from fleet.policies.base import DispatchPolicy, register
from fleet.policies.keyed import KeyedIndex


@register
class RandomPolicy(DispatchPolicy):
    """Uniformly random among eligible vehicles. O(max load)."""

    name = "random"
    summary = "an eligible vehicle chosen uniformly at random"

    def __init__(self, view, rng: random.Random, **params) -> None:
        super().__init__(view, rng, **params)
        self._pick = view.uniform

    def select(self, job):
        return self._pick(self.rng)


@register
class LeastLoadedPolicy(DispatchPolicy):
    """Join the eligible vehicle with the lowest load (busy slots plus its own queue), ties at random.

    Join-the-shortest-queue; with central queueing and one slot per vehicle, an M/M/c queue.
    O(max load).
    """

    name = "least_loaded"
    summary = "the vehicle with the fewest busy slots (and own queued jobs), ties broken at random"

    def __init__(self, view, rng: random.Random, **params) -> None:
        super().__init__(view, rng, **params)
        self._pick = view.least_loaded

    def select(self, job):
        return self._pick(self.rng)


@register
class RoundRobinPolicy(DispatchPolicy):
    """Cycle through eligible vehicles in the order they became eligible.

    A rotation queue holds each eligible vehicle once; a served vehicle that is still eligible
    goes to the back. Stale entries are skipped lazily (amortised O(1)).
    """

    name = "round_robin"
    summary = "cycles through eligible vehicles in turn"
    wants_updates = True

    def __init__(self, view, rng: random.Random, **params) -> None:
        super().__init__(view, rng, **params)
        self._ring: deque = deque()
        self._queued: set[int] = set()

    def on_vehicle_changed(self, vehicle) -> None:
        vid = self.view.vehicle_id(vehicle)
        if vid not in self._queued and self.view.eligible(vehicle):
            self._ring.append(vehicle)
            self._queued.add(vid)

    def select(self, job):
        ring, queued, view = self._ring, self._queued, self.view
        while ring:
            v = ring.popleft()
            queued.discard(view.vehicle_id(v))
            if view.eligible(v):
                return v
        return None


@register
class PowerOfDPolicy(DispatchPolicy):
    """Sample ``d`` distinct eligible vehicles uniformly and take the least loaded.

    Mitzenmacher (2001), the power of two choices: with per-vehicle queues (vehicle queueing)
    the mean time in system at load lambda falls from 1/(1 - lambda) (random) to
    sum_i lambda^((d^i - d)/(d - 1)) as the fleet grows. With ``d`` at least the number of
    eligible vehicles it is ``least_loaded``. O(d) per decision.
    """

    name = "power_of_d"
    summary = "the least loaded of d vehicles sampled at random (params: d, default 2)"
    PARAMS = {"d": 2}

    def __init__(self, view, rng: random.Random, **params) -> None:
        super().__init__(view, rng, **params)
        self.d = self.params["d"]
        self._require("d", self.d >= 1, "an integer >= 1")

    def select(self, job):
        view, rng, d = self.view, self.rng, self.d
        if d >= view.n_eligible:
            return view.least_loaded(rng)
        load = view.load
        seen: set[int] = set()
        best, best_load = None, None
        while len(seen) < d:
            v = view.uniform(rng)
            vid = view.vehicle_id(v)
            if vid in seen:
                continue
            seen.add(vid)
            x = load(v)
            if best is None or x < best_load:
                best, best_load = v, x
        return best


@register
class JoinIdleQueuePolicy(DispatchPolicy):
    """Join-idle-queue (Lu et al. 2011): idle vehicles register; a job takes a registered one.

    A vehicle registers in the idle queue whenever it becomes eligible with no busy slot and
    nothing queued. A job goes to the longest-registered vehicle that is still idle; stale
    registrations are dropped on the way. With no idle vehicle the job goes to a uniformly
    random eligible vehicle. Amortised O(1).
    """

    name = "join_idle_queue"
    summary = "an idle vehicle from the idle queue, else a random one"
    wants_updates = True

    def __init__(self, view, rng: random.Random, **params) -> None:
        super().__init__(view, rng, **params)
        self._idle: deque = deque()
        self._registered: set[int] = set()

    def _is_idle(self, v) -> bool:
        return self.view.eligible(v) and self.view.load(v) == 0

    def on_vehicle_changed(self, vehicle) -> None:
        vid = self.view.vehicle_id(vehicle)
        if vid not in self._registered and self._is_idle(vehicle):
            self._idle.append(vehicle)
            self._registered.add(vid)

    def select(self, job):
        idle, registered, view = self._idle, self._registered, self.view
        while idle:
            v = idle.popleft()
            registered.discard(view.vehicle_id(v))
            if self._is_idle(v):
                return v
        return view.uniform(self.rng)


@register
class LeastWorkLeftPolicy(DispatchPolicy):
    """The eligible vehicle with the least work left: pending prefill and decode time on its chip.

    A vehicle's work left at time t is the remaining service of its running jobs plus the
    service of the jobs in its own queue, in seconds of its chip (tokens per unit of speed).
    With k running jobs ending at e_1..e_k it is sum(e_i) - k*t + queued, so vehicles with
    the same k keep their order as time passes: one sorted index per k, keyed by
    sum(e_i) + queued, gives the exact minimum in O(slots * log n).
    """

    name = "least_work_left"
    summary = "the vehicle with the fewest pending tokens per unit of chip speed"
    wants_updates = True

    def __init__(self, view, rng: random.Random, **params) -> None:
        super().__init__(view, rng, **params)
        self._by_busy: list[KeyedIndex] = []
        self._where: dict[int, int] = {}  # vehicle id -> busy count it is filed under

    def on_vehicle_changed(self, vehicle) -> None:
        view = self.view
        vid = view.vehicle_id(vehicle)
        old = self._where.pop(vid, None)
        if old is not None:
            self._by_busy[old].refile(vehicle, vid, False)
        if view.eligible(vehicle):
            k = view.busy_slots(vehicle)
            while len(self._by_busy) <= k:
                self._by_busy.append(KeyedIndex(view.work_anchor_s, self.rng))
            self._by_busy[k].refile(vehicle, vid, True)
            self._where[vid] = k

    def select(self, job):
        now = self.view.now_s
        best, best_w = None, None
        for k, index in enumerate(self._by_busy):
            if len(index):
                w = index.first_key() - k * now
                if best is None or w < best_w:
                    best, best_w = index.first(), w
        return best
