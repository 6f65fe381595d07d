"""Sweep configs: a TOML file read, completed with defaults, validated once, before anything runs.

A config has top-level ``name`` and ``description`` and the sections ``[data]``, ``[model]``,
``[init]``, ``[train]`` (each setting fixed there, or left at its default) and ``[sweep]``
(``mode``, ``samples``, ``sweep_seed``, and any setting given as a list or range: swept).
See ``docs/sweeps.md`` for the reference of every key.

Every error is a :class:`ConfigError` whose message names the file, the key, what was expected
and what was found, e.g. ``seed-lr-grid.toml: [train] lr: expected a finite number > 0, found
-0.1``; an unknown key also gets a "did you mean".
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..engine.data import BUILTIN, load_data
from ..errors import ConfigError, DataError
from ..model import MAX_SEED, PRESETS, param_names
from ..settings import (
    INIT_PARAM,
    INIT_PARAM_SETTING,
    SECTION_KEYS,
    SECTIONS,
    SETTINGS,
    InvalidValue,
    Setting,
    setting_for,
)
from ..settings import columns as settings_columns
from ..settings import found as _found
from ..settings import unknown_key as _unknown
from .window import MapSpec, parse_map_section

#: Bumped whenever the rows a config produces change for the same config (invalidates parts).
RESULTS_FORMAT = 1

TOP_KEYS = ("name", "description", *SECTIONS, "sweep", "map")
SWEEP_KEYS = ("mode", "samples", "sweep_seed")
MODES = ("grid", "random")
#: Most runs a sweep may have (run ids are int64); far more than any disk holds.
MAX_RUNS = 2**62
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


# ---------------------------------------------------------------- the config object


class Spaced(Sequence):
    """The values of a range axis -- ``{ start, count, step }``, ``linspace`` or ``logspace`` --
    computed on demand, so that counting runs, ``--dry-run`` and expanding a chunk never build
    the whole list (a seed range of 10^12 runs is three numbers). Value i has the very bits
    numpy's ``linspace``/``logspace`` (or ``start + i * step``) give it.
    """

    #: Ranges at most this long are checked value by value (and listed in the fingerprint).
    SMALL = 100_000

    def __init__(self, kind: str, a, b, n: int, integer: bool):
        self.kind, self.a, self.b, self.n, self.integer = kind, a, b, int(n), integer

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(self.n))]
        if i < 0:
            i += self.n
        if not 0 <= i < self.n:
            raise IndexError(i)
        v = self.take(np.array([i], dtype=np.int64))[0]
        return int(v) if self.integer else float(v)

    def take(self, idx: np.ndarray) -> np.ndarray:
        """Values at positions ``idx`` (int64 array), as int64 or float64."""
        idx = np.asarray(idx, dtype=np.int64)
        if self.kind == "start":  # a = start, b = step
            return self.a + idx * self.b
        y = _linspace_at(float(self.a), float(self.b), self.n, idx)
        if self.kind == "logspace":
            y = np.power(10.0, y)
        return y.astype(np.int64) if self.integer else y

    def __eq__(self, other) -> bool:
        if isinstance(other, Spaced):
            return (self.kind, self.a, self.b, self.n) == (other.kind, other.a, other.b, other.n)
        if isinstance(other, (list, tuple)):
            return len(other) == self.n and list(self) == list(other)
        return NotImplemented

    __hash__ = None


def _linspace_at(a: float, b: float, n: int, idx: np.ndarray) -> np.ndarray:
    """``np.linspace(a, b, n)[idx]`` with numpy's float operations, without the array."""
    y = idx.astype(np.float64)
    div = n - 1
    delta = b - a
    if div > 0:
        step = delta / div
        if step == 0:  # numpy's path for denormal steps
            y = y / div * delta
        else:
            y = y * step
    else:
        y = y * delta
    y = y + a
    if n > 1:
        y[idx == n - 1] = b
    return y


