"""Executors for sweeps and tuning: worker processes of the standard library, or a Dask cluster.

Both are ``concurrent.futures.Executor``s, so the caller submits the same picklable function
either way. Without a scheduler, calls run in a process pool of ``workers`` processes, also for
``workers = 1``: a call that kills its process (a crash, ``os._exit``, the out-of-memory killer)
then breaks only the pool, and :class:`RecoveringPool` records it and goes on. Workers are
forked from a fork server that has imported fleetsim (where the platform has one; it starts once
per process, in about a second), so a new pool starts in about a tenth of a second. Only a caller
whose function worker processes may be unable to import (a lambda, a closure, a notebook's
function: a tune's own ``evaluate``) asks for ``serial_in_process``: with one worker its calls
then run in this process, where a crash ends the caller too.

Dask is an optional extra (``pip install 'fleetsim[dask]'``): ``scheduler = "local"`` starts a
local cluster of ``workers`` single-threaded processes, anything else is a scheduler address
such as ``tcp://10.0.0.5:8786``.

**A killed parent.** Each pool worker watches the process that made the pool, about twice a
second, and exits when it is gone, even in the middle of a call; the fork server exits once no
process holds its pipe, that is once the parent and the workers are gone. (Dask's nannies and
workers of a local cluster also exit with the process that started them.)

**The main script.** Worker processes import the main script again (as ``__mp_main__``) to find
functions defined there. A script that starts a sweep or a tune outside an ``if __name__ ==
"__main__":`` block would start it again in every worker, so :func:`make_executor` refuses, in
one line, before any process starts (:func:`check_main_guard`).
"""
from __future__ import annotations

import ast
import inspect
import multiprocessing
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, Executor, Future, ProcessPoolExecutor
from concurrent.futures import wait as wait_futures
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import Any, TypeVar

from sim.core.errors import ScenarioError

T = TypeVar("T")

#: seconds between two checks of a worker that its parent process is still there
PARENT_POLL_S = 0.5


class InlineExecutor(Executor):
    """Runs each submitted call at once, in this process (the serial path)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


class WorkerDied(RuntimeError):
    """The worker process running a call exited without reporting back."""


# Modules a worker needs, imported once in the fork server so each worker starts in milliseconds.
PRELOAD = ["sim.studies.executors", "sim.studies.sweep_point", "sim.runner", "sim.results", "sim.studies.tune_sim"]


def _process_context():
    """Workers start clean (no state inherited from the parent, which may hold threads): forked
    from a fork server that preloaded fleetsim where the platform has one, else spawned."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        return ctx
    return multiprocessing.get_context("spawn")


@contextmanager
def make_executor(workers: int = 1, scheduler: str | None = None,
                  serial_in_process: bool = False) -> Iterator[Executor]:
    """An executor for ``workers`` parallel calls, local processes or a Dask cluster; closed on exit.

    ``serial_in_process``: with one worker and no scheduler, run calls in this process (for
    callables that worker processes cannot import; a crash in one then ends the caller).
    """
    if workers < 1:
        raise ScenarioError(f"--workers = {workers!r}: allowed: an integer >= 1")
    if scheduler is None:
        if workers == 1 and serial_in_process:
            yield InlineExecutor()
            return
        check_main_guard()
        me = os.getpid()
        with ProcessPoolExecutor(max_workers=workers, mp_context=_process_context(), initializer=watch_parent,
                                 initargs=(me, _start_time(me))) as pool:
            yield pool
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ScenarioError("--scheduler needs Dask: pip install 'fleetsim[dask]'") from None
    if scheduler == "local":
        check_main_guard()
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
        try:
            yield client.get_executor()
        finally:
            client.close()
            cluster.close()
    else:
        try:
            client = Client(scheduler, timeout=30)
        except OSError as exc:
            raise ScenarioError(f"--scheduler = {scheduler!r}: cannot connect ({exc})") from None
        try:
            yield client.get_executor()
        finally:
            client.close()


