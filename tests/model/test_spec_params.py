"""One name per parameter: scenario keys come from the spec dataclasses' fields, and one generic
builder makes a spec from a scenario."""
from __future__ import annotations

import dataclasses

import pytest

from fleet.battery import BatterySpec
from fleet.datacenter import DataCenterSpec
from fleet.mobility import MobilityParams
from sim.comparison import DataCenterBaseline
from sim.core.errors import ScenarioError
from sim.core.params import param
from sim.scenario import build_spec, default_scenario
from sim.schema import KEYS, KEYS_BY_PATH, spec_keys

GENERATED = (("fleet.battery", BatterySpec), ("fleet.itinerary", MobilityParams),
             ("dispatch.datacenter", DataCenterSpec), ("grid.datacenter", DataCenterBaseline))


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
