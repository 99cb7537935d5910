"""The SimPy environment fleetsim runs on: SimPy's own, with a leaner loop for ``run(until=t)``.

``simpy.Environment.run`` calls :meth:`~simpy.Environment.step` once per event and stops by
scheduling an urgent sentinel event at ``until``. :meth:`Environment.run_until` does the same
work in one local loop: pop the next event from the same heap, run its callbacks, and crash on
an undefused failed event exactly as ``step`` does. It processes every event scheduled strictly
before ``until_s`` in the same order as SimPy and leaves later ones queued, then sets the clock
to ``until_s``. Processes, timeouts and all other SimPy events work unchanged.
"""
from __future__ import annotations

from heapq import heappop

import simpy
from simpy.core import StopSimulation


class Environment(simpy.Environment):
    """A ``simpy.Environment`` with a fast :meth:`run_until`."""

    def run_until(self, until_s: float) -> None:
        """Process all events scheduled before ``until_s`` (s), then set the clock to ``until_s``."""
        until_s = float(until_s)
        if until_s <= self._now:
            raise ValueError(f"until ({until_s}) must be greater than the current simulation time")
        queue = self._queue
        try:
            while queue and queue[0][0] < until_s:
                self._now, _, _, event = heappop(queue)
                callbacks, event.callbacks = event.callbacks, None
                for callback in callbacks:
                    callback(event)
                if not event._ok and not hasattr(event, "_defused"):
                    exc = type(event._value)(*event._value.args)
                    exc.__cause__ = event._value
                    raise exc
        except StopSimulation:
            return
        self._now = until_s
