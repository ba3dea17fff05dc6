"""scripts/substituted_copies.py: BLOSUM62-conditional substitutions for distillation copies."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "substituted_copies.py"


@pytest.fixture(scope="module")
def sc():
    spec = importlib.util.spec_from_file_location("substituted_copies", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_matrix_matches_blosum62_by_hand(sc):
    # uniform composition: P[W, b] = 2^(S_Wb / 2) / sum_{c != W} 2^(S_Wc / 2), with BLOSUM62's
    # W row typed from the published matrix (order ACDEFGHIKLMNPQRSTVWY)
    w_row = {"A": -3, "C": -2, "D": -4, "E": -3, "F": 1, "G": -2, "H": -2, "I": -3, "K": -3,
             "L": -2, "M": -1, "N": -4, "P": -4, "Q": -2, "R": -3, "S": -3, "T": -2, "V": -3,
             "Y": 2}
    denom = sum(2.0 ** (s / 2) for s in w_row.values())
    m = sc.substitution_matrix([sc.AMINO])
    w = sc.AMINO.index("W")
    for b, s in w_row.items():
        assert m[w, sc.AMINO.index(b)] == pytest.approx(2.0 ** (s / 2) / denom, rel=1e-12)
    assert m[w, w] == 0.0
    np.testing.assert_allclose(m.sum(1), 1.0)
    assert (np.diag(m) == 0).all()


def test_substitute_changes_exactly_the_rate_and_keeps_other_letters(sc):
    m = sc.substitution_matrix([sc.AMINO * 3])
    seq = "MKTAYIAKQRQISFVKSHFSRQXXUBLEELGkdel" * 4  # lower case read as upper
    standard = sum(c in sc.AMINO for c in seq.upper())
    out = sc.substitute(seq, 0.25, m, np.random.default_rng(1))
    assert len(out) == len(seq)
    changed = [i for i, (a, b) in enumerate(zip(seq.upper(), out, strict=True)) if a != b]
    assert len(changed) == round(0.25 * standard)
    assert all(seq.upper()[i] in sc.AMINO for i in changed)
    assert all(out[i] == c for i, c in enumerate(seq.upper()) if c not in sc.AMINO)
    again = sc.substitute(seq, 0.25, m, np.random.default_rng(1))
    assert again == out


def test_replacements_follow_the_matrix_row(sc):
    m = sc.substitution_matrix(["ACDEFGHIKLMNPQRSTVWYLLLAAGE"])
    rng = np.random.default_rng(0)
    draws = [sc.substitute("I", 0.99, m, rng) for _ in range(20000)]
    freq = np.array([draws.count(a) for a in sc.AMINO]) / len(draws)
    row = m[sc.AMINO.index("I")]
    assert freq[sc.AMINO.index("I")] == 0
    np.testing.assert_allclose(freq, row, atol=0.012)  # ~4 standard errors at p = 0.3


def test_refuses_existing_output_and_bad_rate(tmp_path):
    existing = tmp_path / "t.tsv.gz"
    existing.write_bytes(b"mine")
    run = subprocess.run([sys.executable, str(SCRIPT), "--dataset", "x", "--teacher", "y",
                          "--out", str(existing), "--teacher-table", str(tmp_path / "p.tsv")],
                         capture_output=True, text=True)
    assert run.returncode != 0 and "exists" in run.stderr
    assert existing.read_bytes() == b"mine"
    run = subprocess.run([sys.executable, str(SCRIPT), "--dataset", "x", "--teacher", "y",
                          "--rate", "1.5", "--out", str(tmp_path / "a.tsv"),
                          "--teacher-table", str(tmp_path / "p.tsv")],
                         capture_output=True, text=True)
    assert run.returncode != 0 and "--rate" in run.stderr


def test_end_to_end_with_a_tiny_teacher_and_a_repeated_accession(repo_root, tmp_path):
    # a dataset listing one accession twice (two sequences): every training row, original or
    # copy, must get the teacher's own probabilities back through the trainer's table lookup
    from dataclasses import replace

    import pandas as pd

    from psl.sources import read_dataset, write_dataset
    from psl.training.config import RunConfig, load_run_config
    from psl.training.trainer import table_probabilities, teacher_probabilities, train

    run = load_run_config(repo_root / "configs" / "quick.toml")
    run = RunConfig(replace(run.model, hidden=8, conv_channels=8), replace(run.data, subset=60),
                    replace(run.train, epochs=1))
    train(run, tmp_path / "teacher", device="cpu", n_boot=5)
    rows = pd.DataFrame({"accession": ["P1", "P1", "P2", "P3"],
                         "sequence": ["MKTAYIAKQRQISFVKSHFSRQ", "MLSRAVCGTSRQLAPVLGYLGSRQKHSL",
                                      "MAAAGGSEEKKLSSKL", "MSDQEAKPSTEDLGDKKEGEYIKLKVIGQD"],
                         "location": ["Nucleus", "Mitochondrion", "Cytoplasm", "Nucleus"],
                         "source": "test"})
    dataset = tmp_path / "d.tsv"
    write_dataset({"train": rows, "val": rows.iloc[:1], "test": rows.iloc[1:2]}, dataset)
    out, table = tmp_path / "out.tsv", tmp_path / "teacher.tsv"
    run_ = subprocess.run([sys.executable, str(SCRIPT), "--dataset", str(dataset), "--teacher",
                           str(tmp_path / "teacher"), "--rate", "0.3", "--out", str(out),
                           "--teacher-table", str(table)], capture_output=True, text=True)
    assert run_.returncode == 0, run_.stderr
    got = read_dataset(out)
    train_rows = got["train"]
    assert len(train_rows) == 8 and train_rows["accession"].tolist()[4:] == [
        "P1~s30", "P1~s30", "P2~s30", "P3~s30"]
    expected = teacher_probabilities(str(tmp_path / "teacher"),
                                     train_rows["sequence"].tolist(), "cpu")
    looked_up = table_probabilities(table, train_rows["accession"].tolist(),
                                    sequences=train_rows["sequence"].tolist())
    np.testing.assert_allclose(looked_up, expected, atol=1e-5)
    from kb.classes import LOCATION_CLASSES

    assert train_rows["location"].tolist()[4:] == [LOCATION_CLASSES[i]
                                                   for i in expected[4:].argmax(1)]
    assert len(got["val"]) == 1 and len(got["test"]) == 1
