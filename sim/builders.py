"""Builders of the scenario's grid side and robotaxis: tariffs, the carbon signal, robotaxi specs and
their depot site (the runner composes them; results read the depot's summary)."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from fleet.battery import BatterySpec
from fleet.robotaxi import RobotaxiFleet, RobotaxiParams
from fleet.vehicle import VehicleSpec
from grid.chargers import CHARGER_PRESETS
from grid.loaders import load_time_value_csv
from grid.profiles import CARBON_PROFILES, load_eia930
from grid.signals import CalendarSignal, StepSignal
from grid.sites import DepotSpec, Site
from grid.tariff import TARIFFS, DemandBill, TouTariff
from grid.tariff_file import load_tariff
from sim.core.clock import Clock
from sim.core.errors import DataFileError, FleetsimInputError, ScenarioError
from sim.core.inputs import check_data_file, quote
from sim.scenario import Scenario, build_spec

DEPOT = "depot"


def resolve_tariff(key: str, value: str) -> TouTariff:
    """A built-in tariff by name, or one read from a TOML/JSON file."""
    if value in TARIFFS:
        return TARIFFS[value]
    if value.lower().endswith((".toml", ".json")):
        return load_tariff(value, key=key)
    raise ScenarioError(f"{key} = {value!r}: allowed: one of {', '.join(sorted(TARIFFS))} "
                        "or the path of a .toml or .json tariff file")


def carbon_signal(value: str, clock: Clock, horizon_s: float) -> StepSignal:
    """``grid.carbon``: a built-in hourly profile, an EIA-930 CSV or a generic ``time,<carbon unit>`` CSV."""
    if value in CARBON_PROFILES:
        return CARBON_PROFILES[value].signal(clock, 0.0, horizon_s)
    if not value.lower().endswith(".csv"):
        raise ScenarioError(f"grid.carbon = {value!r}: allowed: one of {', '.join(sorted(CARBON_PROFILES))} "
                            "or the path of a CSV file (EIA-930 with avg_CI, or time,carbon_g_per_kwh)")
    path = check_data_file(value, "grid.carbon")
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as fh:
            header = fh.readline(4096)
    except OSError as exc:
        raise DataFileError(value, None, f"cannot read the carbon file ({exc.strerror or exc}); "
                            "expected an EIA-930 CSV or a time,carbon_g_per_kwh CSV") from None
    try:
        if "avg_CI" in header:
            series = load_eia930(path)
            return StepSignal.from_utc_series(clock, series.index, series.to_numpy(), 0.0, horizon_s,
                                              "carbon", "g_per_kwh")
        signal = load_time_value_csv(value)
        if signal.unit != "g_per_kwh":
            raise ScenarioError(f"grid.carbon = {value!r}: its column is in {signal.unit}; allowed: a carbon "
                                "intensity (g_per_kwh, kg_per_mwh, lb_per_mwh, ...)")
        if isinstance(signal, CalendarSignal):
            return signal.to_step(clock, 0.0, horizon_s)
        return signal.covering(0.0, horizon_s)
    except FleetsimInputError:
        raise
    except ValueError as exc:
        raise ScenarioError(f"grid.carbon = {quote(value)}: {exc}") from None


def robotaxi_params(sc: Scenario) -> RobotaxiParams:
    """The robotaxi duty-cycle calibration from the scenario's ``fleet.robotaxi`` keys."""
    return build_spec(RobotaxiParams, sc, "fleet.robotaxi")


def robotaxi_spec(taxis: RobotaxiFleet, depot: DepotSpec, personal: VehicleSpec) -> VehicleSpec:
    """A Cybercab-like car: its own pack and consumption, the fleet's chip, the depot's charger."""
    battery = BatterySpec(capacity_wh=taxis.capacity_wh,
                          charge_limit_soc=personal.battery.charge_limit_soc,
                          reserve_soc=personal.battery.reserve_soc,
                          discharge_efficiency=personal.battery.discharge_efficiency)
    return replace(personal, battery=battery, driving_wh_per_km=taxis.driving_wh_per_km,
                   home_charger=CHARGER_PRESETS[depot.charger],
                   plug_below_soc=taxis.plug_below_soc,
                   serve_floor_soc=taxis.plug_below_soc,
                   ready_soc=taxis.ready_soc, profile="robotaxi")


