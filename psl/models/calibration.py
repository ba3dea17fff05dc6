"""Post-hoc calibration of a checkpoint: temperature scaling and per-class logit offsets.

A checkpoint may carry ``calibration.json``::

    {"temperature": T, "offsets": [b_1, ..., b_C] | null, "fitted_on": "...", ...}

and every printed probability is then ``softmax(z / T + b)`` for the model's logits ``z``:

- Temperature scaling (Guo et al., "On calibration of modern neural networks", ICML 2017): one
  scalar ``T > 0`` minimising the negative log-likelihood of the validation set. It never
  changes the predicted class, only how confident the probabilities are.
- Per-class logit offsets ``b`` (a prior shift, i.e. per-class decision thresholds), chosen on
  the validation set to maximise macro-F1 by coordinate ascent over a grid. They change the
  predicted class (rare classes get a chance); they are off unless asked for.

Both are fitted on validation data only (:mod:`psl.training.calibrate`), never on test. A
checkpoint without ``calibration.json`` is uncalibrated (``T = 1``, no offsets), so old
checkpoints load and behave as before.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kb.atomic import atomic_path
from psl.errors import CheckpointError

__all__ = [
    "CALIBRATION_FILE",
    "Calibration",
    "fit_temperature",
    "fit_logit_offsets",
    "load_calibration",
    "mean_nll",
    "save_calibration",
    "softmax",
]

CALIBRATION_FILE = "calibration.json"
_T_BOUNDS = (0.05, 20.0)


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of a ``N x C`` array (float64, numerically stable)."""
    z = np.asarray(z, dtype=np.float64)
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def mean_nll(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of ``softmax(logits)`` for the true ``labels``."""
    z = logits - logits.max(1, keepdims=True)
    lse = np.log(np.exp(z).sum(1))
    return float((lse - z[np.arange(len(labels)), labels]).mean())


@dataclass
class Calibration:
    """Temperature and optional per-class logit offsets of a checkpoint.

    Attributes:
        temperature: ``T > 0``; logits are divided by it (1 = off).
        offsets: per-class additive logit offsets (``None`` = off).
        info: what it was fitted on and the validation scores before/after (free-form).
    """

    temperature: float = 1.0
    offsets: list[float] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (np.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(f"temperature must be a finite number > 0, got {self.temperature}")
        if self.offsets is not None:
            self.offsets = [float(b) for b in self.offsets]
            if not all(np.isfinite(self.offsets)):
                raise ValueError(f"offsets must be finite, got {self.offsets}")

    @property
    def is_identity(self) -> bool:
        """True when applying it changes nothing."""
        return self.temperature == 1.0 and not any(self.offsets or [])

    def apply(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated logits ``z / T + b`` of ``N x C`` logits.

        Raises:
            ValueError: offsets whose length differs from the number of classes.
        """
        z = np.asarray(logits, dtype=np.float64) / self.temperature
        if self.offsets is not None:
            if len(self.offsets) != z.shape[1]:
                raise ValueError(f"{len(self.offsets)} offsets for {z.shape[1]} classes")
            z = z + np.asarray(self.offsets)
        return z

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities ``softmax(z / T + b)``."""
        return softmax(self.apply(logits))

    def recalibrate_probabilities(self, probs: np.ndarray) -> np.ndarray:
        """Calibrated probabilities from uncalibrated ones ``softmax(z)``.

        ``log softmax(z)`` differs from ``z`` by a per-row constant, to which
        ``softmax(. / T + b)`` is blind, so this equals :meth:`probabilities` of the logits.
        """
        p = np.clip(np.asarray(probs, dtype=np.float64), 1e-300, None)
        return self.probabilities(np.log(p))

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"temperature": self.temperature, "offsets": self.offsets, **self.info}


def fit_temperature(logits: np.ndarray, labels: np.ndarray,
                    bounds: tuple[float, float] = _T_BOUNDS) -> float:
    """The temperature ``T`` minimising the mean NLL of ``softmax(logits / T)`` (Guo et al. 2017).

    A bounded 1-D search on ``log T`` (Brent's method, ``scipy.optimize.minimize_scalar``);
    the NLL of temperature scaling is smooth in ``log T``.

    Arguments:
        logits: ``N x C`` validation logits (never test).
        labels: ``N`` true class indices.
        bounds: the search interval of ``T``.

    Returns:
        ``T`` within ``bounds``.

    Raises:
        ValueError: empty or mismatched inputs, labels out of range.
    """
    from scipy.optimize import minimize_scalar

    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    if z.ndim != 2 or len(z) != len(y) or len(y) == 0:
        raise ValueError(f"need logits N x C and N labels (N > 0), got {z.shape}, {y.shape}")
    if y.min() < 0 or y.max() >= z.shape[1]:
        raise ValueError(f"labels outside 0..{z.shape[1] - 1}")
    lo, hi = np.log(bounds[0]), np.log(bounds[1])
    res = minimize_scalar(lambda s: mean_nll(z / np.exp(s), y), bounds=(lo, hi), method="bounded",
                          options={"xatol": 1e-6})
    return float(np.exp(res.x))


def fit_logit_offsets(
    logits: np.ndarray,
    labels: np.ndarray,
    grid: np.ndarray | None = None,
    rounds: int = 3,
) -> list[float]:
    """Per-class logit offsets maximising validation macro-F1 (coordinate ascent on a grid).

    Starting from zero offsets, each round visits the classes in order and sets that class's
    offset to the grid value with the best macro-F1 of ``argmax(logits + b)`` (ties: the value
    closest to 0, so offsets stay small). Class 0's offset stays 0 (only differences matter).
    Stops after ``rounds`` rounds or a round without change.

    Arguments:
        logits: ``N x C`` validation logits (already divided by the temperature).
        labels: ``N`` true class indices.
        grid: candidate offsets (default ``-3, -2.75, ..., 3``).
        rounds: maximum number of passes over the classes.

    Returns:
        ``C`` offsets.
    """
    from psl.metrics import macro_f1

    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    k = z.shape[1]
    grid = np.round(np.linspace(-3, 3, 25), 6) if grid is None else np.asarray(grid, float)
    grid = grid[np.argsort(np.abs(grid), kind="stable")]  # ties: prefer small offsets
    b = np.zeros(k)

    def score(off: np.ndarray) -> float:
        return macro_f1(y, (z + off).argmax(1), k)

    best = score(b)
    for _ in range(rounds):
        changed = False
        for c in range(1, k):
            cand = b.copy()
            for g in grid:
                cand[c] = g
                s = score(cand)
                if s > best + 1e-12:
                    best, b, changed = s, cand.copy(), True
        if not changed:
            break
    return [float(v) for v in b]


def save_calibration(directory: str | Path, cal: Calibration) -> Path:
    """Write ``calibration.json`` into a checkpoint directory (atomically)."""
    path = Path(directory) / CALIBRATION_FILE
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(cal.to_dict(), indent=2) + "\n")
    return path


def load_calibration(directory: str | Path) -> Calibration:
    """The checkpoint's calibration (identity when it has no ``calibration.json``).

    Raises:
        CheckpointError: an unreadable or invalid file.
    """
    path = Path(directory) / CALIBRATION_FILE
    if not path.is_file():
        return Calibration()
    try:
        d = json.loads(path.read_text())
        return Calibration(float(d.pop("temperature")), d.pop("offsets", None), d)
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"invalid calibration file: {e}", path) from None
