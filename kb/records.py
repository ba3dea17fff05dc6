"""Plain records that every reader (flat file, CSV/TSV, FASTA) yields and the store writes.

These are the contract between ``kb.flatfile`` / ``kb.tables`` and ``kb.store``.
Positions are 1-based and inclusive.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Location", "Feature", "Entry"]


@dataclass(frozen=True, slots=True)
class Location:
    """One location term of a ``CC -!- SUBCELLULAR LOCATION`` block (or a table label).

    Attributes:
        term: the full term path as written, e.g. ``"Cytoplasm, cytoskeleton"``.
        isoform: the isoform the block is about (``"Isoform 2"``) or ``None``.
        evidence: ECO code(s) joined by ``","`` (``"ECO:0000269"``) or the old qualifier
            (``"By similarity"``, ``"Probable"``, ``"Potential"``), or ``None``.
        topology: e.g. ``"Multi-pass membrane protein"`` or ``None``.
        label_class: for table/FASTA inputs whose label already is a DeepLoc class, that class;
            ``None`` for flat-file terms (the store maps those through ``kb.locations``).
    """

    term: str
    isoform: str | None = None
    evidence: str | None = None
    topology: str | None = None
    label_class: str | None = None


@dataclass(frozen=True, slots=True)
class Feature:
    """One ``FT`` feature (SIGNAL, TRANSIT, TRANSMEM, MOTIF, ...). ``start``/``end`` may be
    ``None`` when the flat file gives an unknown position (``?``)."""

    type: str
    start: int | None
    end: int | None
    description: str | None = None
    evidence: str | None = None


@dataclass(slots=True)
class Entry:
    """One protein entry, whatever the input format.

    ``line`` is the 1-based line number where the entry starts in its file (for messages).
    """

    accession: str
    sequence: str
    secondary_accessions: list[str] = field(default_factory=list)
    entry_name: str | None = None
    reviewed: bool | None = None
    protein_name: str | None = None
    gene: str | None = None
    organism: str | None = None
    taxon_id: int | None = None
    lineage: str | None = None
    locations: list[Location] = field(default_factory=list)
    subcellular_location_text: str | None = None
    features: list[Feature] = field(default_factory=list)
    line: int | None = None
