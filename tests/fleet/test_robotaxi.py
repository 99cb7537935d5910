"""Tests of fleet.robotaxi and the mixed-fleet DayPlanner, against independent truth.

Truth used: Poisson counts (mean = variance = rate x window), the arithmetic of the empty share,
a saturated single server computed by hand (deterministic rides: an exact count per car; random
rides: renewal theory, rate = 1 / (mean ride + dwell)), and bounds on a FIFO queue with a
window end. Statistical tolerances are 4 standard errors (each check uses a fixed seed).
"""
from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from fleet.mobility import HOME, DayPlan, MobilityModel, MobilityParams
from fleet.planner import DayPlanner, PlanLists, concat_plans
from fleet.robotaxi import OccupiedDayPlan, RobotaxiModel, RobotaxiParams
from sim.core.clock import Clock
from sim.core.errors import ScenarioError

DAY0_S = 5 * 86400.0  # plans need not start at t = 0
Z = 4.0
FAST_KMH = 1e7  # rides last ~0.01 s: the car is never busy


def _plan(params: RobotaxiParams, n: int, seed: int, **kw) -> OccupiedDayPlan:
    model = RobotaxiModel(params, np.random.default_rng(seed))
    return model.plan_day(kw.pop("day_start_s", DAY0_S), kw.pop("day_length_s", 86400.0), False,
                          np.zeros(n, dtype=bool), **kw)


def _window_s(p: RobotaxiParams, day_length_s: float = 86400.0) -> tuple[float, float]:
    h = day_length_s / 24.0
    return DAY0_S + p.service_start_h * h, DAY0_S + p.service_end_h * h


def _per_vehicle(plan: DayPlan, values: np.ndarray) -> np.ndarray:
    owner = np.repeat(np.arange(plan.n_vehicles), plan.trip_counts())
    return np.bincount(owner, weights=values, minlength=plan.n_vehicles)


def _assert_mean(sample: np.ndarray, expected: float, what: str) -> None:
    se = sample.std(ddof=1) / math.sqrt(sample.size)
    assert abs(sample.mean() - expected) <= Z * se, f"{what}: {sample.mean()} vs {expected} ({se=})"


def _assert_well_formed(plan: OccupiedDayPlan, p: RobotaxiParams, w0_s: float, w1_s: float,
                        earliest_s: np.ndarray | None = None) -> None:
    n = plan.trip_counts()
    m = int(plan.offsets[-1])
    assert plan.offsets[0] == 0 and np.all(n >= 0)
    for col in (plan.depart_s, plan.arrive_s, plan.distance_km, plan.destination, plan.occupied_km):
        assert col.shape == (m,)
    assert np.all(plan.destination == HOME)  # every ride is a round trip from the depot
    assert np.all(plan.arrive_s > plan.depart_s)
    assert np.all(plan.depart_s >= w0_s) and np.all(plan.arrive_s <= w1_s)
    first = plan.offsets[:-1][n > 0]
    follows = np.ones(m, dtype=bool)
    follows[first] = False
    gap_s = plan.depart_s[1:] - plan.arrive_s[:-1]
    assert np.all(gap_s[follows[1:]] >= p.min_dwell_s - 1e-6)
    if earliest_s is not None:
        assert np.all(plan.depart_s[first] >= earliest_s[n > 0])
    assert np.all(plan.occupied_km > 0) and np.all(plan.occupied_km <= p.max_ride_km)
    np.testing.assert_allclose(plan.arrive_s - plan.depart_s, plan.distance_km / p.speed_kmh * 3600.0, rtol=1e-9)


# --- rates: rarely busy --------------------------------------------------------------------------

