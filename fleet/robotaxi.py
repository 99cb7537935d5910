"""Daily duty cycles of robotaxis (Cybercab-like), vectorised over the fleet, one local day at a time.

Model of one robotaxi-day (draws i.i.d. across vehicles and days):

1. **Depot.** The car waits at its depot, place ``HOME`` (the depot is the robotaxi's home), and
   serves rides only inside the service window ``[service_start_h, service_end_h)`` local time.
   Local hour ``h`` maps to ``day_start_s + h * day_length_s / 24`` (as in :mod:`fleet.mobility`,
   so 23 h and 25 h daylight-saving days stretch the window proportionally).
2. **Requests.** Ride requests for the car arrive as a Poisson process of ``rides_per_hour`` per
   hour of real time over the window (exponential gaps, starting at the window's start).
3. **Queue.** Requests are served first come, first served: a ride departs at
   ``max(request, previous return + min_dwell_s)`` (and at or after ``earliest_depart_s``). A ride
   whose return would end after the window's end is not started (the request is dropped); later,
   shorter requests may still fit. Requests never abandon the queue.
4. **Ride.** One round trip depot -> pickup -> drop-off -> depot, recorded as ONE trip to ``HOME``.
   Its occupied km is a lognormal with shape ``ride_km_sigma`` truncated at ``max_ride_km``, mean
   ``mean_ride_km``; its distance is ``occupied_km / (1 - empty_share)``, so the empty share of
   km is ``empty_share`` exactly, ride by ride. Duration: ``distance_km / speed_kmh`` h.

``weekend`` and ``commuter`` are accepted (same signature as
:meth:`fleet.mobility.MobilityModel.plan_day`) and ignored.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fleet.mobility import HOME, DayPlan, is_number, solve_lognormal_mu
from sim.core.errors import ScenarioError
from sim.core.params import DISTANCE_KM, PACK_WH, param

_KM_PER_MI = 1.609344


@dataclass(frozen=True)
class OccupiedDayPlan(DayPlan):
    """A :class:`~fleet.mobility.DayPlan` with the km of each trip driven with a passenger."""

    occupied_km: np.ndarray  # float64, km, one per trip (<= distance_km)


@dataclass(frozen=True)
class RobotaxiFleet:
    """How many robotaxis run, and their cars: pack, consumption and the SoC thresholds of depot life."""

    vehicles: int = param(0, doc="robotaxis (Cybercab-like) simulated after the personal cars; 0 = none", lo=0,
                          hi=100_000_000)
    capacity_wh: float = param(48_000.0, doc="robotaxi pack, Wh; Cybercab < 50 kWh (facts.md §2)", **PACK_WH, hi=1e6)
    driving_wh_per_km: float = param(102.5, doc="robotaxi consumption at the battery, Wh/km; ~165 Wh/mi derived from "
                                      "< 50 kWh and ~300 mi (facts.md §2)", lo=0.0, lo_open=True, hi=1e4)
    plug_below_soc: float = param(0.4, doc="a robotaxi back at its depot plugs in only below this SoC, and unplugged "
                                  "it serves inference only above it; ASSUMPTION", lo=0.0, hi=1.0)
    ready_soc: float = param(0.6, doc="a robotaxi charging or in line for a stall declines rides below this SoC "
                             "(counted); ASSUMPTION", lo=0.0, hi=1.0)


@dataclass(frozen=True)
class RobotaxiParams:
    """Calibration of robotaxi duty cycles (static configuration)."""

    # ASSUMPTION, sweep it: ride requests per car per service hour. 1.3/h x 18 h = 23.4 requests a
    # day, the scale of Waymo CA's 23.8 paid trips per vehicle per day (Dec 2024, CPUC data as
    # summarised on r/waymo), though Waymo serves around the clock.
    rides_per_hour: float = param(1.3, doc="ride requests per car per service hour; ASSUMPTION (23.4/day ~ Waymo CA's "
                                  "23.8 trips/car/day, CPUC 2024)", lo=0.0, hi=100.0)
    # ASSUMPTION (facts.md §3: no source for robotaxi service hours): service from 06:00 ...
    service_start_h: float = param(6.0, doc="service starts, local hour; ASSUMPTION", lo=0.0, hi=24.0)
    # ... to 24:00 local time.
    service_end_h: float = param(24.0, doc="service ends, local hour; ASSUMPTION", lo=0.0, hi=24.0)
    # Mean occupied km per ride: "about six miles" per Waymo ride (CPUC data, Aug 2023, summarised
    # at jabberwocking.com/raw-data-waymo-taxi-trips-in-california); SherpaShare 2015: US Uber mean
    # 6.4 mi. 6 mi = 9.66 km.
    mean_ride_km: float = param(6.0 * _KM_PER_MI, doc="mean occupied km per ride; Waymo CA ~6 mi (CPUC 2023)",
                                **DISTANCE_KM, hi=500.0)
    # Waymo California, CPUC quarterly data, late 2025: ~44 % of vehicle miles empty (facts.md §3).
    empty_share: float = param(0.44, doc="share of km driven empty; Waymo CA ~44 % (CPUC late 2025, facts.md §3)",
                               lo=0.0, hi=1.0, hi_open=True)
    # Average urban speed, km/h: 20 mph. Lyft 2022 average ride speeds (Axios, 2023-01-04): NYC 15,
    # Boston 20, Detroit 33 mph; the value within that range is an ASSUMPTION.
    speed_kmh: float = param(20.0 * _KM_PER_MI, doc="urban average speed, km/h; 20 mph (Lyft 2022, Axios)", lo=1.0,
                             hi=200.0)
    # Same source as empty_share: mean occupancy ~0.75 = passenger miles / vehicle miles (4.75 M /
    # 6.57 M a month), empty miles included. Not used to draw plans; see passengers_per_occupied_km.
    mean_occupancy: float = 0.75
    # ASSUMPTION: lognormal shape of occupied km per ride (mean/median = 1.38).
    ride_km_sigma: float = 0.8
    # ASSUMPTION: cap of occupied km per ride.
    max_ride_km: float = 100.0
    # ASSUMPTION (modelling choice): minimum time at the depot between two rides, s.
    min_dwell_s: float = 120.0

    def __post_init__(self) -> None:
        def bad(field: str, value: object, allowed: str) -> ScenarioError:
            return ScenarioError(f"fleet.robotaxi.{field} = {value!r}: {allowed}")

        for field in ("mean_ride_km", "max_ride_km", "speed_kmh"):
            v = getattr(self, field)
            if not is_number(v) or not math.isfinite(v) or v <= 0:
                raise bad(field, v, "must be a finite number > 0")
        for field in ("rides_per_hour", "ride_km_sigma", "min_dwell_s"):
            v = getattr(self, field)
            if not is_number(v) or not math.isfinite(v) or v < 0:
                raise bad(field, v, "must be a finite number >= 0")
        if not is_number(self.empty_share) or not 0.0 <= self.empty_share < 1.0:
            raise bad("empty_share", self.empty_share, "must be a share in [0, 1)")
        for field in ("service_start_h", "service_end_h"):
            v = getattr(self, field)
            if not is_number(v) or not 0.0 <= v <= 24.0:
                raise bad(field, v, "must be a local hour in [0, 24]")
        if self.service_end_h <= self.service_start_h:
            raise bad("service_end_h", self.service_end_h,
                      f"must be later than service_start_h = {self.service_start_h!r} (same local day)")
        occ = self.mean_occupancy
        if not is_number(occ) or not math.isfinite(occ) or occ < 1.0 - self.empty_share:
            raise bad("mean_occupancy", occ,
                      f"must be a finite number >= 1 - empty_share = {1.0 - self.empty_share:g} "
                      f"(passengers per vehicle km; every occupied km carries at least one)")
        if self.max_ride_km <= self.mean_ride_km:
            raise bad("max_ride_km", self.max_ride_km,
                      f"must exceed mean_ride_km = {self.mean_ride_km:g}")

    @property
    def mean_ride_total_km(self) -> float:
        """Mean km of one round trip (occupied and empty), km."""
        return self.mean_ride_km / (1.0 - self.empty_share)

    @property
    def mean_ride_s(self) -> float:
        """Mean duration of one round trip, s."""
        return self.mean_ride_total_km / self.speed_kmh * 3600.0

    @property
    def passengers_per_occupied_km(self) -> float:
        """Mean passengers aboard per occupied km: passenger km = occupied km x this."""
        return self.mean_occupancy / (1.0 - self.empty_share)


class RobotaxiModel:
    """Draws fleet-wide robotaxi day plans from :class:`RobotaxiParams` with its own generator."""

    def __init__(self, params: RobotaxiParams, rng: np.random.Generator) -> None:
        self.params = params
        self.rng = rng
        self._mu_km = solve_lognormal_mu(params.mean_ride_km, params.ride_km_sigma, params.max_ride_km)

    def _ride_km(self, n: int) -> np.ndarray:
        """``n`` i.i.d. truncated-lognormal occupied km per ride (rejection sampling)."""
        p = self.params
        km = np.exp(self._mu_km + p.ride_km_sigma * self.rng.standard_normal(n))
        over = np.flatnonzero(km > p.max_ride_km)
        while over.size:
            km[over] = np.exp(self._mu_km + p.ride_km_sigma * self.rng.standard_normal(over.size))
            over = over[km[over] > p.max_ride_km]
        return km

    def plan_day(
        self,
        day_start_s: float,
        day_length_s: float,
        weekend: bool,
        commuter: np.ndarray,
        earliest_depart_s: np.ndarray | None = None,
    ) -> OccupiedDayPlan:
        """Plan one local day for ``len(commuter)`` robotaxis (``weekend``, ``commuter`` unused).

        ``earliest_depart_s`` (optional, one per vehicle, s) is the earliest allowed departure,
        e.g. the previous day's last return plus ``min_dwell_s``.
        """
        p, rng = self.params, self.rng
        commuter = np.asarray(commuter)
        if commuter.ndim != 1:
            raise ValueError(f"commuter must be a 1-D array, got shape {commuter.shape}")
        if not (math.isfinite(day_length_s) and day_length_s > 0):
            raise ValueError(f"day_length_s = {day_length_s!r}: must be a finite number > 0")
        n_veh = commuter.size
        ready_s = np.full(n_veh, -np.inf)  # earliest next departure, s
        if earliest_depart_s is not None:
            earliest = np.asarray(earliest_depart_s, dtype=float)
            if earliest.shape != (n_veh,) or np.isnan(earliest).any():
                raise ValueError(f"earliest_depart_s must be {n_veh} numbers (no NaN), got shape {earliest.shape}")
            ready_s[:] = earliest
        hour_s = day_length_s / 24.0
        w0_s = day_start_s + p.service_start_h * hour_s
        w1_s = day_start_s + p.service_end_h * hour_s
        to_total = 1.0 / (1.0 - p.empty_share)
        s_per_km = 3600.0 / p.speed_kmh

        # One request per still-active vehicle per pass: the Poisson process and the FIFO queue
        # advance together; a vehicle leaves the loop when its next request falls after the window.
        served = np.zeros(n_veh, dtype=np.int64)  # rides so far, per vehicle
        chunks: list[tuple[np.ndarray, ...]] = []
        active = np.arange(n_veh) if p.rides_per_hour > 0 else np.arange(0)
        request_s = np.full(active.size, w0_s)
        gap_s = 3600.0 / p.rides_per_hour if p.rides_per_hour > 0 else math.inf
        while active.size:
            request_s = request_s + rng.exponential(gap_s, active.size)
            keep = request_s < w1_s
            active, request_s = active[keep], request_s[keep]
            if not active.size:
                break
            occ_km = self._ride_km(active.size)
            dep_s = np.maximum(request_s, ready_s[active])
            arr_s = dep_s + occ_km * to_total * s_per_km
            ok = arr_s <= w1_s
            v = active[ok]
            ready_s[v] = arr_s[ok] + p.min_dwell_s
            chunks.append((v, served[v], dep_s[ok], arr_s[ok], occ_km[ok]))
            served[v] += 1

        offsets = np.zeros(n_veh + 1, dtype=np.int64)
        np.cumsum(served, out=offsets[1:])
        n_total = int(offsets[-1])
        depart_s, arrive_s, occupied_km = (np.empty(n_total) for _ in range(3))
        for v, k, dep, arr, occ in chunks:  # scatter into CSR rows: vehicle v's k-th ride
            row = offsets[v] + k
            depart_s[row], arrive_s[row], occupied_km[row] = dep, arr, occ
        return OccupiedDayPlan(offsets, depart_s, arrive_s, occupied_km * to_total,
                               np.full(n_total, HOME, dtype=np.int8), occupied_km)
