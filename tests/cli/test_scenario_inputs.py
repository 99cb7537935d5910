"""Scenario keys and policy loading refuse bad input in one line, before anything runs or is written.

Each test states the rule it checks: names are not paths, start instants stay in a representable
range, policy references are well formed and load only from the scenario's own folder, policy
code is parsed before it is executed, numbers stay physically meaningful, and malformed TOML or
``--set`` values never raise past the command line.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from sim.cli import main
from sim.core.errors import ScenarioError
from sim.core.inputs import NAME_ALLOWED
from sim.scenario import default_scenario, load_scenario, parse_override
from sim.schema import KEYS_BY_PATH

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--set", "run.days=0.05", "--set", "fleet.vehicles=20", "--no-report", "--no-progress"]

POLICY_SOURCE = (
    "from fleet.policies import DispatchPolicy\n\n\n"
    "class Mine(DispatchPolicy):\n"
    "    def select(self, job):\n"
    "        return self.view.least_loaded(self.rng)\n"
)


def marker_source(marker: Path, extra: str = "") -> str:
    """Python source whose top level writes ``marker`` when it is executed."""
    return f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n{extra}"


def one_error_line(capsys, code: int) -> str:
    """The single error line of a refused command (exit 2, no traceback, at most 300 characters)."""
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("fleetsim: error: "), err
    assert len(lines[0]) <= 300, (len(lines[0]), lines[0])
    return lines[0]


def run_refused(capsys, tmp_path: Path, *args: str) -> str:
    """``fleetsim run`` with a tiny scenario and ``args``: refused in one line, no results folder."""
    out = tmp_path / "r"
    code = main(["run", *TINY, "--out", str(out), *args])
    line = one_error_line(capsys, code)
    assert not out.exists()
    return line


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string (JSON string syntax is valid TOML for these values)."""
    return json.dumps(text)


# =========================================================================== 1. names are not paths
BAD_NAMES = ["../../x", "/tmp/fleetsim_abs_name", "a/b", "a$b", "x^2", "", ".hidden", "..", "a" * 65, "a b",
             "tab\there", "caf\u00e9"]


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_run_name_must_be_a_plain_name(capsys, tmp_path, name):
    line = run_refused(capsys, tmp_path, "--set", f"run.name={toml_string(name)}")
    assert "run.name = " in line and NAME_ALLOWED in line


