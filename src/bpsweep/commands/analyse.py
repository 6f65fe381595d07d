"""``bpsweep analyse RESULTS``: outcome, sensitivity, basin and stuck tables, plots, report."""

from __future__ import annotations

import json
import sys
import time

from .. import analysis as A
from ..analysis.formatting import display_tables, format_table
from ..errors import OutputError
from ._options import check_file, check_folder, check_matplotlib, load, number_option, print_quietly

#: Tables that can be printed, in order (shares: the outcome table's shares with intervals).
TABLES = ("outcome", "shares", "sensitivity", "basins", "stuck", "chaos")
DEFAULT_CHAOS_REPEATS = 3
MAX_CHAOS_REPEATS = 100


def register(sub) -> None:
    p = sub.add_parser(
        "analyse",
        aliases=["analyze"],
        help="summarise a results file: outcomes, sensitivity, basins, plots and a report",
        description="Analyse a sweep's results (CSV or Parquet): outcome table per setting "
        "that varies (shares with 95% Wilson intervals), sensitivity to the initial values, "
        "solution basins and stuck places; optionally plots, a report and a chaos check "
        "(re-runs from starts nudged by 1e-12).",
    )
    p.add_argument(
        "results",
        help="results file written by `bpsweep run` (.csv, or .parquet; its .json sidecar is "
        "read when present)",
    )
    p.add_argument(
        "--by",
        nargs="+",
        metavar="COL",
        help="group by these columns (default: every setting that varies)",
    )
    p.add_argument(
        "--fit-ssr",
        metavar="X",
        help=f"a good fit has final SSR below X > 0 (default {A.DEFAULT_FIT_SSR:g})",
    )
    p.add_argument(
        "--basin-tol",
        metavar="X",
        help="grid size X > 0 for grouping final parameter vectors "
        f"(default {A.DEFAULT_BASIN_TOL:g})",
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
        "the share whose outcome changes and the range of each share",
    )
    p.add_argument(
        "--chaos-sample",
        metavar="N",
        help="with --chaos, re-run N >= 1 runs drawn at random instead of all",
    )
    p.add_argument(
        "--chaos-repeats",
        metavar="K",
        help="with --chaos, perturb each start K times with fresh signs "
        f"(1..{MAX_CHAOS_REPEATS}, default {DEFAULT_CHAOS_REPEATS})",
    )
    p.set_defaults(func=_cmd_analyse)


def _cmd_analyse(args) -> int:
    fit_ssr = number_option("--fit-ssr", args.fit_ssr, A.DEFAULT_FIT_SSR, minimum=0)
    basin_tol = number_option("--basin-tol", args.basin_tol, A.DEFAULT_BASIN_TOL, minimum=0)
    chaos_sample = number_option("--chaos-sample", args.chaos_sample, None, integer=True, minimum=1)
    repeats = number_option(
        "--chaos-repeats",
        args.chaos_repeats,
        DEFAULT_CHAOS_REPEATS,
        integer=True,
        minimum=1,
        maximum=MAX_CHAOS_REPEATS,
    )
    if args.plots or args.report:
        check_matplotlib()
    if args.report and not args.report.lower().endswith((".html", ".htm", ".md", ".markdown")):
        raise A.AnalysisError(f"--report {args.report}: expected a .html or .md file name")
    if args.plots:
        check_folder("--plots", args.plots)
    if args.report:
        check_file("--report", args.report)
    run_chaos = args.chaos or chaos_sample is not None or args.chaos_repeats is not None
    figures = bool(args.plots or args.report)
    wanted = _wanted_tables(args, figures)

    def columns(available, meta):  # what the tables asked for read, no more
        return A.needed_columns(
            available, wanted, plots=figures, chaos=run_chaos, by=args.by, meta=meta
        )

    t0 = time.perf_counter()
    df = load(args.results, "analyse", columns)
    t_load = time.perf_counter() - t0
    tables = A.analyse(
        df,
        by=args.by,
        fit_ssr=fit_ssr,
        run_chaos=run_chaos,
        chaos_sample=chaos_sample,
        basin_tol=basin_tol,
        chaos_repeats=repeats,
        tables=wanted,
        parallel=True,
    )
    t_analyse = time.perf_counter() - t0 - t_load
    machine = args.format in ("csv", "json")
    axes = A.map_axes(df) if args.by is None else None
    skipped = _skipped(df, wanted, run_chaos)
    stdout_ok = print_quietly(_table_lines(df, tables, args, fit_ssr, repeats, axes))
    notes, errors = list(skipped), []
    images, made = {}, None
    if figures and axes is not None:
        images, note = _map_images(df, axes, args.results, fit_ssr)
        notes += [note] if note else []
    if args.plots:
        from ..analysis.plots import make_plots

        try:
            made = make_plots(df, args.plots, tables, fit_ssr, images=images)
            names = ", ".join(p.name for p in made.values())
            notes.append(f"plots written to {args.plots}: {names}")
        except OutputError as exc:
            errors.append(str(exc))
    if args.report:
        from ..analysis.report import write_report

        try:  # the plots just written go into the report as they are, not drawn again
            path = write_report(args.report, df, tables, fit_ssr, images=images, drawn=made)
            notes.append(f"report written to {path}")
        except OutputError as exc:
            errors.append(str(exc))
    notes.append(f"read {len(df):,} runs in {t_load:.1f} s, analysed in {t_analyse:.1f} s")
    if machine or not stdout_ok:
        for note in notes:
            print(note, file=sys.stderr)
    else:
        print_quietly(notes)
    if errors:
        raise OutputError("; ".join(errors))
    return 0


