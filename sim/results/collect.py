"""Collecting a finished simulation into :class:`~sim.results.schema.Results`: the only code that
reads the simulation's internals (its recorder rows, dispatcher, vehicles, job log and sites)."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from fleet import channels as ch
from fleet import roofline
from fleet.chip import H100_LLAMA_3_1_8B_BF16
from fleet.jobs import CLASS_NAMES, COMPLETED, INTERACTIVE_CLASS, OUTCOME_NAMES, OVERFLOW
from fleet.residency import DOWNLOADED, FROM_STORAGE
from sim import __version__
from sim.core.rng import RandomStreams
from sim.results.cohorts import cohort_summary, cohort_timeseries
from sim.results.metrics import (
    attribute,
    checks,
    class_metrics,
    costs,
    fairness,
    jobs_left,
    payouts_usd,
    percentiles,
)
from sim.results.schema import WH_PER_KWH, Results
from sim.scenario import build_spec
from sim.settings import ReportSpec


# ---------------------------------------------------------------------------------- assembly
def level_columns(rows: list[tuple], clock) -> pd.DataFrame:
    """The recorder's sampled rows ``(t0, t1, integrals, counts, ...)`` as the time series' level
    columns: mean vehicles per state, utilization, available inference power and the powers (W)."""
    idx = {name: i for i, name in enumerate(ch.LEVELS)}
    t0 = np.array([r[0] for r in rows])
    t1 = np.array([r[1] for r in rows])
    dur = t1 - t0
    integ = np.array([r[2] for r in rows]).reshape(len(rows), len(ch.LEVELS))
    mean = integ / dur[:, None]
    df = pd.DataFrame({"t_s": t1})
    df["time"] = [clock.to_datetime(t).isoformat() for t in t1]
    for name in ("driving", "parked", "available", "serving", "charging", "plugged", "offline_opted_out",
                 "offline_no_connection", "offline_low_battery"):
        df[name] = mean[:, idx[name]]
    busy = integ[:, idx["busy_slots"]]
    online = integ[:, idx["online_slots"]]
    df["utilization"] = np.divide(busy, online, out=np.zeros_like(busy), where=online > 0)
    df["available_inference_w"] = mean[:, idx["online_chip_w"]]
    for cat in ch.ENERGY_CATEGORIES:
        df[f"power_w_{cat}"] = mean[:, idx[f"power_w_{cat}"]]
    df["grid_w"] = mean[:, idx["grid_w"]]
    df["battery_w"] = mean[:, idx["battery_w"]]
    return df


def _timeseries(sim) -> pd.DataFrame:
    idx = {name: i for i, name in enumerate(ch.LEVELS)}
    rows = sim.series
    t0 = np.array([r[0] for r in rows])
    t1 = np.array([r[1] for r in rows])
    dur = t1 - t0
    integ = np.array([r[2] for r in rows]).reshape(len(rows), len(ch.LEVELS))
    counts = np.array([r[3] for r in rows], dtype=np.float64).reshape(len(rows), len(ch.COUNTERS))
    mean = integ / dur[:, None]
    df = level_columns(rows, sim.clock)
    edges = np.concatenate([t0[:1], t1]) if len(t1) else np.array([0.0])
    df["price_usd_per_kwh"] = sim.price.means_over(edges) if len(t1) else []
    df["carbon_g_per_kwh"] = sim.carbon.means_over(edges) if len(t1) else []
    df["queue_interactive"] = mean[:, idx["queue_interactive"]]
    df["queue_batch"] = mean[:, idx["queue_batch"]]
    totals = np.array([r[4] for r in rows], dtype=np.int64).reshape(len(rows), len(ch.JOB_COUNTERS))
    per_interval = np.diff(totals, axis=0, prepend=np.zeros((1, len(ch.JOB_COUNTERS)), dtype=np.int64))
    for j, name in enumerate(ch.JOB_COUNTERS):
        df[name] = per_interval[:, j]
    for j, name in enumerate(ch.COUNTERS):
        df[name] = counts[:, j]
    return df


def _jobs(sim) -> pd.DataFrame:
    cols = sim.log.to_arrays()
    df = pd.DataFrame({
        "job_id": cols["job_id"],
        "job_class": np.array(CLASS_NAMES, dtype=object)[cols["job_class"]],
        "outcome": np.array(OUTCOME_NAMES, dtype=object)[cols["outcome"]],
        "arrival_s": cols["arrival_s"],
        "start_s": np.where(cols["first_start_s"] >= 0, cols["first_start_s"], np.nan),
        "finish_s": np.where(cols["finish_s"] >= 0, cols["finish_s"], np.nan),
        "prompt_tokens": cols["prompt_tokens"],
        "output_tokens": cols["output_tokens"],
        "vehicle_id": cols["vehicle_id"],
        "preemptions": cols["preemptions"],
        "wasted_tokens": cols["wasted_tokens"],
        "slo_s": cols["slo_s"],
        "energy_wh": cols["energy_wh"],
        "cost_usd": cols["cost_usd"],
        "co2_g": cols["co2_g"],
    })
    # finished: completed on a vehicle, or served to the end by the overflow data center
    done = (cols["outcome"] == COMPLETED) | ((cols["outcome"] == OVERFLOW) & (cols["finish_s"] >= 0))
    df["ttft_s"] = np.where(done & (cols["first_token_s"] >= 0), cols["first_token_s"] - cols["arrival_s"], np.nan)
    df["tpot_s"] = np.where(done & (cols["tpot_s"] >= 0), cols["tpot_s"], np.nan)
    df["served_by"] = np.where(cols["outcome"] == OVERFLOW, "datacenter",
                               np.where(cols["vehicle_id"] >= 0, "vehicle", ""))
    df["wait_s"] = df["start_s"] - df["arrival_s"]
    df["network_s"] = cols["network_s"]
    df["model"] = np.array([m.name for m in sim.models], dtype=object)[cols["model_code"]]
    own = np.array([c.scenario["fleet.model.preset"] for c in sim.cohorts], dtype=object)
    if sim.scenario["fleet.chip.serving"] != "batched" and (own != sim.models[0].name).any():
        # fixed slots serve their cohort's model (model.preset): a job run on a car was served with it
        cars = cols["vehicle_id"] >= 0
        df.loc[cars, "model"] = own[sim.cohort_of[cols["vehicle_id"][cars]]]
    df["load_s"] = cols["load_s"]
    df["latency_s"] = np.where(done, cols["finish_s"] - cols["arrival_s"] + cols["network_s"], np.nan)
    met = done & (df["latency_s"].to_numpy() <= cols["slo_s"])
    interactive = cols["job_class"] == INTERACTIVE_CLASS
    for column, key in (("ttft_s", "workload.interactive.ttft_slo_s"), ("tpot_s", "workload.interactive.tpot_slo_s")):
        target = sim.scenario[key]
        if target > 0.0:  # a finished interactive job missed it (no figure: one output token, no TPOT)
            met &= ~(interactive & (df[column].to_numpy() > target))
    df["slo_met"] = met
    return df


def _serving(sim, jobs: pd.DataFrame) -> dict[str, Any]:
    """Batched serving's figures over every chip (null in slots mode), and per model the jobs needed."""
    servers = [v.server for v in sim.vehicles if v.server is not None]
    out: dict[str, Any] = {"mode": sim.scenario["fleet.chip.serving"], "mean_batch": None,
                           "output_tokens_per_s_per_chip": None, "chip_j_per_output_token": None,
                           "median_inter_token_s": None, "model_loads_from_storage": None,
                           "model_loads_downloaded": None, "model_load_s": None, "model_load_wh": None,
                           "model_refusals": None, "models": _per_model(sim, jobs)}
    if servers:
        loads = sim.dispatcher.model_loads
        stored, fetched = loads[FROM_STORAGE], loads[DOWNLOADED]  # [loads, s, Wh] each
        out["model_loads_from_storage"] = stored[0]
        out["model_loads_downloaded"] = fetched[0]
        out["model_load_s"] = stored[1] + fetched[1]
        out["model_load_wh"] = stored[2] + fetched[2]
        out["model_refusals"] = sim.dispatcher.model_refusals
    busy_s = sum(s.busy_s for s in servers)
    tokens = sum(s.tokens_out for s in servers)
    if busy_s > 0:
        out["mean_batch"] = sum(s.batch_s for s in servers) / busy_s
        out["output_tokens_per_s_per_chip"] = tokens / busy_s
    if tokens:
        out["chip_j_per_output_token"] = sum(s.chip_ws for s in servers) / tokens
    steps, weights = [], []  # each batch size's mean decode step (s), weighted by the tokens it made
    for s in servers:
        for n, (secs, toks, _) in s.visits.items():
            if toks > 0:
                steps.append(secs * n / toks)
                weights.append(toks)
    if steps:
        order = np.argsort(steps)
        cum = np.cumsum(np.asarray(weights)[order])
        out["median_inter_token_s"] = float(np.asarray(steps)[order][np.searchsorted(cum, cum[-1] / 2.0)])
    return out


