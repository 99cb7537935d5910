"""Generated inputs against the promise of the command line (Hypothesis, derandomized).

The promise: bad input exits with status 2, writes exactly one line ``fleetsim: error: ...``
(at most 300 characters, no traceback) on stderr and leaves no results folder; good input runs
and every number in its summary.json is finite. Checked here over generated

1. scenario keys (every key in :data:`sim.schema.KEYS`, one to three at a time): values of the
   right type in range, the bounds and just outside them, wrong types, extremes (1e308, nan,
   inf, 10**5000, ...) and arbitrary text; a value outside the schema must be refused;
2. data files: Azure traces, carbon CSVs (EIA-930 and time,value) and tariff files (TOML, JSON);
3. sweep and tune files.

Every case runs in a fresh temporary folder on a tiny scenario (0.01 days, 5 cars, no figures).
Keys that set a run's size draw their valid values from a cheap range; the in-range values too
large to run must be refused quickly (see test_in_range_values_too_large_to_run_are_refused).
A case that gives no answer within its time limit fails, and the test process's address space
is capped below the machine's memory so that a run exhausting it fails with MemoryError instead
of taking the machine down.
"""
from __future__ import annotations

import contextlib
import csv
import importlib.util
import io
import json
import math
import os
import signal
import tempfile
import threading
import time
import unicodedata
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from fleet.policies import policy_class, policy_names
from grid.profiles import CARBON_PROFILES
from sim.cli import main
from sim.core.inputs import is_plain_name
from sim.schema import HOURS24_MAX, KEYS, KEYS_BY_PATH, TARIFF_NAMES, YEAR_MAX, YEAR_MIN, Key

# ---------------------------------------------------------------------------------- budget
EXAMPLES = {"scenario": 300, "trace": 100, "carbon": 100, "tariff": 100, "sweep": 100, "tune": 70}  # 770 in all
RUN_LIMIT_S = 20.0  # a tiny run takes ~0.1 s; a refusal must come at once
STUDY_LIMIT_S = 60.0  # a valid generated sweep or tune has at most a few tiny runs
MAX_ERROR_CHARS = 300
ERROR_PREFIX = "fleetsim: error:"

#: the tiny base scenario every case starts from (a generated key replaces its value)
BASE = {"run.days": 0.01, "fleet.vehicles": 5, "report.figures": False}

#: keys that set a run's size: their valid draws stay in these cheap ranges (their out-of-range
#: values are still drawn, and test_in_range_values_too_large_to_run_are_refused covers the top)
CHEAP = {
    "run.days": (1 / 86400, 0.02),
    "fleet.vehicles": (1, 12),
    "fleet.robotaxi.vehicles": (0, 3),
    "workload.interactive.rate_per_s": (0.0, 3.0),
    "workload.batch.rate_per_s": (0.0, 3.0),
}


def _settings(n: int):
    return settings(max_examples=n, deadline=None, derandomize=True, database=None, print_blob=False,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.large_base_example, HealthCheck.filter_too_much,
                                           HealthCheck.function_scoped_fixture])


# ---------------------------------------------------------------------------------- harness
class _TimedOut(BaseException):
    """Raised by the alarm: a BaseException, so that no ``except Exception`` in fleetsim keeps it."""


