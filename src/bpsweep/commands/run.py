"""``bpsweep run CONFIG``: run (or resume) a sweep into ``<out>/<name>.csv`` and ``.json``."""

from __future__ import annotations

from ..errors import UsageError
from ..sweeps import runner
from ..sweeps.config import load_config
from ..sweeps.dispatch import check_local_jobs
from ..sweeps.options import BACKENDS, DEVICES, FORMATS, RunOptions
from ._options import add_overrides


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
        "--yes",
        action="store_true",
        help="start work estimated to take over an hour (otherwise refused with the estimate)",
    )
    add_overrides(
        p,
        "override a setting, e.g. --set lr=0.3, --set train.max_steps=100, "
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
        choices=DEVICES,
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
    if config.mode == "map":  # its Parquet, image and JSON are bpsweep map's, and only its
        raise UsageError(
            f"{args.config} is a map config ([map]): train and draw it with "
            f"`bpsweep map {args.config}` (bpsweep run would replace the map's files)"
        )
    # every option checked against the config (dask installed, a GPU there, ...) first
    plan = runner.plan(config, run_options(args))
    if args.backend == "dask":
        from ..sweeps.cluster import import_distributed

        import_distributed()
    if args.dry_run:  # says what a real run would do: reuse a finished sweep, or fit
        print(plan.describe())
        return 0
    print(runner.run_plan(plan).summary())
    return 0


def run_options(args) -> RunOptions:
    """The RunOptions of ``bpsweep run``'s (or ``bpsweep map``'s) parsed options."""
    return RunOptions(
        jobs=args.jobs,
        chunk_size=getattr(args, "chunk_size", None),
        out=args.out,
        results_format=getattr(args, "results_format", "csv"),
        fresh=args.fresh,
        quiet=args.quiet,
        backend=getattr(args, "backend", "loky"),
        scheduler=getattr(args, "scheduler", None),
        device=args.device,
        yes=args.yes,
    )
