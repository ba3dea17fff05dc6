"""Amino-acid alphabet shared by the sequence store, the index and peptide validation."""

from __future__ import annotations

import numpy as np

__all__ = ["AMINO_ACIDS", "SEQUENCE_LETTERS", "encode_ascii", "is_valid_peptide"]

#: The 20 standard amino acids.
AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
#: Letters accepted in stored sequences and peptides: the 20 plus the IUPAC extras
#: B (D/N), Z (E/Q), J (I/L), U (selenocysteine), O (pyrrolysine) and X (unknown).
SEQUENCE_LETTERS = frozenset(AMINO_ACIDS + "BZJUOX")


def encode_ascii(seq: str) -> np.ndarray:
    """A sequence as a ``uint8`` array of its ASCII codes (no copy of the Python string kept)."""
    return np.frombuffer(seq.encode("ascii"), dtype=np.uint8)


def is_valid_peptide(peptide: str) -> bool:
    """True when ``peptide`` is non-empty and made only of :data:`SEQUENCE_LETTERS` (upper case)."""
    return bool(peptide) and set(peptide) <= SEQUENCE_LETTERS
