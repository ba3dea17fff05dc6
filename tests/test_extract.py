"""Subsequence extraction: hand-computed golden cases and a plain-loop reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from psl.errors import PslError
from psl.explain.extract import AttributionTableError, extract_subsequences, salient_segments


def _table(proteins: dict[str, tuple[str, list[float]]], true="Nucleus", pred="Cytoplasm"):
    rows = []
    for name, (seq, scores) in proteins.items():
        assert len(seq) == len(scores)
        for i, (r, s) in enumerate(zip(seq, scores, strict=True)):
            rows.append((name, i + 1, r, s, true, pred))
    return pd.DataFrame(
        rows,
        columns=["protein", "position", "residue", "score", "true_label", "predicted_label"],
    )


def _reference(scores: np.ndarray, k: float, window: int) -> list[tuple[int, int]]:
    """Plain loops: 1-based inclusive (start, end) of merged windows."""
    n = len(scores)
    mean = sum(scores) / n
    std = (sum((s - mean) ** 2 for s in scores) / n) ** 0.5
    left, right = (window - 1) // 2, window // 2
    wins = []
    for i, s in enumerate(scores):
        if s > mean + k * std:
            wins.append([max(0, i - left), min(n - 1, i + right)])
    merged: list[list[int]] = []
    for a, b in wins:
        if merged and a <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a + 1, b + 1) for a, b in merged]


def test_single_peak_golden():
    # 20 residues, one peak of 10 at position 10: mean 0.5, std sqrt(4.75) = 2.18, threshold
    # 0.5 + 2 * 2.18 = 4.86 -> only position 10; window 8..12 of ACDEFGH[IKLMN]PQ... .
    scores = [0.0] * 20
    scores[9] = 10.0
    seq = "ACDEFGHIKLMNPQRSTVWY"
    out = extract_subsequences(_table({"P1": (seq, scores)}))
    assert out[["start", "end", "subsequence"]].values.tolist() == [[8, 12, "IKLMN"]]
    assert out["location"].tolist() == ["Nucleus"]
    assert out["label_kind"].tolist() == ["true"]
    assert out["score"].tolist() == [10.0]
    assert out["correct"].tolist() == [False]


def test_clipped_at_ends_and_touching_windows_merge():
    seq = "MKVLAAGIVGSTRPQWEDCA"  # 20
    scores = [0.0] * 20
    scores[0] = 5.0  # window 1..3 (clipped)
    scores[19] = 5.0  # window 18..20 (clipped)
    out = extract_subsequences(_table({"P": (seq, scores)}), label="predicted")
    assert out[["start", "end"]].values.tolist() == [[1, 3], [18, 20]]
    assert out["subsequence"].tolist() == ["MKV", "DCA"]
    assert set(out["location"]) == {"Cytoplasm"}
    # Peaks at 5 and 10: windows 3..7 and 8..12 touch -> one subsequence 3..12.
    scores = [0.0] * 20
    scores[4] = 5.0
    scores[9] = 5.0
    out = extract_subsequences(_table({"P": (seq, scores)}))
    assert out[["start", "end"]].values.tolist() == [[3, 12]]
    assert out["subsequence"].tolist() == [seq[2:12]]
    # Peaks at 5 and 11: windows 3..7 and 9..13 leave residue 8 out -> two subsequences.
    scores = [0.0] * 20
    scores[4] = 5.0
    scores[10] = 5.0
    out = extract_subsequences(_table({"P": (seq, scores)}))
    assert out[["start", "end"]].values.tolist() == [[3, 7], [9, 13]]


def test_flat_scores_give_nothing_and_k_zero_takes_above_mean():
    seq = "ACDEFGHIKL"
    out = extract_subsequences(_table({"P": (seq, [1.0] * 10)}))
    assert out.empty
    out = extract_subsequences(_table({"P": (seq, [0.0] * 9 + [1.0])}), k=0, window=1)
    assert out[["start", "end", "subsequence"]].values.tolist() == [[10, 10, "L"]]


def test_both_labels_and_runs_are_separate():
    seq = "ACDEFGHIKLMNPQRSTVWY"
    s1 = [0.0] * 20
    s1[2] = 9.0
    s2 = [0.0] * 20
    s2[15] = 9.0
    t = _table({"A": (seq, s1), "B": (seq, s2)})
    t2 = t.copy()
    t2["score"] = t2["score"][::-1].to_numpy()  # a second run with other scores
    t["method"] = "ig"
    t2["method"] = "attention"
    out = extract_subsequences(pd.concat([t, t2]), label="both")
    assert len(out) == 2 * 2 * 2
    ig = out[(out.method == "ig") & (out.label_kind == "true")]
    assert ig[["protein", "start", "end"]].values.tolist() == [["A", 1, 5], ["B", 14, 18]]


def test_matches_plain_loop_reference_on_random_proteins():
    rng = np.random.default_rng(7)
    proteins = {}
    for i in range(40):
        n = int(rng.integers(1, 60))
        seq = "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), n))
        sc = rng.standard_normal(n) ** 3
        proteins[f"P{i}"] = (seq, sc.tolist())
    table = _table(proteins).sample(frac=1.0, random_state=1)  # order must not matter
    for k, window in [(2.0, 5), (1.0, 3), (0.5, 4), (1.5, 1)]:
        out = extract_subsequences(table, k=k, window=window)
        got = {p: g[["start", "end"]].values.tolist() for p, g in out.groupby("protein")}
        for name, (seq, sc) in proteins.items():
            ref = _reference(np.array(sc), k, window)
            assert got.get(name, []) == [list(x) for x in ref], (name, k, window)
            for a, b in ref:
                row = out[(out.protein == name) & (out.start == a)].iloc[0]
                assert row.subsequence == seq[a - 1 : b]
                assert row.score == pytest.approx(sum(sc[a - 1 : b]))


def test_segments_never_cross_proteins():
    pid = np.array([0, 0, 0, 1, 1, 1])
    sc = np.array([0.0, 0.0, 1.0, 1.0, 0.0, 0.0])
    starts, ends = salient_segments(pid, sc, k=0.5, window=5)
    assert starts.tolist() == [0, 3] and ends.tolist() == [2, 5]


def test_errors():
    t = _table({"P": ("ACD", [0.0, 1.0, 0.0])})
    with pytest.raises(AttributionTableError, match="lacks column"):
        extract_subsequences(t.drop(columns=["score"]))
    bad = t.copy()
    bad.loc[1, "position"] = 5
    with pytest.raises(AttributionTableError, match="position 3 where 2"):
        extract_subsequences(bad)
    with pytest.raises(PslError, match=r"^window must be >= 1, got 0$") as e:
        extract_subsequences(t, window=0)
    assert e.value.param == "window"
    with pytest.raises(PslError, match=r"^label must be one of auto, true, predicted, both, got "
                       r"'wrong'$") as e:
        extract_subsequences(t, label="wrong")
    assert e.value.param == "label"
    with pytest.raises(PslError, match=r"^k must be a finite number, got nan$") as e:
        extract_subsequences(t, k=float("nan"))
    assert e.value.param == "k"
    inf = t.copy()
    inf.loc[0, "score"] = np.inf
    with pytest.raises(PslError, match="not finite"):
        extract_subsequences(inf)
    assert issubclass(AttributionTableError, PslError)  # one line and exit 2 in the CLI


def test_unseen_residues_are_ignored_but_can_be_in_windows():
    # Residues 4..6 were cropped (NaN): the statistics use the 7 seen ones only.
    seq = "ACDEFGHIKL"
    scores = [0.0, 0.0, 0.0, np.nan, np.nan, np.nan, 9.0, 0.0, 0.0, 0.0]
    out = extract_subsequences(_table({"P": (seq, scores)}), k=2.0)
    # seen: six 0 and one 9 -> mean 9/7, std 9*sqrt(6)/7 = 3.15, threshold 7.58 < 9.
    assert out[["start", "end", "subsequence", "score"]].values.tolist() == [[5, 9, "FGHIK", 9.0]]


def test_extract_cli(tmp_path):
    from typer.testing import CliRunner

    from cli.main import psl_app

    scores = [0.0] * 20
    scores[9] = 10.0
    t = _table({"P1": ("ACDEFGHIKLMNPQRSTVWY", scores)})
    src = tmp_path / "a.csv"
    t.to_csv(src, index=False)
    out = tmp_path / "s.tsv"
    res = CliRunner().invoke(psl_app, ["extract", str(src), "--out", str(out), "--label",
                                       "both"])
    assert res.exit_code == 0, res.output
    got = pd.read_csv(out, sep="\t")
    assert got[["location", "subsequence", "start", "end", "label_kind"]].values.tolist() == [
        ["Nucleus", "IKLMN", 8, 12, "true"],
        ["Cytoplasm", "IKLMN", 8, 12, "predicted"],
    ]
    t.drop(columns=["residue"]).to_csv(src, index=False)
    res = CliRunner().invoke(psl_app, ["extract", str(src), "--out", str(out)])
    assert res.exit_code == 2 and "lacks column(s) residue" in res.output


def test_auto_label_is_true_else_predicted_and_identity_passes_through():
    scores = [0.0] * 20
    scores[9] = 10.0
    seq = "ACDEFGHIKLMNPQRSTVWY"
    labelled = _table({"P1": (seq, scores)})
    unlabelled = _table({"sp|Q2|X_HUMAN": (seq, scores)}, true=None, pred="Plastid")
    table = pd.concat([labelled, unlabelled], ignore_index=True)
    table["accession"] = ["P1"] * 20 + ["Q2"] * 20
    table["seq_hash"] = ["h1"] * 20 + ["h2"] * 20
    out = extract_subsequences(table)  # default: auto
    assert out[["protein", "location", "label_kind", "accession", "seq_hash"]].values.tolist() == [
        ["P1", "Nucleus", "true", "P1", "h1"],
        ["sp|Q2|X_HUMAN", "Plastid", "predicted", "Q2", "h2"],
    ]
    # 'true' skips the unlabelled protein; 'both' gives it only its predicted row
    assert extract_subsequences(table, label="true")["protein"].tolist() == ["P1"]
    both = extract_subsequences(table, label="both")
    assert sorted(zip(both.protein, both.label_kind, strict=True)) == [
        ("P1", "predicted"), ("P1", "true"), ("sp|Q2|X_HUMAN", "predicted")]


def test_empty_reason_names_the_cause():
    from psl.explain.extract import empty_reason

    seq = "ACDEFGHIKL"
    unlabelled = _table({"P": (seq, [0.0] * 9 + [5.0])}, true=None)
    assert extract_subsequences(unlabelled, label="true").empty
    assert "no protein has a true label" in empty_reason(unlabelled, label="true")
    flat = _table({"P": (seq, [1.0] * 10)})
    assert extract_subsequences(flat).empty
    assert "no residue scores above mean + 2 * std" in empty_reason(flat, k=2.0)
    assert empty_reason(flat.iloc[:0]) == "the attribution table has no rows"


def test_extract_cli_warns_when_empty(tmp_path):
    from typer.testing import CliRunner

    from cli.main import psl_app

    t = _table({"P": ("ACDEFGHIKL", [0.0] * 9 + [5.0])}, true=None)
    src, out = tmp_path / "a.csv", tmp_path / "s.csv"
    t.to_csv(src, index=False)
    res = CliRunner().invoke(psl_app, ["extract", str(src), "--out", str(out), "--label",
                                       "true"])
    assert res.exit_code == 0
    assert "warning: no subsequence extracted: no protein has a true label" in res.stderr
    res = CliRunner().invoke(psl_app, ["extract", str(src), "--out", str(out)])  # auto
    assert res.exit_code == 0 and "warning" not in res.stderr
    assert pd.read_csv(out)["label_kind"].tolist() == ["predicted"]
