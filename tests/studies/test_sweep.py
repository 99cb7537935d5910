"""Sweeps: the sweep file, seeds, expansion, resume, failures, killed workers, serial = parallel, Dask, stats."""
from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
import tomllib
from concurrent.futures import Executor, Future
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import scipy.stats

import sim.studies.sweep as sweep_mod
from fleet.policies import DispatchPolicy
from sim.cli import main
from sim.core.errors import ScenarioError
from sim.studies.stats import mean_ci, t_quantile
from sim.studies.sweep import load_sweep, run_sweep
from sim.studies.sweep_file import config_id, derive_seeds, read_sweep

ROOT = Path(__file__).resolve().parents[2]
THIS = Path(__file__).resolve()
TINY = """[set]
"run.days" = 0.05
"workload.interactive.rate_per_s" = 0.02
"workload.batch.rate_per_s" = 0.02
"""


# --------------------------------------------------------------- policies that fail on purpose
class ExitWhileMarked(DispatchPolicy):
    """Kills its worker process (os._exit, no exception) while its marker file exists."""

    PARAMS = {"marker": ""}

    def __init__(self, view, rng, **params) -> None:
        super().__init__(view, rng, **params)
        if Path(self.params["marker"]).exists():
            os._exit(1)

    def select(self, job):
        return self.view.least_loaded(self.rng)


class RaiseWhileMarked(DispatchPolicy):
    """Raises from its first decision while its marker file exists."""

    PARAMS = {"marker": ""}

    def select(self, job):
        if Path(self.params["marker"]).exists():
            raise RuntimeError("policy failed on purpose")
        return self.view.least_loaded(self.rng)


def sweep_file(folder: Path, body: str, name: str = "s") -> Path:
    """A sweep file of tiny points: ``body`` ([sweep] keys and tables) then TINY's [set]."""
    path = folder / f"{name}.toml"
    path.write_text(f'[sweep]\nname = "{name}"\n' + body + "\n" + TINY)
    return path


def policy_axis(cls: type, marker: Path) -> str:
    """Axes running least_loaded and ``cls`` (zipped with their params). A sweep file names policy
    files inside its own folder, so ``cls`` is loaded from a copy of this file next to the marker."""
    (marker.parent / "failing_policies.py").write_bytes(THIS.read_bytes())
    return (f'[axes]\n"dispatch.policy" = ["least_loaded", "failing_policies.py:{cls.__name__}"]\n'
            f'"dispatch.params" = [{{}}, {{ marker = "{marker}" }}]\n')


# --------------------------------------------------------------- seeds and expansion
def test_seed_derivation_is_stable_and_independent_of_the_axes(tmp_path):
    seeds = derive_seeds(12345, 4)
    # pinned, and the same as an independent recomputation: child i is SeedSequence(root, spawn_key=(i,))
    assert seeds == [959183449, 1457248422, 642571064, 3609844797]
    assert seeds == [int(np.random.SeedSequence(12345, spawn_key=(i,)).generate_state(1)[0]) for i in range(4)]
    assert derive_seeds(12345, 2) == seeds[:2]  # more seeds leave the first ones alone
    small = read_sweep(sweep_file(tmp_path, 'seeds = 2\nroot_seed = 12345\n[axes]\n"fleet.vehicles" = [20, 30]\n',
                                  name="small"))
    big = read_sweep(sweep_file(tmp_path, 'seeds = 2\nroot_seed = 12345\n[axes]\n"fleet.vehicles" = [20, 30, 40]\n',
                                name="big"))
    assert [p.seed for p in small.points] == seeds[:2] * 2
    assert [(p.id, p.seed, p.config) for p in big.points[:4]] == [(p.id, p.seed, p.config) for p in small.points]
    for p in small.points:  # the seed is the scenario's run.seed, and the id its hash
        assert tomllib.loads(p.toml)["run"]["seed"] == p.seed
        assert p.id == hashlib.sha256(p.toml.encode()).hexdigest()[:16]


