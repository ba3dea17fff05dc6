"""Training with early stopping on the validation set, from a TOML run config.

A run config has three tables::

    [model]   fields of psl.models.ModelConfig
    [data]    split ("official" | "random"), val_fraction, seed, exclude_dual, subset, path
    [train]   epochs, batch_size, lr, weight_decay, patience, seed, select, grad_clip,
              lr_decay_patience, threads, preset_model, label_smoothing, ema_decay,
              teacher, distill_weight, distill_temperature, max_minutes

Every epoch is one JSON line (stdout callback and ``epochs.jsonl``); the best epoch (by the
``select`` validation metric) is saved as a checkpoint in ``OUT/`` (see :mod:`psl.checkpoint`)
together with its validation and test metrics.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from kb.classes import LOCATION_CLASSES
from psl.checkpoint import load_model, save_model, write_json_atomic
from psl.data import DEFAULT_DEEPLOC_PATH, EncodedSet, make_splits, read_deeploc
from psl.metrics import accuracy, classification_report, macro_f1
from psl.models import LocalizationModel, ModelConfig
from psl.predict import infer, preset_batch

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "DataConfig",
    "TrainConfig",
    "RunConfig",
    "load_run_config",
    "read_toml",
    "resolve_device",
    "load_splits",
    "teacher_attention",
    "teacher_probabilities",
    "train",
]


def _from_dict(cls: type, d: dict[str, Any], table: str) -> Any:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(f"unknown [{table}] keys {unknown} (known: {sorted(known)})")
    return cls(**d)


@dataclass
class DataConfig:
    """The ``[data]`` table.

    Attributes:
        path: DeepLoc FASTA (empty = the shipped ``data/deeploc1`` copy).
        split: ``official`` (DeepLoc test set; val carved from train) or ``random`` (70/15/15).
        val_fraction: validation share of the official training set (stratified).
        seed: seed of the split.
        exclude_dual: drop the 146 ``Cytoplasm-Nucleus`` proteins.
        subset: if > 0, keep at most this many proteins per split (seeded; for quick runs).
    """

    path: str = ""
    split: str = "official"
    val_fraction: float = 0.1
    seed: int = 0
    exclude_dual: bool = True
    subset: int = 0

    def __post_init__(self) -> None:
        if self.split not in ("official", "random"):
            raise ValueError(f"[data] split must be 'official' or 'random', got {self.split!r}")
        if self.subset < 0:
            raise ValueError(f"[data] subset must be >= 0, got {self.subset}")


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
        teacher: checkpoint (a model or an ensemble) whose class probabilities on the
            training set are distilled into the student (Hinton et al. 2015); empty = off.
        distill_weight: weight of the distillation term; the loss is
            ``(1 - w) * CE(labels) + w * T^2 * KL(teacher_T || student_T)``.
        distill_temperature: softmax temperature ``T`` of both distributions in the KL term.
        max_minutes: stop after the epoch during which this much training time has passed
            (0 = no limit); the run then finishes normally with its best epoch so far, and
            ``metrics.json`` records ``stopped: "time_limit"``.
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
    teacher: str = ""
    distill_weight: float = 0.5
    distill_temperature: float = 2.0
    max_minutes: float = 0.0

    def __post_init__(self) -> None:
        if self.select not in ("accuracy", "macro_f1", "loss"):
            raise ValueError(f"[train] select must be accuracy, macro_f1 or loss: {self.select!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.patience < 1 or self.lr <= 0:
            raise ValueError("[train] epochs, batch_size, patience must be >= 1 and lr > 0")
        if not (0.0 <= self.label_smoothing < 1.0 and 0.0 <= self.ema_decay < 1.0
                and 0.0 <= self.distill_weight <= 1.0 and self.distill_temperature > 0):
            raise ValueError("[train] label_smoothing and ema_decay must be in [0, 1), "
                             "distill_weight in [0, 1] and distill_temperature > 0")
        if self.teacher and self.preset_model:
            raise ValueError("[train] teacher and preset_model cannot be combined")
        if self.max_minutes < 0:
            raise ValueError(f"[train] max_minutes must be >= 0, got {self.max_minutes}")


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
            raise ValueError(f"unknown config tables {unknown} (expected model, data, train)")
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
        raise ValueError(f"{path}: invalid TOML: {e}") from None


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
        raise ValueError(f"{path}: {e}") from None


def resolve_device(device: str) -> torch.device:
    """``auto`` -> CUDA if available else CPU; ``cpu``; ``cuda``.

    Raises:
        ValueError: an unknown name, or ``cuda`` without a GPU.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("--device cuda requested but no CUDA device is available")
        return torch.device("cuda")
    raise ValueError(f"unknown device {device!r} (expected auto, cpu or cuda)")


