"""Compiled kernels: forward, backward, update, and the training loops built on them.

The training kernels take the runs of a batch as one :class:`Runs` (named arrays: codes,
rates, tol, max_steps, trainable mask, start) and write their outcomes into one
:class:`Outcomes`; the functions below them take plain float64 arrays and integer codes (see
:mod:`bpsweep.model` for the registries and the parameter layout). Input is converted and
validated once, by :func:`make_runs` and the public API, never in compiled code.
The single-run trainer :func:`train_one` and the batched kernel :func:`train_batch` do, for
each run, the very same float operations in the same order, so a run gives the same bits
whichever way it is trained (and the CUDA kernel in :mod:`bpsweep.engine.cuda` too).

Parameter vector ``p`` (length P = 3H + 1) for H hidden nodes::

    p[2*i]     = w_(i+1)     hidden weight of node i
    p[2*i + 1] = b_(i+1)     hidden bias of node i
    p[2*H + i] = w_(H+i+1)   output weight of node i
    p[3*H]     = b_(H+1)     output bias

Per-layer learning rates: the hidden layer's rate (``lr_hidden``) moves every w_i, b_i that
feeds a hidden node (p[0 .. 2H-1]), the output layer's rate (``lr_output``) the output weights
and bias (p[2H .. 3H]); momentum and adam use the group's rate where they use lr.

Learning-rate schedules: at step t (1-based, as the kernels count steps) both layers' rates
are multiplied by the run's schedule factor f(k), k = t - 1 the updates made before (so the
first step takes the rates as given); see :func:`schedule_factor` for the formulas. The
schedule's parameters travel per run in ``sched_params`` (``constant``: f = 1, and the lanes
kernel then does no schedule work at all).

Lanes (:func:`train_batch`)
---------------------------

The batched kernel trains ``lanes`` runs at once in one thread (LANES = 128 by default), one
run per *lane*, in lockstep. Every array of per-run state is laid out structure-of-arrays, lane
index last and fastest (``lanes`` is L below)::

    p[j * L + l]        parameter j of the run in lane l (w1, b1, ..., as above)   (P * L)
    g[j * L + l]        its slope dSSR/dp_j                                         (P * L)
    s, m, v, rate, tr   its step size, optimizer state, learning rate (its layer's)
                        and trainable flag, the same way
    act_y, act_dy       [(h * n + i) * L + l]: node h's activation and its slope at
                        data point i, in lane l
    tol[l], t[l], ...   one value per lane

Every loop over lanes is innermost and branch-free (choices are selects), so LLVM's loop
vectorizer turns it into AVX-512 (or AVX2) instructions: eight (four) runs per register. The
lane count is a runtime argument on purpose: numba leaves LLVM's SLP vectorizer off, and a
loop with a small constant trip count is unrolled into scalar code before the loop vectorizer
sees it; with a runtime count each loop is vectorized, behind runtime alias checks whose cost
is shared by all lanes (hence many lanes: see LANES). The math functions (exp, log1p, expm1)
are our own branch-free polynomials from :mod:`bpsweep.engine._math`, inlined and vectorized like
any
other arithmetic; libm's scalar calls would serialise the lanes again.

The runs of one work item share the activation, the optimizer and the learning-rate schedule
(the host sorts runs by them and cuts them into work items of up to GROUP runs); everything
else (start, per-layer rates, the schedule's parameters, tol, max_steps, trainable mask,
hyper-parameters) is per-lane data. Under a schedule other than constant, each step first
computes every lane's factor and scheduled rates (:func:`_lanes_schedule`); a constant
schedule skips that (one branch per step). When a run stops,
its outcome is written and its lane takes the next run of the item at once (its initial SSR
and slopes from :func:`ssr_and_slopes`); a lane with no run left idles (learning rate 0,
never stops) until the item's last run stops.
"""

import math
import threading
from typing import NamedTuple

import numba
import numpy as np
from numba import prange

from .._numba import njit
from ..errors import UsageError
from ..model import (
    ACTIVATIONS,
    ADAM,
    CONSTANT,
    CONVERGED,
    COSINE,
    DIVERGED,
    DIVERGENCE_FACTOR,
    EXPONENTIAL,
    GD,
    MAX_STEPS,
    MOMENTUM,
    OPTIMIZERS,
    RELU,
    SCHEDULES,
    SIGMOID,
    SOFTPLUS,
    STEP,
)
from . import _math

# ---------------------------------------------------------------- activations
#
# Each returns (y, dy/dz). exp, log1p and tanh are our own (bpsweep.engine._math): branch-free
# polynomials, the same bits compiled, as Python and in the CUDA kernel, and LLVM inlines and
# vectorizes them in the lane loops below. softplus and sigmoid are written around
# t = e^-|z|, which never overflows.

softplus = _math.softplus
sigmoid = _math.sigmoid
tanh = _math.tanh


@njit(forceinline=True)
def relu(z):
    positive = z > 0.0
    return (z if positive else 0.0), (1.0 if positive else 0.0)


@njit
def activate(z, act):
    """Activation and its derivative at z: returns (y, dy/dz). ``act`` is an ACTIVATIONS code.

    softplus and sigmoid are written around t = e^-|z|, which never overflows, so both stay
    finite and accurate for any finite z (|z| up to 1e300 and beyond).
    """
    if act == SOFTPLUS:
        return softplus(z)
    if act == RELU:
        return relu(z)
    if act == SIGMOID:
        return sigmoid(z)
    return tanh(z)  # TANH


# ---------------------------------------------------------------- forward and backward


def forward(x, y, p, hidden, act, predicted, act_out, act_slope):
    """Forward pass over the data; returns the SSR.

    Fills ``predicted`` (n,), and caches each hidden node's activation ``act_out`` (n, H) and
    its derivative ``act_slope`` (n, H) for the backward pass. Inputs are converted (copied
    only where needed) to writable C-contiguous float64, so the kernel compiles once.
    """
    f8 = np.float64
    x, y, p = (_kernel_array(a, f8) for a in (x, y, p))
    return _forward(x, y, p, int(hidden), int(act), predicted, act_out, act_slope)


@njit
def _forward(x, y, p, hidden, act, predicted, act_out, act_slope):
    """forward's compiled body."""
    ssr = 0.0
    for i in range(x.shape[0]):
        pred = 0.0
        for h in range(hidden):
            a, da = activate(p[2 * h] * x[i] + p[2 * h + 1], act)
            act_out[i, h] = a
            act_slope[i, h] = da
            pred += p[2 * hidden + h] * a
        pred += p[3 * hidden]
        predicted[i] = pred
        residual = y[i] - pred
        ssr += residual * residual
    return ssr


