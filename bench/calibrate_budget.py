"""Calibrate and check the resource budget (``sim/budget.py``): peak resident memory per unit.

Each configuration runs in a fresh child process exactly as ``fleetsim run`` does (build the
simulation, run it, assemble the results, write the results folder, with or without the report)
and reports its peak resident set size (``VmHWM``), its counts and the size of its results
folder. The per-unit costs (bytes per car, car-day, robotaxi-day, job, time-series cell,
demand-charge interval, trace row; plus a constant) are then fitted by non-negative least squares
on the relative error, against the counts ``sim.budget.estimate_run`` computes (``Estimate.units``),
first without the report and then, with those fixed, the costs the report changes. The script
prints the fit next to the constants in ``sim/budget.py``, then checks the estimate against the
measured peak for the built-in scenario, a 10x fleet and some examples (required: within a
factor of 2 for the first two). The sweep-point and tune-trial costs are measured with
``tracemalloc``.

    python bench/calibrate_budget.py [--quick] [--skip-fit] [--skip-check]

Run from the repository root after ``pip install -e .``; figures in ``bench/BENCHMARKS.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
NO_WORK = {"workload.interactive.rate_per_s": 0.0, "workload.batch.rate_per_s": 0.0}
TAXI_DEPOT = {"fleet.robotaxi.depot.stalls": 400, "fleet.robotaxi.depot.cap_w": 1e8}


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss() -> int:
    """This process's peak resident set size (VmHWM). Not ``ru_maxrss``: on Linux that keeps the
    parent's peak across fork and exec, so a child never reports less than its parent had."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child(spec: dict) -> dict:
    """One configuration, in this (fresh) process: the whole ``fleetsim run`` path."""
    from sim.results import write_results
    from sim.runner import Simulation
    from sim.scenario import default_scenario, load_scenario

    base = load_scenario(spec["file"]) if spec.get("file") else default_scenario()
    sc = base.with_overrides(spec.get("set", {}))
    rss0 = _rss()
    t0 = time.perf_counter()
    sim = Simulation(sc)
    sim.execute()
    results = sim.results()
    draw = None
    if spec.get("report"):
        from reports import build_report

        draw = build_report
    with tempfile.TemporaryDirectory() as tmp:
        out = write_results(results, Path(tmp) / "out", before_publish=draw)
        size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    return {"peak": _peak_rss(), "rss0": rss0,
            "events": sim.events, "jobs": len(results.jobs), "samples": len(results.timeseries),
            "out": size, "wall_s": time.perf_counter() - t0}


def measure(spec: dict) -> dict:
    """Run ``spec`` in a child process; add the budget's estimate."""
    from sim.budget import estimate_run
    from sim.scenario import default_scenario, load_scenario

    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True,
                          cwd=ROOT, check=False)
    if proc.returncode:
        raise SystemExit(f"child failed for {spec}:\n{proc.stderr}")
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    base = load_scenario(spec["file"]) if spec.get("file") else default_scenario()
    est = estimate_run(base.with_overrides(spec.get("set", {})), report=bool(spec.get("report")))
    got.update(spec=spec, estimate=est)
    return got


def _trace_file(rows: int, folder: Path) -> str:
    """A synthetic Azure-format trace of ``rows`` rows, 10 requests/s."""
    path = folder / f"trace_{rows}.csv"
    if not path.exists():
        rng = np.random.default_rng(1)
        t = np.cumsum(rng.exponential(0.1, rows))
        lines = ["TIMESTAMP,ContextTokens,GeneratedTokens"]
        for x, p, o in zip(t, rng.integers(10, 2000, rows), rng.integers(1, 500, rows)):
            s = int(x)
            lines.append(f"2023-11-16 {s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}.{int((x - s) * 1e7):07d},{p},{o}")
        path.write_text("\n".join(lines) + "\n")
    return str(path)


