"""Part files of a sweep in progress, their manifest, the sweep's lock, and the assembly.

``<out>/<name>.parts/`` holds ``runs-<start>-<stop>.csv`` (runs ``[start, stop)``, header and
rows, each written to a temporary name then renamed, so a part is either whole or absent) and
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

When every run is covered the parts are concatenated in run_id order into the results CSV
(each part checked against its checksum again while it is copied; the CSV's own size and
SHA-256 are computed on the way) and removed.

``<out>/.<name>.lock`` is locked (``fcntl.flock``) for the whole run, so a second run of the
same sweep into the same folder stops at once; the OS releases the lock when its process dies.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .atomic import atomic_file, os_reason, output_error, read_json, write_text_atomic
from .config import SweepConfig
from .errors import OutputError, SweepError

PART_RE = re.compile(r"^runs-(\d+)-(\d+)\.csv$")
MANIFEST = "manifest.json"
#: the hint of an OutputError while parts are being written
KEPT_HINT = "the finished parts are kept; {action} and run the same command again to resume"
_BLOCK = 1 << 22  # bytes read at a time when checking and assembling parts
#: seconds between two saves of the manifest while parts are recorded (see Manifest.record)
SAVE_EVERY = 1.0


def header_line(columns: list[str]) -> bytes:
    """The CSV header line of a part and of the whole CSV."""
    return (",".join(columns) + "\n").encode("utf-8")


def part_name(start: int, stop: int) -> str:
    return f"runs-{start:012d}-{stop:012d}.csv"


def write_part(parts_dir, start: int, stop: int, blocks) -> tuple[int, str]:
    """Write a part file from its text pieces (bytes): to a temporary name, synced, then
    renamed, so a part is either whole or absent. Returns its size and SHA-256 (hex), taken
    from the bytes written; an OSError becomes an OutputError naming the part."""
    digest, size = hashlib.sha256(), 0
    with atomic_file(Path(parts_dir) / part_name(start, stop), KEPT_HINT) as fh:
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

    def record(self, start: int, stop: int, size: int, sha256: str) -> None:
        """List a part that is on disk, and save (atomically) unless the manifest was saved
        less than SAVE_EVERY seconds ago (then :meth:`flush` or a later record saves it): many
        tiny chunks cost a save a second, not a save each, and a kill loses at most that much
        finished work (parts on disk but not yet listed are computed again)."""
        self.parts[part_name(start, stop)] = {
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
            and name == part_name(start, stop)
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


def check_parts(manifest: Manifest, parts_dir: Path, header: bytes):
    """Check every listed part (read once: size, SHA-256, header, run_ids, row count) and take
    steps and status from the same bytes. A part that fails is named on stderr, removed and
    dropped from the manifest, so its runs are computed again. Returns ``(steps, status)``:
    int64 and int8 arrays over all runs, status -1 where no good part covers a run."""
    import pandas as pd

    from .model import STATUSES

    n = manifest.runs
    steps = np.zeros(n, dtype=np.int64)
    status = np.full(n, -1, dtype=np.int8)
    changed, end = False, 0
    for start, stop, name in manifest.ranges():
        entry = manifest.parts[name]
        path = parts_dir / name
        runs = f"runs {start}..{stop - 1}"
        problem = None
        data = b""
        if start < end:
            problem = f"overlaps the part before it in {MANIFEST}"
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
                if not data.startswith(header):
                    raise ValueError("header")
                old = pd.read_csv(io.BytesIO(data), usecols=["run_id", "steps", "status"])
                if len(old) != stop - start or not np.array_equal(
                    old["run_id"].to_numpy(), np.arange(start, stop)
                ):
                    raise ValueError("rows")
                codes = pd.Categorical(old["status"], categories=STATUSES).codes
                if (codes < 0).any():
                    raise ValueError("status")
                steps[start:stop] = old["steps"].to_numpy(np.int64)
                status[start:stop] = codes
            except (ValueError, KeyError, TypeError, pd.errors.ParserError):
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


def remove_stale_temporaries(out: Path, name: str) -> None:
    """Remove ``.tmp-<pid>-<name>.<ext>`` files of this sweep in ``out``: what a run killed
    while writing its results file or JSON left (called under the sweep's lock)."""
    pattern = re.compile(rf"^\.tmp-\d+-{re.escape(name)}\.(csv|parquet|json)$")
    with contextlib.suppress(OSError):
        for p in Path(out).iterdir():
            if pattern.match(p.name):
                with contextlib.suppress(OSError):
                    p.unlink()


def assemble(manifest: Manifest, parts_dir: Path, csv_path: Path, header: bytes):
    """Concatenate the listed parts in run_id order into csv_path (streamed as bytes; tmp then
    rename), checking each part against its size and SHA-256 on the way. Returns the CSV's
    size and SHA-256 (hex). A part that changed since it was checked is dropped from the
    manifest and removed, and the run stops naming it (the next run recomputes it)."""
    parts = manifest.ranges()
    gaps = missing_ranges(parts, manifest.runs)
    if gaps:  # a bug if it happens: every gap was trained
        raise SweepError(f"{parts_dir}: runs {gaps[0][0]}..{gaps[0][1] - 1} have no part")
    whole, size = hashlib.sha256(), 0
    buf = bytearray(_BLOCK)
    view = memoryview(buf)
    hint = f"the parts are kept in {parts_dir}; {{action}} and run the same command again"
    with atomic_file(csv_path, hint) as out:
        out.write(header)
        whole.update(header)
        size += len(header)
        for start, stop, name in parts:
            entry, path = manifest.parts[name], parts_dir / name
            digest, part_size, first, found = hashlib.sha256(), 0, True, True
            try:
                with open(path, "rb") as fh:
                    while k := fh.readinto(buf):
                        block = view[:k]
                        digest.update(block)
                        part_size += k
                        if first:  # the part's header is not copied
                            first = False
                            if bytes(block[: len(header)]) != header:
                                break
                            block = block[len(header) :]
                        out.write(block)
                        whole.update(block)
                        size += len(block)
            except FileNotFoundError:
                found = False
            if not found or part_size != entry["size"] or digest.hexdigest() != entry["sha256"]:
                manifest.drop(name)
                manifest.save()
                with contextlib.suppress(OSError):
                    path.unlink(missing_ok=True)
                raise SweepError(
                    f"part {name} in {parts_dir} changed or vanished while the sweep ran (it "
                    f"no longer matches its checksum); run the same command again to "
                    f"recompute runs {start}..{stop - 1}"
                )
    return size, whole.hexdigest()


def file_digest(path: Path) -> tuple[int, str]:
    """Size and SHA-256 (hex) of a file, read in blocks."""
    digest, size = hashlib.sha256(), 0
    buf = bytearray(_BLOCK)
    view = memoryview(buf)
    with open(path, "rb") as fh:
        while k := fh.readinto(buf):
            digest.update(view[:k])
            size += k
    return size, digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# where a sweep writes: the output folder, file-name length, the lock


def check_name_fits(out: Path, name: str) -> None:
    """Refuse (OutputError) a sweep name that makes a file name longer than the file system
    under ``out`` allows, before anything is created."""
    longest = f".tmp-{'9' * 7}-{name}.parts"  # a temporary name: the longest we make
    anchor = Path(out).absolute()
    while not anchor.exists() and anchor != anchor.parent:
        anchor = anchor.parent
    try:
        limit = os.pathconf(anchor if anchor.is_dir() else anchor.parent, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    if limit and len(longest.encode("utf-8")) > limit:
        shown = name if len(name) <= 24 else name[:20] + "..."
        raise OutputError(
            f"cannot write the results of sweep {shown!r} under {out}: file name too long (the "
            f"name has {len(name.encode('utf-8'))} bytes; this file system allows "
            f"{limit - (len(longest.encode('utf-8')) - len(name.encode('utf-8')))} for it); "
            f"give the sweep a shorter name (name = ... or --set name=...)"
        )


def make_out_dir(out: Path) -> list[Path]:
    """Create the output folder (and its parents); returns the folders created (to remove if
    nothing is written). OSError -> OutputError naming ``out`` and the cause."""
    out = Path(out)
    if out.is_symlink() and not out.exists():
        raise OutputError(
            f"cannot write to --out {out}: it is a link to {os.readlink(out)}, which does not "
            f"exist; create that folder or name another"
        )
    created = []
    p = out.absolute()
    while not p.exists() and p != p.parent:
        created.append(p)
        p = p.parent
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(
            f"cannot write to --out {out}: it is a file, not a folder; name a folder"
        ) from None
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:
            raise OutputError(
                f"cannot write to --out {out}: a part of that path is a file, not a folder; "
                f"name a folder"
            ) from None
        raise output_error(out, exc, "choose a writable --out folder") from None
    if not out.is_dir():
        raise OutputError(f"cannot write to --out {out}: it is a file, not a folder")
    return created


def remove_if_empty(folders: list[Path]) -> None:
    """Remove the folders :func:`make_out_dir` created, innermost first, where still empty."""
    for p in folders:
        try:
            p.rmdir()
        except OSError:
            return


class SweepLock:
    """An exclusive ``fcntl.flock`` on ``<out>/.<name>.lock`` for the whole run of a sweep.

    A second run of the same sweep into the same folder gets a SweepError naming the process
    that holds it. The lock file holds the holder's pid (for that message only); it is removed
    at the end of the run, while still locked. A run killed with SIGKILL leaves the file, but
    not the lock: the OS releases a flock when its process dies, so a stale file never blocks.
    """

    def __init__(self, out: Path, name: str):
        self.path = Path(out) / f".{name}.lock"
        self.name = name
        self.fd = None

    def acquire(self) -> SweepLock:
        import fcntl

        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise output_error(self.path, exc, "choose a writable --out folder") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = _read_pid(fd)
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    who = f"pid {holder}" if holder else "another process"
                    raise SweepError(
                        f"another bpsweep run ({who}) is running sweep '{self.name}' into "
                        f"{self.path.parent} (it holds {self.path}); wait for it to finish, or "
                        f"stop it and run the same command again to resume"
                    ) from None
                raise output_error(self.path, exc) from None
            try:  # the file we locked must still be the one at the path (not removed meanwhile)
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
            os.close(self.fd)  # closing releases the flock
            self.fd = None

    def __enter__(self) -> SweepLock:
        return self.acquire() if self.fd is None else self

    def __exit__(self, *exc) -> None:
        self.release()


def _read_pid(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return text if text.isdigit() else ""


# ---------------------------------------------------------------------------------------------
# Parquet results: the same parts, assembled into one Parquet file

#: Rows per Parquet row group: fixed, so that the file's bytes do not depend on the chunk size
#: (and a reader streams a 4096 x 4096 map a row group at a time).
ROW_GROUP = 1 << 16
_ARROW_TYPES = {"int": "int64", "float": "float64", "str": "string"}


def assemble_parquet(
    manifest: Manifest, parts_dir: Path, path: Path, header: bytes, kinds: dict[str, str]
):
    """Assemble the listed parts in run_id order into the Parquet file ``path`` (tmp then
    rename), each part checked against its size and SHA-256 as :func:`assemble` does; columns
    typed by ``kinds`` (column -> "int", "float", "str"), floats exactly the float64 the parts
    hold. Returns the file's size and SHA-256 (hex)."""
    import io

    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    columns = list(kinds)
    schema = pa.schema([(c, _ARROW_TYPES[kinds[c]]) for c in columns])
    # Arrow's CSV reader (C++, several threads; its float parser is correctly rounded, so the
    # shortest reprs the parts hold come back as the very same float64), about 6x faster
    # than pandas' round-trip parser here. An empty float cell is null to Arrow: filled with
    # NaN below, as pandas read it.
    convert = pcsv.ConvertOptions(
        column_types=schema, null_values=[""], strings_can_be_null=False, include_columns=columns
    )
    hint = f"the parts are kept in {parts_dir}; {{action}} and run the same command again"
    pending: list[pa.Table] = []
    rows = 0
    with atomic_file(path, hint) as out:
        writer = pq.ParquetWriter(out, schema, compression="zstd")
        try:
            for start, stop, name in manifest.ranges():
                data = _verified_part(manifest, parts_dir, name, start, stop)
                if not data.startswith(header):
                    _drop_changed(manifest, parts_dir, name, start, stop)
                part = pcsv.read_csv(io.BytesIO(data), convert_options=convert)
                table = pa.Table.from_arrays(
                    [
                        part[c].fill_null(float("nan")) if kinds[c] == "float" else part[c]
                        for c in columns
                    ],
                    schema=schema,
                )
                pending.append(table.combine_chunks())
                rows += len(table)
                while rows >= ROW_GROUP:
                    table = pa.concat_tables(pending)
                    writer.write_table(table.slice(0, ROW_GROUP), row_group_size=ROW_GROUP)
                    pending = [table.slice(ROW_GROUP)]
                    rows -= ROW_GROUP
            if rows:
                writer.write_table(pa.concat_tables(pending), row_group_size=ROW_GROUP)
        finally:
            writer.close()
    return file_digest(path)


def _verified_part(manifest: Manifest, parts_dir: Path, name: str, start: int, stop: int):
    """A part's bytes, checked against its manifest entry (else dropped and a SweepError)."""
    entry = manifest.parts[name]
    try:
        data = (parts_dir / name).read_bytes()
    except FileNotFoundError:
        data = None
    if (
        data is None
        or len(data) != entry["size"]
        or hashlib.sha256(data).hexdigest() != entry["sha256"]
    ):
        _drop_changed(manifest, parts_dir, name, start, stop)
    return data


def _drop_changed(manifest: Manifest, parts_dir: Path, name: str, start: int, stop: int):
    manifest.drop(name)
    manifest.save()
    with contextlib.suppress(OSError):
        (parts_dir / name).unlink(missing_ok=True)
    raise SweepError(
        f"part {name} in {parts_dir} changed or vanished while the sweep ran (it no longer "
        f"matches its checksum); run the same command again to recompute runs "
        f"{start}..{stop - 1}"
    )
