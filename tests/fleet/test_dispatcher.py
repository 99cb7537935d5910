"""Tests of fleet.dispatcher, fleet.policies and fleet.fleetview.

Expected values are hand-computed (the tiny hand-built fleets below), exact identities (job
books, drop times), or distribution-free bounds (chi-square with a 1e-6 tail). Runs use fixed seeds.

User policies are named ``module:Class``. This module names its own classes with
``f"{__name__}:Class"``: pytest (rootdir /work/main, default "prepend" import mode, no
``__init__.py`` in ``tests/`` or ``tests/fleet/``) imports this file as the top-level module
``test_dispatcher`` with ``tests/fleet/`` on ``sys.path``, so that string resolves to this very
module object (already in ``sys.modules``) whichever way pytest is started; a hard-coded
``tests.fleet.test_dispatcher`` would only resolve when the current directory is on ``sys.path``
and would import a second copy.
"""
from __future__ import annotations

import math
import random
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mmc import mmc_overrides

from fleet.chip import CHIP_PRESETS
from fleet.fleetview import FreeSlotIndex
from fleet.jobs import BATCH_CLASS, INTERACTIVE_CLASS, Job
from fleet.mobility import HOME, DayPlan
from fleet.planner import PlanLists
from fleet.policies import DispatchPolicy, LeastLoadedPolicy, policy_class, policy_names
from sim.core.errors import ScenarioError
from sim.results import JOBS, write_results
from sim.runner import Simulation, _NoTrips, run
from sim.scenario import default_scenario

DAY_S = 86400.0
HW4 = CHIP_PRESETS["hw4"]


def chi2_bounds(dof: int, z: float = 4.75) -> tuple[float, float]:
    """Lower and upper chi-square quantiles at normal deviate -z and +z (Wilson-Hilferty).

    z = 4.75 is a two-sided tail of ~2e-6; the approximation is accurate to a few percent of the
    quantile for dof >= 10, far inside the margin a biased policy misses by.
    """
    h = 2.0 / (9.0 * dof)
    return dof * (1 - h - z * math.sqrt(h)) ** 3, dof * (1 - h + z * math.sqrt(h)) ** 3



# ====================================================================== hand-built fleets
class FixedPlanner(_NoTrips):
    """The no-trips planner of ``fleet.mobility = false`` with the given trips on day 0 (the only
    day): ``trips[vid] = [(depart_s, arrive_s, km, place)]``."""

    def __init__(self, trips: list[list[tuple[float, float, float, int]]]) -> None:
        super().__init__(len(trips))
        off = np.zeros(len(trips) + 1, np.int64)
        off[1:] = np.cumsum([len(t) for t in trips])
        flat = [x for t in trips for x in t]
        col = lambda i, dt: np.array([f[i] for f in flat], dt)  # noqa: E731
        self._plan = PlanLists(DayPlan(off, col(0, float), col(1, float), col(2, float), col(3, np.int8)))


def hand_run(trips, jobs: list[Job], days: float = 0.01):
    """hw4 cars with 1 slot each, at home and online; ``jobs`` submitted at their arrival times.

    Round robin hands the first job to vehicle 0 and the next to vehicle 1 (both join the
    rotation at t = 0 in id order). A car with a trip is away from ``depart_s`` to ``arrive_s``
    (a tour's last trip ends at home, where it goes back online); nothing else happens.
    """
    sc = default_scenario().with_overrides({
        "fleet.vehicles": len(trips),
        "fleet.mobility": False, "fleet.network.enabled": False,
        "fleet.opt_in_share": 1.0,
        "fleet.chip.slots": 1,
        "workload.interactive.rate_per_s": 0.0,
        "workload.batch.rate_per_s": 0.0,
        "dispatch.policy": "round_robin",
        "run.days": days,
        "report.figures": False,
    })
    sim = Simulation(sc)
    sim.ctx.planner = FixedPlanner(trips)  # vehicles read the planner when their process starts
    for job in jobs:
        ev = sim.env.timeout(job.arrival_s)
        ev.callbacks.append(lambda _ev, job=job: sim.dispatcher.submit(job))
    return sim.run()


def job(jid: int, cls: int, t: float, prompt: int, output: int, max_wait_s: float = 1000.0) -> Job:
    return Job(jid, cls, t, prompt, output, 1000.0, max_wait_s)


