"""Resource budget: runs, sweeps and tunes that cannot fit are refused at once, in one line naming the
key that drives the estimate; the estimate's counts match hand computations and the simulator; its
memory is within a factor of 3 of a measured peak."""
from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import sim.budget as budget
from sim.budget import (
    Limits,
    check_run,
    check_sweep,
    check_tune,
    estimate_run,
    parse_size,
    sweep_size,
)
from sim.core.errors import FleetsimInputError, ScenarioError
from sim.scenario import default_scenario, load_scenario

ROOT = Path(__file__).resolve().parents[2]
GiB = 2**30
#: what every refusal test pretends the machine has free (the figure the task names)
AVAILABLE = 20 * GiB
QUICK_S = 5.0


@pytest.fixture(autouse=True)
def twenty_gib(monkeypatch):
    """The same machine for every test: 20 GiB of memory available, 80 GiB of disk free."""
    monkeypatch.setattr(budget, "available_memory_bytes", lambda: AVAILABLE)
    monkeypatch.setattr(budget, "free_disk_bytes", lambda folder: (80 * GiB, Path(folder)))


def refusal(call) -> str:
    """The one-line message of the ScenarioError ``call()`` raises, checked to come in under 5 s."""
    t0 = time.perf_counter()
    with pytest.raises(ScenarioError) as info:
        call()
    assert time.perf_counter() - t0 < QUICK_S
    text = str(info.value)
    assert text and "\n" not in text and "Traceback" not in text
    return text


def interval_tariff(folder: Path, interval: str) -> str:
    """A tariff file whose demand charge is metered every ``interval`` seconds."""
    path = folder / "iv.toml"
    path.write_text('name = "iv"\n[[periods]]\nname = "flat"\nprice_usd_per_kwh = 0.2\nhours = "all"\n'
                    f'[[demand_charges]]\nname = "max"\nusd_per_kw = 20.0\ninterval_s = {interval}\n')
    return str(path)


# ------------------------------------------------------------------------------ the six cases
@pytest.mark.parametrize("overrides, lead, also", [
    ({"fleet.vehicles": 100_000_000}, "fleet.vehicles = 100000000", "vehicles"),
    ({"workload.interactive.rate_per_s": 1e7}, "workload.interactive.rate_per_s = 10000000.0", "2.6e+12 jobs"),
    ({"run.days": 3660, "run.sample_interval_s": 1}, "run.days = 3660.0", "run.sample_interval_s = 1.0"),
])
def test_a_run_too_large_is_refused_at_once_naming_its_key(overrides, lead, also):
    sc = default_scenario().with_overrides(overrides)
    text = refusal(lambda: check_run(sc, Limits()))
    assert text.startswith(lead + ": the run needs about ")
    assert also in text
    assert "of memory" in text and "20 GiB is available" in text and "--max-memory SIZE or --force" in text


def test_a_demand_charge_metered_every_nanosecond_is_bad_input_before_any_estimate(tmp_path):
    sc = default_scenario().with_overrides({"fleet.robotaxi.vehicles": 10,
                                            "fleet.robotaxi.depot.tariff": interval_tariff(tmp_path, "1e-9")})
    with pytest.raises(FleetsimInputError) as info:
        check_run(sc, Limits(force=True))
    assert "demand_charges[0].interval_s: 1e-09 is not allowed" in str(info.value)


def test_demand_charge_intervals_are_counted_and_a_run_with_too_many_is_refused(tmp_path):
    sc = default_scenario().with_overrides({
        "fleet.vehicles": 1, "fleet.robotaxi.vehicles": 1, "run.days": 3000,
        "workload.interactive.rate_per_s": 0.0, "workload.batch.rate_per_s": 0.0,
        "fleet.robotaxi.depot.tariff": interval_tariff(tmp_path, "1")})
    est = estimate_run(sc)
    # 3000 days of 1 s intervals, one demand charge at one site: 259,200,000 s / 1 s
    assert est.demand_intervals == pytest.approx(3000 * 86400)
    text = refusal(lambda: check_run(sc, Limits()))
    assert "demand-charge intervals: demand_charges[0].interval_s = 1 in the tariff" in text


def test_a_sweep_of_100000_axis_values_is_refused_before_any_configuration_is_resolved(tmp_path, monkeypatch):
    import sim.scenario
    import sim.studies.sweep_file
    from sim.studies.sweep_file import read_sweep

    def must_not_run(*args, **kwargs):
        raise AssertionError("a configuration was resolved before the sweep's size was checked")

    monkeypatch.setattr(sim.scenario.Scenario, "with_overrides", must_not_run)
    monkeypatch.setattr(sim.studies.sweep_file, "_base_scenario", must_not_run)
    values = ", ".join(repr(round(0.1 + 0.8 * i / 100_000, 9)) for i in range(100_000))
    path = tmp_path / "huge.toml"
    path.write_text(f'[set]\n"run.days" = 1\n[axes]\n"fleet.opt_in_share" = [{values}]\n')
    text = refusal(lambda: read_sweep(path))
    assert text.startswith(f"{path}: 100,000 points ([axes] fleet.opt_in_share: 100,000 values; [sweep] seeds = 1)")
    assert "--force" in text


