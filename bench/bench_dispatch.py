"""Dispatch decision cost: microseconds per decision for every registered policy at several fleet sizes.

For each fleet size N a simulation is built with mobility off, every owner opted in and every car
plugged in at home at its charge limit (all N cars online), no workload; the vehicles' processes are
started and the clock advanced by 1 ms, as ``Simulation.execute`` does, so every car is in the
free-slot index. The dispatcher then starts jobs on half the chip slots through ``submit`` (the
policy places them). Timed: M iterations of one ``submit`` of a new job (the policy's decision, the
job's start, the vehicle's re-indexing and the policy's update) plus the completion of the oldest
running job through the dispatcher's ``_on_complete`` (slot freed, job record, re-indexing, policy
update), so occupancy stays constant. Job objects are built before the timer starts, and the
completed jobs' events are taken off the event queue after it stops (the event loop's pop, untimed);
the simulation clock does not move during the loop. A second loop of M iterations times
``policy.select`` alone through a wrapper (the figure includes one timer call). A third loop is a
control: a random car's id read through the free-slot index, constant work whose growth with N is
the memory hierarchy's alone.

Sizes are measured interleaved: all sizes of one policy are built first, and each repetition
times its M decisions per size in 10 chunks, alternating between the sizes, so that the machine's
speed drifts touch every size alike. The garbage collector is set as ``Simulation.execute`` sets
it. Reported: the best and the median over the repetitions, and the ratio of the largest to the
smallest size: about 1 for O(1), a little more for O(log n) and cache misses, about N_max/N_min
for a scan of the fleet.

    python bench/bench_dispatch.py [--decisions 20000] [--sizes 1000,10000,100000] [--repeat 3]
                                   [--policies a,b] [--occupancy 0.5]
"""
from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections import deque
from heapq import heapify

from common import machine

from fleet.jobs import INTERACTIVE_CLASS, RUNNING, Job
from fleet.policies import policy_names
from fleet.workload import AZURE_CONV_2023_OUTPUT_DIST, AZURE_CONV_2023_PROMPT_DIST
from sim.runner import Simulation
from sim.scenario import default_scenario

PROMPT = round(AZURE_CONV_2023_PROMPT_DIST.mean_tokens)
OUTPUT = round(AZURE_CONV_2023_OUTPUT_DIST.mean_tokens)
ROUNDS = 10  # each repetition's decisions are timed in this many chunks, alternating between the sizes


