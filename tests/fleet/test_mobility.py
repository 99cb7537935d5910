"""Tests of fleet.mobility: itineraries reproduce their calibration inputs; tours are well formed.

Statistical tolerances are 4 standard errors computed from the sample itself (each check is a
deterministic seed; a correct model fails one with probability ~6e-5 per check).
"""
from __future__ import annotations

import numpy as np
import pytest

from fleet.mobility import (
    HOME,
    NHTS2022_WEEKDAY_START_PCT,
    OTHER,
    WORK,
    DayPlan,
    MobilityModel,
    MobilityParams,
    km_until_home,
)

N_VEH = 200_000
DAY0_S = 3 * 86400.0  # plans need not start at t = 0
Z = 4.0

# Defaults, and a stressed variant where both truncations (trip count, trip km) bite hard, so a
# model that ignored them would miss its means by many standard errors.
PARAMS = {
    "defaults": MobilityParams(),
    "stressed": MobilityParams(
        trips_per_day=3.0, idle_day_share=0.1, max_trips_per_day=4,
        trip_km_sigma=1.5, max_trip_km=60.0, commuter_share=0.8, min_dwell_s=900.0,
    ),
}


def _plan(
    params: MobilityParams, weekend: bool, seed: int, n: int = N_VEH, **kw
) -> tuple[DayPlan, np.ndarray]:
    model = MobilityModel(params, np.random.default_rng(seed))
    commuter = model.draw_commuters(n)
    return model.plan_day(kw.pop("day_start_s", DAY0_S), kw.pop("day_length_s", 86400.0),
                          weekend, commuter, **kw), commuter


def _per_vehicle(plan: DayPlan, values: np.ndarray) -> np.ndarray:
    owner = np.repeat(np.arange(plan.n_vehicles), plan.trip_counts())
    return np.bincount(owner, weights=values, minlength=plan.n_vehicles)


def _assert_mean(sample: np.ndarray, expected: float, what: str) -> None:
    se = sample.std(ddof=1) / np.sqrt(sample.size)
    assert abs(sample.mean() - expected) <= Z * se, f"{what}: {sample.mean()} vs {expected} ({se=})"


@pytest.fixture(scope="module", params=sorted(PARAMS))
def plans(request):
    """(params, weekday plan, weekday commuters, weekend plan, weekend commuters)."""
    p = PARAMS[request.param]
    wd, c_wd = _plan(p, False, seed=11)
    we, c_we = _plan(p, True, seed=12)
    return p, wd, c_wd, we, c_we


# --- calibration: the itineraries reproduce their inputs --------------------------------------

def test_mean_trips_per_vehicle_day(plans):
    p, wd, _, we, _ = plans
    for plan in (wd, we):
        _assert_mean(plan.trip_counts().astype(float), p.trips_per_day, "trips per vehicle-day")


def test_idle_day_share(plans):
    p, wd, _, we, _ = plans
    for plan in (wd, we):
        idle = plan.trip_counts() == 0
        se = np.sqrt(p.idle_day_share * (1 - p.idle_day_share) / idle.size)
        assert abs(idle.mean() - p.idle_day_share) <= Z * se


def test_mean_km_per_vehicle_day_weekday_and_weekend(plans):
    p, wd, _, we, _ = plans
    _assert_mean(_per_vehicle(wd, wd.distance_km), p.weekday_km_per_day, "weekday km")
    _assert_mean(_per_vehicle(we, we.distance_km), p.weekend_km_per_day, "weekend km")


def test_mean_driving_minutes_per_weekday_vehicle_day(plans):
    p, wd, _, _, _ = plans
    minutes = _per_vehicle(wd, (wd.arrive_s - wd.depart_s) / 60.0)
    _assert_mean(minutes, p.minutes_per_day, "weekday driving minutes")


def test_defaults_speed_is_survey_km_over_minutes():
    p = MobilityParams()
    assert p.speed_kmh == pytest.approx(47.39 / (60.2 / 60.0))


