"""Training with early stopping on the validation set, from a TOML run config.

A run config has three tables::

    [model]   fields of psl.models.ModelConfig
    [data]    split ("official" | "random"), val_fraction, seed, exclude_dual, subset, path
    [train]   epochs, batch_size, lr, weight_decay, patience, seed, select, grad_clip,
              lr_decay_patience, threads, preset_model, label_smoothing, ema_decay,
              teacher, distill_weight, distill_temperature, max_minutes

Every epoch is one JSON line (stdout callback and ``epochs.jsonl``); the best epoch (by the
``select`` validation metric) is saved as a checkpoint in ``OUT/`` (see
:mod:`psl.models.checkpoint`) together with its validation and test metrics.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from kb.classes import LOCATION_CLASSES
from psl.data import EncodedSet, load_splits
from psl.errors import CheckpointError, ConfigError
from psl.metrics import accuracy, classification_report, macro_f1
from psl.models.checkpoint import check_checkpoint, load_model, save_model, write_json_atomic
from psl.models.device import resolve_device
from psl.models.family import LocalizationModel
from psl.models.inference import infer, preset_batch
from psl.sources import target_distribution, write_training_set
from psl.training.calibrate import calibrate_after_training
from psl.training.config import RunConfig, TrainConfig
from psl.training.imbalance import make_loss, training_batches

__all__ = [
    "teacher_attention",
    "teacher_probabilities",
    "train",
]


def teacher_attention(
    teacher_dir: str | Path, data: EncodedSet, device: torch.device | str = "cpu",
    batch_size: int = 64,
) -> list[np.ndarray]:
    """Residue-level learned attention of a trained model on every protein of ``data``.

    Used to train and test the MLP with ``preset`` attention (Wiegreffe & Pinter 2019).

    Raises:
        ConfigError: the teacher crops sequences differently from ``data``.
    """
    teacher = load_model(teacher_dir, device=device)
    lengths = [len(t) for t, _ in data.encoded]
    res = infer(teacher.model, data, batch_size=batch_size, device=device, keep_attention=True)
    if [len(a) for a in res.attention] != lengths:
        raise ConfigError(f"teacher {teacher_dir} uses max_len {teacher.config.max_len}, which "
                          "crops differently from the student's")
    return res.attention


def teacher_probabilities(
    teacher_dir: str | Path, sequences: list[str], device: torch.device | str = "cpu",
    temperature: float = 1.0, batch_size: int = 64, accessions: list[str] | None = None,
) -> np.ndarray:
    """Class probabilities ``N x C`` of a trained model (or ensemble) at a softmax temperature.

    The teacher crops the sequences with its own ``max_len``. Used for distillation. A
    ``teacher_dir`` that is a file is a probability table (:func:`table_probabilities`; the
    proteins are looked up by ``accessions``).
    """
    if Path(teacher_dir).is_file():
        if accessions is None:
            raise ConfigError(f"the teacher table {teacher_dir} needs the proteins' accessions")
        return table_probabilities(teacher_dir, accessions, temperature, sequences)
    teacher = load_model(teacher_dir, device=device)
    data = EncodedSet(sequences, None, teacher.config.max_len)
    logits = torch.from_numpy(infer(teacher.model, data, batch_size, device=device).logits)
    return torch.softmax(logits / temperature, dim=1).numpy()


def table_probabilities(path: str | Path, accessions: list[str], temperature: float = 1.0,
                        sequences: list[str] | None = None) -> np.ndarray:
    """Class probabilities ``N x C`` of the training proteins from a teacher table, at a
    softmax temperature: ``p^(1/T)``, renormalised (the table's probabilities taken as
    ``softmax(logits)``).

    The table has ``p_<class>`` for every class and a key: ``sha1`` (of the sequence, as
    dataset tables have it; looked up from ``sequences``, so a dataset that lists an accession
    twice with two sequences is served), else ``accession``, else ``id`` (looked up from
    ``accessions``).

    Raises:
        ConfigError: unreadable table, a missing column, a protein listed twice,
            probabilities that are not >= 0 with a positive sum, or training proteins missing
            from it (the first few named).
    """
    from psl.tables_io import read_table

    try:
        table = read_table(path)
    except (OSError, ValueError) as e:
        raise ConfigError(f"[train] teacher table {path}: {e}") from None
    if "sha1" in table and sequences is not None:
        from psl.homology import sequence_sha1

        key, wanted = "sha1", [sequence_sha1(s) for s in sequences]
    else:
        key, wanted = ("accession" if "accession" in table else "id"), accessions
    cols = [f"p_{c}" for c in LOCATION_CLASSES]
    missing_cols = [c for c in [key, *cols] if c not in table]
    if missing_cols:
        raise ConfigError(f"[train] teacher table {path} lacks the columns {missing_cols}")
    table[key] = table[key].astype(str)
    if table[key].duplicated().any():
        dup = table.loc[table[key].duplicated(), key].tolist()[:5]
        raise ConfigError(f"[train] teacher table {path} lists proteins twice, e.g. {dup}")
    table = table.set_index(key)
    absent = [name for name, w in zip(accessions, wanted, strict=True) if w not in table.index]
    if absent:
        raise ConfigError(f"[train] teacher table {path} has no row for {len(absent)} training "
                          f"proteins, e.g. {absent[:5]}")
    p = table.loc[list(wanted), cols].to_numpy(dtype=np.float64)
    if not np.isfinite(p).all() or (p < 0).any() or (p.sum(1) <= 0).any():
        raise ConfigError(f"[train] teacher table {path}: probabilities must be finite, "
                          ">= 0 and not all 0 in a row")
    p = (p / p.sum(1, keepdims=True)) ** (1.0 / temperature)
    return (p / p.sum(1, keepdims=True)).astype(np.float32)


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


@dataclass
class _Data:
    """The encoded splits, with the teacher's attention and probabilities when configured."""

    sets: dict[str, EncodedSet]
    presets: dict[str, list[np.ndarray]] | None
    soft: np.ndarray | None
    targets: np.ndarray | None  # soft training targets of multi-label proteins (N x C)
    encode_seconds: float
    splits: dict[str, pd.DataFrame]


