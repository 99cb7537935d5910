"""Scenario files: load TOML, apply ``--set`` overrides, validate every key, fill defaults.

A :class:`Scenario` is the fully resolved, validated nested dict of every key in
``sim.schema.KEYS``. Bad input raises :class:`sim.core.errors.ScenarioError` with one line that names
the key (or ``file:line`` for TOML syntax), the bad value (at most
:data:`sim.core.inputs.QUOTE_CHARS` characters of it) and what is allowed.

Where a user's text enters (a scenario file and ``--set`` in :func:`load_scenario`, a sweep or
tune file's values in :func:`anchor_path`), a ``file.py:Class`` dispatch policy must name a file
inside that text's folder (see :mod:`fleet.policies.base`) and a depot weather file must exist;
only then are relative paths made absolute, and a data set's name (``workload.trace =
"azure_conv_2023"``, :mod:`sim.datasets`) becomes its local file. :func:`resolve` checks every key's type and range
and never looks at the file system, so a results folder's ``scenario.toml`` resolves anywhere.
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import math
import os
import re
import tomllib
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import tomli_w

from fleet.chip import CHIP_PRESETS
from fleet.llm import MODEL_PRESETS
from fleet.network import LINK_PRESETS
from fleet.policies.base import split_policy
from grid.profiles import CARBON_PROFILES
from sim import datasets
from sim.core.errors import FleetsimInputError, ScenarioError
from sim.core.inputs import MAX_TOML_FILE_BYTES, check_data_file, is_plain_name, quote, show_path
from sim.core.params import param_info
from sim.schema import (
    HOURS24_MAX,
    KEYS,
    KEYS_BY_PATH,
    MAX_COHORTS,
    TABLES,
    TARIFF_NAMES,
    YEAR_MAX,
    YEAR_MIN,
    Key,
)

_ZONED = re.compile(r"^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?)\s+([A-Za-z_]+(?:/[A-Za-z0-9_+\-]+)*)$")


class Scenario:
    """A resolved scenario: every key present, typed and checked."""

    def __init__(self, values: dict[str, Any], source: str = "<built-in>") -> None:
        self._values = values
        self.source = source

    def __getitem__(self, path: str) -> Any:
        node: Any = self._values
        for part in path.split("."):
            node = node[part]
        return node

    def to_dict(self) -> dict[str, Any]:
        """A deep copy of the resolved nested dict."""
        return copy.deepcopy(self._values)

    def to_toml(self) -> str:
        """The resolved scenario as TOML (every default filled in), enough to rerun it."""
        header = "# fleetsim scenario, fully resolved (every default filled in)\n"
        values = self.to_dict()
        fleet = values["fleet"]
        for table, presets in ((fleet["chip"], CHIP_PRESETS), (fleet["model"], MODEL_PRESETS),
                               (fleet["network"]["home"], LINK_PRESETS), (fleet["network"]["away"], LINK_PRESETS)):
            _fill_preset(table, presets)
        return header + tomli_w.dumps(_drop_none(values))

    def start_datetime(self) -> datetime:
        """``run.start`` as a timezone-aware datetime."""
        return parse_start(self["run.start"], "run.start")

    def with_overrides(self, overrides: dict[str, Any]) -> Scenario:
        """A new scenario with dotted-key ``overrides`` applied and validated."""
        raw = self.to_dict()
        _apply_overrides(raw, list(overrides.items()))
        return resolve(raw, self.source)


def _fill_preset(table: dict[str, Any], presets: dict[str, Any]) -> None:
    """Write the preset's value into every field of a preset section left unset (None)."""
    preset = presets[table["preset"]]
    for name, value in table.items():
        if value is None:
            table[name] = getattr(preset, name)


def default_scenario() -> Scenario:
    """The built-in scenario (all defaults)."""
    return resolve({})


def load_scenario(path: str | Path | None, overrides: list[str] | None = None) -> Scenario:
    """Read a scenario file (None = built-in) and apply ``KEY=VALUE`` overrides.

    A ``file.py:Class`` policy must be inside the scenario file's folder (or, given by
    ``--set``, inside the current folder); a policy that an override replaces is not checked, so
    a results folder's ``scenario.toml`` reruns with ``--set dispatch.policy=...``.
    """
    raw: dict[str, Any] = {}
    source = "<built-in>"
    if path is not None:
        p = Path(path)
        source = str(p)
        raw = read_toml_file(p, "scenario")
    parsed = [parse_override(item) for item in overrides or []]
    parsed = [(key, _data_set_path(key, value) or value) if isinstance(value, str) and value else (key, value)
              for key, value in parsed]  # --set workload.trace=azure_conv_2023: a data set's name
    given: dict[str, Any] = {}  # the overrides alone, to know which keys they set
    for key, value in parsed:
        try:
            _set_path(given, key, value)
        except ScenarioError:
            pass  # reported below, where it is applied to the scenario
    policy_given, policy = _get_path(given, POLICY_KEY)
    if path is not None:
        _anchor_paths(raw, Path(path).parent, "the scenario file's folder", check_policy=not policy_given)
    if policy_given:
        check_policy_location(policy, Path.cwd(), "the current folder")
    _apply_overrides(raw, parsed)
    scenario = resolve(raw, source)
    _check_files(scenario)
    return scenario


