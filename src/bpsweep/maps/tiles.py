"""Tiles: a map is trained, stored and read back as tiles of T x T pixels, each trained once.

**The plane** of a map config is everything but its window: every fixed setting (the data
file's bytes included), the two axes and their scales. Its key (:func:`plane_key`) names the
tile cache folder ``<out>/tiles/<plane key>/``, shared by every map, zoom frame and explorer
view of that plane.

**A grid** is a window of the plane at a resolution W x H (:class:`Grid`); pixel (i, j) is the
run at that pixel's centre by :mod:`bpsweep.sweeps.window`'s formula, whatever tile it lies
in. Level z of a config's window is the grid of T * 2^z pixels a side, so ``bpsweep map
--resolution 4096x4096`` trains exactly the level-4 tiles the explorer shows.

**A tile** (tx, ty) of a grid holds pixels i in [tx T, (tx + 1) T) and j in [ty T, (ty + 1) T)
(fewer at the grid's far edges; on a line, a [map] with only x, T^2 points along it), as an
Arrow IPC file of its runs' outcomes, rows in the
grid's run order restricted to the tile (row j = j0 first, i increasing within a row):
``status`` (int8 codes), ``steps``, ``final_ssr``, and for full tiles ``initial_ssr`` and
``final_<p>``. Beside it a record (JSON) of its size and SHA-256 is written after the tile
(both atomically), exactly as a sweep's parts are recorded: a tile without its record is
absent, one whose bytes do not match it is damaged, named on stderr and trained again. Tiles
are deterministic, so two processes writing the same tile write the same bytes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import atomic_file, read_json, write_text_atomic
from ..engine.batch import Trained, train_columns
from ..errors import SweepError
from ..sweeps.config import SweepConfig
from ..sweeps.expand import expand_columns
from ..sweeps.window import MapSpec

#: Pixels a side of a tile.
TILE = 256
#: What a tile may hold: every outcome, or the few a lean map keeps.
KINDS = ("full", "lean")
LEAN_OUTCOMES = ("status", "steps", "final_ssr")
#: Bumped whenever a tile's content changes for the same plane and grid (invalidates tiles).
TILE_FORMAT = 1


def plane_key(config: SweepConfig) -> str:
    """The SHA-256 (hex) of a map config's plane: its fingerprint without the window, the
    resolution, the colour and the columns kept, so that every window of one plane shares a
    tile cache."""
    resolved = config.resolved(expand_values=True)
    del resolved["name"], resolved["description"]
    table = resolved.pop("map")
    # a line's plane ("y": None, one scale) is not a 2-D plane's: their pixels differ
    resolved["plane"] = {"x": table["x"], "y": table.get("y"), "scale": table["scale"]}
    data = []
    for d in config.values_of("dataset"):
        path = Path(d) if Path(d).is_absolute() else config.base_dir / d
        if path.is_file():
            data.append([d, hashlib.sha256(path.read_bytes()).hexdigest()])
    blob = json.dumps(
        {"tiles": TILE_FORMAT, "config": resolved, "data": data}, sort_keys=True, default=str
    )
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class Grid:
    """A window of a plane at a resolution, cut into tiles of ``size`` pixels a side."""

    spec: MapSpec
    size: int = TILE

    @property
    def key(self) -> str:
        """The window's exact centre, span and resolution, hashed (the floats' exact bits)."""
        s = self.spec
        blob = json.dumps(
            [[float(v).hex() for v in (*s.center, *s.span)], list(s.resolution), self.size]
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @property
    def shape(self) -> tuple[int, int]:
        """(width, height) of a tile in pixels: size x size, or size^2 x 1 on a line (as many
        runs a tile, not 256 of them)."""
        return (self.size * self.size, 1) if self.spec.is_line else (self.size, self.size)

    @property
    def tiles_x(self) -> int:
        return -(-self.spec.width // self.shape[0])

    @property
    def tiles_y(self) -> int:
        return -(-self.spec.height // self.shape[1])

    def tiles(self) -> list[tuple[int, int]]:
        """Every tile (tx, ty), rows of tiles from the bottom."""
        return [(tx, ty) for ty in range(self.tiles_y) for tx in range(self.tiles_x)]

    def bounds(self, tx: int, ty: int) -> tuple[int, int, int, int]:
        """(i0, i1, j0, j1): the tile's pixel columns [i0, i1) and rows [j0, j1)."""
        w, h = self.spec.width, self.spec.height
        tw, th = self.shape
        return tx * tw, min(w, (tx + 1) * tw), ty * th, min(h, (ty + 1) * th)

    def run_ids(self, tx: int, ty: int) -> np.ndarray:
        """The tile's run ids k = j * W + i, in the tile's row order."""
        i0, i1, j0, j1 = self.bounds(tx, ty)
        j, i = np.mgrid[j0:j1, i0:i1]
        return (j * self.spec.width + i).ravel().astype(np.int64)


