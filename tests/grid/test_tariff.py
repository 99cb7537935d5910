"""Time-of-use tariffs: coverage validation, seasons, weekday/weekend, DST, demand charges, tariff files.

Expected prices are the built-ins' sourced figures typed in by hand; expected demand and bills are
computed by hand in the comments, never by the code under test.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from grid.tariff import (
    PGE_B10,
    PGE_EV2A,
    SCE_TOU_EV_8,
    TARIFFS,
    DemandBill,
    DemandCharge,
    TouPeriod,
    TouTariff,
    interval_demand_kw,
    peak_demand_kw,
)
from grid.tariff_file import dump_tariff, load_tariff, tariff_to_dict
from sim.core.clock import Clock
from sim.core.errors import DataFileError, FleetsimInputError

LA = ZoneInfo("America/Los_Angeles")
UTC = timezone.utc
# PG&E EV2-A, total bundled rates effective 2026-06-01 ($/kWh)
OFF, PART_S, PEAK_S, PART_W, PEAK_W = 0.22558, 0.42760, 0.53809, 0.39428, 0.41099
# SCE TOU-EV-8, effective 2018-10-12 ($/kWh)
S_ON, S_MID, S_OFF, W_MID, W_SOP, W_OFF = 0.49619, 0.25563, 0.12597, 0.29700, 0.07724, 0.13568


def at(clock: Clock, *local: int) -> float:
    """Simulation time (s) of a local Los Angeles wall time, through UTC (safe across DST)."""
    return (datetime(*local, tzinfo=LA).astimezone(UTC) - clock.start.astimezone(UTC)).total_seconds()


def flat(name: str = "flat", *charges: DemandCharge) -> TouTariff:
    return TouTariff(name, (TouPeriod("all", 0.1, tuple(range(24))),), "test", charges)


# ---- coverage validation ------------------------------------------------------------------------
def test_gap_is_rejected():
    with pytest.raises(ValueError, match=r"tariff gappy: Mon hour 23 is in no period in Jan"):
        TouTariff("gappy", (TouPeriod("a", 0.1, tuple(range(23))),), "test")


def test_gap_on_weekend_only_is_rejected():
    with pytest.raises(ValueError, match=r"tariff wk: Sat hour 0 is in no period"):
        TouTariff("wk", (TouPeriod("weekday", 0.1, tuple(range(24)), (0, 1, 2, 3, 4)),), "test")


def test_gap_in_one_month_is_rejected():
    periods = (TouPeriod("summer", 0.2, tuple(range(24)), months=(6, 7, 8)),
               TouPeriod("winter", 0.1, tuple(range(24)), months=(1, 2, 3, 4, 5, 10, 11, 12)))
    with pytest.raises(ValueError, match=r"tariff seas: Mon hour 0 is in no period in Sep; each month, weekday"):
        TouTariff("seas", periods, "test")


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
    with pytest.raises(ValueError, match=r"period x: months \(0, 1\) must be integers 1\.\.12"):
        TouPeriod("x", 0.1, (1,), months=(0, 1))
    with pytest.raises(ValueError, match=r"period x: hours \(3, 3\) lists 3 twice"):
        TouPeriod("x", 0.1, (3, 3))
    with pytest.raises(ValueError, match=r"demand charge d: interval_s 1000 must divide 3600 s"):
        DemandCharge("d", 1.0, interval_s=1000)
    with pytest.raises(ValueError, match=r"demand charge d: usd_per_kw -1"):
        DemandCharge("d", -1)
    assert TouPeriod("x", 0.1, (5, 1, 3)) == TouPeriod("x", 0.1, (1, 3, 5))  # stored sorted


def test_period_at_needs_month_only_for_seasonal_tariffs():
    assert PGE_EV2A.period_at(0, 17, 7).price_usd_per_kwh == PEAK_S
    assert PGE_EV2A.period_at(0, 17, 12).price_usd_per_kwh == PEAK_W
    with pytest.raises(ValueError, match=r"tariff pge_ev2a has seasons; period_at needs month \(1\.\.12\)"):
        PGE_EV2A.period_at(0, 17)
    assert flat().period_at(6, 23).name == "all"


# ---- PG&E EV2-A -------------------------------------------------------------------------------
@pytest.mark.parametrize("hh,mm,price,name", [
    (17, 30, PEAK_S, "peak"), (16, 0, PEAK_S, "peak"), (20, 59, PEAK_S, "peak"),
    (15, 59, PART_S, "partial_peak"), (15, 0, PART_S, "partial_peak"), (21, 0, PART_S, "partial_peak"),
    (23, 59, PART_S, "partial_peak"), (3, 0, OFF, "off_peak"), (0, 0, OFF, "off_peak"), (14, 59, OFF, "off_peak"),
])
def test_pge_summer_prices_by_local_time(hh, mm, price, name):
    clock = Clock(datetime(2022, 8, 1, 0, 0, tzinfo=LA))
    t = at(clock, 2022, 8, 3, hh, mm)
    signal = PGE_EV2A.price_signal(clock, 0, 7 * 86400)
    assert signal.value(t) == price
    assert PGE_EV2A.period_name(clock, t) == name


def test_pge_daily_price_integral_summer_and_winter():
    # summer: 15 h x 0.22558 + 4 h x 0.42760 + 5 h x 0.53809 = 3.38370 + 1.71040 + 2.69045 = 7.78455
    # winter: 15 h x 0.22558 + 4 h x 0.39428 + 5 h x 0.41099 = 3.38370 + 1.57712 + 2.05495 = 7.01577
    for start, expected in ((datetime(2022, 8, 1, tzinfo=LA), 7.78455), (datetime(2022, 1, 10, tzinfo=LA), 7.01577)):
        clock = Clock(start)
        signal = PGE_EV2A.price_signal(clock, 0, 3 * 86400)
        for day in range(3):
            got = signal.integral(day * 86400, (day + 1) * 86400) / 3600
            assert got == pytest.approx(expected, abs=1e-9)
        assert signal.unit == "usd_per_kwh"


def test_pge_dst_day_local_hours():
    # 2022-11-06 has 25 hours in Los Angeles: the extra hour is 01:00 (off-peak), so the (winter)
    # day's integral gains one off-peak hour: 7.01577 + 0.22558 = 7.24135; 17:30 local is peak.
    clock = Clock(datetime(2022, 11, 6, 0, 0, tzinfo=LA))
    next_midnight = (clock.start.astimezone(UTC) + timedelta(hours=25)).astimezone(LA)
    assert next_midnight == datetime(2022, 11, 7, 0, 0, tzinfo=LA)
    signal = PGE_EV2A.price_signal(clock, 0, 25 * 3600)
    assert signal.integral(0, 25 * 3600) / 3600 == pytest.approx(7.24135, abs=1e-9)
    assert signal.value(25 * 3600 - 6.5 * 3600) == PEAK_W


@pytest.mark.parametrize("local,price", [
    ((2022, 5, 31, 16, 30), PEAK_W), ((2022, 6, 1, 16, 30), PEAK_S),  # season starts June 1
    ((2022, 5, 31, 23, 30), PART_W), ((2022, 6, 1, 21, 0), PART_S),
    ((2022, 9, 30, 20, 59), PEAK_S), ((2022, 10, 1, 16, 0), PEAK_W),  # ends September 30
    ((2022, 9, 30, 23, 30), PART_S), ((2022, 10, 1, 0, 30), OFF),
])
def test_pge_season_boundaries(local, price):
    clock = Clock(datetime(2022, 5, 30, tzinfo=LA))
    signal = PGE_EV2A.price_signal(clock, 0, 140 * 86400)
    assert signal.value(at(clock, *local)) == price


# ---- SCE TOU-EV-8 -----------------------------------------------------------------------------
@pytest.mark.parametrize("local,price,name", [
    ((2022, 7, 1, 17, 0), S_ON, "on_peak"),  # Friday
    ((2022, 7, 1, 15, 59), S_OFF, "off_peak"),
    ((2022, 7, 1, 21, 0), S_OFF, "off_peak"),
    ((2022, 7, 2, 17, 0), S_MID, "mid_peak"),  # Saturday
    ((2022, 7, 3, 20, 59), S_MID, "mid_peak"),  # Sunday
    ((2022, 7, 4, 16, 0), S_ON, "on_peak"),  # Monday (a US holiday, priced as a weekday here)
    ((2022, 1, 8, 10, 0), W_SOP, "super_off_peak"),  # winter Saturday
    ((2022, 1, 5, 10, 0), W_SOP, "super_off_peak"),  # winter Wednesday
    ((2022, 1, 5, 17, 0), W_MID, "mid_peak"),
    ((2022, 1, 8, 17, 0), W_MID, "mid_peak"),
    ((2022, 1, 8, 7, 59), W_OFF, "off_peak"),
])
def test_sce_weekday_weekend_and_seasons(local, price, name):
    clock = Clock(datetime(2022, 1, 1, tzinfo=LA))
    t = at(clock, *local)
    assert SCE_TOU_EV_8.price_signal(clock, t - 60, t + 60).value(t) == price
    assert SCE_TOU_EV_8.period_name(clock, t) == name


@pytest.mark.parametrize("before,after,p_before,p_after", [
    ((2022, 5, 31, 23, 30), (2022, 6, 1, 0, 30), W_OFF, S_OFF),
    ((2022, 9, 30, 23, 30), (2022, 10, 1, 0, 30), S_OFF, W_OFF),
])
def test_sce_season_boundaries_at_midnight(before, after, p_before, p_after):
    clock = Clock(datetime(2022, 5, 1, tzinfo=LA))
    signal = SCE_TOU_EV_8.price_signal(clock, 0, 200 * 86400)
    assert signal.value(at(clock, *before)) == p_before
    assert signal.value(at(clock, *after)) == p_after
    midnight = at(clock, *after[:3])
    assert signal.value(midnight - 1) == p_before and signal.value(midnight) == p_after


def test_sce_spring_forward_day():
    # 2022-03-13 (winter, Sunday) has 23 hours: 02:00 does not exist, so one off-peak hour is lost.
    # Normal winter day: 11 h x 0.13568 + 8 h x 0.07724 + 5 h x 0.29700 = 1.49248 + 0.61792 + 1.48500
    # = 3.59540; this day: 3.59540 - 0.13568 = 3.45972. 16:00 local is 15 h after midnight.
    clock = Clock(datetime(2022, 3, 13, tzinfo=LA))
    signal = SCE_TOU_EV_8.price_signal(clock, 0, 23 * 3600)
    assert signal.integral(0, 23 * 3600) / 3600 == pytest.approx(3.45972, abs=1e-9)
    assert signal.value(15 * 3600) == W_MID and signal.value(15 * 3600 - 1) == W_SOP
    assert len(signal) == 23


def test_pge_b10_spring_super_off_peak_only_in_march_to_may():
    clock = Clock(datetime(2022, 2, 1, tzinfo=LA))
    signal = PGE_B10.price_signal(clock, 0, 300 * 86400)
    assert signal.value(at(clock, 2022, 2, 28, 10)) == 0.22773
    assert signal.value(at(clock, 2022, 3, 1, 10)) == 0.19139
    assert signal.value(at(clock, 2022, 7, 1, 15)) == 0.27778
    assert signal.value(at(clock, 2022, 7, 1, 23)) == 0.24522


def test_registry():
    assert TARIFFS["pge_ev2a"] is PGE_EV2A
    assert TARIFFS["sce_tou_ev_8"] is SCE_TOU_EV_8 and TARIFFS["pge_b10"] is PGE_B10
    assert "official" in PGE_EV2A.source
    assert SCE_TOU_EV_8.demand_charges == ()
    assert PGE_B10.demand_charges == (DemandCharge("maximum_demand", 20.50),)


# ---- demand charges ---------------------------------------------------------------------------
AUG = Clock(datetime(2022, 8, 1, tzinfo=LA))  # a Monday


def test_ten_kw_for_ten_minutes_in_one_interval():
    # 10 kW from 14:02 to 14:12, inside 14:00-14:15: 10 kW x 600 s / 900 s = 6.6667 kW.
    # Bill at 20.50 $/kW: 136.6667 $.
    t = at(AUG, 2022, 8, 3, 14, 2)
    bills = PGE_B10.demand_charges_usd(AUG, [0, t, t + 600], [0, 10_000, 0], 5 * 86400)
    assert bills == [DemandBill("2022-08", "maximum_demand", pytest.approx(20 / 3), at(AUG, 2022, 8, 3, 14),
                                pytest.approx(20.50 * 20 / 3))]
    assert bills[0].usd == pytest.approx(136.6667, abs=1e-4)


def test_load_straddling_two_intervals_splits_and_ties_go_to_the_earliest():
    # 10 kW 14:10-14:20: 5 min in each of 14:00-14:15 and 14:15-14:30 -> 10 x 300 / 900 = 3.3333 kW each.
    t = at(AUG, 2022, 8, 3, 14, 10)
    (bill,) = flat("f", DemandCharge("d", 1.0)).demand_charges_usd(AUG, [0, t, t + 600], [0, 10_000, 0], 86400 * 4)
    assert bill.peak_kw == pytest.approx(10 / 3)
    assert bill.peak_start_s == at(AUG, 2022, 8, 3, 14, 0)
    starts, kw = interval_demand_kw(AUG, [0, t, t + 600], [0, 10_000, 0], 86400 * 4)
    assert len(starts) == 4 * 96 and kw.sum() == pytest.approx(20 / 3)


def test_peak_outside_the_charge_window_is_ignored():
    # 50 kW 10:00-10:15 (outside 16-21 h) and 8 kW 17:00-17:15 on a Wednesday; 30 kW 17:00-17:15 on
    # Saturday (outside weekdays). The weekday-evening charge sees 8 kW; the all-hours one 50 kW.
    a, b, c = at(AUG, 2022, 8, 3, 10), at(AUG, 2022, 8, 3, 17), at(AUG, 2022, 8, 6, 17)
    tariff = flat("w", DemandCharge("evening", 10.0, hours=(16, 17, 18, 19, 20), weekdays=(0, 1, 2, 3, 4)),
                  DemandCharge("max", 2.0))
    times = [0, a, a + 900, b, b + 900, c, c + 900]
    power = [0, 50_000, 0, 8_000, 0, 30_000, 0]
    evening, maximum = tariff.demand_charges_usd(AUG, times, power, 7 * 86400)
    assert (evening.charge, evening.peak_kw, evening.usd) == ("evening", pytest.approx(8.0), pytest.approx(80.0))
    assert evening.peak_start_s == b
    assert (maximum.charge, maximum.peak_kw, maximum.usd) == ("max", pytest.approx(50.0), pytest.approx(100.0))


def test_two_months_billed_separately_by_local_calendar():
    # 20 kW 23:45-24:00 local on Aug 31 (already Sep 1 in UTC) belongs to August; 5 kW 09:00-09:30
    # on Sep 1 to September. At 20.50 $/kW: 410.00 $ and 102.50 $.
    clock = Clock(datetime(2022, 8, 30, tzinfo=LA))
    a, b = at(clock, 2022, 8, 31, 23, 45), at(clock, 2022, 9, 1, 9)
    bills = PGE_B10.demand_charges_usd(clock, [0, a, a + 900, b, b + 1800], [0, 20_000, 0, 5_000, 0], 4 * 86400)
    assert [(x.month, x.peak_kw, x.usd) for x in bills] == [
        ("2022-08", pytest.approx(20.0), pytest.approx(410.0)),
        ("2022-09", pytest.approx(5.0), pytest.approx(102.5)),
    ]
    assert bills[0].peak_start_s == a


def test_seasonal_charge_and_interval_length():
    # A summer-only 30-minute charge: 12 kW for 10 min in October is ignored (no bill for October);
    # 12 kW for 10 min in September averages 12 x 600 / 1800 = 4 kW.
    clock = Clock(datetime(2022, 9, 29, tzinfo=LA))
    tariff = flat("s", DemandCharge("summer", 3.0, months=(6, 7, 8, 9), interval_s=1800))
    a, b = at(clock, 2022, 9, 30, 12, 5), at(clock, 2022, 10, 1, 12, 5)
    bills = tariff.demand_charges_usd(clock, [0, a, a + 600, b, b + 600], [0, 12_000, 0, 12_000, 0], 3 * 86400)
    assert [(x.month, x.peak_kw, x.usd) for x in bills] == [("2022-09", pytest.approx(4.0), pytest.approx(12.0))]
    assert bills[0].peak_start_s == at(clock, 2022, 9, 30, 12)


def test_partial_first_interval_counts_no_power_before_the_trace():
    # The trace starts at 14:10 with 12 kW until 14:15: 12 x 300 / 900 = 4 kW, not 12 kW.
    clock = Clock(datetime(2022, 8, 3, 14, 10, tzinfo=LA))
    peak_kw, start_s = peak_demand_kw(clock, [0, 300], [12_000, 0], 3600)
    assert peak_kw == pytest.approx(4.0) and start_s == -600.0


def test_demand_across_fall_back():
    # 2022-11-06: local 01:00-02:00 happens twice. 10 kW during the first 15 min of the second 01:00
    # (PST, 2 h after midnight) is billed by a charge on hour 1; a charge on hour 2 sees nothing.
    clock = Clock(datetime(2022, 11, 6, tzinfo=LA))
    tariff = flat("dst", DemandCharge("h1", 1.0, hours=(1,)), DemandCharge("h2", 1.0, hours=(2,)))
    h1, h2 = tariff.demand_charges_usd(clock, [0, 7200, 8100], [0, 10_000, 0], 25 * 3600)
    assert (h1.peak_kw, h1.peak_start_s) == (pytest.approx(10.0), 7200.0)
    assert h2.peak_kw == 0.0 and h2.usd == 0.0 and h2.peak_start_s == 3 * 3600
    starts, _ = interval_demand_kw(clock, [0], [1.0], 25 * 3600)
    assert len(starts) == 100  # 25 local hours x 4


def test_demand_trace_validation_names_the_tariff():
    with pytest.raises(ValueError, match=r"tariff pge_b10: .*2 breakpoints but 1 values"):
        PGE_B10.demand_charges_usd(AUG, [0, 10], [5.0], 100)
    with pytest.raises(ValueError, match=r"tariff pge_b10: .*end_s"):
        PGE_B10.demand_charges_usd(AUG, [0, 10], [5.0, 6.0], 10)


# ---- tariff files -----------------------------------------------------------------------------
TOML_TARIFF = """
name = "two_season"
source = "hand-made test tariff"
fixed_usd_per_day = 1.5

