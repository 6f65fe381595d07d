"""`bpsweep analyse` and `bpsweep trace` on the command line, and analysis.analyse()."""

import io
import json

import pandas as pd
import pytest

from bpsweep.analysis.formatting import format_table
from bpsweep.commands import main
from results_helper import make_results, write_results


@pytest.fixture(scope="module")
def grid():
    """Random normal starts x three learning rates (small: 40 seeds)."""
    return make_results(lrs=(0.03, 0.1, 0.3), seeds=range(40))


@pytest.fixture(scope="module")
def grid_csv(grid, tmp_path_factory):
    path = tmp_path_factory.mktemp("res") / "grid.csv"
    write_results(grid, path)
    return path


def test_cli_bad_input_exit_2(tmp_path, capsys):
    path = tmp_path / "x.csv"
    path.write_text("run_id,lr\n0,0.1\n")
    assert main(["analyse", str(path)]) == 2
    err = capsys.readouterr().err
    assert "missing column(s) status, steps, final_ssr" in err and "init_w1" in err
    assert main(["analyse", str(tmp_path / "nope.csv")]) == 2
    assert "no such file" in capsys.readouterr().err


# ---------------------------------------------------------------- CLI output


def test_cli_analyse_formats(grid_csv, grid, capsys):
    assert main(["analyse", str(grid_csv)]) == 0
    out = capsys.readouterr().out
    assert "Outcomes:" in out and "Solution basins" in out and "false_conv" in out
    assert main(["analyse", str(grid_csv), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"outcome", "sensitivity", "basins", "stuck"}
    assert [r["runs"] for r in data["outcome"]] == [40, 40, 40]
    assert main(["analyse", str(grid_csv), "--format", "csv", "--by", "lr", "seed"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert len(table) == len(grid) and (table["runs"] == 1).all()
    assert (
        main(
            [
                "analyse",
                str(grid_csv),
                "--format",
                "markdown",
                "--table",
                "outcome",
                "--chaos-sample",
                "10",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "| lr | runs |" in out and "---:" in out
    assert main(["analyse", str(grid_csv), "--table", "chaos", "--chaos"]) == 0
    assert "changed" in capsys.readouterr().out
    assert main(["analyse", str(grid_csv), "--by", "nosuch"]) == 2
    assert "nosuch" in capsys.readouterr().err


def test_cli_trace(grid_csv, tmp_path, capsys):
    out_csv = tmp_path / "t.csv"
    assert main(["trace", str(grid_csv), "--run-id", "0", "45", "--csv", str(out_csv)]) == 0
    out = capsys.readouterr().out
    assert "run 0:" in out and "run 45:" in out and "not reproduced" not in out
    trace = pd.read_csv(out_csv)
    df = pd.read_csv(grid_csv)
    for run_id in (0, 45):
        assert (trace["run_id"] == run_id).sum() == df.loc[run_id, "steps"] + 1
    assert main(["trace", str(grid_csv), "--run-id", "777"]) == 2


def test_format_table_aligned():
    t = pd.DataFrame({"name": ["a", "long"], "x": [1.5, 0.000123456], "n": [1, 20]})
    lines = format_table(t).splitlines()
    assert len({len(line) for line in lines}) == 1
    assert lines[2].split() == ["long", "0.0001235", "20"]


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--fit-ssr", "nan"),
        ("--fit-ssr", "inf"),
        ("--fit-ssr", "0"),
        ("--fit-ssr", "-0.5"),
        ("--fit-ssr", "small"),
        ("--basin-tol", "nan"),
        ("--basin-tol", "-inf"),
        ("--basin-tol", "0"),
        ("--chaos-sample", "0"),
        ("--chaos-sample", "nan"),
        ("--chaos-sample", "2.5"),
        ("--chaos-repeats", "0"),
        ("--chaos-repeats", "101"),
        ("--chaos-repeats", "inf"),
    ],
)
def test_analyse_rejects_bad_numbers(grid_csv, capsys, option, value):
    assert main(["analyse", str(grid_csv), f"{option}={value}"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and option in err[0] and repr(value) in err[0] and not captured.out


@pytest.mark.parametrize(
    ("option", "value"),
    [("--show", "-1"), ("--show", "nan"), ("--run-id", "nan"), ("--run-id", "-3")],
)
def test_trace_rejects_bad_numbers(grid_csv, capsys, option, value):
    args = ["trace", str(grid_csv), "--run-id", "1"]
    args = [*args[:3], value] if option == "--run-id" else [*args, option, value]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and option in err[0] and repr(value) in err[0]


def test_shares_with_intervals_printed_and_as_numbers(grid_csv, grid, capsys):
    assert main(["analyse", str(grid_csv), "--table", "shares"]) == 0
    out = capsys.readouterr().out
    assert "Wilson" in out and "good_fit" in out
    assert main(["analyse", str(grid_csv), "--table", "shares", "--format", "csv"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(table.columns[:5]) == ["lr", "runs", "converged", "converged_lo", "converged_hi"]
    assert (table["good_fit_lo"] <= table["good_fit"]).all()
    assert (table["good_fit"] <= table["good_fit_hi"]).all()
    args = ["analyse", str(grid_csv), "--chaos", "--chaos-repeats", "2", "--format", "json"]
    assert main(args) == 0
    outcome = json.loads(capsys.readouterr().out)["outcome"]
    assert all(r["good_fit_chaos_min"] <= r["good_fit_chaos_max"] for r in outcome)
    assert main(["analyse", str(grid_csv), "--chaos-sample", "30", "--table", "chaos"]) == 0
    out = capsys.readouterr().out
    assert "30 runs x 3 perturbations" in out and ".." in out


def test_sidecar_mismatch_is_one_warning_line(grid, tmp_path, capsys):
    path = tmp_path / "r.csv"
    write_results(grid, path)
    (tmp_path / "r.json").write_text(json.dumps({"results_size": 12}))
    assert main(["analyse", str(path), "--table", "outcome"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bpsweep analyse: warning:") and "r.json" in err[0]


def test_broken_pipe_still_writes_the_files(grid_csv, tmp_path):
    import os
    import subprocess
    import sys

    pytest.importorskip("matplotlib")
    src = os.path.join(os.path.dirname(__file__), "..", "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    plots, report = tmp_path / "plots", tmp_path / "r.html"
    cmd = [sys.executable, "-m", "bpsweep", "analyse", str(grid_csv)]
    cmd += ["--plots", str(plots), "--report", str(report)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    proc.stdout.close()  # the reader goes away at once, like `| head -0`
    with proc.stderr:
        err = proc.stderr.read().decode()
    assert proc.wait() == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err
    assert report.is_file() and len(list(plots.glob("*.png"))) == 5


def test_no_shares_table_when_each_group_is_one_run(grid_csv, capsys):
    assert main(["analyse", str(grid_csv), "--by", "lr", "seed"]) == 0
    out = capsys.readouterr().out
    assert "Outcomes:" in out and "Wilson" not in out


def test_truncated_results_warn_before_the_error(grid, tmp_path, capsys):
    path = tmp_path / "t.csv"
    write_results(grid, path)
    data = path.read_bytes()
    (tmp_path / "t.json").write_text(json.dumps({"results_size": len(data)}))
    path.write_bytes(data[: len(data) // 2])  # cut mid-row, as `truncate -s` does
    assert main(["analyse", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "warning" in err[0] and "t.json" in err[0] and "error" in err[1]


# ---------------------------------------------------------------- two processes


def test_analyses_in_two_processes_give_the_same_tables(grid, monkeypatch):
    from bpsweep import analysis as A
    from bpsweep.analysis import forking

    monkeypatch.setattr(forking, "MIN_RUNS", 0)
    alone, split = A.analyse(grid), A.analyse(grid, parallel=True)
    assert alone.keys() == split.keys()
    for name in alone:
        pd.testing.assert_frame_equal(alone[name], split[name], check_exact=True)


def test_the_forked_half_reports_its_error_or_is_done_again():
    import os
    import signal

    from bpsweep.analysis import forking

    if not forking.can_fork():
        pytest.skip("no fork here, or one core")
    with pytest.raises(ZeroDivisionError):
        forking.both(lambda: 1 / 0, lambda: 2)
    parent = os.getpid()

    def dies_in_the_child():
        if os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return "done here"

    assert forking.both(dies_in_the_child, lambda: "mine") == ("done here", "mine")
    assert forking.both(lambda: {"a": pd.DataFrame({"x": [1.5]})}, lambda: 3)[0]["a"].x[0] == 1.5
