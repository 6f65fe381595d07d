"""Re-running runs of a results table: traces of chosen runs, the chaos check (re-runs from
starts moved by 1e-12) and the SSR curve of a one-parameter run, and the network's output.

Results are deterministic, so a re-run from the same settings and start reproduces its row
bit for bit; moving the start by 1e-12 shows how chaotic training is there.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..errors import ResultsError
from ..model import ACTIVATIONS, DEFAULT_FIT_SSR, param_names
from ..settings import SETTINGS
from ..sweeps.results import data_dir as _data_dir
from ..sweeps.results import plain, status_is, varies
from .endpoints import _model_groups, canonical_final
from .tables import SHARES, grouping, outcome_flags


def chaos(
    df: pd.DataFrame,
    sample: int | None = None,
    rel: float = 1e-12,
    fit_ssr: float = DEFAULT_FIT_SSR,
    seed: int = 0,
    data_dir=None,
    repeats: int = 1,
) -> pd.DataFrame:
    """Re-run runs from starts perturbed by +-``rel`` relative and compare outcomes.

    Each initial value v becomes v * (1 + s * rel), s = +-1 drawn per value from ``seed``
    (zeros stay zero), ``repeats`` times with fresh signs (the first perturbation does not
    depend on ``repeats``). ``sample``: re-run that many runs drawn at random (``seed``), else
    all. Returns one row per re-run (index: the run's index in ``df``, repeated per
    perturbation): repeat (0..repeats-1), status_new, final_ssr_new, steps_new, changed (status
    or good fit differs), moved (steps differ, or the canonical final vector moved by more
    than 1e-6 in some parameter).
    """
    from ..engine.batch import train_runs

    rng = np.random.default_rng(seed)
    if sample is not None and sample < len(df):
        idx = np.sort(rng.choice(len(df), size=int(sample), replace=False))
        sub = df.iloc[idx]
    else:
        sub = df
    dropped = [
        c for c in sub.columns if c.startswith("final_") or c in ("initial_ssr", "steps", "status")
    ]
    runs = plain(sub).drop(columns=dropped).reset_index(drop=True)
    init_cols = [c for c in runs.columns if c.startswith("init_")]
    x = runs[init_cols].to_numpy(np.float64)
    batches = []
    for _ in range(repeats):
        signs = rng.choice(np.array([-1.0, 1.0]), size=x.shape)
        moved_runs = runs.copy()
        moved_runs[init_cols] = x * (1.0 + signs * rel)
        batches.append(moved_runs)
    batch = pd.concat(batches, ignore_index=True)
    new = train_runs(batch, data_dir=data_dir if data_dir is not None else _data_dir(df))
    old = pd.concat([sub] * repeats, ignore_index=True)
    out = pd.DataFrame(index=np.tile(sub.index.to_numpy(), repeats))
    out.index.name = df.index.name
    out["repeat"] = np.repeat(np.arange(repeats), len(sub))
    out["status_new"] = new["status"].to_numpy()
    out["final_ssr_new"] = new["final_ssr"].to_numpy()
    out["steps_new"] = new["steps"].to_numpy()
    good_old = old["final_ssr"].to_numpy(np.float64) < fit_ssr
    good_new = new["final_ssr"].to_numpy(np.float64) < fit_ssr
    changed = (old["status"].astype(str).to_numpy() != new["status"].astype(str).to_numpy()) | (
        good_old != good_new
    )
    out["changed"] = changed
    moved = old["steps"].to_numpy() != new["steps"].to_numpy()
    for _, part in _model_groups(old):
        hidden = int(part["hidden"].iloc[0]) if "hidden" in part.columns else 2
        pos = part.index.to_numpy()  # old and new share the positional index
        a = canonical_final(part, hidden)
        b = canonical_final(new.iloc[pos], hidden)
        with np.errstate(invalid="ignore"):
            far = ~(np.abs(a - b) <= 1e-6).all(axis=1)
        moved[pos] |= far & ~status_is(part, "diverged")
    out["moved"] = moved | changed
    return out


def chaos_table(df: pd.DataFrame, runs: pd.DataFrame, by=None) -> pd.DataFrame:
    """Per group of ``by`` (default: varying settings): runs re-run, and the shares of the
    re-runs (over every perturbation) whose outcome changed and that moved (see chaos())."""
    _, codes_all, frame = grouping(df, by)
    codes = codes_all[df.index.get_indexer(runs.index)]
    present, codes = np.unique(codes, return_inverse=True)  # the groups that had re-runs
    frame = frame.iloc[present].reset_index(drop=True)
    g = runs[["changed", "moved"]].astype(float).groupby(codes)
    repeats = runs["repeat"].nunique() if "repeat" in runs.columns else 1
    table = frame.reset_index(drop=True)
    table["runs"] = np.bincount(codes) // repeats
    table["changed"] = g["changed"].mean().to_numpy()
    table["moved"] = g["moved"].mean().to_numpy()
    return table


def chaos_shares(
    df: pd.DataFrame, runs: pd.DataFrame, by=None, fit_ssr: float = DEFAULT_FIT_SSR
) -> pd.DataFrame:
    """How much the outcome table's shares move when the starts move (``runs`` from chaos()).

    Per group of ``by`` and share (SHARES), the share recomputed with each perturbation's
    re-runs in place of the original runs, and the min and max over the perturbations:
    ``<share>_chaos_min``, ``<share>_chaos_max``. When only a sample was re-run, each
    perturbation's share is the group's share plus the change it made on the sample, scaled to
    the group: (k_all + (k_new - k_old) * n_all / n_sample) / n_all, which is the share of the
    re-runs exactly when every run was re-run. NaN for groups with no re-run.
    """
    _, codes_all, frame = grouping(df, by)
    n_groups = len(frame)
    n_all = np.bincount(codes_all, minlength=n_groups).astype(np.float64)
    flags_all = outcome_flags(df["status"], df["final_ssr"].to_numpy(), fit_ssr)
    pos = df.index.get_indexer(runs.index)
    codes = codes_all[pos]
    repeat = runs["repeat"].to_numpy() if "repeat" in runs.columns else np.zeros(len(runs), int)
    n_rep = int(repeat.max()) + 1 if len(runs) else 0
    flags_new = outcome_flags(runs["status_new"].to_numpy(), runs["final_ssr_new"], fit_ssr)
    table = frame.reset_index(drop=True)
    for name in SHARES:
        k_all = np.bincount(codes_all, flags_all[name], n_groups)
        estimates = np.full((n_rep, n_groups), np.nan)
        for r in range(n_rep):
            here = repeat == r
            n_s = np.bincount(codes[here], minlength=n_groups).astype(np.float64)
            k_old = np.bincount(codes[here], flags_all[name][pos[here]], n_groups)
            k_new = np.bincount(codes[here], flags_new[name][here], n_groups)
            with np.errstate(invalid="ignore", divide="ignore"):
                estimates[r] = np.where(
                    n_s > 0, (k_all + (k_new - k_old) * (n_all / n_s)) / n_all, np.nan
                )
        with np.errstate(invalid="ignore"):
            none = np.isnan(estimates).all(axis=0) if n_rep else np.ones(n_groups, bool)
            safe = np.where(np.isnan(estimates), np.inf, estimates)
            table[f"{name}_chaos_min"] = np.where(none, np.nan, safe.min(axis=0, initial=np.inf))
            safe = np.where(np.isnan(estimates), -np.inf, estimates)
            table[f"{name}_chaos_max"] = np.where(none, np.nan, safe.max(axis=0, initial=-np.inf))
    return table


def run_settings(row: pd.Series, data_dir=None) -> dict:
    """Keyword arguments of :func:`bpsweep.engine.trainer.train` that re-run one results row: every
    setting of the schema the row has a value for (missing or NaN: the default, so that an
    optional setting such as ``lr_hidden`` that was never set stays "as lr"), the data set, and
    the row's ``init_<p>`` as the start."""

    def given(name):
        value = row.get(name, None)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        kind = SETTINGS[name].kind
        return int(value) if kind == "int" else float(value) if kind == "float" else str(value)

    from ..engine.data import BUILTIN, load_data  # (numba: only when runs are re-run)
    from ..engine.trainer import TRAIN_SETTINGS

    hidden = given("hidden") or SETTINGS["hidden"].default
    init = np.array([row[f"init_{n}"] for n in param_names(hidden)], dtype=np.float64)
    dataset = given("dataset") or SETTINGS["dataset"].default
    data = dataset if dataset in BUILTIN else load_data(dataset, base_dir=data_dir)
    settings = {n: v for n in TRAIN_SETTINGS if (v := given(n)) is not None}
    return {"data": data, "init": init, **settings}


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
        raise ResultsError(
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
    from ..engine.trainer import train

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


# ---------------------------------------------------------------- the network's output


def predict(params, x, hidden: int = 2, activation: str = "softplus") -> np.ndarray:
    """The network's output at inputs ``x`` (n,) for one parameter vector (3H+1,)."""
    from ..engine import kernels

    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty_like(x)
    kernels.forward(
        x,
        np.zeros_like(x),
        np.ascontiguousarray(params, dtype=np.float64),
        hidden,
        ACTIVATIONS[activation],
        out,
        np.empty((len(x), hidden)),
        np.empty((len(x), hidden)),
    )
    return out


def model_data(df: pd.DataFrame):
    """(x, y) of the data set the table's runs were trained on (its first row's dataset)."""
    from ..engine.data import load_data

    dataset = str(df["dataset"].iloc[0]) if "dataset" in df.columns else "dosage"
    return load_data(dataset, base_dir=_data_dir(df))


def single_trainable(df: pd.DataFrame):
    """The one trainable parameter's name when every run trains just one (e.g. b3), else None."""
    col = df["trainable"].dropna() if "trainable" in df.columns else pd.Series([], dtype=object)
    if col.empty or varies(col):
        return None
    name = str(col.iloc[0]).strip()
    return name if name and "," not in name and name != "all" else None


def param_curve(df: pd.DataFrame, run_id=None, points: int = 400) -> dict:
    """For a sweep that trains one parameter (the lesson's b3): re-run one run (default: a
    converged run with lr nearest the lesson's 0.1) and evaluate the SSR along that parameter,
    the others fixed at the run's start (the "pink curve").

    Returns a dict: ``name`` (the parameter), ``run_id``, ``lr``, ``trace`` (from
    :func:`trace_runs`), ``curve`` (DataFrame: the parameter's value, ``ssr``) over the steps'
    range padded by max(0.5, a quarter of it) on each side.
    """
    name = single_trainable(df)
    if name is None:
        raise ResultsError(
            "the SSR curve needs a sweep that trains one parameter (trainable like 'b3')"
        )
    if run_id is None:
        conv = df[status_is(df, "converged")]
        pick = conv if len(conv) else df
        if "lr" in pick.columns:  # the lesson's learning rate when there is a choice
            pick = pick.iloc[
                np.argsort(np.abs(np.log(pick["lr"].to_numpy(float) / 0.1)), kind="stable")
            ]
        run_id = pick["run_id"].iloc[0] if "run_id" in pick.columns else pick.index[0]
    trace, _ = trace_runs(df, [run_id])
    row = find_runs(df, [run_id]).iloc[0]
    hidden = int(row.get("hidden", 2))
    names = param_names(hidden)
    base = trace[list(names)].iloc[0].to_numpy(np.float64)
    j = names.index(name)
    path_values = trace[name].to_numpy(np.float64)
    finite = path_values[np.isfinite(path_values)]
    lo, hi = finite.min(), finite.max()
    pad = max(0.5, 0.25 * (hi - lo))
    grid = np.linspace(lo - pad, hi + pad, points)
    x, y = model_data(df)
    activation = str(row.get("activation", "softplus"))
    ssr = np.empty_like(grid)
    for i, v in enumerate(grid):
        p = base.copy()
        p[j] = v
        ssr[i] = ((y - predict(p, x, hidden, activation)) ** 2).sum()
    return {
        "name": name,
        "run_id": run_id,
        "lr": float(row.get("lr", float("nan"))),
        "trace": trace,
        "curve": pd.DataFrame({name: grid, "ssr": ssr}),
    }
