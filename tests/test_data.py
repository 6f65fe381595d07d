"""Data sets: built-in dosage data and CSV files, with clear errors for bad files."""

import numpy as np
import pytest

from bpsweep import DataError, load_data, train


def test_dosage():
    x, y = load_data("dosage")
    assert x.tolist() == [0.0, 0.5, 1.0] and y.tolist() == [0.0, 1.0, 0.0]
    assert x.dtype == np.float64 and x.flags.c_contiguous


def test_csv_with_extra_columns(tmp_path):
    f = tmp_path / "d.csv"
    f.write_text("note,x,y\na,0,0\nb,0.5,1\nc,1,0\n")
    x, y = load_data(f)
    assert x.tolist() == [0.0, 0.5, 1.0] and y.tolist() == [0.0, 1.0, 0.0]
    # same data, same run as the built-in set
    assert train(f, init="statquest-start").final_ssr == train(init="statquest-start").final_ssr


def test_relative_path_from_base_dir(tmp_path):
    (tmp_path / "d.csv").write_text("x,y\n1,2\n")
    assert load_data("d.csv", base_dir=tmp_path)[0].tolist() == [1.0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("x,z\n1,2\n", "missing column(s) y"),
        ("a,b\n1,2\n", "missing column(s) x, y"),
        ("x,y\n", "no data rows"),
        ("x,y\n1,2\nfoo,3\n", "column x has a non-numeric value 'foo' in data row 2"),
        ("x,y\n1,nan\n", "column y has a missing, NaN or infinite value"),
        ("x,y\n1,\n", "column y has a missing, NaN or infinite value"),
        ("x,y\ninf,1\n", "column x has a missing, NaN or infinite value"),
    ],
)
def test_bad_csv(tmp_path, text, message):
    f = tmp_path / "bad.csv"
    f.write_text(text)
    with pytest.raises(DataError) as err:
        load_data(f)
    assert message in str(err.value) and str(f) in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such built-in data set .* and no file at"):
        load_data(tmp_path / "nope.csv")
