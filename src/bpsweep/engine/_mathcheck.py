"""How accurate and how fast :mod:`bpsweep.engine._math`'s functions are: the harness behind its
error
table, ``docs/math.md`` and ``bpsweep bench --json``.

- :func:`accuracy`: the largest error in ulp over many arguments (:func:`sample`), against
  correctly rounded values (:func:`reference`: numpy's 80-bit longdouble where it is extended
  precision, itself checked against mpmath in the tests);
- :func:`measure`: nanoseconds per call of ours and of libm's, in vectorizable loops as the
  training kernels call them, and the errors on a fixed sample.
"""

from __future__ import annotations

import math

import numpy as np

from .._numba import njit
from ._math import FUNCTIONS, exp, expm1, log1p, sigmoid, softplus, tanh

# ---------------------------------------------------------------- loops over arrays


@njit
def apply(code, x, value, slope):
    """value[i], slope[i] = function ``FUNCTIONS[code]`` at x[i] (slope 0 for exp, expm1 and
    log1p). One loop per function, so that each one vectorizes."""
    n = x.shape[0]
    if code == 0:
        for i in range(n):
            value[i] = exp(x[i])
    elif code == 1:
        for i in range(n):
            value[i] = expm1(x[i])
    elif code == 2:
        for i in range(n):
            value[i] = log1p(x[i])
    elif code == 3:
        for i in range(n):
            value[i], slope[i] = softplus(x[i])
    elif code == 4:
        for i in range(n):
            value[i], slope[i] = sigmoid(x[i])
    else:
        for i in range(n):
            value[i], slope[i] = tanh(x[i])


@njit
def _time_ours(code, x, value, slope, reps):
    """``reps`` times apply(code, ...) over the same lanes (the timing loop of measure)."""
    acc = 0.0
    for _ in range(reps):
        apply(code, x, value, slope)
        acc += value[0]
    return acc


@njit
def _time_libm(code, x, value, slope, reps):
    """The same loops with the libm functions today's kernels call (math.exp, ...)."""
    acc = 0.0
    n = x.shape[0]
    for _ in range(reps):
        if code == 0:
            for i in range(n):
                value[i] = math.exp(x[i])
        elif code == 1:
            for i in range(n):
                value[i] = math.expm1(x[i])
        elif code == 2:
            for i in range(n):
                value[i] = math.log1p(x[i])
        elif code == 3:
            for i in range(n):
                t = math.exp(-abs(x[i]))
                z = x[i]
                if z > 0.0:
                    value[i] = z + math.log1p(t)
                    slope[i] = 1.0 / (1.0 + t)
                else:
                    value[i] = math.log1p(t)
                    slope[i] = t / (1.0 + t)
        elif code == 4:
            for i in range(n):
                t = math.exp(-abs(x[i]))
                s = 1.0 / (1.0 + t) if x[i] >= 0.0 else t / (1.0 + t)
                value[i] = s
                slope[i] = s * (1.0 - s)
        else:
            for i in range(n):
                y = math.tanh(x[i])
                value[i] = y
                slope[i] = 1.0 - y * y
        acc += value[0]
    return acc


# ---------------------------------------------------------------- reference and measure


def longdouble_is_extended() -> bool:
    """True where numpy's longdouble has at least 64 mantissa bits (x86's 80-bit format, or
    quad precision): good enough to score float64 results to ~1/1000 ulp."""

    return np.finfo(np.longdouble).nmant >= 63


def reference(name, x):
    """``name``'s value (and slope, for the activations; else None) at float64 array ``x``,
    in numpy longdouble, from formulas that are well conditioned in that precision."""

    xl = np.asarray(x, dtype=np.float64).astype(np.longdouble)
    one = np.longdouble(1)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if name == "exp":
            return np.exp(xl), None
        if name == "expm1":
            return np.expm1(xl), None
        if name == "log1p":
            return np.log1p(xl), None
        if name in ("softplus", "sigmoid"):
            t = np.exp(-np.abs(xl))
            sig = np.where(xl >= 0, one / (one + t), t / (one + t))
            slope = t / ((one + t) * (one + t))  # sigmoid'(z) = t / (1 + t)^2
            if name == "sigmoid":
                return sig, slope
            return np.maximum(xl, 0) + np.log1p(t), sig
        if name == "tanh":
            t = np.exp(-2 * np.abs(xl))
            y = np.tanh(xl)
            return y, 4 * t / ((one + t) * (one + t))  # 1 - tanh^2 = 1 / cosh^2
    raise ValueError(f"unknown function {name!r}; expected one of {FUNCTIONS}")


def ulp_error(got, ref):
    """|got - ref| in units in the last place of the float64 nearest ``ref`` (longdouble),
    elementwise. An infinite ``got`` scores 0 where ``ref`` rounds to that infinity and is
    taken as +-2^1024 otherwise; NaN scores 0 where ``ref`` is NaN, inf elsewhere."""

    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.longdouble)
    big = np.ldexp(np.longdouble(1), 1024)
    overflow = np.ldexp(np.longdouble(1), 1024) - np.ldexp(np.longdouble(1), 970)
    with np.errstate(over="ignore", invalid="ignore"):
        _, e = np.frexp(np.abs(ref).clip(max=big))
        ulp = np.ldexp(np.longdouble(1), np.maximum(e.astype(np.int64) - 53, -1074))
        g = np.where(np.isinf(got), np.sign(got) * big, got.astype(np.longdouble))
        err = np.abs(g - ref) / ulp
        rounds_to_inf = np.abs(ref) >= overflow
        err = np.where(rounds_to_inf, np.where(got == np.sign(ref) * np.inf, 0, np.inf), err)
        nan = np.isnan(ref) | np.isnan(got)
        err = np.where(nan, np.where(np.isnan(ref) & np.isnan(got), 0, np.inf), err)
    return err.astype(np.float64)


