"""Analyses of a results table (one row per run; see the results-table contract in the README).

Every analysis is a function that takes the results as a pandas DataFrame and returns a
DataFrame, so a notebook can use them one by one::

    from bpsweep import analysis as A
    df = A.load_results("results/grid.csv")
    A.outcome_table(df)                 # per setting that varies: shares, steps, final SSR
    A.sensitivity(df)                   # which initial values predict a good fit
    A.basins(df); A.stuck_points(df)    # where good fits end; where poor runs get stuck
    A.chaos_table(df, A.chaos(df, sample=1000))   # outcome changes under 1e-12 perturbations
    A.trace_runs(df, [3, 17])           # re-run chosen runs and return their per-step SSR

Definitions used throughout (``fit_ssr`` default 0.01):

- good fit: final SSR < fit_ssr (whatever the status);
- false convergence: status converged but final SSR >= fit_ssr (the step-size rule was met
  because the learning rate is small, not because the slope is flat);
- stuck: status max_steps and final SSR >= fit_ssr; diverged: status diverged.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from ._csvfmt import read_csv_exact
from .data import BUILTIN, load_data
from .errors import ResultsError
from .model import STATUSES, param_names

#: Setting columns of the contract (seed is the replicate axis, not a grouping key).
SETTING_COLUMNS = (
    "dataset",
    "hidden",
    "activation",
    "optimizer",
    "momentum",
    "beta1",
    "beta2",
    "eps",
    "lr",
    "tol",
    "max_steps",
    "trainable",
    "scheme",
    "scale",
    "biases",
)
#: Columns every analysis needs; init_<p> and final_<p> of each hidden size are needed too.
CORE_COLUMNS = ("status", "steps", "final_ssr")
#: Outcome categories of one run, in display order.
OUTCOMES = ("good fit", "false convergence", "stuck", "diverged")
#: The model a final parameter vector belongs to: basins are found within each.
MODEL_COLUMNS = ("dataset", "hidden", "activation")
DEFAULT_FIT_SSR = 0.01


#: The analyses' error: a results file or table that cannot be analysed.
AnalysisError = ResultsError


# ---------------------------------------------------------------- loading and checking


def load_results(path, *, check: bool = True) -> pd.DataFrame:
    """Read a results CSV (and its JSON sidecar ``<stem>.json`` when present).

    Returns the table with ``attrs["path"]`` (str) and ``attrs["meta"]`` (the sidecar's dict, or
    None). Raises AnalysisError for a missing, empty or unreadable file, and (``check``) for a
    table that lacks columns the analyses need; extra columns are kept.
    """
    path = Path(path)
    if not path.exists():
        raise AnalysisError(f"results file {path}: no such file")
    if not path.is_file():
        raise AnalysisError(f"results file {path}: not a file")
    if path.stat().st_size == 0:
        raise AnalysisError(f"results file {path}: the file is empty; expected a results CSV")
    try:
        df = read_csv_exact(path, low_memory=False)  # bit-exact starts: re-runs match
    except pd.errors.EmptyDataError:
        raise AnalysisError(
            f"results file {path}: the file is empty (no header); expected a results CSV"
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AnalysisError(f"results file {path}: not a readable CSV file ({first})") from None
    df.columns = [str(c).strip() for c in df.columns]
    df.attrs["path"] = str(path)
    df.attrs["meta"] = _read_sidecar(path)
    if check:
        check_results(df, source=str(path))
    return df


def _read_sidecar(path: Path):
    meta_path = path.with_suffix(".json")
    if not meta_path.is_file():
        return None
    try:
        return json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        import warnings

        warnings.warn(f"{meta_path}: ignoring the sidecar, not readable JSON ({exc})", stacklevel=3)
        return None


def hidden_sizes(df: pd.DataFrame) -> list[int]:
    """The hidden sizes in the table (2 when there is no ``hidden`` column)."""
    if "hidden" not in df.columns:
        return [2]
    return sorted(int(h) for h in pd.unique(df["hidden"].dropna()))


def check_results(df: pd.DataFrame, source: str = "results") -> pd.DataFrame:
    """Check that ``df`` has what the analyses need; returns ``df``. Raises AnalysisError.

    Needed: status, steps, final_ssr, and init_<p>, final_<p> for every parameter of every
    hidden size present (hidden defaults to 2 when the column is absent).
    """
    if len(df.columns) == 0:
        raise AnalysisError(f"{source}: no columns; expected a results CSV")
    missing = [c for c in CORE_COLUMNS if c not in df.columns]
    if "hidden" in df.columns:
        hidden = pd.to_numeric(df["hidden"], errors="coerce")
        bad = hidden.isna() | (hidden < 1) | (hidden != hidden.round())
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise AnalysisError(
                f"{source}: column hidden has a bad value "
                f"{df['hidden'].iloc[row]!r} in row {row + 1}; "
                f"expected a whole number >= 1"
            )
        df["hidden"] = hidden.astype(np.int64)
    sizes = hidden_sizes(df) if not missing or "hidden" in df.columns else [2]
    names = list(dict.fromkeys(n for h in sizes for n in param_names(h)))
    missing += [
        f"{kind}_{n}"
        for kind in ("init", "final")
        for n in names
        if f"{kind}_{n}" not in df.columns
    ]
    if missing:
        raise AnalysisError(
            f"{source}: missing column(s) {', '.join(missing)}; expected a results table with "
            f"status, steps, final_ssr, init_<p> and final_<p> (found "
            f"{', '.join(map(str, df.columns[:12]))}{' ...' if len(df.columns) > 12 else ''})"
        )
    if len(df) == 0:
        raise AnalysisError(f"{source}: no runs (the table has a header but no rows)")
    status = df["status"].astype(str).str.strip()
    unknown = sorted(set(pd.unique(status)) - set(STATUSES))
    if unknown:
        raise AnalysisError(
            f"{source}: column status has unknown value(s) "
            f"{', '.join(map(repr, unknown[:5]))}; expected {', '.join(STATUSES)}"
        )
    df["status"] = status
    numeric = ["steps", "final_ssr", "initial_ssr", "lr", "tol", "max_steps", "scale"]
    numeric += [c for c in df.columns if c.startswith(("init_", "final_"))]
    for col in numeric:
        if col not in df.columns or pd.api.types.is_numeric_dtype(df[col]):
            continue
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna() & df[col].notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise AnalysisError(
                f"{source}: column {col} has a non-numeric value "
                f"{df[col].iloc[row]!r} in row {row + 1}"
            )
        df[col] = values
    return df


def varying_settings(df: pd.DataFrame) -> list[str]:
    """Setting columns (SETTING_COLUMNS) with more than one distinct value, in contract order."""
    return [c for c in SETTING_COLUMNS if c in df.columns and df[c].nunique(dropna=False) > 1]


def _keys(df: pd.DataFrame, by) -> list[str]:
    keys = varying_settings(df) if by is None else [by] if isinstance(by, str) else list(by)
    missing = [k for k in keys if k not in df.columns]
    if missing:
        raise AnalysisError(
            f"cannot group by {', '.join(missing)}: no such column(s); "
            f"columns are {', '.join(df.columns)}"
        )
    return keys


def _group_codes(df: pd.DataFrame, keys: list[str]):
    """(codes (R,) int, keys frame (G, len(keys))) for the groups of ``keys``, sorted."""
    if not keys:
        return np.zeros(len(df), dtype=np.int64), pd.DataFrame(index=[0])
    grouped = df.groupby(keys, sort=True, dropna=False, observed=True)
    codes = grouped.ngroup().to_numpy(np.int64)
    frame = grouped.size().reset_index()[keys]
    return codes, frame


def outcomes(df: pd.DataFrame, fit_ssr: float = DEFAULT_FIT_SSR) -> pd.Series:
    """Each run's outcome category (OUTCOMES): good fit, false convergence, stuck, diverged."""
    ssr = df["final_ssr"].to_numpy(np.float64)
    status = df["status"].to_numpy()
    good = ssr < fit_ssr
    cat = np.where(
        status == "diverged", 3, np.where(good, 0, np.where(status == "converged", 1, 2))
    )
    return pd.Series(pd.Categorical.from_codes(cat, OUTCOMES), index=df.index, name="outcome")


