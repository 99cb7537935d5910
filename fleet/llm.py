"""Language models a chip serves: size, weight precision, depth and KV-cache footprint.

The numbers come from the models' published configurations (reference/facts.md §6b: Hugging
Face ``config.json``): parameters, layers, KV heads and head size. The KV cache per token is
``2 (K and V) x layers x kv_heads x head_dim x 2 B`` at 16 bits, kept at 16 bits for the 4-bit
models too (weight-only quantisation, as AWQ and GPTQ serve them).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sim.core.params import param

#: bytes per parameter: bf16; int8; 4 bit with group-128 scales (≈ 4.5 bits, facts.md §6b: AWQ/GPTQ)
BF16_BYTES, INT8_BYTES, Q4_BYTES = 2.0, 1.0, 0.5625


@dataclass(frozen=True)
class ModelSpec:
    """A served language model. Sizes in parameters and bytes."""

    name: str
    params_b: float = param(doc="parameters, billions (default: preset)", lo=0.01, hi=1e4)
    bytes_per_param: float = param(doc="bytes per weight: 2 (bf16), 1 (int8), 0.5625 (4 bit with group scales); "
                                   "default: preset", lo=0.1, hi=4.0)
    layers: int = param(doc="transformer layers (default: preset)", lo=1, hi=1000)
    kv_bytes_per_token: float = param(doc="KV-cache bytes per token held (default: preset)", lo=1.0, hi=1e8)
    # vLLM's max_model_len analogue: the longest request (prompt + output) a server accepts and the
    # KV cache it must keep free to admit any request. ASSUMPTION: 32,768 tokens, enough for the
    # built-in batch unit (4,000 + 20,000); Llama 3.x allow 131,072, servers cap it to fit memory.
    context_tokens: int = param(32_768, doc="longest request served (prompt + output), tokens; ASSUMPTION 32,768 "
                                "(the models allow 131,072)", lo=16, hi=1_048_576)
    source: str = ""
    #: the hash of the fields above, computed once: servers key their per-model books by the model
    #: several times per event
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.name, self.params_b, self.bytes_per_param, self.layers,
                                                self.kv_bytes_per_token, self.context_tokens, self.source)))

    def __hash__(self) -> int:
        return self._hash

    @property
    def weight_bytes(self) -> float:
        """Bytes of the weights (B)."""
        return self.params_b * 1e9 * self.bytes_per_param

    @property
    def flops_per_token(self) -> float:
        """Floating-point operations per token through the network (2 per parameter)."""
        return 2.0 * self.params_b * 1e9


def _kv16(layers: int, kv_heads: int, head_dim: int) -> float:
    """KV-cache bytes per token at 16 bits."""
    return 2.0 * layers * kv_heads * head_dim * 2.0


_SRC = "facts.md §6b: Hugging Face config.json"
MODEL_PRESETS: dict[str, ModelSpec] = {
    "llama-3.2-1b-q4": ModelSpec("llama-3.2-1b-q4", 1.24, Q4_BYTES, 16, _kv16(16, 8, 64), source=_SRC),
    "llama-3.2-3b-q4": ModelSpec("llama-3.2-3b-q4", 3.21, Q4_BYTES, 28, _kv16(28, 8, 128), source=_SRC),
    "llama-2-7b-q4": ModelSpec("llama-2-7b-q4", 6.74, Q4_BYTES, 32, _kv16(32, 32, 128), source=_SRC),
    "llama-3.1-8b-q4": ModelSpec("llama-3.1-8b-q4", 8.03, Q4_BYTES, 32, _kv16(32, 8, 128), source=_SRC),
    "llama-3.1-8b-bf16": ModelSpec("llama-3.1-8b-bf16", 8.03, BF16_BYTES, 32, _kv16(32, 8, 128), source=_SRC),
    "llama-3.1-70b-q4": ModelSpec("llama-3.1-70b-q4", 70.6, Q4_BYTES, 80, _kv16(80, 8, 128), source=_SRC),
}
