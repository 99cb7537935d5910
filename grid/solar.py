"""Depot PV output (AC W) from typical-year weather, after NREL's PVWatts v5 chain, using pvlib.

Chain per hour: sun position at the hour's mid-point, Perez (or Hay-Davies) transposition to the
plane of array, beam reflection loss (Fresnel/Snell glass model), SAPM cell temperature (open
rack), PVWatts DC model, PVWatts system losses, PVWatts inverter with clipping at the AC
nameplate. pvlib is an optional dependency (``pip install 'fleetsim[solar]'``).

Default parameters follow PVWatts v5: A. P. Dobos, "PVWatts Version 5 Manual", NREL/TP-6A20-62641
(2014), and NREL's implementation in SAM's SSC (``ssc/cmod_pvwattsv5.cpp``: ``inv_eff`` 96 %,
``dc_ac_ratio`` 1.1, ``gamma`` -0.0035/°C for the "premium" module type).
"""
from __future__ import annotations

import math
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from grid.signals import StepSignal
from grid.weather import EpwWeather, typical_year_signal
from sim.core.clock import Clock
from sim.core.errors import FleetsimInputError

if TYPE_CHECKING:
    import pandas as pd

# PVWatts v5 defaults (Dobos 2014; SSC cmod_pvwattsv5.cpp).
PVWATTS_TILT_DEG = 20.0  # PVWatts calculator's default fixed tilt
PVWATTS_SYSTEM_LOSSES = 0.14  # default total losses: soiling, shading, mismatch, wiring, LID, ... (14.08 %)
PVWATTS_INVERTER_EFFICIENCY = 0.96  # nominal inverter efficiency (inv_eff 96 %)
PVWATTS_GAMMA_PDC_PER_C = -0.0035  # power temperature coefficient, "premium" modules (standard: -0.0047)
PVWATTS_DC_AC_RATIO = 1.1  # DC nameplate / AC nameplate
PVWATTS_ALBEDO = 0.2  # ground reflectance used when the weather file has none


SOLAR_KEY = "fleet.robotaxi.depot.solar_kw_dc"  # the scenario key that asks for PV output


class SolarDependencyError(FleetsimInputError, ImportError):
    """pvlib, needed for PV modelling, is not installed (one line for the user: exit status 2)."""


def _pvlib(key: str = SOLAR_KEY) -> ModuleType:
    """The pvlib module, imported on first use (Python caches it in ``sys.modules``)."""
    try:
        import pvlib
    except ImportError:
        raise SolarDependencyError(
            f"{key} > 0: PV output needs pvlib: pip install 'fleetsim[solar]'") from None
    return pvlib


def _check(name: str, value: float, lo: float, hi: float, allowed: str) -> None:
    if not (math.isfinite(value) and lo <= value <= hi):
        raise ValueError(f"{name} is {value!r}; allowed: {allowed}")


