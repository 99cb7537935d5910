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

from sim.core import quantities
from sim.publish import check_out_path, check_replaceable, publish_folder
from sim.results import catalog
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
    replicate_objectives: tuple[float, ...] = ()  # the objective of each replicate seed (empty: not known)

    @property
    def feasible(self) -> bool | None:
        """Whether every constraint holds (None for a failed trial)."""
        return None if self.state != COMPLETE else self.violation <= 0.0

    @property
    def seed_range(self) -> tuple[float, float] | None:
        """Lowest and highest objective over the replicate seeds (None with fewer than two known)."""
        v = [x for x in self.replicate_objectives if math.isfinite(x)]
        return (min(v), max(v)) if len(v) >= 2 else None


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


# ---------------------------------------------------------------------------------- printout
def _sig(x: float, digits: int = 4) -> str:
    """``x`` to ``digits`` significant digits with thousands separators (``1,584``, ``0.1369``)."""
    if x == 0 or not math.isfinite(x):
        return "0" if x == 0 else str(x)
    return f"{x:,.{max(0, digits - 1 - math.floor(math.log10(abs(x))))}f}"


#: catalogue unit -> the value (in that unit) as the command line writes it, unit included
_FORMATS: dict[str, Callable[[float], str]] = {
    "share (0..1)": lambda v: f"{_sig(100.0 * v)} %",
    "GW": lambda v: quantities.power_w(v * 1e9),
    "kW": lambda v: quantities.power_w(v * 1e3),
    "W": quantities.power_w,
    "kWh": quantities.energy_kwh,
    "Wh": lambda v: quantities.energy_kwh(v / 1e3),
    "kg CO2": quantities.co2_kg,
    "g CO2": lambda v: quantities.co2_kg(v / 1e3),
    "$": quantities.usd,
}


def format_metric(metric: str, value: float) -> str:
    """A metric's value as a reader wants it, with the results catalogue's unit scaled to fit:
    ``99.88 %``, ``75.3 kW``, ``1,584 g CO2/million tokens``, ``0``; ``n/a`` when undefined."""
    if value is None or not math.isfinite(value):
        return "n/a"
    unit = catalog.metric_unit(metric)
    if unit in _FORMATS:
        return _FORMATS[unit](value)
    number = quantities.count(value) if float(value).is_integer() else _sig(value)
    return number if unit in (None, "", "count", "ratio", "index (0..1)") else f"{number} {unit}"


def _param(value: Any) -> str:
    return _sig(value) if isinstance(value, float) else str(value)


def objective_text(spec: TuneSpec, value: float) -> str:
    """The objective's value: in its metric's unit when it is one metric with weight 1, else a number."""
    if len(spec.objective) == 1 and next(iter(spec.objective.values())) == 1.0:
        return format_metric(next(iter(spec.objective)), value)
    return _sig(value) if math.isfinite(value) else "n/a"


def format_best(spec: TuneSpec, best: TrialRecord | None, trials: int) -> str:
    """The end-of-tune summary of the best trial: its number, feasibility, parameters, objective (with
    its spread over the seeds) and every metric's mean over the seeds, labelled and with units."""
    if best is None:
        return f"no trial completed: all {trials} failed (their errors are in {TRIALS})"
    verdict = ("meets every constraint" if best.feasible
               else "breaks a constraint: no trial met them all, this one breaks them least")
    lines = [f"best trial: {best.number} of {trials} ({verdict})", "  parameters:"]
    width = max((len(k) for k in best.params), default=0)
    lines += [f"    {k:<{width}}  {_param(v)}" for k, v in best.params.items()]
    seeds = best.seed_range
    spread = ""
    if seeds is not None:
        low, high = (objective_text(spec, v) for v in seeds)
        if low.partition(" ")[2] == high.partition(" ")[2]:  # the same unit: written once
            low = low.partition(" ")[0]
        spread = f" (over {len(best.replicate_objectives)} seeds: {low} to {high})"
    lines.append(f"  objective: {objective_text(spec, best.objective)}{spread}")
    n = len(best.replicate_objectives)
    lines.append(f"  metrics, mean over {n} seed{'s' * (n != 1)}:" if n else "  metrics:")
    labels = {m: catalog.metric_label(m) for m in best.metrics}
    width = max((len(v) for v in labels.values()), default=0)
    lines += [f"    {labels[m]:<{width}}  {format_metric(m, v)}" for m, v in best.metrics.items()]
    return "\n".join(lines)


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