# ---------------------------------------------------------------- outcome table


def outcome_table(df: pd.DataFrame, by=None, fit_ssr: float = DEFAULT_FIT_SSR) -> pd.DataFrame:
    """Outcomes per group of ``by`` (default: every varying setting; one row when none varies).

    Columns: the keys, runs; shares (0..1) converged, max_steps, diverged, good_fit (final SSR <
    fit_ssr) and false_conv (converged with final SSR >= fit_ssr); steps_p10, steps_median,
    steps_p90 over converged runs; ssr_min, ssr_median, ssr_p90 of the final SSR over runs that
    did not diverge. NaN where a group has no such runs.
    """
    keys = _keys(df, by)
    status = df["status"].to_numpy()
    ssr = df["final_ssr"].to_numpy(np.float64)
    conv = status == "converged"
    div = status == "diverged"
    good = ssr < fit_ssr
    work = pd.DataFrame(
        {
            "runs": np.ones(len(df), dtype=np.int64),
            "converged": conv,
            "max_steps": status == "max_steps",
            "diverged": div,
            "good_fit": good,
            "false_conv": conv & ~good,
            "steps": np.where(conv, df["steps"].to_numpy(np.float64), np.nan),
            "ssr": np.where(div, np.nan, ssr),
        },
        index=df.index,
    )
    codes, frame = _group_codes(df, keys)
    g = work.groupby(codes, sort=True)
    shares = g[["converged", "max_steps", "diverged", "good_fit", "false_conv"]].mean()
    steps = g["steps"].quantile([0.1, 0.5, 0.9]).unstack()
    ssr_q = g["ssr"].quantile([0.5, 0.9]).unstack()
    table = frame.reset_index(drop=True)
    table["runs"] = g["runs"].sum().to_numpy()
    for col in shares.columns:
        table[col] = shares[col].to_numpy()
    table["steps_p10"] = steps[0.1].to_numpy()
    table["steps_median"] = steps[0.5].to_numpy()
    table["steps_p90"] = steps[0.9].to_numpy()
    table["ssr_min"] = g["ssr"].min().to_numpy()
    table["ssr_median"] = ssr_q[0.5].to_numpy()
    table["ssr_p90"] = ssr_q[0.9].to_numpy()
    return table


