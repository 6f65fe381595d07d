"""Rough edges a new user hit (issue 16), each reproduced through the command line as they met
it: a one-line error (exit 2) that shows what they wrote and what to do, or the right
behaviour, and never a traceback or a library's warning on stderr."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
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
    assert lines[-2].startswith("files: 41 (each frame's tiles, Parquet, PNG and JSON, and ")
    assert lines[-1] == "dry run: nothing written" and list(tmp_path.iterdir()) == []


def test_frames_that_cannot_fit_the_disk_are_refused_before_training(capsys, tmp_path, monkeypatch):
    from bpsweep.maps import runner

    monkeypatch.setattr(runner, "free_disk", lambda path: 10_000_000)
    args = ("map", MAP, "--zoom", "0.3,0.09,1e6", "--frames", "40", "--resolution", "256x256")
    line = one_line_error(*cli(capsys, *args, "--out", tmp_path)[::2])
    assert "40 maps: 200 files of about" in line and "would not fit the 10.0 MB free" in line
    assert list(tmp_path.iterdir()) == []


def _terminal_signals():
    """In the child, before exec: Ctrl-C's default, as a terminal gives it. A process that
    inherits SIGINT ignored (a background job of a shell; the suite's own workers, when
    something in them ignored it) starts Python with SIGINT ignored, so Ctrl-C would do
    nothing: two clean-clone runs of the suite saw such runs outlive SIGINT by 30 s."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(tmp_path, *argv):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen(
        [sys.executable, "-m", "bpsweep", *map(str, argv)],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=_terminal_signals,
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


# ---------------------------------------------------------------- files a user brings


def test_a_toml_with_a_byte_order_mark_is_read(capsys, tmp_path):
    cfg = tmp_path / "bom.toml"
    cfg.write_bytes(b"\xef\xbb\xbfname = 'bom'\n[sweep]\nseed = [1, 2]\n")
    code, out, err = cli(capsys, "run", cfg, "--dry-run")
    assert code == 0 and out.startswith("bom: 2 runs (grid)") and err == ""


def test_a_zero_byte_parquet_is_called_an_empty_parquet_file(capsys, tmp_path):
    (tmp_path / "z.parquet").write_bytes(b"")
    line = one_line_error(*cli(capsys, "analyse", tmp_path / "z.parquet")[::2])
    assert "the file is empty (0 bytes); expected a results Parquet file" in line


def test_hidden_as_a_map_axis_says_why_it_cannot_be(capsys, tmp_path):
    text = MAP.read_text().replace('x = "lr_hidden"', 'x = "hidden"')
    line = one_line_error(*cli(capsys, "map", write(tmp_path, "h.toml", text), "--dry-run")[::2])
    assert "[map] x: expected a setting with continuous values" in line
    assert "found 'hidden', which takes a whole number from 1 to 1024" in line
    assert "did you mean" not in line


def test_analyse_warns_of_empty_setting_cells_and_counts_a_repeated_row_once(capsys, tmp_path):
    cfg = write(tmp_path, "s.toml", "[sweep]\nseed = { start = 0, count = 20 }\nlr = [0.1, 0.3]\n")
    assert cli(capsys, "run", cfg, "--out", tmp_path, "--quiet")[0] == 0
    csv = tmp_path / "s.csv"
    lines = csv.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[3].split(",")
    cells[header.index("lr")] = ""  # a hand-edited file
    edited = [lines[0], *lines[1:3], ",".join(cells), *lines[3:], lines[5]]  # row 5 twice
    damaged = tmp_path / "damaged.csv"
    damaged.write_text("\n".join(edited) + "\n")
    code, out, err = cli(capsys, "analyse", damaged, "--table", "outcome")
    assert code == 0
    warned = err.strip().splitlines()
    assert any("column lr has 1 empty cell(s), the first in row 3" in w for w in warned)
    assert any("1 row(s) repeat another row exactly" in w for w in warned)
    assert "41 runs" in out  # 40 runs and the edited copy of one, the repeat counted once


