"""Maps: the [map] spec, pixel coordinates against exact rationals, zooms, images, dimension."""

import math
from fractions import Fraction

import numpy as np
import pytest

from bpsweep.errors import ConfigError, UsageError
from bpsweep.maps import boxcount as B
from bpsweep.maps import image as MI
from bpsweep.sweeps import window as M
from bpsweep.sweeps.config import SETTINGS

BASE = {
    "x": "init_w1",
    "y": "init_w2",
    "center": [2.74, -1.13],
    "span": [8.0, 8.0],
    "resolution": [64, 48],
}
LOG = {
    "x": "lr_hidden",
    "y": "lr_output",
    "center": [-1.0, -0.5],
    "span": [3.0, 2.0],
    "resolution": [40, 30],
    "scale": ["log", "log"],
}


def spec_of(**changes):
    return M.parse_map_section({**BASE, **changes}, "m.toml")


# ---------------------------------------------------------------- the spec


def test_parse_fills_the_spec():
    s = M.parse_map_section(dict(BASE), "m.toml")
    assert (s.x, s.y, s.center, s.span, s.resolution) == (
        "init_w1",
        "init_w2",
        (2.74, -1.13),
        (8.0, 8.0),
        (64, 48),
    )
    assert s.scale == ("linear", "linear") and s.color == "outcome"
    assert (s.width, s.height, s.n_pixels) == (64, 48, 64 * 48)
    log = M.parse_map_section(dict(LOG), "m.toml")
    assert log.scale == ("log", "log")
    assert M.parse_map_section({**BASE, "color": "basin"}, "m.toml").color == "basin"


@pytest.mark.parametrize(
    ("change", "key", "found"),
    [
        ({"spn": 1}, "[map]", "did you mean 'span'?"),
        ({"x": None}, "[map] x", "found None"),
        ({"x": "lr_hiden"}, "[map] x", "did you mean 'lr_hidden'?"),
        ({"x": "hidden"}, "[map] x", "found 'hidden'"),
        ({"x": "optimizer"}, "[map] x", "found 'optimizer'"),
        ({"y": "init_w1"}, "[map] y", "on both axes"),
        ({"center": [1.0]}, "[map] center", "found [1.0] (list)"),
        ({"center": [1.0, "a"]}, "[map] center", "expected two finite numbers"),
        ({"center": [1.0, math.inf]}, "[map] center", "expected two finite numbers"),
        ({"center": [1.0, 10**400]}, "[map] center", "expected two finite numbers"),
        ({"span": [8.0]}, "[map] span", "expected two finite numbers > 0, found [8.0] (list)"),
        ({"span": [8.0, 0.0]}, "[map] span", "expected two finite numbers > 0"),
        ({"span": [8.0, -1]}, "[map] span", "expected two finite numbers > 0"),
        ({"span": [True, 1.0]}, "[map] span", "expected two finite numbers > 0"),
        ({"resolution": [0, 4]}, "[map] resolution", "expected two whole numbers from 1"),
        ({"resolution": [4.5, 4]}, "[map] resolution", "found [4.5, 4] (list)"),
        ({"resolution": [10**6, 4]}, "[map] resolution", "expected two whole numbers from 1"),
        ({"resolution": "64x48"}, "[map] resolution", "(string)"),
        ({"scale": ["log"]}, "[map] scale", "expected two of 'linear', 'log'"),
        ({"scale": ["lin", "log"]}, "[map] scale", "found ['lin', 'log']"),
        ({"color": "rainbow"}, "[map] color", "expected one of outcome, steps"),
        # windows leaving a setting's range, overflowing, or too narrow for float64
        (
            {"x": "lr", "center": [0.1, 0.0], "span": [0.4, 1.0]},
            "[map] center",
            "expected lr to be a finite number > 0 at every pixel",
        ),
        (
            {
                "x": "momentum",
                "center": [-0.1, 0.0],
                "span": [0.4, 1.0],
                "scale": ["log", "linear"],
            },
            "[map] center",
            "expected momentum to be a number in [0, 1)",
        ),
        (
            {"center": [400.0, 0.0], "span": [1.0, 1.0], "scale": ["log", "linear"]},
            "[map] center",
            "finite and > 0",
        ),
        ({"span": [1e-17, 8.0]}, "[map] span", "distinct values of init_w1"),
        ({"resolution": [4096, 4], "span": [1e-13, 1.0]}, "[map] span", "4096 distinct"),
    ],
)
def test_every_map_config_error(change, key, found):
    with pytest.raises(ConfigError) as err:
        M.parse_map_section({**BASE, **change}, "m.toml")
    message = str(err.value)
    assert message.startswith(f"m.toml: {key}"), message
    assert found in message, message


def test_missing_keys_and_non_table():
    for key in ("x", "y", "center", "span", "resolution"):
        table = {k: v for k, v in BASE.items() if k != key}
        with pytest.raises(ConfigError, match=rf"^m.toml: \[map\] {key}: expected a value"):
            M.parse_map_section(table, "m.toml")
    with pytest.raises(ConfigError, match=r"\[map\]: expected a table"):
        M.parse_map_section([1], "m.toml")


def test_axes_come_from_the_callers_schema():
    axes = {"lr": SETTINGS["lr"], "hidden": SETTINGS["hidden"], "init_<p>": M.INIT_PARAM_SETTING}
    s = M.parse_map_section(
        {**BASE, "x": "lr", "center": [0.5, 0.0], "span": [0.5, 1.0]}, "m.toml", axes=axes
    )
    assert s.x == "lr"
    with pytest.raises(ConfigError, match="continuous values"):
        M.parse_map_section({**BASE, "x": "hidden"}, "m.toml", axes=axes)
    with pytest.raises(ConfigError, match="found 'momentum'"):
        M.parse_map_section({**BASE, "x": "momentum", "center": [0.5, 0]}, "m.toml", axes=axes)
    assert "lr_hidden" in M.default_axes() and "lr_output" in M.default_axes()
    assert "seed" not in M.default_axes()


