"""Integrity of parts and results: every kind of damaged part is named on stderr and
recomputed (the CSV is the one an undisturbed sweep writes), the manifest never blocks without
parts, corrupt JSON is named as such, a changed results CSV is not "already complete", and the
lock keeps a second run of the same sweep out."""

import json
import re
from pathlib import Path

import pytest

from bpsweep.commands import main
from bpsweep.errors import SweepError
from bpsweep.sweeps.options import RunOptions
from bpsweep.sweeps.outdir import SweepLock
from bpsweep.sweeps.parts import MANIFEST, part_name
from bpsweep.sweeps.runner import execute

SMALL = {
    "name": "small",
    "train": {"max_steps": 300},
    "sweep": {"seed": {"start": 0, "count": 40}, "lr": [0.01, 0.1, 0.5, 1.0], "hidden": [1, 2]},
}
N = 320  # runs of SMALL
K = 80  # chunk size: parts [0, 80), [80, 160), ...


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """The CSV of SMALL computed in one go."""
    out = tmp_path_factory.mktemp("clean")
    return execute(SMALL, RunOptions(out=out, jobs=1, chunk_size=K)).csv_path.read_bytes()


def interrupted(tmp_path, interrupt_sweep_at, at=240) -> Path:
    """The parts folder of SMALL stopped (as by Ctrl-C) at run ``at``."""
    with interrupt_sweep_at(at), pytest.raises(KeyboardInterrupt):
        execute(SMALL, RunOptions(out=tmp_path, jobs=1, chunk_size=K))
    parts = tmp_path / "small.parts"
    assert sorted(p.name for p in parts.glob("runs-*.csv")) == [
        part_name(a, a + K) for a in range(0, at, K)
    ]
    return parts


def _change_a_digit(data: bytes) -> bytes:
    """One digit of a float cell in the fifth row changed (the CSV stays well formed)."""
    lines = data.split(b"\n")
    row = lines[5]
    m = re.search(rb"\.(\d)", row)
    i = m.start(1)
    digit = b"3" if row[i : i + 1] != b"3" else b"4"
    lines[5] = row[:i] + digit + row[i + 1 :]
    return b"\n".join(lines)


def _other_range(parts: Path, data: bytes) -> bytes:
    return (parts / part_name(0, K)).read_bytes()


