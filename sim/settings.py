"""Model-wide scenario settings that no fleet or grid class holds: the run, the fleet's size and
make-up, owner payouts, the workload's source, dispatch, the grid's signals and the report.

Every field is a scenario key (:func:`sim.core.params.param`, its doc naming the source or
ASSUMPTION): :mod:`sim.schema` lists the keys and :func:`sim.scenario.build_spec` builds each spec
from a scenario.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fleet.chip import BATCHED, SLOTS
from fleet.llm import MODEL_PRESETS
from sim.core.params import LIMIT_S, SHARE, param


@dataclass(frozen=True)
class RunSpec:
    """The run: its name, span, seed, start instant and sampling (keys ``run.*``)."""

    name: str = param("default", kind="name", doc="name of the scenario (used in the results folder name)")
    days: float = param(3.0, doc="simulated span (days)", lo=0.0, lo_open=True, hi=3660.0)
    seed: int = param(1, doc="root seed of every random stream", lo=0, hi=1e18)
    start: str = param("2022-06-06T00:00:00 America/Los_Angeles", kind="datetime",
                       doc="start instant, local time with its zone (a Monday)")
    sample_interval_s: float = param(900.0, doc="time-series sample interval (s)", lo=1.0, hi=31622400.0)
    replicates: int = param(1, doc="fleetsim run: runs of the scenario on different seeds (the first on run.seed); "
                            "more than 1 adds a 95 % confidence interval of the mean to every summary number "
                            "(summary ci95), the others running on --workers; sweeps and tunes replicate by their own "
                            "seeds and ignore it", lo=1, hi=1000)
    # One day brings a fleet drawn with uniform states of charge to its daily cycle: in the built-in
    # run the first six hours' peak grid power falls from 7.3x the later daily peaks to 0.52x, and a
    # second day moves the grid energy by 0.09 % (the runs of tests/model/test_steady_state.py).
    warmup_days: float = param(1.0, doc="days of the fleet's driving and charging (no jobs) simulated before the "
                               "start, whose end gives the cars' states of charge at the start (the steady daily "
                               "cycle instead of a start-up peak); not reported; 0 = start from the drawn states; "
                               "fleets without mobility or robotaxis start from the drawn states", lo=0.0, hi=60.0)


@dataclass(frozen=True)
class ServingSpec:
    """How the chips serve (key ``fleet.chip.serving``; the chip itself is ``fleet.chip``)."""

    serving: str = param(SLOTS, doc="'batched': continuous batching whose step times and power follow the roofline "
                         "of the chip and model; 'slots': fixed slots with fixed per-slot rates (the queueing-theory "
                         "reference)", choices=(BATCHED, SLOTS))


@dataclass(frozen=True)
class NetworkSpec:
    """Whether the cars' links are modelled (key ``fleet.network.enabled``; the links are
    ``fleet.network.home`` and ``fleet.network.away``)."""

    enabled: bool = param(True, doc="model the car's link: round trips and transfer times add to TTFT and latency, "
                          "outages preempt jobs")


@dataclass(frozen=True)
class FleetSpec:
    """The personal cars: how many, what they stand for, who serves, how they charge and start
    (the keys directly under ``fleet``)."""

    vehicles: int = param(1000, doc="simulated vehicles", lo=1, hi=100_000_000)
    weight: float = param(1.0, doc="real vehicles each simulated vehicle represents", lo=1.0, hi=1e9)
    represents: int = param(0, doc="real vehicles the simulated ones stand for, stratified by cohort: each cohort's "
                            "cars weigh its share of this over its simulated cars; every fleet total is weighted, "
                            "and the summary's represented section scales the jobs and tokens to it; 0 = the "
                            "simulated cars stand for themselves (times fleet.weight)", lo=0, hi=1e12)
    opt_in_share: float = param(0.5, doc="share of owners who opt in to serving; ASSUMPTION (no survey exists): "
                                "sweep it", **SHARE)
    home_charger_share: float = param(1.0, doc="share of cars with a home charger; ASSUMPTION (home charging for all)",
                                      **SHARE)
    away_connectivity: float = param(0.84, doc="chance a car parked away from home has a usable link; Ookla "
                                     "H1-2024: 81-87 % of US mobile samples reach 5/1 Mbps (facts.md §7). At home: "
                                     "Wi-Fi, always", **SHARE)
    initial_soc_min: float = param(0.5, doc="lowest initial SoC (uniform draw; the warm-up, run.warmup_days, "
                                   "starts from it); ASSUMPTION", **SHARE)
    initial_soc_max: float = param(0.9, doc="highest initial SoC (uniform draw; the warm-up starts from it); "
                                   "ASSUMPTION", **SHARE)
    mobility: bool = param(True, doc="follow itineraries; false keeps every car parked at home (for validation)")
    workplace_charging_share: float = param(0.0, doc="share of commuters who can plug in at work (workplace_l2, "
                                            "7.2 kW); ASSUMPTION: sweep it", **SHARE)


@dataclass(frozen=True)
class PayoutSpec:
    """How owners are paid (keys ``fleet.payout.*``)."""

    scheme: str = param("flat_monthly", doc="how owners are paid: 'per_kwh' of inference energy, 'per_token' served, "
                        "or 'flat_monthly' per opted-in car", choices=("per_kwh", "per_token", "flat_monthly"))
    usd_per_month: float = param(100.0, doc="flat payout per opted-in car and month, US $; Musk, 2025-11-06: \"$100 "
                                 "or $200 a month\" (facts.md §1)", lo=0.0, hi=1e6)
    usd_per_kwh: float = param(0.5, doc="payout per kWh of inference energy, US $; ASSUMPTION (about the peak EV2-A "
                               "price)", lo=0.0, hi=1e3)
    usd_per_million_tokens: float = param(0.1, doc="payout per million tokens served, US $; ASSUMPTION: sweep it",
                                          lo=0.0, hi=1e6)


@dataclass(frozen=True)
class WorkloadSpec:
    """Where jobs come from (a trace replay, or synthetic when ``trace`` is empty) and how their
    service times are drawn (the keys directly under ``workload``)."""

    trace: str = param("", doc="Azure-format trace (TIMESTAMP,ContextTokens,GeneratedTokens) to replay; empty = "
                       "synthetic")
    trace_loop: bool = param(False, doc="repeat the trace back to back to fill the run")
    trace_time_scale: float = param(1.0, doc="stretch (>1) or compress (<1) trace time", lo=1e-6)
    trace_start_offset_s: float = param(0.0, doc="simulation time of the trace's first request, s")
    service: str = param("tokens", doc="service time: 'tokens' (prefill + decode at the chip's rates) or "
                         "'exponential'", choices=("tokens", "exponential"))
    mean_service_s: float = param(6.4, doc="mean of the exponential service option, s (6.4 s = an average Azure conv "
                                  "request on hw4)", **LIMIT_S, hi=1e7)


@dataclass(frozen=True)
class BatchLimits:
    """The batch class's queue-wait limit (``workload.batch.max_wait_s``; the work units themselves
    are :class:`fleet.workload.BatchParams`)."""

    max_wait_s: float | None = param(None, doc="batch units still queued this long after arrival are dropped or "
                                     "overflow, s (default: the deadline)", **LIMIT_S)


#: the built-in demand of each job class, per 1,000 simulated vehicles (1/s); ASSUMPTION: no public
#: figure of LLM demand per car exists. 0.5 requests/s per 1,000 cars is 43 requests per car and day.
DEFAULT_RATE_PER_S_PER_1000_VEHICLES = 0.5


@dataclass(frozen=True)
class ClassDemand:
    """A job class's demand as a rate per 1,000 vehicles (``workload.<class>.rate_per_s_per_1000_vehicles``),
    the alternative to its absolute ``rate_per_s``: a fleet of any size sees the same load per car."""

    rate_per_s_per_1000_vehicles: float | None = param(
        None, doc="arrival rate per 1,000 simulated vehicles (personal and robotaxi), 1/s; when neither this nor "
        "rate_per_s is given: 0.5 (ASSUMPTION: 43 a car and day); giving both is refused", lo=0.0, hi=1e7)


def class_rate_per_s(sc, name: str) -> float:
    """The arrival rate (1/s) of job class ``name`` in scenario ``sc``: its absolute ``rate_per_s``,
    else its rate per 1,000 vehicles (the built-in one when neither is given) times the simulated
    vehicles (personal and robotaxi) / 1,000."""
    absolute = sc[f"workload.{name}.rate_per_s"]
    if absolute is not None:
        return float(absolute)
    per_1000 = sc[f"workload.{name}.rate_per_s_per_1000_vehicles"]
    if per_1000 is None:
        per_1000 = DEFAULT_RATE_PER_S_PER_1000_VEHICLES
    return per_1000 * (sc["fleet.vehicles"] + sc["fleet.robotaxi.vehicles"]) / 1000.0


@dataclass(frozen=True)
class ClassModel:
    """The model a job class needs (``workload.<class>.model``; batched serving)."""

    model: str = param("", doc="model preset the class's jobs need ('': the fleet's, fleet.model); a chip that "
                       "does not hold it loads it (fleet.storage); batched serving only",
                       choices=("",) + tuple(MODEL_PRESETS))


@dataclass(frozen=True)
class DispatchSpec:
    """The dispatcher: its policy, queueing, knowledge of departures and what happens at the max
    wait (keys ``dispatch.*`` outside ``dispatch.datacenter``)."""

    policy: str = param("least_loaded", kind="policy", doc="dispatch policy: a registered name (fleetsim policies) "
                        "or module:Class")
    params: dict[str, Any] = param(kind="table", doc="parameters passed to the policy's constructor",
                                   default_factory=dict)
    queueing: str = param("central", doc="'central': jobs wait at the dispatcher and start only on a free slot; "
                          "'vehicle': each job is sent to an online car on arrival and waits in that car's queue",
                          choices=("central", "vehicle"))
    queue_order: str = param("fifo", doc="order within a class (interactive always before batch): 'fifo' or 'edf' "
                             "(earliest deadline first)", choices=("fifo", "edf"))
    departure_knowledge: str = param("exact", doc="what the dispatcher knows of departures: 'exact' (the owner's "
                                     "scheduled departure), 'predicted' (exact + Gaussian error) or 'none'",
                                     choices=("exact", "predicted", "none"))
    departure_error_s: float = param(1800.0, doc="standard deviation of predicted departures, s; ASSUMPTION: sweep it",
                                     lo=0.0, hi=1e6)
    on_max_wait: str = param("drop", doc="a job still queued at its class's max wait is dropped ('drop') or served "
                             "by the data center ('overflow')", choices=("drop", "overflow"))


@dataclass(frozen=True)
class GridSpec:
    """The grid's carbon intensity and tariff, and a carbon price (the keys directly under ``grid``)."""

    carbon: str = param("caiso_2022", doc="carbon intensity: a built-in hourly profile (caiso_2022, ercot_2022) or "
                        "an EIA-930 CSV path")
    tariff: str = param("pge_ev2a", kind="tariff", doc="electricity tariff (time of use) of every car's grid energy; "
                        "its demand charges, if any (pge_b10), bill each home on its car's draw while plugged there")
    carbon_price_usd_per_tonne: float = param(
        0.0, doc="carbon price added to every kWh's cost, $/t CO2 (0 = none; California-Quebec cap-and-trade auctions "
        "settled at $41.76/t in Feb 2024 and $29.27/t in Feb 2025, CARB results via enerknol.com)", lo=0.0,
        hi=10_000.0)


