"""Battery specification (and, re-exported, the charger's: see :mod:`grid.chargers`).

Sign convention: power into the battery is positive. Energies in Wh, powers in W, SoC 0..1.
"""
from __future__ import annotations

from dataclasses import dataclass

from grid.chargers import ChargerSpec
from sim.core.params import EFFICIENCY, EFFICIENCY_FLOOR, PACK_WH, SHARE, param

__all__ = ["BatterySpec", "ChargerSpec"]


@dataclass(frozen=True)
class BatterySpec:
    """Static battery parameters of one vehicle model."""

    # Tesla Model 3 Long Range: ~75 kWh usable (facts.md §2: arenaev.com; Car and Driver).
    capacity_wh: float = param(75_000.0, doc="usable capacity, Wh; Model 3 Long Range ~75 kWh (facts.md §2)",
                               **PACK_WH, hi=1e7)
    # NCA/NMC daily limit <= 90 % (facts.md §2: Tesla guidance via calendar-australia.com).
    charge_limit_soc: float = param(0.9, doc="daily charge limit; NCA/NMC <= 90 % (facts.md §2)", lo=0.0,
                                    lo_open=True, hi=1.0)
    # "Don't go below ~20 %" (facts.md §2, same sources): below it an unplugged car stops serving.
    reserve_soc: float = param(0.2, doc="serving reserve: an unplugged car stops serving above it; ~20 % "
                               "(facts.md §2)", **SHARE)
    # Battery discharge efficiency. 1.0 because the driving consumption default is already a
    # battery-terminal figure (derived from EPA Wh/mi); set < 1 to model inverter losses.
    discharge_efficiency: float = param(1.0, doc="battery-to-load efficiency (1: consumption is a battery-terminal "
                                        "figure); " + EFFICIENCY_FLOOR, **EFFICIENCY)