class Bench:
    """One simulation of ``n`` online cars with a policy, at constant occupancy."""

    def __init__(self, policy: str, n: int, occupancy: float) -> None:
        sc = default_scenario().with_overrides({
            "run.days": 0.01,
            "fleet.vehicles": n,
            "fleet.mobility": False, "fleet.network.enabled": False,
            "fleet.opt_in_share": 1.0,
            "fleet.home_charger_share": 1.0,
            "fleet.initial_soc_min": 0.9,
            "fleet.initial_soc_max": 0.9,
            "workload.interactive.rate_per_s": 0.0,
            "workload.batch.rate_per_s": 0.0,
            "dispatch.policy": policy,
        })
        t0 = time.perf_counter()
        sim = self.sim = Simulation(sc)
        env = sim.env
        for v in sim.vehicles:  # as Simulation.execute starts them, without running the horizon
            env.process(v.run())
        env.run_until(1e-3)
        if sim.index.size != n:
            raise SystemExit(f"{policy}, N={n}: {sim.index.size} cars online with a free slot, expected {n}")
        self.n = n
        self.slots = n * sim.spec.chip.slots
        self.next_id = 0
        self.running: deque = deque()
        fill = round(occupancy * self.slots)
        for job in self.jobs(fill):
            sim.dispatcher.submit(job)
            self.running.append(job)
        d = sim.dispatcher
        if d.running != fill or d.queued[0] or d.queued[1]:
            raise SystemExit(f"{policy}, N={n}: {d.running} of {fill} fill jobs running, {d.queued} queued")
        self.build_s = time.perf_counter() - t0

    def jobs(self, m: int) -> list[Job]:
        """``m`` new interactive jobs arriving now (Azure-conversation mean sizes, no wait limit)."""
        now = self.sim.env.now
        first = self.next_id
        self.next_id += m
        return [Job(i, INTERACTIVE_CLASS, now, PROMPT, OUTPUT, 1e9, 1e9) for i in range(first, first + m)]

    def loop(self, m: int) -> float:
        """Wall seconds of ``m`` submit + complete-the-oldest pairs."""
        jobs = self.jobs(m)
        d = self.sim.dispatcher
        submit, complete = d.submit, d._on_complete
        running = self.running
        push, pop = running.append, running.popleft
        started, completed = d.started, d.completed
        t0 = time.perf_counter()
        for job in jobs:
            submit(job)
            push(job)
            complete(pop().run_event)
        dt = time.perf_counter() - t0
        self.drop_stale_events()
        if d.started - started != m or d.completed - completed != m or any(j.state != RUNNING for j in running):
            raise SystemExit(f"N={self.n}: a timed submit did not start or a completion did not complete")
        return dt

    def drop_stale_events(self) -> None:
        """Take the completion events of the jobs completed by hand off the event queue (untimed).

        In a run the event loop pops each completion event and drops it; here the completions are
        called directly, so without this the dead events would pile up on the heap, keep their
        jobs alive and make the collector's young-generation passes grow with the run.
        """
        queue = self.sim.env._queue  # a benchmark may reach into the engine; the package may not
        live = [e for e in queue
                if not (isinstance(getattr(e[3], "value", None), Job) and e[3].value.run_event is not e[3])]
        heapify(live)
        queue[:] = live

    def control_loop(self, m: int) -> float:
        """Wall seconds of ``m`` constant-work reads of a random car: ``FreeSlotIndex.uniform`` and its id.

        The code does the same work at every fleet size; its growth with N is the cost of memory
        (cache and TLB misses on a larger fleet), the floor under any policy that touches random cars.
        """
        uniform = self.sim.index.uniform
        rng = self.sim.dispatcher.policy.rng
        s = 0
        t0 = time.perf_counter()
        for _ in range(m):
            s += uniform(rng).vid
        dt = time.perf_counter() - t0
        if s < 0:
            raise SystemExit("negative vehicle id")
        return dt

    def select_loop(self, m: int) -> float:
        """Wall seconds spent inside ``policy.select`` during ``m`` submit + complete pairs."""
        policy = self.sim.dispatcher.policy
        inner = policy.select
        perf = time.perf_counter
        acc = [0.0]

        def timed_select(job):
            t = perf()
            v = inner(job)
            acc[0] += perf() - t
            return v

        policy.select = timed_select
        try:
            self.loop(m)
        finally:
            del policy.select
        return acc[0]


def timer_overhead_us(m: int = 200_000) -> float:
    """Cost of the select wrapper around a function that does nothing (us per call)."""
    perf = time.perf_counter
    acc = [0.0]

    def inner(job):
        return job

    def timed(job):
        t = perf()
        v = inner(job)
        acc[0] += perf() - t
        return v

    for i in range(m):
        timed(i)
    return acc[0] / m * 1e6


