"""Job arrivals: synthetic Poisson workloads and replay of Azure-format LLM traces.

A workload yields :class:`ArrivalBatch` column arrays for a half-open window ``[t0_s, t1_s)`` of
simulation seconds; the dispatcher turns them into job records. Adjacent windows partition the
arrivals: every arrival lands in exactly one window, so consecutive calls over adjacent windows
are equivalent to one call (for the synthetic process: equal in distribution, by the independent
increments of a Poisson process; for trace replay: identical).

Token counts are integers >= 1. Job class codes are :data:`INTERACTIVE_CLASS` and :data:`BATCH_CLASS`
(the indices of ``fleet.jobs.CLASS_NAMES``).
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Protocol

import numpy as np

from fleet.jobs import BATCH_CLASS, INTERACTIVE_CLASS
from sim.core.clock import HOUR_S, Clock
from sim.core.errors import DataFileError, ScenarioError
from sim.core.inputs import check_data_file, quote
from sim.core.params import LIMIT_S, param

# Largest token count of one request (10 million, as the schema's workload keys): job records
# store counts in 32 bits.
MAX_TOKENS = 10_000_000

# --------------------------------------------------------------------------------------------
# Calibration constants
# --------------------------------------------------------------------------------------------

# Token-count quantiles of the Azure LLM inference trace 2023, conversation service
# (AzureLLMInferenceTrace_conv.csv, 2023-11-16, 19,366 requests; Microsoft Azure Public Dataset,
# CC-BY-4.0; Patel et al., "Splitwise: Efficient generative LLM inference using phase splitting",
# ISCA 2024). Derived once with ``numpy.quantile(column, numpy.linspace(0, 1, 101))`` (default
# "linear" method) on ContextTokens (prompt) and GeneratedTokens (output); values shown rounded to
# 1e-6 (they differ from numpy's output by < 1e-9). Entry i is the quantile at probability i/100.
AZURE_CONV_2023_PROMPT_QUANTILES: tuple[float, ...] = (
    2.0, 29.0, 91.0, 161.0, 181.0, 181.0, 191.0, 197.0, 201.0, 203.0, 207.0, 212.0, 222.0, 242.0,
    317.0, 372.0, 375.0, 378.0, 381.0, 384.0, 387.0, 390.0, 392.0, 394.0, 395.0, 396.0, 398.0,
    399.0, 400.0, 402.0, 403.0, 405.0, 406.0, 408.0, 411.0, 414.0, 419.0, 424.0, 433.0, 456.0,
    703.0, 862.65, 903.0, 946.0, 971.6, 984.0, 994.0, 1002.0, 1009.0, 1014.0, 1020.0, 1025.0,
    1031.0, 1036.0, 1041.0, 1045.0, 1050.0, 1055.0, 1060.0, 1065.0, 1071.0, 1076.0, 1081.0, 1086.0,
    1092.0, 1097.0, 1102.0, 1109.0, 1116.0, 1122.0, 1130.0, 1139.0, 1147.0, 1159.45, 1171.0,
    1189.0, 1214.4, 1249.0, 1311.0, 1314.0, 1315.0, 1321.0, 1368.3, 1508.0, 1689.2, 1876.25,
    2032.0, 2221.0, 2401.2, 2584.0, 2734.5, 3291.15, 4073.0, 4076.0, 4079.0, 4083.0, 4086.0,
    4090.0, 4098.0, 4142.0, 14050.0,
)  # fmt: skip
AZURE_CONV_2023_OUTPUT_QUANTILES: tuple[float, ...] = (
    7.0, 16.0, 24.0, 32.0, 38.0, 41.0, 44.0, 47.0, 49.0, 52.0, 54.0, 57.0, 59.0, 62.0, 64.0, 67.0,
    69.0, 71.0, 73.0, 75.0, 77.0, 79.0, 81.0, 82.0, 84.0, 85.0, 86.0, 87.0, 89.0, 90.0, 91.0, 92.0,
    93.0, 94.0, 95.0, 96.0, 97.0, 99.0, 100.0, 101.0, 103.0, 105.0, 107.0, 108.0, 110.0, 113.0,
    116.0, 118.0, 122.0, 125.0, 129.0, 133.0, 137.0, 141.0, 145.0, 151.0, 156.0, 161.0, 163.0,
    169.0, 177.0, 182.0, 190.0, 201.95, 216.0, 217.0, 237.0, 371.0, 375.0, 378.0, 384.0, 387.0,
    390.0, 393.0, 394.0, 395.0, 396.0, 396.0, 397.0, 398.0, 400.0, 402.0, 404.0, 407.0, 410.0,
    411.0, 414.0, 415.0, 417.0, 420.0, 424.0, 428.0, 429.0, 433.0, 442.0, 451.0, 468.0, 509.0,
    540.0, 601.0, 1000.0,
)  # fmt: skip
# Exact means of the same columns (sums 22,361,870 and 4,088,665 over 19,366 requests).
AZURE_CONV_2023_PROMPT_MEAN = 22_361_870 / 19_366  # 1154.697...
AZURE_CONV_2023_OUTPUT_MEAN = 4_088_665 / 19_366  # 211.126...

# Relative interactive demand by local hour of day (index 0 = 00:00-01:00), mean exactly 1.
# ASSUMPTION, not calibrated: no public diurnal LLM-demand profile is recorded in the project's
# facts (the 2023 Azure traces span one hour each). The shape is an assumed smooth human-activity
# curve: trough 0.40 at 04 h, rising through the morning, peak 1.50 at 18 h (afternoon/evening),
# falling through the late evening. Values are hundredths summing to exactly 24.
DIURNAL_DEFAULT: tuple[float, ...] = (
    0.68, 0.54, 0.46, 0.41, 0.40, 0.43, 0.52, 0.64, 0.80, 0.96, 1.10, 1.19,
    1.25, 1.30, 1.34, 1.39, 1.43, 1.48, 1.50, 1.49, 1.43, 1.30, 1.09, 0.87,
)  # fmt: skip
DIURNAL_FLAT: tuple[float, ...] = (1.0,) * 24

# Class limits. ASSUMPTIONS (no public source): an interactive request should finish within 20 s
# of arrival (~200 output tokens at a few tens of tokens/s on an edge chip) and is dropped or
# overflowed after waiting 10 s in the queue. A batch work unit (e.g. an offline summarisation or
# synthetic-data job) has 4,000 prompt and 20,000 output tokens and a 6-hour deadline.
DEFAULT_INTERACTIVE_SLO_S = 20.0
DEFAULT_INTERACTIVE_MAX_WAIT_S = 10.0
DEFAULT_BATCH_PROMPT_TOKENS = 4000
DEFAULT_BATCH_OUTPUT_TOKENS = 20000
DEFAULT_BATCH_DEADLINE_S = 6 * HOUR_S


# --------------------------------------------------------------------------------------------
# Arrival columns
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ArrivalBatch:
    """Arrivals in a window ``[t0_s, t1_s)``, sorted by arrival time (one row per job)."""

    arrival_s: np.ndarray  # float64, simulation seconds
    prompt_tokens: np.ndarray  # int64 >= 1
    output_tokens: np.ndarray  # int64 >= 1
    job_class: np.ndarray  # int8, INTERACTIVE_CLASS or BATCH_CLASS
    service_s: np.ndarray | None  # float64 fixed service requirement (s), or None: from chip rates

    def __post_init__(self) -> None:
        n = len(self.arrival_s)
        cols = [self.prompt_tokens, self.output_tokens, self.job_class]
        if self.service_s is not None:
            cols.append(self.service_s)
        if any(len(c) != n for c in cols):
            raise ValueError("ArrivalBatch columns must all have the same length")

    def __len__(self) -> int:
        return len(self.arrival_s)

    @staticmethod
    def empty(with_service: bool = False) -> ArrivalBatch:
        """A batch with no arrivals (``service_s`` an empty array if ``with_service``)."""
        return ArrivalBatch(
            np.empty(0, np.float64),
            np.empty(0, np.int64),
            np.empty(0, np.int64),
            np.empty(0, np.int8),
            np.empty(0, np.float64) if with_service else None,
        )

    @staticmethod
    def concat(batches: Iterable[ArrivalBatch]) -> ArrivalBatch:
        """Merge batches into one sorted by arrival (stable: ties keep their input order).

        ``service_s`` must be given by all batches or by none.
        """
        batches = list(batches)
        if not batches:
            return ArrivalBatch.empty()
        has_service = {b.service_s is not None for b in batches}
        if len(has_service) > 1:
            raise ValueError("cannot concat batches with and without service_s")
        arrival = np.concatenate([b.arrival_s for b in batches])
        order = np.argsort(arrival, kind="mergesort")
        service = None
        if has_service == {True}:
            service = np.concatenate([b.service_s for b in batches])[order]
        return ArrivalBatch(
            arrival[order],
            np.concatenate([b.prompt_tokens for b in batches])[order],
            np.concatenate([b.output_tokens for b in batches])[order],
            np.concatenate([b.job_class for b in batches])[order],
            service,
        )


@dataclass(frozen=True)
class ClassLimits:
    """Per-class latency target and queue-wait limit (seconds) copied onto each job."""

    slo_s: float  # target completion time after arrival
    max_wait_s: float  # a job still queued this long after arrival is dropped or overflowed


class Workload(Protocol):
    """What the dispatcher needs from a workload."""

    class_limits: dict[int, ClassLimits]

    def arrivals(self, t0_s: float, t1_s: float) -> ArrivalBatch: ...


# --------------------------------------------------------------------------------------------
# Token-count distribution
# --------------------------------------------------------------------------------------------


class TokenDistribution:
    """Inverse-CDF sampler of token counts from a quantile table.

    ``quantiles[i]`` is the quantile at probability ``i / (len - 1)`` (101 points: 0, 0.01, ...,
    1). A sample is ``Q(u)`` for ``u ~ U[0, 1)``, with ``Q`` interpolated linearly between table
    points, rounded half-up to an integer and clipped to >= 1.

    ``mean_tokens`` (optional) corrects the top point of the table so that the interpolated
    distribution has exactly that mean. Linear interpolation spreads the top 1 % uniformly
    between the 99th percentile and the maximum; for a heavy right tail (the Azure prompts: p99
    4,142, max 14,050 from a few outliers) this inflates the mean (by 3.5 % for Azure prompts).
    Replacing the maximum by the value that restores the real mean removes that bias while the
    other 100 points stay the real quantiles.
    """

    def __init__(self, quantiles: Sequence[float], mean_tokens: float | None = None) -> None:
        q = np.array(quantiles, dtype=np.float64)
        if q.ndim != 1 or len(q) < 2:
            raise ValueError(f"quantiles has {q.size} values; expected at least 2")
        if not np.all(np.isfinite(q)) or q[0] < 0 or np.any(np.diff(q) < 0):
            raise ValueError("quantiles must be finite, >= 0 and non-decreasing")
        self.raw_quantiles: tuple[float, ...] = tuple(float(x) for x in q)
        if mean_tokens is not None:
            step = 1.0 / (len(q) - 1)
            # Mean of the piecewise-linear inverse CDF: trapezoid rule over probability.
            rest = step * (q[0] / 2 + q[1:-1].sum())
            top = 2.0 * (mean_tokens - rest) / step
            if not q[-2] <= top:
                lo = rest + step * q[-2] / 2
                raise ValueError(
                    f"mean_tokens is {mean_tokens!r}; expected >= {lo:.6g} for this table"
                )
            q[-1] = top
        q.setflags(write=False)
        self._q = q
        self._p = np.linspace(0.0, 1.0, len(q))

    @classmethod
    def constant(cls, tokens: int) -> TokenDistribution:
        """Every sample equals ``tokens`` (>= 1)."""
        if tokens < 1:
            raise ValueError(f"tokens is {tokens!r}; expected an integer >= 1")
        return cls((float(tokens), float(tokens)))

    @property
    def quantiles(self) -> tuple[float, ...]:
        """The table actually sampled (top point corrected if ``mean_tokens`` was given)."""
        return tuple(float(x) for x in self._q)

    @property
    def mean_tokens(self) -> float:
        """Mean of the interpolated distribution before rounding (tokens)."""
        return float(np.sum((self._q[1:] + self._q[:-1]) / 2) / (len(self._q) - 1))

    def quantile(self, p: float | np.ndarray) -> float | np.ndarray:
        """Interpolated quantile at probability ``p`` (0..1), before rounding."""
        return np.interp(p, self._p, self._q)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` i.i.d. token counts (int64 >= 1)."""
        x = np.interp(rng.random(n), self._p, self._q)
        return np.maximum(np.floor(x + 0.5), 1.0).astype(np.int64)


