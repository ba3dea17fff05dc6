"""Readers for labelled tables (CSV/TSV) and FASTA files, and input-format detection.

Both readers yield :class:`kb.records.Entry` like the flat-file parser, so the store does
not care where an entry came from.

* Tables: a header row with an accession column (``accession``/``Entry``/``acc``), a sequence
  column (``sequence``/``Sequence``) and optionally a location column. The delimiter is
  sniffed from the header (tab if it has one, else comma). Location columns:

  - ``Subcellular location [CC]`` (UniProt's TSV export): the comment text, parsed into
    terms by the flat-file parser's location-text parser (terms mapped later by the store);
  - ``label``/``location``/``locations`` (DeepLoc 2.0 CSV): DeepLoc class labels separated by
    ``|`` or ``;``; each becomes a ``Location(term=label, label_class=<class>)``.

  Other recognised columns: ``Entry Name``, ``Reviewed``, ``Protein names``, ``Gene Names``,
  ``Organism``, ``Organism (ID)``, ``Taxonomic lineage`` (or their snake_case names).
  Without a ``Reviewed`` column, ``reviewed`` is unknown (NULL), except in DeepLoc 2.0's
  dataset (``partition`` and ``kingdom`` columns), which holds Swiss-Prot entries only.
* FASTA: UniProt headers ``>sp|ACC|NAME Protein name OS=... OX=9606 GN=... PE=1 SV=1`` or
  DeepLoc headers ``>ACC Location-Solubility[ test]`` (``Cytoplasm-Nucleus-U`` = both
  classes); any other header: the first word is the accession.

Gzip is detected from the magic bytes, not the file name. Malformed records raise (``strict``)
or are reported through ``errors`` and skipped, as :class:`InputFormatError` naming the file
and line.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from kb.alphabet import SEQUENCE_LETTERS
from kb.classes import UnknownLocationError, normalize_class
from kb.errors import InputFormatError, report_error
from kb.fasta import FastaRecord, parse_fasta
from kb.records import Entry, Location
from kb.textcodec import TEXT_ERRORS

__all__ = [
    "FORMATS",
    "detect_format",
    "open_text",
    "read_table",
    "read_fasta",
    "parse_label",
]

#: Input formats understood by ``kb build``.
FORMATS = ("flatfile", "table", "fasta")

_ACCESSION_COLS = ("accession", "entry", "acc", "ac", "uniprot_accession", "uniprot accession")
_SEQUENCE_COLS = ("sequence", "seq")
_CC_COLS = ("subcellular location [cc]",)
_LABEL_COLS = ("label", "labels", "location", "locations")
_OPTIONAL = {
    "entry_name": ("entry name", "entry_name"),
    "reviewed": ("reviewed",),
    "protein_name": ("protein names", "protein_name", "protein name"),
    "gene": ("gene names", "gene", "gene_names", "gene names (primary)"),
    "organism": ("organism",),
    "taxon_id": ("organism (id)", "taxon_id", "organism_id", "taxon"),
    "lineage": ("taxonomic lineage", "lineage"),
}
_GZIP_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)
_ACCESSION_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")
_DEEPLOC_RE = re.compile(r"^(?P<loc>[A-Za-z./\-]+)-(?P<sol>[MSU])$")
_NOT_SEQUENCE = re.compile("[^" + "".join(sorted(SEQUENCE_LETTERS)) + "]")


def open_text(source: str | Path | BinaryIO) -> io.TextIOWrapper:
    """Open a file (plain or gzip, detected from the magic bytes) as UTF-8 text (bytes that
    are not UTF-8 are read as Latin-1, see :mod:`kb.textcodec`).

    Arguments:
        source: a path, or a binary file object (e.g. one that counts bytes for a progress bar).

    Raises:
        FileNotFoundError: a missing path.
    """
    if isinstance(source, str | Path):
        with open(source, "rb") as fh:
            magic = fh.read(2)
        if magic == b"\x1f\x8b":
            return gzip.open(source, "rt", encoding="utf-8", errors=TEXT_ERRORS,  # type: ignore
                             newline="")
        return open(source, encoding="utf-8", errors=TEXT_ERRORS, newline="")  # type: ignore
    buffered = source if hasattr(source, "peek") else io.BufferedReader(source)  # type: ignore
    if buffered.peek(2)[:2] == b"\x1f\x8b":
        # GzipFile does not close a given fileobj: the caller owns ``source``.
        return io.TextIOWrapper(gzip.GzipFile(fileobj=buffered), encoding="utf-8",
                                errors=TEXT_ERRORS, newline="")
    return io.TextIOWrapper(buffered, encoding="utf-8", errors=TEXT_ERRORS, newline="")


def detect_format(path: str | Path) -> str:
    """Detect the format of an input file from its first non-blank line.

    ``ID   `` -> ``flatfile``; ``>`` -> ``fasta``; a header row with a known accession column ->
    ``table``.

    Raises:
        InputFormatError: empty input, a corrupt/truncated gzip start, or an unknown format.
    """
    try:
        with open_text(path) as fh:
            for line in fh:
                if line.strip():
                    first = line.rstrip("\r\n")
                    break
            else:
                raise InputFormatError("empty input (no entries)", path)
    except UnicodeDecodeError as e:
        raise InputFormatError(f"not a text file ({e.reason})", path, 1) from None
    except _GZIP_ERRORS as e:
        raise InputFormatError(f"truncated or corrupt gzip ({e})", path) from None
    if first.startswith("ID   "):
        return "flatfile"
    if first.startswith(">"):
        return "fasta"
    header = [c.strip().strip('"').lower() for c in first.split("\t" if "\t" in first else ",")]
    if any(c in _ACCESSION_COLS for c in header):
        return "table"
    raise InputFormatError(
        "unknown input format: expected a UniProt flat file (first line 'ID   '), a FASTA "
        "file ('>') or a CSV/TSV table with an accession column",
        path,
        1,
    )


def _clean_sequence(seq: str, path: str | Path, line: int) -> str:
    seq = "".join(seq.split()).upper().rstrip("*")
    if not seq:
        raise InputFormatError("empty sequence", path, line)
    if _NOT_SEQUENCE.search(seq) is not None:
        bad = sorted(set(seq) - SEQUENCE_LETTERS)
        raise InputFormatError(
            f"invalid sequence letter(s) {''.join(bad)!r} (expected amino-acid letters)", path, line
        )
    return seq


def _check_accession(acc: str, path: str | Path, line: int) -> str:
    acc = acc.strip()
    if not acc or not _ACCESSION_RE.match(acc):
        raise InputFormatError(f"invalid accession {acc!r}", path, line)
    return acc


def parse_label(label: str, where: str | None = None) -> list[str]:
    """The DeepLoc classes of one dataset label.

    ``"Cell membrane"`` -> ``["Cell.membrane"]``; ``"Cytoplasm-Nucleus"`` (DeepLoc 1.0's dual
    label) -> ``["Cytoplasm", "Nucleus"]``.

    Raises:
        UnknownLocationError: a label that is none of the 10 classes.
    """
    try:
        return [normalize_class(label, where)]
    except UnknownLocationError:
        if "-" not in label:
            raise
    return [normalize_class(part, where) for part in label.split("-")]


def _label_locations(text: str, path: str | Path, line: int) -> list[Location]:
    out: list[Location] = []
    for label in re.split(r"[|;]", text):
        label = label.strip()
        if not label:
            continue
        try:
            classes = parse_label(label)
        except UnknownLocationError as e:
            raise InputFormatError(str(e), path, line) from None
        out.extend(Location(term=label, label_class=c) for c in classes)
    return out


def _cc_locations(text: str) -> list[Location]:
    """Locations of UniProt's ``Subcellular location [CC]`` export text."""
    from kb.flatfile import parse_subcellular_location  # the flat-file parser owns the grammar

    blocks = [b.strip() for b in re.split(r"SUBCELLULAR LOCATION:\s*", text) if b.strip()]
    out: list[Location] = []
    for block in blocks:
        out.extend(parse_subcellular_location(block))
    return out


