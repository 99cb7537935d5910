"""Sweeps and tunes under failure: a killed parent, points that kill their process, unguarded scripts.

Each study runs in a child Python process, so that a crash or a kill cannot take pytest with it.
"""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from sim.studies.executors import check_main_guard, guarded_lines

#: a dispatch policy that misbehaves on purpose, written next to the study file
TROUBLE = '''\
"""Misbehaves on purpose: mode "exit" (or crash = 1) ends its process at its first decision,
"exit_while_writing" once its results are being written (as it makes their hidden temporary folder),
"sleep" sleeps at its first decision."""
import os
import time
from pathlib import Path

from fleet.policies import DispatchPolicy


def _exit_while_writing(mkdir):
    def wrapped(path, *args, **kwargs):
        mkdir(path, *args, **kwargs)
        if os.environ.get("TROUBLE_EXIT_WHILE_WRITING") and os.path.basename(path).startswith("."):
            os._exit(13)

    wrapped.trouble = True
    return wrapped


if not getattr(os.mkdir, "trouble", False):
    os.mkdir = _exit_while_writing(os.mkdir)


class Trouble(DispatchPolicy):
    PARAMS = {"mode": "ok", "crash": 0}

    def select(self, job):
        mode = self.params["mode"]
        if mode == "exit" or self.params["crash"]:
            os._exit(13)
        if mode == "exit_while_writing":
            os.environ["TROUBLE_EXIT_WHILE_WRITING"] = "1"
        if mode == "sleep":
            Path(__file__).with_name(f"running.{os.getpid()}").touch()
            time.sleep(60)
        return self.view.least_loaded(self.rng)
'''

TINY = """[set]
"dispatch.policy" = "trouble.py:Trouble"
"run.days" = 0.02
"fleet.vehicles" = 10
"workload.interactive.rate_per_s" = 0.05
"workload.batch.rate_per_s" = 0.02
"report.figures" = false
"""


def study(folder: Path, head: str, name: str = "s") -> Path:
    """The policy file and a sweep file ``head`` + TINY in ``folder``."""
    (folder / "trouble.py").write_text(TROUBLE)
    path = folder / f"{name}.toml"
    path.write_text(head + "\n" + TINY)
    return path


def fleetsim(folder: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sim.cli", *args], cwd=folder, capture_output=True, text=True,
                          timeout=timeout)


