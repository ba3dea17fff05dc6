"""Fit a checkpoint's calibration (temperature, optional per-class logit offsets) on validation.

The validation split is the one of the checkpoint's own ``[data]`` config; the test split is
never looked at while fitting. See :mod:`psl.models.calibration` for what is fitted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from psl.data import DataConfig, EncodedSet, load_splits
from psl.metrics import expected_calibration_error, macro_f1
from psl.models.calibration import (
    Calibration,
    fit_logit_offsets,
    fit_temperature,
    mean_nll,
    save_calibration,
    softmax,
)
from psl.models.checkpoint import load_model, write_json_atomic
from psl.models.device import resolve_device
from psl.models.inference import infer

__all__ = ["CALIBRATE_MODES", "fit_calibration", "offsets_cross_validated", "calibrate",
           "calibrate_after_training"]

#: Values of ``[train] calibrate`` and ``psl calibrate --mode``.
CALIBRATE_MODES = ("none", "temperature", "temperature+offsets")


def fit_calibration(logits: np.ndarray, labels: np.ndarray, offsets: bool = False,
                    source: str = "validation") -> Calibration:
    """Fit a temperature (and, with ``offsets``, per-class logit offsets) on validation logits.

    Arguments:
        logits: ``N x C`` validation logits.
        labels: ``N`` class indices.
        offsets: also fit logit offsets maximising macro-F1 (after the temperature), kept only
            when :func:`offsets_cross_validated` shows they raise held-out macro-F1.
        source: what the logits are, recorded in ``info``.

    Returns:
        A :class:`Calibration` whose ``info`` holds the validation NLL, ECE and macro-F1
        before and after (and, with ``offsets``, the cross-validation and whether the
        offsets were kept).
    """
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    t = fit_temperature(z, y)
    k = z.shape[1]
    b = None
    cv: dict[str, Any] = {}
    if offsets:
        cv = offsets_cross_validated(z / t, y)
        # offsets are fitted to the very proteins they are scored on; keep them only where
        # offsets fitted without a fold raise that fold's macro-F1 (pooled over the folds)
        if cv["macro_f1_with"] > cv["macro_f1_without"]:
            b = fit_logit_offsets(z / t, y)
    cal = Calibration(t, b)
    cal.info = {
        "fitted_on": source,
        "n": int(len(y)),
        "ece_bins": 15,
        "nll_before": mean_nll(z, y),
        "nll_after": mean_nll(cal.apply(z), y),
        "ece_before": expected_calibration_error(softmax(z), y),
        "ece_after": expected_calibration_error(cal.probabilities(z), y),
        "macro_f1_before": macro_f1(y, z.argmax(1), k),
        "macro_f1_after": macro_f1(y, cal.apply(z).argmax(1), k),
    }
    if offsets:
        cal.info["offsets_cv"] = cv
        cal.info["offsets_kept"] = b is not None
    return cal


def offsets_cross_validated(logits: np.ndarray, labels: np.ndarray, folds: int = 5,
                            seed: int = 0) -> dict[str, Any]:
    """Whether per-class logit offsets generalise beyond the proteins they were fitted on.

    Stratified ``folds``-fold cross-validation on the validation logits (seeded): the offsets
    are fitted (:func:`~psl.models.calibration.fit_logit_offsets`) on all folds but one and
    applied to that one; the out-of-fold predictions of all folds are scored together.

    Returns:
        ``folds``, ``seed`` and the pooled out-of-fold ``macro_f1_with`` / ``accuracy_with``
        beside ``macro_f1_without`` / ``accuracy_without`` (plain argmax).
    """
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    k = z.shape[1]
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(y), dtype=np.int64)
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        fold[idx] = np.arange(len(idx)) % folds
    pred = np.empty(len(y), dtype=np.int64)
    for f in range(folds):
        fit, held = fold != f, fold == f
        b = np.asarray(fit_logit_offsets(z[fit], y[fit]))
        pred[held] = (z[held] + b).argmax(1)
    base = z.argmax(1)
    return {"folds": folds, "seed": seed,
            "macro_f1_without": macro_f1(y, base, k), "macro_f1_with": macro_f1(y, pred, k),
            "accuracy_without": float((base == y).mean()),
            "accuracy_with": float((pred == y).mean())}


def calibrate(model: str | Path, mode: str = "temperature", device: str = "auto",
              batch_size: int = 64) -> Calibration:
    """Fit and store (``calibration.json``) the calibration of a checkpoint on its validation set.

    Arguments:
        model: checkpoint directory (written into).
        mode: ``temperature`` or ``temperature+offsets`` (``none`` removes nothing and fits
            nothing; it is rejected here).
        device: ``auto``, ``cpu`` or ``cuda``.
        batch_size: proteins per batch.

    Returns:
        The stored :class:`Calibration`.

    Raises:
        ValueError: an unknown mode.
    """
    if mode not in CALIBRATE_MODES[1:]:
        raise ValueError(f"calibration mode must be one of {CALIBRATE_MODES[1:]}, got {mode!r}")
    dev = resolve_device(device)
    loaded = load_model(model, device=dev)
    data_cfg = DataConfig(**loaded.run_config.get("data", {}))
    val = load_splits(data_cfg)["val"]
    data = EncodedSet(val["sequence"].tolist(), val["label"].tolist(), loaded.config.max_len)
    res = infer(loaded.model, data, batch_size=batch_size, device=dev)
    cal = fit_calibration(res.logits, data.labels.numpy(), mode == "temperature+offsets",
                          source=f"{data_cfg.split} split, val")
    cal.info["mode"] = mode
    save_calibration(model, cal)
    return cal


def calibrate_after_training(out: str | Path, mode: str, metrics: dict[str, Any],
                             device: str = "auto", n_boot: int = 1000,
                             seed: int = 0) -> dict[str, Any]:
    """The trainer's last step: fit the calibration of the saved run and record it.

    Adds ``calibration`` (the fitted values and validation scores) to ``metrics``; with logit
    offsets, which change predictions, also ``calibrated`` (``val`` and ``test`` reports of the
    calibrated checkpoint). Rewrites ``metrics.json``. ``mode = "none"`` returns ``metrics``
    unchanged.
    """
    if mode == "none":
        return metrics
    from psl.training.evaluation import evaluate

    cal = calibrate(out, mode, device=device)
    metrics = dict(metrics)
    metrics["calibration"] = cal.to_dict()
    if cal.offsets is not None:
        metrics["calibrated"] = {
            name: evaluate(out, split=name, seed=seed, n_boot=n_boot, device=device)
            for name in ("val", "test")
        }
    write_json_atomic(Path(out) / "metrics.json", metrics)
    return metrics

