"""Batched serving: job metering at the charge limit against the per-change path, to rounding.

A batched car plugged in at its charge limit, whose charger covers the awake car and the chip at
full power, is job-metered (``Vehicle.JOB_METERING``): its chip's active power goes to one folded
recorder level, and its grid meter and energy accounts get that power's exact integrals when the
car leaves the mode or the run ends, instead of a settle and a meter update at every change of the
chip's load. The reference is the per-change path (``JOB_METERING = False``). Both must give the
same per-car accounts, per-job bills and times, and time series, whether the cars sit at their
limit, serve from their batteries, have a charger too weak for the chip (never job-metered), or
come and go with jobs running.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fleet.vehicle import Vehicle
from sim.runner import Simulation
from sim.scenario import default_scenario

STILL = {"fleet.mobility": False, "fleet.network.enabled": False, "fleet.opt_in_share": 1.0,
         "fleet.initial_soc_min": 0.9, "fleet.initial_soc_max": 0.9, "workload.interactive.diurnal": "flat"}
CASES = {
    # always available, plugged in at the charge limit: the job-metered path throughout
    "plugged_at_limit": {**STILL, "run.days": 0.002, "fleet.vehicles": 60, "fleet.home_charger_share": 1.0,
                         "workload.interactive.rate_per_s": 60.0, "workload.batch.rate_per_s": 5.0},
    # unplugged, on battery: never job-metered
    "battery": {**STILL, "run.days": 0.002, "fleet.vehicles": 60, "fleet.home_charger_share": 0.0,
                "workload.interactive.rate_per_s": 60.0, "workload.batch.rate_per_s": 5.0},
    # an H100 on an L1 charger: the charger does not cover the chip at full power, so never job-metered
    "weak_charger": {**STILL, "run.days": 0.002, "fleet.vehicles": 20, "fleet.home_charger_share": 1.0,
                     "fleet.charger.preset": "l1", "fleet.chip.preset": "h100_sxm",
                     "fleet.model.preset": "llama-3.1-8b-bf16",
                     "workload.interactive.rate_per_s": 40.0, "workload.batch.rate_per_s": 5.0},
    # cars drive, plug in, fill up and leave with jobs running (preempted on departure)
    "mobility": {"run.days": 0.4, "run.seed": 5, "fleet.vehicles": 60, "fleet.opt_in_share": 0.8,
                 "fleet.initial_soc_min": 0.6, "fleet.initial_soc_max": 0.9,
                 "workload.interactive.rate_per_s": 0.6, "workload.batch.rate_per_s": 0.2},
}
#: cases whose cars should take the job-metered path (the others must never)
METERED = {"plugged_at_limit", "mobility"}
VEHICLE_COLUMNS = ("grid_wh", "cost_usd", "co2_g", "inference_wh", "losses_wh", "inference_usd",
                   "inference_co2_g")
JOB_COLUMNS = ("energy_wh", "cost_usd", "co2_g", "finish_s", "ttft_s", "tpot_s")


def run(over: dict, metering: bool, monkeypatch) -> tuple:
    """Run ``over`` with batched serving and job metering on or off; count the load changes that
    took the job-metered path."""
    monkeypatch.setattr(Vehicle, "JOB_METERING", metering)
    taken = [0]
    change_slots = Vehicle.change_slots

    def counting(self, job, now, delta):
        if self.server is not None and self.m_level >= 0:
            taken[0] += 1
        change_slots(self, job, now, delta)

    monkeypatch.setattr(Vehicle, "change_slots", counting)
    sim = Simulation(default_scenario().with_overrides({"report.figures": False, "fleet.chip.serving": "batched",
                                                        **over}))
    return sim.run(), taken[0]


def _close(got: pd.Series, ref: pd.Series, what: str) -> None:
    ref = ref.to_numpy(dtype=float)
    got = got.to_numpy(dtype=float)
    scale = np.nanmax(np.abs(ref)) if np.isfinite(ref).any() else 0.0
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9 * max(scale, 1e-9), err_msg=what)


@pytest.mark.parametrize("case", sorted(CASES))
def test_batched_job_metering_matches_per_change_path(case, monkeypatch):
    over = CASES[case]
    ref, ref_taken = run(over, False, monkeypatch)
    got, taken = run(over, True, monkeypatch)
    assert ref_taken == 0
    assert (taken > 1000) if case in METERED else taken == 0
    assert got.summary["jobs"]["completed"] == ref.summary["jobs"]["completed"] > 500
    if case == "mobility":
        assert got.summary["jobs"]["preempted"] > 0
    for col in VEHICLE_COLUMNS:
        _close(got.vehicles[col], ref.vehicles[col], col)
    for col in JOB_COLUMNS:
        _close(got.jobs[col], ref.jobs[col], col)
    for col in ("start_s", "finish_s", "ttft_s", "outcome", "vehicle_id"):
        pd.testing.assert_series_equal(got.jobs[col], ref.jobs[col])
    numeric = ref.timeseries.select_dtypes("number").columns
    assert list(got.timeseries.columns) == list(ref.timeseries.columns)
    for col in numeric:
        _close(got.timeseries[col], ref.timeseries[col], col)
