"""Batched serving against measurements, physics and a brute-force per-token simulation.

Measurements: the ML.ENERGY leaderboard, Llama-3.1-8B-Instruct bf16 on one H100 SXM with vLLM,
lm-arena-chat prompts, GPU energy only (ml-energy/leaderboard@0cd52da,
public/data/models/meta-llama__Llama-3.1-8B-Instruct__lm-arena-chat.json; reference/facts.md §6b).
The roofline was fitted at max batch 8, 64 and 512 (bench/calibrate_serving.py); the other batch
sizes check it where it was not fitted. Jetson AGX Orin, Llama-2-7B 4 bit, batch 1: 39.1 tokens/s
(AWQ/TinyChat, MLSys 2024; facts.md §6).
"""
from __future__ import annotations

import dataclasses
import random
from collections import deque

import numpy as np
import pytest

from fleet import roofline
from fleet.batching import BatchServer
from fleet.chip import CHIP_PRESETS
from fleet.llm import MODEL_PRESETS
from fleet.serving import fit_error
from sim.core.engine import Environment
from sim.runner import run
from sim.scenario import default_scenario
from tests.fleet.per_token import Job, brute_force

H100, ORIN = CHIP_PRESETS["h100_sxm"], CHIP_PRESETS["jetson_agx_orin_64gb"]
L8_BF16 = MODEL_PRESETS["llama-3.1-8b-bf16"]

# max batch: (output tokens/s, average GPU W, J per output token, median inter-token latency s)
MEASURED = {
    8: (1070.0, 486.0, 0.4548, 7.32e-3),
    16: (1954.0, 513.0, 0.2627, 7.91e-3),
    32: (3391.0, 560.0, 0.1651, 8.91e-3),
    64: (5147.0, 610.0, 0.1186, 11.50e-3),
    128: (7037.0, 669.0, 0.0951, 16.48e-3),
    256: (9010.0, 691.0, 0.0766, 26.13e-3),
    512: (9806.0, 688.0, 0.0702, 47.41e-3),
}
CALIBRATED = (8, 64, 512)
# The output-length histogram of the same measurements: 50 equal bins from 2 to 4,096 tokens.
OUTPUT_COUNTS = (8607, 4310, 3518, 3645, 3626, 3541, 3242, 2563, 1856, 1269, 877, 641, 455, 337, 268, 207, 141,
                 118, 101, 83, 53, 46, 51, 42, 38, 37, 28, 21, 15, 22, 18, 13, 11, 11, 7, 13, 8, 7, 2, 6, 0, 3,
                 3, 3, 1, 0, 2, 1, 1, 68)
PROMPT_TOKENS = 200  # ASSUMPTION of the calibration (fleet/chip.py): lm-arena prompt lengths are not published


def _arena_trace(path, jobs: int, seed: int = 1) -> None:
    """An Azure-format trace of ``jobs`` requests all arriving at once, outputs drawn from the histogram."""
    rng = np.random.default_rng(seed)
    edges = np.linspace(2.0, 4096.0, len(OUTPUT_COUNTS) + 1)
    p = np.array(OUTPUT_COUNTS, dtype=float)
    k = rng.choice(len(p), size=jobs, p=p / p.sum())
    out = np.maximum(1, np.round(edges[k] + (edges[k + 1] - edges[k]) * rng.random(jobs))).astype(int)
    lines = ["TIMESTAMP,ContextTokens,GeneratedTokens"]
    lines += [f"2023-11-16 18:00:00.{i:06d},{PROMPT_TOKENS},{o}" for i, o in enumerate(out)]
    path.write_text("\n".join(lines) + "\n")


