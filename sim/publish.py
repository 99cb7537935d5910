"""fleetsim's folders: the ownership marker, the writer lock, and publishing with no gap.

**Marker.** Every folder fleetsim writes (a run's results, a sweep, a tune) holds
:data:`MARKER`, a JSON file with the folder's ``kind``, the fleetsim version and the list of
files fleetsim wrote there. fleetsim replaces an existing folder only when it carries a marker of
the same kind and holds nothing but the files listed (or is empty); anything else is refused.

**Lock.** One writer per folder: :class:`FolderLock` takes an advisory lock (``flock``) on the
sibling file ``.<name>.lock`` and records its pid there. A second writer is refused at once.

**Publishing.** :func:`publish_folder` fills a hidden sibling ``.<name>.tmp.<pid>.<random>`` and
swaps it with the folder in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``), so that at
every instant the folder is either the complete old one or the complete new one. Where the
exchange is not available it renames the old folder aside first (``.<name>.old.<pid>.<random>``);
a writer killed between those two renames is recovered by the next writer of the folder. Hidden
siblings left by killed writers are removed by the next writer, once the lock shows theirs is dead.
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from sim.core.errors import FleetsimInputError
from sim.core.inputs import PSEUDO_ROOTS, quote, show_path

MARKER = "fleetsim.json"
KINDS = ("results", "sweep", "tune")
#: present in a temporary folder while it is being filled
PARTIAL = ".fleetsim-partial"
#: longest folder name: a temporary sibling adds about 30 characters to it, and 255 is the limit
MAX_NAME_CHARS = 200
#: longest folder path (Linux's PATH_MAX is 4,096, and the folder holds files in subfolders)
MAX_PATH_CHARS = 3800

_TMP, _OLD = "tmp", "old"
_AT_FDCWD = -100
_RENAME_NOREPLACE, _RENAME_EXCHANGE = 1, 2


def _load_renameat2() -> Callable[..., int] | None:
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_renameat2 = _load_renameat2()


class FolderBusy(FleetsimInputError):
    """Another live process holds the writer lock of the folder."""


# ---------------------------------------------------------------------------------- marker
def read_marker(folder: Path) -> dict[str, Any] | None:
    """The folder's marker, or None if it has none (or an unreadable one, or a link in its place)."""
    path = folder / MARKER
    try:
        if path.is_symlink():
            return None
        marker = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    ok = (isinstance(marker, dict) and marker.get("kind") in KINDS and isinstance(marker.get("files"), list)
          and all(isinstance(f, str) for f in marker["files"]))
    return marker if ok else None


def _files_under(folder: Path) -> list[str]:
    """Every non-folder entry under ``folder`` (links not followed), as sorted POSIX relative paths."""
    out = []
    for root, dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder)
        out += [(rel / f).as_posix() for f in files]
        out += [(rel / d).as_posix() for d in dirs if os.path.islink(os.path.join(root, d))]
    return sorted(out)


def write_marker(folder: Path, kind: str, files: Iterable[str] | None = None) -> None:
    """Write the marker of ``folder``: its kind, the version and ``files`` (default: every file in it now).

    Written to a new temporary file in ``folder`` and renamed over the marker: never through a link.
    """
    from sim import __version__

    listed = sorted(set(_files_under(folder) if files is None else files) - {MARKER, PARTIAL})
    text = json.dumps({"kind": kind, "fleetsim_version": __version__, "files": listed}, indent=1) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{MARKER}.", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, folder / MARKER)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def is_owned(folder: Path, kind: str, *, only_listed: bool = True) -> bool:
    """True if ``folder`` (not a link) carries a marker of ``kind`` and (``only_listed``) holds nothing
    it does not list."""
    if folder.is_symlink():
        return False
    marker = read_marker(folder)
    if marker is None or marker["kind"] != kind:
        return False
    if not only_listed:
        return True
    return set(_files_under(folder)) <= set(marker["files"]) | {MARKER}


def not_ours_error(out: Path, kind: str) -> FleetsimInputError:
    """The one-line refusal for an existing folder that fleetsim may not replace."""
    return FleetsimInputError(f"--out {show_path(out)} exists and is not a fleetsim {kind} folder; choose another "
                              "folder or remove it")


def is_empty_dir(folder: Path) -> bool:
    return folder.is_dir() and not folder.is_symlink() and not any(folder.iterdir())


def check_replaceable(out: Path, kind: str) -> None:
    """Refuse an existing ``out`` unless it is an empty folder or a fleetsim ``kind`` folder holding
    only its files (a link, a file or anything else is refused)."""
    if not os.path.lexists(out) or is_empty_dir(out):
        return
    if not is_owned(out, kind):
        raise not_ours_error(out, kind)


