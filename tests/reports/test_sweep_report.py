"""reports.sweep_figures / reports.sweep_page: the comparison report of a sweep folder.

The sweep folders are written by hand here (sweep.json, sweep.csv, aggregate.csv, failures.csv), so
every figure and table is checked against numbers the test chose.
"""
from __future__ import annotations

import itertools
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from reports import build_report, sweep_figures, sweep_page
from reports.sweep_figures import choose, load_tables, pareto_front
from sim.publish import write_marker
from sim.results import write_results
from sim.runner import run
from sim.scenario import default_scenario

ROOT = Path(__file__).resolve().parents[2]
POLICY, VEHICLES = "dispatch.policy", "fleet.vehicles"
METRICS = ["jobs.slo_attainment", "jobs.latency_s.p95", "co2_kg.total",
           "comparison.fleet.g_co2_per_million_tokens", "fleet.trips_impacted"]
ERROR = "Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: battery went negative"


def _metric_values(axes: dict, seed: int) -> dict[str, float]:
    """Made-up metrics of one point: smooth in the axes, a little spread over seeds."""
    n = float(axes.get(VEHICLES, 100))
    good = {"random": 0.0, "power_of_d": 1.0, "departure_aware": 0.5}[axes[POLICY]]
    wobble = (seed % 7) / 100.0
    return {"jobs.slo_attainment": min(0.99, 0.6 + 0.1 * good + n / 2000.0 + wobble),
            "jobs.latency_s.p95": 4.0 - good - n / 400.0 + 10 * wobble,
            "co2_kg.total": n / 10.0 + 5.0 * good + 20 * wobble,
            "comparison.fleet.g_co2_per_million_tokens": 300.0 + 40.0 * good - n / 20.0 + 100 * wobble,
            "fleet.trips_impacted": 0.0}


def make_sweep(folder: Path, axes: list[tuple[str, list]], seeds: list[int],
               failed: set[tuple] = frozenset(), combine: str = "product") -> Path:
    """Write a sweep folder; ``failed`` holds (axis values..., seed) tuples of points that failed."""
    folder.mkdir(parents=True)
    keys = [k for k, _ in axes]
    combos = (list(itertools.product(*[v for _, v in axes])) if combine == "product"
              else list(zip(*[v for _, v in axes])))
    rows, fails = [], []
    for c, values in enumerate(combos):
        for r, seed in enumerate(seeds):
            point = c * len(seeds) + r
            ax = dict(zip(keys, values))
            bad = (*values, seed) in failed
            row = {"point": point, "config": f"c{c:02d}", "replicate": r, "seed": seed,
                   "status": "failed" if bad else "ok", **ax}
            row.update({m: (math.nan if bad else v) for m, v in _metric_values(ax, seed).items()})
            rows.append(row)
            if bad:
                fails.append({"point": point, "config": f"c{c:02d}", "seed": seed, **ax, "error": ERROR})
    points = pd.DataFrame(rows)
    points.to_csv(folder / "sweep.csv", index=False)
    agg_rows = []
    for c, values in enumerate(combos):
        ok = points[(points["config"] == f"c{c:02d}") & (points["status"] == "ok")]
        row = {"config": f"c{c:02d}", **dict(zip(keys, values)), "n": len(ok)}
        for m in METRICS:
            x = ok[m].to_numpy(dtype=float)
            mean, std = float(x.mean()), (float(x.std(ddof=1)) if len(x) > 1 else math.nan)
            half = float(st.t.ppf(0.975, len(x) - 1)) * std / math.sqrt(len(x)) if len(x) > 1 else math.nan
            row.update({f"{m}.mean": mean, f"{m}.std": std, f"{m}.ci95_low": mean - half,
                        f"{m}.ci95_high": mean + half})
        agg_rows.append(row)
    pd.DataFrame(agg_rows).to_csv(folder / "aggregate.csv", index=False)
    pd.DataFrame(fails, columns=["point", "config", "seed", *keys, "error"]).to_csv(folder / "failures.csv",
                                                                                    index=False)
    meta = {"name": "policy-scan", "scenario": "examples/small.toml",
            "axes": [{"key": k, "values": v} for k, v in axes], "set": {"run.days": 0.25},
            "seeds": seeds, "root_seed": 7, "combine": combine, "metrics": METRICS, "points": len(rows)}
    (folder / "sweep.json").write_text(json.dumps(meta, indent=2))
    (folder / "points").mkdir()
    write_marker(folder, "sweep")  # as fleetsim marks the sweep folders it writes
    return folder


