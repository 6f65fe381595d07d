"""Maps: a plane of runs over two settings, its window, pixel coordinates and zooms.

A map fixes every setting but two and trains one run per pixel of a W x H grid over those two
(see ``docs/maps.md``). This module is arrays in, arrays out; training the pixels is the sweep
runner's, colouring and drawing them is :mod:`bpsweep.maps.image`'s, measuring the boundary
:mod:`bpsweep.maps.boxcount`'s.

**The window.** Pixel (i, j), i = 0..W-1 left to right and j = 0..H-1 bottom to top, is the
run at::

    x = cx + (i + 0.5 - W/2) * sx / W        y = cy + (j + 0.5 - H/2) * sy / H

with centre (cx, cy), full span (sx, sy) and resolution (W, H). On a ``log`` axis centre and
span are in log10 units and the setting's value is 10 ** (that). Each coordinate is computed
from the formula directly (never by accumulation): on a linear axis it is the exact rational
value rounded once to float64 (correctly rounded), on a log axis 10**cx (libm, within 1 ulp)
times 10**offset with the offset exact and rounded once, so that a window keeps distinct,
monotone pixels down to spans of about 1e-12 of its centre (float64 holds about 16 digits).

**Run order.** Run k is pixel (i, j) = (k % W, k // W): rows from the bottom (j = 0), left to
right within a row, so a tile of consecutive runs is a band of whole rows (plus a partial row at
its ends) and the image's rows are contiguous. :func:`pixel_of` and :func:`run_of` convert.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError, UsageError
from ..settings import INIT_PARAM, INIT_PARAM_SETTING, SETTINGS, Setting, did_you_mean
from ..settings import found as _found
from ..settings import unknown_key as _unknown

#: Keys of a ``[map]`` table; ``scale``, ``color`` and ``columns`` are optional.
MAP_KEYS = ("x", "y", "center", "span", "resolution", "scale", "color", "columns")
#: What a map's results keep: every column of a sweep, or only map_i, map_j, the two axes,
#: status, steps and final_ssr ("lean": about a fifth of the bytes).
COLUMN_SETS = ("full", "lean")
SCALES = ("linear", "log")
#: Colour modes of the image (see :mod:`bpsweep.maps.image`).
COLOR_MODES = ("outcome", "steps", "final_ssr", "basin", "chaos")
#: Largest width or height: the image and the per-pixel grids are held in memory while the
#: map is drawn (:data:`bpsweep.maps.runner.DRAW_BYTES`: 16384 x 16384 needs about 51 GB to draw;
#: the memory check refuses what this machine cannot hold).
MAX_SIDE = 16384
#: Most points of a line (a ``[map]`` with only ``x``: a 1-D slice of a plane).
MAX_LINE = 10_000_000
LN10 = math.log(10.0)


def default_axes() -> dict[str, Setting]:
    """The settings a map may use as an axis: every float setting of
    :data:`bpsweep.settings.SETTINGS` (``lr_hidden`` and ``lr_output`` among them) and
    ``init_<p>`` (any ``init_`` + parameter name; which names the network has is the config's
    cross-check). Whole-number settings (hidden, seed, max_steps) are not continuous and cannot
    be map axes."""
    out = {n: s for n, s in SETTINGS.items() if s.kind == "float"}
    out["init_<p>"] = INIT_PARAM_SETTING
    return out


def _axis_setting(name: str, axes: Mapping[str, Setting]) -> Setting | None:
    if name in axes:
        return axes[name]
    if "init_<p>" in axes and INIT_PARAM.match(name):
        return dataclasses.replace(axes["init_<p>"], name=name)
    return None


# ---------------------------------------------------------------- the spec


@dataclass(frozen=True)
class MapSpec:
    """A validated map window.

    ``x``, ``y``: the settings on the axes; ``center``, ``span``: (x, y) pairs in the axes'
    units (log10 units on a log axis; span is the full width and height); ``resolution``:
    (W, H) pixels; ``scale``: ("linear" | "log", same); ``color``: the default colour mode.
    ``source`` names the config in messages; ``settings`` are the (x, y) :class:`Setting`
    rules the window was checked against (kept so that zooms are checked the same way).
    """

    x: str
    y: str | None  #: None: a line (a 1-D slice along x; height 1, the y entries unused)
    center: tuple[float, float]
    span: tuple[float, float]
    resolution: tuple[int, int]
    scale: tuple[str, str] = ("linear", "linear")
    color: str = "outcome"
    columns: str = "full"
    source: str = field(default="<map>", compare=False)
    settings: tuple = field(default=(None, None), compare=False, repr=False)

    @property
    def width(self) -> int:
        return self.resolution[0]

    @property
    def height(self) -> int:
        return self.resolution[1]

    @property
    def n_pixels(self) -> int:
        """W * H: the number of runs."""
        return self.resolution[0] * self.resolution[1]

    @property
    def is_line(self) -> bool:
        """A 1-D slice: a ``[map]`` with only ``x``, W points along it (H = 1)."""
        return self.y is None

    @property
    def names(self) -> tuple[str, ...]:
        """The settings on the axes: (x, y), or (x,) for a line."""
        return (self.x,) if self.y is None else (self.x, self.y)

    def axis_range(self, axis: int) -> tuple[float, float]:
        """The setting's values at the first and the last pixel along axis 0 (x) or 1 (y)."""
        n = self.resolution[axis]
        c, s, scale = self.center[axis], self.span[axis], self.scale[axis]
        if n <= WHOLE_AXIS:
            values = _cached_axis(c, s, n, scale)
        else:
            values = axis_values(c, s, n, scale, [0, n - 1])
        return float(values[0]), float(values[-1])

    def x_values(self) -> np.ndarray:
        """The x setting's value of each column i = 0..W-1: float64 (W,), increasing
        (read-only: computed once per window, as every tile of a map asks for it)."""
        return _cached_axis(self.center[0], self.span[0], self.width, self.scale[0])

    def y_values(self) -> np.ndarray:
        """The y setting's value of each row j = 0..H-1 (bottom to top): float64 (H,),
        read-only."""
        return _cached_axis(self.center[1], self.span[1], self.height, self.scale[1])

    def edges(self, axis: int) -> tuple[float, float]:
        """(low, high) edge of the window along axis 0 (x) or 1 (y), in the axis' units
        (log10 units on a log axis): centre -+ span / 2."""
        c, s = self.center[axis], self.span[axis]
        return (c - s / 2, c + s / 2)

    def with_resolution(self, resolution) -> MapSpec:
        """The same window at another resolution: (W, H) or the text ``"WxH"`` (``--resolution``).
        Raises UsageError when the text is malformed or the window cannot hold that many
        distinct pixels."""
        if self.is_line:
            return self._line_resolution(resolution)
        if isinstance(resolution, str):
            resolution = parse_resolution(resolution)
        w, h = _check_resolution(resolution, lambda m: UsageError(f"--resolution: {m}"))
        new = dataclasses.replace(self, resolution=(w, h))
        _check_window(new, lambda key, m: UsageError(f"--resolution {w}x{h}: {m}"))
        return new

    def _line_resolution(self, resolution) -> MapSpec:
        """A line at N points: ``"N"`` (``--resolution N``), N or (N, 1)."""
        text = str(resolution).strip()
        if isinstance(resolution, (tuple, list)) and len(resolution) == 2 and resolution[1] == 1:
            text = str(resolution[0])
        if not re.fullmatch(r"[0-9]+(x1)?", text) or not 1 <= int(text.split("x")[0]) <= MAX_LINE:
            raise UsageError(
                f"--resolution: expected N, a whole number of points from 1 to {MAX_LINE:,} "
                f"({self.source} is a line: a [map] with only x), found {resolution!r}"
            )
        n = int(text.split("x")[0])
        new = dataclasses.replace(self, resolution=(n, 1))
        _check_window(new, lambda key, m: UsageError(f"--resolution {n}: {m}"))
        return new

    def to_table(self) -> dict:
        """The ``[map]`` table of this window (plain data; :func:`parse_map_section` of it gives
        the same spec back): for the resolved config and fingerprints."""
        if self.is_line:
            return {
                "x": self.x,
                "center": [self.center[0]],
                "span": [self.span[0]],
                "resolution": [self.width],
                "scale": [self.scale[0]],
                "color": self.color,
                **({"columns": self.columns} if self.columns != "full" else {}),
            }
        return {
            "x": self.x,
            "y": self.y,
            "center": list(self.center),
            "span": list(self.span),
            "resolution": list(self.resolution),
            "scale": list(self.scale),
            "color": self.color,
            # only when not the default: a full map's table (and fingerprint) is as it was
            **({"columns": self.columns} if self.columns != "full" else {}),
        }

    def to_dict(self) -> dict:
        """The window as plain JSON data (for the results' sidecar): :meth:`to_table` and the
        first and last pixel's values of each setting (``x_range``, ``y_range``)."""
        ranges = {"x_range": list(self.axis_range(0))}
        if not self.is_line:
            ranges["y_range"] = list(self.axis_range(1))
        return {**self.to_table(), **ranges}


