"""Tables of what happened to the runs: outcomes per setting (with 95% Wilson intervals of the
shares) and sensitivity to the initial values.

Definitions used throughout (``fit_ssr`` default 0.01):

- good fit: final SSR < fit_ssr (whatever the status);
- false convergence: status converged but final SSR >= fit_ssr (the step-size rule was met
  because the learning rate is small, not because the slope is flat);
- stuck: status max_steps and final SSR >= fit_ssr; diverged: status diverged.
"""

from __future__ import annotations

import warnings
from statistics import NormalDist

import numpy as np
import pandas as pd

from ..errors import ResultsError, UsageError
from ..model import DEFAULT_FIT_SSR
from ..sweeps.results import varies, varying_settings

#: Outcome categories of one run, in display order.
OUTCOMES = ("good fit", "false convergence", "stuck", "diverged")
#: The shares of the outcome table, each with a Wilson interval (``<share>_lo``, ``_hi``).
SHARES = ("converged", "max_steps", "diverged", "good_fit", "false_conv")


# ---------------------------------------------------------------- grouping


def group_keys(df: pd.DataFrame, by) -> list[str]:
    """The grouping columns: ``by`` (a name or names), or every varying setting when None."""
    keys = varying_settings(df) if by is None else [by] if isinstance(by, str) else list(by)
    missing = [k for k in keys if k not in df.columns]
    if missing:
        raise ResultsError(
            f"cannot group by {', '.join(missing)}: no such column(s); "
            f"columns are {', '.join(df.columns)}"
        )
    return keys


def group_codes(df: pd.DataFrame, keys: list[str]):
    """(codes (R,) int, keys frame (G, len(keys))) for the groups of ``keys``, sorted."""
    if not keys:
        return np.zeros(len(df), dtype=np.int64), pd.DataFrame(index=[0])
    grouped = df.groupby(keys, sort=True, dropna=False, observed=True)
    codes = grouped.ngroup().to_numpy(np.int64)
    frame = grouped.size().reset_index()[keys]
    return codes, frame


# ---------------------------------------------------------------- outcomes


def outcome_flags(status, final_ssr, fit_ssr: float = DEFAULT_FIT_SSR) -> dict[str, np.ndarray]:
    """Per run, a boolean array for each of SHARES, from status and final SSR arrays."""
    status = np.asarray(status)
    ssr = np.asarray(final_ssr, dtype=np.float64)
    conv = status == "converged"
    good = ssr < fit_ssr
    return {
        "converged": conv,
        "max_steps": status == "max_steps",
        "diverged": status == "diverged",
        "good_fit": good,
        "false_conv": conv & ~good,
    }


def outcomes(df: pd.DataFrame, fit_ssr: float = DEFAULT_FIT_SSR) -> pd.Series:
    """Each run's outcome category (OUTCOMES): good fit, false convergence, stuck, diverged."""
    ssr = df["final_ssr"].to_numpy(np.float64)
    status = df["status"].to_numpy()
    good = ssr < fit_ssr
    cat = np.where(
        status == "diverged", 3, np.where(good, 0, np.where(status == "converged", 1, 2))
    )
    return pd.Series(pd.Categorical.from_codes(cat, OUTCOMES), index=df.index, name="outcome")


def wilson_interval(successes, n, level: float = 0.95):
    """Wilson score interval (lo, hi) of a share successes / n, elementwise; NaN where n = 0.

    With p = k/n and z the normal quantile of (1 + level)/2:
    centre = (p + z^2/(2n)) / (1 + z^2/n), half = z sqrt(p(1-p)/n + z^2/(4n^2)) / (1 + z^2/n).
    Unlike p +- z sqrt(p(1-p)/n) it stays inside [0, 1] and is not empty at p = 0 or 1.
    """
    if not 0 < level < 1:
        raise UsageError(f"level must be between 0 and 1 (exclusive), got {level!r}")
    z = NormalDist().inv_cdf(0.5 + level / 2)
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = np.where(k == 0, 0.0, np.clip(centre - half, 0.0, 1.0))  # exact ends, not 1e-17
    hi = np.where(k == n, 1.0, np.clip(centre + half, 0.0, 1.0))
    lo, hi = np.where(n > 0, lo, np.nan), np.where(n > 0, hi, np.nan)
    return (float(lo), float(hi)) if lo.ndim == 0 else (lo, hi)


