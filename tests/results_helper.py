"""make_results: small results tables in the contract's column order, trained by batch.train_runs
(the sweep runner is not needed to test the analyses)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bpsweep.engine.batch import train_runs
from bpsweep.engine.starts import SCHEMES, draw_batch, initial_params
from bpsweep.model import HYPER_DEFAULTS, param_names

SETTINGS = (
    "dataset",
    "hidden",
    "activation",
    "optimizer",
    "momentum",
    "beta1",
    "beta2",
    "eps",
    "lr",
    "tol",
    "max_steps",
    "trainable",
    "scheme",
    "scale",
    "biases",
    "seed",
)


def make_results(
    lrs=(0.1,),
    seeds=range(10),
    *,
    init=None,
    hidden=2,
    scheme="normal",
    scale=1.0,
    biases="zeros",
    trainable="all",
    tol=1e-3,
    max_steps=1000,
    optimizer="gd",
    activation="softplus",
) -> pd.DataFrame:
    """Every (lr, seed) pair once (lr outer, seed inner), run_id 0..; ``init`` a preset or
    array overrides the random start (then every seed has the same start)."""
    names = param_names(hidden)
    seeds = np.asarray(list(seeds), dtype=np.uint64)
    if init is None:
        starts = np.empty((len(seeds), len(names)))
        draw_batch(
            seeds,
            hidden,
            np.full(len(seeds), SCHEMES[scheme]),
            np.full(len(seeds), float(scale)),
            np.full(len(seeds), biases == "drawn"),
            starts,
        )
    else:
        starts = np.tile(initial_params(init, hidden=hidden), (len(seeds), 1))
    frames = []
    for lr in lrs:
        f = pd.DataFrame(
            {
                "dataset": "dosage",
                "hidden": hidden,
                "activation": activation,
                "optimizer": optimizer,
                **HYPER_DEFAULTS,
                "lr": float(lr),
                "tol": tol,
                "max_steps": max_steps,
                "trainable": trainable,
                "scheme": scheme,
                "scale": scale,
                "biases": biases,
                "seed": seeds.astype(np.int64),
            },
            index=range(len(seeds)),
        )
        for j, n in enumerate(names):
            f[f"init_{n}"] = starts[:, j]
        frames.append(f)
    runs = pd.concat(frames, ignore_index=True)
    out = train_runs(runs)
    df = pd.concat([runs, out], axis=1)
    df.insert(0, "run_id", np.arange(len(df)))
    return df


def write_results(df: pd.DataFrame, path) -> None:
    df.to_csv(path, index=False, float_format="%.17g")
