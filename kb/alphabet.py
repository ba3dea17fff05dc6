"""Amino-acid alphabet shared by the sequence store, the index and peptide validation."""

from __future__ import annotations

__all__ = ["AMINO_ACIDS", "SEQUENCE_LETTERS"]

#: The 20 standard amino acids.
AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
#: Letters accepted in stored sequences and peptides: the 20 plus the IUPAC extras
#: B (D/N), Z (E/Q), J (I/L), U (selenocysteine), O (pyrrolysine) and X (unknown).
SEQUENCE_LETTERS = frozenset(AMINO_ACIDS + "BZJUOX")