def _wanted_tables(args, figures: bool) -> tuple:
    """The tables to make: those printed (--table), and every one for plots and reports."""
    chosen = args.table or ("outcome" if args.format == "csv" else "all")
    if figures or chosen == "all":
        return A.TABLES
    return {"shares": ("outcome",), "chaos": ("outcome",)}.get(chosen, (chosen,))


def _skipped(df, wanted, run_chaos: bool) -> list[str]:
    """A note for each table asked for that cannot be made from the columns the file has."""
    notes = []
    for name in [*wanted, *(["chaos"] if run_chaos else [])]:
        missing = A.missing_for(df, name)
        if missing:
            lean = " (a lean map: pixels, axes and outcomes only)" if A.is_map_table(df) else ""
            shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
            notes.append(f"{name}: skipped, the file has no {shown}{lean}")
    return notes


def _map_images(df, axes, results, fit_ssr):
    """({"map": the map's figure}, note): ``<name>-figure.png`` beside the results when
    ``bpsweep map`` drew it, else the map drawn here from the table (outcome colours)."""
    from pathlib import Path

    beside = Path(results).with_name(Path(results).stem + "-figure.png")
    if beside.is_file():
        return {"map": beside}, None
    import numpy as np

    from ..maps import image
    from ..model import STATUSES
    from ..sweeps.window import MapSpec

    width, height = axes.width, axes.height
    if "map_i" not in df.columns or "map_j" not in df.columns or len(df) != width * height:
        return {}, "map figure: skipped, the table does not hold every pixel of the map once"
    at = df["map_j"].to_numpy(np.int64) * width + df["map_i"].to_numpy(np.int64)
    status = np.full(width * height, -1, dtype=np.int8)
    for code, name in enumerate(STATUSES):
        status[at[A.status_is(df, name)]] = code
    if (status < 0).any():
        return {}, "map figure: skipped, the table does not hold every pixel of the map once"
    steps = np.zeros(width * height, dtype=np.int64)
    steps[at] = df["steps"].to_numpy(np.int64)
    ssr = np.zeros(width * height)
    ssr[at] = df["final_ssr"].to_numpy(np.float64)
    shape = (height, width)
    picture = image.map_image(
        "outcome",
        shape,
        status=status.reshape(shape),
        steps=steps.reshape(shape),
        final_ssr=ssr.reshape(shape),
        fit_ssr=fit_ssr,
    )
    if axes.edges is not None and all(axes.names):
        (x0, x1), (y0, y1) = axes.edges
        spec = MapSpec(
            axes.x,
            axes.y,
            ((x0 + x1) / 2, (y0 + y1) / 2),
            (x1 - x0, y1 - y0),
            (width, height),
            tuple(axes.scale),
        )
    else:  # no window known: in pixels
        spec = MapSpec("map_i", "map_j", (width / 2, height / 2), (width, height), (width, height))
    return {"map": image.map_figure(None, picture, spec).figure}, None


