"""The parts of a sweep in progress and their manifest.

``<out>/<name>.parts/`` holds ``runs-<start>-<stop>.csv`` (runs ``[start, stop)``, header and
rows; ``.arrow``, an Arrow IPC file of the same columns, for Parquet results), each written to
a temporary name then renamed, so a part is either whole or absent, and
``manifest.json``: the fingerprint of the resolved config, and for every part its run range,
size and SHA-256. A part is recorded in the manifest (itself rewritten atomically) only after
the part is on disk, so the manifest never claims a part that is not there; a part file that
the manifest does not list (its run stopped between the two renames) counts as absent and is
computed again. On resume every listed part is read once, checked against its size and
checksum, and its steps and status taken from those same bytes; a part that does not match
(a changed digit, truncated, empty, garbage, no header, extra rows, another range) is named on
stderr, removed and recomputed. A later run of the same config computes only the run_ids no
good part covers (whatever chunk size either run used); a changed config is refused unless
``fresh``, but only while some part of it exists: a manifest without parts never blocks.

When every run is covered, :mod:`bpsweep.sweeps.assemble` makes the results file from the parts, and
the parts are removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..atomic import atomic_file, os_reason, output_error, read_json, write_text_atomic
from ..errors import OutputError, SweepError
from .config import SweepConfig

PART_RE = re.compile(r"^runs-(\d+)-(\d+)\.(csv|arrow)$")
#: results format -> the suffix of its parts
PART_SUFFIX = {"csv": "csv", "parquet": "arrow"}
MANIFEST = "manifest.json"
#: the hint of an OutputError while parts are being written
KEPT_HINT = "the finished parts are kept; {action} and run the same command again to resume"
#: seconds between two saves of the manifest while parts are recorded (see Manifest.record)
SAVE_EVERY = 1.0


def header_line(columns: list[str]) -> bytes:
    """The CSV header line of a part and of the whole CSV."""
    return (",".join(columns) + "\n").encode("utf-8")


def part_name(start: int, stop: int, results_format: str = "csv") -> str:
    return f"runs-{start:012d}-{stop:012d}.{PART_SUFFIX[results_format]}"


def arrow_part(table) -> bytes:
    """An Arrow table as the bytes of an Arrow IPC file (a part of a Parquet sweep)."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def read_arrow_part(data: bytes, columns=None):
    """The Arrow table in a part's bytes (an IPC file), only ``columns`` when given."""
    import pyarrow as pa

    table = pa.ipc.open_file(pa.py_buffer(data)).read_all()
    return table.select(columns) if columns is not None else table


