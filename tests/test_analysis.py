"""`bpsweep analyse` and `bpsweep trace` on the command line, and analysis.analyse()."""

import io
import json

import pandas as pd
import pytest

from bpsweep.commands import main
from bpsweep.formatting import format_table
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
