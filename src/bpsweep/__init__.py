"""bpsweep: gradient descent on the StatQuest network, swept over starts and learning rates."""

from .data import DataError, load_data
from .init import PRESETS, SCHEMES, draw_initial, initial_params
from .model import ACTIVATIONS, OPTIMIZERS, STATUSES, param_names
from .trainer import TrainResult, train

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "OPTIMIZERS",
    "PRESETS",
    "SCHEMES",
    "STATUSES",
    "DataError",
    "TrainResult",
    "draw_initial",
    "initial_params",
    "load_data",
    "param_names",
    "train",
]
