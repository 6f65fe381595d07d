"""How a sweep (or a map) is run, as one object: where it writes, in which format, on how many
workers, where, and how much it says.

:class:`RunOptions` travels whole from the command line (or :func:`bpsweep.run_sweep`'s
keywords) to :func:`bpsweep.sweeps.runner.plan`, which decides everything else from it once. Every
field
is checked when the object is made, so a bad value is refused before any config is read or
anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import UsageError

#: Formats of the results file: CSV (floats as repr) or Parquet (float64 as they are).
FORMATS = ("csv", "parquet")
#: joblib backends a sweep may use for its worker processes.
BACKENDS = ("loky", "dask")
#: Where runs are trained: numba's CPU kernels, or numba-cuda's GPU kernel (docs/gpu.md).
DEVICES = ("cpu", "cuda")


def check_count(name: str, value, minimum: int = 1) -> int | None:
    """``value`` as an int if it is a whole number >= ``minimum`` (None stays None), else a
    UsageError naming ``name``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise UsageError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class RunOptions:
    """How to run a sweep; every field has the command line's default.

    jobs: worker processes (None: every core as workers for 500,000 runs or more, else this
    process with numba's threads on every core). chunk_size: runs per chunk (None: see
    :func:`bpsweep.sweeps.dispatch.default_chunk_size`). out: the folder of ``<name>.csv`` (or
    ``.parquet``), ``<name>.json`` and ``<name>.parts/``. results_format: "csv" or "parquet".
    fresh: discard earlier parts or results of this name. quiet: no progress bar or notices.
    backend: "loky" (worker processes on this machine) or "dask" (a dask.distributed
    cluster: the one at ``scheduler``, else a local one started for the sweep). device: "cpu",
    or "cuda" to train on the GPU in this process. yes: run work estimated to take over an
    hour (:mod:`bpsweep.sweeps.estimate`), which is otherwise refused with the estimate.
    """

    jobs: int | None = None
    chunk_size: int | None = None
    out: Path = field(default=Path("results"))
    results_format: str = "csv"
    fresh: bool = False
    quiet: bool = True
    backend: str = "loky"
    scheduler: str | None = None
    device: str = "cpu"
    yes: bool = False  #: run work estimated above LONG_WORK_SECONDS (an hour) without asking

    def __post_init__(self):
        set_ = object.__setattr__  # frozen: normalise the values once, here
        set_(self, "jobs", check_count("jobs", self.jobs))
        set_(self, "chunk_size", check_count("chunk_size", self.chunk_size))
        set_(self, "out", Path("results" if self.out is None else self.out))
        for name, value, allowed in (
            ("results format", self.results_format, FORMATS),
            ("backend", self.backend, BACKENDS),
            ("device", self.device, DEVICES),
        ):
            if value not in allowed:
                raise UsageError(f"unknown {name} {value!r}; expected one of {', '.join(allowed)}")
        if self.scheduler is not None and self.backend != "dask":
            raise UsageError("a scheduler address needs backend 'dask' (--backend dask)")

    def but(self, **changes) -> RunOptions:
        """A copy with some fields changed (checked again)."""
        return replace(self, **changes)


__all__ = ["BACKENDS", "DEVICES", "FORMATS", "RunOptions", "check_count"]
