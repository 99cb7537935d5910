"""The run figures read through matplotlib's objects, on small real runs.

Every figure of :data:`reports.figures.FIGURES`: each panel has data or says why it is empty, axis
labels carry units, plotted data stay inside the axis limits unless a clip note says what is off
scale, every filled area and labelled bar is in a legend, no axis shows an offset or exponent, and
titles, labels and legends lie inside the figure. Then the fixes of the figures one by one: the
dispatch figure leaves out empty panels, grid and power clip a start-up peak with a note, the power
stack plus battery storage equals the grid draw, the utilization stack adds up to the nameplate,
a represented fleet of millions is counted in millions, and dates are shown only at midnights. Last,
what a look at every example's figures found: time and colour-bar tick labels that ran into each other,
percent ticks with needless decimals, legend numbers in the axis's unit (``0.0086 TWh``), a round-off
battery share written with an exponent, a policy file's whole path in a title, waits of milliseconds in
seconds, a data-center note wider than the figure, and tokens of the simulated cars credited to the
represented fleet.
"""
from __future__ import annotations

import dataclasses
import re

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.container import BarContainer
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator

from reports import energy_figures, figures, page, style
from sim.core.quantities import POWER_UNITS
from sim.results import Results
from sim.runner import run
from sim.scenario import default_scenario

DPI = 50  # enough to measure every box; the layout is in inches and points, not pixels
TOL_PX = 1.5  # drawing tolerance at the axes' edges
SMALL = {"run.days": 0.5, "fleet.vehicles": 60}
#: single-slot chips under a heavy load from 08:00: jobs queue and wait
BUSY = {"run.days": 0.15, "fleet.vehicles": 20, "fleet.chip.slots": 1, "workload.interactive.rate_per_s": 0.6,
        "workload.batch.rate_per_s": 0.02, "run.start": "2022-06-06T08:00:00 America/Los_Angeles"}
#: no warm-up: the fleet starts with its batteries low and charges at once, a start-up peak
NO_WARMUP = {"run.days": 2.0, "fleet.vehicles": 30, "run.warmup_days": 0}
#: an evening hour and a bit, as azure_replay: no midnight on the axis
EVENING = {"run.days": 0.05, "fleet.vehicles": 30, "run.sample_interval_s": 60, "run.warmup_days": 0,
           "run.start": "2022-06-07T18:00:00 America/Los_Angeles"}
#: 20 cars standing for 2.5 million, as musk_100gw's 2,000 for 100 million
MILLIONS = {"run.days": 0.1, "fleet.vehicles": 20, "fleet.weight": 125_000}
BATCHED = {"run.days": 0.05, "fleet.vehicles": 20, "workload.interactive.rate_per_s": 0.5,
           "workload.batch.rate_per_s": 0.5, "fleet.chip.serving": "batched"}
#: two cohorts of ten cars: cohorts.png is drawn
COHORTS = {"run.days": 0.1, "fleet.vehicles": 20, "fleet.cohorts": [
    {"name": "hw3", "share": 0.5, "chip": {"preset": "hw3"}, "model": {"preset": "llama-3.2-3b-q4"}},
    {"name": "hw4", "share": 0.5}]}
UNIT = re.compile(r"\(.+\)|%|\$|/|\bper\b")  # a unit in parentheses, a rate, or a share
NUMBER = re.compile(r"[−\-+]?[\d,.]+\s*%?")
CLOCK = re.compile(r"^\d\d:\d\d(:\d\d)?$")
DATE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d\d [A-Z][a-z]{2}$")


def _run(overrides: dict) -> Results:
    return run(default_scenario().with_overrides(overrides))


@pytest.fixture(scope="module")
def small() -> Results:
    return _run(SMALL)


@pytest.fixture(scope="module")
def no_warmup() -> Results:
    return _run(NO_WARMUP)


@pytest.fixture(scope="module")
def batched() -> Results:
    return _run(BATCHED)


@pytest.fixture(scope="module")
def millions() -> Results:
    return _run(MILLIONS)


