"""Maps as tiles: every pixel of every tile is the run at that pixel's centre, a map assembled
from tiles is the map trained in one piece, tiles are trained once and reused by any map of
their plane, damaged or missing tiles are named and trained again, lean maps."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bpsweep.commands import main
from bpsweep.maps import assemble, runner
from bpsweep.maps.tiles import TILE, Grid, TileStore, level_grid, plane_key
from bpsweep.sweeps.config import config_from_dict, load_config
from bpsweep.sweeps.options import RunOptions

ROOT = Path(__file__).resolve().parents[1]
LR_MAP = ROOT / "experiments" / "map-lr-hidden-output.toml"

# A quick plane: lesson 003's start, 200 steps, over w1 x lr (linear x log), 300 x 200 pixels:
# tiles of 256 cut it into 2 x 1 tiles, the right one narrower than the left.
QUICK = {
    "name": "q",
    "init": {"preset": "statquest-start"},
    "train": {"max_steps": 200},
    "map": {
        "x": "init_w1",
        "y": "lr",
        "center": [2.74, -1.0],
        "span": [6.0, 1.5],
        "resolution": [300, 200],
        "scale": ["linear", "log"],
    },
}


def quick(**map_changes):
    raw = json.loads(json.dumps(QUICK))
    raw["map"].update(map_changes)
    return config_from_dict(raw)


def one_piece(config, out: Path):
    """The map trained as a single tile covering it all (one kernel call), assembled."""
    grid = Grid(config.map, size=max(config.map.resolution))
    store = TileStore(out / "tiles", config)
    from bpsweep.maps.train import train_tiles

    train_tiles(config, grid, store, RunOptions(out=out), config.map.columns)
    path = out / "one.parquet"
    assemble.assemble_map(config, grid, store, path)
    return path


def test_a_map_from_tiles_is_the_map_trained_in_one_piece(tmp_path):
    config = quick()
    outcome, _ = runner.run_map(config, RunOptions(out=tmp_path / "tiled"), figure=False)
    assert outcome.tiles == 2 and outcome.tiles_trained == 2
    tiled = tmp_path / "tiled" / "q.parquet"
    whole = one_piece(config, tmp_path / "whole")
    assert tiled.read_bytes() == whole.read_bytes()  # pixel for pixel, byte for byte
    df = pd.read_parquet(tiled)
    # every pixel is the run at its centre, in run order k = j * W + i
    assert df["run_id"].tolist() == list(range(300 * 200))
    assert np.array_equal(df["map_i"], np.tile(np.arange(300), 200))
    assert np.array_equal(df["init_w1"], config.map.x_values()[df["map_i"]])
    assert np.array_equal(df["lr"], config.map.y_values()[df["map_j"]])
    assert set(df["status"]) == {"converged", "max_steps", "diverged"}


def test_the_same_window_again_trains_nothing_and_other_windows_only_their_tiles(tmp_path, capsys):
    config = quick()
    options = RunOptions(out=tmp_path)
    runner.run_map(config, options, figure=False)
    # another map of the same window and plane under another name: every tile from the cache
    renamed = config_from_dict({**json.loads(json.dumps(QUICK)), "name": "again"})
    outcome, _ = runner.run_map(renamed, options, figure=False)
    assert outcome.computed == 0 and outcome.tiles_trained == 0 and outcome.tiles == 2
    assert "(all 2 tiles from the tile cache, nothing computed)" in outcome.summary()
    assert (tmp_path / "again.parquet").read_bytes() == (tmp_path / "q.parquet").read_bytes()
    # the same map again: complete, nothing trained or assembled
    outcome, _ = runner.run_map(config, options, figure=False)
    assert outcome.already_complete
    # another plane (a fixed setting changed) shares no tile
    other = config_from_dict({**json.loads(json.dumps(QUICK)), "train": {"max_steps": 201}})
    assert plane_key(other) != plane_key(config)
    outcome, _ = runner.run_map(other, options, figure=False)
    assert outcome.tiles_trained == 2


def test_level_z_tiles_are_the_tiles_of_map_resolution_t_times_2_to_the_z(tmp_path, capsys):
    """The explorer's level 1 of the lr map's window is the grid of 512 x 512 pixels:
    `bpsweep map --resolution 512x512` trains exactly those four tiles, and reuses them."""
    config = load_config(LR_MAP, overrides=["max_steps=50"])
    grid = level_grid(config.map, 1)
    assert grid.spec.resolution == (2 * TILE, 2 * TILE) and len(grid.tiles()) == 4
    out = tmp_path / "o"
    assert main(["map", str(LR_MAP), "--set", "max_steps=50", "--resolution", "512x512",
                 "--out", str(out), "--quiet"]) == 0  # fmt: skip
    store = TileStore(out / "tiles", config)
    assert all(store.has(grid, tx, ty, "full") for tx, ty in grid.tiles())
    capsys.readouterr()
    assert main(["map", str(LR_MAP), "--set", "max_steps=50", "--set", "name=other",
                 "--resolution", "512x512", "--out", str(out), "--quiet"]) == 0  # fmt: skip
    assert "(all 4 tiles from the tile cache, nothing computed)" in capsys.readouterr().out


def test_damaged_and_missing_tiles_are_named_and_trained_again(tmp_path, capsys):
    config = quick()
    first = tmp_path / "first"
    runner.run_map(config, RunOptions(out=first), figure=False)
    clean = (first / "q.parquet").read_bytes()
    store = TileStore(first / "tiles", config)
    grid = Grid(config.map)
    tiles = sorted((store.folder / grid.key).glob("t256-*.arrow"))
    assert len(tiles) == 2
    data = bytearray(tiles[0].read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped bit pattern in the middle of a tile
    tiles[0].write_bytes(bytes(data))
    tiles[1].unlink()  # and one tile gone (its record left behind)
    capsys.readouterr()
    outcome, _ = runner.run_map(config, RunOptions(out=first, fresh=False), figure=False)
    err = capsys.readouterr().err
    assert outcome.already_complete  # the results are intact: the tiles are not needed
    (first / "q.parquet").unlink()
    outcome, _ = runner.run_map(config, RunOptions(out=first), figure=False)
    err = capsys.readouterr().err
    assert f"tile {tiles[0].name}" in err and "damaged or incomplete; training it again" in err
    assert f"tile {tiles[1].name}" in err
    assert outcome.tiles_trained == 2
    assert (first / "q.parquet").read_bytes() == clean


def test_a_tile_without_its_record_counts_as_absent(tmp_path):
    """A run killed between a tile and its record leaves the tile unrecorded: trained again."""
    config = quick()
    runner.run_map(config, RunOptions(out=tmp_path), figure=False)
    store = TileStore(tmp_path / "tiles", config)
    grid = Grid(config.map)
    record = store.folder / grid.key / "t256-0-0.json"
    record.unlink()
    assert not store.has(grid, 0, 0, "full") and store.has(grid, 1, 0, "full")


def test_a_lean_map_keeps_the_axes_and_the_outcomes(tmp_path):
    lean = quick(columns="lean")
    full = quick()
    runner.run_map(lean, RunOptions(out=tmp_path / "lean"), figure=False)
    runner.run_map(full, RunOptions(out=tmp_path / "full"), figure=False)
    a = pd.read_parquet(tmp_path / "lean" / "q.parquet")
    b = pd.read_parquet(tmp_path / "full" / "q.parquet")
    assert list(a.columns) == ["map_i", "map_j", "init_w1", "lr", "status", "steps", "final_ssr"]
    pd.testing.assert_frame_equal(a, b[a.columns], check_exact=True)
    size = (tmp_path / "lean" / "q.parquet").stat().st_size
    assert size < 0.4 * (tmp_path / "full" / "q.parquet").stat().st_size
    # a full map of the same plane cannot use lean tiles: it trains them again, as full
    outcome, _ = runner.run_map(full, RunOptions(out=tmp_path / "lean"), figure=False)
    assert outcome.tiles_trained == 2
    with pytest.raises(Exception, match="basin needs the final parameters"):
        runner.run_map(lean, RunOptions(out=tmp_path / "lean"), color="basin")


def test_the_main_jobs_csv_is_byte_identical_to_the_last_release(tmp_path):
    """The columnar path writes the very bytes the pandas one wrote (the SHA-256 of
    results/seed-lr-grid.csv as bpsweep 31379fa wrote it on this machine kind)."""
    assert main(["run", str(ROOT / "experiments" / "seed-lr-grid.toml"), "--out",
                 str(tmp_path), "--quiet"]) == 0  # fmt: skip
    digest = hashlib.sha256((tmp_path / "seed-lr-grid.csv").read_bytes()).hexdigest()
    assert digest == RELEASED_CSV_SHA256


RELEASED_CSV_SHA256 = "0c0431ff4121d5f7f980cdf498a833e479a8a807adb7f8c82754cfc2e6379189"
