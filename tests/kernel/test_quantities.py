"""Quantities read right: a unit that fits, three significant digits, thousands separators."""
from __future__ import annotations

import pytest

from sim.core.quantities import co2_kg, count, energy_kwh, power_w, usd


@pytest.mark.parametrize("kwh, text", [(0.85, "0.85 kWh"), (39176.2, "39.2 MWh"), (6064159479.1, "6.06 TWh"),
                                       (1.0, "1 kWh"), (123.4, "123 kWh"), (2.5e12, "2,500 TWh")])
def test_energy(kwh, text):
    assert energy_kwh(kwh) == text


@pytest.mark.parametrize("w, text", [(160.0, "160 W"), (1.6e5, "160 kW"), (10.47e6, "10.5 MW"), (47.2e9, "47.2 GW")])
def test_power(w, text):
    assert power_w(w) == text


@pytest.mark.parametrize("x, text", [(0.034, "$0.03"), (16134.30, "$16,134"), (2144855940.13, "$2.14 B"),
                                     (503e6, "$503 M"), (-12.5, "-$12.50"), (3.2e12, "$3.2 T")])
def test_usd(x, text):
    assert usd(x) == text


@pytest.mark.parametrize("kg, text", [(850.0, "850 kg CO2"), (10415.9, "10.4 t CO2"), (1.18e9, "1.18 Mt CO2"),
                                      (0.5, "0.5 kg CO2")])
def test_co2(kg, text):
    assert co2_kg(kg) == text


def test_count():
    assert count(259462) == "259,462" and count(4) == "4"
