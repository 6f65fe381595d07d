"""The sweep runner: results against single runs, byte-identical CSVs whatever the jobs, chunk
size or resuming, kill -9 and resume, changed configs, dead workers, the lesson-b3 threshold."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bpsweep
from bpsweep import train
from bpsweep.commands import main
from bpsweep.engine.data import load_data
from bpsweep.engine.starts import PRESETS
from bpsweep.model import param_names
from bpsweep.sweeps.options import RunOptions
from bpsweep.sweeps.runner import SweepError, execute, read_results, run_sweep

ROOT = Path(__file__).resolve().parents[1]

SMALL = """
name = "small"
[train]
max_steps = 300
[sweep]
seed = { start = 0, count = 40 }
lr = [0.01, 0.1, 0.5, 1.0]
scheme = ["normal", "he"]
"""

# A slower sweep for kill/resume: small lr and tol, so every run takes all its 10000 steps
# (the lanes kernel trains the 3000 runs in about a second), and 60 chunks of 50 runs, so
# that a kill after the first part lands mid-sweep even on a fast box.
SLOW = """
name = "slow"
[train]
lr = 0.01
tol = 1e-12
max_steps = 10000
[sweep]
seed = { start = 0, count = 3000 }
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_runs_equal_single_runs_of_train(tmp_path):
    """Same kernel (train_one) on both sides, so results must agree bit for bit, chaotic runs
    at lr >= 0.1 included; the frame is read back from the CSV, so this also checks that every
    float round-trips exactly."""
    cfg = write(tmp_path / "small.toml", SMALL + 'hidden = [1, 2, 3]\ntrainable = ["all", "b1"]')
    df = run_sweep(cfg, out_dir=tmp_path / "out", jobs=1)
    assert len(df) == 40 * 4 * 2 * 3 * 2
    assert df["run_id"].tolist() == list(range(len(df)))
    assert set(df["status"]) == {"converged", "max_steps", "diverged"}
    for i in np.random.default_rng(1).choice(len(df), 40, replace=False):
        row = df.iloc[i]
        names = param_names(int(row["hidden"]))
        start = np.array([row[f"init_{p}"] for p in names])
        res = bpsweep.train(
            hidden=int(row["hidden"]),
            init=start,
            lr=row["lr"],
            tol=row["tol"],
            max_steps=int(row["max_steps"]),
            trainable=row["trainable"],
        )
        assert res.status == row["status"] and res.steps == row["steps"]
        assert res.initial_ssr == row["initial_ssr"]
        assert np.array_equal(res.final_ssr, row["final_ssr"], equal_nan=True)
        final = np.array([row[f"final_{p}"] for p in names])
        assert np.array_equal(final, list(res.final_params.values()), equal_nan=True)
        lacking = [p for p in ("w4", "b4", "w5", "w6", "b3") if p not in names]
        assert all(pd.isna(row[f"final_{p}"]) for p in lacking if f"final_{p}" in df)


def test_csv_is_byte_identical_whatever_jobs_and_chunk_size(tmp_path):
    cfg = write(tmp_path / "small.toml", SMALL)
    outs = []
    for k, (jobs, chunk) in enumerate([(1, None), (1, 7), (2, 50), (1, 1000)]):
        out = tmp_path / f"out{k}"
        execute(cfg, RunOptions(jobs=jobs, chunk_size=chunk, out=out))
        outs.append((out / "small.csv").read_bytes())
        assert not (out / "small.parts").exists()
    assert all(o == outs[0] for o in outs[1:])
    lines = outs[0].decode().splitlines()
    assert len(lines) == 321 and lines[0].startswith("run_id,dataset,hidden,")