# ---------------------------------------------------------------- sensitivity to initialization


def _sorted_order(codes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Row order sorted by group code, then value (stable: ties keep row order)."""
    by_value = np.argsort(values, kind="stable")
    return by_value[np.argsort(codes[by_value], kind="stable")]


def _ranks_from_order(codes, values, order, method="average") -> np.ndarray:
    """1-based ranks within each group, from a (group, value) sort order of these rows."""
    n = len(order)
    out = np.empty(n, dtype=np.float64)
    if n == 0:
        return out
    cs, vs = codes[order], values[order]
    starts = np.r_[True, cs[1:] != cs[:-1]]
    group_start = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    pos = np.arange(n) - group_start + 1.0
    if method == "first":
        out[order] = pos
        return out
    tie_start = starts | np.r_[True, vs[1:] != vs[:-1]]
    tie = np.cumsum(tie_start) - 1
    out[order] = (np.bincount(tie, pos) / np.bincount(tie))[tie]
    return out


def _grouped_rank(codes: np.ndarray, values: np.ndarray, method: str = "average") -> np.ndarray:
    """Ranks (1-based, float) of ``values`` within each group of ``codes``: average ranks for
    ties, or ``first`` (ties in row order), as pandas' rank."""
    codes = np.asarray(codes, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    return _ranks_from_order(codes, values, _sorted_order(codes, values), method)


def _grouped_pearson(codes: np.ndarray, a: np.ndarray, b: np.ndarray, n_groups: int):
    """Pearson correlation of a and b within each group (NaN where a or b is constant)."""
    n = np.bincount(codes, minlength=n_groups).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        ma = np.bincount(codes, a, n_groups) / n
        mb = np.bincount(codes, b, n_groups) / n
        da = a - ma[codes]
        db = b - mb[codes]
        cov = np.bincount(codes, da * db, n_groups)
        va = np.bincount(codes, da * da, n_groups)
        vb = np.bincount(codes, db * db, n_groups)
        r = cov / np.sqrt(va * vb)
    # ranks are exact, so a constant input gives exactly 0 variance
    return np.where((va > 0) & (vb > 0), r, np.nan)


def spearman(x, y) -> float:
    """Spearman rank correlation of two 1-D arrays (average ranks for ties); NaN if constant."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    codes = np.zeros(len(x), dtype=np.int64)
    return float(_grouped_pearson(codes, _grouped_rank(codes, x), _grouped_rank(codes, y), 1)[0])


def init_columns(df: pd.DataFrame) -> list[str]:
    """init_<p> columns whose values vary over the table."""
    cols = [c for c in df.columns if c.startswith("init_")]
    return [c for c in cols if df[c].nunique() > 1]


def sensitivity(
    df: pd.DataFrame, by=None, fit_ssr: float = DEFAULT_FIT_SSR, bins: int = 5
) -> pd.DataFrame:
    """How strongly each initial parameter predicts a good fit and the number of steps.

    Per group of ``by`` (default: the varying settings) and per varying ``init_<p>``:

    - ``rho_fit``: Spearman correlation of the initial value with good fit (1/0);
    - ``rho_fit_abs``: the same for the magnitude |initial value|;
    - ``rho_steps``: Spearman correlation of the initial value with steps, converged runs only;
    - ``fit_q1`` .. ``fit_q<bins>``: share of good fits in each quantile bin of the initial
      value (q1 = lowest values; equal-count bins: run i of n, 0-based in sorted order with ties
      in row order, falls in bin floor(i * bins / n));
    - ``spread``: max - min of those shares, the ranking key (it also sees non-monotone effects).

    Rows are ranked by spread within each group (``rank`` 1 = matters most).
    """
    keys = _keys(df, by)
    params = init_columns(df)
    codes, frame = _group_codes(df, keys)
    n_groups = len(frame)
    ssr = df["final_ssr"].to_numpy(np.float64)
    good = (ssr < fit_ssr).astype(np.float64)
    conv = (df["status"] == "converged").to_numpy()
    steps = df["steps"].to_numpy(np.float64)
    counts = np.bincount(codes, minlength=n_groups)
    good_rank = _grouped_rank(codes, good)
    conv_codes = codes[conv]
    steps_rank = _grouped_rank(conv_codes, steps[conv])
    rows = []
    for col in params:
        x = df[col].to_numpy(np.float64)
        ok = np.isfinite(x)
        if not ok.all():  # runs that lack this parameter (another hidden size)
            sub = sensitivity(df.loc[ok], by=keys, fit_ssr=fit_ssr, bins=bins)
            rows.append(sub[sub["param"] == col[5:]].drop(columns="rank"))
            continue
        order = _sorted_order(codes, x)  # one sort serves every rank of x
        rank = _ranks_from_order(codes, x, order)
        rho_fit = _grouped_pearson(codes, rank, good_rank, n_groups)
        rho_abs = _grouped_pearson(codes, _grouped_rank(codes, np.abs(x)), good_rank, n_groups)
        rho_steps = np.full(n_groups, np.nan)
        if conv.any():
            # the sort order restricted to converged runs, renumbered to their positions
            conv_pos = np.cumsum(conv) - 1
            conv_order = conv_pos[order[conv[order]]]
            r = _grouped_pearson(
                conv_codes, _ranks_from_order(conv_codes, x[conv], conv_order), steps_rank, n_groups
            )
            rho_steps[: len(r)] = r
        first = _ranks_from_order(codes, x, order, method="first")
        qbin = np.minimum(((first - 1) * bins // counts[codes]).astype(np.int64), bins - 1)
        flat = codes * bins + qbin
        n_bin = np.bincount(flat, minlength=n_groups * bins).reshape(n_groups, bins)
        fit_bin = np.bincount(flat, good, n_groups * bins).reshape(n_groups, bins)
        with np.errstate(invalid="ignore"):
            shares = fit_bin / n_bin
        part = frame.reset_index(drop=True).copy()
        part["param"] = col[5:]
        part["runs"] = counts
        part["rho_fit"] = rho_fit
        part["rho_fit_abs"] = rho_abs
        part["rho_steps"] = rho_steps
        for b in range(bins):
            part[f"fit_q{b + 1}"] = shares[:, b]
        part["spread"] = np.nanmax(shares, axis=1) - np.nanmin(shares, axis=1)
        rows.append(part)
    columns = (
        keys
        + ["param", "runs", "rho_fit", "rho_fit_abs", "rho_steps"]
        + [f"fit_q{b + 1}" for b in range(bins)]
        + ["spread"]
    )
    if not rows:
        return pd.DataFrame(columns=columns + ["rank"])
    table = pd.concat(rows, ignore_index=True)[columns]
    table["_abs"] = table["rho_fit"].abs().fillna(0)
    table = table.sort_values(
        keys + ["spread", "_abs", "param"],
        ascending=[True] * len(keys) + [False, False, True],
        na_position="last",
        kind="mergesort",
    ).drop(columns="_abs")
    table["rank"] = (
        table.groupby(keys, dropna=False).cumcount() + 1 if keys else (np.arange(len(table)) + 1)
    )
    return table.reset_index(drop=True)


def sensitivity_bins(
    df: pd.DataFrame, param: str, by=None, fit_ssr: float = DEFAULT_FIT_SSR, bins: int = 5
) -> pd.DataFrame:
    """Long form of one parameter's quantile bins: keys, bin, lo, hi (value range), runs,
    good_fit (share), steps_median (converged runs). ``param`` like ``w1`` or ``init_w1``."""
    col = param if param.startswith("init_") else f"init_{param}"
    if col not in df.columns:
        raise AnalysisError(f"no column {col}")
    keys = _keys(df, by)
    sub = df[df[col].notna()]
    codes, frame = _group_codes(sub, keys)
    x = sub[col].to_numpy(np.float64)
    counts = np.bincount(codes)
    first = _grouped_rank(codes, x, method="first")
    work = pd.DataFrame(
        {
            "g": codes,
            "bin": np.minimum(((first - 1) * bins // counts[codes]).astype(int), bins - 1) + 1,
            "x": x,
            "good": sub["final_ssr"].to_numpy() < fit_ssr,
            "steps": np.where(sub["status"] == "converged", sub["steps"], np.nan),
        }
    )
    out = (
        work.groupby(["g", "bin"])
        .agg(
            lo=("x", "min"),
            hi=("x", "max"),
            runs=("x", "size"),
            good_fit=("good", "mean"),
            steps_median=("steps", "median"),
        )
        .reset_index()
    )
    keyframe = frame.reset_index(drop=True)
    for k in keys:
        out.insert(len(keys) - 1 - keys[::-1].index(k), k, keyframe[k].to_numpy()[out["g"]])
    return out.drop(columns="g")


# ---------------------------------------------------------------- basins and stuck points


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
    the clusters. Work is O(R) for the rounding plus O(K^2) in the number K of occupied cells,
    capped at ``max_cells`` (the most populated); cells beyond the cap join a touching capped
    cell's cluster or else stay clusters of their own.
    """
    n = len(points)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    cells = np.floor(points / tol).astype(np.int64)
    uniq, inverse, counts = _unique_rows(cells)
    k = len(uniq)
    order = np.lexsort((np.arange(k), -counts))  # most populated first, stable
    top = order[:max_cells]
    label = np.arange(k)
    # edges between touching top cells (chunked pairwise Chebyshev distance on cell indices)
    top_cells = uniq[top]
    src, dst = [], []
    chunk = max(1, 2_000_000 // max(1, len(top) * uniq.shape[1]))
    for i in range(0, len(top), chunk):
        near = np.abs(top_cells[i : i + chunk, None, :] - top_cells[None, :, :]).max(-1) <= 1
        a, b = np.nonzero(near)
        keep = a + i < b
        src.append(top[a[keep] + i])
        dst.append(top[b[keep]])
    src = np.concatenate(src) if src else np.empty(0, np.int64)
    dst = np.concatenate(dst) if dst else np.empty(0, np.int64)
    while True:  # label propagation with pointer jumping: the minimum index per component
        old = label.copy()
        m = np.minimum(label[src], label[dst])
        np.minimum.at(label, src, m)
        np.minimum.at(label, dst, m)
        label = label[label]
        if np.array_equal(old, label):
            break
    rest = order[max_cells:]
    for i in range(0, len(rest), 256):  # cells beyond the cap: join a touching top cell
        part = rest[i : i + 256]
        near = np.abs(uniq[part, None, :] - top_cells[None, :, :]).max(-1) <= 1
        has = near.any(axis=1)
        label[part[has]] = label[top[near[has].argmax(axis=1)]]
    run_label = label[inverse]
    comp, run_comp = np.unique(run_label, return_inverse=True)
    sizes = np.bincount(run_comp)
    first_seen = np.full(len(comp), n)
    np.minimum.at(first_seen, run_comp, np.arange(n))
    rank = np.empty(len(comp), dtype=np.int64)
    rank[np.lexsort((first_seen, -sizes))] = np.arange(len(comp))
    return rank[run_comp]


def _unique_rows(cells: np.ndarray):
    """(unique rows, inverse (R,), counts) of an int array (R, P), by hashing: each column is
    factorized and the codes combined into one int64 key (np.unique's row sort otherwise)."""
    key = np.zeros(len(cells), dtype=np.int64)
    radix = 1
    for j in range(cells.shape[1]):
        codes, values = pd.factorize(cells[:, j])
        if radix * max(1, len(values)) >= 2**62:
            uniq, inverse, counts = np.unique(
                cells, axis=0, return_inverse=True, return_counts=True
            )
            return uniq, inverse.reshape(-1), counts
        key += codes.astype(np.int64) * radix
        radix *= max(1, len(values))
    inverse, first = pd.factorize(key)
    first_row = np.full(len(first), len(cells))
    np.minimum.at(first_row, inverse, np.arange(len(cells)))
    return cells[first_row], inverse, np.bincount(inverse)


def _model_groups(df: pd.DataFrame):
    keys = [k for k in MODEL_COLUMNS if k in df.columns and df[k].nunique(dropna=False) > 1]
    if not keys:
        yield {}, df
        return
    for values, part in df.groupby(keys, sort=True, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        yield dict(zip(keys, values)), part


def _run_ids(df: pd.DataFrame) -> np.ndarray:
    if "run_id" in df.columns:
        return df["run_id"].to_numpy()
    return df.index.to_numpy()


def _places(df: pd.DataFrame, mask: np.ndarray, tol: float, transform, total: int):
    """Cluster the canonical final vectors of the runs in ``mask``, per model; a table."""
    tables = []
    labels = pd.Series(-1, index=df.index, dtype=np.int64)
    next_id = 1
    for model, part in _model_groups(df):
        hidden = int(part["hidden"].iloc[0]) if "hidden" in part.columns else 2
        sel = mask[df.index.get_indexer(part.index)]
        part = part.loc[sel]
        if part.empty:
            continue
        names = param_names(hidden)
        vec = canonical_final(part, hidden)
        lab = cluster_points(transform(vec), tol)
        ssr = part["final_ssr"].to_numpy(np.float64)
        n_clusters = int(lab.max()) + 1
        med = pd.DataFrame(vec).groupby(lab).median().to_numpy()
        dist = np.abs(vec - med[lab]).max(axis=1)
        rep = pd.Series(dist).groupby(lab).idxmin().to_numpy()
        spread = pd.Series(dist).groupby(lab).quantile(0.9).to_numpy()
        status = part["status"].to_numpy()
        table = pd.DataFrame({**{k: [v] * n_clusters for k, v in model.items()}})
        table["runs"] = np.bincount(lab)
        table["share"] = table["runs"] / total
        table["converged"] = np.bincount(lab, status == "converged", n_clusters).astype(int)
        table["max_steps"] = np.bincount(lab, status == "max_steps", n_clusters).astype(int)
        table["ssr_min"] = pd.Series(ssr).groupby(lab).min().to_numpy()
        table["ssr_median"] = pd.Series(ssr).groupby(lab).median().to_numpy()
        table["spread"] = spread
        table["rep_run_id"] = _run_ids(part)[rep]
        table["rep_ssr"] = ssr[rep]
        for j, name in enumerate(names):
            table[name] = vec[rep, j]
        table.insert(0, "id", np.arange(next_id, next_id + n_clusters))
        labels.loc[part.index] = lab + next_id
        next_id += n_clusters
        tables.append(table)
    if not tables:
        return pd.DataFrame(columns=["id", "runs", "share", "rep_run_id", "rep_ssr"]), labels
    return pd.concat(tables, ignore_index=True), labels


def basin_labels(
    df: pd.DataFrame, fit_ssr: float = DEFAULT_FIT_SSR, tol: float = 0.25
) -> pd.Series:
    """Each run's basin id (1 = largest), -1 for runs that are not good fits. See basins()."""
    good = df["final_ssr"].to_numpy(np.float64) < fit_ssr
    return _places(df, good, tol, lambda v: v, max(1, int(good.sum())))[1]


def basins(
    df: pd.DataFrame, fit_ssr: float = DEFAULT_FIT_SSR, tol: float = 0.25, with_labels: bool = False
):
    """The distinct solutions good fits (final SSR < fit_ssr) end in, largest first.

    Final vectors are brought to canonical order (canonical_final) and clustered per model
    (dataset, hidden, activation) with :func:`cluster_points` at grid size ``tol`` (parameter
    units): solutions a chain of touching cells apart share a basin. Columns: id, the model
    keys, runs, share (of the good fits), converged, max_steps (counts), ssr_min, ssr_median,
    spread (90th percentile of the max-abs distance to the basin's median), rep_run_id, rep_ssr
    and the representative's canonical parameters (the run nearest the median). With
    ``with_labels`` returns (table, per-run basin ids).
    """
    good = df["final_ssr"].to_numpy(np.float64) < fit_ssr
    table, labels = _places(df, good, tol, lambda v: v, max(1, int(good.sum())))
    return (table, labels) if with_labels else table


def stuck_points(
    df: pd.DataFrame, fit_ssr: float = DEFAULT_FIT_SSR, tol: float = 0.25, with_labels: bool = False
):
    """The distinct places where runs stop with a poor fit (local minima or plateaus).

    Runs that did not diverge and end with final SSR >= fit_ssr, clustered like basins() but
    in asinh(parameter) coordinates, so parameters drifting off to large values on a plateau
    group together. ``share`` is of all runs. Columns as in basins().
    """
    status = df["status"].to_numpy()
    poor = (status != "diverged") & ~(df["final_ssr"].to_numpy(np.float64) < fit_ssr)
    table, labels = _places(df, poor, tol, np.arcsinh, len(df))
    return (table, labels) if with_labels else table


# ---------------------------------------------------------------- re-runs: chaos and traces


def _data_dir(df: pd.DataFrame):
    path = df.attrs.get("path")
    return str(Path(path).parent) if path else None


def chaos(
    df: pd.DataFrame,
    sample: int | None = None,
    rel: float = 1e-12,
    fit_ssr: float = DEFAULT_FIT_SSR,
    seed: int = 0,
    data_dir=None,
) -> pd.DataFrame:
    """Re-run runs from starts perturbed by +-``rel`` relative and compare outcomes.

    Each initial value v becomes v * (1 + s * rel), s = +-1 drawn per value from ``seed``
    (zeros stay zero). ``sample``: re-run that many runs drawn at random (``seed``), else all.
    Returns one row per re-run run (index of ``df``): status_new, final_ssr_new, steps_new,
    changed (status or good fit differs), moved (steps differ, or the canonical final vector
    moved by more than 1e-6 in some parameter).
    """
    from .batch import train_runs

    rng = np.random.default_rng(seed)
    if sample is not None and sample < len(df):
        idx = np.sort(rng.choice(len(df), size=int(sample), replace=False))
        sub = df.iloc[idx]
    else:
        sub = df
    runs = sub.drop(
        columns=[
            c
            for c in sub.columns
            if c.startswith("final_") or c in ("initial_ssr", "steps", "status")
        ]
    ).copy()
    init_cols = [c for c in runs.columns if c.startswith("init_")]
    x = runs[init_cols].to_numpy(np.float64)
    signs = rng.choice(np.array([-1.0, 1.0]), size=x.shape)
    runs[init_cols] = x * (1.0 + signs * rel)
    new = train_runs(runs, data_dir=data_dir if data_dir is not None else _data_dir(df))
    out = pd.DataFrame(index=sub.index)
    out["status_new"] = new["status"]
    out["final_ssr_new"] = new["final_ssr"]
    out["steps_new"] = new["steps"]
    good_old = sub["final_ssr"].to_numpy(np.float64) < fit_ssr
    good_new = new["final_ssr"].to_numpy(np.float64) < fit_ssr
    out["changed"] = (sub["status"].to_numpy() != new["status"].to_numpy()) | (good_old != good_new)
    moved = sub["steps"].to_numpy() != new["steps"].to_numpy()
    for _, part in _model_groups(sub):
        hidden = int(part["hidden"].iloc[0]) if "hidden" in part.columns else 2
        pos = sub.index.get_indexer(part.index)
        a = canonical_final(part, hidden)
        b = canonical_final(new.loc[part.index], hidden)
        with np.errstate(invalid="ignore"):
            far = ~(np.abs(a - b) <= 1e-6).all(axis=1)
        moved[pos] |= far & (part["status"].to_numpy() != "diverged")
    out["moved"] = moved | out["changed"].to_numpy()
    return out


def chaos_table(df: pd.DataFrame, runs: pd.DataFrame, by=None) -> pd.DataFrame:
    """Per group of ``by`` (default: varying settings): runs re-run, and the shares changed
    and moved (see chaos())."""
    keys = _keys(df, by)
    sub = df.loc[runs.index]
    codes, frame = _group_codes(sub, keys)
    g = runs[["changed", "moved"]].astype(float).groupby(codes)
    table = frame.reset_index(drop=True)
    table["runs"] = np.bincount(codes)
    table["changed"] = g["changed"].mean().to_numpy()
    table["moved"] = g["moved"].mean().to_numpy()
    return table


def run_settings(row: pd.Series, data_dir=None) -> dict:
    """Keyword arguments of :func:`bpsweep.trainer.train` that re-run one results row."""
    from .batch import DEFAULTS

    def get(name):
        value = row.get(name, None)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return DEFAULTS.get(name)
        return value

    hidden = int(get("hidden"))
    names = param_names(hidden)
    init = np.array([row[f"init_{n}"] for n in names], dtype=np.float64)
    dataset = str(get("dataset"))
    data = dataset if dataset in BUILTIN else load_data(dataset, base_dir=data_dir)
    settings = {
        "hidden": hidden,
        "activation": str(get("activation")),
        "init": init,
        "trainable": str(get("trainable")),
        "optimizer": str(get("optimizer")),
        "lr": float(get("lr")),
        "tol": float(get("tol")),
        "max_steps": int(get("max_steps")),
    }
    for name in ("momentum", "beta1", "beta2", "eps"):
        settings[name] = float(get(name))
    return {"data": data, **settings}


def find_runs(df: pd.DataFrame, run_ids) -> pd.DataFrame:
    """Rows of the given run ids (column run_id, or the row number when there is none)."""
    ids = list(run_ids)
    if "run_id" in df.columns:
        rows = df[df["run_id"].isin(ids)]
        found = set(rows["run_id"].tolist())
    else:
        rows = df.iloc[[i for i in ids if 0 <= i < len(df)]]
        found = {i for i in ids if 0 <= i < len(df)}
    unknown = [i for i in ids if i not in found]
    if unknown:
        raise AnalysisError(
            f"no run with run_id {', '.join(map(str, unknown))} in "
            f"{df.attrs.get('path', 'the results')}"
        )
    key = rows["run_id"] if "run_id" in rows.columns else pd.Series(rows.index, rows.index)
    return rows.loc[key.drop_duplicates().index]


def trace_runs(df: pd.DataFrame, run_ids, data_dir=None):
    """Re-run the given runs with a trace. Returns (trace, check).

    trace: long DataFrame with run_id, step (0 = start), the parameters and ssr per step.
    check: one row per run: run_id, status, steps, final_ssr from the table and the re-run
    (suffix _rerun), and reproduced (all three equal; results are deterministic, so False means
    the table was edited or written by a different version).
    """
    from .trainer import train

    rows = find_runs(df, run_ids)
    data_dir = data_dir if data_dir is not None else _data_dir(df)
    traces, checks = [], []
    for idx, row in rows.iterrows():
        run_id = row["run_id"] if "run_id" in rows.columns else idx
        result = train(**run_settings(row, data_dir), trace=True)
        names = param_names(int(row.get("hidden", 2)))
        t = result.trace[["step", *names, "ssr"]].copy()
        t.insert(0, "run_id", run_id)
        traces.append(t)
        same = (
            result.status == row["status"]
            and result.steps == int(row["steps"])
            and (
                result.final_ssr == float(row["final_ssr"])
                or (math.isnan(result.final_ssr) and math.isnan(float(row["final_ssr"])))
            )
        )
        checks.append(
            {
                "run_id": run_id,
                "status": row["status"],
                "status_rerun": result.status,
                "steps": int(row["steps"]),
                "steps_rerun": result.steps,
                "final_ssr": float(row["final_ssr"]),
                "final_ssr_rerun": result.final_ssr,
                "reproduced": bool(same),
            }
        )
    return pd.concat(traces, ignore_index=True), pd.DataFrame(checks)


# ---------------------------------------------------------------- the whole analysis


def analyse(
    df: pd.DataFrame,
    by=None,
    fit_ssr: float = DEFAULT_FIT_SSR,
    chaos_sample: int | None = None,
    run_chaos: bool = False,
    basin_tol: float = 0.25,
) -> dict[str, pd.DataFrame]:
    """Run every analysis; returns {name: table}: outcome, sensitivity, basins, stuck
    (and chaos, chaos_runs when asked)."""
    keys = _keys(df, by)
    tables = {
        "outcome": outcome_table(df, keys, fit_ssr),
        "sensitivity": sensitivity(df, keys, fit_ssr),
    }
    tables["basins"], labels = basins(df, fit_ssr, basin_tol, with_labels=True)
    tables["stuck"] = stuck_points(df, fit_ssr, basin_tol)
    tables["_basin_labels"] = labels.to_frame("basin")
    if run_chaos:
        runs = chaos(df, sample=chaos_sample, fit_ssr=fit_ssr)
        tables["chaos"] = chaos_table(df, runs, keys)
        tables["chaos_runs"] = runs
    return tables


def format_table(table: pd.DataFrame, fmt: str = "table", digits: int = 4) -> str:
    """A table as text: aligned ``table``, ``markdown`` (pipe table), ``csv`` or ``json``."""
    if fmt == "csv":
        return table.to_csv(index=False, float_format="%.17g").rstrip("\n")
    if fmt == "json":
        return table.to_json(orient="records", double_precision=15)
    cells = [[_cell(v, digits) for v in row] for row in table.itertuples(index=False)]
    header = [str(c) for c in table.columns]
    if fmt == "markdown":
        lines = [
            "| " + " | ".join(header) + " |",
            "|" + "|".join("---:" if _numeric(table[c]) else "---" for c in table.columns) + "|",
        ]
        lines += ["| " + " | ".join(r) + " |" for r in cells]
        return "\n".join(lines)
    if fmt != "table":
        raise AnalysisError(f"unknown format {fmt!r}; expected table, csv, markdown or json")
    widths = [max([len(h)] + [len(r[j]) for r in cells]) for j, h in enumerate(header)]
    right = [_numeric(table[c]) for c in table.columns]

    def line(values):
        return "  ".join(
            v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right)
        ).rstrip()

    return "\n".join([line(header)] + [line(r) for r in cells])


def _numeric(col: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)


def _cell(value, digits: int) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return ""
        if math.isfinite(value) and value == int(value) and abs(value) < 1e6:
            return str(int(value))
        return f"{value:.{digits}g}"
    return str(value)
