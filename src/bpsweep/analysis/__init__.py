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
"""

from __future__ import annotations

import pandas as pd

from ..errors import ResultsError
from ..sweeps.results import (
    CORE_COLUMNS,
    SETTING_COLUMNS,
    ResultsWarning,
    check_results,
    hidden_sizes,
    load_results,
    varying_settings,
)
from .endpoints import (
    DEFAULT_BASIN_TOL,
    MODEL_COLUMNS,
    basins,
    canonical_final,
    cluster_points,
    stuck_points,
)
from .formatting import format_table
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
    group_keys,
    init_columns,
    outcome_table,
    outcomes,
    sensitivity,
    sensitivity_bins,
    wilson_interval,
)

#: The analyses' error: a results file or table that cannot be analysed.
AnalysisError = ResultsError


def analyse(
    df: pd.DataFrame,
    by=None,
    fit_ssr: float = DEFAULT_FIT_SSR,
    chaos_sample: int | None = None,
    run_chaos: bool = False,
    basin_tol: float = DEFAULT_BASIN_TOL,
    chaos_repeats: int = 1,
) -> dict[str, pd.DataFrame]:
    """Run every analysis; returns {name: table}: outcome, sensitivity, basins, stuck (and
    chaos, chaos_runs when asked; the outcome table then also has the shares' min and max over
    the ``chaos_repeats`` perturbations, ``<share>_chaos_min`` and ``_chaos_max``)."""
    keys = group_keys(df, by)
    tables = {
        "outcome": outcome_table(df, keys, fit_ssr),
        "sensitivity": sensitivity(df, keys, fit_ssr),
        "basins": basins(df, fit_ssr, basin_tol),
        "stuck": stuck_points(df, fit_ssr, basin_tol),
    }
    if run_chaos:
        runs = chaos(df, sample=chaos_sample, fit_ssr=fit_ssr, repeats=chaos_repeats)
        tables["chaos"] = chaos_table(df, runs, keys)
        tables["chaos_runs"] = runs
        spread = chaos_shares(df, runs, keys, fit_ssr)
        for col in spread.columns[len(keys) :]:
            tables["outcome"][col] = spread[col].to_numpy()
    return tables


__all__ = [
    "CORE_COLUMNS",
    "DEFAULT_BASIN_TOL",
    "DEFAULT_FIT_SSR",
    "MODEL_COLUMNS",
    "OUTCOMES",
    "SETTING_COLUMNS",
    "SHARES",
    "AnalysisError",
    "ResultsWarning",
    "analyse",
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
    "load_results",
    "outcome_table",
    "outcomes",
    "param_curve",
    "predict",
    "run_settings",
    "sensitivity",
    "sensitivity_bins",
    "single_trainable",
    "stuck_points",
    "trace_runs",
    "varying_settings",
    "wilson_interval",
]
