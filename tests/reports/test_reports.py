"""reports: figures and the report page drawn from real (tiny) results folders."""
from __future__ import annotations

import dataclasses
import json
import re
import shutil
import struct
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from reports import build_report, depot, energy_figures, figures, style
from reports.page import CAPTIONS, write_page
from sim.cli import main as fleetsim_main
from sim.results import load_results, write_results
from sim.runner import run
from sim.scenario import default_scenario

# Drawn for every run (a comparison.png joins them when the summary has a data-center comparison).
FIGURE_NAMES = ("fleet_states.png", "utilization.png", "power.png", "latency.png", "dispatch.png",
                "grid.png", "energy_flows.png")
TIME_SERIES_FIGURES = ("fleet_states.png", "utilization.png", "power.png", "latency.png", "dispatch.png",
                       "grid.png")
SIZES_IN = {"fleet_states.png": style.SIZE_WIDE, "utilization.png": style.SIZE_TALL,
            "power.png": style.SIZE_TALL, "latency.png": style.SIZE_WIDE, "dispatch.png": None,
            "grid.png": style.SIZE_TALL, "energy_flows.png": style.SIZE_TALL, "comparison.png": style.SIZE_WIDE}
# dispatch.png: tall with two or three panels, wide with one (empty panels are left out)
SMALL = {"run.days": 0.25, "fleet.vehicles": 50}
LA = ZoneInfo("America/Los_Angeles")


def _run_folder(tmp: Path, overrides: dict) -> Path:
    return write_results(run(default_scenario().with_overrides(overrides)), tmp)


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    """A 6-hour, 50-vehicle results folder (no figures yet)."""
    return _run_folder(tmp_path_factory.mktemp("small") / "res", SMALL)


@pytest.fixture(scope="module")
def built(small) -> list[Path]:
    return build_report(small)


@pytest.fixture(scope="module")
def idle(tmp_path_factory) -> Path:
    """The same fleet with no workload at all: no jobs arrive or complete."""
    return _run_folder(tmp_path_factory.mktemp("idle") / "res", {
        **SMALL, "workload.interactive.rate_per_s": 0.0, "workload.batch.rate_per_s": 0.0})


def _expected_names(folder: Path) -> list[str]:
    """The PNGs build_report draws for ``folder``: the fixed set, plus comparison.png if it has one."""
    summary = load_results(folder).summary
    extra = ["comparison.png"] if energy_figures.comparison_of(summary) is not None else []
    return [*FIGURE_NAMES, *extra]


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name}: not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def _layer_thickness(poly) -> tuple[np.ndarray, np.ndarray]:
    """(x, y_top - y_bottom) of one fill_between polygon, per distinct x."""
    v = np.concatenate([p.vertices for p in poly.get_paths()])
    xs = np.unique(v[:, 0])
    thick = np.array([np.ptp(v[v[:, 0] == x, 1]) for x in xs])
    return xs, thick


# ------------------------------------------------------------------------------ build_report
def test_build_report_writes_every_png_and_page(small, built):
    dpi = 110  # the scenario default report.dpi
    names = _expected_names(small)
    assert [p.name for p in built] == [*names, "report.html"]
    for name in names:
        p = small / "figures" / name
        assert p in built and p.is_file()
        assert p.stat().st_size > 20_000, f"{name}: suspiciously small"
        w_in, h_in = SIZES_IN[name] or tuple(figures.FIGURES[name](load_results(small), dpi).get_size_inches())
        assert _png_size(p) == (round(w_in * dpi), round(h_in * dpi))
    assert (small / "report.html").is_file()


def test_dpi_argument_sets_pixel_size(small, tmp_path):
    folder = tmp_path / "res"
    shutil.copytree(small, folder, ignore=shutil.ignore_patterns("figures", "report.html"))
    toml = (folder / "scenario.toml").read_text()
    assert "dpi = 110" in toml
    (folder / "scenario.toml").write_text(toml.replace("dpi = 110", "dpi = 40"))
    paths = build_report(folder)  # default: the scenario's report.dpi
    assert _png_size(paths[0]) == (round(style.SIZE_WIDE[0] * 40), round(style.SIZE_WIDE[1] * 40))
    paths = build_report(folder, dpi=60)
    assert _png_size(paths[2]) == (round(style.SIZE_TALL[0] * 60), round(style.SIZE_TALL[1] * 60))


def test_missing_summary_raises_naming_folder(tmp_path):
    folder = tmp_path / "not_results"
    folder.mkdir()
    with pytest.raises(FileNotFoundError, match=re.escape(str(folder))):
        build_report(folder)
    assert not (folder / "figures").exists() and not (folder / "report.html").exists()


# ------------------------------------------------------------------------------ page
def _row(html: str, name: str) -> tuple[str, str]:
    m = re.search(rf"<tr><td>{re.escape(name)}</td><td class=\"num\">([^<]*)</td><td>([^<]*)</td></tr>", html)
    assert m, f"no headline row {name!r}"
    return m.group(1), m.group(2)


