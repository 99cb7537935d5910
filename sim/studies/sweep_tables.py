"""The tables of a sweep: sweep.json, sweep.csv, aggregate.csv and failures.csv (see :mod:`sim.studies.sweep`).

Rows are always in point (or configuration) order and numbers are written with one fixed
format, so a sweep's tables are byte-identical however its points were scheduled.
"""
from __future__ import annotations

import datetime as dt
import difflib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from sim import __version__
from sim.core.errors import ScenarioError
from sim.studies.stats import mean_ci
from sim.studies.sweep_file import SweepSpec
from sim.studies.sweep_point import OK

META, POINTS, AGGREGATE, FAILURES = "sweep.json", "sweep.csv", "aggregate.csv", "failures.csv"
FLOAT_FORMAT = "%.15g"
#: summary values left out of the default metrics: wall-clock figures, and the seed (a column already)
NOT_METRICS = ("seed", "run.wall_s", "run.decisions_per_wall_s")
STATS = ("mean", "std", "ci95_low", "ci95_high")

Result = dict[str, Any]  # what run_point returns: status, id, and metrics or error


def check_metrics(spec: SweepSpec, leaves: dict[str, Any]) -> None:
    """Raise ScenarioError if a requested metric is not a number (or null) in a run's summary."""
    for m in spec.metrics or []:
        parts = m.split(".")
        # a null table (e.g. "overflow" without overflow) stands for all its leaves
        known = m in leaves or any(leaves.get(".".join(parts[:i]), 0) is None for i in range(1, len(parts)))
        if not known:
            hint = difflib.get_close_matches(m, list(leaves), n=1, cutoff=0.6)
            did = f"; did you mean '{hint[0]}'?" if hint else ""
            raise ScenarioError(f"{spec.path}: [sweep] metrics: '{m}' is not a number in summary.json{did}")


def choose_metrics(spec: SweepSpec, results: list[Result | None]) -> list[str]:
    """The metric columns: the requested ones, or every leaf that is a number in some point's summary."""
    if spec.metrics:
        names = list(spec.metrics)
    else:
        numeric: dict[str, bool] = {}
        for r in results:
            if r is not None and r["status"] == OK:
                for k, v in r["metrics"].items():
                    numeric[k] = numeric.get(k, False) or v is not None
        names = [k for k, is_num in numeric.items() if is_num and k not in NOT_METRICS]
    return [m for m in names if m not in spec.axes]  # a metric named like an axis repeats the axis


def write_tables(out: Path, spec: SweepSpec, results: list[Result | None], metrics: list[str]) -> None:
    """Write sweep.json and the three CSV tables atomically (each file replaced whole)."""
    write_meta(out, spec, metrics)
    axes = list(spec.axes)
    rows, failures = [], []
    for pt in spec.points:
        r = results[pt.index] or {"status": "not run", "error": "not run"}
        labels = {k: _label(v) for k, v in zip(axes, pt.labels)}
        values = r.get("metrics", {})
        rows.append({"point": pt.id, "config": pt.config, "replicate": pt.replicate, "seed": pt.seed,
                     "status": r["status"], **labels, **{m: values.get(m) for m in metrics}})
        if r["status"] != OK:
            failures.append({"point": pt.id, "config": pt.config, "seed": pt.seed, **labels, "error": r["error"]})
    agg = []
    n_seeds = len(spec.seeds)
    for c in range(spec.n_configs):
        pts = spec.points[c * n_seeds:(c + 1) * n_seeds]
        ok = [results[p.index]["metrics"] for p in pts if results[p.index] and results[p.index]["status"] == OK]
        row: dict[str, Any] = {"config": pts[0].config, **{k: _label(v) for k, v in zip(axes, pts[0].labels)},
                               "n": len(ok)}
        for m in metrics:
            ci = mean_ci(v.get(m) for v in ok)
            row.update(zip((f"{m}.{s}" for s in STATS), (ci.mean, ci.std, ci.low, ci.high)))
        agg.append(row)
    head = ["point", "config", "replicate", "seed", "status", *axes]
    _write_csv(out / POINTS, pd.DataFrame(rows, columns=head + metrics))
    _write_csv(out / AGGREGATE, pd.DataFrame(agg, columns=["config", *axes, "n",
                                                           *(f"{m}.{s}" for m in metrics for s in STATS)]))
    _write_csv(out / FAILURES, pd.DataFrame(failures, columns=["point", "config", "seed", *axes, "error"]))


def write_meta(out: Path, spec: SweepSpec, metrics: list[str] | None) -> None:
    """sweep.json: what the sweep is (written before the points run, and again with the tables)."""
    meta = {
        "fleetsim_version": __version__,
        "name": spec.name,
        "sweep_file": str(spec.path),
        "scenario": spec.scenario,
        "axes": [{"key": k, "values": v} for k, v in spec.axes.items()],
        "set": spec.set,
        "seeds": spec.seeds,
        "root_seed": spec.root_seed,
        "combine": spec.combine,
        "metrics": metrics if metrics is not None else spec.metrics,
        "figures": spec.figures,
        "configurations": spec.n_configs,
        "points": len(spec.points),
    }
    _atomic_write(out / META, json.dumps(meta, indent=2, default=_json_default) + "\n")


def read_tables(out: Path) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(meta, points, aggregate, failures) of a sweep folder."""
    meta = json.loads((out / META).read_text(encoding="utf-8"))
    text = {"point": str, "config": str, "status": str, "error": str}

    def read(name: str) -> pd.DataFrame:
        return pd.read_csv(out / name, dtype=text, keep_default_na=False, na_values=[""])

    return meta, read(POINTS), read(AGGREGATE), read(FAILURES)


# ---------------------------------------------------------------------------------- helpers
def _label(v: Any) -> Any:
    """An axis value as a table cell: scalars as they are, tables and lists as compact JSON."""
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True, separators=(",", ":"), default=_json_default)
    if isinstance(v, (dt.date, dt.time)):
        return v.isoformat()
    return v


def _json_default(x: Any) -> Any:
    if isinstance(x, (dt.date, dt.time)):
        return x.isoformat()
    raise TypeError(f"not JSON serialisable: {type(x)}")


def _write_csv(path: Path, df: pd.DataFrame) -> None:
    _atomic_write(path, df.to_csv(index=False, lineterminator="\n", float_format=FLOAT_FORMAT, na_rep=""))


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
