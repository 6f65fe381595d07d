"""Plots of a results table on matplotlib Axes (imported lazily; no display needed).

Every plot function draws on an ``Axes`` it is given and returns it; with ``ax=None`` it
creates a figure of its own (``matplotlib.figure.Figure`` with the Agg canvas, never pyplot, so
it works on a headless machine and leaves a notebook's backend alone), reached as
``ax.figure``. Saving is the caller's: :func:`make_plots` composes the standard figures and
writes them with :func:`save_figure`. Plots take tables computed elsewhere
(``bpsweep.analysis.tables``,
``bpsweep.analysis.endpoints``, ``bpsweep.analysis.reruns``); none trains a run. matplotlib is the
optional extra
``bpsweep[plots]``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import writing
from ..errors import ResultsError
from ..model import DEFAULT_FIT_SSR, param_names
from ..sweeps.results import status_is, varies, varying_settings
from .endpoints import basins as find_basins
from .maptables import band_groups, map_axes
from .reruns import model_data, predict, single_trainable
from .reruns import param_curve as param_curve_data
from .tables import OUTCOMES, Groups, init_columns, outcome_codes, outcomes, sensitivity

#: Colour of each outcome category (tables.OUTCOMES).
COLOURS = {
    "good fit": "#2ca02c",
    "false convergence": "#ff7f0e",
    "stuck": "#9467bd",
    "diverged": "#d62728",
}
MAX_POINTS = 20_000

__all__ = [
    "basin_curves",
    "figure",
    "init_scatter",
    "init_scatter_figure",
    "make_plots",
    "outcome_map",
    "outcome_map_figure",
    "param_curve",
    "predict",
    "save_figure",
    "single_trainable",
    "ssr_histogram",
    "steps_distribution",
    "steps_map",
    "trace_plot",
]


def figure(width=8.0, height=5.0, *, missing: Exception | None = None):
    """A new Agg-backed Figure (constrained layout). Without matplotlib it raises ``missing``
    (default a ResultsError; the map figures pass their UsageError)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise missing or ResultsError("plots need matplotlib: pip install bpsweep[plots]") from None
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _axes(ax, width=8.0, height=5.0, *, missing: Exception | None = None):
    """``ax``, or when None the one Axes of a new :func:`figure` of that size."""
    return figure(width, height, missing=missing).subplots() if ax is None else ax


def save_figure(fig, path) -> Path:
    """Write ``fig`` as a PNG to ``path`` (creating its folder); OutputError naming the path
    and the cause when it cannot be written."""
    with writing(path, make_folder=True) as path:
        fig.savefig(path, format="png")
    return path


def _group_key(df: pd.DataFrame):
    """The setting to draw one curve per value of: lr when it varies, else the first varying
    setting with at most 12 values, else None."""
    varying = varying_settings(df)
    if "lr" in varying:
        return "lr"
    for k in varying:
        if df[k].nunique(dropna=False) <= 12:
            return k
    return None


def _groups(df: pd.DataFrame, key, columns=None):
    """(label, the runs of one value of ``key``) for each value; ``key`` a column, None (all
    runs) or a :class:`bpsweep.analysis.tables.Groups` (e.g. the bands of a map's axis; only
    ``columns`` are taken from its runs)."""
    if key is None:
        yield "all runs", df
        return
    if isinstance(key, Groups):
        codes = np.asarray(key.codes)
        slim = df[columns] if columns else df
        bands = {"axis", "lo", "hi"} <= set(key.frame.columns)
        for k, row in enumerate(key.frame.to_dict("records")):
            if bands:
                label = f"{row['axis']} {row['lo']:.3g}..{row['hi']:.3g}"
            else:
                label = ", ".join(
                    f"{c}={v:g}" if isinstance(v, float) else f"{c}={v}" for c, v in row.items()
                )
            yield label, slim[codes == k]
        return
    for value, part in df.groupby(key, sort=True, dropna=False):
        yield f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}", part


def _map_axes(df: pd.DataFrame):
    candidates = list(varying_settings(df)) + (
        ["seed"] if "seed" in df.columns and varies(df["seed"].dropna()) else []
    )
    candidates.sort(key=lambda c: -df[c].nunique(dropna=False))
    return (candidates + [None, None])[:2]


