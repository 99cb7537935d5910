"""On-board inference chips: concurrency slots, token rates and power.

A chip has ``slots`` concurrent request slots; each slot prefills at ``prefill_tokens_per_s`` and
decodes at ``decode_tokens_per_s`` (per-slot rates). Chip power is linear in slot occupancy:
``idle_w + (active_w - idle_w) * busy_slots / slots``.
"""
from __future__ import annotations

from dataclasses import dataclass

from sim.core.params import TOKEN_RATE, param


@dataclass(frozen=True)
class ChipSpec:
    """Static parameters of an inference chip."""

    name: str
    slots: int = param(doc="concurrent request slots (default: preset)", lo=1, hi=4096)
    prefill_tokens_per_s: float = param(doc="prefill rate per slot (default: preset)", **TOKEN_RATE, hi=1e9)
    decode_tokens_per_s: float = param(doc="decode rate per slot (default: preset)", **TOKEN_RATE, hi=1e9)
    idle_w: float = param(doc="chip power awake and idle, W (default: preset)", lo=0.0, hi=1e5)
    active_w: float = param(doc="chip power with all slots busy, W (default: preset)", lo=0.0, hi=1e5)
    source: str = ""

    def service_s(self, prompt_tokens: float, output_tokens: float) -> float:
        """Time (s) one slot needs to prefill ``prompt_tokens`` and decode ``output_tokens``."""
        return prompt_tokens / self.prefill_tokens_per_s + output_tokens / self.decode_tokens_per_s


CHIP_PRESETS: dict[str, ChipSpec] = {
    # HW4 / AI4: no official LLM figures exist (facts.md §1, §6 "Gaps": sweep it).
    # Power: ~100-160 W active, idle up to ~80 W (facts.md §1: r/TeslaFSD; 42how) [L].
    # Decode: Jetson AGX Orin (275 TOPS, comparable to the 300-500 TOPS HW4 teardown estimate)
    # runs Llama-2-7B 4-bit at 39.1 tok/s batch 1 (AWQ, MLSys 2024; facts.md §6) -> 40 tok/s/slot.
    # Slots: 16 GB RAM holds a ~4 GB 4-bit 7B model plus KV caches for 4 requests (derived).
    # Prefill: compute-bound, ~25x decode at batch 1 (derived assumption) -> 1,000 tok/s.
    "hw4": ChipSpec(
        name="hw4",
        slots=4,
        prefill_tokens_per_s=1_000.0,
        decode_tokens_per_s=40.0,
        idle_w=80.0,
        active_w=160.0,
        source="facts.md §1/§6: HW4 power [L]; Jetson AGX Orin AWQ decode rate as proxy [M-L]",
    ),
    # Hypothetical "1 kW of inference per car" future chip (Musk, Q3-2025 call; facts.md §1),
    # scaled from hw4 by the AI5-vs-AI4 claims: 8x compute (prefill), ~5x bandwidth (decode per
    # slot), ~9x memory (slots 4 -> 32). Idle at 25 % of active is an assumption.
    "future_1kw": ChipSpec(
        name="future_1kw",
        slots=32,
        prefill_tokens_per_s=8_000.0,
        decode_tokens_per_s=200.0,
        idle_w=250.0,
        active_w=1_000.0,
        source="facts.md §1: Musk 1 kW claim; AI5 vs AI4 8x/5x/9x (TSLA Q3-2025 call) [claim]",
    ),
}
