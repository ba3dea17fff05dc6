"""Training and evaluation: run configs, the training loop (early stopping, EMA, distillation),
assembling ensembles of trained models, and scoring a checkpoint on a split.

Imports :mod:`psl.models`; never imported by it.
"""

from psl.training.config import RunConfig, TrainConfig, load_run_config, read_toml
from psl.training.ensemble import assemble
from psl.training.evaluation import evaluate, write_evaluation
from psl.training.trainer import train

__all__ = [
    "RunConfig",
    "TrainConfig",
    "assemble",
    "evaluate",
    "load_run_config",
    "read_toml",
    "train",
    "write_evaluation",
]
