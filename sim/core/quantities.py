"""Quantities as a reader wants them: a unit that fits the size, three significant digits, and
thousands separators (``39.2 MWh``, ``$21,161``, ``$2.14 B``, ``10.4 t CO2``, ``1.6 GW``).

The unit tables are shared: the report's figures and page pick their axis units with
:func:`power_unit` and :func:`energy_unit`, the command line formats with the rest.
"""
from __future__ import annotations

import math

#: (divisor, unit) from the largest: power given in W, energy in kWh, CO2 in kg
POWER_UNITS = ((1e12, "TW"), (1e9, "GW"), (1e6, "MW"), (1e3, "kW"), (1.0, "W"))
ENERGY_UNITS = ((1e9, "TWh"), (1e6, "GWh"), (1e3, "MWh"), (1.0, "kWh"))
CO2_UNITS = ((1e9, "Mt CO2"), (1e6, "kt CO2"), (1e3, "t CO2"), (1.0, "kg CO2"))


def unit_for(max_abs: float, units: tuple[tuple[float, str], ...]) -> tuple[float, str]:
    """The first (divisor, name) of ``units`` (largest first) at or below ``max_abs``; else the last."""
    m = abs(float(max_abs)) if math.isfinite(max_abs) else 0.0
    for div, name in units:
        if m >= div:
            return div, name
    return units[-1]


def power_unit(max_abs_w: float) -> tuple[float, str]:
    """The (divisor, unit) that shows ``max_abs_w`` (W) as a number below 1,000 (W at least)."""
    return unit_for(max_abs_w, POWER_UNITS)


def energy_unit(max_abs_kwh: float) -> tuple[float, str]:
    """The (divisor, unit) that shows ``max_abs_kwh`` (kWh) as a number below 1,000 (kWh at least)."""
    return unit_for(max_abs_kwh, ENERGY_UNITS)


def _sig(x: float) -> str:
    """``x`` to three significant digits, whole numbers with separators from 100 up."""
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def _scaled(value: float, units: tuple[tuple[float, str], ...]) -> str:
    div, name = unit_for(value, units)
    return f"{_sig(value / div)} {name}"


def power_w(w: float) -> str:
    """Power given in W: ``160 W``, ``10.5 MW``, ``47.2 GW``."""
    return _scaled(w, POWER_UNITS)


def energy_kwh(kwh: float) -> str:
    """Energy given in kWh: ``0.85 kWh``, ``39.2 MWh``, ``6.06 TWh``."""
    return _scaled(kwh, ENERGY_UNITS)


def co2_kg(kg: float) -> str:
    """A mass of CO2 given in kg: ``850 kg CO2``, ``10.4 t CO2``, ``1.18 Mt CO2``."""
    return _scaled(kg, CO2_UNITS)


def usd(x: float) -> str:
    """Dollars: cents below $100, whole dollars below a million, then ``$2.14 M``, ``$2.14 B``,
    ``$2.14 T``."""
    a = abs(x)
    sign = "-" if x < 0 else ""
    if not math.isfinite(x) or a < 1e6:
        return f"{sign}${a:,.2f}" if a < 100 else f"{sign}${a:,.0f}"
    div, word = unit_for(a, ((1e12, "T"), (1e9, "B"), (1e6, "M")))
    return f"{sign}${_sig(a / div)} {word}"


def count(n: float) -> str:
    """A count with thousands separators: ``259,462``."""
    return f"{n:,.0f}"
