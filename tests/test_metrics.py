"""psl.metrics against scikit-learn (independent oracle) and hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from psl.metrics import (
    accuracy,
    bootstrap_ci,
    classification_report,
    confusion_matrix,
    macro_f1,
    mcc,
    per_class_prf,
    plot_confusion,
)


@pytest.mark.parametrize("seed", range(6))
def test_metrics_match_scikit_learn_on_random_labels(seed):
    rng = np.random.default_rng(seed)
    k = 10
    n = int(rng.integers(5, 400))
    t = rng.integers(0, k, n)
    # skewed predictions that sometimes miss whole classes
    p = np.where(rng.random(n) < 0.5, t, rng.integers(0, int(rng.integers(2, k + 1)), n))
    labels = list(range(k))
    np.testing.assert_array_equal(confusion_matrix(t, p, k),
                                  skm.confusion_matrix(t, p, labels=labels))
    assert accuracy(t, p) == pytest.approx(skm.accuracy_score(t, p))
    assert accuracy(t, p) == pytest.approx(skm.f1_score(t, p, average="micro"))
    assert macro_f1(t, p, k) == pytest.approx(skm.f1_score(t, p, average="macro",
                                                           zero_division=0))
    assert mcc(t, p, k) == pytest.approx(skm.matthews_corrcoef(t, p))
    prec, rec, f1, sup = per_class_prf(confusion_matrix(t, p, k))
    sp, sr, sf, ss = skm.precision_recall_fscore_support(t, p, labels=labels, zero_division=0)
    np.testing.assert_allclose(prec, sp)
    np.testing.assert_allclose(rec, sr)
    np.testing.assert_allclose(f1, sf)
    np.testing.assert_array_equal(sup, ss)


def test_hand_computed_example():
    t = [0, 0, 1, 1, 2]
    p = [0, 1, 1, 1, 0]
    # class 0: P=1/2 R=1/2 F=1/2; class 1: P=2/3 R=1 F=0.8; class 2: 0
    assert accuracy(t, p) == pytest.approx(0.6)
    assert macro_f1(t, p, 3) == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert mcc([0, 1, 0, 1], [0, 1, 0, 1], 2) == pytest.approx(1.0)
    assert mcc([0, 0, 0], [0, 0, 0], 2) == 0.0  # undefined -> 0


def test_bootstrap_interval_contains_the_estimate_and_is_seeded():
    rng = np.random.default_rng(1)
    t = rng.integers(0, 3, 300)
    p = np.where(rng.random(300) < 0.7, t, rng.integers(0, 3, 300))
    lo, hi = bootstrap_ci(t, p, accuracy, n_boot=300, seed=0)
    acc = accuracy(t, p)
    assert lo < acc < hi
    # binomial standard error as a rough independent check of the width
    se = np.sqrt(acc * (1 - acc) / 300)
    assert 2.5 * se < hi - lo < 5.5 * se
    assert bootstrap_ci(t, p, accuracy, n_boot=300, seed=0) == (lo, hi)
    with pytest.raises(ValueError):
        bootstrap_ci(t, p, accuracy, n_boot=0)


def test_report_and_plot(tmp_path):
    t = [0, 1, 2, 2, 1]
    p = [0, 1, 2, 1, 1]
    rep = classification_report(t, p, ["a", "b", "c"], n_boot=50)
    assert rep["n"] == 5 and rep["accuracy"] == pytest.approx(0.8)
    assert rep["per_class"]["c"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3),
                                     "support": 2}
    assert rep["confusion"] == [[1, 0, 0], [0, 2, 0], [0, 1, 1]]
    assert set(rep["ci95"]) == {"accuracy", "macro_f1", "mcc"}
    plot_confusion(np.array(rep["confusion"]), rep["classes"], tmp_path / "cm.png")
    assert (tmp_path / "cm.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix([0, 5], [0, 1], 3)
    with pytest.raises(ValueError, match="equal length"):
        confusion_matrix([0, 1], [0], 3)
