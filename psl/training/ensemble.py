"""Assembling an ensemble checkpoint from trained members, scored like ``psl evaluate``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from psl.data import DataConfig
from psl.errors import CheckpointError, PslError
from psl.models.checkpoint import load_model, save_model, write_json_atomic
from psl.models.device import resolve_device
from psl.models.ensemble import ModelEnsemble
from psl.sources import read_training_set
from psl.training.evaluation import evaluate

__all__ = ["assemble"]


def assemble(
    member_dirs: Sequence[str | Path],
    out: str | Path,
    device: str = "auto",
    n_boot: int = 1000,
    batch_size: int = 64,
) -> dict[str, Any]:
    """Combine trained checkpoints into one ensemble checkpoint and score it on val and test.

    Arguments:
        member_dirs: at least two checkpoint directories: single models (e.g. ``psl train``
            runs of one config with different ``--seed``) or ensembles, whose members join
            the new ensemble one by one (every model has the same weight).
        out: output checkpoint directory.
        device: ``auto``, ``cpu`` or ``cuda``.
        n_boot: bootstrap resamples for the 95% intervals.
        batch_size: proteins per batch at evaluation.

    Returns:
        The metrics stored in ``metrics.json``: ``val`` and ``test`` reports of the ensemble
        (on the first member's data split) and each member's path, seed and accuracies.

    Members must share their validation and test proteins: the same ``[data]`` table, or
    ``training_set.tsv`` files that list the same ``val`` and ``test`` sequences (tables that
    differ only in training proteins, e.g. with and without multi-label proteins).

    Raises:
        PslError: fewer than two members; CheckpointError: members with different
            validation or test proteins; PslError: members that differ in
            :data:`SHARED_KEYS`.
    """
    if len(member_dirs) < 2:
        raise PslError(f"an ensemble needs at least two member checkpoints, got "
                       f"{len(member_dirs)}")
    dev = resolve_device(device)
    loaded = [load_model(d, device=dev) for d in member_dirs]
    data0 = loaded[0].run_config.get("data", {})
    ours: dict[str, set[str]] | None = None
    for d, m in zip(member_dirs[1:], loaded[1:], strict=True):
        if _same_data(m.run_config.get("data", {}), data0):
            continue
        # different [data] tables may still describe the same held-out proteins (e.g. two
        # dataset tables that differ only in their training proteins): compare those
        ours = ours if ours is not None else _held_out(member_dirs[0])
        theirs = _held_out(d)
        if ours is None or theirs is None or ours != theirs:
            why = ("and no training_set.tsv to compare their validation and test proteins"
                   if ours is None or theirs is None else
                   "and different validation or test proteins (training_set.tsv)")
            raise CheckpointError(f"was trained on a different [data] split than "
                                  f"{member_dirs[0]} ({m.run_config.get('data')} vs {data0}) "
                                  f"{why}", d)
    models: list[Any] = []
    metrics: dict[str, Any] = {"finished": False, "members": []}
    for d, m in zip(member_dirs, loaded, strict=True):
        if isinstance(m.model, ModelEnsemble):  # its members join one by one
            models.extend(m.model.members)
            inner = m.metrics.get("members") or []
            if len(inner) != len(m.model.members):  # no per-member record to carry over
                inner = [{} for _ in m.model.members]
            metrics["members"].extend(
                {**e, "path": f"{d} (member {i}" + (f": {e['path']})" if "path" in e else ")")}
                for i, e in enumerate(inner))
            continue
        models.append(m.model)
        metrics["members"].append({
            "path": str(d),
            "seed": m.run_config.get("train", {}).get("seed"),
            "best_epoch": m.metrics.get("best_epoch"),
            "val_accuracy": m.metrics.get("val", {}).get("accuracy"),
            "test_accuracy": m.metrics.get("test", {}).get("accuracy"),
        })
    ens = ModelEnsemble(models)
    metrics["n_members"] = len(models)
    run_config = dict(loaded[0].run_config)
    run_config["member_checkpoints"] = [str(d) for d in member_dirs]
    run_config["member_seeds"] = [m.get("seed") for m in metrics["members"]]
    save_model(out, ens, run_config, metrics)
    # score the saved checkpoint on its members' split, exactly as `psl evaluate` does
    seed = int(loaded[0].run_config.get("train", {}).get("seed", 0))
    for name in ("val", "test"):
        metrics[name] = evaluate(out, split=name, seed=seed, n_boot=n_boot, device=device,
                                 batch_size=batch_size)
    metrics["finished"] = True
    write_json_atomic(Path(out) / "metrics.json", metrics)
    return metrics


def _same_data(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two stored ``[data]`` tables describe the same data, keys left out of one
    (a checkpoint written before the key existed) taking their default value."""
    try:
        return DataConfig(**a) == DataConfig(**b)
    except (TypeError, ValueError):  # not a [data] table this version reads
        return a == b


def _held_out(checkpoint: str | Path) -> dict[str, set[str]] | None:
    """The sequence SHA-1s of a checkpoint's ``val`` and ``test`` proteins, from its
    ``training_set.tsv``; None when it has none."""
    table = read_training_set(checkpoint)
    if table is None:
        return None
    return {name: set(table.loc[table["split"] == name, "sha1"]) for name in ("val", "test")}
