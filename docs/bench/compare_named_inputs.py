"""The kernel's speed in two checkouts side by side, alternating: old against new.

    python docs/bench/compare_named_inputs.py OLD_CHECKOUT [NEW_CHECKOUT] [--rounds 3]
    python docs/bench/compare_named_inputs.py OLD_CHECKOUT [NEW_CHECKOUT] --in-process 11

Written to show that passing the kernels' inputs as named tuples (Runs, Outcomes) and
splitting ``_lanes_range``'s refill and drain into helpers left the kernel's speed alone (old:
31379fa, new: the ``kernels`` branch), and usable for any two checkouts whose
``bpsweep.bench.batch_inputs`` gives their own ``train_batch``'s keyword arguments.
NEW_CHECKOUT defaults to the checkout holding this script.

Two cases, each with fixed steps (lr 0.01, tol 0) and early stopping (the main job's rates,
tol 1e-3), on 1 and 2 numba threads: 4000 runs of 1000 steps, as the README reports, and
200000 runs of at most 5 steps, where starting and finishing runs (the lanes' refill), not
the steps, take most of the time.

By default each round runs, for old then new, ``python -m bpsweep bench --no-sweep --repeat
3 --json --threads 1 2`` (and the same with ``--runs 200000 --steps 5``) in fresh processes
with PYTHONPATH=<checkout>/src, each checkout with its own NUMBA_CACHE_DIR (a temporary
folder, filled by an untimed small run first), so neither writes into the other. It prints
each side's best run-steps/s over the rounds (each round itself the best of 3) [the worst],
the ratio new/old of the bests and the range of the per-round ratios.

The VM's speed drifts 20-30% from minute to minute and other jobs share its two cores, and
rounds tens of seconds apart pair badly. ``--in-process PAIRS`` pairs them closely instead:
one process imports the old checkout's package under the name ``bpsweep_old`` (a copy in a
temporary folder; bpsweep imports itself relatively) next to the new ``bpsweep``, and calls
the two ``train_batch`` in turn, PAIRS times per case (old first in even pairs, new first in
odd ones); it prints each side's best time, the ratio of the bests and the median [range] of
the per-pair ratios (speed new/old: above 1, new is faster).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = ["-m", "bpsweep", "bench", "--no-sweep", "--repeat", "3", "--json", "--threads", "1", "2"]
#: label -> the bench's arguments beyond BENCH
BENCHES = {"": [], "5-step runs: ": ["--runs", "200000", "--steps", "5"]}
WARM = ["-m", "bpsweep", "bench", "--no-sweep", "--repeat", "1", "--runs", "8", "--steps", "5"]
#: --in-process cases: name, runs, max steps, early stopping
CASES = [
    ("fixed 1000 steps", 4000, 1000, False),
    ("early stop, max 1000", 4000, 1000, True),
    ("fixed 5 steps", 200000, 5, False),
    ("early stop, max 5", 200000, 5, True),
]


def bench(checkout: Path, cache: Path, args: list[str]) -> dict:
    """``python ARGS`` with ``checkout``'s sources and numba cache; its JSON, or None."""
    env = {**os.environ, "PYTHONPATH": str(checkout / "src"), "NUMBA_CACHE_DIR": str(cache)}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # leave the checkouts as they are
    done = subprocess.run(
        [sys.executable, *args], env=env, cwd=checkout, check=True, capture_output=True, text=True
    )
    return json.loads(done.stdout) if "--json" in args else None


def rates(results: dict) -> dict:
    """{(label + case, threads): run-steps/s (best of the repeats)} of one round's benches."""
    return {
        (label + c["case"], c["threads"]): c["run_steps_per_s"]
        for label, result in results.items()
        for c in result["cases"]
    }


