"""kb.fasta, the one FASTA reader: UniProt/DeepLoc/plain headers against hand-written golden
records, sequences against Biopython's SeqIO, errors with file and line, gzip and stdin."""

from __future__ import annotations

import gzip
import io
import re
import sys

import pytest
from Bio import SeqIO, SwissProt

from kb.errors import InputFormatError
from kb.fasta import FastaRecord, read_fasta

UNIPROT = (
    ">sp|P38175|NAME_HUMAN Protein name with (parentheses) OS=Homo sapiens OX=9606 GN=ABC "
    "PE=1 SV=2\nMKVLAA\nGIVa*\n"
    ">tr|A0A023GPI8|A0A023GPI8_CANAL Lectin OS=Canavalia lineata OX=28957 PE=1 SV=1\nPEPTIDE\n"
    ">sp|P12345-2|AATM_RABIT Isoform 2 of Aspartate aminotransferase OS=Oryctolagus "
    "cuniculus OX=9986 GN=GOT2\nMALL\n"
    ">Q9H400 Cell.membrane-M test\nMKV\n"
    ">my_protein some free text\nMKVL\n"
    ">gi|12345|ref|NP_1.1| plain db header\nAC\n"
)

GOLDEN = [
    FastaRecord(
        id="P38175", sequence="MKVLAAGIVA", line=1, entry_name="NAME_HUMAN",
        header="sp|P38175|NAME_HUMAN Protein name with (parentheses) OS=Homo sapiens OX=9606 "
        "GN=ABC PE=1 SV=2",
        description="Protein name with (parentheses)", organism="Homo sapiens", taxon_id=9606,
        gene="ABC", db="sp",
    ),
    FastaRecord(
        id="A0A023GPI8", sequence="PEPTIDE", line=4, entry_name="A0A023GPI8_CANAL",
        header="tr|A0A023GPI8|A0A023GPI8_CANAL Lectin OS=Canavalia lineata OX=28957 PE=1 SV=1",
        description="Lectin", organism="Canavalia lineata", taxon_id=28957, db="tr",
    ),
    FastaRecord(
        id="P12345-2", sequence="MALL", line=6, entry_name="AATM_RABIT",
        header="sp|P12345-2|AATM_RABIT Isoform 2 of Aspartate aminotransferase "
        "OS=Oryctolagus cuniculus OX=9986 GN=GOT2",
        description="Isoform 2 of Aspartate aminotransferase",
        organism="Oryctolagus cuniculus", taxon_id=9986, gene="GOT2", db="sp",
    ),
    FastaRecord(id="Q9H400", sequence="MKV", line=8, header="Q9H400 Cell.membrane-M test",
                description="Cell.membrane-M test"),
    FastaRecord(id="my_protein", sequence="MKVL", line=10, header="my_protein some free text",
                description="some free text"),
    FastaRecord(id="12345", sequence="AC", line=12, header="gi|12345|ref|NP_1.1| plain db header",
                description="plain db header", db="gi"),
]


def test_golden_records(tmp_path):
    path = tmp_path / "mixed.fasta"
    path.write_text(UNIPROT)
    got = read_fasta(path)
    assert got == GOLDEN
    assert [r.reviewed for r in got] == [True, False, True, None, None, None]
    assert got[2].canonical_accession == "P12345" and got[0].canonical_accession == "P38175"
    assert got[0].accession == "P38175"


def test_gzip_stdin_and_bom_give_the_same_records(tmp_path, monkeypatch):
    gz = tmp_path / "mixed.fa.gz"  # gzip detected from the bytes, not the name
    with gzip.open(gz, "wt") as fh:
        fh.write(UNIPROT)
    assert read_fasta(gz) == GOLDEN
    odd_name = tmp_path / "mixed.txt"
    odd_name.write_bytes(gz.read_bytes())
    assert read_fasta(odd_name) == GOLDEN
    bom = tmp_path / "bom.fasta"
    bom.write_bytes(b"\xef\xbb\xbf" + UNIPROT.encode())
    assert read_fasta(bom) == GOLDEN
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(UNIPROT.encode())))
    assert read_fasta("-") == GOLDEN


