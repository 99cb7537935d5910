"""Scenario overrides that turn the fleet into an M/M/c queue (shared by the queueing tests)."""
from __future__ import annotations


def mmc_overrides(vehicles: int, lam: float, days: float, seed: int, policy: str = "least_loaded",
                  slots: int = 1, max_wait_s: float = 1e9, mean_service_s: float = 1.0,
                  sample_interval_s: float | None = None) -> dict:
    """Every car at home, plugged and online; exponential service; interactive Poisson jobs only.

    ``vehicles * slots`` identical servers, arrival rate ``lam`` per second, FIFO central queue.
    """
    over = {
        "fleet.vehicles": vehicles,
        "fleet.mobility": False, "fleet.network.enabled": False,
        "fleet.opt_in_share": 1.0,
        "fleet.chip.slots": slots,
        "workload.service": "exponential",
        "workload.mean_service_s": mean_service_s,
        "workload.interactive.rate_per_s": lam,
        "workload.interactive.diurnal": "flat",
        "workload.batch.rate_per_s": 0.0,
        "workload.interactive.max_wait_s": max_wait_s,
        "workload.interactive.slo_s": 1e9,
        "run.days": days,
        "run.seed": seed,
        "dispatch.policy": policy,
        "report.figures": False,
    }
    if sample_interval_s is not None:
        over["run.sample_interval_s"] = sample_interval_s
    return over
