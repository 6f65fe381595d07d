"""Reports of an analysis: one self-contained HTML file (tables and base64 PNGs embedded, no
network needed) or Markdown with the PNGs written beside it."""

from __future__ import annotations

import base64
import html
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from ..atomic import writing
from ..errors import OutputError, ResultsError
from ..model import DEFAULT_FIT_SSR
from ..sweeps.results import varying_settings
from .formatting import cell, display_tables, format_table
from .maptables import map_axes

SECTIONS = (
    (
        "outcome",
        "Outcomes per setting",
        "Shares of runs per outcome; steps over converged runs, final SSR over runs that did not "
        "diverge. false_conv: converged by the step-size rule with a poor fit.",
    ),
    (
        "shares",
        "Shares with their uncertainty",
        "Each share of the outcome table with its 95% Wilson interval over the group's runs: "
        "the range a share could have with other random starts drawn the same way.",
    ),
    (
        "sensitivity",
        "Sensitivity to initialization",
        "Per initial parameter: Spearman correlation with a good fit (rho_fit, and for its "
        "magnitude rho_fit_abs) and with steps; good-fit share per quantile bin (q1 = lowest "
        "values); ranked by the spread of those shares.",
    ),
    (
        "basins",
        "Solution basins",
        "Distinct solutions good fits end in (hidden units in canonical order), with a "
        "representative run.",
    ),
    (
        "stuck",
        "Where runs get stuck",
        "Distinct places where runs end with a poor fit (local minima or plateaus).",
    ),
    (
        "chaos",
        "Sensitivity to the last bit",
        "Runs re-run from starts nudged by 1e-12 (relative): share whose outcome (status or good "
        "fit) changed, share that ended elsewhere (moved), and the range (min..max over the "
        "perturbations) of each share of the outcome table recomputed with the re-runs.",
    ),
)
PLOT_TITLES = {
    "map": "The map",
    "outcome_map": "Outcome map",
    "init_scatter": "Outcome by starting values",
    "ssr_histogram": "Final SSR",
    "steps": "Steps to convergence",
    "basin_curves": "Fitted curves of the basins",
    "param_curve": "SSR curve and the steps",
}


def _summary(df: pd.DataFrame, fit_ssr: float) -> list[tuple[str, str]]:
    axes = map_axes(df)
    items = [
        ("results", str(df.attrs.get("path", "(in memory)"))),
        ("runs", f"{len(df):,}"),
        ("varying settings", ", ".join(varying_settings(df)) or "none")
        if axes is None
        else ("map", f"{axes.describe()}; tables by equal bands of each axis"),
        ("good fit", f"final SSR < {fit_ssr:g}"),
    ]
    meta = df.attrs.get("meta")  # the sweep's sidecar, <name>.json
    if isinstance(meta, dict):
        versions = meta.get("versions")
        for label, value in (
            ("name", meta.get("name")),
            ("swept", meta.get("end_time")),
            ("bpsweep", versions.get("bpsweep") if isinstance(versions, dict) else None),
        ):
            if value is not None:
                items.append((label, str(value)))
    return items


