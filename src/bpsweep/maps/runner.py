"""A map's whole life: its tiles trained (those no earlier map, zoom or explorer view of its
plane left in the tile cache), its results file assembled from them, then drawn and measured.

A map config (``[map]``, :mod:`bpsweep.sweeps.window`) names a plane and a window of it at a
resolution: a :class:`~bpsweep.maps.tiles.Grid` of tiles of T x T pixels (T = 256). Training
goes tile by tile, in this process, in worker processes, on a dask cluster or on a GPU
(:mod:`bpsweep.maps.train`); every tile is kept in ``<out>/tiles/`` with its SHA-256, so a
killed map resumes from the tiles it trained, and the same window again trains nothing.
Then, beside the tile cache, into ``--out``:

- ``<name>.parquet``: one row per pixel (:mod:`bpsweep.maps.assemble`);
- ``<name>.png``, ``<name>-figure.png`` and, with ``dimension``, ``<name>-dimension.png``
  (:mod:`bpsweep.maps.draw`);
- ``<name>.json``: the map's sidecar: the resolved config, its fingerprint, what was trained
  and reused, timings, versions, the results file's size and SHA-256, and a ``map`` entry
  (window, colour, counts, the start, the boundary dimensions).

Zooms (``--zoom``) and zoom frames (``--frames``) are maps of their own, named after the
window (``<name>-zoom-<hash>``, ``...-frame-<k>``), so each resumes on its own and a new zoom
never clobbers an earlier one; the frames are also assembled into ``<name>-zoom-<hash>.gif``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import hashlib
import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import file_digest, read_json, write_text_atomic, writing
from ..errors import SweepError, UsageError
from ..machine import cpu_model, free_disk, memory_short, versions
from ..model import DEFAULT_FIT_SSR, PRESETS, STATUSES
from ..sweeps import estimate, window
from ..sweeps.config import SweepConfig, config_from_dict
from ..sweeps.options import RunOptions
from ..sweeps.outdir import SweepLock, check_name_fits, make_out_dir, remove_if_empty
from ..wording import duration, plural, size_text
from . import draw as drawing
from .assemble import assemble_map
from .tiles import TILE, Grid, TileStore, tile_columns
from .train import missing_tiles, train_tiles


@dataclass
class MapResult:
    """What :func:`run_map` drew for one map."""

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


@dataclass
class MapOutcome:
    """What a map's run did: pixels trained and reused, timing, counts."""

    config: SweepConfig
    csv_path: Path  #: the results file (named as a sweep's outcome names it)
    json_path: Path
    n_runs: int
    computed: int  #: pixels trained by this run
    wall_seconds: float
    run_steps: int  #: steps of the pixels trained by this run
    counts: dict = field(default_factory=dict)
    median_steps: float = math.nan
    already_complete: bool = False
    tiles: int = 0
    tiles_trained: int = 0
    metadata: dict = field(default_factory=dict)

    def summary(self, noun: str = "pixel") -> str:
        """Two lines: what was trained (or reused) and how fast; the outcome shares."""
        n, name = self.n_runs, self.config.name
        shares = "  ".join(f"{s} {100 * self.counts.get(s, 0) / n:.1f}%" for s in STATUSES)
        if self.already_complete:
            head = (
                f"{name}: {plural(n, noun)}, already complete (nothing computed; --fresh "
                f"recomputes)"
            )
        elif self.computed == 0:
            head = (
                f"{name}: {plural(n, noun)} (all {plural(self.tiles, 'tile')} from the tile "
                f"cache, nothing computed) in {self.wall_seconds:.2f} s"
            )
        else:
            rate = self.run_steps / self.wall_seconds if self.wall_seconds > 0 else math.nan
            reused = self.tiles - self.tiles_trained
            cached = f", {reused:,} from the tile cache" if reused else ""
            head = (
                f"{name}: {plural(n, noun)} ({self.computed:,} computed: "
                f"{plural(self.tiles_trained, 'tile')} trained{cached}) in "
                f"{self.wall_seconds:.2f} s, {rate:,.0f} run-steps/s"
            )
        return f"{head}\n  {shares}  median steps {self.median_steps:g}"


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
    if spec.is_line and zoom is not None:
        raise UsageError(
            f"--zoom: {config.name} is a line (a [map] with only x); narrow it with --set "
            f"map.center=[C] and --set map.span=[S] instead"
        )
    if resolution is not None:
        spec = spec.with_resolution(resolution)
        name = f"{name}-{spec.width}" if spec.is_line else f"{name}-{spec.width}x{spec.height}"
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


