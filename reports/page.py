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
from reports.page_scale import cohort_section, interval_section
from sim.core import quantities
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
    "cohorts.png": "A mixed fleet (fleet.cohorts): each cohort's mean available inference power (stacked), its "
                   "share of the fleet's cars, chip nameplate, available power and tokens served, and its cars' own "
                   "inference energy per million tokens they served.",
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
tr.total th, tr.total td { border-top: 2px solid #999; font-weight: bold; }
table.by-class th { text-align: center; } p.note { color: #555; font-size: 0.92em; max-width: 60em; }
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


def _fixed(v: float, digits: int) -> str:
    """``v`` (finite, non-zero) to ``digits`` significant digits in fixed notation with separators."""
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(v))))
    return f"{v:,.{decimals}f}"


def fmt_num(x: Any, digits: int = 4) -> str:
    """A float to ``digits`` significant digits with thousands separators (``20,846``, ``18.32``,
    ``0.0001115``), never in scientific notation; ``n/a`` for None."""
    if x is None:
        return "n/a"
    v = float(x)
    if not math.isfinite(v):
        return str(v)
    return "0" if v == 0 else _fixed(v, digits)


def fmt_days(x: Any) -> str:
    """A number of days without trailing zeros (``3``, ``0.25``); ``n/a`` for None."""
    return "n/a" if x is None else f"{float(x):,.6f}".rstrip("0").rstrip(".")


def fmt_pct(x: Any) -> str:
    """A fraction (0..1) as a percentage with one decimal, without the sign (unit column has %)."""
    return "n/a" if x is None else f"{100.0 * float(x):.1f}"


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def fmt_sci(x: Any) -> str:
    """A residual to three significant digits as a power of ten (``-1.08 × 10⁻⁹``, ``0``, ``12.5``)."""
    if x is None:
        return "n/a"
    v = float(x)
    if v == 0 or not math.isfinite(v) or 1e-3 <= abs(v) < 1e6:
        return fmt_num(v, 3)
    exponent = math.floor(math.log10(abs(v)))
    mantissa = v / 10.0 ** exponent
    if round(abs(mantissa), 2) >= 10.0:  # 9.996e-9 rounds up to 10.0: carry into the exponent
        mantissa, exponent = mantissa / 10.0, exponent + 1
    return f"{mantissa:.2f} × 10{str(exponent).translate(_SUPERSCRIPT)}"


#: (divisor, unit) tables for the headline's cost (given in $) and CO₂ (given in kg), largest first
USD_UNITS = ((1e12, "trillion $"), (1e9, "billion $"), (1e6, "million $"), (1.0, "$"))
CO2_UNITS = tuple((div, name.replace("CO2", "CO₂")) for div, name in quantities.CO2_UNITS)


