"""Composition root: build a simulation from a scenario, run it, collect its results.

``run(scenario)`` is the whole story: clock, random streams, grid signals, vehicles, workload,
dispatcher and the sampler are wired here and nowhere else.
"""
from __future__ import annotations

import dataclasses
import gc
import importlib.util
import random
import time
from dataclasses import dataclass, field
from datetime import timedelta, timezone

import numpy as np

from fleet import channels as ch
from fleet.batching import BatchServer
from fleet.battery import BatterySpec
from fleet.chip import BATCHED, CHIP_PRESETS, ChipSpec
from fleet.datacenter import DataCenterPool, DataCenterSpec
from fleet.dispatcher import Dispatcher
from fleet.fleetview import FleetView, FreeSlotIndex
from fleet.joblog import JobLog
from fleet.jobs import BATCH_CLASS, CLASS_NAMES, INTERACTIVE_CLASS, Job
from fleet.llm import MODEL_PRESETS, ModelSpec
from fleet.mobility import DayPlan, MobilityModel, MobilityParams
from fleet.network import LINK_PRESETS, LinkSpec
from fleet.planner import DayPlanner, PlanLists
from fleet.policies import policy_class
from fleet.residency import StorageSpec, stored_models
from fleet.robotaxi import RobotaxiFleet, RobotaxiModel
from fleet.serving import fit_error, slot_chip
from fleet.vehicle import Vehicle, VehicleSpec
from fleet.workload import BatchParams, InteractiveParams, SyntheticWorkload, TraceWorkload, load_azure_trace
from grid.chargers import CHARGER_PRESETS
from grid.demand import DemandCalendar, DemandMeter
from grid.meter import GridMeter, PriceCarbonTable
from grid.signals import StepSignal
from grid.sites import DepotSpec
from sim.builders import build_depot, carbon_signal, resolve_tariff, robotaxi_params, robotaxi_spec
from sim.cohorts import Cohort, cohort_weights, fleet_cohorts
from sim.core.clock import DAY_S, Clock
from sim.core.engine import Environment
from sim.core.errors import FleetsimInputError, ScenarioError
from sim.core.recorder import Recorder
from sim.core.rng import RandomStreams
from sim.results import Results, assemble_results
from sim.scenario import PERSONAL, ROBOTAXI, Scenario, build_from_preset, build_spec
from sim.settings import (
    BatchLimits,
    ChargingSpec,
    ClassModel,
    DispatchSpec,
    FleetSpec,
    GridSpec,
    NetworkSpec,
    ReportSpec,
    RunSpec,
    ServingSpec,
    WorkloadSpec,
    class_rate_per_s,
)

ARRIVAL_CHUNK_S = 3600.0  # arrivals are drawn one hour at a time


@dataclass
class FleetContext:
    """What every vehicle shares: the environment, recorder, dispatcher, planner and draws."""

    env: Environment
    rec: Recorder
    dispatcher: Dispatcher
    planner: object
    rng: random.Random
    away_connectivity: float
    #: draws of predicted-departure errors (None unless dispatch.departure_knowledge = "predicted")
    departure_rng: random.Random | None = None
    departure_error_s: float = 0.0
    #: carbon (g/Wh) and cost ($/Wh) of the energy in the batteries at the start
    battery_content0: tuple[float, float] = (0.0, 0.0)
    #: the signal a smart-charging strategy minimises, as (breakpoints s, values); None = immediate
    charging_signal: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    horizon_s: float = float("inf")
    #: the recorder's folded level per (busy slot's active W, charger efficiency) of cars at their
    #: charge limit, and the grid W of one busy slot per such level (see ``Vehicle._metered_level``)
    metered_levels: dict = field(default_factory=dict)
    metered_grid_w: dict = field(default_factory=dict)
    #: the cars' links at home and away (fleet.network), and the draws of their outages; None: no network
    links: tuple | None = None
    network_rng: random.Random | None = None


