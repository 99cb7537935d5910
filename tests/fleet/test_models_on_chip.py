"""Several models on one chip: shared decode rounds, memory, loads, eviction, policies and results.

Truth: a per-token simulation written from the roofline's definition (bytes and FLOPs of a decode
round, not the server's per-model terms), load times from the model's bytes and the stated read or
download rate, and the memory a chip has.
"""
from __future__ import annotations

import dataclasses
import math
import random
import subprocess
import sys
from collections import deque

import numpy as np
import pytest

from fleet import roofline
from fleet.batching import BatchServer
from fleet.chip import CHIP_PRESETS
from fleet.datacenter import DataCenterPool, DataCenterSpec
from fleet.fleetview import FleetView, FreeSlotIndex
from fleet.llm import MODEL_PRESETS
from fleet.network import LINK_PRESETS
from fleet.residency import DOWNLOADED, FROM_STORAGE, StorageSpec, load_s, stored_models
from fleet.serving import fit_error
from sim.core.engine import Environment
from sim.runner import Simulation, run
from sim.scenario import default_scenario
from tests.fleet.per_token import Job, brute_force, round_s

H100, HW4 = CHIP_PRESETS["h100_sxm"], CHIP_PRESETS["hw4"]
L1, L3, L8 = (MODEL_PRESETS[n] for n in ("llama-3.2-1b-q4", "llama-3.2-3b-q4", "llama-3.1-8b-q4"))
L7, L70 = MODEL_PRESETS["llama-2-7b-q4"], MODEL_PRESETS["llama-3.1-70b-q4"]


def _with_server(jobs, chip, own, resident):
    env = Environment()
    waiting: deque = deque()
    server = None

    def feed(now):
        while waiting and server.has_room(waiting[0].model):
            server.admit(waiting.popleft(), now)

    def done(job, now):
        job.finish_s = now
        feed(now)

    server = BatchServer(env, chip, own, 64, done, lambda now: None, resident=resident)

    def arrive(i):
        waiting.append(jobs[i])
        feed(env.now)

    env.feed([j.arrival_s for j in jobs], arrive)
    env.run_until(1e6)
    server.settle(1e6)
    assert server.tokens_out == pytest.approx(sum(j.output_tokens for j in jobs), rel=1e-9)
    assert server.jobs_held == 0 and server.other_models == 0
    return [(j.first_token_s, j.finish_s) for j in jobs]


@pytest.mark.parametrize("seed", range(6))
def test_several_models_match_a_per_token_simulation(seed):
    rng = random.Random(seed)
    chip = dataclasses.replace(H100, max_batch=rng.randint(1, 5))
    models = rng.sample([L1, L3, L8, L7, MODEL_PRESETS["llama-3.1-8b-bf16"]], 3)
    own, others = models[0], models[1:]
    arrivals = sorted(rng.uniform(0.0, 1.0) for _ in range(rng.randint(4, 12)))
    picks = [rng.choice([None] + others) for _ in arrivals]
    sizes = [(rng.randint(1, 30), rng.randint(1, 25)) for _ in arrivals]

    def make():
        return [Job(i, a, *sizes[i], model=picks[i]) for i, a in enumerate(arrivals)]

    fast = _with_server(make(), chip, own, resident=tuple(models))
    slow = brute_force(make(), chip, own)
    assert np.allclose(fast, slow, rtol=1e-9, atol=1e-9)


def test_a_round_of_two_models_reads_both_weights():
    """Two 1-job batches of different models decode slower together than either alone, and faster
    than one after the other (the KV and weights are read in one round)."""
    env = Environment()
    server = BatchServer(env, HW4, L8, 64, lambda j, now: None, lambda now: None, resident=(L8, L3))
    a, b = Job(0, 0.0, 10, 1000), Job(1, 0.0, 10, 1000, model=L3)
    server.admit(a, 0.0)
    server.admit(b, 0.0)
    env.run_until(1.0)  # both prefilled, both decoding
    assert server.decoding == 2
    expected = round_s(HW4, L8, [a, b])
    assert 1.0 / server.rate == pytest.approx(expected, rel=1e-12)
    alone8 = roofline.decode_step(HW4, L8, 1, 10 + 500)[0]
    alone3 = roofline.decode_step(HW4, L3, 1, 10 + 500)[0]
    assert max(alone8, alone3) < expected <= alone8 + alone3