# Job 0 (prompt 1000 -> 1 s prefill at 1,000 tok/s; 400 output -> 10 s decode at 40 tok/s) starts
# on car 0 at t = 10. Job 1 (500 prompt, 300 output: 0.5 + 7.5 s) keeps car 1 busy 10.5 -> 18.5.
# Car 0 leaves at ``dep``: job 0 is preempted after ``dep - 10`` s and restarts on car 1 at 18.5.
@pytest.mark.parametrize(
    "cls, dep, wasted, finish",
    [
        # batch, preempted while decoding: 4 s of decode = 160 tokens kept; prefill (1000) redone;
        # restart: 1 s prefill + 240 tokens / 40 = 7 s -> 25.5
        (BATCH_CLASS, 15.0, 1000, 18.5 + 1.0 + 240 / 40),
        # batch, preempted during prefill (0.5 s = 500 tokens): nothing kept, 500 wasted; 11 s
        (BATCH_CLASS, 10.5, 500, 18.5 + 11.0),
        # interactive, preempted while decoding: restarts from scratch; 1000 + 160 wasted
        (INTERACTIVE_CLASS, 15.0, 1160, 18.5 + 11.0),
        # interactive, preempted during prefill: 500 wasted
        (INTERACTIVE_CLASS, 10.5, 500, 18.5 + 11.0),
    ],
)
def test_preemption_checkpoints_batch_and_restarts_interactive(cls, dep, wasted, finish):
    r = hand_run(
        trips=[[(dep, 600.0, 5.0, HOME)], []],
        jobs=[job(0, cls, 10.0, 1000, 400), job(1, INTERACTIVE_CLASS, 10.5, 500, 300)],
    )
    j = r.jobs.set_index("job_id")
    assert r.metric("jobs.preempted") == 1
    assert r.metric("jobs.preempted_by_cause") == {"departure": 1, "reserve": 0, "outage": 0}
    assert j.loc[1, "outcome"] == "completed" and j.loc[1, "finish_s"] == pytest.approx(18.5)
    row = j.loc[0]
    assert row["outcome"] == "completed"
    assert row["preemptions"] == 1
    assert row["vehicle_id"] == 1
    assert row["start_s"] == pytest.approx(10.0)  # first start
    assert row["finish_s"] == pytest.approx(finish, abs=1e-9)
    assert row["wasted_tokens"] == wasted
    # latency is at least one full service (11 s) whatever happened
    assert row["latency_s"] >= HW4.service_s(1000, 400) - 1e-9
    assert list(r.vehicles["preemptions"]) == [1, 0]
    assert r.metric("tokens.wasted") == wasted
    assert r.metric("checks.job_balance_residual") == 0


def test_preempted_job_restarts_at_once_on_a_free_vehicle():
    """Car 1 is idle when car 0 departs at t = 15: the preempted batch job must restart there
    immediately (the dispatcher is work-conserving), finishing at 15 + 1 + 240/40 = 22 s."""
    r = hand_run(trips=[[(15.0, 600.0, 5.0, HOME)], []], jobs=[job(0, BATCH_CLASS, 10.0, 1000, 400)])
    row = r.jobs.set_index("job_id").loc[0]
    assert row["outcome"] == "completed"
    assert row["vehicle_id"] == 1
    assert row["finish_s"] == pytest.approx(22.0), (
        f"the preempted job finished at {row['finish_s']} s: it waited in the queue from t=15 s "
        "although vehicle 1 had a free slot all along")


def test_arrivals_are_not_held_behind_a_requeued_job():
    """Interactive job 0 is preempted at t = 15 while car 1 idles; job 1 arrives at t = 30.
    Both must be served by car 1 at once: job 0 on 15 -> 26 (11 s), job 1 on 30 -> 32 (1 + 1 s)."""
    r = hand_run(
        trips=[[(15.0, 600.0, 5.0, HOME)], []],
        jobs=[job(0, INTERACTIVE_CLASS, 10.0, 1000, 400), job(1, INTERACTIVE_CLASS, 30.0, 1000, 40)],
    )
    j = r.jobs.set_index("job_id")
    assert j.loc[1, "outcome"] == "completed" and j.loc[1, "wait_s"] == 0.0, j.to_dict("index")
    assert j.loc[1, "finish_s"] == pytest.approx(32.0)
    assert j.loc[0, "outcome"] == "completed" and j.loc[0, "finish_s"] == pytest.approx(26.0)


