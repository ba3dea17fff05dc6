"""Tests of psl.hitrate: golden hit rates computed by hand, and the vectorised scorer against
the plain-loop reference on seeded random data."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from kb.classes import LOCATION_CLASSES
from kb.seqstore import SequenceStore
from psl.hitrate.reference import reference_hit_rates
from psl.hitrate.scorer import score_occurrences

# --------------------------------------------------------------------------------------
# The hand-made knowledge base (also built with kb.build below).
# Query protein P11111 (Nucleus), sequence MSTWHKWLLE: M1 S2 T3 W4 H5 K6 W7 L8 L9 E10.
# --------------------------------------------------------------------------------------
P_SEQ = "MSTWHKWLLE"
GOLDEN_KB = [
    # accession, sequence, label
    ("P11111", P_SEQ, "Nucleus"),  # the query protein itself
    ("P11111-2", "MWHKWLLE", "Nucleus"),  # an isoform of it
    ("A00001", P_SEQ, "Nucleus"),  # an identical copy
    ("A00002", "WHKWAAAAAAAAWHKW", "Nucleus|Cytoplasm"),  # WHKW at 1 and 13, two classes
    ("A00003", "AAAWHKWAA", "Cytoplasm"),  # WHKW at 4
    ("A00004", "AAAAAAAAWHKW", "Nucleus"),  # WHKW at 9
    ("A00005", "GGWHKWGG", ""),  # WHKW at 3, no location: unannotated
    ("A00006", "WHKAAA", "Nucleus"),  # no WHKW
    ("A00007", "CCCCCCCCCCCCCCCWHKW", "Mitochondrion"),  # WHKW at 16
    ("A00008", "TWHAAA", "Nucleus"),  # TWH at 1
]

# s1 = WHKW at p_s = 4 in P11111, L_P = Nucleus.
# E_s1 (self P11111, isoform P11111-2, identical A00001 excluded; A00005 unannotated):
#   A00002: d = min(|1-4|, |13-4|) = 3, beta = 1/3, hit (Nucleus among Nucleus|Cytoplasm)
#   A00003: d = |4-4| = 0, beta = 1, miss (Cytoplasm)
#   A00004: d = |9-4| = 5, beta = 1/5, hit
#   A00007: d = |16-4| = 12, beta = 1/12, miss (Mitochondrion)
# paper: (1/3 + 1/5) / 4 = (8/15) / 4 = 2/15
# normalized: (1/3 + 1/5) / (1/3 + 1 + 1/5 + 1/12) = (32/60) / (97/60) = 32/97
# none: 2 / 4 = 1/2
S1 = {"n_entries": 4, "n_hits": 2, "n_unannotated": 1,
      "paper": 2 / 15, "normalized": 32 / 97, "none": 1 / 2}
# keep_self adds P11111 (d = 0, beta 1, hit), P11111-2 (WHKW at 2: d = 2, beta 1/2, hit) and
# A00001 (d = 0, beta 1, hit): 7 entries, 5 hits.
# paper: (1/3 + 1/5 + 1 + 1/2 + 1) / 7 = (91/30) / 7 = 13/30
# normalized: (182/60) / (97/60 + 150/60) = 182/247 = 14/19
# none: 5/7
S1_KEEP = {"n_entries": 7, "n_hits": 5, "n_unannotated": 1,
           "paper": 13 / 30, "normalized": 14 / 19, "none": 5 / 7}
# s2 = LLE at 8: only in P11111, P11111-2 and A00001, all excluded: not scored.
S2 = {"n_entries": 0, "n_hits": 0, "n_unannotated": 0}
# s3 = TWH at 3: A00008 (TWH at 1): d = 2, beta = 1/2, hit; one entry.
# paper: (1/2) / 1 = 1/2; normalized: (1/2) / (1/2) = 1; none: 1/1 = 1
S3 = {"n_entries": 1, "n_hits": 1, "n_unannotated": 0, "paper": 1 / 2, "normalized": 1.0,
      "none": 1.0}
# Protein P11111 (paper): mean over the scored s1, s3 = (2/15 + 1/2) / 2 = 19/60;
# n_subsequences = 3, n_scored = 2.
P11111_PAPER = 19 / 60
# X99999 (not in the KB, no sequence: nothing excluded), Cytoplasm, WHKW at p_s = 1:
#   P11111 (4): d 3, 1/3, miss      P11111-2 (2): d 1, 1, miss     A00001 (4): d 3, 1/3, miss
#   A00002 (1, 13): d 0, 1, hit     A00003 (4): d 3, 1/3, hit      A00004 (9): d 8, 1/8, miss
#   A00007 (16): d 15, 1/15, miss   A00005: unannotated
# paper: (1 + 1/3) / 7 = 4/21; none: 2/7
# normalized: (4/3) / (3 * 1/3 + 1 + 1 + 1/8 + 1/15) = (160/120) / (383/120) = 160/383
X1 = {"n_entries": 7, "n_hits": 2, "n_unannotated": 1,
      "paper": 4 / 21, "normalized": 160 / 383, "none": 2 / 7}

_ISO = re.compile(r"-\d+$")


def _occurrences(peptides, sequences):
    """Brute force: every (entry, 1-based start) of each peptide, by str.find."""
    occ = {}
    for p in peptides:
        found = []
        for e, seq in enumerate(sequences):
            i = seq.find(p)
            while i >= 0:
                found.append((e, i + 1))
                i = seq.find(p, i + 1)
        occ[p] = found
    return occ


def _core_inputs(kb_entries, items):
    """Arrays for score_occurrences from plain lists (codes computed here, independently)."""
    accessions = [a for a, _, _ in kb_entries]
    sequences = [s for _, s, _ in kb_entries]
    peptides = sorted({it[3] for it in items})
    occ = _occurrences(peptides, sequences)
    q, e, st = [], [], []
    for qi, p in enumerate(peptides):
        for ent, pos in occ[p]:
            q.append(qi), e.append(ent), st.append(pos)
    bases = {}
    for acc in accessions:
        bases.setdefault(_ISO.sub("", acc), len(bases))
    for it in items:
        bases.setdefault(_ISO.sub("", it[0]), len(bases))
    masks = []
    for _, _, classes in kb_entries:
        m = 0
        for c in classes:
            m |= 1 << LOCATION_CLASSES.index(c)
        masks.append(m)
    store = SequenceStore.from_sequences(sequences)
    return dict(
        occ_query=np.array(q, dtype=np.int64),
        occ_entry=np.array(e, dtype=np.int64),
        occ_start=np.array(st, dtype=np.int64),
        item_query=np.array([peptides.index(it[3]) for it in items]),
        item_start=np.array([it[4] for it in items]),
        item_class=np.array([LOCATION_CLASSES.index(it[2]) for it in items]),
        item_key=np.array([bases[_ISO.sub("", it[0])] for it in items]),
        # an entry with the protein's sequence (the first one), -1 when none
        item_twin=np.array([sequences.index(it[1]) if it[1] in sequences else -1
                            for it in items]),
        entry_mask=np.array(masks, dtype=np.uint16),
        entry_key=np.array([bases[_ISO.sub("", a)] for a in accessions]),
        residues=store.residues,
        offsets=store.offsets,
    ), occ


def _golden_entries():
    return [(a, s, frozenset(c for c in lab.split("|") if c)) for a, s, lab in GOLDEN_KB]


GOLDEN_ITEMS = [
    ("P11111", P_SEQ, "Nucleus", "WHKW", 4),
    ("P11111", P_SEQ, "Nucleus", "LLE", 8),
    ("P11111", P_SEQ, "Nucleus", "TWH", 3),
    ("X99999", None, "Cytoplasm", "WHKW", 1),
]


@pytest.mark.parametrize("weighting", ["paper", "normalized", "none"])
def test_core_golden_by_hand(weighting):
    arrays, _ = _core_inputs(_golden_entries(), GOLDEN_ITEMS)
    got = score_occurrences(**arrays, weighting=weighting)
    for i, want in enumerate([S1, S2, S3, X1]):
        assert got.n_entries[i] == want["n_entries"]
        assert got.n_hits[i] == want["n_hits"]
        assert got.n_unannotated[i] == want["n_unannotated"]
        if want["n_entries"]:
            assert got.hit_rate[i] == pytest.approx(want[weighting], rel=1e-12)
        else:
            assert math.isnan(got.hit_rate[i])


@pytest.mark.parametrize("weighting", ["paper", "normalized", "none"])
def test_core_golden_keep_self(weighting):
    arrays, _ = _core_inputs(_golden_entries(), GOLDEN_ITEMS[:1])
    got = score_occurrences(**arrays, weighting=weighting, keep_self=True)
    assert got.n_entries[0] == S1_KEEP["n_entries"]
    assert got.n_hits[0] == S1_KEEP["n_hits"]
    assert got.hit_rate[0] == pytest.approx(S1_KEEP[weighting], rel=1e-12)


def test_core_unsorted_occurrences_are_sorted():
    arrays, _ = _core_inputs(_golden_entries(), GOLDEN_ITEMS)
    want = score_occurrences(**arrays)
    order = np.random.default_rng(3).permutation(arrays["occ_query"].shape[0])
    for k in ("occ_query", "occ_entry", "occ_start"):
        arrays[k] = arrays[k][order]
    got = score_occurrences(**arrays)
    np.testing.assert_array_equal(got.n_entries, want.n_entries)
    np.testing.assert_allclose(got.hit_rate, want.hit_rate, equal_nan=True)


def test_core_rejects_unknown_weighting():
    arrays, _ = _core_inputs(_golden_entries(), GOLDEN_ITEMS)
    with pytest.raises(ValueError,
                       match="weighting must be one of paper, normalized, none, got 'beta'"):
        score_occurrences(**arrays, weighting="beta")


def _random_case(rng):
    """Random KB over a 3-letter alphabet (many repeats), isoforms, identical copies,
    unannotated and multi-class entries; items from KB proteins and outside proteins."""
    n = 60
    sequences = ["".join(rng.choice(list("ACD"), size=rng.integers(8, 40))) for _ in range(n)]
    accessions = [f"P{i:05d}" for i in range(n)]
    for i in range(0, n, 7):  # isoforms of the previous entry
        if i:
            accessions[i] = accessions[i - 1] + "-2"
    for i in range(5, n, 11):  # identical copies
        sequences[i] = sequences[i - 3]
    entries = []
    for a, s in zip(accessions, sequences, strict=True):
        k = rng.choice([0, 1, 1, 2, 3])
        classes = frozenset(rng.choice(LOCATION_CLASSES, size=k, replace=False).tolist())
        entries.append((a, s, classes))
    items = []
    for _ in range(150):
        if rng.random() < 0.8:
            j = int(rng.integers(n))
            prot, seq = accessions[j], sequences[j]
        else:
            prot = f"Q{int(rng.integers(1000)):05d}"
            seq = "".join(rng.choice(list("ACD"), size=30))
        length = int(rng.integers(2, 6))
        length = min(length, len(seq))
        start = int(rng.integers(1, len(seq) - length + 2))
        sub = seq[start - 1 : start - 1 + length]
        loc = str(rng.choice(LOCATION_CLASSES[:4]))
        items.append((prot, seq if rng.random() < 0.9 else None, loc, sub, start))
    return entries, items


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("weighting", ["paper", "normalized", "none"])
@pytest.mark.parametrize("keep_self", [False, True])
def test_core_equals_reference_on_random_data(seed, weighting, keep_self):
    entries, items = _random_case(np.random.default_rng(seed))
    arrays, occ = _core_inputs(entries, items)
    got = score_occurrences(**arrays, weighting=weighting, keep_self=keep_self)
    want = reference_hit_rates(
        items, occ, dict(enumerate(entries)), weighting=weighting, keep_self=keep_self
    )
    assert sum(w["n_entries"] > 0 for w in want) > 50  # the case really exercises scoring
    assert sum(w["n_unannotated"] > 0 for w in want) > 5
    for i, w in enumerate(want):
        assert got.n_entries[i] == w["n_entries"], i
        assert got.n_hits[i] == w["n_hits"], i
        assert got.n_unannotated[i] == w["n_unannotated"], i
        if w["n_entries"]:
            assert got.hit_rate[i] == pytest.approx(w["hit_rate"], rel=1e-12), i
        else:
            assert math.isnan(got.hit_rate[i])


def test_golden_table_is_consistent():
    # guards the hand computations above: the positions written in the comments are right
    seqs = {a: s for a, s, _ in GOLDEN_KB}
    assert [m.start() + 1 for m in re.finditer("(?=WHKW)", seqs["A00002"])] == [1, 13]
    assert seqs["A00003"].find("WHKW") + 1 == 4
    assert seqs["A00004"].find("WHKW") + 1 == 9
    assert seqs["A00007"].find("WHKW") + 1 == 16
    assert seqs["P11111-2"].find("WHKW") + 1 == 2
    assert P_SEQ.find("WHKW") + 1 == 4 and P_SEQ.find("TWH") + 1 == 3
    assert P_SEQ.find("LLE") + 1 == 8
    assert pd.Series([P11111_PAPER]).iloc[0] == pytest.approx((2 / 15 + 1 / 2) / 2)


# --------------------------------------------------------------------------------------
# score(): the whole path over a knowledge base built with kb.build
# --------------------------------------------------------------------------------------


def _build_kb(directory, rows):
    from kb.api import open as open_kb
    from kb.build import build

    directory.mkdir(parents=True, exist_ok=True)
    csv_path = directory / "kb.csv"
    pd.DataFrame(rows, columns=["accession", "sequence", "label"]).to_csv(csv_path, index=False)
    build([csv_path], directory / "kb", progress=False)
    return open_kb(directory / "kb")


@pytest.fixture(scope="module")
def golden_kb(tmp_path_factory):
    kb = _build_kb(tmp_path_factory.mktemp("golden"), GOLDEN_KB)
    yield kb
    kb.close()


def _golden_input():
    return pd.DataFrame({
        "protein": ["P11111", "P11111", "P11111", "X99999", "P11111"],
        "location": ["Nucleus", "nucleus", "NUCLEUS", "cytoplasm", "Nucleus"],
        "subsequence": ["WHKW", "LLE", "twh", "WHKW", "WHKW"],
        "start": [4, 8, 3, 1, 4],
        "model": ["a", "a", "a", "a", "b"],  # passes through
    })


@pytest.mark.parametrize("weighting", ["paper", "normalized", "none"])
def test_score_golden_by_hand(golden_kb, weighting):
    from psl.hitrate.scorer import score

    res = score(golden_kb, _golden_input(), weighting=weighting, proteins=True, group_by=[])
    t = res.table
    assert list(t.columns) == ["protein", "location", "subsequence", "start", "model",
                               "n_entries", "n_hits", "n_unannotated", "hit_rate"]
    assert t["model"].tolist() == ["a", "a", "a", "a", "b"]
    assert t["location"].tolist() == _golden_input()["location"].tolist()
    for row, want in [(0, S1), (1, S2), (2, S3), (3, X1), (4, S1)]:
        assert t["n_entries"][row] == want["n_entries"]
        assert t["n_hits"][row] == want["n_hits"]
        assert t["n_unannotated"][row] == want["n_unannotated"]
        if want["n_entries"]:
            assert t["hit_rate"][row] == pytest.approx(want[weighting], rel=1e-12)
        else:
            assert math.isnan(t["hit_rate"][row])
    # no seq_hash/sequence column: said once; X99999 (not in the KB) excludes nothing: said
    assert len(res.warnings) == 2 and res.n_position_mismatches == 0
    assert "no 'seq_hash' or 'sequence' column" in res.warnings[0]
    assert res.warnings[1].endswith("excluded as their own entry: X99999")
    p = res.proteins.set_index("protein")
    assert list(res.proteins.columns) == ["protein", "location", "hit_rate", "n_subsequences",
                                          "n_scored"]
    # P11111: mean over the scored s1 and s3 (s2 has no entry); WHKW at 4 counted once
    assert p.loc["P11111", "location"] == "Nucleus"
    assert p.loc["P11111", "n_subsequences"] == 3 and p.loc["P11111", "n_scored"] == 2
    assert p.loc["P11111", "hit_rate"] == pytest.approx((S1[weighting] + S3[weighting]) / 2)
    if weighting == "paper":
        assert p.loc["P11111", "hit_rate"] == pytest.approx(P11111_PAPER)
    assert p.loc["X99999", "hit_rate"] == pytest.approx(X1[weighting])


def test_score_group_by_pass_through_column(golden_kb):
    from psl.hitrate.scorer import score

    res = score(golden_kb, _golden_input(), proteins=True)  # 'model' groups by default
    assert res.proteins.columns[:3].tolist() == ["protein", "location", "model"]
    assert score(golden_kb, _golden_input(), proteins=True, group_by=["model"]).proteins.equals(
        res.proteins)
    g = res.proteins.set_index(["protein", "model"])
    assert g.loc[("P11111", "a"), "n_subsequences"] == 3
    assert g.loc[("P11111", "a"), "hit_rate"] == pytest.approx(19 / 60)
    # model b has only WHKW at 4
    assert g.loc[("P11111", "b"), "n_subsequences"] == 1
    assert g.loc[("P11111", "b"), "hit_rate"] == pytest.approx(2 / 15)


@pytest.mark.parametrize("weighting", ["paper", "normalized", "none"])
def test_score_keep_self_golden(golden_kb, weighting):
    from psl.hitrate.scorer import score

    res = score(golden_kb, _golden_input().iloc[:1], weighting=weighting, keep_self=True)
    assert res.table["n_entries"][0] == S1_KEEP["n_entries"]
    assert res.table["hit_rate"][0] == pytest.approx(S1_KEEP[weighting], rel=1e-12)


def test_score_sequence_column_excludes_identical_sequences(golden_kb):
    from psl.hitrate.scorer import score

    # Z00000 is not in the KB; its sequence (given) is P11111's, so P11111 and A00001 are
    # identical copies and excluded; the isoform P11111-2 is another accession and another
    # sequence, so it now counts (WHKW at 2: d = 2, beta 1/2, Nucleus: hit).
    # E = A00002 (1/3 hit), A00003 (1 miss), A00004 (1/5 hit), A00007 (1/12 miss),
    #     P11111-2 (1/2 hit); paper: (1/3 + 1/5 + 1/2) / 5 = (31/30) / 5 = 31/150
    table = pd.DataFrame({"protein": ["Z00000"], "location": ["Nucleus"],
                          "subsequence": ["WHKW"], "start": [4], "sequence": [P_SEQ.lower()]})
    res = score(golden_kb, table)
    assert res.table["n_entries"][0] == 5 and res.table["n_hits"][0] == 3
    assert res.table["hit_rate"][0] == pytest.approx(31 / 150, rel=1e-12)


def _md5(sequence):
    import hashlib

    return hashlib.md5(sequence.encode("ascii")).hexdigest()  # what docs/schema.md says


@pytest.mark.parametrize("with_accession", [False, True])
def test_score_seq_hash_excludes_identical_sequences_whatever_the_id(golden_kb, with_accession):
    from psl.hitrate.scorer import score

    # A UniProt-header id the KB does not know; its hash is P11111's sequence: P11111 and
    # A00001 are excluded as identical copies. Without an accession the isoform P11111-2 (a
    # different sequence) counts: 31/150 as in the 'sequence' column test above. With the
    # accession P11111 its isoform goes too: E_s1 by hand = S1 (2/15).
    table = pd.DataFrame({"protein": ["sp|P11111|TEST_HUMAN"], "location": ["Nucleus"],
                          "subsequence": ["WHKW"], "start": [4], "seq_hash": [_md5(P_SEQ)]})
    if with_accession:
        table["accession"] = ["P11111"]
    res = score(golden_kb, table, null=3)
    if with_accession:
        assert res.table["n_entries"][0] == S1["n_entries"]
        assert res.table["hit_rate"][0] == pytest.approx(S1["paper"], rel=1e-12)
    else:
        assert res.table["n_entries"][0] == 5
        assert res.table["hit_rate"][0] == pytest.approx(31 / 150, rel=1e-12)
    # the hash found the sequence in the KB: no identity warning, and a null model is drawn
    assert res.warnings == []
    assert res.proteins["n_null"][0] > 0


def test_score_accession_column_identifies_the_protein(golden_kb):
    from psl.hitrate.scorer import score

    # no hash: the accession column (not the protein id) finds P11111, its isoform and, by its
    # own entry's sequence, the identical A00001: the same as the plain-accession input
    table = _golden_input().iloc[:1].assign(protein="sp|P11111|TEST_HUMAN", accession="P11111")
    res = score(golden_kb, table)
    assert res.table["n_entries"][0] == S1["n_entries"]
    assert res.table["hit_rate"][0] == pytest.approx(S1["paper"], rel=1e-12)
    # with only the protein id, nothing identifies it: its own entry counts (the bug of
    # issue 10), and a warning says so
    res = score(golden_kb, table.drop(columns=["accession"]))
    assert res.table["n_entries"][0] == S1_KEEP["n_entries"]
    assert any("sp|P11111|TEST_HUMAN" in w for w in res.warnings)


def test_score_list_column_is_one_line_error(golden_kb, tmp_path):
    import pyarrow as pa

    from psl.errors import PslError
    from psl.hitrate.scorer import score

    table = pa.table({"protein": ["P11111"], "location": ["Nucleus"],
                      "subsequence": [["WHKW", "TWH"]], "start": [4]})
    with pytest.raises(PslError, match=r"^in\.parquet: column 'subsequence' holds .* values "
                       r"\(first at row 1\)"):
        score(golden_kb, table, source="in.parquet")
    with pytest.raises(PslError, match="column 'model' holds"):
        score(golden_kb, _golden_input().assign(model=[[1], [2], [3], [4], [5]]), proteins=True)
    with pytest.raises(ValueError, match="row 1: seq_hash must be 32 hexadecimal digits"):
        score(golden_kb, _golden_input().assign(seq_hash="abc"))


def test_score_says_why_nothing_is_scored(golden_kb):
    from psl.hitrate.scorer import score

    res = score(golden_kb, _golden_input().iloc[1:2])  # LLE: only in P11111 and its copies
    assert any(w.startswith("no subsequence was scored") for w in res.warnings)
    res = score(golden_kb, _golden_input().iloc[:0])
    assert any(w.startswith("the input has no rows") for w in res.warnings)


def test_score_evidence_experimental(golden_kb):
    from psl.hitrate.scorer import score

    # the CSV-built KB has no evidence codes: with --evidence experimental no entry has a
    # location, so the five entries containing WHKW (beside P11111, its isoform, its copy)
    # are all unannotated
    res = score(golden_kb, _golden_input().iloc[:1], evidence="experimental")
    assert res.table["n_entries"][0] == 0
    assert res.table["n_unannotated"][0] == 5
    assert math.isnan(res.table["hit_rate"][0])


def test_score_taxon_is_forwarded_to_search(golden_kb):
    from kb.errors import KBError
    from psl.hitrate.scorer import score

    # the golden KB is a CSV without taxonomy: an error saying so, not an empty result
    with pytest.raises(KBError, match="has no taxonomy .*taxon 'Eukaryota'"):
        score(golden_kb, _golden_input(), taxon="Eukaryota")


def test_score_position_mismatch_warns_and_counts(golden_kb):
    from psl.hitrate.scorer import score

    table = _golden_input()
    table.loc[2, "start"] = 5  # TWH is at 3 in P11111, not 5
    table.loc[3, "start"] = 99  # X99999 is not in the KB: nothing to check
    res = score(golden_kb, table)
    assert res.n_position_mismatches == 1
    mismatch = [w for w in res.warnings if "not at its start" in w]
    assert len(mismatch) == 1 and "(rows 3)" in mismatch[0]
    # still scored with the given start: TWH in A00008 at 1, d = |1 - 5| = 4, beta 1/4
    assert res.table["hit_rate"][2] == pytest.approx(1 / 4)


def test_score_accepts_arrow_and_is_deterministic(golden_kb):
    import pyarrow as pa

    from psl.hitrate.scorer import score

    a = score(golden_kb, pa.Table.from_pandas(_golden_input()), null=30, seed=7)
    b = score(golden_kb, _golden_input(), null=30, seed=7)
    c = score(golden_kb, _golden_input(), null=30, seed=8)
    pd.testing.assert_frame_equal(a.proteins, b.proteins)
    assert a.proteins is not None and "p_value" in a.proteins
    assert not a.proteins["null_hit_rate"].equals(c.proteins["null_hit_rate"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.drop(columns=["start", "location"]),
         r"missing column\(s\) location, start \(columns present: protein, subsequence, model"),
        (lambda t: t.assign(location=["Nucleus", "Nucleus", "Nowhere", "Nucleus", "Nucleus"]),
         r"in\.csv, row 3: unknown location 'Nowhere' \(expected one of: Nucleus"),
        (lambda t: t.assign(subsequence=["WHKW", "LL1", "TWH", "WHKW", "WHKW"]),
         r"in\.csv, row 2: subsequence has letters outside the amino-acid alphabet: 'LL1'"),
        (lambda t: t.assign(subsequence=["WHKW", "LLE", "TWH", None, "WHKW"]),
         r"in\.csv, row 4: subsequence is empty"),
        (lambda t: t.assign(start=[4, 8, 0, 1, 4]),
         r"in\.csv, row 3: start must be a 1-based position \(an integer >= 1\), got 0"),
        (lambda t: t.assign(start=["4", "8", "3", "x", "4"]),
         r"in\.csv, row 4: start must be a 1-based position .*got 'x'"),
        (lambda t: t.assign(protein=["P11111", "", "P11111", "X99999", "P11111"]),
         r"in\.csv, row 2: protein is empty"),
        (lambda t: t.assign(sequence=[P_SEQ, P_SEQ, "MSTWHKWLLEA", "AWHKW", P_SEQ]),
         r"in\.csv, row 1: protein 'P11111' has different values in the 'sequence' column"),
    ],
)
def test_score_bad_input_names_the_row(golden_kb, change, message):
    from psl.hitrate.scorer import score

    with pytest.raises(ValueError, match=message):
        score(golden_kb, change(_golden_input()), source="in.csv")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weighting": "beta"}, "^weighting must be one of paper, normalized, none, got 'beta'$"),
        ({"evidence": "ECO"}, "^evidence must be one of any, experimental, got 'ECO'$"),
        ({"null": -1}, "^null \\(replicates\\) must be an integer >= 0, got -1$"),
        ({"group_by": ["method"]}, "^group_by column\\(s\\) method not in the input"),
    ],
)
def test_score_bad_options(golden_kb, kwargs, message):
    from psl.errors import PslError
    from psl.hitrate.scorer import score

    with pytest.raises(PslError, match=message) as e:
        score(golden_kb, _golden_input(), **kwargs)
    assert e.value.param == next(iter(kwargs))  # the CLI shows the option's flag instead


def test_score_equals_reference_on_random_kb(tmp_path):
    from psl.hitrate.scorer import score

    rng = np.random.default_rng(11)
    entries, items = _random_case(rng)
    # kb.build drops duplicate accessions; the random case has none
    rows = [(a, s, "|".join(sorted(c))) for a, s, c in entries]
    kb = _build_kb(tmp_path, rows)
    try:
        table = pd.DataFrame(items, columns=["protein", "sequence", "location", "subsequence",
                                             "start"])
        kb_seq = {a: s for a, s, _ in entries}
        occ = _occurrences(sorted({it[3] for it in items}), [s for _, s, _ in entries])
        # without a sequence column, the KB's sequence is the query protein's (when in the KB)
        ref_items = [(p, kb_seq.get(p), loc, sub, st) for p, _, loc, sub, st in items]
        # with one (empty cells allowed), the given sequence first, then the KB's
        given = {}
        for p, s, *_ in items:
            if s is not None:
                given.setdefault(p, s)
        ref_items_seq = [(p, given.get(p, kb_seq.get(p)), loc, sub, st)
                         for p, _, loc, sub, st in items]
        for frame, ref in [(table.drop(columns=["sequence"]), ref_items), (table, ref_items_seq)]:
            got = score(kb, frame).table
            want = reference_hit_rates(ref, occ, dict(enumerate(entries)))
            assert [w["n_entries"] for w in want] == got["n_entries"].tolist()
            assert [w["n_hits"] for w in want] == got["n_hits"].tolist()
            assert [w["n_unannotated"] for w in want] == got["n_unannotated"].tolist()
            np.testing.assert_allclose(got["hit_rate"], [w["hit_rate"] for w in want],
                                       rtol=1e-12, equal_nan=True)
    finally:
        kb.close()


def test_null_model_matches_exhaustive_enumeration(tmp_path):
    """With one subsequence per protein, a null replicate is one uniformly random window of the
    same length: its mean and p-value must converge to the values obtained by scoring every
    window of the protein with the plain-loop reference."""
    from psl.hitrate.scorer import score

    rng = np.random.default_rng(5)
    n = 80
    seqs = ["".join(rng.choice(list("ACDE"), size=rng.integers(30, 60))) for _ in range(n)]
    entries = []
    for i, s in enumerate(seqs):
        classes = rng.choice(LOCATION_CLASSES[:3], size=rng.integers(0, 3), replace=False)
        entries.append((f"P{i:05d}", s, frozenset(classes.tolist())))
    kb = _build_kb(tmp_path, [(a, s, "|".join(sorted(c))) for a, s, c in entries])
    replicates = 2000
    try:
        rows = []
        for j in range(6):
            acc, seq, _ = entries[j * 7]
            start = int(rng.integers(1, len(seq) - 2))
            rows.append((acc, LOCATION_CLASSES[j % 3], seq[start - 1 : start + 2], start))
        table = pd.DataFrame(rows, columns=["protein", "location", "subsequence", "start"])
        res = score(kb, table, null=replicates, seed=1)
        groups = res.proteins.set_index("protein")
        ref_entries = dict(enumerate(entries))
        checked = 0
        by_accession = {a: s for a, s, _ in entries}
        for acc, loc, _sub, _start in rows:
            seq = by_accession[acc]
            windows = [(t, seq[t - 1 : t + 2]) for t in range(1, len(seq) - 1)]
            occ = _occurrences(sorted({w for _, w in windows}), seqs)
            rates = np.array([
                reference_hit_rates([(acc, seq, loc, w, t)], occ, ref_entries)[0]["hit_rate"]
                for t, w in windows
            ])
            defined = rates[~np.isnan(rates)]
            g = groups.loc[acc]
            observed = g["hit_rate"]
            assert g["n_subsequences"] == 1
            # fraction of replicates with a defined hit rate
            frac = defined.size / rates.size
            assert abs(g["n_null"] / replicates - frac) <= 5 * math.sqrt(
                frac * (1 - frac) / replicates) + 1e-9
            if defined.size == 0 or math.isnan(observed):
                continue
            checked += 1
            sd = defined.std()
            tolerance = 5 * sd / math.sqrt(g["n_null"]) + 1e-9
            assert abs(g["null_hit_rate"] - defined.mean()) <= tolerance
            q = float(np.mean(defined >= observed - 1e-12))
            want_p = (1 + g["n_null"] * q) / (1 + g["n_null"])
            assert abs(g["p_value"] - want_p) <= 5 * math.sqrt(q * (1 - q) / g["n_null"]) + 1e-3
            assert g["enrichment"] == pytest.approx(observed / g["null_hit_rate"])
        assert checked >= 4
    finally:
        kb.close()


def test_score_empty_input_and_kb_directory(golden_kb):
    from psl.hitrate.scorer import score

    empty = _golden_input().iloc[:0]
    res = score(golden_kb.path, empty, null=5)  # a directory is opened (and closed) here
    assert len(res.table) == 0 and res.table.columns[-1] == "hit_rate"
    assert len(res.proteins) == 0 and "p_value" in res.proteins
    assert res.summary().startswith("0 rows, 0 proteins, 0 rows scored")
