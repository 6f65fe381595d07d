"""Tables of what happened to the runs: outcomes per setting (with 95% Wilson intervals of the
shares) and sensitivity to the initial values.

Definitions used throughout (``fit_ssr`` default 0.01):

- good fit: final SSR < fit_ssr (whatever the status);
- false convergence: status converged but final SSR >= fit_ssr (the step-size rule was met
  because the learning rate is small, not because the slope is flat);
- stuck: status max_steps and final SSR >= fit_ssr; diverged: status diverged.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd

from ..errors import ResultsError, UsageError
from ..model import DEFAULT_FIT_SSR
from ..sweeps.results import status_is, varies, varying_settings

#: Outcome categories of one run, in display order.
OUTCOMES = ("good fit", "false convergence", "stuck", "diverged")
#: The shares of the outcome table, each with a Wilson interval (``<share>_lo``, ``_hi``).
SHARES = ("converged", "max_steps", "diverged", "good_fit", "false_conv")


# ---------------------------------------------------------------- grouping


@dataclass(frozen=True)
class Groups:
    """Groups of runs given outright instead of by key columns (e.g. the bands of a map's
    axis): ``codes`` (R,) int, each run's group 0..G-1, and ``frame`` (G rows), the columns
    that name each group; pass it as ``by``."""

    codes: np.ndarray
    frame: pd.DataFrame

    @property
    def keys(self) -> list[str]:
        return list(self.frame.columns)


def group_keys(df: pd.DataFrame, by) -> list[str]:
    """The grouping columns: ``by`` (a name or names), or every varying setting when None."""
    if isinstance(by, Groups):
        return by.keys
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
    for k in keys:  # a key held fixed (a one-value Categorical): its values, as they are
        if isinstance(frame[k].dtype, pd.CategoricalDtype):
            frame[k] = np.asarray(frame[k])
    return codes, frame


def grouping(df: pd.DataFrame, by):
    """(keys, codes, frame) of ``by``: a :class:`Groups`, or columns as for :func:`group_keys`
    (every varying setting when None)."""
    if isinstance(by, Groups):
        if len(by.codes) != len(df):
            raise ResultsError(f"Groups of {len(by.codes):,} runs for a table of {len(df):,}")
        return by.keys, np.asarray(by.codes, dtype=np.int64), by.frame.reset_index(drop=True)
    keys = group_keys(df, by)
    return (keys, *group_codes(df, keys))


# ---------------------------------------------------------------- outcomes


def outcome_flags(status, final_ssr, fit_ssr: float = DEFAULT_FIT_SSR) -> dict[str, np.ndarray]:
    """Per run, a boolean array for each of SHARES, from status (text, or a Series of it, as
    a Categorical too) and final SSR arrays."""
    ssr = np.asarray(final_ssr, dtype=np.float64)
    if isinstance(status, pd.Series):
        frame = status.to_frame("status")
        conv, stop, div = (status_is(frame, s) for s in ("converged", "max_steps", "diverged"))
    else:
        status = np.asarray(status)
        conv, stop, div = (status == s for s in ("converged", "max_steps", "diverged"))
    good = ssr < fit_ssr
    return {
        "converged": conv,
        "max_steps": stop,
        "diverged": div,
        "good_fit": good,
        "false_conv": conv & ~good,
    }


def outcomes(df: pd.DataFrame, fit_ssr: float = DEFAULT_FIT_SSR) -> pd.Series:
    """Each run's outcome category (OUTCOMES): good fit, false convergence, stuck, diverged."""
    return pd.Series(
        pd.Categorical.from_codes(outcome_codes(df, fit_ssr), OUTCOMES),
        index=df.index,
        name="outcome",
    )


