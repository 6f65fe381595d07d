"""The docs show what a user sees: every console block of README.md and docs/*.md that shows a
command's output is run, and its output compared with the block (timings masked); every python
block is run.

A ``console`` block is one of:

- a transcript: lines ``$ COMMAND`` each followed by the output it prints;
- the output of a command named in a comment on the line above the fence:
  ``<!-- output of: COMMAND -->`` (for the README's main job, whose command is in a bash block);
- not checked, for a reason given on the line above: ``<!-- not checked: REASON -->`` (output
  that depends on the machine, such as benchmark figures).

A ``python`` block is run as a script (it must finish without an error; the values in its
comments are not compared), unless the line above says ``<!-- not checked: REASON -->``. What
it needs first is said on the lines right above the fence, one ``<!-- after: ... -->`` each:
``<!-- after: COMMAND -->`` runs a shell command first (e.g. a small sweep whose results the
block reads), ``<!-- after: the python block above -->`` runs the previous python block of the
same file (with what that one needs) in the same script, before this one. The commands run
first, then the blocks' code as one script.

Commands and blocks run in a scratch folder holding a copy of ``experiments/``, with
``bpsweep`` being this checkout's. In the expected output a line ``...`` stands for any number
of lines, and timings (``0.98 s``, ``1,760,477 run-steps/s``, ``12,000 runs/s``) match any
number.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bpsweep.settings import SETTINGS

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```console\s*$")
TIMING = re.compile(r"\b\d[\d,]*(?:\.\d+)?(?:e[+-]?\d+)?(?= ?(?:s\b|run-steps/s|runs/s|ms\b))")


def _blocks():
    """(file, line, kind, command or reason, expected lines) for every console block."""
    found = []
    for path in DOCS:
        lines = path.read_text(encoding="utf-8").splitlines()
        i = 0
        while i < len(lines):
            if not FENCE.match(lines[i]):
                i += 1
                continue
            end = next(k for k in range(i + 1, len(lines)) if lines[k].startswith("```"))
            body = lines[i + 1 : end]
            above = lines[i - 1].strip() if i else ""
            where = f"{path.relative_to(ROOT)}:{i + 1}"
            if m := re.match(r"<!-- output of: (.+) -->$", above):
                found.append((where, "output", m.group(1), body))
            elif m := re.match(r"<!-- not checked: (.+) -->$", above):
                found.append((where, "skip", m.group(1), body))
            elif body and body[0].startswith("$ "):
                found.append((where, "transcript", None, body))
            else:
                found.append((where, "unmarked", None, body))
            i = end + 1
    return found


BLOCKS = _blocks()

PYTHON_FENCE = re.compile(r"^```python\s*$")
MARKER = re.compile(r"^<!-- (.+) -->$")
ABOVE = "the python block above"


def _python_blocks():
    """(file:line, reason it is not checked or None, shell commands, code) for every python
    block; commands and code include those of the blocks it follows (``after: ABOVE``)."""
    found = []
    for path in DOCS:
        lines = path.read_text(encoding="utf-8").splitlines()
        previous = None  # (commands, code) of the file's last python block
        for i, line in enumerate(lines):
            if not PYTHON_FENCE.match(line):
                continue
            end = next(k for k in range(i + 1, len(lines)) if lines[k].startswith("```"))
            where = f"{path.relative_to(ROOT)}:{i + 1}"
            markers, k = [], i - 1
            while k >= 0 and (m := MARKER.match(lines[k].strip())):
                markers.insert(0, m.group(1))
                k -= 1
            reason, commands, code = None, [], []
            for marker in markers:
                if marker.startswith("not checked: "):
                    reason = marker.removeprefix("not checked: ")
                elif marker == f"after: {ABOVE}":
                    assert previous is not None, f"{where}: no python block above it"
                    commands += previous[0]
                    code.append(previous[1])
                elif marker.startswith("after: "):
                    commands.append(marker.removeprefix("after: "))
                else:
                    raise AssertionError(f"{where}: unknown marker <!-- {marker} -->")
            code.append("\n".join(lines[i + 1 : end]))
            previous = (commands, "\n".join(code))
            found.append((where, reason, *previous))
    return found


PYTHON_BLOCKS = _python_blocks()


def _mask(text: str) -> str:
    return TIMING.sub("<N>", text.rstrip())


def _matches(expected: list[str], actual: list[str]) -> bool:
    """Whether actual lines match expected ones, ``...`` lines matching any run of lines."""
    exp = [_mask(e) for e in expected]
    act = [_mask(a) for a in actual]

    def match(i: int, j: int) -> bool:
        while i < len(exp):
            if exp[i].strip() == "...":
                return any(match(i + 1, k) for k in range(j, len(act) + 1))
            if j >= len(act) or exp[i] != act[j]:
                return False
            i, j = i + 1, j + 1
        return j == len(act)

    return match(0, 0)


@pytest.fixture
def scratch(tmp_path):
    """A folder of its own for each block, with experiments/, docs/bench.json and a `bpsweep` on
    the PATH that runs this checkout."""
    root = tmp_path
    shutil.copytree(ROOT / "experiments", root / "experiments")
    (root / "docs").mkdir()
    shutil.copy(ROOT / "docs" / "bench.json", root / "docs")  # the README's saved benchmark
    bin_dir = root / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "bpsweep"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m bpsweep "$@"\n')
    shim.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(ROOT / "src"),
        "COLUMNS": "100",
    }
    return root, env


def _run(command: str, scratch) -> list[str]:
    root, env = scratch
    done = subprocess.run(
        ["bash", "-c", command], cwd=root, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{command!r} failed:\n{done.stderr[-2000:]}"
    return done.stdout.splitlines()


def test_every_console_block_is_checked_or_says_why_not():
    unmarked = [where for where, kind, _, _ in BLOCKS if kind == "unmarked"]
    assert not unmarked, f"console blocks neither transcripts nor marked: {unmarked}"
    assert any(kind != "skip" for _, kind, _, _ in BLOCKS)


@pytest.mark.slow
@pytest.mark.parametrize(
    "block", [b for b in BLOCKS if b[1] in ("output", "transcript")], ids=lambda b: b[0]
)
def test_console_block_shows_what_the_command_prints(block, scratch):
    where, kind, command, body = block
    if kind == "output":
        steps = [(command, body)]
    else:
        steps, current = [], None
        for line in body:
            if line.startswith("$ "):
                current = (line[2:], [])
                steps.append(current)
            else:
                current[1].append(line)
    for cmd, expected in steps:
        actual = _run(cmd, scratch)
        assert _matches(expected, actual), (
            f"{where}: the output of {cmd!r} differs from the docs.\n--- docs:\n"
            + "\n".join(expected)
            + "\n--- actual:\n"
            + "\n".join(actual)
        )


def test_python_blocks_are_found():
    assert len(PYTHON_BLOCKS) >= 5
    assert any(reason is None for _, reason, _, _ in PYTHON_BLOCKS)


@pytest.mark.slow
@pytest.mark.parametrize("block", [b for b in PYTHON_BLOCKS if b[1] is None], ids=lambda b: b[0])
def test_python_block_runs(block, scratch):
    where, _, commands, code = block
    root, env = scratch
    for command in commands:
        _run(command, scratch)
    (root / "block.py").write_text(code + "\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "block.py"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"{where}: the python block failed:\n{done.stderr[-3000:]}"


def test_matching_rules():
    assert _matches(["a 0.98 s, 1,760,477 run-steps/s", "..."], ["a 12.5 s, 3 run-steps/s", "b"])
    assert _matches(["x", "...", "z"], ["x", "z"])
    assert not _matches(["x", "z"], ["x", "y", "z"])
    assert not _matches(["17% good fits"], ["18% good fits"])


def test_the_settings_reference_lists_every_setting_with_its_default():
    """docs/sweeps.md's table of keys names every setting of the schema, its section and its
    default, so that the reference cannot drift from the code."""
    text = (ROOT / "docs" / "sweeps.md").read_text(encoding="utf-8")
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `(\w+)` \|.*$", text, re.M)}
    for name, setting in SETTINGS.items():
        assert name in rows, f"docs/sweeps.md has no row for {name}"
        cells = [c.strip() for c in rows[name].strip("|").split(" | ")]
        assert cells[1] == f"`[{setting.section}]`", f"{name}: section not [{setting.section}]"
        if setting.default is None:  # optional: "as lr"
            assert "lr" in cells[3], f"{name}: default should say it follows lr"
            continue
        shown = tomllib.loads(f"v = {cells[3].strip('`')}")["v"]
        assert shown == setting.default, f"{name}: docs say default {shown!r}"
