"""Resource budget: estimate what a run, a sweep or a tune needs, and refuse it before it starts.

A run that cannot fit used to end in a ``MemoryError`` traceback after minutes (``fleet.vehicles =
100000000``, ``workload.interactive.rate_per_s = 1e7``, a demand charge metered every nanosecond,
``run.days = 3660`` sampled every second), or to hang while a sweep of 100,000 points was being
checked. Here each is estimated from the scenario's keys alone, in microseconds, before anything
is built, and refused with one line (:class:`sim.core.errors.ScenarioError`, exit status 2) naming the
key that drives the estimate, its value, the estimate and what is available.

**The estimate** (:func:`estimate_run`) is a sum of terms, each a count times a cost per unit
measured on this code (``python bench/calibrate_budget.py``; figures and fit in
``bench/BENCHMARKS.md``, section "Resource budget"):

- vehicles: per-car state (the car, its SimPy process, grid meter, planner rows, the row of
  ``vehicles.csv``) and per car-day (itinerary records; robotaxis make ~10x more trips);
- jobs: expected arrivals, the sum over classes of rate x horizon (the diurnal profile has mean 1);
  for a trace, its rows inside the horizon (the whole trace, repeated to fill the run with
  ``workload.trace_loop``). A job costs its record in the job log and its rows in the results
  tables (and again in the report, which reads ``jobs.csv`` back); jobs still queued at once
  (rate x maximum wait, an overload's bound) cost a live ``Job`` each;
- time-series samples: horizon / ``run.sample_interval_s`` rows of the time series' columns;
- demand-charge intervals: horizon / ``interval_s`` per demand charge of the depot's tariff,
  every one of which is materialised when the demand charges are billed;
- trace rows: the trace file is read whole (text, lines, arrays) before the run.

Memory is peak resident memory, interpreter and libraries included; disk is the results folder
(mostly ``jobs.csv``, ``vehicles.csv`` and ``timeseries.csv``); work is the number of simulation
events (~10 microseconds each: 10^11 events are about two weeks of computing).

**The checks** refuse, unless ``Limits.force``: memory above ``Limits.max_memory_bytes`` (default:
the memory available now, :func:`available_memory_bytes`); results larger than the free space of
the output folder's file system; more than :data:`MAX_EVENTS` simulation events; a sweep of more
than :data:`MAX_SWEEP_POINTS` points (its checks alone take milliseconds per point); a tune whose
trials Optuna could not hold in memory.
"""
from __future__ import annotations

import math
import os
import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from fleet import channels as ch
from sim.core.errors import FleetsimInputError, ScenarioError
from sim.core.inputs import check_data_file, quote
from sim.settings import DEFAULT_RATE_PER_S_PER_1000_VEHICLES, class_rate_per_s

DAY_S = 86400.0

# ------------------------------------------------------------------------- calibrated costs
# Bytes of peak resident memory per unit, fitted by bench/calibrate_budget.py on CPython 3.11
# (figures and fit in bench/BENCHMARKS.md, "Resource budget"). "_REPORT" variants apply when the
# figures and report page are drawn (the report reads jobs.csv and timeseries.csv back while the
# run's own tables are still held).
BASE_BYTES = 80 * 2**20  # interpreter, numpy, pandas, simpy and fleetsim imported (fit: 80.4 MiB)
BASE_REPORT_BYTES = 111 * 2**20  # the same plus matplotlib and the report (fit: 111.0 MiB)
#: bytes per unit, without the report (see :func:`estimate_run` for the units)
MEMORY_PER_UNIT: dict[str, float] = {
    "cars": 3_600,  # per simulated car: state, process, meter, index entries, vehicles table (fit: 3,616)
    "car_days": 45,  # per car-day: a day's plans are freed once every car has left it (fit: 44.8)
    "taxi_days": 2_700,  # per robotaxi-day: ~23 rides and the depot's draw trace (fit: 2,708)
    "jobs": 680,  # per job: job-log record, results tables and their temporaries (fit: 677)
    "live_jobs": 900,  # per job queued or running at once (rate x maximum wait: an overload's bound)
    "cells": 63,  # per time-series cell, samples x columns (fit: 62.5)
    "demand_intervals": 136,  # per demand-charge interval: starts, energies, hours, months (fit: 135.5)
    "trace_rows": 200,  # per trace row while the file is read: bytes, text, lines, arrays (fit: 197)
    # per home demand meter (a household tariff with demand charges; not fitted: 568 B measured with
    # tracemalloc for one charge over a week, grid/demand.py, plus the month peaks of longer runs)
    "home_meters": 600,
}
#: bytes per unit that differ when the report is drawn: it reads vehicles.csv, jobs.csv and
#: timeseries.csv back while the run's own tables are held, and plots every sample
MEMORY_PER_UNIT_REPORT: dict[str, float] = {**MEMORY_PER_UNIT, "cars": 3_900, "jobs": 990, "cells": 824}

