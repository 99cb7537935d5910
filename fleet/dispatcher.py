"""The dispatcher: a central queue per job class, a policy, and the jobs' lifecycle.

Arrivals, completions and queue expiries are SimPy timeouts with callbacks (jobs are never
processes). Interactive jobs are served before batch jobs; each class queue is FIFO. A job waits
at most its class's ``max_wait_s`` after arrival, then it is dropped and counted. When a vehicle
departs or reaches its reserve mid-job, the job is preempted and requeued at the head of its
queue: batch jobs keep the tokens already decoded, interactive jobs restart and their lost tokens
count as waste.

Job books: arrived = completed + dropped + queued + running, at every instant.
"""
from __future__ import annotations

from collections import deque
from heapq import heappush

from simpy.events import NORMAL

from fleet import channels as ch
from fleet.channels import AVAILABLE
from fleet.fleetview import FreeSlotIndex
from fleet.joblog import JobLog
from fleet.jobs import BATCH_CLASS, COMPLETED, DROPPED, QUEUED, RUNNING, Job
from fleet.policies import DispatchPolicy
from sim.errors import FleetsimInputError
from sim.timers import TimedCall, call_later


class PolicyError(FleetsimInputError):
    """A dispatch policy broke its contract (a user's policy is input to the simulator)."""