@pytest.fixture(scope="module")
def drawn(small) -> dict[str, Figure]:
    """Every figure the small run has data for, drawn once (``serving.png`` only for batched runs)."""
    out = {}
    for name, make in figures.FIGURES.items():
        fig = make(small, DPI)
        if fig is not None:
            fig.canvas.draw()
            out[name] = fig
    return out


# ------------------------------------------------------------------------------ what every figure holds
def _data_axes(fig: Figure) -> list[Axes]:
    """The figure's panels and their twins; colour bars left out."""
    return [ax for ax in fig.axes if getattr(ax, "_colorbar", None) is None]


def _display_points(artist) -> np.ndarray:
    """An artist's data points in display pixels (finite ones)."""
    if isinstance(artist, PathCollection) and len(artist.get_offsets()):
        pts = artist.get_offset_transform().transform(np.asarray(artist.get_offsets(), dtype=float))
    elif hasattr(artist, "get_xydata"):
        pts = artist.get_transform().transform(np.asarray(artist.get_xydata(), dtype=float))
    elif hasattr(artist, "get_paths"):
        paths = [p.vertices for p in artist.get_paths() if len(p.vertices)]
        pts = artist.get_transform().transform(np.concatenate(paths)) if paths else np.zeros((0, 2))
    else:  # a patch: its path through its own transform (a bar: the unit square scaled)
        pts = artist.get_transform().transform(artist.get_path().vertices)
    return pts[np.isfinite(pts).all(axis=1)]


def _outside(ax: Axes) -> list[str]:
    """Names of the plotted lines, areas, markers and bars reaching beyond the axes' box."""
    box = ax.get_window_extent()
    out = []
    for art in (*ax.get_lines(), *ax.collections, *ax.patches):
        pts = _display_points(art) if art.get_visible() else np.zeros((0, 2))
        if len(pts) and (pts[:, 0].min() < box.x0 - TOL_PX or pts[:, 0].max() > box.x1 + TOL_PX
                         or pts[:, 1].min() < box.y0 - TOL_PX or pts[:, 1].max() > box.y1 + TOL_PX):
            out.append(art.get_gid() or art.get_label())
    return out


def _clip_notes(ax: Axes) -> list[str]:
    return [t.get_text() for t in ax.texts if t.get_gid() == style.CLIP_NOTE_GID and t.get_visible()]


def _has_data(ax: Axes) -> bool:
    return any(len(_display_points(a)) for a in (*ax.get_lines(), *ax.collections, *ax.patches) if a.get_visible())


def _says_why_empty(ax: Axes) -> bool:
    return any(t.get_visible() and t.get_text().startswith("no ") for t in ax.texts)


def _legend_texts(fig: Figure) -> set[str]:
    legends = [*(ax.get_legend() for ax in fig.axes), *fig.legends]
    return {t.get_text() for lg in legends if lg is not None for t in lg.get_texts()}


def _categorical(axis) -> bool:
    """A linear axis whose fixed ticks are named rather than numbered ("fleet", "sources")."""
    if not isinstance(axis.get_major_locator(), FixedLocator) or axis.get_scale() != "linear":
        return False
    names = [t.get_text() for t in axis.get_ticklabels() if t.get_text()]
    return bool(names) and not any(NUMBER.fullmatch(n) for n in names)


def _labels_shown(axis) -> bool:
    return axis.get_visible() and any(t.get_visible() and t.get_text() for t in axis.get_ticklabels())


def _text_boxes(fig: Figure) -> dict[str, object]:
    """Window extents of the figure's titles, axis labels and legends, by a readable name."""
    r = fig.canvas.get_renderer()
    boxes = {}
    titles = [fig._suptitle, fig._supxlabel]  # matplotlib keeps the figure's titles there
    for ax in fig.axes:
        titles += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label]
    for t in titles:
        if t is not None and t.get_visible() and t.get_text():
            boxes[t.get_text()] = t.get_window_extent(r)
    for lg in [*(ax.get_legend() for ax in fig.axes), *fig.legends]:
        if lg is not None:
            boxes[f"legend {lg.get_title().get_text()!r}"] = lg.get_window_extent(r)
    return boxes