# Bytes on disk per unit (CSV rows as written; figures and report page about 1 MB).
OUT_FIXED_BYTES = 40_000
OUT_REPORT_BYTES = 1_000_000
OUT_JOB_BYTES = 250
#: how much smaller each table format writes than CSV: the built-in run's one-day job table, 28.7 MB
#: of CSV, is 7.8 MB gzipped and 7.6 MB of zstd Parquet (3.7x and 3.8x); vehicles shrink less (taken 3x)
TABLE_SHRINK = {"csv": 1.0, "csv.gz": 3.0, "parquet": 3.0}
OUT_CAR_BYTES = 305
OUT_SAMPLE_BYTES = 430

# Simulation events per unit (scheduled events and arrivals fed, as summary.json's run.events).
EVENTS_PER_CAR = 4.6
EVENTS_PER_CAR_DAY = 6.9
EVENTS_PER_TAXI_DAY = 50.0
EVENTS_PER_JOB = 2.1

#: events simulated per wall second, for the time a refused run would have taken
EVENTS_PER_WALL_S = 100_000.0
#: most simulation events a run may have without --force (~12 days at 10^5 events/s)
MAX_EVENTS = 1e11

# Sweeps and tunes.
#: most points a sweep may have without --force: checking and expanding take ~2-4 ms per point
#: before anything runs, and even the smallest point runs for ~0.3 s and writes ~0.3 MB
MAX_SWEEP_POINTS = 10_000
#: per sweep point held by the sweep's own process: the point (resolved scenario TOML, ~2.8 kB,
#: and its hashes) and its result (~170 summary numbers by name)
POINT_BYTES = 30_000
#: per tune trial held in memory: Optuna's trial (parameters, distributions, values, attributes)
#: and the tune's own record of it
TRIAL_BYTES = 3_000
#: per trial on disk (a row of trials.csv)
OUT_TRIAL_BYTES = 400
#: most trials x seeds a tune may run without --force (its runs alone take ~0.3 s each)
MAX_TUNE_RUNS = 1_000_000


class ScenarioLike(Protocol):
    """What the estimate reads: a resolved scenario's values by dotted key."""

    def __getitem__(self, key: str) -> Any: ...


@dataclass(frozen=True)
class Limits:
    """What the user allows: a memory ceiling (None: the memory available now), and ``force``."""

    max_memory_bytes: int | None = None
    force: bool = False


@dataclass(frozen=True)
class Term:
    """One term of an estimate: a count of units and what they cost.

    ``drivers`` are the scenario keys and values behind the count, the most decisive first (the
    key furthest above its default); ``what`` says what the count counts ("2.6e+12 jobs").
    """

    name: str
    count: float
    memory_bytes: float
    events: float
    output_bytes: float
    drivers: tuple[tuple[str, Any], ...]
    what: str
    advice: str = "lower it"


@dataclass(frozen=True)
class Estimate:
    """What one run needs: memory, events, arrivals, samples, demand intervals and disk.

    ``drivers`` are the scenario keys and values that drive the largest memory term, the most
    decisive first; ``terms`` holds every term for the other resources' messages.
    """

    memory_bytes: int
    events: float
    jobs: float
    samples: float
    demand_intervals: float
    output_bytes: int
    drivers: tuple[tuple[str, Any], ...]
    terms: tuple[Term, ...] = field(default=(), repr=False)
    units: Mapping[str, float] = field(default_factory=dict, repr=False)

    def largest(self, resource: str) -> Term | None:
        """The term that needs the most of ``resource`` ("memory_bytes", "events", "output_bytes")."""
        return max(self.terms, key=lambda t: getattr(t, resource), default=None)

    def describe(self) -> str:
        """One line: 'about 362 MiB of memory, 62 MiB of results, 5.5e+05 events'."""
        return (f"about {format_size(self.memory_bytes)} of memory, {format_size(self.output_bytes)} of results, "
                f"{format_count(self.events)} events")


# ------------------------------------------------------------------------------ sizes, text
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([kmgtpe]?)(i?b?)\s*$", re.IGNORECASE)
SIZE_ALLOWED = "a size such as 4G, 512M, 1.5GiB or 2000000000 (bytes; K, M, G, T, P are powers of 1024)"


