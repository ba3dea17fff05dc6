"""psl: protein subcellular localization models, explanations and hit rates.

The public API, importable from the package (loaded on first use, so ``import psl`` stays light:
torch is imported only when a model function is used)::

    from psl import load_model, extract_subsequences, score, build_report
    from psl.predict import predict      # functions named like their module are imported
    from psl.explain import explain      # from it (train, evaluate, predict, explain)

Modules: ``psl.data`` (DeepLoc data, encodings), ``psl.models`` (the model family),
``psl.ensemble`` (ensembles of trained models), ``psl.train``, ``psl.evaluate``,
``psl.metrics``, ``psl.checkpoint``, ``psl.predict``,
``psl.explain`` (attention, Integrated Gradients), ``psl.extract`` (subsequences),
``psl.hitrate`` (hit rates + null model), ``psl.groundtruth``, ``psl.report``,
``psl.experiments`` (Table 1), ``psl.experiment_hitrates`` (Tables 2-3), ``psl.tables_io``.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    # models
    "ModelConfig": "psl.models",
    "LocalizationModel": "psl.models",
    "ModelEnsemble": "psl.ensemble",
    "assemble_ensemble": "psl.ensemble",
    "load_model": "psl.checkpoint",
    "save_model": "psl.checkpoint",
    "LoadedModel": "psl.checkpoint",
    "read_deeploc": "psl.data",
    "encode_batch": "psl.data",
    "load_run_config": "psl.train",
    "run_table1": "psl.experiments",
    # explanations
    "IGSettings": "psl.explain",
    "extract_subsequences": "psl.extract",
    "groundtruth_summary": "psl.groundtruth",
    "build_report": "psl.report",
    "run_hitrates": "psl.experiment_hitrates",
    # hit rates and tables
    "score": "psl.hitrate",
    "HitRates": "psl.hitrate",
    "read_table": "psl.tables_io",
    "write_table": "psl.tables_io",
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
