"""Our own float64 ``exp``, ``expm1``, ``log1p`` and the activations built on them.

Why: the training kernels spend most of a run-step in scalar libm ``exp``/``log1p`` calls, and
numba's vectorized math (SVML) is not available from PyPI's llvmlite. These functions are
written without branches that depend on the data (selects, integer bit tricks, polynomials),
so that LLVM vectorizes a loop over lanes of runs that calls them; they use no fastmath.

The same source gives the same bits

- compiled by numba on the CPU (``bpsweep._numba.njit``, no fastmath, no FMA contraction),
- as plain Python (``fn.py_func``; :func:`python_twin` also swaps the callees for their
  Python source), where the bit casts go through :mod:`struct`, and
- in numba-cuda device code (the bit casts are ``@intrinsic`` LLVM bitcasts, which any
  numba target lowers) and under the CUDA simulator, where device functions run as Python.

Float operations are written in the order they must happen; nothing here may be rewritten
as a*b + c into an FMA. numba's CPU target never contracts without fastmath; NVVM contracts
by default (its -fma=1, which numba-cuda does not turn off), so on a real GPU results may
differ in the last bit unless the kernel is compiled without FMA contraction (not checked
here: no GPU and no NVVM on the development machine).

Every function is ``forceinline`` (LLVM's alwaysinline, not numba-IR inlining, so no compile
cost): a loop that calls one is vectorized only if the callee is inlined into it, and LLVM's
own inliner declines functions of this size. Caveat for callers in other modules: numba's
on-disk cache of a caller does not notice edits to this file; clear the cache (or the
``__pycache__`` folders) after changing it.

Methods and sources (float64, round to nearest):

- ``exp``/``expm1``: Cody-Waite reduction x = k ln2 + r, r = hi - lo, |r| <= ln2/2, with
  FDLIBM's ``ln2HI``/``ln2LO``/``invln2`` (e_exp.c); k rounded by adding 1.5 * 2^52 (its
  bits give k without a float-to-int conversion); e^r - 1 = r + r^2/2 + r^3 q(r) with
  S(r) = 1/2 + r q(r) a degree-10 polynomial, our own Chebyshev fit of (e^r - 1 - r)/r^2
  (``tests/fit_math.py`` derives the coefficients and bounds the fit's error by 2.7e-19),
  r^2/2 taken from the exact hi, and 1 + (e^r - 1) summed as an unevaluated pair (Fast2Sum)
  so that the result is rounded once; expm1 also splits hi^2 exactly (Dekker). 2^k =
  2^(k>>1) * 2^(k - (k>>1)): two normal scales built from integer bits, so that overflow
  happens where it should and subnormal results lose only the last rounding.
- ``log1p``: FDLIBM/musl ``log1p`` (s_log1p.c): 1 + x = 2^k (1 + f) with f in
  [sqrt(2)/2 - 1, sqrt(2) - 1), a correction c for the rounding of 1 + x, and FDLIBM's
  ``Lg1..Lg7`` polynomial in s = f / (2 + f); musl's branches made selects.
- ``softplus``, ``sigmoid``: around t = exp(-|z|), the formulas of ``bpsweep.engine.kernels``
  (never overflow); ``tanh``: from m = e^-2|z| - 1 and t = e^-2|z| of one reduction (see
  its docstring).

Errors (ulp of the correctly rounded result; measured over 10^7 arguments per function with
:mod:`bpsweep.engine._mathcheck`, against numpy's 80-bit longdouble, itself checked against mpmath;
bounds derived in docs/math.md):

=================  =============  ==========================  ===========================
function           measured max   bound                       libm (glibc), same points
=================  =============  ==========================  ===========================
exp                0.62           0.66                        0.51
exp, subnormal     0.77           0.83                        0.50
expm1              0.60           0.65                        0.84
log1p              0.84           < 1 (FDLIBM's analysis)     0.83
softplus (slope)   1.48 (2.40)    --                          1.48 (2.40), same formulas
sigmoid            2.40           --                          2.40, same formula
tanh               2.33           --                          2.17 (math.tanh)
=================  =============  ==========================  ===========================

The accuracy and timing harness (``accuracy``, ``measure``) is :mod:`bpsweep.engine._mathcheck`.
"""

