"""A map's results as tables: grouped by bands of each axis, not by every value of the axes.

A map (``bpsweep map``) trains one run per pixel of a W x H plane over two settings, so each
axis takes W (or H) values and a table per value would have a row per pixel column. Here each
axis is cut into a few equal bands in its own scale (log10 units on a log axis, as the map's
window is), a pixel belonging to the band its centre lies in, and the outcome, the shares and
the sensitivity to an ``init_<p>`` axis are given per band.

A table is a map's when it has the pixel columns ``map_i`` and ``map_j`` (or its sidecar has a
``map`` entry); the window (axis names, scale, edges) comes from the sidecar, else from the
columns themselves (the two settings or ``init_<p>`` columns that vary, and for the bands'
ranges their values).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..model import DEFAULT_FIT_SSR
from ..sweeps.results import SETTING_COLUMNS, status_is, varies
from .tables import Groups, _binary_ranks, _grouped_pearson, _nan_spread, outcome_tables

#: How many equal bands each axis of a map is cut into (fewer when the axis has fewer pixels).
DEFAULT_BANDS = 8


@dataclass(frozen=True)
class MapAxes:
    """What a table knows of its map: the settings on the axes (``x`` along map_i, ``y``
    along map_j; None when the table lacks them), the resolution, and when known the scale
    of each axis ("linear" or "log") and its window's edges in the axis' units (log10 units
    on a log axis)."""

    x: str | None
    y: str | None
    width: int
    height: int
    scale: tuple = (None, None)
    edges: tuple | None = None  #: ((x0, x1), (y0, y1)) in the axes' units
    name: str | None = None

    @property
    def names(self) -> tuple:
        return (self.x, self.y)

    def describe(self) -> str:
        """``lr_hidden (log) x lr_output (log), 1024 x 1024 pixels``."""

        def one(axis):
            name = self.names[axis] or ("map_i", "map_j")[axis]
            scale = self.scale[axis]
            return f"{name} ({scale})" if scale else name

        return f"{one(0)} x {one(1)}, {self.width:,} x {self.height:,} pixels"


def map_axes(df: pd.DataFrame) -> MapAxes | None:
    """The map a table is the results of, or None when it is not a map's (no map_i and map_j
    columns, and no ``map`` entry in its sidecar ``df.attrs["meta"]``)."""
    meta = df.attrs.get("meta")
    window = None
    if isinstance(meta, dict):
        entry = meta.get("map")
        window = entry.get("window") if isinstance(entry, dict) else None
        if not isinstance(window, dict):
            config = meta.get("config")
            window = config.get("map") if isinstance(config, dict) else None
    has_pixels = "map_i" in df.columns and "map_j" in df.columns
    spec = _window(window)
    if spec is not None and (has_pixels or all(n in df.columns for n in spec.names)):
        return spec
    if not has_pixels or not len(df):
        return None
    i, j = df["map_i"].to_numpy(), df["map_j"].to_numpy()
    width, height = int(i.max()) + 1, int(j.max()) + 1
    candidates = [c for c in df.columns if c in SETTING_COLUMNS or c.startswith("init_")]
    candidates = [c for c in candidates if _numeric(df[c]) and varies(df[c])]
    row, col = j == j[0], i == i[0]  # one row of pixels, one column of pixels
    x = next((c for c in candidates if varies(df[c][row])), None)
    y = next((c for c in candidates if c != x and varies(df[c][col])), None)
    return MapAxes(x, y, width, height, name=meta.get("name") if isinstance(meta, dict) else None)


def _numeric(col: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)


def _window(table) -> MapAxes | None:
    """The MapAxes of a sidecar's window (``map.window`` or the config's ``[map]``), or None
    when it is not one."""
    try:
        x, y = str(table["x"]), str(table["y"])
        width, height = (int(v) for v in table["resolution"])
        center = [float(v) for v in table["center"]]
        span = [float(v) for v in table["span"]]
        scale = tuple(table.get("scale") or ("linear", "linear"))
    except (TypeError, KeyError, ValueError, AttributeError):
        return None
    if width < 1 or height < 1 or len(center) != 2 or len(span) != 2 or len(scale) != 2:
        return None
    if not all(math.isfinite(v) for v in (*center, *span)):
        return None
    edges = tuple((c - s / 2, c + s / 2) for c, s in zip(center, span))
    return MapAxes(x, y, width, height, tuple(str(s) for s in scale), edges)


def pixel_index(df: pd.DataFrame, axes: MapAxes, axis: int) -> np.ndarray:
    """Each run's pixel column (axis 0, map_i) or row (axis 1, map_j): the column itself, or
    from the axis setting's value and the window when the table lacks it."""
    column = ("map_i", "map_j")[axis]
    if column in df.columns:
        return df[column].to_numpy(np.int64)
    size = (axes.width, axes.height)[axis]
    (lo, hi), name = axes.edges[axis], axes.names[axis]
    value = df[name].to_numpy(np.float64)
    if axes.scale[axis] == "log":
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.log10(value)
    return np.clip(np.floor((value - lo) / (hi - lo) * size), 0, size - 1).astype(np.int64)


