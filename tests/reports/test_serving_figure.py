"""The batched-serving figure, checked through matplotlib's objects on short real runs."""
from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from reports import build_report
from reports.page import CAPTIONS
from reports.serving_figure import make_serving
from sim.results import Results, load_results, write_results
from sim.runner import run
from sim.scenario import default_scenario

SHORT = {"run.days": 0.05, "fleet.vehicles": 20,
         "workload.interactive.rate_per_s": 0.5, "workload.batch.rate_per_s": 0.5}
BATCHED = {**SHORT, "fleet.chip.serving": "batched"}
H100 = {**BATCHED, "fleet.chip.preset": "h100_sxm", "fleet.model.preset": "llama-3.1-8b-bf16"}
COLUMNS = ("output_tokens_per_s", "j_per_output_token")  # the panels' y values, left to right


@pytest.fixture(scope="module")
def h100() -> Results:
    return run(default_scenario().with_overrides(H100))


@pytest.fixture(scope="module")
def hw4() -> Results:
    return run(default_scenario().with_overrides(BATCHED))


def _panels(fig: Figure) -> list[Axes]:
    """The two data panels (a colour bar, when drawn, is a further axes)."""
    return fig.axes[:2]


def _artist(ax: Axes, gid: str):
    (found,) = [a for a in (*ax.get_lines(), *ax.collections) if a.get_gid() == gid]
    return found


def _xy(artist) -> np.ndarray:
    """The (x, y) data points of a line or a scatter collection."""
    if hasattr(artist, "get_xydata"):
        return np.asarray(artist.get_xydata(), dtype=float)
    return np.asarray(artist.get_offsets(), dtype=float)


def _legend(fig: Figure) -> list[str]:
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]