@dataclass
class Axis:
    """A swept setting. ``kind``: "values" (a finite list, grid or choice), "uniform",
    "loguniform" (random mode only, with ``low`` and ``high``) or "map" (an axis of a map:
    ``low`` and ``high`` are its first and last pixel's values, ``spec`` its count)."""

    name: str
    kind: str
    values: list = field(default_factory=list)
    low: float | None = None
    high: float | None = None
    spec: object = None  #: the spec as written (for the JSON sidecar and --dry-run)

    def describe(self) -> str:
        if self.kind == "values":
            n = len(self.values)
            if n <= 6:
                shown = ", ".join(_short(v) for v in self.values)
            else:
                shown = (
                    f"{_short(self.values[0])}, {_short(self.values[1])}, ..., "
                    f"{_short(self.values[-1])}"
                )
            return f"{n} value{'s' if n != 1 else ''} ({shown})"
        if self.kind == "map":
            return f"{self.spec} in [{_short(self.low)}, {_short(self.high)}] (map axis)"
        return f"{self.kind} in [{_short(self.low)}, {_short(self.high)}]"


def _short(v) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


@dataclass
class SweepConfig:
    """A validated sweep: fixed settings, swept axes (in expansion order), mode and size.

    ``fixed`` maps every setting not swept (and fixed ``init_<p>``) to its value; ``axes`` lists
    the swept ones, the first varying slowest in grid mode. ``base_dir`` is the folder relative
    data paths are read from (the config file's folder).
    """

    name: str
    description: str
    source: str
    base_dir: Path
    fixed: dict
    axes: list[Axis]
    mode: str = "grid"
    samples: int | None = None
    sweep_seed: int = 0
    map: MapSpec | None = None  #: the window of a map config (mode "map")

    @property
    def n_runs(self) -> int:
        if self.mode == "random":
            return int(self.samples)
        if self.mode == "map":
            return self.map.n_pixels
        return math.prod(len(a.values) for a in self.axes)

    def values_of(self, name: str) -> list:
        """Every value a setting can take in this sweep (the bounds for a continuous range)."""
        for a in self.axes:
            if a.name == name:
                if a.kind == "map":  # its first and last pixel's (a line has 10^7 values)
                    return [a.low, a.high]
                return list(a.values) if a.kind == "values" else [a.low, a.high]
        return [self.fixed.get(name, SETTINGS[name].default if name in SETTINGS else None)]

    def setting_columns(self) -> tuple[str, ...]:
        """The results' setting columns of this sweep: every setting, and the optional ones
        (lr_hidden, lr_output) where the config sets them, fixed or swept."""
        return settings_columns((*self.fixed, *(a.name for a in self.axes)))

    @property
    def hiddens(self) -> list[int]:
        return sorted(set(self.values_of("hidden")))

    def param_union(self) -> tuple[str, ...]:
        """Parameter names over every hidden size of the sweep (smallest H first)."""
        return tuple(dict.fromkeys(n for h in self.hiddens for n in param_names(h)))

    def varying(self) -> list[Axis]:
        """The axes that take more than one value."""
        return [a for a in self.axes if a.kind != "values" or len(a.values) > 1]

    def resolved(self, expand_values: bool = False) -> dict:
        """The resolved config as plain JSON data: every section with its defaults filled.

        A swept setting is shown as written when it is a range (``{ linspace = ... }``,
        ``{ start, count }``), as its list of values otherwise or when ``expand_values``."""
        out = {"name": self.name, "description": self.description}
        for sec in SECTIONS:
            out[sec] = {k: v for k, v in self.fixed.items() if _section_of(k) == sec}
        if self.mode == "map":
            out["map"] = self.map.to_table()
            return out
        sweep = {"mode": self.mode}
        if self.mode == "random":
            sweep["samples"] = self.samples
            sweep["sweep_seed"] = self.sweep_seed
        for a in self.axes:
            if a.kind != "values":
                sweep[a.name] = {a.kind: [a.low, a.high]}
            elif isinstance(a.spec, dict) and not expand_values:
                sweep[a.name] = a.spec
            elif isinstance(a.values, Spaced):
                # a long range is fingerprinted by its spec, never written out
                small = len(a.values) <= Spaced.SMALL
                sweep[a.name] = (
                    list(a.values.take(np.arange(len(a.values))).tolist()) if small else a.spec
                )
            else:
                sweep[a.name] = a.values
        out["sweep"] = sweep
        return out

    def fingerprint(self) -> str:
        """Hash of everything that decides the rows (not name or description; data file
        contents included), so that parts of a different config are never mixed."""
        resolved = self.resolved(expand_values=True)
        del resolved["name"], resolved["description"]
        datasets = []
        for d in self.values_of("dataset"):
            if d in BUILTIN:
                continue
            path = Path(d) if Path(d).is_absolute() else self.base_dir / d
            datasets.append([d, hashlib.sha256(path.read_bytes()).hexdigest()])
        blob = json.dumps(
            {"format": RESULTS_FORMAT, "config": resolved, "data": datasets},
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(blob.encode()).hexdigest()


def _section_of(name: str) -> str:
    s = setting_for(name)
    return s.section if s else "init"


# ---------------------------------------------------------------- loading


def to_toml(config: dict) -> str:
    """A config dict of plain values (strings, numbers, lists, one level of tables, inline
    tables within them), e.g. :meth:`SweepConfig.resolved`, as TOML text that
    :func:`load_config` reads back to the same config."""

    def value(v):
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        return json.dumps(v)  # strings, numbers and lists of them are the same in TOML

    top = [f"{k} = {value(v)}" for k, v in config.items() if not isinstance(v, dict)]
    tables = [
        f"[{k}]\n" + "".join(f"{n} = {value(x)}\n" for n, x in v.items() if x is not None)
        for k, v in config.items()
        if isinstance(v, dict)
    ]
    return "\n".join(top) + "\n" + "".join(tables)


def load_config(path, overrides=None) -> SweepConfig:
    """Read, complete and validate the TOML sweep config at ``path``.

    ``overrides``: ``["key=value", ...]`` (the CLI's ``--set``), applied before validation; a
    key is a setting name (``lr``), ``section.key`` (``train.lr``, ``sweep.lr``) or a top-level
    key (``name``); a value is a TOML value (``0.3``, ``[0.1, 0.2]``, ``{ linspace = [0, 1,
    5] }``) or else a plain string. Setting a swept name fixes it, and ``sweep.<name>`` sweeps it.
    """
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{source}: no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{source}: cannot read the config file ({exc})") from None
    text = text.removeprefix("\ufeff")  # a byte-order mark some editors write: not TOML
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc})") from None
    return config_from_dict(
        raw,
        source=source,
        base_dir=path.resolve().parent,
        default_name=path.stem,
        overrides=overrides,
    )