# ---------------------------------------------------------------------------------- recovering from dead workers
class RecoveringPool:
    """Runs calls on executors from ``open_executor``, at most ``limit`` in flight, through workers that die.

    A dead worker breaks a process pool and every call in flight with it. If one call was in
    flight, it killed its worker: its future holds :class:`WorkerDied`. If several were, each is
    rerun alone in a new pool to find the one that did. One pool serves every :meth:`run` until
    one breaks; use as a context manager (the last pool is closed on exit).
    """

    def __init__(self, open_executor: Callable[[], AbstractContextManager[Executor]], limit: int,
                 wait: Callable[..., Any] = wait_futures) -> None:
        """``wait`` is :func:`concurrent.futures.wait` (a stand-in in tests of the recovery)."""
        self.open_executor, self.limit, self.wait = open_executor, limit, wait
        self._pool = ExitStack()
        self._executor: Executor | None = None

    def __enter__(self) -> RecoveringPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the current pool (waiting for its processes to exit)."""
        self._executor = None
        self._pool.close()

    def run(self, items: Sequence[T], submit: Callable[[Executor, T], Future], settle: Callable[[T, Future], None],
            *, noun: str = "call", lost: Callable[[T], None] | None = None,
            started: Callable[[], None] | None = None, stopped: Callable[[], None] | None = None) -> None:
        """Run every item: ``submit(executor, item)`` returns its future; ``settle(item, future)`` gets it done.

        Items settle as they finish (in item order among those finishing together). The future of
        an item whose worker died holds WorkerDied ("the worker process running this ``noun``
        exited without reporting back", caused by the pool's error). ``lost(item)`` is called for
        every item lost with a broken pool, once that pool's processes have exited and the item
        that died has settled (to clean up what they left). ``started`` and ``stopped`` are
        called as items go in and out of flight.
        """
        queue, alone = deque(range(len(items))), deque()
        while queue or alone:
            if self._executor is None:
                self._executor = self._pool.enter_context(self.open_executor())
            source, limit = (alone, 1) if alone else (queue, self.limit)
            dead = self._window(self._executor, items, source, limit, submit, settle, started, stopped)
            if not dead:
                continue
            self.close()  # the pool is broken: its processes exit; the next items go to a new one
            if len(dead) == 1:
                i, exc = dead[0]
                died = WorkerDied(f"the worker process running this {noun} exited without reporting back")
                died.__cause__ = exc
                fut: Future = Future()
                fut.set_exception(died)
                settle(items[i], fut)
            else:
                alone.extendleft(i for i, _ in reversed(dead))
            if lost is not None:
                for i, _ in dead:
                    lost(items[i])

    def _window(self, ex: Executor, items: Sequence[T], source: deque, limit: int,
                submit: Callable[[Executor, T], Future], settle: Callable[[T, Future], None],
                started: Callable[[], None] | None,
                stopped: Callable[[], None] | None) -> list[tuple[int, BaseException]]:
        """Submit from ``source`` keeping ``limit`` in flight until it is empty or the pool breaks.

        Returns the items lost to a broken pool (index, exception), in item order.
        """
        inflight: dict[Future, int] = {}
        dead: list[tuple[int, BaseException]] = []
        while (source and not dead) or inflight:
            while source and not dead and len(inflight) < limit:
                i = source.popleft()
                if started is not None:
                    started()
                try:
                    inflight[submit(ex, items[i])] = i
                except BrokenExecutor as exc:
                    dead.append((i, exc))
                    if stopped is not None:
                        stopped()
            if not inflight:
                break
            done, _ = self.wait(inflight, return_when=FIRST_COMPLETED)
            for fut in sorted(done, key=inflight.__getitem__):
                i = inflight.pop(fut)
                if stopped is not None:
                    stopped()
                if isinstance(fut.exception(), BrokenExecutor):
                    dead.append((i, fut.exception()))
                else:
                    settle(items[i], fut)
        return sorted(dead, key=lambda d: d[0])


# ---------------------------------------------------------------------------------- a killed parent
def _start_time(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks after boot), or None where there is no /proc or it is gone.

    A pid alone may be reused by a new process once its owner is gone; pid and start time are not.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in (b"Z", b"X") else fields[19].decode()  # a zombie has exited


def parent_alive(pid: int, start: str | None) -> bool:
    """Whether process ``pid``, which started at ``start`` (:func:`_start_time`), is still running."""
    if start is not None:
        return _start_time(pid) == start
    try:
        os.kill(pid, 0)  # no /proc: existence only
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process took the pid
        return False
    return True


def watch_parent(pid: int, start: str | None) -> None:
    """Pool worker initializer: exit this process (at once, even in the middle of a call) when ``pid`` is gone.

    Workers hold the pool's pipes open themselves, so they never see their parent's end close: without
    this, a worker whose parent was killed runs its call to the end and then waits for the next one forever.
    """
    if os.name != "posix":  # os.kill(pid, 0) means something else on Windows
        return

    def watch() -> None:
        while parent_alive(pid, start):
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="fleetsim-watch-parent", daemon=True).start()


# ---------------------------------------------------------------------------------- the main-script guard
def _is_main_test(node: ast.expr) -> bool:
    """``__name__ == "__main__"`` (either way round), alone or as a term of an ``and``."""
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
        return any(_is_main_test(v) for v in node.values)
    if not (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq)):
        return False
    sides = {ast.dump(node.left), ast.dump(node.comparators[0])}
    return sides == {ast.dump(ast.Name("__name__", ast.Load())), ast.dump(ast.Constant("__main__"))}


def guarded_lines(source: str) -> set[int]:
    """The line numbers of ``source`` inside the body of an ``if __name__ == "__main__":`` block."""
    lines: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.If) and _is_main_test(node.test):
            lines.update(range(node.body[0].lineno, node.body[-1].end_lineno + 1))
    return lines


def check_main_guard() -> None:
    """Raise ScenarioError if the main script called us outside an ``if __name__ == "__main__":`` block.

    Worker processes import the main script again; a call at its top level would start the study
    again in each of them. Looks at the line of the main script running now (the frame of the main
    module on the call stack). Nothing to check in an interactive session, a notebook or ``python -c``
    (no main file), from a thread other than the main one, or when the file cannot be read or parsed.
    """
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if not path:
        return
    frame, inner = inspect.currentframe(), []
    while frame is not None and not (frame.f_globals is vars(main) and frame.f_code.co_name == "<module>"):
        inner.append(frame.f_code.co_name)
        frame = frame.f_back
    if frame is None:
        return
    callee = next((name for name in reversed(inner) if not name.startswith("<")), "make_executor")
    line = frame.f_lineno
    try:
        with open(path, encoding="utf-8") as f:
            guarded = guarded_lines(f.read())
    except (OSError, SyntaxError, ValueError):
        return
    if line not in guarded:
        raise ScenarioError(f"{callee}() called at {path}:{line} outside an `if __name__ == "
                            "\"__main__\":` block; worker processes import the main script again: put the call "
                            "under that guard")
