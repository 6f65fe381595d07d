"""Reading and checking results files: one row per run (the results-table contract, README).

``load_results`` reads a results CSV (with the sweep's exact float reader, so re-runs start
from the very same bits) or a ``.parquet`` file, and the JSON sidecar ``<stem>.json`` beside
it; ``check_results`` checks that a table has what the analyses need. The writers live beside
these readers in the sweep's modules.
"""

from __future__ import annotations

import csv
import json
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import file_digest
from ..errors import ResultsError, first_line
from ..model import STATUSES, param_names
from ..settings import SETTINGS

#: Setting columns of the contract (seed is the replicate axis, not a grouping key).
SETTING_COLUMNS = tuple(n for n in SETTINGS if n != "seed")
#: Setting columns that hold numbers (the schema's int and float settings).
NUMERIC_SETTINGS = tuple(n for n, s in SETTINGS.items() if s.kind in ("int", "float"))
#: Columns every analysis needs; init_<p> and final_<p> of each hidden size are needed too.
CORE_COLUMNS = ("status", "steps", "final_ssr")
#: The categories of a loaded table's ``status`` column (sorted, so that grouping by it sorts
#: as the text did).
STATUS_CATEGORIES = tuple(sorted(STATUSES))
#: File name endings read as Parquet; anything else is read as CSV.
PARQUET_SUFFIXES = (".parquet", ".pq")


class ResultsWarning(UserWarning):
    """A results file that can be read but may not be what its sidecar describes."""


def load_results(path, *, check: bool = True, columns=None) -> pd.DataFrame:
    """Read a results CSV or Parquet file (and its JSON sidecar ``<stem>.json`` when present).

    Returns the table with ``attrs["path"]`` (str) and ``attrs["meta"]`` (the sidecar's dict, or
    None). ``columns``: read only these (names the file lacks are skipped; None: every column).
    Raises ResultsError for a missing, empty or unreadable file, and (``check``) for a table
    that lacks columns the analyses need (see :func:`check_results`); extra columns are kept.
    Warns (ResultsWarning) when the sidecar records a size or SHA-256 (``results_size``,
    ``results_sha256``) that the file does not have.

    Both formats are read through pyarrow (CSV floats to the very same float64 as the sweep
    wrote them) and converted column by column, in memory proportional to the columns read: a
    column that holds one value in every row (a setting a sweep or a map holds fixed) becomes
    a one-category Categorical (one byte a row), and ``status`` a Categorical of
    :data:`STATUS_CATEGORIES`.
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
    columns = None if columns is None else list(columns)
    meta = results_sidecar(path)
    # the file's SHA-256 is taken while it is read (hashlib and pyarrow let go of the GIL)
    with ThreadPoolExecutor(1) as pool:
        integrity = pool.submit(_integrity_problem, path, meta)
        try:
            if path.suffix.lower() in PARQUET_SUFFIXES:
                df = _read_parquet(path, columns)
            else:
                df = _read_csv(path, columns)
        finally:  # also when the file cannot be read: the warning may say why
            problem = integrity.result()
            if problem:
                warnings.warn(problem, ResultsWarning, stacklevel=3)
    df.attrs["path"] = str(path)
    df.attrs["meta"] = _Shared(meta) if isinstance(meta, dict) else meta
    if check:  # a map's table may be lean: without init_<p> and final_<p>
        params = not is_map_table(df)
        df = check_results(df, source=str(path), params=params and (columns or True))
    return df


#: Columns that make a table a map's: each pixel's column and row (bpsweep map).
MAP_COLUMNS = ("map_i", "map_j")


def is_map_table(df: pd.DataFrame) -> bool:
    """Whether ``df`` is a map's results (it has the pixel columns map_i and map_j)."""
    return all(c in df.columns for c in MAP_COLUMNS)


def results_columns(path) -> list[str]:
    """The column names of a results file (stripped of spaces), read from its header or its
    Parquet schema without reading its rows; [] when there are none to read."""
    path = Path(path)
    try:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            import pyarrow.parquet as pq

            return [str(n).strip() for n in pq.read_schema(path).names]
        with open(path, newline="", encoding="utf-8-sig") as fh:
            return [n.strip() for n in next(csv.reader(fh), [])]
    except Exception as exc:  # unreadable: load_results says why
        if isinstance(exc, (MemoryError, KeyboardInterrupt)):
            raise
        return []