def test_a_tune_of_10_to_the_12_trials_is_refused(tmp_path):
    from sim.studies.tune_spec import load_tune

    path = tmp_path / "t.toml"
    path.write_text('[tune]\ntrials = 1000000000000\n[params]\n"dispatch.params.d" = { low = 1, high = 4, '
                    'int = true }\n[objective]\n"co2_kg.total" = 1.0\n')
    spec = load_tune(path)
    text = refusal(lambda: check_tune(spec.trials, spec.seeds, Limits(), source=spec.source))
    assert text.startswith(f"{path}: [tune] trials = 1000000000000: the tune needs about ")
    assert "Optuna keeps every trial in memory" in text


# ----------------------------------------------------------------------------- limits and force
def test_force_lets_a_refused_run_through_with_its_estimate():
    sc = default_scenario().with_overrides({"workload.interactive.rate_per_s": 1e7})
    est = check_run(sc, Limits(force=True), out_dir="/nonexistent/out")
    assert est.jobs == pytest.approx((1e7 + 0.5) * 3 * 86400)
    assert est.drivers[0] == ("workload.interactive.rate_per_s", 1e7)


def test_a_small_max_memory_refuses_the_built_in_scenario():
    sc = default_scenario()
    text = refusal(lambda: check_run(sc, Limits(max_memory_bytes=parse_size("100M"))))
    assert "--max-memory is 100 MiB" in text and " = " in text.split(":")[0]
    assert check_run(sc, Limits(max_memory_bytes=parse_size("2G"))).memory_bytes < 2 * GiB


def test_results_larger_than_the_free_disk_are_refused_unless_forced(tmp_path, monkeypatch):
    monkeypatch.setattr(budget, "free_disk_bytes", lambda folder: (10 * 2**20, Path(folder)))
    sc = default_scenario()  # ~62 MB of results, mostly jobs.csv
    text = refusal(lambda: check_run(sc, Limits(), out_dir=tmp_path / "out"))
    assert "of disk" in text and "10 MiB is free" in text
    check_run(sc, Limits(), out_dir=None)  # no folder: disk not checked
    check_run(sc, Limits(force=True), out_dir=tmp_path / "out")


def test_a_run_of_more_than_1e11_events_is_refused_even_with_the_memory():
    sc = default_scenario().with_overrides({"fleet.vehicles": 10_000_000, "run.days": 3660,
                                            "workload.interactive.rate_per_s": 0.0, "workload.batch.rate_per_s": 0.0})
    text = refusal(lambda: check_run(sc, Limits(max_memory_bytes=2**80)))
    assert text.startswith("fleet.vehicles = 10000000: the run is about ")
    assert "simulation events" in text and "the limit is 1e+11 events" in text


def test_the_examples_and_the_built_in_scenario_fit_in_20_gib():
    scenarios = [("built-in", default_scenario())]
    for path in sorted((ROOT / "examples").glob("*.toml")):
        try:
            scenarios.append((path.name, load_scenario(path)))
        except FleetsimInputError as exc:  # a shared data file missing on this machine
            pytest.skip(f"{path.name}: {exc}")
    for name, sc in scenarios:
        est = check_run(sc, Limits())
        assert est.memory_bytes < 4 * GiB, name
        assert est.events < budget.MAX_EVENTS, name


# ---------------------------------------------------------------------------------- parse_size
@pytest.mark.parametrize("text, expected", [
    ("4G", 4 * 2**30), ("512M", 512 * 2**20), ("1.5GiB", 1610612736), ("2000000000", 2_000_000_000),
    ("64KB", 65536), ("4gi", 4 * 2**30), ("2 T", 2 * 2**40), ("100B", 100), (123, 123),
])
def test_parse_size_reads_binary_units_and_bytes(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "-1", "4X", "0", "0.5", "G", "1e400", "4 GB extra", "4iB"])
def test_parse_size_refuses_bad_text_in_one_line_naming_the_flag(text):
    with pytest.raises(ScenarioError) as info:
        parse_size(text)
    assert str(info.value).startswith("--max-memory = ") and "\n" not in str(info.value)