#: the two forms of a job class's arrival rate (``workload.<class>.*``)
_RATE_FORMS = ("rate_per_s", "rate_per_s_per_1000_vehicles")


def _apply_overrides(raw: dict[str, Any], items: list[tuple[str, Any]]) -> None:
    """Set each dotted key of ``items`` in ``raw``. An override of one form of a class's rate
    replaces the other form given before it (in the file or the scenario overridden), unless the
    overrides give both (then :func:`resolve` refuses them)."""
    given = {key for key, _ in items}
    for key, value in items:
        head, _, leaf = key.rpartition(".")
        if leaf in _RATE_FORMS and head in ("workload.interactive", "workload.batch"):
            other = f"{head}.{_RATE_FORMS[1 - _RATE_FORMS.index(leaf)]}"
            if other not in given:
                _set_path(raw, other, None)
        _set_path(raw, key, value)


# Keys whose value may be a file path; relative paths in a scenario file are relative to it.
PATH_KEYS = ("workload.trace", "grid.carbon", "grid.tariff", "dispatch.policy", "fleet.robotaxi.depot.tariff",
             "fleet.robotaxi.depot.weather_epw")
POLICY_KEY = "dispatch.policy"
# Data files that only some scenarios read (the depot's), checked to exist when a user names them.
_CHECKED_FILES = ("fleet.robotaxi.depot.weather_epw", "fleet.robotaxi.depot.tariff")


def anchor_path(key: str, value: Any, base: Path) -> Any:
    """``value`` for scenario ``key``: a relative file path (a path key) made relative to the folder
    ``base`` of the file that gave it, as in scenario files; any other value unchanged.

    ``value`` is a user's text (a sweep or tune file's): a policy file must be inside ``base``
    and a depot weather file must exist (one-line ScenarioError otherwise).
    """
    if key not in PATH_KEYS:
        return value
    nested: dict[str, Any] = {}
    _set_path(nested, key, value)
    _anchor_paths(nested, base, f"the folder {quote(str(base))}")
    anchored = _get_path(nested, key)[1]
    if key in _CHECKED_FILES and isinstance(anchored, str) and anchored:
        _check_file(key, anchored)
    _check_data_set_file(key, anchored)
    return anchored


def check_policy_location(value: Any, base: Path, where: str) -> None:
    """Refuse a ``file.py:Class`` policy ``value`` whose file is not inside the folder ``base``
    (``where`` describes it): an absolute path, a ``..`` component, or a real path (symbolic links
    resolved) outside ``base``. Other values are left to :func:`resolve`."""
    if not isinstance(value, str) or ":" not in value:
        return
    kind, file_part, _ = split_policy(value)
    if kind != "file":
        return
    p = Path(file_part)
    allowed = "allowed: file.py:Class, the file named by a relative path without '..' and inside that folder"
    if p.is_absolute() or ".." in p.parts:
        raise ScenarioError(f"{POLICY_KEY} = {quote(value)}: a policy file outside {where}; {allowed}")
    try:
        root = base.resolve()
        real = (base / p).resolve()
    except (OSError, RuntimeError) as exc:  # a symbolic link loop, an unreadable folder
        raise ScenarioError(f"{POLICY_KEY} = {quote(value)}: cannot resolve the path in {where} "
                            f"({type(exc).__name__}); {allowed}") from None
    if not real.is_relative_to(root):
        raise ScenarioError(f"{POLICY_KEY} = {quote(value)}: the file leads (by a symbolic link) outside {where}; "
                            f"{allowed}")


def _anchor_paths(raw: dict[str, Any], base: Path, where: str, check_policy: bool = True) -> None:
    """Make relative file paths in a scenario file relative to the file's folder ``base``; first
    check that a policy file is inside ``base`` (unless ``check_policy`` is false)."""
    for path in PATH_KEYS:
        present, value = _get_path(raw, path)
        if not (present and isinstance(value, str) and value):
            continue
        if "\x00" in value:
            raise ScenarioError(f"{path} = {quote(value)}: holds a NUL character; allowed: a file path or a name")
        if path == POLICY_KEY:
            if not check_policy:  # an override replaces it: neither checked nor anchored
                continue
            check_policy_location(value, base, where)
            if ":" not in value:
                continue
            kind, file_part, cls = split_policy(value)
            if kind == "file" and not Path(file_part).is_absolute():
                _set_path(raw, path, f"{(base / file_part).resolve()}:{cls}")
            continue
        named = _data_set_path(path, value)
        if named is not None:
            _set_path(raw, path, named)
            continue
        looks_like_file = value.endswith((".csv", ".py", ".txt", ".toml", ".json", ".epw")) or "/" in value
        if looks_like_file and not Path(value).is_absolute():
            _set_path(raw, path, str((base / value).resolve()))