#: Bytes a tile keeps per pixel (Arrow IPC, uncompressed): status 1, steps 8, the two SSRs and
#: the final parameters 8 each; a lean tile status, steps and final_ssr.
def tile_bytes_per_pixel(config: SweepConfig) -> int:
    return 1 + 8 * (len(tile_columns(config, config.map.columns)) - 1)


#: Bytes a pixel of a map's Parquet takes at most, as a share of its tile's (measured on the
#: lr map: the settings cost nothing, the unique floats compress a little); a bound for the
#: disk check, not an estimate.
PARQUET_SHARE = 1.0


def maps_need(configs: list[SweepConfig]) -> tuple[int, int]:
    """(files, bytes on disk) the maps ``configs`` leave: each map's tiles, Parquet, PNG and
    JSON (an upper bound: tiles other maps left are not counted off)."""
    files, need = 0, 0
    for config in configs:
        pixels = config.map.n_pixels
        tile = tile_bytes_per_pixel(config)
        tiles = -(-config.map.width // TILE) * -(-config.map.height // TILE)
        need += pixels * (tile + int(PARQUET_SHARE * tile) + 16 + PNG_BYTES) + 4096
        files += 3 + 2 * tiles
    return files, need


def check_maps_fit(configs: list[SweepConfig], out) -> None:
    """Refuse (SweepError), before any training, maps whose files cannot fit the disk."""
    files, need = maps_need(configs)
    free = free_disk(Path(out))
    if free is not None and need > free:
        what = f"{len(configs):,} maps" if len(configs) > 1 else configs[0].name
        raise SweepError(
            f"{what}: {files:,} files of about {size_text(need)} in all (the tiles, the "
            f"results and the images) would not fit the {size_text(free)} free under {out}; "
            f"lower the resolution or the number of frames, or choose another --out"
        )


def describe_maps(
    configs: list[SweepConfig], options: RunOptions, gif: str | None, chaos: int = 0
) -> str:
    """--dry-run's text for the maps a command would make: one map (its window, tiles
    stored and to train, the work on this machine, the files), or zoom frames in all;
    with ``chaos`` moved starts a pixel, (chaos + 1) times the training."""
    if chaos:
        lines = describe_maps(configs, options, gif).splitlines()
        lines.insert(-1, f"chaos: every pixel also from {plural(chaos, 'moved start')}: "
                         f"{chaos + 1} times the training above")  # fmt: skip
        return "\n".join(lines)
    if gif is None:
        return "\n".join(_describe_map(c, options) for c in configs)
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
    return "\n".join(
        [
            f"{gif}: {len(configs):,} zoom frames of {last.width} x {last.height} pixels, "
            f"{pixels:,} runs in all",
            f"  from {_window_text(first)}",
            f"  to   {_window_text(last)}",
            f"work: {work_text}",
            f"files: {files + 1:,} (each frame's tiles, Parquet, PNG and JSON, and {gif}.gif), "
            f"about {size_text(need)} on disk",
            "dry run: nothing written",
        ]
    )


def _window_text(spec) -> str:
    ranges = spec.to_dict()
    x0, x1 = ranges["x_range"]
    y0, y1 = ranges["y_range"]
    return f"{spec.x} {x0:.6g}..{x1:.6g} x {spec.y} {y0:.6g}..{y1:.6g}"


def _describe_map(config: SweepConfig, options: RunOptions) -> str:
    spec = config.map
    grid = Grid(spec)
    store = TileStore(options.out / "tiles", config)
    stored = (
        0
        if options.fresh
        else sum(store.has(grid, tx, ty, spec.columns) for tx, ty in grid.tiles())
    )
    total = len(grid.tiles())
    found = estimate.long_work(config)
    share = (total - stored) / total
    if found is not None:
        work = (
            f"about {found.run_steps * share:.3g} run-steps, about "
            f"{duration(found.seconds * share)} on this machine (estimated from a sample of "
            f"{plural(found.sample, 'run')})"
        )
    else:
        most = spec.n_pixels * max(int(v) for v in config.values_of("max_steps"))
        work = f"at most {most:,} run-steps (every run to max_steps), under a minute"
    _, need = maps_need([config])
    lines = [
        f"{config.name}: {spec.width} x {spec.height} pixels ({spec.n_pixels:,} runs), "
        f"{spec.columns} columns",
    ]
    if config.description:
        lines.append(f"  {config.description}")
    lines += [
        f"  {_window_text(spec)}",
        f"tiles: {total:,} of {TILE} x {TILE} pixels, {stored:,} already in {store.folder}",
        f"work: {work}",
        f"files: about {size_text(need)} on disk (tiles, results, images)",
        "dry run: nothing written",
    ]
    return "\n".join(lines)


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
        elif name in ("lr_hidden", "lr_output"):  # "as lr" when not set
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


def _save_figure(ax, path: Path) -> None:
    # the Figure is not pyplot's (mapimage uses the object API): nothing to close
    with writing(path):
        ax.figure.savefig(path, dpi=110, bbox_inches="tight")


#: Memory of the basin colour mode, in bytes a pixel: it clusters the final parameters of every
#: good fit of the map at once (measured: 1024 x 1024 by basin, 750 MB peak; with a margin).
#: The other modes are drawn band by band, in memory of a band.
BASIN_BYTES = 560


def check_draw_fits(config: SweepConfig, color: str | None = None) -> None:
    """Refuse (SweepError, UsageError), before any training, a map that cannot be drawn: the
    basin colours of a lean map (no final parameters) or of more pixels than memory holds."""
    spec = config.map
    color = color or spec.color
    if color != "basin":
        return
    if spec.columns == "lean":
        raise UsageError(
            f"{config.name}: --color basin needs the final parameters, which a lean map does "
            f"not keep; use [map] columns = 'full' or another colour"
        )
    need = spec.n_pixels * BASIN_BYTES
    memory = memory_short(need)
    if memory is not None:
        raise SweepError(
            f"{config.name}: colouring {spec.width} x {spec.height} pixels by basin needs about "
            f"{size_text(need)} of memory (about {BASIN_BYTES} bytes a pixel: every good fit's "
            f"final parameters at once) and {size_text(memory)} is available; lower the "
            f"resolution (--resolution WxH) or colour by outcome"
        )


def run_map(
    config: SweepConfig,
    options: RunOptions | None = None,
    *,
    color: str | None = None,
    fit_ssr: float = DEFAULT_FIT_SSR,
    dimension: bool = False,
    figure: bool = True,
    chaos: int = 0,
) -> tuple[MapOutcome, MapResult]:
    """Train one map (or resume it: its tiles are reused) and draw it; returns (what was done,
    what was drawn). ``options``: how to train (jobs, backend, scheduler, device, out, fresh,
    quiet, yes); ``color``, ``fit_ssr``, ``dimension``, ``figure``: what to draw; ``chaos``:
    train every pixel from that many moved starts too (:mod:`bpsweep.maps.chaos`; the chaos
    colour mode takes its default number when none is given)."""
    options = RunOptions() if options is None else options
    spec, name, out = config.map, config.name, options.out
    color = color or spec.color
    chaos = check_chaos(chaos, color)
    check_draw_fits(config, color)
    check_name_fits(out, name)
    started = _dt.datetime.now(_dt.UTC)
    t0 = time.perf_counter()
    created = make_out_dir(out)
    try:
        with SweepLock(out, name):
            outcome = _train_and_assemble(config, options, started, t0, chaos)
            # the images and the sidecar under the same lock: a second bpsweep map of this
            # config into this folder is refused rather than interleaving its files
            drawn = _draw(config, outcome, color, fit_ssr, dimension, figure, options, chaos)
    except BaseException:
        remove_if_empty(created)
        raise
    return outcome, drawn


def check_chaos(chaos, color: str) -> int:
    """The number of moved starts a map is trained from: ``chaos``, checked, or the default
    when the chaos colour mode needs some and none was given."""
    from .chaos import DEFAULT_MOVES, MAX_MOVES

    if isinstance(chaos, bool) or not isinstance(chaos, int) or not 0 <= chaos <= MAX_MOVES:
        raise UsageError(f"--chaos: expected a whole number of moved starts 1 to {MAX_MOVES}, "
                         f"found {chaos!r}")  # fmt: skip
    return DEFAULT_MOVES if color == "chaos" and chaos == 0 else chaos


def _train_and_assemble(config, options, started, t0, chaos: int = 0) -> MapOutcome:
    spec, name, out = config.map, config.name, options.out
    results, json_path = out / f"{name}.parquet", out / f"{name}.json"
    grid = Grid(spec)
    store = TileStore(out / "tiles", config)
    fingerprint = config.fingerprint()
    if not options.fresh:
        previous = _complete(results, json_path, fingerprint)
        if previous is not None and previous.get("chaos_moves", 0) == chaos:
            return _complete_outcome(config, results, json_path, previous, len(grid.tiles()))
    if options.fresh:  # this window's tiles trained again; other windows' tiles stay
        with contextlib.suppress(OSError):
            shutil.rmtree(store.folder / grid.key)
    missing = missing_tiles(store, grid, spec.columns, chaos)
    pixels = sum((b[1] - b[0]) * (b[3] - b[2]) for b in (grid.bounds(*t) for t in missing))
    _check_long_work(config, options, pixels * (chaos + 1))
    training = train_tiles(config, grid, store, options, spec.columns, missing, chaos)
    size, sha256 = assemble_map(config, grid, store, results, chaos)
    stats = drawing.first_pass(results, spec.width, DEFAULT_FIT_SSR, False)
    wall = time.perf_counter() - t0
    counts = {s: int(c) for s, c in zip(STATUSES, stats.counts)}
    metadata = _sidecar(
        config,
        options,
        fingerprint=fingerprint,
        training=training,
        store=store,
        grid=grid,
        started=started,
        wall=wall,
        counts=counts,
        stats=stats,
        results=results,
        size=size,
        sha256=sha256,
    )
    metadata["chaos_moves"] = chaos
    write_text_atomic(json_path, json.dumps(metadata, indent=2, default=str) + "\n")
    return MapOutcome(
        config,
        results,
        json_path,
        spec.n_pixels,
        training.pixels,
        wall,
        training.run_steps,
        counts,
        stats.median_steps,
        tiles=training.tiles,
        tiles_trained=training.trained,
        metadata=metadata,
    )


def _check_long_work(config: SweepConfig, options: RunOptions, pixels: int) -> None:
    """Refuse training estimated over an hour unless ``yes``; announce it over a minute."""
    if pixels == 0:
        return
    found = estimate.long_work(config, estimate.LONG_WORK_SECONDS)
    if found is None:
        return
    seconds = found.seconds * pixels / config.map.n_pixels
    what = f"{plural(pixels, 'pixel')} to train, {found.describe()}"
    if seconds > estimate.LONG_WORK_SECONDS and not options.yes:
        raise SweepError(
            f"{config.name}: {what}; that is over an hour: run again with --yes to start it "
            f"anyway (Ctrl-C stops it, keeping the tiles trained), or lower the resolution"
        )
    if seconds > estimate.NOTICE_SECONDS and not options.quiet:
        print(
            f"bpsweep: {config.name}: {what}; Ctrl-C stops it, keeping the tiles trained",
            file=sys.stderr,
            flush=True,
        )


_RECOVER = "run the map again with --fresh"


def _complete(results: Path, json_path: Path, fingerprint: str) -> dict | None:
    """The sidecar of this map's finished results, when they are there, of this config and
    unchanged since they were written (size and SHA-256); else None (they are made again)."""
    if not (results.is_file() and json_path.is_file()):
        return None
    try:
        previous = read_json(json_path, _RECOVER)
    except SweepError:
        return None
    if previous.get("fingerprint") != fingerprint or previous.get("results_tiles") is None:
        return None
    size, sha256 = previous.get("results_size"), previous.get("results_sha256")
    try:
        if results.stat().st_size != size or file_digest(results)[1] != sha256:
            return None
    except OSError:
        return None
    return previous


def _complete_outcome(config, results, json_path, previous, tiles) -> MapOutcome:
    return MapOutcome(
        config,
        results,
        json_path,
        config.map.n_pixels,
        0,
        0.0,
        0,
        previous.get("status_counts", {}),
        previous.get("median_steps", math.nan),
        already_complete=True,
        tiles=tiles,
        metadata=previous,
    )


def _sidecar(
    config,
    options,
    *,
    fingerprint,
    training,
    store,
    grid,
    started,
    wall,
    counts,
    stats,
    results,
    size,
    sha256,
) -> dict:
    ended = _dt.datetime.now(_dt.UTC)
    return {
        "name": config.name,
        "description": config.description,
        "config_file": config.source,
        "config": config.resolved(),
        "fingerprint": fingerprint,
        "runs": config.map.n_pixels,
        "varying": {a.name: a.describe() for a in config.varying()},
        "computed_runs": training.pixels,
        "resumed_runs": config.map.n_pixels - training.pixels,
        "start_time": started.isoformat(timespec="seconds"),
        "end_time": ended.isoformat(timespec="seconds"),
        "wall_seconds": wall,
        "train_seconds": training.seconds,
        "run_steps": training.run_steps,
        "run_steps_per_second": training.run_steps / wall if wall > 0 else None,
        "status_counts": counts,
        "median_steps": stats.median_steps,
        "jobs": options.jobs if options.jobs is not None else "default",
        "workers": training.workers,
        "backend": training.where,
        "scheduler": training.address,
        "device": options.device,
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "versions": versions(),
        "tiles": {
            "folder": str(store.folder),
            "plane": store.key,
            "grid": grid.key,
            "tile": grid.size,
            "tiles": training.tiles,
            "trained": training.trained,
            "reused": training.reused,
        },
        "results": str(results),
        "results_tiles": True,
        "results_size": size,
        "results_sha256": sha256,
    }


def _draw(config, outcome, color, fit_ssr, dimension, figure, options, chaos=0) -> MapResult:
    """The images and the ``map`` entry of the sidecar (see :mod:`bpsweep.maps.draw`)."""
    from . import image

    spec = config.map
    if spec.is_line:
        return _draw_line(config, outcome, fit_ssr, dimension, options, chaos)
    out = options.out
    results = outcome.csv_path
    t0 = time.perf_counter()
    stats = drawing.first_pass(results, spec.width, fit_ssr, dimension)
    max_steps = float(max(max(config.values_of("max_steps")), 2))
    steps_range = (1.0, max_steps)
    png = out / f"{config.name}.png"
    small = None
    if color == "basin":
        px = pixel_results(config, results, color)
        grids = {k: window.to_grid(v, spec) for k, v in px.items()}
        small = image.map_image(
            color,
            spec,
            status=grids["status"],
            steps=grids["steps"],
            final_ssr=grids["final_ssr"],
            basin=grids["basin"],
            fit_ssr=fit_ssr,
            steps_range=steps_range,
        )
        image.write_png(small, png)
    else:
        bands = drawing.image_bands(results, spec, color, fit_ssr, steps_range, stats.ssr_range)
        if max(spec.width, spec.height) <= drawing.FIGURE_SIDE:
            kept = list(bands)  # small: kept for the figure
            rgb = np.concatenate(kept) if kept else np.zeros((0, spec.width, 3), np.uint8)
            bands = iter(kept)
        image.write_png_bands(png, spec.width, spec.height, bands)
        if max(spec.width, spec.height) <= drawing.FIGURE_SIDE:
            small = _legended(image, color, rgb, stats, fit_ssr, steps_range)
    info = {
        "window": spec.to_dict(),
        "color": color,
        "fit_ssr": fit_ssr,
        "counts": {s: int(c) for s, c in zip(STATUSES, stats.counts)},
        "good_fit": stats.good_fit,
        "start": start_point(config),
    }
    if chaos:
        info["chaos"] = drawing.chaos_entry(stats, chaos)
    fig_path = None
    if figure:
        fig_path = out / f"{config.name}-figure.png"
        fig_spec, fig_image = spec, small
        if fig_image is None:  # a large map: drawn from a coarser grid of its window
            fig_spec, fig_image = _coarse_image(
                config, color, fit_ssr, steps_range, stats, options, chaos
            )
            info["figure_from"] = list(fig_spec.resolution)
        zoomed = config.description.startswith(ZOOM_NOTE)
        title = f"{color} over {spec.x} x {spec.y}, {spec.width} x {spec.height} runs" + (
            f"\n{config.description[len(ZOOM_NOTE) :]}" if zoomed else ""
        )
        if fig_spec is not spec:
            title += f" (figure: {fig_spec.width} x {fig_spec.height})"
        ax = image.map_figure(
            None, fig_image, fig_spec, start=info["start"], fixed=_fixed_text(config), title=title
        )
        _save_figure(ax, fig_path)
    dimension_png = None
    if dimension:
        info["dimension"] = drawing.dimension_entries(stats, spec)
        if info["dimension"]["classes"] is not None:
            _half_resolution(config, info["dimension"], fit_ssr, options)
            dimension_png = out / f"{config.name}-dimension.png"
            _save_figure(dimension_figure(config.name, info["dimension"]), dimension_png)
    info["image_seconds"] = time.perf_counter() - t0
    json_path = out / f"{config.name}.json"
    meta = read_json(json_path, _RECOVER)
    meta["map"] = info
    write_text_atomic(json_path, json.dumps(meta, indent=2, default=str) + "\n")
    return MapResult(config, results, png, fig_path, json_path, info, dimension_png)


def _draw_line(config, outcome, fit_ssr, dimension, options, chaos) -> MapResult:
    """A line's figure (``<name>.png``: outcome and steps against the setting), its boundary
    points' dimension and the ``map`` entry of the sidecar (see :mod:`bpsweep.maps.line`)."""
    from . import line

    spec, out, results = config.map, options.out, outcome.csv_path
    t0 = time.perf_counter()
    stats = drawing.first_pass(results, spec.width, fit_ssr, False)
    values = line.read_line(results, ["status", "steps", "final_ssr", spec.x])
    start = start_point(config)
    info = {
        "window": spec.to_dict(),
        "color": "outcome",
        "fit_ssr": fit_ssr,
        "counts": {s: int(c) for s, c in zip(STATUSES, stats.counts)},
        "good_fit": stats.good_fit,
        "start": start,
    }
    if chaos:
        info["chaos"] = drawing.chaos_entry(stats, chaos)
    png = out / f"{config.name}.png"
    title = f"outcome and steps along {spec.x}\nfixed: {_fixed_text(config)}"
    fig = line.line_figure(config, values, fit_ssr, title, None if start is None else start[0])
    _save_figure(fig.axes[0], png)
    dimension_png = None
    if dimension:
        info["dimension"] = line.line_dimensions(values["status"])
        if info["dimension"]["classes"] is not None:
            dimension_png = out / f"{config.name}-dimension.png"
            _save_figure(dimension_figure(config.name, info["dimension"]), dimension_png)
    info["image_seconds"] = time.perf_counter() - t0
    json_path = out / f"{config.name}.json"
    meta = read_json(json_path, _RECOVER)
    meta["map"] = info
    write_text_atomic(json_path, json.dumps(meta, indent=2, default=str) + "\n")
    return MapResult(config, results, png, None, json_path, info, dimension_png)


def _half_resolution(config, entry: dict, fit_ssr, options) -> None:
    """Add to each boundary's entry its dimension at half the resolution of the same window
    (the grid trained as tiles of the plane, a quarter of the map's work): how much D moves
    with the resolution, a second measure of its uncertainty."""
    spec = config.map
    if min(spec.width, spec.height) < 64:
        return
    half = dataclasses.replace(spec, resolution=(spec.width // 2, spec.height // 2))
    small = with_window(config, half, f"{config.name}-half")
    grid = Grid(half)
    store = TileStore(options.out / "tiles", small)
    train_tiles(small, grid, store, dataclasses.replace(options, quiet=True), "lean")
    tmp = options.out / f".tmp-{os.getpid()}-{config.name}-half.parquet"
    try:
        assemble_map(dataclasses.replace(small, map=dataclasses.replace(half, columns="lean")),
                     grid, store, tmp)  # fmt: skip
        stats = drawing.first_pass(tmp, half.width, fit_ssr, True)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    found = drawing.dimension_entries(stats, half)
    halves = {e["classes"]: e for e in (found, *found.get("also", [])) if e.get("classes")}
    for e in (entry, *entry.get("also", [])):
        other = halves.get(e["classes"])
        if other is not None and other["D"] is not None and e["D"] is not None:
            e["D_half_resolution"] = other["D"]
            e["resolution_difference"] = abs(e["D"] - other["D"])
            e["summary"] += (
                f"; at {half.width} x {half.height}: D = {other['D']:.3f} (moves "
                f"{abs(e['D'] - other['D']):.3f} with the resolution)"
            )


def zoom_dimensions(drawn: list[MapResult], tag: str, out: Path) -> dict:
    """The boundary dimension of every zoom frame against the zoom's depth (log10 of how many
    times narrower than the first frame), their median over the frames that have the boundary
    and the median of all their local slopes (as Sohl-Dickstein's notebook reports a zoom), a
    plot (``<tag>-dimension.png``) and a JSON (``<tag>.json``); returns the JSON's content."""
    from .image import _no_matplotlib, figure

    first = drawn[0].config.map.span[0]
    rows, slopes = [], {}
    for k, result in enumerate(drawn):
        entry = result.info.get("dimension") or {}
        found = {e["classes"]: e for e in (entry, *entry.get("also", [])) if e.get("classes")}
        depth = math.log10(first / result.config.map.span[0])
        for c, e in found.items():
            slopes.setdefault(c, []).extend(
                r["local_slope"] for r in e.get("table", []) if r.get("local_slope") is not None
            )
        rows.append(
            {
                "frame": k,
                "depth": depth,
                **{f"D ({c})": e["D"] for c, e in found.items()},
                **{f"uncertainty ({c})": e.get("uncertainty") for c, e in found.items()},
            }
        )
    table = pd.DataFrame(rows, dtype=float)  # None (no boundary in a frame) -> NaN
    medians = {
        c[3:-1]: float(np.nanmedian(table[c]))
        for c in table.columns
        if c.startswith("D (") and table[c].notna().any()
    }
    fig = figure(6.5, 4.2, missing=_no_matplotlib())
    ax = fig.subplots()
    for label, median in medians.items():
        ax.plot(table["depth"], table[f"D ({label})"], "o-", label=f"{label}: median {median:.3f}")
    ax.set_xlabel("zoom depth (log10 of the first frame's span over the frame's)")
    ax.set_ylabel("box-counting dimension D")
    ax.set_title(f"{tag}: the boundary's dimension as the zoom deepens", fontsize=9)
    ax.legend(fontsize=8)
    _save_figure(ax, out / f"{tag}-dimension.png")
    result = {
        "frames": rows,  # None where a frame has no boundary (one outcome only)
        "median": medians,  # of the frames' D
        "frames_measured": {c: int(table[f"D ({c})"].notna().sum()) for c in medians},
        # the fractal-trainability notebook's figure: the median of every local slope of
        # every frame
        "median_local_slope": {c: float(np.median(slopes[c])) for c in medians if slopes.get(c)},
    }
    write_text_atomic(out / f"{tag}.json", json.dumps(result, indent=2, default=str) + "\n")
    return result


def dimension_figure(name: str, entry: dict):
    """Box counts with their fits (left) and the local slope at each box size, the
    dimension at that scale (right), for each boundary of a --dimension entry; the Axes."""
    from .image import _no_matplotlib, dimension_plot, figure

    fig = figure(10.5, 4.3, missing=_no_matplotlib())
    left, right = fig.subplots(1, 2)
    colours = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")
    for k, e in enumerate((entry, *entry.get("also", []))):
        table = pd.DataFrame(e["table"])
        d = math.nan if e["D"] is None else e["D"]
        dimension_plot(table, d, ax=left, label=f"{e['classes']}: D = {d:.3f}")
        slopes = table.dropna(subset=["local_slope"]) if "local_slope" in table else table[:0]
        if len(slopes):
            colour = colours[k % len(colours)]
            right.plot(slopes["box_size"], slopes["local_slope"], "o-", color=colour,
                       label=f"{e['classes']}")  # fmt: skip
            u = e.get("uncertainty")
            if u is not None and math.isfinite(d):
                right.axhspan(d - u, d + u, color=colour, alpha=0.12)
                right.axhline(d, color=colour, linewidth=0.8)
    right.set_xscale("log", base=2)
    right.set_xlabel("box size (pixels)")
    right.set_ylabel("local slope: the dimension at that scale")
    right.set_title("D and its spread over box sizes")
    right.legend(fontsize=8)
    left.set_title(f"{name}: box counts of the outcome boundaries", fontsize=9)
    return left


def _legended(image, color, rgb, stats, fit_ssr, steps_range):
    """A MapImage of the whole map's pixels with the whole map's legend or colour bar."""
    from .image import VIRIDIS, MapImage, outcome_legend, ramp, ssr_legend

    legend, bar = [], None
    if color == "outcome":
        legend = outcome_legend(stats.families, fit_ssr)
    elif color == "steps":
        lo, hi = steps_range
        bar = {
            "colors": ramp(VIRIDIS),
            "vmin": lo,
            "vmax": hi,
            "log": True,
            "label": "steps (log scale)",
        }
    elif color == "final_ssr":
        lo, hi = stats.ssr_range
        bar = {
            "colors": ramp(VIRIDIS),
            "vmin": lo,
            "vmax": hi,
            "log": True,
            "label": "final SSR (log scale)",
        }
        legend = ssr_legend(stats.not_finite)
    elif color == "chaos" and stats.chaotic is not None:
        from .image import chaos_legend

        stable = stats.families - stats.chaotic_families
        legend = chaos_legend([*stable, int(stats.chaotic.sum())], fit_ssr)
    return MapImage(rgb, color, legend, bar)


def _coarse_image(config, color, fit_ssr, steps_range, stats, options, chaos=0):
    """The figure's image of a map larger than FIGURE_SIDE: the same window at a resolution
    2^k times coarser, its own pixels trained as tiles of the plane (cached)."""
    from .assemble import assemble_map

    spec = config.map
    factor = 1 << math.ceil(math.log2(max(spec.width, spec.height) / drawing.FIGURE_SIDE))
    coarse = dataclasses.replace(
        spec, resolution=(max(1, spec.width // factor), max(1, spec.height // factor))
    )
    small_config = with_window(config, coarse, f"{config.name}-figure")
    grid = Grid(coarse)
    store = TileStore(options.out / "tiles", small_config)
    quiet = dataclasses.replace(options, quiet=True, fresh=False)
    chaos = chaos if color == "chaos" else 0
    train_tiles(small_config, grid, store, quiet, coarse.columns, chaos=chaos)
    tmp = options.out / f".tmp-{os.getpid()}-{config.name}-figure.parquet"
    try:
        assemble_map(small_config, grid, store, tmp, chaos)
        bands = list(drawing.image_bands(tmp, coarse, color, fit_ssr, steps_range, stats.ssr_range))
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    from . import image

    return coarse, _legended(image, color, np.concatenate(bands), stats, fit_ssr, steps_range)
