"""StepSignal: exact integrals against hand computation, range errors, DST-aware construction."""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from grid.signals import CalendarSignal, StepSignal
from sim.core.clock import Clock

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


# ---- CalendarSignal ------------------------------------------------------------------------------
UTC = ZoneInfo("UTC")


def _hourly_utc(start: datetime, values) -> CalendarSignal:
    idx = pd.date_range(start, periods=len(values), freq="h", tz="UTC")
    return CalendarSignal.from_series(pd.Series(values, index=idx, dtype=float), "ci", "g_per_kwh")


def test_calendar_integral_across_fall_back_by_hand():
    # value 10 + k during UTC hour k of 2022-11-06; Los Angeles falls back at 09:00 UTC (02:00 PDT -> 01:00 PST)
    sig = _hourly_utc(datetime(2022, 11, 6, tzinfo=UTC), [10.0 + k for k in range(24)])
    a = datetime(2022, 11, 6, 0, 30, tzinfo=LA)  # PDT, 07:30 UTC
    b = datetime(2022, 11, 6, 2, 15, tzinfo=LA)  # PST, 10:15 UTC: 2 h 45 min later, not 1 h 45 min
    by_hand = 1800 * 17 + 3600 * 18 + 3600 * 19 + 900 * 20
    assert sig.integral(a, b) == by_hand
    assert sig.mean(a, b) == pytest.approx(by_hand / 9900, rel=1e-15)
    # the repeated local hour 01:00-02:00: first pass is 08:00 UTC, second (fold=1) is 09:00 UTC
    assert sig.value(datetime(2022, 11, 6, 1, 30, tzinfo=LA)) == 18
    assert sig.value(datetime(2022, 11, 6, 1, 30, tzinfo=LA, fold=1)) == 19


def test_calendar_integral_across_spring_forward_by_hand():
    # Los Angeles skips 02:00-03:00 on 2022-03-13: 01:00 PST (09:00 UTC) to 03:00 PDT (10:00 UTC) is one hour
    sig = _hourly_utc(datetime(2022, 3, 13, tzinfo=UTC), [float(k * k) for k in range(24)])
    a = datetime(2022, 3, 13, 1, 0, tzinfo=LA)
    b = datetime(2022, 3, 13, 3, 0, tzinfo=LA)
    assert sig.integral(a, b) == 3600 * 81
    assert sig.integral(a, b + timedelta(minutes=20)) == 3600 * 81 + 1200 * 100
    assert sig.mean(a, b) == 81


def test_calendar_series_in_local_time_is_stored_as_utc():
    idx = pd.date_range("2022-11-06 00:00", periods=4, freq="h", tz=LA)  # 00:00 PDT, 01:00 PDT, 01:00 PST, 02:00 PST
    sig = CalendarSignal.from_series(pd.Series([1.0, 2.0, 3.0, 4.0], index=idx), "p", "usd_per_kwh")
    assert str(sig.times.tz) == "UTC"
    assert list(sig.times.hour) == [7, 8, 9, 10]
    assert sig.end == datetime(2022, 11, 6, 11, tzinfo=UTC)
    assert sig.integral(sig.start, sig.end) == 3600 * 10
    assert sig.to_series().tolist() == [1.0, 2.0, 3.0, 4.0]


def test_calendar_from_series_explicit_step_and_gaps():
    idx = pd.DatetimeIndex(["2022-01-01 00:00", "2022-01-01 01:00", "2022-01-01 03:00"], tz="UTC")
    s = pd.Series([1.0, 2.0, 4.0], index=idx)
    sig = CalendarSignal.from_series(s, "ci", "g", step=timedelta(minutes=15))
    assert sig.end == datetime(2022, 1, 1, 3, 15, tzinfo=UTC)
    assert sig.value(datetime(2022, 1, 1, 2, 30, tzinfo=UTC)) == 2  # a missing row extends the previous value
    assert sig.integral(sig.start, sig.end) == 3600 * 1 + 7200 * 2 + 900 * 4
    assert CalendarSignal.from_series(s, "ci", "g").end == datetime(2022, 1, 1, 4, 30, tzinfo=UTC)  # median 1.5 h
    assert len(sig) == 3 and "CalendarSignal('ci'" in repr(sig)


@pytest.mark.parametrize("when", [
    datetime(2022, 5, 31, 23, 59, tzinfo=UTC),
    datetime(2022, 6, 1, 3, 0, 1, tzinfo=UTC),
    datetime(2022, 5, 31, 20, 0, 1, tzinfo=LA),  # 03:00:01 UTC
])
def test_calendar_out_of_range_raises_one_line(when):
    sig = _hourly_utc(datetime(2022, 6, 1, tzinfo=UTC), [1.0, 2.0, 3.0])
    inside = datetime(2022, 6, 1, 1, tzinfo=UTC)
    pattern = r"^signal ci covers 2022-06-01T00:00:00\+00:00 \.\. 2022-06-01T03:00:00\+00:00; asked for "
    for call in (lambda: sig.value(when), lambda: sig.integral(min(when, inside), max(when, inside)),
                 lambda: sig.mean(min(when, inside), max(when, inside))):
        with pytest.raises(ValueError, match=pattern + re.escape(when.isoformat())) as err:
            call()
        assert "\n" not in str(err.value)
    assert sig.value(sig.end) == 3  # the end instant itself is covered


