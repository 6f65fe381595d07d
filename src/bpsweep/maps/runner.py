"""Run a map and draw it: the pixels trained as a sweep, then the image, figure and numbers.

A map config (``[map]``, :mod:`bpsweep.sweeps.window`) is a sweep whose runs are pixels, so it is
trained by :func:`bpsweep.sweeps.runner.execute` like any sweep -- in chunks (tiles of whole rows),
in parallel, resumable after kill -9, its parts checked -- and its results are written as
Parquet (``<name>.parquet``, one row per pixel). Then this module reads back the few columns
an image needs and writes, beside the results:

- ``<name>.png``: the raw image, exactly W x H pixels, one per run, row 0 at the top (j = H-1);
- ``<name>-figure.png``: the image with axes in the settings' units, legend or colour bar, the
  lesson's start marked when it lies inside the window, and a title naming what is fixed;
- ``<name>-dimension.png`` (with ``dimension``): the box counts of the boundary and their fit;
- ``<name>.json``: the sweep's sidecar, to which a ``map`` entry is added: the window, colour
  mode, counts per status, timings and, when asked, the boundary dimension with its table.

Zooms (``--zoom``) and zoom frames (``--frames``) are maps of their own, named after the
window (``<name>-zoom-<hash>``, ``...-frame-<k>``), so each resumes on its own and a new zoom
never clobbers an earlier one; the frames are also assembled into ``<name>-zoom-<hash>.gif``.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import read_json, write_text_atomic, writing
from ..errors import SweepError, UsageError
from ..machine import free_disk, memory_short
from ..model import DEFAULT_FIT_SSR, PRESETS, STATUSES
from ..settings import SETTINGS
from ..sweeps import estimate, window
from ..sweeps.config import SweepConfig, config_from_dict
from ..sweeps.options import RunOptions
from ..sweeps.outdir import SweepLock
from ..sweeps.resources import row_bytes
from ..sweeps.runner import plan, run_plan
from ..wording import duration, size_text
from . import boxcount


@dataclass
class MapResult:
    """What :func:`run_map` wrote for one map."""

    config: SweepConfig
    results: Path
    png: Path
    figure: Path | None
    json: Path
    info: dict = field(default_factory=dict)
    dimension_png: Path | None = None  #: the box counts' plot, with ``dimension``

    def images(self) -> list[Path]:
        """The files drawn (and the JSON updated), in the order the summary lists them."""
        return [p for p in (self.png, self.figure, self.dimension_png, self.json) if p]


def with_window(
    config: SweepConfig, spec: window.MapSpec, name: str, description: str | None = None
) -> SweepConfig:
    """The same map config with another window (and name, and description when given),
    validated as a config is."""
    raw = config.resolved()
    raw["name"] = name
    raw["map"] = spec.to_table()
    if description is not None:
        raw["description"] = description
    return config_from_dict(raw, source=config.source, base_dir=config.base_dir)


#: How a zoom's description starts (its figure's title says what it is a zoom of).
ZOOM_NOTE = "zoom: "


def _zoom_note(config: SweepConfig, zoom, frame: str = "") -> str:
    x, y, factor = zoom
    spec = config.map
    return f"{ZOOM_NOTE}{frame}{factor:g}x into {config.name} around {spec.x}={x:g}, {spec.y}={y:g}"


def _window_tag(spec: window.MapSpec) -> str:
    blob = json.dumps(spec.to_table(), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:8]


#: Most zoom frames one command makes (each is a map: about 3 files; a GIF of 1,000 frames at
#: 250 ms is over four minutes long).
MAX_FRAMES = 1000
#: Bytes a pixel of a map's PNG may take at most (RGB, hardly compressed on fine detail).
PNG_BYTES = 3


def maps_need(configs: list[SweepConfig]) -> tuple[int, int]:
    """(files, bytes on disk) the maps ``configs`` leave, and the most they need at once: each
    map's Parquet (estimated as its CSV, an upper bound) and PNG stay, the parts it is
    trained in (as large as its CSV) only while it trains."""
    files, kept, parts = 0, 0, 0
    for config in configs:
        pixels = config.map.n_pixels
        rows = row_bytes(config) * pixels
        kept += rows + PNG_BYTES * pixels + 4096  # the results, the image and the JSON
        parts = max(parts, rows)
        files += 3
    return files, kept + parts


def check_maps_fit(configs: list[SweepConfig], out) -> None:
    """Refuse (SweepError), before any training, maps whose files cannot fit the disk."""
    files, need = maps_need(configs)
    free = free_disk(Path(out))
    if free is not None and need > free:
        what = f"{len(configs):,} maps" if len(configs) > 1 else configs[0].name
        raise SweepError(
            f"{what}: {files:,} files of about {size_text(need)} in all would not fit the "
            f"{size_text(free)} free under {out}; lower the resolution or the number of "
            f"frames, or choose another --out"
        )


def describe_maps(configs: list[SweepConfig], options: RunOptions, gif: str | None) -> str:
    """--dry-run's text for the maps a command would make: one map's plan (see
    :meth:`bpsweep.sweeps.runner.Plan.describe`), or for zoom frames the frames in all."""
    if gif is None:
        return "\n".join(plan(c, options.but(results_format="parquet")).describe() for c in configs)
    first, last = configs[0].map, configs[-1].map
    pixels = sum(c.map.n_pixels for c in configs)
    files, need = maps_need(configs)
    # a few frames estimated (the first, the last and between), the rest taken as their mean
    picked = sorted({round(k * (len(configs) - 1) / 4) for k in range(5)})
    work = [estimate.long_work(configs[k]) for k in picked]
    known = [w for w in work if w is not None]
    if known:
        scale = len(configs) / len(known)
        seconds = scale * sum(w.seconds for w in known)
        steps = scale * sum(w.run_steps for w in known)
        work_text = (
            f"about {steps:.3g} run-steps, about {duration(seconds)} on this machine "
            f"(estimated from {len(known)} of the frames)"
        )
    else:
        work_text = "under a minute a frame on this machine"

    def window_text(spec):
        ranges = spec.to_dict()
        x0, x1 = ranges["x_range"]
        y0, y1 = ranges["y_range"]
        return f"{spec.x} {x0:.6g}..{x1:.6g} x {spec.y} {y0:.6g}..{y1:.6g}"

    return "\n".join(
        [
            f"{gif}: {len(configs):,} zoom frames of {last.width} x {last.height} pixels, "
            f"{pixels:,} runs in all",
            f"  from {window_text(first)}",
            f"  to   {window_text(last)}",
            f"work: {work_text}",
            f"files: {files + 1:,} (each frame's Parquet, PNG and JSON, and {gif}.gif), about "
            f"{size_text(need)} on disk",
            "dry run: nothing written",
        ]
    )


def plan_maps(
    config: SweepConfig, *, resolution=None, zoom=None, frames: int | None = None
) -> tuple[list[SweepConfig], str | None]:
    """The maps to run for these options, and the GIF's name (None without ``frames``).

    resolution: ``"WxH"`` or (W, H), for every map (the name gets ``-WxH``). zoom: (x, y,
    factor) in the settings' units; frames: K >= 2 windows from the config's to the zoom's.
    """
    if config.mode != "map":
        raise UsageError(
            f"{config.source}: expected a map config (a [map] section); for a [sweep] config "
            f"use bpsweep run"
        )
    spec, name = config.map, config.name
    if resolution is not None:
        spec = spec.with_resolution(resolution)
        name = f"{name}-{spec.width}x{spec.height}"
    if frames is not None:
        if isinstance(frames, bool) or not isinstance(frames, int) or not 2 <= frames <= MAX_FRAMES:
            raise UsageError(
                f"--frames: expected a whole number from 2 to {MAX_FRAMES:,}, found {frames!r} "
                f"(each frame is a map of its own, with its Parquet, PNG and JSON)"
            )
        if zoom is None:
            raise UsageError("--frames: expected --zoom X,Y,FACTOR too (the frames' last window)")
    if zoom is None:
        base = config if spec == config.map and name == config.name else None
        return [base or with_window(config, spec, name)], None
    target = window.zoom(spec, *zoom)
    tag = f"{name}-zoom-{_window_tag(target)}"
    if frames is None:
        return [with_window(config, target, tag, _zoom_note(config, zoom))], None
    windows = window.zoom_frames(spec, target, frames)
    configs = [
        with_window(
            config, w, f"{tag}-frame-{k:03d}", _zoom_note(config, zoom, f"frame {k + 1}/{frames}, ")
        )
        for k, w in enumerate(windows)
    ]
    return configs, tag


def start_point(config: SweepConfig):
    """The (x, y) of the lesson's start in this map's window, or None: an ``init_<p>`` axis
    takes the preset's value of p (none for a random scheme), an optional setting
    (``lr_hidden``, ``lr_output``: "as lr" when not set) the fixed lr, any other setting its
    fixed value."""
    point = []
    for name in config.map.names:
        if name.startswith("init_"):
            preset = PRESETS.get(config.fixed.get("scheme"))
            value = None if preset is None else preset.get(name[5:])
        elif SETTINGS[name].optional:
            value = config.fixed.get("lr")
        else:
            value = config.fixed.get(name)
        if value is None:
            return None
        point.append(float(value))
    return tuple(point)


def _fixed_text(config: SweepConfig) -> str:
    """What the map holds fixed, in a few words (for the figure's title): the rates it uses
    (lr only where a layer takes it: not on a map over both layers' rates)."""
    f, axes = config.fixed, set(config.map.names)
    parts = [f"H={f['hidden']} {f['activation']}"]
    rates = []
    layers = [n for n in ("lr_hidden", "lr_output") if n not in axes]
    for name in layers:
        if f.get(name) is not None:
            rates.append(f"{name}={f[name]:g}")
    if any(f.get(n) is None for n in layers) and "lr" in f and "lr" not in axes:
        rates.append(f"lr={f['lr']:g}")
    parts.append(" ".join([f["optimizer"], *rates]))
    scheme = f.get("scheme")
    if scheme in PRESETS:
        parts.append(f"start {scheme}")
    elif scheme is not None:
        parts.append(f"{scheme} seed {f.get('seed')}")
    if f.get("dataset", "dosage") != "dosage":
        parts.append(f"data {f['dataset']}")
    return ", ".join(parts)


def pixel_results(config: SweepConfig, results: Path, color: str) -> dict:
    """The per-pixel arrays an image needs (run order), read from the map's Parquet results
    (only those columns): status codes, steps, final SSR, and with ``color="basin"`` the basin
    ids."""
    cols = ["status", "steps", "final_ssr"]
    finals = [f"final_{p}" for p in config.param_union()]
    extra = ["run_id", "dataset", "hidden", "activation", *finals] if color == "basin" else []
    df = pd.read_parquet(results, columns=cols + extra)
    out = {
        "status": pd.Categorical(df["status"], categories=STATUSES).codes.astype(np.int8),
        "steps": df["steps"].to_numpy(np.int64),
        "final_ssr": df["final_ssr"].to_numpy(np.float64),
    }
    if color == "basin":
        from ..analysis.endpoints import basins

        _, labels = basins(df, with_labels=True)
        out["basin"] = labels.to_numpy(np.int64)
    return out


#: The boundaries a map's dimension is measured on, the first being the headline one.
BOUNDARIES = (("diverged vs not", "diverged"), ("converged vs not", "converged"))


def boundaries(grids: dict) -> list[tuple[str, np.ndarray]]:
    """The two-class grids whose boundary to measure: diverged vs not, and converged vs not
    (stalled and diverged runs alike), each where both classes occur."""
    status = grids["status"]
    found = []
    for label, name in BOUNDARIES:
        grid = status == STATUSES.index(name)
        if grid.any() and not grid.all():
            found.append((label, grid))
    return found


def draw(
    config: SweepConfig,
    results: Path,
    *,
    color: str | None = None,
    fit_ssr: float = DEFAULT_FIT_SSR,
    dimension: bool = False,
    figure: bool = True,
) -> MapResult:
    """Write the image, figure (and dimension plot) of a trained map from its Parquet
    ``results`` (a map's results are always Parquet), and add the ``map`` entry to its JSON
    sidecar; returns what was written."""
    from . import image

    spec = config.map
    color = color or spec.color
    out = results.parent
    t0 = time.perf_counter()
    px = pixel_results(config, results, color)
    grids = {k: window.to_grid(v, spec) for k, v in px.items()}
    max_steps = config.values_of("max_steps")
    picture = image.map_image(
        color,
        spec,
        status=grids["status"],
        steps=grids["steps"],
        final_ssr=grids["final_ssr"],
        basin=grids.get("basin"),
        fit_ssr=fit_ssr,
        steps_range=(1.0, float(max(max(max_steps), 2))),
    )
    png = image.write_png(picture, out / f"{config.name}.png")
    info = {
        "window": spec.to_dict(),
        "color": color,
        "fit_ssr": fit_ssr,
        "counts": {s: int((px["status"] == i).sum()) for i, s in enumerate(STATUSES)},
        "good_fit": int((px["final_ssr"] < fit_ssr).sum()),
        "start": start_point(config),
    }
    fig_path = None
    if figure:
        fig_path = out / f"{config.name}-figure.png"
        zoomed = config.description.startswith(ZOOM_NOTE)
        title = f"{color} over {spec.x} x {spec.y}, {spec.width} x {spec.height} runs" + (
            f"\n{config.description[len(ZOOM_NOTE) :]}" if zoomed else ""
        )
        ax = image.map_figure(
            None, picture, spec, start=info["start"], fixed=_fixed_text(config), title=title
        )
        _save(ax, fig_path)
    dimension_png = None
    if dimension:
        info["dimension"] = _dimension(config, grids, out)
        if info["dimension"]["classes"] is not None:
            dimension_png = out / f"{config.name}-dimension.png"
    info["image_seconds"] = time.perf_counter() - t0
    json_path = out / f"{config.name}.json"
    meta = read_json(json_path, "run the map again with --fresh")
    meta["map"] = info
    write_text_atomic(json_path, json.dumps(meta, indent=2, default=str) + "\n")
    return MapResult(config, results, png, fig_path, json_path, info, dimension_png)


#: fewer box sizes than this (a map under 256 px a side) make the slope a rough estimate
MIN_BOX_SIZES = 5


def _dimension(config: SweepConfig, grids: dict, out: Path) -> dict:
    """Box-counting dimension of each boundary (:func:`boundaries`): the headline entry (the
    first found) with the others under ``"also"``; plots them on one figure."""
    if min(config.map.width, config.map.height) < 32:
        note = "map too small: box counting needs at least 32 x 32 pixels"
        return {"classes": None, "D": None, "table": [], "note": note}
    found = boundaries(grids)
    if not found:
        return {"classes": None, "D": None, "table": [], "note": "one outcome only: no boundary"}
    from . import image

    entries, ax = [], None
    for label, grid in found:
        d, table = boxcount.boundary_dimension(grid)
        entry = {
            "classes": label,
            "D": d if math.isfinite(d) else None,
            "table": table.to_dict(orient="records"),
        }
        if len(table) < MIN_BOX_SIZES:
            entry["note"] = f"rough: under {MIN_BOX_SIZES} box sizes, use 256 x 256 or more"
        entries.append(entry)
        ax = image.dimension_plot(table, d, ax=ax, label=f"{label}: D = {d:.3f}")
    ax.set_title(f"{config.name}: box counts of the outcome boundaries")
    _save(ax, out / f"{config.name}-dimension.png")
    return {**entries[0], "also": entries[1:]}


def _save(ax, path: Path) -> None:
    # the Figure is not pyplot's (mapimage uses the object API): nothing to close
    with writing(path):
        ax.figure.savefig(path, dpi=110, bbox_inches="tight")


#: Peak memory of drawing a map, in bytes a pixel beyond the process's own (the per-pixel
#: columns read back from the Parquet, their grids, the RGB image and the figure). Measured:
#: 4096 x 4096 coloured by outcome 2.87 GB peak resident (about 160 bytes a pixel), 1024 x 1024
#: by basin 750 MB (the final parameters too: about 480 bytes a pixel); with some margin.
DRAW_BYTES = {"basin": 560, "other": 190}


def check_draw_fits(config: SweepConfig, color: str | None = None) -> None:
    """Refuse (SweepError), before any training, a map whose drawing cannot fit memory."""
    spec = config.map
    color = color or spec.color
    pixels = spec.width * spec.height
    per_pixel = DRAW_BYTES["basin" if color == "basin" else "other"]
    need = pixels * per_pixel
    memory = memory_short(need)
    if memory is not None:
        raise SweepError(
            f"{config.name}: drawing {spec.width} x {spec.height} pixels coloured by {color} "
            f"needs about {size_text(need)} of memory (about {per_pixel} bytes a pixel) and "
            f"{size_text(memory)} is available; lower the resolution (--resolution WxH)"
        )


def run_map(
    config: SweepConfig,
    options: RunOptions | None = None,
    *,
    color: str | None = None,
    fit_ssr: float = DEFAULT_FIT_SSR,
    dimension: bool = False,
    figure: bool = True,
):
    """Train one map (or resume it) and draw it; returns (sweep outcome, MapResult).

    ``options``: how to train it (the results are always Parquet: ``results_format`` is set
    here); ``color``, ``fit_ssr``, ``dimension``, ``figure``: what to draw (see :func:`draw`).
    """
    options = RunOptions(results_format="parquet") if options is None else options
    check_draw_fits(config, color)
    outcome = run_plan(plan(config, options.but(results_format="parquet")))
    # the sweep's lock again while the images and the JSON are written: a second bpsweep map
    # of the same config into the same folder is refused rather than interleaving its files
    with SweepLock(outcome.csv_path.parent, config.name).acquire():
        drawn = draw(
            config,
            outcome.csv_path,
            color=color,
            fit_ssr=fit_ssr,
            dimension=dimension,
            figure=figure,
        )
    return outcome, drawn
