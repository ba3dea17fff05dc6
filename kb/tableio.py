"""The project's one table reader and writer (kb and psl), and the ``--out`` safety check.

Formats (:data:`TABLE_FORMATS`): ``tsv``, ``csv``, ``parquet``, ``jsonl`` (one JSON object
per line). The format follows the file name (:func:`table_format`): ``.tsv``/``.tab``/``.txt``,
``.csv``, ``.parquet``/``.pq``, ``.jsonl``/``.ndjson``; text formats may end in ``.gz``
(gzip-compressed); an explicit ``format`` (``--format``) overrides the name. ``-`` is
standard output (writing) or standard input (reading), in ``format`` (default ``tsv``).

Writes are atomic (:func:`kb.atomic.atomic_path`): a reader never sees a half-written file and
a failed write leaves the old file in place. Text cells are read as they are written: ``NA``,
``NaN`` or ``null`` are *not* missing values (``NA`` is a valid dipeptide), only empty cells.

:func:`check_output` refuses an output path that is one of the command's inputs or lies inside
a directory that must not be written to (a knowledge base), naming both paths.
"""

from __future__ import annotations

import gzip
import io
import os
import sys
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from kb.atomic import atomic_path
from kb.errors import InputFormatError, KBError

__all__ = [
    "TABLE_FORMATS",
    "TABLE_SUFFIXES",
    "OutputPathError",
    "check_output",
    "is_stdio",
    "read_table",
    "require_columns",
    "table_format",
    "write_table",
]

#: Table formats (``--format`` choices).
TABLE_FORMATS: tuple[str, ...] = ("tsv", "csv", "parquet", "jsonl")

