"""The results of a run: summary metrics, time series, job and vehicle records.

- :mod:`sim.results.schema`: the folder's format (file, column and level names) and :class:`Results`;
- :mod:`sim.results.collect`: a finished simulation turned into :class:`Results` (``assemble_results``);
- :mod:`sim.results.metrics`: metrics as pure functions of the tables;
- :mod:`sim.results.folder`: writing a folder atomically and reading it back.

Folder contents: ``summary.json``, ``scenario.toml``, ``timeseries.csv``, ``jobs.csv``,
``vehicles.csv``, ``sites.csv`` (robotaxi runs), ``fleetsim.json``, and (drawn by ``reports``)
``figures/*.png`` and ``report.html``.
"""
from sim.results.collect import assemble_results
from sim.results.folder import NonFiniteSummary, check_finite, load_results, write_results
from sim.results.metrics import attribute, gini, payouts_usd
from sim.results.schema import JOBS, SCENARIO, SITES, SUMMARY, TIMESERIES, VEHICLES, WH_PER_KWH, Results

__all__ = ["assemble_results", "NonFiniteSummary", "check_finite", "load_results", "write_results", "attribute",
           "gini", "payouts_usd", "JOBS", "SCENARIO", "SITES", "SUMMARY", "TIMESERIES", "VEHICLES", "WH_PER_KWH",
           "Results"]
