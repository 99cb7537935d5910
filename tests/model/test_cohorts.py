"""A mixed fleet (``[[fleet.cohorts]]``): apportionment, each cohort's own keys, its own books that
add up to the fleet's, the cohort figure, and one-line refusals of bad cohorts."""
from __future__ import annotations

import numpy as np
import pytest

from fleet.chip import CHIP_PRESETS
from sim.cohorts import apportion, fleet_cohorts
from sim.results.catalog import expand_columns, expand_summary_keys
from sim.results.schema import COHORTS
from sim.runner import Simulation, run
from sim.scenario import default_scenario, load_scenario

BASE = {"run.days": 0.25, "fleet.vehicles": 120, "report.figures": False, "run.warmup_days": 0.0}
MIXED = [
    {"name": "old", "share": 0.5, "chip": {"preset": "hw3"}, "model": {"preset": "llama-3.2-3b-q4"},
     "opt_in_share": 1.0},
    {"name": "new", "share": 0.25, "chip": {"preset": "ai5_claimed"}, "battery": {"capacity_wh": 82_000.0}},
    {"name": "off", "share": 0.15, "opt_in_share": 0.0},
    {"name": "cab", "share": 0.1, "profile": "robotaxi"},
]


@pytest.fixture(scope="module")
def mixed():
    return run(default_scenario().with_overrides({**BASE, "fleet.cohorts": MIXED}))


@pytest.fixture(scope="module")
def plain():
    return run(default_scenario().with_overrides(BASE))


def test_apportionment_by_largest_remainder():
    # quotas 4.2, 2.1, 0.35, 0.35: floors 4, 2, 0, 0 and the one car left to the first largest remainder
    assert apportion([0.6, 0.3, 0.05, 0.05], 7) == [4, 2, 1, 0]
    assert apportion([0.5, 0.25, 0.15, 0.1], 120) == [60, 30, 18, 12]
    assert sum(apportion([1 / 3] * 3, 100)) == 100


def test_cohorts_take_their_cars_in_id_order_robotaxis_last(mixed):
    veh = mixed.vehicles
    assert veh.groupby("cohort", sort=False).size().to_dict() == {"old": 60, "new": 30, "off": 18, "cab": 12}
    assert list(veh["cohort"].iloc[[0, 59, 60, 89, 90, 107, 108, 119]]) == ["old", "old", "new", "new", "off", "off",
                                                                             "cab", "cab"]
    assert set(veh.loc[veh["cohort"] == "cab", "profile"]) == {"robotaxi"}
    assert set(veh.loc[veh["cohort"] != "cab", "profile"]) == {"personal"}


def test_each_cohort_follows_its_own_keys(mixed):
    by = {c["name"]: c for c in mixed.summary["cohorts"]}
    assert by["old"]["chip"] == "hw3" and by["old"]["model"] == "llama-3.2-3b-q4"
    assert by["old"]["opted_in"] == 60 and by["off"]["opted_in"] == 0
    assert by["off"]["jobs_completed"] == 0 and by["off"]["available_gw"] == 0.0
    assert by["new"]["battery_kwh"] == 82.0 and by["old"]["battery_kwh"] == 75.0
    assert by["cab"]["opted_in"] == 12  # the operator enrols its robotaxis
    veh = mixed.vehicles
    new = veh[veh["cohort"] == "new"]
    assert (new["energy_initial_wh"] <= 82_000.0 * 0.9 + 1e-9).all()
    assert (new["energy_initial_wh"] > 75_000.0 * 0.9).any()  # a pack larger than the default's
    for name, chip in (("old", "hw3"), ("new", "ai5_claimed"), ("cab", "hw4")):
        assert by[name]["nameplate_gw"] == pytest.approx(by[name]["vehicles_represented"]
                                                         * CHIP_PRESETS[chip].active_w / 1e9, rel=1e-12)


def test_the_cohort_results_are_the_documented_ones(mixed):
    assert list(mixed.cohorts.columns) == list(expand_columns(COHORTS))
    documented = {k.split("[].")[1] for k in expand_summary_keys() if k.startswith("cohorts[].")}
    assert all(set(c) == documented for c in mixed.summary["cohorts"])


def test_cohort_books_add_up_to_the_fleets(mixed):
    s = mixed.summary
    cohorts = s["cohorts"]
    for key, fleet in (("grid_kwh", s["energy_kwh"]["grid_import"]), ("cost_usd", s["cost_usd"]["electricity"]),
                       ("available_gw", s["availability"]["available_gw"]),
                       ("nameplate_gw", s["availability"]["nameplate_gw"])):
        assert sum(c[key] for c in cohorts) == pytest.approx(fleet, rel=1e-9), key
    assert sum(c["jobs_completed"] for c in cohorts) == s["jobs"]["completed"]
    ts, parts = mixed.timeseries, mixed.cohorts
    for col in ("grid_w", "available_inference_w", "power_w_inference_active", "serving", "driving"):
        total = parts.groupby("t_s", sort=True)[col].sum().to_numpy()
        assert np.allclose(total, ts[col].to_numpy(), rtol=1e-9, atol=1e-6), col