def pv_power_w(
    weather: EpwWeather,
    capacity_kw_dc: float,
    tilt_deg: float = PVWATTS_TILT_DEG,
    azimuth_deg: float = 180.0,
    system_losses: float = PVWATTS_SYSTEM_LOSSES,
    inverter_efficiency: float = PVWATTS_INVERTER_EFFICIENCY,
    gamma_pdc_per_c: float = PVWATTS_GAMMA_PDC_PER_C,
    dc_ac_ratio: float = PVWATTS_DC_AC_RATIO,
    albedo: float = PVWATTS_ALBEDO,
    transposition: str = "perez",
    *,
    key: str = SOLAR_KEY,
) -> pd.Series:
    """Mean AC output (W) of a fixed PV array in each hour of ``weather``, indexed like ``weather.data``.

    ``capacity_kw_dc`` is the DC nameplate (kW at 1000 W/m², 25 °C); ``tilt_deg`` from horizontal;
    ``azimuth_deg`` the direction the array faces, clockwise from north (180 = south);
    ``system_losses`` a fraction of DC power; the AC nameplate is ``capacity / dc_ac_ratio``, so
    output never exceeds it. ``transposition`` is ``"perez"`` or ``"haydavies"``. Without pvlib:
    :class:`SolarDependencyError` naming ``key`` and the ``solar`` extra.
    """
    import pandas as pd

    _check("capacity_kw_dc", capacity_kw_dc, 1e-12, math.inf, "a finite number > 0 kW")
    _check("tilt_deg", tilt_deg, 0, 90, "0..90 degrees from horizontal")
    _check("azimuth_deg", azimuth_deg, 0, 360, "0..360 degrees clockwise from north")
    _check("system_losses", system_losses, 0, 0.99, "a fraction 0..0.99")
    _check("inverter_efficiency", inverter_efficiency, 0.5, 1, "a fraction 0.5..1")
    _check("gamma_pdc_per_c", gamma_pdc_per_c, -0.02, 0.02, "-0.02..0.02 per °C")
    _check("dc_ac_ratio", dc_ac_ratio, 0.1, 10, "0.1..10")
    _check("albedo", albedo, 0, 1, "a fraction 0..1")
    if transposition not in ("perez", "haydavies"):
        raise ValueError(f"transposition is {transposition!r}; allowed: 'perez' or 'haydavies'")
    pvlib = _pvlib(key)

    wx = weather.data
    mid = (wx.index + pd.Timedelta(minutes=30)).as_unit("ns")  # hourly means: sun at the mid-point
    sun = pvlib.solarposition.get_solarposition(
        mid, weather.latitude_deg, weather.longitude_deg, altitude=weather.elevation_m,
        pressure=pvlib.atmosphere.alt2pres(weather.elevation_m), temperature=wx["temp_air_c"].to_numpy())
    zenith_deg = sun["apparent_zenith"].to_numpy()
    up = zenith_deg < 90.0
    dni = np.where(up, wx["dni_w_per_m2"].to_numpy(), 0.0)
    ghi = wx["ghi_w_per_m2"].to_numpy()
    dhi = wx["dhi_w_per_m2"].to_numpy()
    poa = pvlib.irradiance.get_total_irradiance(
        tilt_deg, azimuth_deg, zenith_deg, sun["azimuth"].to_numpy(), dni, ghi, dhi,
        dni_extra=pvlib.irradiance.get_extra_radiation(mid.day_of_year.to_numpy()),
        airmass=pvlib.atmosphere.get_relative_airmass(zenith_deg), albedo=albedo, model=transposition)
    aoi_deg = pvlib.irradiance.aoi(tilt_deg, azimuth_deg, zenith_deg, sun["azimuth"].to_numpy())
    beam = np.nan_to_num(np.asarray(poa["poa_direct"], dtype=float))
    diffuse = np.nan_to_num(np.asarray(poa["poa_diffuse"], dtype=float))
    effective = np.clip(beam * np.nan_to_num(pvlib.iam.physical(aoi_deg)) + diffuse, 0.0, None)
    sapm = pvlib.temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"]["open_rack_glass_polymer"]
    cell_c = pvlib.temperature.sapm_cell(
        beam + diffuse, wx["temp_air_c"].to_numpy(), wx["wind_speed_m_per_s"].to_numpy(), **sapm)
    capacity_w = capacity_kw_dc * 1000.0
    dc_w = pvlib.pvsystem.pvwatts_dc(effective, cell_c, capacity_w, gamma_pdc_per_c) * (1.0 - system_losses)
    ac_nameplate_w = capacity_w / dc_ac_ratio
    ac_w = pvlib.inverter.pvwatts(dc_w, ac_nameplate_w / inverter_efficiency, eta_inv_nom=inverter_efficiency)
    ac_w = np.clip(np.nan_to_num(np.asarray(ac_w, dtype=float)), 0.0, ac_nameplate_w)
    return pd.Series(ac_w, index=wx.index, name="pv_power_w")


def solar_signal(
    clock: Clock,
    t0_s: float,
    t1_s: float,
    weather: EpwWeather,
    capacity_kw_dc: float,
    *,
    key: str = SOLAR_KEY,
    **pv_options: float | str,
) -> StepSignal:
    """PV AC output (W) over ``[t0_s, t1_s]``: :func:`pv_power_w` mapped onto the run's calendar.

    Each local standard-time hour of the run takes the typical-year hour with the same month,
    day and hour (Feb 29 uses Feb 28), so a run in any year works. ``pv_options`` go to
    :func:`pv_power_w`; ``key`` names the scenario key in the missing-pvlib message. Integrals
    are in W·s.
    """
    power_w = pv_power_w(weather, capacity_kw_dc, key=key, **pv_options)  # type: ignore[arg-type]
    return typical_year_signal(clock, t0_s, t1_s, weather, power_w.to_numpy(), "solar", "W")
