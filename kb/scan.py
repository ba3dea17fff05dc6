"""Aho-Corasick scanning: a whole peptide batch against a text in one pass.

One automaton (pyahocorasick) is built over the distinct peptides of a batch; the text is
scanned once and every occurrence of every peptide is reported, overlapping ones included
(Aho & Corasick, "Efficient string matching: an aid to bibliographic search", CACM 18(6),
1975).

Used for

* :func:`scan_store`: peptides the k-mer index cannot serve (shorter than ``k``, or without
  an all-standard window of length ``k``), over the whole concatenated
  :class:`~kb.seqstore.SequenceStore` (its ``*`` separators prevent matches spanning two
  entries);
* :func:`scan_fasta`: ``kb scan``, any FASTA (plain or gzip) streamed record by record,
  without building a knowledge base.

I/L equivalence: I is translated to L in both the patterns and the text; in exact mode the
text is used untranslated.

FASTA records are read by :mod:`kb.fasta` (the project's one FASTA reader): for a header
``>db|ACC|NAME ...`` (UniProt style, any header with at least two ``|``) the accession is the
field between the first two ``|``; otherwise the first white-space separated word.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import ahocorasick
import numpy as np
import pyarrow as pa

from kb.errors import InputFormatError
from kb.fasta import FastaRecord, parse_fasta, parse_header
from kb.peptides import PeptideBatch
from kb.seqstore import SequenceStore

__all__ = [
    "FastaRecord",
    "build_automaton",
    "fasta_accession",
    "iter_fasta",
    "scan_fasta",
    "scan_store",
    "scan_text",
]

_IL = str.maketrans("I", "L")


def build_automaton(peptides: list[str], il_equivalent: bool = False) -> ahocorasick.Automaton:
    """An Aho-Corasick automaton over distinct peptides.

    Arguments:
        peptides: distinct upper-case peptides.
        il_equivalent: translate I to L in the patterns (the text must be translated too).

    Returns:
        The automaton; the value of each key is ``(length, (peptide indices...))`` (several
        peptides share a key when they differ only by I/L).
    """
    groups: dict[str, list[int]] = {}
    for u, p in enumerate(peptides):
        groups.setdefault(p.translate(_IL) if il_equivalent else p, []).append(u)
    automaton = ahocorasick.Automaton()
    for key, us in groups.items():
        automaton.add_word(key, (len(key), tuple(us)))
    if groups:
        automaton.make_automaton()
    return automaton


def scan_text(automaton: ahocorasick.Automaton, text: str) -> tuple[np.ndarray, np.ndarray]:
    """All matches of ``automaton`` in ``text``.

    Arguments:
        automaton: from :func:`build_automaton`.
        text: the text (already I->L translated in I/L-equivalent mode).

    Returns:
        ``(peptide_index, start)`` arrays (``int64``, 0-based starts), in text order.
    """
    if automaton.kind != ahocorasick.AHOCORASICK or not text:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    us: list[int] = []
    starts: list[int] = []
    for end, (length, group) in automaton.iter(text):
        s = end - length + 1
        for u in group:
            us.append(u)
            starts.append(s)
    return np.asarray(us, dtype=np.int64), np.asarray(starts, dtype=np.int64)


def _group(n: int, us: np.ndarray, keys: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Sort hits by (peptide, *keys) and return the CSR offsets and the sort order."""
    order = np.lexsort((*reversed(keys), us)) if us.shape[0] else np.zeros(0, np.int64)
    hit_off = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(us, minlength=n), out=hit_off[1:])
    return hit_off, order