def _saturated_h100(tmp_path, max_batch: int, span_s: float):
    """One always-available car with an H100 serving Llama-3.1-8B bf16, kept full for ``span_s``."""
    trace = tmp_path / "arena.csv"
    jobs = int(MEASURED[max_batch][0] * span_s / 300.0) + 2 * max_batch  # more than it can finish
    _arena_trace(trace, jobs)
    sc = default_scenario().with_overrides({
        "run.days": span_s / 86400.0, "fleet.vehicles": 1, "fleet.mobility": False, "fleet.opt_in_share": 1.0,
        "fleet.network.enabled": False,
        "fleet.chip.preset": "h100_sxm", "fleet.model.preset": "llama-3.1-8b-bf16", "fleet.chip.serving": "batched",
        "fleet.chip.max_batch": max_batch, "fleet.vehicle.awake_overhead_w": 0.0, "workload.trace": str(trace),
        "fleet.model.context_tokens": 4_352, "workload.interactive.max_wait_s": 1e7,
        "workload.interactive.slo_s": 1e7, "report.figures": False})
    return run(sc)


@pytest.mark.parametrize("max_batch", sorted(MEASURED))
def test_h100_matches_mlenergy(tmp_path, max_batch):
    tokens_per_s, _, j_per_token, itl_s = MEASURED[max_batch]
    res = _saturated_h100(tmp_path, max_batch, span_s=300.0)
    serving = res.summary["serving"]
    done = res.jobs[res.jobs["outcome"] == "completed"]
    assert serving["mean_batch"] > 0.97 * max_batch  # saturated all along
    assert serving["output_tokens_per_s_per_chip"] == pytest.approx(tokens_per_s, rel=0.20)
    assert serving["chip_j_per_output_token"] == pytest.approx(j_per_token, rel=0.20)
    # vLLM's median inter-token latency leaves out the steps that paused for a prefill; the jobs' own
    # time per output token includes them (one prefill of every other job in the batch per job)
    assert serving["median_inter_token_s"] == pytest.approx(itl_s, rel=0.25)
    assert float(done["tpot_s"].median()) == pytest.approx(itl_s, rel=0.40)
    assert float(done["tpot_s"].median()) >= serving["median_inter_token_s"]


def test_batching_lowers_energy_per_token_as_measured(tmp_path):
    """J/token falls with the batch, over a 6.5x range (0.455 -> 0.070 J measured)."""
    small = _saturated_h100(tmp_path, 8, 120.0).summary["serving"]["chip_j_per_output_token"]
    large = _saturated_h100(tmp_path, 512, 120.0).summary["serving"]["chip_j_per_output_token"]
    assert 4.0 < small / large < 9.0


def test_orin_batch_one_matches_awq():
    """Jetson AGX Orin, Llama-2-7B 4 bit, batch 1: 39.1 tokens/s (AWQ, MLSys 2024) within 25 %."""
    model = MODEL_PRESETS["llama-2-7b-q4"]
    t, _ = roofline.decode_step(ORIN, model, 1, 256)
    assert 1.0 / t == pytest.approx(39.1, rel=0.25)


# ---------------------------------------------------------------------- physics
def test_larger_model_is_slower_and_costs_more_per_token():
    order = ["llama-3.2-1b-q4", "llama-3.2-3b-q4", "llama-3.1-8b-q4", "llama-3.1-8b-bf16", "llama-3.1-70b-q4"]
    for chip in (H100, CHIP_PRESETS["ai5_claimed"]):
        for batch in (1, 8, 64):
            rows = [roofline.decode_step(chip, MODEL_PRESETS[m], batch, batch * 500) for m in order]
            times = [t for t, _ in rows]
            joules = [t * w / batch for t, w in rows]
            assert times == sorted(times) and len(set(times)) == len(times)
            assert joules == sorted(joules)


def test_more_bandwidth_never_slows_decode():
    rng = random.Random(3)
    for _ in range(300):
        chip = CHIP_PRESETS[rng.choice(sorted(CHIP_PRESETS))]
        model = MODEL_PRESETS[rng.choice(sorted(MODEL_PRESETS))]
        batch, kv = rng.randint(1, 512), rng.uniform(0, 1e6)
        faster = dataclasses.replace(chip, bandwidth_gb_per_s=chip.bandwidth_gb_per_s * rng.uniform(1.0, 10.0))
        assert roofline.decode_step(faster, model, batch, kv)[0] <= roofline.decode_step(chip, model, batch, kv)[0]


