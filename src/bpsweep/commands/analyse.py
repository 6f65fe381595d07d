"""``bpsweep analyse RESULTS``: outcome, sensitivity, basin and stuck tables, plots, report."""

from __future__ import annotations

import json
import sys
import time

from .. import analysis as A

TABLES = ("outcome", "sensitivity", "basins", "stuck", "chaos")


def register(sub) -> None:
    p = sub.add_parser(
        "analyse",
        aliases=["analyze"],
        help="summarise a results CSV: outcomes, sensitivity, basins, plots and a report",
        description="Analyse a sweep's results CSV: outcome table per setting that varies, "
        "sensitivity to the initial values, solution basins and stuck places; optionally "
        "plots, a report and a chaos check (re-runs from starts nudged by 1e-12).",
    )
    p.add_argument(
        "results",
        help="results CSV written by `bpsweep run` (its .json sidecar is read when present)",
    )
    p.add_argument(
        "--by",
        nargs="+",
        metavar="COL",
        help="group by these columns (default: every setting that varies)",
    )
    p.add_argument(
        "--fit-ssr",
        type=float,
        default=A.DEFAULT_FIT_SSR,
        help="a good fit has final SSR below this (default 0.01)",
    )
    p.add_argument(
        "--basin-tol",
        type=float,
        default=0.25,
        help="grid size for grouping final parameter vectors (default 0.25)",
    )
    p.add_argument("--plots", metavar="DIR", help="write the PNG plots to DIR")
    p.add_argument(
        "--report",
        metavar="FILE",
        help="write a report: FILE.html (self-contained) or FILE.md (PNGs beside)",
    )
    p.add_argument(
        "--format",
        default="table",
        choices=["table", "csv", "markdown", "json"],
        help="how to print the tables (default: aligned table)",
    )
    p.add_argument(
        "--table",
        choices=[*TABLES, "all"],
        help="print only this table (default: all; outcome for --format csv)",
    )
    p.add_argument(
        "--chaos",
        action="store_true",
        help="re-run runs from starts perturbed by +-1e-12 (relative) and report "
        "the share whose outcome changes",
    )
    p.add_argument(
        "--chaos-sample",
        type=int,
        metavar="N",
        help="with --chaos, re-run N runs drawn at random instead of all",
    )
    p.set_defaults(func=_cmd_analyse)


def _check_plots_available():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise A.AnalysisError(
            "--plots and --report need matplotlib: pip install bpsweep[plots]"
        ) from None


def _cmd_analyse(args) -> int:
    if args.fit_ssr <= 0:
        raise A.AnalysisError(f"--fit-ssr must be > 0, got {args.fit_ssr}")
    if args.basin_tol <= 0:
        raise A.AnalysisError(f"--basin-tol must be > 0, got {args.basin_tol}")
    if args.chaos_sample is not None and args.chaos_sample < 1:
        raise A.AnalysisError(f"--chaos-sample must be >= 1, got {args.chaos_sample}")
    if args.plots or args.report:
        _check_plots_available()
    if args.report and not args.report.lower().endswith((".html", ".htm", ".md", ".markdown")):
        raise A.AnalysisError(f"--report {args.report}: expected a .html or .md file name")
    t0 = time.perf_counter()
    df = A.load_results(args.results)
    t_load = time.perf_counter() - t0
    tables = A.analyse(
        df,
        by=args.by,
        fit_ssr=args.fit_ssr,
        run_chaos=args.chaos or args.chaos_sample is not None,
        chaos_sample=args.chaos_sample,
        basin_tol=args.basin_tol,
    )
    t_analyse = time.perf_counter() - t0 - t_load
    _print_tables(df, tables, args)
    notes = []
    if args.plots:
        from ..plots import make_plots

        made = make_plots(df, args.plots, tables, args.fit_ssr)
        notes.append(f"plots written to {args.plots}: {', '.join(p.name for p in made.values())}")
    if args.report:
        from ..report import write_report

        notes.append(f"report written to {write_report(args.report, df, tables, args.fit_ssr)}")
    notes.append(f"read {len(df):,} runs in {t_load:.1f} s, analysed in {t_analyse:.1f} s")
    for note in notes:
        print(note, file=sys.stderr if args.format in ("csv", "json") else sys.stdout)
    return 0


def _print_tables(df, tables, args) -> None:
    chosen = args.table or ("outcome" if args.format == "csv" else "all")
    names = [n for n in TABLES if n in tables and chosen in ("all", n)]
    if args.format == "json":
        print(json.dumps({n: json.loads(A.format_table(tables[n], "json")) for n in names}))
        return
    if args.format == "csv":
        for n in names:
            print(A.format_table(tables[n], "csv"))
        return
    md = args.format == "markdown"
    varying = ", ".join(A.varying_settings(df)) or "none"
    print(
        f"{df.attrs.get('path')}: {len(df):,} runs; varying: {varying}; "
        f"good fit: final SSR < {args.fit_ssr:g}"
    )
    titles = {
        "outcome": "Outcomes",
        "sensitivity": "Sensitivity to initialization (ranked "
        "by the spread of the good-fit share over quantile bins q1..q5 of the value)",
        "basins": "Solution basins of good fits (canonical parameters of a representative run)",
        "stuck": "Where runs get stuck with a poor fit (largest 15)",
        "chaos": "Chaos: shares whose outcome changed / that ended elsewhere when "
        "the start moved by 1e-12",
    }
    for n in names:
        table = tables[n].head(15) if n == "stuck" else tables[n]
        if n == "sensitivity" and len(table):
            keys = [c for c in table.columns[: list(table.columns).index("param")]]
            informative = table["rho_fit"].notna() | table["rho_steps"].notna()
            if keys:
                informative = informative.groupby([table[k] for k in keys], dropna=False).transform(
                    "any"
                )
            if not informative.all():
                table = table[informative]
                titles[n] += " (groups without any information omitted)"
        print()
        print(f"## {titles[n]}" if md else f"{titles[n]}:")
        if md:
            print()
        print(A.format_table(table, args.format if md else "table") if len(table) else "(none)")