def test_rides_per_service_hour_are_poisson_when_never_busy():
    """Instant rides, no dwell: every request is served; counts are Poisson(rate x window)."""
    p = RobotaxiParams(rides_per_hour=0.5, speed_kmh=FAST_KMH, min_dwell_s=0.0)
    plan = _plan(p, 200_000, seed=1)
    hours = p.service_end_h - p.service_start_h
    counts = plan.trip_counts().astype(float)
    mu = p.rides_per_hour * hours  # 9 rides per car-day
    _assert_mean(counts, mu, "rides per car-day")
    # Poisson dispersion: variance = mean; Var(s^2) ~ (mu + 2 mu^2) / n.
    assert abs(counts.var(ddof=1) - mu) <= Z * math.sqrt((mu + 2 * mu * mu) / counts.size)
    # Request times are uniform over the window: each service hour holds 1/18 of the rides.
    w0_s, _ = _window_s(p)
    hour = ((plan.depart_s - w0_s) // 3600).astype(int)
    share = np.bincount(hour, minlength=int(hours)) / hour.size
    assert share.size == hours
    assert np.all(np.abs(share - 1 / hours) <= Z * math.sqrt((1 / hours) * (1 - 1 / hours) / hour.size))
    # All requests served, so the occupied km are the unselected distribution: mean = mean_ride_km.
    _assert_mean(plan.occupied_km, p.mean_ride_km, "occupied km per ride")


def test_low_rate_realistic_rides_between_queue_bounds():
    """Default rides (~32 min), 0.05 requests/h. Exact bounds on E[rides per car-day]:

    upper: a ride departs at or after its request, so only requests with ``t + D <= end`` can be
    served: ``rate x E[(T - D)+] = rate x (T - E[D])`` (rides are shorter than the window).
    lower: such a request is served unless it arrives while the car is out or dwelling, and the
    expected number of requests arriving in those intervals is ``rate x E[busy time]``.
    """
    p = RobotaxiParams(rides_per_hour=0.05)
    plan = _plan(p, 400_000, seed=2)
    T_h = p.service_end_h - p.service_start_h
    mean_ride_h = p.mean_ride_km / (1 - p.empty_share) / p.speed_kmh  # by hand: 0.536 h
    assert mean_ride_h * 3600 == pytest.approx(p.mean_ride_s)
    assert p.max_ride_km / (1 - p.empty_share) / p.speed_kmh < T_h
    counts = plan.trip_counts().astype(float)
    busy_h = _per_vehicle(plan, (plan.arrive_s - plan.depart_s + p.min_dwell_s) / 3600.0)
    upper = p.rides_per_hour * (T_h - mean_ride_h)
    lower = upper - p.rides_per_hour * busy_h.mean()
    se = counts.std(ddof=1) / math.sqrt(counts.size)
    assert lower - Z * se <= counts.mean() <= upper + Z * se, (lower, counts.mean(), upper)
    assert upper - lower < 0.03 * upper  # the bounds are tight: the car is rarely busy
    _assert_well_formed(plan, p, *_window_s(p))


# --- rates: saturated ----------------------------------------------------------------------------

def test_high_rate_deterministic_rides_exact_back_to_back_count():
    """Fixed ride length (sigma 0), 30 requests/h: after the first request the queue never empties
    (P(no request in one cycle) = exp(-30 x 0.57) ~ 4e-8), so car departures are
    ``t1 + k (D + dwell)`` and the count is ``floor((end - t1 - D) / (D + dwell)) + 1``."""
    p = RobotaxiParams(rides_per_hour=30.0, ride_km_sigma=0.0)
    plan = _plan(p, 5_000, seed=3)
    w0_s, w1_s = _window_s(p)
    D_s = p.mean_ride_km / (1 - p.empty_share) / p.speed_kmh * 3600.0  # 1928.6 s
    cycle_s = D_s + p.min_dwell_s
    n = plan.trip_counts()
    t1 = plan.depart_s[plan.offsets[:-1]]
    expected = np.floor((w1_s - t1 - D_s) / cycle_s).astype(int) + 1
    np.testing.assert_array_equal(n, expected)
    k = np.arange(plan.depart_s.size) - np.repeat(plan.offsets[:-1], n)
    np.testing.assert_allclose(plan.depart_s, np.repeat(t1, n) + k * cycle_s, rtol=0, atol=1e-6)
    rides_per_h = n.mean() / (p.service_end_h - p.service_start_h)
    assert rides_per_h == pytest.approx(3600.0 / cycle_s, rel=0.03)  # limit 1.757 rides/h
    assert _per_vehicle(plan, plan.arrive_s - plan.depart_s).mean() / (w1_s - w0_s) > 0.9


def test_high_rate_random_rides_run_at_the_renewal_limit():
    """Default ride distribution, 30 requests/h: the car is busy back to back.

    Rides departing in ``[07:00, end - longest ride]`` can never be cut by the window's end, so
    their departures form a renewal process with cycle ``D + dwell``: rate ``1 / (E[D] + dwell)``
    by hand, and the mean ride there is ``E[D]`` (no selection).
    """
    p = RobotaxiParams(rides_per_hour=30.0)
    plan = _plan(p, 20_000, seed=4)
    w0_s, w1_s = _window_s(p)
    mean_ride_s = p.mean_ride_km / (1 - p.empty_share) / p.speed_kmh * 3600.0
    longest_s = p.max_ride_km / (1 - p.empty_share) / p.speed_kmh * 3600.0
    a_s, b_s = w0_s + 3600.0, w1_s - longest_s
    inside = (plan.depart_s >= a_s) & (plan.depart_s < b_s)
    rate_per_h = _per_vehicle(plan, inside.astype(float)) / ((b_s - a_s) / 3600.0)
    _assert_mean(rate_per_h, 3600.0 / (mean_ride_s + p.min_dwell_s), "rides per hour, mid-window")
    _assert_mean(plan.arrive_s[inside] - plan.depart_s[inside], mean_ride_s, "ride s, mid-window")
    # Whole window: driving + dwell fills > 99 % of it.
    n = plan.trip_counts()
    busy_s = _per_vehicle(plan, plan.arrive_s - plan.depart_s) + p.min_dwell_s * n
    assert busy_s.mean() / (w1_s - w0_s) > 0.99
    _assert_well_formed(plan, p, w0_s, w1_s)


# --- km ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("empty_share", [0.44, 0.0, 0.9])
def test_empty_share_of_km_is_exact(empty_share):
    p = RobotaxiParams(empty_share=empty_share, mean_occupancy=1.0)
    plan = _plan(p, 20_000, seed=5)
    empty_km = plan.distance_km - plan.occupied_km
    assert empty_km.sum() / plan.distance_km.sum() == pytest.approx(empty_share, abs=1e-12)
    np.testing.assert_allclose(empty_km / plan.distance_km, empty_share, atol=1e-12)


def test_defaults_and_passenger_km():
    p = RobotaxiParams()
    assert p.empty_share == 0.44 and p.mean_occupancy == 0.75
    assert p.mean_ride_km == pytest.approx(9.656, abs=1e-3)  # 6 mi
    assert p.speed_kmh == pytest.approx(32.187, abs=1e-3)  # 20 mph
    # passenger km / vehicle km = 0.75 with 56 % of km occupied: 1.339 passengers per occupied km.
    assert p.passengers_per_occupied_km * (1 - p.empty_share) == pytest.approx(0.75)
    assert p.mean_ride_s == pytest.approx(9.656064 / 0.56 / 32.186880 * 3600.0)


# --- structure -----------------------------------------------------------------------------------

@pytest.mark.parametrize("day_length_s", [86400.0, 23 * 3600.0, 25 * 3600.0])
def test_trips_inside_window_with_dwell_and_carry_over(day_length_s):
    p = RobotaxiParams(rides_per_hour=3.0, service_start_h=0.0, service_end_h=24.0, min_dwell_s=600.0)
    earliest = DAY0_S + np.linspace(0.0, 3 * 3600.0, 10_000)
    plan = _plan(p, 10_000, seed=6, day_length_s=day_length_s, earliest_depart_s=earliest)
    _assert_well_formed(plan, p, *_window_s(p, day_length_s), earliest_s=earliest)


def test_same_seed_same_plan_zero_rate_and_empty_fleet():
    a, b = (_plan(RobotaxiParams(), 500, seed=7) for _ in range(2))
    for f in ("offsets", "depart_s", "arrive_s", "distance_km", "destination", "occupied_km"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    none = _plan(RobotaxiParams(rides_per_hour=0.0), 50, seed=7)
    assert none.n_vehicles == 50 and none.depart_s.size == 0
    empty = _plan(RobotaxiParams(), 0, seed=7)
    assert empty.n_vehicles == 0 and empty.occupied_km.size == 0
    model = RobotaxiModel(RobotaxiParams(), np.random.default_rng(0))
    with pytest.raises(ValueError, match="day_length_s"):
        model.plan_day(0.0, 0.0, False, np.zeros(3, dtype=bool))
    with pytest.raises(ValueError, match="earliest_depart_s"):
        model.plan_day(0.0, 86400.0, False, np.zeros(3, dtype=bool), np.zeros(2))


# --- validation ----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("rides_per_hour", -1.0),
        ("rides_per_hour", float("inf")),
        ("rides_per_hour", "two"),
        ("empty_share", 1.0),
        ("empty_share", -0.1),
        ("mean_occupancy", 0.3),  # below 1 - empty_share: an occupied km carries >= 1 passenger
        ("service_start_h", -1.0),
        ("service_end_h", 25.0),
        ("service_end_h", 5.0),  # before service_start_h
        ("mean_ride_km", 0.0),
        ("max_ride_km", 5.0),  # below mean_ride_km
        ("speed_kmh", float("nan")),
        ("ride_km_sigma", -0.2),
        ("min_dwell_s", -1.0),
        ("min_dwell_s", True),
    ],
)
def test_bad_params_raise_scenario_error_naming_key(field, value):
    with pytest.raises(ScenarioError) as err:
        RobotaxiParams(**{field: value})
    msg = str(err.value)
    assert msg.startswith(f"fleet.robotaxi.{field} = ") and "\n" not in msg
    assert repr(value) in msg and "must" in msg


