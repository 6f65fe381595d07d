"""The errors bpsweep raises for things a user can fix, and nothing else.

The command line prints a :class:`BpsweepError` as one line (``bpsweep <command>: error:
...``) and exits with status 2; any other exception is a bug and keeps its traceback. Errors
about bad input are also ``ValueError`` so that Python callers can catch them as such.

Each message names what was wrong (file, key, path or option), what was expected and what
was found, and, where there is one, what to do.
"""

from __future__ import annotations


class BpsweepError(Exception):
    """Base of every error bpsweep raises on purpose (bad input, an unusable file or place)."""


class UsageError(BpsweepError, ValueError):
    """A bad argument or option value of a command or a public function."""


class ConfigError(BpsweepError, ValueError):
    """A config that cannot run; the message names the file, key, expectation and finding."""


class DataError(BpsweepError, ValueError):
    """A data set that cannot be used (missing file, wrong columns, non-finite values)."""


class ResultsError(BpsweepError, ValueError):
    """A results file that cannot be read or analysed (missing columns, wrong types, ...)."""


class SweepError(BpsweepError):
    """A sweep that cannot go on (a dead worker, parts of another config, a lock held)."""


class DeviceError(BpsweepError, ValueError):
    """An optional engine that is not there: numba-cuda or a GPU, dask/distributed."""


class OutputError(BpsweepError):
    """A place to write that cannot be written (read-only, full disk, a file in the way)."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none): what a
    one-line error quotes of a library's multi-line one."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = [
    "BpsweepError",
    "ConfigError",
    "DataError",
    "DeviceError",
    "OutputError",
    "ResultsError",
    "SweepError",
    "UsageError",
    "first_line",
]
