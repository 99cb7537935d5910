"""The lean run loop processes the same events in the same order as SimPy's own ``run``."""
from __future__ import annotations

import random

import pytest
import simpy

from sim.core.engine import Environment


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


def test_fed_calls_merge_with_the_event_queue_in_time_order():
    """A fed list of times is called in order, interleaved with queued events by time (a fed call
    goes first at an equal time), may feed the next list, and stops before ``until``."""
    env = Environment()
    log: list[tuple[str, float]] = []
    for t in (0.5, 2.0, 3.5, 9.0):
        env.timeout(t).callbacks.append(lambda ev, t=t: log.append(("event", env.now)))
    second = [4.0, 8.0, 12.0]

    def first_fn(i: int) -> None:
        log.append(("fed", env.now))
        if i == 2:
            env.feed(second, second_fn)

    def second_fn(i: int) -> None:
        log.append(("fed2", env.now))

    env.feed([1.0, 2.0, 3.0], first_fn)
    env.run_until(10.0)
    assert log == [("event", 0.5), ("fed", 1.0), ("fed", 2.0), ("event", 2.0), ("fed", 3.0), ("event", 3.5),
                   ("fed2", 4.0), ("fed2", 8.0), ("event", 9.0)]
    assert env.now == 10.0 and env.stream_calls == 5
    env.run_until(13.0)
    assert log[-1] == ("fed2", 12.0) and env.stream_calls == 6


def test_feeding_a_time_in_the_past_is_an_error():
    env = Environment()
    env.run_until(5.0)
    with pytest.raises(ValueError, match="before the current time"):
        env.feed([4.0], lambda i: None)
