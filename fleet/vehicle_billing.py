"""A vehicle's bills: each job's energy, cost and CO2, the idle chip and awake car, and the
average-cost content of its battery.

Methods of :class:`fleet.vehicle.Vehicle` (a mixin with no state of its own; :class:`BillingHost`
declares what it uses of the vehicle, and tests/project/test_layers.py checks both sides of that
contract). A plugged car's inference comes from the grid through its charger at the grid's price
and carbon over the run (exact integrals); an unplugged car's comes from its battery at the
battery's average-cost content (the carbon and price of the hours it was charged in; discharging
leaves the average unchanged).
"""
from __future__ import annotations

from typing import Any, Protocol


class BillingHost(Protocol):
    """The vehicle state :class:`JobBilling` reads and writes (slots of :class:`fleet.vehicle.Vehicle`)."""

    spec: Any  # VehicleSpec
    table: Any  # grid.meter.PriceCarbonTable, shared by the run
    charger: Any  # ChargerSpec in use while plugged
    plugged: bool
    energy_wh: float
    t_s: float  # start of the unsettled segment (s)
    p_idle: float  # W
    p_overhead: float  # W
    base_t: float  # the idle chip and awake car are billed up to here (s)
    batt_g_per_wh: float
    batt_usd_per_wh: float
    infer_usd: float
    infer_g: float
    m_level: int
    server: Any  # fleet.batching.BatchServer, or None (slots mode)
    busy: int
    p_active: float  # W
    b_act_w: float  # W
    b_t: float
    b_wh: float
    b_act_wh: float
    b_usd: float
    b_g: float
    b_act_usd: float
    b_act_g: float
    m_slot_s: float
    m_price: float
    m_carbon: float


class JobBilling:
    """Billing of a vehicle's inference and battery content (see the module docstring)."""

    __slots__ = ()

    def bill_job(self, job, now: float) -> None:
        """Add the energy (Wh), cost ($) and CO2 (g) of ``job``'s run here since ``job.bill_s``.

        A busy slot is billed ``spec.slot_served_w``. A plugged car's inference comes from the
        grid through its charger, at the grid's price and carbon over the run (exact
        integrals); an unplugged car's comes from its battery, at the battery's average-cost
        content (constant while unplugged), through the discharge efficiency.
        """
        if self.server is not None:
            self._bill_batched(job, now)
            return
        t0 = job.bill_s
        job.bill_s = now
        dt = now - t0
        if dt <= 0.0:
            return
        spec = self.spec
        w = spec.slot_served_w
        wh = w * dt / 3600.0
        if self.plugged:
            table = self.table
            a, b, _, p, _, c = table.piece  # within the table's current piece: no call
            if a <= t0 and now < b:
                dp, dc = p * dt, c * dt
            else:
                dp, dc = table.between(t0, now)
            k = w / self.charger.efficiency / 3.6e6
            usd, g = dp * k, dc * k
            if self.m_level >= 0:  # job-metered: the slot's grid draw is added by Vehicle._flush_metered
                self.m_slot_s += dt
                self.m_price += dp
                self.m_carbon += dc
        else:
            drawn = wh / spec.battery.discharge_efficiency
            usd, g = drawn * self.batt_usd_per_wh, drawn * self.batt_g_per_wh
        job.energy_wh += wh
        job.cost_usd += usd
        job.co2_g += g
        share = spec.slot_active_share  # the rest is the base, billed by _bill_base
        self.infer_usd += usd * share
        self.infer_g += g * share

    def _bill_batched(self, job, now: float) -> None:
        """:meth:`bill_job` with batched serving: the job's share of the per-job accumulators since
        it was last billed (:meth:`_advance_batch_bill`)."""
        self._advance_batch_bill(now)
        job.bill_s = now
        wh, act_wh, usd, g, act_usd, act_g = job.bill_mark
        job.energy_wh += self.b_wh - wh
        job.cost_usd += self.b_usd - usd
        job.co2_g += self.b_g - g
        self.infer_usd += self.b_act_usd - act_usd
        self.infer_g += self.b_act_g - act_g
        job.bill_mark = (self.b_wh, self.b_act_wh, self.b_usd, self.b_g, self.b_act_usd, self.b_act_g)

    def run_active_wh(self, job, now: float) -> float:
        """The chip's active energy (Wh) in ``job``'s share over its run on this car up to ``now``
        (batched serving)."""
        self._advance_batch_bill(now)
        return self.b_act_wh - job.run_mark

    def _advance_batch_bill(self, now: float) -> None:
        """Accumulate one job's share of the car's inference power (the chip's active power
        ``b_act_w``, its idle power and the awake car, shared equally by the jobs on the chip) from
        ``b_t`` to ``now``, supplied as :meth:`bill_job` describes. Job-metered (``m_level >= 0``),
        the chip's active power over the segment is also added to ``m_slot_s`` (W·s), ``m_price``
        (W·$·s/kWh) and ``m_carbon`` (W·g·s/kWh) for :meth:`fleet.vehicle.Vehicle._flush_metered`."""
        t0 = self.b_t
        self.b_t = now
        n = self.busy
        if now <= t0 or not n:
            return
        act = self.b_act_w
        act_w = act / n
        all_w = (act + self.p_idle + self.p_overhead) / n
        dt = now - t0
        h = dt / 3600.0
        if self.plugged:
            dp, dc = self.table.between(t0, now)
            k = 1.0 / self.charger.efficiency / 3.6e6
            usd, g = dp * k, dc * k  # per W
            if self.m_level >= 0:
                self.m_slot_s += act * dt
                self.m_price += act * dp
                self.m_carbon += act * dc
        else:
            per_w = h / self.spec.battery.discharge_efficiency
            usd, g = per_w * self.batt_usd_per_wh, per_w * self.batt_g_per_wh
        self.b_wh += all_w * h
        self.b_act_wh += act_w * h
        self.b_usd += all_w * usd
        self.b_g += all_w * g
        self.b_act_usd += act_w * usd
        self.b_act_g += act_w * g

    def _bill_base(self, now: float) -> None:
        """Bill the idle chip and awake car (constant since ``base_t``) up to ``now``."""
        base_w = self.p_idle + self.p_overhead
        t0 = self.base_t
        self.base_t = now
        if base_w <= 0.0 or now <= t0:
            return
        spec = self.spec
        if self.plugged:
            dp, dc = self.table.between(t0, now)
            k = base_w / self.charger.efficiency / 3.6e6
            self.infer_usd += dp * k
            self.infer_g += dc * k
        else:
            drawn = base_w * (now - t0) / 3600.0 / spec.battery.discharge_efficiency
            self.infer_usd += drawn * self.batt_usd_per_wh
            self.infer_g += drawn * self.batt_g_per_wh

    def _charge_content(self, now: float, stored_wh: float) -> None:
        """Average-cost accounting of ``stored_wh`` Wh charged over ``[t_s, now]`` from the grid.

        The stored energy carries the grid's mean carbon and price over the segment, grossed up
        by the charger's losses; mixing it with the battery's content gives the new average.
        Discharging leaves the average unchanged.
        """
        dt = now - self.t_s
        dp, dc = self.table.between(self.t_s, now)
        grid_kwh = stored_wh / self.charger.efficiency / 1000.0
        e0 = self.energy_wh
        e1 = e0 + stored_wh
        if e1 <= 0.0:  # nothing stored (a battery empty to the last bit): the average stands
            return
        self.batt_g_per_wh = (self.batt_g_per_wh * e0 + grid_kwh * dc / dt) / e1
        self.batt_usd_per_wh = (self.batt_usd_per_wh * e0 + grid_kwh * dp / dt) / e1
