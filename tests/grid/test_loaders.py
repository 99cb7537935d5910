"""Signal loaders: the real EIA-930 files, a generic time/value CSV in each header form, errors."""
from __future__ import annotations

import csv
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from grid.loaders import UNITS, load_eia930, load_eia930_signal, load_time_value_csv, parse_unit
from grid.signals import CalendarSignal, StepSignal
from sim.core.errors import DataFileError, FleetsimInputError

ROOT = Path(__file__).resolve().parents[2]
EIA = ROOT / ".." / "shared" / "data" / "eia930-carbon-2022"
UTC = timezone.utc
LA = ZoneInfo("America/Los_Angeles")
HOUR = timedelta(hours=1)


def _real(name: str) -> Path:
    path = EIA / name
    if not path.exists():
        pytest.skip(f"real EIA-930 data not found at {path} (../shared/data is absent)")
    return path


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _write(tmp_path: Path, text: str, name: str = "sig.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


# ---- real files -------------------------------------------------------------------------------
@pytest.mark.parametrize("fname,empty", [("CISO.csv", 3), ("ERCO.csv", 0)])
def test_eia930_signal_reads_real_file(fname, empty):
    path = _real(fname)
    rows = _rows(path)
    assert len(rows) == 8760
    assert sum(1 for r in rows if r["avg_CI"] == "") == empty
    sig = load_eia930_signal(path)
    assert isinstance(sig, CalendarSignal)
    assert (sig.name, sig.unit) == ("carbon_g_per_kwh", "g_per_kwh")
    assert len(sig) == 8760 - empty
    assert len(load_eia930(path)) == 8760 - empty
    assert sig.start == datetime(2022, 1, 1, tzinfo=UTC)
    assert sig.end == datetime(2023, 1, 1, tzinfo=UTC)  # 8,760 hourly pieces
    # a known hour, read independently: 2022-07-22 01:00 UTC is 2022-07-21 18:00 in Los Angeles
    want = next(float(r["avg_CI"]) for r in rows if r["timestamp"] == "2022-07-22 01:00:00+00:00")
    assert sig.value(datetime(2022, 7, 21, 18, 30, tzinfo=LA)) == want
    # the whole year's integral: each hour's value (an empty hour repeats the previous one) x 3600 s
    total, last = 0.0, float("nan")
    for r in rows:
        last = float(r["avg_CI"]) if r["avg_CI"] else last
        total += last * 3600
    assert sig.integral(sig.start, sig.end) == pytest.approx(total, rel=1e-12)
    assert sig.mean(sig.start, sig.end) == pytest.approx(total / (8760 * 3600), rel=1e-12)


def test_ciso_empty_hour_keeps_previous_value():
    path = _real("CISO.csv")
    by_stamp = {r["timestamp"]: r["avg_CI"] for r in _rows(path)}
    assert by_stamp["2022-01-05 10:00:00+00:00"] == ""
    sig = load_eia930_signal(path)
    prev = float(by_stamp["2022-01-05 09:00:00+00:00"])
    assert sig.value(datetime(2022, 1, 5, 10, 30, tzinfo=UTC)) == prev
    assert sig.value(datetime(2022, 1, 5, 11, tzinfo=UTC)) == float(by_stamp["2022-01-05 11:00:00+00:00"])


def test_generic_csv_rewritten_from_real_file_matches(tmp_path):
    """The CISO file rewritten as time,carbon_lb_per_mwh loads back to the same g/kWh signal."""
    path = _real("CISO.csv")
    lines = ["time,carbon_lb_per_mwh"]
    for r in _rows(path):
        if r["avg_CI"]:
            stamp = datetime.fromisoformat(r["timestamp"]).strftime("%Y-%m-%dT%H:%M:%S")  # offset-less: UTC
            lines.append(f"{stamp},{float(r['avg_CI']) * 1000 / 453.59237!r}")
    sig = load_time_value_csv(_write(tmp_path, "\r\n".join(lines) + "\r\n"))
    ref = load_eia930_signal(path)
    assert isinstance(sig, CalendarSignal)
    assert (sig.name, sig.unit, len(sig)) == ("carbon_g_per_kwh", "g_per_kwh", 8757)
    assert sig.end == ref.end
    assert sig.values == pytest.approx(ref.values, rel=1e-12)
    assert sig.integral(sig.start, sig.end) == pytest.approx(ref.integral(ref.start, ref.end), rel=1e-12)


# ---- generic CSV: header forms and conversions ------------------------------------------------
def test_calendar_csv_g_per_kwh(tmp_path):
    path = _write(tmp_path, "time,carbon_g_per_kwh\n2022-06-01T00:00:00,200\n2022-06-01T01:00:00,150.5\n")
    sig = load_time_value_csv(path)
    assert isinstance(sig, CalendarSignal)
    assert (sig.name, sig.unit) == ("carbon_g_per_kwh", "g_per_kwh")
    assert sig.start == datetime(2022, 6, 1, tzinfo=UTC)  # offset-less stamps are UTC
    assert sig.end == datetime(2022, 6, 1, 2, tzinfo=UTC)  # last step = median spacing
    assert sig.values == (200.0, 150.5)
    assert sig.integral(sig.start, sig.end) == 3600 * 200 + 3600 * 150.5


def test_offset_csv_power_kw_and_median_last_step(tmp_path):
    path = _write(tmp_path, "time_s,power_kw\n0,1.5\n600,2\n900,0.25\n1800,3\n")
    sig = load_time_value_csv(path)
    assert isinstance(sig, StepSignal)
    assert (sig.name, sig.unit) == ("power_w", "w")
    assert sig.values == (1500.0, 2000.0, 250.0, 3000.0)
    assert sig.end_s == 1800 + 600  # spacings 600, 300, 900: median 600
    assert sig.integral(0, 2400) == 1500 * 600 + 2000 * 300 + 250 * 900 + 3000 * 600


def test_price_usd_per_mwh_converted_by_hand(tmp_path):
    path = _write(tmp_path, "time,price_usd_per_mwh\n2023-01-01 00:00+00:00,55.9\n2023-01-01 01:00+00:00,-12\n")
    sig = load_time_value_csv(path)
    assert (sig.name, sig.unit) == ("price_usd_per_kwh", "usd_per_kwh")
    assert sig.values == pytest.approx((0.0559, -0.012), rel=1e-15)  # $/MWh / 1000


def test_carbon_lb_per_mwh_converted_by_hand(tmp_path):
    # 954 lb/MWh = 0.954 lb/kWh = 0.954 * 453.59237 g/kWh = 432.72712098 g/kWh (Strubell's EPA factor)
    path = _write(tmp_path, "time,carbon_lb_per_mwh\n2023-01-01T00:00Z,954\n2023-01-01T01:00Z,1000\n")
    sig = load_time_value_csv(path)
    assert (sig.name, sig.unit) == ("carbon_g_per_kwh", "g_per_kwh")
    assert sig.values == pytest.approx((432.72712098, 453.59237), rel=1e-12)


@pytest.mark.parametrize("header,raw,name,unit,want", [
    ("value [g/kWh]", "300", "value_g_per_kwh", "g_per_kwh", 300.0),
    ("value [gCO2/kWh]", "300", "value_g_per_kwh", "g_per_kwh", 300.0),
    ("carbon [lb/MWh]", "1000", "carbon_g_per_kwh", "g_per_kwh", 453.59237),
    ("Price (USD/MWh)", "40", "price_usd_per_kwh", "usd_per_kwh", 0.04),
    ("price [$/MWh]", "40", "price_usd_per_kwh", "usd_per_kwh", 0.04),
    ("price [$/kWh]", "0.31", "price_usd_per_kwh", "usd_per_kwh", 0.31),
    ("price_usd_per_kwh", "0.31", "price_usd_per_kwh", "usd_per_kwh", 0.31),
    ("carbon_kg_per_kwh", "0.25", "carbon_g_per_kwh", "g_per_kwh", 250.0),
    ("carbon_kg_per_mwh", "250", "carbon_g_per_kwh", "g_per_kwh", 250.0),
    ("power_w", "120", "power_w", "w", 120.0),
    ("load_mw", "2.5", "load_w", "w", 2.5e6),
    ("solar [kW]", "4", "solar_w", "w", 4000.0),
    ("energy_kwh", "1.25", "energy_wh", "wh", 1250.0),
    ("energy_wh", "7", "energy_wh", "wh", 7.0),
    ("solar_fraction", "0.5", "solar_fraction", "fraction", 0.5),
    ("solar_pct", "50", "solar_fraction", "fraction", 0.5),
    ("Carbon_G_per_kWh", "300", "carbon_g_per_kwh", "g_per_kwh", 300.0),
])
def test_each_header_form(tmp_path, header, raw, name, unit, want):
    path = _write(tmp_path, f"time_s,{header}\n0,{raw}\n60,{raw}\n")
    sig = load_time_value_csv(path)
    assert (sig.name, sig.unit) == (name, unit)
    assert sig.value(30) == pytest.approx(want, rel=1e-15)


def test_unit_table_internal_units_only():
    assert {u for u, _, _ in UNITS.values()} == {"g_per_kwh", "usd_per_kwh", "w", "wh", "fraction"}
    assert parse_unit("carbon_per_kwh") is None  # "_per_kwh" with no numerator is not energy
    assert parse_unit("kwh") is None  # no quantity
    assert parse_unit("carbon_g_per_kwh") == ("carbon", "g_per_kwh", 1.0, 1.0)


def test_crlf_bom_blank_lines_and_offsets(tmp_path):
    text = "\ufefftime,carbon_g_per_kwh\r\n2022-11-06T01:30:00-07:00,100\r\n2022-11-06T01:30:00-08:00,200\r\n\r\n\r\n"
    sig = load_time_value_csv(_write(tmp_path, text))
    # 01:30 PDT = 08:30 UTC and 01:30 PST = 09:30 UTC: one hour apart although the wall clock repeats
    assert sig.start == datetime(2022, 11, 6, 8, 30, tzinfo=UTC)
    assert sig.end == datetime(2022, 11, 6, 10, 30, tzinfo=UTC)
    assert sig.value(datetime(2022, 11, 6, 1, 45, tzinfo=LA, fold=1)) == 200


# ---- generic CSV: errors ------------------------------------------------------------------------
@pytest.mark.parametrize("text,match", [
    ("", r"sig\.csv:1: file is empty"),
    ("\ufeff\r\n\r\n", r"sig\.csv:1: file is empty"),
    ("when,carbon_g_per_kwh\n0,1\n", r"sig\.csv:1: first column 'when' is not allowed; use time .* or time_s"),
    ("time,carbon_furlongs\n", r"sig\.csv:1: column 'carbon_furlongs' has no known unit; .*g_per_kwh"),
    ("time,carbon_per_kwh\n", r"sig\.csv:1: column 'carbon_per_kwh' has no known unit"),
    ("time,value [g/furlong]\n", r"sig\.csv:1: column 'value \[g/furlong\]' has no known unit"),
    ("time,carbon\n", r"sig\.csv:1: column 'carbon' has no known unit"),
    ("time,a_w,b_w\n", r"sig\.csv:1: header 'time,a_w,b_w' has 3 columns; needs exactly two"),
    ("time_s,power_w\n0,1\n60,abc\n", r"sig\.csv:3: power_w 'abc' is not allowed; must be a finite number"),
    ("time_s,power_w\n0,1\n60,nan\n", r"sig\.csv:3: power_w 'nan' is not allowed"),
    ("time_s,power_w\n0,1\n60,\n", r"sig\.csv:3: power_w '' is not allowed"),
    ("time_s,power_w\n0,1\n60,2\n60,3\n", r"sig\.csv:4: time_s '60' is not after the previous row's '60'"),
    ("time_s,power_w\n0,1\n60,2\n30,3\n", r"sig\.csv:4: time_s '30' is not after .*strictly increase"),
    ("time_s,power_w\n0,1\nsoon,2\n", r"sig\.csv:3: time_s 'soon' is not allowed; must be a finite number"),
    ("time,power_w\n2022-01-01T01:00,1\n2022-01-01T00:00,2\n",
     r"sig\.csv:3: time '2022-01-01T00:00' is not after the previous row's '2022-01-01T01:00'"),
    ("time,power_w\n2022-01-01T00:00,1\n2022-01-01T01:00+01:00,2\n", r"sig\.csv:3: .*strictly increase"),
    ("time,power_w\nyesterday,1\n", r"sig\.csv:2: time 'yesterday' is not an ISO 8601 date-time"),
    ("time,power_w\n2022-01-01T00:00,1,9\n", r"sig\.csv:2: row has 3 fields; needs 2"),
    ("time,power_w\n", r"sig\.csv: has 0 data rows; needs at least two"),
    ("time,power_w\n2022-01-01T00:00,1\n", r"sig\.csv: has 1 data rows; needs at least two"),
])
def test_errors_name_file_line_value_and_allowed(tmp_path, text, match):
    with pytest.raises(DataFileError, match=match) as err:
        load_time_value_csv(_write(tmp_path, text))
    assert "\n" not in str(err.value)


def test_unreadable_and_non_utf8(tmp_path):
    with pytest.raises(FleetsimInputError, match=r"grid\.carbon = '.*nope\.csv': file not found"):
        load_time_value_csv(tmp_path / "nope.csv")
    path = tmp_path / "latin.csv"
    path.write_bytes(b"time_s,power_w\n0,1\n60,\xff\n")
    with pytest.raises(DataFileError, match=r"latin\.csv:3: is not UTF-8"):
        load_time_value_csv(path)
