"""Two analyses at once on two cores: one in a forked child process, one here.

The analyses are numpy and pandas code that holds the GIL much of the time, so threads do not
overlap them (measured: no gain on the 10^6-run main job); a child forked after the table is
loaded shares it (copy on write) and sends its tables back through a pipe, pickled. Used by
``bpsweep analyse`` for large tables only, on Linux, with more than one core; anywhere else,
or when the child cannot report (killed, out of memory), the work is done here, one after
the other, with the same results.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
import warnings

#: Fewer runs than this are analysed in one process (forking costs a few ms).
MIN_RUNS = 200_000


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def can_fork() -> bool:
    """Whether a child may be forked here: Linux (fork with numpy and pyarrow loaded is
    safe there as long as the child only computes) with two cores or more."""
    return sys.platform.startswith("linux") and hasattr(os, "fork") and usable_cores() > 1


def both(child, here):
    """``(child(), here())``, the first computed in a forked child process while this one
    computes the second (when :func:`can_fork`; else one after the other). An exception in
    either is raised here; the child is killed when this one stops (Ctrl-C)."""
    if not can_fork():
        return child(), here()
    read_end, write_end = os.pipe()
    for stream in (sys.stdout, sys.stderr):  # nothing buffered is written twice
        stream.flush()
    with warnings.catch_warnings():  # Python 3.12 warns of fork in a threaded process: the
        warnings.simplefilter("ignore", DeprecationWarning)  # child only computes and exits
        pid = os.fork()
    if pid == 0:  # the child: compute, send, exit without running the parent's cleanup
        os.close(read_end)
        code = 0
        try:
            try:
                message = ("ok", child())
            except BaseException as exc:  # noqa: BLE001 (sent to the parent, raised there)
                message = ("raised", exc)
            try:
                data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:  # an exception that does not pickle: the parent does it again
                data = pickle.dumps(("failed", None))
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(data)
        except BaseException:  # noqa: BLE001
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    try:
        mine = here()
        with os.fdopen(read_end, "rb") as pipe:
            data = pipe.read()
        os.waitpid(pid, 0)
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(read_end)
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except OSError:
            pass
        raise
    try:
        status, value = pickle.loads(data)
    except Exception:  # the child died before it could say (killed, out of memory)
        status, value = "failed", None
    if status == "raised":
        raise value
    if status == "failed":
        value = child()
    return value, mine
