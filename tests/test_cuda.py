"""The GPU kernel (bpsweep.engine.cuda) against the CPU kernels, under numba's CUDA simulator.

The simulator runs the kernel as plain Python: the same float64 operations in the same order
as the compiled CPU kernels, with the same libm (exp, log1p, tanh, and pow for adam's
``beta ** t``). So under the simulator the agreement is exact, and asserted bit for
bit. On a real GPU (run with BPSWEEP_TEST_REAL_GPU=1) only the documented guarantee of
docs/gpu.md is checked: same status, steps within 1, final SSR within 1e-9 relative, on
well-conditioned runs (small lr: every case here uses lr <= 0.05, except the divergence case,
where only the status is compared).

numba reads NUMBA_ENABLE_CUDASIM into numba.core.config when numba is imported and again on
every compile; numba-cuda picks the simulator or the real driver when numba.cuda is first
imported, and cuda.jit checks the setting again for every kernel it creates. Nothing else in
the suite imports numba.cuda (bpsweep imports it lazily), so this module sets the variable at
collection, reloads numba's config, imports numba.cuda, and leaves the variable set for the
rest of the session. It changes nothing for the CPU kernels: numba consults it only for the
CUDA target. (Subprocesses started by this module drop it.)
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from bpsweep.sweeps.options import RunOptions

REAL_GPU = os.environ.get("BPSWEEP_TEST_REAL_GPU") == "1"

pytest.importorskip("numba_cuda", reason="numba-cuda is not installed (pip install -e .[test])")

if not REAL_GPU:
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
    import numba.core.config  # noqa: E402

    numba.core.config.reload_config()  # numba may have been imported by earlier test modules
    import numba.cuda  # noqa: E402,F401  (chooses the simulator now)

from bpsweep.engine import batch, kernels  # noqa: E402
from bpsweep.engine import cuda as bc  # noqa: E402
from bpsweep.engine.starts import PRESETS  # noqa: E402
from bpsweep.model import ACTIVATIONS, OPTIMIZERS, STATUSES, param_names  # noqa: E402

if not REAL_GPU and not bc.simulator_enabled():
    raise RuntimeError(
        "numba.cuda was imported before tests/test_cuda.py could switch on the "
        "CUDA simulator; run this file in its own pytest process"
    )

X = np.array([0.0, 0.5, 1.0])
Y = np.array([0.0, 1.0, 0.0])
DIVERGED = STATUSES.index("diverged")


# ---------------------------------------------------------------- helpers


def make_batch(
    rng,
    n_runs,
    hidden,
    opt,
    acts=(0, 1, 2, 3),
    lrs=(0.01, 0.05),
    max_steps=150,
    tol=1e-3,
    init=None,
    trainable=None,
):
    """make_runs's fields: random normal starts, activations and lrs cycled over runs, one
    rate for both layers."""
    n_p = 3 * hidden + 1
    hyper = np.tile([0.9, 0.0, 0.0] if opt == 1 else [0.9, 0.999, 1e-8], (n_runs, 1))
    lr = np.resize(np.array(lrs, dtype=np.float64), n_runs)
    return {
        "act": np.resize(np.array(acts, dtype=np.int64), n_runs),
        "opt": np.full(n_runs, opt, dtype=np.int64),
        "hyper": hyper,
        "lr_hidden": lr,
        "lr_output": lr,
        "tol": np.full(n_runs, tol),
        "max_steps": np.full(n_runs, max_steps, dtype=np.int64),
        "trainable": (np.ones((n_runs, n_p), bool) if trainable is None else trainable),
        "init": rng.normal(size=(n_runs, n_p)) if init is None else init,
    }


def run(train, hidden, b, **kwargs):
    """Outcomes (final, status, steps, initial_ssr, final_ssr) of one batch trainer on the
    runs of make_runs's fields ``b`` (outputs start at -1: a row not written shows)."""
    runs = kernels.make_runs(**b)
    out = kernels.Outcomes(*(np.full_like(a, -1) for a in kernels.Outcomes.empty(*b["init"].shape)))
    train(X, Y, hidden, runs, out, **kwargs)
    return out


