"""Single-label classification metrics with bootstrap intervals.

Accuracy (= micro-F1 for single-label data), macro-F1 (unweighted mean of the per-class F1,
as scikit-learn's ``average="macro"``), per-class
precision/recall/F1, the multi-class Matthews correlation coefficient (Gorodkin, "Comparing
two K-category assignments by a K-category correlation coefficient", Comput. Biol. Chem. 2004)
and percentile bootstrap intervals (Efron & Tibshirani 1993).

Calibration: the expected calibration error (Naeini et al., "Obtaining well calibrated
probabilities using Bayesian binning", AAAI 2015; Guo et al., "On calibration of modern neural
networks", ICML 2017) over 15 equal-width confidence bins.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kb.atomic import atomic_path

__all__ = [
    "confusion_matrix",
    "accuracy",
    "per_class_prf",
    "macro_f1",
    "mcc",
    "bootstrap_ci",
    "classification_report",
    "plot_confusion",
    "ECE_BINS",
    "expected_calibration_error",
]

#: Number of equal-width confidence bins of :func:`expected_calibration_error`.
ECE_BINS = 15


def _check(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D of equal length, got {y_true.shape} and "
                         f"{y_pred.shape}")
    if len(y_true) == 0:
        raise ValueError("no predictions to score")
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.min() < 0 or y.max() >= n_classes:
            raise ValueError(f"{name} has labels outside 0..{n_classes - 1}")
    return y_true, y_pred


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> np.ndarray:
    """``n_classes x n_classes`` counts, rows = true class, columns = predicted class.

    Raises:
        ValueError: empty or mismatched inputs, labels out of range.
    """
    t, p = _check(np.asarray(y_true), np.asarray(y_pred), n_classes)
    return np.bincount(t * n_classes + p, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes
    )


def accuracy(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    """Share of correct predictions (equals micro-averaged F1 for single-label data)."""
    t = np.asarray(y_true)
    p = np.asarray(y_pred)
    if len(t) == 0 or t.shape != p.shape:
        raise ValueError("accuracy needs two non-empty label arrays of equal length")
    return float((t == p).mean())


def per_class_prf(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall, F1 and support per class from a confusion matrix.

    An undefined ratio (0/0) is 0, as in scikit-learn's ``zero_division=0``.
    """
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    pred = cm.sum(0)
    true = cm.sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(pred > 0, tp / pred, 0.0)
        recall = np.where(true > 0, tp / true, 0.0)
        denom = precision + recall
        f1 = np.where(denom > 0, 2 * precision * recall / denom, 0.0)
    return precision, recall, f1, true.astype(np.int64)