[[periods]]
name = "peak"
price_usd_per_kwh = 0.5
hours = "16-21"
weekdays = "weekdays"
months = "jun-sep"

[[periods]]
name = "off"
price_usd_per_kwh = 0.2
hours = ["21-16"]
weekdays = "all"
months = "jun-sep"

[[periods]]
name = "weekend"
price_usd_per_kwh = 0.3
hours = [16, 17, "18-21"]
weekdays = ["sat", "sun"]
months = ["jun-sep"]

[[periods]]
name = "winter"
price_usd_per_kwh = 0.25
hours = "all"
months = "oct-may"

[[demand_charges]]
name = "evening"
usd_per_kw = 12
hours = "16-21"
weekdays = "mon-fri"
months = [6, 7, 8, 9]
interval_s = 1800
"""

EXPECTED = TouTariff(
    "two_season",
    (
        TouPeriod("peak", 0.5, (16, 17, 18, 19, 20), (0, 1, 2, 3, 4), (6, 7, 8, 9)),
        TouPeriod("off", 0.2, (21, 22, 23) + tuple(range(16)), months=(6, 7, 8, 9)),
        TouPeriod("weekend", 0.3, (16, 17, 18, 19, 20), (5, 6), (6, 7, 8, 9)),
        TouPeriod("winter", 0.25, tuple(range(24)), months=(10, 11, 12, 1, 2, 3, 4, 5)),
    ),
    "hand-made test tariff",
    (DemandCharge("evening", 12.0, (16, 17, 18, 19, 20), (0, 1, 2, 3, 4), (6, 7, 8, 9), 1800.0),),
    1.5,
)


def test_load_toml(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text(TOML_TARIFF)
    t = load_tariff(path)
    assert t == EXPECTED
    clock = Clock(datetime(2022, 7, 2, tzinfo=LA))  # Saturday
    assert t.price_signal(clock, 0, 86400).value(17 * 3600) == 0.3


def test_load_json(tmp_path):
    data = {
        "name": "two_season", "source": "hand-made test tariff", "fixed_usd_per_day": 1.5,
        "periods": [
            {"name": "peak", "price_usd_per_kwh": 0.5, "hours": "16-21", "weekdays": [0, 1, 2, 3, 4],
             "months": "jun-sep"},
            {"name": "off", "price_usd_per_kwh": 0.2, "hours": ["0-16", 21, 22, 23], "months": ["jun", "jul-sep"]},
            {"name": "weekend", "price_usd_per_kwh": 0.3, "hours": "16-21", "weekdays": "weekends",
             "months": "jun-sep"},
            {"name": "winter", "price_usd_per_kwh": 0.25, "hours": "0-24", "months": ["jan-may", "oct-dec"]},
        ],
        "demand_charges": [{"name": "evening", "usd_per_kw": 12, "hours": "16-21", "weekdays": "weekdays",
                            "months": "jun-sep", "interval_s": 1800}],
    }
    path = tmp_path / "t.json"
    path.write_text(json.dumps(data))
    assert load_tariff(path) == EXPECTED


@pytest.mark.parametrize("edit,key,bad", [
    (lambda s: 'colour = "red"\n' + s, r"colour", "unknown key; allowed: name, source"),
    (lambda s: s + 'colour = "red"\n', r"demand_charges\[0\]\.colour", "unknown key; allowed: name, usd_per_kw"),
    (lambda s: s.replace('hours = "16-21"\nweekdays = "weekdays"', 'hours = "25-3"\nweekdays = "weekdays"'),
     r"periods\[0\]\.hours", r"'25-3' is not allowed; allowed: integers 0\.\.23"),
    (lambda s: s.replace('weekdays = ["sat", "sun"]', 'weekdays = ["sat", "funday"]'),
     r"periods\[2\]\.weekdays", r"'funday' is not allowed; allowed: integers 0\.\.6"),
    (lambda s: s.replace('months = ["jun-sep"]', "months = [13]"),
     r"periods\[2\]\.months", r"13 is not allowed; allowed: integers 1\.\.12"),
    (lambda s: s.replace("price_usd_per_kwh = 0.5", "price_usd_per_kwh = -0.5"),
     r"periods\[0\]\.price_usd_per_kwh", r"-0\.5 is not allowed; allowed: a number >= 0"),
    (lambda s: s.replace("price_usd_per_kwh = 0.2\n", ""),
     r"periods\[1\]\.price_usd_per_kwh", "missing"),
    (lambda s: s.replace('hours = "all"', 'hour = "all"'), r"periods\[3\]\.hour", "unknown key"),
    (lambda s: s.replace('hours = [16, 17, "18-21"]', 'hours = [16, "16-21"]'),
     r"periods\[2\]\.hours", "lists 16 twice"),
    (lambda s: s.replace('months = "oct-may"', 'months = "oct-apr"'),
     r"periods", "tariff two_season: Mon hour 0 is in no period in May"),
    (lambda s: s.replace("interval_s = 1800", "interval_s = 1000"),
     r"demand_charges\[0\]\.interval_s", "1000.0 is not allowed; allowed: a number of seconds >= 1 that divides 3600"),
    (lambda s: s.replace("usd_per_kw = 12", "usd_per_kwh = 12"), r"demand_charges\[0\]\.usd_per_kwh", "unknown key"),
    (lambda s: s.replace('name = "two_season"\n', ""), r"name", "missing; allowed: a non-empty string"),
    (lambda s: s.replace('weekdays = "mon-fri"', 'weekdays = "mon-mon"'),
     r"demand_charges\[0\]\.weekdays", "'mon-mon' is not allowed"),
])
def test_malformed_toml_names_file_and_key(tmp_path, edit, key, bad):
    path = tmp_path / "bad.toml"
    text = edit(TOML_TARIFF)
    assert text != TOML_TARIFF
    path.write_text(text)
    with pytest.raises(DataFileError, match=rf"^{str(path)}: {key}: .*{bad}") as info:
        load_tariff(path)
    assert "\n" not in str(info.value)


def test_unreadable_files(tmp_path):
    with pytest.raises(DataFileError, match=r"not valid TOML"):
        (tmp_path / "x.toml").write_text("name = \n")
        load_tariff(tmp_path / "x.toml")
    (tmp_path / "x.json").write_text('{"name": "a",\n "periods": [}')
    with pytest.raises(DataFileError, match=r"x\.json:2: not valid JSON"):
        load_tariff(tmp_path / "x.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(DataFileError, match=r"top level is list"):
        load_tariff(tmp_path / "list.json")
    with pytest.raises(DataFileError, match=r"file type '\.yaml' not supported; allowed: \.toml, \.json"):
        load_tariff(tmp_path / "x.yaml")
    with pytest.raises(FleetsimInputError, match=r"tariff file = '.*missing\.toml': file not found"):
        load_tariff(tmp_path / "missing.toml")


@pytest.mark.parametrize("name", sorted(TARIFFS))
@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_builtins_round_trip(tmp_path, name, suffix):
    path = tmp_path / f"{name}{suffix}"
    dump_tariff(TARIFFS[name], path)
    assert load_tariff(path) == TARIFFS[name]


def test_dump_is_compact_and_readable(tmp_path):
    d = tariff_to_dict(PGE_EV2A)
    assert d["periods"][0] == {"name": "off_peak", "price_usd_per_kwh": OFF, "hours": "0-15",
                               "weekdays": "all", "months": "all"}
    assert d["periods"][3]["hours"] == [15, "21-24"] and d["periods"][3]["months"] == "oct-may"
    assert tariff_to_dict(SCE_TOU_EV_8)["periods"][2]["hours"] == "21-16"
    dump_tariff(PGE_B10, tmp_path / "b10.toml")
    text = (tmp_path / "b10.toml").read_text()
    assert 'months = "mar-may"' in text and "[[demand_charges]]" in text and "usd_per_kw = 20.5" in text
