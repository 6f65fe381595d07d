"""``bpsweep trace RESULTS --run-id N``: re-run chosen runs of a results file, print or plot
them."""

from __future__ import annotations

from pathlib import Path

from .. import analysis as A
from ..analysis.formatting import format_table
from ..atomic import os_reason
from ..errors import OutputError
from ._options import check_file, check_matplotlib, load, number_option, print_quietly


def register(sub) -> None:
    p = sub.add_parser(
        "trace",
        help="re-run chosen runs of a results file and show their SSR per step",
        description="Re-run chosen runs of a results file (results are deterministic, so the "
        "re-run reproduces the row) and print or plot their SSR per step.",
    )
    p.add_argument("results", help="results file (.csv or .parquet)")
    p.add_argument("--run-id", nargs="+", required=True, metavar="N", help="run ids to re-run")
    p.add_argument("--plot", metavar="FILE", help="write the loss curves to FILE (PNG)")
    p.add_argument("--csv", metavar="FILE", help="write the full trace (every step) to FILE")
    p.add_argument(
        "--show",
        metavar="N",
        help="steps to print per run: the first N >= 0 and the last (default 10)",
    )
    p.set_defaults(func=_cmd_trace)


def _cmd_trace(args) -> int:
    run_ids = [number_option("--run-id", v, None, integer=True, minimum=0) for v in args.run_id]
    show = number_option("--show", args.show, 10, integer=True, minimum=0)
    if args.plot:
        check_matplotlib()
        check_file("--plot", args.plot)
    if args.csv:
        check_file("--csv", args.csv)
    df = load(args.results, "trace")
    trace, check = A.trace_runs(df, run_ids)
    errors = []
    if args.csv:
        try:
            trace.to_csv(args.csv, index=False, float_format="%.17g")
        except OSError as exc:
            errors.append(f"cannot write --csv {args.csv}: {os_reason(exc)}")
    if args.plot:
        from ..analysis.plots import save_figure, trace_plot

        try:
            save_figure(trace_plot(trace).figure, args.plot)
        except OutputError as exc:
            errors.append(str(exc))
    lines = []
    for _, c in check.iterrows():
        part = trace[trace["run_id"] == c["run_id"]]
        lines.append(
            f"run {c['run_id']}: {c['status_rerun']} after {c['steps_rerun']} steps, "
            f"SSR {part['ssr'].iloc[0]:.6g} -> {c['final_ssr_rerun']:.6g}"
            + (
                ""
                if c["reproduced"]
                else f"  (the file says {c['status']} after {c['steps']} steps, SSR "
                f"{c['final_ssr']:.6g}: not reproduced; edited or another version?)"
            )
        )
        shown = part if len(part) <= show + 2 else part.iloc[[*range(show), len(part) - 1]]
        lines.append(format_table(shown.drop(columns="run_id"), "table", digits=6))
    if args.csv and not any(e.startswith("cannot write --csv") for e in errors):
        lines.append(f"trace written to {args.csv}")
    if args.plot and Path(args.plot).is_file() and not any(args.plot in e for e in errors):
        lines.append(f"loss curves written to {args.plot}")
    print_quietly(lines)
    if errors:
        raise OutputError("; ".join(errors))
    return 0 if check["reproduced"].all() else 1