def _tariff_1s(folder: Path) -> str:
    """PG&E B-10 with its demand charge metered every second (the tariff loader's finest interval)."""
    import tomli_w

    from grid.tariff import PGE_B10
    from grid.tariff_file import tariff_to_dict

    data = tariff_to_dict(PGE_B10)
    for c in data["demand_charges"]:
        c["interval_s"] = 1.0
    path = folder / "b10_1s.toml"
    path.write_text(tomli_w.dumps(data))
    return str(path)


def fit_configs(folder: Path, quick: bool) -> tuple[list[dict], list[dict]]:
    """Configurations that vary one count at a time (without, and with the report)."""
    tariff, trace = _tariff_1s(folder), _trace_file(200_000 if quick else 500_000, folder)
    taxis = {**NO_WORK, **TAXI_DEPOT, "fleet.vehicles": 100}
    plain = [
        {**NO_WORK, "run.days": 1, "fleet.vehicles": 2_000},
        {**NO_WORK, "run.days": 1, "fleet.vehicles": 10_000},
        {**NO_WORK, "run.days": 1, "fleet.vehicles": 30_000},
        {**NO_WORK, "run.days": 10, "fleet.vehicles": 10_000},
        {**taxis, "run.days": 1, "fleet.robotaxi.vehicles": 2_000},
        {**taxis, "run.days": 3, "fleet.robotaxi.vehicles": 2_000},
        {"run.days": 1, "workload.interactive.rate_per_s": 2.0, "workload.batch.rate_per_s": 0.0},
        {"run.days": 1, "workload.interactive.rate_per_s": 6.0, "workload.batch.rate_per_s": 0.0},
        {"run.days": 3, "workload.interactive.rate_per_s": 1.0, "workload.batch.rate_per_s": 1.0},
        {**NO_WORK, "run.days": 1, "fleet.vehicles": 100, "run.sample_interval_s": 4.0},
        {**NO_WORK, "run.days": 1, "fleet.vehicles": 100, "run.sample_interval_s": 1.0},
        {**NO_WORK, "run.days": 2, "fleet.vehicles": 10, "fleet.robotaxi.vehicles": 10,
         "fleet.robotaxi.depot.stalls": 2, "fleet.robotaxi.depot.cap_w": 1e6, "fleet.robotaxi.depot.tariff": tariff},
        {**NO_WORK, "run.days": 8, "fleet.vehicles": 10, "fleet.robotaxi.vehicles": 10,
         "fleet.robotaxi.depot.stalls": 2, "fleet.robotaxi.depot.cap_w": 1e6, "fleet.robotaxi.depot.tariff": tariff},
        {**NO_WORK, "run.days": 1, "fleet.vehicles": 100, "workload.trace": trace,
         "workload.trace_start_offset_s": 86399.9},
    ]
    report = [
        {**NO_WORK, "run.days": 1, "fleet.vehicles": 30_000},
        {"run.days": 1, "workload.interactive.rate_per_s": 2.0, "workload.batch.rate_per_s": 0.0},
        {"run.days": 1, "workload.interactive.rate_per_s": 6.0, "workload.batch.rate_per_s": 0.0},
        {**NO_WORK, "run.days": 1, "fleet.vehicles": 100, "run.sample_interval_s": 8.0},
        {**NO_WORK, "run.days": 1, "fleet.vehicles": 100, "run.sample_interval_s": 3.0},
    ]
    if quick:
        plain = [plain[i] for i in (0, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13)]
        report = report[1:]
    return [{"set": s} for s in plain], [{"set": s, "report": True} for s in report]


def nnls_fit(rows: list[dict], names: list[str], fixed: dict[str, float]) -> tuple[float, dict[str, float]]:
    """Constant + cost per unit for ``names`` (non-negative), the ``fixed`` costs subtracted first;
    least squares on the relative error."""
    from scipy.optimize import nnls

    a = np.array([[1.0] + [r["estimate"].units[n] for n in names] for r in rows])
    y = np.array([r["peak"] - sum(c * r["estimate"].units[n] for n, c in fixed.items()) for r in rows], dtype=float)
    w = 1.0 / np.array([r["peak"] for r in rows], dtype=float)
    x, _ = nnls(a * w[:, None], y * w)
    return float(x[0]), dict(zip(names, (float(v) for v in x[1:])))


