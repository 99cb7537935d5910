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
    assert all(f"<small>extra.m{i}</small>" in full for i in range(12))
    assert "<td>SLO attainment (%)<br><small>jobs.slo_attainment</small></td>" in full


def test_units_scale_with_the_values():
    agg = pd.DataFrame({"availability.available_gw.mean": [2e-6, 1e-6]})  # 2 kW and 1 kW
    d = sweep_figures.display_for(agg, "availability.available_gw")
    assert d.factor == pytest.approx(1e6) and d.text == "available inference power (kW)"
    assert d.format(1.6e-4) == "160.0 kW"  # not "1.600e-04 GW"
    assert d.format(2e-3) == "2,000 kW"  # one unit for a whole axis or column, fit to its largest value
    assert sweep_figures.metric_display("availability.available_gw", [2e-3]).format(2e-3) == "2.000 MW"
    assert sweep_figures.metric_display("co2_kg.total", [913.4]).text == "CO₂ emissions (kg CO₂)"
    assert sweep_figures.metric_display("co2_kg.total", [12_500.0]).text == "CO₂ emissions (t CO₂)"
    assert sweep_figures.metric_display("cost_usd.total", [2.1e9]).text == "total cost ($ billion)"
    slo = sweep_figures.metric_display("jobs.slo_attainment", [0.9991])
    assert (slo.text, slo.factor, slo.format(0.99912)) == ("SLO attainment (%)", 100.0, "99.91 %")
    assert sweep_figures.metric_display("tokens.generated", [3e7]).text == "tokens generated (million tokens)"
    assert sweep_figures.metric_display("fleet.trips_impacted").text == "trips impacted"
    assert sweep_figures.metric_display("my.own_metric").text == "my own metric"  # not in the catalogue: no unit


def test_page_numbers_use_the_fitting_unit_and_separators():
    kw = sweep_figures.metric_display("availability.available_gw", [1.6e-4])  # a 1,000-car fleet: 160 kW..MW
    assert sweep_page.value_cell(1.6e-7, 1.5e-7, 1.7e-7, sweep_figures.metric_display(
        "availability.available_gw", [1.6e-7])) == "160 ± 10"
    assert sweep_page.value_cell(1.6e-4, math.nan, math.nan, kw) == "160.0"
    g = sweep_figures.metric_display("comparison.fleet.g_co2_per_million_tokens", [1584.7])
    assert sweep_page.value_cell(1584.749, 875.0, 2294.5, g) == "1,585 ± 710"
    slo = sweep_figures.metric_display("jobs.slo_attainment")
    assert sweep_page.value_cell(0.998836, 0.99705, 1.00062, slo) == "99.88 ± 0.18"  # to the CI's digits
    assert sweep_page.value_cell(None, None, None, slo) == "n/a"


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
def _panel(fig, metric: str, agg: pd.DataFrame):
    """The bars panel of ``metric``, found by its catalogue title."""
    return next(a for a in fig.axes if a.get_title() == sweep_figures.display_for(agg, metric).text)


def _drawn_means(ax, metric: str, configs: list[str]) -> dict[str, float]:
    """The means a bars panel draws: bar lengths where it draws bars, else its dots (one per row)."""
    widths = {p.get_gid(): p.get_width() for p in ax.patches if (p.get_gid() or "").startswith("bar:")}
    if widths:
        return {g.rsplit(":", 1)[1]: w for g, w in widths.items()}
    (dots,) = [c for c in ax.collections if c.get_gid() == f"mean:{metric}"]
    return {configs[int(round(yv))]: xv for xv, yv in dots.get_offsets()}