def test_page_headline_numbers_match_summary(small, built):
    html = (small / "report.html").read_text(encoding="utf-8")
    s = load_results(small).summary
    assert _row(html, "arrived") == (f"{s['jobs']['arrived']:,}", "jobs")
    assert _row(html, "completed") == (f"{s['jobs']['completed']:,}", "jobs")
    assert _row(html, "dropped") == (f"{s['jobs']['dropped']:,}", "jobs")
    assert _row(html, "preempted") == (f"{s['jobs']['preempted']:,}", "preemptions")
    assert _row(html, "trips") == (f"{s['fleet']['trips']:,}", "trips")
    assert _row(html, "trips impacted by inference") == (f"{s['fleet']['trips_impacted']:,}", "trips")
    assert _row(html, "vehicles simulated") == ("50", "vehicles")
    assert _row(html, "simulated span") == ("0.25", "days")
    assert _row(html, "chip-slot utilization") == (f"{100 * s['utilization']['mean']:.1f}", "%")
    assert _row(html, "SLO attainment, interactive") == (
        f"{100 * s['jobs']['by_class']['interactive']['slo_attainment']:.1f}", "%")
    assert _row(html, "tokens generated") == (f"{s['tokens']['generated']:,}", "tokens")
    value, unit = _row(html, "latency p95")
    assert unit == "s" and float(value.replace(",", "")) == pytest.approx(s["jobs"]["latency_s"]["p95"], rel=1e-3)
    value, unit = _row(html, "grid import")
    assert unit == "kWh" and float(value.replace(",", "")) == pytest.approx(s["energy_kwh"]["grid_import"], rel=1e-3)
    value, unit = _row(html, "electricity cost")
    assert unit == "$" and float(value.replace(",", "")) == pytest.approx(s["cost_usd"]["electricity"], rel=1e-3)
    value, unit = _row(html, "CO₂ emissions")
    assert unit == "kg CO₂" and float(value.replace(",", "")) == pytest.approx(s["co2_kg"]["total"], rel=1e-3)
    value, unit = _row(html, "average available inference power")  # 50 cars × ≤ 4 × 80 W → kW
    assert unit == "kW"
    assert float(value) == pytest.approx(s["fleet"]["avg_available_inference_gw"] * 1e6, rel=1e-3)
    # each availability row in the unit that fits it (50 x 160 W = 8 kW; a few hundred W lost to driving),
    # never "8.000e-06 GW"
    for row, key in (("available, peak hour", "peak_hour_available_gw"), ("available, average", "available_gw"),
                     ("lost to driving", "lost_gw")):
        value, unit = _row(html, row)
        want = (s["availability"][key] if key != "lost_gw" else s["availability"]["lost_gw"]["driving"]) * 1e9
        assert "e" not in value
        scale = {"W": 1.0, "kW": 1e3, "MW": 1e6}[unit]
        assert 1.0 <= want / scale < 1000.0 or want == 0.0
        assert float(value.replace(",", "")) * scale == pytest.approx(want, rel=1e-3, abs=1e-3)
    assert _row(html, "job balance residual") == ("0", "jobs")
    for label in ("charging losses", "driving", "sleep drain"):
        assert _row(html, f"energy: {label}")[1] == "kWh"


def test_page_links_every_figure_and_is_self_contained(small, built):
    html = (small / "report.html").read_text(encoding="utf-8")
    srcs = re.findall(r'<img src="([^"]+)"', html)
    assert srcs == [f"figures/{n}" for n in _expected_names(small)]
    assert all((small / s).is_file() for s in srcs)
    assert "<link" not in html and "<script" not in html and "http" not in html


def test_page_escapes_text(small, tmp_path):
    res = load_results(small)
    res = dataclasses.replace(res, summary={**res.summary, "scenario": "<b>a&b</b>"})
    out = write_page(tmp_path, res, [tmp_path / "figures" / "x.png"])
    html = out.read_text(encoding="utf-8")
    assert "<b>a&b</b>" not in html and "&lt;b&gt;a&amp;b&lt;/b&gt;" in html
    assert '<img src="figures/x.png"' in html


def test_page_is_deterministic(small, built):
    first = (small / "report.html").read_bytes()
    build_report(small)
    assert (small / "report.html").read_bytes() == first


# ------------------------------------------------------------------------------ figure data
def test_fleet_state_areas_sum_to_vehicle_count(small):
    res = load_results(small)
    fig = figures.make_fleet_states(res, dpi=50)
    ax = fig.axes[0]
    layers = {c.get_gid(): c for c in ax.collections if (c.get_gid() or "").startswith("state:")}
    assert list(layers) == [f"state:{s}" for s in style.STATES]
    n = res.summary["fleet"]["vehicles_represented"]
    xs0, total = None, 0.0
    for poly in layers.values():
        xs, thick = _layer_thickness(poly)
        assert np.all(thick >= -1e-9)
        xs0 = xs if xs0 is None else xs0
        assert np.array_equal(xs, xs0)
        total = total + thick
    assert len(xs0) == len(res.timeseries) + 2  # every sample plus the run's two ends
    np.testing.assert_allclose(total, n, atol=1e-6)
    top = np.concatenate([p.vertices for p in layers["state:serving"].get_paths()])[:, 1].max()
    assert top == pytest.approx(n, abs=1e-6)
    (line,) = [ln for ln in ax.get_lines() if ln.get_gid() == "line:charging"]
    np.testing.assert_allclose(line.get_ydata()[1:-1], res.timeseries["charging"].to_numpy())


