"""The data-center baseline for the fleet's workload, and the comparison per million tokens.

The baseline serves every output token the fleet generated on H100 GPUs running Llama-3.1-8B
(vLLM, bf16) at a fixed batch size. Energy per token comes from the ML.ENERGY leaderboard
(reference/facts.md §6: GPU energy only), scaled by the facility's PUE; each token's energy is
carbon-counted at the hour it was served with the data center's own region's hourly profile.
Analysis only: pure functions of a finished run's totals.
"""
from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from typing import Any

import numpy as np

from grid.profiles import CARBON_PROFILES
from grid.training_carbon import STRUBELL_PUE
from sim.core.clock import Clock
from sim.core.params import param

_J_PER_KWH = 3.6e6
_G_PER_TONNE = 1e6
_PER_MILLION = 1e6

# Llama-3.1-8B-Instruct bf16 on 1x H100, vLLM, GPU energy per output token (J) by batch size.
# ml-energy/leaderboard@0cd52da public/data/models/meta-llama__Llama-3.1-8B-Instruct__lm-arena-chat.json
# (`energy_per_token_joules`), reference/facts.md §6. The largest batch is "~511"; 511 is used.
_BATCHES: tuple[float, ...] = (8.0, 64.0, 511.0)
_J_PER_TOKEN: tuple[float, ...] = (0.455, 0.119, 0.070)
# Average GPU power (W) measured at batch 8 and 511 (same file, `avg_power_watts`).
_POWER_W: tuple[float, float] = (486.0, 688.0)
# Output throughput (tok/s) measured at batch 8 and 511 (same file, `output_throughput_tokens_per_sec`).
_TOKENS_PER_S_8, _TOKENS_PER_S_511 = 1070.0, 9806.0


def _clamped(batch_size: float) -> float:
    if not (math.isfinite(batch_size) and batch_size >= 1):
        raise ValueError(f"batch_size = {batch_size!r}: allowed: finite and >= 1")
    return min(max(float(batch_size), _BATCHES[0]), _BATCHES[-1])


def _log_log(x: float, xs: tuple[float, ...], ys: tuple[float, ...]) -> float:
    """Piecewise power law through ``(xs[i], ys[i])``; exact at the points; ``xs[0] <= x <= xs[-1]``."""
    if x >= xs[-1]:
        return ys[-1]
    i = bisect_right(xs, x) - 1
    slope = math.log(ys[i + 1] / ys[i]) / math.log(xs[i + 1] / xs[i])
    return ys[i] * (x / xs[i]) ** slope


def joules_per_token(batch_size: float) -> float:
    """GPU energy per generated token (J) of Llama-3.1-8B on one H100 at ``batch_size`` sequences.

    The published points (8: 0.455, 64: 0.119, 511: 0.070 J/token) are returned exactly; between
    them the value is interpolated linearly in log(J) vs log(batch). Outside 8..511 it is clamped
    to the nearest end (below 8 this underestimates the energy of a nearly idle GPU).
    """
    return _log_log(_clamped(batch_size), _BATCHES, _J_PER_TOKEN)


def gpu_power_w(batch_size: float) -> float:
    """GPU power (W) at ``batch_size``: 486 W at 8 and 688 W at 511 (measured), linear in log(batch)
    between them (derived), clamped outside."""
    b = _clamped(batch_size)
    frac = math.log(b / _BATCHES[0]) / math.log(_BATCHES[-1] / _BATCHES[0])
    return _POWER_W[0] + (_POWER_W[1] - _POWER_W[0]) * frac


def tokens_per_s(batch_size: float) -> float:
    """Output throughput (tok/s) of one H100 at ``batch_size``.

    Measured 1,070 tok/s at batch 8 and 9,806 at 511. At 64 it is derived:
    ``gpu_power_w(64) / joules_per_token(64)`` (~587 W / 0.119 J = ~4,933 tok/s). Log-log
    interpolation between these three points, clamped outside 8..511.
    """
    mid = gpu_power_w(_BATCHES[1]) / _J_PER_TOKEN[1]
    return _log_log(_clamped(batch_size), _BATCHES, (_TOKENS_PER_S_8, mid, _TOKENS_PER_S_511))