def problems(fig: Figure, name: str) -> list[str]:
    """What keeps a drawn run figure from reading cleanly (empty when nothing does)."""
    legend = _legend_texts(fig)
    found = []
    for i, ax in enumerate(_data_axes(fig)):
        where = f"{name} axes {i}"
        if not (_has_data(ax) or _says_why_empty(ax)):
            found.append(f"{where}: no data and no note saying why")
        if _has_data(ax) and not _categorical(ax.yaxis) and not UNIT.search(ax.get_ylabel()):
            found.append(f"{where}: y label {ax.get_ylabel()!r} names no unit")
        if _has_data(ax) and _labels_shown(ax.xaxis) and not _categorical(ax.xaxis) \
                and not UNIT.search(ax.get_xlabel()):
            found.append(f"{where}: x label {ax.get_xlabel()!r} names no unit")
        outside = _outside(ax)
        if outside and not _clip_notes(ax):
            found.append(f"{where}: {outside} beyond the limits and no clip note")
        found += [f"{where}: filled area {c.get_label()!r} not in a legend" for c in ax.collections
                  if isinstance(c, PolyCollection) and c.get_visible() and c.get_label() not in legend]
        for bars in (c for c in ax.containers if isinstance(c, BarContainer)):
            label = bars.get_label() or ""
            named = bool(label) and not label.startswith("_")
            on_axis = _categorical(ax.xaxis) or _categorical(ax.yaxis)  # bars or horizontal bars
            if (named and label not in legend) or (not named and not on_axis):
                found.append(f"{where}: bars {label!r} neither in a legend nor named on the axis")
    for i, ax in enumerate(fig.axes):
        found += [f"{name} axes {i}: offset text {axis.get_offset_text().get_text()!r}"
                  for axis in (ax.xaxis, ax.yaxis) if axis.get_offset_text().get_text()]
    page = fig.bbox
    for what, box in _text_boxes(fig).items():
        if not (page.x0 - 1 <= box.x0 and box.x1 <= page.x1 + 1 and page.y0 - 1 <= box.y0 and box.y1 <= page.y1 + 1):
            found.append(f"{name}: {what!r} reaches outside the figure")
    return found


@pytest.mark.parametrize("name", [n for n in figures.FIGURES if n not in ("serving.png", "cohorts.png")])
def test_every_run_figure_reads_cleanly(drawn, name):
    assert name in drawn, f"{name}: not drawn for a run with jobs, energy and a comparison"
    assert problems(drawn[name], name) == []


def test_the_serving_figure_reads_cleanly(batched):
    fig = figures.FIGURES["serving.png"](batched, DPI)
    fig.canvas.draw()
    assert problems(fig, "serving.png") == []


def test_the_cohort_figure_reads_cleanly():
    fig = figures.FIGURES["cohorts.png"](_run(COHORTS), DPI)
    fig.canvas.draw()
    assert problems(fig, "cohorts.png") == []


def test_the_checks_can_fail(small):
    """A title wider than the figure, data cut by the limits without a note, a fill outside the legend,
    an axis offset and a label without a unit are each caught."""
    fig = figures.make_fleet_states(small, DPI)
    ax = fig.axes[0]
    fig.suptitle("x" * 400)
    ax.set_ylim(0, 10)
    ax.fill_between(ax.get_lines()[0].get_xdata(), 0, 1)
    style.plain_axis(ax.yaxis)
    ax.yaxis.get_major_formatter().set_useOffset(True)
    ax.set_ylim(1000.0, 1000.5)
    ax.set_ylabel("vehicles")
    fig.canvas.draw()
    found = " | ".join(problems(fig, "spoilt"))
    for kind in ("reaches outside the figure", "beyond the limits and no clip note", "not in a legend",
                 "offset text '+1e3'", "names no unit"):
        assert kind in found


# ------------------------------------------------------------------------------ dispatch
def _gids(fig: Figure, prefix: str) -> list:
    return [a for ax in fig.axes for a in (*ax.get_lines(), *ax.collections, *ax.patches)
            if (a.get_gid() or "").startswith(prefix)]


