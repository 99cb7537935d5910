"""Data-center baseline and fleet comparison against hand computation from published figures."""
from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hand_values import CAISO

from grid.profiles import CARBON_PROFILES, HourlyProfile
from sim.comparison import (
    DataCenterBaseline,
    compare,
    datacenter_baseline,
    fleet_per_million_tokens,
    gpu_power_w,
    joules_per_token,
    tokens_per_s,
)
from sim.core.clock import Clock

# reference/facts.md §6: Llama-3.1-8B, 1x H100, J per output token at batch 8, 64 and ~511.
J8, J64, J511 = 0.455, 0.119, 0.070
PACIFIC = ZoneInfo("America/Los_Angeles")
HOUR_S = 3600.0
DAY_S = 86400.0


def _clock(tz=PACIFIC) -> Clock:
    return Clock(datetime(2022, 6, 1, 0, 0, tzinfo=tz))


# ---- J/token and throughput ----------------------------------------------------------------

def test_joules_per_token_published_points_exact():
    assert joules_per_token(8) == J8
    assert joules_per_token(64) == J64
    assert joules_per_token(511) == J511


def test_joules_per_token_monotone_and_between_neighbours():
    batches = np.arange(8, 512)
    js = [joules_per_token(int(b)) for b in batches]
    assert all(a > b for a, b in zip(js, js[1:]))
    for b, j in zip(batches, js):
        if 8 < b < 64:
            assert J64 < j < J8
        elif 64 < b < 511:
            assert J511 < j < J64


def test_joules_per_token_log_log_midpoint_and_clamp():
    # Geometric mean of the batches -> geometric mean of J under log-log interpolation.
    assert joules_per_token(math.sqrt(8 * 64)) == pytest.approx(math.sqrt(J8 * J64), rel=1e-12)
    assert joules_per_token(math.sqrt(64 * 511)) == pytest.approx(math.sqrt(J64 * J511), rel=1e-12)
    assert joules_per_token(1) == J8
    assert joules_per_token(4096) == J511
    with pytest.raises(ValueError, match="batch_size"):
        joules_per_token(0)


def test_throughput_measured_and_derived():
    assert tokens_per_s(8) == 1070.0
    assert tokens_per_s(511) == 9806.0
    assert gpu_power_w(8) == pytest.approx(486.0)
    assert gpu_power_w(511) == pytest.approx(688.0)
    # Derived at 64: W linear in ln(batch) between 486 W and 688 W, divided by 0.119 J/token.
    w64 = 486 + (688 - 486) * math.log(64 / 8) / math.log(511 / 8)
    assert w64 == pytest.approx(587.05, abs=0.01)
    assert tokens_per_s(64) == pytest.approx(w64 / J64, rel=1e-12)
    assert tokens_per_s(64) == pytest.approx(4933, abs=1)
    # Measured points are self-consistent: W / (tok/s) is the published J/token to 0.5 %.
    assert 486 / 1070 == pytest.approx(J8, rel=5e-3)
    assert 688 / 9806 == pytest.approx(J511, rel=5e-3)


# ---- baseline configuration ------------------------------------------------------------------

def test_defaults_and_validation():
    spec = DataCenterBaseline()
    assert (spec.batch_size, spec.pue, spec.carbon_profile, spec.hardware_usd_per_gpu_hour) == (
        64, 1.58, "caiso_2022", 0.0)
    assert spec.usd_per_kwh == 0.17
    with pytest.raises(ValueError, match="carbon_profile = 'nowhere'.*caiso_2022"):
        DataCenterBaseline(carbon_profile="nowhere")
    with pytest.raises(ValueError, match="pue"):
        DataCenterBaseline(pue=0.9)
    with pytest.raises(ValueError, match="batch_size"):
        DataCenterBaseline(batch_size=0)
    with pytest.raises(ValueError, match="usd_per_kwh"):
        DataCenterBaseline(usd_per_kwh=-0.1)


# ---- the baseline on constructed workloads ---------------------------------------------------