@dataclass(frozen=True)
class DataCenterBaseline:
    """Static configuration of the data center that serves the same tokens as the fleet."""

    # 64: the middle ML.ENERGY point. ~4,900 tok/s shared by 64 streams is ~77 tok/s each,
    # fast enough for interactive chat; batch ~511 gives ~19 tok/s per stream, batch 8 wastes the
    # GPU (0.455 J/token). ASSUMPTION: the operator runs a throughput-oriented but interactive batch.
    batch_size: int = param(64, doc="batch of the comparison data center's GPUs (Llama-3.1-8B on H100, ML.ENERGY "
                            "J/token, facts.md §6); ASSUMPTION: 64", lo=1, hi=4096)
    # 1.58: 2018 global average PUE, Uptime Institute, as used by Strubell et al. 2019 (facts.md §5).
    pue: float = param(STRUBELL_PUE, doc="its power usage effectiveness; 1.58 (Uptime 2018, facts.md §5)", lo=1.0,
                       hi=5.0)
    # $0.17/kWh: California industrial average 2022 (California Green Innovation Index 2024,
    # Table 7, from US EIA State Energy Data System; US average $0.08), matching the default
    # CAISO 2022 carbon region and year. Strubell et al. 2019 use a flat $0.12/kWh (§4).
    usd_per_kwh: float = param(0.17, doc="its electricity price, $/kWh; California industrial 2022 (Green "
                               "Innovation Index 2024, from EIA SEDS)", lo=0.0, hi=100.0)
    # The data center's own grid region: a name in grid.profiles.CARBON_PROFILES.
    carbon_profile: str = param("caiso_2022", doc="its grid region's hourly carbon profile",
                                choices=tuple(sorted(CARBON_PROFILES)))
    # GPU rental or amortisation ($ per GPU-hour); 0 = not counted. Strubell et al. 2019 fn. 7
    # give cloud GPU prices of $0.43-0.74/h pre-emptible and $1.46-2.48/h on demand (facts.md §5).
    hardware_usd_per_gpu_hour: float = param(0.0, doc="GPU rental or amortisation, $/GPU-hour (0 = not counted; "
                                             "cloud $0.43-2.48/h, Strubell et al. 2019)", lo=0.0, hi=1000.0)

    def __post_init__(self) -> None:
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size = {self.batch_size!r}: allowed: an integer >= 1")
        if not (math.isfinite(self.pue) and self.pue >= 1.0):
            raise ValueError(f"pue = {self.pue!r}: allowed: finite and >= 1")
        for name in ("usd_per_kwh", "hardware_usd_per_gpu_hour"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} = {v!r}: allowed: finite and >= 0")
        if self.carbon_profile not in CARBON_PROFILES:
            raise ValueError(
                f"carbon_profile = {self.carbon_profile!r}: allowed: {', '.join(sorted(CARBON_PROFILES))}"
            )


def _per_million(value: float, tokens: float) -> float | None:
    return value * _PER_MILLION / tokens if tokens > 0 else None


def _figures(tokens: float, energy_kwh: float, co2_g: float, breakdown_usd: dict[str, float]) -> dict[str, Any]:
    """Totals and per-million-token figures with the keys shared by fleet and data center."""
    cost_usd = sum(breakdown_usd.values())
    return {
        "tokens": tokens,
        "energy_kwh": energy_kwh,
        "co2_g": co2_g,
        "cost_usd": cost_usd,
        "cost_breakdown_usd": dict(breakdown_usd),
        "kwh_per_million_tokens": _per_million(energy_kwh, tokens),
        "g_co2_per_million_tokens": _per_million(co2_g, tokens),
        "usd_per_million_tokens": _per_million(cost_usd, tokens),
        "usd_breakdown_per_million_tokens": {k: _per_million(v, tokens) for k, v in breakdown_usd.items()},
    }


