"""Instructions per simulated job, counted by valgrind (cachegrind): a speed figure immune to noise.

The wall-clock benchmarks on a shared virtual machine drift by tens of per cent; the number of
machine instructions the interpreter executes per job does not (with a fixed hash seed). This
script runs the jobs benchmark's scenario (1,000 always-available cars at 80 % load) for two
horizons under ``valgrind --tool=cachegrind`` and divides the difference in instructions by the
difference in jobs, so building the fleet and starting Python cancel out.

    python bench/count_instructions.py [--short 40] [--long 80] [--serving batched]   (needs valgrind; ~1 minute)
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys

RUN = """
import sys
from bench_jobs import scenario
from sim.runner import Simulation
sim = Simulation(scenario(float(sys.argv[1]), serving=sys.argv[2]))
sim.execute()
print("JOBS", sim.dispatcher.arrived)
"""


def count(seconds: float, serving: str = "slots") -> tuple[int, int]:
    """(instructions, jobs) of one run of ``seconds`` simulated seconds with ``serving`` chips."""
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": os.path.dirname(os.path.abspath(__file__))}
    proc = subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
         sys.executable, "-c", RUN, str(seconds), serving],
        capture_output=True, text=True, env=env, check=True)
    refs = re.search(r"I\s+refs:\s+([\d,]+)", proc.stderr)
    jobs = re.search(r"JOBS (\d+)", proc.stdout)
    return int(refs.group(1).replace(",", "")), int(jobs.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--short", type=float, default=40.0, help="simulated seconds of the short run")
    ap.add_argument("--long", type=float, default=80.0, help="simulated seconds of the long run")
    ap.add_argument("--serving", choices=("slots", "batched"), default="slots", help="fleet.chip.serving")
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("count_instructions: valgrind is not installed")
    i0, j0 = count(args.short, args.serving)
    i1, j1 = count(args.long, args.serving)
    print(f"{(i1 - i0) / (j1 - j0):,.0f} instructions per job ({j1 - j0:,} jobs between the two runs)")


if __name__ == "__main__":
    main()
