"""The command line end to end: run, check, report, policies, --set, bad input, determinism."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sim.cli import main
from sim.scenario import load_scenario, parse_override

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--set", "run.days=0.1", "--set", "fleet.vehicles=60", "--set", "run.sample_interval_s=600"]


def fleetsim(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the CLI in a subprocess, as a user would."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "sim.cli", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=env, timeout=300)


def test_run_writes_the_results_folder_and_report(tmp_path):
    out = tmp_path / "r"
    proc = fleetsim("run", *SMALL, "--seed", "7", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert str(out) in proc.stdout
    for name in ("summary.json", "scenario.toml", "timeseries.csv", "jobs.csv", "vehicles.csv", "report.html"):
        assert (out / name).is_file(), name
    pngs = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert len(pngs) >= 4
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seed"] == 7
    assert summary["fleet"]["vehicles_simulated"] == 60
    # The resolved scenario reruns to the same results.
    again = tmp_path / "again"
    proc = fleetsim("run", str(out / "scenario.toml"), "--out", str(again), "--no-report")
    assert proc.returncode == 0, proc.stderr
    assert (again / "jobs.csv").read_bytes() == (out / "jobs.csv").read_bytes()
    # report redraws the figures
    for p in (out / "figures").glob("*.png"):
        p.unlink()
    proc = fleetsim("report", str(out))
    assert proc.returncode == 0, proc.stderr
    assert len(list((out / "figures").glob("*.png"))) == len(pngs)


def test_same_seed_gives_byte_identical_results(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        assert main(["run", *SMALL, "--set", "fleet.vehicles=120", "--out", str(out), "--no-report"]) == 0
    for name in ("timeseries.csv", "jobs.csv", "vehicles.csv", "scenario.toml"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    sa, sb = (json.loads((x / "summary.json").read_text()) for x in (a, b))
    for x in (sa, sb):  # the wall-clock figures
        x["run"].pop("wall_s")
        x["run"].pop("decisions_per_wall_s")
    assert sa == sb
    c = tmp_path / "c"
    assert main(["run", *SMALL, "--set", "fleet.vehicles=120", "--seed", "2", "--out", str(c), "--no-report"]) == 0
    assert (a / "jobs.csv").read_bytes() != (c / "jobs.csv").read_bytes()


def test_check_print_scenario_policies_and_help(tmp_path, capsys):
    assert main(["check", str(ROOT / "examples" / "default.toml")]) == 0
    assert "ok" in capsys.readouterr().out
    assert main(["run", "--print-scenario", "--set", "fleet.vehicles=5000"]) == 0
    printed = capsys.readouterr().out
    assert "vehicles = 5000" in printed and "[fleet.battery]" in printed
    # the printed scenario is complete: every chip value is filled in from the preset
    path = tmp_path / "resolved.toml"
    path.write_text(printed)
    assert load_scenario(path)["fleet.chip.slots"] == 4
    assert main(["policies"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert {ln.split()[0] for ln in lines} >= {"random", "round_robin", "least_loaded"}
    for args in (["--help"], ["run", "--help"], ["check", "--help"], ["report", "--help"], ["policies", "--help"]):
        with pytest.raises(SystemExit) as exc:
            main(args)
        assert exc.value.code == 0
        assert "usage: fleetsim" in capsys.readouterr().out


def test_set_values_are_toml_or_plain_strings():
    assert parse_override("fleet.vehicles=5000") == ("fleet.vehicles", 5000)
    assert parse_override("run.days=2.5") == ("run.days", 2.5)
    assert parse_override("fleet.mobility=false") == ("fleet.mobility", False)
    assert parse_override("workload.trace=data/t.csv") == ("workload.trace", "data/t.csv")
    assert parse_override('workload.interactive.diurnal="flat"') == ("workload.interactive.diurnal", "flat")
    sc = load_scenario(None, ["fleet.vehicles=5000", "run.days=2", "workload.interactive.diurnal=flat"])
    assert sc["fleet.vehicles"] == 5000 and sc["run.days"] == 2.0
    assert sc["workload.interactive.diurnal"] == "flat"


BAD_TRACE = ("TIMESTAMP,ContextTokens,GeneratedTokens\r\n2023-11-16 18:15:46.6805900,374,44\r\n"
             "2023-11-16 18:15:50.9951690,abc,109")

BAD_CASES = [
    # (scenario text or None, extra args, substrings the one-line message must contain)
    ("[run]\ndays = 3\nseed = [\n", [], ["bad.toml:3", "invalid TOML"]),
    ("[fleet]\nvehicels = 10\n", [], ["fleet.vehicels", "did you mean 'fleet.vehicles'"]),
    ("[fleet]\nvehicles = \"many\"\n", [], ["fleet.vehicles", "'many'", "integer >= 1"]),
    ("[fleet]\nvehicles = -5\n", [], ["fleet.vehicles = -5", "integer >= 1"]),
    ("[fleet.battery]\ncharge_limit_soc = 1.2\n", [], ["fleet.battery.charge_limit_soc = 1.2", "<= 1"]),
    ("[fleet.battery]\nreserve_soc = 0.95\n", [], ["fleet.battery.reserve_soc = 0.95", "charge_limit_soc"]),
    ("[run]\ndays = 0\n", [], ["run.days = 0", "> 0"]),
    ("[run]\ndays = -1\n", [], ["run.days = -1", "> 0"]),
    ("[dispatch]\npolicy = \"least_load\"\n", [], ["least_load", "did you mean 'least_loaded'"]),
    ("[run]\nstart = \"2022-06-06T00:00:00\"\n", [], ["run.start", "2022-06-06T00:00:00"]),
    (None, ["--set", "workload.trace=missing_trace.csv"], ["missing_trace.csv", "not found"]),
    (None, ["--set", "workload.trace=bad_trace.csv"], ["bad_trace.csv:3", "ContextTokens", "'abc'"]),
    (None, ["--set", "fleet.initial_soc_max=1.5"], ["fleet.initial_soc_max = 1.5", "<= 1"]),
    (None, ["--set", "run.days=1e-12"], ["run.days = 1e-12", "at least one simulated second"]),
    (None, ["--set", "fleet.itinerary.trip_km_sigma=37"], ["fleet.itinerary.trip_km_sigma = 37.0", "<= 3"]),
    (None, ["--set", "fleet.chip.active_w=1e308"], ["fleet.chip.active_w", "<= 100000"]),
    (None, ["--set", "run.start='2022-03-13T02:30 America/Los_Angeles'"], ["run.start", "does not exist"]),
    (None, ["--set", "workload.trace=one_row.csv", "--set", "workload.trace_loop=true"], ["workload:", "loop"]),
    (None, ["--set", "dispatch.params={alpha=1}"], ["dispatch.", "alpha"]),
]


@pytest.mark.parametrize("text,extra,needles", BAD_CASES)
def test_bad_input_is_one_line_exit_2_and_no_results(tmp_path, text, extra, needles):
    (tmp_path / "bad_trace.csv").write_bytes(BAD_TRACE.encode())
    (tmp_path / "one_row.csv").write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,374,44\n")
    args = ["run"]
    if text is not None:
        (tmp_path / "bad.toml").write_text(text)
        args.append("bad.toml")
    out = tmp_path / "out"
    proc = fleetsim(*args, *extra, "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in err, (needle, err)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []
    # check rejects it too, without writing anything
    if text is not None:
        proc = fleetsim("check", "bad.toml", *extra, cwd=tmp_path)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1


def test_out_must_not_clobber_a_foreign_folder(tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    proc = fleetsim("run", *SMALL, "--out", str(foreign))
    assert proc.returncode == 2
    assert "not a fleetsim results folder" in proc.stderr
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_out_inside_a_file_is_bad_input_before_running(tmp_path):
    (tmp_path / "afile").write_text("x")
    proc = fleetsim("run", *SMALL, "--out", str(tmp_path / "afile" / "x"))
    assert proc.returncode == 2 and "is a file, not a folder" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_report_on_a_non_results_folder_is_bad_input(tmp_path):
    proc = fleetsim("report", str(tmp_path))
    assert proc.returncode == 2 and "not a fleetsim results or sweep folder" in proc.stderr


def test_progress_bar_follows_simulated_days(capsys):
    from sim.runner import Simulation
    from sim.scenario import default_scenario

    over = {"fleet.vehicles": 20, "run.days": 0.5, "workload.interactive.rate_per_s": 0.01,
            "workload.batch.rate_per_s": 0.0}
    quiet = Simulation(default_scenario().with_overrides(over)).run()
    sim = Simulation(default_scenario().with_overrides(over))
    shown = sim.run(progress=True)
    assert "simulating" in capsys.readouterr().err
    assert sim._bar.n == pytest.approx(0.5) and sim._bar.total == pytest.approx(0.5)  # reached the horizon
    assert shown.jobs.equals(quiet.jobs) and shown.timeseries.equals(quiet.timeseries)


def test_headline_prints_latency_per_class_total_cost_and_jobs_left(tmp_path):
    """The printed headline: each class's own p95, the total cost with payouts, the jobs still
    queued or running, and quantities in units that fit (checked against summary.json)."""
    import json

    from sim.core.quantities import co2_kg, energy_kwh, usd

    out = tmp_path / "out"
    p = subprocess.run([sys.executable, "-m", "sim.cli", "run", "--out", str(out), "--no-progress", "--no-report",
                        "--set", "run.days=0.5", "--set", "fleet.vehicles=100"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    s = json.loads((out / "summary.json").read_text())
    j = s["jobs"]
    text = p.stdout
    for name in ("interactive", "batch"):
        assert f"{name} {j['by_class'][name]['latency_s']['p95']:,.1f} s" in text
    assert f"{j['running_at_end']:,} running and {j['queued_at_end']:,} queued at the end" in text
    assert f"cost {usd(s['cost_usd']['total'])} (electricity {usd(s['cost_usd']['electricity'])}, owner payouts " \
           f"{usd(s['cost_usd']['owner_payouts'])})" in text
    assert f"grid {energy_kwh(s['energy_kwh']['grid_import'])}, {co2_kg(s['co2_kg']['total'])}" in text
