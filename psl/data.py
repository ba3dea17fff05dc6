"""DeepLoc 1.0 data: reading, splits, residue tokens, feature tables and length-bucketed batches.

The dataset is Almagro Armenteros et al., "DeepLoc: prediction of protein subcellular
localization using deep learning", Bioinformatics 33(21):3387, 2017 (headers
``>ACC Location-Solubility[ test]``).

Tokens
    ``0`` is padding; ``1..20`` are the 20 standard amino acids (:data:`kb.alphabet.AMINO_ACIDS`
    order) and ``21..26`` the non-standard letters ``B Z J U O X``. The feature tables give every
    non-standard letter an explicit vector: B = mean(D, N), Z = mean(E, Q), J = mean(I, L),
    U (selenocysteine) = C, O (pyrrolysine) = K, X = the mean of the 20 (one-hot: 1/20 each;
    BLOSUM62: the matrix's own X row). Padding is the zero vector and is masked everywhere.

Cropping
    A sequence longer than ``max_len`` keeps its first ``max_len // 2`` and last
    ``max_len - max_len // 2`` residues (targeting signals sit at the termini). ``positions``
    keeps the 1-based position in the original sequence of every kept residue.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from kb.alphabet import AMINO_ACIDS, SEQUENCE_LETTERS
from kb.classes import LOCATION_CLASSES, normalize_class
from kb.errors import InputFormatError
from kb.fasta import parse_fasta
from psl.errors import ConfigError, PslError

__all__ = [
    "DataConfig",
    "load_splits",
    "source_splits",
    "read_source",
    "DEFAULT_DEEPLOC_PATH",
    "DUAL_LOCATION",
    "TOKEN_LETTERS",
    "VOCAB_SIZE",
    "PAD",
    "Batch",
    "EncodedSet",
    "InvalidSequenceError",
    "read_deeploc",
    "official_split",
    "random_split",
    "make_splits",
    "crop_positions",
    "encode_sequence",
    "encode_batch",
    "collate",
    "feature_table",
    "project_path",
]

DEFAULT_DEEPLOC_PATH = Path(__file__).resolve().parents[1] / "data" / "deeploc1" / (
    "deeploc_data.fasta.gz"
)
#: The dual label of 146 DeepLoc training proteins, excluded from single-label work by default.
DUAL_LOCATION = "Cytoplasm-Nucleus"
PAD = 0
#: Letters of tokens 1..26 (token = index + 1).
TOKEN_LETTERS = AMINO_ACIDS + "BZJUOX"
VOCAB_SIZE = len(TOKEN_LETTERS) + 1
_LUT = np.full(256, -1, dtype=np.int64)
for _i, _c in enumerate(TOKEN_LETTERS):
    _LUT[ord(_c)] = _i + 1
    _LUT[ord(_c.lower())] = _i + 1
if set(TOKEN_LETTERS) != SEQUENCE_LETTERS:  # pragma: no cover - module invariant
    raise RuntimeError("token letters and kb.alphabet.SEQUENCE_LETTERS disagree")


class InvalidSequenceError(PslError):
    """A sequence that is empty or has a letter outside the amino-acid alphabet."""

    def __init__(self, message: str, index: int | None = None, name: str | None = None):
        self.index = index
        self.name = name
        where = f"sequence {name!r}: " if name else (f"sequence #{index}: " if index is not None
                                                       else "")
        super().__init__(where + message)


# --------------------------------------------------------------------------- reading & splits


def read_deeploc(path: str | Path = DEFAULT_DEEPLOC_PATH) -> pd.DataFrame:
    """Read the DeepLoc 1.0 FASTA file.

    Arguments:
        path: ``deeploc_data.fasta`` (plain or gzip, detected from the content); default: the
            shipped copy. Read with :func:`kb.fasta.parse_fasta`, the project's FASTA reader.

    Returns:
        A DataFrame with columns ``accession``, ``sequence``, ``location`` (canonical class name
        of :data:`kb.classes.LOCATION_CLASSES`, or ``"Cytoplasm-Nucleus"`` for the dual label),
        ``solubility`` (M/S/U), ``is_test`` (official test partition) and ``label`` (class index,
        -1 for the dual label), in file order.

    Raises:
        InputFormatError: a header that does not follow ``>ACC Location-Solubility[ test]``, an
            unknown location, a record without sequence, a letter outside
            :data:`kb.alphabet.SEQUENCE_LETTERS`, an empty file (file and line in the message).
    """
    path = Path(path)
    if path == DEFAULT_DEEPLOC_PATH and not path.is_file():
        raise PslError(
            "the DeepLoc 1.0 data set is not installed with the package (it ships in the "
            "repository's data/deeploc1/): run from a clone of the repository, or give a "
            "labelled DeepLoc-style FASTA (fasta= / [data] path)", path)
    rows: list[tuple[str, str, str, str, bool, int]] = []
    for rec in parse_fasta(path):
        words = rec.header.split()
        if len(words) not in (2, 3) or (len(words) == 3 and words[2] != "test"):
            raise InputFormatError(
                f"expected '>ACCESSION Location-Solubility[ test]', got {'>' + rec.header!r}",
                path, rec.line,
            )
        loc, sep, sol = words[1].rpartition("-")
        if not sep or sol not in ("M", "S", "U"):
            raise InputFormatError(
                f"expected Location-Solubility with solubility M/S/U, got {words[1]!r}",
                path, rec.line,
            )
        if loc == DUAL_LOCATION:
            label = -1
        else:
            try:
                loc = normalize_class(loc)
            except ValueError as e:
                raise InputFormatError(str(e), path, rec.line) from None
            label = LOCATION_CLASSES.index(loc)
        rows.append((words[0], rec.sequence, loc, sol, len(words) == 3, label))
    return pd.DataFrame(
        rows, columns=["accession", "sequence", "location", "solubility", "is_test", "label"]
    )


def _stratified_take(labels: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask taking ``round(fraction * n_c)`` random members of every class ``c``."""
    take = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        k = int(round(fraction * len(idx)))
        take[rng.permutation(idx)[:k]] = True
    return take


