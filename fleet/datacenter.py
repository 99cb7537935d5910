"""The overflow data center: a finite pool of GPU servers that serves jobs the fleet did not.

With ``dispatch.on_max_wait = "overflow"`` a job still queued at its class's wait limit leaves
the fleet for this pool instead of being dropped. The pool has ``servers x slots_per_server``
concurrent slots with per-slot prefill and decode rates, and its own queue (interactive before
batch, FIFO within a class, no wait limit): an M/G/c queue. A batch job keeps the tokens it
already decoded on a vehicle. Energy: a server draws ``server_w`` at full batch, shared equally
by its slots, times the facility's PUE; it is priced and carbon-counted with the region's grid
signals over each job's exact service interval.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from fleet.jobs import BATCH_CLASS
from sim.core.params import POS, TOKEN_RATE, param

_WS_PER_KWH = 3.6e6


@dataclass(frozen=True)
class DataCenterSpec:
    """A pool of GPU inference servers (defaults: Llama-3.1-8B on one H100 per server)."""

    # ASSUMPTION: a small overflow pool; sweep it.
    servers: int = param(4, doc="overflow data-center GPU servers; ASSUMPTION", lo=1, hi=10_000_000)
    # Batch 8 per server: facts.md §6, ml-energy/leaderboard (Llama-3.1-8B, 1x H100, vLLM).
    slots_per_server: int = param(8, doc="concurrent requests per server; batch 8 (facts.md §6, ml-energy "
                                  "leaderboard)", lo=1, hi=4096)
    # 1,070 output tok/s at batch 8 (facts.md §6) / 8 sequences = 133.75 tok/s per slot.
    decode_tokens_per_s: float = param(133.75, doc="decode rate per slot; 1,070 tok/s at batch 8 on an H100, "
                                       "Llama-3.1-8B (facts.md §6)", **TOKEN_RATE)
    # Derived, ASSUMPTION: 989 TFLOP/s dense bf16 x ~40 % utilisation / (2 x 8e9 FLOP per
    # token) = ~25,000 prompt tok/s per H100, shared by 8 slots = ~3,000 per slot.
    prefill_tokens_per_s: float = param(3000.0, doc="prefill rate per slot; derived from H100 bf16 FLOP/s at "
                                        "~40 % use, ASSUMPTION", **TOKEN_RATE)
    # 486 W GPU power at batch 8 (facts.md §6, same source).
    server_w: float = param(486.0, doc="server power at full batch, W; 486 W at batch 8 (facts.md §6)", **POS)
    # 1.58: 2018 global average PUE, Uptime Institute (facts.md §5).
    pue: float = param(1.58, doc="power usage effectiveness; 1.58 (Uptime 2018, facts.md §5)", lo=1.0, hi=5.0)

    def __post_init__(self) -> None:
        for name in ("servers", "slots_per_server", "decode_tokens_per_s", "prefill_tokens_per_s", "server_w"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} = {getattr(self, name)!r}: allowed: > 0")
        if not self.pue >= 1.0:
            raise ValueError(f"pue = {self.pue!r}: allowed: >= 1")

    def service_s(self, prompt_tokens: int, output_tokens: int) -> float:
        """Service time of one job on one slot (s)."""
        return prompt_tokens / self.prefill_tokens_per_s + output_tokens / self.decode_tokens_per_s


class DataCenterPool:
    """Serves overflowed jobs; accounts busy slot-seconds, energy, cost and CO2."""

    def __init__(self, env, spec: DataCenterSpec, log, table) -> None:
        self.env = env
        self.spec = spec
        self.log = log
        self._table = table  # PriceCarbonTable of the region's grid
        self.free = spec.servers * spec.slots_per_server
        self.queues = (deque(), deque())
        self._running: dict[int, object] = {}  # job id -> job in service
        self.received = 0
        self.completed = 0
        self.tokens_received = 0
        self.tokens_served = 0
        self.busy_slot_s = 0.0
        self.energy_ws = 0.0
        self.cost_ws = 0.0  # W·s·$/kWh
        self.co2_ws = 0.0  # W·s·g/kWh
        self._slot_w = spec.pue * spec.server_w / spec.slots_per_server

    def submit(self, job) -> None:
        """Take over ``job`` now (its state is already OVERFLOW)."""
        self.received += 1
        self.tokens_received += job.prompt_tokens + job.output_tokens - job.output_done
        if self.free:
            self._start(job)
        else:
            self.queues[job.job_class].append(job)

    def _start(self, job) -> None:
        env = self.env
        now = env.now
        self.free -= 1
        self._running[job.job_id] = job
        job.vehicle = None
        job.start_s = now
        if job.first_start_s < 0.0:
            job.first_start_s = now
        service = self.spec.service_s(job.prompt_tokens, job.output_tokens - job.output_done)
        job.run_event = env.call_at(now + service, [self._on_complete], job)

    def _on_complete(self, ev) -> None:
        job = ev.value
        now = self.env.now
        job.finish_s = now
        job.run_event = None
        self._account(job.start_s, now)
        del self._running[job.job_id]
        self.completed += 1
        self.tokens_served += job.prompt_tokens + job.output_tokens - job.output_done
        self.log.append(job)
        self.free += 1
        for c in (0, BATCH_CLASS):
            if self.queues[c]:
                self._start(self.queues[c].popleft())
                break

    def close(self, now: float) -> None:
        """Log the jobs still queued or running at the end (their finish time stays -1)."""
        for q in self.queues:
            for job in q:
                self.log.append(job)
        for job in self._running.values():
            job.run_event = None
            self.log.append(job)
            self._account(job.start_s, now)

    @property
    def queued(self) -> int:
        """Jobs waiting for a slot."""
        return len(self.queues[0]) + len(self.queues[1])

    @property
    def running(self) -> int:
        """Jobs in service."""
        return len(self._running)

    def _account(self, t0_s: float, t1_s: float) -> None:
        """Energy, cost and CO2 of one slot busy over ``[t0_s, t1_s]``."""
        p = self._slot_w
        (p0, c0), (p1, c1) = self._table.cumulatives(t0_s), self._table.cumulatives(t1_s)
        self.busy_slot_s += t1_s - t0_s
        self.energy_ws += p * (t1_s - t0_s)
        self.cost_ws += p * (p1 - p0)
        self.co2_ws += p * (c1 - c0)

    def summary(self) -> dict:
        """The pool's totals for ``summary.json``."""
        return {
            "servers": self.spec.servers,
            "slots": self.spec.servers * self.spec.slots_per_server,
            "jobs_received": self.received,
            "jobs_completed": self.completed,
            "tokens_received": self.tokens_received,
            "tokens_served": self.tokens_served,
            "busy_slot_hours": self.busy_slot_s / 3600.0,
            "energy_kwh": self.energy_ws / _WS_PER_KWH,
            "cost_usd": self.cost_ws / _WS_PER_KWH,
            "co2_kg": self.co2_ws / _WS_PER_KWH / 1000.0,
        }
