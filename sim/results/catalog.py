"""The unit and meaning of every key of ``summary.json`` and every column of the results tables.

Pure data: ``docs/results.md`` is generated from it (``python -m sim.docgen``) and the tests check
it against real runs both ways. A name may stand for several keys or columns:

- ``<name>`` for each value of :data:`PLACEHOLDERS` ``[name]`` (``<class>``: each job class,
  ``<category>``: each energy category, ``<cause>``: each preemption cause, ``<state>``: each
  vehicle state counted in ``timeseries.csv``);
- ``{a,b,c}`` for each of ``a``, ``b`` and ``c``;
- ``name[].key`` for ``key`` in every element of the list ``name``.

:func:`expand_summary_keys` and :func:`expand_columns` spell out the concrete names.
"""
from __future__ import annotations

import re
from typing import NamedTuple

from sim.results.schema import (
    COHORTS,
    ENERGY_CATEGORIES,
    JOB_CLASSES,
    JOBS,
    OUTCOMES,
    SERVING,
    SITES,
    SUMMARY,
    TIMESERIES,
    VEHICLES,
)


class Entry(NamedTuple):
    """One documented summary key (dotted path) or table column, possibly a pattern."""

    name: str
    unit: str  # "" for text, ids and true/false
    meaning: str


#: causes of a preemption (``jobs.preempted_by_cause``), as the dispatcher names them
PREEMPTION_CAUSES = ("departure", "reserve", "outage")
#: vehicle states counted in timeseries.csv and ``fleet.mean_state_share``, with their meaning
VEHICLE_STATES: dict[str, str] = {
    "driving": "driving",
    "parked": "parked and not serving: asleep or offline",
    "available": "awake and online with every chip slot idle",
    "serving": "awake with at least one busy chip slot",
    "charging": "plugged in below the charge limit with the charger drawing its step power (orthogonal to the "
                "states above)",
    "plugged": "plugged in (orthogonal to the states above)",
    "offline_opted_out": "parked offline because the owner did not opt in (a part of `parked`)",
    "offline_no_connection": "parked offline for want of a connection: none away from home, or a link outage "
                             "(a part of `parked`)",
    "offline_low_battery": "parked offline with the battery at what the car must keep: the reserve or the next "
                           "trips' energy (a part of `parked`)",
}
#: what each ``<name>`` stands for
PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    "class": JOB_CLASSES,
    "category": ENERGY_CATEGORIES,
    "cause": PREEMPTION_CAUSES,
    "state": tuple(VEHICLE_STATES),
}

_STATS = "{mean,p50,p95,p99}"
_STATS_TEXT = "mean, median, 95th and 99th percentile; null without such jobs"
_WEIGHTED = "represented fleet"
_SIMULATED = "simulated cars"