# ---------------------------------------------------------------------------------- the --out path
def check_out_path(out: str | Path, protect: Iterable[Path] = ()) -> Path:
    """``out`` as a Path if fleetsim may write a folder there; else a one-line FleetsimInputError.

    Refused: an empty path, the current folder or any folder that contains it, ``/``, the home
    folder, a folder under ``/dev``, ``/proc`` or ``/sys``, any folder that contains one of
    ``protect`` (the scenario, sweep or tune file), a name over :data:`MAX_NAME_CHARS`
    characters, and a path under a file.
    """
    shown = show_path(out) if str(out).strip() else quote(str(out))
    if not str(out).strip():
        raise FleetsimInputError(f"--out {shown}: allowed: a folder path")
    if not str(out).isprintable():
        raise FleetsimInputError(f"--out {shown}: holds control characters; allowed: a folder path of printable "
                                 "characters")
    p = Path(out)
    try:
        real = p.resolve()
        cwd = Path.cwd().resolve()
        home = Path.home().resolve()
    except (OSError, RuntimeError) as exc:
        raise FleetsimInputError(f"--out {shown}: cannot resolve the path ({exc.__class__.__name__})") from None
    own = "allowed: a folder of its own, e.g. results/NAME"
    if real == Path(real.anchor) or real == home:
        raise FleetsimInputError(f"--out {shown}: is {'the home folder' if real == home else 'the root folder'}; {own}")
    if real == cwd or real in cwd.parents:
        raise FleetsimInputError(f"--out {shown}: is the current folder or contains it; {own}")
    if any(real.is_relative_to(root) for root in PSEUDO_ROOTS):
        raise FleetsimInputError(f"--out {shown}: is under /dev, /proc or /sys; {own}")
    for f in protect:
        if real in Path(f).resolve().parents:
            raise FleetsimInputError(f"--out {shown}: contains {quote(str(f))}; allowed: a folder that holds no "
                                     "input file")
    if len(real.name) > MAX_NAME_CHARS or len(str(real)) > MAX_PATH_CHARS:
        raise FleetsimInputError(f"--out {shown}: a folder name of {len(real.name)} characters in a path of "
                                 f"{len(str(real))}; allowed: at most {MAX_NAME_CHARS} and {MAX_PATH_CHARS}")
    try:
        for parent in real.parents:
            if parent.exists() and not parent.is_dir():
                raise FleetsimInputError(f"--out {shown}: {quote(str(parent))} is a file, not a folder; allowed: "
                                         "a folder path")
    except OSError as exc:
        raise FleetsimInputError(f"--out {shown}: {exc.strerror or exc}") from None
    return p


# ---------------------------------------------------------------------------------- lock
_HELD: dict[Path, FolderLock] = {}


def _lock_path(out: Path) -> Path:
    return out.parent / f".{out.name}.lock"


class FolderLock:
    """The writer lock of folder ``out`` (an advisory ``flock`` on ``.<name>.lock`` beside it).

    Re-entrant within a process: an inner lock on a folder this process holds does nothing.
    Raises :class:`FolderBusy` at once if another live process holds it.
    """

    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self.key = self.out.resolve()
        self.fd: int | None = None
        self.inner = False
        self.created: list[Path] = []  # parent folders this lock made, removed again if left empty

    def __enter__(self) -> FolderLock:
        if self.key in _HELD:
            self.inner = True
            return self
        path = _lock_path(self.out)
        while True:
            try:
                self._make_parents()
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
            except OSError as exc:
                if exc.errno == errno.ELOOP:  # a symbolic link where the lock file goes: never follow it
                    raise _not_a_lock(path) from None
                raise FleetsimInputError(f"writing {show_path(self.out)}: {exc.strerror or exc}") from None
            if not _looks_like_lock(fd):
                os.close(fd)
                raise _not_a_lock(path)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = _read_pid(fd)
                os.close(fd)
                who = f"pid {pid}" if pid else "pid unknown"
                raise FolderBusy(f"another fleetsim process ({who}) is writing {show_path(self.out)}") from None
            try:  # the file may have been removed by its last holder between our open and our lock
                same = os.fstat(fd).st_ino == os.lstat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        _HELD[self.key] = self
        return self

    def __exit__(self, *exc: object) -> None:
        if self.inner or self.fd is None:
            return
        _HELD.pop(self.key, None)
        path = _lock_path(self.out)
        try:  # while still locked, and only if it is still our file: no one else can hold this inode
            if os.lstat(path).st_ino == os.fstat(self.fd).st_ino:
                os.unlink(path)
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None
        for folder in reversed(self.created):
            try:
                folder.rmdir()
            except OSError:  # holds something now (the published folder): keep it
                break

    def _make_parents(self) -> None:
        missing = [p for p in [self.out.parent, *self.out.parent.parents] if not p.exists()]
        for folder in reversed(missing):
            folder.mkdir(exist_ok=True)
            self.created.append(folder)


