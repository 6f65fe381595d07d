"""Lines: a [map] with only x trains N runs along one setting (a 1-D slice of a plane),
equal to bpsweep run on the same points, stored and resumed as tiles of T^2 points, drawn as
outcome and steps against the setting, with the boundary points' 1-D dimension."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bpsweep.commands import main
from bpsweep.errors import ConfigError, UsageError
from bpsweep.maps import boxcount
from bpsweep.maps.line import line_dimensions
from bpsweep.maps.runner import plan_maps
from bpsweep.maps.tiles import TILE, Grid
from bpsweep.model import STATUSES
from bpsweep.sweeps.config import load_config
from bpsweep.sweeps.runner import run_sweep
from bpsweep.sweeps.window import MAX_LINE, axis_values, parse_map_section

# lesson 003's start along lr: the runs converge, stall, then diverge as lr grows
LINE = """
name = "line"
[init]
preset = "statquest-start"
[train]
max_steps = 300
[map]
x = "lr"
center = [0.5]
span = [0.9]
resolution = [N]
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_line_is_the_sweep_of_its_points(tmp_path, capsys):
    cfg = write(tmp_path / "line.toml", LINE.replace("N", "40"))
    assert main(["map", str(cfg), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    got = pd.read_parquet(tmp_path / "out" / "line.parquet")
    xs = axis_values(0.5, 0.9, 40)
    assert got["map_i"].tolist() == list(range(40)) and (got["map_j"] == 0).all()
    assert got["lr"].tolist() == xs.tolist()
    grid = write(
        tmp_path / "g.toml",
        LINE.split("[map]")[0].replace('name = "line"', 'name = "g"')
        + f"[sweep]\nlr = {xs.tolist()}\n",
    )
    want = run_sweep(grid, out_dir=tmp_path / "out", jobs=1)
    pd.testing.assert_frame_equal(
        got.drop(columns=["map_i", "map_j"]), want, check_exact=True, check_dtype=False
    )
    assert set(got["status"]) == {"converged", "diverged"} or got["status"].nunique() >= 2
    out = capsys.readouterr().out
    assert "line: 40 points (40 computed: 1 tile trained)" in out
    assert "line along lr, 40 points" in out and "line.png" in out
    meta = json.loads((tmp_path / "out" / "line.json").read_text())
    assert meta["map"]["window"]["resolution"] == [40] and "y_range" not in meta["map"]["window"]


def test_a_long_line_is_tiles_of_t_squared_points_and_resumes(tmp_path, capsys):
    n = TILE * TILE + 100  # two tiles: one whole, one of 100 points
    cfg = write(tmp_path / "line.toml", LINE.replace("N", str(n)).replace("300", "30"))
    spec = load_config(cfg).map
    grid = Grid(spec)
    assert grid.shape == (TILE * TILE, 1) and grid.tiles() == [(0, 0), (1, 0)]
    assert grid.bounds(1, 0) == (TILE * TILE, n, 0, 1)
    out = tmp_path / "out"
    assert main(["map", str(cfg), "--out", str(out), "--quiet", "--dimension"]) == 0
    first = pd.read_parquet(out / "line.parquet")
    assert len(first) == n and first["run_id"].tolist() == list(range(n))
    assert first["lr"].is_monotonic_increasing
    # the same line again: complete; its file removed: assembled from the tiles, nothing trained
    (out / "line.parquet").unlink()
    capsys.readouterr()
    assert main(["map", str(cfg), "--out", str(out), "--quiet"]) == 0
    assert "all 2 tiles from the tile cache" in capsys.readouterr().out
    pd.testing.assert_frame_equal(pd.read_parquet(out / "line.parquet"), first, check_exact=True)
    meta = json.loads((out / "line.json").read_text())
    assert meta["tiles"]["tiles"] == 2


def test_the_line_dimension_is_the_boundary_points_box_counts():
    """Statuses along a middle-thirds Cantor set: the boundary points' dimension is near
    log 2 / log 3, as measure_dimension finds on the same line; a single step: 0."""
    line = np.ones(1, dtype=bool)
    for _ in range(9):
        line = np.concatenate([line, np.zeros(line.size, dtype=bool), line])
    status = np.where(line, STATUSES.index("diverged"), STATUSES.index("converged"))
    entry = line_dimensions(status.astype(np.int8))
    want = boxcount.measure_dimension(line)
    assert entry["classes"] == "diverged vs not" and entry["D"] == pytest.approx(want.D)
    assert abs(entry["D"] - np.log(2) / np.log(3)) < 0.1
    assert entry["also"][0]["classes"] == "converged vs not"  # the same boundary
    step = np.repeat([0, 2], 500).astype(np.int8)
    assert line_dimensions(step)["D"] == pytest.approx(0.0, abs=1e-9)
    assert line_dimensions(np.zeros(10, np.int8))["classes"] is None


def test_line_configs_and_options_are_checked(tmp_path):
    table = {"x": "lr", "center": 0.5, "span": [0.9], "resolution": 10}
    spec = parse_map_section(table, "l.toml")
    assert spec.is_line and spec.names == ("lr",) and spec.resolution == (10, 1)
    assert parse_map_section(spec.to_table(), "l.toml") == spec
    bad = [
        ({**table, "resolution": [MAX_LINE + 1]}, "resolution: expected \\[N\\]"),
        ({**table, "resolution": [10, 10]}, "y: expected a value"),
        ({**table, "center": [0.5, 0.1]}, "y: expected a value"),
        ({**table, "center": [0.5, 0.1, 0.2]}, "center: expected one finite number"),
        ({**table, "span": [0.0]}, "span: expected one finite number > 0"),
        ({**table, "scale": ["log", "log"]}, "y: expected a value"),
        ({**table, "scale": "cubic"}, "scale: expected one of"),
        ({"x": "lr", "center": 0.5, "span": 0.9}, "resolution: expected a value"),
        ({**table, "x": "hidden"}, "continuous values"),
    ]
    for t, message in bad:
        with pytest.raises(ConfigError, match=message):
            parse_map_section(t, "l.toml")
    assert spec.with_resolution("25").resolution == (25, 1)
    with pytest.raises(UsageError, match="expected N"):
        spec.with_resolution("20x20")
    cfg = write(tmp_path / "line.toml", LINE.replace("N", "40"))
    config = load_config(cfg)
    with pytest.raises(UsageError, match="is a line"):
        plan_maps(config, zoom=(0.5, 0.5, 2.0))
    configs, _ = plan_maps(config, resolution="64")
    assert configs[0].name == "line-64" and configs[0].map.width == 64
