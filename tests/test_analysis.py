"""Analyses on small sweeps with known answers, checked against slow, plain-Python references.

Sweeps are trained with batch.train_runs (tests/results_helper.py); the answers come from the
lessons (statquest.md) or from loops over the rows, never from the code under test.
"""

import json
import math

import numpy as np
import pandas as pd
import pytest

from bpsweep import analysis as A
from bpsweep.commands import main
from bpsweep.model import param_names
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
    table = A.outcome_table(grid)
    assert A.varying_settings(grid) == ["lr"]
    ref = _reference_outcomes(grid, "lr", 0.01)
    pd.testing.assert_frame_equal(table, ref, check_dtype=False, check_column_type=False)


def test_outcome_table_by_column_and_threshold(grid):
    table = A.outcome_table(grid, by=["lr"], fit_ssr=0.7)
    ref = _reference_outcomes(grid, "lr", 0.7)
    pd.testing.assert_frame_equal(table, ref, check_dtype=False, check_column_type=False)
    one = A.outcome_table(grid, by=[])
    assert len(one) == 1 and one["runs"].iloc[0] == len(grid)


def test_all_converge():
    # b3 alone from the fitted values converges for every lr below 1/3 (lesson 000)
    df = make_results(lrs=(0.05, 0.1, 0.2), seeds=range(3), init="statquest-fitted", trainable="b3")
    table = A.outcome_table(df)
    assert (table["converged"] == 1).all() and (table["good_fit"] == 1).all()
    assert (table["runs"] == 3).all() and (table["false_conv"] == 0).all()
    assert table.loc[table["lr"] == 0.1, "steps_median"].item() == 10  # statquest.md


def test_lr_that_always_diverges():
    df = make_results(lrs=(0.1, 1.0), seeds=range(20))
    table = A.outcome_table(df).set_index("lr")
    assert table.loc[1.0, "diverged"] == 1 and table.loc[1.0, "good_fit"] == 0
    assert math.isnan(table.loc[1.0, "ssr_median"]) and math.isnan(table.loc[1.0, "steps_median"])
    assert table.loc[0.1, "diverged"] == 0


def test_b3_threshold():
    # SSR is quadratic in b3 with curvature 2n = 6, so gradient descent is stable iff lr < 1/3
    lrs = (0.1, 0.25, 0.32, 0.34, 0.4, 0.6)
    df = make_results(lrs=lrs, seeds=[0], init="statquest-fitted", trainable="b3")
    table = A.outcome_table(df)
    assert list(table["converged"] == 1) == [lr < 1 / 3 for lr in lrs]
    assert list(table["good_fit"] == 1) == [lr < 1 / 3 for lr in lrs]
    assert list(table["diverged"] == 1) == [lr > 1 / 3 for lr in lrs]


def test_false_convergence_lesson_003():
    # statquest.md: from the lesson's start, lr = 0.01 "converges" after 16 steps, SSR 0.72
    df = make_results(lrs=(0.01, 0.1), seeds=[0], init="statquest-start")
    table = A.outcome_table(df).set_index("lr")
    assert table.loc[0.01, "false_conv"] == 1 and table.loc[0.01, "good_fit"] == 0
    assert table.loc[0.01, "steps_median"] == 16
    assert table.loc[0.01, "ssr_median"] == pytest.approx(0.72, abs=0.01)
    assert table.loc[0.1, "good_fit"] == 1 and table.loc[0.1, "false_conv"] == 0
    assert list(A.outcomes(df)) == ["false convergence", "good fit"]


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