AZURE_CONV_2023_PROMPT_DIST = TokenDistribution(
    AZURE_CONV_2023_PROMPT_QUANTILES, mean_tokens=AZURE_CONV_2023_PROMPT_MEAN
)  # top point 14,050 -> ~5,900
AZURE_CONV_2023_OUTPUT_DIST = TokenDistribution(
    AZURE_CONV_2023_OUTPUT_QUANTILES, mean_tokens=AZURE_CONV_2023_OUTPUT_MEAN
)  # top point 1,000 -> ~810


# --------------------------------------------------------------------------------------------
# Synthetic workload
# --------------------------------------------------------------------------------------------


def _check_rate(rate_per_s: float | None) -> None:
    if rate_per_s is None:  # given per 1,000 vehicles: the runner sets the fleet's rate
        return
    if not (isinstance(rate_per_s, (int, float)) and math.isfinite(rate_per_s) and rate_per_s >= 0):
        raise ValueError(f"rate_per_s is {rate_per_s!r}; expected a finite number >= 0")


def _check_positive(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} is {value!r}; expected a finite number > 0")


#: the diurnal profiles a scenario names (``workload.interactive.diurnal``)
DIURNAL_PROFILES: dict[str, tuple[float, ...]] = {"default": DIURNAL_DEFAULT, "flat": DIURNAL_FLAT}


