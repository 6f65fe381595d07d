"""Throughput benchmark of the training kernels: ``bpsweep bench``.

Trains the lessons' network (dosage data) from random normal starts (counter-based seeds
0..R-1) with :func:`bpsweep.engine.kernels.train_batch` and reports, for each numba thread count:

- fixed steps: H = 2 softplus gd, tol = 0 and lr = 0.01, so no run converges or diverges and
  every run takes exactly ``steps`` steps; throughput in run-steps per second (compile time
  excluded, best of ``repeat`` timings, with the range);
- early stopping: the main job's mix of learning rates (0.01, 0.03, 0.1, 0.3, 0.5, 1, cycled
  over the runs), tol 1e-3, max_steps = ``steps``: the useful run-steps (the steps the runs
  took) per second;
- with ``all_cases``: every other activation and optimizer (H = 2) and H = 1, 3, 8 with fixed
  steps;
- the end-to-end wall time of the ``seed-lr-grid`` sweep (its config is built here, in code,
  so that an installed package needs no ``experiments/`` folder);
- with ``end_to_end=R``: ``bpsweep run`` on R runs of the main job's mix as a fresh process
  against the kernel alone on the same runs (:func:`time_end_to_end`);
- with ``--json``: also the math functions' ns per call and max ulp error
  (:func:`bpsweep.engine._mathcheck.measure`).

:func:`bench` returns everything as one dict (what ``bpsweep bench --json`` prints);
:func:`format_table` renders it as the text table.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

from .engine import kernels
from .engine.data import load_data
from .engine.starts import normal_starts
from .engine.trainer import optimizer_hyper
from .machine import cpu_model
from .model import ACTIVATIONS, DEFAULT_TOL, MAX_STEPS, OPTIMIZERS, n_params
from .sweeps.config import to_toml

HIDDEN = 2
#: The main job's learning rates (experiments/seed-lr-grid.toml), cycled over the runs.
MAIN_JOB_LRS = (0.01, 0.03, 0.1, 0.3, 0.5, 1.0)
#: experiments/seed-lr-grid.toml as a config dict (run_sweep takes one): the end-to-end case.
SWEEP_CONFIG = {
    "name": "seed-lr-grid",
    "description": "1000 random starts x 6 learning rates, all seven parameters",
    "data": {"dataset": "dosage"},
    "model": {"hidden": 2, "activation": "softplus"},
    "init": {"scheme": "normal", "scale": 1.0, "biases": "zeros"},
    "train": {"optimizer": "gd", "tol": 0.001, "max_steps": 1000, "trainable": "all"},
    "sweep": {"mode": "grid", "seed": {"start": 0, "count": 1000}, "lr": list(MAIN_JOB_LRS)},
}


@dataclass
class Timing:
    threads: int
    seconds: float  #: best wall time of the repeats
    worst: float  #: worst wall time of the repeats
    run_steps: int  #: steps summed over the runs
    mean_steps: float
    statuses: np.ndarray  #: (3,) count of converged, max_steps, diverged

    @property
    def rate(self) -> float:
        """Run-steps per second (best of the repeats)."""
        return self.run_steps / self.seconds


def batch_inputs(
    runs: int,
    lr,
    tol: float,
    max_steps: int,
    *,
    hidden: int = HIDDEN,
    activation: str = "softplus",
    optimizer: str = "gd",
) -> dict:
    """Keyword arguments of train_batch (and of train_batch_cuda): x, y, hidden, runs and out
    for ``runs`` runs from normal starts (seeds 0..runs-1), every parameter trainable, the
    optimizer's default hyper-parameters, one rate for both layers. ``lr``: one rate or a
    sequence cycled over the runs."""
    x, y = load_data("dosage")
    lr = np.resize(np.asarray(lr, dtype=np.float64), runs)
    return dict(
        x=x,
        y=y,
        hidden=hidden,
        runs=kernels.make_runs(
            act=ACTIVATIONS[activation],
            opt=OPTIMIZERS[optimizer],
            hyper=optimizer_hyper(optimizer),
            lr_hidden=lr,
            lr_output=lr,
            tol=tol,
            max_steps=max_steps,
            init=normal_starts(runs, hidden),
        ),
        out=kernels.Outcomes.empty(runs, n_params(hidden)),
    )


def time_batch(
    runs: int,
    steps: int,
    threads: int,
    *,
    lr,
    tol: float,
    repeat: int = 3,
    lanes: int | None = None,
    **network,
) -> Timing:
    """Best (and worst) wall time of ``repeat`` train_batch calls on ``threads`` numba threads.
    ``network``: hidden, activation, optimizer (default the lessons')."""
    args = batch_inputs(runs, lr, tol, steps, **network)
    lanes = kernels.LANES if lanes is None else lanes
    warm = batch_inputs(2, lr, tol, 2, **network)
    kernels.train_batch(**warm, lanes=lanes)  # compile (or load from cache) outside the timing
    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            kernels.train_batch(**args, lanes=lanes)
            times.append(time.perf_counter() - start)
    finally:
        numba.set_num_threads(before)
    out = args["out"]
    return Timing(
        threads,
        min(times),
        max(times),
        int(out.steps.sum()),
        float(out.steps.mean()),
        np.bincount(out.status, minlength=3),
    )


def time_sweep(config=None) -> tuple[float | None, str]:
    """End-to-end wall time of a sweep (run once to compile, then timed), or (None, why not).
    ``config``: a config dict or path (default :data:`SWEEP_CONFIG`, built in code)."""
    from .sweeps.runner import run_sweep

    config = SWEEP_CONFIG if config is None else config
    name = config["name"] if isinstance(config, dict) else Path(config).name
    with tempfile.TemporaryDirectory() as tmp:
        try:
            run_sweep(config, out_dir=Path(tmp) / "warm", fresh=True)
            start = time.perf_counter()
            run_sweep(config, out_dir=Path(tmp) / "timed", fresh=True)
            return time.perf_counter() - start, str(name)
        except Exception as exc:  # report, do not crash the benchmark
            return None, f"sweep failed: {type(exc).__name__}: {exc}"


def _timed_kernel():
    """``(kernel, spent)``: kernels.train_batch that adds its wall time to ``spent[0]`` (the
    kernel alone, timed inside a whole sweep or map in this process)."""
    spent = [0.0]

    def kernel_only(*args, **kwargs):
        t = time.perf_counter()
        out = kernels.train_batch(*args, **kwargs)
        spent[0] += time.perf_counter() - t
        return out

    return kernel_only, spent


def time_end_to_end(runs: int, repeat: int = 3) -> dict:
    """``bpsweep run`` on the main job's mix (about ``runs`` runs: seeds x its 6 rates) as a
    fresh process, from process start to the results file, as CSV and as Parquet, side by
    side with the batched kernel alone on the same runs in this process (numba's default
    threads): best and worst of ``repeat`` each, and the ratios of the bests. A first,
    untimed run fills numba's cache."""
    import subprocess
    import sys

    from .engine.batch import train_runs
    from .sweeps.config import load_config
    from .sweeps.expand import expand

    seeds = max(1, round(runs / len(MAIN_JOB_LRS)))
    kernel_only, spent = _timed_kernel()

    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "bench-end-to-end.toml"
        sweep = {**SWEEP_CONFIG["sweep"], "seed": {"start": 0, "count": seeds}}
        main_job = {**SWEEP_CONFIG, "name": "bench-end-to-end", "sweep": sweep}
        cfg.write_text(to_toml(main_job), encoding="utf-8")
        table = expand(load_config(cfg))
        train_runs(table.iloc[:100], kernel=kernel_only)  # compile or load from the cache
        argv = [sys.executable, "-m", "bpsweep", "run", str(cfg), "--quiet", "--fresh"]
        subprocess.run([*argv, "--out", str(Path(tmp) / "warm")], check=True, capture_output=True)
        kernel_s, times = [], {"csv": [], "parquet": []}
        for _ in range(repeat):
            spent[0] = 0.0
            train_runs(table, kernel=kernel_only)
            kernel_s.append(spent[0])
            for fmt, seconds in times.items():
                t = time.perf_counter()
                out = ["--out", str(Path(tmp) / "timed"), "--format", fmt]
                subprocess.run([*argv, *out], check=True, capture_output=True)
                seconds.append(time.perf_counter() - t)
    return {
        "runs": len(table),
        "kernel_seconds": min(kernel_s),
        "kernel_seconds_worst": max(kernel_s),
        "run_seconds": min(times["csv"]),
        "run_seconds_worst": max(times["csv"]),
        "ratio": min(times["csv"]) / min(kernel_s),
        "parquet_seconds": min(times["parquet"]),
        "parquet_seconds_worst": max(times["parquet"]),
        "parquet_ratio": min(times["parquet"]) / min(kernel_s),
    }


#: A child's peak resident memory, printed on stderr when it ends (for the map's figures).
_PEAK = (
    "import resource, sys\n"
    "from bpsweep.commands import main\n"
    "code = main(sys.argv[1:])\n"
    "sys.stderr.write('peak_kb=%d\\n' % resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    "sys.exit(code)\n"
)


def time_map(side: int, repeat: int = 1, config_path=None) -> dict:
    """``bpsweep map`` of the lr_hidden x lr_output map (or ``config_path``) at side x side
    pixels as a fresh process, side by side with the kernel alone on the same tiles in this
    process: the wall times (best and worst of ``repeat``), the time to the first tile
    stored, a second run of the same map (complete: nothing trained), the results' bytes a
    pixel, full and lean, and the peak memory of each."""
    import re
    import subprocess
    import sys

    from .maps.tiles import Grid, train_tile
    from .sweeps.config import load_config

    path = config_path or _shipped_map()
    config = load_config(path, overrides=[f"map.resolution=[{side}, {side}]"])
    grid = Grid(config.map)
    kernel_only, spent = _timed_kernel()

    def trainer(columns, n, data_dir, cache):
        from .engine.batch import train_columns

        return train_columns(columns, n, data_dir, cache, kernel=kernel_only)

    kernel_s = []
    for _ in range(repeat):
        spent[0] = 0.0
        for tx, ty in grid.tiles():
            train_tile(config, grid, tx, ty, "full", trainer)
        kernel_s.append(spent[0])
    result = {"side": side, "pixels": side * side, "tiles": len(grid.tiles())}
    with tempfile.TemporaryDirectory() as tmp:
        base = [sys.executable, "-c", _PEAK, "map", str(path), "--resolution", f"{side}x{side}"]
        runs = {"full": [], "lean": []}
        for columns, seconds in runs.items():
            for k in range(repeat):
                out = Path(tmp) / f"{columns}{k}"
                argv = [*base, "--out", str(out), "--quiet", "--yes"]
                if columns == "lean":
                    argv += ["--set", 'map.columns="lean"']
                t = time.perf_counter()
                # its summary must not mix into bench's own output (--json is one line)
                proc = subprocess.Popen(
                    argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
                )
                first = None
                while proc.poll() is None:
                    if first is None and any(out.glob("tiles/*/*/t*.json")):
                        first = time.perf_counter() - t
                    time.sleep(0.005)
                err = proc.stderr.read()
                proc.stderr.close()
                if proc.returncode != 0:
                    raise RuntimeError(f"bpsweep map failed: {err[-2000:]}")
                seconds.append(time.perf_counter() - t)
                peak = int(re.search(r"peak_kb=(\d+)", err).group(1)) * 1024
                name = f"{config.name}-{side}x{side}"
                size = (out / f"{name}.parquet").stat().st_size
                result.setdefault(f"{columns}_first_tile_seconds", first)
                result[f"{columns}_bytes_per_pixel"] = size / (side * side)
                result[f"{columns}_peak_bytes"] = max(peak, result.get(f"{columns}_peak_bytes", 0))
                if columns == "full" and k == 0:
                    t = time.perf_counter()
                    subprocess.run([*argv], check=True, capture_output=True)
                    result["again_seconds"] = time.perf_counter() - t
    result.update(
        {
            "kernel_seconds": min(kernel_s),
            "kernel_seconds_worst": max(kernel_s),
            "map_seconds": min(runs["full"]),
            "map_seconds_worst": max(runs["full"]),
            "ratio": min(runs["full"]) / min(kernel_s),
            "lean_seconds": min(runs["lean"]),
            "again_ratio": result["again_seconds"] / min(runs["full"]),
        }
    )
    return result


def _shipped_map() -> Path:
    """experiments/map-lr-hidden-output.toml's config, written out (an installed package has
    no experiments/ folder): the map of the README's performance figures."""
    text = """name = "map-lr-hidden-output"
[init]
preset = "statquest-start"
[train]
optimizer = "gd"
tol = 0.001
max_steps = 1000
[map]
x = "lr_hidden"
y = "lr_output"
center = [-0.5, -0.5]
span = [3.0, 3.0]
resolution = [1024, 1024]
scale = ["log", "log"]
"""
    path = Path(tempfile.mkdtemp()) / "map-lr-hidden-output.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _cases(steps: int, all_cases: bool):
    """(name, kwargs of time_batch) for each case."""
    cases = [
        (f"fixed {steps} steps (lr 0.01, tol 0)", dict(lr=0.01, tol=0.0)),
        (
            f"early stop (main job's lrs, tol {DEFAULT_TOL:g})",
            dict(lr=MAIN_JOB_LRS, tol=DEFAULT_TOL),
        ),
    ]
    if all_cases:
        fixed = dict(lr=0.01, tol=0.0)
        for act in ("relu", "sigmoid", "tanh"):
            cases.append((f"fixed, {act}", dict(fixed, activation=act)))
        for opt, lr in (("momentum", 0.001), ("adam", 0.001)):
            cases.append((f"fixed, {opt} (lr {lr:g})", dict(fixed, lr=lr, optimizer=opt)))
        for hidden in (1, 3, 8):
            cases.append((f"fixed, H = {hidden}", dict(fixed, hidden=hidden)))
    return cases


def bench(
    runs: int = 20000,
    steps: int = 1000,
    jobs: list[int] | None = None,
    repeat: int = 3,
    sweep: bool = True,
    *,
    all_cases: bool = False,
    lanes: int | None = None,
    math: bool = False,
    end_to_end: int | None = None,
    map_side: int | None = None,
) -> dict:
    """Run the benchmark; returns one JSON-ready dict: machine, settings, ``cases`` (one
    entry per case and thread count), ``sweep`` and, with ``math``, ``math`` (ns per call and
    max ulp error of each math function)."""
    jobs = jobs or sorted({1, numba.config.NUMBA_NUM_THREADS})
    lanes = kernels.LANES if lanes is None else int(lanes)
    result = {
        "bpsweep_bench": 1,
        "machine": {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
            "python": platform.python_version(),
            "numba": numba.__version__,
            "numpy": np.__version__,
        },
        "runs": runs,
        "steps": steps,
        "repeat": repeat,
        "lanes": lanes,
        "cases": [],
    }
    for name, kwargs in _cases(steps, all_cases):
        network = {k: kwargs.pop(k) for k in ("hidden", "activation", "optimizer") if k in kwargs}
        for threads in jobs:
            t = time_batch(runs, steps, threads, repeat=repeat, lanes=lanes, **kwargs, **network)
            result["cases"].append(
                {
                    "case": name,
                    "hidden": network.get("hidden", HIDDEN),
                    "activation": network.get("activation", "softplus"),
                    "optimizer": network.get("optimizer", "gd"),
                    "threads": threads,
                    "runs": runs,
                    "seconds": t.seconds,
                    "seconds_worst": t.worst,
                    "run_steps": t.run_steps,
                    "mean_steps": t.mean_steps,
                    "run_steps_per_s": t.rate,
                    "run_steps_per_s_worst": t.run_steps / t.worst,
                    "ns_per_step": 1e9 * threads / t.rate,
                    "statuses": dict(
                        zip(("converged", "max_steps", "diverged"), t.statuses.tolist())
                    ),
                    "all_max_steps": bool(t.statuses[MAX_STEPS] == runs),
                }
            )
    if sweep:
        seconds, what = time_sweep()
        result["sweep"] = {"name": what, "seconds": seconds}
    if end_to_end:
        result["end_to_end"] = time_end_to_end(end_to_end, repeat)
    if map_side:
        result["map"] = time_map(map_side, repeat)
    if math:
        from .engine import _mathcheck

        result["math"] = _mathcheck.measure()
    return result


def format_table(result: dict) -> str:
    """The text table of :func:`bench`'s dict."""
    machine = result.get("machine") or {}
    lines = [
        f"bpsweep bench: dosage data, {result['runs']} runs, normal starts "
        f"(seeds 0..{result['runs'] - 1}), {result['lanes']} lanes per thread",
        f"{'case':<40} {'threads':>7} {'wall s':>8} {'mean steps':>10} "
        f"{'run-steps/s':>12} {'(worst)':>10} {'ns/step':>8}",
    ]
    for c in result["cases"]:
        lines.append(
            f"{c['case']:<40} {c['threads']:>7} {c['seconds']:>8.3f} {c['mean_steps']:>10.1f} "
            f"{c['run_steps_per_s']:>12.3e} {c['run_steps_per_s_worst']:>10.2e} "
            f"{c['ns_per_step']:>8.1f}"
        )
    sweep = result.get("sweep")
    if sweep is not None:
        if sweep["seconds"] is None:
            lines.append(f"sweep: skipped ({sweep['name']})")
        else:
            lines.append(
                f"sweep {sweep['name']} end to end (compiled, fresh): {sweep['seconds']:.3f} s"
            )
    e2e = result.get("end_to_end")
    if e2e is not None:
        lines.append(
            f"bpsweep run end to end, {e2e['runs']:,} runs of the main job's mix: "
            f"{e2e['run_seconds']:.2f} s [worst {e2e['run_seconds_worst']:.2f}] from process "
            f"start, kernel alone {e2e['kernel_seconds']:.2f} s "
            f"[{e2e['kernel_seconds_worst']:.2f}]: {e2e['ratio']:.2f}x"
        )
        if "parquet_seconds" in e2e:
            lines.append(
                f"  --format parquet: {e2e['parquet_seconds']:.2f} s "
                f"[{e2e['parquet_seconds_worst']:.2f}]: {e2e['parquet_ratio']:.2f}x the kernel"
            )
    mp = result.get("map")
    if mp is not None:
        side = mp["side"]
        lines += [
            f"bpsweep map of the lr map at {side} x {side} ({mp['tiles']} tiles): "
            f"{mp['map_seconds']:.2f} s [worst {mp['map_seconds_worst']:.2f}] from process "
            f"start, kernel alone {mp['kernel_seconds']:.2f} s "
            f"[{mp['kernel_seconds_worst']:.2f}]: {mp['ratio']:.2f}x; first tile stored after "
            f"{mp['full_first_tile_seconds']:.2f} s",
            f"  results {mp['full_bytes_per_pixel']:.1f} bytes a pixel, lean "
            f"{mp['lean_bytes_per_pixel']:.1f}; peak memory {mp['full_peak_bytes'] / 1e9:.2f} GB, "
            f"lean {mp['lean_peak_bytes'] / 1e9:.2f} GB; the same map again "
            f"{mp['again_seconds']:.2f} s ({100 * mp['again_ratio']:.1f}% of the first)",
        ]
    for name, m in (result.get("math") or {}).items():
        lines.append(
            f"math {name:<9} {m['ns_per_call']:6.2f} ns/call (libm {m['libm_ns_per_call']:.2f})"
            f"  max error {m['max_ulp']} ulp"
        )
    lines.append(
        "ns/step: wall time per run-step per thread (1e9 * threads / rate); "
        "(worst): the slowest repeat."
    )
    if machine:
        lines.append(
            f"machine: {machine.get('cpu')}, {machine.get('cores')} cores, python "
            f"{machine.get('python')}, numba {machine.get('numba')}, numpy {machine.get('numpy')}"
        )
    return "\n".join(lines)