def test_resolution_override():
    s = spec_of()
    r = s.with_resolution("100x7")
    assert r.resolution == (100, 7) and r.center == s.center and r.span == s.span
    assert s.with_resolution((3, 5)).resolution == (3, 5)
    for bad in ("100", "100x", "0x5", "axb", "10x-3", "99999999x2"):
        with pytest.raises(UsageError, match="--resolution"):
            s.with_resolution(bad)
    narrow = spec_of(span=[1e-12 * 2.74, 8.0], resolution=[1024, 4])
    # 16384 (MAX_SIDE) pixels over 1e-12 of the centre are closer than float64 resolves
    with pytest.raises(UsageError, match="--resolution 16384x4: .*distinct"):
        narrow.with_resolution("16384x4")


# ---------------------------------------------------------------- pixel coordinates


def exact_linear(c, s, n):
    """x_i = c + (i + 0.5 - n/2) * s / n in exact rationals, each rounded once at the end."""
    half = Fraction(1, 2)
    return [
        float(Fraction(c) + (Fraction(i) + half - Fraction(n, 2)) * Fraction(s) / n)
        for i in range(n)
    ]


@pytest.mark.parametrize(
    ("c", "s", "n"),
    [
        (2.74, 8.0, 7),
        (-1.13, 8.0, 5),
        (0.0, 1.0, 1),
        (0.1, 0.3, 1000),
        (1e5, 1e-7, 64),  # span 1e-12 of the centre
        (-3.3e-7, 1e-18, 33),
        (2.74, 2.74e-12, 1024),  # the tiny span, 1024 wide
    ],
)
def test_linear_coordinates_are_the_exact_values_rounded_once(c, s, n):
    got = M.axis_values(c, s, n, "linear")
    assert got.dtype == np.float64 and got.shape == (n,)
    assert got.tolist() == exact_linear(c, s, n)
    if n > 1:
        assert np.all(np.diff(got) > 0)  # distinct and monotone


def test_spec_coordinates_non_square_both_axes():
    s = spec_of(resolution=[7, 3], center=[0.3, -2.0], span=[1.5, 0.25])
    assert s.x_values().tolist() == exact_linear(0.3, 1.5, 7)
    assert s.y_values().tolist() == exact_linear(-2.0, 0.25, 3)


def exact_log(c, s, n):
    mpmath = pytest.importorskip("mpmath")
    with mpmath.workdps(60):
        ts = [
            Fraction(c) + (Fraction(i) + Fraction(1, 2) - Fraction(n, 2)) * Fraction(s) / n
            for i in range(n)
        ]
        return [mpmath.power(10, mpmath.mpf(t.numerator) / mpmath.mpf(t.denominator)) for t in ts]


@pytest.mark.parametrize(
    ("c", "s", "n"),
    [(-1.0, 3.0, 40), (-0.5, 2.0, 31), (-1.0, 1e-12, 1024), (2.3, 1e-11, 257), (-7.0, 0.4, 9)],
)
def test_log_coordinates_within_two_ulp_and_monotone(c, s, n):
    mpmath = pytest.importorskip("mpmath")
    got = M.axis_values(c, s, n, "log")
    want = exact_log(c, s, n)
    with mpmath.workdps(60):
        err = [abs(mpmath.mpf(float(g)) - w) for g, w in zip(got, want)]
    ulp = np.spacing(got)
    assert max(float(e) / u for e, u in zip(err, ulp)) <= 2.0
    assert np.all(np.diff(got) > 0)