def parse_size(text: str | int) -> int:
    """Bytes from a ``--max-memory`` value: '4G', '512M', '1.5GiB', '2000000000', '64KB'.

    Units K, M, G, T, P, E (with or without a trailing 'B' or 'iB', any case) are powers of 1024;
    a bare number is bytes. Raises a one-line :class:`ScenarioError` naming --max-memory.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        text = str(text)
    m = _SIZE.match(text) if isinstance(text, str) else None
    if m is None or (not m[2] and m[3].lower() not in ("", "b")):
        raise ScenarioError(f"--max-memory = {quote(text)}: allowed: {SIZE_ALLOWED}")
    value = float(m[1]) * 1024 ** " kmgtpe".index(m[2].lower() or " ")
    if not math.isfinite(value) or value < 1:
        raise ScenarioError(f"--max-memory = {quote(text)}: allowed: {SIZE_ALLOWED}, at least 1 byte")
    return int(value)


def format_size(n: float) -> str:
    """'182 GiB', '21.3 GiB', '512 B' (binary units, three significant digits)."""
    n = float(n)
    i = 0
    while abs(n) >= 1024 and i < len(_UNITS) - 1:
        n /= 1024
        i += 1
    return f"{n:.3g} {_UNITS[i]}" if i else f"{n:.0f} B"


def format_count(n: float) -> str:
    """'1,000' up to a million, then '2.6e+12'."""
    return f"{n:,.0f}" if n < 1e6 else f"{n:.2g}"


def _duration(seconds: float) -> str:
    for unit, s in (("years", 365.25 * DAY_S), ("days", DAY_S), ("hours", 3600.0), ("minutes", 60.0)):
        if seconds >= 2 * s:
            return f"{seconds / s:,.0f} {unit}"
    return f"{seconds:.0f} s"


# ------------------------------------------------------------------------- machine resources
def available_memory_bytes() -> int:
    """Memory the system can give a new process now, bytes.

    Linux: ``MemAvailable`` of /proc/meminfo, lowered to the room left under this process's
    cgroup (v2) memory limit and to its address-space limit (``ulimit -v``) when there are
    such limits. Elsewhere: free physical pages (``os.sysconf``).
    When neither can be read, a number no estimate reaches (nothing is refused for memory).
    """
    avail = None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        avail = None
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, OSError, ValueError):
            return sys.maxsize
    room = _cgroup_room()
    avail = min(avail, room) if room is not None else avail
    limit = _address_space_limit()
    return min(avail, limit) if limit is not None else avail


def _address_space_limit() -> int | None:
    """This process's address-space limit (``ulimit -v``), bytes, or None without one."""
    try:
        import resource
    except ImportError:
        return None
    soft = resource.getrlimit(resource.RLIMIT_AS)[0]
    return None if soft == resource.RLIM_INFINITY or soft <= 0 else soft


def _cgroup_room() -> int | None:
    """Bytes left under the cgroup v2 memory limit of this process, or None without a limit."""
    try:
        line = Path("/proc/self/cgroup").read_text(encoding="ascii").splitlines()[0]
        rel = line.split("::", 1)[1] if line.startswith("0::") else None
        if rel is None:
            return None
        folder = Path("/sys/fs/cgroup") / rel.lstrip("/")
        limit = (folder / "memory.max").read_text(encoding="ascii").strip()
        if limit == "max":
            return None
        return max(0, int(limit) - int((folder / "memory.current").read_text(encoding="ascii").strip()))
    except (OSError, ValueError, IndexError):
        return None


def free_disk_bytes(folder: str | Path) -> tuple[int, Path]:
    """Free bytes in the file system that ``folder`` is (or would be created) on, and the folder measured."""
    p = Path(folder).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return shutil.disk_usage(p).free, p
    except OSError:
        return sys.maxsize, p


# ------------------------------------------------------------------------------- file probes
_TS = re.compile(rb"(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?")
_PROBE_BYTES = 1 << 16
_COUNT_LIMIT = 64 << 20  # count a trace's lines exactly up to this size; beyond, from a sample


@dataclass(frozen=True)
class TraceProbe:
    """A trace file's rows and span (s), read from its size, its first and its last lines."""

    rows: float
    span_s: float


def _ts_seconds(m: re.Match) -> float:
    """Seconds since 0001-01-01 of a trace timestamp (naive: only differences matter)."""
    day = date(int(m[1]), int(m[2]), int(m[3])).toordinal()
    return ((day * 24 + int(m[4])) * 60 + int(m[5])) * 60 + int(m[6]) + float(b"0." + (m[7] or b"0"))


@lru_cache(maxsize=64)
def _probe_trace_cached(path: str, size: int, mtime_ns: int) -> TraceProbe | None:
    with open(path, "rb") as fh:
        head = fh.read(_PROBE_BYTES)
        if size <= _COUNT_LIMIT:
            fh.seek(0)
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
            lines += 0 if size == 0 or _last_byte(fh, size) == b"\n" else 1
        else:
            in_head = head.count(b"\n")
            lines = size / (len(head) / max(1, in_head))
        fh.seek(max(0, size - _PROBE_BYTES))
        tail = fh.read()
    rows = max(0.0, float(lines) - 1.0)  # the header
    first = _TS.search(head.split(b"\n", 2)[1]) if head.count(b"\n") >= 1 else None
    stamps = [m for ln in tail.split(b"\n") if (m := _TS.search(ln)) is not None]
    try:
        span = max(0.0, _ts_seconds(stamps[-1]) - _ts_seconds(first)) if first and stamps else 0.0
    except (ValueError, OverflowError):
        span = 0.0
    return TraceProbe(rows, span)


def _last_byte(fh, size: int) -> bytes:
    fh.seek(size - 1)
    return fh.read(1)