def parse_resolution(text: str) -> tuple[int, int]:
    """``"1024x768"`` -> (1024, 768); a UsageError for anything else."""
    m = re.fullmatch(r"\s*([0-9]+)\s*[xX]\s*([0-9]+)\s*", str(text))
    if not m:
        raise UsageError(
            f"--resolution: expected WxH with whole numbers (e.g. 1024x768), found {text!r}"
        )
    return _check_resolution(
        (int(m.group(1)), int(m.group(2))), lambda msg: UsageError(f"--resolution: {msg}")
    )


def _check_resolution(value, fail) -> tuple[int, int]:
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in value)
        or not all(1 <= v <= MAX_SIDE for v in value)
    ):
        raise fail(
            f"expected two whole numbers from 1 to {MAX_SIDE} (width, height), "
            f"found {_found(list(value) if isinstance(value, tuple) else value)}"
        )
    return int(value[0]), int(value[1])


def _pair(source, key, value, check, expected) -> tuple:
    if not isinstance(value, list) or len(value) != 2 or not all(check(v) for v in value):
        raise ConfigError(f"{source}: [map] {key}: expected {expected}, found {_found(value)}")
    return tuple(value)


def _finite(v) -> bool:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(float(v))
    except OverflowError:  # an int beyond float64
        return False


