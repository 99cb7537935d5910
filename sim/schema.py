"""Every scenario key: its type, default, allowed values and meaning (with the source).

The defaults together form the built-in scenario: ~1,000 personal cars in California on
PG&E's EV2-A tariff and CAISO's 2022 hourly carbon intensity, three days from Monday
2022-06-06. Sources are in facts.md (shared reference) unless stated; ASSUMPTION marks a value
with no public source (sweep it).

Every key but the two preset selectors is a parameter field of a spec dataclass (:data:`SPECS`),
declared once with its default, doc and bounds (:func:`sim.core.params.param`) and turned into keys
by :func:`spec_keys`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from fleet.battery import BatterySpec
from fleet.chip import CHIP_PRESETS, ChipSpec
from fleet.datacenter import DataCenterSpec
from fleet.llm import MODEL_PRESETS, ModelSpec
from fleet.mobility import MobilityParams
from fleet.network import LINK_PRESETS, LinkSpec
from fleet.policies.base import POLICY_ALLOWED
from fleet.residency import StorageSpec
from fleet.robotaxi import RobotaxiFleet, RobotaxiParams
from fleet.vehicle import VehicleSpec
from fleet.workload import BatchParams, InteractiveParams
from grid.chargers import CHARGER_PRESETS, ChargerSpec
from grid.sites import DepotSpec
from grid.tariff import TARIFFS
from sim.comparison import DataCenterBaseline
from sim.core.inputs import NAME_ALLOWED
from sim.core.params import param_info
from sim.settings import (
    BatchLimits,
    ChargingSpec,
    ClassDemand,
    ClassModel,
    DispatchSpec,
    FleetSpec,
    GridSpec,
    NetworkSpec,
    PayoutSpec,
    ReportSpec,
    RunSpec,
    ServingSpec,
    WorkloadSpec,
)

#: the years a run may span (its start and its end): wide enough for any study, narrow enough that
#: every instant of a run, its time zone's offsets and its calendar stay representable
YEAR_MIN, YEAR_MAX = 1900, 2200
#: largest value of an hours24 entry (shares are normalised; this keeps their sum finite)
HOURS24_MAX = 1e6
#: the most cohorts a fleet may have (each builds its own vehicle specs and recorder)
MAX_COHORTS = 64
#: built-in tariff names (a tariff key may also name a .toml or .json tariff file)
TARIFF_NAMES = tuple(sorted(TARIFFS))


@dataclass(frozen=True)
class Key:
    """One scenario key.

    ``kind`` is one of int, float, bool, str, datetime, hours24 (24 numbers), table, name (a plain
    name: it becomes part of a folder name), policy (a dispatch policy reference), tariff (a
    built-in tariff name or a tariff file) and epw (empty, or an EPW weather file).
    ``lo``/``hi`` bound numbers (``lo_open``/``hi_open`` exclude the bound); ``choices`` lists
    allowed strings (None = any string).
    """

    path: str
    kind: str
    default: Any
    doc: str
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple[str, ...] | None = None

    def allowed(self) -> str:
        """Human description of the allowed values."""
        if self.kind == "bool":
            return "true or false"
        if self.kind == "datetime":
            return ("a date-time with a UTC offset (2022-06-06T00:00:00-07:00) or 'YYYY-MM-DDTHH:MM[:SS] Area/City', "
                    f"the run within the years {YEAR_MIN} to {YEAR_MAX}")
        if self.kind == "hours24":
            return f"24 numbers from 0 to {HOURS24_MAX:g} (one per local hour), not all 0"
        if self.kind == "name":
            return NAME_ALLOWED
        if self.kind == "policy":
            return POLICY_ALLOWED
        if self.kind == "tariff":
            return "one of " + ", ".join(repr(t) for t in TARIFF_NAMES) + " or the path of a .toml or .json tariff file"
        if self.kind == "epw":
            return "'' (none) or the path of an existing .epw weather file"
        if self.kind == "table":
            return "a table"
        if self.kind == "cohorts":
            return (f"a list of at most {MAX_COHORTS} tables, each with a name, a share (0 to 1; the shares add to 1), "
                    "an optional profile ('personal' or 'robotaxi') and per-car fleet keys")
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.kind == "str":
            return "a string"
        noun = "an integer" if self.kind == "int" else "a number"
        parts = []
        if self.lo is not None:
            parts.append(f"{'>' if self.lo_open else '>='} {self.lo:g}")
        if self.hi is not None:
            parts.append(f"{'<' if self.hi_open else '<='} {self.hi:g}")
        return noun + (" " + " and ".join(parts) if parts else "")


#: a spec field's Python type (as written) -> its key kind; ``X | None`` (None: unset) has the kind of X
_KIND_OF_TYPE = {"float": "float", "int": "int", "bool": "bool", "str": "str"}


def spec_keys(prefix: str, spec: type, preset: bool = False, fields: tuple[str, ...] | None = None) -> tuple[Key, ...]:
    """The keys ``prefix.FIELD`` of every :func:`sim.core.params.param` field of the dataclass
    ``spec``, in field order, with the field's default, doc, bounds and choices. With ``preset``,
    each key overrides the field of a preset named by ``prefix.preset`` and defaults to None (the
    preset's value). With ``fields``, only those parameter fields, in that order: the keys of a
    table whose keys are interleaved with a sub-table's."""
    by_name = {f.name: f for f in dataclasses.fields(spec)}
    if fields is None:
        chosen = [f for f in by_name.values() if param_info(f) is not None]
    else:
        unknown = [name for name in fields if name not in by_name or param_info(by_name[name]) is None]
        if unknown:
            raise ValueError(f"{spec.__name__} has no parameter field {', '.join(unknown)}")
        chosen = [by_name[name] for name in fields]
    keys = []
    for f in chosen:
        info = param_info(f)
        kind = info["kind"] or _KIND_OF_TYPE[str(f.type).removesuffix(" | None")]
        if preset:
            default = None
        elif f.default is not dataclasses.MISSING:
            default = f.default
        else:
            default = f.default_factory()
        if kind == "hours24":
            default = list(default)
        keys.append(Key(f"{prefix}.{f.name}", kind, default, info["doc"], lo=info["lo"], hi=info["hi"],
                        lo_open=info["lo_open"], hi_open=info["hi_open"], choices=info["choices"]))
    return tuple(keys)


#: every spec dataclass whose parameter fields are keys: (prefix, spec, whether it overrides a preset)
SPECS: tuple[tuple[str, type, bool], ...] = (
    ("run", RunSpec, False),
    ("fleet", FleetSpec, False),
    ("fleet.payout", PayoutSpec, False),
    ("fleet.chip", ChipSpec, True),
    ("fleet.chip", ServingSpec, False),
    ("fleet.network", NetworkSpec, False),
    ("fleet.network.home", LinkSpec, True),
    ("fleet.network.away", LinkSpec, True),
    ("fleet.model", ModelSpec, True),
    ("fleet.storage", StorageSpec, False),
    ("fleet.battery", BatterySpec, False),
    ("fleet.charger", ChargerSpec, True),
    ("fleet.vehicle", VehicleSpec, False),
    ("fleet.itinerary", MobilityParams, False),
    ("fleet.robotaxi", RobotaxiFleet, False),
    ("fleet.robotaxi", RobotaxiParams, False),
    ("fleet.robotaxi.depot", DepotSpec, False),
    ("workload", WorkloadSpec, False),
    ("workload.interactive", InteractiveParams, False),
    ("workload.interactive", ClassDemand, False),
    ("workload.interactive", ClassModel, False),
    ("workload.batch", BatchParams, False),
    ("workload.batch", ClassDemand, False),
    ("workload.batch", BatchLimits, False),
    ("workload.batch", ClassModel, False),
    ("dispatch", DispatchSpec, False),
    ("dispatch.datacenter", DataCenterSpec, False),
    ("grid", GridSpec, False),
    ("grid.datacenter", DataCenterBaseline, False),
    ("grid.charging", ChargingSpec, False),
    ("report", ReportSpec, False),
)

#: the keys that name a preset, whose fields the keys of their section override (not spec fields)
PRESET_KEYS: tuple[Key, ...] = (
    Key("fleet.chip.preset", "str", "hw4", "chip preset: hw3, hw4, ai5_claimed (Tesla's stated multiples of hw4), "
        "jetson_agx_orin_64gb, h100_sxm or future_1kw (sources in fleet/chip.py)", choices=tuple(sorted(CHIP_PRESETS))),
    Key("fleet.charger.preset", "str", "l2_home",
        "home charger: l2_home (Tesla Wall Connector 11.5 kW, ~90 %) or l1 (1.4 kW, 80-85 %), facts.md §2; "
        "any grid.chargers preset", choices=tuple(sorted(CHARGER_PRESETS))),
    Key("fleet.network.home.preset", "str", "home_wifi", "link of a car parked at home or its depot (sources in "
        "fleet/network.py)", choices=tuple(sorted(LINK_PRESETS))),
    Key("fleet.network.away.preset", "str", "cellular", "link of a car parked away from home (sources in "
        "fleet/network.py)", choices=tuple(sorted(LINK_PRESETS))),
    Key("fleet.model.preset", "str", "llama-3.1-8b-q4", "the model the chips serve (sources in fleet/llm.py)",
        choices=tuple(MODEL_PRESETS)),
)

KEYS: tuple[Key, ...] = (
    # ------------------------------------------------------------------ run
    *spec_keys("run", RunSpec),
    # ------------------------------------------------------------------ fleet
    *spec_keys("fleet", FleetSpec, fields=("vehicles", "weight", "represents", "opt_in_share", "home_charger_share",
                                           "away_connectivity", "initial_soc_min", "initial_soc_max")),
    *spec_keys("fleet.payout", PayoutSpec),
    *spec_keys("fleet", FleetSpec, fields=("mobility",)),
    PRESET_KEYS[0],
    *spec_keys("fleet.chip", ServingSpec),
    *spec_keys("fleet.chip", ChipSpec, preset=True),
    *spec_keys("fleet.network", NetworkSpec),
    PRESET_KEYS[2],
    *spec_keys("fleet.network.home", LinkSpec, preset=True),
    PRESET_KEYS[3],
    *spec_keys("fleet.network.away", LinkSpec, preset=True),
    PRESET_KEYS[4],
    *spec_keys("fleet.model", ModelSpec, preset=True),
    *spec_keys("fleet.storage", StorageSpec),
    *spec_keys("fleet.battery", BatterySpec),
    PRESET_KEYS[1],
    *spec_keys("fleet.charger", ChargerSpec, preset=True),
    *spec_keys("fleet", FleetSpec, fields=("workplace_charging_share",)),
    *spec_keys("fleet.vehicle", VehicleSpec),
    *spec_keys("fleet.itinerary", MobilityParams),
    *spec_keys("fleet.robotaxi", RobotaxiFleet, fields=("vehicles",)),
    *spec_keys("fleet.robotaxi", RobotaxiParams),
    *spec_keys("fleet.robotaxi", RobotaxiFleet, fields=("capacity_wh", "driving_wh_per_km", "plug_below_soc",
                                                        "ready_soc")),
    *spec_keys("fleet.robotaxi.depot", DepotSpec),
    Key("fleet.cohorts", "cohorts", [], "a mixed fleet: [[fleet.cohorts]] tables, each a share of fleet.vehicles with "
        "its name, profile ('personal' or 'robotaxi') and its own values of fleet keys (chip, model, battery, "
        "charger, vehicle, itinerary, robotaxi duty cycle, opt-in and the other per-car shares); see "
        "docs/cohorts.md. Empty: one fleet"),
    # ------------------------------------------------------------------ workload
    *spec_keys("workload", WorkloadSpec),
    *spec_keys("workload.interactive", InteractiveParams, fields=("rate_per_s",)),
    *spec_keys("workload.interactive", ClassDemand),
    *spec_keys("workload.interactive", InteractiveParams, fields=tuple(
        f.name for f in dataclasses.fields(InteractiveParams) if f.name != "rate_per_s")),
    *spec_keys("workload.interactive", ClassModel),
    *spec_keys("workload.batch", BatchParams, fields=("rate_per_s",)),
    *spec_keys("workload.batch", ClassDemand),
    *spec_keys("workload.batch", BatchParams, fields=tuple(
        f.name for f in dataclasses.fields(BatchParams) if f.name != "rate_per_s")),
    *spec_keys("workload.batch", BatchLimits),
    *spec_keys("workload.batch", ClassModel),
    # ------------------------------------------------------------------ dispatch
    *spec_keys("dispatch", DispatchSpec),
    *spec_keys("dispatch.datacenter", DataCenterSpec),
    # ------------------------------------------------------------------ grid
    *spec_keys("grid", GridSpec, fields=("carbon", "tariff")),
    *spec_keys("grid.datacenter", DataCenterBaseline),
    *spec_keys("grid.charging", ChargingSpec),
    *spec_keys("grid", GridSpec, fields=("carbon_price_usd_per_tonne",)),
    # ------------------------------------------------------------------ report
    *spec_keys("report", ReportSpec),
)

KEYS_BY_PATH: dict[str, Key] = {k.path: k for k in KEYS}
#: the sections whose fields default to their preset's (``fleet.chip``, ``fleet.model``, ...)
_PRESET_SECTIONS = frozenset(k.path.rpartition(".")[0] for k in PRESET_KEYS)
TABLES = ("run", "fleet", "workload", "dispatch", "grid", "report")


def reference_markdown() -> str:
    """The scenario reference as Markdown tables (the README's "Scenario reference" section)."""
    lines: list[str] = []
    table = None
    for k in KEYS:
        top = k.path.split(".")[0]
        if top != table:
            lines += ["", f"**[{top}]**", "", "| key | default | allowed | meaning |", "|---|---|---|---|"]
            table = top
        d = k.default
        if k.kind == "hours24":
            shown = "NHTS 2022 weekday shares"
        elif d is None:  # a preset's field, or a key whose meaning says what applies when it is not given
            shown = "from the preset" if k.path.rpartition(".")[0] in _PRESET_SECTIONS else "none"
        elif isinstance(d, bool):
            shown = str(d).lower()
        elif isinstance(d, str):
            shown = f'"{d}"'
        elif isinstance(d, dict):
            shown = "{}"
        elif isinstance(d, list):
            shown = "none"
        else:
            shown = f"{d:g}" if isinstance(d, float) else str(d)
        lines.append(f"| `{k.path}` | {shown} | {k.allowed()} | {k.doc} |")
    return "\n".join(lines).strip() + "\n"