def test_bars_are_the_aggregate_means_and_cis(scan):
    t = load_tables(scan)
    fig = sweep_figures.make_bars(t, choose(t), dpi=40)
    agg = _agg(scan)
    configs = agg["config"].tolist()
    for metric in METRICS:
        ax = _panel(fig, metric, agg)
        d = sweep_figures.display_for(agg, metric)
        drawn = _drawn_means(ax, metric, configs)
        assert drawn == pytest.approx({c: m * d.factor for c, m in zip(configs, agg[f"{metric}.mean"])})
        (ci,) = [c for c in ax.collections if c.get_gid() == f"ci:{metric}"]
        segs = np.array(ci.get_segments())
        has_ci = agg[f"{metric}.ci95_low"].notna().to_numpy()
        assert len(segs) == has_ci.sum() == len(agg) - 1  # (power_of_d, 100) ran one seed: no interval
        top = 100.0 if d.share else np.inf  # a share's interval is drawn cut at 100 %
        np.testing.assert_allclose(segs[:, 0, 0], np.minimum(agg.loc[has_ci, f"{metric}.ci95_low"] * d.factor, top))
        np.testing.assert_allclose(segs[:, 1, 0], np.minimum(agg.loc[has_ci, f"{metric}.ci95_high"] * d.factor, top))
        np.testing.assert_allclose(segs[:, 0, 1], np.flatnonzero(has_ci))  # each on its configuration's row
        lo, hi = ax.get_xlim()  # every mean and interval end inside the panel
        assert lo <= min(drawn.values()) and max(drawn.values()) <= hi
        assert lo <= segs[:, :, 0].min() and segs[:, :, 0].max() <= hi
    labels = [tick.get_text() for tick in fig.axes[0].get_yticklabels()]
    assert labels == sweep_figures.config_labels(agg, [POLICY, VEHICLES])


def test_pareto_figure_draws_points_and_front(scan):
    t = load_tables(scan)
    c = choose(t)
    ax = sweep_figures.make_pareto(t, c, dpi=40).axes[0]
    agg = _agg(scan)
    (pts,) = [col for col in ax.collections if col.get_gid() == "pareto:points"]
    fx_, fy_ = (sweep_figures.display_for(agg, m).factor for m in (c.x, c.y))  # the y axis in %: factor 100
    agg[f"{c.x}.mean"] *= fx_
    agg[f"{c.y}.mean"] *= fy_
    np.testing.assert_allclose(pts.get_offsets(), agg[[f"{c.x}.mean", f"{c.y}.mean"]].to_numpy())
    (front,) = [ln for ln in ax.get_lines() if ln.get_gid() == "pareto:front"]
    expect = pareto_front(agg, f"{c.x}.mean", f"{c.y}.mean")
    assert len(expect) >= 2
    fx, fy = front.get_data()  # the step line passes through every front point, in order
    for x, y in zip(expect[f"{c.x}.mean"], expect[f"{c.y}.mean"]):
        assert np.any(np.isclose(fx, x) & np.isclose(fy, y))
    assert "lower is better" in ax.get_xlabel() and "higher is better" in ax.get_ylabel()
    text = "\n".join(tx.get_text() for tx in ax.texts if tx.get_gid() == "pareto:label")
    assert all(label in text.split("\n") for label in sweep_figures.config_labels(agg, [POLICY, VEHICLES]))


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


# ------------------------------------------------------------------------------ readable figures
RAW_KEY = re.compile(r"[a-z_]\.[a-z_]")  # a dotted summary key such as jobs.preempted


def _made(folder: Path, values: dict[str, dict[str, tuple[float, float, float]]],
          listed: list[str] | None = None) -> sweep_figures.SweepTables:
    """A one-axis sweep's tables from chosen numbers: policy -> metric -> (mean, CI low, CI high)."""
    rows = []
    for c, (policy, metrics) in enumerate(values.items()):
        row = {"config": f"c{c:02d}", POLICY: policy, "n": 2}
        for m, (mean, lo, hi) in metrics.items():
            row.update({f"{m}.mean": mean, f"{m}.std": (hi - lo) / 4, f"{m}.ci95_low": lo, f"{m}.ci95_high": hi})
        rows.append(row)
    names = list(next(iter(values.values())))
    meta = {"name": "made", "axes": [{"key": POLICY, "values": list(values)}], "seeds": [1, 2],
            "combine": "product", "metrics": listed or names}
    return sweep_figures.SweepTables(folder, meta, pd.DataFrame(), pd.DataFrame(rows), pd.DataFrame())