def level_grid(spec: MapSpec, level: int, size: int = TILE) -> Grid:
    """Level ``level`` of a window: the grid of size * 2^level pixels a side."""
    side = size << level
    return Grid(dataclasses.replace(spec, resolution=(side, side)), size)


def tile_columns(config: SweepConfig, kind: str) -> list[str]:
    """The columns of a tile of this map: the lean outcomes, or all of them."""
    if kind == "lean":
        return list(LEAN_OUTCOMES)
    finals = [f"final_{p}" for p in config.param_union()]
    return ["status", "steps", "initial_ssr", "final_ssr", *finals]


def train_tile(config: SweepConfig, grid: Grid, tx: int, ty: int, kind: str, trainer=None):
    """Train the tile's runs; returns its Arrow table (:func:`tile_columns`). ``config``: the
    map config of the grid's window and resolution. ``trainer``: the chunk trainer of a device
    (:data:`bpsweep.sweeps.chunks.CHUNK_TRAINERS`), default the CPU's."""
    return train_tile_and_chaos(config, grid, tx, ty, kind, trainer)[0]


def train_tile_and_chaos(
    config: SweepConfig, grid: Grid, tx: int, ty: int, kind: str, trainer=None, chaos: int = 0
):
    """The tile's table (as :func:`train_tile`), and with ``chaos`` = K > 0 its chaos counts
    (:mod:`bpsweep.maps.chaos`: a table of one uint8 column ``chaos``; else None), trained
    in one kernel call, and the run-steps of every run trained."""
    import pyarrow as pa

    from .chaos import chaos_counts, moved_columns

    ids = grid.run_ids(tx, ty)
    n = len(ids)
    columns = expand_columns(config, ids)
    if chaos:
        columns = moved_columns(columns, chaos, config.param_union())
    train = train_columns if trainer is None else trainer
    trained = train(columns, n * (chaos + 1), config.base_dir, _DATA_CACHE)
    run_steps = int(trained.steps.sum())
    if not chaos:
        return tile_table(trained, config, kind), None, run_steps
    counts = chaos_counts(trained.status, trained.steps, n, chaos)
    table = tile_table(trained.take(slice(0, n)), config, kind)
    return table, pa.table({"chaos": pa.array(counts)}), run_steps


_DATA_CACHE: dict = {}


def tile_table(trained: Trained, config: SweepConfig, kind: str):
    import pyarrow as pa

    arrays = {
        "status": pa.array(trained.status.astype(np.int8)),
        "steps": pa.array(trained.steps.astype(np.int64)),
        "initial_ssr": pa.array(trained.initial_ssr),
        "final_ssr": pa.array(trained.final_ssr),
    }
    for p in config.param_union():
        arrays[f"final_{p}"] = pa.array(trained.final[:, trained.names.index(p)])
    names = tile_columns(config, kind)
    return pa.Table.from_arrays([arrays[c] for c in names], names=names)