def test_queued_job_drops_exactly_at_its_limit():
    # Car 1 busy 10.5 -> 18.5 with job 1. Job 2 arrives at 11 with max wait 3 s: dropped at 14.
    r = hand_run(
        trips=[[], []],
        jobs=[job(0, INTERACTIVE_CLASS, 10.0, 1000, 400), job(1, INTERACTIVE_CLASS, 10.5, 500, 300),
              job(2, INTERACTIVE_CLASS, 11.0, 100, 10, max_wait_s=3.0)],
    )
    j = r.jobs.set_index("job_id")
    assert j.loc[2, "outcome"] == "dropped"
    assert j.loc[2, "finish_s"] == pytest.approx(14.0, abs=1e-12)
    assert np.isnan(j.loc[2, "start_s"])
    assert r.metric("jobs.dropped") == 1 and r.metric("jobs.completed") == 2


# ====================================================================== job books
def overloaded_overrides() -> dict:
    return {
        "fleet.vehicles": 20,
        "run.days": 0.5,
        "run.seed": 5,
        "workload.interactive.rate_per_s": 2.0,
        "workload.interactive.max_wait_s": 2.0,
        "workload.batch.rate_per_s": 0.5,
        "workload.batch.deadline_s": 900.0,
        "report.figures": False,
    }


BOOK_SCENARIOS = {
    # (a) the built-in scenario, shortened
    "default": {"run.days": 0.5, "report.figures": False},
    # (b) overloaded: 20 cars, small waits, most jobs dropped
    "overloaded": overloaded_overrides(),
    # (c) mobility with heavy batch work, so departures preempt many jobs
    "mobility": {"fleet.vehicles": 300, "run.days": 1.0, "run.seed": 3, "report.figures": False},
}


@pytest.fixture(scope="module")
def book_runs(tmp_path_factory):
    out = {}
    for name, ov in BOOK_SCENARIOS.items():
        r = run(default_scenario().with_overrides(ov))
        folder = write_results(r, tmp_path_factory.mktemp(name) / "results")
        out[name] = (r, pd.read_csv(folder / JOBS))
    return out


@pytest.mark.parametrize("name", sorted(BOOK_SCENARIOS))
def test_job_books_balance_in_summary_and_counters(name, book_runs):
    r, _ = book_runs[name]
    s = r.summary["jobs"]
    assert s["arrived"] > 1000
    assert s["arrived"] == s["completed"] + s["dropped"] + s["queued_at_end"] + s["running_at_end"]
    assert r.metric("checks.job_balance_residual") == 0
    # the per-interval event counters add up to the same totals
    ts = r.timeseries
    assert ts["jobs_arrived"].sum() == s["arrived"]
    assert ts["jobs_completed"].sum() == s["completed"]
    assert ts["jobs_dropped"].sum() == s["dropped"]
    assert ts["jobs_preempted"].sum() == s["preempted"]
    # a job starts once, plus once more per preemption; the ones never started are dropped or queued
    never_started = s["arrived"] - (ts["jobs_started"].sum() - s["preempted"])
    assert 0 <= never_started <= s["dropped"] + s["queued_at_end"]
    if name == "overloaded":
        assert s["dropped"] > 0.3 * s["arrived"]
    if name == "mobility":
        assert s["preempted"] > 100


@pytest.mark.parametrize("name", sorted(BOOK_SCENARIOS))
def test_job_books_recomputed_from_jobs_csv(name, book_runs):
    """jobs.csv has one row per arrived job, and its outcomes add up to the summary's books."""
    r, jobs = book_runs[name]
    s = r.summary["jobs"]
    outcomes = jobs["outcome"].value_counts().to_dict()
    assert outcomes.get("completed", 0) == s["completed"]
    assert outcomes.get("dropped", 0) == s["dropped"]
    assert outcomes.get("queued", 0) == s["queued_at_end"]
    assert outcomes.get("running", 0) == s["running_at_end"], (
        f"jobs.csv has {outcomes.get('running', 0)} 'running' rows but summary says "
        f"running_at_end = {s['running_at_end']}: jobs running at the end are not recorded")
    assert len(jobs) == s["arrived"]
    assert sorted(jobs["job_id"]) == list(range(s["arrived"]))


