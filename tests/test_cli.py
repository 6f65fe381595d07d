"""`bpsweep train`: the lesson's walk-through, the trace CSV and error messages."""

import subprocess
import sys

import pandas as pd
import pytest

from bpsweep import train
from bpsweep.commands import main


def test_train_walkthrough_lesson_000(capsys):
    assert main(["train", "--init", "statquest-fitted", "--trainable", "b3", "--lr", "0.1"]) == 0
    out = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in out if line.split()[:1] and line.split()[0].isdigit()]
    assert [r[1] for r in rows] == ["b3"] * 10
    step1, step2 = [list(map(float, r[2:5])) for r in rows[:2]]
    # slope, step size, new value as the lesson prints them
    assert [round(v, 2) for v in step1] == [-15.66, -1.57, 1.57]
    assert [round(step2[0], 2), round(step2[1], 3), round(step2[2], 2)] == [-6.26, -0.626, 2.19]
    assert out[-1].startswith("converged after 10 steps")
    assert "b3=2.60891" in out[-1]


def test_trace_csv_round_trips(tmp_path, capsys):
    f = tmp_path / "trace.csv"
    args = [
        "train",
        "--init",
        "w1=2.74,b1=0,w2=-1.13,b2=0,w3=0.36,w4=0.63,b3=0",
        "--lr",
        "0.1",
        "--trace-csv",
        str(f),
    ]
    assert main(args) == 0
    assert "converged after 472 steps" in capsys.readouterr().out
    got = pd.read_csv(f)
    want = train(init="statquest-start", lr=0.1, trace=True).trace
    assert list(got.columns) == list(want.columns)
    assert len(got) == 473
    pd.testing.assert_frame_equal(got, want, check_exact=True, check_dtype=False)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lr", "-1"], "--lr: expected a finite number > 0, found -1 (integer)"),
        (["--lr", "nan"], "--lr: expected a finite number > 0, found nan (number)"),
        (["--tol", "abc"], "--tol: expected a finite number >= 0, found 'abc' (string)"),
        (["--tol", "-1"], "--tol: expected a finite number >= 0, found -1 (integer)"),
        (["--max-steps", "2.5"], "--max-steps: expected a whole number from 1 to 2**62, found 2.5"),
        (["--hidden", "100000000"], "--hidden: expected a whole number from 1 to 1024"),
        (["--momentum", "inf", "--optimizer", "momentum"], "--momentum: expected a number in"),
        (["--data", "missing.csv"], "no file at missing.csv"),
        (["--init", "w1=x"], "initial w1 must be a number"),
        (["--show", "zero"], "--show: expected a whole number >= 0, 'all' or 'auto'"),
    ],
)
def test_errors_are_one_line(capsys, args, message):
    assert main(["train", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("bpsweep train: error:") and "Traceback" not in err


def test_console_script_runs():
    out = subprocess.run(
        [sys.executable, "-m", "bpsweep", "train", "--init", "statquest-start", "--lr", "0.5"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.splitlines()[-1].startswith("diverged after")


def test_train_tol_0_takes_every_step(capsys):
    argv = ["train", "--init", "statquest-start", "--tol", "0", "--max-steps", "50"]
    assert main(argv) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("max_steps after 50 steps:")