def band_groups(df: pd.DataFrame, axes: MapAxes, bands: int = DEFAULT_BANDS) -> list[Groups]:
    """One :class:`Groups` per axis: each run's band of that axis (the band its pixel's
    centre lies in: pixel k of n is in band floor((k + 1/2) bands / n)), and the bands'
    frame: ``axis`` (the setting), ``band`` (1 = the low end), ``lo`` and ``hi`` (its range:
    the window's edges in the setting's units when the window is known, else the lowest and
    highest value of the setting in the band)."""
    out = []
    for axis in (0, 1):
        size = (axes.width, axes.height)[axis]
        n_bands = max(1, min(bands, size))
        index = pixel_index(df, axes, axis)
        codes = (2 * index + 1) * n_bands // (2 * size)
        name = axes.names[axis] or ("map_i", "map_j")[axis]
        if axes.edges is not None:
            e0, e1 = axes.edges[axis]
            cuts = e0 + (e1 - e0) * np.arange(n_bands + 1) / n_bands
            if axes.scale[axis] == "log":
                cuts = 10.0**cuts
            lo, hi = cuts[:-1], cuts[1:]
        else:
            values = df[name].to_numpy(np.float64) if name in df.columns else index * 1.0
            lo = np.full(n_bands, np.nan)
            hi = np.full(n_bands, np.nan)
            np.fmin.at(lo, codes, values)
            np.fmax.at(hi, codes, values)
        frame = pd.DataFrame(
            {"axis": [name] * n_bands, "band": np.arange(1, n_bands + 1), "lo": lo, "hi": hi}
        )
        out.append(Groups(codes, frame))
    return out


def map_outcome_table(
    df: pd.DataFrame,
    axes: MapAxes,
    fit_ssr: float = DEFAULT_FIT_SSR,
    bands: int = DEFAULT_BANDS,
    groups: list[Groups] | None = None,
) -> pd.DataFrame:
    """:func:`bpsweep.analysis.tables.outcome_table` per band of each axis, the x axis' bands
    first: columns axis, band, lo, hi, then as the outcome table's."""
    groups = band_groups(df, axes, bands) if groups is None else groups
    return pd.concat(outcome_tables(df, groups, fit_ssr), ignore_index=True)


