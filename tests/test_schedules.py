"""Learning-rate schedules: the factor against its documented formulas, train_one against the
plain-Python twin (tests/naive.py) for every schedule and optimizer, bpsweep.train and
``bpsweep train``, config validation, the results' columns, and a map over a schedule
parameter. (Batch against train_one: tests/test_kernels_batch.py; the CUDA kernel:
tests/test_cuda.py.)"""

import math

import numba
import numpy as np
import pandas as pd
import pytest

import naive
from bpsweep import train
from bpsweep.analysis import load_results
from bpsweep.analysis.reruns import trace_runs
from bpsweep.commands import main
from bpsweep.engine import kernels
from bpsweep.errors import ConfigError, UsageError
from bpsweep.model import OPTIMIZERS, SCHEDULES, STATUSES
from bpsweep.settings import SCHEDULE_SETTINGS, SETTINGS, columns, schedule_array
from bpsweep.sweeps.config import load_config
from bpsweep.sweeps.runner import run_sweep

X, Y = [0.0, 0.5, 1.0], [0.0, 1.0, 0.0]
START = [2.74, 0.0, -1.13, 0.0, 0.36, 0.63, 0.0]  # lesson 003's start
#: Each schedule with parameters under which its factor moves a lot within a few hundred steps.
CASES = {
    "constant": {},
    "cosine": {"schedule_steps": 150, "min_lr_ratio": 0.05},
    "step": {"step_every": 40, "step_factor": 0.3},
    "exponential": {"decay": 0.02},
}


def sched_params(name, params, max_steps):
    """(a, b) of kernels.schedule_factor for schedule ``name`` with ``params`` (the others
    at their defaults), through settings.schedule_array as the trainers take them."""
    values = {n: SETTINGS[n].default for n in SCHEDULE_SETTINGS} | params
    table = schedule_array([name], [max_steps], **{n: [values[n]] for n in SCHEDULE_SETTINGS})
    return tuple(table[0])


def kernel_schedule(name, params, max_steps):
    """naive.train's ``schedule(rate, k)`` with the kernels' own factor: the same floats."""
    code = SCHEDULES[name]
    a, b = sched_params(name, params, max_steps)
    return lambda rate, k: rate * kernels.schedule_factor.py_func(code, k, a, b)


def textbook(name, params, max_steps):
    values = {n: SETTINGS[n].default for n in SCHEDULE_SETTINGS} | params
    if values["schedule_steps"] == 0:
        values["schedule_steps"] = max_steps
    return naive.textbook_schedule(name, **values)


def train_one(start, *, name, params, max_steps, **fields):
    """kernels.train_one of one run with schedule ``name``: (status, steps, SSR, final)."""
    runs = kernels.make_runs(
        init=np.array(start, dtype=float)[None, :],
        schedule=SCHEDULES[name],
        sched_params=sched_params(name, params, max_steps),
        max_steps=max_steps,
        **fields,
    )
    out = kernels.Outcomes.empty(1, runs.init.shape[1])
    trace = kernels.Trace.empty(0, runs.init.shape[1])
    kernels.train_one(np.array(X), np.array(Y), 2, runs, 0, out, trace, np.zeros(1, np.int64))
    return STATUSES[out.status[0]], int(out.steps[0]), out.final_ssr[0], out.final[0]


# ---------------------------------------------------------------- the factor


@pytest.mark.parametrize("name", ["cosine", "step", "exponential"])
def test_the_factor_is_the_documented_formula(name):
    """lr * factor(k) against docs/sweeps.md's formulas (libm cos and exp) to 2e-16 of lr at
    every k (the cosine's (1 + cos) / 2 itself cancels to about that near its end), and its
    exact values where the formulas give exact ones."""
    params = CASES[name]
    f = kernel_schedule(name, params, 1000)
    doc = textbook(name, params, 1000)
    for k in range(0, 400):
        assert f(1.0, float(k)) == pytest.approx(doc(1.0, float(k)), rel=0, abs=2e-16), k
    assert f(1.0, 0.0) == 1.0  # the first step takes the rates as given
    if name == "cosine":
        ratio = params["min_lr_ratio"]
        assert f(1.0, 150.0) == f(1.0, 151.0) == f(1.0, 1e6) == ratio  # lr_min from k = T on
        assert f(1.0, 75.0) == pytest.approx((1 + ratio) / 2, rel=1e-15)  # half way
        assert all(f(1.0, k + 1.0) < f(1.0, float(k)) for k in range(150))  # falls every step
    if name == "step":
        assert f(1.0, 39.0) == 1.0 and f(1.0, 40.0) == 0.3 and f(1.0, 79.0) == 0.3
        assert f(1.0, 80.0) == 0.3**2.0
    if name == "exponential":
        assert f(1.0, 100.0) == pytest.approx(math.exp(-2.0), rel=2e-16)
        assert f(1.0, 1e6) == 0.0  # underflows: the run then stands still


