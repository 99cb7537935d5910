"""Job queues with priority classes: interactive before batch, FIFO or EDF within a class.

A :class:`JobQueue` holds one structure per job class. FIFO is a deque (a preempted job goes
back to the head); EDF (earliest deadline first) is a binary heap keyed by the job's absolute
deadline, ties by job id. Removing a job that waits past its limit is lazy: the entry stays
until it reaches the head and is skipped there, so every operation is O(1) (FIFO) or
O(log n) (EDF) amortised. The dispatcher's central queue and each vehicle's local queue
(``dispatch.queueing = "vehicle"``) are JobQueues.
"""
from __future__ import annotations

from collections import deque
from heapq import heappop, heappush

from fleet.jobs import QUEUED, Job

FIFO, EDF = "fifo", "edf"
ORDERS = (FIFO, EDF)
N_CLASSES = 2


class JobQueue:
    """Queued jobs of every class; ``owner`` is the vehicle of a local queue (None if central)."""

    __slots__ = ("edf", "owner", "_items", "counts")

    def __init__(self, order: str = FIFO, owner=None) -> None:
        if order not in ORDERS:
            raise ValueError(f"queue order {order!r}; allowed: {', '.join(ORDERS)}")
        self.edf = order == EDF
        self.owner = owner
        self._items: tuple = tuple([] if self.edf else deque() for _ in range(N_CLASSES))
        self.counts = [0] * N_CLASSES  # live jobs per class

    def __len__(self) -> int:
        return self.counts[0] + self.counts[1]

    def push(self, job: Job, front: bool = False) -> None:
        """Queue ``job`` (state QUEUED); ``front`` puts it at the head of a FIFO class queue."""
        c = job.job_class
        if self.edf:
            heappush(self._items[c], (job.deadline_s, job.job_id, job))
        elif front:
            self._items[c].appendleft(job)
        else:
            self._items[c].append(job)
        self.counts[c] += 1
        job.queue = self

    def discard(self, job: Job) -> None:
        """Forget ``job`` (dropped or overflowed while queued); its entry is skipped later."""
        self.counts[job.job_class] -= 1
        job.queue = None

    def _head(self, c: int) -> Job:
        items = self._items[c]
        if self.edf:
            while items[0][2].queue is not self or items[0][2].state != QUEUED:
                heappop(items)
            return items[0][2]
        while items[0].queue is not self or items[0].state != QUEUED:
            items.popleft()
        return items[0]

    def peek(self) -> Job | None:
        """The next job by priority (interactive first), without removing it."""
        counts = self.counts
        if counts[0]:
            return self._head(0)
        if counts[1]:
            return self._head(1)
        return None

    def pop(self) -> Job | None:
        """Remove and return the next job by priority, or None."""
        job = self.peek()
        if job is not None:
            c = job.job_class
            if self.edf:
                heappop(self._items[c])
            else:
                self._items[c].popleft()
            self.counts[c] -= 1
            job.queue = None
        return job

    def take_all(self) -> list[Job]:
        """Remove and return every live job in service order."""
        out = self.jobs()
        for job in out:
            job.queue = None
        self._items = tuple([] if self.edf else deque() for _ in range(N_CLASSES))
        self.counts = [0] * N_CLASSES
        return out

    def jobs(self) -> list[Job]:
        """The live queued jobs in service order (for the end of a run and for requeueing)."""
        out = []
        for c in range(N_CLASSES):
            live = [e for e in self._items[c] if (e[2] if self.edf else e).queue is self]
            if self.edf:
                live = [e[2] for e in sorted(live)]
            out.extend(j for j in live if j.state == QUEUED)
        return out
