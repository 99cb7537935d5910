"""Scenario parameters declared once, on the spec dataclass that uses them.

A field made with :func:`param` carries its scenario documentation: the text (with its source, or
ASSUMPTION where no public source exists), the unit, the bounds and, for strings, the allowed
choices. The model's schema builds its keys from these fields (``sim.schema.spec_keys``) and one
generic builder makes the spec from a scenario (``sim.scenario.build_spec``), so adding a
parameter means adding one field.
"""
from __future__ import annotations

from dataclasses import MISSING, Field, field
from typing import Any

#: the metadata entry of a parameter field
PARAM = "fleetsim.param"

#: common bounds (keyword arguments of :func:`param`)
SHARE = {"lo": 0.0, "hi": 1.0}
POS = {"lo": 0.0, "lo_open": True}
NONNEG = {"lo": 0.0}
#: an efficiency: no real EV charger or pack is below one half (the least efficient, L1 charging,
#: measures 80-85 %, facts.md §2), and a tiny one would divide energy into infinity
EFFICIENCY = {"lo": 0.5, "hi": 1.0}
EFFICIENCY_FLOOR = "at least 0.5: L1 charging, the least efficient, is 80-85 % (facts.md §2)"
#: a time limit or mean service time, s: one millisecond is below any network round trip, and ~0 s
#: divides by ~0
LIMIT_S = {"lo": 1e-3}
#: a token rate per slot, tokens/s: far below any chip's, and service times (tokens / rate) stay finite
TOKEN_RATE = {"lo": 0.01}
#: a distance, km: trip durations divide it by a speed and must not round to 0 s
DISTANCE_KM = {"lo": 0.1}
#: a battery pack, Wh: every SoC divides by it; 1 kWh is far below any car's (facts.md §2)
PACK_WH = {"lo": 1000.0}


def param(default: Any = MISSING, *, doc: str, kind: str | None = None, lo: float | None = None,
          hi: float | None = None, lo_open: bool = False, hi_open: bool = False,
          choices: tuple[str, ...] | None = None, default_factory: Any = MISSING) -> Any:
    """A dataclass field that is also a scenario key.

    ``doc`` is the key's reference text, with its unit and source; ``kind`` overrides the kind
    read from the field's type (``hours24`` for 24 hourly numbers); ``lo``/``hi`` bound numbers
    (``lo_open``/``hi_open`` exclude the bound); ``choices`` lists the allowed strings.
    """
    meta = {PARAM: {"doc": doc, "kind": kind, "lo": lo, "hi": hi, "lo_open": lo_open, "hi_open": hi_open,
                    "choices": choices}}
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata=meta)
    return field(default=default, metadata=meta)


def param_info(f: Field) -> dict[str, Any] | None:
    """The scenario documentation of a dataclass field made with :func:`param` (None otherwise)."""
    return f.metadata.get(PARAM)
