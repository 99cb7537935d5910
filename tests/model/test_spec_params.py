"""One name per parameter: scenario keys come from the spec dataclasses' fields (every key but the
two preset selectors), and one generic builder makes a spec from a scenario."""
from __future__ import annotations

import dataclasses

import pytest

from fleet.battery import BatterySpec
from fleet.datacenter import DataCenterSpec
from fleet.mobility import MobilityParams
from grid.sites import DepotSpec
from sim.comparison import DataCenterBaseline
from sim.core.errors import ScenarioError
from sim.core.params import param
from sim.scenario import build_spec, default_scenario
from sim.schema import KEYS, KEYS_BY_PATH, spec_keys
from sim.settings import PayoutSpec, ReportSpec, RunSpec

GENERATED = (("fleet.battery", BatterySpec), ("fleet.itinerary", MobilityParams),
             ("dispatch.datacenter", DataCenterSpec), ("grid.datacenter", DataCenterBaseline), ("run", RunSpec),
             ("fleet.payout", PayoutSpec), ("fleet.robotaxi.depot", DepotSpec), ("report", ReportSpec))


@pytest.mark.parametrize("prefix, spec", GENERATED, ids=[g[0] for g in GENERATED])
def test_each_section_is_its_dataclass(prefix, spec):
    """Every key of the section is a field of the dataclass with the field's default, and back."""
    keys = [k for k in KEYS if k.path.startswith(prefix + ".")]
    assert [k.path for k in keys] == [f"{prefix}.{f.name}" for f in dataclasses.fields(spec)]
    defaults = spec()
    for k in keys:
        value = getattr(defaults, k.path.rsplit(".", 1)[1])
        assert k.default == (list(value) if k.kind == "hours24" else value), k.path
        assert k.doc and k.allowed()


@pytest.mark.parametrize("prefix, spec", GENERATED, ids=[g[0] for g in GENERATED])
def test_build_spec_takes_every_override(prefix, spec):
    """A changed key reaches the built spec; the rest keep their defaults."""
    key = next(k for k in KEYS if k.path.startswith(prefix + ".") and k.kind in ("float", "int"))
    new = key.default + 1 if key.hi is None or key.default + 1 <= key.hi else key.default - 1
    if key.kind == "float" and key.hi is not None and key.hi <= 1.0:
        new = (key.default + (key.lo or 0.0)) / 2.0 if key.default > (key.lo or 0.0) else key.default
    sc = default_scenario().with_overrides({key.path: new})
    built = build_spec(spec, sc, prefix)
    assert getattr(built, key.path.rsplit(".", 1)[1]) == new
    assert built == dataclasses.replace(spec(), **{key.path.rsplit(".", 1)[1]: new})


def test_a_new_field_is_a_new_key_with_its_bounds():
    """Adding a parameter is adding one field: its key, doc, bounds and choices follow from it."""

    @dataclasses.dataclass(frozen=True)
    class Pump:
        flow_l_per_s: float = param(2.5, doc="flow, L/s; ASSUMPTION", lo=0.0, lo_open=True, hi=10.0)
        mode: str = param("eco", doc="operating mode", choices=("eco", "boost"))
        plain: int = 3  # not a parameter: no key

    keys = spec_keys("site.pump", Pump)
    assert [k.path for k in keys] == ["site.pump.flow_l_per_s", "site.pump.mode"]
    flow, mode = keys
    assert (flow.kind, flow.default, flow.lo, flow.lo_open, flow.hi) == ("float", 2.5, 0.0, True, 10.0)
    assert flow.allowed() == "a number > 0 and <= 10"
    assert mode.allowed() == "one of 'eco', 'boost'"


def test_the_error_message_of_a_generated_key_names_it():
    """Bounds declared on the field are enforced with the usual one-line message."""
    k = KEYS_BY_PATH["fleet.battery.capacity_wh"]
    with pytest.raises(ScenarioError, match=r"^fleet\.battery\.capacity_wh = 10\.0: allowed: a number >= 1000"):
        default_scenario().with_overrides({k.path: 10.0})


PRESET_SECTIONS = (("fleet.chip", "hw4"), ("fleet.charger", "l1"), ("fleet.model", "llama-3.2-3b-q4"))


