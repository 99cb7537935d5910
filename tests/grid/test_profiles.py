"""Built-in carbon profiles vs. the real EIA-930 files; the EIA-930 loader's error messages."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from grid.profiles import (
    CAISO_2022_CARBON_G_PER_KWH,
    CARBON_PROFILES,
    ERCOT_2022_CARBON_G_PER_KWH,
    hourly_profile_from_eia930,
    load_eia930,
)
from sim.core.clock import Clock
from sim.core.errors import DataFileError

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "eia930-carbon-2022"

# reference/facts.md section 4, typed in here independently of grid/profiles.py.
FACTS_CAISO = [308, 305, 303, 301, 301, 301, 301, 283, 231, 193, 181, 178,
               177, 177, 178, 184, 208, 241, 266, 294, 306, 309, 310, 311]
FACTS_ERCOT = [342, 330, 324, 322, 324, 329, 338, 351, 356, 344, 333, 333,
               337, 342, 345, 347, 347, 353, 366, 377, 383, 383, 372, 356]


def _data_file(name: str) -> Path:
    path = DATA / name
    if not path.exists():
        pytest.skip(f"real EIA-930 data not found at {path} (../shared/data is absent)")
    return path


def test_builtin_constants_equal_facts():
    assert list(CAISO_2022_CARBON_G_PER_KWH) == FACTS_CAISO
    assert list(ERCOT_2022_CARBON_G_PER_KWH) == FACTS_ERCOT
    assert CARBON_PROFILES["caiso_2022"].timezone == "America/Los_Angeles"
    assert CARBON_PROFILES["ercot_2022"].timezone == "America/Chicago"
    for p in CARBON_PROFILES.values():
        assert "EIA-930" in p.source and "dc-rl" in p.source
        assert p.unit == "g_per_kwh"


@pytest.mark.parametrize("fname,tz,facts,mean", [
    ("CISO.csv", "America/Los_Angeles", FACTS_CAISO, 256),
    ("ERCO.csv", "America/Chicago", FACTS_ERCOT, 347),
])
def test_profile_from_real_data_reproduces_facts(fname, tz, facts, mean):
    series = load_eia930(_data_file(fname))
    assert str(series.index.tz) == "UTC"
    assert series.index.is_monotonic_increasing
    profile = hourly_profile_from_eia930(series, tz)
    assert len(profile) == 24
    for hour, (got, want) in enumerate(zip(profile, facts)):
        assert abs(got - want) <= 0.5, f"hour {hour}: {got:.2f} vs facts {want}"
    assert abs(series.mean() - mean) <= 0.5


def test_ciso_loader_drops_the_three_empty_hours_and_keeps_range():
    series = load_eia930(_data_file("CISO.csv"))
    assert len(series) == 8760 - 3  # 2022-01-05 10:00, 05-17 18:00, 06-13 18:00 UTC are empty
    assert abs(series.min() - 74) < 0.5 and abs(series.max() - 449) < 0.5  # facts.md: min 74, max 449
    assert series.index[0].isoformat() == "2022-01-01T00:00:00+00:00"


def test_profile_signal_uses_its_own_time_zone():
    # A UTC clock with the CAISO profile: 20:00 UTC on 2022-07-01 is 13:00 Pacific (PDT).
    clock = Clock(datetime(2022, 7, 1, 0, 0, tzinfo=ZoneInfo("UTC")))
    s = CARBON_PROFILES["caiso_2022"].signal(clock, 0, 86400)
    assert s.value(20 * 3600 + 60) == FACTS_CAISO[13]
    assert s.value(8 * 3600) == FACTS_CAISO[1]  # 08:00 UTC = 01:00 PDT
    assert s.integral(0, 86400) == pytest.approx(3600 * sum(FACTS_CAISO))


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    return path


GOOD_HEAD = "timestamp,NG,avg_CI\n2022-01-01 00:00:00+00:00,1,200.5\n2022-01-01 01:00:00+00:00,1,210\n"


def test_loader_small_good_file(tmp_path):
    s = load_eia930(_write(tmp_path, GOOD_HEAD + "2022-01-01 02:00:00+00:00,1,\n2022-01-01 03:00:00+00:00,1,0\n"))
    assert s.tolist() == [200.5, 210.0, 0.0]
    assert [t.hour for t in s.index] == [0, 1, 3]


def test_loader_non_numeric_value_names_line_and_value(tmp_path):
    path = _write(tmp_path, GOOD_HEAD + "2022-01-01 02:00:00+00:00,1,abc\n")
    with pytest.raises(DataFileError) as err:
        load_eia930(path)
    msg = str(err.value)
    assert f"{path}:4" in msg
    assert "'abc'" in msg and ">= 0" in msg
    assert err.value.line == 4


def test_loader_negative_value(tmp_path):
    path = _write(tmp_path, GOOD_HEAD + "2022-01-01 02:00:00+00:00,1,-3.5\n")
    with pytest.raises(DataFileError, match=r"bad\.csv:4: avg_CI '-3\.5'.*>= 0"):
        load_eia930(path)


def test_loader_nan_text_rejected(tmp_path):
    path = _write(tmp_path, "timestamp,avg_CI\n2022-01-01 00:00:00+00:00,NaN\n")
    with pytest.raises(DataFileError, match=r"bad\.csv:2: avg_CI 'NaN'"):
        load_eia930(path)


def test_loader_missing_column(tmp_path):
    path = _write(tmp_path, "timestamp,NG,CI\n2022-01-01 00:00:00+00:00,1,200\n")
    with pytest.raises(DataFileError) as err:
        load_eia930(path)
    assert f"{path}:1" in str(err.value)
    assert "missing column avg_CI" in str(err.value)
    path2 = _write(tmp_path, "time,avg_CI\n2022-01-01 00:00:00+00:00,200\n")
    with pytest.raises(DataFileError, match="missing column timestamp"):
        load_eia930(path2)


def test_loader_missing_file(tmp_path):
    path = tmp_path / "nope.csv"
    with pytest.raises(DataFileError, match=r"nope\.csv: cannot read"):
        load_eia930(path)


def test_loader_bad_and_unordered_timestamps(tmp_path):
    path = _write(tmp_path, GOOD_HEAD + "yesterday,1,200\n")
    with pytest.raises(DataFileError, match=r"bad\.csv:4: timestamp 'yesterday'"):
        load_eia930(path)
    path = _write(tmp_path, GOOD_HEAD + "2022-01-01 01:00:00+00:00,1,200\n")
    with pytest.raises(DataFileError, match=r"bad\.csv:4: .*strictly increase"):
        load_eia930(path)


def test_profile_needs_every_hour():
    import pandas as pd

    s = pd.Series([1.0, 2.0], index=pd.date_range("2022-01-01", periods=2, freq="h", tz="UTC"))
    with pytest.raises(ValueError, match="no data for local hours"):
        hourly_profile_from_eia930(s, "UTC")
