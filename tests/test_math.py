"""bpsweep.engine._math: accuracy against correctly rounded values, edge cases, the same bits
compiled,
as plain Python and under the CUDA simulator, and that loops over them vectorize."""

import math
import os
import re
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import fit_math
import naive
from bpsweep._numba import njit
from bpsweep.engine import _math as M
from bpsweep.engine import _mathcheck as C

CODES = {name: code for code, name in enumerate(M.FUNCTIONS)}
ACTIVATIONS = ("softplus", "sigmoid", "tanh")
TINY = 5e-324
BIG = 1.7976931348623157e308

#: Arguments where something changes: signed zeros, subnormals, the overflow and underflow
#: boundaries of exp, -1 for log1p, the range ends and the special values.
EDGES = [
    0.0, -0.0, TINY, -TINY, 2.2250738585072014e-308, -2.2250738585072014e-308, 1e-300, -1e-300,
    2.0**-53, -(2.0**-53), 2.0**-54, 1e-17, -1e-17, 1e-8, -1e-8, 0.5, -0.5, 1.0, -1.0,
    -1.0 + 2.0**-53, -1.0 + 2.0**-52, -1.0000000000000002, -2.0, 0.34657359027997264,
    -0.34657359027997264, 0.35, 1.0397207708399179, 37.0, 38.0, 700.0,
    709.782712893384, 709.7827128933841, 710.0, 1e10, 1e300, BIG,
    -708.3964185322641, -708.3964185322642, -709.0, -744.0, -745.1332191019411,
    -745.1332191019412, -746.0, -1e10, -1e300, -BIG,
    math.inf, -math.inf, math.nan, -math.nan,
]  # fmt: skip


def run(name, x):
    """Our compiled function over float64 array x: (value, slope)."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    value = np.empty_like(x)
    slope = np.zeros_like(x)
    C.apply(CODES[name], x, value, slope)
    return value, slope


def bits(a):
    return np.asarray(a, dtype=np.float64).view(np.int64)


def same_bits(a, b):
    """Equal bit patterns, any NaN matching any NaN (payloads are not promised)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return (bits(a) == bits(b)) | (np.isnan(a) & np.isnan(b))


def sweep_points(name, n, seed):
    """n arguments over the whole range ``name`` is used on, tails included."""
    return C.sample(name, n, seed=seed)


# ---------------------------------------------------------------- the coefficients


def test_exp_coefficients_are_the_documented_fit():
    coefs = fit_math.fit()
    assert coefs[0] == 0.5
    assert list(M.EXP_COEFFICIENTS) == coefs  # _math.py holds exactly the fit's output
    assert fit_math.fit_error(coefs, points=201) < 2.0**-60


def test_fdlibm_constants_have_their_published_bits():
    """FDLIBM's e_exp.c / e_log.c list these constants with their bit patterns."""
    published = {
        "LN2_HI": "3fe62e42fee00000", "LN2_LO": "3dea39ef35793c76",
        "INV_LN2": "3ff71547652b82fe", "LG1": "3fe5555555555593", "LG2": "3fd999999997fa04",
        "LG3": "3fd2492494229359", "LG4": "3fcc71c51d8e78af", "LG5": "3fc7466496cb03de",
        "LG6": "3fc39a09d078c69f", "LG7": "3fc2f112df3e5244",
    }  # fmt: skip
    for name, pattern in published.items():
        assert struct.pack(">d", getattr(M, name)).hex() == pattern, name
    assert struct.pack(">d", M.SHIFT).hex() == f"{M.SHIFT_BITS:016x}"


# ---------------------------------------------------------------- accuracy (vectorised sweep)

#: Max ulp error allowed for the value, per function: the analytic bound where docs/math.md
#: derives one (exp 0.83 with subnormal results, 0.66 without; expm1 0.65), else the measured
#: max over 10^7 points rounded up (log1p 0.84, softplus 1.48, sigmoid 2.40, tanh 2.33).
VALUE_BOUND = {"exp": 0.83, "expm1": 0.65, "log1p": 0.9, "softplus": 1.6, "sigmoid": 2.5,
               "tanh": 2.5}  # fmt: skip
