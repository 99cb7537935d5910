"""The roofline of one serving step: how long a chip takes and what it draws.

A decode step reads the weights and the KV cache of the sequences it advances, and does two
floating-point operations per parameter per sequence; a prefill step does the same work for
every prompt token at once. The step takes the larger of its memory time and its compute time,
joined smoothly: ``(T_mem**p + T_comp**p) ** (1/p)``, where ``p`` (``overlap``) says how well the
chip overlaps the two (``p`` → ∞: the plain maximum). Memory and compute run at a calibrated
share of their datasheet peaks.

Power follows the load between the chip's idle and maximum power: ``idle + (max - idle) * u**g``,
with ``u = T_comp / T_step`` the share of the step spent computing and ``g`` the
``power_exponent``. The calibration constants and the points they were fitted to are in
:mod:`fleet.chip` (bench/calibrate_serving.py refits them).
"""
from __future__ import annotations

from fleet.chip import ChipSpec
from fleet.llm import ModelSpec


def memory_s(chip: ChipSpec, model: ModelSpec, kv_tokens: float) -> float:
    """Time (s) to read the weights and ``kv_tokens`` tokens of KV cache at the achieved bandwidth."""
    return (model.weight_bytes + kv_tokens * model.kv_bytes_per_token) / (
        chip.bandwidth_gb_per_s * 1e9 * chip.bandwidth_efficiency)


def compute_s(chip: ChipSpec, model: ModelSpec, tokens: float) -> float:
    """Time (s) to push ``tokens`` tokens through the network at the achieved compute rate."""
    return model.flops_per_token * tokens / (chip.peak_tflops * 1e12 * chip.compute_efficiency)


def joined_s(chip: ChipSpec, mem_s: float, comp_s: float) -> float:
    """A step's time (s) from its memory and compute times (the smooth maximum)."""
    p = chip.overlap
    big = max(mem_s, comp_s)
    if big <= 0.0:
        return 0.0
    return big * ((mem_s / big) ** p + (comp_s / big) ** p) ** (1.0 / p)


def decode_step(chip: ChipSpec, model: ModelSpec, seqs: int, kv_tokens: float) -> tuple[float, float]:
    """(time s, chip power W) of one decode step advancing ``seqs`` sequences that hold
    ``kv_tokens`` tokens of KV cache."""
    mem = memory_s(chip, model, kv_tokens)
    comp = compute_s(chip, model, seqs)
    t = joined_s(chip, mem, comp)
    return t, power_w(chip, comp / t)


def prefill(chip: ChipSpec, model: ModelSpec, prompt_tokens: float) -> tuple[float, float]:
    """(time s, chip power W) of the prefill of ``prompt_tokens`` tokens (one step)."""
    mem = memory_s(chip, model, prompt_tokens)
    comp = compute_s(chip, model, prompt_tokens)
    t = joined_s(chip, mem, comp)
    return t, power_w(chip, comp / t)


def power_w(chip: ChipSpec, compute_share: float) -> float:
    """Chip power (W) while it spends ``compute_share`` of its time computing."""
    return chip.idle_w + (chip.active_w - chip.idle_w) * compute_share ** chip.power_exponent


def kv_capacity_tokens(chip: ChipSpec, model: ModelSpec) -> float:
    """Tokens of KV cache the chip's serving memory holds beside the weights (may be < 0)."""
    free = chip.memory_gb * 1e9 * chip.memory_share - model.weight_bytes
    return free / model.kv_bytes_per_token


def saturated(chip: ChipSpec, model: ModelSpec, batch: int, prompt_tokens: float,
              output_tokens: float, output_tokens_held: float) -> dict[str, float]:
    """Steady state of a chip kept full at ``batch`` sequences (every finished sequence is
    replaced at once), in the prefill-first schedule of :class:`fleet.batching.BatchServer`.

    ``output_tokens`` is the mean output per request, ``output_tokens_held`` the mean output of
    the sequences present in the batch (length-biased: ``E[n**2] / E[n]``). Each sequence holds
    its prompt plus half its output in KV cache. Returns output tokens/s, mean power (W), J per
    output token, the decode step (s, the time per output token) and the prefill time (s).
    """
    kv = batch * (prompt_tokens + output_tokens_held / 2.0)
    t_dec, p_dec = decode_step(chip, model, batch, kv)
    t_pre, p_pre = prefill(chip, model, prompt_tokens)
    # per output token of one sequence: one decode step shared by the batch, and 1/output_tokens of
    # a prefill for each of the batch's sequences
    per_step_s = t_dec + batch * t_pre / output_tokens
    tokens_per_s = batch / per_step_s
    mean_w = (t_dec * p_dec + batch * t_pre / output_tokens * p_pre) / per_step_s
    return {"tokens_per_s": tokens_per_s, "power_w": mean_w, "j_per_token": mean_w / tokens_per_s,
            "tpot_s": t_dec, "prefill_s": t_pre}
