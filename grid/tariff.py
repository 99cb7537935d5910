"""Time-of-use electricity tariffs: periods by local hour and weekday, and their price signal ($/kWh)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from grid.signals import StepSignal
from sim.clock import Clock

ALL_WEEKDAYS: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)  # Monday = 0 .. Sunday = 6
_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class TouPeriod:
    """A price (US $/kWh) that applies in the given local ``hours`` (0..23) on ``weekdays``."""

    name: str
    price_usd_per_kwh: float
    hours: tuple[int, ...]
    weekdays: tuple[int, ...] = ALL_WEEKDAYS

    def __post_init__(self) -> None:
        if not math.isfinite(self.price_usd_per_kwh) or self.price_usd_per_kwh < 0:
            raise ValueError(f"period {self.name}: price_usd_per_kwh {self.price_usd_per_kwh} must be a number >= 0")
        if not self.hours or any(not (isinstance(h, int) and 0 <= h <= 23) for h in self.hours):
            raise ValueError(
                f"period {self.name}: hours {self.hours} must be integers 0..23 (local hour), at least one")
        if not self.weekdays or any(not (isinstance(d, int) and 0 <= d <= 6) for d in self.weekdays):
            raise ValueError(f"period {self.name}: weekdays {self.weekdays} must be integers 0..6 (Monday = 0)")


@dataclass(frozen=True)
class TouTariff:
    """Time-of-use tariff: every (weekday, local hour) must belong to exactly one period."""

    name: str
    periods: tuple[TouPeriod, ...]
    source: str = ""
    _table: tuple[tuple[TouPeriod, ...], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        grid: list[list[TouPeriod | None]] = [[None] * 24 for _ in range(7)]
        for p in self.periods:
            for d in p.weekdays:
                for h in p.hours:
                    other = grid[d][h]
                    if other is not None:
                        who = "twice" if other is p else f"by both {other.name} and {p.name}"
                        raise ValueError(
                            f"tariff {self.name}: {_DAY_NAMES[d]} hour {h} is covered {who}; "
                            "each weekday and hour must belong to exactly one period"
                        )
                    grid[d][h] = p
        for d in range(7):
            for h in range(24):
                if grid[d][h] is None:
                    raise ValueError(
                        f"tariff {self.name}: {_DAY_NAMES[d]} hour {h} is in no period; "
                        "each weekday and hour must belong to exactly one period"
                    )
        object.__setattr__(self, "_table", tuple(tuple(row) for row in grid))  # type: ignore[arg-type]

    def period_at(self, weekday: int, hour: int) -> TouPeriod:
        """Period in force on ``weekday`` (Monday = 0) at local ``hour`` (0..23)."""
        return self._table[weekday][hour]

    def period_name(self, clock: Clock, t_s: float) -> str:
        """Name of the period in force at simulation time ``t_s`` (s)."""
        local = clock.to_datetime(t_s)
        return self._table[local.weekday()][local.hour].name

    def price_signal(self, clock: Clock, t0_s: float, t1_s: float) -> StepSignal:
        """Price (US $/kWh) over ``[t0_s, t1_s]`` s, one piece per local clock hour."""
        if not t1_s > t0_s:
            raise ValueError(f"tariff {self.name}: needs t0_s < t1_s; got {t0_s} s .. {t1_s} s")
        hours = clock.local_hours(t0_s, t1_s)
        times = [max(h.t_s, t0_s) for h in hours]
        prices = [self._table[h.weekday][h.hour].price_usd_per_kwh for h in hours]
        return StepSignal(times, prices, t1_s, f"{self.name} price", "usd_per_kwh")


# PG&E EV2-A (residential EV time-of-use). Periods, every day of the year, no baseline credit:
# peak 4-9 pm, partial peak 3-4 pm and 9 pm-midnight, off-peak midnight-3 pm
# (reference/facts.md section 4: rateatlas.org; pge.com; confidence medium-high).
# PRICES ARE PLACEHOLDERS (facts.md confidence: low; claimwatt-afv.pages.dev and a public JS rate
# table), one set for all seasons:
#   off-peak 0.27 = midpoint of the quoted off-peak range ~0.23-0.31 $/kWh;
#   peak 0.52 = midpoint (0.515, rounded up) of the whole quoted peak range, ~0.41 (winter) to
#     ~0.62 (top of summer's ~0.54-0.62);
#   partial peak 0.45: facts.md gives no figure; an assumption set between off-peak and peak,
#     nearer peak (0.27 + 72 % of the 0.25 spread), not taken from any source.
# Replace all three with the official PG&E EV2-A tariff sheet (which also has summer/winter prices).
PGE_EV2A = TouTariff(
    name="pge_ev2a",
    periods=(
        TouPeriod("off_peak", 0.27, tuple(range(0, 15))),
        TouPeriod("partial_peak", 0.45, (15, 21, 22, 23)),
        TouPeriod("peak", 0.52, (16, 17, 18, 19, 20)),
    ),
    source="PG&E EV2-A periods: rateatlas.org, pge.com; prices: placeholder midpoints of ranges "
    "in reference/facts.md section 4 (low confidence), to be replaced by the official tariff sheet",
)

TARIFFS: dict[str, TouTariff] = {"pge_ev2a": PGE_EV2A}
