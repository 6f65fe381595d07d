"""Analyses of a results table (one row per run), in one place for a notebook.

Each analysis lives in its own module and takes and returns pandas DataFrames; this module
re-exports them and runs them all (:func:`analyse`)::

    from bpsweep import analysis as A
    df = A.load_results("results/grid.csv")  # sweeps.results: CSV or Parquet, checked
    A.outcome_table(df)                 # tables: shares with Wilson intervals, steps, SSR
    A.sensitivity(df)                   # which initial values predict a good fit
    A.basins(df); A.stuck_points(df)    # endpoints: where good fits end, where runs stall
    A.chaos_table(df, A.chaos(df, sample=1000))   # reruns: 1e-12 moves of the starts
    A.trace_runs(df, [3, 17])           # re-run chosen runs and return their per-step SSR
    A.map_outcome_table(df, A.map_axes(df))      # maptables: a map's, by bands of its axes

``analyse`` makes them all (a map's by bands of its axes), and ``needed_columns`` says which
columns of a results file they read (``load_results(path, columns=...)``).
"""

from __future__ import annotations

import pandas as pd

from ..errors import ResultsError
from ..model import param_names
from ..sweeps.results import (
    CORE_COLUMNS,
    MAP_COLUMNS,
    SETTING_COLUMNS,
    ResultsWarning,
    check_results,
    hidden_sizes,
    is_map_table,
    load_results,
    results_columns,
    results_sidecar,
    status_is,
    varying_settings,
)
from . import forking
from .endpoints import (
    DEFAULT_BASIN_TOL,
    MODEL_COLUMNS,
    basins,
    canonical_final,
    cluster_points,
    stuck_points,
)
from .formatting import format_table
from .maptables import (
    DEFAULT_BANDS,
    MapAxes,
    band_groups,
    map_axes,
    map_outcome_table,
    map_sensitivity,
    with_rep_pixels,
)
from .reruns import (
    chaos,
    chaos_shares,
    chaos_table,
    find_runs,
    param_curve,
    predict,
    run_settings,
    single_trainable,
    trace_runs,
)
from .tables import (
    DEFAULT_FIT_SSR,
    OUTCOMES,
    SHARES,
    Groups,
    group_codes,
    group_keys,
    init_columns,
    outcome_table,
    outcome_tables,
    outcomes,
    sensitivity,
    sensitivity_bins,
    wilson_interval,
)

#: The analyses' error: a results file or table that cannot be analysed.
AnalysisError = ResultsError

#: The tables :func:`analyse` makes (and ``chaos`` with the chaos check).
TABLES = ("outcome", "sensitivity", "basins", "stuck")


def needed_columns(
    available, tables=TABLES, *, plots: bool = False, chaos: bool = False, by=None, meta=None
):
    """The columns of a results file (``available``: its column names) that the analyses
    ``tables`` (and the plots, with ``plots``) read; None for all of them (``chaos``: the
    re-runs need every setting). ``meta``: the file's sidecar (a map's names its axes).

    Every table needs status, steps and final_ssr; a sweep's tables its settings (to find
    those that vary), a map's its pixel columns and axes instead; sensitivity the init_<p>
    (a map's: its init_<p> axes), basins and stuck final_<p>, run_id and the model (dataset,
    hidden, activation).
    """
    if chaos:
        return None
    available = [str(c).strip() for c in available]
    tables = set(tables)
    want = {*CORE_COLUMNS, *MAP_COLUMNS, "run_id", *MODEL_COLUMNS}
    axes = _window_axes(meta) if not by else None
    inits = [c for c in available if c.startswith("init_")]
    is_map = all(c in available for c in MAP_COLUMNS) or axes is not None
    if is_map and not by and axes is not None:
        want |= set(axes)
        if "sensitivity" in tables or plots:
            want |= {c for c in axes if c.startswith("init_")}
    else:  # which settings vary is known once they are read
        want |= {*SETTING_COLUMNS, "seed"}
        if "sensitivity" in tables or plots or is_map:
            want |= set(inits)
    if plots:
        want.add("trainable")
    if tables & {"basins", "stuck"} or plots:
        want |= {c for c in available if c.startswith("final_")}
    if by:
        want |= {by} if isinstance(by, str) else set(by)
    return [c for c in available if c in want]


def _window_axes(meta):
    """The axis names of a map's sidecar, or None."""
    if not isinstance(meta, dict):
        return None
    entry = meta.get("map")
    window = entry.get("window") if isinstance(entry, dict) else None
    if not isinstance(window, dict):
        config = meta.get("config")
        window = config.get("map") if isinstance(config, dict) else None
    ok = isinstance(window, dict) and all(isinstance(window.get(k), str) for k in "xy")
    return (window["x"], window["y"]) if ok else None


