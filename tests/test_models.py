"""psl.models.family: masking, batch invariance, attention modes and ablations, residue mapping."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from kb.alphabet import AMINO_ACIDS
from psl.data import encode_batch
from psl.models.family import LocalizationModel, ModelConfig, masked_softmax

VARIANTS = {
    "bilstm": dict(encoder="bilstm", pool=1),
    "cnn_pool3": dict(encoder="cnn_bilstm", conv_kernels=[3, 5], pool=3),
    "mlp": dict(encoder="mlp", pool=1),
    "mlp_pool2_learned_emb": dict(encoder="mlp", pool=2, encoding="learned"),
    "bilstm_onehot_2layers": dict(encoder="bilstm", encoding="onehot", lstm_layers=2),
}


def make_model(seed: int = 0, **kw) -> LocalizationModel:
    torch.manual_seed(seed)
    cfg = dict(hidden=8, attention_dim=6, conv_channels=5, max_len=60, dropout=0.2)
    cfg.update(kw)
    return LocalizationModel(ModelConfig(**cfg)).eval()


def random_seqs(n: int, lo: int, hi: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list(AMINO_ACIDS + "X"), rng.integers(lo, hi))) for _ in range(n)]


@pytest.mark.parametrize("name", list(VARIANTS))
def test_padding_and_batch_composition_do_not_change_a_protein(name):
    # Regression test for the research code's bug (softmax across the proteins of a batch).
    model = make_model(**VARIANTS[name])
    seqs = random_seqs(6, 4, 90, seed=1)  # some longer than max_len=60: cropped
    cfg = model.config
    with torch.no_grad():
        batch = encode_batch(seqs, cfg)
        together = model(batch.tokens, batch.mask)
        for i, s in enumerate(seqs):
            alone_b = encode_batch([s], cfg)
            alone = model(alone_b.tokens, alone_b.mask)
            n = int(alone_b.lengths[0])
            torch.testing.assert_close(alone.logits[0], together.logits[i], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(alone.attention_residue[0, :n],
                                       together.attention_residue[i, :n], atol=1e-6, rtol=1e-5)
            # the same protein with a different partner and extra padding
            pair = encode_batch([seqs[(i + 1) % len(seqs)], s, "M" * 60], cfg)
            other = model(pair.tokens, pair.mask)
            torch.testing.assert_close(other.logits[1], alone.logits[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", list(VARIANTS))
@pytest.mark.parametrize("mode", ["learned", "uniform", "permute", "random"])
def test_attention_sums_to_one_on_real_positions_and_zero_on_pads(name, mode):
    model = make_model(**VARIANTS[name])
    b = encode_batch(random_seqs(5, 3, 70, seed=2), model.config)
    with torch.no_grad():
        out = model(b.tokens, b.mask, attention=mode, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out.attention_residue.sum(1), torch.ones(5))
    assert (out.attention_residue[~b.mask] == 0).all()
    assert (out.attention_residue >= 0).all()
    torch.testing.assert_close(out.attention_raw.sum(1), torch.ones(5))
    assert (out.attention_raw[~out.model_mask] == 0).all()


def test_pooled_attention_maps_back_to_residue_windows():
    model = make_model(encoder="cnn_bilstm", conv_kernels=[3], pool=4)
    seqs = random_seqs(4, 5, 30, seed=3)
    b = encode_batch(seqs, model.config)
    with torch.no_grad():
        out = model(b.tokens, b.mask)
    for i in range(len(seqs)):
        n = int(b.lengths[i])
        n_windows = -(-n // 4)
        assert int(out.model_mask[i].sum()) == n_windows
        for w in range(n_windows):
            residues = range(4 * w, min(4 * w + 4, n))
            vals = out.attention_residue[i, list(residues)]
            # spread evenly over the real residues of the window, summing to its weight
            torch.testing.assert_close(vals.sum(), out.attention_raw[i, w])
            torch.testing.assert_close(vals, vals[0].expand_as(vals))


def test_ablations_change_only_the_attention():
    model = make_model(encoder="cnn_bilstm", conv_kernels=[3, 5], pool=2)
    b = encode_batch(random_seqs(6, 10, 60, seed=4), model.config)
    with torch.no_grad():
        h, pmask = model.encode(model.embed(b.tokens), b.mask)
        outs = {m: model(b.tokens, b.mask, attention=m,
                         generator=torch.Generator().manual_seed(5))
                for m in ("learned", "uniform", "permute", "random")}
        for mode, out in outs.items():
            # logits are the same dense layer on the same hidden states, only alpha differs
            expected = model.dense((out.attention_raw.unsqueeze(-1) * h).sum(1))
            torch.testing.assert_close(out.logits, expected, msg=mode)
            assert torch.equal(out.model_mask, pmask)
    learned = outs["learned"].attention_raw
    n = pmask.sum(1)
    for i in range(6):
        k = int(n[i])
        # uniform = 1/n; permute = the same multiset of weights, in another order
        torch.testing.assert_close(outs["uniform"].attention_raw[i, :k], torch.full((k,), 1 / k))
        torch.testing.assert_close(outs["permute"].attention_raw[i, :k].sort().values,
                                   learned[i, :k].sort().values)
    assert not torch.equal(outs["permute"].attention_raw, learned)
    assert not torch.allclose(outs["random"].attention_raw, learned)


def test_random_attention_is_seeded_and_not_near_uniform():
    model = make_model(encoder="bilstm", max_len=400)
    b = encode_batch(random_seqs(8, 300, 400, seed=6), model.config)

    def run(seed):
        with torch.no_grad():
            return model(b.tokens, b.mask, attention="random",
                         generator=torch.Generator().manual_seed(seed)).attention_raw

    a, a2, c = run(1), run(1), run(2)
    assert torch.equal(a, a2) and not torch.allclose(a, c)
    # logits N(0, 2^2): the largest weight is far above uniform 1/n (near-uniform noise is not)
    n = b.lengths.float()
    assert (a.max(1).values * n > 10).all()


def test_preset_attention_is_used_as_given():
    for pool in (1, 3):
        model = make_model(encoder="mlp", pool=pool, attention="uniform")
        b = encode_batch(random_seqs(3, 5, 20, seed=7), model.config)
        g = torch.Generator().manual_seed(0)
        preset = torch.rand(b.tokens.shape, generator=g) * b.mask
        preset = preset / preset.sum(1, keepdim=True)
        with torch.no_grad():
            out = model(b.tokens, b.mask, attention="preset", preset=preset)
        for i in range(3):
            n = int(b.lengths[i])
            windows = [preset[i, w:min(w + pool, n)].sum() for w in range(0, n, pool)]
            torch.testing.assert_close(out.attention_raw[i, : len(windows)],
                                       torch.stack(windows))
        if pool == 1:
            torch.testing.assert_close(out.attention_residue, preset)
    with pytest.raises(ValueError, match="preset"):
        model(b.tokens, b.mask, attention="preset")
    with pytest.raises(ValueError, match="unknown attention mode"):
        model(b.tokens, b.mask, attention="soft")


def test_forward_from_embedded_matches_and_is_differentiable_in_eval():
    model = make_model(encoder="cnn_bilstm", conv_kernels=[3], pool=2)
    b = encode_batch(random_seqs(3, 5, 40, seed=8), model.config)
    x = model.embed(b.tokens).detach().requires_grad_(True)
    logits = model.forward_from_embedded(x, b.mask)
    torch.testing.assert_close(logits, model(b.tokens, b.mask).logits)
    logits[:, 2].sum().backward()
    assert x.grad is not None and x.grad[b.mask].abs().sum() > 0
    # values placed on pads (e.g. an IG baseline) cannot leak into the output
    x2 = x.detach().clone()
    x2[~b.mask] = 7.0
    torch.testing.assert_close(model.forward_from_embedded(x2, b.mask), logits.detach())


@pytest.mark.parametrize("pool", [1, 3, 4])
def test_unpadded_batches_take_a_shorter_path_with_the_same_values_and_gradients(pool):
    """A batch without padding (one protein; Integrated Gradients' steps) skips masking and
    packing and max-pools before the ReLU: logits and input gradients equal those of the
    same protein in a padded batch (the general path), lengths not divisible by the pool."""
    model = make_model(encoder="cnn_bilstm", conv_kernels=[3, 5], pool=pool, termini=4)
    for n in (7, 31, 58):
        s = random_seqs(1, n, n + 1, seed=n)[0]
        padded = encode_batch([s, "M" * 60], model.config)
        alone = encode_batch([s], model.config)
        assert bool(alone.mask.all()) and not bool(padded.mask[0].all())
        xa = model.embed(alone.tokens).detach().requires_grad_(True)
        xp = model.embed(padded.tokens).detach().requires_grad_(True)
        la = model.forward_from_embedded(xa, alone.mask)
        lp = model.forward_from_embedded(xp, padded.mask)
        torch.testing.assert_close(la[0], lp[0], atol=1e-5, rtol=1e-5)
        for c in (0, 4):
            (ga,) = torch.autograd.grad(la[0, c], xa, retain_graph=True)
            (gp,) = torch.autograd.grad(lp[0, c], xp, retain_graph=True)
            torch.testing.assert_close(ga[0], gp[0, : len(s)], atol=1e-5, rtol=1e-4)


def test_seeded_initialisation_and_train_mode_dropout():
    a = make_model(seed=3, encoder="bilstm")
    b = make_model(seed=3, encoder="bilstm")
    c = make_model(seed=4, encoder="bilstm")
    for (ka, va), (_, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(va, vb), ka
    assert any(not torch.equal(va, vc) for va, vc in
               zip(a.state_dict().values(), c.state_dict().values(), strict=True))


def test_masked_softmax_matches_a_plain_loop():
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(4, 7, generator=g)
    mask = torch.arange(7)[None, :] < torch.tensor([[7], [3], [1], [5]])
    got = masked_softmax(scores, mask)
    for i in range(4):
        n = int(mask[i].sum())
        e = [math.exp(float(v)) for v in scores[i, :n]]
        ref = [v / sum(e) for v in e] + [0.0] * (7 - n)
        np.testing.assert_allclose(got[i].numpy(), ref, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        (dict(encoder="gru"), "encoder"),
        (dict(conv_kernels=[4]), "odd"),
        (dict(pool=0), "pool"),
        (dict(encoding="pssm"), "encoding"),
        (dict(attention="max"), "attention"),
        (dict(dropout=1.0), "dropout"),
    ],
)
def test_config_validation(kw, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(**kw)
    with pytest.raises(ValueError, match="unknown"):
        ModelConfig.from_dict({"hiden": 3})
