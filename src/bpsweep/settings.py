"""The settings of a run: one schema from which everything else is derived.

Each trainer setting is written here once -- its config section, default, type, valid range
and help text -- and the rest of bpsweep reads it from :data:`SETTINGS`:

- sweep configs (:mod:`bpsweep.sweeps.config`) validate ``[data]``, ``[model]``, ``[init]``,
  ``[train]`` and ``[sweep]`` keys against it;
- ``bpsweep train`` builds its options (flag, type, choices, help with the default) from it;
- the results table's setting columns are :data:`SETTINGS` in order (:func:`columns`);
- :mod:`bpsweep.engine.batch` fills missing settings of a table of runs with :func:`defaults` and
  builds the kernels' per-run arrays (codes, ``hyper``, ``sched_params``) with
  :func:`hyper_array` and :func:`schedule_array`;
- :func:`check` is the one type and range check, for configs, the CLI and the Python API.

A new setting is added here (and, if the kernels use it, to the arrays :mod:`bpsweep.engine.batch`
builds).
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, replace

import numpy as np

from .errors import ConfigError, UsageError
from .model import (
    ACTIVATIONS,
    BIASES,
    DEFAULT_HIDDEN,
    DEFAULT_LR,
    DEFAULT_MAX_STEPS,
    DEFAULT_TOL,
    HYPER_DEFAULTS,
    MAX_HIDDEN,
    MAX_SEED,
    OPTIMIZERS,
    PRESETS,
    SCHEDULES,
    SCHEMES,
)

#: Config sections that hold settings, in the order a resolved config lists them.
SECTIONS = ("data", "model", "init", "train")
#: ``init_<p>``: the start of parameter p, replacing the scheme's draw.
INIT_PARAM = re.compile(r"^init_([wb][1-9][0-9]*)$")
PARAM_NAME = re.compile(r"^[wb][1-9][0-9]*$")


class InvalidValue(Exception):
    """Raised by :meth:`Setting.check`; callers turn it into a ConfigError or UsageError that
    names the file, key or option."""


@dataclass(frozen=True)
class Setting:
    """One trainer setting.

    kind: "int", "float" or "str". expected: what a valid value is, in words (for messages).
    low/high: bounds (low excluded when low_open, high always excluded). flag: the
    ``bpsweep train`` option (None: no such option). optimizer: the optimizer whose
    hyper-parameter this is. schedule: the learning-rate schedule whose parameter this is.
    optional: see below.
    """

    name: str
    section: str
    default: object
    kind: str
    expected: str
    help: str
    choices: tuple = ()
    low: float | None = None
    low_open: bool = False
    high: float | None = None
    flag: str | None = ""
    optimizer: str | None = None
    schedule: str | None = None
    #: optional: a results column only where a sweep sets it, so that results of sweeps that
    #: never set it keep their columns; a default of None means "as ``lr``" (the per-layer
    #: rates), another default is the value where it is not set (the schedule's settings)
    optional: bool = False

    @property
    def option(self) -> str | None:
        """The command-line option, e.g. ``--max-steps``."""
        if self.flag is None:
            return None
        return self.flag or "--" + self.name.replace("_", "-")

    def check(self, value):
        """``value`` as this setting's type (ints as int, floats as float), or InvalidValue."""
        if self.name == "trainable":
            return _check_trainable(value)
        if self.kind == "str":
            if not isinstance(value, str) or not value:
                raise InvalidValue
            if self.choices and value not in self.choices:
                raise InvalidValue
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise InvalidValue
        if self.kind == "int":
            if isinstance(value, (float, np.floating)) and not (
                math.isfinite(value) and value == int(value)
            ):
                raise InvalidValue
            value = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise InvalidValue
        if not self.in_bounds(value):
            raise InvalidValue
        return value

    def in_bounds(self, value) -> bool:
        """Whether a number lies within ``low`` (excluded when ``low_open``) and ``high``
        (always excluded)."""
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or value < self.high


