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

import numba
import numpy as np
from numba import prange

from ._numba import njit
from .model import CONVERGED, DIVERGED, DIVERGENCE_FACTOR, MAX_STEPS

# ---------------------------------------------------------------- activations


@njit(inline="always")
def softplus(z):
    """softplus(z) = log(1 + e^z) and its slope sigmoid(z), around t = e^-|z| (never overflows)."""
    t = math.exp(-abs(z))
    if z > 0.0:
        return z + math.log1p(t), 1.0 / (1.0 + t)
    return math.log1p(t), t / (1.0 + t)


@njit(inline="always")
def relu(z):
    if z > 0.0:
        return z, 1.0
    return 0.0, 0.0


@njit(inline="always")
def sigmoid(z):
    t = math.exp(-abs(z))
    s = 1.0 / (1.0 + t) if z >= 0.0 else t / (1.0 + t)
    return s, s * (1.0 - s)


@njit(inline="always")
def tanh(z):
    y = math.tanh(z)
    return y, 1.0 - y * y


@njit
def activate(z, act):
    """Activation and its derivative at z: returns (y, dy/dz). ``act`` is an ACTIVATIONS code.

    softplus and sigmoid are written around t = e^-|z|, which never overflows, so both stay
    finite and accurate for any finite z (|z| up to 1e300 and beyond).
    """
    if act == 0:
        return softplus(z)
    if act == 1:
        return relu(z)
    if act == 2:
        return sigmoid(z)
    return tanh(z)


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
def train_one(
    x,
    y,
    hidden,
    act,
    opt,
    hyper,
    lr,
    tol,
    max_steps,
    trainable,
    p,
    trace_params,
    trace_slopes,
    trace_steps,
    trace_ssr,
):
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


GROUP = 16  # runs per work item of train_batch's prange (load balance between threads)

# ---------------------------------------------------------------- H = 2 fast path
#
# The lessons' network (H = 2) is what sweeps train most, so train_batch sends it here. The float
# operations of each run are exactly those of train_one (update, then ssr_and_slopes, then the
# stopping checks, in the same order), so the bits are the same; tests/test_kernels_batch.py
# checks that. What differs is only how the work is laid out for the CPU:
#
# - a run's parameters, slopes and optimizer state live in local variables (7-tuples), not in
#   small arrays, so they stay in registers;
# - two runs are trained in lockstep per thread: a step of one run is a long chain of dependent
#   exp/log1p calls, and interleaving two independent runs lets the core overlap them;
# - the two runs share one loop over the data, and for softplus the four exp calls of a data
#   point (2 runs x 2 nodes) are issued before its four log1p calls, so up to four independent
#   libm calls are in flight (written softplus by softplus, each log1p waits for its exp);
# - the common case, softplus and gd in both lanes, runs a copy of the lockstep loop compiled
#   with literal activation/optimizer codes, without the other activations' and optimizers' code;
# - a lone run (the last of a group) steps alone: activations in a first pass over the data,
#   then the SSR and slopes in a second pass;
# - a finished run's lane is refilled with the next run at once, so runs that stop early free
#   their share of the core.

_RUNNING = -1


@njit(inline="always")
def _activate_pass(x, w, b, act, buf, col):
    """buf[i, col], buf[i, col + 1] = activation and slope at w * x[i] + b, for every i."""
    if act == 0:
        for i in range(x.shape[0]):
            buf[i, col], buf[i, col + 1] = softplus(w * x[i] + b)
    elif act == 1:
        for i in range(x.shape[0]):
            buf[i, col], buf[i, col + 1] = relu(w * x[i] + b)
    elif act == 2:
        for i in range(x.shape[0]):
            buf[i, col], buf[i, col + 1] = sigmoid(w * x[i] + b)
    else:
        for i in range(x.shape[0]):
            buf[i, col], buf[i, col + 1] = tanh(w * x[i] + b)


