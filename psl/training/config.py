"""Run configurations: the ``[model]``, ``[data]`` and ``[train]`` tables of a TOML file.

A run config has three tables::

    [model]   fields of psl.models.ModelConfig
    [data]    fields of psl.data.DataConfig: split ("official" | "random"), val_fraction,
              seed, exclude_dual, subset, path
    [train]   fields of TrainConfig: epochs, batch_size, lr, weight_decay, patience, seed,
              select, grad_clip, lr_decay_patience, threads, preset_model, label_smoothing,
              ema_decay, teacher, distill_weight, distill_temperature, max_minutes,
              class_weights, focal_gamma, sampler, calibrate
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from psl.data import DataConfig
from psl.errors import ConfigError
from psl.models.family import ModelConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["TrainConfig", "RunConfig", "read_toml", "load_run_config"]


def _from_dict(cls: type, d: dict[str, Any], table: str) -> Any:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ConfigError(f"unknown [{table}] keys {unknown} (known: {sorted(known)})")
    return cls(**d)


@dataclass
class TrainConfig:
    """The ``[train]`` table.

    Attributes:
        epochs: maximum number of epochs.
        batch_size: proteins per batch (length-bucketed).
        lr: Adam learning rate.
        weight_decay: AdamW weight decay.
        patience: stop after this many epochs without improvement of ``select``.
        lr_decay_patience: halve the learning rate after this many epochs without improvement.
        seed: seed of initialisation, batch order and dropout.
        select: validation metric to select on: ``accuracy``, ``macro_f1`` or ``loss``.
        grad_clip: max gradient norm (0 = off).
        threads: torch CPU threads (0 = leave torch's default).
        preset_model: checkpoint whose learned attention is frozen into ``preset`` training
            (the MLP diagnostic); empty = train with the model's own attention.
        eval_batch_size: proteins per batch at evaluation.
        label_smoothing: label smoothing of the cross-entropy (0 = off).
        ema_decay: keep an exponential moving average of the weights (updated after every
            step; ``torch.optim.swa_utils.AveragedModel``) and validate/save the average
            instead of the raw weights; 0 = off.
        init: checkpoint whose weights start the training (continue a run that stopped at
            its time budget, or fine-tune); its ``[model]`` must equal this run's. The
            optimizer, learning-rate schedule and weight average start afresh. Empty = random
            initialisation (seeded).
        teacher: checkpoint (a model or an ensemble) whose class probabilities on the
            training set are distilled into the student (Hinton et al. 2015), or a table of
            class probabilities per training protein (TSV/CSV/Parquet with ``sha1`` of the
            sequence, ``accession`` or ``id``, and one ``p_<class>`` column per class, as
            ``psl predict`` writes; a
            teacher that cannot run here, e.g. one using a language model's embeddings);
            empty = off.
        distill_weight: weight of the distillation term; the loss is
            ``(1 - w) * CE(labels) + w * T^2 * KL(teacher_T || student_T)``.
        distill_temperature: softmax temperature ``T`` of both distributions in the KL term.
        max_minutes: stop after the epoch during which this much training time has passed
            (0 = no limit); the run then finishes normally with its best epoch so far, and
            ``metrics.json`` records ``stopped: "time_limit"``.
        class_weights: class-weighted loss from the training counts: ``none``, ``inv_sqrt``
            or ``inverse`` (see :mod:`psl.training.imbalance`).
        focal_gamma: focal loss exponent (0 = cross-entropy; not with label_smoothing).
        sampler: ``shuffle`` (each protein once per epoch) or ``balanced`` (classes drawn
            equally often, with replacement).
        calibrate: after training, fit on validation ``none``, ``temperature`` or
            ``temperature+offsets`` (per-class logit offsets maximising macro-F1) and store it
            in the checkpoint's ``calibration.json`` (see :mod:`psl.models.calibration`).
    """

    epochs: int = 30
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 5
    lr_decay_patience: int = 2
    seed: int = 0
    select: str = "accuracy"
    grad_clip: float = 5.0
    threads: int = 2
    preset_model: str = ""
    eval_batch_size: int = 64
    label_smoothing: float = 0.0
    ema_decay: float = 0.0
    init: str = ""
    teacher: str = ""
    distill_weight: float = 0.5
    distill_temperature: float = 2.0
    max_minutes: float = 0.0
    class_weights: str = "none"
    focal_gamma: float = 0.0
    sampler: str = "shuffle"
    calibrate: str = "none"

    def __post_init__(self) -> None:
        if self.select not in ("accuracy", "macro_f1", "loss"):
            raise ConfigError(f"[train] select must be accuracy, macro_f1 or loss: {self.select!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.patience < 1 or self.lr <= 0:
            raise ConfigError("[train] epochs, batch_size, patience must be >= 1 and lr > 0")
        if not (0.0 <= self.label_smoothing < 1.0 and 0.0 <= self.ema_decay < 1.0
                and 0.0 <= self.distill_weight <= 1.0 and self.distill_temperature > 0):
            raise ConfigError("[train] label_smoothing and ema_decay must be in [0, 1), "
                             "distill_weight in [0, 1] and distill_temperature > 0")
        if self.teacher and self.preset_model:
            raise ConfigError("[train] teacher and preset_model cannot be combined")
        if self.max_minutes < 0:
            raise ConfigError(f"[train] max_minutes must be >= 0, got {self.max_minutes}")
        choices = (("class_weights", ("none", "inv_sqrt", "inverse")),
                   ("sampler", ("shuffle", "balanced")),
                   ("calibrate", ("none", "temperature", "temperature+offsets")))
        for key, allowed in choices:
            if getattr(self, key) not in allowed:
                raise ConfigError(f"[train] {key} must be one of {allowed}, got "
                                  f"{getattr(self, key)!r}")
        if self.focal_gamma < 0:
            raise ConfigError(f"[train] focal_gamma must be >= 0, got {self.focal_gamma}")
        if self.focal_gamma and self.label_smoothing:
            raise ConfigError("[train] focal_gamma cannot be combined with label_smoothing")


@dataclass
class RunConfig:
    """A full run config: model, data and train tables."""

    model: ModelConfig
    data: DataConfig
    train: TrainConfig

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        """Build from ``{"model": {...}, "data": {...}, "train": {...}}`` (tables optional).

        Raises:
            ValueError: unknown tables/keys or invalid values.
        """
        unknown = sorted(set(d) - {"model", "data", "train", "name", "description"})
        if unknown:
            raise ConfigError(f"unknown config tables {unknown} (expected model, data, train)")
        return cls(
            ModelConfig.from_dict(d.get("model", {})),
            _from_dict(DataConfig, d.get("data", {}), "data"),
            _from_dict(TrainConfig, d.get("train", {}), "train"),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form."""
        return {"model": self.model.to_dict(), "data": asdict(self.data),
                "train": asdict(self.train)}


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file.

    Raises:
        FileNotFoundError: missing file.
        ValueError: TOML syntax errors (with the file name).
    """
    path = Path(path)
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None


def load_run_config(path: str | Path) -> RunConfig:
    """Read a TOML run config.

    Raises:
        FileNotFoundError: missing file.
        ValueError: TOML syntax errors (with the file name) and invalid values.
    """
    d = read_toml(path)
    try:
        return RunConfig.from_dict(d)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{path}: {e}") from None


