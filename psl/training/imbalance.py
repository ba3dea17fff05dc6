"""Class imbalance in training: class-weighted and focal losses, class-balanced batches.

DeepLoc 1.0's training set has 30 times more nuclear than peroxisomal proteins; a plain
cross-entropy learns to ignore the rare classes. The ``[train]`` table chooses:

- ``class_weights``: ``none``, ``inv_sqrt`` (``w_c ~ 1/sqrt(n_c)``) or ``inverse``
  (``w_c ~ 1/n_c``), from the training counts ``n_c``, scaled so that the mean weight over the
  training proteins is 1 (the loss keeps its scale). The weighted loss is torch's
  ``sum_i w_{y_i} l_i / sum_i w_{y_i}`` over a batch.
- ``focal_gamma``: the focal loss ``-(1 - p_t)^gamma log p_t`` (Lin et al., "Focal loss for
  dense object detection", ICCV 2017); 0 = cross-entropy.
- ``sampler``: ``shuffle`` (every protein once per epoch) or ``balanced`` (as many draws per
  epoch as proteins, with replacement, each class equally likely, uniform within a class).

Multi-label training proteins (``[data] multilabel = "soft"``) have soft targets ``q`` (the
uniform distribution over their classes) and count as a fraction ``q_c`` of an example of each
class: the loss is the soft cross-entropy ``-sum_c q_c w_c log p_c`` (normalised by
``sum_i sum_c q_ic w_c``) and the class counts are ``n_c = sum_i q_ic`` (for one-hot targets
both equal the plain weighted cross-entropy). The ``balanced`` sampler draws them by their
first class (their ``label``).

Per-class decision offsets chosen on validation are a post-hoc step
(:func:`psl.models.calibration.fit_logit_offsets`, ``[train] calibrate``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from psl.data import Batch, EncodedSet, collate

__all__ = [
    "CLASS_WEIGHTS",
    "SAMPLERS",
    "class_weights",
    "focal_loss",
    "soft_cross_entropy",
    "make_loss",
    "balanced_indices",
    "training_batches",
]

CLASS_WEIGHTS = ("none", "inv_sqrt", "inverse")
SAMPLERS = ("shuffle", "balanced")


def class_weights(labels: np.ndarray, n_classes: int, scheme: str = "inv_sqrt") -> np.ndarray:
    """Per-class loss weights from training labels (mean weight over the proteins = 1).

    Arguments:
        labels: training class indices, or an ``N x C`` matrix of soft targets (the class
            counts are then its column sums).
        n_classes: number of classes.
        scheme: ``none`` (all 1), ``inv_sqrt`` (``1/sqrt(n_c)``) or ``inverse`` (``1/n_c``).

    Returns:
        ``n_classes`` float64 weights; a class absent from ``labels`` gets weight 0.

    Raises:
        ValueError: an unknown scheme or no labels.
    """
    if scheme not in CLASS_WEIGHTS:
        raise ValueError(f"class_weights must be one of {CLASS_WEIGHTS}, got {scheme!r}")
    y = np.asarray(labels)
    if len(y) == 0:
        raise ValueError("no training labels to weight")
    if y.ndim == 2:
        counts = y.astype(np.float64).sum(0)
    else:
        counts = np.bincount(y.astype(np.int64), minlength=n_classes).astype(np.float64)
    if scheme == "none":
        return np.ones(n_classes)
    power = 0.5 if scheme == "inv_sqrt" else 1.0
    w = np.where(counts > 1e-9, 1.0 / np.maximum(counts, 1e-9) ** power, 0.0)
    return w * len(y) / float((w * counts).sum())


def focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0,
               weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean focal loss ``-(1 - p_t)^gamma log p_t`` (Lin et al., ICCV 2017).

    With ``weight`` the mean is weighted as torch's ``cross_entropy``
    (``sum_i w_{y_i} l_i / sum_i w_{y_i}``); with ``gamma = 0`` it equals
    ``F.cross_entropy(logits, target, weight=weight)``.
    """
    logp = F.log_softmax(logits, dim=-1).gather(1, target[:, None])[:, 0]
    loss = -((1.0 - logp.exp()) ** gamma) * logp if gamma else -logp
    if weight is None:
        return loss.mean()
    w = weight[target]
    return (w * loss).sum() / w.sum()


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor,
                       weight: torch.Tensor | None = None,
                       label_smoothing: float = 0.0) -> torch.Tensor:
    """Mean cross-entropy ``-sum_c q_c log p_c`` against soft targets ``q`` (``B x C``).

    A protein with classes ``c`` counts as a fraction ``q_c`` of an example of each, so with
    ``weight`` the loss is ``sum_i sum_c q'_ic w_c (-log p_ic) / sum_i sum_c q_ic w_c``, where
    ``q'`` is ``q`` mixed with the uniform distribution by ``label_smoothing``. For one-hot
    ``q`` this equals ``F.cross_entropy(logits, labels, weight=weight,
    label_smoothing=label_smoothing)``.
    """
    q = target
    if label_smoothing:
        q = (1.0 - label_smoothing) * q + label_smoothing / q.shape[1]
    nll = -F.log_softmax(logits, dim=-1)
    if weight is None:
        return (q * nll).sum(1).mean()
    return (q * nll * weight).sum() / (target @ weight).sum()


