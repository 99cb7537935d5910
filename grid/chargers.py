"""Chargers: power, efficiency and the stepped charging taper, with cited presets.

Charging follows constant power up to ``taper_start_soc``, then a taper: the charger's grid draw
falls linearly with SoC from ``power_w`` to ``taper_end_fraction * power_w`` at SoC 1. The taper is
applied in ``taper_steps`` equal SoC steps of constant power (each step's power is the linear
curve at the step's mid-point), so every vehicle power stays piecewise-constant and all energy,
cost and CO2 integrals are exact. A step boundary is an event of the vehicle.
"""
from __future__ import annotations

from dataclasses import dataclass

from sim.core.params import EFFICIENCY, EFFICIENCY_FLOOR, param


@dataclass(frozen=True)
class ChargerSpec:
    """A charger as seen by one vehicle: grid-side power, AC->battery efficiency, taper."""

    # Tesla Wall Connector, L2: 11.5 kW (facts.md §2: teslamagz.com; evfocused.com).
    power_w: float = param(11_500.0, doc="home charger grid power, W (default: preset); L1, the slowest, is ~1.4 kW "
                                     "(facts.md §2)", lo=100.0, hi=1e6)
    # L2 mean ~90 % (facts.md §2: nenpower.com; veic.org); EPA measured 88.4 %.
    efficiency: float = param(0.90, doc="grid-to-battery efficiency (default: preset); " + EFFICIENCY_FLOOR,
                              **EFFICIENCY)
    # CC/CV knee, an assumption typical of Li-ion charge curves (no source in facts.md).
    taper_start_soc: float = param(0.8, doc="SoC where the charging taper begins (default: preset; 0.8 for AC, "
                                   "ASSUMPTION)", lo=0.0, hi=1.0, hi_open=True)
    taper_end_fraction: float = param(0.1, doc="charger power at SoC 1 as a fraction of full power (default: preset)",
                                      lo=0.01, hi=1.0)
    taper_steps: int = param(4, doc="constant-power steps of the taper (default: preset)", lo=1, hi=100)

    name: str = "l2_home"

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


# Presets (facts.md §2 unless stated). Efficiencies are grid-to-battery; the taper knee at 80 %
# SoC for AC chargers is an assumption typical of Li-ion charge curves.
CHARGER_PRESETS: dict[str, ChargerSpec] = {
    # 120 V x 12 A = 1.4 kW; L1 80-85 % efficient (nenpower.com; support.evcs.com; veic.org).
    "l1": ChargerSpec(power_w=1_400.0, efficiency=0.825, name="l1"),
    # Tesla Wall Connector 11.5 kW (teslamagz.com; evfocused.com); L2 mean ~90 % (veic.org).
    "l2_home": ChargerSpec(power_w=11_500.0, efficiency=0.90, name="l2_home"),
    # A 30 A workplace station on 240 V: 7.2 kW (joingreenspot.com, charging station basics);
    # L2 mean ~90 %.
    "workplace_l2": ChargerSpec(power_w=7_200.0, efficiency=0.90, name="workplace_l2"),
    # Public DC fast: Supercharger V3 cabinets reach 250 kW, but real sessions average 80-100 kW
    # (teslamagz.com; iqfine.com). A 150 kW peak held to 30 % SoC, then a linear taper to 10 % of
    # peak at 100 %, averages ~100 kW from 10 % to 80 % (ASSUMPTION: a car-side charge curve fitted
    # to that average); DC 90-93 % efficient (nenpower.com; veic.org).
    "dc_fast": ChargerSpec(power_w=150_000.0, efficiency=0.92, taper_start_soc=0.3, taper_end_fraction=0.1,
                           taper_steps=5, name="dc_fast"),
    # A robotaxi depot's DC stalls: the same cabinets and curve.
    "depot_dc": ChargerSpec(power_w=150_000.0, efficiency=0.92, taper_start_soc=0.3, taper_end_fraction=0.1,
                            taper_steps=5, name="depot_dc"),
    # Cybercab inductive pad shown at 19-25 kW (facts.md §2: kilowattjournal.com; motor1.com);
    # efficiency as L2 (ASSUMPTION).
    "inductive": ChargerSpec(power_w=25_000.0, efficiency=0.90, name="inductive"),
}