def _data_set_path(key: str, value: str) -> str | None:
    """The local file that ``value`` of data key ``key`` names when it is a data set's name
    (:mod:`sim.datasets`); None for a path or a built-in name. A bare word that is neither a data
    set, a built-in name nor an existing file is refused with the data sets ``key`` takes."""
    try:
        named = datasets.scenario_path(key, value)
    except FleetsimInputError as exc:
        raise ScenarioError(str(exc)) from None
    if named is not None or key not in datasets.KEY_KINDS or names_builtin(key, value):
        return named
    if "." not in value and "/" not in value and os.sep not in value and not _exists(value):
        builtin = f"one of {', '.join(sorted(CARBON_PROFILES))}, " if key == "grid.carbon" else ""
        names = ", ".join(datasets.names_of_kind(datasets.KEY_KINDS[key]))
        raise ScenarioError(f"{key} = {quote(value)}: no such data set or file; allowed: {builtin}a file path or "
                            f"a data set: {names} (fleetsim data list)")
    return None


def _exists(path: str) -> bool:
    """Whether ``path`` exists; False for a path the system cannot even look up (too long, NUL)."""
    try:
        return Path(path).exists()
    except (OSError, ValueError):
        return False


def _check_file(key: str, value: str) -> None:
    if key.endswith(".tariff") and not value.lower().endswith((".toml", ".json")):
        return  # a built-in tariff's name (checked by resolve)
    _check_data_set_file(key, value)
    try:
        check_data_file(value, key)
    except FleetsimInputError as exc:
        raise ScenarioError(str(exc)) from None


def _check_data_set_file(key: str, value: Any) -> None:
    """Refuse a missing file of data key ``key`` that is a catalogued data set's file (by its file
    name), with the command that fetches it and the name to write instead."""
    if key not in datasets.KEY_KINDS or not isinstance(value, str) or not value or names_builtin(key, value):
        return
    ds = datasets.data_set_of_file(value)
    if ds is not None and ds.kind == datasets.KEY_KINDS[key] and not _exists(value):
        raise ScenarioError(f"{key} = {quote(value)}: file not found; it is the data set '{ds.name}': run "
                            f"`fleetsim data fetch {ds.name}` and write {key} = \"{ds.name}\"")


def _check_files(scenario: Scenario) -> None:
    for key in _CHECKED_FILES:
        value = scenario[key]
        if value:
            _check_file(key, value)
    for key in datasets.KEY_KINDS:
        _check_data_set_file(key, scenario[key])


def parse_override(item: str) -> tuple[str, Any]:
    """Split ``KEY=VALUE``; VALUE is a TOML value, or a plain string if it is not valid TOML.

    A value TOML cannot hold (nested too deeply, an integer of more than 4,300 digits) is a
    one-line ScenarioError.
    """
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ScenarioError(f"--set {quote(item)}: expected KEY=VALUE, e.g. fleet.vehicles=5000")
    text = text.strip()
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text
    except (RecursionError, MemoryError, ValueError) as exc:
        shown = key if re.fullmatch(r"[A-Za-z0-9_.]{1,100}", key) else quote(key)
        raise ScenarioError(f"--set {shown}={quote(text)}: {_toml_limit(exc)}; allowed: a TOML value "
                            "such as 5000, 0.5, \"name\" or [1, 2]") from None
    return key, value


def resolve(raw: dict[str, Any], source: str = "<built-in>") -> Scenario:
    """Validate ``raw`` (nested dict from TOML) and fill in every default."""
    _reject_unknown(raw, "")
    values: dict[str, Any] = {}
    for key in KEYS:
        present, value = _get_path(raw, key.path)
        if present and not (value is None and key.default is None):
            value = _check(key, value)
        else:
            value = copy.deepcopy(key.default)
        _set_path(values, key.path, value)
    _check_cross(values)
    _check_cohorts(values)
    return Scenario(values, source)


