"""Map images: per-pixel results coloured into an RGB array, the raw PNG, the figure, the GIF.

Inputs are per-pixel arrays of a map (see :mod:`bpsweep.maps`), either in run order, shape
(W*H,), or as grids (H, W) indexed [j, i] with j = 0 the bottom row: ``status`` (codes of
:data:`bpsweep.model.STATUSES`: 0 converged, 1 max_steps, 2 diverged), ``steps``,
``final_ssr`` and ``basin`` (int ids, -1 = none). The image is (H, W, 3) uint8 with row 0 at the
top, i.e. image[r] is map row j = H - 1 - r, and column c is i = c: as a picture is looked at.

Colour modes (one LUT look-up per pixel, vectorised; memory: the image plus two or three
arrays of one to four bytes per pixel):

- ``outcome``: converged to a good fit (final SSR < ``fit_ssr``) in blues, converged without
  a fit ("false convergence": the step-size rule stopped on a plateau) in greens, both shaded
  by steps (log scale, dark = fast); diverged in reds shaded by steps to divergence (dark =
  fast); max_steps flat grey.
- ``steps``: steps on a log scale, viridis.
- ``final_ssr``: final SSR on a log scale, viridis; non-finite (diverged) in red.
- ``basin``: each basin id its own colour (the 10 of tab10, then golden-ratio hues), -1 grey.

Writing PNG and GIF files uses pillow (installed with matplotlib, the ``bpsweep[plots]``
extra); the figure uses matplotlib's object API (no pyplot) and draws on an Axes it is given.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import OutputError, UsageError
from .maps import COLOR_MODES, MapSpec, to_grid
from .model import CONVERGED, DIVERGED, MAX_STEPS

#: Default "good fit" threshold on the final SSR (as ``bpsweep analyse``).
DEFAULT_FIT_SSR = 0.01

#: Ramps (dark, light) of the outcome families, and the flat colour of max_steps.
GOOD_FIT = ("#08306b", "#9ecae1")
FALSE_CONV = ("#00441b", "#a1d99b")
DIVERGED_RAMP = ("#67000d", "#fcae91")
MAX_STEPS_COLOUR = "#bdbdbd"
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
    NaN -> 0."""
    v = np.asarray(values, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        if log:
            v = np.log10(np.maximum(v, lo))
            lo, hi = math.log10(lo), math.log10(hi)
        t = (v - lo) * ((LEVELS - 1) / (hi - lo)) if hi > lo else np.zeros_like(v)
    t = np.nan_to_num(t, nan=0.0, posinf=LEVELS - 1, neginf=0.0)
    return np.clip(np.rint(t), 0, LEVELS - 1).astype(np.uint8)


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
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v) & (v > 0 if positive else True)
    if not ok.any():
        return (1.0, 10.0) if positive else (0.0, 1.0)
    lo, hi = float(v[ok].min()), float(v[ok].max())
    if hi <= lo:
        hi = lo * 10 if positive else lo + 1
    return lo, hi


def _need(name, value, grid_shape):
    if value is None:
        raise UsageError(f"map_image: this colour mode needs the per-pixel {name!r} array")
    return to_grid(value, grid_shape)