@pytest.fixture
def scan(tmp_path) -> Path:
    """Two policies × three fleet sizes × three seeds; one point of (random, 400) failed and two of
    (power_of_d, 100), leaving that configuration a single seed (no CI)."""
    return make_sweep(tmp_path / "scan", [(POLICY, ["random", "power_of_d"]), (VEHICLES, [100, 200, 400])],
                      [11, 12, 13], failed={("random", 400, 13), ("power_of_d", 100, 12), ("power_of_d", 100, 13)})


@pytest.fixture
def policies(tmp_path) -> Path:
    """One categorical axis only (three policies × two seeds), nothing failed."""
    return make_sweep(tmp_path / "policies", [(POLICY, ["random", "power_of_d", "departure_aware"])], [1, 2])


def _agg(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "aggregate.csv", dtype={"config": str})


# ------------------------------------------------------------------------------ pareto front
def test_pareto_front_hand_answer():
    df = pd.DataFrame({"name": ["A", "B", "C", "C2", "D", "E", "F", "G", "H", "I"],
                       "x": [1.0, 2.0, 2.0, 2.0, 3.0, 3.0, 3.0, 0.5, np.nan, 4.0],
                       "y": [0.5, 0.8, 0.7, 0.7, 0.8, 0.9, 0.9, 0.2, 1.0, 0.85]})
    # C, C2 (duplicates) lose to B; D ties B on y with more x; I loses to E; H has no x.
    # E and F are identical optima: both stay.
    front = pareto_front(df, "x", "y")
    assert front["name"].tolist() == ["G", "A", "B", "E", "F"]
    assert front.index.tolist() == [7, 0, 1, 5, 6]
    assert pareto_front(df, "x", "y", minimise_x=False, maximise_y=True)["name"].tolist() == ["E", "F", "I"]
    assert pareto_front(df, "x", "y", minimise_x=True, maximise_y=False)["name"].tolist() == ["G"]
    assert pareto_front(df.iloc[:0], "x", "y").empty


@pytest.mark.parametrize("min_x, max_y", [(True, True), (True, False), (False, True), (False, False)])
def test_pareto_front_matches_definition(min_x, max_y):
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"x": rng.integers(0, 6, 60).astype(float), "y": rng.integers(0, 6, 60).astype(float)})
    a = df["x"].to_numpy() * (1 if min_x else -1)
    b = df["y"].to_numpy() * (-1 if max_y else 1)
    dominated = [bool(np.any((a <= a[i]) & (b <= b[i]) & ((a < a[i]) | (b < b[i])))) for i in range(len(df))]
    expected = sorted(np.flatnonzero(~np.array(dominated)).tolist())
    front = pareto_front(df, "x", "y", min_x, max_y)
    assert sorted(front.index.tolist()) == expected
    assert front["x"].is_monotonic_increasing
    assert df.shape == (60, 2)  # the input is left alone


# ------------------------------------------------------------------------------ tables and choice
def test_load_tables_returns_the_files(scan):
    t = load_tables(scan)
    ids = ["point", "config", "status"]  # identifiers are read as text
    raw_agg, raw_pts = pd.read_csv(scan / "aggregate.csv"), pd.read_csv(scan / "sweep.csv")
    pd.testing.assert_frame_equal(t.aggregate.drop(columns="config"), raw_agg.drop(columns="config"))
    pd.testing.assert_frame_equal(t.points.drop(columns=ids), raw_pts.drop(columns=ids))
    for col in ids:
        assert t.points[col].tolist() == raw_pts[col].astype(str).tolist()
    assert t.aggregate["config"].tolist() == [f"c{i:02d}" for i in range(6)]
    assert len(t.failures) == 3 and t.meta["root_seed"] == 7
    assert t.axes == [POLICY, VEHICLES] and t.metrics == METRICS
    assert sweep_figures.numeric_axes(t) == [VEHICLES]
    assert sweep_figures.config_labels(t.aggregate, t.axes)[:2] == ["policy=random, vehicles=100",
                                                                    "policy=random, vehicles=200"]


