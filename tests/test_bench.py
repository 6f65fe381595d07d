"""bench's accounting (not its timings): run-steps counted are the steps the runs took."""

from pathlib import Path

import numpy as np
import pytest

from bpsweep import bench
from bpsweep.commands import main
from bpsweep.engine import kernels
from bpsweep.model import MAX_STEPS

ROOT = Path(__file__).resolve().parents[1]


def test_fixed_steps_count_every_step():
    t = bench.time_batch(runs=9, steps=40, threads=1, lr=0.01, tol=0.0, repeat=1)
    assert t.statuses[MAX_STEPS] == 9  # tol 0 and a small lr: no run stops early
    assert t.run_steps == 9 * 40 and t.mean_steps == 40
    assert t.rate == t.run_steps / t.seconds


def test_early_stopping_counts_the_steps_taken():
    t = bench.time_batch(runs=9, steps=3000, threads=1, lr=bench.MAIN_JOB_LRS, tol=1e-3, repeat=1)
    args = bench.batch_inputs(9, bench.MAIN_JOB_LRS, 1e-3, 3000)
    assert args["runs"].lr_hidden.tolist() == [*bench.MAIN_JOB_LRS, *bench.MAIN_JOB_LRS[:3]]
    assert np.array_equal(args["runs"].lr_output, args["runs"].lr_hidden)
    kernels.train_batch(**args)
    out = args["out"]
    assert t.run_steps == out.steps.sum() < 9 * 3000
    assert np.array_equal(t.statuses, np.bincount(out.status, minlength=3))


def test_sweep_config_is_built_in_and_matches_the_shipped_experiment():
    """bench must not read experiments/ (an installed wheel has none); its built-in config is
    the shipped seed-lr-grid.toml, where the source tree has it."""
    import inspect
    import tomllib
    from pathlib import Path

    assert "__file__" not in inspect.getsource(bench)  # no path outside the package
    path = Path(__file__).parents[1] / "experiments" / "seed-lr-grid.toml"
    if not path.is_file():
        pytest.skip("no experiments/ folder here")
    assert tomllib.loads(path.read_text()) == bench.SWEEP_CONFIG


def test_cli_json_is_one_object_with_cases_and_math(capsys):
    import json

    args = ["bench", "--runs", "4", "--steps", "5", "--threads", "1", "--repeat", "1"]
    assert main([*args, "--no-sweep", "--json", "--lanes", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["lanes"] == 3 and out["runs"] == 4
    assert [c["case"] for c in out["cases"]][0] == "fixed 5 steps (lr 0.01, tol 0)"
    fixed = out["cases"][0]
    assert fixed["threads"] == 1 and fixed["run_steps"] == 4 * 5
    assert fixed["ns_per_step"] == pytest.approx(1e9 / fixed["run_steps_per_s"])
    assert {"exp", "log1p"} <= set(out["math"])
    assert all(m["ns_per_call"] > 0 for m in out["math"].values())


def test_cli_prints_table(capsys):
    assert (
        main(
            [
                "bench",
                "--runs",
                "4",
                "--steps",
                "5",
                "--threads",
                "1",
                "--repeat",
                "1",
                "--no-sweep",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "fixed 5 steps" in out and "early stop" in out


def test_cli_rejects_bad_sizes(capsys):
    assert main(["bench", "--runs", "0"]) == 2
    assert "--runs must be >= 1" in capsys.readouterr().err


def test_cli_cuda_without_a_gpu_says_why(capsys):
    """No GPU here: a clear one-line error (under the simulator: that timings need a GPU)."""
    from bpsweep.engine.cuda import cuda_available, simulator_enabled

    if cuda_available() and not simulator_enabled():
        pytest.skip("a real GPU is present: bench --device cuda would run")
    assert main(["bench", "--device", "cuda", "--sizes", "10", "--steps", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bpsweep bench: error:") and "GPU" in err and "Traceback" not in err


def test_from_json_prints_a_saved_result_and_refuses_others(tmp_path, capsys):
    assert main(["bench", "--from-json", str(ROOT / "docs" / "bench.json")]) == 0
    out = capsys.readouterr().out
    assert "fixed 1000 steps (lr 0.01, tol 0)" in out and "math softplus" in out
    (tmp_path / "x.json").write_text('{"cases": []}')
    for path, words in (
        (tmp_path / "x.json", "expected the output of bpsweep bench --json"),
        (tmp_path / "none.json", "cannot read it"),
    ):
        assert main(["bench", "--from-json", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err


def test_end_to_end_runs_the_main_job_mix_as_a_process():
    """The mechanism only (no speed is asserted): `bpsweep run` on 60 runs of the main job's mix
    as a subprocess, against the kernel alone on the same 60 runs."""
    e2e = bench.time_end_to_end(60, repeat=1)
    assert e2e["runs"] == 60
    assert 0 < e2e["kernel_seconds"] <= e2e["kernel_seconds_worst"]
    assert e2e["run_seconds"] > 0 and e2e["ratio"] == e2e["run_seconds"] / e2e["kernel_seconds"]
    text = bench.format_table({"runs": 1, "lanes": 8, "cases": [], "end_to_end": e2e})
    assert "bpsweep run end to end, 60 runs of the main job's mix" in text