@contextlib.contextmanager
def _time_limit(seconds: float):
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def ring(signum, frame):
        raise _TimedOut

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(autouse=True, scope="module")
def _memory_ceiling():
    """Cap this process's address space at 3/4 of the machine's memory while these tests run."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        ceiling = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 0.75)
    except (ImportError, ValueError, OSError, AttributeError):
        yield
        return
    unlimited = resource.RLIM_INFINITY
    if (soft != unlimited and soft <= ceiling) or (hard != unlimited and hard < ceiling):
        yield
        return
    resource.setrlimit(resource.RLIMIT_AS, (ceiling, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@dataclass
class Outcome:
    """What one ``fleetsim`` command did."""

    argv: list[str]
    code: int
    stdout: str
    stderr: str
    warnings: list[str]
    wall_s: float


_QUIET = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)  # not shown by Python


def invoke(argv: list[str], limit_s: float) -> Outcome:
    """Run ``fleetsim ARGV`` in this process; an exception from fleetsim propagates (a test failure)."""
    out, err = io.StringIO(), io.StringIO()
    t0 = time.monotonic()
    with warnings.catch_warnings(record=True) as caught, \
            contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        warnings.simplefilter("always")
        for category in _QUIET:
            warnings.simplefilter("ignore", category)
        try:
            with _time_limit(limit_s):
                code = main(argv)
        except SystemExit as exc:  # what the console script would exit with
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except _TimedOut:
            raise AssertionError(f"fleetsim {argv[0]} gave no answer within {limit_s:g} s "
                                 f"(stderr so far: {_tail(err.getvalue())})") from None
    shown = [f"{w.category.__name__}: {w.message}" for w in caught]
    return Outcome(argv, code, out.getvalue(), err.getvalue(), shown, time.monotonic() - t0)


def _note(text: str) -> None:
    """Shown with a falsifying example (outside Hypothesis, e.g. a parametrized test: nothing)."""
    with contextlib.suppress(InvalidArgument):
        note(text)


def _event(text: str) -> None:
    with contextlib.suppress(InvalidArgument):
        event(text)


def _tail(text: str, n: int = 600) -> str:
    return repr(text if len(text) <= n else "..." + text[-n:])


def _short(value: Any, n: int = 120) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"<int of {value.bit_length()} bits>"
    text = repr(value)
    return text if len(text) <= n else text[:n] + f"... ({len(text)} characters)"


@contextlib.contextmanager
def workspace():
    """A fresh temporary folder, also the current folder (so that nothing lands in the repository)."""
    with tempfile.TemporaryDirectory(prefix="fleetsim-fuzz-", ignore_cleanup_errors=True) as name:
        folder = Path(name).resolve()
        with contextlib.chdir(folder):
            yield folder


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def check_refusal(o: Outcome, out: Path, folder: Path, inputs: list[str]) -> None:
    """Exit status 2: one short error line on stderr, no traceback, nothing written."""
    lines = o.stderr.splitlines()
    assert len(lines) == 1, f"exit 2 with {len(lines)} lines on stderr (want exactly one): {_tail(o.stderr)}"
    line = lines[0]
    assert line.startswith(ERROR_PREFIX), f"exit 2, but stderr does not start with {ERROR_PREFIX!r}: {line!r}"
    assert len(line) <= MAX_ERROR_CHARS, f"error line of {len(line)} characters (> {MAX_ERROR_CHARS}): {line!r}"
    raw = sorted({c for c in line if unicodedata.category(c) in ("Cc", "Zl", "Zp")})
    assert not raw, f"error line holds control characters {raw} (user text not quoted): {line!r}"
    assert "Traceback" not in o.stderr, f"traceback on stderr: {_tail(o.stderr)}"
    assert not o.warnings, f"exit 2, and Python would also print warnings: {o.warnings[:3]} (error: {line!r})"
    assert not out.exists(), f"exit 2, but the output folder exists: {_listing(out)} (error: {line!r})"
    left = [name for name in _listing(folder) if name not in inputs]
    assert not left, f"exit 2, but it left {left} beside the inputs (error: {line!r})"


def _numbers(node: Any, where: str = ""):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _numbers(v, f"{where}.{k}" if where else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _numbers(v, f"{where}[{i}]")
    elif isinstance(node, float):
        yield where, node


def check_finite_json(path: Path) -> Any:
    """``path`` is strict JSON (no NaN or Infinity) whose every number is finite."""
    assert path.is_file(), f"{path.name} was not written"

    def constant(name: str):
        raise AssertionError(f"{path.name} holds {name} (not JSON; a non-finite number)")

    data = json.loads(path.read_text(encoding="utf-8"), parse_constant=constant)
    bad = [(w, x) for w, x in _numbers(data) if not math.isfinite(x)]
    assert not bad, f"{path.name} holds non-finite numbers: {bad[:5]}"
    return data


def _exit_other(o: Outcome) -> str:
    return f"exit status {o.code} (allowed: 0 or 2); stderr: {_tail(o.stderr)}; stdout: {_tail(o.stdout, 300)}"


def _refused(o: Outcome, out: Path, folder: Path, inputs: list[str], command: str, ok_codes: tuple[int, ...]) -> bool:
    """True after checking a clean refusal (exit 2); else check an accepted exit without a traceback."""
    _event(f"{command} exit {o.code}")
    if o.code == 2:
        check_refusal(o, out, folder, inputs)
        return True
    assert o.code in ok_codes, _exit_other(o)
    assert "Traceback" not in o.stderr, f"traceback on stderr: {_tail(o.stderr)}"
    return False


def check_run(o: Outcome, out: Path, folder: Path, inputs: list[str]) -> None:
    """``fleetsim run``: exit 0 with a finite summary, or a clean refusal."""
    if _refused(o, out, folder, inputs, "run", ok_codes=(0,)):
        return
    check_finite_json(out / "summary.json")


# ---------------------------------------------------------------------------------- TOML writing
@dataclass(frozen=True)
class Raw:
    """Text written into a TOML (or JSON) file as is: what tomli_w cannot write, or will not."""

    text: str
    label: str

    def __repr__(self) -> str:
        return f"Raw({self.label})"


def render(doc: Any, fmt: str = "toml") -> str:
    """``doc`` as TOML (a nested dict; dotted keys are not split) or JSON, Raw values spliced in."""
    raws: dict[str, str] = {}

    def swap(node: Any) -> Any:
        if isinstance(node, Raw):
            mark = f"@@raw{len(raws)}@@"
            raws[mark] = node.text
            return mark
        if isinstance(node, dict):
            return {k: swap(v) for k, v in node.items()}
        if isinstance(node, list):
            return [swap(v) for v in node]
        return node

    plain = swap(doc)
    text = tomli_w.dumps(plain) if fmt == "toml" else json.dumps(plain, indent=1)
    for mark, raw in raws.items():
        text = text.replace(f'"{mark}"', raw)
    return text


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """Dotted keys as nested tables."""
    out: dict[str, Any] = {}
    for path, value in flat.items():
        node = out
        *parents, last = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out


# ---------------------------------------------------------------------------------- value strategies
BIG = "1" + "0" * 5000
RAW_VALUES = [
    Raw("nan", "nan"), Raw("-nan", "-nan"), Raw("inf", "inf"), Raw("-inf", "-inf"),
    Raw(BIG, "10**5000"), Raw("-" + BIG, "-10**5000"), Raw("1e99999", "1e99999"),
    Raw("0x" + "f" * 5000, "0xfff...(5000 f)"), Raw("[" + BIG + "]", "[10**5000]"),
    Raw("[" * 3000 + "]" * 3000, "array nested 3000 deep"),
    Raw("{a = " * 1500 + "1" + "}" * 1500, "inline table nested 1500 deep"),
]
EXTREMES = [1e308, -1e308, 1e-300, -1e-300, 5e-324, 0, 0.0, -0.0, 10**30, -(10**30), 2**63, -(2**63) - 1,
            2**64, 1.7976931348623157e308, float("inf"), float("-inf"), float("nan")]
SPECIAL_TEXTS = ["", " ", "../", "/", "$", "^", ".", "..", "~", "$HOME", "${HOME}", "^(a|b)$", "../../etc/passwd",
                 "/etc/passwd", "/dev/zero", "/proc/self/environ", "a\x00b", "\x1b[2J", "line\nbreak", "cr\rret",
                 "tab\tx", "\u2028", "\ufeff", "\x7f", "C:\\Windows", "con", "%s%n", "{0}", "'\"", "é", "名前",
                 "default", "hw4", "fifo"]
TEXTS = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=20),
    st.sampled_from(SPECIAL_TEXTS),
    st.builds(lambda unit, n: (unit * n)[:n], st.sampled_from(["a", "/", "../", "\x01", "é", "$"]),
              st.sampled_from([300, 4096, 10_000])),
)
PATH_TEXTS = st.one_of(TEXTS, st.builds(lambda t, s: t + s, TEXTS,
                                        st.sampled_from([".csv", ".toml", ".json", ".epw", ".py", ".CSV"])))
WRONG_TYPES = st.one_of(
    TEXTS, st.booleans(),
    st.lists(st.one_of(st.integers(-5, 5), st.text(max_size=3)), max_size=3),
    st.lists(st.tuples(st.text(max_size=5), st.integers(-5, 5)), max_size=2).map(dict),  # no retries on equal keys
    st.datetimes(), st.dates(), st.times(),
)
POLICY_REFS = ["no_such_module_zz:Policy", "sim.cli:main", "fleet.policies.base:DispatchPolicy",
               "os.path:join", "missing.py:Policy", "../outside.py:Policy", "/tmp/abs_policy.py:Policy",
               "x.py:1nope", ":Policy", "a..b:C", "weighted:", "pkg/mod:Cls", ".py:P"]
PARAM_NAMES = sorted({name for p in policy_names() for name in policy_class(p).PARAMS})
ZONES = ["America/Los_Angeles", "UTC", "Europe/Berlin", "Pacific/Kiritimati", "Etc/GMT+12", "Nowhere/City",
         "America/Los_Angeles/extra", "../../etc/localtime", "EST5EDT", "Factory", "posixrules"]


def _outside(lo: float | None, hi: float | None, is_int: bool, lo_open: bool, hi_open: bool,
             include_hi: bool) -> list[Any]:
    """The bounds themselves (if allowed to be drawn) and the values just outside them."""
    out: list[Any] = []
    if lo is not None:
        lo_v = int(lo) if is_int else float(lo)
        out += [lo_v, lo_v - 1] if is_int else [lo_v, math.nextafter(lo_v, -math.inf), lo_v - 1.0]
    if hi is not None:
        hi_v = int(hi) if is_int else float(hi)
        if include_hi or hi_open:
            out.append(hi_v)
        out += [hi_v + 1, hi_v * 2] if is_int else [math.nextafter(hi_v, math.inf), hi_v * 2.0]
    return out


def _number_values(key: Key) -> st.SearchStrategy:
    is_int = key.kind == "int"
    if key.path in CHEAP:
        a, b = CHEAP[key.path]
        valid = st.integers(a, b) if is_int else st.floats(a, b)
    elif is_int:
        valid = st.integers(int(key.lo) if key.lo is not None else -(10**6),
                            int(key.hi) if key.hi is not None else 10**6)
    else:
        valid = st.floats(key.lo, key.hi, exclude_min=key.lo_open and key.lo is not None,
                          exclude_max=key.hi_open and key.hi is not None, allow_nan=False, allow_infinity=False)
    edges = _outside(key.lo, key.hi, is_int, key.lo_open, key.hi_open, include_hi=key.path not in CHEAP)
    parts = [valid, st.sampled_from(EXTREMES), *([st.sampled_from(edges)] if edges else [])]
    if is_int:  # integral floats are integers; others are not
        fractions = st.builds(lambda i, f: i + f, st.integers(-(10**6), 10**6), st.sampled_from([0.5, 1e-9, 0.999]))
        parts += [valid.map(float), fractions]
    return st.one_of(*parts)


def _datetime_values() -> st.SearchStrategy:
    offsets = st.integers(-1439, 1439).map(lambda m: timezone(timedelta(minutes=m)))
    zoned = st.builds(
        lambda y, mo, d, h, mi, sep, zone: f"{y:04d}-{mo:02d}-{d:02d}{sep}{h:02d}:{mi:02d} {zone}",
        st.sampled_from([2022, 1, 1899, 1900, 1901, 2199, 2200, 2201, 9999]), st.integers(0, 13),
        st.integers(0, 32), st.integers(0, 25), st.integers(0, 60), st.sampled_from(["T", " "]),
        st.one_of(st.sampled_from(ZONES), st.text(max_size=12)))
    specials = ["2022-03-13T02:30 America/Los_Angeles", "2022-11-06T01:30 America/Los_Angeles",
                "2200-12-31T23:50 UTC", "1900-01-01T00:00 Pacific/Kiritimati", "2022-06-06T00:00:00-07:00",
                "2022-06-06T00:00:00Z", "2022-06-06", "0000-01-01T00:00 UTC", "2022-06-06T00:00 America/Los_Angeles",
                "2200-12-31T23:59:59+14:00", "1900-01-01T00:00:00-23:59"]
    return st.one_of(st.datetimes(timezones=offsets), st.datetimes(), zoned, st.sampled_from(specials),
                     st.dates(), st.times())


def _hours24_values() -> st.SearchStrategy:
    entry = st.floats(0.0, HOURS24_MAX)
    bad_entry = st.one_of(st.sampled_from([-1.0, -1e-300, HOURS24_MAX * 1.5, 1e308, float("nan"), float("inf")]),
                          st.booleans(), st.text(max_size=3))
    return st.one_of(
        st.lists(entry, min_size=24, max_size=24),
        st.builds(lambda x, n: [x] * n, entry, st.sampled_from([0, 1, 23, 25, 48])),
        st.builds(lambda v, i, x: v[:i] + [x] + v[i + 1:], st.lists(entry, min_size=24, max_size=24),
                  st.integers(0, 23), bad_entry),
        st.sampled_from([[0] * 24, [0.0] * 23 + [1e-300], [5e-324] * 24, [HOURS24_MAX] * 24, [[1]] * 24]),
    )


def _table_values() -> st.SearchStrategy:
    leaf = st.one_of(st.integers(-10, 10), st.floats(allow_nan=False), st.text(max_size=5), st.booleans(),
                     st.lists(st.integers(-3, 3), max_size=2))
    return st.lists(st.tuples(st.one_of(st.sampled_from(PARAM_NAMES), st.text(max_size=8)), leaf), max_size=3).map(dict)


def _cohort_values() -> st.SearchStrategy:
    """[[fleet.cohorts]] lists: good and bad names, shares, profiles and fleet keys (flat or nested)."""
    from sim.scenario import COHORT_KEYS

    leaf = st.one_of(st.integers(-10, 10), st.floats(allow_nan=False), st.text(max_size=5), st.booleans(),
                     st.sampled_from(["hw3", "ai5_claimed", "llama-3.2-1b-q4", "l1"]))
    key = st.one_of(st.sampled_from([k[len("fleet."):] for k in COHORT_KEYS]),
                    st.sampled_from(["vehicles", "weight", "chip.serving", "storage.models_gb", "cohorts"]),
                    st.text(max_size=8))
    cohort = st.builds(
        lambda name, share, profile, keys: {"name": name, "share": share, **({"profile": profile} if profile else {}),
                                            **dict(keys)},
        st.one_of(st.from_regex(r"[a-z]{1,6}", fullmatch=True), TEXTS), st.one_of(st.floats(-1, 2), leaf),
        st.sampled_from(["", "personal", "robotaxi", "taxi"]), st.lists(st.tuples(key, leaf), max_size=3))
    return st.one_of(st.lists(cohort, max_size=3), st.builds(lambda c: [dict(c, share=1.0)], cohort),
                     st.lists(st.one_of(leaf, cohort), max_size=2))


def values_for(key: Key) -> st.SearchStrategy:
    """Values for scenario key ``key``: right and wrong types, bounds, extremes, odd text."""
    kind = key.kind
    if kind in ("int", "float"):
        own = _number_values(key)
    elif kind == "bool":
        own = st.booleans()
    elif kind == "str" and key.choices is not None:
        own = st.one_of(st.sampled_from(key.choices), TEXTS)
    elif kind == "str":  # a data file or a built-in name
        own = st.one_of(st.sampled_from(sorted({"", *CARBON_PROFILES})), PATH_TEXTS)
    elif kind == "name":
        own = st.one_of(st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,70}", fullmatch=True), TEXTS)
    elif kind == "policy":
        own = st.one_of(st.sampled_from(policy_names()), st.sampled_from(POLICY_REFS), TEXTS)
    elif kind == "tariff":
        own = st.one_of(st.sampled_from(TARIFF_NAMES), st.sampled_from(["missing.toml", "../x.json", "t.TOML"]),
                        PATH_TEXTS)
    elif kind == "epw":
        own = st.one_of(st.just(""), PATH_TEXTS)
    elif kind == "datetime":
        own = _datetime_values()
    elif kind == "hours24":
        own = _hours24_values()
    elif kind == "table":
        own = _table_values()
    elif kind == "cohorts":
        own = _cohort_values()
    else:  # pragma: no cover - a new kind needs its strategy here
        raise AssertionError(f"no strategy for key kind {kind!r} ({key.path})")
    return st.one_of(own, own, WRONG_TYPES, st.sampled_from(RAW_VALUES))


VALUES = {k.path: values_for(k) for k in KEYS}


def refusal_reason(key: Key, v: Any) -> str | None:
    """Why ``v`` is certainly not an allowed value of ``key`` (by the schema alone), or None."""
    if isinstance(v, Raw):
        return f"{v.label} is no value of any key"
    kind = key.kind
    if kind == "bool":
        return None if isinstance(v, bool) else "not true or false"
    if kind in ("int", "float"):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return "not a number"
        if isinstance(v, float) and not math.isfinite(v):
            return "not finite"
        if kind == "int" and isinstance(v, float) and not v.is_integer():
            return "not an integer"
        if key.lo is not None and (v < key.lo or (key.lo_open and v == key.lo)):
            return f"below {key.lo:g}"
        if key.hi is not None and (v > key.hi or (key.hi_open and v == key.hi)):
            return f"above {key.hi:g}"
        return None
    if kind == "str":
        if not isinstance(v, str):
            return "not a string"
        if key.choices is not None and v not in key.choices:
            return "not one of the choices"
        if key.path == "workload.trace" and v:
            return "no such trace file in the case's folder"
        if key.path == "grid.carbon" and v not in CARBON_PROFILES:
            return "neither a built-in profile nor a carbon file in the case's folder"
        return None
    if kind == "name":
        return None if is_plain_name(v) else "not a plain name"
    if kind == "policy":
        if not isinstance(v, str) or not v:
            return "not a policy reference"
        return None if ":" in v or v in policy_names() else "not a registered policy"
    if kind == "tariff":  # no tariff file exists in the case's folder; a named data file is checked even
        # when no part of the run reads it (sim.scenario: the depot's files, checked when a user names them)
        return None if v in TARIFF_NAMES else "neither a built-in tariff nor a tariff file in the case's folder"
    if kind == "epw":
        return None if v == "" else "no such weather file in the case's folder"
    if kind == "datetime":
        if isinstance(v, datetime):
            if v.tzinfo is None:
                return "a date-time without a zone"
            return None if YEAR_MIN <= v.year <= YEAR_MAX else "a year outside the allowed years"
        return None if isinstance(v, str) else "not a date-time"
    if kind == "hours24":
        ok = (isinstance(v, list) and len(v) == 24
              and all(isinstance(x, (int, float)) and not isinstance(x, bool) and 0 <= x <= HOURS24_MAX for x in v)
              and sum(v) > 0)
        return None if ok else "not 24 numbers from 0 to HOURS24_MAX, not all 0"
    if kind == "table":
        return None if isinstance(v, dict) else "not a table"
    return None


# ---------------------------------------------------------------------------------- scenario runs
def run_scenario(values: dict[str, Any], files: dict[str, bytes] | None = None) -> Outcome:
    """Write BASE + ``values`` (dotted keys) as scenario.toml beside ``files``, run it, check the outcome."""
    files = files or {}
    text = render(nest({**BASE, **values}))
    with workspace() as folder:
        scenario = folder / "scenario.toml"
        scenario.write_text(text, encoding="utf-8")
        for name, content in files.items():
            (folder / name).write_bytes(content)
        _note(f"scenario.toml:\n{text[:3000]}")
        for name, content in files.items():
            _note(f"{name} ({len(content)} bytes):\n{content[:3000]!r}")
        out = folder / "out"
        o = invoke(["run", str(scenario), "--out", str(out), "--no-progress", "--no-report"], RUN_LIMIT_S)
        check_run(o, out, folder, ["scenario.toml", *files])
    return o


@_settings(EXAMPLES["scenario"])
@given(keys=st.lists(st.sampled_from([k.path for k in KEYS]), min_size=1, max_size=3, unique=True), data=st.data())
def test_scenario_keys(keys, data):
    values = {k: data.draw(VALUES[k], label=k) for k in keys}
    o = run_scenario(values)
    for k, v in values.items():
        reason = refusal_reason(KEYS_BY_PATH[k], v)
        if reason is not None:
            assert o.code == 2, f"exit {o.code}: accepted {k} = {_short(v)} ({reason})"


@pytest.mark.parametrize("values", [
    {"fleet.vehicles": 100_000_000},
    {"fleet.robotaxi.vehicles": 100_000_000},
    {"workload.interactive.rate_per_s": 1e7},
    {"workload.batch.rate_per_s": 1e7},
    {"run.days": 3660.0, "run.sample_interval_s": 1.0},
], ids=lambda v: ",".join(f"{k}={v[k]:g}" for k in v))
def test_in_range_values_too_large_to_run_are_refused(values):
    """The top of a size key's range is a run that would exhaust memory: refused at once, not attempted."""
    o = run_scenario(values)
    assert o.code == 2, f"exit {o.code}"