def test_dispatch_leaves_out_panels_with_nothing_to_show_and_says_why(small, drawn):
    ts = small.timeseries
    assert ts["queue_interactive"].max() == 0 and ts["queue_batch"].max() == 0 and ts["jobs_preempted"].sum() > 0
    fig = drawn["dispatch.png"]
    assert len(fig.axes) == 1 and tuple(fig.get_size_inches()) == style.SIZE_WIDE
    assert not _gids(fig, "queue:") and not _gids(fig, "wait:") and _gids(fig, "preempted:")
    note = fig.axes[0].get_title(loc="left")
    assert "queue and wait panels left out" in note and "\n" not in note  # one line
    calm = ts.copy()
    calm[[c for c in ts.columns if c.startswith("preempted_")]] = 0.0
    fig = figures.make_dispatch(dataclasses.replace(small, timeseries=calm), DPI)
    assert len(fig.axes) == 1 and not _gids(fig, "preempted:")
    assert "no preemptions: preemption panel left out" in fig.axes[0].get_title(loc="left")
    assert _says_why_empty(fig.axes[0])


@pytest.fixture(scope="module")
def busy() -> Results:
    return _run(BUSY)


def test_dispatch_draws_queues_and_waits_when_jobs_wait_with_legends_beside_the_panels(busy):
    res = busy
    fig = figures.make_dispatch(res, DPI)
    fig.canvas.draw()
    assert len(fig.axes) == 3 and tuple(fig.get_size_inches()) == style.SIZE_TALL
    assert _gids(fig, "queue:") and _gids(fig, "wait:") and _gids(fig, "preempted:")
    assert fig.axes[0].get_title(loc="left") == ""  # nothing left out
    for ax in fig.axes:  # legends right of the data, never on it
        assert ax.get_legend().get_window_extent().x0 >= ax.get_window_extent().x1
    assert problems(fig, "busy dispatch.png") == []


# ------------------------------------------------------------------------------ grid and power: off-scale peaks
@pytest.mark.parametrize("make", [energy_figures.make_grid, figures.make_power], ids=["grid", "power"])
def test_a_start_up_peak_is_left_off_scale_with_a_note(no_warmup, drawn, make):
    ts = no_warmup.timeseries
    peak_w = float(ts["grid_w"].max())
    assert peak_w > 2.0 * float(ts["grid_w"].quantile(0.97))  # the batteries charging at once from t = 0
    fig = make(no_warmup, DPI)
    fig.canvas.draw()
    ax = fig.axes[0]
    div, unit = style.power_unit(style.clipped_max(ts["grid_w"].to_numpy()))
    assert unit in ax.get_ylabel()
    assert ax.get_ylim()[1] < peak_w / div / 1.5  # the days fill the axis, not its bottom fifth
    (note,) = _clip_notes(ax)
    assert f"{peak_w / div:,.3g} {unit}" in note and "Mon 00:00–00:15" in note
    assert "line:grid" in _outside(ax)
    assert problems(fig, "no-warm-up " + make.__name__) == []
    fig = drawn[{"make_grid": "grid.png", "make_power": "power.png"}[make.__name__]]
    assert not _clip_notes(fig.axes[0]) and not _outside(fig.axes[0])  # with the warm-up: no peak, no note


def test_clipped_max_leaves_only_a_lone_peak_off_scale():
    days = 1e6 + 2e5 * np.sin(np.linspace(0, 6 * np.pi, 288))
    assert style.clipped_max(days) == pytest.approx(days.max())
    spiked = days.copy()
    spiked[:3] = [1e7, 6e6, 3e6]
    assert style.clipped_max(spiked) == pytest.approx(np.quantile(spiked, style.CLIP_QUANTILE))
    assert style.clipped_max(np.full(10, 2e6)) == 2e6  # a plateau is never clipped
    assert style.clipped_max(np.zeros(5)) == 0.0 and style.clipped_max(np.array([])) == 0.0


# ------------------------------------------------------------------------------ power: where the grid energy goes
def _power_div(label: str) -> float:
    """The divisor (W per axis unit) of a power axis labelled ``power (MW, ...)``."""
    unit = re.search(r"\((\w+)", label).group(1)
    return dict((name, div) for div, name in POWER_UNITS)[unit]


