"""Report figures (PNG) and the report page, drawn from a finished results folder.

``build_report(folder)`` reads the folder with :func:`sim.results.load_results` (never runs a
simulation), draws every figure into ``folder/figures/`` and writes ``folder/report.html``.
Figures whose data the folder lacks (no data-center comparison, no ``sites.csv``) are skipped.
"""
from __future__ import annotations

from pathlib import Path

from reports.depot import site_samples
from reports.figures import draw_all
from reports.page import write_page
from sim.results import load_results

FIGURE_DIR = "figures"
DEFAULT_DPI = 110

__all__ = ["build_report"]


def build_report(folder: str | Path, dpi: int | None = None) -> list[Path]:
    """Draw all figures and the report page for the results ``folder``; return the written paths.

    ``dpi`` (dots per inch) defaults to the scenario's ``report.dpi``. Raises
    :class:`FileNotFoundError` naming the folder when it holds no ``summary.json``.
    """
    f = Path(folder)
    results = load_results(f)  # raises FileNotFoundError naming ``f`` before anything is written
    if dpi is None:
        try:
            dpi = int(results.scenario["report.dpi"])
        except (KeyError, TypeError, ValueError):
            dpi = DEFAULT_DPI
    pngs = draw_all(results, f / FIGURE_DIR, dpi, sites=site_samples(results, f))
    return [*pngs, write_page(f, results, pngs)]
