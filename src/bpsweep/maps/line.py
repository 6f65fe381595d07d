"""Lines: a 1-D slice of a plane, N runs along one setting (a ``[map]`` with only ``x``).

The boundary along one learning rate is a cheaper, sharper measurement than a plane: 10^7
points cost what a 3162 x 3162 map does, and box counting on the boundary points of a line
(pairs of neighbours with different outcomes, :func:`bpsweep.maps.boxcount.boundary_points`)
gives a dimension between 0 (isolated points) and 1 (a boundary everywhere).

A line is trained, stored and assembled as a map is (tiles of T^2 points, the same cache,
resume and backends); this module draws it: ``<name>.png``, the outcome of each point and its
steps against the setting (points binned when there are more than the figure shows: each
bin's share of every outcome and its fewest, median and most steps, never one point standing
for others), and with ``dimension`` the boundary points' box counts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..model import STATUSES
from . import boxcount
from .draw import BOUNDARIES

#: Bins of the figure: a line of more points is shown as shares and ranges per bin.
FIGURE_BINS = 2048
#: Fewest points box counting takes on a line (box sizes 2 to N / 8: three at least).
MIN_POINTS = 64


def read_line(path: Path, columns) -> dict:
    """The columns of a line's results file, whole (a line of 10^7 points: status 10 MB,
    steps and the setting 80 MB each), status as codes into STATUSES."""
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=list(columns))
    out = {}
    for c in columns:
        if c == "status":
            text = table[c].combine_chunks().dictionary_encode()
            codes = np.array([STATUSES.index(s) for s in text.dictionary.to_pylist()], np.int8)
            out[c] = codes[text.indices.to_numpy(zero_copy_only=False)]
        else:
            out[c] = table[c].to_numpy()
    return out


def line_dimensions(status: np.ndarray) -> dict:
    """The JSON entry of ``--dimension`` on a line: each boundary present (both classes on
    the line) with its 1-D dimension and uncertainty, the first as the headline and the
    others under "also" (as :func:`bpsweep.maps.draw.dimension_entries` for a plane)."""
    if status.size < MIN_POINTS:
        note = f"line too short: box counting needs at least {MIN_POINTS} points"
        return {"classes": None, "D": None, "table": [], "note": note}
    entries = []
    for label, name in BOUNDARIES:
        inside = status == STATUSES.index(name)
        if not inside.any() or inside.all():
            continue
        found = boxcount.measure_dimension(inside)
        entries.append({"classes": label, **found.to_dict(), "summary": found.summary()})
    if not entries:
        return {"classes": None, "D": None, "table": [], "note": "one outcome only: no boundary"}
    return {**entries[0], "also": entries[1:]}


def line_figure(config, values: dict, fit_ssr: float, title: str, start=None):
    """The line's figure: outcome shares (top) and steps (bottom) against the setting, the
    lesson's start (``start``: its value of the setting) marked; the Figure."""
    from .image import FAMILY_NAMES, STUCK_COLOUR, _no_matplotlib, figure, outcome_families

    spec = config.map
    x, status, steps = values[spec.x], values["status"], values["steps"]
    family = outcome_families(status, values["final_ssr"], fit_ssr)
    colours = ("#2ca02c", "#ff7f0e", STUCK_COLOUR, "#d62728")  # analyse's outcome colours
    fig = figure(10.0, 5.6, missing=_no_matplotlib())
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(1, 2))
    n = x.size
    bins = min(n, FIGURE_BINS)
    edges = np.linspace(0, n, bins + 1).astype(np.int64)
    left, right = x[edges[:-1]], x[np.minimum(edges[1:], n - 1)]
    if bins < n:
        right = x[edges[1:] - 1]
    centre = np.sqrt(left * right) if spec.scale[0] == "log" else (left + right) / 2
    counts = np.add.reduceat(np.eye(4, dtype=np.int64)[family], edges[:-1], axis=0)
    shares = counts / np.diff(edges)[:, None]
    top.stackplot(centre, shares.T, colors=colours, labels=FAMILY_NAMES, step="mid")
    top.set_ylim(0, 1)
    top.set_ylabel("share of points" if bins < n else "outcome")
    top.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    lows = np.minimum.reduceat(steps, edges[:-1])
    highs = np.maximum.reduceat(steps, edges[:-1])
    if bins < n:
        bottom.fill_between(
            centre, lows, highs, color="#9ecae1", step="mid", label="fewest to most"
        )
        medians = [np.median(steps[a:b]) for a, b in zip(edges[:-1], edges[1:])]
        bottom.plot(centre, medians, color="#08519c", linewidth=0.8, label="median")
        bottom.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    else:
        for f, c in enumerate(colours):
            at = family == f
            bottom.plot(x[at], steps[at], ".", color=c, markersize=2)
    bottom.set_yscale("log")
    bottom.set_ylabel("steps (log scale)")
    bottom.set_xlabel(spec.x + (" (log scale)" if spec.scale[0] == "log" else ""))
    if spec.scale[0] == "log":
        bottom.set_xscale("log")
    if start is not None:
        for ax in (top, bottom):
            ax.axvline(start, color="black", linewidth=0.8, linestyle="--")
        bottom.annotate("lesson's start", (start, 1), xycoords=("data", "axes fraction"),
                        fontsize=8, ha="left", va="top")  # fmt: skip
    per = f"{n:,} points" + (f", {n / bins:.3g} a bin" if bins < n else "")
    top.set_title(f"{title} ({per})", fontsize=9)
    return fig


def describe_dimension(entry: dict) -> list[str]:
    """The summary lines of a line's dimension entry."""
    if entry["classes"] is None:
        return [f"  boundary dimension on the line: none ({entry.get('note', 'no boundary')})"]
    return [
        f"  boundary points' dimension on the line ({e['classes']}): {e['summary']}"
        for e in (entry, *entry.get("also", []))
    ]


__all__ = ["FIGURE_BINS", "describe_dimension", "line_dimensions", "line_figure", "read_line"]