def parse_start(value: Any, key: str) -> datetime:
    """A timezone-aware start instant from a TOML datetime or 'YYYY-MM-DDTHH:MM[:SS] Zone', in the
    years ``YEAR_MIN`` to ``YEAR_MAX`` (:mod:`sim.schema`)."""
    allowed = KEYS_BY_PATH[key].allowed()
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ScenarioError(f"{key} = {value.isoformat()}: needs a UTC offset or a zone name; "
                                f"allowed: {allowed}")
        return _in_years(value, key, value.isoformat())
    if isinstance(value, str):
        m = _ZONED.match(value.strip())
        if m:
            try:
                zone = ZoneInfo(m.group(2))
            except (ZoneInfoNotFoundError, ValueError, OSError):
                raise ScenarioError(f"{key} = {quote(value)}: unknown time zone {quote(m.group(2))}") from None
            try:
                naive = datetime.fromisoformat(m.group(1).replace(" ", "T"))
            except ValueError as exc:  # month 13, day 32, hour 25, Feb 29 of a common year
                raise ScenarioError(f"{key} = {quote(value)}: {exc}; allowed: {allowed}") from None
            local = _in_years(naive.replace(tzinfo=zone), key, quote(value))
            if local.astimezone(timezone.utc).astimezone(zone).replace(tzinfo=None) != naive:
                raise ScenarioError(f"{key} = {quote(value)}: that local time does not exist in {m.group(2)} "
                                    "(skipped by a daylight-saving change); allowed: an existing local time")
            return local
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return _in_years(parsed, key, quote(value))
    raise ScenarioError(f"{key} = {_shown(value)}: allowed: {allowed}")


def _in_years(start: datetime, key: str, shown: str) -> datetime:
    """``start`` if its year is in ``YEAR_MIN .. YEAR_MAX`` (checked before any conversion, which
    could overflow near the ends of Python's calendar)."""
    if not YEAR_MIN <= start.year <= YEAR_MAX:
        raise ScenarioError(f"{key} = {shown}: year {start.year}; allowed: {KEYS_BY_PATH[key].allowed()}")
    return start


# ---------------------------------------------------------------------------------- helpers
class ConfigFileError(ScenarioError):
    """A scenario, sweep or tune file itself cannot be read or parsed (the message names the file)."""