def datacenter_baseline(
    tokens_by_time: tuple[np.ndarray, np.ndarray],
    spec: DataCenterBaseline,
    clock: Clock,
    horizon_s: float,
    carbon_price_usd_per_tonne: float,
) -> dict[str, Any]:
    """Energy (kWh), CO2 (g) and cost ($) of serving the given output tokens in the data center.

    ``tokens_by_time`` is ``(times_s, output_tokens)``: simulation seconds in ``[0, horizon_s]``
    at which tokens were served, and how many. Energy = tokens x J/token x PUE / 3.6e6; each
    token's energy is multiplied by the region's carbon intensity (g/kWh) at its local hour.
    Cost = energy x ``usd_per_kwh`` + CO2 (t) x ``carbon_price_usd_per_tonne`` + GPU-hours x
    ``hardware_usd_per_gpu_hour``, with GPU-hours = tokens / ``tokens_per_s`` / 3600 (GPUs
    fully busy at the batch size: a lower bound). Per-million figures are None for no tokens.
    """
    times_s = np.asarray(tokens_by_time[0], dtype=float).ravel()
    tokens_a = np.asarray(tokens_by_time[1], dtype=float).ravel()
    if times_s.shape != tokens_a.shape:
        raise ValueError(f"tokens_by_time: {times_s.size} times but {tokens_a.size} token counts; must be equal")
    if not (np.isfinite(tokens_a).all() and (tokens_a >= 0).all()):
        raise ValueError("tokens_by_time: token counts must be finite and >= 0")
    if not (math.isfinite(horizon_s) and horizon_s > 0):
        raise ValueError(f"horizon_s = {horizon_s!r}: allowed: finite and > 0")
    if not (math.isfinite(carbon_price_usd_per_tonne) and carbon_price_usd_per_tonne >= 0):
        raise ValueError(f"carbon_price_usd_per_tonne = {carbon_price_usd_per_tonne!r}: allowed: finite and >= 0")

    j_per_token = joules_per_token(spec.batch_size)
    kwh_per_token = j_per_token * spec.pue / _J_PER_KWH
    carbon = CARBON_PROFILES[spec.carbon_profile].signal(clock, 0.0, float(horizon_s))
    g_per_kwh = carbon.values_at(times_s)  # raises ValueError naming the span if outside
    tokens = float(tokens_a.sum())
    energy_kwh = tokens * kwh_per_token
    co2_g = float((tokens_a * g_per_kwh).sum()) * kwh_per_token
    gpu_hours = tokens / tokens_per_s(spec.batch_size) / 3600.0
    breakdown = {
        "electricity": energy_kwh * spec.usd_per_kwh,
        "carbon": co2_g / _G_PER_TONNE * carbon_price_usd_per_tonne,
        "hardware": gpu_hours * spec.hardware_usd_per_gpu_hour,
    }
    out = _figures(tokens, energy_kwh, co2_g, breakdown)
    out.update(
        gpu_hours=gpu_hours,
        batch_size=spec.batch_size,
        j_per_token=j_per_token,
        tokens_per_s=tokens_per_s(spec.batch_size),
        pue=spec.pue,
        carbon_profile=spec.carbon_profile,
        usd_per_kwh=spec.usd_per_kwh,
        hardware_usd_per_gpu_hour=spec.hardware_usd_per_gpu_hour,
        carbon_price_usd_per_tonne=carbon_price_usd_per_tonne,
    )
    return out


def fleet_per_million_tokens(
    inference_kwh: float,
    inference_co2_g: float,
    electricity_usd: float,
    carbon_usd: float,
    payouts_usd: float,
    tokens: float,
) -> dict[str, Any]:
    """The fleet's inference energy (kWh), CO2 (g) and cost ($) in total and per million tokens.

    Cost breakdown keys: electricity, carbon (carbon price), owner_payouts. Per-million figures
    are None for no tokens.
    """
    if not (math.isfinite(tokens) and tokens >= 0):
        raise ValueError(f"tokens = {tokens!r}: allowed: finite and >= 0")
    breakdown = {"electricity": float(electricity_usd), "carbon": float(carbon_usd),
                 "owner_payouts": float(payouts_usd)}
    return _figures(float(tokens), float(inference_kwh), float(inference_co2_g), breakdown)


def _ratio(num: float | None, den: float | None) -> float | None:
    if num is None or den is None or den == 0:
        return None
    return num / den


def compare(fleet: dict[str, Any], datacenter: dict[str, Any]) -> dict[str, Any]:
    """Fleet vs data center per million tokens; a ratio is None where the data center's figure is 0 or None."""
    return {
        "tokens_generated": fleet["tokens"],
        "fleet": fleet,
        "datacenter": datacenter,
        "ratio_fleet_to_datacenter": {
            "kwh": _ratio(fleet["kwh_per_million_tokens"], datacenter["kwh_per_million_tokens"]),
            "co2": _ratio(fleet["g_co2_per_million_tokens"], datacenter["g_co2_per_million_tokens"]),
            "usd": _ratio(fleet["usd_per_million_tokens"], datacenter["usd_per_million_tokens"]),
        },
    }
