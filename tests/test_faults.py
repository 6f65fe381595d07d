"""Faults and hostile inputs against the real command line: kill -9 at 20 seeded random
moments with a resume after each (the CSV is the one an undisturbed sweep writes, and the
manifest never claims a part that is not on disk, whole); no worker process outlives a
killed sweep (loky and a local dask cluster; loky also when killed while its workers start);
and a table of bad inputs, each one line on stderr naming the path, option or file, exit
status 2, no traceback, nothing written outside --out."""

import contextlib
import errno
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bpsweep import atomic
from bpsweep.commands import main
from bpsweep.sweeps import runner as sweep
from bpsweep.sweeps.options import RunOptions
from bpsweep.sweeps.outdir import SweepLock
from bpsweep.sweeps.parts import MANIFEST
from bpsweep.sweeps.runner import execute

psutil = pytest.importorskip("psutil", reason="psutil comes with distributed (the dask extra)")

ROOT = Path(__file__).resolve().parents[1]

# 4,000 runs that each take all their 2,000 steps, in 100 chunks of 40 (about 10 ms each on one
# core): long enough for 20 kills to land mid-sweep, short enough for the test to stay quick.
FAULT = """
name = "fault"
[train]
lr = 0.01
tol = 1e-9
max_steps = 2000
[sweep]
seed = { start = 0, count = 4000 }
"""
# Slow chunks for the parent-death tests: every run takes all its 20,000 steps.
SLOW = """
name = "slow"
[train]
lr = 0.001
tol = 1e-9
max_steps = 20000
[sweep]
seed = { start = 0, count = 4000 }
"""


