"""Reading and writing user tables: a re-export of :mod:`kb.tableio`, the project's one table
reader and writer.

The format follows the file name (``.tsv``, ``.csv``, ``.parquet``, ``.jsonl``; text formats
optionally ``.gz``) unless a format is given; writes are atomic; text cells are read as they
are written (``NA`` is a dipeptide, only empty cells are missing). Row numbers in messages are
1-based data rows (the header is not counted), so row ``N`` of a CSV/TSV file is on line
``N + 1``.
"""

from __future__ import annotations

from kb.tableio import (
    TABLE_FORMATS,
    TABLE_SUFFIXES,
    check_output,
    read_table,
    require_columns,
    table_format,
    write_table,
)

__all__ = [
    "TABLE_FORMATS",
    "TABLE_SUFFIXES",
    "check_output",
    "table_format",
    "read_table",
    "write_table",
    "require_columns",
]
