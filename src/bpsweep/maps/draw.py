"""Draw a trained map from its results file, a band of rows at a time, at any size:

- ``<name>.png``: the raw image, exactly W x H pixels, one per run, row 0 at the top (j = H-1),
  written band by band (:func:`bpsweep.maps.image.write_png_bands`);
- ``<name>-figure.png``: the image with axes in the settings' units, legend or colour bar, the
  lesson's start marked and a title naming what is fixed; a map wider or taller than
  :data:`FIGURE_SIDE` is drawn from a coarser grid of the same window (every pixel of it a
  real run, trained as tiles of the same plane, never an average of the map's pixels);
- ``<name>-dimension.png`` (with ``dimension``): the box counts of the outcome boundaries,
  counted band by band (:class:`bpsweep.maps.boxcount.BoxCounter`, exactly the counts of the
  whole grid), and their fit.

A first pass over the results (three columns) gives the counts, the legend's shares, the
median steps and the colour scales; a second paints the bands. The ``basin`` colour mode
numbers the map's solutions over all its good fits at once, so it reads the final parameters
of the whole map into memory (checked to fit before any training).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..model import DEFAULT_FIT_SSR, STATUSES
from . import boxcount

#: Largest side of the image a figure is drawn from; larger maps are drawn from a coarser
#: grid of their window (matplotlib's figure is about 1,100 pixels wide anyway).
FIGURE_SIDE = 1024
#: The boundaries a map's dimension is measured on, the first being the headline one.
BOUNDARIES = (("diverged vs not", "diverged"), ("converged vs not", "converged"))


@dataclass
class Stats:
    """What the first pass over a map's results found."""

    counts: np.ndarray  #: pixels per status (STATUSES order)
    families: np.ndarray  #: pixels per outcome family (image.outcome_families)
    good_fit: int
    median_steps: float
    ssr_range: tuple[float, float]  #: smallest and largest finite positive final SSR
    not_finite: int  #: pixels whose final SSR is not finite
    counters: dict = field(default_factory=dict)  #: boundary label -> BoxCounter
    #: with a chaos column: chaotic pixels per status and per outcome family; else None
    chaotic: np.ndarray | None = None
    chaotic_families: np.ndarray | None = None


