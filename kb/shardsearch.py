"""The search of a sharded knowledge base: what each shard returns, and the merge.

Every shard searches the distinct peptides of a batch without filters
(:func:`search_shard`, in-process or as a Dask task: a pure function of the shard and the
peptides; the per-peptide work that does not depend on the shard -- validation,
de-duplication, the choice of each peptide's k-mer anchors -- is done once, not per
shard); :func:`merge_shard_rows` adds each shard's first global entry id, orders the rows
as an unsharded search does (query, entry_id, start), applies the global entry filter and
expands the rows to the batch's queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from kb.peptides import DistinctPeptides, PeptideBatch

__all__ = ["SHARD_COLUMNS", "search_shard", "merge_shard_rows", "summed_bucket_sizes"]

#: Columns a shard's search returns to the merger (12 bytes per row; the peptide, accession
#: and end are rebuilt from the batch and the global accessions).
SHARD_COLUMNS = ("query", "start", "entry_id")


def summed_bucket_sizes(shard_dirs: Sequence[str | Path]) -> np.ndarray:
    """The k-mer bucket sizes of a sharded knowledge base: the shards' sizes summed (= an
    unsharded build's), saturated as :func:`kb.index.choose_anchors` takes them. Reads only
    the shards' memory-mapped bucket offsets."""
    from kb.index import KmerIndex, saturated_sizes
    from kb.layout import resolve

    total: np.ndarray | None = None
    for d in shard_dirs:
        sizes = np.diff(KmerIndex.load(resolve(Path(d))).kmer_offsets)
        total = sizes if total is None else total + sizes
    if total is None:
        raise ValueError("no shard")
    return saturated_sizes(total)


def merge_shard_rows(
    batch: PeptideBatch, parts: Sequence[pa.Table], entry_offsets: Sequence[int],
    accessions: pa.Array, mask: np.ndarray | None = None,
) -> tuple[pa.Table, np.ndarray]:
    """The rows of an unsharded search from the rows of every shard.

    Arguments:
        batch: the searched batch.
        parts: per shard (in shard order), the :data:`SHARD_COLUMNS` of its search of the
            batch's distinct peptides (``query`` = index of the distinct peptide), sorted by
            (query, entry_id, start) as :meth:`kb.api.KnowledgeBase.search` returns them.
        entry_offsets: the first global entry id of each part's shard.
        accessions: the accession of every global entry id.
        mask: the global entry filter (None: none).

    Returns:
        ``(table, no_hit)`` as :meth:`kb.api.KnowledgeBase.search_with_summary` builds them
        (without location columns).
    """
    n_rows = sum(p.num_rows for p in parts)
    m = batch.n_unique
    # Shards hold increasing entry ranges and each part is sorted by peptide, so the merged
    # order (peptide, then shard, then the part's own order) is a scatter, not a sort: a
    # row's slot is where its peptide's rows begin, plus the rows of that peptide in earlier
    # shards, plus its rank among its peptide's rows in its own shard.
    qs = [p.column("query").to_numpy().astype(np.int64) for p in parts]
    counts = [np.bincount(q, minlength=m) for q in qs]
    before = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(sum(counts, np.zeros(m, dtype=np.int64)), out=before[1:])
    unique_q = np.empty(n_rows, dtype=np.int64)
    start = np.empty(n_rows, dtype=np.int32)
    eid = np.empty(n_rows, dtype=np.int32)
    base = before[:-1].copy()  # where each peptide's rows of the next shard go
    for part, off, q, c in zip(parts, entry_offsets, qs, counts, strict=True):
        first = np.zeros(m, dtype=np.int64)  # index of each peptide's first row in this part
        np.cumsum(c[:-1], out=first[1:])
        slot = base[q] + np.arange(q.shape[0], dtype=np.int64) - first[q]
        unique_q[slot] = q
        start[slot] = part.column("start").to_numpy()
        eid[slot] = part.column("entry_id").to_numpy() + np.int32(off)
        base += c
    order = np.arange(n_rows, dtype=np.int64)
    if mask is not None and n_rows:
        order = order[mask[eid]]
    hit_off = np.zeros(batch.n_unique + 1, dtype=np.int64)
    np.cumsum(np.bincount(unique_q[order], minlength=batch.n_unique), out=hit_off[1:])
    query, source = batch.expand(hit_off)
    rows = order[source]
    unique_of_row = batch.query_unique[query]
    row_eid = eid[rows]
    row_start = start[rows]
    table = pa.table({
        "peptide": batch.unique_array().take(pa.array(unique_of_row)),
        "accession": accessions.take(pa.array(row_eid)),
        "start": pa.array(row_start),
        "end": pa.array(row_start + batch.lengths.astype(np.int32)[unique_of_row] - 1),
        "query": pa.array(query),
        "entry_id": pa.array(row_eid),
    })
    rows_per_query = np.diff(hit_off)[batch.query_unique]
    no_hit = np.flatnonzero(rows_per_query == 0)
    return table, no_hit


def search_shard(kb: Any, peptides: DistinctPeptides | PeptideBatch,
                 anchors: tuple[np.ndarray, np.ndarray] | None = None, *,
                 il_equivalent: bool = False, mismatches: int | None = None) -> pa.Table:
    """The :data:`SHARD_COLUMNS` of one shard's search (no filters).

    What every shard task runs, in-process or on a Dask worker: a pure function of the shard
    and the peptides (distinct, validated once for all shards: ``query`` = ``peptides.first``
    + index among them), so a retried task returns the same rows. ``anchors``: the windows
    the k-mer index starts from, chosen once for all shards
    (:func:`kb.index.choose_anchors`); they change the work, not the rows. Only the three
    integer columns are built: the peptide and accession strings are added once, after the
    merge.
    """
    if isinstance(peptides, PeptideBatch):
        peptides = peptides.distinct()
    if mismatches is None:
        hit_off, hits = kb.find(peptides, il_equivalent, anchors)
    else:
        hit_off, hits = kb.find_mismatches(peptides, mismatches, il_equivalent)
    entry_id, start0 = kb.locate(hits)
    first = peptides.first
    query = np.repeat(np.arange(first, first + peptides.n_unique, dtype=np.int32),
                      np.diff(hit_off))
    return pa.table({"query": pa.array(query), "start": pa.array(start0 + np.int32(1)),
                     "entry_id": pa.array(entry_id)})