def test_load_tables_names_the_missing_file(tmp_path):
    (tmp_path / "sweep.json").write_text("{}")
    (tmp_path / "sweep.csv").write_text("point,config\n")
    with pytest.raises(FileNotFoundError, match="aggregate.csv"):
        load_tables(tmp_path)


def test_default_choice(scan):
    t = load_tables(scan)
    c = choose(t)
    assert c.metrics == tuple(METRICS)
    assert (c.x, c.y, c.minimise_x, c.maximise_y) == ("comparison.fleet.g_co2_per_million_tokens",
                                                      "jobs.slo_attainment", True, True)
    assert c.line_axes == (VEHICLES,)
    with pytest.raises(ValueError, match="energy_kwh.nope"):
        choose(t, x="energy_kwh.nope")


def test_many_metrics_default_to_the_headline_set(scan):
    t = load_tables(scan)
    extra = {f"extra.m{i}.{s}": 1.0 for i in range(12) for s in ("mean", "std", "ci95_low", "ci95_high")}
    wide = t.aggregate.assign(**extra)
    many = sweep_figures.SweepTables(t.folder, {**t.meta, "metrics": [*METRICS, *(f"extra.m{i}" for i in range(12))]},
                                     t.points, wide, t.failures)
    c = choose(many)
    assert c.metrics == tuple(m for m in sweep_figures.HEADLINE_METRICS if m in METRICS)
    assert choose(many, metrics=["extra.m3"]).metrics == ("extra.m3",)
    page = sweep_page.aggregate_table(many, c.metrics)
    assert "extra.m0" not in page and "co2_kg.total" in page
    full = sweep_page.all_metrics_table(many)
    assert all(f"<td>extra.m{i}</td>" in full for i in range(12)) and "<td>jobs.slo_attainment (%)</td>" in full


def test_power_in_gw_is_drawn_in_a_readable_unit():
    agg = pd.DataFrame({"availability.available_gw.mean": [2e-6, 1e-6]})  # 2 kW and 1 kW
    factor, label = sweep_figures.display_scale(agg, "availability.available_gw")
    assert factor == pytest.approx(1e6) and label == "available inference power (kW)"
    assert sweep_figures.display_scale(agg, "co2_kg.total") == (1.0, "CO₂ emissions (kg)")


def test_pareto_falls_back_to_total_co2_and_is_skipped_without_attainment(scan):
    agg = _agg(scan)
    agg[[c for c in agg if c.startswith("comparison.")]] = np.nan  # no data-center comparison in these runs
    agg.to_csv(scan / "aggregate.csv", index=False)
    t = load_tables(scan)
    assert choose(t).x == "co2_kg.total"
    no_slo = agg.drop(columns=[c for c in agg if c.startswith("jobs.slo_attainment")])
    no_slo.to_csv(scan / "aggregate.csv", index=False)
    t = load_tables(scan)
    c = choose(t)
    assert c.y is None and sweep_figures.make_pareto(t, c) is None
    assert [p.name for p in build_report(scan)] == ["bars.png", "lines.png", "report.html"]