def config_from_dict(
    raw: dict,
    *,
    source: str = "<config>",
    base_dir=None,
    default_name: str = "sweep",
    overrides=None,
) -> SweepConfig:
    """Validate a config given as a dict (the parsed TOML); see :func:`load_config`."""
    raw = copy.deepcopy(raw)
    for item in overrides or ():
        _apply_override(raw, item, source)
    return _validate(
        raw, source, Path(base_dir) if base_dir is not None else Path.cwd(), default_name
    )


def _parse_value(text: str):
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _apply_override(raw: dict, item: str, source: str) -> None:
    if not isinstance(item, str) or "=" not in item:
        raise ConfigError(f"{source}: --set {item}: expected key=value, found {item!r}")
    key, _, text = item.partition("=")
    key = key.strip()
    value = _parse_value(text.strip())
    where = f"--set {key}"
    if "." in key:
        section, _, name = key.partition(".")
        if section not in ("sweep", "map", *SECTIONS):
            raise _unknown(source, where, section, ["sweep", "map", *SECTIONS])
        if section == "map":  # checked with the rest of [map]
            if not isinstance(raw.get("map", {}), dict):
                raise ConfigError(f"{source}: {where}: [map] is not a table")
            raw.setdefault("map", {})[name] = value
            return
    else:
        section, name = None, key
    if section is None and name in ("name", "description"):
        raw[name] = value
        return
    if section == "sweep" and name in SWEEP_KEYS:
        raw.setdefault("sweep", {})[name] = value
        return
    setting = setting_for(name) if name != "preset" else SETTINGS["scheme"]
    if setting is None:
        known = [*SETTINGS, "init_<p>", "name", "description"] + (
            list(SWEEP_KEYS) if section == "sweep" else []
        )
        raise _unknown(source, where, name, known)
    if name == "preset":
        name = "scheme"
    home = setting.section
    if section not in (None, "sweep", home):
        raise ConfigError(
            f"{source}: {where}: expected {name} in [{home}] (it belongs there), "
            f"found it in [{section}]"
        )
    # [sweep] is created only for a swept value: a map config has none and must not get one
    if section == "sweep" and isinstance(raw.get("sweep", {}), dict):
        sweep = raw.setdefault("sweep", {})
    else:
        sweep = raw["sweep"] if isinstance(raw.get("sweep"), dict) else {}
    sec = raw.setdefault(home, {}) if isinstance(raw.get(home, {}), dict) else {}
    if section == "sweep":
        sec.pop(name, None)
        if name == "scheme":
            sec.pop("preset", None)
        sweep[name] = value
    else:
        sweep.pop(name, None)
        if name == "scheme":
            sec.pop("preset", None)
        sec[name] = value


