"""Plots of a results table, as PNG files (matplotlib, imported lazily, no display needed).

Figures are built on ``matplotlib.figure.Figure`` with the Agg canvas, never pyplot, so they
work on a headless machine and leave a notebook's backend alone. One function per plot; each
takes the results DataFrame (and tables from :mod:`bpsweep.analysis`) and writes ``path``.
matplotlib is the optional extra ``bpsweep[plots]``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import analysis as A
from .model import ACTIVATIONS, param_names

#: Colour of each outcome category (analysis.OUTCOMES).
COLOURS = {
    "good fit": "#2ca02c",
    "false convergence": "#ff7f0e",
    "stuck": "#9467bd",
    "diverged": "#d62728",
}
MAX_POINTS = 20_000


def _figure(width=8.0, height=5.0):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise A.AnalysisError("plots need matplotlib: pip install bpsweep[plots]") from None
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def _group_key(df: pd.DataFrame):
    """The setting to draw one curve per value of: lr when it varies, else the first varying
    setting with at most 12 values, else None."""
    varying = A.varying_settings(df)
    if "lr" in varying:
        return "lr"
    for k in varying:
        if df[k].nunique(dropna=False) <= 12:
            return k
    return None


def _groups(df: pd.DataFrame, key):
    if key is None:
        yield "all runs", df
        return
    for value, part in df.groupby(key, sort=True, dropna=False):
        yield f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}", part


def _map_axes(df: pd.DataFrame):
    candidates = [c for c in A.varying_settings(df)] + (
        ["seed"] if "seed" in df.columns and df["seed"].nunique() > 1 else []
    )
    candidates.sort(key=lambda c: -df[c].nunique(dropna=False))
    return (candidates + [None, None])[:2]


def outcome_map(
    df: pd.DataFrame,
    path,
    x=None,
    y=None,
    fit_ssr=A.DEFAULT_FIT_SSR,
    chaos_runs: pd.DataFrame | None = None,
    max_columns: int = 1200,
) -> Path:
    """Heat maps over two settings (default: the two that vary most, e.g. seed x lr): each
    run's outcome (or the good-fit share when a cell holds several runs) and its steps.
    Runs whose outcome changed under --chaos are marked with a black x."""
    auto_x, auto_y = _map_axes(df)
    x = x or auto_x
    y = y or auto_y
    work = pd.DataFrame(
        {
            "outcome": A.outcomes(df, fit_ssr).cat.codes.to_numpy(),
            "steps": df["steps"].to_numpy(np.float64),
        },
        index=df.index,
    )
    work["x"] = df[x].to_numpy() if x else 0
    work["y"] = df[y].to_numpy() if y else 0
    xs = np.sort(pd.unique(work["x"]))
    binned = len(xs) > max_columns
    if binned:  # too many columns to show one by one: equal-count bins of x
        xi = np.searchsorted(xs, work["x"].to_numpy()) * max_columns // len(xs)
        x_labels = [f"{xs[i * len(xs) // max_columns]}" for i in range(max_columns)]
        n_x = max_columns
    else:
        xi = np.searchsorted(xs, work["x"].to_numpy())
        x_labels = [f"{v:g}" if isinstance(v, float) else str(v) for v in xs]
        n_x = len(xs)
    ys = np.sort(pd.unique(work["y"]))
    yi = np.searchsorted(ys, work["y"].to_numpy())
    y_labels = [f"{v:g}" if isinstance(v, float) else str(v) for v in ys]
    cell = yi * n_x + xi
    counts = np.bincount(cell, minlength=len(ys) * n_x)
    single = counts.max() <= 1
    fig = _figure(11, 2.2 + 0.35 * len(ys) * 2)
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    if single:
        from matplotlib.colors import BoundaryNorm, ListedColormap

        grid = np.full(len(ys) * n_x, np.nan)
        grid[cell] = work["outcome"].to_numpy()
        cmap = ListedColormap([COLOURS[o] for o in A.OUTCOMES])
        im = ax1.imshow(
            grid.reshape(len(ys), n_x),
            aspect="auto",
            origin="lower",
            interpolation="nearest",
            cmap=cmap,
            norm=BoundaryNorm(np.arange(-0.5, 4.5), 4),
        )
        bar = fig.colorbar(im, ax=ax1, ticks=range(4))
        bar.ax.set_yticklabels(A.OUTCOMES)
        ax1.set_title("Outcome of each run")
    else:
        good = np.bincount(cell, work["outcome"].to_numpy() == 0, len(ys) * n_x)
        with np.errstate(invalid="ignore"):
            share = good / counts
        im = ax1.imshow(
            share.reshape(len(ys), n_x),
            aspect="auto",
            origin="lower",
            interpolation="nearest",
            cmap="RdYlGn",
            vmin=0,
            vmax=1,
        )
        fig.colorbar(im, ax=ax1, label="share of good fits")
        ax1.set_title(f"Share of good fits (final SSR < {fit_ssr:g}) per cell")
    steps = pd.Series(work["steps"].to_numpy()).groupby(cell).median()
    sgrid = np.full(len(ys) * n_x, np.nan)
    sgrid[steps.index.to_numpy()] = steps.to_numpy()
    from matplotlib.colors import LogNorm

    im2 = ax2.imshow(
        sgrid.reshape(len(ys), n_x),
        aspect="auto",
        origin="lower",
        interpolation="nearest",
        cmap="viridis",
        norm=LogNorm(vmin=1, vmax=max(2, np.nanmax(sgrid))),
    )
    fig.colorbar(im2, ax=ax2, label="steps (log scale)")
    ax2.set_title("Steps taken" + ("" if single else " (median per cell)"))
    if chaos_runs is not None and len(chaos_runs):
        changed = chaos_runs.index[chaos_runs["changed"].to_numpy()]
        pos = df.index.get_indexer(changed)
        if len(pos):
            for ax in (ax1, ax2):
                ax.scatter(
                    xi[pos],
                    yi[pos],
                    marker="x",
                    color="black",
                    s=18,
                    linewidths=1,
                    label="outcome changes under a 1e-12 nudge",
                )
            ax1.legend(loc="upper right", fontsize=8, framealpha=0.8)
        ax1.set_title(
            ax1.get_title() + f"; x: outcome changed under --chaos "
            f"({len(changed)} of {len(chaos_runs)} re-run)"
        )
    for ax in (ax1, ax2):
        ax.set_ylabel(y or "")
        ax.set_yticks(range(len(ys)), y_labels if y else [""])
    step = max(1, n_x // 12)
    ax2.set_xticks(
        range(0, n_x, step),
        [x_labels[i] for i in range(0, n_x, step)],
        rotation=30 if n_x > 12 else 0,
    )
    ax2.set_xlabel((x or "") + (" (binned)" if binned else ""))
    fig.suptitle(f"Outcome map over {x} x {y}" if y else f"Outcome map over {x}")
    return _save(fig, path)


def init_scatter(
    df: pd.DataFrame,
    path,
    p1=None,
    p2=None,
    fit_ssr=A.DEFAULT_FIT_SSR,
    max_points: int = MAX_POINTS,
) -> Path:
    """Outcome over two initial parameters (default: the two that matter most, pooled),
    one panel per learning rate (or the main varying setting), coloured by outcome."""
    if p1 is None or p2 is None:
        sens = A.sensitivity(df, by=[], fit_ssr=fit_ssr)
        top = list(sens["param"][:2])
        cols = [c[5:] for c in A.init_columns(df)]
        top += [c for c in cols if c not in top]
        if len(top) < 2:
            raise A.AnalysisError("the outcome scatter needs two initial parameters that vary")
        p1, p2 = p1 or top[0], p2 or (top[1] if top[1] != p1 else top[0])
    key = _group_key(df)
    parts = list(_groups(df, key))[:9]
    ncol = min(3, len(parts))
    nrow = -(-len(parts) // ncol)
    fig = _figure(4.2 * ncol + 1.5, 3.6 * nrow + 0.6)
    axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False, sharex=True, sharey=True))
    rng = np.random.default_rng(0)
    for ax, (label, part) in zip(axes.flat, parts):
        per = max_points // len(parts)
        if len(part) > per:
            part = part.iloc[np.sort(rng.choice(len(part), per, replace=False))]
        outcome = A.outcomes(part, fit_ssr)
        for name in A.OUTCOMES:
            sel = (outcome == name).to_numpy()
            if sel.any():
                ax.scatter(
                    part[f"init_{p1}"].to_numpy()[sel],
                    part[f"init_{p2}"].to_numpy()[sel],
                    s=6,
                    color=COLOURS[name],
                    label=f"{name} ({sel.sum()})",
                    alpha=0.7,
                    linewidths=0,
                )
        ax.set_title(label)
        ax.legend(fontsize=7, markerscale=2, loc="best")
    for ax in axes.flat[len(parts) :]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel(f"initial {p1}")
    for ax in axes[:, 0]:
        ax.set_ylabel(f"initial {p2}")
    fig.suptitle(f"Outcome by starting values of {p1} and {p2}")
    return _save(fig, path)


def ssr_histogram(df: pd.DataFrame, path, fit_ssr=A.DEFAULT_FIT_SSR) -> Path:
    """Histogram of the final SSR (log scale) per learning rate; diverged runs counted in the
    legend."""
    fig = _figure(8, 4.5)
    ax = fig.subplots()
    ssr = df["final_ssr"].to_numpy(np.float64)
    ok = np.isfinite(ssr) & (ssr > 0) & (df["status"] != "diverged").to_numpy()
    lo, hi = (ssr[ok].min(), ssr[ok].max()) if ok.any() else (1e-3, 1.0)
    bins = np.logspace(np.log10(lo) - 0.05, np.log10(max(hi, lo * 10)) + 0.05, 50)
    for label, part in _groups(df, _group_key(df)):
        s = part["final_ssr"].to_numpy(np.float64)
        div = (part["status"] == "diverged").to_numpy()
        keep = np.isfinite(s) & (s > 0) & ~div
        ax.hist(
            s[keep],
            bins=bins,
            histtype="step",
            linewidth=1.5,
            label=f"{label} ({div.sum()} diverged)",
        )
    ax.axvline(fit_ssr, color="grey", linestyle="--", label=f"good fit below {fit_ssr:g}")
    ax.set_xscale("log")
    ax.set_xlabel("final SSR (log scale)")
    ax.set_ylabel("runs")
    ax.set_title("Final SSR of runs that did not diverge")
    ax.legend(fontsize=8)
    return _save(fig, path)


def steps_distribution(df: pd.DataFrame, path) -> Path:
    """Distribution of the steps to convergence (converged runs) per learning rate."""
    fig = _figure(8, 4.5)
    ax = fig.subplots()
    labels, data = [], []
    for label, part in _groups(df, _group_key(df)):
        steps = part.loc[part["status"] == "converged", "steps"].to_numpy(np.float64)
        labels.append(f"{label}\n({len(steps)} of {len(part)})")
        data.append(steps if len(steps) else np.array([np.nan]))
    ax.boxplot(data, whis=(10, 90), showfliers=True, flierprops={"markersize": 2})
    ax.set_xticks(range(1, len(labels) + 1), labels, fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("steps to convergence (log scale)")
    ax.set_title("Steps of converged runs (box: quartiles, whiskers: 10th-90th percentile)")
    return _save(fig, path)


def predict(params, x, hidden: int = 2, activation: str = "softplus") -> np.ndarray:
    """The network's output at inputs ``x`` (n,) for one parameter vector (3H+1,)."""
    from . import kernels

    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty_like(x)
    kernels.forward(
        x,
        np.zeros_like(x),
        np.asarray(params, dtype=np.float64),
        hidden,
        ACTIVATIONS[activation],
        out,
        np.empty((len(x), hidden)),
        np.empty((len(x), hidden)),
    )
    return out


