"""Explanations: attributions (attention, Integrated Gradients), salient subsequences,
ground-truth checks and the HTML report.

Imports :mod:`psl.models`. Loaded on first use, so ``psl.explain.extract`` and
``psl.explain.report`` do not import torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "IGSettings": "psl.explain.attributions",
    "explain": "psl.explain.attributions",
    "load_proteins": "psl.explain.attributions",
    "accession_from_id": "psl.explain.attributions",
    "default_threads": "psl.explain.attributions",
    "extract_subsequences": "psl.explain.extract",
    "empty_reason": "psl.explain.extract",
    "groundtruth_summary": "psl.explain.groundtruth",
    "build_report": "psl.explain.report",
    "write_report": "psl.explain.report",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'psl.explain' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
