"""Map images: per-pixel results coloured into an RGB array, the raw PNG, the figure, the GIF.

Inputs are per-pixel arrays of a map (see :mod:`bpsweep.sweeps.window`), either in run order, shape
(W*H,), or as grids (H, W) indexed [j, i] with j = 0 the bottom row: ``status`` (codes of
:data:`bpsweep.model.STATUSES`: 0 converged, 1 max_steps, 2 diverged), ``steps``,
``final_ssr`` and ``basin`` (int ids, -1 = none). The image is (H, W, 3) uint8 with row 0 at the
top, i.e. image[r] is map row j = H - 1 - r, and column c is i = c: as a picture is looked at.

Colour modes (one LUT look-up per pixel, vectorised; memory: the image plus two or three
arrays of one to four bytes per pixel):

- ``outcome``: the four outcomes of ``bpsweep analyse`` in its colours
  (:data:`bpsweep.analysis.plots.COLOURS`): a good fit (final SSR < ``fit_ssr``) in greens, a
  false convergence (converged without a fit: the step-size rule stopped on a plateau) in
  oranges, both shaded by steps (log scale, dark = fast); stuck (max_steps without a fit) flat
  purple; diverged in reds shaded by steps to divergence (dark = fast).
- ``steps``: steps on a log scale, viridis.
- ``final_ssr``: final SSR on a log scale, viridis; non-finite (diverged) in red.
- ``basin``: each basin id its own colour (the 10 of tab10, then golden-ratio hues), -1 grey.
- ``chaos`` (a map trained with ``--chaos``): chaotic pixels black (a start moved by 1e-12
  ends with another status or steps, :mod:`bpsweep.maps.chaos`), the others in pale outcome
  colours: the speckles that are real stand apart from those that are chaos.

Writing PNG and GIF files uses pillow (installed with matplotlib, the ``bpsweep[plots]``
extra); the figure uses matplotlib's object API (no pyplot) and draws on an Axes it is given.
"""

from __future__ import annotations

import colorsys
import math
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..analysis.plots import _axes, figure
from ..atomic import atomic_file, writing
from ..errors import UsageError
from ..model import CONVERGED, DEFAULT_FIT_SSR, DIVERGED, MAX_STEPS
from ..sweeps.window import COLOR_MODES, MapSpec, to_grid

#: Ramps (dark, light) of the outcome families around analyse's colours for them (its
#: plots.COLOURS: good fit #2ca02c, false convergence #ff7f0e, stuck #9467bd, diverged
#: #d62728), and the flat colour of stuck runs (they all ran max_steps).
GOOD_FIT = ("#00441b", "#a1d99b")
FALSE_CONV = ("#7f2704", "#fdd0a2")
DIVERGED_RAMP = ("#67000d", "#fcae91")
STUCK_COLOUR = "#9467bd"
#: The chaos mode: stable pixels in pale outcome colours, chaotic ones black.
PALE = ("#c7e9c0", "#fdd0a2", "#dadaeb", "#fcbba1")
CHAOTIC_COLOUR = "#000000"
#: The outcome families of :func:`outcome_families`, in order.
FAMILY_NAMES = ("good fit", "false convergence", "stuck", "diverged")
NO_VALUE_COLOUR = "#d62728"
NO_BASIN_COLOUR = "#d9d9d9"
VIRIDIS = (
    "#440154",
    "#482878",
    "#3e4989",
    "#31688e",
    "#26828e",
    "#1f9e89",
    "#35b779",
    "#6ece58",
    "#b5de2b",
    "#fde725",
)
TAB10 = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#17becf",
    "#7f7f7f",
)
LEVELS = 256


def _rgb(hex_colour: str) -> np.ndarray:
    h = hex_colour.lstrip("#")
    return np.array([int(h[k : k + 2], 16) for k in (0, 2, 4)], dtype=np.float64)


def _hex(rgb) -> str:
    return "#" + "".join(f"{int(v):02x}" for v in rgb)