def _check_panels(fig: Figure, res: Results) -> None:
    """Labels and units, log2 batch axis, log y axes, data as in serving.csv, every point inside."""
    sv = res.serving
    for ax, col in zip(_panels(fig), COLUMNS, strict=True):
        assert ax.get_xscale() == "log" and ax.xaxis.get_transform().base == 2
        assert ax.get_yscale() == "log"
        assert ax.get_xlabel() == "batch size (sequences decoded together, log₂ scale)"
        ticks = [float(t.get_text().replace(",", "")) for t in ax.get_xticklabels()]
        assert ticks and all(np.log2(t).is_integer() for t in ticks)  # whole powers of two, plain numbers
        for kind in ("model", "visited", "measured"):
            rows = sv[sv["kind"] == kind]
            if not len(rows):
                assert not [a for a in (*ax.get_lines(), *ax.collections) if a.get_gid() == kind]
                continue
            xy = _xy(_artist(ax, kind))
            want = rows[["batch", col]].to_numpy(dtype=float)
            np.testing.assert_allclose(xy[np.lexsort(xy.T[::-1])], want[np.lexsort(want.T[::-1])], rtol=1e-12)
            (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
            assert np.all((xy[:, 0] > x0) & (xy[:, 0] < x1)), (kind, col)
            assert np.all((xy[:, 1] > y0) & (xy[:, 1] < y1)), (kind, col)
        assert len(_xy(_artist(ax, "model"))) >= 2  # no empty panel
    left, right = _panels(fig)
    assert left.get_ylabel() == "output tokens/s per chip (log scale)"
    assert right.get_ylabel() == "J per output token (J/token, log scale)"
    sc = res.scenario
    assert f"chip '{sc['fleet.chip.preset']}', model '{sc['fleet.model.preset']}'" in fig.get_suptitle()


def test_h100_figure_shows_model_visited_and_measured_points(h100):
    fig = make_serving(h100, dpi=40)
    _check_panels(fig, h100)
    assert "chip 'h100_sxm', model 'llama-3.1-8b-bf16'" in fig.get_suptitle()
    legend = _legend(fig)
    assert len(legend) == 3
    assert legend[0].startswith("chip model, decode steps")
    assert legend[1] == "visited by the run: decode steps only (colour: share of decoding time)"
    assert legend[2].startswith("measured: ML.ENERGY, H100, Llama-3.1-8B bf16")
    done = h100.jobs[h100.jobs["outcome"] == "completed"]
    assert f"{done['prompt_tokens'].mean():,.0f} prompt + {done['output_tokens'].mean():,.0f} output" in legend[0]
    # the visited points' colours are their share of decoding time, explained by a colour bar
    visited = h100.serving[h100.serving["kind"] == "visited"]
    assert len(visited) > 1 and len(fig.axes) == 3
    bar = fig.axes[2]
    assert bar.get_ylabel() == "share of decoding time at that batch (%, log scale)"
    scatter = _artist(_panels(fig)[0], "visited")
    share = 100.0 * visited["seconds"].to_numpy() / visited["seconds"].sum()
    np.testing.assert_allclose(np.sort(scatter.get_array()), np.sort(share), rtol=1e-12)
    assert scatter.norm.vmin == pytest.approx(share.min()) and scatter.norm.vmax == pytest.approx(share.max())


def test_hw4_figure_has_no_measured_points(hw4):
    fig = make_serving(hw4, dpi=40)
    _check_panels(fig, hw4)
    assert "chip 'hw4'" in fig.get_suptitle()
    legend = _legend(fig)
    assert [t.split(":")[0].split(",")[0] for t in legend] == ["chip model", "visited by the run"]
    assert not any("ML.ENERGY" in t for t in legend)


def test_one_visited_batch_needs_no_colour_bar_and_none_is_said(hw4):
    sv = hw4.serving
    one = sv[(sv["kind"] != "visited") | (sv["batch"] == sv.loc[sv["kind"] == "visited", "batch"].iloc[0])]
    fig = make_serving(dataclasses.replace(hw4, serving=one), dpi=40)
    assert len(fig.axes) == 2  # a single share: nothing for a colour scale to compare
    b = int(one.loc[one["kind"] == "visited", "batch"].iloc[0])
    assert _legend(fig)[1] == f"visited by the run: decode steps only, all at batch {b}"
    none = dataclasses.replace(hw4, serving=sv[sv["kind"] != "visited"])
    fig = make_serving(none, dpi=40)
    assert len(fig.axes) == 2 and len(_legend(fig)) == 1
    for ax in fig.axes:
        assert "the run decoded at no batch size" in [t.get_text() for t in ax.texts]
        assert len(_xy(_artist(ax, "model"))) >= 2


def test_report_of_a_batched_run_draws_and_shows_the_serving_figure(tmp_path):
    batched = write_results(run(default_scenario().with_overrides(H100)), tmp_path / "batched")
    names = [p.name for p in build_report(batched, dpi=30)]
    assert names.index("serving.png") == names.index("dispatch.png") + 1
    html = (batched / "report.html").read_text(encoding="utf-8")
    caption = re.search(r'<img src="figures/serving.png" alt="[^"]*"><figcaption>([^<]+)</figcaption>', html)
    assert caption and caption.group(1) == CAPTIONS["serving.png"].replace("'", "&#x27;").replace('"', "&quot;")
    assert (batched / "figures" / "serving.png").stat().st_size > 5_000


def test_slots_run_has_no_serving_figure(tmp_path):
    slots = write_results(run(default_scenario().with_overrides(SHORT)), tmp_path / "slots")
    res = load_results(slots)
    assert res.scenario["fleet.chip.serving"] == "slots" and res.serving is None
    assert make_serving(res) is None
    (slots / "figures").mkdir()
    (slots / "figures" / "serving.png").write_bytes(b"stale")
    assert "serving.png" not in [p.name for p in build_report(slots, dpi=30)]
    assert not (slots / "figures" / "serving.png").exists()  # a stale copy does not outlive its data
    assert "serving.png" not in (slots / "report.html").read_text(encoding="utf-8")



def test_a_run_of_two_models_says_its_points_include_shared_rounds():
    """The curve is the fleet's model alone; a decode round with another model's jobs reads that
    model's weights too, so the legend says the points include such rounds."""
    res = run(default_scenario().with_overrides({
        **BATCHED, "fleet.vehicles": 3, "fleet.mobility": False, "fleet.opt_in_share": 1.0,
        "workload.interactive.rate_per_s": 1.0, "workload.batch.rate_per_s": 0.01,
        "workload.batch.output_tokens": 500, "workload.batch.model": "llama-3.2-3b-q4"}))
    fig = make_serving(res, dpi=40)
    _check_panels(fig, res)
    legend = _legend(fig)
    assert legend[1].endswith("including rounds shared with llama-3.2-3b-q4 jobs (the curve: 'llama-3.1-8b-q4' "
                              "alone)")
    assert len(fig.axes) == 3  # several batch sizes: a colour bar, labelled in plain numbers, major and minor
    fig.canvas.draw()
    bar = fig.axes[2]
    labels = [t.get_text() for t in (*bar.get_yticklabels(), *bar.get_yticklabels(minor=True)) if t.get_text()]
    assert labels and not any("times" in t or "^" in t for t in labels)
    single = make_serving(run(default_scenario().with_overrides(BATCHED)), dpi=40)
    assert "shared" not in _legend(single)[1]
