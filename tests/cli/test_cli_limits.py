"""The resource check on the command line: refused before anything starts, one line, no folder."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from sim.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("overrides,key", [
    (["fleet.vehicles=100000000"], "fleet.vehicles = 100000000"),
    (["workload.interactive.rate_per_s=1e7"], "workload.interactive.rate_per_s = 10000000.0"),
    (["run.days=3660", "run.sample_interval_s=1"], "run.days = 3660.0"),
])
def test_a_run_that_cannot_fit_is_refused_at_once(tmp_path, capsys, overrides, key):
    out = tmp_path / "r"
    sets = [a for o in overrides for a in ("--set", o)]
    t0 = time.perf_counter()
    assert main(["run", *sets, "--out", str(out), "--no-progress"]) == 2
    assert time.perf_counter() - t0 < 5
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"fleetsim: error: {key}: the run needs about")
    assert "--force" in err and not out.exists() and not list(tmp_path.iterdir())


def test_max_memory_refuses_and_force_overrides(tmp_path, capsys):
    tiny = ["--set", "run.days=0.02", "--set", "fleet.vehicles=10", "--no-progress", "--no-report"]
    assert main(["run", *tiny, "--max-memory", "1M", "--out", str(tmp_path / "a")]) == 2
    assert "--max-memory is 1 MiB" in capsys.readouterr().err and not (tmp_path / "a").exists()
    assert main(["run", *tiny, "--max-memory", "1M", "--force", "--out", str(tmp_path / "b")]) == 0
    assert (tmp_path / "b" / "summary.json").is_file()
    assert main(["run", *tiny, "--max-memory", "lots", "--out", str(tmp_path / "c")]) == 2
    assert capsys.readouterr().err.startswith("fleetsim: error: --max-memory = 'lots': allowed: a size")


def test_check_states_the_estimate(capsys):
    assert main(["check", str(ROOT / "examples" / "default.toml")]) == 0
    assert "needs about" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["run", "--seed", "abc"], ["sweep", "x.toml", "--workers", "abc"],
                                  ["run", "--no-such-flag"]])
def test_argument_errors_are_one_line(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("fleetsim: error: ") and "usage:" not in err
