"""Calibration: ECE against hand-computed values and a plain loop, temperature scaling on
synthetic logits with a known temperature, logit offsets against a brute-force grid search,
and calibration.json applied by predict / evaluate."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from psl.errors import CheckpointError
from psl.metrics import expected_calibration_error
from psl.models.calibration import (
    Calibration,
    fit_logit_offsets,
    fit_temperature,
    load_calibration,
    save_calibration,
    softmax,
)


def test_ece_hand_computed():
    # confidences 0.9 (right), 0.58 (wrong), 0.7 (right), 0.55 (right); 15 bins of 1/15:
    # 0.9 -> (13/15, 14/15], 0.7 -> (10/15, 11/15], 0.58 and 0.55 -> (8/15, 9/15]
    # ECE = 1/4 * |1 - 0.9| + 1/4 * |1 - 0.7| + 2/4 * |0.5 - (0.58 + 0.55) / 2| = 0.1325
    p = np.array([[0.9, 0.1], [0.58, 0.42], [0.3, 0.7], [0.55, 0.45]])
    y = np.array([0, 1, 1, 0])
    assert expected_calibration_error(p, y) == pytest.approx(0.1325, abs=1e-12)
    # one bin: |accuracy - mean confidence| = |0.75 - 0.6825|
    assert expected_calibration_error(p, y, n_bins=1) == pytest.approx(0.0675, abs=1e-12)


def test_ece_matches_a_plain_loop():
    rng = np.random.default_rng(1)
    p = softmax(rng.normal(size=(500, 10)) * 2)
    y = rng.integers(0, 10, 500)
    total = 0.0
    for b in range(15):
        lo, hi = b / 15, (b + 1) / 15
        inside = [i for i in range(500) if (lo < p[i].max() <= hi) or (b == 0 and p[i].max() == 0)]
        if inside:
            acc = np.mean([p[i].argmax() == y[i] for i in inside])
            conf = np.mean([p[i].max() for i in inside])
            total += len(inside) / 500 * abs(acc - conf)
    assert expected_calibration_error(p, y) == pytest.approx(total, abs=1e-12)
    with pytest.raises(ValueError):
        expected_calibration_error(p, y[:10])


def test_temperature_scaling_recovers_a_known_temperature():
    rng = np.random.default_rng(0)
    t_true = 2.5
    z = rng.normal(size=(20000, 10)) * 4
    probs = softmax(z / t_true)
    y = (probs.cumsum(1) > rng.random((len(z), 1))).argmax(1)  # labels ~ softmax(z / T)
    t = fit_temperature(z, y)
    assert t == pytest.approx(t_true, rel=0.04)
    # and it is the NLL minimum on a fine grid (independent 1-D search)
    grid = np.linspace(1.5, 3.5, 401)
    nll = [-np.log(softmax(z / g)[np.arange(len(y)), y]).mean() for g in grid]
    assert t == pytest.approx(grid[int(np.argmin(nll))], abs=0.01)
    # temperature scaling lowers the ECE of the over-confident raw logits
    assert expected_calibration_error(softmax(z / t), y) < expected_calibration_error(
        softmax(z), y)


def test_logit_offsets_equal_a_brute_force_grid_search_with_two_classes():
    from psl.metrics import macro_f1

    rng = np.random.default_rng(2)
    y = (rng.random(300) < 0.15).astype(int)
    z = np.stack([np.zeros(300), rng.normal(size=300) + 1.2 * y - 1.0], 1)
    grid = np.linspace(-3, 3, 25)
    b = fit_logit_offsets(z, y, grid=grid)
    scores = [macro_f1(y, (z + [0, g]).argmax(1), 2) for g in grid]
    best = max(scores)
    assert b[0] == 0.0
    assert macro_f1(y, (z + b).argmax(1), 2) == pytest.approx(best)
    # among the best, the offset closest to 0
    assert abs(b[1]) == min(abs(g) for g, s in zip(grid, scores, strict=True) if s == best)


def test_calibration_apply_file_round_trip(tmp_path):
    z = np.random.default_rng(3).normal(size=(7, 4))
    cal = Calibration(1.7, [0.0, 0.5, -0.25, 1.0], {"fitted_on": "val"})
    np.testing.assert_allclose(cal.probabilities(z), softmax(z / 1.7 + cal.offsets))
    np.testing.assert_allclose(cal.recalibrate_probabilities(softmax(z)), cal.probabilities(z))
    save_calibration(tmp_path, cal)
    back = load_calibration(tmp_path)
    assert (back.temperature, back.offsets, back.info) == (1.7, cal.offsets, {"fitted_on": "val"})
    assert load_calibration(tmp_path / "nothing").is_identity
    (tmp_path / "calibration.json").write_text(json.dumps({"temperature": -1}))
    with pytest.raises(CheckpointError, match="temperature"):
        load_calibration(tmp_path)
    with pytest.raises(ValueError):
        Calibration(0.0)


def test_calibrate_checkpoint_then_predict_and_evaluate_use_it(repo_root, tmp_path):
    from typer.testing import CliRunner

    from cli.main import psl_app
    from psl.models.checkpoint import load_model, save_model
    from psl.models.family import LocalizationModel, ModelConfig
    from psl.models.inference import predict
    from psl.training.calibrate import calibrate
    from psl.training.config import load_run_config

    run = load_run_config(repo_root / "configs" / "quick.toml")
    run = replace(run, data=replace(run.data, subset=60))
    torch.manual_seed(0)
    model = LocalizationModel(ModelConfig(hidden=8, conv_channels=8, conv_kernels=[3]))
    with torch.no_grad():
        model.dense.weight.mul_(40.0)  # over-confident on purpose
    ckpt = save_model(tmp_path / "m", model, run.to_dict())
    raw = predict(load_model(ckpt), ["MKVLAAGIVGSKL", "MAAWTRKDEL"])
    cal = calibrate(ckpt, "temperature", device="cpu")
    assert cal.temperature != 1.0 and cal.info["n"] == 60
    assert cal.info["nll_after"] <= cal.info["nll_before"]
    loaded = load_model(ckpt)
    assert loaded.calibration.temperature == cal.temperature
    out = predict(loaded, ["MKVLAAGIVGSKL", "MAAWTRKDEL"])
    cols = [c for c in out.columns if c.startswith("p_")]
    np.testing.assert_allclose(
        out[cols].to_numpy(), cal.recalibrate_probabilities(raw[cols].to_numpy()), atol=1e-5)
    assert (out.predicted == raw.predicted).all()  # a temperature never changes the class
    res = CliRunner().invoke(psl_app, ["evaluate", "--model", str(ckpt), "--split", "val",
                                       "--n-boot", "10", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert "ECE (15 bins) raw" in res.output and f"T = {cal.temperature:.3f}" in res.output
    # new weights saved into the directory invalidate the old calibration
    save_model(ckpt, model, run.to_dict())
    assert load_model(ckpt).calibration.is_identity


def test_explain_cli_prints_temperature_scaled_probabilities(tmp_path):
    import pandas as pd
    from typer.testing import CliRunner

    from cli.main import psl_app
    from psl.explain.attributions import probability_columns
    from psl.models.checkpoint import save_model
    from psl.models.family import LocalizationModel, ModelConfig

    torch.manual_seed(1)
    ckpt = save_model(tmp_path / "m", LocalizationModel(
        ModelConfig(hidden=8, conv_channels=8, conv_kernels=[3])))
    fasta = tmp_path / "p.fasta"
    fasta.write_text(">sp|P12345|X_HUMAN Desc OS=Homo sapiens OX=9606\nMKVLAAGIVGSKL\n"
                     ">P2 Peroxisome-U\nMAAWTRKDEL\n")
    runner = CliRunner()
    args = ["explain", "--model", str(ckpt), "--fasta", str(fasta), "--method", "attention"]
    assert runner.invoke(psl_app, args + ["--out", str(tmp_path / "raw.tsv")]).exit_code == 0
    save_calibration(ckpt, Calibration(0.5))
    res = runner.invoke(psl_app, args + ["--out", str(tmp_path / "cal.tsv")])
    assert res.exit_code == 0, res.output
    raw = pd.read_csv(tmp_path / "raw.tsv", sep="\t").groupby("protein").first()
    cal = pd.read_csv(tmp_path / "cal.tsv", sep="\t").groupby("protein").first()
    cols = probability_columns()
    want = Calibration(0.5).recalibrate_probabilities(raw[cols].to_numpy())
    np.testing.assert_allclose(cal[cols].to_numpy(), want, atol=2e-4)
    np.testing.assert_allclose(cal["confidence"], want.max(1), atol=2e-4)
    assert (cal["predicted_label"] == raw["predicted_label"]).all()


def test_offsets_are_kept_only_when_they_raise_held_out_macro_f1():
    from psl.training.calibrate import fit_calibration, offsets_cross_validated

    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 800)
    z = rng.normal(0, 1, (800, 4)) + 3.0 * np.eye(4)[y]
    # a class the logits systematically under-score: an offset found on four folds fixes it
    # on the fifth too
    biased = z.copy()
    biased[:, 2] -= 4.0
    cv = offsets_cross_validated(biased, y)
    assert cv["macro_f1_with"] > cv["macro_f1_without"] + 0.1
    cal = fit_calibration(biased, y, offsets=True)
    assert cal.info["offsets_kept"] and cal.offsets is not None and cal.offsets[2] > 2.0
    assert cal.info["macro_f1_after"] > cal.info["macro_f1_before"]
    # argmax already right for every protein: no offset can raise held-out macro-F1 above
    # 1.0, so none is kept (a temperature only)
    perfect = np.eye(4)[y] * 5.0
    cal = fit_calibration(perfect, y, offsets=True)
    assert cal.info["offsets_cv"]["macro_f1_without"] == 1.0
    assert not cal.info["offsets_kept"] and cal.offsets is None
    # out-of-fold predictions: with the offsets of a hand-made split, the pooled score is
    # what five separate fits give (a plain loop over the same stratified folds)
    from psl.metrics import macro_f1
    fold = np.zeros(len(y), dtype=np.int64)
    r = np.random.default_rng(0)
    for c in np.unique(y):
        idx = r.permutation(np.flatnonzero(y == c))
        fold[idx] = np.arange(len(idx)) % 5
    offs = {f: np.asarray(fit_logit_offsets(biased[fold != f], y[fold != f])) for f in range(5)}
    pred = np.array([int(np.argmax(biased[i] + offs[fold[i]])) for i in range(len(y))])
    assert cv["macro_f1_with"] == pytest.approx(macro_f1(y, pred, 4))


def test_network_probabilities_are_the_calibrated_softmax_and_predicts_columns(tmp_path):
    from psl.data import EncodedSet
    from psl.models import network_probabilities
    from psl.models.checkpoint import load_model, save_model
    from psl.models.family import LocalizationModel, ModelConfig
    from psl.models.inference import infer, predict

    torch.manual_seed(3)
    ckpt = save_model(tmp_path / "m", LocalizationModel(
        ModelConfig(hidden=8, conv_channels=8, conv_kernels=[3])))
    offsets = [0.3, -0.2, 0.0, 0.1, -0.4, 0.5, 0.0, -0.1, 0.2, 0.0]
    save_calibration(ckpt, Calibration(0.7, offsets))
    loaded = load_model(ckpt)
    seqs = ["MKVLAAGIVGSKL", "MAAWTRKDEL", "MSTNPKPQRKTKRNTNRRPQDVKFPGG" * 3]
    got = network_probabilities(loaded, seqs, batch_size=2)
    # oracle: one protein per batch (no padding), then softmax(z / T + b) by hand
    z = np.stack([infer(loaded.model, EncodedSet([s], None, loaded.config.max_len),
                        batch_size=1).logits[0] for s in seqs]).astype(np.float64)
    z = z / 0.7 + np.asarray(offsets)
    want = np.exp(z - z.max(1, keepdims=True))
    want /= want.sum(1, keepdims=True)
    np.testing.assert_allclose(got, want, atol=1e-5)
    table = predict(loaded, seqs, homology=False)
    np.testing.assert_allclose(
        table[[f"p_{c}" for c in loaded.classes]].to_numpy(), got, atol=1e-4)
