"""GPU kernels (numba-cuda): one run per GPU thread, the math of :mod:`bpsweep.engine.kernels`.

The device functions here mirror the CPU kernels operation for operation (float64 throughout,
same formulas, same order, same stopping and divergence rules, the same per-layer rates);
``activate`` *is* the CPU kernel's Python source compiled for the GPU, and it calls the same
math functions (:mod:`bpsweep.engine._math`: our own exp, log1p, expm1 as branch-free polynomials,
not libm's or libdevice's); so does the learning-rate schedule's factor
(``kernels.schedule_factor``, its cosine our own polynomial too). Under numba's CUDA
simulator (``NUMBA_ENABLE_CUDASIM=1``) the kernel runs as Python calling those very
functions, so it agrees with the CPU kernels bit for bit. On a real GPU, NVVM fuses a*b + c
into FMAs (and adam's and the step schedule's pow is libdevice's), so exact agreement is owed
only on well-conditioned runs (see docs/gpu.md).

numba.cuda is imported lazily: ``import bpsweep`` works without numba-cuda installed.

Public API:

- :func:`train_batch_cuda` -- same arguments as :func:`bpsweep.engine.kernels.train_batch`
  (x, y, hidden, a :class:`~bpsweep.engine.kernels.Runs`, an
  :class:`~bpsweep.engine.kernels.Outcomes`);
- :func:`train_runs_cuda` -- same as :func:`bpsweep.engine.batch.train_runs`, on the GPU;
- :func:`cuda_available`, :func:`require_cuda`, :func:`simulator_enabled`;
- :func:`bench_cuda` -- run-steps per second on a real GPU.

Speed design (one thread per run):

- the kernel is specialised per (hidden size H, activation, optimizer, learning-rate schedule):
  H and P = 3H + 1 are
  compile-time constants, so every loop over nodes/parameters unrolls and the per-run state
  (parameters, slopes, optimizer state, activations of one data point) lives in registers,
  not in local memory, and the activation/optimizer/schedule switches fold away (a constant
  schedule costs nothing). The host launches one kernel per (activation, optimizer,
  schedule) group of runs, so no warp mixes branches. Checked
  offline with ptxas for sm_90: H=2 softplus gd uses 85 registers, adam 126, no spills;
  H <= 8 needs no local memory for gd; H=16 uses a local-memory stack (slower, but correct);
- per-run inputs are laid out for coalesced loads: parameters transposed to (P, R), the
  optimizer's hyper-parameters to (3, R), the trainable mask packed into one int64 per run;
- early stopping: a warp runs until its slowest run stops, so runs that stop early idle.
  To keep warps more uniform the host sorts the runs of each group by (max_steps, lr) before
  the launch (outputs are written back in the caller's order). Runs with the same lr but
  different starts still stop at different steps; that idle time is the price of one thread
  per run (no cross-run work stealing).
"""

from __future__ import annotations

import functools
import importlib.util
import math
import time

import numpy as np

from ..errors import DeviceError, UsageError
from ..model import (
    ACTIVATIONS,
    ADAM,
    CONSTANT,
    CONVERGED,
    DIVERGED,
    DIVERGENCE_FACTOR,
    GD,
    MAX_STEPS,
    MOMENTUM,
    OPTIMIZERS,
    n_params,
)
from . import kernels

#: Largest hidden size the GPU kernel supports: its per-thread arrays need compile-time sizes,
#: and from about H = 8 on the per-run state spills out of registers into local memory.
MAX_HIDDEN = 16
#: Threads per block on a real GPU, and under the simulator (which starts one Python thread
#: per simulated GPU thread, so blocks are kept small there).
THREADS_PER_BLOCK = 128
SIMULATOR_THREADS_PER_BLOCK = 32
#: Runs per launch under the simulator (no GPU memory to query there).
SIMULATOR_CHUNK = 256
#: Share of the free GPU memory one launch's arrays may take.
MEMORY_FRACTION = 0.5

INSTALL_HINT = "numba-cuda is not installed; install with pip install bpsweep[cuda]"
NO_GPU_HINT = (
    "no CUDA GPU found; run without --device cuda, or set NUMBA_ENABLE_CUDASIM=1 "
    "to use the simulator for small tests"
)


#: ``numba.cuda`` once imported by :func:`_import_cuda`. The device code refers to it as a module
#: global because the simulator swaps that global (not a closure variable) for its fake module.
cuda = None


