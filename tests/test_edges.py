"""Rough edges a new user hit (issue 16), each reproduced through the command line as they met
it: a one-line error (exit 2) that shows what they wrote and what to do, or the right
behaviour, and never a traceback or a library's warning on stderr."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bpsweep.commands import main

ROOT = Path(__file__).resolve().parents[1]


def cli(capsys, *argv) -> tuple[int, str, str]:
    """Run ``bpsweep ARGV`` in this process: (exit status, stdout, stderr)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code: int, err: str) -> str:
    """The error line of a refused command, checked to be alone on stderr (no traceback, no
    warning before it)."""
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1, f"expected one line on stderr, found:\n{err}"
    return lines[0]


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- numbers past int64


@pytest.mark.parametrize(
    ("sweep", "where", "value"),
    [
        ("seed = { start = 1180591620717411303424, count = 2 }", "seed[0]", 2**70),
        ("seed = { start = 0, count = 2, step = 1180591620717411303424 }", "seed[1]", 2**70),
        ("max_steps = { start = 1, count = 3, step = 2 ** 70 }", "max_steps[2]", 1 + 2**71),
    ],
)
def test_a_range_past_int64_is_one_line_with_the_users_value(capsys, tmp_path, sweep, where, value):
    sweep = sweep.replace("2 ** 70", str(2**70))
    cfg = write(tmp_path, "big.toml", f"[sweep]\n{sweep}\n")
    line = one_line_error(*cli(capsys, "run", cfg, "--out", tmp_path / "o", "--dry-run")[::2])
    assert f"[sweep] {where}: expected a whole number from" in line
    assert f"found {value} (integer)" in line


def test_a_range_running_past_int64_shows_the_value_not_a_wrapped_one(capsys, tmp_path):
    cfg = write(
        tmp_path, "wrap.toml", "[sweep]\nseed = { start = 9223372036854775806, count = 3 }\n"
    )
    line = one_line_error(*cli(capsys, "run", cfg, "--dry-run")[::2])
    assert "seed[2]: expected a whole number from 0 to 2**63 - 1" in line
    assert "found 9223372036854775808 (integer)" in line
    assert "-9223372036854775808" not in line


def test_a_logspace_past_float64_is_refused_before_numpy_warns(capsys, tmp_path):
    cfg = write(tmp_path, "logs.toml", "[sweep]\nlr = { logspace = [300, 400, 3] }\n")
    line = one_line_error(*cli(capsys, "run", cfg, "--dry-run")[::2])
    assert "[sweep] lr: expected exponents of at most 308.25" in line


def test_a_linspace_wider_than_float64_is_refused_before_numpy_warns(capsys, tmp_path):
    cfg = write(tmp_path, "lin.toml", "[sweep]\nlr = { linspace = [-1e308, 1.5e308, 3] }\n")
    line = one_line_error(*cli(capsys, "run", cfg, "--dry-run")[::2])
    assert "less than about 1.8e308 apart" in line


# ---------------------------------------------------------------- checks before the work


def test_train_show_is_checked_before_the_training(capsys, monkeypatch):
    from bpsweep.engine import trainer

    def never(*args, **kwargs):
        raise AssertionError("trained before --show was checked")

    monkeypatch.setattr(trainer, "train", never)
    line = one_line_error(*cli(capsys, "train", "--show", "abc")[::2])
    assert (
        line
        == "bpsweep train: error: --show: expected a whole number >= 0, 'all' or 'auto', got 'abc'"
    )


