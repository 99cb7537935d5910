"""Parameter sweeps: many runs of one scenario over axes and seeds, resumable, on any executor.

``fleetsim sweep SWEEP.toml`` and :func:`run_sweep` run every point of a sweep file and write
its tables; :func:`load_sweep` reads them back.

**Sweep file** (TOML; every key optional)::

    [sweep]
    name = "policies"                     # default: the file's name; default folder results/sweep_<name>
    scenario = "../examples/default.toml" # base scenario, relative to this file; absent = built-in
    seeds = 3                             # replicates per configuration (1 to 10000; default 1)
    root_seed = 12345                     # numpy SeedSequence root (integer >= 0; default 0)
    combine = "product"                   # or "zip": value i of every axis (axes of equal length)
    metrics = ["jobs.slo_attainment", "co2_kg.total"]  # summary.json values; default: every number
    figures = false                       # draw each point's figures and report page (point_report)
    [set]                                 # fixed overrides of every point
    "run.days" = 1
    [axes]                                # the values of each axis, in order (first axis slowest)
    "dispatch.policy" = ["random", "power_of_d"]
    "fleet.vehicles" = [200, 400]

Keys in ``[set]`` and ``[axes]`` are scenario keys, quoted (``"fleet.vehicles"``) or as nested
tables; file paths in them (a trace, ``file.py:Class``) are relative to the sweep file.
``run.seed`` is not allowed there. Replicate i of every configuration gets the seed
``SeedSequence(root_seed).spawn(seeds)[i].generate_state(1)[0]``: the same seeds in every
configuration (common random numbers), unchanged by adding seeds or axis values. Every key and
value, every configuration and every policy is checked before anything runs; bad input is one
line naming the file, the key, the value and what is allowed (``fleetsim`` exits with status 2).
The default metrics are every number in summary.json except ``seed``, ``run.wall_s`` and
``run.decisions_per_wall_s``; a metric that is also an axis is left out. A metric name that is
not in summary.json stops the sweep at its first finished point.

**Sweep folder** (``OUT``; one sweep at a time per folder):

- ``points/<id>/``: each point's results folder (see ``fleetsim run``); ``id`` is the first 16
  hex digits of the SHA-256 of its resolved scenario (``scenario.toml``). A point whose folder
  holds ``summary.json`` is finished: a rerun reads it back instead of running it again. A
  failed point holds ``error.txt`` (one line: type and message) and ``error_traceback.txt``;
  a rerun retries it.
- ``sweep.json``: name, sweep file, base scenario, axes in order with their values, ``set``,
  the seeds, ``root_seed``, ``combine``, metrics, figures, and the numbers of configurations and points.
- ``sweep.csv``: one row per point in order: ``point``, ``config`` (hash of the scenario without
  ``run.seed``, shared by the replicates), ``replicate``, ``seed``, ``status`` (``ok``/``failed``),
  one column per axis (its dotted key), one per metric (its dotted path).
- ``aggregate.csv``: one row per configuration: ``config``, the axes, ``n`` (seeds that ran),
  and per metric ``<metric>.mean``, ``.std``, ``.ci95_low``, ``.ci95_high`` (Student's t over
  the seeds where the metric is defined, :mod:`sim.studies.stats`; NaN, an empty cell, with one seed).
- ``failures.csv``: ``point``, ``config``, ``seed``, the axes, ``error``.

Tables are written with fixed number formatting and rows in point order: serial and parallel
runs give byte-identical files. Points run on :func:`sim.studies.executors.make_executor`: a process
pool (also for one worker, so that a point that kills its process is recorded, not fatal), or
Dask (``scheduler``: ``"local"`` or an address; then ``workers`` is also the number of points in
flight, and the sweep folder must be on a file system the cluster's workers share, at the same
path). If a worker process dies (a crash, ``os._exit``, the
out-of-memory killer), the point it was running is recorded as failed and the sweep goes on in a
new pool (when several points were in flight, each is rerun alone to find the one that died).
"""
from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from sim.budget import Limits
from sim.core.errors import ScenarioError
from sim.core.inputs import show_path
from sim.publish import (
    FolderLock,
    check_out_path,
    is_empty_dir,
    is_owned,
    not_ours_error,
    read_marker,
    remove_stale,
    write_marker,
)
from sim.studies.executors import RecoveringPool, check_main_guard, make_executor
from sim.studies.sweep_file import Point, SweepSpec, read_sweep
from sim.studies.sweep_point import FAILED, OK, read_point, run_point, write_error
from sim.studies.sweep_tables import (
    AGGREGATE,
    FAILURES,
    META,
    POINTS,
    Result,
    check_metrics,
    choose_metrics,
    read_tables,
    write_meta,
    write_tables,
)