# ====================================================================== drops
@pytest.mark.parametrize(
    "ov",
    [
        # 10 single-slot servers, lambda = 3 c mu: two thirds of the jobs must be dropped
        mmc_overrides(10, 30.0, 0.02, 41, "least_loaded", max_wait_s=0.5),
        # token-rate service on 5 hw4 cars (4 slots) with interactive and batch overload
        {"fleet.vehicles": 5, "fleet.mobility": False, "fleet.opt_in_share": 1.0, "run.days": 0.1,
         "fleet.network.enabled": False,
         "run.seed": 42, "workload.interactive.rate_per_s": 5.0, "workload.interactive.max_wait_s": 3.0,
         "workload.batch.rate_per_s": 0.2, "workload.batch.deadline_s": 120.0, "report.figures": False},
    ],
    ids=["mmc", "tokens"],
)
def test_dropped_jobs_waited_exactly_their_limit(ov):
    r = run(default_scenario().with_overrides(ov))
    sc = r.scenario
    j = r.jobs
    limit = np.where(j["job_class"] == "batch", sc["workload.batch.deadline_s"],
                     sc["workload.interactive.max_wait_s"])
    dropped = (j["outcome"] == "dropped").to_numpy()
    assert dropped.sum() > 0.2 * len(j)
    assert (j["preemptions"] == 0).all()  # no mobility: nothing is preempted
    waited = (j["finish_s"] - j["arrival_s"]).to_numpy()
    np.testing.assert_allclose(waited[dropped], limit[dropped], rtol=0, atol=1e-9)
    assert j.loc[dropped, "start_s"].isna().all()
    done = (j["outcome"] == "completed").to_numpy()
    assert (j["wait_s"].to_numpy()[done] <= limit[done] + 1e-9).all()
    # jobs still queued at the end arrived less than their limit before the end
    queued = (j["outcome"] == "queued").to_numpy()
    assert (r.metric("run.simulated_s") - j["arrival_s"].to_numpy()[queued] < limit[queued]).all()


# ====================================================================== preemption in a run
@pytest.fixture(scope="module")
def mobility_run(book_runs):
    return book_runs["mobility"][0]


def test_preemption_counts_agree(mobility_run):
    r = mobility_run
    j = r.jobs
    s = r.summary["jobs"]
    assert s["preempted"] > 100
    assert sum(s["preempted_by_cause"].values()) == s["preempted"]
    assert set(s["preempted_by_cause"]) <= {"departure", "reserve", "outage"}
    assert r.vehicles["preemptions"].sum() == s["preempted"]
    assert j["preemptions"].sum() == s["preempted"]


def test_preempted_jobs_are_requeued_not_lost(mobility_run):
    r = mobility_run
    j = r.jobs
    p = j[j["preemptions"] > 0]
    assert len(p) > 100
    assert set(p["outcome"]) <= {"completed", "dropped", "queued", "running"}
    # almost every preempted job came back and finished (the fleet is far from saturated)
    assert (p["outcome"] == "completed").mean() > 0.9
    # the first rule of the fleet: inference never delays a trip
    assert r.metric("fleet.trips_impacted") == 0


def test_preempted_jobs_latency_and_waste_bounds(mobility_run):
    j = mobility_run.jobs
    p = j[(j["preemptions"] > 0)]
    full = p["prompt_tokens"] / HW4.prefill_tokens_per_s + p["output_tokens"] / HW4.decode_tokens_per_s
    done = p["outcome"] == "completed"
    # whatever the preemptions, a completed job got at least one full service's worth of time
    assert (p.loc[done, "latency_s"] >= full[done] - 1e-6).all()
    batch = p["job_class"] == "batch"
    assert batch.sum() > 50
    # batch: only the prompt is redone per preemption (decoded tokens are kept)
    assert (p.loc[batch, "wasted_tokens"] <= p.loc[batch, "preemptions"] * p.loc[batch, "prompt_tokens"]).all()
    # interactive: at most the whole request per preemption
    inter = ~batch
    assert (p.loc[inter, "wasted_tokens"]
            <= p.loc[inter, "preemptions"] * (p.loc[inter, "prompt_tokens"] + p.loc[inter, "output_tokens"])).all()
    # Tokens are wasted in whole units: a preemption less than 1 ms after a start (prefill at
    # 1,000 tok/s) wastes none. That happens by chance (once in ~650 preemptions with this seed),
    # so only the share is bounded here; exact amounts are checked on the hand-built fleet above.
    assert (p["wasted_tokens"] > 0).mean() > 0.95
    assert mobility_run.metric("tokens.wasted") == int(j["wasted_tokens"].sum())


