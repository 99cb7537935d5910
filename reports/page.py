"""The report page: one self-contained ``report.html`` with the headline table and figures.

No external CSS or JavaScript; images are linked relatively (``figures/<name>.png``) so the
folder can be moved or zipped as a whole. Every text taken from the results is HTML-escaped.
"""
from __future__ import annotations

import html
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from reports import style
from sim.results import Results

REPORT = "report.html"

CAPTIONS = {
    "fleet_states.png": "Vehicles per state (stacked, mean over each sample interval); charging "
                        "(plugged and drawing power) is orthogonal and drawn as a line.",
    "utilization.png": "Every car's chip at full power (the nameplate), split over time into what is "
                       "available to serve (busy and idle chip slots of online cars) and what is lost to "
                       "parked cars offline, owners not opted in and driving, stacked; below, the busy "
                       "share of the available chip slots (utilization).",
    "power.png": "Where the grid's power goes: load-side power by energy category and the net power "
                 "into the batteries (stacked), with grid draw as a line; the hatched part of the loads "
                 "was fed by the batteries, so the stack less the hatch is the grid draw. Legend shares "
                 "are of the energy of loads plus storage; thin bands are outlined. Electricity price and "
                 "grid carbon intensity below.",
    "latency.png": "Distribution (ECDF) of latency from arrival to last token for completed jobs, "
                   "per class, with each class's SLO; attainment counts dropped jobs as misses.",
    "dispatch.png": "Mean queue length and mean wait of the jobs that started in each interval, per "
                    "class; preemptions per interval by cause (the owner departed, the battery "
                    "reached what the car must keep, or the car's link went down). A panel with nothing "
                    "to show is left out, and a line under the title says why.",
    "serving.png": "Batched serving: one chip's output tokens per second and energy per output token "
                   "against the batch size (sequences decoded together). The line is the chip's decode "
                   "step for the run's mean request; the markers are the batch sizes the run decoded at, "
                   "over its decode steps (prefill pauses excluded), coloured by their share of the "
                   "decoding time; for an H100 serving Llama-3.1-8B bf16, open diamonds are the ML.ENERGY "
                   "measurements (x = the server's maximum batch), end to end with prefills and their own "
                   "requests, so they need not lie on the run's curve. Drawn only for batched runs "
                   "(fleet.chip.serving = \"batched\").",
    "grid.png": "Fleet load against the grid's carbon and price: net energy stored in the batteries, "
                "charging losses, inference (chip serving and idle, awake-car overhead) and the other "
                "loads (driving, sleep drain, discharge losses), stacked, with grid draw as a line; where "
                "the stack rises above the line the batteries fed the difference (hatched). A start-up "
                "charging peak far above the rest is left off scale with a note. Below: electricity "
                "price and grid carbon intensity, and (dashed) what the fleet's grid energy cost and "
                "emitted per kWh on average.",
    "energy_flows.png": "Where each kWh came from and went over the whole run: grid import and net "
                        "battery drawdown (sources) against every load, loss and net battery charge gain "
                        "(uses); both bars have the same length by the energy balance. 'Chip, serving' is "
                        "only the busy slots' power above idle. Below, on its own scale, the inference "
                        "energy (chip serving and idle, awake-car overhead) billed to jobs served (their "
                        "busy slots with their share of the idle chip and awake car) and to standby.",
    "comparison.png": "Fleet against a data center, per million generated tokens: energy (kWh), "
                      "emissions (g CO₂) and cost ($, stacked by component: electricity, carbon price, "
                      "owner payouts or hardware) of serving the same tokens. Drawn only when the run "
                      "has a data-center comparison and generated tokens.",
    "depot.png": "Depot sites: each site's charging load against its power cap (dashed) and its solar "
                 "output (filled), one panel per site (the four busiest by energy delivered when there "
                 "are more). Drawn only when the run has per-site samples (sites.csv).",
}

PAGE_CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2em auto;
       max-width: 1250px; color: #222; line-height: 1.4; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
