"""train_batch must give, run for run, the bits of train_one (the single-run trainer's kernel).

train_batch trains runs in lanes (many runs in lockstep, structure-of-arrays state, vectorized
math); every run must end with the same status, steps, final parameters (NaN positions
included) and SSRs as train_one run alone. Both sides do the same float operations in the
same order, so the comparison is bit-exact even for chaotic runs (lr up to 3, diverging ones
included), with mixed activations, optimizers, learning-rate schedules, trainable subsets and
per-layer rates in one batch. train_one itself is checked against its plain-Python form
(train_one.py_func).
"""

import numba
import numpy as np
import pytest

from bpsweep.engine import kernels
from bpsweep.engine.starts import draw_batch
from bpsweep.errors import UsageError
from bpsweep.model import DIVERGED, n_params

X = np.array([0.0, 0.5, 1.0])
Y = np.array([0.0, 1.0, 0.0])


def varied_runs(hidden, n_runs, seed, max_steps=(1, 5, 300, 2000)):
    """make_runs's fields (plain arrays) for n_runs runs with mixed activations, optimizers,
    lr, tol, max_steps, trainable subsets, schedules (half the runs constant) and their
    parameters."""
    rng = np.random.default_rng(seed)
    n_p = n_params(hidden)
    init = np.empty((n_runs, n_p))
    draw_batch(
        np.arange(n_runs, dtype=np.uint64) + 1000 * hidden,
        hidden,
        np.zeros(n_runs, np.int64),
        rng.choice([0.5, 1.0, 3.0], n_runs),
        rng.random(n_runs) < 0.5,
        init,
    )
    opt = rng.integers(0, 3, n_runs)
    hyper = np.tile([0.9, 0.999, 1e-8], (n_runs, 1))
    hyper[opt == 1, 0] = rng.choice([0.5, 0.9], (opt == 1).sum())
    trainable = np.ones((n_runs, n_p), bool)
    some = rng.random(n_runs) < 0.3
    trainable[some] = rng.random((some.sum(), n_p)) < 0.5
    lr = rng.choice([0.001, 0.01, 0.1, 0.3, 1.0, 3.0], n_runs)
    lr_output = lr.copy()
    other = rng.random(n_runs) < 0.5  # half the runs: a different rate for the output layer
    lr_output[other] = rng.choice([0.003, 0.05, 0.5, 2.0], other.sum())
    fields = dict(
        act=rng.integers(0, 4, n_runs),
        opt=opt,
        hyper=hyper,
        lr_hidden=lr,
        lr_output=lr_output,
        tol=rng.choice([1e-3, 0.0, 1e-2], n_runs),
        max_steps=rng.choice(max_steps, n_runs).astype(np.int64),
        trainable=trainable,
        init=init,
    )
    # drawn last, so that the draws above are the same as before schedules existed
    schedule = np.where(rng.random(n_runs) < 0.5, 0, rng.integers(1, 4, n_runs))
    sched = np.ones((n_runs, 2))
    cos, step, exp = schedule == 1, schedule == 2, schedule == 3
    sched[cos, 0] = rng.choice([1.0, 3.0, 50.0, 400.0], cos.sum())  # T
    sched[cos, 1] = rng.choice([0.0, 0.1, 2.0], cos.sum())  # lr_min / lr (2: rising)
    sched[step, 0] = rng.choice([1.0, 2.0, 7.0, 100.0], step.sum())  # every
    sched[step, 1] = rng.choice([0.5, 0.9, 1.5], step.sum())  # factor
    sched[exp, 0] = rng.choice([0.0, 0.001, 0.05, 1.0], exp.sum())  # decay
    return fields | dict(schedule=schedule, sched_params=sched)


def batch(x, y, hidden, fields, **kwargs):
    """train_batch's outcomes (a dict) for the runs of make_runs's ``fields``."""
    runs = kernels.make_runs(**fields)
    out = kernels.Outcomes.empty(*runs.init.shape)
    kernels.train_batch(x, y, hidden, runs, out, **kwargs)
    return out._asdict()


