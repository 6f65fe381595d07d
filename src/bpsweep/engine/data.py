"""Data sets: the lessons' built-in ``dosage`` data, or any CSV file with numeric columns x, y."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError

#: The lessons' data: dosage (input) and whether the drug worked (observed).
DOSAGE_X = (0.0, 0.5, 1.0)
DOSAGE_Y = (0.0, 1.0, 0.0)
BUILTIN = {"dosage": (DOSAGE_X, DOSAGE_Y)}


def load_data(dataset: str | Path = "dosage", base_dir: str | Path | None = None):
    """Return ``(x, y)`` as two writable C-contiguous float64 arrays of shape (n,), n >= 1
    (one numba type whatever the CSV held: the kernels compile once).

    ``dataset`` is the name of a built-in data set (``dosage``) or the path of a CSV file with
    numeric columns ``x`` (input) and ``y`` (observed); other columns are ignored. A relative
    path is taken from ``base_dir`` when given (a config file's folder).
    """
    if isinstance(dataset, str) and dataset in BUILTIN:
        x, y = BUILTIN[dataset]
        return np.array(x, dtype=np.float64), np.array(y, dtype=np.float64)
    path = Path(dataset)
    if base_dir is not None and not path.is_absolute():
        path = Path(base_dir) / path
    if not path.is_file():
        raise DataError(
            f"data set {str(dataset)!r}: no such built-in data set "
            f"({', '.join(BUILTIN)}) and no file at {path}"
        )
    return _read_csv(path)


def _read_csv(path: Path):
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty; expected a CSV with columns x and y") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable CSV file ({exc})") from None
    columns = [str(c).strip() for c in frame.columns]
    frame.columns = columns
    missing = [c for c in ("x", "y") if c not in columns]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {', '.join(missing)}; expected numeric columns x and y, "
            f"found {', '.join(columns) or 'none'}"
        )
    if len(frame) < 1:
        raise DataError(f"{path}: no data rows; expected at least one row of x, y")
    arrays = []
    for col in ("x", "y"):
        values = pd.to_numeric(frame[col], errors="coerce")
        bad = values.isna() & frame[col].notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(
                f"{path}: column {col} has a non-numeric value {frame[col].iloc[row]!r} "
                f"in data row {row + 1}"
            )
        array = values.to_numpy(dtype=np.float64)
        nonfinite = ~np.isfinite(array)
        if nonfinite.any():
            row = int(np.flatnonzero(nonfinite)[0])
            raise DataError(
                f"{path}: column {col} has a missing, NaN or infinite value ({array[row]}) "
                f"in data row {row + 1}; every x and y must be a finite number"
            )
        arrays.append(np.array(array, dtype=np.float64, order="C"))  # writable, owned
    return arrays[0], arrays[1]