from __future__ import annotations

import math
import struct
import types as pytypes

from numba import types
from numba.extending import intrinsic, overload

from .._numba import njit

# ---------------------------------------------------------------- bit casts, three ways


def f64_as_i64(x):
    """The bits of float64 ``x`` as a signed int64 (plain Python: via struct)."""
    return struct.unpack("<q", struct.pack("<d", x))[0]


def i64_as_f64(i):
    """The float64 whose bits are int64 ``i`` (plain Python: wrapped to 64 bits as numba
    does, then via struct)."""
    return struct.unpack("<d", struct.pack("<Q", i & 0xFFFFFFFFFFFFFFFF))[0]


@intrinsic
def _bitcast_f64_i64(typingctx, x):
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.int64))

    return types.int64(types.float64), codegen


@intrinsic
def _bitcast_i64_f64(typingctx, i):
    if not isinstance(i, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        value = context.cast(builder, args[0], signature.args[0], types.int64)
        return builder.bitcast(value, context.get_value_type(types.float64))

    return types.float64(i), codegen


@overload(f64_as_i64)
def _f64_as_i64_compiled(x):
    if x == types.float64:
        return lambda x: _bitcast_f64_i64(x)
    return None


@overload(i64_as_f64)
def _i64_as_f64_compiled(i):
    if isinstance(i, types.Integer):
        return lambda i: _bitcast_i64_f64(i)
    return None


# ---------------------------------------------------------------- constants

INF = math.inf
NAN = math.nan
#: 1.5 * 2^52: adding it rounds a float of magnitude < 2^51 to an integer, whose value is
#: then the low bits of the sum's bit pattern (minus SHIFT_BITS).
SHIFT = 6755399441055744.0
SHIFT_BITS = 0x4338000000000000
# FDLIBM e_exp.c / s_log1p.c: ln2 split so that k * LN2_HI is exact for |k| < 2^21.
LN2_HI = 6.93147180369123816490e-01  # 0x3fe62e42 fee00000
LN2_LO = 1.90821492927058770002e-10  # 0x3dea39ef 35793c76
INV_LN2 = 1.44269504088896338700e00  # 0x3ff71547 652b82fe
#: exp's argument is clamped to [EXP_LO, EXP_HI]: beyond, the result is 0 or inf anyway.
EXP_LO = -746.0
EXP_HI = 710.0
# S(r) = (e^r - 1 - r) / r^2 on |r| <= 0.35, degree 10: tests/fit_math.py (Chebyshev fit).
S0 = 0.5  # 0x1.0000000000000p-1
S1 = 0.1666666666666667  # 0x1.5555555555557p-3
S2 = 0.04166666666666667  # 0x1.5555555555556p-5
S3 = 0.008333333333325551  # 0x1.111111110ff8bp-7
S4 = 0.0013888888888883332  # 0x1.6c16c16c16214p-10
S5 = 0.00019841269876840357  # 0x1.a01a01ac9de9ep-13
S6 = 2.480158732699005e-05  # 0x1.a01a01a74077ap-16
S7 = 2.755725286336732e-06  # 0x1.71ddfff6573d6p-19
S8 = 2.755727183153613e-07  # 0x1.27e4da1e12fb1p-22
S9 = 2.5106262550879078e-08  # 0x1.af5282aacdb2ep-26
S10 = 2.0915433598076003e-09  # 0x1.1f75a3caadff5p-29
EXP_COEFFICIENTS = (S0, S1, S2, S3, S4, S5, S6, S7, S8, S9, S10)
# FDLIBM e_log.c / s_log1p.c: log(1+f) = f - f^2/2 + s (f^2/2 + R(s^2)), s = f / (2 + f).
LG1 = 6.666666666666735130e-01  # 3FE55555 55555593
LG2 = 3.999999999940941908e-01  # 3FD99999 9997FA04
LG3 = 2.857142874366239149e-01  # 3FD24924 94229359
LG4 = 2.222219843214978396e-01  # 3FCC71C5 1D8E78AF
LG5 = 1.818357216161805012e-01  # 3FC74664 96CB03DE
LG6 = 1.531383769920937332e-01  # 3FC39A09 D078C69F
LG7 = 1.479819860511658591e-01  # 3FC2F112 DF3E5244
#: |x| below this: expm1(x) rounds to x.
EXPM1_TINY = 2.0**-54
#: tanh's switch between its two formulas: ln(3)/2 rounded up (2t / (1 + t) <= 1/2 above).
TANH_SWITCH = 0.55
#: |x| below this: log1p(x) rounds to x (musl's cut).
TINY = 2.0**-53

# ---------------------------------------------------------------- exp and expm1


@njit(forceinline=True)
def _exp_reduce(x):
    """x = k ln2 + r, |r| <= ln2/2 (+ rounding), r = hi - lo with hi exact; the polynomial
    q(r) with S(r) = 1/2 + r q(r); 2^k = s1 * s2, both normal: returns (k, hi, lo, r, q, s1,
    s2). x is clamped to [EXP_LO, EXP_HI] first (NaN to EXP_LO: callers select x for NaN)."""
    xc = x if x > EXP_LO else EXP_LO  # NaN -> EXP_LO
    xc = xc if xc < EXP_HI else EXP_HI
    kd = xc * INV_LN2 + SHIFT  # k = round(x / ln2), in the low bits of kd's pattern
    k = f64_as_i64(kd) - SHIFT_BITS
    kd = kd - SHIFT
    hi = xc - kd * LN2_HI  # exact
    lo = kd * LN2_LO
    r = hi - lo
    q = S10
    q = q * r + S9
    q = q * r + S8
    q = q * r + S7
    q = q * r + S6
    q = q * r + S5
    q = q * r + S4
    q = q * r + S3
    q = q * r + S2
    q = q * r + S1
    k1 = k >> 1
    s1 = i64_as_f64((k1 + 1023) << 52)
    s2 = i64_as_f64((k - k1 + 1023) << 52)
    return k, hi, lo, r, q, s1, s2


@njit(forceinline=True)
def _exp_parts(x):
    """e^x = 2^k (1 + uh + ul), |uh| < 0.42, |ul| <= ulp(uh) / 2, 2^k = s1 * s2: returns
    (uh, ul, k, s1, s2). uh + ul is e^r - 1 to about 1e-17 (exp's accuracy needs no more)."""
    k, hi, lo, r, q, s1, s2 = _exp_reduce(x)
    # r^2 / 2 from the exact hi, so that the rounding of r does not enter it
    hr = 0.5 * (hi * hi) - lo * (hi - 0.5 * lo)
    v = lo - (hr + (r * r) * (r * q))  # e^r - 1 = hi - v
    uh = hi - v
    ul = (hi - uh) - v  # exact (Fast2Sum: |hi| >= |v|)
    return uh, ul, k, s1, s2


@njit(forceinline=True)
def _expm1_parts(x):
    """As _exp_parts, with e^r - 1 = uh + ul to about 2e-18: hi^2 split exactly (Dekker's
    product) and hi + hi^2/2 summed exactly (Fast2Sum), so that 2^k (uh + ul) + 2^k - 1
    stays within 1 ulp where it is smaller than 2^k uh (0 < x < 1.04, k = 1)."""
    k, hi, lo, r, q, s1, s2 = _exp_reduce(x)
    c = 134217729.0 * hi  # 2^27 + 1: Veltkamp split hi = h1 + h2, 26 bits each
    h1 = c - (c - hi)
    h2 = hi - h1
    p = hi * hi
    pe = ((h1 * h1 - p) + 2.0 * h1 * h2) + h2 * h2  # hi^2 = p + pe exactly
    hp = 0.5 * p
    s = hi + hp
    e = hp - (s - hi)  # exact (Fast2Sum: |hi| >= hi^2 / 2)
    # e^r - 1 = (hi - lo) + (hi - lo)^2 / 2 + r^3 q = s + e + small
    small = 0.5 * pe - lo * (1.0 + hi - 0.5 * lo) + (r * r) * (r * q)
    t = e + small
    uh = s + t
    ul = t - (uh - s)  # exact (Fast2Sum: |s| >= |t|)
    return uh, ul, k, s1, s2


@njit(forceinline=True)
def exp(x):
    """e^x for float64 x. Error bound 0.66 ulp (0.83 for subnormal results); measured max
    0.62 (0.77 subnormal) over 10^7 points on [-746, 710].

    exp(x) = inf from x = 709.7827128933841 on (DBL_MAX at 709.782712893384), the smallest
    subnormal at -745.1332191019411, 0 from -745.1332191019412 down; exp(inf) = inf,
    exp(-inf) = 0, exp(+-0) = 1, NaN in -> the same NaN out.
    """
    uh, ul, k, s1, s2 = _exp_parts(x)
    p = 1.0 + uh
    pl = (1.0 - p) + uh  # exact (Fast2Sum): 1 + uh = p + pl
    y = ((p + (pl + ul)) * s1) * s2
    return y if x == x else x


@njit(forceinline=True)
def expm1(x):
    """e^x - 1 for float64 x. Error bound 0.65 ulp; measured max 0.60 over 10^7 points
    (tiny arguments, [-50, 0] where tanh uses it, [-746, 710], and (0.3, 1.1) where
    2^k (1 + u) - 1 loses most).

    expm1(+-0) = +-0, expm1(-inf) = -1, inf from 709.7827128933841 on, NaN in -> the same
    NaN out.
    """
    uh, ul, k, s1, s2 = _expm1_parts(x)
    scale = s1 * s2  # 2^k, exact (subnormal or 0 for k < -1022)
    # |k| <= 53: (scale - 1) + scale uh + scale ul, the first two exact and summed by TwoSum
    a = scale - 1.0
    b = scale * uh
    t = a + b
    bb = t - a
    e = (a - (t - bb)) + (b - bb)
    y = t + (e + scale * ul)
    # k < -53: -1 + a tiny term
    y = y if k >= -53 else scale * (1.0 + uh) - 1.0
    # k > 53: 2^k (1 + uh + ul - 2^-k), overflow as exp does
    p = 1.0 + uh
    pl = (1.0 - p) + uh
    kk = k if k < 100 else 100
    y = y if k <= 53 else ((p + (pl + (ul - i64_as_f64((1023 - kk) << 52)))) * s1) * s2
    y = y if k != 0 else uh
    y = y if abs(x) >= EXPM1_TINY else x  # also -0.0 -> -0.0
    return y if x == x else x


# ---------------------------------------------------------------- log1p


@njit(forceinline=True)
def log1p(x):
    """log(1 + x) for float64 x. Error below 1 ulp (FDLIBM's bound for its method);
    measured max 0.84 over 10^7 points ([0, 1] where softplus uses it, [-1, 1], -1 + 1e-16
    .. 0, 1e-300 .. 1e308); glibc's log1p measures 0.83 on them.

    log1p(-1) = -inf, log1p(x < -1) = NaN, log1p(inf) = inf, log1p(+-0) = +-0, NaN in ->
    the same NaN out.
    """
    xs = x if x > -1.0 else 0.0  # -1, below and NaN: computed on 0, selected at the end
    xs = xs if xs < INF else 0.0
    u = 1.0 + xs  # >= 2^-53, so never 0 nor subnormal
    bits = f64_as_i64(u)
    hu = (bits >> 32) + (0x3FF00000 - 0x3FE6A09E)
    k = (hu >> 20) - 0x3FF
    # c ~ log(1 + x) - log(u): the rounding error of 1 + x, relative to u
    c = 1.0 - (u - xs) if k >= 2 else xs - (u - 1.0)
    c = c / u
    c = c if k < 54 else 0.0
    hu = (hu & 0x000FFFFF) + 0x3FE6A09E  # u / 2^k in [sqrt(2)/2, sqrt(2))
    f = i64_as_f64((hu << 32) | (bits & 0xFFFFFFFF)) - 1.0
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (LG2 + w * (LG4 + w * LG6))
    t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)))
    r = t2 + t1
    dk = i64_as_f64(k + SHIFT_BITS) - SHIFT  # float(k), without a vector int->float convert
    y = s * (hfsq + r) + (dk * LN2_LO + c) - hfsq + f + dk * LN2_HI
    y = y if abs(x) >= TINY else x  # also -0.0 -> -0.0
    y = y if x < INF else x  # inf -> inf
    y = y if x > -1.0 else NAN  # x < -1 (and NaN, selected below)
    y = y if x != -1.0 else -INF
    return y if x == x else x