def one_by_one(x, y, hidden, fields, fn):
    """The same, run by run with ``fn`` (train_one or its Python form)."""
    runs = kernels.make_runs(**fields)
    out = kernels.Outcomes.empty(*runs.init.shape)
    no_trace = kernels.Trace.empty(0, runs.init.shape[1])
    go_on = np.zeros(1, dtype=np.int64)  # the stop flag, never set
    for r in range(runs.init.shape[0]):
        fn(x, y, hidden, runs, r, out, no_trace, go_on)
    return out._asdict()


def assert_same_bits(got, want):
    for key in want:
        assert np.array_equal(got[key], want[key], equal_nan=True), key
    # equal_nan aside, floats must match bit for bit (this also tells -0.0 from 0.0)
    for key in ("final", "initial_ssr", "final_ssr"):
        g, w = got[key], want[key]
        both = ~(np.isnan(g) & np.isnan(w))
        assert np.array_equal(g.view(np.int64)[both], w.view(np.int64)[both]), key


@pytest.mark.parametrize("hidden", [1, 2, 3, 5, 8])
def test_batch_matches_train_one(hidden):
    runs = varied_runs(hidden, 300, seed=hidden)
    got = batch(X, Y, hidden, runs)
    want = one_by_one(X, Y, hidden, runs, kernels.train_one)
    assert_same_bits(got, want)
    # the set is varied enough to mean something: every outcome, activation, optimizer and
    # both kinds of per-layer rates occur
    assert set(np.unique(got["status"])) == {0, 1, 2}
    assert (got["status"] == DIVERGED).sum() > 5
    assert set(runs["act"]) == {0, 1, 2, 3} and set(runs["opt"]) == {0, 1, 2}
    assert 0 < (runs["lr_hidden"] == runs["lr_output"]).sum() < 300
    assert set(runs["schedule"]) == {0, 1, 2, 3}
    for code in (1, 2, 3):  # every schedule has runs of every optimizer that take many steps
        for opt in (0, 1, 2):
            these = (runs["schedule"] == code) & (runs["opt"] == opt)
            assert (got["steps"][these] > 50).any(), (code, opt)
    # a few lanes: every lane is refilled many times, and idles at the end
    assert_same_bits(batch(X, Y, hidden, runs, lanes=3), want)


def test_batch_matches_on_other_data_and_thread_counts():
    """A longer data set, odd run counts (a lone last run), one thread and all threads."""
    rng = np.random.default_rng(7)
    x = np.sort(rng.uniform(-2, 2, 11))
    y = np.sin(2 * x)
    runs = varied_runs(2, 37, seed=11, max_steps=(3, 50, 400))
    want = one_by_one(x, y, 2, runs, kernels.train_one)
    before = numba.get_num_threads()
    try:
        for threads in {1, before}:
            numba.set_num_threads(threads)
            assert_same_bits(batch(x, y, 2, runs), want)
            assert_same_bits(batch(x, y, 2, runs, lanes=1), want)
            assert_same_bits(
                batch(x, y, 2, {k: v[:1] for k, v in runs.items()}),
                {k: v[:1] for k, v in want.items()},
            )
    finally:
        numba.set_num_threads(before)


def test_batch_with_no_runs():
    runs = {k: v[:0] for k, v in varied_runs(2, 3, seed=0).items()}
    out = batch(X, Y, 2, runs)
    assert out["final"].shape == (0, 7)


