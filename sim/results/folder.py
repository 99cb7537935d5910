"""A results folder on disk: writing it atomically (:func:`write_results`) and reading it back
(:func:`load_results`, all that ``reports`` ever sees of a run)."""
from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.publish import publish_folder
from sim.results.schema import (
    COHORTS,
    JOBS,
    SCENARIO,
    SERVING,
    SITES,
    SUMMARY,
    TABLE_FORMATS,
    TIMESERIES,
    VEHICLES,
    Results,
    table_file,
)
from sim.scenario import resolve


# ---------------------------------------------------------------------------------- files
def _json_default(x: Any) -> Any:
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    raise TypeError(f"not JSON serialisable: {type(x)}")


def write_results(results: Results, out_dir: str | Path,
                  before_publish: Callable[[Path], None] | None = None) -> Path:
    """Write ``results`` to ``out_dir`` atomically and return the folder.

    Files go to a temporary sibling folder; ``before_publish(tmp)`` may add more (figures);
    then the folder is swapped into place with its marker (:func:`sim.publish.publish_folder`),
    replacing an earlier results folder of the same name, never anything else. On any error the
    temporary folder is removed and nothing is left behind. Every number in the summary must be
    finite: a NaN or infinity is a bug and raises :class:`NonFiniteSummary` before anything is written.
    """
    out = Path(out_dir)
    check_finite(results.summary)

    def fill(tmp: Path) -> None:
        text = json.dumps(results.summary, indent=2, default=_json_default, allow_nan=False)
        (tmp / SUMMARY).write_text(text + "\n")
        (tmp / SCENARIO).write_text(results.scenario.to_toml())
        results.timeseries.to_csv(tmp / TIMESERIES, index=False, lineterminator="\n")
        fmt = results.scenario["report.tables"]
        for name, table in ((JOBS, results.jobs), (VEHICLES, results.vehicles)):
            write_table(table, tmp / table_file(name, fmt), fmt)
        if results.sites is not None:
            results.sites.to_csv(tmp / SITES, index=False, lineterminator="\n")
        if results.serving is not None:
            results.serving.to_csv(tmp / SERVING, index=False, lineterminator="\n")
        if results.cohorts is not None:
            results.cohorts.to_csv(tmp / COHORTS, index=False, lineterminator="\n")
        if before_publish is not None:
            before_publish(tmp)

    return publish_folder(out, fill, "results")


def write_table(table: pd.DataFrame, path: Path, fmt: str) -> None:
    """Write a job or vehicle table in format ``fmt`` (:data:`~sim.results.schema.TABLE_FORMATS`):
    CSV (plain or gzip, floats written exactly) or Parquet (zstd, typed columns, pyarrow)."""
    if fmt == "parquet":
        table.to_parquet(path, engine="pyarrow", compression="zstd", index=False)
    else:  # gzip without a file name or time in its header: the same run gives the same bytes
        compression = {"method": "gzip", "mtime": 0} if fmt == "csv.gz" else None
        table.to_csv(path, index=False, lineterminator="\n", compression=compression)


def read_table(folder: Path, name: str) -> pd.DataFrame:
    """Table ``name`` (``jobs.csv`` or ``vehicles.csv``) of a results folder, in whichever format it was written."""
    for fmt in TABLE_FORMATS:
        path = folder / table_file(name, fmt)
        if path.exists():
            return pd.read_parquet(path, engine="pyarrow") if fmt == "parquet" else pd.read_csv(path)
    raise FileNotFoundError(f"{folder}: no {name} (nor {name}.gz or {name.removesuffix('.csv')}.parquet)")


class NonFiniteSummary(RuntimeError):
    """A summary number is NaN or infinite: a bug in fleetsim, not bad input."""


def check_finite(summary: dict[str, Any], prefix: str = "") -> None:
    """Raise :class:`NonFiniteSummary` naming the first dotted key of ``summary`` whose number is not finite."""
    for key, value in summary.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            check_finite(value, path + ".")
        elif isinstance(value, (list, tuple)):
            check_finite({str(i): v for i, v in enumerate(value)}, path + ".")
        elif isinstance(value, (float, np.floating)) and not math.isfinite(value):
            raise NonFiniteSummary(f"summary value {path} = {value!r} is not finite")


def load_results(folder: str | Path) -> Results:
    """Read a results folder written by :func:`write_results`."""
    import tomllib

    f = Path(folder)
    if not (f / SUMMARY).exists():
        raise FileNotFoundError(f"{f}: not a fleetsim results folder (no {SUMMARY})")
    summary = json.loads((f / SUMMARY).read_text())
    scenario = resolve(tomllib.loads((f / SCENARIO).read_text()), str(f / SCENARIO))
    return Results(
        summary,
        pd.read_csv(f / TIMESERIES),
        read_table(f, JOBS),
        read_table(f, VEHICLES),
        scenario,
        pd.read_csv(f / SITES) if (f / SITES).exists() else None,
        pd.read_csv(f / SERVING) if (f / SERVING).exists() else None,
        pd.read_csv(f / COHORTS) if (f / COHORTS).exists() else None,
    )