def probe_trace(path: str) -> TraceProbe | None:
    """Rows and span of a trace file without parsing it (None if it cannot be read: the run reports it)."""
    try:
        p = check_data_file(path, "workload.trace")
        st = p.stat()
        return _probe_trace_cached(str(p.resolve()), st.st_size, st.st_mtime_ns)
    except (FleetsimInputError, OSError, ValueError, IndexError):
        return None


@lru_cache(maxsize=64)
def tariff_intervals(value: str, key: str = "fleet.robotaxi.depot.tariff") -> tuple[tuple[int, float], ...]:
    """(index, interval_s) of each demand charge of a tariff (a built-in name or a file).

    A file is read by the tariff loader, so a bad tariff is refused as bad input (one line naming
    ``key``) before its size is estimated.
    """
    from grid.tariff import TARIFFS
    from grid.tariff_file import load_tariff

    tariff = TARIFFS[value] if value in TARIFFS else load_tariff(value, key=key)
    return tuple((i, c.interval_s) for i, c in enumerate(tariff.demand_charges))


# ------------------------------------------------------------------------------ the estimate
def _default(key: str) -> float:
    from sim.schema import KEYS_BY_PATH

    d = KEYS_BY_PATH[key].default
    return float(d) if isinstance(d, (int, float)) and not isinstance(d, bool) and d else 1.0


def _rank(factors: Sequence[tuple[str, Any, float]]) -> tuple[tuple[str, Any], ...]:
    """Keys ordered by how far each is beyond its default (``ratio``: > 1 means it enlarges the term)."""
    return tuple((k, v) for k, v, _ in sorted(factors, key=lambda f: -f[2]))


def timeseries_columns() -> int:
    """Columns of timeseries.csv: time, end time, every level, counter and job counter, and utilization."""
    return len(ch.LEVELS) + len(ch.COUNTERS) + len(ch.JOB_COUNTERS) + 3