def missing_for(df: pd.DataFrame, name: str) -> list[str]:
    """The columns the analysis ``name`` (a table, or ``chaos``) needs that ``df`` lacks
    (a lean map's table has no init_<p> or final_<p>); [] when it can be made."""
    names = [n for h in hidden_sizes(df) for n in param_names(h)]
    if name in ("basins", "stuck"):
        need = [f"final_{n}" for n in names]
    elif name == "chaos":
        need = [f"init_{n}" for n in names] + [f"final_{n}" for n in names]
    else:
        need = []
    return [c for c in dict.fromkeys(need) if c not in df.columns]


def analyse(
    df: pd.DataFrame,
    by=None,
    fit_ssr: float = DEFAULT_FIT_SSR,
    chaos_sample: int | None = None,
    run_chaos: bool = False,
    basin_tol: float = DEFAULT_BASIN_TOL,
    chaos_repeats: int = 1,
    tables=TABLES,
    bands: int = DEFAULT_BANDS,
    parallel: bool = False,
) -> dict[str, pd.DataFrame]:
    """Run every analysis (or those named in ``tables``); returns {name: table}: outcome,
    sensitivity, basins, stuck (and chaos, chaos_runs when asked; the outcome table then also
    has the shares' min and max over the ``chaos_repeats`` perturbations,
    ``<share>_chaos_min`` and ``_chaos_max``). A table whose columns ``df`` lacks
    (:func:`missing_for`) is left out.

    On a map's results (:func:`map_axes`) and without ``by``, the tables are by ``bands``
    equal bands of each axis (:mod:`bpsweep.analysis.maptables`) and the basins and stuck
    places name where their representative run lies on the map. ``parallel``: for large
    tables, find the basins and stuck places in a forked process while the other tables are
    made here (:mod:`bpsweep.analysis.forking`; the same tables).
    """
    axes = map_axes(df) if by is None else None
    groups = band_groups(df, axes, bands) if axes is not None else [Groups(*_keyed(df, by))]

    def tables_of_groups():
        out = {}
        if "outcome" in tables:
            out["outcome"] = pd.concat(outcome_tables(df, groups, fit_ssr), ignore_index=True)
        if "sensitivity" in tables:
            if axes is not None:
                out["sensitivity"] = map_sensitivity(df, axes, fit_ssr, bands, groups)
            else:
                out["sensitivity"] = sensitivity(df, groups[0], fit_ssr)
        return out

    def places():
        out = {}
        for name, find in (("basins", basins), ("stuck", stuck_points)):
            if name in tables and not missing_for(df, name):
                table = find(df, fit_ssr, basin_tol)
                out[name] = with_rep_pixels(table, df, axes) if axes is not None else table
        return out

    if parallel and len(df) >= forking.MIN_RUNS:
        found, out = forking.both(places, tables_of_groups)
    else:
        out, found = tables_of_groups(), places()
    out.update(found)
    if run_chaos and not missing_for(df, "chaos"):
        runs = chaos(df, sample=chaos_sample, fit_ssr=fit_ssr, repeats=chaos_repeats)
        out["chaos"] = pd.concat([chaos_table(df, runs, g) for g in groups], ignore_index=True)
        out["chaos_runs"] = runs
        if "outcome" in out:
            spread = pd.concat(
                [chaos_shares(df, runs, g, fit_ssr) for g in groups], ignore_index=True
            )
            for col in spread.columns[len(groups[0].keys) :]:
                out["outcome"][col] = spread[col].to_numpy()
    return out


def _keyed(df: pd.DataFrame, by):
    """(codes, frame) of the groups of ``by`` (every varying setting when None)."""
    keys = group_keys(df, by)
    return group_codes(df, keys)


__all__ = [
    "CORE_COLUMNS",
    "DEFAULT_BANDS",
    "DEFAULT_BASIN_TOL",
    "DEFAULT_FIT_SSR",
    "MAP_COLUMNS",
    "MODEL_COLUMNS",
    "OUTCOMES",
    "SETTING_COLUMNS",
    "SHARES",
    "TABLES",
    "AnalysisError",
    "Groups",
    "MapAxes",
    "ResultsWarning",
    "analyse",
    "band_groups",
    "basins",
    "canonical_final",
    "chaos",
    "chaos_shares",
    "chaos_table",
    "check_results",
    "cluster_points",
    "find_runs",
    "format_table",
    "hidden_sizes",
    "init_columns",
    "is_map_table",
    "load_results",
    "map_axes",
    "map_outcome_table",
    "map_sensitivity",
    "missing_for",
    "needed_columns",
    "outcome_table",
    "outcomes",
    "param_curve",
    "predict",
    "results_columns",
    "results_sidecar",
    "run_settings",
    "sensitivity",
    "sensitivity_bins",
    "single_trainable",
    "status_is",
    "stuck_points",
    "trace_runs",
    "varying_settings",
    "wilson_interval",
    "with_rep_pixels",
]
