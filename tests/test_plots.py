"""Plots draw on the Axes they are given and return it; the standard figures are written as
valid PNGs (signature, then decoded by matplotlib); places that cannot be written are one-line
errors."""

import sys

import numpy as np
import pytest

from bpsweep import analysis as A
from bpsweep.analysis import plots as P
from bpsweep.analysis import reruns as R
from bpsweep.commands import main
from bpsweep.errors import OutputError
from results_helper import make_results, write_results

pytest.importorskip("matplotlib")
PNG = b"\x89PNG\r\n\x1a\n"


def _check_png(path, min_size=(200, 300)):
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == PNG
    image = imread(path)
    assert image.shape[0] >= min_size[0] and image.shape[1] >= min_size[1]
    assert image.std() > 0  # not blank


def _drawn(ax):
    return len(ax.images) + len(ax.lines) + len(ax.collections) + len(ax.patches)


@pytest.fixture(scope="module")
def sweep():
    return make_results(lrs=(0.03, 0.1, 0.3), seeds=range(30))


def test_make_plots_writes_valid_pngs(sweep, tmp_path):
    tables = A.analyse(sweep, run_chaos=True, chaos_sample=20)
    made = P.make_plots(sweep, tmp_path, tables)
    assert set(made) == {"outcome_map", "init_scatter", "ssr_histogram", "steps", "basin_curves"}
    for path in made.values():
        _check_png(path)


def test_every_plot_draws_on_the_axes_it_is_given(sweep):
    fig = P.figure(12, 12)
    axes = fig.subplots(3, 3).flat
    trace, _ = R.trace_runs(sweep, [1, 40])
    b3 = make_results(lrs=(0.1,), seeds=[0], init="statquest-fitted", trainable="b3")
    calls = [
        lambda ax: P.outcome_map(sweep, ax),
        lambda ax: P.steps_map(sweep, ax),
        lambda ax: P.init_scatter(sweep, ax),
        lambda ax: P.ssr_histogram(sweep, ax),
        lambda ax: P.steps_distribution(sweep, ax),
        lambda ax: P.basin_curves(sweep, ax),
        lambda ax: P.trace_plot(trace, ax),
        lambda ax: P.param_curve(R.param_curve(b3), ax),
    ]
    for ax, call in zip(axes, calls):
        assert call(ax) is ax and ax.figure is fig and _drawn(ax) > 0
    # without an Axes each makes a figure of its own
    ax = P.ssr_histogram(sweep)
    assert ax.figure is not fig and _drawn(ax) > 0


def test_outcome_map_modes(sweep, tmp_path):
    # one run per cell (seed x lr): categories; several runs per cell: good-fit share; binned
    for name, kw in [("a", {}), ("b", {"x": "lr", "y": "scheme"}), ("c", {"max_columns": 7})]:
        fig = P.outcome_map_figure(sweep, **kw)
        _check_png(P.save_figure(fig, tmp_path / f"{name}.png"))
    single = P.outcome_map(sweep)
    assert single.get_title() == "Outcome of each run"
    several = P.outcome_map(sweep, x="lr", y="scheme")
    assert several.get_title().startswith("Share of good fits")


def test_b3_sweep_draws_the_ssr_curve(tmp_path):
    df = make_results(lrs=(0.1, 0.2, 0.4), seeds=[0], init="statquest-fitted", trainable="b3")
    assert P.single_trainable(df) == "b3"
    made = P.make_plots(df, tmp_path)
    assert "param_curve" in made and "init_scatter" not in made
    for path in made.values():
        _check_png(path)
    curve = R.param_curve(df, run_id=2)  # a diverging run: the re-run is reruns' work
    assert curve["name"] == "b3" and curve["run_id"] == 2
    ax = P.param_curve(curve)
    steps = ax.lines[1].get_xdata()
    assert np.array_equal(steps, curve["trace"]["b3"].to_numpy())
    _check_png(P.save_figure(ax.figure, tmp_path / "run2.png"))