def _in_unit(x: Any, units: tuple[tuple[float, str], ...]) -> tuple[str, str]:
    """(value, unit) of ``x`` in the unit of ``units`` that shows it below 1,000 (the smallest at least)."""
    if x is None:
        return "n/a", units[-1][1]
    div, unit = quantities.unit_for(float(x), units)
    return fmt_num(float(x) / div), unit


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
    def kwh(key: str) -> tuple[str, str]:  # each row in the unit that fits it (kWh to TWh)
        v = g(key)
        div, unit = style.energy_unit(abs(float(v)) if v is not None else 0.0)
        return fmt_num(None if v is None else float(v) / div), unit

    for cat, label in style.ENERGY_LABELS.items():
        rows.append((f"energy: {label}", *kwh(f"energy_kwh.{cat}")))
    rows += [
        ("energy: inference total (chip + awake overhead)", *kwh("energy_kwh.inference")),
        ("grid import", *kwh("energy_kwh.grid_import")),
        ("battery energy change", *kwh("energy_kwh.battery_change")),
        ("electricity cost", *_in_unit(g("cost_usd.electricity"), USD_UNITS)),
        ("CO₂ emissions", *_in_unit(g("co2_kg.total"), CO2_UNITS)),
        "Tokens",
        ("tokens served", fmt_int(g("tokens.served")), "tokens"),
        ("tokens generated", fmt_int(g("tokens.generated")), "tokens"),
        ("tokens wasted by preemption", fmt_int(g("tokens.wasted")), "tokens"),
        ("inference energy per generated token", fmt_num(g("inference_j_per_token")), "J/token"),
    ]
    if g("availability") is not None:
        def in_unit(key: str) -> tuple[str, str]:  # each row in the unit that fits it (75.26 kW, 46.7 GW)
            v = g(key)
            div, unit = style.power_unit(abs(float(v)) * 1e9 if v is not None else 0.0)
            return fmt_num(None if v is None else float(v) * 1e9 / div), unit

        rows += [
            "Available inference power (represented fleet)",
            ("chips' nameplate power", *in_unit("availability.nameplate_gw")),
            ("available, average", *in_unit("availability.available_gw")),
            ("available, peak hour", *in_unit("availability.peak_hour_available_gw")),
        ]
        for cause, label in (("driving", "driving"), ("opted_out", "owners not opted in"),
                             ("no_connection", "no connection away from home"),
                             ("low_battery", "battery at what the car must keep")):
            rows.append((f"lost to {label}", *in_unit(f"availability.lost_gw.{cause}")))
    if g("comparison.fleet") is not None:
        rows.append("Fleet against a data center, per million generated tokens")
        for side, name in (("fleet", "fleet"), ("datacenter", "data center")):
            rows += [
                (f"{name}: energy", fmt_num(g(f"comparison.{side}.kwh_per_million_tokens")), "kWh"),
                (f"{name}: CO₂", fmt_num(g(f"comparison.{side}.g_co2_per_million_tokens")), "g CO₂"),
                (f"{name}: cost", fmt_num(g(f"comparison.{side}.usd_per_million_tokens")), "$"),
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


# ---------------------------------------------------------------------------------- economics
DASH = "—"  # a figure the summary does not have (older folders, slots runs without token timing, no jobs)


def fmt_usd(x: Any) -> str:
    """US dollars as :func:`sim.core.quantities.usd` writes them (``$0.00``, ``$9.86``, ``$7,314``,
    ``$2.14 M``, ``$2.14 B``), and amounts below a dollar to three significant digits (``$0.0341``);
    an em dash for None."""
    if x is None:
        return DASH
    v = float(x)
    if not math.isfinite(v):
        return str(v)
    if 0 < abs(v) < 1.0:
        return f"{'-' if v < 0 else ''}${_fixed(abs(v), 3)}"
    return quantities.usd(round(v, 2) if abs(v) < 1e6 else v)  # $99.999 is written $100, not $100.00


def fmt_sig(x: Any, digits: int = 3) -> str:
    """A number to ``digits`` significant digits, thousands separators, no scientific notation; an em
    dash for None or NaN."""
    if x is None or not math.isfinite(float(x)):
        return DASH
    return "0" if float(x) == 0 else _fixed(float(x), digits)


def fmt_share(x: Any) -> str:
    """A fraction (0..1) as ``76.2 %``; an em dash for None."""
    return DASH if x is None else f"{100.0 * float(x):.1f} %"


def fmt_index(x: Any) -> str:
    """An index in 0..1 (a Gini coefficient) with three decimals; an em dash for None."""
    return DASH if x is None else f"{float(x):.3f}"


def represented_per_simulated(summary: dict[str, Any]) -> float:
    """Real cars per simulated car (``fleet.weight``): 1 when the summary does not say."""
    simulated, represented = _get(summary, "fleet.vehicles_simulated"), _get(summary, "fleet.vehicles_represented")
    return float(represented) / float(simulated) if simulated and represented else 1.0


def cost_parts(summary: dict[str, Any]) -> list[tuple[str, float | None]]:
    """The parts of the run's cost for the represented fleet, (label, US $), in the page's order.

    Electricity, demand charges (every site's, prorated to the run), the PV export credit, carbon price
    and owner payouts are ``cost_usd``'s (their sum is ``cost_usd.total``); the overflow data center's
    electricity joins when the run has it. That one is booked for the simulated workload, so a
    represented fleet's is scaled by real cars per simulated car.
    """
    g = lambda key: _get(summary, key)  # noqa: E731
    scale = represented_per_simulated(summary)
    factor = f"{round(scale):,}" if scale == round(scale) else fmt_num(scale)
    scaled = "" if scale == 1.0 else f", × {factor} for the represented fleet"
    parts: list[tuple[str, float | None]] = [("grid electricity at the tariff", g("cost_usd.electricity"))]
    if g("cost_usd.demand_charges"):
        parts.append(("demand charges (each month's bills on peak draw, prorated to the run)",
                      g("cost_usd.demand_charges")))
    if g("cost_usd.solar_export"):
        parts.append(("credit for the depot's exported PV", g("cost_usd.solar_export")))
    parts += [
        ("carbon price on the grid CO₂", g("cost_usd.carbon")),
        ("owner payouts", g("cost_usd.owner_payouts")),
    ]
    overflow = g("overflow.cost_usd")
    if g("overflow") is not None:
        parts.append((f"overflow data center's electricity{scaled}",
                      None if overflow is None else float(overflow) * scale))
    return parts


def cost_table_html(summary: dict[str, Any]) -> str:
    """The cost table: each part, its share of the total, and the total (the sum of the parts)."""
    parts = cost_parts(summary)
    known = [v for _, v in parts if v is not None]
    total = sum(known) if len(known) == len(parts) else None
    e = html.escape
    out = ['<table class="cost">', "<tr><th>cost of the run</th><th>US $</th><th>share of total</th></tr>"]
    for label, value in parts:
        share = None if value is None or not total else value / total
        out.append(f'<tr><td>{e(label)}</td><td class="num">{e(fmt_usd(value))}</td>'
                   f'<td class="num">{e(fmt_share(share))}</td></tr>')
    out.append(f'<tr class="total"><th>total</th><td class="num">{e(fmt_usd(total))}</td>'
               f'<td class="num">{e(fmt_share(1.0 if total else None))}</td></tr>')
    out.append("</table>")
    return "\n".join(out)


def economics_rows(summary: dict[str, Any]) -> list[tuple[str, str, str] | str]:
    """Cost per million generated tokens and the owners' side: payouts per car and month, fairness."""
    g = lambda key: _get(summary, key)  # noqa: E731
    per_m = "comparison.fleet.usd_breakdown_per_million_tokens"
    rows: list[tuple[str, str, str] | str] = [
        "Per million generated tokens: inference only (chips, awake cars, owner payouts; simulated cars)",
        ("fleet: total", fmt_usd(g("comparison.fleet.usd_per_million_tokens")), "per million tokens"),
        ("fleet: inference electricity", fmt_usd(g(f"{per_m}.electricity")), "per million tokens"),
        ("fleet: carbon price", fmt_usd(g(f"{per_m}.carbon")), "per million tokens"),
        ("fleet: owner payouts", fmt_usd(g(f"{per_m}.owner_payouts")), "per million tokens"),
        ("data center, same tokens", fmt_usd(g("comparison.datacenter.usd_per_million_tokens")),
         "per million tokens"),
        "Owners: payouts and fairness",
        ("payout scheme", str(g("fairness.payout_scheme") or DASH), ""),
        ("opted-in owners (simulated cars)", fmt_int(g("fairness.owners_opted_in"))
         if g("fairness.owners_opted_in") is not None else DASH, "owners"),
        ("payout per opted-in car", fmt_usd(g("fairness.payout_usd_per_owner_month")), "per month"),
        ("payout per opted-in car over the run: p10 / p50 / p90",
         " / ".join(fmt_usd(g(f"fairness.payout_usd_per_owner.{q}")) for q in ("p10", "p50", "p90")), ""),
        ("opted-in cars that served at least one token", fmt_share(g("fairness.owners_served_share")), ""),
        ("Gini coefficient of tokens served (0 equal, 1 one car served all)",
         fmt_index(g("fairness.gini_tokens_served")), "index"),
        ("Gini coefficient of payouts", fmt_index(g("fairness.gini_payout")), "index"),
    ]
    return rows


# ---------------------------------------------------------------------------------- latency per class
#: (summary key under jobs.by_class.<class>, column group title); each group shows p50, p95 and p99
TIMING_GROUPS = (("ttft_s", "time to first token"), ("tpot_s", "time per output token"),
                 ("latency_s", "latency, arrival to last token"))
PERCENTILES = ("p50", "p95", "p99")


def timing_unit(values: Iterable[Any]) -> tuple[float, str]:
    """(divisor, unit) for durations given in s: ms when every known value is below 1 s, else s."""
    known = [abs(float(v)) for v in values if v is not None and math.isfinite(float(v))]
    return (1e-3, "ms") if known and max(known) < 1.0 else (1.0, "s")


def class_latency_table(summary: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The per-class table: group headers (``title (unit)``, one per timing group) and one row per
    job class in the summary (class, arrived, completed, dropped[, overflowed], SLO attainment, then
    p50/p95/p99 of each timing group). Missing figures are em dashes."""
    by_class = _get(summary, "jobs.by_class") or {}
    overflow = _get(summary, "overflow") is not None
    units = {key: timing_unit(_get(c, f"{key}.{q}") for c in by_class.values() if isinstance(c, dict)
                              for q in PERCENTILES) for key, _ in TIMING_GROUPS}
    headers = [f"{title} ({units[key][1]})" for key, title in TIMING_GROUPS]
    rows = []
    for cls, c in by_class.items():
        c = c if isinstance(c, dict) else {}

        def count(key: str, c: dict = c) -> str:
            return DASH if c.get(key) is None else fmt_int(c[key])

        row = [str(cls), count("arrived"), count("completed"), count("dropped"),
               *([count("overflowed")] if overflow else []), fmt_share(c.get("slo_attainment"))]
        for key, _ in TIMING_GROUPS:
            div = units[key][0]
            for q in PERCENTILES:
                v = _get(c, f"{key}.{q}")
                row.append(DASH if v is None else fmt_sig(float(v) / div))
        rows.append(row)
    return headers, rows


def class_latency_html(summary: dict[str, Any]) -> str:
    """The per-class table as HTML, two header rows (quantity, then p50 / p95 / p99)."""
    e = html.escape
    headers, rows = class_latency_table(summary)
    if not rows:
        return "<p>No job classes in this run.</p>"
    counts = ["class", "jobs arrived", "completed", "dropped",
              *(["sent to the data center"] if _get(summary, "overflow") is not None else []), "SLO attainment"]
    out = ['<table class="by-class">', "<tr>", *(f'<th rowspan="2">{e(h)}</th>' for h in counts),
           *(f'<th colspan="{len(PERCENTILES)}">{e(h)}</th>' for h in headers), "</tr>",
           "<tr>", *(f"<th>{q}</th>" for _ in headers for q in PERCENTILES), "</tr>"]
    for row in rows:
        out.append(f"<tr><td>{e(row[0])}</td>" + "".join(f'<td class="num">{e(v)}</td>' for v in row[1:]) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


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


def economics_html(summary: dict[str, Any]) -> list[str]:
    """The economics section: cost parts and total, cost per million tokens, owners and fairness."""
    days = fmt_days(_get(summary, "run.days"))
    cars = _get(summary, "fleet.vehicles_represented")
    return [
        '<h2 id="economics">Economics</h2>',
        f'<p class="note">What the run cost over its {html.escape(days)} simulated '
        f'{"day" if days == "1" else "days"}, for the '
        f"{html.escape(fmt_int(cars) if cars is not None else DASH)} cars it represents. Money is in US dollars: "
        "cents below $100, whole dollars below a million, then millions (M), billions (B), trillions (T) "
        "to three significant digits.</p>",
        cost_table_html(summary),
        _table(economics_rows(summary)),
    ]


def class_latency_section(summary: dict[str, Any]) -> list[str]:
    """The per-class latency section: the table and what its columns count."""
    return [
        '<h2 id="latency-by-class">Latency per job class</h2>',
        '<p class="note">Times are of the jobs completed on vehicles (percentiles p50, p95, p99); SLO '
        "attainment counts dropped jobs as misses. A dash: the run has no such figure (no completed jobs of "
        "the class, or no token timing).</p>",
        class_latency_html(summary),
    ]


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
        *interval_section(s),
        *cohort_section(s),
        *economics_html(s),
        *class_latency_section(s),
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
