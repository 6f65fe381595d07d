"""Reading and checking results files: one row per run (the results-table contract, README).

``load_results`` reads a results CSV (with the sweep's exact float reader, so re-runs start
from the very same bits) or a ``.parquet`` file, and the JSON sidecar ``<stem>.json`` beside
it; ``check_results`` checks that a table has what the analyses need. The writers live beside
these readers in the sweep's modules.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import file_digest
from ..errors import ResultsError, first_line
from ..model import STATUSES, param_names
from ..settings import SETTINGS
from ._csvfmt import read_csv_exact

#: Setting columns of the contract (seed is the replicate axis, not a grouping key).
SETTING_COLUMNS = tuple(n for n in SETTINGS if n != "seed")
#: Setting columns that hold numbers (the schema's int and float settings).
NUMERIC_SETTINGS = tuple(n for n, s in SETTINGS.items() if s.kind in ("int", "float"))
#: Columns every analysis needs; init_<p> and final_<p> of each hidden size are needed too.
CORE_COLUMNS = ("status", "steps", "final_ssr")
#: File name endings read as Parquet; anything else is read as CSV.
PARQUET_SUFFIXES = (".parquet", ".pq")


class ResultsWarning(UserWarning):
    """A results file that can be read but may not be what its sidecar describes."""


def load_results(path, *, check: bool = True) -> pd.DataFrame:
    """Read a results CSV or Parquet file (and its JSON sidecar ``<stem>.json`` when present).

    Returns the table with ``attrs["path"]`` (str) and ``attrs["meta"]`` (the sidecar's dict, or
    None). Raises ResultsError for a missing, empty or unreadable file, and (``check``) for a
    table that lacks columns the analyses need; extra columns are kept. Warns (ResultsWarning)
    when the sidecar records a size or SHA-256 (``results_size``, ``results_sha256``) that the
    file does not have.
    """
    path = Path(path)
    if not path.exists():
        raise ResultsError(f"results file {path}: no such file")
    if not path.is_file():
        raise ResultsError(f"results file {path}: not a file")
    if path.stat().st_size == 0:
        kind = "Parquet file" if path.suffix.lower() in PARQUET_SUFFIXES else "CSV"
        raise ResultsError(
            f"results file {path}: the file is empty (0 bytes); expected a results {kind} "
            f"(a sweep killed while writing it? run it again)"
        )
    if path.suffix.lower() in PARQUET_SUFFIXES:
        df = _read_parquet(path)
    else:
        df = _read_csv(path)
    df.columns = [str(c).strip() for c in df.columns]
    df.attrs["path"] = str(path)
    meta = _read_sidecar(path)
    if not sidecar_describes(meta, path):
        meta = None  # the sidecar of the other format's file (one <name>.json for both)
    df.attrs["meta"] = meta
    _check_integrity(path, meta)
    if check:
        df = check_results(df, source=str(path))
    return df


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return read_csv_exact(path, low_memory=False)  # bit-exact starts: re-runs match
    except pd.errors.EmptyDataError:
        raise ResultsError(
            f"results file {path}: the file is empty (no header); expected a results CSV"
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise ResultsError(
            f"results file {path}: not a readable CSV file ({first_line(exc)})"
        ) from None


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except ImportError as exc:
        raise ResultsError(
            f"results file {path}: reading Parquet needs pyarrow ({first_line(exc)}); "
            "pip install pyarrow"
        ) from None
    except Exception as exc:  # pyarrow's errors (ArrowInvalid, ...) are not one hierarchy
        if isinstance(exc, (MemoryError, KeyboardInterrupt)):
            raise
        raise ResultsError(
            f"results file {path}: not a readable Parquet file ({first_line(exc)})"
        ) from None


def _read_sidecar(path: Path):
    meta_path = path.with_suffix(".json")
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        warnings.warn(
            f"{meta_path}: ignoring the sidecar, not readable JSON ({first_line(exc)})",
            ResultsWarning,
            stacklevel=3,
        )
        return None
    return meta if isinstance(meta, dict) else None


def sidecar_describes(meta, path: Path) -> bool:
    """Whether a sidecar describes ``path``'s format: a sweep's ``<name>.json`` names its
    results file (``results``; ``csv`` before Parquet), and a CSV and a Parquet of one name
    share it. A copied or renamed pair still matches (the suffix is compared, not the name)."""
    recorded = meta.get("results", meta.get("csv")) if isinstance(meta, dict) else None
    return not isinstance(recorded, str) or Path(recorded).suffix == path.suffix


def _check_integrity(path: Path, meta) -> None:
    """Warn when the sidecar's ``results_size`` / ``results_sha256`` disagree with the file."""
    if not isinstance(meta, dict):
        return
    size, digest = meta.get("results_size"), meta.get("results_sha256")
    actual = path.stat().st_size
    problem = None
    if isinstance(size, int) and not isinstance(size, bool) and size != actual:
        problem = f"{actual:,} bytes, the sidecar records {size:,}"
    elif isinstance(digest, str) and digest:
        sha = file_digest(path)[1]
        if sha != digest.lower():
            problem = f"SHA-256 {sha[:12]}..., the sidecar records {digest[:12]}..."
    if problem:
        warnings.warn(
            f"{path}: the file does not match its sidecar {path.with_suffix('.json').name} "
            f"({problem}): truncated or edited since the sweep wrote it? Re-run the sweep to "
            "rebuild it",
            ResultsWarning,
            stacklevel=3,
        )


