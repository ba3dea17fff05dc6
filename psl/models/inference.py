"""Inference: batched logits/attention over encoded sets, and the ``predict`` table."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from psl.data import EncodedSet
from psl.errors import PslError
from psl.models.checkpoint import LoadedModel
from psl.models.family import LocalizationModel

__all__ = ["Inference", "infer", "predict", "preset_batch"]


@dataclass
class Inference:
    """Outputs of :func:`infer`, in the order of the encoded set.

    Attributes:
        logits: ``N x n_classes`` float32 array.
        attention: per protein, residue-level weights over its kept residues (or None).
        positions: per protein, 1-based original positions of the kept residues (or None).
    """

    logits: np.ndarray
    attention: list[np.ndarray] | None
    positions: list[np.ndarray] | None


def preset_batch(presets: Sequence[np.ndarray], idx: np.ndarray, width: int) -> torch.Tensor:
    """Pad the residue-level preset distributions of proteins ``idx`` to ``B x width``."""
    out = np.zeros((len(idx), width), dtype=np.float32)
    for row, i in enumerate(idx):
        out[row, : len(presets[i])] = presets[i]
    return torch.from_numpy(out)


@torch.no_grad()
def infer(
    model: LocalizationModel,
    data: EncodedSet,
    batch_size: int = 64,
    attention: str = "learned",
    seed: int = 0,
    presets: Sequence[np.ndarray] | None = None,
    device: str | torch.device = "cpu",
    keep_attention: bool = False,
) -> Inference:
    """Run ``model`` (in eval mode) over an :class:`EncodedSet`, length-bucketed.

    Arguments:
        model: the model.
        data: encoded proteins.
        batch_size: proteins per batch.
        attention: attention mode (see :data:`psl.models.ATTENTION_MODES`).
        seed: seed of the generator of ``permute`` / ``random``.
        presets: residue-level distributions per protein for ``attention="preset"``.
        device: where to run.
        keep_attention: also return residue-level attention and positions.

    Returns:
        An :class:`Inference`.
    """
    was_training = model.training
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    logits = np.zeros((len(data), model.config.n_classes), dtype=np.float32)
    att: list[np.ndarray] | None = [np.zeros(0)] * len(data) if keep_attention else None
    pos: list[np.ndarray] | None = [np.zeros(0)] * len(data) if keep_attention else None
    try:
        for idx, batch, _ in data.batches(batch_size):
            b = batch.to(device)
            pre = preset_batch(presets, idx, b.tokens.shape[1]).to(device) if presets else None
            out = model(b.tokens, b.mask, attention=attention, generator=gen, preset=pre)
            logits[idx] = out.logits.float().cpu().numpy()
            if keep_attention:
                a = out.attention_residue.cpu().numpy()
                lengths = batch.lengths.numpy()
                for row, i in enumerate(idx):
                    att[i] = a[row, : lengths[row]]
                    pos[i] = batch.positions[row, : lengths[row]].numpy()
    finally:
        model.train(was_training)
    return Inference(logits, att, pos)


def network_probabilities(
    loaded: LoadedModel,
    sequences: Sequence[str],
    batch_size: int = 64,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """The network's calibrated class probabilities ``N x C`` (the checkpoint's temperature
    and logit offsets applied, no homology transfer): the ``p_<class>`` columns of
    :func:`predict` with ``homology=False``, without attention or a table.

    Raises:
        InvalidSequenceError: an empty sequence or an illegal letter.
    """
    data = EncodedSet(sequences, None, loaded.config.max_len)
    logits = infer(loaded.model, data, batch_size=batch_size, device=device).logits
    return loaded.calibration.probabilities(logits)


def predict(
    loaded: LoadedModel,
    sequences: Sequence[str],
    ids: Sequence[str] | None = None,
    batch_size: int = 64,
    top_k: int = 5,
    attention: str = "learned",
    device: str | torch.device = "cpu",
    homology: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Predict the location of proteins.

    Arguments:
        loaded: a model from :func:`psl.models.checkpoint.load_model`.
        sequences: amino-acid strings.
        ids: names of the proteins (default ``seq1``, ``seq2``, ...).
        batch_size: proteins per batch.
        top_k: how many top-attention residue positions to report.
        attention: attention mode.
        device: where to run.
        homology: combine the network's probabilities with a protein's nearest reference
            when that is a homolog and the checkpoint has a homology transfer
            (:mod:`psl.transfer`); False: the network alone.
        progress: ``progress(done, total)`` of the nearest-reference search.

    Returns:
        A DataFrame with ``id``, ``length``, ``predicted``, ``probability`` (of the predicted
        class), one ``p_<class>`` column per class (calibrated with the checkpoint's
        temperature and logit offsets, see :mod:`psl.models.calibration`, then combined with
        a homologous nearest reference where homology transfer applies), and
        ``top_attention`` (``"pos:weight"`` pairs of the ``top_k`` residues with the highest
        attention of the network, 1-based positions in the original sequence,
        ``;``-separated). With homology transfer also ``network_predicted`` (the network's
        own call), ``nearest_reference`` (accession; empty without a hit),
        ``nearest_location``, ``nearest_score`` (Smith-Waterman), ``nearest_identity`` and
        ``nearest_is_homolog`` (>= 30% identity over >= 50% of the shorter and >= 40 bits:
        only then is it combined).

    Raises:
        InvalidSequenceError: an empty sequence or an illegal letter.
        ValueError: ``ids`` of the wrong length.
    """
    if ids is None:
        ids = [f"seq{i + 1}" for i in range(len(sequences))]
    if len(ids) != len(sequences):
        raise PslError(f"{len(ids)} ids for {len(sequences)} sequences")
    data = EncodedSet(sequences, None, loaded.config.max_len)
    res = infer(loaded.model, data, batch_size=batch_size, attention=attention, device=device,
                keep_attention=True)
    # calibrated: softmax(z / T + b) with the checkpoint's calibration.json (identity if none)
    probs = loaded.calibration.probabilities(res.logits)
    network = probs.argmax(1)
    transfer = loaded.transfer if homology else None
    if transfer is not None:
        hits = transfer.search(sequences, progress=progress)
        probs = transfer.combine(probs, hits)
    probs = probs.astype(np.float32)
    best = probs.argmax(1)
    table: dict[str, object] = {
        "id": list(ids),
        "length": [len(s.rstrip("*")) for s in sequences],
        "predicted": [loaded.classes[i] for i in best],
        "probability": probs[np.arange(len(best)), best],
    }
    for j, c in enumerate(loaded.classes):
        table[f"p_{c}"] = probs[:, j]
    tops = []
    for a, p in zip(res.attention, res.positions, strict=True):
        order = np.argsort(-a, kind="stable")[:top_k]
        tops.append(";".join(f"{int(p[i])}:{a[i]:.4f}" for i in order))
    table["top_attention"] = tops
    if transfer is not None:
        refs = transfer.references
        ok = hits.ref >= 0
        table["network_predicted"] = [loaded.classes[i] for i in network]
        table["nearest_reference"] = [refs.accessions[j] if j >= 0 else "" for j in hits.ref]
        table["nearest_location"] = [refs.locations[j] if j >= 0 else "" for j in hits.ref]
        table["nearest_score"] = hits.score
        table["nearest_identity"] = np.where(ok, hits.identity, 0.0).astype(np.float32)
        table["nearest_is_homolog"] = hits.homolog
    return pd.DataFrame(table)

