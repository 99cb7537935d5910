"""Report figures (PNG) and the report page, drawn from a finished results folder or sweep folder.

``build_report(folder)`` reads the folder with :func:`sim.results.load_results` (never runs a
simulation), draws every figure into ``folder/figures/`` and writes ``folder/report.html``.
Figures whose data the folder lacks (no data-center comparison, no ``sites.csv``) are skipped.
A sweep folder (one holding ``sweep.csv``) gets the comparison report of :func:`build_sweep_report`.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from reports.depot import site_samples
from reports.figures import draw_all
from reports.page import write_page
from reports.sweep_figures import SWEEP_CSV, choose, load_tables
from reports.sweep_figures import draw_all as draw_sweep
from reports.sweep_page import write_sweep_page
from sim.results import load_results

FIGURE_DIR = "figures"
DEFAULT_DPI = 110

__all__ = ["build_report", "build_sweep_report"]


def build_report(folder: str | Path, dpi: int | None = None, out: str | Path | None = None) -> list[Path]:
    """Draw all figures and the report page for the results ``folder``; return the written paths.

    The files go to ``out`` (default: ``folder`` itself), laid out as in a results folder.
    ``dpi`` (dots per inch) defaults to the scenario's ``report.dpi``. A folder holding ``sweep.csv``
    gets the sweep comparison report instead (:func:`build_sweep_report`). Raises
    :class:`FileNotFoundError` naming the folder when it holds neither ``summary.json`` nor ``sweep.csv``.
    """
    f = Path(folder)
    if (f / SWEEP_CSV).is_file():
        return build_sweep_report(f, dpi, out=out)
    o = f if out is None else Path(out)
    results = load_results(f)  # raises FileNotFoundError naming ``f`` before anything is written
    if dpi is None:
        try:
            dpi = int(results.scenario["report.dpi"])
        except (KeyError, TypeError, ValueError):
            dpi = DEFAULT_DPI
    pngs = draw_all(results, o / FIGURE_DIR, dpi, sites=site_samples(results, f))
    return [*pngs, write_page(o, results, pngs)]


def build_sweep_report(folder: str | Path, dpi: int | None = None, *, metrics: Sequence[str] | None = None,
                       x: str | None = None, y: str | None = None, minimise_x: bool = True,
                       maximise_y: bool = True, line_metrics: Sequence[str] | None = None,
                       out: str | Path | None = None) -> list[Path]:
    """Draw the comparison figures (bars, Pareto, lines) and the report page of the sweep ``folder``
    into ``out`` (default: ``folder``); return the written paths. The figure arguments are those of
    :func:`reports.sweep_figures.choose`; ``dpi`` defaults to the sweep's ``report.dpi`` setting, else 110.
    """
    f = Path(folder)
    tables = load_tables(f)  # raises FileNotFoundError naming the file before anything is written
    choice = choose(tables, metrics, x, y, minimise_x, maximise_y, line_metrics)
    if dpi is None:
        try:
            dpi = int(tables.meta.get("set", {}).get("report.dpi", DEFAULT_DPI))
        except (TypeError, ValueError):
            dpi = DEFAULT_DPI
    o = f if out is None else Path(out)
    pngs = draw_sweep(tables, choice, o / FIGURE_DIR, dpi)
    return [*pngs, write_sweep_page(o, tables, choice, pngs)]
