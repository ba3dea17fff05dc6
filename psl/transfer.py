"""Homology transfer: an annotated homolog as evidence beside a model.

A protein's close relative among annotated reference proteins (by default the proteins a model
was trained and validated on) says something about its compartment, and the higher the
identity, the more. This module finds each query's **nearest reference** and, when that
reference is a homolog, turns its class into a likelihood ratio per class, combined with a
model's calibrated probabilities.

Nearest reference
    The candidates of the k-mer prefilter of :func:`psl.homology.candidate_pairs` (shared
    5-mers on one diagonal band; the ``rescore`` references with the most are ranked by their
    best ungapped diagonal segment, and the first ``max_candidates`` kept; the query's
    low-complexity segments, found by SEG, seed no word and score as X there) are aligned with
    Smith-Waterman (BLOSUM62, gaps 11/1, as in :mod:`psl.homology`, through ``parasail``).
    A candidate is a **homolog** when its alignment passes DeepLoc's partition rule
    (:func:`psl.homology.homologous`: >= 30% identity over >= 50% of the shorter sequence) and
    scores at least ``min_bits`` (40) bits (:func:`bit_score`): the rule alone has no length
    floor, and a 13-residue query passes it with a chance alignment of 8 columns. The nearest
    reference is the highest-scoring homolog among the candidates, or, without one, the
    highest-scoring candidate. A query without candidates has no hit. The prefilter misses
    some remote homologs; ``benchmarks/transfer.py`` measures how many against aligning with
    every reference.

Likelihood table (fitted on the references alone)
    Every reference is searched against the others, leave-one-out (identical sequences
    excluded). For each identity bucket ``b`` (:data:`DEFAULT_EDGES`) and class ``l`` of a
    nearest reference that is a homolog, ``P(c | l, b)`` is the fraction of references of class
    ``c`` among those whose nearest other reference has class ``l`` and an identity in ``b``,
    smoothed towards the class frequencies ``P(c)`` with ``alpha`` pseudo-counts. No parameter
    is fitted on validation or test proteins.

Combination
    Bayes' rule, taking the model and the homolog as independent given the class::

        p'(c) = p(c) * P(c | l, b) / P(c), renormalised

    A query whose nearest reference is not a homolog (or that has none) keeps the model's
    probabilities: below DeepLoc's homology threshold the nearest reference's class did not
    help on the official test set (``benchmarks/results/transfer.md``). The model and the
    references are not independent when the model was trained on them, so the combination
    counts part of the evidence twice (its probabilities are sharper than they should be; the
    expected calibration error is reported there too).

Stored in a checkpoint directory as ``transfer.json`` (table, buckets, search settings, fit
summary) and ``references.tsv.gz`` (``accession``, ``location``, ``sequence``).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kb.atomic import atomic_path
from kb.classes import LOCATION_CLASSES, normalize_class
from kb.errors import InputFormatError
from psl.homology import GAP_EXTEND, GAP_OPEN, RESCORE, KmerIndex, candidate_pairs, homologous
from psl.low_complexity import seg_mask

__all__ = [
    "DEFAULT_EDGES",
    "TRANSFER_FILE",
    "REFERENCES_FILE",
    "SearchSettings",
    "bit_score",
    "References",
    "Hits",
    "HomologyTransfer",
    "nearest_references",
    "fit_transfer",
    "save_transfer",
    "load_transfer",
]

#: Karlin-Altschul parameters of gapped BLOSUM62 with gaps 11/1 (BLAST's defaults).
KA_LAMBDA, KA_K = 0.267, 0.041


def bit_score(score: np.ndarray | int) -> np.ndarray | float:
    """BLAST bit score of a raw Smith-Waterman score (BLOSUM62, gaps 11/1):
    ``(lambda * S - ln K) / ln 2``."""
    return (KA_LAMBDA * np.asarray(score, dtype=np.float64) - np.log(KA_K)) / np.log(2.0)


#: Lower identity edges of the buckets above the first (bucket 0: a homolog with identity
#: below 0.4, i.e. 0.3 to 0.4).
DEFAULT_EDGES: tuple[float, ...] = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
TRANSFER_FILE = "transfer.json"
REFERENCES_FILE = "references.tsv.gz"
_FORMAT = 1


@dataclass(frozen=True)
class SearchSettings:
    """How the nearest reference is searched.

    Attributes:
        k, band, min_hits: the prefilter's word length, diagonal band width and words needed
            in one band (:func:`psl.homology.candidate_pairs`).
        max_candidates: references aligned per query.
        rescore: the references with the most words in one band that are ranked by their best
            ungapped diagonal segment before ``max_candidates`` are kept (0: ranked by words;
            ``candidate_pairs(rescore=...)``).
        threads: alignment threads (parasail runs outside the GIL).
        min_bits: bit score a homolog needs besides DeepLoc's rule (40 bits: significant in
            searches of databases of this size, Pearson 2013, Curr. Protoc. Bioinf. 42:3.1).
        mask_low_complexity: the query's low-complexity segments
            (:func:`psl.low_complexity.seg_segments`, SEG) are masked in the prefilter: no
            word is seeded in them and they score as X in the ungapped rescoring. The
            alignment, the homolog rule and the identity use the whole sequence.
    """

    k: int = 5
    band: int = 16
    min_hits: int = 2
    max_candidates: int = 20
    rescore: int = RESCORE
    threads: int = 2
    min_bits: float = 40.0
    mask_low_complexity: bool = True

    def __post_init__(self) -> None:
        if not (1 <= self.k <= 8 and self.band >= 1 and self.min_hits >= 1
                and self.max_candidates >= 1 and self.threads >= 1 and self.min_bits >= 0
                and self.rescore >= 0):
            raise ValueError(f"invalid search settings {self}: need 1 <= k <= 8, band, "
                             "min_hits, max_candidates, threads >= 1 and min_bits, "
                             "rescore >= 0")


@dataclass
class References:
    """Annotated reference proteins (single class each).

    Attributes:
        accessions, locations, sequences: one entry per reference; ``locations`` are classes
            of :data:`kb.classes.LOCATION_CLASSES`.
        source: where they came from (recorded in ``transfer.json``).
    """

    accessions: list[str]
    locations: list[str]
    sequences: list[str]
    source: str = ""

    def __post_init__(self) -> None:
        if not (len(self.accessions) == len(self.locations) == len(self.sequences)):
            raise ValueError("accessions, locations and sequences differ in length")
        self.sequences = [s.rstrip("*").upper() for s in self.sequences]
        self.labels = np.array([LOCATION_CLASSES.index(normalize_class(c))
                                for c in self.locations], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.sequences)

    def identical(self, sequences: Sequence[str]) -> int:
        """How many of ``sequences`` (upper-cased, trailing ``*`` dropped) are references."""
        mine = set(self.sequences)
        return sum(s.rstrip("*").upper() in mine for s in sequences)

    @classmethod
    def from_frame(cls, df: pd.DataFrame, source: str = "") -> References:
        """From a frame with ``accession``, ``location``, ``sequence`` (e.g. training splits).

        Multi-label rows (``location`` with ``|``) are left out: a reference has one class.
        """
        keep = ~df["location"].astype(str).str.contains("|", regex=False)
        df = df[keep]
        return cls(df["accession"].astype(str).tolist(), df["location"].astype(str).tolist(),
                   df["sequence"].astype(str).tolist(), source)

    def write(self, path: str | Path) -> Path:
        """Write ``accession``, ``location``, ``sequence`` as gzipped TSV (atomically; the
        same references give the same bytes: no time or temporary name in the gzip header)."""
        path = Path(path)
        table = pd.DataFrame({"accession": self.accessions, "location": self.locations,
                              "sequence": self.sequences})
        with atomic_path(path) as tmp, open(tmp, "wb") as raw, \
                gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
            gz.write(table.to_csv(sep="\t", index=False).encode())
        return path

    @classmethod
    def read(cls, path: str | Path, source: str = "") -> References:
        """Read a file written by :meth:`write`.

        Raises:
            InputFormatError: missing columns or an unknown class (with the line).
        """
        path = Path(path)
        with gzip.open(path, "rt") as fh:
            df = pd.read_csv(fh, sep="\t", dtype=str, keep_default_na=False)
        missing = [c for c in ("accession", "location", "sequence") if c not in df.columns]
        if missing:
            raise InputFormatError(f"not a references table: missing columns {missing}", path)
        for i, loc in enumerate(df["location"]):
            try:
                normalize_class(loc)
            except ValueError as e:
                raise InputFormatError(str(e), path, i + 2) from None
        return cls.from_frame(df, source or str(path))


@dataclass
class Hits:
    """The nearest reference of each query.

    Attributes:
        ref: index into the references (-1: no candidate passed the prefilter).
        score: its Smith-Waterman score (0 without a hit).
        identity: identical columns / alignment columns (0 without a hit).
        homolog: the alignment passes DeepLoc's rule (>= 30% identity over >= 50% of the
            shorter sequence) and scores at least ``settings.min_bits`` bits.
    """

    ref: np.ndarray
    score: np.ndarray
    identity: np.ndarray
    homolog: np.ndarray

    def take(self, mask: np.ndarray) -> Hits:
        """The hits of the queries selected by a boolean mask or index array."""
        return Hits(self.ref[mask], self.score[mask], self.identity[mask], self.homolog[mask])


def _align_best(query: str, refs: Sequence[str], cand: np.ndarray, limit: int,
                skip_identical: bool, min_bits: float) -> tuple[int, int, float, bool]:
    """Align ``query`` with up to ``limit`` candidates (in order; identical ones skipped with
    ``skip_identical``): ``(ref, score, identity, homolog)`` of the highest-scoring homolog
    among them, or of the highest-scoring candidate when none is a homolog (ties to the lower
    index)."""
    import parasail

    if not len(cand):
        return -1, 0, 0.0, False
    profile = parasail.profile_create_sat(query, parasail.blosum62)  # score-only pass
    js: list[int] = []
    scores: list[int] = []
    for j in cand.tolist():
        if len(js) == limit:
            break
        if skip_identical and refs[j] == query:
            continue
        js.append(j)
        scores.append(parasail.sw_striped_profile_sat(profile, refs[j], GAP_OPEN,
                                                      GAP_EXTEND).score)
    if not js:
        return -1, 0, 0.0, False
    order = sorted(range(len(js)), key=lambda i: (-scores[i], js[i]))
    if scores[order[0]] <= 0:
        return -1, 0, 0.0, False
    for i in order:  # the highest-scoring candidate that is a homolog, if any
        if bit_score(scores[i]) < min_bits:
            break
        st = homologous(query, refs[js[i]])
        if st is not None:
            return js[i], int(scores[i]), st.identity, True
    best_j, best_score = js[order[0]], int(scores[order[0]])
    r = parasail.sw_stats_striped_sat(query, refs[best_j], GAP_OPEN, GAP_EXTEND,
                                      parasail.blosum62)
    return best_j, best_score, (r.matches / r.length if r.length else 0.0), False


def nearest_references(
    queries: Sequence[str],
    refs: References,
    settings: SearchSettings = SearchSettings(),
    exclude_identical: bool = False,
    progress: Callable[[int, int], None] | None = None,
    index: KmerIndex | None = None,
) -> Hits:
    """Each query's nearest reference: the highest-scoring homolog among the prefilter's
    candidates, else the highest-scoring candidate (module docstring).

    Arguments:
        queries: protein sequences.
        refs: the references.
        settings: prefilter and alignment settings.
        exclude_identical: skip references whose sequence is the query's (leave-one-out
            when the queries are references themselves, as in :func:`fit_transfer`).
        progress: called as ``progress(done, total)`` now and then (the prefilter moves it
            to ``total // 2``, the alignments to ``total``).
        index: ``KmerIndex.build(refs.sequences, settings.k)``, to search the same references
            many times (built here if None).

    Returns:
        :class:`Hits` in the order of ``queries``; ties go to the lower reference index.
    """
    qs = [s.rstrip("*").upper() for s in queries]
    n = len(qs)
    seeds = [seg_mask(q) for q in qs] if settings.mask_low_complexity else qs
    # with exclude_identical, a few more candidates stand in for the identical ones skipped
    extra = 4 if exclude_identical else 0
    # progress: the prefilter counts for the first half of the proteins, alignment the rest
    qi, rj, _ = candidate_pairs(seeds, refs.sequences, settings.k, settings.band,
                                settings.min_hits, settings.max_candidates + extra,
                                index=index, rescore=settings.rescore,
                                threads=settings.threads,
                                progress=(lambda d: progress(d // 2, n)) if progress else None)
    starts = np.searchsorted(qi, np.arange(n + 1))
    ref_seqs = refs.sequences

    def one(i: int) -> tuple[int, int, float, bool]:
        return _align_best(qs[i], ref_seqs, rj[starts[i]:starts[i + 1]],
                           settings.max_candidates, exclude_identical, settings.min_bits)

    out = [(-1, 0, 0.0, False)] * n
    chunk = 256
    with ThreadPoolExecutor(max_workers=settings.threads) as pool:
        for lo in range(0, n, chunk):
            idx = range(lo, min(n, lo + chunk))
            for i, r in zip(idx, pool.map(one, idx), strict=True):
                out[i] = r
            if progress is not None:
                progress(n - n // 2 + min(n, lo + chunk) // 2, n)
    return Hits(np.array([o[0] for o in out], dtype=np.int64),
                np.array([o[1] for o in out], dtype=np.int64),
                np.array([o[2] for o in out], dtype=np.float64),
                np.array([o[3] for o in out], dtype=bool))


@dataclass
class HomologyTransfer:
    """The likelihood table of a homologous nearest reference's class, per identity bucket.

    Attributes:
        table: ``B x C x C`` array: ``table[b, l, c] = P(class c | nearest reference is a
            homolog of class l with identity in bucket b)`` (rows sum to 1).
        prior: ``C`` class frequencies of the references.
        edges: lower identity edges of buckets 1.. (bucket 0 below the first).
        alpha: pseudo-counts of the smoothing towards ``prior``.
        settings: the search settings used to fit (and to apply) it.
        info: fit summary (references, leave-one-out accuracy and counts per bucket).
        references: the reference proteins (loaded lazily from ``references_path``).
    """

    table: np.ndarray
    prior: np.ndarray
    edges: tuple[float, ...] = DEFAULT_EDGES
    alpha: float = 2.0
    settings: SearchSettings = field(default_factory=SearchSettings)
    info: dict[str, Any] = field(default_factory=dict)
    references_path: Path | None = None
    _references: References | None = None
    _index: KmerIndex | None = None

    @property
    def references(self) -> References:
        """The reference proteins (read from ``references.tsv.gz`` on first use)."""
        if self._references is None:
            if self.references_path is None:
                raise ValueError("this transfer has no references")
            self._references = References.read(self.references_path)
        return self._references

    def buckets(self, identity: np.ndarray) -> np.ndarray:
        """Bucket index of each identity."""
        return np.searchsorted(np.asarray(self.edges), np.asarray(identity), side="right")

    def ratios(self, hits: Hits) -> np.ndarray:
        """``N x C`` likelihood ratios ``P(c | l, b) / P(c)`` (1 where the nearest reference
        is not a homolog or there is none)."""
        n, k = len(hits.ref), len(self.prior)
        out = np.ones((n, k))
        ok = (hits.ref >= 0) & hits.homolog
        if ok.any():
            labels = self.references.labels[hits.ref[ok]]
            out[ok] = self.table[self.buckets(hits.identity[ok]), labels] / self.prior
        return out

    def combine(self, probs: np.ndarray, hits: Hits) -> np.ndarray:
        """The model's probabilities updated by the nearest references (rows sum to 1)."""
        p = np.asarray(probs, dtype=np.float64) * self.ratios(hits)
        return p / p.sum(1, keepdims=True)

    def search(self, queries: Sequence[str], exclude_identical: bool = False,
               progress: Callable[[int, int], None] | None = None) -> Hits:
        """:func:`nearest_references` of ``queries`` among this transfer's references (their
        k-mer index is built on the first search and kept)."""
        if self._index is None:
            self._index = KmerIndex.build(self.references.sequences, self.settings.k)
        return nearest_references(queries, self.references, self.settings, exclude_identical,
                                  progress, self._index)

    def to_json(self) -> dict[str, Any]:
        """The JSON form written to ``transfer.json``."""
        return {"format": _FORMAT, "classes": list(LOCATION_CLASSES),
                "edges": list(self.edges), "alpha": self.alpha,
                "settings": asdict(self.settings), "prior": self.prior.tolist(),
                "table": self.table.tolist(), "references": REFERENCES_FILE,
                "info": self.info}


def fit_transfer(refs: References, settings: SearchSettings = SearchSettings(),
                 edges: Sequence[float] = DEFAULT_EDGES, alpha: float = 2.0,
                 progress: Callable[[int, int], None] | None = None) -> HomologyTransfer:
    """Fit the likelihood table on the references alone, leave-one-out (module docstring).

    Raises:
        ValueError: fewer than 2 references, unsorted edges or a negative ``alpha``.
    """
    if len(refs) < 2:
        raise ValueError(f"need at least 2 references, got {len(refs)}")
    edges = tuple(float(e) for e in edges)
    if list(edges) != sorted(set(edges)) or alpha < 0:
        raise ValueError(f"edges must increase strictly and alpha be >= 0 (got {edges}, "
                         f"{alpha})")
    k = len(LOCATION_CLASSES)
    y = refs.labels
    prior = np.bincount(y, minlength=k).astype(np.float64)
    prior = (prior + 1e-3) / (prior + 1e-3).sum()  # no zero: a class absent from refs
    transfer = HomologyTransfer(np.zeros((len(edges) + 1, k, k)), prior, edges, float(alpha),
                                settings, _references=refs)
    hits = transfer.search(refs.sequences, exclude_identical=True, progress=progress)
    ok = (hits.ref >= 0) & hits.homolog
    b = transfer.buckets(hits.identity)
    hit_label = np.where(ok, y[np.maximum(hits.ref, 0)], -1)
    counts = np.zeros((len(edges) + 1, k, k))
    np.add.at(counts, (b[ok], hit_label[ok], y[ok]), 1.0)
    transfer.table = (counts + alpha * prior) / (counts.sum(2, keepdims=True) + alpha)
    per_bucket = counts.sum((1, 2))
    agree = np.einsum("bll->b", counts)
    transfer.info = {
        "references": len(refs), "source": refs.source,
        "without_homolog": int((~ok).sum()),
        "bucket_counts": per_bucket.astype(int).tolist(),
        "bucket_loo_accuracy": [round(float(a / n), 4) if n else None
                                for a, n in zip(agree, per_bucket, strict=True)],
    }
    return transfer


def save_transfer(directory: str | Path, transfer: HomologyTransfer) -> None:
    """Write ``references.tsv.gz`` and ``transfer.json`` into a checkpoint directory."""
    directory = Path(directory)
    transfer.references.write(directory / REFERENCES_FILE)
    with atomic_path(directory / TRANSFER_FILE) as tmp, open(tmp, "w") as fh:
        json.dump(transfer.to_json(), fh, indent=1)
        fh.write("\n")
    transfer.references_path = directory / REFERENCES_FILE


def load_transfer(directory: str | Path) -> HomologyTransfer | None:
    """The transfer stored in a checkpoint directory, or None without ``transfer.json``.

    Raises:
        InputFormatError: a malformed ``transfer.json``, or its references file missing.
    """
    directory = Path(directory)
    path = directory / TRANSFER_FILE
    if not path.is_file():
        return None
    try:
        d = json.loads(path.read_text())
        table = np.asarray(d["table"], dtype=np.float64)
        prior = np.asarray(d["prior"], dtype=np.float64)
        edges = tuple(float(e) for e in d["edges"])
        # a table fitted before ``rescore`` or the masking existed was searched without them
        settings = SearchSettings(**{"rescore": 0, "mask_low_complexity": False,
                                     **d["settings"]})
        classes = d["classes"]
    except (ValueError, KeyError, TypeError) as e:
        raise InputFormatError(f"malformed {TRANSFER_FILE}: {e}", path) from None
    k = len(LOCATION_CLASSES)
    if (list(classes) != list(LOCATION_CLASSES) or table.shape != (len(edges) + 1, k, k)
            or prior.shape != (k,)):
        raise InputFormatError(f"{TRANSFER_FILE} does not match the {k} classes and its "
                               "buckets", path)
    refs = directory / d.get("references", REFERENCES_FILE)
    if not refs.is_file():
        raise InputFormatError(f"{TRANSFER_FILE} names {refs.name}, which is missing", path)
    return HomologyTransfer(table, prior, edges, float(d.get("alpha", 2.0)), settings,
                            d.get("info", {}), refs)