def test_inputs_of_other_dtypes_layouts_and_writability_give_the_same_bits():
    """make_runs and train_batch convert their inputs to one type per argument (no new
    compiled signature): int32 codes, float max_steps, Fortran-ordered or read-only arrays,
    scalars and rows broadcast over the runs give the same outcomes."""
    runs = varied_runs(2, 20, seed=5, max_steps=(5, 60))
    want = batch(X, Y, 2, runs)
    odd = {k: np.asfortranarray(v) for k, v in runs.items()}
    odd["act"] = odd["act"].astype(np.int32)
    odd["max_steps"] = odd["max_steps"].astype(float)
    for v in odd.values():
        v.flags.writeable = False
    x, y = X.copy(), Y.astype(np.float32).astype(np.int64)  # y = 0, 1, 0 as ints
    x.flags.writeable = False
    assert_same_bits(batch(x, y, 2, odd), want)
    made = kernels.make_runs(**odd)
    for f, a in zip(kernels.RUN_FIELDS, made):
        assert a.dtype == f.dtype and a.flags.c_contiguous and a.flags.writeable, f.name
    same = {**runs, "act": 2, "opt": 0, "hyper": [0.9, 0.999, 1e-8], "tol": 1e-3}
    same["trainable"] = runs["trainable"][0]
    expanded = {k: np.broadcast_to(v, runs[k].shape) for k, v in same.items()}
    assert_same_bits(batch(X, Y, 2, same), batch(X, Y, 2, expanded))


def test_make_runs_says_what_is_wrong():
    runs = varied_runs(2, 4, seed=1)
    with pytest.raises(TypeError, match="unknown field.* lr; missing field.* lr_hidden"):
        kernels.make_runs(**{("lr" if k == "lr_hidden" else k): v for k, v in runs.items()})
    with pytest.raises(ValueError, match=r"tol has shape \(3,\); 4 runs of 7 parameters"):
        kernels.make_runs(**{**runs, "tol": np.zeros(3)})
    with pytest.raises(ValueError, match=r"init must be \(R, 3H \+ 1\)"):
        kernels.make_runs(**{**runs, "init": np.zeros((4, 6))})
    with pytest.raises(UsageError, match=r"opt: unknown code 3; expected 0..2 \(gd, momentum"):
        kernels.make_runs(**{**runs, "opt": 3})
    assert kernels.make_runs(**{k: v for k, v in runs.items() if k != "trainable"}).trainable.all()
    assert kernels.Runs._fields == tuple(f.name for f in kernels.RUN_FIELDS)


def test_train_batch_refuses_what_would_compile_again_or_write_out_of_bounds():
    """Runs and Outcomes of other dtypes, layouts or shapes than make_runs and Outcomes.empty
    give: each would be a second compiled signature, or writes out of bounds (the compiled
    code does not check)."""
    runs = kernels.make_runs(**varied_runs(2, 4, seed=1))
    out = kernels.Outcomes.empty(4, 7)
    with pytest.raises(TypeError, match="Runs.tol must be a writable C-contiguous float64"):
        kernels.train_batch(X, Y, 2, runs._replace(tol=runs.tol.astype(np.float32)), out)
    with pytest.raises(TypeError, match="Outcomes.final must be a writable C-contiguous"):
        kernels.train_batch(X, Y, 2, runs, out._replace(final=np.asfortranarray(out.final)))
    with pytest.raises(TypeError, match="expected a Outcomes, got dict"):
        kernels.train_batch(X, Y, 2, runs, out._asdict())
    with pytest.raises(UsageError, match=r"Outcomes.steps has shape \(3,\); 4 runs"):
        kernels.train_batch(X, Y, 2, runs, out._replace(steps=out.steps[:3]))
    with pytest.raises(UsageError, match=r"hidden=3 needs \(R, 10\)"):
        kernels.train_batch(X, Y, 3, runs, out)