# ---------------------------------------------------------------------------------- data files
LINE_ENDS = ["\n", "\r\n", "mixed"]


def _join(lines: list[str], ending: str, bom: bool, final_newline: bool, blank_tail: int) -> bytes:
    if ending == "mixed":
        text = "".join(line + ("\r\n" if i % 2 else "\n") for i, line in enumerate(lines))
    else:
        text = "".join(line + ending for line in lines)
    if not final_newline and text.endswith("\n"):
        text = text.rstrip("\r\n")
    text += "\n" * blank_tail
    return (("\ufeff" if bom else "") + text).encode("utf-8")


@st.composite
def _layout(draw) -> dict[str, Any]:
    return {"ending": draw(st.sampled_from(LINE_ENDS)), "bom": draw(st.booleans()),
            "final_newline": draw(st.booleans()), "blank_tail": draw(st.sampled_from([0, 0, 1, 3]))}


def _odd(draw) -> bool:
    """True now and then (about one time in ten): make this part of an otherwise valid file odd."""
    return draw(st.sampled_from([False] * 15 + [True]))


def _bad_rows(draw, n: int, kinds: list[str]) -> dict[int, str]:
    """Up to two of the ``n`` data rows, each with a kind of damage."""
    return {draw(st.integers(0, n - 1)): draw(st.sampled_from(kinds)) for _ in range(draw(st.integers(0, 2)))}