# ---------------------------------------------------------------------- memory, loads and eviction
def test_memory_counts_every_resident_models_weights():
    env = Environment()
    chip = dataclasses.replace(HW4, memory_gb=10.5)  # 9.45 GB to serve from
    server = BatchServer(env, chip, L8, 64, lambda j, now: None, lambda now: None)
    have_b = 10.5e9 * 0.9
    ctx = lambda m: m.context_tokens * m.kv_bytes_per_token  # noqa: E731
    assert L3.weight_bytes + ctx(L3) <= have_b < L8.weight_bytes + L3.weight_bytes + ctx(L3)
    assert server.has_room(L3)  # by evicting the idle 8B model
    ready = server.load(L3, 5.0, 2.0)
    assert ready == 7.0 and set(server.ready_s) == {L3}
    assert server.kv_capacity == pytest.approx((have_b - L3.weight_bytes) / L8.kv_bytes_per_token, rel=1e-12)
    wide = BatchServer(env, dataclasses.replace(HW4, memory_gb=16.0), L8, 64, lambda j, now: None,
                       lambda now: None)
    wide.load(L3, 5.0, 2.0)
    assert set(wide.ready_s) == {L8, L3}  # both fit 14.4 GB: nothing is evicted
    assert wide.kv_capacity == pytest.approx((14.4e9 - L8.weight_bytes - L3.weight_bytes) / L8.kv_bytes_per_token,
                                             rel=1e-12)


def test_a_model_in_use_is_not_evicted_and_a_job_that_cannot_fit_waits():
    env = Environment()
    chip = dataclasses.replace(HW4, memory_gb=10.5)
    server = BatchServer(env, chip, L8, 64, lambda j, now: None, lambda now: None)
    job = Job(0, 0.0, 100, 50)
    server.admit(job, 0.0)
    assert not server.has_room(L3)  # the 8B model holds a job: no room for the 3B beside it
    env.run_until(100.0)  # the job finishes
    assert server.jobs_held == 0 and server.has_room(L3)


def test_least_recently_used_idle_model_goes_first():
    env = Environment()
    chip = dataclasses.replace(HW4, memory_gb=12.2)  # 10.98 GB
    server = BatchServer(env, chip, L1, 64, lambda j, now: None, lambda now: None)
    server.load(L3, 0.0, 1.0)
    env.run_until(2.0)
    server.admit(Job(0, 2.0, 10, 2, model=L3), 2.0)  # the 3B model is used after the 1B model
    env.run_until(50.0)
    assert set(server.ready_s) == {L1, L3} and server.jobs_held == 0
    need_b = L8.weight_bytes + L8.context_tokens * L8.kv_bytes_per_token
    # room for the 8B model beside either small model, not beside both
    assert max(L1.weight_bytes, L3.weight_bytes) + need_b <= 10.98e9 < L1.weight_bytes + L3.weight_bytes + need_b
    server.load(L8, 50.0, 1.0)
    assert set(server.ready_s) == {L3, L8}  # the 1B model, idle longest, made room


def test_load_time_from_storage_and_over_the_link():
    storage = StorageSpec(read_gb_per_s=0.4, models_gb=5.0)
    assert stored_models(storage, (L8, L3, L1)) == frozenset({L8})  # 4.5 GB, then 1.8 GB does not fit
    assert stored_models(storage, (L3, L1, L8)) == frozenset({L3, L1})
    wifi = LINK_PRESETS["home_wifi"]
    assert load_s(L8, storage, True, wifi) == (L8.weight_bytes / 0.4e9, FROM_STORAGE)
    assert load_s(L8, storage, False, wifi) == (L8.weight_bytes * 8 / 213.75e6, DOWNLOADED)


# ---------------------------------------------------------------------- whole runs
def _one_car(tmp_path, **over):
    """One always-available hw4 car, batched, serving an interactive stream (the fleet's model) and a
    batch stream of another model."""
    sc = default_scenario().with_overrides({
        "run.days": 0.05, "fleet.vehicles": 1, "fleet.mobility": False, "fleet.opt_in_share": 1.0,
        "fleet.network.enabled": False, "fleet.chip.serving": "batched", "workload.interactive.rate_per_s": 0.02,
        "workload.interactive.diurnal": "flat", "workload.batch.rate_per_s": 0.0005,
        "workload.batch.prompt_tokens": 100, "workload.batch.output_tokens": 50,
        "workload.batch.model": "llama-3.2-3b-q4", "report.figures": False, **over})
    return run(sc)


