"""Time-of-use electricity tariffs: seasonal energy prices ($/kWh) and monthly demand charges ($/kW).

A :class:`TouTariff` assigns every (month, weekday, local hour) to exactly one :class:`TouPeriod`
(a price in US $/kWh) and may carry :class:`DemandCharge` s, billed per local calendar month on the
highest average power (kW) over fixed clock-aligned intervals (e.g. 15 minutes) inside the charge's
hours, weekdays and months. Weekdays are Monday = 0 .. Sunday = 6; months are 1..12; hours are the
clock's local hours 0..23, so daylight saving time is handled by :class:`sim.core.clock.Clock`.
Utility holidays are not modelled: a holiday is priced as the weekday it falls on.

Bounds (to refuse nonsense, far above any real tariff): energy prices 0..1,000 $/kWh, demand
charges 0..10,000 $/kW, fixed charges 0..100,000 $/day, demand intervals of at least 1 s.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from grid.signals import StepSignal
from sim.core.clock import HOUR_S, Clock, LocalHour

ALL_HOURS: tuple[int, ...] = tuple(range(24))
ALL_WEEKDAYS: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)  # Monday = 0 .. Sunday = 6
WEEKDAYS: tuple[int, ...] = (0, 1, 2, 3, 4)
WEEKENDS: tuple[int, ...] = (5, 6)
ALL_MONTHS: tuple[int, ...] = tuple(range(1, 13))
SUMMER_JUN_SEP: tuple[int, ...] = (6, 7, 8, 9)
WINTER_OCT_MAY: tuple[int, ...] = (1, 2, 3, 4, 5, 10, 11, 12)
MAX_PRICE_USD_PER_KWH = 1_000.0  # highest energy price, US $/kWh (retail prices are a few $/kWh at most)
MAX_DEMAND_USD_PER_KW = 10_000.0  # highest demand charge, US $/kW per month (real ones: tens of $/kW)
MAX_FIXED_USD_PER_DAY = 100_000.0  # highest fixed (customer) charge, US $/day
MIN_INTERVAL_S = 1.0  # shortest demand-charge interval, s
_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _int_set(owner: str, key: str, values: Sequence[int], lo: int, hi: int, what: str) -> tuple[int, ...]:
    """Validated, sorted tuple of distinct integers in ``lo..hi``; ``owner`` prefixes the error."""
    vals = tuple(values)
    if not vals or any(isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi for v in vals):
        raise ValueError(f"{owner}: {key} {vals} must be integers {lo}..{hi} ({what}), at least one")
    if len(set(vals)) != len(vals):
        twice = next(v for v in vals if vals.count(v) > 1)
        raise ValueError(f"{owner}: {key} {vals} lists {twice} twice; each value at most once")
    return tuple(sorted(vals))


def _check_rate(owner: str, key: str, value: float, hi: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= hi:  # also nan, inf
        raise ValueError(f"{owner}: {key} {value} must be a number >= 0 and <= {hi:,g}")


def _check_window(obj: TouPeriod | DemandCharge, owner: str) -> None:
    object.__setattr__(obj, "hours", _int_set(owner, "hours", obj.hours, 0, 23, "local hour"))
    object.__setattr__(obj, "weekdays", _int_set(owner, "weekdays", obj.weekdays, 0, 6, "Monday = 0"))
    object.__setattr__(obj, "months", _int_set(owner, "months", obj.months, 1, 12, "January = 1"))


@dataclass(frozen=True)
class TouPeriod:
    """A price (US $/kWh) in force at local ``hours`` (0..23) on ``weekdays`` (Mon = 0) in ``months`` (1..12).

    ``hours``, ``weekdays`` and ``months`` are stored sorted, so equality ignores their order.
    """

    name: str
    price_usd_per_kwh: float
    hours: tuple[int, ...]
    weekdays: tuple[int, ...] = ALL_WEEKDAYS
    months: tuple[int, ...] = ALL_MONTHS

    def __post_init__(self) -> None:
        owner = f"period {self.name}"
        _check_rate(owner, "price_usd_per_kwh", self.price_usd_per_kwh, MAX_PRICE_USD_PER_KWH)
        object.__setattr__(self, "price_usd_per_kwh", float(self.price_usd_per_kwh))
        _check_window(self, owner)


@dataclass(frozen=True)
class DemandCharge:
    """US $ per kW of the month's highest ``interval_s`` average power inside the charge's window.

    Intervals are aligned to local clock hours (``interval_s`` must divide 3600 s); only intervals
    in the charge's ``hours`` (0..23), ``weekdays`` (Mon = 0) and ``months`` (1..12) count.
    """

    name: str
    usd_per_kw: float
    hours: tuple[int, ...] = ALL_HOURS
    weekdays: tuple[int, ...] = ALL_WEEKDAYS
    months: tuple[int, ...] = ALL_MONTHS
    interval_s: float = 900.0

    def __post_init__(self) -> None:
        owner = f"demand charge {self.name}"
        _check_rate(owner, "usd_per_kw", self.usd_per_kw, MAX_DEMAND_USD_PER_KW)
        object.__setattr__(self, "usd_per_kw", float(self.usd_per_kw))
        _check_window(self, owner)
        _intervals_per_hour(owner, self.interval_s)
        object.__setattr__(self, "interval_s", float(self.interval_s))


@dataclass(frozen=True)
class DemandBill:
    """One demand charge for one local calendar month (``month`` is ``'YYYY-MM'``)."""

    month: str
    charge: str
    peak_kw: float  # highest interval-average power in the charge's window (kW)
    peak_start_s: float  # simulation time at which that interval starts (s)
    usd: float  # max(peak_kw, 0) * usd_per_kw


def _intervals_per_hour(owner: str, interval_s: float) -> int:
    ok = not isinstance(interval_s, bool) and isinstance(interval_s, (int, float)) and math.isfinite(interval_s)
    n = round(HOUR_S / interval_s) if ok and interval_s >= MIN_INTERVAL_S else 0
    if n < 1 or abs(n * interval_s - HOUR_S) > 1e-9:
        raise ValueError(f"{owner}: interval_s {interval_s} must divide 3600 s exactly (e.g. 300, 900, 1800, 3600) "
                         f"and be >= {MIN_INTERVAL_S:g} s")
    return n


@dataclass(frozen=True)
class TouTariff:
    """Time-of-use tariff: every (month, weekday, local hour) belongs to exactly one period.

    ``demand_charges`` are billed by :meth:`demand_charges_usd`. ``fixed_usd_per_day`` is the
    tariff's customer (fixed) charge in US $ per day, for bill totals; it is not in the price signal.
    """

    name: str
    periods: tuple[TouPeriod, ...]
    source: str = ""
    demand_charges: tuple[DemandCharge, ...] = ()
    fixed_usd_per_day: float = 0.0
    _table: tuple[tuple[tuple[TouPeriod, ...], ...], ...] = field(init=False, repr=False, compare=False)
    _seasonal: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "periods", tuple(self.periods))
        object.__setattr__(self, "demand_charges", tuple(self.demand_charges))
        kinds = (("periods", self.periods, TouPeriod), ("demand_charges", self.demand_charges, DemandCharge))
        for key, items, kind in kinds:
            for i, item in enumerate(items):
                if not isinstance(item, kind):
                    raise ValueError(f"tariff {self.name}: {key}[{i}] is {item!r}; must be a {kind.__name__}")
        _check_rate(f"tariff {self.name}", "fixed_usd_per_day", self.fixed_usd_per_day, MAX_FIXED_USD_PER_DAY)
        object.__setattr__(self, "fixed_usd_per_day", float(self.fixed_usd_per_day))
        rule = "each month, weekday and hour must belong to exactly one period"
        grid: list[list[list[TouPeriod | None]]] = [[[None] * 24 for _ in range(7)] for _ in range(12)]
        for p in self.periods:
            for m in p.months:
                for d in p.weekdays:
                    for h in p.hours:
                        other = grid[m - 1][d][h]
                        if other is not None:
                            who = "twice" if other is p else f"by both {other.name} and {p.name}"
                            raise ValueError(
                                f"tariff {self.name}: {_DAY_NAMES[d]} hour {h} is covered {who} "
                                f"in {_MONTH_NAMES[m - 1]}; {rule}"
                            )
                        grid[m - 1][d][h] = p
        for m in range(12):
            for d in range(7):
                for h in range(24):
                    if grid[m][d][h] is None:
                        raise ValueError(
                            f"tariff {self.name}: {_DAY_NAMES[d]} hour {h} is in no period in {_MONTH_NAMES[m]}; {rule}"
                        )
        table = tuple(tuple(tuple(row) for row in month) for month in grid)
        object.__setattr__(self, "_table", table)  # type: ignore[arg-type]
        object.__setattr__(self, "_seasonal", any(month != table[0] for month in table))

    # ---- energy prices ---------------------------------------------------------------------
    def period_at(self, weekday: int, hour: int, month: int | None = None) -> TouPeriod:
        """Period in force on ``weekday`` (Monday = 0) at local ``hour`` (0..23) in ``month`` (1..12).

        ``month`` may be omitted only for a tariff without seasons.
        """
        if month is None:
            if self._seasonal:
                raise ValueError(f"tariff {self.name} has seasons; period_at needs month (1..12)")
            month = 1
        return self._table[month - 1][weekday][hour]

    def period_name(self, clock: Clock, t_s: float) -> str:
        """Name of the period in force at simulation time ``t_s`` (s)."""
        local = clock.to_datetime(t_s)
        return self._table[local.month - 1][local.weekday()][local.hour].name

    def price_signal(self, clock: Clock, t0_s: float, t1_s: float) -> StepSignal:
        """Price (US $/kWh) over ``[t0_s, t1_s]`` s, one piece per local clock hour."""
        if not t1_s > t0_s:
            raise ValueError(f"tariff {self.name}: needs t0_s < t1_s; got {t0_s} s .. {t1_s} s")
        hours = clock.local_hours(t0_s, t1_s)
        times = [max(h.t_s, t0_s) for h in hours]
        prices = [self._table[h.month - 1][h.weekday][h.hour].price_usd_per_kwh for h in hours]
        return StepSignal(times, prices, t1_s, f"{self.name} price", "usd_per_kwh")

    # ---- demand charges --------------------------------------------------------------------
    def demand_charges_usd(
        self, clock: Clock, times_s: Sequence[float], power_w: Sequence[float], end_s: float
    ) -> list[DemandBill]:
        """Bill every demand charge for every local calendar month the trace touches.

        The trace holds ``power_w[i]`` (W, grid import) on ``[times_s[i], times_s[i+1])`` and the
        last value until ``end_s``. Each interval's average is its exact energy divided by the full
        ``interval_s``; power outside the trace counts as zero, so a partial first or last interval
        cannot inflate a peak. Ties go to the earliest interval. Bills come sorted by month, then
        in the order of ``demand_charges``; a month whose window holds no interval gets no bill.
        """
        trace = _trace(self.name, times_s, power_w, end_s)
        bills: list[tuple[str, int, DemandBill]] = []
        for k, charge in enumerate(self.demand_charges):
            starts, kw, hours, idx = _interval_table(clock, trace, charge.interval_s)
            keep = np.array([h.hour in charge.hours and h.weekday in charge.weekdays and h.month in charge.months
                             for h in hours], dtype=bool)
            if not keep.any():
                continue
            mask = keep[idx]
            month_of_hour = [date.fromordinal(h.date_ordinal).strftime("%Y-%m") for h in hours]
            months = np.array([month_of_hour[i] for i in idx[mask]])
            s_sel, kw_sel = starts[mask], kw[mask]
            for month in sorted(set(months.tolist())):
                sel = np.flatnonzero(months == month)
                best = int(sel[np.argmax(kw_sel[sel])])
                peak_kw = float(kw_sel[best])
                usd = max(peak_kw, 0.0) * charge.usd_per_kw
                bills.append((month, k, DemandBill(month, charge.name, peak_kw, float(s_sel[best]), usd)))
        bills.sort(key=lambda b: (b[0], b[1]))
        return [b[2] for b in bills]


def _trace(name: str, times_s: Sequence[float], power_w: Sequence[float], end_s: float) -> StepSignal:
    """The power trace as a step signal (W), with a one-line error naming the tariff."""
    try:
        return StepSignal(list(times_s), list(power_w), end_s, f"{name} demand trace", "w")
    except ValueError as exc:
        raise ValueError(f"tariff {name}: {exc}") from None


def _interval_table(
    clock: Clock, trace: StepSignal, interval_s: float
) -> tuple[np.ndarray, np.ndarray, list[LocalHour], np.ndarray]:
    """Clock-aligned intervals overlapping the trace: starts (s), average kW, local hours, hour index."""
    n = _intervals_per_hour("demand", interval_s)
    t0, t1 = trace.start_s, trace.end_s
    hours = clock.local_hours(t0, t1)
    starts = (np.array([h.t_s for h in hours])[:, None] + np.arange(n)[None, :] * interval_s).ravel()
    idx = np.repeat(np.arange(len(hours)), n)
    ends = starts + interval_s
    overlap = (ends > t0) & (starts < t1)
    starts, ends, idx = starts[overlap], ends[overlap], idx[overlap]
    energy_ws = trace.cumulative_at(np.clip(ends, t0, t1)) - trace.cumulative_at(np.clip(starts, t0, t1))
    return starts, energy_ws / interval_s / 1000.0, hours, idx


def interval_demand_kw(
    clock: Clock, times_s: Sequence[float], power_w: Sequence[float], end_s: float, interval_s: float = 900.0
) -> tuple[np.ndarray, np.ndarray]:
    """Start (s) and average power (kW) of every clock-aligned ``interval_s`` interval the trace touches.

    The trace is as in :meth:`TouTariff.demand_charges_usd`; power outside it counts as zero.
    """
    starts, kw, _, _ = _interval_table(clock, _trace("demand", times_s, power_w, end_s), interval_s)
    return starts, kw


def peak_demand_kw(
    clock: Clock, times_s: Sequence[float], power_w: Sequence[float], end_s: float, interval_s: float = 900.0
) -> tuple[float, float]:
    """Highest interval-average power (kW) over the whole trace and its interval's start (s)."""
    starts, kw = interval_demand_kw(clock, times_s, power_w, end_s, interval_s)
    best = int(np.argmax(kw))
    return float(kw[best]), float(starts[best])