def hidden_sizes(df: pd.DataFrame) -> list[int]:
    """The hidden sizes in the table (2 when there is no ``hidden`` column)."""
    if "hidden" not in df.columns:
        return [2]
    return sorted(int(h) for h in pd.unique(df["hidden"].dropna()))


def check_results(df: pd.DataFrame, source: str = "results") -> pd.DataFrame:
    """Check that ``df`` has what the analyses need; returns ``df``. Raises ResultsError.

    Needed: status, steps, final_ssr, and init_<p>, final_<p> for every parameter of every
    hidden size present (hidden defaults to 2 when the column is absent). Columns of numbers
    (steps, the SSRs, the numeric settings, init_<p>, final_<p>) read as text are converted;
    a value that is not a number is a ResultsError naming the column and row.
    """
    if len(df.columns) == 0:
        raise ResultsError(f"{source}: no columns; expected a results CSV")
    missing = [c for c in CORE_COLUMNS if c not in df.columns]
    if "hidden" in df.columns:
        hidden = pd.to_numeric(df["hidden"], errors="coerce")
        bad = hidden.isna() | (hidden < 1) | (hidden != hidden.round())
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise ResultsError(
                f"{source}: column hidden has a bad value "
                f"{df['hidden'].iloc[row]!r} in row {row + 1}; "
                f"expected a whole number >= 1"
            )
        df["hidden"] = hidden.astype(np.int64)
    sizes = hidden_sizes(df) if not missing or "hidden" in df.columns else [2]
    names = list(dict.fromkeys(n for h in sizes for n in param_names(h)))
    missing += [
        f"{kind}_{n}"
        for kind in ("init", "final")
        for n in names
        if f"{kind}_{n}" not in df.columns
    ]
    if missing:
        raise ResultsError(
            f"{source}: missing column(s) {', '.join(missing)}; expected a results table with "
            f"status, steps, final_ssr, init_<p> and final_<p> (found "
            f"{', '.join(map(str, df.columns[:12]))}{' ...' if len(df.columns) > 12 else ''})"
        )
    if len(df) == 0:
        raise ResultsError(f"{source}: no runs (the table has a header but no rows)")
    status = df["status"].astype(str).str.strip()
    unknown = sorted(set(pd.unique(status)) - set(STATUSES))
    if unknown:
        raise ResultsError(
            f"{source}: column status has unknown value(s) "
            f"{', '.join(map(repr, unknown[:5]))}; expected {', '.join(STATUSES)}"
        )
    df["status"] = status
    numeric = ["steps", "final_ssr", "initial_ssr", *NUMERIC_SETTINGS]
    numeric += [c for c in df.columns if c.startswith(("init_", "final_"))]
    for col in numeric:
        if col not in df.columns or pd.api.types.is_numeric_dtype(df[col]):
            continue
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna() & df[col].notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise ResultsError(
                f"{source}: column {col} has a non-numeric value "
                f"{df[col].iloc[row]!r} in row {row + 1}"
            )
        df[col] = values
    return _drop_repeats(_warn_empty_settings(df, source), source)


def _warn_empty_settings(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Warn of empty cells in a setting column (a hand-edited or cut file): the analyses group
    those runs apart, under 'nan'. (lr_hidden and lr_output are empty where they follow lr.)"""
    for col in SETTING_COLUMNS:
        if col not in df.columns or SETTINGS[col].optional:
            continue
        empty = df[col].isna().to_numpy()
        if empty.any():
            row = int(np.flatnonzero(empty)[0])
            warnings.warn(
                f"{source}: column {col} has {int(empty.sum()):,} empty cell(s), the first in "
                f"row {row + 1}; those runs are grouped apart (as 'nan')",
                ResultsWarning,
                stacklevel=4,
            )
    return df


def _drop_repeats(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Rows that repeat another row exactly (a file concatenated with itself) are counted
    once, with a warning; a run_id that repeats with other values is only warned of."""
    repeated = df.duplicated().to_numpy()
    if repeated.any():
        warnings.warn(
            f"{source}: {int(repeated.sum()):,} row(s) repeat another row exactly (the first "
            f"is row {int(np.flatnonzero(repeated)[0]) + 1}); each run is counted once",
            ResultsWarning,
            stacklevel=4,
        )
        attrs = dict(df.attrs)
        df = df.loc[~repeated].reset_index(drop=True)
        df.attrs.update(attrs)
    if "run_id" in df.columns:
        again = df["run_id"].duplicated().to_numpy()
        if again.any():
            run = df["run_id"].iloc[int(np.flatnonzero(again)[0])]
            warnings.warn(
                f"{source}: run_id {run} (and {int(again.sum()) - 1:,} more) appears with "
                f"different results in different rows: several sweeps in one file?",
                ResultsWarning,
                stacklevel=4,
            )
    return df


def varies(col: pd.Series) -> bool:
    """True when ``col`` holds more than one distinct value (NaN counts as one value)."""
    missing = col.isna()
    if missing.all():
        return False
    return bool(missing.any() or (col != col.iloc[0]).any())


def varying_settings(df: pd.DataFrame) -> list[str]:
    """Setting columns (SETTING_COLUMNS) with more than one distinct value, in contract order."""
    return [c for c in SETTING_COLUMNS if c in df.columns and varies(df[c])]


def run_ids(df: pd.DataFrame) -> np.ndarray:
    """Each row's run id: the ``run_id`` column, or the row label when there is none."""
    if "run_id" in df.columns:
        return df["run_id"].to_numpy()
    return df.index.to_numpy()


def data_dir(df: pd.DataFrame):
    """The folder of the results file (relative data paths are taken from it), or None."""
    path = df.attrs.get("path")
    return str(Path(path).parent) if path else None
