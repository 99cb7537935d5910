"""Exact grid metering of a piecewise-constant power draw against price and carbon signals."""
from __future__ import annotations

import math
from bisect import bisect_right
from typing import NamedTuple

from grid.signals import StepSignal

_WS_PER_WH = 3600.0
_WS_PER_KWH = 3.6e6


class Piece(NamedTuple):
    """One constant piece of the price and carbon signals: ``[start_s, end_s)`` and the cumulative
    integrals at its start ($·s/kWh, g·s/kWh) with the values on it ($/kWh, g/kWh)."""

    start_s: float
    end_s: float
    cum_price: float
    price: float
    cum_carbon: float
    carbon: float


_new_piece = tuple.__new__


class PriceCarbonTable:
    """Price and carbon on the union of their breakpoints: both cumulatives from one bisect.

    Built once per run and shared by every vehicle's :class:`GridMeter`. :attr:`piece` is the
    :class:`Piece` of the last query: hot loops read it (tuple unpacking) and integrate within it
    without a call, falling back to :meth:`between` or :meth:`cumulatives` outside it.
    """

    __slots__ = ("times", "cum_price", "cum_carbon", "price", "carbon", "start_s", "end_s", "piece",
                 "price_signal", "carbon_signal")

    def __init__(self, price: StepSignal, carbon: StepSignal) -> None:
        self.price_signal = price  # $/kWh
        self.carbon_signal = carbon  # g/kWh
        self.start_s = max(price.start_s, carbon.start_s)
        self.end_s = min(price.end_s, carbon.end_s)
        times = sorted({t for t in price.times_s + carbon.times_s if self.start_s <= t < self.end_s}
                       | {self.start_s})
        self.times = times
        self.price = [price.value(t) for t in times]
        self.carbon = [carbon.value(t) for t in times]
        self.cum_price = [price.cumulative(t) for t in times]
        self.cum_carbon = [carbon.cumulative(t) for t in times]
        self.piece = Piece(0.0, -1.0, 0.0, 0.0, 0.0, 0.0)  # none yet

    def cumulatives(self, t_s: float) -> tuple[float, float]:
        """Exact integrals of price ($·s/kWh) and carbon (g·s/kWh) from the signals' start to ``t_s``."""
        t0, t1, cp, p, cc, c = self.piece
        if t0 <= t_s < t1:  # most queries fall in the same piece as the previous one
            dt = t_s - t0
            return cp + p * dt, cc + c * dt
        if not (self.start_s <= t_s <= self.end_s):
            raise ValueError(f"grid signals cover {self.start_s} s .. {self.end_s} s; asked for {t_s} s")
        times = self.times
        i = bisect_right(times, t_s) - 1
        t0 = times[i]
        t1 = times[i + 1] if i + 1 < len(times) else self.end_s
        cp, p, cc, c = self.cum_price[i], self.price[i], self.cum_carbon[i], self.carbon[i]
        self.piece = _new_piece(Piece, (t0, t1, cp, p, cc, c))  # Piece(...) without a Python frame
        dt = t_s - t0
        return cp + p * dt, cc + c * dt

    def between(self, t0_s: float, t1_s: float) -> tuple[float, float]:
        """Exact integrals of price ($·s/kWh) and carbon (g·s/kWh) over ``[t0_s, t1_s]``.

        The cached piece of :meth:`cumulatives` becomes ``t1_s``'s (the present, in the
        simulator), never ``t0_s``'s: the grid meters keep their fast path.
        """
        t0, t1, cp, p, cc, c = self.piece
        if t0 <= t0_s and t1_s < t1:
            dt = t1_s - t0_s
            return p * dt, c * dt
        p1, c1 = self.cumulatives(t1_s)
        piece = self.piece
        p0, c0 = self.cumulatives(t0_s)
        self.piece = piece
        return p1 - p0, c1 - c0