@njit(inline="always")
def _h2_ssr_and_slopes(x, y, act, p, buf):
    """ssr_and_slopes for H = 2 with p = (w1, b1, w2, b2, w3, w4, b3): returns (SSR, slopes).

    ``buf`` (n, 4) is scratch space for the activations and their slopes.
    """
    w1, b1, w2, b2, w3, w4, b3 = p
    _activate_pass(x, w1, b1, act, buf, 0)
    _activate_pass(x, w2, b2, act, buf, 2)
    g_w1 = g_b1 = g_w2 = g_b2 = g_w3 = g_w4 = g_b3 = 0.0
    ssr = 0.0
    for i in range(x.shape[0]):
        a1, d1, a2, d2 = buf[i, 0], buf[i, 1], buf[i, 2], buf[i, 3]
        pred = 0.0
        pred += w3 * a1
        pred += w4 * a2
        pred += b3
        residual = y[i] - pred
        ssr += residual * residual
        d_pred = -2.0 * residual
        g_w3 += d_pred * a1
        d_z = d_pred * w3 * d1
        g_w1 += d_z * x[i]
        g_b1 += d_z
        g_w4 += d_pred * a2
        d_z = d_pred * w4 * d2
        g_w2 += d_z * x[i]
        g_b2 += d_z
        g_b3 += d_pred
    return ssr, (g_w1, g_b1, g_w2, g_b2, g_w3, g_w4, g_b3)


@njit(inline="always")
def _update_param(p, g, trainable, opt, hyper, lr, c1, c2, m, v):
    """update for one parameter: returns (new p, step size, m, v)."""
    if not trainable:
        return p, 0.0, m, v
    if opt == 0:
        step = lr * g
    elif opt == 1:
        step = hyper[0] * m + lr * g
        m = step
    else:
        beta1 = hyper[0]
        beta2 = hyper[1]
        m = beta1 * m + (1.0 - beta1) * g
        v = beta2 * v + (1.0 - beta2) * g * g
        step = lr * (m / c1) / (math.sqrt(v / c2) + hyper[2])
    return p - step, step, m, v


@njit(inline="always")
def _h2_update(t, opt, hyper, lr, tr, p, g, m, v):
    """update for one H = 2 run at step t (1-based). Returns (p, step sizes, m, v): 7-tuples."""
    c1 = c2 = 1.0
    if opt == 2:
        c1 = 1.0 - hyper[0] ** float(t)  # libm pow, as in update
        c2 = 1.0 - hyper[1] ** float(t)
    p0, s0, m0, v0 = _update_param(p[0], g[0], tr[0], opt, hyper, lr, c1, c2, m[0], v[0])
    p1, s1, m1, v1 = _update_param(p[1], g[1], tr[1], opt, hyper, lr, c1, c2, m[1], v[1])
    p2, s2, m2, v2 = _update_param(p[2], g[2], tr[2], opt, hyper, lr, c1, c2, m[2], v[2])
    p3, s3, m3, v3 = _update_param(p[3], g[3], tr[3], opt, hyper, lr, c1, c2, m[3], v[3])
    p4, s4, m4, v4 = _update_param(p[4], g[4], tr[4], opt, hyper, lr, c1, c2, m[4], v[4])
    p5, s5, m5, v5 = _update_param(p[5], g[5], tr[5], opt, hyper, lr, c1, c2, m[5], v[5])
    p6, s6, m6, v6 = _update_param(p[6], g[6], tr[6], opt, hyper, lr, c1, c2, m[6], v[6])
    return (
        (p0, p1, p2, p3, p4, p5, p6),
        (s0, s1, s2, s3, s4, s5, s6),
        (m0, m1, m2, m3, m4, m5, m6),
        (v0, v1, v2, v3, v4, v5, v6),
    )