# ------------------------------------------------------------------- counts against independent truth
def test_expected_jobs_samples_and_intervals_are_the_hand_computed_counts():
    sc = default_scenario().with_overrides({
        "run.days": 2.5, "workload.interactive.diurnal": "flat", "workload.interactive.rate_per_s": 0.7,
        "workload.batch.rate_per_s": 0.3, "fleet.robotaxi.vehicles": 5, "fleet.robotaxi.depot.tariff": "pge_b10"})
    est = estimate_run(sc)
    assert est.jobs == pytest.approx(216_000.0)  # (0.7 + 0.3) /s x 2.5 x 86,400 s
    assert est.samples == 240  # 216,000 s / 900 s
    assert est.demand_intervals == pytest.approx(240)  # one 15-minute demand charge (B-10) at one depot
    assert est.units["cars"] == 1005 and est.units["car_days"] == pytest.approx(2512.5)


def test_expected_jobs_match_the_arrivals_of_a_run():
    from sim.runner import run

    sc = default_scenario().with_overrides({
        "run.days": 0.1, "fleet.vehicles": 10, "workload.interactive.diurnal": "flat",
        "workload.interactive.rate_per_s": 2.0, "workload.batch.rate_per_s": 0.0, "report.figures": False})
    expected = estimate_run(sc).jobs
    assert expected == pytest.approx(17_280.0)  # 2 /s x 8,640 s
    arrived = run(sc).summary["jobs"]["arrived"]
    assert abs(arrived - expected) < 5 * math.sqrt(expected)  # Poisson count: 5 standard deviations


def test_a_looped_trace_counts_its_copies_as_the_replay_does(tmp_path):
    from fleet.workload import TraceWorkload, load_azure_trace

    path = tmp_path / "t.csv"
    stamps = ["2023-11-16 18:00:00.0", "2023-11-16 18:00:01.5", "2023-11-16 18:00:02", "2023-11-16 18:00:03.25",
              "2023-11-16 18:00:04"]
    path.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n" + "".join(f"{s},100,20\n" for s in stamps))
    probe = budget.probe_trace(str(path))
    assert (probe.rows, probe.span_s) == (5, pytest.approx(4.0))
    sc = default_scenario().with_overrides({"run.days": 0.01, "workload.trace": str(path), "workload.trace_loop": True,
                                            "workload.trace_time_scale": 2.0})
    est = estimate_run(sc)
    assert est.jobs == pytest.approx(864 / (5.0 * 2.0) * 5)  # period 4 + 4/4 s, stretched x2, over 864 s
    replay = TraceWorkload(load_azure_trace(path), time_scale=2.0, loop=True)
    assert len(replay.arrivals(0.0, 864.0)) == pytest.approx(est.jobs, rel=0.01)


def test_the_driver_is_the_key_furthest_beyond_its_default():
    assert estimate_run(default_scenario().with_overrides({"fleet.vehicles": 10**8})).drivers[0] == \
        ("fleet.vehicles", 10**8)
    sc = default_scenario().with_overrides({"run.days": 3660, "run.sample_interval_s": 60})
    assert estimate_run(sc).drivers[0] == ("run.days", 3660.0)


def test_the_memory_estimate_is_within_3x_of_a_measured_peak():
    overrides = {"run.days": 0.5, "fleet.vehicles": 300, "workload.interactive.rate_per_s": 3.0,
                 "workload.batch.rate_per_s": 0.0}
    code = (
        "import json, sys, tempfile\n"
        "from sim.scenario import default_scenario\nfrom sim.runner import run\nfrom sim.results import write_results\n"
        "sc = default_scenario().with_overrides(json.loads(sys.argv[1]))\n"
        "with tempfile.TemporaryDirectory() as tmp:\n"
        "    write_results(run(sc), tmp + '/out')\n"
        "hwm = [ln for ln in open('/proc/self/status') if ln.startswith('VmHWM:')]\n"
        "print(int(hwm[0].split()[1]) * 1024 if hwm else -1)\n")
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(overrides)], capture_output=True, text=True,
                          cwd=ROOT, check=True, timeout=120)
    peak = int(proc.stdout.split()[-1])
    if peak < 0:
        pytest.skip("no /proc/self/status VmHWM on this system")
    est = estimate_run(default_scenario().with_overrides(overrides), report=False)
    assert est.jobs == pytest.approx(129_600.0)  # 3 /s x 43,200 s: the jobs are most of the estimate
    assert 1 / 3 <= est.memory_bytes / peak <= 3, (est.memory_bytes, peak)


# ------------------------------------------------------------------------------ sweeps and tunes
def test_sweep_size_counts_product_and_zip_without_expanding():
    axes = {"a": [1, 2, 3], "b": [10, 20]}
    assert sweep_size(axes, "product", 4) == (24, "[axes] a: 3 values x b: 2 values; [sweep] seeds = 4")
    assert sweep_size({"a": [1, 2, 3], "b": [4, 5, 6]}, "zip", 2)[0] == 6
    assert sweep_size({}, "product", 5) == (5, "[sweep] seeds = 5")


