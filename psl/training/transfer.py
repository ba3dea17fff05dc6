"""Fit a checkpoint's homology transfer (:mod:`psl.transfer`) and store it beside its weights.

The references are, by default, the proteins the checkpoint was trained and validated on (its
own ``[data]`` config's train and val splits), so that the test split stays unseen; any other
labelled source can be named instead (a dataset table written by ``psl dataset``: its train
and val splits; a knowledge base, DeepLoc FASTA or labelled CSV/TSV/FASTA: all of it).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from kb.errors import InputFormatError
from psl.data import DataConfig, load_splits, read_source
from psl.errors import PslError
from psl.models.checkpoint import DEFAULT_MODEL_DIR, check_checkpoint
from psl.sources import read_dataset
from psl.transfer import HomologyTransfer, References, SearchSettings, fit_transfer, save_transfer

__all__ = ["read_references", "fit_checkpoint_transfer"]


def read_references(source: str | Path) -> References:
    """Reference proteins from a dataset table (train + val) or any labelled source.

    Raises:
        PslError: no single-label protein in the source.
        InputFormatError: an unreadable source (with file and line).
    """
    path = Path(source)
    frame: pd.DataFrame | None = None
    if path.is_file():
        try:
            splits = read_dataset(path)
            frame = pd.concat([splits["train"], splits["val"]], ignore_index=True)
            label = f"{path} (dataset table: train + val)"
        except (InputFormatError, UnicodeDecodeError, pd.errors.ParserError):
            frame = None
    if frame is None:
        frame = read_source(path, "drop")[0]
        label = str(path)
    refs = References.from_frame(frame, label)
    if len(refs) < 2:
        raise PslError("fewer than 2 single-label proteins to use as references", path)
    return refs


def _own_references(checkpoint: Path, config: dict[str, Any]) -> tuple[References, pd.DataFrame]:
    data = DataConfig(**config.get("data", {}))
    splits = load_splits(data)
    frame = pd.concat([splits["train"], splits["val"]], ignore_index=True)
    return (References.from_frame(frame, f"{checkpoint}: its own train + val splits"),
            splits["test"])


def fit_checkpoint_transfer(
    model: str | Path | None = None,
    references: str | Path | None = None,
    settings: SearchSettings = SearchSettings(),
    progress: Callable[[int, int], None] | None = None,
) -> HomologyTransfer:
    """Fit homology transfer on ``references`` and write it into the checkpoint directory.

    Arguments:
        model: checkpoint directory (written into: ``transfer.json``, ``references.tsv.gz``).
        references: labelled source (module docstring); None: the checkpoint's own train + val.
        settings: nearest-reference search settings.
        progress: ``progress(done, total)`` of the leave-one-out search.

    Returns:
        The fitted transfer; its ``info`` also counts the checkpoint's test proteins that are
        identical to a reference (``test_identical``): their scores would not test the model.

    Raises:
        CheckpointError: not a checkpoint directory.
    """
    import json

    path = check_checkpoint(model if model is not None else DEFAULT_MODEL_DIR)
    config = json.loads((path / "config.json").read_text())
    test: pd.DataFrame | None = None
    if references is None:
        refs, test = _own_references(path, config)
    else:
        refs = read_references(references)
        try:
            test = load_splits(DataConfig(**config.get("data", {})))["test"]
        except (ValueError, OSError):  # the checkpoint's data is not on this machine
            test = None
    transfer = fit_transfer(refs, settings, progress=progress)
    if test is not None:
        ref_seqs = set(refs.sequences)
        transfer.info["test_identical"] = int(sum(s.rstrip("*").upper() in ref_seqs
                                                  for s in test["sequence"]))
    save_transfer(path, transfer)
    return transfer
