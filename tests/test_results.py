"""Reading and checking results files: CSV and Parquet, the sidecar, and bad input."""

import json

import numpy as np
import pandas as pd
import pytest

from bpsweep.analysis.reruns import trace_runs
from bpsweep.analysis.tables import outcome_table
from bpsweep.errors import ResultsError
from bpsweep.model import STATUSES, param_names
from bpsweep.sweeps import results as RS
from bpsweep.sweeps.options import RunOptions
from results_helper import make_results, write_results

NAMES = param_names(2)


@pytest.fixture(scope="module")
def grid():
    """Random normal starts x three learning rates (small: 40 seeds)."""
    return make_results(lrs=(0.03, 0.1, 0.3), seeds=range(40))


# ---------------------------------------------------------------- loading and bad input


def test_load_reads_sidecar_and_keeps_extra_columns(grid, tmp_path):
    path = tmp_path / "r.csv"
    df = grid.copy()
    df["note"] = "hand-made"
    write_results(df, path)
    (tmp_path / "r.json").write_text(json.dumps({"name": "r", "runs": len(df)}))
    loaded = RS.load_results(path)
    assert loaded.attrs["meta"] == {"name": "r", "runs": len(df)}
    assert "note" in loaded.columns and len(loaded) == len(grid)
    assert np.array_equal(loaded["final_ssr"].to_numpy(), grid["final_ssr"].to_numpy())


def test_load_minimal_hand_written_table(tmp_path):
    # only the needed columns: settings default, no run_id (row numbers are the ids)
    df = make_results(lrs=(0.1,), seeds=range(3))
    cols = ["status", "steps", "final_ssr"] + [f"{k}_{p}" for k in ("init", "final") for p in NAMES]
    path = tmp_path / "min.csv"
    write_results(df[cols], path)
    loaded = RS.load_results(path)
    assert RS.varying_settings(loaded) == []
    assert outcome_table(loaded)["runs"].item() == 3
    _, check = trace_runs(loaded, [1])
    assert check["reproduced"].all()