def test_a_sweep_with_one_huge_configuration_is_refused_before_its_points_are_expanded(tmp_path, monkeypatch):
    import sim.studies.sweep_file
    from sim.studies.sweep_file import read_sweep

    monkeypatch.setattr(sim.studies.sweep_file, "_expand", lambda *a, **k: pytest.fail("points expanded"))
    path = tmp_path / "s.toml"
    path.write_text('[sweep]\nseeds = 3\n[axes]\n"fleet.vehicles" = [1000, 100000000]\n')
    text = refusal(lambda: read_sweep(path, out_dir=tmp_path / "out", workers=2))
    assert text.startswith(f"{path}: 6 points ([axes] fleet.vehicles: 2 values; [sweep] seeds = 3), 2 at a time")
    assert "fleet.vehicles = 100000000" in text and "fewer --workers" in text


def test_a_sweep_whose_results_exceed_the_free_disk_is_refused(tmp_path, monkeypatch):
    from sim.studies.sweep_file import read_sweep

    monkeypatch.setattr(budget, "free_disk_bytes", lambda folder: (100 * 2**20, Path(folder)))
    path = tmp_path / "s.toml"
    path.write_text('[sweep]\nseeds = 2\n[axes]\n"fleet.opt_in_share" = [0.25, 0.5, 0.75]\n')
    text = refusal(lambda: read_sweep(path, out_dir=tmp_path / "out"))
    # 6 points of the built-in scenario: ~62 MiB of results each
    assert text.startswith(f"{path}: 6 points") and "of disk for their results folders" in text
    assert len(read_sweep(path, limits=Limits(force=True), out_dir=tmp_path / "out").points) == 6


def test_check_sweep_counts_points_already_written(monkeypatch):
    est = estimate_run(default_scenario(), report=False)
    monkeypatch.setattr(budget, "free_disk_bytes", lambda folder: (int(est.output_bytes * 1.5), Path(folder)))
    with pytest.raises(ScenarioError, match="of disk"):
        check_sweep(4, est, Limits(), out_dir="/x", done_points=0)
    check_sweep(4, est, Limits(), out_dir="/x", done_points=3)  # one point left to write


def test_a_tune_that_fits_passes_and_its_heaviest_run_is_estimated():
    from sim.studies.tune_spec import load_tune

    spec = load_tune(ROOT / "examples" / "studies" / "tune_weighted.toml")
    per_run = budget.tune_run_estimate(spec)
    assert per_run.jobs == pytest.approx(86_400.0)  # run.days = 1 at 0.5 + 0.5 jobs/s
    check_tune(spec.trials, spec.seeds, Limits(), per_run=per_run, workers=2, source=spec.source)
    text = refusal(lambda: check_tune(10**6, 10, Limits(), source="t.toml"))
    assert text.startswith("t.toml: [tune] trials = 1000000: ")


def test_a_tune_whose_largest_run_cannot_fit_is_refused_naming_the_parameter(tmp_path):
    from sim.studies.tune_spec import load_tune

    path = tmp_path / "t.toml"
    path.write_text('[tune]\ntrials = 10\n[params]\n"fleet.vehicles" = { low = 100, high = 100000000, int = true }\n'
                    '[objective]\n"co2_kg.total" = 1.0\n')
    spec = load_tune(path)
    per_run = budget.tune_run_estimate(spec)
    assert per_run.units["cars"] == 100_000_000  # the high end of the range: the heavier corner
    text = refusal(lambda: check_tune(spec.trials, spec.seeds, Limits(), per_run=per_run, workers=2,
                                      source=spec.source))
    assert text.startswith(f"{path}: fleet.vehicles = 100000000: the tune needs about ")
    assert "2 at a time" in text


def test_available_memory_is_read_from_the_system(monkeypatch):
    monkeypatch.undo()
    avail = budget.available_memory_bytes()
    assert isinstance(avail, int) and avail > 0
    if Path("/proc/meminfo").exists():
        total = next(int(ln.split()[1]) * 1024 for ln in open("/proc/meminfo") if ln.startswith("MemTotal:"))
        assert avail <= total


def test_estimates_are_cheap_enough_for_every_configuration_of_a_sweep():
    sc = default_scenario()
    t0 = time.perf_counter()
    for v in np.linspace(100, 10_000, 2_000):
        estimate_run(budget.Overlay(sc, {"fleet.vehicles": int(v)}), report=False)
    assert time.perf_counter() - t0 < 2.0