def by_processes(sides: dict, rounds: int, save: Path | None) -> None:
    got = {side: [] for side in sides}
    with tempfile.TemporaryDirectory() as tmp:
        caches = {side: Path(tmp) / side for side in sides}
        for side, checkout in sides.items():
            bench(checkout, caches[side], WARM)  # compile, or fill the cache, untimed
        for k in range(rounds):
            for side, checkout in sides.items():
                got[side].append(
                    {
                        label: bench(checkout, caches[side], BENCH + extra)
                        for label, extra in BENCHES.items()
                    }
                )
                print(f"round {k + 1} {side} done", file=sys.stderr, flush=True)
    if save:
        save.write_text(json.dumps({"checkouts": {s: str(p) for s, p in sides.items()}, **got}))

    old = [rates(r) for r in got["old"]]
    new = [rates(r) for r in got["new"]]
    print(
        f"run-steps/s: the best of {rounds} rounds [the worst]; new/old: the ratio of the "
        "bests [the range of the rounds' ratios]"
    )
    print(f"{'case':<53} {'thr':>3} {'old':>19} {'new':>19}  {'new/old':>19}")
    for key in old[0]:
        o = [r[key] for r in old]
        n = [r[key] for r in new]
        ratios = [y / x for x, y in zip(o, n)]
        case, threads = key
        print(
            f"{case:<53} {threads:>3} {max(o):.3e} [{min(o):.2e}] {max(n):.3e} [{min(n):.2e}]"
            f"  {max(n) / max(o):.3f} [{min(ratios):.3f}-{max(ratios):.3f}]"
        )
    load = [b["machine"]["load_average"][0] for r in got["old"] + got["new"] for b in r.values()]
    print(f"load average (1 min) at the runs: {min(load):.2f}-{max(load):.2f}")


def in_process(sides: dict, pairs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(
            sides["old"] / "src" / "bpsweep",
            Path(tmp) / "bpsweep_old",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(sides["new"] / "src"), tmp])}
        env["NUMBA_CACHE_DIR"] = str(Path(tmp) / "cache")
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        worker = [sys.executable, __file__, "--worker", str(pairs)]
        subprocess.run(worker, env=env, check=True)


def worker(pairs: int) -> None:
    """The --in-process measurement, in a process that imports bpsweep and bpsweep_old."""
    import bpsweep_old.bench
    import numba

    import bpsweep.bench

    sides = {"old": bpsweep_old, "new": bpsweep}
    # the kernels module: bpsweep/kernels.py before the packages, bpsweep/engine/kernels.py since
    kernels = {s: getattr(p, "engine", p).kernels for s, p in sides.items()}
    for s, package in sides.items():  # compile, or load from the cache, untimed
        kernels[s].train_batch(**package.bench.batch_inputs(16, 0.01, 0.0, 3))
    lrs = bpsweep.bench.MAIN_JOB_LRS
    print(
        f"best ms of {pairs} calls each, interleaved; new/old speed: the ratio of the bests, "
        "the median [range] of the per-pair ratios"
    )
    for threads in (1, 2):
        numba.set_num_threads(threads)
        for name, runs, steps, early in CASES:
            lr, tol = (lrs, 1e-3) if early else (0.01, 0.0)
            args = {s: p.bench.batch_inputs(runs, lr, tol, steps) for s, p in sides.items()}
            times = {s: [] for s in sides}
            for i in range(pairs):
                for s in ("old", "new") if i % 2 == 0 else ("new", "old"):
                    start = time.perf_counter()
                    kernels[s].train_batch(**args[s])
                    times[s].append(time.perf_counter() - start)
            speed = [o / n for o, n in zip(times["old"], times["new"])]
            old, new = min(times["old"]), min(times["new"])
            print(
                f"{name:<22} {threads} thr  old {1e3 * old:7.1f}  new {1e3 * new:7.1f}  "
                f"new/old {old / new:.3f}  median {statistics.median(speed):.3f} "
                f"[{min(speed):.3f}-{max(speed):.3f}]",
                flush=True,
            )
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old", type=Path, nargs="?")
    parser.add_argument("new", type=Path, nargs="?", default=Path(__file__).resolve().parents[2])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--save", type=Path, help="also write every round's JSON here")
    parser.add_argument("--in-process", type=int, metavar="PAIRS", help="interleave in one process")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.worker:
        worker(a.worker)
        return
    if a.old is None:
        parser.error("give the old checkout")
    sides = {"old": a.old.resolve(), "new": a.new.resolve()}
    print(f"old: {sides['old']}\nnew: {sides['new']}", flush=True)
    if a.in_process:
        in_process(sides, a.in_process)
    else:
        by_processes(sides, a.rounds, a.save)


if __name__ == "__main__":
    main()