def _per_model(sim, jobs: pd.DataFrame) -> list[dict[str, Any]]:
    """Per model the jobs needed (the fleet's first): jobs, completed on vehicles, time to first token
    and the wait for loads of the completed ones."""
    out = []
    for model in sim.models:
        mine = jobs[jobs["model"] == model.name]
        done = mine[mine["outcome"] == "completed"]
        ttft = done["ttft_s"].dropna().to_numpy()
        out.append({"name": model.name, "arrived": int(len(mine)), "completed": int(len(done)),
                    "ttft_p50_s": float(np.percentile(ttft, 50)) if len(ttft) else None,
                    "ttft_p95_s": float(np.percentile(ttft, 95)) if len(ttft) else None,
                    "mean_load_s": float(done["load_s"].mean()) if len(done) else None})
    return out


def _serving_points(sim, jobs: pd.DataFrame) -> pd.DataFrame | None:
    """Batched serving's operating points (None in slots mode): the chip's decode steps at each batch
    size for the run's mean request (``kind = model``: tokens/s and J/token while decoding, as the
    ``visited`` rows count them), each batch size the run decoded at (``visited``, with its seconds),
    and for an H100 serving Llama-3.1-8B bf16 the published end-to-end measurements (``measured``,
    prefills included, their own requests)."""
    sc = sim.scenario
    servers = [v.server for v in sim.vehicles if v.server is not None]
    if not servers:
        return None
    chip, model = servers[0].chip, servers[0].model
    done = jobs[jobs["outcome"] == "completed"]
    prompt = float(done["prompt_tokens"].mean()) if len(done) else 1000.0
    out = done["output_tokens"].to_numpy(dtype=float) if len(done) else np.array([250.0])
    held = float((out ** 2).sum() / out.sum())
    rows = []
    sizes = sorted({2 ** k for k in range(int(math.log2(chip.max_batch)) + 1)} | {chip.max_batch})
    for b in sizes:
        t, w = roofline.decode_step(chip, model, b, b * (prompt + held / 2.0))
        rows.append(("model", b, b / t, t * w / b, math.nan))
    visits: dict[int, list[float]] = {}
    for srv in servers:
        for n, (secs, toks, ws) in srv.visits.items():
            acc = visits.setdefault(n, [0.0, 0.0, 0.0])
            acc[0] += secs
            acc[1] += toks
            acc[2] += ws
    for n in sorted(visits):
        secs, toks, ws = visits[n]
        if toks > 0:
            rows.append(("visited", n, toks / secs, ws / toks, secs))
    if sc["fleet.chip.preset"] == "h100_sxm" and sc["fleet.model.preset"] == "llama-3.1-8b-bf16":
        for b, (tps, _, jpt, _) in sorted(H100_LLAMA_3_1_8B_BF16.items()):
            rows.append(("measured", b, tps, jpt, math.nan))
    return pd.DataFrame(rows, columns=["kind", "batch", "output_tokens_per_s", "j_per_output_token", "seconds"])


