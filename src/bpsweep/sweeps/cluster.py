"""Sweeps on a dask.distributed cluster, through joblib's dask backend (``--backend dask``).

:class:`DaskSession` connects a ``distributed.Client`` to a running scheduler
(``tcp://host:8786``) or, without an address, starts a :class:`distributed.LocalCluster` for
the sweep on 127.0.0.1 (worker processes with one thread each, ``jobs`` of them, default
every core, no dashboard) and closes it at the end. The chunks go to the workers through
``joblib.parallel_config(backend="dask", client=...)``, one chunk per task.

What the workers do and do not do:

- each task is :func:`bpsweep.sweeps.chunks.train_chunk` with ``threads=1``
(``numba.set_num_threads(1)``
  in the task: one numba thread per single-threaded worker process, so a machine with N cores
  runs ``--nworkers N --nthreads 1``) and ``parts_dir=None``: the worker returns the part's CSV
  text and the *client* writes the part file (to a temporary name, then renamed). Workers need
  no access to the client's disk, and a worker killed mid-chunk leaves nothing behind;
- the data sets are loaded once by the client and sent with every task (they are small: the
  dosage data is 3 points), so workers need bpsweep installed but not the data files.

A worker lost mid-sweep: the scheduler re-runs its task on another worker (a task whose
workers die ``distributed.scheduler.allowed-failures`` + 1 times, default 4, fails with
KilledWorker). Parts of the chunks finished so far are on disk; if the sweep cannot go on
(KilledWorker, scheduler gone, no workers) it stops with a :class:`~bpsweep.errors.SweepError`
saying so, and running the same command again resumes.
"""

from __future__ import annotations

import contextlib
import logging

from ..errors import DeviceError, SweepError, first_line
from ..machine import usable_cores

INSTALL_HINT = "--backend dask needs dask and distributed; install with pip install 'bpsweep[dask]'"
#: Seconds to wait for a scheduler to answer, and for a cluster to have a worker.
CONNECT_TIMEOUT = 30


class DaskUnavailableError(DeviceError):
    """dask/distributed are not installed."""


def import_distributed():
    """``distributed``, or DaskUnavailableError with the install line."""
    try:
        import dask  # noqa: F401
        import distributed
    except ImportError:
        raise DaskUnavailableError(INSTALL_HINT) from None
    return distributed


class DaskSession:
    """A dask client for one sweep. Construction only checks that dask is installed;
    :meth:`start` connects (or starts a local cluster), :meth:`close` lets go of both."""

    def __init__(self, scheduler: str | None = None, jobs: int | None = None):
        self.distributed = import_distributed()
        self.scheduler = scheduler
        self.jobs = jobs
        self.client = None
        self.cluster = None
        self.address = scheduler

    def start(self) -> int:
        """Connect; returns the number of workers to size chunks for: ``jobs`` if given, else
        the cluster's worker threads (at least 1)."""

        distributed = self.distributed
        try:
            if self.scheduler is None:
                self.cluster = distributed.LocalCluster(
                    n_workers=self.jobs or usable_cores(),
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
                self.address = self.cluster.scheduler_address
                self.client = distributed.Client(self.cluster, set_as_default=False)
            else:
                try:
                    self.client = distributed.Client(
                        self.scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False
                    )
                except (OSError, TimeoutError) as exc:
                    raise SweepError(
                        f"cannot reach the dask scheduler at {self.scheduler} "
                        f"({first_line(exc)}); start it with 'dask scheduler' "
                        f"and check the address"
                    ) from None
        except BaseException:
            self.close()
            raise
        if self.jobs:
            return self.jobs
        workers = self.client.scheduler_info().get("workers", {})
        return max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))

    def dispatch(self, task, items, kept: str):
        """Yield ``task(item, 1)`` per item (a ChunkResult with its part's bytes, a tile's
        outcome, ...) as they finish, trained on the cluster's workers. ``kept``: where the
        finished items' work is kept, for the message when the cluster is lost."""
        import joblib

        calls = (joblib.delayed(task)(item, 1) for item in items)
        done = 0
        lost = self._lost_errors()
        try:
            with joblib.parallel_config(
                backend="dask", client=self.client, wait_for_workers_timeout=CONNECT_TIMEOUT
            ):
                for res in joblib.Parallel(return_as="generator_unordered", batch_size=1)(calls):
                    done += 1
                    yield res
        except lost as exc:
            raise SweepError(
                f"the dask cluster at {self.address} lost the work ({type(exc).__name__}: "
                f"{first_line(exc)}); {done} of {len(items)} pieces of this call finished and "
                f"are kept in {kept}; run the same command again to resume"
            ) from None

    def _lost_errors(self) -> tuple:
        """Exceptions meaning the cluster (not the training) failed."""
        from concurrent.futures import CancelledError

        errors = [CancelledError, TimeoutError]
        try:
            from distributed.scheduler import KilledWorker

            errors.append(KilledWorker)
        except ImportError:  # pragma: no cover - moved in some release
            pass
        try:
            from distributed.comm.core import CommClosedError

            errors.append(CommClosedError)
        except ImportError:  # pragma: no cover
            pass
        return tuple(errors)

    def close(self) -> None:
        for thing in (self.client, self.cluster):
            if thing is not None:
                # closing a broken cluster must not mask what broke it
                with contextlib.suppress(Exception):
                    thing.close()
        self.client = self.cluster = None