def test_train_show_0_is_accepted_as_trace_accepts_it(capsys):
    code, out, _ = cli(
        capsys, "train", "--init", "statquest-start", "--max-steps", "5", "--show", "0"
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[2].strip() == "..." and lines[3].lstrip().startswith("5  w1")  # only the last


def test_train_trace_csv_creates_its_folder_as_trace_plot_does(capsys, tmp_path):
    target = tmp_path / "nodir" / "sub" / "t.csv"
    code, out, _ = cli(capsys, "train", "--max-steps", "3", "--trace-csv", target)
    assert code == 0 and target.exists() and f"trace written to {target}" in out


def test_train_trace_csv_under_a_file_is_refused_before_training(capsys, tmp_path):
    (tmp_path / "afile").write_text("x")
    line = one_line_error(*cli(capsys, "train", "--trace-csv", tmp_path / "afile" / "t.csv")[::2])
    assert "--trace-csv" in line and "is a file, not a folder" in line


# ---------------------------------------------------------------- output that cannot be encoded


def test_a_non_ascii_out_path_on_an_ascii_terminal_is_printed_escaped(tmp_path):
    cfg = write(tmp_path, "tiny.toml", "[sweep]\nseed = { start = 0, count = 3 }\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "PYTHONIOENCODING": "ascii"}
    done = subprocess.run(
        [sys.executable, "-m", "bpsweep", "run", str(cfg), "--out", "résultats", "--quiet"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
    )
    assert done.returncode == 0, done.stderr
    assert "wrote r\\xe9sultats/tiny.csv" in done.stdout
    assert done.stderr == ""
    assert (tmp_path / "résultats" / "tiny.csv").exists()


# ---------------------------------------------------------------- long work: estimated, stoppable

NEVER_CONVERGES = """[init]
preset = "statquest-start"
[train]
lr = 0.1
lr_output = 0.3333
max_steps = 1000000000000
"""
MAP = ROOT / "experiments" / "map-lr-hidden-output.toml"


def test_one_run_of_hours_is_refused_with_its_estimate(capsys, tmp_path):
    cfg = write(tmp_path, "long.toml", NEVER_CONVERGES)
    line = one_line_error(*cli(capsys, "run", cfg, "--out", tmp_path / "o")[::2])
    assert "long: 1 run to train, about 1e+12 run-steps" in line
    assert "over an hour: run again with --yes" in line
    assert not (tmp_path / "o" / "long.parts").exists()  # nothing left behind


def test_dry_run_states_the_expected_work(capsys, tmp_path):
    cfg = write(tmp_path, "long.toml", NEVER_CONVERGES)
    code, out, err = cli(capsys, "run", cfg, "--dry-run")
    assert code == 0 and err == ""
    assert "work: about 1e+12 run-steps" in out and "(over an hour: a run needs --yes)" in out
    code, out, _ = cli(capsys, "run", ROOT / "experiments" / "seed-lr-grid.toml", "--dry-run")
    assert "work: at most 6,000,000 run-steps (every run to max_steps), under a minute" in out


def test_yes_starts_work_estimated_long_and_a_notice_says_how_to_stop_it(
    capsys, tmp_path, monkeypatch
):
    from bpsweep.sweeps import estimate

    monkeypatch.setattr(estimate, "NOTICE_SECONDS", 0.0)  # every sweep is estimated
    monkeypatch.setattr(estimate, "LONG_WORK_SECONDS", 0.0)  # and takes "long"
    cfg = write(tmp_path, "s.toml", "[sweep]\nseed = { start = 0, count = 20 }\n")
    line = one_line_error(*cli(capsys, "run", cfg, "--out", tmp_path / "o")[::2])
    assert "20 runs to train, about" in line and "--yes" in line
    code, out, err = cli(capsys, "run", cfg, "--out", tmp_path / "o", "--yes")
    assert code == 0 and "20 runs (20 computed)" in out
    assert "s: 20 runs to train, about" in err and "Ctrl-C stops it, keeping finished parts" in err


def test_frames_have_a_maximum(capsys, tmp_path):
    args = ("map", MAP, "--zoom", "0.3,0.09,1e6", "--frames", "100000", "--out", tmp_path)
    line = one_line_error(*cli(capsys, *args)[::2])
    assert "--frames: expected a whole number from 2 to 1,000, found 100000" in line
    assert list(tmp_path.iterdir()) == []


def test_map_dry_run_states_frames_work_and_files(capsys, tmp_path):
    args = ("map", MAP, "--zoom", "0.3,0.09,1e6", "--frames", "8", "--resolution", "32x32")
    code, out, err = cli(capsys, *args, "--out", tmp_path, "--dry-run")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].endswith(": 8 zoom frames of 32 x 32 pixels, 8,192 runs in all")
    assert lines[1].startswith("  from lr_hidden 0.01") and lines[2].startswith("  to   lr_hidden")
    assert lines[-2].startswith("files: 25 (each frame's Parquet, PNG and JSON, and ")
    assert lines[-1] == "dry run: nothing written" and list(tmp_path.iterdir()) == []


def test_frames_that_cannot_fit_the_disk_are_refused_before_training(capsys, tmp_path, monkeypatch):
    from bpsweep.maps import runner

    monkeypatch.setattr(runner, "free_disk", lambda path: 10_000_000)
    args = ("map", MAP, "--zoom", "0.3,0.09,1e6", "--frames", "40", "--resolution", "256x256")
    line = one_line_error(*cli(capsys, *args, "--out", tmp_path)[::2])
    assert "40 maps: 120 files of about" in line and "would not fit the 10.0 MB free" in line
    assert list(tmp_path.iterdir()) == []


def _start(tmp_path, *argv):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen(
        [sys.executable, "-m", "bpsweep", *map(str, argv)],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _stopped(proc, sig, after: float) -> tuple[int, float, str]:
    """Send ``sig`` to ``proc`` ``after`` seconds in: (exit status, seconds it took to exit,
    stderr)."""
    import signal
    import time

    time.sleep(after)
    assert proc.poll() is None, proc.stderr.read()
    t0 = time.perf_counter()
    proc.send_signal(sig)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    seconds = time.perf_counter() - t0
    with proc.stderr:
        return proc.returncode, seconds, proc.stderr.read()


@pytest.mark.slow
def test_ctrl_c_stops_a_run_of_hours_within_a_second(tmp_path):
    import signal

    cfg = write(tmp_path, "long.toml", NEVER_CONVERGES)
    proc = _start(tmp_path, "run", cfg, "--yes", "--quiet", "--out", "o")
    code, seconds, err = _stopped(proc, signal.SIGINT, after=4.0)
    assert code == 130 and err == "bpsweep run: interrupted\n"
    assert seconds < 1.5


@pytest.mark.slow
def test_sigterm_stops_worker_processes_with_one_line_and_leaves_nothing(tmp_path):
    import signal
    import time

    cfg = write(tmp_path, "many.toml", "[sweep]\nseed = { start = 0, count = 200000 }\n")
    proc = _start(tmp_path, "run", cfg, "--jobs", "2", "--chunk-size", "4000", "--quiet")
    code, seconds, err = _stopped(proc, signal.SIGTERM, after=5.0)
    assert code == 143 and err == "bpsweep run: terminated (SIGTERM)\n"
    for _ in range(50):  # the workers see their parent gone (dispatch.watch_parent)
        ps = ["ps", "-o", "pid=,stat=", "-g", str(proc.pid)]
        lines = subprocess.run(ps, capture_output=True, text=True).stdout.splitlines()
        alive = [line for line in lines if "Z" not in line.split()[1]]  # zombies are dead
        if not alive:
            break
        time.sleep(0.1)
    assert not alive, f"processes left behind: {alive}"
    # the parts trained before the signal are kept: the next run resumes from them
    again = main(["run", str(cfg), "--jobs", "1", "--quiet", "--out", str(tmp_path / "results")])
    assert again == 0
