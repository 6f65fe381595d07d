"""bpsweep map: a map is the sweep of its pixels (same rows as bpsweep run), resumable after
kill -9 to the same Parquet, with an image of exactly one pixel per run, the right way up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bpsweep.commands import main
from bpsweep.maps import image as MI
from bpsweep.sweeps.config import load_config
from bpsweep.sweeps.runner import run_sweep
from bpsweep.sweeps.window import axis_values

ROOT = Path(__file__).resolve().parents[1]

# lesson 003's start with lr and w4 swept: small rates on the left converge or stall, large
# ones on the right diverge
MAP = """
name = "m"
[init]
preset = "statquest-start"
[train]
max_steps = 300
[map]
x = "lr"
y = "init_w4"
center = [0.5, 0.63]
span = [0.9, 4.0]
resolution = [6, 4]
"""

# slow: every pixel takes its 600 steps, in 3 tiles of 256 x 200 pixels or fewer (a tile
# about 0.7 s on 2 cores: time to kill the map between two tiles)
SLOW = """
name = "slow"
[init]
preset = "statquest-start"
[train]
lr = 0.01
tol = 1e-12
max_steps = 600
[map]
x = "init_w3"
y = "init_w4"
center = [0.36, 0.63]
span = [1.0, 1.0]
resolution = [520, 200]
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_map_is_the_sweep_of_its_pixels(tmp_path, capsys):
    cfg = write(tmp_path / "m.toml", MAP)
    assert main(["map", str(cfg), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    got = pd.read_parquet(tmp_path / "out" / "m.parquet")
    xs, ys = axis_values(0.5, 0.9, 6), axis_values(0.63, 4.0, 4)
    grid = write(
        tmp_path / "g.toml",
        MAP.split("[map]")[0].replace('name = "m"', 'name = "g"')
        + f"[sweep]\ninit_w4 = {ys.tolist()}\nlr = {xs.tolist()}\n",
    )
    want = run_sweep(grid, out_dir=tmp_path / "out", jobs=1)
    assert list(got.columns[:3]) == ["map_i", "map_j", "run_id"]
    pd.testing.assert_frame_equal(
        got.drop(columns=["map_i", "map_j"]), want, check_exact=True, check_dtype=False
    )
    assert (got["status"] == "diverged").any() and (got["status"] != "diverged").any()
    out = capsys.readouterr().out
    assert "m: 24 pixels (24 computed: 1 tile trained)" in out and "m.png" in out


def test_raw_png_is_one_pixel_per_run_right_way_up(tmp_path):
    from PIL import Image

    cfg = write(tmp_path / "m.toml", MAP.replace("[6, 4]", "[48, 32]"))
    assert main(["map", str(cfg), "--out", str(tmp_path), "--quiet", "--dimension"]) == 0
    with Image.open(tmp_path / "m.png") as im:
        image = np.asarray(im.convert("RGB"))
    assert image.shape == (32, 48, 3)
    df = pd.read_parquet(tmp_path / "m.parquet")
    diverged = (df["status"] == "diverged").to_numpy().reshape(32, 48)[::-1]  # row 0 = top
    reds = {tuple(c) for c in MI.ramp(MI.DIVERGED_RAMP)}  # the diverged runs' shades
    reddish = np.array([[tuple(px) in reds for px in row] for row in image])
    assert np.array_equal(reddish, diverged)
    meta = json.loads((tmp_path / "m.json").read_text())
    assert meta["map"]["counts"]["diverged"] == int(diverged.sum())
    assert meta["map"]["window"]["resolution"] == [48, 32]
    assert diverged[:, -1].all() and not diverged[:, 0].any()  # large lr on the right
    assert meta["map"]["dimension"]["classes"] == "diverged vs not"
    # 32 px a side: boxes of 2 and 4 px only, and the estimate says it is rough
    assert len(meta["map"]["dimension"]["table"]) == 2
    assert "under 5 box sizes" in meta["map"]["dimension"]["warning"]
    assert not (tmp_path / ".m.lock").exists()  # the lock held while drawing is gone
    for name in ("m-figure.png", "m-dimension.png"):
        with Image.open(tmp_path / name) as im:
            assert im.size[0] > 200


def test_zoom_frames_and_gif(tmp_path, capsys):
    cfg = write(tmp_path / "m.toml", MAP)
    args = ["map", str(cfg), "--out", str(tmp_path), "--quiet", "--zoom", "0.5,0.63,4"]
    assert main([*args, "--frames", "3"]) == 0
    out = capsys.readouterr().out
    frames = sorted(tmp_path.glob("m-zoom-*-frame-*.png"))
    frames = [f for f in frames if not f.name.endswith("-figure.png")]
    assert len(frames) == 3
    gif = list(tmp_path.glob("m-zoom-*.gif"))
    assert len(gif) == 1 and "zoom: 3 frames" in out
    last = pd.read_parquet(sorted(tmp_path.glob("m-zoom-*-frame-002.parquet"))[0])
    assert last["lr"].min() > 0.5 - 0.9 / 8 and last["lr"].max() < 0.5 + 0.9 / 8


def test_zoom_frames_measure_the_dimension_of_every_frame(tmp_path, capsys):
    """--frames K --dimension: D of each frame against the zoom's depth, their median (as the
    fractal-trainability paper reports a zoom), a plot and a JSON beside the GIF."""
    cfg = write(tmp_path / "m.toml", MAP.replace("[6, 4]", "[64, 64]"))
    args = ["map", str(cfg), "--out", str(tmp_path), "--quiet", "--zoom", "0.5,0.63,4"]
    assert main([*args, "--frames", "3", "--dimension"]) == 0
    out = capsys.readouterr().out
    (gif,) = tmp_path.glob("m-zoom-*.gif")
    summary = gif.with_suffix(".json")
    found = json.loads(summary.read_text())
    assert [f["frame"] for f in found["frames"]] == [0, 1, 2]
    depths = [f["depth"] for f in found["frames"]]
    assert depths[0] == 0 and depths[-1] == pytest.approx(np.log10(4))
    per_frame = []
    for k in range(3):
        (meta,) = tmp_path.glob(f"m-zoom-*-frame-{k:03d}.json")
        per_frame.append(json.loads(meta.read_text())["map"]["dimension"]["D"])
    assert [f.get("D (diverged vs not)") for f in found["frames"]] == per_frame
    assert per_frame[-1] is None  # 4x in, every pixel diverges: no boundary, no D
    median = np.nanmedian(np.array(per_frame, dtype=float))
    assert found["median"]["diverged vs not"] == pytest.approx(median)
    assert summary.with_name(summary.stem + "-dimension.png").exists()
    assert "median boundary dimension (diverged vs not) over 2 of 3 frames" in out
    assert found["frames_measured"]["diverged vs not"] == 2
    slopes = [
        r["local_slope"]
        for k in range(2)
        for r in json.loads(next(tmp_path.glob(f"m-zoom-*-frame-{k:03d}.json")).read_text())["map"][
            "dimension"
        ]["table"]
        if r["local_slope"] is not None
    ]
    assert found["median_local_slope"]["diverged vs not"] == pytest.approx(np.median(slopes))
    # each frame's own D also at half its resolution, the same window
    (meta,) = tmp_path.glob("m-zoom-*-frame-000.json")
    meta = json.loads(meta.read_text())["map"]["dimension"]
    moved = abs(meta["D"] - meta["D_half_resolution"])
    assert meta["resolution_difference"] == pytest.approx(moved)


def test_zoom_takes_negative_coordinates_as_typed(tmp_path, capsys):
    """--zoom -1,-1,2 (not only --zoom=-1,-1,2): the value reaches the zoom, which re-centres
    the w1 x w2 map on (-1, -1), and the check that refuses it on a log axis."""
    cfg = ROOT / "experiments" / "map-basins-w1-w2.toml"
    out = tmp_path / "o"
    args = ["map", str(cfg), "--resolution", "32x32", "--out", str(out), "--quiet"]
    assert main([*args, "--zoom", "-1,-1,2"]) == 0, capsys.readouterr().err
    (meta,) = out.glob("map-basins-w1-w2-32x32-zoom-*.json")
    window = json.loads(meta.read_text())["map"]["window"]
    assert (window["center"], window["span"]) == ([-1.0, -1.0], [4.0, 4.0])
    lr_map = ROOT / "experiments" / "map-lr-hidden-output.toml"
    assert main(["map", str(lr_map), "--out", str(tmp_path / "lr"), "--zoom", "-1,0.1,2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bpsweep map: error: --zoom X: expected a value > 0 for lr_hidden"), err
    assert not (tmp_path / "lr").exists()


def test_negative_values_still_parse_as_before():
    """The map parser's rule for values starting with '-' takes number lists; plain negative
    numbers and options are read as before."""
    from bpsweep.commands import build_parser

    parse = build_parser().parse_args
    args = parse(["map", "m.toml", "--zoom", "-0.5,-1e-3,4", "--jobs", "-1", "--quiet"])
    assert (args.zoom, args.jobs, args.quiet) == ("-0.5,-1e-3,4", -1, True)
    assert parse(["map", "m.toml", "--zoom=-1,-1,2"]).zoom == "-1,-1,2"
    assert parse(["map", "m.toml", "--zoom", "1,-1,2", "--fresh"]).fresh


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--frames", "3"], "--frames: expected --zoom X,Y,FACTOR too"),
        (["--zoom", "1,2"], "--zoom"),
        (["--resolution", "0x5"], "--resolution"),
        (["--fit-ssr", "nan"], "--fit-ssr: expected a finite number > 0"),
        (["--jobs", "0"], "--jobs: expected a whole number >= 1"),
        (["--jobs", "9999"], "--jobs 9999 would start 9,999 worker processes"),
    ],
)
def test_bad_options_are_one_line(tmp_path, capsys, args, message):
    cfg = write(tmp_path / "m.toml", MAP)
    assert main(["map", str(cfg), "--out", str(tmp_path / "o"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_a_sweep_config_is_refused(tmp_path, capsys):
    cfg = write(tmp_path / "s.toml", "[sweep]\nlr = [0.1, 0.2]\n")
    assert main(["map", str(cfg), "--out", str(tmp_path / "o")]) == 2
    assert "expected a map config" in capsys.readouterr().err


def test_run_refuses_a_map_config_and_leaves_the_map_alone(tmp_path, capsys):
    """bpsweep run on a map config replaced the map's JSON (so the next bpsweep map trained
    every pixel again); now it is one line, exit 2, and nothing is written."""
    cfg = write(tmp_path / "m.toml", MAP)
    out = tmp_path / "out"
    assert main(["map", str(cfg), "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir() if p.is_file()}
    for extra in ([], ["--dry-run"], ["--fresh"], ["--format", "parquet"]):
        assert main(["run", str(cfg), "--out", str(out), "--quiet", *extra]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "is a map config" in err[0] and "bpsweep map" in err[0]
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir() if p.is_file()}
    assert after == before
    assert main(["map", str(cfg), "--out", str(out), "--quiet"]) == 0
    assert "already complete (nothing computed" in capsys.readouterr().out  # not trained again


def test_shipped_maps_load():
    for name in ("map-basins-w1-w2", "map-lr-hidden-output"):
        config = load_config(ROOT / "experiments" / f"{name}.toml")
        assert config.mode == "map" and config.n_runs == 1024 * 1024
    line = load_config(ROOT / "experiments" / "line-lr-hidden.toml")
    assert line.map.is_line and line.n_runs == 10**6


def _start(args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen(
        [sys.executable, "-m", "bpsweep", "map", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


@pytest.mark.slow
def test_kill_9_then_resume_gives_the_same_parquet(tmp_path, capsys):
    """Killed once a tile is stored: the next run trains only the others, and the results
    are byte for byte those of a map trained in one go."""
    cfg = write(tmp_path / "slow.toml", SLOW)
    out = tmp_path / "killed"
    proc = _start([str(cfg), "--out", str(out), "--jobs", "1", "--quiet"], tmp_path)
    t0 = time.monotonic()
    tiles = out / "tiles"
    while not (tiles.is_dir() and any(tiles.glob("*/*/t256-*.json"))):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < 120, "no tile appeared"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert not (out / "slow.parquet").exists()
    stored = len(list(tiles.glob("*/*/t256-*.json")))
    assert 1 <= stored < 3
    assert main(["map", str(cfg), "--out", str(out), "--quiet"]) == 0
    trained = f"{3 - stored} tile{'s' if 3 - stored > 1 else ''} trained"
    assert f"{trained}, {stored:,} from the tile cache" in capsys.readouterr().out
    assert main(["map", str(cfg), "--out", str(tmp_path / "clean"), "--quiet"]) == 0
    a, b = out / "slow.parquet", tmp_path / "clean" / "slow.parquet"
    pd.testing.assert_frame_equal(pd.read_parquet(a), pd.read_parquet(b), check_exact=True)
    assert a.read_bytes() == b.read_bytes()
    assert (out / "slow.png").read_bytes() == (tmp_path / "clean" / "slow.png").read_bytes()


def test_set_on_a_map_config_changes_a_fixed_setting(tmp_path, capsys):
    """--set lr=... fixes lr of a map (no [sweep] appears); sweep.lr=... is refused in one line."""
    cfg = write(tmp_path / "m.toml", MAP.replace('x = "lr"', 'x = "init_w3"'))
    config = load_config(cfg, overrides=["lr=0.2", "max_steps=50"])
    assert config.mode == "map" and config.fixed["lr"] == 0.2 and config.fixed["max_steps"] == 50
    assert main(["map", str(cfg), "--set", "sweep.lr=0.2", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "found both" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("module", "words"), [("PIL", "pillow"), ("matplotlib.figure", "matplotlib")]
)
def test_missing_drawing_packages_are_named_before_any_training(
    tmp_path, capsys, monkeypatch, module, words
):
    monkeypatch.setitem(sys.modules, module, None)  # import of it raises ImportError
    cfg = write(tmp_path / "m.toml", MAP)
    assert main(["map", str(cfg), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err and "pip install bpsweep[plots]" in err
    assert not (tmp_path / "o").exists()


def test_a_parameter_the_network_lacks_names_the_map_axis(tmp_path):
    from bpsweep.errors import ConfigError

    cfg = write(tmp_path / "m.toml", MAP.replace('y = "init_w4"', 'y = "init_w9"'))
    with pytest.raises(ConfigError, match=r"\[map\] y = 'init_w9': expected a parameter"):
        load_config(cfg)


def test_a_map_too_big_to_colour_by_basin_is_refused_before_training(tmp_path, capsys, monkeypatch):
    """The basin colours need every good fit's final parameters at once; the other colours
    are drawn band by band, in any memory."""
    from bpsweep import machine
    from bpsweep.maps import runner as maprun

    monkeypatch.setattr(machine, "available_memory", lambda: 2 * 24 * maprun.BASIN_BYTES)
    cfg = write(tmp_path / "m.toml", MAP)  # 6 x 4 = 24 pixels: fits exactly half
    out = tmp_path / "o"
    assert main(["map", str(cfg), "--out", str(out), "--quiet", "--color", "basin"]) == 0
    cfg = write(tmp_path / "m.toml", MAP.replace("[6, 4]", "[6, 5]"))
    assert main(["map", str(cfg), "--out", str(tmp_path / "p"), "--color", "basin"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "colouring 6 x 5 pixels by basin needs about" in err
    assert not (tmp_path / "p").exists()
    assert main(["map", str(cfg), "--out", str(tmp_path / "q"), "--quiet"]) == 0  # outcome


def test_a_map_over_a_hyper_parameter_its_optimizer_does_not_use_is_refused(tmp_path):
    from bpsweep.errors import ConfigError

    text = MAP.replace('x = "lr"', 'x = "momentum"')
    cfg = write(tmp_path / "m.toml", text.replace("span = [0.9, 4.0]", "span = [0.5, 4.0]"))
    with pytest.raises(ConfigError, match=r"\[map\] x = 'momentum': expected optimizer "):
        load_config(cfg)
    with pytest.raises(ConfigError, match=r"or choose another axis"):
        load_config(cfg)
    assert load_config(cfg, overrides=['optimizer="momentum"']).mode == "map"


def test_the_lr_map_diverges_a_little_above_one_third_within_its_steps():
    """The README on experiments/map-lr-hidden-output.toml: b3's parabola (curvature 6) makes
    runs diverge for lr_output > 1/3 only in the limit; within the map's 1000 steps (tol 0.001)
    divergence starts at lr_output 0.3342 (lr_hidden 0.01) to 0.3348 (lr_hidden 10), and from
    0.332 up to there runs oscillate until max_steps, on both sides of 1/3."""
    from bpsweep.engine.batch import train_runs
    from bpsweep.engine.starts import PRESETS

    config = load_config(ROOT / "experiments" / "map-lr-hidden-output.toml")
    fixed = config.fixed
    assert (fixed["scheme"], fixed["tol"], fixed["max_steps"]) == ("statquest-start", 0.001, 1000)
    expected = {
        (0.01, 0.332): "max_steps",
        (0.01, 0.3333): "max_steps",
        (0.01, 0.334): "max_steps",
        (0.01, 0.3341): "max_steps",
        (0.01, 0.3342): "diverged",
        (10.0, 0.332): "max_steps",
        (10.0, 0.3347): "max_steps",
        (10.0, 0.3348): "diverged",
    }
    runs = pd.DataFrame(list(expected), columns=["lr_hidden", "lr_output"])
    for p, v in PRESETS["statquest-start"].items():
        runs[f"init_{p}"] = v
    runs["tol"], runs["max_steps"] = 0.001, 1000
    status = dict(zip(expected, train_runs(runs)["status"]))
    assert status == expected
