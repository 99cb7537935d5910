"""The report page's economics section and per-class latency table, read back from the HTML of a
small real run (50 cars, 6 hours) and of its summary edited to stand for other runs."""
from __future__ import annotations

import copy
import dataclasses
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from reports import page
from sim.results import Results, catalog, load_results, write_results
from sim.runner import run
from sim.scenario import default_scenario

SCIENTIFIC = re.compile(r"\d[eE][-+]?\d")  # 7.28e-11, 1e+06, 2E5


def _visible(text: str) -> str:
    """The page without its style sheet (whose colours, #e3e3e3, would read as numbers)."""
    return re.sub(r"<style>.*?</style>", "", text, flags=re.S)


class Tables(HTMLParser):
    """Every ``<table>`` of a page: its class attribute and its rows as lists of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[tuple[str, list[list[str]]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append((dict(attrs).get("class") or "", []))
        elif tag == "tr" and self.tables:
            self.tables[-1][1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def table(self, cls: str) -> list[list[str]]:
        (rows,) = [rows for c, rows in self.tables if c == cls]
        return rows


def _tables(text: str) -> Tables:
    parser = Tables()
    parser.feed(text)
    return parser


def _page(folder: Path, results: Results) -> str:
    return page.write_page(folder, results, []).read_text(encoding="utf-8")


def parse_usd(text: str) -> float:
    """A dollar amount as the page writes it (``$7,314``, ``-$12.50``, ``$2.14 B``) back to a number."""
    m = re.fullmatch(r"(-?)\$([\d,.]+)(?: ([MBT]))?", text)
    assert m, f"not a dollar amount: {text!r}"
    scale = {None: 1.0, "M": 1e6, "B": 1e9, "T": 1e12}[m.group(3)]
    return (-1.0 if m.group(1) else 1.0) * float(m.group(2).replace(",", "")) * scale


def _usd_tolerance(value: float) -> float:
    """What writing ``value`` may round away: a cent, a dollar, or the third significant digit."""
    a = abs(value)
    return 0.005 if a < 100 else 0.5 if a < 1e6 else 0.005 * a


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    """A 6-hour, 50-car results folder (slots serving) and its report page (no figures)."""
    folder = write_results(run(default_scenario().with_overrides({"run.days": 0.25, "fleet.vehicles": 50})),
                           tmp_path_factory.mktemp("page") / "res")
    page.write_page(folder, load_results(folder), [])
    return folder


@pytest.fixture(scope="module")
def summary(small) -> dict:
    return json.loads((small / "summary.json").read_text())


def _cost_rows(text: str) -> dict[str, float]:
    rows = _tables(text).table("cost")
    assert rows[0] == ["cost of the run", "US $", "share of total"]
    return {label: parse_usd(usd) for label, usd, _ in rows[1:]}


# ------------------------------------------------------------------------------ economics
def test_total_cost_is_the_sum_of_its_parts_from_summary_json(small, summary):
    costs = _cost_rows((small / page.REPORT).read_text(encoding="utf-8"))
    assert list(costs) == ["grid electricity at the tariff", "carbon price on the grid CO₂", "owner payouts",
                           "total"]
    c = summary["cost_usd"]
    for label, key in (("grid electricity at the tariff", "electricity"), ("carbon price on the grid CO₂", "carbon"),
                       ("owner payouts", "owner_payouts"), ("total", "total")):
        assert costs[label] == pytest.approx(c[key], abs=_usd_tolerance(c[key])), label
    assert c["owner_payouts"] > 0 and c["electricity"] > 0  # a sum of real parts, not of zeros
    parts = sum(v for k, v in costs.items() if k != "total")
    assert costs["total"] == pytest.approx(parts, abs=3 * _usd_tolerance(costs["total"]))


def test_overflow_and_demand_charges_join_the_total_scaled_to_the_represented_fleet(small, summary, tmp_path):
    """A run standing for 500 cars per simulated car, with an overflow pool and sites billed demand
    charges: the demand charges and PV credit are cost_usd's parts (already the represented fleet's); the
    overflow's electricity, booked for the simulated workload, counts 500 times in the total."""
    s = copy.deepcopy(summary)
    s["fleet"]["vehicles_represented"] = 500 * s["fleet"]["vehicles_simulated"]
    s["cost_usd"] = {"electricity": 2.0e9, "demand_charges": 1.5e7, "solar_export": -2.0e5, "carbon": 1.25e8,
                     "owner_payouts": 5.0e8, "total": 2.6398e9}
    s["overflow"] = {"cost_usd": 12_000.0}
    costs = _cost_rows(_page(tmp_path, dataclasses.replace(load_results(small), summary=s)))
    assert costs["demand charges (each month's bills on peak draw, prorated to the run)"] == 1.5e7
    assert costs["credit for the depot's exported PV"] == -2.0e5
    assert costs["overflow data center's electricity, × 500 for the represented fleet"] == 6.0e6
    assert costs["grid electricity at the tariff"] == 2.0e9
    assert costs["total"] == pytest.approx(2.6398e9 + 500 * 12_000.0, rel=5e-3)
    assert costs["total"] == pytest.approx(sum(v for k, v in costs.items() if k != "total"), rel=5e-3)


