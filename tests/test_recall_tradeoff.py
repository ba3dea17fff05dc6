"""benchmarks/recall_tradeoff.py: the greedy per-class offsets reach the recall target, and the
prior correction is the plain argmax it claims."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from recall_tradeoff import TARGET, greedy_offsets  # noqa: E402


def _recalls(y, pred, k):
    return np.array([(pred[y == c] == c).mean() for c in range(k)])


def test_greedy_offsets_reach_every_recall_and_only_raise_blind_classes():
    rng = np.random.default_rng(0)
    k, n = 4, 600
    y = rng.choice(k, size=n, p=[0.6, 0.25, 0.1, 0.05])
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += 1.0                     # informative, but
    logits[:, 3] -= 3.0                                # class 3 nearly never predicted
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    assert _recalls(y, logp.argmax(1), k)[3] < 0.1
    b = greedy_offsets(y, logp)
    rec = _recalls(y, (logp + b).argmax(1), k)
    assert rec.min() >= TARGET
    assert b[3] > 0 and b[0] == 0                      # the majority class is never raised
    np.testing.assert_allclose(b, np.round(b / 0.05) * 0.05)  # whole steps of 0.05


def test_greedy_offsets_are_zero_when_the_target_already_holds():
    y = np.array([0, 0, 1, 1, 2, 2])
    logp = np.log(np.eye(3)[y] * 0.9 + 0.1 / 3)
    assert (greedy_offsets(y, logp) == 0).all()
