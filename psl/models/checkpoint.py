"""Model checkpoints: a directory with weights, config, alphabet, class list and metrics.

Layout of a checkpoint directory::

    weights.pt     the state_dict (plain tensors; loaded with ``torch.load(weights_only=True)``)
    config.json    {"model": ModelConfig, "data": ..., "train": ...} (the run's full config)
    meta.json      format version, classes, token letters, encoding, input feature size
    metrics.json   whatever the trainer/evaluator recorded (optional)
    calibration.json  temperature and per-class logit offsets fitted on validation (optional;
                   see :mod:`psl.models.calibration`; absent = uncalibrated)
    transfer.json, references.tsv.gz  homology transfer from the nearest reference protein
                   (optional; see :mod:`psl.transfer`; written by ``psl transfer``)

An ensemble (:class:`psl.models.ensemble.ModelEnsemble`) uses the same files: ``meta.json`` has
``members: N``, ``config.json`` lists each member's model table under ``members`` and
``weights.pt`` holds every member's weights (keys ``members.<i>.*``).

No pickled code is ever executed when loading.
"""

from __future__ import annotations

import importlib.resources
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from kb.atomic import atomic_path
from kb.classes import LOCATION_CLASSES
from psl.data import TOKEN_LETTERS
from psl.errors import CheckpointError
from psl.models.calibration import CALIBRATION_FILE, Calibration, load_calibration
from psl.models.ensemble import ModelEnsemble
from psl.models.family import LocalizationModel, ModelConfig
from psl.transfer import REFERENCES_FILE, TRANSFER_FILE, HomologyTransfer, load_transfer

__all__ = [
    "DEFAULT_MODEL_DIR",
    "FORMAT_VERSION",
    "CheckpointError",
    "LoadedModel",
    "save_model",
    "load_model",
    "check_checkpoint",
    "write_json_atomic",
]

def _default_model_dir() -> Path:
    """``models/default`` of a source checkout, else the copy installed as package data
    (``psl._default_model``: the wheel maps ``models/default`` to it, see pyproject.toml)."""
    checkout = Path(__file__).resolve().parents[2] / "models" / "default"
    if (checkout / "weights.pt").is_file():
        return checkout
    try:  # a namespace (data-only) package: ask for a file in it, not the directory
        weights = Path(str(importlib.resources.files("psl._default_model") / "weights.pt"))
    except ModuleNotFoundError:
        return checkout
    return weights.parent if weights.is_file() else checkout


#: The shipped default model (used when no ``--model`` is given): ``models/default`` in a
#: checkout, the package-data copy in an installed wheel.
DEFAULT_MODEL_DIR = _default_model_dir()
FORMAT_VERSION = 1


@dataclass
class LoadedModel:
    """A model ready for inference.

    Attributes:
        model: the :class:`LocalizationModel` (or :class:`ModelEnsemble`), in eval mode.
        config: its :class:`ModelConfig` (member 0's for an ensemble; ``max_len`` etc.; pass
            to ``psl.data.encode_batch``).
        classes: the 10 class names, in output order (:data:`kb.classes.LOCATION_CLASSES`).
        alphabet: letters of tokens 1..N (token 0 is padding).
        encoding: the input encoding name (``onehot``, ``blosum62``, ...).
        run_config: the full training config (model, data, train tables).
        metrics: contents of ``metrics.json`` (empty if absent).
        path: the checkpoint directory.
        calibration: temperature / logit offsets applied to printed probabilities
            (identity when the checkpoint has no ``calibration.json``).
        transfer: homology transfer combined with the calibrated probabilities by
            :func:`psl.models.inference.predict` (None without ``transfer.json``).
    """

    model: LocalizationModel | ModelEnsemble
    config: ModelConfig
    classes: list[str]
    alphabet: str
    encoding: str
    run_config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    calibration: Calibration = field(default_factory=Calibration)
    transfer: HomologyTransfer | None = None


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON via a temporary file in the same directory."""
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        json.dump(obj, fh, indent=2, sort_keys=False)
        fh.write("\n")


def save_model(
    path: str | Path,
    model: LocalizationModel | ModelEnsemble,
    run_config: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
) -> Path:
    """Save a checkpoint directory (created if needed; files replaced atomically).

    A ``calibration.json`` left from earlier weights in ``path`` is removed: it belonged to
    other weights (refit it with ``psl calibrate``); so are ``transfer.json`` and
    ``references.tsv.gz`` (refit with ``psl transfer``).

    Arguments:
        path: directory.
        model: the model or ensemble (its config, and each member's, is stored).
        run_config: the full run config; its ``model`` table is overwritten by the model's.
        metrics: optional metrics to store in ``metrics.json``.

    Returns:
        The directory.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    for name in (CALIBRATION_FILE, TRANSFER_FILE, REFERENCES_FILE):
        (path / name).unlink(missing_ok=True)
    cfg = dict(run_config or {})
    cfg["model"] = model.config.to_dict()
    n_members = 1
    if isinstance(model, ModelEnsemble):
        n_members = model.n_members
        cfg["members"] = [m.config.to_dict() for m in model.members]
    else:
        cfg.pop("members", None)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path / "weights.pt") as tmp:
        torch.save(state, tmp)
    write_json_atomic(path / "config.json", cfg)
    write_json_atomic(
        path / "meta.json",
        {
            "format_version": FORMAT_VERSION,
            "classes": list(LOCATION_CLASSES),
            "alphabet": TOKEN_LETTERS,
            "pad_token": 0,
            "encoding": model.config.encoding,
            "input_dim": model.input_dim,
            "n_parameters": sum(p.numel() for p in model.parameters()),
            "members": n_members,
        },
    )
    if metrics is not None:
        write_json_atomic(path / "metrics.json", metrics)
    return path


