"""Hostile and nonsensical data files (traces, carbon CSVs, tariffs, weather) give one line, exit 2.

End-to-end cases go through ``sim.cli.main`` on a tiny run and check the project's rule for bad
input: exit status 2, exactly one stderr line starting ``fleetsim: error:`` of at most 300
characters, no traceback, no results folder. Unit cases call the loaders directly. Files are
named relative to a temporary working folder so that messages stay short.
"""
from __future__ import annotations

import math
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from fleet.workload import TraceData, TraceWorkload, load_azure_trace
from grid.loaders import load_eia930_signal, load_time_value_csv
from grid.signals import StepSignal
from grid.tariff import DemandCharge, TouPeriod
from grid.tariff_file import load_tariff
from grid.weather import read_epw
from sim.cli import main
from sim.core.errors import DataFileError, FleetsimInputError

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--set", "run.days=0.05", "--set", "fleet.vehicles=20"]  # 4,320 s from 2022-06-06 00:00 in LA
RUN_SPAN_S = 0.05 * 86400
TAXIS = ["--set", "fleet.robotaxi.vehicles=2"]
HEADER = "TIMESTAMP,ContextTokens,GeneratedTokens"
GOOD_ROW = "2023-11-16 18:15:46.6805900,374,44"
TOML_TARIFF = """name = "flat"
[[periods]]
name = "all"
price_usd_per_kwh = {price}
hours = "all"
[[demand_charges]]
name = "peak"
usd_per_kw = {rate}
interval_s = {interval}
"""


