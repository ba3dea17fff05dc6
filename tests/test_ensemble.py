"""psl.models.ensemble and psl.training.ensemble: mean of member probabilities/attention,
checkpoints, assemble and the CLI."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from cli.main import psl_app
from psl.data import encode_batch, load_splits
from psl.explain.attributions import IGSettings, explain
from psl.models.checkpoint import load_model, save_model
from psl.models.ensemble import ModelEnsemble
from psl.models.family import LocalizationModel, ModelConfig
from psl.training.config import load_run_config
from psl.training.ensemble import assemble
from psl.training.trainer import train

SEQS = ["MKTAYIAKQRQISFVKSHFSRQ" * 3, "MLSRAVCGTSRQLAPVLGYLGSRQKHSLPD" * 9, "ACDEFGHIKW"]


def tiny(seed: int, **kw) -> LocalizationModel:
    torch.manual_seed(seed)
    args = dict(conv_kernels=[3, 5], conv_channels=8, hidden=8, attention_dim=8, max_len=120)
    cfg = ModelConfig(**{**args, **kw})
    return LocalizationModel(cfg).eval()


@pytest.fixture()
def members() -> list[LocalizationModel]:
    return [tiny(0), tiny(1), tiny(2, hidden=12)]


def test_output_is_the_mean_of_member_probabilities_and_attention(members):
    ens = ModelEnsemble(members).eval()
    b = encode_batch(SEQS, members[0].config)
    with torch.no_grad():
        outs = [m(b.tokens, b.mask) for m in members]
        got = ens(b.tokens, b.mask)
    # plain-loop oracle, one protein and one member at a time
    for i in range(len(SEQS)):
        p = np.mean([torch.softmax(o.logits[i], -1).numpy() for o in outs], axis=0)
        np.testing.assert_allclose(torch.softmax(got.logits[i], -1).numpy(), p, rtol=1e-5)
        a = np.mean([o.attention_residue[i].numpy() for o in outs], axis=0)
        np.testing.assert_allclose(got.attention_residue[i].numpy(), a, rtol=1e-5, atol=1e-8)
    # still a distribution over each protein's real residues, 0 on pads
    att = got.attention_residue
    np.testing.assert_allclose(att.sum(1).numpy(), 1.0, rtol=1e-5)
    assert float(att[~b.mask].abs().sum()) == 0.0


def test_padding_does_not_change_an_ensembles_output(members):
    ens = ModelEnsemble(members).eval()
    alone = encode_batch([SEQS[2]], members[0].config)
    together = encode_batch(SEQS, members[0].config)
    with torch.no_grad():
        a = ens(alone.tokens, alone.mask).logits[0]
        b = ens(together.tokens, together.mask).logits[2]
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_members_must_share_inputs_and_positions():
    with pytest.raises(ValueError, match="at least two"):
        ModelEnsemble([tiny(0)])
    with pytest.raises(ValueError, match=r"differs from member 0 in \['pool'\]"):
        ModelEnsemble([tiny(0), tiny(1, pool=2)])
    with pytest.raises(ValueError, match="learned embedding"):
        ModelEnsemble([tiny(0, encoding="learned"), tiny(1, encoding="learned")])


def test_checkpoint_round_trip(members, tmp_path):
    ens = ModelEnsemble(members).eval()
    save_model(tmp_path / "ens", ens, {"data": {"split": "official"}}, {"note": 1})
    loaded = load_model(tmp_path / "ens")
    assert isinstance(loaded.model, ModelEnsemble) and loaded.model.n_members == 3
    assert json.loads((tmp_path / "ens" / "meta.json").read_text())["members"] == 3
    assert [m.config.hidden for m in loaded.model.members] == [8, 8, 12]
    b = encode_batch(SEQS, loaded.config)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(b.tokens, b.mask).logits,
                                   ens(b.tokens, b.mask).logits)
    # a single model saved over it drops the member list again
    save_model(tmp_path / "ens", members[0])
    assert isinstance(load_model(tmp_path / "ens").model, LocalizationModel)


def test_integrated_gradients_on_an_ensemble_are_complete(members):
    ens = ModelEnsemble(members).eval()
    t = explain(ens, SEQS[:2], ["a", "b"], method="ig", ig=IGSettings(n_steps=64))
    b = encode_batch(SEQS[:2], ens.config)
    with torch.no_grad():
        x = ens.embed(b.tokens)
        f_x = ens.forward_from_embedded(x, b.mask)
        f_0 = ens.forward_from_embedded(torch.zeros_like(x), b.mask)
    for i, name in enumerate(["a", "b"]):
        rows = t[t.protein == name]
        c = int(f_x[i].argmax())
        # completeness: attributions add up to log p(x) - log p(baseline) of the target class
        want = float(f_x[i, c] - f_0[i, c])
        assert rows.score.sum() == pytest.approx(want, abs=0.02 * max(1.0, abs(want)))


@pytest.fixture(scope="module")
def two_quick_runs(repo_root, tmp_path_factory):
    run = load_run_config(repo_root / "configs" / "quick.toml")
    run.train = replace(run.train, epochs=2)
    dirs = []
    for seed in (0, 1):
        out = tmp_path_factory.mktemp(f"quick_seed{seed}")
        train(replace(run, train=replace(run.train, seed=seed)), out, device="cpu", n_boot=20)
        dirs.append(out)
    return run, dirs


@pytest.mark.slow
def test_assemble_scores_the_mean_of_member_probabilities(two_quick_runs, tmp_path):
    run, dirs = two_quick_runs
    metrics = assemble(dirs, tmp_path / "ens", device="cpu", n_boot=20)
    assert metrics["finished"] and metrics["n_members"] == 2
    assert [m["seed"] for m in metrics["members"]] == [0, 1]
    saved = json.loads((tmp_path / "ens" / "metrics.json").read_text())
    assert saved["test"]["accuracy"] == metrics["test"]["accuracy"]
    # oracle: each member run on its own, one protein at a time, probabilities averaged
    test = load_splits(run.data)["test"]
    members = [load_model(d) for d in dirs]
    correct = 0
    for seq, label in zip(test["sequence"], test["label"], strict=True):
        with torch.no_grad():
            p = sum(torch.softmax(m.model(encode_batch([seq], m.config).tokens).logits[0], -1)
                    for m in members)
        correct += int(int(p.argmax()) == label)
    assert metrics["test"]["accuracy"] == pytest.approx(correct / len(test))
    # an ensemble given as a member contributes its members one by one: ens (2 members) +
    # member 0 again = 3 models of equal weight; oracle: the plain mean of the three
    nested = assemble([tmp_path / "ens", dirs[0]], tmp_path / "x", device="cpu", n_boot=10)
    assert nested["n_members"] == 3 and len(nested["members"]) == 3
    assert nested["members"][0]["path"] == f"{tmp_path / 'ens'} (member 0: {dirs[0]})"
    assert [m["seed"] for m in nested["members"]] == [0, 1, 0]
    flat = load_model(tmp_path / "x")
    b = encode_batch(list(test["sequence"][:5]), flat.config)
    with torch.no_grad():
        got = torch.softmax(flat.model(b.tokens, b.mask).logits, -1)
        want = sum(torch.softmax(members[i].model(b.tokens, b.mask).logits, -1)
                   for i in (0, 1, 0)) / 3
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_cli_ensemble(two_quick_runs, tmp_path):
    run, dirs = two_quick_runs
    runner = CliRunner()
    res = runner.invoke(psl_app, ["ensemble", str(dirs[0]), str(dirs[1]), "--out",
                                  str(tmp_path / "e"), "--n-boot", "10", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    assert summary["n_members"] == 2 and 0.0 < summary["test_accuracy"] <= 1.0
    # members trained on another split are refused with a one-line error
    other = load_model(dirs[1])
    save_model(tmp_path / "other", other.model,
               {**other.run_config, "data": {**other.run_config["data"], "seed": 7}})
    res = runner.invoke(psl_app, ["ensemble", str(dirs[0]), str(tmp_path / "other"), "--out",
                                  str(tmp_path / "e2"), "--device", "cpu"])
    assert res.exit_code == 2 and "different [data] split" in res.output
    assert "no training_set.tsv" in res.output
    # another [data] table, but the same validation and test proteins (training_set.tsv):
    # accepted, and scored on the first member's split
    shutil.copytree(dirs[1], tmp_path / "same_held_out")
    cfg = json.loads((tmp_path / "same_held_out" / "config.json").read_text())
    cfg["data"]["multilabel"] = "soft"  # what a table with multi-label training proteins says
    (tmp_path / "same_held_out" / "config.json").write_text(json.dumps(cfg))
    res = runner.invoke(psl_app, ["ensemble", str(dirs[0]), str(tmp_path / "same_held_out"),
                                  "--out", str(tmp_path / "e4"), "--n-boot", "10",
                                  "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output.strip().splitlines()[-1]) == summary | {
        "out": str(tmp_path / "e4")}
    # a checkpoint written before some [data] keys existed (missing keys = their defaults)
    # and without training_set.tsv: the same split, accepted
    shutil.copytree(dirs[1], tmp_path / "old_format")
    cfg = json.loads((tmp_path / "old_format" / "config.json").read_text())
    cfg["data"] = {k: cfg["data"][k] for k in ("split", "seed", "subset")}
    (tmp_path / "old_format" / "config.json").write_text(json.dumps(cfg))
    (tmp_path / "old_format" / "training_set.tsv").unlink()
    res = runner.invoke(psl_app, ["ensemble", str(dirs[0]), str(tmp_path / "old_format"),
                                  "--out", str(tmp_path / "e6"), "--n-boot", "10",
                                  "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output.strip().splitlines()[-1])["test_accuracy"] == summary[
        "test_accuracy"]
    # one validation protein moved to train: refused
    ts = pd.read_csv(tmp_path / "same_held_out" / "training_set.tsv", sep="\t")
    ts.loc[ts.index[ts["split"] == "val"][0], "split"] = "train"
    ts.to_csv(tmp_path / "same_held_out" / "training_set.tsv", sep="\t", index=False)
    res = runner.invoke(psl_app, ["ensemble", str(dirs[0]), str(tmp_path / "same_held_out"),
                                  "--out", str(tmp_path / "e5"), "--device", "cpu"])
    assert res.exit_code == 2 and "different validation or test proteins" in res.output
    res = runner.invoke(psl_app, ["ensemble", str(dirs[0]), "--out", str(tmp_path / "e3")])
    assert res.exit_code == 2 and "at least two" in res.output


def test_shipped_ensemble_loads_and_agrees_with_its_members(repo_root):
    loaded = load_model(repo_root / "models" / "ensemble")
    assert isinstance(loaded.model, ModelEnsemble) and loaded.model.n_members == 4
    assert [m["seed"] for m in loaded.metrics["members"]] == [0, 1, 0, 2]
    b = encode_batch(SEQS, loaded.config)
    with torch.no_grad():
        got = torch.softmax(loaded.model(b.tokens, b.mask).logits, -1)
        want = torch.stack([torch.softmax(m(b.tokens, b.mask).logits, -1)
                            for m in loaded.model.members]).mean(0)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