def write_report(
    path,
    df: pd.DataFrame,
    tables: dict[str, pd.DataFrame],
    fit_ssr: float = DEFAULT_FIT_SSR,
    plots: bool = True,
    images=None,
    drawn=None,
) -> Path:
    """Write the report to ``path``: .html/.htm (self-contained) or .md (PNGs beside it, named
    <stem>-<plot>.png). ``tables``: from analysis.analyse(); ``images``: figures made
    elsewhere (see :func:`bpsweep.analysis.plots.make_figures`); ``drawn``: the plots as PNG
    files already written ({name: path}, from make_plots), embedded or copied instead of being
    drawn again. Returns the path. OutputError naming the path and the cause when it cannot
    be written."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".html", ".htm", ".md", ".markdown"):
        raise ResultsError(f"--report {path}: expected a .html or .md file name")
    from . import plots as P

    if path.is_dir():
        raise OutputError(f"cannot write the report {path}: a folder is in the way")
    if drawn:
        images = dict(drawn)  # PNG files: copied (Markdown) or embedded (HTML) as they are
    if suffix in (".md", ".markdown"):
        images = (
            P.make_plots(df, path.parent, tables, fit_ssr, f"{path.stem}-", images, only=drawn)
            if plots
            else {}
        )
        _write_text(path, _markdown(df, tables, fit_ssr, images))
        return path
    with tempfile.TemporaryDirectory() as tmp:
        images = P.make_plots(df, tmp, tables, fit_ssr, images=images, only=drawn) if plots else {}
        data = {
            k: base64.b64encode(Path(v).read_bytes()).decode("ascii") for k, v in images.items()
        }
    _write_text(path, _html(df, tables, fit_ssr, data))
    return path


def _write_text(path: Path, text: str) -> None:
    with writing(path, "the report", make_folder=True):
        path.write_text(text)


def _show(tables, name):
    table = tables.get(name)
    if table is None:
        return None
    if name == "stuck":
        return table.head(15)
    if name == "basins":
        return table.head(20)
    return table


#: Section titles and notes that differ on a map.
MAP_SECTIONS = {
    "outcome": (
        "Outcomes per band of each axis",
        "Each axis of the map cut into equal bands in its own scale (log10 on a log axis; lo, "
        "hi: the band's range), the shares of its runs per outcome; steps over converged "
        "runs, final SSR over runs that did not diverge.",
    ),
    "sensitivity": (
        "Sensitivity to the map's init axes",
        "Per init_<p> axis: Spearman correlation over the whole map of its value with a good "
        "fit (rho_fit, rho_fit_abs for its magnitude) and with steps; good-fit share per band "
        "of the axis (b1 = the low end).",
    ),
}


def _sections(df):
    """The report's sections, (table name, title, note), for this table (a map's differ)."""
    if map_axes(df) is None:
        return SECTIONS
    return tuple((n, *MAP_SECTIONS.get(n, (t, x))) for n, t, x in SECTIONS)


def _markdown(df, tables, fit_ssr, images) -> str:
    tables = display_tables(tables)
    lines = ["# bpsweep analysis", ""]
    lines += [f"- **{k}**: {v}" for k, v in _summary(df, fit_ssr)]
    for name, title, text in _sections(df):
        table = _show(tables, name)
        if table is None:
            continue
        lines += [
            "",
            f"## {title}",
            "",
            text,
            "",
            format_table(table, "markdown") if len(table) else "(none)",
        ]
    if images:
        lines += ["", "## Plots"]
        for name, file in images.items():
            lines += [
                "",
                f"### {PLOT_TITLES.get(name, name)}",
                "",
                f"![{PLOT_TITLES.get(name, name)}]({Path(file).name})",
            ]
    return "\n".join(lines) + "\n"


CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}
table{border-collapse:collapse;font-size:13px;margin:.5em 0}
td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}th{background:#f0f0f0}
img{max-width:100%;border:1px solid #ddd;margin:.5em 0}.note{color:#555}"""


def _html_table(table: pd.DataFrame) -> str:
    if not len(table):
        return "<p>(none)</p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell(v, 4))}</td>" for v in row) + "</tr>"
        for row in table.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html(df, tables, fit_ssr, images) -> str:
    tables = display_tables(tables)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>bpsweep analysis</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>bpsweep analysis</h1>",
        "<ul>",
    ]
    parts += [
        f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in _summary(df, fit_ssr)
    ]
    parts.append(f"<li><b>written</b>: {stamp}</li></ul>")
    for name, title, text in _sections(df):
        table = _show(tables, name)
        if table is None:
            continue
        parts += [
            f"<h2>{html.escape(title)}</h2>",
            f'<p class="note">{html.escape(text)}</p>',
            _html_table(table),
        ]
    if images:
        parts.append("<h2>Plots</h2>")
        for name, data in images.items():
            title = html.escape(PLOT_TITLES.get(name, name))
            parts += [
                f"<h3>{title}</h3>",
                f'<img alt="{title}" src="data:image/png;base64,{data}">',
            ]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
