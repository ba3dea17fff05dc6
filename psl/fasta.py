"""FASTA reading for the models: a re-export of :mod:`kb.fasta`, the project's one reader.

Plain or gzip-compressed FASTA (or ``-`` for standard input); sequence lines are upper-cased
and may end with a ``*`` stop symbol. Letters must be :data:`kb.alphabet.SEQUENCE_LETTERS`
(the 20 amino acids plus B, Z, J, U, O and X) and every record needs a sequence; errors name
the file and line. A record's ``id`` is the accession of a UniProt header
(``>sp|P38175|NAME_HUMAN ...`` -> ``P38175``), else the first word of the header;
``description`` is the rest (for UniProt: the protein name), ``header`` the full text.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from kb.fasta import FastaRecord, parse_fasta

__all__ = ["FastaRecord", "iter_fasta", "read_fasta"]


def iter_fasta(path: str | Path) -> Iterator[FastaRecord]:
    """Stream the records of a FASTA file, validating as it goes (:func:`kb.fasta.parse_fasta`).

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        InputFormatError: text before the first header, an empty header, a record without
            sequence, an invalid letter (file, line and letter in the message), or a file
            without any record.
    """
    return parse_fasta(path)


def read_fasta(path: str | Path) -> list[FastaRecord]:
    """Read a whole FASTA file (see :func:`iter_fasta` for the rules and errors)."""
    return list(iter_fasta(path))
