"""The overflow data center: batching GPUs on the cars' serving model, against the roofline's steady
state, step-by-step physics, energy conservation and the queue discipline."""
from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest

from fleet import roofline
from fleet.chip import CHIP_PRESETS
from fleet.datacenter import DataCenterPool, DataCenterSpec
from fleet.jobs import BATCH_CLASS, INTERACTIVE_CLASS, OVERFLOW, Job
from fleet.llm import MODEL_PRESETS
from grid.meter import PriceCarbonTable
from grid.signals import StepSignal
from sim.core.engine import Environment
from sim.core.errors import ScenarioError

H100 = CHIP_PRESETS["h100_sxm"]
L8_BF16 = MODEL_PRESETS["llama-3.1-8b-bf16"]
END_S = 1e7


def flat_table(price: float = 0.2, carbon: float = 300.0) -> PriceCarbonTable:
    return PriceCarbonTable(StepSignal([0.0], [price], END_S, "price", "usd_per_kwh"),
                            StepSignal([0.0], [carbon], END_S, "carbon", "g_per_kwh"))


def stepped_table() -> PriceCarbonTable:
    """Price and carbon that change every 7 and 11 s, on different breakpoints."""
    tp = np.arange(0.0, 2000.0, 7.0)
    tc = np.arange(0.0, 2000.0, 11.0)
    price = StepSignal(tp, 0.1 + 0.05 * np.sin(tp), END_S, "price", "usd_per_kwh")
    carbon = StepSignal(tc, 250.0 + 100.0 * np.cos(tc), END_S, "carbon", "g_per_kwh")
    return PriceCarbonTable(price, carbon)


def make_job(i: int, cls: int, arrival: float, prompt: int, output: int) -> Job:
    job = Job(i, cls, arrival, prompt, output, 1e9, 1e9)
    job.state = OVERFLOW
    return job


def serve(spec: DataCenterSpec, jobs: list[Job], until_s: float, table=None):
    """Submit ``jobs`` at their arrival times, run to ``until_s`` and close: (pool, log)."""
    env = Environment()
    log: list[Job] = []
    pool = DataCenterPool(env, spec, log, table if table is not None else flat_table())
    jobs = sorted(jobs, key=lambda j: j.arrival_s)
    env.feed([j.arrival_s for j in jobs], lambda i: pool.submit(jobs[i]))
    env.run_until(until_s)
    pool.close(until_s)
    return pool, log


def random_jobs(n: int, seed: int, rate_per_s: float) -> list[Job]:
    rng = random.Random(seed)
    t, jobs = 0.0, []
    for i in range(n):
        t += rng.expovariate(rate_per_s)
        cls = INTERACTIVE_CLASS if rng.random() < 0.6 else BATCH_CLASS
        jobs.append(make_job(i, cls, t, rng.randint(20, 3000), rng.randint(1, 1500)))
    return jobs


# ---------------------------------------------------------------------------------- the spec
def test_spec_defaults_and_validation():
    spec = DataCenterSpec()
    assert (spec.servers, spec.chip, spec.model, spec.max_batch, spec.pue) == (
        4, "h100_sxm", "llama-3.1-8b-bf16", 256, 1.58)
    assert spec.chip_spec == dataclasses.replace(H100, max_batch=256)
    assert spec.model_spec is L8_BF16
    for bad, match in (({"servers": 0}, "servers"), ({"max_batch": 0}, "max_batch"), ({"pue": 0.99}, "pue"),
                       ({"chip": "nope"}, "chip"), ({"model": "nope"}, "model")):
        with pytest.raises(ValueError, match=match):
            DataCenterSpec(**bad)
    # 16 GB of bf16 weights do not fit HW3's 8 GB
    with pytest.raises(ScenarioError, match="dispatch.datacenter.model = 'llama-3.1-8b-bf16' does not fit"):
        DataCenterSpec(chip="hw3")


