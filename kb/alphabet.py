"""Amino-acid alphabet shared by the sequence store, the index and peptide validation, and the
one sequence identity hash (:func:`sequence_hash`, the knowledge base's ``seq_hash``)."""

from __future__ import annotations

import hashlib

__all__ = ["AMINO_ACIDS", "SEQUENCE_LETTERS", "sequence_hash"]

#: The 20 standard amino acids.
AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
#: Letters accepted in stored sequences and peptides: the 20 plus the IUPAC extras
#: B (D/N), Z (E/Q), J (I/L), U (selenocysteine), O (pyrrolysine) and X (unknown).
SEQUENCE_LETTERS = frozenset(AMINO_ACIDS + "BZJUOX")



def sequence_hash(sequence: str) -> str:
    """The sequence identity hash: hex MD5 of the upper-case ASCII residues, white space around
    them and a trailing ``*`` stop symbol removed. It is ``entries.seq_hash`` of a knowledge
    base (:mod:`kb.store`), the ``seq_hash`` column ``psl explain`` writes, and what
    ``psl score`` matches query proteins by.

    Arguments:
        sequence: amino-acid residues (any case).

    Returns:
        32 hexadecimal digits.
    """
    text = str(sequence).strip().upper()
    if text.endswith("*"):
        text = text[:-1]
    return hashlib.md5(text.encode("ascii")).hexdigest()
