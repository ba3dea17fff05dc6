"""psl: protein subcellular localization models, explanations and hit rates.

The public API, importable from the package (loaded on first use, so ``import psl`` stays light:
torch is imported only when a model function is used)::

    from psl import load_model, predict, explain, extract_subsequences, score, build_report

Layers (each imports only from the layers before it; ``tests/test_layers.py`` enforces it):

- base: ``psl.errors`` (``PslError``), ``psl.data`` (DeepLoc data, splits, encodings),
  ``psl.metrics``, ``psl.fasta``, ``psl.tables_io``, ``psl.homology`` (homology between
  protein sets), ``psl.low_complexity`` (SEG masking), ``psl.sources`` (labelled training
  sources, dataset tables), ``psl.transfer`` (homology transfer from annotated reference proteins);
- ``psl.models``: the model family, ensembles, checkpoints, inference, devices;
- ``psl.hitrate``: hit rates + null model (no torch);
- ``psl.training``: run configs, training, ensemble assembly, evaluation;
- ``psl.explain``: attributions (attention, Integrated Gradients), subsequences, ground
  truth, the HTML report;
- ``psl.experiments``: Table 1, Tables 2-3.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    # errors
    "PslError": "psl.errors",
    "CheckpointError": "psl.errors",
    # models
    "ModelConfig": "psl.models",
    "LocalizationModel": "psl.models",
    "ModelEnsemble": "psl.models",
    "load_model": "psl.models",
    "save_model": "psl.models",
    "LoadedModel": "psl.models",
    "predict": "psl.models",
    "read_deeploc": "psl.data",
    "encode_batch": "psl.data",
    "load_splits": "psl.data",
    "Calibration": "psl.models",
    "expected_calibration_error": "psl.metrics",
    "find_homologs": "psl.homology",
    "seg_mask": "psl.low_complexity",
    # homology transfer
    "References": "psl.transfer",
    "HomologyTransfer": "psl.transfer",
    "fit_transfer": "psl.transfer",
    "nearest_references": "psl.transfer",
    # training
    "load_run_config": "psl.training",
    "train": "psl.training",
    "evaluate": "psl.training",
    "assemble_ensemble": "psl.training",
    "calibrate": "psl.training",
    "fit_checkpoint_transfer": "psl.training",
    # explanations
    "IGSettings": "psl.explain",
    "explain": "psl.explain",
    "extract_subsequences": "psl.explain",
    "groundtruth_summary": "psl.explain",
    "build_report": "psl.explain",
    # hit rates and tables
    "score": "psl.hitrate",
    "HitRates": "psl.hitrate",
    "read_table": "psl.tables_io",
    "write_table": "psl.tables_io",
    # experiments
    "run_table1": "psl.experiments",
    "run_hitrates": "psl.experiments",
}

#: exported names that differ from the name in their module
_RENAMED = {"assemble_ensemble": "assemble"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'psl' has no attribute {name!r}")
    return getattr(importlib.import_module(module), _RENAMED.get(name, name))


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