def parse_map_section(
    table: dict, source: str, axes: Mapping[str, Setting] | None = None
) -> MapSpec:
    """Validate a ``[map]`` TOML table (already parsed) into a :class:`MapSpec`.

    ``source`` (the config's file name) starts every message. ``axes`` maps the names allowed
    on an axis to their :class:`bpsweep.settings.Setting` (``kind``, ``expected``, ``low``,
    ``low_open``, ``high``; the key ``"init_<p>"`` stands for every ``init_`` name); default
    :func:`default_axes`. Every error is a :class:`ConfigError` naming ``[map] <key>``, what
    was expected and what was found; an unknown key gets a "did you mean".
    """
    axes = default_axes() if axes is None else axes
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [map]: expected a table, found {_found(table)}")
    for key in table:
        if key not in MAP_KEYS:
            raise _unknown(source, "[map]", key, MAP_KEYS)
    if "y" not in table and "x" in table:
        return _parse_line(table, source, axes)
    for key in ("x", "y", "center", "span", "resolution"):
        if key not in table:
            raise ConfigError(
                f"{source}: [map] {key}: expected a value (a map needs x, y, center, span and "
                f"resolution), found none"
            )
    names, settings = [], []
    for key in ("x", "y"):
        names.append(table[key])
        settings.append(_axis_of(source, key, table[key], axes))
    if names[0] == names[1]:
        raise ConfigError(
            f"{source}: [map] y: expected a setting other than x, found {names[1]!r} on both axes"
        )
    center = _pair(source, "center", table["center"], _finite, "two finite numbers")
    span = _pair(
        source,
        "span",
        table["span"],
        lambda v: _finite(v) and v > 0,
        "two finite numbers > 0",
    )
    resolution = _check_resolution(
        table["resolution"], lambda m: ConfigError(f"{source}: [map] resolution: {m}")
    )
    scale = table.get("scale", ["linear", "linear"])
    scale = _pair(
        source,
        "scale",
        scale,
        lambda v: v in SCALES,
        "two of 'linear', 'log' (x, y)",
    )
    color, columns = _color_and_columns(table, source)
    spec = MapSpec(
        x=names[0],
        y=names[1],
        center=(float(center[0]), float(center[1])),
        span=(float(span[0]), float(span[1])),
        resolution=resolution,
        scale=scale,
        color=color,
        columns=columns,
        source=source,
        settings=tuple(settings),
    )
    _check_window(spec, lambda key, m: ConfigError(f"{source}: [map] {key}: {m}"))
    return spec


