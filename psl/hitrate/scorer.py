"""Hit rates of extracted subsequences against a knowledge base, with a null model.

For a query protein P with reference location L_P and a subsequence s starting at the 1-based
position p_s of P (the research paper's hit rate, eqs. 4 and 5):

* E_s: the knowledge-base entries that contain s, without entries whose sequence is identical
  to P's (found by P's sequence hash, the ``seq_hash`` the KB stores, whatever P's id) and
  without P's own entry and isoforms (same accession once an isoform suffix ``-N`` is
  stripped from both); ``keep_self=True`` keeps them all. Entries with no location mapped to
  one of the 10 classes are no evidence either way: they are left out of E_s and counted in
  ``n_unannotated``.
* hit_e = 1 when L_P is among the classes of e (all location rows of the entry count,
  isoform-specific ones included); d_e = min |q - p_s| over the occurrences q of s in e;
  beta_e = 1 if d_e = 0 else 1 / d_e.
* hit rate = sum_e hit_e * beta_e / |E_s| (``"paper"``), / sum_e beta_e (``"normalized"``,
  what the research code computed) or the plain fraction of hits (``"none"``); NaN when E_s
  is empty.

A protein's (or any group's) hit rate is the mean over its distinct subsequences with
|E_s| > 0. The null model draws, for every subsequence of the group, R random windows of the
same length from the same protein, scores them the same way and compares.

Batched throughout: one search call for all subsequences (observed and random); one numba
kernel pass (parallel over subsequences) over the occurrence table grouped per peptide for
the nearest occurrence per entry, the exclusions and the sums; ``np.bincount`` for the
per-group means and the null replicates; no Python loop over proteins or rows. See
``docs/hitrate.md`` for a worked example and the differences from the research code.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numba
import numpy as np
import pandas as pd
import pyarrow as pa

from kb.alphabet import SEQUENCE_LETTERS, sequence_hash
from kb.classes import LOCATION_CLASSES, normalize_class
from kb.errors import InvalidPeptideError
from psl.choices import EVIDENCE_LEVELS, WEIGHTINGS
from psl.errors import PslError
from psl.tables_io import require_columns

__all__ = [
    "WEIGHTINGS",
    "EVIDENCE_LEVELS",
    "EXPERIMENTAL_EVIDENCE",
    "REQUIRED_COLUMNS",
    "SCORE_COLUMNS",
    "RUN_COLUMNS",
    "ItemScores",
    "HitRates",
    "score_occurrences",
    "IDENTITY_COLUMNS",
    "SearchableKB",
    "score",
]

# WEIGHTINGS (see the module docstring) and EVIDENCE_LEVELS (all location rows, or experimental
# ones only) are psl.choices' tuples, re-exported here.
#: The ECO code of experimental evidence (what DeepLoc used).
EXPERIMENTAL_EVIDENCE = "ECO:0000269"
#: Columns an input table must have.
REQUIRED_COLUMNS: tuple[str, ...] = ("protein", "location", "subsequence", "start")
#: Input columns that define the per-protein groups by default, when present (the run
#: columns of ``psl extract``'s output and a model name).
RUN_COLUMNS: tuple[str, ...] = ("model", "method", "attention", "target", "label_kind")
#: Columns added to every input row.
SCORE_COLUMNS: tuple[str, ...] = ("n_entries", "n_hits", "n_unannotated", "hit_rate")

#: Optional input columns that identify the query protein (written by ``psl extract``).
IDENTITY_COLUMNS: tuple[str, ...] = ("accession", "seq_hash", "sequence")

_HASH = re.compile("[0-9a-fA-F]{32}")
#: ``pandas.api.types.infer_dtype`` kinds of columns with one scalar per cell.
_SCALAR_KINDS = frozenset({
    "string", "empty", "integer", "floating", "mixed-integer-float", "decimal", "boolean",
    "categorical",
})
_PEPTIDE = "[" + "".join(sorted(SEQUENCE_LETTERS)) + "]+"
_MAX_REPORTED = 5


def _check_choice(name: str, value: object, allowed: Sequence[str]) -> None:
    """A :class:`PslError` naming parameter ``name`` unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise PslError(f"{name} must be one of {', '.join(allowed)}, got {value!r}", param=name)


class SearchableKB(Protocol):
    """What :func:`score` needs from a knowledge base (``kb.open(DIR)`` returns one): the
    batched search and the :class:`kb.api.KnowledgeBase` lookups. No SQL, no tables."""

    def search(self, peptides: Sequence[str], **kwargs: Any) -> pa.Table: ...

    def sequence_arrays(self) -> tuple[np.ndarray, np.ndarray]: ...

    def class_masks(self, evidence: str = "any") -> np.ndarray: ...

    def entry_ids(self, accessions: Sequence[str | None]) -> np.ndarray: ...

    def entry_ids_by_hash(self, hashes: Sequence[str | None]) -> np.ndarray: ...

    def isoform_groups(self) -> np.ndarray: ...

    def isoform_group_ids(self, accessions: Sequence[str | None]) -> np.ndarray: ...


# --------------------------------------------------------------------------------------
# The vectorised core
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemScores:
    """Per-item results of :func:`score_occurrences` (arrays of the items' length)."""

    n_entries: np.ndarray  # int64: |E_s|
    n_hits: np.ndarray  # int64: entries of E_s with the reference location
    n_unannotated: np.ndarray  # int64: matching entries without any mapped location
    hit_rate: np.ndarray  # float64, NaN where n_entries == 0


