"""Tables: outcome table (with Wilson intervals) and sensitivity, on small sweeps with known
answers, checked against slow, plain-Python references (loops over the rows, tests/naive.py),
never against the code under test."""

import math

import numpy as np
import pandas as pd
import pytest

import naive
from bpsweep.analysis import tables as T
from bpsweep.model import param_names
from bpsweep.sweeps.results import varying_settings
from results_helper import make_results

NAMES = param_names(2)


@pytest.fixture(scope="module")
def grid():
    """Random normal starts x three learning rates (small: 40 seeds)."""
    return make_results(lrs=(0.03, 0.1, 0.3), seeds=range(40))


# ---------------------------------------------------------------- outcome table


def _reference_outcomes(df, key, fit):
    rows = []
    for value in sorted(set(df[key])):
        part = [r for _, r in df.iterrows() if r[key] == value]
        conv = [r for r in part if r["status"] == "converged"]
        alive = [r["final_ssr"] for r in part if r["status"] != "diverged"]
        steps = [r["steps"] for r in conv]
        rows.append(
            {
                key: value,
                "runs": len(part),
                "converged": len(conv) / len(part),
                "max_steps": sum(r["status"] == "max_steps" for r in part) / len(part),
                "diverged": sum(r["status"] == "diverged" for r in part) / len(part),
                "good_fit": sum(r["final_ssr"] < fit for r in part) / len(part),
                "false_conv": sum(r["final_ssr"] >= fit for r in conv) / len(part),
                "steps_p10": np.percentile(steps, 10) if steps else np.nan,
                "steps_median": np.percentile(steps, 50) if steps else np.nan,
                "steps_p90": np.percentile(steps, 90) if steps else np.nan,
                "ssr_min": min(alive) if alive else np.nan,
                "ssr_median": np.percentile(alive, 50) if alive else np.nan,
                "ssr_p90": np.percentile(alive, 90) if alive else np.nan,
            }
        )
    return pd.DataFrame(rows)


def test_outcome_table_matches_reference(grid):
    table = T.outcome_table(grid)
    assert varying_settings(grid) == ["lr"]
    ref = _reference_outcomes(grid, "lr", 0.01)
    pd.testing.assert_frame_equal(
        table[ref.columns], ref, check_dtype=False, check_column_type=False
    )
    # then each share's 95% Wilson interval over the group's runs
    shares = ["converged", "max_steps", "diverged", "good_fit", "false_conv"]
    assert list(table.columns[len(ref.columns) :]) == [
        f"{s}_{end}" for s in shares for end in ("lo", "hi")
    ]
    for _, row in table.iterrows():
        for s in shares:
            lo, hi = naive.wilson(round(row[s] * row["runs"]), row["runs"])
            assert row[f"{s}_lo"] == pytest.approx(lo, abs=1e-12)
            assert row[f"{s}_hi"] == pytest.approx(hi, abs=1e-12)
            assert row[f"{s}_lo"] <= row[s] <= row[f"{s}_hi"]


def test_outcome_table_by_column_and_threshold(grid):
    table = T.outcome_table(grid, by=["lr"], fit_ssr=0.7)
    ref = _reference_outcomes(grid, "lr", 0.7)
    pd.testing.assert_frame_equal(
        table[ref.columns], ref, check_dtype=False, check_column_type=False
    )
    one = T.outcome_table(grid, by=[])
    assert len(one) == 1 and one["runs"].iloc[0] == len(grid)


def test_all_converge():
    # b3 alone from the fitted values converges for every lr below 1/3 (lesson 000)
    df = make_results(lrs=(0.05, 0.1, 0.2), seeds=range(3), init="statquest-fitted", trainable="b3")
    table = T.outcome_table(df)
    assert (table["converged"] == 1).all() and (table["good_fit"] == 1).all()
    assert (table["runs"] == 3).all() and (table["false_conv"] == 0).all()
    assert table.loc[table["lr"] == 0.1, "steps_median"].item() == 10  # statquest.md


