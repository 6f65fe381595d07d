"""The kernel's speed in two checkouts side by side: ``bpsweep bench`` of each, alternating.

    python docs/bench/compare_named_inputs.py OLD_CHECKOUT [NEW_CHECKOUT] [--rounds 3]

Written to show that passing the kernels' inputs as named tuples (Runs, Outcomes) and
splitting ``_lanes_range``'s refill and drain into helpers left the kernel's speed alone (old:
31379fa, new: the ``kernels`` branch), and usable for any two checkouts. NEW_CHECKOUT defaults
to the checkout holding this script.

Each round runs, for old then new, in fresh processes with PYTHONPATH=<checkout>/src:

- ``python -m bpsweep bench --no-sweep --repeat 3 --json --threads 1 2``: 4000 runs of 1000
  steps, fixed steps and early stopping on the main job's rates, as the README reports;
- the same with ``--runs 200000 --steps 5``: runs that stop after at most 5 steps, so that
  starting and finishing runs (the lanes' refill), not the steps, take most of the time.

The VM's speed drifts 20-30% from minute to minute and other jobs share its cores, so the
sides alternate and the per-round ratios pair measurements a few seconds apart. Each checkout
gets its own NUMBA_CACHE_DIR (a temporary folder, filled by an untimed small run first), so
neither writes into the other.

Prints, per case and thread count: each side's best run-steps/s over the rounds (each round
itself the best of 3 timings) with the range over the rounds, the ratio new/old of the bests,
and the range of the per-round ratios.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = ["-m", "bpsweep", "bench", "--no-sweep", "--repeat", "3", "--json", "--threads", "1", "2"]
#: label -> the bench's arguments beyond BENCH
BENCHES = {"": [], "5-step runs: ": ["--runs", "200000", "--steps", "5"]}
WARM = ["-m", "bpsweep", "bench", "--no-sweep", "--repeat", "1", "--runs", "8", "--steps", "5"]


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path, nargs="?", default=Path(__file__).resolve().parents[2])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--save", type=Path, help="also write every round's JSON here")
    a = parser.parse_args()
    sides = {"old": a.old.resolve(), "new": a.new.resolve()}
    got = {side: [] for side in sides}
    with tempfile.TemporaryDirectory() as tmp:
        caches = {side: Path(tmp) / side for side in sides}
        for side, checkout in sides.items():
            bench(checkout, caches[side], WARM)  # compile, or fill the cache, untimed
        for k in range(a.rounds):
            for side, checkout in sides.items():
                got[side].append(
                    {
                        label: bench(checkout, caches[side], BENCH + extra)
                        for label, extra in BENCHES.items()
                    }
                )
                print(f"round {k + 1} {side} done", file=sys.stderr, flush=True)
    if a.save:
        a.save.write_text(json.dumps({"checkouts": {s: str(p) for s, p in sides.items()}, **got}))

    old = [rates(r) for r in got["old"]]
    new = [rates(r) for r in got["new"]]
    print(f"old: {sides['old']}\nnew: {sides['new']}")
    print(
        f"run-steps/s: the best of {a.rounds} rounds [the worst]; new/old: the ratio of the "
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


if __name__ == "__main__":
    main()