@njit
def backward(x, y, p, hidden, predicted, act_out, act_slope, slopes):
    """Slopes dSSR/dparam for every parameter, by the chain rule, into ``slopes`` (3H+1,).

    dSSR/dPredicted = -2 (observed - predicted) is computed once per data point and shared by
    every parameter, as in the lesson.
    """
    for j in range(slopes.shape[0]):
        slopes[j] = 0.0
    for i in range(x.shape[0]):
        d_pred = -2.0 * (y[i] - predicted[i])
        for h in range(hidden):
            w_out = p[2 * hidden + h]
            slopes[2 * hidden + h] += d_pred * act_out[i, h]  # d pred / d w_out = y_h
            d_z = d_pred * w_out * act_slope[i, h]  # through y_h to x_h = w*input + b
            slopes[2 * h] += d_z * x[i]
            slopes[2 * h + 1] += d_z
        slopes[3 * hidden] += d_pred


@njit
def ssr_and_slopes(x, y, p, hidden, act, act_out, act_slope, slopes):
    """forward and backward in one pass over the data; returns the SSR and fills ``slopes``.

    The training loop uses this: it does the very float operations of :func:`forward` then
    :func:`backward`, in the same order (so the same bits), but keeps the activations of one
    data point only (``act_out``, ``act_slope``: (H,)), which is about 1.7x faster.
    """
    for j in range(slopes.shape[0]):
        slopes[j] = 0.0
    ssr = 0.0
    slope_b_out = 0.0
    for i in range(x.shape[0]):
        pred = 0.0
        for h in range(hidden):
            a, da = activate(p[2 * h] * x[i] + p[2 * h + 1], act)
            act_out[h] = a
            act_slope[h] = da
            pred += p[2 * hidden + h] * a
        pred += p[3 * hidden]
        residual = y[i] - pred
        ssr += residual * residual
        d_pred = -2.0 * residual
        for h in range(hidden):
            w_out = p[2 * hidden + h]
            slopes[2 * hidden + h] += d_pred * act_out[h]
            d_z = d_pred * w_out * act_slope[h]
            slopes[2 * h] += d_z * x[i]
            slopes[2 * h + 1] += d_z
        slope_b_out += d_pred
    slopes[3 * hidden] = slope_b_out
    return ssr


# ---------------------------------------------------------------- update