@njit(inline="always")
def _h2_status(t, ssr, limit, max_steps, tol, tr, p, s):
    """train_one's stopping checks after step t: the status (or _RUNNING)."""
    finite = (
        math.isfinite(ssr)
        and ssr <= limit
        and math.isfinite(p[0])
        and math.isfinite(p[1])
        and math.isfinite(p[2])
        and math.isfinite(p[3])
        and math.isfinite(p[4])
        and math.isfinite(p[5])
        and math.isfinite(p[6])
    )
    if not finite:
        return DIVERGED
    small = (
        (abs(s[0]) < tol or not tr[0])
        and (abs(s[1]) < tol or not tr[1])
        and (abs(s[2]) < tol or not tr[2])
        and (abs(s[3]) < tol or not tr[3])
        and (abs(s[4]) < tol or not tr[4])
        and (abs(s[5]) < tol or not tr[5])
        and (abs(s[6]) < tol or not tr[6])
    )
    if small:
        return CONVERGED
    if t >= max_steps:
        return MAX_STEPS
    return _RUNNING


@njit(inline="always")
def _h2_step(x, y, buf, t, act, opt, hyper, lr, tol, limit, max_steps, tr, p, g, m, v):
    """Step t (1-based) of one H = 2 run, as in train_one. State p, g (slopes), m, v: 7-tuples.

    Returns (status or _RUNNING, SSR, p, g, m, v).
    """
    p, s, m, v = _h2_update(t, opt, hyper, lr, tr, p, g, m, v)
    ssr, g = _h2_ssr_and_slopes(x, y, act, p, buf)
    return _h2_status(t, ssr, limit, max_steps, tol, tr, p, s), ssr, p, g, m, v


@njit(inline="always")
def _softplus_from(z, t, log1p_t):
    """softplus(z) given t = exp(-|z|) and log1p(t): the float operations of softplus."""
    if z > 0.0:
        return z + log1p_t, 1.0 / (1.0 + t)
    return log1p_t, t / (1.0 + t)


@njit(inline="always")
def _softplus4(z1, z2, z3, z4):
    """softplus of four independent inputs, with the operations of :func:`softplus`.

    The four exp calls come first, then the four log1p calls: written softplus by softplus,
    each log1p would wait for the exp just before it, and the core could overlap little.
    """
    t1 = math.exp(-abs(z1))
    t2 = math.exp(-abs(z2))
    t3 = math.exp(-abs(z3))
    t4 = math.exp(-abs(z4))
    l1 = math.log1p(t1)
    l2 = math.log1p(t2)
    l3 = math.log1p(t3)
    l4 = math.log1p(t4)
    return (
        _softplus_from(z1, t1, l1),
        _softplus_from(z2, t2, l2),
        _softplus_from(z3, t3, l3),
        _softplus_from(z4, t4, l4),
    )


@njit(inline="always")
def _h2_point(xi, yi, p, g, ssr, a1, d1, a2, d2):
    """One data point's share of ssr_and_slopes for an H = 2 run, given the activations
    (a1, a2) and their slopes (d1, d2) of its two hidden nodes: returns (ssr, g) updated."""
    w1, b1, w2, b2, w3, w4, b3 = p
    g_w1, g_b1, g_w2, g_b2, g_w3, g_w4, g_b3 = g
    pred = 0.0
    pred += w3 * a1
    pred += w4 * a2
    pred += b3
    residual = yi - pred
    ssr += residual * residual
    d_pred = -2.0 * residual
    g_w3 += d_pred * a1
    d_z = d_pred * w3 * d1
    g_w1 += d_z * xi
    g_b1 += d_z
    g_w4 += d_pred * a2
    d_z = d_pred * w4 * d2
    g_w2 += d_z * xi
    g_b2 += d_z
    g_b3 += d_pred
    return ssr, (g_w1, g_b1, g_w2, g_b2, g_w3, g_w4, g_b3)