_WEIGHTING_CODE = {"paper": 0, "normalized": 1, "none": 2}


@numba.njit(inline="always")
def _same_sequence(residues, offsets, a, b):  # pragma: no cover - numba
    if a == b:
        return True
    start_a, start_b = offsets[a], offsets[b]
    n = offsets[a + 1] - start_a
    if offsets[b + 1] - start_b != n:
        return False
    for i in range(n - 1):  # the last byte is the separator
        if residues[start_a + i] != residues[start_b + i]:
            return False
    return True


@numba.njit(parallel=True, cache=True)
def _score_items(ptr, occ_entry, occ_start, item_query, item_start, item_class, item_key,
                 item_twin, entry_mask, entry_key, residues, offsets, weighting, keep_self,
                 n_entries, n_hits, n_unannotated, rate):  # pragma: no cover - numba
    """One pass over each item's occurrences (grouped by entry, nearest occurrence kept)."""
    for i in numba.prange(item_query.shape[0]):
        n_e = 0
        n_h = 0
        n_u = 0
        hits = 0.0
        betas = 0.0
        q = item_query[i]
        if q >= 0:
            p = item_start[i]
            bit = item_class[i]
            key = item_key[i]
            twin = item_twin[i]
            j = ptr[q]
            end = ptr[q + 1]
            while j < end:
                e = occ_entry[j]
                d = abs(occ_start[j] - p)
                j += 1
                while j < end and occ_entry[j] == e:
                    d = min(d, abs(occ_start[j] - p))
                    j += 1
                if not keep_self:
                    if key >= 0 and entry_key[e] == key:
                        continue
                    if twin >= 0 and _same_sequence(residues, offsets, e, twin):
                        continue
                mask = entry_mask[e]
                if mask == 0:
                    n_u += 1
                    continue
                beta = 1.0 if (weighting == 2 or d == 0) else 1.0 / d
                n_e += 1
                betas += beta
                if (mask >> bit) & 1:
                    n_h += 1
                    hits += beta
        n_entries[i] = n_e
        n_hits[i] = n_h
        n_unannotated[i] = n_u
        if n_e == 0:
            rate[i] = np.nan
        elif weighting == 1:
            rate[i] = hits / betas
        else:
            rate[i] = hits / n_e


def score_occurrences(
    occ_query: np.ndarray,
    occ_entry: np.ndarray,
    occ_start: np.ndarray,
    *,
    item_query: np.ndarray,
    item_start: np.ndarray,
    item_class: np.ndarray,
    item_key: np.ndarray,
    item_twin: np.ndarray,
    entry_mask: np.ndarray,
    entry_key: np.ndarray,
    residues: np.ndarray,
    offsets: np.ndarray,
    weighting: str = "paper",
    keep_self: bool = False,
) -> ItemScores:
    """Hit rates of items from an occurrence table (the research paper's eqs. 4-5).

    An *item* is one subsequence to score: which searched peptide it is (``item_query``), where
    it starts in its protein, the protein's reference class and identity. Several items may
    share a peptide (the same subsequence in different proteins or at different starts).

    Occurrences are grouped by peptide (a CSR pointer from ``np.bincount``); a numba kernel,
    parallel over items, walks each item's occurrences once: consecutive rows of one entry
    give its nearest occurrence d_e, then the entry is excluded (self, isoform, identical
    sequence), counted as unannotated, or added to |E_s| with beta_e and hit_e.

    Arguments:
        occ_query, occ_entry, occ_start: the occurrences of the searched peptides (peptide
            index, entry id, 1-based start), as ``kb.search`` returns them; rows sorted by
            (query, entry) are expected and checked (sorted here otherwise).
        item_query: peptide index of each item (-1: no peptide; the item scores nothing).
        item_start: 1-based start of each item in its query protein.
        item_class: index in :data:`~kb.classes.LOCATION_CLASSES` of the reference class.
        item_key: code of the query protein's accession without isoform suffix (-1: none).
        item_twin: an entry id whose sequence is the query protein's (-1: none known); every
            entry with that sequence is an identical copy.
        entry_mask: per entry id, bit ``c`` set when the entry has class ``c`` (0 = no mapped
            location).
        entry_key: per entry id, the accession code comparable with ``item_key`` (-1 = none).
        residues, offsets: the knowledge base's sequence store (:mod:`kb.seqstore` layout).
        weighting: one of :data:`WEIGHTINGS`.
        keep_self: do not exclude the query protein, its isoforms and identical sequences.

    Returns:
        :class:`ItemScores`.

    Raises:
        PslError: unknown weighting. ValueError: arrays of inconsistent lengths.
    """
    _check_choice("weighting", weighting, WEIGHTINGS)
    occ_query = np.asarray(occ_query, dtype=np.int64)
    occ_entry = np.asarray(occ_entry, dtype=np.int64)
    occ_start = np.asarray(occ_start, dtype=np.int64)
    item_query = np.asarray(item_query, dtype=np.int64)
    n_items = item_query.shape[0]
    item_start = np.asarray(item_start, dtype=np.int64)
    item_class = np.asarray(item_class, dtype=np.int64)
    item_key = np.asarray(item_key, dtype=np.int64)
    item_twin = np.asarray(item_twin, dtype=np.int64)
    entry_mask = np.asarray(entry_mask, dtype=np.int64)
    entry_key = np.asarray(entry_key, dtype=np.int64)
    offsets = np.asarray(offsets, dtype=np.int64)
    if not (occ_entry.shape == occ_start.shape == occ_query.shape):
        raise ValueError("occurrence columns have different lengths")
    if not (item_start.shape == item_class.shape == item_key.shape == item_twin.shape
            == (n_items,)):
        raise ValueError("item columns have different lengths")
    if not (entry_key.shape == entry_mask.shape == (offsets.shape[0] - 1,)):
        raise ValueError("entry columns and the sequence store have different lengths")

    if occ_query.size:
        order_key = occ_query * entry_mask.shape[0] + occ_entry
        if np.any(order_key[1:] < order_key[:-1]):
            order = np.argsort(order_key, kind="stable")
            occ_query, occ_entry, occ_start = occ_query[order], occ_entry[order], occ_start[order]
    n_queries = int(max(occ_query.max(initial=-1), item_query.max(initial=-1))) + 1
    ptr = np.zeros(n_queries + 1, dtype=np.int64)
    np.cumsum(np.bincount(occ_query, minlength=n_queries), out=ptr[1:])

    n_entries = np.zeros(n_items, dtype=np.int64)
    n_hits = np.zeros(n_items, dtype=np.int64)
    n_unannotated = np.zeros(n_items, dtype=np.int64)
    rate = np.full(n_items, np.nan)
    if n_items:
        _score_items(ptr, occ_entry, occ_start, item_query, item_start, item_class, item_key,
                     item_twin, entry_mask, entry_key, np.asarray(residues), offsets,
                     _WEIGHTING_CODE[weighting], keep_self,
                     n_entries, n_hits, n_unannotated, rate)
    return ItemScores(n_entries, n_hits, n_unannotated, rate)


