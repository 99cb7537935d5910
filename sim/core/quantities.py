"""Quantities as a reader wants them: a unit that fits the size, three significant digits, and
thousands separators (``39.2 MWh``, ``$21,161``, ``$2.14 B``, ``10.4 t CO2``, ``1.60 GW``)."""
from __future__ import annotations

import math

_SI = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def _sig(x: float) -> str:
    """``x`` to three significant digits, whole numbers with separators from 100 up."""
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def _scaled(value: float, unit: str, prefixes=_SI) -> str:
    """``value`` of ``unit`` under the largest prefix that keeps it at 1 or more."""
    if math.isfinite(value):
        for factor, prefix in prefixes:
            if abs(value) >= factor:
                return f"{_sig(value / factor)} {prefix}{unit}"
    return f"{_sig(value)} {unit}"


def energy_kwh(kwh: float) -> str:
    """Energy given in kWh: ``850 Wh``, ``39.2 MWh``, ``6.06 TWh``."""
    return _scaled(kwh * 1000.0, "Wh")


def power_w(w: float) -> str:
    """Power given in W: ``160 W``, ``10.5 MW``, ``47.2 GW``."""
    return _scaled(w, "W")


def co2_kg(kg: float) -> str:
    """A mass of CO2 given in kg: ``850 kg CO2``, ``10.4 t CO2``, ``1.18 Mt CO2``."""
    if math.isfinite(kg) and abs(kg) >= 1000.0:
        return _scaled(kg / 1000.0, "t CO2", prefixes=_SI[1:])
    return f"{_sig(kg)} kg CO2"


def usd(x: float) -> str:
    """Dollars: cents below $100, whole dollars below a million, then ``$2.14 M``, ``$2.14 B``,
    ``$2.14 T``."""
    a = abs(x)
    sign = "-" if x < 0 else ""
    if not math.isfinite(x) or a < 1e6:
        return f"{sign}${a:,.2f}" if a < 100 else f"{sign}${a:,.0f}"
    for factor, word in ((1e12, "T"), (1e9, "B"), (1e6, "M")):
        if a >= factor:
            return f"{sign}${_sig(a / factor)} {word}"
    return f"{sign}${a:,.0f}"  # pragma: no cover (a >= 1e6 here)


def count(n: float) -> str:
    """A count with thousands separators: ``259,462``."""
    return f"{n:,.0f}"