def assert_agree(cpu, gpu):
    """Exact under the simulator; docs/gpu.md's guarantee on a real GPU."""
    final_c, status_c, steps_c, ssr0_c, ssr_c = cpu
    final_g, status_g, steps_g, ssr0_g, ssr_g = gpu
    np.testing.assert_array_equal(status_g, status_c)
    if not REAL_GPU:
        np.testing.assert_array_equal(steps_g, steps_c)
        for c, g in ((final_c, final_g), (ssr0_c, ssr0_g), (ssr_c, ssr_g)):
            assert np.array_equal(c, g, equal_nan=True)
        return
    ok = status_c != DIVERGED
    assert np.all(np.abs(steps_g[ok] - steps_c[ok]) <= 1)
    np.testing.assert_allclose(ssr0_g, ssr0_c, rtol=1e-12)
    np.testing.assert_allclose(ssr_g[ok], ssr_c[ok], rtol=1e-9, atol=1e-300)


# ---------------------------------------------------------------- agreement with the CPU


@pytest.mark.parametrize("opt", ["gd", "momentum", "adam"])
@pytest.mark.parametrize("hidden", [1, 2, 3])
def test_kernel_matches_cpu(hidden, opt):
    rng = np.random.default_rng(100 * hidden + OPTIMIZERS[opt])
    b = make_batch(rng, 16, hidden, OPTIMIZERS[opt])
    cpu = run(kernels.train_batch, hidden, b)
    gpu = run(bc.train_batch_cuda, hidden, b)
    assert set(cpu[1]) & {0, 1}, "every run diverged: the case would test little"
    assert_agree(cpu, gpu)


def test_all_activations_converge_and_stop_alike():
    """Runs that converge (not only max_steps ones), for each activation, with gd."""
    rng = np.random.default_rng(7)
    b = make_batch(rng, 24, 2, 0, lrs=(0.05,), max_steps=2000, tol=1e-2)
    cpu = run(kernels.train_batch, 2, b)
    gpu = run(bc.train_batch_cuda, 2, b)
    for a in ACTIVATIONS.values():
        assert (cpu[1][b["act"] == a] == 0).any(), f"no converged run for activation {a}"
    assert_agree(cpu, gpu)


def test_divergence_statquest_start_lr_half():
    start = np.array([PRESETS["statquest-start"][n] for n in param_names(2)])
    b = make_batch(
        np.random.default_rng(0),
        1,
        2,
        0,
        acts=(0,),
        lrs=(0.5,),
        max_steps=1000,
        init=start[None, :],
    )
    cpu = run(kernels.train_batch, 2, b)
    gpu = run(bc.train_batch_cuda, 2, b)
    assert cpu[1][0] == DIVERGED  # the lesson's start diverges at lr 0.5
    assert_agree(cpu, gpu)


def test_trainable_subsets_keep_frozen_parameters():
    rng = np.random.default_rng(3)
    n_runs, hidden = 12, 2
    trainable = rng.random((n_runs, 3 * hidden + 1)) < 0.5
    trainable[0] = False
    trainable[0, -1] = True  # only b3, as in the lesson
    trainable[1] = [False, False, False, False, True, True, True]  # w3, w4, b3
    trainable[:, 0] |= ~trainable.any(axis=1)  # at least one trainable parameter each
    b = make_batch(rng, n_runs, hidden, 0, trainable=trainable)
    cpu = run(kernels.train_batch, hidden, b)
    gpu = run(bc.train_batch_cuda, hidden, b)
    assert_agree(cpu, gpu)
    np.testing.assert_array_equal(gpu[0][~trainable], b["init"][~trainable])


@pytest.mark.parametrize("opt", ["gd", "momentum", "adam"])
def test_per_layer_rates_match_cpu(opt):
    """lr (hidden layer) and lr_output (output layer) differ per run, as the CPU takes them."""
    rng = np.random.default_rng(40 + OPTIMIZERS[opt])
    b = make_batch(rng, 12, 2, OPTIMIZERS[opt], lrs=(0.01, 0.05, 0.002))
    b_out = {**b, "lr_output": np.resize(np.array([0.04, 0.003, 0.01]), 12)}
    cpu = run(kernels.train_batch, 2, b_out)
    assert_agree(cpu, run(bc.train_batch_cuda, 2, b_out))
    # and the output rate matters: the same batch with one rate for both layers differs
    same = run(kernels.train_batch, 2, b)
    assert not np.array_equal(same[0], cpu[0])


