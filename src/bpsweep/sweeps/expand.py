"""Expand a sweep config into its table of runs, any slice of it computable on its own.

Run ``i`` (its ``run_id``, 0-based, in expansion order) depends only on the config and ``i``, so
chunk ``[start, stop)`` is expanded without building the other runs:

- grid mode: the cartesian product of the axes in the order they appear in ``[sweep]``, the
  first axis varying slowest (like ``itertools.product``): ``i`` is read as a mixed-radix number;
- random mode: axis ``j`` of run ``i`` takes uniform draw ``i * A + j`` (A axes) of the sweep
  seed (:mod:`bpsweep.engine._random`, counter-based): a finite list is a uniform choice,
  ``uniform``
  is ``low + (high - low) * u``, ``loguniform`` the same on log scale; integer settings draw a
  whole number in [low, high].

Initial parameters are drawn per run from its own seed, scheme, scale and biases with
:func:`bpsweep.engine.starts.draw_batch` (a preset scheme gives the preset's values), then every
``init_<p>`` setting, fixed or swept, replaces the draw for parameter p.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .._numba import njit
from ..engine._random import uniform
from ..engine.starts import PRESETS, SCHEMES, draw_batch
from ..errors import UsageError
from ..model import param_names
from ..settings import SETTINGS
from .config import Spaced, SweepConfig
from .window import pixels_at

OUTCOME_COLUMNS = ("initial_ssr", "final_ssr", "steps", "status")
_DTYPES = {"int": np.int64, "float": np.float64, "str": object}


#: A map's pixel columns, first in its table (see :mod:`bpsweep.sweeps.window`).
MAP_COLUMNS = ("map_i", "map_j")


def run_columns(config: SweepConfig) -> list[str]:
    """Columns of :func:`expand`'s table: (a map's map_i, map_j), run_id, settings, init_<p>
    over the sweep's params."""
    pixels = list(MAP_COLUMNS) if config.mode == "map" else []
    params = (f"init_{p}" for p in config.param_union())
    return [*pixels, "run_id", *config.setting_columns(), *params]


def result_columns(config: SweepConfig) -> list[str]:
    """Columns of the results table (the CSV), in order."""
    return [*run_columns(config), *(f"final_{p}" for p in config.param_union()), *OUTCOME_COLUMNS]


def column_kind(column: str) -> str:
    """ "int", "float" or "str": the type of a results column."""
    if column in ("run_id", "steps", *MAP_COLUMNS):
        return "int"
    if column == "status":
        return "str"
    if column in SETTINGS:
        return SETTINGS[column].kind
    return "float"


@njit
def _uniform_draws(sweep_seed, run_ids, n_axes, out):
    """out (R, n_axes): draw i * n_axes + j of sweep_seed for run i = run_ids[r], axis j."""
    for r in range(run_ids.shape[0]):
        i = run_ids[r]
        for j in range(n_axes):
            out[r, j] = uniform(sweep_seed, i * n_axes + j)


