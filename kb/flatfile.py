"""Streaming, fast parser of UniProtKB flat files (``uniprot_sprot.dat[.gz]``, TrEMBL too).

The format is the UniProtKB/Swiss-Prot user manual's ("UniProt Knowledgebase user manual",
https://www.uniprot.org/docs/userman.htm): one entry is a run of lines, each starting with a
two-letter line code (``ID``, ``AC``, ``DE``, ..., ``SQ``, sequence lines starting with
blanks) and ending with a ``//`` line.

Speed: the file is read (and gunzipped, in a background thread) in large byte blocks, cut
into entries at ``//`` lines and every entry is handled as one ``bytes`` object. Only the
fields this project needs are looked for with ``bytes.find`` / compiled regular expressions
(C speed); reference, cross-reference, keyword and other comment lines are never split into
Python lines. The sequence block is cleaned with one ``bytes.translate``. (Parallel parsing
of chunks of whole entries lives in :mod:`kb.build`, which also converts them in the workers.)

Public API: :func:`parse`, :func:`read`,
:func:`parse_subcellular_location`, :class:`FlatFileError`, :data:`FEATURE_TYPES`.
"""

from __future__ import annotations

import io
import os
import queue
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Union

import numpy as np

from kb.alphabet import SEQUENCE_LETTERS
from kb.errors import ErrorSink, InputFormatError, report_error
from kb.gzipio import GZIP_ERRORS, GZIP_MAGIC, gzip_reader
from kb.records import Entry, Feature, Location
from kb.textcodec import TEXT_ERRORS

__all__ = [
    "FEATURE_TYPES",
    "FlatFileError",
    "ErrorSink",
    "parse",
    "read",
    "parse_subcellular_location",
    "last_entry_end",
]

#: Feature keys (``FT`` lines) kept in :attr:`kb.records.Entry.features`; others are skipped.
FEATURE_TYPES: frozenset[str] = frozenset(
    {"SIGNAL", "TRANSIT", "PROPEP", "TRANSMEM", "INTRAMEM", "TOPO_DOM", "MOTIF", "LIPID"}
)

#: Old-style (pre-2014) evidence qualifiers written in parentheses.
_QUALIFIERS = ("By similarity", "Probable", "Potential")

Source = Union[str, os.PathLike, IO[bytes], IO[str]]  # noqa: UP007 (runtime alias, py3.10)
#: Where skipped-entry errors go: a list (appended to) or a callable (called with the error).

_BLOCK = 1 << 22  # 4 MiB of decompressed text per read

# UniProtKB accession format (https://www.uniprot.org/help/accession_numbers), with the
# optional isoform suffix of splice-variant entries ("P21802-2"), plus the legacy
# International Protein Index accessions that old files in the same format carry.
_ACCESSION = re.compile(
    rb"(?:[OPQ][0-9][A-Z0-9]{3}[0-9]|[A-NR-Z][0-9](?:[A-Z][A-Z0-9]{2}[0-9]){1,2})(?:-[0-9]+)?"
    rb"|IPI[0-9]{8}"
)
_FEATURE_LINE = re.compile(
    rb"\nFT   ("
    + b"|".join(sorted(t.encode() for t in FEATURE_TYPES))
    + rb") +([^\n]*)((?:\nFT    [^\n]*)*)"  # key, location, continuation lines
)
_SEQ_DELETE = b" \n\t\r"
_TAXID = re.compile(rb"=\s*([0-9]+)")
_SEQ_LETTERS = "".join(sorted(SEQUENCE_LETTERS)).encode()
_SL_TAG = b"\nCC   -!- SUBCELLULAR LOCATION:"
_EVIDENCE_OR_QUALIFIER = re.compile(r"\{([^}]*)\}|\((By similarity|Probable|Potential)\)")


class FlatFileError(InputFormatError):
    """A malformed entry (or file) in a UniProtKB flat file.

    Attributes:
        path: the file (or ``"<stream>"``).
        line: 1-based line number where the problem is.
        entry: the entry name from the ``ID`` line when it could be read, else ``None``.
    """

    def __init__(self, message: str, path=None, line: int | None = None, entry: str | None = None):
        self.entry = entry
        super().__init__(message, path, line)

    def __reduce__(self):  # picklable across worker processes
        return (type(self), (self.message, self.path, self.line, self.entry))


class _TruncatedAtEOF(FlatFileError):
    """The last entry has no ``//`` line: a whole-file problem, always raised."""


def _truncated(name: str, line: int) -> _TruncatedAtEOF:
    return _TruncatedAtEOF("entry truncated at end of file: no '//' line after it", name, line)


def _unix_newlines(data: bytes) -> bytes:
    """``\\r\\n`` and lone ``\\r`` line ends as ``\\n``."""
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


# --------------------------------------------------------------------------------------------
# Input: plain or gzip, path or handle; decompressed blocks
# --------------------------------------------------------------------------------------------


