"""bpsweep map --chaos: each pixel also trained from K starts moved by 1e-12; the chaos count
against a plain-Python twin, a map unchanged by --chaos, the counts cached as tiles, the
shares in the JSON, the chaos colour mode."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import naive
from bpsweep.commands import main
from bpsweep.engine import kernels
from bpsweep.engine.data import load_data
from bpsweep.errors import UsageError
from bpsweep.maps import chaos as C
from bpsweep.maps import image as MI
from bpsweep.maps.runner import check_chaos

ROOT = Path(__file__).resolve().parents[1]
LR_MAP = ROOT / "experiments" / "map-lr-hidden-output.toml"
# 6x into the lr map near lr_hidden 0.3, lr_output 0.09: most pixels there are chaotic
ZOOM = ["--resolution", "6x5", "--zoom", "0.3,0.09,6", "--quiet"]


def _parquet(folder: Path) -> pd.DataFrame:
    (path,) = folder.glob("*.parquet")
    return pd.read_parquet(path)


def test_moves_are_relative_signed_and_fixed():
    names = naive.param_names(2)
    f = C.moves(3, names)
    assert f.shape == (3, 7)
    assert set(np.unique(f)) <= {1 - C.MOVE, 1 + C.MOVE}
    assert np.array_equal(f, C.moves(3, names))  # the same for every tile and every run
    assert np.array_equal(C.moves(5, names)[:3], f)  # move m does not depend on K
    assert len({tuple(row) for row in C.moves(8, names)}) == 8  # different directions
    cols = {"init_w1": np.array([2.0, 0.0]), "lr": np.array([0.1, 0.2])}
    moved = C.moved_columns(cols, 2, ["w1"])
    assert moved["lr"].tolist() == [0.1, 0.2] * 3
    assert moved["init_w1"][:2].tolist() == [2.0, 0.0]
    assert moved["init_w1"][2:].tolist() == [2.0 * f[0, 0], 0.0, 2.0 * f[1, 0], 0.0]


def test_counts_against_the_naive_twin(tmp_path):
    """Every pixel's count is what the plain-Python loop (with the kernel's activation, so the
    same floats) finds from the pixel's start and its two moved starts."""
    assert main(["map", str(LR_MAP), "--out", str(tmp_path), "--chaos", "2", *ZOOM]) == 0
    df = _parquet(tmp_path)
    x, y = load_data("dosage")
    names = naive.param_names(2)
    factors = C.moves(2, names)
    want = []
    for row in df.itertuples(index=False):
        start = [getattr(row, f"init_{p}") for p in names]
        runs = [
            naive.train(
                x.tolist(),
                y.tolist(),
                [v * f for v, f in zip(start, move)],
                2,
                lr=row.lr,
                lr_hidden=row.lr_hidden,
                lr_output=row.lr_output,
                tol=row.tol,
                max_steps=row.max_steps,
                activation=kernels.activate.py_func,
            )
            for move in (np.ones(len(names)), *factors)
        ]
        base = runs[0]
        assert (base["status"], base["steps"]) == (row.status, row.steps)
        want.append(
            sum(
                r["status"] != base["status"] or abs(r["steps"] - base["steps"]) > 1
                for r in runs[1:]
            )
        )
    assert df["chaos"].tolist() == want
    assert 0 < np.count_nonzero(want) < len(want)  # the window has both kinds
    meta = json.loads(next(tmp_path.glob("*.json")).read_text())["map"]["chaos"]
    assert meta["moves"] == 2 and meta["chaotic"] == np.count_nonzero(want)
    for status, entry in meta["by_status"].items():
        rows = df["status"] == status
        assert entry["pixels"] == rows.sum()
        assert entry["chaotic"] == (rows & (df["chaos"] > 0)).sum()


def test_chaos_leaves_the_map_unchanged_and_is_cached(tmp_path, capsys):
    plain, moved = tmp_path / "plain", tmp_path / "moved"
    assert main(["map", str(LR_MAP), "--out", str(plain), *ZOOM]) == 0
    assert main(["map", str(LR_MAP), "--out", str(moved), "--chaos", "3", *ZOOM]) == 0
    a, b = _parquet(plain), _parquet(moved)
    assert "chaos" not in a.columns and b["chaos"].dtype == np.uint8
    assert b["chaos"].max() <= 3
    pd.testing.assert_frame_equal(a, b.drop(columns="chaos"), check_exact=True)
    capsys.readouterr()
    # again: complete; with another K: the map's tiles reused, only the counts trained
    assert main(["map", str(LR_MAP), "--out", str(moved), "--chaos", "3", *ZOOM]) == 0
    assert "already complete" in capsys.readouterr().out
    assert main(["map", str(LR_MAP), "--out", str(plain), "--chaos", "3", *ZOOM]) == 0
    out = capsys.readouterr().out
    assert "chaotic" in out and "of each outcome" in out
    pd.testing.assert_frame_equal(_parquet(plain), b, check_exact=True)
    # without --chaos again: the results lose the column (the map as it was)
    assert main(["map", str(LR_MAP), "--out", str(plain), *ZOOM]) == 0
    assert "chaos" not in _parquet(plain).columns


def test_the_chaos_colour_mode_marks_chaotic_pixels_black(tmp_path):
    from PIL import Image

    assert main(["map", str(LR_MAP), "--out", str(tmp_path), "--color", "chaos", *ZOOM]) == 0
    df = _parquet(tmp_path)
    assert df["chaos"].max() <= C.DEFAULT_MOVES  # --color chaos: the default K
    (png,) = [p for p in tmp_path.glob("*.png") if not p.stem.endswith("-figure")]
    with Image.open(png) as im:
        rgb = np.asarray(im.convert("RGB"))
    black = (rgb == 0).all(axis=2)
    chaotic = (df["chaos"].to_numpy() > 0).reshape(5, 6)[::-1]  # row 0 = top
    assert np.array_equal(black, chaotic)
    pale = {tuple(MI._rgb(c).astype(int)) for c in MI.PALE}
    assert all(tuple(px) in pale for px in rgb[~black])


def test_chaos_counts_and_bad_numbers():
    # 3 pixels: the unmoved runs, then move 1's, then move 2's
    status = np.array([[0, 1, 2], [0, 1, 2], [0, 2, 2]]).ravel()
    steps = np.array([[10, 20, 30], [11, 20, 30], [12, 20, 30]]).ravel()
    # pixel 0: steps +1 (the same), then +2 (differs); pixel 1: status 1, 1, 2; pixel 2: same
    assert C.chaos_counts(status, steps, 3, 2).tolist() == [1, 1, 0]
    assert check_chaos(0, "outcome") == 0 and check_chaos(0, "chaos") == C.DEFAULT_MOVES
    for bad in (-1, C.MAX_MOVES + 1, 2.5, True):
        with pytest.raises(UsageError, match="--chaos"):
            check_chaos(bad, "outcome")