def write_part(
    parts_dir, start: int, stop: int, blocks, results_format: str = "csv"
) -> tuple[int, str]:
    """Write a part file from its pieces (bytes): to a temporary name, synced, then renamed,
    so a part is either whole or absent. Returns its size and SHA-256 (hex), taken from the
    bytes written; an OSError becomes an OutputError naming the part."""
    digest, size = hashlib.sha256(), 0
    path = Path(parts_dir) / part_name(start, stop, results_format)
    with atomic_file(path, KEPT_HINT) as fh:
        for block in blocks:
            fh.write(block)
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def note(text: str) -> None:
    """One line on stderr about the parts (always shown: it explains recomputed work)."""
    print(f"bpsweep: {text}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# the manifest


@dataclass
class Manifest:
    """``manifest.json``: the config's fingerprint and the parts written so far."""

    path: Path
    fingerprint: str
    runs: int
    config: dict
    parts: dict = field(default_factory=dict)  #: file name -> {start, stop, size, sha256}
    _saved_at: float = 0.0
    _dirty: bool = False

    def record(
        self, start: int, stop: int, size: int, sha256: str, results_format: str = "csv"
    ) -> None:
        """List a part that is on disk, and save (atomically) unless the manifest was saved
        less than SAVE_EVERY seconds ago (then :meth:`flush` or a later record saves it): many
        tiny chunks cost a save a second, not a save each, and a kill loses at most that much
        finished work (parts on disk but not yet listed are computed again)."""
        self.parts[part_name(start, stop, results_format)] = {
            "start": start,
            "stop": stop,
            "size": size,
            "sha256": sha256,
        }
        self._dirty = True
        if time.monotonic() - self._saved_at >= SAVE_EVERY:
            self.save()

    def flush(self) -> None:
        """Save what :meth:`record` has not saved yet."""
        if self._dirty:
            self.save()

    def drop(self, name: str) -> None:
        self.parts.pop(name, None)

    def ranges(self) -> list[tuple[int, int, str]]:
        """The listed parts as (start, stop, name), in run_id order."""
        return sorted((e["start"], e["stop"], name) for name, e in self.parts.items())

    def save(self) -> None:
        body = {
            "fingerprint": self.fingerprint,
            "runs": self.runs,
            "config": self.config,
            "parts": dict(sorted(self.parts.items())),
        }
        write_text_atomic(self.path, json.dumps(body, indent=1) + "\n", KEPT_HINT)
        self._saved_at, self._dirty = time.monotonic(), False


def _part_files(parts_dir: Path) -> list[Path]:
    if not parts_dir.is_dir():
        return []
    return sorted(p for p in parts_dir.iterdir() if PART_RE.match(p.name))


def _valid_entry(name, entry, n: int) -> bool:
    try:
        start, stop = entry["start"], entry["stop"]
        return (
            isinstance(start, int)
            and isinstance(stop, int)
            and 0 <= start < stop <= n
            and name in (part_name(start, stop, f) for f in PART_SUFFIX)
            and isinstance(entry["size"], int)
            and isinstance(entry["sha256"], str)
        )
    except (TypeError, KeyError):
        return False


def open_parts(parts_dir: Path, config: SweepConfig, fingerprint: str, n: int) -> Manifest:
    """The manifest of this sweep's parts: the one on disk if it is of this config (its parts
    are checked later, by :func:`check_parts`), else a new one. Parts of another config are
    refused (SweepError: ``--fresh``); a manifest whose parts are all gone, or parts that no
    manifest lists, never block: they are dropped and their runs computed."""
    path = parts_dir / MANIFEST
    fresh = Manifest(path, fingerprint, n, config.resolved())
    if not parts_dir.exists():
        try:
            parts_dir.mkdir()
        except OSError as exc:
            raise output_error(parts_dir, exc, "check --out") from None
        fresh.save()
        return fresh
    if not parts_dir.is_dir():
        raise OutputError(
            f"cannot write {parts_dir}: a file is in the way (the parts of sweep "
            f"'{config.name}' go in a folder of that name); move it away"
        )
    files = _part_files(parts_dir)
    for p in parts_dir.glob(".tmp-*"):  # a write that stopped before its rename
        p.unlink(missing_ok=True)
    previous = None
    if path.exists():
        try:
            previous = read_json(
                path, "the parts beside it cannot be checked: run with --fresh to discard them"
            )
        except SweepError:
            if files:
                raise
            previous = None  # no part to lose: start over
        if previous is not None and not isinstance(previous.get("fingerprint"), str) and files:
            raise SweepError(
                f"{path} is not a bpsweep manifest (it records no config fingerprint), so the "
                f"parts beside it cannot be checked; run with --fresh to discard them"
            )
    if previous is not None and previous.get("fingerprint") == fingerprint:
        entries = previous.get("parts")
        manifest = Manifest(path, fingerprint, n, config.resolved())
        if isinstance(entries, dict):
            for name, entry in entries.items():
                if _valid_entry(name, entry, n):
                    manifest.parts[name] = entry
                else:
                    note(f"{path}: ignoring a malformed entry for part {name!r}")
        for p in files:
            if p.name not in manifest.parts:
                m = PART_RE.match(p.name)
                note(
                    f"part {p.name} is not listed in {MANIFEST} (its run stopped before "
                    f"recording it); recomputing runs {int(m.group(1))}..{int(m.group(2)) - 1}"
                )
                p.unlink()
        manifest.save()
        return manifest
    listed = set((previous or {}).get("parts") or {}) if isinstance(previous, dict) else set()
    if previous is not None and any(p.name in listed for p in files):
        raise SweepError(
            f"{parts_dir} holds parts of a different config "
            f"({describe_change(previous, config)}); "
            f"run with --fresh to discard them, or give the sweep another name"
        )
    # no part of any config to keep: unlisted leftovers are removed, and the sweep starts over
    if files:
        note(
            f"{len(files)} part file(s) in {parts_dir} are not listed in a {MANIFEST} of this "
            f"config; discarding them and computing their runs"
        )
    for p in files:
        p.unlink()
    fresh.save()
    return fresh


def check_parts(manifest: Manifest, parts_dir: Path, columns: list[str], results_format="csv"):
    """Check every listed part (read once: size, SHA-256, its columns, run_ids, row count) and
    take steps and status from the same bytes. A part that fails (or was written for the
    other results format) is named on stderr, removed and dropped from the manifest, so its
    runs are computed again. Returns ``(steps, status)``: int64 and int8 arrays over all runs,
    status -1 where no good part covers a run."""
    n = manifest.runs
    steps = np.zeros(n, dtype=np.int64)
    status = np.full(n, -1, dtype=np.int8)
    suffix = "." + PART_SUFFIX[results_format]
    changed, end = False, 0
    for start, stop, name in manifest.ranges():
        entry = manifest.parts[name]
        path = parts_dir / name
        runs = f"runs {start}..{stop - 1}"
        problem = None
        data = b""
        if start < end:
            problem = f"overlaps the part before it in {MANIFEST}"
        elif not name.endswith(suffix):
            other = next(f for f, s in PART_SUFFIX.items() if name.endswith("." + s))
            problem = f"was written for {other} results, this run writes {results_format}"
        else:
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                problem = "is listed in the manifest but missing"
            except OSError as exc:
                problem = f"cannot be read ({os_reason(exc)})"
        if problem is None and (
            len(data) != entry["size"] or hashlib.sha256(data).hexdigest() != entry["sha256"]
        ):
            problem = "does not match its checksum"
        if problem is None:
            try:
                part_steps, codes = _part_outcomes(data, columns, results_format, start, stop)
                steps[start:stop] = part_steps
                status[start:stop] = codes
            except (ValueError, KeyError, TypeError):
                problem = f"does not hold {runs} as expected"
        if problem is not None:
            note(f"part {name} {problem}; recomputing {runs}")
            manifest.drop(name)
            changed = True
            if not (start < end):
                with contextlib.suppress(OSError):
                    path.unlink(missing_ok=True)
            continue
        end = stop
    if changed:
        manifest.save()
    return steps, status


def _part_outcomes(data: bytes, columns: list[str], results_format: str, start: int, stop: int):
    """(steps, status codes) of the runs [start, stop) a part's bytes hold; ValueError (or
    KeyError, TypeError) when they hold anything else."""
    import pandas as pd

    from ..model import STATUSES

    if results_format == "csv":
        if not data.startswith(header_line(columns)):
            raise ValueError("header")
        try:
            old = pd.read_csv(io.BytesIO(data), usecols=["run_id", "steps", "status"])
        except pd.errors.ParserError as exc:
            raise ValueError("csv") from exc
        run_id, steps, status = (old[c].to_numpy() for c in ("run_id", "steps", "status"))
    else:
        try:
            table = read_arrow_part(data)
        except Exception as exc:  # pyarrow's errors are not one hierarchy
            raise ValueError("arrow") from exc
        if table.column_names != list(columns):
            raise ValueError("columns")
        run_id, steps = (table[c].to_numpy() for c in ("run_id", "steps"))
        status = np.asarray(table["status"].to_pylist(), dtype=object)
    if len(run_id) != stop - start or not np.array_equal(run_id, np.arange(start, stop)):
        raise ValueError("rows")
    codes = pd.Categorical(status, categories=STATUSES).codes
    if (codes < 0).any():
        raise ValueError("status")
    return np.asarray(steps, dtype=np.int64), codes.astype(np.int8)


def missing_ranges(parts, n_runs: int) -> list[tuple[int, int]]:
    """The run_id ranges [a, b) that no part covers (parts: (start, stop, ...) sorted)."""
    gaps, end = [], 0
    for start, stop, *_ in parts:
        if start > end:
            gaps.append((end, start))
        end = max(end, stop)
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


def describe_change(previous: dict, config: SweepConfig) -> str:
    """Which settings changed between a stored resolved config and this one, in words."""
    old_config = previous.get("config", {})
    old = _flatten(old_config if isinstance(old_config, dict) else {})
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
    """Remove the parts, then the manifest, then the folder (if nothing else is in it)."""
    if not parts_dir.is_dir():
        return
    doomed = [p for p in parts_dir.iterdir() if PART_RE.match(p.name) or p.name.startswith(".tmp-")]
    for p in [*doomed, parts_dir / MANIFEST]:
        try:
            p.unlink(missing_ok=True)
        except OSError as exc:
            raise OutputError(
                f"cannot remove {p}: {os_reason(exc)}; remove it by hand and run again"
            ) from None
    with contextlib.suppress(OSError):
        parts_dir.rmdir()  # someone else's files in there: leave the folder
