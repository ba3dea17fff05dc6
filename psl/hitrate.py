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

Everything is vectorised with NumPy: one search call for all subsequences (observed and
random), per-(subsequence, entry) minimum distances with ``np.minimum.reduceat`` and per-row
sums with ``np.bincount``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

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
    """What :func:`score` needs from a knowledge base (``kb.open(DIR)`` returns one)."""

    con: Any

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


def score_occurrences(
    occ_query: np.ndarray,
    occ_entry: np.ndarray,
    occ_start: np.ndarray,
    *,
    item_query: np.ndarray,
    item_start: np.ndarray,
    item_class: np.ndarray,
    item_key: np.ndarray,
    item_hash: np.ndarray,
    entry_mask: np.ndarray,
    entry_key: np.ndarray,
    entry_hash: np.ndarray,
    weighting: str = "paper",
    keep_self: bool = False,
) -> ItemScores:
    """Hit rates of items from an occurrence table (the research paper's eqs. 4-5).

    An *item* is one subsequence to score: which searched peptide it is (``item_query``), where
    it starts in its protein, the protein's reference class and identity codes. Several items
    may share a peptide (the same subsequence in different proteins or at different starts).

    Arguments:
        occ_query, occ_entry, occ_start: the occurrences of the searched peptides (peptide
            index, entry id, 1-based start), as ``kb.search`` returns them; sorted by
            (query, entry) is expected and checked (sorted here otherwise).
        item_query: peptide index of each item.
        item_start: 1-based start of each item in its query protein.
        item_class: index in :data:`~kb.classes.LOCATION_CLASSES` of the reference class.
        item_key: code of the query protein's accession without isoform suffix (>= 0).
        item_hash: code of the query protein's sequence hash, -1 when unknown.
        entry_mask: per entry id, bit ``c`` set when the entry has class ``c`` (0 = no mapped
            location).
        entry_key: per entry id, the accession code comparable with ``item_key`` (-1 = none).
        entry_hash: per entry id, the sequence-hash code comparable with ``item_hash``
            (-1 = none).
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
    item_start = np.asarray(item_start, dtype=np.int64)
    item_class = np.asarray(item_class, dtype=np.int64)
    item_key = np.asarray(item_key, dtype=np.int64)
    item_hash = np.asarray(item_hash, dtype=np.int64)
    entry_mask = np.asarray(entry_mask)
    entry_key = np.asarray(entry_key, dtype=np.int64)
    entry_hash = np.asarray(entry_hash, dtype=np.int64)
    n_items = item_query.shape[0]
    if not (occ_entry.shape == occ_start.shape == occ_query.shape):
        raise ValueError("occurrence columns have different lengths")
    if not (item_start.shape == item_class.shape == item_key.shape == item_hash.shape
            == (n_items,)):
        raise ValueError("item columns have different lengths")
    if not (entry_key.shape == entry_hash.shape == entry_mask.shape):
        raise ValueError("entry columns have different lengths")

    zeros = np.zeros(n_items, dtype=np.int64)
    if n_items == 0 or occ_query.size == 0:
        return ItemScores(zeros, zeros.copy(), zeros.copy(), np.full(n_items, np.nan))

    # Occurrences grouped by peptide (CSR), entries contiguous inside a peptide.
    n_entries_total = int(max(occ_entry.max(), entry_mask.shape[0] - 1)) + 1
    sort_key = occ_query * n_entries_total + occ_entry
    if np.any(sort_key[1:] < sort_key[:-1]):
        order = np.argsort(sort_key, kind="stable")
        occ_query, occ_entry, occ_start = occ_query[order], occ_entry[order], occ_start[order]
    n_queries = int(max(occ_query.max(), item_query.max())) + 1
    ptr = np.zeros(n_queries + 1, dtype=np.int64)
    np.cumsum(np.bincount(occ_query, minlength=n_queries), out=ptr[1:])

    # Expand: every item gets the occurrences of its peptide.
    counts = ptr[item_query + 1] - ptr[item_query]
    pair_item = np.repeat(np.arange(n_items, dtype=np.int64), counts)
    total = pair_item.shape[0]
    if total == 0:
        return ItemScores(zeros, zeros.copy(), zeros.copy(), np.full(n_items, np.nan))
    first = np.cumsum(counts) - counts
    occ_idx = np.arange(total, dtype=np.int64) + np.repeat(ptr[item_query] - first, counts)
    entry = occ_entry[occ_idx]
    dist = np.abs(occ_start[occ_idx] - item_start[pair_item])

    # One group per (item, entry): the nearest occurrence.
    new_group = np.empty(total, dtype=bool)
    new_group[0] = True
    np.logical_or(pair_item[1:] != pair_item[:-1], entry[1:] != entry[:-1], out=new_group[1:])
    bounds = np.flatnonzero(new_group)
    d_min = np.minimum.reduceat(dist, bounds)
    g_item = pair_item[bounds]
    g_entry = entry[bounds]

    keep = np.ones(g_item.shape[0], dtype=bool)
    if not keep_self:
        own_key = item_key[g_item]
        own_hash = item_hash[g_item]
        is_self = (entry_key[g_entry] == own_key) & (own_key >= 0)
        is_self |= (entry_hash[g_entry] == own_hash) & (own_hash >= 0)
        keep = ~is_self
    mask = entry_mask[g_entry].astype(np.int64)
    annotated = mask != 0
    valid = keep & annotated
    unannotated = keep & ~annotated
    hit = valid & (((mask >> item_class[g_item]) & 1) == 1)

    if weighting == "none":
        beta = np.ones(d_min.shape[0], dtype=np.float64)
    else:
        beta = 1.0 / np.maximum(d_min, 1).astype(np.float64)  # d = 0 -> 1

    n_entries = np.bincount(g_item[valid], minlength=n_items)
    n_hits = np.bincount(g_item[hit], minlength=n_items)
    n_unannotated = np.bincount(g_item[unannotated], minlength=n_items)
    weighted_hits = np.bincount(g_item[hit], weights=beta[hit], minlength=n_items)
    if weighting == "normalized":
        denominator = np.bincount(g_item[valid], weights=beta[valid], minlength=n_items)
    else:
        denominator = n_entries.astype(np.float64)
    rate = np.full(n_items, np.nan)
    np.divide(weighted_hits, denominator, out=rate, where=n_entries > 0)
    return ItemScores(
        n_entries.astype(np.int64),
        n_hits.astype(np.int64),
        n_unannotated.astype(np.int64),
        rate,
    )


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
            p = self.proteins
            parts.append(f"mean null hit rate {float(np.nanmean(p['null_hit_rate'])):.4f}")
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


def _register(con: Any, name: str, columns: dict[str, Any]) -> None:
    con.register(name, pa.table(columns))


def _kb_sequences(con: Any, accessions: np.ndarray) -> dict[str, tuple[str, str]]:
    """``accession -> (sequence, seq_hash)`` for the query proteins found in the KB."""
    name = "_psl_hitrate_proteins"
    _register(con, name, {"accession": pa.array(list(accessions), type=pa.string())})
    try:
        rows = con.execute(
            f"SELECT e.accession, e.sequence, e.seq_hash FROM entries e "
            f"JOIN {name} p ON e.accession = p.accession"
        ).fetchall()
    finally:
        con.unregister(name)
    return {acc: (seq, h) for acc, seq, h in rows}


def _entry_codes(
    con: Any, n_entries: int, bases: list[str], hashes: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Per entry id: the index of its isoform-free accession in ``bases`` and of its sequence
    hash in ``hashes`` (-1 where none)."""
    entry_key = np.full(n_entries, -1, dtype=np.int64)
    entry_hash = np.full(n_entries, -1, dtype=np.int64)
    if bases:
        _register(con, "_psl_hitrate_bases", {
            "base": pa.array(bases, type=pa.string()),
            "code": pa.array(np.arange(len(bases), dtype=np.int64)),
        })
        try:
            got = con.execute(
                "SELECT e.entry_id, b.code FROM entries e JOIN _psl_hitrate_bases b "
                f"ON regexp_replace(e.accession, '{_ISOFORM_SQL}', '') = b.base"
            ).fetchnumpy()
        finally:
            con.unregister("_psl_hitrate_bases")
        entry_key[np.asarray(got["entry_id"], dtype=np.int64)] = got["code"]
    if hashes:
        _register(con, "_psl_hitrate_hashes", {
            "hash": pa.array(hashes, type=pa.string()),
            "code": pa.array(np.arange(len(hashes), dtype=np.int64)),
        })
        try:
            got = con.execute(
                "SELECT e.entry_id, h.code FROM entries e JOIN _psl_hitrate_hashes h "
                "ON e.seq_hash = h.hash"
            ).fetchnumpy()
        finally:
            con.unregister("_psl_hitrate_hashes")
        entry_hash[np.asarray(got["entry_id"], dtype=np.int64)] = got["code"]
    return entry_key, entry_hash