@pytest.mark.parametrize("schedule", ["cosine", "step", "exponential"])
def test_schedules_match_cpu(schedule):
    """Each learning-rate schedule, with every optimizer and both per-layer rates in one
    batch (the host groups runs by schedule too): the CPU's bits under the simulator; and the
    schedule matters (the same runs constant differ)."""
    from bpsweep.model import SCHEDULES

    rng = np.random.default_rng(60 + SCHEDULES[schedule])
    n_runs = 18
    b = make_batch(rng, n_runs, 2, 0, acts=(0, 2), lrs=(0.05, 0.01, 0.03), max_steps=120)
    b["opt"] = np.resize(np.array([0, 1, 2]), n_runs)
    b["hyper"][b["opt"] == 1] = [0.9, 0.0, 0.0]
    b["lr_output"] = np.resize(np.array([0.04, 0.003]), n_runs)
    b["tol"] = np.full(n_runs, 1e-4)
    b["schedule"] = np.full(n_runs, SCHEDULES[schedule])
    b["sched_params"] = {
        "cosine": np.resize(np.array([[60.0, 0.0], [200.0, 0.2], [1.0, 0.5]]), (n_runs, 2)),
        "step": np.resize(np.array([[10.0, 0.5], [3.0, 0.9], [1.0, 1.2]]), (n_runs, 2)),
        "exponential": np.resize(np.array([[0.02, 1.0], [0.3, 1.0], [0.0, 1.0]]), (n_runs, 2)),
    }[schedule]
    cpu = run(kernels.train_batch, 2, b)
    assert set(cpu[1]) & {0, 1}, "every run diverged: the case would test little"
    assert_agree(cpu, run(bc.train_batch_cuda, 2, b))
    assert_agree(cpu, run(bc.train_batch_cuda, 2, b, chunk_runs=5, sort_runs=False))
    constant = run(kernels.train_batch, 2, {**b, "schedule": np.zeros(n_runs, np.int64)})
    assert not np.array_equal(constant[0], cpu[0])


def test_mixed_schedules_in_one_batch_match_cpu():
    """Runs of all four schedules mixed in one batch, launched in small chunks."""
    rng = np.random.default_rng(70)
    n_runs = 16
    b = make_batch(rng, n_runs, 1, 2, acts=(3,), lrs=(0.02, 0.05), max_steps=80)
    b["schedule"] = np.resize(np.array([0, 1, 2, 3]), n_runs)
    b["sched_params"] = np.resize(np.array([[1.0, 1.0], [50.0, 0.1], [20.0, 0.5], [0.01, 1.0]]),
                                  (n_runs, 2))  # fmt: skip
    cpu = run(kernels.train_batch, 1, b)
    assert_agree(cpu, run(bc.train_batch_cuda, 1, b, chunk_runs=6))


def test_order_chunks_and_mixed_groups_do_not_change_outcomes():
    """Mixed activations, optimizers, lrs and max_steps in one batch, launched in small
    chunks, sorted or not: every run's outcome lands in its own row."""
    rng = np.random.default_rng(11)
    n_runs, hidden = 30, 2
    b = make_batch(rng, n_runs, hidden, 0, lrs=(0.05, 0.01, 0.03))
    b["opt"] = rng.integers(0, 3, n_runs)
    b["hyper"][b["opt"] == 1] = [0.9, 0.0, 0.0]
    b["max_steps"] = rng.choice([40, 120], n_runs)
    cpu = run(kernels.train_batch, hidden, b)
    assert_agree(cpu, run(bc.train_batch_cuda, hidden, b, chunk_runs=7))
    assert_agree(cpu, run(bc.train_batch_cuda, hidden, b, chunk_runs=7, sort_runs=False))


def test_train_runs_cuda_matches_train_runs():
    rng = np.random.default_rng(5)
    rows = []
    for k in range(14):
        hidden = 1 + k % 2
        row = {
            "hidden": hidden,
            "activation": list(ACTIVATIONS)[k % 4],
            "optimizer": list(OPTIMIZERS)[k % 3],
            "lr": 0.02,
            "max_steps": 80,
            "trainable": "all" if k % 5 else ("b2" if hidden == 1 else "w3,w4,b3"),
        }
        row.update({f"init_{n}": rng.normal() for n in param_names(hidden)})
        rows.append(row)
    runs = pd.DataFrame(rows, index=rng.permutation(100)[:14])
    expected = batch.train_runs(runs)
    got = bc.train_runs_cuda(runs)
    if REAL_GPU:
        assert list(got["status"]) == list(expected["status"])
        np.testing.assert_allclose(got["final_ssr"], expected["final_ssr"], rtol=1e-9)
    else:
        pd.testing.assert_frame_equal(got, expected)