# ---------------------------------------------------------------------------------- physics
@pytest.mark.parametrize("batch", [8, 64, 256])
def test_one_saturated_gpu_reproduces_the_roofline_steady_state(batch):
    """One GPU with a queue that never empties runs at ``roofline.saturated``'s throughput and J/token
    for the requests' mean prompt, mean output and length-biased mean output."""
    rng = random.Random(batch)
    n = 40 * batch
    jobs = [make_job(i, INTERACTIVE_CLASS, 0.0, 200, rng.randint(50, 730)) for i in range(n)]
    spec = DataCenterSpec(servers=1, max_batch=batch)
    pool, _ = serve(spec, jobs, 1e6)
    assert pool.completed == n and pool.queued == 0 and pool.running == 0
    out = np.array([j.output_tokens for j in jobs], dtype=float)
    finish = np.array([j.finish_s for j in jobs])
    ordered = np.sort(finish)
    a, b = ordered[n // 10], ordered[int(0.8 * n)]  # the queue is long throughout
    measured = out[(finish > a) & (finish <= b)].sum() / (b - a)
    s = roofline.saturated(spec.chip_spec, L8_BF16, batch, 200.0, out.mean(), (out ** 2).sum() / out.sum())
    assert measured == pytest.approx(s["tokens_per_s"], rel=0.03)
    # the GPU's energy over the whole run (fill and drain included) per output token
    assert pool.energy_ws / spec.pue / out.sum() == pytest.approx(s["j_per_token"], rel=0.03)
    assert pool.summary()["mean_batch"] == pytest.approx(batch, rel=0.03)


def test_a_lone_job_follows_the_roofline_step_by_step():
    """A job alone on a GPU: first token after its prefill, then one decode step per token at batch
    1 with its prompt plus half its output in KV cache; energy = the steps' power x time x PUE."""
    job = make_job(0, INTERACTIVE_CLASS, 5.0, 1000, 300)
    spec = DataCenterSpec(servers=2, pue=1.3)
    pool, log = serve(spec, [job], 100.0)
    t_pre, w_pre = roofline.prefill(spec.chip_spec, L8_BF16, 1000)
    t_dec, w_dec = roofline.decode_step(spec.chip_spec, L8_BF16, 1, 1000 + 300 / 2.0)
    assert job.start_s == job.first_start_s == 5.0
    assert job.first_token_s == pytest.approx(5.0 + t_pre, rel=1e-12)
    assert job.finish_s == pytest.approx(5.0 + t_pre + 299 * t_dec, rel=1e-12)
    assert job.tpot_s == pytest.approx(t_dec, rel=1e-9)
    assert pool.ttft_s == [pytest.approx(t_pre, rel=1e-9)] and pool.tpot_s == [pytest.approx(t_dec, rel=1e-9)]
    assert job.vehicle is None and job.state == OVERFLOW and log == [job]
    energy_ws = 1.3 * (t_pre * w_pre + 299 * t_dec * w_dec)
    assert pool.energy_ws == pytest.approx(energy_ws, rel=1e-9)
    s = pool.summary()
    assert (s["gpus_used"], s["jobs_completed"], s["tokens_served"]) == (1, 1, 1300)
    assert s["busy_gpu_hours"] * 3600 == pytest.approx(t_pre + 299 * t_dec, rel=1e-12)
    assert s["chip_j_per_output_token"] == pytest.approx(energy_ws / 1.3 / 300, rel=1e-9)


def test_a_batch_job_keeps_the_tokens_it_decoded_on_a_car():
    job = make_job(0, BATCH_CLASS, 0.0, 500, 400)
    job.output_done = 100
    pool, _ = serve(DataCenterSpec(servers=1), [job], 100.0)
    # its KV cache is gone: the prefill recomputes the prompt and the 100 kept tokens, and the decode
    # reads the prompt, the kept tokens and half of the 300 still to make
    t_pre, _ = roofline.prefill(H100, L8_BF16, 500 + 100)
    t_dec, _ = roofline.decode_step(H100, L8_BF16, 1, 500 + 100 + 300 / 2.0)
    assert job.finish_s == pytest.approx(t_pre + 299 * t_dec, rel=1e-12)
    assert job.tpot_s == pytest.approx(t_dec, rel=1e-9)
    assert pool.tokens_received == pool.tokens_served == 500 + 300


# ---------------------------------------------------------------------------------- energy
def test_energy_cost_and_co2_are_conserved_over_the_jobs():
    """Each job's share of its GPU adds up to the pool's totals, jobs still running at the end
    included; the pool's energy is the GPUs' chip energy x PUE."""
    jobs = random_jobs(600, seed=3, rate_per_s=1.5)
    spec = DataCenterSpec(servers=3, max_batch=16)
    pool, log = serve(spec, jobs, 300.0, stepped_table())
    assert pool.running > 0 and pool.completed > 100  # the end cuts through running jobs
    assert len(log) == pool.received and pool.received == sum(j.arrival_s < 300.0 for j in jobs)
    bills = np.array(list(pool.bills.values()))
    assert len(bills) == pool.completed + pool.running and (bills >= 0).all()
    assert bills[:, 0].sum() == pytest.approx(pool.energy_ws / 3.6e6, rel=1e-9)
    assert bills[:, 1].sum() == pytest.approx(pool.cost_ws / 3.6e6, rel=1e-9)
    assert bills[:, 2].sum() == pytest.approx(pool.co2_ws / 3.6e6, rel=1e-9)
    chip_ws = sum(g.server.chip_ws for g in pool.gpus)
    assert pool.energy_ws == pytest.approx(spec.pue * chip_ws, rel=1e-9)
    # the power of a GPU holding jobs stays between the chip's idle and maximum power
    busy_s = sum(g.server.busy_s for g in pool.gpus)
    assert H100.idle_w < chip_ws / busy_s < H100.active_w


def test_flat_price_and_carbon_price_the_energy_exactly():
    jobs = random_jobs(200, seed=4, rate_per_s=1.0)
    pool, _ = serve(DataCenterSpec(servers=2), jobs, 300.0, flat_table(price=0.25, carbon=400.0))
    s = pool.summary()
    assert s["energy_kwh"] > 0
    assert s["cost_usd"] == pytest.approx(0.25 * s["energy_kwh"], rel=1e-12)
    assert s["co2_kg"] == pytest.approx(400.0 * s["energy_kwh"] / 1000.0, rel=1e-12)


def test_pue_scales_energy_cost_and_co2_exactly_and_nothing_else():
    runs = {}
    for pue in (1.0, 2.5):
        pool, _ = serve(DataCenterSpec(servers=2, max_batch=8, pue=pue), random_jobs(300, 5, 1.0), 250.0,
                        stepped_table())
        runs[pue] = pool
    a, b = runs[1.0], runs[2.5]
    for name in ("energy_ws", "cost_ws", "co2_ws"):
        assert getattr(b, name) == pytest.approx(2.5 * getattr(a, name), rel=1e-12)
    assert a.bills.keys() == b.bills.keys()
    for k, bill in a.bills.items():
        assert b.bills[k] == pytest.approx(tuple(2.5 * x for x in bill), rel=1e-12)
    assert a.ttft_s == b.ttft_s and a.tpot_s == b.tpot_s and a.completed == b.completed


# ---------------------------------------------------------------------------------- the queue
def test_interactive_jobs_go_first_and_each_class_is_fifo():
    """One GPU that holds one job: while the first runs, batch, interactive, batch and interactive
    jobs queue; the interactive ones start first, each class in arrival order."""
    arrivals = [(BATCH_CLASS, 0.0), (BATCH_CLASS, 0.1), (INTERACTIVE_CLASS, 0.2), (BATCH_CLASS, 0.3),
                (INTERACTIVE_CLASS, 0.4)]
    jobs = [make_job(i, c, t, 100, 50) for i, (c, t) in enumerate(arrivals)]
    pool, log = serve(DataCenterSpec(servers=1, max_batch=1), jobs, 100.0)
    assert [j.job_id for j in sorted(jobs, key=lambda j: j.start_s)] == [0, 2, 4, 1, 3]
    assert [j.job_id for j in log] == [0, 2, 4, 1, 3]  # logged as they finish
    starts = sorted(j.start_s for j in jobs)
    finishes = sorted(j.finish_s for j in jobs)
    assert starts[1:] == finishes[:-1]  # each starts when the one before it leaves


def test_jobs_share_a_gpu_instead_of_waiting_for_a_slot():
    """No fixed slots or service time: on one GPU, eight jobs arriving together all start at once
    and each takes longer than it would alone (the decode step is shared); a ninth waits only for
    the batch limit."""
    _, (alone,) = serve(DataCenterSpec(servers=1), [make_job(0, INTERACTIVE_CLASS, 0.0, 200, 400)], 100.0)
    jobs = [make_job(i, INTERACTIVE_CLASS, 0.0, 200, 400) for i in range(9)]
    pool, _ = serve(DataCenterSpec(servers=1, max_batch=8), jobs, 100.0)
    assert all(j.start_s == 0.0 for j in jobs[:8]) and jobs[8].start_s == min(j.finish_s for j in jobs[:8])
    # fixed slots would finish each of the eight when the lone job finished (2.77 s); batched: 2.99 s
    assert all(j.finish_s > 1.05 * alone.finish_s and j.tpot_s > alone.tpot_s for j in jobs[:8])
    assert jobs[8].tpot_s == pytest.approx(alone.tpot_s, rel=1e-9)  # alone again
    assert pool.summary()["gpus_used"] == 1


def test_each_job_goes_to_the_least_loaded_gpu():
    jobs = [make_job(i, INTERACTIVE_CLASS, 0.0, 200, 400) for i in range(7)]
    env = Environment()
    pool = DataCenterPool(env, DataCenterSpec(servers=3), [], flat_table())
    for j in jobs:
        pool.submit(j)
    assert sorted(g.server.jobs_held for g in pool.gpus) == [2, 2, 3]
    # one job ahead on the first GPU only: a newcomer goes to an empty one
    env2 = Environment()
    pool2 = DataCenterPool(env2, DataCenterSpec(servers=2), [], flat_table())
    pool2.submit(make_job(0, INTERACTIVE_CLASS, 0.0, 200, 400))
    pool2.submit(make_job(1, INTERACTIVE_CLASS, 0.0, 200, 400))
    assert [g.server.jobs_held for g in pool2.gpus] == [1, 1]


def test_queued_and_running_jobs_are_logged_unfinished_at_the_end():
    jobs = [make_job(i, INTERACTIVE_CLASS, 0.0, 200, 5000) for i in range(5)]
    pool, log = serve(DataCenterSpec(servers=1, max_batch=2), jobs, 1.0)
    assert pool.running == 2 and pool.queued == 3 and pool.completed == 0
    assert sorted(j.job_id for j in log) == [0, 1, 2, 3, 4]
    assert all(j.finish_s == -1.0 for j in jobs)
    assert sorted(pool.bills) == [0, 1]
    assert sum(b[0] for b in pool.bills.values()) == pytest.approx(pool.energy_ws / 3.6e6, rel=1e-12)
