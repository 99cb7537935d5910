"""Tariff files: read a :class:`~grid.tariff.TouTariff` from TOML or JSON, and write one back.

The file type comes from the suffix (``.toml`` or ``.json``). Keys (any other key is an error)::

    name = "my_tariff"                  # required
    source = "where the numbers come from, and their date"
    fixed_usd_per_day = 0.79343         # optional customer charge, US $/day, 0..100,000 (default 0)

    [[periods]]                         # one or more; every (month, weekday, hour) exactly once
    name = "peak"
    price_usd_per_kwh = 0.53809         # US $/kWh, 0..1,000
    hours = "16-21"                     # required
    weekdays = "all"                    # optional, default "all"
    months = "jun-sep"                  # optional, default "all"

    [[demand_charges]]                  # optional
    name = "maximum_demand"
    usd_per_kw = 20.5                   # US $/kW, 0..10,000
    hours = "all"                       # optional, as are weekdays, months (default "all")
    interval_s = 900                    # optional, seconds >= 1 that divide 3600 (default 900)

Names (of the tariff, periods and charges) are printable text of 1..80 characters.

``hours``, ``weekdays`` and ``months`` take one item or a list of items:

- hours: integers 0..23 (local clock hour) or ranges ``"a-b"`` meaning a:00 up to (not
  including) b:00, with 0 <= a, b <= 24; ``"21-3"`` wraps past midnight; ``"all"``.
- weekdays: integers 0..6 (Monday = 0), names ``"mon"`` .. ``"sun"``, inclusive name ranges such
  as ``"mon-fri"`` (may wrap: ``"fri-mon"``), ``"weekdays"`` (Mon-Fri), ``"weekends"`` (Sat, Sun), ``"all"``.
- months: integers 1..12, names ``"jan"`` .. ``"dec"``, inclusive name ranges such as ``"jun-sep"``
  (may wrap: ``"oct-may"``), ``"all"``.

The path is checked with :func:`sim.core.inputs.check_data_file` first. Every error is one line: a
:class:`sim.core.errors.DataFileError` naming the file, the key (e.g. ``periods[2].hours``), the bad
value (at most 80 characters of it) and what is allowed; a file nested too deeply for the parser or
holding an integer of more than 4,300 digits (Python's limit) is refused in the same way.
"""
from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grid.tariff import (
    ALL_HOURS,
    ALL_MONTHS,
    ALL_WEEKDAYS,
    MAX_DEMAND_USD_PER_KW,
    MAX_FIXED_USD_PER_DAY,
    MAX_PRICE_USD_PER_KWH,
    MIN_INTERVAL_S,
    WEEKDAYS,
    WEEKENDS,
    DemandCharge,
    TouPeriod,
    TouTariff,
)
from sim.core.errors import DataFileError
from sim.core.inputs import QUOTE_CHARS, check_data_file, quote

#: longest tariff or period name (characters)
MAX_NAME_CHARS = 80

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_TOP_KEYS = ("name", "source", "fixed_usd_per_day", "periods", "demand_charges")
_PERIOD_KEYS = ("name", "price_usd_per_kwh", "hours", "weekdays", "months")
_CHARGE_KEYS = ("name", "usd_per_kw", "hours", "weekdays", "months", "interval_s")
_HOURS_ALLOWED = 'integers 0..23, ranges "a-b" (end exclusive, 0..24, e.g. "16-21") or "all"'
_DAYS_ALLOWED = 'integers 0..6 (Monday = 0), "mon".."sun", ranges like "mon-fri", "weekdays", "weekends" or "all"'
_INTERVAL_ALLOWED = f"of seconds >= {MIN_INTERVAL_S:g} that divides 3600 (e.g. 300, 900, 1800, 3600)"
_TOO_DEEP = "nested too deeply for the parser (about 1,000 levels); a tariff file needs 3 levels"
_TOO_LONG = "holds an integer of more than 4,300 digits; allowed: plain numbers such as 0.25"
_MONTHS_ALLOWED = 'integers 1..12, "jan".."dec", ranges like "jun-sep" or "oct-may", or "all"'