def test_lr_that_always_diverges():
    df = make_results(lrs=(0.1, 1.0), seeds=range(20))
    table = T.outcome_table(df).set_index("lr")
    assert table.loc[1.0, "diverged"] == 1 and table.loc[1.0, "good_fit"] == 0
    assert math.isnan(table.loc[1.0, "ssr_median"]) and math.isnan(table.loc[1.0, "steps_median"])
    assert table.loc[0.1, "diverged"] == 0


def test_b3_threshold():
    # SSR is quadratic in b3 with curvature 2n = 6, so gradient descent is stable iff lr < 1/3
    lrs = (0.1, 0.25, 0.32, 0.34, 0.4, 0.6)
    df = make_results(lrs=lrs, seeds=[0], init="statquest-fitted", trainable="b3")
    table = T.outcome_table(df)
    assert list(table["converged"] == 1) == [lr < 1 / 3 for lr in lrs]
    assert list(table["good_fit"] == 1) == [lr < 1 / 3 for lr in lrs]
    assert list(table["diverged"] == 1) == [lr > 1 / 3 for lr in lrs]


def test_false_convergence_lesson_003():
    # statquest.md: from the lesson's start, lr = 0.01 "converges" after 16 steps, SSR 0.72
    df = make_results(lrs=(0.01, 0.1), seeds=[0], init="statquest-start")
    table = T.outcome_table(df).set_index("lr")
    assert table.loc[0.01, "false_conv"] == 1 and table.loc[0.01, "good_fit"] == 0
    assert table.loc[0.01, "steps_median"] == 16
    assert table.loc[0.01, "ssr_median"] == pytest.approx(0.72, abs=0.01)
    assert table.loc[0.1, "good_fit"] == 1 and table.loc[0.1, "false_conv"] == 0
    assert list(T.outcomes(df)) == ["false convergence", "good fit"]


# ---------------------------------------------------------------- sensitivity


def _spearman_ref(x, y):
    def ranks(v):
        order = sorted(range(len(v)), key=lambda i: v[i])
        r = [0.0] * len(v)
        i = 0
        while i < len(v):
            j = i
            while j + 1 < len(v) and v[order[j + 1]] == v[order[i]]:
                j += 1
            for k in range(i, j + 1):
                r[order[k]] = (i + j) / 2 + 1
            i = j + 1
        return r

    rx, ry = ranks(list(x)), ranks(list(y))
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    return cov / math.sqrt(sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry))


