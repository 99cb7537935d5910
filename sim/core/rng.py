"""Named random streams derived from one seed.

Each component asks for its own ``numpy.random.Generator`` by a stable name, so adding a new
stream never shifts the numbers another component draws (Mesa-style: the model owns its
generators, all derived from one seed).
"""
from __future__ import annotations

import zlib

import numpy as np


class RandomStreams:
    """Factory of independent, reproducible generators keyed by name."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def get(self, name: str, *index: int) -> np.random.Generator:
        """Generator for stream ``name`` (optionally further split by integer ``index``)."""
        key = zlib.crc32(name.encode("utf-8"))
        seq = np.random.SeedSequence(entropy=self.seed, spawn_key=(key, *index))
        return np.random.Generator(np.random.PCG64(seq))