def test_product_and_zip_expansion(tmp_path):
    axes = '[axes]\n"dispatch.policy" = ["random", "power_of_d"]\nfleet.vehicles = [20, 30]\n'
    prod = read_sweep(sweep_file(tmp_path, "seeds = 3\n" + axes, name="prod"))
    assert len(prod.points) == 12 and prod.n_configs == 4
    assert [p.labels for p in prod.points[::3]] == [("random", 20), ("random", 30), ("power_of_d", 20),
                                                     ("power_of_d", 30)]
    for p in prod.points:
        sc = tomllib.loads(p.toml)
        assert (sc["dispatch"]["policy"], sc["fleet"]["vehicles"]) == p.labels
        assert sc["run"]["days"] == 0.05  # [set]
        assert p.config == config_id(p.toml)
    assert len({p.id for p in prod.points}) == 12
    assert [len({p.config for p in prod.points[i:i + 3]}) for i in range(0, 12, 3)] == [1] * 4
    assert len({p.config for p in prod.points}) == 4
    zipped = read_sweep(sweep_file(tmp_path, 'seeds = 1\ncombine = "zip"\n' + axes, name="zip"))
    assert [p.labels for p in zipped.points] == [("random", 20), ("power_of_d", 30)]
    assert zipped.points[0].id == prod.points[0].id  # same scenario, same seed, same point
    none = read_sweep(sweep_file(tmp_path, "seeds = 2\n", name="none"))  # no axes: replicates of the base
    assert len(none.points) == 2 and none.points[0].labels == ()


def test_base_scenario_and_file_paths_are_relative_to_the_sweep_file(tmp_path):
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "sweeps").mkdir()
    (tmp_path / "scenarios" / "base.toml").write_text('[run]\nname = "based"\n[fleet]\nvehicles = 25\n')
    (tmp_path / "sweeps" / "mine.py").write_text(
        "from fleet.policies import DispatchPolicy\n\n\nclass Mine(DispatchPolicy):\n"
        "    def select(self, job):\n        return self.view.least_loaded(self.rng)\n")
    spec = read_sweep(sweep_file(tmp_path / "sweeps", 'scenario = "../scenarios/base.toml"\n'
                                                     '[axes]\n"dispatch.policy" = ["random", "mine.py:Mine"]\n'))
    sc = [tomllib.loads(p.toml) for p in spec.points]
    assert [s["run"]["name"] for s in sc] == ["based", "based"] and sc[0]["fleet"]["vehicles"] == 25
    assert sc[1]["dispatch"]["policy"] == f"{tmp_path / 'sweeps' / 'mine.py'}:Mine"
    assert [p.labels for p in spec.points] == [("random",), ("mine.py:Mine",)]  # as written


# --------------------------------------------------------------- bad sweep files
BAD = {
    "unknown key": ("colour = 'red'\n", "unknown key '[sweep] colour'"),
    "bad axis value": ('[axes]\n"fleet.vehicles" = [20, -5]\n',
                       "[axes] fleet.vehicles = -5: allowed: an integer >= 1 and <= 1e+08"),
    "zip lengths": ('combine = "zip"\n[axes]\n"fleet.vehicles" = [20, 30]\n"dispatch.policy" = ["random"]\n',
                    "the axes have different lengths (fleet.vehicles (2), dispatch.policy (1))"),
}


def test_bad_sweep_file_exits_2_with_one_line_from_the_command_line(tmp_path):
    body, expected = BAD["bad axis value"]
    path = sweep_file(tmp_path, body)
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "sim.cli", "sweep", str(path), "--out", str(out)],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == f"fleetsim: error: {path}: {expected}\n"
    assert not out.exists()


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_sweep_file_exits_2_and_nothing_runs(tmp_path, capsys, case):
    body, expected = BAD[case]
    path = sweep_file(tmp_path, body)
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"fleetsim: error: {path}: ") and expected in err, err
    assert not out.exists()


@pytest.mark.parametrize("body, expected", [
    ("[colour]\nx = 1\n", "unknown key 'colour'"),
    ("seeds = 0\n", "[sweep] seeds = 0: allowed: an integer between 1"),
    ("combine = 'cartesian'\n", "[sweep] combine = 'cartesian': allowed: 'product' or 'zip'"),
    ("metrics = ['jobs..x']\n", "[sweep] metrics = ['jobs..x']: allowed:"),
    ('[axes]\n"run.seed" = [1, 2]\n', "[axes] run.seed: not allowed"),
    ('[axes]\n"fleet.vehicels" = [20]\n', "unknown scenario key 'fleet.vehicels'; did you mean 'fleet.vehicles'?"),
    ('[axes]\n"fleet.vehicles" = 20\n', "[axes] fleet.vehicles = 20: allowed: a non-empty list"),
    ('[axes]\n"fleet.vehicles" = [20, 20]\n', "value 20 appears twice"),
    ('[axes]\n"run.days" = [0.1]\n', "[axes] run.days: also in [set]"),
    ('[axes]\n"dispatch.policy" = ["random", "power_of_D"]\n', "unknown policy 'power_of_D'"),
    ('[axes]\n"fleet.battery.reserve_soc" = [0.2, 0.95]\n', "fleet.battery.reserve_soc = 0.95: allowed: below"),
    ('[axes]\n"dispatch.policy" = ["random"]\n"fleet.vehicles" = [20, -5]\n', "s.toml: [axes] fleet.vehicles = -5: "),
    ('[axes]\n"fleet.battery.charge_limit_soc" = [0.92, 0.95]\n"fleet.battery.reserve_soc" = [0.2, 0.93]\n',
     "configuration (fleet.battery.charge_limit_soc = 0.92, fleet.battery.reserve_soc = 0.93): "
     "fleet.battery.reserve_soc = 0.93: allowed: below fleet.battery.charge_limit_soc (0.92)"),
    ('scenario = "missing.toml"\n', "scenario file not found"),
    ("seeds = \n", ":3: invalid TOML"),
])
def test_bad_sweep_files_name_file_key_value_and_what_is_allowed(tmp_path, body, expected):
    path = sweep_file(tmp_path, body)
    with pytest.raises(ScenarioError) as err:
        read_sweep(path)
    msg = str(err.value)
    assert msg.startswith(str(path)) and "\n" not in msg and expected in msg, msg