def outcome_codes(df: pd.DataFrame, fit_ssr: float = DEFAULT_FIT_SSR) -> np.ndarray:
    """Each run's outcome as its index in OUTCOMES (int8): 0 good fit, 1 false convergence,
    2 stuck, 3 diverged."""
    good = df["final_ssr"].to_numpy(np.float64) < fit_ssr
    code = np.where(good, np.int8(0), np.where(status_is(df, "converged"), np.int8(1), np.int8(2)))
    code[status_is(df, "diverged")] = 3
    return code


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
    """Outcomes per group of ``by`` (default: every varying setting; one row when none varies;
    or a :class:`Groups`).

    Columns: the keys, runs; shares (0..1) converged, max_steps, diverged, good_fit (final SSR <
    fit_ssr) and false_conv (converged with final SSR >= fit_ssr); steps_p10, steps_median,
    steps_p90 over converged runs; ssr_min, ssr_median, ssr_p90 of the final SSR over runs that
    did not diverge (NaN where a group has no such runs); then for each share its Wilson
    interval at ``level`` (95%) over the group's runs, ``<share>_lo`` and ``<share>_hi``.
    """
    return outcome_tables(df, [by], fit_ssr, level)[0]


def outcome_tables(
    df: pd.DataFrame, groupings, fit_ssr: float = DEFAULT_FIT_SSR, level: float = 0.95
) -> list[pd.DataFrame]:
    """:func:`outcome_table` for each ``by`` of ``groupings`` (e.g. the bands of each axis of
    a map)."""
    ssr = df["final_ssr"].to_numpy(np.float64)
    flags = outcome_flags(df["status"], ssr, fit_ssr)
    conv, kept = flags["converged"], ~flags["diverged"]
    # each run's (status, good fit) as one code: the shares' counts from one bincount
    status = np.select([conv, flags["max_steps"], flags["diverged"]], [0, 1, 2], 3)
    kind = status * 2 + flags["good_fit"]
    steps = df["steps"].to_numpy(np.float64)[conv]
    ssr_kept = ssr[kept]
    out = []
    for by in groupings:
        _, codes, frame = grouping(df, by)
        n_groups = len(frame)
        table = frame.reset_index(drop=True)
        per_kind = np.bincount(codes * 8 + kind, minlength=8 * n_groups).reshape(n_groups, 8)
        counts = {
            "converged": per_kind[:, 0] + per_kind[:, 1],
            "max_steps": per_kind[:, 2] + per_kind[:, 3],
            "diverged": per_kind[:, 4] + per_kind[:, 5],
            "good_fit": per_kind[:, 1] + per_kind[:, 3] + per_kind[:, 5],
            "false_conv": per_kind[:, 0],
        }
        runs = per_kind.sum(axis=1)
        table["runs"] = runs
        with np.errstate(invalid="ignore", divide="ignore"):
            for col in SHARES:
                table[col] = counts[col] / runs
        p10, med, p90 = grouped_quantiles(steps, codes[conv], n_groups, (0.1, 0.5, 0.9))
        table["steps_p10"], table["steps_median"], table["steps_p90"] = p10, med, p90
        lo, med, p90 = grouped_quantiles(ssr_kept, codes[kept], n_groups, (0.0, 0.5, 0.9))
        table["ssr_min"], table["ssr_median"], table["ssr_p90"] = lo, med, p90
        for col in SHARES:
            table[f"{col}_lo"], table[f"{col}_hi"] = wilson_interval(counts[col], runs, level)
        out.append(table)
    return out


def grouped_quantiles(values, codes, n_groups: int, qs, layout=None) -> list[np.ndarray]:
    """For each q of ``qs``, the q-quantile of ``values`` within each group (G,): NaN values
    left out, NaN for a group without values; interpolated linearly as pandas'
    ``groupby().quantile()`` does it, to the last bit (index q (n - 1), the value there plus
    (next - value) * frac when it falls between two). ``layout``: the codes'
    :class:`GroupLayout`, when several columns are taken over the same groups."""
    values = np.asarray(values, dtype=np.float64)
    codes = np.asarray(codes, dtype=np.int64)
    n = np.bincount(codes[~np.isnan(values)], minlength=n_groups)
    has = n > 0
    ats = [q * (n - 1).astype(np.float64) for q in qs]
    idx = [at.astype(np.int64) for at in ats]
    ks = [k for i in idx for k in (i, np.minimum(i + 1, np.maximum(n - 1, 0)))]
    ks = np.array(ks).reshape(len(ks), n_groups)
    kth = (layout or GroupLayout(codes, n_groups)).kth(values, ks)
    out = []
    for j, at in enumerate(ats):
        frac = at % 1
        val, nxt = kth[2 * j], kth[2 * j + 1]
        with np.errstate(invalid="ignore"):
            res = np.where(frac == 0, val, val + (nxt - val) * frac)
        out.append(np.where(has, res, np.nan))
    return out