def estimate_run(scenario: ScenarioLike, *, report: bool | None = None) -> Estimate:
    """What running ``scenario`` needs, from its keys alone (no file is parsed; see the module docstring).

    ``report``: whether figures and the report page are drawn (None: the scenario's ``report.figures``).
    ``Estimate.units`` holds the counts the costs multiply (cars, car_days, taxi_days, jobs,
    live_jobs, cells, demand_intervals, trace_rows, home_meters).
    """
    sc = scenario
    if report is None:
        report = bool(sc["report.figures"])
    cost = MEMORY_PER_UNIT_REPORT if report else MEMORY_PER_UNIT
    days = float(sc["run.days"])
    horizon = days * DAY_S
    d_ratio = days / _default("run.days")
    units: dict[str, float] = dict.fromkeys(MEMORY_PER_UNIT, 0.0)
    terms: list[Term] = []

    def mem(*names: str) -> float:
        return sum(cost[k] * units[k] for k in names)

    # vehicles: per car, per car-day
    cars, taxis = int(sc["fleet.vehicles"]), int(sc["fleet.robotaxi.vehicles"])
    n = cars + taxis
    units.update(cars=n, car_days=n * days, taxi_days=taxis * days)
    per_car = [("fleet.vehicles", cars, cars / _default("fleet.vehicles"), cars),
               ("fleet.robotaxi.vehicles", taxis, taxis / _default("fleet.vehicles"), taxis * 10)]
    main = max(per_car, key=lambda f: f[3])
    terms.append(Term(
        "vehicles", n, mem("cars", "car_days", "taxi_days"),
        EVENTS_PER_CAR * n + EVENTS_PER_CAR_DAY * cars * days + EVENTS_PER_TAXI_DAY * taxis * days,
        OUT_CAR_BYTES * n / TABLE_SHRINK[sc["report.tables"]], _rank([main[:3], ("run.days", days, d_ratio)]),
        f"{format_count(n)} vehicles over {days:g} days"))
    warm = float(sc["run.warmup_days"]) if (sc["fleet.mobility"] or taxis) else 0.0
    if warm > 0.0:  # a run of its own before this one (its memory is freed before this one's fleet is built)
        events = EVENTS_PER_CAR * n + EVENTS_PER_CAR_DAY * cars * warm + EVENTS_PER_TAXI_DAY * taxis * warm
        terms.append(Term(
            "warm-up", n, 0.0, events, 0.0,
            _rank([("run.warmup_days", warm, warm / _default("run.warmup_days")), main[:3]]),
            f"a warm-up of {format_count(n)} vehicles over {warm:g} days"))

    # jobs: expected arrivals, and the jobs queued at once in an overload
    trace = sc["workload.trace"]
    if trace:
        probe = probe_trace(trace)
        scale = float(sc["workload.trace_time_scale"])
        rows = probe.rows if probe else 0.0
        span = probe.span_s if probe else 0.0
        units["trace_rows"] = rows
        if sc["workload.trace_loop"] and rows >= 2 and span > 0:
            period = span + span / (rows - 1)  # as fleet.workload.TraceWorkload repeats it
            covered = max(0.0, horizon - max(0.0, float(sc["workload.trace_start_offset_s"])))
            jobs = rows * covered / (period * scale)
        else:  # the rows whose times fall in the run (spread evenly over the trace's span)
            start = float(sc["workload.trace_start_offset_s"])
            if span > 0:
                jobs = rows * max(0.0, min(horizon, start + span * scale) - max(0.0, start)) / (span * scale)
            else:
                jobs = rows if 0.0 <= start < horizon else 0.0
        rate = rows / (span * scale) if span > 0 else rows
        live = rate * float(sc["workload.interactive.max_wait_s"])
        factors = [("workload.trace", trace, 1.0 + jobs / 1e6), ("workload.trace_time_scale", scale, 1.0 / scale)]
        if sc["workload.trace_loop"]:
            factors.append(("run.days", days, d_ratio))
        job_drivers = _rank(factors)
        what = f"{format_count(jobs)} jobs from a trace of {format_count(rows)} rows"
    else:
        r_i = class_rate_per_s(sc, "interactive")
        r_b = class_rate_per_s(sc, "batch")
        jobs = (r_i + r_b) * horizon
        wait_b = sc["workload.batch.max_wait_s"] or sc["workload.batch.deadline_s"]
        live = r_i * min(horizon, float(sc["workload.interactive.max_wait_s"])) + r_b * min(horizon, float(wait_b))
        name, rate = ("interactive", r_i) if r_i >= r_b else ("batch", r_b)
        key = next((k for k in (f"workload.{name}.rate_per_s", f"workload.{name}.rate_per_s_per_1000_vehicles")
                    if sc[k] is not None), "fleet.vehicles")
        job_drivers = _rank([(key, sc[key], rate / DEFAULT_RATE_PER_S_PER_1000_VEHICLES), ("run.days", days, d_ratio)])
        what = f"{format_count(jobs)} jobs"
    units.update(jobs=jobs, live_jobs=live)
    kept = {"all": jobs, "sample": min(jobs, float(sc["report.jobs_sample"])), "none": 0.0}[sc["report.jobs"]]
    terms.append(Term("jobs", jobs, mem("jobs", "live_jobs"), EVENTS_PER_JOB * jobs,
                      OUT_JOB_BYTES * kept / TABLE_SHRINK[sc["report.tables"]],
                      job_drivers, what))
    if units["trace_rows"]:
        terms.append(Term("trace", units["trace_rows"], mem("trace_rows"), 0.0, 0.0, (("workload.trace", trace),),
                          f"{format_count(units['trace_rows'])} trace rows read at once", "use a shorter trace"))

    # time-series samples
    interval = float(sc["run.sample_interval_s"])
    samples = math.ceil(horizon / interval)
    cols = timeseries_columns()
    units["cells"] = samples * cols
    s_drivers = _rank([("run.sample_interval_s", interval, _default("run.sample_interval_s") / interval),
                       ("run.days", days, d_ratio)])
    groups = len(sc["fleet.cohorts"]) or (2 if taxis else 1)  # cohorts.csv: one row per cohort and sample
    out_samples = OUT_SAMPLE_BYTES * samples * (1 + groups if groups > 1 else 1)
    terms.append(Term("samples", samples, mem("cells"), float(samples), out_samples, s_drivers,
                      f"{format_count(samples)} time-series samples of {cols} columns",
                      "raise it" if s_drivers[0][0] == "run.sample_interval_s" else "lower it"))

    # a household tariff with demand charges: one meter per home with a charger, one interval table
    home = tariff_intervals(sc["grid.tariff"], "grid.tariff") if cars else ()
    if home:
        units["home_meters"] = cars * float(sc["fleet.home_charger_share"])
        home_intervals = sum(horizon / iv for _, iv in home)
        units["demand_intervals"] += home_intervals
        terms.append(Term("home_meters", units["home_meters"],
                          mem("home_meters") + cost["demand_intervals"] * home_intervals, 0.0, 0.0,
                          _rank([("grid.tariff", sc["grid.tariff"], 1.0), main[:3]]),
                          f"{format_count(units['home_meters'])} home demand meters (grid.tariff has demand "
                          "charges)"))

    # demand-charge intervals: the depot's tariff
    if taxis:
        tariff = sc["fleet.robotaxi.depot.tariff"]
        charges = tariff_intervals(tariff)
        depot_intervals = sum(horizon / iv for _, iv in charges)
        units["demand_intervals"] += depot_intervals
        if charges:
            i, iv = min(charges, key=lambda c: c[1])
            t_drivers = _rank([("fleet.robotaxi.depot.tariff", tariff, 900.0 / iv), ("run.days", days, d_ratio)])
            where = "the tariff" if tariff.lower().endswith((".toml", ".json")) else tariff
            terms.append(Term("demand_intervals", depot_intervals, cost["demand_intervals"] * depot_intervals, 0.0, 0.0,
                              t_drivers, f"{format_count(depot_intervals)} demand-charge intervals: "
                              f"demand_charges[{i}].interval_s = {iv:g} in {where}",
                              "raise its interval_s" if t_drivers[0][0] != "run.days" else "lower it"))

    replicates = int(sc["run.replicates"])
    if replicates > 1:  # the other replicates: as many events again each (their memory is their workers')
        one_run = sum(t.events for t in terms)
        terms.append(Term("replicates", replicates, 0.0, one_run * (replicates - 1), 0.0,
                          (("run.replicates", replicates),), f"{replicates} replicates of the run"))
    base = BASE_REPORT_BYTES if report else BASE_BYTES
    out_fixed = OUT_FIXED_BYTES + (OUT_REPORT_BYTES if report else 0)
    top = max(terms, key=lambda t: t.memory_bytes)
    return Estimate(
        memory_bytes=int(min(base + sum(t.memory_bytes for t in terms), 2.0**100)),
        events=sum(t.events for t in terms),
        jobs=jobs,
        samples=float(samples),
        demand_intervals=units["demand_intervals"],
        output_bytes=int(min(out_fixed + sum(t.output_bytes for t in terms), 2.0**100)),
        drivers=top.drivers,
        terms=tuple(terms),
        units=units,
    )