def _names(raw: dict, source: str, default_name: str) -> tuple[str, str]:
    """The top-level keys checked; the config's name and description."""
    for key in raw:
        if key not in TOP_KEYS:
            raise _unknown(source, "top level", key, TOP_KEYS)
    name = raw.get("name", default_name)
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise ConfigError(
            f"{source}: name: expected a file-name-safe name (letters, digits, "
            f"'.', '_', '-'), found {_found(name)}"
        )
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"{source}: description: expected a string, found {_found(description)}")
    return name, description


def _fixed_settings(raw: dict, source: str) -> tuple[dict, dict]:
    """Every setting's value (the default where no section sets it) and, for the ones a
    section sets, which section (for the message when [sweep] sets them too)."""
    fixed: dict = {n: s.default for n, s in SETTINGS.items() if not s.optional}
    placed: dict[str, str] = {}
    for sec in SECTIONS:
        table = raw.get(sec, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: [{sec}]: expected a table, found {_found(table)}")
        for key, value in table.items():
            where = f"[{sec}] {key}"
            if sec == "init" and INIT_PARAM.match(key):
                fixed[key] = _check_value(source, where, INIT_PARAM_SETTING, value)
                continue
            if key not in SECTION_KEYS[sec]:
                other = setting_for(key)
                if other is not None and other.section != sec:
                    raise ConfigError(
                        f"{source}: {where}: expected {key} in "
                        f"[{other.section}] (it belongs there), found it in [{sec}]"
                    )
                known = SECTION_KEYS[sec] + (["init_<p>"] if sec == "init" else [])
                raise _unknown(source, f"[{sec}]", key, known)
            if key == "preset":
                if "scheme" in table:
                    raise ConfigError(
                        f"{source}: [init] preset: expected either scheme or "
                        f"preset, found both ({table['scheme']!r}, {value!r})"
                    )
                if value not in PRESETS:
                    raise ConfigError(
                        f"{source}: {where}: expected one of "
                        f"{', '.join(PRESETS)}, found {_found(value)}"
                    )
                key = "scheme"
            fixed[key] = _check_value(source, where, SETTINGS[key], value)
            placed[key] = f"[{sec}]"
    return fixed, placed


def _sweep_header(sweep: dict, source: str) -> tuple[str, int | None, int]:
    """``[sweep]``'s mode, samples (random mode) and sweep_seed, checked."""
    mode = sweep.get("mode", "grid")
    if mode not in MODES:
        raise ConfigError(
            f"{source}: [sweep] mode: expected one of {', '.join(MODES)}, found {_found(mode)}"
        )
    samples = sweep.get("samples")
    if mode == "random":
        if samples is None:
            raise ConfigError(
                f"{source}: [sweep] samples: expected a whole number >= 1 "
                f"(mode = 'random' needs it), found nothing"
            )
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
            raise ConfigError(
                f"{source}: [sweep] samples: expected a whole number >= 1, found {_found(samples)}"
            )
    elif samples is not None:
        raise ConfigError(
            f"{source}: [sweep] samples: expected no samples in mode = 'grid' "
            f"(it is for mode = 'random'), found {_found(samples)}"
        )
    sweep_seed = sweep.get("sweep_seed", 0)
    if (
        isinstance(sweep_seed, bool)
        or not isinstance(sweep_seed, int)
        or not (0 <= sweep_seed <= MAX_SEED)
    ):
        raise ConfigError(
            f"{source}: [sweep] sweep_seed: expected a whole number from 0 to "
            f"2**63 - 1, found {_found(sweep_seed)}"
        )
    return mode, samples, sweep_seed


def _validate(raw: dict, source: str, base_dir: Path, default_name: str) -> SweepConfig:
    """The whole check of a config: top-level keys and names, the fixed settings of each
    section, then ``[map]`` or ``[sweep]``, then the checks across settings."""
    name, description = _names(raw, source, default_name)
    fixed, placed = _fixed_settings(raw, source)

    if "map" in raw:
        if "sweep" in raw:
            raise ConfigError(
                f"{source}: [map]: expected either [sweep] or [map] (a map sweeps its two axes), "
                f"found both"
            )
        return _map_config(raw, source, base_dir, name, description, fixed, placed)
    sweep = raw.get("sweep", {})
    if not isinstance(sweep, dict):
        raise ConfigError(f"{source}: [sweep]: expected a table, found {_found(sweep)}")
    mode, samples, sweep_seed = _sweep_header(sweep, source)

    axes = []
    for key, spec in sweep.items():
        if key in SWEEP_KEYS:
            continue
        setting = setting_for(key)
        if setting is None:
            raise _unknown(source, "[sweep]", key, [*SWEEP_KEYS, *SETTINGS, "init_<p>"])
        if key in placed or (INIT_PARAM.match(key) and key in fixed):
            where = placed.get(key, "[init]")
            raise ConfigError(
                f"{source}: [sweep] {key}: is also fixed in {where}; expected it "
                f"in one place, found both"
            )
        axes.append(_axis(source, key, setting, spec, mode))
        fixed.pop(key, None)

    config = SweepConfig(
        name=name,
        description=description,
        source=source,
        base_dir=base_dir,
        fixed=fixed,
        axes=axes,
        mode=mode,
        samples=samples if mode == "random" else None,
        sweep_seed=sweep_seed,
    )
    if config.n_runs > MAX_RUNS:
        raise ConfigError(
            f"{source}: [sweep]: expected at most {MAX_RUNS:,} runs (run ids are 64-bit), found "
            f"{config.n_runs:,} ({' x '.join(str(len(a.values)) for a in axes) or samples})"
        )
    _cross_check(config)
    return config


def _map_config(raw, source, base_dir, name, description, fixed, placed) -> SweepConfig:
    """A ``[map]`` config: the two axes come from the map's window, the rest is fixed."""
    table = raw["map"]
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [map]: expected a table, found {_found(table)}")
    spec = parse_map_section(table, source)
    axes = []
    for axis, key in enumerate(spec.names):
        if key in placed or (INIT_PARAM.match(key) and key in fixed):
            raise ConfigError(
                f"{source}: [map] {'xy'[axis]}: {key} is also fixed in "
                f"{placed.get(key, '[init]')}; "
                f"expected it in one place, found both"
            )
        low, high = spec.axis_range(axis)
        axes.append(Axis(key, "map", low=low, high=high, spec=spec.resolution[axis]))
        fixed.pop(key, None)
    config = SweepConfig(
        name=name,
        description=description,
        source=source,
        base_dir=base_dir,
        fixed=fixed,
        axes=axes,
        mode="map",
        map=spec,
    )
    _cross_check(config)
    return config


def _where(name: str, axes=None) -> str:
    map_axes = [a for a in axes or () if a.kind == "map"]  # in the order x, y
    for a in axes or ():
        if a.name == name:
            if a.kind == "map":
                return f"[map] {'xy'[map_axes.index(a)]} = {name!r}"
            return f"[sweep] {name}"
    return f"[{_section_of(name)}] {name}"


def _check_value(source: str, where: str, setting: Setting, value):
    """A valid value of ``setting`` (ints as int, floats as float), or a ConfigError."""
    try:
        return setting.check(value)
    except InvalidValue:
        raise ConfigError(
            f"{source}: {where}: expected {setting.expected}, found {_found(value)}"
        ) from None


RANGE_SPECS = ("linspace", "logspace", "start", "uniform", "loguniform", "choice")
#: Largest exponent of a logspace (float64 ends at about 10 ** 308.2547).
MAX_EXPONENT = 308.25


def _axis(source: str, key: str, setting: Setting, spec, mode: str) -> Axis:
    where = f"[sweep] {key}"
    if isinstance(spec, list):
        values = spec
    elif isinstance(spec, dict):
        values = _range_values(source, where, setting, spec, mode)
        if isinstance(values, Axis):  # a random-mode draw range
            return values
    elif key == "trainable" and isinstance(spec, str):
        values = [spec]
    else:
        values = [spec]
    if not values:
        raise ConfigError(
            f"{source}: {where}: expected a non-empty list of values, found [] "
            f"(an empty sweep has no runs)"
        )
    if isinstance(values, Spaced):
        return Axis(key, "values", values, spec=spec)
    checked = [_check_value(source, f"{where}[{i}]", setting, v) for i, v in enumerate(values)]
    return Axis(key, "values", checked, spec=spec)


def _range_values(source, where, setting, spec: dict, mode: str):
    """The values of a swept setting given as a range spec (a dict): a :class:`Spaced` range,
    a list (``choice``), or an :class:`Axis` of random-mode draws."""
    keys = list(spec)
    if "start" in spec or "count" in spec:
        return _start_count_range(source, where, setting, spec)
    if len(keys) != 1:
        raise ConfigError(
            f"{source}: {where}: expected a list or one range spec "
            f"({', '.join(RANGE_SPECS)}), found {_found(spec)}"
        )
    kind, args = keys[0], spec[keys[0]]
    if kind not in RANGE_SPECS:
        raise _unknown(source, where, kind, RANGE_SPECS)
    if kind == "choice":
        if not isinstance(args, list):
            raise ConfigError(
                f"{source}: {where}: expected {{ choice = [values...] }}, found {_found(spec)}"
            )
        return args
    if setting.kind == "str":
        raise ConfigError(
            f"{source}: {where}: expected {setting.expected} ({kind} needs a "
            f"numeric setting), found {_found(spec)}"
        )
    n_args = 3 if kind in ("linspace", "logspace") else 2
    form = {
        "linspace": "{ linspace = [start, stop, count] }, count a whole number >= 1",
        "logspace": "{ logspace = [start exponent, stop exponent, count] } (powers of 10), "
        "count a whole number >= 1",
        "uniform": "{ uniform = [low, high] } with low <= high",
        "loguniform": "{ loguniform = [low, high] } with 0 < low <= high",
    }[kind]
    ok = (
        isinstance(args, list)
        and len(args) == n_args
        and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            for v in args
        )
    )
    if ok and n_args == 3:
        ok = isinstance(args[2], int) and args[2] >= 1
    if ok and n_args == 2:
        ok = args[0] <= args[1] and (kind == "uniform" or args[0] > 0)
    if not ok:
        raise ConfigError(f"{source}: {where}: expected {form}, found {_found(spec)}")
    if kind in ("linspace", "logspace"):
        return _spaced_range(source, where, setting, spec, kind, args)
    return _draw_range(source, where, setting, spec, kind, args, mode)