def map_sensitivity(
    df: pd.DataFrame,
    axes: MapAxes,
    fit_ssr: float = DEFAULT_FIT_SSR,
    bands: int = DEFAULT_BANDS,
    groups: list[Groups] | None = None,
) -> pd.DataFrame:
    """Sensitivity to the map's ``init_<p>`` axes (none on a map over other settings): per
    such axis ``param``, ``runs``, the Spearman correlations over the whole map of its value
    with a good fit (``rho_fit``), of its magnitude with a good fit (``rho_fit_abs``) and of
    its value with the steps of converged runs (``rho_steps``), the good-fit share in each band
    of the axis (``fit_b1`` = the low end, the bands of the outcome table) and their
    ``spread`` (max - min), ranked by spread.

    The ranks are counted, not sorted: every run of a pixel column holds the same value."""
    groups = band_groups(df, axes, bands) if groups is None else groups
    n_bands = max(len(g.frame) for g in groups)
    columns = ["param", "runs", "rho_fit", "rho_fit_abs", "rho_steps"]
    columns += [f"fit_b{b + 1}" for b in range(n_bands)] + ["spread"]
    rows = []
    good = df["final_ssr"].to_numpy(np.float64) < fit_ssr
    conv = status_is(df, "converged")
    steps = df["steps"].to_numpy(np.float64)
    one = np.zeros(len(df), dtype=np.int64)
    for axis, name in enumerate(axes.names):
        if not name or not name.startswith("init_") or name not in df.columns:
            continue
        pixel = pixel_index(df, axes, axis)
        x = df[name].to_numpy(np.float64)
        size = int(pixel.max()) + 1 if len(pixel) else 0
        value = np.zeros(size)
        value[pixel] = x  # the value of each pixel column (row)
        rank_x = _pixel_ranks(pixel, value)
        rank_abs = _pixel_ranks(pixel, np.abs(value))
        rank_good = _binary_ranks(good, one, 1)
        rho_fit = _grouped_pearson(one, rank_x, rank_good, 1)[0]
        rho_abs = _grouped_pearson(one, rank_abs, rank_good, 1)[0]
        rank_xc = _pixel_ranks(pixel[conv], value)
        rank_steps = _count_ranks(steps[conv])
        rho_steps = _grouped_pearson(one[conv], rank_xc, rank_steps, 1)[0]
        band = groups[axis]
        k = len(band.frame)
        with np.errstate(invalid="ignore", divide="ignore"):
            shares = np.bincount(band.codes, good, k) / np.bincount(band.codes, minlength=k)
        row = {"param": name[5:], "runs": len(df), "rho_fit": rho_fit, "rho_fit_abs": rho_abs}
        row["rho_steps"] = rho_steps
        row.update({f"fit_b{b + 1}": shares[b] if b < k else np.nan for b in range(n_bands)})
        row["spread"] = _nan_spread(shares[None, :])[0]
        rows.append(row)
    table = pd.DataFrame(rows, columns=columns)
    table = table.sort_values("spread", ascending=False, kind="mergesort", na_position="last")
    table["rank"] = np.arange(1, len(table) + 1)
    return table.reset_index(drop=True)


def _pixel_ranks(pixel: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Average ranks over the runs of ``value[pixel]`` (each run takes its pixel column's
    value), counted from the pixels' values and how many runs each holds."""
    distinct, inverse = np.unique(value, return_inverse=True)
    counts = np.bincount(inverse[pixel], minlength=len(distinct)).astype(np.float64)
    before = np.cumsum(counts) - counts
    return (before + (counts + 1) / 2)[inverse[pixel]]


def _count_ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks of whole numbers >= 0 (steps), counted."""
    whole = values.astype(np.int64)
    counts = np.bincount(whole).astype(np.float64) if len(whole) else np.zeros(1)
    before = np.cumsum(counts) - counts
    return (before + (counts + 1) / 2)[whole]


def with_rep_pixels(table: pd.DataFrame, df: pd.DataFrame, axes: MapAxes) -> pd.DataFrame:
    """A basins or stuck table of a map with the place of each representative run on the
    map: its axis settings' values (``rep_<x>``, ``rep_<y>``), after ``rep_ssr``."""
    if not len(table) or "rep_run_id" not in table.columns:
        return table
    ids = df["run_id"].to_numpy() if "run_id" in df.columns else np.arange(len(df))
    want = table["rep_run_id"].to_numpy()
    if len(ids) and (ids[1:] > ids[:-1]).all():  # as written: in order
        pos = np.searchsorted(ids, want)
    else:
        pos = pd.Index(ids).get_indexer(want)
    cols = list(table.columns)
    at = cols.index("rep_ssr") + 1 if "rep_ssr" in cols else len(cols)
    table = table.copy()
    for name in axes.names[::-1]:
        if name and name in df.columns:
            table.insert(at, f"rep_{name}", df[name].to_numpy()[pos])
    return table
