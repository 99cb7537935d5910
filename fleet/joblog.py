"""Column store of finished job records (completed or dropped), kept as compact arrays."""
from __future__ import annotations

from array import array

import numpy as np

from fleet.jobs import Job

COLUMNS = (
    ("job_id", "q"),
    ("job_class", "b"),
    ("outcome", "b"),
    ("arrival_s", "d"),
    ("first_start_s", "d"),
    ("finish_s", "d"),
    ("prompt_tokens", "q"),
    ("output_tokens", "q"),
    ("vehicle_id", "q"),
    ("preemptions", "l"),
    ("wasted_tokens", "q"),
    ("slo_s", "d"),
)


class JobLog:
    """Appends one row per job when it leaves the system (or at the end of the run)."""

    __slots__ = tuple(name for name, _ in COLUMNS)

    def __init__(self) -> None:
        for name, code in COLUMNS:
            setattr(self, name, array(code))

    def append(self, job: Job) -> None:
        """Record ``job`` in its current state."""
        self.job_id.append(job.job_id)
        self.job_class.append(job.job_class)
        self.outcome.append(job.state)
        self.arrival_s.append(job.arrival_s)
        self.first_start_s.append(job.first_start_s)
        self.finish_s.append(job.finish_s)
        self.prompt_tokens.append(job.prompt_tokens)
        self.output_tokens.append(job.output_tokens)
        v = job.vehicle
        self.vehicle_id.append(v.vid if v is not None else -1)
        self.preemptions.append(job.preemptions)
        self.wasted_tokens.append(job.wasted_tokens)
        self.slo_s.append(job.slo_s)

    def __len__(self) -> int:
        return len(self.job_id)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """All columns as numpy arrays, sorted by job id."""
        cols = {name: np.frombuffer(getattr(self, name), dtype=np.dtype(code)).copy()
                if len(getattr(self, name)) else np.array([], dtype=np.dtype(code))
                for name, code in COLUMNS}
        order = np.argsort(cols["job_id"], kind="stable")
        return {k: v[order] for k, v in cols.items()}