@njit(inline="always")
def _h2_pair_step(
    x,
    y,
    ta,
    act_a,
    opt_a,
    hyper_a,
    lr_a,
    tol_a,
    limit_a,
    max_a,
    tr_a,
    pa,
    ga,
    ma,
    va,
    tb,
    act_b,
    opt_b,
    hyper_b,
    lr_b,
    tol_b,
    limit_b,
    max_b,
    tr_b,
    pb,
    gb,
    mb,
    vb,
):
    """_h2_step for two runs a and b at once: one loop over the data computes both runs'
    activations, so each data point has four independent exp/log1p chains for the core to
    overlap. Each run's own float operations and their order are those of _h2_step.
    """
    pa, sa, ma, va = _h2_update(ta, opt_a, hyper_a, lr_a, tr_a, pa, ga, ma, va)
    pb, sb, mb, vb = _h2_update(tb, opt_b, hyper_b, lr_b, tr_b, pb, gb, mb, vb)
    zeros = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    ga = gb = zeros
    ssr_a = ssr_b = 0.0
    for i in range(x.shape[0]):
        xi, yi = x[i], y[i]
        za1 = pa[0] * xi + pa[1]
        za2 = pa[2] * xi + pa[3]
        zb1 = pb[0] * xi + pb[1]
        zb2 = pb[2] * xi + pb[3]
        if act_a == 0 and act_b == 0:
            (a1, d1), (a2, d2), (b1, e1), (b2, e2) = _softplus4(za1, za2, zb1, zb2)
        else:
            a1, d1 = activate(za1, act_a)
            a2, d2 = activate(za2, act_a)
            b1, e1 = activate(zb1, act_b)
            b2, e2 = activate(zb2, act_b)
        ssr_a, ga = _h2_point(xi, yi, pa, ga, ssr_a, a1, d1, a2, d2)
        ssr_b, gb = _h2_point(xi, yi, pb, gb, ssr_b, b1, e1, b2, e2)
    st_a = _h2_status(ta, ssr_a, limit_a, max_a, tol_a, tr_a, pa, sa)
    st_b = _h2_status(tb, ssr_b, limit_b, max_b, tol_b, tr_b, pb, sb)
    return st_a, ssr_a, pa, ga, ma, va, st_b, ssr_b, pb, gb, mb, vb


@njit(inline="always")
def _h2_pair_run(
    x,
    y,
    ta,
    act_a,
    opt_a,
    hyper_a,
    lr_a,
    tol_a,
    limit_a,
    max_a,
    tr_a,
    pa,
    ga,
    ma,
    va,
    tb,
    act_b,
    opt_b,
    hyper_b,
    lr_b,
    tol_b,
    limit_b,
    max_b,
    tr_b,
    pb,
    gb,
    mb,
    vb,
):
    """Step runs a and b in lockstep from steps ta, tb until either stops.

    Returns (ta, status, SSR, p, g, m, v) of a, then the same of b.
    """
    while True:
        ta += 1
        tb += 1
        sa, ssr_a, pa, ga, ma, va, sb, ssr_b, pb, gb, mb, vb = _h2_pair_step(
            x,
            y,
            ta,
            act_a,
            opt_a,
            hyper_a,
            lr_a,
            tol_a,
            limit_a,
            max_a,
            tr_a,
            pa,
            ga,
            ma,
            va,
            tb,
            act_b,
            opt_b,
            hyper_b,
            lr_b,
            tol_b,
            limit_b,
            max_b,
            tr_b,
            pb,
            gb,
            mb,
            vb,
        )
        if sa != _RUNNING or sb != _RUNNING:
            return ta, sa, ssr_a, pa, ga, ma, va, tb, sb, ssr_b, pb, gb, mb, vb


@njit(inline="always")
def _row7(a, r):
    return (a[r, 0], a[r, 1], a[r, 2], a[r, 3], a[r, 4], a[r, 5], a[r, 6])