def test_real_swissprot_entries_against_biopython(tmp_path, test_data):
    """UniProt-style FASTA written from the shipped real flat-file entries: our ids, organism,
    taxon and sequences against Biopython's SwissProt parser and SeqIO.parse."""
    with gzip.open(test_data / "swissprot" / "sample_entries.dat.gz", "rt") as fh:
        text = fh.read()
    # one SwissProt.read per entry (the sample glues some "//ID" lines, see test_flatfile.py)
    chunks = [c.lstrip("\n") for c in re.split(r"(?m)^//", text) if c.strip()][:60]
    entries = [SwissProt.read(io.StringIO(c + "//\n")) for c in chunks]
    assert len(entries) == 60
    path = tmp_path / "real.fasta"
    with open(path, "w") as out:
        for e in entries:
            seq = e.sequence.lower()  # lower case and 60-column lines, as users' files vary
            body = "\n".join(seq[i:i + 60] for i in range(0, len(seq), 60))
            db = "sp" if e.data_class == "Reviewed" else "tr"
            out.write(f">{db}|{e.accessions[0]}|{e.entry_name} Some protein "
                      f"OS={e.organism.rstrip('.')} OX={e.taxonomy_id[0]} PE=1 SV=1\n{body}\n")
    ours = read_fasta(path)
    with open(path) as fh:
        bio = list(SeqIO.parse(fh, "fasta"))
    assert [r.sequence for r in ours] == [str(b.seq).upper() for b in bio]
    assert [r.id for r in ours] == [b.id.split("|")[1] for b in bio]
    assert [r.id for r in ours] == [e.accessions[0] for e in entries]
    assert [r.entry_name for r in ours] == [e.entry_name for e in entries]
    assert [r.taxon_id for r in ours] == [int(e.taxonomy_id[0]) for e in entries]
    assert [r.organism for r in ours] == [e.organism.rstrip(".") for e in entries]
    assert [r.header for r in ours] == [b.description for b in bio]
    assert [r.reviewed for r in ours] == [e.data_class == "Reviewed" for e in entries]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("MKV\n>P1\nMKV\n", 1, "not FASTA: sequence data before the first '>' header"),
        (">P1\n>P2\nMKV\n", 1, "record 'P1' has no sequence"),
        (">P1\nMKV\n>P2\n\n", 3, "record 'P2' has no sequence"),
        (">sp|P1|X\nMKV\nMKV\nAB1V\n", 4, "invalid letter '1' at sequence position 9 of 'sp|P1|X'"),
        (">P1\nMKV\n>\nAAA\n", 3, "empty FASTA header"),
        (">sp|P1|X_Y Name OS=Homo OX=human\nMKV\n", 1, "OX='human' is not a taxon id"),
        (">P1\nMKV\n\xe9\n", 3, "not UTF-8 text: byte 0xe9"),
    ],
)
def test_errors_name_file_line_and_letter(tmp_path, text, line, message):
    path = tmp_path / "bad.fa"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(InputFormatError, match=message) as e:
        read_fasta(path)
    assert e.value.line == line and e.value.path == str(path)
    assert str(e.value).startswith(f"{path}, line {line}: ")


def test_empty_file_and_lenient_mode(tmp_path):
    empty = tmp_path / "empty.fa"
    empty.write_text("\n")
    with pytest.raises(InputFormatError, match="empty FASTA file"):
        read_fasta(empty)
    mixed = tmp_path / "mixed.fa"
    mixed.write_text(">P1\nMKV\n>P2\n>P3\nMK#V\nMKV\n>P4\nAC\n")
    errors: list = []
    good = read_fasta(mixed, strict=False, errors=errors)
    assert [r.id for r in good] == ["P1", "P4"]
    assert [e.line for e in errors] == [3, 5]
    assert [r.sequence for r in read_fasta(mixed, strict=False, letters=None,
                                           require_sequence=False)] == ["MKV", "", "AC"]
    with pytest.raises(FileNotFoundError):
        read_fasta(tmp_path / "missing.fa")
    with pytest.raises(IsADirectoryError):
        read_fasta(tmp_path)


def test_psl_fasta_keeps_its_api_and_returns_accessions(tmp_path):
    from psl.fasta import iter_fasta as psl_iter
    from psl.fasta import read_fasta as psl_read

    path = tmp_path / "u.fasta"
    path.write_text(UNIPROT)
    recs = psl_read(path)
    assert [r.id for r in recs] == ["P38175", "A0A023GPI8", "P12345-2", "Q9H400", "my_protein",
                                    "12345"]
    assert recs[3].description == "Cell.membrane-M test"
    assert [r.sequence for r in psl_iter(path)] == [r.sequence for r in GOLDEN]


def test_kb_readers_use_the_same_parser(tmp_path):
    from kb.scan import fasta_accession, iter_fasta
    from kb.tables import read_fasta as kb_read

    path = tmp_path / "u.fasta"
    path.write_text(UNIPROT)
    assert [r.id for r in iter_fasta(path)] == [g.id for g in GOLDEN]
    entries = list(kb_read(path))
    assert [(e.accession, e.entry_name, e.organism, e.taxon_id, e.gene, e.reviewed)
            for e in entries[:3]] == [
        (g.id, g.entry_name, g.organism, g.taxon_id, g.gene, g.reviewed) for g in GOLDEN[:3]]
    assert entries[0].protein_name == "Protein name with (parentheses)"
    assert [loc.label_class for loc in entries[3].locations] == ["Cell.membrane"]
    assert fasta_accession("sp|P12345-2|X desc") == "P12345-2"


def test_truncated_gzip_names_the_last_line_read(tmp_path):
    import zlib

    data = gzip.compress(b">P1 Nucleus-U\nMKVLAAGG\n" * 5000)
    cut = data[: len(data) // 2]
    path = tmp_path / "cut.fasta.gz"
    path.write_bytes(cut)
    # oracle: the complete lines zlib can recover from the truncated stream
    recoverable = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(cut).count(b"\n")
    with pytest.raises(InputFormatError, match="truncated or corrupt gzip after line") as e:
        read_fasta(path)
    line = int(re.search(r"after line (\d+)", str(e.value)).group(1))
    assert 0 < line <= recoverable and line > recoverable // 2  # not "after line 0"
