"""Run a sweep: plan the chunks no part covers, train them where asked, assemble the results.

:func:`execute` is the whole life of a sweep: a finished sweep of the same config is reported
as complete; otherwise the missing runs are trained, the parts assembled in run_id order into
``<name>.csv`` (or ``.parquet``) and ``<name>.json`` written beside it. Memory holds a few
chunks of rows (plus 9 bytes per run for the summary). The pieces: :mod:`bpsweep.sweeps.outdir` (the
output folder and the lock), :mod:`bpsweep.sweeps.parts` (the parts and their manifest),
:mod:`bpsweep.sweeps.chunks` (one chunk), :mod:`bpsweep.sweeps.dispatch` (where chunks run) and
:mod:`bpsweep.sweeps.assemble` (the results file).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import file_digest, os_reason, read_json, write_text_atomic
from ..engine.data import load_data
from ..errors import BpsweepError, OutputError, SweepError, UsageError
from ..machine import cpu_model, usable_cores, versions
from ..model import STATUSES
from ..wording import plural, size_text
from . import estimate
from ._csvfmt import read_csv_exact
from .assemble import assemble, assemble_parquet
from .chunks import GPU_MAX_CHUNK, chunk_task
from .config import SweepConfig, config_from_dict, load_config
from .dispatch import check_cuda, check_local_jobs, default_chunk_size, default_workers, dispatch
from .expand import column_kind, result_columns
from .options import RunOptions
from .outdir import (
    SweepLock,
    check_name_fits,
    make_out_dir,
    remove_if_empty,
    remove_stale_temporaries,
)
from .parts import (
    check_parts,
    describe_change,
    header_line,
    missing_ranges,
    open_parts,
    plan_chunks,
    remove_parts,
    write_part,
)
from .progress import Progress
from .resources import SUMMARY_BYTES, check_fits, row_bytes
from .results import sidecar_describes


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

    def summary(self, noun: str = "run") -> str:
        """What a run of the sweep did, in four lines (``noun``: what a run is, e.g. a pixel)."""
        n = self.n_runs
        shares = "  ".join(f"{s} {100 * self.counts.get(s, 0) / n:.1f}%" for s in STATUSES)
        name, runs = self.config.name, plural(n, noun)
        if self.already_complete:
            head = f"{name}: {runs}, already complete (nothing computed; --fresh recomputes)"
            verb = "results in"
        elif self.computed == 0:  # every run came from parts a stopped run left
            head = (
                f"{name}: {runs} (all from earlier parts, nothing computed) in "
                f"{self.wall_seconds:.2f} s"
            )
            verb = "wrote"
        else:
            rate = self.run_steps / self.wall_seconds if self.wall_seconds > 0 else float("nan")
            reused = f", {n - self.computed:,} from earlier parts" if self.computed < n else ""
            head = (
                f"{name}: {runs} ({self.computed:,} computed{reused}) in "
                f"{self.wall_seconds:.2f} s, {rate:,.0f} run-steps/s"
            )
            verb = "wrote"
        pad = " " * (len(verb) + 3)
        return "\n".join(
            [
                head,
                f"  {shares}  median steps {self.median_steps:g}",
                f"  {verb} {self.csv_path}",
                f"{pad}{self.json_path}",
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


def _kernels_cached() -> bool:
    """Whether numba's cache holds the batched kernel, the slowest to compile (numba's own
    cache object knows where its index lives, NUMBA_CACHE_DIR included); True when that cannot
    be told, so that the first-run notice is never wrong twice."""
    try:
        from ..engine.kernels import _train_batch

        return os.path.exists(_train_batch._cache._cache_file._index_path)
    except Exception:  # numba's private layout changed: say nothing
        return True


@dataclass
class Plan:
    """Where a sweep writes and how it is split, decided once, before anything runs
    (:func:`plan`); :func:`run_plan` carries it out and :meth:`describe` tells it
    (``--dry-run``)."""

    config: SweepConfig
    options: RunOptions
    csv_path: Path  #: the results file: ``<out>/<name>.csv`` or ``.parquet``
    json_path: Path
    parts_dir: Path
    fingerprint: str
    workers: int  #: worker processes (1: this process); a dask cluster says its own count

    @property
    def n(self) -> int:
        return self.config.n_runs

    @property
    def out(self) -> Path:
        return self.options.out

    def chunk_size(self, workers: int | None = None) -> int:
        """Runs per chunk: the option's, else one big chunk per GPU launch on cuda, else
        :func:`default_chunk_size` for ``workers`` (default: the plan's)."""
        given = self.options.chunk_size
        if given:
            return given
        if self.options.device == "cuda":
            return max(1, min(self.n, GPU_MAX_CHUNK))
        return default_chunk_size(self.n, self.workers if workers is None else workers)

    def finished(self) -> dict | None:
        """The sidecar of a finished sweep of this config whose results are intact, which a
        run would reuse (None: there is none, or ``fresh`` discards it); a SweepError when
        there is one that cannot be reused as it stands (see :func:`_complete`)."""
        return None if self.options.fresh else _complete(self)

    def describe(self) -> str:
        """The --dry-run text: runs, what varies, how the work would be split and the size of
        the results (estimated as CSV), and whether a finished sweep would be reused. Checks,
        as a real run would, that the summary fits memory and the results the disk."""
        done = self.finished() is not None
        if not done:
            check_fits(self.config, self.out, self.parts_dir)
        return _describe(self, complete=self.csv_path if done else None)


def plan(config: SweepConfig, options: RunOptions | None = None) -> Plan:
    """Check the options against the config and this machine (worker count, a GPU there,
    before anything is written) and decide the paths and the split."""
    options = RunOptions() if options is None else options
    if options.scheduler is None:  # workers on this machine (a remote cluster sizes itself)
        check_local_jobs(options.jobs)
    workers = default_workers(config.n_runs, options.jobs)
    if options.device == "cuda":
        workers = check_cuda(config, options.jobs, options.backend)
    out = options.out
    return Plan(
        config=config,
        options=options,
        csv_path=out / f"{config.name}.{options.results_format}",
        json_path=out / f"{config.name}.json",
        parts_dir=out / f"{config.name}.parts",
        fingerprint=config.fingerprint(),
        workers=workers,
    )


def repeating_columns(config: SweepConfig) -> set[str]:
    """The results columns whose values repeat from run to run (stored dictionary-encoded in
    Parquet): the settings, and the starts when nothing that draws them varies (a map's or a
    preset's starts; an init axis has few values)."""
    drawn = {"seed", "scheme", "scale", "biases"}
    varying = {a.name for a in config.varying()}
    starts = [] if varying & drawn else [f"init_{p}" for p in config.param_union()]
    return {*config.setting_columns(), *starts}


def _check_long_work(plan: Plan, missing: int) -> None:
    """Before training ``missing`` runs: refuse work estimated over LONG_WORK_SECONDS unless
    ``yes`` (SweepError with the estimate), and announce work over NOTICE_SECONDS on stderr
    (unless quiet). Sweeps that are short whatever happens are not estimated."""
    if missing == 0:
        return
    # a few runs (a data set of a million points, say) show no progress while they train:
    # worth the sample (about half a second) when they may take over a minute; a larger sweep,
    # whose chunks show progress, only when it may take an hour
    few = missing <= estimate.SAMPLE_RUNS
    above = estimate.NOTICE_SECONDS if few else estimate.LONG_WORK_SECONDS
    found = estimate.long_work(plan.config, above)
    if found is None:
        return
    share = missing / plan.n  # a resumed sweep: only its missing runs are still to train
    seconds = found.seconds * share
    what = f"{plural(missing, 'run')} to train, {found.describe()}"
    if seconds > estimate.LONG_WORK_SECONDS and not plan.options.yes:
        raise SweepError(
            f"{plan.config.name}: {what}; that is over an hour: run again with --yes to start "
            f"it anyway (Ctrl-C stops it, keeping finished parts), or lower max_steps or the "
            f"number of runs"
        )
    if seconds > estimate.NOTICE_SECONDS and not plan.options.quiet:
        print(
            f"bpsweep: {plan.config.name}: {what}; Ctrl-C stops it, keeping finished parts",
            file=sys.stderr,
            flush=True,
        )


def _work_text(config: SweepConfig) -> str:
    """The expected work of a sweep, for --dry-run: the estimate, or for a sweep that is
    short whatever happens its worst case."""
    found = estimate.long_work(config)
    if found is not None:
        long = (
            " (over an hour: a run needs --yes)"
            if found.seconds > estimate.LONG_WORK_SECONDS
            else ""
        )
        return found.describe() + long
    most = config.n_runs * max(int(v) for v in config.values_of("max_steps"))
    return f"at most {most:,} run-steps (every run to max_steps), under a minute on this machine"


def _describe(plan: Plan, complete: Path | None) -> str:
    """Plan.describe's text; ``complete``: the finished results a run would reuse."""
    config, options = plan.config, plan.options
    n = config.n_runs
    workers = plan.workers
    if options.backend == "dask" and options.device != "cuda":
        workers = options.jobs or usable_cores()  # a local cluster's default size
    k = plan.chunk_size(workers)
    if config.mode == "random":
        mode = f"random, {config.samples:,} samples, sweep_seed {config.sweep_seed}"
    elif config.mode == "map":
        mode = f"map, {config.map.width} x {config.map.height} pixels"
    else:
        mode = "grid"
    lines = [f"{config.name}: {plural(n, 'run')} ({mode})"]
    if config.description:
        lines.append(f"  {config.description}")
    varying = config.varying()
    if varying:
        lines.append("varies:")
        width = max(len(a.name) for a in varying)
        lines += [f"  {a.name:<{width}}  {a.describe()}" for a in varying]
    else:
        lines.append("varies: nothing (a single run)")
    chunks = math.ceil(n / k)
    w = min(workers, chunks)
    where = f"{w} worker processes" if w > 1 else "in this process on numba's threads"
    if options.device == "cuda":
        where = "in this process on the GPU"
    elif options.backend == "dask":
        where = (
            f"on the dask cluster at {options.scheduler}"
            if options.scheduler
            else f"on a local dask cluster of {options.jobs or usable_cores()} worker processes"
        )
    lines.append(f"chunks: {chunks:,} of up to {k:,} runs, {where}")
    lines.append(f"work: {_work_text(config)}")
    per_row = row_bytes(config)
    size = "of CSV" if options.results_format == "csv" else "as CSV (less as Parquet)"
    lines.append(
        f"results: about {per_row} bytes a run, {size_text(per_row * n)} {size}; "
        f"{size_text(SUMMARY_BYTES * n)} of memory for the summary"
    )
    if complete is not None:
        lines.append(f"already complete: {complete} (a run would reuse it)")
    lines.append("dry run: nothing written")
    return "\n".join(lines)


def execute(config_or_path, options: RunOptions | None = None, *, overrides=None) -> SweepOutcome:
    """Run (or resume) a sweep and write its results (CSV, or Parquet) and JSON; returns a
    :class:`SweepOutcome`. ``config_or_path``: a SweepConfig, a TOML path or a config dict
    (``overrides``: ``--set`` items for a path or dict). See :func:`run_sweep`."""
    return run_plan(plan(_as_config(config_or_path, overrides), options))


def run_plan(plan: Plan) -> SweepOutcome:
    """Carry out a :func:`plan`: report a finished sweep as complete, else train the runs no
    part covers and assemble the results. Holds at most a few chunks of rows in memory (plus
    9 bytes per run for the summary)."""
    config, options = plan.config, plan.options
    session = None
    if options.backend == "dask":
        from .cluster import DaskSession

        session = DaskSession(options.scheduler, options.jobs)  # checks dask; starts nothing
    check_name_fits(plan.out, config.name)
    started = _dt.datetime.now(_dt.UTC)
    t0 = time.perf_counter()
    created = make_out_dir(plan.out)
    lock = SweepLock(plan.out, config.name)
    try:
        lock.acquire()
    except OutputError:  # a read-only place: fine if there is nothing to write
        remove_if_empty(created)
        if plan.finished() is not None:
            return _already_complete(plan)
        raise
    try:
        with lock:
            remove_stale_temporaries(plan.out, config.name)
            if options.fresh:
                remove_parts(plan.parts_dir)
            elif plan.finished() is not None:
                _remove_leftovers(plan)
                return _already_complete(plan)
            check_fits(config, plan.out, plan.parts_dir)  # memory and disk, before any is used
            manifest = open_parts(plan.parts_dir, config, plan.fingerprint, plan.n)
            columns = result_columns(config)
            fmt = options.results_format
            steps, status = check_parts(manifest, plan.parts_dir, columns, fmt)
            gaps = missing_ranges(manifest.ranges(), plan.n)
            try:
                _check_long_work(plan, sum(b - a for a, b in gaps))
            except SweepError:
                if not manifest.parts:  # refused before anything was trained: leave no folder
                    remove_parts(plan.parts_dir)
                raise
            run = _train_missing(plan, session, manifest, gaps, steps, status)
            if fmt == "parquet":
                kinds = {c: column_kind(c) for c in columns}
                size, sha256 = assemble_parquet(
                    manifest, plan.parts_dir, plan.csv_path, kinds, repeating_columns(config)
                )
            else:
                header = header_line(columns)
                size, sha256 = assemble(manifest, plan.parts_dir, plan.csv_path, header)
            wall = time.perf_counter() - t0
            outcome = _finish(plan, run, steps, status, started, wall, size, sha256)
            remove_parts(plan.parts_dir)
    except BaseException:
        remove_if_empty(created)  # a run that failed before writing leaves no empty folder
        raise
    return outcome


_JSON_RECOVER = "run with --fresh to compute the sweep again"


def _complete(plan: Plan) -> dict | None:
    """The sidecar JSON of a finished sweep of this config whose CSV is intact, or None when
    there is no finished sweep to reuse. Raises SweepError when there is one that cannot be
    reused as it stands: an unreadable JSON, results of another config (without parts of this
    one in progress), or a CSV that changed since its JSON recorded its size and SHA-256."""
    if not (plan.csv_path.exists() and plan.json_path.exists()):
        return None
    previous = read_json(plan.json_path, _JSON_RECOVER)
    if not isinstance(previous.get("fingerprint"), str):
        raise SweepError(
            f"{plan.json_path} is not the JSON of a bpsweep sweep (it records no config "
            f"fingerprint); {_JSON_RECOVER}"
        )
    if not sidecar_describes(previous, plan.csv_path):
        return None  # the JSON is of the other format's file: compute this one
    if previous.get("fingerprint") != plan.fingerprint:
        if plan.parts_dir.exists():
            return None  # parts in progress (after --fresh): they decide
        raise SweepError(
            f"{plan.csv_path} holds the results of a different config "
            f"({describe_change(previous, plan.config)}); "
            f"run with --fresh to replace them, or give the sweep another name"
        )
    size, sha256 = previous.get("results_size"), previous.get("results_sha256")
    if plan.parts_dir.exists() and not _csv_matches(plan.csv_path, size, sha256):
        return None  # a run that stopped after its CSV and before its JSON: assemble again
    if not isinstance(size, int) or not isinstance(sha256, str):
        raise SweepError(
            f"{plan.json_path} records no size and SHA-256 of {plan.csv_path} (written by an "
            f"older bpsweep), so the results cannot be checked; {_JSON_RECOVER}"
        )
    try:
        actual = plan.csv_path.stat().st_size
        if actual == size:
            actual_size, actual_sha = file_digest(plan.csv_path)
        else:
            actual_size, actual_sha = actual, None
    except OSError as exc:
        raise SweepError(f"cannot read {plan.csv_path}: {os_reason(exc)}") from None
    if actual_size != size or actual_sha != sha256:
        what = (
            f"{actual_size:,} bytes, recorded {size:,}"
            if actual_size != size
            else "same size, different SHA-256"
        )
        raise SweepError(
            f"{plan.csv_path} has changed since it was written ({what} in {plan.json_path}); "
            f"{_JSON_RECOVER}"
        )
    return previous


def _csv_matches(path: Path, size, sha256) -> bool:
    try:
        return path.stat().st_size == size and file_digest(path)[1] == sha256
    except OSError:
        return False


def _remove_leftovers(plan: Plan) -> None:
    """Remove the parts of this config left beside its finished CSV (a run killed while it
    removed them); parts of another config (a --fresh run in progress) are left alone."""
    if not plan.parts_dir.is_dir():
        return
    try:
        manifest = read_json(plan.parts_dir / "manifest.json", "")
    except SweepError:
        return
    if manifest.get("fingerprint") == plan.fingerprint:
        remove_parts(plan.parts_dir)


def _already_complete(plan: Plan) -> SweepOutcome:
    """The outcome of a sweep whose CSV and JSON are there and intact (see :func:`_complete`)."""
    previous = read_json(plan.json_path, _JSON_RECOVER)
    return _complete_outcome(plan.config, plan.csv_path, plan.json_path, previous)


@dataclass
class _Run:
    """What :func:`_train_missing` did."""

    chunks: list
    chunk_size: int
    workers: int
    where: str  #: "in-process", the joblib backend, or "dask"
    address: str | None = None


def _train_missing(plan: Plan, session, manifest, gaps, steps, status) -> _Run:
    """Train the runs no part covers, chunk by chunk where the plan says; fills steps, status."""
    workers = plan.workers
    device, quiet = plan.options.device, plan.options.quiet
    try:
        if session is not None and gaps:
            workers = session.start()  # connect or start the cluster; its worker count
        chunk_size = plan.chunk_size(workers)
        chunks = plan_chunks(gaps, chunk_size)
        computed = sum(b - a for a, b in chunks)
        if chunks and not quiet and device == "cpu" and not _kernels_cached():
            print(
                "bpsweep: first run: numba is compiling the kernels (about 20 s, once; "
                "later runs load them from its cache)",
                file=sys.stderr,
                flush=True,
            )
        progress = Progress(plan.n, plan.n - computed, enabled=not quiet)
        n_workers = min(workers, len(chunks))
        try:
            fmt = plan.options.results_format
            if session is not None:  # the workers return their parts: they may be elsewhere
                base = plan.config.base_dir
                data = {d: load_data(d, base_dir=base) for d in plan.config.values_of("dataset")}
                task = partial(chunk_task, plan.config, None, device, fmt, data)
                results = session.dispatch(task, chunks, str(plan.parts_dir))
            else:
                task = partial(chunk_task, plan.config, str(plan.parts_dir), device, fmt, None)
                results = dispatch(
                    task, chunks, n_workers, plan.options.backend, str(plan.parts_dir)
                )
            for res in results:
                size, sha256 = res.size, res.sha256
                if res.text is not None:  # a dask worker's part: written here, by the client
                    size, sha256 = write_part(plan.parts_dir, res.start, res.stop, [res.text], fmt)
                # recorded after the part is on disk
                manifest.record(res.start, res.stop, size, sha256, fmt)
                steps[res.start : res.stop] = res.steps
                status[res.start : res.stop] = res.status
                progress.advance(res.stop - res.start)
        except BaseException:  # interrupted or failed: keep what finished, if we can
            with contextlib.suppress(BpsweepError):
                manifest.flush()
            raise
        finally:
            progress.close()
        manifest.flush()
    finally:
        if session is not None:
            session.close()
    if session is not None:
        return _Run(chunks, chunk_size, workers, "dask", session.address)
    where = plan.options.backend if n_workers > 1 else "in-process"
    return _Run(chunks, chunk_size, max(n_workers, 1), where)


def _finish(
    plan: Plan, run: _Run, steps, status, started, wall: float, size: int, sha256: str
) -> SweepOutcome:
    """Write ``<name>.json`` (provenance, counts, timing) and return the outcome."""
    n, config = plan.n, plan.config
    computed_mask = np.zeros(n, dtype=bool)
    for a, b in run.chunks:
        computed_mask[a:b] = True
    computed = int(computed_mask.sum())
    run_steps = int(steps[computed_mask].sum())
    counts = {s: int((status == i).sum()) for i, s in enumerate(STATUSES)}
    median = float(np.median(steps)) if n else float("nan")
    ended = _dt.datetime.now(_dt.UTC)
    metadata = {
        "name": config.name,
        "description": config.description,
        "config_file": config.source,
        "config": config.resolved(),
        "fingerprint": plan.fingerprint,
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
        "jobs": plan.options.jobs if plan.options.jobs is not None else "default",
        "workers": run.workers,
        "chunk_size": run.chunk_size,
        "backend": run.where,
        "scheduler": run.address,
        "device": plan.options.device,
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "versions": versions(),
        "results": str(plan.csv_path),
        "results_size": size,
        "results_sha256": sha256,
    }
    write_text_atomic(
        plan.json_path,
        json.dumps(metadata, indent=2, default=str) + "\n",
        f"the parts are kept in {plan.parts_dir}; {{action}} and run the same command again",
    )
    return SweepOutcome(
        config,
        plan.csv_path,
        plan.json_path,
        n,
        computed,
        wall,
        run_steps,
        counts,
        median,
        metadata=metadata,
    )


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


def read_results(path) -> pd.DataFrame:
    """Read a results file back (CSV or ``.parquet``); floats come back bit-exact."""
    if Path(path).suffix == ".parquet":
        return pd.read_parquet(path)
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
    results_format: str = "csv",
) -> pd.DataFrame:
    """Run a sweep (or resume it, or read it back when already complete); returns its table.

    config_or_path: a TOML path, a config dict (the parsed TOML; relative data paths are taken
    from the current folder) or a :class:`~bpsweep.sweeps.config.SweepConfig`.
    jobs: worker processes; 1 trains in this process, numba's threads spreading each chunk over
    every core. Default: every core as workers for 500,000 runs or more, else in this process.
    chunk_size: runs per chunk (default: see :func:`default_chunk_size`).
    out_dir: folder of ``<name>.csv``, ``<name>.json`` and ``<name>.parts/`` (default
    ``results`` in the current folder). fresh: discard earlier parts or results of this name.
    quiet: no progress bar. overrides: ``["key=value", ...]`` as ``--set``.
    backend: joblib backend for the workers; ``"dask"`` sends the chunks to a dask.distributed
    cluster (docs/cluster.md): the one at ``scheduler`` (``"tcp://host:8786"``), or, without
    it, a local cluster of ``jobs`` (default: every core) single-threaded worker processes
    started for this sweep. device: ``"cpu"``, or ``"cuda"`` to train on the GPU in this
    process (docs/gpu.md; jobs must be 1). results_format: ``"csv"`` or ``"parquet"``.
    (These keywords are the fields of :class:`~bpsweep.sweeps.options.RunOptions`, ``out_dir``
    being ``out``.)

    Returns one row per run (see docs/sweeps.md for the columns), as read back.
    """
    options = RunOptions(
        jobs=jobs,
        chunk_size=chunk_size,
        out=out_dir,
        results_format=results_format,
        fresh=fresh,
        quiet=quiet,
        backend=backend,
        scheduler=scheduler,
        device=device,
    )
    outcome = execute(config_or_path, options, overrides=overrides)
    return read_results(outcome.csv_path)


__all__ = [
    "Plan",
    "RunOptions",
    "SweepError",
    "SweepOutcome",
    "execute",
    "plan",
    "read_results",
    "run_plan",
    "run_sweep",
]