def sample(name, n=1 << 16, seed=12345):
    """A fixed sample of float64 arguments spread over ``name``'s range, tails included."""

    rng = np.random.default_rng(seed)
    q = n // 4

    def signed_log(lo, hi, m):
        return rng.choice([-1.0, 1.0], m) * 10.0 ** rng.uniform(lo, hi, m)

    if name == "exp":
        parts = (rng.uniform(-746, 710, q), rng.uniform(-1, 1, q), signed_log(-30, 0, q))
        parts += (rng.uniform(-745.2, -708.3, n - 3 * q),)
    elif name == "expm1":
        parts = (rng.uniform(-50, 0, q), signed_log(-30, 0, q), rng.uniform(-746, 710, q))
        parts += (rng.uniform(0.3, 1.1, n - 3 * q),)
    elif name == "log1p":
        parts = (rng.uniform(0, 1, q), rng.uniform(-1, 1, q), 10.0 ** rng.uniform(-300, 308, q))
        parts += (-1.0 + 10.0 ** rng.uniform(-16, 0, n - 3 * q),)
    else:
        parts = (signed_log(-20, 3, n // 2), rng.uniform(-40, 40, n - n // 2))
    return np.concatenate(parts)


def accuracy(name, points, chunk=1 << 21):
    """Max errors of ``name`` over ``points`` arguments from :func:`sample` (in chunks of
    ``chunk``, seeded by their start, so the same ``points`` give the same arguments):
    (max ulp error of the value, the argument where it occurs, the slope's max error: in ulp
    for softplus, absolute for sigmoid and tanh, None for the others). Needs a longdouble
    wider than float64 (:func:`longdouble_is_extended`)."""

    code = FUNCTIONS.index(name)
    worst, worst_x, worst_slope = 0.0, math.nan, None
    for start in range(0, points, chunk):
        x = sample(name, min(chunk, points - start), seed=start)
        value = np.empty_like(x)
        slope = np.zeros_like(x)
        apply(code, x, value, slope)
        ref_value, ref_slope = reference(name, x)
        err = ulp_error(value, ref_value)
        i = int(np.argmax(err))
        if err[i] > worst:
            worst, worst_x = float(err[i]), float(x[i])
        if name == "softplus":
            e = float(ulp_error(slope, ref_slope).max())
        elif ref_slope is not None:
            e = float(np.abs(slope - ref_slope.astype(np.float64)).max())
        else:
            continue
        worst_slope = e if worst_slope is None else max(worst_slope, e)
    return worst, worst_x, worst_slope


#: Arguments of the timing loops: where the training kernels call each function.
TIMING_RANGE = {"exp": (-20.0, 0.0), "expm1": (-20.0, 0.0), "log1p": (0.0, 1.0)}


def measure(lanes=64, calls=1 << 20, points=1 << 16, repeat=3):
    """Speed and accuracy of each function, for ``bpsweep bench --json``.

    Returns {name: {"ns_per_call", "ns_per_call_range", "libm_ns_per_call", "max_ulp",
    "max_ulp_slope", "max_abs_error_slope", "points"}}:

    - ns per call in a compiled loop over ``lanes`` arguments (uniform over TIMING_RANGE,
      [-10, 10] for the activations), ``calls`` calls, best of ``repeat`` and the range;
      ``libm_ns_per_call``: the same loop with math.exp, math.log1p, ... as today's kernels
      use them (best of ``repeat``);
    - the max ulp error of the value on :func:`sample` of ``points`` arguments against
      :func:`reference`; of the slope for softplus (a / (1 + t), well conditioned); the max
      absolute error of the slope for sigmoid and tanh, whose slope formulas s (1 - s) and
      1 - y^2 (as the kernels define them) cancel where the slope is near 0. None where
      numpy's longdouble is no wider than float64.

    Takes about half a second once compiled (the first call compiles the loops, cached on
    disk like the kernels).
    """
    import time

    results = {}
    reps = max(1, calls // lanes)
    for code, name in enumerate(FUNCTIONS):
        lo, hi = TIMING_RANGE.get(name, (-10.0, 10.0))
        x = np.random.default_rng(7).uniform(lo, hi, lanes)
        value = np.empty(lanes)
        slope = np.zeros(lanes)
        timings = {}
        for label, loop in (("ours", _time_ours), ("libm", _time_libm)):
            loop(code, x, value, slope, 1)
            runs = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                loop(code, x, value, slope, reps)
                runs.append((time.perf_counter() - t0) / (reps * lanes) * 1e9)
            timings[label] = runs
        entry = {
            "ns_per_call": round(min(timings["ours"]), 3),
            "ns_per_call_range": [round(min(timings["ours"]), 3), round(max(timings["ours"]), 3)],
            "libm_ns_per_call": round(min(timings["libm"]), 3),
            "max_ulp": None,
            "max_ulp_slope": None,
            "max_abs_error_slope": None,
            "points": points,
        }
        if longdouble_is_extended():
            worst, _, worst_slope = accuracy(name, points)
            entry["max_ulp"] = round(worst, 4)
            if name == "softplus":
                entry["max_ulp_slope"] = round(worst_slope, 4)
            elif worst_slope is not None:
                entry["max_abs_error_slope"] = float(f"{worst_slope:.3g}")
        results[name] = entry
    return results
