"""Signals with gaps: hours a data file lacks are filled with the last value before them, counted
(summary checks.signal_filled_hours) and warned of once."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from grid.profiles import load_eia930
from grid.signals import StepSignal, filled_seconds
from sim.core.clock import Clock

EIA = Path(__file__).resolve().parents[3] / "shared" / "data" / "eia930-carbon-2022"
needs_data = pytest.mark.skipif(not EIA.is_dir(), reason=f"{EIA} is absent")


def test_the_time_beyond_a_rows_step_is_filled():
    hours = np.array([0.0, 1.0, 2.0, 5.0, 6.0]) * 3600.0  # 03:00 and 04:00 missing
    assert filled_seconds(hours, 7 * 3600.0, 0.0, 7 * 3600.0) == 2 * 3600.0
    assert filled_seconds(hours, 7 * 3600.0, 3.5 * 3600.0, 7 * 3600.0) == 1.5 * 3600.0  # clipped to the run
    assert filled_seconds(hours, 7 * 3600.0, 5 * 3600.0, 7 * 3600.0) == 0.0
    assert filled_seconds(np.arange(10.0) * 900.0, 9000.0, 0.0, 9000.0) == 0.0  # no gap at any step


def _missing_hours(name: str) -> tuple[int, pd.Series]:
    """Hours of 2022 the file has no value for, counted from its rows alone, and the loaded series."""
    raw = pd.read_csv(EIA / f"{name}.csv")
    stamps = pd.to_datetime(raw["timestamp"], utc=True)
    present = set(stamps[raw["avg_CI"].notna()])
    every = pd.date_range(stamps.min(), stamps.max(), freq="h")
    return sum(t not in present for t in every), load_eia930(EIA / f"{name}.csv")


@needs_data
@pytest.mark.parametrize("name, expected", [("PJM", 23), ("MISO", 3), ("CISO", 3), ("ERCO", 0)])
def test_a_years_filled_hours_are_the_files_missing_hours(name, expected):
    missing, series = _missing_hours(name)
    assert missing == expected
    clock = Clock(series.index[0].to_pydatetime())
    span = (series.index[-1] - series.index[0]).total_seconds()
    signal = StepSignal.from_utc_series(clock, series.index, series.to_numpy(), 0.0, span, "carbon", "g_per_kwh")
    assert signal.filled_s == missing * 3600.0


@needs_data
def test_a_run_over_pjms_gap_counts_it_in_the_summary_and_warns_once(tmp_path):
    """PJM lacks the 22 hours from 2022-03-13 07:00 to 2022-03-14 04:00 UTC: a three-day run from
    2022-03-12 covers all of them."""
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, "-m", "sim.cli", "run", "--set", f"grid.carbon={EIA / 'PJM.csv'}",
                        "--set", "run.start=2022-03-12T00:00:00 UTC", "--set", "run.days=3", "--set",
                        "fleet.vehicles=10", "--set", "run.warmup_days=0", "--out", str(out), "--no-report",
                        "--no-progress"], capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    warnings = [ln for ln in p.stderr.splitlines() if "warning" in ln]
    assert len(warnings) == 1 and "22 hours of the run have no data row" in warnings[0], p.stderr
    filled = json.loads((out / "summary.json").read_text())["checks"]["signal_filled_hours"]
    assert filled == {"carbon": 22.0, "price": 0.0}
