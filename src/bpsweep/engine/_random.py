"""Counter-based random draws for initial parameters, compiled.

Draw k of seed s is a pure function of (s, k): SplitMix64's output function applied to a key
made from the seed plus k times the golden-ratio increment. A run's start therefore depends
only on its own seed and settings, never on which other runs exist or in what order they are
drawn, and a million starts cost milliseconds (``numpy.random.default_rng(seed)`` would cost
about 14 us per run just to build the generator).

Normal draws use Box-Muller on uniforms 2k and 2k + 1 (cosine branch only), so normal draw k
depends on nothing else either. ``tests/naive.py`` holds a plain-Python twin.
"""

import math

import numpy as np

from .._numba import njit

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_TWO_PI = 2.0 * math.pi
_INV_2_53 = 1.0 / 9007199254740992.0


@njit
def _mix(z):
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit
def uniform(seed, k):
    """Uniform draw k of ``seed`` in [0, 1), with 53 random bits."""
    key = _mix(np.uint64(seed) + GOLDEN)
    bits = _mix(key + (np.uint64(k) + np.uint64(1)) * GOLDEN)
    return float(bits >> np.uint64(11)) * _INV_2_53


@njit
def normal(seed, k):
    """Standard normal draw k of ``seed`` (Box-Muller on uniforms 2k and 2k + 1)."""
    u1 = uniform(seed, 2 * k)
    u2 = uniform(seed, 2 * k + 1)
    return math.sqrt(-2.0 * math.log1p(-u1)) * math.cos(_TWO_PI * u2)
