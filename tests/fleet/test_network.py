"""The car's link: what it adds to each job's latency, and outages that take the car offline.

Oracles: hand computation of a round trip plus the bytes at the link's rates, and the renewal
theory of an on/off process (the share of time off is ``E[off] / (E[on] + E[off])``).
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from fleet.network import BYTES_PER_TOKEN, LINK_PRESETS
from sim.runner import run
from sim.scenario import default_scenario

HOME_ONLY = {"fleet.mobility": False, "fleet.opt_in_share": 1.0, "report.figures": False,
             "workload.interactive.rate_per_s": 0.5, "workload.batch.rate_per_s": 0.5}


def test_network_time_is_one_round_trip_plus_the_bytes():
    """Without spread, every job's network time is the round trip, the prompt down and the answer up."""
    rtt, down, up = 0.02, 50.0, 5.0
    res = run(default_scenario().with_overrides({
        **HOME_ONLY, "run.days": 0.05, "fleet.vehicles": 30, "fleet.network.home.rtt_s": rtt,
        "fleet.network.home.rtt_sigma": 0.0, "fleet.network.home.down_mbps": down,
        "fleet.network.home.up_mbps": up, "fleet.network.home.outages_per_day": 0.0}))
    jobs = res.jobs[res.jobs["outcome"] == "completed"]
    assert len(jobs) > 100
    bits = 8.0 * BYTES_PER_TOKEN
    expected = rtt + jobs["prompt_tokens"] * bits / (down * 1e6) + jobs["output_tokens"] * bits / (up * 1e6)
    np.testing.assert_allclose(jobs["network_s"], expected, rtol=1e-12)
    np.testing.assert_allclose(jobs["latency_s"], jobs["finish_s"] - jobs["arrival_s"] + expected, rtol=1e-12)
    # the first token reaches the user one round trip and the prompt's download after the chip made it
    assert (jobs["ttft_s"] >= rtt + jobs["prompt_tokens"] * bits / (down * 1e6) - 1e-12).all()


def test_round_trips_follow_the_preset_median():
    res = run(default_scenario().with_overrides({**HOME_ONLY, "run.days": 0.1, "fleet.vehicles": 50,
                                                 "fleet.network.home.outages_per_day": 0.0}))
    jobs = res.jobs[res.jobs["outcome"] == "completed"]
    link = LINK_PRESETS["home_wifi"]
    bits = 8.0 * BYTES_PER_TOKEN
    rtt = jobs["network_s"] - jobs["prompt_tokens"] * bits / (link.down_mbps * 1e6) \
        - jobs["output_tokens"] * bits / (link.up_mbps * 1e6)
    assert len(rtt) > 1000
    assert float(np.median(rtt)) == pytest.approx(link.rtt_s, rel=0.05)
    assert float(np.std(np.log(rtt))) == pytest.approx(link.rtt_sigma, rel=0.05)


def test_outages_take_the_car_offline_for_the_renewal_share_of_time():
    """One car always at home: up for Exp(1/rate), down for lognormal(median, sigma 1). The share of
    time offline for want of a connection is E[down] / (E[up] + E[down])."""
    rate_per_day, median_s = 24.0, 600.0
    res = run(default_scenario().with_overrides({
        **HOME_ONLY, "run.days": 30.0, "fleet.vehicles": 1, "workload.interactive.rate_per_s": 0.02,
        "workload.batch.rate_per_s": 0.0, "fleet.network.home.outages_per_day": rate_per_day,
        "fleet.network.home.outage_median_s": median_s}))
    mean_down = median_s * math.exp(0.5)
    mean_up = 86400.0 / rate_per_day
    expected = mean_down / (mean_up + mean_down)
    share = float(res.timeseries["offline_no_connection"].mean())
    assert share == pytest.approx(expected, rel=0.12)
    causes = res.summary["jobs"]["preempted_by_cause"]
    assert causes["outage"] > 0 and causes["departure"] == 0


def test_without_outages_an_always_home_car_never_goes_offline():
    res = run(default_scenario().with_overrides({**HOME_ONLY, "run.days": 2.0, "fleet.vehicles": 5,
                                                 "fleet.network.home.outages_per_day": 0.0}))
    assert float(res.timeseries["offline_no_connection"].max()) == 0.0
    assert res.summary["jobs"]["preempted_by_cause"]["outage"] == 0


def test_ttft_and_tpot_objectives_count_in_slo_attainment():
    """An interactive job meets its SLO only within every objective set: tightening the time to first
    token below what some jobs took turns exactly those jobs into misses."""
    base = {**HOME_ONLY, "run.days": 0.05, "fleet.vehicles": 30, "workload.batch.rate_per_s": 0.0,
            "fleet.chip.serving": "batched"}
    loose = run(default_scenario().with_overrides(base)).jobs
    done = loose[loose["outcome"] == "completed"]
    ttft_cut = float(done["ttft_s"].quantile(0.9))
    tpot_cut = float(done["tpot_s"].quantile(0.8))
    tight = run(default_scenario().with_overrides({**base, "workload.interactive.ttft_slo_s": ttft_cut,
                                                   "workload.interactive.tpot_slo_s": tpot_cut})).jobs
    expected = loose["slo_met"] & ~(loose["ttft_s"] > ttft_cut) & ~(loose["tpot_s"] > tpot_cut)
    assert (tight["slo_met"] == expected).all()
    assert loose["slo_met"].sum() - expected.sum() >= 0.1 * len(done)  # at least the slowest tenth to first token


def test_objectives_hold_for_jobs_the_data_center_finished():
    """Overflowed interactive jobs carry their time to first token too: a 1 ms objective fails them."""
    res = run(default_scenario().with_overrides({
        "run.days": 0.2, "fleet.vehicles": 100, "fleet.chip.serving": "batched", "report.figures": False,
        "dispatch.on_max_wait": "overflow", "workload.interactive.ttft_slo_s": 0.001,
        "workload.interactive.rate_per_s": 0.5, "workload.batch.rate_per_s": 0.5}))
    jobs = res.jobs
    dc = jobs[(jobs["served_by"] == "datacenter") & jobs["latency_s"].notna() & (jobs["job_class"] == "interactive")]
    assert len(dc) > 10
    assert (dc["ttft_s"] > 0.001).all() and not dc["slo_met"].any()


def test_a_robotaxi_that_declines_a_ride_keeps_its_link_planned(monkeypatch):
    """A declined ride extends the stay: an outage under way must still end in it (and a connected
    car keeps having outages). Robotaxis with frequent long outages and a high ready threshold."""
    from fleet.vehicle import Vehicle

    stuck = []
    decline = Vehicle._decline

    def checked(self, now, plan, k, end, day):
        decline(self, now, plan, k, end, day)
        if self.opted_in and not self.connected and self.outage_end_s < self.next_departure_s:
            stuck.append((now, self.vid)) if self.outage_event is None else None

    monkeypatch.setattr(Vehicle, "_decline", checked)
    res = run(default_scenario().with_overrides({
        "report.figures": False, "run.days": 1.0, "fleet.vehicles": 20, "fleet.robotaxi.vehicles": 60,
        "fleet.robotaxi.ready_soc": 0.85, "fleet.network.home.outages_per_day": 50.0,
        "fleet.network.home.outage_median_s": 1800.0}))
    assert res.vehicles["rides_declined"].sum() > 20
    assert stuck == []