# --- the mixed planner ---------------------------------------------------------------------------

N_P, N_R = 3_000, 1_000
CLOCK = Clock(datetime(2025, 3, 7, 12, 0, tzinfo=ZoneInfo("America/Los_Angeles")))  # Fri noon, DST Sun
HORIZON_S = 4 * 86400.0


def _personal(seed: int = 11) -> tuple[MobilityModel, np.ndarray]:
    model = MobilityModel(MobilityParams(), np.random.default_rng(seed))
    return model, model.draw_commuters(N_P)


def _robotaxi(seed: int = 12, **kw) -> RobotaxiModel:
    return RobotaxiModel(RobotaxiParams(**kw), np.random.default_rng(seed))


def _rows(plan: PlanLists, lo: int, hi: int) -> dict[str, np.ndarray]:
    a, b = plan.offsets[lo], plan.offsets[hi]
    out = {"offsets": np.asarray(plan.offsets[lo:hi + 1]) - a}
    for f in ("depart_s", "arrive_s", "distance_km", "destination", "km_after"):
        out[f] = np.asarray(getattr(plan, f)[a:b])
    return out


def test_mixed_planner_groups_equal_single_group_planners():
    """Each model owns its generator, so each group's rows equal its own single-group planner's."""
    model, commuter = _personal()
    mixed = DayPlanner.from_groups([(model, commuter), (_robotaxi(), N_R)], CLOCK, HORIZON_S)
    p_model, p_commuter = _personal()
    alone_p = DayPlanner(p_model, CLOCK, p_commuter, HORIZON_S)  # the original constructor
    alone_r = DayPlanner.from_groups([(_robotaxi(), N_R)], CLOCK, HORIZON_S)
    assert mixed.n_vehicles == N_P + N_R and mixed.n_days == alone_p.n_days == 5
    for d in range(mixed.n_days):
        m, p, r = mixed.day(d), alone_p.day(d), alone_r.day(d)
        for got, want in ((_rows(m, 0, N_P), _rows(p, 0, N_P)), (_rows(m, N_P, N_P + N_R), _rows(r, 0, N_R))):
            for f in got:
                np.testing.assert_array_equal(got[f], want[f], err_msg=f"day {d} {f}")
        assert p.occupied_km is None and r.occupied_km is not None
        occ = np.asarray(m.occupied_km)
        assert np.all(occ[:m.offsets[N_P]] == 0.0)  # personal cars carry no occupied-km column
        np.testing.assert_array_equal(occ[m.offsets[N_P]:], np.asarray(r.occupied_km))


