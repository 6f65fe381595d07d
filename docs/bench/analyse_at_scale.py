"""`bpsweep analyse` at scale: wall time (best of N, with the range), peak memory and the
report's size, for one checkout or two side by side (alternating: old, new, old, new, ...).

    python docs/bench/analyse_at_scale.py [--old OLD_CHECKOUT] [--repeat 3] CASE ...

A CASE is ``NAME=RESULTS[::OPTIONS]``, e.g.::

    csv=/tmp/big/seed-lr-grid.csv
    map=results/map-lr-hidden-output.parquet::--plots /tmp/ab/plots --report /tmp/ab/r.html
    map4096=/tmp/m4/map-lr-hidden-output-4096x4096.parquet

Each run is ``python -m bpsweep analyse RESULTS OPTIONS`` in a fresh process, from process
start to exit, with PYTHONPATH=<checkout>/src (the checkout holding
this script unless --old names another: then that one runs first in each pair), its output
to a temporary file (1,048,608 lines for a 1024 x 1024 map before this release). It prints,
per case and checkout: the best wall time [the slowest], the peak resident memory of the
process (the largest over the repeats) and, with --report, the report's size; and what
analyse itself said of its time (its "read N runs in X s, analysed in Y s" line, of the best
run). The results files are made as the README says (not timed here):

    bpsweep run experiments/seed-lr-grid.toml --out /tmp/big \
        --set 'sweep.seed={start=0,count=166667}'
    bpsweep map experiments/map-lr-hidden-output.toml
    bpsweep map experiments/map-lr-hidden-output.toml --resolution 4096x4096 --out /tmp/m4

These are figures, not tests: the VM is shared and its speed drifts; take the best.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[2]


def run_once(checkout: Path, results: str, options: list[str]) -> dict:
    """One ``bpsweep analyse`` in a fresh process: wall seconds, peak RSS (bytes), its note."""
    env = {**os.environ, "PYTHONPATH": str(checkout / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-m", "bpsweep", "analyse", results, *options]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        _, rusage = os.wait4(proc.pid, 0)[1:]
        wall = time.perf_counter() - start
        out.seek(max(0, out.seek(0, 2) - 4096))
        err.seek(0)
        text = out.read().decode(errors="replace") + err.read().decode(errors="replace")
    note = re.findall(r"read [\d,]+ runs in [\d.]+ s, analysed in [\d.]+ s", text)
    note = note[-1] if note else ""
    return {"wall": wall, "rss": rusage.ru_maxrss * 1024, "note": note, "err": text}


def report_size(options: list[str]):
    if "--report" in options:
        path = Path(options[options.index("--report") + 1])
        return path.stat().st_size if path.is_file() else None
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="+", metavar="NAME=RESULTS[::OPTIONS]")
    parser.add_argument("--old", type=Path, help="another checkout, run first in each pair")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    checkouts = [("old", args.old.resolve()), ("new", HERE)] if args.old else [("new", HERE)]
    rows = []
    for case in args.cases:
        name, _, rest = case.partition("=")
        results, _, opts = rest.partition("::")
        options = shlex.split(opts)
        runs = {label: [] for label, _ in checkouts}
        sizes = {}
        for _ in range(args.repeat):
            for label, checkout in checkouts:
                out = run_once(checkout, results, options)
                runs[label].append(out)
                sizes[label] = report_size(options)
                if "Traceback" in out["err"]:
                    print(out["err"], file=sys.stderr)
                    return 1
        for label, _ in checkouts:
            walls = [r["wall"] for r in runs[label]]
            best = min(runs[label], key=lambda r: r["wall"])
            rows.append(
                (
                    name,
                    label,
                    f"{min(walls):.2f} s [{max(walls):.2f}]",
                    f"{max(r['rss'] for r in runs[label]) / 2**30:.2f} GiB",
                    f"{sizes[label] / 2**20:.1f} MiB" if sizes[label] is not None else "",
                    best["note"],
                )
            )
    header = ("case", "code", "wall best [worst]", "peak RSS", "report", "analyse's own note")
    widths = [max(len(str(r[k])) for r in [header, *rows]) for k in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip())
    load = os.getloadavg()
    print(f"best of {args.repeat}; load average at the end {load[0]:.2f} (2 cores)")
    return 0


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    sys.exit(main())
