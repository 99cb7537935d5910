"""Jobs per wall-second, end to end: 1,000 always-available vehicles at 80 % load.

Mobility off, every owner opted in, every car plugged in at home at its charge limit, hw4 chips
(4 slots), Azure-conversation token sizes served at the chip's token rates, interactive Poisson
arrivals at 80 % of the slot capacity. Counts arrival, dispatch, service, energy and recording;
excludes building the fleet, assembling the results tables (reported apart) and writing files.
Repeats the run and reports the best and the median, since a shared virtual machine's speed
varies by tens of per cent from one second to the next.

    python bench/bench_jobs.py [--seconds 600] [--vehicles 1000] [--load 0.8] [--repeat 5] [--battery]
                               [--serving batched]

``--battery``: the cars have no home charger and serve from their batteries (from 90 % charge)
instead of from the grid at their charge limit: the other energy path of a slot change.

``--serving batched``: the chips batch (fleet.batching) the default model; the load is a share of
the chip's saturated throughput at its largest batch (:func:`fleet.roofline.saturated`).
"""
from __future__ import annotations

import argparse
import random
import statistics
import time

import simpy
from common import machine

from fleet import roofline
from fleet.chip import CHIP_PRESETS
from fleet.llm import MODEL_PRESETS
from fleet.workload import AZURE_CONV_2023_OUTPUT_DIST, AZURE_CONV_2023_PROMPT_DIST
from sim.runner import Simulation
from sim.scenario import Scenario, default_scenario


def bare_simpy_jobs_per_s(n_jobs: int, rate_per_s: float, service_s: float) -> float:
    """Jobs per wall-second of bare SimPy doing only each job's two timeouts (arrival, completion)."""
    env = simpy.Environment()
    rng = random.Random(1)
    left = [n_jobs]

    def done(_ev) -> None:
        pass

    def arrive(_ev) -> None:
        env.timeout(service_s).callbacks.append(done)
        left[0] -= 1
        if left[0] > 0:
            env.timeout(rng.expovariate(rate_per_s)).callbacks.append(arrive)

    env.timeout(0.0).callbacks.append(arrive)
    t0 = time.perf_counter()
    env.run()
    return n_jobs / (time.perf_counter() - t0)


def jobs_per_s_per_car(serving: str) -> float:
    """A car's capacity in Azure-conversation jobs per second: its slots over the mean service time,
    or (batched) its chip's saturated throughput at the largest batch over the mean output."""
    chip = CHIP_PRESETS["hw4"]
    prompt, out = AZURE_CONV_2023_PROMPT_DIST.mean_tokens, AZURE_CONV_2023_OUTPUT_DIST.mean_tokens
    if serving == "slots":
        return chip.slots / chip.service_s(prompt, out)
    model = MODEL_PRESETS[default_scenario()["fleet.model.preset"]]
    return roofline.saturated(chip, model, chip.max_batch, prompt, out, out)["tokens_per_s"] / out


def scenario(seconds: float, vehicles: int = 1000, load: float = 0.8, battery: bool = False,
             serving: str = "slots") -> Scenario:
    """The benchmark's scenario: ``vehicles`` always-available cars at ``load`` of their capacity for
    ``seconds`` (plugged in at their charge limit, or with ``battery`` unplugged and serving from the
    battery), with ``serving`` chips."""
    return default_scenario().with_overrides({
        "fleet.chip.serving": serving,
        "run.days": seconds / 86400.0,
        "fleet.vehicles": vehicles,
        "fleet.mobility": False, "fleet.network.enabled": False,
        "fleet.opt_in_share": 1.0,
        "fleet.initial_soc_min": 0.9,
        "fleet.initial_soc_max": 0.9,
        "workload.interactive.rate_per_s": load * vehicles * jobs_per_s_per_car(serving),
        "workload.interactive.diurnal": "flat",
        "workload.interactive.max_wait_s": 1e9,
        "workload.batch.rate_per_s": 0.0,
        "fleet.home_charger_share": 0.0 if battery else 1.0,
    })


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=600.0, help="simulated seconds")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--vehicles", type=int, default=1000)
    ap.add_argument("--load", type=float, default=0.8, help="offered load per slot")
    ap.add_argument("--battery", action="store_true", help="cars unplugged, serving from their batteries")
    ap.add_argument("--serving", choices=("slots", "batched"), default="slots", help="fleet.chip.serving")
    args = ap.parse_args()
    sc = scenario(args.seconds, args.vehicles, args.load, args.battery, args.serving)
    rate = sc["workload.interactive.rate_per_s"]
    servers = CHIP_PRESETS["hw4"].slots if args.serving == "slots" else 1  # per car
    mean_service_s = args.load * args.vehicles * servers / rate  # per slot, or (batched) per job at one car
    print(machine())
    rates, asm, ratios = [], [], []
    for _ in range(args.repeat):
        sim = Simulation(sc)
        t0 = time.perf_counter()
        sim.execute()
        t1 = time.perf_counter()
        s = sim.results().summary
        t2 = time.perf_counter()
        jobs = s["jobs"]["arrived"]
        rates.append(jobs / (t1 - t0))
        asm.append(t2 - t1)
        bare = bare_simpy_jobs_per_s(jobs, rate, mean_service_s)  # measured right after, same machine state
        ratios.append(bare / rates[-1])
        print(f"  jobs {jobs}, events {s['run']['events']}, simulate {t1 - t0:.2f} s "
              f"-> {jobs / (t1 - t0):,.0f} jobs/s; "
              f"results tables {t2 - t1:.2f} s; bare SimPy {bare:,.0f} jobs/s (ratio {ratios[-1]:.2f})")
    print(f"vehicles {args.vehicles}, simulated {args.seconds:g} s, arrival rate {rate:.1f}/s, "
          f"mean service {mean_service_s:.2f} s")
    print(f"jobs per wall-second: best {max(rates):,.0f}, median {statistics.median(rates):,.0f} "
          f"(results tables add {statistics.median(asm):.2f} s)")
    print(f"cost per job relative to bare SimPy's two events: median {statistics.median(ratios):.2f}x, "
          f"best {min(ratios):.2f}x")


if __name__ == "__main__":
    main()
