"""Models on a car's chip: where their weights come from and how long a load takes.

A chip holds the models whose weights fit its serving memory beside the KV cache of its jobs
(:class:`fleet.batching.BatchServer` keeps the books). Every car starts with the fleet's model
(``fleet.model``) resident. A job whose model the chip does not hold makes the car load it: from
its own storage at ``fleet.storage.read_gb_per_s`` if the model is stored there, otherwise
downloaded over the car's current link (home Wi-Fi or cellular) at the link's download rate. To
make room the chip evicts the least recently used models that hold no job.

Stored models: the fleet's model and then the models the workload's classes name, in that order,
while their weights fit ``fleet.storage.models_gb``; a model that does not fit is downloaded at
each load.

ASSUMPTION (no public figure): the chip drives the car, so a car that departs or goes to sleep
loses the models in its chip's memory; it loads again when it next serves. Energy: while loading,
the car is awake with its chip idle and holds the waiting jobs, so its inference bill carries the
load (the storage read or the modem adds no separate power).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from fleet.llm import ModelSpec
from fleet.network import LinkSpec
from sim.core.params import param

#: where a load reads the weights from
FROM_STORAGE, DOWNLOADED = "storage", "download"


@dataclass(frozen=True)
class StorageSpec:
    """The car's storage for model weights (keys ``fleet.storage.*``)."""

    # Car computers' storage is not published. eMMC 5.1 (JEDEC JESD84-B51, HS400) moves at most
    # 400 MB/s, UFS 3.1 about 2 GB/s: ASSUMPTION 0.4 GB/s (the slower interface); sweep it.
    read_gb_per_s: float = param(0.4, doc="read rate of the car's storage when loading a model, GB/s; ASSUMPTION: "
                                 "eMMC 5.1 HS400's 400 MB/s bus limit (car storage is not published)",
                                 lo=1e-4, hi=1e4)
    # ASSUMPTION: 32 GB of a car's storage set aside for model weights (the 4-bit 8B model is 4.5 GB).
    models_gb: float = param(32.0, doc="storage set aside for model weights, GB: the fleet's model, then the "
                             "workload's, are stored while they fit; others are downloaded at each load; "
                             "ASSUMPTION", lo=0.0, hi=1e6)


def stored_models(storage: StorageSpec, models: Iterable[ModelSpec]) -> frozenset[ModelSpec]:
    """The models a car keeps in storage: ``models`` in order (no repeats) while their weights fit."""
    kept: list[ModelSpec] = []
    left_b = storage.models_gb * 1e9
    for model in models:
        if model not in kept and model.weight_bytes <= left_b:
            kept.append(model)
            left_b -= model.weight_bytes
    return frozenset(kept)


def load_s(model: ModelSpec, storage: StorageSpec, stored: bool, link: LinkSpec) -> tuple[float, str]:
    """(seconds, source) to bring ``model``'s weights into the chip's memory: a read from storage
    if ``stored``, else a download over ``link``."""
    if stored:
        return model.weight_bytes / (storage.read_gb_per_s * 1e9), FROM_STORAGE
    return model.weight_bytes * 8.0 / (link.down_mbps * 1e6), DOWNLOADED
