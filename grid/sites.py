"""Charging sites: a number of stalls and a power cap shared by the cars plugged there.

A :class:`Site` knows its members only through four attributes (duck typing; ``grid`` knows
nothing of vehicles): ``site_floor_w`` (the draw the member must always be able to take: its
own load at most, W), ``site_want_w`` (what its charger would draw now, W, >= the floor),
``site_priority`` (lower is served first under priority sharing) and ``site_budget_w``, which
the site writes. A member never draws more than its budget, and the budgets never add up to
more than the cap, so the site's draw never exceeds it.

Sharing: every member first gets its floor; the rest of the cap goes to the members that want
more, either in equal shares with water-filling (``fair``: a member that wants less than its
share frees the rest for the others) or in priority order (``priority``). When every stall is
taken, an arriving car waits in line for one (``wait``) or parks without charging (``leave``).

The site also keeps the exact integral of its draw for sampling, and its draw as a step trace
for demand charges and figures.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from grid.chargers import CHARGER_PRESETS, ChargerSpec
from sim.core.params import param

SHARING = ("fair", "priority")
WHEN_FULL = ("wait", "leave")


@dataclass(frozen=True)
class SiteSpec:
    """Static configuration of one site."""

    name: str
    stalls: int
    cap_w: float  # inf = no cap
    charger: ChargerSpec
    sharing: str = "fair"
    when_full: str = "wait"

    def __post_init__(self) -> None:
        if self.stalls < 1:
            raise ValueError(f"site {self.name}: stalls {self.stalls} must be >= 1")
        if not self.cap_w > 0:
            raise ValueError(f"site {self.name}: cap_w {self.cap_w} must be > 0 (inf for no cap)")
        if self.sharing not in SHARING:
            raise ValueError(f"site {self.name}: sharing {self.sharing!r} must be one of {', '.join(SHARING)}")
        if self.when_full not in WHEN_FULL:
            raise ValueError(f"site {self.name}: when_full {self.when_full!r} must be one of {', '.join(WHEN_FULL)}")


@dataclass(frozen=True)
class DepotSpec:
    """A depot as a scenario gives it: its stalls, cap, charger preset and sharing (a :class:`SiteSpec`),
    and the charging strategy, demand-charge tariff and PV that the model gives the site."""

    stalls: int = param(20, doc="charging stalls at the depot; ASSUMPTION", lo=1, hi=100_000)
    cap_w: float = param(1_500_000.0, doc="depot grid connection cap shared by its stalls, W; ASSUMPTION (10 stalls' "
                         "worth of 150 kW)", lo=0.0, lo_open=True, hi=1e10)
    charger: str = param("depot_dc", doc="depot stall charger (a grid.chargers preset)",
                         choices=tuple(sorted(CHARGER_PRESETS)))
    sharing: str = param("fair", doc="how plugged cars share the cap: 'fair' (equal, water-filling) or 'priority' "
                         "(lowest SoC first)", choices=SHARING)
    when_full: str = param("wait", doc="a car finding every stall taken 'wait's in line or 'leave's (parks unplugged)",
                           choices=WHEN_FULL)
    strategy: str = param("immediate", doc="the depot's charging strategy: immediate, off_peak, carbon_aware or "
                          "solar_following (its PV's sunniest hours)",
                          choices=("immediate", "off_peak", "carbon_aware", "solar_following"))
    tariff: str = param("pge_b10", kind="tariff", doc="the depot's tariff for its demand charges on the site's peak "
                        "grid import, its draw less PV (a built-in name or a TOML/JSON file)")
    solar_kw_dc: float = param(0.0, doc="depot PV array, kW DC (0 = none; needs weather_epw)", lo=0.0, hi=1e7)
    weather_epw: str = param("", kind="epw", doc="typical-year weather (EPW) for the depot's PV, e.g. "
                             "../shared/data/weather-epw/USA_CA_San.Jose-Mineta.epw")
    # ASSUMPTION: PV the depot cannot use earns nothing unless set. Under California's Net Billing
    # Tariff (2023) exports earn hourly avoided-cost credits (the CPUC's Avoided Cost Calculator).
    # For scale: the CPUC's AB 920 net surplus compensation rate (a 7 am - 5 pm average of day-ahead
    # DLAP prices) was five cents per kWh for PG&E in 2009 (the decision adopting it,
    # docs.cpuc.ca.gov/PUBLISHED/FINAL_DECISION/137431-04.htm and its proposed decision, Agenda ID 9932).
    export_usd_per_kwh: float = param(0.0, doc="what the depot earns per kWh of PV it exports (PV beyond its draw), "
                                      "$/kWh; ASSUMPTION 0 (California net billing pays hourly avoided costs; "
                                      "PG&E's 2009 net surplus rate was 0.05 $/kWh, CPUC AB 920 decision)",
                                      lo=0.0, hi=1000.0)

    def site_spec(self, name: str) -> SiteSpec:
        """The depot's site, named ``name``."""
        return SiteSpec(name, self.stalls, self.cap_w, CHARGER_PRESETS[self.charger], sharing=self.sharing,
                        when_full=self.when_full)


