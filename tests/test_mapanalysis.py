"""`bpsweep analyse` of a map's results: tables by bands of each axis (not a row per pixel),
sensitivity to an init_<p> axis by bands, basins with the place of their representative, the
map's own figure instead of the plots over seeds, lean maps, maps without a sidecar."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from bpsweep import analysis as A
from bpsweep.commands import main
from bpsweep.sweeps.window import axis_values

# lesson 003's start, lr on a log axis (0.01 .. 1: small rates stall, large ones diverge)
# against w4 on a linear one; 32 x 16 pixels: 8 bands of 4 columns and 8 bands of 2 rows
MAP = """
name = "m"
[init]
preset = "statquest-start"
[train]
max_steps = 300
[map]
x = "lr"
y = "init_w4"
center = [-1.0, 0.63]
span = [2.0, 4.0]
resolution = [32, 16]
scale = ["log", "linear"]
"""


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """The map trained once: its folder (m.parquet, m-figure.png, m.json, ...)."""
    out = tmp_path_factory.mktemp("map")
    cfg = out / "m.toml"
    cfg.write_text(MAP)
    assert main(["map", str(cfg), "--out", str(out), "--quiet"]) == 0
    return out


def _analyse(capsys, *args) -> str:
    assert main(["analyse", *map(str, args)]) == 0
    return capsys.readouterr().out


def test_a_map_is_tabled_by_bands_of_its_axes(made, capsys):
    path = made / "m.parquet"
    out = _analyse(capsys, path)
    assert "a map over lr (log) x init_w4 (linear), 32 x 16 pixels" in out
    assert "by 8 equal bands of each axis" in out
    data = json.loads(_analyse(capsys, path, "--format", "json"))
    outcome = pd.DataFrame(data["outcome"])
    assert list(outcome.columns[:5]) == ["axis", "band", "lo", "hi", "runs"]
    assert list(outcome["axis"]) == ["lr"] * 8 + ["init_w4"] * 8
    assert (outcome["runs"] == 64).all()  # 4 columns x 16 rows, 2 rows x 32 columns
    # the bands' ranges: the window's edges, in the setting's units (log10 on the lr axis)
    np.testing.assert_allclose(outcome["lo"][:8], 10 ** (-2 + np.arange(8) / 4), rtol=1e-12)
    np.testing.assert_allclose(outcome["hi"][8:], 0.63 - 2 + 0.5 * np.arange(1, 9), atol=1e-12)
    # each band's shares are those of its pixels
    df = pd.read_parquet(path)
    good = df["final_ssr"] < 0.01
    for k in range(8):
        in_x = df["map_i"] // 4 == k
        in_y = df["map_j"] // 2 == k
        assert outcome["good_fit"][k] == good[in_x].mean()
        assert outcome["diverged"][8 + k] == (df["status"][in_y] == "diverged").mean()
    xs = axis_values(-1.0, 2.0, 32, "log")
    band_values = df.loc[df["map_i"] // 4 == 2, "lr"]
    assert set(band_values) == set(xs[8:12])
    assert outcome["lo"][2] < band_values.min() and band_values.max() < outcome["hi"][2]
    assert len(out.splitlines()) < 120  # not a row per pixel


def test_sensitivity_to_an_init_axis_and_where_the_basins_lie(made, capsys):
    path = made / "m.parquet"
    data = json.loads(_analyse(capsys, path, "--format", "json"))
    sens = pd.DataFrame(data["sensitivity"])
    assert list(sens["param"]) == ["w4"]  # lr is not a starting value
    df = pd.read_parquet(path)
    good = (df["final_ssr"] < 0.01).astype(float)
    rho = df["init_w4"].rank().corr(good.rank())  # Spearman over the whole map
    assert sens["rho_fit"][0] == pytest.approx(rho, abs=1e-12)
    outcome = pd.DataFrame(data["outcome"])
    shares = [sens[f"fit_b{b}"][0] for b in range(1, 9)]
    np.testing.assert_allclose(shares, outcome["good_fit"][8:], rtol=1e-14)  # y's bands
    basins = pd.DataFrame(data["basins"])
    assert len(basins) and {"rep_lr", "rep_init_w4"} <= set(basins.columns)
    rows = df.set_index("run_id").loc[basins["rep_run_id"]]
    # (JSON keeps 15 digits)
    np.testing.assert_allclose(basins["rep_lr"], rows["lr"], rtol=1e-14)
    np.testing.assert_allclose(basins["rep_init_w4"], rows["init_w4"], rtol=1e-14)


def test_map_plots_are_the_maps_own_figure(made, tmp_path, capsys):
    plots, report = tmp_path / "plots", tmp_path / "r.html"
    out = _analyse(capsys, made / "m.parquet", "--plots", plots, "--report", report)
    names = {p.name for p in plots.glob("*.png")}
    assert names == {"map.png", "ssr_histogram.png", "steps.png", "basin_curves.png"}
    assert (plots / "map.png").read_bytes() == (made / "m-figure.png").read_bytes()
    text = report.read_text()
    assert "Outcomes per band of each axis" in text and "The map" in text
    embedded = {
        base64.b64decode(b) for b in re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    }
    assert embedded == {p.read_bytes() for p in plots.glob("*.png")}  # drawn once, for both
    assert report.stat().st_size < 2_000_000
    assert "report written to" in out


def test_a_lean_map_is_analysed_with_what_it_has(made, tmp_path, capsys):
    """Only pixels, axes and outcomes: the tables and the map are made, the basins, stuck
    places and the chaos check are skipped with a note; the map is drawn from the table when
    no figure lies beside it."""
    df = pd.read_parquet(made / "m.parquet")
    lean = df[["map_i", "map_j", "lr", "init_w4", "status", "steps", "final_ssr"]]
    path = tmp_path / "lean.parquet"
    lean.to_parquet(path, index=False)
    shutil.copy(made / "m.json", tmp_path / "lean.json")
    meta = json.loads((tmp_path / "lean.json").read_text())
    meta.pop("results_size"), meta.pop("results_sha256"), meta.pop("results")
    (tmp_path / "lean.json").write_text(json.dumps(meta))
    plots = tmp_path / "plots"
    out = _analyse(capsys, path, "--plots", plots, "--chaos-sample", "5")
    assert "basins: skipped, the file has no final_w1, final_b1, final_w2, ..." in out
    assert "(a lean map" in out and "chaos: skipped" in out
    assert "Outcomes by 8 equal bands" in out and "Solution basins" not in out
    assert {p.name for p in plots.glob("*.png")} == {"map.png", "ssr_histogram.png", "steps.png"}
    full = json.loads(_analyse(capsys, made / "m.parquet", "--format", "json"))
    mine = json.loads(_analyse(capsys, path, "--format", "json", "--table", "outcome"))
    assert mine["outcome"] == full["outcome"]


def test_a_map_without_its_sidecar_is_known_by_its_pixel_columns(made, tmp_path, capsys):
    path = tmp_path / "bare.parquet"
    shutil.copy(made / "m.parquet", path)
    out = _analyse(capsys, path, "--format", "csv")
    table = pd.read_csv(io.StringIO(out))
    assert list(table["axis"]) == ["lr"] * 8 + ["init_w4"] * 8
    df = pd.read_parquet(path)
    first = df.loc[df["map_i"] // 4 == 0, "lr"]
    assert table["lo"][0] == first.min() and table["hi"][0] == first.max()  # pixels' values
    axes = A.map_axes(A.load_results(path))
    assert (axes.x, axes.y, axes.width, axes.height) == ("lr", "init_w4", 32, 16)


def test_by_still_groups_a_map_by_the_columns_given(made, capsys):
    out = _analyse(capsys, made / "m.parquet", "--by", "lr", "--format", "csv")
    table = pd.read_csv(io.StringIO(out))
    assert list(table.columns[:2]) == ["lr", "runs"] and len(table) == 32


def test_chaos_on_a_map_is_by_bands_too(made, capsys):
    out = _analyse(capsys, made / "m.parquet", "--chaos-sample", "40", "--table", "chaos")
    assert "Chaos:" in out and "40 runs x 3 perturbations" in out
    lines = [line for line in out.splitlines() if line.startswith(("lr ", "init_w4 "))]
    assert 2 <= len(lines) <= 16


def test_the_outcome_map_of_a_table_where_nothing_varies_is_named_so():
    from bpsweep.analysis import plots as P
    from results_helper import make_results

    pytest.importorskip("matplotlib")
    fig = P.outcome_map_figure(make_results(lrs=(0.1,), seeds=[3]))
    assert fig.get_suptitle() == "Outcome map of all the runs (no setting varies)"