def _start_count_range(source, where, setting, spec: dict) -> Spaced:
    """``{ start, count, step }``: whole numbers start + i * step, i < count."""
    keys = list(spec)
    allowed = {"start", "count", "step"}
    extra = [k for k in keys if k not in allowed]
    if extra:
        raise _unknown(source, where, extra[0], sorted(allowed))
    form = "{ start = a, count = n } (optionally step = s), whole numbers, n >= 1"
    start, count, step = spec.get("start", 0), spec.get("count"), spec.get("step", 1)
    if (
        any(isinstance(v, bool) or not isinstance(v, int) for v in (start, count, step))
        or count < 1
        or step == 0
    ):
        raise ConfigError(f"{source}: {where}: expected {form}, found {_found(spec)}")
    if setting.kind == "str":
        raise ConfigError(
            f"{source}: {where}: expected {setting.expected} (a range needs a "
            f"numeric setting), found {_found(spec)}"
        )
    # the ends as Python ints, before any int64 arithmetic: a range that leaves the setting's
    # bounds (or 64 bits) is refused with the value the user's range reaches, not a wrapped one
    for i in (0, count - 1):
        _check_value(source, f"{where}[{i}]", setting, start + i * step)
    values = Spaced("start", start, step, count, integer=True)
    _check_ends(source, where, setting, values)
    return values