SUMMARY_KEYS: tuple[Entry, ...] = (
    # run metadata
    Entry("fleetsim_version", "", "version of fleetsim that ran the scenario"),
    Entry("scenario", "", "the scenario's name, `run.name`"),
    Entry("seed", "", "the random seed, `run.seed`"),
    Entry("run.wall_s", "s", "wall-clock time of the run (differs between identical runs)"),
    Entry("run.decisions_per_wall_s", "1/s", "dispatch decisions per wall-clock second (differs between identical "
          "runs); null when `run.wall_s` is 0"),
    Entry("run.events", "count", "simulation events scheduled"),
    Entry("run.start", "", "the start instant: local ISO 8601 date-time with its UTC offset"),
    Entry("run.simulated_s", "s", "simulated span (the horizon)"),
    Entry("run.days", "days", "simulated span, `run.days`"),
    # fleet
    Entry("fleet.vehicles_simulated", "vehicles", "vehicles simulated, personal cars and robotaxis"),
    Entry("fleet.vehicles_represented", "vehicles", "real vehicles they stand for: the sum of their weights"),
    Entry("fleet.opted_in", "vehicles", f"vehicles whose owner opted in to serve inference, {_WEIGHTED}"),
    Entry("fleet.trips", "count", f"trips driven (robotaxi rides included), {_WEIGHTED}"),
    Entry("fleet.km", "km", f"distance driven, {_WEIGHTED}"),
    Entry("fleet.trips_impacted", "count", "trips that ended below the battery reserve but would not have without "
          f"the battery energy inference used since the car was last plugged in, {_WEIGHTED}"),
    Entry("fleet.fast_charges", "count", "en-route public DC top-ups, bought when a trip would have left the "
          f"battery below 5 % of its capacity, {_WEIGHTED}"),
    Entry("fleet.charging_strategy", "", "the personal cars' charging strategy, `grid.charging.strategy`"),
    Entry("fleet.charge_fallbacks", "count", "charging plans that fell back to charging at once: the next tour's "
          f"energy could not be met within the strategy's windows, {_WEIGHTED}"),
    Entry("fleet.charge_shortfalls", "count", "departures of plugged-in cars short of their next tour's energy, "
          f"{_WEIGHTED}"),
    Entry("fleet.avg_available_inference_gw", "GW", "available inference power: the full-load chip power of online "
          "vehicles, time average"),
    Entry("fleet.mean_state_share.<state>", "share (0..1)", "time-averaged share of the represented vehicles in "
          "the state (see the timeseries.csv column of the same name)"),
    # jobs (the simulated workload, never scaled)
    Entry("jobs.arrived", "count", "jobs that arrived (the simulated workload: jobs and tokens are never scaled "
          "by `fleet.weight`)"),
    Entry("jobs.completed", "count", "jobs completed on vehicles"),
    Entry("jobs.dropped", "count", "jobs dropped at their class's maximum wait (`dispatch.on_max_wait = \"drop\"`)"),
    Entry("jobs.overflowed", "count", "jobs sent to the overflow data center at their class's maximum wait "
          "(`dispatch.on_max_wait = \"overflow\"`)"),
    Entry("jobs.queued_at_end", "count", "jobs still queued for a vehicle at the end"),
    Entry("jobs.running_at_end", "count", "jobs still running on a vehicle at the end"),
    Entry("jobs.preempted", "count", "preemptions: runs on a vehicle cut short (a job may be preempted more than "
          "once)"),
    Entry("jobs.preempted_by_cause.<cause>", "count", "preemptions by cause: `departure` (the car left), "
          "`reserve` (its battery reached what the car must keep) or `outage` (its link went down)"),
    Entry("jobs.wasted_tokens", "tokens", "tokens lost to preemption"),
    Entry("jobs.wasted_kwh", "kWh", f"chip energy above idle spent on work lost to preemption, {_SIMULATED}"),
    Entry(f"jobs.latency_s.{_STATS}", "s", f"latency (arrival to finish, plus the car link's time) of the jobs "
          f"completed on vehicles: "
          f"{_STATS_TEXT}"),
    Entry(f"jobs.wait_s.{_STATS}", "s", f"wait (arrival to first start) of the jobs completed on vehicles: "
          f"{_STATS_TEXT}"),
    Entry("jobs.slo_attainment", "share (0..1)", "jobs that finished within their SLO (and, interactive, within "
          "the TTFT and TPOT objectives where set) over the jobs that left the system (completed, dropped, or "
          "served to the end by the data center); null when none left"),
    Entry("jobs.by_class.<class>.arrived", "count", "jobs of the class that arrived"),
    Entry("jobs.by_class.<class>.completed", "count", "jobs of the class completed on vehicles"),
    Entry("jobs.by_class.<class>.dropped", "count", "jobs of the class dropped at their maximum wait"),
    Entry("jobs.by_class.<class>.overflowed", "count", "jobs of the class sent to the overflow data center"),
    Entry(f"jobs.by_class.<class>.latency_s.{_STATS}", "s", "latency of the class's jobs completed on vehicles: "
          f"{_STATS_TEXT}"),
    Entry(f"jobs.by_class.<class>.wait_s.{_STATS}", "s", "wait to first start of the class's jobs completed on "
          f"vehicles: {_STATS_TEXT}"),
    Entry(f"jobs.by_class.<class>.overflow_latency_s.{_STATS}", "s", "latency (arrival to finish) of the class's "
          f"jobs served to the end by the data center: {_STATS_TEXT}"),
    Entry(f"jobs.by_class.<class>.ttft_s.{_STATS}", "s", "time to first token of the class's jobs completed on "
          f"vehicles: {_STATS_TEXT}"),
    Entry(f"jobs.by_class.<class>.tpot_s.{_STATS}", "s", "time per output token of the class's jobs completed on "
          f"vehicles: {_STATS_TEXT}"),
    Entry("serving.mode", "", "`fleet.chip.serving`: `batched` or `slots`"),
    Entry("serving.mean_batch", "sequences", "jobs on a chip, averaged over the time it held any (batched "
          "serving; null in slots mode)"),
    Entry("serving.output_tokens_per_s_per_chip", "tokens/s", "output tokens per second a chip made while it held "
          "jobs, tokens later lost to preemption included (batched serving; null in slots mode)"),
    Entry("serving.chip_j_per_output_token", "J/token", "chip energy (idle and active) while it held jobs, per "
          "output token made, tokens later lost to preemption included (batched serving; null in slots mode)"),
    Entry("serving.median_inter_token_s", "s", "median over output tokens of the decode step that made them "
          "(prefill pauses excluded, as a median inter-token latency excludes them; batched serving)"),
    Entry("serving.model_loads_from_storage", "count", "models loaded into a chip from the car's storage "
          "(fleet.storage; batched serving; null in slots mode)"),
    Entry("serving.model_loads_downloaded", "count", "models loaded into a chip by a download over the car's link "
          "(not stored on the car; batched serving)"),
    Entry("serving.model_load_s", "s", "seconds of model loads, summed over loads (batched serving)"),
    Entry("serving.model_load_wh", "Wh", "energy of the cars awake (chip idle and awake overhead) while loading "
          "models, weighted by the cars they represent; already in the cars' inference energy (batched serving)"),
    Entry("serving.model_refusals", "count", "times the policy chose a car whose memory could not take the job's "
          "model then; the job waited (batched serving)"),
    Entry("serving.models[].name", "", "a model the jobs need: the fleet's (`fleet.model`) first, then those job "
          "classes name (`workload.<class>.model`)"),
    Entry("serving.models[].arrived", "count", "jobs that needed the model"),
    Entry("serving.models[].completed", "count", "of them, completed on vehicles"),
    Entry("serving.models[].ttft_p50_s", "s", "median time to first token of those completed; null without any"),
    Entry("serving.models[].ttft_p95_s", "s", "95th percentile of the same"),
    Entry("serving.models[].mean_load_s", "s", "mean wait of those completed for their model to load on the car "
          "that served them (0 when it was resident)"),
    Entry("jobs.by_class.<class>.slo_attainment", "share (0..1)", "SLO attainment of the class (as "
          "`jobs.slo_attainment`); null when none left"),
    Entry("jobs.table_rows", "count", "rows of the job table written (`report.jobs`: all jobs, a sample or none)"),
    Entry("jobs.dispatch_decisions", "count", "times the dispatch policy chose a vehicle (as `dispatch.decisions`)"),
    # dispatch settings
    Entry("dispatch.policy", "", "the dispatch policy, `dispatch.policy`"),
    Entry("dispatch.queueing", "", "where jobs wait, `dispatch.queueing`"),
    Entry("dispatch.queue_order", "", "order within a class, `dispatch.queue_order`"),
    Entry("dispatch.departure_knowledge", "", "what policies know of departures, `dispatch.departure_knowledge`"),
    Entry("dispatch.on_max_wait", "", "a job at its maximum wait is dropped or overflows, `dispatch.on_max_wait`"),
    Entry("dispatch.decisions", "count", "times the dispatch policy chose a vehicle"),
    # overflow data center
    Entry("overflow", "", "null when jobs at their maximum wait are dropped; else the overflow data center's "
          "figures below"),
    Entry("overflow.servers", "count", "GPUs of the overflow pool, each batching its jobs, "
          "`dispatch.datacenter.servers`"),
    Entry("overflow.chip", "", "their chip preset, `dispatch.datacenter.chip`"),
    Entry("overflow.model", "", "the model they serve, `dispatch.datacenter.model`"),
    Entry("overflow.max_batch", "sequences", "largest batch per GPU, `dispatch.datacenter.max_batch`"),
    Entry("overflow.pue", "ratio", "the pool's power usage effectiveness, `dispatch.datacenter.pue`"),
    Entry("overflow.gpus_used", "count", "GPUs that served at least one job (each job goes to the GPU with room "
          "holding the fewest jobs)"),
    Entry("overflow.jobs_received", "count", "jobs it took over"),
    Entry("overflow.jobs_completed", "count", "jobs it served to the end"),
    Entry("overflow.tokens_received", "tokens", "prompt and output tokens of the jobs it took over, less the "
          "output tokens batch jobs had already decoded on vehicles"),
    Entry("overflow.tokens_served", "tokens", "the same for the jobs it served to the end"),
    Entry("overflow.busy_gpu_hours", "h", "GPU-hours its GPUs held at least one job"),
    Entry("overflow.mean_batch", "sequences", "jobs held per GPU while it held any (job-seconds over busy "
          "GPU-seconds); null if no GPU held a job"),
    Entry("overflow.chip_j_per_output_token", "J/token", "its GPUs' chip energy (PUE excluded) per output token "
          "they produced; null without tokens"),
    Entry("overflow.energy_kwh", "kWh", "its energy: the chip power of each GPU holding jobs (between idle and "
          "maximum, from the batch it serves) times the PUE; billed in equal shares to the jobs on the GPU"),
    Entry("overflow.cost_usd", "$", "that energy at the price of `grid.tariff`"),
    Entry("overflow.co2_kg", "kg CO2", "CO2 of that energy at the carbon intensity of `grid.carbon`"),
    Entry(f"overflow.latency_s.{_STATS}", "s", f"latency (arrival to finish) of the jobs it served to the end: "
          f"{_STATS_TEXT}"),
    Entry(f"overflow.ttft_s.{_STATS}", "s", f"time to first token (arrival to the first token of its run there) "
          f"of the same jobs: {_STATS_TEXT}"),
    Entry(f"overflow.tpot_s.{_STATS}", "s", f"time per output token after the first, in its run there, of the "
          f"same jobs (those with more than one token left): {_STATS_TEXT}"),
    # owners
    Entry("fairness.payout_scheme", "", "how owners are paid, `fleet.payout.scheme`"),
    Entry("fairness.owners_opted_in", "count", "simulated owners who opted in"),
    Entry("fairness.payout_usd_total", "$", f"payouts to opted-in owners over the run, {_WEIGHTED}"),
    Entry("fairness.payout_usd_per_owner.{mean,p10,p50,p90}", "$", "payout per opted-in simulated owner over the "
          "run: mean, 10th, 50th and 90th percentile; null without opted-in owners"),
    Entry("fairness.payout_usd_per_owner_month", "$", "mean payout per opted-in owner per month (365.25 / 12 "
          "days); null without opted-in owners"),
    Entry("fairness.gini_tokens_served", "index (0..1)", "Gini coefficient of the tokens served by opted-in "
          "owners' cars (0: equal, 1: one car served all); null when none served"),
    Entry("fairness.gini_payout", "index (0..1)", "Gini coefficient of the opted-in owners' payouts; null when "
          "none was paid"),
    Entry("fairness.owners_served_share", "share (0..1)", "opted-in owners whose car served at least one token; "
          "null without opted-in owners"),
    Entry("utilization.mean", "share (0..1)", "busy over online chip slot-seconds over the run"),
    # energy, cost, CO2 of the represented fleet
    Entry("energy_kwh.<category>", "kWh", f"energy of the category (load side), {_WEIGHTED}"),
    Entry("energy_kwh.inference", "kWh", "what serving costs: inference_active + inference_idle + awake_overhead"),
    Entry("energy_kwh.grid_import", "kWh", f"energy drawn from the grid (chargers and public top-ups), {_WEIGHTED}; "
          "a depot's PV supplies its chargers first, so this is their draw less `energy_kwh.solar_used`"),
    Entry("energy_kwh.solar_used", "kWh", "PV energy the depot's chargers used (`robotaxi.depot.solar_used_kwh` x "
          "the robotaxis' mean weight); 0 without PV. The balance: grid_import + solar_used = battery change + "
          "every energy category"),
    Entry("energy_kwh.battery_change", "kWh", f"energy stored in the batteries at the end less at the start, "
          f"{_WEIGHTED}"),
    Entry("cost_usd.electricity", "$", f"grid energy at the price of `grid.tariff`, {_WEIGHTED}: the cars' meters "
          "less the price of the PV energy the depot used (`robotaxi.depot.solar_saved_usd`)"),
    Entry("cost_usd.demand_charges", "$", "every site's demand charges prorated to the run (each month's bill x the "
          "run's share of that month): the homes' (`households.demand_charge_usd`) and the depot's "
          "(`robotaxi.depot.demand_charge_usd` x the robotaxis' mean weight)"),
    Entry("cost_usd.solar_export", "$", "what the depot's exported PV earned, as a credit (<= 0): "
          "-`robotaxi.depot.solar_export_usd` x the robotaxis' mean weight"),
    Entry("cost_usd.carbon", "$", f"grid CO2 (`co2_kg.total`) at `grid.carbon_price_usd_per_tonne`, {_WEIGHTED}"),
    Entry("cost_usd.owner_payouts", "$", "payouts to opted-in owners (as `fairness.payout_usd_total`)"),
    Entry("cost_usd.total", "$", "electricity + demand charges (prorated) + PV export credit + carbon + owner "
          "payouts"),
    Entry("co2_kg.total", "kg CO2", f"CO2 of the grid energy, {_WEIGHTED}: the cars' meters less the carbon of "
          "the PV energy the depot used (`robotaxi.depot.solar_saved_co2_kg`)"),
    Entry("tokens.served", "tokens", "prompt and output tokens of the jobs completed on vehicles"),
    Entry("tokens.generated", "tokens", "output tokens of the jobs completed on vehicles"),
    Entry("tokens.wasted", "tokens", "tokens lost to preemption (the sum of jobs.csv's `wasted_tokens`)"),
    Entry("inference_j_per_token", "J/token", "the simulated cars' inference energy per generated token; null "
          "without tokens"),
    # attribution to jobs (simulated cars)
    Entry("attribution.rule", "", "how inference is billed to jobs"),
    Entry("attribution.jobs_served_kwh", "kWh", "inference energy billed to jobs while they ran (their busy "
          f"slots), {_SIMULATED}"),
    Entry("attribution.standby_kwh", "kWh", "the rest of the inference energy: online cars with free slots"),
    Entry("attribution.inference_kwh", "kWh", f"inference energy, {_SIMULATED}"),
    Entry("attribution.jobs_served_usd", "$", "cost billed to jobs while they ran, carbon price included"),
    Entry("attribution.inference_usd", "$", "cost of the inference energy, carbon price included"),
    Entry("attribution.jobs_served_co2_kg", "kg CO2", "CO2 billed to jobs while they ran"),
    Entry("attribution.inference_co2_kg", "kg CO2", "CO2 of the inference energy"),
    Entry("attribution.standby_share", "share (0..1)", "standby over inference energy; null without inference "
          "energy"),
    Entry("attribution.jobs_total_minus_inference_kwh", "kWh", "jobs.csv's `energy_total_wh` summed, less the "
          "inference energy: 0 up to rounding"),
    # end-of-run checks
    Entry("checks.energy_balance_residual_kwh", "kWh", "grid import + PV used - battery change - every energy "
          "category: 0 up to rounding"),
    Entry("checks.vehicle_energy_residual_max_wh", "Wh", "the largest per-vehicle energy balance residual, "
          "absolute"),
    Entry("checks.grid_meter_vs_recorder_kwh", "kWh", "energy the chargers drew (grid import + PV used) by the "
          "vehicles' meters less by the recorder"),
    Entry("checks.job_balance_residual", "count", "arrived - (completed + dropped + overflowed + queued + running "
          "at the end): 0"),
    Entry("checks.passed", "", "true when every check holds within tolerance (1e-9 of the energy turned over, "
          "1e-6 Wh per vehicle, 0 jobs)"),
    Entry("checks.signal_filled_hours.{carbon,price}", "h", "hours of the run in which the signal's data file has "
          "no row, each filled with the last value before it (the rows' median spacing is their step: time a "
          "value holds beyond it is filled); not a failed check, warned of on stderr"),
    # available power
    Entry("availability.nameplate_gw", "GW", "every represented car's chip at full power"),
    Entry("availability.available_gw", "GW", "time-averaged full-load chip power of online cars"),
    Entry("availability.available_share", "share (0..1)", "available over nameplate power; null for no nameplate"),
    Entry("availability.peak_hour_available_gw", "GW", "the highest mean available power over a clock hour from "
          "the start"),
    Entry("availability.lost_gw.{driving,opted_out,no_connection,low_battery}", "GW", "nameplate power lost on "
          "average to driving, owners not opted in, no connection away from home, and batteries at what the car "
          "must keep"),
    Entry("availability.note", "", "a reminder that charging does not take a car offline"),
    # households on a tariff with demand charges
    Entry("households", "", "null unless the household tariff `grid.tariff` has demand charges; else every home "
          "with a charger is its own site, billed on its car's grid draw while plugged at home (charging, the "
          "awake car and its chip), weighted"),
    Entry("households.tariff", "", "the household tariff"),
    Entry("households.homes", "count", "represented homes with a charger (each a site)"),
    Entry("households.demand_charge_usd", "$", "the homes' demand charges prorated to the run: each month's bill x "
          "the run's share of that month (in `cost_usd.demand_charges`; the sum of vehicles.csv's "
          "`demand_charge_usd` x weight)"),
    Entry("households.demand_charge_monthly_usd", "$", "the same bills for whole months (not in the total cost)"),
    Entry("households.demand_bills[].month", "", "a bill's local calendar month, YYYY-MM"),
    Entry("households.demand_bills[].charge", "", "the name of the tariff's demand charge"),
    Entry("households.demand_bills[].homes", "count", "represented homes billed"),
    Entry("households.demand_bills[].peak_kw_mean", "kW", "each home's highest interval-average draw in the "
          "charge's window that month, mean over homes (weighted)"),
    Entry("households.demand_bills[].peak_kw_max", "kW", "the same, the highest of any home"),
    Entry("households.demand_bills[].usd_monthly", "$", "the homes' bills: each home's peak x the charge's $/kW, "
          "summed (weighted)"),
    Entry("households.demand_bills[].run_share", "share (0..1)", "run seconds in the month over the month's "
          "seconds"),
    Entry("households.demand_bills[].usd_prorated", "$", "usd_monthly x run_share"),
    # robotaxis
    Entry("robotaxi", "", "null without robotaxis; else the simulated robotaxis' figures below"),
    Entry("robotaxi.vehicles", "vehicles", "simulated robotaxis"),
    Entry("robotaxi.rides", "count", "rides driven"),
    Entry("robotaxi.rides_declined", "count", "rides declined: in line for a stall, charging below `ready_soc`, "
          "or a ride that would end below the reserve"),
    Entry("robotaxi.km", "km", "distance driven, empty km included"),
    Entry("robotaxi.occupied_km", "km", "distance driven with passengers: km x (1 - empty share)"),
    Entry("robotaxi.passenger_km", "passenger-km", "occupied km x passengers per occupied km"),
    Entry("robotaxi.rides_per_vehicle_day", "rides/vehicle-day", "rides per robotaxi per simulated day"),
    Entry("robotaxi.jobs_completed", "count", "jobs the robotaxis completed"),
    Entry("robotaxi.inference_kwh", "kWh", "the robotaxis' inference energy"),
    Entry("robotaxi.depot.stalls", "count", "charging stalls at the depot"),
    Entry("robotaxi.depot.cap_kw", "kW", "the depot's grid connection cap; null when unlimited"),
    Entry("robotaxi.depot.peak_kw", "kW", "the depot's highest draw held for any positive time"),
    Entry("robotaxi.depot.energy_kwh", "kWh", "energy the depot's chargers drew (from the grid or its PV)"),
    Entry("robotaxi.depot.grid_kwh", "kWh", "the depot's grid import: max(draw - PV, 0) integrated"),
    Entry("robotaxi.depot.grid_cost_usd", "$", "that grid import at the price of `grid.tariff` (exact integral)"),
    Entry("robotaxi.depot.grid_co2_kg", "kg CO2", "that grid import's CO2 (exact integral)"),
    Entry("robotaxi.depot.arrivals_finding_stalls_full", "count", "robotaxis that needed a stall and found every "
          "one taken (they waited in line or left)"),
    Entry("robotaxi.depot.tariff", "", "the depot's tariff (`fleet.robotaxi.depot.tariff`), billed on its grid "
          "import"),
    Entry("robotaxi.depot.demand_charge_usd", "$", "the depot's demand charges prorated to the run: each month's bill "
          "x the run's share of that month (in `cost_usd.demand_charges`)"),
    Entry("robotaxi.depot.demand_charge_monthly_usd", "$", "the same bills for whole months (not in the total cost)"),
    Entry("robotaxi.depot.demand_bills[].month", "", "a demand bill's local calendar month, YYYY-MM"),
    Entry("robotaxi.depot.demand_bills[].charge", "", "the name of the tariff's demand charge"),
    Entry("robotaxi.depot.demand_bills[].peak_kw", "kW", "the highest interval-average grid import in the charge's "
          "window that month"),
    Entry("robotaxi.depot.demand_bills[].usd_monthly", "$", "the month's bill: peak x the charge's $/kW"),
    Entry("robotaxi.depot.demand_bills[].run_share", "share (0..1)", "run seconds in the month over the month's "
          "seconds"),
    Entry("robotaxi.depot.demand_bills[].usd_prorated", "$", "usd_monthly x run_share"),
    Entry("robotaxi.depot.solar_kwh", "kWh", "the depot's PV output; null without PV"),
    Entry("robotaxi.depot.solar_used_kwh", "kWh", "PV energy the depot used: min(draw, PV) integrated; null "
          "without PV"),
    Entry("robotaxi.depot.solar_saved_usd", "$", "the price of that PV energy: min(draw, PV) x price, integrated "
          "exactly; null without PV"),
    Entry("robotaxi.depot.solar_saved_co2_kg", "kg CO2", "the grid CO2 that PV energy avoided: min(draw, PV) x "
          "carbon intensity, integrated exactly; null without PV"),
    Entry("robotaxi.depot.solar_exported_kwh", "kWh", "PV beyond the draw, exported: max(PV - draw, 0) integrated; "
          "null without PV"),
    Entry("robotaxi.depot.export_usd_per_kwh", "$/kWh", "what an exported kWh earns "
          "(`fleet.robotaxi.depot.export_usd_per_kwh`)"),
    Entry("robotaxi.depot.solar_export_usd", "$", "what the export earned: solar_exported_kwh x "
          "export_usd_per_kwh; null without PV"),
    # against a data center
    Entry("comparison.tokens_generated", "tokens", "output tokens of the jobs completed on vehicles, served by "
          "both sides"),
    Entry("comparison.{fleet,datacenter}.tokens", "tokens", "the same, on each side"),
    Entry("comparison.{fleet,datacenter}.energy_kwh", "kWh", "energy: the fleet's inference energy (standby and "
          f"wasted work included, {_SIMULATED}); the data center's GPU energy x PUE"),
    Entry("comparison.{fleet,datacenter}.co2_g", "g CO2", "CO2 of that energy (the data center's at its region's "
          "hourly carbon intensity when each token was served)"),
    Entry("comparison.{fleet,datacenter}.cost_usd", "$", "total cost: the sum of the breakdown"),
    Entry("comparison.fleet.cost_breakdown_usd.{electricity,carbon,owner_payouts}", "$", "the fleet's cost: "
          "inference electricity, its CO2 at the carbon price, owner payouts (simulated cars)"),
    Entry("comparison.datacenter.cost_breakdown_usd.{electricity,carbon,hardware}", "$", "the data center's cost: "
          "electricity, its CO2 at the carbon price, GPU-hours at `hardware_usd_per_gpu_hour`"),
    Entry("comparison.{fleet,datacenter}.kwh_per_million_tokens", "kWh/million tokens", "energy per million "
          "generated tokens; null without tokens"),
    Entry("comparison.{fleet,datacenter}.g_co2_per_million_tokens", "g CO2/million tokens", "CO2 per million "
          "generated tokens; null without tokens"),
    Entry("comparison.{fleet,datacenter}.usd_per_million_tokens", "$/million tokens", "cost per million generated "
          "tokens; null without tokens"),
    Entry("comparison.fleet.usd_breakdown_per_million_tokens.{electricity,carbon,owner_payouts}",
          "$/million tokens", "the fleet's cost breakdown per million generated tokens; null without tokens"),
    Entry("comparison.datacenter.usd_breakdown_per_million_tokens.{electricity,carbon,hardware}",
          "$/million tokens", "the data center's cost breakdown per million generated tokens; null without tokens"),
    Entry("comparison.datacenter.gpu_hours", "h", "GPU-hours: tokens / throughput, GPUs fully busy (a lower "
          "bound)"),
    Entry("comparison.datacenter.chip", "", "its GPU, a `fleet.chip` preset: `h100_sxm`"),
    Entry("comparison.datacenter.model", "", "the model its GPUs serve, `grid.datacenter.model`"),
    Entry("comparison.datacenter.batch_size", "sequences", "its batch size, `grid.datacenter.batch_size`"),
    Entry("comparison.datacenter.batch", "sequences", "the batch its GPUs run: the batch size, or as many of the "
          "mean request as the KV cache holds if fewer; null without completed jobs"),
    Entry("comparison.datacenter.{mean_prompt_tokens,mean_output_tokens}", "tokens", "the mean request it serves: "
          "prompt and output tokens of the jobs completed on vehicles; null without them"),
    Entry("comparison.datacenter.output_tokens_held", "tokens", "the length-biased mean output of the sequences "
          "in a batch (sum of squared outputs / sum of outputs); null without completed jobs"),
    Entry("comparison.datacenter.j_per_token", "J/token", "GPU energy per output token of a GPU kept full at that "
          "batch for that request (`fleet.roofline.saturated`, the cars' serving model); null without completed "
          "jobs"),
    Entry("comparison.datacenter.power_w", "W", "GPU power at that operating point (PUE excluded); null without "
          "completed jobs"),
    Entry("comparison.datacenter.tokens_per_s", "tokens/s", "output throughput of one GPU at that operating point; "
          "null without completed jobs"),
    Entry("comparison.datacenter.tpot_s", "s", "its time per output token (one decode step of the batch); null "
          "without completed jobs"),
    Entry("comparison.datacenter.pue", "ratio", "its power usage effectiveness, `grid.datacenter.pue`"),
    Entry("comparison.datacenter.carbon_profile", "", "its region's hourly carbon profile, "
          "`grid.datacenter.carbon_profile`"),
    Entry("comparison.datacenter.usd_per_kwh", "$/kWh", "its electricity price, `grid.datacenter.usd_per_kwh`"),
    Entry("comparison.datacenter.hardware_usd_per_gpu_hour", "$/GPU-hour", "GPU rental or amortisation (0: not "
          "counted)"),
    Entry("comparison.datacenter.carbon_price_usd_per_tonne", "$/t CO2", "the carbon price, "
          "`grid.carbon_price_usd_per_tonne`"),
    Entry("comparison.ratio_fleet_to_datacenter.{kwh,co2,usd}", "ratio", "fleet over data center per million "
          "tokens: energy, CO2, cost; null where the data center's figure is 0 or null"),
    # the represented fleet's workload
    Entry("represented.demand_scale", "ratio", "represented over simulated vehicles (`fleet.represents` or "
          "`fleet.weight`): the simulated workload is this share of the represented one"),
    Entry("represented.{jobs_arrived,jobs_completed}", "count", "jobs of the represented fleet: the simulated ones "
          "times the scale"),
    Entry("represented.{tokens_served,tokens_generated}", "tokens", "tokens of the represented fleet: the "
          "simulated ones (`tokens.served`, `tokens.generated`) times the scale"),
    # replicates (run.replicates > 1 only)
    Entry("ci95[].key", "", "a number of this summary by dotted path (list elements by index: `cohorts.0.grid_kwh`)"),
    Entry("ci95[].n", "count", "replicates in which it is a finite number"),
    Entry("ci95[].mean", "", "its mean over the replicates, in the key's unit; null without a finite value"),
    Entry("ci95[].{low,high}", "", "the 95 % confidence interval of that mean (the key's unit), Student's t over "
          "the replicates; null with fewer than 2 finite values"),
    Entry("ci95[].values[]", "", "its value in each replicate (the key's unit), the first on `run.seed`"),
    # by cohort
    Entry("cohorts[].name", "", "the cohort's name (`[[fleet.cohorts]]`); without cohorts `fleet` for the personal "
          "cars and `robotaxi` for the robotaxis"),
    Entry("cohorts[].profile", "", "`personal` or `robotaxi`"),
    Entry("cohorts[].share", "share (0..1)", "its share of `fleet.vehicles`; null without `[[fleet.cohorts]]`"),
    Entry("cohorts[].{chip,model}", "", "its chip and model presets (`fleet.chip.preset`, `fleet.model.preset`)"),
    Entry("cohorts[].battery_kwh", "kWh", "its cars' pack; null for a cohort of no simulated car"),
    Entry("cohorts[].vehicles_simulated", "vehicles", "its simulated cars (the shares apportioned by largest "
          "remainder)"),
    Entry("cohorts[].vehicles_represented", "vehicles", "the real cars they stand for"),
    Entry("cohorts[].opted_in", "vehicles", f"of them, opted in ({_WEIGHTED})"),
    Entry("cohorts[].nameplate_gw", "GW", f"its chips at full power ({_WEIGHTED})"),
    Entry("cohorts[].available_gw", "GW", "mean full-load chip power of its online cars"),
    Entry("cohorts[].available_share", "share (0..1)", "available over nameplate; null without chips"),
    Entry("cohorts[].utilization", "share (0..1)", "its busy over online chip slot-seconds; null with none online"),
    Entry("cohorts[].trips", "count", f"trips driven ({_WEIGHTED})"),
    Entry("cohorts[].km", "km", f"distance driven ({_WEIGHTED})"),
    Entry("cohorts[].{grid_kwh,driving_kwh,inference_kwh}", "kWh", f"grid import, driving and inference energy "
          f"({_WEIGHTED})"),
    Entry("cohorts[].{cost_usd,payout_usd}", "$", f"its grid energy's cost and its owners' payouts ({_WEIGHTED})"),
    Entry("cohorts[].co2_kg", "kg CO2", f"CO2 of its grid energy ({_WEIGHTED})"),
    Entry("cohorts[].jobs_completed", "count", f"jobs its cars completed ({_SIMULATED})"),
    Entry("cohorts[].tokens_served", "tokens", f"prompt and output tokens of those jobs ({_SIMULATED})"),
    Entry("cohorts[].inference_kwh_per_million_tokens", "kWh/million tokens", "its simulated cars' inference "
          "energy per million tokens they served; null without any"),
)