CORRUPTIONS = {
    "changed digit": lambda parts, data: _change_a_digit(data),
    "truncated": lambda parts, data: data[: len(data) // 2],
    "truncated mid-row": lambda parts, data: data[:-7],
    "empty": lambda parts, data: b"",
    "garbage": lambda parts, data: b"\x00\xff garbage \x89PNG\r\n" * 50,
    "no header": lambda parts, data: data.split(b"\n", 1)[1],
    "extra rows": lambda parts, data: data + data.split(b"\n", 2)[1] + b"\n",
    "rows of another range": _other_range,
    "header only": lambda parts, data: data.split(b"\n", 1)[0] + b"\n",
}


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_a_damaged_part_is_named_and_recomputed(kind, tmp_path, clean, interrupt_sweep_at, capsys):
    parts = interrupted(tmp_path, interrupt_sweep_at)
    victim = parts / part_name(K, 2 * K)
    victim.write_bytes(CORRUPTIONS[kind](parts, victim.read_bytes()))
    capsys.readouterr()
    res = execute(SMALL, RunOptions(out=tmp_path, jobs=1, chunk_size=K))
    err = capsys.readouterr().err
    assert err == (
        f"bpsweep: part {victim.name} does not match its checksum; "
        f"recomputing runs {K}..{2 * K - 1}\n"
    )
    assert res.computed == N - 240 + K  # the damaged part and the runs never done
    assert res.csv_path.read_bytes() == clean
    assert not parts.exists()


def test_a_missing_part_and_an_unlisted_part_are_recomputed(
    tmp_path, clean, interrupt_sweep_at, capsys
):
    """A listed part deleted by hand; a part file the manifest does not list (as when a run is
    killed between the part's rename and the manifest's): both count as absent."""
    parts = interrupted(tmp_path, interrupt_sweep_at)
    (parts / part_name(0, K)).unlink()
    manifest = json.loads((parts / MANIFEST).read_text())
    del manifest["parts"][part_name(2 * K, 3 * K)]
    (parts / MANIFEST).write_text(json.dumps(manifest))
    capsys.readouterr()
    res = execute(SMALL, RunOptions(out=tmp_path, jobs=1, chunk_size=K))
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2
    assert f"part {part_name(2 * K, 3 * K)} is not listed in manifest.json" in err[0]
    assert err[0].endswith(f"recomputing runs {2 * K}..{3 * K - 1}")
    assert f"part {part_name(0, K)} is listed in the manifest but missing" in err[1]
    assert res.computed == N - K
    assert res.csv_path.read_bytes() == clean


def test_manifest_lists_each_part_with_size_and_checksum(tmp_path, interrupt_sweep_at):
    import hashlib

    parts = interrupted(tmp_path, interrupt_sweep_at)
    manifest = json.loads((parts / MANIFEST).read_text())
    assert set(manifest["parts"]) == {p.name for p in parts.glob("runs-*.csv")}
    for name, entry in manifest["parts"].items():
        data = (parts / name).read_bytes()
        assert entry["size"] == len(data)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert name == part_name(entry["start"], entry["stop"])


def test_a_manifest_without_parts_never_blocks(tmp_path, clean):
    """A run that failed before its first part left only a manifest (of another config, or
    unreadable): the corrected config just starts over."""
    parts = tmp_path / "small.parts"
    parts.mkdir()
    (parts / MANIFEST).write_text(json.dumps({"fingerprint": "other", "runs": 5, "parts": {}}))
    res = execute(SMALL, RunOptions(out=tmp_path, jobs=1, chunk_size=K))
    assert res.computed == N and res.csv_path.read_bytes() == clean
    res.csv_path.unlink()
    res.json_path.unlink()
    parts.mkdir()
    (parts / MANIFEST).write_text("{ not json")
    assert execute(SMALL, RunOptions(out=tmp_path, jobs=1)).csv_path.read_bytes() == clean


def test_parts_of_another_config_still_refuse(tmp_path, interrupt_sweep_at):
    interrupted(tmp_path, interrupt_sweep_at)
    with pytest.raises(SweepError, match=r"parts of a different config.*max_steps.*--fresh"):
        execute(SMALL, RunOptions(out=tmp_path, jobs=1), overrides=["max_steps=200"])


def test_a_corrupt_manifest_with_parts_is_named(tmp_path, interrupt_sweep_at, capsys):
    parts = interrupted(tmp_path, interrupt_sweep_at)
    (parts / MANIFEST).write_text('{"fingerprint": "abc", "runs": ')
    cfg = tmp_path / "small.toml"
    cfg.write_text(
        'name = "small"\n[train]\nmax_steps = 300\n[sweep]\nseed = { start = 0, count = 40 }\n'
        "lr = [0.01, 0.1, 0.5, 1.0]\nhidden = [1, 2]\n"
    )
    capsys.readouterr()
    assert main(["run", str(cfg), "--out", str(tmp_path), "--chunk-size", str(K)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{parts / MANIFEST} is not valid JSON" in err and "--fresh" in err
    assert "different config" not in err
    assert main(["run", str(cfg), "--out", str(tmp_path), "--fresh", "--quiet"]) == 0


def test_a_corrupt_results_json_is_named(tmp_path, clean):
    res = execute(SMALL, RunOptions(out=tmp_path, jobs=1))
    res.json_path.write_text('{"fingerprint": ')
    with pytest.raises(SweepError) as info:
        execute(SMALL, RunOptions(out=tmp_path, jobs=1))
    msg = str(info.value)
    assert f"{res.json_path} is not valid JSON" in msg and "--fresh" in msg
    assert "different config" not in msg
    res.json_path.write_text("[1, 2]")  # valid JSON, not an object
    with pytest.raises(SweepError, match=r"not valid JSON for bpsweep.*--fresh"):
        execute(SMALL, RunOptions(out=tmp_path, jobs=1))
    assert (
        execute(SMALL, RunOptions(out=tmp_path, jobs=1, fresh=True)).csv_path.read_bytes() == clean
    )


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[:1000],  # truncate -s 1000
        lambda b: b[:-1] + b"7",  # a digit at the end, same size
        lambda b: b + b"0,extra\n",
    ],
)
def test_a_changed_results_csv_is_not_already_complete(tmp_path, clean, damage):
    res = execute(SMALL, RunOptions(out=tmp_path, jobs=1))
    meta = json.loads(res.json_path.read_text())
    assert meta["results_size"] == len(clean)
    import hashlib

    assert meta["results_sha256"] == hashlib.sha256(clean).hexdigest()
    assert execute(SMALL, RunOptions(out=tmp_path, jobs=1)).already_complete
    res.csv_path.write_bytes(damage(clean))
    with pytest.raises(SweepError, match=r"small\.csv has changed since it was written.*--fresh"):
        execute(SMALL, RunOptions(out=tmp_path, jobs=1))
    assert res.csv_path.read_bytes() == damage(clean)  # left as it is
    again = execute(SMALL, RunOptions(out=tmp_path, jobs=1, fresh=True))
    assert not again.already_complete and again.csv_path.read_bytes() == clean


def test_stopped_after_the_csv_before_the_json_assembles_again(tmp_path, clean, monkeypatch):
    """The JSON write fails (full disk) after the CSV is in place: the parts are kept, and the
    next run assembles again without computing."""
    from bpsweep import atomic
    from bpsweep.sweeps import runner as sweep

    real = atomic.write_text_atomic

    def no_room(path, text, hint=""):
        if str(path).endswith("small.json"):
            raise atomic.output_error(path, OSError(28, "No space left on device"), hint)
        return real(path, text, hint)

    monkeypatch.setattr(sweep, "write_text_atomic", no_room)
    with pytest.raises(Exception, match=r"cannot write .*small\.json: no space left on device"):
        execute(SMALL, RunOptions(out=tmp_path, jobs=1, chunk_size=K))
    assert (tmp_path / "small.parts").is_dir()
    monkeypatch.setattr(sweep, "write_text_atomic", real)
    res = execute(SMALL, RunOptions(out=tmp_path, jobs=1, chunk_size=K))
    assert res.computed == 0 and not res.already_complete
    assert res.csv_path.read_bytes() == clean


def test_the_lock_keeps_a_second_run_out(tmp_path, capsys):
    """While the lock is held (here by this process, as by another run), a run of the same
    sweep into the same folder stops in one line naming the holder, and writes nothing; the
    same sweep into another folder, and another sweep into this one, are not held up."""
    cfg = tmp_path / "small.toml"
    cfg.write_text('name = "small"\n[train]\nmax_steps = 30\n[sweep]\nlr = [0.1, 0.2]\n')
    out = tmp_path / "out"
    out.mkdir()
    with SweepLock(out, "small"):
        before = sorted(out.iterdir())
        assert main(["run", str(cfg), "--out", str(out), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert "another bpsweep run (pid " in err and "is running sweep 'small'" in err
        assert sorted(out.iterdir()) == before  # only the lock file
        with pytest.raises(SweepError, match="another bpsweep run"):
            execute(cfg, RunOptions(out=out, fresh=True))
        assert main(["run", str(cfg), "--out", str(tmp_path / "b"), "--quiet"]) == 0
        assert main(["run", str(cfg), "--out", str(out), "--quiet", "--set", "name=s2"]) == 0
    capsys.readouterr()
    assert main(["run", str(cfg), "--out", str(out), "--quiet"]) == 0
    assert not (out / ".small.lock").exists()  # removed at the end of the run


def test_a_stale_lock_file_never_blocks(tmp_path):
    """A lock file left by a run killed with SIGKILL: the OS released its flock."""
    (tmp_path / ".small.lock").write_text("999999\n")
    res = execute(SMALL, RunOptions(out=tmp_path, jobs=1))
    assert res.computed == N


@pytest.mark.parametrize(("every", "saves"), [(1e9, 2), (0.0, 1 + N // 4)])
def test_the_manifest_is_saved_at_most_once_a_second_while_parts_come(
    tmp_path, clean, monkeypatch, every, saves
):
    """With tiny chunks (80 of 4 runs) the manifest is not rewritten for every part: once when
    opened, then at most every SAVE_EVERY seconds, then once after the last part (with
    SAVE_EVERY 0: after every part, 1 + 80). The CSV is the same."""
    from bpsweep.sweeps import parts as parts_module

    count = []
    real = parts_module.Manifest.save

    def counting(self):
        count.append(len(self.parts))
        real(self)

    monkeypatch.setattr(parts_module, "SAVE_EVERY", every)
    monkeypatch.setattr(parts_module.Manifest, "save", counting)
    res = execute(SMALL, RunOptions(out=tmp_path, jobs=1, chunk_size=4))
    assert len(count) == saves and count[0] == 0 and count[-1] == N // 4
    assert res.csv_path.read_bytes() == clean
