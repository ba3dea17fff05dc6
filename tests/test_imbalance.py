"""Class imbalance: weights and losses against hand computation and torch, the balanced
sampler's class shares over a seeded epoch, and one training run with every option."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from psl.data import EncodedSet
from psl.errors import ConfigError
from psl.training.config import TrainConfig
from psl.training.imbalance import (
    class_weights,
    focal_loss,
    make_loss,
    soft_cross_entropy,
    training_batches,
)


def test_class_weights_by_hand():
    y = np.array([0, 0, 0, 0, 1])  # counts 4, 1; class 2 absent
    w = class_weights(y, 3, "inv_sqrt")
    # raw 1/sqrt(4) = 0.5, 1/sqrt(1) = 1; mean over proteins (4*0.5 + 1) / 5 = 0.6
    np.testing.assert_allclose(w, [0.5 / 0.6, 1 / 0.6, 0.0])
    np.testing.assert_allclose(class_weights(y, 3, "inverse"), [0.25 / 0.4, 1 / 0.4, 0.0])
    np.testing.assert_allclose(class_weights(y, 3, "none"), [1, 1, 1])
    with pytest.raises(ValueError, match="class_weights"):
        class_weights(y, 3, "log")


def test_weighted_cross_entropy_by_hand_and_torch():
    z = torch.tensor([[2.0, 0.0, -1.0], [0.5, 1.5, 0.0], [0.0, 0.0, 3.0], [1.0, -1.0, 0.0]])
    y = torch.tensor([0, 1, 2, 1])
    train_labels = np.array([0] * 9 + [1] * 4 + [2])
    w = class_weights(train_labels, 3, "inv_sqrt")
    loss = make_loss(train_labels, 3, "inv_sqrt")(z, y)
    # by hand: l_i = -log softmax(z_i)[y_i]; sum w_{y_i} l_i / sum w_{y_i}
    ls = [math.log(sum(math.exp(v) for v in row)) - row[t] for row, t in
          zip(z.tolist(), y.tolist(), strict=True)]
    ws = [w[t] for t in y.tolist()]
    want = sum(a * b for a, b in zip(ws, ls, strict=True)) / sum(ws)
    assert float(loss) == pytest.approx(want, rel=1e-6)
    assert float(loss) == pytest.approx(float(F.cross_entropy(
        z, y, weight=torch.tensor(w, dtype=torch.float32))), rel=1e-6)


def test_focal_loss_gamma_zero_is_cross_entropy_and_gamma_two_by_hand():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(16, 10, generator=g)
    y = torch.randint(0, 10, (16,), generator=g)
    w = torch.rand(10, generator=g) + 0.5
    assert float(focal_loss(z, y, 0.0)) == pytest.approx(float(F.cross_entropy(z, y)), rel=1e-6)
    assert float(focal_loss(z, y, 0.0, w)) == pytest.approx(
        float(F.cross_entropy(z, y, weight=w)), rel=1e-6)
    p = torch.softmax(z, 1)[torch.arange(16), y]
    want = float((-(1 - p) ** 2 * torch.log(p)).mean())
    assert float(focal_loss(z, y, 2.0)) == pytest.approx(want, rel=1e-6)
    assert float(make_loss(y.numpy(), 10, "none", 2.0)(z, y)) == pytest.approx(want, rel=1e-6)


def test_balanced_sampler_draws_classes_uniformly():
    rng = np.random.default_rng(0)
    labels = np.array([0] * 600 + [1] * 60 + [2] * 6)
    seqs = ["".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), rng.integers(5, 40)))
            for _ in labels]
    data = EncodedSet(seqs, labels.tolist(), 100)
    drawn = []
    for idx, batch, lab in training_batches(data, 32, "balanced", seed=7):
        assert (lab.numpy() == labels[idx]).all()
        assert batch.tokens.shape[0] == len(idx) <= 32
        drawn.append(idx)
    drawn = np.concatenate(drawn)
    assert len(drawn) == len(labels)  # one epoch = as many draws as proteins
    shares = np.bincount(labels[drawn], minlength=3) / len(drawn)
    np.testing.assert_allclose(shares, [1 / 3] * 3, atol=0.06)
    # seeded: same seed, same epoch; another seed, another epoch
    again = np.concatenate([i for i, _, _ in training_batches(data, 32, "balanced", seed=7)])
    other = np.concatenate([i for i, _, _ in training_batches(data, 32, "balanced", seed=8)])
    assert (again == drawn).all() and not (other == drawn).all()
    # shuffle: every protein exactly once
    once = np.concatenate([i for i, _, _ in training_batches(data, 32, "shuffle", seed=7)])
    assert sorted(once.tolist()) == list(range(len(labels)))


@pytest.mark.parametrize("table, message", [
    ({"class_weights": "log"}, "class_weights"),
    ({"sampler": "oversample"}, "sampler"),
    ({"calibrate": "platt"}, "calibrate"),
    ({"focal_gamma": -1.0}, "focal_gamma"),
    ({"focal_gamma": 2.0, "label_smoothing": 0.1}, "label_smoothing"),
])
def test_train_config_rejects_bad_imbalance_options(table, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**table)


def test_soft_cross_entropy_by_hand_and_against_torch():
    torch.manual_seed(0)
    z = torch.randn(6, 10)
    y = torch.tensor([0, 3, 3, 8, 9, 1])
    onehot = F.one_hot(y, 10).float()
    w = torch.rand(10) + 0.1
    for weight, ls in ((None, 0.0), (w, 0.0), (w, 0.1)):
        torch.testing.assert_close(soft_cross_entropy(z, onehot, weight, ls),
                                   F.cross_entropy(z, y, weight=weight, label_smoothing=ls))
    # two classes, half an example of each (weighted by each class's weight)
    q = torch.zeros(2, 10)
    q[0, [2, 5]] = 0.5
    q[1, 7] = 1.0
    logp = F.log_softmax(z[:2], dim=1)
    num = -(0.5 * w[2] * logp[0, 2] + 0.5 * w[5] * logp[0, 5] + w[7] * logp[1, 7])
    torch.testing.assert_close(soft_cross_entropy(z[:2], q, w),
                               num / (0.5 * w[2] + 0.5 * w[5] + w[7]))
    torch.testing.assert_close(soft_cross_entropy(z[:2], q),
                               -((logp[0, 2] + logp[0, 5]) / 2 + logp[1, 7]) / 2)


def test_class_weights_and_loss_from_soft_targets():
    y = np.array([0, 0, 0, 1, 2, 2])
    q = np.eye(3)[y]
    np.testing.assert_allclose(class_weights(q, 3, "inv_sqrt"), class_weights(y, 3, "inv_sqrt"))
    q2 = np.vstack([q, [[0, 0.5, 0.5]]])  # counts 3, 1.5, 2.5
    w = 1 / np.sqrt([3, 1.5, 2.5])
    np.testing.assert_allclose(class_weights(q2, 3, "inv_sqrt"), w * 7 / (w * [3, 1.5, 2.5]).sum())
    loss = make_loss(q2, 3, "inv_sqrt")
    z = torch.zeros(1, 3)
    assert math.isclose(float(loss(z, torch.tensor([[0, 0.5, 0.5]]))), math.log(3), rel_tol=1e-6)
    with pytest.raises(ValueError, match="soft"):
        make_loss(q2, 3, "none", gamma=2.0)


def test_one_tiny_run_with_every_new_option(repo_root, tmp_path):
    from psl.models.checkpoint import load_model
    from psl.training.config import RunConfig, load_run_config
    from psl.training.trainer import train

    run = load_run_config(repo_root / "configs" / "quick.toml")
    run = RunConfig(replace(run.model, hidden=8, conv_channels=8, termini=12),
                    replace(run.data, subset=80),
                    replace(run.train, epochs=1, class_weights="inv_sqrt", focal_gamma=1.0,
                            sampler="balanced", calibrate="temperature+offsets"))
    metrics = train(run, tmp_path / "run", device="cpu", n_boot=10)
    cal = metrics["calibration"]
    assert cal["temperature"] > 0
    # the offsets are kept exactly when their cross-validation on validation says they help
    cv = cal["offsets_cv"]
    assert cal["offsets_kept"] == (cv["macro_f1_with"] > cv["macro_f1_without"])
    loaded = load_model(tmp_path / "run")
    assert loaded.config.termini == 12
    if cal["offsets_kept"]:
        assert len(cal["offsets"]) == 10 and set(metrics["calibrated"]) == {"val", "test"}
        assert loaded.calibration.offsets is not None
    else:
        assert cal["offsets"] is None and "calibrated" not in metrics
        assert loaded.calibration.offsets is None
    tset = (tmp_path / "run" / "training_set.tsv").read_text().splitlines()
    assert tset[0] == "accession\tsource\tsha1\tsplit" and len(tset) == 1 + 3 * 80


def test_tiny_run_on_a_dataset_with_multilabel_training_proteins(repo_root, tmp_path):
    """A dataset table whose training split has multi-label proteins trains with soft targets
    (the run lists them in training_set.tsv); the focal loss is refused for it."""
    import pandas as pd

    from psl.data import DataConfig, read_deeploc
    from psl.sources import write_dataset
    from psl.training.config import RunConfig, load_run_config
    from psl.training.trainer import _load_data, train

    dl1 = read_deeploc()
    train_df = dl1[~dl1.is_test & (dl1.label >= 0)].sample(40, random_state=0)
    dual = dl1[dl1.label < 0].head(6).assign(location="Cytoplasm|Nucleus", label=1)
    splits = {"train": pd.concat([train_df, dual]),
              "val": dl1[~dl1.is_test & (dl1.label >= 0)].drop(train_df.index).head(20),
              "test": dl1[dl1.is_test].head(20)}
    table = tmp_path / "ds.tsv"
    write_dataset(splits, table)
    run = load_run_config(repo_root / "configs" / "quick.toml")
    run = RunConfig(replace(run.model, hidden=8, conv_channels=8),
                    DataConfig(dataset=str(table)),
                    replace(run.train, epochs=1, class_weights="inv_sqrt"))
    data = _load_data(run, torch.device("cpu"))
    assert data.targets is not None and data.targets.shape == (46, 10)
    np.testing.assert_allclose(data.targets[-1][[1, 0]], [0.5, 0.5])
    metrics = train(run, tmp_path / "run", device="cpu", n_boot=10)
    assert metrics["n_train"] == 46 and metrics["n_val"] == 20
    tset = pd.read_csv(tmp_path / "run" / "training_set.tsv", sep="\t")
    assert set(dual.accession) <= set(tset[tset.split == "train"].accession)
    run_focal = RunConfig(run.model, run.data, replace(run.train, focal_gamma=2.0))
    with pytest.raises(ConfigError, match="soft"):
        train(run_focal, tmp_path / "run2", device="cpu", n_boot=10)