def _thickness(coll) -> np.ndarray:
    """Per distinct x, the height of a fill_between polygon (top less bottom)."""
    v = np.concatenate([p.vertices for p in coll.get_paths()])
    xs = np.unique(v[:, 0])
    return np.array([np.ptp(v[v[:, 0] == x, 1]) for x in xs])


@pytest.mark.parametrize("which", ["small", "no_warmup"])
def test_power_stack_plus_storage_equals_the_grid_draw_at_every_sample(which, request):
    res = request.getfixturevalue(which)
    ts = res.timeseries
    fig = figures.make_power(res, DPI)
    ax = fig.axes[0]
    bands = {c.get_gid().split(":", 1)[1]: c for c in ax.collections if (c.get_gid() or "").startswith("power:")}
    assert "stored" in bands and "drawdown" in bands  # the batteries charge at night and feed driving by day
    loads = sum(_thickness(bands[c]) for c in style.ENERGY_CATEGORIES if c in bands)
    stack = loads + _thickness(bands["stored"]) - _thickness(bands["drawdown"])
    grid = next(ln for ln in ax.get_lines() if ln.get_gid() == "line:grid").get_ydata()
    div = _power_div(ax.get_ylabel())
    scale = float(np.max(np.abs(grid)))
    np.testing.assert_allclose(stack, grid, rtol=0, atol=1e-6 * scale)  # every sample and both run ends
    net = _thickness(bands["stored"]) - _thickness(bands["drawdown"])
    np.testing.assert_allclose(net[1:-1], ts["battery_w"].to_numpy() / div, rtol=0, atol=1e-6 * scale)
    legend = _legend_texts(fig)
    serving = next(t for t in legend if t.startswith("chip, serving — "))
    assert serving.endswith(" %") and float(serving.split("— ")[1].split()[0]) > 0
    assert any(t.startswith(figures.STORED_LABEL) for t in legend)
    assert _gids(fig, "edge:inference_active")  # the thin serving band outlined to be seen


# ------------------------------------------------------------------------------ utilization
def test_utilization_stack_splits_the_nameplate_and_the_lower_panel_is_the_busy_share(small, drawn):
    ts = small.timeseries
    fig = drawn["utilization.png"]
    ax, axu = fig.axes[:2]
    nameplate_w = small.summary["availability"]["nameplate_gw"] * 1e9
    div, unit = style.power_unit(nameplate_w)
    assert f"({unit})" in ax.get_ylabel()
    bands = {c.get_gid().split(":", 1)[1]: c for c in ax.collections if (c.get_gid() or "").startswith("nameplate:")}
    assert {"serving", "available", "opted_out"} <= set(bands)
    np.testing.assert_allclose(sum(_thickness(b) for b in bands.values()), nameplate_w / div, rtol=1e-9)
    available = _thickness(bands["serving"]) + _thickness(bands["available"])
    np.testing.assert_allclose(available[1:-1], ts["available_inference_w"].to_numpy() / div, rtol=1e-9)
    busy = _thickness(bands["serving"])[1:-1]
    np.testing.assert_allclose(busy, ts["utilization"].to_numpy() * ts["available_inference_w"].to_numpy() / div,
                               rtol=1e-9, atol=1e-12)
    line = next(ln for ln in axu.get_lines() if ln.get_gid() == "line:utilization")
    np.testing.assert_allclose(line.get_ydata()[1:-1], 100.0 * ts["utilization"].to_numpy())
    assert "%" in axu.get_ylabel() and len(fig.axes) == 2  # one y axis per panel: nothing to cross


# ------------------------------------------------------------------------------ counts of a represented fleet
def test_a_fleet_of_millions_is_counted_in_millions(millions):
    assert style.count_unit(1_000) == (1.0, "") and style.count_unit(99_999) == (1.0, "")
    assert style.count_unit(250_000) == (1e3, "thousand") and style.count_unit(1e8) == (1e6, "million")
    assert style.count_text(100_000_000) == "100 million" and style.count_text(2_000) == "2,000"
    res = millions
    fig = figures.make_fleet_states(res, DPI)
    fig.canvas.draw()
    ax = fig.axes[0]
    assert ax.get_ylabel().startswith("million vehicles")
    assert "2.5 million vehicles represented by 20 simulated" in fig.get_suptitle()
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert labels and not any("e" in t for t in labels) and ax.yaxis.get_offset_text().get_text() == ""
    total = sum(_thickness(c) for c in ax.collections if (c.get_gid() or "").startswith("state:"))
    np.testing.assert_allclose(total, 2.5, rtol=1e-9)  # 2.5 million cars at every sample
    assert problems(fig, "millions fleet_states.png") == []
    fig = figures.make_utilization(res, DPI)
    fig.canvas.draw()
    assert "(MW)" in fig.axes[0].get_ylabel()  # 2.5 million x 160 W = 400 MW
    assert problems(fig, "millions utilization.png") == []