def outcome_table(
    df: pd.DataFrame, by=None, fit_ssr: float = DEFAULT_FIT_SSR, level: float = 0.95
) -> pd.DataFrame:
    """Outcomes per group of ``by`` (default: every varying setting; one row when none varies).

    Columns: the keys, runs; shares (0..1) converged, max_steps, diverged, good_fit (final SSR <
    fit_ssr) and false_conv (converged with final SSR >= fit_ssr); steps_p10, steps_median,
    steps_p90 over converged runs; ssr_min, ssr_median, ssr_p90 of the final SSR over runs that
    did not diverge (NaN where a group has no such runs); then for each share its Wilson
    interval at ``level`` (95%) over the group's runs, ``<share>_lo`` and ``<share>_hi``.
    """
    keys = group_keys(df, by)
    status = df["status"].to_numpy()
    ssr = df["final_ssr"].to_numpy(np.float64)
    flags = outcome_flags(status, ssr, fit_ssr)
    conv, div = flags["converged"], flags["diverged"]
    work = pd.DataFrame(
        {
            "runs": np.ones(len(df), dtype=np.int64),
            **flags,
            "steps": np.where(conv, df["steps"].to_numpy(np.float64), np.nan),
            "ssr": np.where(div, np.nan, ssr),
        },
        index=df.index,
    )
    codes, frame = group_codes(df, keys)
    g = work.groupby(codes, sort=True)
    counts = g[list(SHARES)].sum()
    table = frame.reset_index(drop=True)
    runs = g["runs"].sum().to_numpy()
    table["runs"] = runs
    for col in SHARES:
        table[col] = counts[col].to_numpy() / runs
    table["steps_p10"] = g["steps"].quantile(0.1).to_numpy()
    table["steps_median"] = g["steps"].quantile(0.5).to_numpy()
    table["steps_p90"] = g["steps"].quantile(0.9).to_numpy()
    table["ssr_min"] = g["ssr"].min().to_numpy()
    table["ssr_median"] = g["ssr"].quantile(0.5).to_numpy()
    table["ssr_p90"] = g["ssr"].quantile(0.9).to_numpy()
    for col in SHARES:
        table[f"{col}_lo"], table[f"{col}_hi"] = wilson_interval(
            counts[col].to_numpy(), runs, level
        )
    return table


# ---------------------------------------------------------------- sensitivity to initialization


def init_columns(df: pd.DataFrame) -> list[str]:
    """init_<p> columns whose values vary over the table."""
    cols = [c for c in df.columns if c.startswith("init_")]
    return [c for c in cols if varies(df[c].dropna())]


def _grouped_spearman(work: pd.DataFrame, codes: np.ndarray, target: str, n_groups: int):
    """Spearman correlation of ``work[target]`` with every other column within each group,
    (n_groups, columns) array: the Pearson correlation of their average ranks (pandas
    ``groupby().rank()``) within the group. Pairwise-complete: a NaN drops the row from that
    pair only, and ranks are taken over the rows kept. NaN where either side is constant.

    Not ``groupby().corr(method="spearman")``, which runs one DataFrame.corr per group:
    measured side by side on the 15 columns of sensitivity()'s fit table, 26 s against
    0.24 s here for 200,000 rows of the main job by lr and seed (200,000 groups); 0.84 s
    against 1.2 s for 10^6 rows by lr (6 groups); same results to the last bit.
    """
    others = [c for c in work.columns if c != target]
    out = np.full((n_groups, len(others)), np.nan)
    if not len(work):
        return out
    ranks = work.groupby(codes).rank()  # NaN stays NaN; others ranked among the rest
    t_ok = work[target].notna().to_numpy()
    for j, col in enumerate(others):
        ok = t_ok & work[col].notna().to_numpy()
        if ok.all():
            a, b = ranks[col].to_numpy(), ranks[target].to_numpy()
        else:  # rank the pair again over the rows where both are present
            pair = work.loc[ok, [col, target]].groupby(codes[ok]).rank()
            a, b = pair[col].to_numpy(), pair[target].to_numpy()
        out[:, j] = _grouped_pearson(codes[ok], a, b, n_groups)
    return out


