"""The synthetic TrEMBL generator writes UniProt FASTA that the project's reader (and ``kb
build``) parse into the records a plain line split of the file finds, with valid accessions,
the documented length range and the requested composition."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import generate_trembl as gen  # noqa: E402

import kb  # noqa: E402
from kb.fasta import parse_fasta  # noqa: E402

# UniProt's documented accession format (https://www.uniprot.org/help/accession_numbers).
ACCESSION = re.compile(r"[OPQ][0-9][A-Z0-9]{3}[0-9]|[A-NR-Z][0-9]([A-Z][A-Z0-9]{2}[0-9]){1,2}")
HEADER = re.compile(
    r">tr\|(?P<acc>\w+)\|(?P=acc)_(?P<mnemonic>[A-Z0-9]{3,5}) (?P<name>[^=]+) "
    r"OS=(?P<os>[^=]+) OX=(?P<ox>\d+)(?: GN=(?P<gn>\S+))? PE=[1-5] SV=\d+"
)


def plain_split(path: Path) -> list[tuple[str, str]]:
    """(header, sequence) pairs by a plain split of the file's lines."""
    records: list[tuple[str, list[str]]] = []
    for line in path.read_text().splitlines():
        if line.startswith(">"):
            records.append((line, []))
        else:
            assert len(line) <= 60
            records[-1][1].append(line)
    for _, lines in records:  # 60 residues per line, the last line shorter or equal
        assert all(len(x) == 60 for x in lines[:-1]) and 1 <= len(lines[-1]) <= 60
    return [(h, "".join(lines)) for h, lines in records]


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> tuple[Path, int]:
    path = tmp_path_factory.mktemp("trembl") / "tr400.fasta"
    _, residues = gen.generate(path, entries=400, seed=5, batch=150)  # 3 batches
    return path, residues


def test_project_reader_parses_the_records(sample):
    path, residues = sample
    expected = plain_split(path)
    records = list(parse_fasta(path))
    assert len(records) == len(expected) == 400
    taxa = {o[0]: (o[1], o[2]) for o in gen.ORGANISMS}
    for rec, (header, seq) in zip(records, expected, strict=True):
        m = HEADER.fullmatch(header)
        assert m is not None, header
        assert ACCESSION.fullmatch(m["acc"]) and len(m["acc"]) == 10
        assert rec.id == m["acc"] and rec.entry_name == f"{m['acc']}_{m['mnemonic']}"
        assert rec.reviewed is False
        assert (rec.organism, rec.taxon_id) == taxa[m["mnemonic"]] == (m["os"], int(m["ox"]))
        assert rec.gene == m["gn"] and rec.description == m["name"]
        assert rec.sequence == seq and set(seq) <= set(gen.TREMBL_COMPOSITION)
        assert gen.MIN_LENGTH <= len(seq) <= gen.MAX_LENGTH
    assert len({r.id for r in records}) == 400
    assert sum(len(r.sequence) for r in records) == residues


def test_kb_build_reads_accessions_and_taxa(sample, tmp_path):
    path, residues = sample
    expected = [(r.id, r.taxon_id, len(r.sequence)) for r in parse_fasta(path)]
    summary = kb.build([path], tmp_path / "kb", progress=False)
    assert (summary.entries, summary.residues, summary.skipped) == (400, residues, 0)
    base = kb.open(tmp_path / "kb")
    try:
        rows = base.con.execute(
            "SELECT accession, taxon_id, length FROM entries ORDER BY entry_id").fetchall()
    finally:
        base.close()
    assert rows == expected


def test_lengths_and_composition():
    g = gen._Generator(seed=1)
    data, residues = g.batch(0, 20_000)
    seqs = [s for _, s in plain_split_bytes(data)]
    lengths = np.array([len(s) for s in seqs])
    assert lengths.sum() == residues
    assert lengths.min() >= gen.MIN_LENGTH
    # log-normal, mean 360, sigma 0.75: the mean of 20,000 lengths has a s.d. of 2.2
    assert abs(lengths.mean() - gen.MEAN_LENGTH) < 12
    cv = lengths.std() / lengths.mean()  # log-normal: sqrt(exp(sigma^2) - 1) = 0.87
    assert 0.75 < cv < 0.98
    counts = np.bincount(np.frombuffer("".join(seqs).encode(), np.uint8), minlength=128)
    want = np.array(list(gen.TREMBL_COMPOSITION.values()))
    want = want / want.sum()
    got = counts[[ord(a) for a in gen.TREMBL_COMPOSITION]] / residues
    assert np.abs(got - want).max() < 0.002  # 7 M residues: s.d. < 0.0002 per letter


def plain_split_bytes(data: bytes) -> list[tuple[str, str]]:
    out = []
    for chunk in data.decode().split(">")[1:]:
        header, _, body = chunk.partition("\n")
        out.append((header, body.replace("\n", "")))
    return out


def test_deterministic(tmp_path):
    a, b, c = (tmp_path / n for n in ("a.fasta", "b.fasta", "c.fasta"))
    gen.generate(a, entries=300, seed=2)
    gen.generate(b, entries=300, seed=2)
    gen.generate(c, entries=300, seed=3)
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()
    with pytest.raises(ValueError, match="entries must be"):
        gen.generate(tmp_path / "d.fasta", entries=0)
