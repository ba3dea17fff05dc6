"""Peptide batches: reading, validation (upper-casing), de-duplication and byte encoding.

A batch is validated in one vectorised pass: peptides are upper-cased, must be non-empty and
made only of :data:`kb.alphabet.SEQUENCE_LETTERS` (the 20 amino acids plus ``BZJUOX``).
An invalid peptide raises :class:`~kb.errors.InvalidPeptideError` naming the peptide and where
it came from (the line of the input file, or its position in the argument list).

Input files (:func:`read_peptides`), plain or gzip-compressed:

* one peptide per line; surrounding white space is stripped, blank lines and lines starting
  with ``#`` are skipped;
* or a CSV/TSV table (recognised when its first non-comment line contains a ``,`` or a tab)
  with a header row that has a ``peptide`` column (case-insensitive); other columns are
  ignored.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
import pandas as pd

from kb.alphabet import SEQUENCE_LETTERS
from kb.errors import InputFormatError, InvalidPeptideError

__all__ = ["PeptideBatch", "prepare_peptides", "read_peptides", "validate_peptide"]

_VALID = np.zeros(256, dtype=bool)
for _c in SEQUENCE_LETTERS:
    _VALID[ord(_c)] = True
_EXPECTED = "".join(sorted(SEQUENCE_LETTERS))


@dataclass(frozen=True)
class PeptideBatch:
    """A validated batch of peptides.

    Attributes:
        peptides: the upper-cased peptides, in input order (one per query).
        query_unique: ``int64`` array, for each query the index of its distinct peptide.
        unique: the distinct peptides, in order of first appearance.
        buf: the distinct peptides concatenated (``uint8`` ASCII).
        offsets: ``int64`` offsets of the distinct peptides in ``buf`` (``len(unique) + 1``).
    """

    peptides: list[str]
    query_unique: np.ndarray
    unique: list[str]
    buf: np.ndarray
    offsets: np.ndarray

    def __len__(self) -> int:
        return len(self.peptides)

    @property
    def lengths(self) -> np.ndarray:
        """Length of each distinct peptide (``int64``)."""
        return np.diff(self.offsets)

    def expand(self, hit_off: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows per query from per-distinct-peptide results.

        Arguments:
            hit_off: ``int64`` CSR offsets (``len(unique) + 1``) of the hits of each distinct
                peptide in some hit array.

        Returns:
            ``(query, source)``: for every output row, the query index (``int32``) and the index
            of its hit in the hit array (``int64``); rows ordered by query, then by hit order.
        """
        n = len(self.peptides)
        counts = np.diff(hit_off)[self.query_unique] if n else np.zeros(0, np.int64)
        row_off = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=row_off[1:])
        query = np.empty(int(row_off[-1]), dtype=np.int32)
        source = np.empty(int(row_off[-1]), dtype=np.int64)
        if query.shape[0]:
            _expand(self.query_unique, hit_off, row_off, query, source)
        return query, source


def _where(
    i: int, lines: Sequence[int] | None, source: str | Path | None
) -> tuple[str, int | None]:
    if lines is not None:
        return "", int(lines[i])
    if source is not None:
        return "", i + 1
    return f" (argument {i + 1})", None


def validate_peptide(
    peptide: object, i: int = 0, lines: Sequence[int] | None = None,
    source: str | Path | None = None,
) -> str:
    """Upper-case and check one peptide.

    Arguments:
        peptide: the peptide (must be a ``str``).
        i: its position in the batch (0-based; reported 1-based when there is no line).
        lines: line numbers of the batch in ``source`` (reported instead of ``i``).
        source: the file the peptide was read from, if any.

    Returns:
        The upper-cased peptide.

    Raises:
        InvalidPeptideError: empty, not a string, or a letter outside the alphabet.
    """
    suffix, line = _where(i, lines, source)
    if not isinstance(peptide, str):
        raise InvalidPeptideError(
            f"invalid peptide {peptide!r}{suffix}: expected a string", source, line
        )
    up = peptide.upper()
    if not up:
        raise InvalidPeptideError(f"empty peptide{suffix}", source, line)
    bad = sorted({c for c in up if c not in SEQUENCE_LETTERS})
    if bad:
        raise InvalidPeptideError(
            f"invalid peptide {peptide!r}{suffix}: letter(s) {''.join(bad)!r} are not amino "
            f"acids (expected letters from {_EXPECTED})",
            source,
            line,
        )
    return up


def _check_all(peptides: Sequence[object], lines, source) -> None:
    for i, p in enumerate(peptides):
        validate_peptide(p, i, lines, source)


