"""Train a table of runs: columns of settings and starts in, columns of outcomes out.

This is the bridge between tidy tables (sweeps, maps, re-runs from a results file) and the
batched kernel :func:`bpsweep.engine.kernels.train_batch`: runs are grouped by data set and
hidden size, each group becomes the kernel's named arrays
(:func:`bpsweep.engine.kernels.make_runs`), and one kernel call trains the whole group in
compiled code. :func:`train_columns` takes and gives plain arrays (the sweeps' path, with no
per-run Python); :func:`train_runs` is the same for a DataFrame.

Columns read (one value per run):

- ``dataset`` (default "dosage"), ``hidden`` (default 2), ``activation`` (default softplus),
  ``optimizer`` (default gd), ``momentum``, ``beta1``, ``beta2``, ``eps`` (optimizer defaults),
  ``lr``, ``tol``, ``max_steps`` (lesson defaults), ``trainable`` ("all" or names joined by ",");
- optional ``lr_hidden``, ``lr_output``: per-layer learning rates (missing or NaN: ``lr``);
- optional ``schedule`` and its parameters (``schedule_steps``, ``min_lr_ratio``,
  ``step_every``, ``step_factor``, ``decay``; missing or NaN: their defaults);
- ``init_<p>`` for every parameter p of the run's network (w1, b1, ..., b(H+1)).

Outcomes, in the input's order: ``final_<p>`` (the union over hidden sizes; NaN where a run
has no such parameter), ``initial_ssr``, ``final_ssr``, ``steps``, ``status``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import UsageError
from ..model import ACTIVATIONS, OPTIMIZERS, SCHEDULES, STATUSES, param_names
from ..settings import HYPER_SETTINGS, SCHEDULE_SETTINGS, SETTINGS, hyper_array, schedule_array
from . import kernels
from .data import load_data
from .trainer import trainable_mask

#: Defaults of the settings the kernels use (data, model and training; not the init ones).
DEFAULTS = {n: s.default for n, s in SETTINGS.items() if s.section in ("data", "model", "train")}


@dataclass
class Trained:
    """The outcomes of runs, one value per run in the input's order."""

    names: tuple[str, ...]  #: the parameters of ``final``'s columns (union over hidden sizes)
    final: np.ndarray  #: (R, len(names)) float64, NaN where a run's network lacks the parameter
    initial_ssr: np.ndarray  #: (R,) float64
    final_ssr: np.ndarray  #: (R,) float64
    steps: np.ndarray  #: (R,) int64
    status: np.ndarray  #: (R,) int8 codes into STATUSES

    def take(self, rows) -> Trained:
        """The outcomes of some runs (a slice or indices), in that order."""
        return Trained(
            self.names,
            self.final[rows],
            self.initial_ssr[rows],
            self.final_ssr[rows],
            self.steps[rows],
            self.status[rows],
        )

    def frame(self, index=None) -> pd.DataFrame:
        """The outcome columns as a DataFrame (built in one piece: thousands of final_<p>
        columns added one by one made pandas warn of a fragmented frame)."""
        columns = {f"final_{p}": self.final[:, j] for j, p in enumerate(self.names)}
        columns["initial_ssr"] = self.initial_ssr
        columns["final_ssr"] = self.final_ssr
        columns["steps"] = self.steps
        columns["status"] = np.asarray(STATUSES, dtype=object)[self.status]
        frame = pd.DataFrame(columns, index=index)
        return frame.astype({"status": object})


def train_columns(
    columns: Mapping[str, np.ndarray],
    n_runs: int,
    data_dir=None,
    data_cache: dict | None = None,
    kernel=None,
) -> Trained:
    """Train ``n_runs`` runs given as columns (name -> array of n_runs values; a setting not
    given takes its default, as does a NaN in lr_hidden or lr_output).

    ``data_dir``: folder that relative CSV data paths are taken from. ``data_cache``: a dict
    reused across calls to load each data set once. ``kernel``: the batched trainer, called
    as :func:`bpsweep.engine.kernels.train_batch` is, ``kernel(x, y, hidden, runs, out)``
    (default that CPU kernel; :func:`bpsweep.engine.cuda.train_batch_cuda` trains on the GPU).
    """
    if kernel is None:
        kernel = kernels.train_batch
    cache = {} if data_cache is None else data_cache
    cols = {name: _column(columns, name, n_runs) for name in DEFAULTS}
    cols = {name: values for name, values in cols.items() if values is not None}
    hidden = cols["hidden"].astype(np.int64)
    names = tuple(dict.fromkeys(p for h in sorted(set(hidden.tolist())) for p in param_names(h)))
    trained = Trained(
        names=names,
        final=np.full((n_runs, len(names)), np.nan),
        initial_ssr=np.empty(n_runs),
        final_ssr=np.empty(n_runs),
        steps=np.zeros(n_runs, dtype=np.int64),
        status=np.zeros(n_runs, dtype=np.int8),
    )
    for (dataset, h), rows in _groups(cols["dataset"], hidden):
        if dataset not in cache:
            cache[dataset] = load_data(dataset, base_dir=data_dir)
        x, y = cache[dataset]
        group = {k: v if rows is None else v[rows] for k, v in cols.items()}
        inits = {
            k: (v if rows is None else v[rows]) for k, v in columns.items() if k[:5] == "init_"
        }
        runs = _runs(group, inits, h, len(group["hidden"]))
        got = kernels.Outcomes.empty(*runs.init.shape)
        kernel(x, y, h, runs, got)
        where = slice(None) if rows is None else rows
        at = [names.index(p) for p in param_names(h)]
        trained.final[(slice(None), at) if rows is None else np.ix_(rows, at)] = got.final
        trained.initial_ssr[where] = got.initial_ssr
        trained.final_ssr[where] = got.final_ssr
        trained.steps[where] = got.steps
        trained.status[where] = got.status
    return trained