def _check_trainable(value) -> str:
    """'all' or parameter names joined by ',' (no repeats); a list of names is joined."""
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        value = ",".join(v.strip() for v in value)
    if not isinstance(value, str):
        raise InvalidValue
    if value.strip() == "all":
        return "all"
    items = [t.strip() for t in value.split(",") if t.strip()]
    if not items or not all(PARAM_NAME.match(t) for t in items) or len(set(items)) != len(items):
        raise InvalidValue
    return ",".join(items)


_UNIT = "a number in [0, 1)"
#: Largest init scale: a drawn weight is at most about 9 standard deviations (Box-Muller on
#: 53-bit uniforms), so starts stay far from overflow and their SSR finite.
MAX_SCALE = 1e100
_POSITIVE = "a finite number > 0"


def _s(name, section, default, kind, expected, help, **kw) -> Setting:
    return Setting(name, section, default, kind, expected, help, **kw)


#: Every trainer setting, in the order of the results table's setting columns.
SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        _s(
            "dataset",
            "data",
            "dosage",
            "str",
            "'dosage' or the path of a CSV file with columns x, y",
            "'dosage' or a CSV file with numeric columns x, y",
            flag="--data",
        ),
        _s(
            "hidden",
            "model",
            DEFAULT_HIDDEN,
            "int",
            f"a whole number from 1 to {MAX_HIDDEN}",
            "hidden nodes H",
            low=1,
            high=MAX_HIDDEN + 1,
        ),
        _s(
            "activation",
            "model",
            "softplus",
            "str",
            "one of " + ", ".join(ACTIVATIONS),
            "activation of the hidden nodes",
            choices=tuple(ACTIVATIONS),
        ),
        _s(
            "optimizer",
            "train",
            "gd",
            "str",
            "one of " + ", ".join(OPTIMIZERS),
            "gd (plain gradient descent), momentum or adam",
            choices=tuple(OPTIMIZERS),
        ),
        _s(
            "momentum",
            "train",
            HYPER_DEFAULTS["momentum"],
            "float",
            _UNIT,
            "momentum's coefficient",
            low=0.0,
            high=1.0,
            optimizer="momentum",
        ),
        _s(
            "beta1",
            "train",
            HYPER_DEFAULTS["beta1"],
            "float",
            _UNIT,
            "adam's beta1",
            low=0.0,
            high=1.0,
            optimizer="adam",
        ),
        _s(
            "beta2",
            "train",
            HYPER_DEFAULTS["beta2"],
            "float",
            _UNIT,
            "adam's beta2",
            low=0.0,
            high=1.0,
            optimizer="adam",
        ),
        _s(
            "eps",
            "train",
            HYPER_DEFAULTS["eps"],
            "float",
            _POSITIVE,
            "adam's epsilon",
            low=0.0,
            low_open=True,
            optimizer="adam",
        ),
        _s(
            "lr",
            "train",
            DEFAULT_LR,
            "float",
            _POSITIVE,
            "learning rate",
            low=0.0,
            low_open=True,
        ),
        _s(
            "lr_hidden",
            "train",
            None,
            "float",
            _POSITIVE,
            "learning rate of the hidden layer (every w_i, b_i feeding a hidden node)",
            low=0.0,
            low_open=True,
            optional=True,
        ),
        _s(
            "lr_output",
            "train",
            None,
            "float",
            _POSITIVE,
            "learning rate of the output layer (the output weights and bias)",
            low=0.0,
            low_open=True,
            optional=True,
        ),
        _s(
            "schedule",
            "train",
            "constant",
            "str",
            "one of " + ", ".join(SCHEDULES),
            "learning-rate schedule: a factor on lr, lr_hidden and lr_output at each step "
            "(constant, cosine, step, exponential)",
            choices=tuple(SCHEDULES),
            optional=True,
        ),
        _s(
            "schedule_steps",
            "train",
            0,
            "int",
            "a whole number from 0 to 2**62 (0: max_steps)",
            "cosine: the steps T over which the rates fall to min_lr_ratio times them "
            "(0: max_steps)",
            low=0,
            high=2**62 + 1,
            schedule="cosine",
            optional=True,
        ),
        _s(
            "min_lr_ratio",
            "train",
            0.0,
            "float",
            "a finite number >= 0",
            "cosine: the rates' floor as a share of them (lr_min = lr * min_lr_ratio)",
            low=0.0,
            schedule="cosine",
            optional=True,
        ),
        _s(
            "step_every",
            "train",
            100,
            "int",
            "a whole number from 1 to 2**62",
            "step: the steps between two drops of the rates",
            low=1,
            high=2**62 + 1,
            schedule="step",
            optional=True,
        ),
        _s(
            "step_factor",
            "train",
            0.5,
            "float",
            _POSITIVE,
            "step: each drop multiplies the rates by it",
            low=0.0,
            low_open=True,
            schedule="step",
            optional=True,
        ),
        _s(
            "decay",
            "train",
            0.005,
            "float",
            "a finite number >= 0",
            "exponential: the rates' decay per step (a factor exp(-decay * (t - 1)) at step t)",
            low=0.0,
            schedule="exponential",
            optional=True,
        ),
        _s(
            "tol",
            "train",
            DEFAULT_TOL,
            "float",
            "a finite number >= 0",
            "step-size tolerance: converged when every trainable |step size| < tol; 0: never "
            "(every run takes max_steps steps unless it diverges)",
            low=0.0,
        ),
        _s(
            "max_steps",
            "train",
            DEFAULT_MAX_STEPS,
            "int",
            "a whole number from 1 to 2**62",
            "most steps a run takes",
            low=1,
            high=2**62 + 1,  # the kernels count steps in int64
        ),
        _s(
            "trainable",
            "train",
            "all",
            "str",
            "'all', a parameter name, names joined by ',' or a list of names",
            "'all' or names, e.g. 'b3' or 'w3,w4,b3'",
        ),
        _s(
            "scheme",
            "init",
            "normal",
            "str",
            "a scheme (" + ", ".join(SCHEMES) + ") or a preset (" + ", ".join(PRESETS) + ")",
            "random init scheme or preset",
            choices=(*SCHEMES, *PRESETS),
            flag=None,  # `bpsweep train --init` takes a scheme, a preset and name=value items
        ),
        _s(
            "scale",
            "init",
            1.0,
            "float",
            f"a number > 0 and < {MAX_SCALE:g} (larger scales draw starts that overflow)",
            "scale of the random scheme",
            low=0.0,
            low_open=True,
            high=MAX_SCALE,
        ),
        _s(
            "biases",
            "init",
            "zeros",
            "str",
            "one of " + ", ".join(BIASES),
            "biases zero, or drawn like the weights",
            choices=BIASES,
        ),
        _s(
            "seed",
            "init",
            0,
            "int",
            "a whole number from 0 to 2**63 - 1",
            "seed of the random scheme",
            low=0,
            high=MAX_SEED + 1,
        ),
    )
}
#: What an ``init_<p>`` value must be.
INIT_PARAM_SETTING = Setting("init_<p>", "init", None, "float", "a finite number", "", flag=None)
#: The settings of each config section, in order (``[init]`` also takes ``preset``).
SECTION_KEYS = {sec: [n for n, s in SETTINGS.items() if s.section == sec] for sec in SECTIONS}
SECTION_KEYS["init"] = [*SECTION_KEYS["init"], "preset"]
#: The optimizers' hyper-parameters (the settings with an ``optimizer``), in schema order; each
#: is a keyword argument of :func:`hyper_array`.
HYPER_SETTINGS = tuple(n for n, s in SETTINGS.items() if s.optimizer)
#: The learning-rate schedules' parameters (the settings with a ``schedule``), in schema order;
#: each is a keyword argument of :func:`schedule_array`.
SCHEDULE_SETTINGS = tuple(n for n, s in SETTINGS.items() if s.schedule)


