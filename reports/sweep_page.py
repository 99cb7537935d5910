"""The sweep report page: ``report.html`` in a sweep folder, with the sweep's metadata, the aggregate
table (mean ± 95 % CI half-width per metric per configuration), the failed points and the figures.

Self-contained like :mod:`reports.page` (no external CSS or JavaScript, figures linked relatively);
every text taken from the sweep's files is HTML-escaped.
"""
from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from reports.page import PAGE_CSS
from reports.sweep_figures import (
    MetricDisplay,
    SweepChoice,
    SweepTables,
    config_labels,
    display_for,
    fmt_sig,
    fmt_value,
    scenario_name,
    short_names,
)

REPORT = "report.html"
SWEEP_CSS = PAGE_CSS + """
div.wide { overflow-x: auto; } th { vertical-align: bottom; } th small { color: #777; font-weight: normal; }
td.err { font-family: ui-monospace, monospace; font-size: 0.88em; color: #8B0000; }
"""


def captions(tables: SweepTables, choice: SweepChoice) -> dict[str, str]:
    """The caption of each figure, naming what it shows for this sweep."""
    dx = "lower" if choice.minimise_x else "higher"
    dy = "higher" if choice.maximise_y else "lower"

    def label(metric: str | None) -> str:
        return display_for(tables.aggregate, metric).text if metric else "?"

    lines = ", ".join(label(m) for m in choice.line_metrics)
    group = ("one line per value of the other axes" if tables.meta.get("combine") != "zip"
             else "one line, since the axes of a zip sweep move together")
    axes = ", ".join(short_names(tables.axes)[a] for a in choice.line_axes)
    return {
        "bars.png": "Each metric's mean over seeds per configuration and its 95 % confidence interval "
                    "(whiskers, from aggregate.csv); a configuration run with one seed has no interval. "
                    "Each panel's axis fits its own values: it starts at 0 only when 0 is close, and then "
                    "draws bars; otherwise dots. A panel whose means are all equal says so under its axis. "
                    "Marks share a colour when they share the first axis's value.",
        "pareto.png": f"Trade-off between {label(choice.x)} (x, {dx} is better) and "
                      f"{label(choice.y)} (y, {dy} is better): each configuration's means with "
                      "95 % CI whiskers on both metrics. The step line joins the non-dominated configurations "
                      "(circled): no other configuration is at least as good on both metrics and better on one. "
                      "Configurations whose marks overlap share a label.",
        "lines.png": f"{lines} against each numeric axis ({axes}): the mean over seeds "
                     f"(line) and its 95 % confidence interval (band), {group}.",
    }


def _decimals(x: float, digits: int) -> int:
    """Decimals that show ``x`` to ``digits`` significant digits (of ``x`` so rounded: 9.9999 is 10)."""
    r = float(f"{x:.{digits - 1}e}")
    return max(0, digits - 1 - math.floor(math.log10(abs(r)))) if r else 0


def _fmt(x: float, decimals: int) -> str:
    return f"{x:,.{decimals}f}"


def value_cell(mean: Any, lo: Any, hi: Any, disp: MetricDisplay) -> str:
    """``99.88 ± 0.013`` in ``disp``'s unit: the CI half-width to two significant digits and the mean to
    the same decimal place (three to five significant digits); the mean alone, to four, when the
    interval is unknown (one seed); ``n/a`` without a mean."""
    try:
        m = float(mean) * disp.factor
    except (TypeError, ValueError):
        return "n/a"
    if not math.isfinite(m):
        return "n/a"
    try:
        h = (float(hi) - float(lo)) / 2.0 * disp.factor
    except (TypeError, ValueError):
        h = math.nan
    if not math.isfinite(h):
        return fmt_sig(m, 4)
    if h == 0:
        return f"{fmt_sig(m, 4)} ± 0"
    decimals = min(max(_decimals(h, 2), _decimals(m, 3)), _decimals(m, 5)) if m else _decimals(h, 2)
    return f"{_fmt(m, decimals)} ± {_fmt(h, max(decimals, _decimals(h, 1)))}"


def _metric_cell(row: pd.Series, metric: str, disp: MetricDisplay) -> str:
    """One table cell: the metric's mean ± CI half-width in this aggregate row, in ``disp``'s unit."""
    text = value_cell(row.get(f"{metric}.mean"), row.get(f"{metric}.ci95_low"), row.get(f"{metric}.ci95_high"), disp)
    return f'<td class="num">{html.escape(text)}</td>'


def _header(metric: str, disp: MetricDisplay) -> str:
    """A metric's label and unit, its summary key in small type below."""
    e = html.escape
    return f"{e(disp.text)}<br><small>{e(metric)}</small>"


def aggregate_table(tables: SweepTables, metrics: Iterable[str]) -> str:
    """The aggregate as an HTML table: one row per configuration, axis values, n, then per metric
    the mean over seeds ± the half-width of its 95 % confidence interval, each metric in the unit that
    fits its values (kW for a small fleet's power, shares in %), with thousands separators."""
    e, agg, axes = html.escape, tables.aggregate, tables.axes
    metrics = list(metrics)
    shown = {m: display_for(agg, m) for m in metrics}
    names = short_names(axes)
    head = [f'<th title="{e(a, quote=True)}">{e(names[a])}</th>' for a in axes] + ["<th>n</th>"]
    head += [f'<th title="{e(m, quote=True)}">{_header(m, shown[m])}</th>' for m in metrics]
    out = ['<div class="wide"><table>', f"<tr>{''.join(head)}</tr>"]
    for _, row in agg.iterrows():
        cells = [f"<td>{e(fmt_value(row[a]))}</td>" for a in axes]
        cells.append(f'<td class="num">{e(fmt_value(row["n"])) if "n" in row else "?"}</td>')
        cells += [_metric_cell(row, m, shown[m]) for m in metrics]
        out.append(f"<tr>{''.join(cells)}</tr>")
    out.append("</table></div>")
    return "\n".join(out)


