"""Battery and charger specifications, and the stepped charging taper.

Sign convention: power into the battery is positive. Energies in Wh, powers in W, SoC 0..1.

Charging follows constant power up to ``taper_start_soc``, then a taper: the charger's grid draw
falls linearly with SoC from ``power_w`` to ``taper_end_fraction * power_w`` at SoC 1. The taper is
applied in ``taper_steps`` equal SoC steps of constant power (each step's power is the linear
curve at the step's mid-point), so every vehicle power stays piecewise-constant and all energy,
cost and CO2 integrals are exact. A step boundary is an event of the vehicle.
"""
from __future__ import annotations

from dataclasses import dataclass


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


@dataclass(frozen=True)
class ChargerSpec:
    """A charger as seen by one vehicle: grid-side power, AC->battery efficiency, taper."""

    # Tesla Wall Connector, L2: 11.5 kW (facts.md §2: teslamagz.com; evfocused.com).
    power_w: float = 11_500.0
    # L2 mean ~90 % (facts.md §2: nenpower.com; veic.org); EPA measured 88.4 %.
    efficiency: float = 0.90
    # CC/CV knee, an assumption typical of Li-ion charge curves (no source in facts.md).
    taper_start_soc: float = 0.8
    taper_end_fraction: float = 0.1
    taper_steps: int = 4

    def __post_init__(self) -> None:
        # Grid-side power of every piece, looked up on the hot path as ``step_powers_w[k]``.
        object.__setattr__(self, "step_powers_w", tuple(self.step_power_w(k) for k in range(self.taper_steps + 1)))

    def step_index(self, soc: float) -> int:
        """Index of the constant-power piece that holds at ``soc`` (0 = before the taper)."""
        if soc < self.taper_start_soc:
            return 0
        width = (1.0 - self.taper_start_soc) / self.taper_steps
        k = int((soc - self.taper_start_soc) / width) + 1
        return min(k, self.taper_steps)

    def step_power_w(self, k: int) -> float:
        """Grid-side power of piece ``k`` (W)."""
        if k == 0:
            return self.power_w
        width = (1.0 - self.taper_start_soc) / self.taper_steps
        mid = self.taper_start_soc + (k - 0.5) * width
        frac = 1.0 - (1.0 - self.taper_end_fraction) * (mid - self.taper_start_soc) / (
            1.0 - self.taper_start_soc
        )
        return self.power_w * frac

    def step_upper_soc(self, k: int) -> float:
        """SoC at which piece ``k`` ends."""
        if k == 0:
            return self.taper_start_soc
        width = (1.0 - self.taper_start_soc) / self.taper_steps
        return self.taper_start_soc + k * width
