"""Compiled kernels against the naive twins in tests/naive.py and finite differences."""

import math
import warnings

import numpy as np
import pytest

import naive
from bpsweep.engine import kernels
from bpsweep.model import ACTIVATIONS, OPTIMIZERS, STATUSES

DOSAGE = (np.array([0.0, 0.5, 1.0]), np.array([0.0, 1.0, 0.0]))


def _buffers(n, hidden):
    return np.empty(n), np.empty((n, hidden)), np.empty((n, hidden)), np.empty(3 * hidden + 1)


def _random_point(rng, hidden, act, x):
    """Parameters drawn N(0, 1.5^2), kept away from relu's kink, where slopes jump."""
    while True:
        p = rng.normal(0.0, 1.5, 3 * hidden + 1)
        z = np.outer(x, p[0 : 2 * hidden : 2]) + p[1 : 2 * hidden : 2]
        if act != ACTIVATIONS["relu"] or np.abs(z).min() > 1e-3:
            return p


@pytest.mark.parametrize("act", list(ACTIVATIONS.values()), ids=list(ACTIVATIONS))
def test_activation_matches_textbook_formula(act):
    z = np.linspace(-30, 30, 601)
    for zi in z:
        if act == ACTIVATIONS["relu"] and zi == 0:
            continue
        got = kernels.activate(zi, act)
        want = naive.textbook_activation(zi, act)
        assert got[0] == pytest.approx(want[0], rel=1e-13, abs=1e-300)
        # tanh's slope 1 - y^2 near |y| = 1 inherits y's rounding (<= 1 ulp) as an absolute
        # error of about 2 ulp(1); elsewhere slopes agree to 1e-12
        slope_abs = 4.5e-16 if act == ACTIVATIONS["tanh"] else 1e-300
        assert got[1] == pytest.approx(want[1], rel=1e-12, abs=slope_abs)


@pytest.mark.parametrize(
    "act", [ACTIVATIONS["softplus"], ACTIVATIONS["sigmoid"]], ids=["softplus", "sigmoid"]
)
def test_softplus_and_sigmoid_finite_and_accurate_for_huge_inputs(act):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for z in (1e300, -1e300, 1e10, -1e10, 710.0, -745.5, 800.0, -800.0):
            y, dy = kernels.activate(z, act)
            assert math.isfinite(y) and math.isfinite(dy)
            if act == ACTIVATIONS["softplus"]:
                # softplus(z) = z + log1p(e^-z) for z > 0 and e^z (to double precision) below
                assert y == (z if z > 0 else 0.0) or y == pytest.approx(math.exp(z), rel=1e-15)
                assert dy == (1.0 if z > 0 else 0.0) or dy == pytest.approx(math.exp(z), rel=1e-12)
            else:
                assert y == (1.0 if z > 0 else 0.0) or y == pytest.approx(math.exp(z), rel=1e-12)
        # the python twin of the compiled function agrees too (no overflow there either)
        assert kernels.activate.py_func(1e300, act)[0] == kernels.activate(1e300, act)[0]


@pytest.mark.parametrize("hidden", [1, 2, 5])
@pytest.mark.parametrize("act", list(ACTIVATIONS.values()), ids=list(ACTIVATIONS))
def test_slopes_match_central_finite_differences(hidden, act):
    rng = np.random.default_rng(100 * hidden + act)
    x = np.array([-1.0, 0.0, 0.3, 0.5, 1.0, 2.0])
    y = rng.normal(size=x.size)
    pred, a, da, g = _buffers(x.size, hidden)
    for _ in range(25):
        p = _random_point(rng, hidden, act, x)
        kernels.forward(x, y, p, hidden, act, pred, a, da)
        kernels.backward(x, y, p, hidden, pred, a, da, g)
        for j in range(p.size):
            h = 1e-6 * max(1.0, abs(p[j]))
            up, down = p.copy(), p.copy()
            up[j] += h
            down[j] -= h
            fd = (
                kernels.forward(x, y, up, hidden, act, pred, a, da)
                - kernels.forward(x, y, down, hidden, act, pred, a, da)
            ) / (2 * h)
            assert g[j] == pytest.approx(fd, rel=1e-5, abs=1e-5), (j, p)