_COUNTS_PER_INTERVAL = "in the interval (the simulated workload, not scaled)"

COLUMNS: dict[str, tuple[Entry, ...]] = {
    TIMESERIES: (
        Entry("t_s", "s", "end of the sample interval, seconds since the start (intervals of "
              "`run.sample_interval_s`)"),
        Entry("time", "", "the same instant: local ISO 8601 date-time with its UTC offset"),
        *(Entry(state, "vehicles", f"mean number of represented vehicles {meaning}")
          for state, meaning in VEHICLE_STATES.items()),
        Entry("utilization", "share (0..1)", "busy over online chip slot-seconds in the interval; 0 with no slot "
              "online"),
        Entry("available_inference_w", "W", "mean full-load chip power of online vehicles"),
        Entry("power_w_<category>", "W", "mean power of the energy category (load side), represented fleet"),
        Entry("grid_w", "W", "mean draw of the chargers and public top-ups, represented fleet (a depot's PV supplies "
              "its chargers first: `sites.csv`'s `solar_w`)"),
        Entry("battery_w", "W", "mean net battery power (positive: charging), represented fleet"),
        Entry("price_usd_per_kwh", "$/kWh", "mean grid price of `grid.tariff`"),
        Entry("carbon_g_per_kwh", "g CO2/kWh", "mean grid carbon intensity of `grid.carbon`"),
        Entry("queue_interactive", "count", "mean number of interactive jobs queued for a vehicle"),
        Entry("queue_batch", "count", "mean number of batch jobs queued for a vehicle"),
        Entry("jobs_arrived", "count", f"jobs that arrived {_COUNTS_PER_INTERVAL}"),
        Entry("jobs_started", "count", f"runs started on vehicles {_COUNTS_PER_INTERVAL}"),
        Entry("jobs_completed", "count", f"jobs completed on vehicles {_COUNTS_PER_INTERVAL}"),
        Entry("jobs_dropped", "count", f"jobs dropped at their maximum wait {_COUNTS_PER_INTERVAL}"),
        Entry("jobs_overflowed", "count", f"jobs sent to the data center {_COUNTS_PER_INTERVAL}"),
        Entry("jobs_preempted", "count", f"preemptions {_COUNTS_PER_INTERVAL}"),
        Entry("preempted_departure", "count", f"preemptions by a departure {_COUNTS_PER_INTERVAL}"),
        Entry("preempted_outage", "count", f"preemptions by a link outage {_COUNTS_PER_INTERVAL}"),
        Entry("preempted_reserve", "count", f"preemptions by the battery reaching what the car must keep "
              f"{_COUNTS_PER_INTERVAL}"),
        Entry("trips_started", "count", "trips started in the interval, represented fleet"),
    ),
    JOBS: (
        Entry("job_id", "", "job number, in order of arrival (rows are sorted by it)"),
        Entry("job_class", "", f"one of {', '.join(JOB_CLASSES)}"),
        Entry("outcome", "", f"one of {', '.join(OUTCOMES)} (`queued` and `running`: at the end; `overflow`: "
              "sent to the data center)"),
        Entry("arrival_s", "s", "arrival, seconds since the start"),
        Entry("start_s", "s", "first start, on a vehicle or in the data center; empty if never started"),
        Entry("finish_s", "s", "finish; empty if not finished"),
        Entry("prompt_tokens", "tokens", "prompt (input) tokens"),
        Entry("output_tokens", "tokens", "output tokens"),
        Entry("vehicle_id", "", "the vehicle it completed on or was running on at the end; -1 for none"),
        Entry("preemptions", "count", "times it was preempted"),
        Entry("wasted_tokens", "tokens", "tokens lost to its preemptions"),
        Entry("slo_s", "s", "its SLO: latency target after arrival (batch: the deadline)"),
        Entry("energy_wh", "Wh", "energy billed to it while it ran on vehicles (its busy slot and share of the "
              "idle chip and awake car)"),
        Entry("cost_usd", "$", "cost of that energy, carbon price included"),
        Entry("co2_g", "g CO2", "CO2 of that energy"),
        Entry("served_by", "", "`datacenter` if it overflowed, `vehicle` if `vehicle_id` names a vehicle, else empty"),
        Entry("wait_s", "s", "first start - arrival; empty if never started"),
        Entry("ttft_s", "s", "time to first token: arrival to the first output token of the run that finished "
              "it reaching the user (queue, prefill wait, prefill, the car link's round trip and the prompt's "
              "download); empty unless finished (on a vehicle or by the data center)"),
        Entry("network_s", "s", "what the car's link added to its latency: a round trip, the prompt down and the "
              "answer up (fleet.network; 0 if not completed on a vehicle)"),
        Entry("model", "", "the model it needed (`fleet.model`, or its class's `workload.<class>.model`); with "
              "fixed slots, a job on a car of a cohort with a model of its own: that model"),
        Entry("load_s", "s", "how long it waited on the car that last started it for its model to load (0: "
              "resident; included in `ttft_s`)"),
        Entry("tpot_s", "s", "time per output token after the first, in the run that finished it; empty unless "
              "finished with more than one token to decode"),
        Entry("latency_s", "s", "finish - arrival + network_s, for jobs completed on a vehicle or served to the "
              "end by the data center; else empty"),
        Entry("slo_met", "", "true when it finished within `slo_s` and, for interactive jobs, within the "
              "time-to-first-token and time-per-output-token objectives where they are set "
              "(`workload.interactive.ttft_slo_s`, `tpot_slo_s`)"),
        Entry("energy_total_wh", "Wh", "`energy_wh` plus its share of standby energy (shared by energy); sums to "
              "the inference energy"),
        Entry("cost_total_usd", "$", "`cost_usd` plus its share of standby cost"),
        Entry("co2_total_g", "g CO2", "`co2_g` plus its share of standby CO2"),
    ),
    VEHICLES: (
        Entry("vehicle_id", "", "vehicle number"),
        Entry("cohort", "", "its cohort's name (`cohorts[].name` of the summary)"),
        Entry("profile", "", "`personal` or `robotaxi`"),
        Entry("weight", "vehicles", "real vehicles this one stands for, `fleet.weight`"),
        Entry("opted_in", "", "true when the owner opted in to serve inference"),
        Entry("commuter", "", "true for a commuter (weekday tours go to work first)"),
        Entry("home_charger", "", "true with a charger at home (robotaxis: the depot)"),
        Entry("workplace_charger", "", "true with charging at work"),
        Entry("trips", "count", "trips driven (robotaxis: rides)"),
        Entry("km", "km", "distance driven"),
        Entry("trips_impacted", "count", "trips that ended below the reserve only because of inference (as "
              "`fleet.trips_impacted`)"),
        Entry("fast_charges", "count", "en-route public DC top-ups"),
        Entry("charge_fallbacks", "count", "charging plans that fell back to charging at once"),
        Entry("charge_shortfalls", "count", "departures plugged in and short of the next tour's energy"),
        Entry("rides_declined", "count", "robotaxi rides declined (0 for personal cars)"),
        Entry("jobs_completed", "count", "jobs completed"),
        Entry("tokens_served", "tokens", "prompt and output tokens of the jobs completed"),
        Entry("preemptions", "count", "jobs preempted on it"),
        Entry("energy_initial_wh", "Wh", "energy in the battery at the start"),
        Entry("energy_final_wh", "Wh", "energy in the battery at the end"),
        Entry("grid_wh", "Wh", "energy drawn from the grid, charger losses and public top-ups included"),
        Entry("cost_usd", "$", "cost of that grid energy at the price of `grid.tariff`"),
        Entry("co2_g", "g CO2", "CO2 of that grid energy"),
        Entry("demand_charge_usd", "$", "its home's demand charges prorated to the run, when the household tariff "
              "has them (each month's bill x the run's share of the month; 0 otherwise, and for robotaxis: their "
              "depot's are `robotaxi.depot.demand_charge_usd`)"),
        Entry("driving_wh", "Wh", "energy spent driving"),
        Entry("inference_wh", "Wh", "energy spent serving: chip active and idle, awake overhead"),
        Entry("sleep_wh", "Wh", "energy spent asleep"),
        Entry("losses_wh", "Wh", "charging and discharge losses"),
        Entry("inference_usd", "$", "cost of the inference energy (grid when plugged, else battery content), "
              "without carbon price"),
        Entry("inference_co2_g", "g CO2", "CO2 of the inference energy"),
        Entry("battery_g_per_kwh", "g CO2/kWh", "carbon content of the energy left in the battery at the end "
              "(average-cost accounting)"),
        Entry("battery_usd_per_kwh", "$/kWh", "cost content of the energy left in the battery at the end"),
        Entry("payout_usd", "$", "what the owner earns over the run under `fleet.payout` (0 if not opted in)"),
    ),
    SITES: (
        Entry("t_s", "s", "end of the sample interval, seconds since the start"),
        Entry("time", "", "the same instant: local ISO 8601 date-time with its UTC offset"),
        Entry("site", "", "the site's name (`depot`)"),
        Entry("load_w", "W", "the site's chargers' mean draw (its PV supplies it first: its grid import is "
              "max(draw - PV, 0))"),
        Entry("cap_w", "W", "its grid connection cap"),
        Entry("solar_w", "W", "mean PV output (0 without PV)"),
        Entry("plugged", "vehicles", "mean number of cars plugged in at its stalls"),
        Entry("waiting", "vehicles", "mean number of cars waiting for a stall"),
    ),
    COHORTS: (
        Entry("t_s", "s", "end of the sample interval, seconds since the start"),
        Entry("time", "", "the same instant: local ISO 8601 date-time with its UTC offset"),
        Entry("cohort", "", "the cohort's name"),
        *(Entry(state, "vehicles", f"mean number of the cohort's represented vehicles {meaning}")
          for state, meaning in VEHICLE_STATES.items()),
        Entry("utilization", "share (0..1)", "the cohort's busy over online chip slot-seconds"),
        Entry("available_inference_w", "W", "mean full-load chip power of its online vehicles"),
        Entry("power_w_<category>", "W", "its mean power of the energy category (load side)"),
        Entry("grid_w", "W", "its mean draw from the grid"),
        Entry("battery_w", "W", "its mean net battery power (positive: charging)"),
    ),
    SERVING: (
        Entry("kind", "", "`model`: the chip's decode steps at that batch for the run's mean request; `visited`: "
              "a batch size the run decoded at; `measured`: a published end-to-end measurement, prefills included "
              "(H100 with Llama-3.1-8B bf16 only)"),
        Entry("batch", "sequences", "batch size"),
        Entry("output_tokens_per_s", "tokens/s", "output tokens per second of one chip (model and visited: while "
              "decoding at that batch)"),
        Entry("j_per_output_token", "J/token", "chip energy per output token (model and visited: while decoding "
              "at that batch)"),
        Entry("seconds", "s", "chip-seconds spent decoding at that batch (visited only; else empty)"),
    ),
}

