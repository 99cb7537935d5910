"""Queueing theory checks of the whole simulator: M/M/c (Erlang C), M/M/1, M/M/c+D, Little's law.

With ``fleet.mobility = false`` every car stays at home, plugged in and online, so a fleet of
``c`` identical cars with ``s`` slots each and exponential service is an M/M/(c*s) queue with one
FIFO central queue (any work-conserving policy gives the same queue-length process). The
expected values below come from formulas implemented here, never from a run.

Statistical tolerance. Each check uses one fixed seed. The standard error (SE) of a mean is
estimated by batch means over the run itself: jobs in arrival order (or sample intervals in time
order) are cut into ``N_BATCHES`` consecutive batches, the first batch is discarded as warm-up, and
``SE = std(batch means) / sqrt(batches)``. Each batch holds thousands of jobs, far longer than the
correlation time of the queue (tens of mean service times at these loads), so the batch means are
close to independent. The checks allow ``Z = 4`` SE (a correct simulator fails one with
probability ~1e-4 even with the t-distribution's heavier tails at 39 degrees of freedom) plus a
bias allowance of 1 % of the theoretical value: the queue starts empty, which biases the mean
wait down by about (relaxation time / run length) < 0.5 % here. Typical SEs are 2-4 % of the
mean wait, so a wrong server count (c-1 instead of c), a LIFO or non-work-conserving queue, or
service at the wrong rate misses by many SEs.

Run lengths are chosen so the whole file runs in ~25 s.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from mmc import mmc_overrides

from sim.results import Results
from sim.runner import run
from sim.scenario import default_scenario

Z = 4.0
BIAS = 0.01  # relative warm-up bias allowance (see module docstring)
N_BATCHES = 40
DAY_S = 86400.0


# ---------------------------------------------------------------------------------- theory
def erlang_c(c: int, a: float) -> float:
    """P(wait > 0) in M/M/c with offered load ``a = lambda/mu`` (< c), from the textbook sum.

    C = [a^c/c! * c/(c-a)] / [sum_{k<c} a^k/k! + a^c/c! * c/(c-a)], in log space so that large
    ``c`` does not overflow.
    """
    if not 0 <= a < c:
        raise ValueError("need 0 <= a < c")
    if a == 0:
        return 0.0
    logs = [k * math.log(a) - math.lgamma(k + 1) for k in range(c)]
    top = c * math.log(a) - math.lgamma(c + 1) + math.log(c / (c - a))
    m = max(logs + [top])
    s = sum(math.exp(x - m) for x in logs)
    t = math.exp(top - m)
    return t / (s + t)


def erlang_c_via_b(c: int, a: float) -> float:
    """Erlang C from the Erlang B recursion (an independent second implementation)."""
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return c * b / (c - a * (1.0 - b))


def mmc_mean_wait(c: int, lam: float, mu: float) -> float:
    """Mean time in queue W_q = C(c, a) / (c*mu - lambda)."""
    return erlang_c(c, lam / mu) / (c * mu - lam)


def mmc_deterministic_patience(c: int, lam: float, mu: float, tau: float) -> dict[str, float]:
    """M/M/c+D: FIFO, every job leaves if it has not started ``tau`` after arrival.

    Level crossing on the offered (virtual) wait V seen by an arrival (PASTA): for fewer than
    c busy servers, pi_j = pi_0 a^j / j!; V has density f(x) = lam pi_{c-1} exp(-(c mu - lam) x)
    on (0, tau) (upcrossings by arrivals that join, each adding Exp(c mu), against the unit
    downward drift) and f(x) = f(tau) exp(-c mu (x - tau)) beyond tau (arrivals that see V >= tau
    will leave and add no work). An arrival is dropped iff V >= tau and waits V otherwise.
    Returns P(drop), P(wait > 0), and the mean wait of served jobs.
    """
    a = lam / mu
    theta = c * mu - lam
    x = np.linspace(0.0, tau, 200_001)
    dens = np.exp(-theta * x)  # f(x) / (lam pi_{c-1}) on [0, tau]
    w = np.full_like(x, x[1] - x[0])
    w[0] = w[-1] = w[0] / 2  # trapezoid weights
    k_in = float((w * dens).sum())
    k_tail = math.exp(-theta * tau) / (c * mu)
    head = sum(a**j / math.factorial(j) for j in range(c))
    pi_cm1_over_pi0 = a ** (c - 1) / math.factorial(c - 1)
    pi0 = 1.0 / (head + lam * pi_cm1_over_pi0 * (k_in + k_tail))
    scale = lam * pi0 * pi_cm1_over_pi0
    p_drop = scale * k_tail
    p_wait = scale * (k_in + k_tail)
    mean_wait_served = scale * float((w * x * dens).sum()) / (1.0 - p_drop)
    return {"p_drop": p_drop, "p_wait": p_wait, "mean_wait_served": mean_wait_served}


# ---------------------------------------------------------------------------------- runs



@functools.lru_cache(maxsize=None)
def mmc_run(vehicles: int, slots: int, rho: float, days: float, seed: int,
            policy: str = "least_loaded") -> Results:
    """M/M/(vehicles*slots) at utilization ``rho`` with mean service 1 s."""
    lam = rho * vehicles * slots / 1.0
    return run(default_scenario().with_overrides(mmc_overrides(
        vehicles, lam, days, seed, policy, slots=slots, sample_interval_s=days * DAY_S / N_BATCHES)))


# (vehicles, slots, rho, days, seed, policy): one config per dispatch path. With one slot per
# car every policy is a FIFO M/M/c; with 4 slots least_loaded exercises multi-slot buckets.
MMC_CASES = {
    "least_loaded-10x1": (10, 1, 0.75, 0.4, 11, "least_loaded"),
    "least_loaded-3x4": (3, 4, 0.75, 0.3, 12, "least_loaded"),
    "random-10x1": (10, 1, 0.75, 0.15, 13, "random"),
    "round_robin-10x1": (10, 1, 0.75, 0.15, 14, "round_robin"),
}


def batch_se(values: np.ndarray, n_batches: int = N_BATCHES) -> tuple[float, float]:
    """(mean, SE) by batch means; the first batch is dropped as warm-up."""
    batches = np.array_split(np.asarray(values, dtype=float), n_batches)[1:]
    means = np.array([b.mean() for b in batches])
    return float(means.mean()), float(means.std(ddof=1) / math.sqrt(len(means)))


def completed_in_arrival_order(r: Results):
    j = r.jobs
    return j[j["outcome"] == "completed"].sort_values("arrival_s", kind="stable")


def interval_durations(ts) -> np.ndarray:
    t1 = ts["t_s"].to_numpy()
    return np.diff(np.concatenate([[0.0], t1]))


# ---------------------------------------------------------------------------------- formula self-checks
def test_erlang_c_implementations_agree_with_closed_forms():
    # c = 1: C = rho. c = 2: C = a^2 / (2 + a) (hand algebra from the definition).
    for a in (0.1, 0.5, 0.9):
        assert erlang_c(1, a) == pytest.approx(a, rel=1e-12)
    for a in (0.3, 1.0, 1.7):
        assert erlang_c(2, a) == pytest.approx(a * a / (2 + a), rel=1e-12)
    for c, a in ((10, 7.5), (20, 17.0), (100, 95.0), (12, 9.0)):
        assert erlang_c(c, a) == pytest.approx(erlang_c_via_b(c, a), rel=1e-10)


def test_deterministic_patience_formula_limits():
    # tau -> infinity: no drops and Erlang C; M/M/1+D has P(drop) in closed form.
    big = mmc_deterministic_patience(10, 7.5, 1.0, 40.0)
    assert big["p_drop"] < 1e-12
    assert big["p_wait"] == pytest.approx(erlang_c(10, 7.5), rel=1e-6)
    assert big["mean_wait_served"] == pytest.approx(mmc_mean_wait(10, 7.5, 1.0), rel=1e-6)
    # M/M/1+D by hand: with e = exp(-(mu - lam) tau), normalisation gives
    # pi_0 = (1 - rho) / (1 - rho^2 e) and P(drop) = rho pi_0 e (rho = lam/mu, here overloaded).
    lam, mu, tau = 2.0, 1.0, 0.7
    rho, e = lam / mu, math.exp(-(mu - lam) * tau)
    expected = rho * (1 - rho) * e / (1 - rho * rho * e)
    assert mmc_deterministic_patience(1, lam, mu, tau)["p_drop"] == pytest.approx(expected, rel=1e-8)


# ---------------------------------------------------------------------------------- M/M/c
@pytest.mark.parametrize("case", sorted(MMC_CASES))
def test_mmc_mean_wait_and_wait_probability_match_erlang_c(case):
    vehicles, slots, rho, days, seed, policy = MMC_CASES[case]
    r = mmc_run(vehicles, slots, rho, days, seed, policy)
    c = vehicles * slots
    lam = rho * c
    done = completed_in_arrival_order(r)
    assert len(done) > 0.95 * lam * days * DAY_S  # the arrival rate is right to ~1 %
    wait = done["wait_s"].to_numpy()
    wq_theory = mmc_mean_wait(c, lam, 1.0)
    wq, se = batch_se(wait)
    assert abs(wq - wq_theory) <= Z * se + BIAS * wq_theory, (case, wq, wq_theory, se)
    # the summary's mean wait is the same statistic
    assert r.metric("jobs.wait_s.mean") == pytest.approx(wait.mean(), rel=1e-12)
    p_theory = erlang_c(c, lam)
    p, se_p = batch_se(wait > 0)
    assert abs(p - p_theory) <= Z * se_p + BIAS * p_theory, (case, p, p_theory, se_p)


@pytest.mark.parametrize("case", sorted(MMC_CASES))
def test_mmc_utilization_matches_offered_load(case):
    vehicles, slots, rho, days, seed, policy = MMC_CASES[case]
    r = mmc_run(vehicles, slots, rho, days, seed, policy)
    ts = r.timeseries
    # Every car is online the whole run, so utilization = busy slot-seconds / (c * T).
    util = r.metric("utilization.mean")
    _, se = batch_se(ts["utilization"].to_numpy()[:-1], N_BATCHES - 1)
    assert abs(util - rho) <= Z * se + 0.002, (case, util, rho, se)
    # the mean state shares agree: c cars, all available or serving
    share = r.metric("fleet.mean_state_share")
    assert share["available"] + share["serving"] == pytest.approx(1.0, abs=1e-9)
    assert share["driving"] == 0.0 and share["parked"] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("case", sorted(MMC_CASES))
def test_little_law_for_the_queue(case):
    vehicles, slots, rho, days, seed, policy = MMC_CASES[case]
    r = mmc_run(vehicles, slots, rho, days, seed, policy)
    ts = r.timeseries
    dur = interval_durations(ts)
    q = ts["queue_interactive"].to_numpy()
    t_end = ts["t_s"].to_numpy()
    # (1) Sample-path identity, exact up to rounding: the queue-length integral over [0, t0]
    # equals the total time jobs spent queued within [0, t0]. t0 is an interval end an hour before
    # the horizon, so every job queued before t0 has started by the end (service ~ Exp(1 s)).
    k = int(np.searchsorted(t_end, t_end[-1] - 3600.0, side="right"))
    t0 = float(t_end[k - 1])
    area = float((q[:k] * dur[:k]).sum())
    j = r.jobs
    left_queue = np.where(j["start_s"].notna(), j["start_s"], j["finish_s"]).astype(float)
    left_queue = np.where(np.isnan(left_queue), np.inf, left_queue)  # still queued at the end
    queued_time = np.clip(np.minimum(left_queue, t0) - j["arrival_s"].to_numpy(), 0.0, None).sum()
    assert area == pytest.approx(queued_time, rel=1e-9, abs=1e-6)
    # (2) Against theory: time-averaged queue L_q = lambda * W_q.
    c = vehicles * slots
    lam = rho * c
    lq_theory = lam * mmc_mean_wait(c, lam, 1.0)
    lq = float((q * dur).sum() / dur.sum())
    _, se = batch_se(q[:-1], N_BATCHES - 1)  # equal-length intervals (the last may be shorter)
    assert abs(lq - lq_theory) <= Z * se + BIAS * lq_theory, (case, lq, lq_theory, se)


@pytest.mark.parametrize("case", sorted(MMC_CASES))
def test_central_queue_is_fifo(case):
    r = mmc_run(*MMC_CASES[case])
    started = r.jobs[r.jobs["start_s"].notna()].sort_values("arrival_s", kind="stable")
    start = started["start_s"].to_numpy()
    # FIFO with identical servers: jobs start in arrival order.
    assert np.all(np.diff(start) >= 0.0)
    # and no job waits while a server idles: a job that waited started at some job's finish
    waited = started[started["wait_s"] > 0]
    finishes = np.sort(r.jobs["finish_s"].dropna().to_numpy())
    pos = np.searchsorted(finishes, waited["start_s"].to_numpy())
    assert np.all(finishes[np.minimum(pos, len(finishes) - 1)] == waited["start_s"].to_numpy())


# ---------------------------------------------------------------------------------- M/M/1
def test_mm1_mean_wait():
    rho, mean_s = 0.5, 2.0
    lam, mu = rho / mean_s, 1.0 / mean_s
    days = 2.0  # ~86k jobs
    r = run(default_scenario().with_overrides(mmc_overrides(
        1, lam, days, seed=21, mean_service_s=mean_s, sample_interval_s=days * DAY_S / N_BATCHES)))
    done = completed_in_arrival_order(r)
    wait = done["wait_s"].to_numpy()
    wq_theory = rho / (mu - lam)  # = 2 s
    wq, se = batch_se(wait)
    assert abs(wq - wq_theory) <= Z * se + BIAS * wq_theory, (wq, wq_theory, se)
    p, se_p = batch_se(wait > 0)
    assert abs(p - rho) <= Z * se_p + BIAS * rho, (p, rho, se_p)
    # mean time in system W = 1/(mu - lambda)
    w, se_w = batch_se(done["latency_s"].to_numpy())
    assert abs(w - 1.0 / (mu - lam)) <= Z * se_w + BIAS / (mu - lam), (w, se_w)
    assert abs(r.metric("utilization.mean") - rho) <= 0.02


# ---------------------------------------------------------------------------------- M/M/c+D
@pytest.mark.parametrize(
    "c, rho, tau, days, seed",
    [
        (10, 3.0, 0.5, 0.02, 31),  # heavy overload: two thirds of the jobs must be dropped
        (10, 0.95, 0.3, 0.1, 32),  # near saturation: a few percent dropped
    ],
)
def test_mmc_with_deterministic_patience_drop_rate(c, rho, tau, days, seed):
    lam = rho * c
    r = run(default_scenario().with_overrides(
        mmc_overrides(c, lam, days, seed, max_wait_s=tau, sample_interval_s=days * DAY_S / N_BATCHES)))
    th = mmc_deterministic_patience(c, lam, 1.0, tau)
    j = r.jobs[r.jobs["outcome"].isin(["completed", "dropped"])].sort_values("arrival_s", kind="stable")
    dropped = (j["outcome"] == "dropped").to_numpy()
    p, se = batch_se(dropped)
    assert abs(p - th["p_drop"]) <= Z * se + BIAS * th["p_drop"], (p, th, se)
    waited = (j["wait_s"].fillna(np.inf) > 0).to_numpy()  # dropped jobs waited too
    pw, se_w = batch_se(waited)
    assert abs(pw - th["p_wait"]) <= Z * se_w + BIAS * th["p_wait"], (pw, th, se_w)
    served = j[~dropped]
    m, se_m = batch_se(served["wait_s"].to_numpy())
    assert abs(m - th["mean_wait_served"]) <= Z * se_m + BIAS * th["mean_wait_served"], (m, th, se_m)
