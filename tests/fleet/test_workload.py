"""Tests for fleet.workload: Azure trace loading/replay and the synthetic Poisson workload.

Statistical checks use fixed seeds and bounds of 4-5 standard errors (or the equivalent
distribution-free bands), so a correct implementation passes with overwhelming probability while
a wrong rate, profile, time placement or token table moves the statistic far outside the bound.
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from fleet.workload import (
    AZURE_CONV_2023_OUTPUT_DIST,
    AZURE_CONV_2023_OUTPUT_MEAN,
    AZURE_CONV_2023_OUTPUT_QUANTILES,
    AZURE_CONV_2023_PROMPT_DIST,
    AZURE_CONV_2023_PROMPT_MEAN,
    AZURE_CONV_2023_PROMPT_QUANTILES,
    BATCH_CLASS,
    DIURNAL_DEFAULT,
    DIURNAL_FLAT,
    INTERACTIVE_CLASS,
    ArrivalBatch,
    BatchParams,
    InteractiveParams,
    SyntheticWorkload,
    TokenDistribution,
    TraceData,
    TraceWorkload,
    load_azure_trace,
)
from sim.core.clock import Clock
from sim.core.errors import DataFileError, FleetsimInputError

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
CONV = DATA / "azure-llm-2023" / "AzureLLMInferenceTrace_conv.csv"
HEADER = "TIMESTAMP,ContextTokens,GeneratedTokens"
H = 3600.0


def _need_conv() -> Path:
    if not CONV.is_file():
        pytest.skip(f"real Azure trace not available at {CONV} (../shared/data absent)")
    return CONV


@pytest.fixture(scope="module")
def conv_df() -> pd.DataFrame:
    """The real conv trace read independently with pandas (nanosecond timestamps)."""
    path = _need_conv()
    df = pd.read_csv(path)
    df["t"] = pd.to_datetime(df["TIMESTAMP"], format="%Y-%m-%d %H:%M:%S.%f")
    return df


def _write(tmp_path: Path, text: str, name: str = "trace.csv") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode("utf-8"))
    return p


# ----------------------------------------------------------------------------------------------
# Real trace replay
# ----------------------------------------------------------------------------------------------


def test_real_conv_trace_loads_and_replays_exactly(conv_df):
    trace = load_azure_trace(CONV)
    assert len(trace) == 19_366
    assert int(trace.prompt_tokens.sum()) == 22_361_870
    assert int(trace.output_tokens.sum()) == 4_088_665
    assert trace.offset_s[0] == 0.0
    # Independent truth: pandas' own timestamp parsing.
    t = conv_df["t"]
    span = (t.iloc[-1] - t.iloc[0]).total_seconds()
    assert span == pytest.approx(3501.721937, abs=1e-6)
    assert trace.span_s == pytest.approx(span, abs=1e-9)
    expected = (t - t.iloc[0]).dt.total_seconds().to_numpy()
    assert np.max(np.abs(trace.offset_s - expected)) < 1e-9
    assert trace.first_timestamp == datetime(2023, 11, 16, 18, 15, 46, 680590)
    np.testing.assert_array_equal(trace.prompt_tokens, conv_df["ContextTokens"].to_numpy())

    wl = TraceWorkload(trace, start_offset_s=100.0)
    batch = wl.arrivals(0.0, 2 * H)
    assert len(batch) == 19_366
    assert int(batch.prompt_tokens.sum()) == 22_361_870
    assert int(batch.output_tokens.sum()) == 4_088_665
    assert batch.arrival_s[0] == 100.0
    assert batch.arrival_s[-1] == pytest.approx(100.0 + span)
    assert np.all(batch.job_class == INTERACTIVE_CLASS) and batch.service_s is None
    assert np.all(np.diff(batch.arrival_s) >= 0)


def test_azure_quantile_constants_are_the_trace_quantiles(conv_df):
    p = np.linspace(0.0, 1.0, 101)
    for col, table, mean in (
        ("ContextTokens", AZURE_CONV_2023_PROMPT_QUANTILES, AZURE_CONV_2023_PROMPT_MEAN),
        ("GeneratedTokens", AZURE_CONV_2023_OUTPUT_QUANTILES, AZURE_CONV_2023_OUTPUT_MEAN),
    ):
        x = conv_df[col].to_numpy()
        np.testing.assert_allclose(table, np.quantile(x, p), rtol=0, atol=1e-6)
        assert mean == pytest.approx(x.mean(), rel=1e-12)


# ----------------------------------------------------------------------------------------------
# Format quirks and bad input
# ----------------------------------------------------------------------------------------------

QUIRKY_ROWS = [
    "2023-11-16 18:15:46.6805900,374,44",
    "2023-11-16 18:15:50.9951690,396,109",
    "2023-11-16 18:15:50.9951690,1,2",  # equal timestamps are allowed
    "2023-11-16 18:16:00.0000001,5,6",
    "2023-11-17 00:00:00,7,8",  # no fraction, next day
]
# Hand-computed: 18:15:46.6805900 -> 18:15:50.9951690 is 4.3145790 s; -> 18:16:00.0000001 is
# 13.3194101 s; -> 24:00:00 is 5 h 44 min 13.3194100 s = 20653.31941 s.
QUIRKY_OFFSETS = [0.0, 4.314579, 4.314579, 13.3194101, 20653.31941]


@pytest.mark.parametrize(
    "text",
    [
        HEADER + "\r\n" + "\r\n".join(QUIRKY_ROWS),  # CRLF, no final newline (the Azure files)
        HEADER + "\n" + "\n".join(QUIRKY_ROWS) + "\n\n",  # LF, trailing blank line
        "\ufeff" + HEADER + "\r\n" + "\r\n".join(QUIRKY_ROWS) + "\r\n",  # BOM, final CRLF
    ],
    ids=["crlf-no-final-newline", "lf-blank-trailing-line", "bom-final-crlf"],
)
def test_quirky_file_parses_to_exact_offsets(tmp_path, text):
    trace = load_azure_trace(_write(tmp_path, text))
    assert trace.offset_s.dtype == np.float64
    np.testing.assert_allclose(trace.offset_s, QUIRKY_OFFSETS, rtol=0, atol=1e-12)
    assert trace.prompt_tokens.tolist() == [374, 396, 1, 5, 7]
    assert trace.output_tokens.tolist() == [44, 109, 2, 6, 8]
    assert trace.prompt_tokens.dtype == np.int64 and trace.output_tokens.dtype == np.int64
    assert trace.first_timestamp == datetime(2023, 11, 16, 18, 15, 46, 680590)


def test_nine_fractional_digits_are_kept(tmp_path):
    text = f"{HEADER}\n2023-11-16 00:00:00.123456789,1,1\n2023-11-16 00:00:00.12345679,1,1"
    trace = load_azure_trace(_write(tmp_path, text))
    assert trace.offset_s[1] == pytest.approx(1e-9, abs=1e-15)  # 6-digit parsing would give 0


GOOD = "2023-11-16 18:15:46.6805900,374,44"
BAD_CASES = {
    # id: (file text, line, fragments the message must contain)
    "empty": ("", 1, ["empty", HEADER]),
    "wrong-header": ("time,prompt,output\r\n" + GOOD, 1, ["'time,prompt,output'", HEADER]),
    "header-only": (HEADER + "\r\n", 2, ["no data rows", "at least one"]),
    "too-few-fields": (
        f"{HEADER}\r\n{GOOD}\r\n2023-11-16 18:15:50.1,5",
        3,
        ["2 fields", "'2023-11-16 18:15:50.1,5'", "expected 3"],
    ),
    "too-many-fields": (f"{HEADER}\r\n{GOOD},9", 2, ["4 fields", "expected 3"]),
    "blank-line-inside": (f"{HEADER}\r\n\r\n{GOOD}", 2, ["1 field ", "''", "expected 3"]),
    "bad-timestamp": (
        f"{HEADER}\r\n{GOOD}\r\n16/11/2023 18:15:50,5,6",
        3,
        ["TIMESTAMP is '16/11/2023 18:15:50'", "YYYY-MM-DD HH:MM:SS", "9 fractional digits"],
    ),
    "ten-fraction-digits": (
        f"{HEADER}\r\n2023-11-16 18:15:50.1234567890,5,6",
        2,
        ["'2023-11-16 18:15:50.1234567890'", "up to 9 fractional digits"],
    ),
    "no-such-date": (
        f"{HEADER}\r\n2023-02-30 18:15:50,5,6",
        2,
        ["'2023-02-30 18:15:50'", "YYYY-MM-DD", "no such date"],
    ),
    "no-such-time": (f"{HEADER}\r\n2023-02-03 24:15:50,5,6", 2, ["'2023-02-03 24:15:50'"]),
    "non-numeric-output": (
        f"{HEADER}\r\n{GOOD}\r\n{GOOD}\r\n2023-11-16 18:16:00.0,12,abc",
        4,
        ["GeneratedTokens is 'abc'", "expected an integer >= 1"],
    ),
    "zero-prompt": (
        f"{HEADER}\r\n2023-11-16 18:16:00.0,0,5",
        2,
        ["ContextTokens is '0'", "expected an integer >= 1"],
    ),
    "negative-prompt": (
        f"{HEADER}\r\n2023-11-16 18:16:00.0,-3,5",
        2,
        ["ContextTokens is '-3'", "integer >= 1"],
    ),
    "fractional-output": (
        f"{HEADER}\r\n2023-11-16 18:16:00.0,3,2.5",
        2,
        ["GeneratedTokens is '2.5'", "integer >= 1"],
    ),
    "huge-output": (
        f"{HEADER}\r\n2023-11-16 18:16:00.0,3,99999999999999999999",
        2,
        ["GeneratedTokens is '99999999999999999999'", "from 1 to 10000000"],
    ),
    "backwards": (
        f"{HEADER}\r\n{GOOD}\r\n2023-11-16 18:15:50.0,1,1\r\n2023-11-16 18:15:49.9999999,1,1",
        4,
        ["'2023-11-16 18:15:49.9999999'", "'2023-11-16 18:15:50.0'", "line 3", "non-decreasing"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_CASES), ids=list(BAD_CASES))
def test_bad_trace_files_raise_one_line_errors(tmp_path, case):
    text, line, fragments = BAD_CASES[case]
    path = _write(tmp_path, text)
    with pytest.raises(DataFileError) as err:
        load_azure_trace(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}:{line}: "), msg
    assert err.value.line == line
    assert "\n" not in msg
    for fragment in fragments:
        assert fragment in msg, (fragment, msg)


def test_missing_trace_file_names_the_key_and_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FleetsimInputError) as err:
        load_azure_trace("nope.csv")
    assert str(err.value) == "workload.trace = 'nope.csv': file not found (public data sets: fleetsim data list)"


def test_non_utf8_bytes_report_their_line(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(f"{HEADER}\r\n{GOOD}\r\n".encode() + b"2023-11-16 18:16:00.0,\xff,1")
    with pytest.raises(DataFileError, match=r":3: is not UTF-8"):
        load_azure_trace(path)


# ----------------------------------------------------------------------------------------------
# Trace replay: scaling, looping, window boundaries
# ----------------------------------------------------------------------------------------------


def _small_trace() -> TraceData:
    return TraceData(
        offset_s=np.array([0.0, 1.0, 1.0, 2.5, 4.0]),
        prompt_tokens=np.array([10, 11, 12, 13, 14], np.int64),
        output_tokens=np.array([1, 2, 3, 4, 5], np.int64),
        first_timestamp=datetime(2023, 11, 16),
    )


def test_trace_loop_scale_and_offset():
    trace = _small_trace()
    # period = last offset 4.0 + mean gap 4.0 / 4 = 5.0 trace seconds; x2 time scale -> 10 s.
    wl = TraceWorkload(trace, start_offset_s=3.0, time_scale=2.0, loop=True)
    assert wl.period_s == 5.0
    b = wl.arrivals(0.0, 33.0)
    expected = [3.0 + 2.0 * (o + 5.0 * k) for k in range(3) for o in trace.offset_s]
    np.testing.assert_allclose(b.arrival_s, [t for t in expected if t < 33.0])
    assert b.arrival_s.tolist() == sorted(b.arrival_s.tolist())
    assert b.prompt_tokens.tolist() == [10, 11, 12, 13, 14] * 3
    # Without looping the trace plays once.
    once = TraceWorkload(trace, start_offset_s=3.0, time_scale=2.0).arrivals(0.0, 1e6)
    assert len(once) == 5
    assert len(TraceWorkload(trace).arrivals(4.0, 100.0)) == 1  # half-open: 4.0 is in
    assert len(TraceWorkload(trace).arrivals(0.0, 4.0)) == 4  # ... and 4.0 is not in [0, 4)


def test_trace_windows_partition_arrivals_exactly():
    trace = _small_trace()
    wl = TraceWorkload(trace, start_offset_s=-7.3, time_scale=0.7, loop=True)
    whole = wl.arrivals(0.0, 200.0)
    # Cut points include exact arrival instants (where a boundary could duplicate an arrival)
    # and arbitrary points.
    rng = np.random.default_rng(3)
    cuts = np.unique(np.concatenate([whole.arrival_s[::3], rng.uniform(0, 200, 40), [0, 200]]))
    parts = [wl.arrivals(a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    for (a, b), part in zip(zip(cuts[:-1], cuts[1:], strict=True), parts, strict=True):
        assert np.all((part.arrival_s >= a) & (part.arrival_s < b))
    joined = ArrivalBatch.concat(parts)
    np.testing.assert_array_equal(joined.arrival_s, whole.arrival_s)
    np.testing.assert_array_equal(joined.prompt_tokens, whole.prompt_tokens)
    assert len(whole) == pytest.approx(200 / (5.0 * 0.7) * 5, abs=6)


def test_trace_workload_rejects_bad_parameters():
    with pytest.raises(ValueError, match="time_scale is 0"):
        TraceWorkload(_small_trace(), time_scale=0)
    one = TraceData(np.zeros(1), np.ones(1, np.int64), np.ones(1, np.int64), datetime(2023, 1, 1))
    with pytest.raises(ValueError, match="loop=True"):
        TraceWorkload(one, loop=True)


# ----------------------------------------------------------------------------------------------
# Synthetic Poisson arrivals
# ----------------------------------------------------------------------------------------------


def _clock(tz: str, *args: int) -> Clock:
    return Clock(datetime(*args, tzinfo=ZoneInfo(tz)))


def _ks_exponential(x: np.ndarray, rate: float) -> float:
    """Kolmogorov-Smirnov statistic of samples ``x`` against Exp(rate)."""
    x = np.sort(x)
    n = len(x)
    cdf = 1.0 - np.exp(-rate * x)
    i = np.arange(1, n + 1)
    return float(max(np.max(i / n - cdf), np.max(cdf - (i - 1) / n)))


def test_flat_profile_is_a_homogeneous_poisson_process():
    rate, hours = 0.1, 2000
    clock = _clock("UTC", 2024, 1, 1)
    params = InteractiveParams(rate, DIURNAL_FLAT)
    wl = SyntheticWorkload(params, None, clock, np.random.default_rng(1))
    b = wl.arrivals(0.0, hours * H)
    t = b.arrival_s
    assert np.all(np.diff(t) >= 0) and t[0] >= 0 and t[-1] < hours * H
    counts = np.bincount((t // H).astype(int), minlength=hours)
    lam = rate * H  # 360 per hour
    # Mean of n Poisson(lam) counts: standard error sqrt(lam / n).
    assert abs(counts.mean() - lam) < 4 * math.sqrt(lam / hours)
    # Sample variance of Poisson counts: Var(s^2) ~ (mu4 - sigma^4) / n = (lam + 2 lam^2) / n.
    assert abs(counts.var(ddof=1) - lam) < 4 * math.sqrt((lam + 2 * lam**2) / hours)
    # Gaps (including 0 -> first arrival) are i.i.d. Exp(rate): KS at alpha = 0.001 uses the
    # asymptotic Kolmogorov critical value 1.949 / sqrt(n).
    gaps = np.diff(np.concatenate([[0.0], t]))
    assert _ks_exponential(gaps, rate) < 1.949 / math.sqrt(len(gaps))
    # Sanity of the KS helper: gaps from a wrong rate are rejected.
    assert _ks_exponential(gaps, 1.1 * rate) > 1.949 / math.sqrt(len(gaps))
    assert np.all(b.job_class == INTERACTIVE_CLASS) and b.service_s is None
    assert b.prompt_tokens.dtype == np.int64 and b.job_class.dtype == np.int8


def test_diurnal_profile_counts_per_local_hour():
    # Tokyo has no DST: local hour of sim second t is floor(t / 3600) % 24 from local midnight.
    rate, days = 0.05, 100
    wl = SyntheticWorkload(
        InteractiveParams(rate, DIURNAL_DEFAULT),
        None,
        _clock("Asia/Tokyo", 2024, 1, 1),
        np.random.default_rng(2),
    )
    t = wl.arrivals(0.0, days * 24 * H).arrival_s
    observed = np.bincount((t // H).astype(int) % 24, minlength=24)
    w = np.array(DIURNAL_DEFAULT)
    expected = days * H * rate * w / w.mean()
    z = (observed - expected) / np.sqrt(expected)
    assert np.max(np.abs(z)) < 4.5
    # Chi-square with 24 degrees of freedom (expectations fixed in advance): mean 24, sd sqrt(48);
    # 24 + 5 sd (58.6) has upper-tail probability ~1e-4.
    assert np.sum(z**2) < 24 + 5 * math.sqrt(48)


def test_diurnal_default_shape():
    w = np.array(DIURNAL_DEFAULT)
    assert len(w) == 24 and w.mean() == pytest.approx(1.0, abs=1e-12)
    assert int(np.argmin(w)) == 4 and w.min() == pytest.approx(0.4)
    assert 12 <= int(np.argmax(w)) <= 20 and w.max() == pytest.approx(1.5)
    assert np.max(np.abs(np.diff(np.append(w, w[0])))) <= 0.25  # smooth, including 23 -> 0 h


@pytest.mark.parametrize(
    ("day", "n_hours"),
    [((2023, 11, 5), 25), ((2023, 3, 12), 23)],
    ids=["fall-back-25h", "spring-forward-23h"],
)
def test_dst_days_use_local_clock_hours(day, n_hours):
    tz = ZoneInfo("America/New_York")
    start = datetime(*day, tzinfo=tz)
    end = datetime(*day, tzinfo=tz) + timedelta(days=1)  # wall-clock next midnight
    length_s = (end.astimezone(timezone.utc) - start.astimezone(timezone.utc)).total_seconds()
    assert length_s == n_hours * H
    rate = 2.0
    wl = SyntheticWorkload(
        InteractiveParams(rate, DIURNAL_DEFAULT), None, Clock(start), np.random.default_rng(5)
    )
    t = wl.arrivals(0.0, length_s).arrival_s
    observed = np.bincount((t // H).astype(int), minlength=n_hours)
    assert len(observed) == n_hours
    # Independent truth: the local hour of each elapsed UTC hour, from zoneinfo.
    start_utc = start.astimezone(timezone.utc)
    local_hour = [(start_utc + timedelta(hours=j)).astimezone(tz).hour for j in range(n_hours)]
    expected = rate * H * np.array(DIURNAL_DEFAULT)[local_hour]
    z = (observed - expected) / np.sqrt(expected)
    assert np.max(np.abs(z)) < 4.5, z


def test_batch_arrivals_are_homogeneous_with_fixed_tokens():
    rate = 1 / 600.0
    wl = SyntheticWorkload(
        None, BatchParams(rate), _clock("Europe/Berlin", 2024, 3, 1), np.random.default_rng(4)
    )
    span = 2000 * H
    b = wl.arrivals(0.0, span)
    lam = rate * span  # 12,000
    assert abs(len(b) - lam) < 4 * math.sqrt(lam)
    assert np.all(b.job_class == BATCH_CLASS)
    assert set(b.prompt_tokens.tolist()) == {4000} and set(b.output_tokens.tolist()) == {20000}
    gaps = np.diff(np.concatenate([[0.0], b.arrival_s]))
    assert _ks_exponential(gaps, rate) < 1.949 / math.sqrt(len(gaps))
    assert wl.class_limits[BATCH_CLASS].slo_s == 6 * H


def test_adjacent_windows_match_one_call_in_distribution():
    clock = _clock("America/New_York", 2024, 6, 1, 0)
    rate, brate = 0.02, 0.005
    T = 3 * H  # split at 1.5 h: the boundary cuts a local hour in two
    w = np.array(DIURNAL_DEFAULT)
    lam = rate * H * (w[0] + w[1] + w[2]) + brate * T  # clock starts at local midnight
    one, two = [], []
    for seed in range(300):
        params = (InteractiveParams(rate, DIURNAL_DEFAULT), BatchParams(brate))
        whole = SyntheticWorkload(*params, clock, np.random.default_rng(seed)).arrivals(0.0, T)
        wl = SyntheticWorkload(*params, clock, np.random.default_rng(seed))
        a, b = wl.arrivals(0.0, T / 2), wl.arrivals(T / 2, T)
        assert np.all(a.arrival_s < T / 2) and np.all(b.arrival_s >= T / 2)
        joined = ArrivalBatch.concat([a, b])
        assert np.all(np.diff(joined.arrival_s) > 0)  # sorted, and no arrival appears twice
        assert np.all(np.diff(whole.arrival_s) > 0)
        one.append(len(whole))
        two.append(len(joined))
    for counts in (np.array(one), np.array(two)):
        assert abs(counts.mean() - lam) < 4 * math.sqrt(lam / len(counts))
        assert abs(counts.var(ddof=1) - lam) < 4 * math.sqrt((lam + 2 * lam**2) / len(counts))


def test_arrivals_window_edge_cases():
    wl = SyntheticWorkload(
        InteractiveParams(1.0), None, _clock("UTC", 2024, 1, 1), np.random.default_rng(0)
    )
    assert len(wl.arrivals(5.0, 5.0)) == 0
    with pytest.raises(ValueError, match="t1_s < t0_s"):
        wl.arrivals(5.0, 4.0)
    b = wl.arrivals(-H, H)  # before the start instant is allowed (hours are still local hours)
    assert np.all((b.arrival_s >= -H) & (b.arrival_s < H))


def test_exponential_service_requirements():
    mean_s = 2.5
    wl = SyntheticWorkload(
        InteractiveParams(1.0, DIURNAL_FLAT),
        BatchParams(0.01),
        _clock("UTC", 2024, 1, 1),
        np.random.default_rng(6),
        exponential_service_mean_s=mean_s,
    )
    b = wl.arrivals(0.0, 50_000.0)
    s = b.service_s
    assert s is not None and s.dtype == np.float64 and len(s) == len(b)
    assert np.all(s > 0)
    # Exponential: sd = mean, so the sample mean has standard error mean / sqrt(n).
    assert abs(s.mean() - mean_s) < 4 * mean_s / math.sqrt(len(s))
    assert _ks_exponential(s, 1 / mean_s) < 1.949 / math.sqrt(len(s))
    assert len(wl.arrivals(0.0, 0.0).service_s) == 0


def test_params_validation():
    with pytest.raises(ValueError, match="rate_per_s is -1; expected a finite number >= 0"):
        InteractiveParams(-1)
    with pytest.raises(ValueError, match="diurnal is .*expected 24"):
        InteractiveParams(1.0, (1.0,) * 23)
    with pytest.raises(ValueError, match="output_tokens is 0; expected an integer >= 1"):
        BatchParams(1.0, output_tokens=0)
    with pytest.raises(ValueError, match="exponential_service_mean_s is 0"):
        SyntheticWorkload(
            None, None, _clock("UTC", 2024, 1, 1), np.random.default_rng(0),
            exponential_service_mean_s=0,
        )


# ----------------------------------------------------------------------------------------------
# Token sampler
# ----------------------------------------------------------------------------------------------

N_TOKENS = 200_000


def _quantile_band(dist: TokenDistribution, p: float, n: int) -> tuple[float, float]:
    """Where the sample p-quantile of n draws lies w.h.p.: Q(p -/+ 4 sd of the empirical CDF).

    The empirical CDF at a fixed point has sd sqrt(p(1-p)/n); +-1 token covers rounding.
    """
    d = 4 * math.sqrt(p * (1 - p) / n)
    return float(dist.quantile(max(p - d, 0.0))) - 1, float(dist.quantile(min(p + d, 1.0))) + 1


@pytest.mark.parametrize(
    ("dist", "column"),
    [
        (AZURE_CONV_2023_PROMPT_DIST, "ContextTokens"),
        (AZURE_CONV_2023_OUTPUT_DIST, "GeneratedTokens"),
    ],
    ids=["prompt", "output"],
)
def test_token_sampler_reproduces_trace_mean_median_quantiles(conv_df, dist, column):
    x = conv_df[column].to_numpy()
    s = dist.sample(np.random.default_rng(7), N_TOKENS)
    assert s.dtype == np.int64 and s.min() >= 1
    assert abs(s.mean() - x.mean()) < 4 * x.std() / math.sqrt(N_TOKENS)
    lo, hi = _quantile_band(dist, 0.5, N_TOKENS)
    assert lo <= np.median(s) <= hi
    assert lo <= np.median(x) <= hi
    for p in (0.05, 0.1, 0.25, 0.75, 0.9, 0.95, 0.99):
        lo, hi = _quantile_band(dist, p, N_TOKENS)
        assert lo <= np.quantile(s, p) <= hi, p
        assert lo <= np.quantile(x, p) <= hi, p  # the band is around the trace's own quantile


def test_token_sampler_without_data():
    for dist, mean, median in (
        (AZURE_CONV_2023_PROMPT_DIST, AZURE_CONV_2023_PROMPT_MEAN, 1020),
        (AZURE_CONV_2023_OUTPUT_DIST, AZURE_CONV_2023_OUTPUT_MEAN, 129),
    ):
        assert dist.mean_tokens == pytest.approx(mean, rel=1e-12)
        s = dist.sample(np.random.default_rng(8), N_TOKENS)
        assert abs(s.mean() - mean) < 4 * s.std() / math.sqrt(N_TOKENS)
        lo, hi = _quantile_band(dist, 0.5, N_TOKENS)
        assert lo <= np.median(s) <= hi and lo <= median <= hi


def test_mean_correction_only_moves_the_top_point():
    raw = TokenDistribution(AZURE_CONV_2023_PROMPT_QUANTILES)
    # Uncorrected linear interpolation over-states the heavy-tailed prompt mean by ~3.5 %.
    assert raw.mean_tokens == pytest.approx(1195.447, abs=1e-3)
    fixed = AZURE_CONV_2023_PROMPT_DIST
    assert fixed.quantiles[:-1] == AZURE_CONV_2023_PROMPT_QUANTILES[:-1]
    assert AZURE_CONV_2023_PROMPT_QUANTILES[-2] <= fixed.quantiles[-1] < 14050.0
    with pytest.raises(ValueError, match="mean_tokens is 100; expected >= "):
        TokenDistribution(AZURE_CONV_2023_PROMPT_QUANTILES, mean_tokens=100)


def test_token_distribution_rounding_and_validation():
    d = TokenDistribution((0.0, 0.2, 3.0))
    s = d.sample(np.random.default_rng(9), 10_000)
    assert s.min() == 1 and s.max() == 3 and s.dtype == np.int64
    assert set(TokenDistribution.constant(4000).sample(np.random.default_rng(0), 50)) == {4000}
    with pytest.raises(ValueError, match="non-decreasing"):
        TokenDistribution((5.0, 3.0))
    with pytest.raises(ValueError, match="tokens is 0"):
        TokenDistribution.constant(0)


# ----------------------------------------------------------------------------------------------
# ArrivalBatch
# ----------------------------------------------------------------------------------------------


def test_concat_sorts_stably_and_checks_service():
    a = ArrivalBatch(
        np.array([1.0, 3.0]), np.array([1, 2]), np.array([1, 1]), np.array([0, 0], np.int8), None
    )
    b = ArrivalBatch(
        np.array([1.0, 2.0]), np.array([9, 8]), np.array([1, 1]), np.array([1, 1], np.int8), None
    )
    m = ArrivalBatch.concat([a, b])
    assert m.arrival_s.tolist() == [1.0, 1.0, 2.0, 3.0]
    assert m.prompt_tokens.tolist() == [1, 9, 8, 2]  # tie at 1.0 keeps input order
    assert m.job_class.tolist() == [0, 1, 1, 0] and len(m) == 4
    with_service = ArrivalBatch(
        np.array([0.5]), np.array([1]), np.array([1]), np.array([0], np.int8), np.array([2.0])
    )
    with pytest.raises(ValueError, match="with and without service_s"):
        ArrivalBatch.concat([a, with_service])
    assert len(ArrivalBatch.concat([])) == 0
    with pytest.raises(ValueError, match="same length"):
        ArrivalBatch(np.zeros(2), np.ones(1), np.ones(2), np.zeros(2, np.int8), None)