def _looks_like_lock(fd: int) -> bool:
    """True for a regular file holding nothing but a pid (or nothing): a lock file fleetsim made."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_size > 32:
        return False
    return re.fullmatch(rb"[0-9]*\n?", os.pread(fd, 32, 0)) is not None


def _not_a_lock(path: Path) -> FleetsimInputError:
    return FleetsimInputError(f"{show_path(path)} is not a lock file fleetsim made (it holds something else, or is "
                              "a link or a device); move it away or remove it")


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip())
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------------------------- stale siblings
def _sibling_pattern(out: Path) -> re.Pattern[str]:
    return re.compile(rf"\.{re.escape(out.name)}\.({_TMP}|{_OLD})\.(\d+)\.[A-Za-z0-9_]+")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by another user
        return True
    return True


def _stale(out: Path) -> list[Path]:
    """Hidden siblings of ``out`` that a fleetsim writer of ``out`` made and left: temporary or old
    folders named ``.<name>.tmp|old.<pid>.<random>`` that hold a marker or the partial stamp, are
    empty, or whose writer (the pid in the name) is gone. Call with the folder's lock held."""
    pattern = _sibling_pattern(out)
    found = []
    try:
        entries = list(out.parent.iterdir())
    except OSError:
        return []
    for entry in entries:
        m = pattern.fullmatch(entry.name)
        if m is None or entry.is_symlink() or not entry.is_dir():
            continue
        ours = (entry / PARTIAL).exists() or read_marker(entry) is not None or not any(entry.iterdir())
        if ours or (int(m.group(2)) != os.getpid() and not _pid_alive(int(m.group(2)))):
            found.append(entry)
    return found


def _complete(folder: Path) -> bool:
    return read_marker(folder) is not None and not (folder / PARTIAL).exists()


def _clean(out: Path) -> int:
    """With the folder's lock held: recover ``out`` if a writer died between the fallback's two
    renames, then remove what dead writers left beside it; return how many siblings went."""
    stale = _stale(out)
    if not os.path.lexists(out):
        # Only the fallback leaves ``out`` missing, and it renames the old folder aside first: with
        # an old sibling present, put back the complete new folder if there is one, else the old one.
        old = [p for p in stale if p.name.split(".")[-3] == _OLD and _complete(p)]
        new = [p for p in stale if p.name.split(".")[-3] == _TMP and _complete(p)]
        if old:
            back = max(new or old, key=lambda p: p.stat().st_mtime_ns)
            _rename_new(back, out)
            stale.remove(back)
    for p in stale:
        shutil.rmtree(p, ignore_errors=True)
    return len(stale)


def remove_stale(out: Path) -> int:
    """Remove the temporary and old siblings of ``out`` left by dead writers; return how many.

    Does nothing (returns 0) while another live process holds the folder's lock.
    """
    try:
        with FolderLock(Path(out)):
            return _clean(Path(out))
    except FolderBusy:
        return 0


# ---------------------------------------------------------------------------------- publishing
def _exchange(a: Path, b: Path) -> bool:
    """Swap folders ``a`` and ``b`` atomically; False where the system cannot."""
    return _renameat2_or_not(a, b, _RENAME_EXCHANGE)


def _rename_new(a: Path, b: Path) -> None:
    """Rename ``a`` to ``b``, which must not exist: never replacing what appeared there meanwhile
    (``RENAME_NOREPLACE``; a plain rename where the system lacks it)."""
    if not _renameat2_or_not(a, b, _RENAME_NOREPLACE):
        os.rename(a, b)


def _renameat2_or_not(a: Path, b: Path, flag: int) -> bool:
    """``renameat2(a, b, flag)``; False where the system cannot, OSError if it refuses."""
    if _renameat2 is None:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), flag) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EPERM):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _swap_in(tmp: Path, out: Path, kind: str) -> Path | None:
    """Put ``tmp`` at ``out``; return where the old folder went (None if there was none).

    The old folder is checked again once it is out of the way: if something not fleetsim's got
    into it since the last check, the swap is undone and refused.
    """
    if not os.path.lexists(out):
        _rename_new(tmp, out)
        return None
    if _exchange(tmp, out):
        if not (is_empty_dir(tmp) or is_owned(tmp, kind)):
            _exchange(tmp, out)  # undo: the old folder goes back to ``out`` untouched
            raise not_ours_error(out, kind)
        return tmp
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.{_OLD}.{os.getpid()}.", dir=out.parent))
    os.rmdir(old)
    os.rename(out, old)
    if not (is_empty_dir(old) or is_owned(old, kind)):
        os.rename(old, out)
        raise not_ours_error(out, kind)
    _between_renames()
    os.rename(tmp, out)
    return old


