"""Files that appear whole or not at all (write under a temporary name, sync, rename), JSON
read back strictly, and the one-line :class:`~bpsweep.errors.OutputError` for a place that
cannot be written (read-only, full disk, a file in the way, a name too long)."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
from pathlib import Path

from .errors import OutputError, SweepError

#: Bytes read at a time when a file is hashed or copied.
BLOCK = 1 << 22

_REASONS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENAMETOOLONG: "file name too long",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EEXIST: "a file is in the way",
    errno.EISDIR: "it is a folder",
    errno.EIO: "input/output error",
    errno.ENOENT: "no such file or folder",
}


def os_reason(exc: OSError) -> str:
    """What an OSError means, in a few words (no errno number, no repeated path)."""
    return _REASONS.get(exc.errno, (exc.strerror or type(exc).__name__).lower())


def output_error(path, exc: OSError, hint: str = "") -> OutputError:
    """The one-line error for a file or folder that could not be written. ``{action}`` in
    ``hint`` reads "make room" on a full disk or quota, else "fix that"."""
    action = "make room" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "fix that"
    hint = hint.replace("{action}", action)
    return OutputError(f"cannot write {path}: {os_reason(exc)}" + (f"; {hint}" if hint else ""))


@contextlib.contextmanager
def atomic_file(path: Path, hint: str = "", *, what: str = ""):
    """A binary file that appears at ``path`` whole or not at all: written under a temporary
    name beside it, synced, then renamed over ``path``; removed if the writing fails. An
    OSError while writing (full disk, read-only place, ...) becomes an OutputError naming
    ``path`` (after ``what`` the file is, if given) and the cause, followed by ``hint``."""
    path = Path(path)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        with open(tmp, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise output_error(f"{what} {path}" if what else path, exc, hint) from None
        raise


@contextlib.contextmanager
def writing(path, what: str = "", *, make_folder: bool = False):
    """Write ``path`` inside this block: an OSError becomes the one-line OutputError ``cannot
    write <what ><path>: <reason>``. ``make_folder``: create the file's folder (and its
    parents) first, naming a file that is in the way of it."""
    path = Path(path)
    shown = f"{what} {path}" if what else str(path)
    if make_folder:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            blocker = next(
                (p for p in [path.parent, *path.parent.parents] if p.exists() and not p.is_dir()),
                path.parent,
            )
            raise OutputError(f"cannot write {shown}: {blocker} is a file, not a folder") from None
        except OSError as exc:
            raise OutputError(f"cannot create the folder {path.parent}: {os_reason(exc)}") from None
    try:
        yield path
    except OSError as exc:
        raise OutputError(f"cannot write {shown}: {os_reason(exc)}") from None


def write_text_atomic(path: Path, text: str, hint: str = "") -> None:
    with atomic_file(path, hint) as fh:
        fh.write(text.encode("utf-8"))


def read_json(path: Path, recover: str) -> dict:
    """The JSON object in ``path``; a SweepError naming the file when it cannot be read or is
    not a valid JSON object, ending with ``recover`` (what to do)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SweepError(f"{path} is not valid JSON (not UTF-8 text); {recover}") from None
    except OSError as exc:
        raise SweepError(f"cannot read {path}: {os_reason(exc)}; {recover}") from None
    try:
        value = json.loads(text)
    except ValueError as exc:
        where = f"line {exc.lineno} column {exc.colno}: " if hasattr(exc, "lineno") else ""
        msg = getattr(exc, "msg", str(exc))
        raise SweepError(f"{path} is not valid JSON ({where}{msg}); {recover}") from None
    if not isinstance(value, dict):
        raise SweepError(
            f"{path} is not valid JSON for bpsweep (expected an object, found "
            f"{type(value).__name__}); {recover}"
        )
    return value


def file_digest(path: Path) -> tuple[int, str]:
    """Size and SHA-256 (hex) of a file, read in blocks."""
    digest, size = hashlib.sha256(), 0
    buf = bytearray(BLOCK)
    view = memoryview(buf)
    with open(path, "rb") as fh:
        while k := fh.readinto(buf):
            digest.update(view[:k])
            size += k
    return size, digest.hexdigest()
