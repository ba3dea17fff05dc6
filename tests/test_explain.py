"""Attributions: attention mapping and Integrated Gradients on models with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from kb.classes import LOCATION_CLASSES
from psl.data import encode_batch
from psl.errors import PslError
from psl.explain.attributions import IGSettings, explain, load_proteins, probability_columns
from psl.models.family import LocalizationModel, ModelConfig, ModelOutput

SEQS = ["MKVLAAGIVGSTRPQWEDCA", "MSKL", "MAAWTRKDEL" * 3, "PKKKRKVGGGSS"]
NAMES = ["A", "B", "C", "D"]
TRUE = ["Nucleus", "Peroxisome", "Endoplasmic.reticulum", None]


class LinearToy(nn.Module):
    """logits = sum_i W x_i over real residues (one-hot inputs): IG is exactly x_i . W[t]."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(3)
        self.table = torch.cat([torch.zeros(1, 27), torch.eye(27)[1:]])
        self.w = nn.Parameter(torch.randn(10, 27, generator=g))

    def embed(self, tokens):
        return self.table[tokens]

    def forward_from_embedded(self, x, mask, attention="learned", generator=None, preset=None):
        return (x * mask.unsqueeze(-1)).sum(1) @ self.w.T

    def forward(self, tokens, mask=None, attention="learned", generator=None, preset=None):
        mask = tokens != 0 if mask is None else mask
        logits = self.forward_from_embedded(self.embed(tokens), mask)
        att = mask.float() / mask.sum(1, keepdim=True)
        return ModelOutput(logits, att, att, mask)


def _tiny_model(**kw) -> LocalizationModel:
    torch.manual_seed(0)
    cfg = ModelConfig(**{"encoder": "cnn_bilstm", "conv_kernels": [3, 5], "conv_channels": 8,
                         "pool": 2, "hidden": 8, "attention_dim": 8, "dropout": 0.0,
                         "max_len": 1000, **kw})
    return LocalizationModel(cfg).eval()


def test_ig_on_linear_model_is_exact():
    model = LinearToy()
    t = explain(model, SEQS, NAMES, TRUE, method="ig", ig=IGSettings(n_steps=8))
    tokens = encode_batch(SEQS, 1000).tokens
    for i, name in enumerate(NAMES):
        rows = t[t.protein == name]
        tgt = LOCATION_CLASSES.index(rows.target_label.iat[0])
        want = model.w.detach()[tgt, tokens[i, : len(SEQS[i])]].numpy()
        np.testing.assert_allclose(rows.score.to_numpy(), want, rtol=1e-5, atol=1e-6)
        assert abs(rows.delta.iat[0]) < 1e-4
        # Predicted label = argmax of the logits.
        logits = model.w.detach()[:, tokens[i, : len(SEQS[i])]].sum(1)
        assert rows.predicted_label.iat[0] == LOCATION_CLASSES[int(logits.argmax())]
        assert rows.target_label.iat[0] == rows.predicted_label.iat[0]


@pytest.mark.parametrize("kw", [
    {},  # parallel convolutions: IG integrates over their pre-activations
    {"termini": 6, "termini_channels": 3, "termini_dim": 4},  # plus the terminal windows
    {"encoder": "bilstm"},  # no convolution: the stem is the masked input itself
])
@pytest.mark.parametrize("method", ["gausslegendre", "riemann_trapezoid"])
def test_ig_through_the_stem_equals_captum_on_the_input(kw, method):
    from captum.attr import IntegratedGradients

    from psl.explain.attributions import _ig_batch

    model = _tiny_model(**kw)
    batch = encode_batch(SEQS, 1000)
    targets = torch.tensor([3, 9, 1, 0])
    preset = torch.rand(batch.mask.shape, generator=torch.Generator().manual_seed(1))
    for pre in (None, preset):
        for ibs in (None, 12):  # all steps at once, and chunks of 3 steps x 4 proteins
            settings = IGSettings(n_steps=9, internal_batch_size=ibs, method=method)
            got, delta = _ig_batch(model, batch.tokens, batch.mask, targets, "learned", pre,
                                   settings)
            x = model.embed(batch.tokens).detach()
            mode = "learned" if pre is None else "preset"
            extra = (batch.mask,) if pre is None else (batch.mask, pre)

            def fwd(inp, m, *rest, mode=mode):
                return model.forward_from_embedded(inp, m, attention=mode,
                                                   preset=rest[0] if rest else None)

            want, want_delta = IntegratedGradients(fwd).attribute(
                x, baselines=torch.zeros_like(x), target=targets, additional_forward_args=extra,
                n_steps=9, method=method, return_convergence_delta=True)
            torch.testing.assert_close(got, want.sum(-1) * batch.mask, rtol=1e-4, atol=1e-6)
            torch.testing.assert_close(delta, want_delta.to(delta.dtype), rtol=1e-3,
                                       atol=1e-5)