# ---------------------------------------------------------------------------------- the checks
def _lead(term: Term) -> str:
    """'key = value' of the term's main driver."""
    key, value = term.drivers[0]
    return f"{key} = {quote(value)}"


def _with_others(term: Term) -> str:
    """The term's count, and its other drivers: '3.2e+08 time-series samples, with run.days = 3660.0'."""
    others = [f"{k} = {quote(v)}" for k, v in term.drivers[1:] if _is_raised(k, v)]
    return term.what + (f", with {', '.join(others)}" if others else "")


def _is_raised(key: str, value: Any) -> bool:
    try:
        if key in ("run.sample_interval_s", "workload.trace_time_scale"):
            return float(value) < _default(key)
        if key == "workload.trace":
            return False
        return float(value) > _default(key)
    except (TypeError, ValueError, KeyError):
        return False


def memory_limit(limits: Limits) -> tuple[int, str]:
    """The memory ceiling in bytes and how to say it ('21.3 GiB is available', '--max-memory is 4 GiB')."""
    if limits.max_memory_bytes is not None:
        return limits.max_memory_bytes, f"--max-memory is {format_size(limits.max_memory_bytes)}"
    avail = available_memory_bytes()
    return avail, f"{format_size(avail)} is available"


def check_run(scenario: ScenarioLike, limits: Limits | None = None, *, out_dir: str | Path | None = None,
              report: bool | None = None, prefix: str = "", parallel_runs: int = 1) -> Estimate:
    """Estimate ``scenario`` (see :func:`estimate_run`) and refuse it if it cannot fit; return the estimate.

    Refuses, with one :class:`ScenarioError` line naming the key that drives the estimate and its
    value (``prefix`` goes first, e.g. a sweep file): memory above ``limits.max_memory_bytes`` (or
    the memory available now), results larger than the free space where ``out_dir`` is (or would
    be) created (not checked when ``out_dir`` is None), more than :data:`MAX_EVENTS` events.
    ``limits.force`` skips every refusal.
    """
    limits = limits or Limits()
    est = estimate_run(scenario, report=report)
    if limits.force:
        return est
    ceiling, have = memory_limit(limits)
    if est.memory_bytes * parallel_runs > ceiling:
        t = est.largest("memory_bytes")
        runs = f" x {parallel_runs} runs at once (run.replicates on --workers)" if parallel_runs > 1 else ""
        raise ScenarioError(f"{prefix}{_lead(t)}: the run needs about {format_size(est.memory_bytes)} of memory"
                            f"{runs} ({_with_others(t)}); {have}; {t.advice}, fewer --workers, or pass --max-memory "
                            "SIZE or --force")
    if out_dir is not None:
        free, where = free_disk_bytes(out_dir)
        if est.output_bytes > free:
            t = est.largest("output_bytes")
            raise ScenarioError(f"{prefix}{_lead(t)}: the results need about {format_size(est.output_bytes)} of disk "
                                f"({_with_others(t)}); {format_size(free)} is free in {where}; {t.advice}, "
                                "write elsewhere (--out), or pass --force")
    if est.events > MAX_EVENTS:
        t = est.largest("events")
        raise ScenarioError(f"{prefix}{_lead(t)}: the run is about {format_count(est.events)} simulation events "
                            f"({_with_others(t)}), some {_duration(est.events / EVENTS_PER_WALL_S)} of computing; "
                            f"the limit is {MAX_EVENTS:.0e} events; {t.advice}, or pass --force")
    return est


