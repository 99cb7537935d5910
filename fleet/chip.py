"""On-board inference chips: hardware, calibration and the fixed-slot simplification.

A chip is described by its hardware (memory, memory bandwidth, dense peak compute at the serving
precision, idle and maximum power, largest batch) and served in one of two modes
(``fleet.chip.serving``):

- ``batched``: continuous batching whose step times and power follow the roofline of
  :mod:`fleet.roofline` for the model it serves (:mod:`fleet.llm`);
- ``slots``: ``slots`` concurrent request slots, each prefilling at ``prefill_tokens_per_s`` and
  decoding at ``decode_tokens_per_s``, with power linear in slot occupancy,
  ``idle_w + (active_w - idle_w) * busy_slots / slots``. A preset without slot figures takes them
  from the batched model at its batch limit (:func:`fleet.serving.slot_chip`).

Every number names its source; where none is published it says ASSUMPTION: sweep it.
"""
from __future__ import annotations

from dataclasses import dataclass

from sim.core.params import SHARE, TOKEN_RATE, param

#: serving modes (``fleet.chip.serving``)
BATCHED, SLOTS = "batched", "slots"

# Calibration of the roofline (fleet.roofline), fitted by bench/calibrate_serving.py to the
# ML.ENERGY leaderboard's Llama-3.1-8B-Instruct bf16 on one H100 SXM (vLLM, lm-arena-chat; facts.md
# §6b; ml-energy/leaderboard@0cd52da) at max batch 8, 64 and 512: output tokens/s, GPU power and
# median inter-token latency, with 200-token prompts (ASSUMPTION: the prompt lengths are not
# published with the measurements). The other presets use the same constants: no car chip has
# published serving measurements (facts.md §6 "Tesla HW4/AI5 LLM throughput: no public data").
# Fit (bench/BENCHMARKS.md, "Serving calibration"): within 15 % of every measured point from batch 8
# to 768 in tokens/s, power, inter-token latency and J/token.
BANDWIDTH_EFFICIENCY = 0.698
COMPUTE_EFFICIENCY = 0.377
OVERLAP = 1.177
POWER_EXPONENT = 0.1374


#: The measured points behind the calibration and its check: max batch -> (output tokens/s, average
#: GPU W, J per output token, median inter-token latency s), Llama-3.1-8B-Instruct bf16 on one H100
#: SXM, vLLM, lm-arena-chat (ml-energy/leaderboard@0cd52da, public/data/models/
#: meta-llama__Llama-3.1-8B-Instruct__lm-arena-chat.json; facts.md §6b)
H100_LLAMA_3_1_8B_BF16 = {
    8: (1070.0, 486.0, 0.4548, 7.32e-3), 16: (1954.0, 513.0, 0.2627, 7.91e-3),
    32: (3391.0, 560.0, 0.1651, 8.91e-3), 64: (5147.0, 610.0, 0.1186, 11.50e-3),
    96: (6260.0, 644.0, 0.1029, 14.08e-3), 128: (7037.0, 669.0, 0.0951, 16.48e-3),
    192: (8223.0, 688.0, 0.0837, 20.91e-3), 256: (9010.0, 691.0, 0.0766, 26.13e-3),
    384: (9248.0, 687.0, 0.0742, 37.70e-3), 512: (9806.0, 688.0, 0.0702, 47.41e-3),
    768: (9603.0, 685.0, 0.0713, 62.93e-3),
}


@dataclass(frozen=True)
class ChipSpec:
    """Static parameters of an inference chip (see the module docstring)."""

    name: str
    idle_w: float = param(doc="chip power awake and idle, W (default: preset)", lo=0.0, hi=1e5)
    active_w: float = param(doc="chip power at full load, W (default: preset)", lo=0.0, hi=1e5)
    memory_gb: float = param(doc="memory, GB (default: preset)", lo=0.01, hi=1e5)
    bandwidth_gb_per_s: float = param(doc="memory bandwidth, GB/s (default: preset)", lo=0.01, hi=1e6)
    peak_tflops: float = param(doc="dense peak compute at the serving precision, TFLOPS (default: preset)",
                               lo=1e-3, hi=1e6)
    max_batch: int = param(doc="largest batch the server runs, sequences (default: preset)", lo=1, hi=65_536)
    slots: int | None = param(None, doc="concurrent request slots, slots mode (default: preset, or the batched "
                              "model's batch limit)", lo=1, hi=4096)
    prefill_tokens_per_s: float | None = param(None, doc="prefill rate per slot, slots mode (default: preset, or "
                                               "the batched model's)", **TOKEN_RATE, hi=1e9)
    decode_tokens_per_s: float | None = param(None, doc="decode rate per slot, slots mode (default: preset, or "
                                              "the batched model's at the batch limit)", **TOKEN_RATE, hi=1e9)
    memory_share: float = param(0.9, doc="share of memory for weights and KV cache; 0.9 = vLLM's default "
                                "gpu_memory_utilization (ASSUMPTION for car chips)", **SHARE, lo_open=True)
    bandwidth_efficiency: float = param(BANDWIDTH_EFFICIENCY, doc="achieved share of the memory bandwidth; fitted "
                                        "to ML.ENERGY H100 points (fleet/chip.py)", **SHARE, lo_open=True)
    compute_efficiency: float = param(COMPUTE_EFFICIENCY, doc="achieved share of the peak compute; fitted to "
                                      "ML.ENERGY H100 points (fleet/chip.py)", **SHARE, lo_open=True)
    overlap: float = param(OVERLAP, doc="how well memory and compute overlap in a step (1: not at all; large: "
                           "fully); fitted to ML.ENERGY H100 points", lo=1.0, hi=100.0)
    power_exponent: float = param(POWER_EXPONENT, doc="power = idle + (max - idle) * compute_share ** this; fitted "
                                  "to ML.ENERGY H100 points", lo=0.01, hi=10.0)
    source: str = ""

    def service_s(self, prompt_tokens: float, output_tokens: float) -> float:
        """Time (s) one slot needs to prefill ``prompt_tokens`` and decode ``output_tokens`` (slots mode)."""
        return prompt_tokens / self.prefill_tokens_per_s + output_tokens / self.decode_tokens_per_s


