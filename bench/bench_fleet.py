"""Fleet scale: 100,000 vehicles x 1 simulated day with batch work; memory per vehicle; and the
per-event cost relative to bare SimPy (one process per vehicle, timeouts only, same event count).

    python bench/bench_fleet.py [--vehicles 100000] [--days 1] [--batch-rate 10]
"""
from __future__ import annotations

import argparse
import gc
import random
import time

import simpy
from common import machine, rss_mb

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vehicles", type=int, default=100_000)
    ap.add_argument("--days", type=float, default=1.0)
    ap.add_argument("--batch-rate", type=float, default=10.0, help="batch work units per second")
    args = ap.parse_args()
    sc = default_scenario().with_overrides({
        "run.days": args.days,
        "fleet.vehicles": args.vehicles,
        "workload.interactive.rate_per_s": 0.0,
        "workload.batch.rate_per_s": args.batch_rate,
    })
    gc.collect()
    rss0 = rss_mb()
    t0 = time.perf_counter()
    sim = Simulation(sc)
    t1 = time.perf_counter()
    res = sim.run()
    t2 = time.perf_counter()
    rss1 = rss_mb()
    s = res.summary
    events = s["run"]["events"]
    per_vehicle_kb = (rss1 - rss0) * 1024 / args.vehicles
    del sim, res
    gc.collect()
    bare = bare_simpy(args.vehicles, events, args.days * 86400.0)
    ours_us = (t2 - t1) / events * 1e6
    bare_us = bare / events * 1e6
    print(machine())
    print(f"vehicles {args.vehicles}, days {args.days:g}, batch rate {args.batch_rate:g}/s: "
          f"build {t1 - t0:.1f} s, run {t2 - t1:.1f} s, total {t2 - t0:.1f} s")
    print(f"trips {s['fleet']['trips']}, jobs {s['jobs']['arrived']}, utilization {s['utilization']['mean']:.3f}, "
          f"events {events}")
    print(f"memory: RSS grew {rss1 - rss0:.0f} MiB = {per_vehicle_kb:.2f} KiB per vehicle")
    print(f"per event: fleetsim {ours_us:.2f} us, bare SimPy {bare_us:.2f} us, ratio {ours_us / bare_us:.2f}")


if __name__ == "__main__":
    main()
