"""What a tune writes: the trial table, the best trial, metadata and two figures.

Pure functions of the finished trials (no simulation, no Optuna), so they are tested on
constructed trials. Figures use the report style (Agg canvas, no timestamps in the PNG), so
the same trials give byte-identical files.
"""
from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.publish import check_out_path, check_replaceable, publish_folder
from sim.tune_spec import TuneSpec

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


def write_outputs(out: Path, spec: TuneSpec, records: Sequence[TrialRecord], meta: dict[str, Any],
                  dpi: int = DPI) -> Path:
    """Write every output to ``out`` atomically (a temporary sibling folder, then renamed)."""
    def fill(tmp: Path) -> None:
        best = best_trial(records)
        (tmp / BEST).write_text(json.dumps(best_dict(best), indent=2) + "\n", encoding="utf-8")
        (tmp / META).write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")
        write_trials_csv(tmp / TRIALS, spec, records)
        draw_history(tmp / HISTORY, records, best, dpi)
        pair = spec.pareto_pair()
        if pair is not None:
            draw_pareto(tmp / PARETO, records, best, pair, (spec.maximized(pair[0]), spec.maximized(pair[1])),
                        dpi)

    return publish_folder(out, fill, "tune")


def check_out_dir(out: Path, protect: Sequence[Path] = ()) -> None:
    """Refuse an ``out`` that is not absent, empty or an earlier tune folder holding only its own files,
    or that contains one of ``protect`` (the tune file) or the current folder."""
    check_out_path(out, protect)
    check_replaceable(out, "tune")


# ---------------------------------------------------------------------------------- figures
FEASIBLE_COLOR, INFEASIBLE_COLOR, BEST_COLOR = "#1F4E9C", "#A0A0A0", "#C0392B"


def draw_history(path: Path, records: Sequence[TrialRecord], best: TrialRecord | None, dpi: int = DPI) -> Path:
    """Objective of every completed trial (feasible filled, infeasible grey) and the best feasible so far."""
    from reports.style import SIZE_WIDE, empty_panel, new_figure, save  # noqa: PLC0415 - figures only

    fig = new_figure(SIZE_WIDE, dpi)
    ax = fig.add_subplot()
    done = [r for r in records if r.state == COMPLETE and math.isfinite(r.objective)]
    feas = [r for r in done if r.feasible]
    infeas = [r for r in done if not r.feasible]
    if feas:
        ax.scatter([r.number for r in feas], [r.objective for r in feas], s=22, color=FEASIBLE_COLOR,
                   label="trial (feasible)", zorder=3)
    if infeas:
        ax.scatter([r.number for r in infeas], [r.objective for r in infeas], s=22, marker="x",
                   color=INFEASIBLE_COLOR, label="trial (infeasible)", zorder=2)
    xs, ys, so_far = [], [], math.inf
    for r in sorted(feas, key=lambda r: r.number):
        so_far = min(so_far, r.objective)
        xs.append(r.number)
        ys.append(so_far)
    if xs:
        last = max(r.number for r in records)
        ax.step([*xs, last], [*ys, ys[-1]], where="post", color=BEST_COLOR, lw=1.8, label="best feasible so far")
    if not done:
        empty_panel(ax, "no trial completed")
    ax.set_xlabel("trial")
    ax.set_ylabel("objective (lower is better)")
    title = "optimization history" + (f": best trial {best.number}, objective {best.objective:.4g}"
                                      if best is not None else "")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if done:
        ax.legend(loc="upper right", frameon=False)
    save(fig, path, dpi)
    return path


def draw_pareto(path: Path, records: Sequence[TrialRecord], best: TrialRecord | None, pair: tuple[str, str],
                maximize: tuple[bool, bool], dpi: int = DPI) -> Path:
    """The two metrics of every completed trial and the non-dominated front of the feasible ones."""
    from reports.style import SIZE_WIDE, empty_panel, new_figure, save  # noqa: PLC0415 - figures only

    fig = new_figure(SIZE_WIDE, dpi)
    ax = fig.add_subplot()
    a, b = pair
    done = [r for r in records if r.state == COMPLETE
            and math.isfinite(r.metrics.get(a, math.nan)) and math.isfinite(r.metrics.get(b, math.nan))]
    feas = [r for r in done if r.feasible]
    infeas = [r for r in done if not r.feasible]
    if infeas:
        ax.scatter([r.metrics[a] for r in infeas], [r.metrics[b] for r in infeas], s=22, marker="x",
                   color=INFEASIBLE_COLOR, label="trial (infeasible)", zorder=2)
    if feas:
        pts = [(r.metrics[a], r.metrics[b]) for r in feas]
        ax.scatter(*zip(*pts), s=22, color=FEASIBLE_COLOR, label="trial (feasible)", zorder=3)
        front = [pts[i] for i in pareto_front(pts, maximize)]
        ax.plot(*zip(*front), color=FEASIBLE_COLOR, lw=1.5, ls="--", label="non-dominated front (feasible)",
                zorder=2)
    if best is not None and best in done:
        ax.scatter([best.metrics[a]], [best.metrics[b]], s=160, marker="*", color=BEST_COLOR,
                   label=f"best trial ({best.number}{'' if best.feasible else ', infeasible'})", zorder=4)
    if not done:
        empty_panel(ax, "no completed trial with both metrics defined")
    better = {False: "lower is better", True: "higher is better"}
    ax.set_xlabel(f"{a} ({better[maximize[0]]})")
    ax.set_ylabel(f"{b} ({better[maximize[1]]})")
    ax.set_title(f"trade-off over {len(done)} trials")
    ax.grid(alpha=0.3)
    if done:
        ax.legend(loc="best", frameon=False)
    save(fig, path, dpi)
    return path