_TOKEN = re.compile(r"<(\w+)>|\{([^{}]+)\}")


def expand(pattern: str) -> tuple[str, ...]:
    """The concrete names a pattern stands for, in order (``<name>`` and ``{a,b}`` expanded)."""
    m = _TOKEN.search(pattern)
    if m is None:
        return (pattern,)
    values = PLACEHOLDERS[m.group(1)] if m.group(1) else tuple(v.strip() for v in m.group(2).split(","))
    head, tail = pattern[:m.start()], pattern[m.end():]
    return tuple(name for v in values for name in expand(head + v + tail))


def expand_summary_keys() -> tuple[str, ...]:
    """Every concrete dotted key of ``summary.json`` the catalogue documents, in its order."""
    return tuple(key for e in SUMMARY_KEYS for key in expand(e.name))


def expand_columns(table: str) -> tuple[str, ...]:
    """Every concrete column of ``table`` (a file name of :data:`COLUMNS`), in order."""
    return tuple(col for e in COLUMNS[table] for col in expand(e.name))


# ---------------------------------------------------------------------------------- display labels
_STAT_WORDS = {"mean": "mean", "p50": "median", "p95": "p95", "p99": "p99", "p10": "p10", "p90": "p90"}
_ENERGY_WORDS = {"driving": "driving energy", "inference_active": "chip energy, serving",
                 "inference_idle": "chip energy, idle", "awake_overhead": "awake-car overhead energy",
                 "sleep": "sleep drain energy", "charging_losses": "charging losses",
                 "discharge_losses": "discharge losses"}