def _find_col(header: list[str], names: tuple[str, ...]) -> int | None:
    for name in names:
        if name in header:
            return header.index(name)
    return None


def _guard_gzip(path: str | Path, records: Iterator[Entry]) -> Iterator[Entry]:
    try:
        yield from records
    except _GZIP_ERRORS as e:
        raise InputFormatError(f"truncated or corrupt gzip ({e})", path) from None
    except UnicodeDecodeError as e:
        raise InputFormatError(f"not UTF-8 text ({e.reason})", path) from None


def read_table(
    path: str | Path,
    *,
    strict: bool = False,
    errors: list | Callable[[InputFormatError], None] | None = None,
    handle: BinaryIO | None = None,
) -> Iterator[Entry]:
    """Stream the entries of a labelled CSV/TSV table (columns: module docstring).

    Arguments:
        path: the file (also used in messages).
        strict: raise on the first malformed row instead of skipping it.
        errors: a list (or callable) receiving the :class:`InputFormatError` of skipped rows.
        handle: read from this binary handle instead of opening ``path``.

    Yields:
        One :class:`Entry` per row; ``line`` is the row's first line number.

    Raises:
        InputFormatError: no accession/sequence column, empty table, corrupt gzip, or
            (``strict``) a malformed row.
    """
    return _guard_gzip(path, _read_table(path, strict, errors, handle))


