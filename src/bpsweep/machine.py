"""The machine work runs on: usable cores, memory and disk available, CPU model, package versions
(for provenance).

The engine (a single run's trace) and the sweeps (their summary, parts and results) ask here
whether what they need fits, before they allocate or write it."""

from __future__ import annotations

import os
import platform
import shutil
from pathlib import Path

from ._version import __version__


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict:
    import joblib
    import numba
    import numpy as np
    import pandas as pd

    return {
        "bpsweep": __version__,
        "numba": numba.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "joblib": joblib.__version__,
        "python": platform.python_version(),
    }


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


#: Share of the available memory one job (a sweep's summary, a trace, a map's drawing) may take.
MEMORY_SHARE = 0.5


def available_memory() -> int | None:
    """Bytes of memory available to new work (MemAvailable), or None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def free_disk(path: Path) -> int | None:
    """Free bytes on the file system that would hold ``path`` (its nearest existing parent)."""
    path = Path(path).absolute()
    for place in (path, *path.parents):
        if place.exists():
            try:
                return shutil.disk_usage(place).free
            except OSError:
                return None
    return None


def memory_short(need: float) -> int | None:
    """The available memory (bytes) when ``need`` bytes exceed the share of it one job may
    take (:data:`MEMORY_SHARE`), else None (it fits, or the available memory is unknown)."""
    memory = available_memory()
    return memory if memory is not None and need > MEMORY_SHARE * memory else None