@dataclass(frozen=True)
class InteractiveParams:
    """Interactive requests: Poisson arrivals whose rate follows a diurnal profile.

    The rate during local hour ``h`` is ``rate_per_s * diurnal[h] / mean(diurnal)``, so
    ``rate_per_s`` is the daily mean rate (on a 24-hour day). ``diurnal`` is given as 24 relative
    weights by local hour or as the name of one of :data:`DIURNAL_PROFILES` (it holds the weights
    after construction). ``slo_s_per_output_token`` is not used here: whoever makes the jobs adds
    it to each job's ``slo_s`` per output token.
    """

    # The built-in scenario's load (sweep it).
    rate_per_s: float | None = param(None, doc="mean interactive arrival rate of the whole fleet, requests/s (daily "
                                     "mean of the diurnal profile); default: none, the rate per 1,000 vehicles "
                                     "applies", lo=0.0, hi=1e7)
    # DIURNAL_DEFAULT above: an ASSUMPTION, no public diurnal LLM-demand profile.
    diurnal: tuple[float, ...] | str = param(
        "default", kind="str", doc="diurnal rate profile: 'default' (ASSUMPTION: trough 04 h, evening peak) or 'flat'",
        choices=tuple(DIURNAL_PROFILES))
    slo_s: float = param(DEFAULT_INTERACTIVE_SLO_S, doc="interactive latency objective, s; ASSUMPTION", **LIMIT_S)
    slo_s_per_output_token: float = param(
        0.0, doc="added to the SLO per output token, s (e.g. a time-per-output-token target); 0 = one SLO for all",
        lo=0.0, hi=60.0)
    # Objectives on the two latencies users of streamed answers feel (checked on completed jobs in
    # the results, beside the end-to-end SLO). ASSUMPTION when set: no standard exists; sweep them.
    ttft_slo_s: float = param(0.0, doc="time-to-first-token objective of interactive jobs, s; 0 = none "
                              "(ASSUMPTION when set)", lo=0.0, hi=1e6)
    tpot_slo_s: float = param(0.0, doc="time-per-output-token objective of interactive jobs, s; 0 = none "
                              "(ASSUMPTION when set)", lo=0.0, hi=60.0)
    max_wait_s: float = param(DEFAULT_INTERACTIVE_MAX_WAIT_S, doc="interactive jobs still queued this long after "
                              "arrival are dropped or overflow, s; ASSUMPTION", **LIMIT_S)

    def __post_init__(self) -> None:
        _check_rate(self.rate_per_s)
        diurnal = self.diurnal
        if isinstance(diurnal, str):
            if diurnal not in DIURNAL_PROFILES:
                raise ValueError(f"diurnal is {diurnal!r}; expected one of {', '.join(DIURNAL_PROFILES)} "
                                 "or 24 finite weights >= 0, not all 0")
            diurnal = DIURNAL_PROFILES[diurnal]
        w = tuple(float(x) for x in diurnal)
        if len(w) != 24 or not all(math.isfinite(x) and x >= 0 for x in w) or sum(w) <= 0:
            raise ValueError(
                f"diurnal is {self.diurnal!r}; expected 24 finite weights >= 0, not all 0"
            )
        object.__setattr__(self, "diurnal", w)
        _check_positive("slo_s", self.slo_s)
        v = self.slo_s_per_output_token
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
            raise ValueError(f"slo_s_per_output_token is {v!r}; expected a finite number >= 0")
        _check_positive("max_wait_s", self.max_wait_s)


