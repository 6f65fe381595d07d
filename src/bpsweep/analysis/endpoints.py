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
from .tables import group_sorted, grouped_quantiles

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
    p = df[[f"{prefix}{n}" for n in names]].to_numpy(np.float64)
    w, b, wo = p[:, 0 : 2 * hidden : 2], p[:, 1 : 2 * hidden : 2], p[:, 2 * hidden : 3 * hidden]
    order = np.lexsort((wo, b, w), axis=-1)
    take = np.take_along_axis
    out = np.empty_like(p)
    out[:, 0 : 2 * hidden : 2] = take(w, order, axis=1)
    out[:, 1 : 2 * hidden : 2] = take(b, order, axis=1)
    out[:, 2 * hidden : 3 * hidden] = take(wo, order, axis=1)
    out[:, 3 * hidden] = p[:, 3 * hidden]
    return out


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
    cells = np.floor(points / tol).astype(np.int64)
    uniq, inverse, counts = unique_rows(cells)
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
    run_label = label[inverse]
    comp, run_comp = np.unique(run_label, return_inverse=True)
    sizes = np.bincount(run_comp)
    first_seen = np.full(len(comp), n)
    np.minimum.at(first_seen, run_comp, np.arange(n))
    rank = np.empty(len(comp), dtype=np.int64)
    rank[np.lexsort((first_seen, -sizes))] = np.arange(len(comp))
    return rank[run_comp]


def unique_rows(cells: np.ndarray):
    """(unique rows, inverse (R,), counts) of a 2-D array, the rows in the order they first
    appear: pandas ``groupby(sort=False).ngroup()``.

    Not ``np.unique(axis=0)``, which sorts the rows as structured values: measured side by side
    on the 634,647 stuck points of the 10^6-run main job (91,417 distinct cells), 2.26 s
    against 0.044 s here.
    """
    frame = pd.DataFrame(cells)
    inverse = frame.groupby(list(frame.columns), sort=False).ngroup().to_numpy(np.int64)
    _, first = np.unique(inverse, return_index=True)
    return cells[first], inverse, np.bincount(inverse)


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
    for model, where in _model_rows(df):
        where = where[mask[where]]
        if not len(where):
            continue
        hidden = int(df["hidden"].iloc[where[0]]) if "hidden" in df.columns else 2
        names = param_names(hidden)
        part = df.iloc[where][[f"final_{n}" for n in names]]
        vec = canonical_final(part, hidden)
        lab = cluster_points(transform(vec), tol)
        ssr = df["final_ssr"].to_numpy(np.float64)[where]
        n_clusters = int(lab.max()) + 1
        med = np.column_stack([grouped_median(v, lab, n_clusters) for v in vec.T])
        dist = np.abs(vec - med[lab]).max(axis=1)
        order = np.lexsort((dist, lab))  # by cluster, then distance, ties in row order
        rep = order[np.searchsorted(lab[order], np.arange(n_clusters))]  # pandas' idxmin
        (spread,) = grouped_quantiles(dist, lab, n_clusters, (0.9,))
        table = pd.DataFrame({**{k: [v] * n_clusters for k, v in model.items()}})
        table["runs"] = np.bincount(lab)
        table["share"] = table["runs"] / total
        for name in ("converged", "max_steps"):
            hits = status_is(df, name)[where]
            table[name] = np.bincount(lab, hits, n_clusters).astype(int)
        (table["ssr_min"],) = grouped_quantiles(ssr, lab, n_clusters, (0.0,))
        table["ssr_median"] = grouped_median(ssr, lab, n_clusters)
        table["spread"] = spread
        table["rep_run_id"] = run_ids(df)[where[rep]]
        table["rep_ssr"] = ssr[rep]
        for j, name in enumerate(names):
            table[name] = vec[rep, j]
        table.insert(0, "id", np.arange(next_id, next_id + n_clusters))
        labels[where] = lab + next_id
        next_id += n_clusters
        tables.append(table)
    labels = pd.Series(labels, index=df.index)
    if not tables:
        return pd.DataFrame(columns=["id", "runs", "share", "rep_run_id", "rep_ssr"]), labels
    return pd.concat(tables, ignore_index=True), labels


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


def grouped_median(values, codes, n_groups: int) -> np.ndarray:
    """The median of ``values`` within each group (G,), NaN left out, as pandas'
    ``groupby().median()`` computes it to the last bit: the middle value, or the sum of the
    two middle ones over 2."""
    v, n, start = group_sorted(values, codes, n_groups)
    has = n > 0
    hi = np.where(has, start + n // 2, 0)
    lo = np.where(has, start + (n - 1) // 2, 0)
    if not len(v):
        return np.full(n_groups, np.nan)
    even = (v[hi] + v[lo]) / 2
    return np.where(has, np.where(n % 2 == 1, v[hi], even), np.nan)


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