# ---- built-in tariffs -------------------------------------------------------------------------
# PG&E EV2-A (Home Charging EV2-A, residential, whole house; no baseline credit).
# Periods, every day of the year including weekends and holidays: peak 4-9 pm; partial peak 3-4 pm
# and 9 pm-midnight; off-peak midnight-3 pm. Seasons: summer June 1 - September 30, winter
# October 1 - May 31. Source: PG&E Schedule EV2, Special Conditions 1 (time periods) and 2 (seasons),
# https://www.pge.com/tariffs/assets/pdf/tariffbook/ELEC_SCHEDS_EV2%20(Sch).pdf; periods agree with
# reference/facts.md section 4 (rateatlas.org, pge.com).
# Prices: total bundled rates effective 2026-06-01 on the same official sheet (Sheet 2, Cal. P.U.C.
# Sheet No. 61374-E, Advice 7921-E), as transcribed in cbetz/ratebook-homeassistant@b8d5adc
# custom_components/ratebook/vendor/ratebook_ha/tariffs/pge-ev2-a.json (last verified 2026-07-01)
# and, with identical figures, in an independent public tariff reference (version 2026-06-01).
# They replace the placeholders of facts.md section 4. Earlier vintages were higher (e.g. summer
# peak 0.65828 $/kWh, antiroyalty/ca-climate-action-initiative electricity_cost_calculator/
# calculator/rates/pge.py); prices change several times a year, so check the sheet's date.
PGE_EV2A = TouTariff(
    name="pge_ev2a",
    periods=(
        TouPeriod("off_peak", 0.22558, tuple(range(0, 15))),  # summer = winter: 0.22558 $/kWh (EV2 sheet 2026-06-01)
        TouPeriod("partial_peak", 0.42760, (15, 21, 22, 23), months=SUMMER_JUN_SEP),  # summer (same sheet)
        TouPeriod("peak", 0.53809, (16, 17, 18, 19, 20), months=SUMMER_JUN_SEP),  # summer (same sheet)
        TouPeriod("partial_peak", 0.39428, (15, 21, 22, 23), months=WINTER_OCT_MAY),  # winter (same sheet)
        TouPeriod("peak", 0.41099, (16, 17, 18, 19, 20), months=WINTER_OCT_MAY),  # winter (same sheet)
    ),
    # Base Services Charge, income tier 3 (all others): 0.79343 $/day; tiers 1 and 2 pay 0.19713 and
    # 0.39688 $/day (same sheet and transcriptions, 2026-06-01).
    fixed_usd_per_day=0.79343,
    source="PG&E EV2-A, official PG&E Schedule EV2 tariff sheet (ELEC_SCHEDS_EV2 (Sch).pdf), total bundled "
    "rates effective 2026-06-01 (Cal. P.U.C. Sheet No. 61374-E), via cbetz/ratebook-homeassistant pge-ev2-a.json "
    "(verified 2026-07-01); summer Jun-Sep, winter Oct-May; holidays priced as ordinary days",
)

