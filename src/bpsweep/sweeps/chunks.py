"""One chunk of a sweep: expand runs ``[start, stop)``, train them, write their part.

This is what a worker runs, arrays from end to end: the runs are expanded as columns of
arrays (:func:`bpsweep.sweeps.expand.expand_columns`), trained by the device hook
:data:`CHUNK_TRAINERS` (``"cpu"``, ``"cuda"``: columns in, :class:`~bpsweep.engine.batch.Trained`
out), and written as the part of the results format:

- ``csv``: the CSV rows, formatted in compiled code on every core (:mod:`bpsweep.sweeps._csvfmt`:
  floats as Python's ``repr``, the shortest text that reads back to the same float64; NaN as
  ``nan``; a parameter a run's network lacks as an empty cell). The text depends only on the
  runs, so the CSV is byte-identical whatever worker, chunk size or device produced it.
- ``parquet``: an Arrow IPC file of the same columns (float64 as they are), which the
  assembly streams into the Parquet file (:mod:`bpsweep.sweeps.assemble`): nothing is
  formatted as text and parsed back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..engine.batch import Trained, train_columns
from ..model import STATUSES, param_names
from ._csvfmt import format_block
from .config import SweepConfig
from .expand import column_kind, expand_columns, result_columns
from .parts import arrow_part, header_line, write_part

FORMAT_BLOCK = 50_000  # rows formatted at a time (bounds the memory of the CSV text)


def _train_cpu(columns: dict, n_runs: int, data_dir, data_cache: dict) -> Trained:
    """Outcomes of a chunk of runs, on the CPU kernels."""
    return train_columns(columns, n_runs, data_dir, data_cache)


def _train_cuda(columns: dict, n_runs: int, data_dir, data_cache: dict) -> Trained:
    """Outcomes of a chunk of runs, on the GPU (:mod:`bpsweep.engine.cuda`, imported here so
    that the CPU path never needs numba-cuda)."""
    from ..engine.cuda import require_cuda, train_batch_cuda

    require_cuda()
    return train_columns(columns, n_runs, data_dir, data_cache, kernel=train_batch_cuda)


#: device name -> chunk trainer ``(columns, n_runs, data_dir, data_cache) -> Trained``.
CHUNK_TRAINERS = {"cpu": _train_cpu, "cuda": _train_cuda}
#: Largest default chunk on the GPU: one chunk is one set of kernel launches, and a GPU needs
#: hundreds of thousands of runs in flight to be busy (the chunk's table must fit host memory).
GPU_MAX_CHUNK = 500_000
_DATA_CACHE: dict = {}


@dataclass
class ChunkResult:
    start: int
    stop: int
    steps: np.ndarray  #: (stop - start,) int64
    status: np.ndarray  #: (stop - start,) int8 codes into STATUSES
    seconds: float
    #: the part's bytes (CSV text or Arrow IPC) when the worker did not write it (dask
    #: workers, which may run on other machines), else None
    text: bytes | None = None
    size: int = 0  #: the part file's size in bytes, when the worker wrote it
    sha256: str = ""  #: the part file's SHA-256 (hex, of the bytes written), likewise


def train_chunk(
    config: SweepConfig,
    start: int,
    stop: int,
    parts_dir,
    threads: int | None,
    device: str = "cpu",
    data_cache: dict | None = None,
    results_format: str = "csv",
) -> ChunkResult:
    """Expand, train and save runs ``[start, stop)`` as one part file; runs in a worker.

    ``threads``: numba threads for this process (1 in parallel workers), None to leave as is.
    ``parts_dir`` None: write nothing and return the part's bytes in ``ChunkResult.text`` (the
    caller writes it). ``data_cache``: data sets already loaded (dataset -> (x, y)), else this
    process's cache (loaded from ``config.base_dir`` on first use). ``results_format``: the
    part's format, "csv" (CSV text) or "parquet" (an Arrow IPC file).
    """
    t0 = time.perf_counter()
    if threads is not None:
        import numba

        numba.set_num_threads(threads)
    n = stop - start
    columns = expand_columns(config, np.arange(start, stop, dtype=np.int64))
    cache = _DATA_CACHE if data_cache is None else data_cache
    trained = CHUNK_TRAINERS[device](columns, n, config.base_dir, cache)
    if results_format == "csv":
        blocks = _csv_blocks(columns, trained, config)
    else:
        blocks = [arrow_part(result_table(columns, trained, config))]
    text, size, sha256 = None, 0, ""
    if parts_dir is None:
        text = b"".join(blocks)
    else:
        size, sha256 = write_part(parts_dir, start, stop, blocks, results_format)
    steps = trained.steps
    status = trained.status
    return ChunkResult(start, stop, steps, status, time.perf_counter() - t0, text, size, sha256)


def chunk_task(config, parts_dir, device, results_format, data_cache, chunk, threads):
    """:func:`train_chunk` of ``chunk`` = (start, stop), as :func:`bpsweep.sweeps.dispatch.dispatch`
    calls a task (bind the rest with functools.partial)."""
    start, stop = chunk
    return train_chunk(config, start, stop, parts_dir, threads, device, data_cache, results_format)


def result_values(columns: dict, trained: Trained, config: SweepConfig):
    """(name, kind, values, blank) for each results column, in order: the runs' columns, then
    their outcomes; ``blank`` marks the cells of a parameter a run's network lacks (None when
    every run has it)."""
    hidden = columns["hidden"]
    hiddens = np.unique(hidden)
    params = set(config.param_union())
    status_text = np.asarray(STATUSES, dtype=object)
    for col in result_columns(config):
        kind, _, p = col.partition("_")
        if col in columns:
            values = columns[col]
        elif col == "status":
            values = status_text[trained.status]
        elif col in ("initial_ssr", "final_ssr", "steps"):
            values = getattr(trained, col)
        elif p in trained.names:  # final_<p>
            values = trained.final[:, trained.names.index(p)]
        else:  # final_<p> of a parameter no run of this chunk has
            values = np.full(len(hidden), np.nan)
        blank = None
        if kind in ("init", "final") and p in params:
            lacking = [h for h in hiddens if p not in param_names(int(h))]
            if lacking:
                blank = np.isin(hidden, lacking)
        yield col, column_kind(col), values, blank


def _csv_blocks(columns: dict, trained: Trained, config: SweepConfig):
    """A part's CSV text in pieces (UTF-8 bytes): the header, then FORMAT_BLOCK rows at a time."""
    yield header_line(result_columns(config))
    cells = [
        (kind, values, blank) for _, kind, values, blank in result_values(columns, trained, config)
    ]
    n = len(columns["run_id"])
    for a in range(0, n, FORMAT_BLOCK):
        b = min(a + FORMAT_BLOCK, n)
        yield format_block(
            [
                (kind, values[a:b], None if blank is None else blank[a:b])
                for kind, values, blank in cells
            ]
        )


def result_table(columns: dict, trained: Trained, config: SweepConfig):
    """The results columns as an Arrow table (text columns dictionary-encoded; a parameter a
    run's network lacks is NaN, as the CSV's empty cell reads back)."""
    import pandas as pd
    import pyarrow as pa

    arrays, names = [], []
    for col, kind, values, _ in result_values(columns, trained, config):
        if kind == "str":
            codes, uniques = pd.factorize(np.asarray(values, dtype=object))
            array = pa.DictionaryArray.from_arrays(
                pa.array(codes.astype(np.int32)), pa.array(list(map(str, uniques)), pa.string())
            )
        elif kind == "int":
            array = pa.array(np.asarray(values, dtype=np.int64))
        else:
            array = pa.array(np.asarray(values, dtype=np.float64))
        arrays.append(array)
        names.append(col)
    return pa.Table.from_arrays(arrays, names=names)
