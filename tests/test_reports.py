"""reports: figures and the report page drawn from real (tiny) results folders."""
from __future__ import annotations

import dataclasses
import re
import shutil
import struct
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from reports import build_report, figures, style
from reports.page import write_page
from sim.results import load_results, write_results
from sim.runner import run
from sim.scenario import default_scenario

FIGURE_NAMES = ("fleet_states.png", "utilization.png", "power.png", "latency.png", "dispatch.png")
SIZES_IN = {"fleet_states.png": style.SIZE_WIDE, "utilization.png": style.SIZE_WIDE,
            "power.png": style.SIZE_TALL, "latency.png": style.SIZE_WIDE, "dispatch.png": style.SIZE_TALL}
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
def test_build_report_writes_four_pngs_and_page(small, built):
    dpi = 110  # the scenario default report.dpi
    assert [p.name for p in built] == [*FIGURE_NAMES, "report.html"]
    for name in FIGURE_NAMES:
        p = small / "figures" / name
        assert p in built and p.is_file()
        assert p.stat().st_size > 20_000, f"{name}: suspiciously small"
        w_in, h_in = SIZES_IN[name]
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
    assert _row(html, "job balance residual") == ("0", "jobs")
    for label in ("charging losses", "driving", "sleep drain"):
        assert _row(html, f"energy: {label}")[1] == "kWh"


def test_page_links_every_figure_and_is_self_contained(small, built):
    html = (small / "report.html").read_text(encoding="utf-8")
    srcs = re.findall(r'<img src="([^"]+)"', html)
    assert srcs == [f"figures/{n}" for n in FIGURE_NAMES]
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
    polys = [c for c in ax.collections if (c.get_gid() or "").startswith("power:")]
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
    assert [p.name for p in paths] == [*FIGURE_NAMES, "report.html"]
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
    assert [p.name for p in paths] == list(FIGURE_NAMES)
    for make in figures.FIGURES.values():
        assert _texts(make(empty, 40)).startswith("no ")


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