# SCE TOU-EV-8 (General Service Time-of-Use, Electric Vehicle Charging, Demand Metered: separately
# metered business EV charging above 20 kW and up to 500 kW; sce.com "Electric Vehicle Rates for
# Businesses"). Periods and prices: ACN-Sim's tariff file zach401/acnportal@12f5f6f
# acnportal/signals/tariffs/tariff_schedules/sce_tou_ev_8_june_2019.json, transcribing SCE's sheet
# https://www1.sce.com/NR/sc3/tm2/pdf/ce401.pdf effective 2018-10-12:
#   summer (June 1 - September 30): on-peak 4-9 pm weekdays; mid-peak 4-9 pm weekends;
#     off-peak all other hours;
#   winter (October 1 - May 31), every day: mid-peak 4-9 pm; super-off-peak 8 am-4 pm; off-peak
#     9 pm-8 am.
# The same periods appear in a newer public EV-rate calculator (2024-2025 rates: summer on-peak
# 0.69592, mid 0.39786, off 0.23294; winter mid 0.44997, off 0.24897, super-off 0.12406 $/kWh;
# customer charge 228.13 $/month); its repository could not be identified, so those figures are
# not used. Demand charge: none. TOU-EV-8 was designed without a demand charge for an introductory
# period (the ACN-Sim file has demand_charge 0); the calculator above projects a phased-in charge from
# 2026 (3.25832 $/kW rising to 19.54989 $/kW in 2031) while another public pro forma quoting Cal.
# P.U.C. Sheet 91206-E (effective 2026-06-01) says it has none: neither is verified, so none is
# modelled here. SCE prices holidays as weekends; holidays are not modelled (ASSUMPTION: weekday
# prices on holidays). Customer charge: not in the cited file, so fixed_usd_per_day = 0.
SCE_TOU_EV_8 = TouTariff(
    name="sce_tou_ev_8",
    periods=(
        TouPeriod("on_peak", 0.49619, (16, 17, 18, 19, 20), WEEKDAYS, SUMMER_JUN_SEP),  # ACN-Sim, SCE 2018-10-12
        TouPeriod("mid_peak", 0.25563, (16, 17, 18, 19, 20), WEEKENDS, SUMMER_JUN_SEP),  # same source
        TouPeriod("off_peak", 0.12597, tuple(range(0, 16)) + (21, 22, 23), months=SUMMER_JUN_SEP),  # same source
        TouPeriod("mid_peak", 0.29700, (16, 17, 18, 19, 20), months=WINTER_OCT_MAY),  # same source
        TouPeriod("super_off_peak", 0.07724, tuple(range(8, 16)), months=WINTER_OCT_MAY),  # same source
        TouPeriod("off_peak", 0.13568, tuple(range(0, 8)) + (21, 22, 23), months=WINTER_OCT_MAY),  # same source
    ),
    source="SCE TOU-EV-8 (20-500 kW business EV charging), SCE sheet ce401.pdf effective 2018-10-12 as "
    "transcribed in ACN-Sim (zach401/acnportal sce_tou_ev_8_june_2019.json); no demand charge; holidays not modelled",
)

