"""The report page's sections for fleets at scale: intervals over replicates and the cohort table."""
from __future__ import annotations

import re

from reports.page_scale import cohort_section, interval_section


def _cells(lines: list[str]) -> list[list[str]]:
    rows = re.findall(r"<tr>(.*?)</tr>", "\n".join(lines))
    return [re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r) for r in rows]


def test_intervals_show_mean_interval_and_this_run():
    summary = {"ci95": [
        {"key": "availability.available_gw", "n": 4, "mean": 46.7, "low": 45.9, "high": 47.5,
         "values": [47.2, 46.0, 46.5, 47.1]},
        {"key": "represented.tokens_served", "n": 4, "mean": 3.2894e14, "low": 3.28e14, "high": 3.2988e14,
         "values": [3.293e14] * 4},
        {"key": "jobs.slo_attainment", "n": 1, "mean": 1.0, "low": None, "high": None, "values": [1.0]},
        {"key": "run.days", "n": 4, "mean": 3.0, "low": 3.0, "high": 3.0, "values": [3.0] * 4},
    ]}
    lines = interval_section(summary)
    assert "ran on 4 seeds" in lines[1]
    rows = _cells(lines)
    assert rows[0] == ["quantity", "mean", "95 % interval", "this run"]
    assert rows[1] == ["available inference power", "46.7 GW", "45.9 GW to 47.5 GW", "47.2 GW"]
    assert rows[2] == ["tokens served (represented fleet)", "329 trillion", "328 trillion to 330 trillion",
                       "329 trillion"]
    assert rows[3] == ["SLO attainment", "100.0 %", "—", "100.0 %"]  # one finite value: no interval
    assert len(rows) == 4  # numbers outside the headline list are left to summary.json
    assert interval_section({}) == [] and interval_section({"ci95": []}) == []


def test_one_row_per_cohort_and_none_for_one_cohort():
    cohort = {"name": "hw3", "profile": "personal", "share": 0.6, "vehicles_simulated": 600,
              "vehicles_represented": 600.0, "chip": "hw3", "model": "llama-3.2-3b-q4", "nameplate_gw": 4.32e-5,
              "available_gw": 2.06e-5, "available_share": 0.4769, "utilization": 0.94, "grid_kwh": 4859.1,
              "inference_kwh_per_million_tokens": 6.8466}
    other = dict(cohort, name="cab", profile="robotaxi", share=None, inference_kwh_per_million_tokens=None,
                 utilization=None)
    rows = _cells(cohort_section({"cohorts": [cohort, other]}))
    assert rows[1] == ["hw3", "personal", "60.0 %", "600", "600", "hw3", "llama-3.2-3b-q4", "43.2 kW", "20.6 kW",
                       "47.7 %", "94.0 %", "4.86 MWh", "6.85"]
    assert rows[2][2] == "—" and rows[2][10] == "—" and rows[2][12] == "—"
    assert cohort_section({"cohorts": [cohort]}) == [] and cohort_section({}) == []