def test_a_read_only_numba_cache_is_named_before_it_costs_a_compile(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("NUMBA_CACHE_DIR", "/proc/bpsweep-cannot-write-here")
    code, _, err = cli(capsys, "run", ROOT / "experiments" / "seed-lr-grid.toml", "--dry-run")
    assert code == 0
    assert err.startswith("bpsweep run: warning: NUMBA_CACHE_DIR=/proc/bpsweep-cannot-write-here")


def test_a_wide_network_trains_without_a_library_warning(capsys, tmp_path):
    cfg = write(
        tmp_path,
        "w.toml",
        "[model]\nhidden = 1024\n[train]\nmax_steps = 2\n[sweep]\nseed = [0, 1]\n",
    )
    code, out, err = cli(capsys, "run", cfg, "--out", tmp_path, "--quiet")
    assert code == 0 and err == "" and "2 runs (2 computed)" in out


# ---------------------------------------------------------------- maps' figures


def test_map_titles_name_the_rates_a_map_uses_and_what_a_zoom_is(monkeypatch, tmp_path):
    from bpsweep.maps import image, runner
    from bpsweep.sweeps.config import load_config
    from bpsweep.sweeps.options import RunOptions

    config = load_config(MAP, overrides=["map.resolution=[8, 8]"])
    assert "lr=" not in runner._fixed_text(config)  # both layers' rates are the axes
    basins = load_config(ROOT / "experiments" / "map-basins-w1-w2.toml")
    assert "gd lr=0.1" in runner._fixed_text(basins)
    (zoomed,), _ = runner.plan_maps(config, zoom=(0.3, 0.09, 6))
    assert zoomed.description == (
        "zoom: 6x into map-lr-hidden-output around lr_hidden=0.3, lr_output=0.09"
    )
    titles = []
    real = image.map_figure

    def spy(*args, **kwargs):
        titles.append(kwargs["title"])
        return real(*args, **kwargs)

    monkeypatch.setattr(image, "map_figure", spy)
    runner.run_map(zoomed, RunOptions(out=tmp_path))
    assert (
        titles[0].splitlines()[1]
        == "6x into map-lr-hidden-output around lr_hidden=0.3, lr_output=0.09"
    )


def test_a_zoom_at_3e_14_of_its_centre_is_drawn_to_its_edges(tmp_path):
    """A window so narrow that float64 holds just its pixels: the figure's image fills its
    axes (matplotlib's float64 transform left a white strip at the right edge)."""
    from PIL import Image

    from bpsweep.maps import image as MI
    from bpsweep.sweeps.window import MapSpec

    spec = MapSpec("lr_hidden", "lr_output", (0.3, 0.09), (0.3 * 3e-14, 0.09 * 3e-14), (64, 64))
    red = np.zeros((64, 64, 3), dtype=np.uint8)
    red[..., 0] = 200
    ax = MI.map_figure(None, red, spec, legend=False)
    path = tmp_path / "f.png"
    ax.figure.savefig(path, dpi=100)
    box = ax.get_window_extent()  # the axes in pixels, origin bottom left
    with Image.open(path) as im:
        pixels = np.asarray(im.convert("RGB")).astype(int)
    h = pixels.shape[0]
    inside = pixels[int(h - box.y1) + 3 : int(h - box.y0) - 3, int(box.x0) + 3 : int(box.x1) - 3]
    assert inside.size and (inside[..., 0] > 150).all() and (inside[..., 1] < 60).all()


@pytest.mark.slow
def test_no_library_warning_reaches_the_terminal_in_normal_use(tmp_path):
    """The commands of the README, small, in a fresh interpreter whose warnings print as
    Python's default filters print them: nothing on stderr."""
    main_job = write(tmp_path, "s.toml", (ROOT / "experiments" / "seed-lr-grid.toml").read_text())
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env.pop("PYTHONWARNINGS", None)
    out = "results/seed-lr-grid.csv"
    commands = [
        ["run", main_job, "--set", "sweep.seed={start=0,count=50}", "--quiet"],
        ["analyse", out, "--plots", "plots", "--report", "r.html", "--chaos-sample", "20"],
        ["trace", out, "--run-id", "3", "--plot", "t.png"],
        ["map", MAP, "--resolution", "32x32", "--dimension", "--quiet"],
        ["map", ROOT / "experiments" / "map-basins-w1-w2.toml", "--resolution", "32x32", "--quiet"],
    ]
    # one interpreter for all (its warnings show once each, and any shows: stderr is empty)
    script = (
        "import sys\nfrom bpsweep.commands import main\n"
        f"for argv in {[[str(a) for a in argv] for argv in commands]!r}:\n"
        "    code = main(argv)\n"
        "    assert code == 0, (argv, code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path):
    """``bpsweep map ... --dry-run | head -3`` printed a BrokenPipeError traceback."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bpsweep", "map", str(MAP), "--dry-run", "--out", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    proc.stdout.close()  # the reader is gone before the first line
    with proc.stderr:
        err = proc.stderr.read()
    assert proc.wait(timeout=120) == 128 + signal.SIGPIPE
    assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_a_few_runs_that_take_minutes_say_so_as_they_start(tmp_path):
    """One run on a data set of 10^5 points, 10^5 steps: minutes of training with no progress
    to show (one chunk). It used to start without a word; now it is estimated and announced,
    and Ctrl-C stops it."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, 100_000)
    lines = "".join(f"{a!r},{b!r}\n" for a, b in zip(x.tolist(), np.sin(3 * x).tolist()))
    (tmp_path / "big.csv").write_text("x,y\n" + lines)
    cfg = write(
        tmp_path,
        "big.toml",
        '[data]\ndataset = "big.csv"\n[train]\nlr = 1e-9\ntol = 0\nmax_steps = 100000\n'
        "[sweep]\nseed = [0]\n",
    )
    proc = _start(tmp_path, "run", cfg, "--out", tmp_path / "o")
    try:
        notice = proc.stderr.readline()  # before any training: the estimate
        assert "big: 1 run to train, about 1e+05 run-steps, about " in notice, notice
        assert "Ctrl-C stops it, keeping finished parts" in notice
        assert proc.poll() is None  # it trains
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 130
        assert proc.stderr.read() == "bpsweep run: interrupted\n"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.stderr.close()


def test_analyse_of_a_wide_network_warns_nothing(capsys, tmp_path):
    """hidden = 1024 made analyse print thousands of pandas PerformanceWarnings (its stuck
    places' table was built a parameter column at a time); 40 hidden nodes (121 parameters)
    were enough to show it, and the suite makes a warning an error."""
    cfg = write(
        tmp_path,
        "w.toml",
        "[model]\nhidden = 40\n[train]\nmax_steps = 2\n[sweep]\nseed = [0, 1, 2]\n",
    )
    assert cli(capsys, "run", cfg, "--out", tmp_path, "--quiet")[0] == 0
    code, out, err = cli(capsys, "analyse", tmp_path / "w.csv")
    assert code == 0 and err == "" and "3 runs" in out


def test_a_map_of_hours_is_refused_with_its_estimate(capsys, tmp_path):
    args = ("map", MAP, "--set", "max_steps=1000000000000", "--resolution", "8x8")
    line = one_line_error(*cli(capsys, *args, "--out", tmp_path / "o")[::2])
    assert "64 pixels to train, about " in line and " run-steps, about " in line
    assert "that is over an hour: run again with --yes" in line
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").rglob("*.arrow"))


def test_a_maps_summary_lists_every_file_and_a_complete_map_says_drew(capsys, tmp_path):
    args = ("map", MAP, "--resolution", "32x32", "--set", "max_steps=50", "--dimension")
    code, out, err = cli(capsys, *args, "--out", tmp_path)
    assert code == 0 and err == "", err
    name = "map-lr-hidden-output-32x32"
    wrote = out[out.index("  wrote ") :].split()
    files = [f"{tmp_path}/{name}{s}" for s in (".parquet", ".png", "-figure.png", ".json")]
    assert all(f in wrote for f in [*files, f"{tmp_path}/{name}-dimension.png"]), out
    code, out, err = cli(capsys, *args, "--out", tmp_path)  # complete: drawn again, not trained
    assert code == 0 and "already complete (nothing computed" in out
    assert "  drew " in out and "  wrote " not in out


def test_one_run_is_one_run_not_one_runs(capsys, tmp_path):
    cfg = write(tmp_path, "one.toml", "[train]\nmax_steps = 5\n[sweep]\nseed = [0]\n")
    code, out, _ = cli(capsys, "run", cfg, "--out", tmp_path)
    assert code == 0 and out.startswith("one: 1 run (1 computed) in ") and "1 runs" not in out


def test_the_readmes_commands_run_as_written_after_its_setup():
    """Copied as written after the README's first command (which makes .venv without
    activating it), a `bpsweep` command must say `.venv/bin/bpsweep` until the README says to
    activate the environment."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    note = text.index("source .venv/bin/activate")
    blocks = text[:note].split("```bash")[1:]
    commands = [line for b in blocks for line in b.split("```")[0].splitlines() if line.strip()]
    bare = [c for c in commands if c.lstrip().startswith("bpsweep ")]
    assert commands and not bare, bare