def test_economics_rows_show_payouts_fairness_and_cost_per_million_tokens(small, summary):
    text = (small / page.REPORT).read_text(encoding="utf-8")
    rows = {r[0]: r[1:] for r in _tables(text).tables[2][1] if len(r) == 3}
    f = summary["fairness"]
    assert rows["payout per opted-in car"] == ["$100", "per month"]  # the flat default: $100 a month
    assert f["payout_usd_per_owner_month"] == pytest.approx(100.0)
    assert rows["opted-in owners (simulated cars)"] == [f"{f['owners_opted_in']:,}", "owners"]
    assert rows["Gini coefficient of tokens served (0 equal, 1 one car served all)"] == [
        f"{f['gini_tokens_served']:.3f}", "index"]
    per_m = summary["comparison"]["fleet"]["usd_per_million_tokens"]
    value, unit = rows["fleet: total"]
    assert unit == "per million tokens" and parse_usd(value) == pytest.approx(per_m, abs=0.005)


def test_the_page_reads_only_documented_summary_keys(small, summary, tmp_path):
    """Every key the page looks up is one the results catalogue documents (or a table holding them)."""
    read: set[str] = set()

    class Recording(dict):
        def __init__(self, data: dict, path: str) -> None:
            super().__init__({k: Recording(v, f"{path}{k}.") if isinstance(v, dict) else v
                              for k, v in data.items()})
            self.path = path

        def __getitem__(self, key: str):
            read.add(self.path + key)
            return super().__getitem__(key)

        def __contains__(self, key: object) -> bool:
            read.add(f"{self.path}{key}")
            return super().__contains__(key)

        def get(self, key, default=None):
            read.add(self.path + key)
            return super().get(key, default)

    s = copy.deepcopy(summary)
    s["overflow"] = {"cost_usd": 1.0}
    s["robotaxi"] = {"depot": {"demand_charge_usd": 1.0}}
    rec = Recording(s, "")
    page.cost_table_html(rec), page.economics_rows(rec), page.class_latency_html(rec)
    documented = catalog.expand_summary_keys()
    undocumented = {k for k in read if not any(d == k or d.startswith(k + ".") for d in documented)}
    assert read and not undocumented


# ------------------------------------------------------------------------------ latency per class
def test_class_table_has_one_row_per_class_with_the_summarys_p95(small, summary):
    rows = _tables((small / page.REPORT).read_text(encoding="utf-8")).table("by-class")
    groups, quantiles, body = rows[0], rows[1], rows[2:]
    assert groups == ["class", "jobs arrived", "completed", "dropped", "SLO attainment",
                      "time to first token (s)", "time per output token (ms)", "latency, arrival to last token (s)"]
    assert quantiles == ["p50", "p95", "p99"] * 3
    by_class = summary["jobs"]["by_class"]
    assert [r[0] for r in body] == list(by_class) == ["interactive", "batch"]
    for row in body:
        c = by_class[row[0]]
        assert row[1:4] == [f"{c['arrived']:,}", f"{c['completed']:,}", f"{c['dropped']:,}"]
        assert row[4] == f"{100 * c['slo_attainment']:.1f} %"
        for i, (key, div) in enumerate((("ttft_s", 1.0), ("tpot_s", 1e-3), ("latency_s", 1.0))):
            cell = row[5 + 3 * i + 1]  # the group's p95
            assert cell == page.fmt_sig(c[key]["p95"] / div)
            assert float(cell.replace(",", "")) * div == pytest.approx(c[key]["p95"], rel=5e-3)
    # batch units take minutes, chat seconds: the table keeps that apart (the pooled p95 does not)
    assert by_class["batch"]["latency_s"]["p95"] > 10 * by_class["interactive"]["latency_s"]["p95"]