def _vehicles(sim) -> pd.DataFrame:
    vs = sim.vehicles
    df = pd.DataFrame({
        "vehicle_id": [v.vid for v in vs],
        "cohort": np.array([c.name for c in sim.cohorts], dtype=object)[sim.cohort_of],
        "profile": [v.spec.profile for v in vs],
        "weight": [v.weight for v in vs],
        "opted_in": [v.opted_in for v in vs],
        "commuter": sim.commuter.astype(bool),
        "home_charger": [v.has_home_charger for v in vs],
        "workplace_charger": [v.has_workplace_charger for v in vs],
        "trips": [v.trips for v in vs],
        "km": [v.km for v in vs],
        "trips_impacted": [v.trips_impacted for v in vs],
        "fast_charges": [v.fast_charges for v in vs],
        "charge_fallbacks": [v.charge_fallbacks for v in vs],
        "charge_shortfalls": [v.charge_shortfalls for v in vs],
        "rides_declined": [v.rides_declined for v in vs],
        "jobs_completed": [v.jobs_done for v in vs],
        "tokens_served": [v.tokens_done for v in vs],
        "preemptions": [v.preempted for v in vs],
        "energy_initial_wh": sim.initial_energy_wh,
        "energy_final_wh": [v.energy_wh for v in vs],
        "grid_wh": [v.meter.energy_wh for v in vs],
        "cost_usd": [v.meter.cost_usd for v in vs],
        "co2_g": [v.meter.co2_g for v in vs],
        "demand_charge_usd": [_prorated_usd(v.home_demand) for v in vs],
        "driving_wh": [v.e_drive for v in vs],
        "inference_wh": [v.e_infer for v in vs],
        "sleep_wh": [v.e_sleep for v in vs],
        "losses_wh": [v.e_loss for v in vs],
        "inference_usd": [v.infer_usd for v in vs],
        "inference_co2_g": [v.infer_g for v in vs],
        # average-cost content of the energy left in the battery at the end
        "battery_g_per_kwh": [v.batt_g_per_wh * 1000.0 for v in vs],
        "battery_usd_per_kwh": [v.batt_usd_per_wh * 1000.0 for v in vs],
    })
    df["payout_usd"] = payouts_usd(sim.scenario, df)
    return df


