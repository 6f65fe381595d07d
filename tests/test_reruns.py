"""Re-runs: the chaos check (starts moved by 1e-12) and traces that reproduce CSV rows."""

import numpy as np
import pandas as pd
import pytest

from bpsweep.analysis import reruns as R
from bpsweep.errors import ResultsError
from bpsweep.model import param_names
from bpsweep.sweeps.results import load_results
from results_helper import make_results, write_results

NAMES = param_names(2)


@pytest.fixture(scope="module")
def grid():
    """Random normal starts x three learning rates (small: 40 seeds)."""
    return make_results(lrs=(0.03, 0.1, 0.3), seeds=range(40))


@pytest.fixture(scope="module")
def grid_csv(grid, tmp_path_factory):
    path = tmp_path_factory.mktemp("res") / "grid.csv"
    write_results(grid, path)
    return path


# ---------------------------------------------------------------- re-runs: chaos and traces


def test_chaos_calm_and_chaotic():
    # statquest.md: chaotic at larger learning rates; calm at lr = 0.01
    df = make_results(lrs=(0.01, 0.3), seeds=range(100))
    runs = R.chaos(df)
    table = R.chaos_table(df, runs).set_index("lr")
    assert table.loc[0.01, "changed"] == 0 and table.loc[0.01, "moved"] == 0
    assert table.loc[0.3, "changed"] > 0
    # with no perturbation the re-run reproduces every run
    same = R.chaos(df, rel=0.0)
    assert not same["changed"].any() and not same["moved"].any()
    assert np.array_equal(same["final_ssr_new"].to_numpy(), df["final_ssr"].to_numpy())
    sample = R.chaos(df, sample=17)
    assert len(sample) == 17 and sample.index.is_unique


def test_trace_reproduces_csv_rows(grid_csv):
    df = load_results(grid_csv)
    ids = [0, 5, 41, 60, 95, 119]  # every lr, some chaotic at 0.3
    trace, check = R.trace_runs(df, ids)
    assert check["reproduced"].all()
    for run_id in ids:
        row = df[df["run_id"] == run_id].iloc[0]
        part = trace[trace["run_id"] == run_id]
        assert len(part) == row["steps"] + 1
        assert part["ssr"].iloc[-1] == row["final_ssr"]  # bit for bit, through the CSV
        assert part["ssr"].iloc[0] == row["initial_ssr"]
        for p in NAMES:
            assert part[p].iloc[0] == row[f"init_{p}"]
            assert part[p].iloc[-1] == row[f"final_{p}"]
    with pytest.raises(ResultsError, match="no run with run_id 9999"):
        R.trace_runs(df, [9999])


def test_trace_flags_an_edited_row(grid_csv, tmp_path):
    df = pd.read_csv(grid_csv)
    df.loc[df["run_id"] == 3, "steps"] += 1
    path = tmp_path / "edited.csv"
    write_results(df, path)
    _, check = R.trace_runs(load_results(path), [2, 3])
    assert list(check["reproduced"]) == [True, False]


def test_chaos_repeats_extend_the_first_perturbation():
    df = make_results(lrs=(0.1, 0.3), seeds=range(40))
    one = R.chaos(df, sample=30, seed=4)
    three = R.chaos(df, sample=30, seed=4, repeats=3)
    assert len(three) == 90 and list(three["repeat"].unique()) == [0, 1, 2]
    first = three[three["repeat"] == 0]
    pd.testing.assert_frame_equal(first, one)
    assert set(three.index) == set(one.index)
    table = R.chaos_table(df, three)
    assert list(table["runs"]) == [
        (df.loc[one.index, "lr"] == lr).sum() for lr in table["lr"]
    ]  # runs re-run, not re-runs
    for lr, row in table.set_index("lr").iterrows():
        mine = three[df.loc[three.index, "lr"].to_numpy() == lr]
        assert row["changed"] == pytest.approx(mine["changed"].mean())