def test_missing_token_timing_and_empty_classes_show_dashes(small, summary, tmp_path):
    """A run without token timing (no ``ttft_s`` / ``tpot_s``) and a class with no completed job."""
    s = copy.deepcopy(summary)
    for c in s["jobs"]["by_class"].values():
        del c["ttft_s"], c["tpot_s"]
    s["jobs"]["by_class"]["batch"].update(completed=0, slo_attainment=None,
                                          latency_s={q: None for q in ("mean", "p50", "p95", "p99")})
    del s["fairness"], s["comparison"]
    text = _page(tmp_path, dataclasses.replace(load_results(small), summary=s))
    interactive, batch = _tables(text).table("by-class")[2:]
    assert interactive[5:11] == [page.DASH] * 6 and page.DASH not in interactive[11:]
    assert batch[2] == "0" and batch[4:] == [page.DASH] * 10
    rows = {r[0]: r[1] for r in _tables(text).tables[2][1] if len(r) == 3}
    assert rows["payout per opted-in car"] == rows["fleet: total"] == page.DASH
    assert _cost_rows(text)["owner payouts"] == pytest.approx(summary["cost_usd"]["owner_payouts"], abs=0.005)


def test_an_empty_summary_still_writes_a_page(small, tmp_path):
    text = _page(tmp_path, dataclasses.replace(load_results(small), summary={}))
    cost = _tables(text).table("cost")
    assert [r[1] for r in cost[1:]] == [page.DASH] * 4  # three parts and no total
    assert "No job classes in this run." in text


# ------------------------------------------------------------------------------ number formats
def test_money_format():
    """Cents below $100, whole dollars from $100 to a million, then three significant digits and M / B / T;
    below a dollar, three significant digits (per-token prices)."""
    assert page.fmt_usd(0.0) == "$0.00"
    assert page.fmt_usd(9.856) == "$9.86"
    assert page.fmt_usd(99.999) == "$100"
    assert page.fmt_usd(7_314.0) == "$7,314"
    assert page.fmt_usd(21_160.99) == "$21,161"
    assert page.fmt_usd(502_999_999.0) == "$503 M"
    assert page.fmt_usd(2_144_855_940.13) == "$2.14 B"
    assert page.fmt_usd(0.0341) == "$0.0341"
    assert page.fmt_usd(0.000116) == "$0.000116"
    assert page.fmt_usd(-12.5) == "-$12.50"
    assert page.fmt_usd(None) == page.DASH


def test_small_and_residual_numbers_avoid_scientific_notation():
    assert page.fmt_num(1.1146e-5) == "0.00001115"
    assert page.fmt_num(20_846.3) == "20,846"
    assert page.fmt_sig(0.025193) == "0.0252" and page.fmt_sig(1_235.2) == "1,235" and page.fmt_sig(None) == "—"
    assert page.fmt_sci(7.275957e-11) == "7.28 × 10⁻¹¹"
    assert page.fmt_sci(-6.548e-11) == "-6.55 × 10⁻¹¹"
    assert page.fmt_sci(9.996e-9) == "1.00 × 10⁻⁸"
    assert page.fmt_sci(0.0) == "0" and page.fmt_sci(0.25) == "0.250"
    assert page.fmt_days(3.0) == "3" and page.fmt_days(0.25) == "0.25"


def test_page_has_no_scientific_notation(small, summary, tmp_path):
    """Neither the real run's page nor one whose residuals and losses are tiny (which used to read 7.28e-11)."""
    assert not SCIENTIFIC.findall(_visible((small / page.REPORT).read_text(encoding="utf-8")))
    s = copy.deepcopy(summary)
    s["checks"].update(energy_balance_residual_kwh=7.3e-11, vehicle_energy_residual_max_wh=-1e-9)
    s["availability"]["lost_gw"]["low_battery"] = 3e-12
    s["jobs"]["by_class"]["interactive"]["tpot_s"]["p50"] = 2e-7
    text = _page(tmp_path, dataclasses.replace(load_results(small), summary=s))
    assert not SCIENTIFIC.findall(_visible(text))
    assert "7.30 × 10⁻¹¹" in text and "-1.00 × 10⁻⁹" in text


def test_headline_energy_cost_and_co2_scale_with_the_fleet(small, summary, tmp_path):
    """A fleet of 100 million cars reads in TWh, billion $ and Mt CO₂, not 4,464,653,630 kWh."""
    s = copy.deepcopy(summary)
    s["energy_kwh"] = {k: v * 6.0e7 for k, v in s["energy_kwh"].items()}  # grid import ~ 4 TWh
    s["cost_usd"]["electricity"] = 1_783_563_017.0
    s["co2_kg"]["total"] = 1_180_792_611.0
    text = _page(tmp_path, dataclasses.replace(load_results(small), summary=s))
    rows = {r[0]: r[1:] for r in _tables(text).tables[0][1] if len(r) == 3}
    value, unit = rows["grid import"]
    assert unit == "TWh" and float(value) == pytest.approx(s["energy_kwh"]["grid_import"] / 1e9, rel=1e-3)
    assert rows["energy: driving"][1] == "TWh"  # one unit for the whole section
    assert rows["electricity cost"] == ["1.784", "billion $"]
    assert rows["CO₂ emissions"] == ["1.181", "Mt CO₂"]
