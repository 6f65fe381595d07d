"""Command-line options made from the settings schema (:mod:`bpsweep.settings`).

An option's flag, choices and help (with its default) come from its :class:`Setting`; values
are checked by the schema after parsing, so a bad one is a one-line error naming the option
(``--lr: expected a finite number > 0, found nan (number)``) rather than argparse's usage text.
"""

from __future__ import annotations

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


def setting_values(args, names) -> dict:
    """The values of settings ``names`` from parsed ``args``, each checked by the schema (None
    stays None: not given, use the default)."""
    values = {}
    for name in names:
        value = getattr(args, name)
        values[name] = None if value is None else check(name, value, SETTINGS[name].option)
    return values
