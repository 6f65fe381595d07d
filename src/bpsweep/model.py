"""The StatQuest network: names, parameter layout and the registries that map names to kernels.

One input (dosage), H hidden nodes, one output, as in the StatQuest backpropagation lessons::

    x_i       = w_i * input + b_i                       (i = 1..H)
    y_i       = activation(x_i)                         (softplus in the lessons)
    predicted = w_(H+1) * y_1 + ... + w_(2H) * y_H + b_(H+1)
    SSR       = sum over data of (observed - predicted)^2

Parameters are stored in one float64 vector in the lessons' order: for H = 2 that is
``w1, b1, w2, b2, w3, w4, b3``. The compiled math lives in :mod:`bpsweep.engine.kernels`.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from .errors import UsageError

# Registries: name -> integer code understood by the kernels. Codes are part of the kernels'
# interface; add new entries at the end.
ACTIVATIONS = {"softplus": 0, "relu": 1, "sigmoid": 2, "tanh": 3}
OPTIMIZERS = {"gd": 0, "momentum": 1, "adam": 2}
#: Learning-rate schedules (the factor each applies to the rates at each step: see the
#: ``schedule`` settings of :mod:`bpsweep.settings` and :mod:`bpsweep.engine.kernels`).
SCHEDULES = {"constant": 0, "cosine": 1, "step": 2, "exponential": 3}
# The codes by name, for the kernels' branches (numba freezes module globals when it compiles,
# so a named code costs what a literal does).
SOFTPLUS = ACTIVATIONS["softplus"]
RELU = ACTIVATIONS["relu"]
SIGMOID = ACTIVATIONS["sigmoid"]
TANH = ACTIVATIONS["tanh"]
GD = OPTIMIZERS["gd"]
MOMENTUM = OPTIMIZERS["momentum"]
ADAM = OPTIMIZERS["adam"]
CONSTANT = SCHEDULES["constant"]
COSINE = SCHEDULES["cosine"]
STEP = SCHEDULES["step"]
EXPONENTIAL = SCHEDULES["exponential"]
#: The lessons' starts (see :mod:`bpsweep.engine.starts`), usable wherever an init scheme is.
PRESETS = {
    # Lesson 000: the fitted network, with the output bias b3 still to be found.
    "statquest-fitted": {
        "w1": 3.34,
        "b1": -1.43,
        "w2": -3.53,
        "b2": 0.57,
        "w3": -1.22,
        "w4": -2.30,
        "b3": 0.0,
    },
    # Lesson 003: the random start of the original lesson, biases 0.
    "statquest-start": {
        "w1": 2.74,
        "b1": 0.0,
        "w2": -1.13,
        "b2": 0.0,
        "w3": 0.36,
        "w4": 0.63,
        "b3": 0.0,
    },
}
#: Random init schemes (:mod:`bpsweep.engine.starts` says what each draws), bias modes, largest
#: seed.
SCHEMES = {"normal": 0, "uniform": 1, "xavier": 2, "he": 3}
NORMAL = SCHEMES["normal"]
UNIFORM = SCHEMES["uniform"]
XAVIER = SCHEMES["xavier"]
HE = SCHEMES["he"]
BIASES = ("zeros", "drawn")
MAX_SEED = 2**63 - 1
#: Largest hidden size: a run's state is a few vectors of 3H + 1 floats per lane, and larger
#: networks are not what this tool is for (their sweeps would not fit memory).
MAX_HIDDEN = 1024

# Optimizer hyper-parameters' defaults (which optimizer each belongs to is the settings
# schema's, :mod:`bpsweep.settings`). The kernels take them as a length-3 vector ``hyper``
# (:func:`bpsweep.settings.hyper_array`): momentum uses hyper[0]; adam uses (beta1, beta2, eps).
HYPER_DEFAULTS = {"momentum": 0.9, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}

# Run outcomes, as returned by the kernels.
STATUSES = ("converged", "max_steps", "diverged")
CONVERGED, MAX_STEPS, DIVERGED = 0, 1, 2

# A run has diverged once its SSR exceeds this many times its initial SSR.
DIVERGENCE_FACTOR = 1e8
#: A run is a good fit when its final SSR is below this (``--fit-ssr`` changes it): the
#: analysis' tables and the maps' outcome colours share it.
DEFAULT_FIT_SSR = 0.01

# The lessons' defaults.
DEFAULT_HIDDEN = 2
DEFAULT_LR = 0.1
DEFAULT_TOL = 1e-3
DEFAULT_MAX_STEPS = 1000


def n_params(hidden: int) -> int:
    """Number of parameters of a network with ``hidden`` hidden nodes: 3H + 1."""
    return 3 * hidden + 1


@cache
def param_names(hidden: int = DEFAULT_HIDDEN) -> tuple[str, ...]:
    """Parameter names in storage order: w1, b1, ..., wH, bH, w(H+1), ..., w(2H), b(H+1)."""
    check_hidden(hidden)
    names = []
    for i in range(1, hidden + 1):
        names += [f"w{i}", f"b{i}"]
    names += [f"w{hidden + i}" for i in range(1, hidden + 1)]
    names.append(f"b{hidden + 1}")
    return tuple(names)


def check_hidden(hidden) -> int:
    """``hidden`` if it is a whole number from 1 to MAX_HIDDEN (the schema's bounds for the
    ``hidden`` setting, :mod:`bpsweep.settings`), else a UsageError."""
    if (
        isinstance(hidden, bool)
        or not isinstance(hidden, (int, np.integer))
        or not 1 <= hidden <= MAX_HIDDEN
    ):
        raise UsageError(
            f"hidden: expected a whole number from 1 to {MAX_HIDDEN}, found {hidden!r}"
        )
    return int(hidden)
