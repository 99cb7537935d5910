"""The batched-serving figure: the chip's output tokens/s and J per output token against batch size.

Drawn from ``serving.csv`` (``Results.serving``), which only batched runs (``fleet.chip.serving =
"batched"``) have: the chip's decode steps at each batch size for the run's mean request (``kind =
model``, a line),
each batch size the run decoded at (``visited``, markers coloured by the share of decoding time spent
there) and, for an H100 serving Llama-3.1-8B bf16, the published ML.ENERGY points (``measured``).
Both panels share a log2 batch axis (sequences); tokens/s and J/token are on log axes.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullLocator

from reports import style
from sim.results import Results

MODEL_COLOR = "#333333"
MEASURED_COLOR = style.CAP_COLOR
VISITED_CMAP = "viridis_r"  # little time: pale; most time: dark
VISITED_ONE = "#3B0F70"  # a single visited batch size: no colour scale
MEASURED_SOURCE = "ML.ENERGY, H100, Llama-3.1-8B bf16"
MEASURED_NOTE = "its own chat requests; x = the server's max batch"
#: (serving.csv column, axis label) of the two panels, left to right
PANELS = (("output_tokens_per_s", "output tokens/s per chip (log scale)"),
          ("j_per_output_token", "J per output token (J/token, log scale)"))
WIDE_DECADES = 1.5  # a log scale wider than this (decades) labels only 1, 2 and 5 of each decade
PAD = 1.35  # axis limits: the data's range widened by this factor on each side (log axes)


def _plain(v: float, _pos: object = None) -> str:
    """A tick label without exponents: ``0.05``, ``1.5``, ``20``, ``1,000``."""
    return f"{v:,.0f}" if v >= 100 else f"{v:.3g}"


def _plain_2_5(v: float, _pos: object = None) -> str:
    """:func:`_plain` at 2 and 5 times a power of ten, else no label (minor ticks of a wide log scale)."""
    mantissa = v / 10.0 ** math.floor(math.log10(v)) if v > 0 else 0.0
    return _plain(v) if round(mantissa, 6) in (2.0, 5.0) else ""


def _log_axis_limits(values: np.ndarray) -> tuple[float, float]:
    """Limits (same unit as ``values``, all > 0) that hold every finite positive value with margin."""
    v = values[np.isfinite(values) & (values > 0)]
    if not len(v):
        return 1.0, 10.0
    return float(v.min()) / PAD, float(v.max()) * PAD


def _batch_axis(ax: Axes, batches: np.ndarray) -> None:
    """A log2 batch axis (sequences) ticked at the powers of two, labelled as whole numbers."""
    lo, hi = float(batches.min()) / PAD, float(batches.max()) * PAD
    ax.set_xscale("log", base=2)
    ax.set_xlim(lo, hi)
    ticks = [2.0 ** k for k in range(math.ceil(math.log2(lo)), math.floor(math.log2(hi)) + 1)]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(_plain))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("batch size (sequences decoded together, log₂ scale)")


def _model_label(results: Results) -> str:
    """The model curve's legend entry, naming the run's mean request (tokens) when jobs completed."""
    jobs = results.jobs
    done = jobs[jobs["outcome"] == "completed"] if "outcome" in jobs else jobs.iloc[:0]
    req = (f"; run's mean request {done['prompt_tokens'].mean():,.0f} prompt + "
           f"{done['output_tokens'].mean():,.0f} output tokens" if len(done) else "")
    return f"chip model, decode steps{req}"


def _log_y(ax: Axes, values: np.ndarray) -> None:
    """A log y axis holding ``values`` with plain tick labels (1-2-5 per decade, denser when narrow)."""
    lo, hi = _log_axis_limits(values)
    ax.set_yscale("log")
    ax.set_ylim(lo, hi)
    subs = (1.0, 2.0, 5.0) if math.log10(hi / lo) > WIDE_DECADES else (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.yaxis.set_major_formatter(FuncFormatter(_plain))
    ax.yaxis.set_minor_locator(NullLocator())


def _visited_style(visited: pd.DataFrame) -> tuple[np.ndarray, LogNorm | None, str]:
    """Each visited batch's share of the chips' decoding time (%), the colour scale over those
    shares (None for a single batch size: nothing to compare) and the legend entry."""
    secs = visited["seconds"].to_numpy(dtype=float)
    share = 100.0 * secs / secs.sum() if len(secs) else secs
    if len(share) == 1:
        return share, None, f"visited by the run: decode steps only, all at batch {int(visited['batch'].iloc[0])}"
    norm = LogNorm(max(float(share.min()), 1e-6), float(share.max())) if len(share) else None
    return share, norm, "visited by the run: decode steps only (colour: share of decoding time)"


def make_serving(results: Results, dpi: int = 110) -> Figure | None:
    """Output tokens/s per chip and J per output token against batch size (sequences); None when
    the run has no ``serving.csv`` (slots mode)."""
    sv = results.serving
    if sv is None:
        return None
    sc = results.scenario
    fig = style.new_figure(style.SIZE_WIDE, dpi)
    axes = fig.subplots(1, 2, sharex=True)
    fig.suptitle(f"Batched serving: chip '{sc['fleet.chip.preset']}', model '{sc['fleet.model.preset']}' "
                 f"({style.subtitle(results.summary)})")
    for ax, (_, label), title in zip(axes, PANELS, ("throughput", "energy per output token"), strict=True):
        ax.set_ylabel(label)
        ax.set_title(title, fontsize="medium")
    if not len(sv):
        for ax in axes:
            style.empty_panel(ax, "no operating points in serving.csv")
        return fig
    model, visited, measured = (sv[sv["kind"] == k].sort_values("batch", kind="stable")
                                for k in ("model", "visited", "measured"))
    share, norm, visited_label = _visited_style(visited)
    shared = [m["name"] for m in results.summary["serving"].get("models") or []
              if m["name"] != sc["fleet.model.preset"] and m["arrived"]]
    if shared and len(visited):  # a decode round reads every model with a job in it: not the curve's
        visited_label += (f"\nincluding rounds shared with {', '.join(shared)} jobs (the curve: "
                          f"'{sc['fleet.model.preset']}' alone)")
    order = np.argsort(share, kind="stable")  # the longest drawn last, on top
    handles: dict[str, Artist] = {}  # legend entries in order: model, visited, measured
    for ax, (col, _) in zip(axes, PANELS, strict=True):
        handles["model"], = ax.plot(model["batch"], model[col], color=MODEL_COLOR, lw=1.8, gid="model",
                                    label=_model_label(results))
        if len(visited):
            handles["visited"] = ax.scatter(
                visited["batch"].to_numpy()[order], visited[col].to_numpy()[order], s=34, zorder=3,
                c=share[order] if norm else VISITED_ONE, cmap=VISITED_CMAP if norm else None, norm=norm,
                edgecolors="#222222", linewidths=0.5, gid="visited", label=visited_label)
        else:
            style.empty_panel(ax, "the run decoded at no batch size")
        if len(measured):
            handles["measured"], = ax.plot(measured["batch"], measured[col], ls="", marker="D", ms=6, mfc="none",
                                           mec=MEASURED_COLOR, mew=1.6, gid="measured",
                                           label=f"measured: {MEASURED_SOURCE} ({MEASURED_NOTE})")
        _log_y(ax, sv[col].to_numpy(dtype=float))
        ax.grid(alpha=0.3, which="major")
        _batch_axis(ax, sv["batch"].to_numpy(dtype=float))
    if norm is not None:
        bar = fig.colorbar(handles["visited"], ax=list(axes), pad=0.01, aspect=30)
        bar.set_label("share of decoding time at that batch (%, log scale)")
        bar.formatter = FuncFormatter(_plain)
        # 20, 30, ... rather than 2x10^1; over several decades only 2 and 5 of each, so they never overprint
        wide = math.log10(norm.vmax / norm.vmin) > WIDE_DECADES
        bar.ax.yaxis.set_minor_formatter(FuncFormatter(_plain_2_5 if wide else _plain))
        # the legend's sample point in a mid-scale colour rather than whichever point came first
        handles["visited"] = Line2D([], [], ls="", marker="o", ms=6, mfc=colormaps[VISITED_CMAP](0.5),
                                    mec="#222222", mew=0.5, label=visited_label)
    fig.legend(list(handles.values()), [h.get_label() for h in handles.values()], loc="outside lower center",
               ncol=1, frameon=False)
    return fig