@dataclass
class _Best:
    """The best epoch so far (by the signed ``select`` score) and its weights."""

    score: float = -math.inf
    epoch: int = 0
    state: dict[str, torch.Tensor] | None = None


def _init_from(model: LocalizationModel, run: RunConfig, checkpoint: str) -> None:
    """Copy the weights of ``checkpoint`` (same ``[model]``) into ``model``."""
    start = load_model(checkpoint)
    if not isinstance(start.model, LocalizationModel):
        raise ConfigError(f"[train] init {checkpoint!r} is an ensemble; give one member")
    if start.config != run.model:
        diff = [f.name for f in dataclasses.fields(run.model)
                if getattr(start.config, f.name) != getattr(run.model, f.name)]
        raise ConfigError(f"[train] init {checkpoint!r} has a different [model] "
                          f"(differs in: {', '.join(diff)})")
    model.load_state_dict(start.model.state_dict())


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
    if tc.init and Path(tc.init).resolve() == out.resolve():
        raise ConfigError(f"[train] init {tc.init!r} is the output directory: the run "
                          "would overwrite the checkpoint it starts from; use another -o")
    for key in ("teacher", "init", "preset_model"):  # before anything is read or written
        if key == "teacher" and Path(tc.teacher).is_file():  # a probability table
            continue
        if getattr(tc, key):
            try:
                check_checkpoint(getattr(tc, key))
            except CheckpointError as e:
                raise ConfigError(f"[train] {key}: {e}") from None

    data = _load_data(run, dev)
    out.mkdir(parents=True, exist_ok=True)  # once the inputs have loaded
    model = LocalizationModel(run.model).to(dev)
    if tc.init:
        _init_from(model, run, tc.init)
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    ema = _ema(model, tc.ema_decay)
    scored = ema.module if ema is not None else model  # the weights validated and saved
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="min" if tc.select == "loss" else "max", factor=0.5,
        patience=tc.lr_decay_patience,
    )
    try:
        criterion = make_loss(data.targets if data.targets is not None
                              else data.sets["train"].labels.numpy(), run.model.n_classes,
                              tc.class_weights, tc.focal_gamma, tc.label_smoothing, dev)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    sign = -1.0 if tc.select == "loss" else 1.0
    best = _Best()
    history: list[dict[str, Any]] = []
    log_path = out / "epochs.jsonl"
    log_path.write_text("")
    n_batches = math.ceil(len(data.sets["train"]) / tc.batch_size)
    t_train = time.perf_counter()
    stopped = "epochs"

    with _epoch_progress(progress, tc.epochs * n_batches) as bar:
        for epoch in range(1, tc.epochs + 1):
            te = time.perf_counter()
            train_loss, train_accuracy = _train_epoch(model, opt, ema, data, tc, dev, epoch, bar,
                                                      criterion)
            train_s = time.perf_counter() - te
            val, _ = _evaluate(scored, data.sets["val"], tc, dev,
                               data.presets["val"] if data.presets else None)
            improved = sign * val[tc.select] > best.score
            if improved:
                _keep_best(best, sign * val[tc.select], epoch, scored, run, out, val)
            sched.step(val[tc.select])
            rec = {
                "epoch": epoch,
                "train_loss": train_loss,
                "train_accuracy": train_accuracy,
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
            bar(info=f"val acc {val['accuracy']:.3f} F1 {val['macro_f1']:.3f}")
            stop = _stop_reason(epoch, best.epoch, t_train, tc)
            if stop:
                stopped = stop
                break

    if best.state is not None:
        model.load_state_dict(best.state)
    model.eval()
    metrics = _final_metrics(model, data, tc, dev, history, best.epoch, stopped, n_boot)
    model.cpu()
    save_model(out, model, run.to_dict(), metrics)
    write_json_atomic(out / "history.json", history)
    write_training_set(data.splits, out / "training_set.tsv", init=tc.init or None)
    return calibrate_after_training(out, tc.calibrate, metrics, str(dev), n_boot, tc.seed)


def _load_data(run: RunConfig, dev: torch.device) -> _Data:
    """Load and encode the splits; the teacher's attention (``preset_model``) and class
    probabilities on the training set (``teacher``) when the config names them."""
    tc = run.train
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
                                     tc.distill_temperature, tc.eval_batch_size,
                                     splits["train"]["accession"].astype(str).tolist())
    targets = target_distribution(splits["train"]["location"])
    return _Data(sets, presets, soft, targets, time.perf_counter() - t0, splits)


