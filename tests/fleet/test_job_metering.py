"""Job metering against per-change metering: the same totals, whatever the mode switches.

A car plugged in at its charge limit meters its busy slots one job run at a time
(``Vehicle.JOB_METERING``): each run's exact price and carbon integrals feed the car's grid meter
and energy accounts when the run is billed, instead of a meter update at every slot change. The
reference is the per-change path (``JOB_METERING = False``), which integrates every power segment
as it ends. Both must give the same per-car grid energy, cost, CO2, inference and loss accounts,
and the same per-job bills, to rounding, on runs where cars enter and leave the mode with jobs
running: smart-charging windows open and close, a charger too weak for the chip, and depot cars
that leave their stall at the charge limit and go on serving from the battery.
"""
from __future__ import annotations

import numpy as np
import pytest

from fleet.vehicle import Vehicle
from sim.runner import Simulation
from sim.scenario import default_scenario

CASES = {
    # Off-peak windows toggle the charge limit hold on and off under running jobs.
    "off_peak_windows": {
        "run.days": 1.5, "run.seed": 11, "fleet.vehicles": 120, "fleet.opt_in_share": 0.6,
        "fleet.initial_soc_min": 0.3, "fleet.initial_soc_max": 0.9, "grid.charging.strategy": "off_peak",
        "workload.interactive.rate_per_s": 1.5, "workload.batch.rate_per_s": 0.5,
    },
    # A 1 kW chip on an L1 charger: 0.825 x 1,400 W = 1,155 W covers the idle chip and awake car
    # (550 W) but not all 32 slots busy (1,300 W), so busy slots push cars off their limit.
    "weak_charger": {
        "run.days": 1.0, "run.seed": 12, "fleet.vehicles": 60, "fleet.opt_in_share": 1.0,
        "fleet.charger.preset": "l1", "fleet.chip.preset": "future_1kw", "fleet.home_charger_share": 1.0,
        "fleet.initial_soc_min": 0.85, "fleet.initial_soc_max": 0.9,
        "workload.interactive.rate_per_s": 12.0, "workload.batch.rate_per_s": 1.0,
    },
    # Robotaxis leave their depot stall at the limit when cars wait, and serve on from the battery.
    "depot_leave": {
        "run.days": 1.0, "run.seed": 13, "fleet.vehicles": 40, "fleet.robotaxi.vehicles": 60,
        "fleet.robotaxi.depot.stalls": 6, "fleet.robotaxi.depot.when_full": "wait",
        "fleet.robotaxi.depot.cap_w": 600_000.0,
        "workload.interactive.rate_per_s": 3.0, "workload.batch.rate_per_s": 0.5,
    },
}
VEHICLE_COLUMNS = ("grid_wh", "cost_usd", "co2_g", "inference_wh", "losses_wh", "inference_usd",
                   "inference_co2_g")
JOB_COLUMNS = ("energy_wh", "cost_usd", "co2_g")
SLOW = {"weak_charger"}  # cases marked slow: ~25 s alone


def run(over: dict, metering: bool, monkeypatch) -> tuple:
    """Run ``over`` with job metering on or off; count mode switches made with jobs running."""
    monkeypatch.setattr(Vehicle, "JOB_METERING", metering)
    switches = [0]
    apply = Vehicle._apply

    def counting_apply(self, now):
        before = self.job_metered
        running = bool(self.jobs)
        apply(self, now)
        if running and self.job_metered != before:
            switches[0] += 1

    monkeypatch.setattr(Vehicle, "_apply", counting_apply)
    # the cases state their starting charge (no warm-up): the paths they exercise depend on it
    sim = Simulation(default_scenario().with_overrides({"report.figures": False, "run.warmup_days": 0.0, **over}))
    res = sim.run()
    return res, switches[0]


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.slow) if c in SLOW else c for c in sorted(CASES)])
def test_job_metering_matches_per_change_metering(case, monkeypatch):
    over = CASES[case]
    ref, ref_switches = run(over, False, monkeypatch)
    got, switches = run(over, True, monkeypatch)
    assert ref_switches == 0  # the reference never meters by job
    assert switches > 0  # cars entered or left the mode with jobs running: the hard path is taken
    assert got.summary["jobs"]["completed"] == ref.summary["jobs"]["completed"] > 1000
    for col in VEHICLE_COLUMNS:
        np.testing.assert_allclose(got.vehicles[col], ref.vehicles[col], rtol=1e-9, atol=1e-9, err_msg=col)
    for col in JOB_COLUMNS:
        np.testing.assert_allclose(got.jobs[col], ref.jobs[col], rtol=1e-9, atol=1e-12, err_msg=col)
    # The recorder's folded level adds up to the same time series as the per-change levels.
    for col in ("utilization", "power_w_inference_active", "grid_w", "power_w_charging_losses", "serving",
                "available"):
        np.testing.assert_allclose(got.timeseries[col], ref.timeseries[col], rtol=1e-9, atol=1e-6, err_msg=col)
    assert abs(got.summary["checks"]["energy_balance_residual_kwh"]) < 1e-9
    assert got.summary["energy_kwh"]["grid_import"] == pytest.approx(ref.summary["energy_kwh"]["grid_import"],
                                                                     rel=1e-12)


def test_recorder_fold_spreads_its_integral_over_the_named_levels():
    """A folded level worth (1 slot, 20 W, 22.2 W) adds exactly those multiples of its integral."""
    from sim.core.recorder import Recorder

    rec = Recorder(("slots", "active_w", "grid_w"), ())
    fold = rec.add_fold(((0, 1.0), (1, 20.0), (2, 20.0 / 0.9)))
    assert fold == 3 and rec.level_names == ("slots", "active_w", "grid_w")
    rec.add(2, 100.0, 0.0)  # a named level: 100 W from t = 0
    rec.add(fold, 2.0, 10.0)  # two folded slots from 10 s, one more from 40 s
    rec.add(fold, 1.0, 40.0)
    duration, integrals, _ = rec.close_interval(60.0)
    slot_s = 2.0 * 50.0 + 1.0 * 20.0  # 120 slot-seconds
    assert duration == 60.0
    assert integrals == pytest.approx([slot_s, 20.0 * slot_s, 100.0 * 60.0 + 20.0 / 0.9 * slot_s], rel=1e-12)
    _, integrals, _ = rec.close_interval(70.0)  # the level carries into the next interval: 3 slots
    assert integrals == pytest.approx([30.0, 600.0, 1000.0 + 20.0 / 0.9 * 30.0], rel=1e-12)
    assert rec.totals() == pytest.approx({"slots": 150.0, "active_w": 3000.0,
                                          "grid_w": 7000.0 + 20.0 / 0.9 * 150.0}, rel=1e-12)