__all__ = ["SweepTables", "run_sweep", "load_sweep", "format_report"]

#: the sweep folder's own files (its marker lists them)
SWEEP_FILES = (META, POINTS, AGGREGATE, FAILURES)
#: a hidden sibling a point's writer makes in points/: .<id>.tmp.<pid>.<random>, .<id>.old..., .<id>.lock
_POINT_SIBLING = re.compile(r"\.([0-9a-f]+)\.(?:(?:tmp|old)\.\d+\.[A-Za-z0-9_]+|lock)")


@dataclass
class SweepTables:
    """A sweep's tables as DataFrames (the CSV files) and its sweep.json."""

    points: pd.DataFrame
    aggregate: pd.DataFrame
    failures: pd.DataFrame
    meta: dict[str, Any]
    #: of the call that returned it (run_sweep only): points ran, resumed, failed; wall seconds
    stats: dict[str, Any] = field(default_factory=dict)


def run_sweep(sweep_path: str | Path, out_dir: str | Path | None = None, workers: int = 1,
              scheduler: str | None = None, progress: bool = True, limits: Limits | None = None,
              point_report: Callable[[Path], Any] | None = None) -> SweepTables:
    """Run (or resume) the sweep file's points into ``out_dir`` (default results/sweep_<name>); return its tables.

    ``point_report(folder)`` draws each point's figures when the sweep file asks for them
    (``figures = true``; the command line passes :func:`reports.build_report`).

    ``progress`` shows a bar on stderr when it is a terminal. Raises ScenarioError on bad input
    before anything runs.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ScenarioError(f"--workers = {workers!r}: allowed: an integer >= 1")
    spec = read_sweep(sweep_path, limits=limits, out_dir=out_dir,  # refuses what cannot fit (sim.budget)
                      workers=workers if scheduler in (None, "local") else 0)
    if spec.figures and point_report is None:
        raise ScenarioError(f"{sweep_path}: figures = true: pass point_report=reports.build_report to "
                            "run_sweep to draw them (fleetsim sweep does)")
    out = check_out_path(Path(out_dir) if out_dir is not None else Path("results") / f"sweep_{spec.name}",
                         protect=[Path(sweep_path)])
    if scheduler in (None, "local"):
        check_main_guard()
    with FolderLock(out):
        return _run(spec, out, workers, scheduler, progress, point_report if spec.figures else None)


def _run(spec: SweepSpec, out: Path, workers: int, scheduler: str | None, progress: bool,
         draw: Callable[[Path], Any] | None) -> SweepTables:
    """Run the sweep's missing points into the folder ``out``, whose lock the caller holds."""
    points_dir = _prepare(out)
    write_meta(out, spec, None)
    results: list[Result | None] = [read_point(points_dir / pt.id) for pt in spec.points]
    todo = [pt for pt in spec.points if results[pt.index] is None]
    checked = _check_first(spec, results)
    t0 = time.perf_counter()
    bar = _Progress(spec, len(spec.points) - len(todo), progress)

    def record(pt: Point, result: Result) -> None:
        nonlocal checked
        results[pt.index] = result
        bar.finished(result["status"] == OK)
        if not checked:
            checked = _check_first(spec, [result])

    try:
        _execute(todo, points_dir, draw, workers, scheduler, record, bar)
    finally:
        bar.close()
    write_tables(out, spec, results, choose_metrics(spec, results))
    _mark(out)
    tables = load_sweep(out)
    failed = sum(1 for r in results if r is not None and r["status"] != OK)
    tables.stats = {"ran": len(todo), "resumed": len(spec.points) - len(todo), "failed": failed,
                    "wall_s": time.perf_counter() - t0, "out": str(out)}
    return tables


def load_sweep(out_dir: str | Path) -> SweepTables:
    """Read the tables of a sweep folder written by :func:`run_sweep`."""
    out = Path(out_dir)
    if not (out / META).is_file():
        raise FileNotFoundError(f"{out}: not a fleetsim sweep folder (no {META})")
    meta, points, aggregate, failures = read_tables(out)
    return SweepTables(points, aggregate, failures, meta)


