"""The overflow data center: GPUs that serve the jobs the fleet did not, by continuous batching.

With ``dispatch.on_max_wait = "overflow"`` a job still queued at its class's wait limit leaves
the fleet for this pool instead of being dropped. The pool has ``servers`` GPUs of a
:mod:`fleet.chip` preset serving a :mod:`fleet.llm` preset, each a
:class:`fleet.batching.BatchServer` (the cars' serving model: prefill first, decode shared by the
batch, step times and power from :mod:`fleet.roofline`) of at most ``max_batch`` sequences. Its own
queue holds what no GPU has room for: interactive before batch, FIFO within a class, no wait
limit. The head of the queue goes to the GPU with room that holds the fewest jobs (a GPU is
created the first time it is needed; GPUs not yet used are the least loaded). A batch job keeps
the tokens it already decoded on a vehicle.

Energy: a GPU holding jobs draws its chip's power (from its server, between idle and maximum)
times the facility's PUE; a GPU holding none is not counted (it serves other work). The energy is
priced and carbon-counted with the run's grid signals over exact intervals. Each job is billed
an equal share of its GPU's facility power while it is there, through per-GPU cumulative per-job
accumulators (a change costs O(1)), so that the jobs' bills add up to the pool's totals.
"""
from __future__ import annotations

import dataclasses
import math
from collections import deque
from dataclasses import dataclass
from typing import Any

from fleet.batching import BatchServer
from fleet.chip import CHIP_PRESETS, ChipSpec
from fleet.llm import MODEL_PRESETS, ModelSpec
from fleet.serving import fit_error
from sim.core.errors import ScenarioError
from sim.core.params import param

_WS_PER_KWH = 3.6e6


@dataclass(frozen=True)
class DataCenterSpec:
    """A pool of inference GPUs (defaults: Llama-3.1-8B bf16 on H100 SXM, vLLM's batch limit)."""

    # ASSUMPTION: a small overflow pool; sweep it.
    servers: int = param(4, doc="overflow data-center GPUs, each batching its own jobs; ASSUMPTION", lo=1,
                         hi=10_000_000)
    # H100 SXM: the GPU of the ML.ENERGY measurements the roofline is calibrated to (facts.md §6b).
    chip: str = param("h100_sxm", doc="its GPU, a fleet.chip preset; H100 SXM (facts.md §6b, the calibration's "
                      "hardware)", choices=tuple(sorted(CHIP_PRESETS)))
    # Llama-3.1-8B bf16: the model of the same measurements (facts.md §6, §6b).
    model: str = param("llama-3.1-8b-bf16", doc="the model it serves, a fleet.llm preset; Llama-3.1-8B bf16 "
                       "(ML.ENERGY, facts.md §6)", choices=tuple(sorted(MODEL_PRESETS)))
    # 256: vLLM's default max_num_seqs (EngineArgs); ASSUMPTION that the operator keeps it. The
    # ML.ENERGY H100 runs went up to 768 (facts.md §6b).
    max_batch: int = param(256, doc="largest batch per GPU, sequences; vLLM's default max_num_seqs (256), "
                           "ASSUMPTION that the operator keeps it", lo=1, hi=65_536)
    # 1.58: 2018 global average PUE, Uptime Institute (facts.md §5).
    pue: float = param(1.58, doc="power usage effectiveness; 1.58 (Uptime 2018, facts.md §5)", lo=1.0, hi=5.0)

    def __post_init__(self) -> None:
        for name in ("servers", "max_batch"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} = {v!r}: allowed: an integer >= 1")
        if not (math.isfinite(self.pue) and self.pue >= 1.0):
            raise ValueError(f"pue = {self.pue!r}: allowed: finite and >= 1")
        if self.chip not in CHIP_PRESETS:
            raise ValueError(f"chip = {self.chip!r}: allowed: {', '.join(sorted(CHIP_PRESETS))}")
        if self.model not in MODEL_PRESETS:
            raise ValueError(f"model = {self.model!r}: allowed: {', '.join(sorted(MODEL_PRESETS))}")
        err = fit_error(self.chip_spec, self.model_spec)
        if err is not None:
            raise ScenarioError(f"dispatch.datacenter.model = {self.model!r} does not fit dispatch.datacenter.chip "
                                f"= {self.chip!r}: {err}; allowed: a smaller model or a larger chip")

    @property
    def chip_spec(self) -> ChipSpec:
        """The chip preset with the pool's batch limit."""
        return dataclasses.replace(CHIP_PRESETS[self.chip], max_batch=self.max_batch)

    @property
    def model_spec(self) -> ModelSpec:
        """The model preset."""
        return MODEL_PRESETS[self.model]


