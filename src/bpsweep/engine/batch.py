"""Train a table of runs: a DataFrame of settings and starts in, a DataFrame of outcomes out.

This is the bridge between tidy tables (sweeps, re-runs from a results CSV) and the batched
kernel :func:`bpsweep.engine.kernels.train_batch`: rows are grouped by data set and hidden size,
each
group becomes the kernel's named arrays (:func:`bpsweep.engine.kernels.make_runs`), and one kernel
call trains the whole group in compiled code.

Columns read (one row per run):

- ``dataset`` (default "dosage"), ``hidden`` (default 2), ``activation`` (default softplus),
  ``optimizer`` (default gd), ``momentum``, ``beta1``, ``beta2``, ``eps`` (optimizer defaults),
  ``lr``, ``tol``, ``max_steps`` (lesson defaults), ``trainable`` ("all" or names joined by ",");
- optional ``lr_hidden``, ``lr_output``: per-layer learning rates (missing or NaN: ``lr``);
- ``init_<p>`` for every parameter p of the run's network (w1, b1, ..., b(H+1)).

Columns written, in the input's row order: ``final_<p>`` (the union over hidden sizes; empty
where a run has no such parameter), ``initial_ssr``, ``final_ssr``, ``steps``, ``status``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import UsageError
from ..model import ACTIVATIONS, OPTIMIZERS, STATUSES, param_names
from ..settings import HYPER_SETTINGS, SETTINGS, hyper_array
from . import kernels
from .data import load_data
from .trainer import trainable_mask

#: Defaults of the settings the kernels use (data, model and training; not the init ones).
DEFAULTS = {n: s.default for n, s in SETTINGS.items() if s.section in ("data", "model", "train")}


def train_runs(
    runs: pd.DataFrame, data_dir=None, data_cache: dict | None = None, kernel=None
) -> pd.DataFrame:
    """Train every row of ``runs``; returns the outcome columns with the same index.

    A missing setting column, or an empty cell in one, takes the default above.

    ``data_dir``: folder that relative CSV data paths are taken from. ``data_cache``: a dict
    reused across calls to load each data set once. ``kernel``: the batched trainer, called
    as :func:`bpsweep.engine.kernels.train_batch` is, ``kernel(x, y, hidden, runs, out)`` (default
    that CPU kernel; :func:`bpsweep.engine.cuda.train_batch_cuda` trains on the GPU).
    """
    if kernel is None:
        kernel = kernels.train_batch
    runs = runs.copy()
    for col, default in DEFAULTS.items():
        runs[col] = runs[col].fillna(default) if col in runs.columns else default
    cache = {} if data_cache is None else data_cache
    hiddens = sorted(int(h) for h in runs["hidden"].unique())
    final_names = list(dict.fromkeys(n for h in hiddens for n in param_names(h)))
    out = pd.DataFrame(index=runs.index)
    for name in final_names:
        out[f"final_{name}"] = np.nan
    parts = {c: np.empty(len(runs)) for c in ("initial_ssr", "final_ssr")}
    steps = np.zeros(len(runs), dtype=np.int64)
    status = np.zeros(len(runs), dtype=np.int64)
    positions = np.arange(len(runs))
    for (dataset, hidden), group in runs.groupby(["dataset", "hidden"], sort=False):
        hidden = int(hidden)
        if dataset not in cache:
            cache[dataset] = load_data(dataset, base_dir=data_dir)
        x, y = cache[dataset]
        group_runs = _group_runs(group, hidden)
        got = kernels.Outcomes.empty(*group_runs.init.shape)
        kernel(x, y, hidden, group_runs, got)
        rows = positions[runs.index.get_indexer(group.index)]
        for j, name in enumerate(param_names(hidden)):
            out.iloc[rows, out.columns.get_loc(f"final_{name}")] = got.final[:, j]
        parts["initial_ssr"][rows] = got.initial_ssr
        parts["final_ssr"][rows] = got.final_ssr
        steps[rows] = got.steps
        status[rows] = got.status
    out["initial_ssr"] = parts["initial_ssr"]
    out["final_ssr"] = parts["final_ssr"]
    out["steps"] = steps
    out["status"] = np.asarray(STATUSES, dtype=object)[status]
    return out


def _group_runs(group: pd.DataFrame, hidden: int) -> kernels.Runs:
    """The kernels' Runs of rows that share a data set and hidden size."""
    names = param_names(hidden)
    missing = [f"init_{n}" for n in names if f"init_{n}" not in group.columns]
    if missing:
        raise UsageError(f"runs with hidden={hidden} need column(s) {', '.join(missing)}")
    init = group[[f"init_{n}" for n in names]].to_numpy(np.float64)
    if not np.isfinite(init).all():
        raise UsageError(f"runs with hidden={hidden} have a missing or non-finite initial value")
    hyper = hyper_array(
        group["optimizer"].to_numpy(), **{n: group[n].to_numpy() for n in HYPER_SETTINGS}
    )
    masks = {t: trainable_mask(t, hidden) for t in group["trainable"].unique()}
    lr = group["lr"].to_numpy(np.float64)
    return kernels.make_runs(
        act=_codes(group["activation"], ACTIVATIONS, "activation"),
        opt=_codes(group["optimizer"], OPTIMIZERS, "optimizer"),
        hyper=hyper,
        lr_hidden=_layer_rate(group, "lr_hidden", lr),
        lr_output=_layer_rate(group, "lr_output", lr),
        tol=group["tol"].to_numpy(np.float64),
        max_steps=group["max_steps"].to_numpy(np.int64),
        trainable=np.stack([masks[t] for t in group["trainable"]]),
        init=init,
    )


def _layer_rate(group: pd.DataFrame, column: str, lr: np.ndarray) -> np.ndarray:
    """A per-layer rate column as float64, ``lr`` where the column is missing or NaN."""
    if column not in group.columns:
        return lr
    rate = pd.to_numeric(group[column], errors="coerce").to_numpy(np.float64).copy()
    missing = np.isnan(rate)
    rate[missing] = lr[missing]
    return rate


def _codes(column: pd.Series, registry: dict[str, int], what: str) -> np.ndarray:
    unknown = sorted(set(column.unique()) - set(registry))
    if unknown:
        raise UsageError(
            f"unknown {what}(s) {', '.join(map(str, unknown))}; "
            f"expected one of {', '.join(registry)}"
        )
    return column.map(registry).to_numpy(np.int64)