# ---------------------------------------------------------------- activations


@njit(forceinline=True)
def softplus(z):
    """softplus(z) = log(1 + e^z) and its slope sigmoid(z), as ``(value, slope)``, around
    t = e^-|z| (never overflows: finite and accurate for any finite z).

    The formulas of ``bpsweep.engine.kernels.softplus`` (z + log1p(t), 1 / (1 + t) for z > 0;
    log1p(t), t / (1 + t) else); measured max 1.48 ulp (value), 2.40 ulp (slope) over 10^7
    points, as the same formulas with libm's exp and log1p."""
    t = exp(-abs(z))
    v = log1p(t)
    v = z + v if z > 0.0 else v
    a = 1.0 if z > 0.0 else t
    return v, a / (1.0 + t)


@njit(forceinline=True)
def sigmoid(z):
    """sigmoid(z) = 1 / (1 + e^-z) and its slope s (1 - s), as ``(value, slope)``: the
    formulas of ``bpsweep.engine.kernels.sigmoid``. Value: measured max 2.40 ulp over 10^7 points
    (the same as with libm's exp); slope: absolute error below 2e-16 (s (1 - s) cancels
    where the slope is near 0, as today)."""
    t = exp(-abs(z))
    a = 1.0 if z >= 0.0 else t
    s = a / (1.0 + t)
    return s, s * (1.0 - s)


