"""Data-center baseline and fleet comparison: the roofline's steady state on an H100, checked
against the published measurements and by hand."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hand_values import CAISO

from fleet import roofline
from fleet.chip import CHIP_PRESETS
from fleet.llm import MODEL_PRESETS
from grid.profiles import CARBON_PROFILES, HourlyProfile
from sim.comparison import (
    DataCenterBaseline,
    compare,
    datacenter_baseline,
    fleet_per_million_tokens,
    operating_point,
)
from sim.core.clock import Clock

# reference/facts.md §6: Llama-3.1-8B-Instruct bf16 on 1x H100 (vLLM, GPU energy only), ML.ENERGY
# (ml-energy/leaderboard@0cd52da): J per output token at max batch 8, 64 and ~512; output tokens/s and
# average GPU W at 8 and ~512; mean output ~390 tokens. A cross-check only: the code does not read them.
J8, J64, J512 = 0.455, 0.119, 0.070
TPS8, TPS512 = 1070.0, 9806.0
W8, W512 = 486.0, 688.0
ML_ENERGY_OUTPUT = 390.0
PROMPT = 200.0  # ASSUMPTION of the calibration (fleet/chip.py): prompt lengths are not published
PACIFIC = ZoneInfo("America/Los_Angeles")
HOUR_S = 3600.0
DAY_S = 86400.0
H100, L8 = CHIP_PRESETS["h100_sxm"], MODEL_PRESETS["llama-3.1-8b-bf16"]


def _clock(tz=PACIFIC) -> Clock:
    return Clock(datetime(2022, 6, 1, 0, 0, tzinfo=tz))


def _sat(batch: int, prompt: float = PROMPT, out: float = ML_ENERGY_OUTPUT, held: float | None = None) -> dict:
    """The roofline's steady state of one H100 serving Llama-3.1-8B bf16."""
    return roofline.saturated(H100, L8, batch, prompt, out, out if held is None else held)


def _baseline(times, tokens, spec=None, clock=None, horizon=DAY_S, carbon_price=0.0, prompt=PROMPT,
              out=ML_ENERGY_OUTPUT, held=None):
    return datacenter_baseline((np.asarray(times, dtype=float), np.asarray(tokens, dtype=float)),
                               spec or DataCenterBaseline(), clock or _clock(), horizon, carbon_price, prompt, out,
                               held)


# ---- the roofline against the published measurements ------------------------------------------

@pytest.mark.parametrize("batch, j_measured", [(8, J8), (64, J64), (512, J512)])
def test_gpu_joules_per_token_agree_with_ml_energy_within_20_percent(batch, j_measured):
    p = operating_point(DataCenterBaseline(batch_size=batch), PROMPT, ML_ENERGY_OUTPUT, ML_ENERGY_OUTPUT)
    assert p["batch"] == batch  # 512 x (200 + 195) tokens of KV cache fit an H100
    assert p["j_per_token"] == pytest.approx(j_measured, rel=0.2)


def test_throughput_and_power_agree_with_ml_energy_within_20_percent():
    for batch, tps, w in ((8, TPS8, W8), (512, TPS512, W512)):
        p = operating_point(DataCenterBaseline(batch_size=batch), PROMPT, ML_ENERGY_OUTPUT, ML_ENERGY_OUTPUT)
        assert p["tokens_per_s"] == pytest.approx(tps, rel=0.2)
        assert p["power_w"] == pytest.approx(w, rel=0.2)
        assert H100.idle_w < p["power_w"] < H100.active_w
    # larger batches: fewer joules per token, as measured
    js = [operating_point(DataCenterBaseline(batch_size=b), PROMPT, ML_ENERGY_OUTPUT,
                          ML_ENERGY_OUTPUT)["j_per_token"] for b in (8, 16, 32, 64, 128, 256, 512)]
    assert all(a > b for a, b in zip(js, js[1:]))