def test_kernels_stay_cacheable_with_named_tuples():
    """numba's on-disk cache (cache=True) keeps working with Runs, Outcomes and Trace
    arguments (their classes pickle by reference): after a batch and a single run, compiled
    here or loaded from the cache, the cache holds both entry points' code (their callees,
    _lanes_range and the rest, are linked into it)."""
    fields = varied_runs(1, 3, seed=2, max_steps=(3,))
    batch(X, Y, 1, fields)
    one_by_one(X, Y, 1, fields, kernels.train_one)
    for kernel in (kernels._train_batch, kernels.train_one):
        (sig,) = kernel.signatures
        assert kernel._cache.load_overload(sig, kernel.targetctx) is not None, kernel


@pytest.mark.parametrize("hidden", [1, 2, 3])
def test_train_one_matches_its_python_form(hidden):
    """The compiled train_one against the very same code run by the Python interpreter."""
    runs = varied_runs(hidden, 12, seed=20 + hidden, max_steps=(1, 4, 25))
    compiled = one_by_one(X, Y, hidden, runs, kernels.train_one)
    python = one_by_one(X, Y, hidden, runs, kernels.train_one.py_func)
    assert_same_bits(compiled, python)


def test_train_runs_reads_per_layer_rates_missing_or_nan_meaning_lr():
    """batch.train_runs: optional lr_hidden / lr_output columns; a missing column or a NaN cell
    means lr. Each row's outcome is train_one's with the rates it should have."""
    import pandas as pd

    from bpsweep.engine.batch import train_runs

    start = {"init_w1": 2.74, "init_b1": 0.0, "init_w2": -1.13, "init_b2": 0.0}
    start |= {"init_w3": 0.36, "init_w4": 0.63, "init_b3": 0.0}
    rows = pd.DataFrame(
        [
            {**start, "lr": 0.1, "lr_hidden": np.nan, "lr_output": np.nan},
            {**start, "lr": 0.1, "lr_hidden": 0.02, "lr_output": np.nan},
            {**start, "lr": 0.1, "lr_hidden": np.nan, "lr_output": 0.3},
            {**start, "lr": 0.05, "lr_hidden": 0.2, "lr_output": 0.01},
        ]
    )
    got = train_runs(rows)
    plain = train_runs(rows.drop(columns=["lr_hidden", "lr_output"]))
    p0 = np.array([start[f"init_{n}"] for n in ("w1", "b1", "w2", "b2", "w3", "w4", "b3")])
    rates = np.array([(0.1, 0.1), (0.02, 0.1), (0.1, 0.3), (0.2, 0.01)])
    fields = dict(act=0, opt=0, hyper=np.zeros(3), tol=1e-3, max_steps=1000)
    fields |= dict(lr_hidden=rates[:, 0], lr_output=rates[:, 1], init=np.tile(p0, (4, 1)))
    want = one_by_one(X, Y, 2, fields, kernels.train_one)
    for r in range(len(rates)):
        p = want["final"][r]
        assert (got["steps"][r], got["final_ssr"][r]) == (want["steps"][r], want["final_ssr"][r])
        assert got.filter(like="final_w").iloc[r].tolist() == [p[0], p[2], p[4], p[5]]
    assert got.iloc[0].equals(plain.iloc[0])
    assert not got.iloc[1].equals(plain.iloc[1])


def test_work_items_cover_the_batch_and_are_dealt_to_threads_like_cards():
    """numba gives each thread one contiguous block of the prange: items are dealt (item i of
    the batch to thread i mod T) so that a batch whose long runs come first still keeps every
    thread busy."""
    n = 20_000
    order, items = kernels._work_items(np.zeros(n, np.int64), np.zeros(n, np.int64), 128)
    starts = np.sort(items[:, 0])
    assert starts[0] == 0 and np.array_equal(starts[1:], np.sort(items[:, 1])[:-1])
    assert np.sort(items[:, 1])[-1] == n and np.array_equal(order, np.arange(n))
    rank = np.argsort(np.argsort(items[:, 0]))  # each item's place in the batch
    threads = numba.get_num_threads()
    assert len(items) >= 8 * threads
    assert np.all(np.diff(rank % threads) >= 0)  # the first block: items 0, T, 2T, ...