@pytest.mark.parametrize(
    ("content", "message"),
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
    with pytest.raises(ResultsError, match=message):
        RS.load_results(path)


def test_directory_is_not_a_file(tmp_path):
    with pytest.raises(ResultsError, match="not a file"):
        RS.load_results(tmp_path)


def test_missing_columns_are_named(grid, tmp_path):
    path = tmp_path / "r.csv"
    write_results(grid.drop(columns=["status", "init_w2", "final_b3"]), path)
    with pytest.raises(ResultsError) as err:
        RS.load_results(path)
    text = str(err.value)
    assert "status" in text and "init_w2" in text and "final_b3" in text and str(path) in text


def test_header_only_and_bad_values(grid, tmp_path):
    path = tmp_path / "h.csv"
    write_results(grid.iloc[:0], path)
    with pytest.raises(ResultsError, match="no runs"):
        RS.load_results(path)
    bad = grid.copy()
    bad.loc[2, "status"] = "finished"
    write_results(bad, path)
    with pytest.raises(ResultsError, match="unknown value.*'finished'"):
        RS.load_results(path)
    bad = grid.copy().astype({"steps": object})
    bad.loc[4, "steps"] = "many"
    write_results(bad, path)
    with pytest.raises(ResultsError, match="column steps has a non-numeric value 'many' in row 5"):
        RS.load_results(path)


def test_parquet_reads_like_the_csv(grid, tmp_path):
    pytest.importorskip("pyarrow")
    csv, pq = tmp_path / "r.csv", tmp_path / "r.parquet"
    write_results(grid, csv)
    grid.to_parquet(pq, index=False)
    a, b = RS.load_results(csv), RS.load_results(pq)
    assert list(a.columns) == list(b.columns)
    for col in a.columns:
        assert np.array_equal(a[col].to_numpy(), b[col].to_numpy()), col
    pd_equal = outcome_table(a).equals(outcome_table(b))
    assert pd_equal
    _, check = trace_runs(b, [0, 50])
    assert check["reproduced"].all()
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(ResultsError, match="bad.parquet: not a readable Parquet file"):
        RS.load_results(tmp_path / "bad.parquet")


def test_sidecar_size_and_checksum_are_checked(grid, tmp_path):
    import hashlib
    import warnings

    path = tmp_path / "r.csv"
    write_results(grid, path)
    data = path.read_bytes()
    sidecar = tmp_path / "r.json"
    good = {"results_size": len(data), "results_sha256": hashlib.sha256(data).hexdigest()}
    sidecar.write_text(json.dumps(good))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        RS.load_results(path)
    sidecar.write_text(json.dumps({**good, "results_size": len(data) + 7}))
    with pytest.warns(RS.ResultsWarning, match="does not match its sidecar r.json"):
        RS.load_results(path)
    path.write_bytes(data.replace(b"converged", b"max_steps", 1))  # same size, other bytes
    sidecar.write_text(json.dumps(good))
    with pytest.warns(RS.ResultsWarning, match="SHA-256"):
        RS.load_results(path)


def test_one_sidecar_for_csv_and_parquet_warns_only_for_its_own_file(tmp_path):
    """A sweep written as CSV, then as Parquet into the same folder: <name>.json describes the
    Parquet file; reading the CSV must not warn that it does not match."""
    import warnings

    from bpsweep.sweeps.runner import execute

    cfg = tmp_path / "two.toml"
    cfg.write_text(
        'name = "two"\n[train]\nmax_steps = 50\n[sweep]\nseed = {start = 0, count = 8}\n'
    )
    out = tmp_path / "out"
    csv = execute(cfg, RunOptions(out=out, jobs=1)).csv_path
    parquet = execute(cfg, RunOptions(out=out, jobs=1, results_format="parquet")).csv_path
    assert json.loads((out / "two.json").read_text())["results"] == str(parquet)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a, b = RS.load_results(csv), RS.load_results(parquet)
    assert a.equals(b)
    # the check still runs for the file the sidecar names
    meta = json.loads((out / "two.json").read_text())
    (out / "two.json").write_text(json.dumps({**meta, "results_size": meta["results_size"] + 1}))
    with pytest.warns(RS.ResultsWarning, match="does not match its sidecar two.json"):
        RS.load_results(parquet)


def test_a_copied_pair_of_results_and_sidecar_is_still_checked(tmp_path):
    """The sidecar names the file it was written for; a copy under another name (same format)
    is still checked against it."""
    import shutil

    from bpsweep.sweeps.runner import execute

    cfg = tmp_path / "one.toml"
    cfg.write_text(
        'name = "one"\n[train]\nmax_steps = 50\n[sweep]\nseed = {start = 0, count = 8}\n'
    )
    csv = execute(cfg, RunOptions(out=tmp_path / "out", jobs=1)).csv_path
    shutil.copy(csv, tmp_path / "b.csv")
    shutil.copy(csv.with_suffix(".json"), tmp_path / "b.json")
    data = (tmp_path / "b.csv").read_bytes()
    header, _, body = data.partition(b"\n")
    body = body.replace(b"max_steps", b"converged", 1)  # one row's status, same size
    (tmp_path / "b.csv").write_bytes(header + b"\n" + body)
    with pytest.warns(RS.ResultsWarning, match="does not match its sidecar b.json"):
        RS.load_results(tmp_path / "b.csv")


# ---------------------------------------------------------------- reading at scale


def test_csv_floats_come_back_bit_for_bit(tmp_path):
    """The CSV is read through pyarrow: every float the sweep's writer can write comes back
    as the very same float64 (subnormals, 17 digits, -0.0, inf, nan)."""
    from bpsweep.sweeps._csvfmt import format_floats

    rng = np.random.default_rng(7)
    values = np.concatenate(
        [
            rng.normal(size=2000) * 10.0 ** rng.integers(-300, 300, 2000),
            np.frombuffer(rng.bytes(8 * 2000), dtype=np.float64),  # any bit pattern
            [5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 0.1, 1 / 3],
            [0.0, -0.0, np.inf, -np.inf],
        ]
    )
    values = values[~np.isnan(values)]
    df = make_results(lrs=(0.1,), seeds=range(len(values)), max_steps=1)
    df["final_ssr"] = values
    path = tmp_path / "f.csv"
    header = ",".join(df.columns)
    texts = {c: format_floats(df[c].to_numpy()) for c in df.columns if df[c].dtype == float}
    rows = [
        ",".join(texts[c][i] if c in texts else str(df[c].iloc[i]) for c in df.columns)
        for i in range(len(df))
    ]
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    loaded = RS.load_results(path)
    got = loaded["final_ssr"].to_numpy()
    assert np.array_equal(got.view(np.int64), values.view(np.int64))


def test_only_the_columns_asked_for_are_read(grid, tmp_path):
    csv, pq = tmp_path / "r.csv", tmp_path / "r.parquet"
    write_results(grid, csv)
    grid.to_parquet(pq, index=False)
    asked = ["status", "steps", "final_ssr", "lr", "nosuch"]
    for path in (csv, pq):
        df = RS.load_results(path, columns=asked)
        assert list(df.columns) == ["lr", "final_ssr", "steps", "status"]  # the file's order
        assert RS.results_columns(path) == list(grid.columns)
    with pytest.raises(ResultsError, match="missing column.*status"):
        RS.load_results(csv, columns=["lr"])


def test_fixed_columns_take_one_byte_a_row_and_keep_their_value(grid, tmp_path):
    df = grid.copy()
    df["init_b1"] = -0.0  # -0.0 and 0.0 are different bits: both kept as they are
    df.loc[3, "init_b2"] = -0.0
    for path in (tmp_path / "r.csv", tmp_path / "r.parquet"):
        write_results(df, path) if path.suffix == ".csv" else df.to_parquet(path, index=False)
        loaded = RS.load_results(path)
        for col in ("dataset", "hidden", "momentum", "tol", "scheme", "init_b1"):
            assert isinstance(loaded[col].dtype, pd.CategoricalDtype), col
            assert loaded[col].cat.codes.dtype == np.int8
        if path.suffix == ".parquet":  # (the test's CSV writes -0.0 as -0, a whole number)
            assert np.signbit(loaded["init_b1"].cat.categories[0])
            assert loaded["init_b2"].dtype == np.float64 and np.signbit(loaded["init_b2"][3])
            assert not np.signbit(loaded["init_b2"][2])
        assert loaded["lr"].dtype == np.float64 and loaded["seed"].dtype == np.int64
        assert list(loaded["status"].cat.categories) == sorted(STATUSES)
        assert np.array_equal(RS.status_is(loaded, "converged"), grid["status"] == "converged")
        assert RS.varying_settings(loaded) == ["lr"]
        plain = RS.plain(loaded)
        assert plain["hidden"].dtype == np.int64 and (plain["hidden"] == 2).all()
        assert plain["momentum"].dtype == np.float64 and (plain["momentum"] == 0.9).all()


def test_parquet_is_read_a_few_row_groups_at_a_time(grid, tmp_path, monkeypatch):
    """Columns that hold one value in their first row groups and another later (a number, a
    NaN, a text) come back whole, whatever the piece they change in."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    df = grid.copy()
    n = len(df)
    df["tol"] = 1e-3
    df.loc[n - 1, "tol"] = 1e-4  # changes in the last row group
    df["scale"] = 1.0
    df.loc[70, "scale"] = np.nan  # a gap after a run of one value
    df["scheme"] = "normal"
    df.loc[90:, "scheme"] = "uniform"  # text that changes
    df["note"] = "x"
    path = tmp_path / "r.parquet"
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, row_group_size=16)
    monkeypatch.setattr(RS, "ROWS_PER_READ", 16)
    with pytest.warns(RS.ResultsWarning, match="column scale has 1 empty cell"):
        loaded = RS.load_results(path)
    assert np.array_equal(loaded["tol"].to_numpy(), df["tol"].to_numpy())
    assert np.isnan(loaded["scale"][70]) and (loaded["scale"].drop(70) == 1.0).all()
    assert list(loaded["scheme"]) == list(df["scheme"])
    assert loaded["note"].cat.categories.tolist() == ["x"]
    assert RS.varying_settings(loaded) == ["lr", "tol", "scheme", "scale"]
    for col in ("final_ssr", "init_w1", "steps", "run_id"):
        assert np.array_equal(loaded[col].to_numpy(), df[col].to_numpy()), col


def test_fixed_text_and_whole_numbers_come_from_the_statistics(grid, tmp_path, monkeypatch):
    """A text or integer column that every row group's statistics show to hold one value is
    not read at all."""
    path = tmp_path / "r.parquet"
    grid.to_parquet(path, index=False)
    read = []
    original = RS._Builder.add
    monkeypatch.setattr(
        RS._Builder, "add", lambda self, col: (read.append(self.name), original(self, col))[1]
    )
    loaded = RS.load_results(path)
    assert "dataset" not in read and "hidden" not in read and "final_ssr" in read
    assert loaded["dataset"].cat.categories.tolist() == ["dosage"]
    assert loaded["hidden"].cat.categories.tolist() == [2]


def test_a_lean_map_table_needs_no_parameters(tmp_path):
    df = make_results(lrs=(0.1, 0.2), seeds=range(3))
    df["map_i"] = np.tile(np.arange(3), 2)
    df["map_j"] = np.repeat(np.arange(2), 3)
    lean = df[["map_i", "map_j", "lr", "seed", "status", "steps", "final_ssr"]]
    path = tmp_path / "lean.parquet"
    lean.to_parquet(path, index=False)
    loaded = RS.load_results(path)
    assert RS.is_map_table(loaded) and len(loaded) == 6
    lean.drop(columns=["map_i"]).to_parquet(path, index=False)
    with pytest.raises(ResultsError, match="missing column.*init_w1"):
        RS.load_results(path)
