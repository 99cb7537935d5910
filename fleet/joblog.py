"""Column store of job records, filled one row per job as it leaves the system.

Each row is packed by one precompiled ``struct.Struct`` (123 bytes: 8-byte ids, times and amounts,
4-byte token counts, vehicle id and preemption count, 1-byte class, outcome and model) straight into a
preallocated chunk of 8,192 rows: no Python objects are kept alive, no bytes object is built per
row, and a full log holds at most one partly filled chunk beyond its rows (a growing
``bytearray`` would hold up to an eighth more). ``array('d').extend`` parses each value through a
format string and costs about ten times as much. The columns are cut out, typed, at the end.
"""
from __future__ import annotations

import struct

import numpy as np

from fleet.jobs import Job

# (name, struct code, numpy type): packed with standard sizes and no padding ("=" in struct, a
# packed structured dtype in numpy), 123 bytes a row. Token counts and vehicle ids fit 32 bits (a
# job of 2**31 tokens or a fleet of 2**31 cars is refused upstream by the schema's bounds).
FIELDS = (
    ("job_id", "q", "<i8"),
    ("job_class", "b", "i1"),
    ("outcome", "b", "i1"),
    ("arrival_s", "d", "<f8"),
    ("first_start_s", "d", "<f8"),
    ("finish_s", "d", "<f8"),
    ("prompt_tokens", "i", "<i4"),
    ("output_tokens", "i", "<i4"),
    ("vehicle_id", "i", "<i4"),
    ("preemptions", "i", "<i4"),
    ("wasted_tokens", "q", "<i8"),
    ("slo_s", "d", "<f8"),
    ("energy_wh", "d", "<f8"),
    ("cost_usd", "d", "<f8"),
    ("co2_g", "d", "<f8"),
    ("first_token_s", "d", "<f8"),
    ("tpot_s", "d", "<f8"),
    ("network_s", "d", "<f8"),
    ("model_code", "b", "i1"),
    ("load_s", "d", "<f8"),
)
COLUMNS = tuple((name, np.dtype(dt).type) for name, _, dt in FIELDS)
_FORMAT = "<" + "".join(code for _, code, _ in FIELDS)
_DTYPE = np.dtype([(name, dt) for name, _, dt in FIELDS])
ROW_BYTES = struct.calcsize(_FORMAT)


_CHUNK_ROWS = 8192
_CHUNK_BYTES = _CHUNK_ROWS * ROW_BYTES


class JobLog:
    """Appends one row per job; :meth:`to_arrays` returns the columns sorted by job id."""

    __slots__ = ("_chunks", "_buf", "_off", "_pack_into")

    def __init__(self) -> None:
        self._chunks: list[bytearray] = []  # full chunks
        self._buf = bytearray(_CHUNK_BYTES)  # the chunk being filled, up to byte _off
        self._off = 0
        self._pack_into = struct.Struct(_FORMAT).pack_into

    def append(self, job: Job) -> None:
        """Record ``job`` in its current state."""
        off = self._off
        if off == _CHUNK_BYTES:
            self._chunks.append(self._buf)
            self._buf = bytearray(_CHUNK_BYTES)
            off = 0
        v = job.vehicle
        self._pack_into(
            self._buf, off,
            job.job_id, job.job_class, job.state, job.arrival_s, job.first_start_s, job.finish_s,
            job.prompt_tokens, job.output_tokens, v.vid if v is not None else -1, job.preemptions,
            job.wasted_tokens, job.slo_s, job.energy_wh, job.cost_usd, job.co2_g, job.first_token_s, job.tpot_s,
            job.network_s, job.model_code, job.load_s,
        )
        self._off = off + ROW_BYTES

    def __len__(self) -> int:
        return len(self._chunks) * _CHUNK_ROWS + self._off // ROW_BYTES

    def to_arrays(self) -> dict[str, np.ndarray]:
        """All columns as numpy arrays (native types), sorted by job id."""
        parts = [np.frombuffer(c, dtype=_DTYPE) for c in self._chunks]
        parts.append(np.frombuffer(self._buf, dtype=_DTYPE, count=self._off // ROW_BYTES))
        table = np.concatenate(parts)
        table = table[np.argsort(table["job_id"], kind="stable")]
        return {name: table[name].astype(np.dtype(dt).newbyteorder("=")) for name, _, dt in FIELDS}
