"""The dispatcher: job queues, a policy, and every job's lifecycle on the fleet.

Arrivals, completions and queue expiries are timed callbacks (jobs are never processes).
Interactive jobs go before batch jobs; within a class the order is FIFO or EDF
(``dispatch.queue_order``). Two queueing disciplines (``dispatch.queueing``):

- ``central``: one queue at the dispatcher. A job starts only on a vehicle with a free slot;
  the policy chooses among those vehicles (an M/G/c system when vehicles stay put).
- ``vehicle``: the policy sends each job to an online vehicle on arrival, where it waits in the
  vehicle's own queue if every slot is busy (the supermarket model of the load-balancing
  literature). The central queue holds jobs only while no vehicle is online.

A job still queued ``max_wait_s`` after arrival is dropped, or overflows to the data-center
pool (``dispatch.on_max_wait``). When a vehicle departs or reaches its reserve mid-job, its
jobs are preempted and requeued at the head of the central queue: batch jobs keep the tokens
already decoded (checkpoint) and redo only the prefill; interactive jobs restart, and their
lost tokens and the chip energy spent on them count as waste. Jobs waiting in that vehicle's
own queue go back to the central queue too.

With batched serving a job may need a model other than the fleet's (``workload.<class>.model``):
a chip that does not hold it loads it first (:mod:`fleet.residency`), and the job waits on the
car for the load. A chosen car whose memory cannot take the job's model now is refused: the job
stays queued (central queueing) or waits in that car's own queue (vehicle queueing).

Job books at every instant: arrived = completed + dropped + overflowed + queued + running.
"""
from __future__ import annotations

from fleet import channels as ch
from fleet.channels import AVAILABLE
from fleet.fleetview import FreeSlotIndex
from fleet.joblog import JobLog
from fleet.jobs import BATCH_CLASS, COMPLETED, DROPPED, OVERFLOW, QUEUED, RUNNING, Job
from fleet.mobility import HOME
from fleet.network import lognormal
from fleet.policies import DispatchPolicy
from fleet.queues import FIFO, JobQueue
from fleet.residency import DOWNLOADED, FROM_STORAGE, load_s
from sim.core.errors import FleetsimInputError
from sim.core.timers import call_later

CENTRAL, VEHICLE = "central", "vehicle"
QUEUEINGS = (CENTRAL, VEHICLE)
DROP, OVERFLOW_TO_DC = "drop", "overflow"
ON_MAX_WAIT = (DROP, OVERFLOW_TO_DC)
PREEMPTION_CAUSES = ("departure", "reserve", "outage")


class PolicyError(FleetsimInputError):
    """A dispatch policy broke its contract (a user's policy is input to the simulator)."""