def test_the_compiled_factor_gives_the_python_bits():
    """schedule_factor compiled and as its Python source (which train_one's Python form and
    the CUDA simulator run), over every schedule, many steps and parameters."""
    rng = np.random.default_rng(0)
    for code in SCHEDULES.values():
        for a, b in [(1.0, 1.0), (7.0, 0.5), (1000.0, 0.0), (3.0, 2.5), (0.013, 0.9)]:
            for k in np.concatenate([np.arange(50.0), rng.uniform(0, 5000, 50)]):
                got = kernels.schedule_factor(code, k, a, b)
                want = kernels.schedule_factor.py_func(code, k, a, b)
                assert np.float64(got).view(np.int64) == np.float64(want).view(np.int64)


def test_steps_as_float_is_float_of_the_step_count():
    """The lanes kernel's branch-free int64 -> float64 conversion of k gives float(k) (what
    train_one and the CUDA kernel use) at every magnitude a step count can have."""
    edges = [0, 1, 2, 2**31, 2**32 - 1, 2**32, 2**32 + 1, 2**52 + 1, 2**53 + 1, 2**53 + 3]
    edges += [2**62 + 12345, 2**63 - 1]
    ks = np.concatenate([edges, np.random.default_rng(0).integers(0, 2**63 - 1, 20000)])
    convert = numba.njit(lambda a: [kernels.steps_as_float(k) for k in a])
    got = convert(ks.astype(np.int64))
    assert got == [float(int(k)) for k in ks]
    assert [kernels.steps_as_float.py_func(int(k)) for k in ks[:200]] == got[:200]


def test_cosine_schedule_steps_zero_means_max_steps():
    assert sched_params("cosine", {"min_lr_ratio": 0.2}, 777) == (777.0, 0.2)
    assert sched_params("cosine", {"schedule_steps": 5}, 777) == (5.0, 0.0)
    assert sched_params("step", {}, 777) == (100.0, 0.5)
    assert sched_params("exponential", {"decay": 0.1}, 777) == (0.1, 1.0)
    assert sched_params("constant", {"decay": 0.1}, 777) == (1.0, 1.0)


# ---------------------------------------------------------------- train_one against the twin


@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
@pytest.mark.parametrize("name", list(CASES))
def test_train_one_matches_the_naive_twin(name, opt_name):
    """Every schedule with every optimizer and both per-layer rates: bit for bit against the
    twin with the kernels' activation and factor (a chaotic rate pair included), and to 1e-9
    against the textbook formulas (activations and schedule) on a well-conditioned run; a
    schedule other than constant changes the run."""
    opt = OPTIMIZERS[opt_name]
    params = CASES[name]
    hyper = (0.5, 0.0, 0.0) if opt_name == "momentum" else (0.9, 0.999, 1e-8)
    fields = dict(act=0, opt=opt, hyper=hyper, tol=1e-12)
    for lr_h, lr_o, steps, exact in ((0.3, 0.05, 400, True), (0.002, 0.02, 300, False)):
        schedule = (kernel_schedule if exact else textbook)(name, params, steps)
        activation = kernels.activate.py_func if exact else naive.textbook_activation
        want = naive.train(
            X, Y, START, 2, 0, opt, hyper=hyper, lr_hidden=lr_h, lr_output=lr_o, tol=1e-12,
            max_steps=steps, activation=activation, schedule=schedule,
        )  # fmt: skip
        status, k, ssr, p = train_one(
            START, name=name, params=params, max_steps=steps, lr_hidden=lr_h, lr_output=lr_o,
            **fields,
        )  # fmt: skip
        assert (status, k) == (want["status"], want["steps"])
        if exact:
            assert p.tolist() == want["params"] and ssr == want["ssr"]
        else:
            np.testing.assert_allclose(p, want["params"], rtol=1e-9)
            assert ssr == pytest.approx(want["ssr"], rel=1e-9)
        plain = train_one(
            START, name="constant", params={}, max_steps=steps, lr_hidden=lr_h, lr_output=lr_o,
            **fields,
        )  # fmt: skip
        assert (plain[3].tolist() == p.tolist()) == (name == "constant")