def check_sweep(n_points: int, per_point: Estimate | Sequence[Estimate] | None, limits: Limits | None = None, *,
                out_dir: str | Path | None = None, workers: int = 1, source: str = "the sweep",
                size_text: str = "", done_points: int = 0) -> None:
    """Refuse a sweep of ``n_points`` points that cannot fit (one :class:`ScenarioError` line).

    ``per_point``: one estimate for every point, or one per configuration in order (each then
    stands for ``n_points / len(per_point)`` replicates), or None to check the count alone (call it
    so before any configuration is resolved). ``size_text`` says where the count comes from
    ("[axes] fleet.opt_in_share: 100,000 values x [sweep] seeds = 1"); ``source`` names the sweep
    file. Refuses: more than :data:`MAX_SWEEP_POINTS` points; the points and their results held by
    the sweep's process plus ``workers`` points running at once (0: they run on other machines)
    above the memory limit; the results folders of the points not yet written (``done_points``
    are) above the free space where ``out_dir`` is; more than :data:`MAX_EVENTS` events in all.
    """
    limits = limits or Limits()
    if limits.force:
        return
    size = f"{n_points:,} points" + (f" ({size_text})" if size_text else "")
    if n_points > MAX_SWEEP_POINTS:
        raise ScenarioError(f"{source}: {size}: allowed: at most {MAX_SWEEP_POINTS:,} points in a sweep (each is "
                            "checked, ~3 ms, before any runs, and writes a results folder); split the sweep, "
                            "or pass --force")
    ceiling, have = memory_limit(limits)
    held = POINT_BYTES * n_points
    if per_point is None:
        if held > ceiling:
            raise ScenarioError(f"{source}: {size} need about {format_size(held)} of memory to hold; {have}; "
                                "fewer points, or pass --max-memory SIZE or --force")
        return
    configs = [per_point] if isinstance(per_point, Estimate) else list(per_point)
    if not configs:
        return
    reps = n_points / len(configs)
    heaviest = max(configs, key=lambda e: e.memory_bytes)
    running = heaviest.memory_bytes * min(max(0, workers), n_points)
    if held + running > ceiling:
        t = heaviest.largest("memory_bytes")
        one = f"{_lead(t)}: {format_size(heaviest.memory_bytes)} a point, {_with_others(t)}"
        raise ScenarioError(f"{source}: {size}, {max(0, workers)} at a time, need about "
                            f"{format_size(held + running)} of memory ({one}); {have}; lower it, fewer --workers, "
                            "or pass --max-memory SIZE or --force")
    if out_dir is not None:
        todo = max(0, n_points - done_points) / n_points
        disk = sum(e.output_bytes for e in configs) * reps * todo
        free, where = free_disk_bytes(out_dir)
        if disk > free:
            big = max(configs, key=lambda e: e.output_bytes)
            t = big.largest("output_bytes")
            raise ScenarioError(f"{source}: {size} need about {format_size(disk)} of disk for their results folders "
                                f"(up to {format_size(big.output_bytes)} a point: {_lead(t)}, {_with_others(t)}); "
                                f"{format_size(free)} is free in {where}; fewer points, write elsewhere (--out), "
                                "or pass --force")
    events = sum(e.events for e in configs) * reps
    if events > MAX_EVENTS:
        big = max(configs, key=lambda e: e.events)
        t = big.largest("events")
        raise ScenarioError(f"{source}: {size} are about {format_count(events)} simulation events (up to "
                            f"{format_count(big.events)} a point: {_lead(t)}, {_with_others(t)}), some "
                            f"{_duration(events / EVENTS_PER_WALL_S)} of computing; the limit is {MAX_EVENTS:.0e} "
                            "events; fewer points, or pass --force")