# ====================================================================== policies
def test_builtin_policies_registered():
    names = policy_names()
    assert {"random", "round_robin", "least_loaded"} <= set(names)
    assert names == sorted(names)
    for n in ("random", "round_robin", "least_loaded"):
        cls = policy_class(n)
        assert issubclass(cls, DispatchPolicy) and cls.name == n


class CheckingLeastLoaded(LeastLoadedPolicy):
    """least_loaded that checks every decision against a scan of the whole fleet (test only)."""

    fleet: list = []

    def __init__(self, view, rng, **params) -> None:
        super().__init__(view, rng, **params)
        self.violations: list[str] = []
        self.chosen_busy: Counter = Counter()

    def select(self, job):
        v = super().select(job)
        free = [u for u in self.fleet if u.free_slots > 0]
        for u in self.fleet:  # the index must hold exactly the cars with a free slot, by busy count
            want = u.busy if u.free_slots > 0 else -1
            if u.bucket != want:
                self.violations.append(f"t={self.view.now_s}: vehicle {u.vid} in bucket {u.bucket}, want {want}")
        if not free:
            if v is not None:
                self.violations.append(f"t={self.view.now_s}: chose {v.vid} with no free slot anywhere")
        elif v is None:
            self.violations.append(f"t={self.view.now_s}: returned None with {len(free)} free cars")
        else:
            least = min(u.busy for u in free)
            if v.free_slots <= 0 or v.busy != least:
                self.violations.append(f"t={self.view.now_s}: chose busy={v.busy} (free={v.free_slots}), "
                                       f"least busy with a free slot is {least}")
            self.chosen_busy[v.busy] += 1
        return v


def test_least_loaded_always_picks_a_least_busy_vehicle_with_a_free_slot():
    sc = default_scenario().with_overrides({
        "fleet.vehicles": 100,
        "run.days": 0.25,
        "run.start": "2022-06-06T07:00:00 America/Los_Angeles",  # morning commute: departures
        "run.seed": 8,
        "workload.interactive.rate_per_s": 1.0,
        "workload.batch.rate_per_s": 0.2,
        "dispatch.policy": f"{__name__}:CheckingLeastLoaded",
        "report.figures": False,
    })
    sim = Simulation(sc)
    policy = sim.dispatcher.policy
    assert isinstance(policy, CheckingLeastLoaded)
    policy.fleet = sim.vehicles
    r = sim.run()
    assert policy.violations == [], policy.violations[:5]
    # the check was exercised: many decisions, onto cars at several load levels, with departures
    assert sum(policy.chosen_busy.values()) > 5000
    assert len([b for b, n in policy.chosen_busy.items() if n >= 20]) >= 3, policy.chosen_busy
    assert r.metric("jobs.preempted") > 0