@pytest.mark.parametrize("stored", [True, False])
def test_a_job_waits_for_its_models_load_and_the_wait_is_in_its_ttft(tmp_path, stored):
    res = _one_car(tmp_path, **({} if stored else {"fleet.storage.models_gb": 4.6}))  # room for the 8B only
    jobs = res.jobs
    batch = jobs[(jobs["model"] == "llama-3.2-3b-q4") & (jobs["outcome"] == "completed")]
    assert len(batch) >= 2
    expect = L3.weight_bytes / 0.4e9 if stored else L3.weight_bytes * 8 / 213.75e6
    first = batch.iloc[0]
    assert first["load_s"] == pytest.approx(expect, rel=1e-9)
    assert first["ttft_s"] >= first["load_s"]
    serving = res.summary["serving"]
    loads = serving["model_loads_from_storage"] if stored else serving["model_loads_downloaded"]
    assert loads >= 1 and serving["model_load_s"] == pytest.approx(loads * expect, rel=1e-9)
    awake_w = HW4.idle_w + 300.0  # chip idle and the awake car (fleet.vehicle.awake_overhead_w)
    assert serving["model_load_wh"] == pytest.approx(serving["model_load_s"] * awake_w / 3600.0, rel=1e-9)
    interactive = jobs[jobs["model"] == "llama-3.1-8b-q4"]
    assert len(interactive) > 10 and (interactive["load_s"] == 0.0).all()  # the fleet's model is resident
    per_model = {m["name"]: m for m in serving["models"]}
    assert per_model["llama-3.2-3b-q4"]["arrived"] == int((jobs["model"] == "llama-3.2-3b-q4").sum())


def test_resident_model_policy_loads_less_than_least_loaded():
    over = {"run.days": 0.5, "fleet.vehicles": 60, "fleet.chip.serving": "batched",
            "workload.interactive.rate_per_s": 0.3, "workload.batch.rate_per_s": 0.05,
            "workload.batch.model": "llama-3.2-3b-q4", "report.figures": False}
    loads = {}
    for policy in ("least_loaded", "resident_model"):
        sim = Simulation(default_scenario().with_overrides({**over, "dispatch.policy": policy}))
        sim.execute()
        book = sim.dispatcher.model_loads
        loads[policy] = book["storage"][0] + book["download"][0]
        s = sim.results().summary["jobs"]
        assert s["completed"] > 0.9 * s["arrived"]
    assert loads["resident_model"] < 0.5 * loads["least_loaded"]


def test_departure_empties_the_chip_and_a_load_cut_short_requeues_its_job():
    """Loads so slow that cars leave during them: the load stops, its job goes back to the queue,
    and the books still balance."""
    sc = default_scenario().with_overrides({
        "run.days": 1.0, "fleet.vehicles": 40, "fleet.chip.serving": "batched", "fleet.storage.read_gb_per_s": 0.0005,
        "workload.interactive.rate_per_s": 0.05, "workload.batch.rate_per_s": 0.01,
        "workload.batch.model": "llama-3.2-3b-q4", "report.figures": False})
    sim = Simulation(sc)
    sim.execute()
    res = sim.results()
    jobs, s = res.jobs, res.summary["jobs"]
    assert s["arrived"] == s["completed"] + s["dropped"] + s["overflowed"] + s["queued_at_end"] + s["running_at_end"]
    cut = jobs[(jobs["model"] == "llama-3.2-3b-q4") & (jobs["preemptions"] > 0)]
    assert len(cut) > 0
    for v in sim.vehicles:
        if v.server is not None and not v.jobs:
            assert not v.server.waiting and v.server.jobs_held == 0
        if v.server is not None and v.state == 0:  # driving: the chip holds no model
            assert not v.server.ready_s


def test_fleet_view_shows_the_models_a_car_holds():
    env = Environment()
    view = FleetView(FreeSlotIndex(), env, None, None, models=(L8, L3))

    class _Car:
        server = BatchServer(env, HW4, L8, 64, lambda j, now: None, lambda now: None)

    car = _Car()
    assert view.model_names == ("llama-3.1-8b-q4", "llama-3.2-3b-q4")
    assert view.models_held(car) == ("llama-3.1-8b-q4",)
    assert view.job_model(Job(0, 0.0, 1, 1)) == "llama-3.1-8b-q4"
    assert view.job_model(Job(0, 0.0, 1, 1, model=L3)) == "llama-3.2-3b-q4"
    car.server.load(L3, 0.0, 4.5)
    assert view.holds_model(car, "llama-3.2-3b-q4") and view.model_ready_s(car, "llama-3.2-3b-q4") == 4.5
    assert view.model_ready_s(car, "llama-3.1-70b-q4") == math.inf