def test_axis_values_valid_only_together_are_checked_per_configuration(tmp_path):
    spec = read_sweep(sweep_file(tmp_path, 'combine = "zip"\n[axes]\n"fleet.battery.charge_limit_soc" = [0.9, 0.95]\n'
                                           '"fleet.battery.reserve_soc" = [0.2, 0.92]\n'))
    assert [p.labels for p in spec.points] == [(0.9, 0.2), (0.95, 0.92)]


# --------------------------------------------------------------- running, resuming, failing
def test_sweep_writes_tables_and_resume_skips_finished_points(tmp_path):
    path = sweep_file(tmp_path, 'seeds = 2\nroot_seed = 7\nmetrics = ["jobs.arrived", "co2_kg.total", '
                                '"overflow.jobs_received"]\n[axes]\n"fleet.vehicles" = [20, 30]\n')
    out = tmp_path / "out"
    t = run_sweep(path, out, progress=False)
    assert t.stats["ran"] == 4 and t.stats["resumed"] == 0 and t.stats["failed"] == 0
    assert list(t.points.columns) == ["point", "config", "replicate", "seed", "status", "fleet.vehicles",
                                      "jobs.arrived", "co2_kg.total", "overflow.jobs_received"]
    assert list(t.points["seed"]) == derive_seeds(7, 2) * 2 and set(t.points["status"]) == {"ok"}
    assert t.points["overflow.jobs_received"].isna().all()  # null in summary.json: an empty cell
    assert list(t.aggregate["n"]) == [2, 2] and list(t.aggregate["fleet.vehicles"]) == [20, 30]
    assert len(t.failures) == 0 and t.meta["points"] == 4 and t.meta["seeds"] == derive_seeds(7, 2)
    for pid, seed in zip(t.points["point"], t.points["seed"]):
        folder = out / "points" / pid
        text = (folder / "scenario.toml").read_text()
        assert hashlib.sha256(text.encode()).hexdigest()[:16] == pid
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["seed"] == seed and not (folder / "figures").exists()
        assert t.points.loc[t.points["point"] == pid, "jobs.arrived"].item() == summary["jobs"]["arrived"]
    # the aggregate is the mean and t interval of the seeds' values
    arrived = t.points.loc[t.points["fleet.vehicles"] == 30, "jobs.arrived"]
    ci = mean_ci(arrived)
    row = t.aggregate.iloc[1]
    assert row["jobs.arrived.mean"] == pytest.approx(ci.mean, rel=1e-14)
    assert row["jobs.arrived.ci95_high"] == pytest.approx(ci.high, rel=1e-14)

    tables = {n: (out / n).read_bytes() for n in ("sweep.csv", "aggregate.csv", "failures.csv")}
    mtimes = {p: (out / "points" / p / "summary.json").stat().st_mtime_ns for p in t.points["point"]}
    gone = t.points["point"][2]
    for f in (out / "points" / gone).iterdir():
        f.unlink()
    (out / "points" / gone).rmdir()
    again = run_sweep(path, out, progress=False)
    assert again.stats["ran"] == 1 and again.stats["resumed"] == 3
    for p, m in mtimes.items():
        assert ((out / "points" / p / "summary.json").stat().st_mtime_ns == m) == (p != gone)
    assert {n: (out / n).read_bytes() for n in tables} == tables
    assert load_sweep(out).points.equals(again.points)