def test_batch_one_never_beats_bandwidth_over_weights():
    for chip in CHIP_PRESETS.values():
        for model in MODEL_PRESETS.values():
            t, _ = roofline.decode_step(chip, model, 1, 0.0)
            assert 1.0 / t <= chip.bandwidth_gb_per_s * 1e9 / model.weight_bytes


def test_power_stays_between_idle_and_max():
    for chip in CHIP_PRESETS.values():
        for batch in (1, 4, 64, 1024):
            _, w = roofline.decode_step(chip, L8_BF16, batch, batch * 600)
            assert chip.idle_w <= w <= chip.active_w


def test_memory_fit_is_weights_plus_one_request():
    hw4 = CHIP_PRESETS["hw4"]
    assert fit_error(hw4, MODEL_PRESETS["llama-3.1-8b-q4"]) is None
    big = dataclasses.replace(MODEL_PRESETS["llama-3.1-70b-q4"], bytes_per_param=2.0)
    msg = fit_error(hw4, big)
    # 70.6e9 x 2 B = 141.2 GB of weights + 32,768 x 327,680 B = 10.74 GB of KV; hw4 serves 16 x 0.9 = 14.4 GB
    assert "151.94 GB" in msg and "141.20 GB" in msg and "10.74 GB" in msg and "14.40 GB" in msg


# ---------------------------------------------------------------------- bookkeeping
def _with_server(jobs, chip, model):
    """Finish and first-token times of ``jobs`` through :class:`BatchServer`, admitted in arrival
    order whenever the chip has room."""
    env = Environment()
    waiting: deque = deque()
    server = None

    def feed(now):
        while waiting and server.has_room():
            server.admit(waiting.popleft(), now)

    def done(job, now):
        job.finish_s = now
        feed(now)

    server = BatchServer(env, chip, model, 64, done, lambda now: None)
    times = [j.arrival_s for j in jobs]

    def arrive(i):
        waiting.append(jobs[i])
        feed(env.now)

    env.feed(times, arrive)
    half = max(j.arrival_s for j in jobs)  # mid-run: tokens made so far count, in flight included
    env.run_until(half)
    server.settle(half)
    finished = sum(j.output_tokens for j in jobs if 0.0 <= j.finish_s <= half)
    assert finished - 1e-9 <= server.tokens_out <= sum(j.output_tokens for j in jobs) + 1e-9
    env.run_until(1e6)
    server.settle(1e6)
    assert server.tokens_out == pytest.approx(sum(j.output_tokens for j in jobs), rel=1e-9)
    return [(j.first_token_s, j.finish_s) for j in jobs]


@pytest.mark.parametrize("seed", range(6))
def test_bookkeeping_matches_per_token_simulation(seed):
    rng = random.Random(seed)
    chip = dataclasses.replace(H100, max_batch=rng.randint(1, 4))
    model = MODEL_PRESETS[rng.choice(sorted(MODEL_PRESETS))]
    arrivals = sorted(rng.uniform(0.0, 2.0) for _ in range(rng.randint(3, 12)))
    make = lambda: [Job(i, a, rng2.randint(1, 30), rng2.randint(1, 25))  # noqa: E731
                    for i, a in enumerate(arrivals)]
    rng2 = random.Random(seed + 100)
    fast = _with_server(make(), chip, model)
    rng2 = random.Random(seed + 100)
    slow = brute_force(make(), chip, model)
    assert np.allclose(fast, slow, rtol=1e-9, atol=1e-9)


def test_a_chip_late_in_a_long_run_never_stalls_on_round_off():
    """Late in a run a time's round-off is worth more decode steps than the step tolerance: the
    server must still finish the job (it used to reschedule the same instant forever)."""
    rng = random.Random(0)
    model = MODEL_PRESETS["llama-3.2-1b-q4"]
    for _ in range(100):
        env = Environment()
        job = Job(0, rng.uniform(1e6, 3e6), rng.randint(1, 50), 2)
        server = BatchServer(env, H100, model, 64, lambda j, now: setattr(j, "finish_s", now), lambda now: None)
        env.call_at(job.arrival_s, [lambda ev, s=server, j=job, e=env: s.admit(j, e.now)])
        env.run_until(job.arrival_s + 10.0)
        assert job.finish_s > job.first_token_s >= job.arrival_s
        assert env.events_scheduled() <= 6  # the arrival, the prefill end, the finish (and the count's own id)