def load_splits(data: DataConfig) -> dict[str, pd.DataFrame]:
    """The train/val/test DataFrames a data config describes (seeded, reproducible)."""
    df = read_deeploc(data.path or DEFAULT_DEEPLOC_PATH)
    splits = make_splits(df, data.split, data.val_fraction, data.seed, data.exclude_dual)
    if data.subset:
        rng = np.random.default_rng(data.seed + 1)
        splits = {
            k: (v.iloc[np.sort(rng.permutation(len(v))[: data.subset])].reset_index(drop=True)
                if len(v) > data.subset else v)
            for k, v in splits.items()
        }
    return splits


def teacher_attention(
    teacher_dir: str | Path, data: EncodedSet, device: torch.device | str = "cpu",
    batch_size: int = 64,
) -> list[np.ndarray]:
    """Residue-level learned attention of a trained model on every protein of ``data``.

    Used to train and test the MLP with ``preset`` attention (Wiegreffe & Pinter 2019).

    Raises:
        ValueError: the teacher crops sequences differently from ``data``.
    """
    teacher = load_model(teacher_dir, device=device)
    lengths = [len(t) for t, _ in data.encoded]
    res = infer(teacher.model, data, batch_size=batch_size, device=device, keep_attention=True)
    if [len(a) for a in res.attention] != lengths:
        raise ValueError(f"teacher {teacher_dir} uses max_len {teacher.config.max_len}, which "
                         "crops differently from the student's")
    return res.attention


def teacher_probabilities(
    teacher_dir: str | Path, sequences: list[str], device: torch.device | str = "cpu",
    temperature: float = 1.0, batch_size: int = 64,
) -> np.ndarray:
    """Class probabilities ``N x C`` of a trained model (or ensemble) at a softmax temperature.

    The teacher crops the sequences with its own ``max_len``. Used for distillation.
    """
    teacher = load_model(teacher_dir, device=device)
    data = EncodedSet(sequences, None, teacher.config.max_len)
    logits = torch.from_numpy(infer(teacher.model, data, batch_size, device=device).logits)
    return torch.softmax(logits / temperature, dim=1).numpy()


def _evaluate(model: LocalizationModel, data: EncodedSet, cfg: TrainConfig, device: torch.device,
              presets: list[np.ndarray] | None) -> tuple[dict[str, float], np.ndarray]:
    attention = "preset" if presets is not None else "learned"
    res = infer(model, data, cfg.eval_batch_size, attention=attention, presets=presets,
                device=device)
    y = data.labels.numpy()
    loss = float(F.cross_entropy(torch.from_numpy(res.logits), data.labels).item())
    pred = res.logits.argmax(1)
    return (
        {"loss": loss, "accuracy": accuracy(y, pred),
         "macro_f1": macro_f1(y, pred, len(LOCATION_CLASSES))},
        pred,
    )