def test_ig_completeness_on_real_model_and_true_target():
    model = _tiny_model()
    t = explain(model, SEQS[:3], NAMES[:3], TRUE[:3], method="ig", target="true",
                ig=IGSettings(n_steps=64, internal_batch_size=50), batch_size=2)
    assert (t.target_label.to_numpy() == t.true_label.to_numpy()).all()
    batch = encode_batch(SEQS[:3], 1000)
    with torch.no_grad():
        x = model.embed(batch.tokens)
        f_x = model.forward_from_embedded(x, batch.mask)
        f_0 = model.forward_from_embedded(torch.zeros_like(x), batch.mask)
    for i, name in enumerate(NAMES[:3]):
        rows = t[t.protein == name]
        c = LOCATION_CLASSES.index(TRUE[i])
        want = float(f_x[i, c] - f_0[i, c])
        assert rows.score.sum() == pytest.approx(want, abs=0.02 * max(1.0, abs(want)))
        assert rows.delta.iat[0] == pytest.approx(rows.score.sum() - want, abs=1e-4)
    with pytest.raises(PslError, match=r"^target 'true' needs a true label for every protein; "
                       r"1 have none \(first: 'D'\)$") as e:
        explain(model, SEQS, NAMES, TRUE, method="ig", target="true")
    assert e.value.param == "target"


def test_worker_processes_give_the_one_process_table():
    model = _tiny_model(max_len=12)
    seqs = SEQS + ["M" + "ACDEFGHIKLMNPQRSTVWY" + "KDEL", "MKKL" * 5] * 5  # crops, 14 proteins
    names = [f"p{i}" for i in range(len(seqs))]
    seen = []
    one = explain(model, seqs, names, method="ig", ig=IGSettings(n_steps=6))
    two = explain(model, seqs, names, method="ig", ig=IGSettings(n_steps=6), workers=2,
                  progress=seen.append)
    pd.testing.assert_frame_equal(one, two)
    assert seen[-1] == len(seqs) and seen == sorted(seen)
    with pytest.raises(PslError, match="workers > 1 needs attention") as e:
        explain(model, seqs, names, method="ig", attention="permute", workers=2)
    assert e.value.param == "workers"
    with pytest.raises(PslError, match="workers must be >= 1"):
        explain(model, seqs, names, workers=0)


def test_attention_maps_back_through_cropping():
    model = _tiny_model(max_len=10)
    long = "M" + "ACDEFGHIKLMNPQRSTVWY" + "KDEL"  # 25 residues, keeps 1..5 and 21..25
    t = explain(model, [long, "MSKL"], ["L", "S"], method="attention")
    rows = t[t.protein == "L"]
    assert rows.position.tolist() == list(range(1, 26))
    assert "".join(rows.residue) == long
    seen = rows.score.notna().to_numpy()
    assert np.flatnonzero(seen).tolist() == [0, 1, 2, 3, 4, 20, 21, 22, 23, 24]
    assert rows.score.sum() == pytest.approx(1.0, abs=1e-5)
    # Same numbers as the model's own residue attention on the cropped batch.
    batch = encode_batch([long], 10)
    with torch.no_grad():
        att = model(batch.tokens, batch.mask).attention_residue[0].numpy()
    np.testing.assert_allclose(rows.score.to_numpy()[seen], att, rtol=1e-5)
    s = t[t.protein == "S"]
    assert s.true_label.isna().all() and s.score.sum() == pytest.approx(1.0, abs=1e-5)
    assert s[probability_columns()].iloc[0].sum() == pytest.approx(1.0, abs=1e-5)