@dataclass(frozen=True)
class BatchParams:
    """Batch work units: homogeneous Poisson arrivals, fixed token counts, a deadline."""

    rate_per_s: float | None = param(None, doc="batch work-unit arrival rate of the whole fleet, units/s; default: "
                                     "none, the rate per 1,000 vehicles applies", lo=0.0, hi=1e7)
    prompt_tokens: int = param(DEFAULT_BATCH_PROMPT_TOKENS, doc="prompt tokens per work unit", lo=1, hi=1e7)
    output_tokens: int = param(DEFAULT_BATCH_OUTPUT_TOKENS, doc="output tokens per work unit", lo=1, hi=1e7)
    deadline_s: float = param(DEFAULT_BATCH_DEADLINE_S, doc="batch deadline after arrival, s; ASSUMPTION",
                              **LIMIT_S)

    def __post_init__(self) -> None:
        _check_rate(self.rate_per_s)
        for name in ("prompt_tokens", "output_tokens"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} is {v!r}; expected an integer >= 1")
        _check_positive("deadline_s", self.deadline_s)


def _uniform_times(
    rng: np.random.Generator, starts: np.ndarray, ends: np.ndarray, counts: np.ndarray
) -> np.ndarray:
    """Sorted times: ``counts[i]`` uniform points in each ``[starts[i], ends[i])``.

    Pieces must be disjoint and in increasing order, so one global sort orders everything.
    """
    s = np.repeat(starts, counts)
    e = np.repeat(ends, counts)
    t = s + rng.random(len(s)) * (e - s)
    # u < 1 but s + u * (e - s) may round up to e: keep the interval half-open.
    over = t >= e
    if np.any(over):
        t[over] = np.nextafter(e[over], -np.inf)
    t.sort()
    return t


