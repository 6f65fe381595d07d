"""Run a sweep: chunks of runs trained in compiled code, dispatched with joblib, saved as parts.

Chunk k of chunk size K holds runs ``[k*K, (k+1)*K)``; each is expanded on its own
(:func:`bpsweep.expand.expand`), trained by one :func:`bpsweep.batch.train_runs` call (one
batched kernel call per data set and hidden size, no Python per run), formatted as CSV rows and
saved as ``<out>/<name>.parts/runs-<start>-<stop>.csv`` (written to a temporary name, then
renamed, so a part is either whole or absent). ``manifest.json`` in that folder holds the
fingerprint of the resolved config: a later run of the same config computes only the run_ids
no part covers (whatever chunk size either run used), and a changed config is refused unless
``fresh``. When every run is covered the parts are concatenated in run_id order into
``<name>.csv`` (again written then renamed), ``<name>.json`` is written beside it and the parts
are removed. Each row's text depends only on the run, so the CSV is byte-identical whatever the
jobs, chunk size or resuming did. Floats are written with Python's ``repr`` (the shortest text
that reads back to the same float64), NaN as ``nan``, and a parameter a run's network lacks as
an empty cell.

Parallelism: with more than one job, chunks go to joblib workers (default backend loky) and
each worker runs numba with one thread; with one job (or a single chunk) chunks run in this
process and numba's ``prange`` spreads each chunk over every core.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import os
import platform
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ._csvfmt import format_block, read_csv_exact
from .batch import train_runs
from .config import ConfigError, SweepConfig, config_from_dict, load_config
from .errors import SweepError, UsageError
from .expand import column_kind, expand, result_columns
from .model import STATUSES, param_names

PART_RE = re.compile(r"^runs-(\d+)-(\d+)\.csv$")
MANIFEST = "manifest.json"
MIN_CHUNK, MAX_CHUNK = 1_000, 50_000
WORKERS_FROM = 100_000  # default: worker processes only for sweeps of at least this many runs
FORMAT_BLOCK = 20_000  # rows formatted at a time (bounds the memory of the CSV text)


# ---------------------------------------------------------------- chunk training (device hook)


def _train_cpu(runs: pd.DataFrame, data_dir, data_cache: dict) -> pd.DataFrame:
    """Outcome columns for a chunk of runs, on the CPU kernels."""
    return train_runs(runs, data_dir=data_dir, data_cache=data_cache)


def _train_cuda(runs: pd.DataFrame, data_dir, data_cache: dict) -> pd.DataFrame:
    """Outcome columns for a chunk of runs, on the GPU (:mod:`bpsweep.cuda`, imported here so
    that the CPU path never needs numba-cuda)."""
    from .cuda import train_runs_cuda

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
    text = None
    if parts_dir is None:
        text = b"".join(blocks)
    else:
        write_part(parts_dir, start, stop, blocks)
    codes = pd.Categorical(outcome["status"], categories=STATUSES).codes.astype(np.int8)
    return ChunkResult(
        start, stop, outcome["steps"].to_numpy(np.int64), codes, time.perf_counter() - t0, text
    )


def _part_blocks(runs: pd.DataFrame, outcome: pd.DataFrame, config: SweepConfig):
    """A part's CSV text in pieces (UTF-8 bytes): the header, then FORMAT_BLOCK rows at a time."""
    columns = result_columns(config)
    yield _header(columns)
    for a in range(0, len(runs), FORMAT_BLOCK):
        b = min(a + FORMAT_BLOCK, len(runs))
        yield format_rows(runs.iloc[a:b], outcome.iloc[a:b], columns, config)


def write_part(parts_dir, start: int, stop: int, blocks) -> None:
    """Write a part file from its text pieces (bytes): to a temporary name, synced, then
    renamed, so a part is either whole or absent."""
    with _atomic_file(Path(parts_dir) / part_name(start, stop)) as fh:
        for block in blocks:
            fh.write(block)


def part_name(start: int, stop: int) -> str:
    return f"runs-{start:012d}-{stop:012d}.csv"


def _header(columns: list[str]) -> bytes:
    """The CSV header line of a part and of the whole CSV."""
    return (",".join(columns) + "\n").encode("utf-8")


# ---------------------------------------------------------------- CSV rows


