"""``bpsweep bench``: the training kernels' throughput (run-steps per second)."""

from __future__ import annotations

import json

import numba

from ..atomic import os_reason
from ..bench import bench, format_table
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
        "--threads",
        type=int,
        nargs="+",
        metavar="T",
        help="numba thread counts to time (default: 1 and all); threads, not processes "
        "(bpsweep run's --jobs is worker processes)",
    )
    p.add_argument("--repeat", type=int, default=3, help="timings per case, best kept")
    p.add_argument("--no-sweep", action="store_true", help="skip the end-to-end sweep")
    p.add_argument(
        "--all-cases",
        action="store_true",
        help="also every other activation and optimizer, and H = 1, 3, 8 (fixed steps)",
    )
    p.add_argument(
        "--lanes",
        type=int,
        metavar="L",
        help="runs per thread trained in lockstep (default: the kernel's LANES)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object (cases, threads, run-steps/s, ns/step, and the math "
        "functions' ns per call and max ulp error) instead of the table",
    )
    p.add_argument(
        "--end-to-end",
        type=int,
        metavar="R",
        help="also time bpsweep run on R runs of the main job's mix as a fresh process, "
        "against the kernel alone on the same runs (e.g. 120000)",
    )
    p.add_argument(
        "--map",
        type=int,
        metavar="SIDE",
        dest="map_side",
        help="also time bpsweep map of the lr_hidden x lr_output map at SIDE x SIDE pixels as "
        "a fresh process against the kernel alone on its tiles, with its first tile, its bytes "
        "a pixel (full and lean), its peak memory and a second run (e.g. 4096)",
    )
    p.add_argument(
        "--from-json",
        metavar="FILE",
        help="print the table of a saved --json result (e.g. the README's) instead of measuring",
    )
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
    if args.from_json is not None:
        return _print_saved(args.from_json)
    for name in ("runs", "steps", "repeat", "lanes", "end_to_end", "map_side"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    if args.device == "cuda":
        return _cmd_bench_cuda(args)
    most = numba.config.NUMBA_NUM_THREADS
    for j in args.threads or []:
        if not 1 <= j <= most:
            raise UsageError(f"--threads must be between 1 and {most}, got {j}")
    result = bench(
        args.runs,
        args.steps,
        args.threads,
        args.repeat,
        sweep=not args.no_sweep,
        all_cases=args.all_cases,
        lanes=args.lanes,
        math=args.json,
        end_to_end=args.end_to_end,
        map_side=args.map_side,
    )
    print(json.dumps(result) if args.json else format_table(result), flush=True)
    return 0


def _cmd_bench_cuda(args) -> int:
    from ..engine.cuda import bench_cuda

    if min(args.sizes) < 1:
        raise UsageError(f"--sizes must be >= 1, got {min(args.sizes)}")
    table = bench_cuda(tuple(args.sizes), steps=args.steps)
    if args.json:
        result = {"bpsweep_bench": 1, "device": "cuda", "steps": args.steps}
        print(json.dumps({**result, "sizes": table.to_dict(orient="records")}), flush=True)
        return 0
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


def _print_saved(path) -> int:
    try:
        with open(path, encoding="utf-8") as fh:
            result = json.load(fh)
    except OSError as exc:
        raise UsageError(f"--from-json {path}: cannot read it ({os_reason(exc)})") from None
    except ValueError as exc:
        raise UsageError(f"--from-json {path}: not JSON ({exc})") from None
    if isinstance(result, dict) and result.get("device") == "cuda":
        raise UsageError(
            f"--from-json {path}: holds GPU results (bench --device cuda --json); "
            "--from-json prints the CPU benchmark's table only"
        )
    if not (isinstance(result, dict) and result.get("bpsweep_bench") == 1 and "cases" in result):
        raise UsageError(f"--from-json {path}: expected the output of bpsweep bench --json")
    print(format_table(result), flush=True)
    return 0
