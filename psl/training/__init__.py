"""Training and evaluation: run configs, the training loop (early stopping, EMA, distillation),
assembling ensembles of trained models, and scoring a checkpoint on a split.

Imports :mod:`psl.models`; never imported by it.
"""

from psl.training.calibrate import calibrate, fit_calibration
from psl.training.config import RunConfig, TrainConfig, load_run_config, read_toml
from psl.training.ensemble import assemble
from psl.training.evaluation import evaluate, write_evaluation
from psl.training.imbalance import (
    class_weights,
    focal_loss,
    soft_cross_entropy,
    training_batches,
)
from psl.training.trainer import train
from psl.training.transfer import fit_checkpoint_transfer, read_references

__all__ = [
    "RunConfig",
    "TrainConfig",
    "assemble",
    "calibrate",
    "evaluate",
    "fit_calibration",
    "fit_checkpoint_transfer",
    "load_run_config",
    "read_toml",
    "read_references",
    "class_weights",
    "focal_loss",
    "soft_cross_entropy",
    "train",
    "training_batches",
    "write_evaluation",
]