@njit
def _train_h2_range(
    x,
    y,
    act,
    opt,
    hyper,
    lr,
    tol,
    max_steps,
    trainable,
    init,
    first,
    last,
    final,
    status,
    steps,
    initial_ssr,
    final_ssr,
):
    """train_batch's work for runs first..last-1 of an H = 2 batch, two lanes in lockstep.

    A lane holds one run; both lanes step together until either run stops, then the stopped
    run's outcome is written and its lane takes the next run. The last run trains alone.
    """
    zeros = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    slopes = np.empty(7)
    act_out = np.empty(2)
    act_slope = np.empty(2)
    buf = np.empty((x.shape[0], 4))  # scratch of _h2_step (the lone last run)
    # lane state: run index (-1: empty), step count, divergence limit, p, g, m, v
    run = [-1, -1]
    t = [0, 0]
    limit = [0.0, 0.0]
    p = [zeros, zeros]
    g = [zeros, zeros]
    m = [zeros, zeros]
    v = [zeros, zeros]
    next_run = first
    while True:
        for k in range(2):
            if run[k] < 0 and next_run < last:  # start the next run in the empty lane
                r = next_run
                next_run += 1
                start = init[r].copy()
                ssr0 = ssr_and_slopes(x, y, start, 2, act[r], act_out, act_slope, slopes)
                initial_ssr[r] = ssr0
                run[k], t[k], limit[k] = r, 0, DIVERGENCE_FACTOR * ssr0
                p[k], g[k], m[k], v[k] = _row7(init, r), _row7_1d(slopes), zeros, zeros
        if run[0] >= 0 and run[1] >= 0:
            a, b = run[0], run[1]
            tr_a, tr_b = _row7(trainable, a), _row7(trainable, b)
            hyper_a, hyper_b = hyper[a], hyper[b]
            act_a, opt_a, lr_a, tol_a, max_a = act[a], opt[a], lr[a], tol[a], max_steps[a]
            act_b, opt_b, lr_b, tol_b, max_b = act[b], opt[b], lr[b], tol[b], max_steps[b]
            if act_a == 0 and act_b == 0 and opt_a == 0 and opt_b == 0:
                # softplus and gd, the common case: literal codes let the compiler drop the
                # other activations and optimizers from this copy of the loop
                out = _h2_pair_run(
                    x,
                    y,
                    t[0],
                    0,
                    0,
                    hyper_a,
                    lr_a,
                    tol_a,
                    limit[0],
                    max_a,
                    tr_a,
                    p[0],
                    g[0],
                    m[0],
                    v[0],
                    t[1],
                    0,
                    0,
                    hyper_b,
                    lr_b,
                    tol_b,
                    limit[1],
                    max_b,
                    tr_b,
                    p[1],
                    g[1],
                    m[1],
                    v[1],
                )
            else:
                out = _h2_pair_run(
                    x,
                    y,
                    t[0],
                    act_a,
                    opt_a,
                    hyper_a,
                    lr_a,
                    tol_a,
                    limit[0],
                    max_a,
                    tr_a,
                    p[0],
                    g[0],
                    m[0],
                    v[0],
                    t[1],
                    act_b,
                    opt_b,
                    hyper_b,
                    lr_b,
                    tol_b,
                    limit[1],
                    max_b,
                    tr_b,
                    p[1],
                    g[1],
                    m[1],
                    v[1],
                )
            ta, sa, ssr_a, pa, ga, ma, va, tb, sb, ssr_b, pb, gb, mb, vb = out
            p[0], g[0], m[0], v[0], t[0] = pa, ga, ma, va, ta
            p[1], g[1], m[1], v[1], t[1] = pb, gb, mb, vb, tb
            if sa != _RUNNING:
                _h2_finish(a, sa, ta, ssr_a, pa, final, status, steps, final_ssr)
                run[0] = -1
            if sb != _RUNNING:
                _h2_finish(b, sb, tb, ssr_b, pb, final, status, steps, final_ssr)
                run[1] = -1
        elif run[0] >= 0 or run[1] >= 0:  # one run left: train it to the end alone
            k = 0 if run[0] >= 0 else 1
            a = run[k]
            tr_a, hyper_a = _row7(trainable, a), hyper[a]
            act_a, opt_a, lr_a, tol_a, max_a = act[a], opt[a], lr[a], tol[a], max_steps[a]
            pa, ga, ma, va, ta = p[k], g[k], m[k], v[k], t[k]
            while True:
                ta += 1
                sa, ssr_a, pa, ga, ma, va = _h2_step(
                    x,
                    y,
                    buf,
                    ta,
                    act_a,
                    opt_a,
                    hyper_a,
                    lr_a,
                    tol_a,
                    limit[k],
                    max_a,
                    tr_a,
                    pa,
                    ga,
                    ma,
                    va,
                )
                if sa != _RUNNING:
                    break
            _h2_finish(a, sa, ta, ssr_a, pa, final, status, steps, final_ssr)
            run[k] = -1
        else:
            return