class _NoTrips:
    """A planner for ``fleet.mobility = false``: every car stays parked at home."""

    def __init__(self, n: int) -> None:
        empty = np.array([], dtype=float)
        self._plan = PlanLists(DayPlan(np.zeros(n + 1, dtype=np.int64), empty, empty, empty,
                                       np.array([], dtype=np.int8)))

    def day(self, d: int):
        return self._plan

    def has_day(self, d: int) -> bool:
        return d == 0

    def next_tour(self, vid: int, d: int) -> tuple[float, float, float]:
        return float("inf"), 0.0, float("inf")


def charging_signal(strategy: str, price: StepSignal, carbon: StepSignal):
    """What a charging strategy minimises, as (breakpoints s, values); None for ``immediate``."""
    if strategy == "off_peak":
        return price.times_s, price.values
    if strategy == "carbon_aware":
        return carbon.times_s, carbon.values
    return None


def build_signals(grid: GridSpec, clock: Clock, horizon_s: float) -> tuple[StepSignal, StepSignal]:
    """Price ($/kWh) and carbon (gCO2/kWh) signals over ``[0, horizon_s]``."""
    price = resolve_tariff("grid.tariff", grid.tariff).price_signal(clock, 0.0, horizon_s)
    return price, carbon_signal(grid.carbon, clock, horizon_s)


def build_links(sc: Scenario) -> tuple[LinkSpec, LinkSpec]:
    """The cars' links at home and away from home, presets with any per-key overrides."""
    return tuple(build_from_preset(LINK_PRESETS[sc[f"fleet.network.{where}.preset"]], sc, f"fleet.network.{where}")
                 for where in ("home", "away"))


def build_model(sc: Scenario) -> ModelSpec:
    """The served model's preset with any per-key overrides."""
    return build_from_preset(MODEL_PRESETS[sc["fleet.model.preset"]], sc, "fleet.model")


def build_class_models(sc: Scenario, chip: ChipSpec) -> dict[int, ModelSpec]:
    """The model each job class needs where it is not the fleet's (``workload.<class>.model``),
    by class code; checked against the serving mode and the chip's memory."""
    out: dict[int, ModelSpec] = {}
    for code, name in enumerate(CLASS_NAMES):
        key = f"workload.{name}.model"
        preset = build_spec(ClassModel, sc, f"workload.{name}").model
        if preset in ("", sc["fleet.model.preset"]):
            continue
        if build_spec(ServingSpec, sc, "fleet.chip").serving != BATCHED:
            raise ScenarioError(f"{key} = {preset!r}: allowed: '' or fleet.model.preset "
                                f"({sc['fleet.model.preset']!r}) with fleet.chip.serving = 'slots' (fixed slots serve "
                                "one model); set fleet.chip.serving = 'batched' to serve several")
        model = MODEL_PRESETS[preset]
        err = fit_error(chip, model)
        if err is not None:
            raise ScenarioError(f"{key} = {preset!r} does not fit fleet.chip.preset = {sc['fleet.chip.preset']!r}: "
                                f"{err}; allowed: a smaller model or more memory")
        out[code] = model
    return out


def build_chip(sc: Scenario) -> ChipSpec:
    """The chip preset with any per-key overrides, checked against the model it serves.

    Slots mode: slot figures the preset lacks come from the roofline (:func:`fleet.serving.slot_chip`).
    Batched mode: the batch limit is ``max_batch`` and the slot rates (policies' estimates) always
    come from the roofline.
    """
    chip = build_from_preset(CHIP_PRESETS[sc["fleet.chip.preset"]], sc, "fleet.chip")
    if chip.active_w < chip.idle_w:
        raise ScenarioError(f"fleet.chip.active_w = {chip.active_w!r}: allowed: >= fleet.chip.idle_w ({chip.idle_w!r})")
    model = build_model(sc)
    err = fit_error(chip, model)
    if err is not None:
        raise ScenarioError(f"fleet.model.preset = {sc['fleet.model.preset']!r} does not fit fleet.chip.preset = "
                            f"{sc['fleet.chip.preset']!r}: {err}; allowed: a smaller model, a shorter "
                            "fleet.model.context_tokens or more memory")
    if build_spec(ServingSpec, sc, "fleet.chip").serving == BATCHED:
        if sc["workload.service"] == "exponential":
            raise ScenarioError("workload.service = 'exponential': allowed: 'tokens' with fleet.chip.serving = "
                                "'batched' (the batch sets each job's service)")
        derived = slot_chip(dataclasses.replace(chip, slots=None, prefill_tokens_per_s=None,
                                                decode_tokens_per_s=None), model)
        return dataclasses.replace(derived, slots=chip.max_batch)
    return slot_chip(chip, model)


