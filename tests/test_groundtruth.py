"""Ground truth: motif finders, terminal mass, motif coverage, feature precision/recall."""

from __future__ import annotations

import pandas as pd
import pytest

from psl.explain.extract import extract_subsequences
from psl.explain.groundtruth import (
    feature_overlap,
    find_motifs,
    groundtruth_summary,
    motif_coverage,
    terminal_mass,
)


def _attr(name, seq, scores, true="Peroxisome", pred="Peroxisome", method="ig"):
    return pd.DataFrame(
        {
            "method": method,
            "protein": name,
            "position": range(1, len(seq) + 1),
            "residue": list(seq),
            "score": scores,
            "true_label": true,
            "predicted_label": pred,
        }
    )


def test_motifs_on_real_c_termini():
    # Firefly luciferase (P08659) ends in SKL (PTS1); human catalase's KANL is a
    # non-canonical PTS1 that PS00342 does not match; BiP/HSPA5 (P11021) ends in KDEL;
    # SV40 large T antigen NLS PKKKRKV.
    assert ("PTS1", 548, 550) in find_motifs("M" * 547 + "SKL")
    assert not [m for m in find_motifs("M" * 523 + "ANL") if m[0] == "PTS1"]
    assert find_motifs("MKLSLVAAMLLLLSAARAEEEDKKEDVGTVVGIDLGTTYSKDEL")[-1][0] == "ER_retention"
    er = [m for m in find_motifs("AAAAKDEL") if m[0] == "ER_retention"]
    assert er == [("ER_retention", 5, 8)]
    # KDEL not at the C-terminus is no ER retention signal.
    assert not [m for m in find_motifs("KDELAAAA") if m[0] == "ER_retention"]
    nls = [m for m in find_motifs("AAPKKKRKVAA") if m[0] == "NLS_monopartite"]
    assert nls == [("NLS_monopartite", 4, 7), ("NLS_monopartite", 5, 8)]  # KKKR, KKRK
    bip = [m for m in find_motifs("KR" + "A" * 10 + "KKK") if m[0] == "NLS_bipartite"]
    assert bip == [("NLS_bipartite", 1, 15)]


def test_terminal_mass_hand_computed():
    # L = 40, |scores|: first 30 residues 1 each, last 10 residues 2 each (one negative).
    scores = [1.0] * 30 + [2.0] * 9 + [-2.0]
    tm = terminal_mass(_attr("P", "A" * 40, scores), n_first=30, n_last=10)
    row = tm.iloc[0]
    assert row.length == 40
    assert row.mass_first == pytest.approx(30 / 50)
    assert row.mass_last == pytest.approx(20 / 50)
    assert row.expected_first == pytest.approx(30 / 40)
    assert row.expected_last == pytest.approx(10 / 40)
    # Shorter than n_first: everything is "first", expectation 1.
    tm = terminal_mass(_attr("Q", "AAAAA", [1, 2, 3, 4, 5]), n_first=30, n_last=2)
    assert tm.iloc[0].mass_first == pytest.approx(1.0)
    assert tm.iloc[0].mass_last == pytest.approx(9 / 15)
    # A cropped protein: 20 residues, the model saw 1..5 and 16..20 only.
    sc = [1.0] * 5 + [float("nan")] * 10 + [1.0] * 5
    tm = terminal_mass(_attr("C", "A" * 20, sc), n_first=3, n_last=2)
    assert tm.iloc[0].expected_first == pytest.approx(3 / 10)
    assert tm.iloc[0].expected_last == pytest.approx(2 / 10)
    assert tm.iloc[0].mass_first == pytest.approx(3 / 10)
    with pytest.raises(ValueError):
        terminal_mass(_attr("Q", "A", [1.0]), n_first=0)


def test_motif_coverage_against_extraction():
    # A peroxisomal protein with an SKL at the end, the attribution peaking on it.
    seq = "M" + "A" * 36 + "GSKL"  # 41 residues, SKL at 39..41
    scores = [0.0] * 41
    scores[39] = 5.0  # position 40 -> window 38..41 (clipped)
    attr = _attr("P", seq, scores)
    sub = extract_subsequences(attr)
    assert sub[["start", "end"]].values.tolist() == [[38, 41]]
    mc = motif_coverage(attr, sub)
    pts1 = mc[mc.motif == "PTS1"].iloc[0]
    assert (pts1.start, pts1.end, pts1.covered) == (39, 41, 1.0)
    assert pts1.expected == pytest.approx(4 / 41)
    # Peak elsewhere: the motif is not covered.
    scores = [0.0] * 41
    scores[5] = 5.0
    attr = _attr("P", seq, scores)
    mc = motif_coverage(attr, extract_subsequences(attr))
    assert mc[mc.motif == "PTS1"].covered.tolist() == [0.0]