class _Bad(Exception):
    """A problem at one key; turned into a DataFileError by :func:`load_tariff`."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")


def load_tariff(path: str | Path, *, key: str = "tariff file") -> TouTariff:
    """Read a tariff from a ``.toml`` or ``.json`` file (format in the module docstring).

    ``key`` names the scenario key (``grid.tariff``, ``fleet.robotaxi.depot.tariff``) in the
    message if the path is not a readable data file.
    """
    p = Path(path)
    raw = _read(p, key)
    try:
        return _tariff(raw)
    except _Bad as exc:
        raise DataFileError(str(p), None, str(exc)) from None
    except RecursionError:
        raise DataFileError(str(p), None, _TOO_DEEP) from None


def tariff_to_dict(tariff: TouTariff) -> dict[str, Any]:
    """The tariff as plain data in the file format, with compact ranges; loads back equal."""
    out: dict[str, Any] = {"name": tariff.name, "source": tariff.source}
    if tariff.fixed_usd_per_day:
        out["fixed_usd_per_day"] = tariff.fixed_usd_per_day
    out["periods"] = [
        {"name": p.name, "price_usd_per_kwh": p.price_usd_per_kwh, **_window_dict(p)} for p in tariff.periods
    ]
    if tariff.demand_charges:
        out["demand_charges"] = [
            {"name": c.name, "usd_per_kw": c.usd_per_kw, **_window_dict(c), "interval_s": c.interval_s}
            for c in tariff.demand_charges
        ]
    return out


def dump_tariff(tariff: TouTariff, path: str | Path) -> None:
    """Write ``tariff`` to a ``.toml`` or ``.json`` file that :func:`load_tariff` reads back equal."""
    p = Path(path)
    data = tariff_to_dict(tariff)
    if p.suffix == ".toml":
        import tomli_w  # local: only needed for writing

        p.write_text(tomli_w.dumps(data))
    elif p.suffix == ".json":
        p.write_text(json.dumps(data, indent=2) + "\n")
    else:
        raise ValueError(f"{p}: file type {p.suffix!r} not supported; allowed: .toml, .json")


# ---- reading ------------------------------------------------------------------------------
def _read(p: Path, key: str) -> dict[str, Any]:
    if p.suffix not in (".toml", ".json"):
        raise DataFileError(str(p), None, f"file type {quote(p.suffix)} not supported; allowed: .toml, .json")
    check_data_file(p, key)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFileError(str(p), None, f"cannot read the tariff file ({exc.__class__.__name__}: "
                            f"{quote(str(exc))})") from None
    kind = "TOML" if p.suffix == ".toml" else "JSON"
    try:
        raw = tomllib.loads(text) if kind == "TOML" else json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataFileError(str(p), exc.lineno, f"not valid JSON: {exc.msg} (column {exc.colno})") from None
    except RecursionError:
        raise DataFileError(str(p), None, f"not valid {kind}: {_TOO_DEEP}") from None
    except ValueError as exc:  # TOMLDecodeError, or an integer beyond Python's 4,300-digit limit
        if "integer string conversion" in str(exc):
            raise DataFileError(str(p), None, f"not valid {kind}: {_TOO_LONG}") from None
        raise DataFileError(str(p), None, f"not valid {kind}: {str(exc)[:2 * QUOTE_CHARS]}") from None
    if not isinstance(raw, dict):
        raise DataFileError(str(p), None, f"top level is {type(raw).__name__}; must be an object of tariff keys")
    return raw


def _tariff(raw: dict[str, Any]) -> TouTariff:
    _no_unknown_keys("", raw, _TOP_KEYS)
    name = _text("name", raw.get("name"), required=True)
    source = _text("source", raw.get("source"), required=False)
    fixed = _number("fixed_usd_per_day", raw.get("fixed_usd_per_day", 0.0), MAX_FIXED_USD_PER_DAY, "US $/day")
    periods = [_period(f"periods[{i}]", item) for i, item in enumerate(_table_list("periods", raw, required=True))]
    charges = [
        _charge(f"demand_charges[{i}]", item)
        for i, item in enumerate(_table_list("demand_charges", raw, required=False))
    ]
    try:
        return TouTariff(name, tuple(periods), source, tuple(charges), fixed)
    except ValueError as exc:
        raise _Bad("periods", str(exc)) from None


def _period(key: str, raw: Any) -> TouPeriod:
    if not isinstance(raw, dict):
        raise _Bad(key, f"{quote(raw)} must be a table with keys {', '.join(_PERIOD_KEYS)}")
    _no_unknown_keys(key + ".", raw, _PERIOD_KEYS)
    if "hours" not in raw:
        raise _Bad(f"{key}.hours", f"missing; allowed: {_HOURS_ALLOWED}")
    name = _text(f"{key}.name", raw.get("name"), required=True)
    price = _number(f"{key}.price_usd_per_kwh", raw.get("price_usd_per_kwh"), MAX_PRICE_USD_PER_KWH, "US $/kWh",
                    required=True)
    hours, days, months = _window(key, raw)
    return _build(key, lambda: TouPeriod(name, price, hours, days, months))


def _charge(key: str, raw: Any) -> DemandCharge:
    if not isinstance(raw, dict):
        raise _Bad(key, f"{quote(raw)} must be a table with keys {', '.join(_CHARGE_KEYS)}")
    _no_unknown_keys(key + ".", raw, _CHARGE_KEYS)
    name = _text(f"{key}.name", raw.get("name"), required=True)
    rate = _number(f"{key}.usd_per_kw", raw.get("usd_per_kw"), MAX_DEMAND_USD_PER_KW, "US $/kW", required=True)
    interval = raw.get("interval_s", 900.0)
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not math.isfinite(interval):
        raise _Bad(f"{key}.interval_s", f"{quote(interval)} is not allowed; allowed: a number {_INTERVAL_ALLOWED}")
    interval = float(interval)
    n = round(3600.0 / interval) if interval >= MIN_INTERVAL_S else 0
    if n < 1 or abs(n * interval - 3600.0) > 1e-9:
        raise _Bad(f"{key}.interval_s", f"{interval!r} is not allowed; allowed: a number {_INTERVAL_ALLOWED}")
    hours, days, months = _window(key, raw)
    return _build(key, lambda: DemandCharge(name, rate, hours, days, months, interval))


def _build(key: str, make: Callable[[], Any]) -> Any:
    try:
        return make()
    except ValueError as exc:
        raise _Bad(key, str(exc)) from None


def _window(key: str, raw: dict[str, Any]) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    hours = _items(f"{key}.hours", raw.get("hours", "all"), _hour_item, _HOURS_ALLOWED)
    days = _items(f"{key}.weekdays", raw.get("weekdays", "all"), _day_item, _DAYS_ALLOWED)
    months = _items(f"{key}.months", raw.get("months", "all"), _month_item, _MONTHS_ALLOWED)
    return hours, days, months


def _items(key: str, value: Any, parse: Callable[[Any], list[int] | None], allowed: str) -> tuple[int, ...]:
    """Expand one item or a list of items; ``parse`` returns None for an item it does not accept."""
    items = value if isinstance(value, list) else [value]
    if not items:
        raise _Bad(key, f"empty list; allowed: {allowed}")
    out: list[int] = []
    for item in items:
        got = parse(item)
        if got is None:
            raise _Bad(key, f"{quote(item)} is not allowed; allowed: {allowed}")
        for v in got:
            if v in out:
                raise _Bad(key, f"{quote(value)} lists {v} twice; allowed: each value at most once")
            out.append(v)
    return tuple(out)


def _ints(item: Any, lo: int, hi: int) -> list[int] | None:
    return [item] if isinstance(item, int) and not isinstance(item, bool) and lo <= item <= hi else None


def _split(item: str) -> tuple[str, str] | None:
    parts = item.strip().lower().split("-")
    return (parts[0].strip(), parts[1].strip()) if len(parts) == 2 else None


def _hour_item(item: Any) -> list[int] | None:
    if not isinstance(item, str):
        return _ints(item, 0, 23)
    if item.strip().lower() == "all":
        return list(ALL_HOURS)
    ends = _split(item)
    if ends is None or not all(e.isdigit() for e in ends):
        return None
    a, b = int(ends[0]), int(ends[1])
    if not (0 <= a <= 23 and 0 <= b <= 24) or a == b:
        return None
    return list(range(a, b)) if a < b else list(range(a, 24)) + list(range(0, b))


def _named(item: Any, names: tuple[str, ...], first: int, groups: dict[str, tuple[int, ...]]) -> list[int] | None:
    """Integers from a name, an inclusive (wrapping) name range or a group; ``first`` numbers names[0]."""
    if not isinstance(item, str):
        return _ints(item, first, first + len(names) - 1)
    text = item.strip().lower()
    if text in groups:
        return list(groups[text])
    if text in names:
        return [names.index(text) + first]
    ends = _split(text)
    if ends is None or not all(e in names for e in ends) or ends[0] == ends[1]:
        return None
    a, b, n = names.index(ends[0]), names.index(ends[1]), len(names)
    return [(a + k) % n + first for k in range((b - a) % n + 1)]


def _day_item(item: Any) -> list[int] | None:
    return _named(item, _DAYS, 0, {"all": ALL_WEEKDAYS, "weekdays": WEEKDAYS, "weekends": WEEKENDS})


def _month_item(item: Any) -> list[int] | None:
    return _named(item, _MONTHS, 1, {"all": ALL_MONTHS})


def _no_unknown_keys(prefix: str, raw: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for k in raw:
        if k not in allowed:
            shown = k if len(k) <= QUOTE_CHARS and k.isprintable() else quote(k)
            raise _Bad(f"{prefix}{shown}", f"unknown key; allowed: {', '.join(allowed)}")


def _text(key: str, value: Any, *, required: bool) -> str:
    """A string; a required one is a name: non-empty printable text of at most 80 characters."""
    allowed = f"a non-empty string of at most {MAX_NAME_CHARS} printable characters" if required else "a string"
    if value is None:
        if required:
            raise _Bad(key, f"missing; allowed: {allowed}")
        return ""
    if not isinstance(value, str) or (required and not (value.strip() and len(value) <= MAX_NAME_CHARS
                                                        and value.isprintable())):
        raise _Bad(key, f"{quote(value)} is not allowed; allowed: {allowed}")
    return value


def _number(key: str, value: Any, hi: float, unit: str, *, required: bool = False) -> float:
    """A finite number in ``0 .. hi`` (``unit``)."""
    rule = f">= 0 and <= {hi:,g} ({unit})"
    if value is None and required:
        raise _Bad(key, f"missing; allowed: a number {rule}")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= hi:  # also nan, inf
        raise _Bad(key, f"{quote(value)} is not allowed; allowed: a number {rule}")
    return float(value)


def _table_list(key: str, raw: dict[str, Any], *, required: bool) -> list[Any]:
    value = raw.get(key)
    if value is None:
        if required:
            raise _Bad(key, "missing; allowed: a list of tables ([[" + key + "]] in TOML)")
        return []
    if not isinstance(value, list) or (required and not value):
        raise _Bad(key, f"{quote(value)} is not allowed; allowed: a list of tables ([[{key}]] in TOML)")
    return value


# ---- writing ------------------------------------------------------------------------------
def _window_dict(obj: TouPeriod | DemandCharge) -> dict[str, Any]:
    return {"hours": _hours_text(obj.hours), "weekdays": _days_text(obj.weekdays), "months": _months_text(obj.months)}


def _runs(values: tuple[int, ...], lo: int, hi: int) -> list[tuple[int, int]]:
    """Consecutive runs (first, last) of sorted distinct integers in ``lo..hi``; a run ending at
    ``hi`` joins one starting at ``lo`` (e.g. months Oct-Dec and Jan-May become Oct-May)."""
    runs: list[tuple[int, int]] = []
    for v in values:
        if runs and v == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], v)
        else:
            runs.append((v, v))
    if len(runs) > 1 and runs[0][0] == lo and runs[-1][1] == hi:
        runs = [(runs[-1][0], runs[0][1])] + runs[1:-1]
    return runs


def _hours_text(hours: tuple[int, ...]) -> str | list[str | int]:
    if hours == ALL_HOURS:
        return "all"
    items: list[str | int] = [a if a == b else f"{a}-{b + 1}" for a, b in _runs(hours, 0, 23)]
    return items[0] if len(items) == 1 else items


def _days_text(days: tuple[int, ...]) -> str | list[str]:
    for name, group in (("all", ALL_WEEKDAYS), ("weekdays", WEEKDAYS), ("weekends", WEEKENDS)):
        if days == group:
            return name
    items = [_DAYS[a] if a == b else f"{_DAYS[a]}-{_DAYS[b]}" for a, b in _runs(days, 0, 6)]
    return items[0] if len(items) == 1 else items


def _months_text(months: tuple[int, ...]) -> str | list[str]:
    if months == ALL_MONTHS:
        return "all"
    items = [_MONTHS[a - 1] if a == b else f"{_MONTHS[a - 1]}-{_MONTHS[b - 1]}" for a, b in _runs(months, 1, 12)]
    return items[0] if len(items) == 1 else items
