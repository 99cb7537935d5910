"""Every scenario key: its type, default, allowed values and meaning (with the source).

The defaults together form the built-in scenario: ~1,000 personal cars in California on
PG&E's EV2-A tariff and CAISO's 2022 hourly carbon intensity, three days from Monday
2022-06-06. Sources are in facts.md (shared reference) unless stated; ASSUMPTION marks a value
with no public source (sweep it).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from fleet.battery import BatterySpec
from fleet.chip import BATCHED, CHIP_PRESETS, SLOTS, ChipSpec
from fleet.datacenter import DataCenterSpec
from fleet.llm import MODEL_PRESETS, ModelSpec
from fleet.mobility import MobilityParams
from fleet.network import LINK_PRESETS, LinkSpec
from fleet.policies.base import POLICY_ALLOWED
from fleet.robotaxi import RobotaxiParams
from fleet.vehicle import VehicleSpec
from fleet.workload import (
    DEFAULT_INTERACTIVE_MAX_WAIT_S,
    DEFAULT_INTERACTIVE_SLO_S,
    BatchParams,
)
from grid.chargers import CHARGER_PRESETS, ChargerSpec
from grid.tariff import TARIFFS
from sim.comparison import DataCenterBaseline
from sim.core.inputs import NAME_ALLOWED
from sim.core.params import (
    LIMIT_S,
    PACK_WH,
    SHARE,
    param_info,
)

#: the years a run may span (its start and its end): wide enough for any study, narrow enough that
#: every instant of a run, its time zone's offsets and its calendar stay representable
YEAR_MIN, YEAR_MAX = 1900, 2200
#: largest value of an hours24 entry (shares are normalised; this keeps their sum finite)
HOURS24_MAX = 1e6
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


def _k(path, kind, default, doc, **kw) -> Key:
    return Key(path, kind, default, doc, **kw)


#: a spec field's Python type (as written) -> its key kind
_KIND_OF_TYPE = {"float": "float", "int": "int", "bool": "bool", "str": "str"}


def spec_keys(prefix: str, spec: type, preset: bool = False) -> tuple[Key, ...]:
    """The keys ``prefix.FIELD`` of every :func:`sim.core.params.param` field of the dataclass
    ``spec``, in field order, with the field's default, doc, bounds and choices. With ``preset``,
    each key overrides the field of a preset named by ``prefix.preset`` and defaults to None (the
    preset's value)."""
    keys = []
    for f in dataclasses.fields(spec):
        info = param_info(f)
        if info is None:
            continue
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



KEYS: tuple[Key, ...] = (
    # ------------------------------------------------------------------ run
    _k("run.name", "name", "default", "name of the scenario (used in the results folder name)"),
    _k("run.days", "float", 3.0, "simulated span (days)", lo=0.0, lo_open=True, hi=3660.0),
    _k("run.seed", "int", 1, "root seed of every random stream", lo=0, hi=1e18),
    _k("run.start", "datetime", "2022-06-06T00:00:00 America/Los_Angeles",
       "start instant, local time with its zone (a Monday)"),
    _k("run.sample_interval_s", "float", 900.0, "time-series sample interval (s)", lo=1.0, hi=31622400.0),
    # ------------------------------------------------------------------ fleet
    _k("fleet.vehicles", "int", 1000, "simulated vehicles", lo=1, hi=100_000_000),
    _k("fleet.weight", "float", 1.0, "real vehicles each simulated vehicle represents", lo=1.0, hi=1e9),
    _k("fleet.opt_in_share", "float", 0.5,
       "share of owners who opt in to serving; ASSUMPTION (no survey exists): sweep it", **SHARE),
    _k("fleet.home_charger_share", "float", 1.0,
       "share of cars with a home charger; ASSUMPTION (home charging for all)", **SHARE),
    _k("fleet.away_connectivity", "float", 0.84,
       "chance a car parked away from home has a usable link; Ookla H1-2024: 81-87 % of US "
       "mobile samples reach 5/1 Mbps (facts.md §7). At home: Wi-Fi, always", **SHARE),
    _k("fleet.initial_soc_min", "float", 0.5, "lowest initial SoC (uniform draw); ASSUMPTION", **SHARE),
    _k("fleet.initial_soc_max", "float", 0.9, "highest initial SoC (uniform draw); ASSUMPTION", **SHARE),
    _k("fleet.payout.scheme", "str", "flat_monthly",
       "how owners are paid: 'per_kwh' of inference energy, 'per_token' served, or 'flat_monthly' per "
       "opted-in car", choices=("per_kwh", "per_token", "flat_monthly")),
    _k("fleet.payout.usd_per_month", "float", 100.0,
       "flat payout per opted-in car and month, US $; Musk, 2025-11-06: \"$100 or $200 a month\" (facts.md §1)",
       lo=0.0, hi=1e6),
    _k("fleet.payout.usd_per_kwh", "float", 0.5,
       "payout per kWh of inference energy, US $; ASSUMPTION (about the peak EV2-A price)", lo=0.0, hi=1e3),
    _k("fleet.payout.usd_per_million_tokens", "float", 0.1,
       "payout per million tokens served, US $; ASSUMPTION: sweep it", lo=0.0, hi=1e6),
    _k("fleet.mobility", "bool", True,
       "follow itineraries; false keeps every car parked at home (for validation)"),
    _k("fleet.chip.preset", "str", "hw4", "chip preset: hw3, hw4, ai5_claimed (Tesla's stated multiples of hw4), "
       "jetson_agx_orin_64gb, h100_sxm or future_1kw (sources in fleet/chip.py)", choices=tuple(sorted(CHIP_PRESETS))),
    _k("fleet.chip.serving", "str", SLOTS,
       "'batched': continuous batching whose step times and power follow the roofline of the chip and model; "
       "'slots': fixed slots with fixed per-slot rates (the queueing-theory reference)", choices=(BATCHED, SLOTS)),
    *spec_keys("fleet.chip", ChipSpec, preset=True),
    _k("fleet.network.enabled", "bool", True,
       "model the car's link: round trips and transfer times add to TTFT and latency, outages preempt jobs"),
    _k("fleet.network.home.preset", "str", "home_wifi", "link of a car parked at home or its depot "
       "(sources in fleet/network.py)", choices=tuple(sorted(LINK_PRESETS))),
    *spec_keys("fleet.network.home", LinkSpec, preset=True),
    _k("fleet.network.away.preset", "str", "cellular", "link of a car parked away from home (sources in "
       "fleet/network.py)", choices=tuple(sorted(LINK_PRESETS))),
    *spec_keys("fleet.network.away", LinkSpec, preset=True),
    _k("fleet.model.preset", "str", "llama-3.1-8b-q4", "the model the chips serve (sources in fleet/llm.py)",
       choices=tuple(MODEL_PRESETS)),
    *spec_keys("fleet.model", ModelSpec, preset=True),
    *spec_keys("fleet.battery", BatterySpec),
    _k("fleet.charger.preset", "str", "l2_home",
       "home charger: l2_home (Tesla Wall Connector 11.5 kW, ~90 %) or l1 (1.4 kW, 80-85 %), facts.md §2; "
       "any grid.chargers preset", choices=tuple(sorted(CHARGER_PRESETS))),
    *spec_keys("fleet.charger", ChargerSpec, preset=True),
    _k("fleet.workplace_charging_share", "float", 0.0,
       "share of commuters who can plug in at work (workplace_l2, 7.2 kW); ASSUMPTION: sweep it", **SHARE),
    *spec_keys("fleet.vehicle", VehicleSpec),
    *spec_keys("fleet.itinerary", MobilityParams),
    _k("fleet.robotaxi.vehicles", "int", 0,
       "robotaxis (Cybercab-like) simulated after the personal cars; 0 = none", lo=0, hi=100_000_000),
    *spec_keys("fleet.robotaxi", RobotaxiParams),
    _k("fleet.robotaxi.capacity_wh", "float", 48_000.0,
       "robotaxi pack, Wh; Cybercab < 50 kWh (facts.md §2)", **PACK_WH, hi=1e6),
    _k("fleet.robotaxi.driving_wh_per_km", "float", 102.5,
       "robotaxi consumption at the battery, Wh/km; ~165 Wh/mi derived from < 50 kWh and ~300 mi (facts.md §2)",
       lo=0.0, lo_open=True, hi=1e4),
    _k("fleet.robotaxi.plug_below_soc", "float", 0.4,
       "a robotaxi back at its depot plugs in only below this SoC, and unplugged it serves inference only "
       "above it; ASSUMPTION", lo=0.0, hi=1.0),
    _k("fleet.robotaxi.ready_soc", "float", 0.6,
       "a robotaxi charging or in line for a stall declines rides below this SoC (counted); ASSUMPTION",
       lo=0.0, hi=1.0),
    _k("fleet.robotaxi.depot.stalls", "int", 20, "charging stalls at the depot; ASSUMPTION", lo=1, hi=100_000),
    _k("fleet.robotaxi.depot.cap_w", "float", 1_500_000.0,
       "depot grid connection cap shared by its stalls, W; ASSUMPTION (10 stalls' worth of 150 kW)",
       lo=0.0, lo_open=True, hi=1e10),
    _k("fleet.robotaxi.depot.charger", "str", "depot_dc", "depot stall charger (a grid.chargers preset)",
       choices=tuple(sorted(CHARGER_PRESETS))),
    _k("fleet.robotaxi.depot.sharing", "str", "fair",
       "how plugged cars share the cap: 'fair' (equal, water-filling) or 'priority' (lowest SoC first)",
       choices=("fair", "priority")),
    _k("fleet.robotaxi.depot.when_full", "str", "wait",
       "a car finding every stall taken 'wait's in line or 'leave's (parks unplugged)", choices=("wait", "leave")),
    _k("fleet.robotaxi.depot.strategy", "str", "immediate",
       "the depot's charging strategy: immediate, off_peak, carbon_aware or solar_following (its PV's "
       "sunniest hours)", choices=("immediate", "off_peak", "carbon_aware", "solar_following")),
    _k("fleet.robotaxi.depot.tariff", "tariff", "pge_b10",
       "the depot's tariff for its demand charges on the site's peak (a built-in name or a TOML/JSON file)"),
    _k("fleet.robotaxi.depot.solar_kw_dc", "float", 0.0, "depot PV array, kW DC (0 = none; needs weather_epw)",
       lo=0.0, hi=1e7),
    _k("fleet.robotaxi.depot.weather_epw", "epw", "",
       "typical-year weather (EPW) for the depot's PV, e.g. ../shared/data/weather-epw/USA_CA_San.Jose-Mineta.epw"),
    # ------------------------------------------------------------------ workload
    _k("workload.trace", "str", "",
       "Azure-format trace (TIMESTAMP,ContextTokens,GeneratedTokens) to replay; empty = synthetic"),
    _k("workload.trace_loop", "bool", False, "repeat the trace back to back to fill the run"),
    _k("workload.trace_time_scale", "float", 1.0, "stretch (>1) or compress (<1) trace time", lo=1e-6),
    _k("workload.trace_start_offset_s", "float", 0.0, "simulation time of the trace's first request, s"),
    _k("workload.service", "str", "tokens",
       "service time: 'tokens' (prefill + decode at the chip's rates) or 'exponential'",
       choices=("tokens", "exponential")),
    _k("workload.mean_service_s", "float", 6.4,
       "mean of the exponential service option, s (6.4 s = an average Azure conv request on hw4)",
       **LIMIT_S, hi=1e7),
    _k("workload.interactive.rate_per_s", "float", 0.5,
       "mean interactive arrival rate, requests/s (daily mean of the diurnal profile)", lo=0.0, hi=1e7),
    _k("workload.interactive.diurnal", "str", "default",
       "diurnal rate profile: 'default' (ASSUMPTION: trough 04 h, evening peak) or 'flat'",
       choices=("default", "flat")),
    _k("workload.interactive.slo_s", "float", DEFAULT_INTERACTIVE_SLO_S,
       "interactive latency objective, s; ASSUMPTION", **LIMIT_S),
    _k("workload.interactive.slo_s_per_output_token", "float", 0.0,
       "added to the SLO per output token, s (e.g. a time-per-output-token target); 0 = one SLO for all",
       lo=0.0, hi=60.0),
    _k("workload.interactive.max_wait_s", "float", DEFAULT_INTERACTIVE_MAX_WAIT_S,
       "interactive jobs still queued this long after arrival are dropped or overflow, s; ASSUMPTION", **LIMIT_S),
    *spec_keys("workload.batch", BatchParams),
    _k("workload.batch.max_wait_s", "float", None,
       "batch units still queued this long after arrival are dropped or overflow, s (default: the deadline)",
       **LIMIT_S),
    # ------------------------------------------------------------------ dispatch
    _k("dispatch.policy", "policy", "least_loaded",
       "dispatch policy: a registered name (fleetsim policies) or module:Class"),
    _k("dispatch.params", "table", {}, "parameters passed to the policy's constructor"),
    _k("dispatch.queueing", "str", "central",
       "'central': jobs wait at the dispatcher and start only on a free slot; 'vehicle': each job is sent "
       "to an online car on arrival and waits in that car's queue",
       choices=("central", "vehicle")),
    _k("dispatch.queue_order", "str", "fifo",
       "order within a class (interactive always before batch): 'fifo' or 'edf' (earliest deadline first)",
       choices=("fifo", "edf")),
    _k("dispatch.departure_knowledge", "str", "exact",
       "what the dispatcher knows of departures: 'exact' (the owner's scheduled departure), 'predicted' "
       "(exact + Gaussian error) or 'none'", choices=("exact", "predicted", "none")),
    _k("dispatch.departure_error_s", "float", 1800.0,
       "standard deviation of predicted departures, s; ASSUMPTION: sweep it", lo=0.0, hi=1e6),
    _k("dispatch.on_max_wait", "str", "drop",
       "a job still queued at its class's max wait is dropped ('drop') or served by the data center "
       "('overflow')", choices=("drop", "overflow")),
    *spec_keys("dispatch.datacenter", DataCenterSpec),
    # ------------------------------------------------------------------ grid
    _k("grid.carbon", "str", "caiso_2022",
       "carbon intensity: a built-in hourly profile (caiso_2022, ercot_2022) or an EIA-930 CSV path"),
    _k("grid.tariff", "tariff", "pge_ev2a", "electricity tariff (time of use): pge_ev2a"),
    *spec_keys("grid.datacenter", DataCenterBaseline),
    _k("grid.charging.strategy", "str", "immediate",
       "when plugged cars charge: 'immediate' (from plug-in to the limit), 'off_peak' (the cheapest hours "
       "before departure) or 'carbon_aware' (the cleanest hours before departure); a plan that cannot "
       "deliver the next tour's energy falls back to immediate and is counted",
       choices=("immediate", "off_peak", "carbon_aware")),
    _k("grid.carbon_price_usd_per_tonne", "float", 0.0,
       "carbon price added to every kWh's cost, $/t CO2 (0 = none; California-Quebec cap-and-trade "
       "auctions settled at $41.76/t in Feb 2024 and $29.27/t in Feb 2025, CARB results via enerknol.com)",
       lo=0.0, hi=10_000.0),
    # ------------------------------------------------------------------ report
    _k("report.figures", "bool", True, "draw the PNG figures and the report page"),
    _k("report.dpi", "int", 110, "figure resolution, dots per inch", lo=30, hi=600),
)

KEYS_BY_PATH: dict[str, Key] = {k.path: k for k in KEYS}
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
        elif d is None:
            shown = "from the preset"
        elif isinstance(d, bool):
            shown = str(d).lower()
        elif isinstance(d, str):
            shown = f'"{d}"'
        elif isinstance(d, dict):
            shown = "{}"
        else:
            shown = f"{d:g}" if isinstance(d, float) else str(d)
        lines.append(f"| `{k.path}` | {shown} | {k.allowed()} | {k.doc} |")
    return "\n".join(lines).strip() + "\n"