def test_batching_does_not_change_results_and_ablations_are_seeded():
    model = _tiny_model()
    a = explain(model, SEQS, NAMES, TRUE, method="ig", batch_size=1, ig=IGSettings(n_steps=10))
    b = explain(model, SEQS, NAMES, TRUE, method="ig", batch_size=4, ig=IGSettings(n_steps=10))
    np.testing.assert_allclose(a.score, b.score, rtol=1e-4, atol=1e-5)
    for mode in ("permute", "random"):
        x = explain(model, SEQS, NAMES, TRUE, attention=mode, seed=1)
        y = explain(model, SEQS, NAMES, TRUE, attention=mode, seed=1)
        np.testing.assert_array_equal(x.score, y.score)
        assert x.groupby("protein").score.sum().to_numpy() == pytest.approx(1.0, abs=1e-5)
    u = explain(model, ["MAAAAAAAAK"], ["U"], attention="uniform")
    np.testing.assert_allclose(u.score, 0.1, rtol=1e-5)
    # permute shuffles each protein's own pooled weights: with pool 2 and an even length, the
    # multiset of residue weights is the learned one.
    learned = explain(model, ["MKVLAAGIVGSTRPQWEDCA"], ["A"])
    perm = explain(model, ["MKVLAAGIVGSTRPQWEDCA"], ["A"], attention="permute", seed=1)
    np.testing.assert_allclose(np.sort(learned.score), np.sort(perm.score), rtol=1e-5)
    assert not np.allclose(learned.score, perm.score)
    # IG under an ablation holds the drawn weights fixed along the path: completeness holds.
    ig = explain(model, SEQS[:2], NAMES[:2], TRUE[:2], method="ig", attention="random",
                 ig=IGSettings(n_steps=32))
    assert ig.groupby("protein").delta.first().abs().max() < 0.05


def test_bad_arguments():
    model = _tiny_model()
    with pytest.raises(PslError, match=r"^method must be one of attention, ig, got 'lime'$") as e:
        explain(model, SEQS, NAMES, method="lime")
    assert e.value.param == "method"
    with pytest.raises(PslError, match="attention must be one of learned, uniform, permute, "
                       "random, got 'preset'") as e:
        explain(model, SEQS, NAMES, attention="preset")
    assert e.value.param == "attention"
    with pytest.raises(PslError, match="split must be one of test, train, all, got 'val'") as e:
        load_proteins(split="val")
    assert e.value.param == "split"
    with pytest.raises(PslError, match="give exactly one of fasta .* or split") as e:
        load_proteins()
    assert e.value.param == ("fasta", "split")
    with pytest.raises(ValueError, match="same length"):
        explain(model, SEQS, NAMES[:2])
    with pytest.raises(ValueError, match="unknown location"):
        explain(model, SEQS, NAMES, ["Nowhere"] * 4)
    with pytest.raises(ValueError, match="n_steps"):
        IGSettings(n_steps=0)
    with pytest.raises(ValueError, match="illegal letter"):
        explain(model, ["MK1"], ["bad"])


