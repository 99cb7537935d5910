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
from sim.results.schema import COHORTS, JOBS, SCENARIO, SERVING, SITES, SUMMARY, TIMESERIES, VEHICLES, Results
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
        results.jobs.to_csv(tmp / JOBS, index=False, lineterminator="\n")
        results.vehicles.to_csv(tmp / VEHICLES, index=False, lineterminator="\n")
        if results.sites is not None:
            results.sites.to_csv(tmp / SITES, index=False, lineterminator="\n")
        if results.serving is not None:
            results.serving.to_csv(tmp / SERVING, index=False, lineterminator="\n")
        if results.cohorts is not None:
            results.cohorts.to_csv(tmp / COHORTS, index=False, lineterminator="\n")
        if before_publish is not None:
            before_publish(tmp)

    return publish_folder(out, fill, "results")


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
        pd.read_csv(f / JOBS),
        pd.read_csv(f / VEHICLES),
        scenario,
        pd.read_csv(f / SITES) if (f / SITES).exists() else None,
        pd.read_csv(f / SERVING) if (f / SERVING).exists() else None,
        pd.read_csv(f / COHORTS) if (f / COHORTS).exists() else None,
    )
