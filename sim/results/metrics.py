"""Metrics of a run as pure functions of its tables (pandas DataFrames) and scenario: latency
percentiles, per-class metrics, owner payouts and their fairness (Gini), costs, the attribution of
cost and CO2 to jobs, and the end-of-run balance checks."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sim.results.schema import JOB_CLASSES, WH_PER_KWH


def percentiles(x: np.ndarray) -> dict[str, float | None]:
    if len(x) == 0:
        return {"mean": None, "p50": None, "p95": None, "p99": None}
    p50, p95, p99 = np.percentile(x, [50, 95, 99])
    return {"mean": float(x.mean()), "p50": float(p50), "p95": float(p95), "p99": float(p99)}


def class_metrics(jobs: pd.DataFrame) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in JOB_CLASSES:
        j = jobs[jobs["job_class"] == name]
        left = jobs_left(j)
        done = j[j["outcome"] == "completed"]
        overflow = j[j["outcome"] == "overflow"]
        out[name] = {
            "arrived": int(len(j)),
            "completed": int(len(done)),
            "dropped": int((j["outcome"] == "dropped").sum()),
            "overflowed": int(len(overflow)),
            "latency_s": percentiles(done["latency_s"].to_numpy()),
            "wait_s": percentiles(done["wait_s"].to_numpy()),
            "ttft_s": percentiles(done["ttft_s"].dropna().to_numpy()),
            "tpot_s": percentiles(done["tpot_s"].dropna().to_numpy()),
            "overflow_latency_s": percentiles(overflow["latency_s"].dropna().to_numpy()),
            "slo_attainment": float(j["slo_met"].sum() / left.sum()) if left.sum() else None,
        }
    return out


def jobs_left(jobs: pd.DataFrame) -> pd.Series:
    """Jobs that have left the system: completed, dropped, or finished by the data center."""
    return jobs["outcome"].isin(["completed", "dropped"]) | jobs["latency_s"].notna()


def gini(x: np.ndarray) -> float | None:
    """Gini coefficient of non-negative amounts (0 = equal shares, 1 = one holder has all)."""
    x = np.sort(np.asarray(x, dtype=np.float64))
    n = len(x)
    if n == 0 or x.sum() <= 0.0:
        return None
    ranks = np.arange(1, n + 1)
    return max(0.0, float((2.0 * (ranks * x).sum()) / (n * x.sum()) - (n + 1.0) / n))


DAYS_PER_MONTH = 365.25 / 12.0


def payouts_usd(sc, veh: pd.DataFrame) -> np.ndarray:
    """What each simulated car's owner earns over the run under ``fleet.payout`` (US $)."""
    scheme = sc["fleet.payout.scheme"]
    opted = veh["opted_in"].to_numpy(dtype=bool)
    if scheme == "per_kwh":
        pay = veh["inference_wh"].to_numpy() / WH_PER_KWH * sc["fleet.payout.usd_per_kwh"]
    elif scheme == "per_token":
        pay = veh["tokens_served"].to_numpy() / 1e6 * sc["fleet.payout.usd_per_million_tokens"]
    else:
        pay = np.full(len(veh), sc["fleet.payout.usd_per_month"] * sc["run.days"] / DAYS_PER_MONTH)
    return np.where(opted, pay, 0.0)


def fairness(sc, veh: pd.DataFrame) -> dict[str, Any]:
    """Owner earnings and the spread of served work across opted-in owners."""
    opted = veh["opted_in"].to_numpy(dtype=bool)
    pay = veh["payout_usd"].to_numpy()[opted]
    tokens = veh["tokens_served"].to_numpy()[opted]
    w = veh["weight"].to_numpy()[opted]
    q = np.percentile(pay, [10, 50, 90]) if len(pay) else [None] * 3
    return {
        "payout_scheme": sc["fleet.payout.scheme"],
        "owners_opted_in": int(opted.sum()),
        "payout_usd_total": float((pay * w).sum()),
        "payout_usd_per_owner": {"mean": float(pay.mean()) if len(pay) else None,
                                 "p10": q[0], "p50": q[1], "p90": q[2]},
        "payout_usd_per_owner_month": float(pay.mean()) * DAYS_PER_MONTH / sc["run.days"] if len(pay) else None,
        "gini_tokens_served": gini(tokens),
        "gini_payout": gini(pay),
        "owners_served_share": float((tokens > 0).mean()) if len(tokens) else None,
    }


