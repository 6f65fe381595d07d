"""bpsweep: gradient descent on the StatQuest network, swept over starts and learning rates."""

from ._version import __version__
from .config import ConfigError, load_config
from .data import DataError, load_data
from .init import PRESETS, SCHEMES, draw_initial, initial_params
from .model import ACTIVATIONS, OPTIMIZERS, STATUSES, param_names
from .sweep import SweepError, run_sweep
from .trainer import TrainResult, train

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