def test_sensitivity_rho_with_ties_missing_values_and_constants():
    # rho_* are Spearman correlations (average ranks for ties) within each group; runs that
    # lack a parameter (NaN) count for none of its figures; a constant side gives NaN
    rng = np.random.default_rng(1)
    n = 300
    x = np.round(rng.normal(size=n), 1)  # ties
    df = pd.DataFrame({f"init_{p}": rng.normal(size=n) for p in NAMES})
    df["init_w1"] = x
    df["init_b3"] = np.where(np.arange(n) % 7 == 0, np.nan, df["init_b3"])
    df["lr"] = np.repeat([0.1, 0.2, 0.3], n // 3)
    for p in NAMES:
        df[f"final_{p}"] = 0.0
    df["final_ssr"] = np.where(x + rng.normal(size=n) > 0, 1e-4, 0.5)
    df.loc[df["lr"] == 0.3, "final_ssr"] = 0.5  # no good fit at all: rho_fit is NaN
    df["status"] = np.where(rng.random(n) < 0.7, "converged", "max_steps")
    df["steps"] = np.round(50 + 10 * x + rng.normal(size=n) * 5).astype(int)
    table = T.sensitivity(df)
    for lr in (0.1, 0.2, 0.3):
        sub = df[df["lr"] == lr]
        good = (sub["final_ssr"] < 0.01).astype(float)
        conv = sub[sub["status"] == "converged"]
        for p in NAMES:
            row = table[(table["lr"] == lr) & (table["param"] == p)].iloc[0]
            ok = sub[f"init_{p}"].notna()
            okc = conv[f"init_{p}"].notna()
            assert row["runs"] == ok.sum()
            assert row["rho_steps"] == pytest.approx(
                _spearman_ref(conv[f"init_{p}"][okc], conv["steps"][okc]), abs=1e-12
            )
            if lr == 0.3:
                assert math.isnan(row["rho_fit"]) and math.isnan(row["rho_fit_abs"])
                continue
            assert row["rho_fit"] == pytest.approx(
                _spearman_ref(sub[f"init_{p}"][ok], good[ok]), abs=1e-12
            )
            assert row["rho_fit_abs"] == pytest.approx(
                _spearman_ref(sub[f"init_{p}"][ok].abs(), good[ok]), abs=1e-12
            )


def _synthetic(n=500, seed=3):
    """No training: good fit iff init_w1 > 0; steps grow with init_w2; other inits noise."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({f"init_{p}": rng.normal(size=n) for p in NAMES})
    df["lr"] = np.repeat([0.1, 0.2], n // 2)
    for p in NAMES:
        df[f"final_{p}"] = 0.0
    df["final_ssr"] = np.where(df["init_w1"] > 0, 1e-4, 0.5)
    df["steps"] = (100 + 50 * df["init_w2"].rank()).round().astype(int)
    df["status"] = "converged"
    return df


def test_sensitivity_finds_the_parameter_that_matters():
    df = _synthetic()
    table = T.sensitivity(df)
    for lr, part in table.groupby("lr"):
        top = part.iloc[0]
        assert top["param"] == "w1" and top["rank"] == 1
        assert top["fit_q1"] == 0 and top["fit_q5"] == 1 and top["spread"] == 1
        sub = df[df["lr"] == lr]
        assert top["rho_fit"] == pytest.approx(
            _spearman_ref(sub["init_w1"], sub["final_ssr"] < 0.01), abs=1e-12
        )
        w2 = part[part["param"] == "w2"].iloc[0]
        assert w2["rho_steps"] == pytest.approx(1.0)
        assert w2["rho_steps"] == pytest.approx(_spearman_ref(sub["init_w2"], sub["steps"]))


def test_sensitivity_bins_match_reference():
    df = _synthetic()
    sub = df[df["lr"] == 0.1]
    bins = T.sensitivity_bins(df, "w3", bins=4)
    mine = bins[bins["lr"] == 0.1].reset_index(drop=True)
    values = np.sort(sub["init_w3"].to_numpy())
    good = sub.sort_values("init_w3", kind="mergesort")["final_ssr"].to_numpy() < 0.01
    for b in range(4):
        # run i (0-based, in sorted order) of n falls in bin floor(i * bins / n)
        lo, hi = -(-b * len(values) // 4), -(-(b + 1) * len(values) // 4)
        assert mine.loc[b, "runs"] == hi - lo
        assert mine.loc[b, "lo"] == values[lo] and mine.loc[b, "hi"] == values[hi - 1]
        assert mine.loc[b, "good_fit"] == pytest.approx(good[lo:hi].mean())
    table = T.sensitivity(df, bins=4)
    row = table[(table["lr"] == 0.1) & (table["param"] == "w3")].iloc[0]
    assert [row[f"fit_q{b + 1}"] for b in range(4)] == pytest.approx(list(mine["good_fit"]))


# ---------------------------------------------------------------- Wilson intervals


@pytest.mark.parametrize(
    ("k", "n", "lo", "hi"),
    [  # Newcombe (1998), Statistics in Medicine 17:857, Table I, method 3 (Wilson score)
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_published_values(k, n, lo, hi):
    got = T.wilson_interval(k, n)
    assert got[0] == pytest.approx(lo, abs=5e-5) and got[1] == pytest.approx(hi, abs=5e-5)
    assert naive.wilson(k, n) == pytest.approx((lo, hi), abs=5e-5)


def test_wilson_by_hand_and_against_the_reference():
    # 17 of 100 at 95%: z = 1.959964, centre = (0.17 + z^2/200) / (1 + z^2/100) = 0.182208,
    # half = z sqrt(0.17 * 0.83 / 100 + z^2 / 40000) / (1 + z^2/100) = 0.073272
    lo, hi = T.wilson_interval(17, 100)
    assert lo == pytest.approx(0.182208 - 0.073272, abs=2e-6)
    assert hi == pytest.approx(0.182208 + 0.073272, abs=2e-6)
    k = np.array([0, 1, 5, 50, 99, 100, 3, 0])
    n = np.array([100, 100, 100, 100, 100, 100, 3, 1])
    for level in (0.9, 0.95, 0.99):
        los, his = T.wilson_interval(k, n, level)
        for i in range(len(k)):
            ref = naive.wilson(int(k[i]), int(n[i]), level)
            assert (los[i], his[i]) == pytest.approx(ref, abs=1e-12)
    lo, hi = T.wilson_interval(np.array([0, 5]), np.array([0, 10]))
    assert math.isnan(lo[0]) and math.isnan(hi[0]) and lo[1] < 0.5 < hi[1]
    with pytest.raises(ValueError, match="level"):
        T.wilson_interval(1, 2, level=1.0)


# ---------------------------------------------------------------- group computations


def _random_groups(seed, ties):
    rng = np.random.default_rng(seed)
    n, groups = int(rng.integers(1, 2000)), int(rng.integers(1, 40))
    codes = rng.integers(0, groups, n)
    values = rng.normal(size=n) * 10.0 ** rng.integers(-5, 5)
    if ties:
        values = np.round(values, 1)
        values[rng.random(n) < 0.05] = -0.0
    values[rng.random(n) < 0.1] = np.nan
    return values, codes, groups


def _same(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.array_equal(np.isnan(a), np.isnan(b)) and (a[~np.isnan(a)] == b[~np.isnan(b)]).all()


@pytest.mark.parametrize("big", [10**9, 40, 0])
@pytest.mark.parametrize("seed", range(8))
def test_group_quantiles_medians_and_ranks_are_pandas_to_the_last_bit(seed, big, monkeypatch):
    """The tables' group computations (numpy: small groups sorted together, groups above
    BIG_GROUP partitioned) give pandas' groupby quantile, median and rank (average; first:
    ties in row order) exactly: the tables did not change."""
    from bpsweep.analysis.endpoints import grouped_median

    monkeypatch.setattr(T, "BIG_GROUP", big)
    values, codes, groups = _random_groups(seed, ties=seed % 2 == 0)
    series = pd.Series(values).groupby(codes)
    qs = (0.0, 0.1, 0.5, 0.9)
    for q, got in zip(qs, T.grouped_quantiles(values, codes, groups, qs)):
        assert _same(got, series.quantile(q).reindex(range(groups)).to_numpy()), q
    assert _same(grouped_median(values, codes, groups), series.median().reindex(range(groups)))
    order = T._Order(values, codes, groups, row_order_ties=True)
    assert _same(order.ranks(len(values)), series.rank().to_numpy())
    assert _same(order.ranks(len(values), method="first"), series.rank(method="first"))
    keep = np.random.default_rng(seed).random(len(values)) < 0.6
    sub = pd.Series(values[keep]).groupby(codes[keep])
    assert _same(order.ranks(len(values), keep)[keep], sub.rank().to_numpy())
    assert _same(order.restricted(keep).ranks(int(keep.sum())), sub.rank().to_numpy())


def test_sensitivity_on_given_groups_is_the_same_as_on_their_keys(grid):
    keys = ["lr"]
    codes, frame = T.group_codes(grid, keys)
    by_groups = T.sensitivity(grid, T.Groups(codes, frame))
    assert by_groups.equals(T.sensitivity(grid, keys))
    assert T.outcome_table(grid, T.Groups(codes, frame)).equals(T.outcome_table(grid, keys))
