"""Guards for what users hand to fleetsim: data file paths, names, and quoting file contents.

A scenario file is data. The data files it names (traces, tariffs, carbon signals, weather) must
be regular files of at most :data:`MAX_DATA_FILE_BYTES`, outside the kernel's pseudo file systems
(``/dev``, ``/proc``, ``/sys``); names that become folder names are plain names, never paths; and
an error message shows at most :data:`QUOTE_CHARS` characters of what a file holds.
"""
from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from sim.core.errors import FleetsimInputError

#: largest data file fleetsim reads, bytes (2 GiB: the full Azure 2023 week traces are well below)
MAX_DATA_FILE_BYTES = 2 * 1024**3
#: largest TOML configuration file (scenario, sweep, tune) fleetsim reads, bytes
MAX_TOML_FILE_BYTES = 16 * 1024**2
#: most characters of a file's content (or of any user value) quoted in an error message
QUOTE_CHARS = 120  # a path several folders deep still shows whole
#: kernel pseudo file systems: never data
PSEUDO_ROOTS = (Path("/dev"), Path("/proc"), Path("/sys"))

#: the command that lists the public data sets (sim.datasets), named when a data file of their
#: formats (CSV traces and signals, EPW weather) is missing
DATA_LIST_COMMAND = "fleetsim data list"
DATA_SET_SUFFIXES = (".csv", ".epw")

NAME_ALLOWED = "1 to 64 letters, digits, '.', '_' or '-', not starting with '.'"
_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")


def quote(value: object, limit: int = QUOTE_CHARS) -> str:
    """``repr`` of ``value`` in at most about ``limit`` characters (more is cut and marked '...').

    A string is cut so that its escaped form fits (a control character shows as ``\\x01``, four
    characters for one), and the cut is followed by its full length.
    """
    if isinstance(value, str):
        width = 0
        for n, char in enumerate(value):
            width += len(repr(char)) - 2
            if width > limit:
                return repr(value[:n]) + f"... ({len(value):,} characters)"
        return repr(value)
    text = repr(value)
    if len(text) > limit:
        return text[:limit] + f"... ({len(text):,} characters)"
    return text


def show_path(path: object, limit: int = 200) -> str:
    """A path for a message: as it is when printable and at most ``limit`` characters, else quoted
    (escaped, cut to :data:`QUOTE_CHARS` characters)."""
    text = str(path)
    return text if text.isprintable() and len(text) <= limit else quote(text)


def is_plain_name(name: object) -> bool:
    """True if ``name`` may be a folder name: 1-64 of ``[A-Za-z0-9._-]``, not starting with a dot."""
    return isinstance(name, str) and bool(_NAME.fullmatch(name)) and not name.startswith(".")


def check_data_file(path: str | Path, what: str, *, max_bytes: int = MAX_DATA_FILE_BYTES) -> Path:
    """``path`` as a readable data file, or a one-line :class:`FleetsimInputError` naming ``what``.

    ``what`` names the key or role (``grid.carbon``, ``workload.trace``). Allowed: an existing
    regular file (symbolic links are followed) of at most ``max_bytes`` (default
    :data:`MAX_DATA_FILE_BYTES`; :data:`MAX_TOML_FILE_BYTES` for configuration files), not under
    ``/dev``, ``/proc`` or ``/sys``.
    """
    p = Path(path)
    shown = quote(str(path))
    try:
        real = p.resolve()
        st = os.stat(p)
    except FileNotFoundError:
        hint = f" (public data sets: {DATA_LIST_COMMAND})" if p.suffix.lower() in DATA_SET_SUFFIXES else ""
        raise FleetsimInputError(f"{what} = {shown}: file not found{hint}") from None
    except (OSError, RuntimeError, ValueError) as exc:
        raise FleetsimInputError(f"{what} = {shown}: cannot read ({type(exc).__name__}: "
                                 f"{quote(str(exc))})") from None
    if any(real == root or root in real.parents for root in PSEUDO_ROOTS) or not stat.S_ISREG(st.st_mode):
        raise FleetsimInputError(f"{what} = {shown}: not a regular file; allowed: a data file "
                                 "(not a folder, device, pipe, or a file under /dev, /proc or /sys)")
    if st.st_size > max_bytes:
        raise FleetsimInputError(f"{what} = {shown}: {st.st_size:,} bytes; allowed: at most {max_bytes:,} bytes")
    if not os.access(p, os.R_OK):
        raise FleetsimInputError(f"{what} = {shown}: not readable (permission denied)")
    return p