class CudaUnavailableError(DeviceError):
    """numba-cuda or a GPU is missing."""


# ---------------------------------------------------------------- lazy import and checks


def _numba_cuda_installed() -> bool:
    return importlib.util.find_spec("numba_cuda") is not None


def _import_cuda():
    """``numba.cuda``, imported on first use. Raises CudaUnavailableError if numba-cuda is
    missing or does not import."""
    if not _numba_cuda_installed():
        # numba still ships a deprecated built-in numba.cuda; we only use numba-cuda's.
        raise CudaUnavailableError(INSTALL_HINT)
    if not hasattr(np, "row_stack"):
        # numpy 2.5 removed np.row_stack (an alias of vstack); numba-cuda 0.30.4 still registers
        # an overload for it when it compiles its first kernel, which would fail with
        # AttributeError. Restore the alias so that combination works too.
        np.row_stack = np.vstack  # noqa: NPY201 - restoring the removed alias is the point
    global cuda
    try:
        from numba import cuda as numba_cuda
    except ImportError as exc:
        raise CudaUnavailableError(
            f"numba-cuda does not import ({exc}); reinstall with pip install bpsweep[cuda]"
        ) from exc
    cuda = numba_cuda
    return numba_cuda


def simulator_enabled() -> bool:
    """True when the imported numba.cuda is the CUDA simulator (numba-cuda reads
    NUMBA_ENABLE_CUDASIM=1 once, when numba.cuda is first imported)."""
    return _import_cuda().to_device.__module__.startswith("numba.cuda.simulator")


def cuda_available() -> bool:
    """True if numba-cuda imports and sees a GPU (or the simulator is on); never raises."""
    try:
        return bool(_import_cuda().is_available())
    except CudaUnavailableError:
        return False


def require_cuda():
    """Return ``numba.cuda`` or raise CudaUnavailableError saying what to do."""
    cuda = _import_cuda()
    if not cuda.is_available():
        raise CudaUnavailableError(NO_GPU_HINT)
    return cuda


def check_hidden_cuda(hidden) -> int:
    """Validate H for the GPU kernel: a whole number from 1 to MAX_HIDDEN."""
    if isinstance(hidden, bool) or not isinstance(hidden, (int, np.integer)) or hidden < 1:
        raise UsageError(f"hidden must be a whole number >= 1, got {hidden!r}")
    if hidden > MAX_HIDDEN:
        raise UsageError(
            f"the GPU kernel supports hidden up to {MAX_HIDDEN} (its per-thread "
            f"arrays have compile-time sizes), got hidden={hidden}; "
            "train this sweep on the CPU (without --device cuda)"
        )
    return int(hidden)


# ---------------------------------------------------------------- device code


@functools.cache
def _activate():
    """The CPU kernel's own ``activate`` source, compiled as a device function: the very same
    float operations."""
    _import_cuda()
    return cuda.jit(device=True)(kernels.activate.py_func)


@functools.cache
def _schedule_factor():
    """The CPU kernels' own ``schedule_factor`` source, compiled as a device function."""
    _import_cuda()
    return cuda.jit(device=True)(kernels.schedule_factor.py_func)