def test_spearman_matches_reference():
    rng = np.random.default_rng(1)
    x = rng.normal(size=200)
    y = np.round(x + rng.normal(size=200), 1)  # ties
    assert A.spearman(x, y) == pytest.approx(_spearman_ref(x, y), abs=1e-12)
    assert A.spearman(x, (x > 0).astype(float)) == pytest.approx(
        _spearman_ref(x, (x > 0).astype(float)), abs=1e-12
    )
    assert math.isnan(A.spearman(x, np.ones(200)))


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
    table = A.sensitivity(df)
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
    bins = A.sensitivity_bins(df, "w3", bins=4)
    mine = bins[bins["lr"] == 0.1].reset_index(drop=True)
    values = np.sort(sub["init_w3"].to_numpy())
    good = sub.sort_values("init_w3", kind="mergesort")["final_ssr"].to_numpy() < 0.01
    for b in range(4):
        # run i (0-based, in sorted order) of n falls in bin floor(i * bins / n)
        lo, hi = -(-b * len(values) // 4), -(-(b + 1) * len(values) // 4)
        assert mine.loc[b, "runs"] == hi - lo
        assert mine.loc[b, "lo"] == values[lo] and mine.loc[b, "hi"] == values[hi - 1]
        assert mine.loc[b, "good_fit"] == pytest.approx(good[lo:hi].mean())
    table = A.sensitivity(df, bins=4)
    row = table[(table["lr"] == 0.1) & (table["param"] == "w3")].iloc[0]
    assert [row[f"fit_q{b + 1}"] for b in range(4)] == pytest.approx(list(mine["good_fit"]))


# ---------------------------------------------------------------- basins


def _swap(vec):
    w1, b1, w2, b2, w3, w4, b3 = vec
    return np.array([w2, b2, w1, b1, w4, w3, b3])


def test_canonical_final_matches_reference():
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(50, 7))
    df = pd.DataFrame(vecs, columns=[f"final_{p}" for p in NAMES])
    out = A.canonical_final(df, 2)
    for v, c in zip(vecs, out):
        units = sorted([(v[0], v[1], v[4]), (v[2], v[3], v[5])])
        ref = [units[0][0], units[0][1], units[1][0], units[1][1], units[0][2], units[1][2], v[6]]
        assert list(c) == ref
    swapped = pd.DataFrame([_swap(v) for v in vecs], columns=df.columns)
    assert np.array_equal(A.canonical_final(swapped, 2), out)


def test_canonical_final_three_hidden_units():
    names = param_names(3)
    v = np.arange(10.0)[::-1]  # units (9,8,3), (7,6,2), (5,4,1), output bias 0
    df = pd.DataFrame([v], columns=[f"final_{p}" for p in names])
    assert list(A.canonical_final(df, 3)[0]) == [5, 4, 7, 6, 9, 8, 1, 2, 3, 0]


def test_mirror_images_share_a_basin():
    start = np.array([2.74, 0.0, -1.13, 0.0, 0.36, 0.63, 0.0])  # lesson 003's start
    other = make_results(lrs=(0.1,), seeds=range(209, 210))  # ends in a different solution
    a = make_results(lrs=(0.1,), seeds=[0], init=start)
    b = make_results(lrs=(0.1,), seeds=[1], init=_swap(start))
    df = pd.concat([a, b, other], ignore_index=True)
    df["run_id"] = range(3)
    assert (df["final_ssr"] < 0.01).all()
    # mirror runs do the same float ops (a + b == b + a), so they end exactly mirrored
    fa = df.loc[0, [f"final_{p}" for p in NAMES]].to_numpy(float)
    fb = df.loc[1, [f"final_{p}" for p in NAMES]].to_numpy(float)
    assert np.array_equal(_swap(fa), fb)
    table, labels = A.basins(df, with_labels=True)
    assert labels[0] == labels[1] != labels[2]
    assert list(table["runs"]) == [2, 1]
    assert table.loc[0, "rep_run_id"] in (0, 1)


def test_cluster_points_known_groups():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 0.01, size=(30, 3))
    b = rng.normal(5, 0.01, size=(10, 3))
    chain = np.array([[10.0, 0, 0], [10.2, 0, 0], [10.4, 0, 0], [10.6, 0, 0]])
    labels = A.cluster_points(np.vstack([b, a, chain]), tol=0.25)
    assert set(labels[10:40]) == {0} and set(labels[:10]) == {1} and set(labels[40:]) == {2}
    # the cap: cells beyond it still join a touching capped cell's cluster (a straddles 0, so
    # it occupies several cells)
    capped = A.cluster_points(np.vstack([b, a, chain]), tol=0.25, max_cells=3)
    assert len(set(capped[10:40])) == 1 and capped[10] != capped[0]


