"""Where a sweep writes: the output folder (created with its parents, removed again if nothing
was written), file names that fit the file system, the sweep's lock, and the temporaries a
killed run left.

``<out>/.<name>.lock`` is locked (``fcntl.flock``) for the whole run, so a second run of the
same sweep into the same folder stops at once; the OS releases the lock when its process dies.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from pathlib import Path

from ..atomic import output_error
from ..errors import OutputError, SweepError


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


def remove_stale_temporaries(out: Path, name: str) -> None:
    """Remove ``.tmp-<pid>-<name>.<ext>`` files of this sweep in ``out``: what a run killed
    while writing its results file or JSON left (called under the sweep's lock)."""
    pattern = re.compile(rf"^\.tmp-\d+-{re.escape(name)}\.(csv|parquet|json)$")
    with contextlib.suppress(OSError):
        for p in Path(out).iterdir():
            if pattern.match(p.name):
                with contextlib.suppress(OSError):
                    p.unlink()
