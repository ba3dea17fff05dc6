"""Per-residue attributions of a localization model: attention weights and Integrated Gradients.

Two methods, both batched over many proteins per forward pass (length-sorted batches, padded,
masked):

``attention``
    The model's residue-level attention weights (``ModelOutput.attention_residue``: the weight of
    a pooled position spread over the residues of its window) under an attention mode:
    ``learned``, or the ablations ``uniform``, ``permute`` (each protein's own weights shuffled)
    and ``random`` (seeded). The prediction reported is the model's output under that mode.

``ig``
    Integrated Gradients (Sundararajan, Taly & Yan, "Axiomatic Attribution for Deep Networks",
    ICML 2017) computed with Captum on the model's input features (``model.embed``), for the
    target class (``predicted`` or ``true``). The explained output is the target's logit.
    Baseline: the all-zero input feature vector at every real residue, with the mask unchanged
    (for one-hot / BLOSUM62 encodings this is the padding vector: "no residue here").
    Attributions are summed over the feature dimension to give one score per residue; by
    completeness they add up to ``logit(x) - logit(baseline)``, and Captum's convergence delta
    (the difference) is reported per protein. For the ``permute`` / ``random`` ablations the
    ablated weights are drawn once per protein and held fixed along the integration path.
    ``n_steps`` (default 50) Riemann-trapezoid steps; ``internal_batch_size`` bounds how many
    (protein, step) rows go through the model at once. cuDNN's RNN backward refuses eval mode,
    so IG runs with cuDNN disabled on GPU (a known Captum issue).

Residues cut out by the model's cropping (sequences longer than ``max_len`` keep their first and
last ``max_len / 2`` residues) appear in the output with a NaN score.

Output: one row per residue: ``protein, position`` (1-based, original sequence), ``residue,
score, method, attention, target, true_label, predicted_label, confidence, target_label, delta,
accession, seq_hash`` then one probability column ``p_<class>`` per class. ``protein`` is the
id as given (the FASTA header's first word); ``accession`` the UniProt accession parsed from it
(``sp|P12345|NAME`` -> ``P12345``; empty when the id is no accession) and ``seq_hash`` the
protein's sequence hash as the knowledge base stores it
(:func:`kb.alphabet.sequence_hash`): ``psl score`` identifies the protein by them,
never by its id.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from kb.alphabet import sequence_hash
from kb.classes import LOCATION_CLASSES, normalize_class
from kb.errors import InputFormatError
from kb.fasta import parse_header
from psl.choices import EXPLAIN_SPLITS, INFERENCE_ATTENTION, METHODS, TARGETS
from psl.data import DUAL_LOCATION, encode_batch, read_deeploc
from psl.errors import PslError

__all__ = [
    "METHODS",
    "ATTENTION_CHOICES",
    "accession_from_id",
    "default_threads",
    "TARGETS",
    "IGSettings",
    "explain",
    "length_batches",
    "load_proteins",
    "probability_columns",
]

#: The attention modes a user picks (``psl.choices.INFERENCE_ATTENTION``).
ATTENTION_CHOICES = INFERENCE_ATTENTION


@dataclass(frozen=True)
class IGSettings:
    """Integrated-Gradients settings (the ``[explain]`` table of a config).

    Attributes:
        n_steps: integration steps.
        internal_batch_size: (protein, step) rows per forward/backward chunk; ``None`` = all
            ``batch_size * n_steps`` rows at once. Small chunks are faster on a CPU: with the
            default model, 64 rows ran 2.4-2.8x faster per protein than 256 (large activations
            are allocated and freed at every chunk; ``benchmarks/results/explain.md``).
        method: Captum's integration rule (``gausslegendre`` or ``riemann_trapezoid``...).
    """

    n_steps: int = 50
    internal_batch_size: int | None = 64
    method: str = "gausslegendre"

    def __post_init__(self) -> None:
        if self.n_steps < 1:
            raise ValueError(f"n_steps must be >= 1, got {self.n_steps}")
        if self.internal_batch_size is not None and self.internal_batch_size < 1:
            raise ValueError(
                f"internal_batch_size must be >= 1 or None, got {self.internal_batch_size}"
            )


#: a UniProt accession (isoform suffix allowed), UniProt's documented pattern
_ACCESSION = re.compile(
    r"(?:[OPQ][0-9][A-Z0-9]{3}[0-9]|[A-NR-Z][0-9](?:[A-Z][A-Z0-9]{2}[0-9]){1,2})(?:-[0-9]+)?"
)


def accession_from_id(protein_id: str) -> str | None:
    """The UniProt accession of a FASTA id: ``sp|P38175|NAME_HUMAN`` / ``tr|ACC|NAME`` -> the
    accession (isoforms kept: ``sp|P38175-2|...`` -> ``P38175-2``; parsed by
    :func:`kb.fasta.parse_header`, the project's one header parser), a bare accession itself,
    anything else None.
    """
    text = str(protein_id).strip()
    if not text:
        return None
    header = parse_header(text)
    if header.get("db") in ("sp", "tr"):
        return header["id"]
    return text if _ACCESSION.fullmatch(text) else None


def _label_from_header(description: str) -> str | None:
    """The true label of a DeepLoc-style header (``Location-Solubility[ test]``), else None."""
    words = description.split()
    if not words:
        return None
    loc, sep, sol = words[0].rpartition("-")
    if not sep or sol not in ("M", "S", "U"):
        loc = words[0]
    try:
        return normalize_class(loc)
    except ValueError:
        return None


def load_proteins(
    fasta: str | Path | None = None,
    split: str | None = None,
    deeploc: str | Path | None = None,
) -> tuple[list[str], list[str], list[str | None]]:
    """Names, sequences and true labels of the proteins to explain.

    Arguments:
        fasta: a FASTA file; a DeepLoc header ``>ACC Location-Solubility[ test]`` (or a
            class name as first word of the description) gives the true label, any other
            header none.
        split: instead of ``fasta``: ``test``, ``train`` or ``all`` of the DeepLoc 1.0 data
            (the dual-label ``Cytoplasm-Nucleus`` proteins are left out).
        deeploc: the DeepLoc FASTA for ``split`` (default: the shipped copy).

    Returns:
        ``(names, sequences, labels)``.

    Raises:
        PslError: neither or both of ``fasta``/``split``, or an unknown split
            (:data:`psl.choices.EXPLAIN_SPLITS`).
        InputFormatError: an unreadable FASTA file.
    """
    if (fasta is None) == (split is None):
        raise PslError(
            f"give exactly one of fasta (a FASTA file) or split ({_one_of(EXPLAIN_SPLITS)} of "
            "the DeepLoc 1.0 data)", param=("fasta", "split"))
    if fasta is not None:
        from psl.fasta import read_fasta

        recs = read_fasta(fasta)
        # a UniProt header's description is the protein name, never a label
        return ([r.id for r in recs], [r.sequence for r in recs],
                [None if r.db is not None else _label_from_header(r.description)
                 for r in recs])
    _check_choice("split", split, EXPLAIN_SPLITS)
    df = read_deeploc(deeploc) if deeploc is not None else read_deeploc()
    df = df[df["location"] != DUAL_LOCATION]
    if split != "all":
        df = df[df["is_test"] == (split == "test")]
    if df.empty:
        raise InputFormatError(f"no protein in the {split!r} split", deeploc)
    return df["accession"].tolist(), df["sequence"].tolist(), df["location"].tolist()


def default_threads(cores: int | None = None, load: float | None = None) -> int:
    """Torch CPU threads for attributions on a possibly busy machine.

    ``min(cores, max(1, round(cores - load)))``: the cores this process may use minus the
    1-minute load average (what other processes already keep busy). On a 2-core machine
    shared with other jobs, one thread was measured 1.5-3x faster than two (threads waiting
    for busy cores); see ``docs/explain.md``.

    Arguments:
        cores: usable cores (default: this process's CPU affinity, else ``os.cpu_count()``).
        load: load average (default: ``os.getloadavg()[0]``; 0 where unavailable).

    Returns:
        A thread count >= 1.
    """
    if cores is None:
        try:
            cores = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):  # not on Linux
            cores = os.cpu_count() or 1
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):  # not on Unix
            load = 0.0
    return int(min(cores, max(1, round(cores - load))))


def probability_columns(classes: Sequence[str] = LOCATION_CLASSES) -> list[str]:
    """Names of the probability columns of an attribution table (``p_<class>``)."""
    return [f"p_{c}" for c in classes]


def _one_of(choices: Sequence[str]) -> str:
    """``a, b or c``."""
    return ", ".join(choices[:-1]) + " or " + choices[-1] if len(choices) > 1 else choices[0]


def _check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    """A :class:`PslError` naming parameter ``name`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise PslError(f"{name} must be one of {', '.join(choices)}, got {value!r}", param=name)


def _model_device(model: torch.nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def _no_cudnn(device: torch.device):
    if device.type == "cuda":
        return torch.backends.cudnn.flags(enabled=False)
    return contextlib.nullcontext()


def length_batches(
    lengths: np.ndarray, batch_size: int, max_padding: float = 0.1
) -> list[np.ndarray]:
    """Indices of length-sorted batches with little padding.

    Proteins are sorted by length; a batch is closed when it has ``batch_size`` proteins or
    when the next protein is more than ``max_padding`` longer than the batch's shortest (on CPU
    padded positions cost as much as real ones, and big padded tensors slow the BiLSTM down).

    Arguments:
        lengths: the (cropped) lengths.
        batch_size: most proteins per batch.
        max_padding: relative length spread allowed in a batch.

    Returns:
        Arrays of indices into ``lengths``, covering each index once.
    """
    order = np.argsort(lengths, kind="stable")
    batches: list[np.ndarray] = []
    start = 0
    for i in range(1, len(order) + 1):
        if (i == len(order) or i - start >= batch_size
                or lengths[order[i]] > lengths[order[start]] * (1 + max_padding)):
            batches.append(order[start:i])
            start = i
    return batches


def _ig_batch(
    model: torch.nn.Module,
    tokens: torch.Tensor,
    mask: torch.Tensor,
    targets: torch.Tensor,
    attention: str,
    preset: torch.Tensor | None,
    settings: IGSettings,
) -> tuple[torch.Tensor, torch.Tensor]:
    """IG attributions ``B x L`` (summed over features) and convergence deltas ``B``."""
    from captum.attr import IntegratedGradients

    x = model.embed(tokens).detach()
    mode = "preset" if preset is not None else attention
    if hasattr(model, "stem") and hasattr(model, "from_stem"):
        with _no_cudnn(x.device), torch.enable_grad():
            attr, delta = _ig_through_stem(model, x, mask, targets, mode, preset, settings)
        return attr.sum(-1).detach() * mask, delta.detach()

    def forward(inp: torch.Tensor, m: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        pre = rest[0] if rest else None
        return model.forward_from_embedded(inp, m, attention=mode, preset=pre)

    extra = (mask,) if preset is None else (mask, preset)
    ig = IntegratedGradients(forward)
    with _no_cudnn(x.device), torch.enable_grad():
        attr, delta = ig.attribute(
            x,
            baselines=torch.zeros_like(x),
            target=targets,
            additional_forward_args=extra,
            n_steps=settings.n_steps,
            method=settings.method,
            internal_batch_size=(None if settings.internal_batch_size is None
                                 else max(settings.internal_batch_size, len(tokens))),
            return_convergence_delta=True,
        )
    return attr.sum(-1).detach() * mask, delta.detach()


def _ig_through_stem(
    model: Any, x: torch.Tensor, mask: torch.Tensor, targets: torch.Tensor, mode: str,
    preset: torch.Tensor | None, settings: IGSettings,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Integrated Gradients of ``x`` (zero baseline) integrated over the model's affine stem.

    The stem ``S`` (the first convolutions, :meth:`~psl.models.LocalizationModel.stem`) is
    affine, so the straight path from the baseline to ``x`` maps onto the straight path from
    ``S(0)`` to ``S(x)`` and ``dF/dx = S^T dF/dS`` at every step: the gradients are averaged
    over the path at the stem's output and pulled back through ``S`` once. The result equals
    Captum's ``IntegratedGradients`` on ``x`` (same integration rule, steps and weights; a test
    compares them) without running the stem forward and backward at every step.
    """
    from captum.attr._utils.approximation_methods import approximation_parameters

    step_sizes, alphas = approximation_parameters(settings.method)
    n = settings.n_steps
    a = torch.tensor(alphas(n), dtype=x.dtype, device=x.device)
    w = torch.tensor(step_sizes(n), dtype=x.dtype, device=x.device)
    b = x.shape[0]
    with torch.no_grad():
        z1 = model.stem(x, mask)
        z0 = model.stem(torch.zeros_like(x), mask)
    dz = [p1 - p0 for p0, p1 in zip(z0, z1, strict=True)]
    avg = [torch.zeros_like(p) for p in z1]
    ibs = settings.internal_batch_size
    per_chunk = n if ibs is None else max(1, max(ibs, b) // b)
    for s0 in range(0, n, per_chunk):
        s1 = min(n, s0 + per_chunk)
        k = s1 - s0
        shape = (-1,) + (1,) * z1[0].dim()
        parts = [(p0.unsqueeze(0) + a[s0:s1].view(shape) * d.unsqueeze(0))
                 .reshape(k * b, *p0.shape[1:]).requires_grad_(True)
                 for p0, d in zip(z0, dz, strict=True)]
        out = model.from_stem(parts, mask.repeat(k, 1), attention=mode,
                              preset=None if preset is None else preset.repeat(k, 1))
        picked = out.logits.gather(1, targets.repeat(k).unsqueeze(1)).sum()
        grads = torch.autograd.grad(picked, parts)
        for acc, g in zip(avg, grads, strict=True):
            acc += (g.view(k, *acc.shape) * w[s0:s1].view(shape)).sum(0)
    xr = x.detach().requires_grad_(True)
    (gx,) = torch.autograd.grad(model.stem(xr, mask), xr, grad_outputs=avg)
    attr = x * gx
    with torch.no_grad():
        f1 = model.from_stem(z1, mask, attention=mode, preset=preset).logits
        f0 = model.from_stem(z0, mask, attention=mode, preset=preset).logits
        t = targets.unsqueeze(1)
        delta = attr.sum((1, 2)) - (f1.gather(1, t) - f0.gather(1, t)).squeeze(1)
    return attr, delta


@dataclass(frozen=True)
class _Run:
    """What :func:`explain` computes, as the worker processes receive it."""

    method: str
    attention: str
    target: str
    max_len: int
    classes: list[str]
    batch_size: int
    ig: IGSettings
    seed: int


def _empty_results(seqs: Sequence[str], n_classes: int):
    """``lengths``, ``offsets`` and the unfilled results of :func:`_attribute`: residue scores
    (NaN), probabilities, IG deltas (NaN) and target class indices."""
    n = len(seqs)
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    results = (np.full(int(offsets[-1]), np.nan, dtype=np.float64),
               np.zeros((n, n_classes), dtype=np.float32), np.full(n, np.nan, dtype=np.float64),
               np.zeros(n, dtype=np.int64))
    return lengths, offsets, results


def _attribute(
    model: torch.nn.Module, seqs: Sequence[str], labels: Sequence[str | None], run: _Run,
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Residue scores (concatenated over ``seqs``; NaN where cropped), probabilities, IG deltas
    and target class indices of upper-cased sequences (the work of :func:`explain`)."""
    classes = run.classes
    lengths, offsets, (scores, probs, delta, target_idx) = _empty_results(seqs, len(classes))
    device = _model_device(model)
    gen = torch.Generator().manual_seed(run.seed)
    attention = run.attention
    done = 0
    for idx in length_batches(np.minimum(lengths, run.max_len), run.batch_size):
        batch = encode_batch([seqs[i] for i in idx], run.max_len).to(device)
        with torch.no_grad():
            out = model(batch.tokens, batch.mask, attention=attention, generator=gen)
        p = torch.softmax(out.logits.float(), dim=-1)
        probs[idx] = p.cpu().numpy()
        if run.target == "true":
            tgt = torch.tensor([classes.index(labels[i]) for i in idx], device=device)
        else:
            tgt = p.argmax(-1)
        target_idx[idx] = tgt.cpu().numpy()
        if run.method == "attention":
            res = out.attention_residue
        else:
            preset = out.attention_residue if attention in ("permute", "random") else None
            res, d = _ig_batch(model, batch.tokens, batch.mask, tgt, attention, preset, run.ig)
            delta[idx] = d.float().cpu().numpy()
        m = batch.mask.cpu().numpy()
        pos = batch.positions.cpu().numpy()
        rows = np.broadcast_to(offsets[idx][:, None], m.shape)[m] + pos[m] - 1
        scores[rows] = res.detach().float().cpu().numpy()[m]
        done += len(idx)
        if progress is not None:
            progress(done)
    return scores, probs, delta, target_idx


_WORKER_MODEL: torch.nn.Module | None = None


def _worker_init(model: torch.nn.Module) -> None:
    global _WORKER_MODEL
    torch.set_num_threads(1)
    _WORKER_MODEL = model


def _worker_attribute(seqs: list[str], labels: list[str | None], run: _Run):
    if _WORKER_MODEL is None:  # pragma: no cover - _worker_init always runs first
        raise RuntimeError("worker process without a model")
    return _attribute(_WORKER_MODEL, seqs, labels, run)


#: Proteins per task of the worker processes (progress is reported per task).
_TASK_PROTEINS = 8


def _attribute_in_processes(
    model: torch.nn.Module, seqs: Sequence[str], labels: Sequence[str | None], run: _Run,
    workers: int, progress: Callable[[int], None] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_attribute` in ``workers`` processes of one torch thread each.

    Proteins go out in tasks of :data:`_TASK_PROTEINS`, cut from the length-sorted order so
    that each task's batches pad little; every protein is computed exactly as in one process
    (``psl explain`` allows it only where a protein's result does not depend on its batch).
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    n = len(seqs)
    lengths, offsets, (scores, probs, delta, target_idx) = _empty_results(seqs, len(run.classes))
    order = np.argsort(np.minimum(lengths, run.max_len), kind="stable")
    tasks = [order[a:a + _TASK_PROTEINS] for a in range(0, n, _TASK_PROTEINS)]
    done = 0
    ctx = multiprocessing.get_context("spawn")  # no fork after torch's thread pools started
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init,
                             initargs=(model,)) as pool:
        futures = {pool.submit(_worker_attribute, [seqs[i] for i in t],
                               [labels[i] for i in t], run): t for t in tasks}
        for fut in as_completed(futures):
            t = futures[fut]
            sc, pr, de, ti = fut.result()
            probs[t], delta[t], target_idx[t] = pr, de, ti
            at = 0
            for i in t.tolist():
                scores[offsets[i]:offsets[i + 1]] = sc[at:at + lengths[i]]
                at += lengths[i]
            done += len(t)
            if progress is not None:
                progress(done)
    return scores, probs, delta, target_idx


def explain(
    model: torch.nn.Module,
    sequences: Sequence[str],
    names: Sequence[str],
    true_labels: Sequence[str | None] | None = None,
    method: Literal["attention", "ig"] = "attention",
    attention: str = "learned",
    target: Literal["predicted", "true"] = "predicted",
    max_len: int | None = None,
    classes: Sequence[str] = LOCATION_CLASSES,
    batch_size: int | None = None,
    ig: IGSettings | None = None,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
    accessions: Sequence[str | None] | None = None,
    workers: int = 1,
) -> pd.DataFrame:
    """Per-residue attributions for many proteins.

    Arguments:
        model: an eval-mode model with ``embed``, ``forward_from_embedded`` and a ``forward``
            returning ``logits`` and ``attention_residue`` (see :mod:`psl.models`).
        sequences: amino-acid sequences.
        names: protein identifiers (same length as ``sequences``).
        true_labels: class names (or ``None`` per protein when unknown); needed for
            ``target="true"``.
        method: ``attention`` or ``ig``.
        attention: ``learned``, ``uniform``, ``permute`` or ``random``.
        target: IG target class: the ``predicted`` one or the ``true`` one.
        max_len: crop length; default: ``model.config.max_len`` (1000 if the model has none).
        classes: class names in the model's output order.
        batch_size: most proteins per batch (see :func:`length_batches`); default 16 for
            ``attention`` and 1 for ``ig``: on a CPU one protein's ``n_steps`` rows per chunk
            (no padding) was measured fastest, 10 proteins/s against 6 with 16 proteins per
            batch; on a GPU pass a larger value.
        ig: IG settings (defaults: 50 steps).
        seed: seed of the ``permute``/``random`` ablations.
        progress: called with the number of proteins finished after each batch.
        accessions: UniProt accession of each protein (None when unknown); default: parsed
            from ``names`` with :func:`accession_from_id`.
        workers: processes (one torch thread each) that share the proteins; a CPU model and
            the ``learned`` or ``uniform`` attention only (the seeded ablations draw in batch
            order). Results are those of one process (identical with one protein per batch,
            the IG default; within float rounding otherwise). Each worker starts a Python
            interpreter (a few seconds): worth it for IG on many proteins.

    Returns:
        The attribution table described in the module docstring (rows in input protein order,
        then position).

    Raises:
        PslError: bad choices (:mod:`psl.choices`), mismatched lengths, ``target="true"``
            without a true label, or an invalid sequence (``param`` names the parameter).
    """
    _check_choice("method", method, METHODS)
    _check_choice("attention", attention, ATTENTION_CHOICES)
    _check_choice("target", target, TARGETS)
    if batch_size is None:
        batch_size = 16 if method == "attention" else 1
    if batch_size < 1:
        raise PslError(f"batch_size must be >= 1, got {batch_size}", param="batch_size")
    if workers < 1:
        raise PslError(f"workers must be >= 1, got {workers}", param="workers")
    if workers > 1 and attention not in ("learned", "uniform"):
        raise PslError(f"workers > 1 needs attention 'learned' or 'uniform' (the {attention!r} "
                       "ablation draws its weights in batch order)", param="workers")
    if workers > 1 and _model_device(model).type != "cpu":
        raise PslError("workers > 1 runs on the CPU; the model is on "
                       f"{_model_device(model)}", param="workers")
    n = len(sequences)
    if len(names) != n or any(x is not None and len(x) != n for x in (true_labels, accessions)):
        raise PslError("sequences, names, true_labels and accessions must have the same length")
    if n == 0:
        raise PslError("no protein to explain")
    labels: list[str | None] = [None] * n
    if true_labels is not None:
        labels = [
            None if (t is None or (isinstance(t, float) and np.isnan(t)) or t == "")
            else normalize_class(str(t), where=f"protein {names[i]!r}")
            for i, t in enumerate(true_labels)
        ]
    if target == "true" and method == "ig":
        missing = [names[i] for i, t in enumerate(labels) if t is None]
        if missing:
            raise PslError(
                f"target {target!r} needs a true label for every protein; {len(missing)} have "
                f"none (first: {missing[0]!r})", param="target",
            )
    ig = ig or IGSettings()
    if max_len is None:
        max_len = int(getattr(getattr(model, "config", None), "max_len", 1000))
    classes = list(classes)
    seqs = [s[:-1] if s.endswith("*") else s for s in (str(s).upper() for s in sequences)]
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    total = int(offsets[-1])
    run = _Run(method, attention, target, max_len, classes, batch_size, ig, seed)
    if workers > 1 and n > 1:
        scores, probs, delta, target_idx = _attribute_in_processes(model, seqs, labels, run,
                                                                   workers, progress)
    else:
        scores, probs, delta, target_idx = _attribute(model, seqs, labels, run, progress)

    protein_of_row = np.repeat(np.arange(n), lengths)
    position = np.arange(total) - offsets[protein_of_row] + 1
    residues = np.frombuffer("".join(seqs).encode("ascii"), dtype="S1").astype(str)
    pred = probs.argmax(1)
    name_arr = np.asarray([str(x) for x in names], dtype=object)
    if accessions is None:
        accessions = [accession_from_id(x) for x in name_arr]
    accession_arr = np.asarray([None if a is None or a == "" else str(a) for a in accessions],
                               dtype=object)

    hash_arr = np.asarray([sequence_hash(s) for s in seqs], dtype=object)
    label_arr = np.asarray(labels, dtype=object)
    class_arr = np.asarray(classes, dtype=object)
    table = pd.DataFrame(
        {
            "protein": name_arr[protein_of_row],
            "position": position,
            "residue": residues,
            "score": scores,
            "method": method,
            "attention": attention,
            "target": target if method == "ig" else "",
            "true_label": label_arr[protein_of_row],
            "predicted_label": class_arr[pred][protein_of_row],
            "confidence": probs.max(1)[protein_of_row],
            "target_label": class_arr[target_idx][protein_of_row],
            "delta": delta[protein_of_row],
            "accession": accession_arr[protein_of_row],
            "seq_hash": hash_arr[protein_of_row],
        }
    )
    for j, col in enumerate(probability_columns(classes)):
        table[col] = probs[protein_of_row, j]
    return table