def all_metrics_table(tables: SweepTables) -> str:
    """Every metric of the aggregate, one row each (label, unit and summary key), one column per configuration."""
    e, agg = html.escape, tables.aggregate
    labels = config_labels(agg, tables.axes)
    out = ['<div class="wide"><table>', "<tr><th>metric</th>" + "".join(f"<th>{e(lb)}</th>" for lb in labels) + "</tr>"]
    for m in tables.metrics:
        disp = display_for(agg, m)
        cells = "".join(_metric_cell(r, m, disp) for _, r in agg.iterrows())
        out.append(f"<tr><td>{_header(m, disp)}</td>{cells}</tr>")
    out.append("</table></div>")
    return "\n".join(out)


def failed_points(tables: SweepTables) -> pd.DataFrame:
    """The failed points with their error: failures.csv, else the rows of sweep.csv marked failed."""
    if len(tables.failures):
        return tables.failures
    pts = tables.points
    if "status" not in pts:
        return tables.failures
    failed = pts[pts["status"].astype(str) == "failed"].copy()
    failed["error"] = "(error not recorded)"
    return failed


def error_line(error: Any) -> str:
    """The last non-empty line of an error text (the exception itself, after any traceback)."""
    lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()] if isinstance(error, str) else []
    return lines[-1] if lines else "(no message)"


def failures_html(tables: SweepTables) -> str:
    """The failed points as a table (point, configuration, seed, error line), or a line saying none failed."""
    e = html.escape
    failed = failed_points(tables)
    if failed.empty:
        return "<p>No point failed.</p>"
    axes = [a for a in tables.axes if a in failed.columns]
    labels = config_labels(failed, axes)
    out = [f"<p>{len(failed)} point(s) failed; they are left out of the aggregate and the figures.</p>",
           "<table>", "<tr><th>point</th><th>configuration</th><th>seed</th><th>error</th></tr>"]
    for (_, row), label in zip(failed.iterrows(), labels):
        out.append(f"<tr><td>{e(fmt_value(row.get('point', '?')))}</td><td>{e(label)}</td>"
                   f"<td class=\"num\">{e(fmt_value(row.get('seed', '?')))}</td>"
                   f"<td class=\"err\">{e(error_line(row.get('error')))}</td></tr>")
    out.append("</table>")
    return "\n".join(out)


def metadata_rows(tables: SweepTables) -> list[tuple[str, str]]:
    """The sweep's metadata as (name, value) rows."""
    m, pts = tables.meta, tables.points
    status = pts["status"].astype(str).value_counts() if "status" in pts else pd.Series(dtype=int)
    rows = [("name", str(m.get("name", tables.folder.name))), ("base scenario", scenario_name(m).strip("'")),
            ("combination", str(m.get("combine", "?")))]
    rows += [(f"axis {a.get('key')}", ", ".join(fmt_value(v) for v in a.get("values", []))) for a in m.get("axes", [])]
    rows += [(f"set {k}", json.dumps(v) if not isinstance(v, str) else v) for k, v in m.get("set", {}).items()]
    seeds = m.get("seeds", [])
    rows += [("seeds", f"{len(seeds)}: {', '.join(str(s) for s in seeds)}"),
             ("root seed", str(m.get("root_seed", "?"))), ("points", str(m.get("points", len(pts)))),
             ("configurations", str(len(tables.aggregate))),
             ("points ok / failed", f"{int(status.get('ok', 0))} / {int(status.get('failed', 0))}"),
             ("metrics", ", ".join(tables.metrics))]
    return rows


def _figure(folder: Path, path: Path, caption: str) -> str:
    try:
        rel = path.resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        rel = f"figures/{path.name}"
    e = html.escape
    return (f'<figure id="{e(path.stem, quote=True)}"><img src="{e(rel, quote=True)}" alt="{e(caption, quote=True)}">'
            f"<figcaption>{e(caption)}</figcaption></figure>")


def write_sweep_page(folder: str | Path, tables: SweepTables, choice: SweepChoice,
                     figure_paths: Iterable[Path]) -> Path:
    """Write ``folder/report.html`` for the sweep; return its path."""
    f, e = Path(folder), html.escape
    name = tables.meta.get("name", f.name)
    title = f"fleetsim sweep report — {name}"
    caps = captions(tables, choice)
    meta = (f"scenario {scenario_name(tables.meta)} · {len(tables.aggregate)} configurations · "
            f"{len(tables.meta.get('seeds', []))} seeds · {len(failed_points(tables))} failed point(s)")
    meta_table = "\n".join(["<table>", *(f"<tr><td>{e(k)}</td><td>{e(v)}</td></tr>" for k, v in metadata_rows(tables)),
                            "</table>"])
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title>",
        f"<style>{SWEEP_CSS}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        f'<p class="meta">{e(meta)}</p>',
        "<h2>Aggregate over seeds (mean ± 95 % confidence interval half-width)</h2>",
        aggregate_table(tables, choice.metrics),
        f"<details><summary>all {len(tables.metrics)} metrics of aggregate.csv</summary>",
        all_metrics_table(tables),
        "</details>",
        "<h2>Failed points</h2>",
        failures_html(tables),
        "<h2>Figures</h2>",
        *(_figure(f, Path(p), caps.get(Path(p).name, Path(p).stem)) for p in figure_paths),
        "<h2>Sweep</h2>",
        meta_table,
        "</body></html>",
        "",
    ]
    out = f / REPORT
    out.write_text("\n".join(parts), encoding="utf-8")
    return out