class SyntheticWorkload:
    """Poisson arrivals: interactive (diurnal, per local clock hour) plus batch (homogeneous).

    Interactive arrivals form a non-homogeneous Poisson process whose rate is constant within
    each local clock hour (from ``clock.local_hours``, so DST days have 23 or 25 pieces). It is
    sampled exactly: a Poisson count per piece, then sorted uniform times within the piece.
    Prompt and output tokens are drawn i.i.d. from ``prompt_dist`` and ``output_dist``.

    With ``exponential_service_mean_s`` set, every job (both classes) carries an i.i.d.
    exponential service requirement with that mean, instead of one derived from token rates
    (this turns a fleet of identical slots into an M/M/c queue).

    All draws come from ``rng`` in a fixed order, so a seed fixes the sequence of calls' results.
    """

    def __init__(
        self,
        interactive: InteractiveParams | None,
        batch: BatchParams | None,
        clock: Clock,
        rng: np.random.Generator,
        prompt_dist: TokenDistribution = AZURE_CONV_2023_PROMPT_DIST,
        output_dist: TokenDistribution = AZURE_CONV_2023_OUTPUT_DIST,
        exponential_service_mean_s: float | None = None,
    ) -> None:
        if exponential_service_mean_s is not None:
            _check_positive("exponential_service_mean_s", exponential_service_mean_s)
        self.interactive = interactive
        self.batch = batch
        self.clock = clock
        self.rng = rng
        self.prompt_dist = prompt_dist
        self.output_dist = output_dist
        self.exponential_service_mean_s = exponential_service_mean_s
        self.class_limits: dict[int, ClassLimits] = {}
        if interactive is not None:
            self.class_limits[INTERACTIVE_CLASS] = ClassLimits(interactive.slo_s, interactive.max_wait_s)
            w = np.array(interactive.diurnal)
            self._hour_rate_per_s = interactive.rate_per_s * w / w.mean()
        if batch is not None:
            self.class_limits[BATCH_CLASS] = ClassLimits(batch.deadline_s, batch.deadline_s)

    def arrivals(self, t0_s: float, t1_s: float) -> ArrivalBatch:
        """Arrivals in ``[t0_s, t1_s)`` (simulation seconds), sorted by time."""
        if not t1_s >= t0_s:
            raise ValueError(f"window [{t0_s!r}, {t1_s!r}) has t1_s < t0_s")
        parts: list[ArrivalBatch] = []
        if self.interactive is not None and t1_s > t0_s:
            hours = self.clock.local_hours(t0_s, t1_s)
            t = np.array([h.t_s for h in hours])
            starts = np.maximum(t, t0_s)
            ends = np.minimum(t + HOUR_S, t1_s)
            rates = self._hour_rate_per_s[[h.hour for h in hours]]
            counts = self.rng.poisson(rates * np.maximum(ends - starts, 0.0))
            times = _uniform_times(self.rng, starts, ends, counts)
            n = len(times)
            parts.append(
                ArrivalBatch(
                    times,
                    self.prompt_dist.sample(self.rng, n),
                    self.output_dist.sample(self.rng, n),
                    np.full(n, INTERACTIVE_CLASS, np.int8),
                    None,
                )
            )
        if self.batch is not None and t1_s > t0_s:
            b = self.batch
            count = self.rng.poisson(b.rate_per_s * (t1_s - t0_s))
            times = _uniform_times(
                self.rng, np.array([t0_s], float), np.array([t1_s], float), np.array([count])
            )
            n = len(times)
            parts.append(
                ArrivalBatch(
                    times,
                    np.full(n, b.prompt_tokens, np.int64),
                    np.full(n, b.output_tokens, np.int64),
                    np.full(n, BATCH_CLASS, np.int8),
                    None,
                )
            )
        merged = ArrivalBatch.concat(parts)
        if self.exponential_service_mean_s is None:
            return merged
        service = self.rng.exponential(self.exponential_service_mean_s, size=len(merged))
        return ArrivalBatch(
            merged.arrival_s, merged.prompt_tokens, merged.output_tokens, merged.job_class, service
        )


# --------------------------------------------------------------------------------------------
# Azure trace loading and replay
# --------------------------------------------------------------------------------------------

