"""The polynomial coefficients of bpsweep.engine._math.exp, re-derived (run: python
tests/fit_math.py).

exp(r) = 1 + r + r^2 * S(r) on the reduced range |r| <= R = ln(2)/2 (plus a margin for the
rounding of k), where S(r) = (e^r - 1 - r) / r^2 = 1/2 + r/6 + r^2/24 + ...

S is interpolated at the DEGREE + 1 Chebyshev nodes of [-R, R] in 60-digit arithmetic
(mpmath), a near-minimax fit (within a small factor of the best uniform approximation), then
rounded to float64. tests/test_math.py calls :func:`fit` and checks that the coefficients in
_math.py are these, and :func:`fit_error` bounds the polynomial's error on a dense grid.
"""

import mpmath

DEGREE = 10
R = 0.35  # > ln(2)/2 = 0.34657...


def _s(r):
    """S(r) by its series sum_{n>=2} r^(n-2)/n! (no cancellation near r = 0)."""
    total, term, n = mpmath.mpf(0), mpmath.mpf(1) / 2, 2
    while abs(term) > mpmath.mpf(10) ** (-mpmath.mp.dps - 5):
        total += term
        n += 1
        term = term * r / n
    return total


def fit(degree=DEGREE, half_width=R):
    """Monomial coefficients c0..c_degree (float64) of the Chebyshev interpolant of S."""
    with mpmath.workdps(60):
        n = degree + 1
        nodes = [half_width * mpmath.cos(mpmath.pi * (2 * i + 1) / (2 * n)) for i in range(n)]
        a = mpmath.matrix([[x**j for j in range(n)] for x in nodes])
        b = mpmath.matrix([_s(x) for x in nodes])
        c = mpmath.lu_solve(a, b)
        return [float(c[j]) for j in range(n)]


def fit_error(coefs, half_width=R, points=2001):
    """max over a grid of |r^2 * (P(r) - S(r))|: the absolute error the fit adds to e^r,
    with the float64 coefficients evaluated exactly."""
    with mpmath.workdps(60):
        worst = mpmath.mpf(0)
        for i in range(points):
            r = -half_width + 2 * half_width * mpmath.mpf(i) / (points - 1)
            p = mpmath.mpf(0)
            for c in reversed(coefs):
                p = p * r + mpmath.mpf(c)
            worst = max(worst, abs(r * r * (p - _s(r))))
        return float(worst)


if __name__ == "__main__":
    coefs = fit()
    for j, c in enumerate(coefs):
        print(f"    {c!r},  # r^{j}  ({c.hex()})")
    print("max |r^2 (P - S)| =", fit_error(coefs), " (2^-53 =", 2.0**-53, ")")
    for d in (8, 9, 11):
        print("degree", d, "error", fit_error(fit(d), points=401))