def test_time_axis_is_local_time(small):
    res = load_results(small)
    ax = figures.make_fleet_states(res).axes[0]
    line = [ln for ln in ax.get_lines() if ln.get_gid() == "line:charging"][0]
    x = [pd.Timestamp(t) for t in line.get_xdata()]
    assert x[0] == pd.Timestamp(datetime(2022, 6, 6, 0, 0, tzinfo=LA))  # run start, local midnight
    assert x[-1] == pd.Timestamp(datetime(2022, 6, 6, 6, 0, tzinfo=LA))  # 0.25 days later
    assert x[1] == pd.Timestamp(datetime(2022, 6, 6, 0, 7, 30, tzinfo=LA))  # first interval's midpoint
    labels = ax.xaxis.get_major_formatter().format_ticks(ax.xaxis.get_major_locator()())
    assert labels[0] == "Mon 06 Jun" and "03:00" in labels  # local wall clock (UTC would be 07:00-13:00)
    assert set(labels) <= {"Mon 06 Jun", *(f"{h:02d}:{m:02d}" for h in range(1, 7) for m in (0, 30))}
    assert "America/Los_Angeles" in figures.make_power(res).axes[1].get_xlabel()


def test_power_stack_and_grid_line_in_display_unit(small):
    res = load_results(small)
    ts = res.timeseries
    ax = figures.make_power(res, dpi=50).axes[0]
    div, unit = 1e3, "kW"  # 50 cars charging at ≤ 11.5 kW each
    assert unit in ax.get_ylabel()
    loads = {f"power:{c}" for c in style.ENERGY_CATEGORIES}  # the stack's load bands (storage drawn apart)
    polys = [c for c in ax.collections if c.get_gid() in loads]
    total = sum(_layer_thickness(p)[1] for p in polys)
    expected = sum(np.clip(ts[f"power_w_{c}"].to_numpy(), 0, None) for c in style.ENERGY_CATEGORIES) / div
    np.testing.assert_allclose(total[1:-1], expected, rtol=1e-9, atol=1e-9)
    (grid,) = [ln for ln in ax.get_lines() if ln.get_gid() == "line:grid"]
    np.testing.assert_allclose(grid.get_ydata()[1:-1], ts["grid_w"].to_numpy() / div)


def test_latency_marks_slo_and_attainment(small):
    res = load_results(small)
    ax = figures.make_latency(res, dpi=50).axes[0]
    assert ax.get_xscale() == "log"
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    for cls in ("interactive", "batch"):
        c = res.summary["jobs"]["by_class"][cls]
        assert f"{cls}: {c['completed']:,} completed, SLO attainment {100 * c['slo_attainment']:.1f} %" in texts
        (slo,) = [ln for ln in ax.get_lines() if ln.get_gid() == f"slo:{cls}"]
        assert slo.get_xdata()[0] == res.jobs.loc[res.jobs["job_class"] == cls, "slo_s"].iloc[0]
        (ecdf,) = [ln for ln in ax.get_lines() if ln.get_gid() == f"ecdf:{cls}"]
        lat = np.sort(res.jobs.loc[(res.jobs["job_class"] == cls) & (res.jobs["outcome"] == "completed"),
                                   "latency_s"].to_numpy())
        assert ecdf.get_xdata()[0] == pytest.approx(lat[0]) and ecdf.get_xdata()[-1] == pytest.approx(lat[-1])
        assert ecdf.get_ydata()[-1] == 1.0


def test_power_unit_by_magnitude():
    assert style.power_unit(0.0) == (1.0, "W")
    assert style.power_unit(999.0) == (1.0, "W")
    assert style.power_unit(75_500.0) == (1e3, "kW")
    assert style.power_unit(2.5e6) == (1e6, "MW")
    assert style.power_unit(1e11) == (1e9, "GW")


def test_off_scale_grid_spike_is_annotated():
    top = np.full(100, 1e6)
    grid = np.full(100, 0.5e6)
    assert figures._power_axis_max_w(top, grid) == 1e6
    grid[0] = 10e6  # a start-up charging spike
    assert figures._power_axis_max_w(top, grid) == 1e6
    grid[:] = 2e6  # a plateau is never clipped
    assert figures._power_axis_max_w(top, grid) == 2e6


# ------------------------------------------------------------------------------ empty cases
def _texts(fig) -> str:
    return " ".join(t.get_text() for ax in fig.axes for t in ax.texts)