def test_one_million_tokens_at_a_known_hour():
    spec = DataCenterBaseline(batch_size=64, pue=1.58, usd_per_kwh=0.17, hardware_usd_per_gpu_hour=2.0)
    t = 13.5 * HOUR_S  # 13:30 Pacific: CAISO hour 13
    out = datacenter_baseline((np.array([t]), np.array([1e6])), spec, _clock(), DAY_S, 50.0)
    kwh = 1e6 * 0.119 * 1.58 / 3.6e6  # 0.052228 kWh
    co2_g = kwh * 177
    gpu_h = 1e6 / (587.0496 / 0.119) / 3600
    usd = {"electricity": kwh * 0.17, "carbon": co2_g / 1e6 * 50.0, "hardware": gpu_h * 2.0}
    assert out["tokens"] == 1e6
    assert out["kwh_per_million_tokens"] == pytest.approx(kwh, rel=1e-12)
    assert out["energy_kwh"] == pytest.approx(0.0522278, rel=1e-5)
    assert out["g_co2_per_million_tokens"] == pytest.approx(co2_g, rel=1e-12)
    assert out["gpu_hours"] == pytest.approx(gpu_h, rel=1e-5)
    for k, v in usd.items():
        assert out["usd_breakdown_per_million_tokens"][k] == pytest.approx(v, rel=1e-5)
    assert out["usd_per_million_tokens"] == pytest.approx(sum(usd.values()), rel=1e-5)
    assert (out["batch_size"], out["j_per_token"], out["pue"], out["carbon_profile"]) == (
        64, 0.119, 1.58, "caiso_2022")


def test_carbon_uses_the_data_center_region_hour_not_the_run_zone():
    # Run clock in UTC: 2022-06-01 00:00 UTC is 17:00 PDT on May 31 -> CAISO hour 17.
    out = datacenter_baseline((np.array([0.0]), np.array([1e6])), DataCenterBaseline(),
                              _clock(ZoneInfo("UTC")), HOUR_S, 0.0)
    assert out["g_co2_per_million_tokens"] == pytest.approx(1e6 * 0.119 * 1.58 / 3.6e6 * 241, rel=1e-12)


def test_tokens_spread_across_hours_weight_each_hour():
    times = np.array([2.2 * HOUR_S, 12.0 * HOUR_S, 12.9 * HOUR_S, 26.5 * HOUR_S])  # hours 2, 12, 12, 2
    toks = np.array([100_000, 300_000, 400_000, 200_000])
    out = datacenter_baseline((times, toks), DataCenterBaseline(batch_size=8), _clock(), 2 * DAY_S, 0.0)
    kwh_per_token = 0.455 * 1.58 / 3.6e6
    co2 = kwh_per_token * (300_000 * CAISO[2] + 700_000 * CAISO[12])
    assert out["co2_g"] == pytest.approx(co2, rel=1e-12)
    assert out["g_co2_per_million_tokens"] == pytest.approx(co2, rel=1e-12)  # exactly 1e6 tokens
    # The hour-weighted intensity is not the daily mean.
    assert out["co2_g"] / out["energy_kwh"] == pytest.approx(0.3 * 303 + 0.7 * 177)


def test_tokens_outside_the_horizon_are_an_error():
    with pytest.raises(ValueError, match="covers"):
        datacenter_baseline((np.array([2 * HOUR_S]), np.array([10])), DataCenterBaseline(), _clock(), HOUR_S, 0.0)
    with pytest.raises(ValueError, match="token counts"):
        datacenter_baseline((np.array([0.0, 1.0]), np.array([10])), DataCenterBaseline(), _clock(), HOUR_S, 0.0)


def test_zero_tokens_gives_none_not_a_crash():
    dc = datacenter_baseline((np.array([]), np.array([])), DataCenterBaseline(), _clock(), DAY_S, 50.0)
    assert dc["tokens"] == 0 and dc["energy_kwh"] == 0 and dc["co2_g"] == 0 and dc["cost_usd"] == 0
    assert dc["kwh_per_million_tokens"] is None and dc["usd_per_million_tokens"] is None
    assert all(v is None for v in dc["usd_breakdown_per_million_tokens"].values())
    fleet = fleet_per_million_tokens(0.0, 0.0, 0.0, 0.0, 0.0, 0)
    cmp = compare(fleet, dc)
    assert cmp["tokens_generated"] == 0
    assert cmp["ratio_fleet_to_datacenter"] == {"kwh": None, "co2": None, "usd": None}