def _model_data(df: pd.DataFrame):
    from .data import load_data

    dataset = str(df["dataset"].iloc[0]) if "dataset" in df.columns else "dosage"
    return load_data(dataset, base_dir=A._data_dir(df))


def basin_curves(
    df: pd.DataFrame,
    path,
    basins: pd.DataFrame | None = None,
    stuck: pd.DataFrame | None = None,
    top: int = 6,
) -> Path:
    """The fitted curves ("green squiggles") of each basin's representative over the data,
    and (dashed) the largest places where runs get stuck."""
    basins = A.basins(df) if basins is None else basins
    x, y = _model_data(df)
    hidden = int(df["hidden"].iloc[0]) if "hidden" in df.columns else 2
    activation = str(df["activation"].iloc[0]) if "activation" in df.columns else "softplus"
    names = param_names(hidden)
    span = x.max() - x.min() or 1.0
    grid = np.linspace(x.min() - 0.1 * span, x.max() + 0.1 * span, 300)
    fig = _figure(8, 5)
    ax = fig.subplots()
    for _, row in basins.head(top).iterrows():
        if any(k in row and row[k] != v for k, v in (("hidden", hidden),)):
            continue
        ax.plot(
            grid,
            predict(row[list(names)].to_numpy(np.float64), grid, hidden, activation),
            linewidth=2,
            label=f"basin {int(row['id'])}: {int(row['runs'])} runs, SSR {row['rep_ssr']:.2g}",
        )
    if stuck is not None:
        for _, row in stuck.head(3).iterrows():
            ax.plot(
                grid,
                predict(row[list(names)].to_numpy(np.float64), grid, hidden, activation),
                linestyle="--",
                color="grey",
                linewidth=1,
                label=f"stuck {int(row['id'])}: {int(row['runs'])} runs, SSR {row['rep_ssr']:.2g}",
            )
    ax.scatter(x, y, color="black", zorder=5, s=40, label="data")
    ax.set_xlabel("input (dosage)")
    ax.set_ylabel("output (predicted)")
    ax.set_title(
        "Fitted curves of each basin's representative run"
        if len(basins)
        else "No good fits: curves of the largest stuck places"
    )
    ax.legend(fontsize=8)
    return _save(fig, path)