class _Grid:
    """The cells of a heat map over settings x and y (x binned beyond ``max_columns``)."""

    def __init__(self, df, x, y, max_columns):
        auto_x, auto_y = _map_axes(df)
        self.x, self.y = x or auto_x, y or auto_y
        xv = df[self.x].to_numpy() if self.x else np.zeros(len(df))
        yv = df[self.y].to_numpy() if self.y else np.zeros(len(df))
        xs = np.sort(pd.unique(xv))
        self.binned = len(xs) > max_columns
        if self.binned:  # too many columns to show one by one: equal-count bins of x
            self.xi = np.searchsorted(xs, xv) * max_columns // len(xs)
            self.x_labels = [f"{xs[i * len(xs) // max_columns]}" for i in range(max_columns)]
            self.n_x = max_columns
        else:
            self.xi = np.searchsorted(xs, xv)
            self.x_labels = [f"{v:g}" if isinstance(v, float) else str(v) for v in xs]
            self.n_x = len(xs)
        ys = np.sort(pd.unique(yv))
        self.yi = np.searchsorted(ys, yv)
        self.y_labels = [f"{v:g}" if isinstance(v, float) else str(v) for v in ys]
        self.n_y = len(ys)
        self.cell = self.yi * self.n_x + self.xi
        self.counts = np.bincount(self.cell, minlength=self.n_y * self.n_x)
        self.single = self.counts.max() <= 1

    def show(self, ax, values, **kw):
        return ax.imshow(
            values.reshape(self.n_y, self.n_x),
            aspect="auto",
            origin="lower",
            interpolation="nearest",
            **kw,
        )

    def label(self, ax, xlabel=True):
        ax.set_ylabel(self.y or "")
        ax.set_yticks(range(self.n_y), self.y_labels if self.y else [""])
        step = max(1, self.n_x // 12)
        ax.set_xticks(
            range(0, self.n_x, step),
            [self.x_labels[i] for i in range(0, self.n_x, step)],
            rotation=30 if self.n_x > 12 else 0,
        )
        if xlabel:
            ax.set_xlabel((self.x or "") + (" (binned)" if self.binned else ""))

    def mark_changed(self, df, ax, chaos_runs):
        """Mark runs whose outcome changed under --chaos; returns (changed, re-run) counts."""
        if chaos_runs is None or not len(chaos_runs):
            return None
        changed = chaos_runs.index[chaos_runs["changed"].to_numpy()].unique()
        pos = df.index.get_indexer(changed)
        if len(pos):
            ax.scatter(
                self.xi[pos],
                self.yi[pos],
                marker="x",
                color="black",
                s=18,
                linewidths=1,
                label="outcome changes under a 1e-12 nudge",
            )
        return len(changed), chaos_runs.index.nunique()


def outcome_map(
    df: pd.DataFrame,
    ax=None,
    x=None,
    y=None,
    fit_ssr=DEFAULT_FIT_SSR,
    chaos_runs: pd.DataFrame | None = None,
    max_columns: int = 1200,
):
    """Heat map over two settings (default: the two that vary most, e.g. seed x lr) of each
    run's outcome, or the good-fit share when a cell holds several runs. Runs whose outcome
    changed under --chaos (``chaos_runs`` from reruns.chaos) are marked with a black x."""
    grid = _Grid(df, x, y, max_columns)
    ax = _axes(ax, 11, 2.2 + 0.35 * grid.n_y)
    fig = ax.figure
    outcome = outcome_codes(df, fit_ssr)
    if grid.single:
        from matplotlib.colors import BoundaryNorm, ListedColormap

        values = np.full(grid.n_y * grid.n_x, np.nan)
        values[grid.cell] = outcome
        im = grid.show(
            ax,
            values,
            cmap=ListedColormap([COLOURS[o] for o in OUTCOMES]),
            norm=BoundaryNorm(np.arange(-0.5, 4.5), 4),
        )
        bar = fig.colorbar(im, ax=ax, ticks=range(4))
        bar.ax.set_yticklabels(OUTCOMES)
        ax.set_title("Outcome of each run")
    else:
        good = np.bincount(grid.cell, outcome == 0, grid.n_y * grid.n_x)
        with np.errstate(invalid="ignore"):
            share = good / grid.counts
        im = grid.show(ax, share, cmap="RdYlGn", vmin=0, vmax=1)
        fig.colorbar(im, ax=ax, label="share of good fits")
        ax.set_title(f"Share of good fits (final SSR < {fit_ssr:g}) per cell")
    marked = grid.mark_changed(df, ax, chaos_runs)
    if marked is not None:
        if marked[0]:
            ax.legend(loc="upper right", fontsize=8, framealpha=0.8)
        ax.set_title(
            ax.get_title() + f"; x: outcome changed under --chaos "
            f"({marked[0]} of {marked[1]} re-run)"
        )
    grid.label(ax)
    return ax


def steps_map(
    df: pd.DataFrame,
    ax=None,
    x=None,
    y=None,
    chaos_runs: pd.DataFrame | None = None,
    max_columns: int = 1200,
):
    """Heat map of each run's steps (log colour scale; the median when a cell holds several
    runs) over the same settings as :func:`outcome_map`."""
    from matplotlib.colors import LogNorm

    grid = _Grid(df, x, y, max_columns)
    ax = _axes(ax, 11, 2.2 + 0.35 * grid.n_y)
    steps = pd.Series(df["steps"].to_numpy(np.float64)).groupby(grid.cell).median()
    values = np.full(grid.n_y * grid.n_x, np.nan)
    values[steps.index.to_numpy()] = steps.to_numpy()
    im = grid.show(ax, values, cmap="viridis", norm=LogNorm(vmin=1, vmax=max(2, np.nanmax(values))))
    ax.figure.colorbar(im, ax=ax, label="steps (log scale)")
    ax.set_title("Steps taken" + ("" if grid.single else " (median per cell)"))
    grid.mark_changed(df, ax, chaos_runs)
    grid.label(ax)
    return ax


def outcome_map_figure(
    df, x=None, y=None, fit_ssr=DEFAULT_FIT_SSR, chaos_runs=None, max_columns: int = 1200
):
    """The outcome map above the steps map, sharing the x axis; returns the Figure."""
    grid = _Grid(df, x, y, max_columns)
    fig = figure(11, 2.2 + 0.35 * grid.n_y * 2)
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    outcome_map(df, ax1, x, y, fit_ssr, chaos_runs, max_columns)
    steps_map(df, ax2, x, y, chaos_runs, max_columns)
    ax1.set_xlabel("")
    ax1.tick_params(labelbottom=False)
    if grid.x is None:  # nothing varies: one cell of all the runs
        title = "Outcome map of all the runs (no setting varies)"
    else:
        title = f"Outcome map over {grid.x} x {grid.y}" if grid.y else f"Outcome map over {grid.x}"
    fig.suptitle(title)
    return fig


def top_params(df: pd.DataFrame, fit_ssr=DEFAULT_FIT_SSR) -> tuple[str, str]:
    """The two initial parameters whose values matter most for a good fit (pooled)."""
    sens = sensitivity(df, by=[], fit_ssr=fit_ssr)
    top = list(sens["param"][:2])
    top += [c[5:] for c in init_columns(df) if c[5:] not in top]
    if len(top) < 2:
        raise ResultsError("the outcome scatter needs two initial parameters that vary")
    return top[0], top[1]


def init_scatter(
    df: pd.DataFrame,
    ax=None,
    p1=None,
    p2=None,
    fit_ssr=DEFAULT_FIT_SSR,
    title=None,
    max_points: int = MAX_POINTS,
):
    """Outcome of each run over two initial parameters (default: the two that matter most),
    coloured by outcome; at most ``max_points`` runs drawn at random."""
    if p1 is None or p2 is None:
        t1, t2 = top_params(df, fit_ssr)
        p1, p2 = p1 or t1, p2 or (t2 if t2 != p1 else t1)
    ax = _axes(ax, 5.5, 4.5)
    if len(df) > max_points:
        df = df.iloc[np.sort(np.random.default_rng(0).choice(len(df), max_points, replace=False))]
    outcome = outcomes(df, fit_ssr)
    for name in OUTCOMES:
        sel = (outcome == name).to_numpy()
        if sel.any():
            ax.scatter(
                df[f"init_{p1}"].to_numpy()[sel],
                df[f"init_{p2}"].to_numpy()[sel],
                s=6,
                color=COLOURS[name],
                label=f"{name} ({sel.sum()})",
                alpha=0.7,
                linewidths=0,
            )
    ax.set_title(title or f"Outcome by starting values of {p1} and {p2}")
    ax.legend(fontsize=7, markerscale=2, loc="best")
    return ax


def init_scatter_figure(
    df, p1=None, p2=None, fit_ssr=DEFAULT_FIT_SSR, max_points: int = MAX_POINTS
):
    """One :func:`init_scatter` panel per learning rate (or the main varying setting, up to
    9 panels), shared axes; returns the Figure."""
    if p1 is None or p2 is None:
        t1, t2 = top_params(df, fit_ssr)
        p1, p2 = p1 or t1, p2 or (t2 if t2 != p1 else t1)
    parts = list(_groups(df, _group_key(df)))[:9]
    ncol = min(3, len(parts))
    nrow = -(-len(parts) // ncol)
    fig = figure(4.2 * ncol + 1.5, 3.6 * nrow + 0.6)
    axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False, sharex=True, sharey=True))
    rng = np.random.default_rng(0)
    for ax, (label, part) in zip(axes.flat, parts):
        per = max_points // len(parts)
        if len(part) > per:
            part = part.iloc[np.sort(rng.choice(len(part), per, replace=False))]
        init_scatter(part, ax, p1, p2, fit_ssr, title=label, max_points=per)
    for ax in axes.flat[len(parts) :]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel(f"initial {p1}")
    for ax in axes[:, 0]:
        ax.set_ylabel(f"initial {p2}")
    fig.suptitle(f"Outcome by starting values of {p1} and {p2}")
    return fig


