"""The kernel's public fast calls: the engine's timed calls and event count, the recorder's
combined updates, each against a hand computation or the plain call it replaces."""
from __future__ import annotations

import pytest
import simpy

from sim.core.engine import Environment
from sim.core.recorder import Recorder


def test_call_at_runs_in_time_order_and_after_earlier_events_at_the_same_instant():
    env = Environment()
    seen = []
    callbacks = [lambda ev: seen.append((env.now, ev.value))]  # one list shared by every call
    simpy.events.Timeout(env, 2.0).callbacks.append(lambda ev: seen.append((env.now, "timeout")))
    env.call_at(3.0, callbacks, "c")
    env.call_at(2.0, callbacks, "b")  # same instant as the timeout, scheduled after it
    first = env.call_at(1.0, callbacks, "a")
    env.run_until(10.0)
    assert seen == [(1.0, "a"), (2.0, "timeout"), (2.0, "b"), (3.0, "c")]
    assert first.value == "a" and first.callbacks is None  # processed: the loop took its callbacks
    assert env.now == 10.0


def test_events_scheduled_counts_every_event_and_fed_call():
    env = Environment()
    for t in (1.0, 2.0, 3.0):
        env.call_at(t, [lambda ev: None])
    calls = []
    env.feed([0.5, 1.5], calls.append)
    env.run_until(5.0)
    assert calls == [0, 1]
    assert env.events_scheduled() == 3 + 2  # three timed calls and two fed calls


def test_simpy_own_run_still_moves_the_clock():
    """``now`` is a plain attribute; simpy's ``step``/``run`` write it through ``_now``."""
    env = Environment()
    out = []

    def proc():
        yield env.timeout(4.0)
        out.append(env.now)

    env.process(proc())
    env.run(until=10.0)
    assert out == [4.0] and env.now == 10.0 and env._now == 10.0


def _integrals(rec: Recorder, t: float) -> list[float]:
    return rec.close_interval(t)[1]


def test_add_moving_equals_an_add_and_a_move_by_hand():
    """Level 0 (busy slots) changes by 2 at t=3 while one count moves from level 1 to level 2."""
    rec = Recorder(["busy", "available", "serving"], [])
    rec.add(1, 1.0, 0.0)  # one car available from 0
    rec.add_moving(0, 2.0, 1, 2, 1.0, 3.0)
    rec.add_moving(0, -2.0, 2, 2, 1.0, 7.0)  # src == dst: no move
    busy, available, serving = _integrals(rec, 10.0)
    assert busy == pytest.approx(2.0 * (7.0 - 3.0), abs=1e-12)
    assert available == pytest.approx(3.0, abs=1e-12)
    assert serving == pytest.approx(7.0, abs=1e-12)


def test_add_changes_equals_one_add_per_change():
    a = Recorder(["x", "y"], [])
    b = Recorder(["x", "y"], [])
    a.add_changes([(0, 2.5), (1, -1.0)], 4.0)
    b.add(0, 2.5, 4.0)
    b.add(1, -1.0, 4.0)
    assert _integrals(a, 10.0) == _integrals(b, 10.0) == [15.0, -6.0]


def test_count_adds_weighted_events_to_the_interval():
    rec = Recorder(["x"], ["trips"])
    rec.count(0, 2.0)
    rec.count(0)
    assert rec.close_interval(1.0)[2] == [3.0]
    assert rec.close_interval(2.0)[2] == [0.0]