class Dispatcher:
    """Routes jobs to vehicles through a pluggable policy."""

    __slots__ = (
        "env", "rec", "index", "log", "policy", "_updates", "queue", "queue_order", "local", "datacenter",
        "queued", "arrived", "started", "completed", "dropped", "overflowed", "preemptions",
        "preemptions_by_cause", "decisions", "_draining", "tokens_served", "tokens_generated",
        "wasted_tokens", "wasted_wh", "queued_at_end", "running_at_end", "_on_complete_callbacks",
        "links", "network_rng", "storage", "stored", "load_links", "model_loads", "_on_loaded_callbacks",
        "model_refusals",
    )

    def __init__(self, env, rec, index: FreeSlotIndex, log: JobLog, queue_order: str = FIFO,
                 queueing: str = CENTRAL, datacenter=None) -> None:
        if queueing not in QUEUEINGS:
            raise ValueError(f"queueing {queueing!r}; allowed: {', '.join(QUEUEINGS)}")
        self.env = env
        self.rec = rec
        self.index = index
        self.log = log
        self.policy: DispatchPolicy | None = None
        self._updates = False
        self.queue_order = queue_order
        self.queue = JobQueue(queue_order)  # central
        self.local = queueing == VEHICLE
        self.datacenter = datacenter  # None: jobs past their wait limit are dropped
        self.queued = [0, 0]  # per class, central and local queues together
        self.arrived = 0
        self.started = 0
        self.completed = 0
        self.dropped = 0
        self.overflowed = 0
        self.preemptions = 0
        self.preemptions_by_cause: dict[str, int] = dict.fromkeys(PREEMPTION_CAUSES, 0)
        self.decisions = 0
        self._draining = False
        self.tokens_served = 0
        self.tokens_generated = 0
        self.wasted_tokens = 0
        self.wasted_wh = 0.0
        self.queued_at_end = 0
        self.running_at_end = 0
        # the callbacks of every job's completion event: one shared list (the loop only reads it)
        self._on_complete_callbacks = [self._on_complete]
        # the cars' links (home, away; fleet.network) and the draws of their round trips; None: no network
        self.links = None
        self.network_rng = None
        # model loads (batched serving): the cars' storage, the models they store, their links for
        # downloads (home, away), and per source [loads, seconds, Wh of the car awake while loading]
        self.storage = None
        self.stored: frozenset = frozenset()
        self.load_links = None
        self.model_loads = {FROM_STORAGE: [0, 0.0, 0.0], DOWNLOADED: [0, 0.0, 0.0]}
        self.model_refusals = 0  # choices of a car whose memory could not take the job's model then
        self._on_loaded_callbacks = [self._on_loaded]

    @property
    def running(self) -> int:
        """Jobs running on vehicles now: every start ends in a completion or a preemption."""
        return self.started - self.completed - self.preemptions

    def job_totals(self) -> tuple:
        """Running totals in the order of ``channels.JOB_COUNTERS``."""
        cause = self.preemptions_by_cause
        return (self.arrived, self.started, self.completed, self.dropped, self.overflowed, self.preemptions,
                cause["departure"], cause["reserve"], cause["outage"])

    def set_policy(self, policy: DispatchPolicy) -> None:
        """Install the policy (built by the runner with a :class:`FleetView`)."""
        self.policy = policy
        self._updates = policy.wants_updates

    # ------------------------------------------------------------------ arrivals
    def submit(self, job: Job) -> None:
        """A job arrives now."""
        self.arrived += 1
        queue = self.queue
        if self.index.size and not (queue.counts[0] or (job.job_class == BATCH_CLASS and queue.counts[1])):
            self.decisions += 1
            v = self.policy.select(job)
            if v is not None:
                if self.local or getattr(v, "bucket", -1) < 0:
                    self._assign(job, v)  # vehicle queueing, or a choice _assign rejects
                    return
                if job.model is None or not self._misfit(job, v):
                    self._start(job, v)
                    return
        self._enqueue(job, queue, front=False)

    def _misfit(self, job: Job, v) -> bool:
        """Whether ``v``'s chip cannot take ``job`` (a model of its own, batched serving) now; counted."""
        server = v.server
        if server is None or server.has_room(job.model):
            return False
        self.model_refusals += 1
        return True

    def _assign(self, job: Job, v) -> None:
        """Start ``job`` on ``v``, or (vehicle queueing) queue it there when ``v`` is full."""
        if getattr(v, "bucket", -1) < 0:  # not eligible, or not a vehicle at all
            self._reject(v)
        if self.local and (v.busy >= v.cap or (job.model is not None and self._misfit(job, v))):
            q = v.local
            if q is None:
                q = v.local = JobQueue(self.queue_order, owner=v)
            self._enqueue(job, q, front=False)
            self._reindex(v)
        else:
            self._start(job, v)

    def _reject(self, v) -> None:
        what = "is offline" if self.local else "has no free slot"
        raise PolicyError(
            f"dispatch.policy: policy '{self.policy.name or type(self.policy).__name__}' chose vehicle "
            f"{getattr(v, 'vid', v)!r}, which {what}; select() must return an eligible vehicle from the view "
            "or None")

    def _enqueue(self, job: Job, queue: JobQueue, front: bool) -> None:
        now = self.env.now
        left = job.arrival_s + job.max_wait_s - now
        c = job.job_class
        job.state = QUEUED
        queue.push(job, front)
        self.queued[c] += 1
        self.rec.add(ch.Q_INTERACTIVE + c, 1, now)
        if left <= 0.0:
            self._give_up(job)
            return
        job.expiry_event = call_later(self.env, left, self._on_expiry, job)

    def _on_expiry(self, ev) -> None:
        job = ev.value
        if job.state == QUEUED and job.expiry_event is ev:
            self._give_up(job)

    def _unqueue(self, job: Job) -> None:
        """Book-keeping of a job leaving a queue (popped, dropped or overflowed)."""
        c = job.job_class
        self.queued[c] -= 1
        self.rec.add(ch.Q_INTERACTIVE + c, -1, self.env.now)
        job.expiry_event = None

    def _give_up(self, job: Job) -> None:
        """The job waited past its limit: drop it or send it to the data center."""
        queue = job.queue
        queue.discard(job)
        self._unqueue(job)
        if self.datacenter is not None:
            job.state = OVERFLOW
            self.overflowed += 1
            self.datacenter.submit(job)
        else:
            job.state = DROPPED
            job.finish_s = self.env.now
            self.dropped += 1
            self.log.append(job)
        if queue.owner is not None:
            self._reindex(queue.owner)

    def _drain(self) -> None:
        """Assign centrally queued jobs while vehicles are available and the policy agrees."""
        index, queue = self.index, self.queue
        self._draining = True
        try:
            while index.size and len(queue):
                job = queue.peek()
                self.decisions += 1
                v = self.policy.select(job)
                if v is None or (job.model is not None and not self.local and getattr(v, "bucket", -1) >= 0
                                 and self._misfit(job, v)):
                    return
                queue.pop()
                self._unqueue(job)
                self._assign(job, v)
        finally:
            self._draining = False

    # ------------------------------------------------------------------ service
    def _start(self, job: Job, v) -> None:
        env = self.env
        now = env.now
        if v.server is not None:  # batched serving: the chip's server times the job
            self._start_batched(job, v, now)
            return
        if job.service_left_s is not None:
            service = job.service_left_s
            job.prefill_s = 0.0
        else:
            chip = v.spec.chip
            job.prefill_s = prefill = job.prompt_tokens / chip.prefill_tokens_per_s
            service = prefill + (job.output_tokens - job.output_done) / chip.decode_tokens_per_s
        job.state = RUNNING
        job.vehicle = v
        job.start_s = job.bill_s = now
        job.end_s = now + service
        if job.first_start_s < 0.0:
            job.first_start_s = now
        self.started += 1
        v.change_slots(job, now, 1)
        job.run_event = env.call_at(now + service, self._on_complete_callbacks, job)
        if self.local:
            self._reindex(v)
        else:  # _reindex, inlined: the vehicle lost a free slot
            busy = v.busy
            self.index.update(v, busy if busy < v.cap else -1)
            if self._updates:
                self.policy.on_vehicle_changed(v)

    def _start_batched(self, job: Job, v, now: float) -> None:
        """:meth:`_start` on a chip with batched serving (:mod:`fleet.batching`)."""
        job.prefill_s = 0.0
        job.state = RUNNING
        job.vehicle = v
        job.start_s = job.bill_s = now
        # what policies read of its end (FleetView.work_anchor_s): an estimate at the chip's slot rates,
        # which batched serving derives from the roofline at the batch limit; the server knows the end
        job.end_s = now + v.spec.chip.service_s(job.prompt_tokens, job.output_tokens - job.output_done)
        if job.first_start_s < 0.0:
            job.first_start_s = now
        self.started += 1
        server = v.server
        model = job.model or server.model
        ready = server.ready_s.get(model)
        if ready is None:
            ready = self._load(v, model, now)
        if ready > now:  # the job waits on the car for its model
            server.hold(job, now)
            job.run_event = self.env.call_at(ready, self._on_loaded_callbacks, job)
            job.load_s = ready - now
        else:
            job.run_event = None
            job.load_s = 0.0
            server.admit(job, now)
        v.change_slots(job, now, 1)
        self._reindex(v)

    def _load(self, v, model, now: float) -> float:
        """Start loading ``model`` on ``v``'s chip: from its storage if stored there, else over its
        current link; count it; return when it is ready (s)."""
        link = self.load_links[0 if v.place == HOME else 1]
        seconds, source = load_s(model, self.storage, model in self.stored, link)
        book = self.model_loads[source]
        book[0] += 1
        book[1] += seconds
        book[2] += seconds * (v.spec.chip.idle_w + v.spec.awake_overhead_w) * v.weight / 3600.0
        return v.server.load(model, now, seconds)

    def _on_loaded(self, ev) -> None:
        job = ev.value
        if job.run_event is not ev:
            return  # preempted while its model loaded
        job.run_event = None
        v = job.vehicle
        now = self.env.now
        v.server.admit_loaded(job, now)
        v.chip_power_changed(now)

    def _on_complete(self, ev) -> None:
        job = ev.value
        if job.run_event is not ev:
            return  # preempted earlier
        job.first_token_s = job.start_s + job.prefill_s
        self.complete(job, self.env.now)

    def complete(self, job: Job, now: float) -> None:
        """``job`` finished on its vehicle at ``now``."""
        v = job.vehicle
        job.state = COMPLETED
        steps = job.output_tokens - job.output_done - 1  # decode steps of this run after the first token
        if steps > 0:
            job.tpot_s = (now - job.first_token_s) / steps
        links = self.links
        if links is not None:  # the car's link adds its round trip, the prompt down and the answer up
            link = links[0 if v.place == HOME else 1]
            rtt = lognormal(self.network_rng, link.rtt_s, link.rtt_sigma)
            job.network_s = link.delay_s(rtt, job.prompt_tokens, job.output_tokens)
            job.first_token_s += link.delay_s(rtt, job.prompt_tokens, 0)
        job.finish_s = now
        job.run_event = None
        self.completed += 1
        out = job.output_tokens
        tokens = job.prompt_tokens + out
        self.tokens_served += tokens
        self.tokens_generated += out
        v.jobs_done += 1
        v.tokens_done += tokens
        v.bill_job(job, now)
        self.log.append(job)
        v.change_slots(job, now, -1)
        q = v.local
        if q is not None and len(q):  # vehicle queueing: the jobs waiting here start while the chip has room
            started = False
            while len(q) and v.busy < v.cap:
                nxt = q.peek()
                if nxt.model is not None and not v.server.has_room(nxt.model):
                    break  # it waits here for room for its model (counted when it was queued here)
                q.pop()
                self._unqueue(nxt)
                self._start(nxt, v)
                started = True
            if started:
                return
        if self.local or v.state < AVAILABLE:
            self.vehicle_changed(v)
            return
        # vehicle_changed, inlined for central queueing: an online vehicle gained a free slot
        busy = v.busy
        self.index.update(v, busy if busy < v.cap else -1)
        if self._updates:
            self.policy.on_vehicle_changed(v)
        counts = self.queue.counts
        if (counts[0] or counts[1]) and not self._draining:
            self._drain()

    def preempt_all(self, v, now: float, cause: str) -> None:
        """Preempt every job on ``v`` (it departs or hit its reserve) and requeue them centrally.

        The caller updates ``v``'s state and then calls :meth:`vehicle_changed`, which re-dispatches.
        """
        chip = v.spec.chip
        marginal_w = (chip.active_w - chip.idle_w) / chip.slots
        queue = self.queue
        if v.local is not None and len(v.local):
            waiting = v.local.take_all()
            for job in reversed(waiting):  # to the central head, keeping their order
                self._move_to_front(job, queue)
        if v.server is not None:
            self._preempt_batched(v, now, cause)
            return
        # Requeue at the head, latest arrival first, so the earliest ends up first in line.
        for job in sorted(v.jobs, key=_arrival, reverse=True):
            elapsed = now - job.start_s
            wasted_s = elapsed
            if job.service_left_s is not None:  # fixed service requirement
                if job.job_class == BATCH_CLASS:
                    job.service_left_s -= elapsed
                    wasted_s = 0.0
                else:
                    job.wasted_tokens += job.prompt_tokens + job.output_tokens
                    self.wasted_tokens += job.prompt_tokens + job.output_tokens
            else:
                prefilled = min(job.prompt_tokens, int(elapsed * chip.prefill_tokens_per_s))
                decoded = 0
                if elapsed > job.prefill_s:
                    decoded = min(
                        int((elapsed - job.prefill_s) * chip.decode_tokens_per_s),
                        job.output_tokens - job.output_done,
                    )
                if job.job_class == BATCH_CLASS:  # checkpoint: keep decoded tokens, redo prefill
                    job.output_done += decoded
                    lost = prefilled
                    wasted_s = min(elapsed, job.prefill_s)
                else:
                    lost = prefilled + decoded
                job.wasted_tokens += lost
                self.wasted_tokens += lost
            self.wasted_wh += marginal_w * wasted_s / 3600.0
            job.run_event = None
            self._requeue(job, v, now, cause)

    def _requeue(self, job: Job, v, now: float, cause: str) -> None:
        """Count ``job``'s preemption, bill its run on ``v`` and put it at the head of the central queue."""
        job.preemptions += 1
        self.preemptions += 1
        self.preemptions_by_cause[cause] = self.preemptions_by_cause.get(cause, 0) + 1
        v.preempted += 1
        v.bill_job(job, now)
        v.change_slots(job, now, -1)
        job.vehicle = None  # no car holds it now (a later drop must not name this one)
        self._enqueue(job, self.queue, front=True)

    def _preempt_batched(self, v, now: float, cause: str) -> None:
        """:meth:`preempt_all` on a chip with batched serving: the server reports what each job did.

        A batch job keeps its output tokens and loses its prompt's prefill; an interactive job loses
        both. Waste is the chip's active energy billed to the run: all of it for an interactive job
        or a batch job that made no token, else the prefill's share of the run's time.
        """
        server = v.server
        server.evict_all(now)
        for job in sorted(v.jobs, key=_arrival, reverse=True):
            job.run_event = None  # a pending load's admission
            decoded = job.batch_tokens
            prefilled = job.batch_prefilled
            share = 1.0
            if job.job_class == BATCH_CLASS:
                if decoded and now > job.start_s:
                    share = min(1.0, server.prefill_s(job) / (now - job.start_s))
                job.output_done += decoded
                lost = prefilled
            else:
                lost = prefilled + decoded
            job.wasted_tokens += lost
            self.wasted_tokens += lost
            self.wasted_wh += v.run_active_wh(job, now) * share
            self._requeue(job, v, now, cause)

    def _move_to_front(self, job: Job, queue: JobQueue) -> None:
        """Move a job from a vehicle's own queue to the head of the central queue."""
        job.state = QUEUED
        queue.push(job, front=True)  # its expiry event and queue counts stay as they are

    # ------------------------------------------------------------------ capacity
    def _reindex(self, v) -> None:
        """File ``v`` in the index under its load, and tell a policy that keeps its own index."""
        if v.state >= AVAILABLE:
            if self.local:
                q = v.local
                key = v.busy + (len(q) if q is not None else 0)
            else:
                key = v.busy if v.busy < v.cap else -1
        else:
            key = -1
        self.index.update(v, key)
        if self._updates:
            self.policy.on_vehicle_changed(v)

    def vehicle_changed(self, v) -> None:
        """Re-index ``v`` after its online state or load changed; dispatch waiting jobs."""
        self._reindex(v)
        counts = self.queue.counts
        if self.index.size and not self._draining and (counts[0] or counts[1]):
            self._drain()

    # ------------------------------------------------------------------ end of run
    def close(self, vehicles, now: float) -> None:
        """Record the jobs still queued or running at the end (fleet and data center)."""
        for job in self.queue.jobs():
            self.log.append(job)
        for v in vehicles:
            if v.local is not None:
                for job in v.local.jobs():
                    self.log.append(job)
            for job in v.jobs:
                v.bill_job(job, now)
                self.log.append(job)
            if v.server is not None:
                v.server.settle(now)
        if self.datacenter is not None:
            self.datacenter.close(now)
        self.queued_at_end = self.queued[0] + self.queued[1]
        self.running_at_end = self.running


def _arrival(job: Job) -> float:
    return job.arrival_s
