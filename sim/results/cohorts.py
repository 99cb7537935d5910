"""A fleet's results by cohort (``[[fleet.cohorts]]``): pure functions of the vehicles table and
each cohort's recorder totals (the collector, :mod:`sim.results.collect`, gathers them)."""
from __future__ import annotations

from typing import Any

import pandas as pd

from sim.results.schema import WH_PER_KWH


def cohort_summary(name: str, profile: str, share: float | None, chip: str, model: str, battery_kwh: float | None,
                   nameplate_w: float, veh: pd.DataFrame, totals: dict[str, float], horizon_s: float) -> dict[str, Any]:
    """One cohort's summary entry.

    ``veh``: the cohort's rows of the vehicles table; ``totals``: its recorder's level integrals
    (unit*s, weighted); ``nameplate_w``: its represented chips at full power (W). Energy, cost,
    CO2, payouts, trips and km are weighted (represented cars); jobs and tokens are the simulated
    cars' own, and so is the energy per million tokens (their own inference energy over them).
    """
    w = veh["weight"].to_numpy()
    tokens = int(veh["tokens_served"].sum())
    own_wh = float(veh["inference_wh"].sum())
    available_w = totals["online_chip_w"] / horizon_s

    def weighted(col: str) -> float:
        return float((veh[col] * w).sum())

    return {
        "name": name,
        "profile": profile,
        "share": share,
        "chip": chip,
        "model": model,
        "battery_kwh": battery_kwh,
        "vehicles_simulated": len(veh),
        "vehicles_represented": float(w.sum()),
        "opted_in": weighted("opted_in"),
        "nameplate_gw": nameplate_w / 1e9,
        "available_gw": available_w / 1e9,
        "available_share": available_w / nameplate_w if nameplate_w else None,
        "utilization": totals["busy_slots"] / totals["online_slots"] if totals["online_slots"] else None,
        "trips": int(round(weighted("trips"))),
        "km": weighted("km"),
        "grid_kwh": weighted("grid_wh") / WH_PER_KWH,
        "driving_kwh": weighted("driving_wh") / WH_PER_KWH,
        "inference_kwh": weighted("inference_wh") / WH_PER_KWH,
        "cost_usd": weighted("cost_usd"),
        "co2_kg": weighted("co2_g") / 1000.0,
        "payout_usd": weighted("payout_usd"),
        "jobs_completed": int(veh["jobs_completed"].sum()),
        "tokens_served": tokens,
        "inference_kwh_per_million_tokens": own_wh / WH_PER_KWH / tokens * 1e6 if tokens else None,
    }


def cohort_timeseries(names: list[str], frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The cohorts' level columns (:func:`sim.results.collect.level_columns`) as one long table
    with a ``cohort`` column after the time."""
    parts = []
    for name, df in zip(names, frames):
        df = df.copy()
        df.insert(2, "cohort", name)
        parts.append(df)
    return pd.concat(parts, ignore_index=True)
