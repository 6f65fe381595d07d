"""Initial parameters: the lessons' presets, explicit values, and random schemes from a seed.

Random schemes draw every weight, and the biases when ``biases="drawn"``, from the run's own
integer seed (see :mod:`bpsweep.engine._random`); biases are 0 otherwise. Draw order, for H hidden
nodes: weights w1 .. w(2H) take draws 0 .. 2H-1, biases b1 .. b(H+1) take draws 2H .. 3H.
Each draw is then scaled for its layer (hidden layer: fan_in 1, fan_out H; output layer:
fan_in H, fan_out 1):

- ``normal``:  N(0, scale^2)                                  (the lessons' default)
- ``uniform``: U(-scale, scale)
- ``xavier``:  N(0, (scale * sqrt(2 / (fan_in + fan_out)))^2)   (Glorot normal)
- ``he``:      N(0, (scale * sqrt(2 / fan_in))^2)
"""

from __future__ import annotations

import math

import numpy as np

from .._numba import njit
from ..errors import UsageError
from ..model import (
    HE,
    NORMAL,
    PRESETS,
    SCHEMES,
    UNIFORM,
    XAVIER,
    check_hidden,
    n_params,
    param_names,
)
from ..settings import check
from ._random import normal, uniform


def check_seed(seed) -> int:
    return check("seed", seed)


def check_scheme(scheme: str, scale: float, biases: str) -> None:
    """A random scheme (not a preset), its scale and bias mode, or a UsageError."""
    if scheme not in SCHEMES:
        raise UsageError(f"unknown init scheme {scheme!r}; expected one of {', '.join(SCHEMES)}")
    check("scale", scale)
    check("biases", biases)


@njit
def _layer_std(scheme, scale, hidden, output_layer):
    fan_in = hidden if output_layer else 1
    fan_out = 1 if output_layer else hidden
    if scheme == XAVIER:
        return scale * math.sqrt(2.0 / (fan_in + fan_out))
    if scheme == HE:
        return scale * math.sqrt(2.0 / fan_in)
    return scale  # normal, uniform


@njit
def _draw(seed, k, scheme, std):
    if scheme == UNIFORM:
        return std * (2.0 * uniform(seed, k) - 1.0)
    return std * normal(seed, k)  # normal, xavier, he


@njit
def draw_batch(seeds, hidden, scheme, scale, biases_drawn, out):
    """Fill ``out`` (R, 3H+1) with the starts of R runs: seeds (R,) uint64, scheme (R,) codes,
    scale (R,) float, biases_drawn (R,) bool. Parameter order as in :mod:`bpsweep.model`."""
    for r in range(seeds.shape[0]):
        s = seeds[r]
        hid_std = _layer_std(scheme[r], scale[r], hidden, False)
        out_std = _layer_std(scheme[r], scale[r], hidden, True)
        drawn = biases_drawn[r]
        for h in range(hidden):
            out[r, 2 * h] = _draw(s, h, scheme[r], hid_std)  # w(h+1)
            out[r, 2 * hidden + h] = _draw(s, hidden + h, scheme[r], out_std)  # w(H+h+1)
            out[r, 2 * h + 1] = _draw(s, 2 * hidden + h, scheme[r], hid_std) if drawn else 0.0
        out[r, 3 * hidden] = _draw(s, 3 * hidden, scheme[r], out_std) if drawn else 0.0


def draw_initial(
    hidden: int = 2,
    scheme: str = "normal",
    scale: float = 1.0,
    biases: str = "zeros",
    seed: int = 0,
) -> np.ndarray:
    """One run's random start: a float64 array of shape (3H + 1,), in parameter order."""
    check_hidden(hidden)
    check_scheme(scheme, scale, biases)
    out = np.empty((1, n_params(hidden)))
    draw_batch(
        np.array([check_seed(seed)], dtype=np.uint64),
        hidden,
        np.array([SCHEMES[scheme]]),
        np.array([float(scale)]),
        np.array([biases == "drawn"]),
        out,
    )
    return out[0]


def normal_starts(runs: int, hidden: int) -> np.ndarray:
    """The benchmarks' starts: runs with seeds 0..runs-1, scheme normal, scale 1, biases
    zero; float64 (runs, 3H + 1), row r equal to ``draw_initial(hidden, seed=r)``."""
    out = np.empty((runs, n_params(hidden)))
    draw_batch(
        np.arange(runs, dtype=np.uint64),
        hidden,
        np.full(runs, NORMAL, np.int64),
        np.ones(runs),
        np.zeros(runs, bool),
        out,
    )
    return out


def parse_init(spec) -> tuple[str | None, dict[str, float]]:
    """Split an init spec like ``"statquest-fitted,b3=1"`` into (preset or scheme, values).

    ``spec`` may be a string (comma-separated items: at most one preset or scheme name, and any
    number of ``name=value``), a dict of values, or None.
    """
    if spec is None:
        return None, {}
    if isinstance(spec, dict):
        return None, {str(k): _number(k, v) for k, v in spec.items()}
    if not isinstance(spec, str):
        raise UsageError(f"init must be a preset, a scheme or name=value items, got {spec!r}")
    base, values = None, {}
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        if "=" in item:
            name, _, text = item.partition("=")
            values[name.strip()] = _number(name.strip(), text.strip())
        elif item in PRESETS or item in SCHEMES:
            if base is not None:
                raise UsageError(f"init {spec!r} names both {base!r} and {item!r}; give one")
            base = item
        else:
            raise UsageError(
                f"init item {item!r} is neither a preset ({', '.join(PRESETS)}), a scheme "
                f"({', '.join(SCHEMES)}) nor name=value"
            )
    return base, values


def _number(name, value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"initial {name} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(number):
        raise UsageError(f"initial {name} must be a finite number, got {value!r}")
    return number


def initial_params(
    init=None,
    *,
    hidden: int = 2,
    scheme: str = "normal",
    scale: float = 1.0,
    biases: str = "zeros",
    seed: int = 0,
) -> np.ndarray:
    """Resolve an init spec to a start of shape (3H + 1,).

    ``init`` is a preset name, a scheme name, explicit ``name=value`` items (string or dict), a
    combination (``"statquest-fitted,b3=1"``), or an array of all 3H + 1 values. Parameters not
    given explicitly come from the preset, else from ``scheme`` drawn with ``seed``.
    """
    check_hidden(hidden)
    names = param_names(hidden)
    if isinstance(init, (np.ndarray, list, tuple)):
        values = np.array(init, dtype=np.float64)
        if values.shape != (len(names),):
            raise UsageError(
                f"init array must have {len(names)} values "
                f"({', '.join(names)}), got shape {values.shape}"
            )
        if not np.isfinite(values).all():
            raise UsageError("init array has a NaN or infinite value")
        return values
    base, values = parse_init(init)
    unknown = [k for k in values if k not in names]
    if unknown:
        raise UsageError(
            f"unknown parameter(s) {', '.join(unknown)} in init; "
            f"with hidden={hidden} the parameters are {', '.join(names)}"
        )
    if base in PRESETS:
        if hidden != 2:
            raise UsageError(
                f"preset {base!r} is for the lessons' network (hidden=2), not hidden={hidden}"
            )
        start = np.array([PRESETS[base][k] for k in names])
    else:
        start = draw_initial(hidden, base or scheme, scale, biases, seed)
    for k, v in values.items():
        start[names.index(k)] = v
    return start
