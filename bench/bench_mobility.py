"""Itinerary planning speed: wall milliseconds for one ``MobilityModel.plan_day`` of a whole fleet.

The built-in mobility parameters (NHTS 2022 calibration), a weekday, commuters drawn once. One
untimed warm-up day, then each repetition plans the next day (a new draw from the same model)
and is timed alone. Reports the best and the median, since a shared virtual machine's speed
varies by tens of per cent from one second to the next.

    python bench/bench_mobility.py [--vehicles 100000] [--repeat 5] [--weekend]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from common import machine

from fleet.mobility import MobilityModel, MobilityParams

DAY_S = 86400.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vehicles", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--weekend", action="store_true", help="plan a weekend day instead of a weekday")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    model = MobilityModel(MobilityParams(), np.random.default_rng(args.seed))
    commuter = model.draw_commuters(args.vehicles)
    model.plan_day(0.0, DAY_S, args.weekend, commuter)  # warm-up
    print(machine())
    times_ms, trips = [], []
    for day in range(1, args.repeat + 1):
        t0 = time.perf_counter()
        plan = model.plan_day(day * DAY_S, DAY_S, args.weekend, commuter)
        times_ms.append((time.perf_counter() - t0) * 1e3)
        trips.append(plan.depart_s.size)
        print(f"  day {day}: {trips[-1]:,} trips, {times_ms[-1]:.1f} ms")
    kind = "weekend" if args.weekend else "weekday"
    print(f"plan_day: {args.vehicles:,} vehicles, one {kind}, median {statistics.median(trips):,.0f} trips: "
          f"best {min(times_ms):.1f} ms, median {statistics.median(times_ms):.1f} ms")


if __name__ == "__main__":
    main()