AZURE_HEADER = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")
# Trace timestamps must fall in these years: offsets are int64 nanoseconds (at most 292 years).
TRACE_YEARS = (1900, 2100)
# A replayed trace's scaled span and start offset stay within 100 years (Julian years, s).
MAX_TRACE_SPAN_S = 100 * 365.25 * 86400.0
# Allowed workload.trace_time_scale: keeps every scaled time finite and exact enough.
TIME_SCALE_RANGE = (1e-6, 1e6)
_TS_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})[ T]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?")
_TS_ALLOWED = "expected 'YYYY-MM-DD HH:MM:SS[.fraction]' with up to 9 fractional digits"
_DIGITS = re.compile(r"[0-9]+")
_BLANKS = " \t"  # stripped around every field (header, TIMESTAMP, token counts)


@dataclass(frozen=True, eq=False)
class TraceData:
    """A loaded request trace: one row per request, in file order (non-decreasing time)."""

    offset_s: np.ndarray  # float64, seconds since the first request (first = 0)
    prompt_tokens: np.ndarray  # int64 >= 1
    output_tokens: np.ndarray  # int64 >= 1
    first_timestamp: datetime  # naive, as written in the file (truncated to microseconds)
    source: str = field(default="")  # file it was read from

    def __len__(self) -> int:
        return len(self.offset_s)

    @property
    def span_s(self) -> float:
        """Seconds from the first to the last request."""
        return float(self.offset_s[-1]) if len(self.offset_s) else 0.0


