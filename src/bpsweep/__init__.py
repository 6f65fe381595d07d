"""bpsweep: gradient descent on the StatQuest network, swept over starts and learning rates."""

from ._version import __version__
from .engine.data import DataError, load_data
from .engine.starts import PRESETS, SCHEMES, draw_initial, initial_params
from .engine.trainer import TrainResult, train
from .model import ACTIVATIONS, OPTIMIZERS, STATUSES, param_names
from .sweeps.config import ConfigError, load_config
from .sweeps.runner import SweepError, run_sweep

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