#: Groups larger than this are not sorted for their quantiles but partitioned (np.partition:
#: linear time); smaller ones are sorted together.
BIG_GROUP = 4096


class GroupLayout:
    """Where each group's rows are (group codes (R,) of ``n_groups`` groups), to take order
    statistics of several columns over the same groups: each group's rows in one piece (in
    row order), and the groups above BIG_GROUP rows apart from the others."""

    def __init__(self, codes, n_groups: int):
        self.codes = np.asarray(codes, dtype=np.int64)
        self.n_groups = n_groups
        self.order = np.argsort(_small(self.codes, n_groups), kind="stable")
        self.n = np.bincount(self.codes, minlength=n_groups)
        self.start = np.cumsum(self.n) - self.n
        self.big = self.n > BIG_GROUP
        small = ~self.big[self.codes[self.order]]
        self.small_rows = self.order[small] if not small.all() else self.order

    def kth(self, values, ks) -> np.ndarray:
        """The k-th smallest value (0-based ranks ``ks``, an (m, G) array: m ranks for each
        group) of ``values`` (R,) within each group, NaN values left out: (m, G), NaN for a
        group without values. Small groups are sorted together; each large one is
        partitioned."""
        values = np.asarray(values, dtype=np.float64)
        ks = np.asarray(ks, dtype=np.int64).reshape(-1, self.n_groups)
        if np.isnan(values).any():  # left out: the groups' sizes differ from the layout's
            ok = ~np.isnan(values)
            return GroupLayout(self.codes[ok], self.n_groups).kth(values[ok], ks)
        out = np.full(ks.shape, np.nan)
        for g in np.flatnonzero(self.big):
            piece = values[self.order[self.start[g] : self.start[g] + self.n[g]]]
            wanted = ks[:, g]
            out[:, g] = np.partition(piece, np.unique(wanted))[wanted]
        small = ~self.big & (self.n > 0)
        if small.any():
            rows = self.small_rows
            v, c = values[rows], self.codes[rows]
            by_value = np.argsort(v)
            by_value = by_value[np.argsort(_small(c[by_value], self.n_groups), kind="stable")]
            n = np.where(small, self.n, 0)
            start = np.cumsum(n) - n
            out[:, small] = v[by_value][start[small] + ks[:, small]]
        return out


def kth_values(values, codes, n_groups: int, ks) -> np.ndarray:
    """:meth:`GroupLayout.kth` for one column."""
    return GroupLayout(codes, n_groups).kth(values, ks)


def group_sorted(values, codes, n_groups: int):
    """(values sorted by group, then value, with NaN left out; each group's count; each
    group's start in the sorted values)."""
    values = np.asarray(values, dtype=np.float64)
    codes = np.asarray(codes, dtype=np.int64)
    ok = ~np.isnan(values)
    if not ok.all():
        values, codes = values[ok], codes[ok]
    order = np.argsort(values)
    order = order[np.argsort(_small(codes[order], n_groups), kind="stable")]
    n = np.bincount(codes, minlength=n_groups)
    return values[order], n, np.cumsum(n) - n