def test_no_completed_jobs_still_renders(idle):
    paths = build_report(idle)
    assert [p.name for p in paths] == [*FIGURE_NAMES, "report.html"]  # no tokens: no comparison
    for p in paths[:4]:
        assert _png_size(p)[0] > 0 and p.stat().st_size > 10_000
    res = load_results(idle)
    assert res.summary["jobs"]["completed"] == 0
    assert "no completed jobs" in _texts(figures.make_latency(res))
    html = (idle / "report.html").read_text(encoding="utf-8")
    assert _row(html, "arrived") == ("0", "jobs")
    assert _row(html, "latency p95") == ("n/a", "s")


def test_zero_power_and_no_samples_render_annotated(small, tmp_path):
    res = load_results(small)
    ts = res.timeseries.copy()
    for col in [c for c in ts.columns if c.startswith("power_w_")] + ["grid_w", "available_inference_w"]:
        ts[col] = 0.0
    zero = dataclasses.replace(res, timeseries=ts)
    assert "no power drawn" in _texts(figures.make_power(zero))
    assert "no chips online" in _texts(figures.make_utilization(zero))
    empty = dataclasses.replace(res, timeseries=ts.iloc[:0], jobs=res.jobs.iloc[:0])
    paths = figures.draw_all(empty, tmp_path / "figures", dpi=40)
    assert [p.name for p in paths] == _expected_names(small)
    for name in TIME_SERIES_FIGURES:
        assert _texts(figures.FIGURES[name](empty, 40)).startswith("no "), name


# ------------------------------------------------------------------------------ dispatch figure
@pytest.fixture(scope="module")
def busy_day(tmp_path_factory) -> Path:
    """A loaded day with departures mid-job and queueing: 60 cars, single-slot chips."""
    return _run_folder(tmp_path_factory.mktemp("busy") / "res", {
        "run.days": 1.0, "fleet.vehicles": 60, "fleet.chip.slots": 1, "workload.interactive.rate_per_s": 0.6,
        "workload.batch.rate_per_s": 0.02, "run.sample_interval_s": 1800.0})


def test_dispatch_figure_bars_add_up_to_the_preemption_counts(busy_day):
    res = load_results(busy_day)
    fig = figures.make_dispatch(res, dpi=40)
    by_cause = res.summary["jobs"]["preempted_by_cause"]
    assert by_cause["departure"] > 0
    bars = dict.fromkeys(by_cause, 0.0)
    for ax in fig.axes:
        for patch in ax.patches:
            gid = patch.get_gid() or ""
            if gid.startswith("preempted:"):
                bars[gid.split(":", 1)[1]] += patch.get_height()
    assert bars == {k: float(v) for k, v in by_cause.items()}
    # the causes' legend sits above the bars, never on them
    panel = next(ax for ax in fig.axes if any((p.get_gid() or "").startswith("preempted:") for p in ax.patches))
    renderer = fig.canvas.get_renderer()
    legend_box = panel.get_legend().get_window_extent(renderer)
    for patch in panel.patches:
        if (patch.get_gid() or "").startswith("preempted:") and patch.get_height() > 0:
            assert not legend_box.overlaps(patch.get_window_extent(renderer))


def test_mean_wait_by_interval_matches_a_direct_grouping(busy_day):
    res = load_results(busy_day)
    ts, jobs = res.timeseries, res.jobs
    edges = np.concatenate([[0.0], ts["t_s"].to_numpy()])
    for cls in ("interactive", "batch"):
        got = figures.mean_wait_by_interval(res, cls)
        j = jobs[(jobs["job_class"] == cls) & jobs["start_s"].notna()]
        want = np.full(len(ts), np.nan)
        for i in range(len(ts)):  # the interval [edges[i], edges[i+1]) holding each start
            inside = (j["start_s"] >= edges[i]) & (j["start_s"] < edges[i + 1])
            if inside.any():
                want[i] = j.loc[inside, "wait_s"].mean()
        assert np.allclose(got, want, equal_nan=True, rtol=1e-12, atol=1e-12), cls
    assert np.nanmax(figures.mean_wait_by_interval(res, "interactive")) > 0.0  # some jobs did wait


# ------------------------------------------------------------------------------ grid figure
def _gid(ax, prefix: str) -> dict:
    """Artists of ``ax`` (lines, collections, patches) whose gid starts with ``prefix``, by gid."""
    arts = [*ax.get_lines(), *ax.collections, *ax.patches]
    return {a.get_gid(): a for a in arts if (a.get_gid() or "").startswith(prefix)}