@pytest.fixture
def here(tmp_path, monkeypatch) -> Path:
    """A fresh working folder: files written here are named by short relative paths."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _write(name: str, text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    Path(name).write_bytes(data)
    return name


def _fifo(name: str) -> str:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    os.mkfifo(name)
    return name


def _trace(rows: list[str], name: str = "t.csv") -> str:
    return _write(name, "\r\n".join([HEADER, *rows]) + "\r\n")


def _tariff(name: str = "t.toml", price: str = "0.2", rate: str = "10", interval: str = "900") -> str:
    return _write(name, TOML_TARIFF.format(price=price, rate=rate, interval=interval))


def run_bad(capsys, here: Path, *args: str) -> str:
    """Run the CLI on a tiny scenario; assert the bad-input rule and return the error line."""
    out = here / "results"
    code = main(["run", *TINY, "--no-report", "--no-progress", "--out", str(out), *args])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1, err[:2000]
    line = lines[0]
    assert line.startswith("fleetsim: error: "), line
    assert len(line) <= 300, (len(line), line[:400])
    assert "Traceback" not in err
    assert not out.exists()
    assert [p.name for p in here.iterdir() if p.name.startswith(".results")] == []
    return line


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and len(text) <= 300, text[:400]
    return text


def _trace_data(offsets: list[float]) -> TraceData:
    n = len(offsets)
    return TraceData(np.array(offsets), np.ones(n, np.int64), np.ones(n, np.int64), datetime(2023, 11, 16))


# ---- 1. every data path is checked before it is opened ----------------------------------------
SPECIAL = {
    "dev-zero": lambda name: "/dev/zero",
    "proc-environ": lambda name: "/proc/self/environ",
    "folder": lambda name: (os.mkdir(name), name)[1],
    "fifo": _fifo,
    "link-to-dev-zero": lambda name: (os.symlink("/dev/zero", name), name)[1],
}


@pytest.mark.parametrize("kind", list(SPECIAL))
def test_trace_that_is_no_regular_file_is_refused(capsys, here, kind):
    path = SPECIAL[kind]("x.csv")
    line = run_bad(capsys, here, "--set", f"workload.trace={path}")
    assert f"workload.trace = '{path}': not a regular file" in line


@pytest.mark.parametrize("kind", ["folder", "fifo", "link-to-dev-zero"])
@pytest.mark.parametrize("key", ["grid.tariff", "fleet.robotaxi.depot.tariff"])
def test_tariff_that_is_no_regular_file_is_refused(capsys, here, kind, key):
    path = SPECIAL[kind]("x.toml")
    line = run_bad(capsys, here, *TAXIS, "--set", f"{key}={path}")
    assert f"'{path}': not a regular file" in line


@pytest.mark.parametrize("kind", ["folder", "fifo", "link-to-dev-zero"])
def test_weather_file_that_is_no_regular_file_is_refused(capsys, here, kind):
    path = SPECIAL[kind]("x.epw")
    line = run_bad(capsys, here, *TAXIS, "--set", "fleet.robotaxi.depot.solar_kw_dc=10",
                   "--set", f"fleet.robotaxi.depot.weather_epw={path}")
    assert f"fleet.robotaxi.depot.weather_epw = '{path}': not a regular file" in line


def test_carbon_link_to_proc_environ_is_refused_unread(capsys, here):
    os.symlink("/proc/self/environ", "c.csv")
    line = run_bad(capsys, here, "--set", "grid.carbon=c.csv")
    assert "'c.csv': not a regular file" in line
    assert "PATH=" not in line and "\\x00" not in line  # nothing of the environment is shown


LOADERS = [(load_time_value_csv, "grid.carbon", ".csv"), (load_eia930_signal, "grid.carbon", ".csv"),
           (load_azure_trace, "workload.trace", ".csv"), (read_epw, "fleet.robotaxi.depot.weather_epw", ".epw"),
           (load_tariff, "tariff file", ".toml")]


@pytest.mark.parametrize("kind", list(SPECIAL))
@pytest.mark.parametrize("load,what,suffix", LOADERS, ids=[f.__name__ for f, _, _ in LOADERS])
def test_loaders_check_the_path_before_opening_it(here, kind, load, what, suffix):
    """Each loader refuses devices, pseudo files, folders and pipes, naming its key by default."""
    name = "x" + suffix
    path = SPECIAL[kind](name)
    if load is load_tariff and path != name:  # a tariff path must end in .toml: link to the device
        os.symlink(path, name)
        path = name
    with pytest.raises(FleetsimInputError) as err:
        load(path)
    assert _one_line(err.value).startswith(f"{what} = '{path}': not a regular file; allowed: a data file")


def test_loaders_name_the_key_they_are_given(here):
    os.mkdir("d.toml")
    with pytest.raises(FleetsimInputError, match=r"^fleet\.robotaxi\.depot\.tariff = 'd\.toml': not a regular"):
        load_tariff("d.toml", key="fleet.robotaxi.depot.tariff")
    with pytest.raises(FleetsimInputError, match=r"^grid\.price = 'd\.toml': not a regular"):
        load_time_value_csv("d.toml", key="grid.price")


# ---- 2. error messages quote at most 80 characters of a file --------------------------------
MEGA = "9" * 1_000_000


@pytest.mark.parametrize("rows,where", [
    ([GOOD_ROW, "x" * 1_000_000], "has 1 field"),
    ([GOOD_ROW, f"2023-11-16 18:15:47{MEGA},1,1"], "TIMESTAMP is"),
    ([GOOD_ROW, f"2023-11-16 18:15:47,{MEGA}x,1"], "ContextTokens is"),
    ([f"2023-11-16 18:15:47,1,1,{MEGA}"], "has 4 fields"),
], ids=["row", "timestamp", "tokens", "extra-field"])
def test_megabyte_trace_line_gives_a_short_error(here, rows, where):
    with pytest.raises(DataFileError) as err:
        load_azure_trace(_trace(rows))
    assert where in _one_line(err.value)


def test_megabyte_trace_header_gives_a_short_error_line(capsys, here):
    path = _write("t.csv", "T" * 1_000_000 + "\n" + GOOD_ROW + "\n")
    line = run_bad(capsys, here, "--set", f"workload.trace={path}")
    assert "t.csv:1: header is 'TTTT" in line and "(1,000,000 characters)" in line


@pytest.mark.parametrize("text,where", [
    ("time_s,carbon_g_per_kwh\n" + "1" * 100_000 + ",2\n60,3\n", "time_s '111"),
    ("time_s,carbon_g_per_kwh\n0,1\n60," + "x" * 100_000 + "\n", "carbon_g_per_kwh 'xxx"),
    ("time," + "c" * 100_000 + "_g_per_kwh\n", "is too long"),
    ("t" * 100_000 + ",carbon_g_per_kwh\n", "first column 'ttt"),
    ("time,carbon_g_per_kwh\n" + "2" * 100_000 + ",1\n", "time '222"),
], ids=["time_s", "value", "value-column", "time-column", "stamp"])
def test_long_signal_csv_cells_give_short_errors(here, text, where):
    with pytest.raises(DataFileError) as err:
        load_time_value_csv(_write("s.csv", text))
    assert where in _one_line(err.value)


@pytest.mark.parametrize("text,where", [
    ('name = "ok"\n' + "k" * 100_000 + ' = 1\n[[periods]]\nname = "a"\nprice_usd_per_kwh = 1\nhours = "all"\n',
     "unknown key"),
    ('name = "' + "n" * 100_000 + '"\n[[periods]]\nname = "a"\nprice_usd_per_kwh = 1\nhours = "all"\n',
     "at most 80 printable characters"),
    ('name = "ok"\n[[periods]]\nname = "a"\nprice_usd_per_kwh = "' + "p" * 100_000 + '"\nhours = "all"\n',
     "price_usd_per_kwh"),
    ('name = "ok"\n[[periods]]\nname = "a"\nprice_usd_per_kwh = 1\nhours = "' + "h" * 100_000 + '"\n',
     "hours: 'hhh"),
    ('name = "two\\nlines"\n[[periods]]\nname = "a"\nprice_usd_per_kwh = 1\nhours = "all"\n', "name"),
], ids=["key", "name", "price", "hours", "two-line-name"])
def test_long_tariff_values_give_short_errors(here, text, where):
    with pytest.raises(DataFileError) as err:
        load_tariff(_write("t.toml", text))
    assert where in _one_line(err.value)


def test_long_weather_field_gives_a_short_error(here):
    with pytest.raises(DataFileError) as err:
        read_epw(_write("w.epw", "L" * 100_000 + ",x\n"))
    assert "starts with 'LLL" in _one_line(err.value)


# ---- 3. a carbon CSV that does not cover the run ----------------------------------------------
def test_calendar_carbon_csv_before_the_run_is_one_line(capsys, here):
    path = _write("c.csv", "time,carbon_g_per_kwh\n2020-01-01T00:00:00,100\n2020-01-01T01:00:00,200\n")
    line = run_bad(capsys, here, "--set", f"grid.carbon={path}")
    assert "'c.csv'" in line and "data covers 2020-01-01" in line and "the run needs 2022-06-06" in line


def test_offset_signal_covering_names_both_spans():
    sig = StepSignal([0.0, 600.0], [100.0, 200.0], 1200.0, "carbon_g_per_kwh", "g_per_kwh")
    assert sig.covering(0.0, 1200.0) is sig
    with pytest.raises(ValueError) as err:
        sig.covering(0.0, RUN_SPAN_S)
    assert str(err.value) == ("signal carbon_g_per_kwh: data covers 0 s .. 1200 s of the run; "
                              "the run needs 0 s .. 4320 s")


def test_offset_carbon_csv_shorter_than_the_run_is_one_line(capsys, here):
    path = _write("c.csv", "time_s,carbon_g_per_kwh\n0,100\n600,200\n")
    line = run_bad(capsys, here, "--set", f"grid.carbon={path}")
    assert "'c.csv'" in line and "data covers 0 s .. 1200 s of the run; the run needs 0 s .. 4320 s" in line


# ---- 4. deeply nested and overlong numbers in tariff files ------------------------------------
@pytest.mark.parametrize("name,text", [
    ("deep.json", "[" * 100_000 + "]" * 100_000),
    ("deep_obj.json", '{"a":' * 100_000 + "1" + "}" * 100_000),
    ("deep.toml", "name = " + "[" * 100_000 + "]" * 100_000 + "\n"),
    ("deep_tables.toml", "name = " + "{a=" * 100_000 + "1" + "}" * 100_000 + "\n"),
], ids=["json-arrays", "json-objects", "toml-arrays", "toml-tables"])
def test_deeply_nested_tariff_is_one_line(capsys, here, name, text):
    _write(name, text)
    line = run_bad(capsys, here, "--set", f"grid.tariff={name}")
    assert f"{name}: not valid {'JSON' if name.endswith('json') else 'TOML'}: nested too deeply" in line


@pytest.mark.parametrize("name,text", [
    ("long.json", '{"name": "x", "fixed_usd_per_day": ' + "1" * 5000 + "}"),
    ("long.toml", 'name = "x"\nfixed_usd_per_day = ' + "1" * 5000 + "\n"),
], ids=["json", "toml"])
def test_five_thousand_digit_number_in_tariff_is_one_line(capsys, here, name, text):
    _write(name, text)
    line = run_bad(capsys, here, "--set", f"grid.tariff={name}")
    assert f"{name}: not valid" in line and "more than 4,300 digits" in line


# ---- 5. trace years and time scales -----------------------------------------------------------
@pytest.mark.parametrize("stamp", ["0001-01-01 00:00:00", "9999-12-31 23:59:59", "1899-12-31 23:59:59",
                                   "2101-01-01 00:00:00"])
def test_trace_years_outside_1900_2100_are_refused(capsys, here, stamp):
    path = _trace([GOOD_ROW, f"{stamp},1,1"] if stamp > "2023" else [f"{stamp},1,1", GOOD_ROW])
    line = run_bad(capsys, here, "--set", f"workload.trace={path}")
    assert f"TIMESTAMP is '{stamp}'; expected a year from 1900 to 2100" in line


def test_trace_years_1900_and_2100_load(here):
    trace = load_azure_trace(_trace(["1900-01-01 00:00:00,1,1", "2100-12-31 23:59:59.5,2,3"]))
    days = (datetime(2100, 12, 31) - datetime(1900, 1, 1)).days  # counted by the standard library
    assert trace.offset_s[-1] == (days * 86400 + 86399.5)
    assert trace.first_timestamp == datetime(1900, 1, 1)


@pytest.mark.parametrize("scale", ["1e-300", "1e300", "1e7"])
def test_trace_time_scale_out_of_range_is_refused(capsys, here, scale):
    path = _trace([GOOD_ROW, "2023-11-16 18:15:50.0,1,1"])
    line = run_bad(capsys, here, "--set", f"workload.trace={path}", "--set", f"workload.trace_time_scale={scale}")
    assert f"workload.trace_time_scale = {float(scale)!r}: allowed: " in line and "1e-06" in line


@pytest.mark.parametrize("scale", [1e-300, 9.9e-7, 1e300, 1.1e6])
def test_time_scale_range(scale):
    with pytest.raises(FleetsimInputError) as err:
        TraceWorkload(_trace_data([0.0, 1.0]), time_scale=scale)
    assert _one_line(err.value) == (f"workload.trace_time_scale = {scale!r}: allowed: 1e-06 .. 1e+06 (the trace "
                                    "spans 1 s; scaled, it must span at most 100 years)")
    TraceWorkload(_trace_data([0.0, 1.0]), time_scale=min(max(scale, 1e-6), 1e6))


def test_time_scale_bound_follows_the_trace_span():
    trace = _trace_data([0.0, 86400.0])  # one day: 100 years / 1 day = 36,525
    TraceWorkload(trace, time_scale=36_525.0)
    with pytest.raises(ValueError, match=r"workload\.trace_time_scale = 36526\.0: allowed: 1e-06 \.\. 36525 "):
        TraceWorkload(trace, time_scale=36_526.0)


@pytest.mark.parametrize("offset", ["1e300", "-1e300", "4e9"])
def test_trace_start_offset_beyond_100_years_is_refused(capsys, here, offset):
    path = _trace([GOOD_ROW, "2023-11-16 18:15:50.0,1,1"])
    line = run_bad(capsys, here, "--set", f"workload.trace={path}", "--set", f"workload.trace_start_offset_s={offset}")
    assert f"workload.trace_start_offset_s = {float(offset)!r}: allowed: " in line


def test_trace_start_offset_range():
    TraceWorkload(_trace_data([0.0, 1.0]), start_offset_s=-3.15576e9, loop=True)
    with pytest.raises(FleetsimInputError) as err:
        TraceWorkload(_trace_data([0.0, 1.0]), start_offset_s=-3.2e9, loop=True)
    assert _one_line(err.value) == ("workload.trace_start_offset_s = -3200000000.0: allowed: -3.15576e+09 .. "
                                    "3.15576e+09 s (100 years)")


# ---- 6. a trace placed wholly outside the run -------------------------------------------------
def test_trace_wholly_before_the_run_is_refused(capsys, here):
    path = _trace([GOOD_ROW, "2023-11-16 18:15:50.0,1,1"])  # spans 3.31941 s
    line = run_bad(capsys, here, "--set", f"workload.trace={path}", "--set", "workload.trace_start_offset_s=-10")
    assert "every request falls at -10 s .. -6.68059 s, outside the run (0 s .. 4320 s)" in line


def test_trace_wholly_after_the_run_is_refused_given_the_run_span():
    trace = _trace_data([0.0, 60.0, 120.0])
    for offset, scale in ((RUN_SPAN_S, 1.0), (RUN_SPAN_S + 1.0, 1.0), (-180.0, 1.0), (-10.0, 0.01)):
        with pytest.raises(FleetsimInputError) as err:
            TraceWorkload(trace, start_offset_s=offset, time_scale=scale, run_span_s=RUN_SPAN_S)
        assert "outside the run (0 s .. 4320 s)" in _one_line(err.value)
    with pytest.raises(FleetsimInputError, match=r"falls at 4320 s or later, outside the run \(0 s \.\. 4320 s\)"):
        TraceWorkload(trace, start_offset_s=RUN_SPAN_S, loop=True, run_span_s=RUN_SPAN_S)


def test_trace_partly_outside_the_run_replays_the_inside_part():
    trace = _trace_data([0.0, 60.0, 120.0])
    wl = TraceWorkload(trace, start_offset_s=-90.0, run_span_s=RUN_SPAN_S)  # request 0 and 1 fall before 0
    assert wl.arrivals(0.0, RUN_SPAN_S).arrival_s.tolist() == [30.0]
    wl = TraceWorkload(trace, start_offset_s=RUN_SPAN_S - 60.0, run_span_s=RUN_SPAN_S)  # 1 and 2 fall after
    assert wl.arrivals(0.0, RUN_SPAN_S).arrival_s.tolist() == [RUN_SPAN_S - 60.0]
    wl = TraceWorkload(trace, start_offset_s=-1e5, loop=True, run_span_s=RUN_SPAN_S)  # later copies reach the run
    assert len(wl.arrivals(0.0, RUN_SPAN_S)) == 3 * 4320 // 180


def test_trace_wholly_after_the_run_is_refused_end_to_end(capsys, here):
    path = _trace([GOOD_ROW, "2023-11-16 18:15:50.0,1,1"])
    line = run_bad(capsys, here, "--set", f"workload.trace={path}", "--set", "workload.trace_start_offset_s=5000")
    assert "outside the run (0 s .. 4320 s)" in line


# ---- 7. token counts: ASCII digits only -------------------------------------------------------
@pytest.mark.parametrize("tokens", ["1_000", "+5", "١٢٣", "٣", "１２", "5.0", "0x10", "1e3", "-0", "", "7 7"])
def test_token_counts_must_be_ascii_digits(here, tokens):
    path = _trace([GOOD_ROW, f"2023-11-16 18:15:50.0,{tokens},1"])
    with pytest.raises(DataFileError) as err:
        load_azure_trace(path)
    assert _one_line(err.value).startswith(f"t.csv:3: ContextTokens is {tokens!r}; expected an integer >= 1")


def test_token_count_with_underscore_is_refused_end_to_end(capsys, here):
    path = _trace([GOOD_ROW, "2023-11-16 18:15:50.0,12,1_000"])
    line = run_bad(capsys, here, "--set", f"workload.trace={path}")
    assert "t.csv:3: GeneratedTokens is '1_000'; expected an integer >= 1 in ASCII digits 0-9" in line


def test_token_counts_spaces_leading_zeros_and_bounds(here):
    trace = load_azure_trace(_trace(["2023-11-16 18:15:46, 7 ,\t0010", "2023-11-16 18:15:47,10000000,1"]))
    assert trace.prompt_tokens.tolist() == [7, 10_000_000] and trace.output_tokens.tolist() == [10, 1]
    with pytest.raises(DataFileError, match="from 1 to 10000000"):
        load_azure_trace(_trace(["2023-11-16 18:15:46,10000001,1"]))
    with pytest.raises(DataFileError, match="from 1 to 10000000"):
        load_azure_trace(_trace(["2023-11-16 18:15:46," + "9" * 5000 + ",1"]))


def test_non_ascii_digits_in_trace_timestamps_are_refused(here):
    with pytest.raises(DataFileError, match=r"t\.csv:2: TIMESTAMP is '٢٠٢٣-11-16 18:15:46'; expected 'YYYY"):
        load_azure_trace(_trace(["٢٠٢٣-11-16 18:15:46,1,1"]))


# ---- 8. nonsense values in signal CSVs and tariffs --------------------------------------------
@pytest.mark.parametrize("header,raw,needle", [
    ("carbon_g_per_kwh", "-100", "carbon_g_per_kwh '-100' is -100 g_per_kwh; allowed: 0 .. 10,000 g_per_kwh"),
    ("carbon_g_per_kwh", "1e308", "carbon_g_per_kwh '1e308' is 1e+308 g_per_kwh; allowed: 0 .. 10,000 g_per_kwh"),
    ("carbon_kg_per_kwh", "1e306", "is inf g_per_kwh; allowed: 0 .. 10,000"),  # 1e306 kg -> 1e309 g overflows
    ("carbon_lb_per_mwh", "30000", "is 13607.8 g_per_kwh; allowed: 0 .. 10,000"),
    ("carbon_g_per_kwh", "nan", "'nan' is not allowed; must be a finite number"),
    ("carbon_g_per_kwh", "inf", "'inf' is not allowed; must be a finite number"),
    ("carbon_g_per_kwh", "-inf", "'-inf' is not allowed; must be a finite number"),
    ("carbon_g_per_kwh", "1_000", "'1_000' is not allowed; must be a finite number"),
    ("carbon_g_per_kwh", "١٢٣", "'١٢٣' is not allowed; must be a finite number"),
    ("price_usd_per_kwh", "1e308", "is 1e+308 usd_per_kwh; allowed: -10 .. 1,000 usd_per_kwh"),
    ("price_usd_per_kwh", "-11", "is -11 usd_per_kwh; allowed: -10 .. 1,000 usd_per_kwh"),
    ("price_usd_per_mwh", "2000000", "is 2000 usd_per_kwh; allowed: -10 .. 1,000"),
    ("power_w", "2e12", "is 2e+12 w; allowed: -1e+12 .. 1e+12 w"),
    ("energy_kwh", "1e13", "is 1e+16 wh; allowed: -1e+15 .. 1e+15 wh"),
    ("share_pct", "150", "is 1.5 fraction; allowed: 0 .. 1 fraction"),
])
def test_signal_values_out_of_bounds_name_file_line(here, header, raw, needle):
    path = _write("s.csv", f"time_s,{header}\n0,1\n60,{raw}\n")
    with pytest.raises(DataFileError) as err:
        load_time_value_csv(path)
    assert _one_line(err.value).startswith("s.csv:3: ") and needle in str(err.value)


@pytest.mark.parametrize("raw", ["-100", "1e308", "nan"])
def test_nonsense_carbon_csv_is_refused_end_to_end(capsys, here, raw):
    path = _write("c.csv", f"time_s,carbon_g_per_kwh\n0,{raw}\n86400,200\n")
    line = run_bad(capsys, here, "--set", f"grid.carbon={path}")
    assert "c.csv:2: carbon_g_per_kwh" in line and ("allowed: 0 .. 10,000 g_per_kwh" in line or "finite" in line)


@pytest.mark.parametrize("text,needle", [
    ("time_s,power_w\n0,1\n1e11,2\n", "s.csv:3: time_s '1e11' is not allowed"),
    ("time,power_w\n0001-01-01T00:00,1\n2022-01-01T00:00,2\n", "s.csv:2: time '0001-01-01T00:00' is not allowed; "
                                                               "allowed: a date-time in the years 1900 .. 2200"),
    ("time,power_w\n2022-01-01T00:00,1\n9999-12-31T00:00,2\n", "s.csv:3: time '9999-12-31T00:00' is not allowed"),
    ("time,power_w\n0001-01-01T00:00+01:00,1\n2022-01-01T00:00,2\n", "s.csv:2: time '0001-01-01T00:00+01:00'"),
], ids=["time_s", "year-1", "year-9999", "year-1-offset"])
def test_signal_times_out_of_bounds_name_file_line(here, text, needle):
    with pytest.raises(DataFileError) as err:
        load_time_value_csv(_write("s.csv", text))
    assert needle in _one_line(err.value)


def test_signal_values_at_the_bounds_load(here):
    sig = load_time_value_csv(_write("s.csv", "time_s,carbon_g_per_kwh\n0,0\n60,10000\n120,1e4\n"))
    assert sig.values == (0.0, 10_000.0, 10_000.0)
    sig = load_time_value_csv(_write("p.csv", "time_s,price_usd_per_mwh\n0,-10000\n60,1e6\n"))
    assert sig.values == (-10.0, 1000.0)


def test_eia930_carbon_above_the_bound_is_refused(here):
    path = _write("e.csv", "timestamp,avg_CI\n2022-01-01 00:00:00+00:00,200\n2022-01-01 01:00:00+00:00,1e308\n")
    with pytest.raises(DataFileError) as err:
        load_eia930_signal(path)
    assert _one_line(err.value) == ("e.csv:3: avg_CI '1e308' is not allowed; must be a plain number >= 0 and "
                                    "<= 10,000 (gCO2/kWh) or empty")


@pytest.mark.parametrize("fields,key,needle", [
    ({"price": "1e308"}, "periods[0].price_usd_per_kwh", "1e+308 is not allowed; allowed: a number >= 0 and <= 1,000"),
    ({"price": "nan"}, "periods[0].price_usd_per_kwh", "nan is not allowed"),
    ({"price": "inf"}, "periods[0].price_usd_per_kwh", "inf is not allowed"),
    ({"price": "1001"}, "periods[0].price_usd_per_kwh", "1001 is not allowed"),
    ({"rate": "1e5"}, "demand_charges[0].usd_per_kw", "100000.0 is not allowed; allowed: a number >= 0 and <= 10,000"),
    ({"rate": "-1"}, "demand_charges[0].usd_per_kw", "-1 is not allowed"),
    ({"interval": "1e-9"}, "demand_charges[0].interval_s", "1e-09 is not allowed; allowed: a number of seconds >= 1"),
    ({"interval": "0.5"}, "demand_charges[0].interval_s", "0.5 is not allowed"),
    ({"interval": "inf"}, "demand_charges[0].interval_s", "inf is not allowed"),
])
def test_tariff_file_numbers_out_of_bounds(here, fields, key, needle):
    with pytest.raises(DataFileError) as err:
        load_tariff(_tariff(**fields))
    assert _one_line(err.value) .startswith(f"t.toml: {key}: {needle}")


def test_tariff_file_fixed_charge_out_of_bounds(here):
    path = _write("t.json", '{"name": "x", "fixed_usd_per_day": 1e300, "periods": '
                            '[{"name": "a", "price_usd_per_kwh": 0.2, "hours": "all"}]}')
    with pytest.raises(DataFileError, match=r"^t\.json: fixed_usd_per_day: 1e\+300 is not allowed; allowed: a "
                                            r"number >= 0 and <= 100,000 \(US \$/day\)$"):
        load_tariff(path)


def test_tariff_bounds_hold_for_tariffs_built_in_code():
    with pytest.raises(ValueError, match=r"period p: price_usd_per_kwh 1e\+308 must be a number >= 0 and <= 1,000"):
        TouPeriod("p", 1e308, (0,))
    with pytest.raises(ValueError, match=r"demand charge d: interval_s 1e-09 must divide 3600 s exactly .* >= 1 s"):
        DemandCharge("d", 1.0, interval_s=1e-9)
    with pytest.raises(ValueError, match=r"demand charge d: usd_per_kw 1e\+300 must be a number >= 0 and <= 10,000"):
        DemandCharge("d", 1e300)
    assert DemandCharge("d", 10_000.0, interval_s=1.0).interval_s == 1.0


def test_tariff_price_of_1e308_is_refused_end_to_end(capsys, here):
    line = run_bad(capsys, here, "--set", f"grid.tariff={_tariff(price='1e308')}")
    assert "t.toml: periods[0].price_usd_per_kwh: 1e+308 is not allowed" in line


def test_depot_demand_interval_of_a_nanosecond_is_refused_end_to_end(capsys, here):
    line = run_bad(capsys, here, *TAXIS, "--set", f"fleet.robotaxi.depot.tariff={_tariff(interval='1e-9')}")
    assert "t.toml: demand_charges[0].interval_s: 1e-09 is not allowed" in line


# ---- 9. a missing optional dependency ---------------------------------------------------------
def test_depot_solar_without_pvlib_names_the_extra(capsys, here, monkeypatch):
    example = ROOT / "examples" / "depot_solar.toml"
    weather = ROOT.parent / "shared" / "data" / "weather-epw" / "USA_CA_San.Jose-Mineta.epw"
    if not weather.exists():
        pytest.skip(f"typical-year weather file not found at {weather}")
    monkeypatch.setitem(sys.modules, "pvlib", None)  # makes `import pvlib` fail
    line = run_bad(capsys, here, str(example), *TAXIS)
    assert line == ("fleetsim: error: fleet.robotaxi.depot.solar_kw_dc > 0: PV output needs pvlib: "
                    "pip install 'fleetsim[solar]'")


def test_valid_inputs_still_load(here):
    """The hardening leaves valid files alone (values checked by hand)."""
    trace = load_azure_trace(_trace([GOOD_ROW, "2023-11-16 18:15:50.9951690,396,109"]))
    assert trace.offset_s.tolist() == [0.0, 4.314579] and trace.prompt_tokens.tolist() == [374, 396]
    sig = load_time_value_csv(_write("s.csv", "time,carbon_g_per_kwh\n2022-06-01T00:00Z,200\n2022-06-01T01:00Z,150\n"))
    assert sig.start == datetime(2022, 6, 1, tzinfo=timezone.utc) and sig.values == (200.0, 150.0)
    tariff = load_tariff(_tariff(price="0.25", rate="20.5", interval="900"))
    assert tariff.periods[0].price_usd_per_kwh == 0.25 and tariff.demand_charges[0].usd_per_kw == 20.5
    assert math.isclose(tariff.demand_charges[0].interval_s, 900.0)