def fmt(xs: list[float]) -> str:
    return f"{statistics.median(xs):6.2f} ({min(xs):5.2f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--decisions", type=int, default=20_000, help="timed decisions per size and repetition")
    ap.add_argument("--sizes", default="1000,10000,100000", help="fleet sizes, comma-separated")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--policies", default="", help="comma-separated policy names (default: all registered)")
    ap.add_argument("--occupancy", type=float, default=0.5, help="share of chip slots busy during the loop")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    names = args.policies.split(",") if args.policies else policy_names()
    unknown = [p for p in names if p not in policy_names()]
    if unknown:
        raise SystemExit(f"unknown policies {unknown}; registered: {', '.join(policy_names())}")
    m = args.decisions
    chunks = [m // ROUNDS + (1 if i < m % ROUNDS else 0) for i in range(ROUNDS)]
    chunks = [c for c in chunks if c]
    print(machine())
    print(f"decisions {m:,} per size and repetition, repetitions {args.repeat}, occupancy {args.occupancy:.0%} "
          f"of slots, job {PROMPT}+{OUTPUT} tokens; select timer overhead {timer_overhead_us():.2f} us/call")
    print("us per decision: median (best); submit+complete is the end-to-end pair, select is policy.select alone")
    rows = []
    control = {n: [] for n in sizes}  # all policies' runs together
    for name in names:
        benches = [Bench(name, n, args.occupancy) for n in sizes]
        builds = ", ".join(f"{b.build_s:.1f}" for b in benches)
        pair = {n: [] for n in sizes}
        sel = {n: [] for n in sizes}
        for b in benches:  # warm-up, untimed
            b.loop(max(1, m // 10))
        gc.collect()
        gc.freeze()  # as Simulation.execute: the long-lived objects leave the collector's scans
        thresholds = gc.get_threshold()
        gc.set_threshold(100_000, 50, 100)
        try:
            for _ in range(args.repeat):
                t_pair = dict.fromkeys(sizes, 0.0)
                t_sel = dict.fromkeys(sizes, 0.0)
                t_ctl = dict.fromkeys(sizes, 0.0)
                for chunk in chunks:  # sizes alternate every chunk: a drift of the machine's speed hits all
                    for b in benches:
                        t_pair[b.n] += b.loop(chunk)
                    for b in benches:
                        t_sel[b.n] += b.select_loop(chunk)
                    for b in benches:
                        t_ctl[b.n] += b.control_loop(chunk)
                for n in sizes:
                    pair[n].append(t_pair[n] / m * 1e6)
                    sel[n].append(t_sel[n] / m * 1e6)
                    control[n].append(t_ctl[n] / m * 1e6)
        finally:
            gc.set_threshold(*thresholds)
            gc.unfreeze()
        lo, hi = sizes[0], sizes[-1]
        ratio_med = statistics.median(pair[hi]) / statistics.median(pair[lo])
        ratio_best = min(pair[hi]) / min(pair[lo])
        sel_ratio = statistics.median(sel[hi]) / statistics.median(sel[lo])
        print(f"{name:16s} submit+complete " + "  ".join(f"N={n}: {fmt(pair[n])}" for n in sizes)
              + f"  ratio {hi}/{lo}: median {ratio_med:.2f}, best {ratio_best:.2f}")
        print(f"{'':16s} select          " + "  ".join(f"N={n}: {fmt(sel[n])}" for n in sizes)
              + f"  ratio {hi}/{lo}: median {sel_ratio:.2f}   (build+fill s: {builds})")
        sys.stdout.flush()
        rows.append((name, pair, sel, ratio_med, ratio_best, sel_ratio))
        del benches
        gc.collect()
    lo, hi = sizes[0], sizes[-1]
    print("control, a random car's id read through the free-slot index (constant work): "
          + "  ".join(f"N={n}: {fmt(control[n])}" for n in sizes)
          + f"  ratio {hi}/{lo}: median {statistics.median(control[hi]) / statistics.median(control[lo]):.2f}")
    print()
    print("| policy | " + " | ".join(f"N = {n:,}" for n in sizes) + f" | ratio {hi:,}/{lo:,} (median, best) | "
          + " | ".join(f"select, N = {n:,}" for n in sizes) + " | select ratio |")
    print("|---|" + "---|" * (2 * len(sizes) + 2))
    for name, pair, sel, ratio_med, ratio_best, sel_ratio in rows:
        print(f"| {name} | " + " | ".join(f"{statistics.median(pair[n]):.2f} ({min(pair[n]):.2f})" for n in sizes)
              + f" | {ratio_med:.2f}, {ratio_best:.2f} | "
              + " | ".join(f"{statistics.median(sel[n]):.2f}" for n in sizes) + f" | {sel_ratio:.2f} |")

if __name__ == "__main__":
    main()
