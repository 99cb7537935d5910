"""Column store of job records, filled one row per job as it leaves the system.

Each row is packed as 15 native doubles by one precompiled ``struct.Struct`` and appended to one
``bytearray`` (no Python objects kept alive, 8 bytes per value; ``array('d').extend`` parses
each value through a format string and costs about ten times as much). The columns are cut out
and typed at the end. Every stored integer (ids, token counts) is below 2**53, so doubles hold
it exactly.
"""
from __future__ import annotations

import struct

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
    ("energy_wh", np.float64),
    ("cost_usd", np.float64),
    ("co2_g", np.float64),
)
WIDTH = len(COLUMNS)


class JobLog:
    """Appends one row per job; :meth:`to_arrays` returns the columns sorted by job id."""

    __slots__ = ("_data", "_pack")

    def __init__(self) -> None:
        self._data = bytearray()
        self._pack = struct.Struct(f"={WIDTH}d").pack

    def append(self, job: Job) -> None:
        """Record ``job`` in its current state."""
        v = job.vehicle
        self._data += self._pack(
            job.job_id, job.job_class, job.state, job.arrival_s, job.first_start_s, job.finish_s,
            job.prompt_tokens, job.output_tokens, v.vid if v is not None else -1, job.preemptions,
            job.wasted_tokens, job.slo_s, job.energy_wh, job.cost_usd, job.co2_g,
        )

    def __len__(self) -> int:
        return len(self._data) // (8 * WIDTH)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """All columns as numpy arrays, sorted by job id."""
        table = np.frombuffer(self._data, dtype=np.float64).reshape(-1, WIDTH) if self._data else \
            np.empty((0, WIDTH))
        table = table[np.argsort(table[:, 0], kind="stable")]
        return {name: table[:, j].astype(dt) for j, (name, dt) in enumerate(COLUMNS)}