def build_vehicle_spec(sc: Scenario) -> VehicleSpec:
    """Vehicle, battery and charger parameters from the scenario."""
    charger = build_from_preset(CHARGER_PRESETS[sc["fleet.charger.preset"]], sc, "fleet.charger")
    return build_spec(VehicleSpec, sc, "fleet.vehicle", battery=build_spec(BatterySpec, sc, "fleet.battery"),
                      chip=build_chip(sc), home_charger=charger)


def build_workload(source: WorkloadSpec, interactive: InteractiveParams, batch: BatchParams, run_span_s: float,
                   clock: Clock, rng: np.random.Generator):
    """The synthetic workload or the trace replay ``source`` asks for (a class of rate 0 is left
    out), and the mean of the exponential service times drawn for a trace's jobs (None otherwise)."""
    exp_mean = source.mean_service_s if source.service == "exponential" else None
    if source.trace:
        trace = load_azure_trace(source.trace)
        wl = TraceWorkload(
            trace,
            start_offset_s=source.trace_start_offset_s,
            time_scale=source.trace_time_scale,
            loop=source.trace_loop,
            run_span_s=run_span_s,
            slo_s=interactive.slo_s,
            max_wait_s=interactive.max_wait_s,
        )
        return wl, exp_mean
    wl = SyntheticWorkload(interactive if interactive.rate_per_s > 0 else None,
                           batch if batch.rate_per_s > 0 else None, clock, rng, exponential_service_mean_s=exp_mean)
    return wl, None


def initial_battery_content(table: PriceCarbonTable, span_s: float, efficiency: float) -> tuple[float, float]:
    """Carbon (g/Wh) and cost ($/Wh) of the energy in the batteries at the start.

    The charge a car starts with was bought before the run, through a charger of ``efficiency``:
    it is valued at the grid's mean carbon intensity and price over the first ``span_s`` seconds
    (the first day), grossed up by the charging losses as energy charged during the run is.
    """
    p0, c0 = table.cumulatives(0.0)
    p1, c1 = table.cumulatives(span_s)
    return (c1 - c0) / span_s / 1000.0 / efficiency, (p1 - p0) / span_s / 1000.0 / efficiency