def tile_bytes(table) -> bytes:
    """A tile as the bytes of an Arrow IPC file."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def trained_of(table, config: SweepConfig) -> Trained:
    """A tile table (or several concatenated) as a :class:`Trained` (the outcome arrays)."""
    names = tuple(config.param_union())
    n = table.num_rows
    final = np.full((n, len(names)), np.nan)
    for j, p in enumerate(names):
        if f"final_{p}" in table.column_names:
            final[:, j] = table[f"final_{p}"].to_numpy()
    initial = (
        table["initial_ssr"].to_numpy()
        if "initial_ssr" in table.column_names
        else np.full(n, np.nan)
    )
    return Trained(
        names=names,
        final=final,
        initial_ssr=initial,
        final_ssr=table["final_ssr"].to_numpy(),
        steps=table["steps"].to_numpy().astype(np.int64),
        status=table["status"].to_numpy().astype(np.int8),
    )


class TileStore:
    """The tile cache of one plane: ``<root>/<plane key[:16]>/<grid key>/t<T>-<tx>-<ty>.arrow``
    and its record ``.json``, and ``plane.json`` describing the plane for a reader."""

    def __init__(self, root, config: SweepConfig):
        self.key = plane_key(config)
        self.folder = Path(root) / self.key[:16]
        self.config = config
        self.reused = 0  #: tiles read back since this store was opened
        self.trained = 0  #: tiles saved since this store was opened

    def _paths(self, grid: Grid, tx: int, ty: int, kind: str) -> tuple[Path, Path]:
        # a tile's chaos counts (kind chaos<K>) beside it; full and lean tiles share a name
        extra = f"-{kind}" if kind not in KINDS else ""
        base = self.folder / grid.key / f"t{grid.size}-{tx}-{ty}{extra}"
        return base.with_suffix(".arrow"), base.with_suffix(".json")

    def prepare(self, grid: Grid) -> None:
        """Create the plane's and the grid's folders, with what they are, for a reader."""
        (self.folder / grid.key).mkdir(parents=True, exist_ok=True)
        plane = self.folder / "plane.json"
        if not plane.exists():
            resolved = self.config.resolved()
            resolved.pop("name", None)
            resolved.pop("description", None)
            write_text_atomic(plane, json.dumps({"plane": self.key, **resolved}, indent=1) + "\n")
        about = self.folder / grid.key / "grid.json"
        if not about.exists():
            window = grid.spec.to_table()
            write_text_atomic(about, json.dumps({"window": window, "tile": grid.size}) + "\n")

    def has(self, grid: Grid, tx: int, ty: int, kind: str) -> bool:
        """Whether a good tile of this kind (a full one serves a lean request) is stored."""
        return self._check(grid, tx, ty, kind) is not None

    def _check(self, grid: Grid, tx: int, ty: int, kind: str):
        tile, record = self._paths(grid, tx, ty, kind)
        if not record.exists():
            return None
        try:
            entry = read_json(record, "")
            data = tile.read_bytes()
        except (SweepError, OSError):
            entry, data = None, None
        good = (
            isinstance(entry, dict)
            and data is not None
            and len(data) == entry.get("size")
            and hashlib.sha256(data).hexdigest() == entry.get("sha256")
        )
        if not good:
            note(f"tile {tile.name} of {self.folder} is damaged or incomplete; training it again")
            for p in (record, tile):
                with contextlib.suppress(OSError):
                    p.unlink()
            return None
        if kind == "full" and entry.get("kind") != "full":
            return None  # a lean tile cannot serve a full map: trained again, as full
        return data

    def load(self, grid: Grid, tx: int, ty: int, kind: str, columns=None):
        """The stored tile's Arrow table (only ``columns`` when given), or None when there is
        no good tile of this kind."""
        import pyarrow as pa

        data = self._check(grid, tx, ty, kind)
        if data is None:
            return None
        self.reused += 1
        table = pa.ipc.open_file(pa.py_buffer(data)).read_all()
        return table.select(columns) if columns is not None else table

    def save(self, grid: Grid, tx: int, ty: int, data: bytes, kind: str) -> None:
        """Store a tile's bytes (an Arrow IPC file), then its record."""
        tile, record = self._paths(grid, tx, ty, kind)
        hint = "the tiles stored so far are kept; {action} and run the same command again"
        with atomic_file(tile, hint) as fh:
            fh.write(data)
        entry = {
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "kind": kind,
            "pixels": list(grid.bounds(tx, ty)),
        }
        write_text_atomic(record, json.dumps(entry) + "\n", hint)
        self.trained += 1


def note(text: str) -> None:
    print(f"bpsweep: {text}", file=sys.stderr, flush=True)


def tile_task(config, grid, kind, store_root, device, item, threads, chaos: int = 0):
    """Train tile ``item`` = (tx, ty) of ``grid`` (a dispatch task: bind the rest with
    functools.partial), with its chaos counts when ``chaos`` = K > 0. With ``store_root`` the
    worker stores the tile (and its chaos tile) and returns (tx, ty, None, its run-steps);
    without (dask workers, maybe elsewhere) it returns (tx, ty, {kind: the tile's bytes},
    its run-steps)."""
    from ..sweeps.chunks import CHUNK_TRAINERS
    from .chaos import chaos_kind

    if threads is not None:
        import numba

        numba.set_num_threads(threads)
    tx, ty = item
    trainer = CHUNK_TRAINERS[device]
    table, counts, steps = train_tile_and_chaos(config, grid, tx, ty, kind, trainer, chaos)
    blobs = {kind: tile_bytes(table)}
    if counts is not None:
        blobs[chaos_kind(chaos)] = tile_bytes(counts)
    if store_root is None:
        return tx, ty, blobs, steps
    store = TileStore(store_root, config)
    for name, data in blobs.items():
        store.save(grid, tx, ty, data, name)
    return tx, ty, None, steps


__all__ = [
    "KINDS",
    "TILE",
    "Grid",
    "TileStore",
    "level_grid",
    "plane_key",
    "tile_columns",
    "tile_task",
    "train_tile",
    "trained_of",
]