def test_run_order_and_tiles():
    s = spec_of(resolution=[5, 3])
    xs, ys = s.x_values(), s.y_values()
    every = M.pixel_values(s)
    assert every["map_i"].tolist() == [k % 5 for k in range(15)]
    assert every["map_j"].tolist() == [k // 5 for k in range(15)]
    assert every["init_w1"].tolist() == [xs[k % 5] for k in range(15)]
    assert every["init_w2"].tolist() == [ys[k // 5] for k in range(15)]
    tiles = [M.pixel_values(s, a, min(a + 4, 15)) for a in range(0, 15, 4)]
    for key in every:
        assert np.concatenate([t[key] for t in tiles]).tolist() == every[key].tolist()
    i, j = M.pixel_of(np.arange(15), 5)
    assert M.run_of(i, j, 5).tolist() == list(range(15))
    with pytest.raises(UsageError):
        M.pixel_values(s, 3, 16)
    grid = M.to_grid(np.arange(15), s)
    assert grid.shape == (3, 5) and grid[2, 1] == 11  # [j, i] = run j * W + i
    with pytest.raises(UsageError, match="expected shape"):
        M.to_grid(np.arange(14), s)


def test_to_table_round_trips():
    for s in (spec_of(resolution=[7, 3], color="steps"), M.parse_map_section(dict(LOG), "m.toml")):
        assert M.parse_map_section(s.to_table(), "again.toml") == s


def test_parse_zoom():
    assert M.parse_zoom("0.35,0.2,1e6") == (0.35, 0.2, 1e6)
    assert M.parse_zoom(" -1, 2 ,0.5") == (-1.0, 2.0, 0.5)
    for bad in ("1,2", "1,2,3,4", "a,2,3", "1,2,0", "1,2,-3", "nan,2,3", "1,inf,2"):
        with pytest.raises(UsageError, match="--zoom: expected X,Y,FACTOR"):
            M.parse_zoom(bad)


def test_to_dict_names_the_window():
    d = spec_of(resolution=[4, 2]).to_dict()
    assert d["x"] == "init_w1" and d["resolution"] == [4, 2]
    assert d["x_range"] == [exact_linear(2.74, 8.0, 4)[0], exact_linear(2.74, 8.0, 4)[-1]]


# ---------------------------------------------------------------- zoom


def test_zoom_recentres_and_divides_the_span():
    s = spec_of(resolution=[16, 12])
    z = M.zoom(s, 3.0, -1.0, 1e6)
    assert z.center == (3.0, -1.0) and z.span == (8.0 / 1e6, 8.0 / 1e6)
    assert z.resolution == s.resolution and z.x == s.x
    assert z.x_values().tolist() == exact_linear(3.0, 8e-6, 16)
    deep = M.zoom(s, 2.74, -1.13, 8.0 / (2.74e-12))  # span 1e-12 of the centre
    xs = deep.x_values()
    assert np.all(np.diff(xs) > 0) and xs.tolist() == exact_linear(2.74, deep.span[0], 16)
    log = M.parse_map_section(dict(LOG), "m.toml")
    zl = M.zoom(log, 0.35, 0.2, 100)
    assert zl.center == (math.log10(0.35), math.log10(0.2)) and zl.span == (0.03, 0.02)


@pytest.mark.parametrize(
    ("args", "found"),
    [
        ((3.0, -1.0, 0), "FACTOR > 0"),
        ((3.0, -1.0, math.nan), "FACTOR > 0"),
        ((math.inf, -1.0, 2), "finite number"),
        ((2.74, -1.13, 1e17), "distinct values"),
    ],
)
def test_zoom_errors(args, found):
    with pytest.raises(UsageError, match="--zoom") as err:
        M.zoom(spec_of(), *args)
    assert found in str(err.value)


def test_zoom_errors_on_log_axes_and_ranges():
    log = M.parse_map_section(dict(LOG), "m.toml")
    with pytest.raises(UsageError, match="> 0"):
        M.zoom(log, -0.1, 0.2, 2)
    lr = spec_of(x="lr", center=[0.5, 0.0], span=[0.4, 1.0])
    with pytest.raises(UsageError, match="lr to be a finite number > 0"):
        M.zoom(lr, 0.05, 0.0, 1.0)


def test_zoom_frames_are_geometric_and_steady():
    s = spec_of(resolution=[32, 24])
    target = M.zoom(s, 3.5, -0.5, 1e4)
    frames = M.zoom_frames(s, target, 9)
    assert len(frames) == 9
    assert frames[0] == s and frames[-1] == target
    for axis in (0, 1):
        spans = [f.span[axis] for f in frames]
        ratios = [b / a for a, b in zip(spans, spans[1:])]
        assert max(ratios) == pytest.approx(min(ratios), rel=1e-12)
        assert ratios[0] == pytest.approx(1e-4 ** (1 / 8), rel=1e-12)
        # steady: the fixed point p (same place on screen in the first and last window) stays
        # at the same place in every frame
        c0, s0 = Fraction(s.center[axis]), Fraction(s.span[axis])
        c1, s1 = Fraction(target.center[axis]), Fraction(target.span[axis])
        p = (c1 * s0 - c0 * s1) / (s0 - s1)
        u0 = float((p - c0) / s0)
        for f in frames:
            assert float((p - Fraction(f.center[axis])) / Fraction(f.span[axis])) == pytest.approx(
                u0, abs=1e-9
            )
    assert M.zoom_frames(s, target, 1) == [target]
    pan = M.zoom_frames(s, M.zoom(s, 3.74, -1.13, 1.0), 3)
    assert pan[1].center[0] == pytest.approx(3.24) and pan[1].span == s.span
    with pytest.raises(UsageError, match="--frames"):
        M.zoom_frames(s, target, 0)
    with pytest.raises(UsageError, match="same axes"):
        M.zoom_frames(s, M.parse_map_section(dict(LOG), "m.toml"), 3)


# ---------------------------------------------------------------- boundary dimension


def naive_box_counts(grid, size):
    """Boundary cells: 2 x 2 windows of pixels holding both classes, found one by one; boxes of
    side ``size`` over them from the corner (the last ones cut by the edges) holding one."""
    h, w = grid.shape
    cells = np.zeros((h - 1, w - 1), dtype=bool)
    for j in range(h - 1):
        for i in range(w - 1):
            window = {bool(grid[j + a, i + b]) for a in (0, 1) for b in (0, 1)}
            cells[j, i] = len(window) == 2
    count = 0
    for top in range(0, h - 1, size):
        for left in range(0, w - 1, size):
            count += bool(cells[top : top + size, left : left + size].any())
    return count


def test_box_counts_match_the_naive_twin():
    rng = np.random.default_rng(3)
    for shape in ((64, 64), (100, 70), (33, 65)):
        grid = rng.random(shape) < 0.03
        grid[: shape[0] // 2] = rng.random((shape[0] // 2, shape[1])) < 0.97
        sizes = [1, 2, 4, 8, 16]
        assert B.box_counts(grid, sizes).tolist() == [naive_box_counts(grid, s) for s in sizes]


def _bands(grid, rng, kind):
    """``grid`` cut into bands of rows, in order: of 1 row, of random heights (empty ones too),
    or whole."""
    h = grid.shape[0]
    if kind == "rows":
        return [grid[j : j + 1] for j in range(h)]
    if kind == "whole":
        return [grid]
    cuts = np.sort(rng.integers(0, h + 1, size=rng.integers(1, 8)))
    edges = [0, *cuts.tolist(), h]
    return [grid[a:b] for a, b in zip(edges[:-1], edges[1:])]


def _counted(grid, bands, sizes):
    counter = B.BoxCounter(grid.shape[1])
    for band in bands:
        assert counter.add(band) is counter
    assert counter.rows == grid.shape[0]
    return counter.counts(sizes)


def test_box_counter_over_bands_equals_the_whole_grid(monkeypatch):
    rng = np.random.default_rng(11)
    n = 96
    y, x = np.mgrid[0:n, 0:n] / n
    structured = [
        (x - 0.5) ** 2 + (y - 0.4) ** 2 < 0.3**2,  # a disk
        y > 0.37 * x + 0.2,  # a tilted line
        (np.mgrid[0:n, 0:n].sum(axis=0) % 2).astype(bool),  # a checkerboard: all boundary
        np.sin(40 * x * y) > 0,  # curved stripes
        np.zeros((n, n), dtype=bool),  # one class: no boundary
    ]
    shapes = [
        (1, 1),
        (1, 9),
        (9, 1),
        (2, 2),
        (2, 5),
        (3, 3),
        (33, 65),
        (65, 33),
        (64, 64),
        (127, 5),
    ]
    grids = structured + [rng.random(shape) < rng.uniform(0.05, 0.95) for shape in shapes]
    for grid in grids:
        side = max(grid.shape)
        sizes = [1 << k for k in range(side.bit_length() + 1)]  # 1 up to beyond the side
        want = B.box_counts(grid, sizes)
        for kind in ("rows", "random", "random", "whole"):
            got = _counted(grid, _bands(grid, rng, kind), sizes)
            assert got.tolist() == want.tolist(), (grid.shape, kind)
    # blocks inside a band: a few cells at a time, the seams inside bands too
    monkeypatch.setattr(B.BoxCounter, "BLOCK_CELLS", 7)
    for grid in grids[:3] + grids[-3:]:
        sizes = [1, 2, 4, 8, 16, 32, 64, 128]
        want = B.box_counts(grid, sizes)
        assert _counted(grid, _bands(grid, rng, "random"), sizes).tolist() == want.tolist()
    # the naive twin, on a grid with odd sides, counted a row at a time
    grid = rng.random((37, 45)) < 0.1
    grid[:18] = rng.random((18, 45)) < 0.9
    sizes = [1, 2, 4, 8, 16]
    got = _counted(grid, _bands(grid, rng, "rows"), sizes)
    assert got.tolist() == [naive_box_counts(grid, s) for s in sizes]


def test_box_counter_counts_midway_and_goes_on():
    rng = np.random.default_rng(5)
    grid = rng.random((200, 150)) < 0.5
    grid[:, 75:] = np.sin(np.arange(200) / 9.0)[:, None] > np.linspace(-1, 1, 75)[None]
    sizes = [1, 2, 4, 8, 16, 32, 64, 128, 256]
    counter = B.BoxCounter(150)
    for a, b in ((0, 1), (1, 2), (2, 77), (77, 78), (78, 200)):
        counter.add(grid[a:b])
        # counts() adds what waits as if the grid ended here, and changes nothing
        assert counter.counts(sizes).tolist() == B.box_counts(grid[:b], sizes).tolist()
        assert counter.counts(sizes[::-1]).tolist() == B.box_counts(grid[:b], sizes)[::-1].tolist()
    assert counter.counts([]).tolist() == []


def test_box_counter_holds_a_row_per_box_size():
    import tracemalloc

    w, h, rows = 2048, 8192, 64  # the whole grid: 16 MiB; a band: 128 KiB
    rng = np.random.default_rng(2)
    counter = B.BoxCounter(w)
    tracemalloc.start()
    try:
        for _ in range(0, h, rows):
            counter.add(rng.random((rows, w), dtype=np.float32) < 0.5)
        counts = counter.counts([64, 1024])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # each band's floats (512 KiB) and bools, the block's temporaries, a row per level
    assert peak < 2 * 2**20, peak / 2**20
    assert counts.tolist() == [32 * 128, 2 * 8]  # random: every box holds one
    waiting = [p.nbytes for p in counter._pending if p is not None]
    assert sum(waiting) + counter._last.nbytes <= 3 * w


def test_box_counter_errors():
    counter = B.BoxCounter(4)
    for bad, match in (
        (np.zeros((2, 5), dtype=bool), r"\(rows, 4\) bool band, found \(2, 5\) bool at row 0"),
        (np.zeros((2, 4)), "found \\(2, 4\\) float64"),
        (np.zeros(4, dtype=bool), r"found \(4,\)"),
    ):
        with pytest.raises(UsageError, match=match):
            counter.add(bad)
    with pytest.raises(UsageError, match="powers of two >= 1, found 3"):
        counter.counts([2, 3])
    for width in (0, 2.0, True):
        with pytest.raises(UsageError, match="width"):
            B.BoxCounter(width)


def fill_polygon(vertices, n):
    """Even-odd fill of a polygon (complex vertices in [0, 1]^2) at the n x n pixel centres:
    per row, the x where edges cross the row's centre line, sorted, filled pairwise."""
    a = np.asarray(vertices)
    b = np.roll(a, -1)
    x0, y0, x1, y1 = a.real, a.imag, b.real, b.imag
    grid = np.zeros((n, n), dtype=bool)
    centres = (np.arange(n) + 0.5) / n
    for j, y in enumerate(centres):
        crosses = (y0 <= y) != (y1 <= y)
        xs = np.sort(
            x0[crosses]
            + (y - y0[crosses]) * (x1[crosses] - x0[crosses]) / (y1[crosses] - y0[crosses])
        )
        for left, right in zip(xs[0::2], xs[1::2]):
            grid[j, (centres > left) & (centres < right)] = True
    return grid


def koch_snowflake(depth):
    """Vertices of the Koch snowflake (complex), side 0.75, centred in [0, 1]^2."""
    r = 0.75 / math.sqrt(3)
    points = [0.5 + 0.55j + r * np.exp(1j * math.radians(a)) for a in (90, -30, 210)]
    for _ in range(depth):
        out = []
        for p, q in zip(points, points[1:] + points[:1]):
            d = (q - p) / 3
            out += [p, p + d, p + d + d * np.exp(1j * math.pi / 3), p + 2 * d]
        points = out
    return points


def sierpinski_carpet(level):
    """The carpet at 3**level pixels a side: True on the carpet, False in its holes (a pixel is
    in a hole when, at some scale 3**k, its digits in base 3 are both 1)."""
    digits = np.arange(3**level)
    hole = np.zeros((3**level, 3**level), dtype=bool)
    for k in range(level):
        middle = (digits // 3**k) % 3 == 1
        hole |= middle[:, None] & middle[None, :]
    return ~hole


def cantor_set(level):
    """The middle-thirds Cantor set at 3**level pixels: True on the set."""
    digits = np.arange(3**level)
    keep = np.ones(3**level, dtype=bool)
    for k in range(level):
        keep &= (digits // 3**k) % 3 != 1
    return keep


#: shape -> (true dimension, tolerance on D): measured at 2048 px (the carpet 2187 px, noise
#: 512 px), box sizes 2 to side / 8; the tolerance is about twice the error measured.
KNOWN = {
    "line": (1.0, 0.005),
    "disk": (1.0, 0.01),
    "koch": (math.log(4) / math.log(3), 0.03),
    "carpet": (math.log(8) / math.log(3), 0.03),
    "noise": (2.0, 0.005),
}


def test_dimension_of_known_shapes():
    n = 2048
    centres = (np.arange(n) + 0.5) / n
    y, x = np.meshgrid(centres, centres, indexing="ij")
    koch = fill_polygon(koch_snowflake(7), n)
    assert koch.mean() == pytest.approx(0.75**2 * math.sqrt(3) / 4 * 1.6, rel=0.02)  # area 8/5
    carpet = sierpinski_carpet(7)
    assert carpet.mean() == pytest.approx((8 / 9) ** 7)
    grids = {
        "line": y > 0.37 * x + 0.2,  # a straight boundary, tilted
        "disk": (x - 0.5) ** 2 + (y - 0.45) ** 2 < 0.35**2,
        "koch": koch,
        "carpet": carpet,  # the boundary between the carpet and its holes
        "noise": np.random.default_rng(0).random((512, 512)) < 0.5,  # fills the plane
    }
    for name, grid in grids.items():
        want, tolerance = KNOWN[name]
        dim = B.measure_dimension(grid)
        table = dim.table
        assert abs(dim.D - want) < tolerance, (name, dim.summary(), table)
        # D is a weighted mean of the local slopes, and half their range holds the true value
        local = table["local_slope"].to_numpy()[1:]
        assert local.min() <= dim.D <= local.max() and np.isnan(table["local_slope"][0])
        assert dim.uncertainty == pytest.approx((local.max() - local.min()) / 2)
        assert abs(dim.D - want) <= dim.uncertainty, (name, dim.summary())
        # the regression's standard error is smaller than the error on the fractals (why the
        # uncertainty does not use it), and no warning: 6 or 8 box sizes, slopes within 0.3
        assert 0 < dim.stderr < dim.uncertainty
        assert dim.ok and dim.warning is None, dim.warning
        top = 64 if name == "noise" else 256  # side / 8, down to a power of two
        assert table["box_size"].tolist() == [1 << k for k in range(1, top.bit_length())]
        d, old = B.boundary_dimension(grid)  # the callers' (D, table): the same D and counts
        assert d == dim.D and old.columns.tolist() == ["box_size", "count"]
        assert old.equals(table[["box_size", "count"]])


def test_dimension_of_a_line_slice():
    cantor = cantor_set(10)  # 59049 pixels: box sizes 2 to 4096
    dim = B.measure_dimension(cantor)
    want = math.log(2) / math.log(3)
    assert dim.ndim == 1 and len(dim.table) == 12 and dim.ok
    assert abs(dim.D - want) < 0.03 and abs(dim.D - want) <= dim.uncertainty, dim.summary()
    assert dim.summary().startswith("D = 0.6") and "12 box sizes 2 to 4096 pixels" in dim.summary()
    step = np.arange(1000) < 400  # one boundary point: dimension 0
    dim = B.measure_dimension(step)
    assert abs(dim.D) < 1e-12 and dim.uncertainty == 0.0 and dim.summary().startswith("D = 0.000")
    every = B.measure_dimension(np.arange(1025) % 2 == 0)  # 1024 boundary points: dimension 1
    assert abs(every.D - 1.0) < 1e-12 and every.uncertainty < 1e-12
    rng = np.random.default_rng(4)
    for n in (1, 2, 33, 100, 257):
        line = rng.random(n) < 0.2
        points = line[1:] != line[:-1]
        for size in (1, 2, 4, 8, 16, 512):
            naive = sum(bool(points[a : a + size].any()) for a in range(0, max(n - 1, 0), size))
            assert B.line_box_counts(line, [size]).tolist() == [naive]
    assert B.boundary_points([True, True, False, True]).tolist() == [False, True, True]
    none = B.measure_dimension(np.zeros(64, dtype=bool))
    assert (
        math.isnan(none.D)
        and "no boundary" in none.warning
        and none.summary().startswith("D undefined")
    )
    for bad, match in (
        (np.zeros(16, dtype=bool), "a line of at least 32 pixels"),
        (np.zeros(64), "boolean line"),
        (np.zeros((2, 2, 2), dtype=bool), "2-D grid or line"),
    ):
        with pytest.raises(UsageError, match=match):
            B.measure_dimension(bad)


def test_dimension_warnings_and_uncertainty():
    rng = np.random.default_rng(1)
    n = 1024
    y = (np.arange(n)[:, None] + 0.5) / n
    # a straight edge blurred by noise of a few pixels: plane-filling below 16 px, smooth
    # above; the local slopes go from about 1.6 to 1: not one dimension
    edge = y > 0.5 + 0.004 * rng.standard_normal((n, n))
    dim = B.measure_dimension(edge)
    local = dim.table["local_slope"]
    assert local.max() - local.min() > 2 * B.SPREAD_WARNING and dim.uncertainty > 0.15
    assert not dim.ok and "local slopes range from 1.000 to" in dim.warning
    assert "not one dimension over these scales" in dim.summary()
    # under 5 box sizes: rough; 2 sizes: one local slope, no uncertainty
    disk = (np.mgrid[0:64, 0:64] - 31.5) ** 2
    disk = disk.sum(axis=0) < 20**2
    dim = B.measure_dimension(disk)
    assert len(dim.table) == 3 and "rough: under 5 box sizes (3: 2 to 8 px a side)" in dim.warning
    two = B.measure_dimension(disk[::2, ::2])
    assert len(two.table) == 2 and math.isnan(two.uncertainty) and math.isnan(two.stderr)
    assert " +- " not in two.summary() and "rough" in two.summary()
    # JSON-ready: no NaN
    import json

    record = json.loads(json.dumps(two.to_dict(), allow_nan=False))
    assert record["uncertainty"] is None and record["table"][0]["local_slope"] is None
    assert record["table"][1] == {
        "box_size": 4,
        "count": int(two.table["count"][1]),
        "local_slope": two.table["local_slope"][1],
    }
    # fit_dimension: counts from anywhere (tiles added up); a straight boundary's counts
    sizes = np.array([2, 4, 8, 16, 32])
    fit = B.fit_dimension(sizes, 1000 // sizes)
    assert abs(fit.D - 1.0) < 0.01 and fit.ok
    with pytest.raises(UsageError, match="as many counts as box sizes"):
        B.fit_dimension([2, 4], [3])
    with pytest.raises(UsageError, match="increasing box sizes >= 1, found \\[4, 2\\]"):
        B.fit_dimension([4, 2], [3, 5])


def test_box_counter_dimension_equals_the_whole_grids():
    rng = np.random.default_rng(8)
    n = 300
    y, x = np.mgrid[0:n, 0:n] / n
    grid = np.sin(9 * x + 4 * np.sin(7 * y)) > rng.normal(0, 0.3, (n, n))
    counter = B.BoxCounter(n)
    for band in _bands(grid, rng, "random"):
        counter.add(band)
    streamed, whole = counter.dimension(), B.measure_dimension(grid)
    assert streamed.table.equals(whole.table) and streamed.D == whole.D
    assert streamed.uncertainty == whole.uncertainty and streamed.warning == whole.warning
    assert counter.dimension(4, 16).table["box_size"].tolist() == [4, 8, 16]
    with pytest.raises(UsageError, match="BoxCounter.dimension: expected min_box < max_box"):
        B.BoxCounter(64).add(grid[:20, :64]).dimension(2, 64)


def test_dimension_edge_cases():
    d, table = B.boundary_dimension(np.zeros((64, 64), dtype=bool))
    assert math.isnan(d) and (table["count"] == 0).all()
    _, table = B.boundary_dimension(np.eye(64, dtype=bool), min_box=4, max_box=16)
    assert table["box_size"].tolist() == [4, 8, 16]
    _, table = B.boundary_dimension(np.eye(600, 800, dtype=bool))
    assert table["box_size"].tolist() == [2, 4, 8, 16, 32, 64]  # up to 600 / 8 = 75
    for bad, match in (
        (np.zeros((64, 64)), "boolean grid"),
        (np.zeros(64, dtype=bool), "2-D grid"),
        (np.zeros((16, 64), dtype=bool), "at least 32 x 32"),
        (np.zeros((7, 64), dtype=bool), "too small"),
    ):
        with pytest.raises(UsageError, match=match):
            B.boundary_dimension(bad)
    with pytest.raises(UsageError, match="power of two"):
        B.boundary_dimension(np.zeros((64, 64), dtype=bool), min_box=3)
    with pytest.raises(UsageError, match="min_box < max_box"):
        B.boundary_dimension(np.zeros((64, 64), dtype=bool), min_box=8, max_box=8)


# ---------------------------------------------------------------- images


def lum(rgb):
    return np.asarray(rgb, dtype=np.int64).sum(axis=-1)


def left_half_diverges(w=40, h=30):
    """Per-pixel arrays in run order: columns i < W/2 diverged, the rest converged to a good
    fit, except the top row (j = H-1), which ran to max_steps."""
    s = spec_of(resolution=[w, h])
    k = np.arange(w * h)
    i, j = k % w, k // w
    status = np.where(i < w // 2, 2, 0)
    status[j == h - 1] = 1
    steps = np.full(w * h, 50)
    ssr = np.where(status == 0, 1e-4, 0.5)
    return s, status, steps, ssr


def test_outcome_image_size_and_orientation(tmp_path):
    s, status, steps, ssr = left_half_diverges()
    image = MI.map_image("outcome", s, status=status, steps=steps, final_ssr=ssr)
    rgb = image.rgb
    assert rgb.shape == (30, 40, 3) and rgb.dtype == np.uint8
    red, green = rgb[5, 3], rgb[5, 35]
    assert red[0] > red[1] and green[1] > green[0]  # diverged red on the left, good fits green
    assert (rgb[1:, :20] == red).all() and (rgb[1:, 20:] == green).all()
    purple = rgb[0, 0]  # row 0 of the image is the top row, j = H-1: stuck (max_steps)
    assert purple[0] > purple[1] and purple[2] > purple[1]
    assert (rgb[0] == purple).all() and not (rgb[-1] == purple).all()
    # the same from (H, W) grids [j, i]
    again = MI.map_image(
        "outcome",
        (30, 40),
        status=status.reshape(30, 40),
        steps=steps.reshape(30, 40),
        final_ssr=ssr.reshape(30, 40),
    )
    assert (again.rgb == rgb).all()
    path = MI.write_png(image, tmp_path / "m.png")
    from PIL import Image

    with Image.open(path) as im:
        assert im.size == (40, 30) and im.mode == "RGB"
        assert (np.asarray(im) == rgb).all()


def test_outcome_families_and_shading():
    # one row per family, steps growing to the right: converged good fit, converged without a
    # fit, max_steps, diverged
    w = 10
    steps = np.tile(np.geomspace(1, 1000, w).round(), 4)
    status = np.repeat([0, 0, 1, 2], w)
    ssr = np.repeat([1e-5, 0.7, 0.6, np.inf], w)
    rgb = MI.map_image("outcome", (4, w), status=status, steps=steps, final_ssr=ssr).rgb
    good, false, maxed, diverged = rgb[3], rgb[2], rgb[1], rgb[0]  # image rows from the top
    for row in (good, false, diverged):
        assert np.all(np.diff(lum(row)) >= 0) and lum(row)[0] < lum(row)[-1]  # fast = dark
    assert (maxed == maxed[0]).all()
    colours = {tuple(row[w // 2]) for row in (good, false, maxed, diverged)}
    assert len(colours) == 4  # all four distinguishable
    image = MI.map_image("outcome", (4, w), status=status, steps=steps, final_ssr=ssr)
    assert [label.split(":")[0].split(" (")[0] for label, _ in image.legend] == [
        "good fit",
        "false convergence",
        "stuck",
        "diverged; dark = fast",
    ]
    assert image.legend[0][0].endswith("25.0%")
    # analyse's categories: a run stopped by max_steps with a good fit is a good fit, and the
    # colours are analyse's (the ramps' middles are close to plots.COLOURS)
    from bpsweep.analysis.plots import COLOURS

    maxed_fit = MI.map_image("outcome", (1, 1), status=[1], steps=[1000], final_ssr=[1e-5])
    r, g, b = (int(v) for v in maxed_fit.rgb[0, 0])
    assert g > r and g > b
    for (_, colour), name in zip(
        image.legend, ("good fit", "false convergence", "stuck", "diverged")
    ):
        ours = np.array([int(colour[k : k + 2], 16) for k in (1, 3, 5)])
        theirs = np.array([int(COLOURS[name][k : k + 2], 16) for k in (1, 3, 5)])
        assert np.abs(ours - theirs).max() < 90, (name, colour, COLOURS[name])
    for bad in (math.nan, 0.0, -1.0, math.inf):
        with pytest.raises(UsageError, match="--fit-ssr"):
            MI.map_image("outcome", (4, w), status=status, steps=steps, final_ssr=ssr, fit_ssr=bad)
    with pytest.raises(UsageError, match="codes 0, 1, 2"):
        MI.map_image("outcome", (4, w), status=status + 1, steps=steps, final_ssr=ssr)
    with pytest.raises(UsageError, match="'steps'"):
        MI.map_image("outcome", (4, w), status=status, final_ssr=ssr)
    with pytest.raises(UsageError, match="expected shape"):
        MI.map_image("outcome", (5, w), status=status, steps=steps, final_ssr=ssr)


def test_steps_final_ssr_and_basin_modes():
    steps = np.array([1, 10, 100, 1000])
    rgb = MI.map_image("steps", (1, 4), steps=steps).rgb[0]
    as_floats = MI.map_image("steps", (1, 4), steps=steps.astype(float)).rgb[0]
    assert (rgb == as_floats).all()  # whole numbers go through a table of levels
    assert len({tuple(c) for c in rgb}) == 4
    assert tuple(rgb[0]) == tuple(MI.ramp(MI.VIRIDIS)[0])
    assert tuple(rgb[-1]) == tuple(MI.ramp(MI.VIRIDIS)[-1])
    ssr = np.array([1e-6, 1e-3, 1.0, np.inf, np.nan])
    image = MI.map_image("final_ssr", (1, 5), final_ssr=ssr)
    red = tuple(MI._rgb(MI.NO_VALUE_COLOUR).astype(np.uint8))
    assert [tuple(c) for c in image.rgb[0, 3:]] == [red, red]
    assert tuple(image.rgb[0, 1]) == tuple(MI.ramp(MI.VIRIDIS)[128])  # 1e-3: the middle
    assert image.colorbar["log"] and image.colorbar["vmin"] == 1e-6
    fixed = MI.map_image("final_ssr", (1, 5), final_ssr=ssr, ssr_range=(1e-3, 1e-1)).rgb[0]
    assert tuple(fixed[0]) == tuple(fixed[1]) == tuple(MI.ramp(MI.VIRIDIS)[0])
    basin = np.array([[0, 1, -1, 1], [12, 0, 0, 3]])
    image = MI.map_image("basin", basin.shape, basin=basin)
    rgb = image.rgb[::-1]  # back to [j, i]
    colour = {b: tuple(rgb[basin == b][0]) for b in np.unique(basin)}
    assert len(set(colour.values())) == 5
    for b, c in colour.items():
        assert (rgb[basin == b] == c).all()
        assert MI._hex(c) == MI.basin_colour(int(b))
    assert image.legend[0][0].startswith("basin 0: 37.5%")
    assert any(label.startswith("no basin") for label, _ in image.legend)
    with pytest.raises(UsageError, match="integer ids"):
        MI.map_image("basin", (1, 2), basin=np.array([0.0, 1.0]))
    with pytest.raises(UsageError, match="--color"):
        MI.map_image("rainbow", (1, 2))


def test_colouring_in_blocks_equals_one_block(monkeypatch):
    rng = np.random.default_rng(5)
    h, w = 37, 23
    arrays = {
        "status": rng.integers(0, 3, h * w),
        "steps": rng.integers(1, 1000, h * w),
        "final_ssr": 10.0 ** rng.uniform(-5, 1, h * w),
        "basin": rng.integers(-1, 14, h * w),
        "chaos": rng.integers(0, 3, h * w).astype(np.uint8),
    }
    whole = {m: MI.map_image(m, (h, w), **arrays) for m in M.COLOR_MODES}
    monkeypatch.setattr(MI, "BLOCK_PIXELS", 50)  # 2 rows a block, the last one short
    for mode, image in whole.items():
        blocks = MI.map_image(mode, (h, w), **arrays)
        assert (blocks.rgb == image.rgb).all() and blocks.legend == image.legend


def test_map_figure_and_gif(tmp_path):
    pytest.importorskip("matplotlib")
    s, status, steps, ssr = left_half_diverges()
    image = MI.map_image("outcome", s, status=status, steps=steps, final_ssr=ssr)
    ax = MI.map_figure(None, image, s, start=(2.74, -1.13), fixed={"lr": 0.1, "preset": "x"})
    assert "fixed: lr=0.1, preset=x" in ax.get_title()
    assert ax.get_xlabel() == "init_w1" and ax.get_ylabel() == "init_w2"
    assert ax.get_xlim() == pytest.approx(s.edges(0))
    assert len(ax.collections) == 1  # the start marker
    ax.figure.savefig(tmp_path / "f.png")
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
    outside = MI.map_figure(None, image, s, start=(100.0, 0.0))
    assert len(outside.collections) == 0
    log = M.parse_map_section(dict(LOG), "m.toml")
    steps_image = MI.map_image("steps", log, steps=np.arange(1, log.n_pixels + 1))
    ax = MI.map_figure(None, steps_image, log, start=(0.1, 0.1))
    assert ax.get_xlabel() == "lr_hidden (log scale)"
    assert ax.get_xlim() == pytest.approx((-2.5, 0.5))
    assert len(ax.collections) == 1 and ax.collections[0].get_offsets()[0][0] == pytest.approx(-1)
    assert len(ax.figure.axes) == 2  # the colour bar
    deep = M.zoom(log, 0.1, 0.3, 1e6)
    ax = MI.map_figure(None, steps_image.rgb, deep)
    assert ax.get_xlabel() == "log10 lr_hidden"
    with pytest.raises(UsageError, match="expected an image of 48 x 64"):
        MI.map_figure(None, image, spec_of())
    frames = [image, image.rgb[::-1].copy(), MI.write_png(image, tmp_path / "a.png")]
    gif = MI.zoom_gif(frames, tmp_path / "z.gif")
    from PIL import Image

    with Image.open(gif) as im:
        assert im.size == (40, 30) and im.n_frames >= 2
    with pytest.raises(UsageError, match="one size"):
        MI.zoom_gif([image, image.rgb[:5]], tmp_path / "y.gif")
    table = B.boundary_dimension(status.reshape(30, 40) == 2, max_box=8)
    ax = MI.dimension_plot(table[1], table[0])
    assert "D = 1.000" in ax.get_legend().get_texts()[1].get_text()


def test_write_png_errors(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(Exception, match="cannot write the map image") as err:
        MI.write_png(np.zeros((2, 2, 3), np.uint8), tmp_path / "file" / "m.png")
    assert err.type.__name__ == "OutputError"
    with pytest.raises(UsageError, match=r"\(H, W, 3\) uint8"):
        MI.write_png(np.zeros((2, 2)), tmp_path / "m.png")


def _decoded(path):
    from PIL import Image

    with Image.open(path) as im:
        assert im.mode == "RGB" and im.format == "PNG"
        return np.asarray(im)


def _splits(height, rng):
    """Band heights summing to ``height``: all 1s, one band, halves, and random uneven ones."""
    cuts = np.sort(rng.choice(np.arange(1, height), size=min(height - 1, 5), replace=False))
    return [
        [1] * height,
        [height],
        [height // 2, 0, height - height // 2],
        np.diff(np.concatenate([[0], cuts, [height]])).tolist(),
    ]


@pytest.mark.parametrize("shape", [(1, 1), (7, 5), (3, 1000), (1000, 3), (64, 48), (1, 17)])
def test_write_png_bands_decodes_to_the_bands(tmp_path, shape):
    rng = np.random.default_rng(sum(shape))
    h, w = shape
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    rgb[: h // 2, : w // 2] = (20, 200, 40)  # flat regions too, as maps have
    for k, heights in enumerate(_splits(h, rng) if h > 1 else [[1], [0, 1, 0]]):
        edges = np.cumsum([0, *heights])
        bands = (rgb[a:b] for a, b in zip(edges[:-1], edges[1:]))
        level = k % 10
        path = MI.write_png_bands(tmp_path / f"b{k}.png", w, h, bands, compress_level=level)
        assert path == tmp_path / f"b{k}.png"
        assert (_decoded(path) == rgb).all(), heights
    # the same pixels as pillow writes them; non-contiguous bands (a flipped view) are fine
    flipped = MI.write_png_bands(tmp_path / "f.png", w, h, [rgb[::-1]])
    assert (_decoded(flipped) == _decoded(MI.write_png(rgb[::-1], tmp_path / "p.png"))).all()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_write_png_bands_holds_one_band(tmp_path):
    import tracemalloc

    w, h, rows = 16384, 1024, 64  # the whole image: 48 MiB; a band: 3 MiB

    def band_at(a):
        band = np.empty((rows, w, 3), dtype=np.uint8)
        band[:] = (np.arange(a, a + rows) % 256).astype(np.uint8)[:, None, None]
        band[:, :: 1 + a // rows, 1] = 255
        return band

    tracemalloc.start()
    try:
        MI.write_png_bands(tmp_path / "big.png", w, h, (band_at(a) for a in range(0, h, rows)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2.5 * rows * w * 3, peak / 2**20  # the band and its scanlines (6 MiB)
    rgb = _decoded(tmp_path / "big.png")
    assert rgb.shape == (h, w, 3)
    assert all((rgb[a : a + rows] == band_at(a)).all() for a in range(0, h, rows))


def test_write_png_bands_errors(tmp_path):
    path = tmp_path / "m.png"
    MI.write_png_bands(path, 2, 2, [np.zeros((2, 2, 3), np.uint8)])
    before = path.read_bytes()
    good = np.zeros((1, 2, 3), np.uint8)
    for bands, match in (
        ([good], r"expected 2 rows, found 1"),
        ([good, good, good], r"expected 2 rows, found more \(3"),
        (
            [good, np.zeros((1, 3, 3), np.uint8)],
            r"\(rows, 2, 3\) uint8, found \(1, 3, 3\) uint8 at row 1",
        ),
        ([good.astype(np.float64)], r"uint8, found \(1, 2, 3\) float64"),
        ([np.zeros((2, 6), np.uint8)], r"\(rows, 2, 3\) uint8"),
    ):
        with pytest.raises(UsageError, match=match):
            MI.write_png_bands(path, 2, 2, bands)
        assert path.read_bytes() == before  # the old file stays whole: nothing was renamed
    assert [p.name for p in tmp_path.iterdir()] == ["m.png"]  # no temporary file left
    for bad in ({"width": 0}, {"height": 2.0}, {"compress_level": 10}):
        args = {"width": 2, "height": 2, "compress_level": 1, **bad}
        with pytest.raises(UsageError, match=next(iter(bad))):
            MI.write_png_bands(path, bands=[good, good], **args)
    (tmp_path / "file").write_text("x")
    with pytest.raises(Exception, match="cannot write the map image") as err:
        MI.write_png_bands(tmp_path / "file" / "m.png", 2, 2, [good, good])
    assert err.type.__name__ == "OutputError"


@pytest.mark.parametrize("name", ["map-basins-w1-w2", "map-lr-hidden-output"])
def test_shipped_map_configs_validate(name):
    import tomllib
    from pathlib import Path

    path = Path(__file__).parent.parent / "experiments" / f"{name}.toml"
    raw = tomllib.loads(path.read_text())
    spec = M.parse_map_section(raw["map"], str(path))
    assert spec.resolution == (1024, 1024)
    assert raw["name"] == name