@pytest.mark.parametrize("prefix, preset", PRESET_SECTIONS, ids=[p[0] for p in PRESET_SECTIONS])
def test_preset_sections_override_one_field_of_their_preset(prefix, preset):
    """A preset section's keys default to None (the preset's value); a set key replaces one field."""
    from fleet.chip import CHIP_PRESETS
    from fleet.llm import MODEL_PRESETS
    from grid.chargers import CHARGER_PRESETS
    from sim.scenario import build_from_preset

    presets = {"fleet.chip": CHIP_PRESETS, "fleet.charger": CHARGER_PRESETS, "fleet.model": MODEL_PRESETS}[prefix]
    selectors = (prefix + ".preset", prefix + ".serving")  # which preset, and (chips) how it serves
    keys = [k for k in KEYS if k.path.startswith(prefix + ".") and k.path not in selectors]
    assert keys and all(k.default is None for k in keys)
    base = presets[preset]
    sc = default_scenario().with_overrides({prefix + ".preset": preset})
    assert build_from_preset(base, sc, prefix) == base
    key = next(k for k in keys if k.kind == "float")
    field_name = key.path.rsplit(".", 1)[1]
    new = (getattr(base, field_name) + key.hi) / 2.0 if key.hi is not None else getattr(base, field_name) * 1.5
    built = build_from_preset(base, sc.with_overrides({key.path: new}), prefix)
    assert built == dataclasses.replace(base, **{field_name: new})


@pytest.mark.parametrize("prefix", ["fleet.vehicle", "fleet.robotaxi"])
def test_parameter_fields_of_mixed_specs_are_keys_in_field_order(prefix):
    """VehicleSpec and RobotaxiParams also hold fields that are not keys (sub-specs, constants):
    exactly their parameter fields are keys, in field order."""
    from fleet.robotaxi import RobotaxiParams
    from fleet.vehicle import VehicleSpec

    spec = VehicleSpec if prefix == "fleet.vehicle" else RobotaxiParams
    params = [f"{prefix}.{f.name}" for f in dataclasses.fields(spec) if "fleetsim.param" in f.metadata]
    paths = [k.path for k in KEYS]
    assert params and all(p in paths for p in params)
    assert [p for p in paths if p in params] == params


# ---------------------------------------------------------------- every key is a spec field
#: the keys written by hand: the preset selectors, and the cohort list (tables of other fleet keys, checked by
#: sim.scenario against those keys)
PRESET_SELECTORS = {"fleet.chip.preset", "fleet.charger.preset", "fleet.model.preset", "fleet.network.home.preset",
                    "fleet.network.away.preset", "fleet.cohorts"}


def _generated() -> list:
    """Every key that a registered spec's fields make (``sim.schema.SPECS``)."""
    from sim.schema import SPECS

    return [k for prefix, spec, preset in SPECS for k in spec_keys(prefix, spec, preset=preset)]


def test_every_key_but_the_preset_selectors_is_generated_from_a_spec_field():
    """No key is written by hand: each one (but the preset selectors and the cohort list) equals, in every part
    (path, kind, default, doc, bounds, choices), the key of one field of a registered spec."""
    generated = _generated()
    by_hand = [k.path for k in KEYS if k.path not in PRESET_SELECTORS and k not in generated]
    assert by_hand == []
    assert {k.path for k in KEYS} - {k.path for k in generated} == PRESET_SELECTORS


def test_every_field_of_a_registered_spec_is_exactly_one_key():
    """A registered spec's parameter fields all reach the schema, each once (build_spec reads them all)."""
    paths = [k.path for k in KEYS]
    generated = [k.path for k in _generated()]
    assert len(generated) == len(set(generated)) == len(KEYS) - len(PRESET_SELECTORS)
    assert sorted(p for p in paths if p not in PRESET_SELECTORS) == sorted(generated)


def test_a_subset_of_fields_names_only_parameter_fields():
    """A table whose keys are interleaved with a sub-table's takes its fields in parts, by name."""
    from sim.settings import FleetSpec

    keys = spec_keys("fleet", FleetSpec, fields=("mobility", "weight"))
    assert [k.path for k in keys] == ["fleet.mobility", "fleet.weight"]
    with pytest.raises(ValueError, match="FleetSpec has no parameter field wheels"):
        spec_keys("fleet", FleetSpec, fields=("wheels",))