def ssr_histogram(df: pd.DataFrame, ax=None, fit_ssr=DEFAULT_FIT_SSR, by=None):
    """Histogram of the final SSR (log scale) per learning rate (``by``: per group of a
    :class:`bpsweep.analysis.tables.Groups` instead, e.g. the bands of a map's axis); diverged
    runs counted in the legend."""
    ax = _axes(ax, 8, 4.5)
    ssr = df["final_ssr"].to_numpy(np.float64)
    ok = np.isfinite(ssr) & (ssr > 0) & ~status_is(df, "diverged")
    lo, hi = (ssr[ok].min(), ssr[ok].max()) if ok.any() else (1e-3, 1.0)
    bins = np.logspace(np.log10(lo) - 0.05, np.log10(max(hi, lo * 10)) + 0.05, 50)
    key = _group_key(df) if by is None else by
    for label, part in _groups(df, key, ["final_ssr", "status"]):
        s = part["final_ssr"].to_numpy(np.float64)
        div = status_is(part, "diverged")
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
    return ax


def steps_distribution(df: pd.DataFrame, ax=None, by=None):
    """Distribution of the steps to convergence (converged runs) per learning rate (``by``:
    per group of a Groups instead, as :func:`ssr_histogram`)."""
    ax = _axes(ax, 8, 4.5)
    labels, data = [], []
    key = _group_key(df) if by is None else by
    axis = key.frame["axis"].iloc[0] if isinstance(key, Groups) and "axis" in key.frame else None
    for label, part in _groups(df, key, ["steps", "status"]):
        steps = part["steps"].to_numpy(np.float64)[status_is(part, "converged")]
        label = label.removeprefix(f"{axis} ") if axis else label  # the axis named below
        labels.append(f"{label}\n({len(steps)} of {len(part)})")
        data.append(steps if len(steps) else np.array([np.nan]))
    ax.boxplot(data, whis=(10, 90), showfliers=True, flierprops={"markersize": 2})
    ax.set_xticks(range(1, len(labels) + 1), labels, fontsize=8 if len(labels) < 7 else 6)
    if axis:
        ax.set_xlabel(f"bands of {axis}")
    ax.set_yscale("log")
    ax.set_ylabel("steps to convergence (log scale)")
    ax.set_title("Steps of converged runs (box: quartiles, whiskers: 10th-90th percentile)")
    return ax


