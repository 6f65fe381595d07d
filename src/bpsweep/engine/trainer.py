"""One training run: validate the settings once, then hand them to the kernel as a one-run
batch (:func:`bpsweep.engine.kernels.make_runs`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import UsageError
from ..machine import memory_short
from ..model import ACTIVATIONS, OPTIMIZERS, SCHEDULES, STATUSES, param_names
from ..settings import (
    HYPER_SETTINGS,
    SCHEDULE_SETTINGS,
    SETTINGS,
    check,
    did_you_mean,
    hyper_array,
    schedule_array,
)
from ..wording import size_text
from . import kernels
from .data import load_data
from .starts import initial_params


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
    missing: the default; another optimizer's: ignored, unchecked); see
    :func:`bpsweep.settings.hyper_array`."""
    optimizer = check("optimizer", optimizer)
    hyper = {}
    for name in HYPER_SETTINGS:
        value = values.get(name) if SETTINGS[name].optimizer == optimizer else None
        hyper[name] = [SETTINGS[name].default if value is None else check(name, value)]
    return hyper_array([optimizer], **hyper)[0]


def train(data="dosage", *, init="normal", trace: bool = False, **settings) -> TrainResult:
    """Train one network by gradient descent with the lessons' stopping rules.

    data: ``"dosage"``, a CSV path, or an ``(x, y)`` pair of 1-D arrays.
    init: preset, scheme, ``name=value`` items or an array; see
    :func:`bpsweep.engine.starts.initial_params`.
    trace: also return the per-step trace as a DataFrame (row 0: the start).
    settings: any setting of :data:`bpsweep.settings.SETTINGS` but ``dataset`` (``data``) and
    ``scheme`` (``init``), by name, each checked as a config checks it; a setting not given
    (or None) takes its default. They are:

    {settings}
    """
    unknown = sorted(set(settings) - set(TRAIN_SETTINGS))
    if unknown:
        raise UsageError(
            f"train: unknown setting {unknown[0]!r}; expected one of "
            f"{', '.join(TRAIN_SETTINGS)}{did_you_mean(unknown[0], TRAIN_SETTINGS)}"
        )
    given = {k: v for k, v in settings.items() if v is not None}
    s = {n: check(n, given[n]) if n in given else SETTINGS[n].default for n in TRAIN_SETTINGS}
    x, y = _data_arrays(data)
    hidden = s["hidden"]
    lr_hidden = s["lr"] if s["lr_hidden"] is None else s["lr_hidden"]
    lr_output = s["lr"] if s["lr_output"] is None else s["lr_output"]
    p = initial_params(init, hidden=hidden, scale=s["scale"], biases=s["biases"], seed=s["seed"])
    mask = trainable_mask(s["trainable"], hidden)
    hyper = optimizer_hyper(s["optimizer"], **{n: s[n] for n in HYPER_SETTINGS})
    act, opt = ACTIVATIONS[s["activation"]], OPTIMIZERS[s["optimizer"]]
    tol, max_steps = s["tol"], s["max_steps"]
    schedule = [s["schedule"]]
    sched = schedule_array(schedule, [max_steps], **{n: [s[n]] for n in SCHEDULE_SETTINGS})
    names = param_names(hidden)

    rows = int(max_steps) + 1 if trace else 0
    _check_trace_fits(rows, p.size)
    runs = kernels.make_runs(
        act=act,
        opt=opt,
        hyper=hyper,
        lr_hidden=lr_hidden,
        lr_output=lr_output,
        schedule=SCHEDULES[s["schedule"]],
        sched_params=sched,
        tol=tol,
        max_steps=max_steps,
        trainable=mask,
        init=p[None, :],
    )
    out = kernels.Outcomes.empty(1, p.size)
    steps_trace = kernels.Trace.empty(rows, p.size)
    kernels.run_interruptibly(kernels.train_one, x, y, hidden, runs, 0, out, steps_trace)
    steps = int(out.steps[0])
    result = TrainResult(
        status=STATUSES[out.status[0]],
        steps=steps,
        initial_ssr=float(out.initial_ssr[0]),
        final_ssr=float(out.final_ssr[0]),
        initial_params=dict(zip(names, p.tolist())),
        final_params=dict(zip(names, out.final[0].tolist())),
        trainable=tuple(n for n, m in zip(names, mask) if m),
    )
    if trace:
        result.trace = _trace_frame(names, mask, steps_trace, steps)
    return result


def _check_trace_fits(rows: int, n_params: int) -> None:
    """A trace keeps every step (params, slopes, step sizes, SSR): refuse one that cannot fit
    half the available memory before numpy tries to allocate it."""
    need = rows * (3 * n_params + 1) * 8
    memory = memory_short(need)
    if memory is not None:
        raise UsageError(
            f"a trace of max_steps={rows - 1:,} steps needs about {size_text(need)} of memory "
            f"and {size_text(memory)} is available; lower max_steps (a trace keeps every step)"
        )


#: The settings :func:`train` takes by name (all but the data set and the init scheme).
TRAIN_SETTINGS = tuple(n for n in SETTINGS if n not in ("dataset", "scheme"))
train.__doc__ = train.__doc__.replace(
    "{settings}",
    "\n    ".join(
        f"{n}: {SETTINGS[n].help} (default "
        f"{'as lr' if SETTINGS[n].default is None else SETTINGS[n].default})"
        for n in TRAIN_SETTINGS
    ),
)


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


def _trace_frame(names, mask, trace, steps):
    import pandas as pd

    n = steps + 1
    columns = {"step": np.arange(n)}
    for j, name in enumerate(names):
        columns[name] = trace.params[:n, j]
    for j, name in enumerate(names):
        if mask[j]:
            columns[f"slope_{name}"] = trace.slopes[:n, j]
            columns[f"step_{name}"] = trace.step_sizes[:n, j]
    columns["ssr"] = trace.ssr[:n]
    return pd.DataFrame(columns)