def test_explain_cli(tmp_path):
    from typer.testing import CliRunner

    from cli.main import psl_app
    from psl.models.checkpoint import save_model

    model_dir = save_model(tmp_path / "m", _tiny_model())
    fasta = tmp_path / "p.fasta"
    fasta.write_text(">P1 Peroxisome-U test\nMKVLAAGIVGSKL\n>P2 some protein\nMAAWTRKDEL\n")
    out = tmp_path / "ig.parquet"
    runner = CliRunner()
    res = runner.invoke(psl_app, ["explain", "--model", str(model_dir), "--fasta", str(fasta),
                                  "--method", "ig", "--n-steps", "8", "--out", str(out)])
    assert res.exit_code == 0, res.output
    import pandas as pd

    t = pd.read_parquet(out)
    assert t.groupby("protein").size().to_dict() == {"P1": 13, "P2": 10}
    assert t[t.protein == "P1"].true_label.iat[0] == "Peroxisome"
    assert t[t.protein == "P2"].true_label.isna().all()
    assert (t.method == "ig").all() and t.delta.notna().all()
    # not a terminal: plain progress lines with an ETA on stderr
    assert "ig (learned, " in res.stderr and "2/2 proteins" in res.stderr
    assert "ETA" in res.stderr
    res = runner.invoke(psl_app, ["explain", "--model", str(model_dir), "--fasta", str(fasta),
                                  "--split", "test", "--out", str(out)])
    assert res.exit_code == 2
    # the library names its parameters (fasta, split); the CLI shows the flags
    assert res.stderr.strip() == ("error: give exactly one of --fasta (a FASTA file) or --split "
                                  "(test, train or all of the DeepLoc 1.0 data)")
    res = runner.invoke(psl_app, ["explain", "--model", str(tmp_path / "nope"), "--fasta",
                                  str(fasta), "--out", str(out)])
    assert res.exit_code == 2 and "error:" in res.output and "Traceback" not in res.output
    res = runner.invoke(psl_app, ["explain", "--model", str(model_dir), "--fasta", str(fasta),
                                  "--method", "ig", "--target", "true", "--out", str(out)])
    assert res.exit_code == 2
    assert res.stderr.strip() == ("error: --target 'true' needs a true label for every protein; "
                                  "1 have none (first: 'P2')")


def test_length_batches_bound_padding():
    from psl.explain.attributions import length_batches

    lengths = np.array([100, 5, 104, 50, 111, 52, 100, 101])
    batches = length_batches(lengths, batch_size=3, max_padding=0.1)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(8))
    for b in batches:
        assert len(b) <= 3
        assert lengths[b].max() <= lengths[b].min() * 1.1
    assert [sorted(lengths[b].tolist()) for b in batches] == [
        [5], [50, 52], [100, 100, 101], [104, 111]  # 111 <= 1.1 * 104
    ]


def test_output_carries_accession_and_sequence_hash():
    import hashlib

    names = ["sp|P38175|NAME_HUMAN", "tr|A0A024R161|X_HUMAN", "P12345-2", "my_protein"]
    seqs = ["mkvlaagivg", "MSKL*", "MAAWTRKDEL", "PKKKRKVGGG"]
    t = explain(_tiny_model(), seqs, names)
    per = t.drop_duplicates("protein")
    assert per["accession"].fillna("-").tolist() == ["P38175", "A0A024R161", "P12345-2", "-"]
    want = [hashlib.md5(s.upper().rstrip("*").encode()).hexdigest() for s in seqs]
    assert per["seq_hash"].tolist() == want
    given = explain(_tiny_model(), seqs, names, accessions=["Q1", None, "", "Q4"])
    assert given.drop_duplicates("protein")["accession"].fillna("-").tolist() == [
        "Q1", "-", "-", "Q4"]


@pytest.mark.parametrize(("header_id", "want"), [
    ("sp|P38175|NAME_HUMAN", "P38175"), ("tr|A0A024R161|A0A024R161_HUMAN", "A0A024R161"),
    ("sp|P38175-2|NAME_HUMAN", "P38175-2"), ("P04439", "P04439"), ("Q9UQU7-3", "Q9UQU7-3"),
    ("A0A2Z5SLI1", "A0A2Z5SLI1"), ("my_protein", None), ("p04439", None), ("XP_0001", None),
])
def test_accession_from_id(header_id, want):
    from psl.explain.attributions import accession_from_id

    assert accession_from_id(header_id) == want


@pytest.mark.parametrize(("cores", "load", "want"), [
    (2, 0.0, 2), (2, 0.4, 2), (2, 0.6, 1), (2, 1.7, 1), (2, 12.7, 1), (16, 3.2, 13),
    (4, -1.0, 4),
])
def test_default_threads_leave_busy_cores_alone(cores, load, want):
    from psl.explain.attributions import default_threads

    assert default_threads(cores, load) == want
    assert 1 <= default_threads() <= (__import__("os").cpu_count() or 1)