def test_grid_line_is_grid_draw_and_stack_adds_up(small):
    res = load_results(small)
    ts = res.timeseries
    fig = energy_figures.make_grid(res, dpi=50)
    ax, axs = fig.axes[0], fig.axes[1]
    div, unit = 1e3, "kW"  # 50 cars charging at <= 11.5 kW each
    assert unit in ax.get_ylabel()
    line = _gid(ax, "line:grid")["line:grid"]
    np.testing.assert_allclose(line.get_ydata()[1:-1], ts["grid_w"].to_numpy() / div)
    layers = _gid(ax, "load:")
    assert set(layers) <= {f"load:{g}" for g in energy_figures.LOAD_GROUPS} and "load:inference" in layers
    active = ts["power_w_inference_active"] + ts["power_w_inference_idle"] + ts["power_w_awake_overhead"]
    np.testing.assert_allclose(_layer_thickness(layers["load:inference"])[1][1:-1], active / div, atol=1e-9)
    np.testing.assert_allclose(_layer_thickness(layers["load:stored"])[1][1:-1],
                               np.clip(ts["battery_w"], 0, None) / div, atol=1e-9)
    top = sum(_layer_thickness(p)[1] for p in layers.values())[1:-1]
    # grid = loads + battery: the stack meets the line where batteries charge, and exceeds it by the drawdown
    np.testing.assert_allclose(top, (ts["grid_w"] + np.clip(-ts["battery_w"], 0, None)) / div, rtol=1e-9, atol=1e-6)
    price = _gid(axs, "line:price")["line:price"]
    np.testing.assert_allclose(price.get_ydata()[1:-1], ts["price_usd_per_kwh"])
    carbon = [ln for a in fig.axes for ln in a.get_lines() if ln.get_gid() == "line:carbon"][0]
    np.testing.assert_allclose(carbon.get_ydata()[1:-1], ts["carbon_g_per_kwh"])
    avg = _gid(axs, "avg:price")["avg:price"]
    s = res.summary
    assert avg.get_ydata()[0] == pytest.approx(s["cost_usd"]["electricity"] / s["energy_kwh"]["grid_import"])
    assert "America/Los_Angeles" in axs.get_xlabel()


def test_grid_unit_follows_scale_and_missing_columns_skip(small, tmp_path):
    res = load_results(small)
    big = res.timeseries.copy()
    for col in [c for c in big.columns if c.startswith("power_w_")] + ["grid_w", "battery_w"]:
        big[col] = big[col] * 1000.0
    ax = energy_figures.make_grid(dataclasses.replace(res, timeseries=big)).axes[0]
    assert "(MW," in ax.get_ylabel()
    line = _gid(ax, "line:grid")["line:grid"]
    np.testing.assert_allclose(line.get_ydata()[1:-1], big["grid_w"].to_numpy() / 1e6)
    old = dataclasses.replace(res, timeseries=res.timeseries.drop(columns=["battery_w"]))
    assert energy_figures.make_grid(old) is None
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "grid.png").write_bytes(b"stale")
    names = [p.name for p in figures.draw_all(old, tmp_path / "figures", dpi=30)]
    assert "grid.png" not in names and "power.png" in names
    assert not (tmp_path / "figures" / "grid.png").exists()  # a stale copy does not outlive its data


# ------------------------------------------------------------------------------ energy flows
def _bars(fig, prefix: str) -> dict[str, tuple[float, float]]:
    """(left, width) of every bar patch whose gid starts with ``prefix``, keyed by the rest of the gid."""
    return {p.get_gid()[len(prefix):]: (p.get_x(), p.get_width())
            for ax in fig.axes for p in ax.patches if (p.get_gid() or "").startswith(prefix)}


def test_energy_flow_bars_balance_and_match_the_summary(small):
    res = load_results(small)
    e = res.summary["energy_kwh"]
    fig = energy_figures.make_energy_flows(res, dpi=50)
    div, unit = style.energy_unit(e["grid_import"] + max(-e["battery_change"], 0.0))
    sources, uses = _bars(fig, "source:"), _bars(fig, "use:")
    total = e["grid_import"] + max(-e["battery_change"], 0.0)
    assert sum(w for _, w in sources.values()) * div == pytest.approx(total, rel=1e-12)
    assert sum(w for _, w in uses.values()) * div == pytest.approx(total, rel=1e-9)  # energy balance
    assert sources["grid_import"][1] * div == pytest.approx(e["grid_import"])
    for cat in style.ENERGY_CATEGORIES:
        if e[cat] > 0:
            assert uses[cat][1] * div == pytest.approx(e[cat]), cat
        else:
            assert cat not in uses
    assert ("battery_gain" in uses) == (e["battery_change"] > 0)
    assert ("battery_drawdown" in sources) == (e["battery_change"] < 0)
    ends = sorted(left + w for left, w in uses.values())
    assert ends[-1] * div == pytest.approx(total, rel=1e-9)  # segments abut: one bar, no gaps
    texts = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    share = 100.0 * e["grid_import"] / total
    assert any(t.startswith("grid import: ") and f"({share:.1f} %)" in t and unit in t for t in texts)
    a = res.summary["attribution"]
    split = _bars(fig, "attribution:")
    a_div, _ = style.energy_unit(a["jobs_served_kwh"] + a["standby_kwh"])  # the split's own axis
    assert split["jobs_served"][1] * a_div == pytest.approx(a["jobs_served_kwh"])
    assert split["standby"][1] * a_div == pytest.approx(a["standby_kwh"])
    assert split["jobs_served"][0] == 0.0  # its own axis, from 0: not under the uses bar's segments
    assert split["standby"][0] == pytest.approx(split["jobs_served"][1])


