"""Daily itineraries of personal cars, vectorised over the whole fleet, one local day at a time.

Model of one vehicle-day (all draws i.i.d. across vehicles and days):

1. **Idle days.** With probability ``idle_day_share`` the car does not move that day.
2. **Trip count.** Otherwise it makes a closed tour home -> ... -> home of ``n = 2 + K`` trips,
   ``K`` a Poisson count truncated to ``0 .. max_trips_per_day - 2`` whose parameter is solved
   numerically so that ``E[n] = trips_per_day / (1 - idle_day_share)``: the mean number of trips
   per vehicle-day, idle days included, equals ``trips_per_day`` exactly in expectation.
3. **Destinations.** The last trip goes HOME. On weekdays a commuter's first trip goes to WORK;
   every other stop is OTHER (non-commuters, and everybody on weekends).
4. **Start times.** Each trip's start hour is drawn i.i.d. from ``trip_start_share_by_hour``
   with a uniform position inside the hour; the starts are then sorted per vehicle (sorting keeps
   the pooled start-time distribution). Local hour ``h + u`` maps to simulation time
   ``day_start_s + (h + u) * day_length_s / 24``: on a normal day that is ``(h + u) * 3600 s``;
   on a 23 h or 25 h daylight-saving day the hours are stretched proportionally (each clock hour is
   off by less than one hour on those two days a year), so no drawn start falls outside the day.
5. **Feasibility.** A trip may not start before the previous trip ended plus ``min_dwell_s``: it
   is pushed later. With the defaults ~7 % of trips are pushed, by minutes, which moves each
   hour's pooled start share by < 0.8 percentage point (towards later hours; a small distortion).
   A pushed trip may start after the day's end (only ~0.3 % of trips even end after it), and a
   trip under way at midnight ends in the next day: ``plan_day(earliest_depart_s=...)`` carries
   the previous day's last arrival into the next day's plan. First trips are never pushed
   otherwise, so they always start inside the day.
6. **Distances.** Per trip, a lognormal with shape ``trip_km_sigma`` truncated at ``max_trip_km``,
   its location solved so that the truncated mean is ``km_per_day / trips_per_day`` (km per
   vehicle-day over trips per vehicle-day, both idle days included); hence the mean km per
   vehicle-day is the survey's weekday or weekend figure (19.4 km per trip on weekdays, close to
   NHTS 2017's 10.53 mi = 16.9 km per vehicle trip).
7. **Durations.** ``distance_km / speed_kmh * 3600`` with one average speed
   ``speed_kmh = weekday_km_per_day / (minutes_per_day / 60)`` (47.2 km/h with the defaults; AAA's
   own 30.1 mi in 60.2 min is 48.4 km/h): mean driving minutes per *weekday* vehicle-day equal
   ``minutes_per_day`` exactly; weekends, at the same speed, give ~73 min.

Survey figures are per driver; they are used per car (one driver per car). Weekends use the
weekday start-hour profile and trip count (facts.md has no weekend figures for them).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.core.errors import ScenarioError
from sim.core.params import DISTANCE_KM, POS, SHARE, param

HOME, WORK, OTHER = 0, 1, 2  # place codes (int8)

# NHTS 2022 weekday trip-start shares by hour 0..23 (%), facts.md §3: CANOE
# canoe-transportation@c3ad74e .../NHTS2022_database/database/trips_by_time_weekday.csv, column CA.
NHTS2022_WEEKDAY_START_PCT: tuple[float, ...] = (
    0.1, 0.0, 0.1, 0.1, 0.4, 1.5, 3.2, 8.1, 6.8, 5.5, 6.3, 6.8,
    6.7, 6.6, 7.4, 8.1, 8.3, 8.7, 6.1, 3.6, 2.5, 1.7, 0.9, 0.6,
)


def is_number(x: object) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


@dataclass(frozen=True)
class MobilityParams:
    """Calibration of personal-car itineraries (static configuration)."""

    # AAA American Driving Survey 2022: 2.44 trips per driver per day (facts.md §3).
    trips_per_day: float = param(2.44, doc="trips per car-day; AAA American Driving Survey 2022 (facts.md §3)", **POS)
    # NHTS 2022 via CANOE d_tot.csv, weekday, "probably km/day" (facts.md §3).
    weekday_km_per_day: float = param(47.39, doc="km per weekday car-day; NHTS 2022 via CANOE (facts.md §3)",
                                      **DISTANCE_KM, hi=1e4)
    # Same file, weekend.
    weekend_km_per_day: float = param(57.75, doc="km per weekend car-day; NHTS 2022 via CANOE (facts.md §3)",
                                      **DISTANCE_KM, hi=1e4)
    # AAA ADS 2022: 60.2 min of driving per driver per day (facts.md §3); sets the average speed.
    minutes_per_day: float = param(60.2, doc="driving minutes per weekday car-day; AAA 2022 (facts.md §3)", lo=1.0,
                                   hi=1440.0)
    # NHTS 2022 weekday trip-start shares by hour, % (facts.md §3); normalised internally.
    trip_start_share_by_hour: tuple[float, ...] = param(
        NHTS2022_WEEKDAY_START_PCT, kind="hours24",
        doc="trip-start shares by local hour, %; NHTS 2022 weekday (facts.md §3)")
    # ASSUMPTION (no source in facts.md): share of vehicle-days without any trip.
    idle_day_share: float = param(0.15, doc="share of car-days without a trip; ASSUMPTION", lo=0.0, hi=1.0,
                                  hi_open=True)
    # ASSUMPTION (no source in facts.md): share of cars whose weekday tour goes to WORK first.
    commuter_share: float = param(0.5, doc="share of cars whose weekday tour goes to work first; ASSUMPTION", **SHARE)
    # Minimum parked time between two trips, s (modelling choice).
    min_dwell_s: float = param(300.0, doc="minimum parked time between trips, s", lo=0.0, hi=86400.0)
    # ASSUMPTION: lognormal shape of per-trip distance (sigma 1 gives mean/median = 1.65).
    trip_km_sigma: float = param(1.0, doc="lognormal shape of trip distance; ASSUMPTION", lo=0.0, hi=3.0)
    # ASSUMPTION: cap of one trip's distance, km (under the ~430 km EPA range of a Model 3, §2).
    max_trip_km: float = param(300.0, doc="longest single trip, km; ASSUMPTION", **DISTANCE_KM, hi=1e4)
    # ASSUMPTION: cap of trips per vehicle-day (truncates the Poisson count of extra stops).
    max_trips_per_day: int = param(10, doc="most trips in a car-day", lo=2, hi=100)

    def __post_init__(self) -> None:
        def bad(field: str, value: object, allowed: str) -> ScenarioError:
            return ScenarioError(f"fleet.itinerary.{field} = {value!r}: {allowed}")

        for field in ("trips_per_day", "weekday_km_per_day", "weekend_km_per_day",
                      "minutes_per_day", "max_trip_km"):
            v = getattr(self, field)
            if not is_number(v) or not math.isfinite(v) or v <= 0:
                raise bad(field, v, "must be a finite number > 0")
        for field in ("min_dwell_s", "trip_km_sigma"):
            v = getattr(self, field)
            if not is_number(v) or not math.isfinite(v) or v < 0:
                raise bad(field, v, "must be a finite number >= 0")
        if not is_number(self.commuter_share) or not 0.0 <= self.commuter_share <= 1.0:
            raise bad("commuter_share", self.commuter_share, "must be a share in [0, 1]")
        if not is_number(self.idle_day_share) or not 0.0 <= self.idle_day_share < 1.0:
            raise bad("idle_day_share", self.idle_day_share, "must be a share in [0, 1)")
        m = self.max_trips_per_day
        if not isinstance(m, (int, np.integer)) or isinstance(m, bool) or m < 2:
            raise bad("max_trips_per_day", m, "must be an integer >= 2")
        shares = self.trip_start_share_by_hour
        if (
            not isinstance(shares, (tuple, list))
            or len(shares) != 24
            or not all(is_number(s) and math.isfinite(s) and s >= 0 for s in shares)
            or not 0 < sum(shares) < math.inf
        ):
            raise bad("trip_start_share_by_hour", shares,
                      "must be 24 finite non-negative hourly shares with a positive, finite sum")
        object.__setattr__(self, "trip_start_share_by_hour", tuple(float(s) for s in shares))
        active = 1.0 - self.idle_day_share
        if not 2.0 * active <= self.trips_per_day <= m * active:
            raise bad("trips_per_day", self.trips_per_day,
                      f"must be in [2, max_trips_per_day] x (1 - idle_day_share) = "
                      f"[{2 * active:g}, {m * active:g}]: every active day is a tour of 2 to "
                      f"max_trips_per_day trips")
        for field in ("weekday_km_per_day", "weekend_km_per_day"):
            mean_trip_km = getattr(self, field) / self.trips_per_day
            if mean_trip_km >= self.max_trip_km:
                raise bad("max_trip_km", self.max_trip_km,
                          f"must exceed the mean trip distance {mean_trip_km:.4g} km implied by "
                          f"{field}")

    @property
    def mean_trips_per_active_day(self) -> float:
        """Mean trips per vehicle-day with at least one trip."""
        return self.trips_per_day / (1.0 - self.idle_day_share)

    @property
    def speed_kmh(self) -> float:
        """Average driving speed, km/h: weekday km per day over driving hours per day."""
        return self.weekday_km_per_day / (self.minutes_per_day / 60.0)


@dataclass(frozen=True)
class DayPlan:
    """Trips of one local day for a fleet, CSR layout.

    Trips of vehicle ``i`` are rows ``offsets[i]:offsets[i+1]``, in time order. Times are
    simulation seconds; a trip goes from the previous trip's destination (HOME for the first) to
    ``destination``.
    """

    offsets: np.ndarray  # int64, n_vehicles + 1
    depart_s: np.ndarray  # float64, s
    arrive_s: np.ndarray  # float64, s
    distance_km: np.ndarray  # float64, km
    destination: np.ndarray  # int8 place codes

    @property
    def n_vehicles(self) -> int:
        """Number of vehicles planned."""
        return len(self.offsets) - 1

    def trip_counts(self) -> np.ndarray:
        """Trips per vehicle (int64, n_vehicles)."""
        return np.diff(self.offsets)


def km_until_home(plan: DayPlan, i: int, k: int) -> float:
    """Distance (km) of trips ``k``..last of vehicle ``i``: what is left of its tour home.

    ``k`` is the trip index within the vehicle (0 = first trip); ``k`` equal to its trip count
    gives 0.
    """
    if not 0 <= i < plan.n_vehicles:
        raise IndexError(f"vehicle index {i} outside 0..{plan.n_vehicles - 1}")
    a, b = int(plan.offsets[i]), int(plan.offsets[i + 1])
    if not 0 <= k <= b - a:
        raise IndexError(f"trip index {k} outside 0..{b - a} for vehicle {i}")
    return float(plan.distance_km[a + k:b].sum())


def _normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _truncated_poisson_pmf(lam: float, k_max: int) -> np.ndarray:
    k = np.arange(k_max + 1)
    if lam <= 0.0:
        return (k == 0).astype(float)
    log_w = k * math.log(lam) - np.array([math.lgamma(j + 1) for j in k])
    w = np.exp(log_w - log_w.max())
    return w / w.sum()


def _solve_truncated_poisson(mean: float, k_max: int) -> np.ndarray:
    """Pmf on 0..k_max of a truncated Poisson whose mean is ``mean`` (0 <= mean <= k_max)."""
    k = np.arange(k_max + 1)
    if mean <= 0.0 or k_max == 0:
        return _truncated_poisson_pmf(0.0, k_max)
    if mean >= k_max:  # the limit lambda -> infinity: always k_max
        return (k == k_max).astype(float)
    lo, hi = 0.0, 1.0
    while float(_truncated_poisson_pmf(hi, k_max) @ k) < mean:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if float(_truncated_poisson_pmf(mid, k_max) @ k) < mean:
            lo = mid
        else:
            hi = mid
    return _truncated_poisson_pmf(0.5 * (lo + hi), k_max)


def _truncated_lognormal_mean(mu: float, sigma: float, cap: float) -> float:
    b = (math.log(cap) - mu) / sigma
    return math.exp(mu + sigma * sigma / 2.0) * _normal_cdf(b - sigma) / _normal_cdf(b)


def solve_lognormal_mu(mean: float, sigma: float, cap: float) -> float:
    """Location ``mu`` of a lognormal(mu, sigma) truncated at ``cap`` with the given mean."""
    if sigma == 0.0:
        return math.log(mean)
    lo = math.log(mean) - sigma * sigma / 2.0 - 1.0  # untruncated solution minus margin
    hi = math.log(cap) + 10.0 * sigma
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if _truncated_lognormal_mean(mid, sigma, cap) < mean:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


class MobilityModel:
    """Draws fleet-wide day plans from :class:`MobilityParams` with its own generator."""

    def __init__(self, params: MobilityParams, rng: np.random.Generator) -> None:
        self.params = params
        self.rng = rng
        p = params
        shares = np.asarray(p.trip_start_share_by_hour, dtype=float)
        self._hour_share = shares / shares.sum()
        self._last_hour = int(np.flatnonzero(self._hour_share)[-1])
        self._hour_cdf = np.cumsum(self._hour_share)
        self._hour_cdf[self._last_hour:] = 1.0  # no rounding gap can select a zero-share hour
        self._hour_cdf_lo = np.r_[0.0, self._hour_cdf[:-1]]
        k_pmf = _solve_truncated_poisson(p.mean_trips_per_active_day - 2.0, p.max_trips_per_day - 2)
        self._extra_cdf = np.cumsum(k_pmf)
        self._extra_cdf[-1] = 1.0
        self._max_extra = p.max_trips_per_day - 2
        self._mu_km = {
            weekend: solve_lognormal_mu(
                km_per_day / p.trips_per_day, p.trip_km_sigma, p.max_trip_km
            )
            for weekend, km_per_day in ((False, p.weekday_km_per_day), (True, p.weekend_km_per_day))
        }

    def draw_commuters(self, n_vehicles: int) -> np.ndarray:
        """Commuter flags (bool, n_vehicles), each True with probability ``commuter_share``."""
        return self.rng.random(n_vehicles) < self.params.commuter_share

    def _trip_km(self, n: int, weekend: bool) -> np.ndarray:
        """``n`` i.i.d. truncated-lognormal trip distances, km (rejection: >99 % accepted)."""
        p = self.params
        mu, sigma = self._mu_km[weekend], p.trip_km_sigma
        trip_km = np.exp(mu + sigma * self.rng.standard_normal(n))
        over = np.flatnonzero(trip_km > p.max_trip_km)
        while over.size:
            trip_km[over] = np.exp(mu + sigma * self.rng.standard_normal(over.size))
            over = over[trip_km[over] > p.max_trip_km]
        return trip_km

    def plan_day(
        self,
        day_start_s: float,
        day_length_s: float,
        weekend: bool,
        commuter: np.ndarray,
        earliest_depart_s: np.ndarray | None = None,
    ) -> DayPlan:
        """Plan one local day (starting at ``day_start_s``, lasting ``day_length_s`` s) for a fleet.

        ``commuter`` is a bool array, one per vehicle. ``earliest_depart_s`` (optional, one per
        vehicle, s) is the earliest allowed first departure, e.g. the previous day's last arrival
        plus ``min_dwell_s``; first trips are pushed later to respect it.
        """
        p, rng = self.params, self.rng
        commuter = np.asarray(commuter, dtype=bool)
        if commuter.ndim != 1:
            raise ValueError(f"commuter must be a 1-D bool array, got shape {commuter.shape}")
        if not (math.isfinite(day_length_s) and day_length_s > 0):
            raise ValueError(f"day_length_s = {day_length_s!r}: must be a finite number > 0")
        n_veh = commuter.size
        if earliest_depart_s is not None:
            earliest_depart_s = np.asarray(earliest_depart_s, dtype=float)
            if earliest_depart_s.shape != (n_veh,) or np.isnan(earliest_depart_s).any():
                raise ValueError(f"earliest_depart_s must be {n_veh} numbers (no NaN), "
                                 f"got shape {earliest_depart_s.shape}")

        # Trip counts: 0 on idle days, else 2 + truncated-Poisson extra stops.
        active = rng.random(n_veh) >= p.idle_day_share
        extra = np.searchsorted(self._extra_cdf, rng.random(n_veh), side="right")
        n_trips = np.where(active, 2 + np.minimum(extra, self._max_extra), 0).astype(np.int64)
        offsets = np.zeros(n_veh + 1, dtype=np.int64)
        np.cumsum(n_trips, out=offsets[1:])
        n_total = int(offsets[-1])
        n_slots = int(n_trips.max()) if n_veh else 0

        # Start times: inverse CDF of the piecewise-uniform hourly density, one uniform per trip
        # (the hour, then the position inside it, both exact).
        u = rng.random(n_total)
        hour = np.searchsorted(self._hour_cdf, u, side="right").clip(max=self._last_hour)
        in_hour = (u - self._hour_cdf_lo[hour]) / self._hour_share[hour]
        in_hour = in_hour.clip(0.0, np.nextafter(1.0, 0.0))
        start_s = day_start_s + (hour + in_hour) * (day_length_s / 24.0)
        trip_km = self._trip_km(n_total, weekend)
        trip_dur_s = trip_km / p.speed_kmh * 3600.0

        # Dense (vehicle x trip slot) layout, unused slots at +inf: sort each row's starts, then
        # push later, slot by slot (a loop over <= max_trips_per_day slots, not over vehicles).
        slot_used = np.arange(n_slots) < n_trips[:, None]
        slot_dep_s = np.full((n_veh, n_slots), np.inf)
        slot_dep_s[slot_used] = start_s
        slot_dep_s.sort(axis=1)
        slot_dur_s = np.zeros((n_veh, n_slots))
        slot_dur_s[slot_used] = trip_dur_s
        if earliest_depart_s is not None and n_slots:
            np.maximum(slot_dep_s[:, 0], earliest_depart_s, out=slot_dep_s[:, 0])
        for j in range(1, n_slots):
            ready_s = slot_dep_s[:, j - 1] + slot_dur_s[:, j - 1] + p.min_dwell_s
            np.maximum(slot_dep_s[:, j], ready_s, out=slot_dep_s[:, j])
        depart_s = slot_dep_s[slot_used]
        arrive_s = depart_s + trip_dur_s

        # Destinations: OTHER, then WORK first for weekday commuters and HOME last.
        dest = np.full(n_total, OTHER, dtype=np.int8)
        if not weekend:
            dest[offsets[:-1][active & commuter]] = WORK
        dest[offsets[1:][active] - 1] = HOME
        return DayPlan(offsets, depart_s, arrive_s, trip_km, dest)
