"""Hit rates of extracted subsequences against a knowledge base, with a null model.

For a query protein P with reference location L_P and a subsequence s starting at the 1-based
position p_s of P (the research paper's hit rate, eqs. 4 and 5):

* E_s: the knowledge-base entries that contain s, without P itself (same accession once an
  isoform suffix ``-N`` is stripped from both) and without entries whose sequence is identical
  to P's (``keep_self=True`` keeps both). Entries with no location mapped to one of the 10
  classes are no evidence either way: they are left out of E_s and counted in
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

import hashlib
import re
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numba
import numpy as np
import pandas as pd
import pyarrow as pa

from kb.alphabet import SEQUENCE_LETTERS
from kb.classes import LOCATION_CLASSES, normalize_class
from kb.errors import InvalidPeptideError
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
    "entry_class_masks",
    "score",
]

#: Weightings of the hit rate (see the module docstring).
WEIGHTINGS: tuple[str, ...] = ("paper", "normalized", "none")
#: Evidence levels of the location rows used: all, or experimental only.
EVIDENCE_LEVELS: tuple[str, ...] = ("any", "experimental")
#: The ECO code of experimental evidence (what DeepLoc used).
EXPERIMENTAL_EVIDENCE = "ECO:0000269"
#: Columns an input table must have.
REQUIRED_COLUMNS: tuple[str, ...] = ("protein", "location", "subsequence", "start")
#: Input columns that define the per-protein groups by default, when present (the run
#: columns of ``psl extract``'s output and a model name).
RUN_COLUMNS: tuple[str, ...] = ("model", "method", "attention", "target", "label_kind")
#: Columns added to every input row.
SCORE_COLUMNS: tuple[str, ...] = ("n_entries", "n_hits", "n_unannotated", "hit_rate")

_ISOFORM_SQL = "-[0-9]+$"
_ISOFORM = re.compile(_ISOFORM_SQL)
_PEPTIDE = "[" + "".join(sorted(SEQUENCE_LETTERS)) + "]+"
_MAX_REPORTED = 5


def _check_choice(what: str, value: object, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r} (must be one of {', '.join(allowed)})")


class SearchableKB(Protocol):
    """What :func:`score` needs from a knowledge base (``kb.open(DIR)`` returns one): a DuckDB
    connection, the sequence store and the batched search."""

    con: Any
    store: Any

    def search(self, peptides: Sequence[str], **kwargs: Any) -> pa.Table: ...


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
        ValueError: unknown weighting or arrays of inconsistent lengths.
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


def entry_class_masks(con: Any, evidence: str = "any", n_entries: int | None = None) -> np.ndarray:
    """Per entry id, a bitmask of its location classes (bit c = ``LOCATION_CLASSES[c]``).

    Every row of ``locations`` with a class counts for its entry, isoform-specific rows
    included.

    Arguments:
        con: a DuckDB connection to a knowledge base (tables ``entries`` and ``locations``).
        evidence: ``"any"``, or ``"experimental"`` to keep only rows whose evidence contains
            ``ECO:0000269``.
        n_entries: the number of entries (read from the ``entries`` table when None).

    Returns:
        ``uint16`` array of length ``n_entries``; 0 means no mapped location.

    Raises:
        ValueError: unknown evidence level.
    """
    _check_choice("evidence level", evidence, EVIDENCE_LEVELS)
    if n_entries is None:
        n_entries = int(con.execute("SELECT count(*) FROM entries").fetchall()[0][0])
    classes = "[" + ", ".join("'" + c + "'" for c in LOCATION_CLASSES) + "]"
    where = "l.class IS NOT NULL"
    if evidence == "experimental":
        where += f" AND l.evidence LIKE '%{EXPERIMENTAL_EVIDENCE}%'"
    rows = con.execute(
        f"""
        SELECT e.entry_id,
               bit_or(CAST(1 AS INTEGER) << (list_position({classes}, l.class) - 1)) AS mask
        FROM locations l JOIN entries e ON e.accession = l.accession
        WHERE {where} AND list_position({classes}, l.class) IS NOT NULL
        GROUP BY e.entry_id
        """
    ).fetchnumpy()
    masks = np.zeros(n_entries, dtype=np.uint16)
    ids = np.asarray(rows["entry_id"], dtype=np.int64)
    masks[ids] = np.asarray(rows["mask"], dtype=np.uint16)
    return masks


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


def _clean_input(table: pd.DataFrame, source: str | Path | None) -> dict[str, np.ndarray]:
    require_columns(table, REQUIRED_COLUMNS, source)
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
        raise ValueError(f"{_where(source, row)}: location is empty")
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
        raise ValueError(
            f"{_where(source, row + 1)}: start must be a 1-based position (an integer >= 1), "
            f"got {shown}"
        )
    out["start"] = start.astype(np.int64)

    if "sequence" in table.columns:
        seqs = _clean_peptides(table["sequence"], "sequence", source, allow_empty=True)
        frame = pd.DataFrame({"p": out["protein"], "s": seqs})
        n_seq = frame.groupby("p", sort=False)["s"].nunique()
        if (n_seq > 1).any():
            name = str(n_seq.index[np.flatnonzero(n_seq.to_numpy() > 1)[0]])
            row = int(np.flatnonzero(out["protein"] == name)[0]) + 1
            raise ValueError(
                f"{_where(source, row)}: protein {name!r} has different sequences in the "
                "'sequence' column"
            )
        out["sequence"] = seqs
    return out


#: Per open knowledge base, what is read from it once (class bitmasks per evidence level,
#: isoform entries): a KB never changes once built; the entry dies with the KB object.
_KB_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _cached(kb: Any, key: str, compute: Callable[[], Any]) -> Any:
    """``compute()``, once per knowledge-base object and ``key``."""
    try:
        per_kb = _KB_CACHE.setdefault(kb, {})
    except TypeError:  # not weak-referenceable: no cache
        return compute()
    if key not in per_kb:
        per_kb[key] = compute()
    return per_kb[key]


def _register(con: Any, name: str, columns: dict[str, Any]) -> None:
    con.register(name, pa.table(columns))


#: Windows gathered per block in :meth:`_ProteinSequences.windows` (bounds memory).
_WINDOW_BLOCK = 1 << 20


@dataclass(frozen=True)
class _ProteinSequences:
    """Where each query protein's sequence lies: in the KB's sequence store or in the input's
    ``sequence`` column (preferred), without copying the KB's residues.

    Attributes:
        source: per protein, 0 = unknown, 1 = KB store, 2 = input column.
        offset: start of the sequence in its source buffer.
        length: sequence length (-1 when unknown).
        entry: the protein's entry id in the KB, by exact accession (-1 when absent).
        twin: an entry id holding the same sequence (-1 when none is known): the protein's own
            entry, or for an input sequence an entry with the same ``seq_hash``.
        kb_residues: the KB store's residues.
        given: the input sequences, concatenated (ASCII).
    """

    source: np.ndarray
    offset: np.ndarray
    length: np.ndarray
    entry: np.ndarray
    twin: np.ndarray
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


def _protein_sequences(
    kb: SearchableKB, con: Any, names: np.ndarray, code_of_row: np.ndarray,
    given: np.ndarray | None,
) -> _ProteinSequences:
    """Locate the query proteins' sequences (input column first, then the KB by accession)."""
    n = names.shape[0]
    source = np.zeros(n, dtype=np.int8)
    offset = np.zeros(n, dtype=np.int64)
    length = np.full(n, -1, dtype=np.int64)
    twin = np.full(n, -1, dtype=np.int64)
    idx, entry = _lookup(con, "accession", names.tolist())  # exact accession
    kb_offsets = np.asarray(kb.store.offsets)
    source[idx] = 1
    offset[idx] = kb_offsets[entry]
    length[idx] = kb_offsets[entry + 1] - kb_offsets[entry] - 1
    twin[idx] = entry
    in_kb = np.full(n, -1, dtype=np.int64)
    in_kb[idx] = entry
    given_buffer = np.zeros(0, dtype=np.uint8)
    if given is not None:
        rows = np.flatnonzero(np.array([x is not None for x in given], dtype=bool))
        proteins, first = np.unique(code_of_row[rows], return_index=True)
        sequences = [given[r] for r in rows[first].tolist()]
        lengths = np.fromiter(map(len, sequences), dtype=np.int64, count=len(sequences))
        source[proteins] = 2
        length[proteins] = lengths
        offset[proteins] = np.cumsum(lengths) - lengths
        twin[proteins] = -1
        hashes = [hashlib.md5(seq.encode("ascii")).hexdigest() for seq in sequences]
        found, entry = _lookup(con, "seq_hash", hashes)
        twin[proteins[found]] = entry
        given_buffer = np.frombuffer("".join(sequences).encode("ascii"), dtype=np.uint8)
    return _ProteinSequences(source, offset, length, in_kb, twin, kb.store.residues,
                             given_buffer)


