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
from grid.demand import bill_rows
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
    site.export_usd_per_kwh = depot.export_usd_per_kwh
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


def _site_pieces(site: Site, horizon_s: float, price: StepSignal, carbon: StepSignal) -> dict[str, np.ndarray]:
    """The site's draw, PV, price and carbon on the merged breakpoints of all four (each constant on
    every piece): piece starts and widths (s), draw and PV (W), price ($/kWh) and carbon (g/kWh)."""
    times = np.asarray(site.trace_t, dtype=float)
    cuts = [times, np.asarray(price.times_s, dtype=float), np.asarray(carbon.times_s, dtype=float), [horizon_s]]
    if site.solar is not None:
        cuts.append(np.asarray(site.solar.times_s, dtype=float))
    edges = np.unique(np.concatenate(cuts))
    edges = edges[(edges >= 0.0) & (edges <= horizon_s)]
    starts = edges[:-1]
    draw = np.asarray(site.trace_w, dtype=float)[np.searchsorted(times, starts, side="right") - 1]
    pv = site.solar.values_at(starts) if site.solar is not None else np.zeros_like(starts)
    return {"t_s": starts, "w_s": np.diff(edges), "draw_w": draw, "pv_w": pv,
            "price": price.values_at(starts), "carbon": carbon.values_at(starts)}


def site_summary(site: Site, clock: Clock, horizon_s: float, price: StepSignal, carbon: StepSignal) -> dict:
    """A site's energy, peak against its cap, PV netted first, and demand charges on its grid import.

    PV supplies the site's draw first: its grid import is ``max(draw - PV, 0)``, PV used
    ``min(draw, PV)`` and PV exported ``max(PV - draw, 0)``, all integrated exactly on the merged
    breakpoints of draw, PV, price and carbon. The PV used saves its energy's price and carbon; the
    export earns ``site.export_usd_per_kwh``. Demand charges are billed on the grid import, each
    month's bill prorated to the run's share of that month (:func:`grid.demand.bill_rows`).
    """
    pieces = _site_pieces(site, horizon_s, price, carbon)
    w, draw, pv = pieces["w_s"], pieces["draw_w"], pieces["pv_w"]
    used = np.minimum(draw, pv)
    net = draw - used
    bills: list[DemandBill] = site.tariff.demand_charges_usd(clock, pieces["t_s"], net, horizon_s)
    rows = bill_rows(bills, clock, horizon_s)

    def kwh(watts: np.ndarray) -> float:
        return float((watts * w).sum()) / 3.6e6

    def usd(watts: np.ndarray) -> float:  # W * s * $/kWh -> $
        return float((watts * pieces["price"] * w).sum()) / 3.6e6

    def co2_kg(watts: np.ndarray) -> float:  # W * s * g/kWh -> kg
        return float((watts * pieces["carbon"] * w).sum()) / 3.6e9

    solar = site.solar is not None
    exported_kwh = kwh(pv - used)
    return {
        "stalls": site.spec.stalls,
        "cap_kw": site.spec.cap_w / 1000.0 if math.isfinite(site.spec.cap_w) else None,
        "peak_kw": site.peak_w / 1000.0,
        "energy_kwh": kwh(draw),
        "grid_kwh": kwh(net),
        "grid_cost_usd": usd(net),
        "grid_co2_kg": co2_kg(net),
        "arrivals_finding_stalls_full": site.turned_away,
        "tariff": site.tariff.name,
        "demand_charge_usd": float(sum(r["usd_prorated"] for r in rows)),
        "demand_charge_monthly_usd": float(sum(r["usd_monthly"] for r in rows)),
        "demand_bills": rows,
        "solar_kwh": kwh(pv) if solar else None,
        "solar_used_kwh": kwh(used) if solar else None,
        "solar_saved_usd": usd(used) if solar else None,
        "solar_saved_co2_kg": co2_kg(used) if solar else None,
        "solar_exported_kwh": exported_kwh if solar else None,
        "export_usd_per_kwh": site.export_usd_per_kwh,
        "solar_export_usd": exported_kwh * site.export_usd_per_kwh if solar else None,
    }
