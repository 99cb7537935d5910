"""Battery specification (and, re-exported, the charger's: see :mod:`grid.chargers`).

Sign convention: power into the battery is positive. Energies in Wh, powers in W, SoC 0..1.
"""
from __future__ import annotations

from dataclasses import dataclass

from grid.chargers import ChargerSpec

__all__ = ["BatterySpec", "ChargerSpec"]


@dataclass(frozen=True)
class BatterySpec:
    """Static battery parameters of one vehicle model."""

    # Tesla Model 3 Long Range: ~75 kWh usable (facts.md §2: arenaev.com; Car and Driver).
    capacity_wh: float = 75_000.0
    # NCA/NMC daily limit <= 90 % (facts.md §2: Tesla guidance via calendar-australia.com).
    charge_limit_soc: float = 0.9
    # "Don't go below ~20 %" (facts.md §2, same sources): below it an unplugged car stops serving.
    reserve_soc: float = 0.2
    # Battery discharge efficiency. 1.0 because the driving consumption default is already a
    # battery-terminal figure (derived from EPA Wh/mi); set < 1 to model inverter losses.
    discharge_efficiency: float = 1.0
