"""bpsweep: gradient descent on the StatQuest network, swept over starts and learning rates.

The names below are imported when first used (``bpsweep.train``, ``from bpsweep import
run_sweep``): importing the package costs nothing, so a command that does not train (``bpsweep
analyse``) does not load numba and the kernels (0.4-0.5 s at every start).
"""

from importlib import import_module

from ._version import __version__

#: name -> the module (relative to this package) it comes from.
_EXPORTS = {
    "ACTIVATIONS": ".model",
    "OPTIMIZERS": ".model",
    "STATUSES": ".model",
    "param_names": ".model",
    "DataError": ".engine.data",
    "load_data": ".engine.data",
    "PRESETS": ".engine.starts",
    "SCHEMES": ".engine.starts",
    "draw_initial": ".engine.starts",
    "initial_params": ".engine.starts",
    "TrainResult": ".engine.trainer",
    "train": ".engine.trainer",
    "ConfigError": ".sweeps.config",
    "load_config": ".sweeps.config",
    "SweepError": ".sweeps.runner",
    "run_sweep": ".sweeps.runner",
}


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value  # once
    return value


def __dir__():
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "__version__",
    "ACTIVATIONS",
    "OPTIMIZERS",
    "PRESETS",
    "SCHEMES",
    "STATUSES",
    "ConfigError",
    "DataError",
    "SweepError",
    "TrainResult",
    "draw_initial",
    "initial_params",
    "load_config",
    "load_data",
    "param_names",
    "run_sweep",
    "train",
]
