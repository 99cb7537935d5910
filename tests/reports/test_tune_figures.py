"""The tune folder's history figure, checked through matplotlib's objects."""
from __future__ import annotations

from matplotlib.figure import Figure

from reports.tune_figures import plot_history
from sim.studies.tune_output import FAIL, TrialRecord, best_trial


def test_history_numbers_trials_with_whole_ticks_and_keeps_every_point_inside():
    records = [TrialRecord(0, {}, objective=3.0), TrialRecord(1, {}, objective=5.0, violation=0.2),
               TrialRecord(2, {}, objective=2.0), TrialRecord(3, {}, state=FAIL)]
    ax = Figure().add_subplot()
    plot_history(ax, records, best_trial(records))
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)
    assert ax.get_xlabel() == "trial" and ax.get_ylabel() == "objective (lower is better)"
    assert ax.get_title() == "optimization history: best trial 2, objective 2"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["trial (feasible)", "trial (infeasible)", "best feasible so far"]
    lo, hi = ax.get_ylim()
    assert all(lo <= r.objective <= hi for r in records if r.state != FAIL)