def _prorated_usd(meter) -> float:
    """A home's demand bills over the run, each month's prorated (US $; 0 without a home meter)."""
    if meter is None:
        return 0.0
    share = dict(zip(meter.cal.months, meter.cal.run_share))
    return float(sum(b.usd * share[b.month] for b in meter.bills()))


def _households(sim, veh: pd.DataFrame) -> dict[str, Any] | None:
    """The homes' demand charges (None when the household tariff ``grid.tariff`` has none): each home
    with a charger is its own site, billed on its car's draw while plugged at home; weighted."""
    cal = getattr(sim, "home_demand", None)
    if cal is None:
        return None
    homes = [(v.weight, v.home_demand.bills()) for v in sim.vehicles if v.home_demand is not None]
    share = dict(zip(cal.months, cal.run_share))
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for weight, bills in homes:
        for b in bills:
            row = rows.setdefault((b.month, b.charge), {"month": b.month, "charge": b.charge, "homes": 0.0,
                                                       "peak_kw_mean": 0.0, "peak_kw_max": 0.0, "usd_monthly": 0.0,
                                                       "run_share": share[b.month], "usd_prorated": 0.0})
            row["homes"] += weight
            row["peak_kw_mean"] += weight * b.peak_kw
            row["peak_kw_max"] = max(row["peak_kw_max"], b.peak_kw)
            row["usd_monthly"] += weight * b.usd
    bills_out = list(rows.values())  # months in order, then charges: every home's bills come so
    for row in bills_out:
        row["peak_kw_mean"] = row["peak_kw_mean"] / row["homes"] if row["homes"] else 0.0
        row["usd_prorated"] = row["usd_monthly"] * row["run_share"]
    return {
        "tariff": cal.tariff.name,
        "homes": float(sum(weight for weight, _ in homes)),
        "demand_charge_usd": float((veh["demand_charge_usd"] * veh["weight"]).sum()),
        "demand_charge_monthly_usd": float(sum(r["usd_monthly"] for r in bills_out)),
        "demand_bills": bills_out,
    }


def _depot(sim) -> dict[str, Any] | None:
    """The depot's summary (None without robotaxis)."""
    site = getattr(sim, "site", None)
    if site is None:
        return None
    from sim.builders import site_summary  # robotaxi runs only

    return site_summary(site, sim.clock, sim.horizon_s, sim.price, sim.carbon)


