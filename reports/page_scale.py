"""Report page sections for fleets at scale: a table per cohort (``summary.cohorts``) and the 95 %
intervals of the headline numbers over the replicates (``summary.ci95``)."""
from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from sim.core.quantities import co2_kg, count, energy_kwh, power_w, usd

DASH = "—"


def _pct(x: Any) -> str:
    return DASH if x is None else f"{100.0 * float(x):.1f} %"


def _gw(x: Any) -> str:
    return DASH if x is None else power_w(float(x) * 1e9)


def _tokens(x: Any) -> str:
    """A token count to three significant digits in thousands to trillions: ``329 trillion``."""
    if x is None:
        return DASH
    for div, word in ((1e12, "trillion"), (1e9, "billion"), (1e6, "million")):
        if abs(x) >= div:
            return f"{x / div:,.3g} {word}"
    return count(x)


def _or_dash(fmt: Callable[[float], str]) -> Callable[[Any], str]:
    return lambda x: DASH if x is None else fmt(float(x))


#: the numbers shown with their intervals: summary key, label, formatter
INTERVAL_ROWS: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("availability.available_gw", "available inference power", _gw),
    ("availability.peak_hour_available_gw", "peak-hour available power", _gw),
    ("availability.lost_gw.driving", "lost to driving", _gw),
    ("availability.lost_gw.opted_out", "lost to owners not opted in", _gw),
    ("availability.lost_gw.no_connection", "lost to no connection", _gw),
    ("availability.lost_gw.low_battery", "lost to batteries kept for trips", _gw),
    ("energy_kwh.grid_import", "grid energy", _or_dash(energy_kwh)),
    ("co2_kg.total", "CO2", _or_dash(co2_kg)),
    ("cost_usd.total", "cost (electricity, carbon price, payouts)", _or_dash(usd)),
    ("comparison.fleet.usd_per_million_tokens", "cost per million generated tokens", _or_dash(usd)),
    ("represented.tokens_served", "tokens served (represented fleet)", _tokens),
    ("jobs.slo_attainment", "SLO attainment", _pct),
)


def interval_section(summary: dict[str, Any]) -> list[str]:
    """The intervals section (none without ``ci95``): each headline number's mean over the
    replicates, its 95 % interval and this run's own value."""
    ci = {e["key"]: e for e in summary.get("ci95") or []}
    if not ci:
        return []
    e = html.escape
    n = max(v["n"] for v in ci.values())
    out = ['<h2 id="intervals">95 % intervals over the replicates</h2>',
           f'<p class="note">The scenario ran on {n} seeds (run.replicates). Each interval is Student\'s t for '
           "the mean over them: it bounds the expected value, not one run's. The tables and figures above and "
           "below are the first replicate's (run.seed).</p>",
           "<table>", "<tr><th>quantity</th><th>mean</th><th>95 % interval</th><th>this run</th></tr>"]
    for key, label, fmt in INTERVAL_ROWS:
        row = ci.get(key)
        if row is None:
            continue
        span = DASH if row["low"] is None else f"{fmt(row['low'])} to {fmt(row['high'])}"
        out.append(f"<tr><td>{e(label)}</td><td class=\"num\">{e(fmt(row['mean']))}</td>"
                   f"<td class=\"num\">{e(span)}</td><td class=\"num\">{e(fmt(row['values'][0]))}</td></tr>")
    out.append("</table>")
    return out


#: the cohort table's columns: header, how to show a cohort's entry
COHORT_COLUMNS: tuple[tuple[str, Callable[[dict], str]], ...] = (
    ("cohort", lambda c: c["name"]),
    ("profile", lambda c: c["profile"]),
    ("share", lambda c: _pct(c.get("share"))),
    ("cars simulated", lambda c: count(c["vehicles_simulated"])),
    ("cars represented", lambda c: count(c["vehicles_represented"])),
    ("chip", lambda c: c["chip"]),
    ("model", lambda c: c["model"]),
    ("chip nameplate", lambda c: _gw(c["nameplate_gw"])),
    ("available power", lambda c: _gw(c["available_gw"])),
    ("available share", lambda c: _pct(c.get("available_share"))),
    ("utilization", lambda c: _pct(c.get("utilization"))),
    ("grid energy", lambda c: energy_kwh(c["grid_kwh"])),
    ("kWh per million tokens", lambda c: DASH if c.get("inference_kwh_per_million_tokens") is None
     else f"{c['inference_kwh_per_million_tokens']:,.2f}"),
)


def cohort_section(summary: dict[str, Any]) -> list[str]:
    """The cohorts section (none for a fleet of one cohort): one row per cohort."""
    cohorts = summary.get("cohorts") or []
    if len(cohorts) < 2:
        return []
    e = html.escape
    out = ['<h2 id="cohorts">Cohorts</h2>',
           '<p class="note">Each cohort\'s cars, chips and what they delivered (fleet.cohorts; see cohorts.png). '
           "Energy and power are of the represented cars; energy per million tokens is the simulated cars' own "
           "inference energy over the tokens they served.</p>",
           "<table>", "<tr>" + "".join(f"<th>{e(h)}</th>" for h, _ in COHORT_COLUMNS) + "</tr>"]
    for c in cohorts:
        out.append("<tr>" + "".join(f'<td class="num">{e(fmt(c))}</td>' for _, fmt in COHORT_COLUMNS) + "</tr>")
    out.append("</table>")
    return out