def test_a_cohorts_available_power_is_its_online_cars_times_its_chip(mixed):
    """Within a cohort every car has the same chip: available power = online cars x that chip's power."""
    parts = mixed.cohorts
    for name, chip in (("old", "hw3"), ("new", "ai5_claimed"), ("cab", "hw4")):
        rows = parts[parts["cohort"] == name]
        online = rows["available"] + rows["serving"]
        assert np.allclose(rows["available_inference_w"], online * CHIP_PRESETS[chip].active_w, rtol=1e-9, atol=1e-6)


def test_lost_power_is_counted_at_each_cohorts_own_chip(mixed):
    """Opted-out power: each cohort's opted-out car-seconds at its own chip's power (equal intervals)."""
    parts = mixed.cohorts
    chips = {"old": "hw3", "new": "ai5_claimed", "off": "hw4", "cab": "hw4"}
    expected = sum(parts.loc[parts["cohort"] == n, "offline_opted_out"].mean() * CHIP_PRESETS[c].active_w
                   for n, c in chips.items()) / 1e9
    assert mixed.summary["availability"]["lost_gw"]["opted_out"] == pytest.approx(expected, rel=1e-9)


def test_one_cohort_of_the_whole_fleet_changes_nothing(plain):
    one = run(default_scenario().with_overrides({**BASE, "fleet.cohorts": [{"name": "all", "share": 1.0}]}))
    assert one.timeseries.equals(plain.timeseries)
    assert one.jobs.equals(plain.jobs)
    assert one.vehicles.drop(columns="cohort").equals(plain.vehicles.drop(columns="cohort"))
    assert one.summary["energy_kwh"] == plain.summary["energy_kwh"]
    assert one.cohorts is None and plain.cohorts is None
    assert one.summary["cohorts"][0]["name"] == "all" and plain.summary["cohorts"][0]["name"] == "fleet"


def test_two_alike_cohorts_give_the_fleets_results(plain):
    """Cohorts with no keys of their own split the same cars: the fleet's results to rounding."""
    two = run(default_scenario().with_overrides({**BASE, "fleet.cohorts": [{"name": "a", "share": 0.3},
                                                                           {"name": "b", "share": 0.7}]}))
    assert two.jobs.equals(plain.jobs)
    for col in ("grid_w", "available_inference_w", "serving", "utilization"):
        assert np.allclose(two.timeseries[col], plain.timeseries[col], rtol=1e-12, atol=1e-9)
    assert [c["vehicles_simulated"] for c in two.summary["cohorts"]] == [36, 84]


def test_the_mixed_fleet_example_resolves():
    root = __import__("pathlib").Path(__file__).resolve().parents[2]
    sc = load_scenario(root / "examples" / "mixed_fleet.toml")
    cohorts = fleet_cohorts(sc)
    chips = {}
    for c in cohorts:
        chips[c.scenario["fleet.chip.preset"]] = chips.get(c.scenario["fleet.chip.preset"], 0) + c.share
    assert chips == pytest.approx({"hw3": 0.6, "hw4": 0.35, "ai5_claimed": 0.05})
    assert [c.profile for c in cohorts].count("robotaxi") == 1
    Simulation(sc.with_overrides({"fleet.vehicles": 40, "run.days": 0.01, "run.warmup_days": 0.0}))


