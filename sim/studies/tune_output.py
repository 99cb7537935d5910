"""What a tune writes: the trial table, the best trial, metadata and two figures.

Pure functions of the finished trials (no simulation, no Optuna), so they are tested on
constructed trials. Figures use the report style (Agg canvas, no timestamps in the PNG), so
the same trials give byte-identical files.
"""
from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.publish import check_out_path, check_replaceable, publish_folder
from sim.studies.tune_spec import TuneSpec

BEST, TRIALS, HISTORY, PARETO, META = "best.json", "trials.csv", "history.png", "pareto.png", "tune.json"
COMPLETE, FAIL = "COMPLETE", "FAIL"
DPI = 110


@dataclass
class TrialRecord:
    """One evaluated trial: its parameters, metric means over the seeds and the verdict."""

    number: int
    params: dict[str, Any]
    state: str = COMPLETE  # COMPLETE or FAIL (a replicate raised, or the objective is undefined)
    metrics: dict[str, float] = field(default_factory=dict)  # mean over seeds; nan where undefined
    objective: float = math.nan
    violation: float = 0.0  # sum of the constraints' positive violations (0 = feasible)
    error: str = ""

    @property
    def feasible(self) -> bool | None:
        """Whether every constraint holds (None for a failed trial)."""
        return None if self.state != COMPLETE else self.violation <= 0.0


def best_trial(records: Sequence[TrialRecord]) -> TrialRecord | None:
    """The feasible trial with the lowest objective; with none feasible, the least violating one.

    Ties go to the earlier trial. None if no trial completed.
    """
    done = [r for r in records if r.state == COMPLETE]
    if not done:
        return None
    return min(done, key=lambda r: (not r.feasible, r.violation if not r.feasible else 0.0, r.objective, r.number))


def pareto_front(points: Sequence[tuple[float, float]], maximize: tuple[bool, bool] = (False, False)) -> list[int]:
    """Indices of the non-dominated points, in order of the first coordinate (then the second).

    Point ``q`` dominates ``p`` when it is at least as good in both coordinates and better in
    one ("good" is low, or high where ``maximize``). Equal points do not dominate each other.
    Points with a NaN coordinate are ignored.
    """
    sign = [-1.0 if m else 1.0 for m in maximize]
    pts = [(i, sign[0] * x, sign[1] * y) for i, (x, y) in enumerate(points) if not (math.isnan(x) or math.isnan(y))]
    front = [
        (x, y, i) for i, x, y in pts
        if not any(qx <= x and qy <= y and (qx < x or qy < y) for _, qx, qy in pts)
    ]
    return [i for _, _, i in sorted(front, key=lambda t: (sign[0] * t[0], sign[1] * t[1], t[2]))]


# ---------------------------------------------------------------------------------- files
def _cell(v: Any) -> Any:
    if isinstance(v, float):
        return "" if math.isnan(v) else repr(v)
    return "" if v is None else v


def _json_value(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v


def write_trials_csv(path: Path, spec: TuneSpec, records: Sequence[TrialRecord]) -> None:
    """One row per trial: number, state, ``param.<key>``, ``mean.<metric>``, objective, feasible, violation."""
    keys = [p.key for p in spec.params]
    header = ["number", "state", *(f"param.{k}" for k in keys), *(f"mean.{m}" for m in spec.metrics),
              "objective", "feasible", "violation", "error"]
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        for r in records:
            w.writerow([r.number, r.state, *(_cell(r.params.get(k)) for k in keys),
                        *(_cell(r.metrics.get(m, math.nan)) for m in spec.metrics),
                        _cell(r.objective), _cell(r.feasible), _cell(r.violation), r.error])


def best_dict(best: TrialRecord | None) -> dict[str, Any]:
    """best.json: the best trial's number, parameters, objective, metric means and feasibility."""
    if best is None:
        return {"number": None, "params": None, "objective": None, "feasible": None, "violation": None,
                "metrics": None}
    return {"number": best.number, "params": best.params, "objective": _json_value(best.objective),
            "feasible": best.feasible, "violation": _json_value(best.violation),
            "metrics": {m: _json_value(v) for m, v in best.metrics.items()}}


#: ``draw(folder, spec, records, best, dpi)``: the figures of a tune folder being filled
#: (:func:`reports.tune_figures.draw_tune_figures`)
DrawTune = Callable[[Path, TuneSpec, Sequence[TrialRecord], "TrialRecord | None", int], Any]


def write_outputs(out: Path, spec: TuneSpec, records: Sequence[TrialRecord], meta: dict[str, Any],
                  dpi: int = DPI, draw: DrawTune | None = None) -> Path:
    """Write every output to ``out`` atomically (a temporary sibling folder, then renamed); ``draw``
    adds the figures."""
    def fill(tmp: Path) -> None:
        best = best_trial(records)
        (tmp / BEST).write_text(json.dumps(best_dict(best), indent=2) + "\n", encoding="utf-8")
        (tmp / META).write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")
        write_trials_csv(tmp / TRIALS, spec, records)
        if draw is not None:
            draw(tmp, spec, records, best, dpi)

    return publish_folder(out, fill, "tune")


def check_out_dir(out: Path, protect: Sequence[Path] = ()) -> None:
    """Refuse an ``out`` that is not absent, empty or an earlier tune folder holding only its own files,
    or that contains one of ``protect`` (the tune file) or the current folder."""
    check_out_path(out, protect)
    check_replaceable(out, "tune")