def single_trainable(df: pd.DataFrame):
    """The one trainable parameter's name when every run trains just one (e.g. b3), else None."""
    if "trainable" not in df.columns or df["trainable"].nunique() != 1:
        return None
    name = str(df["trainable"].iloc[0]).strip()
    return name if name and "," not in name and name != "all" else None


def param_curve(df: pd.DataFrame, path, run_id=None) -> Path:
    """For a sweep that trains one parameter (the lesson's b3): SSR against that parameter
    (the "pink curve"), with the gradient-descent steps of one run (default: a converged run
    with lr nearest the lesson's 0.1) drawn on it."""
    name = single_trainable(df)
    if name is None:
        raise A.AnalysisError(
            "the SSR curve needs a sweep that trains one parameter (trainable like 'b3')"
        )
    if run_id is None:
        conv = df[df["status"] == "converged"]
        pick = conv if len(conv) else df
        if "lr" in pick.columns:  # the lesson's learning rate when there is a choice
            pick = pick.iloc[
                np.argsort(np.abs(np.log(pick["lr"].to_numpy(float) / 0.1)), kind="stable")
            ]
        run_id = pick["run_id"].iloc[0] if "run_id" in pick.columns else pick.index[0]
    trace, _ = A.trace_runs(df, [run_id])
    row = A.find_runs(df, [run_id]).iloc[0]
    hidden = int(row.get("hidden", 2))
    names = param_names(hidden)
    base = trace[list(names)].iloc[0].to_numpy(np.float64)
    j = names.index(name)
    path_values = trace[name].to_numpy(np.float64)
    finite = path_values[np.isfinite(path_values)]
    lo, hi = finite.min(), finite.max()
    pad = max(0.5, 0.25 * (hi - lo))
    grid = np.linspace(lo - pad, hi + pad, 400)
    x, y = _model_data(df)
    activation = str(row.get("activation", "softplus"))
    ssr = np.empty_like(grid)
    for i, v in enumerate(grid):
        p = base.copy()
        p[j] = v
        ssr[i] = ((y - predict(p, x, hidden, activation)) ** 2).sum()
    fig = _figure(8, 5)
    ax = fig.subplots()
    ax.plot(grid, ssr, color="#e377c2", linewidth=2, label=f"SSR as a function of {name}")
    ax.plot(
        path_values,
        trace["ssr"],
        "o-",
        color="black",
        markersize=4,
        linewidth=0.8,
        label=f"run {run_id}: {len(trace) - 1} steps at lr={row.get('lr', float('nan')):g}",
    )
    ax.set_xlabel(name)
    ax.set_ylabel("SSR")
    ax.set_title(f"Gradient descent on {name} alone (other parameters fixed)")
    ax.legend(fontsize=8)
    return _save(fig, path)