@njit
def update(p, slopes, trainable, opt, hyper, lr_hidden, lr_output, t, m, v, step_sizes):
    """Apply one optimizer step to the trainable parameters of ``p`` in place.

    Writes the step sizes (the change subtracted from each parameter; 0 for frozen ones) to
    ``step_sizes``. ``opt`` is an OPTIMIZERS code; ``t`` is the 1-based step number; ``m`` and
    ``v`` hold the optimizer's state between steps. lr is ``lr_hidden`` for p[0 .. 2H-1] (the
    hidden layer) and ``lr_output`` for p[2H .. 3H] (the output layer).

    gd:       step = lr * slope
    momentum: step = momentum * previous step + lr * slope          (hyper[0] = momentum)
    adam:     step = lr * m_hat / (sqrt(v_hat) + eps)               (hyper = beta1, beta2, eps)
    """
    n_hidden_params = 2 * ((p.shape[0] - 1) // 3)
    beta1 = hyper[0]
    beta2 = hyper[1]
    c1 = c2 = 1.0
    if opt == ADAM:
        # float exponent: libm pow, as Python's float ** int does (an int exponent would make
        # numba multiply repeatedly, a different rounding)
        c1 = 1.0 - beta1 ** float(t)
        c2 = 1.0 - beta2 ** float(t)
    for j in range(p.shape[0]):
        if not trainable[j]:
            step_sizes[j] = 0.0
            continue
        lr = lr_hidden if j < n_hidden_params else lr_output
        g = slopes[j]
        if opt == GD:
            step = lr * g
        elif opt == MOMENTUM:
            step = hyper[0] * m[j] + lr * g
            m[j] = step
        else:  # ADAM
            m[j] = beta1 * m[j] + (1.0 - beta1) * g
            v[j] = beta2 * v[j] + (1.0 - beta2) * g * g
            step = lr * (m[j] / c1) / (math.sqrt(v[j] / c2) + hyper[2])
        step_sizes[j] = step
        p[j] = p[j] - step


# ---------------------------------------------------------------- learning-rate schedules
#
# Each factor is a function of k = t - 1 (a float: the updates before this step) and the
# run's two schedule parameters (sched_params, from settings.schedule_array), written once
# here and called by train_one, the lanes kernel (one loop per schedule) and the CUDA kernel
# (their py_func as device code), so every trainer multiplies the rates by the same bits.


@njit(forceinline=True)
def factor_cosine(k, steps, ratio):
    """Cosine annealing over ``steps`` (T >= 1) steps down to ``ratio`` (lr_min / lr):
    f = ratio + (1 - ratio) * cos(pi/2 * u)^2, u = min(k, T) / T. cos^2(pi u / 2) is the
    (1 + cos(pi u)) / 2 of the usual formula, without its cancellation near u = 1; the cosine
    is our own polynomial (:func:`bpsweep.engine._math.cos_half_pi`, within 1.6 ulp, branch-free
    so the lane loop vectorizes). f = 1 exactly at k = 0 and ``ratio`` exactly from k = T on."""
    u = (k if k < steps else steps) / steps
    c = _math.cos_half_pi(u)
    return ratio + (1.0 - ratio) * (c * c)


@njit(forceinline=True)
def factor_step(k, every, factor):
    """Step decay: f = factor ** n, n = floor(k / every) (every >= 1; n computed in float64,
    exact while k < 2^52). libm's pow with a float exponent, as Python's ``float ** float``
    (an integer exponent would make numba multiply repeatedly, another rounding): not
    vectorized, one call per lane and step."""
    return factor ** float(math.floor(k / every))


@njit(forceinline=True)
def factor_exponential(k, decay):
    """Exponential decay: f = exp(-(decay * k)), our own exp (vectorized in the lane loop)."""
    return _math.exp(-(decay * k))


@njit(forceinline=True)
def steps_as_float(k):
    """float(k) for an int64 k in [0, 2^63), the very value (exact below 2^53, correctly
    rounded above, as numba's float() rounds), from integer bits and exact float operations
    only: AVX2 has no vector int64 -> float64 conversion, and one in a lane loop kept it
    scalar. k = hi 2^32 + lo: each half becomes its float exactly through the bits of
    1.5 * 2^52 + half (as log1p does), and hi 2^32 + lo is rounded once."""
    hi = _math.i64_as_f64((k >> 32) + _math.SHIFT_BITS) - _math.SHIFT
    lo = _math.i64_as_f64((k & 0xFFFFFFFF) + _math.SHIFT_BITS) - _math.SHIFT
    return hi * 4294967296.0 + lo


@njit
def schedule_factor(schedule, k, a, b):
    """The factor of the learning rates at k = t - 1 (float) for a SCHEDULES code and its
    parameters (a, b) = ``sched_params``:

    constant     f = 1
    cosine       f = r + (1 - r) cos^2(pi/2 min(k, T) / T)     (a = T, b = r = min_lr_ratio)
    step         f = step_factor ** floor(k / step_every)     (a = step_every, b = step_factor)
    exponential  f = exp(-(decay * k))                        (a = decay)

    A step then uses lr_hidden * f and lr_output * f where it used the rates."""
    if schedule == COSINE:
        return factor_cosine(k, a, b)
    if schedule == STEP:
        return factor_step(k, a, b)
    if schedule == EXPONENTIAL:
        return factor_exponential(k, a)
    return 1.0  # CONSTANT


# ---------------------------------------------------------------- per-run inputs and outcomes
#
# The kernels take the runs of a batch as one Runs and fill one Outcomes: named tuples of
# arrays, which numba passes into compiled code as they are (one compiled signature as long as
# every field keeps its dtype, layout and writability; make_runs and Outcomes.empty see to
# that). Each field is declared once, in RUN_FIELDS or OUTCOME_FIELDS; the classes, make_runs,
# Outcomes.empty and check_batch follow the tables, so a new per-run input is one line there
# (and the kernel code that reads it).


class Field(NamedTuple):
    """One per-run array of :class:`Runs` or :class:`Outcomes`."""

    name: str
    dtype: type
    shape: tuple  #: one run's entry: () one value, (3,) three, ("P",) one per parameter
    doc: str
    default: object = None  #: make_runs's value when the field is not given; None: required
    codes: dict | None = None  #: the registry whose codes the values are (make_runs checks)


#: The per-run inputs (:class:`Runs`), R runs of P = 3H + 1 parameters.
RUN_FIELDS = (
    Field("act", np.int64, (), "activation code (ACTIVATIONS)", codes=ACTIVATIONS),
    Field("opt", np.int64, (), "optimizer code (OPTIMIZERS)", codes=OPTIMIZERS),
    Field("hyper", np.float64, (3,), "momentum, or adam's beta1, beta2, eps (hyper_array)"),
    Field("lr_hidden", np.float64, (), "the hidden layer's learning rate (p[0 .. 2H-1])"),
    Field("lr_output", np.float64, (), "the output layer's learning rate (p[2H .. 3H])"),
    Field("schedule", np.int64, (), "learning-rate schedule code (SCHEDULES)", 0, SCHEDULES),
    Field("sched_params", np.float64, (2,), "its (a, b) (schedule_factor)", default=1.0),
    Field("tol", np.float64, (), "converged once every trainable |step size| < tol"),
    Field("max_steps", np.int64, (), "the most updates a run takes"),
    Field("trainable", np.bool_, ("P",), "which parameters the optimizer moves", default=True),
    Field("init", np.float64, ("P",), "the start; its shape (R, P) sets R and P"),
)
#: The per-run outcomes (:class:`Outcomes`), filled by the kernels.
OUTCOME_FIELDS = (
    Field("final", np.float64, ("P",), "the parameters at the end"),
    Field("status", np.int64, (), "CONVERGED, MAX_STEPS or DIVERGED (bpsweep.model)"),
    Field("steps", np.int64, (), "the updates applied"),
    Field("initial_ssr", np.float64, (), "the SSR at the start"),
    Field("final_ssr", np.float64, (), "the SSR at the end"),
)


def _fields_doc(fields) -> str:
    """A table's fields as the lines of a docstring's literal block: name, shape, dtype,
    meaning."""
    lines = []
    for f in fields:
        shape = f"({', '.join(['R', *map(str, f.shape)])})" if f.shape else "(R,)"
        lines.append(f"        {f.name:<12} {shape:<7} {np.dtype(f.dtype).name:<8} {f.doc}")
    return "\n".join(lines)


class Runs(NamedTuple("Runs", [(f.name, np.ndarray) for f in RUN_FIELDS])):
    """The per-run inputs of a batch of R runs: one array per field of RUN_FIELDS, first axis
    the run. Build it with :func:`make_runs`, which gives each field its dtype and layout.

    Fields::
    """

    __slots__ = ()


class Outcomes(NamedTuple("Outcomes", [(f.name, np.ndarray) for f in OUTCOME_FIELDS])):
    """The per-run outcomes of a batch, filled in place by the kernels: one array per field of
    OUTCOME_FIELDS, first axis the run. Make one with :meth:`empty`.

    Fields::
    """

    __slots__ = ()

    @classmethod
    def empty(cls, n_runs: int, n_params: int) -> "Outcomes":
        """Uninitialised outcomes of ``n_runs`` runs of ``n_params`` parameters."""
        return cls(*(np.empty(_shape(f, n_runs, n_params), f.dtype) for f in OUTCOME_FIELDS))


Runs.__doc__ = f"{Runs.__doc__.rstrip()}\n\n{_fields_doc(RUN_FIELDS)}\n"
Outcomes.__doc__ = f"{Outcomes.__doc__.rstrip()}\n\n{_fields_doc(OUTCOME_FIELDS)}\n"


class Trace(NamedTuple):
    """One run's steps, recorded by :func:`train_one`: row k is the state after step k (row 0:
    the start, its slopes and step sizes NaN). S rows: max_steps + 1 to record, 0 not to."""

    params: np.ndarray  #: (S, P) the parameters
    slopes: np.ndarray  #: (S, P) the slopes step k took
    step_sizes: np.ndarray  #: (S, P) the changes step k subtracted (0 for frozen parameters)
    ssr: np.ndarray  #: (S,) the SSR

    @classmethod
    def empty(cls, rows: int, n_params: int) -> "Trace":
        """A trace of ``rows`` rows (0: train_one records nothing)."""
        return cls(*(np.empty((rows, n_params)) for _ in range(3)), np.empty(rows))


def _shape(field: Field, n_runs: int, n_params: int) -> tuple:
    """The full shape of ``field``'s array for a batch."""
    return (n_runs, *(n_params if d == "P" else d for d in field.shape))


def _kernel_array(a, dtype):
    """``a`` as a C-contiguous, writable array of ``dtype`` (a copy only where needed), so that
    every kernel compiles for one type per argument."""
    a = np.asarray(a)
    if a.dtype != dtype or not a.flags.c_contiguous or not a.flags.writeable:
        a = np.array(a, dtype=dtype, order="C")
    return a


def make_runs(**fields) -> Runs:
    """The kernels' :class:`Runs` from plain arrays, one keyword per field of RUN_FIELDS.

    ``init`` (R, P) sets the number of runs R and of parameters P = 3H + 1. Every other field
    is an array of its full shape ((R,), (R, 3) or (R, P)) or anything that broadcasts to it:
    a scalar (the same for every run), a row (3,) or (P,). A field with a default
    (``trainable``: all) may be left out. Each becomes a C-contiguous writable array of the
    field's dtype, a copy only where needed (so the kernels compile once), and code fields
    are checked against their registries.

    Raises TypeError for an unknown or missing field, ValueError for a shape that does not
    fit, UsageError (a ValueError) for an unknown code.
    """
    names = [f.name for f in RUN_FIELDS]
    unknown = sorted(set(fields) - set(names))
    missing = [f.name for f in RUN_FIELDS if f.name not in fields and f.default is None]
    if unknown or missing:
        what = f"unknown field(s) {', '.join(unknown)}" if unknown else ""
        what += "; " if unknown and missing else ""
        what += f"missing field(s) {', '.join(missing)}" if missing else ""
        raise TypeError(f"make_runs: {what}; the fields are {', '.join(names)}")
    init = np.asarray(fields["init"])
    if init.ndim != 2 or init.shape[1] < 4 or (init.shape[1] - 1) % 3:
        raise ValueError(f"make_runs: init must be (R, 3H + 1) with H >= 1, got {init.shape}")
    n_runs, n_params = init.shape
    arrays = {}
    for f in RUN_FIELDS:
        a = np.asarray(fields.get(f.name, f.default))
        shape = _shape(f, n_runs, n_params)
        if a.shape != shape:
            try:
                a = np.broadcast_to(a, shape)  # read-only: _kernel_array copies it
            except ValueError:
                raise ValueError(
                    f"make_runs: {f.name} has shape {a.shape}; {n_runs} runs of {n_params} "
                    f"parameters need {shape} or a shape that broadcasts to it"
                ) from None
        a = _kernel_array(a, f.dtype)
        if f.codes is not None:
            bad = a[(a < 0) | (a >= len(f.codes))]
            if bad.size:
                raise UsageError(
                    f"{f.name}: unknown code {bad[0]}; expected 0..{len(f.codes) - 1} "
                    f"({', '.join(f.codes)})"
                )
        arrays[f.name] = a
    return Runs(**arrays)


def check_batch(runs, out, hidden: int) -> tuple[int, int]:
    """(R, P) of a batch, once ``runs`` is a :class:`Runs` and ``out`` an :class:`Outcomes`
    whose fields have their dtypes, are C-contiguous and writable (so that the kernels compile
    once; make_runs's and Outcomes.empty's always are) and have the shapes of R runs of the P
    = 3H + 1 parameters of ``hidden`` nodes (the kernels do not check bounds). TypeError for a
    wrong type, dtype or layout, UsageError (a ValueError) for a wrong shape."""
    records = ((runs, Runs, RUN_FIELDS), (out, Outcomes, OUTCOME_FIELDS))
    for record, cls, fields in records:
        if not isinstance(record, cls):
            raise TypeError(f"expected a {cls.__name__}, got {type(record).__name__}")
        for f, a in zip(fields, record):
            if not (
                isinstance(a, np.ndarray)
                and a.dtype == f.dtype
                and a.flags.c_contiguous
                and a.flags.writeable
            ):
                raise TypeError(
                    f"{cls.__name__}.{f.name} must be a writable C-contiguous "
                    f"{np.dtype(f.dtype).name} array (make_runs, Outcomes.empty)"
                )
    if runs.init.ndim != 2 or runs.init.shape[1] != 3 * hidden + 1:
        raise UsageError(
            f"init has shape {runs.init.shape}; hidden={hidden} needs (R, {3 * hidden + 1})"
        )
    n_runs, n_params = runs.init.shape
    for record, cls, fields in records:
        for f, a in zip(fields, record):
            if a.shape != _shape(f, n_runs, n_params):
                raise UsageError(
                    f"{cls.__name__}.{f.name} has shape {a.shape}; {n_runs} runs of "
                    f"{n_params} parameters need {_shape(f, n_runs, n_params)}"
                )
    return n_runs, n_params


# ---------------------------------------------------------------- one run

#: A lane's or a run's status while it is still training (model's statuses are >= 0).
_RUNNING = -1


@njit
def train_one(x, y, hidden, runs, r, out, trace, stop):
    """Train run ``r`` of ``runs`` (a :class:`Runs`) from its start; write its outcome to row
    ``r`` of ``out`` (an :class:`Outcomes`). ``stop`` (int64 (1,)): when another thread sets
    ``stop[0]``, the run returns within STOP_CHECK steps, its outcome not written (see
    :func:`run_interruptibly`).

    The lessons' stopping rule: a step takes the slopes, computes the step sizes and
    applies them; the run has converged when every trainable step size is below ``tol`` in
    absolute value (``steps`` counts that last update), and has diverged as soon as, after an
    update, the SSR or a parameter is not finite or the SSR exceeds 1e8 times the initial SSR.
    Step t uses the rates times the schedule's factor at k = t - 1 (:func:`schedule_factor`;
    times 1.0 for a constant schedule, which changes no bit).

    ``trace`` (a :class:`Trace`) records every step when it has max_steps + 1 rows, nothing
    when it has 0 (``Trace.empty(0, P)``).
    """
    n_p = runs.init.shape[1]
    act = runs.act[r]
    opt = runs.opt[r]
    hyper = runs.hyper[r]
    lr_hidden = runs.lr_hidden[r]
    lr_output = runs.lr_output[r]
    schedule = runs.schedule[r]
    sched_a = runs.sched_params[r, 0]
    sched_b = runs.sched_params[r, 1]
    tol = runs.tol[r]
    max_steps = runs.max_steps[r]
    trainable = runs.trainable[r]
    p = runs.init[r].copy()
    act_out = np.empty(hidden)
    act_slope = np.empty(hidden)
    slopes = np.empty(n_p)
    step_sizes = np.empty(n_p)
    m = np.zeros(n_p)
    v = np.zeros(n_p)
    record = trace.ssr.shape[0] > 0

    # Each pass gives the SSR at the current parameters and the slopes for the next step.
    ssr = ssr_and_slopes(x, y, p, hidden, act, act_out, act_slope, slopes)
    initial_ssr = ssr
    limit = DIVERGENCE_FACTOR * initial_ssr
    if record:
        for j in range(n_p):
            trace.params[0, j] = p[j]
            trace.slopes[0, j] = np.nan
            trace.step_sizes[0, j] = np.nan
        trace.ssr[0] = ssr

    status = _RUNNING
    steps = 0
    while status == _RUNNING:
        if steps % STOP_CHECK == 0 and stop[0] != 0:
            return
        steps += 1
        f = schedule_factor(schedule, float(steps - 1), sched_a, sched_b)  # constant: 1.0
        rate_h = lr_hidden * f
        rate_o = lr_output * f
        update(p, slopes, trainable, opt, hyper, rate_h, rate_o, steps, m, v, step_sizes)
        if record:
            for j in range(n_p):
                trace.params[steps, j] = p[j]
                trace.slopes[steps, j] = slopes[j]
                trace.step_sizes[steps, j] = step_sizes[j]
        ssr = ssr_and_slopes(x, y, p, hidden, act, act_out, act_slope, slopes)
        if record:
            trace.ssr[steps] = ssr

        finite = math.isfinite(ssr) and ssr <= limit
        small = True
        for j in range(n_p):
            if not math.isfinite(p[j]):
                finite = False
            if trainable[j] and not abs(step_sizes[j]) < tol:
                small = False
        if not finite:
            status = DIVERGED
        elif small:
            status = CONVERGED
        elif steps >= max_steps:
            status = MAX_STEPS

    for j in range(n_p):
        out.final[r, j] = p[j]
    out.status[r] = status
    out.steps[r] = steps
    out.initial_ssr[r] = initial_ssr
    out.final_ssr[r] = ssr


# ---------------------------------------------------------------- lanes: many runs at once
#
# See the module docstring for the layout. Each helper below does, lane by lane, exactly the
# float operations of the single-run function it mirrors (named in its docstring).

#: Runs trained in lockstep by one thread. A runtime argument of the kernels, not a
#: compile-time constant: numba leaves LLVM's SLP vectorizer off, and a loop over lanes with a
#: small constant trip count is unrolled into scalar code before the loop vectorizer sees it;
#: with a runtime trip count every lane loop is vectorized (AVX-512 or AVX2, with runtime alias
#: checks), and the checks and loop set-up cost less per run the more lanes share them. Chosen
#: by measurement (``bpsweep bench --lanes L``): on the 2-core Zen 5 VM, H = 2 softplus gd,
#: 1 thread, against the previous two-runs-in-lockstep kernel, fixed steps (early stopping):
#: 8 lanes 0.90x (0.86x), 16 1.26x (1.23x), 32 1.59x (1.61x), 64 1.94x (1.80x), 128 2.13x
#: (1.93x), 256 2.15x (1.89x). 8 lanes as a compile-time constant, the textbook choice for
#: AVX2, gave scalar code (0.4-0.8x).
LANES = 128
#: Most runs per work item of train_batch's parallel loop (fewer when a batch is small, so that
#: every thread gets several items).
GROUP = 4096


@njit
def _lanes_activations(x, hidden, act, lanes, p, act_y, act_dy):
    """Every hidden node's activation and slope at every data point, in every lane (the
    activate calls of ssr_and_slopes): one vectorized loop over lanes per node and point."""
    n = x.shape[0]
    for h in range(hidden):
        w = 2 * h * lanes
        b = (2 * h + 1) * lanes
        for i in range(n):
            xi = x[i]
            k = (h * n + i) * lanes
            if act == SOFTPLUS:
                for lane in range(lanes):
                    act_y[k + lane], act_dy[k + lane] = softplus(p[w + lane] * xi + p[b + lane])
            elif act == RELU:
                for lane in range(lanes):
                    act_y[k + lane], act_dy[k + lane] = relu(p[w + lane] * xi + p[b + lane])
            elif act == SIGMOID:
                for lane in range(lanes):
                    act_y[k + lane], act_dy[k + lane] = sigmoid(p[w + lane] * xi + p[b + lane])
            else:  # TANH
                for lane in range(lanes):
                    act_y[k + lane], act_dy[k + lane] = tanh(p[w + lane] * xi + p[b + lane])


@njit
def _lanes_ssr_and_slopes(x, y, hidden, act, lanes, p, g, ssr, act_y, act_dy, pred, d_pred):
    """ssr_and_slopes in every lane: the SSR into ``ssr`` (lanes,), the slopes into ``g``.

    Loops are fused where the float operations allow: ``0.0 + w * a`` is what ``pred = 0.0;
    pred += w * a`` computes, and the residual is taken in the loop of the last node."""
    n = x.shape[0]
    n_p = 3 * hidden + 1
    _lanes_activations(x, hidden, act, lanes, p, act_y, act_dy)
    for k in range(n_p * lanes):
        g[k] = 0.0
    for lane in range(lanes):
        ssr[lane] = 0.0
    b_out = 3 * hidden * lanes
    last = hidden - 1
    for i in range(n):
        xi = x[i]
        yi = y[i]
        for h in range(hidden):
            w_out = (2 * hidden + h) * lanes
            k = (h * n + i) * lanes
            if h < last:
                if h == 0:
                    for lane in range(lanes):
                        pred[lane] = 0.0 + p[w_out + lane] * act_y[k + lane]
                else:
                    for lane in range(lanes):
                        pred[lane] += p[w_out + lane] * act_y[k + lane]
            else:  # the last node: the prediction is complete, take the residual
                for lane in range(lanes):
                    term = p[w_out + lane] * act_y[k + lane]
                    predicted = (0.0 + term if h == 0 else pred[lane] + term) + p[b_out + lane]
                    residual = yi - predicted
                    ssr[lane] += residual * residual
                    d_pred[lane] = -2.0 * residual
                    g[b_out + lane] += d_pred[lane]
        for h in range(hidden):
            w_out = (2 * hidden + h) * lanes
            w = 2 * h * lanes
            b = (2 * h + 1) * lanes
            k = (h * n + i) * lanes
            for lane in range(lanes):
                g[w_out + lane] += d_pred[lane] * act_y[k + lane]
                d_z = d_pred[lane] * p[w_out + lane] * act_dy[k + lane]
                g[w + lane] += d_z * xi
                g[b + lane] += d_z


@njit
def _lanes_update(hidden, opt, lanes, p, g, s, m, v, trainable, rate, hyper, tol, t, c, flags):
    """update in every lane at each lane's step t (already counted), fused with the
    per-parameter half of train_one's stopping checks.

    ``rate`` (P * lanes): each parameter's learning rate (its layer's); ``hyper`` (3 * lanes):
    momentum or beta1, beta2, eps per lane; ``c`` (2 * lanes): scratch for adam's bias
    corrections. Sets ``flags[lane]`` (2 * lanes) = every parameter finite, and
    ``flags[lanes + lane]`` = every trainable |step size| < tol.
    """
    n_p = 3 * hidden + 1
    if opt == ADAM:
        for lane in range(lanes):  # libm pow, as in update (not vectorized: adam only)
            c[lane] = 1.0 - hyper[lane] ** float(t[lane])
            c[lanes + lane] = 1.0 - hyper[lanes + lane] ** float(t[lane])
    for lane in range(lanes):
        flags[lane] = 1
        flags[lanes + lane] = 1
    for j in range(n_p):
        k = j * lanes
        if opt == GD:
            for lane in range(lanes):
                step = rate[k + lane] * g[k + lane]
                step = step if trainable[k + lane] else 0.0
                s[k + lane] = step
        elif opt == MOMENTUM:
            for lane in range(lanes):
                step = hyper[lane] * m[k + lane] + rate[k + lane] * g[k + lane]
                step = step if trainable[k + lane] else 0.0
                m[k + lane] = step
                s[k + lane] = step
        else:  # ADAM
            for lane in range(lanes):
                beta1 = hyper[lane]
                beta2 = hyper[lanes + lane]
                gk = g[k + lane]
                mk = beta1 * m[k + lane] + (1.0 - beta1) * gk
                vk = beta2 * v[k + lane] + (1.0 - beta2) * gk * gk
                m[k + lane] = mk
                v[k + lane] = vk
                step = (
                    rate[k + lane]
                    * (mk / c[lane])
                    / (math.sqrt(vk / c[lanes + lane]) + hyper[2 * lanes + lane])
                )
                step = step if trainable[k + lane] else 0.0
                s[k + lane] = step
        for lane in range(lanes):
            step = s[k + lane]
            new = p[k + lane] - step
            p[k + lane] = new
            small = (abs(step) < tol[lane]) | (not trainable[k + lane])
            flags[lane] &= 1 if math.isfinite(new) else 0
            flags[lanes + lane] &= 1 if small else 0


@njit
def _lanes_schedule(schedule, n_p, lanes, t, sch, rate, rate_t, factor):
    """The rates of every lane's step t (already counted) under a schedule other than
    constant: ``factor`` (lanes,) = schedule_factor at k = t - 1, ``rate_t`` = ``rate`` *
    factor (P * lanes), as train_one multiplies them. One loop per schedule: cosine's and
    exponential's vectorize (our polynomials, and k converted by steps_as_float), step's calls
    libm pow lane by lane."""
    if schedule == COSINE:
        for lane in range(lanes):
            k = steps_as_float(t[lane] - 1)
            factor[lane] = factor_cosine(k, sch[lane], sch[lanes + lane])
    elif schedule == STEP:
        for lane in range(lanes):
            k = steps_as_float(t[lane] - 1)
            factor[lane] = factor_step(k, sch[lane], sch[lanes + lane])
    else:  # EXPONENTIAL
        for lane in range(lanes):
            k = steps_as_float(t[lane] - 1)
            factor[lane] = factor_exponential(k, sch[lane])
    for j in range(n_p):
        k = j * lanes
        for lane in range(lanes):
            rate_t[k + lane] = rate[k + lane] * factor[lane]


@njit
def _lanes_status(lanes, ssr, limit, t, max_steps, flags, status):
    """train_one's stopping checks in every lane, from ``flags`` (see _lanes_update) and the
    SSR after the step: ``status`` (lanes,) gets the status or _RUNNING. Returns how many
    lanes stopped."""
    stopped = 0
    for lane in range(lanes):
        finite = math.isfinite(ssr[lane]) & (ssr[lane] <= limit[lane]) & (flags[lane] != 0)
        code = MAX_STEPS if t[lane] >= max_steps[lane] else _RUNNING
        code = CONVERGED if flags[lanes + lane] != 0 else code
        code = code if finite else DIVERGED
        status[lane] = code
        stopped += 1 if code != _RUNNING else 0
    return stopped


class _Lanes(NamedTuple):
    """What the lanes of one work item hold of their runs: all of it but the SSR moves with a
    run when the lanes are drained (layout: the module docstring; L lanes, P parameters).

    A field read in a loop can cost numba a reference count increment and decrement (atomic
    operations) per read, where its pruning of them fails (a field passed to a call, a helper
    that calls one): _lanes_range takes the stepping loop's arrays out once and computes a
    starting run's initial SSR itself, so that the helpers below compile without any (as
    their LLVM IR showed with numba 0.68). Those counts had made a batch of 5-step runs about
    20% slower (docs/bench/compare_named_inputs.py measures such a batch)."""

    p: np.ndarray  #: (P * L) parameters
    g: np.ndarray  #: (P * L) slopes at p
    m: np.ndarray  #: (P * L) momentum's last step, adam's first moment
    v: np.ndarray  #: (P * L) adam's second moment
    rate: np.ndarray  #: (P * L) each parameter's learning rate (its layer's)
    tr: np.ndarray  #: (P * L) trainable
    hyp: np.ndarray  #: (3 * L) the hyper-parameters, row by row
    sch: np.ndarray  #: (2 * L) the schedule's parameters (sched_params), row by row
    tol: np.ndarray  #: (L,)
    limit: np.ndarray  #: (L,) the SSR beyond which the run has diverged
    max_steps: np.ndarray  #: (L,)
    t: np.ndarray  #: (L,) steps taken
    run: np.ndarray  #: (L,) the run in the lane, -1 for none
    code: np.ndarray  #: (L,) its status after the last step, _RUNNING while it goes on
    ssr: np.ndarray  #: (L,) the SSR at p
    keep: np.ndarray  #: (L,) _drain's scratch: the lanes kept


@njit
def _new_lanes(n_p, lanes):
    """``lanes`` empty lanes (no run, status CONVERGED: the first refill fills each)."""
    size = n_p * lanes
    return _Lanes(
        np.zeros(size),
        np.zeros(size),
        np.zeros(size),
        np.zeros(size),
        np.zeros(size),
        np.ones(size, np.bool_),
        np.ones(3 * lanes),
        np.ones(2 * lanes),
        np.zeros(lanes),
        np.full(lanes, np.inf),
        np.full(lanes, np.iinfo(np.int64).max),
        np.zeros(lanes, np.int64),
        np.full(lanes, -1, np.int64),
        np.full(lanes, CONVERGED, np.int64),
        np.zeros(lanes),
        np.empty(lanes, np.int64),
    )


@njit
def _finish_run(st, n_p, lanes, lane, out):
    """Write the outcome of the run that stopped in ``lane`` (its status in st.code)."""
    r = st.run[lane]
    for j in range(n_p):
        out.final[r, j] = st.p[j * lanes + lane]
    out.status[r] = st.code[lane]
    out.steps[r] = st.t[lane]
    out.final_ssr[r] = st.ssr[lane]


@njit
def _start_run(st, n_p, lanes, lane, runs, r, ssr0, g0):
    """Start run r in ``lane``, from its start with its initial SSR ``ssr0`` and slopes ``g0``
    (P,): its rates, mask and settings, its optimizer state zero."""
    n_hidden_params = 2 * ((n_p - 1) // 3)
    for j in range(n_p):
        k = j * lanes + lane
        st.p[k] = runs.init[r, j]
        st.g[k] = g0[j]
        st.m[k] = 0.0
        st.v[k] = 0.0
        st.tr[k] = runs.trainable[r, j]
        st.rate[k] = runs.lr_hidden[r] if j < n_hidden_params else runs.lr_output[r]
    for q in range(3):
        st.hyp[q * lanes + lane] = runs.hyper[r, q]
    for q in range(2):
        st.sch[q * lanes + lane] = runs.sched_params[r, q]
    st.tol[lane] = runs.tol[r]
    st.limit[lane] = DIVERGENCE_FACTOR * ssr0
    st.max_steps[lane] = runs.max_steps[r]
    st.t[lane] = 0
    st.run[lane] = r
    st.code[lane] = _RUNNING


@njit
def _idle_lane(st, n_p, lanes, lane):
    """Idle ``lane`` (no run left to start): learning rate 0, every parameter trainable, so
    its step sizes stay 0 and it never stops (its schedule factor stays finite)."""
    for j in range(n_p):
        k = j * lanes + lane
        st.p[k] = 0.0
        st.g[k] = 0.0
        st.m[k] = 0.0
        st.v[k] = 0.0
        st.tr[k] = True
        st.rate[k] = 0.0
    st.hyp[lane] = 0.0
    st.hyp[lanes + lane] = 0.0
    st.hyp[2 * lanes + lane] = 1.0
    st.sch[lane] = 1.0  # a factor of 1 (0 for exponential), finite whatever the schedule
    st.sch[lanes + lane] = 1.0
    st.tol[lane] = 0.0
    st.limit[lane] = np.inf
    st.max_steps[lane] = np.iinfo(np.int64).max
    st.t[lane] = 0
    st.run[lane] = -1
    st.code[lane] = _RUNNING


@njit
def _drain(st, n_p, lanes, active):
    """Move the ``active`` running lanes of ``lanes`` to the front, in the layout of
    ``active`` lanes (the caller then steps only those). In place: each value moves to a lower
    (or the same) index, after it has been read."""
    q = 0
    for lane in range(lanes):
        if st.run[lane] >= 0:
            st.keep[q] = lane
            q += 1
    for j in range(n_p):
        for q in range(active):
            src = j * lanes + st.keep[q]
            dst = j * active + q
            st.p[dst] = st.p[src]
            st.g[dst] = st.g[src]
            st.m[dst] = st.m[src]
            st.v[dst] = st.v[src]
            st.rate[dst] = st.rate[src]
            st.tr[dst] = st.tr[src]
    for row in range(3):  # row by row, as the parameters above
        for q in range(active):
            st.hyp[row * active + q] = st.hyp[row * lanes + st.keep[q]]
    for row in range(2):
        for q in range(active):
            st.sch[row * active + q] = st.sch[row * lanes + st.keep[q]]
    for q in range(active):
        src = st.keep[q]
        st.tol[q] = st.tol[src]
        st.limit[q] = st.limit[src]
        st.max_steps[q] = st.max_steps[src]
        st.t[q] = st.t[src]
        st.run[q] = st.run[src]
        st.code[q] = st.code[src]


@njit
def _lanes_range(x, y, hidden, runs, order, first, last, lanes, out, stop):
    """train_batch's work for runs order[first:last], which share the activation, the
    optimizer and the schedule: ``lanes`` runs in lockstep, a stopped run's lane refilled at
    once with the next run, the lanes drained once half of them idle with no run left to
    start. Returns early, within STOP_CHECK steps, once ``stop[0]`` is set."""
    act = runs.act[order[first]]
    opt = runs.opt[order[first]]
    schedule = runs.schedule[order[first]]
    n = x.shape[0]
    n_p = 3 * hidden + 1
    st = _new_lanes(n_p, lanes)
    # the arrays of the loops below, taken out of st once (see _Lanes)
    p, g, m, v, tr, rate, hyp, sch = st.p, st.g, st.m, st.v, st.tr, st.rate, st.hyp, st.sch
    tol, limit, max_steps, t = st.tol, st.limit, st.max_steps, st.t
    run, code, ssr = st.run, st.code, st.ssr
    # a step's scratch: step sizes, activations, adam's corrections, predictions, checks
    s = np.zeros(n_p * lanes)
    act_y = np.empty(hidden * n * lanes)
    act_dy = np.empty(hidden * n * lanes)
    c = np.ones(2 * lanes)
    pred = np.empty(lanes)
    d_pred = np.empty(lanes)
    flags = np.empty(2 * lanes, np.int64)
    # the rates a step uses: a schedule's, recomputed every step; constant: the rates
    rate_t = rate if schedule == CONSTANT else np.empty(n_p * lanes)
    factor = np.empty(lanes)
    # a starting run's start, slopes and activations
    p0 = np.empty(n_p)
    g0 = np.empty(n_p)
    a0 = np.empty(hidden)
    da0 = np.empty(hidden)

    next_run = first
    active = 0
    while True:
        # write the stopped runs' outcomes, refill their lanes
        for lane in range(lanes):
            if code[lane] == _RUNNING:
                continue
            if run[lane] >= 0:
                _finish_run(st, n_p, lanes, lane, out)
                active -= 1
            if next_run < last:
                r = order[next_run]
                next_run += 1
                # the initial SSR and slopes, as train_one takes them, from a copy of the
                # start: a view of runs.init would cost numba an atomic reference count per run
                # start on an array that every thread shares
                for j in range(n_p):
                    p0[j] = runs.init[r, j]
                ssr0 = ssr_and_slopes(x, y, p0, hidden, act, a0, da0, g0)
                out.initial_ssr[r] = ssr0
                _start_run(st, n_p, lanes, lane, runs, r, ssr0, g0)
                active += 1
            else:
                _idle_lane(st, n_p, lanes, lane)
        if active == 0:
            return
        if next_run >= last and 2 * active <= lanes:
            _drain(st, n_p, lanes, active)
            lanes = active
        # step every lane until a run stops
        stepped = 0
        while True:
            if stepped % STOP_CHECK == 0 and stop[0] != 0:
                return
            stepped += 1
            for lane in range(lanes):
                t[lane] += 1
            if schedule != CONSTANT:
                _lanes_schedule(schedule, n_p, lanes, t, sch, rate, rate_t, factor)
            _lanes_update(hidden, opt, lanes, p, g, s, m, v, tr, rate_t, hyp, tol, t, c, flags)
            _lanes_ssr_and_slopes(x, y, hidden, act, lanes, p, g, ssr, act_y, act_dy, pred, d_pred)
            if _lanes_status(lanes, ssr, limit, t, max_steps, flags, code) > 0:
                break


def _work_items(act, opt, lanes, schedule=None):
    """Run order and work items for train_batch: runs sorted (stably) by schedule, activation
    and optimizer, cut into items of at most GROUP runs that share all three (and at least
    ``lanes``, at most an eighth of the runs per thread). Returns (order (R,), items (k, 2) of
    [first, last) into order). ``schedule`` None: every run's is constant."""
    n_runs = act.shape[0]
    per_item = -(-n_runs // (8 * numba.get_num_threads()))
    group = max(lanes, min(GROUP, per_item))
    kind = act * 8 + opt
    if schedule is not None:
        kind = kind + 64 * schedule  # act < 8, opt < 8: constant runs keep their kind
    if n_runs == 0 or (kind == kind[0]).all():
        order = np.arange(n_runs, dtype=np.int64)
        bounds = [0, n_runs]
    else:
        order = np.argsort(kind, kind="stable").astype(np.int64)
        ordered = kind[order]
        cuts = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
        bounds = [0, *cuts.tolist(), n_runs]
    items = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        for first in range(lo, hi, group):
            items.append((first, min(hi, first + group)))
    items = np.array(items, dtype=np.int64).reshape(-1, 2)
    # numba splits a prange into one contiguous block per thread (measured with numba 0.68's
    # omp and workqueue layers: numba.parallel_chunksize changes nothing), so a batch whose
    # long runs come first (a map's rows of small rates) left one thread idle: 3.1 s instead
    # of 1.7 s for a 512 x 512 lr map. Dealing the items out like cards (item i to thread
    # i mod T) gives every thread a share of each part of the batch; which thread trains a
    # run never changes its bits.
    threads = numba.get_num_threads()
    dealt = np.argsort(np.arange(len(items)) % threads, kind="stable")
    return order, items[dealt]


def train_batch(x, y, hidden, runs, out, *, lanes=LANES):
    """Train many runs on one data set and hidden size, in compiled code, spread over threads.

    ``runs``: a :class:`Runs` (R runs of P = 3H + 1 parameters, from :func:`make_runs`);
    ``out``: an :class:`Outcomes` filled in place, in the runs' order (``Outcomes.empty(R,
    P)``); x, y (n,): the data, converted (copied only where needed) to C-contiguous writable
    float64 so the kernel compiles once. Each run gives the bits :func:`train_one` gives.

    Work items of up to GROUP runs of one activation, optimizer and schedule are dealt out to
    numba's threads like cards (item i to thread i mod T), so that each thread gets a share of every
    part of the batch, long runs and short; each item trains ``lanes`` runs at a time.
    """
    hidden = int(hidden)
    check_batch(runs, out, hidden)
    lanes = int(lanes)
    if lanes < 1:
        raise ValueError(f"lanes must be >= 1, got {lanes}")
    order, items = _work_items(runs.act, runs.opt, lanes, runs.schedule)
    f8 = np.float64
    x, y = _kernel_array(x, f8), _kernel_array(y, f8)
    run_interruptibly(_train_batch, x, y, hidden, runs, order, items, lanes, out)


@njit(parallel=True)
def _train_batch(x, y, hidden, runs, order, items, lanes, out, stop):
    """train_batch's compiled body: one prange iteration per work item.

    The body only calls _lanes_range: numba's parfor loses stores made in the prange body
    itself through a named tuple's array (``out.status[r] = ...``; numba issues #7135,
    #10338), not those made in a function it calls."""
    for item in prange(items.shape[0]):
        _lanes_range(x, y, hidden, runs, order, items[item, 0], items[item, 1], lanes, out, stop)


# ---------------------------------------------------------------- Ctrl-C
#
# Compiled code holds the main thread until it returns, and Python runs a signal handler
# (Ctrl-C's KeyboardInterrupt) only between bytecodes, so a long kernel could not be stopped
# but by kill -9. So the kernels run in a helper thread (they release the GIL), the main thread
# waits for them in short, interruptible waits, and on Ctrl-C it sets a flag the kernels read
# every STOP_CHECK steps: they return, their half-done outcomes unused, and the interrupt goes
# on up (a sweep keeps its finished parts).

#: Steps between two looks at the stop flag: a few microseconds of work, so Ctrl-C stops any
#: run within a fraction of a second, and a read of one shared integer costs nothing measurable.
STOP_CHECK = 256


def run_interruptibly(kernel, *args):
    """``kernel(*args, stop)`` in a helper thread, with numba's thread count of this one
    (numba's is per thread); an exception in it (a KeyboardInterrupt here) sets ``stop[0]``,
    waits for the kernel to return, and is raised again."""
    stop = np.zeros(1, dtype=np.int64)
    threads = numba.get_num_threads()
    failure = []

    def target():
        try:
            numba.set_num_threads(threads)
            kernel(*args, stop)
        except BaseException as exc:  # handed to the waiting thread
            failure.append(exc)

    helper = threading.Thread(target=target, name="bpsweep-kernel", daemon=True)
    helper.start()
    try:
        while helper.is_alive():
            helper.join(0.05)  # a wait that a signal interrupts
    except BaseException:
        stop[0] = 1
        helper.join()
        raise
    if failure:
        raise failure[0]