def row_groups(path: Path, columns):
    """The map's results as arrays of ``columns``, a row group (whole rows of pixels, bottom
    first) at a time: (first run id, {column: array}), status as codes into STATUSES."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    first = 0
    for k in range(pf.num_row_groups):
        table = pf.read_row_group(k, columns=list(columns))
        out = {}
        for c in columns:
            if c == "status":
                text = table[c].to_pandas()
                out[c] = pd.Categorical(text, categories=STATUSES).codes.astype(np.int8)
            else:
                out[c] = table[c].to_numpy()
        yield first, out
        first += table.num_rows


def first_pass(path: Path, width: int, fit_ssr: float, dimension: bool) -> Stats:
    """Counts, shares, median steps, the SSR scale and (``dimension``) the box counts of
    the boundaries, from the status, steps and final_ssr columns; and the chaotic pixels of
    each status and family when the file has a ``chaos`` column."""
    import pyarrow.parquet as pq

    from .image import outcome_families

    columns = ["status", "steps", "final_ssr"]
    chaotic = chaotic_families = None
    if "chaos" in pq.ParquetFile(path).schema_arrow.names:
        columns.append("chaos")
        chaotic = np.zeros(len(STATUSES), dtype=np.int64)
        chaotic_families = np.zeros(4, dtype=np.int64)

    counts = np.zeros(len(STATUSES), dtype=np.int64)
    families = np.zeros(4, dtype=np.int64)
    good, not_finite = 0, 0
    lo, hi = math.inf, -math.inf
    steps_seen: dict[int, int] = {}
    counters = {label: boxcount.BoxCounter(width) for label, _ in BOUNDARIES} if dimension else {}
    for _, a in row_groups(path, columns):
        st, steps, ssr = a["status"], a["steps"], a["final_ssr"]
        counts += np.bincount(st, minlength=len(STATUSES))
        family = outcome_families(st, ssr, fit_ssr)
        families += np.bincount(family, minlength=4)
        if chaotic is not None:
            moved = a["chaos"] > 0
            chaotic += np.bincount(st[moved], minlength=len(STATUSES))
            chaotic_families += np.bincount(family[moved], minlength=4)
        good += int(np.count_nonzero(ssr < fit_ssr))
        finite = np.isfinite(ssr)
        not_finite += int(np.count_nonzero(~finite))
        positive = ssr[finite & (ssr > 0)]
        if positive.size:
            lo, hi = min(lo, float(positive.min())), max(hi, float(positive.max()))
        values, times = np.unique(steps, return_counts=True)
        for v, c in zip(values.tolist(), times.tolist()):
            steps_seen[v] = steps_seen.get(v, 0) + c
        rows = st.reshape(-1, width)
        for label, name in BOUNDARIES:
            if label in counters:
                counters[label].add(rows == STATUSES.index(name))
    return Stats(
        counts=counts,
        families=families,
        good_fit=good,
        median_steps=_median(steps_seen),
        ssr_range=(lo, hi) if lo <= hi else (1.0, 10.0),
        not_finite=not_finite,
        counters=counters,
        chaotic=chaotic,
        chaotic_families=chaotic_families,
    )


def _median(histogram: dict[int, int]) -> float:
    """The median of values given as value -> count (as np.median of the values)."""
    total = sum(histogram.values())
    if total == 0:
        return math.nan
    values = sorted(histogram)
    cumulative = np.cumsum([histogram[v] for v in values])
    lower = values[int(np.searchsorted(cumulative, (total - 1) // 2, side="right"))]
    upper = values[int(np.searchsorted(cumulative, total // 2, side="right"))]
    return (lower + upper) / 2


def image_bands(path: Path, spec, color: str, fit_ssr: float, steps_range, ssr_range):
    """The map's image in bands of rows, top first (row groups read from the last)."""
    import pyarrow.parquet as pq

    from .image import map_image

    pf = pq.ParquetFile(path)
    columns = ("status", "steps", "final_ssr", *(("chaos",) if color == "chaos" else ()))
    for k in reversed(range(pf.num_row_groups)):
        table = pf.read_row_group(k, columns=list(columns))
        status = pd.Categorical(table["status"].to_pandas(), categories=STATUSES).codes
        rows = table.num_rows // spec.width
        picture = map_image(
            color,
            (rows, spec.width),
            status=status.astype(np.int8),
            steps=table["steps"].to_numpy(),
            final_ssr=table["final_ssr"].to_numpy(),
            chaos=table["chaos"].to_numpy() if color == "chaos" else None,
            fit_ssr=fit_ssr,
            steps_range=steps_range,
            ssr_range=ssr_range,
        )
        yield picture.rgb


def chaos_entry(stats: Stats, moves: int) -> dict | None:
    """The JSON entry of ``--chaos``: the chaotic pixels (another status, or steps differing
    by more than one, from a start moved by 1e-12) overall, per status and per outcome
    family, with shares of the pixels of each."""
    if stats.chaotic is None:
        return None
    from .chaos import MOVE
    from .image import FAMILY_NAMES

    def share(part, whole):
        whole, part = int(whole), int(part)
        return {"pixels": whole, "chaotic": part, "share": part / whole if whole else None}

    total = int(stats.counts.sum())
    return {
        "moves": moves,
        "move": MOVE,
        **share(int(stats.chaotic.sum()), total),
        "by_status": {s: share(stats.chaotic[k], stats.counts[k]) for k, s in enumerate(STATUSES)},
        "by_outcome": {
            f: share(stats.chaotic_families[k], stats.families[k])
            for k, f in enumerate(FAMILY_NAMES)
        },
    }


def dimension_entries(stats: Stats, spec) -> dict:
    """The JSON entry of ``--dimension``: each boundary found (both classes present) with its
    dimension and uncertainty, the first (diverged vs not, else converged vs not) as the
    headline and the others under "also"."""
    if min(spec.width, spec.height) < 32:
        note = "map too small: box counting needs at least 32 x 32 pixels"
        return {"classes": None, "D": None, "table": [], "note": note}
    entries = []
    for label, name in BOUNDARIES:
        count = int(stats.counts[STATUSES.index(name)])
        if count == 0 or count == spec.n_pixels:
            continue
        found = stats.counters[label].dimension()
        entry = {"classes": label, **found.to_dict()}
        entry["summary"] = found.summary()
        entries.append(entry)
    if not entries:
        return {"classes": None, "D": None, "table": [], "note": "one outcome only: no boundary"}
    return {**entries[0], "also": entries[1:]}


__all__ = ["BOUNDARIES", "DEFAULT_FIT_SSR", "FIGURE_SIDE", "Stats", "first_pass", "image_bands"]
