"""The search of a sharded knowledge base: what each shard returns, and the merge.

Every shard searches the distinct peptides of a batch without filters
(:func:`search_shard`, in-process or as a Dask task: a pure function of the shard and the
peptides); :func:`merge_shard_rows` adds each shard's first global entry id, orders the rows
as an unsharded search does (query, entry_id, start), applies the global entry filter and
expands the rows to the batch's queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from kb.peptides import PeptideBatch

__all__ = ["SHARD_COLUMNS", "search_shard", "merge_shard_rows"]

#: Columns a shard's search returns to the merger (the peptide is rebuilt from the batch).
SHARD_COLUMNS = ("query", "accession", "start", "end", "entry_id")


def merge_shard_rows(
    batch: PeptideBatch, parts: Sequence[pa.Table], entry_offsets: Sequence[int],
    mask: np.ndarray | None = None,
) -> tuple[pa.Table, np.ndarray]:
    """The rows of an unsharded search from the rows of every shard.

    Arguments:
        batch: the searched batch.
        parts: per shard (in shard order), the :data:`SHARD_COLUMNS` of its search of the
            batch's distinct peptides (``query`` = index of the distinct peptide), sorted by
            (query, entry_id, start) as :meth:`kb.api.KnowledgeBase.search` returns them.
        entry_offsets: the first global entry id of each part's shard.
        mask: the global entry filter (None: none).

    Returns:
        ``(table, no_hit)`` as :meth:`kb.api.KnowledgeBase.search_with_summary` builds them (without
        location columns).
    """
    tables = []
    for part, off in zip(parts, entry_offsets, strict=True):
        eid = part.column("entry_id").to_numpy().astype(np.int64) + int(off)
        tables.append(part.select(["query", "accession", "start", "end"])
                      .append_column("entry_id", pa.array(eid.astype(np.int32))))
    rows = pa.concat_tables(tables) if tables else None
    unique_q = (rows.column("query").to_numpy().astype(np.int64) if rows is not None
                else np.zeros(0, np.int64))
    # Shards hold increasing entry ranges: a stable sort by peptide gives (peptide, entry, start).
    order = np.argsort(unique_q, kind="stable")
    if mask is not None and order.shape[0]:
        keep = mask[rows.column("entry_id").to_numpy()[order]]
        order = order[keep]
    hit_off = np.zeros(batch.n_unique + 1, dtype=np.int64)
    np.cumsum(np.bincount(unique_q[order], minlength=batch.n_unique), out=hit_off[1:])
    query, source = batch.expand(hit_off)
    take = pa.array(order[source]) if rows is not None else None
    empty_i32 = pa.array(np.zeros(0, np.int32))
    table = pa.table({
        "peptide": batch.unique_array().take(pa.array(batch.query_unique[query])),
        "accession": rows.column("accession").take(take) if take is not None
        else pa.array([], pa.string()),
        "start": rows.column("start").take(take) if take is not None else empty_i32,
        "end": rows.column("end").take(take) if take is not None else empty_i32,
        "query": pa.array(query),
        "entry_id": rows.column("entry_id").take(take) if take is not None else empty_i32,
    })
    table = table.combine_chunks()
    rows_per_query = np.diff(hit_off)[batch.query_unique]
    no_hit = np.flatnonzero(rows_per_query == 0)
    return table, no_hit


def search_shard(kb: Any, peptides: list[str], query_offset: int = 0,
                 **options: Any) -> pa.Table:
    """The :data:`SHARD_COLUMNS` of one shard's search (no filters; ``query + query_offset``).

    What every shard task runs, in-process or on a Dask worker: a pure function of the shard
    and the peptides, so a retried task returns the same rows.
    """
    table = kb.search(peptides, **options).select(list(SHARD_COLUMNS))
    if query_offset:
        q = table.column("query").to_numpy().astype(np.int32) + np.int32(query_offset)
        table = table.set_column(0, "query", pa.array(q))
    return table