class Simulation:
    """One run of one scenario (``bill_homes``: False leaves the homes' demand meters out, for a
    warm-up whose only product is the cars' state of charge)."""

    def __init__(self, scenario: Scenario, bill_homes: bool = True) -> None:
        sc = self.scenario = scenario
        self._bill_homes = bill_homes
        self.run_spec = run = build_spec(RunSpec, sc, "run")
        self.clock = Clock(sc.start_datetime())
        self.horizon_s = run.days * DAY_S
        streams = RandomStreams(run.seed)
        self.env = Environment()
        self.price, self.carbon = build_signals(build_spec(GridSpec, sc, "grid"), self.clock, self.horizon_s)
        self.spec = build_vehicle_spec(sc)
        if build_spec(ReportSpec, sc, "report").tables == "parquet" and importlib.util.find_spec("pyarrow") is None:
            raise ScenarioError("report.tables = 'parquet': needs pyarrow, not installed; allowed: 'csv' or 'csv.gz', "
                                "or pip install 'fleetsim[parquet]'")
        self.rec = Recorder(ch.LEVELS, ch.COUNTERS)
        self.index = FreeSlotIndex()
        self.log = JobLog()
        self.table = PriceCarbonTable(self.price, self.carbon)
        dispatch = build_spec(DispatchSpec, sc, "dispatch")
        #: the models the jobs need: the fleet's first (jobs-table code 0), then the classes' own
        self.class_models = build_class_models(sc, self.spec.chip)
        self.models = (build_model(sc),) + tuple(dict.fromkeys(self.class_models.values()))
        datacenter = None
        if dispatch.on_max_wait == "overflow":
            spec = build_spec(DataCenterSpec, sc, "dispatch.datacenter")
            datacenter = DataCenterPool(self.env, spec, self.log, self.table, self.models[1:])
        self.datacenter = datacenter
        self.dispatcher = Dispatcher(self.env, self.rec, self.index, self.log, queue_order=dispatch.queue_order,
                                     queueing=dispatch.queueing, datacenter=datacenter)
        view = FleetView(self.index, self.env, self.price, self.carbon,
                         departure_knowledge=dispatch.departure_knowledge,
                         local_queues=dispatch.queueing == "vehicle", models=self.models)
        policy_rng = random.Random(int(streams.get("policy").integers(2**63)))
        cls = policy_class(dispatch.policy)
        try:
            policy = cls(view, policy_rng, **dispatch.params)
        except ScenarioError:
            raise
        except Exception as exc:
            raise ScenarioError(f"dispatch.policy: building '{dispatch.policy}' with dispatch.params "
                                f"{dispatch.params!r} failed ({type(exc).__name__}: {exc})") from None
        self.dispatcher.set_policy(policy)
        if build_spec(NetworkSpec, sc, "fleet.network").enabled:
            self.dispatcher.links = build_links(sc)
            self.dispatcher.network_rng = random.Random(int(streams.get("network_rtt").integers(2**63)))
        storage = build_spec(StorageSpec, sc, "fleet.storage")
        self.dispatcher.storage = storage
        self.dispatcher.stored = stored_models(storage, self.models)
        self.dispatcher.load_links = build_links(sc)
        try:
            interactive = dataclasses.replace(build_spec(InteractiveParams, sc, "workload.interactive"),
                                              rate_per_s=class_rate_per_s(sc, "interactive"))
            batch = dataclasses.replace(build_spec(BatchParams, sc, "workload.batch"),
                                        rate_per_s=class_rate_per_s(sc, "batch"))
            batch_max_wait_s = build_spec(BatchLimits, sc, "workload.batch").max_wait_s or batch.deadline_s
            self.workload, self._exp_mean_for_trace = build_workload(
                build_spec(WorkloadSpec, sc, "workload"), interactive, batch, self.horizon_s, self.clock,
                streams.get("workload"))
        except FleetsimInputError:
            raise
        except ValueError as exc:  # a parameter combination the workload rejects
            raise ScenarioError(f"workload: {exc}") from None
        self._trace_service_rng = streams.get("trace_service")
        self._build_fleet(streams, dispatch)
        per_token = {INTERACTIVE_CLASS: interactive.slo_s_per_output_token}
        max_wait = {INTERACTIVE_CLASS: interactive.max_wait_s,
                    BATCH_CLASS: batch_max_wait_s}
        self._limits = {c: (lim.slo_s, per_token.get(c, 0.0), max_wait[c])
                        for c, lim in self.workload.class_limits.items()}
        # the model and its jobs-table code of each class needing its own (None: every class the fleet's)
        self._class_model = ({c: (m, self.models.index(m)) for c, m in self.class_models.items()}
                             if self.class_models else None)
        self._next_job_id = 0
        self.series: list[tuple] = []
        self._bar = None  # progress bar over simulated days (execute(progress=True))
        self.site_series: list[tuple] = []  # (t0, t1, draw W*s, plugged car*s, waiting car*s) at the depot

    def filled_hours(self) -> dict[str, float]:
        """Hours of the run where the carbon and price signals carry a value over missing rows of
        their data files (the fill rule: :func:`grid.signals.filled_seconds`)."""
        return {"carbon": self.carbon.filled_s / 3600.0, "price": self.price.filled_s / 3600.0}

    def _warmed_soc(self, fleet: FleetSpec, n_taxi: int) -> np.ndarray | None:
        """Each car's state of charge at the start after ``run.warmup_days`` of the same fleet's
        driving and charging (no jobs: the warm-up's only product), or None when there is no
        warm-up (none asked for, or a fleet without trips).

        The warm-up covers the days before the start; where the allowed years or the grid's data
        files do not reach back that far, the same span from the start (a pre-run of the run's own
        first days), ending at the start's local hour either way."""
        days = self.run_spec.warmup_days
        if days <= 0.0 or not (fleet.mobility or n_taxi):
            return None
        if days * DAY_S < 1.0:
            raise ScenarioError(f"run.warmup_days = {days!r}: allowed: 0 or at least one simulated second "
                                f"({1 / DAY_S:.3g} days)")
        sc = self.scenario
        start = sc.start_datetime()
        errors = []
        # ``days`` of elapsed time before the start (across a clock change too), then from the start
        for first in ((start.astimezone(timezone.utc) - timedelta(days=days)).astimezone(start.tzinfo), start):
            try:
                warm = Simulation(sc.with_overrides({
                    "run.start": first, "run.days": days, "run.warmup_days": 0.0,
                    "run.sample_interval_s": max(1.0, days * DAY_S), "workload.trace": "",
                    "workload.interactive.rate_per_s": 0.0, "workload.batch.rate_per_s": 0.0,
                    "report.figures": False}), bill_homes=False)
            except ScenarioError as exc:
                errors.append(str(exc))
                continue
            warm.execute()
            return np.array([v.energy_wh / v.spec.battery.capacity_wh for v in warm.vehicles])
        raise ScenarioError(f"run.warmup_days = {days!r}: the warm-up cannot run ({errors[-1]}); allowed: a shorter "
                            "warm-up or 0")

    def _cohort_specs(self, cohorts: tuple[Cohort, ...]) -> list[VehicleSpec]:
        """Each cohort's vehicle spec (robotaxis: the depot's charger and their own pack), its chip
        checked against its model and the job classes' models."""
        mixed = bool(self.scenario["fleet.cohorts"])
        specs = []
        for c in cohorts:
            try:
                spec = build_vehicle_spec(c.scenario) if mixed else self.spec
                if mixed and self.class_models:
                    build_class_models(c.scenario, spec.chip)
                if c.profile == ROBOTAXI:
                    depot = build_spec(DepotSpec, self.scenario, "fleet.robotaxi.depot")
                    spec = robotaxi_spec(build_spec(RobotaxiFleet, c.scenario, "fleet.robotaxi"), depot, spec)
            except ScenarioError as exc:
                raise ScenarioError(f"[[fleet.cohorts]] {c.name!r}: {exc}") from None
            specs.append(spec)
        return specs

    def _build_fleet(self, streams: RandomStreams, dispatch: DispatchSpec) -> None:
        sc = self.scenario
        self.cohorts = cohorts = fleet_cohorts(sc)
        specs = self._cohort_specs(cohorts)
        fleets = [build_spec(FleetSpec, c.scenario, "fleet") for c in cohorts]
        personal = [i for i, c in enumerate(cohorts) if c.profile == PERSONAL]
        taxi = [i for i, c in enumerate(cohorts) if c.profile == ROBOTAXI]
        counts = np.array([c.vehicles for c in cohorts], dtype=np.int64)
        n = int(counts[personal].sum())
        n_taxi = int(counts[taxi].sum())
        #: each car's cohort (an index into ``self.cohorts``)
        self.cohort_of = np.repeat(np.arange(len(cohorts)), counts)

        def per_car(values: list[float], group: list[int]) -> np.ndarray:
            return np.repeat(np.asarray([values[i] for i in group], dtype=float), counts[group])

        draw = streams.get("fleet")
        opted_in = draw.random(n) < per_car([f.opt_in_share for f in fleets], personal)
        home_charger = draw.random(n) < per_car([f.home_charger_share for f in fleets], personal)
        lo, hi = per_car([f.initial_soc_min for f in fleets], personal), per_car([f.initial_soc_max for f in fleets],
                                                                                  personal)
        soc0 = lo + (hi - lo) * draw.random(n)
        weights = cohort_weights(sc, cohorts)  # before the warm-up: a cohort it cannot weigh is this run's error
        warm = self._warmed_soc(fleets[0], n_taxi)
        groups, commuter = self._itinerary_groups(cohorts, personal, streams)
        workplace = commuter & (streams.get("workplace").random(n)
                                < per_car([f.workplace_charging_share for f in fleets], personal))
        self.site = None
        if n_taxi:  # robotaxis: ids n.., all opted in (ASSUMPTION: the operator enrols its fleet), depot-based
            depot = build_spec(DepotSpec, sc, "fleet.robotaxi.depot")
            floor = max(taxi, key=lambda i: (specs[i].awake_overhead_w + specs[i].chip.active_w))
            self.site = build_depot(depot, self.clock, self.horizon_s, self.price, self.carbon, specs[floor])
            lo, hi = per_car([f.initial_soc_min for f in fleets], taxi), per_car([f.initial_soc_max for f in fleets],
                                                                                 taxi)
            soc0 = np.concatenate([soc0, lo + (hi - lo) * streams.get("robotaxi_fleet").random(n_taxi)])
            opted_in = np.concatenate([opted_in, np.ones(n_taxi, dtype=bool)])
            home_charger = np.concatenate([home_charger, np.ones(n_taxi, dtype=bool)])
            commuter = np.concatenate([commuter, np.zeros(n_taxi, dtype=bool)])
            workplace = np.concatenate([workplace, np.zeros(n_taxi, dtype=bool)])
            for i in taxi:
                stream = "robotaxi" if i == taxi[0] else f"robotaxi:{cohorts[i].name}"
                groups.append((RobotaxiModel(robotaxi_params(cohorts[i].scenario), streams.get(stream)),
                               int(counts[i])))
        if warm is not None:
            soc0 = warm
        self.commuter = commuter
        if not fleets[0].mobility:
            planner = _NoTrips(n + n_taxi)
        elif len(groups) == 1:
            planner = DayPlanner(groups[0][0], self.clock, commuter, self.horizon_s)
        else:
            planner = DayPlanner.from_groups(groups, self.clock, self.horizon_s)
        ctx = FleetContext(
            env=self.env,
            rec=self.rec,
            dispatcher=self.dispatcher,
            planner=planner,
            rng=random.Random(int(streams.get("parking").integers(2**63))),
            away_connectivity=fleets[0].away_connectivity,
            departure_rng=(random.Random(int(streams.get("departure_prediction").integers(2**63)))
                           if dispatch.departure_knowledge == "predicted" else None),
            departure_error_s=dispatch.departure_error_s,
            battery_content0=initial_battery_content(self.table, min(self.horizon_s, DAY_S),
                                                     self.spec.home_charger.efficiency),
            charging_signal=charging_signal(build_spec(ChargingSpec, sc, "grid.charging").strategy, self.price,
                                            self.carbon),
            horizon_s=self.horizon_s,
            links=self.dispatcher.links,
            network_rng=(random.Random(int(streams.get("network_outages").integers(2**63)))
                         if self.dispatcher.links is not None else None),
        )
        contexts = [ctx]
        #: each cohort's recorder (more than one cohort), whose intervals the sampler adds to the fleet's
        self.cohort_recs: list[Recorder] = []
        if len(cohorts) > 1:
            self.cohort_recs = [Recorder(ch.LEVELS, ch.COUNTERS) for _ in cohorts]
            contexts = [dataclasses.replace(
                ctx, rec=rec, metered_levels={}, metered_grid_w={}, away_connectivity=f.away_connectivity,
                battery_content0=initial_battery_content(self.table, min(self.horizon_s, DAY_S),
                                                         spec.home_charger.efficiency))
                for rec, f, spec in zip(self.cohort_recs, fleets, specs)]
        self.cohort_series: list[list[tuple]] = [[] for _ in self.cohort_recs]
        self.ctx = ctx
        table = self.table
        self.opted_in = opted_in
        self.home_charger = home_charger
        self.vehicles = []
        #: each car's battery energy at the start (Wh), kept here rather than on the cars (memory)
        self.initial_energy_wh = np.empty(n + n_taxi)
        for i in range(n + n_taxi):
            k = self.cohort_of[i]
            spec = specs[k]
            self.initial_energy_wh[i] = energy_wh = float(soc0[i] * spec.battery.capacity_wh)
            v = Vehicle(i, contexts[k] if len(contexts) > 1 else ctx, spec, energy_wh, bool(opted_in[i]),
                        bool(home_charger[i]), GridMeter(self.price, self.carbon, 0.0, table), weights[k])
            v.has_workplace_charger = bool(workplace[i])
            if i >= n:
                v.site = self.site
            self.vehicles.append(v)
        self._meter_home_demand(n)
        if build_spec(ServingSpec, sc, "fleet.chip").serving == BATCHED:
            model = build_model(sc)
            for v in self.vehicles:
                if v.opted_in:
                    v.server = BatchServer(self.env, v.spec.chip, model, model.context_tokens,
                                           self.dispatcher.complete, v.chip_power_changed)
                    v.cap = 1 if v.server.has_room() else 0  # busy + 1 while the chip takes another job

    def _meter_home_demand(self, n_personal: int) -> None:
        """Give every personal car with a home charger its home's demand meter when the household
        tariff (``grid.tariff``) has demand charges (each home its own site); robotaxis are billed
        at their depot."""
        tariff = resolve_tariff("grid.tariff", self.scenario["grid.tariff"])
        #: the household tariff's demand intervals (None: the tariff has no demand charges, or no bills asked)
        self.home_demand = (DemandCalendar(tariff, self.clock, self.horizon_s)
                            if tariff.demand_charges and self._bill_homes else None)
        if self.home_demand is None:
            return
        for v in self.vehicles[:n_personal]:
            if v.has_home_charger:
                v.home_demand = DemandMeter(self.home_demand)

    def _itinerary_groups(self, cohorts: tuple[Cohort, ...], personal: list[int],
                          streams: RandomStreams) -> tuple[list[tuple], np.ndarray]:
        """The itinerary model of each run of personal cohorts with the same itinerary keys (the
        first on stream ``mobility``, each other on its own), and every personal car's commuter flag."""
        groups: list[tuple] = []
        last = None
        for i in personal:
            params = build_spec(MobilityParams, cohorts[i].scenario, "fleet.itinerary")
            n = cohorts[i].vehicles
            if groups and params == last:
                model, flags = groups[-1]
                groups[-1] = (model, np.concatenate([flags, model.draw_commuters(n)]))
                continue
            stream = "mobility" if not groups else f"mobility:{cohorts[i].name}"
            model = MobilityModel(params, streams.get(stream))
            groups.append((model, model.draw_commuters(n)))
            last = params
        if not groups:  # a fleet of robotaxis only
            return [], np.zeros(0, dtype=bool)
        return groups, np.concatenate([flags for _, flags in groups])

    # ------------------------------------------------------------------ arrivals
    def _load_chunk(self, t0: float) -> None:
        t1 = min(t0 + ARRIVAL_CHUNK_S, self.horizon_s)
        batch = self.workload.arrivals(t0, t1)
        service = batch.service_s
        if service is None and self._exp_mean_for_trace is not None:
            service = self._trace_service_rng.exponential(self._exp_mean_for_trace, len(batch))
        self._chunk_end = t1
        self._arr = batch.arrival_s.tolist()
        self._prompt = batch.prompt_tokens.tolist()
        self._output = batch.output_tokens.tolist()
        self._cls = batch.job_class.tolist()
        self._service = service.tolist() if service is not None else None

    def _feed_next_chunk(self) -> None:
        """Load the next non-empty chunk of arrivals and feed its times to the environment."""
        while self._chunk_end < self.horizon_s:
            self._load_chunk(self._chunk_end)
            if self._arr:
                self.env.feed(self._arr, self._on_arrival)
                return
        self.env.feed([], None)

    def _on_arrival(self, i: int) -> None:
        """Arrival ``i`` of the current chunk (called by the environment at its time)."""
        c = self._cls[i]
        slo_s, slo_per_token_s, max_wait_s = self._limits[c]
        output = self._output[i]
        if slo_per_token_s:
            slo_s += slo_per_token_s * output
        job = Job(self._next_job_id, c, self._arr[i], self._prompt[i], output, slo_s, max_wait_s,
                  self._service[i] if self._service is not None else None)
        self._next_job_id += 1
        if self._class_model is not None and c in self._class_model:
            job.model, job.model_code = self._class_model[c]
        self.dispatcher.submit(job)
        if i + 1 == len(self._arr):
            self._feed_next_chunk()

    # ------------------------------------------------------------------ sampling
    def _sampler(self):
        interval = self.run_spec.sample_interval_s
        t = 0.0
        while t < self.horizon_s:
            nxt = t + interval
            if nxt > self.horizon_s - 1e-6 * interval:  # no sliver interval from rounding
                nxt = self.horizon_s
            yield self.env.timeout(nxt - t)
            self._sample(nxt)
            t = nxt

    def _sample(self, t_s: float) -> None:
        duration, integrals, counts = self.rec.close_interval(t_s)
        for k, rec in enumerate(self.cohort_recs):  # the cohorts' own intervals, added to the fleet's
            _, part, part_counts = rec.close_interval(t_s)
            self.cohort_series[k].append((t_s - duration, t_s, part, part_counts))
            self.rec.add_closed(part)
            integrals = [a + b for a, b in zip(integrals, part)]
            counts = [a + b for a, b in zip(counts, part_counts)]
        self.series.append((t_s - duration, t_s, integrals, counts, self.dispatcher.job_totals()))
        if self._bar is not None:
            self._bar.update(duration / DAY_S)
        if self.site is not None:
            self.site_series.append((t_s - duration, t_s) + self.site.sample(t_s))

    # ------------------------------------------------------------------ run
    def run(self, progress: bool = False) -> Results:
        """Run to the horizon and assemble the results (``progress``: a bar over simulated days)."""
        self.execute(progress)
        return self.results()

    def execute(self, progress: bool = False) -> None:
        """Run the simulation to the horizon and close every account (no results assembly).

        ``progress`` shows a tqdm bar over simulated days on stderr, advanced at each sample.
        """
        wall0 = time.perf_counter()
        env = self.env
        self._bar = None
        if progress:
            from tqdm import tqdm

            self._bar = tqdm(total=self.horizon_s / DAY_S, unit="day", desc="simulating", leave=False,
                             bar_format="{l_bar}{bar}| {n:.2f}/{total:.2f} days [{elapsed}<{remaining}]")
        for v in self.vehicles:
            env.process(v.run())
        self._chunk_end = 0.0
        self._arr = []
        self._feed_next_chunk()
        env.process(self._sampler())
        # The run allocates millions of short-lived, acyclic objects (jobs, events): freeze the
        # long-lived ones built so far and collect young generations less often.
        gc.collect()
        gc.freeze()
        thresholds = gc.get_threshold()
        gc.set_threshold(100_000, 50, 100)
        try:
            env.run_until(self.horizon_s)
            if not self.series or self.series[-1][1] < self.horizon_s:
                self._sample(self.horizon_s)  # run(until=...) stops before events at the horizon
        finally:
            gc.set_threshold(*thresholds)
            gc.unfreeze()
            if self._bar is not None:
                self._bar.close()
        self.dispatcher.close(self.vehicles, self.horizon_s)  # bills the runs still under way
        for v in self.vehicles:
            v.finish(self.horizon_s)
        self.wall_s = time.perf_counter() - wall0
        self.events = env.events_scheduled()  # events scheduled, and arrivals fed

    def results(self) -> Results:
        """The results of an executed simulation."""
        return assemble_results(self, self.wall_s, self.events)


def run(scenario: Scenario) -> Results:
    """Run ``scenario`` and return its results (nothing is written to disk)."""
    return Simulation(scenario).run()
