"""Expansion of a config into runs: grid order and counts, random draws, starts and overrides,
and any chunk [start, stop) equal to the same rows of the whole table."""

import itertools

import numpy as np
import pandas as pd
import pytest

from bpsweep.engine.starts import PRESETS, initial_params
from bpsweep.model import param_names
from bpsweep.settings import columns as setting_columns
from bpsweep.sweeps.config import config_from_dict
from bpsweep.sweeps.expand import expand, result_columns, run_columns


def grid(**sweep):
    return config_from_dict({"sweep": sweep})


def test_grid_is_the_cartesian_product_first_key_slowest():
    cfg = grid(seed={"start": 3, "count": 4}, lr=[0.1, 0.5], scale=[0.5, 1.0, 2.0])
    runs = expand(cfg)
    assert cfg.n_runs == len(runs) == 24
    assert list(runs.columns) == run_columns(cfg)
    assert runs["run_id"].tolist() == list(range(24))
    expected = list(itertools.product(range(3, 7), [0.1, 0.5], [0.5, 1.0, 2.0]))
    assert list(zip(runs["seed"], runs["lr"], runs["scale"])) == expected
    # fixed settings are constant columns with the defaults
    assert (runs["max_steps"] == 1000).all() and (runs["optimizer"] == "gd").all()


def test_no_sweep_is_one_run_and_column_order():
    cfg = config_from_dict({})
    runs = expand(cfg)
    assert len(runs) == 1
    assert list(runs.columns) == [
        "run_id",
        *setting_columns(),
        *(f"init_{p}" for p in param_names(2)),
    ]
    assert result_columns(cfg)[-4:] == ["initial_ssr", "final_ssr", "steps", "status"]


def test_starts_are_each_runs_own_draw():
    cfg = grid(
        seed={"start": 0, "count": 5},
        scheme=["normal", "uniform", "xavier", "he"],
        scale=[0.5, 2.0],
        biases=["zeros", "drawn"],
    )
    runs = expand(cfg)
    names = param_names(2)
    for row in runs.itertuples():
        expected = initial_params(
            row.scheme, hidden=2, scale=row.scale, biases=row.biases, seed=row.seed
        )
        got = np.array([getattr(row, f"init_{p}") for p in names])
        assert np.array_equal(got, expected)


def test_presets_and_init_overrides_fixed_and_swept():
    cfg = config_from_dict(
        {
            "init": {"preset": "statquest-fitted", "init_w3": -1.0},
            "sweep": {"init_b3": {"linspace": [-1, 1, 5]}, "lr": {"logspace": [-2, 0, 3]}},
        }
    )
    runs = expand(cfg)
    assert len(runs) == 15
    fitted = PRESETS["statquest-fitted"]
    for p in ("w1", "b1", "w2", "b2", "w4"):
        assert (runs[f"init_{p}"] == fitted[p]).all()
    assert (runs["init_w3"] == -1.0).all()
    assert runs["init_b3"].tolist() == list(np.repeat(np.linspace(-1, 1, 5), 3))
    assert (runs["scheme"] == "statquest-fitted").all()


def test_override_replaces_a_random_draw_only_for_its_parameter():
    cfg = config_from_dict({"sweep": {"seed": {"start": 0, "count": 4}, "init_w1": [-3.0, 3.0]}})
    runs = expand(cfg)
    for row in runs.itertuples():
        start = initial_params("normal", seed=row.seed)
        start[0] = row.init_w1
        assert np.array_equal([getattr(row, f"init_{p}") for p in param_names(2)], start)


def test_hidden_sweep_leaves_missing_parameters_empty():
    cfg = grid(hidden=[1, 2, 3], seed=[0, 1])
    runs = expand(cfg)
    union = cfg.param_union()
    assert union[:4] == ("w1", "b1", "w2", "b2")  # hidden=1 first
    assert set(union) == set(param_names(3))
    for row in runs.itertuples(index=False):
        row = row._asdict()
        for p in union:
            assert np.isnan(row[f"init_{p}"]) == (p not in param_names(row["hidden"]))