def test_round_robin_cycles_through_all_vehicles_at_low_load():
    """Identical single-slot cars, every job the same size, no queueing: the rotation visits every
    car once per round, in the order the cars joined it (all at t = 0, by id).

    Equal service times make cars free up in the order they were served, so the rotation order
    never changes. (With random service times a car that finishes early overtakes one that
    finished later, which is correct round robin too: the replay test below covers that case.)
    """
    c, days = 10, 0.05
    r = run(default_scenario().with_overrides({
        "fleet.vehicles": c, "fleet.mobility": False, "fleet.opt_in_share": 1.0, "fleet.chip.slots": 1,
        "fleet.network.enabled": False,
        "workload.interactive.rate_per_s": 0.0,
        # batch units of 1 prompt + 1 output token: 1/1000 + 1/40 = 0.026 s each, at 0.5/s;
        # a car is busy at its next turn only if 9 arrivals fall within 0.026 s: never
        "workload.batch.rate_per_s": 0.5, "workload.batch.prompt_tokens": 1,
        "workload.batch.output_tokens": 1,
        "run.days": days, "run.seed": 51, "dispatch.policy": "round_robin", "report.figures": False,
    }))
    j = r.jobs.sort_values("arrival_s", kind="stable")
    j = j[j["arrival_s"] < days * DAY_S - 60.0]  # all of these completed
    assert (j["outcome"] == "completed").all()
    assert (j["wait_s"] == 0).all()  # no queueing
    assert np.allclose(j["latency_s"], HW4.service_s(1, 1))
    ids = j["vehicle_id"].to_numpy()
    assert len(ids) > 1500
    for k in range(len(ids) - c + 1):  # every vehicle before any repeats
        assert len(set(ids[k:k + c])) == c, (k, ids[k:k + c])
    assert (ids == np.arange(len(ids)) % c).all()


def test_round_robin_serves_the_vehicle_free_longest():
    """At moderate load (rho = 0.6, some queueing), each job goes to the car that has had a free
    slot for longest: replayed from the jobs' start and finish times (single-slot cars)."""
    c, days = 6, 0.1
    r = run(default_scenario().with_overrides(mmc_overrides(c, 0.6 * c, days, 52, "round_robin")))
    t_cut = days * DAY_S - 600.0  # jobs starting before this all finished, so all are in jobs
    j = r.jobs[r.jobs["start_s"] < t_cut]
    events = sorted(
        [(f, 0, int(v)) for f, v in zip(j["finish_s"], j["vehicle_id"])]  # 0: frees first at a tie
        + [(s, 1, int(v)) for s, v in zip(j["start_s"], j["vehicle_id"])]
    )
    free_since = {v: 0.0 for v in range(c)}
    checked = 0
    for t, kind, v in events:
        if t >= t_cut:
            break
        if kind == 0:
            free_since[v] = t
            continue
        assert v in free_since, f"t={t}: job started on busy vehicle {v}"
        assert free_since[v] == min(free_since.values()), (t, v, free_since)
        del free_since[v]
        checked += 1
    assert checked > 10000
    assert (r.jobs["wait_s"] > 0).sum() > 1000  # queueing happened


def test_random_policy_spreads_jobs_uniformly():
    c = 20
    # rho = 0.01: nearly every car is free at every decision; by symmetry each car's expected
    # share is exactly 1/c either way
    r = run(default_scenario().with_overrides(mmc_overrides(c, 0.2, 0.5, 61, "random")))
    counts = np.bincount(r.jobs["vehicle_id"].to_numpy(), minlength=c)
    n = counts.sum()
    assert n > 8000
    expected = n / c
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    lo, hi = chi2_bounds(c - 1)
    # too small would mean a deterministic rotation, too large a bias
    assert lo < chi2 < hi, (chi2, lo, hi, counts)


class EchoPolicy(DispatchPolicy):
    """A user policy: least-loaded, counting its calls, with one parameter."""

    name = "echo_test"

    def __init__(self, view, rng, mark: int = 0, **params) -> None:
        super().__init__(view, rng, **params)
        self.mark = mark
        self.calls = 0

    def select(self, job):
        self.calls += 1
        return self.view.least_loaded(self.rng)


class NotAPolicy:
    pass


def test_user_policy_by_module_and_class():
    sc = default_scenario().with_overrides({
        **mmc_overrides(5, 1.0, 0.02, 71, f"{__name__}:EchoPolicy"),
        "dispatch.params": {"mark": 7},
    })
    sim = Simulation(sc)
    policy = sim.dispatcher.policy
    assert type(policy) is EchoPolicy and policy.mark == 7
    r = sim.run()
    assert policy.calls == r.metric("jobs.dispatch_decisions") > 1000
    assert r.metric("jobs.completed") > 1000
    assert "echo_test" not in policy_names()  # loading by path does not register


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("least_load", "did you mean 'least_loaded'"),
        ("roundrobin", "did you mean 'round_robin'"),
        ("no_such_policy_xyz", "allowed: "),
        ("no_such_module_xyz:Policy", "cannot import module 'no_such_module_xyz'"),
        (f"{__name__}:NotAPolicy", "not a DispatchPolicy subclass"),
        (f"{__name__}:Missing", "not a DispatchPolicy subclass"),
    ],
)
def test_bad_policy_names_give_one_line_scenario_errors(name, fragment):
    with pytest.raises(ScenarioError) as exc:
        policy_class(name)
    assert fragment in str(exc.value)
    assert "\n" not in str(exc.value)
    # and the same error when a scenario names it
    sc = default_scenario().with_overrides({"dispatch.policy": name, "fleet.vehicles": 2, "run.days": 0.01})
    with pytest.raises(ScenarioError, match="dispatch.policy"):
        Simulation(sc)