def make_loss(train_labels: np.ndarray, n_classes: int, weights: str = "none",
              gamma: float = 0.0, label_smoothing: float = 0.0,
              device: torch.device | str = "cpu",
              ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The training loss of a ``[train]`` table: ``loss(logits, labels)``.

    Cross-entropy (with ``label_smoothing``) when ``gamma == 0``, else the focal loss;
    class-weighted by ``weights`` (see :func:`class_weights`). With soft targets
    (``train_labels`` an ``N x C`` matrix) the loss takes ``B x C`` targets and is
    :func:`soft_cross_entropy`.

    Raises:
        ValueError: label smoothing combined with the focal loss, the focal loss with soft
            targets, unknown weights.
    """
    soft = np.asarray(train_labels).ndim == 2
    w = None
    if weights != "none":
        w = torch.as_tensor(class_weights(train_labels, n_classes, weights),
                            dtype=torch.float32, device=device)
    if gamma:
        if label_smoothing:
            raise ValueError("[train] focal_gamma cannot be combined with label_smoothing")
        if soft:
            raise ValueError("[train] focal_gamma cannot be combined with multi-label "
                             "(soft) targets; use [data] multilabel = 'drop' or 'first'")
        return lambda z, y: focal_loss(z, y, gamma, w)
    if soft:
        return lambda z, q: soft_cross_entropy(z, q, w, label_smoothing)
    return lambda z, y: F.cross_entropy(z, y, weight=w, label_smoothing=label_smoothing)


def balanced_indices(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` indices drawn with replacement, every present class equally likely."""
    y = np.asarray(labels, dtype=np.int64)
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    p = 1.0 / (len(classes) * counts[inverse])
    return rng.choice(len(y), size=n, replace=True, p=p / p.sum())


def training_batches(
    data: EncodedSet, batch_size: int, sampler: str = "shuffle", seed: int = 0,
) -> Iterator[tuple[np.ndarray, Batch, torch.Tensor | None]]:
    """One epoch of ``(indices, batch, labels)`` for training.

    ``shuffle`` is :meth:`EncodedSet.batches` with ``shuffle=True``; ``balanced`` draws
    ``len(data)`` proteins with :func:`balanced_indices`, groups them by length into batches
    and shuffles the batch order (all seeded by ``seed``).

    Raises:
        ValueError: an unknown sampler, or ``balanced`` on unlabelled data.
    """
    if sampler == "shuffle":
        yield from data.batches(batch_size, shuffle=True, seed=seed)
        return
    if sampler != "balanced":
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    if data.labels is None:
        raise ValueError("the balanced sampler needs labelled data")
    rng = np.random.default_rng(seed)
    drawn = balanced_indices(data.labels.numpy(), len(data), rng)
    drawn = drawn[np.argsort(data.lengths[drawn], kind="stable")]
    chunks = [drawn[i: i + batch_size] for i in range(0, len(drawn), batch_size)]
    for c in rng.permutation(len(chunks)):
        idx = chunks[c]
        yield idx, collate([data.encoded[i] for i in idx]), data.labels[torch.from_numpy(idx)]