def _texts(fig) -> list[str]:
    """Every title, axis label and legend entry of a figure."""
    out = [fig.get_suptitle()]
    for ax in fig.axes:
        out += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        if ax.get_legend() is not None:
            out += [t.get_text() for t in ax.get_legend().get_texts()]
    return [t for t in out if t]


def test_each_bar_panel_fits_its_own_values(tmp_path):
    slo, co2 = "jobs.slo_attainment", "co2_kg.total"
    t = _made(tmp_path, {"random": {slo: (0.9986, 0.9985, 0.9987), co2: (900.0, 850.0, 950.0)},
                         "power_of_d": {slo: (0.999, 0.9989, 0.9991), co2: (400.0, 380.0, 420.0)}})
    fig = sweep_figures.make_bars(t, choose(t), dpi=40)
    ax = _panel(fig, slo, t.aggregate)
    lo, hi = ax.get_xlim()  # in %
    assert (hi - lo) / 100 < 0.1 and lo <= 99.85 and 99.91 <= hi
    assert (99.9 - 99.86) / (hi - lo) > 0.2  # the difference fills a fifth of the panel at least
    assert not [p for p in ax.patches if (p.get_gid() or "").startswith("bar:")]  # dots: no bar from 0 to 99.8
    assert ax.get_xlabel() == ""
    ax = _panel(fig, co2, t.aggregate)  # 380..950 kg: 0 is close, so the axis starts there and bars are drawn
    assert ax.get_xlim()[0] == 0 and ax.get_xlim()[1] >= 950
    assert len([p for p in ax.patches if (p.get_gid() or "").startswith("bar:")]) == 2
    assert sweep_figures.value_range(np.array([-5.0, -4.9])) == pytest.approx((-5.008, -4.892))


def test_a_panel_without_variation_says_so(scan):
    t = load_tables(scan)
    agg = t.aggregate
    fig = sweep_figures.make_bars(t, choose(t), dpi=40)
    ax = _panel(fig, "fleet.trips_impacted", agg)  # 0 in every configuration
    assert ax.get_xlabel() == "no variation: 0 in every configuration"
    assert ax.get_xlim()[0] <= 0 <= ax.get_xlim()[1]
    assert all(_panel(fig, m, agg).get_xlabel() == "" for m in METRICS if m != "fleet.trips_impacted")


def test_titles_and_labels_come_from_the_catalogue(scan):
    t = load_tables(scan)
    c = choose(t)
    figs = {name: make(t, c, dpi=40) for name, make in sweep_figures.FIGURES.items()}
    for name, fig in figs.items():
        raw = [text for text in _texts(fig) if RAW_KEY.search(text)]
        assert raw == [], name
    titles = [ax.get_title() for ax in figs["bars.png"].axes if ax.get_visible()]
    assert titles == ["SLO attainment (%)", "latency p95 (s)", "CO₂ emissions (kg CO₂)",
                      "fleet CO₂ per million tokens (g CO₂/million tokens)", "trips impacted"]


