"""FASTA reading for the models, with clear, located errors.

Accepts plain or gzip-compressed FASTA; sequence lines are upper-cased and may end with a
``*`` stop symbol. Letters must be :data:`kb.alphabet.SEQUENCE_LETTERS` (the 20 amino acids
plus B, Z, J, U, O and X).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kb.alphabet import SEQUENCE_LETTERS
from kb.errors import InputFormatError

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


def _open_text(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="ascii", errors="replace")
    return open(path, encoding="ascii", errors="replace")


def iter_fasta(path: str | Path) -> Iterator[FastaRecord]:
    """Stream the records of a FASTA file, validating as it goes.

    Arguments:
        path: a FASTA file, optionally gzip-compressed.

    Returns:
        An iterator of :class:`FastaRecord`.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        InputFormatError: text before the first header, an empty header, a record without
            sequence, an illegal letter (file, line and letter in the message), or a file
            without any record.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a directory, expected a FASTA file")
    n = 0
    header: tuple[str, str, int] | None = None
    chunks: list[str] = []
    with _open_text(path) as fh:
        for lineno, raw in enumerate(fh, start=1):
            line = raw.strip()
            if not line:
                continue
            if line.startswith(">"):
                if header is not None:
                    yield _finish(path, header, chunks)
                    n += 1
                words = line[1:].strip().split(None, 1)
                if not words:
                    raise InputFormatError("empty FASTA header", path, lineno)
                header = (words[0], words[1] if len(words) > 1 else "", lineno)
                chunks = []
                continue
            if header is None:
                raise InputFormatError(
                    "not FASTA: expected a '>' header line before sequence data", path, lineno
                )
            seq = line.upper().replace(" ", "")
            if seq.endswith("*"):
                seq = seq[:-1]
            bad = set(seq) - SEQUENCE_LETTERS
            if bad:
                letter = sorted(bad)[0]
                raise InputFormatError(
                    f"illegal letter {letter!r} in sequence of {header[0]!r} (expected amino-acid "
                    f"letters {''.join(sorted(SEQUENCE_LETTERS))})",
                    path,
                    lineno,
                )
            chunks.append(seq)
    if header is not None:
        yield _finish(path, header, chunks)
        n += 1
    if n == 0:
        raise InputFormatError("empty FASTA file: no '>' record found", path)


def _finish(path: Path, header: tuple[str, str, int], chunks: list[str]) -> FastaRecord:
    seq = "".join(chunks)
    if not seq:
        raise InputFormatError(f"record {header[0]!r} has no sequence", path, header[2])
    return FastaRecord(header[0], header[1], seq, header[2])


def read_fasta(path: str | Path) -> list[FastaRecord]:
    """Read a whole FASTA file (see :func:`iter_fasta` for the rules and errors)."""
    return list(iter_fasta(path))
