"""``kb search`` / ``kb scan`` in-process: formats, files, summaries, exit codes, messages."""

from __future__ import annotations

import gzip
import io
import json

import pyarrow.parquet as pq
import pytest
import test_api
from test_api import expected_rows, sampled_peptides
from typer.testing import CliRunner

from cli.main import kb_app

# The real knowledge base built once per session (fixtures shared with test_api).
kb_dir = test_api.kb_dir
entries = test_api.entries
knowledge_base = test_api.knowledge_base
runner = CliRunner()
HEADER = ["peptide", "accession", "start", "end", "query", "entry_id"]
FULL_HEADER = [*HEADER, "query_id", "input_peptide"]


@pytest.fixture(scope="session")
def setup(kb_dir, entries):
    peptides = sampled_peptides(entries.sequence.tolist(), 60, seed=31)
    return kb_dir, entries, peptides


def parse_tsv(text: str) -> tuple[list[str], list[tuple]]:
    lines = text.splitlines()
    header = lines[0].split("\t")
    out = []
    for line in lines[1:]:
        f = line.split("\t")
        out.append((f[0], f[1], int(f[2]), int(f[3]), int(f[4]), int(f[5])))
        assert f[0] == f[7].upper()  # the peptide as written, beside the normalised one
    return header, out


def test_search_tsv_to_stdout(setup):
    kb_dir, entries, peptides = setup
    result = runner.invoke(kb_app, ["search", "--db", str(kb_dir), *peptides])
    assert result.exit_code == 0, result.output
    header, got = parse_tsv(result.stdout)
    assert header == FULL_HEADER
    expected = expected_rows(entries, peptides, False)
    assert got == expected
    n_no_hit = len(peptides) - len({r[4] for r in expected})
    assert f"{len(peptides)} peptide(s)" in result.stderr
    assert f"{len(expected)} occurrence(s); {n_no_hit} peptide(s) without a hit" in result.stderr


def test_search_input_file_formats_and_out(setup, tmp_path):
    kb_dir, entries, peptides = setup
    infile = tmp_path / "peps.txt.gz"
    with gzip.open(infile, "wt") as fh:
        fh.write("# my peptides\n\n" + "\n".join(peptides) + "\n")
    expected = expected_rows(entries, peptides, True)
    for fmt in ("csv", "parquet", "jsonl", "tsv"):
        out = tmp_path / f"hits.{fmt}"
        result = runner.invoke(kb_app, ["search", "--db", str(kb_dir), "--input", str(infile),
                                        "--out", str(out), "--format", fmt, "--il-equivalent"])
        assert result.exit_code == 0, result.output
        assert result.stdout == ""
        if fmt == "parquet":
            table = pq.read_table(out)
            got = list(zip(*(table.column(c).to_pylist() for c in HEADER), strict=True))
        elif fmt == "jsonl":
            recs = [json.loads(line) for line in out.read_text().splitlines()]
            got = [tuple(r[c] for c in HEADER) for r in recs]
        elif fmt == "csv":
            import pyarrow.csv as pcsv

            table = pcsv.read_csv(io.BytesIO(out.read_bytes()))
            got = list(zip(*(table.column(c).to_pylist() for c in HEADER), strict=True))
        else:
            got = parse_tsv(out.read_text())[1]
        assert got == expected, fmt
        assert not list(tmp_path.glob(".*.tmp"))  # atomic write left no temp file


def test_search_table_input_and_filters(setup, tmp_path):
    kb_dir, entries, peptides = setup
    infile = tmp_path / "peps.csv"
    infile.write_text("id,Peptide\n" + "".join(f"p{i},{p}\n" for i, p in enumerate(peptides)))
    keep = ((entries.taxon_id == 9606) & (entries.reviewed == True)).to_numpy()  # noqa: E712
    result = runner.invoke(kb_app, ["search", "--db", str(kb_dir), "-i", str(infile),
                                    "--taxon", "Homo sapiens", "--reviewed-only"])
    assert result.exit_code == 0, result.output
    assert parse_tsv(result.stdout)[1] == expected_rows(entries, peptides, False, keep)