TITLES = {
    "outcome": "Outcomes",
    "shares": "Shares with their 95% Wilson intervals over the runs",
    "sensitivity": "Sensitivity to initialization (ranked "
    "by the spread of the good-fit share over quantile bins q1..q5 of the value)",
    "basins": "Solution basins of good fits (canonical parameters of a representative run)",
    "stuck": "Where runs get stuck with a poor fit (largest 15)",
    "chaos": "Chaos: shares whose outcome changed / that ended elsewhere when the start moved "
    "by 1e-12",
}


#: Titles that differ on a map.
MAP_TITLES = {
    "outcome": "Outcomes",
    "sensitivity": "Sensitivity to the map's init_<p> axes (Spearman over the whole map; "
    "good-fit share per band b1..b8 of the axis, as in the outcome table)",
    "basins": "Solution basins of the map's good fits (canonical parameters of a "
    "representative run, and where it lies on the map)",
    "stuck": "Where runs get stuck with a poor fit (largest 15; the representative's place on "
    "the map)",
}


def _shares_numeric(outcome):
    keys = list(outcome.columns[: list(outcome.columns).index("runs")])
    cols = [
        c
        for s in A.SHARES
        for c in (s, f"{s}_lo", f"{s}_hi", f"{s}_chaos_min", f"{s}_chaos_max")
        if c in outcome.columns
    ]
    return outcome[keys + ["runs", *cols]]


def _table_lines(df, tables, args, fit_ssr, repeats, axes=None):
    chosen = args.table or ("outcome" if args.format == "csv" else "all")
    if args.format in ("csv", "json"):
        tables = {**tables, "shares": _shares_numeric(tables["outcome"])}
        names = [n for n in TABLES if n in tables and chosen == n]
        if chosen == "all":  # every table once: the shares are columns of the outcome table
            names = [n for n in TABLES if n in tables and n != "shares"]
        if args.format == "json":
            yield json.dumps({n: json.loads(format_table(tables[n], "json")) for n in names})
        else:
            for n in names:
                yield format_table(tables[n], "csv")
        return
    shown = display_tables(tables)
    names = [n for n in TABLES if n in shown and chosen in ("all", n)]
    md = args.format == "markdown"
    titles = dict(TITLES)
    if axes is not None:
        yield (
            f"{df.attrs.get('path')}: {len(df):,} runs, a map over {axes.describe()}; "
            f"good fit: final SSR < {fit_ssr:g}"
        )
        bands = len(tables["outcome"]) // 2 if "outcome" in tables else A.DEFAULT_BANDS
        titles.update(MAP_TITLES)
        titles["sensitivity"] = titles["sensitivity"].replace("b1..b8", f"b1..b{bands}")
        titles["outcome"] += (
            f" by {bands} equal bands of each axis (log10 on a log axis; lo..hi: the band's "
            "range; --by COL for other groups)"
        )
    else:
        varying = ", ".join(A.varying_settings(df)) or "none"
        yield (
            f"{df.attrs.get('path')}: {len(df):,} runs; varying: {varying}; "
            f"good fit: final SSR < {fit_ssr:g}"
        )
    if "chaos" in shown:
        runs = tables["chaos_runs"].index.nunique()
        titles["chaos"] += (
            f" ({runs:,} runs x {repeats} perturbation{'s' if repeats > 1 else ''}; "
            "each share's range over the perturbations)"
        )
    for n in names:
        table = shown[n].head(15) if n == "stuck" else shown[n]
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
        yield ""
        yield f"## {titles[n]}" if md else f"{titles[n]}:"
        if md:
            yield ""
        yield format_table(table, args.format if md else "table") if len(table) else "(none)"