# PG&E B-10 (Medium General Demand-Metered Service, 75-499 kW; voluntary below 75 kW): the built-in
# example of a real demand charge. Source: PG&E Schedule B-10,
# https://www.pge.com/tariffs/assets/pdf/tariffbook/ELEC_SCHEDS_B-10.pdf, secondary voltage, bundled,
# effective 2026-03-01, as transcribed in a public PG&E tariff reference (tariff id
# pge_b10_secondary_bundled_2026_03_01; its repository could not be identified). Every period applies
# every day. Summer June-September: peak 4-9 pm, partial peak 2-4 pm and 9-11 pm, off-peak other hours.
# Winter October-May: peak 4-9 pm, super-off-peak 9 am-2 pm in March, April and May only, off-peak
# other hours. Maximum demand charge 20.50 $/kW per billing month, all hours. Interval: 15 minutes
# (ASSUMPTION: PG&E meters maximum demand as 15-minute averages; the transcription does not say).
# Billing months are taken as local calendar months (ASSUMPTION: real billing cycles are meter-read
# periods). Customer charge 11.36882 $/day (same source).
_MAR_MAY = (3, 4, 5)
_OCT_FEB = (1, 2, 10, 11, 12)
PGE_B10 = TouTariff(
    name="pge_b10",
    periods=(
        TouPeriod("peak", 0.33947, (16, 17, 18, 19, 20), months=SUMMER_JUN_SEP),  # B-10 2026-03-01
        TouPeriod("partial_peak", 0.27778, (14, 15, 21, 22), months=SUMMER_JUN_SEP),  # same source
        TouPeriod("off_peak", 0.24522, tuple(range(0, 14)) + (23,), months=SUMMER_JUN_SEP),  # same source
        TouPeriod("peak", 0.26321, (16, 17, 18, 19, 20), months=WINTER_OCT_MAY),  # same source
        TouPeriod("super_off_peak", 0.19139, (9, 10, 11, 12, 13), months=_MAR_MAY),  # same source
        TouPeriod("off_peak", 0.22773, tuple(range(0, 9)) + (14, 15, 21, 22, 23), months=_MAR_MAY),  # same source
        TouPeriod("off_peak", 0.22773, tuple(range(0, 16)) + (21, 22, 23), months=_OCT_FEB),  # same source
    ),
    demand_charges=(DemandCharge("maximum_demand", 20.50, interval_s=900.0),),  # B-10 2026-03-01
    fixed_usd_per_day=11.36882,  # B-10 customer charge, same source
    source="PG&E B-10 (75-499 kW, demand metered), official PG&E Schedule B-10 sheet, secondary voltage, bundled, "
    "effective 2026-03-01, via a public PG&E tariff transcription; maximum demand 20.50 $/kW-month on 15-minute "
    "averages (interval assumed); holidays priced as ordinary days",
)

TARIFFS: dict[str, TouTariff] = {t.name: t for t in (PGE_EV2A, SCE_TOU_EV_8, PGE_B10)}