def test_stuck_points_are_the_poor_runs():
    df = make_results(lrs=(0.01,), seeds=range(30))
    table, labels = A.stuck_points(df, with_labels=True)
    poor = (df["final_ssr"] >= 0.01) & (df["status"] != "diverged")
    assert ((labels > 0) == poor).all() and table["runs"].sum() == poor.sum()
    assert table["share"].sum() == pytest.approx(poor.mean())


# ---------------------------------------------------------------- re-runs: chaos and traces


def test_chaos_calm_and_chaotic():
    # statquest.md: chaotic at larger learning rates; calm at lr = 0.01
    df = make_results(lrs=(0.01, 0.3), seeds=range(100))
    runs = A.chaos(df)
    table = A.chaos_table(df, runs).set_index("lr")
    assert table.loc[0.01, "changed"] == 0 and table.loc[0.01, "moved"] == 0
    assert table.loc[0.3, "changed"] > 0
    # with no perturbation the re-run reproduces every run
    same = A.chaos(df, rel=0.0)
    assert not same["changed"].any() and not same["moved"].any()
    assert np.array_equal(same["final_ssr_new"].to_numpy(), df["final_ssr"].to_numpy())
    sample = A.chaos(df, sample=17)
    assert len(sample) == 17 and sample.index.is_unique


def test_trace_reproduces_csv_rows(grid_csv):
    df = A.load_results(grid_csv)
    ids = [0, 5, 41, 60, 95, 119]  # every lr, some chaotic at 0.3
    trace, check = A.trace_runs(df, ids)
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
    with pytest.raises(A.AnalysisError, match="no run with run_id 9999"):
        A.trace_runs(df, [9999])


def test_trace_flags_an_edited_row(grid_csv, tmp_path):
    df = pd.read_csv(grid_csv)
    df.loc[df["run_id"] == 3, "steps"] += 1
    path = tmp_path / "edited.csv"
    write_results(df, path)
    _, check = A.trace_runs(A.load_results(path), [2, 3])
    assert list(check["reproduced"]) == [True, False]


# ---------------------------------------------------------------- loading and bad input


def test_load_reads_sidecar_and_keeps_extra_columns(grid, tmp_path):
    path = tmp_path / "r.csv"
    df = grid.copy()
    df["note"] = "hand-made"
    write_results(df, path)
    (tmp_path / "r.json").write_text(json.dumps({"name": "r", "runs": len(df)}))
    loaded = A.load_results(path)
    assert loaded.attrs["meta"] == {"name": "r", "runs": len(df)}
    assert "note" in loaded.columns and len(loaded) == len(grid)
    assert np.array_equal(loaded["final_ssr"].to_numpy(), grid["final_ssr"].to_numpy())