@pytest.mark.parametrize("hidden", [1, 2, 5])
@pytest.mark.parametrize("act", list(ACTIVATIONS.values()), ids=list(ACTIVATIONS))
def test_forward_backward_and_fused_pass_match_naive(hidden, act):
    """Same float operations in the same order: equal bit for bit, at any point."""
    rng = np.random.default_rng(7 + hidden)
    x = rng.normal(size=4)
    y = rng.normal(size=4)
    pred, a, da, g = _buffers(x.size, hidden)
    fused = np.empty(3 * hidden + 1)
    for _ in range(20):
        p = rng.normal(0.0, 2.0, 3 * hidden + 1)
        ssr = kernels.forward(x, y, p, hidden, act, pred, a, da)
        kernels.backward(x, y, p, hidden, pred, a, da, g)
        fused_ssr = kernels.ssr_and_slopes(
            x, y, p, hidden, act, np.empty(hidden), np.empty(hidden), fused
        )
        twin = kernels.activate.py_func
        assert ssr == naive.ssr(x, y, p, hidden, act, twin) == fused_ssr
        assert pred.tolist() == naive.predict(x, p, hidden, act, twin)
        assert g.tolist() == naive.slopes(x, y, p, hidden, act, twin) == fused.tolist()
        # and close to the textbook formulas (away from their overflow range)
        assert ssr == pytest.approx(naive.ssr(x, y, p, hidden, act), rel=1e-12)


def _train_one(x, y, hidden, start, *, trace_rows=0, **fields):
    """kernels.train_one on a batch of one run (make_runs's ``fields``, one value each, from
    ``start``): (status code, steps, initial SSR, final SSR, final parameters, its Trace)."""
    runs = kernels.make_runs(init=np.array(start, dtype=float)[None, :], **fields)
    out = kernels.Outcomes.empty(1, runs.init.shape[1])
    trace = kernels.Trace.empty(trace_rows, runs.init.shape[1])
    kernels.train_one(x, y, hidden, runs, 0, out, trace, np.zeros(1, dtype=np.int64))
    return out.status[0], out.steps[0], out.initial_ssr[0], out.final_ssr[0], out.final[0], trace


def _kernel_run(x, y, p, hidden, act, opt, lr, tol, max_steps, trainable, hyper=(0.9, 0.999, 1e-8)):
    status, steps, ssr0, ssr, p, trace = _train_one(
        x,
        y,
        hidden,
        p,
        trace_rows=max_steps + 1,
        act=act,
        opt=opt,
        hyper=hyper,
        lr_hidden=lr,
        lr_output=lr,
        tol=tol,
        max_steps=max_steps,
        trainable=trainable,
    )
    return STATUSES[status], steps, ssr0, ssr, p, trace[:3], trace.ssr


CASES = [
    # (hidden, act, opt, lr, tol, max_steps, trainable pattern)
    (2, "softplus", "gd", 0.1, 1e-3, 1000, "all"),  # lesson 003
    (2, "softplus", "gd", 0.1, 1e-3, 50, "b3"),  # lesson 000 shape
    (2, "softplus", "gd", 0.5, 1e-3, 200, "all"),  # diverges
    (1, "tanh", "gd", 0.05, 1e-4, 300, "all"),
    (3, "sigmoid", "momentum", 0.02, 1e-4, 300, "all"),
    (2, "relu", "adam", 0.01, 1e-4, 300, "outputs"),
    (5, "softplus", "adam", 0.05, 1e-3, 200, "all"),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[1]}-{c[2]}-lr{c[3]}-{c[6]}" for c in CASES])