# ---------------------------------------------------------------- bpsweep.train, bpsweep train


def test_bpsweep_train_takes_a_schedule_and_its_parameters():
    """bpsweep.train(schedule=...) is train_one's run with those parameters; schedule_steps
    defaults to max_steps; the schedule's other parameters default as the schema says."""
    for name, params in CASES.items():
        r = train(init="statquest-start", lr=0.3, max_steps=400, schedule=name, **params)
        want = train_one(
            START, name=name, params=params, max_steps=400, act=0, opt=0, hyper=(0, 0, 0),
            lr_hidden=0.3, lr_output=0.3, tol=1e-3,
        )  # fmt: skip
        assert (r.status, r.steps, r.final_ssr) == want[:3]
        assert list(r.final_params.values()) == want[3].tolist()
    a = train(init="statquest-start", schedule="cosine", max_steps=300)
    b = train(init="statquest-start", schedule="cosine", max_steps=300, schedule_steps=300)
    c = train(init="statquest-start", schedule="cosine", max_steps=300, schedule_steps=1000)
    assert a.final_params == b.final_params != c.final_params
    d = train(init="statquest-start", schedule="exponential")
    e = train(init="statquest-start", schedule="exponential", decay=0.005)
    assert d.final_params == e.final_params


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"schedule": "linear"}, "schedule: expected one of constant, cosine, step, exponential"),
        ({"decay": -0.1}, "decay: expected a finite number >= 0, found -0.1 (number)"),
        ({"step_factor": 0}, "step_factor: expected a finite number > 0, found 0 (integer)"),
        ({"step_every": 0}, "step_every: expected a whole number from 1 to 2**62, found 0"),
        ({"schedule_steps": 2.5}, "schedule_steps: expected a whole number from 0 to 2**62"),
        ({"min_lr_ratio": math.inf}, "min_lr_ratio: expected a finite number >= 0, found inf"),
    ],
)
def test_bpsweep_train_refuses_bad_schedule_values(kwargs, message):
    with pytest.raises(UsageError) as err:
        train(init="statquest-start", **kwargs)
    assert message in str(err.value)


def test_cli_train_takes_schedule_options(capsys):
    args = ["train", "--init", "statquest-start", "--lr", "0.3", "--schedule", "cosine"]
    assert main([*args, "--min-lr-ratio", "0.1", "--schedule-steps", "200"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    r = train(init="statquest-start", lr=0.3, schedule="cosine", min_lr_ratio=0.1,
              schedule_steps=200)  # fmt: skip
    assert last.startswith(
        f"{r.status} after {r.steps} steps: SSR {r.initial_ssr:.6g} -> {r.final_ssr:.6g};"
    )
    assert r.steps != train(init="statquest-start", lr=0.3).steps  # the schedule acted
    assert main(["train", "--schedule", "step", "--step-every", "-3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bpsweep train: error: --step-every: expected a whole number from 1")
    assert main(["train", "--schedule", "cosin"]) == 2
    assert "--schedule: expected one of constant, cosine, step, exponential, found 'cosin'" in (
        capsys.readouterr().err
    )


# ---------------------------------------------------------------- configs and results


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[train]\nschedule = "cosin"\n',
            "[train] schedule: expected one of constant, cosine, step, exponential, "
            "found 'cosin' (string)",
        ),
        ("[train]\ndecay = -0.1\n", "[train] decay: expected a finite number >= 0, found -0.1"),
        (
            "[train]\nschedule_steps = 2.5\n",
            "[train] schedule_steps: expected a whole number from 0 to 2**62 (0: max_steps), "
            "found 2.5 (number)",
        ),
        (
            "[sweep]\nstep_factor = [0.5, 0.0]\n",
            "[sweep] step_factor[1]: expected a finite number > 0, found 0.0 (number)",
        ),
        (
            "[sweep]\nstep_every = { start = 0, count = 3 }\n",
            "[sweep] step_every[0]: expected a whole number from 1 to 2**62, found 0",
        ),
        ("[sweep]\nmin_lr_ratio = [0.1, nan]\n", "[sweep] min_lr_ratio[1]: expected a finite"),
        ("[model]\ndecay = 0.1\n", "[model] decay: expected decay in [train]"),
        ("[train]\ndecy = 0.1\n", "did you mean 'decay'?"),
    ],
)
def test_config_errors_name_file_key_expected_and_found(tmp_path, text, message):
    cfg = tmp_path / "x.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    line = str(err.value)
    assert "\n" not in line and line.startswith(f"{cfg}: ") and message in line, line