class Site:
    """Dynamic state of a site: plugged members, the line of waiting cars, budgets and draw."""

    def __init__(self, spec: SiteSpec) -> None:
        self.spec = spec
        self.plugged: list = []
        self.waiting: deque = deque()
        self.draw_w = 0.0
        self.trace_t: list[float] = [0.0]  # step trace of the draw (W) from each time on
        self.trace_w: list[float] = [0.0]
        self._t = 0.0
        self._acc = 0.0  # W*s since the last sample
        self._acc_plugged = 0.0
        self._acc_waiting = 0.0
        self.turned_away = 0  # arrivals that found every stall taken (and left or waited)
        self.charging_signal = None  # what the site's strategy minimises: (breakpoints s, values) or None
        self.tariff = None  # the site's tariff (demand charges on its peak)
        self.solar = None  # the site's PV output (StepSignal, W) or None
        self.export_usd_per_kwh = 0.0  # what PV exported beyond the site's draw earns, $/kWh

    # ------------------------------------------------------------------ stalls
    def has_free_stall(self) -> bool:
        return len(self.plugged) < self.spec.stalls

    def plug(self, member, now: float) -> None:
        """Give ``member`` a stall (the caller checked one is free)."""
        self._advance(now)
        self.plugged.append(member)

    def unplug(self, member, now: float) -> None:
        """Free ``member``'s stall; its draw must already be 0."""
        self._advance(now)
        self.plugged.remove(member)

    def wait(self, member, now: float) -> None:
        self._advance(now)
        self.turned_away += 1
        self.waiting.append(member)

    def stop_waiting(self, member, now: float) -> None:
        self._advance(now)
        self.waiting.remove(member)

    def next_waiting(self, now: float):
        """The first car in line (removed from it), or None."""
        if not self.waiting:
            return None
        self._advance(now)
        return self.waiting.popleft()

    # ------------------------------------------------------------------ budgets
    def allocate(self) -> list:
        """Recompute every member's budget (W); return the members whose budget changed."""
        members = self.plugged
        cap = self.spec.cap_w
        budgets = {id(m): m.site_floor_w for m in members}
        spare = cap - sum(budgets.values())
        extra = [(m, m.site_want_w - m.site_floor_w) for m in members if m.site_want_w > m.site_floor_w]
        if math.isinf(cap):
            for m, e in extra:
                budgets[id(m)] += e
        elif self.spec.sharing == "priority":
            for m, e in sorted(extra, key=lambda x: x[0].site_priority):
                give = min(e, max(spare, 0.0))
                budgets[id(m)] += give
                spare -= give
        else:  # fair: water-filling, smallest wants first
            extra.sort(key=lambda x: x[1])
            left = len(extra)
            for m, e in extra:
                give = min(e, max(spare, 0.0) / left)
                budgets[id(m)] += give
                spare -= give
                left -= 1
        changed = []
        for m in members:
            b = budgets[id(m)]
            if b != m.site_budget_w:
                m.site_budget_w = b
                changed.append(m)
        return changed

    # ------------------------------------------------------------------ draw
    def add_draw(self, now: float, delta_w: float) -> None:
        """The site's draw changes by ``delta_w`` W at ``now``."""
        if delta_w == 0.0:
            return
        self._advance(now)
        self.draw_w += delta_w
        if abs(self.draw_w) < 1e-9:
            self.draw_w = 0.0
        # Budgets are re-shared one car after another at the same instant: only the draw that
        # holds once they all have moved lasts, so the trace keeps one value per instant.
        if self.trace_t[-1] == now:
            self.trace_w[-1] = self.draw_w
        else:
            self.trace_t.append(now)
            self.trace_w.append(self.draw_w)

    @property
    def peak_w(self) -> float:
        """Highest draw held for any positive time (W)."""
        return max(self.trace_w)

    def _advance(self, now: float) -> None:
        dt = now - self._t
        if dt > 0.0:
            self._acc += self.draw_w * dt
            self._acc_plugged += len(self.plugged) * dt
            self._acc_waiting += len(self.waiting) * dt
            self._t = now

    def sample(self, now: float) -> tuple[float, float, float]:
        """Integrals since the last sample: draw (W*s), plugged cars (car*s), waiting cars (car*s)."""
        self._advance(now)
        out = (self._acc, self._acc_plugged, self._acc_waiting)
        self._acc = self._acc_plugged = self._acc_waiting = 0.0
        return out