def test_unknown_policy_parameter_is_a_scenario_error():
    sc = default_scenario().with_overrides({"dispatch.params": {"bogus": 1}, "fleet.vehicles": 2,
                                            "run.days": 0.01})
    with pytest.raises(ScenarioError, match=r"dispatch\.params\.bogus"):
        Simulation(sc)


# ====================================================================== FreeSlotIndex
class FakeVehicle:
    """The attributes FreeSlotIndex and the policies' view use."""

    def __init__(self, vid: int, slots: int) -> None:
        self.vid = vid
        self.slots = slots
        self.busy = 0
        self.online = True
        self.bucket = -1
        self.bucket_pos = -1

    @property
    def free_slots(self) -> int:
        return self.slots - self.busy if self.online else 0

    def key(self) -> int:
        """What the dispatcher files a car under: busy slots if online with a free slot, else -1."""
        return self.busy if self.free_slots > 0 else -1


def check_index(index: FreeSlotIndex, fleet: list[FakeVehicle]) -> None:
    seen = []
    for k, bucket in enumerate(index.buckets):
        for pos, v in enumerate(bucket):
            assert v.bucket == k and v.bucket_pos == pos
            seen.append(v.vid)
    assert len(seen) == len(set(seen)) == index.size
    assert set(seen) == {v.vid for v in fleet if v.free_slots > 0}
    for v in fleet:
        assert v.bucket == v.key()
        if v.bucket < 0:
            assert v.bucket_pos == -1
    rng = random.Random(0)
    ll = index.least_loaded(rng)
    u = index.uniform(rng)
    free = [v for v in fleet if v.free_slots > 0]
    if not free:
        assert ll is None and u is None
    else:
        assert ll.busy == min(v.busy for v in free) and ll.free_slots > 0
        assert u in free


OPS = st.lists(st.tuples(st.sampled_from(["start", "end", "toggle", "noop"]), st.integers(0, 7)),
               max_size=200)


@settings(max_examples=200, deadline=None)
@given(slots=st.integers(1, 4), ops=OPS)
def test_free_slot_index_stays_consistent(slots, ops):
    fleet = [FakeVehicle(i, slots) for i in range(8)]
    index = FreeSlotIndex()
    for v in fleet:
        index.update(v, v.key())
    check_index(index, fleet)
    for op, i in ops:
        v = fleet[i]
        if op == "start" and v.free_slots > 0:
            v.busy += 1
        elif op == "end" and v.busy > 0:
            v.busy -= 1
        elif op == "toggle":
            v.online = not v.online
        index.update(v, v.key())
        check_index(index, fleet)


def test_free_slot_index_draws_are_uniform():
    fleet = [FakeVehicle(i, 4) for i in range(8)]
    index = FreeSlotIndex()
    for v in fleet[3:]:
        v.busy = 2
    fleet[7].busy = 4  # full: not indexed
    for v in fleet:
        index.update(v, v.key())
    rng = random.Random(1)
    n = 70_000
    lo, hi = chi2_bounds(2)
    ll = Counter(index.least_loaded(rng).vid for _ in range(n))
    assert set(ll) == {0, 1, 2}  # only the idle cars
    chi2 = sum((ll[i] - n / 3) ** 2 / (n / 3) for i in range(3))
    assert chi2 < hi, ll
    un = Counter(index.uniform(rng).vid for _ in range(n))
    assert set(un) == set(range(7))
    lo, hi = chi2_bounds(6)
    chi2 = sum((un[i] - n / 7) ** 2 / (n / 7) for i in range(7))
    assert chi2 < hi, un