#: Text read as a missing value in a CSV cell: pandas.read_csv's defaults.
NA_VALUES = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
)  # fmt: skip


def _wanted(names, columns):
    """The file's column names (as written) to read: those whose stripped name is in
    ``columns`` (every one when None)."""
    if columns is None:
        return None
    wanted = set(columns)
    return [n for n in names if str(n).strip() in wanted]


def _read_csv(path: Path, columns=None) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            header = next(csv.reader(fh), None)
        if not header or not any(h.strip() for h in header):
            raise ResultsError(
                f"results file {path}: the file is empty (no header); expected a results CSV"
            )
        if len(set(header)) < len(header):  # pandas names repeated columns apart (x, x.1)
            from ._csvfmt import read_csv_exact  # (numba: not for every file read)

            frame = read_csv_exact(path, low_memory=False)
            frame.columns = [str(c).strip() for c in frame.columns]
            return frame
        table = pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                include_columns=_wanted(header, columns),
                null_values=list(NA_VALUES),
                strings_can_be_null=True,
                # the status column as codes from the start (a few distinct values)
                column_types={h: pa.dictionary(pa.int32(), pa.string()) for h in header
                              if h.strip() == "status"},
            ),
        )  # fmt: skip
        builders, n = {}, table.num_rows
        for name in table.column_names:  # each Arrow column let go once converted
            builders[name] = _Builder(name.strip(), n)
            builders[name].add(table.column(0))
            table = table.remove_column(0)
        del table
        pa.default_memory_pool().release_unused()
    except (
        pa.ArrowInvalid,
        pd.errors.ParserError,
        UnicodeDecodeError,
        ValueError,
        csv.Error,
    ) as exc:
        raise ResultsError(
            f"results file {path}: not a readable CSV file ({first_line(exc)})"
        ) from None
    return _frame_of(builders)


