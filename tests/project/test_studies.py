"""The example sweeps and tune in examples/studies run (shortened) through the command line."""
from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
STUDIES = ROOT / "examples" / "studies"


def _shorten(src: Path, dst: Path, table: str, **head) -> Path:
    """A copy of a study file with a tiny fleet and span, its base scenario made absolute."""
    import tomli_w

    raw = tomllib.loads(src.read_text())
    raw[table].update(head)
    raw[table]["scenario"] = str((src.parent / raw[table]["scenario"]).resolve())
    raw.setdefault("set", {}).update({"run.days": 0.05, "fleet.vehicles": 30,
                                      "workload.interactive.rate_per_s": 0.02, "workload.batch.rate_per_s": 0.01})
    dst.write_text(tomli_w.dumps(raw))
    return dst


@pytest.mark.parametrize("name", ["policies.toml", "opt_in.toml"])
def test_example_sweeps_run_and_report(tmp_path, name):
    f = _shorten(STUDIES / name, tmp_path / name, "sweep", seeds=2)
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "sim.cli", "sweep", str(f), "--out", str(out), "--no-progress"],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    agg = pd.read_csv(out / "aggregate.csv")
    axis = next(iter(tomllib.loads(f.read_text())["axes"]))
    assert len(agg) == len(tomllib.loads(f.read_text())["axes"][axis]) and (agg["n"] == 2).all()
    rep = subprocess.run([sys.executable, "-m", "sim.cli", "report", str(out)], capture_output=True, text=True,
                         cwd=ROOT)
    assert rep.returncode == 0, rep.stderr
    assert (out / "report.html").is_file() and (out / "figures" / "bars.png").is_file()


def test_example_tune_runs(tmp_path):
    pytest.importorskip("optuna", reason="the tune extra (optuna) is not installed")
    f = _shorten(STUDIES / "tune_weighted.toml", tmp_path / "tune.toml", "tune", trials=2, seeds=1, parallel=1)
    out = tmp_path / "tune_out"
    run = subprocess.run([sys.executable, "-m", "sim.cli", "tune", str(f), "--out", str(out), "--no-progress"],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 2 and (out / "best.json").is_file() and (out / "history.png").is_file()
