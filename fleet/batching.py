"""Continuous batching on one chip: prefill first, decode shared by the whole batch.

The schedule is vLLM's without chunked prefill: a job admitted to the chip waits for the prefills
ahead of it (first in, first out), and while a prefill runs the decoding sequences pause. The
prefill step produces the job's first token; each decode step then gives every decoding sequence
one more token. Step times and power come from :mod:`fleet.roofline`.

Between two batch changes every decoding sequence advances at the same rate, so the server keeps
one *virtual step count* ``V`` (decode steps done since the start) and each decoding job the
``V`` at which it finishes, in a heap. A change costs O(log batch), there is one pending event per
chip (the next prefill end or the next decode finish; an event a later change supersedes is
ignored when it comes), and never one per token.

The KV read of a decoding job is taken at its mean over the job's decode (:func:`held_tokens`: its
prompt, any output kept from an earlier run, and half the output still to make), so that a step's
time stays constant between changes. Memory is counted the same way (a paged KV cache grows with
the output), and the chip takes another job only while the KV cache of a request of
``context_tokens`` still fits beside them (:meth:`BatchServer.has_room`). An H100 kept full with
the ML.ENERGY output lengths, 200-token prompts and a 4,352-token context limit at a batch limit of
768 holds 739 sequences on average; vLLM held 691 there.

Several models (a job's ``model``; None: the server's own ``model``) share a chip: the chip holds
their weights (:attr:`BatchServer.ready_s`, resident or loading) beside the KV cache, a job's
prefill is its own model's, and one decode round advances every decoding job of every model: it
reads the weights of each model with a decoding job plus their KV cache and does their FLOPs, and
takes the roofline of those totals. A model is loaded (:meth:`BatchServer.load`) by evicting the
least recently used models that hold no job; the jobs that wait for a load are held (memory and
batch reserved, :meth:`BatchServer.hold`) and admitted when it ends (:meth:`BatchServer.admit_loaded`).
Memory is counted in tokens of the server's own model's KV cache (another model's bytes converted).
"""
from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from heapq import heappop, heappush

from fleet import roofline
from fleet.chip import ChipSpec
from fleet.llm import ModelSpec

#: a decode finish within this many steps of the virtual count is due (float round-off)
_STEP_TOL = 1e-9
#: :func:`fleet.roofline.prefill` (time s, chip power W) by prompt tokens, per (chip, model): a
#: pure function of its arguments, shared by the servers of one chip and model
_PREFILLS: dict[tuple[ChipSpec, ModelSpec], dict] = {}


def held_tokens(job) -> float:
    """Tokens of KV cache ``job`` holds on the chip, at their mean over its decode: its prompt, the
    output it kept from earlier runs and half the output still to make."""
    return job.prompt_tokens + job.output_done + (job.output_tokens - job.output_done) / 2.0