def _read_parquet(path: Path, columns=None) -> pd.DataFrame:
    try:
        import pyarrow.parquet as pq

        status = [n for n in pq.read_schema(path).names if str(n).strip() == "status"]
        pf = pq.ParquetFile(path, read_dictionary=status)  # status as codes, not text
        names = _wanted(pf.schema_arrow.names, columns)
        names = pf.schema_arrow.names if names is None else names
        n = pf.metadata.num_rows
        builders = {}
        for name in names:
            fixed = _fixed_by_statistics(pf, name)
            builders[name] = _Builder(name, n, fixed)
        read = [name for name, b in builders.items() if not b.known]
        step = max(1, ROWS_PER_READ // max(1, pf.metadata.row_group(0).num_rows if n else 1))
        groups = list(range(pf.metadata.num_row_groups))
        for k in range(0, len(groups), step) if read else ():
            batch = pf.read_row_groups(groups[k : k + step], columns=read)
            for name, col in zip(read, batch.columns):
                builders[name].add(col)
            del batch
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
    return _frame_of(builders)


#: Rows a Parquet file is read in at a time (whole row groups): the file's columns are
#: decoded in parallel, and only the pieces of one read are held besides the columns built.
ROWS_PER_READ = 1 << 20


def _fixed_by_statistics(pf, name: str):
    """The one value of an integer or text column that every row group's statistics show
    (min = max, no nulls), or None. Not for floats: the statistics leave NaN out."""
    import pyarrow as pa

    kind = pf.schema_arrow.field(name).type
    if not (
        pa.types.is_integer(kind) or pa.types.is_string(kind) or pa.types.is_large_string(kind)
    ):
        return None
    index = pf.schema_arrow.get_field_index(name)
    meta = pf.metadata
    if meta.num_rows == 0 or meta.schema.column(index).path != name:  # a nested column
        return None
    value = None
    for g in range(meta.num_row_groups):
        stats = meta.row_group(g).column(index).statistics
        if (
            stats is None
            or not stats.has_min_max
            or not stats.has_null_count
            or stats.null_count
            or stats.min != stats.max
            or not getattr(stats, "is_min_value_exact", True)
            or not getattr(stats, "is_max_value_exact", True)
            or (g and stats.min != value)
        ):
            return None
        value = stats.min
    return value


_UNSET = object()


class _Builder:
    """One column of a results table, built a piece (an Arrow array) at a time: held as one
    value while every piece holds only that value (bit for bit: 0.0 and -0.0 differ), as a
    numpy array once a piece of numbers without gaps differs, and as Arrow pieces otherwise
    (text, empty cells: pandas converts them at the end). ``status`` is kept as codes."""

    def __init__(self, name: str, n: int, fixed=None):
        self.name, self.n, self.pos = name, n, 0
        self.value = _UNSET if fixed is None else fixed
        self.known = fixed is not None  # from the file's statistics: nothing to read
        self.array = None
        self.pieces = None
        self.type = None

    def add(self, col) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        whole = (
            isinstance(col, pa.ChunkedArray)
            and self.name != "status"
            and not col.null_count
            and not pa.types.is_dictionary(col.type)
        )
        # many pieces (a CSV's blocks, a read's row groups) looked at as one: one copy into
        # numpy, one count of distinct texts
        for piece in [col] if whole or not isinstance(col, pa.ChunkedArray) else col.chunks:
            self._add(piece, pa, pc)
            self.pos += len(piece)

    def _add(self, piece, pa, pc) -> None:
        kind = self.type = piece.type
        if not len(piece):
            return
        numeric = pa.types.is_integer(kind) or pa.types.is_floating(kind)
        if self.pieces is None and numeric and not piece.null_count:
            values = piece.to_numpy()
            if self.array is not None:
                self.array[self.pos : self.pos + len(values)] = values
                return
            bits = values.view(np.int64) if values.dtype == np.float64 else values
            if self.value is _UNSET:
                self.value = values[0]
            first = np.array(self.value, dtype=values.dtype)
            first = first.view(np.int64) if values.dtype == np.float64 else first
            if (bits == first).all():
                return
            if self.pos == 0 and len(values) == self.n and values.flags.writeable:
                self.array = values  # the whole column at once: no second copy
                return
            self.array = np.empty(self.n, dtype=values.dtype)
            self.array[: self.pos] = self.value
            self.array[self.pos : self.pos + len(values)] = values
            return
        text = pa.types.is_string(kind) or pa.types.is_large_string(kind)
        if self.pieces is None and text and self.name != "status" and not piece.null_count:
            if self.value is _UNSET:
                self.value = piece[0].as_py()
            if pc.count_distinct(piece).as_py() == 1 and piece[0].as_py() == self.value:
                return
        if self.pieces is None:  # what came before, as Arrow
            self.pieces = []
            if self.array is not None:
                self.pieces.append(pa.array(self.array[: self.pos]))
                self.array = None
            elif self.pos:  # the one value so far, repeated
                one = pa.array([self.value], type=kind)
                self.pieces.append(one.take(pa.array(np.zeros(self.pos, dtype=np.int32))))
        if self.name == "status" and not pa.types.is_dictionary(kind):
            piece = pc.dictionary_encode(piece)
        self.pieces.extend(piece.chunks if isinstance(piece, pa.ChunkedArray) else [piece])

    def result(self):
        """The column as pandas data (see the class doc)."""
        import pyarrow as pa

        if self.pieces is not None:
            col = pa.chunked_array(self.pieces)
            if pa.types.is_null(col.type):  # an empty column: NaN, as pandas reads it
                return np.full(self.n, np.nan)
            return col.to_pandas()
        if self.array is not None:
            return self.array
        if self.value is not _UNSET and self.n:
            return _constant(self.value, self.n)
        kind = self.type or pa.float64()
        return pa.array([], type=kind).to_pandas()


def _frame_of(builders: dict) -> pd.DataFrame:
    """The DataFrame of the columns built (each builder let go once converted)."""
    out = {}
    for name in list(builders):
        out[str(name).strip()] = builders.pop(name).result()
    return pd.DataFrame(out, copy=False)


def _constant(value, n: int) -> pd.Categorical:
    return pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=pd.Index([value]))


class _Shared(dict):
    """A sidecar's dict in ``df.attrs``: pandas deep-copies a frame's attrs into every frame
    made from it (each column taken, each group), and a sidecar is read, not changed."""

    def __deepcopy__(self, memo):
        return self


