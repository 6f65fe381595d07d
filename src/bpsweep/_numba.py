"""The one place that holds the numba options for every CPU kernel.

fastmath is left off: the kernels must do exactly the float operations written, in the
order written, so that the single-run trainer, the batched sweep kernel and the naive
reference in the tests agree bit for bit, and so that divergence checks (isfinite) survive.
"""

import numba

NJIT_OPTIONS = {"cache": True, "nogil": True, "error_model": "numpy", "fastmath": False}


def njit(*args, **overrides):
    """``numba.njit`` with the project's options (``@njit`` or ``@njit(parallel=True)``)."""
    options = {**NJIT_OPTIONS, **overrides}
    if len(args) == 1 and callable(args[0]) and not overrides:
        return numba.njit(**options)(args[0])
    return numba.njit(*args, **options)
