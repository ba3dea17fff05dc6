"""Experiments that orchestrate training, explanations and hit rates: Table 1 of the
attention study (:mod:`psl.experiments.table1`) and Tables 2-3 (:mod:`psl.experiments.hitrates`).
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "run_table1": "psl.experiments.table1",
    "run_hitrates": "psl.experiments.hitrates",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'psl.experiments' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
