"""Column store of job records, filled one row per job as it leaves the system.

Rows are appended as tuples (cheap on the hot path) and packed into numpy column chunks every
``CHUNK_ROWS`` rows, so memory stays ~100 bytes per job however long the run.
"""
from __future__ import annotations

import numpy as np

from fleet.jobs import Job

COLUMNS = (
    ("job_id", np.int64),
    ("job_class", np.int8),
    ("outcome", np.int8),
    ("arrival_s", np.float64),
    ("first_start_s", np.float64),
    ("finish_s", np.float64),
    ("prompt_tokens", np.int64),
    ("output_tokens", np.int64),
    ("vehicle_id", np.int64),
    ("preemptions", np.int64),
    ("wasted_tokens", np.int64),
    ("slo_s", np.float64),
)
CHUNK_ROWS = 65536
ROW_DTYPE = np.dtype(list(COLUMNS))


class JobLog:
    """Appends one row per job; :meth:`to_arrays` returns the columns sorted by job id."""

    __slots__ = ("_rows", "_chunks", "_n")

    def __init__(self) -> None:
        self._rows: list[tuple] = []
        self._chunks: list[np.ndarray] = []  # structured arrays of ROW_DTYPE
        self._n = 0

    def append(self, job: Job) -> None:
        """Record ``job`` in its current state."""
        v = job.vehicle
        self._rows.append((
            job.job_id, job.job_class, job.state, job.arrival_s, job.first_start_s, job.finish_s,
            job.prompt_tokens, job.output_tokens, v.vid if v is not None else -1, job.preemptions,
            job.wasted_tokens, job.slo_s,
        ))
        self._n += 1
        if len(self._rows) >= CHUNK_ROWS:
            self._pack()

    def _pack(self) -> None:
        if self._rows:
            self._chunks.append(np.fromiter(self._rows, dtype=ROW_DTYPE, count=len(self._rows)))
            self._rows = []

    def __len__(self) -> int:
        return self._n

    def to_arrays(self) -> dict[str, np.ndarray]:
        """All columns as numpy arrays, sorted by job id."""
        self._pack()
        table = np.concatenate(self._chunks) if self._chunks else np.empty(0, dtype=ROW_DTYPE)
        table = table[np.argsort(table["job_id"], kind="stable")]
        return {name: np.ascontiguousarray(table[name]) for name, _ in COLUMNS}
