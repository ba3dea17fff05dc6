"""Evaluate a checkpoint on its own test/val split or on a labelled FASTA file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kb.classes import LOCATION_CLASSES
from psl.choices import INFERENCE_ATTENTION
from psl.data import DataConfig, EncodedSet, load_splits, read_source
from psl.errors import PslError
from psl.metrics import (
    classification_report,
    expected_calibration_error,
    macro_f1,
    plot_confusion,
)
from psl.models.calibration import Calibration, softmax
from psl.models.checkpoint import load_model, write_json_atomic
from psl.models.device import resolve_device
from psl.models.inference import infer

__all__ = ["evaluate", "write_evaluation"]


def evaluate(
    model: str | Path | None = None,
    split: str = "test",
    attention: str = "learned",
    fasta: str | Path | None = None,
    seed: int = 0,
    n_boot: int = 1000,
    device: str = "auto",
    batch_size: int = 64,
    calibrated: bool = True,
    homology: bool = True,
) -> dict[str, Any]:
    """Score a checkpoint.

    Arguments:
        model: checkpoint directory (default: the shipped model).
        split: ``test`` or ``val`` of the data config stored with the model.
        attention: ``learned``, ``uniform``, ``permute`` or ``random`` (inference ablation).
        fasta: a labelled file to score instead of ``split``: a DeepLoc-style FASTA, or any
            labelled CSV/TSV :func:`psl.sources.read_labelled` reads (DeepLoc 2.0 CSV, UniProt
            TSV export); multi-label proteins are skipped.
        seed: seed of the ablation randomness and of the bootstrap.
        n_boot: bootstrap resamples for the 95% intervals.
        device: ``auto``, ``cpu`` or ``cuda``.
        batch_size: proteins per batch.
        calibrated: apply the checkpoint's ``calibration.json`` (temperature and logit
            offsets) to the logits before scoring; False scores the raw logits.
        homology: combine with the nearest reference protein, as ``psl predict`` does, when
            the checkpoint has a homology transfer (:mod:`psl.transfer`); references identical
            to a scored protein are left out of its search.

    Returns:
        The :func:`psl.metrics.classification_report` dict plus ``source``, ``attention``,
        ``model``, ``calibration``: ``temperature``, ``offsets``, ``applied`` and the
        expected calibration error (15 bins) of the raw probabilities (``ece_raw``), of the
        temperature-scaled ones (``ece_temperature``) and of what is scored (``ece``); and
        ``homology``: ``applied``, and where applied the number of ``references``, proteins
        ``with_homolog`` (nearest reference a homolog: combined), ``identical_to_reference``
        (scored proteins whose sequence is a reference: each is searched among the other
        references, leave-one-out, as the references were when the table was fitted), and
        the network's own ``network_accuracy`` / ``network_macro_f1``.

    Raises:
        PslError: unknown split or attention mode, a FASTA without single-label proteins.
    """
    if split not in ("test", "val"):
        raise PslError(f"split must be 'test' or 'val', got {split!r}", param="split")
    if attention not in INFERENCE_ATTENTION:
        raise PslError(f"attention must be {', '.join(INFERENCE_ATTENTION)}: {attention!r}",
                       param="attention")
    dev = resolve_device(device)
    loaded = load_model(model, device=dev)
    if fasta is not None:
        if Path(fasta).is_dir():
            raise PslError("expected a labelled FASTA/CSV/TSV file, got a directory", fasta)
        df = read_source(fasta, "drop")[0]  # DeepLoc headers or any labelled FASTA/CSV/TSV
        if df.empty:
            raise PslError("no single-label protein to evaluate", fasta)
        source = str(fasta)
    else:
        data_cfg = DataConfig(**loaded.run_config.get("data", {}))
        df = load_splits(data_cfg)[split]
        source = f"{data_cfg.split} split, {split}"
    data = EncodedSet(df["sequence"].tolist(), df["label"].tolist(), loaded.config.max_len)
    res = infer(loaded.model, data, batch_size=batch_size, attention=attention, seed=seed,
                device=dev)
    y = data.labels.numpy()
    cal = loaded.calibration if calibrated else Calibration()
    logits = cal.apply(res.logits)
    probs = softmax(logits)
    network = probs.argmax(1)
    transfer = loaded.transfer if homology else None
    homology_info: dict[str, Any] = {"applied": transfer is not None}
    if transfer is not None:
        seqs = df["sequence"].tolist()
        # leave-one-out: a scored protein that is a reference is not its own nearest one
        hits = transfer.search(seqs, exclude_identical=True)
        probs = transfer.combine(probs, hits)
        k = len(LOCATION_CLASSES)
        homology_info.update({
            "references": len(transfer.references),
            "with_homolog": int(hits.homolog.sum()),
            "identical_to_reference": transfer.references.identical(seqs),
            "network_accuracy": float((network == y).mean()),
            "network_macro_f1": macro_f1(y, network, k),
        })
    pred = probs.argmax(1)
    report = classification_report(y, pred, list(LOCATION_CLASSES), n_boot=n_boot, seed=seed)
    report.update({"source": source, "attention": attention, "model": str(loaded.path)})
    report["homology"] = homology_info
    report["calibration"] = {
        "applied": calibrated and not cal.is_identity,
        "temperature": cal.temperature,
        "offsets": cal.offsets,
        "ece_raw": expected_calibration_error(softmax(res.logits), y),
        "ece_temperature": expected_calibration_error(
            softmax(res.logits / loaded.calibration.temperature), y),
        "ece": expected_calibration_error(probs, y),
    }
    return report


def write_evaluation(report: dict[str, Any], out: str | Path) -> None:
    """Write ``metrics.json``, ``confusion.csv`` and ``confusion.png`` into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "metrics.json", report)
    cm = np.asarray(report["confusion"])
    classes = report["classes"]
    lines = ["true\\predicted," + ",".join(classes)]
    lines += [c + "," + ",".join(str(v) for v in row) for c, row in zip(classes, cm, strict=True)]
    tmp = out / ".confusion.csv.tmp"
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(out / "confusion.csv")
    plot_confusion(cm, classes, out / "confusion.png",
                   title=f"{report['source']} (attention={report['attention']})")