#: softplus's slope a / (1 + t): the errors of t, of 1 + t and of the division (measured 2.40
#: over 10^7 points; today's libm formula has the same).
SOFTPLUS_SLOPE_BOUND = 2.5
#: points per function in the sweep (1.4e7 in all; docs/math.md has 10^7 for each).
SWEEP = {"exp": 5_000_000, "log1p": 5_000_000, "expm1": 1_000_000, "softplus": 1_000_000,
         "sigmoid": 1_000_000, "tanh": 1_000_000}  # fmt: skip

needs_wide_longdouble = pytest.mark.skipif(
    not C.longdouble_is_extended(),
    reason="numpy's longdouble is float64 here: no reference wider than the results",
)


@needs_wide_longdouble
@pytest.mark.parametrize("name", M.FUNCTIONS)
def test_max_ulp_error_over_the_range(name):
    worst, where, worst_slope = C.accuracy(name, SWEEP[name])
    assert worst < VALUE_BOUND[name], (name, worst, where)
    if name == "softplus":  # its slope a / (1 + t) is well conditioned
        assert worst_slope < SOFTPLUS_SLOPE_BOUND
    elif name in ACTIVATIONS:  # s (1 - s), 1 - y^2 as the kernels define them: absolute
        assert worst_slope < 1e-15


@needs_wide_longdouble
def test_the_longdouble_reference_agrees_with_mpmath():
    """The sweep's reference is within 1/256 ulp of the correctly rounded value."""
    exact = {
        "exp": naive.exp_exact,
        "expm1": naive.expm1_exact,
        "log1p": naive.log1p_exact,
        "softplus": lambda z: naive.softplus_exact(z)[0],
        "sigmoid": lambda z: naive.sigmoid_exact(z)[0],
        "tanh": lambda z: naive.tanh_exact(z)[0],
    }
    for name in M.FUNCTIONS:
        x = np.concatenate([sweep_points(name, 300, seed=99), [e for e in EDGES if abs(e) < 700]])
        ref, _ = C.reference(name, x)
        for xi, ri in zip(x, ref):
            if not np.isfinite(ri):
                continue
            want = exact[name](float(xi))
            got = naive._mp().mpf(np.format_float_scientific(ri, precision=30, unique=False))
            assert abs(got - want) <= abs(want) * 2.0**-60, (name, xi, got, want)


@pytest.mark.parametrize("name", M.FUNCTIONS)
def test_spot_checks_against_mpmath(name):
    """Without numpy's longdouble: a few thousand points and the edges, scored by mpmath."""
    exact = {
        "exp": naive.exp_exact,
        "expm1": naive.expm1_exact,
        "log1p": naive.log1p_exact,
        "softplus": naive.softplus_exact,
        "sigmoid": naive.sigmoid_exact,
        "tanh": naive.tanh_exact,
    }[name]
    x = np.concatenate([sweep_points(name, 2000, seed=3), EDGES])
    value, slope = run(name, x)
    for xi, vi, si in zip(x, value, slope):
        if math.isnan(xi) or (math.isinf(xi) and name in ACTIVATIONS):
            continue
        want = exact(float(xi))
        want_value = want[0] if name in ACTIVATIONS else want
        assert naive.ulps(vi, want_value) < VALUE_BOUND[name], (name, xi, vi)
        if name == "softplus":
            assert naive.ulps(si, want[1]) < SOFTPLUS_SLOPE_BOUND, (name, xi, si)


# ---------------------------------------------------------------- edge cases, as libm has them


def test_special_values_behave_as_libm():
    nan, inf = math.nan, math.inf
    cases = {
        "exp": [(inf, inf), (-inf, 0.0), (0.0, 1.0), (-0.0, 1.0), (709.7827128933841, inf),
                (-745.1332191019412, 0.0), (-745.1332191019411, TINY), (-1e300, 0.0),
                (1e300, inf), (BIG, inf), (-BIG, 0.0)],
        "expm1": [(inf, inf), (-inf, -1.0), (0.0, 0.0), (-0.0, -0.0), (TINY, TINY),
                  (-TINY, -TINY), (-1e300, -1.0), (1e300, inf), (709.7827128933841, inf)],
        "log1p": [(inf, inf), (-inf, nan), (-1.0, -inf), (-1.0000000000000002, nan),
                  (-2.0, nan), (0.0, 0.0), (-0.0, -0.0), (TINY, TINY), (-TINY, -TINY),
                  (BIG, math.log(BIG))],
    }  # fmt: skip
    for name, pairs in cases.items():
        x = np.array([p[0] for p in pairs])
        want = np.array([p[1] for p in pairs])
        got, _ = run(name, x)
        assert same_bits(got, want).all(), (name, x[~same_bits(got, want)], got)
    # NaN in -> NaN out, from every function; its value and slope for the activations
    for name in M.FUNCTIONS:
        value, slope = run(name, np.array([nan, -nan]))
        assert np.isnan(value).all(), name
        if name in ACTIVATIONS:
            assert np.isnan(slope).all(), name