# ------------------------------------------------------------------------------ time axes
def _tick_labels(ax: Axes) -> list[tuple[pd.Timestamp, str]]:
    """(local time, label) of every major tick inside the x limits."""
    lo, hi = ax.get_xlim()
    fmt = ax.xaxis.get_major_formatter()
    return [(pd.Timestamp(mdates.num2date(t, tz=fmt.tz)), fmt(t))
            for t in ax.xaxis.get_major_locator()() if lo <= t <= hi]


def test_dates_only_at_midnight_and_hours_as_hours(no_warmup):
    evening = _run(EVENING)
    for res, want_date in ((evening, False), (no_warmup, True)):
        ax = figures.make_fleet_states(res, DPI).axes[0]  # ticks follow the limits: no need to draw
        ticks = _tick_labels(ax)
        assert len(ticks) >= 4
        for when, label in ticks:
            midnight = (when.hour, when.minute, when.second) == (0, 0, 0)
            assert DATE.match(label) if midnight else CLOCK.match(label), (when, label)
            if midnight:
                assert label == f"{when:%a %d %b}"
            else:
                assert label in (f"{when:%H:%M}", f"{when:%H:%M:%S}")
        assert any(DATE.match(label) for _, label in ticks) == want_date
    assert "(Tue 07 Jun 2022)" in figures.make_power(evening, DPI).axes[1].get_xlabel()  # the date, once


# ------------------------------------------------------------------------------ energy flows
def test_energy_flow_labels_say_what_each_number_includes(small, drawn):
    fig = drawn["energy_flows.png"]
    ax, axa = fig.axes[:2]
    legend = _legend_texts(fig)
    chip = next(t for t in legend if t.startswith("chip, serving: "))
    served = next(t for t in legend if t.startswith("jobs served: "))
    assert "above idle only" in chip and "share of idle chip and awake car" in served
    assert not ax.get_shared_x_axes().joined(ax, axa)  # the split has its own axis, from 0
    split = [p for p in axa.patches if (p.get_gid() or "").startswith("attribution:")]
    assert min(p.get_x() for p in split) == 0.0
    assert axa.get_xlim()[1] < ax.get_xlim()[1] or axa.get_xlabel() != ax.get_xlabel()
    assert "inference energy" in axa.get_xlabel()
    a = small.summary["attribution"]
    a_div, a_unit = style.energy_unit(a["jobs_served_kwh"] + a["standby_kwh"])
    assert sum(p.get_width() for p in split) * a_div == pytest.approx(a["jobs_served_kwh"] + a["standby_kwh"])
    bracket = " ".join(t.get_text() for t in ax.texts if t.get_text().startswith("inference "))
    assert f" {a_unit}: split below" in bracket


def test_a_long_title_breaks_inside_the_figure(small):
    fig = style.new_figure(style.SIZE_WIDE, DPI)
    fig.add_subplot().plot([0, 1], [0, 1])
    text = "A figure title that says a great deal about what is drawn and why, " * 3 + "(scenario 'x', seed 1)"
    title = style.fit_title(fig, text)
    fig.canvas.draw()
    assert title.get_text().count("\n") >= 2 and title.get_text().endswith("(scenario 'x', seed 1)")
    box = title.get_window_extent()
    assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1


