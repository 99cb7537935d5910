"""The results catalogue (``sim.results.catalog``) documents exactly what runs write: every leaf of
``summary.json`` and every column of each table, none missing and none that no run writes; and
``docs/results.md`` holds its generated block."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from fleet import channels as ch
from fleet.dispatcher import PREEMPTION_CAUSES
from sim.docgen import BLOCKS, results_reference, sync
from sim.results import catalog as cat
from sim.results import write_results
from sim.results.schema import COHORTS, JOBS, SERVING, SITES, SUMMARY, TIMESERIES, VEHICLES
from sim.runner import Simulation, run
from sim.scenario import default_scenario, load_scenario
from sim.studies.executors import InlineExecutor
from sim.studies.replicates import run_replicates

ROOT = Path(__file__).resolve().parents[2]
SMALL = {"run.days": 0.1, "fleet.vehicles": 60,
         "workload.interactive.rate_per_s": 0.5, "workload.batch.rate_per_s": 0.5}
#: documented summary keys no run here writes: none (the three runs below write every one)
NOT_TRIGGERED: frozenset[str] = frozenset()


def leaves(summary: dict[str, Any], prefix: str = "") -> set[str]:
    """Dotted paths of every leaf (number, string, boolean or null); list elements as ``name[].key``."""
    out: set[str] = set()
    for key, value in summary.items():
        path = prefix + key
        if isinstance(value, dict):
            out |= leaves(value, path + ".")
        elif isinstance(value, list):
            for item in value:
                out |= leaves(item, path + "[].") if isinstance(item, dict) else {path + "[]"}
        else:
            out.add(path)
    return out


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """Written results of a default run, an overflow run and a robotaxi run (homes on a demand tariff), all small."""
    base = default_scenario()
    scenarios = {
        "default": base.with_overrides(SMALL),
        "overflow": base.with_overrides({**SMALL, "dispatch.on_max_wait": "overflow"}),
        "batched": base.with_overrides({**SMALL, "fleet.chip.serving": "batched", "fleet.chip.preset": "h100_sxm",
                                        "fleet.model.preset": "llama-3.1-8b-bf16"}),
        "robotaxi": load_scenario(str(ROOT / "examples" / "robotaxi_depot.toml"),
                                  ["run.days=0.1", "fleet.vehicles=30", "fleet.robotaxi.vehicles=10",
                                   "fleet.robotaxi.depot.stalls=3", "grid.tariff=pge_b10"]),
    }
    tmp = tmp_path_factory.mktemp("catalog")
    folders = {name: write_results(run(sc), tmp / name) for name, sc in scenarios.items()}
    replicated = base.with_overrides({**SMALL, "run.replicates": 2})
    sim = Simulation(replicated)
    sim.execute()
    folders["replicates"] = write_results(run_replicates(replicated, sim, InlineExecutor()), tmp / "replicates")
    return folders


def _summary(folder: Path) -> dict[str, Any]:
    return json.loads((folder / SUMMARY).read_text())


def _header(path: Path) -> list[str]:
    with path.open(newline="") as f:
        return next(csv.reader(f))


def test_the_runs_cover_the_conditional_parts(folders):
    assert _summary(folders["default"])["overflow"] is None
    assert _summary(folders["overflow"])["overflow"]["jobs_received"] > 0
    robotaxi = _summary(folders["robotaxi"])["robotaxi"]
    assert robotaxi is not None and robotaxi["depot"]["demand_bills"]
    assert _summary(folders["default"])["households"] is None and _summary(folders["robotaxi"])["households"]
    assert not (folders["default"] / SITES).exists() and (folders["robotaxi"] / SITES).exists()


def test_every_summary_leaf_is_documented_and_every_key_is_written(folders):
    documented = set(cat.expand_summary_keys())
    assert len(documented) == len(cat.expand_summary_keys()), "a key is documented twice"
    written: set[str] = set()
    for name, folder in folders.items():
        found = leaves(_summary(folder))
        assert sorted(found - documented) == [], f"{name}: summary keys missing from sim/results/catalog.py"
        written |= found
    assert sorted(documented - written - NOT_TRIGGERED) == [], "documented keys that no run writes"


@pytest.mark.parametrize("table", [TIMESERIES, JOBS, VEHICLES, SITES, SERVING])
def test_every_column_is_documented_and_every_documented_column_is_written(folders, table):
    documented = cat.expand_columns(table)
    assert len(set(documented)) == len(documented), "a column is documented twice"
    written: set[str] = set()
    for name, folder in folders.items():
        if (folder / table).exists():
            header = _header(folder / table)
            assert sorted(set(header) - set(documented)) == [], f"{name}: {table} columns missing from the catalogue"
            written |= set(header)
    assert sorted(set(documented) - written) == [], f"documented {table} columns that no run writes"


def test_catalogue_lists_match_the_simulation():
    assert cat.PREEMPTION_CAUSES == PREEMPTION_CAUSES
    assert set(cat.VEHICLE_STATES) <= set(ch.LEVELS)
    assert set(cat.COLUMNS) == {TIMESERIES, JOBS, VEHICLES, SITES, SERVING, COHORTS}


def test_every_entry_has_a_unit_from_the_known_set_and_a_meaning():
    units = {"", "s", "h", "days", "W", "kW", "GW", "Wh", "kWh", "J/token", "$", "$/kWh", "$/GPU-hour", "$/t CO2",
             "g CO2", "kg CO2", "g CO2/kWh", "km", "passenger-km", "vehicles", "count", "tokens", "tokens/s",
             "sequences", "share (0..1)", "index (0..1)", "ratio", "1/s", "rides/vehicle-day",
             "kWh/million tokens", "g CO2/million tokens", "$/million tokens"}
    entries = list(cat.SUMMARY_KEYS) + [e for table in cat.COLUMNS.values() for e in table]
    for e in entries:
        assert e.unit in units, f"{e.name}: unit {e.unit!r}"
        assert e.meaning and "|" not in e.meaning and not e.meaning.endswith("."), e.name


def test_expand_spells_out_placeholders_and_alternatives():
    assert cat.expand("a.<class>.{x,y}") == ("a.interactive.x", "a.interactive.y", "a.batch.x", "a.batch.y")
    assert cat.expand("plain") == ("plain",)


def test_results_md_holds_the_generated_reference():
    assert BLOCKS["docs/results.md"][0] == "results-reference"
    assert "docs/results.md" not in sync(ROOT, check=True), "run: python -m sim.docgen"
    text = (ROOT / "docs" / "results.md").read_text()
    reference = results_reference()
    assert reference in text and results_reference() == reference
    for e in cat.SUMMARY_KEYS:
        assert f"| `{e.name}` |" in reference