@functools.cache
def _kernel(hidden: int, act: int, opt: int, schedule: int = CONSTANT):
    """The training kernel specialised for ``hidden`` nodes, activation code ``act``,
    optimizer code ``opt`` and schedule code ``schedule`` (compiled on first launch; the
    switches fold away)."""
    activate = _activate()
    schedule_factor = _schedule_factor()
    H = hidden
    P = n_params(hidden)
    ACT = act
    OPT = opt
    SCHED = schedule

    @cuda.jit(device=True)
    def ssr_and_slopes(x, y, p, act, act_out, act_slope, slopes):
        """Mirror of kernels.ssr_and_slopes: the SSR at p; dSSR/dp into slopes (P,)."""
        for j in range(P):
            slopes[j] = 0.0
        ssr = 0.0
        slope_b_out = 0.0
        for i in range(x.shape[0]):
            xi = x[i]
            pred = 0.0
            for h in range(H):
                a, da = activate(p[2 * h] * xi + p[2 * h + 1], act)
                act_out[h] = a
                act_slope[h] = da
                pred += p[2 * H + h] * a
            pred += p[3 * H]
            residual = y[i] - pred
            ssr += residual * residual
            d_pred = -2.0 * residual
            for h in range(H):
                w_out = p[2 * H + h]
                slopes[2 * H + h] += d_pred * act_out[h]
                d_z = d_pred * w_out * act_slope[h]
                slopes[2 * h] += d_z * xi
                slopes[2 * h + 1] += d_z
            slope_b_out += d_pred
        slopes[3 * H] = slope_b_out
        return ssr

    @cuda.jit(device=True)
    def update(p, slopes, mask, opt, h0, h1, h2, lr_hidden, lr_output, t, m, v, tol):
        """Mirror of kernels.update (hyper = h0, h1, h2; trainable = bits of ``mask``; the
        hidden layer's rate for p[0 .. 2H-1], the output layer's for the rest), fused with
        train_one's checks. Returns (every trainable |step| < tol, every p finite)."""
        c1 = 1.0
        c2 = 1.0
        if opt == ADAM:
            c1 = 1.0 - h0 ** float(t)  # float exponent: pow, as in kernels.update
            c2 = 1.0 - h1 ** float(t)
        small = True
        finite = True
        for j in range(P):
            if (mask >> j) & 1:
                lr = lr_hidden if j < 2 * H else lr_output
                g = slopes[j]
                if opt == GD:
                    step = lr * g
                elif opt == MOMENTUM:
                    step = h0 * m[j] + lr * g
                    m[j] = step
                else:  # ADAM
                    m[j] = h0 * m[j] + (1.0 - h0) * g
                    v[j] = h1 * v[j] + (1.0 - h1) * g * g
                    step = lr * (m[j] / c1) / (math.sqrt(v[j] / c2) + h2)
                p[j] = p[j] - step
                if not abs(step) < tol:
                    small = False
            if not math.isfinite(p[j]):
                finite = False
        return small, finite

    @cuda.jit
    def train_kernel(
        x,
        y,
        hyper,
        lr,
        lr_out,
        sched,
        tol,
        max_steps,
        mask,
        init,
        final,
        status,
        steps,
        initial_ssr,
        final_ssr,
    ):
        """One thread trains run r = grid index, as kernels.train_one does.

        x, y (n,); max_steps, mask (R,) int64; hyper (3, R); lr (hidden layer), lr_out
        (output layer), tol (R,); sched (2, R) the schedule's parameters;
        init and final (P, R) (transposed, for coalesced loads); outputs status, steps (R,)
        int64, initial_ssr, final_ssr (R,).
        """
        r = cuda.grid(1)
        if r >= lr.shape[0]:
            return
        p = cuda.local.array(P, np.float64)
        slopes = cuda.local.array(P, np.float64)
        m = cuda.local.array(P, np.float64)
        v = cuda.local.array(P, np.float64)
        act_out = cuda.local.array(H, np.float64)
        act_slope = cuda.local.array(H, np.float64)
        for j in range(P):
            p[j] = init[j, r]
            m[j] = 0.0
            v[j] = 0.0
        a = ACT
        o = OPT
        h0 = hyper[0, r]
        h1 = hyper[1, r]
        h2 = hyper[2, r]
        rate = lr[r]
        rate_out = lr_out[r]
        s0 = sched[0, r]
        s1 = sched[1, r]
        tolerance = tol[r]
        limit_steps = max_steps[r]
        bits = mask[r]

        ssr = ssr_and_slopes(x, y, p, a, act_out, act_slope, slopes)
        ssr0 = ssr
        limit = DIVERGENCE_FACTOR * ssr0
        k = 0
        code = MAX_STEPS
        while True:
            k += 1
            rate_k = rate
            rate_out_k = rate_out
            if SCHED != CONSTANT:  # as kernels.train_one: the rates times the factor at k - 1
                f = schedule_factor(SCHED, float(k - 1), s0, s1)
                rate_k = rate * f
                rate_out_k = rate_out * f
            small, finite_p = update(
                p, slopes, bits, o, h0, h1, h2, rate_k, rate_out_k, k, m, v, tolerance
            )
            ssr = ssr_and_slopes(x, y, p, a, act_out, act_slope, slopes)
            if not (finite_p and math.isfinite(ssr) and ssr <= limit):
                code = DIVERGED
                break
            if small:
                code = CONVERGED
                break
            if k >= limit_steps:
                code = MAX_STEPS
                break
        for j in range(P):
            final[j, r] = p[j]
        status[r] = code
        steps[r] = k
        initial_ssr[r] = ssr0
        final_ssr[r] = ssr

    return train_kernel


# ---------------------------------------------------------------- host side


