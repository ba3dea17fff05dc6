"""Reading and writing user tables (CSV, TSV, Parquet), with atomic writes.

The format follows the file name: ``.csv`` (comma), ``.tsv`` / ``.tab`` / ``.txt`` (tab),
``.parquet`` / ``.pq`` (Apache Parquet); CSV and TSV may be gzip-compressed (``.csv.gz``).
Text cells are read as they are written: ``NA``, ``NaN`` or ``null`` are *not* turned into
missing values (``NA`` is a valid dipeptide), only empty cells are missing.

Row numbers in messages are 1-based data rows (the header is not counted), so row ``N`` of a
CSV/TSV file is on line ``N + 1``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from kb.atomic import atomic_path
from kb.errors import InputFormatError

__all__ = ["TABLE_SUFFIXES", "table_format", "read_table", "write_table", "require_columns"]

_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".txt": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
#: File-name endings understood by :func:`read_table` / :func:`write_table`.
TABLE_SUFFIXES: tuple[str, ...] = tuple(_FORMATS) + (".csv.gz", ".tsv.gz", ".tab.gz", ".txt.gz")


def table_format(path: str | Path) -> str:
    """The format of a table file from its name: ``"csv"``, ``"tsv"`` or ``"parquet"``.

    Arguments:
        path: the file name (need not exist).

    Returns:
        The format name.

    Raises:
        InputFormatError: when the name ends in none of :data:`TABLE_SUFFIXES`.
    """
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
        if suffixes and _FORMATS.get(suffixes[-1]) == "parquet":
            suffixes = []
    fmt = _FORMATS.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        raise InputFormatError(
            f"unknown table format (expected a name ending in {', '.join(TABLE_SUFFIXES)})",
            path,
        )
    return fmt


def _numeric_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Turn the text columns whose every non-empty cell is a number into numbers."""
    for column in frame.columns:
        try:
            frame[column] = pd.to_numeric(frame[column])
        except (ValueError, TypeError):
            pass
    return frame


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV, TSV or Parquet table into a DataFrame.

    Arguments:
        path: the file; its name gives the format (see :func:`table_format`).

    Returns:
        The table; CSV/TSV columns that are entirely numbers become numeric, every other
        column stays text exactly as written (``true`` is not turned into a boolean, ``NA`` is
        a peptide, not a missing value; only empty cells become missing).

    Raises:
        FileNotFoundError: when the file does not exist.
        InputFormatError: unknown format, empty file, no header, or a malformed file.
    """
    path = Path(path)
    fmt = table_format(path)
    if not path.exists():
        raise FileNotFoundError(2, "no such file", str(path))
    if path.is_dir():
        raise IsADirectoryError(21, "is a directory", str(path))
    try:
        if fmt == "parquet":
            return pq.read_table(path).to_pandas()
        frame = pd.read_csv(
            path,
            sep="," if fmt == "csv" else "\t",
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            compression="infer",
        )
        return _numeric_columns(frame)
    except pd.errors.EmptyDataError:
        raise InputFormatError("empty table (no header line)", path) from None
    except pd.errors.ParserError as e:
        raise InputFormatError(f"malformed {fmt.upper()} table: {e}", path) from None
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError, EOFError) as e:
        if isinstance(e, FileNotFoundError | PermissionError):
            raise
        raise InputFormatError(f"cannot read {fmt} table: {e}", path) from None


def write_table(table: pd.DataFrame | pa.Table, path: str | Path) -> Path:
    """Write a table atomically: to a temporary file in the same directory, then renamed.

    A reader never sees a half-written file, and an existing file is only replaced once the new
    one is complete.

    Arguments:
        table: a DataFrame or an Arrow table.
        path: the destination; its name gives the format (``.gz`` compresses CSV/TSV).

    Returns:
        The destination path.

    Raises:
        InputFormatError: unknown format.
        FileNotFoundError: when the destination directory does not exist.
    """
    path = Path(path)
    fmt = table_format(path)
    with atomic_path(path) as tmp:
        if fmt == "parquet":
            arrow = table if isinstance(table, pa.Table) else pa.Table.from_pandas(
                table, preserve_index=False
            )
            pq.write_table(arrow, tmp)
        else:
            frame = table.to_pandas() if isinstance(table, pa.Table) else table
            compression = "gzip" if path.name.lower().endswith(".gz") else None
            frame.to_csv(
                tmp,
                sep="," if fmt == "csv" else "\t",
                index=False,
                compression=compression,
            )
    return path


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