def _another_value(key):
    """Values other than ``key``'s default, for a key with choices, a bool or a number (else none)."""
    if key.choices is not None:
        return [c for c in key.choices if c != key.default]
    if key.kind == "bool":
        return [not key.default]
    if key.kind not in ("int", "float"):
        return []
    base = key.default if key.default is not None else (key.lo or 0.0) + 1.0
    lo = key.lo if key.lo is not None else base - 2.0
    hi = key.hi if key.hi is not None else base + 2.0
    values = [base + 1, base - 1, (base + lo) / 2, (base + hi) / 2, base - (base - lo) / 10]
    if key.kind == "int":
        values = [round(v) for v in values]
    return [v for v in values if v != key.default]


def _built(spec, sc, prefix):
    from fleet.vehicle import VehicleSpec
    from sim.runner import build_vehicle_spec

    return build_vehicle_spec(sc) if spec is VehicleSpec else build_spec(spec, sc, prefix)


@pytest.mark.parametrize("path", [k.path for k in KEYS if k.path not in PRESET_SELECTORS and k.default is not None
                                  or k.path == "workload.batch.max_wait_s"])
def test_build_spec_reads_each_key_into_its_field(path):
    """A changed key (any value the scenario accepts) reaches its field of the built spec."""
    from fleet.workload import DIURNAL_PROFILES, InteractiveParams
    from sim.schema import SPECS

    key = KEYS_BY_PATH[path]
    prefix, name = path.rsplit(".", 1)
    spec = next(s for p, s, preset in SPECS if p == prefix and not preset and any(
        f.name == name and "fleetsim.param" in f.metadata for f in dataclasses.fields(s)))
    base = default_scenario()
    built = getattr(_built(spec, base, prefix), name)
    assert built == (DIURNAL_PROFILES[key.default] if spec is InteractiveParams and name == "diurnal"
                     else tuple(key.default) if key.kind == "hours24" else key.default)
    for value in _another_value(key):
        try:
            sc = base.with_overrides({path: value})
            got = getattr(_built(spec, sc, prefix), name)
        except ScenarioError:  # out of bounds, or refused by a constraint between keys
            continue
        assert got == (DIURNAL_PROFILES[value] if spec is InteractiveParams and name == "diurnal" else sc[path])
        return
    assert key.kind not in ("int", "float", "bool") and key.choices is None, f"no other value tried for {path}"


def test_the_simulation_reads_the_moved_keys():
    """The runner builds its parts from the specs: robotaxis, their depot, batch limits, sampling."""
    from fleet.jobs import BATCH_CLASS
    from sim.runner import Simulation

    sc = default_scenario().with_overrides({
        "fleet.vehicles": 5, "fleet.robotaxi.vehicles": 2, "fleet.robotaxi.capacity_wh": 52_000.0,
        "fleet.robotaxi.ready_soc": 0.7, "fleet.robotaxi.depot.stalls": 3, "fleet.robotaxi.depot.sharing": "priority",
        "workload.batch.max_wait_s": 60.0, "run.sample_interval_s": 600.0, "dispatch.queue_order": "edf"})
    sim = Simulation(sc)
    assert len(sim.vehicles) == 7
    taxi = sim.vehicles[-1].spec
    assert (taxi.battery.capacity_wh, taxi.ready_soc, taxi.profile) == (52_000.0, 0.7, "robotaxi")
    assert (sim.site.spec.stalls, sim.site.spec.sharing) == (3, "priority")
    assert sim.dispatcher.queue_order == "edf"
    assert sim.run_spec.sample_interval_s == 600.0
    assert BATCH_CLASS in sim.workload.class_limits


def test_a_diurnal_profile_is_given_by_its_name_or_its_weights():
    from fleet.workload import DIURNAL_FLAT, InteractiveParams

    assert InteractiveParams(1.0, "flat") == InteractiveParams(1.0, DIURNAL_FLAT)
    assert InteractiveParams().diurnal == InteractiveParams(diurnal="default").diurnal
    with pytest.raises(ValueError, match="diurnal is 'weekly'; expected one of default, flat"):
        InteractiveParams(1.0, "weekly")