def results_sidecar(path):
    """The JSON sidecar ``<stem>.json`` of a results file as a dict, or None (none there, not
    readable (a ResultsWarning), or the sidecar of the other format's file)."""
    path = Path(path)
    meta = _read_sidecar(path)
    return meta if sidecar_describes(meta, path) else None  # one <name>.json for both


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


def _integrity_problem(path: Path, meta) -> str | None:
    """What is wrong with the file against its sidecar's ``results_size`` / ``results_sha256``
    (a warning's text), or None."""
    if not isinstance(meta, dict):
        return None
    size, digest = meta.get("results_size"), meta.get("results_sha256")
    actual = path.stat().st_size
    problem = None
    if isinstance(size, int) and not isinstance(size, bool) and size != actual:
        problem = f"{actual:,} bytes, the sidecar records {size:,}"
    elif isinstance(digest, str) and digest:
        sha = file_digest(path)[1]
        if sha != digest.lower():
            problem = f"SHA-256 {sha[:12]}..., the sidecar records {digest[:12]}..."
    if not problem:
        return None
    return (
        f"{path}: the file does not match its sidecar {path.with_suffix('.json').name} "
        f"({problem}): truncated or edited since the sweep wrote it? Re-run the sweep to "
        "rebuild it"
    )


def hidden_sizes(df: pd.DataFrame) -> list[int]:
    """The hidden sizes in the table (2 when there is no ``hidden`` column)."""
    if "hidden" not in df.columns:
        return [2]
    return sorted(int(h) for h in pd.unique(df["hidden"].dropna()))


def check_results(df: pd.DataFrame, source: str = "results", *, params=True) -> pd.DataFrame:
    """Check that ``df`` has what the analyses need; returns ``df``. Raises ResultsError.

    Needed: status, steps, final_ssr, and (``params``: True, or the columns that were read)
    init_<p>, final_<p> for every parameter of every hidden size present (hidden defaults to 2
    when the column is absent; a lean map has none of them, and the analyses that need them
    are skipped). Columns of numbers (steps,
    the SSRs, the numeric settings, init_<p>, final_<p>) read as text are converted; a value
    that is not a number is a ResultsError naming the column and row. ``status`` becomes a
    Categorical of STATUS_CATEGORIES.
    """
    if len(df.columns) == 0:
        raise ResultsError(f"{source}: no columns; expected a results CSV")
    missing = [c for c in CORE_COLUMNS if c not in df.columns]
    if "hidden" in df.columns:
        df["hidden"] = _whole_hidden(df["hidden"], source)
    sizes = hidden_sizes(df) if not missing or "hidden" in df.columns else [2]
    names = list(dict.fromkeys(n for h in sizes for n in param_names(h)))
    if params:  # (every one of them named when the file is not a results table at all)
        asked = set(params) if not isinstance(params, bool) and not missing else None
        missing += [
            f"{kind}_{n}"
            for kind in ("init", "final")
            for n in names
            if f"{kind}_{n}" not in df.columns and (asked is None or f"{kind}_{n}" in asked)
        ]
    if missing:
        raise ResultsError(
            f"{source}: missing column(s) {', '.join(missing)}; expected a results table with "
            f"status, steps, final_ssr, init_<p> and final_<p> (found "
            f"{', '.join(map(str, df.columns[:12]))}{' ...' if len(df.columns) > 12 else ''})"
        )
    if len(df) == 0:
        raise ResultsError(f"{source}: no runs (the table has a header but no rows)")
    df["status"] = _status_column(df["status"], source)
    numeric = ["steps", "final_ssr", "initial_ssr", *NUMERIC_SETTINGS]
    numeric += [c for c in df.columns if c.startswith(("init_", "final_"))]
    for col in numeric:
        if col not in df.columns or pd.api.types.is_numeric_dtype(df[col]):
            continue
        if isinstance(df[col].dtype, pd.CategoricalDtype):
            if pd.api.types.is_numeric_dtype(df[col].cat.categories):
                continue  # one value held fixed, a number
            values = pd.to_numeric(df[col].astype(object), errors="coerce")
        else:
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


