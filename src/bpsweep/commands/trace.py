"""``bpsweep trace RESULTS --run ID``: re-run chosen runs of a results file, print or plot them."""

from __future__ import annotations

from .. import analysis as A
from .analyse import _check_plots_available


def register(sub) -> None:
    p = sub.add_parser(
        "trace",
        help="re-run chosen runs of a results CSV and show their SSR per step",
        description="Re-run chosen runs of a results CSV (results are deterministic, so the "
        "re-run reproduces the row) and print or plot their SSR per step.",
    )
    p.add_argument("results", help="results CSV")
    p.add_argument(
        "--run-id", type=int, nargs="+", required=True, metavar="N", help="run ids to re-run"
    )
    p.add_argument("--plot", metavar="FILE", help="write the loss curves to FILE (PNG)")
    p.add_argument("--csv", metavar="FILE", help="write the full trace (every step) to FILE")
    p.add_argument(
        "--show",
        type=int,
        default=10,
        metavar="N",
        help="steps to print per run: the first N and the last (default 10)",
    )
    p.set_defaults(func=_cmd_trace)


def _cmd_trace(args) -> int:
    if args.plot:
        _check_plots_available()
    df = A.load_results(args.results)
    trace, check = A.trace_runs(df, args.run_id)
    for _, c in check.iterrows():
        part = trace[trace["run_id"] == c["run_id"]]
        print(
            f"run {c['run_id']}: {c['status_rerun']} after {c['steps_rerun']} steps, "
            f"SSR {part['ssr'].iloc[0]:.6g} -> {c['final_ssr_rerun']:.6g}"
            + (
                ""
                if c["reproduced"]
                else f"  (the CSV says {c['status']} after {c['steps']} steps, SSR "
                f"{c['final_ssr']:.6g}: not reproduced; edited or another version?)"
            )
        )
        shown = (
            part
            if len(part) <= args.show + 2
            else (part.iloc[list(range(args.show)) + [len(part) - 1]])
        )
        print(A.format_table(shown.drop(columns="run_id"), "table", digits=6))
    if args.csv:
        try:
            trace.to_csv(args.csv, index=False, float_format="%.17g")
        except OSError as exc:
            raise A.AnalysisError(f"cannot write --csv {args.csv}: {exc}") from None
        print(f"trace written to {args.csv}")
    if args.plot:
        from ..plots import trace_plot

        print(f"loss curves written to {trace_plot(trace, args.plot)}")
    return 0 if check["reproduced"].all() else 1