TRACE_HEADER = "TIMESTAMP,ContextTokens,GeneratedTokens"
ODD_TRACE_HEADERS = [" TIMESTAMP , ContextTokens ,\tGeneratedTokens", "timestamp,contexttokens,generatedtokens",
                     "TIMESTAMP,ContextTokens", "TIMESTAMP,ContextTokens,GeneratedTokens,Extra", "", "\x00",
                     "\ufeffTIMESTAMP,ContextTokens,GeneratedTokens", "TIMESTAMP;ContextTokens;GeneratedTokens"]
BAD_TOKENS = ["1_000", "١٢٣", "-5", "", "1e3", "0", "000", "+5", " 7 ", "\t8\t", "9" * 30, "99999999999",
              "1.5", "nan", "inf", "0x10", "５", "1 000", "NULL", "4294967297", str(10**7), "9" * 5000]
BAD_STAMPS = ["", "2023-13-01 00:00:00", "2023-02-29 00:00:00", "2023-11-16 24:00:00", "2023-11-16 18:60:00",
              "2023-11-16T18:15:46", "2023-11-16 18:15:46.1234567890", "16/11/2023 18:15", "0001-01-01 00:00:00",
              "9999-12-31 23:59:59", "1899-12-31 23:59:59", "2101-01-01 00:00:00", "x" * 10_000,
              "2023-11-16 18:15:46+00:00", "２０２３-11-16 18:15:46"]
TRACE_DAMAGE = ["bad_prompt", "bad_output", "bad_stamp", "missing", "extra", "long", "backwards", "blank"]
REPLAYS = {
    "plain": {},
    "loop": {"workload.trace_loop": True},
    "loop_fast": {"workload.trace_loop": True, "workload.trace_time_scale": 1e-6},
    "scaled": {"workload.trace_time_scale": 1e-3},
    "stretched": {"workload.trace_time_scale": 1e6},
    "late": {"workload.trace_start_offset_s": 863.9},
    "early": {"workload.trace_start_offset_s": -100.0},
    "far": {"workload.trace_start_offset_s": 3.2e9},
    "long_ago": {"workload.trace_start_offset_s": -1e9, "workload.trace_loop": True},
}


@st.composite
def trace_cases(draw) -> tuple[dict[str, Any], dict[str, bytes]]:
    """An Azure trace (good rows, up to two damaged ones) and the scenario keys that replay it."""
    header = draw(st.sampled_from(ODD_TRACE_HEADERS)) if _odd(draw) else TRACE_HEADER
    year = draw(st.sampled_from([1, 1899, 1900, 2100, 2101, 9999])) if _odd(draw) else 2023
    t = datetime(year, 11, 16, 18, 15, 46)
    frac = draw(st.sampled_from(["", ".5", ".123456789", ".1234567890"]))  # the last has one digit too many
    replay = draw(st.sampled_from(sorted(REPLAYS, key=lambda k: k != "plain")))
    # loop_fast repeats a trace of at most 4 s every few microseconds: 10**8 copies and more, refused on any
    # machine; other replays stay cheap (a valid trace replayed ~10**7 times would only be slow, not wrong)
    steps = [0.0, 0.5] if replay == "loop_fast" else [1.0, 0.0, 0.5, 7.25, 60.0, 300.0]
    n = draw(st.integers(1, 8))
    damage = _bad_rows(draw, n, TRACE_DAMAGE)
    lines = [header]
    for i in range(n):
        kind = damage.get(i, "good")
        t += timedelta(seconds=draw(st.sampled_from(steps)))
        if kind == "backwards":
            t -= timedelta(seconds=draw(st.sampled_from([1e-6, 1.0, 86400.0])))
        stamp = f"{t.year:04d}-{t.month:02d}-{t.day:02d} {t.hour:02d}:{t.minute:02d}:{t.second:02d}{frac}"
        prompt, output = str(draw(st.integers(1, 4000))), str(draw(st.integers(1, 800)))
        if kind == "bad_prompt":
            prompt = draw(st.sampled_from(BAD_TOKENS))
        elif kind == "bad_output":
            output = draw(st.sampled_from(BAD_TOKENS))
        elif kind == "bad_stamp":
            stamp = draw(st.sampled_from(BAD_STAMPS))
        fields = [stamp, prompt, output]
        if kind == "missing":
            fields.pop(draw(st.integers(0, 2)))
        elif kind == "extra":
            fields.append(draw(st.sampled_from(["", "x", "1"])))
        elif kind == "long":
            fields[draw(st.integers(0, 2))] += "7" * draw(st.sampled_from([1000, 100_000]))
        lines.append("" if kind == "blank" else ",".join(fields))
    data = _join(lines, **draw(_layout()))
    if _odd(draw):
        data += b"2023-11-16 18:20:00,\xff\xfe,1\n"  # not UTF-8
    return {"workload.trace": "trace.csv", **REPLAYS[replay]}, {"trace.csv": data}


