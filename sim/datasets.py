"""The catalogue of public data sets fleetsim reads: where each comes from, and where it is here.

Each :class:`DataSet` is one file with a pinned SHA-256, downloaded from its original public
location by ``fleetsim data fetch NAME`` (with pooch, the optional ``data`` extra) into the user's
cache folder (:func:`cache_folder`). A scenario names a data set by its name as well as by a path
(``workload.trace = "azure_conv_2023"``); :func:`local_path` finds it:

1. the cached copy, ``<cache folder>/<relpath>``;
2. else a shared copy, ``<shared folder>/<relpath>``: the folder the environment variable
   ``FLEETSIM_DATA`` names, or, when it is not set, ``../shared/data`` next to a source checkout of
   fleetsim (the folder holding ``pyproject.toml`` and ``sim/``).

``relpath`` follows the layout of that shared folder, so a shared copy and a fetched one are the
same file at the same relative path. Errors are one line (:class:`FleetsimInputError`) naming the
command that fixes them.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from sim.core.errors import FleetsimInputError
from sim.core.inputs import quote

#: environment variable: the folder of shared copies (replaces ``../shared/data``)
DATA_ENV = "FLEETSIM_DATA"
#: environment variable: the cache folder fetched data sets go to (replaces the user's cache folder)
CACHE_ENV = "FLEETSIM_CACHE"
#: how to install the downloader
INSTALL_HINT = "pip install 'fleetsim[data]'"

#: the scenario keys that take a data set, and the kind of data set each takes
KEY_KINDS = {"workload.trace": "trace", "grid.carbon": "carbon", "fleet.robotaxi.depot.weather_epw": "weather"}

_AZURE_COMMIT = "790921015d50dd6aae7f7e47f39ba0e235ad6b08"  # Azure/AzurePublicDataset: the traces' only commit
_DCRL_COMMIT = "a92b4755aca560e34a98d14028dda629eb968482"  # HewlettPackard/dc-rl main, as in facts.md
_AZURE_RAW = f"https://raw.githubusercontent.com/Azure/AzurePublicDataset/{_AZURE_COMMIT}/data"
_DCRL_RAW = f"https://raw.githubusercontent.com/HewlettPackard/dc-rl/{_DCRL_COMMIT}/data"


@dataclass(frozen=True)
class DataSet:
    """One public data file: what it is, where it comes from, its checksum and terms."""

    name: str  # what a scenario writes, e.g. "azure_conv_2023"
    kind: str  # "trace", "carbon" or "weather" (see KEY_KINDS)
    description: str
    relpath: str  # path in the cache folder and in a shared folder, '/'-separated
    url: str  # the original public location the file is downloaded from
    sha256: str  # of the file's bytes, pinned
    size_bytes: int
    license: str
    citation: str
    origin: str = ""  # where the numbers come from, when the file is derived from another source

    @property
    def key(self) -> str:
        """The scenario key that takes this data set."""
        return next(k for k, kind in KEY_KINDS.items() if kind == self.kind)


_AZURE_LICENSE = "CC-BY-4.0 (Microsoft Azure Public Dataset)"
_AZURE_CITATION = ('Patel, Choukse, Zhang, Shah, Goiri, Maleki, Bianchini, "Splitwise: Efficient generative LLM '
                   'inference using phase splitting", ISCA 2024')
_DCRL_CITATION = ('Naug et al., "SustainDC: Benchmarking for Sustainable Data Center Control", NeurIPS 2024 '
                  "Datasets and Benchmarks (github.com/HewlettPackard/dc-rl)")


def _azure(service: str, label: str, rows: int, sha256: str, size: int) -> DataSet:
    file = f"AzureLLMInferenceTrace_{service}.csv"
    return DataSet(
        f"azure_{service}_2023", "trace",
        f"Azure LLM inference trace, {label} service, 2023-11-16, {rows:,} requests in about an hour "
        "(TIMESTAMP,ContextTokens,GeneratedTokens)",
        f"azure-llm-2023/{file}", f"{_AZURE_RAW}/{file}", sha256, size, _AZURE_LICENSE, _AZURE_CITATION)


def _eia930(area: str, label: str, sha256: str, size: int) -> DataSet:
    return DataSet(
        f"eia930_{area.lower()}_2022", "carbon",
        f"Hourly generation mix and average carbon intensity (avg_CI, gCO2/kWh), 2022, balancing area {area} "
        f"({label}), 8,760 hours",
        f"eia930-carbon-2022/{area}.csv", f"{_DCRL_RAW}/CarbonIntensity/{area}_NG_%26_avgCI.csv", sha256, size,
        "public domain (US EIA-930 data); the derived file MIT (HPE dc-rl)",
        f"U.S. Energy Information Administration, Form EIA-930 Hourly Electric Grid Monitor, 2022; {_DCRL_CITATION}",
        "US EIA-930 bulk data (api.eia.gov/bulk/EBA.zip), made into hourly gCO2/kWh per balancing area by the dc-rl "
        "project; fetched as that derived file")


def _epw(file: str, label: str, sha256: str, size: int) -> DataSet:
    return DataSet(
        f"epw_{label.lower().replace(' ', '_').replace('-', '_')}", "weather",
        f"Typical-year hourly weather (EnergyPlus EPW, TMYx 2007-2021), {label}, 8,760 hours",
        f"weather-epw/{file}", f"{_DCRL_RAW}/Weather/{file}", sha256, size,
        "TMYx from climate.onebuilding.org (from NCEI ISD and ERA5); the copy redistributed under MIT (HPE dc-rl)",
        f"Climate.OneBuilding.Org TMYx weather files (climate.onebuilding.org); {_DCRL_CITATION}",
        "climate.onebuilding.org TMYx (NCEI ISD / ERA5), renamed and redistributed by the dc-rl project; fetched "
        "from there")


#: every data set, by name; checksums and sizes computed from the files at the pinned commits
CATALOGUE: dict[str, DataSet] = {ds.name: ds for ds in (
    _azure("conv", "conversation", 19_366, "2f1e5b666d4e3055fdbba98598ce2ec307767b9064e03e2fa46676dbcc7d0bf8", 719_188),
    _azure("code", "coding", 8_819, "54e9a6d2a4bd06ba1e060304b900abbc74cbea53de96506e60fe5bb4f2277fb6", 320_117),
    _eia930("CISO", "California ISO", "0e6d562d4105e16e652cb48c8eb818a3110d063aca8cfa8a68fa24209db3aac4", 811_411),
    _eia930("ERCO", "ERCOT, Texas", "886432b2b988d9f4e280ee147dc45e095f6a4fffa30960a1254d4ee113bf2255", 682_127),
    _eia930("MISO", "Midcontinent ISO", "9f4a155433568fa1c014a5aefc8834556f5054d71d401b5c9cfba9211fef41ee", 856_891),
    _eia930("BPAT", "Bonneville Power", "ea4b1f6ea07c623958077590de68c42a693c12cb608e9e802ab70a055e59beaf", 636_031),
    _eia930("PJM", "PJM Interconnection", "371fcbccb6b7d768df41bffd4496d58295a86e6821daf9528f013931a047d21d", 872_193),
    _eia930("NYIS", "New York ISO", "fe64c68f40bc9caffcdb5eb760614f2cda984aa99e6d95328fb18847cce869b8", 659_008),
    _epw("USA_CA_San.Jose-Mineta.epw", "San Jose",
         "f28bcd302b333587d832ea2134d0a97b1c48b65f97dd13a12ed970dd78f06676", 1_605_443),
    _epw("USA_TX_Dallas-Fort.Worth.epw", "Dallas-Fort Worth",
         "40d4a49f123caf63bf1f2ef2012b4bda8c3c508e1ae233bd5a4c22c9b8390cee", 1_598_057),
)}


# ---------------------------------------------------------------- where the files are
def cache_folder() -> Path:
    """The folder fetched data sets go to: ``$FLEETSIM_CACHE``, else the user's cache folder for
    fleetsim as platformdirs (and pooch.os_cache) name it: ``~/.cache/fleetsim`` (or
    ``$XDG_CACHE_HOME/fleetsim``) on Linux, ``~/Library/Caches/fleetsim`` on macOS,
    ``%LOCALAPPDATA%\\fleetsim\\fleetsim\\Cache`` on Windows."""
    given = os.environ.get(CACHE_ENV)
    if given:
        return Path(given).expanduser()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "fleetsim" / "fleetsim" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "fleetsim"
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg) if Path(xdg).is_absolute() else Path.home() / ".cache") / "fleetsim"


def shared_folder() -> Path | None:
    """The folder of shared copies: ``$FLEETSIM_DATA`` when set (empty: none), else ``../shared/data``
    beside a source checkout of fleetsim (None when fleetsim is installed from a wheel)."""
    given = os.environ.get(DATA_ENV)
    if given is not None:
        return Path(given).expanduser() if given else None
    checkout = Path(__file__).resolve().parents[1]
    return checkout.parent / "shared" / "data" if (checkout / "pyproject.toml").is_file() else None


def cached_path(ds: DataSet) -> Path:
    """Where ``fleetsim data fetch`` puts ``ds`` (it may not be there yet)."""
    return cache_folder().joinpath(*ds.relpath.split("/"))


def local_path(ds: DataSet) -> tuple[Path, str] | None:
    """The local copy of ``ds`` and where it is ('cached' or 'shared copy'), or None if there is none."""
    cached = cached_path(ds)
    if cached.is_file():
        return cached, "cached"
    shared = shared_folder()
    if shared is not None:
        copy = shared.joinpath(*ds.relpath.split("/"))
        if copy.is_file():
            return copy, "shared copy"
    return None


# ---------------------------------------------------------------- names
def get(name: str) -> DataSet:
    """The data set ``name``, or a one-line error listing the names."""
    ds = CATALOGUE.get(name)
    if ds is None:
        raise FleetsimInputError(f"data set {quote(name)}: unknown; allowed: one of {', '.join(CATALOGUE)} "
                                 "(fleetsim data list)")
    return ds


def require(name: str) -> Path:
    """The local path of the data set ``name``; a one-line error naming the fetch command if it has none."""
    found = local_path(get(name))
    if found is None:
        raise FleetsimInputError(f"data set {quote(name)}: {_not_here(name)}")
    return found[0]


def _not_here(name: str) -> str:
    """Why the data set ``name`` has no local copy, and the command that fetches it."""
    shared = shared_folder()
    looked = f"{cache_folder()}" + (f" and {shared}" if shared is not None else "")
    return f"not downloaded (looked in {looked}); run `fleetsim data fetch {name}`"


def names_of_kind(kind: str) -> list[str]:
    """The names of the data sets of ``kind`` ('trace', 'carbon', 'weather')."""
    return [name for name, ds in CATALOGUE.items() if ds.kind == kind]


def scenario_path(key: str, value: object) -> str | None:
    """The local path that the data-set name ``value`` of scenario ``key`` stands for; None when
    ``value`` is not a data set's name (a path or a built-in name, left to the caller).

    Raises a one-line :class:`FleetsimInputError` naming the key for a data set of another kind, or
    one that is neither cached nor shared (naming ``fleetsim data fetch NAME``).
    """
    if key not in KEY_KINDS or not isinstance(value, str) or value not in CATALOGUE:
        return None
    ds = CATALOGUE[value]
    if ds.kind != KEY_KINDS[key]:
        allowed = ", ".join(names_of_kind(KEY_KINDS[key]))
        raise FleetsimInputError(f"{key} = {quote(value)}: a {ds.kind} data set; allowed: a {KEY_KINDS[key]} "
                                 f"data set ({allowed}) or a file path")
    found = local_path(ds)
    if found is None:
        raise FleetsimInputError(f"{key} = {quote(value)}: data set {_not_here(value)}")
    return str(found[0])


def data_set_of_file(path: str | Path) -> DataSet | None:
    """The data set whose file name ``path`` ends with (the catalogued or the original file name), or None."""
    name = Path(path).name
    for ds in CATALOGUE.values():
        if name in (ds.relpath.rsplit("/", 1)[-1], ds.url.rsplit("/", 1)[-1].replace("%26", "&")):
            return ds
    return None


# ---------------------------------------------------------------- download
def fetch(name: str) -> Path:
    """Download the data set ``name`` from its original location into :func:`cache_folder`, checked
    against its pinned SHA-256 (pooch keeps a verified copy and downloads nothing then)."""
    ds = get(name)
    try:
        import pooch
    except ImportError:
        raise FleetsimInputError(f"fleetsim data fetch needs pooch: {INSTALL_HINT}") from None
    target = cached_path(ds)
    try:
        path = pooch.retrieve(ds.url, known_hash=f"sha256:{ds.sha256}", fname=target.name, path=target.parent,
                              progressbar=False)
    except Exception as exc:  # network, HTTP, checksum mismatch, disk: one line, not a traceback
        raise FleetsimInputError(f"data set {quote(name)}: cannot fetch {ds.url} ({type(exc).__name__}: "
                                 f"{quote(' '.join(str(exc).split()))})") from None
    return Path(path)


def size_text(n_bytes: int) -> str:
    """'719 kB', '1.61 MB' (decimal units)."""
    return f"{n_bytes / 1e6:.3g} MB" if n_bytes >= 1e6 else f"{n_bytes / 1e3:.3g} kB"


def describe(ds: DataSet, where: str) -> list[str]:
    """The lines ``fleetsim data list`` prints for ``ds``; ``where`` says where its local copy is."""
    lines = [f"{ds.name}  ({ds.kind}, {size_text(ds.size_bytes)}; {where})",
             f"  {ds.description}",
             f"  use: {ds.key} = \"{ds.name}\"",
             f"  license: {ds.license}",
             f"  citation: {ds.citation}",
             f"  source: {ds.url}"]
    if ds.origin:
        lines.append(f"  origin: {ds.origin}")
    return lines