def show(rows: list[dict], predict) -> None:
    print(f"  {'configuration':<86} {'peak MiB':>9} {'fit MiB':>8} {'ratio':>6}")
    for r in rows:
        p = predict(r)
        label = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in r["spec"]["set"].items()
                          if k not in ("workload.trace", "fleet.robotaxi.depot.tariff"))
        print(f"  {label[:86]:<86} {r['peak'] / 2**20:9.1f} {p / 2**20:8.1f} {p / r['peak']:6.2f}")


def fit(quick: bool) -> None:
    from sim import budget

    with tempfile.TemporaryDirectory() as tmp:
        plain, report = fit_configs(Path(tmp), quick)
        print(f"fit: {len(plain)} configurations without the report, {len(report)} with it")
        rows = [measure(s) for s in plain]
        names = ["cars", "car_days", "taxi_days", "jobs", "cells", "demand_intervals", "trace_rows"]
        fixed = {n: budget.MEMORY_PER_UNIT[n] for n in ("live_jobs", "home_meters")}
        const, costs = nnls_fit(rows, names, fixed)
        print(f"  base (constant): {const / 2**20:.1f} MiB   [sim/budget.py: {budget.BASE_BYTES / 2**20:.1f} MiB]")
        for n in names:
            print(f"  {n:<17} {costs[n]:10.1f} B   [sim/budget.py: {budget.MEMORY_PER_UNIT[n]:g}]")
        show(rows, lambda r: const + sum(c * r["estimate"].units[n] for n, c in {**costs, **fixed}.items()))
        rows_r = [measure(s) for s in report]
        names_r = ["cars", "jobs", "cells"]
        fixed_r = {**fixed, **{n: costs[n] for n in names if n not in names_r}}
        const_r, costs_r = nnls_fit(rows_r, names_r, fixed_r)
        print(f"  with the report: base {const_r / 2**20:.1f} MiB   [sim/budget.py: "
              f"{budget.BASE_REPORT_BYTES / 2**20:.1f} MiB]")
        for n in names_r:
            print(f"  {n:<17} {costs_r[n]:10.1f} B   [sim/budget.py: {budget.MEMORY_PER_UNIT_REPORT[n]:g}]")
        show(rows_r, lambda r: const_r + sum(c * r["estimate"].units[n] for n, c in {**fixed_r, **costs_r}.items()))
        print("  results folder, bytes per unit (jobs.csv per job, vehicles.csv per car, timeseries.csv per sample):")
        for r in rows:
            e = r["estimate"]
            print(f"    measured {r['out'] / 2**20:8.2f} MiB, estimated {e.output_bytes / 2**20:8.2f} MiB; "
                  f"events {r['events']:>10,} measured, {e.events:>12,.0f} estimated")


def check() -> bool:
    """The estimate against the measured peak: built-in scenario, 10x fleet (required within 2x), examples."""
    cases = [
        ("built-in scenario, report", {"report": True}, True),
        ("built-in scenario, no report", {}, True),
        ("10x fleet (10,000 cars), report", {"set": {"fleet.vehicles": 10_000}, "report": True}, True),
        ("10x fleet (10,000 cars), no report", {"set": {"fleet.vehicles": 10_000}}, True),
        ("examples/robotaxi_depot.toml, report", {"file": "examples/robotaxi_depot.toml", "report": True}, False),
        ("examples/azure_replay.toml, report", {"file": "examples/azure_replay.toml", "report": True}, False),
        ("examples/future_chip_million.toml, report", {"file": "examples/future_chip_million.toml",
                                                       "report": True}, False),
    ]
    ok = True
    print(f"  {'case':<44} {'peak MiB':>9} {'estimate MiB':>13} {'ratio':>6} {'disk MiB':>9} {'est. MiB':>9} "
          f"{'events':>11} {'estimated':>11}")
    for label, spec, required in cases:
        if spec.get("file") and not (ROOT / spec["file"]).exists():
            continue
        r = measure(spec)
        e = r["estimate"]
        ratio = e.memory_bytes / r["peak"]
        good = 0.5 <= ratio <= 2.0
        ok &= good or not required
        print(f"  {label:<44} {r['peak'] / 2**20:9.1f} {e.memory_bytes / 2**20:13.1f} {ratio:6.2f} "
              f"{r['out'] / 2**20:9.1f} {e.output_bytes / 2**20:9.1f} {r['events']:>11,} {e.events:>11,.0f}"
              f"{'' if good else '  (outside 2x)'}")
    return ok


