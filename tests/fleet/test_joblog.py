"""The job log: rows packed into fixed chunks come back exact, typed and sorted by job id."""
from __future__ import annotations

import random

import numpy as np

from fleet.joblog import FIELDS, JobLog
from fleet.jobs import COMPLETED, DROPPED, Job


class _Car:
    def __init__(self, vid: int) -> None:
        self.vid = vid


def _job(rng: random.Random, job_id: int) -> Job:
    job = Job(job_id, rng.randrange(2), rng.uniform(0, 1e5), rng.randrange(1, 2**31), rng.randrange(1, 2**31),
              rng.uniform(1, 100), rng.uniform(1, 1e4))
    job.state = rng.choice((COMPLETED, DROPPED))
    job.vehicle = _Car(rng.randrange(2**31)) if job.state == COMPLETED else None
    job.first_start_s, job.finish_s = rng.uniform(0, 1e5), rng.uniform(0, 1e5)
    job.preemptions, job.wasted_tokens = rng.randrange(2**31), rng.randrange(2**62)
    job.energy_wh, job.cost_usd, job.co2_g = rng.random(), rng.random() * 1e-3, rng.random() * 10
    return job


def test_rows_across_chunks_round_trip_exactly_and_sorted():
    rng = random.Random(7)
    ids = list(range(20_000))  # crosses two 8,192-row chunk boundaries
    rng.shuffle(ids)
    jobs = [_job(rng, i) for i in ids]
    log = JobLog()
    for job in jobs:
        log.append(job)
    assert len(log) == 20_000
    cols = log.to_arrays()
    assert set(cols) == {name for name, _, _ in FIELDS}
    by_id = sorted(jobs, key=lambda j: j.job_id)
    assert cols["job_id"].tolist() == list(range(20_000))
    assert cols["outcome"].tolist() == [j.state for j in by_id]
    assert cols["vehicle_id"].tolist() == [j.vehicle.vid if j.vehicle else -1 for j in by_id]
    assert cols["wasted_tokens"].tolist() == [j.wasted_tokens for j in by_id]
    for name in ("arrival_s", "first_start_s", "finish_s", "slo_s", "energy_wh", "cost_usd", "co2_g"):
        assert cols[name].dtype == np.float64
        assert cols[name].tolist() == [getattr(j, name) for j in by_id]  # bit-exact doubles
    assert cols["prompt_tokens"].dtype == np.int32 and cols["job_class"].dtype == np.int8


def test_empty_log_gives_empty_columns():
    cols = JobLog().to_arrays()
    assert len(JobLog()) == 0 and all(len(c) == 0 for c in cols.values())
