"""Tests of psl.tables_io: formats by name, text kept as text, atomic writes, clear errors."""

from __future__ import annotations

import gzip
import os

import pandas as pd
import pytest

from kb.errors import InputFormatError
from psl.tables_io import read_table, require_columns, table_format, write_table


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("a.csv", "csv"), ("a.CSV.gz", "csv"), ("a.tsv", "tsv"), ("b.tab", "tsv"),
     ("c.txt.gz", "tsv"), ("d.parquet", "parquet"), ("e.pq", "parquet")],
)
def test_table_format_from_name(name, fmt):
    assert table_format(name) == fmt


@pytest.mark.parametrize("name", ["a.xlsx", "a", "a.gz", "a.parquet.gz"])
def test_table_format_unknown(name):
    with pytest.raises(InputFormatError, match="unknown table format"):
        table_format(name)


@pytest.mark.parametrize("name", ["t.csv", "t.tsv", "t.csv.gz", "t.parquet"])
def test_round_trip_keeps_na_peptides_and_numbers(tmp_path, name):
    frame = pd.DataFrame({"subsequence": ["NA", "NAN", "NULL", "MKV"], "start": [1, 2, 3, 4],
                          "score": [0.5, 1.5, 2.5, 3.5]})
    path = write_table(frame, tmp_path / name)
    back = read_table(path)
    assert back["subsequence"].tolist() == ["NA", "NAN", "NULL", "MKV"]
    assert back["start"].tolist() == [1, 2, 3, 4]
    assert back["score"].tolist() == [0.5, 1.5, 2.5, 3.5]
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left


def test_gzip_written_when_asked(tmp_path):
    path = write_table(pd.DataFrame({"a": [1]}), tmp_path / "x.tsv.gz")
    with gzip.open(path, "rt") as fh:
        assert fh.read() == "a\n1\n"


def test_empty_cells_are_missing(tmp_path):
    (tmp_path / "x.csv").write_text("a,b\n1,\n,y\n")
    back = read_table(tmp_path / "x.csv")
    assert back["a"].isna().tolist() == [False, True]
    assert back["b"].isna().tolist() == [True, False]


def test_write_is_atomic_on_failure(tmp_path, monkeypatch):
    import kb.tableio

    target = tmp_path / "out.csv"
    target.write_text("old\n")

    def boom(table, fh, fmt):
        fh.write(b"half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(kb.tableio, "_write", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        write_table(pd.DataFrame({"a": [1]}), target)
    assert target.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["out.csv"]


def test_read_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_table(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputFormatError, match=r"empty\.csv: empty table"):
        read_table(tmp_path / "empty.csv")
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(InputFormatError, match=r"bad\.parquet: cannot read parquet table"):
        read_table(tmp_path / "bad.parquet")
    (tmp_path / "ragged.csv").write_text("a,b\n1,2\n1,2,3,4\n")
    with pytest.raises(InputFormatError, match=r"ragged\.csv: malformed CSV table"):
        read_table(tmp_path / "ragged.csv")
    with pytest.raises(FileNotFoundError, match="output directory does not exist"):
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "nodir" / "x.csv")


def test_require_columns():
    frame = pd.DataFrame({"protein": [], "start": []})
    require_columns(frame, ["protein"])
    with pytest.raises(InputFormatError, match=r"in\.csv: missing column\(s\) location, "
                       r"subsequence \(columns present: protein, start\)"):
        require_columns(frame, ["protein", "location", "subsequence"], "in.csv")


def test_text_that_looks_boolean_stays_text(tmp_path):
    """A pass-through column whose every value is ``true`` (psl extract's ``label_kind``) must
    come back as the text written, not as a boolean; numbers still become numbers."""
    path = tmp_path / "subs.tsv"
    path.write_text("protein\tlabel_kind\tstart\tscore\nP1\ttrue\t3\t0.5\nP2\ttrue\t7\t\n")
    frame = read_table(path)
    assert frame["label_kind"].tolist() == ["true", "true"]
    assert frame["start"].tolist() == [3, 7]
    assert frame["score"].iloc[0] == 0.5 and pd.isna(frame["score"].iloc[1])
