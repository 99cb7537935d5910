"""Bytecodes executed per simulated job, by function: where the job path's time goes.

Runs the jobs benchmark's scenario (1,000 always-available cars at 80 % load) for two horizons
under ``sys.settrace`` with opcode events and divides the difference in bytecodes by the
difference in jobs, per function, so building the fleet cancels out. Deterministic; slow (the
tracer runs for every bytecode: ~1 minute).

    python bench/count_opcodes.py [--short 20] [--long 40] [--top 15] [--serving batched]
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter

from bench_jobs import scenario

from sim.runner import Simulation


def count(seconds: float, serving: str = "slots") -> tuple[Counter, int]:
    """(bytecodes per (file, function), jobs) of one traced run of ``seconds`` simulated seconds
    with ``serving`` chips (fleet.chip.serving)."""
    sim = Simulation(scenario(seconds, serving=serving))
    counts: Counter = Counter()

    def tracer(frame, event, arg):
        frame.f_trace_opcodes = True
        if event == "opcode":
            code = frame.f_code
            counts[(code.co_filename.rsplit("/", 1)[-1], code.co_name)] += 1
        return tracer

    sys.settrace(tracer)
    try:
        sim.execute()
    finally:
        sys.settrace(None)
    return counts, sim.dispatcher.arrived


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--short", type=float, default=20.0, help="simulated seconds of the short run")
    ap.add_argument("--long", type=float, default=40.0, help="simulated seconds of the long run")
    ap.add_argument("--top", type=int, default=15, help="functions to list")
    ap.add_argument("--serving", choices=("slots", "batched"), default="slots", help="fleet.chip.serving")
    args = ap.parse_args()
    c0, j0 = count(args.short, args.serving)
    c1, j1 = count(args.long, args.serving)
    jobs = j1 - j0
    per_job = {k: (c1[k] - c0[k]) / jobs for k in c1.keys() | c0.keys()}
    print(f"{sum(per_job.values()):,.0f} bytecodes per job ({jobs:,} jobs between the two runs)")
    for (file, name), n in sorted(per_job.items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"{n:8.1f}  {file}:{name}")


if __name__ == "__main__":
    main()