@pytest.mark.parametrize("cohorts, expected", [
    ('[{name="a", share=0.5}]', "fleet.cohorts: the shares add to 0.5; allowed: shares that add to 1"),
    ('[{name="a", share=1, vehicles=3}]', "[[fleet.cohorts]] 'a': vehicles = 3: fleet.vehicles holds for the whole"),
    ('[{name="a", share=1, chipp={preset="hw3"}}]', "[[fleet.cohorts]] 'a': unknown fleet key 'chipp'"),
    ('[{name="a", share=1, robotaxi={rides_per_hour=2}}]', "'a': robotaxi.rides_per_hour = 2: not a key of a "
                                                           "personal cohort"),
    ('[{name="a", share=0.5}, {name="a", share=0.5}]', "name = 'a': allowed: a name no other cohort has"),
    ('[{name="a", share=1, chip={preset="hw3"}}]', "[[fleet.cohorts]] 'a': fleet.model.preset = 'llama-3.1-8b-q4' "
                                                   "does not fit fleet.chip.preset = 'hw3'"),
    ('[{name="a", share=1, represents=5000}]', "'a': represents = 5000: fleet.represents holds for the whole fleet"),
    ('[{name="a", share=1, profile="robotaxi", battery={capacity_wh=2e5}}]', "'a': battery.capacity_wh = 200000.0: "
                                                                           "not a key of a robotaxi cohort"),
])
def test_bad_cohorts_are_refused_with_one_line(tmp_path, capsys, cohorts, expected):
    """Each refused before anything runs: exit 2, one line naming the cohort and the key."""
    from sim.cli import main

    out = tmp_path / "out"
    code = main(["run", "--set", f"fleet.cohorts={cohorts}", "--set", "run.days=0.01", "--out", str(out),
                 "--no-progress"])
    line = capsys.readouterr().err.strip()
    assert code == 2 and not out.exists()
    assert len(line.splitlines()) == 1 and expected in line, line


def test_a_written_scenario_reads_back_the_same_cohorts():
    """scenario.toml spells out the fleet's preset fields; a cohort with its own preset keeps its own."""
    import tomllib

    from sim.runner import build_vehicle_spec
    from sim.scenario import resolve

    root = __import__("pathlib").Path(__file__).resolve().parents[2]
    sc = load_scenario(root / "examples" / "mixed_fleet.toml")
    back = resolve(tomllib.loads(sc.to_toml()))
    specs = [build_vehicle_spec(c.scenario) for c in fleet_cohorts(sc)]
    assert specs == [build_vehicle_spec(c.scenario) for c in fleet_cohorts(back)]
    assert [s.chip.active_w for s in specs] == [72.0, 160.0, 250.0, 160.0]
    assert back.to_toml() == sc.to_toml()


def test_a_replicate_in_a_worker_is_the_run_in_process():
    """The worker path (the scenario as TOML) of replicate 0 gives this process's numbers."""
    from sim.studies.replicates import run_replicate, summary_numbers

    root = __import__("pathlib").Path(__file__).resolve().parents[2]
    sc = load_scenario(root / "examples" / "mixed_fleet.toml", ["fleet.vehicles=60", "run.days=0.05",
                                                                  "run.warmup_days=0", "report.figures=false"])
    here = summary_numbers(run(sc).summary)
    there = run_replicate(sc.to_toml(), 0)
    wall = ("run.wall_s", "run.decisions_per_wall_s")
    assert {k: v for k, v in here.items() if k not in wall} == {k: v for k, v in there.items() if k not in wall}


def test_fixed_slots_serve_their_cohorts_model(mixed):
    jobs = mixed.jobs.merge(mixed.vehicles[["vehicle_id", "cohort"]], on="vehicle_id")
    assert set(jobs.loc[jobs["cohort"] == "old", "model"]) == {"llama-3.2-3b-q4"}
    assert set(jobs.loc[jobs["cohort"] != "old", "model"]) == {"llama-3.1-8b-q4"}


def test_robotaxi_rides_take_each_cohorts_empty_share():
    s = run(default_scenario().with_overrides({**BASE, "run.days": 0.5, "fleet.vehicles": 40, "fleet.cohorts": [
        {"name": "cars", "share": 0.5},
        {"name": "full", "share": 0.25, "profile": "robotaxi", "robotaxi": {"empty_share": 0.3}},
        {"name": "empty", "share": 0.25, "profile": "robotaxi", "robotaxi": {"empty_share": 0.9}}]}))
    veh, taxi = s.vehicles, s.summary["robotaxi"]
    km = {n: float(veh.loc[veh["cohort"] == n, "km"].sum()) for n in ("full", "empty")}
    assert km["full"] > 0 and km["empty"] > 0
    assert taxi["occupied_km"] == pytest.approx(km["full"] * 0.7 + km["empty"] * 0.1, rel=1e-12)


def test_apportionment_never_exceeds_the_total():
    counts = apportion([0.3 + 3e-10, 0.3 + 3e-10, 0.4 + 3e-10], 10**12)
    assert sum(counts) == 10**12 and min(counts) >= 0


def test_robotaxis_by_count_are_refused_beside_cohort_tables():
    from sim.core.errors import ScenarioError

    with pytest.raises(ScenarioError, match=r"fleet.robotaxi.vehicles = 20: allowed: 0 with \[\[fleet.cohorts\]\]"):
        default_scenario().with_overrides({"fleet.robotaxi.vehicles": 20, "fleet.cohorts": [
            {"name": "a", "share": 0.5}, {"name": "b", "share": 0.5}]})