def format_rows(
    runs: pd.DataFrame, outcome: pd.DataFrame, columns: list[str], config: SweepConfig
) -> bytes:
    """The CSV rows of these runs (no header), one ``\\n``-terminated line per run, as UTF-8.

    The rows are joined in compiled code (:mod:`bpsweep._csvfmt`, which writes floats as
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


# ---------------------------------------------------------------- parts and plans


def existing_parts(parts_dir: Path, n_runs: int) -> list[tuple[int, int, Path]]:
    """Finished parts as (start, stop, path), sorted; raises SweepError on overlaps."""
    parts = []
    if parts_dir.is_dir():
        for path in parts_dir.iterdir():
            m = PART_RE.match(path.name)
            if m:
                parts.append((int(m.group(1)), int(m.group(2)), path))
    parts.sort()
    end = 0
    for start, stop, path in parts:
        if start < end or stop <= start or stop > n_runs:
            raise SweepError(
                f"{parts_dir}: part {path.name} overlaps another part or lies "
                f"outside runs 0..{n_runs - 1}; run with --fresh to start over"
            )
        end = stop
    return parts


def missing_ranges(parts, n_runs: int) -> list[tuple[int, int]]:
    """The run_id ranges [a, b) that no part covers."""
    gaps, end = [], 0
    for start, stop, _ in parts:
        if start > end:
            gaps.append((end, start))
        end = stop
    if end < n_runs:
        gaps.append((end, n_runs))
    return gaps


def plan_chunks(gaps, chunk_size: int) -> list[tuple[int, int]]:
    """Split the gaps at multiples of chunk_size: chunk k is [k*K, (k+1)*K) within the gaps."""
    chunks = []
    for a, b in gaps:
        s = a
        while s < b:
            e = min((s // chunk_size + 1) * chunk_size, b)
            chunks.append((s, e))
            s = e
    return chunks


def default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_workers(n_runs: int, jobs: int | None) -> int:
    """Worker processes to use: ``jobs`` when given; by default every core for sweeps of
    WORKERS_FROM runs or more, and none (this process, numba threads on every core) below,
    where starting worker processes (about a second or two) would cost more than it saves."""
    if jobs is not None:
        return jobs
    return default_jobs() if n_runs >= WORKERS_FROM else 1


def default_chunk_size(n_runs: int, workers: int) -> int:
    """Runs per chunk. Workers: about 4 chunks per worker, 1,000 to 50,000 runs each. In this
    process: about 8 chunks, 10,000 to 50,000 runs each (big chunks keep numba's threads busy)."""
    if workers <= 1:
        return int(max(min(max(math.ceil(n_runs / 8), 10_000), MAX_CHUNK), 1))
    return int(min(max(math.ceil(n_runs / (4 * workers)), MIN_CHUNK), MAX_CHUNK))


# ---------------------------------------------------------------- progress


class Progress:
    """A one-line progress bar on stderr (runs done, runs/s, ETA), only on a terminal."""

    def __init__(self, total: int, done: int, enabled: bool):
        self.total, self.done0, self.done = total, done, done
        self.enabled = enabled and sys.stderr.isatty()
        self.t0 = time.perf_counter()
        self.last = 0.0
        self.show(force=True)

    def advance(self, n: int) -> None:
        self.done += n
        self.show()

    def show(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if not force and now - self.last < 0.1 and self.done < self.total:
            return
        self.last = now
        elapsed = now - self.t0
        rate = (self.done - self.done0) / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        frac = self.done / self.total if self.total else 1.0
        bar = "#" * int(30 * frac) + "-" * (30 - int(30 * frac))
        eta_text = _seconds(eta) if math.isfinite(eta) else "?"
        sys.stderr.write(
            f"\r[{bar}] {self.done:,}/{self.total:,} runs  {rate:,.0f} runs/s  ETA {eta_text}   "
        )
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            self.show(force=True)
            sys.stderr.write("\n")
            sys.stderr.flush()


def _seconds(s: float) -> str:
    if s < 60:
        return f"{s:.1f}s"
    m, s = divmod(int(round(s)), 60)
    return f"{m}m{s:02d}s" if m < 60 else f"{m // 60}h{m % 60:02d}m"


# ---------------------------------------------------------------- the sweep


@dataclass
class SweepOutcome:
    """What a sweep did: paths written, counts, timing, and the JSON sidecar's content."""

    config: SweepConfig
    csv_path: Path
    json_path: Path
    n_runs: int
    computed: int  #: runs computed by this call (the rest came from parts or a finished CSV)
    wall_seconds: float
    run_steps: int  #: updates applied by the runs computed in this call
    counts: dict = field(default_factory=dict)  #: status -> runs, over all runs
    median_steps: float = float("nan")
    already_complete: bool = False
    metadata: dict = field(default_factory=dict)

    def summary(self) -> str:
        n = self.n_runs
        shares = "  ".join(f"{s} {100 * self.counts.get(s, 0) / n:.1f}%" for s in STATUSES)
        rate = self.run_steps / self.wall_seconds if self.wall_seconds > 0 else float("nan")
        if self.already_complete:
            head = (
                f"{self.config.name}: {n:,} runs, already complete (nothing computed; "
                f"--fresh recomputes)"
            )
        else:
            reused = f", {n - self.computed:,} from earlier parts" if self.computed < n else ""
            head = (
                f"{self.config.name}: {n:,} runs ({self.computed:,} computed{reused}) in "
                f"{self.wall_seconds:.2f} s, {rate:,.0f} run-steps/s"
            )
        return "\n".join(
            [
                head,
                f"  {shares}  median steps {self.median_steps:g}",
                f"  wrote {self.csv_path}",
                f"        {self.json_path}",
            ]
        )


def _as_config(config_or_path, overrides) -> SweepConfig:
    if isinstance(config_or_path, SweepConfig):
        if overrides:
            raise UsageError("overrides apply to a config path or dict, not a SweepConfig")
        return config_or_path
    if isinstance(config_or_path, dict):
        return config_from_dict(config_or_path, overrides=overrides)
    return load_config(config_or_path, overrides=overrides)


def _check_int(name: str, value, minimum: int = 1):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise UsageError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


def _kernels_cached() -> bool:
    """Whether numba's cache holds the batched H = 2 kernel, the slowest to compile (numba's
    own cache object knows where its index lives, NUMBA_CACHE_DIR included); True when that
    cannot be told, so that the first-run notice is never wrong twice."""
    try:
        from .kernels import _train_h2_range

        return os.path.exists(_train_h2_range._cache._cache_file._index_path)
    except Exception:  # numba's private layout changed: say nothing
        return True


def execute(
    config_or_path,
    *,
    jobs: int | None = None,
    chunk_size: int | None = None,
    out_dir=None,
    fresh: bool = False,
    quiet: bool = True,
    overrides=None,
    backend: str = "loky",
    device: str = "cpu",
    scheduler: str | None = None,
) -> SweepOutcome:
    """Run (or resume) a sweep and write its CSV and JSON; returns a :class:`SweepOutcome`.

    Holds at most a few chunks of rows in memory (plus 9 bytes per run for the summary).
    See :func:`run_sweep` for the arguments.
    """
    config = _as_config(config_or_path, overrides)
    jobs = _check_int("jobs", jobs)
    chunk_size = _check_int("chunk_size", chunk_size)
    if device not in CHUNK_TRAINERS:
        raise UsageError(f"unknown device {device!r}; expected one of {', '.join(CHUNK_TRAINERS)}")
    if scheduler is not None and backend != "dask":
        raise UsageError("a scheduler address needs backend 'dask' (--backend dask)")
    n = config.n_runs
    workers = default_workers(n, jobs)
    if device == "cuda":
        workers = _check_cuda(config, jobs, backend)
    session = None
    if backend == "dask":
        from .cluster import DaskSession

        session = DaskSession(scheduler, jobs)  # checks dask is installed; starts nothing yet
    out = Path("results" if out_dir is None else out_dir)
    csv_path, json_path = out / f"{config.name}.csv", out / f"{config.name}.json"
    parts_dir = out / f"{config.name}.parts"
    fingerprint = config.fingerprint()
    started = _dt.datetime.now(_dt.UTC)
    t0 = time.perf_counter()

    if fresh:
        _remove_parts(parts_dir)
    elif not parts_dir.exists() and csv_path.exists() and json_path.exists():
        previous = _read_json(json_path)
        if previous.get("fingerprint") == fingerprint:
            return _complete_outcome(config, csv_path, json_path, previous)
        raise SweepError(
            f"{csv_path} holds the results of a different config ({_diff(previous, config)}); "
            f"run with --fresh to replace them, or give the sweep another name"
        )
    out.mkdir(parents=True, exist_ok=True)
    _open_parts(parts_dir, config, fingerprint, n)
    parts = existing_parts(parts_dir, n)
    gaps = missing_ranges(parts, n)
    steps = np.zeros(n, dtype=np.int64)
    status = np.full(n, -1, dtype=np.int8)
    for start, stop, path in parts:
        old = pd.read_csv(path, usecols=["steps", "status"])
        steps[start:stop] = old["steps"].to_numpy(np.int64)
        status[start:stop] = pd.Categorical(old["status"], categories=STATUSES).codes
    if session is not None and gaps:
        workers = session.start()  # connect or start the cluster; its worker count
    try:
        if not chunk_size:
            chunk_size = default_chunk_size(n, workers)
            if device == "cuda":
                chunk_size = max(1, min(n, GPU_MAX_CHUNK))
        chunks = plan_chunks(gaps, chunk_size)
        computed = sum(b - a for a, b in chunks)
        if chunks and not quiet and device == "cpu" and not _kernels_cached():
            print(
                "bpsweep: first run: numba is compiling the kernels (about a minute, once; "
                "later runs load them from its cache)",
                file=sys.stderr,
                flush=True,
            )
        progress = Progress(n, n - computed, enabled=not quiet)
        n_workers = min(workers, len(chunks))
        try:
            results = (
                session.dispatch(config, chunks, parts_dir, device)
                if session is not None
                else _dispatch(config, chunks, parts_dir, n_workers, backend, device)
            )
            for res in results:
                if res.text is not None:  # a dask worker's part: written here, by the client
                    write_part(parts_dir, res.start, res.stop, [res.text])
                steps[res.start : res.stop] = res.steps
                status[res.start : res.stop] = res.status
                progress.advance(res.stop - res.start)
        finally:
            progress.close()
    finally:
        if session is not None:
            session.close()

    _assemble(parts_dir, n, csv_path, result_columns(config))
    wall = time.perf_counter() - t0
    ended = _dt.datetime.now(_dt.UTC)
    computed_mask = np.zeros(n, dtype=bool)
    for a, b in chunks:
        computed_mask[a:b] = True
    run_steps = int(steps[computed_mask].sum())
    counts = {s: int((status == i).sum()) for i, s in enumerate(STATUSES)}
    median = float(np.median(steps)) if n else float("nan")
    metadata = {
        "name": config.name,
        "description": config.description,
        "config_file": config.source,
        "config": config.resolved(),
        "fingerprint": fingerprint,
        "runs": n,
        "varying": {a.name: a.describe() for a in config.varying()},
        "computed_runs": computed,
        "resumed_runs": n - computed,
        "start_time": started.isoformat(timespec="seconds"),
        "end_time": ended.isoformat(timespec="seconds"),
        "wall_seconds": wall,
        "run_steps": run_steps,
        "run_steps_per_second": run_steps / wall if wall > 0 else None,
        "status_counts": counts,
        "median_steps": median,
        "jobs": jobs if jobs is not None else "default",
        "workers": workers if session is not None else max(n_workers, 1),
        "chunk_size": chunk_size,
        "backend": "dask" if session is not None else backend if n_workers > 1 else "in-process",
        "scheduler": session.address if session is not None else None,
        "device": device,
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "versions": versions(),
        "csv": str(csv_path),
    }
    _write_atomic(json_path, json.dumps(metadata, indent=2, default=str) + "\n")
    _remove_parts(parts_dir)
    return SweepOutcome(
        config, csv_path, json_path, n, computed, wall, run_steps, counts, median, metadata=metadata
    )


def _check_cuda(config: SweepConfig, jobs, backend) -> int:
    """Checks for ``device="cuda"`` made before anything is written; returns the worker count
    (1: the GPU path trains in this process, chunk after chunk)."""
    if (jobs or 1) > 1 or backend == "dask":
        raise UsageError(
            "--device cuda trains in this process on one GPU; leave out --jobs "
            "(or use --jobs 1) and --backend dask"
        )
    from .cuda import check_hidden_cuda, require_cuda

    require_cuda()
    for h in config.hiddens:
        check_hidden_cuda(h)
    return 1


def _dispatch(config, chunks, parts_dir, n_workers, backend, device):
    """Yield ChunkResults as chunks finish (any order)."""
    if n_workers <= 1:
        for a, b in chunks:
            yield train_chunk(config, a, b, parts_dir, None, device)
        return
    import joblib

    try:
        from joblib.externals.loky.process_executor import TerminatedWorkerError
    except ImportError:  # pragma: no cover - joblib without loky
        TerminatedWorkerError = ()  # noqa: N806
    from concurrent.futures.process import BrokenProcessPool

    calls = (
        joblib.delayed(train_chunk)(config, a, b, str(parts_dir), 1, device) for a, b in chunks
    )
    done = 0
    try:
        with joblib.parallel_config(backend=backend, n_jobs=n_workers):
            for res in joblib.Parallel(return_as="generator_unordered")(calls):
                done += 1
                yield res
    except (TerminatedWorkerError, BrokenProcessPool) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SweepError(
            f"a worker process died while training (joblib/{backend}: {first}); "
            f"{done} of {len(chunks)} chunks of this call finished and are kept in {parts_dir}; "
            f"run the same command again to resume"
        ) from None


def _open_parts(parts_dir: Path, config: SweepConfig, fingerprint: str, n: int) -> None:
    manifest = parts_dir / MANIFEST
    if parts_dir.exists():
        if not manifest.is_file():
            if any(PART_RE.match(p.name) for p in parts_dir.iterdir()):
                raise SweepError(
                    f"{parts_dir} holds parts without a {MANIFEST}; run with "
                    f"--fresh to discard them"
                )
        else:
            previous = _read_json(manifest)
            if previous.get("fingerprint") != fingerprint:
                raise SweepError(
                    f"{parts_dir} holds parts of a different config ({_diff(previous, config)}); "
                    f"run with --fresh to discard them, or give the sweep another name"
                )
            for p in parts_dir.glob(".tmp-*"):
                p.unlink()
            return
    parts_dir.mkdir(parents=True, exist_ok=True)
    _write_atomic(
        manifest,
        json.dumps({"fingerprint": fingerprint, "runs": n, "config": config.resolved()}, indent=2)
        + "\n",
    )


def _diff(previous: dict, config: SweepConfig) -> str:
    """Which settings changed between a stored resolved config and this one, in words."""
    old = _flatten(previous.get("config", {}))
    new = _flatten(config.resolved())
    changed = [
        k
        for k in sorted(set(old) | set(new))
        if k not in ("name", "description") and old.get(k) != new.get(k)
    ]
    if not changed:
        return "same settings, different data file or results format"
    shown = [f"{k}: {old.get(k, '-')!r} -> {new.get(k, '-')!r}" for k in changed[:3]]
    more = f", and {len(changed) - 3} more" if len(changed) > 3 else ""
    return "changed " + "; ".join(shown) + more


def _flatten(d: dict, prefix: str = "") -> dict:
    flat = {}
    for k, v in d.items():
        if isinstance(v, dict) and k in ("data", "model", "init", "train", "sweep"):
            flat.update(_flatten(v, f"{k}."))
        else:
            flat[prefix + k] = json.loads(json.dumps(v, default=str))
    return flat


def _remove_parts(parts_dir: Path) -> None:
    if not parts_dir.is_dir():
        return
    for p in parts_dir.iterdir():
        if p.name == MANIFEST or PART_RE.match(p.name) or p.name.startswith(".tmp-"):
            p.unlink()
    try:
        parts_dir.rmdir()
    except OSError:
        pass  # someone else's files in there: leave the folder


def _assemble(parts_dir: Path, n: int, csv_path: Path, columns: list[str]) -> None:
    """Concatenate the parts in run_id order into csv_path (streamed as bytes, which the parts
    hold in UTF-8; tmp then rename)."""
    parts = existing_parts(parts_dir, n)
    gaps = missing_ranges(parts, n)
    if gaps:
        raise SweepError(f"{parts_dir}: runs {gaps[0][0]}..{gaps[0][1] - 1} have no part")
    header = _header(columns)
    with _atomic_file(csv_path) as out:
        out.write(header)
        for _, _, path in parts:
            with open(path, "rb") as part:
                if part.readline() != header:
                    raise SweepError(f"{path}: unexpected header; run with --fresh")
                _copy_rest(part, out)


def _copy_rest(part, out) -> None:
    """Append what is left to read of the binary file ``part`` to the binary file ``out``.

    With ``os.copy_file_range`` (Linux) the kernel copies it and the bytes never pass through
    Python (about 4x faster than a buffer for a 1M-run CSV); where that is missing or fails
    (another OS, a file system that does not support it), through a buffer, from where it
    stopped."""
    out.flush()  # the header is still in out's buffer
    src, dst = part.fileno(), out.fileno()
    offset, size = part.tell(), os.fstat(src).st_size
    try:
        while offset < size:
            copied = os.copy_file_range(src, dst, size - offset, offset_src=offset)
            if copied == 0:
                raise OSError("copy_file_range copied nothing")
            offset += copied
    except (AttributeError, OSError):
        part.seek(offset)
        shutil.copyfileobj(part, out, 1 << 20)


@contextlib.contextmanager
def _atomic_file(path: Path):
    """A binary file that appears at ``path`` whole or not at all: written under a temporary
    name beside it, synced, then renamed over ``path``; removed if the writing fails."""
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        with open(tmp, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_atomic(path: Path, text: str) -> None:
    with _atomic_file(path) as fh:
        fh.write(text.encode("utf-8"))


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _complete_outcome(config, csv_path, json_path, previous) -> SweepOutcome:
    counts = previous.get("status_counts", {})
    return SweepOutcome(
        config,
        csv_path,
        json_path,
        config.n_runs,
        0,
        0.0,
        0,
        counts,
        previous.get("median_steps", float("nan")),
        already_complete=True,
        metadata=previous,
    )


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict:
    import joblib
    import numba

    from . import __version__

    return {
        "bpsweep": __version__,
        "numba": numba.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "joblib": joblib.__version__,
        "python": platform.python_version(),
    }


def read_results(path) -> pd.DataFrame:
    """Read a results CSV back; floats come back bit-exact."""
    return read_csv_exact(path)


def run_sweep(
    config_or_path,
    *,
    jobs: int | None = None,
    chunk_size: int | None = None,
    out_dir=None,
    fresh: bool = False,
    quiet: bool = True,
    overrides=None,
    backend: str = "loky",
    device: str = "cpu",
    scheduler: str | None = None,
) -> pd.DataFrame:
    """Run a sweep (or resume it, or read it back when already complete); returns its table.

    config_or_path: a TOML path, a config dict (the parsed TOML; relative data paths are taken
    from the current folder) or a :class:`~bpsweep.config.SweepConfig`.
    jobs: worker processes; 1 trains in this process, numba's threads spreading each chunk over
    every core. Default: every core as workers for 100,000 runs or more, else in this process.
    chunk_size: runs per chunk (default: see :func:`default_chunk_size`).
    out_dir: folder of ``<name>.csv``, ``<name>.json`` and ``<name>.parts/`` (default
    ``results`` in the current folder). fresh: discard earlier parts or results of this name.
    quiet: no progress bar. overrides: ``["key=value", ...]`` as ``--set``.
    backend: joblib backend for the workers; ``"dask"`` sends the chunks to a dask.distributed
    cluster (docs/cluster.md): the one at ``scheduler`` (``"tcp://host:8786"``), or, without
    it, a local cluster of ``jobs`` (default: every core) single-threaded worker processes
    started for this sweep. device: ``"cpu"``, or ``"cuda"`` to train on the GPU in this
    process (docs/gpu.md; jobs must be 1).

    Returns one row per run (see docs/sweeps.md for the columns), as read back from the CSV.
    """
    outcome = execute(
        config_or_path,
        jobs=jobs,
        chunk_size=chunk_size,
        out_dir=out_dir,
        fresh=fresh,
        quiet=quiet,
        overrides=overrides,
        backend=backend,
        device=device,
        scheduler=scheduler,
    )
    return read_results(outcome.csv_path)


__all__ = ["ConfigError", "SweepError", "SweepOutcome", "execute", "read_results", "run_sweep"]