def _source_name(source: Source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return str(getattr(source, "name", "<stream>"))


class _TextAsBytes(io.RawIOBase):
    """Adapter: a text handle read as UTF-8 bytes."""

    def __init__(self, handle: IO[str]):
        self._h = handle
        self._pending = b""

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            out = self._pending + self._h.read().encode("utf-8")
            self._pending = b""
            return out
        while len(self._pending) < n:
            more = self._h.read(max(n, 1 << 16))
            if not more:
                break
            self._pending += more.encode("utf-8")
        out, self._pending = self._pending[:n], self._pending[n:]
        return out


def _blocks(source: Source, block_size: int = _BLOCK) -> Iterator[bytes]:
    """Yield the decompressed content of ``source`` in blocks of about ``block_size`` bytes.

    Raises:
        InputFormatError: truncated or corrupt gzip data (naming the file).
    """
    name = _source_name(source)
    own = isinstance(source, (str, os.PathLike))
    if own:
        path = Path(source)
        if not path.is_file():
            raise InputFormatError("no such file", path)
        raw: IO[bytes] = open(path, "rb")  # noqa: SIM115 - closed in finally
    else:
        probe = source.read(0)
        raw = _TextAsBytes(source) if isinstance(probe, str) else source  # type: ignore[assignment]
    try:
        head = raw.read(2)
        if raw.seekable():
            raw.seek(-len(head), io.SEEK_CUR)
            src: IO[bytes] = raw
        else:  # a pipe or text adapter: put the two bytes back in front
            src = io.BufferedReader(_Prefixed(head, raw), buffer_size=1 << 20)  # type: ignore[arg-type]
        stream: IO[bytes] = gzip_reader(src) if head == GZIP_MAGIC else src
        try:
            while data := stream.read(block_size):
                yield data
        except GZIP_ERRORS as exc:
            raise InputFormatError(
                f"truncated or corrupt gzip data ({exc.__class__.__name__}: {exc})", name
            ) from None
    finally:
        if own:
            raw.close()


class _Prefixed(io.RawIOBase):
    """A raw stream that first returns ``prefix`` and then the rest of ``raw``."""

    def __init__(self, prefix: bytes, raw: IO[bytes]):
        self._prefix = prefix
        self._raw = raw

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        if self._prefix:
            n = min(len(b), len(self._prefix))
            b[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._raw.read(len(b))
        n = len(data)
        b[:n] = data
        return n


def _prefetch(blocks: Iterator[bytes], depth: int = 2) -> Iterator[bytes]:
    """Run ``blocks`` (reading + gzip decompression) in a background thread.

    The decompressor (:mod:`kb.gzipio`) releases the GIL while inflating, so decompression of
    the next block overlaps with parsing of the current one. Exceptions are re-raised in the
    consumer; closing the consumer stops the thread.
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: tuple) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for block in blocks:
                if not put(("block", block)):
                    return
            put(("done", None))
        except BaseException as exc:  # handed to the consumer
            put(("error", exc))
        finally:
            blocks.close()

    thread = threading.Thread(target=run, name="flatfile-reader", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = q.get()
            if kind == "block":
                yield value
            elif kind == "done":
                return
            else:
                raise value
    finally:
        stop.set()
        thread.join()


def _chunks_of_entries(source: Source, block_size: int = _BLOCK) -> Iterator[bytes]:
    """Cut the decompressed input into chunks that hold whole entries.

    Yields chunks that end right after a ``//`` line (the last one may be the tail of the
    file). Line numbers are counted while the chunks are split into entries.

    Raises:
        InputFormatError: empty input, not a UniProt flat file, truncated gzip.
    """
    name = _source_name(source)
    pending = b""
    checked = False
    held_cr = b""
    for data in _prefetch(_blocks(source, block_size)):
        if held_cr:
            data, held_cr = held_cr + data, b""
        if b"\r" in data:
            if data.endswith(b"\r"):  # its "\n" may start the next block
                data, held_cr = data[:-1], b"\r"
            data = _unix_newlines(data)
        buf = pending + data if pending else data
        if not checked:
            if not buf.strip():
                pending = buf
                continue
            _check_start(buf, name)
            checked = True
        cut = buf.rfind(b"\n//\n")
        if cut < 0:
            pending = buf
            continue
        cut += 4
        chunk, pending = buf[:cut], buf[cut:]
        yield chunk
    if held_cr:
        pending += b"\n"
    if not checked:
        raise InputFormatError("empty input: no UniProt entry found", name)
    if pending.strip():
        yield pending


def _check_start(buf: bytes, name: str) -> None:
    """Raise unless the first non-blank line of ``buf`` (the start of a file) is an ID line."""
    stripped = buf.lstrip()
    if not stripped.startswith(b"ID   "):
        lead = buf[: len(buf) - len(stripped)]
        first = stripped.split(b"\n", 1)[0][:40].decode("utf-8", TEXT_ERRORS)
        raise InputFormatError(
            f"not a UniProt flat file: the first line should start with 'ID   ', found {first!r}",
            name,
            1 + lead.count(b"\n"),
        )


def _entries_of_chunk(
    chunk: bytes, line: int, name: str
) -> tuple[list[tuple[int, int, int]], _TruncatedAtEOF | None, int]:
    """Find the entries of a chunk.

    Returns:
        ``[(start, end, first_line), ...]`` for every entry (``chunk[start:end]`` is its text,
        without its ``//`` line and without the newline before it), the error for trailing
        text without a ``//`` line (only possible at the end of the input) or ``None``, and
        the line number that follows the chunk.
    """
    regular = _entries_of_regular_chunk(chunk, line, name)
    if regular is not None:
        return regular
    out: list[tuple[int, int, int]] = []
    pieces = chunk.split(b"\n//")
    last = len(pieces) - 1
    start = 0  # of the current piece in the chunk
    for i, piece in enumerate(pieces):
        end = start + len(piece)
        skip = 0
        if i > 0:
            # ``piece`` starts with the rest of a ``//`` line: normally just the newline. Some
            # merged real files glue the next ``ID`` line onto ``//`` ("//ID   ..."): accept it.
            if not piece.startswith(b"ID   "):
                nl = piece.find(b"\n")
                if nl < 0:  # "//" at the very end of the data without a newline
                    skip = len(piece)
                else:
                    skip = nl + 1
                    line += 1
        blank = len(piece) - skip - len(piece[skip:].lstrip(b"\n"))  # lines between entries
        skip += blank
        line += blank
        if i == last:
            if piece[skip:].strip():
                return out, _truncated(name, line), line
            break
        out.append((start + skip, end, line))
        line += chunk.count(b"\n", start + skip, end) + 1  # up to the "//" line
        start = end + 3  # past the "\n//" separator
    return out, None, line


def _entries_of_regular_chunk(
    chunk: bytes, line: int, name: str
) -> tuple[list[tuple[int, int, int]], _TruncatedAtEOF | None, int] | None:
    """:func:`_entries_of_chunk` for the usual chunk, in which every ``//`` line is exactly
    ``//`` and followed by the next ``ID`` line (or ends the chunk); ``None`` for any other
    chunk. The newlines are located once with numpy (vectorised): entry ends are the newlines
    followed by ``//\\n``, first lines are their indexes (CPython's ``bytes.find`` and
    ``bytes.count`` scan at ~2 GB/s, about 2.5x slower per chunk)."""
    n = len(chunk)
    if not chunk.startswith(b"ID   ") or chunk.endswith(b"\n//"):
        return None
    a = np.frombuffer(chunk, dtype=np.uint8)
    nl = np.flatnonzero(a == 10)
    p = nl[nl + 3 < n]
    slashes = (a[p + 1] == 47) & (a[p + 2] == 47)  # a line starting with "//"
    ends_mask = slashes & (a[p + 3] == 10)
    if not np.array_equal(slashes, ends_mask):  # a "//" line with more on it
        return None
    idx = np.flatnonzero(ends_mask)  # index (among the newlines) of each entry's last newline
    ends = p[idx]
    nxt = ends + 4  # where the next entry starts
    follow = nxt[nxt < n]
    if follow.shape[0] and not _starts_with_id(a, follow):
        return None
    if ends.shape[0] == 0:  # one entry without its "//" line (only at the end of the input)
        return [], _truncated(name, line), line
    starts = np.concatenate(([0], nxt[:-1]))
    firsts = line + np.concatenate(([0], idx[:-1] + 2))
    out = list(zip(starts.tolist(), ends.tolist(), firsts.tolist(), strict=True))
    next_line = line + int(idx[-1]) + 2
    if nxt[-1] < n:  # text after the last "//" line: an entry without its own
        return out, _truncated(name, next_line), next_line
    return out, None, next_line


def _starts_with_id(a: np.ndarray, at: np.ndarray) -> bool:
    """True when ``a[i:i + 5] == b"ID   "`` for every ``i`` of ``at``."""
    ok = np.ones(at.shape[0], dtype=bool)
    for k, ch in enumerate(b"ID   "):
        j = at + k
        inside = j < a.shape[0]
        ok &= inside & (a[np.minimum(j, a.shape[0] - 1)] == ch)
    return bool(ok.all())


# --------------------------------------------------------------------------------------------
# One entry
# --------------------------------------------------------------------------------------------


def _line_of(t: bytes, pos: int, first: int) -> int:
    """Line number of the line that contains byte ``pos`` (a ``\\n`` counts as its line end)."""
    return first + t.count(b"\n", 0, pos)


def _strip_evidence(s: str) -> str:
    i = s.find(" {")
    if i < 0 and s.startswith("{"):
        i = 0
    return (s[:i] if i >= 0 else s).strip()


def _join_wrapped(lines: Iterable[str]) -> str:
    """Join wrapped text lines: UniProt breaks lines after a hyphen without a space."""
    out = ""
    for ln in lines:
        ln = ln.strip()
        if not ln:
            continue
        if not out:
            out = ln
        elif out.endswith("-"):
            out += ln
        else:
            out += " " + ln
    return out


def _old_qualifier(desc: str) -> tuple[str | None, str | None]:
    """Split an old-style description into (description, qualifier or evidence).

    ``"1 (By similarity)."`` -> ``("1", "By similarity")``; the 2014-2019 column format
    ``"Helical. {ECO:0000255|HAMAP-Rule:MF_04083}."`` -> ``("Helical", "ECO:0000255|...")``.
    """
    desc = desc.strip().rstrip(".").strip()
    brace = desc.find("{")
    if brace >= 0 and desc.endswith("}"):
        d = desc[:brace].strip().rstrip(".").strip()
        return d or None, desc[brace + 1 : -1].strip() or None
    if desc in _QUALIFIERS:
        return None, desc
    for q in _QUALIFIERS:
        tail = f"({q})"
        if desc.endswith(tail):
            d = desc[: -len(tail)].strip()
            return d or None, q
    return desc or None, None


def _pos_b(tok: bytes) -> int | None:
    tok = tok.strip().strip(b"<>?")
    if b":" in tok:  # position on another isoform "P12345-2:10"
        tok = tok.rsplit(b":", 1)[1]
    return int(tok) if tok.isdigit() else None


def _qualifier(block: bytes, key: bytes) -> str | None:
    """Value of the qualifier ``key`` (``b'/note="'``) in a feature's continuation lines."""
    i = block.find(key)
    if i < 0:
        return None
    i += len(key)
    j = block.find(b'"', i)
    value = block[i:j] if j >= 0 else block[i:]
    if b"\n" in value:  # wrapped over several "FT" lines
        lines = value.split(b"\n")
        text = _join_wrapped(
            [lines[0].decode("utf-8", TEXT_ERRORS)]
            + [x[2:].decode("utf-8", TEXT_ERRORS) for x in lines[1:]]
        )
        return text
    return value.decode("utf-8", TEXT_ERRORS)


def _feature(kind: str, rest: bytes, block: bytes) -> Feature:
    """One ``FT`` feature in the modern (``1..23`` + qualifiers) or old (columns) format.

    Args:
        kind: the feature key.
        rest: the rest of the key line (the location; old format: from, to, description).
        block: the continuation lines (``\\nFT    ...``), possibly empty.
    """
    loc = rest.strip()
    if b" " not in loc:  # modern: "FT   SIGNAL          1..23" then '/qual="..."' lines
        a, sep, b = loc.partition(b"..")
        start = _pos_b(a)
        end = _pos_b(b) if sep else start
        if not block:
            return Feature(kind, start, end)
        return Feature(
            kind, start, end, _qualifier(block, b'/note="'), _qualifier(block, b'/evidence="')
        )
    # old: "FT   TRANSMEM     20     40       1 (By similarity)." + continuation lines
    parts = loc.decode("utf-8", TEXT_ERRORS).split()
    start = _pos_b(parts[0].encode()) if parts else None
    end = _pos_b(parts[1].encode()) if len(parts) > 1 else start
    words = [" ".join(parts[2:])]
    for raw in block.split(b"\n")[1:]:
        text = raw[2:].decode("utf-8", TEXT_ERRORS).strip()
        if text.startswith("/"):  # "/FTId=PRO_0000164920."
            continue
        words.append(text)
    desc, qualifier = _old_qualifier(_join_wrapped(words))
    return Feature(kind, start, end, desc, qualifier)


_FEATURE_NAMES = {t.encode(): t for t in FEATURE_TYPES}


def _parse_entry(t: bytes, first: int, name: str, start: int = 0, end: int | None = None
                 ) -> Entry:
    """Parse one entry text (without its ``//`` line): ``t``, or the span ``t[start:end]``
    of a chunk (no copy of the entry; the line numbers of errors are then only exact for
    ``start == 0``: callers parse a failing span again as its own text).

    One ``_read_xx`` function per line type (as Biopython's ``Bio.SwissProt`` parser): the
    header lines (AC .. OX) are split once and dispatched on their code; the sequence,
    comments and features are found by searching the entry text.

    Raises:
        FlatFileError: the entry is malformed (with the line of the problem).
    """
    if end is None:
        end = len(t)
    nl = t.find(b"\n", start, end)
    if nl < 0:
        nl = end
    entry_name, reviewed, id_len = _read_id(t[start:nl], name, first)
    hdr_end = _header_end(t, nl, end)
    ac_lines, de_lines, gn_lines, os_lines, oc_lines, ox_line = _header_lines(t[nl + 1 : hdr_end])
    accessions = _read_ac(ac_lines, t, name, first, entry_name)
    sq = t.rfind(b"\nSQ   ", start, end)
    sequence = _read_sq(t, sq, id_len, name, first, entry_name, end)
    sl_texts, locations = _read_cc_subcellular(t, hdr_end, sq)
    return Entry(
        accession=accessions[0].decode(),
        sequence=sequence,
        secondary_accessions=[a.decode() for a in accessions[1:]],
        entry_name=entry_name,
        reviewed=reviewed,
        protein_name=_read_de(de_lines),
        gene=_read_gn(gn_lines),
        organism=_read_joined(os_lines),
        taxon_id=_read_ox(ox_line),
        lineage=_read_joined(oc_lines),
        locations=locations,
        subcellular_location_text="\n".join(sl_texts) if sl_texts else None,
        features=_read_ft(t, hdr_end, sq),
        line=first,
    )


def _read_id(id_line: bytes, name: str, first: int) -> tuple[str | None, bool | None, int]:
    """The ID line: (entry name, reviewed, sequence length); modern and pre-2009 forms."""
    if not id_line.startswith(b"ID   "):
        raise FlatFileError(
            "expected an 'ID' line starting the entry, found "
            f"{id_line[:40].decode('utf-8', 'replace')!r}",
            name,
            first,
        )
    toks = id_line.split()
    entry_name = toks[1].decode("utf-8", TEXT_ERRORS) if len(toks) > 1 else None
    reviewed: bool | None = None
    ok = len(toks) in (5, 6) and toks[-1] == b"AA." and toks[-2].isdigit()
    if ok and len(toks) == 5:  # modern: ID   NAME   Reviewed;   172 AA.
        status = toks[2]
        ok = status in (b"Reviewed;", b"Unreviewed;")
        reviewed = status == b"Reviewed;"
    elif ok:  # old: ID   NAME   STANDARD;   PRT;   380 AA.
        ok = toks[3] == b"PRT;" and toks[2].endswith(b";")
        reviewed = {b"STANDARD;": True, b"PRELIMINARY;": False}.get(toks[2])
    if not ok:
        raise FlatFileError(
            "malformed ID line: expected 'ID   ENTRY_NAME   Reviewed;|Unreviewed;   LENGTH AA.'"
            f", found {id_line.decode('utf-8', 'replace')!r}",
            name,
            first,
            entry_name,
        )
    return entry_name, reviewed, int(toks[-2])


def _header_end(t: bytes, nl: int, end: int) -> int:
    """End of the header block AC .. OX: the first reference, comment or sequence header."""
    for tag in (b"\nRN   ", b"\nCC   ", b"\nSQ   "):
        pos = t.find(tag, nl, end)
        if pos >= 0:
            return pos
    return end


def _header_lines(header: bytes) -> tuple[
    list[bytes], list[bytes], list[bytes], list[bytes], list[bytes], bytes | None
]:
    """One split of the ~15 header lines, dispatched on the line code: the AC, DE, GN, OS and
    OC lines and the first OX line, without their 5-character prefix."""
    ac_lines: list[bytes] = []
    de_lines: list[bytes] = []
    gn_lines: list[bytes] = []
    os_lines: list[bytes] = []
    oc_lines: list[bytes] = []
    ox_line = None
    for ln in header.split(b"\n"):
        c = ln[:2]
        if c == b"OC":
            oc_lines.append(ln[5:])
        elif c == b"AC":
            ac_lines.append(ln[5:])
        elif c == b"DE":
            de_lines.append(ln[5:])
        elif c == b"GN":
            gn_lines.append(ln[5:])
        elif c == b"OS":
            os_lines.append(ln[5:])
        elif c == b"OX" and ox_line is None:
            ox_line = ln[5:]
    return ac_lines, de_lines, gn_lines, os_lines, oc_lines, ox_line


def _read_ac(
    ac_lines: list[bytes], t: bytes, name: str, first: int, entry_name: str | None
) -> list[bytes]:
    """The accessions, primary first; each checked against the UniProtKB accession format."""
    if not ac_lines:
        raise FlatFileError("missing AC (accession) line", name, first + 1, entry_name)
    accessions = b" ".join(ac_lines).replace(b" ", b"").rstrip(b";").split(b";")
    for a in accessions:
        if not _ACCESSION.fullmatch(a):
            ac_pos = t.find(b"\nAC   ")
            bad_at = t.find(a, ac_pos) if a else ac_pos + 1
            raise FlatFileError(
                f"malformed accession {a.decode('utf-8', 'replace')!r}: expected a UniProtKB "
                "accession such as 'P12345' or 'A0A023GPI8'",
                name,
                _line_of(t, bad_at, first),
                entry_name,
            )
    return accessions


def _read_de(de_lines: list[bytes]) -> str | None:
    """The protein name: ``RecName: Full=`` (else ``SubName``), or an old free-text DE."""
    if not de_lines:
        return None
    for prefix in (b"RecName: Full=", b"SubName: Full="):
        for d in de_lines:
            d = d.strip()
            if d.startswith(prefix):
                return _strip_evidence(d[len(prefix) :].decode("utf-8", TEXT_ERRORS).rstrip(";"))
    if b"Full=" not in de_lines[0]:  # old free-text DE
        text = b" ".join(d.strip() for d in de_lines).decode("utf-8", TEXT_ERRORS)
        return text.rstrip(".").strip() or None
    return None


def _read_gn(gn_lines: list[bytes]) -> str | None:
    """The first gene name (``Name=``), or the first name of an old ``GN   A OR B.`` line."""
    if not gn_lines:
        return None
    gn = b" ".join(gn_lines).decode("utf-8", TEXT_ERRORS)
    if "=" not in gn:  # old style "GN   FOS OR G0S7."
        return gn.split(" OR ")[0].strip().rstrip(".") or None
    for tok in gn.rstrip("; ").split("; "):  # names may contain ';' ("PIP2;8")
        tok = tok.strip()
        if tok.startswith("Name="):
            return _strip_evidence(tok[5:]) or None
    return None


def _read_joined(lines: list[bytes]) -> str | None:
    """OS (organism) or OC (lineage): the lines joined, without the final period."""
    return b" ".join(lines).decode("utf-8", TEXT_ERRORS).rstrip().rstrip(".") if lines else None


def _read_ox(ox_line: bytes | None) -> int | None:
    """The NCBI taxonomy id of the OX line."""
    if ox_line is None:
        return None
    m = _TAXID.search(ox_line)
    return int(m.group(1)) if m else None


def _read_sq(
    t: bytes, sq: int, id_len: int, name: str, first: int, entry_name: str | None, end: int
) -> str:
    """The sequence after the SQ line at ``sq`` (up to ``end``): only sequence lines follow
    it, only amino-acid letters (upper-cased), and its length agrees with the ID and SQ
    lines."""
    if sq < 0:
        raise FlatFileError(
            "missing SQ line (sequence header) before '//'",
            name,
            first + t.count(b"\n") + 1,  # the '//' line
            entry_name,
        )
    sq_end = t.find(b"\n", sq + 1, end)
    if sq_end < 0:
        sq_end = end
    sq_toks = t[sq + 1 : sq_end].split()
    if len(sq_toks) < 4 or sq_toks[1] != b"SEQUENCE" or not sq_toks[2].isdigit():
        raise FlatFileError(
            "malformed SQ line: expected 'SQ   SEQUENCE   LENGTH AA; ...'",
            name,
            _line_of(t, sq + 1, first),
            entry_name,
        )
    sq_len = int(sq_toks[2])
    block = t[sq_end + 1 : end]
    if block and (not block.startswith(b"     ") or block.count(b"\n     ") != block.count(b"\n")):
        k = 0  # start of the first line that is not a sequence line
        while block.startswith(b"     ", k):
            k = block.find(b"\n", k) + 1
            if k == 0:  # cannot happen: some line is not a sequence line
                break
        raise FlatFileError(
            "unexpected line in the sequence block: sequence lines start with 5 spaces "
            "and the entry must end with '//'",
            name,
            _line_of(t, sq_end + 1 + k, first),
            entry_name,
        )
    seq_b = block.translate(None, _SEQ_DELETE)
    if seq_b.translate(None, _SEQ_LETTERS):
        seq_b = seq_b.upper()
        leftover = seq_b.translate(None, _SEQ_LETTERS)
        if leftover:
            bad = chr(leftover[0]) if leftover[0] < 128 else repr(leftover[:1])
            # locate the line of the first bad character
            up = block.upper()
            k = next(i for i, ch in enumerate(up) if ch not in b" \n\t" and ch not in _SEQ_LETTERS)
            raise FlatFileError(
                f"invalid character {bad!r} in the sequence (expected amino-acid letters "
                f"{''.join(sorted(SEQUENCE_LETTERS))})",
                name,
                _line_of(t, sq_end + 1 + k, first),
                entry_name,
            )
    n = len(seq_b)
    if n != id_len or n != sq_len:
        raise FlatFileError(
            f"sequence length {n} does not match the length in the ID line ({id_len}) "
            f"and SQ line ({sq_len})",
            name,
            _line_of(t, sq + 1, first),
            entry_name,
        )
    return seq_b.decode("ascii")


def _read_cc_subcellular(t: bytes, hdr_end: int, sq: int) -> tuple[list[str], list[Location]]:
    """The SUBCELLULAR LOCATION comment blocks between the header and the SQ line: their
    texts (one per block) and the locations they name."""
    sl_texts: list[str] = []
    locations: list[Location] = []
    p = t.find(_SL_TAG, hdr_end, sq + 1)
    while p >= 0:
        # Fast path: the block runs to the next topic / copyright line ("CC   -"), and every
        # line in between is a plain continuation line ("CC" + 7 spaces, no trailing blank).
        e = t.find(b"\nCC   -", p + 1, sq + 1)
        raw = t[p + 10 : e] if e >= 0 else b""
        if e < 0 or raw.count(b"\n") != raw.count(_SL_CONT) or b" \n" in raw:
            e = t.find(b"\n", p + 1)
            lines = [t[p + 10 : e].rstrip()]  # text after "CC   -!- "
            while t.startswith(b"\nCC      ", e):  # Biopython's continuation rule
                e2 = t.find(b"\n", e + 1)
                lines.append(t[e + 10 : e2].rstrip())
                e = e2
            raw = _SL_CONT.join(lines)
        text, locs = _subcellular_block(raw.rstrip())
        sl_texts.append(text)
        locations.extend(locs)
        p = t.find(_SL_TAG, e, sq + 1)
    return sl_texts, locations


def _read_ft(t: bytes, hdr_end: int, sq: int) -> list[Feature]:
    """The FT lines of the kinds in ``FEATURE_TYPES`` (other kinds are skipped)."""
    # bytes.find reaches the first FT line much faster than the regex scans the references,
    # comments and cross-references before it
    ft = t.find(b"\nFT", hdr_end, sq + 1)  # (a needle ending in blanks skips text slowly)
    while ft >= 0 and not t.startswith(b"\nFT   ", ft):
        ft = t.find(b"\nFT", ft + 1, sq + 1)
    if ft < 0:
        return []
    return [
        _feature(_FEATURE_NAMES[m.group(1)], m.group(2), m.group(3))
        for m in _FEATURE_LINE.finditer(t, ft, sq + 1)
    ]


# --------------------------------------------------------------------------------------------
# SUBCELLULAR LOCATION text
# --------------------------------------------------------------------------------------------


def _evidence_of(ev_texts: list[str]) -> str | None:
    codes: list[str] = []
    for ev in ev_texts:
        if ev in _QUALIFIERS:
            if ev not in codes:
                codes.append(ev)
            continue
        for item in ev.split(","):
            code = item.strip().split("|", 1)[0].strip()
            if code and code not in codes:
                codes.append(code)
    return ",".join(codes) if codes else None


def parse_subcellular_location(text: str) -> list[Location]:
    """Parse the text of one ``CC -!- SUBCELLULAR LOCATION`` block into locations.

    Handles the modern style (``Cytoplasm {ECO:0000269|PubMed:1}. Membrane {ECO:0000255};
    Multi-pass membrane protein.``) and the old one (``Cytoplasm (By similarity).``): each
    location ends with ``.``; its ``;``-separated parts are the term (a comma path such as
    ``"Cytoplasm, cytoskeleton"``), then the topology, then the orientation. Dots inside
    evidence braces (``Ref.1``) do not end a location. ``Note=...`` is free text, not a
    location. A leading ``[Isoform 2]:`` (or old ``Molecule name:``) sets ``isoform``.

    Args:
        text: the block text, with or without the leading ``"SUBCELLULAR LOCATION:"``.

    Returns:
        One :class:`kb.records.Location` per location term, in order.
    """
    isoform, body = _isoform_and_body(text)
    return _parse_locations(body, isoform)


def _isoform_and_body(text: str) -> tuple[str | None, str]:
    """Split a block's text into the isoform it is about (or ``None``) and the text of its
    locations (without the prefix and without the free-text ``Note=...``)."""
    text = text.strip()
    if text.startswith("SUBCELLULAR LOCATION:"):
        text = text[len("SUBCELLULAR LOCATION:") :].strip()
    isoform = None
    if text.startswith("["):
        close = text.find("]:")
        if close > 0:
            isoform = text[1:close].strip()
            text = text[close + 2 :].strip()
    else:
        colon = text.find(": ")
        if colon > 0 and not any(c in text[:colon] for c in ".;{(="):
            isoform = text[:colon].strip()  # old style "Surface protein gp120: Virion membrane"
            text = text[colon + 2 :].strip()
    note = _note_start(text)
    if note >= 0:
        text = text[:note]
    return isoform, text


def _note_start(text: str) -> int:
    """Where the free-text ``Note=`` starts (at the start, or after a blank or a ``.``), or
    -1. (``str.find`` jumps to the candidates; a regular expression with a look-behind tried
    every position of the block.)"""
    i = text.find("Note=")
    while i > 0 and not (text[i - 1] == "." or text[i - 1].isspace()):
        i = text.find("Note=", i + 1)
    return i


def _parse_locations(text: str, isoform: str | None) -> list[Location]:
    """The locations of a block's body (see :func:`parse_subcellular_location`)."""
    # tokens: text outside braces/qualifiers, and evidence attached to the preceding part
    locations: list[Location] = []
    parts: list[tuple[str, list[str]]] = [("", [])]

    def close_location() -> None:
        named = [(p.strip(), ev) for p, ev in parts if p.strip() or ev]
        if named and named[0][0]:
            term = named[0][0]
            ev = _evidence_of(named[0][1])
            if ev is None:  # old style: a trailing "(By similarity)" covers the location
                quals = [q for _, evs in named[1:] for q in evs if q in _QUALIFIERS]
                ev = quals[-1] if quals else None
            topology = named[1][0] if len(named) > 1 and named[1][0] else None
            locations.append(Location(term, isoform=isoform, evidence=ev, topology=topology))
        parts.clear()
        parts.append(("", []))

    pos = 0
    for m in _EVIDENCE_OR_QUALIFIER.finditer(text):
        _split_plain(text[pos : m.start()], parts, close_location)
        ev = m.group(1) if m.group(1) is not None else m.group(2)
        parts[-1][1].append(ev.strip())
        pos = m.end()
    _split_plain(text[pos:], parts, close_location)
    close_location()
    return locations


_SEPARATORS = re.compile(r"([.;])")


def _split_plain(s: str, parts: list, close_location: Callable[[], None]) -> None:
    """Feed text outside evidence braces: ``;`` starts a new part, ``.`` ends a location."""
    pieces = _SEPARATORS.split(s)
    txt, ev = parts[-1]
    parts[-1] = (txt + pieces[0], ev)
    for k in range(1, len(pieces), 2):
        if pieces[k] == ";":
            parts.append(("", []))
        else:
            close_location()
        txt, ev = parts[-1]
        parts[-1] = (txt + pieces[k + 1], ev)


_SL_CONT = b"\nCC       "
# Bounded (cleared when full): a large dict of tracked objects makes the cyclic garbage
# collector's full passes expensive; the most frequent locations are re-cached at once.
_SL_CACHE_SIZE = 100_000
_SL_CACHE: dict[tuple[str, str | None], tuple[Location, ...]] = {}
_EVIDENCE_SOURCE = re.compile(rb"\|[^,}]*")  # "|PubMed:123" inside "{ECO:0000269|PubMed:123}"
_BRACE_WITH_DOT = re.compile(r"\{[^}]*\.")


def _subcellular_block(raw: bytes) -> tuple[str, tuple[Location, ...]]:
    """Text and locations of one block, from its raw bytes (``SUBCELLULAR LOCATION: ...``
    with ``\\nCC       `` between lines).

    The locations equal ``parse_subcellular_location`` of the text and are cached one
    location at a time (blocks combine a few hundred distinct locations in many ways; the
    free-text note and the evidence sources such as ``|PubMed:123`` do not change them): a
    location ends at every ``.`` outside evidence braces, so the body is cut there, unless a
    brace holds a ``.`` (then the block is parsed whole).
    """
    # the raw text, joined the way Biopython joins comment lines (one space)
    text = raw.replace(_SL_CONT, b" ").decode("utf-8", TEXT_ERRORS)
    text = text[len("SUBCELLULAR LOCATION:") :].strip()
    # for parsing, undo line wrapping after a hyphen ("GPI-" + "anchor")
    joined = raw.replace(b"-" + _SL_CONT, b"-").replace(_SL_CONT, b" ")
    if b"|" in joined:
        joined = _EVIDENCE_SOURCE.sub(b"", joined)
    isoform, body = _isoform_and_body(joined.decode("utf-8", TEXT_ERRORS))
    if "{" in body and _BRACE_WITH_DOT.search(body):
        return text, tuple(_parse_locations(body, isoform))
    locations: list[Location] = []
    for segment in body.split("."):
        segment = segment.strip()  # every part of a location is stripped anyway
        if not segment:
            continue
        found = _SL_CACHE.get((segment, isoform))
        if found is None:
            found = tuple(_parse_locations(segment, isoform))
            if len(_SL_CACHE) >= _SL_CACHE_SIZE:
                _SL_CACHE.clear()
            _SL_CACHE[segment, isoform] = found
        locations.extend(found)
    return text, tuple(locations)


# --------------------------------------------------------------------------------------------
# Drivers
# --------------------------------------------------------------------------------------------


def _parse_chunk(chunk: bytes, line: int, name: str) -> tuple[list, int]:
    """Parse the entries of one chunk that starts at line ``line``.

    Returns:
        (items, next line): entries, and a :class:`FlatFileError` for each malformed one
        (a :class:`_TruncatedAtEOF` last, if the chunk ends inside an entry).
    """
    spans, truncated, next_line = _entries_of_chunk(chunk, line, name)
    items: list = []
    # An entry that lost its '//' swallows the next one. Cheap chunk-level check (one C-speed
    # count): as many sequence headers as entries, else look inside every entry of the chunk.
    suspicious = chunk.count(b"\nSQ   SEQUENCE") != len(spans)
    for start, end, first in spans:
        if suspicious and chunk.find(b"\nID   ", start, end) >= 0:
            items.extend(_recover(chunk[start:end], first, name, None))
            continue
        try:
            items.append(_parse_entry(chunk, first, name, start, end))
        except FlatFileError:
            text = chunk[start:end]  # parsed again on its own: the error's exact line
            try:
                items.append(_parse_entry(text, first, name))
            except FlatFileError as exc:
                items.extend(_recover(text, first, name, exc))
    if truncated is not None:
        items.append(truncated)
    return items, next_line


def _emit(item: Entry | FlatFileError, strict: bool, errors: ErrorSink) -> bool:
    """Route an error (raise or report); True when ``item`` is an entry to yield."""
    if isinstance(item, FlatFileError):
        if strict or isinstance(item, _TruncatedAtEOF):
            raise item
        report_error(item, errors)
        return False
    return True


def _recover(
    text: bytes, first: int, name: str, exc: FlatFileError | None
) -> Iterator[Entry | FlatFileError]:
    """Report a bad entry; if another entry follows it without a ``//`` line, parse that one."""
    nxt = text.find(b"\nID   ")
    if nxt < 0:
        if exc is not None:
            yield exc
        return
    line_next = first + text.count(b"\n", 0, nxt + 1)
    head = text[5 : text.find(b"\n")].split()
    yield FlatFileError(
        "entry not terminated: expected '//' before the next 'ID' line",
        name,
        line_next - 1,
        head[0].decode("utf-8", TEXT_ERRORS) if head else None,
    )
    rest = text[nxt + 1 :]
    try:
        yield _parse_entry(rest, line_next, name)
    except FlatFileError as exc2:
        yield from _recover(rest, line_next, name, exc2)


def last_entry_end(data: bytes) -> int:
    """Offset just after the last complete ``//`` line of ``data`` (0 if none): where a
    chunk of a flat file can be cut between entries (the build's reader, the shard planner)."""
    end = len(data)
    while True:
        pos = data.rfind(b"\n//", 0, end)
        if pos < 0:
            return 0
        nl = data.find(b"\n", pos + 3)
        if nl >= 0 and not data[pos + 3 : nl].strip():
            return nl + 1
        end = pos


def parse_chunk(
    chunk: bytes,
    name: str,
    *,
    first_line: int = 1,
    file_start: bool = False,
    strict: bool = False,
    errors: ErrorSink = None,
) -> tuple[list[Entry], int]:
    """The entries of a piece of a flat file held in memory that holds whole entries (cut
    after a ``//`` line, see :func:`last_entry_end`): what :func:`parse` yields for them,
    without re-reading the bytes through a stream (the build's parser processes use this).

    Args:
        chunk: the bytes (line ends ``\\n``, ``\\r\\n`` or ``\\r``).
        name: the file's name, for messages.
        first_line: line number of the chunk's first line in the file.
        file_start: the chunk starts the file (checked to start with an ``ID`` line).
        strict, errors: as for :func:`parse`.

    Returns:
        The entries and the line number that follows the chunk.

    Raises:
        As :func:`parse`.
    """
    if b"\r" in chunk:
        chunk = _unix_newlines(chunk)
    if file_start:
        if not chunk.strip():
            raise InputFormatError("empty input: no UniProt entry found", name)
        _check_start(chunk, name)
    items, next_line = _parse_chunk(chunk, first_line, name)
    return [item for item in items if _emit(item, strict, errors)], next_line


def parse(source: Source, *, strict: bool = False, errors: ErrorSink = None) -> Iterator[Entry]:
    """Stream the entries of a UniProtKB flat file (plain or gzip, detected by magic bytes).

    Args:
        source: a path, or a binary/text handle.
        strict: raise on the first malformed entry instead of skipping it.
        errors: where skipped entries are reported: a list (each :class:`FlatFileError` is
            appended) or a callable called with it. ``None`` drops them silently.

    Yields:
        One :class:`kb.records.Entry` per well-formed entry, in file order.

    Raises:
        FlatFileError: with ``strict=True``, the first malformed entry (file and line).
        InputFormatError: empty input, not a UniProt flat file, truncated/corrupt gzip, an
            entry truncated at end of file (no ``//``), missing file.
    """
    name = _source_name(source)
    line = 1
    for chunk in _chunks_of_entries(source):
        items, line = _parse_chunk(chunk, line, name)
        for item in items:
            if _emit(item, strict, errors):
                yield item


def read(source: Source) -> Entry:
    """Read a flat file holding exactly one entry.

    Raises:
        FlatFileError: the entry is malformed.
        InputFormatError: no entry, or more than one.
    """
    entries = list(parse(source, strict=True))
    if len(entries) != 1:
        raise InputFormatError(
            f"expected exactly one entry, found {len(entries)}", _source_name(source)
        )
    return entries[0]