def test_param_curve_is_the_ssr_along_the_parameter():
    # statquest.md, lesson 000: SSR at b3 = 0, 1, 2, 3 is 20.424, 7.768, 1.113, 0.458
    df = make_results(lrs=(0.1,), seeds=[0], init="statquest-fitted", trainable="b3")
    curve = R.param_curve(df, points=4001)["curve"]
    for b3, ssr in [(0, 20.424), (1, 7.768), (2, 1.113)]:
        i = int(np.argmin(np.abs(curve["b3"].to_numpy() - b3)))
        assert abs(curve["b3"].iloc[i] - b3) < 2e-3
        assert curve["ssr"].iloc[i] == pytest.approx(ssr, abs=0.05)


def test_trace_plot_and_cli(sweep, tmp_path, capsys):
    csv = tmp_path / "r.csv"
    write_results(sweep, csv)
    trace, _ = R.trace_runs(A.load_results(csv), [1, 40])
    ax = P.trace_plot(trace)
    assert [line.get_label() for line in ax.lines] == ["run 1", "run 40"]
    _check_png(P.save_figure(ax.figure, tmp_path / "t.png"))
    out = tmp_path / "cli.png"
    assert main(["trace", str(csv), "--run-id", "1", "40", "--plot", str(out)]) == 0
    _check_png(out)
    plots = tmp_path / "plots"
    assert main(["analyse", str(csv), "--plots", str(plots), "--chaos-sample", "5"]) == 0
    assert sorted(p.name for p in plots.iterdir()) == sorted(
        f"{n}.png"
        for n in ("outcome_map", "init_scatter", "ssr_histogram", "steps", "basin_curves")
    )


def test_predict_matches_numpy():
    p = np.array([3.34, -1.43, -3.53, 0.57, -1.22, -2.30, 0.0])
    x = np.array([0.0, 0.5, 1.0])
    y1, y2 = np.log1p(np.exp(p[0] * x + p[1])), np.log1p(np.exp(p[2] * x + p[3]))
    assert np.allclose(P.predict(p, x), p[4] * y1 + p[5] * y2 + p[6], rtol=1e-13)
    # statquest.md: predictions at b3 = 0 are -2.6036, -1.6092, -2.6148
    assert np.allclose(P.predict(p, x), [-2.6036, -1.6092, -2.6148], atol=5e-4)


def test_unwritable_places_are_one_line_errors(sweep, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("in the way")
    with pytest.raises(OutputError, match="file"):
        P.make_plots(sweep.head(30), blocker / "plots")
    csv = tmp_path / "r.csv"
    write_results(sweep, csv)
    cases = [
        ["--plots", str(blocker)],
        ["--plots", str(blocker / "sub")],
        ["--report", str(blocker / "r.html")],
        ["--report", str(tmp_path)],  # a folder where the report should go
    ]
    for extra in cases:
        if extra[1] == str(tmp_path):
            extra = ["--report", str(tmp_path / "dir.html")]
            (tmp_path / "dir.html").mkdir()
        assert main(["analyse", str(csv), *extra]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
        assert extra[1] in err
    assert main(["trace", str(csv), "--run-id", "1", "--plot", str(blocker / "t.png")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and str(blocker) in err


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_read_only_folder(sweep, tmp_path, capsys):
    import os

    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as a user who may write anywhere (root)")
        csv = tmp_path / "r.csv"
        write_results(sweep, csv)
        assert main(["analyse", str(csv), "--plots", str(ro / "plots")]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "read-only" in err
        with pytest.raises(OutputError, match="ro"):
            P.save_figure(P.ssr_histogram(sweep).figure, ro / "x.png")
    finally:
        ro.chmod(0o700)


def test_without_matplotlib(sweep, tmp_path, monkeypatch, capsys):
    csv = tmp_path / "r.csv"
    write_results(sweep.head(5), csv)
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(A.AnalysisError, match=r"pip install bpsweep\[plots\]"):
        P.outcome_map(sweep)
    for option in ("--plots", "--report"):
        target = str(tmp_path / ("p" if option == "--plots" else "r.html"))
        assert main(["analyse", str(csv), option, target]) == 2
        assert "pip install bpsweep[plots]" in capsys.readouterr().err
