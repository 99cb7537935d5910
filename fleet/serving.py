"""What a chip can serve: the memory check and the fixed-slot figures derived from the roofline."""
from __future__ import annotations

import dataclasses

from fleet import roofline
from fleet.chip import ChipSpec
from fleet.llm import ModelSpec

_GB = 1e9


def fit_error(chip: ChipSpec, model: ModelSpec, beside: tuple[ModelSpec, ...] = ()) -> str | None:
    """None if the weights of ``model`` (and of the models ``beside`` it) plus the KV cache of one
    request of ``model.context_tokens`` tokens (the largest of them) fit the chip's serving memory;
    else what is needed and what there is (one line)."""
    weights = model.weight_bytes + sum(m.weight_bytes for m in beside)
    largest = max((model,) + tuple(beside), key=lambda m: m.context_tokens * m.kv_bytes_per_token)
    kv = largest.context_tokens * largest.kv_bytes_per_token
    have = chip.memory_gb * _GB * chip.memory_share
    if weights + kv <= have:
        return None
    return (f"needs {(weights + kv) / _GB:,.2f} GB (weights {weights / _GB:,.2f} GB + KV cache of one "
            f"{largest.context_tokens:,}-token request {kv / _GB:,.2f} GB), has {have / _GB:,.2f} GB "
            f"({chip.memory_gb:g} GB x {chip.memory_share:g})")


def memory_batch(chip: ChipSpec, model: ModelSpec) -> int:
    """The largest batch of full-context requests the chip holds (at least 1, at most max_batch)."""
    return max(1, min(chip.max_batch, int(roofline.kv_capacity_tokens(chip, model) // model.context_tokens)))


def slot_chip(chip: ChipSpec, model: ModelSpec) -> ChipSpec:
    """``chip`` with its slot figures filled in from the roofline where the preset gives none:
    as many slots as full-context requests fit (:func:`memory_batch`), each decoding at the rate of
    a step of that batch holding half its context, and prefilling at the rate of a
    ``context_tokens / 2`` prompt."""
    slots = chip.slots if chip.slots is not None else memory_batch(chip, model)
    half = model.context_tokens / 2.0
    changes = {"slots": slots}
    if chip.decode_tokens_per_s is None:
        t, _ = roofline.decode_step(chip, model, slots, slots * half)
        changes["decode_tokens_per_s"] = 1.0 / t
    if chip.prefill_tokens_per_s is None:
        t, _ = roofline.prefill(chip, model, half)
        changes["prefill_tokens_per_s"] = half / t
    return dataclasses.replace(chip, **changes)
