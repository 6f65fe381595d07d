"""One training run: validate the settings once, then hand plain arrays to the kernel."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import kernels
from .data import load_data
from .errors import UsageError
from .init import initial_params
from .model import (
    ACTIVATIONS,
    DEFAULT_HIDDEN,
    DEFAULT_LR,
    DEFAULT_MAX_STEPS,
    DEFAULT_TOL,
    OPTIMIZER_SETTINGS,
    OPTIMIZERS,
    STATUSES,
    param_names,
)
from .settings import SETTINGS, check, hyper_array

#: The optimizers' hyper-parameters, in the order of :func:`bpsweep.settings.hyper_array`.
HYPER = ("momentum", "beta1", "beta2", "eps")


@dataclass
class TrainResult:
    """The outcome of one run. Parameter dicts are keyed by name in the lessons' order."""

    status: str  #: "converged", "max_steps" or "diverged"
    steps: int  #: updates applied
    initial_ssr: float
    final_ssr: float
    initial_params: dict[str, float]
    final_params: dict[str, float]
    trainable: tuple[str, ...]
    trace: object = field(default=None, repr=False)  #: pandas DataFrame when asked for

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.final_params)


def trainable_mask(trainable, hidden: int) -> np.ndarray:
    """Bool array (3H + 1,) from ``"all"``, a name, a comma-separated string or a list of names."""
    names = param_names(hidden)
    if isinstance(trainable, str):
        if trainable == "all":
            return np.ones(len(names), dtype=np.bool_)
        trainable = [t.strip() for t in trainable.split(",") if t.strip()]
    chosen = list(trainable)
    if not chosen:
        raise UsageError(f"trainable is empty; give 'all' or some of {', '.join(names)}")
    unknown = [t for t in chosen if t not in names]
    if unknown:
        raise UsageError(
            f"unknown trainable parameter(s) {', '.join(map(str, unknown))}; "
            f"expected 'all' or some of {', '.join(names)}"
        )
    return np.array([n in chosen for n in names], dtype=np.bool_)


def optimizer_hyper(optimizer: str, **values) -> np.ndarray:
    """The kernels' length-3 hyper vector for ``optimizer`` from its hyper-parameters (None or
    missing: the default); see :func:`bpsweep.settings.hyper_array`."""
    optimizer = check("optimizer", optimizer)
    given = {k: v for k, v in values.items() if v is not None}
    hyper = {name: SETTINGS[name].default for name in HYPER}
    for name in OPTIMIZER_SETTINGS[optimizer]:
        if name in given:
            hyper[name] = check(name, given[name])
    return hyper_array([optimizer], *([hyper[n]] for n in HYPER))[0]


def train(
    data="dosage",
    *,
    hidden: int = DEFAULT_HIDDEN,
    activation: str = "softplus",
    init="normal",
    seed: int = 0,
    scale: float = 1.0,
    biases: str = "zeros",
    trainable="all",
    optimizer: str = "gd",
    lr: float = DEFAULT_LR,
    tol: float = DEFAULT_TOL,
    max_steps: int = DEFAULT_MAX_STEPS,
    momentum: float | None = None,
    beta1: float | None = None,
    beta2: float | None = None,
    eps: float | None = None,
    lr_hidden: float | None = None,
    lr_output: float | None = None,
    trace: bool = False,
) -> TrainResult:
    """Train one network by gradient descent with the stopping rules of statquest.md.

    data: ``"dosage"``, a CSV path, or an ``(x, y)`` pair of 1-D arrays.
    init: preset, scheme, ``name=value`` items or an array; see :func:`bpsweep.init.initial_params`.
    lr: learning rate (> 0); ``lr_hidden`` (every w_i, b_i feeding a hidden node) and
    ``lr_output`` (the output weights and bias) override it per layer (None: ``lr``).
    tol: a step converges when every trainable |step size| < tol.
    trace: also return the per-step trace as a DataFrame (row 0: the start).
    """
    x, y = _data_arrays(data)
    act = ACTIVATIONS[check("activation", activation)]
    opt = OPTIMIZERS[check("optimizer", optimizer)]
    lr = check("lr", lr)
    lr_hidden = lr if lr_hidden is None else check("lr_hidden", lr_hidden)
    lr_output = lr if lr_output is None else check("lr_output", lr_output)
    tol = check("tol", tol)
    max_steps = check("max_steps", max_steps)
    p = initial_params(init, hidden=hidden, scale=scale, biases=biases, seed=seed)
    mask = trainable_mask(trainable, hidden)
    hyper = optimizer_hyper(optimizer, momentum=momentum, beta1=beta1, beta2=beta2, eps=eps)
    names = param_names(hidden)
    start = p.copy()

    rows = int(max_steps) + 1 if trace else 0
    t_params, t_slopes, t_steps = (np.empty((rows, p.size)) for _ in range(3))
    t_ssr = np.empty(rows)
    status, steps, ssr0, ssr = kernels.train_one(
        x,
        y,
        hidden,
        act,
        opt,
        hyper,
        float(lr_hidden),
        float(lr_output),
        float(tol),
        int(max_steps),
        mask,
        p,
        t_params,
        t_slopes,
        t_steps,
        t_ssr,
    )
    result = TrainResult(
        status=STATUSES[status],
        steps=int(steps),
        initial_ssr=float(ssr0),
        final_ssr=float(ssr),
        initial_params=dict(zip(names, start.tolist())),
        final_params=dict(zip(names, p.tolist())),
        trainable=tuple(n for n, m in zip(names, mask) if m),
    )
    if trace:
        result.trace = _trace_frame(names, mask, t_params, t_slopes, t_steps, t_ssr, steps)
    return result


def _data_arrays(data):
    if isinstance(data, tuple) and len(data) == 2:
        # owned, writable, C-contiguous float64 copies: one numba type for the kernels
        x = np.array(data[0], dtype=np.float64, order="C")
        y = np.array(data[1], dtype=np.float64, order="C")
        if x.ndim != 1 or x.shape != y.shape or x.size < 1:
            raise UsageError(
                f"data x and y must be 1-D of the same length >= 1, "
                f"got shapes {x.shape} and {y.shape}"
            )
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise UsageError("data x or y has a NaN or infinite value")
        return x, y
    return load_data(data)


def _trace_frame(names, mask, t_params, t_slopes, t_steps, t_ssr, steps):
    import pandas as pd

    n = steps + 1
    columns = {"step": np.arange(n)}
    for j, name in enumerate(names):
        columns[name] = t_params[:n, j]
    for j, name in enumerate(names):
        if mask[j]:
            columns[f"slope_{name}"] = t_slopes[:n, j]
            columns[f"step_{name}"] = t_steps[:n, j]
    columns["ssr"] = t_ssr[:n]
    return pd.DataFrame(columns)