def _read_table(path, strict, errors, handle) -> Iterator[Entry]:
    with open_text(handle if handle is not None else path) as fh:
        first = fh.readline()
        if not first.strip():
            raise InputFormatError("empty input (no header row)", path, 1)
        delim = "\t" if "\t" in first else ","
        reader = csv.reader(fh, delimiter=delim)
        header = [c.strip().lower() for c in next(csv.reader([first], delimiter=delim))]
        acc_col = _find_col(header, _ACCESSION_COLS)
        seq_col = _find_col(header, _SEQUENCE_COLS)
        if acc_col is None or seq_col is None:
            raise InputFormatError(
                "table needs an accession column (accession/Entry) and a sequence column "
                f"(sequence/Sequence); found {', '.join(header)}",
                path,
                1,
            )
        cc_col = _find_col(header, _CC_COLS)
        label_col = None if cc_col is not None else _find_col(header, _LABEL_COLS)
        opt = {k: _find_col(header, v) for k, v in _OPTIONAL.items()}
        # DeepLoc 2.0's dataset (label + partition + kingdom columns) is Swiss-Prot only.
        all_reviewed = opt["reviewed"] is None and {"partition", "kingdom"} <= set(header)
        n_cols = len(header)
        prev_line = 1
        n_rows = 0
        for row in reader:
            line = prev_line + 1
            prev_line = reader.line_num + 1  # +1: the header line was read outside the reader
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            n_rows += 1
            try:
                if len(row) != n_cols:
                    raise InputFormatError(
                        f"expected {n_cols} columns, found {len(row)}", path, line
                    )
                entry = _table_entry(row, path, line, acc_col, seq_col, cc_col, label_col, opt)
                if all_reviewed:
                    entry.reviewed = True
                yield entry
            except InputFormatError as e:
                report_error(e, errors, strict)
        if n_rows == 0:
            raise InputFormatError("empty input (header row but no entries)", path)


def _table_entry(row, path, line, acc_col, seq_col, cc_col, label_col, opt) -> Entry:
    entry = Entry(
        accession=_check_accession(row[acc_col], path, line),
        sequence=_clean_sequence(row[seq_col], path, line),
        line=line,
    )
    if cc_col is not None and row[cc_col].strip():
        entry.subcellular_location_text = row[cc_col].strip()
        entry.locations = _cc_locations(entry.subcellular_location_text)
    elif label_col is not None:
        entry.locations = _label_locations(row[label_col], path, line)
    for field, col in opt.items():
        if col is None or not row[col].strip():
            continue
        value = row[col].strip()
        if field == "taxon_id":
            try:
                entry.taxon_id = int(value)
            except ValueError:
                msg = f"taxon id {value!r} is not an integer"
                raise InputFormatError(msg, path, line) from None
        elif field == "reviewed":
            entry.reviewed = value.lower() in {"reviewed", "true", "1", "yes", "sp"}
        elif field == "gene":
            entry.gene = value.split()[0]
        else:
            setattr(entry, field, value)
    return entry


def read_fasta(
    path: str | Path,
    *,
    strict: bool = False,
    errors: list | Callable[[InputFormatError], None] | None = None,
    handle: BinaryIO | None = None,
) -> Iterator[Entry]:
    """Stream the entries of a FASTA file (UniProt or DeepLoc headers, see module docstring).

    Arguments:
        path: the file (also used in messages).
        strict: raise on the first malformed record instead of skipping it.
        errors: a list (or callable) receiving the :class:`InputFormatError` of skipped records.
        handle: read from this binary handle instead of opening ``path``.

    Yields:
        One :class:`Entry` per record; ``line`` is its header's line number.

    Raises:
        InputFormatError: empty input, text before the first header, corrupt gzip, or
            (``strict``) a malformed record.
    """
    return _guard_gzip(path, _read_fasta(path, strict, errors, handle))


def _read_fasta(path, strict, errors, handle) -> Iterator[Entry]:
    records = parse_fasta(
        handle if handle is not None else path, strict=strict, errors=errors, name=path
    )
    for rec in records:
        try:
            yield _fasta_entry(rec, path)
        except InputFormatError as e:
            report_error(e, errors, strict)


def _fasta_entry(rec: FastaRecord, path) -> Entry:
    """An :class:`Entry` from a parsed FASTA record (UniProt fields, or a DeepLoc label)."""
    line = rec.line
    entry = Entry(
        accession=_check_accession(rec.id, path, line), sequence=rec.sequence, line=line,
        entry_name=rec.entry_name, reviewed=rec.reviewed, organism=rec.organism,
        taxon_id=rec.taxon_id, gene=rec.gene,
    )
    if rec.db in ("sp", "tr"):
        entry.protein_name = rec.description or None
        return entry
    tokens = rec.description.split()
    m = _DEEPLOC_RE.match(tokens[0]) if tokens else None
    if m is not None and (len(tokens) == 1 or (len(tokens) == 2 and tokens[1] == "test")):
        try:
            classes = parse_label(m.group("loc"))
        except UnknownLocationError as e:
            raise InputFormatError(str(e), path, line) from None
        entry.locations = [Location(term=m.group("loc"), label_class=c) for c in classes]
    elif rec.description:
        entry.protein_name = rec.description
    return entry