def basin_curves(
    df: pd.DataFrame,
    ax=None,
    basins: pd.DataFrame | None = None,
    stuck: pd.DataFrame | None = None,
    top: int = 6,
):
    """The fitted curves ("green squiggles") of each basin's representative over the data,
    and (dashed) the largest places where runs get stuck."""
    basins = find_basins(df) if basins is None else basins
    ax = _axes(ax, 8, 5)
    x, y = model_data(df)
    hidden = int(df["hidden"].iloc[0]) if "hidden" in df.columns else 2
    activation = str(df["activation"].iloc[0]) if "activation" in df.columns else "softplus"
    names = param_names(hidden)
    span = x.max() - x.min() or 1.0
    grid = np.linspace(x.min() - 0.1 * span, x.max() + 0.1 * span, 300)
    for _, row in basins.head(top).iterrows():
        if "hidden" in row and row["hidden"] != hidden:
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
    return ax


def param_curve(curve: dict, ax=None):
    """The SSR against the one trained parameter (the lesson's "pink curve") with the
    gradient-descent steps of one run on it; ``curve`` from
    :func:`bpsweep.analysis.reruns.param_curve`
    (which re-runs the run)."""
    ax = _axes(ax, 8, 5)
    name, trace = curve["name"], curve["trace"]
    ax.plot(
        curve["curve"][name],
        curve["curve"]["ssr"],
        color="#e377c2",
        linewidth=2,
        label=f"SSR as a function of {name}",
    )
    ax.plot(
        trace[name],
        trace["ssr"],
        "o-",
        color="black",
        markersize=4,
        linewidth=0.8,
        label=f"run {curve['run_id']}: {len(trace) - 1} steps at lr={curve['lr']:g}",
    )
    ax.set_xlabel(name)
    ax.set_ylabel("SSR")
    ax.set_title(f"Gradient descent on {name} alone (other parameters fixed)")
    ax.legend(fontsize=8)
    return ax