def test_load_minimal_hand_written_table(tmp_path):
    # only the needed columns: settings default, no run_id (row numbers are the ids)
    df = make_results(lrs=(0.1,), seeds=range(3))
    cols = ["status", "steps", "final_ssr"] + [f"{k}_{p}" for k in ("init", "final") for p in NAMES]
    path = tmp_path / "min.csv"
    write_results(df[cols], path)
    loaded = A.load_results(path)
    assert A.varying_settings(loaded) == []
    assert A.outcome_table(loaded)["runs"].item() == 3
    _, check = A.trace_runs(loaded, [1])
    assert check["reproduced"].all()


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no such file"),
        (b"", "the file is empty"),
        (b"\n\n", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\x00", "not a readable CSV|missing column"),
        (b"a,b\n1,2\n3,4,5,6,7\n", "not a readable CSV"),
        (b"hello world\n", "missing column"),
    ],
)
def test_bad_files(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(A.AnalysisError, match=message):
        A.load_results(path)


def test_directory_is_not_a_file(tmp_path):
    with pytest.raises(A.AnalysisError, match="not a file"):
        A.load_results(tmp_path)


def test_missing_columns_are_named(grid, tmp_path):
    path = tmp_path / "r.csv"
    write_results(grid.drop(columns=["status", "init_w2", "final_b3"]), path)
    with pytest.raises(A.AnalysisError) as err:
        A.load_results(path)
    text = str(err.value)
    assert "status" in text and "init_w2" in text and "final_b3" in text and str(path) in text


def test_header_only_and_bad_values(grid, tmp_path):
    path = tmp_path / "h.csv"
    write_results(grid.iloc[:0], path)
    with pytest.raises(A.AnalysisError, match="no runs"):
        A.load_results(path)
    bad = grid.copy()
    bad.loc[2, "status"] = "finished"
    write_results(bad, path)
    with pytest.raises(A.AnalysisError, match="unknown value.*'finished'"):
        A.load_results(path)
    bad = grid.copy().astype({"steps": object})
    bad.loc[4, "steps"] = "many"
    write_results(bad, path)
    with pytest.raises(
        A.AnalysisError, match="column steps has a non-numeric value 'many' in row 5"
    ):
        A.load_results(path)


def test_cli_bad_input_exit_2(tmp_path, capsys):
    path = tmp_path / "x.csv"
    path.write_text("run_id,lr\n0,0.1\n")
    assert main(["analyse", str(path)]) == 2
    err = capsys.readouterr().err
    assert "missing column(s) status, steps, final_ssr" in err and "init_w1" in err
    assert main(["analyse", str(tmp_path / "nope.csv")]) == 2
    assert "no such file" in capsys.readouterr().err


# ---------------------------------------------------------------- CLI output


def test_cli_analyse_formats(grid_csv, grid, capsys):
    assert main(["analyse", str(grid_csv)]) == 0
    out = capsys.readouterr().out
    assert "Outcomes:" in out and "Solution basins" in out and "false_conv" in out
    assert main(["analyse", str(grid_csv), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"outcome", "sensitivity", "basins", "stuck"}
    assert [r["runs"] for r in data["outcome"]] == [40, 40, 40]
    assert main(["analyse", str(grid_csv), "--format", "csv", "--by", "lr", "seed"]) == 0
    table = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out))
    assert len(table) == len(grid) and (table["runs"] == 1).all()
    assert (
        main(
            [
                "analyse",
                str(grid_csv),
                "--format",
                "markdown",
                "--table",
                "outcome",
                "--chaos-sample",
                "10",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "| lr | runs |" in out and "---:" in out
    assert main(["analyse", str(grid_csv), "--table", "chaos", "--chaos"]) == 0
    assert "changed" in capsys.readouterr().out
    assert main(["analyse", str(grid_csv), "--by", "nosuch"]) == 2
    assert "nosuch" in capsys.readouterr().err


def test_cli_trace(grid_csv, tmp_path, capsys):
    out_csv = tmp_path / "t.csv"
    assert main(["trace", str(grid_csv), "--run-id", "0", "45", "--csv", str(out_csv)]) == 0
    out = capsys.readouterr().out
    assert "run 0:" in out and "run 45:" in out and "not reproduced" not in out
    trace = pd.read_csv(out_csv)
    df = pd.read_csv(grid_csv)
    for run_id in (0, 45):
        assert (trace["run_id"] == run_id).sum() == df.loc[run_id, "steps"] + 1
    assert main(["trace", str(grid_csv), "--run-id", "777"]) == 2


def test_format_table_aligned():
    t = pd.DataFrame({"name": ["a", "long"], "x": [1.5, 0.000123456], "n": [1, 20]})
    lines = A.format_table(t).splitlines()
    assert len({len(line) for line in lines}) == 1
    assert lines[2].split() == ["long", "0.0001235", "20"]