class _Gpu:
    """One GPU of the pool: its server, the load and power last read from it, and its billing state.

    ``e``, ``c`` and ``g`` are cumulative per-job shares since the GPU was created: facility energy
    (W·s), its price integral (W·s·$/kWh) and its carbon integral (W·s·g/kWh). A job's bill is
    their growth while it is on the GPU.
    """

    __slots__ = ("server", "n", "w", "t", "e", "c", "g", "bucket", "pos")

    def __init__(self, now: float) -> None:
        self.server: BatchServer | None = None  # set by the pool
        self.n = 0  # jobs held (n and w as of the last change)
        self.w = 0.0  # chip power while it holds jobs (W); 0 while it holds none
        self.t = now  # accumulators up to here (s)
        self.e = self.c = self.g = 0.0
        self.bucket = -1  # load bucket in the pool's index; -1: no room
        self.pos = -1


class DataCenterPool:
    """Serves overflowed jobs on batching GPUs; accounts energy, cost and CO2 in total and per job."""

    def __init__(self, env, spec: DataCenterSpec, log, table, other_models: tuple[ModelSpec, ...] = ()) -> None:
        self.env = env
        self.spec = spec
        self.log = log
        self._table = table  # PriceCarbonTable of the region's grid
        self.chip = spec.chip_spec
        self.model = spec.model_spec
        # every GPU holds the pool's model, serving the fleet's jobs, and the models some job classes
        # need, serving those jobs (a data center keeps its models loaded)
        self.resident = (self.model,) + tuple(m for m in dict.fromkeys(other_models) if m is not self.model)
        err = fit_error(self.chip, self.model, self.resident[1:])
        if err is not None:
            raise ScenarioError(f"dispatch.datacenter.chip = {spec.chip!r} cannot hold the models the workload needs "
                                f"({', '.join(m.name for m in self.resident)}): {err}; allowed: a larger chip or "
                                "smaller models")
        self._pue = spec.pue
        self.gpus: list[_Gpu] = []  # created when first needed, at most spec.servers
        self._buckets: list[list[_Gpu]] = []  # GPUs with room, by jobs held
        self._lo = 0  # no bucket below this one holds a GPU
        self.queues = (deque(), deque())
        self._on_gpu: dict[int, tuple[Any, _Gpu]] = {}  # job id -> (job, its GPU) for each job in service
        #: job id -> (facility kWh, $, g CO2) billed to each job served here (finished or running at the end)
        self.bills: dict[int, tuple[float, float, float]] = {}
        self.ttft_s: list[float] = []  # arrival to first token here, jobs served to the end
        self.tpot_s: list[float] = []  # time per output token after the first, the same jobs
        self.received = 0
        self.completed = 0
        self.tokens_received = 0
        self.tokens_served = 0
        self.energy_ws = 0.0  # facility energy, W·s
        self.cost_ws = 0.0  # W·s·$/kWh
        self.co2_ws = 0.0  # W·s·g/kWh

    # ------------------------------------------------------------------ jobs
    def submit(self, job) -> None:
        """Take over ``job`` now (its state is already OVERFLOW)."""
        self.received += 1
        self.tokens_received += job.prompt_tokens + job.output_tokens - job.output_done
        self.queues[job.job_class].append(job)
        self._dispatch(self.env.now)

    def _dispatch(self, now: float) -> None:
        """Admit queued jobs, interactive first, while a GPU has room."""
        q0, q1 = self.queues
        while q0 or q1:
            gpu = self._pick()
            if gpu is None:
                return
            head = (q0 or q1)[0]
            if head.model is not None and not gpu.server.has_room(head.model):
                return  # a model with a larger KV cache: it waits for room on the least loaded GPU
            self._start((q0 or q1).popleft(), gpu, now)

    def _start(self, job, gpu: _Gpu, now: float) -> None:
        self._advance(gpu, now)
        job.bill_mark = (gpu.e, gpu.c, gpu.g)
        job.vehicle = None
        job.run_event = None
        job.start_s = now
        if job.first_start_s < 0.0:
            job.first_start_s = now
        self._on_gpu[job.job_id] = (job, gpu)
        gpu.server.admit(job, now)
        self._update(gpu)

    def _on_done(self, gpu: _Gpu, job, now: float) -> None:
        self._advance(gpu, now)
        self._bill(gpu, job)
        del self._on_gpu[job.job_id]
        self._update(gpu)
        job.finish_s = now
        steps = job.output_tokens - job.output_done - 1  # decode steps here after the first token
        if steps > 0:
            job.tpot_s = (now - job.first_token_s) / steps
            self.tpot_s.append(job.tpot_s)
        self.ttft_s.append(job.first_token_s - job.arrival_s)
        self.completed += 1
        self.tokens_served += job.prompt_tokens + job.output_tokens - job.output_done
        self.log.append(job)
        self._dispatch(now)

    def close(self, now: float) -> None:
        """Log the jobs still queued or running at the end (their finish time stays -1), bill the
        running ones up to ``now`` and settle the GPUs' statistics."""
        for q in self.queues:
            for job in q:
                self.log.append(job)
        for gpu in self.gpus:
            self._advance(gpu, now)
            gpu.server.settle(now)
        for job, gpu in self._on_gpu.values():
            job.run_event = None
            self._bill(gpu, job)
            self.log.append(job)

    # ------------------------------------------------------------------ GPUs
    def _pick(self) -> _Gpu | None:
        """The GPU with room holding the fewest jobs (a new one if none is idle and one is left), or None."""
        buckets = self._buckets
        lo = self._lo
        while lo < len(buckets) and not buckets[lo]:
            lo += 1
        self._lo = lo
        if lo < len(buckets) and (lo == 0 or len(self.gpus) == self.spec.servers):
            return buckets[lo][-1]
        if len(self.gpus) < self.spec.servers:
            return self._open()
        return None

    def _open(self) -> _Gpu:
        """A new GPU, idle, filed under load 0."""
        gpu = _Gpu(self.env.now)

        def done(job, now: float) -> None:  # a job finished
            self._on_done(gpu, job, now)

        def power(now: float) -> None:  # the chip's power changed with the same jobs
            self._advance(gpu, now)
            self._update(gpu)

        gpu.server = BatchServer(self.env, self.chip, self.model, self.model.context_tokens, done, power,
                                 resident=self.resident)
        self.gpus.append(gpu)
        self._file(gpu)
        return gpu

    def _file(self, gpu: _Gpu) -> None:
        """File ``gpu`` under its load if it has room, else take it out of the index."""
        server = gpu.server
        key = server.jobs_held if server.has_room() else -1
        old = gpu.bucket
        if key == old:
            return
        buckets = self._buckets
        if old >= 0:  # swap-remove
            bucket = buckets[old]
            last = bucket.pop()
            if last is not gpu:
                bucket[gpu.pos] = last
                last.pos = gpu.pos
        gpu.bucket = key
        if key < 0:
            gpu.pos = -1
            return
        if key >= len(buckets):
            buckets.extend([] for _ in range(key + 1 - len(buckets)))
        bucket = buckets[key]
        gpu.pos = len(bucket)
        bucket.append(gpu)
        if key < self._lo:
            self._lo = key

    def _advance(self, gpu: _Gpu, now: float) -> None:
        """Bill ``gpu``'s facility power since its last change to the pool and, in equal shares, to
        its jobs' accumulators."""
        t0 = gpu.t
        gpu.t = now
        if now <= t0 or not gpu.n:
            return
        w = gpu.w * self._pue
        dt = now - t0
        dp, dc = self._table.between(t0, now)
        self.energy_ws += w * dt
        self.cost_ws += w * dp
        self.co2_ws += w * dc
        k = w / gpu.n
        gpu.e += k * dt
        gpu.c += k * dp
        gpu.g += k * dc

    def _update(self, gpu: _Gpu) -> None:
        """Read ``gpu``'s load and power from its server after a change; re-file it."""
        server = gpu.server
        n = server.jobs_held
        gpu.n = n
        gpu.w = server.chip.idle_w + server.active_w if n else 0.0
        self._file(gpu)

    def _bill(self, gpu: _Gpu, job) -> None:
        e0, c0, g0 = job.bill_mark
        self.bills[job.job_id] = ((gpu.e - e0) / _WS_PER_KWH, (gpu.c - c0) / _WS_PER_KWH,
                                  (gpu.g - g0) / _WS_PER_KWH)

    # ------------------------------------------------------------------ totals
    @property
    def queued(self) -> int:
        """Jobs waiting for a GPU with room."""
        return len(self.queues[0]) + len(self.queues[1])

    @property
    def running(self) -> int:
        """Jobs on GPUs."""
        return len(self._on_gpu)

    def summary(self) -> dict[str, Any]:
        """The pool's totals for ``summary.json`` (statistics settled by :meth:`close`)."""
        servers = [gpu.server for gpu in self.gpus]
        busy_s = sum(s.busy_s for s in servers)
        tokens_out = sum(s.tokens_out for s in servers)
        chip_ws = sum(s.chip_ws for s in servers)
        return {
            "servers": self.spec.servers,
            "chip": self.spec.chip,
            "model": self.spec.model,
            "max_batch": self.spec.max_batch,
            "pue": self.spec.pue,
            "gpus_used": len(self.gpus),
            "jobs_received": self.received,
            "jobs_completed": self.completed,
            "tokens_received": self.tokens_received,
            "tokens_served": self.tokens_served,
            "busy_gpu_hours": busy_s / 3600.0,
            "mean_batch": sum(s.batch_s for s in servers) / busy_s if busy_s > 0 else None,
            "chip_j_per_output_token": chip_ws / tokens_out if tokens_out else None,
            "energy_kwh": self.energy_ws / _WS_PER_KWH,
            "cost_usd": self.cost_ws / _WS_PER_KWH,
            "co2_kg": self.co2_ws / _WS_PER_KWH / 1000.0,
        }
