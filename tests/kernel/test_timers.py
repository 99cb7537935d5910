"""TimedCall behaves like a SimPy Timeout with one callback, in time and in tie order."""
import pytest
import simpy

from sim.core.timers import call_later


def test_calls_fire_in_time_order_and_ties_in_scheduling_order():
    env = simpy.Environment()
    seen = []
    for delay, tag in ((5.0, "a"), (1.0, "b"), (5.0, "c"), (0.0, "d")):
        call_later(env, delay, lambda ev: seen.append((env.now, ev.value)), tag)
    env.timeout(5.0).callbacks.append(lambda ev: seen.append((env.now, "timeout")))
    env.run()
    assert seen == [(0.0, "d"), (1.0, "b"), (5.0, "a"), (5.0, "c"), (5.0, "timeout")]


def test_interleaves_with_processes_and_run_until():
    env = simpy.Environment()
    seen = []

    def proc():
        yield env.timeout(2.0)
        seen.append(("proc", env.now))

    env.process(proc())
    call_later(env, 1.0, lambda ev: seen.append(("call", env.now)))
    call_later(env, 3.0, lambda ev: seen.append(("late", env.now)))
    env.run(until=3.0)  # like any event at the horizon, the late call is not processed
    assert seen == [("call", 1.0), ("proc", 2.0)]


def test_negative_delay_is_rejected():
    with pytest.raises(ValueError):
        call_later(simpy.Environment(), -1.0, lambda ev: None)