@_settings(EXAMPLES["trace"])
@given(case=trace_cases())
def test_trace_files(case):
    values, files = case
    run_scenario(values, files)


RUN_START_UTC = datetime(2022, 6, 6, 7, 0, tzinfo=timezone.utc)  # the base scenario's start
GOOD_CARBON = st.floats(0.0, 1500.0).map(lambda x: f"{x:.6g}")
BAD_CARBON = ["-1", "-0", "nan", "NaN", "inf", "1e309", "9" * 400, "", "abc", "1_0", "10001", "1e4", "0x10",
              "١٢", " 5 ", "1e-400", "-1e-300", "5,5"]
BAD_CAL_STAMPS = ["2022-13-01T00:00", "yesterday", "", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59",
                  "2262-04-12T00:00:00", "1677-09-21T00:00:00", "1899-12-31T23:00:00+00:00", "2022-06-06T25:00"]
BAD_OFFSETS = ["nan", "inf", "", "1e400", "-1e11", "1_0", "١"]
#: carbon columns and their unit in g/kWh
GOOD_CARBON_COLUMNS = {"carbon_g_per_kwh": 1.0, "carbon [gCO2/kWh]": 1.0, "co2 (lb/MWh)": 0.45359237,
                       "carbon_kg_per_kwh": 1000.0, "carbon_t_per_mwh": 1000.0}
ODD_CARBON_COLUMNS = ["price_usd_per_kwh", "power_kw", "value", "carbon_g_per_kwh_x", "x" * 100 + "_g_per_kwh",
                      "per_g_per_kwh", "carbon [%]", "", "carbon_g_per_kwh,extra"]
ODD_TIME_COLUMNS = ["Time", "date", "", "time_ms", "TIMESTAMP"]
CARBON_DAMAGE = ["value", "stamp", "short", "extra", "backwards", "repeat"]


def _stamp(t: datetime, fmt: str) -> str:
    if fmt == "z":
        return t.strftime("%Y-%m-%dT%H:%M:%SZ")
    if fmt == "naive":
        return t.replace(tzinfo=None).isoformat()
    if fmt == "space":
        return t.isoformat(sep=" ")
    if fmt == "local":
        return t.astimezone(timezone(timedelta(hours=-7))).isoformat()
    return t.isoformat()


@st.composite
def carbon_cases(draw) -> tuple[dict[str, Any], dict[str, bytes]]:
    """An EIA-930 or a time,value carbon CSV (up to two damaged rows), its span maybe missing the run."""
    form = draw(st.sampled_from(["calendar", "eia", "offset"]))
    fmt = draw(st.sampled_from(["iso", "z", "naive", "space", "local"]))
    step = draw(st.sampled_from([3600.0, 900.0, 1.0, 1e-3] if _odd(draw) else [3600.0, 900.0, 86400.0]))
    n = 1 if _odd(draw) else draw(st.integers(2, 6))
    damage = _bad_rows(draw, n, CARBON_DAMAGE)
    # a span that covers the run, or (now and then) one that starts after it or ends before it
    lead = draw(st.sampled_from([600, 3600, 86400, -86400, -86400 * 365 * 100, 86400 * 365 * 150])) \
        if _odd(draw) else -draw(st.sampled_from([0.0, 1.0, step]))
    t = RUN_START_UTC + timedelta(seconds=lead)
    offset = draw(st.sampled_from([600.0, 1e9, 2e10])) if _odd(draw) else float(lead)
    if form == "eia":
        cols = draw(st.permutations(["timestamp", "avg_CI", *draw(st.sampled_from([[], ["BA"], ["BA", "note"]]))]))
        header = ",".join(cols)
    else:
        time_col = "time_s" if form == "offset" else draw(st.sampled_from(["time", "timestamp"]))
        value_col = draw(st.sampled_from(sorted(GOOD_CARBON_COLUMNS)))
        if _odd(draw):
            value_col = draw(st.sampled_from(ODD_CARBON_COLUMNS))
        if _odd(draw):
            time_col = draw(st.sampled_from(ODD_TIME_COLUMNS))
        header = f"{time_col},{value_col}"
    lines = [header]
    for i in range(n):
        kind = damage.get(i, "good")
        if kind == "backwards":
            t -= timedelta(seconds=2 * step)
            offset -= 2 * step
        stamp = f"{offset:g}" if form == "offset" else _stamp(t, fmt)
        if kind == "stamp":
            stamp = draw(st.sampled_from(BAD_OFFSETS if form == "offset" else BAD_CAL_STAMPS))
        value = draw(st.sampled_from(BAD_CARBON)) if kind == "value" else draw(GOOD_CARBON)
        if form != "eia" and value_col in GOOD_CARBON_COLUMNS and kind != "value":  # a plausible value in its unit
            value = f"{float(value) / GOOD_CARBON_COLUMNS[value_col]:.6g}"
        if form == "eia":
            cells = {"timestamp": stamp, "avg_CI": value, "BA": "CISO", "note": "x"}
            fields = [cells[c] for c in cols]
        else:
            fields = [stamp, value]
        if kind == "short":
            fields = fields[:-1]
        elif kind == "extra":
            fields.append("1")
        lines.append(",".join(fields))
        if kind != "repeat":
            t += timedelta(seconds=step)
            offset += step
    data = _join(lines, **draw(_layout()))
    name = "carbon.txt" if _odd(draw) else "carbon.csv"
    return {"grid.carbon": name}, {name: data}


@_settings(EXAMPLES["carbon"])
@given(case=carbon_cases())
def test_carbon_files(case):
    values, files = case
    run_scenario(values, files)


# The periods of these plans cover every (month, weekday, hour) exactly once; a mutation may break that.
PLANS = [
    [{"hours": "all"}],
    [{"hours": "16-21"}, {"hours": "21-16"}],
    [{"hours": list(range(12))}, {"hours": "12-24"}],
    [{"hours": "all", "weekdays": "weekdays"}, {"hours": "all", "weekdays": ["sat", "sun"]}],
    [{"hours": "all", "months": "jun-sep"}, {"hours": "all", "months": "oct-may"}],
]
PERIOD_FIELDS = {
    "price_usd_per_kwh": [0, 0.25, -0.1, 1000, 1000.0001, 1e308, 5e-324, "0.2", True, float("nan"), float("inf"),
                          Raw(BIG, "10**5000"), Raw("1e99999", "1e99999"), Raw("0." + "0" * 4999 + "1", "5000-digit")],
    "hours": [24, -1, 23.0, True, "0-24", "21-16", "0-0", "25-3", "a-b", "-", [], [0, 0], "ALL", " all ",
              ["0-12", "12-24"], "16 - 21", "1-2-3", [[1]], {"a": 1}, Raw(BIG, "10**5000")],
    "weekdays": [7, -1, "mon-fri", "fri-mon", "mon-mon", "xyz", "weekends", "Sat", [], [0, "mon"], 1.5],
    "months": [0, 13, 1, "jan-dec", "oct-may", "jun-sep", "JUN", [], [1, 1], "13-14", 12.0],
    "name": ["", " ", "x" * 80, "x" * 81, "tab\tname", "é名", 5, "\x00"],
    "surplus": ["value"],
}
CHARGE_FIELDS = {
    "usd_per_kw": [0, 1e4, 10000.5, -1, 1e308, "20", float("nan"), Raw(BIG, "10**5000")],
    "interval_s": [900.0, 1, 1.0, 3600, 0.5, 0, -900, 7, 1e-300, 5e-324, 3600.0000001, 1e308, float("nan"),
                   float("inf"), "900", True, 7200],
    "hours": ["16-21", 24, [], "0-0"],
    "months": [13, "jun-sep"],
    "name": ["", "x" * 81],
    "surplus": [1],
}
TOP_FIELDS = {
    "fixed_usd_per_day": [0, 0.79, 1e5, 1e5 + 1, -1, float("nan"), 1e308, "1", Raw(BIG, "10**5000")],
    "source": ["", "x" * 10_000, 5, ["a"]],
    "name": ["", "x" * 81, "\x00", 5, {"a": 1}],
    "periods": [[], {}, 5, [1], [[]]],
    "demand_charges": [[], {}, 5, [1]],
    "surplus": [1],
}
JSON_LEAVES = st.one_of(st.none(), st.booleans(), st.integers(-(10**20), 10**20), st.floats(), st.text(max_size=8))
TOML_LEAVES = st.one_of(st.booleans(), st.integers(-(10**20), 10**20), st.floats(), st.text(max_size=8))