def test_train_one_matches_naive_step_by_step(case):
    """The naive loop with the kernel's own activation does the same float operations in the
    same order, so even chaotic runs (lr >= 0.1) agree bit for bit at every step."""
    hidden, act_name, opt_name, lr, tol, max_steps, pattern = case
    act, opt = ACTIVATIONS[act_name], OPTIMIZERS[opt_name]
    names = naive.param_names(hidden)
    if pattern == "all":
        trainable = [True] * len(names)
    elif pattern == "b3":
        trainable = [n == f"b{hidden + 1}" for n in names]
    else:  # output layer only
        trainable = [j >= 2 * hidden for j in range(len(names))]
    x, y = DOSAGE
    start = naive.draw(hidden, "normal", 1.0, "zeros", seed=hidden * 10 + act)
    want = naive.train(
        x.tolist(),
        y.tolist(),
        start,
        hidden,
        act,
        opt,
        lr=lr,
        tol=tol,
        max_steps=max_steps,
        trainable=trainable,
        activation=kernels.activate.py_func,
    )
    status, steps, ssr0, ssr, p, (tp, tg, ts), t_ssr = _kernel_run(
        x, y, start, hidden, act, opt, lr, tol, max_steps, trainable
    )
    assert (status, steps) == (want["status"], want["steps"])
    assert ssr0 == want["initial_ssr"] and (ssr == want["ssr"] or math.isnan(ssr))
    assert np.array_equal(p, want["params"], equal_nan=True)
    for k, (hp, hg, hs, hssr) in enumerate(want["history"], start=1):
        assert np.array_equal(tp[k], hp, equal_nan=True)
        assert np.array_equal(tg[k], hg, equal_nan=True)
        assert np.array_equal(ts[k], hs, equal_nan=True)
        assert t_ssr[k] == hssr or (math.isnan(t_ssr[k]) and math.isnan(hssr))


def test_train_one_matches_textbook_math_on_well_conditioned_run():
    """Against the textbook formulas (different float operations), only a well-conditioned
    run can be compared: lr = 0.01 from lesson 003's start, 300 fixed steps."""
    x, y = DOSAGE
    start = [2.74, 0.0, -1.13, 0.0, 0.36, 0.63, 0.0]
    want = naive.train(x.tolist(), y.tolist(), start, 2, lr=0.01, tol=1e-12, max_steps=300)
    status, steps, _, ssr, p, *_ = _kernel_run(x, y, start, 2, 0, 0, 0.01, 1e-12, 300, [True] * 7)
    assert (status, steps) == (want["status"], want["steps"]) == ("max_steps", 300)
    np.testing.assert_allclose(p, want["params"], rtol=1e-10)
    assert ssr == pytest.approx(want["ssr"], rel=1e-10)


def test_update_touches_only_trainable_parameters():
    p = np.arange(7, dtype=float)
    slopes = np.full(7, 2.0)
    mask = np.array([False, True, False, False, False, False, True])
    sizes = np.empty(7)
    kernels.update(p, slopes, mask, 0, np.zeros(3), 0.5, 0.25, 1, np.zeros(7), np.zeros(7), sizes)
    assert p.tolist() == [0, 0, 2, 3, 4, 5, 5.5]  # b1 at the hidden rate, b3 at the output's
    assert sizes.tolist() == [0, 1, 0, 0, 0, 0, 0.5]


def test_train_batch_equals_train_one_per_run():
    x, y = DOSAGE
    rng = np.random.default_rng(3)
    n = 40
    init = np.zeros((n, 7))
    init[:, [0, 2, 4, 5]] = rng.normal(size=(n, 4))
    lr = np.geomspace(0.01, 1.0, n)
    runs = kernels.make_runs(
        act=0, opt=0, hyper=np.zeros(3), lr_hidden=lr, lr_output=lr, tol=1e-3, max_steps=400,
        init=init,
    )  # fmt: skip
    out = kernels.Outcomes.empty(n, 7)
    kernels.train_batch(x, y, 2, runs, out)
    final, status, steps, ssr0, ssr = out
    for r in range(n):
        s, k, a, b, p, *_ = _kernel_run(x, y, init[r], 2, 0, 0, lr[r], 1e-3, 400, [True] * 7)
        assert (STATUSES[status[r]], steps[r]) == (s, k)
        assert np.array_equal(final[r], p, equal_nan=True)
        assert ssr0[r] == a and (ssr[r] == b or math.isnan(b))


