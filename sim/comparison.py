"""The data-center baseline for the fleet's workload, and the comparison per million tokens.

The baseline serves every output token the fleet generated on GPUs of the ``h100_sxm`` preset
running a :mod:`fleet.llm` preset (default Llama-3.1-8B bf16) kept full at a fixed batch (fewer if
the KV cache does not hold that many): the steady state of the cars' own serving model
(:func:`fleet.roofline.saturated`) for the run's mean request. Its GPU energy per output token is
scaled by the facility's PUE; each token's energy is carbon-counted at the hour it was served with
the data center's own region's hourly profile. The ML.ENERGY measurements the roofline is
calibrated to (reference/facts.md §6) are a test's cross-check, not an input. Analysis only: pure
functions of a finished run's totals.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from fleet import roofline
from fleet.chip import CHIP_PRESETS
from fleet.llm import MODEL_PRESETS
from fleet.serving import fit_error
from grid.profiles import CARBON_PROFILES
from grid.training_carbon import STRUBELL_PUE
from sim.core.clock import Clock
from sim.core.params import param

_J_PER_KWH = 3.6e6
_G_PER_TONNE = 1e6
_PER_MILLION = 1e6

#: the comparison data center's GPU, a fleet.chip preset: H100 SXM, the hardware of the ML.ENERGY
#: measurements the roofline is calibrated to (facts.md §6b)
BASELINE_CHIP = "h100_sxm"


@dataclass(frozen=True)
class DataCenterBaseline:
    """Static configuration of the data center that serves the same tokens as the fleet."""

    # 64: the middle ML.ENERGY point; ~80 tok/s per stream at the ML.ENERGY request, fast enough for
    # interactive chat, where ~512 gives ~20 and 8 wastes the GPU. ASSUMPTION: the operator runs a
    # throughput-oriented but interactive batch.
    batch_size: int = param(64, doc="batch of the comparison data center's GPUs (fewer if the KV cache of the "
                            "run's mean request does not fit); ASSUMPTION: 64", lo=1, hi=4096)
    # Llama-3.1-8B bf16: the model of the ML.ENERGY measurements behind the calibration (facts.md §6).
    model: str = param("llama-3.1-8b-bf16", doc="the model its GPUs (H100 SXM) serve, a fleet.llm preset; "
                       "Llama-3.1-8B bf16 (ML.ENERGY, facts.md §6)", choices=tuple(sorted(MODEL_PRESETS)))
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
        if self.model not in MODEL_PRESETS:
            raise ValueError(f"model = {self.model!r}: allowed: {', '.join(sorted(MODEL_PRESETS))}")
        err = fit_error(CHIP_PRESETS[BASELINE_CHIP], MODEL_PRESETS[self.model])
        if err is not None:
            raise ValueError(f"model = {self.model!r} does not fit {BASELINE_CHIP}: {err}")


def operating_point(spec: DataCenterBaseline, prompt_tokens: float, output_tokens: float,
                    output_tokens_held: float) -> dict[str, float]:
    """One baseline GPU kept full for requests of ``prompt_tokens`` and ``output_tokens`` (means;
    ``output_tokens_held``: the length-biased mean output of the sequences in a batch,
    ``E[n**2] / E[n]``).

    The batch is ``spec.batch_size``, or as many sequences as the KV cache holds if fewer (each
    holds its prompt plus half its output, as in :class:`fleet.batching.BatchServer`), at least 1.
    Returns ``batch`` (sequences) and :func:`fleet.roofline.saturated`'s ``tokens_per_s``,
    ``power_w`` (GPU only), ``j_per_token`` (GPU J per output token), ``tpot_s`` and ``prefill_s``.
    """
    for name, v in (("prompt_tokens", prompt_tokens), ("output_tokens", output_tokens),
                    ("output_tokens_held", output_tokens_held)):
        if not (math.isfinite(v) and v > 0):
            raise ValueError(f"{name} = {v!r}: allowed: finite and > 0")
    chip, model = CHIP_PRESETS[BASELINE_CHIP], MODEL_PRESETS[spec.model]
    per_seq = prompt_tokens + output_tokens_held / 2.0
    batch = max(1, min(spec.batch_size, int(roofline.kv_capacity_tokens(chip, model) // per_seq)))
    return {"batch": batch, **roofline.saturated(chip, model, batch, prompt_tokens, output_tokens,
                                                  output_tokens_held)}


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
    prompt_tokens: float | None,
    output_tokens: float | None,
    output_tokens_held: float | None = None,
) -> dict[str, Any]:
    """Energy (kWh), CO2 (g) and cost ($) of serving the given output tokens in the data center.

    ``tokens_by_time`` is ``(times_s, output_tokens)``: simulation seconds in ``[0, horizon_s]``
    at which tokens were served, and how many. ``prompt_tokens`` and ``output_tokens`` are the
    mean request of the jobs behind them, ``output_tokens_held`` its length-biased mean output
    (default: ``output_tokens``, every request alike); the GPU's operating point is
    :func:`operating_point` for that request (None for both: no request, so no tokens either, and
    the GPU figures are None). Energy = tokens x GPU J/token x PUE / 3.6e6; each token's energy is
    multiplied by the region's carbon intensity (g/kWh) at its local hour. Cost = energy x
    ``usd_per_kwh`` + CO2 (t) x ``carbon_price_usd_per_tonne`` + GPU-hours x
    ``hardware_usd_per_gpu_hour``, with GPU-hours = tokens / GPU tokens/s / 3600 (GPUs kept full:
    a lower bound). Per-million figures are None for no tokens.
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
    tokens = float(tokens_a.sum())
    if prompt_tokens is None or output_tokens is None:
        if tokens > 0:
            raise ValueError(f"{tokens:g} tokens served but no mean request given: pass prompt_tokens and "
                             "output_tokens")
        point = dict.fromkeys(("batch", "tokens_per_s", "power_w", "j_per_token", "tpot_s"))
        held = None
        kwh_per_token = 0.0
        gpu_hours = 0.0
    else:
        held = output_tokens if output_tokens_held is None else output_tokens_held
        point = operating_point(spec, prompt_tokens, output_tokens, held)
        kwh_per_token = point["j_per_token"] * spec.pue / _J_PER_KWH
        gpu_hours = tokens / point["tokens_per_s"] / 3600.0
    carbon = CARBON_PROFILES[spec.carbon_profile].signal(clock, 0.0, float(horizon_s))
    g_per_kwh = carbon.values_at(times_s)  # raises ValueError naming the span if outside
    energy_kwh = tokens * kwh_per_token
    co2_g = float((tokens_a * g_per_kwh).sum()) * kwh_per_token
    breakdown = {
        "electricity": energy_kwh * spec.usd_per_kwh,
        "carbon": co2_g / _G_PER_TONNE * carbon_price_usd_per_tonne,
        "hardware": gpu_hours * spec.hardware_usd_per_gpu_hour,
    }
    out = _figures(tokens, energy_kwh, co2_g, breakdown)
    out.update(
        gpu_hours=gpu_hours,
        chip=BASELINE_CHIP,
        model=spec.model,
        batch_size=spec.batch_size,
        batch=point["batch"],
        mean_prompt_tokens=prompt_tokens,
        mean_output_tokens=output_tokens,
        output_tokens_held=held,
        j_per_token=point["j_per_token"],
        power_w=point["power_w"],
        tokens_per_s=point["tokens_per_s"],
        tpot_s=point["tpot_s"],
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
