"""The lean run loop processes the same events in the same order as SimPy's own ``run``."""
from __future__ import annotations

import random

import pytest
import simpy

from sim.engine import Environment


def _trace(env_cls, until_s: float, use_fast: bool) -> list[tuple[float, int, int]]:
    env = env_cls()
    rng = random.Random(3)
    log: list[tuple[float, int, int]] = []

    def worker(k: int):
        for step in range(40):
            yield env.timeout(rng.choice((0.0, 0.5, 1.0, rng.random() * 3)))
            log.append((env.now, k, step))

    for k in range(25):
        env.process(worker(k))
    if use_fast:
        env.run_until(until_s)
    else:
        env.run(until=until_s)
    log.append((env.now, -1, -1))
    return log


def test_same_events_same_order_as_simpy() -> None:
    reference = _trace(simpy.Environment, 17.5, use_fast=False)
    assert len(reference) > 200
    assert _trace(Environment, 17.5, use_fast=True) == reference


def test_stops_before_events_at_until_and_sets_the_clock() -> None:
    env = Environment()
    fired: list[float] = []
    for t in (1.0, 2.0, 2.0, 3.0):
        env.timeout(t).callbacks.append(lambda ev: fired.append(env.now))
    env.run_until(2.0)
    assert fired == [1.0] and env.now == 2.0
    env.run_until(5.0)
    assert fired == [1.0, 2.0, 2.0, 3.0] and env.now == 5.0


def test_an_undefused_failure_crashes_the_run() -> None:
    env = Environment()

    def failing():
        yield env.timeout(1.0)
        raise KeyError("boom")

    env.process(failing())
    with pytest.raises(KeyError):
        env.run_until(10.0)


def test_until_must_be_in_the_future() -> None:
    env = Environment()
    with pytest.raises(ValueError, match="greater than the current simulation time"):
        env.run_until(0.0)
