"""Demand that follows the fleet: rates per 1,000 vehicles, absolute rates, and the refusal of both."""
from __future__ import annotations

import math
import subprocess
import sys

import pytest

from sim.runner import Simulation
from sim.scenario import default_scenario, load_scenario
from sim.settings import DEFAULT_RATE_PER_S_PER_1000_VEHICLES, class_rate_per_s

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def _arrivals(over: dict) -> int:
    sim = Simulation(default_scenario().with_overrides({"report.figures": False, "fleet.mobility": False, **over}))
    sim.execute()
    return sim.dispatcher.arrived


@pytest.mark.parametrize("vehicles", [50, 400])
def test_every_fleet_size_sees_the_same_load_per_car(vehicles):
    """Arrivals over a day are Poisson with mean 2 classes x 0.5/s per 1,000 cars x cars x 86,400 s."""
    n = _arrivals({"run.days": 1.0, "fleet.vehicles": vehicles})
    mean = 2 * DEFAULT_RATE_PER_S_PER_1000_VEHICLES * vehicles / 1000.0 * 86400.0
    assert abs(n - mean) < 4.0 * math.sqrt(mean)


def test_robotaxis_count_as_vehicles_and_an_absolute_rate_ignores_the_fleet():
    sc = default_scenario().with_overrides({"fleet.vehicles": 300, "fleet.robotaxi.vehicles": 100,
                                            "workload.batch.rate_per_s_per_1000_vehicles": 2.0})
    assert class_rate_per_s(sc, "interactive") == pytest.approx(0.5 * 400 / 1000)
    assert class_rate_per_s(sc, "batch") == pytest.approx(2.0 * 400 / 1000)
    fixed = sc.with_overrides({"workload.interactive.rate_per_s": 3.0})
    assert class_rate_per_s(fixed, "interactive") == 3.0
    assert class_rate_per_s(fixed.with_overrides({"fleet.vehicles": 5}), "interactive") == 3.0


def test_an_override_of_one_form_replaces_the_other():
    sc = load_scenario(ROOT / "examples" / "default.toml", ["workload.interactive.rate_per_s=2.0"])
    assert sc["workload.interactive.rate_per_s"] == 2.0
    assert sc["workload.interactive.rate_per_s_per_1000_vehicles"] is None
    back = sc.with_overrides({"workload.interactive.rate_per_s_per_1000_vehicles": 1.0})
    assert back["workload.interactive.rate_per_s"] is None and class_rate_per_s(back, "interactive") == 1.0


def test_a_scenario_giving_both_is_refused_with_one_line(tmp_path):
    path = tmp_path / "both.toml"
    path.write_text("[workload.batch]\nrate_per_s = 1.0\nrate_per_s_per_1000_vehicles = 0.5\n")
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, "-m", "sim.cli", "run", str(path), "--out", str(out), "--no-progress"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 2 and not out.exists()
    line = p.stderr.strip()
    assert len(line.splitlines()) == 1
    assert "workload.batch.rate_per_s = 1.0 and workload.batch.rate_per_s_per_1000_vehicles = 0.5" in line
    assert "allowed: one of them" in line
