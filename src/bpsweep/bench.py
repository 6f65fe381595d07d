"""Throughput benchmark of the training kernels: ``bpsweep bench``.

Trains the lessons' network (H = 2, softplus, gd, dosage data) from random normal starts
(counter-based seeds 0..R-1) with :func:`bpsweep.kernels.train_batch` and reports:

- fixed steps: tol = 0 and lr = 0.01, so no run converges or diverges and every run takes
  exactly ``steps`` steps; throughput in run-steps per second (compile time excluded, best of
  ``repeat`` timings) for each numba thread count asked for;
- early stopping: the lessons' lr 0.1 and tol 1e-3, max_steps = ``steps``: wall time and mean
  steps per run (wall time should fall with the mean step count);
- if :func:`bpsweep.sweep.run_sweep` exists, the end-to-end wall time of the
  ``experiments/seed-lr-grid.toml`` sweep (compiled, fresh, into a temporary folder).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

from . import kernels
from .data import load_data
from .init import draw_batch
from .model import DEFAULT_TOL, MAX_STEPS

HIDDEN = 2
SWEEP_CONFIG = Path(__file__).resolve().parents[2] / "experiments" / "seed-lr-grid.toml"


@dataclass
class Timing:
    threads: int
    seconds: float  #: best wall time of the repeats
    run_steps: int  #: steps summed over the runs
    mean_steps: float
    statuses: np.ndarray  #: (3,) count of converged, max_steps, diverged

    @property
    def rate(self) -> float:
        """Run-steps per second."""
        return self.run_steps / self.seconds


def batch_inputs(runs: int, lr: float, tol: float, max_steps: int) -> dict:
    """Keyword arguments of train_batch for ``runs`` lesson-network runs (outputs included)."""
    x, y = load_data("dosage")
    n_p = 3 * HIDDEN + 1
    init = np.empty((runs, n_p))
    draw_batch(
        np.arange(runs, dtype=np.uint64),
        HIDDEN,
        np.zeros(runs, np.int64),
        np.ones(runs),
        np.zeros(runs, bool),
        init,
    )
    return dict(
        x=x,
        y=y,
        hidden=HIDDEN,
        act=np.zeros(runs, np.int64),
        opt=np.zeros(runs, np.int64),
        hyper=np.zeros((runs, 3)),
        lr=np.full(runs, lr),
        tol=np.full(runs, tol),
        max_steps=np.full(runs, max_steps, np.int64),
        trainable=np.ones((runs, n_p), bool),
        init=init,
        final=np.empty((runs, n_p)),
        status=np.empty(runs, np.int64),
        steps=np.empty(runs, np.int64),
        initial_ssr=np.empty(runs),
        final_ssr=np.empty(runs),
    )


def time_batch(
    runs: int, steps: int, threads: int, *, lr: float, tol: float, repeat: int = 3
) -> Timing:
    """Best wall time of ``repeat`` train_batch calls on ``threads`` numba threads."""
    args = batch_inputs(runs, lr, tol, steps)
    warm = batch_inputs(2, lr, tol, 2)
    kernels.train_batch(**warm)  # compile (or load from cache) outside the timing
    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            kernels.train_batch(**args)
            best = min(best, time.perf_counter() - start)
    finally:
        numba.set_num_threads(before)
    return Timing(
        threads,
        best,
        int(args["steps"].sum()),
        float(args["steps"].mean()),
        np.bincount(args["status"], minlength=3),
    )


def time_sweep(config: Path = SWEEP_CONFIG) -> tuple[float | None, str]:
    """End-to-end wall time of a sweep (run once to compile, then timed), or (None, why not)."""
    try:
        from .sweep import run_sweep
    except ImportError:
        return None, "bpsweep.sweep.run_sweep not available"
    if not config.is_file():
        return None, f"no sweep config at {config}"
    with tempfile.TemporaryDirectory() as tmp:
        try:
            run_sweep(config, out_dir=Path(tmp) / "warm", fresh=True)
            start = time.perf_counter()
            run_sweep(config, out_dir=Path(tmp) / "timed", fresh=True)
            return time.perf_counter() - start, str(config.name)
        except Exception as exc:  # report, do not crash the benchmark
            return None, f"sweep failed: {type(exc).__name__}: {exc}"


def run_bench(
    runs: int = 4000,
    steps: int = 1000,
    jobs: list[int] | None = None,
    repeat: int = 3,
    sweep: bool = True,
) -> str:
    """Run the benchmark; returns the table as text."""
    jobs = jobs or sorted({1, numba.config.NUMBA_NUM_THREADS})
    lines = [
        f"bpsweep bench: H={HIDDEN} softplus gd, dosage data, {runs} runs, "
        f"normal starts (seeds 0..{runs - 1})",
        f"{'case':<34} {'threads':>7} {'wall s':>8} {'mean steps':>10} "
        f"{'run-steps/s':>12} {'ns/step':>8}",
    ]
    for threads in jobs:
        t = time_batch(runs, steps, threads, lr=0.01, tol=0.0, repeat=repeat)
        if t.statuses[MAX_STEPS] != runs:
            lines.append(f"  warning: {runs - t.statuses[MAX_STEPS]} runs stopped early")
        lines.append(
            f"{f'fixed {steps} steps (lr 0.01, tol 0)':<34} {threads:>7} "
            f"{t.seconds:>8.3f} {t.mean_steps:>10.1f} {t.rate:>12.3e} "
            f"{1e9 * threads / t.rate:>8.1f}"
        )
    for threads in jobs:
        t = time_batch(runs, steps, threads, lr=0.1, tol=DEFAULT_TOL, repeat=repeat)
        lines.append(
            f"{f'early stop (lr 0.1, tol {DEFAULT_TOL:g})':<34} {threads:>7} "
            f"{t.seconds:>8.3f} {t.mean_steps:>10.1f} {t.rate:>12.3e} "
            f"{1e9 * threads / t.rate:>8.1f}"
        )
    if sweep:
        seconds, what = time_sweep()
        if seconds is None:
            lines.append(f"sweep: skipped ({what})")
        else:
            lines.append(f"sweep {what} end to end (compiled, fresh): {seconds:.3f} s")
    lines.append("ns/step: wall time per run-step per thread (1e9 * threads / rate).")
    return "\n".join(lines)