# ------------------------------------------------------------------------------ figure data
def test_bars_are_the_aggregate_means_and_cis(scan):
    t = load_tables(scan)
    fig = sweep_figures.make_bars(t, choose(t), dpi=40)
    agg = _agg(scan)
    for metric in METRICS:
        ax = next(a for a in fig.axes if a.get_title() == sweep_figures.metric_label(metric))
        widths = {p.get_gid(): p.get_width() for p in ax.patches if (p.get_gid() or "").startswith("bar:")}
        assert widths == pytest.approx({f"bar:{metric}:{c}": m for c, m in zip(agg["config"], agg[f"{metric}.mean"])})
        (ci,) = [c for c in ax.collections if c.get_gid() == f"ci:{metric}"]
        segs = np.array(ci.get_segments())
        has_ci = agg[f"{metric}.ci95_low"].notna().to_numpy()
        assert len(segs) == has_ci.sum() == len(agg) - 1  # (power_of_d, 100) ran one seed: no interval
        np.testing.assert_allclose(segs[:, 0, 0], agg.loc[has_ci, f"{metric}.ci95_low"])
        np.testing.assert_allclose(segs[:, 1, 0], agg.loc[has_ci, f"{metric}.ci95_high"])
        np.testing.assert_allclose(segs[:, 0, 1], np.flatnonzero(has_ci))  # each on its configuration's row
    labels = [tick.get_text() for tick in fig.axes[0].get_yticklabels()]
    assert labels == sweep_figures.config_labels(agg, [POLICY, VEHICLES])


def test_pareto_figure_draws_points_and_front(scan):
    t = load_tables(scan)
    c = choose(t)
    ax = sweep_figures.make_pareto(t, c, dpi=40).axes[0]
    agg = _agg(scan)
    (pts,) = [col for col in ax.collections if col.get_gid() == "pareto:points"]
    np.testing.assert_allclose(pts.get_offsets(), agg[[f"{c.x}.mean", f"{c.y}.mean"]].to_numpy())
    (front,) = [ln for ln in ax.get_lines() if ln.get_gid() == "pareto:front"]
    expect = pareto_front(agg, f"{c.x}.mean", f"{c.y}.mean")
    assert len(expect) >= 2
    fx, fy = front.get_data()  # the step line passes through every front point, in order
    for x, y in zip(expect[f"{c.x}.mean"], expect[f"{c.y}.mean"]):
        assert np.any(np.isclose(fx, x) & np.isclose(fy, y))
    assert "minimise" in ax.get_title() and "maximise" in ax.get_title()
    assert "lower is better" in ax.get_xlabel() and "higher is better" in ax.get_ylabel()
    texts = {tx.get_text() for tx in ax.texts}
    assert set(sweep_figures.config_labels(agg, [POLICY, VEHICLES])) <= texts


def test_lines_are_means_per_axis_value_with_ci_band(scan):
    t = load_tables(scan)
    fig = sweep_figures.make_lines(t, choose(t, line_metrics=["co2_kg.total"]), dpi=40)
    ax = fig.axes[0]
    agg = _agg(scan)
    m = "co2_kg.total"
    for policy in ("random", "power_of_d"):
        sub = agg[agg[POLICY] == policy].sort_values(VEHICLES)
        gid = f"{m}:{VEHICLES}:policy={policy}"
        (line,) = [ln for ln in ax.get_lines() if ln.get_gid() == f"line:{gid}"]
        np.testing.assert_allclose(line.get_xdata(), [100, 200, 400])
        np.testing.assert_allclose(line.get_ydata(), sub[f"{m}.mean"])
        (band,) = [col for col in ax.collections if col.get_gid() == f"band:{gid}"]
        v = np.concatenate([p.vertices for p in band.get_paths()])
        for _, row in sub.iterrows():
            at = v[np.isclose(v[:, 0], row[VEHICLES]), 1]
            if np.isnan(row[f"{m}.ci95_low"]):  # one seed: no band there
                assert at.size == 0
            else:
                assert at.min() == pytest.approx(row[f"{m}.ci95_low"])
                assert at.max() == pytest.approx(row[f"{m}.ci95_high"])


def test_lines_skipped_without_numeric_axis(policies):
    t = load_tables(policies)
    assert sweep_figures.numeric_axes(t) == []
    assert sweep_figures.make_lines(t, choose(t), dpi=40) is None
    (policies / "figures").mkdir()
    (policies / "figures" / "lines.png").write_bytes(b"stale")
    paths = build_report(policies)
    assert [p.name for p in paths] == ["bars.png", "pareto.png", "report.html"]
    assert not (policies / "figures" / "lines.png").exists()
    page = (policies / "report.html").read_text(encoding="utf-8")
    assert "lines.png" not in page and "No point failed." in page


