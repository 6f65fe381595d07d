"""bench's accounting (not its timings): run-steps counted are the steps the runs took."""

import numpy as np
import pytest

from bpsweep import bench, kernels
from bpsweep.commands import main
from bpsweep.model import MAX_STEPS


def test_fixed_steps_count_every_step():
    t = bench.time_batch(runs=9, steps=40, threads=1, lr=0.01, tol=0.0, repeat=1)
    assert t.statuses[MAX_STEPS] == 9  # tol 0 and a small lr: no run stops early
    assert t.run_steps == 9 * 40 and t.mean_steps == 40
    assert t.rate == t.run_steps / t.seconds


def test_early_stopping_counts_the_steps_taken():
    t = bench.time_batch(runs=9, steps=3000, threads=1, lr=0.1, tol=1e-3, repeat=1)
    args = bench.batch_inputs(9, 0.1, 1e-3, 3000)
    kernels.train_batch(**args)
    assert t.run_steps == args["steps"].sum() < 9 * 3000
    assert np.array_equal(t.statuses, np.bincount(args["status"], minlength=3))


def test_cli_prints_table(capsys):
    assert (
        main(["bench", "--runs", "4", "--steps", "5", "--jobs", "1", "--repeat", "1", "--no-sweep"])
        == 0
    )
    out = capsys.readouterr().out
    assert "fixed 5 steps" in out and "early stop" in out


def test_cli_rejects_bad_sizes(capsys):
    assert main(["bench", "--runs", "0"]) == 2
    assert "--runs must be >= 1" in capsys.readouterr().err


def test_cli_cuda_without_a_gpu_says_why(capsys):
    """No GPU here: a clear one-line error (under the simulator: that timings need a GPU)."""
    from bpsweep.cuda import cuda_available, simulator_enabled

    if cuda_available() and not simulator_enabled():
        pytest.skip("a real GPU is present: bench --device cuda would run")
    assert main(["bench", "--device", "cuda", "--sizes", "10", "--steps", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bpsweep bench: error:") and "GPU" in err and "Traceback" not in err