def test_calendar_rejects_naive_and_reversed_and_bad_data():
    sig = _hourly_utc(datetime(2022, 6, 1, tzinfo=UTC), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="must be timezone-aware"):
        sig.value(datetime(2022, 6, 1, 1))
    a, b = datetime(2022, 6, 1, 1, tzinfo=UTC), datetime(2022, 6, 1, 2, tzinfo=UTC)
    with pytest.raises(ValueError, match="signal ci: integral from .* to earlier"):
        sig.integral(b, a)
    with pytest.raises(ValueError, match="signal ci: mean needs start < end"):
        sig.mean(a, a)
    t = [datetime(2022, 1, 1, h, tzinfo=UTC) for h in (0, 2, 1)]
    with pytest.raises(ValueError, match="signal x: timestamp 2022-01-01 01:00:00\\+00:00 does not follow"):
        CalendarSignal(t, [1, 2, 3], datetime(2022, 1, 2, tzinfo=UTC), "x", "u")
    with pytest.raises(ValueError, match="signal x: end .* must be after the last timestamp"):
        CalendarSignal(t[:2], [1, 2], t[1], "x", "u")
    with pytest.raises(ValueError, match="signal x: value 1 is nan"):
        CalendarSignal(t[:2], [1, float("nan")], t[1] + timedelta(hours=1), "x", "u")
    with pytest.raises(ValueError, match="timezone-aware"):
        CalendarSignal([datetime(2022, 1, 1)], [1], datetime(2022, 1, 2, tzinfo=UTC), "x", "u")
    with pytest.raises(ValueError, match="at least two timestamps"):
        CalendarSignal.from_series(pd.Series([1.0], index=pd.DatetimeIndex(["2022-01-01"], tz="UTC")), "x", "u")


def test_to_step_matches_calendar_integrals_across_dst():
    rng = np.random.default_rng(7)
    sig = _hourly_utc(datetime(2022, 11, 4, tzinfo=UTC), rng.uniform(50, 450, 96))
    clock = Clock(datetime(2022, 11, 5, 12, 20, tzinfo=LA))  # the run crosses the 2022-11-06 fall-back
    step = sig.to_step(clock, 0, 36 * 3600)
    assert isinstance(step, StepSignal)
    assert (step.name, step.unit, step.start_s, step.end_s) == ("ci", "g_per_kwh", 0.0, 36 * 3600.0)
    for _ in range(100):
        a_s, b_s = np.sort(rng.integers(0, 36 * 3600 * 1000, 2)) / 1000  # ms: exact as datetimes
        a, b = clock.to_datetime(float(a_s)), clock.to_datetime(float(b_s))
        assert step.integral(a_s, b_s) == pytest.approx(sig.integral(a, b), rel=1e-12, abs=1e-9)
        assert step.value(a_s) == sig.value(a)
    assert step.integral(0, 36 * 3600) == pytest.approx(sig.integral(clock.start, clock.to_datetime(36 * 3600)))


def test_to_step_equals_from_utc_series_and_reaches_data_end():
    idx = pd.date_range("2022-07-01", periods=48, freq="h", tz="UTC")
    vals = np.arange(48.0)
    sig = CalendarSignal.from_series(pd.Series(vals, index=idx), "ci", "g")
    clock = Clock(datetime(2022, 7, 1, tzinfo=LA))  # 07:00 UTC
    a = sig.to_step(clock, 0, 86400)
    b = StepSignal.from_utc_series(clock, idx, vals, 0, 86400, "ci", "g")
    assert (a.times_s, a.values, a.end_s) == (b.times_s, b.values, b.end_s)
    end_s = (sig.end - clock.start).total_seconds()  # the data's last instant is usable
    assert sig.to_step(clock, 3600, end_s).integral(3600, end_s) == sig.integral(clock.to_datetime(3600), sig.end)


def test_to_step_uncovered_run_raises():
    sig = _hourly_utc(datetime(2022, 7, 1, tzinfo=UTC), np.ones(24))
    clock = Clock(datetime(2022, 7, 1, tzinfo=LA))  # 07:00 UTC: one day runs 7 h past the data
    with pytest.raises(ValueError, match=r"signal ci: data covers 2022-07-01 00:00:00\+00:00 \.\. 2022-07-02 "
                                         r"00:00:00\+00:00 .*the run needs 2022-07-01 00:00:00-07:00"):
        sig.to_step(clock, 0, 86400)
    with pytest.raises(ValueError, match="needs t0_s < t1_s"):
        sig.to_step(clock, 10, 10)
