"""The results folder's format in one place: its file names, the names of the time-series levels,
energy categories, job classes and outcomes, and the in-memory :class:`Results`.

``reports`` reads folders through these names only. They are the folder's format, so they are
written out here rather than imported from the simulation; tests/model/test_results.py checks that the
collector's sources (:mod:`fleet.channels`, :mod:`fleet.jobs`) use the same ones.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from sim.scenario import Scenario

SUMMARY = "summary.json"


SCENARIO = "scenario.toml"


TIMESERIES = "timeseries.csv"


JOBS = "jobs.csv"


VEHICLES = "vehicles.csv"


SITES = "sites.csv"


SERVING = "serving.csv"  # batched serving: the chip's curve, the points the run visited, measurements


COHORTS = "cohorts.csv"  # a fleet of several cohorts: each cohort's sampled levels


#: the formats of the job and vehicle tables (``report.tables``): jobs.csv, jobs.csv.gz or jobs.parquet
TABLE_FORMATS = ("csv", "csv.gz", "parquet")


def table_file(name: str, fmt: str) -> str:
    """The file of table ``name`` (``jobs.csv`` or ``vehicles.csv``) in format ``fmt`` of :data:`TABLE_FORMATS`."""
    return name.removesuffix(".csv") + "." + fmt


WH_PER_KWH = 1000.0
FIGURES = "figures"  # folder of the PNG figures
REPORT = "report.html"

#: energy categories of the load side: each has a ``power_w_<category>`` level (W) in timeseries.csv
#: and an ``energy_kwh.<category>`` summary key
ENERGY_CATEGORIES = ("driving", "inference_active", "inference_idle", "awake_overhead", "sleep",
                     "charging_losses", "discharge_losses")
#: values of jobs.csv's ``job_class`` column, in the order of their codes
JOB_CLASSES = ("interactive", "batch")
#: values of jobs.csv's ``outcome`` column, in the order of their codes
OUTCOMES = ("queued", "running", "completed", "dropped", "overflow")


@dataclass
class Results:
    """A finished run: the summary dict and three tables."""

    summary: dict[str, Any]
    timeseries: pd.DataFrame
    jobs: pd.DataFrame
    vehicles: pd.DataFrame
    scenario: Scenario
    sites: pd.DataFrame | None = None  # the depot's sampled draw, plugged and waiting cars (robotaxi runs)
    serving: pd.DataFrame | None = None  # batched serving's operating points (SERVING)
    cohorts: pd.DataFrame | None = None  # each cohort's sampled levels, when there are several (COHORTS)

    def metric(self, dotted: str) -> Any:
        """A summary value by dotted path, e.g. ``jobs.latency_s.p95``."""
        node: Any = self.summary
        for part in dotted.split("."):
            node = node[part]
        return node