def _lookup(con: Any, column: str, values: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(i, entry_id)`` pairs where ``entries.<column> = values[i]`` (one entry per value)."""
    if not values:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    table = "_psl_hitrate_lookup"
    _register(con, table, {"value": pa.array(values, type=pa.string()),
                           "i": pa.array(np.arange(len(values), dtype=np.int64))})
    try:
        got = con.execute(
            f"SELECT v.i, min(e.entry_id) AS entry_id FROM entries e "
            f"JOIN {table} v ON e.{column} = v.value GROUP BY v.i"
        ).fetchnumpy()
    finally:
        con.unregister(table)
    return (np.asarray(got["i"], dtype=np.int64), np.asarray(got["entry_id"], dtype=np.int64))


def _self_keys(
    con: Any, n_entries: int, bases: list[str], known: tuple[np.ndarray, np.ndarray],
    isoforms: list[tuple[int, str]],
) -> np.ndarray:
    """Per entry id, the index in ``bases`` of its accession without isoform suffix (-1 when
    it is none of them): the entry ``B`` and its isoforms ``B-N`` for every base ``B``.

    ``known`` = ``(base index, entry id)`` of the bases already found in the KB (the query
    proteins without isoform suffix); the other bases are looked up.
    """
    entry_key = np.full(n_entries, -1, dtype=np.int64)
    found, entry = known
    entry_key[entry] = found
    rest = np.setdiff1d(np.arange(len(bases)), found)
    if rest.size:
        more, more_entry = _lookup(con, "accession", [bases[i] for i in rest.tolist()])
        entry_key[more_entry] = rest[more]
    if isoforms:
        code = {b: i for i, b in enumerate(bases)}
        for entry_id, accession in isoforms:
            base = _ISOFORM.sub("", accession)
            if base in code:
                entry_key[entry_id] = code[base]
    return entry_key


def _isoform_entries(con: Any) -> list[tuple[int, str]]:
    """``(entry_id, accession)`` of the entries whose accession has an isoform suffix."""
    return con.execute(
        f"SELECT entry_id, accession FROM entries WHERE regexp_matches(accession, '{_ISOFORM_SQL}')"
    ).fetchall()


def _first_rows(group_of_row: np.ndarray) -> np.ndarray:
    """Row where each group (numbered 0.. in order of first appearance) first occurs."""
    if group_of_row.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    seen = np.maximum.accumulate(group_of_row)
    new = np.empty(group_of_row.shape[0], dtype=bool)
    new[0] = True
    new[1:] = seen[1:] > seen[:-1]
    return np.flatnonzero(new)


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

    Arguments:
        kb: an open knowledge base (``kb.open(DIR)``) or its directory.
        table: rows with ``protein`` (accession), ``location`` (one of the 10 classes, any
            case/separator), ``subsequence`` and ``start`` (1-based); an optional ``sequence``
            column gives the query protein's sequence (used before the KB's, for the
            identical-sequence exclusion, the position check and the null model); other
            columns pass through.
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
        ValueError: bad options; bad input (missing columns, unknown locations, empty or
            non-amino-acid subsequences, bad starts), with the row number.
    """
    _check_choice("weighting", weighting, WEIGHTINGS)
    _check_choice("evidence level", evidence, EVIDENCE_LEVELS)
    if isinstance(null, bool) or not isinstance(null, int | np.integer) or null < 0:
        raise ValueError(f"null replicates must be an integer >= 0, got {null!r}")
    if isinstance(kb, str | Path):
        from kb.api import open as open_kb

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
        raise ValueError(
            f"group-by column(s) {', '.join(missing)} not in the input "
            f"(columns: {', '.join(map(str, frame.columns))})"
        )
    say = progress or (lambda stage: None)
    warnings: list[str] = []

    say("checking input")
    cols = _clean_input(frame, source)

    con = kb.con.cursor()  # a cursor of our own: registrations stay private
    try:
        return _score(kb, con, frame, cols, weighting=weighting, evidence=evidence, taxon=taxon,
                      keep_self=keep_self, proteins=proteins, group_by=group_by, null=null,
                      seed=seed, say=say, warnings=warnings)
    finally:
        con.close()


def _score(kb, con, frame, cols, *, weighting, evidence, taxon, keep_self, proteins, group_by,
           null, seed, say, warnings) -> HitRates:
    """The body of :func:`score` (inputs validated, ``con`` a private cursor)."""
    n_rows = len(frame)
    prot_code, prot_names = pd.factorize(cols["protein"])
    prot_names = np.asarray(prot_names, dtype=object)
    n_entries = int(np.asarray(kb.store.offsets).shape[0]) - 1
    say("looking up the query proteins")
    seqs = _protein_sequences(kb, con, prot_names, prot_code, cols.get("sequence"))

    # Items: distinct (protein, class, subsequence, start); rows map onto them.
    item_of_row = (
        pd.DataFrame({
            "p": prot_code, "c": cols["class"], "s": cols["subsequence"], "t": cols["start"]
        })
        .groupby(["p", "c", "s", "t"], sort=False)
        .ngroup()
        .to_numpy(dtype=np.int64)
    )
    item_first_row = _first_rows(item_of_row)
    n_items = item_first_row.shape[0]
    item_protein = prot_code[item_first_row].astype(np.int64)
    item_class = cols["class"][item_first_row]
    item_sub = cols["subsequence"][item_first_row]
    item_start = cols["start"][item_first_row]
    item_len = np.fromiter(map(len, item_sub), dtype=np.int64, count=n_items)

    # Position check where the protein's sequence is known (warn, count, score anyway).
    found = seqs.contains_at(item_protein, item_start - 1, item_sub, item_len)
    bad_item = (seqs.source[item_protein] > 0) & ~found
    mismatch_rows = (np.flatnonzero(bad_item[item_of_row]) + 1).tolist()
    if mismatch_rows:
        shown = ", ".join(map(str, mismatch_rows[:_MAX_REPORTED]))
        more = " ..." if len(mismatch_rows) > _MAX_REPORTED else ""
        warnings.append(
            f"{len(mismatch_rows)} row(s) have a subsequence that is not at its start in the "
            f"protein's sequence (rows {shown}{more}); scored with the given start"
        )

    # Identity: accession without isoform suffix, and an entry with the same sequence.
    stripped = np.asarray([_ISOFORM.sub("", p) if "-" in p else p for p in prot_names],
                          dtype=object)
    base_code, bases = pd.factorize(stripped)
    if keep_self:
        entry_key = np.full(n_entries, -1, dtype=np.int64)
    else:
        say("finding the query proteins' isoforms")
        isoforms = _cached(kb, "isoforms", lambda: _isoform_entries(con))
        # proteins without isoform suffix found in the KB: their base's entry is known
        same = (seqs.entry >= 0) & (stripped == prot_names)
        entry_key = _self_keys(con, n_entries, list(bases),
                               (base_code[same], seqs.entry[same]), isoforms)
    say("reading entry locations")
    entry_mask = _cached(kb, f"masks:{evidence}",
                         lambda: entry_class_masks(con, evidence, n_entries))

    # Groups (protein, location, group_by) and their distinct items ("pairs").
    want_groups = proteins or null > 0
    group_cols = ["protein", "location", *[c for c in group_by if c not in
                                           ("protein", "location")]]
    if want_groups:
        keys = pd.DataFrame({
            "protein": cols["protein"],
            "location": np.asarray(LOCATION_CLASSES, dtype=object)[cols["class"]],
        })
        for c in group_cols[2:]:
            keys[c] = frame[c].to_numpy()
        group_of_row = (keys.groupby(group_cols, sort=False, dropna=False).ngroup()
                        .to_numpy(dtype=np.int64))
        n_groups = int(group_of_row.max()) + 1 if n_rows else 0
        pair_code = np.unique(group_of_row * max(n_items, 1) + item_of_row)
        pair_group = pair_code // max(n_items, 1)
        pair_item = pair_code % max(n_items, 1)

    # The null model's random windows: R per pair, same length, same protein.
    null_words = np.zeros(0, dtype=object)
    null_at = null_start = np.zeros(0, dtype=np.int64)
    if null > 0 and want_groups:
        say(f"drawing {null} random windows per subsequence")
        pair_protein = item_protein[pair_item]
        unknown = seqs.source[pair_protein] == 0
        if unknown.any():
            names = sorted(set(prot_names[pair_protein[unknown]].tolist()))
            warnings.append(
                f"{len(names)} protein(s) have no known sequence (not in the knowledge base, no "
                f"'sequence' column), so no null model: {', '.join(names[:_MAX_REPORTED])}"
                + (" ..." if len(names) > _MAX_REPORTED else "")
            )
        span = seqs.length[pair_protein] - item_len[pair_item] + 1  # possible starts
        drawable = span >= 1
        start0 = np.zeros((pair_item.shape[0], null), dtype=np.int64)
        rng = np.random.default_rng(seed)
        start0[drawable] = rng.integers(0, span[drawable][:, None],
                                        size=(int(drawable.sum()), null))
        null_start = start0.reshape(-1) + 1
        null_words, null_at = seqs.windows(
            np.repeat(pair_protein, null), start0.reshape(-1), np.repeat(item_len[pair_item], null)
        )

    # One search for every distinct peptide, observed and random.
    pep_code, peptides = pd.factorize(np.concatenate([item_sub, null_words]))
    item_query = pep_code[:n_items].astype(np.int64)
    null_query = np.full(null_at.shape[0], -1, dtype=np.int64)
    null_query[null_at >= 0] = pep_code[n_items:][null_at[null_at >= 0]]
    say(f"searching {len(peptides)} distinct peptides")
    if len(peptides):
        search_options: dict[str, Any] = {} if taxon is None else {"taxon": taxon}
        hits = kb.search(list(peptides), **search_options)
        occ_query = hits.column("query").to_numpy()
        occ_entry = hits.column("entry_id").to_numpy()
        occ_start = hits.column("start").to_numpy()
    else:
        occ_query = occ_entry = occ_start = np.zeros(0, dtype=np.int64)

    say("scoring")
    if null > 0 and want_groups:
        rep = np.repeat(pair_item, null)
        all_query = np.concatenate([item_query, null_query])
        all_start = np.concatenate([item_start, null_start])
        all_items = np.concatenate([np.arange(n_items), rep])
    else:
        all_query, all_start, all_items = item_query, item_start, np.arange(n_items)
    scores = score_occurrences(
        occ_query, occ_entry, occ_start,
        item_query=all_query, item_start=all_start, item_class=item_class[all_items],
        item_key=base_code[item_protein][all_items], item_twin=seqs.twin[item_protein][all_items],
        entry_mask=entry_mask, entry_key=entry_key, residues=kb.store.residues,
        offsets=kb.store.offsets,
        weighting=weighting, keep_self=keep_self,
    )

    out = frame.copy()
    out["n_entries"] = scores.n_entries[:n_items][item_of_row]
    out["n_hits"] = scores.n_hits[:n_items][item_of_row]
    out["n_unannotated"] = scores.n_unannotated[:n_items][item_of_row]
    out["hit_rate"] = scores.hit_rate[:n_items][item_of_row]
    result = HitRates(table=out, warnings=warnings, n_position_mismatches=len(mismatch_rows),
                      n_peptides=len(peptides))
    if not want_groups:
        return result

    say("aggregating per protein")
    rate, n_ent = scores.hit_rate, scores.n_entries
    observed, n_scored, n_sub = _group_means(rate[pair_item], n_ent[pair_item] > 0, pair_group,
                                             n_groups)
    first = _first_rows(group_of_row)
    groups = pd.DataFrame({c: keys[c].to_numpy()[first] for c in group_cols})
    groups["hit_rate"] = observed
    groups["n_subsequences"] = n_sub
    groups["n_scored"] = n_scored
    if null > 0:
        replicate = (pair_group[:, None] * null + np.arange(null)[None, :]).reshape(-1)
        rep_rate, _, _ = _group_means(rate[n_items:], n_ent[n_items:] > 0, replicate,
                                      n_groups * null)
        groups = groups.assign(**_null_summary(observed, rep_rate.reshape(n_groups, null)))
    result.proteins = groups
    return result


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