def _random_doc(leaves: st.SearchStrategy) -> st.SearchStrategy:
    inner = st.recursive(leaves, lambda c: st.one_of(
        st.lists(c, max_size=3), st.lists(st.tuples(st.text(max_size=6), c), max_size=3).map(dict)), max_leaves=12)
    keys = st.one_of(st.sampled_from(["name", "source", "fixed_usd_per_day", "periods", "demand_charges"]),
                     st.text(max_size=6))
    return st.lists(st.tuples(keys, inner), max_size=4).map(dict)


_GOOD_PERIOD = '{"name": "p", "price_usd_per_kwh": 0.1, "hours": "all"}'
RAW_TARIFFS = {
    "toml": ["", "name = 'x'\nperiods = " + "[" * 5000 + "]" * 5000,
             "name = 'x'\nperiods = [{hours = 'all', name = 'p', price_usd_per_kwh = " + BIG + "}]", "\x00",
             "name = 'x'\r\n[[periods]]\r\nname = 'p'\r\nprice_usd_per_kwh = 0.1\r\nhours = 'all'\r\n",
             "[[periods]]\n[[periods]]\n", "periods = 1", "name = 'x'\nname = 'y'\n"],
    "json": ["", "[" * 100_000 + "]" * 100_000, "null", "1", "[]", '{"name": "x", "periods": ' + "[" * 5000
             + "]" * 5000 + "}", '{"name": "x", "fixed_usd_per_day": ' + BIG + ', "periods": [' + _GOOD_PERIOD + "]}",
             '\ufeff{"name": "x", "periods": [' + _GOOD_PERIOD + "]}",
             '{"name": "x", "periods": [' + _GOOD_PERIOD.replace("0.1", "NaN") + "]}",
             '{"name": "x", "periods": [' + _GOOD_PERIOD.replace("0.1", "1e99999") + "]}",
             '{"name": "x", "name": "y", "periods": [' + _GOOD_PERIOD + "]}"],
}


@st.composite
def tariff_cases(draw) -> tuple[dict[str, Any], dict[str, bytes]]:
    """A tariff file (TOML or JSON): a valid plan with up to two odd fields, a random structure or raw text."""
    fmt = draw(st.sampled_from(["toml", "json"]))
    mode = draw(st.sampled_from(["plan", "plan", "plan", "plan", "random", "raw"]))
    if mode == "raw":
        text = draw(st.sampled_from(RAW_TARIFFS[fmt]))
    elif mode == "random":
        text = render(draw(_random_doc(TOML_LEAVES if fmt == "toml" else JSON_LEAVES)), fmt)
    else:
        periods = [{"name": f"p{i}", "price_usd_per_kwh": draw(st.floats(0.0, 1.0)), **window}
                   for i, window in enumerate(draw(st.sampled_from(PLANS)))]
        doc: dict[str, Any] = {"name": "fuzz", "periods": periods}
        if draw(st.booleans()):
            doc["demand_charges"] = [{"name": "max", "usd_per_kw": draw(st.floats(0.0, 100.0)),
                                      "interval_s": draw(st.sampled_from([900, 60, 3600, 1]))}]
        if draw(st.booleans()):
            doc["fixed_usd_per_day"] = draw(st.floats(0.0, 100.0))
        for _ in range(draw(st.integers(0, 2))):
            where = draw(st.sampled_from(["period", "charge", "top"]))
            if where == "period":
                field = draw(st.sampled_from(sorted(PERIOD_FIELDS)))
                periods[draw(st.integers(0, len(periods) - 1))][field] = draw(st.sampled_from(PERIOD_FIELDS[field]))
            elif where == "charge" and isinstance(doc.get("demand_charges"), list) and doc["demand_charges"] \
                    and isinstance(doc["demand_charges"][0], dict):
                field = draw(st.sampled_from(sorted(CHARGE_FIELDS)))
                doc["demand_charges"][0][field] = draw(st.sampled_from(CHARGE_FIELDS[field]))
            else:
                field = draw(st.sampled_from(sorted(TOP_FIELDS)))
                doc[field] = draw(st.sampled_from(TOP_FIELDS[field]))
        if _odd(draw):
            del doc[draw(st.sampled_from(["name", "periods"]))]
        text = render(doc, fmt)
    suffix = draw(st.sampled_from([fmt] * 8 + ["toml" if fmt == "json" else "json", fmt.upper()]))
    key = draw(st.sampled_from(["grid.tariff"] * 3 + ["fleet.robotaxi.depot.tariff"]))
    name = f"tariff.{suffix}"
    values: dict[str, Any] = {key: name}
    if key == "fleet.robotaxi.depot.tariff":
        values["fleet.robotaxi.vehicles"] = 2
    return values, {name: text.encode("utf-8")}


@_settings(EXAMPLES["tariff"])
@given(case=tariff_cases())
def test_tariff_files(case):
    values, files = case
    run_scenario(values, files)


# ---------------------------------------------------------------------------------- sweeps and tunes
TINY_SET = {"run.days": 0.01, "fleet.vehicles": 5, "report.figures": False}
#: written beside every study file: ``scenario = "scenario.toml"`` names a tiny scenario
STUDY_FILES = {"scenario.toml": render(nest(TINY_SET)).encode("utf-8")}
SHARE_KEYS = ["fleet.opt_in_share", "fleet.away_connectivity", "fleet.workplace_charging_share",
              "fleet.itinerary.commuter_share", "fleet.home_charger_share"]
METRICS = ["co2_kg.total", "jobs.slo_attainment", "cost_usd.electricity", "jobs.latency_s.p95", "fleet.trips_impacted",
           "jobs.arrived"]
BAD_METRICS = ["no.such.metric", "jobs", "seed", "", "jobs..arrived", "../x", "jobs.latency_s", "fleet"]
ODD_NAMES = ["a\nb", "a\x1b[2Jb", "a\u2028b", "a\x00b", "a\tb", "a\x85b", "é名"]  # names a message must quote
METRIC_NAMES = st.one_of(st.sampled_from(METRICS + BAD_METRICS), st.sampled_from(ODD_NAMES), st.text(max_size=8))
KEY_NAMES = st.one_of(st.sampled_from([k.path for k in KEYS]),
                      st.sampled_from(["run.seed", "no.such.key", "fleet", "", "dispatch.params.d", *ODD_NAMES]),
                      st.text(max_size=10))
SCENARIO_REFS = ["scenario.toml", "missing.toml", "../x.toml", "", 5, "/etc/passwd", ".", "study.toml", "/dev/zero",
                 "x" * 5000, "/proc/self/status"]
COUNTS = [0, -1, 1.5, 2.0, "2", True, 10**30, 2**64, Raw(BIG, "10**5000"), Raw("nan", "nan"), [1]]
SEED_VALUES = [2**32, 2**63, 2**64, 2**200, -1, 1.5, "0", Raw(BIG, "10**5000"), Raw("0x" + "f" * 5000, "0xf...f")]


def _value(draw, key: str) -> Any:
    return draw(VALUES[key]) if key in VALUES else draw(st.one_of(WRONG_TYPES, st.sampled_from(RAW_VALUES)))