CHIP_PRESETS: dict[str, ChipSpec] = {
    # HW3 (facts.md §1): 72 W board power (Autonomy Day 2019) [M]; 144 TOPS INT8 (2 SoCs x 2 NPUs x
    # 36 TOPS) [M-H]; 8 GB LPDDR4 at 68 GB/s [M]. Idle: ASSUMPTION, half the board power. Largest
    # batch: ASSUMPTION.
    "hw3": ChipSpec(name="hw3", idle_w=36.0, active_w=72.0, memory_gb=8.0, bandwidth_gb_per_s=68.0,
                    peak_tflops=144.0, max_batch=16,
                    source="facts.md §1: HW3 power, TOPS, memory [M]; idle and batch ASSUMPTION"),
    # HW4 / AI4 (facts.md §1): 16 GB RAM [L]; power ~2x HW3, ~100-160 W active, idle up to ~80 W [L];
    # 300-500 TOPS teardown estimate [L] -> 400. Bandwidth NOT PUBLISHED (teardowns name GDDR6):
    # ASSUMPTION 224 GB/s (128-bit GDDR6 at 14 Gbit/s); sweep it. Largest batch: ASSUMPTION.
    # Slots mode keeps the figures the project used before the batched model: 4 slots at 40 tok/s
    # decode (Jetson AGX Orin AWQ 39.1 tok/s as a proxy, facts.md §6) and 1,000 tok/s prefill.
    "hw4": ChipSpec(name="hw4", idle_w=80.0, active_w=160.0, memory_gb=16.0, bandwidth_gb_per_s=224.0,
                    peak_tflops=400.0, max_batch=32, slots=4, prefill_tokens_per_s=1_000.0,
                    decode_tokens_per_s=40.0,
                    source="facts.md §1/§6: HW4 memory, power, TOPS [L]; bandwidth ASSUMPTION"),
    # AI5 as claimed on Tesla's Q3-2025 call (facts.md §1): 8x HW4's compute, ~9x its memory, ~5x its
    # bandwidth [claim]. Power: "250 W" in blogs [L]; idle ASSUMPTION at HW4's idle share (50 %).
    "ai5_claimed": ChipSpec(name="ai5_claimed", idle_w=125.0, active_w=250.0, memory_gb=144.0,
                            bandwidth_gb_per_s=1_120.0, peak_tflops=3_200.0, max_batch=256,
                            source="facts.md §1: AI5 vs AI4 8x compute, 9x memory, 5x bandwidth [claim]; "
                            "250 W [L]"),
    # Jetson AGX Orin 64GB datasheet (facts.md §6b): 64 GB LPDDR5, 204.8 GB/s, 275 TOPS INT8 sparse,
    # module 15-60 W [H]. Serving precision FP16 (4-bit weights, 16-bit activations): 275 / 2 (dense)
    # / 2 (FP16) = 69 TFLOPS (derived, an upper bound). Largest batch: ASSUMPTION.
    "jetson_agx_orin_64gb": ChipSpec(name="jetson_agx_orin_64gb", idle_w=15.0, active_w=60.0, memory_gb=64.0,
                                     bandwidth_gb_per_s=204.8, peak_tflops=68.75, max_batch=64,
                                     source="facts.md §6b: Jetson AGX Orin datasheet [H]; FP16 derived"),
    # H100 SXM5 datasheet (facts.md §6b): 80 GB HBM3, 3.35 TB/s, 989 TFLOPS dense BF16, 700 W [H].
    # Idle: ASSUMPTION 80 W (an H200, the same Hopper board, idles at 80.3 W: api.serialalice.pt
    # benchmark [L]). Largest batch 1,024 (vLLM's max_num_seqs is a setting; ML.ENERGY ran up to 768).
    "h100_sxm": ChipSpec(name="h100_sxm", idle_w=80.0, active_w=700.0, memory_gb=80.0, bandwidth_gb_per_s=3_350.0,
                         peak_tflops=989.0, max_batch=1_024,
                         source="facts.md §6b: H100 SXM5 datasheet [H]; idle [L]"),
    # Hypothetical "1 kW of inference per car" future chip (Musk, Q3-2025 call; facts.md §1): the AI5
    # claims' hardware at 1 kW, idle at 25 % of it (ASSUMPTION). Slots mode keeps the figures used
    # before the batched model: 32 slots (~9x memory), 200 tok/s decode (~5x bandwidth), 8,000
    # tok/s prefill (8x compute).
    "future_1kw": ChipSpec(name="future_1kw", idle_w=250.0, active_w=1_000.0, memory_gb=144.0,
                           bandwidth_gb_per_s=1_120.0, peak_tflops=3_200.0, max_batch=256, slots=32,
                           prefill_tokens_per_s=8_000.0, decode_tokens_per_s=200.0,
                           source="facts.md §1: Musk 1 kW claim; AI5 vs AI4 8x/5x/9x (TSLA Q3-2025 call) [claim]"),
}