@dataclass(frozen=True)
class ChargingSpec:
    """When plugged personal cars charge (keys ``grid.charging.*``)."""

    strategy: str = param("immediate", doc="when plugged cars charge: 'immediate' (from plug-in to the limit), "
                          "'off_peak' (the cheapest hours before departure) or 'carbon_aware' (the cleanest hours "
                          "before departure); a plan that cannot deliver the next tour's energy falls back to "
                          "immediate and is counted", choices=("immediate", "off_peak", "carbon_aware"))


@dataclass(frozen=True)
class ReportSpec:
    """The figures and report page (keys ``report.*``)."""

    figures: bool = param(True, doc="draw the PNG figures and the report page")
    dpi: int = param(110, doc="figure resolution, dots per inch", lo=30, hi=600)
    jobs: str = param("all", doc="the job table: 'all' jobs, a 'sample' of report.jobs_sample of them (uniform, "
                      "seeded; every summary number is still of all jobs, the latency figure of the sample) or "
                      "'none'", choices=("all", "sample", "none"))
    jobs_sample: int = param(100_000, doc="rows of a sampled job table (report.jobs = 'sample')", lo=1, hi=1e9)
    tables: str = param("csv", doc="format of the job and vehicle tables: 'csv', 'csv.gz' (gzip; the built-in "
                        "run's job table 3.7x smaller) or 'parquet' (zstd; 3.8x smaller, typed columns; needs "
                        "pip install 'fleetsim[parquet]')", choices=("csv", "csv.gz", "parquet"))
