"""Open a built knowledge base and search peptides in it: ``kb.open(DIR).search(peptides)``,
or count them: ``kb.open(DIR).count(peptides)`` (one row per query, memory bounded by the
number of queries, see :meth:`KnowledgeBase.count`).

Search engine: peptides with an all-standard window of length ``k`` go through the k-mer
index (:mod:`kb.index`); the others (shorter than ``k``, or full of ``X``/``B``/...) through
one Aho-Corasick pass over the store (:mod:`kb.scan`). Both return exactly the occurrences of
a brute-force ``str.find`` loop. Identical peptides of a batch are searched once and the rows
expanded at the end; no per-row Python anywhere.

Filters (applied as a boolean mask over ``entry_id``):

* ``taxon``: an integer (or a string of digits) selects ``entries.taxon_id``; a name selects
  the entries whose lineage has an element equal to it, or whose organism is it (the full
  ``organism`` field, its scientific name before `` (``, or the common name in parentheses);
  all comparisons are case-insensitive. A taxon matching no entry is an error.
* ``reviewed_only``: only ``entries.reviewed`` rows (Swiss-Prot).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numba
import numpy as np
import pyarrow as pa

from kb.alphabet import sequence_hash
from kb.errors import KBError, KBNotFoundError, TaxonNotFoundError
from kb.index import KmerIndex
from kb.mismatch import check_mismatches, describe_hits, find_mismatches, nonstandard_positions
from kb.peptides import DistinctPeptides, PeptideBatch, prepare_peptides
from kb.scan import scan_store, store_text
from kb.seqstore import SequenceStore

__all__ = [
    "KnowledgeBase", "SearchResult", "open", "SEARCH_COLUMNS", "LOCATION_COLUMNS", "COUNT_COLUMNS",
    "MISMATCH_COLUMNS",
]

_DB_FILE = "kb.duckdb"
#: Columns of :meth:`KnowledgeBase.search` (always present, in this order).
SEARCH_COLUMNS = ("peptide", "accession", "start", "end", "query", "entry_id")
#: Extra columns added by ``with_locations=True``.
LOCATION_COLUMNS = (
    "entry_name", "protein_name", "organism", "taxon_id", "reviewed", "classes", "terms",
)
#: Extra columns added by ``mismatches=N`` (after the search columns, before the locations).
MISMATCH_COLUMNS = ("mismatches", "mismatch_positions", "matched")
_DEFAULT_ENTRY_COLUMNS = ("accession", "taxon_id", "lineage", "reviewed", "seq_hash")
#: Distinct peptides searched together by :meth:`KnowledgeBase.count`.
COUNT_CHUNK = 4096
#: Columns of :meth:`KnowledgeBase.count`.
COUNT_COLUMNS = ("query", "peptide", "occurrences", "entries")


@dataclass
class SearchResult:
    """A search's rows and summary.

    Attributes:
        table: one row per occurrence (see :meth:`KnowledgeBase.search`).
        n_queries: number of peptides searched (duplicates included).
        no_hit: ``int64`` indices of the queries without any occurrence (after filters).
    """

    table: pa.Table
    n_queries: int
    no_hit: np.ndarray = field(repr=False)

    @property
    def n_no_hit(self) -> int:
        """Number of queries without any occurrence."""
        return int(self.no_hit.shape[0])


def _missing_parts(path: Path) -> list[str]:
    from kb.store import is_complete  # the store module owns the completion marker

    missing = [f for f in (_DB_FILE, "offsets.npy", "residues.u8") if not (path / f).is_file()]
    if not missing and not is_complete(path):
        missing.append("completion marker (the build did not finish)")
    return missing


def open(path: str | Path) -> KnowledgeBase:  # noqa: A001 - the public name is kb.open
    """Open a knowledge base built by ``kb build`` (read-only, arrays memory-mapped).

    The version the directory's ``current`` pointer names is read once and every file is
    opened from it (see :mod:`kb.layout`): a build replacing the knowledge base meanwhile does
    not mix two versions. File sizes are checked against the build's manifest.

    Arguments:
        path: the knowledge-base directory.

    Returns:
        A :class:`KnowledgeBase`.

    Raises:
        KBNotFoundError: the directory does not exist or is not a finished build (the message
            names what is missing).
        KBCorruptError: a file whose size differs from the manifest (truncated), naming it.
        KBPathError: the database cannot be opened (e.g. locked by a writer), naming it.
    """
    from kb.layout import check_manifest, resolve
    from kb.store import connect_read_only

    path = Path(path)
    if not path.is_dir():
        raise KBNotFoundError("knowledge-base directory does not exist", path)
    for attempt in range(3):  # a build may remove the version between reading and opening
        version = resolve(path)
        missing = _missing_parts(version)
        if missing and attempt < 2 and resolve(path) != version:
            continue
        if missing:
            raise KBNotFoundError(
                f"not a finished knowledge base: missing {', '.join(missing)}; run 'kb build'",
                path,
            )
        try:
            check_manifest(version)
            store = SequenceStore.load(version)
            index = KmerIndex.load(version)
            con = connect_read_only(version / _DB_FILE, path / _DB_FILE)
        except FileNotFoundError:
            if attempt < 2 and resolve(path) != version:
                continue
            raise
        return KnowledgeBase(path, con, store, index)
    raise AssertionError("unreachable")  # pragma: no cover


#: Block size (residues) of the position -> entry lookup table.
_BLOCK_SHIFT = 8


def _block_table(offsets: np.ndarray) -> np.ndarray:
    """For every block of 2**_BLOCK_SHIFT residues, the entry holding its first position."""
    n = int(offsets[-1])
    firsts = np.arange(0, max(n, 1), 1 << _BLOCK_SHIFT, dtype=np.int64)
    return (np.searchsorted(offsets, firsts, side="right") - 1).astype(np.int64)


@numba.njit(parallel=True, cache=True)
def _locate(hits, offsets, blocks, entry_id, start):  # pragma: no cover - numba
    """entry_id / 0-based start of absolute positions: the block table gives the entry of the
    block's first position, then a short forward scan over ``offsets``."""
    for i in numba.prange(hits.shape[0]):
        p = hits[i]
        e = blocks[p >> _BLOCK_SHIFT]
        while offsets[e + 1] <= p:
            e += 1
        entry_id[i] = e
        start[i] = p - offsets[e]