def test_feature_overlap_precision_recall():
    sub = pd.DataFrame(
        {
            "method": "ig",
            "protein": ["P", "P", "Q"],
            "start": [1, 40, 5],
            "end": [10, 44, 9],
            "true_label": "Extracellular",
            "predicted_label": "Extracellular",
        }
    )
    features = pd.DataFrame(
        {
            "accession": ["P", "P", "R"],
            "type": ["SIGNAL", "CHAIN", "SIGNAL"],
            "start": [1, 21, 1],
            "end": [20, 200, 25],
        }
    )
    fo = feature_overlap(sub, features)
    # Only P has a SIGNAL (1..20); extracted 1..10 and 40..44 -> 15 residues, 10 overlap.
    assert fo["protein"].tolist() == ["P"]
    row = fo.iloc[0]
    assert (row.feature_residues, row.extracted_residues, row.overlap) == (20, 15, 10)
    assert row.precision == pytest.approx(10 / 15)
    assert row.recall == pytest.approx(10 / 20)
    # Overlapping features are merged: SIGNAL 1..20 and MOTIF 15..25 -> 25 residues.
    features2 = pd.concat(
        [features, pd.DataFrame({"accession": ["P"], "type": ["MOTIF"], "start": [15],
                                 "end": [25]})]
    )
    assert feature_overlap(sub, features2).iloc[0].feature_residues == 25


def test_summary_groups_by_run_and_class():
    seq = "M" + "A" * 36 + "GSKL"
    s1 = [0.0] * 41
    s1[39] = 5.0
    s2 = [0.0] * 41
    s2[1] = 5.0
    attr = pd.concat(
        [_attr("P", seq, s1, method="ig"), _attr("P", seq, s2, method="attention")]
    )
    sub = extract_subsequences(attr)
    summary = groundtruth_summary(attr, sub)
    t = summary["terminal"].set_index("method")
    assert t.loc["ig", "mass_last"] == pytest.approx(1.0)
    assert t.loc["attention", "mass_first"] == pytest.approx(1.0)
    assert t.loc["ig", "ratio_last"] == pytest.approx(41 / 10)
    m = summary["motifs"]
    pts1 = m[m.motif == "PTS1"].set_index("method")
    assert pts1.loc["ig", "covered"] == 1.0 and pts1.loc["attention", "covered"] == 0.0
    assert bool(pts1.loc["ig", "in_expected_class"])
    assert summary["features"].empty


# The implementation before the motif engine (kept here as the oracle): Python regexes with
# an overlapping lookahead, one occurrence per start.
_OLD_REGEXES = (
    ("ER_retention", r"[KRHQSA][DENQ]EL$"),
    ("PTS1", r"[STAGCN][RKH][LIVMAFY]$"),
    ("NLS_monopartite", r"K[KR].[KR]"),
    ("NLS_bipartite", r"[KR]{2}.{10,12}[KR]{3}"),
)


def _old_find_motifs(sequence):
    import re

    found = []
    for name, pattern in _OLD_REGEXES:
        for hit in re.finditer(f"(?=({pattern}))", sequence):
            start = hit.start() + 1
            found.append((name, start, start + len(hit.group(1)) - 1))
    return found


def test_engine_equals_the_old_regex_implementation_on_shipped_data(repo_root):
    from kb.scan import iter_fasta
    from psl.explain.groundtruth import MOTIFS, find_motifs_many

    assert [m.name for m in MOTIFS] == [n for n, _ in _OLD_REGEXES]
    seqs = [r.sequence for r in iter_fasta(repo_root / "data/examples/demo_proteins.fasta")]
    seqs += pd.read_csv(repo_root / "data/deeploc2/deeploc2_swissprot.csv.gz",
                        nrows=4000).sequence.tolist()
    got = find_motifs_many(seqs)
    want = [_old_find_motifs(s) for s in seqs]
    assert got == want
    assert sum(map(len, want)) > 1000 and any(n == "PTS1" for w in want for n, _, _ in w)
