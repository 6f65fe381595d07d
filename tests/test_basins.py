"""Basins and stuck points: canonical order of hidden units, grid clustering, mirror images."""

import numpy as np
import pandas as pd
import pytest

from bpsweep.analysis import endpoints as B
from bpsweep.model import param_names
from results_helper import make_results

NAMES = param_names(2)


# ---------------------------------------------------------------- basins


def _swap(vec):
    w1, b1, w2, b2, w3, w4, b3 = vec
    return np.array([w2, b2, w1, b1, w4, w3, b3])


def test_canonical_final_matches_reference():
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(50, 7))
    df = pd.DataFrame(vecs, columns=[f"final_{p}" for p in NAMES])
    out = B.canonical_final(df, 2)
    for v, c in zip(vecs, out):
        units = sorted([(v[0], v[1], v[4]), (v[2], v[3], v[5])])
        ref = [units[0][0], units[0][1], units[1][0], units[1][1], units[0][2], units[1][2], v[6]]
        assert list(c) == ref
    swapped = pd.DataFrame([_swap(v) for v in vecs], columns=df.columns)
    assert np.array_equal(B.canonical_final(swapped, 2), out)


def test_canonical_final_three_hidden_units():
    names = param_names(3)
    v = np.arange(10.0)[::-1]  # units (9,8,3), (7,6,2), (5,4,1), output bias 0
    df = pd.DataFrame([v], columns=[f"final_{p}" for p in names])
    assert list(B.canonical_final(df, 3)[0]) == [5, 4, 7, 6, 9, 8, 1, 2, 3, 0]


def test_mirror_images_share_a_basin():
    start = np.array([2.74, 0.0, -1.13, 0.0, 0.36, 0.63, 0.0])  # lesson 003's start
    other = make_results(lrs=(0.1,), seeds=range(209, 210))  # ends in a different solution
    a = make_results(lrs=(0.1,), seeds=[0], init=start)
    b = make_results(lrs=(0.1,), seeds=[1], init=_swap(start))
    df = pd.concat([a, b, other], ignore_index=True)
    df["run_id"] = range(3)
    assert (df["final_ssr"] < 0.01).all()
    # mirror runs do the same float ops (a + b == b + a), so they end exactly mirrored
    fa = df.loc[0, [f"final_{p}" for p in NAMES]].to_numpy(float)
    fb = df.loc[1, [f"final_{p}" for p in NAMES]].to_numpy(float)
    assert np.array_equal(_swap(fa), fb)
    table, labels = B.basins(df, with_labels=True)
    assert labels[0] == labels[1] != labels[2]
    assert list(table["runs"]) == [2, 1]
    assert table.loc[0, "rep_run_id"] in (0, 1)


def test_cluster_points_known_groups():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 0.01, size=(30, 3))
    b = rng.normal(5, 0.01, size=(10, 3))
    chain = np.array([[10.0, 0, 0], [10.2, 0, 0], [10.4, 0, 0], [10.6, 0, 0]])
    labels = B.cluster_points(np.vstack([b, a, chain]), tol=0.25)
    assert set(labels[10:40]) == {0} and set(labels[:10]) == {1} and set(labels[40:]) == {2}
    # the cap: cells beyond it still join a touching capped cell's cluster (a straddles 0, so
    # it occupies several cells)
    capped = B.cluster_points(np.vstack([b, a, chain]), tol=0.25, max_cells=3)
    assert len(set(capped[10:40])) == 1 and capped[10] != capped[0]


def test_stuck_points_are_the_poor_runs():
    df = make_results(lrs=(0.01,), seeds=range(30))
    table, labels = B.stuck_points(df, with_labels=True)
    poor = (df["final_ssr"] >= 0.01) & (df["status"] != "diverged")
    assert ((labels > 0) == poor).all() and table["runs"].sum() == poor.sum()
    assert table["share"].sum() == pytest.approx(poor.mean())


def test_unique_rows_in_order_of_first_appearance():
    rng = np.random.default_rng(5)
    cells = rng.integers(-3, 3, size=(2000, 4))
    uniq, inverse, counts = B.unique_rows(cells)
    # reference: a dict of row tuples in the order they are first seen
    seen = {}
    for row in map(tuple, cells):
        seen.setdefault(row, len(seen))
    assert [tuple(r) for r in uniq] == list(seen)
    assert list(inverse) == [seen[tuple(r)] for r in cells]
    assert list(counts) == [sum(1 for r in map(tuple, cells) if r == u) for u in seen]


def test_canonical_order_of_two_units_is_lexsorts_to_the_bit():
    """H = 2 swaps the units by comparing them (no lexsort of each row): the same as lexsort,
    NaN last, -0.0 and 0.0 equal, inf ordered."""
    from bpsweep.analysis.endpoints import canonical

    rng = np.random.default_rng(0)
    values = np.array([np.nan, -np.inf, np.inf, -0.0, 0.0, 1.0, -1.0, 2.0])
    p = values[rng.integers(0, len(values), (50_000, 7))]
    w, b, wo = p[:, 0:4:2], p[:, 1:4:2], p[:, 4:6]
    order = np.lexsort((wo, b, w), axis=-1)
    want = p.copy()
    want[:, 0:4:2] = np.take_along_axis(w, order, axis=1)
    want[:, 1:4:2] = np.take_along_axis(b, order, axis=1)
    want[:, 4:6] = np.take_along_axis(wo, order, axis=1)
    assert np.array_equal(canonical(p, 2).view(np.int64), want.view(np.int64))


@pytest.mark.parametrize("spread", [3, 10**12])
def test_unique_rows_are_pandas_groups_in_order_of_first_appearance(spread):
    """Rows read as one number (small ranges) or grouped by pandas (ranges too wide for 62
    bits): the same groups, numbered in order of first appearance."""
    from bpsweep.analysis.endpoints import unique_rows

    rng = np.random.default_rng(1)
    cells = rng.integers(-spread, spread, (20_000, 7))
    cells[rng.random(20_000) < 0.5] = cells[0]
    uniq, inverse, counts, first = unique_rows(cells, with_first=True)
    frame = pd.DataFrame(cells)
    want = frame.groupby(list(frame.columns), sort=False).ngroup().to_numpy()
    assert np.array_equal(inverse, want)
    assert np.array_equal(uniq, cells[first]) and np.array_equal(counts, np.bincount(want))
    assert np.array_equal(first, [np.flatnonzero(want == k)[0] for k in range(len(uniq))])
