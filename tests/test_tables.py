"""Table and FASTA readers and format detection (kb.tables) on real and hand-made inputs."""

from __future__ import annotations

import csv
import gzip
import io
import re

import pytest

from kb.alphabet import SEQUENCE_LETTERS
from kb.errors import InputFormatError
from kb.records import Location
from kb.tables import detect_format, parse_label, read_fasta, read_table


def _real_deeploc1_records(repo_root, accessions):
    """(accession, label, sequence) of real DeepLoc 1.0 records, read with a plain loop."""
    with gzip.open(repo_root / "data/deeploc1/deeploc_data.fasta.gz", "rt") as fh:
        text = fh.read()
    out = {}
    for block in text.split(">")[1:]:
        header, _, seq = block.partition("\n")
        acc = header.split()[0]
        if acc in accessions:
            out[acc] = (header, "".join(seq.split()))
    return [out[a] for a in accessions]


def test_detect_format(tmp_path, test_data, repo_root):
    assert detect_format(test_data / "swissprot/sample_entries.dat.gz") == "flatfile"
    assert detect_format(repo_root / "data/deeploc1/deeploc_data.fasta.gz") == "fasta"
    assert detect_format(repo_root / "data/deeploc2/deeploc2_swissprot.csv.gz") == "table"
    tsv = tmp_path / "export.tsv"
    tsv.write_text("\n\nEntry\tSequence\nP1\tMKV\n")  # leading blank lines are skipped
    assert detect_format(tsv) == "table"
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    with pytest.raises(InputFormatError, match=r"empty.txt: empty input"):
        detect_format(empty)
    other = tmp_path / "notes.csv"
    other.write_text("name,value\nx,1\n")
    with pytest.raises(InputFormatError, match=r"notes.csv, line 1: unknown input format"):
        detect_format(other)
    binary = tmp_path / "blob.bin"
    binary.write_bytes(b"\xff\xfe\x00\x81" * 10)
    with pytest.raises(InputFormatError, match="blob.bin"):
        detect_format(binary)


def test_deeploc2_csv_rows_agree_with_csv_module(repo_root, tmp_path):
    src = repo_root / "data/deeploc2/deeploc2_swissprot.csv.gz"
    with gzip.open(src, "rt") as fh:
        lines = [next(fh) for _ in range(41)]
    small = tmp_path / "deeploc2_head.csv"
    small.write_text("".join(lines))
    oracle = list(csv.DictReader(io.StringIO("".join(lines))))
    entries = list(read_table(small))
    assert len(entries) == len(oracle) == 40
    for e, row in zip(entries, oracle, strict=True):
        assert e.accession == row["accession"] and e.sequence == row["sequence"]
        labels = row["label"].split("|")
        assert [loc.term for loc in e.locations] == labels
        assert all(loc.evidence is None and loc.isoform is None for loc in e.locations)
    # Hand-checked rows of the shipped file (lines 2, 3 and 6).
    assert entries[0].accession == "Q96S94"
    assert entries[0].locations == [Location(term="Nucleus", label_class="Nucleus")]
    assert entries[1].locations == [Location(term="Cytoplasm", label_class="Cytoplasm")]
    assert entries[1].line == 3
    assert (entries[4].accession, entries[4].line) == ("P23610", 6)
    assert [loc.label_class for loc in entries[4].locations] == [
        "Cytoplasm", "Lysosome/Vacuole", "Nucleus"]


