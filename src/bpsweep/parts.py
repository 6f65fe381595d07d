"""Part files of a sweep in progress: one CSV part per finished chunk, and their manifest.

``<out>/<name>.parts/`` holds ``runs-<start>-<stop>.csv`` (runs ``[start, stop)``, header and
rows, each written to a temporary name then renamed, so a part is either whole or absent) and
``manifest.json`` with the fingerprint of the resolved config: a later run of the same config
computes only the run_ids no part covers (whatever chunk size either run used), and a changed
config is refused unless ``fresh``. When every run is covered the parts are concatenated in
run_id order into the results CSV and removed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from .atomic import atomic_file, read_json, write_text_atomic
from .config import SweepConfig
from .errors import SweepError

PART_RE = re.compile(r"^runs-(\d+)-(\d+)\.csv$")
MANIFEST = "manifest.json"


def header_line(columns: list[str]) -> bytes:
    """The CSV header line of a part and of the whole CSV."""
    return (",".join(columns) + "\n").encode("utf-8")


def write_part(parts_dir, start: int, stop: int, blocks) -> None:
    """Write a part file from its text pieces (bytes): to a temporary name, synced, then
    renamed, so a part is either whole or absent."""
    with atomic_file(Path(parts_dir) / part_name(start, stop)) as fh:
        for block in blocks:
            fh.write(block)


def part_name(start: int, stop: int) -> str:
    return f"runs-{start:012d}-{stop:012d}.csv"


def existing_parts(parts_dir: Path, n_runs: int) -> list[tuple[int, int, Path]]:
    """Finished parts as (start, stop, path), sorted; raises SweepError on overlaps."""
    parts = []
    if parts_dir.is_dir():
        for path in parts_dir.iterdir():
            m = PART_RE.match(path.name)
            if m:
                parts.append((int(m.group(1)), int(m.group(2)), path))
    parts.sort()
    end = 0
    for start, stop, path in parts:
        if start < end or stop <= start or stop > n_runs:
            raise SweepError(
                f"{parts_dir}: part {path.name} overlaps another part or lies "
                f"outside runs 0..{n_runs - 1}; run with --fresh to start over"
            )
        end = stop
    return parts


def missing_ranges(parts, n_runs: int) -> list[tuple[int, int]]:
    """The run_id ranges [a, b) that no part covers."""
    gaps, end = [], 0
    for start, stop, _ in parts:
        if start > end:
            gaps.append((end, start))
        end = stop
    if end < n_runs:
        gaps.append((end, n_runs))
    return gaps


def plan_chunks(gaps, chunk_size: int) -> list[tuple[int, int]]:
    """Split the gaps at multiples of chunk_size: chunk k is [k*K, (k+1)*K) within the gaps."""
    chunks = []
    for a, b in gaps:
        s = a
        while s < b:
            e = min((s // chunk_size + 1) * chunk_size, b)
            chunks.append((s, e))
            s = e
    return chunks


def open_parts(parts_dir: Path, config: SweepConfig, fingerprint: str, n: int) -> None:
    manifest = parts_dir / MANIFEST
    if parts_dir.exists():
        if not manifest.is_file():
            if any(PART_RE.match(p.name) for p in parts_dir.iterdir()):
                raise SweepError(
                    f"{parts_dir} holds parts without a {MANIFEST}; run with "
                    f"--fresh to discard them"
                )
        else:
            previous = read_json(manifest)
            if previous.get("fingerprint") != fingerprint:
                raise SweepError(
                    f"{parts_dir} holds parts of a different config "
                    f"({describe_change(previous, config)}); "
                    f"run with --fresh to discard them, or give the sweep another name"
                )
            for p in parts_dir.glob(".tmp-*"):
                p.unlink()
            return
    parts_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(
        manifest,
        json.dumps({"fingerprint": fingerprint, "runs": n, "config": config.resolved()}, indent=2)
        + "\n",
    )


def describe_change(previous: dict, config: SweepConfig) -> str:
    """Which settings changed between a stored resolved config and this one, in words."""
    old = _flatten(previous.get("config", {}))
    new = _flatten(config.resolved())
    changed = [
        k
        for k in sorted(set(old) | set(new))
        if k not in ("name", "description") and old.get(k) != new.get(k)
    ]
    if not changed:
        return "same settings, different data file or results format"
    shown = [f"{k}: {old.get(k, '-')!r} -> {new.get(k, '-')!r}" for k in changed[:3]]
    more = f", and {len(changed) - 3} more" if len(changed) > 3 else ""
    return "changed " + "; ".join(shown) + more


def _flatten(d: dict, prefix: str = "") -> dict:
    flat = {}
    for k, v in d.items():
        if isinstance(v, dict) and k in ("data", "model", "init", "train", "sweep"):
            flat.update(_flatten(v, f"{k}."))
        else:
            flat[prefix + k] = json.loads(json.dumps(v, default=str))
    return flat


def remove_parts(parts_dir: Path) -> None:
    if not parts_dir.is_dir():
        return
    for p in parts_dir.iterdir():
        if p.name == MANIFEST or PART_RE.match(p.name) or p.name.startswith(".tmp-"):
            p.unlink()
    try:
        parts_dir.rmdir()
    except OSError:
        pass  # someone else's files in there: leave the folder


def assemble(parts_dir: Path, n: int, csv_path: Path, columns: list[str]) -> None:
    """Concatenate the parts in run_id order into csv_path (streamed as bytes, which the parts
    hold in UTF-8; tmp then rename)."""
    parts = existing_parts(parts_dir, n)
    gaps = missing_ranges(parts, n)
    if gaps:
        raise SweepError(f"{parts_dir}: runs {gaps[0][0]}..{gaps[0][1] - 1} have no part")
    header = header_line(columns)
    with atomic_file(csv_path) as out:
        out.write(header)
        for _, _, path in parts:
            with open(path, "rb") as part:
                if part.readline() != header:
                    raise SweepError(f"{path}: unexpected header; run with --fresh")
                _copy_rest(part, out)


def _copy_rest(part, out) -> None:
    """Append what is left to read of the binary file ``part`` to the binary file ``out``.

    With ``os.copy_file_range`` (Linux) the kernel copies it and the bytes never pass through
    Python (about 4x faster than a buffer for a 1M-run CSV); where that is missing or fails
    (another OS, a file system that does not support it), through a buffer, from where it
    stopped."""
    out.flush()  # the header is still in out's buffer
    src, dst = part.fileno(), out.fileno()
    offset, size = part.tell(), os.fstat(src).st_size
    try:
        while offset < size:
            copied = os.copy_file_range(src, dst, size - offset, offset_src=offset)
            if copied == 0:
                raise OSError("copy_file_range copied nothing")
            offset += copied
    except (AttributeError, OSError):
        part.seek(offset)
        shutil.copyfileobj(part, out, 1 << 20)