def test_failing_point_is_recorded_listed_and_retried(tmp_path, capsys):
    marker = tmp_path / "fail"
    marker.touch()
    path = sweep_file(tmp_path, 'combine = "zip"\n' + policy_axis(RaiseWhileMarked, marker))
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--no-progress"]) == 1
    report = capsys.readouterr().out
    t = load_sweep(out)
    assert list(t.points["status"]) == ["ok", "failed"]
    bad = t.points["point"][1]
    assert list(t.failures["point"]) == [bad]
    error = "RuntimeError: policy failed on purpose"
    assert t.failures["error"][0] == error and t.failures["dispatch.policy"][0].endswith(":RaiseWhileMarked")
    assert (out / "points" / bad / "error.txt").read_text() == error + "\n"
    assert "Traceback" in (out / "points" / bad / "error_traceback.txt").read_text()
    assert "1 failed" in report and f"{bad}  " in report and error in report
    assert list(t.aggregate["n"]) == [1, 0] and math.isnan(t.aggregate["jobs.arrived.mean"][1])
    marker.unlink()
    assert main(["sweep", str(path), "--out", str(out), "--no-progress"]) == 0
    t = load_sweep(out)
    assert list(t.points["status"]) == ["ok", "ok"] and len(t.failures) == 0
    assert sorted(p.name for p in (out / "points" / bad).iterdir()) == [
        "fleetsim.json", "jobs.csv", "scenario.toml", "summary.json", "timeseries.csv", "vehicles.csv"]
    assert "1 ran, 1 resumed, 0 failed" in capsys.readouterr().out


def test_a_killed_worker_is_recorded_and_the_rerun_completes(tmp_path):
    marker = tmp_path / "kill"
    marker.touch()
    path = sweep_file(tmp_path, 'combine = "zip"\n' + policy_axis(ExitWhileMarked, marker))
    out = tmp_path / "out"
    t = run_sweep(path, out, workers=2, progress=False)
    assert list(t.points["status"]) == ["ok", "failed"]
    assert list(t.failures["point"]) == [t.points["point"][1]]
    assert t.failures["error"][0].startswith("WorkerDied: the worker process running this point exited")
    assert "BrokenProcessPool" in (out / "points" / t.points["point"][1] / "error_traceback.txt").read_text()
    marker.unlink()
    t = run_sweep(path, out, workers=2, progress=False)
    assert (t.stats["ran"], t.stats["resumed"], t.stats["failed"]) == (1, 1, 0)
    assert list(t.points["status"]) == ["ok", "ok"] and len(t.failures) == 0


def test_points_in_flight_when_a_worker_dies_are_rerun_alone_to_find_it(tmp_path, monkeypatch):
    """The recovery logic with a stand-in pool: a worker dying breaks every point in flight."""
    points = read_sweep(sweep_file(tmp_path, "seeds = 6\n")).points
    deadly = {points[2].id, points[5].id}
    pools: list[list[str]] = []

    class Pool(Executor):
        def __init__(self) -> None:
            self.pending: list[tuple[Future, str]] = []
            self.broken = False
            pools.append([])

        def submit(self, fn, toml, out, figures):
            if self.broken:
                raise BrokenProcessPool("broken")
            fut: Future = Future()
            self.pending.append((fut, Path(out).name))
            pools[-1].append(Path(out).name)
            return fut

    def settle(fs, return_when):  # every point in flight ends together
        pool = current[0]
        pool.broken = any(pid in deadly for _, pid in pool.pending)
        for fut, pid in pool.pending:
            if pool.broken:
                fut.set_exception(BrokenProcessPool("a process died"))
            else:
                fut.set_result({"status": "ok", "id": pid, "metrics": {}})
        done = {f for f, _ in pool.pending}
        pool.pending.clear()
        return done, set()

    current: list[Pool] = []

    @contextmanager
    def executor(workers, scheduler):
        current[:] = [Pool()]
        yield current[0]

    monkeypatch.setattr(sweep_mod, "make_executor", executor)
    monkeypatch.setattr(sweep_mod, "wait", settle)
    got: dict[str, str] = {}
    bar = sweep_mod._Progress(read_sweep(tmp_path / "s.toml"), 0, False)
    sweep_mod._execute(points, tmp_path, False, 2, None, lambda pt, r: got.__setitem__(pt.id, r["status"]), bar)
    assert bar.running == 0
    ids = [p.id for p in points]
    assert got == {pid: ("failed" if pid in deadly else "ok") for pid in ids}
    # pool 1: [0 1] ok, [2 3] break; pool 2: 2 alone breaks; pool 3: 3 alone ok, [4 5] break;
    # pool 4: 4 alone ok, 5 alone breaks
    assert pools == [ids[0:4], [ids[2]], ids[3:6], ids[4:6]]
    assert (tmp_path / ids[5] / "error.txt").read_text().startswith("WorkerDied: ")