def test_lacking_parameters_are_empty_cells_whatever_the_chunk_size(tmp_path):
    """hidden varies slowest, so with 4-run chunks every chunk holds a single hidden size: its
    rows must still leave the parameters their network lacks empty (not nan)."""
    cfg = write(
        tmp_path / "h.toml",
        'name = "h"\n[train]\nmax_steps = 5\n[sweep]\n'
        "hidden = [1, 2]\nseed = { start = 0, count = 4 }\n",
    )
    outs = []
    for k, chunk in enumerate([None, 4, 3]):
        execute(cfg, RunOptions(jobs=1, chunk_size=chunk, out=tmp_path / f"out{k}"))
        outs.append((tmp_path / f"out{k}" / "h.csv").read_bytes())
    assert outs[1] == outs[0] and outs[2] == outs[0]
    header, *rows = outs[0].decode().splitlines()
    columns = header.split(",")
    for row in rows:
        cells = dict(zip(columns, row.split(",")))
        lacking = {"w3", "w4", "b3"} if cells["hidden"] == "1" else set()
        for p in ("w1", "b1", "w2", "b2", "w3", "w4", "b3"):
            for kind in ("init", "final"):
                assert (cells[f"{kind}_{p}"] == "") == (p in lacking), (row, p)


def test_json_sidecar_and_already_complete(tmp_path):
    cfg = write(tmp_path / "small.toml", SMALL)
    first = execute(cfg, RunOptions(jobs=1, chunk_size=100, out=tmp_path))
    meta = json.loads((tmp_path / "small.json").read_text())
    for key in (
        "config",
        "versions",
        "start_time",
        "end_time",
        "wall_seconds",
        "run_steps_per_second",
        "jobs",
        "chunk_size",
        "cpu",
        "fingerprint",
    ):
        assert key in meta
    assert set(meta["versions"]) == {"bpsweep", "numba", "numpy", "pandas", "joblib", "python"}
    assert meta["config"]["sweep"]["lr"] == [0.01, 0.1, 0.5, 1.0]
    df = read_results(tmp_path / "small.csv")
    assert meta["run_steps"] == first.run_steps == df["steps"].sum()
    assert meta["status_counts"] == df["status"].value_counts().to_dict()
    before = (tmp_path / "small.csv").stat().st_mtime_ns
    again = execute(cfg, RunOptions(jobs=1, out=tmp_path))
    assert again.already_complete and again.computed == 0
    assert (tmp_path / "small.csv").stat().st_mtime_ns == before


def test_changed_config_refuses_without_fresh(tmp_path):
    cfg = write(tmp_path / "small.toml", SMALL)
    execute(cfg, RunOptions(jobs=1, out=tmp_path))
    with pytest.raises(SweepError, match=r"different config.*max_steps.*--fresh"):
        execute(cfg, RunOptions(jobs=1, out=tmp_path), overrides=["max_steps=200"])
    df = run_sweep(cfg, jobs=1, out_dir=tmp_path, overrides=["max_steps=200"], fresh=True)
    assert (df["max_steps"] == 200).all()