def scan_store(
    store: SequenceStore,
    peptides: list[str],
    il_equivalent: bool = False,
    text: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """All occurrences of distinct peptides in a sequence store (one Aho-Corasick pass).

    Arguments:
        store: the sequence store.
        peptides: distinct upper-case peptides.
        il_equivalent: if true, I and L match each other.
        text: the store's residues as a string, already I->L translated in I/L mode (pass it
            to avoid decoding the store again).

    Returns:
        ``(hit_offsets, hits)``: CSR over ``peptides`` of absolute start positions into
        ``store.residues``, ascending within each peptide (same contract as
        :meth:`kb.index.KmerIndex.find`).
    """
    n = len(peptides)
    if n == 0:
        return np.zeros(1, np.int64), np.zeros(0, np.int64)
    if text is None:
        text = store_text(store, il_equivalent)
    us, starts = scan_text(build_automaton(peptides, il_equivalent), text)
    hit_off, order = _group(n, us, (starts,))
    return hit_off, starts[order]


def store_text(store: SequenceStore, il_equivalent: bool = False) -> str:
    """The store's residues (separators included) as a string, I->L translated if asked."""
    residues = np.asarray(store.residues)
    if il_equivalent:
        table = np.arange(256, dtype=np.uint8)
        table[ord("I")] = ord("L")
        residues = table[residues]
    return residues.tobytes().decode("ascii")


# ----------------------------------------------------------------------------------- FASTA
def fasta_accession(header: str) -> str:
    """Identifier of a FASTA header (without ``>``), as :func:`kb.fasta.parse_header` gives it:
    ``db|ACC|...`` -> ACC, else the first word (empty for an empty header)."""
    try:
        return parse_header(header)["id"]
    except InputFormatError:
        return ""


def iter_fasta(
    path: str | Path,
    *,
    letters: frozenset[str] | None = None,
    require_sequence: bool = False,
) -> Iterator[FastaRecord]:
    """Stream the records of a FASTA file: :func:`kb.fasta.parse_fasta`, by default accepting
    any letter and records without sequence (what ``kb scan`` searches).

    Raises:
        FileNotFoundError, IsADirectoryError, InputFormatError: see :func:`kb.fasta.parse_fasta`.
    """
    return parse_fasta(path, letters=letters, require_sequence=require_sequence)


def scan_fasta(
    path: str | Path, batch: PeptideBatch, il_equivalent: bool = False, progress=None
) -> tuple[pa.Table, int]:
    """Search a peptide batch in a FASTA file, streaming (``kb scan``).

    Arguments:
        path: FASTA file (plain or gzip).
        batch: the validated peptides (:func:`kb.peptides.prepare_peptides`).
        il_equivalent: if true, I and L match each other.
        progress: optional callable called with the number of residues scanned per record.

    Returns:
        ``(table, n_records)``: the table has one row per occurrence with columns
        ``peptide`` (string), ``accession`` (string), ``start``, ``end`` (``int32``, 1-based,
        inclusive), ``query`` (``int32``, index of the peptide in the batch) and ``record``
        (``int32``, index of the FASTA record), sorted by (query, record, start).

    Raises:
        InputFormatError: malformed FASTA (see :func:`iter_fasta`).
    """
    automaton = build_automaton(batch.unique, il_equivalent)
    accessions: list[str] = []
    all_us: list[np.ndarray] = []
    all_rec: list[np.ndarray] = []
    all_starts: list[np.ndarray] = []
    for i, rec in enumerate(iter_fasta(path)):
        accessions.append(rec.accession)
        text = rec.sequence.translate(_IL) if il_equivalent else rec.sequence
        us, starts = scan_text(automaton, text)
        if us.shape[0]:
            all_us.append(us)
            all_starts.append(starts)
            all_rec.append(np.full(us.shape[0], i, dtype=np.int64))
        if progress is not None:
            progress(len(rec.sequence))
    us = np.concatenate(all_us) if all_us else np.zeros(0, np.int64)
    recs = np.concatenate(all_rec) if all_rec else np.zeros(0, np.int64)
    starts = np.concatenate(all_starts) if all_starts else np.zeros(0, np.int64)
    hit_off, order = _group(batch.n_unique, us, (recs, starts))
    recs, starts = recs[order], starts[order]
    query, source = batch.expand(hit_off)
    lengths = batch.lengths[batch.query_unique[query]] if query.shape[0] else np.zeros(0, np.int64)
    start1 = (starts[source] + 1).astype(np.int32)
    table = pa.table(
        {
            "peptide": batch.unique_array().take(pa.array(batch.query_unique[query])),
            "accession": pa.array(accessions, type=pa.string()).take(pa.array(recs[source])),
            "start": pa.array(start1),
            "end": pa.array((start1 + lengths - 1).astype(np.int32)),
            "query": pa.array(query),
            "record": pa.array(recs[source].astype(np.int32)),
        }
    )
    return table, len(accessions)