# --------------------------------------------------------------------------------------
# The table-level API
# --------------------------------------------------------------------------------------


@dataclass
class HitRates:
    """What :func:`score` returns.

    Attributes:
        table: the input rows (all input columns kept) plus :data:`SCORE_COLUMNS`.
        proteins: one row per group (protein, location and the ``group_by`` columns) with
            ``hit_rate``, ``n_subsequences``, ``n_scored`` and, with a null model,
            ``null_hit_rate``, ``n_null``, ``enrichment``, ``p_value``; None unless asked.
        warnings: human-readable warnings (subsequences not found at their start, proteins
            without a sequence for the null model).
        n_position_mismatches: rows whose subsequence is not at ``start`` in the protein.
        n_peptides: distinct peptides searched (observed and random).
    """

    table: pd.DataFrame
    proteins: pd.DataFrame | None = None
    warnings: list[str] = field(default_factory=list)
    n_position_mismatches: int = 0
    n_peptides: int = 0

    def summary(self) -> str:
        """A short human-readable summary."""
        t = self.table
        scored = int((t["n_entries"] > 0).sum())
        mean = float(np.nanmean(t["hit_rate"])) if scored else float("nan")
        parts = [
            f"{len(t)} rows",
            f"{t['protein'].nunique()} proteins",
            f"{scored} rows scored",
            f"mean hit rate {mean:.4f}",
        ]
        if self.proteins is not None and "null_hit_rate" in self.proteins:
            null = self.proteins["null_hit_rate"].dropna()
            parts.append(f"mean null hit rate {float(null.mean()) if len(null) else np.nan:.4f}")
        parts.append(f"{len(self.warnings)} warnings")
        return ", ".join(parts)


def _where(source: str | Path | None, row: int) -> str:
    return f"{source}, row {row}" if source is not None else f"row {row}"


def _clean_peptides(
    values: pd.Series, column: str, source: str | Path | None, allow_empty: bool = False
) -> np.ndarray:
    """Upper-cased peptide strings; raises on empty (unless ``allow_empty``: None) or
    non-amino-acid cells, naming the row."""
    text = values.astype("string").str.strip().str.upper()
    empty = (text.isna() | (text == "")).to_numpy(dtype=bool)
    ok = text.str.fullmatch(_PEPTIDE).fillna(False).to_numpy(dtype=bool)
    if allow_empty:
        ok |= empty
    if not ok.all():
        row = int(np.flatnonzero(~ok)[0])
        raw = values.iloc[row]
        bad = "" if pd.isna(raw) else str(raw)
        detail = "is empty" if not bad.strip() else (
            f"has letters outside the amino-acid alphabet: {bad!r}"
        )
        raise InvalidPeptideError(f"{_where(source, row + 1)}: {column} {detail}")
    result = text.astype(object).to_numpy().copy()
    result[empty] = None
    return result


def _check_cell_types(table: pd.DataFrame, columns: Sequence[str],
                      source: str | Path | None) -> None:
    """One text or number per cell: a list, array, mapping or bytes cell (e.g. a list-typed
    Parquet column) is an error naming the file, the column and the first such row."""
    for column in columns:
        values = table[column]
        if values.dtype != object:
            continue
        if pd.api.types.infer_dtype(values, skipna=True) in _SCALAR_KINDS:
            continue
        nested = values.map(lambda v: isinstance(v, bytes | bytearray) or (
            pd.api.types.is_list_like(v) and not isinstance(v, str))).to_numpy(dtype=bool)
        if nested.any():
            row = int(np.flatnonzero(nested)[0])
            kind = type(values.iloc[row]).__name__
            raise PslError(
                f"column {column!r} holds {kind} values (first at row {row + 1}); expected one "
                "text or number per cell (is it a list-typed column?)",
                source,
            )