def _ema(model: LocalizationModel, decay: float) -> Any:
    """An exponential moving average of ``model``'s weights, or None when ``decay`` is 0."""
    if decay <= 0:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


@contextmanager
def _epoch_progress(show: bool, total: int) -> Iterator[Callable[..., None]]:
    """A rich progress bar over all batches of all epochs (stderr), as an ``update(**fields)``
    function (fields: ``epoch``, ``loss``, ``info``, ``advance``); a no-op when not ``show``."""
    if not show:
        yield lambda **fields: None
        return
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
    task = bar.add_task("train", total=total, epoch=1, loss=float("nan"), info="")
    try:
        yield lambda **fields: bar.update(task, **fields)
    finally:
        bar.stop()


def _train_epoch(
    model: LocalizationModel, opt: torch.optim.Optimizer, ema: Any, data: _Data,
    tc: TrainConfig, dev: torch.device, epoch: int, bar: Callable[..., None],
    criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> tuple[float, float]:
    """One pass over the training set (shuffled, or class-balanced with ``sampler =
    "balanced"``) with the configured loss (``criterion``: cross-entropy, class-weighted or
    focal); returns (mean loss, accuracy)."""
    model.train()
    presets, soft = data.presets, data.soft
    total_loss = 0.0
    correct = 0
    seen = 0
    for idx, batch, labels in training_batches(data.sets["train"], tc.batch_size, tc.sampler,
                                               seed=tc.seed * 1000 + epoch):
        b = batch.to(dev)
        y = labels.to(dev)
        pre = (preset_batch(presets["train"], idx, b.tokens.shape[1]).to(dev)
               if presets else None)
        outp = model(b.tokens, b.mask, attention="preset" if presets else "learned",
                     preset=pre)
        loss = criterion(outp.logits, y if data.targets is None
                         else torch.from_numpy(data.targets[idx]).to(dev))
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
        bar(advance=1, epoch=epoch, loss=total_loss / seen)
    return total_loss / seen, correct / seen


def _keep_best(best: _Best, score: float, epoch: int, scored: torch.nn.Module, run: RunConfig,
               out: Path, val: dict[str, float]) -> None:
    """Record a new best epoch and save it at once (an interrupted run is still usable)."""
    best.score, best.epoch = score, epoch
    best.state = {k: v.detach().cpu().clone() for k, v in scored.state_dict().items()}
    snapshot = LocalizationModel(run.model)
    snapshot.load_state_dict(best.state)
    save_model(out, snapshot, run.to_dict(),
               {"best_epoch": epoch, "finished": False, "val_so_far": val})


def _stop_reason(epoch: int, best_epoch: int, t_train: float, tc: TrainConfig) -> str | None:
    """``patience`` or ``time_limit`` when training should stop after ``epoch``, else None."""
    if epoch - best_epoch >= tc.patience:
        return "patience"
    if tc.max_minutes and time.perf_counter() - t_train >= 60.0 * tc.max_minutes:
        return "time_limit"
    return None


def _final_metrics(
    model: LocalizationModel, data: _Data, tc: TrainConfig, dev: torch.device,
    history: list[dict[str, Any]], best_epoch: int, stopped: str, n_boot: int,
) -> dict[str, Any]:
    """What ``metrics.json`` stores: the run's summary and the best model's val/test reports."""
    sets, presets = data.sets, data.presets
    metrics: dict[str, Any] = {
        "best_epoch": best_epoch,
        "finished": True,
        "epochs_run": len(history),
        "stopped": stopped,
        "select": tc.select,
        "encode_seconds": round(data.encode_seconds, 2),
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
    return metrics
