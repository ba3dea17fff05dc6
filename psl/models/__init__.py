"""Models: the model family, ensembles of trained models, checkpoints, inference, devices.

No training code lives here (see :mod:`psl.training`); everything above imports from here.
"""

from psl.errors import CheckpointError
from psl.models.calibration import Calibration, load_calibration, save_calibration
from psl.models.checkpoint import DEFAULT_MODEL_DIR, LoadedModel, load_model, save_model
from psl.models.device import DEVICES, resolve_device
from psl.models.ensemble import ModelEnsemble
from psl.models.family import (
    ATTENTION_MODES,
    ENCODINGS,
    LocalizationModel,
    ModelBase,
    ModelConfig,
    ModelOutput,
)
from psl.models.inference import Inference, infer, network_probabilities, predict

__all__ = [
    "ATTENTION_MODES",
    "Calibration",
    "DEFAULT_MODEL_DIR",
    "DEVICES",
    "ENCODINGS",
    "CheckpointError",
    "Inference",
    "LoadedModel",
    "LocalizationModel",
    "ModelBase",
    "ModelConfig",
    "ModelEnsemble",
    "ModelOutput",
    "infer",
    "load_calibration",
    "load_model",
    "network_probabilities",
    "predict",
    "resolve_device",
    "save_calibration",
    "save_model",
]
