"""Aho-Corasick scanning (store and FASTA) vs brute-force ``str.find``; FASTA reading errors."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from test_index import STANDARD, brute_force, random_sequences, sample_peptides

from kb.errors import InputFormatError
from kb.peptides import prepare_peptides
from kb.scan import fasta_accession, iter_fasta, scan_fasta, scan_store
from kb.seqstore import SequenceStore


def store_hits(store, seqs, peptides, il):
    batch = prepare_peptides(peptides)
    hit_off, hits = scan_store(store, batch.unique, il)
    entry = np.searchsorted(store.offsets, hits, side="right") - 1
    pairs = list(zip(entry.tolist(), (hits - store.offsets[entry]).tolist(), strict=True))
    return batch, [pairs[hit_off[u]:hit_off[u + 1]] for u in range(len(batch.unique))]


@pytest.mark.parametrize("il", [False, True])
def test_scan_store_equals_brute_force(il):
    rng = np.random.default_rng(11 + il)
    seqs = random_sequences(rng, 120, "AAALLIIKXB", 40) + random_sequences(rng, 80, STANDARD, 60)
    seqs += ["AAAAAAAAAA", "ILILILIL"]
    store = SequenceStore.from_sequences(seqs)
    # Short peptides (the path the index leaves to the scanner), incl. I/L-only variants that
    # collapse to one automaton key in I/L mode.
    peps = sample_peptides(rng, seqs, 300, 1, 6) + ["LA", "IA", "AAA", "XB", "IL", "LI", "LL"]
    batch, got = store_hits(store, seqs, peps, il)
    for u, pep in enumerate(batch.unique):
        assert got[u] == brute_force(seqs, pep, il), pep
    i_la, i_ia = batch.unique.index("LA"), batch.unique.index("IA")
    assert (got[i_la] == got[i_ia]) == il or not got[i_la]


def test_scan_store_empty_inputs():
    store = SequenceStore.from_sequences(["ACD"])
    hit_off, hits = scan_store(store, [])
    assert hit_off.tolist() == [0] and hits.shape == (0,)
    hit_off, hits = scan_store(SequenceStore.from_sequences([]), ["A"])
    assert hit_off.tolist() == [0, 0]


@pytest.mark.parametrize(
    ("header", "accession"),
    [
        ("sp|P12345|ABC_HUMAN Some protein OS=Homo sapiens", "P12345"),
        ("tr|A0A000|A0A000_9XXX", "A0A000"),
        ("ENSP00000354587.3 pep chromosome:GRCh38", "ENSP00000354587.3"),
        ("gene1|x", "gene1|x"),
    ],
)
def test_fasta_accession(header, accession):
    assert fasta_accession(header) == accession


def write_fasta(path, records, width=7, gz=False):
    text = "".join(
        f">{h}\n" + "".join(s[i:i + width] + "\n" for i in range(0, len(s), width))
        for h, s in records
    )
    if gz:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def test_iter_fasta_multiline_gzip_lowercase_stop(tmp_path):
    recs = [("sp|P1|A_HUMAN x", "mkvLAAGIVA*"), ("Q2 desc", ""), ("tr|Q3|B", "PEPTIDEK")]
    path = write_fasta(tmp_path / "p.fa.gz", recs, width=4, gz=True)
    got = list(iter_fasta(path))
    assert [(r.accession, r.sequence, r.line) for r in got] == [
        ("P1", "MKVLAAGIVA", 1), ("Q2", "", 5), ("Q3", "PEPTIDEK", 6)
    ]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("MKV\n>sp|P1|X\nMKV\n", 1, "not FASTA: sequence data before the first"),
        (">sp|P1|X\nMKV\nMK1V\n", 3, "invalid letter '1' at sequence position 4 of 'sp|P1|X'"),
        (">sp|P1|X\nMKV\n>\nAAA\n", 3, "empty FASTA header"),
    ],
)
def test_iter_fasta_errors_name_file_and_line(tmp_path, text, line, message):
    path = tmp_path / "bad.fa"
    path.write_text(text)
    with pytest.raises(InputFormatError, match=message) as e:
        list(iter_fasta(path))
    assert e.value.line == line and e.value.path == str(path)


def test_iter_fasta_empty_and_binary(tmp_path):
    (tmp_path / "empty.fa").write_text("\n\n")
    with pytest.raises(InputFormatError, match="empty FASTA file"):
        list(iter_fasta(tmp_path / "empty.fa"))
    (tmp_path / "bin.fa").write_bytes(b">x\n\xff\xfe\n")
    with pytest.raises(InputFormatError, match="not UTF-8 text: byte 0xff"):
        list(iter_fasta(tmp_path / "bin.fa"))


@pytest.mark.parametrize("il", [False, True])
def test_scan_fasta_equals_brute_force(tmp_path, il):
    rng = np.random.default_rng(21 + il)
    seqs = random_sequences(rng, 80, "AALLIIKX", 40) + random_sequences(rng, 40, STANDARD, 60)
    recs = [(f"sp|P{i:05d}|N_{i}", s) for i, s in enumerate(seqs)]
    path = write_fasta(tmp_path / "proteome.fa", recs)
    peps = sample_peptides(rng, seqs, 200, 1, 12)
    peps = peps + peps[:20] + [p.lower() for p in peps[20:30]]  # duplicates and lower case
    batch = prepare_peptides(peps)
    table, n_records = scan_fasta(path, batch, il)
    assert n_records == len(seqs)
    expected = []
    for q, pep in enumerate(batch.peptides):
        for e, s in brute_force(seqs, pep, il):
            expected.append((pep, f"P{e:05d}", s + 1, s + len(pep), q, e))
    got = list(zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True))
    assert table.column_names == ["peptide", "accession", "start", "end", "query", "record"]
    assert got == expected  # same rows, sorted by (query, record, start)
    assert len(expected) > 1000


def test_scan_fasta_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        scan_fasta(tmp_path / "nope.fa", prepare_peptides(["AAA"]))


# --------------------------------------------------------------------------- peptide batches
def dict_oracle(peptides):
    first: dict[str, int] = {}
    for p in peptides:
        first.setdefault(p.upper(), len(first))
    return [first[p.upper()] for p in peptides], list(first)


@pytest.mark.parametrize("collide", [False, True])
def test_prepare_peptides_deduplicates_like_a_dict(monkeypatch, collide):
    import kb.peptides as peptides_module

    if collide:  # every hash equal: the byte check must notice and fall back to exact grouping
        def constant_hash(raw, starts, lengths, out):
            out[:] = 7

        monkeypatch.setattr(peptides_module, "_hash", constant_hash)
    rng = np.random.default_rng(3)
    peps = ["".join(rng.choice(list("ACDL"), size=int(rng.integers(1, 5)))) for _ in range(500)]
    peps += [p.lower() for p in peps[:50]]
    batch = prepare_peptides(peps)
    codes, unique = dict_oracle(peps)
    assert batch.query_unique.tolist() == codes
    assert batch.unique == unique
    assert batch.unique_array().to_pylist() == unique
    assert batch.buf.tobytes().decode() == "".join(unique)
    assert batch.peptides == [p.upper() for p in peps]
    assert len(batch) == len(peps) and batch.n_unique == len(unique)


def test_read_peptides_formats(tmp_path):
    from kb.peptides import read_peptides

    (tmp_path / "a.txt").write_text("# header comment\n\n  mkv  \nPEPTIDE\n# x\nAAA\n")
    assert read_peptides(tmp_path / "a.txt") == (["mkv", "PEPTIDE", "AAA"], [3, 4, 6])
    (tmp_path / "b.tsv").write_text("id\tPeptide\tscore\np1\tMKV\t1\n\np2\tAAA\t2\n")
    assert read_peptides(tmp_path / "b.tsv") == (["MKV", "AAA"], [2, 4])
    (tmp_path / "c.csv").write_text("id,pep\np1,MKV\n")
    with pytest.raises(InputFormatError, match="no peptide column") as e:
        read_peptides(tmp_path / "c.csv")
    assert e.value.line == 1
    (tmp_path / "d.csv").write_text("peptide,id\nMKV,1\n")
    assert read_peptides(tmp_path / "d.csv") == (["MKV"], [2])
    (tmp_path / "e.txt").write_text("")
    assert read_peptides(tmp_path / "e.txt") == ([], [])


def test_invalid_peptide_in_file_names_file_and_line(tmp_path):
    from kb.errors import InvalidPeptideError
    from kb.peptides import read_peptides

    (tmp_path / "p.txt").write_text("MKV\n\nPEP1DE\n")
    peps, lines = read_peptides(tmp_path / "p.txt")
    with pytest.raises(InvalidPeptideError, match=r"p\.txt, line 3: invalid peptide 'PEP1DE'"):
        prepare_peptides(peps, source=tmp_path / "p.txt", lines=lines)