def _first_per_protein(protein: np.ndarray, values: np.ndarray, column: str,
                       source: str | Path | None) -> None:
    """Raise when a protein has different non-empty ``values`` (naming its first row)."""
    frame = pd.DataFrame({"p": protein, "v": values})
    n_values = frame.groupby("p", sort=False)["v"].nunique()
    if (n_values > 1).any():
        name = str(n_values.index[np.flatnonzero(n_values.to_numpy() > 1)[0]])
        row = int(np.flatnonzero(protein == name)[0]) + 1
        raise PslError(
            f"{_where(source, row)}: protein {name!r} has different values in the "
            f"{column!r} column"
        )


def _clean_text(values: pd.Series) -> np.ndarray:
    """Stripped strings, None for empty cells."""
    text = values.astype("string").str.strip()
    out = text.astype(object).to_numpy().copy()
    out[(text.isna() | (text == "")).to_numpy(dtype=bool)] = None
    return out


def _clean_input(table: pd.DataFrame, source: str | Path | None,
                 group_by: Sequence[str]) -> dict[str, np.ndarray]:
    require_columns(table, REQUIRED_COLUMNS, source)
    optional = [c for c in IDENTITY_COLUMNS if c in table.columns]
    _check_cell_types(table, [*REQUIRED_COLUMNS, *optional, *group_by], source)
    out: dict[str, np.ndarray] = {}

    protein = table["protein"].astype("string").str.strip()
    empty = (protein.isna() | (protein == "")).to_numpy(dtype=bool)
    if empty.any():
        raise InvalidPeptideError(
            f"{_where(source, int(np.flatnonzero(empty)[0]) + 1)}: protein is empty"
        )
    out["protein"] = protein.to_numpy(dtype=object)

    codes, uniques = pd.factorize(table["location"], use_na_sentinel=True)
    if (codes < 0).any():
        row = int(np.flatnonzero(codes < 0)[0]) + 1
        raise PslError(f"{_where(source, row)}: location is empty")
    class_of_unique = np.empty(len(uniques), dtype=np.int64)
    for i, name in enumerate(uniques):
        row = int(np.flatnonzero(codes == i)[0]) + 1
        class_of_unique[i] = LOCATION_CLASSES.index(
            normalize_class(str(name), where=_where(source, row))
        )
    out["class"] = class_of_unique[codes]

    out["subsequence"] = _clean_peptides(table["subsequence"], "subsequence", source)

    start = pd.to_numeric(table["start"], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(start) | (start < 1) | (start != np.floor(start))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        value = table["start"].iloc[row]
        shown = repr(value) if isinstance(value, str) else str(value)
        raise PslError(
            f"{_where(source, row + 1)}: start must be a 1-based position (an integer >= 1), "
            f"got {shown}"
        )
    out["start"] = start.astype(np.int64)

    if "sequence" in table.columns:
        seqs = _clean_peptides(table["sequence"], "sequence", source, allow_empty=True)
        if seqs.size:
            seqs = np.asarray([None if s is None else s.rstrip("*") for s in seqs], dtype=object)
        _first_per_protein(out["protein"], seqs, "sequence", source)
        out["sequence"] = seqs
    if "seq_hash" in table.columns:
        hashes = _clean_text(table["seq_hash"])
        ok = np.asarray([h is None or _HASH.fullmatch(h) is not None for h in hashes],
                        dtype=bool)
        if not ok.all():
            row = int(np.flatnonzero(~ok)[0])
            raise PslError(
                f"{_where(source, row + 1)}: seq_hash must be 32 hexadecimal digits (the MD5 of "
                f"the sequence), got {hashes[row]!r}"
            )
        hashes = np.asarray([None if h is None else h.lower() for h in hashes], dtype=object)
        _first_per_protein(out["protein"], hashes, "seq_hash", source)
        out["seq_hash"] = hashes
    if "accession" in table.columns:
        accessions = _clean_text(table["accession"])
        _first_per_protein(out["protein"], accessions, "accession", source)
        out["accession"] = accessions
    return out


#: Windows gathered per block in :meth:`_ProteinSequences.windows` (bounds memory).
_WINDOW_BLOCK = 1 << 20


@dataclass(frozen=True)
class _ProteinSequences:
    """Who each query protein is and where its sequence lies: in the KB's sequence store or in
    the input's ``sequence`` column (preferred), without copying the KB's residues.

    Attributes:
        source: per protein, 0 = unknown, 1 = KB store, 2 = input column.
        offset: start of the sequence in its source buffer.
        length: sequence length (-1 when unknown).
        key: the isoform group (:meth:`kb.api.KnowledgeBase.isoform_groups`) of the protein's
            accession (-1 when unknown or in no group): its entry and its isoforms.
        twin: an entry id holding the same sequence (-1 when none is known): the entry whose
            ``seq_hash`` is the protein's, or without a hash its own entry (by accession).
        identified: whether anything identifies the protein in the KB (a sequence hash, a
            sequence or its accession found there).
        kb_residues: the KB store's residues.
        given: the input sequences, concatenated (ASCII).
    """

    source: np.ndarray
    offset: np.ndarray
    length: np.ndarray
    key: np.ndarray
    twin: np.ndarray
    identified: np.ndarray
    kb_residues: np.ndarray
    given: np.ndarray

    def _gather(self, which: int, protein: np.ndarray, start0: np.ndarray,
                width: int) -> np.ndarray:
        """Windows of one source and width as a fixed-width bytes array (``S<width>``)."""
        buffer = self.kb_residues if which == 1 else self.given
        first = self.offset[protein] + start0
        chars = np.asarray(buffer[first[:, None] + np.arange(width)], dtype=np.uint8)
        return np.ascontiguousarray(chars).view(f"S{width}").reshape(-1)

    def contains_at(self, protein: np.ndarray, start0: np.ndarray, words: np.ndarray,
                    length: np.ndarray) -> np.ndarray:
        """Whether each protein has ``words[i]`` at 0-based ``start0[i]`` (False if unknown)."""
        out = np.zeros(protein.shape[0], dtype=bool)
        src = self.source[protein]
        fits = (src > 0) & (start0 + length <= self.length[protein])
        for which in (1, 2):
            in_source = fits & (src == which)
            for width in np.unique(length[in_source]).tolist():
                sel = np.flatnonzero(in_source & (length == width))
                got = self._gather(which, protein[sel], start0[sel], width)
                out[sel] = got == words[sel].astype(f"S{width}")
        return out

    def windows(
        self, protein: np.ndarray, start0: np.ndarray, length: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Subsequences ``protein[start0 : start0 + length]`` for many requests at once.

        Returns:
            ``(words, code)``: an object array of window strings and, per request, the index
            of its window in ``words`` (-1 when the protein is unknown or the window does not
            fit). ``words`` may hold a string more than once.
        """
        code = np.full(protein.shape[0], -1, dtype=np.int64)
        src = self.source[protein]
        fits = (src > 0) & (start0 >= 0) & (start0 + length <= self.length[protein])
        pieces: list[np.ndarray] = []
        n_words = 0
        for which in (1, 2):
            in_source = fits & (src == which)
            for width in np.unique(length[in_source]).tolist():
                chosen = np.flatnonzero(in_source & (length == width))
                for lo in range(0, chosen.shape[0], _WINDOW_BLOCK):
                    sel = chosen[lo : lo + _WINDOW_BLOCK]
                    as_bytes = self._gather(which, protein[sel], start0[sel], width)
                    uniq, inverse = np.unique(as_bytes, return_inverse=True)
                    code[sel] = n_words + inverse.reshape(-1)
                    pieces.append(uniq.astype(f"U{width}").astype(object))
                    n_words += uniq.shape[0]
        words = np.concatenate(pieces) if pieces else np.zeros(0, dtype=object)
        return words, code


def _per_protein(values: np.ndarray | None, code_of_row: np.ndarray, n: int) -> np.ndarray:
    """The first non-empty value of each protein (None where it has none)."""
    out = np.full(n, None, dtype=object)
    if values is None:
        return out
    rows = np.flatnonzero(np.asarray([v is not None for v in values], dtype=bool))
    proteins, first = np.unique(code_of_row[rows], return_index=True)
    out[proteins] = values[rows[first]]
    return out


def _protein_sequences(
    kb: SearchableKB, names: np.ndarray, code_of_row: np.ndarray, cols: dict[str, np.ndarray],
) -> _ProteinSequences:
    """Identify the query proteins in the KB and locate their sequences.

    The sequence hash (from the ``seq_hash`` column, or computed from the ``sequence``
    column) finds the entries with an identical sequence; the accession (``accession``
    column, else the ``protein`` id) finds the protein's isoform group and, for a protein
    without a hash, its own entry (whose sequence is then the protein's).
    """
    n = names.shape[0]
    residues, kb_offsets = kb.sequence_arrays()
    accession = (_per_protein(cols["accession"], code_of_row, n) if "accession" in cols
                 else names.copy())
    given = _per_protein(cols.get("sequence"), code_of_row, n)
    hashes = _per_protein(cols.get("seq_hash"), code_of_row, n)
    has_given = np.asarray([g is not None for g in given], dtype=bool)
    for i in np.flatnonzero(has_given).tolist():  # the given sequence decides its hash
        hashes[i] = sequence_hash(given[i])
    has_hash = np.asarray([h is not None for h in hashes], dtype=bool)

    entry = kb.entry_ids(accession.tolist())  # exact accession, -1 when absent
    twin = np.where(has_hash, kb.entry_ids_by_hash(hashes.tolist()), entry)
    key = kb.isoform_group_ids(accession.tolist())

    source = np.zeros(n, dtype=np.int8)
    offset = np.zeros(n, dtype=np.int64)
    length = np.full(n, -1, dtype=np.int64)
    in_kb = twin >= 0  # the KB holds the protein's sequence (same hash, or own entry)
    source[in_kb] = 1
    offset[in_kb] = kb_offsets[twin[in_kb]]
    length[in_kb] = kb_offsets[twin[in_kb] + 1] - kb_offsets[twin[in_kb]] - 1
    given_buffer = np.zeros(0, dtype=np.uint8)
    if has_given.any():
        chosen = np.flatnonzero(has_given)
        sequences = given[chosen].tolist()
        lengths = np.fromiter(map(len, sequences), dtype=np.int64, count=len(sequences))
        source[chosen] = 2
        length[chosen] = lengths
        offset[chosen] = np.cumsum(lengths) - lengths
        given_buffer = np.frombuffer("".join(sequences).encode("ascii"), dtype=np.uint8)
    identified = has_hash | (entry >= 0) | (key >= 0)
    return _ProteinSequences(source, offset, length, key, twin, identified, residues,
                             given_buffer)


def _first_rows(group_of_row: np.ndarray) -> np.ndarray:
    """Row where each group (numbered 0.. in order of first appearance) first occurs."""
    if group_of_row.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    seen = np.maximum.accumulate(group_of_row)
    new = np.empty(group_of_row.shape[0], dtype=bool)
    new[0] = True
    new[1:] = seen[1:] > seen[:-1]
    return np.flatnonzero(new)


def _shown(names: Sequence[str]) -> str:
    """The first few names, joined, with `` ...`` when there are more."""
    return ", ".join(names[:_MAX_REPORTED]) + (" ..." if len(names) > _MAX_REPORTED else "")


def score(
    kb: SearchableKB | str | Path,
    table: pd.DataFrame | pa.Table,
    *,
    weighting: str = "paper",
    evidence: str = "any",
    taxon: str | int | None = None,
    keep_self: bool = False,
    proteins: bool = False,
    group_by: Sequence[str] | None = None,
    null: int = 0,
    seed: int = 0,
    source: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> HitRates:
    """Score subsequences against a knowledge base (the research paper's hit rate, eqs. 4-5).

    The query protein is excluded from its own evidence without relying on its id: every
    entry whose sequence is identical to the query's (by ``seq_hash``, the MD5 the KB stores),
    plus the entry of the query's accession and its isoforms (``P12345``, ``P12345-2``).

    Arguments:
        kb: an open knowledge base (``kb.open(DIR)``) or its directory.
        table: rows with ``protein`` (the query protein's id), ``location`` (one of the 10
            classes, any case/separator), ``subsequence`` and ``start`` (1-based). Optional
            identity columns (what ``psl explain`` / ``psl extract`` write): ``seq_hash`` (hex
            MD5 of the query protein's sequence), ``accession`` (its UniProt accession; when
            absent, ``protein`` is taken as the accession) and ``sequence`` (the sequence
            itself: used for the identical-sequence exclusion, the position check and the null
            model). Without ``seq_hash``/``sequence`` the query protein is identified by its
            accession only (a warning says so). Other columns pass through.
        weighting: ``"paper"`` (default), ``"normalized"`` or ``"none"``.
        evidence: ``"any"`` or ``"experimental"`` (only ECO:0000269 location rows).
        taxon: restrict the KB entries to a taxon (name in the lineage or taxon id), as
            ``kb search --taxon``.
        keep_self: keep the query protein, its isoforms and identical sequences in E_s.
        proteins: also compute the per-group table (:attr:`HitRates.proteins`).
        group_by: extra columns that define a group beside protein and location (e.g.
            ``["model", "method"]``); None (default): those of :data:`RUN_COLUMNS` present in
            the input, so that hit rates of different models, methods or label kinds are never
            averaged together.
        null: number R of null-model replicates per group (0 = no null model; implies
            ``proteins``).
        seed: seed of the null model's random generator.
        source: the input's file name, for messages.
        progress: called with the name of each stage (for progress display).

    Returns:
        :class:`HitRates`.

    Raises:
        PslError: bad options (``param`` names the parameter; choices from
            :mod:`psl.choices`); bad input (missing columns, a column of lists, unknown
            locations, empty or non-amino-acid subsequences, bad starts or hashes), with the
            file, column and row.
    """
    _check_choice("weighting", weighting, WEIGHTINGS)
    _check_choice("evidence", evidence, EVIDENCE_LEVELS)
    if isinstance(null, bool) or not isinstance(null, int | np.integer) or null < 0:
        raise PslError(f"null (replicates) must be an integer >= 0, got {null!r}", param="null")
    if isinstance(kb, str | Path):
        from kb.opener import open as open_kb  # single or sharded

        with open_kb(kb) as opened:
            return score(opened, table, weighting=weighting, evidence=evidence, taxon=taxon,
                         keep_self=keep_self, proteins=proteins, group_by=group_by, null=null,
                         seed=seed, source=source, progress=progress)
    frame = table.to_pandas() if isinstance(table, pa.Table) else table
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"table must be a pandas DataFrame or an Arrow table, got {type(table)}")
    if group_by is None:
        group_by = [c for c in RUN_COLUMNS if c in frame.columns]
    group_by = list(group_by)
    missing = [c for c in group_by if c not in frame.columns]
    if missing:
        raise PslError(
            f"group_by column(s) {', '.join(missing)} not in the input "
            f"(columns: {', '.join(map(str, frame.columns))})", param="group_by",
        )
    say = progress or (lambda stage: None)
    say("checking input")
    cols = _clean_input(frame, source, group_by)
    warnings: list[str] = []
    items = _items(cols)
    say("looking up the query proteins")
    seqs = _protein_sequences(kb, items.protein_names, items.protein_of_row, cols)
    if not keep_self:
        warnings.extend(_identity_warnings(cols, items, seqs))
    mismatch_rows = _check_positions(seqs, items, warnings)
    say("reading entry locations")
    entry_mask = kb.class_masks(evidence)
    entry_key = kb.isoform_groups()

    want_groups = proteins or null > 0
    groups = _groups(frame, cols, items, group_by) if want_groups else None
    null_windows = None
    if null > 0 and groups is not None:
        say(f"drawing {null} random windows per subsequence")
        null_windows = _draw_null_windows(seqs, items, groups, null, seed, warnings)

    pep_code, peptides = pd.factorize(np.concatenate(
        [items.subsequence, null_windows.words if null_windows is not None else []]))
    say(f"searching {len(peptides)} distinct peptides")
    occ_query, occ_entry, occ_start = _search(kb, list(peptides), taxon)

    say("scoring")
    n_items = items.n
    which = np.arange(n_items)
    query = pep_code[:n_items].astype(np.int64)
    start = items.start
    if null_windows is not None:
        which = np.concatenate([which, null_windows.item])
        null_query = np.full(null_windows.at.shape[0], -1, dtype=np.int64)
        drawn = null_windows.at >= 0
        null_query[drawn] = pep_code[n_items:][null_windows.at[drawn]]
        query = np.concatenate([query, null_query])
        start = np.concatenate([start, null_windows.start])
    residues, offsets = kb.sequence_arrays()
    protein = items.protein[which]
    scores = score_occurrences(
        occ_query, occ_entry, occ_start,
        item_query=query, item_start=start, item_class=items.klass[which],
        item_key=seqs.key[protein], item_twin=seqs.twin[protein],
        entry_mask=entry_mask, entry_key=entry_key, residues=residues, offsets=offsets,
        weighting=weighting, keep_self=keep_self,
    )

    out = frame.copy()
    for name in SCORE_COLUMNS:
        out[name] = getattr(scores, name)[:n_items][items.item_of_row]
    warnings.extend(_empty_warnings(out))
    result = HitRates(table=out, warnings=warnings, n_position_mismatches=len(mismatch_rows),
                      n_peptides=len(peptides))
    if groups is not None:
        say("aggregating per protein")
        result.proteins = _aggregate(scores, n_items, groups, null)
    return result


@dataclass(frozen=True)
class _Items:
    """The distinct (protein, class, subsequence, start) of the input; rows map onto them."""

    item_of_row: np.ndarray
    protein_of_row: np.ndarray  # protein code of each row
    protein_names: np.ndarray  # object array: protein id of each code
    protein: np.ndarray  # protein code of each item
    klass: np.ndarray
    subsequence: np.ndarray
    start: np.ndarray
    length: np.ndarray

    @property
    def n(self) -> int:
        return int(self.protein.shape[0])


def _items(cols: dict[str, np.ndarray]) -> _Items:
    prot_code, prot_names = pd.factorize(cols["protein"])
    item_of_row = (
        pd.DataFrame({
            "p": prot_code, "c": cols["class"], "s": cols["subsequence"], "t": cols["start"]
        })
        .groupby(["p", "c", "s", "t"], sort=False)
        .ngroup()
        .to_numpy(dtype=np.int64)
    )
    first = _first_rows(item_of_row)
    sub = cols["subsequence"][first]
    return _Items(
        item_of_row=item_of_row,
        protein_of_row=prot_code.astype(np.int64),
        protein_names=np.asarray(prot_names, dtype=object),
        protein=prot_code[first].astype(np.int64),
        klass=cols["class"][first],
        subsequence=sub,
        start=cols["start"][first],
        length=np.fromiter(map(len, sub), dtype=np.int64, count=first.shape[0]),
    )


def _identity_warnings(cols: dict[str, np.ndarray], items: _Items,
                       seqs: _ProteinSequences) -> list[str]:
    """Say when the query proteins' own entries may not be excluded."""
    out = []
    if "seq_hash" not in cols and "sequence" not in cols:
        out.append(
            "the input has no 'seq_hash' or 'sequence' column: query proteins are identified "
            "by accession only (the 'accession' column, else the 'protein' id), and one not "
            "found in the knowledge base under it excludes nothing, not even an identical "
            "sequence ('psl explain' and 'psl extract' write 'seq_hash')"
        )
    unknown = ~seqs.identified
    if unknown.any() and items.protein_names.shape[0]:
        names = sorted(items.protein_names[unknown].tolist())
        out.append(
            f"{len(names)} protein(s) have no sequence hash and no accession found in the "
            f"knowledge base, so nothing is excluded as their own entry: {_shown(names)}"
        )
    return out


def _check_positions(seqs: _ProteinSequences, items: _Items, warnings: list[str]) -> list[int]:
    """Rows whose subsequence is not at its start in the protein's known sequence (warned,
    counted, scored with the given start anyway)."""
    found = seqs.contains_at(items.protein, items.start - 1, items.subsequence, items.length)
    bad_item = (seqs.source[items.protein] > 0) & ~found
    rows = (np.flatnonzero(bad_item[items.item_of_row]) + 1).tolist()
    if rows:
        warnings.append(
            f"{len(rows)} row(s) have a subsequence that is not at its start in the "
            f"protein's sequence (rows {_shown([str(r) for r in rows])}); scored with the "
            "given start"
        )
    return rows


@dataclass(frozen=True)
class _Groups:
    """Groups (protein, location, group_by) and their distinct items ("pairs")."""

    columns: list[str]
    keys: pd.DataFrame  # the group columns of every row
    group_of_row: np.ndarray
    n: int
    pair_group: np.ndarray
    pair_item: np.ndarray


def _groups(frame: pd.DataFrame, cols: dict[str, np.ndarray], items: _Items,
            group_by: Sequence[str]) -> _Groups:
    columns = ["protein", "location", *[c for c in group_by if c not in ("protein", "location")]]
    keys = pd.DataFrame({
        "protein": cols["protein"],
        "location": np.asarray(LOCATION_CLASSES, dtype=object)[cols["class"]],
    })
    for c in columns[2:]:
        keys[c] = frame[c].to_numpy()
    group_of_row = (keys.groupby(columns, sort=False, dropna=False).ngroup()
                    .to_numpy(dtype=np.int64))
    n_groups = int(group_of_row.max()) + 1 if len(frame) else 0
    width = max(items.n, 1)
    pair_code = np.unique(group_of_row * width + items.item_of_row)
    return _Groups(columns, keys, group_of_row, n_groups, pair_code // width, pair_code % width)


@dataclass(frozen=True)
class _NullWindows:
    """R random windows per pair: the pair's item, 1-based start, and index in ``words``
    (-1: not drawable)."""

    item: np.ndarray
    start: np.ndarray
    at: np.ndarray
    words: np.ndarray


def _draw_null_windows(seqs: _ProteinSequences, items: _Items, groups: _Groups, null: int,
                       seed: int, warnings: list[str]) -> _NullWindows:
    """The null model's random windows: R per pair, same length, same protein."""
    pair_protein = items.protein[groups.pair_item]
    unknown = seqs.source[pair_protein] == 0
    if unknown.any():
        names = sorted(set(items.protein_names[pair_protein[unknown]].tolist()))
        warnings.append(
            f"{len(names)} protein(s) have no known sequence (not in the knowledge base, no "
            f"'sequence' column), so no null model: {_shown(names)}"
        )
    length = items.length[groups.pair_item]
    span = seqs.length[pair_protein] - length + 1  # possible starts
    drawable = span >= 1
    start0 = np.zeros((groups.pair_item.shape[0], null), dtype=np.int64)
    rng = np.random.default_rng(seed)
    start0[drawable] = rng.integers(0, span[drawable][:, None], size=(int(drawable.sum()), null))
    words, at = seqs.windows(np.repeat(pair_protein, null), start0.reshape(-1),
                             np.repeat(length, null))
    return _NullWindows(np.repeat(groups.pair_item, null), start0.reshape(-1) + 1, at, words)


def _search(kb: SearchableKB, peptides: list[str],
            taxon: str | int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One search for every distinct peptide: occurrence (query, entry id, 1-based start)."""
    if not peptides:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    hits = kb.search(peptides, **({} if taxon is None else {"taxon": taxon}))
    return (hits.column("query").to_numpy(), hits.column("entry_id").to_numpy(),
            hits.column("start").to_numpy())


def _empty_warnings(out: pd.DataFrame) -> list[str]:
    """Say why nothing was scored, when nothing was."""
    if len(out) == 0:
        return ["the input has no rows: nothing to score (did 'psl extract' find no "
                "subsequence?)"]
    if (out["n_entries"] > 0).any():
        return []
    only_unannotated = int((out["n_unannotated"] > 0).sum())
    return [
        f"no subsequence was scored: none of the {len(out)} row(s) occurs in another "
        "knowledge-base entry with a location among the 10 classes (query proteins and "
        f"identical sequences excluded); {only_unannotated} row(s) occur only in entries "
        "without a mapped location"
    ]


def _aggregate(scores: ItemScores, n_items: int, groups: _Groups, null: int) -> pd.DataFrame:
    """Per group: mean hit rate over its scored pairs and, with a null model, the summary."""
    rate, n_ent = scores.hit_rate, scores.n_entries
    observed, n_scored, n_sub = _group_means(rate[groups.pair_item],
                                             n_ent[groups.pair_item] > 0, groups.pair_group,
                                             groups.n)
    first = _first_rows(groups.group_of_row)
    table = pd.DataFrame({c: groups.keys[c].to_numpy()[first] for c in groups.columns})
    table["hit_rate"] = observed
    table["n_subsequences"] = n_sub
    table["n_scored"] = n_scored
    if null > 0:
        replicate = (groups.pair_group[:, None] * null + np.arange(null)[None, :]).reshape(-1)
        rep_rate, _, _ = _group_means(rate[n_items:], n_ent[n_items:] > 0, replicate,
                                      groups.n * null)
        table = table.assign(**_null_summary(observed, rep_rate.reshape(groups.n, null)))
    return table


def _group_means(
    rate: np.ndarray, scored: np.ndarray, group: np.ndarray, n_groups: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean of ``rate`` over the scored members of each group (NaN without any), the number
    of scored members and the number of members."""
    n_members = np.bincount(group, minlength=n_groups)
    n_scored = np.bincount(group[scored], minlength=n_groups)
    sums = np.bincount(group[scored], weights=rate[scored], minlength=n_groups)
    mean = np.full(n_groups, np.nan)
    np.divide(sums, n_scored, out=mean, where=n_scored > 0)
    return mean, n_scored, n_members


def _null_summary(observed: np.ndarray, replicates: np.ndarray) -> dict[str, np.ndarray]:
    """Null mean, defined replicates, enrichment and empirical p-value per group.

    Replicates without any scored window (NaN) are left out: ``n_null`` counts the others and
    p = (1 + #{defined replicates >= observed}) / (1 + n_null).
    """
    defined = ~np.isnan(replicates)
    n_null = defined.sum(axis=1)
    null_mean = np.full(observed.shape[0], np.nan)
    np.divide(np.where(defined, replicates, 0.0).sum(axis=1), n_null, out=null_mean,
              where=n_null > 0)
    at_least = (defined & (np.nan_to_num(replicates, nan=-np.inf) >= observed[:, None])).sum(1)
    undefined = np.isnan(observed) | (n_null == 0)
    p_value = np.where(undefined, np.nan, (1.0 + at_least) / (1.0 + n_null))
    enrichment = np.full(observed.shape[0], np.nan)
    positive = ~undefined & (null_mean > 0)
    enrichment[positive] = observed[positive] / null_mean[positive]
    enrichment[~undefined & (null_mean == 0) & (observed > 0)] = np.inf
    return {"null_hit_rate": null_mean, "n_null": n_null, "enrichment": enrichment,
            "p_value": p_value}