def test_a_represented_fleets_attribution_bar_spans_its_inference(small):
    """With fleet.weight the fleet's inference is the simulated cars' times the weight: the split
    (billed on the simulated cars' jobs) is scaled by it, and ends where the inference segments do."""
    res = load_results(small)
    s = res.summary
    weight = 50_000.0
    energy = {k: (v * weight if isinstance(v, float) else v) for k, v in s["energy_kwh"].items()}
    fleet = {**s["fleet"], "vehicles_represented": s["fleet"]["vehicles_simulated"] * weight}
    summary = {**s, "energy_kwh": energy, "fleet": fleet}
    fig = energy_figures.make_energy_flows(dataclasses.replace(res, summary=summary), dpi=40)
    div, _ = style.energy_unit(energy["grid_import"] + max(-energy["battery_change"], 0.0))
    uses, split = _bars(fig, "use:"), _bars(fig, "attribution:")
    a = s["attribution"]
    a_div, _ = style.energy_unit((a["jobs_served_kwh"] + a["standby_kwh"]) * weight)  # the split's own axis
    assert split["standby"][1] * a_div == pytest.approx(a["standby_kwh"] * weight, rel=1e-9)
    inference = sum(w for c, (_, w) in uses.items() if c in energy_figures.INFERENCE_KEYS) * div
    assert split["jobs_served"][0] == 0.0
    assert (split["standby"][0] + split["standby"][1]) * a_div == pytest.approx(inference, rel=1e-6)


def test_energy_flows_battery_drawdown_and_missing_parts(small):
    res = load_results(small)
    energy = {"driving": 60.0, "inference_active": 10.0, "inference_idle": 5.0, "awake_overhead": 5.0,
              "sleep": 0.0, "charging_losses": 8.0, "discharge_losses": 2.0, "grid_import": 50.0,
              "battery_change": -40.0, "inference": 20.0}
    summary = {"scenario": "hand", "seed": 0, "energy_kwh": energy}
    fig = energy_figures.make_energy_flows(dataclasses.replace(res, summary=summary), dpi=40)
    assert len(fig.axes) == 1  # no attribution: no second panel
    sources, uses = _bars(fig, "source:"), _bars(fig, "use:")
    assert {k: w for k, (_, w) in sources.items()} == {"grid_import": 50.0, "battery_drawdown": 40.0}
    assert {k: w for k, (_, w) in uses.items()} == {"driving": 60.0, "inference_active": 10.0, "inference_idle": 5.0,
                                                    "awake_overhead": 5.0, "charging_losses": 8.0,
                                                    "discharge_losses": 2.0}
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "net battery drawdown: 40 kWh (44.4 %)" in texts and "driving: 60 kWh (66.7 %)" in texts
    without = {k: v for k, v in summary.items() if k != "energy_kwh"}
    assert energy_figures.make_energy_flows(dataclasses.replace(res, summary=without)) is None
    partial = {**summary, "energy_kwh": {k: v for k, v in energy.items() if k != "battery_change"}}
    assert energy_figures.make_energy_flows(dataclasses.replace(res, summary=partial)) is None
    zero = {**summary, "energy_kwh": dict.fromkeys(energy, 0.0)}
    assert "no energy" in _texts(energy_figures.make_energy_flows(dataclasses.replace(res, summary=zero)))


# ------------------------------------------------------------------------------ comparison
COMPARISON = {
    "tokens_generated": 2_500_000,
    "fleet": {"kwh_per_million_tokens": 1.25, "g_co2_per_million_tokens": 350.0, "usd_per_million_tokens": 0.9,
              "usd_breakdown_per_million_tokens": {"electricity": 0.4, "carbon": 0.1, "owner_payouts": 0.4}},
    "datacenter": {"kwh_per_million_tokens": 0.05, "g_co2_per_million_tokens": 12.5, "usd_per_million_tokens": 0.03,
                   "usd_breakdown_per_million_tokens": {"electricity": 0.02, "carbon": 0.0, "hardware": 0.01},
                   "batch_size": 64, "pue": 1.58, "j_per_token": 0.119, "carbon_profile": "caiso_2022"},
    "ratio_fleet_to_datacenter": {"kwh": 25.0, "co2": 28.0, "usd": 30.0},
}


def _with_summary(res, **changes):
    return dataclasses.replace(res, summary={**res.summary, **changes})