def load_azure_trace(path: str | Path, *, key: str = "workload.trace") -> TraceData:
    """Read an Azure LLM inference trace CSV: ``TIMESTAMP,ContextTokens,GeneratedTokens``.

    Accepts CRLF or LF line endings, a missing final newline, trailing blank lines, a UTF-8 BOM,
    spaces or tabs around fields and 0-9 fractional-second digits. Timestamps are in the years
    :data:`TRACE_YEARS`; token counts are ASCII digits only (no sign, ``_`` or other scripts'
    digits), 1 .. :data:`MAX_TOKENS`. Offsets are computed in integer nanoseconds, so they are
    exact to the float64 rounding of the final value. The path is checked first with
    :func:`sim.core.inputs.check_data_file` (``key`` names it). Raises :class:`DataFileError`
    (``path:line: problem``, 1-based lines, at most 80 characters of the file quoted) for an
    empty file, a wrong header, a wrong field count, a bad timestamp, a bad token count, or
    timestamps that go backwards.
    """
    name = str(path)
    check_data_file(path, key)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise DataFileError(name, None, "file not found; expected an Azure LLM trace CSV") from None
    except OSError as e:
        raise DataFileError(name, None, f"cannot be read ({e.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise DataFileError(name, line, "is not UTF-8 text; expected a CSV file") from None
    lines = text.split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    header_text = ",".join(AZURE_HEADER)
    if not lines:
        raise DataFileError(name, 1, f"file is empty; expected the header '{header_text}'")
    header = lines[0].rstrip("\r")
    if tuple(f.strip(_BLANKS) for f in header.split(",")) != AZURE_HEADER:
        raise DataFileError(name, 1, f"header is {quote(header)}; expected '{header_text}'")
    n = len(lines) - 1
    if n == 0:
        raise DataFileError(name, 2, "no data rows; expected at least one request after the header")

    ns = np.empty(n, np.int64)
    prompt = np.empty(n, np.int64)
    output = np.empty(n, np.int64)
    ordinals: dict[str, int] = {}
    first_ts: datetime | None = None
    t0_ns = 0
    prev_ns = -1
    prev_ts = ""
    match = _TS_RE.fullmatch
    for i in range(n):
        lineno = i + 2
        fields = lines[i + 1].rstrip("\r").split(",")
        if len(fields) != 3:
            row = lines[i + 1].rstrip("\r")
            got = f"{len(fields)} field{'s' if len(fields) != 1 else ''}"
            raise DataFileError(
                name, lineno, f"has {got} ({quote(row)}); expected 3: {header_text}"
            )
        ts = fields[0].strip(_BLANKS)
        m = match(ts)
        if m is None:
            raise DataFileError(name, lineno, f"TIMESTAMP is {quote(fields[0])}; {_TS_ALLOWED}")
        day = ts[:10]
        ordinal = ordinals.get(day)
        if ordinal is None:
            year = int(m[1])
            if not TRACE_YEARS[0] <= year <= TRACE_YEARS[1]:
                raise DataFileError(
                    name, lineno, f"TIMESTAMP is {quote(fields[0])}; expected a year from {TRACE_YEARS[0]} "
                    f"to {TRACE_YEARS[1]}"
                )
            try:
                ordinal = date(year, int(m[2]), int(m[3])).toordinal()
            except ValueError:
                raise DataFileError(
                    name, lineno, f"TIMESTAMP is {quote(fields[0])}; {_TS_ALLOWED} (no such date)"
                ) from None
            ordinals[day] = ordinal
        hh, mm, ss = int(m[4]), int(m[5]), int(m[6])
        if hh > 23 or mm > 59 or ss > 59:
            raise DataFileError(
                name, lineno, f"TIMESTAMP is {quote(fields[0])}; {_TS_ALLOWED} (no such time of day)"
            )
        frac = m[7] or ""
        t_ns = ((ordinal * 24 + hh) * 60 + mm) * 60 + ss
        t_ns = t_ns * 1_000_000_000 + (int(frac.ljust(9, "0")) if frac else 0)
        if first_ts is None:
            micro = int(frac.ljust(6, "0")[:6]) if frac else 0
            first_ts = datetime(int(m[1]), int(m[2]), int(m[3]), hh, mm, ss, micro)
            t0_ns = t_ns
        elif t_ns < prev_ns:
            raise DataFileError(
                name,
                lineno,
                f"TIMESTAMP {quote(ts)} is earlier than {quote(prev_ts)} on line {lineno - 1}; "
                "expected timestamps in non-decreasing order",
            )
        prev_ns, prev_ts = t_ns, ts
        ns[i] = t_ns - t0_ns
        prompt[i] = _parse_tokens(fields[1], AZURE_HEADER[1], name, lineno)
        output[i] = _parse_tokens(fields[2], AZURE_HEADER[2], name, lineno)
    assert first_ts is not None
    return TraceData(ns / 1e9, prompt, output, first_ts, name)


def _parse_tokens(text: str, column: str, name: str, lineno: int) -> int:
    """A token count: ASCII digits (spaces or tabs around them allowed), 1 .. MAX_TOKENS."""
    digits = text.strip(_BLANKS)
    if not _DIGITS.fullmatch(digits):
        raise DataFileError(name, lineno, f"{column} is {quote(text)}; expected an integer >= 1 in ASCII "
                            "digits 0-9 (no sign, '_' or other characters)")
    significant = digits.lstrip("0") or "0"
    v = int(significant) if len(significant) <= len(str(MAX_TOKENS)) else MAX_TOKENS + 1
    if v < 1:
        raise DataFileError(name, lineno, f"{column} is {quote(text)}; expected an integer >= 1")
    if v > MAX_TOKENS:
        raise DataFileError(
            name, lineno, f"{column} is {quote(text)}; expected an integer from 1 to {MAX_TOKENS}"
        )
    return v


def _check_trace_scale(trace: TraceData, start_offset_s: float, time_scale: float) -> None:
    """Refuse a time scale or offset that moves the trace past 100 years (see :class:`TraceWorkload`)."""
    lo, hi = TIME_SCALE_RANGE
    span = trace.span_s
    top = min(hi, MAX_TRACE_SPAN_S / span) if span > 0 else hi
    if not lo <= time_scale <= top:
        raise ScenarioError(
            f"workload.trace_time_scale = {time_scale!r}: allowed: {lo:g} .. {top:.6g} (the trace spans "
            f"{span:g} s; scaled, it must span at most 100 years)")
    if not abs(start_offset_s) <= MAX_TRACE_SPAN_S:
        raise ScenarioError(
            f"workload.trace_start_offset_s = {start_offset_s!r}: allowed: -{MAX_TRACE_SPAN_S:g} .. "
            f"{MAX_TRACE_SPAN_S:g} s (100 years)")


class TraceWorkload:
    """Replays a trace: request ``i`` arrives at ``start_offset_s + offset_s[i] * time_scale``.

    All jobs are INTERACTIVE_CLASS with the trace's token counts and no fixed service requirement.
    ``time_scale`` < 1 compresses the trace (higher rate), > 1 stretches it. With ``loop=True``
    copy ``k`` (k = 0, 1, ...) of the trace is shifted by ``k * period_s * time_scale``, where
    ``period_s`` = last offset + mean inter-arrival gap, so copies follow back to back with a
    typical gap between them. Arrivals before the simulation start (negative times) are dropped.

    Bounds (the scenario keys ``workload.trace_time_scale`` and ``workload.trace_start_offset_s``):
    ``time_scale`` in :data:`TIME_SCALE_RANGE` with the scaled span at most
    :data:`MAX_TRACE_SPAN_S` (100 years), and ``|start_offset_s|`` at most 100 years. A
    (non-looped) trace whose requests all fall before the run's start, or, given ``run_span_s``
    (the run's length, s), all at or after its end, is refused: it would replay nothing.
    """

    def __init__(
        self,
        trace: TraceData,
        start_offset_s: float = 0.0,
        time_scale: float = 1.0,
        loop: bool = False,
        slo_s: float = DEFAULT_INTERACTIVE_SLO_S,
        max_wait_s: float = DEFAULT_INTERACTIVE_MAX_WAIT_S,
        *,
        run_span_s: float | None = None,
    ) -> None:
        if len(trace) == 0:
            raise ValueError("trace has no requests; expected at least 1")
        if not math.isfinite(start_offset_s):
            raise ValueError(f"start_offset_s is {start_offset_s!r}; expected a finite number")
        _check_positive("time_scale", time_scale)
        _check_positive("slo_s", slo_s)
        _check_positive("max_wait_s", max_wait_s)
        _check_trace_scale(trace, start_offset_s, time_scale)
        self.trace = trace
        self.start_offset_s = float(start_offset_s)
        self.time_scale = float(time_scale)
        self.loop = bool(loop)
        self.class_limits: dict[int, ClassLimits] = {INTERACTIVE_CLASS: ClassLimits(slo_s, max_wait_s)}
        last = float(trace.offset_s[-1])
        if loop:
            if len(trace) < 2 or last <= 0:
                raise ValueError("loop=True needs a trace spanning > 0 s with at least 2 requests")
            self.period_s: float | None = last + last / (len(trace) - 1)
        else:
            self.period_s = None
        self._check_inside_run(run_span_s)

    def _check_inside_run(self, run_span_s: float | None) -> None:
        """Refuse a replay that puts every request outside ``[0, run_span_s)`` (no end: ``None``)."""
        end = math.inf if run_span_s is None else float(run_span_s)
        if self.loop:  # copies follow one another from the offset on: only a start past the end is empty
            span = f"{self.start_offset_s:g} s or later"
            outside = self.start_offset_s >= end
        else:
            times = self._copy_times(0, 0, len(self.trace))
            span = f"{float(times[0]):g} s .. {float(times[-1]):g} s"
            outside = not bool(np.any((times >= 0.0) & (times < end)))
        if outside:
            run = f"0 s .. {end:g} s" if run_span_s is not None else "from 0 s"
            raise ScenarioError(
                f"workload.trace: every request falls at {span}, outside the run ({run}); "
                f"allowed: workload.trace_start_offset_s (now {self.start_offset_s:g}) and "
                f"workload.trace_time_scale (now {self.time_scale:g}) that put a request inside the run")

    def _copy_times(self, k: int, lo: int, hi: int) -> np.ndarray:
        """Simulation times of requests ``lo:hi`` of copy ``k`` (one formula for every call)."""
        shift = k * self.period_s if k else 0.0
        return self.start_offset_s + (self.trace.offset_s[lo:hi] + shift) * self.time_scale

    def arrivals(self, t0_s: float, t1_s: float) -> ArrivalBatch:
        """Arrivals in ``[t0_s, t1_s)`` (simulation seconds), sorted by time."""
        if not t1_s >= t0_s:
            raise ValueError(f"window [{t0_s!r}, {t1_s!r}) has t1_s < t0_s")
        t0_s = max(t0_s, 0.0)
        if t1_s <= t0_s:
            return ArrivalBatch.empty()
        off = self.trace.offset_s
        n = len(off)
        # Window in trace-offset units; candidate ranges are widened by one row on each side
        # and then filtered on the exact simulation times, so rounding never moves an arrival
        # across a window boundary differently in two calls.
        a = (t0_s - self.start_offset_s) / self.time_scale
        b = (t1_s - self.start_offset_s) / self.time_scale
        if self.period_s is None:
            copies = [0]
        else:
            k_lo = max(0, math.floor(a / self.period_s) - 1)
            k_hi = max(-1, math.floor(b / self.period_s) + 1)
            copies = list(range(k_lo, k_hi + 1))
        idx_parts: list[np.ndarray] = []
        time_parts: list[np.ndarray] = []
        for k in copies:
            shift = k * self.period_s if k else 0.0
            lo = max(int(np.searchsorted(off, a - shift, "left")) - 1, 0)
            hi = min(int(np.searchsorted(off, b - shift, "right")) + 1, n)
            if lo >= hi:
                continue
            t = self._copy_times(k, lo, hi)
            keep = (t >= t0_s) & (t < t1_s)
            idx_parts.append(np.arange(lo, hi)[keep])
            time_parts.append(t[keep])
        if not idx_parts:
            return ArrivalBatch.empty()
        idx = np.concatenate(idx_parts)
        times = np.concatenate(time_parts)
        return ArrivalBatch(
            times,
            self.trace.prompt_tokens[idx],
            self.trace.output_tokens[idx],
            np.full(len(idx), INTERACTIVE_CLASS, np.int8),
            None,
        )
