"""Sweep throughput: points per wall-second with 1 and with N worker processes, and the speedup.

The sweep is the built-in scenario (1,000 cars) shortened to ``--days`` days, run for ``--points``
seeds (equal points, no axes, no figures), once serially (``workers = 1``: one worker process) and
once on a process pool of ``--workers`` spawned workers, each into a fresh sweep folder. Timed:
``run_sweep`` as a whole (checking the sweep file, starting and stopping the pool, running every
point, writing its results folder and the sweep's tables). The two runs' sweep.csv and
aggregate.csv must be byte-identical; the script says whether they are.

    python bench/bench_sweep.py [--points 8] [--days 1.5] [--workers 2]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from common import machine

from sim.studies.sweep import run_sweep


def timed_sweep(sweep: Path, out: Path, workers: int) -> float:
    """Wall seconds of one fresh sweep run."""
    t0 = time.perf_counter()
    tables = run_sweep(sweep, out, workers=workers, progress=False)
    wall = time.perf_counter() - t0
    if len(tables.failures):
        sys.exit(f"bench_sweep: {len(tables.failures)} points failed: {tables.failures['error'].iloc[0]}")
    return wall


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--points", type=int, default=8, help="points (seeds of the one configuration)")
    ap.add_argument("--days", type=float, default=1.5, help="simulated days per point")
    ap.add_argument("--workers", type=int, default=2, help="worker processes of the parallel run")
    args = ap.parse_args(argv)
    print(machine())
    with tempfile.TemporaryDirectory(prefix="bench_sweep.") as tmp:
        root = Path(tmp)
        sweep = root / "bench.toml"
        sweep.write_text(f'[sweep]\nname = "bench"\nseeds = {args.points}\nroot_seed = 1\n'
                         f'[set]\n"run.days" = {args.days}\n"report.figures" = false\n')
        walls = {}
        for workers in (1, args.workers):
            walls[workers] = timed_sweep(sweep, root / f"w{workers}", workers)
            print(f"{args.points} points x {args.days:g} days, {workers} worker(s): {walls[workers]:.1f} s wall, "
                  f"{args.points / walls[workers]:.3f} points/s ({walls[workers] / args.points:.2f} s per point)")
        same = all((root / "w1" / n).read_bytes() == (root / f"w{args.workers}" / n).read_bytes()
                   for n in ("sweep.csv", "aggregate.csv"))
    print(f"speedup with {args.workers} workers: {walls[1] / walls[args.workers]:.2f}x; "
          f"tables byte-identical: {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
