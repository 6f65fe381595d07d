"""Plots are written as valid PNGs (signature, then decoded by matplotlib)."""

import sys

import numpy as np
import pytest

from bpsweep import analysis as A
from bpsweep import plots as P
from bpsweep.commands import main
from results_helper import make_results, write_results

pytest.importorskip("matplotlib")
PNG = b"\x89PNG\r\n\x1a\n"


def _check_png(path, min_size=(200, 300)):
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == PNG
    image = imread(path)
    assert image.shape[0] >= min_size[0] and image.shape[1] >= min_size[1]
    assert image.std() > 0  # not blank


@pytest.fixture(scope="module")
def sweep():
    return make_results(lrs=(0.03, 0.1, 0.3), seeds=range(30))


def test_make_plots_writes_valid_pngs(sweep, tmp_path):
    tables = A.analyse(sweep, run_chaos=True, chaos_sample=20)
    made = P.make_plots(sweep, tmp_path, tables)
    assert set(made) == {"outcome_map", "init_scatter", "ssr_histogram", "steps", "basin_curves"}
    for path in made.values():
        _check_png(path)


def test_outcome_map_modes(sweep, tmp_path):
    # one run per cell (seed x lr): categories; several runs per cell: good-fit share; binned
    _check_png(P.outcome_map(sweep, tmp_path / "a.png"))
    _check_png(P.outcome_map(sweep, tmp_path / "b.png", x="lr", y="scheme"))
    _check_png(P.outcome_map(sweep, tmp_path / "c.png", max_columns=7))


def test_b3_sweep_draws_the_ssr_curve(tmp_path):
    df = make_results(lrs=(0.1, 0.2, 0.4), seeds=[0], init="statquest-fitted", trainable="b3")
    assert P.single_trainable(df) == "b3"
    made = P.make_plots(df, tmp_path)
    assert "param_curve" in made and "init_scatter" not in made
    for path in made.values():
        _check_png(path)
    _check_png(P.param_curve(df, tmp_path / "run2.png", run_id=2))  # a diverging run


def test_trace_plot_and_cli(sweep, tmp_path, capsys):
    csv = tmp_path / "r.csv"
    write_results(sweep, csv)
    trace, _ = A.trace_runs(A.load_results(csv), [1, 40])
    _check_png(P.trace_plot(trace, tmp_path / "t.png"))
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


def test_without_matplotlib(sweep, tmp_path, monkeypatch, capsys):
    csv = tmp_path / "r.csv"
    write_results(sweep.head(5), csv)
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(A.AnalysisError, match=r"pip install bpsweep\[plots\]"):
        P.outcome_map(sweep, tmp_path / "x.png")
    for option in ("--plots", "--report"):
        target = str(tmp_path / ("p" if option == "--plots" else "r.html"))
        assert main(["analyse", str(csv), option, target]) == 2
        assert "pip install bpsweep[plots]" in capsys.readouterr().err