class GridMeter:
    """Integrates power drawn from the grid (W; positive = import) exactly over simulation time.

    Energy over ``[a, b]`` at ``P`` W is ``P*(b-a)/3600`` Wh; cost is ``P/1000`` kW times the
    price integral ($·s/kWh) over 3600 s/h; CO2 likewise with the carbon signal (g/kWh).
    Call :meth:`set_power` at every change of draw and :meth:`settle` before reading totals.
    Each call costs one bisect per signal (the cumulative integrals at the last time are cached).
    """

    __slots__ = ("_table", "_t_s", "_power_w", "_p_cum", "_c_cum", "_energy_ws", "_cost_ws", "_co2_ws")

    def __init__(self, price: StepSignal, carbon: StepSignal, t0_s: float,
                 table: PriceCarbonTable | None = None) -> None:
        """``price`` in $/kWh and ``carbon`` in gCO2/kWh; metering starts at ``t0_s`` s with 0 W.

        ``table`` (optional) is the shared :class:`PriceCarbonTable` of the same two signals.
        """
        if table is not None and (table.price_signal is not price or table.carbon_signal is not carbon):
            raise ValueError("grid meter: the shared table must be built from the same price and carbon signals")
        self._table = table or PriceCarbonTable(price, carbon)
        self._t_s = float(t0_s)
        self._power_w = 0.0
        self._p_cum, self._c_cum = self._table.cumulatives(t0_s)
        self._energy_ws = 0.0  # W·s
        self._cost_ws = 0.0  # W·s·$/kWh
        self._co2_ws = 0.0  # W·s·g/kWh

    def settle(self, t_s: float) -> None:
        """Account the draw from the last settled time up to ``t_s`` s at the current power."""
        self.set_power(t_s, self._power_w)

    def set_power(self, t_s: float, power_w: float) -> None:
        """Settle up to ``t_s`` s at the old power, then draw ``power_w`` W from ``t_s`` on.

        This runs on every power change of every vehicle: the table's cached piece is read inline.
        """
        if not math.isfinite(power_w):
            raise ValueError(f"grid meter: power_w {power_w} must be a finite number of watts")
        dt = t_s - self._t_s
        if dt < 0:
            raise ValueError(f"grid meter: time {t_s} s is before the last settled time {self._t_s} s")
        t0, t1, cp, pr, cc, ci = self._table.piece
        if t0 <= t_s < t1:
            off = t_s - t0
            p_cum = cp + pr * off
            c_cum = cc + ci * off
        else:
            p_cum, c_cum = self._table.cumulatives(t_s)
        p = self._power_w
        if p:
            self._energy_ws += p * dt
            self._cost_ws += p * (p_cum - self._p_cum)
            self._co2_ws += p * (c_cum - self._c_cum)
        self._p_cum = p_cum
        self._c_cum = c_cum
        self._t_s = t_s
        self._power_w = power_w

    @property
    def table(self) -> PriceCarbonTable:
        """The shared price/carbon table (exact cumulative integrals)."""
        return self._table

    def prices_at(self, t_s: float) -> tuple[float, float]:
        """Price ($/kWh) and carbon intensity (g/kWh) in force at ``t_s`` s."""
        table = self._table
        return table.price_signal.value(t_s), table.carbon_signal.value(t_s)

    @property
    def t_s(self) -> float:
        """Last settled simulation time (s)."""
        return self._t_s

    @property
    def power_w(self) -> float:
        """Current draw (W)."""
        return self._power_w

    @property
    def energy_wh(self) -> float:
        """Energy drawn up to :attr:`t_s` (Wh)."""
        return self._energy_ws / _WS_PER_WH

    @property
    def cost_usd(self) -> float:
        """Cost up to :attr:`t_s` (US $)."""
        return self._cost_ws / _WS_PER_KWH

    @property
    def co2_g(self) -> float:
        """CO2 emitted up to :attr:`t_s` (g)."""
        return self._co2_ws / _WS_PER_KWH

    def add_draw(self, energy_ws: float, cost_ws: float, co2_ws: float) -> None:
        """Account a draw integrated elsewhere: ``energy_ws`` W·s, and the same power weighted by
        price (W·s·$/kWh) and by carbon (W·s·g/kWh) over its interval.

        A plugged car at its charge limit meters its busy slots this way, one job run at a time
        (each run's exact price and carbon integrals), on top of its metered base power.
        """
        self._energy_ws += energy_ws
        self._cost_ws += cost_ws
        self._co2_ws += co2_ws

    def add_energy(self, t_s: float, energy_wh: float) -> None:
        """Account an instantaneous purchase of ``energy_wh`` Wh at time ``t_s`` s.

        Used for a lump of energy whose duration is not modelled (an en-route fast-charge
        top-up); it is priced at the signals' values at ``t_s``.
        """
        if not (math.isfinite(energy_wh) and energy_wh >= 0.0):
            raise ValueError(f"grid meter: energy_wh {energy_wh} must be a finite number >= 0")
        self.settle(t_s)
        ws = energy_wh * _WS_PER_WH
        self._energy_ws += ws
        price, carbon = self.prices_at(t_s)
        self._cost_ws += ws * price
        self._co2_ws += ws * carbon