# ---------------------------------------------------------------- errors and setup


def test_hidden_above_max_is_a_clear_error():
    hidden = bc.MAX_HIDDEN + 1
    b = make_batch(np.random.default_rng(0), 2, hidden, 0)
    with pytest.raises(ValueError, match=f"hidden up to {bc.MAX_HIDDEN}.*hidden={hidden}"):
        run(bc.train_batch_cuda, hidden, b)
    runs = pd.DataFrame([{"hidden": hidden, **{f"init_{n}": 0.1 for n in param_names(hidden)}}])
    with pytest.raises(ValueError, match=f"hidden up to {bc.MAX_HIDDEN}"):
        bc.train_runs_cuda(runs)


def test_missing_numba_cuda_says_how_to_install(monkeypatch):
    monkeypatch.setattr(bc, "_numba_cuda_installed", lambda: False)
    assert not bc.cuda_available()
    with pytest.raises(bc.CudaUnavailableError, match=r"pip install bpsweep\[cuda\]"):
        bc.require_cuda()


def test_bench_refuses_the_simulator():
    if REAL_GPU:
        pytest.skip("simulator only")
    with pytest.raises(bc.CudaUnavailableError, match="needs a real GPU"):
        bc.bench_cuda(sizes=(10,), steps=5)


def _python(code: str) -> subprocess.CompletedProcess:
    """Run code in a fresh interpreter without the simulator variable."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_no_gpu_gives_the_clear_message_and_import_stays_lazy():
    proc = _python("""
        import sys
        import bpsweep, bpsweep.engine.batch, bpsweep.engine.cuda as bc
        assert "numba.cuda" not in sys.modules, "bpsweep imported numba.cuda eagerly"
        if bc.cuda_available():
            print("HAS-GPU")
            raise SystemExit(0)
        bc.require_cuda()
    """)
    if "HAS-GPU" in proc.stdout:
        pytest.skip("this machine has a CUDA GPU")
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert "CudaUnavailableError: no CUDA GPU found" in last
    assert "without --device cuda" in last and "NUMBA_ENABLE_CUDASIM=1" in last


def test_numpy_without_row_stack_still_imports_numba_cuda():
    """numpy 2.5 removed np.row_stack, which numba-cuda 0.30.4 registers when it loads its
    array support (the first real GPU compile); bpsweep.engine.cuda restores the alias."""
    proc = _python("""
        import numpy as np
        if hasattr(np, "row_stack"):
            del np.row_stack  # what numpy 2.5 looks like
        import bpsweep.engine.cuda as bc
        bc._import_cuda()
        import numba.cuda.np.arrayobj  # fails with AttributeError without the alias
        print("ok")
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_bench_table_counts_every_step():
    """The benchmark's bookkeeping (not its timings): tol = 0, so every run takes all steps."""
    if REAL_GPU:
        pytest.skip("simulator only")
    table = bc.bench_cuda(sizes=(5, 40), steps=3, allow_simulator=True)
    assert list(table["runs"]) == [5, 40]
    assert list(table["run_steps"]) == [15, 120]
    assert (table["run_steps_per_s"] > 0).all() and (table["kernel_run_steps_per_s"] > 0).all()


# ---------------------------------------------------------------- bpsweep run --device cuda

# A tiny sweep with well-conditioned runs (lr <= 0.05), two hidden sizes (so the CSV has empty
# cells) and two optimizers: under the simulator the GPU kernel does the CPU's float ops in the
# CPU's order, so the CSVs must be equal byte for byte (on a real GPU only the documented
# tolerance is owed, so there the runs are compared as numbers).
CUDA_SWEEP = {
    "name": "tiny-gpu",
    "train": {"max_steps": 60},
    "sweep": {
        "seed": {"start": 0, "count": 3},
        "lr": [0.01, 0.05],
        "hidden": [1, 2],
        "optimizer": ["gd", "adam"],
    },
}