@njit(forceinline=True)
def tanh(z):
    """tanh(z) and its slope 1 - y^2, as ``(value, slope)``; tanh(+-0) = +-0, finite for
    any finite z. Value: measured max 2.33 ulp over 10^7 points (libm's math.tanh: 2.17);
    slope: absolute error below 3e-16 (1 - y^2 cancels where the slope is near 0).

    With a = |z|, m = e^-2a - 1 and t = e^-2a from one range reduction: y = -m / (2 + m)
    for a < TANH_SWITCH (no cancellation for small a), else y = 1 - 2t / (1 + t) (the
    subtracted term is at most 1/2, so its error shrinks in y's ulp); sign of z copied.
    """
    a = abs(z)
    x = -2.0 * a
    uh, ul, k, s1, s2 = _expm1_parts(x)
    # m = expm1(x) for x <= 0 (k <= 0), as in expm1
    scale = s1 * s2
    c = scale - 1.0
    b = scale * uh
    w = c + b
    bb = w - c
    e = (c - (w - bb)) + (b - bb)
    m = w + (e + scale * ul)
    m = m if k >= -53 else scale * (1.0 + uh) - 1.0
    m = m if k != 0 else uh
    # t = exp(x), as in exp
    p = 1.0 + uh
    pl = (1.0 - p) + uh
    t = ((p + (pl + ul)) * s1) * s2
    small = a < TANH_SWITCH
    num = -m if small else 2.0 * t
    den = 2.0 + m if small else 1.0 + t
    q = num / den
    y = q if small else 1.0 - q
    y = y if a >= EXPM1_TINY else a  # tiny, and -0.0 (via copysign)
    y = math.copysign(y, z)
    return y, 1.0 - y * y