def test_activations_stay_finite_for_huge_arguments():
    z = np.array([1e300, -1e300, BIG, -BIG, 1e20, -1e20, 800.0, -800.0, 40.0, -40.0])
    for name in ACTIVATIONS:
        value, slope = run(name, z)
        assert np.isfinite(value).all() and np.isfinite(slope).all(), name
    value, slope = run("softplus", z)
    assert (value[z > 0] == z[z > 0]).all() and (slope[z > 0] == 1.0).all()
    assert (value[z < -800] == 0.0).all() and (slope[z < -800] == 0.0).all()
    value, slope = run("sigmoid", z)
    assert (value[z > 0] == 1.0).all() and (value[z < -800] == 0.0).all()
    value, slope = run("tanh", z)
    assert (value == np.sign(z)).all() and (slope == 0.0).all()
    value, _ = run("tanh", np.array([-0.0, 0.0]))
    assert same_bits(value, [-0.0, 0.0]).all()


def test_activations_as_the_kernels_define_them():
    """value and slope: the formulas of bpsweep.engine.kernels, with our exp/log1p/expm1."""
    z = np.concatenate([sweep_points("softplus", 3000, seed=5), [0.0, -0.0, 1e-300]])
    for zi in z:
        t = M.exp(-abs(zi))
        sp = (zi + M.log1p(t), 1.0 / (1.0 + t)) if zi > 0 else (M.log1p(t), t / (1.0 + t))
        assert M.softplus(zi) == sp
        s = 1.0 / (1.0 + t) if zi >= 0 else t / (1.0 + t)
        assert M.sigmoid(zi) == (s, s * (1.0 - s))
        y, slope = M.tanh(zi)
        assert slope == 1.0 - y * y and math.copysign(1.0, y) == math.copysign(1.0, zi)


# ---------------------------------------------------------------- the same bits everywhere


def test_bit_casts_match_struct():
    rng = np.random.default_rng(0)
    ints = np.concatenate([rng.integers(-(2**63), 2**63 - 1, 2000), [0, -1, 2**63 - 1, -(2**63)]])
    floats = ints.view(np.float64)

    @njit(cache=False)
    def both(x, i, out_i, out_x):
        for k in range(x.shape[0]):
            out_i[k] = M.f64_as_i64(x[k])
            out_x[k] = M.i64_as_f64(i[k])

    out_i = np.empty_like(ints)
    out_x = np.empty_like(floats)
    both(floats, ints, out_i, out_x)
    assert (out_i == ints).all() and (out_x.view(np.int64) == ints).all()
    for i, f in zip(ints[:200], floats[:200]):
        assert M.f64_as_i64(float(f)) == i
        assert struct.pack("<d", M.i64_as_f64(int(i))) == struct.pack("<q", i)
    assert M.i64_as_f64(1023 << 52) == 1.0
    assert M.i64_as_f64(2**64 + (1023 << 52)) == 1.0  # wraps to 64 bits, as compiled code does


@pytest.mark.parametrize("name", M.FUNCTIONS)
def test_plain_python_gives_the_compiled_bits(name):
    x = np.concatenate([sweep_points(name, 3000, seed=11), EDGES])
    value, slope = run(name, x)
    twin = M.python_twin(getattr(M, name))
    py_func = getattr(M, name).py_func  # its own source, compiled callees
    for fn in (twin, py_func):
        got = [fn(float(xi)) for xi in x]
        if name in ACTIVATIONS:
            assert same_bits([g[0] for g in got], value).all(), name
            assert same_bits([g[1] for g in got], slope).all(), name
        else:
            assert same_bits(got, value).all(), name
    scalar = [getattr(M, name)(float(xi)) for xi in x]  # the compiled scalar entry point
    assert same_bits([s[0] if name in ACTIVATIONS else s for s in scalar], value).all()