def _share(status, ssr, name, fit=0.01):
    conv = status == "converged"
    return {
        "converged": conv,
        "max_steps": status == "max_steps",
        "diverged": status == "diverged",
        "good_fit": ssr < fit,
        "false_conv": conv and not ssr < fit,
    }[name]


def test_chaos_shares_are_the_shares_of_the_re_runs():
    df = make_results(lrs=(0.03, 0.1, 0.3), seeds=range(60))
    runs = R.chaos(df, repeats=3)
    spread = R.chaos_shares(df, runs)
    for _, row in spread.iterrows():
        for name in ("converged", "max_steps", "diverged", "good_fit", "false_conv"):
            values = []
            for r in range(3):
                part = runs[
                    (runs["repeat"] == r) & (df.loc[runs.index, "lr"] == row["lr"]).to_numpy()
                ]
                flags = [
                    _share(s, v, name) for s, v in zip(part["status_new"], part["final_ssr_new"])
                ]
                values.append(sum(flags) / len(flags))
            assert row[f"{name}_chaos_min"] == pytest.approx(min(values), abs=1e-15)
            assert row[f"{name}_chaos_max"] == pytest.approx(max(values), abs=1e-15)
    # unmoved starts reproduce every run: the range is the share itself
    still = R.chaos_shares(df, R.chaos(df, rel=0.0, repeats=2))
    for _, row in still.iterrows():
        part = df[df["lr"] == row["lr"]]
        good = (part["final_ssr"] < 0.01).mean()
        assert row["good_fit_chaos_min"] == row["good_fit_chaos_max"] == good


def test_chaos_shares_from_a_sample_add_the_change_to_the_group_share():
    df = make_results(lrs=(0.1, 0.3), seeds=range(50))
    runs = R.chaos(df, sample=37, repeats=2, seed=1)
    spread = R.chaos_shares(df, runs).set_index("lr")
    for lr in (0.1, 0.3):
        group = df[df["lr"] == lr]
        k_all = sum(s == "converged" for s in group["status"])
        values = []
        for r in range(2):
            part = runs[(runs["repeat"] == r) & (df.loc[runs.index, "lr"] == lr).to_numpy()]
            old = sum(s == "converged" for s in df.loc[part.index, "status"])
            new = sum(s == "converged" for s in part["status_new"])
            values.append((k_all + (new - old) * len(group) / len(part)) / len(group))
        assert spread.loc[lr, "converged_chaos_min"] == pytest.approx(min(values), abs=1e-15)
        assert spread.loc[lr, "converged_chaos_max"] == pytest.approx(max(values), abs=1e-15)


def test_trace_re_runs_per_layer_rates_and_every_setting(tmp_path):
    """A row of a sweep over lr_hidden x lr_output with momentum re-runs with its own rates (a
    re-run that fell back to lr would reach other final parameters)."""
    from bpsweep.sweeps.runner import run_sweep

    cfg = tmp_path / "rates.toml"
    cfg.write_text(
        'name = "rates"\n[init]\npreset = "statquest-start"\n'
        '[train]\noptimizer = "momentum"\nmomentum = 0.5\nmax_steps = 300\nlr = 0.05\n'
        "[sweep]\nlr_hidden = [0.01, 0.2]\nlr_output = [0.02, 0.1]\n"
    )
    df = run_sweep(cfg, out_dir=tmp_path / "out", jobs=1)
    settings = R.run_settings(df.iloc[3])
    assert (settings["lr_hidden"], settings["lr_output"], settings["momentum"]) == (0.2, 0.1, 0.5)
    trace, check = R.trace_runs(df, list(df["run_id"]))
    assert check["reproduced"].all()
    assert df["final_ssr"].nunique() == 4  # the rates matter: a fall-back to lr would show
    last = trace.groupby("run_id")["ssr"].last()
    assert list(last) == list(df["final_ssr"])