# ---------------------------------------------------------------- cos(pi u / 2)

# Taylor coefficients of cos(pi v / 2) (COS0 = 1) and sin(pi v / 2), (pi/2)^n / n! with their
# signs, rounded to float64 (from mpmath at 50 digits); for v <= 1/2 the first terms left out
# are below 2e-18 (cos) and 1e-19 (sin) of the result.
COS1 = -1.2337005501361697  # -0x1.3bd3cc9be45dep+0
COS2 = 0.25366950790104803  # 0x1.03c1f081b5ac4p-2
COS3 = -0.02086348076335296  # -0x1.55d3c7e3cbffap-6
COS4 = 0.0009192602748394266  # 0x1.e1f506891babbp-11
COS5 = -2.5202042373060607e-05  # -0x1.a6d1f2a204a8cp-16
COS6 = 4.710874778818172e-07  # 0x1.f9d38a3763cc3p-22
COS7 = -6.386603083791852e-09  # -0x1.b6e24f44b128fp-28
COS8 = 6.565963114979473e-11  # 0x1.20c62c2f2d7f5p-34
SIN0 = 1.5707963267948966  # 0x1.921fb54442d18p+0
SIN1 = -0.6459640975062463  # -0x1.4abbce625be53p-1
SIN2 = 0.07969262624616705  # 0x1.466bc6775aae2p-4
SIN3 = -0.004681754135318688  # -0x1.32d2cce62bd86p-8
SIN4 = 0.00016044118478735983  # 0x1.50783487ee782p-13
SIN5 = -3.598843235212085e-06  # -0x1.e3074fde8871fp-19
SIN6 = 5.692172921967927e-08  # 0x1.e8f434d018d63p-25
SIN7 = -6.688035109811468e-10  # -0x1.6fadb9f155744p-31
SIN8 = 6.0669357311061955e-12  # 0x1.aaec32af93359p-38


