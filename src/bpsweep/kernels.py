"""Compiled kernels: forward, backward, update, and the training loops built on them.

Everything here takes plain float64 arrays and integer codes (see :mod:`bpsweep.model` for the
registries and the parameter layout); input is validated once by the public API, never here.
The single-run trainer and the batched sweep kernel both call :func:`train_one`, so a run gives
the same bits whichever way it is trained.

Parameter vector ``p`` (length 3H + 1) for H hidden nodes::

    p[2*i]     = w_(i+1)     hidden weight of node i
    p[2*i + 1] = b_(i+1)     hidden bias of node i
    p[2*H + i] = w_(H+i+1)   output weight of node i
    p[3*H]     = b_(H+1)     output bias
"""

import math

import numpy as np
from numba import prange

from ._numba import njit
from .model import CONVERGED, DIVERGED, DIVERGENCE_FACTOR, MAX_STEPS

# ---------------------------------------------------------------- activations


@njit
def activate(z, act):
    """Activation and its derivative at z: returns (y, dy/dz). ``act`` is an ACTIVATIONS code.

    softplus and sigmoid are written around t = e^-|z|, which never overflows, so both stay
    finite and accurate for any finite z (|z| up to 1e300 and beyond).
    """
    if act == 0:  # softplus(z) = log(1 + e^z); its slope is sigmoid(z)
        t = math.exp(-abs(z))
        if z > 0.0:
            return z + math.log1p(t), 1.0 / (1.0 + t)
        return math.log1p(t), t / (1.0 + t)
    if act == 1:  # relu
        if z > 0.0:
            return z, 1.0
        return 0.0, 0.0
    if act == 2:  # sigmoid
        t = math.exp(-abs(z))
        s = 1.0 / (1.0 + t) if z >= 0.0 else t / (1.0 + t)
        return s, s * (1.0 - s)
    # tanh
    y = math.tanh(z)
    return y, 1.0 - y * y


# ---------------------------------------------------------------- forward and backward


@njit
def forward(x, y, p, hidden, act, predicted, act_out, act_slope):
    """Forward pass over the data; returns the SSR.

    Fills ``predicted`` (n,), and caches each hidden node's activation ``act_out`` (n, H) and
    its derivative ``act_slope`` (n, H) for the backward pass.
    """
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
def update(p, slopes, trainable, opt, hyper, lr, t, m, v, step_sizes):
    """Apply one optimizer step to the trainable parameters of ``p`` in place.

    Writes the step sizes (the change subtracted from each parameter; 0 for frozen ones) to
    ``step_sizes``. ``opt`` is an OPTIMIZERS code; ``t`` is the 1-based step number; ``m`` and
    ``v`` hold the optimizer's state between steps.

    gd:       step = lr * slope
    momentum: step = momentum * previous step + lr * slope          (hyper[0] = momentum)
    adam:     step = lr * m_hat / (sqrt(v_hat) + eps)               (hyper = beta1, beta2, eps)
    """
    if opt == 2:
        beta1 = hyper[0]
        beta2 = hyper[1]
        # float exponent: libm pow, as Python's float ** int does (an int exponent would make
        # numba multiply repeatedly, a different rounding)
        c1 = 1.0 - beta1 ** float(t)
        c2 = 1.0 - beta2 ** float(t)
    for j in range(p.shape[0]):
        if not trainable[j]:
            step_sizes[j] = 0.0
            continue
        g = slopes[j]
        if opt == 0:
            step = lr * g
        elif opt == 1:
            step = hyper[0] * m[j] + lr * g
            m[j] = step
        else:
            m[j] = beta1 * m[j] + (1.0 - beta1) * g
            v[j] = beta2 * v[j] + (1.0 - beta2) * g * g
            step = lr * (m[j] / c1) / (math.sqrt(v[j] / c2) + hyper[2])
        step_sizes[j] = step
        p[j] = p[j] - step


# ---------------------------------------------------------------- training loops


@njit
def train_one(x, y, hidden, act, opt, hyper, lr, tol, max_steps, trainable, p,
              trace_params, trace_slopes, trace_steps, trace_ssr):
    """Train one run from ``p`` (updated in place). Returns (status, steps, initial SSR, SSR).

    The stopping rule of statquest.md: a step takes the slopes, computes the step sizes and
    applies them; the run has converged when every trainable step size is below ``tol`` in
    absolute value (``steps`` counts that last update), and has diverged as soon as, after an
    update, the SSR or a parameter is not finite or the SSR exceeds 1e8 times the initial SSR.

    The trace arrays record row k = the state after step k (row 0: the start, slopes and step
    sizes NaN). Pass arrays with max_steps + 1 rows to record, or 0 rows to skip recording.
    """
    n_p = p.shape[0]
    act_out = np.empty(hidden)
    act_slope = np.empty(hidden)
    slopes = np.empty(n_p)
    step_sizes = np.empty(n_p)
    m = np.zeros(n_p)
    v = np.zeros(n_p)
    record = trace_ssr.shape[0] > 0

    # Each pass gives the SSR at the current parameters and the slopes for the next step.
    ssr = ssr_and_slopes(x, y, p, hidden, act, act_out, act_slope, slopes)
    initial_ssr = ssr
    limit = DIVERGENCE_FACTOR * initial_ssr
    if record:
        for j in range(n_p):
            trace_params[0, j] = p[j]
            trace_slopes[0, j] = np.nan
            trace_steps[0, j] = np.nan
        trace_ssr[0] = ssr

    steps = 0
    while True:
        steps += 1
        update(p, slopes, trainable, opt, hyper, lr, steps, m, v, step_sizes)
        if record:
            for j in range(n_p):
                trace_params[steps, j] = p[j]
                trace_slopes[steps, j] = slopes[j]
                trace_steps[steps, j] = step_sizes[j]
        ssr = ssr_and_slopes(x, y, p, hidden, act, act_out, act_slope, slopes)
        if record:
            trace_ssr[steps] = ssr

        finite = math.isfinite(ssr) and ssr <= limit
        small = True
        for j in range(n_p):
            if not math.isfinite(p[j]):
                finite = False
            if trainable[j] and not abs(step_sizes[j]) < tol:
                small = False
        if not finite:
            return DIVERGED, steps, initial_ssr, ssr
        if small:
            return CONVERGED, steps, initial_ssr, ssr
        if steps >= max_steps:
            return MAX_STEPS, steps, initial_ssr, ssr


@njit(parallel=True)
def train_batch(x, y, hidden, act, opt, hyper, lr, tol, max_steps, trainable, init,
                final, status, steps, initial_ssr, final_ssr):
    """Train many runs on one data set and hidden size, in compiled code, one run per iteration.

    Per-run inputs, R runs and P = 3H + 1 parameters: act, opt (R,) int codes; hyper (R, 3);
    lr, tol (R,) float; max_steps (R,) int; trainable (R, P) bool; init (R, P) float.
    Outputs, filled in place: final (R, P), status (R,) int, steps (R,) int,
    initial_ssr and final_ssr (R,). Runs are spread over numba's threads (``prange``).
    """
    no_trace = np.empty((0, init.shape[1]))
    no_ssr = np.empty(0)
    for r in prange(init.shape[0]):
        p = init[r].copy()
        s, k, ssr0, ssr = train_one(x, y, hidden, act[r], opt[r], hyper[r], lr[r], tol[r],
                                    max_steps[r], trainable[r], p,
                                    no_trace, no_trace, no_trace, no_ssr)
        final[r] = p
        status[r] = s
        steps[r] = k
        initial_ssr[r] = ssr0
        final_ssr[r] = ssr
