"""One chunk of a sweep: expand runs ``[start, stop)``, train them, format their CSV rows.

This is what a worker runs. The device hook :data:`CHUNK_TRAINERS` maps ``"cpu"`` and
``"cuda"`` to the function that trains a table of runs; the rows' text depends only on the
runs, so the CSV is byte-identical whatever worker, chunk size or device order produced it.
Floats are written with Python's ``repr`` (the shortest text that reads back to the same
float64), NaN as ``nan``, and a parameter a run's network lacks as an empty cell.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..engine.batch import train_runs
from ..model import STATUSES, param_names
from ._csvfmt import format_block
from .config import SweepConfig
from .expand import column_kind, expand, result_columns
from .parts import header_line, write_part

FORMAT_BLOCK = 20_000  # rows formatted at a time (bounds the memory of the CSV text)


def _train_cpu(runs: pd.DataFrame, data_dir, data_cache: dict) -> pd.DataFrame:
    """Outcome columns for a chunk of runs, on the CPU kernels."""
    return train_runs(runs, data_dir=data_dir, data_cache=data_cache)


def _train_cuda(runs: pd.DataFrame, data_dir, data_cache: dict) -> pd.DataFrame:
    """Outcome columns for a chunk of runs, on the GPU (:mod:`bpsweep.engine.cuda`, imported here so
    that the CPU path never needs numba-cuda)."""
    from ..engine.cuda import train_runs_cuda

    return train_runs_cuda(runs, data_dir=data_dir, data_cache=data_cache)


#: device name -> chunk trainer ``(runs, data_dir, data_cache) -> outcomes``.
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
    #: the part's CSV text (header and rows, UTF-8 bytes) when the worker did not write it
    #: (dask workers, which may run on other machines), else None
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
) -> ChunkResult:
    """Expand, train and save runs ``[start, stop)`` as one part file; runs in a worker.

    ``threads``: numba threads for this process (1 in parallel workers), None to leave as is.
    ``parts_dir`` None: write nothing and return the part's text in ``ChunkResult.text`` (the
    caller writes it). ``data_cache``: data sets already loaded (dataset -> (x, y)), else this
    process's cache (loaded from ``config.base_dir`` on first use).
    """
    t0 = time.perf_counter()
    if threads is not None:
        import numba

        numba.set_num_threads(threads)
    runs = expand(config, start, stop)
    cache = _DATA_CACHE if data_cache is None else data_cache
    outcome = CHUNK_TRAINERS[device](runs, config.base_dir, cache)
    blocks = _part_blocks(runs, outcome, config)
    text, size, sha256 = None, 0, ""
    if parts_dir is None:
        text = b"".join(blocks)
    else:
        size, sha256 = write_part(parts_dir, start, stop, blocks)
    codes = pd.Categorical(outcome["status"], categories=STATUSES).codes.astype(np.int8)
    steps = outcome["steps"].to_numpy(np.int64)
    return ChunkResult(start, stop, steps, codes, time.perf_counter() - t0, text, size, sha256)


def _part_blocks(runs: pd.DataFrame, outcome: pd.DataFrame, config: SweepConfig):
    """A part's CSV text in pieces (UTF-8 bytes): the header, then FORMAT_BLOCK rows at a time."""
    columns = result_columns(config)
    yield header_line(columns)
    for a in range(0, len(runs), FORMAT_BLOCK):
        b = min(a + FORMAT_BLOCK, len(runs))
        yield format_rows(runs.iloc[a:b], outcome.iloc[a:b], columns, config)


def format_rows(
    runs: pd.DataFrame, outcome: pd.DataFrame, columns: list[str], config: SweepConfig
) -> bytes:
    """The CSV rows of these runs (no header), one ``\\n``-terminated line per run, as UTF-8.

    The rows are joined in compiled code (:mod:`bpsweep.sweeps._csvfmt`, which writes floats as
    ``repr`` does); here each column is picked and the cells a run's network lacks marked.
    """
    if len(runs) == 0:
        return b""
    hidden = runs["hidden"].to_numpy()
    # the hidden sizes of these rows, not of the sweep: a block may hold a single one
    hiddens = np.unique(hidden)
    params = set(config.param_union())
    cells = []
    for col in columns:
        source = runs if col in runs.columns else outcome
        values = source[col].to_numpy() if col in source.columns else np.full(len(runs), np.nan)
        blank = None
        kind, _, p = col.partition("_")
        if kind in ("init", "final") and p in params:
            lacking = [h for h in hiddens if p not in param_names(int(h))]
            if lacking:
                blank = np.isin(hidden, lacking)
        cells.append((column_kind(col), values, blank))
    return format_block(cells)