def ramp(colours, n: int = LEVELS) -> np.ndarray:
    """``n`` colours interpolated linearly (in sRGB) through the hex anchors: uint8 (n, 3)."""
    anchors = np.array([_rgb(c) for c in colours])
    t = np.linspace(0.0, len(anchors) - 1, n)
    k = np.minimum(t.astype(int), len(anchors) - 2)
    f = (t - k)[:, None]
    return np.rint(anchors[k] * (1 - f) + anchors[k + 1] * f).astype(np.uint8)


def basin_colour(basin_id: int) -> str:
    """The colour of a basin id: tab10 for 0..9, then golden-ratio hues; -1 (none) grey."""
    if basin_id < 0:
        return NO_BASIN_COLOUR
    if basin_id < len(TAB10):
        return TAB10[basin_id]
    hue = (basin_id * 0.618033988749895) % 1.0
    light = (0.45, 0.6, 0.35)[basin_id % 3]
    return _hex(np.array(colorsys.hls_to_rgb(hue, light, 0.75)) * 255)


@dataclass
class MapImage:
    """A coloured map. ``rgb``: (H, W, 3) uint8, row 0 the top (j = H-1); ``legend``: (label,
    hex colour) entries; ``colorbar``: None, or a dict with ``colors`` (uint8 (256, 3)),
    ``vmin``, ``vmax``, ``log`` and ``label`` for a continuous scale."""

    rgb: np.ndarray
    mode: str
    legend: list = field(default_factory=list)
    colorbar: dict | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W)."""
        return self.rgb.shape[:2]


def _levels(values, lo: float, hi: float, log: bool) -> np.ndarray:
    """Values -> uint8 levels 0..255 on [lo, hi] (clipped; log10 scale when ``log``);
    NaN -> 0. Whole numbers from 0 to 2**20 (steps) go through a table of their levels."""
    v = np.asarray(values)
    if np.issubdtype(v.dtype, np.integer) and v.size and v.min() >= 0 and v.max() <= 1 << 20:
        return _levels(np.arange(int(v.max()) + 1, dtype=np.float64), lo, hi, log)[v]
    v = v.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        if log:
            v = np.log10(np.maximum(v, lo), out=v)
            lo, hi = math.log10(lo), math.log10(hi)
        if hi > lo:
            v -= lo
            v *= (LEVELS - 1) / (hi - lo)
        else:
            v[:] = 0.0
    np.nan_to_num(v, copy=False, nan=0.0, posinf=LEVELS - 1, neginf=0.0)
    np.clip(v, 0, LEVELS - 1, out=v)
    return np.rint(v, out=v).astype(np.uint8)


def _range(given, values, positive: bool, name: str) -> tuple[float, float]:
    if given is not None:
        lo, hi = given
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi and (lo > 0 or not positive)):
            raise UsageError(
                f"{name}: expected (low, high) finite with low < high"
                + (" and low > 0 (log scale)" if positive else "")
                + f", found {given!r}"
            )
        return float(lo), float(hi)
    v = np.asarray(values)
    ok = np.isfinite(v)
    if positive:
        ok &= v > 0
    if not ok.any():
        return (1.0, 10.0) if positive else (0.0, 1.0)
    big = np.iinfo(v.dtype) if np.issubdtype(v.dtype, np.integer) else np.finfo(v.dtype)
    lo = float(np.min(v, where=ok, initial=big.max))
    hi = float(np.max(v, where=ok, initial=big.min))
    if hi <= lo:
        hi = lo * 10 if positive else lo + 1
    return lo, hi


def _need(name, value, grid_shape):
    if value is None:
        raise UsageError(f"map_image: this colour mode needs the per-pixel {name!r} array")
    return to_grid(value, grid_shape)


#: Pixels coloured per block (bounds the temporaries to a few MB whatever the map's size).
BLOCK_PIXELS = 1 << 18


def _paint(lut: np.ndarray, shape, index_of) -> np.ndarray:
    """The (H, W, 3) uint8 image, top row first, from ``index_of(a, b)``: the LUT indices of
    map rows j = a..b-1 as a (b - a, W) array [j, i]; computed a block of rows at a time."""
    h, w = shape
    out = np.empty((h, w, 3), dtype=np.uint8)
    rows = max(1, BLOCK_PIXELS // max(w, 1))
    for a in range(0, h, rows):
        b = min(h, a + rows)
        out[h - b : h - a] = lut[index_of(a, b)[::-1]]
    return out


def map_image(
    mode: str,
    spec_or_shape,
    *,
    status=None,
    steps=None,
    final_ssr=None,
    basin=None,
    chaos=None,
    fit_ssr: float = DEFAULT_FIT_SSR,
    steps_range=None,
    ssr_range=None,
) -> MapImage:
    """Colour a map's per-pixel results (see the module doc for modes and colours).

    ``spec_or_shape``: the :class:`MapSpec` or (H, W). Arrays in run order (W*H,) or (H, W)
    [j, i]. ``steps_range`` / ``ssr_range``: (low, high) of the shading scales (default: the
    image's own range, steps from 1; give fixed ones to keep zoom frames comparable).
    Returns a :class:`MapImage` with row 0 = the top row (j = H-1). Coloured a block of rows at
    a time: besides the image, memory holds only a boolean mask of the map (for the ranges).
    """
    if mode not in COLOR_MODES:
        raise UsageError(f"--color: expected one of {', '.join(COLOR_MODES)}, found {mode!r}")
    shape = (
        (spec_or_shape.height, spec_or_shape.width)
        if isinstance(spec_or_shape, MapSpec)
        else tuple(spec_or_shape)
    )
    arrays = {
        "status": status,
        "steps": steps,
        "final_ssr": final_ssr,
        "basin": basin,
        "chaos": chaos,
    }
    ranges = {"fit_ssr": fit_ssr, "steps_range": steps_range, "ssr_range": ssr_range}
    return PAINTERS[mode](shape, arrays, **ranges)


def _outcome_image(shape, arrays, *, fit_ssr, steps_range, **_) -> MapImage:
    """``outcome``: good fits, false convergence, max_steps, diverged, shaded by steps."""
    if isinstance(fit_ssr, bool) or not (
        isinstance(fit_ssr, (int, float)) and math.isfinite(fit_ssr) and fit_ssr > 0
    ):
        raise UsageError(f"--fit-ssr: expected a finite number > 0, found {fit_ssr!r}")
    st = _need("status", arrays["status"], shape)
    ssr = _need("final_ssr", arrays["final_ssr"], shape)
    n_steps = _need("steps", arrays["steps"], shape)
    lo, hi = _range(steps_range, n_steps, True, "steps_range")
    if steps_range is None:
        lo = 1.0
        hi = max(hi, 2.0)
    lut = np.concatenate(
        [
            ramp(GOOD_FIT),
            ramp(FALSE_CONV),
            ramp((STUCK_COLOUR, STUCK_COLOUR)),
            ramp(DIVERGED_RAMP),
        ]
    )
    counts = np.zeros(4, dtype=np.int64)

    def outcome_index(a, b):
        s = st[a:b]
        if not np.isin(s, (CONVERGED, MAX_STEPS, DIVERGED)).all():
            raise UsageError("map_image: status: expected codes 0, 1, 2 (bpsweep.model.STATUSES)")
        # analyse's outcomes (tables.outcomes): a good fit whatever stopped it, else converged
        # (false convergence) or max_steps (stuck); diverged always
        family = outcome_families(s, ssr[a:b], fit_ssr)
        counts[:] += np.bincount(family.ravel(), minlength=4)
        return family * np.uint16(LEVELS) + _levels(n_steps[a:b], lo, hi, True)

    rgb = _paint(lut, shape, outcome_index)
    return MapImage(rgb, "outcome", outcome_legend(counts, fit_ssr), None)


def outcome_families(status, final_ssr, fit_ssr: float) -> np.ndarray:
    """Each pixel's outcome family, analyse's categories: 0 good fit (whatever stopped it), 1
    false convergence, 2 stuck (max_steps without a fit), 3 diverged. uint16, the inputs'
    shape."""
    s = np.asarray(status)
    family = np.where(np.asarray(final_ssr) < fit_ssr, np.uint16(0), np.uint16(1))
    family[(s == MAX_STEPS) & (family == 1)] = 2
    family[s == DIVERGED] = 3
    return family


def outcome_legend(counts, fit_ssr: float) -> list:
    """The outcome mode's legend from the pixels of each family (:func:`outcome_families`),
    each with its share: the whole map's, when a map is drawn band by band."""
    lut = np.concatenate([ramp(GOOD_FIT), ramp(FALSE_CONV), ramp(DIVERGED_RAMP)])
    mids = [
        lut[LEVELS // 3],
        lut[LEVELS + LEVELS // 3],
        _rgb(STUCK_COLOUR),
        lut[2 * LEVELS + LEVELS // 3],
    ]
    total = max(1, int(np.sum(counts)))
    labels = (
        f"good fit (SSR < {fit_ssr:g}); dark = fast",
        f"false convergence (converged, SSR >= {fit_ssr:g}); dark = fast",
        "stuck (max_steps, no fit)",
        "diverged; dark = fast",
    )
    return [(f"{labels[f]}: {counts[f] / total:.1%}", _hex(mids[f])) for f in range(4)]


def ssr_legend(not_finite: int) -> list:
    """The final_ssr mode's legend: a swatch for the non-finite SSRs, when there are any."""
    return [("final SSR not finite", NO_VALUE_COLOUR)] if not_finite else []


def _steps_image(shape, arrays, *, steps_range, **_) -> MapImage:
    """``steps``: steps on a log scale, viridis."""
    n_steps = _need("steps", arrays["steps"], shape)
    lo, hi = _range(steps_range, n_steps, True, "steps_range")
    lut = ramp(VIRIDIS)
    bar = {"colors": lut, "vmin": lo, "vmax": hi, "log": True, "label": "steps (log scale)"}
    rgb = _paint(lut, shape, lambda a, b: _levels(n_steps[a:b], lo, hi, True))
    return MapImage(rgb, "steps", [], bar)


def _ssr_image(shape, arrays, *, ssr_range, **_) -> MapImage:
    """``final_ssr``: the final SSR on a log scale, viridis; non-finite in red."""
    ssr = _need("final_ssr", arrays["final_ssr"], shape)
    lo, hi = _range(ssr_range, ssr, True, "ssr_range")
    lut = np.concatenate([ramp(VIRIDIS), _rgb(NO_VALUE_COLOUR)[None].astype(np.uint8)])
    n_bad = [0]

    def ssr_index(a, b):
        index = _levels(ssr[a:b], lo, hi, True).astype(np.uint16)
        bad = ~np.isfinite(ssr[a:b])
        index[bad] = LEVELS
        n_bad[0] += int(np.count_nonzero(bad))
        return index

    rgb = _paint(lut, shape, ssr_index)
    bar = {
        "colors": lut[:LEVELS],
        "vmin": lo,
        "vmax": hi,
        "log": True,
        "label": "final SSR (log scale)",
    }
    return MapImage(rgb, "final_ssr", ssr_legend(n_bad[0]), bar)


def _basin_image(shape, arrays, **_) -> MapImage:
    """``basin``: each basin id its own colour, -1 (none) grey."""
    ids = _need("basin", arrays["basin"], shape)
    if not np.issubdtype(ids.dtype, np.integer):
        raise UsageError(f"map_image: basin: expected integer ids (-1 = none), found {ids.dtype}")
    low, high = (int(ids.min()), int(ids.max())) if ids.size else (0, 0)
    if low < -1:
        raise UsageError(f"map_image: basin: expected ids >= -1 (-1 = none), found {low}")
    # ids are small whole numbers (basins found in a map): a table indexed by id + 1
    table = np.arange(-1, high + 1)
    counts = np.zeros(len(table), dtype=np.int64)
    lut = np.array([_rgb(basin_colour(int(b))) for b in table], dtype=np.uint8)

    def basin_index(a, b):
        block = ids[a:b] + 1
        counts[:] += np.bincount(block.ravel(), minlength=len(table))
        return block

    rgb = _paint(lut, shape, basin_index)
    order = np.argsort(-counts, kind="stable")
    total = max(1, ids.size)
    legend = [
        (
            ("no basin" if table[k] < 0 else f"basin {table[k]}") + f": {counts[k] / total:.1%}",
            basin_colour(int(table[k])),
        )
        for k in order[:12]
        if counts[k]
    ]
    return MapImage(rgb, "basin", legend, None)


def _chaos_image(shape, arrays, *, fit_ssr, **_) -> MapImage:
    """``chaos``: chaotic pixels (chaos count > 0) black, the others in pale outcome colours."""
    st = _need("status", arrays["status"], shape)
    ssr = _need("final_ssr", arrays["final_ssr"], shape)
    moved = _need("chaos", arrays["chaos"], shape)
    lut = np.array([_rgb(c) for c in (*PALE, CHAOTIC_COLOUR)], dtype=np.uint8)
    counts = np.zeros(len(lut), dtype=np.int64)

    def chaos_index(a, b):
        index = outcome_families(st[a:b], ssr[a:b], fit_ssr)
        index[moved[a:b] > 0] = len(PALE)
        counts[:] += np.bincount(index.ravel(), minlength=len(lut))
        return index

    rgb = _paint(lut, shape, chaos_index)
    return MapImage(rgb, "chaos", chaos_legend(counts, fit_ssr), None)


def chaos_legend(counts, fit_ssr: float) -> list:
    """The chaos mode's legend from the pixels of each stable family and the chaotic ones
    (the whole map's, when a map is drawn band by band)."""
    total = max(1, int(np.sum(counts)))
    labels = [
        f"good fit (SSR < {fit_ssr:g})",
        *FAMILY_NAMES[1:],
    ]
    legend = [(f"{lab}, stable: {counts[f] / total:.1%}", PALE[f]) for f, lab in enumerate(labels)]
    chaotic = f"chaotic (a start moved by 1e-12 ends otherwise): {counts[-1] / total:.1%}"
    return [*legend, (chaotic, CHAOTIC_COLOUR)]


#: colour mode -> the function that paints it (COLOR_MODES, in order).
PAINTERS = {
    "outcome": _outcome_image,
    "steps": _steps_image,
    "final_ssr": _ssr_image,
    "basin": _basin_image,
    "chaos": _chaos_image,
}


# ---------------------------------------------------------------- files


def check_drawing() -> None:
    """UsageError now, before hours of training, when pillow or matplotlib is missing."""
    _pil()
    figure(1, 1, missing=_no_matplotlib())


def _pil():
    try:
        from PIL import Image
    except ImportError:
        raise UsageError(
            "map images need pillow (installed with matplotlib): pip install bpsweep[plots]"
        ) from None
    return Image


def _rgb_of(image) -> np.ndarray:
    rgb = image.rgb if isinstance(image, MapImage) else np.asarray(image)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise UsageError(f"expected an RGB image (H, W, 3) uint8, found {rgb.shape} {rgb.dtype}")
    return rgb


def write_png(image, path, compress_level: int = 1) -> Path:
    """Write the raw image (a :class:`MapImage` or (H, W, 3) uint8) as a PNG of exactly W x H
    pixels, one per run, no axes (pillow; zlib level 1: 4096 x 4096 in about a second, level 6
    takes about twice as long for a file no smaller on maps with fine detail). Returns the
    path; OutputError if it cannot be written."""
    rgb = _rgb_of(image)
    with writing(path, "the map image") as path:
        _pil().fromarray(np.ascontiguousarray(rgb), "RGB").save(
            path, format="PNG", compress_level=compress_level
        )
    return path


#: The eight bytes every PNG file starts with.
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_chunk(fh, kind: bytes, data) -> None:
    """One PNG chunk: length, type, data, CRC-32 of type and data."""
    fh.write(struct.pack(">I", len(data)))
    fh.write(kind)
    fh.write(data)
    fh.write(struct.pack(">I", zlib.crc32(data, zlib.crc32(kind))))


def write_png_bands(path, width: int, height: int, bands, compress_level: int = 1) -> Path:
    """Write a W x H RGB PNG from bands of rows, holding one band in memory at a time.

    ``bands`` yields (rows, ``width``, 3) uint8 arrays, the image's top row first (row 0 of the
    first band is the top row, as in :class:`MapImage`), their rows summing to ``height``;
    bands may have any number of rows (0 included). The file is streamed: signature, IHDR
    (8-bit RGB, not interlaced), IDAT chunks of an incremental zlib stream (level
    ``compress_level``, each scanline with filter type 0), IEND. It appears whole or not at
    all (written under a temporary name, then renamed), so a band with the wrong shape or
    type, or rows that do not add up to ``height``, raise a UsageError and leave no file.
    Memory: the band being written plus one scanline-prefixed copy of it. Speed (zlib level
    1, 4096 x 4096, 2 shared cores): 1.5 s for random noise, 0.3 s for a map of smooth ramps
    and flat regions (:func:`write_png`, pillow: 2.5 s and 0.8 s; the files are the same size
    for noise and 25% smaller here for the map). Returns the path; OutputError if it cannot be
    written.
    """
    for name, v in (("width", width), ("height", height)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 1 <= v < 1 << 31:
            raise UsageError(
                f"write_png_bands: {name}: expected a whole number from 1 to 2**31 - 1, found {v!r}"
            )
    if isinstance(compress_level, bool) or compress_level not in range(10):
        raise UsageError(
            f"write_png_bands: compress_level: expected 0 to 9, found {compress_level!r}"
        )
    width, height = int(width), int(height)
    path = Path(path)
    with writing(path, "the map image"), atomic_file(path, what="the map image") as fh:
        fh.write(PNG_SIGNATURE)
        _png_chunk(fh, b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        z = zlib.compressobj(compress_level)
        raw = np.zeros((0, 1 + 3 * width), dtype=np.uint8)  # scanlines: filter byte 0, RGB
        done = 0
        for band in bands:
            a = np.asarray(band)
            if a.ndim != 3 or a.shape[1:] != (width, 3) or a.dtype != np.uint8:
                raise UsageError(
                    f"write_png_bands: expected bands of (rows, {width}, 3) uint8, found "
                    f"{a.shape} {a.dtype} at row {done}"
                )
            rows = a.shape[0]
            if done + rows > height:
                raise UsageError(
                    f"write_png_bands: expected {height} rows, found more ({done + rows} by the "
                    "end of this band)"
                )
            if rows == 0:
                continue
            if len(raw) < rows:
                raw = np.zeros((rows, 1 + 3 * width), dtype=np.uint8)
            raw[:rows, 1:] = a.reshape(rows, 3 * width)
            data = z.compress(raw[:rows])
            if data:
                _png_chunk(fh, b"IDAT", data)
            done += rows
            band = a = data = None  # let the band go before the next one is made
        if done != height:
            raise UsageError(f"write_png_bands: expected {height} rows, found {done}")
        _png_chunk(fh, b"IDAT", z.flush())
        _png_chunk(fh, b"IEND", b"")
    return path


def zoom_gif(frames, path, duration_ms: int = 250, loop: int = 0) -> Path:
    """Write an animated GIF of the frames (PNG paths, MapImages or (H, W, 3) uint8 arrays, all
    one size), ``duration_ms`` per frame, looping forever (``loop=0``) (pillow; each frame is
    quantised to 256 colours by pillow)."""
    image_cls = _pil()
    images = []
    for f in frames:
        if isinstance(f, (str, Path)):
            try:
                with image_cls.open(f) as im:
                    images.append(im.convert("RGB"))
            except OSError as exc:
                raise UsageError(f"{f}: cannot read the frame ({exc})") from None
        else:
            images.append(image_cls.fromarray(np.ascontiguousarray(_rgb_of(f)), "RGB"))
    if not images:
        raise UsageError("zoom_gif: expected at least one frame, found none")
    sizes = {im.size for im in images}
    if len(sizes) != 1:
        raise UsageError(f"zoom_gif: expected frames of one size, found {sorted(sizes)}")
    with writing(path, "the GIF") as path:
        images[0].save(
            path,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=duration_ms,
            loop=loop,
        )
    return path


# ---------------------------------------------------------------- figures


def _no_matplotlib() -> UsageError:
    return UsageError("map figures need matplotlib: pip install bpsweep[plots]")


def _log_formatter(span):
    from matplotlib.ticker import FuncFormatter

    if span >= 0.5:
        return FuncFormatter(lambda t, _pos: f"{10.0**t:.3g}")
    return None


def _narrow(spec: MapSpec, axis: int) -> bool:
    """Whether the window's span along ``axis`` is under a millionth of its centre."""
    return spec.span[axis] < 1e-6 * abs(spec.center[axis])


def map_figure(
    ax,
    image,
    spec: MapSpec,
    *,
    start=None,
    fixed=None,
    title: str | None = None,
    legend: bool = True,
):
    """Draw a map image on ``ax`` (a matplotlib Axes; None: a new Figure's) with axes in the
    settings' units, and return the Axes (saving is the caller's: ``ax.figure.savefig``).

    ``image``: a :class:`MapImage` (its legend and colour bar are drawn) or (H, W, 3) uint8.
    Log axes are drawn in log10 units, labelled "(log scale)" with ticks showing the values
    (or "log10 <name>" with log10 ticks for windows narrower than half a decade).
    ``start``: the (x, y) point to mark (e.g. the lesson's start), in the settings' units,
    drawn when inside the window. ``fixed``: what is held fixed (a dict of settings or a
    string), named in the title; ``title`` replaces the first title line.
    """
    rgb = _rgb_of(image)
    if rgb.shape[:2] != (spec.height, spec.width):
        raise UsageError(
            f"map_figure: expected an image of {spec.height} x {spec.width} (H x W) for this "
            f"map, found {rgb.shape[0]} x {rgb.shape[1]}"
        )
    if ax is None:  # a figure shaped to the map: square pixels plus title and legend
        height = min(14.0, 5.2 * spec.height / spec.width + 2.2)
        ax = _axes(None, 7.0, height, missing=_no_matplotlib())
    (x0, x1), (y0, y1) = spec.edges(0), spec.edges(1)
    # a window narrower than a millionth of its centre is drawn in offsets from the centre:
    # matplotlib maps data to the screen in float64, and at a span of 3e-14 of the centre its
    # rounding left a white strip at the image's edge
    shift = [spec.center[a] if _narrow(spec, a) else 0.0 for a in (0, 1)]
    x0, x1, y0, y1 = x0 - shift[0], x1 - shift[0], y0 - shift[1], y1 - shift[1]
    ax.imshow(
        rgb,
        extent=(x0, x1, y0, y1),
        origin="upper",
        interpolation="nearest",
        aspect="auto",
    )
    for axis, (name, setter, a) in enumerate(
        zip(spec.names, (ax.set_xlabel, ax.set_ylabel), (ax.xaxis, ax.yaxis))
    ):
        if shift[axis]:
            c = shift[axis]
            log = spec.scale[axis] == "log"
            setter(f"log10 {name} - {c:.15g}" if log else f"{name} - {c:.15g}")
        elif spec.scale[axis] == "log":
            formatter = _log_formatter(spec.span[axis])
            if formatter is not None:
                a.set_major_formatter(formatter)
                setter(f"{name} (log scale)")
            else:
                setter(f"log10 {name}")
        else:
            setter(name)
    handles = []
    if start is not None:
        sx, sy = start
        px = (math.log10(sx) if spec.scale[0] == "log" and sx > 0 else sx) - shift[0]
        py = (math.log10(sy) if spec.scale[1] == "log" and sy > 0 else sy) - shift[1]
        inside = (spec.scale[0] != "log" or sx > 0) and (spec.scale[1] != "log" or sy > 0)
        if inside and x0 <= px <= x1 and y0 <= py <= y1:
            handles.append(
                ax.scatter(
                    [px],
                    [py],
                    marker="*",
                    s=160,
                    color="white",
                    edgecolors="black",
                    linewidths=1.0,
                    zorder=3,
                    label=f"start ({sx:g}, {sy:g})",
                )
            )
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_box_aspect(spec.height / spec.width)  # square pixels, whatever the units
    mode = image.mode if isinstance(image, MapImage) else "map"
    if legend and isinstance(image, MapImage):
        from matplotlib.patches import Patch

        handles += [Patch(facecolor=c, edgecolor="none", label=lab) for lab, c in image.legend]
        bar = image.colorbar
        if bar is not None and bar.get("colors") is not None:
            from matplotlib.cm import ScalarMappable
            from matplotlib.colors import ListedColormap, LogNorm, Normalize

            norm = (LogNorm if bar["log"] else Normalize)(vmin=bar["vmin"], vmax=bar["vmax"])
            cmap = ListedColormap(np.asarray(bar["colors"]) / 255.0)
            ax.figure.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=bar["label"])
    if handles:
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(0.0, -0.12),
            fontsize=8,
            ncols=2,
            frameon=False,
        )
    if isinstance(fixed, dict):
        fixed = ", ".join(
            f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in fixed.items()
        )
    first = title or f"{mode} over {spec.x} x {spec.y}, {spec.width} x {spec.height} runs"
    ax.set_title(first + (f"\nfixed: {fixed}" if fixed else ""), fontsize=10)
    return ax


def dimension_plot(table, dimension: float, ax=None, label: str = "boundary"):
    """Draw a box-counting table (columns ``box_size``, ``count``, from
    :func:`bpsweep.maps.boxcount.boundary_dimension`) as log10 count against log10 box size with the
    least-squares line of slope -D, on ``ax`` (None: a new Figure's); returns the Axes. Drawn
    again on the same Axes, each table takes the next colour (points and their fit alike)."""
    colours = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")
    ax = _axes(ax, 5.5, 4.5, missing=_no_matplotlib())
    colour = colours[sum(1 for line in ax.lines if line.get_marker() == "o") % len(colours)]
    size = np.asarray(table["box_size"], dtype=np.float64)
    count = np.asarray(table["count"], dtype=np.float64)
    ok = count > 0
    ax.plot(np.log10(size[ok]), np.log10(count[ok]), "o", color=colour, label=label)
    if math.isfinite(dimension) and ok.sum() >= 2:
        x = np.log10(size[ok])
        intercept = np.mean(np.log10(count[ok]) + dimension * x)
        ax.plot(x, intercept - dimension * x, "-", color=colour, label=f"fit: D = {dimension:.3f}")
    ax.set_xlabel("log10 box size (pixels)")
    ax.set_ylabel("log10 boxes on the boundary")
    ax.set_title("Box-counting dimension")
    ax.legend(fontsize=8)
    return ax