def _grouped_pearson(codes: np.ndarray, a: np.ndarray, b: np.ndarray, n_groups: int):
    """Pearson correlation of a and b within each group (NaN where a or b is constant)."""
    n = np.bincount(codes, minlength=n_groups).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        da = a - (np.bincount(codes, a, n_groups) / n)[codes]
        db = b - (np.bincount(codes, b, n_groups) / n)[codes]
        cov = np.bincount(codes, da * db, n_groups)
        va = np.bincount(codes, da * da, n_groups)
        vb = np.bincount(codes, db * db, n_groups)
        r = cov / np.sqrt(va * vb)
    # ranks are exact (whole or half numbers), so a constant side has exactly 0 variance
    return np.where((va > 0) & (vb > 0), r, np.nan)


def _quantile_bins(work: pd.DataFrame, codes: np.ndarray, counts: np.ndarray, bins: int):
    """Equal-count bin (0-based) of each value within its group: run i of n, 0-based in
    sorted order with ties in row order, falls in bin floor(i * bins / n)."""
    first = work.groupby(codes).rank(method="first").to_numpy(np.float64)
    n = counts[codes][:, None].astype(np.float64)
    with np.errstate(invalid="ignore"):
        return np.minimum((first - 1) * bins // n, bins - 1)


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

    Runs that lack a parameter (another hidden size) count for none of its figures. Rows are
    ranked by spread within each group (``rank`` 1 = matters most).
    """
    keys = group_keys(df, by)
    params = init_columns(df)
    columns = (
        keys
        + ["param", "runs", "rho_fit", "rho_fit_abs", "rho_steps"]
        + [f"fit_q{b + 1}" for b in range(bins)]
        + ["spread"]
    )
    if not params:
        return pd.DataFrame(columns=columns + ["rank"])
    codes, frame = group_codes(df, keys)
    n_groups = len(frame)
    good = (df["final_ssr"].to_numpy(np.float64) < fit_ssr).astype(np.float64)
    conv = (df["status"] == "converged").to_numpy()
    x = df[params].to_numpy(np.float64, copy=True)
    x[~np.isfinite(x)] = np.nan  # absent parameters
    names = [c[5:] for c in params]
    fits = pd.DataFrame(np.column_stack([good, x, np.abs(x)]))
    fits.columns = ["good", *names, *(f"abs_{n}" for n in names)]
    rho = _grouped_spearman(fits, codes, "good", n_groups)
    steps = pd.DataFrame(np.column_stack([df["steps"].to_numpy(np.float64)[conv], x[conv]]))
    steps.columns = ["steps", *names]
    rho_steps = _grouped_spearman(steps, codes[conv], "steps", n_groups)
    present = ~np.isnan(x)
    counts = np.stack([np.bincount(codes, p, n_groups) for p in present.T], axis=1)  # (G, P)
    rows = []
    for j, name in enumerate(names):
        ok = present[:, j]
        qbin = _quantile_bins(pd.DataFrame(x[ok, j]), codes[ok], counts[:, j], bins)[:, 0]
        flat = codes[ok] * bins + qbin.astype(np.int64)
        n_bin = np.bincount(flat, minlength=n_groups * bins).reshape(n_groups, bins)
        fit_bin = np.bincount(flat, good[ok], n_groups * bins).reshape(n_groups, bins)
        with np.errstate(invalid="ignore"):
            shares = fit_bin / n_bin
        part = frame.reset_index(drop=True).copy()
        part["param"] = name
        part["runs"] = counts[:, j].astype(np.int64)
        part["rho_fit"] = rho[:, j]
        part["rho_fit_abs"] = rho[:, len(names) + j]
        part["rho_steps"] = rho_steps[:, j]
        for b in range(bins):
            part[f"fit_q{b + 1}"] = shares[:, b]
        with warnings.catch_warnings():  # groups without the parameter: dropped below
            warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
            part["spread"] = np.nanmax(shares, axis=1) - np.nanmin(shares, axis=1)
        rows.append(part[counts[:, j] > 0])
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
        raise ResultsError(f"no column {col}")
    keys = group_keys(df, by)
    sub = df[df[col].notna()]
    codes, frame = group_codes(sub, keys)
    x = sub[col].to_numpy(np.float64)
    counts = np.bincount(codes)
    qbin = _quantile_bins(pd.DataFrame({"x": x}), codes, counts, bins)[:, 0]
    work = pd.DataFrame(
        {
            "g": codes,
            "bin": qbin.astype(np.int64) + 1,
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