def test_mixed_planner_constraints_across_days_and_tours():
    """Round-the-clock robotaxis: the dwell carries over midnight; every ride is its own tour."""
    model, commuter = _personal()
    taxi = _robotaxi(rides_per_hour=4.0, service_start_h=0.0, service_end_h=24.0, min_dwell_s=900.0)
    planner = DayPlanner.from_groups([(model, commuter), (taxi, N_R)], CLOCK, HORIZON_S)
    prev_last = np.full(N_P + N_R, -np.inf)
    dwell = np.r_[np.full(N_P, model.params.min_dwell_s), np.full(N_R, taxi.params.min_dwell_s)]
    for d in range(planner.n_days):
        plan = planner.day(d)
        off = np.asarray(plan.offsets)
        dep, arr = np.asarray(plan.depart_s), np.asarray(plan.arrive_s)
        n = np.diff(off)
        has = n > 0
        assert np.all(dep >= 0.0)  # day 0 starts at noon: earlier trips are dropped
        assert np.all(dep[off[:-1][has]] >= prev_last[has] + dwell[has] - 1e-6)
        prev_last[has] = arr[off[1:][has] - 1]
        taxi_rows = slice(off[N_P], off[-1])
        assert np.all(np.asarray(plan.destination[taxi_rows]) == HOME)
        assert np.all(np.asarray(plan.km_after[taxi_rows]) == 0.0)
    # next_tour of a robotaxi is its first ride of the next day: its km and its own return.
    vid = N_P + int(np.flatnonzero(np.diff(np.asarray(planner.day(1).offsets))[N_P:] > 0)[0])
    plan1 = planner._get(1)
    k = plan1.offsets[vid]
    assert planner.next_tour(vid, 0) == (plan1.depart_s[k], plan1.distance_km[k], plan1.arrive_s[k])


def test_plan_lists_km_after_is_per_tour():
    """Personal plans keep the km to the day's end (one tour a day); robotaxi rides reset at HOME."""
    model, commuter = _personal()
    plan = model.plan_day(0.0, 86400.0, False, commuter)
    cs = np.cumsum(plan.distance_km)
    last = np.repeat(plan.offsets[1:] - 1, plan.trip_counts())
    np.testing.assert_allclose(np.asarray(PlanLists(plan).km_after), cs[last] - cs, atol=1e-9)
    taxi = _robotaxi().plan_day(0.0, 86400.0, False, np.zeros(50, dtype=bool))
    both = concat_plans([plan, taxi])
    assert isinstance(both, OccupiedDayPlan) and both.n_vehicles == N_P + 50
    km_after = np.asarray(PlanLists(both).km_after)
    np.testing.assert_allclose(km_after[:plan.depart_s.size], cs[last] - cs, atol=1e-9)
    assert np.all(km_after[plan.depart_s.size:] == 0.0)
