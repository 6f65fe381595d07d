"""What several commands share: options made from the settings schema, checks of option values
and of the places they name, reading a results file, printing to a reader that may go away.

Setting options (:func:`add_setting_options`) come from the schema (:mod:`bpsweep.settings`).

An option's flag, choices and help (with its default) come from its :class:`Setting`; values
are checked by the schema after parsing, so a bad one is a one-line error naming the option
(``--lr: expected a finite number > 0, found nan (number)``) rather than argparse's usage text.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from pathlib import Path

from ..errors import OutputError, ResultsError, UsageError
from ..model import DEFAULT_FIT_SSR
from ..settings import SETTINGS, check


def _number(text: str):
    """A number if ``text`` reads as one (the schema then checks its range), else the text."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def add_setting_options(parser, names, *, defaults: bool = True) -> None:
    """Add the options of settings ``names`` to ``parser`` (dest = the setting's name).

    defaults False: options default to None (the caller falls back to the schema's default)."""
    for name in names:
        s = SETTINGS[name]
        shown = s.default if s.default is not None else "as --lr"
        help_text = f"{s.help} (default {shown})"
        parser.add_argument(
            s.option,
            dest=name,
            default=s.default if defaults else None,
            type=_number if s.kind != "str" else str,
            metavar=name.upper() if not s.choices else "{" + ",".join(s.choices) + "}",
            help=help_text,
        )


def add_overrides(parser, help_text: str) -> None:
    """``--set KEY=VALUE`` (repeatable, dest ``overrides``): what a config's settings become
    before it is checked (:func:`bpsweep.sweeps.config.load_config`'s ``overrides``)."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=help_text,
    )


def add_fit_ssr(parser) -> None:
    """``--fit-ssr X``: a good fit has final SSR below X (a float, default DEFAULT_FIT_SSR)."""
    parser.add_argument(
        "--fit-ssr",
        type=float,
        default=DEFAULT_FIT_SSR,
        help=f"a good fit has final SSR below this (default {DEFAULT_FIT_SSR:g})",
    )


def setting_values(args, names) -> dict:
    """The values of settings ``names`` from parsed ``args``, each checked by the schema (None
    stays None: not given, use the default)."""
    values = {}
    for name in names:
        value = getattr(args, name)
        values[name] = None if value is None else check(name, value, SETTINGS[name].option)
    return values


def number_option(option: str, text, default, *, integer=False, minimum=None, maximum=None):
    """The value of a numeric option (``text`` as typed, None when not given): a finite
    number (whole with ``integer``) within [minimum, maximum] (a float ``minimum`` of 0 means
    > 0); else a one-line UsageError naming the option."""
    if text is None:
        return default
    try:
        value = float(text) if not integer else int(str(text).strip(), 10)
    except ValueError:
        value = None
    ok = value is not None and math.isfinite(value)
    if ok and minimum is not None:
        ok = value > 0 if (minimum == 0 and not integer) else value >= minimum
    if ok and maximum is not None:
        ok = value <= maximum
    if not ok:
        want = "a whole number" if integer else "a finite number"
        if minimum is not None:
            want += " > 0" if (minimum == 0 and not integer) else f" >= {minimum}"
        if maximum is not None:
            want += f" and <= {maximum}"
        raise UsageError(f"{option}: expected {want}, got {text!r}")
    return value


def check_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ResultsError(
            "--plots and --report need matplotlib: pip install bpsweep[plots]"
        ) from None


def check_folder(option: str, folder, target=None) -> None:
    """Fail early (OutputError naming ``option`` and ``target``, default ``folder``) when
    ``folder`` cannot be made or written: a file in its place or in its path, or a read-only
    place."""
    folder = Path(folder)
    target = folder if target is None else target
    for place in [folder, *folder.parents]:
        if place.exists():
            if not place.is_dir():
                what = "it is" if Path(target) == place else f"{place} is"
                raise OutputError(
                    f"{option} {target}: cannot write there, {what} a file, not a folder"
                )
            if not os.access(place, os.W_OK | os.X_OK):
                raise OutputError(f"{option} {target}: cannot write there, {place} is read-only")
            return


def check_file(option: str, path) -> None:
    """Fail early (OutputError) when the file ``path`` cannot be written."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{option} {path}: cannot write there, a folder is in the way")
    check_folder(option, path.parent, path)
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputError(f"{option} {path}: cannot write there, the file is read-only")


def load(path, command: str, columns=None):
    """load_results, its warnings printed as one line each on stderr (each once).
    ``columns``: a function of the file's column names and sidecar (None when it has none)
    that returns the columns to read (None: all)."""
    from .. import analysis as A  # only the commands that read results need it

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if callable(columns):
                columns = columns(A.results_columns(path), A.results_sidecar(path))
            return A.load_results(path, columns=columns)
        finally:  # also when the file then cannot be analysed: the warning may say why
            for message in dict.fromkeys(str(w.message) for w in caught):
                print(f"bpsweep {command}: warning: {message}", file=sys.stderr)


def print_quietly(lines) -> bool:
    """Print ``lines`` to stdout; False (and stdout sent to /dev/null) when the reader went
    away (``| head``), so the files asked for are still written."""
    try:
        for line in lines:
            print(line)
        sys.stdout.flush()
    except BrokenPipeError:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return False
    return True