SIMULATOR_SCRIPT = textwrap.dedent(
    """
    import numpy as np
    from numba import cuda
    from bpsweep.engine import _math as M
    from bpsweep.engine import _mathcheck as C

    assert cuda.to_device.__module__.startswith("numba.cuda.simulator")
    names = M.FUNCTIONS
    twins = [cuda.jit(device=True)(M.python_twin(getattr(M, n))) for n in names]
    exp_d, expm1_d, log1p_d, softplus_d, sigmoid_d, tanh_d = twins

    @cuda.jit
    def kernel(x, out, use_twins):
        i = cuda.grid(1)
        if i >= x.shape[0]:
            return
        z = x[i]
        if use_twins:
            out[0, i] = exp_d(z)
            out[1, i] = expm1_d(z)
            out[2, i] = log1p_d(z)
            out[3, i], out[4, i] = softplus_d(z)
            out[5, i], out[6, i] = sigmoid_d(z)
            out[7, i], out[8, i] = tanh_d(z)
        else:  # the njit functions themselves, as a kernel calling them would
            out[0, i] = M.exp(z)
            out[1, i] = M.expm1(z)
            out[2, i] = M.log1p(z)
            out[3, i], out[4, i] = M.softplus(z)
            out[5, i], out[6, i] = M.sigmoid(z)
            out[7, i], out[8, i] = M.tanh(z)

    x = np.concatenate([C.sample(n, 64, seed=4) for n in names] + [np.array(EDGES)])
    cpu = np.zeros((9, x.size))
    for code, n in enumerate(names):
        v = np.empty_like(x)
        s = np.zeros_like(x)
        C.apply(code, x, v, s)
        row = {"exp": 0, "expm1": 1, "log1p": 2, "softplus": 3, "sigmoid": 5, "tanh": 7}[n]
        cpu[row] = v
        if row >= 3:
            cpu[row + 1] = s
    for use_twins in (True, False):
        out = np.zeros((9, x.size))
        kernel[(x.size + 31) // 32, 32](x, out, use_twins)
        same = (out.view(np.int64) == cpu.view(np.int64)) | (np.isnan(out) & np.isnan(cpu))
        assert same.all(), (use_twins, np.argwhere(~same)[:5])
    print("simulator == cpu:", x.size, "points")
    """
)


