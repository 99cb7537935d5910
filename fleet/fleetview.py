"""The free-slot index and the read-only view of the fleet that dispatch policies see.

:class:`FreeSlotIndex` keeps every eligible vehicle in a bucket keyed by its load: under central
queueing the online vehicles with a free chip slot, keyed by busy slots; under vehicle queueing
every online vehicle, keyed by busy slots plus the jobs in its own queue. Each bucket is an
array with swap-remove, so adding, removing, moving and picking a vehicle are O(1); finding the
least-loaded bucket is O(max load). No decision ever scans the fleet.
"""
from __future__ import annotations

import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from fleet.vehicle import Vehicle


class FreeSlotIndex:
    """Eligible vehicles bucketed by load (see the module docstring)."""

    __slots__ = ("buckets", "size")

    def __init__(self) -> None:
        self.buckets: list[list] = []
        self.size = 0

    def update(self, v: Vehicle, key: int) -> None:
        """File ``v`` under ``key``: its busy-slot count if online with a free slot, else -1."""
        old = v.bucket
        if key == old:
            return
        buckets = self.buckets
        if old >= 0:  # swap-remove from its bucket
            bucket = buckets[old]
            last = bucket.pop()
            if last is not v:
                pos = v.bucket_pos
                bucket[pos] = last
                last.bucket_pos = pos
            if key < 0:
                self.size -= 1
                v.bucket_pos = -1
                v.bucket = key
                return
        else:  # key >= 0 here
            self.size += 1
        try:
            bucket = buckets[key]
        except IndexError:  # a load not seen before: open the buckets up to it
            buckets.extend([] for _ in range(key + 1 - len(buckets)))
            bucket = buckets[key]
        v.bucket_pos = len(bucket)
        bucket.append(v)
        v.bucket = key

    def least_loaded(self, rng: random.Random) -> Vehicle | None:
        """A uniformly chosen vehicle among those with the fewest busy slots."""
        for bucket in self.buckets:
            if bucket:
                return bucket[int(rng.random() * len(bucket))]
        return None

    def uniform(self, rng: random.Random) -> Vehicle | None:
        """A uniformly chosen vehicle among all with a free slot."""
        if not self.size:
            return None
        r = int(rng.random() * self.size)
        for bucket in self.buckets:
            if r < len(bucket):
                return bucket[r]
            r -= len(bucket)
        return None  # pragma: no cover


EXACT, PREDICTED, NONE = "exact", "predicted", "none"
DEPARTURE_KNOWLEDGE = (EXACT, PREDICTED, NONE)