def _random_windows(
    sequences: list[str],
    pair_protein: np.ndarray,
    pair_length: np.ndarray,
    replicates: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """R random windows per (pair): 1-based starts (pairs x R) and the window strings.

    Windows of pairs whose protein is shorter than the window are empty strings (start 0).
    """
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    offsets = np.zeros(len(sequences) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    buffer = np.frombuffer("".join(sequences).encode("ascii"), dtype=np.uint8)
    n_pairs = pair_protein.shape[0]
    span = lengths[pair_protein] - pair_length + 1  # number of possible starts
    drawable = span >= 1
    starts0 = np.zeros((n_pairs, replicates), dtype=np.int64)
    if drawable.any():
        starts0[drawable] = rng.integers(
            0, span[drawable][:, None], size=(int(drawable.sum()), replicates)
        )
    windows = np.full((n_pairs, replicates), "", dtype=object)
    for length in np.unique(pair_length[drawable]):
        sel = np.flatnonzero(drawable & (pair_length == length))
        first = (offsets[pair_protein[sel]][:, None] + starts0[sel]).reshape(-1)
        chars = buffer[first[:, None] + np.arange(length)]
        as_bytes = np.ascontiguousarray(chars).view(f"S{length}").reshape(-1)
        uniq, inverse = np.unique(as_bytes, return_inverse=True)
        text = np.array([b.decode("ascii") for b in uniq], dtype=object)
        windows[sel] = text[inverse.reshape(-1)].reshape(len(sel), replicates)
    starts = np.where(drawable[:, None], starts0 + 1, 0)
    return starts, windows


def score(
    kb: SearchableKB | str | Path,
    table: pd.DataFrame | pa.Table,
    *,
    weighting: str = "paper",
    evidence: str = "any",
    taxon: str | int | None = None,
    keep_self: bool = False,
    proteins: bool = False,
    group_by: Sequence[str] = (),
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
            ``["model", "method"]``).
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

        kb = open_kb(kb)
    frame = table.to_pandas() if isinstance(table, pa.Table) else table
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"table must be a pandas DataFrame or an Arrow table, got {type(table)}")
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
    # Proteins and their reference sequences (input column first, then the KB).
    prot_code, prot_names = pd.factorize(cols["protein"])
    prot_names = np.asarray(prot_names, dtype=object)
    n_entries = int(con.execute("SELECT count(*) FROM entries").fetchall()[0][0])
    in_kb = _kb_sequences(con, prot_names)
    prot_seq: list[str | None] = [in_kb[p][0] if p in in_kb else None for p in prot_names]
    prot_hash: list[str | None] = [in_kb[p][1] if p in in_kb else None for p in prot_names]
    if "sequence" in cols:
        given = np.flatnonzero(np.array([x is not None for x in cols["sequence"]], dtype=bool))
        proteins_given, first = np.unique(prot_code[given], return_index=True)
        for p, row in zip(proteins_given.tolist(), given[first].tolist(), strict=True):
            seq = cols["sequence"][row]
            prot_seq[p] = seq
            prot_hash[p] = hashlib.md5(seq.encode("ascii")).hexdigest()

    # Items: distinct (protein, class, subsequence, start).
    item_of_row = (
        pd.DataFrame({
            "p": prot_code, "c": cols["class"], "s": cols["subsequence"], "t": cols["start"]
        })
        .groupby(["p", "c", "s", "t"], sort=False)
        .ngroup()
        .to_numpy(dtype=np.int64)
    )
    n_items = int(item_of_row.max()) + 1 if n_rows else 0
    item_first_row = np.full(n_items, n_rows, dtype=np.int64)
    np.minimum.at(item_first_row, item_of_row, np.arange(n_rows, dtype=np.int64))
    item_protein = prot_code[item_first_row]
    item_class = cols["class"][item_first_row]
    item_sub = cols["subsequence"][item_first_row]
    item_start = cols["start"][item_first_row]

    # Position check: the subsequence must be at `start` of the protein when it is known.
    bad_item = np.zeros(n_items, dtype=bool)
    for i in range(n_items):
        seq = prot_seq[item_protein[i]]
        if seq is not None:
            s, t = item_sub[i], item_start[i]
            bad_item[i] = seq[t - 1 : t - 1 + len(s)] != s
    mismatch_rows: list[int] = []
    if bad_item.any():
        mismatch_rows = (np.flatnonzero(bad_item[item_of_row]) + 1).tolist()
        shown = ", ".join(map(str, mismatch_rows[:_MAX_REPORTED]))
        more = " ..." if len(mismatch_rows) > _MAX_REPORTED else ""
        warnings.append(
            f"{len(mismatch_rows)} row(s) have a subsequence that is not at its start in the "
            f"protein's sequence (rows {shown}{more}); scored with the given start"
        )

    # Identity codes for the self / identical-sequence exclusion.
    base_of_protein = [_ISOFORM.sub("", p) for p in prot_names]
    base_code, bases = pd.factorize(np.asarray(base_of_protein, dtype=object))
    known_hashes = [h for h in prot_hash if h is not None]
    hashes = list(dict.fromkeys(known_hashes))
    hash_index = {h: i for i, h in enumerate(hashes)}
    prot_hash_code = np.array(
        [hash_index[h] if h is not None else -1 for h in prot_hash], dtype=np.int64
    )
    if keep_self:
        entry_key = np.full(n_entries, -1, dtype=np.int64)
        entry_hash = np.full(n_entries, -1, dtype=np.int64)
    else:
        say("finding the query proteins in the knowledge base")
        entry_key, entry_hash = _entry_codes(con, n_entries, list(bases), hashes)

    say("reading entry locations")
    entry_mask = entry_class_masks(con, evidence, n_entries)

    # Groups and the null model's random windows.
    group_of_row = None
    pair_group = pair_item = None
    n_groups = 0
    group_cols: list[str] = []
    if proteins or null > 0:
        group_cols = ["protein", "location", *[c for c in group_by if c not in
                                                ("protein", "location")]]
        keys = pd.DataFrame({"protein": cols["protein"],
                             "location": np.asarray(LOCATION_CLASSES, dtype=object)[cols["class"]]})
        for c in group_cols[2:]:
            keys[c] = frame[c].to_numpy()
        grouped = keys.groupby(group_cols, sort=False, dropna=False)
        group_of_row = grouped.ngroup().to_numpy(dtype=np.int64)
        n_groups = int(group_of_row.max()) + 1 if n_rows else 0
        pair_code = np.unique(group_of_row * max(n_items, 1) + item_of_row)
        pair_group = pair_code // max(n_items, 1)
        pair_item = pair_code % max(n_items, 1)

    null_starts = null_windows = None
    if null > 0 and pair_item is not None:
        say(f"drawing {null} random windows per subsequence")
        has_seq = np.array([s is not None for s in prot_seq], dtype=bool)
        pair_protein = item_protein[pair_item]
        no_seq = ~has_seq[pair_protein]
        if no_seq.any():
            names = sorted(set(prot_names[pair_protein[no_seq]].tolist()))
            warnings.append(
                f"{len(names)} protein(s) have no known sequence (not in the knowledge base, no "
                f"'sequence' column), so no null model: {', '.join(names[:_MAX_REPORTED])}"
                + (" ..." if len(names) > _MAX_REPORTED else "")
            )
        seqs = [s if s is not None else "" for s in prot_seq]
        rng = np.random.default_rng(seed)
        null_starts, null_windows = _random_windows(
            seqs, pair_protein, np.array([len(s) for s in item_sub[pair_item]], dtype=np.int64),
            null, rng,
        )

    # One search for every distinct peptide, observed and random.
    pieces = [item_sub]
    if null_windows is not None:
        pieces.append(null_windows.reshape(-1))
    all_peptides = np.concatenate(pieces) if pieces else np.zeros(0, dtype=object)
    pep_code, peptides = pd.factorize(all_peptides)
    peptides = list(peptides)
    empty_code = peptides.index("") if "" in peptides else -1
    searchable = [p for p in peptides if p != ""]
    say(f"searching {len(searchable)} distinct peptides")
    if searchable:
        kwargs: dict[str, Any] = {}
        if taxon is not None:
            kwargs["taxon"] = taxon
        hits = kb.search(searchable, **kwargs)
        q = hits.column("query").to_numpy().astype(np.int64)
        # map back from `searchable` positions to `peptides` positions
        if empty_code >= 0:
            q = q + (q >= empty_code)
        occ_entry = hits.column("entry_id").to_numpy()
        occ_start = hits.column("start").to_numpy()
    else:
        q = occ_entry = occ_start = np.zeros(0, dtype=np.int64)

    say("scoring")
    all_item_query = pep_code.astype(np.int64)
    all_start = item_start
    all_class = item_class
    all_key = base_code[item_protein]
    all_hash = prot_hash_code[item_protein]
    if null_windows is not None and pair_item is not None:
        rep_item = np.repeat(pair_item, null)
        all_start = np.concatenate([item_start, null_starts.reshape(-1)])
        all_class = np.concatenate([item_class, item_class[rep_item]])
        all_key = np.concatenate([all_key, all_key[rep_item]])
        all_hash = np.concatenate([all_hash, all_hash[rep_item]])
    if empty_code >= 0:
        all_item_query = np.where(all_item_query == empty_code, -1, all_item_query)
    valid_item = all_item_query >= 0
    scores = score_occurrences(
        q, occ_entry, occ_start,
        item_query=np.where(valid_item, all_item_query, 0),
        item_start=all_start, item_class=all_class, item_key=all_key, item_hash=all_hash,
        entry_mask=entry_mask, entry_key=entry_key, entry_hash=entry_hash,
        weighting=weighting, keep_self=keep_self,
    )
    # undrawable random windows: no evidence at all
    n_ent = np.where(valid_item, scores.n_entries, 0)
    rate = np.where(valid_item, scores.hit_rate, np.nan)

    out = frame.copy()
    out["n_entries"] = n_ent[:n_items][item_of_row]
    out["n_hits"] = scores.n_hits[:n_items][item_of_row]
    out["n_unannotated"] = scores.n_unannotated[:n_items][item_of_row]
    out["hit_rate"] = rate[:n_items][item_of_row]

    result = HitRates(
        table=out,
        warnings=warnings,
        n_position_mismatches=len(mismatch_rows),
        n_peptides=len(searchable),
    )
    if group_of_row is None or pair_group is None or pair_item is None:
        return result

    # Per-group hit rates: mean over the group's distinct scored subsequences.
    pair_rate = rate[pair_item]
    pair_scored = n_ent[pair_item] > 0
    n_sub = np.bincount(pair_group, minlength=n_groups)
    n_scored = np.bincount(pair_group[pair_scored], minlength=n_groups)
    sums = np.bincount(pair_group[pair_scored], weights=pair_rate[pair_scored], minlength=n_groups)
    observed = np.full(n_groups, np.nan)
    np.divide(sums, n_scored, out=observed, where=n_scored > 0)
    first_row = np.unique(group_of_row, return_index=True)[1]
    groups = pd.DataFrame({
        c: (keys[c].to_numpy()[first_row]) for c in group_cols
    })
    groups["hit_rate"] = observed
    groups["n_subsequences"] = n_sub
    groups["n_scored"] = n_scored

    if null > 0:
        null_rate = rate[n_items:].reshape(-1, null)  # pairs x R
        null_scored = n_ent[n_items:].reshape(-1, null) > 0
        gr = (pair_group[:, None] * null + np.arange(null)[None, :]).reshape(-1)
        ok = null_scored.reshape(-1)
        rep_sum = np.bincount(gr[ok], weights=null_rate.reshape(-1)[ok], minlength=n_groups * null)
        rep_n = np.bincount(gr[ok], minlength=n_groups * null)
        rep = np.full(n_groups * null, np.nan)
        np.divide(rep_sum, rep_n, out=rep, where=rep_n > 0)
        rep = rep.reshape(n_groups, null)
        defined = ~np.isnan(rep)
        n_null = defined.sum(axis=1)
        null_mean = np.full(n_groups, np.nan)
        np.divide(np.where(defined, rep, 0.0).sum(axis=1), n_null, out=null_mean,
                  where=n_null > 0)
        with np.errstate(invalid="ignore"):
            at_least = (defined & (rep >= observed[:, None])).sum(axis=1)
        p_value = np.where(
            np.isnan(observed) | (n_null == 0), np.nan, (1.0 + at_least) / (1.0 + n_null)
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            enrichment = np.where(null_mean > 0, observed / np.where(null_mean > 0, null_mean, 1),
                                  np.where(observed > 0, np.inf, np.nan))
        enrichment = np.where(np.isnan(observed) | np.isnan(null_mean), np.nan, enrichment)
        groups["null_hit_rate"] = null_mean
        groups["n_null"] = n_null
        groups["enrichment"] = enrichment
        groups["p_value"] = p_value
    result.proteins = groups
    return result
