"""Sweep configs: defaults, every kind of bad config (message names file, key, expected, found),
--set overrides and range specs."""

import math

import numpy as np
import pytest

import bpsweep
from bpsweep.model import DEFAULT_LR, DEFAULT_MAX_STEPS, DEFAULT_TOL, HYPER_DEFAULTS
from bpsweep.sweeps.config import ConfigError, config_from_dict, load_config


def write(tmp_path, text, name="cfg.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_empty_config_takes_every_default(tmp_path):
    cfg = load_config(write(tmp_path, "", "my-sweep.toml"))
    assert cfg.name == "my-sweep"
    assert cfg.n_runs == 1 and cfg.axes == []
    expected = {
        "dataset": "dosage",
        "hidden": 2,
        "activation": "softplus",
        "scheme": "normal",
        "scale": 1.0,
        "biases": "zeros",
        "seed": 0,
        "optimizer": "gd",
        "lr": DEFAULT_LR,
        "tol": DEFAULT_TOL,
        "max_steps": DEFAULT_MAX_STEPS,
        "trainable": "all",
        **HYPER_DEFAULTS,
    }
    assert cfg.fixed == expected
    assert bpsweep.load_config is load_config


def test_sketch_of_the_issue_loads(tmp_path):
    cfg = load_config(
        write(
            tmp_path,
            """
name = "seed-lr-grid"
[data]
dataset = "dosage"
[model]
hidden = 2
activation = "softplus"
[init]
scheme = "normal"
scale = 1.0
biases = "zeros"
[train]
optimizer = "gd"
tol = 0.001
max_steps = 1000
trainable = "all"
[sweep]
mode = "grid"
seed = { start = 0, count = 1000 }
lr = [0.01, 0.03, 0.1, 0.3, 0.5, 1.0]
""",
        )
    )
    assert cfg.n_runs == 6000
    assert [a.name for a in cfg.varying()] == ["seed", "lr"]
    assert cfg.axes[0].values == list(range(1000))


BAD = [
    # (toml text, key as named in the message, words of the expectation, what was found)
    ("[train]\nlrr = 0.1", "[train]", "did you mean 'lr'", "'lrr'"),
    ("[trian]\nlr = 0.1", "top level", "did you mean 'train'", "'trian'"),
    ("[sweep]\nlrr = [0.1]", "[sweep]", "did you mean 'lr'", "'lrr'"),
    (
        '[train]\nmax_steps = "100"',
        "[train] max_steps",
        "a whole number from 1 to 2**62",
        "'100' (string)",
    ),
    ("[train]\nmax_steps = 10.5", "[train] max_steps", "number from 1 to 2**62", "10.5"),
    ("[model]\nhidden = true", "[model] hidden", "a whole number from 1 to 1024", "True (boolean)"),
    ("[model]\nhidden = 100000000", "[model] hidden", "from 1 to 1024", "100000000 (integer)"),
    ('[model]\nactivation = "softmax"', "[model] activation", "one of softplus", "'softmax'"),
    ("[train]\nlr = 0", "[train] lr", "a finite number > 0", "0 (integer)"),
    ("[train]\nlr = -0.5", "[train] lr", "a finite number > 0", "-0.5"),
    ("[sweep]\nlr = [0.1, -0.1]", "[sweep] lr[1]", "a finite number > 0", "-0.1"),
    ("[sweep]\nmomentum = [0.5, 0.9]", "[sweep] momentum", "optimizer 'momentum'", "'gd'"),
    (
        '[sweep]\noptimizer = ["gd", "adam"]\nmomentum = [0.5, 0.9]',
        "[sweep] momentum",
        'add "momentum" to [sweep] optimizer, or drop the axis',
        "'gd', 'adam'",
    ),
    (
        '[train]\noptimizer = "momentum"\n[sweep]\nbeta1 = [0.5, 0.9]',
        "[sweep] beta1",
        "optimizer 'adam'",
        "'momentum'",
    ),
    ("[train]\ntol = -1e-3", "[train] tol", "a finite number >= 0", "-0.001"),
    ("[sweep]\ntol = [0, -1e-9]", "[sweep] tol[1]", "a finite number >= 0", "-1e-09"),
    (
        "[train]\nmax_steps = 0",
        "[train] max_steps",
        "a whole number from 1 to 2**62",
        "0 (integer)",
    ),
    (
        "[sweep]\nmax_steps = [100, 0]",
        "[sweep] max_steps[1]",
        "a whole number from 1 to 2**62",
        "0",
    ),
    ("[sweep]\nlr = []", "[sweep] lr", "a non-empty list", "[]"),
    ("[sweep]\nseed = { start = 0, count = 0 }", "[sweep] seed", "count = n", "'count': 0"),
    ('[data]\ndataset = "missing.csv"', "[data] dataset", "a CSV file", "'missing.csv'"),
    (
        "[sweep]\nlr = { linspace = [0.1, 1] }",
        "[sweep] lr",
        "linspace = [start, stop, count]",
        "[0.1, 1]",
    ),
    ("[sweep]\nlr = { linspace = [0.1, 1, 2.5] }", "[sweep] lr", "count a whole number", "2.5"),
    (
        "[sweep]\nlr = { lnspace = [0.1, 1, 3] }",
        "[sweep] lr",
        "did you mean 'linspace'",
        "'lnspace'",
    ),
    ("[sweep]\nlr = { linspace = [0.0, 1, 3] }", "[sweep] lr[0]", "a finite number > 0", "0.0"),
    ("[sweep]\nmax_steps = { linspace = [1, 10, 3] }", "[sweep] max_steps", "whole numbers", "5.5"),
    ("[sweep]\nlr = { uniform = [0.1, 1] }", "[sweep] lr", "mode = 'random'", "uniform"),
    (
        '[sweep]\nmode = "random"\nsamples = 5\nlr = { loguniform = [0, 1] }',
        "[sweep] lr",
        "0 < low <= high",
        "[0, 1]",
    ),
    (
        '[sweep]\nmode = "random"\nsamples = 5\nlr = { uniform = [1, 0.5] }',
        "[sweep] lr",
        "low <= high",
        "[1, 0.5]",
    ),
    (
        '[sweep]\nmode = "random"\nsamples = 5\nlr = { uniform = [-1, 1] }',
        "[sweep] lr",
        "a finite number > 0",
        "-1.0",
    ),
    ('[sweep]\nmode = "random"\nlr = [0.1]', "[sweep] samples", "a whole number >= 1", "nothing"),
    (
        '[sweep]\nmode = "random"\nsamples = 0\nlr = [0.1]',
        "[sweep] samples",
        "whole number",
        "0 (integer)",
    ),
    ("[sweep]\nsamples = 10\nlr = [0.1]", "[sweep] samples", "mode = 'random'", "10"),
    ('[sweep]\nmode = "grdi"', "[sweep] mode", "one of grid, random", "'grdi'"),
    ("[train]\nlr = 0.1\n[sweep]\nlr = [0.1, 0.2]", "[sweep] lr", "one place", "both"),
    ("[init]\ninit_w5 = 1.0", "[init] init_w5", "a parameter of the network", "'w5'"),
    ("[sweep]\ninit_w1 = [1.0, 1e999]", "[sweep] init_w1[1]", "a finite number", "inf"),
    ('[train]\ntrainable = "b3,w9"', "[train] trainable", "names of the parameters", "'b3,w9'"),
    ('[train]\ntrainable = "b3,b3"', "[train] trainable", "'all', a parameter name", "'b3,b3'"),
    (
        '[model]\nhidden = 3\n[init]\npreset = "statquest-fitted"',
        "[init] scheme",
        "a random scheme when hidden is not 2",
        "3",
    ),
    ('[init]\npreset = "statquest"', "[init] preset", "statquest-fitted", "'statquest'"),
    ('[init]\nscheme = "he"\npreset = "statquest-fitted"', "[init] preset", "either", "both"),
    ("[train]\nhidden = 3", "[train] hidden", "hidden in [model]", "found it in [train]"),
    ("[train]\nmomentum = 1.0", "[train] momentum", "[0, 1)", "1.0"),
    ("[init]\nseed = -1", "[init] seed", "from 0 to 2**63 - 1", "-1"),
    ('name = "a/b"', "name", "file-name-safe", "'a/b'"),
]


@pytest.mark.parametrize(("text", "key", "expected", "found"), BAD)
def test_bad_config_names_file_key_expected_and_found(tmp_path, text, key, expected, found):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    for part in (key, expected, found):
        assert part in message, f"{part!r} not in {message!r}"
    assert "expected" in message and "found" in message


def test_not_toml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[train\nlr = 1"))


def test_bad_data_file_contents_are_caught_before_running(tmp_path):
    (tmp_path / "bad.csv").write_text("x,z\n1,2\n")
    with pytest.raises(ConfigError, match=r"\[data\] dataset.*missing column"):
        load_config(write(tmp_path, '[data]\ndataset = "bad.csv"'))


def test_data_path_is_relative_to_the_config_file(tmp_path, monkeypatch):
    sub = tmp_path / "exp"
    sub.mkdir()
    (sub / "d.csv").write_text("x,y\n0,1\n1,2\n")
    monkeypatch.chdir(tmp_path)
    cfg = load_config(write(sub, '[data]\ndataset = "d.csv"'))
    assert cfg.fixed["dataset"] == "d.csv" and cfg.base_dir == sub.resolve()


def test_ranges_linspace_logspace_start_count(tmp_path):
    cfg = load_config(
        write(
            tmp_path,
            """
[sweep]
lr = { logspace = [-3, 0, 4] }
scale = { linspace = [0.5, 2, 4] }
seed = { start = 10, count = 3, step = 5 }
max_steps = { linspace = [100, 400, 4] }
""",
        )
    )
    values = {a.name: a.values for a in cfg.axes}
    assert values["lr"] == list(np.logspace(-3, 0, 4))
    assert values["scale"] == [0.5, 1.0, 1.5, 2.0]
    assert values["seed"] == [10, 15, 20]
    assert values["max_steps"] == [100, 200, 300, 400]
    assert all(type(v) is int for v in values["max_steps"])
    assert cfg.n_runs == 4 * 4 * 3 * 4


def test_trainable_list_and_preset_alias(tmp_path):
    cfg = load_config(
        write(
            tmp_path,
            """
[init]
preset = "statquest-fitted"
init_b3 = 1.5
[sweep]
trainable = ["all", ["b3"]]
""",
        )
    )
    assert cfg.fixed["scheme"] == "statquest-fitted" and cfg.fixed["init_b3"] == 1.5
    assert cfg.axes[0].values == ["all", "b3"]
    cfg = load_config(write(tmp_path, '[train]\ntrainable = ["w3", "w4", "b3"]'))
    assert cfg.fixed["trainable"] == "w3,w4,b3"


def test_set_overrides(tmp_path):
    path = write(
        tmp_path,
        "[train]\nmax_steps = 50\n[sweep]\nlr = [0.1, 0.2, 0.3]\nseed = { start = 0, count = 4 }",
    )
    assert load_config(path).n_runs == 12
    cfg = load_config(path, overrides=["lr=0.25", "train.max_steps=7", "name=other"])
    assert cfg.n_runs == 4 and cfg.fixed["lr"] == 0.25 and cfg.fixed["max_steps"] == 7
    assert cfg.name == "other"
    cfg = load_config(path, overrides=["sweep.max_steps=[1, 2]", "activation=tanh"])
    assert cfg.n_runs == 24 and cfg.fixed["activation"] == "tanh"
    cfg = load_config(path, overrides=["sweep.lr={ linspace = [0.1, 0.5, 5] }"])
    assert cfg.n_runs == 20
    cfg = load_config(path, overrides=["preset=statquest-start", "init_w1=2"])
    assert cfg.fixed["scheme"] == "statquest-start" and cfg.fixed["init_w1"] == 2.0
    with pytest.raises(ConfigError, match=r"--set lrr: unknown key.*found 'lrr'; did you mean"):
        load_config(path, overrides=["lrr=0.1"])
    with pytest.raises(ConfigError, match=r"\[train\] lr: expected a finite number > 0"):
        load_config(path, overrides=["lr=-1"])
    with pytest.raises(ConfigError, match="key=value"):
        load_config(path, overrides=["lr"])
    with pytest.raises(ConfigError, match=r"expected lr in \[train\]"):
        load_config(path, overrides=["model.lr=0.1"])


def test_random_mode_specs(tmp_path):
    cfg = load_config(
        write(
            tmp_path,
            """
[sweep]
mode = "random"
samples = 100
sweep_seed = 7
lr = { loguniform = [1e-3, 1] }
scale = { uniform = [0.5, 2] }
scheme = { choice = ["normal", "he"] }
seed = { start = 0, count = 1000 }
max_steps = { uniform = [10.5, 20] }
""",
        )
    )
    assert cfg.n_runs == 100 and cfg.sweep_seed == 7
    kinds = {a.name: a.kind for a in cfg.axes}
    assert kinds == {
        "lr": "loguniform",
        "scale": "uniform",
        "scheme": "values",
        "seed": "values",
        "max_steps": "uniform",
    }
    max_steps = next(a for a in cfg.axes if a.name == "max_steps")
    assert (max_steps.low, max_steps.high) == (11, 20)


def test_fingerprint_ignores_name_and_description_but_not_settings(tmp_path):
    base = {"train": {"max_steps": 10}, "sweep": {"lr": [0.1, 0.2]}}
    a = config_from_dict(base)
    b = config_from_dict({**base, "name": "x", "description": "y"})
    c = config_from_dict(base, overrides=["max_steps=11"])
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()
    (tmp_path / "d.csv").write_text("x,y\n0,1\n")
    d1 = config_from_dict({"data": {"dataset": "d.csv"}}, base_dir=tmp_path).fingerprint()
    (tmp_path / "d.csv").write_text("x,y\n0,2\n")
    d2 = config_from_dict({"data": {"dataset": "d.csv"}}, base_dir=tmp_path).fingerprint()
    assert d1 != d2


def test_shipped_experiments_load():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "experiments"
    sizes = {p.stem: load_config(p).n_runs for p in sorted(root.glob("*.toml"))}
    assert sizes["seed-lr-grid"] == 6000
    assert set(sizes) >= {"lesson-b3", "seed-lr-grid", "init-sensitivity"}
    b3 = load_config(root / "lesson-b3.toml")
    lrs = b3.values_of("lr")
    assert any(0.32 < lr < 1 / 3 for lr in lrs) and any(1 / 3 < lr < 0.34 for lr in lrs)
    assert min(lrs) <= 0.01 and max(lrs) >= 0.6 and not any(math.isclose(lr, 1 / 3) for lr in lrs)


def test_range_values_are_lazy_and_exact():
    """Ranges are never listed: 10^12 seeds x 10^6 rates count at once, and every value has
    numpy's bits (linspace/logspace) wherever a chunk takes it."""
    from bpsweep.sweeps.config import Spaced
    from bpsweep.sweeps.expand import expand

    rng = np.random.default_rng(0)
    for _ in range(300):
        a, b = rng.normal(size=2) * 10.0 ** rng.integers(-5, 5, size=2)
        n = int(rng.integers(1, 300))
        assert np.array_equal(
            Spaced("linspace", a, b, n, False).take(np.arange(n)), np.linspace(a, b, n)
        )
        a, b = a % 5, b % 5
        assert np.array_equal(
            Spaced("logspace", a, b, n, False).take(np.arange(n)), np.logspace(a, b, n)
        )
    cfg = config_from_dict(
        {"sweep": {"seed": {"start": 0, "count": 10**12}, "lr": {"linspace": [0.01, 1, 10**6]}}}
    )
    assert cfg.n_runs == 10**18
    runs = expand(cfg, 10**17, 10**17 + 3)
    assert runs["seed"].tolist() == [10**11] * 3
    assert runs["lr"].tolist() == np.linspace(0.01, 1, 10**6)[:3].tolist()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"name": "nl\n"}, "name: expected a file-name-safe name"),
        ({"init": {"scale": 1e308}}, "[init] scale: expected a number > 0 and < 1e+100"),
        ({"model": {"hidden": 100_000_000}}, "[model] hidden: expected a whole number from 1"),
        (
            {"sweep": {"seed": {"start": 0, "count": 10**12}, "tol": {"linspace": [1, 2, 10**11]}}},
            "[sweep]: expected at most 4,611,686,018,427,387,904 runs",
        ),
        ({"sweep": {"seed": {"start": -5, "count": 10**9}}}, "[sweep] seed[0]: expected a whole"),
        ({"sweep": {"hidden": {"start": 1, "count": 10**9}}}, "[sweep] hidden[999999999]"),
    ],
)
def test_hostile_values_refused_at_validation(raw, message):
    with pytest.raises(ConfigError) as err:
        config_from_dict(raw, source="x.toml")
    assert message in str(err.value)


def test_a_sweep_that_cannot_fit_is_refused_before_anything_is_written(tmp_path, capsys):
    """10^12 random runs: refused up front with the memory estimate, by --dry-run too (it
    lists nothing), and no --out folder is left behind."""
    from bpsweep.commands import main

    cfg = tmp_path / "big.toml"
    cfg.write_text('[sweep]\nmode = "random"\nsamples = 1000000000000\nlr = {uniform = [0.1, 1]}\n')
    for extra in (["--dry-run"], []):
        assert main(["run", str(cfg), "--out", str(tmp_path / "out"), *extra]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "need about 9.0 TB of memory" in err[0]
        assert not (tmp_path / "out").exists()