_SUFFIXES = {
    ".tsv": "tsv",
    ".tab": "tsv",
    ".txt": "tsv",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
#: File-name endings understood by :func:`table_format`.
TABLE_SUFFIXES: tuple[str, ...] = tuple(_SUFFIXES) + tuple(
    s + ".gz" for s, f in _SUFFIXES.items() if f != "parquet"
)


class OutputPathError(KBError):
    """An output path that would overwrite an input or a file inside a knowledge base."""


def is_stdio(path: str | Path | None) -> bool:
    """True for ``-`` (standard input/output)."""
    return path is not None and str(path) == "-"


def _gzipped(path: str | Path | None) -> bool:
    return path is not None and not is_stdio(path) and str(path).lower().endswith(".gz")


def table_format(path: str | Path | None, format: str | None = None) -> str:  # noqa: A002
    """The format of a table file: ``format`` if given, else from the file name.

    Arguments:
        path: the file name (need not exist); ``-`` or ``None``: standard input/output.
        format: an explicit format (one of :data:`TABLE_FORMATS`, any case), e.g. ``--format``.

    Returns:
        ``"tsv"``, ``"csv"``, ``"parquet"`` or ``"jsonl"`` (``tsv`` for ``-`` without format).

    Raises:
        InputFormatError: an unknown ``format``, a name ending in none of
            :data:`TABLE_SUFFIXES` (without ``format``), or a gzip-compressed parquet name.
    """
    if format is not None and str(format).strip():
        fmt = str(format).strip().lower()
        if fmt not in TABLE_FORMATS:
            raise InputFormatError(
                f"unknown table format {format!r} (expected one of {', '.join(TABLE_FORMATS)})"
            )
    elif path is None or is_stdio(path):
        fmt = "tsv"
    else:
        suffixes = [s.lower() for s in Path(path).suffixes]
        if suffixes and suffixes[-1] == ".gz":
            suffixes = suffixes[:-1]
        fmt = _SUFFIXES.get(suffixes[-1]) if suffixes else None
        if fmt is None:
            raise InputFormatError(
                "unknown table format: expected a name ending in "
                f"{', '.join(TABLE_SUFFIXES)} (or give the format explicitly, e.g. format tsv)",
                path, param="format",
            )
    if fmt == "parquet" and _gzipped(path):
        raise InputFormatError(
            "unknown table format .parquet.gz: parquet is compressed internally, drop the .gz",
            path,
        )
    return fmt


# ----------------------------------------------------------------------------- writing
def _arrow(table: pd.DataFrame | pa.Table) -> pa.Table | None:
    if isinstance(table, pa.Table):
        return table
    try:
        return pa.Table.from_pandas(table, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        return None  # mixed-type object columns: written by pandas


def _frame(table: pd.DataFrame | pa.Table) -> pd.DataFrame:
    return table.to_pandas() if isinstance(table, pa.Table) else table


def _write_text(table: pd.DataFrame | pa.Table, fh, fmt: str) -> None:
    if fmt == "jsonl":
        frame = _frame(table)
        if len(frame):
            text = frame.to_json(orient="records", lines=True, force_ascii=False)
            fh.write(text.encode("utf-8"))
            if not text.endswith("\n"):
                fh.write(b"\n")
        return
    arrow = _arrow(table)
    nested = arrow is not None and any(
        pa.types.is_nested(t) or pa.types.is_dictionary(t) for t in arrow.schema.types
    )
    if arrow is None or nested:
        buf = io.StringIO()
        _frame(table).to_csv(buf, sep="\t" if fmt == "tsv" else ",", index=False)
        fh.write(buf.getvalue().encode("utf-8"))
        return
    # no quotes unless a value holds the delimiter, a newline or a quote (then RFC 4180 quoting)
    delimiter = "\t" if fmt == "tsv" else ","
    buf = io.BytesIO()
    try:
        pcsv.write_csv(arrow, buf, pcsv.WriteOptions(delimiter=delimiter, quoting_style="none",
                                                      quoting_header="none"))
    except pa.ArrowInvalid:
        buf = io.BytesIO()
        pcsv.write_csv(arrow, buf, pcsv.WriteOptions(delimiter=delimiter))
    fh.write(buf.getvalue())


def _write(table: pd.DataFrame | pa.Table, fh, fmt: str) -> None:
    if fmt == "parquet":
        arrow = _arrow(table)
        if arrow is None:
            arrow = pa.Table.from_pandas(table.astype(str), preserve_index=False)
        pq.write_table(arrow, fh)
    else:
        _write_text(table, fh, fmt)


def write_table(
    table: pd.DataFrame | pa.Table,
    path: str | Path,
    format: str | None = None,  # noqa: A002
) -> Path:
    """Write a table, atomically, in the format its name says (or ``format``).

    Arguments:
        table: a DataFrame (its index is not written) or an Arrow table.
        path: the destination (``.gz`` compresses text formats); ``-``: standard output.
        format: override the format (one of :data:`TABLE_FORMATS`).

    Returns:
        The destination path.

    Raises:
        InputFormatError: unknown format (see :func:`table_format`), or parquet to a terminal.
        FileNotFoundError: the destination directory does not exist.
        IsADirectoryError: the destination is a directory.
    """
    fmt = table_format(path, format)
    if is_stdio(path):
        out = sys.stdout.buffer
        if fmt == "parquet" and sys.stdout.isatty():
            raise InputFormatError("parquet is binary: not written to a terminal (use --out FILE)")
        sys.stdout.flush()
        _write(table, out, fmt)
        out.flush()
        return Path("-")
    path = Path(path)
    with atomic_path(path) as tmp:
        if _gzipped(path):
            with gzip.open(tmp, "wb") as fh:
                _write(table, fh, fmt)
        else:
            with open(tmp, "wb") as fh:
                _write(table, fh, fmt)
    return path


# ----------------------------------------------------------------------------- reading
def _numeric_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Turn the text columns whose every non-empty cell is a number into numbers."""
    for column in frame.columns:
        try:
            frame[column] = pd.to_numeric(frame[column])
        except (ValueError, TypeError):
            pass
    return frame


def read_table(path: str | Path, format: str | None = None) -> pd.DataFrame:  # noqa: A002
    """Read a TSV, CSV, Parquet or JSON-lines table into a DataFrame.

    Arguments:
        path: the file (format from its name, see :func:`table_format`); ``-``: standard
            input (``format``, default ``tsv``).
        format: override the format.

    Returns:
        The table; CSV/TSV columns that are entirely numbers become numeric, every other
        column stays text exactly as written (``true`` is not turned into a boolean, ``NA`` is
        a peptide, not a missing value; only empty cells become missing).

    Raises:
        FileNotFoundError: when the file does not exist.
        IsADirectoryError: when ``path`` is a directory.
        InputFormatError: unknown format, empty file, no header, or a malformed file.
    """
    fmt = table_format(path, format)
    if is_stdio(path):
        source: str | Path | io.BytesIO = io.BytesIO(sys.stdin.buffer.read())
        name: str | Path = "<stdin>"
    else:
        source = name = Path(path)
        if not source.exists():
            raise FileNotFoundError(2, "no such file", str(source))
        if source.is_dir():
            raise IsADirectoryError(21, "is a directory", str(source))
    try:
        if fmt == "parquet":
            return pq.read_table(source).to_pandas()
        if fmt == "jsonl":
            return pd.read_json(source, lines=True, dtype=False, compression="infer")
        frame = pd.read_csv(
            source,
            sep="," if fmt == "csv" else "\t",
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            compression="infer" if not isinstance(source, io.BytesIO) else _sniff(source),
            encoding="utf-8-sig",
        )
        return _numeric_columns(frame)
    except pd.errors.EmptyDataError:
        raise InputFormatError("empty table (no header line)", name) from None
    except pd.errors.ParserError as e:
        raise InputFormatError(f"malformed {fmt.upper()} table: {e}", name) from None
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError, EOFError, ValueError) as e:
        if isinstance(e, FileNotFoundError | PermissionError):
            raise
        raise InputFormatError(f"cannot read {fmt} table: {e}", name) from None


def _sniff(buf: io.BytesIO) -> str | None:
    return "gzip" if buf.getvalue()[:2] == b"\x1f\x8b" else None


def require_columns(
    table: pd.DataFrame, required: Iterable[str], source: str | Path | None = None
) -> None:
    """Check that ``table`` has every column in ``required``.

    Raises:
        InputFormatError: naming the missing columns and the columns present.
    """
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise InputFormatError(
            f"missing column(s) {', '.join(missing)} "
            f"(columns present: {', '.join(map(str, table.columns)) or 'none'})",
            source,
        )


# --------------------------------------------------------------------------- --out check
def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)  # hard links
    except OSError:
        return False


def check_output(
    out: str | Path | None,
    *,
    inputs: Iterable[str | Path | None] = (),
    protected: Iterable[str | Path | None] = (),
    option: str = "--out",
) -> None:
    """Refuse an output path that would overwrite one of the command's inputs or a file
    inside a protected directory (a knowledge base, a model), symlinks and relative paths
    resolved. ``None`` and ``-`` (stdout) are always fine.

    Arguments:
        out: the output path.
        inputs: the input files of the command (``None``/``-`` entries are ignored).
        protected: directories nothing may be written into (``None`` entries are ignored).
        option: the option name used in the message.

    Raises:
        OutputPathError: one line naming both paths.
    """
    if out is None or is_stdio(out):
        return
    out = Path(out)
    for inp in inputs:
        if inp is None or is_stdio(inp):
            continue
        if _same_file(out, Path(inp)):
            raise OutputPathError(
                f"{option} {out} would overwrite the input {inp}; choose another output file"
            )
    target = out.resolve()
    for directory in protected:
        if directory is None:
            continue
        base = Path(directory).resolve()
        if target == base or base in target.parents:
            raise OutputPathError(
                f"{option} {out} is inside {directory}, which this command reads; choose an "
                "output path outside it"
            )
