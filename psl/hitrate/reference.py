"""Plain-Python reference of the hit rate: loops and dicts, written for reading, not speed.

It is the oracle of the vectorised scorer in :mod:`psl.hitrate` (tests on seeded random data)
and the baseline of ``benchmarks/bench_hitrate.py``. It follows the issue text line by line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence

__all__ = ["reference_hit_rate", "reference_hit_rates"]

_ISOFORM = re.compile(r"-\d+$")


def reference_hit_rate(
    protein: str,
    protein_sequence: str | None,
    location: str,
    start: int,
    occurrences: Iterable[tuple[int, int]],
    entries: Mapping[int, tuple[str, str, frozenset[str]]],
    weighting: str = "paper",
    keep_self: bool = False,
) -> dict[str, float]:
    """Hit rate of one subsequence, by the definition (the research paper's eqs. 4-5).

    Arguments:
        protein: the query protein's accession.
        protein_sequence: its full sequence (for the identical-sequence exclusion), or None.
        location: its reference class (canonical name).
        start: the 1-based start of the subsequence in the query protein.
        occurrences: ``(entry_id, start)`` pairs, every place the subsequence occurs in the KB.
        entries: ``entry_id -> (accession, sequence, classes)``.
        weighting: ``"paper"``, ``"normalized"`` or ``"none"``.
        keep_self: keep the query protein, its isoforms and identical sequences.

    Returns:
        ``n_entries``, ``n_hits``, ``n_unannotated`` and ``hit_rate`` (NaN without entries).
    """
    own = _ISOFORM.sub("", protein)
    nearest: dict[int, int] = {}
    for entry_id, q in occurrences:
        d = abs(q - start)
        if entry_id not in nearest or d < nearest[entry_id]:
            nearest[entry_id] = d
    n_entries = n_hits = n_unannotated = 0
    weighted_hits = 0.0
    beta_sum = 0.0
    for entry_id, d in nearest.items():
        accession, sequence, classes = entries[entry_id]
        if not keep_self:
            if _ISOFORM.sub("", accession) == own:
                continue
            if protein_sequence is not None and sequence == protein_sequence:
                continue
        if not classes:
            n_unannotated += 1
            continue
        n_entries += 1
        if weighting == "none":
            beta = 1.0
        else:
            beta = 1.0 if d == 0 else 1.0 / d
        beta_sum += beta
        if location in classes:
            n_hits += 1
            weighted_hits += beta
    if n_entries == 0:
        rate = math.nan
    elif weighting == "normalized":
        rate = weighted_hits / beta_sum
    else:
        rate = weighted_hits / n_entries
    return {
        "n_entries": n_entries,
        "n_hits": n_hits,
        "n_unannotated": n_unannotated,
        "hit_rate": rate,
    }


def reference_hit_rates(
    items: Sequence[tuple[str, str | None, str, str, int]],
    occurrences: Mapping[str, Sequence[tuple[int, int]]],
    entries: Mapping[int, tuple[str, str, frozenset[str]]],
    weighting: str = "paper",
    keep_self: bool = False,
) -> list[dict[str, float]]:
    """:func:`reference_hit_rate` for many items, one at a time.

    Arguments:
        items: ``(protein, protein_sequence, location, subsequence, start)`` tuples.
        occurrences: ``subsequence -> [(entry_id, start), ...]``.
        entries: ``entry_id -> (accession, sequence, classes)``.
        weighting, keep_self: as in :func:`reference_hit_rate`.

    Returns:
        One dict per item.
    """
    return [
        reference_hit_rate(
            protein, seq, location, start, occurrences.get(sub, ()), entries, weighting, keep_self
        )
        for protein, seq, location, sub, start in items
    ]
