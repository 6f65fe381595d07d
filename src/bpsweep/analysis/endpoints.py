"""Where runs end: solution basins of good fits and the places where poor runs get stuck.

Final parameter vectors are brought to a canonical order of the hidden units (a network and
its mirror image under swapping hidden units are the same solution), rounded to a grid and
joined where grid cells touch (single linkage on the grid).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..model import DEFAULT_FIT_SSR, param_names
from ..sweeps.results import run_ids, status_is, varies
from .tables import GroupLayout, grouped_quantiles

#: The model a final parameter vector belongs to: basins are found within each.
MODEL_COLUMNS = ("dataset", "hidden", "activation")
#: Side of the grid cells that group final parameter vectors into basins (``--basin-tol``).
DEFAULT_BASIN_TOL = 0.25


def canonical_final(df: pd.DataFrame, hidden: int, prefix: str = "final_") -> np.ndarray:
    """Final parameter vectors (R, 3H+1) with the hidden units in a canonical order.

    The network computes the same function under any permutation of its hidden units (unit i
    is (w_i, b_i, w_(H+i))); units are sorted by (w_i, b_i, w_(H+i)) lexicographically, so
    mirror images map to the same vector. Output order: param_names(hidden).
    """
    names = param_names(hidden)
    return canonical(df[[f"{prefix}{n}" for n in names]].to_numpy(np.float64), hidden)


def canonical(p: np.ndarray, hidden: int) -> np.ndarray:
    """:func:`canonical_final` of parameter vectors (R, 3H+1) in param_names(hidden) order."""
    w, b, wo = p[:, 0 : 2 * hidden : 2], p[:, 1 : 2 * hidden : 2], p[:, 2 * hidden : 3 * hidden]
    if hidden == 2:  # two units: swap where the second comes first (as lexsort orders them)
        nan = bool(np.isnan(p[:, :6]).any())
        with np.errstate(invalid="ignore"):
            swap = _before(wo[:, 1], wo[:, 0], nan)
            for key in (b, w):
                same = _same(key[:, 1], key[:, 0], nan)
                swap = _before(key[:, 1], key[:, 0], nan) | (same & swap)
        out = np.empty_like(p)  # (in p's memory order: a column at a time)
        for j, part in enumerate((w, b, wo)):
            cols = (0, 2) if j == 0 else (1, 3) if j == 1 else (4, 5)
            out[:, cols[0]] = np.where(swap, part[:, 1], part[:, 0])
            out[:, cols[1]] = np.where(swap, part[:, 0], part[:, 1])
        out[:, 6] = p[:, 6]
        return out
    order = np.lexsort((wo, b, w), axis=-1)
    take = np.take_along_axis
    out = np.empty_like(p)
    out[:, 0 : 2 * hidden : 2] = take(w, order, axis=1)
    out[:, 1 : 2 * hidden : 2] = take(b, order, axis=1)
    out[:, 2 * hidden : 3 * hidden] = take(wo, order, axis=1)
    out[:, 3 * hidden] = p[:, 3 * hidden]
    return out


def _before(x: np.ndarray, y: np.ndarray, nan: bool = True) -> np.ndarray:
    """x sorts before y as numpy sorts: NaN after every number (``nan``: there may be NaN)."""
    return (x < y) | (np.isnan(y) & ~np.isnan(x)) if nan else x < y


def _same(x: np.ndarray, y: np.ndarray, nan: bool = True) -> np.ndarray:
    """x and y sort as equals (NaN with NaN; ``nan``: there may be NaN)."""
    return (x == y) | (np.isnan(x) & np.isnan(y)) if nan else x == y


def cluster_points(points: np.ndarray, tol: float, max_cells: int = 4000) -> np.ndarray:
    """Deterministic single-linkage clustering on a grid; returns labels (R,) 0.. by size.

    Points are rounded to a grid of cell size ``tol``; cells whose indices differ by at most
    one in every coordinate (touching cells) are joined, and the connected groups of cells are
    the clusters (ties in size: the cluster whose first run comes first). The ``max_cells``
    most populated cells are joined with each other; cells beyond the cap join the most
    populated touching capped cell's cluster, or else stay clusters of their own.
    """
    # scipy here, not at the top: importing it costs 0.1-0.2 s that every bpsweep command
    # (bpsweep run too) paid at start
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    n = len(points)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    cells = points / tol
    np.floor(cells, out=cells)
    cells = cells.astype(np.int64)  # (in the points' memory order)
    uniq, inverse, counts, first = unique_rows(cells, with_first=True)
    k = len(uniq)
    order = np.lexsort((np.arange(k), -counts))  # most populated first, stable
    top, rest = order[:max_cells], order[max_cells:]
    tree = cKDTree(uniq[top].astype(np.float64))
    pairs = tree.query_pairs(1.0, p=np.inf, output_type="ndarray")  # touching: Chebyshev <= 1
    graph = coo_matrix(
        (np.ones(len(pairs), dtype=np.int8), (top[pairs[:, 0]], top[pairs[:, 1]])), shape=(k, k)
    )
    _, label = connected_components(graph, directed=False)
    if len(rest):  # cells beyond the cap: join the first (most populated) touching top cell
        near = cKDTree(uniq[rest].astype(np.float64)).sparse_distance_matrix(
            tree, 1.0, p=np.inf, output_type="ndarray"
        )
        joined = np.full(len(rest), len(top))
        np.minimum.at(joined, near["i"], near["j"])
        has = joined < len(top)
        label[rest[has]] = label[top[joined[has]]]
    # the clusters ranked by size, then by their first run: counted over cells, not runs
    comp, cell_comp = np.unique(label, return_inverse=True)
    sizes = np.bincount(cell_comp, counts, len(comp))
    first_seen = np.full(len(comp), n)
    np.minimum.at(first_seen, cell_comp, first)
    rank = np.empty(len(comp), dtype=np.int64)
    rank[np.lexsort((first_seen, -sizes))] = np.arange(len(comp))
    return rank[cell_comp][inverse]


def unique_rows(cells: np.ndarray, with_first: bool = False):
    """(unique rows, inverse (R,), counts) of a 2-D array of whole numbers, the rows in the
    order they first appear: pandas ``groupby(sort=False).ngroup()`` (and with
    ``with_first`` each unique row's first position).

    Each row is read as one number (its columns' offsets in a mixed radix) and those are
    factorized, when they fit in 62 bits; else grouped by pandas on the columns. Not
    ``np.unique(axis=0)``, which sorts the rows as structured values: measured side by side
    on the 634,647 stuck points of the 10^6-run main job (91,417 distinct cells), 2.26 s
    against 0.044 s (grouped by pandas); on the 7.5 million of a 4096 x 4096 map, the
    pandas grouping took 1.5 s of CPU, the factorized numbers 0.3 s.
    """
    n = len(cells)
    key = _row_numbers(cells) if n else None
    if key is not None:
        inverse = pd.factorize(key)[0].astype(np.int64)
    else:
        frame = pd.DataFrame(cells)
        inverse = frame.groupby(list(frame.columns), sort=False).ngroup().to_numpy(np.int64)
    # the numbers are given in order of first appearance: a row is a first where its number
    # exceeds every one before it
    if n:
        running = np.maximum.accumulate(inverse)
        first = np.flatnonzero(np.r_[True, running[1:] > running[:-1]])
    else:
        first = np.empty(0, dtype=np.int64)
    out = (cells[first], inverse, np.bincount(inverse, minlength=len(first)))
    return (*out, first) if with_first else out


def _row_numbers(cells: np.ndarray):
    """Each row of whole numbers as one int64 (mixed radix over the columns' ranges), or None
    when the ranges' product does not fit in 62 bits."""
    lo, hi = cells.min(axis=0), cells.max(axis=0)
    spans = [int(h) - int(low) + 1 for low, h in zip(lo, hi)]
    total = 1
    for span in spans:
        total *= span
    if total >= 1 << 62:
        return None
    key = np.zeros(len(cells), dtype=np.int64)
    for j, span in enumerate(spans):
        key *= span
        key += cells[:, j] - lo[j]
    return key


def _model_groups(df: pd.DataFrame):
    keys = [k for k in MODEL_COLUMNS if k in df.columns and varies(df[k])]
    if not keys:
        yield {}, df
        return
    for values, part in df.groupby(keys, sort=True, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        yield dict(zip(keys, values)), part


def _places(df: pd.DataFrame, mask: np.ndarray, tol: float, transform, total: int):
    """Cluster the canonical final vectors of the runs in ``mask``, per model; a table."""
    tables = []
    labels = np.full(len(df), -1, dtype=np.int64)
    next_id = 1
    final_ssr = df["final_ssr"].to_numpy(np.float64)
    for model, where in _model_rows(df):
        where = where[mask[where]]
        if not len(where):
            continue
        hidden = int(df["hidden"].iloc[where[0]]) if "hidden" in df.columns else 2
        names = param_names(hidden)
        # a column of the array at a time (column-major): each parameter is contiguous
        vec = np.empty((len(where), len(names)), order="F")
        for j, name in enumerate(names):
            vec[:, j] = df[f"final_{name}"].to_numpy(np.float64)[where]
        vec = canonical(vec, hidden)
        lab = cluster_points(transform(vec), tol)
        ssr = final_ssr[where]
        n_clusters = int(lab.max()) + 1
        layout = GroupLayout(lab, n_clusters)
        med = np.column_stack([grouped_median(v, lab, n_clusters, layout) for v in vec.T])
        dist = np.abs(vec[:, 0] - med[lab, 0])  # the largest distance over the parameters
        for j in range(1, len(names)):
            np.maximum(dist, np.abs(vec[:, j] - med[lab, j]), out=dist)
        rep = _first_smallest(dist, lab, n_clusters, layout.order)  # pandas' idxmin
        (spread,) = grouped_quantiles(dist, lab, n_clusters, (0.9,), layout)
        table = pd.DataFrame({**{k: [v] * n_clusters for k, v in model.items()}})
        table["runs"] = np.bincount(lab)
        table["share"] = table["runs"] / total
        for name in ("converged", "max_steps"):
            hits = status_is(df, name)[where]
            table[name] = np.bincount(lab, hits, n_clusters).astype(int)
        (table["ssr_min"],) = grouped_quantiles(ssr, lab, n_clusters, (0.0,), layout)
        table["ssr_median"] = grouped_median(ssr, lab, n_clusters, layout)
        table["spread"] = spread
        table["rep_run_id"] = run_ids(df)[where[rep]]
        table["rep_ssr"] = ssr[rep]
        # the parameters' columns in one piece: one at a time, a wide network (hidden = 1024:
        # 3,073 of them) made pandas warn thousands of times that the frame is fragmented
        params = pd.DataFrame(vec[rep], columns=list(names), index=table.index)
        table = pd.concat([table, params], axis=1)
        table.insert(0, "id", np.arange(next_id, next_id + n_clusters))
        labels[where] = lab + next_id
        next_id += n_clusters
        tables.append(table)
    labels = pd.Series(labels, index=df.index)
    if not tables:
        return pd.DataFrame(columns=["id", "runs", "share", "rep_run_id", "rep_ssr"]), labels
    return pd.concat(tables, ignore_index=True), labels


def _first_smallest(values: np.ndarray, codes: np.ndarray, n_groups: int, order) -> np.ndarray:
    """Per group, the position of its smallest value, the first in row order among equals
    (NaN left out; as pandas' ``groupby().idxmin()`` on a default index). ``order``: the rows
    by group, each group in row order (GroupLayout.order)."""
    v, c = values[order], codes[order]
    key = np.where(np.isnan(v), np.inf, v)
    smallest = np.full(n_groups, np.inf)
    np.minimum.at(smallest, c, key)
    hit = np.flatnonzero(key == smallest[c])
    _, first = np.unique(c[hit], return_index=True)
    return order[hit[first]]


def _model_rows(df: pd.DataFrame):
    """(model, row positions) for each model (MODEL_COLUMNS that vary) in the table."""
    keys = [k for k in MODEL_COLUMNS if k in df.columns and varies(df[k])]
    if not keys:
        yield {}, np.arange(len(df))
        return
    grouped = df.groupby(keys, sort=True, dropna=False, observed=True)
    for values, where in grouped.indices.items():
        values = values if isinstance(values, tuple) else (values,)
        yield dict(zip(keys, values)), np.sort(where)


def grouped_median(values, codes, n_groups: int, layout=None) -> np.ndarray:
    """The median of ``values`` within each group (G,), NaN left out, as pandas'
    ``groupby().median()`` computes it to the last bit: the middle value, or the sum of the
    two middle ones over 2. ``layout``: the codes' GroupLayout, when known."""
    values = np.asarray(values, dtype=np.float64)
    codes = np.asarray(codes, dtype=np.int64)
    n = np.bincount(codes[~np.isnan(values)], minlength=n_groups)
    layout = layout or GroupLayout(codes, n_groups)
    lo, hi = layout.kth(values, np.stack([(n - 1) // 2, n // 2]).clip(0))
    with np.errstate(invalid="ignore"):
        return np.where(n % 2 == 1, hi, (hi + lo) / 2)


def basins(
    df: pd.DataFrame,
    fit_ssr: float = DEFAULT_FIT_SSR,
    tol: float = DEFAULT_BASIN_TOL,
    with_labels: bool = False,
):
    """The distinct solutions good fits (final SSR < fit_ssr) end in, largest first.

    Final vectors are brought to canonical order (canonical_final) and clustered per model
    (dataset, hidden, activation) with :func:`cluster_points` at grid size ``tol`` (parameter
    units): solutions a chain of touching cells apart share a basin. Columns: id, the model
    keys, runs, share (of the good fits), converged, max_steps (counts), ssr_min, ssr_median,
    spread (90th percentile of the max-abs distance to the basin's median), rep_run_id, rep_ssr
    and the representative's canonical parameters (the run nearest the median). With
    ``with_labels`` returns (table, per-run basin ids, -1 for runs that are not good fits).
    """
    good = df["final_ssr"].to_numpy(np.float64) < fit_ssr
    table, labels = _places(df, good, tol, lambda v: v, max(1, int(good.sum())))
    return (table, labels) if with_labels else table


def stuck_points(
    df: pd.DataFrame,
    fit_ssr: float = DEFAULT_FIT_SSR,
    tol: float = DEFAULT_BASIN_TOL,
    with_labels: bool = False,
):
    """The distinct places where runs stop with a poor fit (local minima or plateaus).

    Runs that did not diverge and end with final SSR >= fit_ssr, clustered like basins() but
    in asinh(parameter) coordinates, so parameters drifting off to large values on a plateau
    group together. ``share`` is of all runs. Columns as in basins().
    """
    poor = ~status_is(df, "diverged") & ~(df["final_ssr"].to_numpy(np.float64) < fit_ssr)
    table, labels = _places(df, poor, tol, np.arcsinh, len(df))
    return (table, labels) if with_labels else table