def _spawn(args, cwd) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen(
        [sys.executable, "-m", "bpsweep", "run", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _n_parts(parts: Path) -> int:
    try:
        return sum(1 for p in parts.iterdir() if p.name.startswith("runs-"))
    except OSError:
        return 0


def _check_manifest(parts: Path) -> int:
    """Every part the manifest lists is on disk, whole (its size and SHA-256); returns how
    many it lists."""
    if not (parts / MANIFEST).exists():
        return 0
    manifest = json.loads((parts / MANIFEST).read_text())  # never torn: written atomically
    for name, entry in manifest["parts"].items():
        data = (parts / name).read_bytes()
        assert len(data) == entry["size"] and hashlib.sha256(data).hexdigest() == entry["sha256"]
    return len(manifest["parts"])


# A fork server: a Python process that has imported bpsweep once, then forks one child per
# command, each running ``bpsweep <argv>`` (its own session, stdout and stderr to a file) and
# ending with its exit status. The children are real processes, killed with SIGKILL; forking
# spares each the 2 to 4 s of imports a fresh interpreter pays on a busy machine. The server
# itself never trains (no numba thread pool exists at the fork).
ZYGOTE = r"""
import json, os, sys
from bpsweep.commands import main
import bpsweep.sweeps.runner, bpsweep.engine.kernels, bpsweep.engine.batch, joblib
for line in sys.stdin:
    cmd = json.loads(line)
    if cmd[0] == "run":
        pid = os.fork()
        if pid == 0:
            os.setsid()
            fd = os.open(cmd[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fd, 1); os.dup2(fd, 2)
            code = 1
            try:
                code = main(cmd[1])
            finally:
                sys.stdout.flush(); sys.stderr.flush()
                os._exit(code)
        print(pid, flush=True)
    else:
        _, status = os.waitpid(cmd[1], 0)
        print(os.waitstatus_to_exitcode(status), flush=True)
"""


class ForkServer:
    def __init__(self, cwd):
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", ZYGOTE],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def _ask(self, cmd) -> int:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def run(self, argv, log: Path) -> int:
        """Start ``bpsweep argv`` in a forked child; returns its pid (= its process group)."""
        return self._ask(["run", argv, str(log)])

    def wait(self, pid: int) -> int:
        """The child's exit code (negative: the signal that ended it)."""
        return self._ask(["wait", pid])

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self.proc.stdout.close()


def test_kill_9_at_12_random_moments_then_resume_gives_the_same_csv(tmp_path):
    cfg = tmp_path / "fault.toml"
    cfg.write_text(FAULT)
    clean = execute(cfg, RunOptions(out=tmp_path / "clean", jobs=1)).csv_path.read_bytes()
    out = tmp_path / "out"
    parts = out / "fault.parts"
    rng = random.Random(20261123)
    server = ForkServer(tmp_path)
    log = tmp_path / "log.txt"
    try:
        for i in range(12):
            jobs = "2" if i % 6 == 2 else "1"  # 2 of the 12 with two worker processes
            argv = ["run", str(cfg), "--out", str(out), "--jobs", jobs, "--chunk-size", "40"]
            pid = server.run(argv, log)
            if rng.random() < 0.3:  # anywhere: starting up, opening the parts, training
                time.sleep(rng.uniform(0.0, 1.0))
            else:  # once 1 to 3 more parts are there, within the next 30 ms
                target = _n_parts(parts) + rng.randint(1, 3)
                t0 = time.monotonic()
                while _n_parts(parts) < target and time.monotonic() - t0 < 60:
                    time.sleep(0.002)
                time.sleep(rng.uniform(0.0, 0.03))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            code = server.wait(pid)
            text = log.read_text()
            assert code in (0, -signal.SIGKILL), text
            assert "Traceback" not in text, text
            _check_manifest(parts)
            if code == 0:
                break  # finished before the kill: nothing left to interrupt
        assert i >= 9, f"the sweep finished after only {i + 1} kills; make FAULT longer"
        assert server.wait(server.run(["run", str(cfg), "--out", str(out)], log)) == 0, log
    finally:
        server.close()
    assert (out / "fault.csv").read_bytes() == clean
    assert not parts.exists()
    assert sorted(p.name for p in out.iterdir()) == ["fault.csv", "fault.json"]  # no .tmp-*


def _descendants(pid: int) -> list:
    return psutil.Process(pid).children(recursive=True)


def _alive(procs) -> list:
    alive = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
        except psutil.NoSuchProcess:
            pass
    return alive


@pytest.mark.parametrize(
    "backend_args",
    [["--jobs", "2"], ["--backend", "dask", "--jobs", "2"]],
    ids=["loky", "dask-local-cluster"],
)
def test_no_worker_outlives_a_killed_sweep(tmp_path, backend_args):
    cfg = tmp_path / "slow.toml"
    cfg.write_text(SLOW)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    argv = ["run", str(cfg), "--out", str(out), "--chunk-size", "20", *backend_args]
    with open(tmp_path / "log.txt", "wb") as log:  # not a pipe: a surviving worker holds it
        proc = subprocess.Popen(
            [sys.executable, "-m", "bpsweep", *argv],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    kids = []
    try:
        t0 = time.monotonic()
        while _n_parts(out / "slow.parts") == 0:
            assert proc.poll() is None, (tmp_path / "log.txt").read_text()
            assert time.monotonic() - t0 < 90, "no part appeared"
            time.sleep(0.05)
        kids = _descendants(proc.pid)
        assert len(kids) >= 2, kids  # the workers (and resource trackers)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        t1 = time.monotonic()
        while _alive(kids) and time.monotonic() - t1 < 5:
            time.sleep(0.1)
        left = _alive(kids)
        assert not left, [(p.pid, " ".join(p.cmdline())[:120]) for p in left]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for p in _alive(kids):  # only when the test fails: leave nothing behind
            p.kill()


def _group(pgid: int) -> list:
    """The processes of process group ``pgid`` that are alive (not zombies)."""
    found = []
    for p in psutil.process_iter(["status"]):
        with contextlib.suppress(OSError, psutil.Error):
            if os.getpgid(p.pid) == pgid and p.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(p)
    return found


def _loky_workers(pid: int) -> list:
    with contextlib.suppress(psutil.Error):
        kids = psutil.Process(pid).children()
        return [p for p in kids if "LokyProcess" in " ".join(p.cmdline())]
    return []


@pytest.mark.slow
def test_no_process_outlives_a_sweep_killed_while_its_workers_start(tmp_path):
    """kill -9 of the sweep's process alone (not its group) during start-up: 0.2 s after the
    start, and 0 to 1 s after its two loky workers appear, while they import and before they
    train. Workers whose parent is already gone when they come up exit, and with them loky's
    and multiprocessing's resource trackers: nothing of the process group is left."""
    cfg = tmp_path / "slow.toml"
    cfg.write_text(SLOW)
    server = ForkServer(tmp_path)
    log = tmp_path / "log.txt"
    try:
        for when in ("0.2 s after the start", 0.0, 0.5, 1.0):
            out = tmp_path / f"out-{when}"
            argv = ["run", str(cfg), "--out", str(out), "--jobs", "2", "--chunk-size", "20"]
            pid = server.run(argv, log)
            t0 = time.monotonic()
            if isinstance(when, str):
                time.sleep(0.2)
            else:
                while len(_loky_workers(pid)) < 2:
                    assert time.monotonic() - t0 < 60, ("no workers", log.read_text())
                    time.sleep(0.01)
                time.sleep(when)
            started = len(_group(pid))
            os.kill(pid, signal.SIGKILL)
            assert server.wait(pid) == -signal.SIGKILL, log.read_text()
            t1 = time.monotonic()
            while _group(pid) and time.monotonic() - t1 < 20:
                time.sleep(0.1)
            left = []
            for p in _group(pid):  # only when the test fails: name them, leave nothing behind
                with contextlib.suppress(psutil.Error):
                    left.append(" ".join(p.cmdline())[-80:])
                    p.kill()
            assert not left, (when, started, left)
    finally:
        server.close()


# ---------------------------------------------------------------------------------------------
# bad inputs: a table


TINY = 'name = "tiny"\n[train]\nmax_steps = 30\n[sweep]\nlr = [0.1, 0.2]\n'


@pytest.fixture
def readonly_dir(tmp_path):
    """An empty folder nobody may write in: a read-only tmpfs as root, else chmod 0555."""
    path = tmp_path / "ro"
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
        yield path
        path.chmod(0o755)
        return
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(path)])
    if r.returncode != 0:
        pytest.skip("root, but cannot mount a read-only tmpfs")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)])