def test_uniprot_tsv_export(tmp_path):
    tsv = tmp_path / "uniprot.tsv"
    tsv.write_text(
        "Entry\tEntry Name\tReviewed\tProtein names\tGene Names\tOrganism\tOrganism (ID)\t"
        "Sequence\tSubcellular location [CC]\n"
        "P04439\tHLAA_HUMAN\treviewed\tHLA class I histocompatibility antigen, A alpha chain\t"
        "HLA-A HLAA\tHomo sapiens (Human)\t9606\tMAVMAPRTLLLLLSGALALTQTWA\t"
        "SUBCELLULAR LOCATION: Cell membrane {ECO:0000269|PubMed:21263072}; Single-pass type I "
        "membrane protein {ECO:0000255}. Endoplasmic reticulum membrane "
        "{ECO:0000305|PubMed:8805302}; Single-pass type I membrane protein {ECO:0000255}\n"
        "Q00001\tTEST_MOUSE\tunreviewed\tSome protein\t\tMus musculus (Mouse)\t10090\tmkvl\t"
        "SUBCELLULAR LOCATION: [Isoform 1]: Nucleus {ECO:0000269|PubMed:1}. "
        "SUBCELLULAR LOCATION: [Isoform 2]: Cytoplasm (By similarity).\n"
        "Q00002\t\t\t\t\t\t\tMWW\t\n"
    )
    a, b, c = list(read_table(tsv))
    assert (a.accession, a.entry_name, a.reviewed, a.gene, a.organism, a.taxon_id) == (
        "P04439", "HLAA_HUMAN", True, "HLA-A", "Homo sapiens (Human)", 9606)
    assert a.protein_name == "HLA class I histocompatibility antigen, A alpha chain"
    assert [(x.term, x.evidence, x.topology) for x in a.locations] == [
        ("Cell membrane", "ECO:0000269", "Single-pass type I membrane protein"),
        ("Endoplasmic reticulum membrane", "ECO:0000305", "Single-pass type I membrane protein"),
    ]
    assert all(x.label_class is None for x in a.locations)  # mapped by the store
    assert (b.reviewed, b.sequence, b.taxon_id) == (False, "MKVL", 10090)
    assert [(x.isoform, x.term, x.evidence) for x in b.locations] == [
        ("Isoform 1", "Nucleus", "ECO:0000269"), ("Isoform 2", "Cytoplasm", "By similarity")]
    assert (c.accession, c.locations, c.entry_name, c.taxon_id) == ("Q00002", [], None, None)


def test_table_row_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "accession,sequence,label\n"
        "P1,MKV,Nucleus\n"
        '"P2","MK\nV",Cytoplasm\n'  # a quoted field spanning lines 3-4
        "P3,MK1V,Nucleus\n"  # line 5: bad letter
        "P4,MKV\n"  # line 6: missing column
        "P5,MKV,Golgi body\n"  # line 7: unknown label
        "P6,MKV,Lysosome/Vacuole\n"
    )
    errors: list = []
    good = list(read_table(bad, errors=errors))
    assert [e.accession for e in good] == ["P1", "P2", "P6"]
    assert [e.line for e in good] == [2, 3, 8]
    assert good[1].sequence == "MKV"
    assert [(e.line, e.path) for e in errors] == [(5, str(bad)), (6, str(bad)), (7, str(bad))]
    assert "invalid sequence letter(s) '1'" in str(errors[0])
    assert "expected 3 columns, found 2" in str(errors[1])
    assert "unknown location 'Golgi body'" in str(errors[2])
    with pytest.raises(InputFormatError, match=r"bad.csv, line 5: invalid sequence"):
        list(read_table(bad, strict=True))


def test_table_whole_file_errors(tmp_path):
    no_seq = tmp_path / "noseq.tsv"
    no_seq.write_text("Entry\tLength\nP1\t3\n")
    with pytest.raises(InputFormatError, match=r"noseq.tsv, line 1: table needs"):
        list(read_table(no_seq))
    header_only = tmp_path / "h.csv"
    header_only.write_text("accession,sequence\n")
    with pytest.raises(InputFormatError, match="header row but no entries"):
        list(read_table(header_only))