p.meta { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.95em; }
th, td { padding: 0.22em 0.9em; border-bottom: 1px solid #e3e3e3; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.section th { background: #f2f2f2; border-bottom: 1px solid #ccc; padding-top: 0.5em; }
figure { margin: 1.2em 0 2em; } figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { color: #555; font-size: 0.92em; margin-top: 0.3em; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
"""


# ---------------------------------------------------------------------------------- formatting
def _get(summary: dict[str, Any], dotted: str) -> Any:
    """A summary value by dotted path, or None when absent."""
    node: Any = summary
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def fmt_int(x: Any) -> str:
    """An integer count with thousands separators (``259,462``); ``n/a`` for None."""
    return "n/a" if x is None else f"{int(round(float(x))):,}"


def fmt_num(x: Any, digits: int = 4) -> str:
    """A float to ``digits`` significant digits with thousands separators (``20,846``, ``18.32``);
    very small magnitudes in scientific notation; ``n/a`` for None."""
    if x is None:
        return "n/a"
    v = float(x)
    if not math.isfinite(v):
        return str(v)
    if v == 0:
        return "0"
    if abs(v) < 1e-3:
        return f"{v:.{digits - 1}e}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(v))))
    return f"{v:,.{decimals}f}"


def fmt_days(x: Any) -> str:
    """A number of days without trailing zeros (``3``, ``0.25``); ``n/a`` for None."""
    return "n/a" if x is None else f"{float(x):g}"


def fmt_pct(x: Any) -> str:
    """A fraction (0..1) as a percentage with one decimal, without the sign (unit column has %)."""
    return "n/a" if x is None else f"{100.0 * float(x):.1f}"


def fmt_sci(x: Any) -> str:
    """A residual in scientific notation (``-1.08e-09``)."""
    return "n/a" if x is None else f"{float(x):.3g}"


def headline_rows(summary: dict[str, Any]) -> list[tuple[str, str, str] | str]:
    """The headline table: section names (str) and (quantity, formatted value, unit) rows."""
    g = lambda key: _get(summary, key)  # noqa: E731
    gw = g("fleet.avg_available_inference_gw")
    div, unit = style.power_unit(float(gw) * 1e9) if gw is not None else (1.0, "W")
    rows: list[tuple[str, str, str] | str] = [
        "Run",
        ("scenario", str(g("scenario")), ""),
        ("seed", str(g("seed")), ""),
        ("start (local)", str(g("run.start")), ""),
        ("simulated span", fmt_days(g("run.days")), "days"),
        ("wall time", fmt_num(g("run.wall_s"), 3), "s"),
        ("events", fmt_int(g("run.events")), ""),
        ("fleetsim version", str(g("fleetsim_version")), ""),
        "Fleet",
        ("vehicles simulated", fmt_int(g("fleet.vehicles_simulated")), "vehicles"),
        ("vehicles represented", fmt_int(g("fleet.vehicles_represented")), "vehicles"),
        ("opted in to serving", fmt_int(g("fleet.opted_in")), "vehicles"),
        ("trips", fmt_int(g("fleet.trips")), "trips"),
        ("trips impacted by inference", fmt_int(g("fleet.trips_impacted")), "trips"),
        ("distance driven", fmt_num(g("fleet.km")), "km"),
        ("average available inference power", fmt_num(float(gw) * 1e9 / div if gw is not None else None),
         unit),
        "Jobs",
        ("arrived", fmt_int(g("jobs.arrived")), "jobs"),
        ("completed", fmt_int(g("jobs.completed")), "jobs"),
        ("dropped", fmt_int(g("jobs.dropped")), "jobs"),
        ("preempted", fmt_int(g("jobs.preempted")), "preemptions"),
        ("queued / running at end", f"{fmt_int(g('jobs.queued_at_end'))} / {fmt_int(g('jobs.running_at_end'))}",
         "jobs"),
        ("latency p50", fmt_num(g("jobs.latency_s.p50")), "s"),
        ("latency p95", fmt_num(g("jobs.latency_s.p95")), "s"),
        ("latency p99", fmt_num(g("jobs.latency_s.p99")), "s"),
        ("SLO attainment, all jobs", fmt_pct(g("jobs.slo_attainment")), "%"),
    ]
    for cls in (g("jobs.by_class") or {}):
        rows.append((f"SLO attainment, {cls}", fmt_pct(g(f"jobs.by_class.{cls}.slo_attainment")), "%"))
        rows.append((f"latency p95, {cls}", fmt_num(g(f"jobs.by_class.{cls}.latency_s.p95")), "s"))
    rows += [
        ("chip-slot utilization", fmt_pct(g("utilization.mean")), "%"),
        "Energy, cost and emissions",
    ]
    for cat, label in style.ENERGY_LABELS.items():
        rows.append((f"energy: {label}", fmt_num(g(f"energy_kwh.{cat}")), "kWh"))
    rows += [
        ("energy: inference total (chip + awake overhead)", fmt_num(g("energy_kwh.inference")), "kWh"),
        ("grid import", fmt_num(g("energy_kwh.grid_import")), "kWh"),
        ("battery energy change", fmt_num(g("energy_kwh.battery_change")), "kWh"),
        ("electricity cost", fmt_num(g("cost_usd.electricity")), "$"),
        ("CO₂ emissions", fmt_num(g("co2_kg.total")), "kg CO₂"),
        "Tokens",
        ("tokens served", fmt_int(g("tokens.served")), "tokens"),
        ("tokens generated", fmt_int(g("tokens.generated")), "tokens"),
        ("tokens wasted by preemption", fmt_int(g("tokens.wasted")), "tokens"),
        ("inference energy per generated token", fmt_num(g("inference_j_per_token")), "J/token"),
    ]
    if g("availability") is not None:
        # one unit for the section, the one that fits the nameplate (a 1,000-car fleet's is in kW)
        div_gw, p_unit = style.power_unit(float(g("availability.nameplate_gw") or 0.0) * 1e9)
        div_gw /= 1e9

        def in_unit(key: str) -> str:
            v = g(key)
            return fmt_num(None if v is None else float(v) / div_gw)

        rows += [
            "Available inference power (represented fleet)",
            ("chips' nameplate power", in_unit("availability.nameplate_gw"), p_unit),
            ("available, average", in_unit("availability.available_gw"), p_unit),
            ("available, peak hour", in_unit("availability.peak_hour_available_gw"), p_unit),
        ]
        for cause, label in (("driving", "driving"), ("opted_out", "owners not opted in"),
                             ("no_connection", "no connection away from home"),
                             ("low_battery", "battery at what the car must keep")):
            rows.append((f"lost to {label}", in_unit(f"availability.lost_gw.{cause}"), p_unit))
    if g("comparison.fleet") is not None:
        rows.append("Fleet against a data center, per million generated tokens")
        for side in ("fleet", "datacenter"):
            rows += [
                (f"{side}: energy", fmt_num(g(f"comparison.{side}.kwh_per_million_tokens")), "kWh"),
                (f"{side}: CO₂", fmt_num(g(f"comparison.{side}.g_co2_per_million_tokens")), "g CO₂"),
                (f"{side}: cost", fmt_num(g(f"comparison.{side}.usd_per_million_tokens")), "$"),
            ]
    if g("robotaxi") is not None:
        rows += [
            "Robotaxis and their depot",
            ("rides", fmt_int(g("robotaxi.rides")), "rides"),
            ("rides declined (charging, in line, or too long)", fmt_int(g("robotaxi.rides_declined")), "rides"),
            ("depot peak against its cap", f"{fmt_num(g('robotaxi.depot.peak_kw'))} / "
             f"{fmt_num(g('robotaxi.depot.cap_kw'))}", "kW"),
            ("depot demand charges", fmt_num(g("robotaxi.depot.demand_charge_usd")), "$"),
            ("depot solar used", fmt_num(g("robotaxi.depot.solar_used_kwh")), "kWh"),
        ]
    rows += [
        "Balance checks (should be ≈ 0)",
        ("energy balance residual", fmt_sci(g("checks.energy_balance_residual_kwh")), "kWh"),
        ("largest per-vehicle energy residual", fmt_sci(g("checks.vehicle_energy_residual_max_wh")), "Wh"),
        ("grid meter − recorder", fmt_sci(g("checks.grid_meter_vs_recorder_kwh")), "kWh"),
        ("job balance residual", fmt_int(g("checks.job_balance_residual")), "jobs"),
    ]
    return rows


# ---------------------------------------------------------------------------------- html
def _table(rows: Iterable[tuple[str, str, str] | str]) -> str:
    e = html.escape
    out = ["<table>", "<tr><th>quantity</th><th>value</th><th>unit</th></tr>"]
    for row in rows:
        if isinstance(row, str):
            out.append(f'<tr class="section"><th colspan="3">{e(row)}</th></tr>')
        else:
            name, value, unit = row
            out.append(f'<tr><td>{e(name)}</td><td class="num">{e(value)}</td><td>{e(unit)}</td></tr>')
    out.append("</table>")
    return "\n".join(out)


def _figure_html(folder: Path, path: Path) -> str:
    try:
        rel = path.resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        rel = f"figures/{path.name}"
    caption = CAPTIONS.get(path.name, path.stem.replace("_", " "))
    src = html.escape(rel, quote=True)
    return (f'<figure id="{html.escape(path.stem, quote=True)}">'
            f'<img src="{src}" alt="{html.escape(caption, quote=True)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def write_page(folder: str | Path, results: Results, figure_paths: Iterable[Path]) -> Path:
    """Write ``folder/report.html`` (headline table, figures, resolved scenario); return its path."""
    f = Path(folder)
    s = results.summary
    title = f"fleetsim report — scenario {s.get('scenario', '?')}, seed {s.get('seed', '?')}"
    try:
        scenario_text = results.scenario.to_toml()
    except Exception:
        scenario_text = "(scenario not available)"
    meta = (f"fleetsim {s.get('fleetsim_version', '?')} · start {_get(s, 'run.start')} · "
            f"{fmt_days(_get(s, 'run.days'))} simulated days")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{PAGE_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="meta">{html.escape(meta)}</p>',
        "<h2>Headline metrics</h2>",
        _table(headline_rows(s)),
        "<h2>Figures</h2>",
        *(_figure_html(f, Path(p)) for p in figure_paths),
        "<h2>Scenario (fully resolved)</h2>",
        f"<details><summary>scenario.toml</summary><pre>{html.escape(scenario_text)}</pre></details>",
        "</body></html>",
        "",
    ]
    out = f / REPORT
    out.write_text("\n".join(parts), encoding="utf-8")
    return out
