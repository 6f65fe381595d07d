"""Rough edges a new user hit (issue 16), each reproduced through the command line as they met
it: a one-line error (exit 2) that shows what they wrote and what to do, or the right
behaviour, and never a traceback or a library's warning on stderr."""

from __future__ import annotations

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