def setting_for(name: str) -> Setting | None:
    """The :class:`Setting` for a setting name or an ``init_<p>`` key; None if unknown."""
    if name in SETTINGS:
        return SETTINGS[name]
    if INIT_PARAM.match(name):
        return replace(INIT_PARAM_SETTING, name=name)
    return None


def columns(present=()) -> tuple[str, ...]:
    """The results table's setting columns, in order: every setting but the optional ones,
    which are columns only when in ``present`` (the settings a sweep sets)."""
    return tuple(n for n, s in SETTINGS.items() if not s.optional or n in present)


def defaults() -> dict:
    """Every setting's default value (None for the per-layer rates: "as ``lr``")."""
    return {name: s.default for name, s in SETTINGS.items()}


def found(value) -> str:
    """A value as error messages show it: its repr (cut at 80 characters) and its type."""
    kind = {
        bool: "boolean",
        str: "string",
        int: "integer",
        float: "number",
        list: "list",
        dict: "table",
    }.get(type(value), type(value).__name__)
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} ({kind})"


def did_you_mean(name, known) -> str:
    """``"; did you mean 'x'?"`` with the known name closest to ``name`` (difflib's ratio at
    least 0.6), or "" when none is close: the end of an unknown-name message."""
    close = difflib.get_close_matches(str(name), list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def unknown_key(source: str, where: str, key, known) -> ConfigError:
    """The error for an unknown config key: what is known, what was found, and the closest
    known key as a "did you mean"."""
    return ConfigError(
        f"{source}: {where}: unknown key; expected one of {', '.join(known)}, found {key!r}"
        f"{did_you_mean(key, known)}"
    )


def check(name: str, value, where: str | None = None, error=UsageError):
    """``value`` checked as setting ``name`` (or ``init_<p>``); raises ``error`` with a message
    ``"<where>: expected <what>, found <value> (<type>)"`` (where defaults to the name)."""
    setting = setting_for(name)
    if setting is None:
        raise UsageError(f"unknown setting {name!r}; expected one of {', '.join(SETTINGS)}")
    try:
        return setting.check(value)
    except InvalidValue:
        raise error(f"{where or name}: expected {setting.expected}, found {found(value)}") from None


def hyper_array(optimizer, momentum, beta1, beta2, eps) -> np.ndarray:
    """The kernels' ``hyper`` (R, 3) float64 array from per-run columns (R,): momentum runs
    take (momentum, 0, 0), gd and adam runs (beta1, beta2, eps) (gd ignores them)."""
    optimizer = np.asarray(optimizer)
    hyper = np.zeros((optimizer.shape[0], 3))
    is_mom = optimizer == "momentum"
    hyper[is_mom, 0] = np.asarray(momentum, dtype=np.float64)[is_mom]
    hyper[~is_mom, 0] = np.asarray(beta1, dtype=np.float64)[~is_mom]
    hyper[~is_mom, 1] = np.asarray(beta2, dtype=np.float64)[~is_mom]
    hyper[~is_mom, 2] = np.asarray(eps, dtype=np.float64)[~is_mom]
    return hyper


def schedule_array(
    schedule, max_steps, schedule_steps, min_lr_ratio, step_every, step_factor, decay
) -> np.ndarray:
    """The kernels' ``sched_params`` (R, 2) float64 array from per-run columns (R,), the (a, b)
    of :func:`bpsweep.engine.kernels.schedule_factor`: cosine runs take (T, min_lr_ratio) with
    T = schedule_steps, or max_steps where schedule_steps is 0; step runs (step_every,
    step_factor); exponential runs (decay, 1); constant runs (1, 1) (unused)."""
    schedule = np.asarray(schedule)
    out = np.ones((schedule.shape[0], 2))

    def column(values):
        return np.asarray(values, dtype=np.float64)

    cos = schedule == "cosine"
    if cos.any():
        steps = column(schedule_steps)
        out[cos, 0] = np.where(steps == 0, column(max_steps), steps)[cos]
        out[cos, 1] = column(min_lr_ratio)[cos]
    step = schedule == "step"
    if step.any():
        out[step, 0] = column(step_every)[step]
        out[step, 1] = column(step_factor)[step]
    exp = schedule == "exponential"
    if exp.any():
        out[exp, 0] = column(decay)[exp]
    return out
