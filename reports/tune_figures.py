"""The figures of a tune folder: the optimization history and the trade-off of two metrics.

Drawn from the trial records while ``fleetsim tune`` fills its folder (:func:`draw_tune_figures`
is the ``draw`` of :func:`sim.studies.tune_output.write_outputs`).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from reports.style import SIZE_WIDE, empty_panel, new_figure, save
from sim.studies.tune_output import COMPLETE, DPI, HISTORY, PARETO, TrialRecord, pareto_front
from sim.studies.tune_spec import TuneSpec


def draw_tune_figures(folder: Path, spec: TuneSpec, records: Sequence[TrialRecord], best: TrialRecord | None,
                      dpi: int = DPI) -> None:
    """Draw history.png, and pareto.png when the tune names a pair of metrics, into ``folder``."""
    draw_history(folder / HISTORY, records, best, dpi)
    pair = spec.pareto_pair()
    if pair is not None:
        draw_pareto(folder / PARETO, records, best, pair, (spec.maximized(pair[0]), spec.maximized(pair[1])), dpi)


FEASIBLE_COLOR, INFEASIBLE_COLOR, BEST_COLOR = "#1F4E9C", "#A0A0A0", "#C0392B"


def draw_history(path: Path, records: Sequence[TrialRecord], best: TrialRecord | None, dpi: int = DPI) -> Path:
    """history.png: :func:`plot_history` on a figure of its own."""
    fig = new_figure(SIZE_WIDE, dpi)
    plot_history(fig.add_subplot(), records, best)
    save(fig, path, dpi)
    return path


def plot_history(ax: Axes, records: Sequence[TrialRecord], best: TrialRecord | None) -> None:
    """Objective of every completed trial (feasible filled, infeasible grey) and the best feasible so
    far, on ``ax``; trials are numbered, so the trial axis has whole-number ticks only."""
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
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("objective (lower is better)")
    title = "optimization history" + (f": best trial {best.number}, objective {best.objective:.4g}"
                                      if best is not None else "")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if done:
        ax.legend(loc="upper right", frameon=False)


def draw_pareto(path: Path, records: Sequence[TrialRecord], best: TrialRecord | None, pair: tuple[str, str],
                maximize: tuple[bool, bool], dpi: int = DPI) -> Path:
    """The two metrics of every completed trial and the non-dominated front of the feasible ones."""
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