def check_tune(trials: int, seeds: int, limits: Limits | None = None, *, per_run: Estimate | None = None,
               workers: int = 1, source: str = "the tune", out_dir: str | Path | None = None) -> None:
    """Refuse a tune of ``trials`` trials x ``seeds`` replicate runs that cannot fit (one line).

    Optuna keeps every trial in memory (:data:`TRIAL_BYTES` each) and the tune its record; the
    replicate seeds are derived all at once. Refuses: more than :data:`MAX_TUNE_RUNS` runs; those
    above the memory limit together with ``workers`` runs at once (``per_run``: the heaviest run's
    estimate, see :func:`tune_run_estimate`; 0 workers: they run elsewhere); trials.csv above the
    free space where ``out_dir`` is; more than :data:`MAX_EVENTS` events in all.
    """
    limits = limits or Limits()
    if limits.force:
        return
    runs = trials * seeds
    which = (f"[tune] trials = {trials}" if trials >= seeds else f"[tune] seeds = {seeds}")
    size = f"{format_count(trials)} trials x {format_count(seeds)} seed{'s' if seeds != 1 else ''}"
    ceiling, have = memory_limit(limits)
    held = TRIAL_BYTES * trials + 100 * seeds
    running = per_run.memory_bytes * max(0, min(workers, runs)) if per_run is not None else 0
    if held + running > ceiling:
        if held >= running:
            raise ScenarioError(f"{source}: {which}: the tune needs about {format_size(held + running)} of memory "
                                f"({size}; Optuna keeps every trial in memory, ~{format_size(TRIAL_BYTES)} each); "
                                f"{have}; lower it, or pass --max-memory SIZE or --force")
        t = per_run.largest("memory_bytes")
        raise ScenarioError(f"{source}: {_lead(t)}: the tune needs about {format_size(held + running)} of memory "
                            f"({format_size(per_run.memory_bytes)} a run, {max(0, min(workers, runs))} at a time: "
                            f"{_with_others(t)}); {have}; lower it, fewer --workers, or pass --max-memory SIZE "
                            "or --force")
    if runs > MAX_TUNE_RUNS:
        raise ScenarioError(f"{source}: {which}: {size} = {format_count(runs)} runs; allowed: at most "
                            f"{format_count(MAX_TUNE_RUNS)} runs in a tune (each takes ~0.3 s at the least); "
                            "lower it, or pass --force")
    if out_dir is not None:
        free, where = free_disk_bytes(out_dir)
        if OUT_TRIAL_BYTES * trials > free:
            raise ScenarioError(f"{source}: {which}: trials.csv needs about {format_size(OUT_TRIAL_BYTES * trials)} "
                                f"of disk; {format_size(free)} is free in {where}; lower it, or pass --force")
    if per_run is not None and per_run.events * runs > MAX_EVENTS:
        events = per_run.events * runs
        t = per_run.largest("events")
        raise ScenarioError(f"{source}: {which}: {size} are about {format_count(events)} simulation events "
                            f"({format_count(per_run.events)} a run: {_lead(t)}, {_with_others(t)}), some "
                            f"{_duration(events / EVENTS_PER_WALL_S)} of computing; the limit is {MAX_EVENTS:.0e} "
                            "events; lower it, or pass --force")


class Overlay:
    """A scenario seen through raw overrides by dotted key (an unresolved sweep configuration).

    Enough for :func:`estimate_run`, which reads single keys; values are those written in the
    file (already checked one by one).
    """

    def __init__(self, base: ScenarioLike, overrides: Mapping[str, Any]) -> None:
        self._base = base
        self._over = overrides

    def __getitem__(self, key: str) -> Any:
        return self._over[key] if key in self._over else self._base[key]


def tune_run_estimate(spec: Any) -> Estimate | None:
    """The heaviest run a loaded :class:`sim.studies.tune_spec.TuneSpec` may make: its base scenario and
    ``[set]``, each parameter at the corner (low, high or a choice) that needs the most memory.

    None when the scenario or a value cannot be estimated (the tune's own checks report it).
    """
    from sim.scenario import load_scenario

    try:
        base = load_scenario(spec.scenario)
        over = dict(spec.set)
        for p in spec.params:
            best = None
            for v in p.corners():
                e = estimate_run(Overlay(base, {**over, p.key: v}), report=False)
                if best is None or e.memory_bytes > best[0]:
                    best = (e.memory_bytes, v)
            if best is not None:
                over[p.key] = best[1]
        return estimate_run(Overlay(base, over), report=False)
    except (FleetsimInputError, TypeError, ValueError, KeyError, ArithmeticError):
        return None


def sweep_size(axes: Mapping[str, Any], combine: str, seeds: int) -> tuple[int, str]:
    """Points of a sweep from its axes' lengths, ``combine`` and seeds, without expanding anything;
    and where they come from ("[axes] fleet.opt_in_share: 100,000 values; [sweep] seeds = 1").

    A value that is not a list counts as one (the sweep's own checks report it); zipped axes count
    as the longest.
    """
    sizes = {k: len(v) if isinstance(v, list) else 1 for k, v in axes.items()}
    if not sizes:
        configs = 1
    elif combine == "zip":
        configs = max(sizes.values())
    else:
        configs = math.prod(sizes.values())
    joint = " zipped with " if combine == "zip" else " x "
    shown = joint.join(f"{k}: {n:,} value{'s' if n != 1 else ''}" for k, n in sizes.items())
    return configs * seeds, (f"[axes] {shown}; " if shown else "") + f"[sweep] seeds = {seeds}"


def estimate_configs(base: ScenarioLike, configs: Any, *, report: bool) -> list[Estimate]:
    """One estimate per configuration: ``base`` (resolved) seen through each dict of raw overrides.

    A configuration that cannot be estimated (a value of the wrong type, which the sweep's own
    checks report) is estimated as ``base``.
    """
    fallback = None
    out = []
    for over in configs:
        try:
            out.append(estimate_run(Overlay(base, over), report=report))
        except (TypeError, ValueError, KeyError, ArithmeticError, AttributeError):
            if fallback is None:
                fallback = estimate_run(base, report=report)
            out.append(fallback)
    return out


def finished_points(out_dir: str | Path) -> int:
    """Point folders of a sweep folder that hold a summary.json (a rerun does not write them again)."""
    points = Path(out_dir) / "points"
    try:
        return sum(1 for e in os.scandir(points) if os.path.isfile(os.path.join(e.path, "summary.json")))
    except OSError:
        return 0