class BatchServer:
    """The serving state of one chip (see the module docstring).

    ``on_done(job, now)`` is called for each finished job after the server has removed it;
    ``on_power(now)`` after the chip's power changed without a job arriving or leaving (a prefill
    ended). ``active_w`` is the chip's power above idle now (W).
    """

    __slots__ = ("env", "chip", "model", "on_done", "on_power", "context_tokens", "kv_capacity",
                 "kv_reserved", "jobs_held", "prefills", "prefill_end", "prefill_start", "prefill_w",
                 "decoding", "heap", "kv_read", "v", "v_t", "rate", "decode_w", "active_w", "pending",
                 "pending_t", "_callbacks", "_seq", "busy_s", "batch_s", "chip_ws", "tokens_out", "visits",
                 "_mem0", "_mem_per_kv", "_comp_per_seq", "_prefill_of", "_idle_w",
                 "ready_s", "held", "used_s", "weights_b", "waiting", "own_held", "_terms",
                 "other_decoding", "other_mem_s", "other_comp_s", "other_models")

    def __init__(self, env, chip: ChipSpec, model: ModelSpec, context_tokens: int,
                 on_done: Callable, on_power: Callable, resident: tuple[ModelSpec, ...] | None = None) -> None:
        self.env = env
        self.chip = chip
        self.model = model
        self.on_done = on_done
        self.on_power = on_power
        self.context_tokens = context_tokens
        self.kv_reserved = 0.0  # KV tokens held (in the server's own model's bytes per token)
        self.jobs_held = 0  # prefilling, waiting to prefill and decoding
        self.prefills: deque = deque()  # jobs waiting for or in prefill; the head runs
        self.prefill_end = math.inf
        self.prefill_start = 0.0
        self.prefill_w = 0.0  # chip power during the running prefill (W)
        self.decoding = 0
        self.heap: list = []  # (finish V, tie, job)
        self.kv_read = 0.0  # KV tokens read per decode step
        self.v = 0.0  # decode steps done (virtual count) at v_t
        self.v_t = 0.0
        self.rate = 0.0  # decode steps per second now (0 while a prefill runs or nothing decodes)
        self.decode_w = 0.0  # chip power while decoding the current batch (W)
        self.active_w = 0.0
        self.pending = None
        self.pending_t = math.inf
        self._callbacks = [self._on_event]
        # a decode step's memory time is _mem0 + _mem_per_kv * KV tokens, its compute time
        # _comp_per_seq * sequences (s): fleet.roofline's terms, precomputed
        self._mem0 = roofline.memory_s(chip, model, 0.0)
        self._mem_per_kv = roofline.memory_s(chip, model, 1.0) - self._mem0
        self._comp_per_seq = roofline.compute_s(chip, model, 1.0)
        self._prefill_of = _PREFILLS.setdefault((chip, model), {})
        self._idle_w = chip.idle_w  # W
        self._seq = 0
        # the models in memory: each one's time its weights are (or will be) ready (s), jobs held and
        # last admission (s); the jobs waiting for a load; the memory left for KV cache (tokens)
        self.ready_s: dict[ModelSpec, float] = {}
        self.held: dict[ModelSpec, int] = {}
        self.used_s: dict[ModelSpec, float] = {}
        self.weights_b = 0.0
        self.own_held = False  # whether the server's own model is in memory
        self.waiting: list = []
        self.kv_capacity = 0.0
        for m in (model,) if resident is None else resident:
            self._place(m, 0.0)
        # other models' jobs decoding: per model, and their weights' and KV's memory time and their
        # compute time per decode step (s); per model its step terms (see _terms_of)
        self.other_decoding: dict[ModelSpec, int] = {}
        self.other_models = 0
        self.other_mem_s = 0.0
        self.other_comp_s = 0.0
        self._terms: dict[ModelSpec, tuple] = {}
        # statistics: seconds with jobs held, job-seconds, chip energy while holding jobs (W*s),
        # output tokens made (first tokens at prefill ends, the rest as decoded, in flight included),
        # and per batch size [seconds, output tokens, chip W*s] while decoding
        self.busy_s = 0.0
        self.batch_s = 0.0
        self.chip_ws = 0.0
        self.tokens_out = 0.0
        self.visits: dict[int, list[float]] = {}

    # ------------------------------------------------------------------ queries
    def has_room(self, model: ModelSpec | None = None) -> bool:
        """Whether the chip takes another job of ``model`` (None: its own): below its largest batch,
        with KV memory for the largest request, after loading the model if it is not in memory (by
        evicting models that hold no job)."""
        if self.jobs_held >= self.chip.max_batch:
            return False
        if model is None and self.own_held and self.kv_reserved + self.context_tokens <= self.kv_capacity:
            return True
        return self._room_for(model or self.model, self.env.now)

    def prefill_s(self, job) -> float:
        """Seconds ``job``'s prefill takes on this chip (its prompt and any output kept from earlier)."""
        return self._prefill_step(job)[0]

    def decoded(self, job, now: float) -> int:
        """Output tokens ``job`` has produced in its current run on this chip by ``now``."""
        if job.batch_v < 0.0:
            return 0
        v = self.v + (now - self.v_t) * self.rate
        return 1 + min(int(v - (job.batch_v - job.batch_steps) + _STEP_TOL), job.batch_steps)

    # ------------------------------------------------------------------ changes
    def admit(self, job, now: float) -> None:
        """Take ``job`` at ``now`` (its model in memory, room checked by :meth:`has_room`): it
        queues for its prefill."""
        self._advance(now)
        if len(self.ready_s) > 1:
            self._make_room(job.model or self.model, now)
        self._reserve(job, now)
        job.batch_v = -1.0
        self._queue_prefill(job, now)

    def load(self, model: ModelSpec, now: float, seconds: float) -> float:
        """Start loading ``model`` at ``now`` for ``seconds``, evicting the least recently used models
        that hold no job until it and a request's KV cache fit; return when it is ready (s).
        The caller checked :meth:`has_room` for it."""
        self._make_room(model, now)
        ready = now + seconds
        self._place(model, ready)
        return ready

    def hold(self, job, now: float) -> None:
        """Take ``job`` at ``now`` to wait for its model's load (its memory and batch place reserved)."""
        self._advance(now)
        if len(self.ready_s) > 1:
            self._make_room(job.model or self.model, now)
        self._reserve(job, now)
        job.batch_v = -1.0
        self.waiting.append(job)

    def admit_loaded(self, job, now: float) -> None:
        """``job``'s model is loaded at ``now``: it queues for its prefill."""
        self._advance(now)
        self.waiting.remove(job)
        self._queue_prefill(job, now)

    def power_down(self) -> None:
        """The chip leaves serving (the car drives or sleeps) holding no job: its memory is lost."""
        for m in list(self.ready_s):
            self._drop(m)

    def evict_all(self, now: float) -> list:
        """Remove every job at ``now`` (the car leaves or stops serving); return them, each with
        ``batch_tokens`` set to the output tokens it produced here. Loads under way stop (their
        models leave memory)."""
        self._advance(now)
        out = []
        for job in self.waiting:
            job.batch_tokens = 0
            job.batch_prefilled = 0
            out.append(job)
        self.waiting.clear()
        for m in [m for m, t in self.ready_s.items() if t > now]:
            self._drop(m)
        for m in self.held:
            self.held[m] = 0
        for i, job in enumerate(self.prefills):
            job.batch_tokens = 0
            job.batch_prefilled = 0
            if i == 0 and self.prefill_end > self.prefill_start:  # the running prefill, partly done
                share = (now - self.prefill_start) / (self.prefill_end - self.prefill_start)
                job.batch_prefilled = int(job.prompt_tokens * min(share, 1.0))
            out.append(job)
        for _, _, job in self.heap:
            job.batch_tokens = self.decoded(job, now)
            job.batch_prefilled = job.prompt_tokens
            out.append(job)
        self.prefills.clear()
        self.heap.clear()
        self.decoding = 0
        self._clear_others()
        self.jobs_held = 0
        self.kv_reserved = 0.0
        self.kv_read = 0.0
        self.prefill_end = math.inf
        self._refresh()
        self.pending = None
        self.pending_t = math.inf
        return out

    def settle(self, now: float) -> None:
        """Bring the statistics up to ``now`` (the end of the run)."""
        self._advance(now)

    # ------------------------------------------------------------------ memory
    def _kv_tokens(self, job) -> float:
        """KV tokens ``job`` holds, in the server's own model's bytes per token."""
        m = job.model
        if m is None or m is self.model:
            return held_tokens(job)
        return held_tokens(job) * m.kv_bytes_per_token / self.model.kv_bytes_per_token

    def _reserve(self, job, now: float) -> None:
        """Count ``job`` as held: its batch place, KV memory and model."""
        self.jobs_held += 1
        self.kv_reserved += self._kv_tokens(job)
        m = job.model or self.model
        self.held[m] += 1
        self.used_s[m] = now

    def _room_for(self, model: ModelSpec, now: float, evict: bool = True) -> bool:
        """Whether a request of ``model`` fits memory now, with its weights if it is not in memory;
        with ``evict``, after evicting every other model that holds no job."""
        own_kv = self.model.kv_bytes_per_token
        need = model.context_tokens * model.kv_bytes_per_token / own_kv
        if model not in self.ready_s:
            need += model.weight_bytes / own_kv
        free = self.kv_capacity - self.kv_reserved
        if need <= free or not evict:
            return need <= free
        return need <= free + sum(m.weight_bytes for m in self._idle(model, now)) / own_kv

    def _idle(self, keep: ModelSpec, now: float) -> list[ModelSpec]:
        """The models in memory other than ``keep`` that hold no job and are not loading, least
        recently used first."""
        return sorted((m for m, n in self.held.items() if not n and m is not keep and self.ready_s[m] <= now),
                      key=self.used_s.get)

    def _make_room(self, model: ModelSpec, now: float) -> None:
        """Evict idle models, least recently used first, until a request of ``model`` fits."""
        for m in self._idle(model, now):
            if self._room_for(model, now, evict=False):
                return
            self._drop(m)

    def _place(self, model: ModelSpec, ready_s: float) -> None:
        """Put ``model``'s weights in memory, ready at ``ready_s``."""
        self.ready_s[model] = ready_s
        self.held.setdefault(model, 0)
        self.used_s.setdefault(model, ready_s)
        self.weights_b += model.weight_bytes
        self._set_capacity()

    def _drop(self, model: ModelSpec) -> None:
        """Take ``model``'s weights out of memory (it holds no job)."""
        del self.ready_s[model], self.held[model], self.used_s[model]
        self.weights_b -= model.weight_bytes
        self._set_capacity()

    def _set_capacity(self) -> None:
        """Re-derive the KV tokens memory holds beside the weights in memory."""
        chip, model = self.chip, self.model
        if len(self.ready_s) == 1 and model in self.ready_s:  # :func:`fleet.roofline.kv_capacity_tokens` exactly
            self.kv_capacity = roofline.kv_capacity_tokens(chip, model)
        else:
            self.kv_capacity = ((chip.memory_gb * 1e9 * chip.memory_share - (self.weights_b if self.ready_s else 0.0))
                                / model.kv_bytes_per_token)
        self.own_held = model in self.ready_s

    # ------------------------------------------------------------------ other models' decode terms
    def _terms_of(self, model: ModelSpec) -> tuple[float, float, float]:
        """(weights' memory time, memory time per KV token, compute time per sequence) of a decode
        step of ``model`` on this chip (s)."""
        terms = self._terms.get(model)
        if terms is None:
            mem0 = roofline.memory_s(self.chip, model, 0.0)
            terms = self._terms[model] = (mem0, roofline.memory_s(self.chip, model, 1.0) - mem0,
                                          roofline.compute_s(self.chip, model, 1.0))
        return terms

    def _join_other(self, job, sign: int) -> None:
        """Add (``sign`` 1) or remove (-1) decoding ``job`` of another model to the step's terms."""
        m = job.model
        mem0, per_kv, comp = self._terms_of(m)
        n = self.other_decoding.get(m, 0) + sign
        self.other_decoding[m] = n
        self.other_models += sign
        if (sign > 0 and n == 1) or (sign < 0 and n == 0):  # the step now reads (or no longer) its weights
            self.other_mem_s += sign * mem0
        self.other_mem_s += sign * per_kv * held_tokens(job)
        self.other_comp_s += sign * comp
        if not self.other_models:
            self._clear_others()

    def _clear_others(self) -> None:
        self.other_decoding.clear()
        self.other_models = 0
        self.other_mem_s = 0.0
        self.other_comp_s = 0.0

    # ------------------------------------------------------------------ internals
    def _advance(self, now: float) -> None:
        """Move the virtual count and the statistics to ``now``."""
        dt = now - self.v_t
        if dt > 0.0:
            held = self.jobs_held
            if held:
                ws = (self._idle_w + self.active_w) * dt
                self.busy_s += dt
                self.batch_s += held * dt
                self.chip_ws += ws
                rate = self.rate
                if rate > 0.0:
                    steps = dt * rate
                    self.v += steps
                    decoding = self.decoding
                    visit = self.visits.get(decoding)
                    if visit is None:
                        visit = self.visits[decoding] = [0.0, 0.0, 0.0]
                    visit[0] += dt
                    tokens = steps * decoding
                    self.tokens_out += tokens
                    visit[1] += tokens
                    visit[2] += ws
        self.v_t = now

    def _prefill_step(self, job) -> tuple[float, float]:
        """(s, W) of ``job``'s prefill: its prompt, and the output a resumed batch job kept (its KV
        cache is gone), cached per token count."""
        tokens = job.prompt_tokens + job.output_done
        m = job.model
        cache = self._prefill_of if m is None or m is self.model else _PREFILLS.setdefault((self.chip, m), {})
        tw = cache.get(tokens)
        if tw is None:
            tw = cache[tokens] = roofline.prefill(self.chip, m or self.model, tokens)
        return tw

    def _queue_prefill(self, job, now: float) -> None:
        """``job`` (held) joins the prefill queue at ``now``; it starts at once if the queue was empty."""
        self.prefills.append(job)
        if len(self.prefills) == 1:
            self._start_prefill(now)
        self._refresh()
        self._schedule(now)

    def _start_prefill(self, now: float) -> None:
        t, w = self._prefill_step(self.prefills[0])
        self.prefill_start = now
        self.prefill_end = now + t
        self.prefill_w = w

    def _refresh(self) -> None:
        """Re-derive the decode rate and the chip's power from the batch (:func:`fleet.roofline.decode_step`,
        inlined). While a prefill runs the decode pauses, and its step is derived when it resumes."""
        if self.prefills:
            self.rate = 0.0
            self.active_w = self.prefill_w - self._idle_w
        elif self.decoding:
            chip = self.chip
            own = self.decoding - self.other_models
            mem = self._mem0 + self._mem_per_kv * self.kv_read
            comp = self._comp_per_seq * own
            if self.other_models:  # other models' jobs decode in the same round
                if not own:
                    mem = 0.0
                mem += self.other_mem_s
                comp += self.other_comp_s
            p = chip.overlap
            big = mem if mem > comp else comp
            t = big * ((mem / big) ** p + (comp / big) ** p) ** (1.0 / p)
            self.decode_w = chip.idle_w + (chip.active_w - chip.idle_w) * (comp / t) ** chip.power_exponent
            self.rate = 1.0 / t
            self.active_w = self.decode_w - chip.idle_w
        else:
            self.decode_w = self._idle_w
            self.rate = 0.0
            self.active_w = 0.0

    def _schedule(self, now: float) -> None:
        """Make the pending event the next prefill end or decode finish (kept if it already is)."""
        if self.prefills:
            t = self.prefill_end
        elif self.heap:
            t = self.v_t + (self.heap[0][0] - self.v) / self.rate
            if t < now:
                t = now
        else:
            self.pending = None
            self.pending_t = math.inf
            return
        if self.pending is not None and t == self.pending_t:
            return
        self.pending_t = t
        self.pending = self.env.call_at(t, self._callbacks)

    def _on_event(self, ev) -> None:
        if ev is not self.pending:
            return  # superseded by a later change
        self.pending = None
        now = self.env.now
        self._advance(now)
        power_changed = False
        if self.prefills and now >= self.prefill_end:
            job = self.prefills.popleft()
            job.first_token_s = now
            steps = job.output_tokens - job.output_done - 1
            self.tokens_out += 1
            power_changed = True
            if steps > 0:
                job.batch_steps = steps
                job.batch_v = self.v + steps
                self._seq += 1
                heappush(self.heap, (job.batch_v, self._seq, job))
                self.decoding += 1
                if job.model is None or job.model is self.model:
                    self.kv_read += held_tokens(job)
                else:
                    self._join_other(job, 1)
                done = ()
            else:
                job.batch_steps = 0
                job.batch_v = self.v
                done = (job,)
            if self.prefills:
                self._start_prefill(now)
            else:
                self.prefill_end = math.inf
        else:
            done = []
            heap = self.heap
            due = self.v + _STEP_TOL * max(1.0, self.v)
            rate = self.rate
            # due by the step count, or so close that its time rounds to now (late in a long run a
            # time's round-off is worth more steps than the tolerance: progress must not stall)
            while heap and (heap[0][0] <= due or (rate > 0.0 and now + (heap[0][0] - self.v) / rate <= now)):
                target, _, job = heappop(heap)
                if target > self.v:
                    self.v = target
                self.decoding -= 1
                if job.model is None or job.model is self.model:
                    self.kv_read -= held_tokens(job)
                else:
                    self._join_other(job, -1)
                done.append(job)
            if not self.decoding:
                self.kv_read = 0.0
        for job in done:
            self.jobs_held -= 1
            self.kv_reserved -= self._kv_tokens(job)
            self.held[job.model or self.model] -= 1
        if not self.jobs_held:
            self.kv_reserved = 0.0
        self._refresh()
        self._schedule(now)
        if power_changed and not done:
            self.on_power(now)
        for job in done:
            self.on_done(job, now)
