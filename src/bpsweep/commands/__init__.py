"""The command line, one module per subcommand (``bpsweep <command> --help``).

Each module ``commands/<name>.py`` has ``register(subparsers)``, which adds its parser and sets
``func``, the function that runs it; :data:`COMMANDS` lists them, in the order ``--help`` does.
:func:`main` turns a :class:`~bpsweep.errors.BpsweepError` into one line on stderr and exit
status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import tempfile
import threading
from importlib import import_module
from pathlib import Path

from .._version import __version__
from ..errors import BpsweepError

#: The subcommands' modules, in the order ``--help`` lists them (imported when needed: each
#: brings its own heavy imports, numba for those that train).
COMMANDS = ("train", "run", "map", "explore", "analyse", "trace", "bench")
#: Other names of a subcommand.
ALIASES = {"analyze": "analyse"}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every subcommand, or of ``only`` that one (what ``main`` needs once the
    command is named: the others' modules are not imported)."""
    parser = argparse.ArgumentParser(
        prog="bpsweep",
        description="Gradient descent on the StatQuest backpropagation network, swept.",
    )
    parser.add_argument("--version", action="version", version=f"bpsweep {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        if only is None or name == only:
            import_module(f".{name}", __name__).register(sub)
    return parser


def _check_numba_cache(command: str) -> None:
    """Say so when NUMBA_CACHE_DIR names a place numba cannot write: numba then compiles the
    kernels again in every run (about 20 s), without a word, and caches them beside the
    package instead."""
    folder = os.environ.get("NUMBA_CACHE_DIR")
    if not folder:
        return
    try:  # what numba would do: make the folder, write files in it
        Path(folder).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            return
    except OSError:
        pass
    print(
        f"bpsweep {command}: warning: NUMBA_CACHE_DIR={folder} cannot be written, so numba "
        f"cannot keep the compiled kernels there (each run compiles them again, about 20 s); "
        f"make it writable or unset it",
        file=sys.stderr,
    )


class Terminated(BaseException):
    """SIGTERM, raised in the main thread like Ctrl-C's KeyboardInterrupt (so that what is
    running stops the same way: its finished parts kept, its workers shut down)."""


def _terminate(signum, frame):
    raise Terminated


def main(argv=None) -> int:
    # what cannot be encoded on this terminal (a non-ASCII path under PYTHONIOENCODING=ascii) is
    # printed with backslash escapes: never a traceback after the results are safe on disk
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    argv = sys.argv[1:] if argv is None else list(argv)
    named = ALIASES.get(argv[0], argv[0]) if argv else None
    args = build_parser(named if named in COMMANDS else None).parse_args(argv)
    _check_numba_cache(args.command)
    # SIGTERM (kill, a batch system's time limit) stops the command as Ctrl-C does; by
    # default it killed the process in the middle of loky's shutdown, which printed loky's
    # "leaked semlock objects" warnings and no word of ours
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if on_main_thread else None
    try:
        return args.func(args)
    except BpsweepError as exc:
        print(f"bpsweep {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"bpsweep {args.command}: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print(f"bpsweep {args.command}: terminated (SIGTERM)", file=sys.stderr)
        return 128 + signal.SIGTERM
    except BrokenPipeError:
        # the reader went away (``| head``): stop as a Unix tool does on SIGPIPE, quietly
        # (stdout sent to /dev/null so that the interpreter's last flush raises nothing)
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
