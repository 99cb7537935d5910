"""StepSignal: exact integrals against hand computation, range errors, DST-aware construction."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from grid.signals import StepSignal
from sim.clock import Clock

LA = ZoneInfo("America/Los_Angeles")


@pytest.fixture
def sig() -> StepSignal:
    # 2 on [0, 10), -1 on [10, 30), 5 on [30, 40]
    return StepSignal([0, 10, 30], [2, -1, 5], 40, "test", "x")


def test_value_at_breakpoints_and_inside(sig):
    assert sig.value(0) == 2
    assert sig.value(9.999) == 2
    assert sig.value(10) == -1
    assert sig.value(29.5) == -1
    assert sig.value(30) == 5
    assert sig.value(40) == 5


def test_integral_matches_hand_computation(sig):
    # [5, 35]: 2*5 + (-1)*20 + 5*5 = 15
    assert sig.integral(5, 35) == pytest.approx(15, abs=1e-9)
    # inside one piece: (-1) * (27.25 - 12.5)
    assert sig.integral(12.5, 27.25) == pytest.approx(-14.75, abs=1e-9)
    # partial first piece, whole middle piece, partial last piece
    assert sig.integral(7.5, 31.25) == pytest.approx(2 * 2.5 - 20 + 5 * 1.25, abs=1e-9)
    # whole span: 20 - 20 + 50
    assert sig.integral(0, 40) == pytest.approx(50, abs=1e-9)
    assert sig.cumulative(40) == pytest.approx(50, abs=1e-9)
    assert sig.cumulative(0) == 0
    assert sig.cumulative(12) == pytest.approx(20 - 2, abs=1e-9)
    assert sig.integral(3, 3) == 0
    assert sig.mean(5, 35) == pytest.approx(0.5, abs=1e-12)


def test_integral_equals_cumulative_difference_randomised():
    rng = np.random.default_rng(1)
    times = np.cumsum(rng.uniform(1, 100, 200)) - 50
    vals = rng.normal(0, 10, 200)
    s = StepSignal(times, vals, times[-1] + 30, "r", "x")
    for _ in range(200):
        a, b = np.sort(rng.uniform(times[0], s.end_s, 2))
        # brute force: sum of piece overlaps
        edges = np.append(times, s.end_s)
        overlap = np.clip(np.minimum(edges[1:], b) - np.maximum(edges[:-1], a), 0, None)
        truth = float(np.sum(overlap * vals))
        assert s.integral(a, b) == pytest.approx(truth, abs=1e-8)
        assert s.cumulative(b) - s.cumulative(a) == pytest.approx(truth, abs=1e-8)


def test_cumulative_monotone_for_positive_signal():
    rng = np.random.default_rng(2)
    times = np.cumsum(rng.uniform(0.5, 3600, 500))
    s = StepSignal(times, rng.uniform(0.01, 500, 500), times[-1] + 3600, "pos", "g_per_kwh")
    ts = np.sort(rng.uniform(s.start_s, s.end_s, 5000))
    cum = s.cumulative_at(ts)
    assert np.all(np.diff(cum) >= 0)
    assert [s.cumulative(float(t)) for t in ts[:50]] == pytest.approx(cum[:50].tolist(), rel=1e-12)


@pytest.mark.parametrize("method,args", [
    ("value", (-1,)), ("value", (40.5,)), ("cumulative", (41,)),
    ("integral", (-2, 5)), ("integral", (5, 50)), ("mean", (0, 41)),
])
def test_out_of_range_raises_with_message(sig, method, args):
    with pytest.raises(ValueError, match=r"signal test covers 0\.0 s \.\. 40\.0 s; asked for"):
        getattr(sig, method)(*args)


def test_vectorised_out_of_range(sig):
    with pytest.raises(ValueError, match=r"signal test covers 0\.0 s \.\. 40\.0 s; asked for 41\.0 s"):
        sig.values_at(np.array([1.0, 41.0]))
    with pytest.raises(ValueError, match="asked for -1.0 s"):
        sig.means_over(np.array([-1.0, 5.0]))


def test_values_at_matches_scalar(sig):
    ts = np.array([0, 5, 10, 20, 30, 39.9, 40])
    assert sig.values_at(ts).tolist() == [sig.value(float(t)) for t in ts]


def test_means_over_matches_integral_over_length(sig):
    edges = np.array([0, 3, 10, 12.5, 31, 40])
    expected = [sig.integral(a, b) / (b - a) for a, b in zip(edges[:-1], edges[1:])]
    assert sig.means_over(edges) == pytest.approx(expected, abs=1e-12)
    assert sig.means_over(edges)[0] == pytest.approx(2)
    assert sig.means_over(edges)[1] == pytest.approx(2)
    with pytest.raises(ValueError, match="strictly increase"):
        sig.means_over(np.array([0, 5, 5]))


@pytest.mark.parametrize("times,values,end,match", [
    ([0, 10, 10], [1, 2, 3], 20, "must strictly increase"),
    ([0, 10, 5], [1, 2, 3], 20, "must strictly increase"),
    ([0, 10], [1, 2, 3], 20, "lengths must be equal"),
    ([0, 10], [1, float("nan")], 20, "must be finite"),
    ([0, 10], [1, float("inf")], 20, "must be finite"),
    ([0, 10], [1, 2], 10, "after the last breakpoint"),
    ([], [], 10, "at least one"),
])
def test_validation_names_the_signal(times, values, end, match):
    with pytest.raises(ValueError, match=match) as err:
        StepSignal(times, values, end, "carbon_x", "g_per_kwh")
    assert "carbon_x" in str(err.value)


def test_from_local_hourly_dst_spring_forward_day():
    clock = Clock(datetime(2022, 3, 13, 0, 0, tzinfo=LA))
    profile = [100.0 + h for h in range(24)]
    s = StepSignal.from_local_hourly(clock, profile, 0, 2 * 86400, "ci", "g_per_kwh")
    day_end_s = 23 * 3600.0  # 2022-03-13 has 23 hours in Los Angeles
    assert clock.to_datetime(day_end_s) == datetime(2022, 3, 14, 0, 0, tzinfo=LA)
    first_day = [(t, v) for t, v in zip(s.times_s, s.values) if t < day_end_s]
    assert len(first_day) == 23
    # local hours of the day: 0, 1, then 3..23 (2 am does not exist)
    assert [v - 100 for _, v in first_day] == [0, 1] + list(range(3, 24))
    assert [t for t, _ in first_day] == [3600.0 * k for k in range(23)]
    # each piece holds the profile value of its local hour, checked independently via datetime
    for t, _ in first_day:
        mid = t + 1800
        assert s.value(mid) == profile[clock.to_datetime(mid).hour]
    # next day is a normal 24-piece day
    assert sum(1 for t in s.times_s if day_end_s <= t < day_end_s + 86400) == 24


def test_from_local_hourly_fall_back_day_has_25_pieces():
    clock = Clock(datetime(2022, 11, 6, 0, 0, tzinfo=LA))
    s = StepSignal.from_local_hourly(clock, list(range(24)), 0, 25 * 3600, "ci", "g")
    assert len(s) == 25
    assert list(s.values) == [0, 1, 1] + list(range(2, 24))


def test_from_local_hourly_starts_mid_hour():
    clock = Clock(datetime(2022, 6, 1, 10, 30, tzinfo=LA))
    s = StepSignal.from_local_hourly(clock, list(range(24)), 0, 7200, "p", "x")
    assert s.times_s == (0.0, 1800.0, 5400.0)
    assert s.values == (10, 11, 12)
    assert s.integral(0, 7200) == pytest.approx(1800 * 10 + 3600 * 11 + 1800 * 12)


def test_from_utc_series_anchors_to_calendar():
    clock = Clock(datetime(2022, 7, 1, 0, 0, tzinfo=LA))  # 07:00 UTC
    idx = pd.date_range("2022-07-01 00:00", periods=48, freq="h", tz="UTC")
    vals = np.arange(48.0)
    s = StepSignal.from_utc_series(clock, idx, vals, 0, 86400, "ci", "g")
    assert s.value(0) == 7  # 07:00 UTC is row 7
    assert s.value(3600 * 5 + 10) == 12
    assert s.end_s == 86400
    assert s.integral(0, 86400) == pytest.approx(3600 * sum(range(7, 31)))


def test_from_utc_series_missing_row_extends_previous_value():
    clock = Clock(datetime(2022, 1, 1, tzinfo=ZoneInfo("UTC")))
    idx = pd.DatetimeIndex(["2022-01-01 00:00", "2022-01-01 01:00", "2022-01-01 03:00", "2022-01-01 04:00"], tz="UTC")
    s = StepSignal.from_utc_series(clock, idx, [1, 2, 4, 5], 0, 5 * 3600, "ci", "g")
    assert s.values_at(np.array([0.5, 1.5, 2.5, 3.5, 4.5]) * 3600).tolist() == [1, 2, 2, 4, 5]


def test_from_utc_series_uncovered_span_raises():
    clock = Clock(datetime(2023, 1, 1, tzinfo=LA))
    idx = pd.date_range("2022-01-01", periods=8760, freq="h", tz="UTC")
    with pytest.raises(ValueError, match=r"signal ci: data covers 2022-01-01 .*the run needs 2023-01-01"):
        StepSignal.from_utc_series(clock, idx, np.ones(8760), 0, 3600, "ci", "g")
    clock22 = Clock(datetime(2022, 12, 31, 12, tzinfo=LA))  # runs past the data's end
    with pytest.raises(ValueError, match="data covers"):
        StepSignal.from_utc_series(clock22, idx, np.ones(8760), 0, 86400, "ci", "g")
    with pytest.raises(ValueError, match="timezone-aware"):
        StepSignal.from_utc_series(clock, idx.tz_localize(None), np.ones(8760), 0, 3600, "ci", "g")