# ------------------------------------------------------------------------------ what the examples showed
def _drawn_tick_labels(axis, minor: bool = False) -> list:
    """The tick labels an axis draws: inside its view, visible, not empty (either side of the axes)."""
    lo, hi = sorted(axis.get_view_interval())
    ticks = axis.get_minor_ticks() if minor else axis.get_major_ticks()
    return [label for t in ticks if lo <= t.get_loc() <= hi for label in (t.label1, t.label2)
            if label.get_visible() and label.get_text()]


def _crowded(labels: list, gap_pt: float) -> list[tuple[str, str]]:
    """Pairs of drawn labels closer than ``gap_pt`` points (overlapping ones included)."""
    if not labels:
        return []
    pad = gap_pt * labels[0].figure.dpi / 72.0 / 2.0
    boxes = [(t.get_text(), t.get_window_extent().expanded(1.0, 1.0).padded(pad)) for t in labels]
    return [(a, b) for i, (a, ba) in enumerate(boxes) for b, bb in boxes[i + 1:] if ba.overlaps(bb)]


def _time_axes(fig: Figure) -> list[Axes]:
    return [ax for ax in fig.axes if isinstance(ax.xaxis.get_major_formatter(), style.LocalTimeFormatter)
            and _labels_shown(ax.xaxis)]


@pytest.mark.parametrize("make", [figures.make_fleet_states, figures.make_utilization, figures.make_power,
                                  energy_figures.make_grid], ids=["fleet_states", "utilization", "power", "grid"])
def test_time_tick_labels_keep_apart_on_every_panel_width(no_warmup, make):
    """Two days: the full-width panel keeps 6-hourly ticks, a panel narrowed by its legend takes
    12-hourly ones; no two labels come within an em (10 pt). A fixed 12-tick locator crowds them."""
    fig = make(no_warmup, DPI)
    fig.canvas.draw()
    (ax,) = _time_axes(fig)
    labels = _drawn_tick_labels(ax.xaxis)
    assert len(labels) >= 4 and _crowded(labels, gap_pt=10.0) == []
    if make is figures.make_utilization:  # the old locator on the same panel: the checks can fail
        ax.xaxis.set_major_locator(mdates.AutoDateLocator(tz=ax.xaxis.get_major_formatter().tz, minticks=4,
                                                          maxticks=12))
        fig.canvas.draw()
        assert _crowded(_drawn_tick_labels(ax.xaxis), gap_pt=10.0)


def test_the_colour_bar_labels_do_not_overprint(batched):
    """The batch sizes' shares of decoding time span four decades: 1, 2 and 5 of each are labelled."""
    fig = figures.FIGURES["serving.png"](batched, DPI)
    fig.canvas.draw()
    bar = next(ax for ax in fig.axes if getattr(ax, "_colorbar", None) is not None)
    labels = [*_drawn_tick_labels(bar.yaxis), *_drawn_tick_labels(bar.yaxis, minor=True)]
    assert len(labels) >= 6 and _crowded(labels, gap_pt=1.0) == []
    assert {t.get_text() for t in labels} >= {"0.1", "0.2", "0.5", "1", "2", "5"}


def test_percent_ticks_carry_only_the_decimals_they_need(drawn, millions):
    assert style.PercentTicks().format_ticks([0, 5, 10, 15]) == ["0 %", "5 %", "10 %", "15 %"]
    assert style.PercentTicks().format_ticks([0.0, 0.1, 0.2, 0.4]) == ["0.0 %", "0.1 %", "0.2 %", "0.4 %"]
    assert style.PercentTicks().format_ticks([0.0, 0.05, 0.1]) == ["0.00 %", "0.05 %", "0.10 %"]
    assert style.PercentTicks(100.0).format_ticks([0.0, 0.2, 1.0]) == ["0 %", "20 %", "100 %"]
    millions_fig = figures.make_utilization(millions, DPI)
    millions_fig.canvas.draw()
    for fig, i in ((drawn["utilization.png"], 1), (drawn["latency.png"], 0), (millions_fig, 1)):
        labels = [t.get_text() for t in _drawn_tick_labels(fig.axes[i].yaxis)]
        assert labels and all(re.fullmatch(r"\d+(\.\d+)? %", t) for t in labels), labels
        if "." in labels[-1]:  # a last decimal that is 0 on every label could go: 0.400 %
            assert any(not t.split(" ")[0].endswith("0") for t in labels), labels