def _site_parts(veh: pd.DataFrame, depot: dict[str, Any] | None, households: dict[str, Any] | None) -> dict[str, float]:
    """What the charging sites add to the cars' meters, for the represented fleet (see
    :func:`sim.results.metrics.costs`), and the PV energy the depot's cars used (kWh).

    The homes' demand charges are per car (weighted). The depot is one simulated site for the
    simulated robotaxis: its figures are scaled by their mean weight (real cars per simulated one).
    """
    out = {"demand_usd": households["demand_charge_usd"] if households else 0.0, "solar_saved_usd": 0.0,
           "solar_saved_co2_g": 0.0, "solar_export_usd": 0.0, "solar_used_kwh": 0.0}
    if depot is None:
        return out
    scale = float(veh.loc[veh["profile"] == "robotaxi", "weight"].mean())
    out["demand_usd"] += depot["demand_charge_usd"] * scale
    if depot["solar_kwh"] is not None:
        out["solar_saved_usd"] = depot["solar_saved_usd"] * scale
        out["solar_saved_co2_g"] = depot["solar_saved_co2_kg"] * 1000.0 * scale
        out["solar_export_usd"] = depot["solar_export_usd"] * scale
        out["solar_used_kwh"] = depot["solar_used_kwh"] * scale
    return out