def check_checkpoint(path: str | Path) -> Path:
    """``path`` if it is a checkpoint directory (with ``weights.pt``, ``config.json`` and
    ``meta.json``); whether their contents load is :func:`load_model`'s to find out.

    Raises:
        CheckpointError: a missing directory or file.
    """
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError("model directory not found", path)
    for name in ("weights.pt", "config.json", "meta.json"):
        if not (path / name).is_file():
            raise CheckpointError(f"not a model checkpoint: {name} is missing", path)
    return path


def load_model(path: str | Path | None = None, device: str | torch.device = "cpu") -> LoadedModel:
    """Load a checkpoint directory without executing pickled code (``weights_only=True``).

    Arguments:
        path: checkpoint directory; default :data:`DEFAULT_MODEL_DIR`.
        device: where to put the model.

    Returns:
        A :class:`LoadedModel` with the model in eval mode.

    Raises:
        CheckpointError: missing directory/files, a class list or alphabet that differs from
            this code's, or weights that do not fit the config.
    """
    path = check_checkpoint(path if path is not None else DEFAULT_MODEL_DIR)
    try:
        run_config = json.loads((path / "config.json").read_text())
        meta = json.loads((path / "meta.json").read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"unreadable JSON: {e}", path) from None
    if meta.get("classes") != list(LOCATION_CLASSES):
        raise CheckpointError(
            f"class list {meta.get('classes')} differs from kb.classes.LOCATION_CLASSES", path
        )
    if meta.get("alphabet") != TOKEN_LETTERS:
        raise CheckpointError(
            f"alphabet {meta.get('alphabet')!r} differs from psl.data.TOKEN_LETTERS", path
        )
    config = ModelConfig.from_dict(run_config.get("model", {}))
    n_members = meta.get("members", 1)
    model: LocalizationModel | ModelEnsemble
    if n_members == 1:
        model = LocalizationModel(config)
    else:
        tables = run_config.get("members")
        if not isinstance(tables, list) or len(tables) != n_members:
            raise CheckpointError(f"meta.json says {n_members} members but config.json lists "
                                  f"{len(tables) if isinstance(tables, list) else 'none'}", path)
        model = ModelEnsemble([LocalizationModel(ModelConfig.from_dict(t)) for t in tables])
    state = torch.load(path / "weights.pt", map_location="cpu", weights_only=True)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise CheckpointError(f"weights do not match the config: {e}", path) from None
    model.to(device).eval()
    metrics = {}
    if (path / "metrics.json").is_file():
        metrics = json.loads((path / "metrics.json").read_text())
    try:
        transfer = load_transfer(path)
    except ValueError as e:
        raise CheckpointError(str(e), path) from None
    return LoadedModel(model, config, list(meta["classes"]), meta["alphabet"], config.encoding,
                       run_config, metrics, path, load_calibration(path), transfer)