def test_deeploc1_fasta_real_records(repo_root, tmp_path):
    accs = ["Q9H400", "Q5I0E9", "P35123", "P63033"]
    records = _real_deeploc1_records(repo_root, accs)
    path = tmp_path / "deeploc1_subset.fasta.gz"
    with gzip.open(path, "wt") as fh:
        for header, seq in records:
            fh.write(f">{header}\n")
            for i in range(0, len(seq), 60):
                fh.write(seq[i : i + 60] + "\n")
    entries = list(read_fasta(path))
    assert [e.accession for e in entries] == accs
    assert [e.sequence for e in entries] == [seq for _, seq in records]
    # Headers: "Q9H400 Cell.membrane-M test", ..., "P35123 Cytoplasm-Nucleus-U".
    assert entries[0].locations == [Location(term="Cell.membrane", label_class="Cell.membrane")]
    assert [loc.label_class for loc in entries[2].locations] == ["Cytoplasm", "Nucleus"]
    assert entries[2].locations[0].term == "Cytoplasm-Nucleus"
    lines = [1]
    for _, seq in records[:-1]:
        lines.append(lines[-1] + 1 + -(-len(seq) // 60))
    assert [e.line for e in entries] == lines


def test_uniprot_and_generic_fasta_headers(tmp_path):
    fa = tmp_path / "u.fasta"
    fa.write_text(
        ">sp|P04439|HLAA_HUMAN HLA class I histocompatibility antigen, A alpha chain "
        "OS=Homo sapiens OX=9606 GN=HLA-A PE=1 SV=2\nMAVMAPRTLL\nLLLSGA*\n"
        ">tr|A0A023GPI8|A0A023GPI8_CANAL Lectin OS=Canavalia lineata OX=28957 PE=1 SV=1\nMK\n"
        ">my_protein some free text\nmkvl\n"
    )
    a, b, c = list(read_fasta(fa))
    assert (a.accession, a.entry_name, a.reviewed, a.organism, a.taxon_id, a.gene) == (
        "P04439", "HLAA_HUMAN", True, "Homo sapiens", 9606, "HLA-A")
    assert a.protein_name == "HLA class I histocompatibility antigen, A alpha chain"
    assert a.sequence == "MAVMAPRTLLLLLSGA"
    assert (b.accession, b.reviewed, b.taxon_id, b.gene, b.protein_name) == (
        "A0A023GPI8", False, 28957, None, "Lectin")
    assert (c.accession, c.protein_name, c.sequence, c.locations) == (
        "my_protein", "some free text", "MKVL", [])


def test_fasta_errors(tmp_path):
    fa = tmp_path / "bad.fasta"
    fa.write_text(">P1\nMKV\n>P2\n>P3 Nucleus-U\nMK#V\n>P4 Nucleus-U\nMKV\n")
    errors: list = []
    good = list(read_fasta(fa, errors=errors))
    assert [e.accession for e in good] == ["P1", "P4"]
    assert [(e.line, re.sub(r".*: ", "", str(e))) for e in errors] == [
        (3, "record 'P2' has no sequence (empty sequence)"),
        (5, "invalid letter '#' at sequence position 3 of 'P3' (expected "
            + "".join(sorted(SEQUENCE_LETTERS)) + ")"),
    ]
    with pytest.raises(InputFormatError, match=r"bad.fasta, line 3: record 'P2' has no seq"):
        list(read_fasta(fa, strict=True))
    text = tmp_path / "text.fasta"
    text.write_text("hello\n>P1\nMK\n")
    with pytest.raises(InputFormatError, match=r"text.fasta, line 1: not FASTA"):
        list(read_fasta(text))
    empty = tmp_path / "empty.fasta"
    empty.write_text("")
    with pytest.raises(InputFormatError, match="empty FASTA file"):
        list(read_fasta(empty))


def test_truncated_gzip(tmp_path, repo_root):
    data = (repo_root / "data/deeploc1/deeploc_data.fasta.gz").read_bytes()
    cut = tmp_path / "cut.fasta.gz"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(InputFormatError, match=r"cut.fasta.gz: truncated or corrupt gzip"):
        list(read_fasta(cut))
    data = (repo_root / "data/deeploc2/deeploc2_swissprot.csv.gz").read_bytes()
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFormatError, match=r"cut.csv.gz: truncated or corrupt gzip"):
        list(read_table(cut))


def test_parse_label():
    assert parse_label("Cell membrane") == ["Cell.membrane"]
    assert parse_label("Cytoplasm-Nucleus") == ["Cytoplasm", "Nucleus"]
    assert parse_label("Endoplasmic.reticulum") == ["Endoplasmic.reticulum"]
    with pytest.raises(ValueError, match="unknown location 'Centrosome'"):
        parse_label("Centrosome")