def table(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


# ---------------------------------------------------------------------------------- processes
def _stat(pid: int) -> tuple[int, str, str] | None:
    """(parent pid, state, start time) of a process, from /proc; None if it is gone."""
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = data.rsplit(b")", 1)[1].split()
    return int(fields[1]), fields[0].decode(), fields[19].decode()


def descendants(root: int) -> dict[int, str]:
    """Every live descendant of process ``root``: pid -> start time."""
    children: dict[int, list[tuple[int, str]]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (st := _stat(int(entry.name))) is not None and st[1] != "Z":
            children.setdefault(st[0], []).append((int(entry.name), st[2]))
    found, todo = {}, [root]
    while todo:
        for pid, start in children.get(todo.pop(), []):
            found[pid] = start
            todo.append(pid)
    return found


def alive(procs: dict[int, str]) -> dict[int, str]:
    """Those of ``procs`` still running (not exited, not a zombie, not a new process with a reused pid)."""
    return {pid: start for pid, start in procs.items()
            if (st := _stat(pid)) is not None and st[1] not in "ZX" and st[2] == start}


def wait_for(condition, timeout: float, step: float = 0.1) -> float:
    """Seconds until ``condition()`` is true; fails after ``timeout``."""
    t0 = time.monotonic()
    while not condition():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(step)
    return time.monotonic() - t0


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree from /proc")
def test_killing_the_parent_ends_its_workers_and_the_fork_server(tmp_path):
    path = study(tmp_path, '[sweep]\nseeds = 2\n[axes]\n"dispatch.params" = [{ mode = "sleep" }]\n')
    with open(tmp_path / "stderr.txt", "w") as err:
        parent = subprocess.Popen([sys.executable, "-m", "sim.cli", "sweep", str(path), "--out", "out",
                                   "--workers", "2", "--no-progress", "--no-report"],
                                  cwd=tmp_path, stdout=err, stderr=err)
    procs: dict[int, str] = {}
    try:
        # both workers are in the middle of a point that would take a minute
        wait_for(lambda: len(list(tmp_path.glob("running.*"))) == 2 or parent.poll() is not None, 30)
        assert parent.poll() is None, (tmp_path / "stderr.txt").read_text()
        procs = descendants(parent.pid)
        workers = {int(p.name.split(".")[1]) for p in tmp_path.glob("running.*")}
        assert workers <= set(procs) and len(procs) >= 3  # the workers, the fork server (and resource tracker)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        took = wait_for(lambda: not alive(procs), 10)
        print(f"{len(procs)} descendants gone {took:.1f} s after the kill")
    finally:
        procs = procs or descendants(parent.pid)
        parent.kill()
        parent.wait()
        for pid in alive(procs):  # only processes this test started
            os.kill(pid, signal.SIGKILL)


# ---------------------------------------------------------------------------------- crashed points
CRASHING = '[sweep]\ncombine = "zip"\n[axes]\n"dispatch.params" = [{ mode = "ok" }, { mode = "exit" }, ' \
           '{ mode = "exit_while_writing" }, { mode = "ok", crash = 0 }]\n'


@pytest.mark.parametrize("workers", [1, 2])
def test_a_point_that_kills_its_process_is_recorded_and_its_temporary_folder_removed(tmp_path, workers):
    path = study(tmp_path, CRASHING)
    run = fleetsim(tmp_path, "sweep", str(path), "--out", "out", "--workers", str(workers), "--no-progress",
                   "--no-report")
    assert run.returncode == 1, run.stderr  # some points failed; the sweep itself ran to its end
    rows = table(tmp_path / "out" / "sweep.csv")
    assert [r["status"] for r in rows] == ["ok", "failed", "failed", "ok"]
    failures = table(tmp_path / "out" / "failures.csv")
    assert [f["point"] for f in failures] == [rows[1]["point"], rows[2]["point"]]
    assert all(f["error"].startswith("WorkerDied: the worker process running this point exited") for f in failures)
    points = tmp_path / "out" / "points"
    assert [p.name for p in points.iterdir() if p.name.startswith(".")] == []
    # a rerun retries the failed points (and records them again) instead of dying with them
    again = fleetsim(tmp_path, "sweep", str(path), "--out", "out", "--workers", str(workers), "--no-progress",
                   "--no-report")
    assert again.returncode == 1 and "2 ran, 2 resumed, 2 failed" in again.stdout, again.stderr


def test_a_point_that_kills_its_dask_worker_is_recorded(tmp_path):
    pytest.importorskip("distributed", reason="Dask is an optional extra: pip install 'fleetsim[dask]'")
    path = study(tmp_path, '[sweep]\ncombine = "zip"\n[axes]\n'
                           '"dispatch.params" = [{ mode = "ok" }, { mode = "exit" }]\n')
    run = fleetsim(tmp_path, "sweep", str(path), "--out", "out", "--workers", "2", "--scheduler", "local",
                   "--no-progress", "--no-report", timeout=120)
    assert run.returncode == 1, run.stderr
    rows = table(tmp_path / "out" / "sweep.csv")
    assert [r["status"] for r in rows] == ["ok", "failed"]
    assert table(tmp_path / "out" / "failures.csv")[0]["error"].startswith("KilledWorker")


TUNE = """[tune]
name = "t"
trials = 4
sampler_seed = 0
parallel = 2
seeds = 2
[params]
"dispatch.params.crash" = { choices = [0, 1] }
[objective]
"co2_kg.total" = 1.0
"""


@pytest.mark.parametrize("workers", [1, 2])
def test_a_trial_whose_replicate_kills_its_process_is_recorded_as_failed(tmp_path, workers):
    path = study(tmp_path, TUNE, name="t")
    pytest.importorskip("optuna", reason="Optuna is an optional extra: pip install 'fleetsim[tune]'")
    run = fleetsim(tmp_path, "tune", str(path), "--out", "out", "--workers", str(workers), "--no-progress")
    assert run.returncode == 0, run.stderr
    trials = table(tmp_path / "out" / "trials.csv")
    assert len(trials) == 4 and {t["param.dispatch.params.crash"] for t in trials} == {"0", "1"}
    for t in trials:
        if t["param.dispatch.params.crash"] == "1":
            assert t["state"] == "FAIL" and t["error"].startswith("WorkerDied: the worker process running this "
                                                                  "replicate exited"), t
        else:
            assert t["state"] == "COMPLETE" and not t["error"], t


# ---------------------------------------------------------------------------------- the main-script guard
SCRIPT = {
    "sweep": "from sim.studies.sweep import run_sweep\n\n\ndef main():\n"
             "    t = run_sweep('s.toml', 'out', workers=2, progress=False)\n"
             "    print(*t.points['status'])\n",
    "tune": "from sim.studies.tune import run_tune\n\n\ndef main():\n"
            "    r = run_tune('t.toml', 'out', workers=2, progress=False)\n"
            "    print(*(t.state for t in r.trials))\n",
}


@pytest.mark.parametrize("kind", ["sweep", "tune"])
def test_a_script_without_the_main_guard_gets_one_clear_error_before_any_worker_starts(tmp_path, kind):
    if kind == "tune":
        pytest.importorskip("optuna", reason="Optuna is an optional extra: pip install 'fleetsim[tune]'")
    study(tmp_path, '[sweep]\nseeds = 2\n' if kind == "sweep" else TUNE.replace("[0, 1]", "[0]"),
          name=kind[0])
    script = tmp_path / "unguarded.py"
    script.write_text(SCRIPT[kind] + "\n\nmain()\n")
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    last = run.stderr.strip().splitlines()[-1]
    line = SCRIPT[kind].count("\n") + 3
    assert last == (f"sim.core.errors.ScenarioError: main() called at {script}:{line} outside an "
                    "`if __name__ == \"__main__\":` block; worker processes import the main script again: put the "
                    "call under that guard"), run.stderr
    assert "WorkerDied" not in run.stdout + run.stderr
    assert not (tmp_path / "out" / ("sweep.csv" if kind == "sweep" else "trials.csv")).exists()


def test_a_guarded_script_runs_its_sweep_on_workers(tmp_path):
    study(tmp_path, '[sweep]\nseeds = 2\n')
    script = tmp_path / "guarded.py"
    script.write_text(SCRIPT["sweep"] + "\n\nif __name__ == \"__main__\":\n    main()\n")
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["ok", "ok"]


def test_guarded_lines_of_the_forms_of_the_main_guard():
    source = textwrap.dedent("""\
        import sys
        if __name__ == "__main__":
            a()
        if '__main__' == __name__:
            b()
            c()
        if __name__ == "__main__" and len(sys.argv) > 1:
            d()
        else:
            e()
        if __name__ != "__main__":
            f()
        try:
            if __name__ == "__main__":
                g()
        finally:
            pass
        h()
        """)
    assert guarded_lines(source) == {3, 5, 6, 8, 15}


def test_the_guard_check_passes_where_workers_do_not_import_the_main_script(monkeypatch):
    check_main_guard()  # under pytest's own guard
    monkeypatch.delattr(sys.modules["__main__"], "__file__", raising=False)
    check_main_guard()  # python -c, an interactive session, a notebook: nothing to import again