@njit(inline="always")
def _row7_1d(a):
    return (a[0], a[1], a[2], a[3], a[4], a[5], a[6])


@njit(inline="always")
def _h2_finish(r, s, k, ssr, p, final, status, steps, final_ssr):
    for j in range(7):
        final[r, j] = p[j]
    status[r] = s
    steps[r] = k
    final_ssr[r] = ssr


def train_batch(
    x,
    y,
    hidden,
    act,
    opt,
    hyper,
    lr,
    tol,
    max_steps,
    trainable,
    init,
    final,
    status,
    steps,
    initial_ssr,
    final_ssr,
):
    """Train many runs on one data set and hidden size, in compiled code, spread over threads.

    Per-run inputs, R runs and P = 3H + 1 parameters: act, opt (R,) int codes; hyper (R, 3);
    lr, tol (R,) float; max_steps (R,) int; trainable (R, P) bool; init (R, P) float.
    Outputs, filled in place: final (R, P), status (R,) int, steps (R,) int,
    initial_ssr and final_ssr (R,). Each run gives the bits :func:`train_one` gives.

    Runs are handed to numba's threads in groups of GROUP runs, one group at a time
    (parallel chunk size 1), so a thread whose runs stop early takes more groups and wall
    time falls with the mean step count. H = 2 goes through the fast path above.
    """
    with numba.parallel_chunksize(1):
        _train_batch(
            x,
            y,
            hidden,
            act,
            opt,
            hyper,
            lr,
            tol,
            max_steps,
            trainable,
            init,
            final,
            status,
            steps,
            initial_ssr,
            final_ssr,
        )


@njit(parallel=True)
def _train_batch(
    x,
    y,
    hidden,
    act,
    opt,
    hyper,
    lr,
    tol,
    max_steps,
    trainable,
    init,
    final,
    status,
    steps,
    initial_ssr,
    final_ssr,
):
    """train_batch's compiled body: one prange iteration per group of GROUP runs."""
    n_runs = init.shape[0]
    n_groups = (n_runs + GROUP - 1) // GROUP
    for grp in prange(n_groups):
        first = grp * GROUP
        last = min(n_runs, first + GROUP)
        if hidden == 2:
            _train_h2_range(
                x,
                y,
                act,
                opt,
                hyper,
                lr,
                tol,
                max_steps,
                trainable,
                init,
                first,
                last,
                final,
                status,
                steps,
                initial_ssr,
                final_ssr,
            )
        else:
            _train_one_range(
                x,
                y,
                hidden,
                act,
                opt,
                hyper,
                lr,
                tol,
                max_steps,
                trainable,
                init,
                first,
                last,
                final,
                status,
                steps,
                initial_ssr,
                final_ssr,
            )


@njit
def _train_one_range(
    x,
    y,
    hidden,
    act,
    opt,
    hyper,
    lr,
    tol,
    max_steps,
    trainable,
    init,
    first,
    last,
    final,
    status,
    steps,
    initial_ssr,
    final_ssr,
):
    """train_batch's work for runs first..last-1, one run at a time with train_one."""
    no_trace = np.empty((0, init.shape[1]))
    no_ssr = np.empty(0)
    for r in range(first, last):
        p = init[r].copy()
        s, k, ssr0, ssr = train_one(
            x,
            y,
            hidden,
            act[r],
            opt[r],
            hyper[r],
            lr[r],
            tol[r],
            max_steps[r],
            trainable[r],
            p,
            no_trace,
            no_trace,
            no_trace,
            no_ssr,
        )
        final[r] = p
        status[r] = s
        steps[r] = k
        initial_ssr[r] = ssr0
        final_ssr[r] = ssr