def _parse_line(table: dict, source: str, axes) -> MapSpec:
    """A ``[map]`` with only ``x``: a line of N points along one setting (``center``, ``span``,
    ``resolution`` and ``scale`` each one value, or a list of one)."""
    if any(isinstance(table.get(k), list) and len(table[k]) == 2 for k in MAP_KEYS):
        raise ConfigError(
            f"{source}: [map] y: expected a value (a map needs x, y, center, span and "
            f"resolution; a line, a [map] with only x, takes one center, span and "
            f"resolution = [N]), found none"
        )
    for key in ("center", "span", "resolution"):
        if key not in table:
            raise ConfigError(
                f"{source}: [map] {key}: expected a value (a line, a [map] with only x, needs "
                f"x, center, span and resolution = [N]), found none"
            )

    def one(key, check, expected):
        value = table[key]
        value = value[0] if isinstance(value, list) and len(value) == 1 else value
        if not check(value):
            raise ConfigError(
                f"{source}: [map] {key}: expected {expected} (a line: a [map] with only x), "
                f"found {_found(table[key])}"
            )
        return value

    setting = _axis_of(source, "x", table["x"], axes)
    center = one("center", _finite, "one finite number")
    span = one("span", lambda v: _finite(v) and v > 0, "one finite number > 0")
    n = one(
        "resolution",
        lambda v: (
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 1 <= v <= MAX_LINE
        ),
        f"[N], a whole number of points from 1 to {MAX_LINE:,}",
    )
    scale = (
        one("scale", lambda v: v in SCALES, "one of 'linear', 'log'")
        if "scale" in table
        else "linear"
    )
    color, columns = _color_and_columns(table, source)
    spec = MapSpec(
        x=table["x"],
        y=None,
        center=(float(center), 0.0),
        span=(float(span), 1.0),
        resolution=(int(n), 1),
        scale=(scale, "linear"),
        color=color,
        columns=columns,
        source=source,
        settings=(setting, None),
    )
    _check_window(spec, lambda key, m: ConfigError(f"{source}: [map] {key}: {m}"))
    return spec


def _color_and_columns(table: dict, source: str) -> tuple[str, str]:
    color = table.get("color", "outcome")
    if color not in COLOR_MODES:
        raise ConfigError(
            f"{source}: [map] color: expected one of {', '.join(COLOR_MODES)}, found "
            f"{_found(color)}"
        )
    columns = table.get("columns", "full")
    if columns not in COLUMN_SETS:
        raise ConfigError(
            f"{source}: [map] columns: expected one of {', '.join(COLUMN_SETS)}, found "
            f"{_found(columns)}"
        )
    return color, columns


def _axis_of(source: str, key: str, name, axes) -> Setting:
    """The :class:`Setting` of the map axis ``key`` (x or y) named ``name``, or a ConfigError."""
    known = [n for n in axes if n != "init_<p>"] + (["init_<p>"] if "init_<p>" in axes else [])
    setting = _axis_setting(name, axes) if isinstance(name, str) else None
    if setting is None and name in SETTINGS:  # a whole-number or text setting
        raise ConfigError(
            f"{source}: [map] {key}: expected a setting with continuous values (a map axis "
            f"takes a value at every pixel: {', '.join(known)}), found {name!r}, which "
            f"takes {SETTINGS[name].expected}; sweep it with bpsweep run instead"
        )
    if setting is None:
        hint = did_you_mean(name, known) if isinstance(name, str) else ""
        raise ConfigError(
            f"{source}: [map] {key}: expected the name of a numeric setting "
            f"({', '.join(known)}), found {_found(name)}{hint}"
        )
    if setting.kind != "float":
        raise ConfigError(
            f"{source}: [map] {key}: expected a setting with continuous values (a map "
            f"axis takes fractional values), found {name!r} ({setting.expected})"
        )
    return setting


