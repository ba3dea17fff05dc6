"""FASTA reading for the models: :func:`kb.scan.iter_fasta` with the model's rules.

Plain or gzip-compressed FASTA; sequence lines are upper-cased and may end with a ``*`` stop
symbol. Letters must be :data:`kb.alphabet.SEQUENCE_LETTERS` (the 20 amino acids plus B, Z, J,
U, O and X) and every record needs a sequence; errors name the file and line.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kb.alphabet import SEQUENCE_LETTERS
from kb.scan import iter_fasta as _iter_fasta

__all__ = ["FastaRecord", "iter_fasta", "read_fasta"]


@dataclass(frozen=True)
class FastaRecord:
    """One FASTA record.

    Attributes:
        id: first word of the header (without ``>``).
        description: the rest of the header line (may be empty).
        sequence: upper-case residues.
        line: 1-based line number of the header in the file.
    """

    id: str
    description: str
    sequence: str
    line: int


def iter_fasta(path: str | Path) -> Iterator[FastaRecord]:
    """Stream the records of a FASTA file, validating as it goes.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        InputFormatError: text before the first header, an empty header, a record without
            sequence, an illegal letter (file, line and letter in the message), or a file
            without any record.
    """
    for rec in _iter_fasta(path, letters=SEQUENCE_LETTERS, require_sequence=True):
        words = rec.header.split(None, 1)
        yield FastaRecord(words[0], words[1] if len(words) > 1 else "", rec.sequence, rec.line)


def read_fasta(path: str | Path) -> list[FastaRecord]:
    """Read a whole FASTA file (see :func:`iter_fasta` for the rules and errors)."""
    return list(iter_fasta(path))
