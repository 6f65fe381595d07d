"""Tables as text: aligned columns for the terminal, Markdown, CSV or JSON."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..errors import UsageError

FORMATS = ("table", "csv", "markdown", "json")


def format_table(table: pd.DataFrame, fmt: str = "table", digits: int = 4) -> str:
    """A table as text: aligned ``table``, ``markdown`` (pipe table), ``csv`` or ``json``.

    ``table`` and ``markdown`` show floats with ``digits`` significant digits (whole numbers
    as such, NaN as an empty cell, booleans as yes/no); ``csv`` and ``json`` keep every digit.
    """
    if fmt == "csv":
        return table.to_csv(index=False, float_format="%.17g").rstrip("\n")
    if fmt == "json":
        return table.to_json(orient="records", double_precision=15)
    cells = [[cell(v, digits) for v in row] for row in table.itertuples(index=False)]
    header = [str(c) for c in table.columns]
    if fmt == "markdown":
        lines = [
            "| " + " | ".join(header) + " |",
            "|" + "|".join("---:" if _numeric(table[c]) else "---" for c in table.columns) + "|",
        ]
        lines += ["| " + " | ".join(r) + " |" for r in cells]
        return "\n".join(lines)
    if fmt != "table":
        raise UsageError(f"unknown format {fmt!r}; expected {', '.join(FORMATS)}")
    widths = [max([len(h)] + [len(r[j]) for r in cells]) for j, h in enumerate(header)]
    right = [_numeric(table[c]) for c in table.columns]

    def line(values):
        return "  ".join(
            v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right)
        ).rstrip()

    return "\n".join([line(header)] + [line(r) for r in cells])


def _numeric(col: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)


def cell(value, digits: int = 4) -> str:
    """One value as table text (see format_table)."""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return ""
        if math.isfinite(value) and value == int(value) and abs(value) < 1e6:
            return str(int(value))
        return f"{value:.{digits}g}"
    return str(value)


def interval(value, lo, hi, digits: int = 3) -> str:
    """A share and its interval as ``0.170 [0.148, 0.195]`` (empty for NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def span(lo, hi, digits: int = 3) -> str:
    """A range as ``0.170..0.183`` (empty for NaN)."""
    if lo is None or (isinstance(lo, float) and math.isnan(lo)):
        return ""
    return f"{lo:.{digits}f}..{hi:.{digits}f}"


def display_tables(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The analysis tables as shown on a terminal or in a report (numbers in CSV and JSON).

    The outcome table loses its interval columns (``<share>_lo``, ``_hi``, ``_chaos_min``,
    ``_chaos_max``) and ``shares`` shows them as text, each share ``0.170 [0.148, 0.195]``
    (its 95% Wilson interval; left out when every group holds a single run, where it says
    nothing); with a chaos table, the chaos table gains each share's range
    under the 1e-12 moves, ``0.168..0.183``. Other tables pass through.
    """
    out = dict(tables)
    outcome = tables.get("outcome")
    if outcome is None:
        return out
    extra = [c for c in outcome.columns if c.endswith(("_lo", "_hi", "_chaos_min", "_chaos_max"))]
    out["outcome"] = outcome.drop(columns=extra)
    keys = list(outcome.columns[: list(outcome.columns).index("runs")])
    shares = [c[:-3] for c in outcome.columns if c.endswith("_lo")]
    text = outcome[keys + ["runs"]].copy()
    for s in shares:
        text[s] = [
            interval(v, lo, hi)
            for v, lo, hi in zip(outcome[s], outcome[f"{s}_lo"], outcome[f"{s}_hi"])
        ]
    if (outcome["runs"] > 1).any():
        out["shares"] = text
    chaos = tables.get("chaos")
    if chaos is not None and all(f"{s}_chaos_min" in outcome.columns for s in shares):
        ranges = outcome[keys].copy()
        for s in shares:
            ranges[s] = [
                span(lo, hi) for lo, hi in zip(outcome[f"{s}_chaos_min"], outcome[f"{s}_chaos_max"])
            ]
        if keys:  # the chaos table has only the groups that had re-runs
            chaos = chaos.merge(ranges, on=keys, how="left")
        else:
            chaos = chaos.assign(**{s: ranges[s].iloc[0] for s in shares})
        out["chaos"] = chaos
    return out
