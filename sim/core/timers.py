"""Timed callbacks on the SimPy event queue, lighter than ``simpy.Timeout``.

Jobs and thresholds are not processes: they only need "call ``fn`` at time t". A
:class:`TimedCall` is a slotted object carrying exactly what ``simpy.Environment.step`` reads
from an event (``callbacks`` and ``_ok``; ``_value`` only of a failed event, which a TimedCall
never is) plus the ``value`` it carries, and is put on the queue with the public
``Environment.schedule``. It must never be yielded by a process; use ``simpy.Timeout`` there.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from simpy.events import NORMAL


class TimedCall:
    """A one-shot callback scheduled on a SimPy environment; ``value`` rides along.

    The event loop only reads ``callbacks`` (it swaps in ``None``), so events of one kind may
    share one list.
    """

    __slots__ = ("callbacks", "_ok", "value")

    def __init__(self, callbacks: list, value: Any) -> None:
        self.callbacks = callbacks
        self._ok = True
        self.value = value  # what was passed as ``value`` when scheduling


def call_later(env, delay_s: float, fn: Callable[[TimedCall], None], value: Any = None) -> TimedCall:
    """Call ``fn(event)`` after ``delay_s`` simulated seconds (>= 0); return the event."""
    if delay_s < 0:
        raise ValueError(f"delay_s {delay_s} must be >= 0")
    ev = TimedCall([fn], value)
    env.schedule(ev, NORMAL, delay_s)
    return ev