def map_image(
    mode: str,
    spec_or_shape,
    *,
    status=None,
    steps=None,
    final_ssr=None,
    basin=None,
    fit_ssr: float = DEFAULT_FIT_SSR,
    steps_range=None,
    ssr_range=None,
) -> MapImage:
    """Colour a map's per-pixel results (see the module doc for modes and colours).

    ``spec_or_shape``: the :class:`MapSpec` or (H, W). Arrays in run order (W*H,) or (H, W)
    [j, i]. ``steps_range`` / ``ssr_range``: (low, high) of the shading scales (default: the
    image's own range, steps from 1; give fixed ones to keep zoom frames comparable).
    Returns a :class:`MapImage` with row 0 = the top row (j = H-1).
    """
    if mode not in COLOR_MODES:
        raise UsageError(f"--color: expected one of {', '.join(COLOR_MODES)}, found {mode!r}")
    shape = (
        (spec_or_shape.height, spec_or_shape.width)
        if isinstance(spec_or_shape, MapSpec)
        else tuple(spec_or_shape)
    )
    if mode == "outcome":
        st = _need("status", status, shape)
        if not np.isin(st, (CONVERGED, MAX_STEPS, DIVERGED)).all():
            raise UsageError("map_image: status: expected codes 0, 1, 2 (bpsweep.model.STATUSES)")
        ssr = _need("final_ssr", final_ssr, shape)
        n_steps = _need("steps", steps, shape)
        lo, hi = _range(steps_range, n_steps, True, "steps_range")
        if steps_range is None:
            lo = 1.0
            hi = max(hi, 2.0)
        family = np.where(
            st == DIVERGED,
            np.uint16(3),
            np.where(st == MAX_STEPS, np.uint16(2), np.where(ssr < fit_ssr, 0, 1)),
        ).astype(np.uint16)
        index = family * np.uint16(LEVELS) + _levels(n_steps, lo, hi, True)
        lut = np.concatenate(
            [
                ramp(GOOD_FIT),
                ramp(FALSE_CONV),
                ramp((MAX_STEPS_COLOUR, MAX_STEPS_COLOUR)),
                ramp(DIVERGED_RAMP),
            ]
        )
        counts = np.bincount(family.ravel(), minlength=4)
        total = max(1, family.size)
        mid = LEVELS // 3
        labels = (
            f"converged, good fit (SSR < {fit_ssr:g}); dark = fast",
            f"converged, no fit (SSR >= {fit_ssr:g}); dark = fast",
            "max_steps",
            "diverged; dark = fast",
        )
        legend = [
            (f"{labels[f]}: {counts[f] / total:.1%}", _hex(lut[f * LEVELS + mid])) for f in range(4)
        ]
        return MapImage(_paint(lut, index), mode, legend, None)
    if mode == "steps":
        n_steps = _need("steps", steps, shape)
        lo, hi = _range(steps_range, n_steps, True, "steps_range")
        lut = ramp(VIRIDIS)
        bar = {"colors": lut, "vmin": lo, "vmax": hi, "log": True, "label": "steps (log scale)"}
        return MapImage(_paint(lut, _levels(n_steps, lo, hi, True)), mode, [], bar)
    if mode == "final_ssr":
        ssr = _need("final_ssr", final_ssr, shape)
        lo, hi = _range(ssr_range, ssr, True, "ssr_range")
        lut = np.concatenate([ramp(VIRIDIS), _rgb(NO_VALUE_COLOUR)[None].astype(np.uint8)])
        index = _levels(ssr, lo, hi, True).astype(np.uint16)
        bad = ~np.isfinite(ssr)
        index[bad] = LEVELS
        bar = {
            "colors": lut[:LEVELS],
            "vmin": lo,
            "vmax": hi,
            "log": True,
            "label": "final SSR (log scale)",
        }
        legend = [("final SSR not finite", NO_VALUE_COLOUR)] if bad.any() else []
        return MapImage(_paint(lut, index), mode, legend, bar)
    ids = _need("basin", basin, shape)
    if not np.issubdtype(ids.dtype, np.integer):
        raise UsageError(f"map_image: basin: expected integer ids (-1 = none), found {ids.dtype}")
    uniq, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
    lut = np.array([_rgb(basin_colour(int(b))) for b in uniq], dtype=np.uint8)
    order = np.argsort(-counts, kind="stable")
    total = max(1, ids.size)
    legend = [
        (
            ("no basin" if uniq[k] < 0 else f"basin {uniq[k]}") + f": {counts[k] / total:.1%}",
            basin_colour(int(uniq[k])),
        )
        for k in order[:12]
    ]
    return MapImage(_paint(lut, inverse.reshape(ids.shape)), mode, legend, None)


def _paint(lut: np.ndarray, index: np.ndarray) -> np.ndarray:
    """LUT look-up of a (H, W) index grid [j, i] -> (H, W, 3) uint8 image, top row first."""
    return lut[index[::-1]]


# ---------------------------------------------------------------- files


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


def write_png(image, path) -> Path:
    """Write the raw image (a :class:`MapImage` or (H, W, 3) uint8) as a PNG of exactly W x H
    pixels, one per run, no axes (pillow). Returns the path; OutputError if it cannot."""
    rgb = _rgb_of(image)
    path = Path(path)
    try:
        _pil().fromarray(np.ascontiguousarray(rgb), "RGB").save(path, format="PNG")
    except OSError as exc:
        raise OutputError(f"{path}: cannot write the map image ({exc.strerror or exc})") from None
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
    path = Path(path)
    try:
        images[0].save(
            path,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=duration_ms,
            loop=loop,
        )
    except OSError as exc:
        raise OutputError(f"{path}: cannot write the GIF ({exc.strerror or exc})") from None
    return path


# ---------------------------------------------------------------- figures


def _axes(ax, width=7.5, height=6.0):
    if ax is not None:
        return ax
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise UsageError("map figures need matplotlib: pip install bpsweep[plots]") from None
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig.add_subplot()


def _log_formatter(span):
    from matplotlib.ticker import FuncFormatter

    if span >= 0.5:
        return FuncFormatter(lambda t, _pos: f"{10.0**t:.3g}")
    return None


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
    ax = _axes(ax)
    (x0, x1), (y0, y1) = spec.edges(0), spec.edges(1)
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
        if spec.scale[axis] == "log":
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
        px = math.log10(sx) if spec.scale[0] == "log" and sx > 0 else sx
        py = math.log10(sy) if spec.scale[1] == "log" and sy > 0 else sy
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
    :func:`bpsweep.maps.boundary_dimension`) as log10 count against log10 box size with the
    least-squares line of slope -D, on ``ax`` (None: a new Figure's); returns the Axes."""
    ax = _axes(ax, 5.5, 4.5)
    size = np.asarray(table["box_size"], dtype=np.float64)
    count = np.asarray(table["count"], dtype=np.float64)
    ok = count > 0
    ax.plot(np.log10(size[ok]), np.log10(count[ok]), "o", color="#1f77b4", label=label)
    if math.isfinite(dimension) and ok.sum() >= 2:
        x = np.log10(size[ok])
        intercept = np.mean(np.log10(count[ok]) + dimension * x)
        ax.plot(
            x, intercept - dimension * x, "-", color="#d62728", label=f"fit: D = {dimension:.3f}"
        )
    ax.set_xlabel("log10 box size (pixels)")
    ax.set_ylabel("log10 boxes on the boundary")
    ax.set_title("Box-counting dimension")
    ax.legend(fontsize=8)
    return ax
