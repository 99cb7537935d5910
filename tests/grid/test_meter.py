"""GridMeter: exact energy/cost/CO2 against hand computation and brute-force integration."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from hand_values import CAISO

from grid.meter import GridMeter
from grid.profiles import CARBON_PROFILES
from grid.signals import StepSignal
from grid.tariff import PGE_EV2A
from sim.core.clock import Clock

LA = ZoneInfo("America/Los_Angeles")


def test_hand_computed_case():
    price = StepSignal([0, 3600], [0.2, 0.4], 7200, "price", "usd_per_kwh")
    carbon = StepSignal([0, 3600], [100, 300], 7200, "carbon", "g_per_kwh")
    m = GridMeter(price, carbon, 0)
    m.set_power(1800, 1000)  # 1 kW from 0:30
    m.set_power(5400, 2000)  # 2 kW from 1:30
    m.settle(7200)
    # 0.5 kWh @ 0.2 + 0.5 kWh @ 0.4 + 1 kWh @ 0.4 ; CO2 0.5*100 + 0.5*300 + 1*300
    assert m.energy_wh == pytest.approx(2000, rel=1e-12)
    assert m.cost_usd == pytest.approx(0.1 + 0.2 + 0.4, rel=1e-12)
    assert m.co2_g == pytest.approx(50 + 150 + 300, rel=1e-12)
    assert m.power_w == 2000
    assert m.t_s == 7200


def test_totals_only_include_settled_time():
    price = StepSignal([0], [0.5], 100, "price", "usd_per_kwh")
    carbon = StepSignal([0], [200], 100, "carbon", "g_per_kwh")
    m = GridMeter(price, carbon, 10)
    m.set_power(10, 3600)
    assert m.energy_wh == 0
    m.settle(20)
    assert m.energy_wh == pytest.approx(10)
    m.settle(20)  # idempotent
    assert m.energy_wh == pytest.approx(10)


def test_time_going_backwards_and_out_of_range():
    price = StepSignal([0], [0.5], 100, "price", "usd_per_kwh")
    carbon = StepSignal([0], [200], 100, "carbon", "g_per_kwh")
    m = GridMeter(price, carbon, 0)
    m.set_power(50, 1)
    with pytest.raises(ValueError, match="before the last settled time"):
        m.settle(40)
    with pytest.raises(ValueError, match=r"signals cover 0\.0 s \.\. 100\.0 s; asked for 150"):
        m.settle(150)
    with pytest.raises(ValueError, match="finite"):
        m.set_power(60, float("nan"))


def test_matches_brute_force_across_hours_and_dst():
    # Two days spanning the 2022-11-06 fall-back (a 25-hour day) in Los Angeles.
    clock = Clock(datetime(2022, 11, 5, 12, 0, tzinfo=LA))
    span_s = 2 * 86400
    price = PGE_EV2A.price_signal(clock, 0, span_s)
    carbon = CARBON_PROFILES["caiso_2022"].signal(clock, 0, span_s)

    rng = np.random.default_rng(7)
    change_s = np.sort(rng.choice(np.arange(1, span_s), size=300, replace=False)).astype(float)
    powers_w = rng.choice([0.0, 300.0, 1150.0, 7200.0, 11500.0], size=300)
    m = GridMeter(price, carbon, 0)
    for t, p in zip(change_s, powers_w):
        m.set_power(float(t), float(p))
    m.settle(span_s)

    # Independent truth: 1-second midpoint sums, with price and carbon from local clock hours
    # computed by pandas tz conversion (all breakpoints are whole seconds, so this is exact).
    mid_s = np.arange(span_s) + 0.5
    local = (pd.Timestamp(clock.start) + pd.to_timedelta(mid_s, unit="s")).tz_convert(LA)
    hour = np.asarray(local.hour)
    # PG&E EV2-A winter prices (the span is in November), from the tariff sheet cited in grid/tariff.py
    price_by_hour = np.array([0.22558] * 15 + [0.39428] + [0.41099] * 5 + [0.39428] * 3)
    price_usd_per_kwh = price_by_hour[hour]
    carbon_g_per_kwh = np.array(CAISO, dtype=float)[hour]
    power_w = np.zeros(span_s)
    for t, p in zip(change_s.astype(int), powers_w):
        power_w[t:] = p
    energy_wh = power_w.sum() / 3600
    cost_usd = (power_w / 1000 * price_usd_per_kwh).sum() / 3600
    co2_g = (power_w / 1000 * carbon_g_per_kwh).sum() / 3600

    assert energy_wh > 1000 and cost_usd > 0 and co2_g > 0
    assert m.energy_wh == pytest.approx(energy_wh, rel=1e-6)
    assert m.cost_usd == pytest.approx(cost_usd, rel=1e-6)
    assert m.co2_g == pytest.approx(co2_g, rel=1e-6)


def test_constant_power_over_a_day_equals_profile_mean():
    # 1 kW for a whole (24-hour) June day: CO2 = sum of the hourly profile (g); cost at EV2-A summer
    # prices = 15 h x 0.22558 + 4 h x 0.42760 + 5 h x 0.53809 = 7.78455 $.
    clock = Clock(datetime(2022, 6, 1, 0, 0, tzinfo=LA))
    price = PGE_EV2A.price_signal(clock, 0, 86400)
    carbon = CARBON_PROFILES["caiso_2022"].signal(clock, 0, 86400)
    m = GridMeter(price, carbon, 0)
    m.set_power(0, 1000)
    m.settle(86400)
    assert m.energy_wh == pytest.approx(24000)
    assert m.co2_g == pytest.approx(sum(CAISO))
    assert m.cost_usd == pytest.approx(7.78455)
