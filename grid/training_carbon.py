"""Training carbon accounting of Strubell et al. (2019): energy, CO2e and electricity cost of training
a model (the scenario key `grid.carbon` is the grid's carbon signal, built in :mod:`sim.builders`).

Strubell, Ganesh and McCallum, "Energy and Policy Considerations for Deep Learning in NLP",
ACL 2019, section 2:

- Eq. 1: ``p_t = PUE * t * (p_c + p_r + g * p_g) / 1000`` (kWh), with ``t`` in hours, ``p_c`` the
  CPU power of all sockets, ``p_r`` the DRAM power, ``p_g`` the power of one GPU and ``g`` the GPU
  count (all in W). Table 3 publishes only the total ``p_c + p_r + g * p_g`` as "Power (W)".
- Eq. 2: ``CO2e [lbs] = 0.954 * p_t``.
"""
from __future__ import annotations

# Power usage effectiveness: 2018 global data-center average (Ascierto, Uptime Institute Global
# Data Center Survey 2018), as used in Strubell et al. 2019, Eq. 1.
STRUBELL_PUE = 1.58

# Average US CO2 emitted per kWh consumed (lb/kWh): US EPA eGRID 2018, as used in Eq. 2.
EPA_2018_LBS_PER_KWH = 0.954

# Grams per international avoirdupois pound (exact by definition, 1959 agreement).
G_PER_LB = 453.59237

# The same EPA factor in grams: 0.954 lb/kWh = 432.727 g/kWh.
EPA_2018_G_PER_KWH = EPA_2018_LBS_PER_KWH * G_PER_LB

# Average US electricity price ($/kWh): Strubell et al. 2019, section 4.2, footnote 9 (Table 4).
STRUBELL_USD_PER_KWH = 0.12


def strubell_energy_kwh(hours: float, power_w: float, pue: float = STRUBELL_PUE) -> float:
    """Facility energy (kWh) of Eq. 1 for a run of ``hours`` h at total IT power ``power_w`` (W).

    ``power_w`` is ``p_c + p_r + g * p_g`` (Table 3's "Power (W)"); the result is "kWh·PUE".
    """
    if hours < 0 or power_w < 0 or pue < 1:
        raise ValueError(f"need hours >= 0, power_w >= 0 and pue >= 1; got {hours}, {power_w}, {pue}")
    return pue * hours * power_w / 1000.0


def strubell_power_w(cpu_w: float, dram_w: float, gpu_w: float, gpus: int) -> float:
    """Total IT power (W) of Eq. 1: CPU sockets ``cpu_w`` + DRAM ``dram_w`` + ``gpus`` x ``gpu_w``."""
    if min(cpu_w, dram_w, gpu_w) < 0 or gpus < 0:
        raise ValueError(f"powers and GPU count must be >= 0; got {cpu_w}, {dram_w}, {gpu_w}, {gpus}")
    return cpu_w + dram_w + gpus * gpu_w


def strubell_energy_kwh_parts(
    hours: float, cpu_w: float, dram_w: float, gpu_w: float, gpus: int, pue: float = STRUBELL_PUE
) -> float:
    """Facility energy (kWh) of Eq. 1 from its separate terms ``p_c``, ``p_r``, ``p_g`` and ``g``."""
    return strubell_energy_kwh(hours, strubell_power_w(cpu_w, dram_w, gpu_w, gpus), pue)


def co2e_lbs(energy_kwh: float, lbs_per_kwh: float = EPA_2018_LBS_PER_KWH) -> float:
    """CO2-equivalent emissions (lb) of Eq. 2 for ``energy_kwh`` kWh."""
    return lbs_per_kwh * energy_kwh


def co2e_g(energy_kwh: float, lbs_per_kwh: float = EPA_2018_LBS_PER_KWH) -> float:
    """CO2-equivalent emissions (g) of Eq. 2 for ``energy_kwh`` kWh (453.59237 g per lb)."""
    return co2e_lbs(energy_kwh, lbs_per_kwh) * G_PER_LB


def electricity_cost_usd(energy_kwh: float, usd_per_kwh: float = STRUBELL_USD_PER_KWH) -> float:
    """Electricity cost ($) of ``energy_kwh`` kWh at ``usd_per_kwh`` $/kWh."""
    return usd_per_kwh * energy_kwh