def test_search_with_locations(setup):
    kb_dir, entries, _ = setup
    seq = entries.sequence[0]
    result = runner.invoke(kb_app, ["search", "--db", str(kb_dir), seq[5:20], "--with-locations"])
    assert result.exit_code == 0, result.output
    header = result.stdout.splitlines()[0].split("\t")
    assert header[:6] == HEADER and "classes" in header and "organism" in header


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["MKV", "AC1D"], "invalid peptide 'AC1D' (argument 2)"),
        (["--taxon", "Nowhereia", "MKV"], "'Nowhereia' matches no entry"),
        (["MKV", "--format", "xml"], "unknown table format 'xml' (expected one of tsv, csv, "
         "parquet, jsonl)"),
        (["MKV", "--out", "hits.xlsx"], "hits.xlsx: unknown table format"),
        ([], "no peptides given"),
    ],
)
def test_search_user_errors(setup, args, message):
    kb_dir = setup[0]
    result = runner.invoke(kb_app, ["search", "--db", str(kb_dir), *args])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert "Traceback" not in result.output


def test_search_bad_line_in_input_file(setup, tmp_path):
    infile = tmp_path / "peps.txt"
    infile.write_text("MKV\n\n# comment\nPEP*TIDE\n")
    result = runner.invoke(kb_app, ["search", "--db", str(setup[0]), "--input", str(infile)])
    assert result.exit_code == 2
    assert f"error: {infile}, line 4: invalid peptide 'PEP*TIDE'" in result.stderr


def test_search_missing_db_and_input(tmp_path):
    result = runner.invoke(kb_app, ["search", "--db", str(tmp_path / "none"), "MKV"])
    assert result.exit_code == 2 and "knowledge-base directory does not exist" in result.stderr
    result = runner.invoke(kb_app, ["search", "--db", str(tmp_path), "MKV"])
    assert result.exit_code == 2 and "not a finished knowledge base" in result.stderr
    result = runner.invoke(kb_app, ["search", "--db", str(tmp_path), "-i", str(tmp_path / "x")])
    assert result.exit_code == 2 and "x" in result.stderr


def test_scan_fasta(tmp_path, setup):
    _, entries, peptides = setup
    fasta = tmp_path / "proteome.fasta"
    fasta.write_text("".join(f">sp|{a}|X_HUMAN desc\n{s}\n"
                             for a, s in zip(entries.accession, entries.sequence, strict=True)))
    result = runner.invoke(kb_app, ["scan", "--fasta", str(fasta), *peptides])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split("\t") == ["peptide", "accession", "start", "end", "query", "record",
                                    "query_id", "input_peptide"]
    got = [tuple(int(v) if i >= 2 else v for i, v in enumerate(line.split("\t")[:6]))
           for line in lines[1:]]
    assert got == expected_rows(entries, peptides, False)  # record index == entry_id here
    assert f"{len(entries)} FASTA record(s)" in result.stderr


def test_scan_errors(tmp_path):
    bad = tmp_path / "bad.fa"
    bad.write_text(">sp|P1|X\nMKV\nMK9\n")
    result = runner.invoke(kb_app, ["scan", "--fasta", str(bad), "MKV"])
    assert result.exit_code == 2
    assert f"error: {bad}, line 3: invalid letter '9'" in result.stderr
    result = runner.invoke(kb_app, ["scan", "--fasta", str(tmp_path / "none.fa"), "MKV"])
    assert result.exit_code == 2 and "none.fa" in result.stderr


def test_help_explains_options():
    for cmd, options in (("search", ["--db", "--input", "--out", "--format", "--il-equivalent",
                                      "--taxon", "--reviewed-only", "--with-locations"]),
                         ("scan", ["--fasta", "--input", "--out", "--format", "--il-equivalent"])):
        result = runner.invoke(kb_app, [cmd, "--help"])
        assert result.exit_code == 0
        for option in options:
            assert option in result.stdout