def test_the_batch_is_what_the_kv_cache_holds_when_smaller():
    """H100: 80 GB x 0.9 less 16.06 GB of bf16 weights, at 2 x 32 layers x 8 heads x 128 x 2 B per
    token: 426,788 tokens of KV cache; a request holding 2,000 + 10,000 / 2 tokens fits 60 times."""
    kv_tokens = (80e9 * 0.9 - 8.03e9 * 2) / (2 * 32 * 8 * 128 * 2)
    assert int(kv_tokens) == 426_788
    p = operating_point(DataCenterBaseline(batch_size=64), 2000.0, 6000.0, 10_000.0)
    assert p["batch"] == int(kv_tokens // 7000) == 60
    assert p["j_per_token"] == _sat(60, 2000.0, 6000.0, 10_000.0)["j_per_token"]
    assert operating_point(DataCenterBaseline(batch_size=32), 2000.0, 6000.0, 10_000.0)["batch"] == 32
    with pytest.raises(ValueError, match="prompt_tokens"):
        operating_point(DataCenterBaseline(), 0.0, 10.0, 10.0)


# ---- baseline configuration ------------------------------------------------------------------

def test_defaults_and_validation():
    spec = DataCenterBaseline()
    assert (spec.batch_size, spec.model, spec.pue, spec.carbon_profile, spec.hardware_usd_per_gpu_hour) == (
        64, "llama-3.1-8b-bf16", 1.58, "caiso_2022", 0.0)
    assert spec.usd_per_kwh == 0.17
    with pytest.raises(ValueError, match="carbon_profile = 'nowhere'.*caiso_2022"):
        DataCenterBaseline(carbon_profile="nowhere")
    with pytest.raises(ValueError, match="pue"):
        DataCenterBaseline(pue=0.9)
    with pytest.raises(ValueError, match="batch_size"):
        DataCenterBaseline(batch_size=0)
    with pytest.raises(ValueError, match="usd_per_kwh"):
        DataCenterBaseline(usd_per_kwh=-0.1)
    with pytest.raises(ValueError, match="model = 'gpt'"):
        DataCenterBaseline(model="gpt")


# ---- the baseline on constructed workloads ---------------------------------------------------

def test_kwh_per_million_tokens_is_the_steady_state_j_per_token_times_pue():
    """At the ML.ENERGY request and at the default scenario's (batch units of 20,000 output tokens
    among short chats), in each case from fleet.roofline.saturated directly."""
    for pue in (1.0, 1.58):
        out = _baseline([HOUR_S], [1e6], DataCenterBaseline(pue=pue))
        assert out["batch"] == 64
        assert out["kwh_per_million_tokens"] == pytest.approx(_sat(64)["j_per_token"] * pue / 3.6e6 * 1e6,
                                                              rel=1e-12)
    # the default run's mean request (prompt, output, length-biased output): 64 sequences would need
    # 798,000 tokens of KV cache; 34 fit (426,788 / 12,468)
    p, o, h = 2571.7, 10069.3, 19792.8
    out = _baseline([HOUR_S], [1e6], prompt=p, out=o, held=h)
    assert out["batch"] == 34
    assert out["kwh_per_million_tokens"] == pytest.approx(_sat(34, p, o, h)["j_per_token"] * 1.58 / 3.6e6 * 1e6,
                                                          rel=1e-12)
    assert out["kwh_per_million_tokens"] == pytest.approx(0.2006, abs=5e-4)
    assert (out["mean_prompt_tokens"], out["mean_output_tokens"], out["output_tokens_held"]) == (p, o, h)


def test_one_million_tokens_at_a_known_hour():
    spec = DataCenterBaseline(batch_size=64, pue=1.58, usd_per_kwh=0.17, hardware_usd_per_gpu_hour=2.0)
    t = 13.5 * HOUR_S  # 13:30 Pacific: CAISO hour 13
    out = _baseline([t], [1e6], spec, carbon_price=50.0)
    s = _sat(64)
    kwh = 1e6 * s["j_per_token"] * 1.58 / 3.6e6
    co2_g = kwh * 177
    gpu_h = 1e6 / s["tokens_per_s"] / 3600
    usd = {"electricity": kwh * 0.17, "carbon": co2_g / 1e6 * 50.0, "hardware": gpu_h * 2.0}
    assert out["tokens"] == 1e6
    assert out["kwh_per_million_tokens"] == pytest.approx(kwh, rel=1e-12)
    assert out["energy_kwh"] == pytest.approx(0.0522, rel=0.02)  # ML.ENERGY's 0.119 J x 1.58 / 3.6, within 2 %
    assert out["g_co2_per_million_tokens"] == pytest.approx(co2_g, rel=1e-12)
    assert out["gpu_hours"] == pytest.approx(gpu_h, rel=1e-12)
    for k, v in usd.items():
        assert out["usd_breakdown_per_million_tokens"][k] == pytest.approx(v, rel=1e-12)
    assert out["usd_per_million_tokens"] == pytest.approx(sum(usd.values()), rel=1e-12)
    assert (out["chip"], out["model"], out["batch_size"], out["pue"], out["carbon_profile"]) == (
        "h100_sxm", "llama-3.1-8b-bf16", 64, 1.58, "caiso_2022")
    for key in ("j_per_token", "tokens_per_s", "power_w", "tpot_s"):
        assert out[key] == pytest.approx(s[key], rel=1e-12)


def test_carbon_uses_the_data_center_region_hour_not_the_run_zone():
    # Run clock in UTC: 2022-06-01 00:00 UTC is 17:00 PDT on May 31 -> CAISO hour 17.
    out = _baseline([0.0], [1e6], clock=_clock(ZoneInfo("UTC")), horizon=HOUR_S)
    assert out["g_co2_per_million_tokens"] == pytest.approx(1e6 * _sat(64)["j_per_token"] * 1.58 / 3.6e6 * 241,
                                                            rel=1e-12)


def test_tokens_spread_across_hours_weight_each_hour():
    times = np.array([2.2 * HOUR_S, 12.0 * HOUR_S, 12.9 * HOUR_S, 26.5 * HOUR_S])  # hours 2, 12, 12, 2
    toks = np.array([100_000, 300_000, 400_000, 200_000])
    out = _baseline(times, toks, DataCenterBaseline(batch_size=8), horizon=2 * DAY_S)
    kwh_per_token = _sat(8)["j_per_token"] * 1.58 / 3.6e6
    co2 = kwh_per_token * (300_000 * CAISO[2] + 700_000 * CAISO[12])
    assert out["co2_g"] == pytest.approx(co2, rel=1e-12)
    assert out["g_co2_per_million_tokens"] == pytest.approx(co2, rel=1e-12)  # exactly 1e6 tokens
    # The hour-weighted intensity is not the daily mean.
    assert out["co2_g"] / out["energy_kwh"] == pytest.approx(0.3 * 303 + 0.7 * 177)


def test_tokens_outside_the_horizon_are_an_error():
    with pytest.raises(ValueError, match="covers"):
        _baseline([2 * HOUR_S], [10], horizon=HOUR_S)
    with pytest.raises(ValueError, match="token counts"):
        _baseline([0.0, 1.0], [10], horizon=HOUR_S)
    with pytest.raises(ValueError, match="no mean request"):
        _baseline([0.0], [10], horizon=HOUR_S, prompt=None, out=None)


def test_zero_tokens_gives_none_not_a_crash():
    dc = _baseline([], [], carbon_price=50.0, prompt=None, out=None)
    assert dc["tokens"] == 0 and dc["energy_kwh"] == 0 and dc["co2_g"] == 0 and dc["cost_usd"] == 0
    assert dc["kwh_per_million_tokens"] is None and dc["usd_per_million_tokens"] is None
    assert all(v is None for v in dc["usd_breakdown_per_million_tokens"].values())
    assert dc["j_per_token"] is None and dc["batch"] is None and dc["gpu_hours"] == 0.0
    fleet = fleet_per_million_tokens(0.0, 0.0, 0.0, 0.0, 0.0, 0)
    cmp = compare(fleet, dc)
    assert cmp["tokens_generated"] == 0
    assert cmp["ratio_fleet_to_datacenter"] == {"kwh": None, "co2": None, "usd": None}


def test_zero_denominator_ratio_is_none():
    # Free electricity, no carbon price, no hardware: the data center's $ per million is 0.
    dc = _baseline([HOUR_S], [1e6], DataCenterBaseline(usd_per_kwh=0.0))
    fleet = fleet_per_million_tokens(0.5, 100.0, 0.1, 0.0, 1.0, 1e6)
    r = compare(fleet, dc)["ratio_fleet_to_datacenter"]
    kwh_m = _sat(64)["j_per_token"] * 1.58 / 3.6
    assert r["usd"] is None
    assert r["kwh"] == pytest.approx(0.5 / kwh_m, rel=1e-12)
    assert r["co2"] == pytest.approx(100.0 / (kwh_m * CAISO[1]), rel=1e-12)


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
    dc = _baseline([9.0 * HOUR_S], [2_500_000], DataCenterBaseline(batch_size=512, usd_per_kwh=0.12),
                   carbon_price=100.0)
    fleet = fleet_per_million_tokens(12.0, 3000.0, 3.6, 0.3, 20.0, 2_500_000)
    out = compare(fleet, dc)
    kwh_m = _sat(512)["j_per_token"] * 1.58 / 3.6  # kWh per million tokens at batch 512
    assert kwh_m == pytest.approx(J512 * 1.58 / 3.6, rel=0.05)  # ML.ENERGY's point, within 5 %
    co2_m = kwh_m * CAISO[9]
    usd_m = kwh_m * 0.12 + co2_m / 1e6 * 100.0
    assert out["tokens_generated"] == 2_500_000
    assert out["fleet"] is fleet and out["datacenter"] is dc
    assert out["ratio_fleet_to_datacenter"]["kwh"] == pytest.approx(4.8 / kwh_m, rel=1e-12)
    assert out["ratio_fleet_to_datacenter"]["co2"] == pytest.approx(1200.0 / co2_m, rel=1e-12)
    assert out["ratio_fleet_to_datacenter"]["usd"] == pytest.approx((23.9 / 2.5) / usd_m, rel=1e-12)


def test_strubell_cross_check_batch_8(monkeypatch):
    """Batch 8, PUE 1.58 and EPA eGRID 2018 (0.954 lb/kWh, flat) against Strubell et al. 2019 Eqs. 1-2
    with the GPU power and throughput ML.ENERGY measured at batch 8."""
    egrid = HourlyProfile("egrid_2018_flat", tuple([0.954 * 453.59237] * 24), "g_per_kwh", "UTC", "EPA eGRID 2018")
    monkeypatch.setitem(CARBON_PROFILES, "egrid_2018_flat", egrid)
    spec = DataCenterBaseline(batch_size=8, pue=1.58, usd_per_kwh=0.12, carbon_profile="egrid_2018_flat")
    out = _baseline([5.0 * HOUR_S], [1e6], spec)
    kwh = _sat(8)["j_per_token"] * 1.58 / 3.6
    assert out["kwh_per_million_tokens"] == pytest.approx(kwh, rel=1e-12)
    # Eq. 1 with the measured 486 W for the 1e6 / 1,070 s the GPU needs: p_t = 1.58 t W / 1000
    # (0.1994 kWh); the model is within 5 % of it.
    p_t = 1.58 * (1e6 / TPS8 / 3600) * W8 / 1000
    assert out["kwh_per_million_tokens"] == pytest.approx(p_t, rel=0.05)
    # Eq. 2: CO2e (lb) = 0.954 p_t.
    assert out["g_co2_per_million_tokens"] / 453.59237 == pytest.approx(0.954 * kwh, rel=1e-12)
    assert out["usd_breakdown_per_million_tokens"]["electricity"] == pytest.approx(0.12 * kwh, rel=1e-12)
    assert out["usd_breakdown_per_million_tokens"]["hardware"] == 0.0