def test_cuda_simulator_gives_the_cpu_bits():
    """Device functions under numba's CUDA simulator (run as Python: the struct bit casts),
    both as python_twin device functions and as the njit functions called from a kernel.
    In a subprocess, so that NUMBA_ENABLE_CUDASIM does not leak into other test modules."""
    pytest.importorskip("numba_cuda", reason="numba-cuda is not installed")
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    src = str(Path(M.__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    script = f"EDGES = {EDGES!r}\n".replace("nan", "float('nan')").replace("inf", "float('inf')")
    proc = subprocess.run(
        [sys.executable, "-c", script + SIMULATOR_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "simulator == cpu" in proc.stdout


# ---------------------------------------------------------------- vectorization and measure


def lane_loop(x, out):
    for i in range(x.shape[0]):
        v, s = M.softplus(x[i])
        out[i] = M.exp(x[i]) + M.log1p(x[i]) + M.expm1(x[i]) + v + s
        v, s = M.tanh(x[i])
        w, u = M.sigmoid(x[i])
        out[i] += v + s + w + u


def test_a_loop_over_lanes_vectorizes():
    """A compiled loop calling every function holds packed double arithmetic (mulpd/vmulpd
    on xmm, ymm or zmm registers) and calls no libm exp/log1p/tanh."""
    loop = njit(cache=False)(lane_loop)  # cached code cannot be inspected
    x = np.linspace(-3.0, 3.0, 64)
    out = np.empty_like(x)
    loop(x, out)
    asm = loop.inspect_asm(loop.signatures[0])
    assert re.search(r"\bv?mulpd\s", asm), "no packed multiply: the loop did not vectorize"
    assert re.search(r"\bv?divpd\s", asm)
    assert not re.search(r"call\w*\s+\S*(exp|log1p|tanh)", asm)
    want = np.array([lane_loop_python(xi) for xi in x])
    assert same_bits(out, want).all()


def lane_loop_python(xi):
    v, s = M.softplus(xi)
    r = M.exp(xi) + M.log1p(xi) + M.expm1(xi) + v + s
    v, s = M.tanh(xi)
    w, u = M.sigmoid(xi)
    return r + (v + s + w + u)


def test_measure_reports_speed_and_error_per_function():
    got = C.measure(calls=1 << 12, points=1 << 12, repeat=1)
    assert list(got) == list(M.FUNCTIONS)
    for name, entry in got.items():
        assert entry["ns_per_call"] > 0 and entry["libm_ns_per_call"] > 0
        lo, hi = entry["ns_per_call_range"]
        assert lo == entry["ns_per_call"] <= hi
        if C.longdouble_is_extended():
            assert 0 <= entry["max_ulp"] < VALUE_BOUND[name], name
        wide = C.longdouble_is_extended()
        assert (entry["max_ulp_slope"] is not None) == (name == "softplus" and wide)
        if wide and name in ("sigmoid", "tanh"):
            assert 0 <= entry["max_abs_error_slope"] < 1e-15


# ---------------------------------------------------------------- cos(pi u / 2), for schedules


def test_cos_half_pi_coefficients_are_the_taylor_coefficients():
    mp = naive._mp()
    half_pi = mp.pi / 2
    for k in range(1, 9):
        want = (-1) ** k * half_pi ** (2 * k) / mp.factorial(2 * k)
        assert getattr(M, f"COS{k}") == float(want), k
    for k in range(9):
        want = (-1) ** k * half_pi ** (2 * k + 1) / mp.factorial(2 * k + 1)
        assert getattr(M, f"SIN{k}") == float(want), k


def cos_half_pi_loop(u, out):
    for i in range(u.shape[0]):
        out[i] = M.cos_half_pi(u[i])


#: cos_half_pi's measured max error (1.564 ulp over the points below) rounded up.
COS_HALF_PI_BOUND = 1.6


def cos_half_pi_points():
    rng = np.random.default_rng(1)
    return np.concatenate(
        [
            rng.random(1_000_000),
            1.0 - np.geomspace(1e-16, 0.5, 100_000),
            np.geomspace(1e-300, 0.5, 100_000),
            np.linspace(0.0, 1.0, 100_001),
        ]
    )


@needs_wide_longdouble
def test_cos_half_pi_accuracy_in_a_vectorized_loop():
    """Over 1.3 * 10^6 points of [0, 1] (ends included), against longdouble cos(pi u / 2),
    or sin(pi (1 - u) / 2) above 1/2, where 1 - u is exact and the result keeps its relative
    accuracy down to u -> 1; the loop vectorizes (packed multiplies, no libm call)."""
    loop = njit(cache=False)(cos_half_pi_loop)
    u = cos_half_pi_points()
    out = np.empty_like(u)
    loop(u, out)
    ld = np.longdouble
    pi = np.arccos(ld(-1.0))
    ul = u.astype(ld)
    ref = np.where(u <= 0.5, np.cos(pi * ul / 2), np.sin(pi * (1 - ul) / 2))
    exponent = np.frexp(ref.astype(np.float64))[1]
    ulp = np.ldexp(1.0, np.maximum(exponent - 53, -1074)).astype(ld)
    err = np.abs(out.astype(ld) - ref) / ulp
    assert float(err.max()) < COS_HALF_PI_BOUND, (float(err.max()), u[np.argmax(err)])
    assert float(err.max()) > 1.0  # the bound is tight: the measure has teeth
    assert out[u == 0.0].tolist() == [1.0] and out[u == 1.0].tolist() == [0.0]
    assert M.cos_half_pi(0.5) == math.sqrt(0.5)
    asm = loop.inspect_asm(loop.signatures[0])
    assert re.search(r"\bv?mulpd\s", asm), "no packed multiply: the loop did not vectorize"
    assert not re.search(r"call\w*\s+\S*(cos|sin)", asm)
    twin = M.python_twin(M.cos_half_pi)
    some = u[::997]
    assert same_bits([twin(float(x)) for x in some], out[::997]).all()
    assert same_bits([M.cos_half_pi(float(x)) for x in some], out[::997]).all()


def test_cos_half_pi_spot_checks_against_mpmath():
    mp = naive._mp()
    u = np.concatenate([np.random.default_rng(5).random(1500), 1.0 - np.geomspace(1e-16, 0.5, 300)])
    for x in u:
        want = mp.cos(mp.pi * mp.mpf(float(x)) / 2)
        assert naive.ulps(M.cos_half_pi(float(x)), want) < COS_HALF_PI_BOUND, x
