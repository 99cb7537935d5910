"""One sweep point in a worker process: run a scenario, write its results folder, report back.

:func:`run_point` is the function the executors run. It takes and returns only small, picklable
values (the scenario as TOML text, a folder path, a flag; a dict of numbers), so the same call
works in a process pool and on a Dask cluster.
"""
from __future__ import annotations

import json
import os
import tomllib
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sim.results import SUMMARY, write_results
from sim.runner import run
from sim.scenario import resolve
from sim.studies.sweep_file import digest

ERROR = "error.txt"
TRACEBACK = "error_traceback.txt"
OK, FAILED = "ok", "failed"


def run_point(scenario_toml: str, out_dir: str, draw: Callable[[Path], Any] | None = None) -> dict[str, Any]:
    """Run the scenario into ``out_dir`` (atomically); return {status, id, metrics} or {status, id, error}.

    ``draw(folder)`` adds the point's figures and report page before the folder is published
    (a picklable top-level function such as :func:`reports.build_report`).

    An exception from the simulation is not raised: it is written to ``out_dir/error.txt`` (one
    line) and ``error_traceback.txt``, and reported as ``status = "failed"``.
    """
    out = Path(out_dir)
    pid = digest(scenario_toml)
    clear_error(out)
    try:
        scenario = resolve(tomllib.loads(scenario_toml), str(out / "scenario.toml"))
        results = run(scenario)
        write_results(results, out, before_publish=draw)
    except Exception as exc:
        return {"status": FAILED, "id": pid, "error": write_error(out, exc)}
    # read back from summary.json, exactly as a resumed sweep reads it
    return {"status": OK, "id": pid, "metrics": summary_leaves(json.loads((out / SUMMARY).read_text()))}


def read_point(out_dir: str | Path) -> dict[str, Any] | None:
    """The result of a finished point folder (one with summary.json), or None."""
    f = Path(out_dir) / SUMMARY
    if not f.is_file():
        return None
    return {"status": OK, "id": Path(out_dir).name, "metrics": summary_leaves(json.loads(f.read_text()))}


def summary_leaves(summary: dict[str, Any], prefix: str = "") -> dict[str, float | int | None]:
    """Every numeric (or null) leaf of a summary, by dotted path, in the summary's order; no booleans."""
    out: dict[str, float | int | None] = {}
    for key, value in summary.items():
        path = prefix + key
        if isinstance(value, dict):
            out.update(summary_leaves(value, path + "."))
        elif value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
            out[path] = value
    return out


def error_line(exc: BaseException) -> str:
    """``Type: message`` on one line."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def write_error(out: Path, exc: BaseException, note: str = "") -> str:
    """Record a failed point in its folder: error.txt (one line) and error_traceback.txt.

    Only into a folder that is absent or holds nothing but an earlier failure's two files: never
    through a link, and never into a folder of someone else's (the line is still returned).
    """
    line = error_line(exc) + (f" ({note})" if note else "")
    if _error_folder(out):
        out.mkdir(parents=True, exist_ok=True)
        (out / ERROR).write_text(line + "\n", encoding="utf-8")
        tb = "".join(traceback.format_exception(exc))
        (out / TRACEBACK).write_text(tb, encoding="utf-8")
    return line


def _error_folder(out: Path) -> bool:
    """True if ``out`` is absent, or a real folder holding only error.txt and error_traceback.txt
    as regular files (what :func:`write_error` leaves)."""
    if not os.path.lexists(out):
        return True
    if out.is_symlink() or not out.is_dir():
        return False
    return all(p.name in (ERROR, TRACEBACK) and p.is_file() and not p.is_symlink() for p in out.iterdir())


def clear_error(out: Path) -> None:
    """Remove an earlier failure's files (and the folder, which they leave empty) before a retry:
    only from a folder that holds nothing else (:func:`write_error`)."""
    if not os.path.lexists(out) or not _error_folder(out):
        return
    for name in (ERROR, TRACEBACK):
        (out / name).unlink(missing_ok=True)
    out.rmdir()
