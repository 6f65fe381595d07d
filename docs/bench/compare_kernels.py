"""Kernel throughput per case through the stable ``bpsweep.engine.batch.train_runs`` API, so that
two
checkouts can be compared side by side (the README's before/after table):

    PYTHONPATH=OLD_CHECKOUT/src python docs/bench/compare_kernels.py old.json
    python docs/bench/compare_kernels.py new.json      # alternate the two, twice or more

Fixed 1000 steps (tol 0), lr 0.01, 4000 runs from normal starts (seed i), numba's default
threads; prints run-steps/s per case, best of 3 with the range, and saves them as JSON.
Pass a step count as a second argument for more steps a run (e.g. 10000 for relu, whose
per-call overhead otherwise shows).
"""

import json
import sys
import time

import numpy as np
import pandas as pd

from bpsweep.engine.batch import train_runs
from bpsweep.engine.starts import initial_params
from bpsweep.model import param_names

RUNS = 4000
STEPS = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
CASES = [
    (2, "softplus", "gd"),
    (2, "relu", "gd"),
    (2, "sigmoid", "gd"),
    (2, "tanh", "gd"),
    (2, "softplus", "momentum"),
    (2, "softplus", "adam"),
    (1, "softplus", "gd"),
    (3, "softplus", "gd"),
    (8, "softplus", "gd"),
]

result = {"cases": []}
for hidden, activation, optimizer in CASES:
    starts = np.array([initial_params("normal", hidden=hidden, seed=i) for i in range(RUNS)])
    runs = pd.DataFrame(
        {
            "dataset": "dosage",
            "hidden": hidden,
            "activation": activation,
            "optimizer": optimizer,
            "lr": 0.01,
            "tol": 0.0,
            "max_steps": STEPS,
            "trainable": "all",
        },
        index=range(RUNS),
    )
    for j, name in enumerate(param_names(hidden)):
        runs[f"init_{name}"] = starts[:, j]
    train_runs(runs.iloc[:8])  # compile, or load from numba's cache
    times = []
    for _ in range(3):
        t = time.perf_counter()
        out = train_runs(runs)
        times.append(time.perf_counter() - t)
    steps = int(out["steps"].sum())
    case = f"H={hidden} {activation} {optimizer}"
    result["cases"].append(
        {"case": case, "run_steps": steps, "best_s": min(times), "worst_s": max(times)}
    )
    print(
        f"{case:<22} {steps / min(times):.3e} run-steps/s "
        f"[{steps / max(times):.2e}-{steps / min(times):.2e}]",
        flush=True,
    )
with open(sys.argv[1], "w", encoding="utf-8") as fh:
    json.dump(result, fh, indent=1)