class _Full:
    """A file whose writes fail as on a full disk."""

    def __init__(self, fh):
        self.fh = fh

    def write(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name):
        return getattr(self.fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.fh.close()


def _disk_full_for(monkeypatch, suffix):
    """Writes of files ending in ``suffix`` (through the write-then-rename helper) fail with
    ENOSPC; the others go through."""

    def fake_open(path, mode="r", *args, **kwargs):
        fh = open(path, mode, *args, **kwargs)  # noqa: SIM115 - handed to the caller
        return _Full(fh) if "w" in mode and str(path).endswith(suffix) else fh

    monkeypatch.setattr(atomic, "open", fake_open, raising=False)


def _case_readonly_out(ctx):
    return ["run", ctx["cfg"], "--out", str(ctx["ro"] / "results")], "ro/results"


def _case_out_is_a_file(ctx):
    f = ctx["tmp"] / "cwd" / "afile"
    f.write_text("mine\n")
    return ["run", ctx["cfg"], "--out", str(f)], "afile: it is a file, not a folder"


def _case_out_under_a_file(ctx):
    f = ctx["tmp"] / "cwd" / "afile"
    f.write_text("mine\n")
    return ["run", ctx["cfg"], "--out", str(f / "sub")], "afile/sub"


def _case_name_too_long(ctx):
    name = "n" * 300
    return (
        ["run", ctx["cfg"], "--out", ctx["out"], "--set", f"name={name}"],
        "file name too long",
    )


def _case_disk_full_in_a_part(ctx):
    _disk_full_for(ctx["monkeypatch"], ".csv")  # parts and the CSV
    return (
        ["run", ctx["cfg"], "--out", ctx["out"], "--jobs", "1"],
        "tiny.parts/runs-000000000000-000000000002.csv: no space left on device",
    )


def _case_disk_full_in_the_csv(ctx):
    _disk_full_for(ctx["monkeypatch"], "tiny.csv")
    return (["run", ctx["cfg"], "--out", ctx["out"]], "tiny.csv: no space left on device")


def _case_disk_full_in_the_manifest(ctx):
    _disk_full_for(ctx["monkeypatch"], "manifest.json")
    return (["run", ctx["cfg"], "--out", ctx["out"]], "manifest.json: no space left on device")


def _case_jobs_0(ctx):
    return ["run", ctx["cfg"], "--out", ctx["out"], "--jobs", "0"], "--jobs"


def _case_chunk_size_negative(ctx):
    return ["run", ctx["cfg"], "--out", ctx["out"], "--chunk-size", "-1"], "--chunk-size"


def _case_scheduler_without_dask(ctx):
    return (
        ["run", ctx["cfg"], "--out", ctx["out"], "--scheduler", "tcp://127.0.0.1:1"],
        "--scheduler tcp://127.0.0.1:1 needs --backend dask",
    )


def _case_cuda_without_gpu(ctx):
    from bpsweep.engine import cuda

    try:
        cuda.require_cuda()
    except Exception:  # noqa: BLE001 - no GPU (or no numba-cuda): the case applies
        return ["run", ctx["cfg"], "--out", ctx["out"], "--device", "cuda"], "cuda"
    pytest.skip("a CUDA device (or the simulator) is available")


def _case_cuda_dry_run_without_gpu(ctx):
    args, text = _case_cuda_without_gpu(ctx)
    return [*args, "--dry-run"], text


def _case_corrupt_results_json(ctx):
    out = Path(ctx["out"])
    out.mkdir()
    (out / "tiny.csv").write_text("run_id\n")
    (out / "tiny.json").write_text("{oops")
    return ["run", ctx["cfg"], "--out", ctx["out"]], "tiny.json is not valid JSON"


def _case_lock_held(ctx):
    out = Path(ctx["out"])
    out.mkdir()
    ctx["lock"] = SweepLock(out, "tiny").acquire()
    return ["run", ctx["cfg"], "--out", ctx["out"]], f"another bpsweep run (pid {os.getpid()})"


def _case_trace_csv_readonly(ctx):
    return (
        ["train", "--trace-csv", str(ctx["ro"] / "t.csv")],
        "ro/t.csv: cannot write there, ",  # checked before the training
    )


def _case_trace_csv_is_a_folder(ctx):
    return (["train", "--trace-csv", str(ctx["tmp"] / "cwd")], "cwd: cannot write there, a folder")


def _case_out_is_a_broken_link(ctx):
    link = ctx["tmp"] / "cwd" / "link"
    link.symlink_to(ctx["tmp"] / "nowhere")
    return ["run", ctx["cfg"], "--out", str(link)], "nowhere, which does not exist"


def _case_out_empty(ctx):
    return ["run", ctx["cfg"], "--out", ""], "--out must name a folder"


def _case_parts_folder_is_a_file(ctx):
    out = Path(ctx["out"])
    out.mkdir()
    (out / "tiny.parts").write_text("mine\n")
    return ["run", ctx["cfg"], "--out", ctx["out"]], "tiny.parts: a file is in the way"


def _case_results_csv_is_a_folder(ctx):
    out = Path(ctx["out"])
    (out / "tiny.csv").mkdir(parents=True)
    return ["run", ctx["cfg"], "--out", ctx["out"], "--fresh"], "tiny.csv: it is a folder"


def _case_json_of_something_else(ctx):
    out = Path(ctx["out"])
    out.mkdir()
    (out / "tiny.csv").write_text("run_id\n")
    (out / "tiny.json").write_text("{}")
    return ["run", ctx["cfg"], "--out", ctx["out"]], "tiny.json is not the JSON of a bpsweep"


def _case_jobs_huge(ctx):
    return (
        ["run", ctx["cfg"], "--out", ctx["out"], "--jobs", "100000", "--chunk-size", "1"],
        "--jobs 100000 would start 100,000 worker processes",
    )


BAD_INPUTS = {
    "--jobs 100000": _case_jobs_huge,
    "--out is a link to nowhere": _case_out_is_a_broken_link,
    "--out empty": _case_out_empty,
    "<name>.parts is a file": _case_parts_folder_is_a_file,
    "<name>.csv is a folder (--fresh)": _case_results_csv_is_a_folder,
    "<name>.json of something else": _case_json_of_something_else,
    "--out on a read-only file system": _case_readonly_out,
    "--out names an existing file": _case_out_is_a_file,
    "--out under an existing file": _case_out_under_a_file,
    "name of 300 characters": _case_name_too_long,
    "disk full during a part": _case_disk_full_in_a_part,
    "disk full during the CSV assembly": _case_disk_full_in_the_csv,
    "disk full during the manifest": _case_disk_full_in_the_manifest,
    "--jobs 0": _case_jobs_0,
    "--chunk-size -1": _case_chunk_size_negative,
    "--scheduler without --backend dask": _case_scheduler_without_dask,
    "--device cuda without a GPU": _case_cuda_without_gpu,
    "--device cuda --dry-run without a GPU": _case_cuda_dry_run_without_gpu,
    "corrupt <name>.json": _case_corrupt_results_json,
    "lock held by another run": _case_lock_held,
    "train --trace-csv into a read-only place": _case_trace_csv_readonly,
    "train --trace-csv naming a folder": _case_trace_csv_is_a_folder,
}


def _tree(path: Path, skip: Path) -> dict:
    found = {}
    for p in sorted(path.rglob("*")):
        if p == skip or skip in p.parents:
            continue
        found[str(p.relative_to(path))] = p.read_bytes() if p.is_file() else None
    return found


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_inputs_are_one_line_errors(case, tmp_path, readonly_dir, monkeypatch, capsys):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    cfg = cwd / "tiny.toml"
    cfg.write_text(TINY)
    monkeypatch.chdir(cwd)
    out = cwd / "out"
    ctx = {
        "tmp": tmp_path,
        "cfg": str(cfg),
        "out": str(out),
        "ro": readonly_dir,
        "monkeypatch": monkeypatch,
    }
    args, expected = BAD_INPUTS[case](ctx)
    before = _tree(tmp_path, out)
    try:
        code = main(args)
    finally:
        if "lock" in ctx:
            ctx["lock"].release()
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith(f"bpsweep {args[0]}: error: "), err
    assert "Traceback" not in err
    assert expected in err, err
    assert _tree(tmp_path, out) == before  # nothing written outside --out
    if case.startswith("disk full"):
        assert not list(out.rglob(".tmp-*"))  # no temporary file left
    if case == "name of 300 characters":
        assert not out.exists()  # no empty folder left behind


def test_backend_bogus_is_refused_by_argparse(capsys, tmp_path):
    with pytest.raises(SystemExit) as info:
        main(["run", "x.toml", "--backend", "bogus", "--out", str(tmp_path / "o")])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'bogus'" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_disk_full_keeps_the_parts_and_the_same_command_resumes(tmp_path, monkeypatch, capsys):
    """A full disk at the fourth part: the first three parts are kept and listed, and once
    there is room the same command finishes with the undisturbed CSV."""
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY.replace("lr = [0.1, 0.2]", "seed = { start = 0, count = 10 }"))
    clean = execute(cfg, RunOptions(out=tmp_path / "clean", jobs=1)).csv_path.read_bytes()
    writes = []

    def fake_open(path, mode="r", *args, **kwargs):
        fh = open(path, mode, *args, **kwargs)  # noqa: SIM115 - handed to the caller
        if "w" in mode and "runs-" in str(path):
            writes.append(path)
            if len(writes) >= 4:
                return _Full(fh)
        return fh

    monkeypatch.setattr(atomic, "open", fake_open, raising=False)
    out = tmp_path / "out"
    argv = ["run", str(cfg), "--out", str(out), "--jobs", "1", "--chunk-size", "2"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "runs-000000000006-000000000008.csv: no space left on device" in err
    assert "finished parts are kept" in err
    assert _check_manifest(out / "tiny.parts") == 3
    monkeypatch.undo()
    assert main([*argv, "--quiet"]) == 0
    assert (out / "tiny.csv").read_bytes() == clean


@pytest.mark.skipif(os.geteuid() != 0, reason="mounts a small tmpfs (root only)")
def test_a_real_full_disk_during_the_assembly(tmp_path, capsys, monkeypatch):
    """On a real 1.7 MB tmpfs the sweep (about 2.6 MB estimated) is refused before anything is
    written. If the disk fills anyway (another writer, after the check: simulated by skipping the
    check), the 1.1 MB of parts fit but the CSV beside them does not: one line, the parts kept;
    after the file system grows, the same command assembles the CSV."""
    cfg = tmp_path / "fault.toml"
    cfg.write_text(FAULT.replace("count = 4000", "count = 3000"))
    clean = execute(cfg, RunOptions(out=tmp_path / "clean", jobs=1)).csv_path.read_bytes()
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1700k", "tmpfs", str(mnt)]).returncode:
        pytest.skip("cannot mount a tmpfs")
    try:
        argv = ["run", str(cfg), "--out", str(mnt), "--jobs", "1", "--chunk-size", "500"]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert f"need about 2.6 MB on disk under {mnt}" in err and "1.7 MB is free" in err
        assert not (mnt / "fault.parts").exists()
        monkeypatch.setattr(sweep, "check_fits", lambda *args: None)
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert f"cannot write {mnt}/fault.csv: no space left on device" in err
        assert _check_manifest(mnt / "fault.parts") == 6
        assert not list(mnt.glob(".tmp-*"))
        subprocess.run(["mount", "-o", "remount,size=4m", str(mnt)], check=True)
        monkeypatch.undo()
        assert main([*argv, "--quiet"]) == 0
        assert (mnt / "fault.csv").read_bytes() == clean
    finally:
        subprocess.run(["umount", str(mnt)])


def test_a_second_real_run_of_the_same_sweep_is_refused_and_a_killed_one_never_blocks(tmp_path):
    cfg = tmp_path / "slow.toml"
    cfg.write_text(SLOW)
    out = tmp_path / "out"
    argv = [str(cfg), "--out", str(out), "--jobs", "1", "--chunk-size", "20", "--quiet"]
    first = _spawn(argv, tmp_path)
    try:
        t0 = time.monotonic()
        while _n_parts(out / "slow.parts") == 0:
            assert first.poll() is None, first.communicate()[1].decode()
            assert time.monotonic() - t0 < 90, "no part appeared"
            time.sleep(0.05)
        second = _spawn(argv, tmp_path)
        _, err = second.communicate(timeout=120)
        assert second.returncode == 2, err.decode()
        err = err.decode()
        assert err.count("\n") == 1 and "Traceback" not in err
        assert f"another bpsweep run (pid {first.pid}) is running sweep 'slow' into {out}" in err
        assert first.poll() is None  # the first goes on
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.communicate()
    assert (out / ".slow.lock").exists()  # left by the killed run, but not locked:
    SweepLock(out, "slow").acquire().release()
