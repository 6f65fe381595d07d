"""Train a grid's missing tiles: in this process, in worker processes, on a dask cluster or on
a GPU, as a sweep's chunks are (:func:`bpsweep.sweeps.dispatch.dispatch`); every tile is stored
(with its record) as soon as it is trained, so an interrupted map loses at most the tiles in
flight, and a map, zoom frame or explorer view that needs a stored tile reads it instead."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from functools import partial

from ..errors import BpsweepError
from ..sweeps.config import SweepConfig
from ..sweeps.dispatch import check_cuda, check_local_jobs, dispatch
from ..sweeps.options import RunOptions
from ..sweeps.progress import Progress
from .chaos import chaos_kind
from .tiles import Grid, TileStore, tile_task


@dataclass
class Training:
    """What :func:`train_tiles` did."""

    tiles: int  #: tiles of the grid
    trained: int  #: tiles trained by this call
    reused: int  #: tiles read from the store
    pixels: int  #: pixels trained by this call
    run_steps: int  #: steps of the pixels trained by this call
    seconds: float
    workers: int
    where: str  #: "in-process", the joblib backend, "dask" or "cuda"
    address: str | None = None


def missing_tiles(store: TileStore, grid: Grid, kind: str, chaos: int = 0) -> list[tuple[int, int]]:
    """The grid's tiles with no good stored tile of this kind, or (``chaos`` = K > 0) no good
    chaos counts of K moves (damaged ones named, removed)."""
    kinds = (kind, chaos_kind(chaos)) if chaos else (kind,)
    return [
        (tx, ty) for tx, ty in grid.tiles() if not all(store.has(grid, tx, ty, k) for k in kinds)
    ]


def train_tiles(
    config: SweepConfig,
    grid: Grid,
    store: TileStore,
    options: RunOptions,
    kind: str,
    missing: list[tuple[int, int]] | None = None,
    chaos: int = 0,
) -> Training:
    """Train the tiles of ``grid`` the store lacks (``missing``, default: looked up), where
    ``options`` say (jobs, backend, scheduler, device); each is stored as it finishes. With
    ``chaos`` = K > 0, each from K moved starts too (:mod:`bpsweep.maps.chaos`)."""
    t0 = time.perf_counter()
    store.prepare(grid)
    missing = missing_tiles(store, grid, kind, chaos) if missing is None else missing
    reused = len(grid.tiles()) - len(missing)
    pixels = sum((b[1] - b[0]) * (b[3] - b[2]) for b in (grid.bounds(*t) for t in missing))
    session, workers, where = None, 1, "in-process"
    device = options.device
    if device == "cuda":
        check_cuda(config, options.jobs, options.backend)
        where = "cuda"
    elif options.backend == "dask":
        from ..sweeps.cluster import DaskSession

        session = DaskSession(options.scheduler, options.jobs)
        where = "dask"
    else:
        if options.scheduler is None:
            check_local_jobs(options.jobs)
        workers = min(options.jobs or 1, max(len(missing), 1))
        where = options.backend if workers > 1 else "in-process"
    progress = Progress(grid.spec.n_pixels, grid.spec.n_pixels - pixels, not options.quiet)
    kept = str(store.folder)
    try:
        if session is not None and missing:
            workers = session.start()
            task = partial(tile_task, config, grid, kind, None, device, chaos=chaos)
            results = session.dispatch(task, missing, kept)
        else:
            root = str(store.folder.parent)
            task = partial(tile_task, config, grid, kind, root, device, chaos=chaos)
            results = dispatch(task, missing, workers, options.backend, kept)
        run_steps = 0
        for tx, ty, blobs, steps in results:
            for name, data in (blobs or {}).items():  # a dask worker's: stored by the client
                store.save(grid, tx, ty, data, name)
            run_steps += steps
            i0, i1, j0, j1 = grid.bounds(tx, ty)
            progress.advance((i1 - i0) * (j1 - j0))
    except BaseException:
        with contextlib.suppress(BpsweepError):
            progress.close()
        raise
    finally:
        if session is not None:
            session.close()
    progress.close()
    address = session.address if session is not None else None
    return Training(
        tiles=len(grid.tiles()),
        trained=len(missing),
        reused=reused,
        pixels=pixels,
        run_steps=run_steps,
        seconds=time.perf_counter() - t0,
        workers=workers,
        where=where,
        address=address,
    )