def test_zero_denominator_ratio_is_none():
    # Free electricity, no carbon price, no hardware: the data center's $ per million is 0.
    spec = DataCenterBaseline(usd_per_kwh=0.0)
    dc = datacenter_baseline((np.array([HOUR_S]), np.array([1e6])), spec, _clock(), DAY_S, 0.0)
    fleet = fleet_per_million_tokens(0.5, 100.0, 0.1, 0.0, 1.0, 1e6)
    r = compare(fleet, dc)["ratio_fleet_to_datacenter"]
    assert r["usd"] is None
    assert r["kwh"] == pytest.approx(0.5 / (0.119 * 1.58 / 3.6))
    assert r["co2"] == pytest.approx(100.0 / (0.119 * 1.58 / 3.6 * CAISO[1]))


# ---- fleet figures and comparison -------------------------------------------------------------

def test_fleet_per_million_tokens_by_hand():
    f = fleet_per_million_tokens(inference_kwh=12.0, inference_co2_g=3000.0, electricity_usd=3.6,
                                 carbon_usd=0.15, payouts_usd=20.0, tokens=2_500_000)
    assert f["kwh_per_million_tokens"] == pytest.approx(4.8)
    assert f["g_co2_per_million_tokens"] == pytest.approx(1200.0)
    assert f["usd_per_million_tokens"] == pytest.approx(9.5)  # (3.6 + 0.15 + 20) / 2.5
    assert f["usd_breakdown_per_million_tokens"] == pytest.approx(
        {"electricity": 1.44, "carbon": 0.06, "owner_payouts": 8.0})
    assert f["cost_usd"] == pytest.approx(23.75)


def test_compare_ratios_by_hand():
    dc = datacenter_baseline((np.array([9.0 * HOUR_S]), np.array([2_500_000])),
                             DataCenterBaseline(batch_size=511, usd_per_kwh=0.12), _clock(), DAY_S, 100.0)
    fleet = fleet_per_million_tokens(12.0, 3000.0, 3.6, 0.3, 20.0, 2_500_000)
    out = compare(fleet, dc)
    kwh_m = 0.070 * 1.58 / 3.6  # kWh per million tokens at batch 511
    co2_m = kwh_m * CAISO[9]
    usd_m = kwh_m * 0.12 + co2_m / 1e6 * 100.0
    assert out["tokens_generated"] == 2_500_000
    assert out["fleet"] is fleet and out["datacenter"] is dc
    assert out["ratio_fleet_to_datacenter"]["kwh"] == pytest.approx(4.8 / kwh_m)
    assert out["ratio_fleet_to_datacenter"]["co2"] == pytest.approx(1200.0 / co2_m)
    assert out["ratio_fleet_to_datacenter"]["usd"] == pytest.approx((23.9 / 2.5) / usd_m)


def test_strubell_cross_check_batch_8(monkeypatch):
    """Batch 8, PUE 1.58 and EPA eGRID 2018 (0.954 lb/kWh, flat) against Strubell et al. 2019 Eqs. 1-2."""
    egrid = HourlyProfile("egrid_2018_flat", tuple([0.954 * 453.59237] * 24), "g_per_kwh", "UTC", "EPA eGRID 2018")
    monkeypatch.setitem(CARBON_PROFILES, "egrid_2018_flat", egrid)
    spec = DataCenterBaseline(batch_size=8, pue=1.58, usd_per_kwh=0.12, carbon_profile="egrid_2018_flat")
    out = datacenter_baseline((np.array([5.0 * HOUR_S]), np.array([1e6])), spec, _clock(), DAY_S, 0.0)
    kwh = 0.455 * 1.58 / 3.6  # 0.19969 kWh per million tokens
    assert out["kwh_per_million_tokens"] == pytest.approx(kwh, rel=1e-12)
    assert out["kwh_per_million_tokens"] == pytest.approx(0.19969, rel=1e-4)
    # Eq. 1 with the measured 486 W for the 1e6 / 1,070 s the GPU needs: p_t = 1.58 t W / 1000.
    p_t = 1.58 * (1e6 / 1070 / 3600) * 486 / 1000
    assert out["kwh_per_million_tokens"] == pytest.approx(p_t, rel=5e-3)
    # Eq. 2: CO2e (lb) = 0.954 p_t.
    assert out["g_co2_per_million_tokens"] / 453.59237 == pytest.approx(0.954 * kwh, rel=1e-12)
    assert out["usd_breakdown_per_million_tokens"]["electricity"] == pytest.approx(0.12 * kwh, rel=1e-12)
    assert out["usd_breakdown_per_million_tokens"]["hardware"] == 0.0
