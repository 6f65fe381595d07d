"""Box counting: how fractal the boundary between two classes of a 2-D grid is.

The boundary is the set of 2 x 2 windows of neighbouring pixels that hold both classes (as in
Sohl-Dickstein (2024)'s notebook); boxes of side s = 2, 4, 8, ... pixels tile the grid from its
corner, N(s) counts those holding a boundary cell, and the dimension D is the least-squares
slope of log N(s) against log(1/s). A straight boundary gives 1, a plane-filling one 2.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..errors import UsageError


def _pool(a: np.ndarray) -> np.ndarray:
    """2 x 2 boxes of a 2-D boolean array -> one cell each, True if any cell is; an odd last
    row or column makes boxes of its own (cut by the edge)."""
    h, w = a.shape
    if h % 2:
        a = np.concatenate([a, a[-1:]], axis=0)
    if w % 2:
        a = np.concatenate([a, a[:, -1:]], axis=1)
    rows = a[0::2] | a[1::2]
    return rows[:, 0::2] | rows[:, 1::2]


def boundary_cells(grid) -> np.ndarray:
    """The boundary of a 2-D boolean grid as the paper's notebook defines it: one cell per
    2 x 2 window of neighbouring pixels, True where the window holds both classes (the
    boundary passes between its pixel centres). bool (H-1, W-1)."""
    g = np.asarray(grid, dtype=bool)
    rows_any = g[1:] | g[:-1]
    rows_all = g[1:] & g[:-1]
    return (rows_any[:, 1:] | rows_any[:, :-1]) & ~(rows_all[:, 1:] & rows_all[:, :-1])


def box_counts(grid, sizes) -> np.ndarray:
    """For each box side s in ``sizes`` (increasing powers of two, pixels), the number of s x s
    boxes, tiling the boundary cells (:func:`boundary_cells`) from the corner (j, i) = (0, 0),
    that hold a boundary cell (boxes cut by the far edges count with the part inside).
    int64 (len(sizes),)."""
    cells = boundary_cells(grid)
    size, out = 1, {}
    want = {int(s) for s in sizes}
    if 1 in want:
        out[1] = int(np.count_nonzero(cells))
    while size < max(want):
        cells = _pool(cells)
        size *= 2
        if size in want:
            out[size] = int(np.count_nonzero(cells))
    return np.array([out[int(s)] for s in sizes], dtype=np.int64)


def boundary_dimension(grid, min_box: int = 2, max_box: int | None = None):
    """Box-counting dimension of the boundary between the two classes of a 2-D boolean grid.

    As in Sohl-Dickstein (2024)'s notebook: the boundary is the set of 2 x 2 windows of
    neighbouring pixels that hold both classes (:func:`boundary_cells`); a box of side s
    counts when it holds one of them, i.e. it spans both phases (counting the boxes whose own
    pixels hold both classes instead misses, at 2 px, half the boxes a straight boundary
    crosses between pixel centres, and biases D low by about 0.1). Boxes tile the grid from
    its corner, sides s = ``min_box`` .. ``max_box`` pixels in powers of two (default 2 to
    min(W, H) / 8); D is the least-squares slope of log N(s) against log(1/s).

    Returns ``(D, table)``: D a float (NaN when some size has no box on the boundary: one
    class only) and a DataFrame with columns ``box_size`` (pixels) and ``count``, smallest box
    first. Vectorised numpy: a 4096 x 4096 grid in about 0.02 s (measured on 2 shared cores),
    with at most four boolean arrays of the grid's size alive at once.
    """
    g = np.asarray(grid)
    if g.ndim != 2:
        raise UsageError(f"boundary_dimension: expected a 2-D grid, found shape {g.shape}")
    if g.dtype != bool:
        raise UsageError(
            f"boundary_dimension: expected a boolean grid (True/False classes), found dtype "
            f"{g.dtype}; pass e.g. status == 2 for diverged vs not"
        )
    side = min(g.shape)
    if max_box is None:  # the largest power of two <= side / 8
        max_box = 1 << ((side // 8).bit_length() - 1) if side >= 8 else 0
    for name, v in (("min_box", min_box), ("max_box", max_box)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1 or v & (v - 1):
            raise UsageError(
                f"boundary_dimension: {name}: expected a power of two >= 1, found {v!r}"
                + (f" (the grid {g.shape} is too small: its side / 8 < 1)" if v == 0 else "")
            )
    if not min_box < max_box <= side:
        raise UsageError(
            f"boundary_dimension: expected min_box < max_box <= the grid's smaller side "
            f"({side}), found {min_box} and {max_box} (a grid of at least 32 x 32 pixels "
            "gives the default 2 to side / 8)"
        )
    sizes = 2 ** np.arange(int(math.log2(min_box)), int(math.log2(max_box)) + 1)
    counts = box_counts(g, sizes)
    table = pd.DataFrame({"box_size": sizes.astype(np.int64), "count": counts})
    if np.any(counts == 0):
        return math.nan, table
    slope = np.polyfit(np.log(1.0 / sizes), np.log(counts), 1)[0]
    return float(slope), table
