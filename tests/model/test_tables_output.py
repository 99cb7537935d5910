"""The job and vehicle tables at scale: formats (CSV, gzip, Parquet), a sampled or no job table,
and what the summary and budget say of them."""
from __future__ import annotations

import copy
import importlib.util

import pandas as pd
import pytest

from reports import build_report
from sim.budget import estimate_run
from sim.core.errors import ScenarioError
from sim.results import load_results, write_results
from sim.runner import Simulation, run
from sim.scenario import default_scenario

SMALL = {"run.days": 0.1, "fleet.vehicles": 60, "run.warmup_days": 0.0, "report.figures": False}


def _stable(summary: dict) -> dict:
    """The summary without its wall-clock figures (a deep copy)."""
    out = copy.deepcopy(summary)
    for key in ("wall_s", "decisions_per_wall_s"):
        out["run"].pop(key)
    return out


@pytest.fixture(scope="module")
def full():
    return run(default_scenario().with_overrides(SMALL))


@pytest.mark.parametrize("fmt, name", [("csv", "jobs.csv"), ("csv.gz", "jobs.csv.gz"), ("parquet", "jobs.parquet")])
def test_every_format_reads_back_the_same_tables(tmp_path, full, fmt, name):
    results = run(default_scenario().with_overrides({**SMALL, "report.tables": fmt}))
    folder = write_results(results, tmp_path / fmt)
    assert (folder / name).is_file() and (folder / name.replace("jobs", "vehicles")).is_file()
    back = load_results(folder)
    csv = load_results(write_results(full, tmp_path / "plain"))
    for table in ("jobs", "vehicles"):
        pd.testing.assert_frame_equal(getattr(back, table), getattr(csv, table), check_dtype=False)
    assert _stable(back.summary) == _stable(csv.summary)


def test_gzip_tables_are_the_same_bytes_on_every_write(tmp_path):
    results = run(default_scenario().with_overrides({**SMALL, "report.tables": "csv.gz"}))
    a = (write_results(results, tmp_path / "a") / "jobs.csv.gz").read_bytes()
    b = (write_results(results, tmp_path / "b") / "jobs.csv.gz").read_bytes()
    assert a == b


def test_a_sample_keeps_rows_of_the_full_table_and_every_summary_number(full):
    n = len(full.jobs) // 3
    sampled = run(default_scenario().with_overrides({**SMALL, "report.jobs": "sample", "report.jobs_sample": n}))
    assert len(sampled.jobs) == n == sampled.summary["jobs"]["table_rows"]
    assert sampled.jobs["job_id"].is_monotonic_increasing and sampled.jobs["job_id"].is_unique
    rows = full.jobs.set_index("job_id").loc[sampled.jobs["job_id"]].reset_index()
    pd.testing.assert_frame_equal(rows, sampled.jobs)
    again = run(default_scenario().with_overrides({**SMALL, "report.jobs": "sample", "report.jobs_sample": n}))
    assert again.jobs["job_id"].tolist() == sampled.jobs["job_id"].tolist()  # seeded
    a, b = _stable(sampled.summary), _stable(full.summary)
    a["jobs"].pop("table_rows")
    b["jobs"].pop("table_rows")
    assert a == b  # every summary number is of all jobs
    assert len(full.jobs) > n


def test_no_job_table_still_makes_a_report(tmp_path):
    results = run(default_scenario().with_overrides({**SMALL, "report.jobs": "none", "report.figures": True}))
    assert results.summary["jobs"]["table_rows"] == 0 and results.summary["jobs"]["completed"] > 0
    folder = write_results(results, tmp_path / "none", before_publish=build_report)
    assert load_results(folder).jobs.empty and (folder / "report.html").is_file()
    assert list(pd.read_csv(folder / "jobs.csv").columns) == list(results.jobs.columns)  # the header: its columns


def test_parquet_without_pyarrow_is_refused_before_the_run(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyarrow" else real(name, *a))
    with pytest.raises(ScenarioError, match=r"report.tables = 'parquet': needs pyarrow, not installed; allowed: "
                                            r"'csv' or 'csv.gz', or pip install 'fleetsim\[parquet\]'"):
        Simulation(default_scenario().with_overrides({**SMALL, "report.tables": "parquet"}))


def test_the_budget_counts_what_is_written():
    base = default_scenario()
    full = estimate_run(base).output_bytes
    assert estimate_run(base.with_overrides({"report.jobs": "none"})).output_bytes < full / 10
    assert estimate_run(base.with_overrides({"report.tables": "parquet"})).output_bytes < full / 2.5
    sample = estimate_run(base.with_overrides({"report.jobs": "sample", "report.jobs_sample": 1000})).output_bytes
    assert sample < full / 10


def test_serving_points_and_the_latency_figure_know_the_table_is_partial(tmp_path):
    """The serving curve's mean request is of every job; the latency figure says what its table holds."""
    from reports.figures import make_latency

    batched = {**SMALL, "fleet.chip.serving": "batched"}
    every = run(default_scenario().with_overrides(batched))
    none = run(default_scenario().with_overrides({**batched, "report.jobs": "none"}))
    pd.testing.assert_frame_equal(every.serving, none.serving)
    texts = [t.get_text() for t in make_latency(none, 60).axes[0].texts]
    assert any("the job table was not written (report.jobs = 'none')" in t for t in texts)
    n = len(every.jobs) // 2
    sample = run(default_scenario().with_overrides({**SMALL, "report.jobs": "sample", "report.jobs_sample": n}))
    ax = make_latency(sample, 60).axes[0]
    assert f"a uniform sample of {n:,} of the {sample.summary['jobs']['arrived']:,} jobs" in ax.get_title()
    assert any(" in the sample, SLO attainment" in t.get_text() for t in ax.get_legend().get_texts())
