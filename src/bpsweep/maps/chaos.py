"""Chaos per pixel: does a pixel's run keep its outcome when its start moves by 1e-12?

Gradient descent here is chaotic at many starts and rates: in the README's 6x zoom of the lr
map most pixels change status or steps when the start moves by a millionth of a millionth,
while an independent implementation agrees with bpsweep on every well-conditioned pixel. So a
map can mark where it is chaotic rather than leave a reader to guess which speckles are real.

``bpsweep map --chaos K`` trains each pixel K more times, from its start with every parameter
moved by a relative :data:`MOVE`: ``p * (1 + MOVE * s)``, the signs ``s = +-1`` of move m
(m = 0..K-1) fixed for the whole plane (:func:`moves`: numpy's PCG64 seeded with
``(CHAOS_SEED, m)``, one sign per parameter of the plane's networks), so every pixel and every
tile moves the same way and a tile is deterministic. A parameter that starts at exactly 0
stays there (a relative move of 0 is 0). A pixel's chaos count is how many of the K moved runs
end differently from the unmoved one: another status, or steps differing by more than one.
The unmoved run is the pixel's ordinary run, trained in the same kernel call (the kernel's
result for a run does not depend on the batch it is in), so --chaos never changes a map.
"""

from __future__ import annotations

import numpy as np

#: The relative move of every parameter of a start.
MOVE = 1e-12
#: Moved starts a pixel is trained from when --chaos gives no number.
DEFAULT_MOVES = 4
#: Most moves a pixel may take (a pixel's count is stored in one byte).
MAX_MOVES = 64
#: Seeds the signs of the moves (with the move's number).
CHAOS_SEED = 1_000_000_000_012


def chaos_kind(k: int) -> str:
    """The tile kind that holds the chaos counts of ``k`` moves."""
    return f"chaos{k}"


def moves(k: int, names) -> np.ndarray:
    """The factors of the ``k`` moves, (k, len(names)) float64: ``1 + MOVE * s``, s = +-1."""
    signs = np.array(
        [np.random.default_rng((CHAOS_SEED, m)).choice((-1.0, 1.0), len(names)) for m in range(k)]
    ).reshape(k, len(names))
    return 1.0 + MOVE * signs


def moved_columns(columns: dict, k: int, names) -> dict:
    """The runs of ``columns`` (n of them) followed by the same runs from each of the ``k``
    moved starts: every column repeated k + 1 times, init_<p> multiplied by move m's factor."""
    factors = moves(k, names)
    out = {}
    for name, values in columns.items():
        values = np.asarray(values)
        if name.startswith("init_") and name[5:] in names:
            p = list(names).index(name[5:])
            out[name] = np.concatenate([values, *(values * factors[m, p] for m in range(k))])
        else:
            out[name] = np.concatenate([values] * (k + 1))
    return out


def chaos_counts(status: np.ndarray, steps: np.ndarray, n: int, k: int) -> np.ndarray:
    """Per pixel, how many of the k moved runs (rows n.. of ``status`` and ``steps``, a block
    of n per move) end differently from the unmoved one (rows 0..n-1): uint8 (n,)."""
    status = np.asarray(status).reshape(k + 1, n)
    steps = np.asarray(steps, dtype=np.int64).reshape(k + 1, n)
    differs = (status[1:] != status[0]) | (np.abs(steps[1:] - steps[0]) > 1)
    return differs.sum(axis=0).astype(np.uint8)


__all__ = [
    "DEFAULT_MOVES",
    "MAX_MOVES",
    "MOVE",
    "chaos_counts",
    "chaos_kind",
    "moved_columns",
    "moves",
]