def costs(sc, veh: pd.DataFrame, w: np.ndarray, sites: dict[str, float]) -> dict[str, float]:
    """The represented fleet's costs (US $): electricity, demand charges, PV export, carbon price and
    owner payouts, and their sum.

    ``sites`` holds what the charging sites add to the cars' own meters, for the represented fleet:
    ``demand_usd`` (every site's demand bills prorated to the run), ``solar_saved_usd`` and
    ``solar_saved_co2_g`` (the price and carbon of the PV energy the sites used, which the cars'
    meters count as grid energy) and ``solar_export_usd`` (what the PV they exported earned).
    ``solar_export`` is a credit: a part <= 0.
    """
    electricity = float((veh["cost_usd"] * w).sum()) - sites["solar_saved_usd"]
    co2_g = float((veh["co2_g"] * w).sum()) - sites["solar_saved_co2_g"]
    carbon = co2_g * sc["grid.carbon_price_usd_per_tonne"] / 1e6
    payouts = float((veh["payout_usd"] * w).sum())
    demand = sites["demand_usd"]
    export = 0.0 - sites["solar_export_usd"]  # a credit (0.0, never -0.0, without one)
    return {"electricity": electricity, "demand_charges": demand, "solar_export": export, "carbon": carbon,
            "owner_payouts": payouts, "total": electricity + demand + export + carbon + payouts}


def attribute(jobs: pd.DataFrame, veh: pd.DataFrame, usd_per_g_co2: float) -> dict[str, Any]:
    """Per-job energy, cost and CO2 that add up to the simulated fleet's inference totals.

    A job is billed its busy slot while it runs (``energy_wh``, ``cost_usd``, ``co2_g``: the
    slot's active power plus its share of the idle chip and awake car, from the grid through
    the charger when plugged, else from the battery's average-cost content). The standby rest
    (online cars with free slots) is then shared over the jobs in proportion to their energy:
    ``energy_total_wh``, ``cost_total_usd`` and ``co2_total_g`` sum to the inference totals.
    Costs include the carbon price (``usd_per_g_co2``). Adds those columns to ``jobs`` in place.
    """
    served_wh = jobs["energy_wh"].to_numpy()
    served_g = jobs["co2_g"].to_numpy()
    served_usd = jobs["cost_usd"].to_numpy() + served_g * usd_per_g_co2
    jobs["cost_usd"] = served_usd
    total_wh = float(veh["inference_wh"].sum())
    total_g = float(veh["inference_co2_g"].sum())
    total_usd = float(veh["inference_usd"].sum()) + total_g * usd_per_g_co2
    jobs_wh = float(served_wh.sum())
    share = served_wh / jobs_wh if jobs_wh > 0.0 else np.zeros_like(served_wh)
    jobs["energy_total_wh"] = served_wh + share * (total_wh - jobs_wh)
    jobs["cost_total_usd"] = served_usd + share * (total_usd - float(served_usd.sum()))
    jobs["co2_total_g"] = served_g + share * (total_g - float(served_g.sum()))
    return {
        "rule": "busy slot billed to its job; standby shared over jobs by energy",
        "jobs_served_kwh": jobs_wh / WH_PER_KWH,
        "standby_kwh": (total_wh - jobs_wh) / WH_PER_KWH,
        "inference_kwh": total_wh / WH_PER_KWH,
        "jobs_served_usd": float(served_usd.sum()),
        "inference_usd": total_usd,
        "jobs_served_co2_kg": float(served_g.sum()) / 1000.0,
        "inference_co2_kg": total_g / 1000.0,
        "standby_share": (total_wh - jobs_wh) / total_wh if total_wh > 0.0 else None,
        "jobs_total_minus_inference_kwh": (float(jobs["energy_total_wh"].sum()) - total_wh) / WH_PER_KWH,
    }


# Tolerances of the end-of-run checks: relative to the energy turned over, and per vehicle.
ENERGY_RTOL = 1e-9


VEHICLE_ATOL_WH = 1e-6


def checks(balance_kwh: float, per_vehicle_wh: pd.Series, meter_gap_kwh: float, job_residual: int,
            turnover_kwh: float) -> dict[str, Any]:
    """The energy and job balances, and whether all of them hold within tolerance."""
    tol_kwh = ENERGY_RTOL * max(1.0, turnover_kwh)
    worst_wh = float(per_vehicle_wh.abs().max()) if len(per_vehicle_wh) else 0.0
    passed = (abs(balance_kwh) <= tol_kwh and worst_wh <= VEHICLE_ATOL_WH
              and abs(meter_gap_kwh) <= tol_kwh and job_residual == 0)
    return {
        "energy_balance_residual_kwh": balance_kwh,
        "vehicle_energy_residual_max_wh": worst_wh,
        "grid_meter_vs_recorder_kwh": meter_gap_kwh,
        "job_balance_residual": job_residual,
        "passed": bool(passed),
    }