def _check_window(spec: MapSpec, fail) -> None:
    """Every pixel's value finite, allowed for its setting, and distinct from its neighbour's
    (strictly increasing); ``fail(key, message)`` builds the error."""
    for axis, (name, setting) in enumerate(zip(spec.names, spec.settings)):
        n = spec.resolution[axis]
        values = _probe(spec, axis) if n > WHOLE_AXIS else (spec.x_values(), spec.y_values())[axis]
        log = spec.scale[axis] == "log"
        c, s = spec.center[axis], spec.span[axis]
        units = " (log10 units)" if log else ""
        where = f"{name} from centre {c!r} and span {s!r}{units}"
        if not np.all(np.isfinite(values)) or (log and not np.all(values > 0)):
            raise fail(
                "center",
                f"expected a window whose values of {where} are finite"
                + (" and > 0" if log else "")
                + f", found values up to {float(values[-1])!r} and down to {float(values[0])!r}; "
                "move the centre or shrink the span",
            )
        if len(values) > 1 and not np.all(np.diff(values) > 0):
            raise fail(
                "span",
                f"expected a span that float64 resolves into {n} distinct values "
                f"of {where}, found neighbouring pixels with the same value; widen the span or "
                f"lower the resolution (spans down to about 1e-12 of the centre are exact)",
            )
        if setting is not None:
            for v in (values[0], values[-1]):
                if not setting.in_bounds(v):
                    raise fail(
                        "center",
                        f"expected {name} to be {setting.expected} at every pixel, found the "
                        f"window of {where} reaching {float(v)!r}; "
                        "move the centre or shrink the span"
                        + ("" if log else " (or use scale = 'log' on this axis)"),
                    )


# ---------------------------------------------------------------- pixel coordinates


