"""``--backend dask``: a real dask.distributed cluster on loopback (a scheduler and two
single-threaded worker processes, with nannies) against loky; a worker killed mid-sweep;
resume across backends; the missing-dask and bad-address errors.

Every comparison here is byte for byte: a run's row depends only on the run (the same compiled
kernel on the same machine, whichever process trains it), so the CSV must not depend on the
backend, the chunking or a worker's death.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bpsweep.commands import main
from bpsweep.sweeps import cluster
from bpsweep.sweeps.options import RunOptions
from bpsweep.sweeps.runner import SweepError, execute

distributed = pytest.importorskip(
    "distributed", reason="dask is not installed (pip install -e '.[test]' installs it)"
)

ROOT = Path(__file__).resolve().parents[1]

# 400 runs of mixed outcomes (converged, max_steps, diverged) over two hidden sizes, so the CSV
# has empty cells too.
SMALL = {
    "name": "small",
    "train": {"max_steps": 300},
    "sweep": {"seed": {"start": 0, "count": 50}, "lr": [0.01, 0.1, 0.5, 1.0], "hidden": [1, 2]},
}
# Slow chunks for the kill test: every run takes all its 20,000 steps (about 0.25 s a chunk
# of 20 on one core), 20 chunks, so a kill after the first part lands mid-sweep.
SLOW = {
    "name": "slow",
    "train": {"lr": 0.001, "tol": 1e-9, "max_steps": 20000},
    "sweep": {"seed": {"start": 0, "count": 400}},
}


@pytest.fixture(scope="module")
def dask_cluster():
    """Scheduler and two worker processes (one thread each) on 127.0.0.1."""
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=40,
    ) as lc:
        yield lc


@pytest.fixture(scope="module")
def loky_small(tmp_path_factory):
    out = tmp_path_factory.mktemp("loky")
    return execute(SMALL, RunOptions(out=out, jobs=2, chunk_size=60)).csv_path.read_bytes()


def test_scheduler_address_gives_the_loky_csv(dask_cluster, loky_small, tmp_path):
    res = execute(
        SMALL,
        RunOptions(
            out=tmp_path, backend="dask", scheduler=dask_cluster.scheduler_address, chunk_size=45
        ),
    )
    assert res.csv_path.read_bytes() == loky_small
    assert res.metadata["backend"] == "dask"
    assert res.metadata["scheduler"] == dask_cluster.scheduler_address
    assert res.metadata["workers"] == 2  # the cluster's worker threads
    assert not (tmp_path / "small.parts").exists()


def test_resume_from_in_process_parts_on_the_cluster(
    dask_cluster, loky_small, tmp_path, interrupt_sweep_at
):
    """Parts from an interrupted in-process sweep are resumed by the cluster."""
    with interrupt_sweep_at(240), pytest.raises(KeyboardInterrupt):
        execute(SMALL, RunOptions(out=tmp_path, jobs=1, chunk_size=80))
    assert len(list((tmp_path / "small.parts").glob("runs-*.csv"))) == 3
    res = execute(
        SMALL,
        RunOptions(
            out=tmp_path, backend="dask", scheduler=dask_cluster.scheduler_address, chunk_size=50
        ),
    )
    assert res.computed == 400 - 240
    assert res.csv_path.read_bytes() == loky_small


def test_cli_local_cluster_via_python_m(loky_small, tmp_path):
    """`python -m bpsweep run --backend dask` without an address starts (spawned worker
    processes need the __main__ guard) and closes its own cluster (of one worker here, to
    keep the test short; two workers are compared above)."""
    cfg = tmp_path / "small.toml"
    cfg.write_text(
        'name = "small"\n[train]\nmax_steps = 300\n[sweep]\n'
        "seed = { start = 0, count = 50 }\nlr = [0.01, 0.1, 0.5, 1.0]\n"
        "hidden = [1, 2]\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bpsweep",
            "run",
            str(cfg),
            "--backend",
            "dask",
            "--jobs",
            "1",
            "--chunk-size",
            "70",
            "--quiet",
            "--out",
            str(tmp_path / "out"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "400 runs (400 computed)" in proc.stdout
    assert (tmp_path / "out" / "small.csv").read_bytes() == loky_small


def test_killed_worker_mid_sweep_finishes_or_resumes_to_the_same_csv(dask_cluster, tmp_path):
    client = distributed.Client(dask_cluster, set_as_default=False)
    try:
        pids = client.run(os.getpid)
    finally:
        client.close()
    assert len(pids) == 2
    victim = sorted(pids.values())[0]
    parts = tmp_path / "out" / "slow.parts"
    killed = threading.Event()

    def kill_after_first_part():
        t0 = time.monotonic()
        while time.monotonic() - t0 < 60:
            if parts.is_dir() and any(p.name.startswith("runs-") for p in parts.iterdir()):
                os.kill(victim, signal.SIGKILL)
                killed.set()
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_after_first_part, daemon=True)
    killer.start()
    error = None
    try:
        res = execute(
            SLOW,
            RunOptions(
                out=tmp_path / "out",
                backend="dask",
                scheduler=dask_cluster.scheduler_address,
                chunk_size=20,
            ),
        )
    except SweepError as exc:  # allowed: a clear error, then a rerun resumes
        error = str(exc)
    if error is not None:
        assert "again to resume" in error
        res = execute(
            SLOW,
            RunOptions(
                out=tmp_path / "out",
                backend="dask",
                scheduler=dask_cluster.scheduler_address,
                chunk_size=20,
            ),
        )
        assert res.computed < 400
    killer.join()
    assert killed.is_set(), "the sweep ended before any part appeared"
    assert res.n_runs == 400
    with pytest.raises(ProcessLookupError):
        os.kill(victim, 0)  # (the nanny started a new worker process in its place)
    clean = execute(SLOW, RunOptions(out=tmp_path / "clean", jobs=1))
    assert res.csv_path.read_bytes() == clean.csv_path.read_bytes()


def test_missing_dask_says_how_to_install(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(cluster.DaskUnavailableError, match=r"pip install 'bpsweep\[dask\]'"):
        execute(SMALL, RunOptions(out=tmp_path / "api", backend="dask"))
    cfg = tmp_path / "tiny.toml"
    cfg.write_text('name = "tiny"\n')
    assert main(["run", str(cfg), "--backend", "dask", "--out", str(tmp_path / "cli")]) == 2
    err = capsys.readouterr().err
    assert err == f"bpsweep run: error: {cluster.INSTALL_HINT}\n"
    assert not (tmp_path / "api").exists() and not (tmp_path / "cli").exists()


def test_scheduler_needs_backend_dask(tmp_path):
    with pytest.raises(ValueError, match="needs backend 'dask'"):
        execute(SMALL, RunOptions(out=tmp_path, scheduler="tcp://127.0.0.1:8786"))
    assert not tmp_path.joinpath("small.parts").exists()


def test_unreachable_scheduler_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", 1)
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(
        SweepError,
        match=rf"cannot reach the dask scheduler at "
        rf"tcp://127.0.0.1:{port}",
    ):
        execute(
            SMALL, RunOptions(out=tmp_path, backend="dask", scheduler=f"tcp://127.0.0.1:{port}")
        )


def test_a_dask_map_is_the_local_map(dask_cluster, tmp_path, capsys):
    """`bpsweep map --backend dask`: the tiles trained on the workers, returned and stored by
    the client, give the very Parquet and PNG of a map trained here."""
    cfg = tmp_path / "m.toml"
    cfg.write_text((ROOT / "experiments" / "map-lr-hidden-output.toml").read_text() + "\n")
    common = ["--resolution", "300x100", "--set", "max_steps=100", "--quiet"]
    assert main(["map", str(cfg), "--out", str(tmp_path / "local"), *common]) == 0
    address = dask_cluster.scheduler_address
    argv = ["map", str(cfg), "--out", str(tmp_path / "dask"), "--backend", "dask"]
    assert main([*argv, "--scheduler", address, *common]) == 0
    name = "map-lr-hidden-output-300x100"
    for suffix in (".parquet", ".png"):
        local = (tmp_path / "local" / f"{name}{suffix}").read_bytes()
        assert (tmp_path / "dask" / f"{name}{suffix}").read_bytes() == local
    meta = json.loads((tmp_path / "dask" / f"{name}.json").read_text())
    assert meta["backend"] == "dask" and meta["tiles"]["trained"] == 2