def test_vehicle_queueing_admits_only_while_the_chip_has_room(monkeypatch):
    """Under vehicle queueing a completion starts the jobs waiting at that car while its chip has
    room (memory and batch), never beyond."""
    admitted = {"with_room": 0, "without": 0}
    admit = BatchServer.admit

    def checked(self, job, now):
        admitted["with_room" if self.has_room() else "without"] += 1
        admit(self, job, now)

    monkeypatch.setattr(BatchServer, "admit", checked)
    run(default_scenario().with_overrides({"run.days": 0.3, "fleet.vehicles": 100, "fleet.chip.serving": "batched",
                                           "dispatch.queueing": "vehicle", "report.figures": False}))
    assert admitted["with_room"] > 1000 and admitted["without"] == 0


def test_preempting_a_batch_job_wastes_the_prefills_share_of_its_runs_active_energy():
    """One batch job alone on an H100 car, preempted mid-decode: it keeps its tokens; the waste is
    the chip's active energy over the run times the prefill's share of the run's time (hand computed
    from the roofline)."""
    from fleet.jobs import BATCH_CLASS, Job
    from sim.runner import Simulation

    sim = Simulation(default_scenario().with_overrides({
        "run.days": 0.01, "fleet.vehicles": 1, "fleet.mobility": False, "fleet.network.enabled": False,
        "fleet.opt_in_share": 1.0, "fleet.chip.preset": "h100_sxm", "fleet.model.preset": "llama-3.1-8b-bf16",
        "fleet.chip.serving": "batched", "workload.interactive.rate_per_s": 0.0, "workload.batch.rate_per_s": 0.0,
        "report.figures": False}))
    env, car = sim.env, sim.vehicles[0]
    t0, t1, prompt = 100.0, 160.0, 3000
    job = Job(0, BATCH_CLASS, t0, prompt, 10_000, 1e9, 1e9)
    env.call_at(t0, [lambda ev: sim.dispatcher.submit(job)])
    env.call_at(t1, [lambda ev: sim.dispatcher.preempt_all(car, env.now, "departure")])
    res = sim.run()
    t_pre, w_pre = roofline.prefill(H100, L8_BF16, prompt)
    t_dec, w_dec = roofline.decode_step(H100, L8_BF16, 1, prompt + 10_000 / 2.0)
    active_wh = ((w_pre - H100.idle_w) * t_pre + (w_dec - H100.idle_w) * (t1 - t0 - t_pre)) / 3600.0
    assert res.summary["jobs"]["wasted_kwh"] * 1000.0 == pytest.approx(active_wh * t_pre / (t1 - t0), rel=1e-9)
    kept = 1 + int((t1 - t0 - t_pre) / t_dec)
    assert job.output_done == kept and job.wasted_tokens == prompt


def test_policies_see_an_end_estimate_for_jobs_in_a_batch():
    """least_work_left reads each running job's expected end: with batched serving it is the job's
    start plus its service at the chip's roofline-derived slot rates, never in the past of its start."""
    from sim.runner import Simulation

    sim = Simulation(default_scenario().with_overrides({
        "run.days": 0.1, "fleet.vehicles": 50, "fleet.chip.serving": "batched", "report.figures": False,
        "dispatch.policy": "least_work_left", "workload.interactive.rate_per_s": 0.5,
        "workload.batch.rate_per_s": 0.5}))
    res = sim.run()
    running = [j for v in sim.vehicles for j in v.jobs]
    assert running and res.summary["jobs"]["completed"] > 1000
    for job in running:
        chip = job.vehicle.spec.chip
        assert job.end_s == pytest.approx(job.start_s + chip.service_s(job.prompt_tokens,
                                                                       job.output_tokens - job.output_done))