def test_pareto_labels_do_not_overlap(tmp_path):
    x, y = "comparison.fleet.g_co2_per_million_tokens", "jobs.slo_attainment"
    close = {f"p{i}": {x: (300.0 + 2 * i, 299.0 + 2 * i, 301.0 + 2 * i), y: (0.95, 0.949, 0.951)} for i in range(4)}
    t = _made(tmp_path, {**close, "twin": close["p0"], "far": {x: (400.0, 399.0, 401.0), y: (0.99, 0.98, 1.0)}})
    fig = sweep_figures.make_pareto(t, choose(t), dpi=110)
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    labels = [a for a in ax.texts if a.get_gid() == "pareto:label"]
    boxes = [sweep_figures.label_box(a, renderer) for a in labels]
    frame = ax.get_window_extent(renderer)
    for i, j in itertools.combinations(range(len(boxes)), 2):
        assert not boxes[i].overlaps(boxes[j]), (labels[i].get_text(), labels[j].get_text())
    assert all(frame.contains(b.x0, b.y0) and frame.contains(b.x1, b.y1) for b in boxes)
    lines = [ln for a in labels for ln in a.get_text().split("\n")]
    assert sorted(ln for ln in lines if ln.startswith("policy=")) == sorted(f"policy={p}" for p in t.aggregate[POLICY])
    assert "2 configurations here:\npolicy=p0\npolicy=twin" in [a.get_text() for a in labels]  # one mark, one label


def test_lines_label_every_axis_and_show_the_study_metric(scan):
    t = load_tables(scan)
    own = sweep_figures.SweepTables(t.folder, {**t.meta, "metrics": ["co2_kg.total"]}, t.points, t.aggregate,
                                    t.failures)
    c = choose(own)
    assert c.line_metrics == ("co2_kg.total", "jobs.slo_attainment", "comparison.fleet.g_co2_per_million_tokens")
    fig = sweep_figures.make_lines(own, c, dpi=40)
    assert [ax.get_title() for ax in fig.axes] == [sweep_figures.display_for(t.aggregate, m).text
                                                    for m in c.line_metrics]
    for ax in fig.axes:
        assert ax.get_ylabel() and ax.get_xlabel() == "vehicles"
        lo, hi = ax.get_ylim()
        ys = np.concatenate([ln.get_ydata() for ln in ax.get_lines()])
        assert lo <= np.nanmin(ys) and np.nanmax(ys) <= hi
    assert [ax.get_ylabel() for ax in fig.axes] == ["kg CO₂", "%", "g CO₂/million tokens"]


def test_metric_labels_are_documented_keys():
    from sim.results import catalog

    assert [k for k in catalog.METRIC_LABELS if catalog.metric_unit(k) is None] == []
    assert catalog.metric_label("jobs.preempted") == "preemptions"
    assert catalog.metric_label("availability.peak_hour_available_gw") == "peak-hour available inference power"
    assert catalog.metric_label("robotaxi.depot.peak_kw") == "robotaxi depot peak"  # made from the key
    assert catalog.metric_unit("availability.peak_hour_available_gw") == "GW"


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
    lat = sweep_figures.display_for(agg, m)
    half = (row[f"{m}.ci95_high"] - row[f"{m}.ci95_low"]) / 2
    mean_text, half_text = sweep_page.value_cell(row[f"{m}.mean"], row[f"{m}.ci95_low"], row[f"{m}.ci95_high"],
                                                 lat).split(" ± ")
    assert float(mean_text) == pytest.approx(row[f"{m}.mean"], abs=0.05)
    assert float(half_text) == pytest.approx(half, rel=0.05)
    assert f'<td class="num">{mean_text} ± {half_text}</td>' in page and "(s)<br><small>jobs.latency_s.p95" in page
    slo = "jobs.slo_attainment"  # a share: shown in %, as its column header says
    cell = sweep_page.value_cell(row[f"{slo}.mean"], row[f"{slo}.ci95_low"], row[f"{slo}.ci95_high"],
                                 sweep_figures.display_for(agg, slo))
    assert float(cell.split(" ± ")[0]) == pytest.approx(100 * row[f"{slo}.mean"], abs=0.05)
    assert f'<td class="num">{cell}</td>' in page and "SLO attainment (%)" in page
    one_seed = agg[(agg[POLICY] == "power_of_d") & (agg[VEHICLES] == 100)].iloc[0]
    assert f'<td class="num">{sweep_figures.fmt_sig(one_seed[f"{m}.mean"], 4)}</td>' in page  # no ± for n = 1
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
