"""The named choices of psl's parameters, torch-free.

The library checks its arguments against these tuples and the CLI builds its option choices
from them (``cli/psl_*.py``), so a choice is spelled once; importing this module does not
import torch, so the CLI starts fast.
"""

from __future__ import annotations

__all__ = [
    "ATTENTION_MODES",
    "DEVICES",
    "EVIDENCE_LEVELS",
    "EXPLAIN_SPLITS",
    "HITRATE_SPLITS",
    "INFERENCE_ATTENTION",
    "LABEL_KINDS",
    "METHODS",
    "TARGETS",
    "WEIGHTINGS",
]

#: Torch devices: ``auto`` = CUDA if available, else CPU (:func:`psl.models.resolve_device`).
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
#: Attention modes accepted by :meth:`psl.models.LocalizationModel.forward`.
ATTENTION_MODES: tuple[str, ...] = ("learned", "uniform", "permute", "random", "preset")
#: The modes a user picks at inference (``preset`` needs weights from a teacher).
INFERENCE_ATTENTION: tuple[str, ...] = tuple(m for m in ATTENTION_MODES if m != "preset")
#: Attribution methods: the model's attention weights, Integrated Gradients.
METHODS: tuple[str, ...] = ("attention", "ig")
#: The class an attribution explains: the predicted one or the true one.
TARGETS: tuple[str, ...] = ("predicted", "true")
#: The DeepLoc 1.0 partitions ``psl explain --split`` explains (dual-label proteins left out).
EXPLAIN_SPLITS: tuple[str, ...] = ("test", "train", "all")
#: ``psl experiment hitrates`` splits: each model's own test split, or a DeepLoc 1.0 partition.
HITRATE_SPLITS: tuple[str, ...] = ("model", *EXPLAIN_SPLITS)
#: Which label an extracted subsequence is scored against (``auto``: the true label where
#: there is one, else the predicted one; ``both``: one row per kind).
LABEL_KINDS: tuple[str, ...] = ("auto", "true", "predicted", "both")
#: Weightings of the hit rate (see :mod:`psl.hitrate.scorer`).
WEIGHTINGS: tuple[str, ...] = ("paper", "normalized", "none")
#: Evidence levels of the location rows used: all, or experimental only.
EVIDENCE_LEVELS: tuple[str, ...] = ("any", "experimental")
