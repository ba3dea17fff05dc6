"""The synthetic Swiss-Prot generator writes the real format (checked with Biopython and our
parser) with the specified lengths, composition and vocabulary."""

from __future__ import annotations

import gzip
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from Bio import SwissProt

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import generate_swissprot as gen  # noqa: E402

from kb.flatfile import parse  # noqa: E402


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("gen") / "sp300.dat.gz"
    gen.generate(path, entries=300, seed=7)
    return path


@pytest.fixture(scope="module")
def medium(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("gen") / "sp1500.dat"
    gen.generate(path, entries=1500, seed=11)
    return path


def test_parser_and_biopython_agree(small):
    errors: list = []
    ours = list(parse(small, errors=errors))
    assert errors == []
    with gzip.open(small, "rt") as handle:
        bio = list(SwissProt.parse(handle))
    assert len(ours) == len(bio) == 300
    for e, r in zip(ours, bio, strict=True):
        assert e.entry_name == r.entry_name
        assert [e.accession, *e.secondary_accessions] == r.accessions
        assert e.sequence == r.sequence and len(e.sequence) == r.sequence_length
        assert e.organism == r.organism.rstrip(".")
        assert e.taxon_id == int(r.taxonomy_id[0])
        assert e.lineage == "; ".join(r.organism_classification)
        sl = [c[22:] for c in r.comments if c.startswith("SUBCELLULAR LOCATION: ")]
        assert e.subcellular_location_text == ("\n".join(sl) if sl else None)
        assert e.reviewed == (r.data_class == "Reviewed")
        # features of the kept types agree with Biopython's (0-based, end-exclusive) ones
        bio_feats = [
            (f.type, int(f.location.start) + 1, int(f.location.end))
            for f in r.features
            if f.type in {"SIGNAL", "TRANSIT", "TRANSMEM", "TOPO_DOM", "MOTIF"}
        ]
        assert [(f.type, f.start, f.end) for f in e.features] == bio_feats
    # the file exercises what it should
    assert sum(len(e.secondary_accessions) > 0 for e in ours) > 30
    assert sum(any(loc.isoform for loc in e.locations) for e in ours) > 5
    assert any(e.reviewed is False for e in ours)
    kinds = {f.type for e in ours for f in e.features}
    assert {"SIGNAL", "TRANSMEM", "TOPO_DOM"} <= kinds


def test_old_and_modern_location_styles_use_the_vocabulary(medium):
    terms, topologies, _ = gen.load_vocabulary()
    assert len(terms) > 500 and "Cytoplasm, cytoskeleton" in terms
    entries = list(parse(medium))
    locs = [loc for e in entries for loc in e.locations]
    assert len(locs) > 1000
    assert {loc.term for loc in locs} <= set(terms)
    assert {loc.topology for loc in locs if loc.topology} <= set(topologies)
    evidence = {loc.evidence for loc in locs if loc.evidence}
    assert {"By similarity", "Probable", "Potential"} <= evidence
    assert any(ev.startswith("ECO:") for ev in evidence)


def test_lengths_and_composition(medium):
    entries = list(parse(medium))
    lengths = np.array([len(e.sequence) for e in entries])
    # log-normal with mean 360: the mean of 1500 draws is within 4 standard errors
    se = lengths.std() / np.sqrt(len(lengths))
    assert abs(lengths.mean() - gen.MEAN_LENGTH) < 4 * se + 5
    assert lengths.min() >= gen.MIN_LENGTH
    logs = np.log(lengths)
    assert abs(logs.std() - gen.LENGTH_SIGMA) < 0.05
    allres = "".join(e.sequence for e in entries)
    freq = {a: allres.count(a) / len(allres) for a in gen.SWISSPROT_COMPOSITION}
    total = sum(gen.SWISSPROT_COMPOSITION.values())
    for a, pct in gen.SWISSPROT_COMPOSITION.items():
        assert abs(freq[a] - pct / total) < 0.003, a


def test_sequence_lines_are_formatted_like_uniprot(medium):
    text = medium.read_text()
    blocks = re.findall(r"\nSQ   SEQUENCE +(\d+) AA;[^\n]*\n(.*?)\n//", text, flags=re.S)
    assert len(blocks) == 1500
    for n, block in blocks:
        lines = block.split("\n")
        assert len(lines) == (int(n) + 59) // 60
        for ln in lines[:-1]:
            assert re.fullmatch(r"     [A-Z]{10}( [A-Z]{10}){5}", ln)
        assert re.fullmatch(r"     [A-Z]{1,10}( [A-Z]{10})*( [A-Z]{1,10})?", lines[-1])


@pytest.mark.parametrize("n", [1, 9, 10, 11, 59, 60, 61, 120, 125])
def test_format_sequence_matches_a_plain_loop(n):
    seq = bytes((65 + (i * 7) % 26) for i in range(n))
    lines = []
    for s in range(0, n, 60):
        chunk = seq[s : s + 60].decode()
        lines.append("     " + " ".join(chunk[i : i + 10] for i in range(0, len(chunk), 10)))
    assert gen.format_sequence(seq).decode() == "\n".join(lines) + "\n"


def test_deterministic_given_seed(tmp_path):
    a = gen.generate(tmp_path / "a.dat.gz", entries=50, seed=3)
    b = gen.generate(tmp_path / "b.dat.gz", entries=50, seed=3)
    c = gen.generate(tmp_path / "c.dat.gz", entries=50, seed=4)
    assert a.read_bytes() == b.read_bytes()
    assert gzip.decompress(a.read_bytes()) != gzip.decompress(c.read_bytes())
    assert not list(tmp_path.glob("*.tmp"))
    with pytest.raises(ValueError, match="entries"):
        gen.generate(tmp_path / "d.dat", entries=0)
