"""Represented fleets against full runs, and a continental fleet's interval width.

``coverage`` (the default): for each of ``--seeds`` seeds, a full run of ``--full`` cars and a run of
``--cars`` cars with ``fleet.represents = --full`` and ``--replicates`` replicates; counts how often
the replicates' 95 % interval covers the full run's available power, grid energy, CO2 and tokens
served (the target: at least 85 % of 20 seeds at 20,000 represented by 2,000).

``continental``: ``--cars`` cars standing for ``--represents`` (10^8) with ``--replicates`` replicates
on ``--workers`` processes; prints the wall time and the interval's half-width of the mean available
power (the target: under 5 minutes and under 1 % of the value).

    python bench/validate_represented.py [coverage|continental] [options]
"""
from __future__ import annotations

import argparse
import time

from common import machine

from sim.runner import Simulation
from sim.scenario import default_scenario
from sim.studies.executors import make_executor
from sim.studies.replicates import run_replicates, summary_numbers

ESTIMATES = {"availability.available_gw": "availability.available_gw", "energy_kwh.grid_import":
             "energy_kwh.grid_import", "co2_kg.total": "co2_kg.total", "tokens.served": "represented.tokens_served"}


def _replicated(over: dict, workers: int) -> dict:
    sc = default_scenario().with_overrides({"report.figures": False, **over})
    sim = Simulation(sc)
    sim.execute()
    with make_executor(workers) as pool:
        return run_replicates(sc, sim, pool).summary


def coverage(args) -> None:
    covered = dict.fromkeys(ESTIMATES, 0)
    for seed in range(1, args.seeds + 1):
        t0 = time.perf_counter()
        sim = Simulation(default_scenario().with_overrides({"report.figures": False, "run.days": args.days,
                                                            "fleet.vehicles": args.full, "run.seed": seed}))
        sim.execute()
        full = summary_numbers(sim.results().summary)
        s = _replicated({"run.days": args.days, "fleet.vehicles": args.cars, "fleet.represents": args.full,
                         "run.seed": seed, "run.replicates": args.replicates}, args.workers)
        ci = {e["key"]: e for e in s["ci95"]}
        marks = []
        for full_key, key in ESTIMATES.items():
            inside = ci[key]["low"] <= full[full_key] <= ci[key]["high"]
            covered[full_key] += inside
            half = (ci[key]["high"] - ci[key]["low"]) / 2 / ci[key]["mean"]
            marks.append(f"{full_key} {'in' if inside else 'OUT'} (+-{half:.1%})")
        print(f"seed {seed}: {time.perf_counter() - t0:.0f} s; " + "; ".join(marks), flush=True)
    print("covered: " + ", ".join(f"{k} {n}/{args.seeds}" for k, n in covered.items()))


def continental(args) -> None:
    t0 = time.perf_counter()
    s = _replicated({"run.days": args.days, "fleet.vehicles": args.cars, "fleet.represents": args.represents,
                     "run.replicates": args.replicates}, args.workers)
    wall = time.perf_counter() - t0
    ci = {e["key"]: e for e in s["ci95"]}["availability.available_gw"]
    half = (ci["high"] - ci["low"]) / 2
    print(f"{args.cars:,} cars standing for {args.represents:,}, {args.replicates} replicates on {args.workers} "
          f"workers, {args.days:g} days: {wall:.0f} s wall; available {ci['mean']:.3f} GW +- {half:.3f} GW "
          f"({half / ci['mean']:.2%}); nameplate {s['availability']['nameplate_gw']:.1f} GW")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", nargs="?", default="coverage", choices=("coverage", "continental"))
    ap.add_argument("--full", type=int, default=20_000, help="cars of the full run (coverage)")
    ap.add_argument("--cars", type=int, default=None, help="simulated cars (default 2,000; continental 10,000)")
    ap.add_argument("--represents", type=int, default=100_000_000, help="represented cars (continental)")
    ap.add_argument("--replicates", type=int, default=None, help="replicates (default 5; continental 8)")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--days", type=float, default=1.0)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    cont = args.mode == "continental"
    args.cars = args.cars or (10_000 if cont else 2_000)
    args.replicates = args.replicates or (8 if cont else 5)
    print(machine())
    (continental if cont else coverage)(args)


if __name__ == "__main__":
    main()
