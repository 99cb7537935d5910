"""Executors for sweeps and tuning: the standard library's process pool, or a Dask cluster.

Both are ``concurrent.futures.Executor``s, so the caller submits the same picklable function
either way. ``workers = 1`` without a scheduler runs points in this process, one after another
(no pickling, easiest to debug). Dask is an optional extra (``pip install 'fleetsim[dask]'``):
``scheduler = "local"`` starts a local cluster of ``workers`` single-threaded processes,
anything else is a scheduler address such as ``tcp://10.0.0.5:8786``.
"""
from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

from sim.errors import ScenarioError


class InlineExecutor(Executor):
    """Runs each submitted call at once, in this process (the serial path)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
            future.set_exception(exc)
        return future


# Modules a worker needs, imported once in the fork server so each worker starts in milliseconds.
PRELOAD = ["sim.sweep_point", "sim.runner", "sim.results", "sim.tune_sim"]


def _process_context():
    """Workers start clean (no state inherited from the parent, which may hold threads): forked
    from a fork server that preloaded fleetsim where the platform has one, else spawned."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        return ctx
    return multiprocessing.get_context("spawn")


@contextmanager
def make_executor(workers: int = 1, scheduler: str | None = None) -> Iterator[Executor]:
    """An executor for ``workers`` parallel points, local processes or a Dask cluster; closed on exit."""
    if workers < 1:
        raise ScenarioError(f"--workers = {workers!r}: allowed: an integer >= 1")
    if scheduler is None:
        if workers == 1:
            yield InlineExecutor()
            return
        with ProcessPoolExecutor(max_workers=workers, mp_context=_process_context()) as pool:
            yield pool
        return
    try:
        from distributed import Client, LocalCluster  # noqa: PLC0415 - optional extra
    except ImportError:
        raise ScenarioError("--scheduler needs Dask: pip install 'fleetsim[dask]'") from None
    if scheduler == "local":
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
