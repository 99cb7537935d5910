"""The data catalogue (sim.datasets) and ``fleetsim data``: pinned checksums equal the shared copies,
names resolve to files in scenarios, errors are one line naming the command that fixes them.

Nothing here downloads: the cache folder is a fresh temporary folder, and ``fetch`` runs against
a stand-in for pooch that records what it is asked for.
"""
from __future__ import annotations

import hashlib
import re
import shutil
import sys
import types
from pathlib import Path

import pytest

from grid.profiles import CARBON_PROFILES
from sim import datasets
from sim.cli import main
from sim.core.errors import ScenarioError
from sim.core.inputs import is_plain_name
from sim.runner import run
from sim.scenario import anchor_path, load_scenario
from sim.schema import TARIFF_NAMES

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
NAMES = list(datasets.CATALOGUE)


@pytest.fixture(autouse=True)
def empty_cache(tmp_path, monkeypatch) -> Path:
    """A fresh cache folder; the shared copies are found by their default place (../shared/data)."""
    cache = tmp_path / "cache"
    monkeypatch.setenv(datasets.CACHE_ENV, str(cache))
    monkeypatch.delenv(datasets.DATA_ENV, raising=False)
    return cache


def _shared(ds: datasets.DataSet) -> Path:
    path = SHARED / ds.relpath
    if not path.is_file():
        pytest.skip(f"{path} is absent (../shared/data holds the shared copies)")
    return path


def _error_line(capsys, code: int) -> str:
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("fleetsim: error: "), err
    return lines[0]


# ---------------------------------------------------------------- the catalogue
@pytest.mark.parametrize("name", NAMES)
def test_pinned_checksum_and_size_are_those_of_the_shared_copy(name):
    ds = datasets.CATALOGUE[name]
    data = _shared(ds).read_bytes()
    assert hashlib.sha256(data).hexdigest() == ds.sha256
    assert len(data) == ds.size_bytes


def test_every_entry_is_complete_and_no_name_clashes_with_a_built_in():
    assert {ds.kind for ds in datasets.CATALOGUE.values()} == set(datasets.KEY_KINDS.values())
    assert len({ds.relpath for ds in datasets.CATALOGUE.values()}) == len(NAMES)
    for name, ds in datasets.CATALOGUE.items():
        assert ds.name == name and is_plain_name(name) and "." not in name
        assert name not in CARBON_PROFILES and name not in TARIFF_NAMES
        assert re.fullmatch(r"[0-9a-f]{64}", ds.sha256)
        # a raw file at a pinned commit, so that the pinned checksum stays the file's
        assert re.fullmatch(r"https://raw\.githubusercontent\.com/[\w.-]+/[\w.-]+/[0-9a-f]{40}/\S+", ds.url), ds.url
        assert ds.license and ds.citation and ds.description and ds.size_bytes > 0
    assert {"azure_conv_2023", "azure_code_2023", "eia930_ciso_2022", "epw_san_jose"} <= set(NAMES)


def test_the_data_page_names_every_data_set():
    page = (ROOT / "docs" / "data.md").read_text()
    assert all(f"`{name}`" in page for name in NAMES)


# ---------------------------------------------------------------- where a name resolves
def test_a_name_resolves_to_the_cached_copy_before_the_shared_one(empty_cache):
    ds = datasets.CATALOGUE["azure_code_2023"]
    shared = _shared(ds)
    assert datasets.shared_folder() == SHARED
    assert datasets.require(ds.name) == shared
    cached = empty_cache / ds.relpath
    cached.parent.mkdir(parents=True)
    cached.write_bytes(shared.read_bytes())
    assert datasets.require(ds.name) == cached
    assert datasets.local_path(ds) == (cached, "cached")


def test_fleetsim_data_names_the_shared_folder(tmp_path, monkeypatch):
    ds = datasets.CATALOGUE["epw_dallas_fort_worth"]
    copy = tmp_path / "mine" / ds.relpath
    copy.parent.mkdir(parents=True)
    copy.write_text("stand-in")
    monkeypatch.setenv(datasets.DATA_ENV, str(tmp_path / "mine"))
    assert datasets.require(ds.name) == copy
    with pytest.raises(ScenarioError, match="fleetsim data fetch azure_conv_2023"):  # not in that folder
        load_scenario(None, ["workload.trace=azure_conv_2023"])


