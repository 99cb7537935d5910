"""Time-of-use tariff: coverage validation, PG&E EV2-A periods and its daily price integral."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from grid.tariff import PGE_EV2A, TARIFFS, TouPeriod, TouTariff
from sim.clock import Clock

LA = ZoneInfo("America/Los_Angeles")
OFF, PART, PEAK = 0.27, 0.45, 0.52


def test_gap_is_rejected():
    with pytest.raises(ValueError, match=r"tariff gappy: Mon hour 23 is in no period"):
        TouTariff("gappy", (TouPeriod("a", 0.1, tuple(range(23))),), "test")


def test_gap_on_weekend_only_is_rejected():
    with pytest.raises(ValueError, match=r"tariff wk: Sat hour 0 is in no period"):
        TouTariff("wk", (TouPeriod("weekday", 0.1, tuple(range(24)), (0, 1, 2, 3, 4)),), "test")


def test_overlap_is_rejected():
    periods = (TouPeriod("a", 0.1, tuple(range(13))), TouPeriod("b", 0.2, tuple(range(12, 24))))
    with pytest.raises(ValueError, match=r"tariff lap: Mon hour 12 is covered by both a and b"):
        TouTariff("lap", periods, "test")


def test_weekday_weekend_split_is_valid():
    t = TouTariff("split", (
        TouPeriod("wd", 0.2, tuple(range(24)), (0, 1, 2, 3, 4)),
        TouPeriod("we", 0.1, tuple(range(24)), (5, 6)),
    ), "test")
    clock = Clock(datetime(2022, 6, 4, 0, tzinfo=LA))  # a Saturday
    assert t.period_name(clock, 3600) == "we"
    assert t.period_name(clock, 2 * 86400 + 3600) == "wd"


def test_period_validation():
    with pytest.raises(ValueError, match="hours"):
        TouPeriod("x", 0.1, (24,))
    with pytest.raises(ValueError, match="price_usd_per_kwh"):
        TouPeriod("x", float("nan"), (1,))


@pytest.mark.parametrize("hh,mm,price,name", [
    (17, 30, PEAK, "peak"), (16, 0, PEAK, "peak"), (20, 59, PEAK, "peak"),
    (15, 30, PART, "partial_peak"), (21, 0, PART, "partial_peak"), (23, 59, PART, "partial_peak"),
    (3, 0, OFF, "off_peak"), (0, 0, OFF, "off_peak"), (14, 59, OFF, "off_peak"),
])
def test_pge_prices_by_local_time(hh, mm, price, name):
    clock = Clock(datetime(2022, 8, 1, 0, 0, tzinfo=LA))
    t = (datetime(2022, 8, 3, hh, mm, tzinfo=LA) - clock.start).total_seconds()
    signal = PGE_EV2A.price_signal(clock, 0, 7 * 86400)
    assert signal.value(t) == price
    assert PGE_EV2A.period_name(clock, t) == name


def test_pge_daily_price_integral():
    clock = Clock(datetime(2022, 8, 1, 0, 0, tzinfo=LA))
    signal = PGE_EV2A.price_signal(clock, 0, 3 * 86400)
    expected_usd_h_per_kwh = 15 * 0.27 + 1 * 0.45 + 5 * 0.52 + 3 * 0.45  # = 8.45
    for day in range(3):
        got = signal.integral(day * 86400, (day + 1) * 86400) / 3600
        assert got == pytest.approx(expected_usd_h_per_kwh, abs=1e-9)
    assert signal.unit == "usd_per_kwh"


def test_pge_dst_day_local_hours():
    # 2022-11-06 has 25 hours in Los Angeles: the extra hour is 01:00 (off-peak), so the day's
    # integral gains one off-peak hour; 17:30 local is still peak.
    clock = Clock(datetime(2022, 11, 6, 0, 0, tzinfo=LA))
    next_midnight = (clock.start.astimezone(ZoneInfo("UTC")) + timedelta(hours=25)).astimezone(LA)
    assert next_midnight == datetime(2022, 11, 7, 0, 0, tzinfo=LA)
    signal = PGE_EV2A.price_signal(clock, 0, 25 * 3600)
    assert signal.integral(0, 25 * 3600) / 3600 == pytest.approx(8.45 + 0.27, abs=1e-9)
    t_1730 = 25 * 3600 - 6.5 * 3600
    assert signal.value(t_1730) == PEAK


def test_registry():
    assert TARIFFS["pge_ev2a"] is PGE_EV2A
    assert "official" in PGE_EV2A.source
