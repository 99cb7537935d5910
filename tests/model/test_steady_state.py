"""Results describe the fleet in its steady daily cycle: the warm-up (``run.warmup_days``) removes
the start-up peak of a fleet that would otherwise all charge at once."""
from __future__ import annotations

import numpy as np
import pytest

from sim.runner import run
from sim.scenario import default_scenario


def _peaks(res) -> tuple[float, float]:
    """(peak grid power in the first 6 hours, median of the daily peaks after the first day), W."""
    ts = res.timeseries
    end, grid = ts["t_s"].to_numpy(), ts["grid_w"].to_numpy()
    t = np.concatenate([[0.0], end[:-1]])  # each interval's start (s)
    first = grid[t < 6 * 3600.0].max()
    days = int(round(end[-1] / 86400.0))
    later = [grid[(t >= d * 86400.0) & (t < (d + 1) * 86400.0)].max() for d in range(1, days)]
    return float(first), float(np.median(later))


@pytest.fixture(scope="module")
def runs():
    base = default_scenario().with_overrides({"report.figures": False})
    return {w: run(base.with_overrides({"run.warmup_days": w})) for w in (0.0, 1.0, 2.0)}


def test_the_built_in_scenario_starts_in_its_daily_cycle(runs):
    first, later = _peaks(runs[1.0])
    assert first <= 1.5 * later
    cold_first, cold_later = _peaks(runs[0.0])  # without the warm-up, the whole fleet charges at the start
    assert cold_first > 3.0 * cold_later


def test_the_warm_up_is_not_reported_and_a_longer_one_changes_little(runs):
    cold, warm, warmer = (runs[w].summary for w in (0.0, 1.0, 2.0))
    for s in (cold, warm, warmer):
        assert s["checks"]["job_balance_residual"] == 0
        assert abs(s["checks"]["energy_balance_residual_kwh"]) < 1e-6 * s["energy_kwh"]["grid_import"]
    # the same jobs (arrivals do not depend on the cars' charge), none from the warm-up
    assert warm["jobs"]["arrived"] == cold["jobs"]["arrived"] == warmer["jobs"]["arrived"]
    # the cold start's extra battery fill is gone; a second day of warm-up moves the grid energy by < 1 %
    assert warm["energy_kwh"]["grid_import"] < 0.85 * cold["energy_kwh"]["grid_import"]
    assert warmer["energy_kwh"]["grid_import"] == pytest.approx(warm["energy_kwh"]["grid_import"], rel=0.01)