def prepare_peptides(
    peptides: Sequence[str],
    *,
    source: str | Path | None = None,
    lines: Sequence[int] | None = None,
) -> PeptideBatch:
    """Validate, upper-case, de-duplicate and encode a batch of peptides.

    Arguments:
        peptides: the peptides (any case).
        source: file they were read from (used in error messages).
        lines: their line numbers in ``source`` (used in error messages).

    Returns:
        The :class:`PeptideBatch`.

    Raises:
        InvalidPeptideError: for the first invalid peptide (see :func:`validate_peptide`).
    """
    if isinstance(peptides, str):
        peptides = [peptides]
    peptides = list(peptides)
    n = len(peptides)
    if n == 0:
        return PeptideBatch([], np.zeros(0, np.int64), [], np.zeros(0, np.uint8),
                            np.zeros(1, np.int64))
    try:
        joined = "\n".join(peptides)
    except TypeError:
        _check_all(peptides, lines, source)
        raise  # pragma: no cover - _check_all raises first
    if not joined.isascii() or joined.count("\n") != n - 1:
        _check_all(peptides, lines, source)
    upper = joined.upper()
    raw = np.frombuffer(upper.encode("ascii"), dtype=np.uint8)
    ok = _VALID[raw] | (raw == ord("\n"))
    lengths = np.fromiter(map(len, peptides), dtype=np.int64, count=n)
    if not ok.all() or not lengths.all():
        _check_all(peptides, lines, source)
    if upper != joined:
        peptides = upper.split("\n")
    codes, uniques = pd.factorize(pd.Series(peptides, dtype=object), sort=False)
    unique = list(uniques)
    ulen = np.fromiter(map(len, unique), dtype=np.int64, count=len(unique))
    offsets = np.zeros(len(unique) + 1, dtype=np.int64)
    np.cumsum(ulen, out=offsets[1:])
    buf = np.frombuffer("".join(unique).encode("ascii"), dtype=np.uint8)
    return PeptideBatch(peptides, codes.astype(np.int64, copy=False), unique, buf, offsets)


def _open_text(path: Path) -> io.TextIOBase:
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def read_peptides(path: str | Path) -> tuple[list[str], list[int]]:
    """Read peptides from a file (see the module docstring for the formats).

    Arguments:
        path: plain or gzip text file.

    Returns:
        ``(peptides, line_numbers)`` (1-based lines), peptides not yet validated.

    Raises:
        FileNotFoundError: if the file does not exist.
        InputFormatError: undecodable file, or a table without a ``peptide`` column.
    """
    path = Path(path)
    peptides: list[str] = []
    lines: list[int] = []
    try:
        with _open_text(path) as fh:
            text = fh.read()
    except (UnicodeDecodeError, gzip.BadGzipFile, EOFError) as e:
        raise InputFormatError(f"cannot read peptides: {e}", path) from None
    all_lines = text.splitlines()
    first = next(
        (i for i, s in enumerate(all_lines) if s.strip() and not s.lstrip().startswith("#")), None
    )
    if first is None:
        return peptides, lines
    header = all_lines[first]
    if "," in header or "\t" in header:
        delim = "\t" if "\t" in header else ","
        rows = csv.reader(all_lines[first:], delimiter=delim)
        names = [h.strip().lower() for h in next(rows)]
        if "peptide" not in names:
            raise InputFormatError(
                f"table has no 'peptide' column (columns: {', '.join(names)})", path, first + 1
            )
        col = names.index("peptide")
        for lineno, row in enumerate(rows, start=first + 2):
            if not row or not any(c.strip() for c in row):
                continue
            if col >= len(row):
                raise InputFormatError(
                    f"row has {len(row)} field(s), expected a 'peptide' field at column {col + 1}",
                    path,
                    lineno,
                )
            peptides.append(row[col].strip())
            lines.append(lineno)
        return peptides, lines
    for lineno, s in enumerate(all_lines[first:], start=first + 1):
        s = s.strip()
        if not s or s.startswith("#"):
            continue
        peptides.append(s)
        lines.append(lineno)
    return peptides, lines


@numba.njit(parallel=True, cache=True)
def _expand(query_unique, hit_off, row_off, query, source):  # pragma: no cover - numba
    for q in numba.prange(query_unique.shape[0]):
        u = query_unique[q]
        a = hit_off[u]
        w = row_off[q]
        for t in range(hit_off[u + 1] - a):
            query[w + t] = q
            source[w + t] = a + t