@numba.njit(parallel=True, cache=True)
def _scatter(which, src_off, src, dst_off, dst):  # pragma: no cover - numba
    """Copy the hits of peptides ``which[i]`` (CSR ``src``, i-th group) into CSR ``dst``."""
    for i in numba.prange(which.shape[0]):
        u = which[i]
        a = src_off[i]
        w = dst_off[u]
        for t in range(src_off[i + 1] - a):
            dst[w + t] = src[a + t]


def _is_taxon_id(taxon: object) -> bool:
    return isinstance(taxon, (int, np.integer)) or (
        isinstance(taxon, str) and re.fullmatch(r"\s*\d+\s*", taxon) is not None
    )


class KnowledgeBase:
    """An open knowledge base (see :func:`open`).

    Attributes:
        path: its directory.
        con: read-only DuckDB connection (tables ``entries``, ``locations``, ...).
        store: the memory-mapped :class:`~kb.seqstore.SequenceStore`.
        index: the memory-mapped :class:`~kb.index.KmerIndex`.
    """

    def __init__(self, path: Path, con: Any, store: SequenceStore, index: KmerIndex):
        self.path = path
        self.con = con
        self.store = store
        self.index = index
        self._accessions: pa.Array | None = None
        self._text: dict[bool, str] = {}
        self._block_entries: np.ndarray | None = None
        self._nonstandard: np.ndarray | None = None

    # -------------------------------------------------------------------------- basics
    def __len__(self) -> int:
        return len(self.store)

    def __repr__(self) -> str:
        return f"KnowledgeBase({str(self.path)!r}, entries={len(self)}, k={self.index.k})"

    def close(self) -> None:
        """Close the DuckDB connection."""
        self.con.close()

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _sql(self, query: str, params: list | None = None) -> Any:
        return self.con.sql(query, params=params) if params else self.con.sql(query)

    @property
    def accessions(self) -> pa.Array:
        """Accession of every entry, indexed by ``entry_id`` (cached)."""
        if self._accessions is None:
            self._accessions = self.entry_table(("accession",)).column(0).combine_chunks()
        return self._accessions

    def entry_table(self, columns: Sequence[str] = _DEFAULT_ENTRY_COLUMNS) -> pa.Table:
        """Columns of the ``entries`` table as a pyarrow table whose row ``i`` is entry ``i``.

        Arguments:
            columns: column names of ``entries`` (default: accession, taxon_id, lineage,
                reviewed, seq_hash).

        Returns:
            A table with ``len(self)`` rows in ``entry_id`` order.

        Raises:
            ValueError: an unknown column.
        """
        known = {r[0] for r in self._sql("DESCRIBE entries").fetchall()}
        bad = [c for c in columns if c not in known]
        if bad or not columns:
            raise ValueError(
                f"unknown entries column(s) {bad or list(columns)} "
                f"(known: {', '.join(sorted(known))})"
            )
        cols = ", ".join(f'"{c}"' for c in columns)
        return self._sql(f"SELECT {cols} FROM entries ORDER BY entry_id").to_arrow_table()

    def entry_mask(
        self, taxon: int | str | None = None, reviewed_only: bool = False
    ) -> np.ndarray | None:
        """Boolean mask over ``entry_id`` of the entries passing the filters (None: no filter).

        Arguments:
            taxon: taxon id, or a lineage/organism name (see the module docstring).
            reviewed_only: keep only reviewed (Swiss-Prot) entries.

        Returns:
            A ``bool`` array of length ``len(self)``, or ``None`` when no filter is given.

        Raises:
            TaxonNotFoundError: the taxon matches no entry.
            KBError: the knowledge base does not record the
                field a filter needs (no taxonomy / no reviewed status in its sources).
        """
        if taxon is None and not reviewed_only:
            return None
        mask = np.ones(len(self), dtype=bool)
        if taxon is not None:
            self._require_field("taxon_id" if _is_taxon_id(taxon) else "lineage", taxon)
            if _is_taxon_id(taxon):
                where, params = "taxon_id = ?", [int(taxon)]
            else:
                name = str(taxon).strip().lower()
                if not name:
                    raise KBError("empty taxon name")
                where = (
                    "list_contains(list_transform(string_split(lower(coalesce(lineage, '')), ';'),"
                    " lambda x: rtrim(trim(x), '.')), ?) OR lower(trim(organism)) = ?"
                    " OR lower(trim(split_part(organism, ' (', 1))) = ?"
                    " OR lower(trim(regexp_extract(organism, '\\(([^()]*)\\)', 1))) = ?"
                )
                params = [name] * 4
            ids = self._sql(f"SELECT entry_id FROM entries WHERE {where}", params).fetchnumpy()
            ids = np.asarray(ids["entry_id"], dtype=np.int64)
            if ids.shape[0] == 0:
                raise TaxonNotFoundError(
                    f"taxon {taxon!r} matches no entry (expected a taxon id, a lineage element "
                    "or an organism name)",
                    self.path,
                )
            mask[:] = False
            mask[ids] = True
        if reviewed_only:
            self._require_field("reviewed_known", None)
            rev = self._sql("SELECT entry_id FROM entries WHERE reviewed IS NOT TRUE").fetchnumpy()
            mask[np.asarray(rev["entry_id"], dtype=np.int64)] = False
        return mask

    def meta(self, key: str, default: Any = None) -> Any:
        """A value of the build's ``meta`` table (JSON decoded), or ``default``."""
        import json

        rows = self.con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchall()
        if not rows:
            return default
        row = rows[0]
        try:
            return json.loads(row[0])
        except (TypeError, json.JSONDecodeError):
            return row[0]

    def provides(self) -> dict[str, int]:
        """How many entries record each optional field: ``entries``, ``reviewed_known``,
        ``reviewed``, ``taxon_id``, ``lineage``, ``organism`` (from the build's ``meta``;
        counted now for a knowledge base built before it was recorded)."""
        recorded = self.meta("provides")
        if isinstance(recorded, dict):
            return recorded
        row = self.con.execute(
            "SELECT count(*), count(reviewed), count(*) FILTER (WHERE reviewed), "
            "count(taxon_id), count(lineage), count(organism) FROM entries").fetchall()[0]
        keys = ("entries", "reviewed_known", "reviewed", "taxon_id", "lineage", "organism")
        return dict(zip(keys, (int(v) for v in row), strict=True))

    def _require_field(self, field: str, taxon: object) -> None:
        """Raise when no entry records what a filter needs (instead of matching nothing)."""
        have = self.provides()
        if field == "lineage":
            missing = have.get("lineage", 0) == 0 and have.get("organism", 0) == 0
        else:
            missing = have.get(field, 0) == 0
        if not missing:
            return
        srcs = ", ".join(f"{Path(s['path']).name} [{s['format']}]"
                         for s in self.meta("sources", []) or [])
        what = {"taxon_id": "no taxon ids", "lineage": "no lineage or organism names",
                "reviewed_known": "no reviewed status"}[field]
        if field == "reviewed_known":
            raise KBError(
                f"this knowledge base has no reviewed status ({what} in its sources: {srcs}); "
                "--reviewed-only needs a UniProt flat file, sp|/tr| FASTA headers or a "
                "'Reviewed' column", self.path)
        raise KBError(
            f"this knowledge base has no taxonomy ({what} in its sources: {srcs}); cannot "
            f"filter by taxon {taxon!r}: build it from a UniProt flat file (OX/OC lines), a "
            "FASTA with OX= headers or a table with 'Organism (ID)'/'Taxonomic lineage' "
            "columns", self.path)

    def stale_sources(self, checksums: bool = False) -> list[dict[str, Any]]:
        """Sources of this build that changed or disappeared since (see
        :func:`kb.store.stale_sources`): dicts with ``path``, ``status`` (``stale`` or
        ``missing``) and ``why``. Size and time are compared; SHA-256 with ``checksums``."""
        from kb.store import stale_sources

        return stale_sources(self.meta("sources", []) or [], checksums=checksums)

    # -------------------------------------------------------------------------- search
    def _blocks(self) -> np.ndarray:
        if self._block_entries is None:
            self._block_entries = _block_table(np.asarray(self.store.offsets))
        return self._block_entries

    def _store_text(self, il_equivalent: bool) -> str:
        if il_equivalent not in self._text:
            self._text[il_equivalent] = store_text(self.store, il_equivalent)
        return self._text[il_equivalent]

    def find(
        self, batch: PeptideBatch | DistinctPeptides, il_equivalent: bool = False,
        anchors: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Occurrences of the distinct peptides of ``batch``: CSR ``(hit_offsets, positions)``.

        Positions are absolute into ``store.residues``, ascending per peptide; the k-mer index
        serves the peptides it can, one Aho-Corasick pass the others. ``anchors``: the windows
        the index starts from (:func:`kb.index.choose_anchors`; default: this index's
        rarest); any choice gives the same occurrences.
        """
        buf, off = batch.buf, batch.offsets
        if anchors is None:
            anchors = self.index.anchors(buf, off)
        hit_off, hits = self.index.find(
            self.store, buf, off, il_equivalent=il_equivalent, anchors=anchors
        )
        ac = np.flatnonzero(anchors[1][:, 0] < 0)
        if ac.shape[0] == 0:
            return hit_off, hits
        ac_off, ac_hits = scan_store(
            self.store, [bytes(buf[off[u]:off[u + 1]]).decode("ascii") for u in ac.tolist()],
            il_equivalent, text=self._store_text(il_equivalent),
        )
        counts = np.diff(hit_off)
        counts[ac] = np.diff(ac_off)
        new_off = np.zeros_like(hit_off)
        np.cumsum(counts, out=new_off[1:])
        new_hits = np.empty(int(new_off[-1]), dtype=np.int64)
        idx = np.flatnonzero(anchors[1][:, 0] >= 0)
        idx_off = np.zeros(idx.shape[0] + 1, dtype=np.int64)
        np.cumsum(np.diff(hit_off)[idx], out=idx_off[1:])
        _scatter(idx, idx_off, hits, new_off, new_hits)
        _scatter(ac, ac_off, ac_hits, new_off, new_hits)
        return new_off, new_hits

    def locate(self, hits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(entry_id, start0)`` (``int32``; 0-based start in the entry) of absolute positions
        ``hits`` (as :meth:`find` returns them)."""
        entry_id = np.empty(hits.shape[0], dtype=np.int32)
        start0 = np.empty(hits.shape[0], dtype=np.int32)
        if hits.shape[0]:
            _locate(hits, np.asarray(self.store.offsets), self._blocks(), entry_id, start0)
        return entry_id, start0

    def find_mismatches(
        self, batch: PeptideBatch, mismatches: int, il_equivalent: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Windows within ``mismatches`` substitutions of the distinct peptides of ``batch``:
        CSR ``(hit_offsets, positions)`` like :meth:`find` (see :mod:`kb.mismatch`)."""
        if self._nonstandard is None:
            self._nonstandard = nonstandard_positions(self.store)
        return find_mismatches(self.store, self.index, batch, mismatches,
                               il_equivalent=il_equivalent, nonstandard=self._nonstandard)

    def search_with_summary(
        self,
        peptides: Sequence[str] | PeptideBatch,
        *,
        il_equivalent: bool = False,
        taxon: int | str | None = None,
        reviewed_only: bool = False,
        with_locations: bool = False,
        mismatches: int | None = None,
    ) -> SearchResult:
        """Like :meth:`search`, also returning which queries had no hit."""
        if mismatches is not None:
            mismatches = check_mismatches(mismatches)
        batch = peptides if isinstance(peptides, PeptideBatch) else prepare_peptides(peptides)
        if mismatches is None:
            hit_off, hits = self.find(batch, il_equivalent)
        else:
            hit_off, hits = self.find_mismatches(batch, mismatches, il_equivalent)
        entry_id, start0 = self.locate(hits)
        mask = self.entry_mask(taxon, reviewed_only)
        if mask is not None and hits.shape[0]:
            keep = mask[entry_id]
            owner = np.repeat(np.arange(hit_off.shape[0] - 1), np.diff(hit_off))
            hit_off = np.zeros_like(hit_off)
            np.cumsum(np.bincount(owner[keep], minlength=hit_off.shape[0] - 1), out=hit_off[1:])
            entry_id, start0, hits = entry_id[keep], start0[keep], hits[keep]
        query, source = batch.expand(hit_off)
        eid = entry_id[source]
        start = start0[source] + 1
        plen = batch.lengths.astype(np.int32)[batch.query_unique[query]]
        table = pa.table(
            {
                "peptide": batch.unique_array().take(pa.array(batch.query_unique[query])),
                "accession": self.accessions.take(pa.array(eid)),
                "start": pa.array(start),
                "end": pa.array(start + plen - 1),
                "query": pa.array(query),
                "entry_id": pa.array(eid),
            }
        )
        if mismatches is not None:
            for name, column in zip(MISMATCH_COLUMNS, describe_hits(
                    self.store, hits[source], batch, batch.query_unique[query], il_equivalent),
                    strict=True):
                table = table.append_column(name, column)
        rows_per_query = np.diff(hit_off)[batch.query_unique]
        no_hit = np.flatnonzero(rows_per_query == 0)
        if with_locations:
            table = self._add_locations(table, eid)
        table = table.replace_schema_metadata(
            {"n_queries": str(len(batch)), "n_no_hit": str(no_hit.shape[0])}
        )
        return SearchResult(table, len(batch), no_hit)

    def search(
        self,
        peptides: Sequence[str] | PeptideBatch,
        *,
        il_equivalent: bool = False,
        taxon: int | str | None = None,
        reviewed_only: bool = False,
        with_locations: bool = False,
        mismatches: int | None = None,
        as_pandas: bool = False,
    ) -> pa.Table | Any:
        """Every occurrence of every peptide in the knowledge base.

        Arguments:
            peptides: peptides (any case; validated and upper-cased), or a prepared batch.
            il_equivalent: if true, I and L match each other (mass spectrometry).
            taxon: keep entries of this taxon id or lineage/organism name.
            reviewed_only: keep only reviewed entries.
            with_locations: add the entry columns ``entry_name``, ``protein_name``,
                ``organism``, ``taxon_id``, ``reviewed`` and the entry's locations, ``classes``
                (distinct DeepLoc classes, ``;``-separated, sorted) and ``terms`` (distinct
                subcellular-location terms, ``;``-separated); one row per occurrence is kept.
            mismatches: ``None`` (default): exact occurrences. ``0..3``: every window within
                that many substitutions (Hamming distance, after I/L folding when
                ``il_equivalent``; an ``X`` in a peptide matches any residue and is not a
                mismatch; :mod:`kb.mismatch`), with the extra columns ``mismatches``
                (``int32``), ``mismatch_positions`` (1-based positions in the peptide,
                ``;``-separated, empty for an exact window) and ``matched`` (the window).
            as_pandas: return a pandas DataFrame instead of a pyarrow Table.

        Returns:
            One row per occurrence, columns ``peptide`` (upper-cased), ``accession``,
            ``start``, ``end`` (``int32``, 1-based, inclusive), ``query`` (``int32``, index of
            the peptide in ``peptides``), ``entry_id`` (``int32``), sorted by
            (query, entry_id, start). Queries without hits have no rows; their number is in
            the schema metadata ``n_no_hit`` (and see :meth:`search_with_summary`).

        Raises:
            InvalidPeptideError: an empty peptide or one with letters outside the alphabet.
            KBError: a taxon matching no entry.
            ValueError: ``mismatches`` outside 0..3.
        """
        result = self.search_with_summary(
            peptides, il_equivalent=il_equivalent, taxon=taxon, reviewed_only=reviewed_only,
            with_locations=with_locations, mismatches=mismatches,
        )
        return result.table.to_pandas() if as_pandas else result.table

    def count(
        self,
        peptides: Sequence[str] | PeptideBatch,
        *,
        il_equivalent: bool = False,
        taxon: int | str | None = None,
        reviewed_only: bool = False,
        chunk: int = COUNT_CHUNK,
    ) -> pa.Table:
        """How often each peptide occurs, without materialising the occurrences of all peptides.

        The distinct peptides are searched ``chunk`` at a time and only the counts are kept,
        so memory grows with the number of queries plus the occurrences of one chunk (not
        with all occurrences, as :meth:`search` does).

        Arguments:
            peptides: peptides (any case; validated and upper-cased), or a prepared batch.
            il_equivalent, taxon, reviewed_only: as in :meth:`search`.
            chunk: distinct peptides searched together (>= 1).

        Returns:
            One row per query, in input order: ``query`` (``int32``), ``peptide``
            (upper-cased), ``occurrences`` (``int64``, every occurrence, overlapping ones
            included) and ``entries`` (``int64``, distinct entries containing it).

        Raises:
            InvalidPeptideError: an empty peptide or one with letters outside the alphabet.
            KBError: a taxon matching no entry.
            ValueError: ``chunk`` < 1.
        """
        if chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {chunk}")
        batch = peptides if isinstance(peptides, PeptideBatch) else prepare_peptides(peptides)
        return self._count(batch, il_equivalent, self.entry_mask(taxon, reviewed_only), chunk)

    def _count(self, batch: PeptideBatch, il_equivalent: bool, mask: np.ndarray | None,
               chunk: int) -> pa.Table:
        """:meth:`count` with the entry filter given as a mask over ``entry_id`` (or None)."""
        unique = batch.unique
        occurrences = np.zeros(len(unique), dtype=np.int64)
        entries = np.zeros(len(unique), dtype=np.int64)
        for a in range(0, len(unique), chunk):
            part = batch.distinct(a, a + chunk)
            hit_off, hits = self.find(part, il_equivalent)
            m = part.n_unique
            eid, _ = self.locate(hits)
            owner = np.repeat(np.arange(m), np.diff(hit_off))
            del hits
            if mask is not None:
                keep = mask[eid]
                eid, owner = eid[keep], owner[keep]
            occurrences[a:a + m] = np.bincount(owner, minlength=m)
            first = np.ones(eid.shape[0], dtype=bool)  # hits ascend per peptide: runs of entries
            first[1:] = (eid[1:] != eid[:-1]) | (owner[1:] != owner[:-1])
            entries[a:a + m] = np.bincount(owner[first], minlength=m)
        qu = batch.query_unique
        return pa.table(
            {
                "query": pa.array(np.arange(len(batch), dtype=np.int32)),
                "peptide": batch.unique_array().take(pa.array(qu)),
                "occurrences": pa.array(occurrences[qu]),
                "entries": pa.array(entries[qu]),
            }
        )

    # -------------------------------------------------------------------------- motifs
    def motif(
        self,
        patterns: Sequence[str] | str,
        *,
        syntax: str = "prosite",
        taxon: int | str | None = None,
        reviewed_only: bool = False,
        as_pandas: bool = False,
    ) -> pa.Table | Any:
        """Every match of PROSITE patterns (or regular expressions) in the knowledge base.

        Arguments:
            patterns: patterns such as ``N-{P}-[ST]-{P}`` or ``[STAGCN]-[RKH]-[LIVMAFY]>``
                (syntax in :mod:`kb.motif`).
            syntax: ``"prosite"`` (default) or ``"regex"`` (the documented subset).
            taxon: keep entries of this taxon id or lineage/organism name.
            reviewed_only: keep only reviewed entries.
            as_pandas: return a pandas DataFrame instead of a pyarrow Table.

        Returns:
            One row per (pattern, entry, start, end) whose substring matches the whole
            pattern, overlapping and variable-length matches included: ``motif`` (the pattern
            as given), ``accession``, ``start``, ``end`` (``int32``, 1-based, inclusive),
            ``match`` (the substring), ``entry_id``; sorted by pattern (in the given order),
            entry_id, start, end.

        Raises:
            MotifSyntaxError: a bad pattern (names it and the offending position).
            KBError: a taxon matching no entry.
        """
        from kb.motif import compile_motifs, find_motifs, motif_table

        motifs = compile_motifs(patterns, syntax)
        hits = find_motifs(self.store, motifs, entry_mask=self.entry_mask(taxon, reviewed_only))
        table = motif_table(motifs, hits, self.accessions, self.store)
        return table.to_pandas() if as_pandas else table

    # ----------------------------------------------------------------------- locations
    def _add_locations(self, table: pa.Table, eid: np.ndarray) -> pa.Table:
        uniq = np.unique(eid)
        info = self._sql(
            """
            WITH hit AS (SELECT unnest(?) AS entry_id),
            loc AS (
                SELECT accession,
                       string_agg(DISTINCT "class", ';' ORDER BY "class") AS classes,
                       string_agg(DISTINCT term, ';' ORDER BY term) AS terms
                FROM locations WHERE accession IN (
                    SELECT accession FROM entries JOIN hit USING (entry_id))
                GROUP BY accession)
            SELECT e.entry_id, e.entry_name, e.protein_name, e.organism, e.taxon_id, e.reviewed,
                   loc.classes, loc.terms
            FROM entries e JOIN hit USING (entry_id) LEFT JOIN loc USING (accession)
            ORDER BY e.entry_id
            """,
            [uniq.tolist()],
        ).to_arrow_table()
        pos = pa.array(np.searchsorted(uniq, eid))
        for name in LOCATION_COLUMNS:
            table = table.append_column(name, info.column(name).take(pos))
        return table

    def locations(self, accessions: Sequence[str] | str) -> pa.Table:
        """Subcellular locations of entries.

        Arguments:
            accessions: accession(s) (primary).

        Returns:
            Table with columns ``accession``, ``isoform``, ``term``, ``class``, ``evidence``,
            sorted by accession, isoform, term; accessions without locations have no rows.
        """
        if isinstance(accessions, str):
            accessions = [accessions]
        accs = [str(a).strip() for a in accessions]
        return self._sql(
            'SELECT accession, isoform, term, "class", evidence FROM locations '
            "WHERE accession IN (SELECT unnest(?)) ORDER BY accession, isoform NULLS FIRST, term",
            [accs],
        ).to_arrow_table()

    # ------------------------------------------- entry lookups (what psl's hit rates need)
    # One block of read-only lookups, each computed once per open knowledge base and cached on
    # the object (a built knowledge base never changes): psl runs no SQL of its own.

    @staticmethod
    def sequence_hash(sequence: str) -> str:
        """The ``entries.seq_hash`` of a sequence: :func:`kb.alphabet.sequence_hash` (hex MD5 of
        its upper-case ASCII residues; a trailing ``*`` stop symbol is not part of it)."""
        return sequence_hash(sequence)

    #: An isoform suffix of an accession (``P12345-2``).
    _ISOFORM_RE = re.compile(r"-[0-9]+$")

    def _lookup_cache(self) -> dict[str, Any]:
        return self.__dict__.setdefault("_lookups", {})

    def sequence_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The sequence store as arrays, for numba kernels: ``(residues, offsets)``.

        Returns:
            ``residues`` (``uint8``, memory-mapped: every sequence in ``entry_id`` order, each
            followed by ``*``) and ``offsets`` (``int64``, ``len(self) + 1``: entry ``i`` is
            ``residues[offsets[i] : offsets[i + 1] - 1]``).
        """
        return np.asarray(self.store.residues), np.asarray(self.store.offsets, dtype=np.int64)

    def class_masks(self, evidence: str = "any") -> np.ndarray:
        """Per entry, a bitmask of its location classes (bit ``c`` = ``LOCATION_CLASSES[c]``).

        Every ``locations`` row with a class counts for its entry, isoform-specific rows
        included.

        Arguments:
            evidence: ``"any"``, or ``"experimental"`` to keep only rows whose evidence
                contains ``ECO:0000269``.

        Returns:
            ``uint16`` array of length ``len(self)`` (0 = no mapped location); cached per
            evidence level, do not modify it.

        Raises:
            ValueError: unknown evidence level.
        """
        from kb.classes import LOCATION_CLASSES
        from kb.store import EXPERIMENTAL_ECO, MIN_EVIDENCE

        if evidence not in MIN_EVIDENCE:
            raise ValueError(
                f"unknown evidence level {evidence!r} (must be one of {', '.join(MIN_EVIDENCE)})"
            )
        cache = self._lookup_cache()
        key = f"class_masks:{evidence}"
        if key not in cache:
            where = "l.class IS NOT NULL"
            if evidence == "experimental":
                where += f" AND l.evidence LIKE '%{EXPERIMENTAL_ECO}%'"
            rows = self._sql(
                f"""
                SELECT e.entry_id,
                       bit_or(CAST(1 AS INTEGER) << (list_position(?, l.class) - 1)) AS mask
                FROM locations l JOIN entries e ON e.accession = l.accession
                WHERE {where} AND list_position(?, l.class) IS NOT NULL
                GROUP BY e.entry_id
                """,
                [list(LOCATION_CLASSES), list(LOCATION_CLASSES)],
            ).fetchnumpy()
            masks = np.zeros(len(self), dtype=np.uint16)
            masks[np.asarray(rows["entry_id"], dtype=np.int64)] = np.asarray(
                rows["mask"], dtype=np.uint16
            )
            masks.flags.writeable = False
            cache[key] = masks
        return cache[key]

    def _seq_hashes(self) -> pa.Array:
        cache = self._lookup_cache()
        if "seq_hash" not in cache:
            cache["seq_hash"] = self.entry_table(("seq_hash",)).column(0).combine_chunks()
        return cache["seq_hash"]

    @staticmethod
    def _first_index(values: Sequence[str | None], haystack: pa.Array) -> np.ndarray:
        """Index of the first occurrence of each value in ``haystack`` (-1 when absent)."""
        import pyarrow.compute as pc

        needles = pa.array([None if v is None else str(v).strip() for v in values],
                           type=pa.string())
        found = pc.index_in(needles, value_set=haystack).fill_null(-1)
        return np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.int64)

    def entry_ids(self, accessions: Sequence[str | None]) -> np.ndarray:
        """``entry_id`` of each accession (exact primary accession, isoform suffix included).

        Arguments:
            accessions: accessions (``None`` allowed).

        Returns:
            ``int64`` array of the same length; -1 where no entry has that accession.
        """
        return self._first_index(accessions, self.accessions)

    def entry_ids_by_hash(self, hashes: Sequence[str | None]) -> np.ndarray:
        """The first ``entry_id`` whose ``seq_hash`` (see :meth:`sequence_hash`) is each hash.

        Every entry with that hash holds the same sequence (compare the residues to be sure).

        Arguments:
            hashes: hex MD5 sequence hashes (any case; ``None`` allowed).

        Returns:
            ``int64`` array of the same length; -1 where no entry has that sequence.
        """
        return self._first_index([None if h is None else str(h).lower() for h in hashes],
                                 self._seq_hashes())

    def _isoform_groups(self) -> tuple[np.ndarray, pa.Array]:
        import pyarrow.compute as pc

        cache = self._lookup_cache()
        if "isoform_groups" not in cache:
            bases = pc.replace_substring_regex(self.accessions, pattern=self._ISOFORM_RE.pattern,
                                               replacement="")
            encoded = pc.dictionary_encode(bases).combine_chunks() if isinstance(
                bases, pa.ChunkedArray) else pc.dictionary_encode(bases)
            groups = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
            groups.flags.writeable = False
            cache["isoform_groups"] = (groups, encoded.dictionary)
        return cache["isoform_groups"]

    def isoform_groups(self) -> np.ndarray:
        """Per entry, the number of its isoform group: entries whose accessions are equal once
        an isoform suffix ``-N`` is removed (``P12345``, ``P12345-2``) share a group.

        Returns:
            ``int64`` array of length ``len(self)``, values ``0..n_groups-1`` (cached; do not
            modify it).
        """
        return self._isoform_groups()[0]

    def isoform_group_ids(self, accessions: Sequence[str | None]) -> np.ndarray:
        """The isoform group (see :meth:`isoform_groups`) of each accession, with or without
        isoform suffix.

        Arguments:
            accessions: accessions (``None`` allowed).

        Returns:
            ``int64`` array of the same length; -1 where no entry belongs to that group.
        """
        stripped = [None if a is None else self._ISOFORM_RE.sub("", str(a).strip())
                    for a in accessions]
        return self._first_index(stripped, self._isoform_groups()[1])

    def features(
        self, accessions: Sequence[str] | None = None, types: Sequence[str] | None = None
    ) -> pa.Table:
        """Sequence features (``FT`` lines) of entries.

        Arguments:
            accessions: primary accessions (None: all entries).
            types: feature types to keep, e.g. ``["SIGNAL", "TRANSIT", "MOTIF"]`` (None: all).

        Returns:
            Table with columns ``accession``, ``type``, ``start``, ``end`` (1-based,
            inclusive; null when unknown), ``description``, ``evidence``, sorted by
            accession, start, type. A knowledge base built from tables or FASTA has no rows.
        """
        where, params = [], []
        if accessions is not None:
            where.append("accession IN (SELECT unnest(?))")
            params.append([str(a).strip() for a in accessions])
        if types is not None:
            where.append("type IN (SELECT unnest(?))")
            params.append([str(t) for t in types])
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        return self._sql(
            'SELECT accession, type, start, "end", description, evidence FROM features'
            + clause + " ORDER BY accession, start NULLS FIRST, type, \"end\"",
            params or None,
        ).to_arrow_table()
