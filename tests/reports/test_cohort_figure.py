"""The cohort figure (cohorts.png) of a mixed fleet, through matplotlib's objects."""
from __future__ import annotations

import pytest
from test_run_figures import problems

from reports.cohort_figure import make_cohorts
from sim.runner import run
from sim.scenario import default_scenario

BASE = {"run.days": 0.25, "fleet.vehicles": 120, "report.figures": False, "run.warmup_days": 0.0}
MIXED = [
    {"name": "old", "share": 0.5, "chip": {"preset": "hw3"}, "model": {"preset": "llama-3.2-3b-q4"}},
    {"name": "new", "share": 0.25, "chip": {"preset": "ai5_claimed"}},
    {"name": "off", "share": 0.15, "opt_in_share": 0.0},
    {"name": "cab", "share": 0.1, "profile": "robotaxi"},
]


@pytest.fixture(scope="module")
def mixed():
    return run(default_scenario().with_overrides({**BASE, "fleet.cohorts": MIXED}))


def test_the_cohort_figure_stacks_each_cohorts_available_power(mixed):
    fig = make_cohorts(mixed, dpi=60)
    top, left, right = fig.axes[:3]
    names = [c["name"] for c in mixed.summary["cohorts"]]
    assert [t.get_text() for t in top.get_legend().get_texts()] == list(reversed(names))
    unit = top.get_ylabel().split("(")[-1].rstrip(")")
    scale = {"W": 1.0, "kW": 1e3, "MW": 1e6, "GW": 1e9}[unit]
    polys = [c for c in top.collections if str(c.get_gid()).startswith("cohort:")]
    tops = polys[-1].get_paths()[0].vertices[:, 1].max() * scale
    assert tops == pytest.approx(mixed.timeseries["available_inference_w"].max(), rel=1e-9)
    assert top.get_ylim()[1] * scale >= tops
    assert left.get_xlabel().endswith("(%)") and right.get_xlabel().startswith("kWh per million tokens")
    labels = [t.get_text() for t in right.get_yticklabels()]
    assert "off" not in labels and {"old", "new", "cab"} <= set(labels)  # no tokens: no bar
    assert make_cohorts(run(default_scenario().with_overrides(BASE))) is None  # one cohort: no figure
    fig.canvas.draw()
    assert problems(fig, "cohorts.png") == []  # the run figures' checks: labels, limits, legends, clipping