class Dispatcher:
    """Routes jobs to vehicles with free slots through a pluggable policy."""

    __slots__ = (
        "env", "rec", "index", "log", "policy", "_updates", "queues", "queued", "running", "arrived",
        "started", "completed", "dropped", "preemptions", "preemptions_by_cause", "decisions",
        "_draining", "tokens_served", "tokens_generated", "queued_at_end", "running_at_end",
    )

    def __init__(self, env, rec, index: FreeSlotIndex, log: JobLog) -> None:
        self.env = env
        self.rec = rec
        self.index = index
        self.log = log
        self.policy: DispatchPolicy | None = None
        self._updates = False
        self.queues = (deque(), deque())  # per job class; may hold dropped entries (lazy removal)
        self.queued = [0, 0]
        self.running = 0
        self.arrived = 0
        self.started = 0
        self.completed = 0
        self.dropped = 0
        self.preemptions = 0
        self.preemptions_by_cause: dict[str, int] = {}
        self.decisions = 0
        self._draining = False
        self.tokens_served = 0
        self.tokens_generated = 0
        self.queued_at_end = 0
        self.running_at_end = 0

    def job_totals(self) -> tuple[int, int, int, int, int]:
        """Running totals in the order of ``channels.JOB_COUNTERS``."""
        return self.arrived, self.started, self.completed, self.dropped, self.preemptions

    def set_policy(self, policy: DispatchPolicy) -> None:
        """Install the policy (built by the runner with a :class:`FleetView`)."""
        self.policy = policy
        self._updates = policy.wants_updates

    # ------------------------------------------------------------------ arrivals
    def submit(self, job: Job) -> None:
        """A job arrives now."""
        self.arrived += 1
        if self.index.size and not (self.queued[0] or (job.job_class == BATCH_CLASS and self.queued[1])):
            self.decisions += 1
            v = self.policy.select(job)
            if v is not None:
                self._start(job, v)
                return
        self._enqueue(job, front=False)

    def _enqueue(self, job: Job, front: bool) -> None:
        now = self.env.now
        job.state = QUEUED
        c = job.job_class
        if front:
            self.queues[c].appendleft(job)
        else:
            self.queues[c].append(job)
        self.queued[c] += 1
        self.rec.add(ch.Q_INTERACTIVE + c, 1, now)
        left = job.arrival_s + job.max_wait_s - now
        if left <= 0.0:
            self._drop(job)
            return
        job.expiry_event = call_later(self.env, left, self._on_expiry, job)

    def _on_expiry(self, ev) -> None:
        job = ev._value
        if job.state == QUEUED and job.expiry_event is ev:
            self._drop(job)

    def _drop(self, job: Job) -> None:
        """Remove a queued job for waiting too long (lazy removal from the deque)."""
        now = self.env.now
        c = job.job_class
        job.state = DROPPED
        job.finish_s = now
        job.expiry_event = None
        self.queued[c] -= 1
        self.rec.add(ch.Q_INTERACTIVE + c, -1, now)
        self.dropped += 1
        self.log.append(job)

    def _pop(self) -> Job | None:
        """Next queued job by priority (interactive first), skipping dropped entries."""
        for c in (0, 1):
            if self.queued[c]:
                q = self.queues[c]
                while q:
                    job = q.popleft()
                    if job.state == QUEUED:
                        self.queued[c] -= 1
                        self.rec.add(ch.Q_INTERACTIVE + c, -1, self.env.now)
                        job.expiry_event = None
                        return job
        return None

    def _peek(self) -> Job | None:
        for c in (0, 1):
            if self.queued[c]:
                q = self.queues[c]
                while q[0].state != QUEUED:
                    q.popleft()
                return q[0]
        return None

    def _drain(self) -> None:
        """Assign queued jobs while vehicles with free slots exist and the policy agrees."""
        index = self.index
        self._draining = True
        try:
            while index.size and (self.queued[0] or self.queued[1]):
                job = self._peek()
                self.decisions += 1
                v = self.policy.select(job)
                if v is None:
                    return
                self._pop()
                self._start(job, v)
        finally:
            self._draining = False

    # ------------------------------------------------------------------ service
    def _start(self, job: Job, v) -> None:
        if getattr(v, "bucket", -1) < 0:
            raise PolicyError(
                f"dispatch.policy: policy '{self.policy.name or type(self.policy).__name__}' chose vehicle "
                f"{getattr(v, 'vid', v)!r}, which has no free slot; select() must return a vehicle with a "
                "free slot (from the view) or None")
        env = self.env
        now = env._now
        if job.service_left_s is not None:
            service = job.service_left_s
            job.prefill_s = 0.0
        else:
            chip = v.spec.chip
            job.prefill_s = prefill = job.prompt_tokens / chip.prefill_tokens_per_s
            service = prefill + (job.output_tokens - job.output_done) / chip.decode_tokens_per_s
        job.state = RUNNING
        job.vehicle = v
        job.start_s = now
        if job.first_start_s < 0.0:
            job.first_start_s = now
        self.running += 1
        self.started += 1
        v.jobs.append(job)
        v._slots_changed(now, 1)
        ev = TimedCall([self._on_complete], job)  # call_later, inlined: the job rides in the event
        heappush(env._queue, (now + service, NORMAL, next(env._eid), ev))  # Environment.schedule
        job.run_event = ev
        # the vehicle lost a free slot: re-file it (nothing new to dispatch)
        busy = v.busy
        self.index.update(v, busy if busy < v.spec.chip.slots else -1)
        if self._updates:
            self.policy.on_vehicle_changed(v)

    def _on_complete(self, ev) -> None:
        job = ev._value
        if job.run_event is not ev:
            return  # preempted earlier
        now = self.env._now
        v = job.vehicle
        job.state = COMPLETED
        job.finish_s = now
        job.run_event = None
        self.running -= 1
        self.completed += 1
        out = job.output_tokens
        tokens = job.prompt_tokens + out
        self.tokens_served += tokens
        self.tokens_generated += out
        v.jobs_done += 1
        v.tokens_done += tokens
        self.log.append(job)
        v.jobs.remove(job)
        v._slots_changed(now, -1)
        self.vehicle_changed(v)

    def preempt_all(self, v, now: float, cause: str) -> None:
        """Preempt every job running on ``v`` (it departs or hit its reserve) and requeue them.

        The caller updates ``v``'s state and then calls :meth:`vehicle_changed`, which re-dispatches.
        """
        chip = v.spec.chip
        # Requeue at the head, latest arrival first, so the earliest ends up first in line.
        for job in sorted(v.jobs, key=_arrival, reverse=True):
            elapsed = now - job.start_s
            if job.service_left_s is not None:  # fixed service requirement
                if job.job_class == BATCH_CLASS:
                    job.service_left_s -= elapsed
                else:
                    job.wasted_tokens += job.prompt_tokens + job.output_tokens
            else:
                decoded = 0
                if elapsed > job.prefill_s:
                    decoded = min(
                        int((elapsed - job.prefill_s) * chip.decode_tokens_per_s),
                        job.output_tokens - job.output_done,
                    )
                if job.job_class == BATCH_CLASS:  # checkpoint: keep decoded tokens, redo prefill
                    job.output_done += decoded
                    job.wasted_tokens += min(job.prompt_tokens, int(elapsed * chip.prefill_tokens_per_s))
                else:
                    job.wasted_tokens += min(job.prompt_tokens, int(elapsed * chip.prefill_tokens_per_s)) + decoded
            job.run_event = None
            job.preemptions += 1
            self.running -= 1
            self.preemptions += 1
            self.preemptions_by_cause[cause] = self.preemptions_by_cause.get(cause, 0) + 1
            v.preempted += 1
            v.end_job(job, now)
            self._enqueue(job, front=True)

    # ------------------------------------------------------------------ capacity
    def vehicle_changed(self, v) -> None:
        """Re-index ``v`` after its online state or busy slots changed; dispatch waiting jobs."""
        self.index.update(v, v.busy if (v.state >= AVAILABLE and v.busy < v.spec.chip.slots) else -1)
        if self._updates:
            self.policy.on_vehicle_changed(v)
        if self.index.size and not self._draining and (self.queued[0] or self.queued[1]):
            self._drain()

    # ------------------------------------------------------------------ end of run
    def close(self, vehicles) -> None:
        """Record the jobs still queued, and those still running on ``vehicles``, at the end."""
        for q in self.queues:
            for job in q:
                if job.state == QUEUED:
                    self.log.append(job)
        for v in vehicles:
            for job in v.jobs:
                self.log.append(job)
        self.queued_at_end = self.queued[0] + self.queued[1]
        self.running_at_end = self.running


def _arrival(job: Job) -> float:
    return job.arrival_s