def test_zip_sweep_draws_one_line(tmp_path):
    folder = make_sweep(tmp_path / "zip", [(POLICY, ["random", "power_of_d"]), (VEHICLES, [100, 400])], [1, 2],
                        combine="zip")
    t = load_tables(folder)
    groups = sweep_figures.line_groups(t, VEHICLES)
    assert len(groups) == 1 and groups[0][1][VEHICLES].tolist() == [100, 400]


# ------------------------------------------------------------------------------ page
def test_page_lists_failures_aggregate_and_metadata(scan):
    paths = build_report(scan)
    assert [p.name for p in paths] == ["bars.png", "pareto.png", "lines.png", "report.html"]
    page = (scan / "report.html").read_text(encoding="utf-8")
    assert page.count("ValueError: battery went negative") == 3 and "Traceback" not in page
    assert "3 point(s) failed" in page
    assert re.search(r"<td>8</td><td>policy=random, vehicles=400</td><td class=\"num\">13</td>", page)
    agg = _agg(scan)
    row = agg.iloc[0]
    m = "jobs.latency_s.p95"
    half = (row[f"{m}.ci95_high"] - row[f"{m}.ci95_low"]) / 2
    cell = f"{sweep_page.fmt_num(row[f'{m}.mean'])} ± {sweep_page.fmt_num(half)}"
    assert f'<td class="num">{cell}</td>' in page
    slo = "jobs.slo_attainment"  # a share: shown in %, as its column header says
    half = (row[f"{slo}.ci95_high"] - row[f"{slo}.ci95_low"]) / 2
    cell = f"{sweep_page.fmt_num(100 * row[f'{slo}.mean'])} ± {sweep_page.fmt_num(100 * half)}"
    assert f'<td class="num">{cell}</td>' in page
    one_seed = agg[(agg[POLICY] == "power_of_d") & (agg[VEHICLES] == 100)].iloc[0]
    assert f'<td class="num">{sweep_page.fmt_num(one_seed[f"{m}.mean"])}</td>' in page  # no ± for n = 1
    for text in ("policy-scan", "examples/small.toml", "axis fleet.vehicles</td><td>100, 200, 400",
                 "root seed</td><td>7", "points ok / failed</td><td>15 / 3", "product"):
        assert text in page
    assert re.findall(r'<img src="([^"]+)"', page) == ["figures/bars.png", "figures/pareto.png", "figures/lines.png"]
    assert page.count("<figcaption>") == 3 and "<script" not in page and "http" not in page


def test_page_escapes_text(scan):
    meta = json.loads((scan / "sweep.json").read_text())
    (scan / "sweep.json").write_text(json.dumps({**meta, "name": "<b>a&b</b>"}))
    build_report(scan)
    page = (scan / "report.html").read_text(encoding="utf-8")
    assert "<b>a&b</b>" not in page and "&lt;b&gt;a&amp;b&lt;/b&gt;" in page


def test_redraw_is_byte_identical(scan):
    first = {p.name: p.read_bytes() for p in build_report(scan)}
    second = {p.name: p.read_bytes() for p in build_report(scan)}
    assert first == second and len(first) == 4


# ------------------------------------------------------------------------------ command line
def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sim.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)


def test_cli_report_on_a_sweep_folder(scan):
    proc = _cli("report", str(scan))
    assert proc.returncode == 0, proc.stderr
    for name in ("bars.png", "pareto.png", "lines.png"):
        assert (scan / "figures" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (scan / "report.html").is_file()


def test_cli_report_on_a_run_folder_is_unchanged(tmp_path):
    folder = write_results(run(default_scenario().with_overrides({"run.days": 0.05, "fleet.vehicles": 10})),
                           tmp_path / "res")
    proc = _cli("report", str(folder))
    assert proc.returncode == 0, proc.stderr
    assert (folder / "figures" / "fleet_states.png").is_file() and not (folder / "figures" / "bars.png").exists()
    assert "Headline metrics" in (folder / "report.html").read_text(encoding="utf-8")
