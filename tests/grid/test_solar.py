"""EPW reader, typical-year mapping and PV output: real TMYx files, hand-written EPWs, calendar truth."""
from __future__ import annotations

import csv
import importlib.util
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from grid.weather import HOURS_PER_YEAR, read_epw, typical_year_signal
from sim.core.clock import Clock
from sim.core.errors import DataFileError, FleetsimInputError

EPW_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "weather-epw"
SAN_JOSE = EPW_DIR / "USA_CA_San.Jose-Mineta.epw"
DALLAS = EPW_DIR / "USA_TX_Dallas-Fort.Worth.epw"
LA = ZoneInfo("America/Los_Angeles")

needs_pvlib = pytest.mark.skipif(
    importlib.util.find_spec("pvlib") is None,
    reason="pvlib is not installed (optional extra: pip install 'fleetsim[solar]')",
)


def _real(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real EPW weather file not found at {path} (../shared/data is absent)")
    return path


@pytest.fixture(scope="module")
def san_jose():
    return read_epw(_real(SAN_JOSE))


@pytest.fixture(scope="module")
def dallas():
    return read_epw(_real(DALLAS))


# ---- hand-written EPW files ----------------------------------------------------------------
LOCATION = "LOCATION,Testville,CA,USA,TEST,000000,37.00,-122.00,-8.0,12.5"


def _rows() -> list[str]:
    """8,760 valid data rows; temperature = hour index / 1000 so each row is recognisable."""
    rows = []
    for n in range(HOURS_PER_YEAR):
        day = date(2001, 1, 1) + timedelta(days=n // 24)
        f = ["1999", str(day.month), str(day.day), str(n % 24 + 1), "0", "?9?9"] + ["0"] * 29
        f[6], f[13], f[14], f[15], f[21] = f"{n / 1000:.3f}", "500", "600", "100", "3.5"
        rows.append(",".join(f))
    return rows


def _write(path: Path, rows: list[str], location: str = LOCATION) -> Path:
    header = [location] + [f"HEADER LINE {i}" for i in range(2, 9)]
    path.write_text("\r\n".join(header + rows) + "\r\n", encoding="utf-8")
    return path


def test_hand_written_file_reads_with_hour_start_timestamps(tmp_path):
    w = read_epw(_write(tmp_path / "ok.epw", _rows()))
    assert (w.city, w.latitude_deg, w.longitude_deg, w.utc_offset_h, w.elevation_m) == (
        "Testville", 37.0, -122.0, -8.0, 12.5)
    assert len(w.data) == HOURS_PER_YEAR
    # EPW 1/1 hour 1 is the hour ending 01:00 standard time: it starts at 00:00 -08:00.
    assert w.data.index[0] == pd.Timestamp("2001-01-01 00:00-08:00")
    assert w.data.index[-1] == pd.Timestamp("2001-12-31 23:00-08:00")
    assert w.data["temp_air_c"].iloc[1234] == pytest.approx(1.234)
    assert w.data["wind_speed_m_per_s"].eq(3.5).all() and w.data["dni_w_per_m2"].eq(600).all()


@pytest.mark.parametrize(
    "edit, line, needle",
    [
        (lambda r: r.__setitem__(100, ",".join(r[100].split(",")[:20])), 109, "has 20 fields; needs at least 22"),
        (lambda r: r.__setitem__(5, r[5].replace(",500,", ",abc,", 1)), 14, "'abc'; allowed: a number in 0..1500"),
        (lambda r: r.__setitem__(7, r[7].replace(",500,", ",9999,", 1)), 16, "ghi_w_per_m2 (field 14) is '9999'"),
        (lambda r: r.pop(), 8767, "ends after 8,759 hourly rows; an EPW typical year has 8,760"),
        (lambda r: r.append(r[-1]), 8769, "extra row after 8,760 hourly rows"),
        (lambda r: r.pop(30), 39, "month/day/hour is '1/2/8'; expected '1/2/7'"),
    ],
    ids=["too-few-fields", "non-numeric", "missing-marker", "short", "long", "out-of-order"],
)
def test_malformed_rows_name_file_line_value_and_allowed(tmp_path, edit, line, needle):
    rows = _rows()
    edit(rows)
    path = _write(tmp_path / "bad.epw", rows)
    with pytest.raises(DataFileError) as info:
        read_epw(path)
    assert str(info.value).startswith(f"{path}:{line}: ")
    assert needle in str(info.value)
    assert info.value.line == line


def test_bad_location_line_and_missing_file(tmp_path):
    path = _write(tmp_path / "loc.epw", _rows(), LOCATION.replace("37.00", "north"))
    with pytest.raises(DataFileError, match=r"loc\.epw:1: latitude \(field 7\) is 'north'; allowed: a number"):
        read_epw(path)
    path = _write(tmp_path / "first.epw", _rows(), "DESIGN CONDITIONS,1")
    with pytest.raises(DataFileError, match=r"first\.epw:1: .*starts with a LOCATION line"):
        read_epw(path)
    with pytest.raises(FleetsimInputError, match=r"depot\.weather_epw = '.*nope\.epw': file not found"):
        read_epw(tmp_path / "nope.epw")


# ---- the real typical-year files -----------------------------------------------------------
def test_real_files_have_a_full_year_and_header_metadata(san_jose, dallas):
    for w, tz_h in ((san_jose, -8.0), (dallas, -6.0)):
        assert len(w.data) == HOURS_PER_YEAR
        assert w.utc_offset_h == tz_h
        assert ((w.data.index[1:] - w.data.index[:-1]) == pd.Timedelta(hours=1)).all()
        assert w.data.index[0].utcoffset() == timedelta(hours=tz_h)
    assert san_jose.latitude_deg == pytest.approx(37.36, abs=0.01)
    assert san_jose.longitude_deg == pytest.approx(-121.93, abs=0.01)
    assert san_jose.elevation_m == pytest.approx(15.5)
    assert "San.Jose" in san_jose.city
    assert dallas.latitude_deg == pytest.approx(32.90, abs=0.01)
    assert dallas.longitude_deg == pytest.approx(-97.02, abs=0.01)


def _csv_row(path: Path, month: int, day: int, hour: int) -> list[str]:
    with open(path, newline="") as fh:
        for row in list(csv.reader(fh))[8:]:
            if (int(row[1]), int(row[2]), int(row[3])) == (month, day, hour):
                return row
    raise AssertionError(f"{month}/{day} hour {hour} not in {path}")


@pytest.mark.parametrize("month, day, hour", [(7, 15, 13), (1, 1, 1), (12, 31, 24)])
def test_known_hours_match_an_independent_csv_read(san_jose, month, day, hour):
    row = _csv_row(SAN_JOSE, month, day, hour)  # fields 7, 14, 15, 16, 22 (1-based)
    stamp = pd.Timestamp(datetime(2001, month, day), tz="Etc/GMT+8") + pd.Timedelta(hours=hour - 1)
    got = san_jose.data.loc[stamp]
    assert got["temp_air_c"] == float(row[6])
    assert got["ghi_w_per_m2"] == float(row[13])
    assert got["dni_w_per_m2"] == float(row[14])
    assert got["dhi_w_per_m2"] == float(row[15])
    assert got["wind_speed_m_per_s"] == float(row[21])
    if (month, day, hour) == (7, 15, 13):
        assert got["ghi_w_per_m2"] > 500  # a midsummer hour ending 13:00 standard time is bright


# ---- typical-year mapping onto a run's calendar (no pvlib needed) ---------------------------
def _index_weather(tmp_path):
    """A hand-written year whose temperature column is the row index / 1000."""
    w = read_epw(_write(tmp_path / "idx.epw", _rows()))
    return w, np.arange(HOURS_PER_YEAR, dtype=float)


def _row(month: int, day: int, hour_start: int) -> int:
    return (date(2001, month, day) - date(2001, 1, 1)).days * 24 + hour_start


def test_mapping_uses_standard_time_across_the_dst_change(tmp_path):
    w, idx = _index_weather(tmp_path)
    start = datetime(2024, 3, 9, 0, 0, tzinfo=LA)  # DST begins 2024-03-10 02:00 PST
    clock = Clock(start)
    sig = typical_year_signal(clock, 0.0, 3 * 86400.0, w, idx, "idx", "row")

    def at(local: datetime) -> float:  # aware datetimes sharing a tzinfo subtract as wall time: go via UTC
        return sig.value(local.timestamp() - start.timestamp())

    assert at(datetime(2024, 3, 10, 1, 30, tzinfo=LA)) == _row(3, 10, 1)  # PST: clock hour = standard hour
    # 13:30 PDT is 12:30 PST: the EPW row for the hour ending 13:00 standard time (start 12:00).
    assert at(datetime(2024, 3, 10, 13, 30, tzinfo=LA)) == _row(3, 10, 12)
    assert at(datetime(2024, 3, 11, 0, 30, tzinfo=LA)) == _row(3, 10, 23)  # local midnight PDT = 23:00 PST
    assert len(sig) == 72  # one piece per standard-time hour, DST or not


def test_mapping_handles_leap_day_and_any_year(tmp_path):
    w, idx = _index_weather(tmp_path)
    start = datetime(2028, 2, 28, 0, 0, tzinfo=ZoneInfo("Etc/GMT+8"))
    sig = typical_year_signal(Clock(start), 0.0, 3 * 86400.0, w, idx, "idx", "row")
    day_s = 86400.0
    assert sig.value(10 * 3600.0) == _row(2, 28, 10)
    assert sig.value(day_s + 10 * 3600.0) == _row(2, 28, 10)  # Feb 29 uses Feb 28
    assert sig.value(2 * day_s + 10 * 3600.0) == _row(3, 1, 10)


def test_mapping_integral_is_exact_and_starts_mid_hour(tmp_path):
    w, idx = _index_weather(tmp_path)
    start = datetime(2030, 6, 1, 0, 0, tzinfo=LA)
    clock = Clock(start)
    t0, t1 = 1800.0, 1800.0 + 5 * 3600.0  # 00:30 .. 05:30 PDT = 23:30 .. 04:30 PST
    sig = typical_year_signal(clock, t0, t1, w, idx, "idx", "row")
    rows = [_row(5, 31, 23), _row(6, 1, 0), _row(6, 1, 1), _row(6, 1, 2), _row(6, 1, 3), _row(6, 1, 4)]
    expected = 1800.0 * rows[0] + 3600.0 * sum(rows[1:5]) + 1800.0 * rows[5]
    assert sig.start_s == t0 and sig.end_s == t1
    assert sig.integral(t0, t1) == pytest.approx(expected, rel=1e-12)


def test_mapping_rejects_wrong_length(tmp_path):
    w, _ = _index_weather(tmp_path)
    with pytest.raises(ValueError, match="needs 8760 hourly values"):
        typical_year_signal(Clock(datetime(2030, 1, 1, tzinfo=LA)), 0, 3600, w, [1.0] * 24, "x", "W")


def test_missing_pvlib_gives_one_line_install_hint(monkeypatch, tmp_path):
    from grid.solar import SolarDependencyError, pv_power_w

    w = read_epw(_write(tmp_path / "ok.epw", _rows()))
    monkeypatch.setitem(sys.modules, "pvlib", None)  # makes `import pvlib` fail
    with pytest.raises(ImportError) as info:
        pv_power_w(w, 10.0)
    assert isinstance(info.value, SolarDependencyError)
    assert "pip install 'fleetsim[solar]'" in str(info.value) and "\n" not in str(info.value)


# ---- PV output (pvlib) ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def pv_sj(san_jose):
    from grid.solar import pv_power_w

    return pv_power_w(san_jose, 1.0, tilt_deg=20.0, azimuth_deg=180.0)


@pytest.fixture(scope="module")
def pv_dfw(dallas):
    from grid.solar import pv_power_w

    return pv_power_w(dallas, 1.0, tilt_deg=20.0, azimuth_deg=180.0)


def _annual_ghi_kwh_per_m2(path: Path) -> float:
    with open(path, newline="") as fh:
        return sum(float(row[13]) for row in list(csv.reader(fh))[8:]) / 1000.0


@needs_pvlib
def test_no_output_at_night(san_jose, pv_sj):
    assert pv_sj.index.equals(san_jose.data.index)
    dark = san_jose.data["ghi_w_per_m2"] == 0
    assert dark.sum() > 4000
    assert (pv_sj[dark] == 0).all()
    assert (pv_sj[pv_sj.index.hour.isin([0, 1, 2, 3, 22, 23])] == 0).all()
    assert (pv_sj >= 0).all()


@needs_pvlib
def test_peak_never_exceeds_inverter_limits(pv_sj, pv_dfw):
    from grid.solar import PVWATTS_DC_AC_RATIO, PVWATTS_INVERTER_EFFICIENCY

    for pv in (pv_sj, pv_dfw):
        assert pv.max() <= 1000.0 * PVWATTS_INVERTER_EFFICIENCY
        assert pv.max() <= 1000.0 / PVWATTS_DC_AC_RATIO + 1e-9  # AC nameplate
        assert pv.max() > 0.75 * 1000.0 / PVWATTS_DC_AC_RATIO  # clear noons come close to it


@needs_pvlib
def test_annual_specific_yield_san_jose(pv_sj):
    # Expected range for the San Francisco Bay Area from NREL's PVWatts calculator (pvwatts.nrel.gov;
    # fixed open rack, 20° tilt, south, 14 % losses): roughly 1,600-1,800 kWh/kWp/yr AC. Its manual
    # (A. P. Dobos, "PVWatts Version 5 Manual", NREL/TP-6A20-62641, 2014) gives ±10 % for annual
    # totals from typical-year weather.
    yield_kwh_per_kwp = pv_sj.sum() / 1000.0  # hourly mean W × 1 h per kWp
    assert 1600.0 <= yield_kwh_per_kwp <= 1800.0
    # Independent of pvlib: against the file's own horizontal insolation (kWh/m²), a 20° south
    # tilt at 33-37° N gains ~5-12 % and PVWatts-style losses leave a performance ratio ~0.77-0.85.
    assert 0.80 <= yield_kwh_per_kwp / _annual_ghi_kwh_per_m2(SAN_JOSE) <= 0.95


@needs_pvlib
def test_site_ranking_follows_the_weather_files_insolation(pv_sj, pv_dfw):
    # These TMYx years give San Jose more sunshine than Dallas-Fort Worth (annual GHI read straight
    # from field 14), so the yields must rank the same way, by a similar margin.
    ghi_sj, ghi_dfw = _annual_ghi_kwh_per_m2(_real(SAN_JOSE)), _annual_ghi_kwh_per_m2(_real(DALLAS))
    assert ghi_sj > ghi_dfw
    y_sj, y_dfw = pv_sj.sum() / 1000.0, pv_dfw.sum() / 1000.0
    assert y_sj > y_dfw
    assert y_sj / y_dfw == pytest.approx(ghi_sj / ghi_dfw, rel=0.05)
    assert 0.80 <= y_dfw / ghi_dfw <= 0.95


@needs_pvlib
def test_output_scales_with_capacity_and_transposition_models_agree(san_jose, pv_sj):
    from grid.solar import pv_power_w

    assert np.allclose(pv_power_w(san_jose, 250.0).to_numpy(), 250.0 * pv_sj.to_numpy())
    hay = pv_power_w(san_jose, 1.0, transposition="haydavies")
    assert hay.sum() == pytest.approx(pv_sj.sum(), rel=0.03)
    with pytest.raises(ValueError, match="tilt_deg is 95; allowed: 0..90"):
        pv_power_w(san_jose, 1.0, tilt_deg=95)
    with pytest.raises(ValueError, match="capacity_kw_dc is 0"):
        pv_power_w(san_jose, 0)


@needs_pvlib
def test_solar_signal_day_integral_equals_mapped_hours(san_jose, pv_sj):
    from grid.solar import solar_signal

    start = datetime(2026, 6, 21, 0, 0, tzinfo=LA)  # a PDT day: 00:00 PDT is 23:00 PST on June 20
    clock = Clock(start)
    sig = solar_signal(clock, 0.0, 86400.0, san_jose, 1.0)
    stamps = pd.date_range(pd.Timestamp(start).tz_convert("Etc/GMT+8"), periods=24, freq="h")
    rows = [pv_sj.loc[pd.Timestamp(datetime(2001, s.month, s.day, s.hour), tz="Etc/GMT+8")] for s in stamps]
    assert rows[0] == 0.0 and max(rows) > 600.0
    assert sig.unit == "W"
    assert sig.integral(0.0, 86400.0) == pytest.approx(3600.0 * sum(rows), rel=1e-12)
    # The sun follows the site, not the clock's zone: a UTC clock at the same instant gives the same signal.
    utc = solar_signal(Clock(start.astimezone(ZoneInfo("UTC"))), 0.0, 86400.0, san_jose, 1.0)
    assert utc.values == sig.values and utc.times_s == sig.times_s