def official_split(
    df: pd.DataFrame, val_fraction: float = 0.1, seed: int = 0, exclude_dual: bool = True
) -> dict[str, pd.DataFrame]:
    """The official DeepLoc partition with a stratified, seeded validation set carved from train.

    Arguments:
        df: output of :func:`read_deeploc`.
        val_fraction: share of each class of the training partition moved to validation.
        seed: seed of the carving.
        exclude_dual: drop the ``Cytoplasm-Nucleus`` proteins (default, single-label work).

    Returns:
        ``{"train", "val", "test"}`` DataFrames (index reset).

    Raises:
        ValueError: ``val_fraction`` outside [0, 1).
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if exclude_dual:
        df = df[df["label"] >= 0]
    train = df[~df["is_test"]].reset_index(drop=True)
    test = df[df["is_test"]].reset_index(drop=True)
    take = _stratified_take(train["label"].to_numpy(), val_fraction, np.random.default_rng(seed))
    return {
        "train": train[~take].reset_index(drop=True),
        "val": train[take].reset_index(drop=True),
        "test": test,
    }


def random_split(
    df: pd.DataFrame,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    seed: int = 0,
    exclude_dual: bool = True,
) -> dict[str, pd.DataFrame]:
    """A seeded random train/val/test split of all proteins, ignoring the official partition.

    This is the 70/15/15 split of the attention study the Table 1 numbers come from; it is
    not homology-aware, so its scores are not comparable to the official test set's.

    Arguments:
        df: output of :func:`read_deeploc`.
        fractions: train, val, test shares (sum 1).
        seed: permutation seed.
        exclude_dual: drop the ``Cytoplasm-Nucleus`` proteins.

    Returns:
        ``{"train", "val", "test"}`` DataFrames.

    Raises:
        ValueError: fractions that are negative or do not sum to 1.
    """
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-6:
        raise ConfigError(f"fractions must be three non-negative shares summing to 1: {fractions}")
    if exclude_dual:
        df = df[df["label"] >= 0]
    df = df.reset_index(drop=True)
    perm = np.random.default_rng(seed).permutation(len(df))
    n_train = int(round(fractions[0] * len(df)))
    n_val = int(round(fractions[1] * len(df)))
    parts = np.split(perm, [n_train, n_train + n_val])
    return {
        name: df.iloc[np.sort(p)].reset_index(drop=True)
        for name, p in zip(("train", "val", "test"), parts, strict=True)
    }


def make_splits(
    df: pd.DataFrame,
    split: str = "official",
    val_fraction: float = 0.1,
    seed: int = 0,
    exclude_dual: bool = True,
) -> dict[str, pd.DataFrame]:
    """Dispatch to :func:`official_split` (``"official"``) or :func:`random_split` (``"random"``).

    Raises:
        ValueError: an unknown ``split`` name.
    """
    if split == "official":
        return official_split(df, val_fraction, seed, exclude_dual)
    if split == "random":
        return random_split(df, (0.7, 0.15, 0.15), seed, exclude_dual)
    raise ConfigError(f"unknown split {split!r} (expected 'official' or 'random')")


# --------------------------------------------------------------------------- encoding


def crop_positions(length: int, max_len: int) -> np.ndarray:
    """0-based indices of the residues kept from a sequence of ``length`` residues.

    All of them when ``length <= max_len``; otherwise the first ``max_len // 2`` and the last
    ``max_len - max_len // 2``.

    Raises:
        ValueError: ``max_len < 2``.
    """
    if max_len < 2:
        raise PslError(f"max_len must be >= 2, got {max_len}", param="max_len")
    if length <= max_len:
        return np.arange(length, dtype=np.int64)
    head = max_len // 2
    tail = max_len - head
    return np.concatenate([np.arange(head), np.arange(length - tail, length)]).astype(np.int64)


def encode_sequence(
    sequence: str, max_len: int, index: int | None = None, name: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Tokens and 1-based original positions of the kept residues of one sequence.

    Arguments:
        sequence: residues (case-insensitive; a trailing ``*`` is dropped).
        max_len: crop length (see :func:`crop_positions`).
        index, name: where the sequence comes from, for error messages.

    Returns:
        ``(tokens, positions)``, two int64 arrays of the same length ``<= max_len``.

    Raises:
        InvalidSequenceError: empty sequence or a letter outside the alphabet.
    """
    if not isinstance(sequence, str):
        raise InvalidSequenceError(f"expected a string, got {type(sequence).__name__}", index, name)
    if sequence.endswith("*"):
        sequence = sequence[:-1]
    if not sequence:
        raise InvalidSequenceError("empty sequence", index, name)
    try:
        raw = np.frombuffer(sequence.encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError:
        raise InvalidSequenceError("non-ASCII character in sequence", index, name) from None
    tok = _LUT[raw]
    if (tok < 0).any():
        bad_at = int(np.flatnonzero(tok < 0)[0])
        raise InvalidSequenceError(
            f"illegal letter {sequence[bad_at]!r} at position {bad_at + 1} (expected one of "
            f"{TOKEN_LETTERS})",
            index,
            name,
        )
    keep = crop_positions(len(tok), max_len)
    return tok[keep], keep + 1


@dataclass
class Batch:
    """A padded batch (right padding).

    Attributes:
        tokens: LongTensor ``B x L`` of residue tokens (0 on pads).
        mask: BoolTensor ``B x L``, True on real residues.
        positions: LongTensor ``B x L``, 1-based position in the original sequence (0 on pads).
        lengths: LongTensor ``B``, number of real (kept) residues.
    """

    tokens: torch.Tensor
    mask: torch.Tensor
    positions: torch.Tensor
    lengths: torch.Tensor

    def to(self, device: torch.device | str) -> Batch:
        """The batch on ``device``."""
        return Batch(*(t.to(device) for t in (self.tokens, self.mask, self.positions,
                                               self.lengths)))


def collate(encoded: Sequence[tuple[np.ndarray, np.ndarray]]) -> Batch:
    """Pad encoded sequences (from :func:`encode_sequence`) into a :class:`Batch`."""
    lengths = np.array([len(t) for t, _ in encoded], dtype=np.int64)
    width = int(lengths.max()) if len(lengths) else 0
    tokens = np.zeros((len(encoded), width), dtype=np.int64)
    positions = np.zeros((len(encoded), width), dtype=np.int64)
    for i, (t, p) in enumerate(encoded):
        tokens[i, : len(t)] = t
        positions[i, : len(p)] = p
    tokens_t = torch.from_numpy(tokens)
    return Batch(tokens_t, tokens_t != PAD, torch.from_numpy(positions), torch.from_numpy(lengths))


def encode_batch(sequences: Sequence[str], config: object) -> Batch:
    """Encode and pad sequences for a model.

    Arguments:
        sequences: amino-acid strings.
        config: a :class:`psl.models.ModelConfig` (its ``max_len`` is used) or an int max_len.

    Returns:
        A :class:`Batch` (tokens, mask, positions, lengths).

    Raises:
        InvalidSequenceError: an empty sequence or an illegal letter (its index in the message).
    """
    max_len = config if isinstance(config, int) else int(config.max_len)
    if len(sequences) == 0:
        raise InvalidSequenceError("no sequence to encode")
    return collate([encode_sequence(s, max_len, index=i) for i, s in enumerate(sequences)])


def feature_table(kind: str) -> np.ndarray:
    """Per-token feature vectors (a fresh copy; see :func:`_feature_table`)."""
    return _feature_table(kind).copy()


@functools.cache
def _feature_table(kind: str) -> np.ndarray:
    """Per-token feature vectors (row 0 = padding = zeros).

    Arguments:
        kind: ``"onehot"`` (20 columns) or ``"blosum62"`` (20 columns: the BLOSUM62 scores
            against the 20 amino acids, divided by 4; Henikoff & Henikoff, PNAS 1992).

    Returns:
        A float32 array ``VOCAB_SIZE x 20``.

    Raises:
        ValueError: an unknown ``kind``.
    """
    table = np.zeros((VOCAB_SIZE, len(AMINO_ACIDS)), dtype=np.float32)
    if kind == "onehot":
        table[1:21] = np.eye(20, dtype=np.float32)
        table[TOKEN_LETTERS.index("X") + 1] = 1.0 / 20
    elif kind == "blosum62":
        from Bio.Align import substitution_matrices

        m = substitution_matrices.load("BLOSUM62")
        for a in AMINO_ACIDS + "BZX":
            table[TOKEN_LETTERS.index(a) + 1] = [m[a, b] / 4.0 for b in AMINO_ACIDS]
    else:
        raise ConfigError(f"unknown feature table {kind!r} (expected 'onehot' or 'blosum62')")
    tok = {c: TOKEN_LETTERS.index(c) + 1 for c in TOKEN_LETTERS}
    if kind == "onehot":
        table[tok["B"]] = (table[tok["D"]] + table[tok["N"]]) / 2
        table[tok["Z"]] = (table[tok["E"]] + table[tok["Q"]]) / 2
    table[tok["J"]] = (table[tok["I"]] + table[tok["L"]]) / 2
    table[tok["U"]] = table[tok["C"]]
    table[tok["O"]] = table[tok["K"]]
    return table


# --------------------------------------------------------------------------- datasets


class EncodedSet:
    """Sequences encoded once, served as length-bucketed padded batches.

    Arguments:
        sequences: amino-acid strings.
        labels: class indices (or None for unlabelled data).
        max_len: crop length.
    """

    def __init__(self, sequences: Sequence[str], labels: Sequence[int] | None, max_len: int):
        self.encoded = [encode_sequence(s, max_len, index=i) for i, s in enumerate(sequences)]
        self.labels = (
            torch.as_tensor(np.asarray(labels, dtype=np.int64)) if labels is not None else None
        )
        self.lengths = np.array([len(t) for t, _ in self.encoded], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.encoded)

    def batches(
        self, batch_size: int, shuffle: bool = False, seed: int = 0
    ) -> Iterator[tuple[np.ndarray, Batch, torch.Tensor | None]]:
        """Yield ``(indices, batch, labels)`` with proteins of similar length together.

        Proteins are sorted by length (stable) and cut into chunks of ``batch_size``; with
        ``shuffle`` the proteins of equal length are shuffled first and the chunk order is
        permuted, both with ``seed``.
        """
        if batch_size < 1:
            raise PslError(f"batch_size must be >= 1, got {batch_size}", param="batch_size")
        n = len(self)
        if shuffle:
            rng = np.random.default_rng(seed)
            tie = rng.permutation(n)
            order = tie[np.argsort(self.lengths[tie], kind="stable")]
        else:
            order = np.argsort(self.lengths, kind="stable")
        chunks = [order[i : i + batch_size] for i in range(0, n, batch_size)]
        if shuffle:
            chunks = [chunks[i] for i in rng.permutation(len(chunks))]
        for idx in chunks:
            labels = self.labels[torch.from_numpy(idx)] if self.labels is not None else None
            yield idx, collate([self.encoded[i] for i in idx]), labels


@dataclass
class DataConfig:
    """The ``[data]`` table.

    Three ways to name the data (see ``docs/models.md``):

    - ``path`` (the DeepLoc 1.0 FASTA, as before) with ``split``;
    - ``sources``: labelled training sources (a DeepLoc FASTA: its non-test proteins; a
      labelled CSV/TSV/FASTA; a ``kb build`` directory) tested on ``test_set``, with every
      training protein identical or homologous to a test protein removed
      (``exclude_homologs``; :mod:`psl.homology`) and ``val_fraction`` of the rest carved out
      (stratified) for validation;
    - ``dataset``: a table written by ``psl dataset`` (the result of the above, computed once).

    Attributes:
        path: DeepLoc FASTA (empty = the shipped ``data/deeploc1`` copy).
        split: ``official`` (DeepLoc test set; val carved from train) or ``random`` (70/15/15).
        val_fraction: validation share of the official training set (stratified).
        seed: seed of the split.
        exclude_dual: drop the 146 ``Cytoplasm-Nucleus`` proteins.
        subset: if > 0, keep at most this many proteins per split (seeded; for quick runs).
        sources: training sources (paths); non-empty selects the second way.
        test_set: the test set of ``sources``: a DeepLoc FASTA (its ``test`` proteins) or a
            labelled table/FASTA (all of it); empty = the shipped DeepLoc 1.0 test set.
        multilabel: ``drop``, ``first`` or ``soft`` (:mod:`psl.sources`); with ``soft`` the
            multi-label proteins (and DeepLoc 1.0's ``Cytoplasm-Nucleus`` ones) join the
            training split only, with soft targets; validation and test stay single-label.
        evidence: ``any`` or ``experimental`` (knowledge-base sources only).
        exclude_homologs: remove training proteins homologous to a test protein (identical
            ones are always removed).
        min_identity, min_coverage: the homology criterion (30% identity over 50% of the
            shorter sequence).
        homology_rescore: candidates of the exclusion's prefilter re-ranked by their best
            ungapped diagonal segment (:func:`psl.homology.find_homologs`; 0 = by shared
            words alone, as before the eleventh session).
        dataset: a dataset table from ``psl dataset``; non-empty selects the third way.
    """

    path: str = ""
    split: str = "official"
    val_fraction: float = 0.1
    seed: int = 0
    exclude_dual: bool = True
    subset: int = 0
    sources: list[str] = field(default_factory=list)
    test_set: str = ""
    multilabel: str = "drop"
    evidence: str = "any"
    exclude_homologs: bool = True
    min_identity: float = 0.3
    min_coverage: float = 0.5
    homology_rescore: int = 200
    dataset: str = ""

    def __post_init__(self) -> None:
        if self.split not in ("official", "random"):
            raise ConfigError(f"[data] split must be 'official' or 'random', got {self.split!r}")
        if self.subset < 0:
            raise ConfigError(f"[data] subset must be >= 0, got {self.subset}")
        if isinstance(self.sources, str):
            self.sources = [self.sources]
        self.sources = [str(s) for s in self.sources]
        if self.multilabel not in ("drop", "first", "soft"):
            raise ConfigError(f"[data] multilabel must be 'drop', 'first' or 'soft', got "
                              f"{self.multilabel!r}")
        if self.evidence not in ("any", "experimental"):
            raise ConfigError(f"[data] evidence must be 'any' or 'experimental', got "
                              f"{self.evidence!r}")
        if not (0.0 <= self.min_identity <= 1.0 and 0.0 <= self.min_coverage <= 1.0):
            raise ConfigError("[data] min_identity and min_coverage must be in [0, 1]")
        if self.homology_rescore < 0:
            raise ConfigError(f"[data] homology_rescore must be >= 0, got "
                              f"{self.homology_rescore}")
        if self.dataset and (self.sources or self.path):
            raise ConfigError("[data] dataset excludes path and sources (the table already "
                              "holds every split)")
        if self.sources and self.path:
            raise ConfigError("[data] give path (one DeepLoc FASTA) or sources, not both")


def read_source(path: str | Path, multilabel: str = "drop", evidence: str = "any",
                part: str = "all") -> tuple[pd.DataFrame, dict[str, int]]:
    """Any labelled source: a knowledge-base directory, a DeepLoc 1.0 FASTA or a labelled file.

    A directory is read with :func:`psl.sources.read_kb`; a FASTA with DeepLoc 1.0 headers with
    :func:`read_deeploc`, its dual-label ``Cytoplasm-Nucleus`` proteins treated as
    multi-label (``Cytoplasm|Nucleus`` under ``soft``, left out otherwise); anything else with
    :func:`psl.sources.read_labelled`.

    Arguments:
        path: the source.
        multilabel: ``drop``, ``first`` or ``soft`` (module docstring).
        evidence: ``any`` or ``experimental`` (knowledge bases only).
        part: ``all``, ``train`` or ``test``: which proteins of a DeepLoc 1.0 FASTA (its
            official partition, the ``test`` header flag); other sources have no partition
            and are read whole.

    Returns:
        ``(frame, counts)`` as :func:`psl.sources.read_labelled`.
    """
    from psl.sources import SOURCE_COLUMNS, check_rules, read_kb, read_labelled

    if part not in ("all", "train", "test"):
        raise PslError(f"part must be all, train or test, got {part!r}", param="part")
    p = Path(path)
    if p.is_dir():
        return read_kb(p, multilabel, evidence)
    try:
        df = read_deeploc(p)
    except InputFormatError:
        return read_labelled(p, multilabel)
    check_rules(multilabel, evidence)
    n = len(df)
    if part != "all":
        df = df[df["is_test"] == (part == "test")]
    dual = (df["label"] < 0).to_numpy()
    if multilabel == "soft":  # Cytoplasm-Nucleus -> Cytoplasm|Nucleus, first = Cytoplasm
        df = df.assign(location=df["location"].where(~dual, "Cytoplasm|Nucleus"),
                       label=df["label"].where(~dual, LOCATION_CLASSES.index("Cytoplasm")))
    else:
        df = df[~dual]
    return (df.assign(source=str(p))[SOURCE_COLUMNS],
            {"read": n, "multilabel": int(dual.sum()), "kept": len(df)})


def source_splits(data: DataConfig, log: object = None) -> tuple[dict[str, pd.DataFrame],
                                                                 dict[str, object]]:
    """Train/val/test of ``data.sources`` against ``data.test_set`` with homologs removed.

    Training proteins are pooled over the sources in order, duplicates (same sequence) kept
    once (first source wins; with ``multilabel = "soft"`` a single-label copy wins over a
    multi-label one); every one identical to a test protein is removed, and with
    ``exclude_homologs`` every one homologous to one (:func:`psl.homology.find_homologs`);
    then ``val_fraction`` of each class of the single-label proteins is carved out for
    validation (seeded); multi-label proteins are training proteins only.

    Arguments:
        data: the ``[data]`` table (``sources`` non-empty).
        log: optional callable receiving progress lines.

    Returns:
        ``(splits, report)``: the frames (with a ``source`` column) and the counts (per
        source, duplicates, identical, homologous, prefilter candidates, seconds).
    """
    from psl.homology import find_homologs
    from psl.sources import LABEL_SEPARATOR

    say = log if callable(log) else (lambda _m: None)
    report: dict[str, object] = {"sources": {}}
    frames = []
    for src in data.sources:
        df, counts = read_source(project_path(src), data.multilabel, data.evidence,
                                 part="train")
        report["sources"][src] = counts
        frames.append(df)
    pool = pd.concat(frames, ignore_index=True)
    n_pool = len(pool)
    # Single-label proteins first (so that their splits do not depend on the multi-label
    # ones), then the multi-label ones whose sequence is not among them.
    multi = pool["location"].str.contains(LABEL_SEPARATOR, regex=False).to_numpy()
    pool = pd.concat([pool[~multi], pool[multi]], ignore_index=True)
    pool = pool[~pool["sequence"].duplicated(keep="first")].reset_index(drop=True)
    report["duplicates_removed"] = n_pool - len(pool)
    multi = pool["location"].str.contains(LABEL_SEPARATOR, regex=False).to_numpy()
    # a test set is scored single-label: soft -> drop
    test = read_source(project_path(data.test_set) if data.test_set else DEFAULT_DEEPLOC_PATH,
                       "drop" if data.multilabel == "soft" else data.multilabel,
                       part="test")[0]
    report["test"] = {"path": data.test_set or str(DEFAULT_DEEPLOC_PATH), "n": int(len(test))}
    say(f"{len(pool)} training proteins vs {len(test)} test proteins: homology search")
    if data.exclude_homologs:
        res = find_homologs(pool["sequence"].tolist(), test["sequence"].tolist(),
                            min_identity=data.min_identity, min_coverage=data.min_coverage,
                            rescore=data.homology_rescore,
                            progress=lambda stage, d, n: say(f"  {stage}: {d}/{n}"))
        related = res.related
        report.update({"identical": res.n_identical, "homologous": res.n_homologous,
                       "candidates": res.n_candidates, "seconds": res.seconds})
    else:
        related = pool["sequence"].isin(set(test["sequence"])).to_numpy()
        report.update({"identical": int(related.sum()), "homologous": None})
    identical = pool["sequence"].isin(set(test["sequence"])).to_numpy()
    report["removed_per_source"] = {
        src: {"identical": int((identical & (pool["source"] == src)).sum()),
              "homologous": int((related & ~identical & (pool["source"] == src)).sum())}
        for src in data.sources}
    single = pool[~related & ~multi].reset_index(drop=True)
    take = _stratified_take(single["label"].to_numpy(), data.val_fraction,
                            np.random.default_rng(data.seed))
    multi_kept = pool[~related & multi]
    splits = {"train": pd.concat([single[~take], multi_kept], ignore_index=True),
              "val": single[take].reset_index(drop=True), "test": test.reset_index(drop=True)}
    report["n"] = {k: int(len(v)) for k, v in splits.items()}
    if data.multilabel == "soft":
        report["multilabel_in_train"] = int(len(multi_kept))
        report["multilabel_removed"] = {"identical_or_homologous": int((related & multi).sum())}
    return splits, report


def _display_path(path: Path) -> str:
    """``path`` relative to the repository when it is inside it (the shipped data), else as
    given."""
    try:
        return str(path.resolve().relative_to(DEFAULT_DEEPLOC_PATH.parents[2]))
    except ValueError:
        return str(path)


def project_path(path: str | Path) -> Path:
    """A relative ``[data]`` path (``path``, ``sources``, ``test_set``, ``dataset``): as given
    when it exists from the working directory, else relative to the project root (where the
    configs' ``data/...`` paths live), so a checkpoint's ``[data]`` works from any directory
    of a clone. Paths a user gives on the command line are not looked up this way."""
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    rooted = DEFAULT_DEEPLOC_PATH.parents[2] / p
    return rooted if rooted.exists() else p


def load_splits(data: DataConfig) -> dict[str, pd.DataFrame]:
    """The train/val/test DataFrames a data config describes (seeded, reproducible)."""
    if data.dataset:
        from psl.sources import read_dataset

        path = project_path(data.dataset)
        if not path.exists() and not DEFAULT_DEEPLOC_PATH.is_file():  # not a clone
            raise PslError(
                f"the dataset table {data.dataset} is not installed with the package (the "
                "repository ships its data): run from a clone of the repository, or give a "
                "labelled FASTA (fasta=)", path)
        splits = read_dataset(path)
    elif data.sources:
        splits = source_splits(data)[0]
    else:
        path = project_path(data.path) if data.path else DEFAULT_DEEPLOC_PATH
        df = read_deeploc(path)
        splits = make_splits(df, data.split, data.val_fraction, data.seed, data.exclude_dual)
        source = _display_path(path)  # the training_set.tsv column, as for the other ways
        splits = {k: v.assign(source=source) for k, v in splits.items()}
    if data.subset:
        rng = np.random.default_rng(data.seed + 1)
        splits = {
            k: (v.iloc[np.sort(rng.permutation(len(v))[: data.subset])].reset_index(drop=True)
                if len(v) > data.subset else v)
            for k, v in splits.items()
        }
    return splits