def test_the_data_center_holds_the_models_the_classes_need():
    env = Environment()
    pool = DataCenterPool(env, DataCenterSpec(), None, None, other_models=(L3, L70))
    assert pool.resident == (pool.model, L3, L70)
    assert fit_error(H100, pool.model, (L3, L70)) is None
    with pytest.raises(Exception, match="cannot hold the models"):
        DataCenterPool(env, DataCenterSpec(), None, None, other_models=(L70, L7, L8, L3, L1))
    # 16 GB + 39.7 GB + 3.8 + 4.5 + 1.8 + 0.7 GB of weights and a 70B request's 10.7 GB do not fit 72 GB


def test_the_data_center_admits_another_models_job_only_with_room_for_its_kv_cache(monkeypatch):
    """A 70B request reserves 2.5 times the KV cache of the pool's own 8B one: a GPU takes it only
    while that fits."""
    from fleet.jobs import INTERACTIVE_CLASS, OVERFLOW, Job
    from tests.fleet.test_datacenter import flat_table

    seen = []
    admit = BatchServer.admit

    def checked(self, job, now):
        seen.append(self.has_room(job.model))
        admit(self, job, now)

    monkeypatch.setattr(BatchServer, "admit", checked)
    env = Environment()
    pool = DataCenterPool(env, DataCenterSpec(servers=1), [], flat_table(), other_models=(L70,))
    for i in range(40):
        job = Job(i, INTERACTIVE_CLASS, 0.0, 20_000, 10_000, 1e9, 1e9)
        job.model, job.state = L70, OVERFLOW
        pool.submit(job)
    server = pool.gpus[0].server
    assert seen and all(seen) and server.jobs_held == len(seen) < 40
    assert server.kv_reserved <= server.kv_capacity


def test_an_idle_model_is_evicted_for_the_chips_own_jobs():
    """A chip holding another model that no job uses makes room for its own model's requests."""
    env = Environment()
    chip = dataclasses.replace(HW4, memory_gb=10.5)  # 9.45 GB: 8B + its request, or 8B + 3B, not all three
    server = BatchServer(env, chip, L8, 64, lambda j, now: None, lambda now: None, resident=(L8, L3))
    assert server.kv_reserved + L8.context_tokens > server.kv_capacity  # no room beside the idle 3B weights
    assert server.has_room()
    server.admit(Job(0, 0.0, 10, 5), 0.0)
    assert set(server.ready_s) == {L8} and server.kv_reserved <= server.kv_capacity


def test_a_car_that_served_another_model_keeps_serving_its_own():
    """One always-available car with room for its 8B model's request or for the 3B model beside it,
    not both: after a 3B job, the 8B jobs are still served (the idle 3B model is evicted)."""
    sim = Simulation(default_scenario().with_overrides({
        "run.days": 0.5, "fleet.vehicles": 1, "fleet.mobility": False, "fleet.opt_in_share": 1.0,
        "fleet.network.enabled": False, "fleet.chip.serving": "batched", "fleet.chip.memory_gb": 11.45,
        "workload.interactive.rate_per_s": 0.02, "workload.interactive.diurnal": "flat",
        "workload.batch.rate_per_s": 0.0002, "workload.batch.prompt_tokens": 100, "workload.batch.output_tokens": 50,
        "workload.batch.model": "llama-3.2-3b-q4", "report.figures": False}))
    sim.execute()
    jobs = sim.results().jobs
    small = jobs[(jobs["model"] == "llama-3.2-3b-q4") & (jobs["outcome"] == "completed")]
    assert len(small) >= 1
    later = jobs[(jobs["model"] == "llama-3.1-8b-q4") & (jobs["arrival_s"] > small["finish_s"].min() + 1.0)]
    assert len(later) > 100 and (later["outcome"] != "dropped").all()
    assert sim.vehicles[0].server.has_room()


@pytest.mark.parametrize("over, needle", [
    ({"workload.batch.model": "llama-3.2-3b-q4"}, "workload.batch.model = 'llama-3.2-3b-q4': allowed: ''"),
    ({"workload.interactive.model": "llama-3.1-70b-q4", "fleet.chip.serving": "batched"},
     "workload.interactive.model = 'llama-3.1-70b-q4' does not fit fleet.chip.preset = 'hw4': needs"),
])
def test_bad_class_models_exit_2_with_one_line(tmp_path, over, needle):
    args = [sys.executable, "-m", "sim.cli", "run", "--out", str(tmp_path / "out"), "--no-progress"]
    for k, v in over.items():
        args += ["--set", f"{k}={v}"]
    p = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 2
    assert needle in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