_SIDES = {"fleet": "fleet", "datacenter": "data-center"}

#: short reader labels of summary keys, for figure titles, axis labels, table headers and printouts
#: (units are not part of a label: :func:`metric_unit` gives them); see :func:`metric_label`
METRIC_LABELS: dict[str, str] = {
    "run.wall_s": "wall time",
    "fleet.vehicles_simulated": "vehicles simulated",
    "fleet.vehicles_represented": "vehicles represented",
    "fleet.opted_in": "opted-in vehicles",
    "fleet.trips": "trips",
    "fleet.km": "distance driven",
    "fleet.trips_impacted": "trips impacted",
    "fleet.fast_charges": "en-route fast charges",
    "fleet.charge_fallbacks": "charging fallbacks",
    "fleet.charge_shortfalls": "charge shortfalls at departure",
    "fleet.avg_available_inference_gw": "available inference power",
    "jobs.arrived": "jobs arrived",
    "jobs.completed": "jobs completed",
    "jobs.dropped": "jobs dropped",
    "jobs.overflowed": "jobs sent to the data center",
    "jobs.queued_at_end": "jobs queued at the end",
    "jobs.running_at_end": "jobs running at the end",
    "jobs.preempted": "preemptions",
    "jobs.wasted_tokens": "tokens lost to preemption",
    "jobs.wasted_kwh": "energy lost to preemption",
    "jobs.slo_attainment": "SLO attainment",
    "jobs.dispatch_decisions": "dispatch decisions",
    **{f"jobs.{k}_s.{s}": f"{k} {_STAT_WORDS[s]}" for k in ("latency", "wait") for s in expand(_STATS)},
    **{f"jobs.by_class.{c}.slo_attainment": f"SLO attainment, {c}" for c in JOB_CLASSES},
    **{f"jobs.by_class.{c}.{k}_s.{s}": f"{c} {k.upper() if k.startswith('t') else k} {_STAT_WORDS[s]}"
       for c in JOB_CLASSES for k in ("latency", "wait", "ttft", "tpot") for s in expand(_STATS)},
    "serving.mean_batch": "mean batch",
    "serving.output_tokens_per_s_per_chip": "output tokens per chip-second",
    "serving.chip_j_per_output_token": "chip energy per output token",
    "serving.median_inter_token_s": "median inter-token time",
    "utilization.mean": "chip-slot utilization",
    **{f"energy_kwh.{c}": w for c, w in _ENERGY_WORDS.items()},
    "energy_kwh.inference": "inference energy",
    "energy_kwh.grid_import": "grid import",
    "energy_kwh.solar_used": "PV energy used",
    "energy_kwh.battery_change": "battery energy change",
    "cost_usd.electricity": "electricity cost",
    "cost_usd.demand_charges": "demand charges",
    "cost_usd.solar_export": "PV export credit",
    "cost_usd.carbon": "carbon cost",
    "cost_usd.owner_payouts": "owner payouts",
    "cost_usd.total": "total cost",
    "co2_kg.total": "CO2 emissions",
    "tokens.served": "tokens served",
    "tokens.generated": "tokens generated",
    "tokens.wasted": "tokens lost to preemption",
    "inference_j_per_token": "inference energy per token",
    "fairness.payout_usd_total": "owner payouts",
    "fairness.payout_usd_per_owner_month": "payout per owner-month",
    "fairness.gini_tokens_served": "Gini of tokens served",
    "fairness.gini_payout": "Gini of payouts",
    "fairness.owners_served_share": "owners whose car served",
    "availability.nameplate_gw": "nameplate inference power",
    "availability.available_gw": "available inference power",
    "availability.available_share": "available share of nameplate",
    "availability.peak_hour_available_gw": "peak-hour available inference power",
    **{f"availability.lost_gw.{c}": f"inference power lost to {c.replace('_', ' ')}"
       for c in ("driving", "opted_out", "no_connection", "low_battery")},
    **{f"comparison.{side}.{k}": f"{w} {what}" for side, w in _SIDES.items() for k, what in (
        ("energy_kwh", "inference energy"), ("co2_g", "CO2"), ("cost_usd", "cost"),
        ("kwh_per_million_tokens", "energy per million tokens"),
        ("g_co2_per_million_tokens", "CO2 per million tokens"),
        ("usd_per_million_tokens", "cost per million tokens"))},
    **{f"comparison.ratio_fleet_to_datacenter.{k}": f"fleet / data-center {w} ratio"
       for k, w in (("kwh", "energy"), ("co2", "CO2"), ("usd", "cost"))},
}
#: unit suffixes a key may end with, dropped from a label made from the key
_UNIT_SUFFIX = re.compile(r"_(s|kwh|wh|gw|kw|w|usd|kg|g)$")