def read_toml_file(p: Path, what: str) -> dict[str, Any]:
    """The tables of the TOML file ``p`` (a ``what`` file: scenario, sweep, tune); a missing,
    unreadable or malformed file is a one-line :class:`ConfigFileError` naming the file (and line).

    The file must be a regular file of at most :data:`sim.core.inputs.MAX_TOML_FILE_BYTES`, outside
    ``/dev``, ``/proc`` and ``/sys`` (:func:`sim.core.inputs.check_data_file`), so that neither a device
    nor a huge file is read.
    """
    label = show_path(p)
    try:
        os.stat(p)
    except FileNotFoundError:
        raise ConfigFileError(f"{label}: {what} file not found") from None
    except (OSError, ValueError) as exc:  # a name too long, a loop of links, a NUL character
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
        raise ConfigFileError(f"{label}: cannot read {what} file ({quote(detail, 60)})") from None
    try:
        check_data_file(p, f"{what} file", max_bytes=MAX_TOML_FILE_BYTES)
        with open(p, "rb") as fh:
            data = fh.read(MAX_TOML_FILE_BYTES + 1)
    except FleetsimInputError as exc:
        raise ConfigFileError(str(exc)) from None
    except OSError as exc:
        raise ConfigFileError(f"{label}: cannot read {what} file "
                              f"({quote(exc.strerror or type(exc).__name__)})") from None
    if len(data) > MAX_TOML_FILE_BYTES:  # it grew after the check
        raise ConfigFileError(f"{label}: {what} file of more than {MAX_TOML_FILE_BYTES:,} bytes; allowed: at "
                              f"most {MAX_TOML_FILE_BYTES:,} bytes")
    try:
        text = data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as exc:
        raise ConfigFileError(f"{label}: cannot read {what} file (not UTF-8 text: byte {exc.start:,} is "
                              f"{data[exc.start:exc.start + 1]!r})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError(_toml_error(label, str(exc), text)) from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise ConfigFileError(f"{label}: invalid {what} file: {_toml_limit(exc)}") from None


def _toml_limit(exc: BaseException) -> str:
    """What a TOML text that the parser cannot hold does wrong (``exc`` from tomllib.loads)."""
    if isinstance(exc, (RecursionError, MemoryError)):
        return "arrays or tables nested too deeply"
    if "integer string conversion" in str(exc):
        return "an integer with more than 4,300 digits"
    return f"cannot parse ({quote(str(exc))})"


def _toml_error(path: str, message: str, text: str) -> str:
    m = re.search(r"\(at line (\d+), column (\d+)\)", message)
    if m:
        what = message[: m.start()].strip()
        return f"{path}:{m.group(1)}: invalid TOML: {what} (column {m.group(2)})"
    if "end of document" in message:
        last = len(text.rstrip("\n").split("\n"))
        return f"{path}:{last}: invalid TOML: {message.split('(')[0].strip()} (at the end of the file)"
    return f"{path}: invalid TOML: {message}"


def _drop_none(d: Any) -> Any:
    """``d`` without its None values, in nested tables and lists of tables too."""
    if isinstance(d, dict):
        return {k: _drop_none(v) for k, v in d.items() if v is not None}
    if isinstance(d, list):
        return [_drop_none(v) for v in d]
    return d


def _get_path(d: dict[str, Any], path: str) -> tuple[bool, Any]:
    node: Any = d
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _set_path(d: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node = d
    for i, part in enumerate(parts[:-1]):
        nxt = node.get(part)
        if nxt is None:
            nxt = node[part] = {}
        elif not isinstance(nxt, dict):
            raise ScenarioError(f"{quote('.'.join(parts[: i + 1]))} is a value, not a table; "
                                f"cannot set {quote(path)}")
        node = nxt
    node[parts[-1]] = value


_TABLE_PATHS = {k.path.rsplit(".", 1)[0] for k in KEYS if "." in k.path} | set(TABLES)
_FREE_TABLES = {k.path for k in KEYS if k.kind == "table"}


def _reject_unknown(raw: dict[str, Any], prefix: str) -> None:
    for name, value in raw.items():
        path = f"{prefix}{name}"
        if path in _FREE_TABLES:
            continue
        if isinstance(value, dict) and path in _TABLE_PATHS:
            _reject_unknown(value, path + ".")
            continue
        if path in KEYS_BY_PATH:
            continue
        candidates = list(KEYS_BY_PATH) + sorted(_TABLE_PATHS)
        if path in _TABLE_PATHS:
            hint = difflib.get_close_matches(path, list(KEYS_BY_PATH), n=1, cutoff=0.6)
            did = f"; did you mean '{hint[0]}'?" if hint else ""
            raise ScenarioError(f"{path} = {_shown(value)}: '{path}' is a table of keys, not a value{did}")
        hint = difflib.get_close_matches(path, candidates, n=1, cutoff=0.6)
        if not hint:  # the last part may be right under a wrong table, or vice versa
            last = path.rsplit(".", 1)[-1]
            hint = [c for c in candidates if c.rsplit(".", 1)[-1] == last][:1]
        did = f"; did you mean '{hint[0]}'?" if hint else ""
        raise ScenarioError(f"unknown scenario key {quote(path)}{did}")


def _shown(value: Any) -> str:
    """``value`` as an error message shows it: at most ``QUOTE_CHARS`` characters, one line."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 256:
        return f"<an integer of {value.bit_length():,} bits>"  # repr could exceed the digit limit
    try:
        return quote(value)
    except ValueError:  # an integer too long to print, nested inside a list
        return f"<a {type(value).__name__} too large to show>"


def _bad(key: Key, value: Any) -> ScenarioError:
    return ScenarioError(f"{key.path} = {_shown(value)}: allowed: {key.allowed()}")


def _check(key: Key, value: Any) -> Any:
    kind = key.kind
    if kind == "bool":
        if not isinstance(value, bool):
            raise _bad(key, value)
        return value
    if kind == "str":
        if not isinstance(value, str) or (key.choices is not None and value not in key.choices):
            raise _bad(key, value)
        if "\x00" in value:
            raise ScenarioError(f"{key.path} = {quote(value)}: holds a NUL character; allowed: {key.allowed()}")
        return value
    if kind == "name":
        if not is_plain_name(value):
            raise _bad(key, value)
        return value
    if kind == "policy":
        if not isinstance(value, str):
            raise _bad(key, value)
        split_policy(value)
        return value
    if kind == "tariff":
        if not (isinstance(value, str) and (value in TARIFF_NAMES or value.lower().endswith((".toml", ".json")))):
            raise _bad(key, value)
        return value
    if kind == "epw":
        if not (isinstance(value, str) and (value == "" or value.lower().endswith(".epw"))):
            raise _bad(key, value)
        return value
    if kind == "datetime":
        parse_start(value, key.path)
        return value.isoformat() if isinstance(value, datetime) else value
    if kind == "table":
        if not isinstance(value, dict):
            raise _bad(key, value)
        return value
    if kind == "cohorts":
        return _check_cohort_list(key, value)
    if kind == "hours24":
        ok = (
            isinstance(value, list)
            and len(value) == 24
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) and 0 <= x <= HOURS24_MAX
                    for x in value)
            and sum(value) > 0
        )
        if not ok:
            raise _bad(key, value)
        return [float(x) for x in value]
    # numbers
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(key, value)
    if kind == "int":
        if isinstance(value, float):
            if not value.is_integer():
                raise _bad(key, value)
            value = int(value)
    else:
        if isinstance(value, int) and abs(value) > 2**1023:  # beyond every float
            raise _bad(key, value)
        value = float(value)
        if not math.isfinite(value):
            raise _bad(key, value)
    if key.lo is not None and (value < key.lo or (key.lo_open and value == key.lo)):
        raise _bad(key, value)
    if key.hi is not None and (value > key.hi or (key.hi_open and value == key.hi)):
        raise _bad(key, value)
    return value


def _check_cross(v: dict[str, Any]) -> None:
    """Constraints between keys."""
    if v["run"]["days"] * 86400.0 < 1.0:
        raise ScenarioError(f"run.days = {v['run']['days']!r}: allowed: at least one simulated second "
                            f"({1 / 86400.0:.3g} days)")
    start = parse_start(v["run"]["start"], "run.start")
    end = (start.astimezone(timezone.utc) + timedelta(days=v["run"]["days"])).astimezone(start.tzinfo)
    if end.year > YEAR_MAX:
        raise ScenarioError(f"run.days = {v['run']['days']!r}: the run would end in {end.year} (run.start = "
                            f"{_shown(v['run']['start'])}); allowed: a run that ends by the end of {YEAR_MAX}")
    bat = v["fleet"]["battery"]
    if bat["reserve_soc"] >= bat["charge_limit_soc"]:
        raise ScenarioError(
            f"fleet.battery.reserve_soc = {bat['reserve_soc']!r}: allowed: below "
            f"fleet.battery.charge_limit_soc ({bat['charge_limit_soc']!r})"
        )
    f = v["fleet"]
    if f["initial_soc_min"] > f["initial_soc_max"]:
        raise ScenarioError(
            f"fleet.initial_soc_min = {f['initial_soc_min']!r}: allowed: <= fleet.initial_soc_max "
            f"({f['initial_soc_max']!r})"
        )
    if f["initial_soc_max"] > bat["charge_limit_soc"]:
        raise ScenarioError(
            f"fleet.initial_soc_max = {f['initial_soc_max']!r}: allowed: <= "
            f"fleet.battery.charge_limit_soc ({bat['charge_limit_soc']!r})"
        )
    represents, simulated = f["represents"], f["vehicles"] + f["robotaxi"]["vehicles"]
    if represents and f["weight"] != 1.0:
        raise ScenarioError(f"fleet.represents = {represents!r} and fleet.weight = {f['weight']!r}: allowed: one of "
                            "them (the real vehicles in all, or per simulated vehicle)")
    if represents and represents < simulated:
        raise ScenarioError(f"fleet.represents = {represents!r}: allowed: 0 or at least the simulated vehicles "
                            f"({simulated:,})")
    for name in ("interactive", "batch"):
        cls = v["workload"][name]
        if cls["rate_per_s"] is not None and cls["rate_per_s_per_1000_vehicles"] is not None:
            raise ScenarioError(f"workload.{name}.rate_per_s = {cls['rate_per_s']!r} and workload.{name}."
                                f"rate_per_s_per_1000_vehicles = {cls['rate_per_s_per_1000_vehicles']!r}: allowed: "
                                "one of them (a rate for the whole fleet, or per 1,000 vehicles)")
    carbon = v["grid"]["carbon"]
    if carbon not in CARBON_PROFILES and not carbon.lower().endswith(".csv"):
        raise ScenarioError(f"grid.carbon = {quote(carbon)}: allowed: one of {', '.join(sorted(CARBON_PROFILES))} "
                            "or the path of a CSV file (EIA-930 with avg_CI, or time,carbon_g_per_kwh)")
    rt = f["robotaxi"]
    if rt["service_end_h"] <= rt["service_start_h"]:
        raise ScenarioError(f"fleet.robotaxi.service_end_h = {rt['service_end_h']!r}: allowed: after "
                            f"fleet.robotaxi.service_start_h ({rt['service_start_h']!r})")
    if not rt["plug_below_soc"] <= rt["ready_soc"] <= bat["charge_limit_soc"]:
        raise ScenarioError(f"fleet.robotaxi.ready_soc = {rt['ready_soc']!r}: allowed: between "
                            f"fleet.robotaxi.plug_below_soc ({rt['plug_below_soc']!r}) and "
                            f"fleet.battery.charge_limit_soc ({bat['charge_limit_soc']!r})")
    if rt["vehicles"] and rt["depot"]["solar_kw_dc"] > 0 and not rt["depot"]["weather_epw"]:
        raise ScenarioError(f"fleet.robotaxi.depot.solar_kw_dc = {rt['depot']['solar_kw_dc']!r}: allowed: 0 "
                            "unless fleet.robotaxi.depot.weather_epw names a weather file")
    if rt["depot"]["strategy"] == "solar_following" and not rt["depot"]["solar_kw_dc"] > 0:
        raise ScenarioError("fleet.robotaxi.depot.strategy = 'solar_following': allowed only with "
                            "fleet.robotaxi.depot.solar_kw_dc > 0")
    it = f["itinerary"]
    active = 1.0 - it["idle_day_share"]
    if not 2.0 * active <= it["trips_per_day"] <= it["max_trips_per_day"] * active:
        raise ScenarioError(
            f"fleet.itinerary.trips_per_day = {it['trips_per_day']!r}: allowed: between "
            f"2 x (1 - idle_day_share) = {2 * active:g} and max_trips_per_day x (1 - idle_day_share) "
            f"= {it['max_trips_per_day'] * active:g}"
        )


# ---------------------------------------------------------------- cohorts
PERSONAL, ROBOTAXI = "personal", "robotaxi"
#: a cohort's own fields; every other field of a ``[[fleet.cohorts]]`` table is a fleet key
COHORT_FIELDS = ("name", "share", "profile")
#: fleet keys (or sections, ending in '.') that belong to the fleet as a whole, not to a cohort
_FLEET_WIDE = ("fleet.vehicles", "fleet.weight", "fleet.represents", "fleet.mobility", "fleet.chip.serving",
               "fleet.network.", "fleet.storage.", "fleet.payout.", "fleet.robotaxi.vehicles", "fleet.robotaxi.depot.",
               "fleet.cohorts")
#: fleet keys that mean nothing for one profile: robotaxis are all enrolled and charge at their depot;
#: personal cars have no duty cycle
_NOT_FOR = {ROBOTAXI: ("fleet.itinerary.", "fleet.opt_in_share", "fleet.home_charger_share", "fleet.charger.",
                       "fleet.workplace_charging_share", "fleet.away_connectivity", "fleet.battery.capacity_wh",
                       "fleet.vehicle.driving_wh_per_km"),
            PERSONAL: ("fleet.robotaxi.",)}


def _matches(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == p or (p.endswith(".") and path.startswith(p)) for p in prefixes)


#: the keys a cohort may set
COHORT_KEYS = tuple(k.path for k in KEYS if k.path.startswith("fleet.") and not _matches(k.path, _FLEET_WIDE))


def _cohort_leaves(table: dict[str, Any], prefix: str) -> list[tuple[str, Any]]:
    """The dotted fleet keys a cohort table sets, with their values (nested tables flattened)."""
    out = []
    for name, value in table.items():
        path = f"{prefix}{name}"
        if isinstance(value, dict) and path in _TABLE_PATHS:
            out += _cohort_leaves(value, path + ".")
        else:
            out.append((path, value))
    return out


def _check_cohort_list(key: Key, value: Any) -> list[dict[str, Any]]:
    """``fleet.cohorts`` checked for its shape: tables with a unique plain name, a share, a profile
    and known per-car fleet keys (their values are checked by :func:`_check_cohorts`)."""
    if not isinstance(value, list) or len(value) > MAX_COHORTS or not all(isinstance(c, dict) for c in value):
        raise _bad(key, value)
    seen: set[str] = set()
    out = []
    for i, table in enumerate(value, 1):
        name = table.get("name")
        where = f"[[fleet.cohorts]] number {i}"
        if not is_plain_name(name):
            raise ScenarioError(f"{where}: name = {_shown(name)}: allowed: {KEYS_BY_PATH['run.name'].allowed()}")
        if name in seen:
            raise ScenarioError(f"{where}: name = {quote(name)}: allowed: a name no other cohort has")
        seen.add(name)
        where = f"[[fleet.cohorts]] {quote(name)}"
        share = table.get("share")
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0.0 < share <= 1.0:
            raise ScenarioError(f"{where}: share = {_shown(share)}: allowed: a number > 0 and <= 1 (its share of "
                                "fleet.vehicles)")
        profile = table.get("profile", PERSONAL)
        if profile not in (PERSONAL, ROBOTAXI):
            raise ScenarioError(f"{where}: profile = {_shown(profile)}: allowed: {PERSONAL!r} or {ROBOTAXI!r}")
        overrides = {k: v for k, v in table.items() if k not in COHORT_FIELDS}
        for path, v in _cohort_leaves(overrides, "fleet."):
            if path in COHORT_KEYS:
                if _matches(path, _NOT_FOR[profile]):
                    taxi = (" (a robotaxi's pack and consumption are robotaxi.capacity_wh and "
                            "robotaxi.driving_wh_per_km)" if profile == ROBOTAXI else "")
                    raise ScenarioError(f"{where}: {path[6:]} = {_shown(v)}: not a key of a {profile} cohort{taxi}; "
                                        f"allowed: the other per-car fleet keys")
                continue
            if path in KEYS_BY_PATH or path in _TABLE_PATHS:
                raise ScenarioError(f"{where}: {path[6:]} = {_shown(v)}: {path} holds for the whole fleet; allowed "
                                    "in a cohort: per-car keys (chip, model, battery, charger, vehicle, itinerary, "
                                    "robotaxi duty cycle, opt_in_share, home_charger_share, away_connectivity, "
                                    "initial_soc_min/max, workplace_charging_share)")
            hint = difflib.get_close_matches(path, COHORT_KEYS, n=1, cutoff=0.6)
            did = f"; did you mean '{hint[0][6:]}'?" if hint else ""
            raise ScenarioError(f"{where}: unknown fleet key {quote(path[6:])}{did}")
        out.append({"name": name, "share": float(share), "profile": profile, **copy.deepcopy(overrides)})
    return out


def cohort_values(values: dict[str, Any], cohort: dict[str, Any]) -> dict[str, Any]:
    """The scenario ``values`` as one cohort sees them: its fleet keys applied, no cohorts. A cohort
    that names a chip or model preset of its own starts from that preset: the fleet's values of the
    preset's fields (its own overrides, or the fields a written scenario spells out) do not carry over."""
    raw = copy.deepcopy(values)
    raw["fleet"]["cohorts"] = []
    for section in ("chip", "model"):  # a preset of its own: none of the fleet's fields of that preset
        if "preset" in cohort.get(section, {}):
            table = raw["fleet"][section]
            for name in table:
                if name not in ("preset", "serving"):
                    table[name] = None
    for path, value in _cohort_leaves({k: v for k, v in cohort.items() if k not in COHORT_FIELDS}, "fleet."):
        _set_path(raw, path, copy.deepcopy(value))
    return raw


def _check_cohorts(v: dict[str, Any]) -> None:
    """The cohorts' shares add to 1 and each cohort's values are a valid fleet."""
    cohorts = v["fleet"]["cohorts"]
    if not cohorts:
        return
    total = math.fsum(c["share"] for c in cohorts)
    if abs(total - 1.0) > 1e-9:
        raise ScenarioError(f"fleet.cohorts: the shares add to {total:.10g}; allowed: shares that add to 1")
    if v["fleet"]["robotaxi"]["vehicles"]:
        raise ScenarioError(f"fleet.robotaxi.vehicles = {v['fleet']['robotaxi']['vehicles']!r}: allowed: 0 with "
                            "[[fleet.cohorts]] (a cohort with profile = 'robotaxi' gives the robotaxis their share of "
                            "fleet.vehicles)")
    batched = v["fleet"]["chip"]["serving"] == "batched"
    for c in cohorts:
        try:
            cohort = resolve(cohort_values(v, c))
        except ScenarioError as exc:
            raise ScenarioError(f"[[fleet.cohorts]] {quote(c['name'])}: {exc}") from None
        if batched and cohort["fleet.model.preset"] != v["fleet"]["model"]["preset"]:
            raise ScenarioError(f"[[fleet.cohorts]] {quote(c['name'])}: model.preset = "
                                f"{quote(cohort['fleet.model.preset'])}: allowed: the fleet's model "
                                f"({quote(v['fleet']['model']['preset'])}) with fleet.chip.serving = 'batched', where "
                                "jobs name the model they need (workload.<class>.model)")


# ---------------------------------------------------------------- questions the studies ask of a scenario
def names_builtin(key: str, value: Any) -> bool:
    """Whether ``value`` of path key ``key`` is a built-in name (a carbon profile or a tariff), not a file."""
    if key == "grid.carbon":
        return value in CARBON_PROFILES
    return key.endswith("tariff") and value in TARIFF_NAMES


def check_dispatch(scenario: Scenario) -> None:
    """Refuse (ScenarioError) a dispatch policy that cannot be loaded or parameters it does not take."""
    from fleet.policies import policy_class

    policy_class(scenario["dispatch.policy"]).check_params(scenario["dispatch.params"])


def dispatch_param_default(scenario: Scenario, name: str) -> Any:
    """The default of the scenario's dispatch policy's parameter ``name`` (None if it has none)."""
    from fleet.policies import policy_class

    return policy_class(scenario["dispatch.policy"]).PARAMS.get(name)


def build_spec(spec: type, scenario: Scenario, prefix: str, **fixed: Any) -> Any:
    """The dataclass ``spec`` built from the scenario's keys ``prefix.FIELD`` of its parameter fields
    (:func:`sim.core.params.param`; an ``hours24`` list becomes a tuple), plus the ``fixed`` fields."""
    values = {}
    for f in dataclasses.fields(spec):
        info = param_info(f)
        if info is not None and f.name not in fixed:
            value = scenario[f"{prefix}.{f.name}"]
            values[f.name] = tuple(value) if info["kind"] == "hours24" else value
    return spec(**values, **fixed)


def build_from_preset(preset: Any, scenario: Scenario, prefix: str) -> Any:
    """The dataclass instance ``preset`` with each parameter field the scenario sets (``prefix.FIELD``
    not None) replaced: a preset section such as ``fleet.chip``."""
    changes = {f.name: scenario[f"{prefix}.{f.name}"] for f in dataclasses.fields(preset)
               if param_info(f) is not None and scenario[f"{prefix}.{f.name}"] is not None}
    return dataclasses.replace(preset, **changes)
