"""How long a sweep (or a map) will take on this machine, told before it starts.

A run's cost is its steps times the cost of a step, which grows with the data set and the
hidden size; how many steps a run takes is known only by training it. So the estimate trains a
sample of the sweep's own runs (evenly spread over its run ids, with its own settings and data)
for a capped number of steps, measures this machine's time per run-step on them, and
extrapolates: a sampled run that stopped (converged or diverged) counts its steps, one that
reached the cap counts its full ``max_steps`` (the cap says nothing about when it would have
stopped, so the estimate leans long).

The sample costs about :data:`SAMPLE_SECONDS`; a sweep whose worst case (every run to
``max_steps`` at a deliberately slow rate) is short anyway is not sampled at all
(:func:`worst_case_seconds`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..engine.batch import train_runs
from ..engine.data import load_data
from ..wording import duration, plural
from .config import SweepConfig
from .expand import expand_ids

#: Runs trained to estimate a sweep (fewer when it has fewer).
SAMPLE_RUNS = 256
#: About how long the sample may train.
SAMPLE_SECONDS = 0.4
#: A slow rate, in run-steps per second for the lessons' network (3 data points, 2 hidden
#: nodes): an upper bound on the time of any sweep (the kernel does 1e7 to 5e7 on 2 cores).
SLOW_RATE = 1e6
#: Work estimated above this many seconds needs --yes (docs/sweeps.md, "Long work").
LONG_WORK_SECONDS = 3600.0
#: Work estimated above this many seconds is announced on stderr before it starts.
NOTICE_SECONDS = 60.0


@dataclass(frozen=True)
class Estimate:
    """A sweep's expected work on this machine."""

    runs: int
    run_steps: float  #: expected steps summed over every run
    seconds: float  #: expected training time on this machine (numba's threads on every core)
    sample: int  #: runs trained to estimate
    capped: int  #: sampled runs that reached the sample's step cap (counted as max_steps)

    def describe(self) -> str:
        """One line for --dry-run and notices, e.g. 'about 1.2e+09 run-steps, about 35 s on
        this machine (a sample of 256 runs; 12 still running at 400 steps count as
        max_steps)'."""
        text = (
            f"about {self.run_steps:.3g} run-steps, about {duration(self.seconds)} on this "
            f"machine (estimated from a sample of {plural(self.sample, 'run')}"
        )
        if self.capped:
            text += f"; {self.capped} still running when the sample stopped count as max_steps"
        return text + ")"


def _step_weight(config: SweepConfig) -> float:
    """How much dearer a step is than on the lessons' network: data points x hidden nodes,
    at their largest over the sweep, relative to 3 x 2."""
    points = 3
    for d in config.values_of("dataset"):
        x, _ = load_data(d, base_dir=config.base_dir)
        points = max(points, len(x))
    return points * max(config.hiddens) / 6.0


def worst_case_seconds(config: SweepConfig) -> float:
    """An upper bound on the training time: every run to its max_steps at SLOW_RATE (scaled
    by the data and the hidden size)."""
    most_steps = max(int(v) for v in config.values_of("max_steps"))
    return config.n_runs * most_steps * _step_weight(config) / SLOW_RATE


def sample_ids(n_runs: int, sample: int = SAMPLE_RUNS) -> np.ndarray:
    """``sample`` run ids spread evenly over [0, n_runs) (all of them when fewer)."""
    if n_runs <= sample:
        return np.arange(n_runs, dtype=np.int64)
    return np.unique(np.linspace(0, n_runs - 1, sample).astype(np.int64))


def estimate(config: SweepConfig, sample: int = SAMPLE_RUNS) -> Estimate:
    """Train a sample of the sweep's runs for a capped number of steps and extrapolate (see
    the module doc). The cap starts at one step and grows fourfold while runs are still going
    and the sample has used under half of SAMPLE_SECONDS. This machine's time per run-step is
    measured apart (:func:`_rate`): a few hundred runs are too few for the batched kernel's
    lanes to run at the speed a whole sweep gets."""
    n = config.n_runs
    runs = expand_ids(config, sample_ids(n, sample))
    full = runs["max_steps"].to_numpy(np.int64).copy()
    cache: dict = {}
    cap, spent = 1, 0.0
    while True:
        runs["max_steps"] = np.minimum(full, cap)
        t0 = time.perf_counter()
        done = train_runs(runs, config.base_dir, cache)
        seconds = time.perf_counter() - t0
        spent += seconds
        steps = done["steps"].to_numpy(np.int64)
        running = (done["status"].to_numpy() == "max_steps") & (full > cap)
        # the next round trains about 4x this one's steps: stop where that overruns the budget
        if not running.any() or cap >= full.max() or spent + 4 * seconds > SAMPLE_SECONDS:
            break
        cap *= 4
    steps = np.where(running, full, steps)
    run_steps = float(steps.mean()) * n
    return Estimate(
        runs=n,
        run_steps=run_steps,
        seconds=run_steps / _rate(runs, config, cache),
        sample=len(runs),
        capped=int(running.sum()),
    )


def _rate(runs: pd.DataFrame, config: SweepConfig, cache: dict) -> float:
    """Run-steps per second of the batched kernel on this machine for this sweep's network
    (data, hidden size, activation, optimizer): the sample's runs, repeated to fill the
    kernel's lanes, each for a fixed number of steps (tol = 0, rates so small that none
    diverges), sized by the cost of a step to take about a tenth of a second."""
    budget = max(1, int(2e6 / _step_weight(config)))  # run-steps of about 0.05-0.1 s
    count = int(min(max(budget, 16), 4096))
    batch = runs.iloc[np.arange(count) % len(runs)].reset_index(drop=True)
    batch["tol"] = 0.0
    batch["max_steps"] = max(1, budget // count)
    for rate in ("lr", "lr_hidden", "lr_output"):  # tiny rates: no run diverges early
        if rate in batch.columns:
            batch[rate] = 1e-12
    t0 = time.perf_counter()
    done = train_runs(batch, config.base_dir, cache)
    return max(int(done["steps"].sum()), 1) / max(time.perf_counter() - t0, 1e-9)


def long_work(config: SweepConfig, above: float = NOTICE_SECONDS) -> Estimate | None:
    """The estimate of a sweep that may take long (its worst case is over ``above``
    seconds), else None (not sampled: it is short whatever happens). A real run asks with
    ``above=LONG_WORK_SECONDS`` (the sample costs about half a second, which only work that
    may take an hour is worth); --dry-run with the default."""
    if worst_case_seconds(config) <= above:
        return None
    return estimate(config)


__all__ = [
    "LONG_WORK_SECONDS",
    "NOTICE_SECONDS",
    "Estimate",
    "duration",
    "estimate",
    "long_work",
    "worst_case_seconds",
]
