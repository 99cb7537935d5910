"""The SimPy environment fleetsim runs on: SimPy's own, with a leaner loop for ``run(until=t)``
and a sorted stream of timed calls merged with the event queue.

``simpy.Environment.run`` calls :meth:`~simpy.Environment.step` once per event and stops by
scheduling an urgent sentinel event at ``until``. :meth:`Environment.run_until` does the same
work in one local loop: pop the next event from the same heap, run its callbacks, and crash on
an undefused failed event exactly as ``step`` does. It processes every event scheduled strictly
before ``until_s`` in the same order as SimPy and leaves later ones queued, then sets the clock
to ``until_s``. Processes, timeouts and all other SimPy events work unchanged.

Workload arrivals are known in advance, one chunk at a time, already sorted: :meth:`feed`
hands such a list of times to the loop, which calls ``fn(i)`` at ``times[i]`` by merging the
list with the heap (an arrival at the same instant as a queued event goes first). This saves a
heap push and pop and an event object per arrival.
"""
from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any

import simpy
from simpy.core import StopSimulation
from simpy.events import NORMAL

from sim.core.timers import TimedCall

_new_call = object.__new__


class Environment(simpy.Environment):
    """A ``simpy.Environment`` with a fast :meth:`run_until` and a fed stream of timed calls."""

    #: current simulation time (s): a plain attribute here, so that the hot path reads it without a
    #: call; simpy's own code reads and writes it as ``_now`` through the property below
    now: float = 0.0

    @property
    def _now(self) -> float:
        return self.now

    @_now.setter
    def _now(self, t_s: float) -> None:
        self.now = t_s

    def __init__(self, initial_time: float = 0) -> None:
        super().__init__(initial_time)
        self._stream: list[float] = []
        self._stream_n = 0  # len(self._stream)
        self._stream_i = 0
        self._stream_fn: Callable[[int], None] | None = None
        self._calls_before = 0  # calls made from the streams fed before the current one

    @property
    def stream_calls(self) -> int:
        """Calls made from fed streams so far."""
        return self._calls_before + self._stream_i

    def call_at(self, t_s: float, callbacks: list, value: Any = None) -> TimedCall:
        """Schedule a :class:`TimedCall` at ``t_s`` (s, not before now) that runs ``callbacks`` with
        ``value`` riding in the event; return it.

        ``Environment.schedule`` with the event built in place: the hot path's one push per job.
        Events of one kind may share one ``callbacks`` list (the loop swaps in ``None``).
        """
        ev = _new_call(TimedCall)  # TimedCall(callbacks, value) without its __init__ frame
        ev.callbacks = callbacks
        ev._ok = True
        ev.value = value
        heappush(self._queue, (t_s, NORMAL, next(self._eid), ev))
        return ev

    def events_scheduled(self) -> int:
        """Events put on the queue so far plus the calls made from fed streams (reading the count
        uses up one event id, so a later reading is one higher)."""
        return next(self._eid) + self.stream_calls

    def feed(self, times: list[float], fn: Callable[[int], None] | None) -> None:
        """From now on, call ``fn(i)`` at ``times[i]`` for each i in order (replaces any earlier feed).

        ``times`` must be sorted and not before the current time; ``fn`` may feed the next list.
        """
        if times and times[0] < self.now:
            raise ValueError(f"fed time {times[0]} is before the current time {self.now}")
        self._calls_before += self._stream_i
        self._stream = times
        self._stream_n = len(times)
        self._stream_i = 0
        self._stream_fn = fn

    def run_until(self, until_s: float) -> None:
        """Process all events and fed calls before ``until_s`` (s), then set the clock to ``until_s``."""
        until_s = float(until_s)
        if until_s <= self.now:
            raise ValueError(f"until ({until_s}) must be greater than the current simulation time")
        queue = self._queue
        try:
            while True:
                i = self._stream_i
                if i < self._stream_n:
                    t = self._stream[i]
                    if t < until_s and (not queue or t <= queue[0][0]):
                        self.now = t
                        self._stream_i = i + 1
                        self._stream_fn(i)
                        continue
                if not queue or queue[0][0] >= until_s:
                    break
                self.now, _, _, event = heappop(queue)
                callbacks, event.callbacks = event.callbacks, None
                for callback in callbacks:
                    callback(event)
                if not event._ok and not hasattr(event, "_defused"):
                    exc = type(event._value)(*event._value.args)
                    exc.__cause__ = event._value
                    raise exc
        except StopSimulation:
            return
        self.now = until_s