def trace_plot(trace: pd.DataFrame, ax=None):
    """SSR per step (log scale) of re-run runs (a trace from reruns.trace_runs)."""
    ax = _axes(ax, 8, 4.5)
    for run_id, part in trace.groupby("run_id", sort=False):
        ax.plot(part["step"], part["ssr"], linewidth=1.5, label=f"run {run_id}")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("SSR (log scale)")
    ax.set_title("Loss curves: SSR after each step")
    ax.legend(fontsize=8)
    return ax


def make_figures(
    df: pd.DataFrame, tables: dict | None = None, fit_ssr=DEFAULT_FIT_SSR, images=None
) -> dict:
    """Every standard figure that applies, {name: Figure}, in display order. The SSR curve of
    a one-parameter sweep re-runs one run (reruns.param_curve) unless ``tables`` holds its
    result under ``param_curve``. ``images``: figures made elsewhere ({name: Figure or the
    path of a PNG}), first; a map's (``bpsweep analyse`` passes the map's own figure) take
    the place of the outcome map and the outcome scatter, which are one mark per run over
    the settings that vary (on a map: one row per pixel column)."""
    tables = tables or {}
    figs = dict(images or {})
    axes = map_axes(df)
    on_map = axes is not None
    if not on_map:
        chaos_runs = tables.get("chaos_runs")
        figs["outcome_map"] = outcome_map_figure(df, fit_ssr=fit_ssr, chaos_runs=chaos_runs)
        if len(init_columns(df)) >= 2:
            figs["init_scatter"] = init_scatter_figure(df, fit_ssr=fit_ssr)
    by = band_groups(df, axes)[0] if axes is not None else None  # a map: bands of its x
    figs["ssr_histogram"] = ssr_histogram(df, fit_ssr=fit_ssr, by=by).figure
    figs["steps"] = steps_distribution(df, by=by).figure
    if all(f"final_{n}" in df.columns for n in param_names(_hidden(df))):
        basins, stuck = tables.get("basins"), tables.get("stuck")
        figs["basin_curves"] = basin_curves(df, None, basins, stuck).figure
    if not on_map and single_trainable(df) is not None:
        curve = tables.get("param_curve") or param_curve_data(df)
        figs["param_curve"] = param_curve(curve).figure
    return figs


def _hidden(df: pd.DataFrame) -> int:
    return int(df["hidden"].iloc[0]) if "hidden" in df.columns and len(df) else 2


def make_plots(
    df: pd.DataFrame,
    outdir,
    tables: dict | None = None,
    fit_ssr=DEFAULT_FIT_SSR,
    prefix: str = "",
    images=None,
    only=None,
) -> dict[str, Path]:
    """Write every plot that applies to ``outdir`` as ``<prefix><name>.png``; returns
    {name: path}, in display order (``images``: see :func:`make_figures`; a PNG given by its
    path is copied; ``only``: write just these ``images``, none drawn here). OutputError when
    ``outdir`` cannot be written."""
    outdir = Path(outdir)
    made = {}
    figures = dict(images or {}) if only else make_figures(df, tables, fit_ssr, images)
    for name, fig in figures.items():
        target = outdir / f"{prefix}{name}.png"
        if isinstance(fig, (str, Path)):
            data = Path(fig).read_bytes()
            with writing(target, make_folder=True) as target:
                target.write_bytes(data)
            made[name] = target
        else:
            made[name] = save_figure(fig, target)
    return made