def _whole_hidden(col: pd.Series, source: str) -> pd.Series:
    """The ``hidden`` column as whole numbers >= 1 (int64; a one-value Categorical stays one,
    of int64), or a ResultsError naming the first bad row."""
    fixed = isinstance(col.dtype, pd.CategoricalDtype)
    values = pd.Series(col.cat.categories) if fixed else col
    hidden = pd.to_numeric(values.astype(object) if fixed else values, errors="coerce")
    bad = hidden.isna() | (hidden < 1) | (hidden != hidden.round())
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0]) if not fixed else 0
        raise ResultsError(
            f"{source}: column hidden has a bad value "
            f"{col.iloc[row]!r} in row {row + 1}; "
            f"expected a whole number >= 1"
        )
    if fixed:
        return col.cat.rename_categories(pd.Index(hidden.astype(np.int64).to_numpy()))
    return hidden.astype(np.int64)


def _status_column(col: pd.Series, source: str) -> pd.Series:
    """``status`` stripped of spaces and as a Categorical of STATUS_CATEGORIES (a ResultsError
    for a value not in STATUSES). The distinct values are stripped and checked, not each row."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes, uniques = col.cat.codes.to_numpy(), col.cat.categories
        if (codes < 0).any():  # an empty cell
            uniques = uniques.append(pd.Index([np.nan]))
            codes = np.where(codes < 0, len(uniques) - 1, codes)
    else:
        codes, uniques = pd.factorize(col, use_na_sentinel=False)
    text = pd.Index(uniques).astype(str).str.strip()
    unknown = sorted(set(text) - set(STATUSES))
    if unknown:
        raise ResultsError(
            f"{source}: column status has unknown value(s) "
            f"{', '.join(map(repr, unknown[:5]))}; expected {', '.join(STATUSES)}"
        )
    lookup = np.array([STATUS_CATEGORIES.index(t) for t in text], dtype=np.int8)
    status = pd.Categorical.from_codes(lookup[codes], categories=STATUS_CATEGORIES)
    return pd.Series(status, index=col.index, name=col.name)


def status_is(df: pd.DataFrame, name: str) -> np.ndarray:
    """Per run, whether its status is ``name`` (bool array): from the codes when ``status``
    is a Categorical (as loaded), else by comparing the text."""
    col = df["status"]
    if isinstance(col.dtype, pd.CategoricalDtype):
        cats = col.cat.categories
        if name not in cats:
            return np.zeros(len(col), dtype=bool)
        return col.cat.codes.to_numpy() == cats.get_loc(name)
    return col.to_numpy() == name


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
    once, with a warning; a run_id that repeats with other values is only warned of. (Rows
    are compared whole only when some run_id repeats, or there is no run_id.)"""
    if "run_id" in df.columns and _increasing(df["run_id"]):
        return df  # no run twice (as a sweep writes them: in order), so no row twice
    again = df["run_id"].duplicated().to_numpy() if "run_id" in df.columns else None
    if again is not None and not again.any():
        return df
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


def _increasing(col: pd.Series) -> bool:
    """Whether a column of whole numbers increases strictly from row to row."""
    if not pd.api.types.is_integer_dtype(col.dtype):
        return False
    values = col.to_numpy()
    return bool((values[1:] > values[:-1]).all())


def varies(col: pd.Series) -> bool:
    """True when ``col`` holds more than one distinct value (NaN counts as one value)."""
    missing = col.isna()
    if missing.all():
        return False
    return bool(missing.any() or (col != col.iloc[0]).any())


def varying_settings(df: pd.DataFrame) -> list[str]:
    """Setting columns (SETTING_COLUMNS) with more than one distinct value, in contract order."""
    return [c for c in SETTING_COLUMNS if c in df.columns and varies(df[c])]


def plain(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with its one-value Categorical columns (columns a loaded table holds fixed) as
    plain columns of that value, for code that writes into them or trains from them."""
    fixed = [
        c for c in df.columns if c != "status" and isinstance(df[c].dtype, pd.CategoricalDtype)
    ]
    if not fixed:
        return df
    out = df.assign(**{c: np.asarray(df[c]) for c in fixed})
    out.attrs.update(df.attrs)
    return out


def run_ids(df: pd.DataFrame) -> np.ndarray:
    """Each row's run id: the ``run_id`` column, or the row label when there is none."""
    if "run_id" in df.columns:
        return df["run_id"].to_numpy()
    return df.index.to_numpy()


def data_dir(df: pd.DataFrame):
    """The folder of the results file (relative data paths are taken from it), or None."""
    path = df.attrs.get("path")
    return str(Path(path).parent) if path else None
