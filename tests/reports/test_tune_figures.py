"""The tune folder's figures and end-of-tune summary, checked through matplotlib's objects and the text."""
from __future__ import annotations

import re
import tomllib

import pytest
from matplotlib.figure import Figure

from reports.tune_figures import maximized, plot_history, plot_pareto
from sim import cli
from sim.studies import tune as tune_module
from sim.studies.tune_output import FAIL, TrialRecord, best_trial, format_best, pareto_front
from sim.studies.tune_spec import parse_tune

CO2, SLO, TRIPS = "comparison.fleet.g_co2_per_million_tokens", "jobs.slo_attainment", "fleet.trips_impacted"
TUNE = f"""
[tune]
trials = 4
seeds = 2
pareto = ["{CO2}", "{SLO}"]
[params]
"dispatch.params.w_load" = {{ low = 0.0, high = 5.0 }}
[objective]
"{CO2}" = 1.0
[[constraints]]
metric = "{SLO}"
min = 0.95
[[constraints]]
metric = "{TRIPS}"
max = 0
"""
RAW_KEY = re.compile(r"[a-z_]\.[a-z_]")


def _spec(text: str = TUNE):
    return parse_tune(tomllib.loads(text))


def _trial(number: int, co2: float, slo: float, seeds: tuple[float, float], violation: float = 0.0) -> TrialRecord:
    return TrialRecord(number, {"dispatch.params.w_load": 0.5 + number}, metrics={CO2: co2, SLO: slo, TRIPS: 0.0},
                       objective=co2, violation=violation, replicate_objectives=seeds)


TRIALS = [_trial(0, 1584.0, 0.99884, (1559.2, 1608.8)), _trial(1, 1585.3, 0.99886, (1560.1, 1610.5)),
          _trial(2, 1583.8, 0.99880, (1558.9, 1608.7)), _trial(3, 1570.0, 0.90, (1550.0, 1590.0), violation=0.05),
          _trial(4, 1600.0, 0.99890, (1590.0, 1610.0)), TrialRecord(5, {}, state=FAIL)]


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
    assert labels == ["trial (feasible)", "trial (infeasible)", "best feasible so far"]  # no seeds: no band
    lo, hi = ax.get_ylim()
    assert all(lo <= r.objective <= hi for r in records if r.state != FAIL)


def test_history_shades_the_best_trials_range_over_seeds():
    ax = Figure().add_subplot()
    best = best_trial(TRIALS)
    assert best.number == 2
    plot_history(ax, TRIALS, best, _spec())
    (band,) = [p for p in ax.patches if p.get_gid() == "history:band"]  # the best trial's seeds, in data units
    assert (band.get_y(), band.get_y() + band.get_height()) == pytest.approx((1558.9, 1608.7))
    lo, hi = ax.get_ylim()
    assert lo <= 1558.9 and 1610.0 <= hi  # the band and every trial inside
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "best trial's range over its 2 seeds (noise)" in labels
    assert ax.get_ylabel() == "objective (g CO₂/million tokens), lower is better"
    title = ax.get_title()
    assert title.startswith("optimization history of fleet CO₂ per million tokens: best trial 2, objective 1,584 g CO₂")
    assert "4 of the 4 other completed trials lie within the best trial's range" in title
    assert not any(RAW_KEY.search(t) for t in (title, ax.get_ylabel(), *labels))


def test_tune_pareto_says_higher_attainment_is_better_and_draws_the_front():
    spec = _spec()
    assert maximized(spec, SLO) and not maximized(spec, CO2) and not maximized(spec, TRIPS)
    assert maximized(_spec(TUNE.replace(f'"{CO2}" = 1.0', f'"{CO2}" = 1.0\n"{SLO}" = 5.0')), SLO) is False
    ax = Figure().add_subplot()
    plot_pareto(ax, TRIALS, best_trial(TRIALS), spec.pareto_pair(), (False, True))
    assert ax.get_ylabel() == "SLO attainment (%) (higher is better)"
    assert ax.get_xlabel() == "fleet CO₂ per million tokens (g CO₂/million tokens) (lower is better)"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "Pareto front of the feasible trials (no other is better on both)" in legend
    (front,) = [ln for ln in ax.get_lines() if ln.get_gid() == "tune:front"]
    feasible = [(r.metrics[CO2], 100 * r.metrics[SLO]) for r in TRIALS if r.feasible]
    expected = [feasible[i] for i in pareto_front(feasible, (False, True))]
    assert len(expected) == 4  # each feasible trial: more CO2 buys more attainment; the infeasible one is left out
    xs, ys = front.get_data()
    for x, y in expected:  # the step line passes through every front point
        assert any(abs(a - x) < 1e-9 and abs(b - y) < 1e-9 for a, b in zip(xs, ys))
    lo, hi = ax.get_ylim()
    assert lo <= 90.0 and 99.89 <= hi  # the infeasible trial (90 %) inside too
    assert ax.yaxis.get_offset_text().get_text() == ""  # no "1e-5+9.988e-1" offset
    assert not any(RAW_KEY.search(t) for t in (ax.get_title(), ax.get_xlabel(), ax.get_ylabel(), *legend))


def test_best_trial_printout_is_readable():
    text = format_best(_spec(), best_trial(TRIALS), len(TRIALS))
    assert "TrialRecord(" not in text
    assert text.splitlines()[0] == "best trial: 2 of 6 (meets every constraint)"
    assert "dispatch.params.w_load  2.5" in text
    assert "objective: 1,584 g CO2/million tokens (over 2 seeds: 1,559 to 1,609 g CO2/million tokens)" in text
    assert re.search(r"SLO attainment +99\.88 %", text) and re.search(r"trips impacted +0$", text, re.M)
    assert format_best(_spec(), None, 3) == "no trial completed: all 3 failed (their errors are in trials.csv)"


def test_tune_command_prints_the_summary_not_a_repr(tmp_path, monkeypatch, capsys):
    path = tmp_path / "t.toml"
    path.write_text(TUNE.replace("[params]", '[set]\n"run.days" = 0.05\n"fleet.vehicles" = 10\n[params]'))
    spec = tune_module.load_tune(path)

    def fake_run_tune(spec_, out, **_):
        return tune_module.TuneResult(out, best_trial(TRIALS), TRIALS, spec_)

    monkeypatch.setattr(tune_module, "run_tune", fake_run_tune)
    assert cli.main(["tune", str(path), "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "TrialRecord(" not in out and out.startswith("best trial: 2 of 6 (meets every constraint)")
    assert f"tune folder: {tmp_path / 'out'}" in out and spec.trials == 4
