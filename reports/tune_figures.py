"""The figures of a tune folder: the optimization history and the trade-off of two metrics.

Drawn from the trial records while ``fleetsim tune`` fills its folder (:func:`draw_tune_figures`
is the ``draw`` of :func:`sim.studies.tune_output.write_outputs`). Metrics are named, scaled and
formatted as in the sweep figures (:func:`reports.sweep_figures.metric_display`, from the results
catalogue).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from reports.style import SIZE_WIDE, empty_panel, new_figure, save
from reports.sweep_figures import (
    MetricDisplay,
    ReadableFormatter,
    better,
    front_step,
    higher_is_better,
    metric_display,
    pretty,
)
from sim.results import catalog
from sim.studies.tune_output import COMPLETE, DPI, HISTORY, PARETO, TrialRecord, objective_text, pareto_front
from sim.studies.tune_spec import TuneSpec

FEASIBLE_COLOR, INFEASIBLE_COLOR, BEST_COLOR = "#1F4E9C", "#A0A0A0", "#C0392B"


def draw_tune_figures(folder: Path, spec: TuneSpec, records: Sequence[TrialRecord], best: TrialRecord | None,
                      dpi: int = DPI) -> None:
    """Draw history.png, and pareto.png when the tune names a pair of metrics, into ``folder``."""
    draw_history(folder / HISTORY, records, best, dpi, spec)
    pair = spec.pareto_pair()
    if pair is not None:
        draw_pareto(folder / PARETO, records, best, pair, (maximized(spec, pair[0]), maximized(spec, pair[1])), dpi)


def maximized(spec: TuneSpec, metric: str) -> bool:
    """Whether more of ``metric`` is better for this tune: a negative objective weight says so, a
    positive one says less; else a lower bound alone says more and an upper bound alone says less
    (``jobs.slo_attainment >= 0.95``); else the metric's nature
    (:func:`reports.sweep_figures.higher_is_better`)."""
    weight = spec.objective.get(metric, 0.0)
    if weight:
        return weight < 0
    bounds = [c for c in spec.constraints if c.metric == metric]
    has_min, has_max = any(c.min is not None for c in bounds), any(c.max is not None for c in bounds)
    if has_min != has_max:
        return has_min
    return higher_is_better(metric)


def objective_display(spec: TuneSpec | None, values: Sequence[float]) -> MetricDisplay:
    """How the objective is drawn: in its metric's scaled unit when it is one metric with weight 1
    (labelled with that metric), else as a plain number labelled ``objective``."""
    if spec is not None and len(spec.objective) == 1 and next(iter(spec.objective.values())) == 1.0:
        return metric_display(next(iter(spec.objective)), values)
    return MetricDisplay("objective")


def objective_formula(spec: TuneSpec) -> str:
    """``objective = 1 × CO₂ emissions − 100 × SLO attainment`` (catalogue labels, stored units)."""
    terms = []
    for k, (metric, w) in enumerate(spec.objective.items()):
        sign = ("− " if w < 0 else "") if k == 0 else ("− " if w < 0 else "+ ")
        terms.append(f"{sign}{abs(w):g} × {pretty(catalog.metric_label(metric))}")
    return "objective = " + " ".join(terms)


def draw_history(path: Path, records: Sequence[TrialRecord], best: TrialRecord | None, dpi: int = DPI,
                 spec: TuneSpec | None = None) -> Path:
    """history.png: :func:`plot_history` on a figure of its own."""
    fig = new_figure(SIZE_WIDE, dpi)
    plot_history(fig.add_subplot(), records, best, spec)
    save(fig, path, dpi)
    return path


def plot_history(ax: Axes, records: Sequence[TrialRecord], best: TrialRecord | None,
                 spec: TuneSpec | None = None) -> None:
    """Objective of every completed trial (feasible filled, infeasible grey), the best feasible so far,
    and the best trial's range over its replicate seeds as a shaded band: trials inside the band differ
    by less than the seeds make one trial differ. Trials are numbered, so the trial axis has
    whole-number ticks only. With ``spec``, the objective is labelled with its metric and unit."""
    done = [r for r in records if r.state == COMPLETE and math.isfinite(r.objective)]
    disp = objective_display(spec, [r.objective for r in done])
    f = disp.factor
    feas = [r for r in done if r.feasible]
    infeas = [r for r in done if not r.feasible]
    if feas:
        ax.scatter([r.number for r in feas], [r.objective * f for r in feas], s=22, color=FEASIBLE_COLOR,
                   label="trial (feasible)", zorder=3)
    if infeas:
        ax.scatter([r.number for r in infeas], [r.objective * f for r in infeas], s=22, marker="x",
                   color=INFEASIBLE_COLOR, label="trial (infeasible)", zorder=2)
    xs, ys, so_far = [], [], math.inf
    for r in sorted(feas, key=lambda r: r.number):
        so_far = min(so_far, r.objective)
        xs.append(r.number)
        ys.append(so_far * f)
    if xs:
        last = max(r.number for r in records)
        ax.step([*xs, last], [*ys, ys[-1]], where="post", color=BEST_COLOR, lw=1.8, label="best feasible so far")
    band = best.seed_range if best is not None and best in done else None
    if band is not None:
        ax.axhspan(band[0] * f, band[1] * f, color=BEST_COLOR, alpha=0.12, lw=0, zorder=1, gid="history:band",
                   label=f"best trial's range over its {len(best.replicate_objectives)} seeds (noise)")
    if not done:
        empty_panel(ax, "no trial completed")
    ax.set_xlabel("trial")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_formatter(ReadableFormatter())
    ax.set_ylabel(f"objective ({disp.unit}), lower is better" if disp.unit else "objective (lower is better)")
    ax.set_title(_history_title(spec, best, band, done))
    ax.grid(alpha=0.3)
    if done:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=4, frameon=False, fontsize=9)


def _history_title(spec: TuneSpec | None, best: TrialRecord | None, band: tuple[float, float] | None,
                   done: Sequence[TrialRecord]) -> str:
    """``optimization history of fleet CO₂ per million tokens: best trial 4, 1,584 g CO₂/million tokens``,
    the objective's formula when it weighs several metrics, and with a noise band how many of the other
    trials lie inside it."""
    label = objective_display(spec, []).label
    head = "optimization history" + (f" of {label}" if label != "objective" else "")
    if best is None:
        return head
    value = objective_text(spec, best.objective) if spec is not None else f"{best.objective:.4g}"
    lines = [f"{head}: best trial {best.number}, objective {pretty(value)}"]
    if spec is not None and label == "objective":
        lines.append(objective_formula(spec))
    if band is not None:
        inside = sum(band[0] <= r.objective <= band[1] for r in done if r is not best)
        lines.append(f"{inside} of the {len(done) - 1} other completed trials lie within the best trial's range over "
                     "seeds: their differences are within the noise")
    return "\n".join(lines)


def draw_pareto(path: Path, records: Sequence[TrialRecord], best: TrialRecord | None, pair: tuple[str, str],
                maximize: tuple[bool, bool], dpi: int = DPI) -> Path:
    """pareto.png: :func:`plot_pareto` on a figure of its own."""
    fig = new_figure(SIZE_WIDE, dpi)
    plot_pareto(fig.add_subplot(), records, best, pair, maximize)
    save(fig, path, dpi)
    return path


def plot_pareto(ax: Axes, records: Sequence[TrialRecord], best: TrialRecord | None, pair: tuple[str, str],
                maximize: tuple[bool, bool]) -> None:
    """The two metrics of every completed trial and the Pareto front of the feasible ones as a step
    line (circled points), each axis labelled with its metric, unit and direction, on ``ax``."""
    a, b = pair
    done = [r for r in records if r.state == COMPLETE
            and math.isfinite(r.metrics.get(a, math.nan)) and math.isfinite(r.metrics.get(b, math.nan))]
    da, db = metric_display(a, [r.metrics[a] for r in done]), metric_display(b, [r.metrics[b] for r in done])
    feas = [r for r in done if r.feasible]
    infeas = [r for r in done if not r.feasible]
    if infeas:
        ax.scatter([r.metrics[a] * da.factor for r in infeas], [r.metrics[b] * db.factor for r in infeas], s=22,
                   marker="x", color=INFEASIBLE_COLOR, label="trial (infeasible)", zorder=2)
    if feas:
        pts = [(r.metrics[a] * da.factor, r.metrics[b] * db.factor) for r in feas]
        ax.scatter(*zip(*pts), s=22, color=FEASIBLE_COLOR, label="trial (feasible)", zorder=3)
        front = [pts[i] for i in pareto_front(pts, maximize)]
        ax.step(*zip(*front), where=front_step(not maximize[0]), color=FEASIBLE_COLOR, lw=1.6, marker="o", ms=9,
                mfc="none", zorder=2, gid="tune:front",
                label="Pareto front of the feasible trials (no other is better on both)")
    if best is not None and best in done:
        ax.scatter([best.metrics[a] * da.factor], [best.metrics[b] * db.factor], s=160, marker="*",
                   color=BEST_COLOR, label=f"best trial ({best.number}{'' if best.feasible else ', infeasible'})",
                   zorder=4)
    if not done:
        empty_panel(ax, "no completed trial with both metrics defined")
    ax.set_xlabel(f"{da.text} ({better(not maximize[0])})")
    ax.set_ylabel(f"{db.text} ({better(not maximize[1])})")
    ax.set_title(f"trade-off over {len(done)} trials: {db.label} against {da.label}")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(ReadableFormatter())
    ax.margins(0.08)
    ax.grid(alpha=0.3)
    if done:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3, frameon=False, fontsize=9)