def _exact_offsets(c: float, s: float, n: int, with_centre: bool, idx=None) -> np.ndarray:
    """(c if with_centre else 0) + (2i + 1 - n) * s / (2n) for i = 0..n-1 (or for the i in
    ``idx``), each the exact rational value correctly rounded to float64 (Python's int / int
    is correctly rounded)."""
    cn, cd = float(c).as_integer_ratio() if with_centre else (0, 1)
    sn, sd = float(s).as_integer_ratio()
    den = sd * 2 * n
    d = math.lcm(cd, den)
    a, b = cn * (d // cd), sn * (d // den)
    ks = range(1 - n, n, 2) if idx is None else [2 * int(i) + 1 - n for i in idx]
    out = np.empty(len(ks), dtype=np.float64)
    for i, k in enumerate(ks):
        try:
            out[i] = (a + k * b) / d
        except OverflowError:
            out[i] = math.copysign(math.inf, a + k * b)
    return out


def axis_values(center: float, span: float, n: int, scale: str = "linear", idx=None) -> np.ndarray:
    """The setting's value at each of ``n`` pixel centres across a window: float64 (n,).

    Linear: ``center + (i + 0.5 - n/2) * span / n``, correctly rounded from the exact value.
    Log (``center``, ``span`` in log10 units): ``10 ** (center + offset_i)`` computed as
    ``P * 10**offset_i`` with ``P = 10**center`` and each exact offset rounded once; for
    offsets under 0.5 / ln 10 the factor is taken as ``P + P * expm1(offset_i * ln 10)``, which
    keeps neighbouring pixels' values apart by their true difference down to spans of 1e-12.
    Values are within about 1.5 ulp of the exact ones (non-finite when out of range).
    """
    if scale == "linear":
        return _exact_offsets(center, span, n, True, idx)
    if scale != "log":
        raise UsageError(f"scale: expected one of {', '.join(SCALES)}, found {scale!r}")
    offsets = _exact_offsets(center, span, n, False, idx)
    try:
        p = 10.0**center
    except OverflowError:
        p = math.inf
    with np.errstate(over="ignore", invalid="ignore"):
        z = offsets * LN10
        near = np.abs(z) < 0.5
        out = np.empty(len(offsets), dtype=np.float64)
        out[near] = p + p * np.expm1(z[near])
        out[~near] = p * np.power(10.0, offsets[~near])
    return out


@functools.lru_cache(maxsize=64)
def _cached_axis(center: float, span: float, n: int, scale: str) -> np.ndarray:
    values = axis_values(center, span, n, scale)
    values.flags.writeable = False
    return values


def pixel_of(k, width: int):
    """Run index k (int or int array) -> pixel (i, j) = (k % W, k // W)."""
    k = np.asarray(k) if not isinstance(k, int) else k
    return k % width, k // width


def run_of(i, j, width: int):
    """Pixel (i, j) -> run index k = j * W + i (ints or int arrays)."""
    return j * width + i


#: Widest axis computed whole (and cached) for a window's pixels.
WHOLE_AXIS = 1 << 16


def _values_at(spec: MapSpec, axis: int, idx: np.ndarray) -> np.ndarray:
    """The axis' values at pixel indices ``idx`` (each distinct index computed once)."""
    unique, inverse = np.unique(idx, return_inverse=True)
    n = spec.resolution[axis]
    values = axis_values(spec.center[axis], spec.span[axis], n, spec.scale[axis], unique)
    return values[inverse]


def _probe(spec: MapSpec, axis: int, n: int | None = None) -> np.ndarray:
    """The axis' values at its ends and its centre, with their neighbours (where float64
    first fails to separate neighbouring pixels, the values being largest or the axis
    widest there): checking every pixel of a long axis would cost seconds."""
    n = spec.resolution[axis] if n is None else n
    probe = np.unique(np.clip([0, 1, n // 2 - 1, n // 2, n // 2 + 1, n - 2, n - 1], 0, n - 1))
    return axis_values(spec.center[axis], spec.span[axis], n, spec.scale[axis], probe)


def max_level(spec: MapSpec, tile: int = 256, most: int = 60) -> int:
    """The deepest level z (grids of tile * 2^z pixels a side over this window) at which
    float64 still gives every pixel of each axis its own value, checked at the window's edges
    and centre (where neighbours collide first: the largest values)."""
    for z in range(most + 1):
        n = tile << z
        probe = np.array([0, 1, n // 2 - 1, n // 2, n // 2 + 1, n - 2, n - 1])
        for axis in (0, 1):
            v = axis_values(spec.center[axis], spec.span[axis], n, spec.scale[axis], probe)
            if not (np.all(np.isfinite(v)) and np.all(np.diff(v) > 0)):
                return max(z - 1, 0)
    return most


def pixel_values(spec: MapSpec, start: int = 0, stop: int | None = None):
    """The runs k = start..stop-1 of a map (a tile; default: all): a dict of int64 arrays
    ``map_i``, ``map_j`` and float64 arrays named ``spec.x`` and ``spec.y`` with each run's
    values, all of shape (stop - start,), in run order (see :func:`pixel_of`)."""
    n = spec.n_pixels
    stop = n if stop is None else stop
    if not (0 <= start <= stop <= n):
        raise UsageError(f"pixel_values: expected 0 <= start <= stop <= {n}, found {start}, {stop}")
    return pixels_at(spec, np.arange(start, stop, dtype=np.int64))


def pixels_at(spec: MapSpec, runs: np.ndarray) -> dict:
    """:func:`pixel_values` of any run indices (an int64 array, each in [0, W*H)). A window
    wider or taller than :data:`WHOLE_AXIS` (an explorer's deep level: 256 * 2^z pixels a
    side) computes only the columns and rows the runs are in."""
    i, j = pixel_of(np.asarray(runs, dtype=np.int64), spec.width)
    out = {"map_i": i, "map_j": j}
    for axis, name in enumerate(spec.names):
        k = (i, j)[axis]
        if spec.resolution[axis] > WHOLE_AXIS:
            out[name] = _values_at(spec, axis, k)
        else:
            out[name] = (spec.x_values(), spec.y_values())[axis][k]
    return out


def to_grid(values, spec_or_shape) -> np.ndarray:
    """Per-pixel values in run order (W*H,) -> a (H, W) grid indexed [j, i] (row 0 = bottom,
    j = 0). A (H, W) array is returned as is (checked)."""
    w, h = (
        spec_or_shape.resolution
        if isinstance(spec_or_shape, MapSpec)
        else (spec_or_shape[1], spec_or_shape[0])
    )
    values = np.asarray(values)
    if values.shape == (h, w):
        return values
    if values.shape == (w * h,):
        return values.reshape(h, w)
    raise UsageError(
        f"per-pixel values: expected shape ({w * h},) in run order or ({h}, {w}), "
        f"found {values.shape}"
    )


# ---------------------------------------------------------------- zoom


def _to_axis_units(spec: MapSpec, axis: int, value, what: str) -> float:
    if not _finite(value):
        raise UsageError(
            f"{what}: expected a finite number for {spec.names[axis]}, found {value!r}"
        )
    if spec.scale[axis] == "log":
        if value <= 0:
            raise UsageError(
                f"{what}: expected a value > 0 for {spec.names[axis]} (a log axis), found {value!r}"
            )
        return math.log10(value)
    return float(value)


def parse_zoom(text: str) -> tuple[float, float, float]:
    """``--zoom X,Y,FACTOR`` text -> (x, y, factor) floats; a UsageError unless three finite
    numbers with FACTOR > 0 (whether X, Y fit the map is :func:`zoom`'s check)."""
    parts = str(text).split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 3 or not all(math.isfinite(v) for v in values) or values[2] <= 0:
        raise UsageError(
            f"--zoom: expected X,Y,FACTOR (three finite numbers, FACTOR > 0, e.g. "
            f"0.35,0.2,1e6), found {text!r}"
        )
    return values[0], values[1], values[2]


def zoom(spec: MapSpec, x, y, factor) -> MapSpec:
    """The window re-centred on the point (x, y), given in the settings' units (e.g. an
    ``lr_hidden`` value, not its log10), with both spans divided by ``factor`` (> 1 zooms in,
    < 1 out). Raises UsageError (naming ``--zoom``) when the new window leaves the settings'
    ranges or is too narrow for float64 to keep its pixels apart."""
    if not (_finite(factor) and factor > 0):
        raise UsageError(f"--zoom: expected a finite FACTOR > 0, found {factor!r}")
    cx = _to_axis_units(spec, 0, x, "--zoom X")
    cy = _to_axis_units(spec, 1, y, "--zoom Y")
    span = (spec.span[0] / factor, spec.span[1] / factor)
    if not all(math.isfinite(s) and s > 0 for s in span):
        raise UsageError(f"--zoom: expected a FACTOR leaving a finite span > 0, found {factor!r}")
    new = dataclasses.replace(spec, center=(cx, cy), span=span)
    _check_window(new, lambda key, m: UsageError(f"--zoom {x},{y},{factor}: {m}"))
    return new


def zoom_frames(spec: MapSpec, target: MapSpec, k: int) -> list[MapSpec]:
    """K windows zooming geometrically from ``spec``'s window to ``target``'s (same axes and
    scales; the frames take the target's resolution). The first is ``spec``'s window, the last
    is ``target``.

    Rule, per axis in its units: span_t = s0 * (s1 / s0) ** (t / (K-1)) (a constant zoom
    factor per frame), and the centre moves so that every frame is the previous one scaled
    about one fixed point p, the point that sits at the same place on screen in both windows:
    p = c1 + (c1 - c0) * s1 / (s0 - s1), c_t = p + (c0 - p) * span_t / s0. So the zoom looks
    steady (no drift, the target point slides smoothly into place); when the spans are equal
    the centre moves linearly instead.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise UsageError(f"--frames: expected a whole number >= 1, found {k!r}")
    if (spec.x, spec.y, spec.scale) != (target.x, target.y, target.scale):
        raise UsageError(
            f"zoom_frames: expected a target over the same axes and scales ({spec.x} x {spec.y}, "
            f"{'/'.join(spec.scale)}), found {target.x} x {target.y}, {'/'.join(target.scale)}"
        )
    if k == 1:
        return [target]
    frames = []
    for t in range(k):
        if t == k - 1:
            frames.append(target)
            break
        f = t / (k - 1)
        center, span = [], []
        for axis in (0, 1):
            c0, s0 = spec.center[axis], spec.span[axis]
            c1, s1 = target.center[axis], target.span[axis]
            st = s0 if t == 0 else s0 * math.exp(math.log(s1 / s0) * f)
            if t == 0:
                ct = c0
            elif s0 == s1:
                ct = c0 + (c1 - c0) * f
            else:
                p = c1 + (c1 - c0) * s1 / (s0 - s1)
                ct = p + (c0 - p) * (st / s0)
            center.append(ct)
            span.append(st)
        frames.append(
            dataclasses.replace(
                spec, center=tuple(center), span=tuple(span), resolution=target.resolution
            )
        )
    return frames
