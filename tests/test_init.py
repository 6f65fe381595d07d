"""Initial parameters: presets, explicit values and seeded random schemes."""

import numpy as np
import pytest

import naive
from bpsweep import initial_params
from bpsweep.engine.starts import (
    PRESETS,
    SCHEMES,
    draw_batch,
    draw_initial,
    normal_starts,
    parse_init,
)
from bpsweep.model import param_names


def test_presets_are_the_lessons_values():
    assert initial_params("statquest-fitted").tolist() == [
        3.34,
        -1.43,
        -3.53,
        0.57,
        -1.22,
        -2.30,
        0.0,
    ]
    assert initial_params("statquest-start").tolist() == [2.74, 0.0, -1.13, 0.0, 0.36, 0.63, 0.0]
    assert list(PRESETS["statquest-start"]) == list(param_names(2))


def test_explicit_values_override_preset_or_draw():
    p = initial_params("statquest-fitted,b3=1.5")
    assert p[6] == 1.5 and p[0] == 3.34
    full = initial_params("w1=2.74,b1=0,w2=-1.13,b2=0,w3=0.36,w4=0.63,b3=0")
    assert full.tolist() == initial_params("statquest-start").tolist()
    partial = initial_params("w1=9", seed=4)
    drawn = draw_initial(seed=4)
    assert partial[0] == 9 and partial[1:].tolist() == drawn[1:].tolist()
    assert initial_params({"w1": 1.0}, seed=4)[0] == 1.0
    assert parse_init("normal, w1=2") == ("normal", {"w1": 2.0})


@pytest.mark.parametrize("scheme", list(SCHEMES))
@pytest.mark.parametrize("hidden", [1, 2, 5])
@pytest.mark.parametrize("biases", ["zeros", "drawn"])
def test_draws_match_documented_recipe(scheme, hidden, biases):
    for seed in (0, 1, 12345, 2**63 - 1):
        got = draw_initial(hidden, scheme, 0.7, biases, seed)
        want = naive.draw(hidden, scheme, 0.7, biases, seed)
        np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)


def test_draw_depends_only_on_seed_and_settings():
    seeds = np.array([5, 3, 9, 3, 0], dtype=np.uint64)
    n = seeds.size
    out = np.empty((n, 7))
    draw_batch(seeds, 2, np.zeros(n, np.int64), np.ones(n), np.zeros(n, bool), out)
    for i, s in enumerate(seeds):
        assert out[i].tolist() == draw_initial(seed=int(s)).tolist()
    assert out[1].tolist() == out[3].tolist()
    assert out[0].tolist() != out[1].tolist()
    # weights do not change when biases are drawn too (biases come after in the draw order)
    with_biases = draw_initial(seed=5, biases="drawn")
    assert with_biases[[0, 2, 4, 5]].tolist() == out[0, [0, 2, 4, 5]].tolist()
    assert with_biases[[1, 3, 6]].tolist() != [0, 0, 0]
    assert out[:, [1, 3, 6]].tolist() == [[0.0, 0.0, 0.0]] * n


def test_normal_starts_are_seeds_0_to_r():
    starts = normal_starts(4, 3)
    assert starts.shape == (4, 10)
    for r in range(4):
        assert starts[r].tolist() == draw_initial(3, seed=r).tolist()


def test_scheme_distributions():
    n = 40000
    seeds = np.arange(n, dtype=np.uint64)
    out = np.empty((n, 7))
    for scheme, code in SCHEMES.items():
        draw_batch(seeds, 2, np.full(n, code), np.full(n, 2.0), np.ones(n, bool), out)
        hidden_w, out_w = out[:, [0, 2]].ravel(), out[:, [4, 5]].ravel()
        want = {
            "normal": (2.0, 2.0),
            "uniform": (2 / 3**0.5, 2 / 3**0.5),
            "xavier": (2 * (2 / 3) ** 0.5, 2 * (2 / 3) ** 0.5),
            "he": (2 * 2**0.5, 2.0),
        }
        assert abs(hidden_w.mean()) < 0.05 and abs(out_w.mean()) < 0.05
        assert hidden_w.std() == pytest.approx(want[scheme][0], rel=0.02)
        assert out_w.std() == pytest.approx(want[scheme][1], rel=0.02)
        if scheme == "uniform":
            assert np.abs(out).max() <= 2.0
    # different seeds give independent-looking draws
    assert abs(np.corrcoef(out[:, 0], out[:, 2])[0, 1]) < 0.03


def test_bad_init_specs():
    with pytest.raises(ValueError, match="names both 'normal' and 'he'"):
        parse_init("normal,he")
    with pytest.raises(ValueError, match="init array must have 7 values"):
        initial_params([1.0, 2.0])
    with pytest.raises(ValueError, match="unknown init scheme 'cauchy'"):
        draw_initial(scheme="cauchy")
    with pytest.raises(ValueError, match="seed: expected a whole number"):
        draw_initial(seed=2**63)
