"""Reading and checking results files: CSV and Parquet, the sidecar, and bad input."""

import json

import numpy as np
import pytest

from bpsweep.analysis.reruns import trace_runs
from bpsweep.analysis.tables import outcome_table
from bpsweep.errors import ResultsError
from bpsweep.model import param_names
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