def test_commuter_share():
    p = MobilityParams()
    c = MobilityModel(p, np.random.default_rng(5)).draw_commuters(N_VEH)
    se = np.sqrt(p.commuter_share * (1 - p.commuter_share) / N_VEH)
    assert abs(c.mean() - p.commuter_share) <= Z * se


def _expected_hour_share() -> np.ndarray:
    s = np.asarray(NHTS2022_WEEKDAY_START_PCT, dtype=float)
    return s / s.sum()


def test_start_hour_shares_exact_without_push():
    """With near-zero trip durations and no dwell nothing is pushed: shares match exactly.

    Starts are i.i.d. before the per-vehicle sort, so each hour's pooled count is binomial.
    """
    p = MobilityParams(min_dwell_s=0.0, minutes_per_day=1e-6)  # trips last ~1e-5 s
    plan, _ = _plan(p, False, seed=21)
    hour = ((plan.depart_s - DAY0_S) // 3600).astype(int)
    assert hour.min() >= 0 and hour.max() <= 23
    share = np.bincount(hour, minlength=24) / hour.size
    expected = _expected_hour_share()
    se = np.sqrt(expected * (1 - expected) / hour.size)
    assert np.all(np.abs(share - expected) <= Z * se), np.round((share - expected) * 100, 3)
    assert share[1] == 0.0  # NHTS hour 1 has share 0
    # Position inside the hour is uniform: quarter-hour shares are binomial(1/4).
    quarter = (((plan.depart_s - DAY0_S) % 3600.0) // 900).astype(int)
    q_share = np.bincount(quarter, minlength=4) / quarter.size
    assert np.all(np.abs(q_share - 0.25) <= Z * np.sqrt(0.25 * 0.75 / quarter.size)), q_share


def test_start_hour_shares_with_min_dwell_push():
    """Default model: shares match within sampling error plus a bound on the push distortion.

    Bound: a pushed trip ``j`` of a vehicle had its raw start in ``[dep_k, dep_j)``, ``k`` the
    last trip before it that was not pushed (raw starts are sorted, and an unpushed trip departs
    at its raw start). So hour ``h`` can gain at most the pushed trips that depart in ``h`` with
    ``dep_k`` before ``h``, and lose at most those with ``hour(dep_k) <= h < hour(dep_j)``;
    ``|change of count_h| <= max(gain, loss)``. Trips pushed past midnight go to bin 24.
    """
    p = MobilityParams()
    plan, _ = _plan(p, False, seed=22)
    n = plan.trip_counts()
    n_trips = plan.depart_s.size
    first = np.zeros(n_trips, dtype=bool)
    first[plan.offsets[:-1][n > 0]] = True
    prev_arrive = np.r_[np.nan, plan.arrive_s[:-1]]
    pushed = ~first & (np.abs(plan.depart_s - (prev_arrive + p.min_dwell_s)) < 1e-6)
    last_unpushed = np.maximum.accumulate(np.where(pushed, 0, np.arange(n_trips)))
    h_lo = ((plan.depart_s[last_unpushed] - DAY0_S) // 3600).astype(int)
    h_hi = ((plan.depart_s - DAY0_S) // 3600).astype(int).clip(max=24)
    cross = pushed & (h_hi > h_lo)
    gain = np.bincount(h_hi[cross], minlength=25)
    diff = np.zeros(26)
    np.add.at(diff, h_lo[cross], 1.0)
    np.add.at(diff, h_hi[cross], -1.0)
    loss = np.cumsum(diff)[:25]
    push_bound = np.maximum(gain, loss) / n_trips

    share = np.bincount(h_hi, minlength=25) / n_trips
    expected = np.r_[_expected_hour_share(), 0.0]
    se = np.sqrt(expected * (1 - expected) / n_trips)
    dev = np.abs(share - expected)
    assert np.all(dev <= Z * se + push_bound), np.round((dev - Z * se - push_bound) * 100, 3)
    # The push is a small distortion: under 1 percentage point in every hour.
    assert push_bound.max() < 0.01
    assert 0.0 < pushed.mean() < 0.10


@pytest.mark.parametrize("day_length_s", [23 * 3600.0, 25 * 3600.0])
def test_dst_day_maps_hours_proportionally(day_length_s):
    p = MobilityParams(min_dwell_s=0.0, minutes_per_day=1e-6)
    plan, _ = _plan(p, False, seed=23, day_length_s=day_length_s)
    x = (plan.depart_s - DAY0_S) / day_length_s  # fraction of the local day
    assert x.min() >= 0.0 and x.max() < 1.0
    cdf = np.cumsum(_expected_hour_share())
    for h in (6, 11, 17):  # share before local hour h+1
        got = np.mean(x < (h + 1) / 24)
        assert abs(got - cdf[h]) <= Z * np.sqrt(cdf[h] * (1 - cdf[h]) / x.size)


# --- structure of the tours -------------------------------------------------------------------

def test_csr_layout_consistent(plans):
    p, wd, _, we, _ = plans
    for plan in (wd, we):
        assert plan.offsets.dtype == np.int64 and plan.offsets.shape == (N_VEH + 1,)
        assert plan.offsets[0] == 0 and np.all(np.diff(plan.offsets) >= 0)
        m = int(plan.offsets[-1])
        for arr, dtype in ((plan.depart_s, np.float64), (plan.arrive_s, np.float64),
                           (plan.distance_km, np.float64), (plan.destination, np.int8)):
            assert arr.shape == (m,) and arr.dtype == dtype
        n = plan.trip_counts()
        assert np.all((n == 0) | ((n >= 2) & (n <= p.max_trips_per_day)))


def test_tours_end_at_home_and_only_there(plans):
    _, wd, _, we, _ = plans
    for plan in (wd, we):
        n = plan.trip_counts()
        last = plan.offsets[1:][n > 0] - 1
        assert np.all(plan.destination[last] == HOME)
        assert np.count_nonzero(plan.destination == HOME) == last.size
        assert np.all(np.isin(plan.destination, (HOME, WORK, OTHER)))


def test_trips_ordered_non_overlapping_with_min_dwell(plans):
    p, wd, _, we, _ = plans
    for plan in (wd, we):
        n = plan.trip_counts()
        assert np.all(plan.distance_km > 0) and np.all(plan.distance_km <= p.max_trip_km)
        assert np.all(plan.arrive_s > plan.depart_s)
        assert np.all(plan.depart_s >= DAY0_S)
        first = plan.offsets[:-1][n > 0]
        assert np.all(plan.depart_s[first] < DAY0_S + 86400.0)  # first trips are never pushed
        follows = np.ones(plan.depart_s.size, dtype=bool)
        follows[first] = False
        gap_s = plan.depart_s[1:] - plan.arrive_s[:-1]
        assert np.all(gap_s[follows[1:]] >= p.min_dwell_s - 1e-6)


def test_commuters_go_to_work_first_on_weekdays_only(plans):
    _, wd, c_wd, we, _ = plans
    n = wd.trip_counts()
    first = wd.offsets[:-1]
    active = n > 0
    assert np.all(wd.destination[first[active & c_wd]] == WORK)
    assert np.all(wd.destination[first[active & ~c_wd]] == OTHER)
    assert np.count_nonzero(wd.destination == WORK) == np.count_nonzero(active & c_wd)
    assert np.count_nonzero(we.destination == WORK) == 0


def test_km_until_home(plans):
    _, wd, _, _, _ = plans
    n = wd.trip_counts()
    i = int(np.flatnonzero(n >= 3)[0])
    a = int(wd.offsets[i])
    trips_km = wd.distance_km[a:a + n[i]]
    assert km_until_home(wd, i, 0) == pytest.approx(trips_km.sum())
    assert km_until_home(wd, i, 1) == pytest.approx(trips_km[1:].sum())
    assert km_until_home(wd, i, int(n[i]) - 1) == pytest.approx(trips_km[-1])
    assert km_until_home(wd, i, int(n[i])) == 0.0
    idle = int(np.flatnonzero(n == 0)[0])
    assert km_until_home(wd, idle, 0) == 0.0
    with pytest.raises(IndexError):
        km_until_home(wd, i, int(n[i]) + 1)
    with pytest.raises(IndexError):
        km_until_home(wd, N_VEH, 0)


def test_same_seed_same_plan():
    a, _ = _plan(MobilityParams(), False, seed=3, n=1000)
    b, _ = _plan(MobilityParams(), False, seed=3, n=1000)
    for f in ("offsets", "depart_s", "arrive_s", "distance_km", "destination"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))


def test_earliest_depart_carries_over_previous_day():
    p = MobilityParams()
    earliest = np.full(5000, DAY0_S + 9 * 3600.0)
    plan, _ = _plan(p, False, seed=4, n=5000, earliest_depart_s=earliest)
    n = plan.trip_counts()
    assert np.all(plan.depart_s[plan.offsets[:-1][n > 0]] >= DAY0_S + 9 * 3600.0)
    gap_s = plan.depart_s[1:] - plan.arrive_s[:-1]
    follows = np.ones(plan.depart_s.size, dtype=bool)
    follows[plan.offsets[:-1][n > 0]] = False
    assert np.all(gap_s[follows[1:]] >= p.min_dwell_s - 1e-6)


def test_empty_fleet_and_all_idle():
    p = MobilityParams()
    empty, _ = _plan(p, False, seed=1, n=0)
    assert empty.n_vehicles == 0 and empty.depart_s.size == 0
    model = MobilityModel(p, np.random.default_rng(0))
    with pytest.raises(ValueError, match="commuter"):
        model.plan_day(0.0, 86400.0, False, np.zeros((2, 2), dtype=bool))
    with pytest.raises(ValueError, match="day_length_s"):
        model.plan_day(0.0, 0.0, False, np.zeros(3, dtype=bool))


# --- parameter validation ---------------------------------------------------------------------

@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("trips_per_day", 0.0),
        ("trips_per_day", 1.0),  # below 2 trips x active share
        ("trips_per_day", 50.0),  # above max_trips_per_day x active share
        ("weekday_km_per_day", -1.0),
        ("weekend_km_per_day", float("nan")),
        ("minutes_per_day", 0.0),
        ("idle_day_share", 1.0),
        ("idle_day_share", -0.1),
        ("commuter_share", 1.5),
        ("min_dwell_s", -5.0),
        ("trip_km_sigma", -0.5),
        ("max_trip_km", 10.0),  # below the mean trip distance
        ("max_trips_per_day", 1),
        ("max_trips_per_day", 3.5),
        ("trip_start_share_by_hour", (1.0,) * 23),
        ("trip_start_share_by_hour", (0.0,) * 24),
        ("trip_start_share_by_hour", (-1.0,) + (1.0,) * 23),
        ("commuter_share", "half"),
    ],
)
def test_bad_params_raise_naming_field(field, value):
    with pytest.raises(ValueError, match=field) as err:
        MobilityParams(**{field: value})
    assert str(value)[:10] in str(err.value)


def test_zero_share_hours_are_never_drawn():
    shares = [0.0] * 24
    shares[8] = 5.0
    plan, _ = _plan(MobilityParams(trip_start_share_by_hour=tuple(shares), min_dwell_s=0.0,
                                   minutes_per_day=1e-6), False, seed=6, n=20_000)
    assert np.all((plan.depart_s - DAY0_S) // 3600 == 8)


def test_shares_accept_list_and_need_not_sum_to_one():
    p = MobilityParams(trip_start_share_by_hour=[1.0] * 24)
    assert p.trip_start_share_by_hour == (1.0,) * 24
    hash(p)

