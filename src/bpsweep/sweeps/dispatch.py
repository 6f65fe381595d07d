"""Where chunks are trained: in this process, in loky worker processes, on a dask cluster,
or on a GPU; and the defaults for how many workers and how large a chunk.

With more than one job, chunks go to joblib workers (default backend loky) and each worker runs
numba with one thread; with one job (or a single chunk) chunks run in this process and numba's
``prange`` spreads each chunk over every core.
"""

from __future__ import annotations

import math
import os
import threading
import time

from ..errors import SweepError, UsageError, first_line
from ..machine import usable_cores
from .config import SweepConfig

MIN_CHUNK, MAX_CHUNK = 1_000, 50_000
# default: worker processes only for sweeps of at least this many runs. Measured on 2 cores
# (the main job's mix, bpsweep run --jobs 1 vs --jobs 2, best of 2): 120,000 runs 2.62 vs
# 3.19 s, 300,000 4.14 vs 4.57 s, 500,000 6.48 vs 6.77 s, 1,000,000 12.0 vs 11.0 s. Below the
# crossover starting workers (imports, kernels loaded from the cache) costs more than their
# parallel formatting and writing saves.
WORKERS_FROM = 500_000
#: seconds between a worker's checks that the process that started it is still alive
PARENT_CHECK_SECONDS = 0.2


def watch_parent(parent_pid: int) -> None:
    """In a worker process started by ``parent_pid`` (the sweep): end this process
    (``os._exit``) as soon as that parent is gone, i.e. as soon as this process has been handed
    to another parent (init, a subreaper). A loky worker is a direct child of the sweep's process
    (loky forks and execs it from there), so a worker whose parent is not ``parent_pid`` when
    this runs (its initializer, before any chunk) lost that parent while starting up, and exits
    at once; otherwise a daemon thread checks every PARENT_CHECK_SECONDS. So a sweep killed with
    SIGKILL, even during its start-up, leaves no worker behind (a worker mid-chunk is in a nogil
    kernel, so the thread runs). Does nothing in the parent itself or when already watching."""
    global _WATCHING
    if _WATCHING or os.getpid() == parent_pid:
        return
    if os.getppid() != parent_pid:
        os._exit(1)
    _WATCHING = True

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="bpsweep-watch-parent", daemon=True).start()


_WATCHING = False


#: local worker processes allowed per usable core (each loads numba and the kernels, about
#: 250 MB): more only oversubscribes the machine, and a typo such as --jobs 100000 must not
#: start a process per chunk
JOBS_PER_CORE = 4


def check_local_jobs(jobs: int | None, option: str = "jobs") -> None:
    """Refuse more local worker processes than JOBS_PER_CORE per usable core (UsageError)."""
    most = max(JOBS_PER_CORE * usable_cores(), 8)
    if jobs is not None and jobs > most:
        raise UsageError(
            f"{option} {jobs} would start {jobs:,} worker processes on this machine's "
            f"{usable_cores()} usable cores (each loads numba and its kernels, about 250 MB); "
            f"use at most {most}"
        )


def default_workers(n_runs: int, jobs: int | None) -> int:
    """Worker processes to use: ``jobs`` when given; by default every core for sweeps of
    WORKERS_FROM runs or more, and none (this process, numba threads on every core) below,
    where starting worker processes (about a second or two) would cost more than it saves."""
    if jobs is not None:
        return jobs
    return usable_cores() if n_runs >= WORKERS_FROM else 1


def default_chunk_size(n_runs: int, workers: int) -> int:
    """Runs per chunk. Workers: about 4 chunks per worker, 1,000 to 50,000 runs each. In this
    process: about 8 chunks, 10,000 to 50,000 runs each (big chunks keep numba's threads busy)."""
    if workers <= 1:
        return int(max(min(max(math.ceil(n_runs / 8), 10_000), MAX_CHUNK), 1))
    return int(min(max(math.ceil(n_runs / (4 * workers)), MIN_CHUNK), MAX_CHUNK))


def check_cuda(config: SweepConfig, jobs, backend) -> int:
    """Checks for ``device="cuda"`` made before anything is written; returns the worker count
    (1: the GPU path trains in this process, chunk after chunk)."""
    if (jobs or 1) > 1 or backend == "dask":
        raise UsageError(
            "--device cuda trains in this process on one GPU; leave out --jobs "
            "(or use --jobs 1) and --backend dask"
        )
    from ..engine.cuda import check_hidden_cuda, require_cuda

    require_cuda()
    for h in config.hiddens:
        check_hidden_cuda(h)
    return 1


def dispatch(task, items, n_workers: int, backend: str, kept: str):
    """Yield ``task(item, threads)`` for each item as they finish (any order): in this process
    with numba's threads as they are (``threads`` None) when ``n_workers`` <= 1, else in
    joblib worker processes (``backend``), one numba thread each. ``task`` must pickle (a
    module-level function, or a functools.partial of one). ``kept``: where the finished
    items' work is kept, for the message when a worker dies."""
    if n_workers <= 1:
        for item in items:
            yield task(item, None)
        return
    import joblib

    try:
        from joblib.externals.loky.process_executor import TerminatedWorkerError
    except ImportError:  # pragma: no cover - joblib without loky
        TerminatedWorkerError = ()  # noqa: N806
    from concurrent.futures.process import BrokenProcessPool

    calls = (joblib.delayed(task)(item, 1) for item in items)
    done = 0
    try:
        with joblib.parallel_config(
            backend=backend,
            n_jobs=n_workers,
            initializer=watch_parent,  # a worker exits when the sweep's process dies
            initargs=(os.getpid(),),
        ):
            for res in joblib.Parallel(return_as="generator_unordered")(calls):
                done += 1
                yield res
    except (TerminatedWorkerError, BrokenProcessPool) as exc:
        raise SweepError(
            f"a worker process died while training (joblib/{backend}: {first_line(exc)}); "
            f"{done} of {len(items)} pieces of this call finished and are kept in {kept}; "
            f"run the same command again to resume"
        ) from None