def metric_label(key: str) -> str:
    """A reader's label for the summary ``key``: :data:`METRIC_LABELS`, else its dotted parts as words
    without their unit suffix (``robotaxi.depot.peak_kw`` -> ``robotaxi depot peak``)."""
    if key in METRIC_LABELS:
        return METRIC_LABELS[key]
    words = [_UNIT_SUFFIX.sub("", part).replace("_", " ") for part in key.split(".") if part != "by_class"]
    return " ".join(_STAT_WORDS.get(w, w) for w in words if w) or key


_UNITS: dict[str, str] = {}


def metric_unit(key: str) -> str | None:
    """The catalogue's unit of the summary ``key`` (``""`` for text; ``"share (0..1)"`` for a share),
    or None for a key it does not document."""
    if not _UNITS:
        _UNITS.update({name: e.unit for e in SUMMARY_KEYS for name in expand(e.name)})
    return _UNITS.get(key)


_TABLE_INTROS = {
    TIMESERIES: "One row per sample interval; levels are time averages over the interval, so "
                "sum(`grid_w` x interval) is the energy the chargers drew exactly (`energy_kwh.grid_import` + "
                "`energy_kwh.solar_used`).",
    JOBS: "One row per job (`report.jobs`: every job, a uniform sample or none; `report.tables`: written as "
          "jobs.csv, jobs.csv.gz or jobs.parquet, and vehicles.csv likewise).",
    VEHICLES: "One row per simulated vehicle; its figures are its own, not scaled by its weight.",
    SITES: "Robotaxi runs only: one row per sample interval at the depot.",
    COHORTS: "A fleet of more than one cohort only: one row per cohort and sample interval, the levels of "
             "`timeseries.csv` for that cohort's cars (they add up to the fleet's; `utilization`, a ratio, does not).",
    SERVING: "Batched serving only (`fleet.chip.serving = \"batched\"`): one row per operating point.",
}


def _table(head: str, entries: tuple[Entry, ...]) -> list[str]:
    lines = [f"| {head} | unit | meaning |", "|---|---|---|"]
    for e in entries:
        lines.append(f"| `{e.name}` | {e.unit} | {e.meaning.replace('|', chr(92) + '|')} |")
    return lines


def reference_markdown() -> str:
    """The summary keys and table columns as Markdown: one section each for summary.json and every table."""
    names = "; ".join(f"`<{k}>`: {', '.join(v)}" for k, v in PLACEHOLDERS.items())
    lines = [f"### `{SUMMARY}`", "",
             "Nested; keys are written as dotted paths. `{a,b}` stands for each of `a` and `b`, `name[].key` for "
             f"`key` in each element of the list `name`, and {names}.", ""]
    lines += _table("key", SUMMARY_KEYS)
    for table, entries in COLUMNS.items():
        lines += ["", f"### `{table}`", "", _TABLE_INTROS[table], ""]
        lines += _table("column", entries)
    return "\n".join(lines) + "\n"
