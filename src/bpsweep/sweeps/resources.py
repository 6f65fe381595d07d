"""What a sweep needs, estimated before it starts: memory for its summary, disk for its rows.

Runs are expanded and trained chunk by chunk, so the run count itself needs no cap; but the
sweep keeps 9 bytes per run in memory (steps and status, for the summary), and its results
need disk twice over for a moment (the parts, and the CSV assembled from them). A sweep that
cannot fit is refused up front with the estimate and what to do, instead of dying hours in.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import SweepError
from ..machine import MEMORY_SHARE, free_disk, memory_short
from ..wording import size_text
from .config import SweepConfig
from .expand import column_kind, result_columns

#: Bytes per run held in memory for the summary (int64 steps and int8 status).
SUMMARY_BYTES = 9
#: Typical CSV widths of a cell, by kind (a float's repr: up to 24 characters, mostly 18-20).
_WIDTH = {"float": 19, "int": 8}


def row_bytes(config: SweepConfig) -> int:
    """Estimated bytes of one CSV row of this sweep (with its comma or newline)."""
    total = 0
    for col in result_columns(config):
        kind = column_kind(col)
        values = _setting_values(config, col)
        if values is not None:
            total += max(len(repr(v)) if isinstance(v, float) else len(str(v)) for v in values)
        elif col == "status":
            total += len("converged")
        else:
            total += _WIDTH[kind]
        total += 1  # the comma or newline
    return total


def _setting_values(config: SweepConfig, col: str):
    """The values a setting column takes, when few (None for outcome columns, draws, ranges)."""
    axis = next((a for a in config.axes if a.name == col), None)
    if axis is None and col not in config.fixed:
        return None
    if axis is not None and (axis.kind != "values" or len(axis.values) > 1000):
        return None
    values = config.values_of(col)
    return None if any(v is None for v in values) else values


def check_fits(config: SweepConfig, out_dir, parts_dir=None) -> None:
    """Refuse (SweepError) a sweep whose summary cannot fit memory or whose results cannot fit
    the disk under ``out_dir``; the parts already in ``parts_dir`` count as written."""
    n = config.n_runs
    need = SUMMARY_BYTES * n
    memory = memory_short(need)
    if memory is not None:
        raise SweepError(
            f"{config.name}: {n:,} runs need about {size_text(need)} of memory for the summary "
            f"({SUMMARY_BYTES} bytes a run) and {size_text(memory)} is available; split the sweep "
            f"into several configs (e.g. seed ranges) of at most "
            f"{int(MEMORY_SHARE * memory / SUMMARY_BYTES):,} runs"
        )
    per_row = row_bytes(config)
    written = 0
    if parts_dir is not None and Path(parts_dir).is_dir():
        written = sum(p.stat().st_size for p in Path(parts_dir).glob("runs-*"))
    disk_need = max(per_row * 2 * n - written, 0)  # the parts, and the CSV made from them
    free = free_disk(Path(out_dir))
    if free is not None and disk_need > free:
        raise SweepError(
            f"{config.name}: {n:,} runs need about {size_text(disk_need)} on disk under {out_dir} "
            f"(about {per_row} bytes a run, for the parts and the CSV assembled from them) and "
            f"{size_text(free)} is free; free some space, choose another --out, or run fewer runs"
        )