@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
def test_per_layer_rates_match_naive_twin(opt_name):
    """lr_hidden moves w1, b1, w2, b2; lr_output moves w3, w4, b3: the kernel against the
    plain-Python twin, bit for bit with the kernel's own activation (a chaotic rate pair
    included), and to 1e-9 with the textbook formulas on a well-conditioned run."""
    opt = OPTIMIZERS[opt_name]
    x, y = DOSAGE
    start = [2.74, 0.0, -1.13, 0.0, 0.36, 0.63, 0.0]
    hyper = (0.5, 0.0, 0.0) if opt_name == "momentum" else (0.9, 0.999, 1e-8)
    for lr_h, lr_o, activation, steps in (
        (0.3, 0.05, kernels.activate.py_func, 400),
        (0.002, 0.02, naive.textbook_activation, 300),
    ):
        want = naive.train(
            x.tolist(),
            y.tolist(),
            start,
            2,
            0,
            opt,
            hyper=hyper,
            lr_hidden=lr_h,
            lr_output=lr_o,
            tol=1e-12,
            max_steps=steps,
            activation=activation,
        )
        status, k, _, ssr, p, _ = _train_one(
            x, y, 2, start, act=0, opt=opt, hyper=hyper, lr_hidden=lr_h, lr_output=lr_o,
            tol=1e-12, max_steps=steps,
        )  # fmt: skip
        assert (STATUSES[status], k) == (want["status"], want["steps"])
        if activation is naive.textbook_activation:
            np.testing.assert_allclose(p, want["params"], rtol=1e-9)
            assert ssr == pytest.approx(want["ssr"], rel=1e-9)
        else:
            assert p.tolist() == want["params"] and ssr == want["ssr"]
    # the two rates really act on their own layers: swapping them changes the run
    swapped = naive.train(
        x.tolist(), y.tolist(), start, 2, 0, opt, hyper=hyper, lr_hidden=0.02, lr_output=0.002,
        tol=1e-12, max_steps=300,
    )  # fmt: skip
    assert swapped["params"] != want["params"]


def test_per_layer_rate_of_a_frozen_layer_changes_nothing():
    """Only the output layer trainable: lr_hidden has no effect, lr_output is the rate."""
    x, y = DOSAGE
    start = np.array([3.34, -1.43, -3.53, 0.57, -1.22, -2.3, 0.0])
    mask = np.array([False] * 4 + [True] * 3)
    outs = []
    for lr_h in (0.001, 0.7):
        *outcome, p, _ = _train_one(
            x, y, 2, start, act=0, opt=0, hyper=np.zeros(3), lr_hidden=lr_h, lr_output=0.1,
            tol=1e-3, max_steps=1000, trainable=mask,
        )  # fmt: skip
        outs.append(tuple(outcome) + tuple(p))
    assert outs[0] == outs[1]
    assert outs[0][4:8] == tuple(start[:4])


def test_train_takes_per_layer_rates_defaulting_to_lr():
    """bpsweep.train(lr_hidden=, lr_output=): each defaults to lr; the run is train_one's."""
    import bpsweep

    x, y = DOSAGE
    start = np.array([2.74, 0.0, -1.13, 0.0, 0.36, 0.63, 0.0])
    for lr_h, lr_o, kwargs in (
        (0.1, 0.1, {}),
        (0.05, 0.1, {"lr_hidden": 0.05}),
        (0.1, 0.02, {"lr_output": 0.02}),
    ):
        r = bpsweep.train(init="statquest-start", lr=0.1, **kwargs)
        status, steps, _, ssr, p, _ = _train_one(
            x, y, 2, start, act=0, opt=0, hyper=np.zeros(3), lr_hidden=lr_h, lr_output=lr_o,
            tol=1e-3, max_steps=1000,
        )  # fmt: skip
        assert (r.status, r.steps, r.final_ssr) == (STATUSES[status], steps, ssr)
        assert list(r.final_params.values()) == p.tolist()
    with pytest.raises(bpsweep.errors.UsageError, match="lr_output"):
        bpsweep.train(lr_output=0.0)


def test_forward_accepts_read_only_and_other_dtype_inputs():
    """plots hand forward read-only DataFrame rows: same result (and, by the session's
    signature guard, no second compiled signature)."""
    x, y = DOSAGE
    p = np.array([2.74, 0.0, -1.13, 0.0, 0.36, 0.63, 0.0])
    pred, a, da, _ = _buffers(3, 2)
    want = kernels.forward(x, y, p, 2, 0, pred, a, da)
    ro = p.copy()
    ro.flags.writeable = False
    assert kernels.forward(x.astype(np.float32), y.astype(int), ro, 2, 0, pred, a, da) == want
