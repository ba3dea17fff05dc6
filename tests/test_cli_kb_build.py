"""``kb build`` and ``kb info`` in-process (typer's CliRunner)."""

from __future__ import annotations

import gzip
import json

import duckdb
import pytest
from typer.testing import CliRunner

from cli.main import kb_app
from kb.store import DB_FILE, is_complete

runner = CliRunner()


def _run(*args):
    return runner.invoke(kb_app, [str(a) for a in args])


@pytest.fixture(scope="module")
def built(tmp_path_factory, test_data):
    db = tmp_path_factory.mktemp("cli") / "kb"
    res = _run("build", test_data / "swissprot/sample_entries.dat.gz", "--db", db,
               "--no-progress", "--workers", "1")
    return db, res


def test_build_prints_a_summary(built):
    db, res = built
    assert res.exit_code == 0, res.output
    assert is_complete(db)
    with duckdb.connect(str(db / DB_FILE), read_only=True) as con:
        n, residues = con.execute("SELECT count(*), sum(length) FROM entries").fetchone()
    assert f"built {db}: {n:,} entries, {residues:,} residues" in res.stdout


def test_info_json_counts_match_sql(built):
    db, _ = built
    res = _run("info", "--db", db, "--json")
    assert res.exit_code == 0, res.output
    facts = json.loads(res.stdout)
    with duckdb.connect(str(db / DB_FILE), read_only=True) as con:
        for table, n in facts["tables"].items():
            assert n == con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        by_class = dict(con.execute(
            "SELECT class, count(DISTINCT accession) FROM locations WHERE class IS NOT NULL "
            "GROUP BY class").fetchall())
    assert {c: n for c, n in facts["classes"].items() if c != "unmapped"} == by_class
    assert facts["sources"][0]["format"] == "flatfile"
    assert len(facts["sources"][0]["sha256"]) == 64
    assert facts["index"]["k"] == 5 and facts["index_bytes"] > 0


def test_info_text(built):
    db, _ = built
    res = _run("info", "--db", db)
    assert res.exit_code == 0, res.output
    assert "entries per class" in res.stdout and "sha256" in res.stdout
    assert "index: k=5" in res.stdout


def test_existing_dir_without_force_is_exit_2(built, test_data):
    db, _ = built
    res = _run("build", test_data / "swissprot/sample_entries.dat.gz", "--db", db,
               "--no-progress")
    assert res.exit_code == 2
    assert res.stderr.strip() == f"error: {db}: already exists; use --force to replace it"