def test_comparison_bars_equal_the_summary(small):
    res = _with_summary(load_results(small), comparison=COMPARISON)
    fig = energy_figures.make_comparison(res, dpi=40)
    assert len(fig.axes) == 3
    heights = {p.get_gid(): (p.get_y(), p.get_height()) for ax in fig.axes for p in ax.patches if p.get_gid()}
    for side in ("fleet", "datacenter"):
        d = COMPARISON[side]
        assert heights[f"kwh:{side}"] == (0.0, d["kwh_per_million_tokens"])
        assert heights[f"co2:{side}"] == (0.0, d["g_co2_per_million_tokens"])
        bottom = 0.0
        for part, v in d["usd_breakdown_per_million_tokens"].items():
            if v == 0:
                assert f"usd:{side}:{part}" not in heights  # a zero component draws nothing
                continue
            assert heights[f"usd:{side}:{part}"] == pytest.approx((bottom, v))
            bottom += v
        assert bottom == pytest.approx(d["usd_per_million_tokens"])  # the stack reaches the total
    titles = [ax.get_title() for ax in fig.axes]
    assert "fleet = 25 × data center" in titles[0] and "fleet = 30 × data center" in titles[2]
    assert "$" in titles[2] and "kWh" in titles[0] and "CO₂" in titles[1]
    legend = [t.get_text() for t in fig.axes[2].get_legend().get_texts()]
    assert legend == ["electricity", "carbon price", "owner payouts", "hardware (GPU-hours)"]
    assert "batch 64" in fig.get_supxlabel() and "2.5 million tokens" in fig.get_supxlabel()


@pytest.mark.parametrize("comparison", [
    "absent", None,
    {**COMPARISON, "fleet": {**COMPARISON["fleet"], "kwh_per_million_tokens": None}},
    {**COMPARISON, "datacenter": None},
])
def test_comparison_without_data_is_skipped(small, comparison):
    res = load_results(small)
    summary = {k: v for k, v in res.summary.items() if k != "comparison"}
    if comparison != "absent":
        summary["comparison"] = comparison
    assert energy_figures.make_comparison(dataclasses.replace(res, summary=summary)) is None


# ------------------------------------------------------------------------------ depot figure
def _sites(ts: pd.DataFrame, loads_w: dict[str, float], cap_w: float = 50e3) -> pd.DataFrame:
    """Per-site samples on the run's intervals: a constant load per site, a daytime solar bump."""
    h = (ts["t_s"].to_numpy() / 3600.0) % 24
    solar = np.clip(np.sin((h - 6.0) / 12.0 * np.pi), 0, None) * 20e3
    rows = [pd.DataFrame({"t_s": ts["t_s"], "time": ts["time"], "site": name,
                          "load_w": load * (1 + 0.1 * np.cos(h)), "cap_w": cap_w, "solar_w": solar,
                          "plugged": 4.0, "waiting": 0.0})
            for name, load in loads_w.items()]
    return pd.concat(rows, ignore_index=True).sort_values(["t_s", "site"], kind="stable", ignore_index=True)


def test_depot_panels_show_the_busiest_sites_load_cap_and_solar(small):
    res = load_results(small)
    loads = {"north": 30e3, "east": 12e3, "south": 45e3, "west": 8e3, "hub": 20e3}
    sites = _sites(res.timeseries, loads)
    sunny = sites["site"].isin(["south", "hub"])  # the small run is a night: give two sites an array's output
    sites.loc[sunny, "solar_w"] = 15e3 + 5e3 * np.cos(sites.loc[sunny, "t_s"].to_numpy() / 3600.0)
    fig = depot.make_depot(sites, dpi=40, tz=LA, subtitle="hand-made")
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title().split(":")[0] for ax in panels] == ["south", "north", "hub", "east"]  # west: least
    assert "4 busiest of 5 sites" in fig.get_suptitle()
    div = 1e3  # peaks below 1 MW: kW
    for ax in panels:
        name = ax.get_title().split(":")[0]
        g = sites[sites["site"] == name]
        assert "kW" in ax.get_ylabel()
        load = _gid(ax, "load:")[f"load:{name}"]
        np.testing.assert_allclose(load.get_ydata()[:-1], g["load_w"].to_numpy() / div)
        assert load.get_drawstyle() == "steps-post"
        cap = _gid(ax, "cap:")[f"cap:{name}"]
        assert cap.get_linestyle() == "--"
        np.testing.assert_allclose(cap.get_ydata(), 50.0)
        if name in ("south", "hub"):
            solar = _gid(ax, "solar:")[f"solar:{name}"]
            top = np.concatenate([p.vertices for p in solar.get_paths()])[:, 1].max()
            assert top == pytest.approx(g["solar_w"].max() / div)
        else:  # no array: no fill
            assert not _gid(ax, "solar:")
        assert "America/Los_Angeles" in ax.get_xlabel() or not ax.get_subplotspec().is_last_row()
    assert "solar output" in _fig_legend(fig) and "cap and solar" in fig.get_suptitle()
    south = sites.loc[sites["site"] == "south", "load_w"].max() / div
    assert panels[0].get_title().startswith(f"south: highest 15 min mean {south:,.3g} kW")  # not an instant's peak