LEGEND_QUANTITY = re.compile(r"([\d,.]+) (W|kW|MW|GW|TW|kWh|MWh|GWh|TWh)\b")


def test_legend_numbers_use_the_unit_that_fits_each(millions):
    """2.5 million cars: the axis is in GWh or MW, the chips' serving share in its own unit."""
    for make in (figures.make_utilization, energy_figures.make_energy_flows):
        fig = make(millions, DPI)
        found = [(float(n.replace(",", "")), unit) for text in _legend_texts(fig)
                 for n, unit in LEGEND_QUANTITY.findall(text)]
        assert len(found) >= 4
        assert [(v, unit) for v, unit in found if not (1.0 <= v < 1000.0 or unit in ("W", "kWh") or v == 0)] == []


def test_a_round_off_battery_flow_is_none_and_no_share_has_an_exponent(small):
    ts = small.timeseries.copy()
    loads = sum(ts[f"power_w_{c}"].clip(lower=0.0) for c in style.ENERGY_CATEGORIES)
    ts["grid_w"] = loads + ts["battery_w"].clip(lower=0.0) - 1e-12 * loads  # no drawdown, a round-off shortfall
    assert not np.any(figures.power_split_w(ts)["drawdown"] > 0)
    fig = figures.make_power(dataclasses.replace(small, timeseries=ts), DPI)
    assert not _gids(fig, "power:drawdown") and _gids(fig, "power:stored")
    assert not any(re.search(r"\de[-+]?\d", t) for t in _legend_texts(fig))
    assert style.share_text(1.8e-14) == "< 0.001 %" and style.share_text(0.019) == "0.019 %"
    assert style.share_text(26.04) == "26.0 %" and style.share_text(0.0) == "0.0 %"


def test_a_policy_file_is_named_without_its_folder(small):
    dispatch = {**small.summary["dispatch"], "policy": "/home/ana/fleet/examples/plugged_first.py:PluggedFirst"}
    fig = figures.make_dispatch(dataclasses.replace(small, summary={**small.summary, "dispatch": dispatch}), DPI)
    title = fig.get_suptitle()
    assert "policy 'plugged_first.py:PluggedFirst'" in title and "/home" not in title
    assert figures.policy_name({"dispatch": {"policy": "least_loaded"}}) == "least_loaded"


def test_waits_of_milliseconds_are_drawn_in_ms(busy):
    assert style.duration_unit(0.003) == (1e-3, "ms") and style.duration_unit(45.0) == (1.0, "s")
    assert style.duration_unit(1800.0) == (60.0, "min") and style.duration_unit(7e4) == (3600.0, "h")
    assert style.duration_unit(0.0) == (1.0, "s")
    jobs = busy.jobs.copy()
    jobs["wait_s"] = jobs["wait_s"] * (0.004 / float(jobs["wait_s"].max()))  # the longest wait 4 ms
    res = dataclasses.replace(busy, jobs=jobs)
    fig = figures.make_dispatch(res, DPI)
    (line,) = _gids(fig, "wait:interactive")
    assert line.axes.get_ylabel().endswith("(ms)")
    np.testing.assert_allclose(line.get_ydata(), 1e3 * figures.mean_wait_by_interval(res, "interactive"))
    assert 3.0 < line.axes.get_ylim()[1] < 6.0


def test_the_comparison_note_fits_and_credits_the_simulated_cars(millions, drawn):
    fig = energy_figures.make_comparison(millions, DPI)
    fig.canvas.draw()
    note = fig.get_supxlabel()
    assert "tokens generated by the 20 simulated cars" in note and "GPU hardware not priced" in note
    assert problems(fig, "millions comparison.png") == []  # the note inside the figure
    note = drawn["comparison.png"].get_supxlabel()
    assert "tokens generated by the fleet" in note
    assert all(len(line) <= energy_figures.NOTE_WIDTH for line in note.splitlines())


def test_the_page_names_the_data_center_in_words(small):
    rows = [row[0] for row in page.headline_rows(small.summary) if isinstance(row, tuple)]
    assert "data center: energy" in rows and not any(r.startswith("datacenter") for r in rows)
