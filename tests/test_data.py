"""psl.data and psl.fasta: reading DeepLoc, splits, cropping, encoding, feature tables, FASTA."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from kb.alphabet import AMINO_ACIDS
from kb.classes import LOCATION_CLASSES
from kb.errors import InputFormatError
from psl.data import (
    DUAL_LOCATION,
    PAD,
    TOKEN_LETTERS,
    EncodedSet,
    InvalidSequenceError,
    crop_positions,
    encode_batch,
    feature_table,
    official_split,
    random_split,
    read_deeploc,
)
from psl.fasta import read_fasta


@pytest.fixture(scope="module")
def deeploc():
    return read_deeploc()


def test_read_deeploc_counts_match_the_published_dataset(deeploc):
    # data/PROVENANCE.md: 14,004 proteins, 2,773 test, 146 Cytoplasm-Nucleus.
    assert len(deeploc) == 14004
    assert int(deeploc["is_test"].sum()) == 2773
    assert int((deeploc["location"] == DUAL_LOCATION).sum()) == 146
    assert set(deeploc.loc[deeploc.label >= 0, "location"]) == set(LOCATION_CLASSES)
    first = deeploc.iloc[0]
    assert (first.accession, first.location, first.solubility, bool(first.is_test)) == (
        "Q9H400", "Cell.membrane", "M", True)
    assert first.sequence.startswith("MGLPVSWAPPALWVLGCCALL")


def test_read_deeploc_rejects_bad_header(tmp_path):
    p = tmp_path / "bad.fasta"
    p.write_text(">P1 Nucleus-U\nMKV\n>P2 Nowhere-U\nMKV\n")
    with pytest.raises(InputFormatError, match=r"bad.fasta, line 3: .*unknown location"):
        read_deeploc(p)
    p.write_text(">P1 Nucleus\nMKV\n")
    with pytest.raises(InputFormatError, match="line 1"):
        read_deeploc(p)


def test_read_deeploc_reads_through_kb_fasta(tmp_path):
    # The project's one FASTA reader: gzip detected from the bytes (not the name), a UTF-8 BOM
    # skipped, sequences wrapped over lines and lower case; the oracle is the hand-written table.
    text = "\ufeff>P1 Nucleus-U test\nmk\nv\n\n>P2 Cytoplasm-Nucleus-S\nAAA*\n"
    p = tmp_path / "deeploc.fasta"  # gzip content under a plain name
    p.write_bytes(gzip.compress(text.encode("utf-8")))
    df = read_deeploc(p)
    assert df.to_dict("records") == [
        {"accession": "P1", "sequence": "MKV", "location": "Nucleus", "solubility": "U",
         "is_test": True, "label": LOCATION_CLASSES.index("Nucleus")},
        {"accession": "P2", "sequence": "AAA", "location": DUAL_LOCATION, "solubility": "S",
         "is_test": False, "label": -1},
    ]
    # errors name the file and the line of the problem
    p.write_text(">P1 Nucleus-U\nMKV\n>P2 Nucleus-U\nMK1V\n")
    with pytest.raises(InputFormatError, match=r"deeploc.fasta, line 4: .*invalid letter '1'"):
        read_deeploc(p)
    p.write_text(">P1 Nucleus-U\n>P2 Nucleus-U\nMKV\n")
    with pytest.raises(InputFormatError, match=r"line 1: .*'P1' has no sequence"):
        read_deeploc(p)


def test_official_split_is_stratified_disjoint_and_seeded(deeploc):
    s = official_split(deeploc, val_fraction=0.1, seed=3)
    assert len(s["test"]) == 2773
    assert len(s["train"]) + len(s["val"]) == 11231 - 146
    assert not set(s["train"].accession) & set(s["val"].accession)
    assert (s["train"].label >= 0).all() and (s["val"].label >= 0).all()
    train_all = deeploc[(~deeploc.is_test) & (deeploc.label >= 0)]
    for c, n in train_all.label.value_counts().items():
        assert (s["val"].label == c).sum() == round(0.1 * n)
    again = official_split(deeploc, val_fraction=0.1, seed=3)
    assert list(again["val"].accession) == list(s["val"].accession)
    other = official_split(deeploc, val_fraction=0.1, seed=4)
    assert list(other["val"].accession) != list(s["val"].accession)
    with_dual = official_split(deeploc, exclude_dual=False)
    assert (with_dual["train"].label == -1).sum() + (with_dual["val"].label == -1).sum() == 146


def test_random_split_70_15_15(deeploc):
    s = random_split(deeploc, seed=0)
    n = 14004 - 146
    sizes = [len(s[k]) for k in ("train", "val", "test")]
    assert sum(sizes) == n
    assert sizes[0] == round(0.7 * n) and sizes[1] == round(0.15 * n)
    accs = [set(s[k].accession) for k in ("train", "val", "test")]
    assert not (accs[0] & accs[1]) and not (accs[0] & accs[2]) and not (accs[1] & accs[2])
    # the random split mixes the official partitions
    assert 0 < s["test"].is_test.mean() < 1


def test_crop_keeps_termini_and_positions():
    assert list(crop_positions(5, 10)) == [0, 1, 2, 3, 4]
    assert list(crop_positions(10, 4)) == [0, 1, 8, 9]
    assert list(crop_positions(11, 5)) == [0, 1, 8, 9, 10]
    seq = "".join(AMINO_ACIDS[i % 20] for i in range(1500))
    b = encode_batch([seq, "MKV"], 1000)
    assert b.tokens.shape == (2, 1000)
    pos = b.positions[0].numpy()
    assert list(pos[:500]) == list(range(1, 501)) and list(pos[500:]) == list(range(1001, 1501))
    # tokens are those of the original residues at those positions
    expected = [TOKEN_LETTERS.index(seq[p - 1]) + 1 for p in pos]
    assert b.tokens[0].tolist() == expected
    assert b.mask[1].tolist() == [True] * 3 + [False] * 997
    assert b.positions[1, :4].tolist() == [1, 2, 3, 0]
    assert (b.tokens[1, 3:] == PAD).all()
    assert b.lengths.tolist() == [1000, 3]


def test_encoding_rejects_bad_sequences():
    with pytest.raises(InvalidSequenceError,
                       match=r"sequence #1: illegal letter '1' at position 3"):
        encode_batch(["MKV", "MK1V"], 100)
    with pytest.raises(InvalidSequenceError, match="empty"):
        encode_batch(["MKV", ""], 100)
    # lower case and a trailing stop are accepted
    b = encode_batch(["mkv*"], 100)
    assert b.tokens[0].tolist() == [TOKEN_LETTERS.index(c) + 1 for c in "MKV"]


def test_feature_tables_and_nonstandard_letters():
    from Bio.Align import substitution_matrices

    oh = feature_table("onehot")
    bl = feature_table("blosum62")
    m = substitution_matrices.load("BLOSUM62")
    tok = {c: TOKEN_LETTERS.index(c) + 1 for c in TOKEN_LETTERS}
    assert not oh[PAD].any() and not bl[PAD].any()
    for a in AMINO_ACIDS:
        assert oh[tok[a]].sum() == 1 and oh[tok[a], AMINO_ACIDS.index(a)] == 1
        for j, b in enumerate(AMINO_ACIDS):
            assert bl[tok[a], j] == m[a, b] / 4
    np.testing.assert_allclose(oh[tok["X"]], np.full(20, 0.05))
    np.testing.assert_allclose(oh[tok["B"]], (oh[tok["D"]] + oh[tok["N"]]) / 2)
    np.testing.assert_allclose(oh[tok["J"]], (oh[tok["I"]] + oh[tok["L"]]) / 2)
    np.testing.assert_array_equal(bl[tok["U"]], bl[tok["C"]])
    np.testing.assert_array_equal(oh[tok["O"]], oh[tok["K"]])
    assert bl[tok["Z"], AMINO_ACIDS.index("E")] == m["Z", "E"] / 4
    with pytest.raises(ValueError, match="unknown feature table"):
        feature_table("pssm")


def test_bucketed_batches_cover_every_protein_once_and_are_seeded():
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list(AMINO_ACIDS), rng.integers(5, 60))) for _ in range(50)]
    data = EncodedSet(seqs, list(range(50)), 40)
    for shuffle in (False, True):
        seen = []
        for idx, batch, labels in data.batches(8, shuffle=shuffle, seed=1):
            seen += list(idx)
            assert labels.tolist() == list(idx)
            assert batch.tokens.shape[1] == max(min(len(seqs[i]), 40) for i in idx)
        assert sorted(seen) == list(range(50))
    a = [list(i) for i, _, _ in data.batches(8, shuffle=True, seed=1)]
    b = [list(i) for i, _, _ in data.batches(8, shuffle=True, seed=1)]
    c = [list(i) for i, _, _ in data.batches(8, shuffle=True, seed=2)]
    assert a == b and a != c


def test_read_fasta_ok_and_gzip(tmp_path):
    text = ">sp|P1|A first protein\nMKV\nLLA*\n\n>P2\nacde\n"
    p = tmp_path / "x.fasta"
    p.write_text(text)
    g = tmp_path / "x.fasta.gz"
    g.write_bytes(gzip.compress(text.encode()))
    for path in (p, g):
        recs = read_fasta(path)
        # the accession of a UniProt header, not 'sp|P1|A' (issue 10, item 1)
        assert [(r.id, r.sequence, r.line) for r in recs] == [("P1", "MKVLLA", 1),
                                                               ("P2", "ACDE", 5)]
        assert recs[0].header == "sp|P1|A first protein"
        assert recs[0].description == "first protein"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty FASTA file"),
        ("\n\n", "empty FASTA file"),
        ("MKV\n", "line 1: not FASTA"),
        (">P1\n>P2\nMKV\n", "line 1: record 'P1' has no sequence"),
        (">P1\nMKV\n>P2\n", "line 3: record 'P2' has no sequence"),
        (">P1\nMKV\nMK1V\n", "line 3: invalid letter '1' at sequence position 6"),
        (">\nMKV\n", "line 1: empty FASTA header"),
    ],
)
def test_read_fasta_errors(tmp_path, text, message):
    p = tmp_path / "bad.fasta"
    p.write_text(text)
    with pytest.raises(InputFormatError, match=message):
        read_fasta(p)