@pytest.mark.parametrize("mode", ["grid", "random"])
def test_any_chunk_equals_the_same_rows_of_the_whole_table(mode):
    sweep = {
        "seed": {"start": 0, "count": 50},
        "lr": [0.1, 0.2, 0.3],
        "scheme": ["normal", "he"],
        "hidden": [1, 2],
    }
    if mode == "random":
        sweep = {**sweep, "mode": "random", "samples": 300, "scale": {"loguniform": [0.1, 10.0]}}
    cfg = config_from_dict({"sweep": sweep})
    whole = expand(cfg)
    rng = np.random.default_rng(0)
    for _ in range(10):
        a, b = sorted(rng.integers(0, cfg.n_runs + 1, 2))
        part = expand(cfg, a, b)
        pd.testing.assert_frame_equal(
            part.reset_index(drop=True), whole.iloc[a:b].reset_index(drop=True)
        )


def random_cfg(seed=0, samples=4000):
    return config_from_dict(
        {
            "sweep": {
                "mode": "random",
                "samples": samples,
                "sweep_seed": seed,
                "lr": {"loguniform": [1e-3, 1.0]},
                "scale": {"uniform": [0.5, 2.0]},
                "scheme": {"choice": ["normal", "he", "xavier"]},
                "max_steps": {"uniform": [10, 20]},
                "seed": {"start": 100, "count": 5},
                "init_w1": {"uniform": [-3, 3]},
            }
        }
    )


def test_random_mode_counts_bounds_and_reproducibility():
    a = expand(random_cfg(0))
    assert len(a) == 4000
    pd.testing.assert_frame_equal(a, expand(random_cfg(0)))
    b = expand(random_cfg(1))
    assert not np.array_equal(a["lr"], b["lr"])
    assert a["lr"].between(1e-3, 1.0).all() and a["scale"].between(0.5, 2.0).all()
    assert set(a["scheme"]) == {"normal", "he", "xavier"}
    assert set(a["max_steps"]) == set(range(10, 21))
    assert a["max_steps"].dtype == np.int64
    assert set(a["seed"]) == {100, 101, 102, 103, 104}
    assert a["init_w1"].between(-3, 3).all()
    # loguniform: log10(lr) is uniform on [-3, 0]; uniform: mean in the middle
    # (4000 samples: standard errors about 0.014 and 0.007, bounds are > 5 of them)
    assert abs(np.log10(a["lr"]).mean() - (-1.5)) < 0.08
    assert abs(a["scale"].mean() - 1.25) < 0.04
    # the axes are drawn independently of each other
    assert abs(np.corrcoef(np.log(a["lr"]), a["scale"])[0, 1]) < 0.08


def test_random_mode_samples_do_not_depend_on_how_many():
    small, big = expand(random_cfg(3, samples=100)), expand(random_cfg(3, samples=1000))
    pd.testing.assert_frame_equal(small, big.iloc[:100])


def test_map_config_expands_to_the_grid_of_its_pixels():
    """A [map] config's runs are the grid sweep over its pixel values (y slowest, x fastest),
    with map_i, map_j in front: same settings, same starts, row for row."""
    from bpsweep.sweeps.window import axis_values

    base = {"init": {"preset": "statquest-start"}, "train": {"lr": 0.1}}
    mapped = config_from_dict(
        {
            **base,
            "map": {
                "x": "init_w1",
                "y": "init_w4",
                "center": [2.74, 0.63],
                "span": [4.0, 2.0],
                "resolution": [5, 3],
            },
        }
    )
    xs, ys = axis_values(2.74, 4.0, 5), axis_values(0.63, 2.0, 3)
    grid = config_from_dict({**base, "sweep": {"init_w4": ys.tolist(), "init_w1": xs.tolist()}})
    got, want = expand(mapped), expand(grid)
    assert got["map_i"].tolist() == [0, 1, 2, 3, 4] * 3
    assert got["map_j"].tolist() == [0] * 5 + [1] * 5 + [2] * 5
    pd.testing.assert_frame_equal(got.drop(columns=["map_i", "map_j"]), want, check_exact=True)
    assert got["init_w1"].tolist() == [xs[i] for i in got["map_i"]]
    assert got["init_w4"].tolist() == [ys[j] for j in got["map_j"]]
