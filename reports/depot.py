"""The depot-site figure: each charging site's load against its power cap and its solar output.

Drawn only when the results folder holds ``sites.csv``: one row per sample interval per site with
columns ``t_s`` (interval end, simulation seconds), ``time`` (its local ISO time), ``site``,
``load_w``, ``cap_w``, ``solar_w`` (interval means, W) and optionally ``plugged`` and ``waiting``
(mean vehicles). A cap that is missing, 0 or infinite means "no cap" and is not drawn.
"""
from __future__ import annotations

from datetime import tzinfo
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from reports import style
from sim.results import Results

SITES_FILE = "sites.csv"
SITE_COLUMNS = ("t_s", "time", "site", "load_w", "cap_w", "solar_w")
MAX_PANELS = 4
LOAD_COLOR = style.STATE_COLORS["charging"]


def read_sites(folder: str | Path) -> pd.DataFrame | None:
    """``folder/sites.csv`` as a table, or None when the folder has none.

    Raises :class:`ValueError` naming the file and the missing columns when it lacks one of
    :data:`SITE_COLUMNS`.
    """
    path = Path(folder) / SITES_FILE
    if not path.is_file():
        return None
    sites = pd.read_csv(path, dtype={"site": str})
    missing = [c for c in SITE_COLUMNS if c not in sites.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(SITE_COLUMNS)}")
    return sites


def site_samples(results: Results, folder: str | Path) -> pd.DataFrame | None:
    """The run's per-site samples: ``results.sites`` if the loader provides it, else ``sites.csv``."""
    sites = getattr(results, "sites", None)
    return sites if isinstance(sites, pd.DataFrame) else read_sites(folder)


def site_energy_wh(sites: pd.DataFrame) -> pd.Series:
    """Energy delivered per site (Wh) over the run: load × interval length, summed."""
    s = sites.sort_values(["site", "t_s"], kind="stable")
    dt = s.groupby("site", sort=False)["t_s"].diff().fillna(s["t_s"]).to_numpy(dtype=float)
    wh = pd.Series(s["load_w"].to_numpy(dtype=float) * dt / 3600.0, index=s.index)
    return wh.groupby(s["site"].astype(str)).sum()


def busiest_sites(sites: pd.DataFrame, n: int = MAX_PANELS) -> list[str]:
    """The ``n`` sites that delivered the most energy, busiest first (ties by name)."""
    e = site_energy_wh(sites)
    order = sorted(e.index, key=lambda name: (-float(e[name]), str(name)))
    return [str(name) for name in order[:n]]


def _steps(values: pd.Series | np.ndarray) -> np.ndarray:
    """Interval values with the last repeated, to pair with the interval edges in a post step."""
    v = np.asarray(values, dtype=float)
    return np.concatenate([v, v[-1:]])


def _site_panel(ax: Axes, g: pd.DataFrame, name: str, tz: tzinfo | None, div: float, unit: str,
                max_ticks: int) -> None:
    """Solar (filled, when the site has any), load (step and light fill) and cap (dashed step) of one
    site, in ``unit``."""
    lt = style.local_times(g, tz)
    ends = pd.to_datetime(g["time"], utc=True, format="ISO8601").dt.tz_convert(lt.tz)
    edges = pd.DatetimeIndex([lt.start, *ends])
    load = g["load_w"].to_numpy(dtype=float)
    cap = g["cap_w"].to_numpy(dtype=float)
    cap = np.where(np.isfinite(cap) & (cap > 0), cap, np.nan)
    if np.any(g["solar_w"].to_numpy(dtype=float) > 0):  # no array, no fill and no legend entry
        ax.fill_between(edges, _steps(g["solar_w"]) / div, step="post", color=style.SOLAR_COLOR, alpha=0.45, lw=0,
                        label="solar output", gid=f"solar:{name}")
    ax.fill_between(edges, _steps(load) / div, step="post", color=LOAD_COLOR, alpha=0.25, lw=0)
    ax.step(edges, _steps(load) / div, where="post", color=LOAD_COLOR, lw=1.4, label="site load",
            gid=f"load:{name}")
    if np.any(np.isfinite(cap)):
        ax.step(edges, _steps(cap) / div, where="post", color=style.CAP_COLOR, lw=1.3, ls="--",
                label="site power cap", gid=f"cap:{name}")
    step = style.fmt_duration(float(np.median(np.diff(np.concatenate([[0.0], g["t_s"].to_numpy(dtype=float)])))))
    facts = [f"highest {step} mean {load.max() / div:,.3g} {unit}"]  # not the instantaneous peak of summary.json
    over = int(np.sum(load > cap * (1.0 + 1e-9)))  # NaN caps compare False
    if over:
        facts.append(f"over the cap in {over} interval{'s' if over > 1 else ''}")
    if "plugged" in g:
        facts.append(f"{g['plugged'].mean():.3g} plugged on average")
    if "waiting" in g and g["waiting"].max() > 0:
        facts.append(f"up to {g['waiting'].max():.3g} waiting")
    ax.set_title(f"{name}: " + ", ".join(facts), fontsize="medium")
    ax.set_ylabel(f"power ({unit})")
    ax.grid(axis="y", alpha=0.3)
    style.time_axis(ax, lt, max_ticks)


def make_depot(sites: pd.DataFrame | None, dpi: int = 110, tz: tzinfo | None = None,
               subtitle: str = "") -> Figure | None:
    """One panel per site (the busiest :data:`MAX_PANELS` if more): load, cap and solar; None without sites."""
    if sites is None:
        return None
    chosen = busiest_sites(sites) if len(sites) else []
    n = max(len(chosen), 1)
    fig = style.new_figure(style.SIZE_WIDE if n == 1 else style.SIZE_TALL, dpi)
    rows, cols = (n, 1) if n <= 3 else (2, 2)
    axes = fig.subplots(rows, cols, sharex=True, squeeze=False).ravel()
    n_all = sites["site"].nunique()
    more = f"; the {len(chosen)} busiest of {n_all} sites" if n_all > len(chosen) else ""
    note = f" ({subtitle}{more})" if subtitle else (f" ({more[2:]})" if more else "")
    sunny = bool(len(sites)) and bool(np.any(sites["solar_w"].to_numpy(dtype=float) > 0))
    fig.suptitle(f"Depot site: load against its cap{' and solar' if sunny else ''}{note}")
    if not chosen:
        style.empty_panel(axes[0], "no site samples in this run")
        return fig
    groups = {name: g.sort_values("t_s", kind="stable").reset_index(drop=True)
              for name, g in sites.groupby(sites["site"].astype(str), sort=False) if name in chosen}
    values = np.concatenate([g[["load_w", "cap_w", "solar_w"]].to_numpy(dtype=float).ravel()
                             for g in groups.values()])
    div, unit = style.power_unit(float(np.max(values[np.isfinite(values)], initial=0.0)))
    for ax, name in zip(axes, chosen, strict=True):
        _site_panel(ax, groups[name], name, tz, div, unit, 12 if cols == 1 else 6)
        if not ax.get_subplotspec().is_last_row():
            ax.set_xlabel("")
    legend: dict[str, Any] = {}
    for ax in axes[: len(chosen)]:
        ax.set_ylim(bottom=0)
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(label, handle)
    fig.legend(list(legend.values()), list(legend), loc="outside lower center", ncol=len(legend), frameon=False)
    return fig
