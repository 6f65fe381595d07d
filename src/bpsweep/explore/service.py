"""The explorer's work, apart from the web: a map config's plane served as tiles, a pixel's
run, a view's config and its boundary dimension.

Level z of the plane is the config's window at 256 * 2^z pixels a side
(:func:`bpsweep.maps.tiles.level_grid`), cut into 2^z x 2^z tiles of 256 x 256 pixels; tile
(z, x, y) is the tile ``(x, 2^z - 1 - y)`` of that grid (a tile viewer counts rows from the
top, a map from the bottom). Tiles come from the plane's tile cache, the one ``bpsweep map``
fills, or are trained once and kept there; their per-pixel outcomes are also kept in memory
(:class:`TileArrays`, least recently used first out), so another colour mode or a reload
trains nothing and decodes nothing.

All kernel work goes through one :class:`KernelQueue`: one thread calls the kernels (numba's
``parallel=True`` functions must not be called from two threads at once: numba issue 8563),
coarse levels first, then the tiles nearest the centre of the view last reported, and a job
nobody waits for any more is dropped before it starts.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import heapq
import io
import itertools
import math
import threading
import tomllib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UsageError
from ..maps.chaos import DEFAULT_MOVES, chaos_kind
from ..maps.tiles import (
    TILE,
    Grid,
    TileStore,
    level_grid,
    tile_bytes,
    train_tile,
    train_tile_and_chaos,
)
from ..model import DEFAULT_FIT_SSR, STATUSES, param_names
from ..sweeps.config import SweepConfig, config_from_dict, to_toml
from ..sweeps.expand import expand_columns
from ..sweeps.window import COLOR_MODES, MapSpec, axis_values, max_level

#: Tiles kept decoded in memory (about 1.1 MB each): a screenful many times over.
CACHED_TILES = 256
#: Most tile jobs waiting in the queue; more are refused (the page asks again later).
MAX_PENDING = 512
#: Largest side of a view whose boundary dimension is measured (its own grid of tiles).
MAX_MEASURE_SIDE = 1024
#: Largest max_steps a pixel's run is traced for (the trace keeps every step).
MAX_TRACE_STEPS = 200_000
#: Points of a pixel's loss curve and trajectories sent to the page (every step up to this).
TRACE_POINTS = 2000


class KernelQueue:
    """One thread that runs every job, by priority (lowest first), one at a time. Jobs are
    keyed: a job submitted again while pending or running shares its future; a pending job
    whose every waiter gave up is dropped."""

    def __init__(self, name: str = "bpsweep-kernels"):
        self._heap: list = []
        self._jobs: dict = {}  # key -> [priority, future, function, waiters, started]
        self._lock = threading.Condition()
        self._counter = itertools.count()
        self._closed = False
        self.done = 0  #: jobs finished (for the page's count)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, key, priority, function) -> concurrent.futures.Future:
        """The future of job ``key`` (``function()`` run on the queue's thread)."""
        with self._lock:
            job = self._jobs.get(key)
            if job is not None:
                job[3] += 1
                if not job[4] and priority < job[0]:
                    job[0] = priority
                    heapq.heappush(self._heap, (priority, next(self._counter), key))
                return job[1]
            if self.pending() >= MAX_PENDING:
                raise Busy(f"{MAX_PENDING} tiles are waiting to be trained; try again soon")
            future = concurrent.futures.Future()
            self._jobs[key] = [priority, future, function, 1, False]
            heapq.heappush(self._heap, (priority, next(self._counter), key))
            self._lock.notify()
            return future

    def give_up(self, key) -> None:
        """A waiter of job ``key`` is gone; the job is dropped if it has none and has not
        started."""
        with self._lock:
            job = self._jobs.get(key)
            if job is None:
                return
            job[3] -= 1
            if job[3] <= 0 and not job[4]:
                del self._jobs[key]
                job[1].cancel()

    def reprioritize(self, priority_of) -> None:
        """Recompute every pending job's priority (``priority_of(key)``): the view moved."""
        with self._lock:
            for key, job in self._jobs.items():
                if not job[4]:
                    job[0] = priority_of(key)
            self._heap = [
                (job[0], next(self._counter), k) for k, job in self._jobs.items() if not job[4]
            ]
            heapq.heapify(self._heap)

    def pending(self) -> int:
        """Jobs waiting or running."""
        return len(self._jobs)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._closed and not self._heap:
                    self._lock.wait()
                if self._closed:
                    return
                priority, _, key = heapq.heappop(self._heap)
                job = self._jobs.get(key)
                if job is None or job[4] or job[0] != priority:
                    continue  # dropped, running, or pushed again with another priority
                job[4] = True
            future, function = job[1], job[2]
            try:
                if future.set_running_or_notify_cancel():
                    future.set_result(function())
            except BaseException as exc:  # handed to the waiters: the server keeps serving
                if not future.done():
                    future.set_exception(exc)
            finally:
                with self._lock:
                    self._jobs.pop(key, None)
                    self.done += 1


class Busy(Exception):
    """Too much work is waiting: the request is refused (503) and asked again later."""


@dataclass
class TileArrays:
    """A tile's per-pixel outcomes, rows from the top (as drawn): (256, 256) each."""

    status: np.ndarray  #: int8 codes into STATUSES
    steps: np.ndarray
    final_ssr: np.ndarray
    basin: np.ndarray  #: int64 colour index of each good fit's solution, -1 for the others
    #: uint8 chaos counts (how many of the moved starts end otherwise), once asked for
    chaos: np.ndarray | None = None


class Explorer:
    """The plane of a map config, served: tiles, pixels, views. ``out``: the folder of the
    tile cache (``<out>/tiles``, shared with ``bpsweep map``). ``train``: False to serve only
    tiles already there (browsing a finished map). ``chaos``: the moved starts behind the
    ``chaos`` colour mode (``bpsweep map --chaos K``'s K; the same chaos tiles)."""

    def __init__(
        self,
        config: SweepConfig,
        out,
        *,
        device: str = "cpu",
        train: bool = True,
        fit_ssr: float = DEFAULT_FIT_SSR,
        chaos: int = DEFAULT_MOVES,
    ):
        if config.mode != "map":
            raise UsageError(f"{config.source}: expected a map config (a [map] section)")
        if config.map.is_line:
            raise UsageError(
                f"{config.source}: expected a plane (a [map] with x and y) to explore, found a "
                f"line (only x); draw it with bpsweep map"
            )
        from ..maps.runner import check_chaos

        self.chaos = check_chaos(chaos, "chaos")  # as bpsweep map --chaos K --color chaos
        self.config = config
        self.spec: MapSpec = dataclasses.replace(config.map, columns="full")
        self.store = TileStore(Path(out) / "tiles", config)
        self.device = device
        self.train = train
        self.fit_ssr = fit_ssr
        self.max_level = max_level(self.spec)
        self.max_steps = float(max(max(config.values_of("max_steps")), 2))
        self.queue = KernelQueue()
        self._cache: OrderedDict = OrderedDict()
        self._cache_lock = threading.Lock()
        self._view = (0, 0.5, 0.5)  # level, u, v of the view's centre (0..1 from bottom left)
        self._ssr_range: tuple[float, float] | None = None

    # ---------------------------------------------------------------- tiles

    def check_tile(self, z: int, x: int, y: int) -> None:
        if not 0 <= z <= self.max_level:
            raise UsageError(
                f"zoom level {z} is beyond this plane's levels 0..{self.max_level} (float64 "
                f"cannot tell neighbouring pixels apart deeper)"
            )
        if not (0 <= x < 1 << z and 0 <= y < 1 << z):
            raise UsageError(f"tile ({x}, {y}) is outside level {z} (0..{(1 << z) - 1})")

    def tile_future(self, z: int, x: int, y: int) -> concurrent.futures.Future:
        """The future of tile (z, x, y)'s arrays: at once from memory, else a queue job."""
        self.check_tile(z, x, y)
        key = ("tile", z, x, y)
        with self._cache_lock:
            arrays = self._cache.get(key)
            if arrays is not None:
                self._cache.move_to_end(key)
                done = concurrent.futures.Future()
                done.set_result(arrays)
                return done
        return self.queue.submit(key, self._priority(key), lambda: self._tile_arrays(z, x, y))

    def _priority(self, key) -> tuple:
        """Coarse levels first, then the tiles nearest the view's centre."""
        _, z, x, y = key
        _, u, v = self._view
        n = 1 << z
        tu, tv = (x + 0.5) / n, (n - 1 - y + 0.5) / n
        return (z, (tu - u) ** 2 + (tv - v) ** 2)

    def set_view(self, z: int, u: float, v: float) -> None:
        """The view's centre (fractions of the plane's window from its bottom left)."""
        self._view = (z, u, v)
        self.queue.reprioritize(self._priority)

    def _tile_arrays(self, z: int, x: int, y: int) -> TileArrays:
        """Runs on the queue's thread: the stored tile, or trained (and stored)."""
        grid = level_grid(self.spec, z)
        tx, ty = x, (1 << z) - 1 - y
        table = self.store.load(grid, tx, ty, "full")
        if table is None:
            if not self.train:
                raise NotTrained(f"tile ({z}, {x}, {y}) was not trained for this map")
            from ..sweeps.chunks import CHUNK_TRAINERS

            self.store.prepare(grid)
            config, part, at = self._training_window(grid, tx, ty)
            table = train_tile(config, part, *at, "full", CHUNK_TRAINERS[self.device])
            self.store.save(grid, tx, ty, tile_bytes(table), "full")
        return self._remember(("tile", z, x, y), self._arrays(table))

    def chaos_future(self, z: int, x: int, y: int) -> concurrent.futures.Future:
        """The future of tile (z, x, y)'s arrays with their chaos counts (the chaos mode)."""
        self.check_tile(z, x, y)
        key = ("chaos", z, x, y)
        with self._cache_lock:
            arrays = self._cache.get(("tile", z, x, y))
            if arrays is not None and arrays.chaos is not None:
                self._cache.move_to_end(("tile", z, x, y))
                done = concurrent.futures.Future()
                done.set_result(arrays)
                return done
        priority = self._priority(("tile", z, x, y))
        return self.queue.submit(key, priority, lambda: self._chaos_arrays(z, x, y))

    def _chaos_arrays(self, z: int, x: int, y: int) -> TileArrays:
        """Runs on the queue's thread: the tile's arrays with the chaos counts of its pixels,
        stored or trained with the tile in one kernel call (both stored, as ``bpsweep map
        --chaos K`` stores them)."""
        grid = level_grid(self.spec, z)
        tx, ty = x, (1 << z) - 1 - y
        kind = chaos_kind(self.chaos)
        counts = self.store.load(grid, tx, ty, kind)
        table = self.store.load(grid, tx, ty, "full") if counts is not None else None
        if table is None:
            if not self.train:
                raise NotTrained(f"tile ({z}, {x}, {y}) was not trained with --chaos {self.chaos}")
            from ..sweeps.chunks import CHUNK_TRAINERS

            self.store.prepare(grid)
            config, part, at = self._training_window(grid, tx, ty)
            trainer = CHUNK_TRAINERS[self.device]
            table, counts, _ = train_tile_and_chaos(config, part, *at, "full", trainer, self.chaos)
            if not self.store.has(grid, tx, ty, "full"):
                self.store.save(grid, tx, ty, tile_bytes(table), "full")
            self.store.save(grid, tx, ty, tile_bytes(counts), kind)
        arrays = self._arrays(table)
        chaos = counts["chaos"].to_numpy()
        arrays.chaos = np.ascontiguousarray(chaos.reshape(TILE, TILE)[::-1])
        return self._remember(("tile", z, x, y), arrays)

    def _training_window(self, grid: Grid, tx: int, ty: int) -> tuple:
        """(config, grid, (tx, ty)) to train tile (tx, ty) of a level's grid with: the grid
        itself, or deeper than level 23, where run ids j * W + i would overflow int64, the
        tile as a window of its own pixels."""
        if grid.spec.width * grid.spec.height <= MAX_RUN_ID:
            return self._config_of(grid), grid, (tx, ty)
        config = self._pixels_config(grid, *grid.bounds(tx, ty))
        return config, Grid(config.map), (0, 0)

    def _remember(self, key, arrays: TileArrays) -> TileArrays:
        with self._cache_lock:
            self._cache[key] = arrays
            self._cache.move_to_end(key)
            while len(self._cache) > CACHED_TILES:
                self._cache.popitem(last=False)
        return arrays

    def _config_of(self, grid: Grid) -> SweepConfig:
        """The map config of a grid of the plane (its window and resolution): the plane's
        config with the grid's window, not validated again (level 7 and deeper have more
        pixels a side than a config may ask for; the window is the plane's own, and max_level
        keeps its pixels apart)."""
        return dataclasses.replace(self.config, map=grid.spec)

    def _pixels_config(self, grid: Grid, i0: int, i1: int, j0: int, j1: int) -> SweepConfig:
        """The map config of pixels [i0, i1) x [j0, j1) of a grid as a grid of their own, run
        k = (j - j0) * (i1 - i0) + (i - i0), each pixel the grid's exact value: how a tile of
        a level deeper than 23 is trained (its run ids j * W + i would overflow int64, and
        numpy wraps them around silently), and a pixel of any level."""
        s = grid.spec
        xs = axis_values(s.center[0], s.span[0], s.width, s.scale[0], range(i0, i1))
        ys = axis_values(s.center[1], s.span[1], s.height, s.scale[1], range(j0, j1))
        fields = {f.name: getattr(s, f.name) for f in dataclasses.fields(MapSpec)}
        spec = _Pixels(**{**fields, "resolution": (i1 - i0, j1 - j0)}, xs=xs, ys=ys)
        return dataclasses.replace(self.config, map=spec)

    def _arrays(self, table) -> TileArrays:
        size = TILE

        def grid(column):
            return np.ascontiguousarray(column.reshape(size, size)[::-1])

        status = table["status"].to_numpy().astype(np.int8)
        ssr = table["final_ssr"].to_numpy()
        names = param_names(int(self.config.fixed.get("hidden", 2)))
        finals = np.column_stack([table[f"final_{p}"].to_numpy() for p in names])
        return TileArrays(
            status=grid(status),
            steps=grid(table["steps"].to_numpy()),
            final_ssr=grid(ssr),
            basin=grid(solution_colours(finals, ssr < self.fit_ssr, len(names))),
        )

    def ssr_range(self) -> tuple[float, float]:
        """The final_ssr colour scale of the whole plane: level 0's finite positive SSRs (1e-6
        to 10 when browsing a finished map without a level-0 tile)."""
        if self._ssr_range is None:
            try:
                ssr = self.tile_future(0, 0, 0).result().final_ssr
            except NotTrained:  # a finished map's own level is deeper: a fixed scale
                ssr = np.empty(0)
            ssr = ssr[np.isfinite(ssr) & (ssr > 0)]
            lo, hi = (float(ssr.min()), float(ssr.max())) if ssr.size else (1e-6, 10.0)
            self._ssr_range = (lo, hi if hi > lo else lo * 10)
        return self._ssr_range

    def png(self, arrays: TileArrays, mode: str) -> bytes:
        """A tile's image in a colour mode, as PNG bytes (pillow, zlib level 1)."""
        from ..maps.image import _pil, map_image

        if mode not in COLOR_MODES:
            raise UsageError(f"mode: expected one of {', '.join(COLOR_MODES)}, found {mode!r}")
        basin = arrays.basin if mode == "basin" else None
        picture = map_image(
            mode,
            arrays.status.shape,
            status=arrays.status[::-1],
            steps=arrays.steps[::-1],
            final_ssr=arrays.final_ssr[::-1],
            basin=None if basin is None else basin[::-1],
            chaos=None if mode != "chaos" else arrays.chaos[::-1],
            fit_ssr=self.fit_ssr,
            steps_range=(1.0, self.max_steps),
            ssr_range=self.ssr_range() if mode == "final_ssr" else None,
        )
        buffer = io.BytesIO()
        _pil().fromarray(picture.rgb, "RGB").save(buffer, format="PNG", compress_level=1)
        return buffer.getvalue()

    # ---------------------------------------------------------------- pixels and views

    def pixel_value(self, z: int, i: int, j: int) -> tuple[float, float]:
        """The settings' values at pixel (i, j) of level z (j from the bottom)."""
        from ..sweeps.window import axis_values

        n = TILE << z
        if not (0 <= i < n and 0 <= j < n):
            raise UsageError(f"pixel ({i}, {j}) is outside level {z} (0..{n - 1})")
        s = self.spec
        x = axis_values(s.center[0], s.span[0], n, s.scale[0], [i])[0]
        y = axis_values(s.center[1], s.span[1], n, s.scale[1], [j])[0]
        return float(x), float(y)

    def pixel_run(self, z: int, i: int, j: int) -> dict:
        """Runs on the queue's thread: pixel (i, j) of level z trained again with its trace
        (results are deterministic: the very run of the tile), for the page's panel."""
        from ..engine.trainer import train

        self.pixel_value(z, i, j)  # checks the pixel
        config = self._pixels_config(level_grid(self.spec, z), i, i + 1, j, j + 1)
        columns = expand_columns(config, np.zeros(1, dtype=np.int64))
        hidden = int(columns["hidden"][0])
        names = param_names(hidden)
        start = np.array([columns[f"init_{p}"][0] for p in names])
        max_steps = int(columns["max_steps"][0])
        if max_steps > MAX_TRACE_STEPS:
            raise UsageError(
                f"max_steps {max_steps:,} is more than the {MAX_TRACE_STEPS:,} steps a pixel's "
                f"trace keeps; use bpsweep train with a smaller --max-steps"
            )
        settings = _run_settings(columns)
        data = settings.pop("dataset")
        if data != "dosage":
            data = str(Path(data) if Path(data).is_absolute() else self.config.base_dir / data)
        result = train(data, init=start, trace=True, **settings)
        trace = result.trace
        every = max(1, math.ceil(len(trace) / TRACE_POINTS))
        shown = trace.iloc[::every]
        if shown.index[-1] != trace.index[-1]:
            shown = trace.iloc[[*range(0, len(trace), every), len(trace) - 1]]
        x, y = self.pixel_value(z, i, j)
        return {
            "level": z,
            "pixel": [i, j],
            "axes": {self.spec.x: x, self.spec.y: y},
            "settings": {k: _plain(v) for k, v in settings.items()},
            "dataset": str(data),
            "start": dict(zip(names, start.tolist())),
            "status": result.status,
            "steps": result.steps,
            "initial_ssr": result.initial_ssr,
            "final_ssr": result.final_ssr,
            "final": result.final_params,
            "trace": {
                "step": shown["step"].tolist(),
                "ssr": [_plain(v) for v in shown["ssr"].tolist()],
                **{p: [_plain(v) for v in shown[p].tolist()] for p in names},
            },
            "command": train_command(data, start, names, settings),
        }

    def view_config(self, cx: float, cy: float, sx: float, sy: float, side: int = 4096) -> str:
        """A map config (TOML) of a view: the plane's settings with the view's window (centre
        and span in the axes' units, log10 on a log axis) at ``side`` x ``side`` pixels."""
        spec = self.view_spec(cx, cy, sx, sy, side)
        raw = self.config.resolved()
        raw["name"] = f"{self.config.name}-view-{_tag(spec)}"
        raw["description"] = (
            f"a view of {self.config.name} saved by bpsweep explore: {spec.x} x {spec.y}"
        )
        raw["map"] = spec.to_table()
        text = to_toml(raw)
        config_from_dict(tomllib.loads(text))  # it reads back: checked
        return text

    def view_spec(self, cx: float, cy: float, sx: float, sy: float, side: int) -> MapSpec:
        """The plane's window at centre (cx, cy) and span (sx, sy), side x side pixels,
        checked as a config's window is (UsageError naming what is wrong)."""
        from ..sweeps.window import _check_window

        for name, v in (("cx", cx), ("cy", cy), ("sx", sx), ("sy", sy)):
            if not math.isfinite(v):
                raise UsageError(f"{name}: expected a finite number, found {v!r}")
        if not (sx > 0 and sy > 0):
            raise UsageError(f"span: expected two numbers > 0, found {sx!r}, {sy!r}")
        spec = dataclasses.replace(
            self.spec, center=(cx, cy), span=(sx, sy), resolution=(side, side)
        )
        _check_window(spec, lambda key, m: UsageError(f"view {key}: {m}"))
        return spec

    def measure(self, cx: float, cy: float, sx: float, sy: float, side: int) -> dict:
        """Runs on the queue's thread: the boundary dimension of a view at side x side pixels
        (its own grid, trained as tiles of the plane and kept), both boundaries, with the box
        counts' plot (PNG bytes)."""
        from ..maps import boxcount
        from ..maps.image import dimension_plot

        if not 32 <= side <= MAX_MEASURE_SIDE:
            raise UsageError(
                f"resolution: expected a side from 32 to {MAX_MEASURE_SIDE}, found {side}"
            )
        spec = self.view_spec(cx, cy, sx, sy, side)
        grid = Grid(spec)
        config = self._config_of(grid)
        self.store.prepare(grid)
        status = np.empty((side, side), dtype=np.int8)  # [j, i], j from the bottom
        from ..sweeps.chunks import CHUNK_TRAINERS

        for tx, ty in grid.tiles():
            table = self.store.load(grid, tx, ty, "lean")
            if table is None:
                table = train_tile(config, grid, tx, ty, "full", CHUNK_TRAINERS[self.device])
                self.store.save(grid, tx, ty, tile_bytes(table), "full")
            i0, i1, j0, j1 = grid.bounds(tx, ty)
            status[j0:j1, i0:i1] = table["status"].to_numpy().reshape(j1 - j0, i1 - i0)
        entries, ax = [], None
        for label, name in (("diverged vs not", "diverged"), ("converged vs not", "converged")):
            cls = status == STATUSES.index(name)
            if not cls.any() or cls.all():
                continue
            found = boxcount.measure_dimension(cls)
            entries.append({"classes": label, **found.to_dict(), "summary": found.summary()})
            d = found.D if math.isfinite(found.D) else math.nan
            ax = dimension_plot(found.table, d, ax=ax, label=f"{label}: D = {d:.3f}")
        plot = None
        if ax is not None:
            ax.set_title(f"{side} x {side} view: box counts of the outcome boundaries")
            buffer = io.BytesIO()
            ax.figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
            plot = buffer.getvalue()
        return {"side": side, "window": spec.to_dict(), "dimensions": entries, "plot": plot}

    def close(self) -> None:
        self.queue.close()


#: Most runs a grid may have for its run ids k = j * W + i to fit int64 (levels up to 23).
MAX_RUN_ID = (1 << 63) - 1


@dataclass(frozen=True)
class _Pixels(MapSpec):
    """A window of given pixels of a grid (:meth:`Explorer._pixels_config`): their values
    computed once, from the grid's own window (``x_values``, ``y_values``)."""

    xs: np.ndarray | None = dataclasses.field(default=None, compare=False, repr=False)
    ys: np.ndarray | None = dataclasses.field(default=None, compare=False, repr=False)

    def x_values(self) -> np.ndarray:
        return self.xs

    def y_values(self) -> np.ndarray:
        return self.ys


class NotTrained(Exception):
    """A tile a finished map's browser cannot show: it was never trained."""


def solution_colours(finals: np.ndarray, good: np.ndarray, n_params: int) -> np.ndarray:
    """A colour index for each good fit's solution, the same in every tile: its final
    parameters with the hidden units in canonical order (as analyse's basins), rounded to the
    basin grid, hashed. -1 for runs that are not good fits."""
    from ..analysis.endpoints import DEFAULT_BASIN_TOL

    hidden = (n_params - 1) // 3
    p = finals
    w, b, wo = p[:, 0 : 2 * hidden : 2], p[:, 1 : 2 * hidden : 2], p[:, 2 * hidden : 3 * hidden]
    order = np.lexsort((wo, b, w), axis=-1)
    take = np.take_along_axis
    canon = np.concatenate(
        [take(w, order, 1), take(b, order, 1), take(wo, order, 1), p[:, 3 * hidden :]], axis=1
    )
    out = np.full(len(p), -1, dtype=np.int64)
    rows = np.flatnonzero(good & np.isfinite(canon).all(axis=1))
    if rows.size:
        cells = np.floor(canon[rows] / DEFAULT_BASIN_TOL).astype(np.int64)
        digest = np.frombuffer(
            b"".join(hashlib.blake2b(c.tobytes(), digest_size=4).digest() for c in cells),
            dtype=np.uint32,
        )
        out[rows] = digest % 10  # tab10: the basin palette's first colours
    return out


def _run_settings(columns: dict) -> dict:
    """A run's settings (bpsweep.train's keywords and its data set) from its expanded columns."""
    from ..settings import SETTINGS

    out = {}
    for name, setting in SETTINGS.items():
        if name == "scheme" or name not in columns:
            continue
        value = columns[name][0]
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        kind = setting.kind
        out[name] = int(value) if kind == "int" else float(value) if kind == "float" else str(value)
    return out


def train_command(data, start, names, settings: dict) -> str:
    """The ``bpsweep train`` command that reproduces a run."""
    from ..settings import SETTINGS

    parts = ["bpsweep train"]
    if str(data) != "dosage":
        parts.append(f"--data {data}")
    init = ",".join(f"{p}={v!r}" for p, v in zip(names, start.tolist()))
    parts.append(f"--init {init}")
    for name, value in settings.items():
        s = SETTINGS[name]
        if s.option is None or name in ("seed", "scale", "biases") or value == s.default:
            continue
        shown = repr(value) if isinstance(value, float) else str(value)
        parts.append(f"{s.option} {shown}")
    return " ".join(parts)


def _plain(v):
    """A JSON-safe number (NaN and infinities as None)."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _tag(spec: MapSpec) -> str:
    blob = repr((spec.center, spec.span)).encode()
    return hashlib.sha256(blob).hexdigest()[:8]