def test_dry_run_writes_nothing(tmp_path, capsys):
    cfg = write(tmp_path / "small.toml", SMALL)
    out = tmp_path / "out"
    assert main(["run", str(cfg), "--dry-run", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "small: 320 runs" in text
    assert "seed    40 values" in text and "lr      4 values" in text
    assert "scheme  2 values" in text
    assert "of CSV;" in text
    assert not out.exists()
    assert main(["run", str(cfg), "--dry-run", "--out", str(out), "--format", "parquet"]) == 0
    assert "as CSV (less as Parquet);" in capsys.readouterr().out


def test_cli_run_prints_summary_and_paths(tmp_path, capsys, monkeypatch):
    from bpsweep.sweeps import runner as sweep

    monkeypatch.setattr(sweep, "_kernels_cached", lambda: True)  # no first-run notice
    cfg = write(tmp_path / "small.toml", SMALL)
    out = tmp_path / "out"
    assert main(["run", str(cfg), "--out", str(out), "--jobs", "1", "--set", "lr=0.1"]) == 0
    captured = capsys.readouterr()
    assert "small: 80 runs (80 computed)" in captured.out
    assert "run-steps/s" in captured.out and "median steps" in captured.out
    assert str(out / "small.csv") in captured.out and str(out / "small.json") in captured.out
    assert captured.err == ""  # no progress bar when stderr is not a terminal
    assert main(["run", str(cfg), "--out", str(out), "--set", "max_steps=0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "max_steps" in err and "expected" in err


def test_cli_run_says_when_numba_compiles_on_first_run(tmp_path, capsys, monkeypatch):
    """Once a sweep has run, numba's cache holds the kernels and _kernels_cached finds its
    index; with the index gone (monkeypatched) the run says on stderr that it is compiling,
    and --quiet silences that."""
    from bpsweep.sweeps import runner as sweep

    cfg = write(tmp_path / "small.toml", SMALL)
    execute(cfg, RunOptions(jobs=1, out=tmp_path / "warm"), overrides=["max_steps=2"])
    assert sweep._kernels_cached() is True
    monkeypatch.setattr(sweep, "_kernels_cached", lambda: False)
    assert main(["run", str(cfg), "--out", str(tmp_path / "a"), "--jobs", "1"]) == 0
    assert "first run: numba is compiling the kernels" in capsys.readouterr().err
    assert main(["run", str(cfg), "--out", str(tmp_path / "b"), "--jobs", "1", "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_lesson_b3_converges_below_one_third_and_diverges_above(tmp_path):
    """SSR(b3) = sum (y_i - a_i - b3)^2 has curvature 6, so a GD step maps the error e to
    (1 - 6 lr) e: converges for lr < 1/3, diverges for lr > 1/3. A converged run stopped when
    its step 6 lr |e| < tol, so its final error is below tol / (6 lr)."""
    df = run_sweep(ROOT / "experiments" / "lesson-b3.toml", out_dir=tmp_path, jobs=1)
    below, above = df[df["lr"] < 1 / 3], df[df["lr"] > 1 / 3]
    assert len(below) > 20 and len(above) > 20 and len(below) + len(above) == len(df)
    assert (below["status"] == "converged").all()
    assert (above["status"] == "diverged").all()
    # the optimum b3: mean residual of the fitted network without b3 (plain Python)
    x, y = load_data("dosage")
    fit = PRESETS["statquest-fitted"]

    def softplus(z):
        return math.log1p(math.exp(z))

    a = [
        fit["w3"] * softplus(fit["w1"] * xi + fit["b1"])
        + fit["w4"] * softplus(fit["w2"] * xi + fit["b2"])
        for xi in x
    ]
    b3_star = sum(yi - ai for yi, ai in zip(y, a)) / len(x)
    err = (below["final_b3"] - b3_star).abs()
    assert (err < below["tol"] / (6 * below["lr"])).all()
    for p in ("w1", "b1", "w2", "b2", "w3", "w4"):
        assert (df[f"final_{p}"] == fit[p]).all()  # only b3 is trained


def _start(args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen(
        [sys.executable, "-m", "bpsweep", "run", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_for_part(parts: Path, proc, timeout=60):
    """Until the manifest lists a part (a part file alone may not be recorded yet: a kill
    between its rename and the manifest's leaves it unlisted, and it is computed again)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            if json.loads((parts / "manifest.json").read_text())["parts"]:
                return
        except (OSError, ValueError, KeyError):
            pass
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError("no part was recorded")


def test_kill_9_mid_sweep_then_resume_gives_the_same_csv(tmp_path):
    cfg = write(tmp_path / "slow.toml", SLOW)
    out = tmp_path / "killed"
    proc = _start(
        [str(cfg), "--out", str(out), "--jobs", "1", "--chunk-size", "50", "--quiet"], tmp_path
    )
    _wait_for_part(out / "slow.parts", proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "slow.csv").exists()
    done = [p for p in (out / "slow.parts").iterdir() if p.name.startswith("runs-")]
    assert 1 <= len(done) < 60
    # a changed config refuses to mix with these parts
    with pytest.raises(SweepError, match=r"parts of a different config.*tol"):
        execute(cfg, RunOptions(out=out, jobs=1), overrides=["tol=1e-6"])
    # resume with another chunk size; then a clean run in one go
    resumed = execute(cfg, RunOptions(out=out, jobs=1, chunk_size=300))
    assert 0 < resumed.computed < 3000
    execute(cfg, RunOptions(out=tmp_path / "clean", jobs=1))
    assert (out / "slow.csv").read_bytes() == (tmp_path / "clean" / "slow.csv").read_bytes()
    assert not (out / "slow.parts").exists()


def _children(pid):
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                kids.append((int(entry.name), cmd))
    return kids


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_a_dead_worker_ends_the_sweep_with_a_clear_error_and_keeps_parts(tmp_path):
    cfg = write(tmp_path / "slow.toml", SLOW)
    out = tmp_path / "out"
    proc = _start(
        [str(cfg), "--out", str(out), "--jobs", "2", "--chunk-size", "50", "--quiet"], tmp_path
    )
    try:
        _wait_for_part(out / "slow.parts", proc)
        workers = [
            pid
            for pid, cmd in _children(proc.pid)
            if "loky" in cmd and "resource_tracker" not in cmd
        ]
        assert workers, _children(proc.pid)
        os.kill(workers[0], signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 2, err
    assert "a worker process died" in err and "kept in" in err and "again to resume" in err
    assert err.strip().count("\n") == 0
    assert any(p.name.startswith("runs-") for p in (out / "slow.parts").iterdir())
    assert not (out / "slow.csv").exists()


def test_per_layer_rates_are_columns_only_where_set_and_train_as_train_does(tmp_path):
    """lr_hidden / lr_output swept: their columns follow lr, each run equals bpsweep.train with
    the same rates (same kernel, same bits); a sweep that never sets them has no such column."""
    cfg = write(
        tmp_path / "rates.toml",
        '[init]\npreset = "statquest-start"\n[train]\nmax_steps = 300\n'
        "[sweep]\nlr_hidden = [0.05, 0.2]\nlr_output = [0.02, 0.3]\n",
    )
    df = run_sweep(cfg, out_dir=tmp_path / "out", jobs=1)
    cols = list(df.columns)
    assert cols[cols.index("lr") + 1 : cols.index("lr") + 3] == ["lr_hidden", "lr_output"]
    for row in df.itertuples():
        r = train(
            init="statquest-start", max_steps=300, lr_hidden=row.lr_hidden, lr_output=row.lr_output
        )
        assert (r.status, r.steps, r.final_ssr) == (row.status, row.steps, row.final_ssr)
    plain = run_sweep(write(tmp_path / "plain.toml", SMALL), out_dir=tmp_path / "out", jobs=1)
    assert "lr_hidden" not in plain.columns and "lr_output" not in plain.columns


def test_dry_run_of_a_finished_sweep_says_so_and_needs_no_room(tmp_path, capsys, monkeypatch):
    from bpsweep.sweeps import resources

    cfg = write(tmp_path / "small.toml", SMALL)
    out = tmp_path / "out"
    assert main(["run", str(cfg), "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    monkeypatch.setattr(resources, "free_disk", lambda path: 1000)  # a nearly full disk
    assert main(["run", str(cfg), "--dry-run", "--out", str(out)]) == 0
    assert f"already complete: {out}/small.csv (a run would reuse it)" in capsys.readouterr().out
    assert main(["run", str(cfg), "--dry-run", "--out", str(out), "--fresh"]) == 2
    assert "on disk under" in capsys.readouterr().err


def test_tol_0_in_a_config_and_through_set_runs_every_run_to_max_steps(tmp_path, capsys):
    """tol = 0 from a config, and from --set over a config's tol: every run takes exactly
    max_steps steps unless it diverges (lr 1.0 diverges)."""
    cfg = tmp_path / "fixed.toml"
    cfg.write_text(SMALL.replace("max_steps = 300", "max_steps = 300\ntol = 0"))
    df = run_sweep(cfg, out_dir=tmp_path / "a", jobs=1)
    assert (df["tol"] == 0).all()
    ran_on = df["status"] != "diverged"
    assert ran_on.sum() > 100 and (df.loc[ran_on, "steps"] == 300).all()
    assert (df.loc[ran_on, "status"] == "max_steps").all()
    assert (df.loc[df["lr"] == 1.0, "status"] == "diverged").all()
    small = tmp_path / "small.toml"
    small.write_text(SMALL)
    assert main(["run", str(small), "--out", str(tmp_path / "b"), "--set", "tol=0"]) == 0
    again = read_results(tmp_path / "b" / "small.csv")
    pd.testing.assert_frame_equal(again, df)
    capsys.readouterr()
    assert main(["run", str(small), "--out", str(tmp_path / "c"), "--set", "tol=-1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "tol: expected a finite number >= 0, found -1" in err, err