def _odd_set(draw, doc: dict[str, Any], head: dict[str, Any]) -> None:
    """Break [set] (always refused), add a generated key to it, or drop it when a scenario file is named."""
    kind = draw(st.sampled_from(["extra", "broken", "drop"]))
    if kind == "extra":
        key = draw(KEY_NAMES)
        if isinstance(doc.get("set"), dict):
            doc["set"] = {**doc["set"], key: _value(draw, key)}
    elif kind == "broken":
        doc["set"] = draw(st.sampled_from([5, [1], "run.days=1", {**TINY_SET, "run.seed": 3},
                                           {**TINY_SET, "nope": 1}]))
    elif head.get("scenario") == "scenario.toml":
        doc.pop("set", None)


def _huge_axes(draw) -> tuple[dict[str, list[float]], str]:
    """Axes far too large to expand with 10,000 seeds (>= 5e7 points), described by their size."""
    n_axes = draw(st.integers(1, 3))
    n = draw(st.sampled_from([5000, 20_000])) if n_axes == 1 else draw(st.sampled_from([100, 300]))
    axes = {SHARE_KEYS[i]: [round((j + 1) / (n + 1), 9) for j in range(n)] for i in range(n_axes)}
    return axes, f"huge: {n_axes} axes x {n} values x 10000 seeds"


VALID_AXES = {
    "fleet.opt_in_share": [0.2, 0.8],
    "dispatch.policy": ["random", "least_loaded"],
    "workload.interactive.rate_per_s": [0.2, 0.5],
    "grid.charging.strategy": ["immediate", "off_peak"],
    "fleet.chip.preset": ["hw4", "future_1kw"],
}
SWEEP_HEAD = {
    "name": st.one_of(TEXTS, st.sampled_from(["study", "a/b", "..", ".hidden", "x" * 65])),
    "scenario": st.sampled_from(SCENARIO_REFS),
    "seeds": st.sampled_from(COUNTS + [10_001]),
    "root_seed": st.sampled_from(SEED_VALUES),
    "combine": st.one_of(st.sampled_from(["zip", "Product", "", 1]), TEXTS),
    "metrics": st.one_of(st.lists(METRIC_NAMES, max_size=3),
                         st.sampled_from([METRICS[0], [["x"]], [5], ["co2_kg.total", "co2_kg.total"]])),
    "figures": st.sampled_from(["yes", 1, "false", [False]]),
    "surplus": st.just(1),
}
SWEEP_MUTATIONS = ["head", "set", "axis", "empty_axis", "dup_axis", "scalar_axis", "set_and_axis", "seed_axis",
                   "zip_unequal", "huge", "unknown_table", "policy_params", "policy_params"]


@st.composite
def sweep_cases(draw) -> tuple[str, str]:
    """A sweep file: a valid one of at most 8 tiny points, with up to two mutations; and a label."""
    seeds = draw(st.sampled_from([1, 2]))
    head: dict[str, Any] = {"name": "fz", "seeds": seeds}
    if draw(st.booleans()):
        head["root_seed"] = draw(st.integers(0, 2**32))
    if draw(st.booleans()):
        head["metrics"] = draw(st.lists(st.sampled_from(METRICS), min_size=1, max_size=2, unique=True))
    if draw(st.booleans()):
        head["scenario"] = "scenario.toml"
    n_axes = draw(st.integers(0, 2 if seeds == 1 else 1))
    keys = draw(st.lists(st.sampled_from(sorted(VALID_AXES)), min_size=n_axes, max_size=n_axes, unique=True))
    axes = {k: VALID_AXES[k][: draw(st.integers(1, 2))] for k in keys}
    doc: dict[str, Any] = {"sweep": head, "set": dict(TINY_SET), "axes": axes}
    label = "small"
    for mutation in draw(st.lists(st.sampled_from(SWEEP_MUTATIONS), max_size=2)):
        if mutation == "head":
            field = draw(st.sampled_from(sorted(SWEEP_HEAD)))
            head[field] = draw(SWEEP_HEAD[field])
        elif mutation == "set":
            _odd_set(draw, doc, head)
        elif mutation == "axis":
            key = draw(KEY_NAMES)
            axes[key] = [_value(draw, key) for _ in range(draw(st.integers(1, 2)))]
        elif mutation == "empty_axis":
            axes[draw(st.sampled_from(sorted(VALID_AXES)))] = []
        elif mutation == "dup_axis":
            key = draw(KEY_NAMES)
            value = _value(draw, key)
            axes[key] = [value, value]
        elif mutation == "scalar_axis":
            key = draw(KEY_NAMES)
            axes[key] = _value(draw, key)
        elif mutation == "set_and_axis":
            axes["run.days"] = [0.01, 0.02]
        elif mutation == "seed_axis":
            axes["run.seed"] = [1, 2]
        elif mutation == "zip_unequal":
            head["combine"] = "zip"
            axes.update({"fleet.opt_in_share": [0.2], "workload.interactive.rate_per_s": [0.2, 0.5]})
        elif mutation == "policy_params":  # policy parameters in [set], over an axis of policies
            if isinstance(doc.get("set"), dict):
                doc["set"][f"dispatch.params.{draw(st.sampled_from(PARAM_NAMES))}"] = draw(st.sampled_from([2, 0.5]))
            axes["dispatch.policy"] = draw(st.lists(st.sampled_from(policy_names()), min_size=1, max_size=2,
                                                    unique=True))
        elif mutation == "huge":
            huge, label = _huge_axes(draw)
            head.update({"seeds": 10_000, "combine": "zip" if len(huge) == 1 else "product"})
            axes.clear()
            axes.update(huge)
        else:
            doc[draw(st.sampled_from(["runs", "Sweep", "axis"]))] = {"a": 1}
    if not axes and draw(st.booleans()):
        del doc["axes"]
    return render(doc), label


def run_study(command: str, text: str, label: str, extra: list[str]) -> Outcome:
    """Write study.toml (and the tiny scenario.toml beside it), run ``fleetsim COMMAND``, check the outcome."""
    with workspace() as folder:
        study = folder / "study.toml"
        study.write_text(text, encoding="utf-8")
        for name, content in STUDY_FILES.items():
            (folder / name).write_bytes(content)
        _note(f"study.toml ({label}):\n{text[:3000]}")
        out = folder / "out"
        o = invoke([command, str(study), "--out", str(out), "--no-progress", *extra], STUDY_LIMIT_S)
        (check_sweep if command == "sweep" else check_tune)(o, out, folder, ["study.toml", *STUDY_FILES])
    if label.startswith("huge"):
        assert o.code == 2, f"exit {o.code}: ran a {command} of {label}"
    return o


INPUT_ERRORS = ("FleetsimInputError", "ScenarioError", "DataFileError")


def check_sweep(o: Outcome, out: Path, folder: Path, inputs: list[str]) -> None:
    """``fleetsim sweep``: exit 0 (every point ran), 1 (failures.csv lists the failed points) or 2 (refused)."""
    if _refused(o, out, folder, inputs, "sweep", ok_codes=(0, 1)):
        return
    check_finite_json(out / "sweep.json")
    with (out / "failures.csv").open(encoding="utf-8", newline="") as f:
        failures = list(csv.DictReader(f))
    if o.code == 1:
        assert failures, f"exit 1 but failures.csv lists no failed point; stderr: {_tail(o.stderr)}"
        _note(f"failed points: {[r.get('error') for r in failures][:3]}")
        # every configuration is checked before anything runs (sim.studies.sweep): bad input is refused,
        # not a failed point
        bad_input = [r["error"] for r in failures if str(r.get("error")).split(":")[0] in INPUT_ERRORS]
        assert not bad_input, f"points failed on input the sweep's checks let through: {bad_input[:2]}"
    else:
        assert not failures, f"exit 0 but failures.csv lists {len(failures)} failed points"
    for summary in sorted((out / "points").glob("*/summary.json")):
        check_finite_json(summary)


@_settings(EXAMPLES["sweep"])
@given(case=sweep_cases())
def test_sweep_files(case):
    text, label = case
    run_study("sweep", text, label, ["--no-report"])


