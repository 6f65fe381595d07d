"""A map's results file from its tiles: ``<name>.parquet``, one row per pixel in run order
(k = j * W + i: rows of pixels from the bottom), streamed a band of tile rows at a time.

The columns are a sweep's (:func:`bpsweep.sweeps.expand.result_columns`: map_i, map_j, run_id,
the settings, init_<p>, final_<p>, the SSRs, steps, status), stored as a Parquet sweep's are
(:func:`bpsweep.sweeps.assemble.parquet_encodings`: constant settings cost a few bytes, the
unique floats are not dictionary-encoded); a lean map keeps map_i, map_j, its two axes,
status, steps and final_ssr. Memory holds one band: the tiles of a row of tiles, and the
columns of about 2^18 pixels at a time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..atomic import atomic_file, file_digest
from ..errors import SweepError
from ..sweeps.assemble import parquet_encodings
from ..sweeps.chunks import result_table
from ..sweeps.config import SweepConfig
from ..sweeps.expand import MAP_COLUMNS, column_kind, expand_columns, result_columns
from .chaos import chaos_kind
from .tiles import LEAN_OUTCOMES, Grid, TileStore, tile_columns, trained_of

#: Pixels a row group holds (about; whole rows of pixels). A row group's results are built
#: whole before they are written (about 330 bytes a pixel for a full map, with the expansion
#: of its settings), so this bounds the assembly's memory: measured on a 2048 x 2048 map, 2^20
#: pixels peaked at 640 MiB, 2^18 at 477 MiB, for a file 0.1% larger and the same time.
ROW_GROUP = 1 << 18


def map_columns(config: SweepConfig) -> list[str]:
    """The columns of a map's results file, in order."""
    if config.map.columns == "lean":
        return [*MAP_COLUMNS, config.map.x, config.map.y, *LEAN_OUTCOMES]
    return result_columns(config)


def assemble_map(config: SweepConfig, grid: Grid, store: TileStore, path: Path, chaos: int = 0):
    """Write the map's results file from its stored tiles (every one must be there); returns
    its size and SHA-256 (hex). With ``chaos`` = K > 0 a last column ``chaos`` (uint8): how
    many of the pixel's K moved starts ended differently (:mod:`bpsweep.maps.chaos`). A tile
    that vanished or changed since it was trained is a SweepError naming it (run the map
    again: it is trained again)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..sweeps.runner import repeating_columns

    kind = config.map.columns
    names = map_columns(config)
    kinds = {c: column_kind(c) for c in names}
    kinds["status"] = "str"
    schema = pa.schema(
        [
            (c, {"int": pa.int64(), "float": pa.float64(), "str": pa.string()}[kinds[c]])
            for c in names
        ]
    )
    encodings = parquet_encodings(names, kinds, repeating_columns(config))
    base_schema = schema
    if chaos:
        schema = schema.append(pa.field("chaos", pa.uint8()))
        encodings["use_dictionary"].append("chaos")  # a few small counts, mostly 0
    width = grid.spec.width
    rows_per_group = max(1, ROW_GROUP // width)  # rows of pixels written at a time
    hint = f"the tiles are kept in {store.folder}; {{action}} and run the same command again"
    with atomic_file(path, hint) as out:
        writer = pq.ParquetWriter(out, schema, compression="zstd", **encodings)

        def load(tx, ty):
            table = store.load(grid, tx, ty, kind, tile_columns(config, kind))
            if table is not None and chaos:
                counts = store.load(grid, tx, ty, chaos_kind(chaos))
                table = None if counts is None else table.append_column("chaos", counts["chaos"])
            if table is None:
                raise SweepError(
                    f"tile ({tx}, {ty}) of {store.folder} vanished or changed while "
                    f"the map was assembled; run the same command again to train it"
                )
            return table

        def write(ids, part):
            rows = _rows(config, ids, part, names, base_schema)
            if chaos:
                rows = rows.append_column("chaos", part["chaos"])
            writer.write_table(rows)

        try:
            if grid.spec.is_line:  # tiles of T^2 points, a row group of several at a time
                step = max(1, ROW_GROUP // grid.shape[0])
                for t0 in range(0, grid.tiles_x, step):
                    tiles = range(t0, min(grid.tiles_x, t0 + step))
                    part = pa.concat_tables([load(tx, 0) for tx in tiles])
                    i0, i1 = grid.bounds(tiles[0], 0)[0], grid.bounds(tiles[-1], 0)[1]
                    write(np.arange(i0, i1, dtype=np.int64), part)
            for ty in range(0 if grid.spec.is_line else grid.tiles_y):
                tables = [load(tx, ty) for tx in range(grid.tiles_x)]
                _, _, j0, j1 = grid.bounds(0, ty)
                band = _band(tables, grid, config, j1 - j0)
                for r0 in range(0, j1 - j0, rows_per_group):
                    r1 = min(j1 - j0, r0 + rows_per_group)
                    ids = np.arange((j0 + r0) * width, (j0 + r1) * width, dtype=np.int64)
                    write(ids, band.slice(r0 * width, (r1 - r0) * width))
        finally:
            writer.close()
    return file_digest(path)


def _band(tables, grid: Grid, config: SweepConfig, height: int):
    """A row of tiles' outcomes in run order: row r of the band is the rows r of the tiles,
    left to right."""
    import pyarrow as pa

    columns = {}
    for name in tables[0].column_names:
        parts = []
        for tx, table in enumerate(tables):
            i0, i1, _, _ = grid.bounds(tx, 0)
            parts.append(table[name].to_numpy().reshape(height, i1 - i0))
        columns[name] = np.concatenate(parts, axis=1).ravel()
    return pa.table(columns)


def _rows(config: SweepConfig, ids: np.ndarray, outcomes, names: list[str], schema):
    """The results columns of the runs ``ids`` (pixels in run order) from their outcomes."""
    if config.map.columns == "lean":
        import pyarrow as pa

        from ..model import STATUSES

        columns = expand_columns(config, ids)
        status = np.asarray(STATUSES, dtype=object)[outcomes["status"].to_numpy()]
        arrays = {
            **{c: pa.array(columns[c]) for c in (*MAP_COLUMNS, config.map.x, config.map.y)},
            "status": pa.array(status, pa.string()),
            "steps": outcomes["steps"],
            "final_ssr": outcomes["final_ssr"],
        }
        return pa.Table.from_arrays([arrays[c] for c in names], schema=schema)
    trained = trained_of(outcomes, config)
    table = result_table(expand_columns(config, ids), trained, config)
    return table.cast(schema)