def test_run_sweep_on_cuda_writes_the_cpu_csv(tmp_path):
    from bpsweep.sweeps.runner import execute, read_results

    gpu = execute(CUDA_SWEEP, RunOptions(out=tmp_path / "gpu", device="cuda", chunk_size=10))
    cpu = execute(CUDA_SWEEP, RunOptions(out=tmp_path / "cpu", jobs=1))
    assert gpu.n_runs == 24 and gpu.metadata["device"] == "cuda"
    if REAL_GPU:
        g, c = read_results(gpu.csv_path), read_results(cpu.csv_path)
        assert (g["status"] == c["status"]).all()
        assert ((g["steps"] - c["steps"]).abs() <= 1).all()
        np.testing.assert_allclose(g["final_ssr"], c["final_ssr"], rtol=1e-9)
    else:
        assert gpu.csv_path.read_bytes() == cpu.csv_path.read_bytes()
    assert not (tmp_path / "gpu" / "tiny-gpu.parts").exists()


def test_run_sweep_on_cuda_resumes_from_cpu_parts(tmp_path, interrupt_sweep_at):
    """Parts are device-blind: a sweep started on the CPU and finished on the (simulated) GPU
    gives the same CSV."""
    from bpsweep.sweeps.runner import execute

    if REAL_GPU:
        pytest.skip("bit-exact only under the simulator")
    out = tmp_path / "mixed"
    with interrupt_sweep_at(8), pytest.raises(KeyboardInterrupt):  # after the first chunk
        execute(CUDA_SWEEP, RunOptions(out=out, jobs=1, chunk_size=8))
    resumed = execute(CUDA_SWEEP, RunOptions(out=out, device="cuda", chunk_size=8))
    assert resumed.computed == 16
    clean = execute(CUDA_SWEEP, RunOptions(out=tmp_path / "clean", jobs=1))
    assert resumed.csv_path.read_bytes() == clean.csv_path.read_bytes()


def test_device_cuda_refuses_jobs_and_dask(tmp_path):
    from bpsweep.sweeps.runner import execute

    for kwargs in ({"jobs": 2}, {"backend": "dask"}):
        with pytest.raises(ValueError, match="trains in this process on one GPU"):
            execute(CUDA_SWEEP, RunOptions(out=tmp_path / "x", device="cuda", **kwargs))
    assert not (tmp_path / "x").exists()


def test_cli_device_cuda_without_gpu_is_one_line_and_writes_nothing(tmp_path):
    """`bpsweep run --device cuda` in a fresh interpreter without the simulator."""
    cfg = tmp_path / "tiny.toml"
    cfg.write_text('name = "tiny"\n[sweep]\nseed = { start = 0, count = 4 }\n')
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bpsweep",
            "run",
            str(cfg),
            "--device",
            "cuda",
            "--out",
            str(tmp_path / "out"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode == 0:
        pytest.skip("this machine has a CUDA GPU")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == f"bpsweep run: error: {bc.NO_GPU_HINT}"
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- bpsweep map --device cuda

CUDA_MAP = {
    "name": "tiny-map",
    "init": {"preset": "statquest-start"},
    "train": {"max_steps": 60},
    "map": {
        "x": "lr_hidden",
        "y": "lr_output",
        "center": [-1.6, -1.6],
        "span": [0.6, 0.6],
        "resolution": [5, 4],
        "scale": ["log", "log"],
    },
}


def test_map_on_cuda_writes_the_cpu_parquet(tmp_path):
    """A map's tiles on the (simulated) GPU: per-layer rates from the map's axes, the same
    Parquet as the CPU (bit for bit under the simulator)."""
    import pandas as pd

    from bpsweep.maps.runner import run_map
    from bpsweep.sweeps.config import config_from_dict

    config = config_from_dict(CUDA_MAP)
    gpu, drawn = run_map(config, RunOptions(out=tmp_path / "gpu", device="cuda"), figure=False)
    cpu, _ = run_map(config, RunOptions(out=tmp_path / "cpu", jobs=1), figure=False)
    assert gpu.metadata["device"] == "cuda" and drawn.png.exists()
    g, c = pd.read_parquet(gpu.csv_path), pd.read_parquet(cpu.csv_path)
    assert g["lr_hidden"].nunique() == 5 and g["lr_output"].nunique() == 4
    if REAL_GPU:
        assert (g["status"] == c["status"]).all()
        np.testing.assert_allclose(g["final_ssr"], c["final_ssr"], rtol=1e-9)
    else:
        assert gpu.csv_path.read_bytes() == cpu.csv_path.read_bytes()
