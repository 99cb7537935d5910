"""Demand charges metered as a run goes, and every demand bill prorated to the run's length.

A household on a tariff with demand charges is its own site: its meter is the car's grid draw
while plugged at home (W, the charger's input: charging, the awake car and the chip). The draw
changes only at the car's events, so :class:`DemandMeter` adds each constant piece's energy to the
clock-aligned interval(s) it covers and keeps, per demand charge and billing month, the highest
interval average (kW) and when that interval starts: no trace is stored. The rules are those of
:meth:`grid.tariff.TouTariff.demand_charges_usd` (which bills a whole trace at once, as the depot's
is): intervals aligned to local clock hours, each average its exact energy over the full
``interval_s``, power outside ``[0, horizon_s]`` counting as zero, ties to the earliest interval,
a bill for every month in which the charge's window holds an interval of the run.

Prorating: a month's bill times the share of that local calendar month the run covers (run seconds
in the month over the month's seconds, daylight saving time included), :func:`month_run_share`.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timezone

from grid.tariff import DemandBill, TouTariff
from sim.core.clock import HOUR_S, Clock


def month_bounds_s(clock: Clock, month: str) -> tuple[float, float]:
    """Simulation times (s) of the local midnights that begin and end calendar ``month`` ('YYYY-MM')."""
    year, mon = (int(x) for x in month.split("-"))
    tz = clock.start.tzinfo
    first = datetime(year, mon, 1, tzinfo=tz)
    nxt = datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=tz)
    start_utc = clock.start.astimezone(timezone.utc)
    return ((first.astimezone(timezone.utc) - start_utc).total_seconds(),
            (nxt.astimezone(timezone.utc) - start_utc).total_seconds())


def month_run_share(clock: Clock, horizon_s: float, month: str) -> float:
    """Share (0..1) of local calendar ``month`` that the run ``[0, horizon_s]`` s covers."""
    t0, t1 = month_bounds_s(clock, month)
    return max(0.0, min(t1, horizon_s) - max(t0, 0.0)) / (t1 - t0)


def bill_rows(bills: Sequence[DemandBill], clock: Clock, horizon_s: float) -> list[dict]:
    """Each bill as a summary row: month, charge, peak (kW), the monthly bill, the run's share of
    the month and the prorated bill (US $)."""
    rows = []
    for b in bills:
        share = month_run_share(clock, horizon_s, b.month)
        rows.append({"month": b.month, "charge": b.charge, "peak_kw": b.peak_kw, "usd_monthly": b.usd,
                     "run_share": share, "usd_prorated": b.usd * share})
    return rows


class DemandCalendar:
    """A tariff's demand-charge intervals over a run ``[0, horizon_s]`` s, built once per run and
    shared by every :class:`DemandMeter`.

    Local hours are contiguous, so interval ``j`` of charge ``k`` starts at ``first_s[k] + j *
    interval_s[k]``. ``bucket[k][j]`` is the bill the interval counts in, ``k * len(months) + m``
    for month :attr:`months` ``[m]``, or -1 outside the charge's window or the run; ``run_end[k][j]``
    is the first interval after ``j`` with another bucket (runs of equal buckets are skipped at once).
    """

    def __init__(self, tariff: TouTariff, clock: Clock, horizon_s: float) -> None:
        self.tariff = tariff
        self.horizon_s = float(horizon_s)
        hours = clock.local_hours(0.0, horizon_s)
        month_of_hour = [date.fromordinal(h.date_ordinal).strftime("%Y-%m") for h in hours]
        self.months: list[str] = sorted(set(month_of_hour))
        self.run_share = [month_run_share(clock, horizon_s, m) for m in self.months]
        index = {m: i for i, m in enumerate(self.months)}
        self.first_s: list[float] = []
        self.interval_s: list[float] = []
        self.bucket: list[list[int]] = []
        self.run_end: list[list[int]] = []
        #: per bill (charge k, month m at k * len(months) + m), the start (s) of the month's first interval
        #: in the charge's window (None: no bill that month)
        self.first_in_window: list[float | None] = []
        for k, charge in enumerate(tariff.demand_charges):
            length = charge.interval_s
            per_hour = round(HOUR_S / length)
            buckets: list[int] = []
            first0 = hours[0].t_s
            for h, month in zip(hours, month_of_hour):
                inside = h.hour in charge.hours and h.weekday in charge.weekdays and h.month in charge.months
                for i in range(per_hour):
                    start = h.t_s + i * length
                    in_run = start + length > 0.0 and start < horizon_s
                    buckets.append(k * len(self.months) + index[month] if inside and in_run else -1)
            ends = [0] * len(buckets)
            nxt = len(buckets)
            for j in range(len(buckets) - 1, -1, -1):
                if j + 1 < len(buckets) and buckets[j + 1] != buckets[j]:
                    nxt = j + 1
                ends[j] = nxt
            firsts: list[float | None] = [None] * len(self.months)
            for j, b in enumerate(buckets):
                if b >= 0 and firsts[b - k * len(self.months)] is None:
                    firsts[b - k * len(self.months)] = first0 + j * length
            self.first_s.append(first0)
            self.interval_s.append(length)
            self.bucket.append(buckets)
            self.run_end.append(ends)
            self.first_in_window.extend(firsts)

    def index_at(self, k: int, t_s: float) -> int:
        """Index of charge ``k``'s interval that contains ``t_s`` s (``len(bucket[k])`` or more past
        the last one)."""
        return max(int((t_s - self.first_s[k]) // self.interval_s[k]), 0)


class DemandMeter:
    """One site's demand (a home's): the highest interval average per charge and month, streamed.

    Call :meth:`add_draw` at every change of the site's draw (W, grid import) and :meth:`bills`
    once at the end of the run. The meter keeps the site's cumulative energy; each charge's current
    interval remembers the cumulative energy at its start, so a change inside every current
    interval costs one multiply-add, and an interval's energy is a difference when it closes.
    Crossing intervals at constant power closes them a run of equal buckets at a time.
    """

    __slots__ = ("cal", "t_s", "power_w", "energy_ws", "until_s", "cursor", "start_ws", "peak_kw", "peak_start_s",
                 "closed")

    def __init__(self, calendar: DemandCalendar) -> None:
        self.cal = calendar
        self.t_s = 0.0
        self.power_w = 0.0
        self.energy_ws = 0.0  # W*s drawn from 0 to t_s
        n_charges = len(calendar.bucket)
        self.cursor = [calendar.index_at(k, 0.0) for k in range(n_charges)]
        self.start_ws = [0.0] * n_charges  # cumulative W*s at each charge's current interval start
        self.until_s = self._earliest_end()
        self.peak_kw = [0.0] * len(calendar.first_in_window)  # per bill (see DemandCalendar.bucket)
        self.peak_start_s: list[float | None] = [None] * len(calendar.first_in_window)  # None: the first interval
        self.closed = False

    def add_draw(self, now: float, delta_w: float) -> None:
        """The site's draw changes by ``delta_w`` W at ``now`` s (never before the last change)."""
        if now >= self.until_s:
            self._cross(now)
        p = self.power_w
        self.energy_ws += p * (now - self.t_s)
        self.t_s = now
        p += delta_w
        self.power_w = 0.0 if -1e-9 < p < 1e-9 else p

    def _earliest_end(self) -> float:
        """The earliest end (s) of the charges' current intervals."""
        cal = self.cal
        return min((cal.first_s[k] + (j + 1) * cal.interval_s[k] for k, j in enumerate(self.cursor)),
                   default=float("inf"))

    def _cross(self, now: float) -> None:
        """Close every interval that ended by ``now`` at the draw held since :attr:`t_s`."""
        cal = self.cal
        p, t, e = self.power_w, self.t_s, self.energy_ws
        cursor, start_ws, peaks = self.cursor, self.start_ws, self.peak_kw
        until = float("inf")
        for k, j in enumerate(cursor):
            length = cal.interval_s[k]
            first = cal.first_s[k]
            end = first + (j + 1) * length
            if now >= end:
                buckets = cal.bucket[k]
                b = buckets[j] if j < len(buckets) else -1
                if b >= 0:  # the interval just over counts in bill b: _close, inlined
                    kw = (e + p * (end - t) - start_ws[k]) / length / 1000.0
                    if kw > peaks[b]:
                        peaks[b] = kw
                        self.peak_start_s[b] = end - length
                jn = int((now - first) // length)
                if jn <= j:  # now >= end: a later interval, whatever the rounding
                    jn = j + 1
                if p > 0.0 and jn > j + 1:  # the whole intervals in between average p
                    self._close_run(k, j + 1, jn, p / 1000.0)
                cursor[k] = jn
                start = first + jn * length
                start_ws[k] = e + p * (start - t)
                end = start + length
            if end < until:
                until = end
        self.until_s = until

    def _close(self, k: int, j: int, energy_ws: float) -> None:
        """Interval ``j`` of charge ``k`` is over with ``energy_ws`` W*s in it."""
        buckets = self.cal.bucket[k]
        b = buckets[j] if j < len(buckets) else -1
        if b >= 0:
            kw = energy_ws / self.cal.interval_s[k] / 1000.0
            if kw > self.peak_kw[b]:
                self.peak_kw[b] = kw
                self.peak_start_s[b] = self.cal.first_s[k] + j * self.cal.interval_s[k]

    def _close_run(self, k: int, a: int, b: int, kw: float) -> None:
        """Intervals ``a`` .. ``b - 1`` of charge ``k`` are over, each averaging ``kw``."""
        cal = self.cal
        buckets, ends, peaks = cal.bucket[k], cal.run_end[k], self.peak_kw
        j = a
        b = min(b, len(buckets))
        while j < b:
            m = buckets[j]
            if m >= 0 and kw > peaks[m]:
                peaks[m] = kw
                self.peak_start_s[m] = cal.first_s[k] + j * cal.interval_s[k]
            j = ends[j]

    def bills(self) -> list[DemandBill]:
        """The site's monthly bills (sorted by month, then charge), closing its last interval at the
        run's end on the first call."""
        cal = self.cal
        if not self.closed:
            end = max(cal.horizon_s, self.t_s)
            self.add_draw(end, 0.0)
            for k, j in enumerate(self.cursor):
                self._close(k, j, self.energy_ws - self.start_ws[k])
            self.closed = True
        out = []
        n_months = len(cal.months)
        for m, month in enumerate(cal.months):
            for k, charge in enumerate(cal.tariff.demand_charges):
                i = k * n_months + m
                first = cal.first_in_window[i]
                if first is None:  # the charge's window holds no interval of the run this month
                    continue
                start = self.peak_start_s[i]
                peak = self.peak_kw[i]
                start = first if start is None else start
                out.append(DemandBill(month, charge.name, peak, start, max(peak, 0.0) * charge.usd_per_kw))
        return out
