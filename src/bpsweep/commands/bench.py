"""``bpsweep bench``: the training kernels' throughput (run-steps per second)."""

from __future__ import annotations

import numba

from ..bench import run_bench
from ..errors import UsageError


def register(sub) -> None:
    """Register ``bpsweep bench`` on an argparse subparsers object."""
    p = sub.add_parser(
        "bench",
        help="measure the training kernels' throughput",
        description="Measure train_batch's throughput (run-steps per second) "
        "on the lessons' network, with fixed steps and with early stopping.",
    )
    p.add_argument("--runs", type=int, default=4000, help="runs per batch (default 4000)")
    p.add_argument(
        "--steps",
        type=int,
        default=1000,
        help="steps per run, and max_steps with early stopping (default 1000)",
    )
    p.add_argument(
        "--jobs",
        type=int,
        nargs="+",
        metavar="J",
        help="numba thread counts to time (default: 1 and all)",
    )
    p.add_argument("--repeat", type=int, default=3, help="timings per case, best kept")
    p.add_argument("--no-sweep", action="store_true", help="skip the end-to-end sweep")
    p.add_argument(
        "--device",
        choices=["cpu", "cuda"],
        default="cpu",
        help="cuda: time the GPU kernel (needs an NVIDIA GPU and bpsweep[cuda])",
    )
    p.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        metavar="R",
        default=[10**4, 10**5, 10**6, 10**7],
        help="with --device cuda: batch sizes to time (default 1e4 1e5 1e6 1e7)",
    )
    p.set_defaults(func=_cmd_bench)


def _cmd_bench(args) -> int:
    for name in ("runs", "steps", "repeat"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.device == "cuda":
        return _cmd_bench_cuda(args)
    most = numba.config.NUMBA_NUM_THREADS
    for j in args.jobs or []:
        if not 1 <= j <= most:
            raise UsageError(f"--jobs must be between 1 and {most} (numba threads), got {j}")
    print(
        run_bench(args.runs, args.steps, args.jobs, args.repeat, sweep=not args.no_sweep),
        flush=True,
    )
    return 0


def _cmd_bench_cuda(args) -> int:
    from ..cuda import bench_cuda

    if min(args.sizes) < 1:
        raise UsageError(f"--sizes must be >= 1, got {min(args.sizes)}")
    table = bench_cuda(tuple(args.sizes), steps=args.steps)
    print(f"bpsweep bench --device cuda: H=2 softplus gd, {args.steps} fixed steps (tol 0)")
    print(
        table.to_string(
            index=False,
            formatters={
                "kernel_run_steps_per_s": "{:.3e}".format,
                "run_steps_per_s": "{:.3e}".format,
                "kernel_s": "{:.4f}".format,
                "total_s": "{:.4f}".format,
            },
        ),
        flush=True,
    )
    return 0