def sweep_and_tune_costs() -> None:
    """Bytes per sweep point held (Point + result) and per Optuna trial, by tracemalloc."""
    import tracemalloc

    from sim.studies.sweep_file import read_sweep
    from sim.studies.sweep_point import run_point, summary_leaves

    n = 400
    with tempfile.TemporaryDirectory() as tmp:
        values = ", ".join(repr(round(0.1 + 0.8 * i / n, 9)) for i in range(n))
        path = Path(tmp) / "s.toml"
        path.write_text(f'[set]\n"run.days" = 0.05\n[axes]\n"fleet.opt_in_share" = [{values}]\n')
        t0 = time.perf_counter()
        tracemalloc.start()
        spec = read_sweep(path)
        held = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        wall = time.perf_counter() - t0
        t0 = time.perf_counter()
        read_sweep(path)
        check_s = time.perf_counter() - t0
        pt = spec.points[0]
        run_point(pt.toml, str(Path(tmp) / "p"))
        text = (Path(tmp) / "p" / "summary.json").read_text()
        disk = sum(f.stat().st_size for f in (Path(tmp) / "p").iterdir())
        tracemalloc.start()
        results = [{"status": "ok", "id": pt.id, "metrics": summary_leaves(json.loads(text))} for _ in range(n)]
        per_result = tracemalloc.get_traced_memory()[0] / n
        tracemalloc.stop()
        del results
    print(f"  sweep: {held / n:,.0f} B per point held by read_sweep ({len(pt.toml):,} characters of TOML), "
          f"{per_result:,.0f} B per point result; checking {check_s / n * 1e3:.1f} ms per point "
          f"({wall / n * 1e3:.1f} ms traced); a tiny point writes {disk:,} B")
    try:
        import optuna
    except ImportError:
        print("  tune: optuna not installed")
        return
    from sim.studies.tune_output import TrialRecord

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    m = 2000
    tracemalloc.start()
    records = []
    for i in range(m):
        t = study.ask()
        ps = {k: t.suggest_float(k, 0.0, 5.0) for k in ("w_load", "w_carbon", "w_risk")}
        t.set_user_attr("constraints", [0.1, -0.2])
        study.tell(t, float(i))
        records.append(TrialRecord(i, ps, metrics={"a": 1.0, "b": 2.0, "c": 3.0}, objective=float(i)))
    per_trial = tracemalloc.get_traced_memory()[0] / m
    tracemalloc.stop()
    print(f"  tune: {per_trial:,.0f} B per trial (Optuna in-memory storage + the tune's record; 3 parameters)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="fewer and smaller fit configurations")
    ap.add_argument("--skip-fit", action="store_true", help="only check the estimate against measurements")
    ap.add_argument("--skip-check", action="store_true", help="only fit")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import machine

    print(machine())
    if not args.skip_fit:
        fit(args.quick)
        sweep_and_tune_costs()
    if not args.skip_check:
        print("check: estimate / measured peak resident memory")
        if not check():
            raise SystemExit("the estimate is outside a factor of 2 of the measured peak for a required case")


if __name__ == "__main__":
    main()
