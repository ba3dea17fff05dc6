"""Fit a checkpoint's homology transfer (:mod:`psl.transfer`) and store it beside its weights.

The references are, by default, the proteins the checkpoint was trained and validated on (its
own ``[data]`` config's train and val splits), so that the test split stays unseen; any other
labelled source can be named instead (a dataset table written by ``psl dataset``: its train
and val splits; a knowledge base, DeepLoc FASTA or labelled CSV/TSV/FASTA: all of it).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from psl.data import DataConfig, load_splits, read_source
from psl.errors import PslError
from psl.models.checkpoint import load_model
from psl.sources import annotated, is_dataset_table, read_dataset
from psl.transfer import HomologyTransfer, References, SearchSettings, fit_transfer, save_transfer

__all__ = ["read_references", "fit_checkpoint_transfer"]


def read_references(source: str | Path) -> References:
    """Reference proteins from a dataset table (train + val) or any labelled source, without
    pseudo-labelled proteins (:func:`psl.sources.annotated`).

    Raises:
        PslError: no single-label protein in the source.
        InputFormatError: an unreadable source (with file and line).
    """
    path = Path(source)
    if is_dataset_table(path):  # a malformed one is reported as such, not read otherwise
        splits = read_dataset(path)
        frame = pd.concat([splits["train"], splits["val"]], ignore_index=True)
        label = f"{path} (dataset table: train + val)"
    else:
        frame = read_source(path, "drop")[0]
        label = str(path)
    refs = References.from_frame(annotated(frame), label)
    if len(refs) < 2:
        raise PslError("fewer than 2 single-label proteins to use as references", path)
    return refs


def fit_checkpoint_transfer(
    model: str | Path | None = None,
    references: str | Path | None = None,
    settings: SearchSettings = SearchSettings(),
    progress: Callable[[int, int], None] | None = None,
) -> HomologyTransfer:
    """Fit homology transfer on ``references`` and write it into the checkpoint directory.

    Arguments:
        model: checkpoint directory (written into: ``transfer.json``, ``references.tsv.gz``).
        references: labelled source (module docstring); None: the checkpoint's own train + val
            (without pseudo-labelled proteins: ``source`` starting with "pseudo-label").
        settings: nearest-reference search settings.
        progress: ``progress(done, total)`` of the leave-one-out search.

    Returns:
        The fitted transfer; its ``info`` also counts the checkpoint's test proteins that are
        identical to a reference (``test_identical``): their scores would not test the model.

    Raises:
        CheckpointError: not a checkpoint directory.
    """
    loaded = load_model(model)  # the checkpoint's own checks; its weights are small
    path = loaded.path
    data = DataConfig(**loaded.run_config.get("data", {}))
    test: pd.DataFrame | None = None
    if references is None:
        splits = load_splits(data)
        own = pd.concat([splits["train"], splits["val"]], ignore_index=True)
        refs = References.from_frame(annotated(own), f"{path}: its own train + val splits")
        test = splits["test"]
    else:
        refs = read_references(references)
        try:
            test = load_splits(data)["test"]
        except (ValueError, OSError):  # the checkpoint's data is not on this machine
            test = None
    transfer = fit_transfer(refs, settings, progress=progress)
    if test is not None:
        transfer.info["test_identical"] = refs.identical(test["sequence"].tolist())
    save_transfer(path, transfer)
    return transfer