def _small(codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Group codes in the smallest unsigned type that holds them (numpy's stable sort is a
    radix sort for 8- and 16-bit integers)."""
    if n_groups <= 1 << 8:
        return codes.astype(np.uint8)
    if n_groups <= 1 << 16:
        return codes.astype(np.uint16)
    return codes


# ---------------------------------------------------------------- sensitivity to initialization


def init_columns(df: pd.DataFrame) -> list[str]:
    """init_<p> columns whose values vary over the table."""
    cols = [c for c in df.columns if c.startswith("init_")]
    return [c for c in cols if varies(df[c].dropna())]


class _Order:
    """The rows of one column of values sorted within their groups (rows without a value, NaN,
    left out): by (group, value), ties in row order when ``row_order_ties`` (what pandas'
    ``rank(method="first")`` sees). Ranks over any subset of the rows are taken from it
    without sorting again: a subset of a sorted list is sorted.

    (Not pandas' ``groupby().rank()``: measured on the 10^6-run main job by lr, its 15
    columns took 3.0 s of CPU against 0.9 s here; the ranks are the same numbers.)
    """

    def __init__(self, values, codes, n_groups: int, row_order_ties: bool = False):
        values = np.asarray(values, dtype=np.float64)
        present = ~np.isnan(values)
        if present.all():
            rows = np.argsort(values)
        else:
            rows = np.flatnonzero(present)
            rows = rows[np.argsort(values[rows])]
        rows = rows[np.argsort(_small(codes[rows], n_groups), kind="stable")]
        v, c = values[rows], codes[rows]
        if row_order_ties and len(rows) > 1:
            same = (v[1:] == v[:-1]) & (c[1:] == c[:-1])
            if same.any():  # each run of equal values in row order
                run = np.cumsum(np.r_[True, ~same])
                tied = np.flatnonzero(np.r_[same, False] | np.r_[False, same])
                rows[tied] = rows[tied][np.lexsort((rows[tied], run[tied]))]
        self.rows, self.values, self.codes = rows, v, c
        self._first = None

    def restricted(self, keep: np.ndarray) -> _Order:
        """The order of the rows in ``keep`` (a bool array over the rows), numbered as the
        table of those rows alone (``table[keep]``) numbers them."""
        sel = keep[self.rows]
        out = object.__new__(_Order)
        out.rows = (np.cumsum(keep) - 1)[self.rows[sel]]
        out.values, out.codes = self.values[sel], self.codes[sel]
        out._first = None
        return out

    def ranks(self, n_rows: int, keep=None, method: str = "average") -> np.ndarray:
        """Each row's rank (1 = smallest) within its group among the rows in ``keep`` (a bool
        array over the rows; None: all) that have a value; NaN for the others. ``average``:
        tied values share the mean of their ranks; ``first``: ties in row order."""
        rows, v, c = self.rows, self.values, self.codes
        if keep is not None:
            sel = keep[rows]
            rows, v, c = rows[sel], v[sel], c[sel]
        n = len(rows)
        out = np.full(n_rows, np.nan) if n < n_rows else np.empty(n_rows)
        if not n:
            return out
        new_group = np.r_[True, c[1:] != c[:-1]]
        first = self._first if keep is None and self._first is not None else None
        if first is None:  # 1-based place within the group, ties in the order held
            pos = np.arange(1, n + 1, dtype=np.float64)
            first = pos - np.maximum.accumulate(np.where(new_group, pos - 1, 0.0))
            if keep is None:
                self._first = first
        if method == "first":
            out[rows] = first
            return out
        new_run = new_group | np.r_[True, v[1:] != v[:-1]]
        if new_run.all():  # no ties: each rank is its place
            out[rows] = first
            return out
        start = np.flatnonzero(new_run)
        length = np.diff(np.r_[start, n])
        out[rows] = np.repeat(first[start] + (length - 1) / 2, length)
        return out


def _binary_ranks(flag: np.ndarray, codes: np.ndarray, n_groups: int, keep=None) -> np.ndarray:
    """Average ranks within groups of a 0/1 column (over the rows in ``keep``; NaN for the
    others), by counting."""
    keep = np.ones(len(flag), dtype=bool) if keep is None else keep
    flag = flag.astype(bool)
    n1 = np.bincount(codes[keep], flag[keep], n_groups)
    n0 = np.bincount(codes[keep], minlength=n_groups) - n1
    rank = np.where(flag, n0[codes] + (n1[codes] + 1) / 2, (n0[codes] + 1) / 2)
    return np.where(keep, rank, np.nan)


def _grouped_spearman(target, columns, codes: np.ndarray, n_groups: int, binary=False):
    """Spearman correlation of ``target`` (R,) with each of ``columns`` (a list of (R,) value
    arrays, or of :class:`_Order` of them) within each group, (n_groups, columns) array: the
    Pearson correlation of their average ranks within the group. Pairwise-complete: a NaN
    drops the row from that pair only, and ranks are taken over the rows kept. NaN where
    either side is constant. ``binary``: the target is 0/1 (ranked by counting).

    Not ``groupby().corr(method="spearman")``, which runs one DataFrame.corr per group:
    measured side by side on the 15 columns of sensitivity()'s fit table, 26 s against
    0.24 s (pandas' group ranks) for 200,000 rows of the main job by lr and seed (200,000
    groups); 0.84 s against 1.2 s for 10^6 rows by lr (6 groups); same results to the last
    bit, as with the ranks taken here.
    """
    target = np.asarray(target, dtype=np.float64)
    out = np.full((n_groups, len(columns)), np.nan)
    n_rows = len(target)
    if not n_rows:
        return out
    t_ok = ~np.isnan(target)
    t_order = None if binary else _Order(target, codes, n_groups)
    t_all = _binary_ranks(target, codes, n_groups) if binary else t_order.ranks(n_rows)
    for j, col in enumerate(columns):
        order = col if isinstance(col, _Order) else _Order(col, codes, n_groups)
        ok = np.zeros(n_rows, dtype=bool)
        ok[order.rows] = True  # the rows with a value
        ok &= t_ok
        a = order.ranks(n_rows, None if ok.all() else ok)
        if ok.all():
            b = t_all
        elif binary:  # rank the target again over the rows where both are present
            b = _binary_ranks(target, codes, n_groups, ok)
        else:
            b = t_order.ranks(n_rows, ok)
        out[:, j] = _grouped_pearson(codes[ok], a[ok], b[ok], n_groups)
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


def _quantile_bins(first: np.ndarray, codes: np.ndarray, counts: np.ndarray, bins: int):
    """Equal-count bin (0-based) of each value within its group from its rank in row order
    of ties (``first``, 1-based): run i of n, 0-based in sorted order with ties in row order,
    falls in bin floor(i * bins / n)."""
    n = counts[codes].astype(np.float64)
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
    keys, codes, frame = grouping(df, by)
    params = init_columns(df)
    columns = (
        keys
        + ["param", "runs", "rho_fit", "rho_fit_abs", "rho_steps"]
        + [f"fit_q{b + 1}" for b in range(bins)]
        + ["spread"]
    )
    if not params:
        return pd.DataFrame(columns=columns + ["rank"])
    codes = np.asarray(codes, dtype=np.int64)
    n_groups = len(frame)
    n_rows = len(df)
    good = (df["final_ssr"].to_numpy(np.float64) < fit_ssr).astype(np.float64)
    conv = status_is(df, "converged")
    x = df[params].to_numpy(np.float64, copy=True)
    x[~np.isfinite(x)] = np.nan  # absent parameters
    names = [c[5:] for c in params]
    orders = [_Order(x[:, j], codes, n_groups, row_order_ties=True) for j in range(len(names))]
    magnitudes = [np.abs(x[:, j]) for j in range(len(names))]
    rho = _grouped_spearman(good, orders + magnitudes, codes, n_groups, binary=True)
    steps = df["steps"].to_numpy(np.float64)[conv]
    rho_steps = _grouped_spearman(
        steps, [o.restricted(conv) for o in orders], codes[conv], n_groups
    )
    present = ~np.isnan(x)
    counts = np.stack([np.bincount(codes, p, n_groups) for p in present.T], axis=1)  # (G, P)
    rows = []
    for j, name in enumerate(names):
        ok = present[:, j]
        first = orders[j].ranks(n_rows, method="first")[ok]
        qbin = _quantile_bins(first, codes[ok], counts[:, j], bins)
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
        part["spread"] = _nan_spread(shares)  # NaN for groups without it: dropped below
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


def _nan_spread(shares: np.ndarray) -> np.ndarray:
    """max - min of each row, NaN left out (NaN for a row of NaN), as np.nanmax - np.nanmin
    without their warning (which is not thread-safe to silence)."""
    none = np.isnan(shares).all(axis=1)
    hi = np.where(np.isnan(shares), -np.inf, shares).max(axis=1, initial=-np.inf)
    lo = np.where(np.isnan(shares), np.inf, shares).min(axis=1, initial=np.inf)
    with np.errstate(invalid="ignore"):
        return np.where(none, np.nan, hi - lo)


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
    first = _Order(x, codes, len(frame), row_order_ties=True).ranks(len(x), method="first")
    qbin = _quantile_bins(first, codes, counts, bins)
    work = pd.DataFrame(
        {
            "g": codes,
            "bin": qbin.astype(np.int64) + 1,
            "x": x,
            "good": sub["final_ssr"].to_numpy() < fit_ssr,
            "steps": np.where(status_is(sub, "converged"), sub["steps"], np.nan),
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