def _availability(sim, totals: dict[str, float]) -> dict[str, Any]:
    """Available inference power against the chips' nameplate, and where the rest went (GW, means).

    Nameplate: every represented car's chip at full power. A car's chip is available when the car
    is parked, opted in, connected and above what it must keep; otherwise its power is lost to
    driving, opt-out, no connection away from home, or the battery. Peak hour: the highest mean
    over a clock hour from the start (samples grouped by the hour they start in).
    """
    horizon = sim.horizon_s
    nameplate_w = sum(v.weight * v.spec.chip.active_w for v in sim.vehicles)
    # each cohort's cars have one chip: its lost car-seconds at its chips' power (the fleet's alone
    # when it is one cohort)
    parts = []
    for rec, cars in zip(sim.cohort_recs, _cohort_cars(sim)) if sim.cohort_recs else [(sim.rec, sim.vehicles)]:
        weight = sum(v.weight for v in cars)
        parts.append((rec.totals(), sum(v.weight * v.spec.chip.active_w for v in cars) / weight if weight else 0.0))

    def gw(level: str) -> float:
        return sum(t[level] * chip_w for t, chip_w in parts) / horizon / 1e9

    idx = ch.LEVELS.index("online_chip_w")
    hourly: dict[int, list[float]] = {}
    for t0, t1, integ, *_ in sim.series:
        acc = hourly.setdefault(int(t0 // 3600.0), [0.0, 0.0])
        acc[0] += integ[idx]
        acc[1] += t1 - t0
    peak_w = max((a / d for a, d in hourly.values() if d > 0), default=0.0)
    avg_w = totals["online_chip_w"] / horizon
    return {
        "nameplate_gw": nameplate_w / 1e9,
        "available_gw": avg_w / 1e9,
        "available_share": avg_w / nameplate_w if nameplate_w else None,
        "peak_hour_available_gw": peak_w / 1e9,
        "lost_gw": {
            "driving": gw("driving"),
            "opted_out": gw("offline_opted_out"),
            "no_connection": gw("offline_no_connection"),
            "low_battery": gw("offline_low_battery"),
        },
        "note": "charging does not take a car offline: plugged cars serve while they charge",
    }


def _comparison(sim, jobs: pd.DataFrame, veh: pd.DataFrame, attribution: dict[str, Any]) -> dict[str, Any]:
    """The simulated fleet against a data center serving the tokens it generated, per million tokens."""
    from sim.comparison import DataCenterBaseline, compare, datacenter_baseline, fleet_per_million_tokens

    sc = sim.scenario
    usd_per_g = sc["grid.carbon_price_usd_per_tonne"] / 1e6
    done = jobs[(jobs["outcome"] == "completed")]
    tokens = float(done["output_tokens"].sum())
    g = attribution["inference_co2_kg"] * 1000.0
    fleet = fleet_per_million_tokens(
        attribution["inference_kwh"], g, float(veh["inference_usd"].sum()), g * usd_per_g,
        float(veh["payout_usd"].sum()), tokens)
    spec = build_spec(DataCenterBaseline, sc, "grid.datacenter")
    # the data center's GPUs serve the run's mean completed request (none: no tokens to serve)
    out = done["output_tokens"].to_numpy(dtype=float)
    served = bool(out.sum() > 0)
    prompt = float(done["prompt_tokens"].mean()) if served else None
    mean_out = float(out.mean()) if served else None
    held = float((out ** 2).sum() / out.sum()) if served else None  # length-biased: E[n**2] / E[n]
    dc = datacenter_baseline((done["finish_s"].to_numpy(), done["output_tokens"].to_numpy()), spec, sim.clock,
                             sim.horizon_s, sc["grid.carbon_price_usd_per_tonne"], prompt, mean_out, held)
    return compare(fleet, dc)


def _sites(sim) -> pd.DataFrame | None:
    """The depot's samples: mean draw and cap (W), PV output (W), mean plugged and waiting cars."""
    site = getattr(sim, "site", None)
    if site is None:
        return None
    rows = sim.site_series
    t0 = np.array([r[0] for r in rows])
    t1 = np.array([r[1] for r in rows])
    dur = t1 - t0
    df = pd.DataFrame({"t_s": t1})
    df["time"] = [sim.clock.to_datetime(t).isoformat() for t in t1]
    df["site"] = site.spec.name
    df["load_w"] = np.array([r[2] for r in rows]) / dur
    df["cap_w"] = site.spec.cap_w
    edges = np.concatenate([t0[:1], t1]) if len(t1) else np.array([0.0])
    df["solar_w"] = site.solar.means_over(edges) if site.solar is not None and len(t1) else 0.0
    df["plugged"] = np.array([r[3] for r in rows]) / dur
    df["waiting"] = np.array([r[4] for r in rows]) / dur
    return df


def _robotaxi(sim, veh: pd.DataFrame, depot: dict[str, Any] | None) -> dict[str, Any] | None:
    """Robotaxi rides and the depot (None without robotaxis)."""
    if depot is None:
        return None
    from sim.builders import robotaxi_params  # robotaxi runs only

    taxis = veh[veh["profile"] == "robotaxi"]
    km = float(taxis["km"].sum())
    occupied_km = passenger_km = 0.0
    for c in sim.cohorts:  # every ride's empty share is exactly its cohort's parameter
        if c.profile == "robotaxi":
            params = robotaxi_params(c.scenario)
            occupied = float(taxis.loc[taxis["cohort"] == c.name, "km"].sum()) * (1.0 - params.empty_share)
            occupied_km += occupied
            passenger_km += occupied * params.passengers_per_occupied_km
    return {
        "vehicles": int(len(taxis)),
        "rides": int(taxis["trips"].sum()),
        "rides_declined": int(taxis["rides_declined"].sum()),
        "km": km,
        "occupied_km": occupied_km,
        "passenger_km": passenger_km,
        "rides_per_vehicle_day": float(taxis["trips"].sum()) / max(1, len(taxis)) / sim.scenario["run.days"],
        "jobs_completed": int(taxis["jobs_completed"].sum()),
        "inference_kwh": float(taxis["inference_wh"].sum()) / WH_PER_KWH,
        "depot": depot,
    }


def _overflow(sim, jobs: pd.DataFrame) -> dict[str, Any] | None:
    """The data-center pool's figures, or None when jobs past their wait are dropped."""
    if sim.datacenter is None:
        return None
    pool = sim.datacenter
    out = pool.summary()
    served = jobs[(jobs["outcome"] == "overflow")]
    out["latency_s"] = percentiles(served["latency_s"].dropna().to_numpy())
    out["ttft_s"] = percentiles(np.asarray(pool.ttft_s, dtype=float))
    out["tpot_s"] = percentiles(np.asarray(pool.tpot_s, dtype=float))
    return out


def assemble_results(sim, wall_s: float, events: int) -> Results:
    """Collect a finished :class:`sim.runner.Simulation` into :class:`Results`."""
    sc = sim.scenario
    ts = _timeseries(sim)
    jobs = _jobs(sim)
    veh = _vehicles(sim)
    attribution = attribute(jobs, veh, sc["grid.carbon_price_usd_per_tonne"] / 1e6)
    totals = sim.rec.totals()  # unit*s, weighted
    d = sim.dispatcher
    w = veh["weight"].to_numpy()

    def kwh(level: str) -> float:
        return totals[level] / 3600.0 / WH_PER_KWH

    energy = {cat: kwh(f"power_w_{cat}") for cat in ch.ENERGY_CATEGORIES}
    energy["inference"] = energy["inference_active"] + energy["inference_idle"] + energy["awake_overhead"]
    depot = _depot(sim)
    households = _households(sim, veh)
    sites = _site_parts(veh, depot, households)
    # The chargers' input comes from the grid or, at a site with PV, from the PV first.
    supplied = kwh("grid_w")
    energy["grid_import"] = supplied - sites["solar_used_kwh"]
    energy["solar_used"] = sites["solar_used_kwh"]
    energy["battery_change"] = float(((veh["energy_final_wh"] - veh["energy_initial_wh"]) * w).sum()) / WH_PER_KWH
    loads = sum(energy[c] for c in ch.ENERGY_CATEGORIES)
    balance = energy["grid_import"] + energy["solar_used"] - energy["battery_change"] - loads
    per_vehicle = (veh["grid_wh"] - (veh["energy_final_wh"] - veh["energy_initial_wh"])
                   - veh["driving_wh"] - veh["inference_wh"] - veh["sleep_wh"] - veh["losses_wh"])
    grid_meter_kwh = float((veh["grid_wh"] * w).sum()) / WH_PER_KWH

    completed = jobs[jobs["outcome"] == "completed"]
    left = jobs_left(jobs)
    job_residual = d.arrived - (d.completed + d.dropped + d.overflowed + d.queued_at_end + d.running_at_end)
    horizon_s = sim.horizon_s
    online_slot_s = totals["online_slots"]
    generated = d.tokens_generated
    # Jobs and tokens are the simulated workload (not scaled by weight): divide the simulated
    # vehicles' own inference energy by them.
    inference_j = float(veh["inference_wh"].sum()) * 3600.0
    summary: dict[str, Any] = {
        "fleetsim_version": __version__,
        "scenario": sc["run.name"],
        "seed": sc["run.seed"],
        "run": {
            "wall_s": wall_s,
            "decisions_per_wall_s": d.decisions / wall_s if wall_s > 0 else None,  # wall clock, like wall_s
            "events": int(events),
            "start": sc.start_datetime().isoformat(),
            "simulated_s": horizon_s,
            "days": sc["run.days"],
        },
        "fleet": {
            "vehicles_simulated": len(sim.vehicles),
            "vehicles_represented": float(w.sum()),
            "opted_in": float((veh["opted_in"] * w).sum()),
            "trips": int((veh["trips"] * w).sum()),
            "km": float((veh["km"] * w).sum()),
            "trips_impacted": int((veh["trips_impacted"] * w).sum()),
            "fast_charges": int((veh["fast_charges"] * w).sum()),
            "charging_strategy": sc["grid.charging.strategy"],
            "charge_fallbacks": int((veh["charge_fallbacks"] * w).sum()),
            "charge_shortfalls": int((veh["charge_shortfalls"] * w).sum()),
            "avg_available_inference_gw": totals["online_chip_w"] / horizon_s / 1e9,
            "mean_state_share": {
                s: totals[s] / horizon_s / float(w.sum())
                for s in ("driving", "parked", "available", "serving", "charging", "plugged", "offline_opted_out",
                          "offline_no_connection", "offline_low_battery")
            },
        },
        "serving": _serving(sim, jobs),
        "jobs": {
            "arrived": d.arrived,
            "completed": d.completed,
            "dropped": d.dropped,
            "overflowed": d.overflowed,
            "queued_at_end": d.queued_at_end,
            "running_at_end": d.running_at_end,
            "preempted": d.preemptions,
            "preempted_by_cause": dict(sorted(d.preemptions_by_cause.items())),
            "wasted_tokens": d.wasted_tokens,
            "wasted_kwh": d.wasted_wh / WH_PER_KWH,
            "latency_s": percentiles(completed["latency_s"].to_numpy()),
            "wait_s": percentiles(completed["wait_s"].to_numpy()),
            "slo_attainment": float(jobs["slo_met"].sum() / left.sum()) if left.sum() else None,
            "by_class": class_metrics(jobs),
            "dispatch_decisions": d.decisions,
        },
        "dispatch": {
            "policy": sc["dispatch.policy"],
            "queueing": sc["dispatch.queueing"],
            "queue_order": sc["dispatch.queue_order"],
            "departure_knowledge": sc["dispatch.departure_knowledge"],
            "on_max_wait": sc["dispatch.on_max_wait"],
            "decisions": d.decisions,
        },
        "overflow": _overflow(sim, jobs),
        "fairness": fairness(sc, veh),
        "utilization": {
            "mean": totals["busy_slots"] / online_slot_s if online_slot_s else 0.0,
        },
        "energy_kwh": energy,
        "cost_usd": costs(sc, veh, w, sites),
        "co2_kg": {"total": (float((veh["co2_g"] * w).sum()) - sites["solar_saved_co2_g"]) / 1000.0},
        "tokens": {
            "served": d.tokens_served,
            "generated": generated,
            "wasted": int(jobs["wasted_tokens"].sum()),
        },
        "inference_j_per_token": inference_j / generated if generated else None,
        "represented": _represented(d, float(w.sum()) / len(sim.vehicles) if len(sim.vehicles) else 1.0),
        "attribution": attribution,
        "checks": checks(balance, per_vehicle, grid_meter_kwh - supplied, int(job_residual),
                          supplied + abs(energy["battery_change"]) + loads),
    }
    summary["checks"]["signal_filled_hours"] = sim.filled_hours()
    summary["availability"] = _availability(sim, totals)
    summary["households"] = households
    summary["robotaxi"] = _robotaxi(sim, veh, depot)
    summary["comparison"] = _comparison(sim, jobs, veh, attribution)
    summary["cohorts"] = _cohorts(sim, veh, totals)
    serving_points = _serving_points(sim, jobs)  # the run's mean request: of every job, before any sampling
    jobs = job_table_rows(jobs, build_spec(ReportSpec, sc, "report"), sc["run.seed"])
    summary["jobs"]["table_rows"] = len(jobs)
    cohort_ts = None
    if sim.cohort_recs:
        cohort_ts = cohort_timeseries([c.name for c in sim.cohorts],
                                      [level_columns(rows, sim.clock) for rows in sim.cohort_series])
    return Results(summary, ts, jobs, veh, sc, _sites(sim), serving_points, cohort_ts)


def job_table_rows(jobs: pd.DataFrame, spec: ReportSpec, seed: int) -> pd.DataFrame:
    """The rows of the job table ``report.jobs`` keeps: all, none, or a uniform sample without
    replacement of ``report.jobs_sample`` rows (in job order, drawn on stream ``jobs_sample`` of
    ``seed``); the summary is computed from every job before."""
    if spec.jobs == "none":
        return jobs.iloc[0:0]
    if spec.jobs == "sample" and len(jobs) > spec.jobs_sample:
        keep = np.sort(RandomStreams(seed).get("jobs_sample").choice(len(jobs), spec.jobs_sample, replace=False))
        return jobs.iloc[keep].reset_index(drop=True)
    return jobs


def _represented(d, scale: float) -> dict[str, float]:
    """The workload of the represented fleet: the simulated jobs and tokens times the represented
    over the simulated vehicles (demand per car is the same in both)."""
    return {
        "demand_scale": scale,
        "jobs_arrived": d.arrived * scale,
        "jobs_completed": d.completed * scale,
        "tokens_served": d.tokens_served * scale,
        "tokens_generated": d.tokens_generated * scale,
    }


def _cohort_cars(sim) -> list[list]:
    """Each cohort's cars: consecutive vehicle ids (``sim.cohort_of`` is sorted)."""
    bounds = np.searchsorted(sim.cohort_of, np.arange(len(sim.cohorts) + 1))
    return [sim.vehicles[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def _cohorts(sim, veh: pd.DataFrame, totals: dict[str, float]) -> list[dict[str, Any]]:
    """Each cohort's cars, chips, available power, energy, cost and tokens (see :func:`cohort_summary`)."""
    per_cohort = [rec.totals() for rec in sim.cohort_recs] or [totals]
    out = []
    for c, t, cars in zip(sim.cohorts, per_cohort, _cohort_cars(sim)):
        spec = cars[0].spec if cars else None
        out.append(cohort_summary(
            c.name, c.profile, c.share if sim.scenario["fleet.cohorts"] else None, c.scenario["fleet.chip.preset"],
            c.scenario["fleet.model.preset"], spec.battery.capacity_wh / WH_PER_KWH if spec else None,
            sum(v.weight * v.spec.chip.active_w for v in cars), veh[veh["cohort"] == c.name], t, sim.horizon_s))
    return out
