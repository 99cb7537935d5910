"""fleetsim replaces only what it wrote, publishes with no gap, and allows one writer per folder."""
from __future__ import annotations

import errno
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from sim import publish
from sim.cli import main
from sim.publish import MARKER, FolderLock, read_marker, remove_stale

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--set", "run.days=0.02", "--set", "fleet.vehicles=10", "--no-progress", "--no-report"]
NOT_OURS = "fleetsim: error: --out {} exists and is not a fleetsim results folder; choose another folder or remove it"


def run_cli(capsys, *args: str) -> tuple[int, str]:
    code = main(["run", *TINY, *args])
    return code, capsys.readouterr().err


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def complete(folder: Path) -> bool:
    """A complete fleetsim results folder: a marker whose every listed file is there, and nothing else."""
    marker = read_marker(folder)
    if marker is None or marker["kind"] != "results":
        return False
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    return present == set(marker["files"]) | {MARKER} and "summary.json" in present


def hidden_siblings(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


# ---------------------------------------------------------------------------------- ownership
def test_a_folder_with_a_stray_summary_json_is_never_replaced(tmp_path, capsys):
    home = tmp_path / "home"
    home.mkdir()
    (home / "summary.json").write_text("{}")
    (home / "thesis.tex").write_text("years of work")
    before = snapshot(home)
    code, err = run_cli(capsys, "--out", str(home))
    assert code == 2
    assert err.strip() == NOT_OURS.format(home)
    assert snapshot(home) == before


def test_an_earlier_results_folder_is_replaced_and_its_marker_lists_every_file(tmp_path, capsys):
    out = tmp_path / "r"
    assert run_cli(capsys, "--out", str(out))[0] == 0
    marker = json.loads((out / MARKER).read_text())
    assert marker["kind"] == "results" and marker["fleetsim_version"]
    assert set(marker["files"]) == {"summary.json", "scenario.toml", "timeseries.csv", "jobs.csv", "vehicles.csv"}
    assert complete(out)
    assert run_cli(capsys, "--out", str(out), "--seed", "5")[0] == 0
    assert json.loads((out / "summary.json").read_text())["seed"] == 5
    assert hidden_siblings(out) == []


def test_a_results_folder_holding_anything_else_is_refused(tmp_path, capsys):
    out = tmp_path / "r"
    assert run_cli(capsys, "--out", str(out))[0] == 0
    (out / "figures").mkdir()
    (out / "figures" / "notes.txt").write_text("mine")
    before = snapshot(out)
    code, err = run_cli(capsys, "--out", str(out))
    assert code == 2 and err.strip() == NOT_OURS.format(out)
    assert snapshot(out) == before


def test_a_forged_marker_of_another_kind_or_a_file_is_refused(tmp_path, capsys):
    tune = tmp_path / "t"
    tune.mkdir()
    (tune / MARKER).write_text(json.dumps({"kind": "tune", "fleetsim_version": "0", "files": []}))
    assert run_cli(capsys, "--out", str(tune))[0] == 2
    file = tmp_path / "f"
    file.write_text("data")
    code, err = run_cli(capsys, "--out", str(file))
    assert code == 2 and file.read_text() == "data"


def test_an_empty_folder_may_be_used(tmp_path, capsys):
    out = tmp_path / "empty"
    out.mkdir()
    assert run_cli(capsys, "--out", str(out))[0] == 0
    assert complete(out)


@pytest.mark.parametrize("where", ["cwd", "root", "home", "scenario_parent", "cwd_parent", "empty"])
def test_out_folders_that_must_never_be_replaced_are_refused(tmp_path, capsys, monkeypatch, where):
    work = tmp_path / "work"
    work.mkdir()
    scenario = work / "s" / "my.toml"
    scenario.parent.mkdir()
    scenario.write_text('[run]\nname = "x"\n')
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    out = {"cwd": ".", "root": "/", "home": str(tmp_path / "home"), "scenario_parent": str(scenario.parent),
           "cwd_parent": "..", "empty": ""}[where]
    code = main(["run", str(scenario), *TINY, "--out", out])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("fleetsim: error: --out")
    assert scenario.read_text() == '[run]\nname = "x"\n'


def test_a_name_too_long_for_the_file_system_is_one_line(tmp_path, capsys):
    code, err = run_cli(capsys, "--out", str(tmp_path / ("a" * 300)))
    assert code == 2 and err.count("\n") == 1 and len(err) < 300


def test_a_full_disk_is_exit_2_with_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    out = tmp_path / "r"

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    code, err = run_cli(capsys, "--out", str(out))
    assert code == 2
    assert err.strip() == f"fleetsim: error: writing {out}: No space left on device"
    assert not out.exists() and hidden_siblings(out) == []


# ---------------------------------------------------------------------------------- report
def test_report_redraws_only_files_fleetsim_wrote(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["run", *TINY[:-1], "--out", str(out)]) == 0
    marker = read_marker(out)
    assert "figures/latency.png" in marker["files"] and "report.html" in marker["files"]
    # a file of the user's where a figure would go: refused, and nothing changes
    (out / "figures" / "latency.png").unlink()
    marker["files"].remove("figures/latency.png")
    publish.write_marker(out, "results", marker["files"])
    (out / "figures" / "latency.png").write_bytes(b"my own drawing")
    before = snapshot(out)
    assert main(["report", str(out)]) == 2
    assert "fleetsim did not write it" in capsys.readouterr().err
    assert snapshot(out) == before
    # once the user's file is gone, the report is redrawn and listed again
    (out / "figures" / "latency.png").unlink()
    assert main(["report", str(out)]) == 0
    assert complete(out) and "figures/latency.png" in read_marker(out)["files"]


def test_report_refuses_a_folder_that_is_not_fleetsims(tmp_path, capsys):
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "summary.json").write_text("{}")
    assert main(["report", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a fleetsim" in err
    assert sorted(p.name for p in folder.iterdir()) == ["summary.json"]


# ---------------------------------------------------------------------------------- one writer
def hold_lock(out: Path) -> subprocess.Popen:
    code = f"import sys, time; from pathlib import Path; from sim.publish import FolderLock\n" \
           f"with FolderLock(Path({str(out)!r})):\n    print('held', flush=True); time.sleep(60)\n"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_writer_is_refused_at_once_naming_the_first(tmp_path, capsys):
    out = tmp_path / "r"
    holder = hold_lock(out)
    try:
        t0 = time.perf_counter()
        code, err = run_cli(capsys, "--out", str(out))
        assert code == 2
        assert err.strip() == f"fleetsim: error: another fleetsim process (pid {holder.pid}) is writing {out}"
        assert time.perf_counter() - t0 < 5
        assert not out.exists()
    finally:
        holder.kill()
        holder.wait()
    assert run_cli(capsys, "--out", str(out))[0] == 0  # the lock died with its holder


def test_stale_siblings_are_removed_only_once_their_writer_is_dead(tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    stale = tmp_path / ".r.tmp.999999.abcdefgh"
    stale.mkdir()
    (stale / publish.PARTIAL).touch()
    (stale / "jobs.csv").write_text("x")
    other = tmp_path / ".r.tmp.notes"  # not a name fleetsim makes: never touched
    other.mkdir()
    holder = hold_lock(out)
    try:
        assert remove_stale(out) == 0 and stale.exists()
    finally:
        holder.kill()
        holder.wait()
    assert remove_stale(out) == 1
    assert not stale.exists() and other.exists()


# ---------------------------------------------------------------------------------- kills
KILLER = """
import os, signal, sys
from sim import publish
from sim.cli import main
step = sys.argv[1]
if step == "exchange":
    real = publish._exchange
    def exchange_then_die(a, b):
        done = real(a, b)
        os.kill(os.getpid(), signal.SIGKILL)
        return done
    publish._exchange = exchange_then_die
else:
    publish._renameat2 = None  # the fallback: rename the old folder aside, then the new one in
    publish._between_renames = lambda: os.kill(os.getpid(), signal.SIGKILL)
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("step", ["exchange", "between_renames"])
def test_a_kill_between_the_publishing_steps_leaves_a_complete_folder(tmp_path, capsys, step):
    out = tmp_path / "r"
    assert run_cli(capsys, "--out", str(out), "--seed", "1")[0] == 0
    old = snapshot(out)
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    proc = subprocess.run([sys.executable, str(script), step, "run", *TINY, "--out", str(out), "--seed", "2"],
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    if step == "exchange":  # the new folder is in place; the old one waits beside it
        assert complete(out) and json.loads((out / "summary.json").read_text())["seed"] == 2
    else:  # no folder at DIR until the next writer recovers the complete new one
        assert not out.exists()
    assert hidden_siblings(out)
    # the next writer of DIR recovers and cleans up
    assert remove_stale(out) >= 1
    assert complete(out) and json.loads((out / "summary.json").read_text())["seed"] == 2
    assert hidden_siblings(out) == []
    assert snapshot(out) != old


@pytest.mark.slow  # ~21 s alone
def test_kills_at_random_instants_never_leave_an_incomplete_folder(tmp_path, capsys):
    """Kill runs at random instants (seeded): DIR is always a complete old or new folder, and the
    next run leaves no stray sibling."""
    out = tmp_path / "r"
    args = ["run", "--set", "run.days=0.3", "--set", "fleet.vehicles=200", "--no-progress", "--out", str(out)]
    assert main([*args, "--seed", "1"]) == 0
    capsys.readouterr()
    rng = random.Random(11)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for seed in range(2, 9):
        proc = subprocess.Popen([sys.executable, "-m", "sim.cli", *args, "--seed", str(seed)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.5, 4.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert complete(out), f"incomplete after a kill (seed {seed})"
    assert main([*args, "--seed", "99"]) == 0
    assert complete(out) and hidden_siblings(out) == []


def test_the_finite_check_refuses_nan_before_anything_is_written(tmp_path):
    from sim.results import NonFiniteSummary, check_finite

    check_finite({"a": 1.0, "b": {"c": None, "d": [1, 2.5]}})
    with pytest.raises(NonFiniteSummary, match=r"b\.d\.1 = nan"):
        check_finite({"a": 1.0, "b": {"d": [1, float("nan")]}})
    with pytest.raises(NonFiniteSummary, match="x = inf"):
        check_finite({"x": float("inf")})


def test_lock_is_reentrant_in_one_process_and_leaves_no_file(tmp_path):
    out = tmp_path / "deep" / "r"
    with FolderLock(out):
        with FolderLock(out):
            assert (tmp_path / "deep" / ".r.lock").exists()
    assert not (tmp_path / "deep").exists()  # the parents it made are removed again when left empty


# ---------------------------------------------------------------------------------- sweeps and tunes
STUDY_SET = '[set]\n"run.days" = 0.01\n"fleet.vehicles" = 5\n"report.figures" = false\n'


def test_a_folder_with_a_stray_sweep_json_is_not_a_sweep_folder(tmp_path, capsys):
    sweep = tmp_path / "s.toml"
    sweep.write_text('[sweep]\nname = "s"\n' + STUDY_SET + '[axes]\n"fleet.opt_in_share" = [0.4, 0.6]\n')
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "sweep.json").write_text("{}")
    (folder / "data.csv").write_text("precious")
    before = snapshot(folder)
    assert main(["sweep", str(sweep), "--out", str(folder), "--no-progress", "--no-report"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (f"fleetsim: error: --out {folder} exists and is not a fleetsim sweep folder; "
                           "choose another folder or remove it")
    assert snapshot(folder) == before
    # a sweep folder fleetsim made resumes, and its marker lists the sweep's own files
    out = tmp_path / "out"
    assert main(["sweep", str(sweep), "--out", str(out), "--no-progress", "--no-report"]) == 0
    assert main(["sweep", str(sweep), "--out", str(out), "--no-progress", "--no-report"]) == 0
    assert "0 ran, 2 resumed" in capsys.readouterr().out
    assert set(read_marker(out)["files"]) == {"sweep.json", "sweep.csv", "aggregate.csv", "failures.csv"}
    assert all(read_marker(p)["kind"] == "results" for p in (out / "points").iterdir())


def test_a_folder_with_a_stray_tune_json_is_not_a_tune_folder(tmp_path, capsys):
    pytest.importorskip("optuna")
    tune = tmp_path / "t.toml"
    tune.write_text('[tune]\nname = "t"\ntrials = 2\n' + STUDY_SET
                    + '[params]\n"fleet.opt_in_share" = { low = 0.3, high = 0.7 }\n'
                    + '[objective]\n"co2_kg.total" = 1.0\n')
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "tune.json").write_text("{}")
    (folder / "notes.md").write_text("precious")
    before = snapshot(folder)
    assert main(["tune", str(tune), "--out", str(folder), "--no-progress"]) == 2
    assert "is not a fleetsim tune folder" in capsys.readouterr().err
    assert snapshot(folder) == before
    out = tmp_path / "out"
    for _ in range(2):  # a tune folder fleetsim wrote is replaced by the next tune
        assert main(["tune", str(tune), "--out", str(out), "--no-progress"]) == 0
    assert read_marker(out)["kind"] == "tune" and hidden_siblings(out) == []


# ---------------------------------------------------------------------------------- links and leftovers
def test_a_link_or_a_users_file_where_the_lock_goes_is_never_written(tmp_path, capsys):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / ".z.lock").symlink_to(victim)
    code, err = run_cli(capsys, "--out", str(tmp_path / "z"))
    assert code == 2 and "is not a lock file fleetsim made" in err and err.count("\n") == 1
    assert victim.read_text() == "precious" and (tmp_path / ".z.lock").is_symlink()
    mine = tmp_path / ".y.lock"
    mine.write_text("my notes")
    assert run_cli(capsys, "--out", str(tmp_path / "y"))[0] == 2
    assert mine.read_text() == "my notes"
    stale = tmp_path / ".w.lock"  # a lock file a killed fleetsim left: taken over and removed
    stale.write_text("12345\n")
    assert run_cli(capsys, "--out", str(tmp_path / "w"))[0] == 0
    assert not stale.exists()


def test_report_never_writes_through_a_link_in_the_folder(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["run", *TINY[:-1], "--out", str(out)]) == 0
    pics = tmp_path / "pics"
    pics.mkdir()
    (pics / "grid.png").write_bytes(b"my grid")
    (pics / "power.png").write_bytes(b"my power")
    shutil.rmtree(out / "figures")
    (out / "figures").symlink_to(pics)
    assert main(["report", str(out)]) == 2
    assert "does not write through links" in capsys.readouterr().err
    assert snapshot(pics) == {"grid.png": b"my grid", "power.png": b"my power"}


def test_a_marker_that_is_a_link_is_no_marker(tmp_path, capsys):
    out = tmp_path / "r"
    assert run_cli(capsys, "--out", str(out))[0] == 0
    real = tmp_path / "elsewhere.json"
    (out / MARKER).rename(real)
    (out / MARKER).symlink_to(real)
    assert run_cli(capsys, "--out", str(out))[0] == 2
    assert main(["report", str(out)]) == 2
    assert json.loads(real.read_text())["kind"] == "results"


def test_a_report_stopped_part_way_leaves_a_folder_fleetsim_still_owns(tmp_path, capsys, monkeypatch):
    out = tmp_path / "r"
    assert main(["run", *TINY, "--out", str(out)]) == 0
    real_replace, calls = os.replace, []

    def stop_after_one(src, dst):
        calls.append(dst)
        if len([c for c in calls if str(c).endswith(".png")]) > 1:
            raise KeyboardInterrupt  # stands for a kill part-way through moving the figures in
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", stop_after_one)
    assert main(["report", str(out)]) == 130  # interrupted
    monkeypatch.setattr(os, "replace", real_replace)
    assert read_marker(out) is not None
    assert main(["report", str(out)]) == 0 and complete(out)
    assert run_cli(capsys, "--out", str(out))[0] == 0 and complete(out)
    assert hidden_siblings(out) == []


def test_a_file_put_into_the_folder_during_publishing_is_kept(tmp_path, capsys, monkeypatch):
    out = tmp_path / "r"
    assert run_cli(capsys, "--out", str(out))[0] == 0
    real = publish._exchange

    def someone_writes_first(a, b):
        (Path(b) / "my_notes.txt").write_text("mine")
        return real(a, b)

    monkeypatch.setattr(publish, "_exchange", someone_writes_first)
    code, err = run_cli(capsys, "--out", str(out), "--seed", "3")
    assert code == 2 and err.strip() == NOT_OURS.format(out)
    assert (out / "my_notes.txt").read_text() == "mine"
    assert json.loads((out / "summary.json").read_text())["seed"] == 1
    assert hidden_siblings(out) == []


def test_leftovers_of_dead_writers_go_and_a_live_writers_stay(tmp_path, capsys):
    out = tmp_path / "r"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    leaked = tmp_path / f".r.tmp.{dead}.abcdefgh"  # half removed: neither marker nor stamp left
    leaked.mkdir()
    (leaked / "jobs.csv").write_text("x")
    live = tmp_path / f".r.tmp.{os.getppid()}.abcdefgh"
    live.mkdir()
    (live / "notes").write_text("y")
    assert run_cli(capsys, "--out", str(out))[0] == 0
    assert not leaked.exists() and live.exists()


def test_a_sweep_point_that_is_a_link_is_never_written_through(tmp_path, capsys):
    sweep = tmp_path / "s.toml"
    sweep.write_text('[sweep]\nname = "s"\n' + STUDY_SET + '[axes]\n"fleet.opt_in_share" = [0.4, 0.6]\n')
    out = tmp_path / "sw"
    assert main(["sweep", str(sweep), "--out", str(out), "--no-progress", "--no-report"]) == 0
    point = sorted((out / "points").iterdir())[0]
    shutil.rmtree(point)
    user = tmp_path / "userdir"
    user.mkdir()
    (user / "error.txt").write_text("my error log")
    point.symlink_to(user)
    main(["sweep", str(sweep), "--out", str(out), "--no-progress", "--no-report"])
    assert snapshot(user) == {"error.txt": b"my error log"}


def test_odd_out_paths_are_one_line(tmp_path, capsys):
    dangling = tmp_path / "dang"
    dangling.symlink_to(tmp_path / "nowhere")
    sweep = tmp_path / "s.toml"
    sweep.write_text('[sweep]\nname = "s"\n' + STUDY_SET + '[axes]\n"fleet.opt_in_share" = [0.4]\n')
    assert main(["sweep", str(sweep), "--out", str(dangling), "--no-progress", "--no-report"]) == 2
    assert main(["run", *TINY, "--out", str(dangling)]) == 2
    assert main(["run", *TINY, "--out", "/proc/self/x"]) == 2
    assert main(["run", *TINY, "--out", str(tmp_path / "a\nb")]) == 2
    assert main(["run", *TINY, "--out", " "]) == 2
    for line in capsys.readouterr().err.splitlines():
        assert line.startswith("fleetsim: error: ") and len(line) <= 300
    assert dangling.is_symlink() and not (tmp_path / "nowhere").exists()


def test_report_on_a_folder_edited_by_hand_is_one_line(tmp_path, capsys):
    out = tmp_path / "r"
    assert run_cli(capsys, "--out", str(out))[0] == 0
    (out / "summary.json").write_text("[]")
    assert main(["report", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot read the folder" in err