def format_report(tables: SweepTables, limit: int = 20) -> str:
    """The end-of-sweep report: counts, where the tables are, and the failed points."""
    m, s = tables.meta, tables.stats
    lines = [f"sweep '{m['name']}': {m['points']} points ({m['configurations']} configurations x "
             f"{len(m['seeds'])} seeds): {s.get('ran', 0)} ran, {s.get('resumed', 0)} resumed, "
             f"{s.get('failed', 0)} failed; {s.get('wall_s', 0.0):.1f} s",
             f"  tables: {s.get('out', '?')}/{{sweep,aggregate,failures}}.csv"]
    f = tables.failures
    if len(f):
        axes = [a["key"] for a in m["axes"]]
        lines.append(f"  failed points ({len(f)}; their error.txt is in points/<point>/; rerun to retry):")
        for rec in f.head(limit).to_dict("records"):
            where = "".join(f"{k}={rec[k]}, " for k in axes)
            lines.append(f"    {rec['point']}  {where}seed {rec['seed']}: {rec['error']}")
        if len(f) > limit:
            lines.append(f"    ... and {len(f) - limit} more in failures.csv")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------- running
def _prepare(out: Path) -> Path:
    """Check and create the sweep folder with its marker; remove what killed writers of its points left.

    An existing folder is used only if it is empty or an earlier fleetsim sweep folder (its marker);
    anything else is refused with one line.
    """
    try:
        ours = not os.path.lexists(out) or is_empty_dir(out) or is_owned(out, "sweep", only_listed=False)
        points_dir = out / "points"
        if not ours or (os.path.lexists(points_dir) and (points_dir.is_symlink() or not points_dir.is_dir())):
            raise not_ours_error(out, "sweep")
        points_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ScenarioError(f"writing {show_path(out)}: {exc.strerror or exc}") from None
    if read_marker(out) is None:
        write_marker(out, "sweep", [])
    for name in sorted({m.group(1) for e in points_dir.iterdir() if (m := _POINT_SIBLING.fullmatch(e.name))}):
        remove_stale(points_dir / name)
    return points_dir


def _mark(out: Path) -> None:
    """List the sweep's own files in its marker (each points/<id>/ carries a results marker of its own)."""
    marker = read_marker(out)
    listed = set(marker["files"]) if marker else set()
    write_marker(out, "sweep", listed | {f for f in SWEEP_FILES if (out / f).is_file()})


def _check_first(spec: SweepSpec, results: list[Result | None]) -> bool:
    """Check the requested metrics against the first finished point among ``results``; True if there was one."""
    for r in results:
        if r is not None and r["status"] == OK:
            check_metrics(spec, r["metrics"])
            return True
    return False


def _execute(todo: list[Point], points_dir: Path, draw: Callable[[Path], Any] | None, workers: int,
             scheduler: str | None, record: Callable[[Point, Result], None], bar: _Progress) -> None:
    """Run ``todo``, each point in a worker process, at most ``workers`` in flight; go on when a worker dies.

    A point whose worker process dies is recorded as failed with :class:`sim.studies.executors.WorkerDied`
    (:class:`sim.studies.executors.RecoveringPool` finds it when several were in flight), and the hidden
    temporary folders left in ``points_dir`` by the processes of the broken pool are removed.
    """

    def submit(ex: Executor, pt: Point) -> Future:
        return ex.submit(run_point, pt.toml, str(points_dir / pt.id), draw)

    def settle(pt: Point, fut: Future) -> None:
        try:
            result = fut.result()
        except Exception as exc:
            result = {"status": FAILED, "id": pt.id, "error": write_error(points_dir / pt.id, exc)}
        record(pt, result)

    with RecoveringPool(lambda: make_executor(workers, scheduler), workers, wait=wait) as pool:
        pool.run(todo, submit, settle, noun="point", lost=lambda pt: remove_stale(points_dir / pt.id),
                 started=bar.started, stopped=bar.stopped)


class _Progress:
    """A tqdm bar over points with running, done and failed counts (shown only on a terminal)."""

    def __init__(self, spec: SweepSpec, resumed: int, enabled: bool) -> None:
        self.running, self.done, self.failed = 0, resumed, 0
        self.bar = tqdm(total=len(spec.points), initial=resumed, desc=f"sweep {spec.name}", unit="point",
                        disable=not (enabled and sys.stderr.isatty()), file=sys.stderr, dynamic_ncols=True)
        self._show()

    def started(self) -> None:
        self.running += 1
        self._show()

    def stopped(self) -> None:
        self.running -= 1
        self._show()

    def finished(self, ok: bool) -> None:
        if ok:
            self.done += 1
        else:
            self.failed += 1
        self._show()
        self.bar.update(1)

    def _show(self) -> None:
        self.bar.set_postfix({"running": self.running, "done": self.done, "failed": self.failed}, refresh=False)

    def close(self) -> None:
        self.bar.close()