class FleetView:
    """Read-only access to the fleet for dispatch policies.

    Policies receive vehicle handles from this view (``least_loaded``, ``uniform``, or their own
    index fed by ``on_vehicle_changed``) and read them only through the view's methods. They
    must not change a vehicle or the fleet, and must not scan the fleet: each method is O(1).

    A vehicle is *eligible* when the dispatcher may choose it: online with a free slot
    (central queueing), or online at all (vehicle queueing, where a full vehicle queues the job).
    """

    __slots__ = ("_index", "_env", "_price", "_carbon", "_knowledge", "local_queues", "least_loaded",
                 "uniform", "_models")

    def __init__(self, index: FreeSlotIndex, env, price_signal, carbon_signal,
                 departure_knowledge: str = EXACT, local_queues: bool = False, models: tuple = ()) -> None:
        if departure_knowledge not in DEPARTURE_KNOWLEDGE:
            raise ValueError(f"departure knowledge {departure_knowledge!r}; allowed: {', '.join(DEPARTURE_KNOWLEDGE)}")
        self._index = index
        self._env = env
        self._price = price_signal
        self._carbon = carbon_signal
        self._knowledge = departure_knowledge
        #: whether jobs may wait in a vehicle's own queue (``dispatch.queueing = "vehicle"``)
        self.local_queues = local_queues
        #: ``least_loaded(rng)``: an eligible vehicle with the lowest load (busy slots, plus its
        #: own queue under vehicle queueing), ties broken uniformly (O(max load)).
        self.least_loaded = index.least_loaded
        #: ``uniform(rng)``: an eligible vehicle chosen uniformly at random (O(max load)).
        self.uniform = index.uniform
        self._models = models  # fleet.llm.ModelSpec: the fleet's, then those job classes need

    # ------------------------------------------------------------------ the fleet
    @property
    def now_s(self) -> float:
        """Current simulation time (s)."""
        return self._env.now

    @property
    def n_eligible(self) -> int:
        """Number of eligible vehicles."""
        return self._index.size

    n_with_free_slot = n_eligible  # the name under central queueing

    @staticmethod
    def eligible(v) -> bool:
        """Whether the dispatcher may choose ``v`` now."""
        return v.bucket >= 0

    @property
    def model_names(self) -> tuple[str, ...]:
        """The models jobs need: the fleet's (``fleet.model``) first, then those job classes name."""
        return tuple(m.name for m in self._models)

    def job_model(self, job) -> str:
        """The name of the model ``job`` needs."""
        if job.model is not None:
            return job.model.name
        return self._models[0].name if self._models else ""

    @property
    def departure_knowledge(self) -> str:
        """What :meth:`departure_s` reveals: ``exact``, ``predicted`` or ``none``."""
        return self._knowledge

    # ------------------------------------------------------------------ one vehicle
    @staticmethod
    def vehicle_id(v) -> int:
        """Identifier of ``v``."""
        return v.vid

    @staticmethod
    def free_slots(v) -> int:
        """Free slots of ``v`` (0 if offline)."""
        return v.free_slots

    @staticmethod
    def busy_slots(v) -> int:
        """Busy slots of ``v``."""
        return v.busy

    @staticmethod
    def slots(v) -> int:
        """Chip slots of ``v``."""
        return v.spec.chip.slots

    @staticmethod
    def queued_jobs(v) -> int:
        """Jobs waiting in ``v``'s own queue (vehicle queueing; else 0)."""
        q = v.local
        return len(q) if q is not None else 0

    @staticmethod
    def load(v) -> int:
        """Busy slots plus jobs waiting in ``v``'s own queue."""
        q = v.local
        return v.busy + (len(q) if q is not None else 0)

    @staticmethod
    def queued_tokens(v) -> int:
        """Tokens still to process (prompt and output) of the jobs waiting in ``v``'s own queue."""
        q = v.local
        if q is None or not len(q):
            return 0
        return sum(j.prompt_tokens + j.output_tokens - j.output_done for j in q.jobs())

    @staticmethod
    def work_anchor_s(v) -> float:
        """Sum of the expected end times of ``v``'s running jobs plus the service time of the
        jobs in its own queue (s). Work left at time t is ``work_anchor_s(v) - busy_slots(v) * t``."""
        s = 0.0
        for job in v.jobs:
            s += job.end_s
        q = v.local
        if q is not None and len(q):
            s += sum(FleetView.service_s(v, j) for j in q.jobs())
        return s

    def work_left_s(self, v) -> float:
        """Remaining service of ``v``'s running and own queued jobs on its chip (s)."""
        return self.work_anchor_s(v) - v.busy * self._env.now

    def models_held(self, v) -> tuple[str, ...]:
        """Names of the models in ``v``'s chip memory, resident or loading (batched serving; slots
        mode: the fleet's model)."""
        server = v.server
        if server is None:
            return self.model_names[:1]
        return tuple(m.name for m in server.ready_s)

    def holds_model(self, v, name: str) -> bool:
        """Whether ``v``'s chip holds the model ``name`` (resident or loading)."""
        return name in self.models_held(v)

    def model_ready_s(self, v, name: str) -> float:
        """When the model ``name`` is ready on ``v``'s chip (s; in the past: resident; inf: not held)."""
        server = v.server
        if server is None:
            return 0.0 if name in self.model_names[:1] else float("inf")
        for m, t in server.ready_s.items():
            if m.name == name:
                return t
        return float("inf")

    def takes_job(self, v, job) -> bool:
        """Whether ``v``'s chip has room for ``job`` now (memory for its model and KV cache, loading
        the model if it must; slots mode: a free slot)."""
        server = v.server
        if server is None:
            return v.free_slots > 0
        return server.has_room(job.model)

    @staticmethod
    def soc(v) -> float:
        """State of charge of ``v`` at its last event (0..1)."""
        return v.soc

    @staticmethod
    def reserve_soc(v) -> float:
        """State of charge below which an unplugged ``v`` stops serving."""
        return v.spec.battery.reserve_soc

    @staticmethod
    def plugged(v) -> bool:
        """Whether ``v`` is plugged in."""
        return v.plugged

    def departure_s(self, v) -> float:
        """When ``v`` leaves, as the dispatcher knows it (s; inf when unknown or not today)."""
        k = self._knowledge
        if k == EXACT:
            return v.next_departure_s
        if k == PREDICTED:
            return v.dep_pred_s
        return float("inf")

    @staticmethod
    def next_departure_s(v) -> float:
        """Scheduled departure of ``v`` (s; inf when none): the itinerary's truth, for tests."""
        return v.next_departure_s

    @staticmethod
    def chip(v):
        """Chip specification of ``v`` (slots, token rates, idle and active W)."""
        return v.spec.chip

    @staticmethod
    def service_s(v, job) -> float:
        """Expected service time of ``job`` on ``v``'s chip (s)."""
        if job.service_left_s is not None:
            return job.service_left_s
        chip = v.spec.chip
        return job.prompt_tokens / chip.prefill_tokens_per_s + (job.output_tokens - job.output_done) / \
            chip.decode_tokens_per_s

    def marginal_carbon_g_per_kwh(self, v) -> float:
        """Carbon of one more kWh of inference on ``v`` now (g/kWh at the chip).

        Plugged: the region's grid now, through the charger's losses. Unplugged: the battery's
        stored energy (average-cost accounting of when it was charged), through discharge losses.
        """
        spec = v.spec
        if v.plugged:
            return self._carbon.value(self._env.now) / spec.home_charger.efficiency
        return v.batt_g_per_wh * 1000.0 / spec.battery.discharge_efficiency

    def marginal_price_usd_per_kwh(self, v) -> float:
        """Cost of one more kWh of inference on ``v`` now ($/kWh at the chip); see the carbon twin."""
        spec = v.spec
        if v.plugged:
            return self._price.value(self._env.now) / spec.home_charger.efficiency
        return v.batt_usd_per_wh * 1000.0 / spec.battery.discharge_efficiency

    # ------------------------------------------------------------------ the region's grid
    def price_usd_per_kwh(self) -> float:
        """Current grid price ($/kWh)."""
        return self._price.value(self._env.now)

    def carbon_g_per_kwh(self) -> float:
        """Current grid carbon intensity (gCO2/kWh)."""
        return self._carbon.value(self._env.now)