# ---------------------------------------------------------------- fleetsim data list | path
def test_data_list_prints_license_and_citation_of_every_entry(capsys):
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    blocks = re.split(r"\n(?=\S)", out.strip())
    by_name = {block.split()[0]: block for block in blocks}
    assert list(by_name)[:len(NAMES)] == NAMES
    for name, ds in datasets.CATALOGUE.items():
        block = by_name[name]
        assert f"license: {ds.license}" in block and f"citation: {ds.citation}" in block
        assert ds.description in block and datasets.size_text(ds.size_bytes) in block and ds.url in block
    assert "cache folder:" in blocks[-1]


def test_data_path_prints_the_shared_copy(capsys):
    ds = datasets.CATALOGUE["eia930_erco_2022"]
    shared = _shared(ds)
    assert main(["data", "path", ds.name]) == 0
    assert capsys.readouterr().out == f"{shared}\n"


def test_data_path_of_an_unknown_name_is_one_line(capsys):
    line = _error_line(capsys, main(["data", "path", "azure_conv_2022"]))
    assert "unknown" in line and "azure_conv_2023" in line and "fleetsim data list" in line


def test_data_path_of_a_name_not_downloaded_names_the_fetch_command(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv(datasets.DATA_ENV, str(tmp_path / "nothing here"))
    line = _error_line(capsys, main(["data", "path", "epw_san_jose"]))
    assert line.endswith("run `fleetsim data fetch epw_san_jose`"), line


# ---------------------------------------------------------------- fleetsim data fetch (never downloads)
def test_fetch_without_pooch_names_the_extra(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "pooch", None)  # import pooch raises ImportError
    line = _error_line(capsys, main(["data", "fetch", "azure_conv_2023"]))
    assert "pip install 'fleetsim[data]'" in line


def _fake_pooch(monkeypatch, retrieve) -> list[dict]:
    calls: list[dict] = []

    def record(url, known_hash, fname=None, path=None, progressbar=False):
        calls.append({"url": url, "known_hash": known_hash, "fname": fname, "path": Path(path)})
        return retrieve(url, known_hash, fname, Path(path))

    monkeypatch.setitem(sys.modules, "pooch", types.SimpleNamespace(retrieve=record))
    return calls


def test_fetch_asks_for_the_pinned_url_and_checksum_into_the_cache(capsys, monkeypatch, empty_cache):
    def retrieve(url, known_hash, fname, path):
        path.mkdir(parents=True, exist_ok=True)
        (path / fname).write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n")
        return str(path / fname)

    calls = _fake_pooch(monkeypatch, retrieve)
    assert main(["data", "fetch", "azure_code_2023", "eia930_pjm_2022"]) == 0
    out = capsys.readouterr().out
    for call, name in zip(calls, ["azure_code_2023", "eia930_pjm_2022"], strict=True):
        ds = datasets.CATALOGUE[name]
        assert call == {"url": ds.url, "known_hash": f"sha256:{ds.sha256}", "fname": ds.relpath.split("/")[-1],
                        "path": empty_cache / ds.relpath.rsplit("/", 1)[0]}
        assert f"license: {ds.license}" in out and f"citation: {ds.citation}" in out
    assert datasets.require("azure_code_2023") == empty_cache / "azure-llm-2023" / "AzureLLMInferenceTrace_code.csv"


def test_fetch_checks_every_name_before_downloading(capsys, monkeypatch):
    calls = _fake_pooch(monkeypatch, lambda *a: pytest.fail("downloaded"))
    line = _error_line(capsys, main(["data", "fetch", "azure_conv_2023", "nope"]))
    assert "'nope': unknown" in line and calls == []


def test_a_failed_download_is_one_line(capsys, monkeypatch):
    def retrieve(url, known_hash, fname, path):
        raise ValueError("SHA256 hash of downloaded file (x) does not match\nthe known hash: expected y.")

    _fake_pooch(monkeypatch, retrieve)
    line = _error_line(capsys, main(["data", "fetch", "epw_san_jose"]))
    assert "cannot fetch https://" in line and "ValueError" in line and "does not match the known hash" in line


# ---------------------------------------------------------------- scenarios name data sets
TINY = ('[run]\nname = "named"\ndays = 0.004\nstart = "2022-06-07T18:00:00 America/Los_Angeles"\n'
        'sample_interval_s = 60\n[fleet]\nvehicles = 60\n'
        '[workload]\ntrace = "{trace}"\n[grid]\ncarbon = "{carbon}"\n')


def _headline(summary: dict) -> dict:
    return {k: summary[k] for k in ("jobs", "energy_kwh", "cost_usd", "co2_kg", "utilization", "checks")}


def test_a_scenario_naming_data_sets_runs_as_its_path_form(tmp_path):
    trace, carbon = (_shared(datasets.CATALOGUE[n]) for n in ("azure_code_2023", "eia930_erco_2022"))
    (tmp_path / "named.toml").write_text(TINY.format(trace="azure_code_2023", carbon="eia930_erco_2022"))
    (tmp_path / "paths.toml").write_text(TINY.format(trace=trace, carbon=carbon))
    named, paths = load_scenario(tmp_path / "named.toml"), load_scenario(tmp_path / "paths.toml")
    assert (named["workload.trace"], named["grid.carbon"]) == (str(trace), str(carbon))
    by_name, by_path = run(named).summary, run(paths).summary
    assert by_name["jobs"]["arrived"] > 100
    assert _headline(by_name) == _headline(by_path)


def test_names_work_in_overrides_and_sweep_values_and_built_in_profiles_stay(tmp_path):
    weather = _shared(datasets.CATALOGUE["epw_san_jose"])
    sc = load_scenario(ROOT / "examples" / "depot_solar.toml", ["grid.carbon=eia930_ciso_2022"])
    assert sc["fleet.robotaxi.depot.weather_epw"] == str(weather)
    assert sc["grid.carbon"] == str(SHARED / "eia930-carbon-2022" / "CISO.csv")
    assert anchor_path("workload.trace", "azure_conv_2023", tmp_path) == str(_shared(datasets.CATALOGUE[NAMES[0]]))
    assert load_scenario(None, ["grid.carbon=ercot_2022"])["grid.carbon"] == "ercot_2022"
    assert anchor_path("grid.carbon", "caiso_2022", tmp_path) == "caiso_2022"


@pytest.mark.parametrize("setting, fragments", [
    ("grid.carbon=azure_conv_2023", ["a trace data set", "eia930_ciso_2022"]),
    ("fleet.robotaxi.depot.weather_epw=eia930_ciso_2022", ["a carbon data set", "epw_san_jose"]),
    ("grid.carbon=eia930_cal_2022", ["no such data set or file", "caiso_2022", "eia930_ciso_2022"]),
    ("workload.trace=azure_chat_2023", ["no such data set or file", "azure_conv_2023", "fleetsim data list"]),
])
def test_a_wrong_name_is_one_line_with_the_names_allowed(capsys, setting, fragments):
    line = _error_line(capsys, main(["check", str(ROOT / "examples" / "default.toml"), "--set", setting]))
    assert line.startswith(f"fleetsim: error: {setting.split('=')[0]} = ")
    assert all(f in line for f in fragments), line


def test_a_missing_data_set_file_names_the_fetch_command(capsys, tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[workload]\ntrace = "../elsewhere/AzureLLMInferenceTrace_conv.csv"\n')
    line = _error_line(capsys, main(["check", str(path)]))
    assert "file not found; it is the data set 'azure_conv_2023'" in line
    assert "`fleetsim data fetch azure_conv_2023`" in line and 'trace = "azure_conv_2023"' in line


def test_any_missing_csv_names_the_data_list(capsys, tmp_path):
    line = _error_line(capsys, main(["check", str(ROOT / "examples" / "default.toml"),
                                     "--set", f"grid.carbon={tmp_path / 'mine.csv'}"]))
    assert line.endswith("file not found (public data sets: fleetsim data list)"), line


def test_the_examples_use_names_that_a_shared_copy_serves(tmp_path):
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent")
    shutil.copy(ROOT / "examples" / "azure_replay.toml", tmp_path / "a.toml")  # a name needs no relative path
    assert load_scenario(tmp_path / "a.toml")["workload.trace"] == str(SHARED / datasets.CATALOGUE[
        "azure_conv_2023"].relpath)
