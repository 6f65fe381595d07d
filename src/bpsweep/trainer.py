"""One training run: validate the settings once, then hand plain arrays to the kernel."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import kernels
from .data import load_data
from .errors import UsageError
from .init import initial_params
from .model import (
    DEFAULT_HIDDEN,
    DEFAULT_LR,
    DEFAULT_MAX_STEPS,
    DEFAULT_TOL,
    HYPER_DEFAULTS,
    OPTIMIZER_SETTINGS,
    STATUSES,
    activation_code,
    optimizer_code,
    param_names,
)


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


def check_positive(name: str, value, *, integer: bool = False):
    """Raise ValueError unless ``value`` is a finite number > 0 (a whole number if asked)."""
    ok_type = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    if (
        isinstance(value, bool)
        or not isinstance(value, ok_type)
        or not (math.isfinite(value) and value > 0)
    ):
        kind = "a whole number >= 1" if integer else "a finite number > 0"
        raise UsageError(f"{name} must be {kind}, got {value!r}")
    return value


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


def optimizer_hyper(optimizer: str, **settings) -> np.ndarray:
    """The kernels' length-3 hyper vector for ``optimizer`` (see :func:`bpsweep.kernels.update`)."""
    optimizer_code(optimizer)
    values = {**HYPER_DEFAULTS, **{k: v for k, v in settings.items() if v is not None}}
    for name in OPTIMIZER_SETTINGS[optimizer]:
        v = values[name]
        bad = isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
        if bad or (name == "eps" and v <= 0) or (name != "eps" and not 0 <= v < 1):
            want = "> 0" if name == "eps" else "in [0, 1)"
            raise UsageError(f"{optimizer} setting {name} must be a number {want}, got {v!r}")
    if optimizer == "momentum":
        return np.array([values["momentum"], 0.0, 0.0])
    return np.array([values["beta1"], values["beta2"], values["eps"]])


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
    act = activation_code(activation)
    opt = optimizer_code(optimizer)
    check_positive("lr", lr)
    lr_hidden = lr if lr_hidden is None else check_positive("lr_hidden", lr_hidden)
    lr_output = lr if lr_output is None else check_positive("lr_output", lr_output)
    check_positive("tol", tol)
    check_positive("max_steps", max_steps, integer=True)
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