def macro_f1(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> float:
    """Unweighted mean of the per-class F1 over the classes present in ``y_true`` or ``y_pred``.

    Matches ``sklearn.metrics.f1_score(average="macro", zero_division=0)``.
    """
    cm = confusion_matrix(y_true, y_pred, n_classes)
    _, _, f1, _ = per_class_prf(cm)
    present = (cm.sum(0) + cm.sum(1)) > 0
    return float(f1[present].mean())


def mcc(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> float:
    """Multi-class Matthews correlation coefficient (Gorodkin's R_K); 0 when undefined."""
    cm = confusion_matrix(y_true, y_pred, n_classes).astype(np.float64)
    t = cm.sum(1)
    p = cm.sum(0)
    c = np.trace(cm)
    s = cm.sum()
    cov_tp = c * s - t @ p
    cov_pp = s * s - p @ p
    cov_tt = s * s - t @ t
    denom = np.sqrt(cov_pp * cov_tt)
    return float(cov_tp / denom) if denom > 0 else 0.0


def bootstrap_ci(
    y_true: Sequence[int],
    y_pred: Sequence[int],
    metric: Callable[[np.ndarray, np.ndarray], float],
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``metric(y_true, y_pred)`` (proteins resampled).

    Arguments:
        y_true, y_pred: labels.
        metric: function of two label arrays.
        n_boot: number of resamples.
        level: coverage of the interval.
        seed: resampling seed.

    Returns:
        ``(low, high)``.

    Raises:
        ValueError: ``n_boot < 1`` or ``level`` outside (0, 1).
    """
    if n_boot < 1 or not 0.0 < level < 1.0:
        raise ValueError(f"need n_boot >= 1 and 0 < level < 1 (got {n_boot}, {level})")
    t = np.asarray(y_true)
    p = np.asarray(y_pred)
    rng = np.random.default_rng(seed)
    vals = np.empty(n_boot)
    for i in range(n_boot):
        idx = rng.integers(0, len(t), len(t))
        vals[i] = metric(t[idx], p[idx])
    alpha = (1.0 - level) / 2
    return float(np.quantile(vals, alpha)), float(np.quantile(vals, 1 - alpha))


def classification_report(
    y_true: Sequence[int],
    y_pred: Sequence[int],
    classes: Sequence[str],
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """All metrics of a single-label evaluation as a JSON-ready dict.

    Returns:
        ``{"n", "accuracy", "macro_f1", "mcc", "ci95": {metric: [lo, hi]}, "per_class":
        {class: {precision, recall, f1, support}}, "confusion": [[...]], "classes": [...]}``.
    """
    k = len(classes)
    t, p = _check(np.asarray(y_true), np.asarray(y_pred), k)
    cm = confusion_matrix(t, p, k)
    prec, rec, f1, sup = per_class_prf(cm)
    fns: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
        "accuracy": accuracy,
        "macro_f1": lambda a, b: macro_f1(a, b, k),
        "mcc": lambda a, b: mcc(a, b, k),
    }
    out: dict[str, Any] = {"n": int(len(t))}
    for name, fn in fns.items():
        out[name] = fn(t, p)
    out["ci95"] = {
        name: list(bootstrap_ci(t, p, fn, n_boot=n_boot, seed=seed)) for name, fn in fns.items()
    } if n_boot > 0 else {}
    out["per_class"] = {
        c: {"precision": float(prec[i]), "recall": float(rec[i]), "f1": float(f1[i]),
            "support": int(sup[i])}
        for i, c in enumerate(classes)
    }
    out["confusion"] = cm.tolist()
    out["classes"] = list(classes)
    return out


def plot_confusion(
    cm: np.ndarray, classes: Sequence[str], path: str | Path, title: str = ""
) -> None:
    """Save a row-normalised confusion-matrix heat map (counts annotated) as PNG, atomically."""

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(cm)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(8, 7))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=60, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=120, format="png")
    finally:
        plt.close(fig)


def expected_calibration_error(
    probs: np.ndarray, y_true: Sequence[int], n_bins: int = ECE_BINS
) -> float:
    """Expected calibration error of the top-class confidence (Guo et al., ICML 2017).

    The confidence of a prediction is its largest probability. Confidences are put in
    ``n_bins`` equal-width bins ``(0, 1/n], (1/n, 2/n], ..., ((n-1)/n, 1]`` (a confidence of
    exactly 0 goes into the first bin); ECE is ``sum_b |B_b| / N * |acc(B_b) - conf(B_b)|``
    where ``acc`` is the share of correct top-class predictions in the bin and ``conf`` the
    bin's mean confidence. Empty bins contribute nothing.

    Arguments:
        probs: ``N x C`` class probabilities (rows sum to 1).
        y_true: ``N`` true class indices.
        n_bins: number of bins (default 15).

    Returns:
        ECE in [0, 1].

    Raises:
        ValueError: shapes that disagree, no rows, labels out of range, ``n_bins < 1``.
    """
    p = np.asarray(probs, dtype=np.float64)
    t = np.asarray(y_true, dtype=np.int64)
    if p.ndim != 2 or t.ndim != 1 or len(p) != len(t) or len(t) == 0:
        raise ValueError(f"need probs N x C and y_true of length N > 0, got {p.shape} and "
                         f"{t.shape}")
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    if t.min() < 0 or t.max() >= p.shape[1]:
        raise ValueError(f"y_true has labels outside 0..{p.shape[1] - 1}")
    conf = p.max(1)
    correct = (p.argmax(1) == t).astype(np.float64)
    # bin b holds confidences in (b/n, (b+1)/n]; 0 goes to bin 0
    b = np.clip(np.ceil(conf * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    count = np.bincount(b, minlength=n_bins).astype(np.float64)
    gap = np.abs(np.bincount(b, correct, n_bins) - np.bincount(b, conf, n_bins))
    return float(gap.sum() / len(t)) if count.sum() else 0.0
