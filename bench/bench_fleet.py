"""Fleet scale: 100,000 vehicles x 1 simulated day with batch work; memory per vehicle; and the
per-event cost relative to bare SimPy (one process per vehicle, timeouts only, same event count).

Timing covers the simulation (``Simulation.execute``); building the fleet and assembling the
results tables are reported apart. Memory per vehicle is measured in a second, traced run
(``tracemalloc``): the peak of everything the simulation allocates (vehicles, processes, events,
plans, meters, job records) divided by the number of vehicles.

    python bench/bench_fleet.py [--vehicles 100000] [--days 1] [--batch-rate 10] [--tariff pge_b10] [--no-memory]

``--tariff`` sets the household tariff (``grid.tariff``): one with demand charges (``pge_b10``) gives
every home with a charger its demand meter (grid/demand.py), so the run measures what metering costs.
"""
from __future__ import annotations

import argparse
import gc
import random
import time
import tracemalloc

import simpy
from common import machine

from sim.runner import Simulation
from sim.scenario import default_scenario


def bare_simpy(n_processes: int, events: int, horizon_s: float) -> float:
    """Wall seconds for ``n_processes`` SimPy processes making ``events`` timeouts in total."""
    env = simpy.Environment()
    per = max(1, events // n_processes)
    rng = random.Random(1)
    mean_gap = horizon_s / per

    def proc():
        for _ in range(per):
            yield env.timeout(rng.expovariate(1.0 / mean_gap))

    for _ in range(n_processes):
        env.process(proc())
    t0 = time.perf_counter()
    env.run()
    return time.perf_counter() - t0


def scenario(args):
    over = {
        "run.days": args.days,
        "fleet.vehicles": args.vehicles,
        "workload.interactive.rate_per_s": 0.0,
        "workload.batch.rate_per_s": args.batch_rate,
    }
    if args.tariff:
        over["grid.tariff"] = args.tariff
    return default_scenario().with_overrides(over)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vehicles", type=int, default=100_000)
    ap.add_argument("--days", type=float, default=1.0)
    ap.add_argument("--batch-rate", type=float, default=10.0, help="batch work units per second")
    ap.add_argument("--tariff", default="", help="household tariff, grid.tariff (default: the scenario's)")
    ap.add_argument("--no-memory", action="store_true", help="skip the traced memory run")
    args = ap.parse_args()
    print(machine())
    t0 = time.perf_counter()
    sim = Simulation(scenario(args))
    t1 = time.perf_counter()
    sim.execute()
    t2 = time.perf_counter()
    s = sim.results().summary
    t3 = time.perf_counter()
    events = s["run"]["events"]
    print(f"vehicles {args.vehicles}, days {args.days:g}, batch rate {args.batch_rate:g}/s: "
          f"build {t1 - t0:.1f} s, simulate {t2 - t1:.1f} s, results {t3 - t2:.1f} s, total {t3 - t0:.1f} s")
    print(f"trips {s['fleet']['trips']}, jobs {s['jobs']['arrived']}, utilization {s['utilization']['mean']:.3f}, "
          f"events {events}")
    del sim
    gc.collect()
    bare = bare_simpy(args.vehicles, events, args.days * 86400.0)
    ours_us = (t2 - t1) / events * 1e6
    bare_us = bare / events * 1e6
    print(f"per event: fleetsim {ours_us:.2f} us, bare SimPy {bare_us:.2f} us, ratio {ours_us / bare_us:.2f}")
    if not args.no_memory:
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        sim = Simulation(scenario(args))
        sim.execute()
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        jobs = len(sim.log)
        print(f"memory: peak {(peak - base) / 2**20:.0f} MiB = {(peak - base) / args.vehicles / 1024:.2f} KiB per "
              f"vehicle (all simulation state incl. {jobs} job records); at the end "
              f"{(current - base) / args.vehicles / 1024:.2f} KiB per vehicle")


if __name__ == "__main__":
    main()