def test_bad_entries_are_skipped_and_counted(tmp_path, test_data):
    bad = sorted((test_data / "swissprot/bad").glob("*.dat"))
    db = tmp_path / "kb"
    res = _run("build", *bad, "--db", db, "--no-progress", "--workers", "1")
    assert res.exit_code == 0, res.output
    skipped = [line for line in res.stderr.splitlines() if line.startswith("skipped: ")]
    assert skipped and all(", line " in line for line in skipped)
    n_skipped = int(res.stdout.split(" skipped")[0].rsplit(", ", 1)[1].replace(",", ""))
    assert n_skipped == len(skipped) > 0
    with duckdb.connect(str(db / DB_FILE), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM entries").fetchone()[0] > 0
    # bad_id_line_in_second_entry.dat: the second entry's ID line is at line 87.
    assert any("bad_id_line_in_second_entry.dat, line 87: " in line for line in skipped)

    strict_db = tmp_path / "strict"
    res = _run("build", *bad, "--db", strict_db, "--no-progress", "--strict", "--workers", "1")
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and ", line " in lines[0]
    assert not strict_db.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["kb"]


@pytest.mark.parametrize("case", ["empty", "truncated", "not_uniprot", "missing", "bad_row"])
def test_bad_files_are_exit_2_and_write_nothing(tmp_path, test_data, case):
    if case == "empty":
        path = tmp_path / "empty.dat"
        path.write_bytes(b"")
        expected = "empty.dat: empty input"
    elif case == "truncated":
        path = tmp_path / "cut.dat.gz"
        data = (test_data / "swissprot/sample_entries.dat.gz").read_bytes()
        path.write_bytes(data[: len(data) // 2])
        expected = "cut.dat.gz: truncated or corrupt gzip"
    elif case == "not_uniprot":
        path = tmp_path / "readme.txt"
        path.write_text("Just some notes,\nnothing to see.\n")
        expected = "readme.txt, line 1: unknown input format"
    elif case == "missing":
        path = tmp_path / "nope.dat"
        expected = "nope.dat"
    else:
        path = tmp_path / "labels.csv"
        path.write_text("accession,sequence,label\nP1,MKV,Nucleus\nP2,MKV,Centrosome\n")
        expected = "labels.csv, line 3: unknown location 'Centrosome'"
    db = tmp_path / "kb"
    args = ["build", path, "--db", db, "--no-progress"] + (["--strict"] if case == "bad_row"
                                                           else [])
    res = _run(*args)
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], lines
    assert "Traceback" not in res.output
    assert not db.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_truncated_flatfile_is_exit_2(tmp_path, test_data):
    """A truncated gzip detected only in the middle of parsing (not at detection time)."""
    data = gzip.decompress((test_data / "swissprot/sample_entries.dat.gz").read_bytes())
    path = tmp_path / "cut_late.dat.gz"
    full = gzip.compress(data)
    path.write_bytes(full[: int(len(full) * 0.9)])
    res = _run("build", path, "--db", tmp_path / "kb", "--no-progress", "--workers", "1")
    assert res.exit_code == 2
    assert "cut_late.dat.gz" in res.stderr and "gzip" in res.stderr
    assert not (tmp_path / "kb").exists()


def test_tables_fasta_format_override_and_min_evidence(tmp_path, repo_root):
    csv_file = tmp_path / "a.csv"
    csv_file.write_text("accession,sequence,label\nP1,MKVL,Cytoplasm|Nucleus\n")
    fasta = tmp_path / "b.txt"
    fasta.write_text(">Q1 Mitochondrion-U\nMLLL\n>P1 Nucleus-U\nMAAA\n")
    db = tmp_path / "kb"
    res = _run("build", csv_file, fasta, "--db", db, "--no-progress", "--format", "table")
    assert res.exit_code == 2 and "b.txt" in res.stderr  # a FASTA read as a table
    res = _run("build", csv_file, fasta, "--db", db, "--no-progress",
               "--min-evidence", "experimental")
    assert res.exit_code == 0, res.output
    assert "2 entries" in res.stdout and "1 duplicate accessions ignored" in res.stdout
    with duckdb.connect(str(db / DB_FILE), read_only=True) as con:
        rows = con.execute("SELECT accession, class FROM locations ORDER BY 1, 2").fetchall()
        assert rows == [("P1", "Cytoplasm"), ("P1", "Nucleus"), ("Q1", "Mitochondrion")]
        assert con.execute("SELECT value FROM meta WHERE key = 'min_evidence'").fetchone() == (
            "experimental",)
    res = _run("build", csv_file, "--db", db, "--no-progress", "--min-evidence", "some")
    assert res.exit_code == 2
    res = _run("build", csv_file, "--db", tmp_path / "k9", "--no-progress", "--k", "9")
    assert res.exit_code == 2 and "k-mer length k must be an integer in 1..7" in res.stderr
    assert not (tmp_path / "k9").exists()


def test_info_on_missing_db(tmp_path):
    res = _run("info", "--db", tmp_path / "nothing")
    assert res.exit_code == 2
    assert res.stderr.strip().startswith("error: ") and "does not exist" in res.stderr


def test_help_documents_every_option():
    res = _run("build", "--help")
    assert res.exit_code == 0
    for opt in ("--db", "--force", "--min-evidence", "--strict", "--format", "--k",
                "--workers", "--progress"):
        assert opt in res.stdout