def _fig_legend(fig) -> list[str]:
    return [t.get_text() for lg in fig.legends for t in lg.get_texts()]


def test_depot_busiest_by_energy_and_uncapped_sites(small):
    ts = load_results(small).timeseries
    sites = _sites(ts, {"a": 10e3, "b": 2e6}, cap_w=np.inf)
    energy = depot.site_energy_wh(sites)
    assert energy["b"] == pytest.approx(float((sites.loc[sites["site"] == "b", "load_w"] * 900.0 / 3600.0).sum()))
    assert depot.busiest_sites(sites, 1) == ["b"]
    fig = depot.make_depot(sites, dpi=40)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == 2 and all("MW" in ax.get_ylabel() for ax in panels)  # 2 MW site sets the unit
    assert not any(_gid(ax, "cap:") for ax in panels)  # no cap, no dashed line
    assert not any(_gid(ax, "solar:") for ax in panels) and "solar output" not in _fig_legend(fig)  # no array
    assert "solar" not in fig.get_suptitle()
    np.testing.assert_allclose(_gid(panels[0], "load:")["load:b"].get_ydata()[:-1],
                               sites.loc[sites["site"] == "b", "load_w"].to_numpy() / 1e6)
    assert depot.make_depot(None) is None
    assert "no site samples" in _texts(depot.make_depot(sites.iloc[:0]))


def test_read_sites_names_the_file_and_missing_column(tmp_path):
    assert depot.read_sites(tmp_path) is None
    pd.DataFrame({"t_s": [900.0], "time": ["2022-06-06T00:15:00-07:00"], "site": ["d"], "load_w": [1.0],
                  "solar_w": [0.0]}).to_csv(tmp_path / "sites.csv", index=False)
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "sites.csv")) + ".*cap_w"):
        depot.read_sites(tmp_path)


# ------------------------------------------------------------------------------ report command
def test_fleetsim_report_draws_the_new_figures_and_the_page_shows_them(small, tmp_path):
    folder = tmp_path / "res"
    shutil.copytree(small, folder, ignore=shutil.ignore_patterns("figures", "report.html"))
    summary = json.loads((folder / "summary.json").read_text())
    summary["comparison"] = COMPARISON
    (folder / "summary.json").write_text(json.dumps(summary))
    _sites(load_results(folder).timeseries, {"depot_1": 25e3}).to_csv(folder / "sites.csv", index=False)
    assert fleetsim_main(["report", str(folder)]) == 0
    new = ("grid.png", "energy_flows.png", "comparison.png", "depot.png")
    html = (folder / "report.html").read_text(encoding="utf-8")
    srcs = re.findall(r'<img src="([^"]+)"', html)
    assert srcs == [f"figures/{n}" for n in (*FIGURE_NAMES, "comparison.png", "depot.png")]
    for name in new:
        assert _png_size(folder / "figures" / name)[0] > 0
        caption = re.search(rf'<img src="figures/{re.escape(name)}" alt="[^"]*"><figcaption>([^<]+)</figcaption>',
                            html)
        assert caption and caption.group(1) == CAPTIONS[name].replace("'", "&#x27;"), name
    assert _png_size(folder / "figures" / "comparison.png") == (round(style.SIZE_WIDE[0] * 110),
                                                                round(style.SIZE_WIDE[1] * 110))
    first = {n: (folder / "figures" / n).read_bytes() for n in new}
    assert b"tIME" not in b"".join(first.values())  # no timestamp chunk
    assert fleetsim_main(["report", str(folder)]) == 0  # redrawn: byte-identical
    assert {n: (folder / "figures" / n).read_bytes() for n in new} == first
    # an older folder: no comparison, no sites -> those figures and their page entries go away
    summary["comparison"] = None
    (folder / "summary.json").write_text(json.dumps(summary))
    (folder / "sites.csv").unlink()
    assert fleetsim_main(["report", str(folder)]) == 0
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert "comparison.png" not in html and "depot.png" not in html and "figures/grid.png" in html
    assert not (folder / "figures" / "comparison.png").exists() and not (folder / "figures" / "depot.png").exists()


def test_comparison_note_names_the_batch_the_gpus_ran_when_memory_held_fewer(small):
    dc = {**COMPARISON["datacenter"], "batch": 34, "model": "llama-3.1-8b-bf16"}
    res = _with_summary(load_results(small), comparison={**COMPARISON, "datacenter": dc})
    fig = energy_figures.make_comparison(res, dpi=110)
    note = fig.get_supxlabel()
    assert "batch 34 (of 64 asked: what its KV cache holds)" in note and "model 'llama-3.1-8b-bf16'" in note
    renderer = fig.canvas.get_renderer()
    label = next(t for t in fig.texts if t.get_text() == note)
    box, page = label.get_window_extent(renderer), fig.bbox
    assert page.x0 <= box.x0 and box.x1 <= page.x1  # the note is not clipped at the sides