def _spaced_range(source, where, setting, spec: dict, kind: str, args) -> Spaced:
    """``linspace`` / ``logspace``: count values, as numpy's functions give them."""
    a, b, n = float(args[0]), float(args[1]), int(args[2])
    # every value lies between the ends: refuse ends (or a difference) beyond float64 here,
    # before numpy computes them (and warns of the overflow)
    if kind == "logspace" and max(a, b) > MAX_EXPONENT:
        raise ConfigError(
            f"{source}: {where}: expected exponents of at most {MAX_EXPONENT:g} (powers of 10 "
            f"beyond about 1.8e308 are not float64 numbers), found {_found(spec)}"
        )
    if not math.isfinite(b - a):
        raise ConfigError(
            f"{source}: {where}: expected start and stop less than about 1.8e308 apart (their "
            f"difference must be a float64), found {_found(spec)}"
        )
    values = Spaced(kind, a, b, n, integer=False)
    if setting.kind == "int":
        # whole numbers: every value when few, else the ends and the step
        probe = np.arange(n) if n <= Spaced.SMALL else np.array([0, 1, n - 1])
        v = values.take(probe)
        if not np.all(v == np.round(v)) or not np.all(np.abs(v) < 2**62):
            bad = v[v != np.round(v)]
            raise ConfigError(
                f"{source}: {where}: expected whole numbers for "
                f"{setting.name}, found {kind} values like "
                f"{(bad[0] if bad.size else v[-1])!r}"
            )
        values = Spaced(kind, a, b, n, integer=True)
    _check_ends(source, where, setting, values)
    return values


