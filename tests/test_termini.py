"""Terminal windows (ModelConfig termini): what the windows hold, that they see only the
termini, that shipped checkpoints still load, and IG completeness on a model that uses them."""

from __future__ import annotations

import pytest
import torch

from kb.classes import LOCATION_CLASSES
from psl.data import encode_batch
from psl.explain.attributions import IGSettings, explain
from psl.models.checkpoint import DEFAULT_MODEL_DIR, load_model
from psl.models.family import LocalizationModel, ModelConfig

SEQS = ["MKVLAAGIVGSTRPQWEDCAGGSKL", "MSKL", "MAAWTRKDEL" * 3]


def _model(**kw) -> LocalizationModel:
    torch.manual_seed(0)
    cfg = dict(hidden=8, conv_channels=8, conv_kernels=[3], termini=6, dropout=0.0)
    cfg.update(kw)
    return LocalizationModel(ModelConfig(**cfg)).eval()


def test_windows_hold_the_first_and_last_residues():
    m = _model()
    b = encode_batch(SEQS, 1000)
    x = m.embed(b.tokens)
    n_win, c_win = m.terminal_windows(x, b.mask)
    for i, s in enumerate(SEQS):
        L = len(s)
        for j in range(6):
            want_n = x[i, j] if j < L else torch.zeros(x.shape[2])
            torch.testing.assert_close(n_win[i, j], want_n)
            pos = L - 6 + j  # right-aligned: the last slot is the last residue
            want_c = x[i, pos] if pos >= 0 else torch.zeros(x.shape[2])
            torch.testing.assert_close(c_win[i, j], want_c)


def test_termini_features_ignore_the_middle():
    m = _model()
    a = "MKVLAAGIVG" + "STRPQWEDC" + "AGGSKL"
    b = "MKVLAAGIVG" + "WWWWWWWWW" + "AGGSKL"  # residues 11-19 differ; windows: 1-6, 20-25
    batch = encode_batch([a, b], 1000)
    f = m.termini_features(m.embed(batch.tokens), batch.mask)
    torch.testing.assert_close(f[0], f[1])
    c = "MKVLAAGIVG" + "STRPQWEDC" + "AGGSKW"  # the last residue differs
    batch = encode_batch([a, c], 1000)
    f = m.termini_features(m.embed(batch.tokens), batch.mask)
    assert not torch.allclose(f[0], f[1])


@pytest.mark.parametrize(("model", "termini"), [("fast", 0), ("default", 40)])
def test_shipped_checkpoints_load_with_and_without_terminal_windows(model, termini):
    """models/fast predates terminal windows (no termini keys in its config or weights);
    models/default has them: both load strictly and predict."""
    loaded = load_model(DEFAULT_MODEL_DIR.parent / model)
    assert loaded.config.termini == termini
    assert hasattr(loaded.model, "term_conv") == (termini > 0)
    b = encode_batch(SEQS, loaded.config.max_len)
    with torch.no_grad():
        assert loaded.model(b.tokens, b.mask).logits.shape == (3, 10)


def test_one_training_step_reaches_the_terminal_head():
    m = _model().train()
    b = encode_batch(SEQS, 1000)
    loss = torch.nn.functional.cross_entropy(m(b.tokens, b.mask).logits,
                                             torch.tensor([0, 9, 5]))
    loss.backward()
    assert m.term_conv[0].weight.grad.abs().sum() > 0
    assert m.term_proj[1].weight.grad.abs().sum() > 0
    m.config.termini = 0
    with pytest.raises(ValueError, match="termini"):
        ModelConfig(termini=-1)


def test_ig_completeness_with_terminal_windows():
    m = _model(dropout=0.3)
    true = ["Nucleus", "Peroxisome", "Endoplasmic.reticulum"]
    t = explain(m, SEQS, ["A", "B", "C"], true, method="ig", target="true",
                ig=IGSettings(n_steps=64, internal_batch_size=50), batch_size=2)
    batch = encode_batch(SEQS, 1000)
    with torch.no_grad():
        x = m.embed(batch.tokens)
        f_x = m.forward_from_embedded(x, batch.mask)
        f_0 = m.forward_from_embedded(torch.zeros_like(x), batch.mask)
    for i, name in enumerate(["A", "B", "C"]):
        rows = t[t.protein == name]
        c = LOCATION_CLASSES.index(true[i])
        want = float(f_x[i, c] - f_0[i, c])
        assert rows.score.sum() == pytest.approx(want, abs=0.02 * max(1.0, abs(want)))