def _trainable_bits(trainable: np.ndarray) -> np.ndarray:
    """(R, P) bool -> (R,) int64 with bit j set where parameter j is trainable (P <= 63)."""
    shifts = np.arange(trainable.shape[1], dtype=np.int64)
    return (trainable.astype(np.int64) << shifts).sum(axis=1, dtype=np.int64)


def _launch_groups(act, opt, lr, max_steps, sort_runs: bool, schedule=None):
    """Launch order and its groups: a list of (act code, opt code, schedule code, run
    indices).

    Each group shares one activation, optimizer and schedule (one specialised kernel;
    ``schedule`` None: every run's is constant). With ``sort_runs``, runs inside a group are
    ordered by max_steps then lr, so that the runs of one warp tend to stop after similar step
    counts; otherwise they keep the caller's order.
    """
    if schedule is None:
        schedule = np.full(act.shape[0], CONSTANT, dtype=np.int64)
    keys = (lr, max_steps, act, opt, schedule) if sort_runs else (act, opt, schedule)
    order = np.lexsort(keys)  # stable: ties keep the caller's order
    a, o, s = act[order], opt[order], schedule[order]
    cuts = np.flatnonzero((a[1:] != a[:-1]) | (o[1:] != o[:-1]) | (s[1:] != s[:-1])) + 1
    return [
        (int(a[g[0]]), int(o[g[0]]), int(s[g[0]]), order[g])
        for g in np.split(np.arange(order.shape[0]), cuts)
    ]