def _draw_range(source, where, setting, spec: dict, kind: str, args, mode: str) -> Axis:
    """``uniform`` / ``loguniform`` bounds of a random-mode axis."""
    if mode != "random":
        raise ConfigError(
            f"{source}: {where}: expected a list, linspace, logspace or start/count "
            f"in mode = 'grid' ({kind} draws need mode = 'random'), found "
            f"{_found(spec)}"
        )
    low, high = float(args[0]), float(args[1])
    if setting.kind == "int":
        low, high = math.ceil(low), math.floor(high)
        if low > high:
            raise ConfigError(
                f"{source}: {where}: expected a range holding a whole number, found {_found(spec)}"
            )
    for bound in (low, high):
        _check_value(source, where, setting, int(bound) if setting.kind == "int" else bound)
    return Axis(setting.name, kind, low=low, high=high, spec=spec)


def _check_ends(source, where, setting, values: Spaced) -> None:
    """Check a range's values against the setting: each one when few, else the smallest and
    largest (a range is monotone, so every value lies between them)."""
    n = len(values)
    if n <= Spaced.SMALL:
        for i, v in enumerate(values.take(np.arange(n))):
            _check_value(source, f"{where}[{i}]", setting, v.item())
        return
    for i in (0, n - 1):
        _check_value(source, f"{where}[{i}]", setting, values[i])


def _cross_check(config: SweepConfig) -> None:
    """Checks across settings: parameter names vs hidden sizes, presets, data files."""
    src = config.source
    axes = config.axes
    hiddens = config.hiddens
    for key in [*config.fixed, *(a.name for a in axes)]:
        m = INIT_PARAM.match(key)
        if m:
            for h in hiddens:
                if m.group(1) not in param_names(h):
                    raise ConfigError(
                        f"{src}: {_where(key, axes)}: expected a parameter of the network "
                        f"(with hidden={h}: {', '.join(param_names(h))}), found {m.group(1)!r}"
                    )
    for t in config.values_of("trainable"):
        if t == "all":
            continue
        for h in hiddens:
            unknown = [n for n in t.split(",") if n not in param_names(h)]
            if unknown:
                raise ConfigError(
                    f"{src}: {_where('trainable', axes)}: expected 'all' or names of the "
                    f"parameters (with hidden={h}: {', '.join(param_names(h))}), found {t!r}"
                )
    optimizers = config.values_of("optimizer")
    swept_optimizer = any(a.name == "optimizer" for a in axes)
    for a in axes:
        owner = SETTINGS[a.name].optimizer if a.name in SETTINGS else None
        if owner is not None and owner not in optimizers:
            fix = (
                f'add "{owner}" to [sweep] optimizer'
                if swept_optimizer
                else f'set [train] optimizer = "{owner}"'
            )
            other = "choose another axis" if a.kind == "map" else "drop the axis"
            raise ConfigError(
                f"{src}: {_where(a.name, axes)}: expected optimizer {owner!r} among the "
                f"optimizers trained (only it uses {a.name}), found "
                f"{', '.join(map(repr, optimizers))}: its values would not be used; "
                f"{fix}, or {other}"
            )
    presets = [s for s in config.values_of("scheme") if s in PRESETS]
    if presets and hiddens != [2]:
        raise ConfigError(
            f"{src}: {_where('scheme', axes)}: expected a random scheme when hidden is not "
            f"2 (the preset {presets[0]!r} is the lessons' network), found hidden values "
            f"{', '.join(map(str, hiddens))}"
        )
    for d in config.values_of("dataset"):
        try:
            load_data(d, base_dir=config.base_dir)
        except DataError as exc:
            raise ConfigError(
                f"{src}: {_where('dataset', axes)}: expected "
                f"{SETTINGS['dataset'].expected}, found {d!r} ({exc})"
            ) from None