def train(
    run: RunConfig,
    out: str | Path,
    device: str = "auto",
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    progress: bool = False,
    n_boot: int = 1000,
) -> dict[str, Any]:
    """Train a model and save the best epoch as a checkpoint in ``out``.

    Arguments:
        run: the run config.
        out: output directory (checkpoint, ``epochs.jsonl``).
        device: ``auto``, ``cpu`` or ``cuda``.
        on_epoch: called with each epoch's record.
        progress: show a rich progress bar with the running loss.
        n_boot: bootstrap resamples for the final intervals.

    Returns:
        The metrics stored in ``metrics.json`` (best epoch, val and test reports, timings).

    Raises:
        ValueError: bad config values or device.
    """
    tc = run.train
    dev = resolve_device(device)
    if tc.threads > 0:
        torch.set_num_threads(tc.threads)
    torch.manual_seed(tc.seed)
    np.random.seed(tc.seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    splits = load_splits(run.data)
    sets = {k: EncodedSet(v["sequence"].tolist(), v["label"].tolist(), run.model.max_len)
            for k, v in splits.items()}
    presets = None
    if tc.preset_model:
        presets = {k: teacher_attention(tc.preset_model, s, dev) for k, s in sets.items()}
    soft = None
    if tc.teacher:
        soft = teacher_probabilities(tc.teacher, splits["train"]["sequence"].tolist(), dev,
                                     tc.distill_temperature, tc.eval_batch_size)
    encode_s = time.perf_counter() - t0

    model = LocalizationModel(run.model).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    ema = None
    if tc.ema_decay > 0:
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(tc.ema_decay),
                            use_buffers=True)
    scored = ema.module if ema is not None else model  # the weights validated and saved
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="min" if tc.select == "loss" else "max", factor=0.5,
        patience=tc.lr_decay_patience,
    )
    sign = -1.0 if tc.select == "loss" else 1.0
    best_score = -math.inf
    best_epoch = 0
    best_state: dict[str, torch.Tensor] | None = None
    history: list[dict[str, Any]] = []
    log_path = out / "epochs.jsonl"
    log_path.write_text("")
    train_set = sets["train"]
    n_batches = math.ceil(len(train_set) / tc.batch_size)
    t_train = time.perf_counter()
    stopped = "epochs"

    bar = None
    if progress:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        bar = Progress(TextColumn("[bold]epoch {task.fields[epoch]}"), BarColumn(),
                       MofNCompleteColumn(), TextColumn("loss {task.fields[loss]:.4f}"),
                       TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                       TimeRemainingColumn(), transient=False,
                       console=Console(stderr=True))
        bar.start()
        task = bar.add_task("train", total=tc.epochs * n_batches, epoch=1, loss=float("nan"),
                            info="")
    try:
        for epoch in range(1, tc.epochs + 1):
            model.train()
            te = time.perf_counter()
            total_loss = 0.0
            correct = 0
            seen = 0
            for idx, batch, labels in train_set.batches(tc.batch_size, shuffle=True,
                                                        seed=tc.seed * 1000 + epoch):
                b = batch.to(dev)
                y = labels.to(dev)
                pre = (preset_batch(presets["train"], idx, b.tokens.shape[1]).to(dev)
                       if presets else None)
                outp = model(b.tokens, b.mask, attention="preset" if presets else "learned",
                             preset=pre)
                loss = F.cross_entropy(outp.logits, y, label_smoothing=tc.label_smoothing)
                if soft is not None:
                    t_probs = torch.from_numpy(soft[idx]).to(dev)
                    temp = tc.distill_temperature
                    kl = F.kl_div(F.log_softmax(outp.logits / temp, dim=1), t_probs,
                                  reduction="batchmean") * temp * temp
                    loss = (1.0 - tc.distill_weight) * loss + tc.distill_weight * kl
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if tc.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
                opt.step()
                if ema is not None:
                    ema.update_parameters(model)
                total_loss += float(loss.item()) * len(idx)
                correct += int((outp.logits.argmax(1) == y).sum().item())
                seen += len(idx)
                if bar is not None:
                    bar.update(task, advance=1, epoch=epoch, loss=total_loss / seen)
            train_s = time.perf_counter() - te
            val, _ = _evaluate(scored, sets["val"], tc, dev, presets["val"] if presets else None)
            score = sign * val[tc.select]
            improved = score > best_score
            if improved:
                best_score, best_epoch = score, epoch
                best_state = {k: v.detach().cpu().clone() for k, v in scored.state_dict().items()}
                # keep the best model on disk as we go (an interrupted run is still usable)
                snapshot = LocalizationModel(run.model)
                snapshot.load_state_dict(best_state)
                save_model(out, snapshot, run.to_dict(),
                           {"best_epoch": epoch, "finished": False, "val_so_far": val})
            sched.step(val[tc.select])
            rec = {
                "epoch": epoch,
                "train_loss": total_loss / seen,
                "train_accuracy": correct / seen,
                "val_loss": val["loss"],
                "val_accuracy": val["accuracy"],
                "val_macro_f1": val["macro_f1"],
                "lr": opt.param_groups[0]["lr"],
                "train_seconds": round(train_s, 2),
                "epoch_seconds": round(time.perf_counter() - te, 2),
                "best": improved,
            }
            history.append(rec)
            with open(log_path, "a") as fh:
                fh.write(json.dumps(rec) + "\n")
            if on_epoch is not None:
                on_epoch(rec)
            if bar is not None:
                bar.update(task, info=f"val acc {val['accuracy']:.3f} "
                                      f"F1 {val['macro_f1']:.3f}")
            if epoch - best_epoch >= tc.patience:
                stopped = "patience"
                break
            if tc.max_minutes and time.perf_counter() - t_train >= 60.0 * tc.max_minutes:
                stopped = "time_limit"
                break
    finally:
        if bar is not None:
            bar.stop()

    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    metrics: dict[str, Any] = {
        "best_epoch": best_epoch,
        "finished": True,
        "epochs_run": len(history),
        "stopped": stopped,
        "select": tc.select,
        "encode_seconds": round(encode_s, 2),
        "mean_train_seconds_per_epoch": round(
            float(np.mean([h["train_seconds"] for h in history])), 2),
        "device": str(dev),
        "torch_threads": torch.get_num_threads(),
        "n_train": len(sets["train"]),
        "n_val": len(sets["val"]),
        "n_test": len(sets["test"]),
        "n_parameters": sum(p.numel() for p in model.parameters()),
    }
    for name in ("val", "test"):
        _, pred = _evaluate(model, sets[name], tc, dev, presets[name] if presets else None)
        metrics[name] = classification_report(sets[name].labels.numpy(), pred,
                                              list(LOCATION_CLASSES), n_boot=n_boot,
                                              seed=tc.seed)
    model.cpu()
    save_model(out, model, run.to_dict(), metrics)
    write_json_atomic(out / "history.json", history)
    return metrics