def train_runs(
    runs: pd.DataFrame, data_dir=None, data_cache: dict | None = None, kernel=None
) -> pd.DataFrame:
    """Train every row of ``runs``; returns the outcome columns with the same index (see
    :func:`train_columns`; a missing setting column, or an empty cell in one, takes the
    default)."""
    columns = {c: runs[c].to_numpy() for c in runs.columns}
    trained = train_columns(columns, len(runs), data_dir, data_cache, kernel)
    return trained.frame(index=runs.index)


def _column(columns: Mapping[str, np.ndarray], name: str, n_runs: int) -> np.ndarray:
    """A setting's values for every run: its column with empty cells (None, NaN) at the
    default, or the default everywhere when the column is missing."""
    default = DEFAULTS[name]
    if name not in columns:
        if default is None:  # lr_hidden, lr_output: as lr
            return None
        return np.full(n_runs, default, dtype=object if isinstance(default, str) else None)
    values = np.asarray(columns[name])
    if values.dtype == object or values.dtype.kind == "f":
        empty = pd.isna(values)
        if empty.any() and default is not None:
            values = values.copy()
            values[empty] = default
    return values


def _groups(dataset: np.ndarray, hidden: np.ndarray):
    """((dataset, hidden), row indices) for each pair, in order of first appearance; the
    indices are None when every run shares one pair (the usual sweep: no copies)."""
    if len(hidden) == 0:
        return []
    if (hidden == hidden[0]).all() and (dataset == dataset[0]).all():
        return [((dataset[0], int(hidden[0])), None)]
    keys = pd.MultiIndex.from_arrays([dataset, hidden])
    codes, uniques = pd.factorize(keys)
    return [
        ((uniques[k][0], int(uniques[k][1])), np.flatnonzero(codes == k))
        for k in range(len(uniques))
    ]


def _runs(group: dict, inits: dict, hidden: int, n: int) -> kernels.Runs:
    """The kernels' Runs of runs that share a data set and hidden size."""
    names = param_names(hidden)
    missing = [f"init_{p}" for p in names if f"init_{p}" not in inits]
    if missing:
        raise UsageError(f"runs with hidden={hidden} need column(s) {', '.join(missing)}")
    init = np.empty((n, len(names)))
    for j, p in enumerate(names):
        init[:, j] = inits[f"init_{p}"]
    if not np.isfinite(init).all():
        raise UsageError(f"runs with hidden={hidden} have a missing or non-finite initial value")
    hyper = hyper_array(group["optimizer"], **{h: group[h] for h in HYPER_SETTINGS})
    lr = np.asarray(group["lr"], dtype=np.float64)
    return kernels.make_runs(
        act=_codes(group["activation"], ACTIVATIONS, "activation"),
        opt=_codes(group["optimizer"], OPTIMIZERS, "optimizer"),
        hyper=hyper,
        lr_hidden=_layer_rate(group.get("lr_hidden"), lr),
        lr_output=_layer_rate(group.get("lr_output"), lr),
        schedule=_codes(group["schedule"], SCHEDULES, "schedule"),
        sched_params=schedule_array(
            group["schedule"], group["max_steps"], **{n: group[n] for n in SCHEDULE_SETTINGS}
        ),
        tol=np.asarray(group["tol"], dtype=np.float64),
        max_steps=np.asarray(group["max_steps"], dtype=np.int64),
        trainable=_trainable(group["trainable"], hidden),
        init=init,
    )


def _trainable(values: np.ndarray, hidden: int) -> np.ndarray:
    """(R, P) bool masks from each run's ``trainable`` text (each distinct text parsed once)."""
    codes, uniques = pd.factorize(np.asarray(values, dtype=object))
    masks = np.stack([trainable_mask(t, hidden) for t in uniques])
    return masks[codes]


def _layer_rate(rate, lr: np.ndarray) -> np.ndarray:
    """A per-layer rate as float64, ``lr`` where it is not given or NaN."""
    if rate is None:
        return lr
    rate = pd.to_numeric(pd.Series(rate), errors="coerce").to_numpy(np.float64).copy()
    missing = np.isnan(rate)
    rate[missing] = lr[missing]
    return rate


def _codes(values: np.ndarray, registry: dict[str, int], what: str) -> np.ndarray:
    """Registry codes (int64) of names; each distinct name looked up once."""
    codes, uniques = pd.factorize(np.asarray(values, dtype=object))
    unknown = sorted(str(u) for u in uniques if u not in registry)
    if unknown:
        raise UsageError(
            f"unknown {what}(s) {', '.join(unknown)}; expected one of {', '.join(registry)}"
        )
    return np.array([registry[u] for u in uniques], dtype=np.int64)[codes]