def _chunk_runs(cuda, n_p: int, n_runs: int) -> int:
    """Runs per launch: all of them if their arrays fit in MEMORY_FRACTION of free GPU memory."""
    if simulator_enabled():
        return SIMULATOR_CHUNK
    free, _total = cuda.current_context().get_memory_info()
    bytes_per_run = 8 * (2 * n_p + 3 + 2 + 8)  # init, final, hyper, sched, 8 per-run scalars
    return max(1, min(n_runs, int(free * MEMORY_FRACTION) // bytes_per_run))


def train_batch_cuda(
    x, y, hidden, runs, out, *, chunk_runs=None, sort_runs=True, timings=None, lanes=None
):
    """Train many runs on one data set and hidden size on the GPU, one run per thread.

    Same arguments as :func:`bpsweep.engine.kernels.train_batch`: x, y (n,); ``runs``, a
    :class:`~bpsweep.engine.kernels.Runs` of R runs of P = 3H + 1 parameters (from
    :func:`~bpsweep.engine.kernels.make_runs`); ``out``, an
    :class:`~bpsweep.engine.kernels.Outcomes`
    filled in place, in the runs' order.

    ``chunk_runs``: runs per launch (default: as many as fit in half the free GPU memory; a
    fixed SIMULATOR_CHUNK under the simulator). ``sort_runs``: launch runs grouped by
    schedule, optimizer, activation, max_steps and lr (see the module doc; outputs are
    unaffected).
    ``timings``: a dict to which the seconds spent in kernels are added (key "kernel_s").
    ``lanes``: accepted for the CPU kernel's signature and ignored (one run per GPU thread).
    """
    hidden = check_hidden_cuda(hidden)
    n_runs, n_p = kernels.check_batch(runs, out, hidden)
    cuda = require_cuda()
    if n_runs == 0:
        return
    bits = _trainable_bits(runs.trainable)
    tpb = SIMULATOR_THREADS_PER_BLOCK if simulator_enabled() else THREADS_PER_BLOCK
    chunk = int(chunk_runs) if chunk_runs else _chunk_runs(cuda, n_p, n_runs)
    d_x = cuda.to_device(np.ascontiguousarray(x, dtype=np.float64))
    d_y = cuda.to_device(np.ascontiguousarray(y, dtype=np.float64))
    groups = _launch_groups(
        runs.act, runs.opt, runs.lr_hidden, runs.max_steps, sort_runs, runs.schedule
    )
    for act_code, opt_code, schedule_code, group in groups:
        kernel = _kernel(hidden, act_code, opt_code, schedule_code)
        for start in range(0, group.shape[0], chunk):
            idx = group[start : start + chunk]
            n = idx.shape[0]
            d_args = [
                cuda.to_device(np.ascontiguousarray(a))
                for a in (
                    runs.hyper[idx].T,
                    runs.lr_hidden[idx],
                    runs.lr_output[idx],
                    runs.sched_params[idx].T,
                    runs.tol[idx],
                    runs.max_steps[idx],
                    bits[idx],
                    runs.init[idx].T,
                )
            ]
            d_final = cuda.device_array((n_p, n), dtype=np.float64)
            d_status = cuda.device_array(n, dtype=np.int64)
            d_steps = cuda.device_array(n, dtype=np.int64)
            d_ssr0 = cuda.device_array(n, dtype=np.float64)
            d_ssr = cuda.device_array(n, dtype=np.float64)
            blocks = (n + tpb - 1) // tpb
            cuda.synchronize()
            t0 = time.perf_counter()
            kernel[blocks, tpb](d_x, d_y, *d_args, d_final, d_status, d_steps, d_ssr0, d_ssr)
            cuda.synchronize()
            if timings is not None:
                timings["kernel_s"] = timings.get("kernel_s", 0.0) + time.perf_counter() - t0
            out.final[idx] = d_final.copy_to_host().T
            out.status[idx] = d_status.copy_to_host()
            out.steps[idx] = d_steps.copy_to_host()
            out.initial_ssr[idx] = d_ssr0.copy_to_host()
            out.final_ssr[idx] = d_ssr.copy_to_host()


def train_runs_cuda(runs, data_dir=None, data_cache=None):
    """:func:`bpsweep.engine.batch.train_runs` on the GPU: a DataFrame of runs in, outcomes out.

    Raises CudaUnavailableError (a ValueError) before any work when there is no GPU, and
    ValueError for a hidden size above MAX_HIDDEN.
    """
    from .batch import train_runs

    require_cuda()
    return train_runs(runs, data_dir=data_dir, data_cache=data_cache, kernel=train_batch_cuda)


# ---------------------------------------------------------------- benchmark


def bench_cuda(
    sizes=(10**4, 10**5, 10**6, 10**7),
    steps=1000,
    hidden=2,
    activation="softplus",
    optimizer="gd",
    lr=0.01,
    allow_simulator=False,
):
    """Run-steps per second of the GPU kernel; needs a real GPU (refuses the simulator).

    For each size R, trains R runs on the dosage data from random normal starts
    (:func:`bpsweep.engine.starts.normal_starts`: seeds 0..R-1) for exactly ``steps`` steps (tol =
    0,
    so no run converges; a run that diverges stops early and its actual steps are counted).
    Returns a DataFrame, one row per size: runs, hidden, steps, run_steps (sum of steps
    taken), kernel_s (kernel time, synchronised), total_s (also host preparation and copies),
    kernel_run_steps_per_s, run_steps_per_s.
    ``allow_simulator``: for tests of this function only; simulator timings mean nothing.
    """
    import pandas as pd

    from .data import load_data
    from .starts import normal_starts
    from .trainer import optimizer_hyper

    require_cuda()
    if simulator_enabled() and not allow_simulator:
        raise CudaUnavailableError(
            "bench_cuda needs a real GPU: under the CUDA simulator (NUMBA_ENABLE_CUDASIM=1) "
            "kernels run as Python and timings mean nothing; unset it on a machine with an "
            "NVIDIA GPU"
        )
    hidden = check_hidden_cuda(hidden)
    x, y = load_data("dosage")

    def run(n_runs, timings):
        runs = kernels.make_runs(
            act=ACTIVATIONS[activation],
            opt=OPTIMIZERS[optimizer],
            hyper=optimizer_hyper(optimizer),  # the defaults
            lr_hidden=float(lr),
            lr_output=float(lr),
            tol=0.0,
            max_steps=int(steps),
            init=normal_starts(n_runs, hidden),
        )
        out = kernels.Outcomes.empty(n_runs, n_params(hidden))
        t0 = time.perf_counter()
        train_batch_cuda(x, y, hidden, runs, out, timings=timings)
        return time.perf_counter() - t0, int(out.steps.sum())

    run(256, {})  # compile
    rows = []
    for n_runs in sizes:
        timings = {}
        total_s, run_steps = run(int(n_runs), timings)
        kernel_s = timings["kernel_s"]
        rows.append(
            {
                "runs": int(n_runs),
                "hidden": hidden,
                "steps": int(steps),
                "run_steps": run_steps,
                "kernel_s": kernel_s,
                "total_s": total_s,
                "kernel_run_steps_per_s": run_steps / kernel_s,
                "run_steps_per_s": run_steps / total_s,
            }
        )
    return pd.DataFrame(rows)