def trace_plot(trace: pd.DataFrame, path) -> Path:
    """SSR per step (log scale) of re-run runs (a trace from analysis.trace_runs)."""
    fig = _figure(8, 4.5)
    ax = fig.subplots()
    for run_id, part in trace.groupby("run_id", sort=False):
        ax.plot(part["step"], part["ssr"], linewidth=1.5, label=f"run {run_id}")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("SSR (log scale)")
    ax.set_title("Loss curves: SSR after each step")
    ax.legend(fontsize=8)
    return _save(fig, path)


def make_plots(
    df: pd.DataFrame,
    outdir,
    tables: dict | None = None,
    fit_ssr=A.DEFAULT_FIT_SSR,
    prefix: str = "",
) -> dict[str, Path]:
    """Write every plot that applies to ``outdir``; returns {name: path}, in display order."""
    tables = tables or {}
    outdir = Path(outdir)
    made = {}
    made["outcome_map"] = outcome_map(
        df,
        outdir / f"{prefix}outcome_map.png",
        fit_ssr=fit_ssr,
        chaos_runs=tables.get("chaos_runs"),
    )
    if len(A.init_columns(df)) >= 2:
        made["init_scatter"] = init_scatter(
            df, outdir / f"{prefix}init_scatter.png", fit_ssr=fit_ssr
        )
    made["ssr_histogram"] = ssr_histogram(df, outdir / f"{prefix}ssr_histogram.png", fit_ssr)
    made["steps"] = steps_distribution(df, outdir / f"{prefix}steps.png")
    made["basin_curves"] = basin_curves(
        df, outdir / f"{prefix}basin_curves.png", tables.get("basins"), tables.get("stuck")
    )
    if single_trainable(df) is not None:
        made["param_curve"] = param_curve(df, outdir / f"{prefix}param_curve.png")
    return made
