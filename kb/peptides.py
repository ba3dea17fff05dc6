"""Peptide batches: reading, validation (upper-casing), de-duplication and byte encoding.

A batch is validated in one vectorised pass: peptides are upper-cased, must be non-empty and
made only of :data:`kb.alphabet.SEQUENCE_LETTERS` (the 20 amino acids plus ``BZJUOX``).
An invalid peptide raises :class:`~kb.errors.InvalidPeptideError` naming the peptide and where
it came from (the line of the input file, or its position in the argument list).

Input files (:func:`read_peptide_input`), plain or gzip-compressed, or ``-`` for standard
input; a UTF-8 byte-order mark is accepted:

* one peptide per line; surrounding white space is stripped, blank lines and lines starting
  with ``#`` are skipped; a first line ``peptide`` or ``Peptide`` (also ``peptides``,
  ``sequence``; not in upper case: ``PEPTIDE`` is a peptide) is a header;
* a CSV/TSV table (recognised when its first non-comment line contains a ``,`` or a tab)
  with a header row that has a ``peptide`` column (case-insensitive) and optionally an id
  column (``query_id``, ``id``, ``peptide_id``, ``name``, ``identifier``); other columns are
  ignored;
* FASTA: one peptide per record, the id from the header.

The user's ids and the peptides as written travel beside the results
(:func:`query_columns`: ``query_id``, ``input_peptide``).
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
import pandas as pd
import pyarrow as pa

from kb.alphabet import SEQUENCE_LETTERS
from kb.errors import InputFormatError, InvalidPeptideError

__all__ = [
    "DistinctPeptides",
    "ID_COLUMNS",
    "PEPTIDE_COLUMNS",
    "PeptideBatch",
    "PeptideInput",
    "prepare_peptides",
    "query_columns",
    "read_peptide_input",
    "read_peptides",
    "validate_peptide",
]

_VALID = np.zeros(256, dtype=bool)
for _c in SEQUENCE_LETTERS:
    _VALID[ord(_c)] = True
_EXPECTED = "".join(sorted(SEQUENCE_LETTERS))


@dataclass(frozen=True)
class DistinctPeptides:
    """A run of a batch's distinct peptides, as a search needs them (no per-query lists).

    What a shard search task receives: small to send, nothing to validate again.

    Attributes:
        buf: the peptides concatenated (``uint8`` ASCII, upper case, validated).
        offsets: ``int64`` offsets into ``buf`` (``n_unique + 1``, starting at 0).
        first: index of the first of them among the batch's distinct peptides.
    """

    buf: np.ndarray
    offsets: np.ndarray
    first: int = 0

    @property
    def n_unique(self) -> int:
        """Number of peptides."""
        return int(self.offsets.shape[0] - 1)

    @property
    def unique(self) -> list[str]:
        """The peptides as strings."""
        raw = self.buf.tobytes().decode("ascii")
        off = self.offsets.tolist()
        return [raw[a:b] for a, b in zip(off[:-1], off[1:], strict=True)]


@dataclass(frozen=True)
class PeptideBatch:
    """A validated batch of peptides.

    Attributes:
        peptides: the upper-cased peptides, in input order (one per query).
        query_unique: ``int64`` array, for each query the index of its distinct peptide.
        first_query: ``int64`` array, for each distinct peptide its first query.
        buf: the distinct peptides concatenated (``uint8`` ASCII), in order of first
            appearance.
        offsets: ``int64`` offsets of the distinct peptides in ``buf`` (``n_unique + 1``).
    """

    peptides: list[str]
    query_unique: np.ndarray
    first_query: np.ndarray
    buf: np.ndarray
    offsets: np.ndarray

    @property
    def unique(self) -> list[str]:
        """The distinct peptides, in order of first appearance."""
        return [self.peptides[q] for q in self.first_query.tolist()]

    @property
    def n_unique(self) -> int:
        """Number of distinct peptides."""
        return int(self.offsets.shape[0] - 1)

    def unique_array(self) -> pa.StringArray:
        """The distinct peptides as a pyarrow string array (zero-copy over ``buf``)."""
        offsets = self.offsets.astype(np.int32 if self.buf.shape[0] < 2**31 else np.int64)
        kind = pa.string() if offsets.dtype == np.int32 else pa.large_string()
        return pa.Array.from_buffers(
            kind, self.n_unique, [None, pa.py_buffer(offsets), pa.py_buffer(self.buf)]
        )

    def __len__(self) -> int:
        return len(self.peptides)

    def distinct(self, start: int = 0, stop: int | None = None) -> DistinctPeptides:
        """Distinct peptides ``start:stop`` (a view of ``buf``; no copy of the peptides)."""
        n = self.n_unique
        start = min(max(start, 0), n)
        stop = n if stop is None else min(max(stop, start), n)
        a, b = int(self.offsets[start]), int(self.offsets[stop])
        return DistinctPeptides(self.buf[a:b], self.offsets[start:stop + 1] - a, start)

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
        empty = np.zeros(0, np.int64)
        return PeptideBatch([], empty, empty, np.zeros(0, np.uint8), np.zeros(1, np.int64))
    try:
        joined = "\n".join(peptides)
    except TypeError:
        _check_all(peptides, lines, source)
        raise  # pragma: no cover - _check_all raises first
    if not joined.isascii():
        _check_all(peptides, lines, source)
    upper = joined.upper()
    raw = np.frombuffer(upper.encode("ascii"), dtype=np.uint8)
    newline = raw == ord("\n")
    seps = np.flatnonzero(newline)
    if seps.shape[0] != n - 1 or not (_VALID[raw] | newline).all():
        _check_all(peptides, lines, source)
    starts = np.empty(n, dtype=np.int64)
    starts[0] = 0
    starts[1:] = seps + 1
    ends = np.empty(n, dtype=np.int64)
    ends[:-1] = seps
    ends[-1] = raw.shape[0]
    lengths = ends - starts
    if not lengths.all():
        _check_all(peptides, lines, source)
    if upper != joined:
        peptides = upper.split("\n")
    query_unique, first_query = _deduplicate(raw, starts, lengths)
    if query_unique is None:  # a 64-bit hash collision: exact (slower) de-duplication
        codes, _ = pd.factorize(pd.Series(peptides, dtype=object), sort=False)
        query_unique = codes.astype(np.int64)
        first_query = np.unique(query_unique, return_index=True)[1].astype(np.int64)
    ulen = lengths[first_query]
    offsets = np.zeros(first_query.shape[0] + 1, dtype=np.int64)
    np.cumsum(ulen, out=offsets[1:])
    buf = np.empty(int(offsets[-1]), dtype=np.uint8)
    _gather(raw, starts[first_query], ulen, offsets, buf)
    return PeptideBatch(peptides, query_unique, first_query, buf, offsets)


def _deduplicate(raw, starts, lengths):
    """(query -> distinct index, distinct -> first query), distinct in first-appearance order.

    Peptides are grouped by a 64-bit hash and the grouping is verified byte by byte; returns
    ``(None, None)`` on a collision (never seen in practice).
    """
    hashes = np.empty(starts.shape[0], dtype=np.uint64)
    _hash(raw, starts, lengths, hashes)
    _, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # hash order -> first-appearance order
    rank = np.empty_like(order)
    rank[order] = np.arange(order.shape[0])
    query_unique = rank[inverse.ravel()].astype(np.int64)
    first_query = first[order].astype(np.int64)
    if not _same_as_first(raw, starts, lengths, query_unique, first_query):
        return None, None
    return query_unique, first_query


@numba.njit(parallel=True, cache=True)
def _hash(raw, starts, lengths, out):  # pragma: no cover - numba
    """FNV-1a 64-bit hash of every peptide."""
    for i in numba.prange(starts.shape[0]):
        h = np.uint64(14695981039346656037)
        a = starts[i]
        for j in range(lengths[i]):
            h = (h ^ np.uint64(raw[a + j])) * np.uint64(1099511628211)
        out[i] = h


@numba.njit(cache=True)
def _same_as_first(raw, starts, lengths, query_unique, first_query):  # pragma: no cover
    for q in range(starts.shape[0]):
        f = first_query[query_unique[q]]
        if f == q:
            continue
        if lengths[q] != lengths[f]:
            return False
        a = starts[q]
        b = starts[f]
        for j in range(lengths[q]):
            if raw[a + j] != raw[b + j]:
                return False
    return True


@numba.njit(parallel=True, cache=True)
def _gather(raw, starts, lengths, offsets, buf):  # pragma: no cover - numba
    for u in numba.prange(starts.shape[0]):
        a = starts[u]
        w = offsets[u]
        for j in range(lengths[u]):
            buf[w + j] = raw[a + j]


#: Column names (case-insensitive) of the peptide column of a peptide table; a one-column
#: file whose first line is one of these has a header line.
PEPTIDE_COLUMNS = ("peptide", "peptides", "sequence")
#: Column names (case-insensitive) of the id column of a peptide table (first found wins).
ID_COLUMNS = ("query_id", "id", "peptide_id", "name", "identifier")


@dataclass(frozen=True)
class PeptideInput:
    """Peptides read from a file, as the user wrote them (not yet validated).

    Attributes:
        peptides: the peptides, surrounding white space stripped, case kept.
        lines: 1-based line of each peptide in the file.
        ids: the user's id of each peptide (id column of a table, FASTA header id), or None.
        source: the file name (``<stdin>`` for ``-``).
    """

    peptides: list[str]
    lines: list[int]
    ids: list[str] | None
    source: str


def read_peptide_input(path: str | Path) -> PeptideInput:
    """Read peptides with their ids from a file (``-``: standard input), plain or gzip.

    Formats (a UTF-8 byte-order mark is accepted):

    * FASTA (first line starts with ``>``): one peptide per record, the id from the header
      (:mod:`kb.fasta`: ``sp|ACC|NAME`` -> ``ACC``);
    * a CSV/TSV table (its first non-comment line holds a ``,`` or a tab) with a header row
      naming a peptide column (:data:`PEPTIDE_COLUMNS`) and optionally an id column
      (:data:`ID_COLUMNS`); other columns are ignored;
    * a plain list, one peptide per line; blank lines and ``#`` comments are skipped; a first
      line that is a column name of :data:`PEPTIDE_COLUMNS` not in upper case (``peptide``,
      ``Peptide``) is a header (``PEPTIDE`` is a peptide).

    Raises:
        FileNotFoundError: the file does not exist.
        InputFormatError: undecodable file, a table without a peptide column, a short row.
    """
    from kb.fasta import open_binary, parse_fasta

    name = "<stdin>" if str(path) == "-" else str(path)
    try:
        with open_binary(path) as fh:
            data = fh.read()
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise InputFormatError(f"cannot read peptides: not UTF-8 text ({e.reason})", name,
                               line) from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise InputFormatError(f"cannot read peptides: {e}", name) from None
    all_lines = text.splitlines()
    first = next(
        (i for i, s in enumerate(all_lines) if s.strip() and not s.lstrip().startswith("#")), None
    )
    if first is None:
        return PeptideInput([], [], None, name)
    header = all_lines[first]
    if header.lstrip().startswith(">"):
        records = list(parse_fasta(io.BytesIO(text.encode("utf-8")), letters=None, name=name))
        return PeptideInput([r.sequence for r in records], [r.line for r in records],
                            [r.id for r in records], name)
    if "," in header or "\t" in header:
        return _read_peptide_table(all_lines, first, "\t" if "\t" in header else ",", name)
    word = header.strip()
    start = first + 1 if word.lower() in PEPTIDE_COLUMNS and not word.isupper() else first
    peptides: list[str] = []
    lines: list[int] = []
    for lineno, s in enumerate(all_lines[start:], start=start + 1):
        s = s.strip()
        if not s or s.startswith("#"):
            continue
        peptides.append(s)
        lines.append(lineno)
    return PeptideInput(peptides, lines, None, name)


def _read_peptide_table(all_lines: list[str], first: int, delim: str, name: str) -> PeptideInput:
    rows = csv.reader(all_lines[first:], delimiter=delim)
    names = [h.strip().lower() for h in next(rows)]
    col = next((names.index(c) for c in PEPTIDE_COLUMNS if c in names), None)
    if col is None:
        raise InputFormatError(
            f"table has no peptide column ({'/'.join(PEPTIDE_COLUMNS)}; columns: "
            f"{', '.join(names)})", name, first + 1,
        )
    id_col = next((names.index(c) for c in ID_COLUMNS if c in names), None)
    peptides: list[str] = []
    lines: list[int] = []
    ids: list[str] = []
    for lineno, row in enumerate(rows, start=first + 2):
        if not row or not any(c.strip() for c in row):
            continue
        need = max(col, id_col if id_col is not None else 0)
        if need >= len(row):
            raise InputFormatError(
                f"row has {len(row)} field(s), expected at least {need + 1} (peptide column "
                f"{col + 1})", name, lineno,
            )
        peptides.append(row[col].strip())
        lines.append(lineno)
        if id_col is not None:
            ids.append(row[id_col].strip())
    return PeptideInput(peptides, lines, ids if id_col is not None else None, name)


def read_peptides(path: str | Path) -> tuple[list[str], list[int]]:
    """Peptides of a file and their line numbers (see :func:`read_peptide_input`).

    Returns:
        ``(peptides, line_numbers)`` (1-based lines), peptides not yet validated.
    """
    got = read_peptide_input(path)
    return got.peptides, got.lines


def query_columns(
    table: pa.Table, inputs: Sequence[str], ids: Sequence[str | None] | None = None
) -> pa.Table:
    """Add the user's view of each query to a result table with a ``query`` column.

    Arguments:
        table: rows with a ``query`` column (index into ``inputs``).
        inputs: the peptides as the user wrote them, one per query.
        ids: the user's id of each query (``None``: no ids).

    Returns:
        ``table`` with ``query_id`` (string; null without ids) and ``input_peptide`` (the
        peptide as written) appended.
    """
    q = pa.array(np.asarray(table.column("query"), dtype=np.int64)) if table.num_rows else \
        pa.array([], pa.int64())
    id_arr = pa.array(list(ids) if ids is not None else [None] * len(inputs), type=pa.string())
    table = table.append_column("query_id", id_arr.take(q))
    return table.append_column("input_peptide", pa.array(list(inputs), pa.string()).take(q))


@numba.njit(parallel=True, cache=True)
def _expand(query_unique, hit_off, row_off, query, source):  # pragma: no cover - numba
    for q in numba.prange(query_unique.shape[0]):
        u = query_unique[q]
        a = hit_off[u]
        w = row_off[q]
        for t in range(hit_off[u + 1] - a):
            query[w + t] = q
            source[w + t] = a + t