def _between_renames() -> None:
    """The instant between the fallback's two renames (a point for fault-injection tests)."""


def publish_folder(out: Path, fill: Callable[[Path], None], kind: str = "results") -> Path:
    """Fill a new folder with ``fill(tmp)`` and publish it at ``out`` with its marker.

    ``out`` must be absent, empty or a fleetsim ``kind`` folder holding only its files
    (:func:`check_replaceable`). Holds the folder's lock (refused at once if another process
    holds it), removes what dead writers left, and swaps the new folder in atomically. On any error
    the temporary folder is removed and ``out`` is left as it was. An OSError while writing (a full
    disk, a read-only folder) becomes a one-line FleetsimInputError ``writing OUT: reason``.
    """
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r}: allowed: {KINDS}")
    out = Path(out)
    with FolderLock(out):
        tmp = None
        try:
            _clean(out)
            check_replaceable(out, kind)
            tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.{_TMP}.{os.getpid()}.", dir=out.parent))
            (tmp / PARTIAL).touch()
            fill(tmp)
            write_marker(tmp, kind)
            (tmp / PARTIAL).unlink()
            os.chmod(tmp, 0o755)
            check_replaceable(out, kind)
            old = _swap_in(tmp, out, kind)
            tmp = None
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except OSError as exc:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            raise FleetsimInputError(f"writing {show_path(out)}: {exc.strerror or exc}") from None
        except BaseException:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            raise
    return out


def update_folder(folder: Path, kinds: tuple[str, ...], write: Callable[[Path], Iterable[Path]],
                  redrawn: tuple[str, ...] = ()) -> list[Path]:
    """Add or replace files in the existing fleetsim folder ``folder``, touching nothing it did not write.

    ``write(tmp)`` writes the new files into a temporary sibling laid out like ``folder`` and returns
    their paths. The marker first lists them too (so that a kill part-way leaves a folder fleetsim
    still owns); then each replaces its namesake in ``folder`` (one atomic rename per file), but
    only where the marker lists that file or there is none; files the marker lists under a
    ``redrawn`` subfolder that were not written again are removed (figures a redrawn report no
    longer has). Refused (one line, nothing changed): a folder without a marker of one of
    ``kinds``, another writer holding the lock, a link on the way to a file, or a new file whose
    namesake fleetsim did not write.
    """
    folder = Path(folder).resolve()
    with FolderLock(folder):
        marker = read_marker(folder)
        if marker is None or marker["kind"] not in kinds:
            raise FleetsimInputError(f"{show_path(folder)}: not a fleetsim {' or '.join(kinds)} folder (no {MARKER} "
                                     "of that kind); allowed: a folder written by fleetsim")
        try:
            _clean(folder)
            tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.{_TMP}.{os.getpid()}.", dir=folder.parent))
        except OSError as exc:
            raise FleetsimInputError(f"writing {show_path(folder)}: {exc.strerror or exc}") from None
        try:
            (tmp / PARTIAL).touch()
            made = [Path(p).resolve().relative_to(tmp.resolve()).as_posix() for p in write(tmp)]
            listed = set(marker["files"])
            for rel in made:
                _check_target(folder, rel, listed)
            gone = [rel for rel in listed - set(made) if rel.split("/", 1)[0] in redrawn]
            for rel in gone:
                _check_target(folder, rel, listed)
            write_marker(folder, marker["kind"], listed | set(made))
            for rel in made:
                (folder / rel).parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp / rel, folder / rel)
            for rel in gone:
                (folder / rel).unlink(missing_ok=True)
            write_marker(folder, marker["kind"], (listed - set(gone)) | set(made))
        except OSError as exc:
            raise FleetsimInputError(f"writing {show_path(folder)}: {exc.strerror or exc}") from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return [folder / rel for rel in made]


def _check_target(folder: Path, rel: str, listed: set[str]) -> None:
    """Refuse to replace or remove ``folder/rel`` if a link lies on the way to it or it is not listed."""
    path = folder
    for part in Path(rel).parts:
        path = path / part
        if path.is_symlink():
            raise FleetsimInputError(f"{show_path(path)}: a link inside a fleetsim folder; fleetsim does not "
                                     "write through links: remove it")
    if os.path.lexists(path) and rel not in listed:
        raise FleetsimInputError(f"{show_path(path)}: exists and fleetsim did not write it; move it away or remove it")