def axis_indices_and_draws(config: SweepConfig, run_ids: np.ndarray) -> dict[str, np.ndarray]:
    """Each axis's values for ``run_ids`` (any int64 array of run ids), as arrays of length R."""
    axes = config.axes
    out = {}
    if not axes:
        return out
    if config.mode == "map":
        return pixels_at(config.map, run_ids)
    if config.mode == "grid":
        sizes = [len(a.values) for a in axes]
        stride = 1
        for a, n in zip(reversed(axes), reversed(sizes)):
            idx = (run_ids // stride) % n
            out[a.name] = _take(a.values, idx, a.name)
            stride *= n
        return {a.name: out[a.name] for a in axes}
    u = np.empty((len(run_ids), len(axes)))
    _uniform_draws(np.uint64(config.sweep_seed), run_ids, len(axes), u)
    for j, a in enumerate(axes):
        kind = SETTINGS[a.name].kind if a.name in SETTINGS else "float"
        col = u[:, j]
        if a.kind == "values":
            n = len(a.values)
            idx = np.minimum((col * n).astype(np.int64), n - 1)
            out[a.name] = _take(a.values, idx, a.name)
        elif kind == "int":
            lo, hi = int(a.low), int(a.high)
            if a.kind == "uniform":
                v = lo + np.floor(col * (hi - lo + 1))
            else:  # log-uniform on [lo, hi + 1), floored
                v = np.floor(np.exp(math.log(lo) + col * (math.log(hi + 1) - math.log(lo))))
            out[a.name] = np.clip(v, lo, hi).astype(np.int64)
        elif a.kind == "uniform":
            out[a.name] = a.low + (a.high - a.low) * col
        else:
            lo, hi = math.log(a.low), math.log(a.high)
            out[a.name] = np.minimum(np.exp(lo + (hi - lo) * col), a.high)
    return out


def _take(values, idx: np.ndarray, name: str) -> np.ndarray:
    if isinstance(values, Spaced):
        return values.take(idx)
    kind = SETTINGS[name].kind if name in SETTINGS else "float"
    return np.asarray(values, dtype=_DTYPES[kind])[idx]


def expand(config: SweepConfig, start: int = 0, stop: int | None = None) -> pd.DataFrame:
    """The runs ``[start, stop)`` of ``config`` (default: all) as a DataFrame.

    Columns: :func:`run_columns` -- run_id (int), the settings (ints, floats, strings), and
    ``init_<p>`` (float) for every parameter of the sweep (NaN where a run's network lacks p).
    """
    n = config.n_runs
    stop = n if stop is None else min(int(stop), n)
    start = int(start)
    if not 0 <= start <= stop:
        raise UsageError(f"expand: expected 0 <= start <= stop <= {n}, got {start}, {stop}")
    return expand_ids(config, np.arange(start, stop, dtype=np.int64))


def expand_ids(config: SweepConfig, run_ids: np.ndarray) -> pd.DataFrame:
    """:func:`expand` of any run ids (an int64 array of ids in [0, n_runs), in any order):
    each run depends only on the config and its id."""
    columns = expand_columns(config, run_ids)
    # in one piece: adding thousands of init columns one by one (hidden = 1024: 3,073) made
    # pandas warn, for every further column, that the frame was highly fragmented
    frame = pd.DataFrame(columns)
    text = [n for n in config.setting_columns() if SETTINGS[n].kind == "str"]
    return frame.astype(dict.fromkeys(text, object))  # plain objects, not pandas' str dtype


def expand_columns(config: SweepConfig, run_ids: np.ndarray) -> dict[str, np.ndarray]:
    """The runs ``run_ids`` as columns (:func:`run_columns`, in order): name -> array of one
    value per run (int64, float64, or object for text settings). No per-run Python: a sweep
    expands a chunk of 50,000 runs in a few milliseconds."""
    run_ids = np.ascontiguousarray(run_ids, dtype=np.int64)
    r = len(run_ids)
    swept = axis_indices_and_draws(config, run_ids) if r else {}
    columns: dict[str, np.ndarray] = {}
    if config.mode == "map":
        pixels = swept if r else {c: np.empty(0, dtype=np.int64) for c in MAP_COLUMNS}
        columns.update({c: pixels[c] for c in MAP_COLUMNS})
    columns["run_id"] = run_ids
    for name in config.setting_columns():
        if name in swept:
            columns[name] = swept[name]
        else:
            columns[name] = constant(config.fixed[name], r, _DTYPES[SETTINGS[name].kind])
    union = config.param_union()
    init = np.full((r, len(union)), np.nan)
    if r:
        _fill_starts(config, columns, swept, union, init)
    for j, p in enumerate(union):
        columns[f"init_{p}"] = init[:, j]
    return columns


def constant(value, n: int, dtype) -> np.ndarray:
    """An array of ``n`` copies of ``value`` (np.full of a string in an object array takes
    about 50x longer than a slice assignment: 7 ms for a tile of 65,536 runs)."""
    out = np.empty(n, dtype=dtype)
    out[:] = value
    return out


def _fill_starts(config, columns, swept, union, init) -> None:
    hidden = columns["hidden"]
    scheme = columns["scheme"]
    for h in np.unique(hidden):
        h = int(h)
        rows = np.flatnonzero(hidden == h)
        names = param_names(h)
        block = np.empty((len(rows), len(names)))
        sch = scheme[rows]
        kinds = pd.unique(sch)
        if len(kinds) == 1:
            codes = np.full(len(rows), SCHEMES.get(kinds[0], 0), dtype=np.int64)
        else:  # a preset's code is irrelevant: its rows are overwritten below
            codes = np.array(pd.Series(sch).map(SCHEMES).fillna(0), dtype=np.int64)  # writable
        if not all(k in PRESETS for k in kinds):  # presets draw nothing (a map's usual start)
            draw_batch(
                columns["seed"][rows].astype(np.uint64),
                h,
                codes,
                np.ascontiguousarray(columns["scale"][rows], dtype=np.float64),
                columns["biases"][rows] == "drawn",
                block,
            )
        for preset, values in PRESETS.items():
            if preset not in kinds:
                continue
            is_preset = sch == preset
            if is_preset.any():
                block[is_preset] = [values[p] for p in names]
        for j, p in enumerate(names):
            key = f"init_{p}"
            if key in swept:
                block[:, j] = swept[key][rows]
            elif key in config.fixed:
                block[:, j] = config.fixed[key]
        cols = [union.index(p) for p in names]
        init[np.ix_(rows, cols)] = block
