"""Cut the inputs of a sharded build into contiguous ranges of whole entries.

One sequential pass per input (decompressing gzip) finds every entry boundary: the end of a
``//`` line (flat files), the start of a ``>`` line (FASTA) or the end of a row (CSV/TSV
tables, whose header is repeated in every piece). It also records how many lines precede each
boundary (so that a piece's line numbers can be translated back to the input's) and a weight
per entry: the residues of its ``SQ`` line for flat files, its bytes for FASTA and tables (an
upper bound of its residues). Gzip inputs are decompressed once into a staging file so that
every piece is a plain byte range that any worker can read with ``seek``.

:func:`plan` then cuts the concatenation of all inputs' entries into N shards of about equal
weight (``n_shards``) or greedily into shards of at most R residues (``shard_residues``), and
:func:`write_piece` copies one byte range into a file that :func:`kb.build.build` reads.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kb.errors import InputFormatError, KBError
from kb.flatfile import last_entry_end
from kb.gzipio import GZIP_ERRORS, GZIP_MAGIC, gzip_reader

__all__ = ["MAX_SHARD_RESIDUES", "Piece", "ScannedInput", "scan_input", "plan", "write_piece"]

#: Hard limit of residues (separators included) of one shard: the k-mer index stores
#: ``int32``/``int64`` positions, but a shard is meant to stay under 2^32 bytes of residues.
MAX_SHARD_RESIDUES = 2**32 - 1
_BLOCK = 8 << 20
_FLAT_END = re.compile(rb"^//[ \t\r]*(?:\n|\Z)", re.M)
_FASTA_START = re.compile(rb"^>", re.M)
_SQ = re.compile(rb"^SQ   SEQUENCE +(\d+) AA;", re.M)


@dataclass(frozen=True)
class ScannedInput:
    """One input after :func:`scan_input`.

    Attributes:
        path: the input as given.
        fmt: ``flatfile``, ``fasta`` or ``table``.
        plain: a plain (uncompressed) file with the input's bytes: the input itself, or its
            decompressed copy in the staging directory.
        bounds: ``int64`` byte offsets in ``plain``; entry ``i`` is ``[bounds[i], bounds[i+1])``.
        lines: newlines before each of ``bounds`` (``int64``, same length).
        weights: residues (flat files) or bytes (FASTA, tables) of each entry.
        header: the header line of a table (``b""`` otherwise), repeated in every piece.
        size: bytes of the input as stored; sha256: of the input as stored.
    """

    path: Path
    fmt: str
    plain: Path
    bounds: np.ndarray
    lines: np.ndarray
    weights: np.ndarray
    header: bytes
    size: int
    sha256: str

    @property
    def n_entries(self) -> int:
        return int(self.bounds.shape[0] - 1)


@dataclass(frozen=True)
class Piece:
    """A byte range of one input, to be written as one input file of a shard's build.

    Attributes:
        source: index of the input in the scanned list.
        path: the plain file to read; start, end: the byte range.
        header: bytes written before the range (a table's header).
        fmt: the input's format.
        line_shift: add it to a line number of the piece file to get the input's line.
        entries: entries (planned) in the range.
    """

    source: int
    path: str
    start: int
    end: int
    header: bytes
    fmt: str
    line_shift: int
    entries: int


class _HashingReader:
    """A raw file whose bytes are hashed as they are read."""

    def __init__(self, raw):
        self.raw = raw
        self.sha256 = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.sha256.update(data)
        return data

    def readinto(self, buffer) -> int:
        n = self.raw.readinto(buffer)
        if n:
            self.sha256.update(memoryview(buffer)[:n])
        return n

    def readable(self) -> bool:
        return True


def _cut_of(data: bytes, fmt: str) -> int:
    """Offset just after the last complete entry boundary of ``data`` (0 if none)."""
    if fmt == "flatfile":
        return last_entry_end(data)
    if fmt == "fasta":
        return data.rfind(b"\n>") + 1
    return data.rfind(b"\n") + 1


def _boundaries(chunk: bytes, fmt: str) -> list[int]:
    """Offsets in ``chunk`` where a new entry begins (flat file: after a ``//`` line; FASTA: at
    a ``>``; table: after a newline)."""
    if fmt == "flatfile":
        return [m.end() for m in _FLAT_END.finditer(chunk)]
    if fmt == "fasta":
        return [m.start() for m in _FASTA_START.finditer(chunk)]
    return (np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == 10) + 1).tolist()


def scan_input(path: str | Path, fmt: str, staging: Path, name: str) -> ScannedInput:
    """Find the entry boundaries of one input (see the module docstring).

    Arguments:
        path: the input (plain or gzip).
        fmt: its format.
        staging: directory for the decompressed copy of a gzip input.
        name: file name of that copy.

    Raises:
        InputFormatError: a corrupt gzip stream, or no entry at all.
    """
    path = Path(path)
    cuts: list[np.ndarray] = []
    cut_lines: list[np.ndarray] = []
    sq_pos: list[int] = []
    sq_len: list[int] = []
    header = b""
    with open(path, "rb") as raw_file:
        raw = _HashingReader(raw_file)
        gz = raw_file.read(2) == GZIP_MAGIC
        raw_file.seek(0)
        stream = gzip_reader(raw) if gz else raw
        plain = staging / name if gz else path
        out = open(plain, "wb") if gz else None  # noqa: SIM115 - closed below
        try:
            pos = 0  # absolute offset of data[0]
            newlines = 0  # newlines before pos
            carry = b""
            first = True
            while True:
                try:
                    block = stream.read(_BLOCK)
                except GZIP_ERRORS as e:
                    raise InputFormatError(f"truncated or corrupt gzip data ({e})", path) from None
                if out is not None and block:
                    out.write(block)
                data = carry + block
                if first and fmt == "table":
                    nl = data.find(b"\n")
                    if nl < 0 and block:
                        carry = data
                        continue
                    header = data[: nl + 1] if nl >= 0 else data
                    pos, newlines, data = len(header), header.count(b"\n"), data[len(header):]
                first = False
                cut = len(data) if not block else _cut_of(data, fmt)
                if block and cut == 0:
                    carry = data
                    continue
                chunk = data[:cut]
                rel = np.asarray(_boundaries(chunk, fmt), dtype=np.int64)
                nlpos = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == 10)
                cuts.append(rel + pos)
                cut_lines.append(np.searchsorted(nlpos, rel, side="left") + newlines)
                if fmt == "flatfile":
                    for m in _SQ.finditer(chunk):
                        sq_pos.append(pos + m.start())
                        sq_len.append(int(m.group(1)))
                pos += cut
                newlines += int(nlpos.shape[0])
                carry = data[cut:]
                if not block:
                    break
        finally:
            if out is not None:
                out.close()
        digest = raw.sha256.hexdigest() if not raw_file.read(1) else None
    size = path.stat().st_size
    if digest is None:  # pragma: no cover - the reader always reaches the end
        from kb.build import sha256_file

        digest = sha256_file(path)
    total = pos
    begin = len(header)
    all_cuts = np.concatenate(cuts) if cuts else np.zeros(0, np.int64)
    all_lines = np.concatenate(cut_lines) if cut_lines else np.zeros(0, np.int64)
    inside = (all_cuts > begin) & (all_cuts < total)
    bounds = np.concatenate([[begin], all_cuts[inside], [total]]).astype(np.int64)
    lines = np.concatenate([[header.count(b"\n")], all_lines[inside], [newlines]])
    keep = np.concatenate([[True], np.diff(bounds) > 0])  # no empty entries
    bounds, lines = bounds[keep], lines[keep].astype(np.int64)
    if bounds.shape[0] > 2 and _blank(plain, int(bounds[-2]), int(bounds[-1])):
        bounds, lines = np.delete(bounds, -2), np.delete(lines, -2)  # trailing blank lines
    if bounds.shape[0] < 2:
        raise InputFormatError("empty input (no entries)", path)
    n = bounds.shape[0] - 1
    if fmt == "flatfile":
        owner = np.searchsorted(bounds, np.asarray(sq_pos, dtype=np.int64), side="right") - 1
        weights = np.bincount(np.clip(owner, 0, n - 1), weights=np.asarray(sq_len, np.float64),
                              minlength=n).astype(np.int64)
    else:
        weights = np.diff(bounds)
    return ScannedInput(path, fmt, plain, bounds, lines, weights, header, size, digest)


def _blank(path: Path, start: int, end: int) -> bool:
    """Whether ``path[start:end]`` is only white space (checked up to 1 MB)."""
    if end - start > 1 << 20:
        return False
    with open(path, "rb") as fh:
        fh.seek(start)
        return not fh.read(end - start).strip()


def plan(
    inputs: list[ScannedInput], n_shards: int | None = None, shard_residues: int | None = None
) -> list[list[Piece]]:
    """Cut the entries of ``inputs`` (in order) into shards of contiguous entries.

    Arguments:
        inputs: the scanned inputs.
        n_shards: number of shards of about equal weight (residues), or
        shard_residues: the most residues of one shard (greedy).

    Returns:
        Per shard, its pieces (one per input it covers).

    Raises:
        KBError: bad options, fewer entries than shards, or a shard over the residue limit.
    """
    if (n_shards is None) == (shard_residues is None):
        raise KBError("give exactly one of --shards N and --shard-residues R")
    weights = np.concatenate([s.weights for s in inputs]) + 1  # + 1: the separator byte
    n_entries = int(weights.shape[0])
    cum = np.cumsum(weights)
    if n_shards is not None:
        if isinstance(n_shards, bool) or int(n_shards) != n_shards or n_shards < 1:
            raise KBError(f"--shards must be an integer >= 1, got {n_shards!r}")
        n_shards = int(n_shards)
        if n_shards > n_entries:
            raise KBError(f"--shards {n_shards}: the inputs have only {n_entries} entries")
        targets = cum[-1] * np.arange(1, n_shards) / n_shards
        cuts = np.searchsorted(cum, targets, side="left") + 1
        for i in range(cuts.shape[0]):  # every shard gets at least one entry
            low = (cuts[i - 1] if i else 0) + 1
            cuts[i] = min(max(cuts[i], low), n_entries - (n_shards - 1 - i))
        ends = [*cuts.tolist(), n_entries]
    else:
        limit = float(shard_residues)
        if not np.isfinite(limit) or limit < 1:
            raise KBError(f"--shard-residues must be >= 1, got {shard_residues!r}")
        ends = []
        start = 0
        while start < n_entries:
            before = cum[start - 1] if start else 0
            end = max(int(np.searchsorted(cum, before + limit, side="right")), start + 1)
            ends.append(end)
            start = end
    shard_bounds = np.asarray([0, *ends], dtype=np.int64)
    sizes = cum[shard_bounds[1:] - 1] - np.concatenate([[0], cum[shard_bounds[1:-1] - 1]])
    if sizes.max() > MAX_SHARD_RESIDUES:
        worst = int(np.argmax(sizes))
        raise KBError(
            f"shard {worst} would hold about {int(sizes[worst]):,} residues, over the limit of "
            f"{MAX_SHARD_RESIDUES:,}: use more shards (or a smaller --shard-residues)"
        )
    first_entry = np.concatenate([[0], np.cumsum([s.n_entries for s in inputs])])
    shards: list[list[Piece]] = []
    for a, b in zip(shard_bounds[:-1].tolist(), shard_bounds[1:].tolist(), strict=True):
        pieces = []
        for j, s in enumerate(inputs):
            lo, hi = max(a, int(first_entry[j])), min(b, int(first_entry[j + 1]))
            if lo >= hi:
                continue
            la, lb = lo - int(first_entry[j]), hi - int(first_entry[j])
            shift = int(s.lines[la]) - s.header.count(b"\n")
            pieces.append(Piece(j, str(s.plain), int(s.bounds[la]), int(s.bounds[lb]), s.header,
                                s.fmt, shift, lb - la))
        shards.append(pieces)
    return shards


def write_piece(piece: Piece, dest: Path, chunk: int = _BLOCK) -> None:
    """Copy ``piece`` (header, then its byte range) into the new file ``dest``."""
    with open(piece.path, "rb") as src, open(dest, "wb") as out:
        out.write(piece.header)
        src.seek(piece.start)
        left = piece.end - piece.start
        while left > 0:
            data = src.read(min(chunk, left))
            if not data:
                raise InputFormatError(
                    f"ends before byte {piece.end} (was it changed during the build?)", piece.path
                )
            out.write(data)
            left -= len(data)