VALID_PARAMS = {
    "fleet.opt_in_share": {"low": 0.2, "high": 0.8},
    "fleet.vehicles": {"low": 1, "high": 4, "int": True},
    "workload.interactive.slo_s": {"low": 1.0, "high": 100.0, "log": True},
    "fleet.chip.preset": {"choices": ["hw4", "future_1kw"]},
    "dispatch.params.w_load": {"low": 0.0, "high": 5.0},  # with the weighted policy (in [set])
    "dispatch.params.candidates": {"low": 1, "high": 4, "int": True},
}
PARAM_KEYS = [*VALID_PARAMS, "dispatch.params.d", "dispatch.policy", "run.seed", "no.such.key",
              "fleet.battery.charge_limit_soc", "fleet.robotaxi.vehicles", "run.days"]
BOUNDS = [0, 0.1, 0.5, 1, 2, -1, 1e308, -1e308, 5e-324, 1e-300, 1.5, 10**30, "1", True, float("nan"),
          float("inf"), Raw(BIG, "10**5000"), [1]]
TUNE_HEAD = {
    "name": st.one_of(TEXTS, st.sampled_from(["study", "a/b", "..", ".hidden", "x" * 65])),
    "scenario": st.sampled_from(SCENARIO_REFS),
    "trials": st.sampled_from(COUNTS),
    "seeds": st.sampled_from(COUNTS),
    "parallel": st.sampled_from(COUNTS),
    "root_seed": st.sampled_from(SEED_VALUES),
    "sampler_seed": st.sampled_from(SEED_VALUES),
    "pareto": st.one_of(st.lists(METRIC_NAMES, max_size=3), st.sampled_from(["x", 5, [5, 6]])),
    "surplus": st.just(1),
}
TUNE_MUTATIONS = ["head", "set", "param", "objective", "no_params", "no_objective", "constraint", "constraints_table",
                  "huge", "unknown_table", "policy", "odd_name"]


@st.composite
def _param_spec(draw) -> Any:
    kind = draw(st.sampled_from(["range", "range", "choices", "odd"]))
    if kind == "range":
        spec = {"low": draw(st.sampled_from(BOUNDS)), "high": draw(st.sampled_from(BOUNDS))}
        for flag in ("int", "log"):
            if draw(st.booleans()):
                spec[flag] = draw(st.sampled_from([True, False, 1, "yes"]))
        return spec
    if kind == "choices":
        return {"choices": draw(st.one_of(
            st.lists(st.one_of(st.sampled_from(["hw4", "future_1kw", "least_loaded", "random", "power_of_d"]),
                               st.sampled_from(BOUNDS)), max_size=3),
            st.sampled_from([[], "hw4", [[1]], [{"a": 1}], ["hw4", "hw4"]])))}
    return draw(st.sampled_from([5, "x", [1, 2], {}, {"low": 0.1}, {"low": 0.1, "high": 0.9, "step": 0.1},
                                 {"choices": ["hw4"], "low": 0}]))


@st.composite
def tune_cases(draw) -> tuple[str, str]:
    """A tune file: a valid one of at most 4 tiny runs, with up to two mutations; and a label."""
    head: dict[str, Any] = {"name": "fz", "trials": draw(st.sampled_from([1, 2]))}
    head["seeds"] = draw(st.sampled_from([1, 2])) if head["trials"] == 1 else 1
    for key, values in (("root_seed", st.integers(0, 2**32)), ("sampler_seed", st.integers(0, 2**32 - 1)),
                        ("parallel", st.sampled_from([1, 2])), ("scenario", st.just("scenario.toml"))):
        if draw(st.booleans()):
            head[key] = draw(values)
    params = {k: VALID_PARAMS[k] for k in draw(st.lists(st.sampled_from(sorted(VALID_PARAMS)), min_size=1,
                                                         max_size=2, unique=True))}
    set_table = dict(TINY_SET)
    if any(k.startswith("dispatch.params.") for k in params):
        set_table["dispatch.policy"] = "weighted"
    objective = {m: draw(st.floats(-10.0, 10.0)) for m in draw(st.lists(st.sampled_from(METRICS), min_size=1,
                                                                        max_size=2, unique=True))}
    doc: dict[str, Any] = {"tune": head, "set": set_table, "params": params, "objective": objective}
    if draw(st.booleans()):
        doc["constraints"] = [{"metric": draw(st.sampled_from(METRICS)), "max": draw(st.floats(0.0, 1e6))}]
    label = "small"
    for mutation in draw(st.lists(st.sampled_from(TUNE_MUTATIONS), max_size=2)):
        if mutation == "head":
            field = draw(st.sampled_from(sorted(TUNE_HEAD)))
            head[field] = draw(TUNE_HEAD[field])
        elif mutation == "set":
            _odd_set(draw, doc, head)
        elif mutation == "param":
            params[draw(st.one_of(st.sampled_from(PARAM_KEYS + ODD_NAMES), st.text(max_size=6)))] = draw(_param_spec())
        elif mutation == "objective":
            objective[draw(METRIC_NAMES)] = draw(st.sampled_from(
                [0, 1e308, -1e308, True, "1", [1], Raw("nan", "nan"), Raw("inf", "inf"), Raw(BIG, "10**5000")]))
        elif mutation == "no_params":
            doc["params"] = {}
        elif mutation == "no_objective":
            doc["objective"] = {}
        elif mutation == "constraint":
            row = {"metric": draw(st.one_of(METRIC_NAMES, st.just(5)))}
            for bound in ("min", "max", "step"):
                if draw(st.booleans()):
                    row[bound] = draw(st.sampled_from([0, 1, 1e308, -1e308, "1", Raw("nan", "nan"),
                                                       Raw(BIG, "10**5000")]))
            doc["constraints"] = [*doc.get("constraints", []), row]
        elif mutation == "constraints_table":
            doc["constraints"] = {"metric": "co2_kg.total", "max": 1}
        elif mutation == "huge":
            which = draw(st.sampled_from(["seeds", "parallel"]))
            head.update({"seeds": 10**9} if which == "seeds" else {"trials": 10**9, "parallel": 10**9})
            label = f"huge: {which} = 10**9"
        elif mutation == "odd_name":  # a name with control characters where a metric or a key goes
            name = draw(st.sampled_from(ODD_NAMES))
            where = draw(st.sampled_from(["objective", "params", "constraints", "pareto"]))
            if where == "objective":
                objective[name] = 1.0
            elif where == "params":
                params[name] = {"low": 0.1, "high": 0.9}
            elif where == "constraints":
                doc["constraints"] = [{"metric": name, "max": 1.0}]
            else:
                head["pareto"] = [METRICS[0], name]
        elif mutation == "policy":
            if isinstance(doc.get("set"), dict):
                doc["set"]["dispatch.policy"] = draw(st.sampled_from(["random", "power_of_d", "weighted"]))
        else:
            doc[draw(st.sampled_from(["trials", "Tune", "param"]))] = {"a": 1}
    return render(doc), label


def check_tune(o: Outcome, out: Path, folder: Path, inputs: list[str]) -> None:
    """``fleetsim tune``: exit 0 with finite best.json and tune.json, or a clean refusal."""
    if _refused(o, out, folder, inputs, "tune", ok_codes=(0,)):
        return
    for name in ("best.json", "tune.json"):
        check_finite_json(out / name)
    assert (out / "trials.csv").is_file(), "trials.csv was not written"


@pytest.mark.slow  # ~22 s alone
@pytest.mark.skipif(importlib.util.find_spec("optuna") is None, reason="Optuna is an optional extra (fleetsim[tune])")
@_settings(EXAMPLES["tune"])
@given(case=tune_cases())
def test_tune_files(case):
    text, label = case
    run_study("tune", text, label, [])


def test_example_budget():
    """The generated examples of this file number at least 500 (the CI budget)."""
    assert sum(EXAMPLES.values()) >= 500