def test_run_name_cannot_write_outside_the_results_folder(capsys, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    code = main(["run", *TINY, "--set", 'run.name="../escaped"'])
    one_error_line(capsys, code)
    assert not (tmp_path / "escaped_seed1").exists() and not (work / "results").exists()


@pytest.mark.parametrize("name", ["default", "my-run_2.0", "A" * 64, "x.y"])
def test_plain_run_names_are_accepted(name):
    assert load_scenario(None, [f"run.name={toml_string(name)}"])["run.name"] == name


def test_run_name_in_a_scenario_file_names_the_key(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[run]\nname = "../../etc/x"\n')
    with pytest.raises(ScenarioError, match=r"^run\.name = '\.\./\.\./etc/x': allowed: 1 to 64"):
        load_scenario(path)


def sweep_file(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text('[set]\n"run.days" = 0.05\n"fleet.vehicles" = 20\n' + body)
    return path


@pytest.mark.parametrize("name", ["../x", "a" * 65, "a$b", ".hidden"], ids=repr)
def test_sweep_name_must_be_a_plain_name(tmp_path, name):
    from sim.studies.sweep_file import read_sweep

    path = sweep_file(tmp_path, "s.toml", f"[sweep]\nname = {toml_string(name)}\n")
    with pytest.raises(ScenarioError) as exc:
        read_sweep(path)
    assert str(exc.value).startswith(f"{path}: [sweep] name = ") and NAME_ALLOWED in str(exc.value)


def test_sweep_default_name_from_an_odd_file_name_asks_for_a_name(capsys, tmp_path):
    path = sweep_file(tmp_path, "a b$.toml", "")
    out = tmp_path / "out"
    line = one_error_line(capsys, main(["sweep", str(path), "--out", str(out), "--no-progress"]))
    assert "set [sweep] name" in line and not out.exists()


def test_sweep_default_name_is_the_file_stem(tmp_path):
    from sim.studies.sweep_file import read_sweep

    assert read_sweep(sweep_file(tmp_path, "policy-scan.toml", "")).name == "policy-scan"


TUNE_BODY = ('[set]\n"run.days" = 0.05\n[params]\n"fleet.opt_in_share" = { low = 0.1, high = 0.9 }\n'
             '[objective]\n"co2_kg.total" = 1.0\n')


@pytest.mark.parametrize("name", ["../x", "a" * 65, "a$b", "..", ".hidden"], ids=repr)
def test_tune_name_must_be_a_plain_name(tmp_path, name):
    from sim.studies.tune_spec import load_tune

    path = tmp_path / "t.toml"
    path.write_text(f"[tune]\nname = {toml_string(name)}\n" + TUNE_BODY)
    with pytest.raises(ScenarioError) as exc:
        load_tune(path)
    assert str(exc.value).startswith(f"{path}: [tune] name = ") and NAME_ALLOWED in str(exc.value)


def test_tune_default_name_from_an_odd_file_name_asks_for_a_name(tmp_path):
    from sim.studies.tune_spec import load_tune

    path = tmp_path / "a b$.toml"
    path.write_text(TUNE_BODY)
    with pytest.raises(ScenarioError, match=r"set \[tune\] name"):
        load_tune(path)
    good = tmp_path / "co2-tune.toml"
    good.write_text(TUNE_BODY)
    assert load_tune(good).name == "co2-tune"


# =========================================================================== 2. start instants
BAD_STARTS = [
    "2022-13-06T00:00 America/Los_Angeles",   # month 13
    "2022-06-32T00:00 Europe/Paris",          # day 32
    "2022-06-06T25:00 Europe/Paris",          # hour 25
    "2022-02-29T00:00 UTC",                   # not a leap year
    "0001-01-01T00:00 America/Los_Angeles",   # year 1: before the range (UTC would be year 0)
    "9999-12-31T23:00 America/New_York",      # year 9999: the run's end is not representable
    "1899-12-31T00:00 UTC",                   # just before the range
    "2201-01-01T00:00 UTC",                   # just after it
    "1899-12-31T00:00:00+00:00",              # the offset form, same rules
    "9999-12-31T23:00:00-05:00",
]


@pytest.mark.parametrize("start", BAD_STARTS)
def test_impossible_or_out_of_range_start_is_one_line(capsys, tmp_path, start):
    line = run_refused(capsys, tmp_path, "--set", f"run.start={toml_string(start)}")
    assert "run.start = " in line and "allowed" in line


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00Z", "9999-12-31T23:00:00-05:00", "1899-06-06T00:00:00Z"])
def test_toml_datetimes_out_of_range_are_one_line(capsys, tmp_path, value):
    path = tmp_path / "s.toml"
    path.write_text(f"[run]\nstart = {value}\n")
    code = main(["check", str(path)])
    line = one_error_line(capsys, code)
    assert "run.start = " in line and "1900" in line


def test_run_end_must_stay_in_the_range(tmp_path):
    with pytest.raises(ScenarioError, match=r"run\.days = 3660\.0: .*2200"):
        load_scenario(None, ['run.start="2200-06-06T00:00 UTC"', "run.days=3660"])
    # the same start with a short run is fine: it ends inside the range
    sc = load_scenario(None, ['run.start="2200-06-06T00:00 UTC"', "run.days=1"])
    assert sc.start_datetime().year == 2200


@pytest.mark.parametrize("start", ["1900-01-01T00:00 America/Los_Angeles", "2200-12-30T00:00 Asia/Kolkata",
                                   "1900-01-01T00:00:00+00:00"])
def test_start_at_the_ends_of_the_range_runs_with_finite_numbers(tmp_path, start):
    from sim.runner import run

    sc = load_scenario(None, [f"run.start={toml_string(start)}", "run.days=0.05", "fleet.vehicles=20"])
    summary = run(sc).summary
    json.dumps(summary, allow_nan=False)  # no inf or nan anywhere
    assert summary["checks"]["passed"]


# =========================================================================== 3. policy references
@pytest.mark.parametrize("policy", [":X", ".x:Y", "x:", "a:b:c", "fleet.policies:DispatchPolicy",
                                    "fleet.policies.base:DispatchPolicy", "mine.txt:Mine", "dir/mod:Mine",
                                    "fleet.policies:register"])
def test_malformed_or_base_policy_is_one_line(capsys, tmp_path, policy):
    line = run_refused(capsys, tmp_path, "--set", f"dispatch.policy={toml_string(policy)}")
    assert "dispatch.policy" in line


def test_policy_syntax_is_checked_when_the_scenario_is_read():
    with pytest.raises(ScenarioError, match=r"^dispatch\.policy = 'a:b:c': .*allowed: "):
        default_scenario().with_overrides({"dispatch.policy": "a:b:c"})


def test_policy_must_define_select():
    from fleet.policies import policy_class

    with pytest.raises(ScenarioError, match="select"):
        policy_class(f"{__name__}:NoSelect")


from fleet.policies import DispatchPolicy  # noqa: E402


class NoSelect(DispatchPolicy):
    """A policy class that forgot to choose a vehicle."""


# =========================================================================== 4a. where policy files may be
def policy_tree(tmp_path: Path) -> tuple[Path, Path]:
    """``tmp/scen/`` (the scenario folder) and ``tmp/outside.py`` (a valid policy that marks its run)."""
    scen = tmp_path / "scen"
    scen.mkdir()
    marker = tmp_path / "outside_ran"
    outside = tmp_path / "outside.py"
    outside.write_text(marker_source(marker, "\n" + POLICY_SOURCE))
    return scen, outside


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink", "dotdot_inside"])
def test_policy_file_outside_the_scenario_folder_is_refused(capsys, tmp_path, how):
    scen, outside = policy_tree(tmp_path)
    if how == "dotdot":
        ref = "../outside.py:Mine"
    elif how == "absolute":
        ref = f"{outside}:Mine"
    elif how == "dotdot_inside":  # '..' that comes back inside is still refused: no '..' at all
        (scen / "sub").mkdir()
        ref = "sub/../../outside.py:Mine"
    else:
        (scen / "link.py").symlink_to(outside)
        ref = "link.py:Mine"
    path = scen / "s.toml"
    path.write_text(f"[dispatch]\npolicy = {toml_string(ref)}\n")
    with pytest.raises(ScenarioError, match=r"^dispatch\.policy = "):
        load_scenario(path)
    out = tmp_path / "r"
    line = one_error_line(capsys, main(["run", str(path), *TINY, "--out", str(out)]))
    assert "dispatch.policy" in line and not out.exists()
    assert not (tmp_path / "outside_ran").exists()


@pytest.mark.parametrize("ref", ["../outside.py:Mine", "ABSOLUTE"])
def test_set_policy_file_must_be_in_the_current_folder(capsys, tmp_path, monkeypatch, ref):
    scen, outside = policy_tree(tmp_path)
    monkeypatch.chdir(scen)
    ref = f"{outside}:Mine" if ref == "ABSOLUTE" else ref
    line = run_refused(capsys, tmp_path, "--set", f"dispatch.policy={toml_string(ref)}")
    assert "current folder" in line
    assert not (tmp_path / "outside_ran").exists()


def test_policy_files_inside_the_folder_still_load(tmp_path, monkeypatch):
    from fleet.policies import policy_class

    scen = tmp_path / "scen"
    (scen / "sub").mkdir(parents=True)
    (scen / "sub" / "mine.py").write_text(POLICY_SOURCE)
    (scen / "s.toml").write_text('[dispatch]\npolicy = "sub/mine.py:Mine"\n')
    sc = load_scenario(scen / "s.toml")
    assert sc["dispatch.policy"] == f"{(scen / 'sub' / 'mine.py').resolve()}:Mine"  # anchored: absolute
    assert policy_class(sc["dispatch.policy"]).__name__ == "Mine"  # the anchored value still loads
    monkeypatch.chdir(scen)
    sc = load_scenario(None, ["dispatch.policy=sub/mine.py:Mine"])
    assert policy_class(sc["dispatch.policy"]).__name__ == "Mine"


def test_results_scenario_with_an_absolute_policy_reruns_only_with_the_policy_named_again(tmp_path):
    (tmp_path / "mine.py").write_text(POLICY_SOURCE)
    (tmp_path / "s.toml").write_text('[dispatch]\npolicy = "mine.py:Mine"\n')
    resolved = load_scenario(tmp_path / "s.toml")
    results = tmp_path / "results"
    results.mkdir()
    (results / "scenario.toml").write_text(resolved.to_toml())
    with pytest.raises(ScenarioError, match="dispatch.policy"):
        load_scenario(results / "scenario.toml")
    again = load_scenario(results / "scenario.toml", ["dispatch.policy=least_loaded"])
    assert again["dispatch.policy"] == "least_loaded"
    assert again.with_overrides({"dispatch.policy": resolved["dispatch.policy"]}).to_toml() == resolved.to_toml()


def test_sweep_and_tune_policy_files_must_be_in_their_folder(tmp_path):
    from sim.studies.sweep_file import read_sweep
    from sim.studies.tune_spec import load_tune

    scen, outside = policy_tree(tmp_path)
    sweep = sweep_file(scen, "s.toml", '[axes]\n"dispatch.policy" = ["random", "../outside.py:Mine"]\n')
    with pytest.raises(ScenarioError, match=r"dispatch\.policy = '\.\./outside\.py:Mine'"):
        read_sweep(sweep)
    tune = scen / "t.toml"
    tune.write_text(TUNE_BODY.replace("[params]", f'"dispatch.policy" = {toml_string(str(outside) + ":Mine")}\n'
                                                  "[params]"))
    with pytest.raises(ScenarioError, match=r"dispatch\.policy = "):
        load_tune(tune)
    tune.write_text(TUNE_BODY + '[params."dispatch.policy"]\nchoices = ["random", "../outside.py:Mine"]\n')
    with pytest.raises(ScenarioError, match=r"dispatch\.policy = "):
        load_tune(tune)
    assert not (tmp_path / "outside_ran").exists()


# =========================================================================== 4b/c. parse before executing
def test_module_without_the_class_is_not_imported(capsys, tmp_path, monkeypatch):
    marker = tmp_path / "module_ran"
    (tmp_path / "fleetsim_marker_mod_a.py").write_text(marker_source(marker))
    monkeypatch.syspath_prepend(str(tmp_path))
    line = run_refused(capsys, tmp_path, "--set", "dispatch.policy=fleetsim_marker_mod_a:Missing")
    assert "Missing" in line
    assert not marker.exists()
    assert "fleetsim_marker_mod_a" not in sys.modules


def test_class_defined_only_inside_a_block_does_not_count(capsys, tmp_path, monkeypatch):
    marker = tmp_path / "module_ran"
    (tmp_path / "fleetsim_marker_mod_b.py").write_text(
        marker_source(marker, "if True:\n    class Mine:\n        pass\n"))
    monkeypatch.syspath_prepend(str(tmp_path))
    run_refused(capsys, tmp_path, "--set", "dispatch.policy=fleetsim_marker_mod_b:Mine")
    assert not marker.exists()


def test_module_that_defines_or_imports_the_class_loads(tmp_path, monkeypatch):
    from fleet.policies import LeastLoadedPolicy, policy_class

    (tmp_path / "fleetsim_good_mod_c.py").write_text(POLICY_SOURCE)
    (tmp_path / "fleetsim_good_mod_d.py").write_text("from fleet.policies import LeastLoadedPolicy as Renamed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert policy_class("fleetsim_good_mod_c:Mine").__name__ == "Mine"
    assert policy_class("fleetsim_good_mod_d:Renamed") is LeastLoadedPolicy


@pytest.mark.parametrize("ref,fragment", [
    ("no_such_module_xyz:Policy", "cannot import module 'no_such_module_xyz'"),
    ("no_such_module_xyz.sub:Policy", "cannot import module 'no_such_module_xyz.sub'"),
    ("json.no_such_sub:Policy", "cannot import module 'json.no_such_sub'"),
])
def test_module_that_cannot_be_found_is_one_line(capsys, tmp_path, ref, fragment):
    line = run_refused(capsys, tmp_path, "--set", f"dispatch.policy={ref}")
    assert fragment in line


def test_module_without_source_is_not_imported(capsys, tmp_path, monkeypatch):
    import py_compile

    marker = tmp_path / "module_ran"
    source = tmp_path / "src" / "fleetsim_compiled_mod_e.py"
    source.parent.mkdir()
    source.write_text(marker_source(marker, "\n" + POLICY_SOURCE))
    py_compile.compile(str(source), cfile=str(tmp_path / "fleetsim_compiled_mod_e.pyc"), doraise=True)
    monkeypatch.syspath_prepend(str(tmp_path))
    line = run_refused(capsys, tmp_path, "--set", "dispatch.policy=fleetsim_compiled_mod_e:Mine")
    assert "no Python source" in line
    assert not marker.exists()


def test_policy_file_without_the_class_is_not_executed(capsys, tmp_path, monkeypatch):
    marker = tmp_path / "file_ran"
    (tmp_path / "evil.py").write_text(marker_source(marker, "class Other:\n    pass\n"))
    monkeypatch.chdir(tmp_path)
    line = run_refused(capsys, tmp_path, "--set", "dispatch.policy=evil.py:Mine")
    assert "Mine" in line
    assert not marker.exists()
    scen = tmp_path / "s.toml"
    scen.write_text('[dispatch]\npolicy = "evil.py:Mine"\n')
    line = one_error_line(capsys, main(["check", str(scen)]))
    assert not marker.exists()


@pytest.mark.parametrize("source", ["def broken(:\n", "x = " + "(" * 5000 + "\n", "\udcff = 1\n"])
def test_policy_file_that_does_not_parse_is_one_line(capsys, tmp_path, monkeypatch, source):
    (tmp_path / "bad.py").write_bytes(source.encode("utf-8", "surrogateescape"))
    monkeypatch.chdir(tmp_path)
    line = run_refused(capsys, tmp_path, "--set", "dispatch.policy=bad.py:Mine")
    assert "bad.py" in line


def test_policy_file_raising_on_import_is_one_line(capsys, tmp_path, monkeypatch):
    (tmp_path / "raises.py").write_text(POLICY_SOURCE + "raise SystemExit('no\\nway')\n")
    monkeypatch.chdir(tmp_path)
    line = run_refused(capsys, tmp_path, "--set", "dispatch.policy=raises.py:Mine")
    assert "SystemExit" in line


# =========================================================================== 5. nonsense numbers
@pytest.mark.parametrize("key,value", [
    ("fleet.itinerary.minutes_per_day", "1e-300"),
    ("fleet.itinerary.trip_start_share_by_hour", "[" + ", ".join(["1e308"] * 24) + "]"),
    ("fleet.itinerary.trip_start_share_by_hour", "[" + ", ".join(["1.0"] * 23 + ["2e6"]) + "]"),
    ("fleet.battery.discharge_efficiency", "1e-300"),
    ("fleet.battery.discharge_efficiency", "0.49"),
    ("fleet.charger.efficiency", "1e-300"),
    ("fleet.vehicle.public_dc_efficiency", "1e-300"),
    ("fleet.battery.capacity_wh", "1e-300"),
    ("fleet.charger.power_w", "1e-300"),
    ("fleet.charger.taper_end_fraction", "1e-300"),
    ("fleet.chip.prefill_tokens_per_s", "1e-300"),
    ("fleet.chip.decode_tokens_per_s", "1e-300"),
    ("fleet.robotaxi.mean_ride_km", "1e-300"),
    ("fleet.robotaxi.speed_kmh", "1e-300"),
    ("fleet.robotaxi.capacity_wh", "1e-300"),
    ("workload.trace_time_scale", "1e-300"),
    ("workload.mean_service_s", "1e-300"),
    ("workload.interactive.slo_s", "1e-300"),
    ("workload.interactive.max_wait_s", "1e-300"),
    ("workload.batch.deadline_s", "1e-300"),
    ("workload.batch.max_wait_s", "1e-300"),
])
def test_nonsense_numbers_are_refused(key, value):
    with pytest.raises(ScenarioError) as exc:
        load_scenario(None, [f"{key}={value}"])
    message = str(exc.value)
    assert message.startswith(f"{key} = ") and "allowed: " in message and len(message) <= 300, message


def test_efficiencies_are_at_least_one_half():
    for key in ("fleet.battery.discharge_efficiency", "fleet.charger.efficiency",
                "fleet.vehicle.public_dc_efficiency"):
        assert KEYS_BY_PATH[key].lo == 0.5 and not KEYS_BY_PATH[key].lo_open
        assert load_scenario(None, [f"{key}=0.5"])[key] == 0.5


def float_keys_at_their_extremes():
    """(key, value) for the lowest and highest value every float key allows (1e300 where unbounded)."""
    cases = []
    for key in KEYS_BY_PATH.values():
        if key.kind != "float":
            continue
        for bound, is_open, toward in ((key.lo, key.lo_open, math.inf), (key.hi, key.hi_open, -math.inf)):
            if bound is None:
                value = -1e300 if toward == math.inf else 1e300
            else:
                value = math.nextafter(float(bound), toward) if is_open else float(bound)
            cases.append((key.path, value))
    return cases


# Keys that cross-key rules tie to others: each extreme comes with the values that keep it valid.
def companions(key: str, v: float) -> dict | None:
    """Overrides that make ``key = v`` valid together with the rest (None: not runnable here)."""
    if key == "run.days":
        return {} if v < 0.5 else None  # a long run is not a unit test; its end is checked above
    if key == "fleet.battery.charge_limit_soc":
        return {"fleet.battery.reserve_soc": 0.0, "fleet.initial_soc_min": 0.0, "fleet.initial_soc_max": v,
                "fleet.robotaxi.plug_below_soc": 0.0, "fleet.robotaxi.ready_soc": 0.0}
    if key in ("fleet.battery.reserve_soc", "fleet.initial_soc_min", "fleet.initial_soc_max"):
        return {"fleet.battery.charge_limit_soc": 1.0, "fleet.battery.reserve_soc": min(v, 0.99),
                "fleet.initial_soc_min": v, "fleet.initial_soc_max": v, key: v}
    if key == "fleet.robotaxi.service_start_h":
        return {"fleet.robotaxi.service_end_h": 24.0} if v < 24 else None
    if key == "fleet.robotaxi.service_end_h":
        return {"fleet.robotaxi.service_start_h": 0.0} if v > 0 else None
    if key in ("fleet.robotaxi.plug_below_soc", "fleet.robotaxi.ready_soc"):
        return {"fleet.battery.charge_limit_soc": 1.0, "fleet.robotaxi.plug_below_soc": v,
                "fleet.robotaxi.ready_soc": v, "fleet.initial_soc_max": 0.9}
    if key == "fleet.robotaxi.depot.solar_kw_dc":
        return {} if v == 0 else None  # PV needs a weather file and the solar extra
    if key == "fleet.itinerary.idle_day_share":
        return {"fleet.itinerary.trips_per_day": 2.0 * (1.0 - v)}
    if key == "fleet.itinerary.trips_per_day":
        return None  # bounded by the cross-key rule with max_trips_per_day (checked in test_cli)
    if key == "fleet.itinerary.max_trip_km":
        return {"fleet.itinerary.weekday_km_per_day": v, "fleet.itinerary.weekend_km_per_day": v}
    if key in ("fleet.itinerary.weekday_km_per_day", "fleet.itinerary.weekend_km_per_day") and v > 300:
        return {"fleet.itinerary.max_trip_km": 1e4}
    if key == "fleet.robotaxi.depot.cap_w" and v < 1e6:
        return {"fleet.robotaxi.depot.stalls": 1}
    if key == "run.sample_interval_s" and v > 1e6:
        return None  # longer than any unit-test run
    if key.endswith(".rate_per_s") and v > 1e3:
        return None  # arrivals grow with rate x span (memory, time): a load limit, not a numeric one
    return {}


EXERCISE = {"run.start": "2022-06-06T06:00 America/Los_Angeles", "run.days": 0.3, "fleet.vehicles": 20,
            "fleet.robotaxi.vehicles": 3, "workload.interactive.rate_per_s": 0.2, "workload.batch.rate_per_s": 0.2}


@pytest.mark.parametrize("key,value", float_keys_at_their_extremes(), ids=lambda x: str(x))
def test_every_float_key_at_its_extremes_runs_with_finite_numbers(key, value):
    """Each float key at the most extreme value it allows: a short run with driving, charging,
    robotaxis and jobs finishes, and every number in its summary is finite."""
    from sim.runner import run

    extra = companions(key, value)
    if extra is None:
        pytest.skip("not runnable as a short unit test")
    over = {**EXERCISE, key: value, **extra}
    try:
        sc = default_scenario().with_overrides(over)
        summary = run(sc).summary
    except ScenarioError as exc:  # refused by a rule between keys, at build: one line, fine
        assert "\n" not in str(exc) and len(str(exc)) <= 300
        return
    json.dumps(summary, allow_nan=False)


# =========================================================================== 6. depot keys without robotaxis
@pytest.mark.parametrize("key,value,fragment", [
    ("fleet.robotaxi.depot.tariff", "nonsense", "pge_b10"),
    ("fleet.robotaxi.depot.tariff", "tariffs/b10.csv", ".toml or .json"),
    ("fleet.robotaxi.depot.weather_epw", "/nonexistent/weather.epw", "file not found"),
    ("fleet.robotaxi.depot.weather_epw", "weather.csv", ".epw"),
])
def test_depot_keys_are_checked_without_robotaxis(capsys, tmp_path, key, value, fragment):
    line = run_refused(capsys, tmp_path, "--set", "fleet.robotaxi.vehicles=0", "--set", f"{key}={toml_string(value)}")
    assert f"{key} = " in line and fragment in line


def test_valid_depot_keys_are_accepted():
    tariff = ROOT / "examples" / "tariffs" / "pge_b10.toml"
    for value in ("pge_b10", "pge_ev2a", str(tariff)):
        assert load_scenario(None, [f"fleet.robotaxi.depot.tariff={toml_string(value)}"])
    with pytest.raises(ScenarioError, match="grid.tariff = 'nonsense'"):
        load_scenario(None, ["grid.tariff=nonsense"])


# =========================================================================== 7. malformed TOML
@pytest.mark.parametrize("body,where", [
    ("x = " + "[" * 100_000, "FILE"),
    ("x = " + "{a = " * 100_000, "FILE"),
    ("[run]\nseed = " + "7" * 5000 + "\n", "FILE"),  # beyond Python's int-string conversion limit
    ("[run]\nseed = 0x" + "f" * 5000 + "\n", "run.seed = <an integer of 20,000 bits>"),  # parses; too large
], ids=["deep_arrays", "deep_tables", "5000_digits", "5000_hex_digits"])
def test_pathological_toml_file_is_one_line(capsys, tmp_path, body, where):
    path = tmp_path / "s.toml"
    path.write_text(body)
    line = one_error_line(capsys, main(["check", str(path)]))
    assert (str(path) if where == "FILE" else where) in line
    with pytest.raises(ScenarioError):
        load_scenario(path)


@pytest.mark.parametrize("value", ["[" * 100_000, "{a=" * 100_000, "7" * 5000, "[" + "7" * 5000 + "]"],
                         ids=["deep_arrays", "deep_tables", "5000_digits", "digits_in_array"])
def test_pathological_set_value_is_one_line(capsys, tmp_path, value):
    run_refused(capsys, tmp_path, "--set", f"fleet.vehicles={value}")


def test_huge_python_integer_in_the_api_is_one_line():
    with pytest.raises(ScenarioError) as exc:
        default_scenario().with_overrides({"run.seed": 10 ** 5000})
    assert str(exc.value).startswith("run.seed = ") and len(str(exc.value)) <= 300


def test_pathological_sweep_and_tune_files_are_one_line(tmp_path):
    from sim.studies.sweep_file import read_sweep
    from sim.studies.tune_spec import load_tune

    path = tmp_path / "deep.toml"
    path.write_text("x = " + "[" * 100_000)
    for reader in (read_sweep, load_tune):
        with pytest.raises(ScenarioError, match=f"^{path}"):
            reader(path)


# =========================================================================== 8. long and control-character values
@pytest.mark.parametrize("args", [
    ["--set", "run.name=" + "\x1b[31m" + "a" * 10_000],
    ["--set", "dispatch.queueing=" + "x" * 10_000],
    ["--set", "dispatch.queueing=\x00\r\x07bad"],
    ["--set", "run.days=" + "\x01" * 300],  # each control character is escaped to four characters
    ["--set", "dispatch.policy=" + "\x01" * 300],
    ["--set", "dispatch.policy=" + "\U000e0001" * 300 + ":Mine"],
    ["--set", "run.start=" + "\x01" * 300 + " " + "\x02" * 300],
    ["--set", "fleet.vehicles=" + "x" * 10_000],
    ["--set", "run.start=" + "2" * 10_000],
    ["--set", "k" * 10_000 + "=1"],
    ["--set", "x" * 10_000],
    ["--set", "fleet=" + "1" * 4000],
    ["--set", "dispatch.policy=" + "p" * 10_000],
    ["--set", "dispatch.policy=" + "p" * 10_000 + ":Mine"],
    ["--set", "fleet.robotaxi.depot.tariff=" + "t" * 10_000],
    ["--set", "fleet.robotaxi.depot.weather_epw=" + "w" * 10_000 + ".epw"],
    ["--set", 'fleet.itinerary.trip_start_share_by_hour=[' + "1.0, " * 5000 + "1.0]"],
], ids=lambda a: a[1][:20])
def test_long_or_control_character_values_are_quoted_short(capsys, tmp_path, args):
    line = run_refused(capsys, tmp_path, *args)
    assert "\x1b" not in line and "\x00" not in line and "\r" not in line and "\x07" not in line


def test_set_parsing_itself_is_unchanged_for_normal_values():
    assert parse_override("fleet.vehicles=5000") == ("fleet.vehicles", 5000)
    assert parse_override("run.name=plain") == ("run.name", "plain")
    assert parse_override('dispatch.params={d = 2}') == ("dispatch.params", {"d": 2})



# =========================================================================== 9. config files are small regular files
def run_cli_isolated(*args: str) -> subprocess.CompletedProcess:
    """``fleetsim ARGS`` in a child process with a time limit (a file that never ends cannot hang the tests)."""
    code = f"import sys; from sim.cli import main; sys.exit(main({list(args)!r}))"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)


def assert_one_error_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("fleetsim: error: ") and len(lines[0]) <= 300, lines
    return lines[0]


def test_scenario_file_that_is_a_device_is_refused_without_reading_it():
    line = assert_one_error_line(run_cli_isolated("check", "/dev/zero"))
    assert "scenario file = '/dev/zero': not a regular file" in line


def test_sweep_and_tune_naming_a_device_as_scenario_are_refused(tmp_path):
    sweep = sweep_file(tmp_path, "s.toml", '[sweep]\nscenario = "/dev/zero"\n')
    tune = tmp_path / "t.toml"
    tune.write_text('[tune]\nscenario = "/dev/zero"\n' + TUNE_BODY)
    for args in (["sweep", str(sweep), "--out", str(tmp_path / "sw")],
                 ["tune", str(tune), "--out", str(tmp_path / "tu")]):
        line = assert_one_error_line(run_cli_isolated(*args))
        assert line.startswith(f"fleetsim: error: {args[1]}")
        assert "scenario file = '/dev/zero': not a regular file" in line
    assert not (tmp_path / "sw").exists() and not (tmp_path / "tu").exists()


def test_toml_files_larger_than_the_limit_are_refused(capsys, tmp_path):
    from sim.core.inputs import MAX_TOML_FILE_BYTES
    from sim.studies.sweep_file import read_sweep
    from sim.studies.tune_spec import load_tune

    big = tmp_path / "big.toml"
    with big.open("wb") as fh:  # sparse: takes no disk space
        fh.truncate(MAX_TOML_FILE_BYTES + 1)
    line = one_error_line(capsys, main(["check", str(big)]))
    assert f"scenario file = '{big}': {MAX_TOML_FILE_BYTES + 1:,} bytes; allowed: at most" in line
    for reader, what in ((read_sweep, "sweep"), (load_tune, "tune")):
        with pytest.raises(ScenarioError, match=f"^{what} file = '.*big.toml': .* bytes; allowed: at most"):
            reader(big)
    sweep = sweep_file(tmp_path, "s.toml", '[sweep]\nscenario = "big.toml"\n')
    with pytest.raises(ScenarioError, match=r"s\.toml: \[sweep\] scenario file = '.*big\.toml': .* bytes"):
        read_sweep(sweep)


def test_missing_or_folder_toml_files_are_one_line(capsys, tmp_path):
    line = one_error_line(capsys, main(["check", str(tmp_path / "nope.toml")]))
    assert line == f"fleetsim: error: {tmp_path / 'nope.toml'}: scenario file not found"
    line = one_error_line(capsys, main(["check", str(tmp_path)]))
    assert "not a regular file" in line


# =========================================================================== 10. dotted policy names run no package
def test_dotted_policy_name_runs_no_parent_module(capsys, tmp_path, monkeypatch):
    monkeypatch.delitem(sys.modules, "this", raising=False)  # the standard library module that prints when run
    out = tmp_path / "r"
    code = main(["run", *TINY, "--out", str(out), "--set", "dispatch.policy=this.x:Foo"])
    captured = capsys.readouterr()
    assert code == 2 and "Zen of Python" not in captured.out and captured.out == "", captured.out[:200]
    lines = captured.err.splitlines()
    assert len(lines) == 1 and "'this' is a module, not a package" in lines[0], lines
    assert "this" not in sys.modules and not out.exists()


def test_dotted_policy_name_runs_no_user_package_before_the_check(capsys, tmp_path, monkeypatch):
    marker = tmp_path / "package_ran"
    pkg = tmp_path / "fleetsim_marker_pkg_f"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text(marker_source(marker))
    (pkg / "sub" / "__init__.py").write_text(marker_source(marker))
    (pkg / "mod.py").write_text(POLICY_SOURCE)
    (pkg / "sub" / "deep.py").write_text(POLICY_SOURCE)
    (tmp_path / "fleetsim_marker_plain_g.py").write_text(marker_source(marker))
    monkeypatch.syspath_prepend(str(tmp_path))
    for ref, fragment in (("fleetsim_marker_pkg_f.mod:Missing", "no class Missing"),
                          ("fleetsim_marker_pkg_f.sub.deep:Missing", "no class Missing"),
                          ("fleetsim_marker_pkg_f.nope:Mine", "not found on the Python path"),
                          ("fleetsim_marker_plain_g.x:Mine", "is a module, not a package")):
        line = run_refused(capsys, tmp_path, "--set", f"dispatch.policy={ref}")
        assert fragment in line, line
        assert not marker.exists(), ref
    assert not any(name.startswith(("fleetsim_marker_pkg_f", "fleetsim_marker_plain_g")) for name in sys.modules)
    from fleet.policies import policy_class

    try:  # a class that is there still loads (and only then runs the package)
        assert policy_class("fleetsim_marker_pkg_f.sub.deep:Mine").__name__ == "Mine"
        assert marker.exists()
    finally:
        for name in [n for n in sys.modules if n.startswith("fleetsim_marker_pkg_f")]:
            del sys.modules[name]


# =========================================================================== 11. data files of sweeps and tunes exist
@pytest.mark.parametrize("body,fragment", [
    ('[axes]\n"workload.trace" = ["nope.csv"]\n', "[axes] workload.trace = '{dir}/nope.csv': file not found"),
    ('[axes]\n"grid.carbon" = ["caiso_2022", "data/ci.csv"]\n',
     "[axes] grid.carbon = '{dir}/data/ci.csv': file not found"),
    ('[axes]\n"dispatch.policy" = ["random", "least_loaded"]\n"grid.tariff" = ["pge_ev2a", "t.toml"]\n',
     "[axes] grid.tariff = '{dir}/t.toml': file not found"),
    ('[set.grid]\ncarbon = "missing.csv"\n', "[set] grid.carbon = '{dir}/missing.csv': file not found"),
    ('[axes]\n"fleet.robotaxi.depot.tariff" = ["folder.json"]\n', "fleet.robotaxi.depot.tariff = '{dir}/folder.json': "
                                                                   "not a regular file"),
])
def test_sweep_data_files_are_checked_before_anything_runs(capsys, tmp_path, body, fragment):
    (tmp_path / "folder.json").mkdir()
    path = sweep_file(tmp_path, "s.toml", body)
    out = tmp_path / "out"
    line = one_error_line(capsys, main(["sweep", str(path), "--out", str(out), "--no-progress", "--no-report"]))
    assert line.startswith(f"fleetsim: error: {path}: ") and fragment.format(dir=tmp_path) in line, line
    assert not out.exists()


def test_sweep_data_files_that_exist_and_built_in_names_pass(tmp_path):
    from sim.studies.sweep_file import read_sweep

    spec = read_sweep(sweep_file(tmp_path, "s.toml", '[axes]\n"grid.carbon" = ["caiso_2022", "ercot_2022"]\n'
                                                      '"grid.tariff" = ["pge_ev2a", "sce_tou_ev_8"]\n'))
    assert len(spec.points) == 4


def test_sweep_scenario_with_a_missing_data_file_is_refused(tmp_path):
    from sim.studies.sweep_file import read_sweep

    (tmp_path / "base.toml").write_text('[workload]\ntrace = "gone.csv"\n')
    expected = r"s\.toml: \[sweep\] scenario: workload\.trace = '.*gone\.csv': file not found"
    with pytest.raises(ScenarioError, match=expected):
        read_sweep(sweep_file(tmp_path, "s.toml", '[sweep]\nscenario = "base.toml"\n'))


@pytest.mark.parametrize("extra,fragment", [
    ('"workload.trace" = "nope.csv"\n', "[set] workload.trace = '{dir}/nope.csv': file not found"),
    ('[params."grid.tariff"]\nchoices = ["pge_ev2a", "nope.toml"]\n', "[params] grid.tariff = '{dir}/nope.toml': "
                                                                      "file not found"),
])
def test_tune_data_files_are_checked_when_the_file_is_read(tmp_path, extra, fragment):
    from sim.studies.tune_spec import load_tune

    path = tmp_path / "t.toml"
    body = TUNE_BODY.replace("[params]", extra + "[params]") if extra.startswith('"') else TUNE_BODY + extra
    path.write_text(body)
    with pytest.raises(ScenarioError) as exc:
        load_tune(path)
    assert str(exc.value).startswith(f"{path}: ") and fragment.format(dir=tmp_path) in str(exc.value), exc.value


# =========================================================================== 12. long scenario paths in sweep files
@pytest.mark.parametrize("kind", ["name_too_long", "missing", "folder", "bad_key"])
def test_long_scenario_path_in_sweep_and_tune_files_is_one_short_line(capsys, tmp_path, kind):
    if kind == "name_too_long":
        scenario = "s" * 3000 + ".toml"
    elif kind == "missing":
        scenario = ("s" * 99 + "/") * 30 + "x.toml"
    else:
        folder = tmp_path / ("d" * 200) / ("e" * 200) / ("f" * 200)
        folder.mkdir(parents=True)
        scenario = str(folder.relative_to(tmp_path))
        if kind == "bad_key":
            scenario += "/x.toml"
            (tmp_path / scenario).write_text("[fleet]\nvehicles = -5\n")
    sweep = tmp_path / "s.toml"
    sweep.write_text(f"[sweep]\nscenario = {toml_string(scenario)}\n")
    tune = tmp_path / "t.toml"
    tune.write_text(f"[tune]\nscenario = {toml_string(scenario)}\n" + TUNE_BODY)
    for args in (["sweep", str(sweep), "--out", str(tmp_path / "o1")],
                 ["tune", str(tune), "--out", str(tmp_path / "o2")]):
        line = one_error_line(capsys, main(args))
        assert "s.toml" in line or "t.toml" in line
        assert {"name_too_long": "cannot read scenario file", "missing": "scenario file not found",
                "folder": "not a regular file", "bad_key": "fleet.vehicles = -5"}[kind] in line, line


# ---------------------------------------------------------------------------------- found by the property tests
def test_a_nul_character_in_a_path_key_is_one_line(tmp_path, capsys):
    scenario = tmp_path / "nul.toml"
    scenario.write_text('[workload]\ntrace = "a\\u0000b.csv"\n')
    assert main(["check", str(scenario)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds a NUL character" in err and "\x00" not in err


def test_a_missing_depot_tariff_file_is_refused_without_robotaxis(tmp_path, capsys):
    assert main(["check", str(ROOT / "examples" / "default.toml"), "--set",
                 f"fleet.robotaxi.depot.tariff={tmp_path / 'missing.toml'}"]) == 2
    assert "fleet.robotaxi.depot.tariff" in capsys.readouterr().err


def test_grid_carbon_must_name_a_profile_or_a_csv(capsys):
    assert main(["check", str(ROOT / "examples" / "default.toml"), "--set", "grid.carbon=nosuchprofile"]) == 2
    assert "allowed: one of" in capsys.readouterr().err


def test_a_sweep_configuration_whose_policy_takes_no_such_parameter_is_refused_before_running(tmp_path, capsys):
    sweep = tmp_path / "pp.toml"
    sweep.write_text('[sweep]\nname = "pp"\n[set]\n"run.days" = 0.01\n"fleet.vehicles" = 5\n"dispatch.params.d" = 2\n'
                     '[axes]\n"dispatch.policy" = ["random", "power_of_d"]\n')
    out = tmp_path / "o"
    assert main(["sweep", str(sweep), "--out", str(out), "--no-progress", "--no-report"]) == 2
    assert "policy 'random' takes no parameter 'd'" in capsys.readouterr().err and not out.exists()


def test_the_memory_budget_follows_the_address_space_limit():
    code = ("import resource; resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, resource.RLIM_INFINITY)); "
            "from sim.budget import available_memory_bytes; print(available_memory_bytes())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert int(out) <= 2 * 1024**3


# =========================================================================== serving: a model that does not fit
def test_a_model_too_big_for_the_chip_is_refused_with_what_it_needs_and_what_there_is(capsys, tmp_path):
    """70B at 16 bits on HW4: 141.2 GB of weights + 10.7 GB of KV for one 32,768-token request against
    16 GB x 0.9 = 14.4 GB for serving."""
    line = run_refused(capsys, tmp_path, "--set", "fleet.model.preset='llama-3.1-70b-q4'",
                       "--set", "fleet.model.bytes_per_param=2.0")
    assert line.startswith("fleetsim: error: fleet.model.preset = 'llama-3.1-70b-q4' does not fit "
                           "fleet.chip.preset = 'hw4'")
    assert "needs 151.94 GB" in line and "weights 141.20 GB" in line and "has 14.40 GB" in line and "allowed: " in line