def test_serial_and_parallel_tables_are_byte_identical(tmp_path):
    path = sweep_file(tmp_path, 'seeds = 2\n[axes]\n"dispatch.policy" = ["random", "power_of_d"]\n')
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    run_sweep(path, serial, workers=1, progress=False)
    run_sweep(path, parallel, workers=2, progress=False)
    for name in ("sweep.csv", "aggregate.csv", "failures.csv", "sweep.json"):
        assert (serial / name).read_bytes() == (parallel / name).read_bytes(), name
    assert "run.wall_s" not in (serial / "sweep.csv").read_text().splitlines()[0]


def test_dask_local_cluster_gives_the_same_tables(tmp_path):
    pytest.importorskip("distributed", reason="Dask is an optional extra: pip install 'fleetsim[dask]'")
    path = sweep_file(tmp_path, 'seeds = 2\n[axes]\n"fleet.vehicles" = [20, 30]\n')
    serial, dask = tmp_path / "serial", tmp_path / "dask"
    run_sweep(path, serial, progress=False)
    t = run_sweep(path, dask, workers=2, scheduler="local", progress=False)
    assert t.stats["ran"] == 4 and len(t.failures) == 0
    for name in ("sweep.csv", "aggregate.csv"):
        assert (serial / name).read_bytes() == (dask / name).read_bytes(), name


def test_figures_are_drawn_only_when_asked_and_unknown_metrics_stop_the_sweep(tmp_path):
    from reports import build_report

    with pytest.raises(ScenarioError, match="figures = true: pass point_report=reports.build_report"):
        run_sweep(sweep_file(tmp_path, "figures = true\n", name="nodraw"), tmp_path / "nodraw", progress=False)
    assert not (tmp_path / "nodraw").exists()
    t = run_sweep(sweep_file(tmp_path, "figures = true\n"), tmp_path / "fig", progress=False,
                  point_report=build_report)
    folder = tmp_path / "fig" / "points" / t.points["point"][0]
    assert (folder / "report.html").is_file() and list((folder / "figures").glob("*.png"))
    t = run_sweep(sweep_file(tmp_path, "", name="nofig"), tmp_path / "nofig", progress=False,
                  point_report=build_report)
    assert not (tmp_path / "nofig" / "points" / t.points["point"][0] / "report.html").exists()
    bad = sweep_file(tmp_path, 'metrics = ["jobs.arived"]\n', name="bad")
    with pytest.raises(ScenarioError, match=r"metrics: 'jobs.arived' is not a number .*did you mean 'jobs.arrived'"):
        run_sweep(bad, tmp_path / "bad", progress=False)


# --------------------------------------------------------------- statistics
def test_mean_and_t_interval_on_constructed_data():
    ci = mean_ci([1, 2, 3, 4, 5])
    s = math.sqrt(2.5)  # sum of squared deviations 10, over n - 1 = 4
    assert (ci.n, ci.mean, ci.std) == (5, 3.0, pytest.approx(s, rel=1e-12))
    assert t_quantile(0.975, 4) == pytest.approx(2.776445, abs=1e-6)  # from tables
    for df in (1, 2, 4, 9, 30):
        assert t_quantile(0.975, df) == pytest.approx(scipy.stats.t.ppf(0.975, df), rel=1e-12)
    half = 2.776445105 * s / math.sqrt(5)
    assert ci.low == pytest.approx(3 - half, rel=1e-9) and ci.high == pytest.approx(3 + half, rel=1e-9)
    assert half == pytest.approx(1.9632, abs=1e-4)
    two = mean_ci([10.0, 12.0])  # t(0.975, 1) = 12.7062; s = sqrt(2); half = 12.7062
    assert two.half_width == pytest.approx(12.706204736, rel=1e-9)
    assert mean_ci([1.0, None, float("nan"), 3.0]).n == 2  # undefined values are left out
    one = mean_ci([4.2])
    assert one.mean == 4.2 and all(math.isnan(x) for x in (one.std, one.low, one.high))
    assert math.isnan(mean_ci([]).mean)
    same = mean_ci([7.0, 7.0, 7.0])
    assert (same.low, same.high) == (7.0, 7.0)


def test_t_interval_covers_the_true_mean_95_percent_of_the_time():
    rng = np.random.default_rng(3)
    cis = [mean_ci(x) for x in rng.normal(10.0, 2.0, size=(4000, 4))]
    hits = sum(ci.low <= 10.0 <= ci.high for ci in cis)
    assert abs(hits / 4000 - 0.95) < 0.012  # binomial standard error 0.0034