def test_schedule_columns_only_where_set_and_each_run_is_train(tmp_path):
    """A sweep that sets no schedule setting keeps its columns (every existing results file
    stays the same); one that sets the schedule and two parameters gets those three columns,
    after the rates, and each run equals bpsweep.train with its settings."""
    assert columns(()) == columns(("lr",))
    assert not set(columns(())) & {"schedule", *SCHEDULE_SETTINGS}
    cfg = tmp_path / "s.toml"
    cfg.write_text(
        '[init]\npreset = "statquest-start"\n[train]\nmax_steps = 300\nlr = 0.3\n'
        "step_every = 10\n"
        '[sweep]\nschedule = ["constant", "cosine", "step", "exponential"]\n'
        "decay = [0.001, 0.03]\n"
    )
    df = run_sweep(cfg, out_dir=tmp_path / "out", jobs=1)
    cols = list(df.columns)
    assert cols[cols.index("lr") + 1 : cols.index("lr") + 4] == ["schedule", "step_every", "decay"]
    assert not {"schedule_steps", "min_lr_ratio", "step_factor"} & set(cols)
    finals = set()
    for row in df.itertuples():
        r = train(init="statquest-start", max_steps=300, lr=0.3, schedule=row.schedule,
                  step_every=10, decay=row.decay)  # fmt: skip
        assert (r.status, r.steps, r.final_ssr) == (row.status, row.steps, row.final_ssr)
        finals.add(row.final_ssr)
    assert len(finals) == 5  # decay changes only the exponential runs
    text = (tmp_path / "out" / "s.csv").read_text().splitlines()
    assert text[1].split(",")[9:13] == ["0.3", "constant", "10", "0.001"]
    # re-runs from the results file (bpsweep trace) take each row's schedule
    _, check = trace_runs(load_results(tmp_path / "out" / "s.csv"), range(8))
    assert check["reproduced"].all()


def test_a_map_over_a_schedule_parameter_runs(tmp_path, capsys):
    """`bpsweep map` with the exponential schedule's decay against lr on log axes: 16 x 16
    pixels, each the run bpsweep.train gives."""
    cfg = tmp_path / "decay.toml"
    cfg.write_text(
        'name = "decay"\n[init]\npreset = "statquest-start"\n'
        '[train]\nmax_steps = 300\nschedule = "exponential"\n'
        '[map]\nx = "decay"\ny = "lr"\ncenter = [-2.0, -1.0]\nspan = [3.0, 2.0]\n'
        'resolution = [4, 4]\nscale = ["log", "log"]\n'
    )
    out = tmp_path / "out"
    assert main(["map", str(cfg), "--resolution", "16x16", "--out", str(out), "--quiet"]) == 0
    df = pd.read_parquet(out / "decay-16x16.parquet")
    assert len(df) == 256 and df["decay"].nunique() == 16 and df["lr"].nunique() == 16
    assert (df["schedule"] == "exponential").all()
    assert df["status"].nunique() >= 2  # the plane is not one colour
    assert (out / "decay-16x16.png").exists()
    for row in df.iloc[[0, 17, 100, 255]].itertuples():
        r = train(init="statquest-start", max_steps=300, schedule="exponential",
                  decay=row.decay, lr=row.lr)  # fmt: skip
        assert (r.status, r.steps, r.final_ssr) == (row.status, row.steps, row.final_ssr)