def build_depot(depot: DepotSpec, clock: Clock, horizon_s: float, price: StepSignal, carbon: StepSignal,
                spec: VehicleSpec) -> Site:
    """The robotaxis' depot (the scenario's ``fleet.robotaxi.depot`` keys): stalls, cap, charger,
    strategy signal and (optional) PV."""
    p = "fleet.robotaxi.depot."
    site_spec = depot.site_spec(DEPOT)
    floor_w = (spec.awake_overhead_w + spec.chip.active_w) / site_spec.charger.efficiency
    if site_spec.stalls * floor_w > site_spec.cap_w:
        raise ScenarioError(f"{p}cap_w = {site_spec.cap_w!r}: allowed: at least stalls x the plugged cars' "
                            f"own worst-case draw = {site_spec.stalls * floor_w:g} W")
    site = Site(site_spec)
    site.tariff = resolve_tariff(p + "tariff", depot.tariff)
    site.solar = None
    if depot.solar_kw_dc > 0:
        from grid.solar import solar_signal
        from grid.weather import read_epw

        site.solar = solar_signal(clock, 0.0, horizon_s, read_epw(depot.weather_epw), depot.solar_kw_dc)
    strategy = depot.strategy
    if strategy == "off_peak":
        site.charging_signal = (price.times_s, price.values)
    elif strategy == "carbon_aware":
        site.charging_signal = (carbon.times_s, carbon.values)
    elif strategy == "solar_following":  # the sunniest hours are the "cheapest"
        site.charging_signal = (site.solar.times_s, tuple(-v for v in site.solar.values))
    else:
        site.charging_signal = None
    return site


def site_summary(site: Site, clock: Clock, horizon_s: float, price: StepSignal, carbon: StepSignal) -> dict:
    """A site's energy, peak against its cap, demand charges, and solar use (exact integrals)."""
    times = np.asarray(site.trace_t + [horizon_s], dtype=float)
    power = np.asarray(site.trace_w, dtype=float)
    widths = np.diff(times)
    energy_wh = float((power * widths).sum()) / 3600.0
    bills: list[DemandBill] = site.tariff.demand_charges_usd(clock, site.trace_t, site.trace_w, horizon_s)
    out = {
        "stalls": site.spec.stalls,
        "cap_kw": site.spec.cap_w / 1000.0 if math.isfinite(site.spec.cap_w) else None,
        "peak_kw": site.peak_w / 1000.0,
        "energy_kwh": energy_wh / 1000.0,
        "arrivals_finding_stalls_full": site.turned_away,
        "tariff": site.tariff.name,
        "demand_charge_usd": float(sum(b.usd for b in bills)),
        "demand_bills": [{"month": b.month, "charge": b.charge, "peak_kw": b.peak_kw, "usd": b.usd} for b in bills],
        "solar_kwh": None,
        "solar_used_kwh": None,
    }
    if site.solar is not None:
        # Both draw and PV are piecewise constant: integrate min(draw, PV) on their merged breakpoints.
        edges = np.union1d(times, np.asarray(site.solar.times_s + (horizon_s,), dtype=float))
        edges = edges[(edges >= 0.0) & (edges <= horizon_s)]
        mids = (edges[:-1] + edges[1:]) / 2.0
        draw = power[np.searchsorted(times, mids, side="right") - 1]
        pv = site.solar.values_at(mids)
        w = np.diff(edges)
        out["solar_kwh"] = float((pv * w).sum()) / 3.6e6
        out["solar_used_kwh"] = float((np.minimum(draw, pv) * w).sum()) / 3.6e6
    return out
