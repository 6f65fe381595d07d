"""``bpsweep run CONFIG``: run (or resume) a sweep into ``<out>/<name>.csv`` and ``.json``."""

from __future__ import annotations

import math

from ..chunks import GPU_MAX_CHUNK
from ..config import SweepConfig, load_config
from ..dispatch import BACKENDS, check_local_jobs, default_chunk_size, default_workers
from ..errors import UsageError
from ..machine import size_text, usable_cores
from ..resources import SUMMARY_BYTES, check_fits, row_bytes
from ..sweep import FORMATS, _check_int, _complete, _plan, execute


def register(sub) -> None:
    """Register ``bpsweep run`` on an argparse subparsers object."""
    p = sub.add_parser(
        "run",
        help="run a sweep from a TOML config into results/<name>.csv",
        description="Run a sweep: expand the config into runs, train them in "
        "chunks in parallel, and write results/<name>.csv and .json. Running "
        "the same config again resumes from the saved parts.",
    )
    p.add_argument("config", help="sweep config (TOML), e.g. experiments/seed-lr-grid.toml")
    p.add_argument(
        "--jobs",
        type=int,
        help="worker processes; 1 runs in this process with "
        "numba's threads on every core (default: every core as workers for sweeps of "
        "500,000 runs or more, else 1)",
    )
    p.add_argument(
        "--chunk-size",
        type=int,
        help="runs per chunk (default: about 4 chunks "
        "per worker, 1,000 to 50,000; in this process about 8, 10,000 to 50,000)",
    )
    p.add_argument("--out", default="results", help="output folder (default: results)")
    p.add_argument(
        "--fresh",
        action="store_true",
        help="discard earlier parts or results of this sweep and start over",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the number of runs and what varies; write nothing",
    )
    p.add_argument(
        "--quiet", action="store_true", help="no progress bar (the summary is still printed)"
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting, e.g. --set lr=0.3, --set train.max_steps=100, "
        "--set 'sweep.lr=[0.1, 0.2]' (repeatable)",
    )
    p.add_argument(
        "--backend",
        default="loky",
        choices=BACKENDS,
        help="where worker processes run: 'loky' "
        "(this machine, default) or 'dask' (a dask cluster; docs/cluster.md)",
    )
    p.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="with --backend dask: the "
        "address of a running dask scheduler (default: start a local cluster of "
        "--jobs workers for this sweep)",
    )
    p.add_argument(
        "--device",
        default="cpu",
        choices=["cpu", "cuda"],
        help="train on the CPU (default) or on an NVIDIA GPU, in this process (docs/gpu.md)",
    )
    p.add_argument(
        "--format",
        dest="results_format",
        default="csv",
        choices=FORMATS,
        help="results file: <name>.csv (default) or <name>.parquet (float64 as is, compact)",
    )
    p.set_defaults(func=cmd_run)


def check_options(args) -> None:
    """Refuse a bad option value of ``bpsweep run`` (one line naming the option), before the
    config is read or anything is written."""
    for option, value in (("--jobs", args.jobs), ("--chunk-size", args.chunk_size)):
        if value is not None and value < 1:
            raise UsageError(f"{option} must be a whole number >= 1, found {value}")
    if args.scheduler is None:
        check_local_jobs(args.jobs, "--jobs")
    if not args.out:
        raise UsageError("--out must name a folder, found an empty string")
    if args.scheduler is not None and args.backend != "dask":
        raise UsageError(
            f"--scheduler {args.scheduler} needs --backend dask (the backend is {args.backend})"
        )


def cmd_run(args) -> int:
    check_options(args)
    config = load_config(args.config, overrides=args.overrides)
    # every option checked against the config (dask installed, a GPU there, ...) first
    plan = _plan(
        config,
        args.jobs,
        args.chunk_size,
        args.out,
        args.backend,
        args.device,
        args.scheduler,
        args.results_format,
    )
    if args.backend == "dask":
        from ..cluster import import_distributed

        import_distributed()
    if args.dry_run:
        # the checks execute makes, so that a dry run says what a real one would do: a
        # finished sweep is reused (nothing to fit), else memory and disk must fit
        done = not args.fresh and _complete(plan) is not None
        if not done:
            check_fits(config, plan.out, plan.parts_dir)
        print(
            describe(
                config,
                args.jobs,
                args.chunk_size,
                args.backend,
                args.device,
                args.scheduler,
                results_format=args.results_format,
                complete=plan.csv_path if done else None,
            )
        )
        return 0
    outcome = execute(
        config,
        jobs=args.jobs,
        chunk_size=args.chunk_size,
        out_dir=args.out,
        fresh=args.fresh,
        quiet=args.quiet,
        backend=args.backend,
        device=args.device,
        scheduler=args.scheduler,
        results_format=args.results_format,
    )
    print(outcome.summary())
    return 0


def describe(
    config: SweepConfig,
    jobs=None,
    chunk_size=None,
    backend="loky",
    device="cpu",
    scheduler=None,
    *,
    results_format="csv",
    complete=None,
) -> str:
    """The --dry-run text: runs, what varies, how the work would be split and the size of the
    results (estimated as CSV); ``complete``: the finished results a run would reuse."""
    n = config.n_runs
    jobs = _check_int("jobs", jobs)
    workers = (jobs or usable_cores()) if backend == "dask" else default_workers(n, jobs)
    if device == "cuda":
        workers = 1
    k = _check_int("chunk_size", chunk_size) or (
        max(1, min(n, GPU_MAX_CHUNK)) if device == "cuda" else default_chunk_size(n, workers)
    )
    if config.mode == "random":
        mode = f"random, {config.samples:,} samples, sweep_seed {config.sweep_seed}"
    elif config.mode == "map":
        mode = f"map, {config.map.width} x {config.map.height} pixels"
    else:
        mode = "grid"
    lines = [f"{config.name}: {n:,} runs ({mode})"]
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
    if device == "cuda":
        where = "in this process on the GPU"
    elif backend == "dask":
        where = (
            f"on the dask cluster at {scheduler}"
            if scheduler
            else f"on a local dask cluster of {jobs or usable_cores()} worker processes"
        )
    lines.append(f"chunks: {chunks:,} of up to {k:,} runs, {where}")
    per_row = row_bytes(config)
    size = "of CSV" if results_format == "csv" else "as CSV (less as Parquet)"
    lines.append(
        f"results: about {per_row} bytes a run, {size_text(per_row * n)} {size}; "
        f"{size_text(SUMMARY_BYTES * n)} of memory for the summary"
    )
    if complete is not None:
        lines.append(f"already complete: {complete} (a run would reuse it)")
    lines.append("dry run: nothing written")
    return "\n".join(lines)