@njit(forceinline=True)
def cos_half_pi(u):
    """cos(pi u / 2) for u in [0, 1] (the cosine learning-rate schedule's; outside [0, 1]
    the result is meaningless). cos_half_pi(0) = 1 and cos_half_pi(1) = 0 exactly; measured
    max error 1.57 ulp over 1.3 * 10^6 points (tests/test_math.py), in ulps of the result
    also near u = 1, where it goes to 0.

    Both halves are polynomials in the exact v, so no argument is rounded: cos(pi v / 2)
    with v = u for u <= 1/2, and sin(pi v / 2) with v = 1 - u (exact: Sterbenz) above, each
    evaluated by Horner in v^2, and one of the two selected (no branch on the data)."""
    low = u <= 0.5
    v = u if low else 1.0 - u
    z = v * v
    c = COS8
    c = c * z + COS7
    c = c * z + COS6
    c = c * z + COS5
    c = c * z + COS4
    c = c * z + COS3
    c = c * z + COS2
    c = c * z + COS1
    c = c * z + 1.0
    s = SIN8
    s = s * z + SIN7
    s = s * z + SIN6
    s = s * z + SIN5
    s = s * z + SIN4
    s = s * z + SIN3
    s = s * z + SIN2
    s = s * z + SIN1
    s = s * z + SIN0
    s = s * v
    return c if low else s


# ---------------------------------------------------------------- plain-Python twins

#: The public functions, in the order measure() reports them.
FUNCTIONS = ("exp", "expm1", "log1p", "softplus", "sigmoid", "tanh")


def python_twin(fn):
    """``fn`` (one of this module's njit functions) as plain Python all the way down: its
    source, with every njit function it calls swapped for that function's source too, and
    the bit casts done through :mod:`struct`. Gives the same bits as the compiled ``fn``."""
    from numba.core.registry import CPUDispatcher

    namespace = dict(globals())
    for name, value in list(namespace.items()):
        if isinstance(value, CPUDispatcher):
            code = value.py_func
            namespace[name] = pytypes.FunctionType(code.__code__, namespace, name)
    return namespace[fn.__name__]
