"""psl.training (trainer, evaluation), psl.models (checkpoint, inference): quick training,
determinism, round trips."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from kb.classes import LOCATION_CLASSES
from psl.data import encode_batch, load_splits
from psl.errors import CheckpointError, ConfigError
from psl.homology import sequence_sha1
from psl.models.checkpoint import load_model, save_model
from psl.models.family import LocalizationModel, ModelConfig
from psl.models.inference import predict
from psl.training.config import RunConfig, load_run_config
from psl.training.evaluation import evaluate
from psl.training.trainer import train


@pytest.fixture(scope="module")
def quick_run(repo_root, tmp_path_factory):
    run = load_run_config(repo_root / "configs" / "quick.toml")
    out = tmp_path_factory.mktemp("quick")
    metrics = train(run, out, device="cpu", n_boot=200)
    return run, out, metrics


def test_quick_training_beats_the_majority_class(quick_run):
    run, out, metrics = quick_run
    test = load_splits(run.data)["test"]
    majority = test["label"].value_counts(normalize=True).max()
    assert metrics["test"]["n"] == len(test)
    assert metrics["test"]["accuracy"] > majority + 0.05
    lines = (out / "epochs.jsonl").read_text().splitlines()
    assert len(lines) == metrics["epochs_run"]
    recs = [json.loads(x) for x in lines]
    assert recs[metrics["best_epoch"] - 1]["val_accuracy"] == max(r["val_accuracy"] for r in recs)


def test_checkpoint_round_trip_and_evaluate(quick_run):
    run, out, metrics = quick_run
    loaded = load_model(out)
    assert loaded.classes == list(LOCATION_CLASSES)
    assert loaded.config == run.model and not loaded.model.training
    assert loaded.metrics["test"]["accuracy"] == metrics["test"]["accuracy"]
    # evaluating the saved model reproduces the trainer's test score
    rep = evaluate(out, split="test", n_boot=20, device="cpu")
    assert rep["accuracy"] == pytest.approx(metrics["test"]["accuracy"])
    assert rep["confusion"] == metrics["test"]["confusion"]


def test_predict_table(quick_run):
    _, out, _ = quick_run
    loaded = load_model(out)
    seqs = ["MKTAYIAKQRQISFVKSHFSRQ" * 3, "M" + "ACDEFGHIKLMNPQRSTVWY" * 30]
    df = predict(loaded, seqs, ids=["a", "b"], top_k=3)
    assert list(df["id"]) == ["a", "b"] and list(df["length"]) == [66, 601]
    probs = df[[f"p_{c}" for c in LOCATION_CLASSES]].to_numpy()
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    assert list(df["predicted"]) == [LOCATION_CLASSES[i] for i in probs.argmax(1)]
    # top attention positions: in the original numbering, inside the kept (cropped) residues
    b = encode_batch(seqs, loaded.config)
    with torch.no_grad():
        att = loaded.model(b.tokens, b.mask).attention_residue
    for i, cell in enumerate(df["top_attention"]):
        pairs = [x.split(":") for x in cell.split(";")]
        assert len(pairs) == 3
        kept = set(b.positions[i][b.mask[i]].tolist())
        best = int(b.positions[i, int(att[i].argmax())])
        assert int(pairs[0][0]) == best and {int(p) for p, _ in pairs} <= kept


def test_seeded_training_is_deterministic(repo_root, tmp_path):
    run = load_run_config(repo_root / "configs" / "quick.toml")
    run = RunConfig(replace(run.model, hidden=8, conv_channels=8),
                    replace(run.data, subset=120), replace(run.train, epochs=2))
    a = train(run, tmp_path / "a", device="cpu", n_boot=10)
    b = train(run, tmp_path / "b", device="cpu", n_boot=10)
    sa = torch.load(tmp_path / "a" / "weights.pt", weights_only=True)
    sb = torch.load(tmp_path / "b" / "weights.pt", weights_only=True)
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert a["test"]["confusion"] == b["test"]["confusion"]
    ha = [{k: v for k, v in json.loads(x).items() if "seconds" not in k}
          for x in (tmp_path / "a" / "epochs.jsonl").read_text().splitlines()]
    hb = [{k: v for k, v in json.loads(x).items() if "seconds" not in k}
          for x in (tmp_path / "b" / "epochs.jsonl").read_text().splitlines()]
    assert ha == hb


def test_load_model_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "nope")
    with pytest.raises(CheckpointError, match="weights.pt is missing"):
        load_model(tmp_path)
    torch.manual_seed(0)
    model = LocalizationModel(ModelConfig(hidden=4, conv_channels=4, attention_dim=4))
    save_model(tmp_path / "m", model, {})
    assert load_model(tmp_path / "m").config == model.config
    meta = json.loads((tmp_path / "m" / "meta.json").read_text())
    meta["classes"] = meta["classes"][::-1]
    (tmp_path / "m" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="class list"):
        load_model(tmp_path / "m")


def test_run_config_errors(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("[model]\nhiden = 3\n")
    with pytest.raises(ValueError, match=r"c.toml: unknown \[model\] keys \['hiden'\]"):
        load_run_config(p)
    p.write_text("[train]\nselect = 'auc'\n")
    with pytest.raises(ValueError, match="select"):
        load_run_config(p)
    p.write_text("[model\n")
    with pytest.raises(ValueError, match="invalid TOML"):
        load_run_config(p)
    p.write_text("[data]\nsplit = 'cv'\n")
    with pytest.raises(ValueError, match="split"):
        load_run_config(p)


def _tiny_run(repo_root, **train_kw) -> RunConfig:
    run = load_run_config(repo_root / "configs" / "quick.toml")
    return RunConfig(replace(run.model, hidden=8, conv_channels=8),
                     replace(run.data, subset=120), replace(run.train, epochs=2, **train_kw))


def _history(out) -> list[dict]:
    return [{k: v for k, v in json.loads(x).items() if "seconds" not in k}
            for x in (out / "epochs.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("weight", [1.0, 0.5])
def test_distilling_one_hot_teacher_equals_plain_training(repo_root, tmp_path, monkeypatch,
                                                          weight):
    # KL(one-hot(y) || softmax(z)) = CE(z, y) at T = 1, so a teacher that outputs the labels
    # must reproduce plain training exactly, whatever the distillation weight.
    import psl.training.trainer as pt

    plain = _tiny_run(repo_root)
    train(plain, tmp_path / "plain", device="cpu", n_boot=5)
    labels = load_splits(plain.data)["train"]["label"].to_numpy()
    calls = []
    fake = tmp_path / "teacher"  # a checkpoint directory the stand-in below never reads
    fake.mkdir()
    for name in ("weights.pt", "config.json", "meta.json"):
        (fake / name).write_bytes(b"")

    def one_hot_teacher(teacher_dir, sequences, device, temperature, batch_size=64,
                        accessions=None):
        calls.append(teacher_dir)
        assert teacher_dir == str(fake) and temperature == 1.0
        assert len(sequences) == len(labels)
        return np.eye(len(LOCATION_CLASSES), dtype=np.float32)[labels]

    monkeypatch.setattr(pt, "teacher_probabilities", one_hot_teacher)
    distilled = _tiny_run(repo_root, teacher=str(fake), distill_weight=weight,
                          distill_temperature=1.0)
    train(distilled, tmp_path / "kd", device="cpu", n_boot=5)
    assert calls == [str(fake)]
    a, b = _history(tmp_path / "plain"), _history(tmp_path / "kd")
    for ra, rb in zip(a, b, strict=True):
        assert ra["train_loss"] == pytest.approx(rb["train_loss"], rel=1e-4)
        assert ra["val_accuracy"] == pytest.approx(rb["val_accuracy"], abs=1 / 120)


def test_teacher_table_of_one_hot_labels_equals_plain_training(repo_root, tmp_path):
    """A teacher given as a probability table (as psl predict writes one: ``id`` and
    ``p_<class>``; rows in another order, other proteins too): one-hot labels at T = 1 must
    reproduce plain training, as the checkpoint teacher does above."""
    from psl.tables_io import write_table

    plain = _tiny_run(repo_root)
    train(plain, tmp_path / "plain", device="cpu", n_boot=5)
    tr = load_splits(plain.data)["train"]
    table = pd.DataFrame(np.eye(len(LOCATION_CLASSES))[tr["label"].to_numpy()],
                         columns=[f"p_{c}" for c in LOCATION_CLASSES])
    table.insert(0, "id", tr["accession"].to_numpy())
    extra = table.iloc[:3].copy()
    extra["id"] = ["NOT_IN_TRAIN_1", "NOT_IN_TRAIN_2", "NOT_IN_TRAIN_3"]
    path = write_table(pd.concat([table.iloc[::-1], extra]), tmp_path / "teacher.csv")
    distilled = _tiny_run(repo_root, teacher=str(path), distill_weight=1.0,
                          distill_temperature=1.0)
    train(distilled, tmp_path / "kd", device="cpu", n_boot=5)
    for ra, rb in zip(_history(tmp_path / "plain"), _history(tmp_path / "kd"), strict=True):
        assert ra["train_loss"] == pytest.approx(rb["train_loss"], rel=1e-4)


def test_teacher_table_temperature_and_errors(tmp_path):
    from psl.training.trainer import table_probabilities

    cols = [f"p_{c}" for c in LOCATION_CLASSES]
    p = np.full((2, len(cols)), 0.0)
    p[0, :2] = [0.8, 0.2]  # T = 2: sqrt -> 0.894, 0.447 -> 2/3, 1/3
    p[1, 9] = 1.0
    frame = pd.DataFrame(p, columns=cols)
    frame.insert(0, "accession", ["A", "B"])
    frame.to_csv(tmp_path / "t.csv", index=False)
    got = table_probabilities(tmp_path / "t.csv", ["B", "A"], temperature=2.0)
    assert got[1, :2] == pytest.approx([2 / 3, 1 / 3], abs=1e-6)
    assert got[0, 9] == pytest.approx(1.0, abs=1e-6) and got.sum(1) == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="no row for 1 training proteins.*'C'"):
        table_probabilities(tmp_path / "t.csv", ["A", "C"])
    frame.drop(columns=cols[3]).to_csv(tmp_path / "cols.csv", index=False)
    with pytest.raises(ConfigError, match="lacks the columns"):
        table_probabilities(tmp_path / "cols.csv", ["A"])
    pd.concat([frame, frame]).to_csv(tmp_path / "dup.csv", index=False)
    with pytest.raises(ConfigError, match="twice"):
        table_probabilities(tmp_path / "dup.csv", ["A"])
    neg = frame.copy()
    neg.loc[0, cols[0]] = -1.0
    neg.to_csv(tmp_path / "neg.csv", index=False)
    with pytest.raises(ConfigError, match=">= 0"):
        table_probabilities(tmp_path / "neg.csv", ["A"])


def test_teacher_table_keyed_by_sequence_serves_a_repeated_accession(tmp_path):
    # a dataset may list one accession twice with two sequences (DeepLoc 1.0's and 2.0's):
    # a table with sha1 is looked up by sequence, so each row gets its own probabilities
    import hashlib

    from psl.training.trainer import table_probabilities

    cols = [f"p_{c}" for c in LOCATION_CLASSES]
    seqs = ["MKTAYIAK", "mktayiakq", "MKTAYIAKQ"]  # the last two are the same sequence
    sha = [hashlib.sha1(s.upper().encode()).hexdigest() for s in seqs]
    p = np.zeros((2, len(cols)))
    p[0, 3] = p[1, 5] = 1.0
    frame = pd.DataFrame(p, columns=cols)
    frame.insert(0, "sha1", sha[:2])
    frame.insert(1, "accession", ["P1", "P1"])
    frame.to_csv(tmp_path / "t.tsv", sep="\t", index=False)
    got = table_probabilities(tmp_path / "t.tsv", ["P1", "P1", "P2"], sequences=seqs)
    assert got.argmax(1).tolist() == [3, 5, 5]
    with pytest.raises(ConfigError, match="no row for 1 training proteins.*'P3'"):
        table_probabilities(tmp_path / "t.tsv", ["P1", "P3"], sequences=["MKTAYIAK", "MKW"])
    with pytest.raises(ConfigError, match="twice"):  # without sequences: by accession
        table_probabilities(tmp_path / "t.tsv", ["P1"])


def test_ema_weights_are_the_ones_validated_and_saved(repo_root, tmp_path):
    run = _tiny_run(repo_root, ema_decay=0.9)
    metrics = train(run, tmp_path / "ema", device="cpu", n_boot=5)
    train(_tiny_run(repo_root), tmp_path / "plain", device="cpu", n_boot=5)
    se = torch.load(tmp_path / "ema" / "weights.pt", weights_only=True)
    sp = torch.load(tmp_path / "plain" / "weights.pt", weights_only=True)
    assert any(not torch.equal(se[k], sp[k]) for k in se)  # same seed, different weights
    best = _history(tmp_path / "ema")[metrics["best_epoch"] - 1]
    # the saved (averaged) weights reproduce the validation accuracy logged for that epoch
    rep = evaluate(tmp_path / "ema", split="val", n_boot=5, device="cpu")
    assert rep["accuracy"] == pytest.approx(best["val_accuracy"])


def test_max_minutes_stops_after_the_epoch_that_crosses_it(repo_root, tmp_path):
    # any positive budget below one epoch's time: the first epoch crosses it
    metrics = train(_tiny_run(repo_root, max_minutes=1e-9), tmp_path / "cut", device="cpu",
                    n_boot=5)
    assert (metrics["stopped"], metrics["epochs_run"], metrics["best_epoch"]) == (
        "time_limit", 1, 1)
    assert metrics["finished"] and metrics["test"]["n"] > 0
    assert len(_history(tmp_path / "cut")) == 1
    full = train(_tiny_run(repo_root), tmp_path / "full", device="cpu", n_boot=5)
    assert (full["stopped"], full["epochs_run"]) == ("epochs", 2)
    # the cut run's only epoch is the full run's first (same seed)
    assert _history(tmp_path / "cut")[0] == {**_history(tmp_path / "full")[0], "best": True}


def test_init_starts_from_a_checkpoints_weights(repo_root, tmp_path):
    first = _tiny_run(repo_root)
    train(first, tmp_path / "first", device="cpu", n_boot=5)
    start = torch.load(tmp_path / "first" / "weights.pt", weights_only=True)
    # a step too small to move the weights: the run keeps (and validates) the checkpoint's
    cont = _tiny_run(repo_root, init=str(tmp_path / "first"), lr=1e-12, seed=1)
    train(replace(cont, train=replace(cont.train, epochs=1)), tmp_path / "cont", device="cpu",
          n_boot=5)
    got = torch.load(tmp_path / "cont" / "weights.pt", weights_only=True)
    assert all(torch.allclose(got[k].float(), start[k].float(), atol=1e-6) for k in start)
    rep = evaluate(tmp_path / "first", split="val", n_boot=5, device="cpu")
    assert _history(tmp_path / "cont")[0]["val_accuracy"] == pytest.approx(rep["accuracy"])
    # the checkpoint's training proteins are in these weights too: training_set.tsv lists
    # them (a different data subset here, so some are new)
    other_data = replace(cont, data=replace(cont.data, seed=5),
                         train=replace(cont.train, epochs=1))
    train(other_data, tmp_path / "cont5", device="cpu", n_boot=5)
    mine = pd.read_csv(tmp_path / "cont5" / "training_set.tsv", sep="\t", dtype=str,
                       keep_default_na=False)
    before = pd.read_csv(tmp_path / "first" / "training_set.tsv", sep="\t", dtype=str,
                         keep_default_na=False)
    first_train = set(before.loc[before["split"] == "train", "sha1"])
    own_train = set(load_splits(other_data.data)["train"]["sequence"].map(sequence_sha1))
    assert first_train - own_train  # the subsets differ
    listed = mine.loc[mine["split"] == "train"]
    assert set(listed["sha1"]) == own_train | first_train
    assert listed["sha1"].is_unique
    inherited = listed[~listed["sha1"].isin(own_train)]
    assert all(x.startswith(f"init {tmp_path / 'first'}: ") for x in inherited["source"])
    # without init, the same seed starts elsewhere
    fresh = _tiny_run(repo_root, lr=1e-12, seed=1)
    train(replace(fresh, train=replace(fresh.train, epochs=1)), tmp_path / "fresh",
          device="cpu", n_boot=5)
    other = torch.load(tmp_path / "fresh" / "weights.pt", weights_only=True)
    assert any(not torch.allclose(other[k].float(), start[k].float()) for k in start)
    wider = RunConfig(replace(first.model, hidden=16), first.data,
                      replace(first.train, init=str(tmp_path / "first")))
    with pytest.raises(ConfigError, match="different \\[model\\].*hidden"):
        train(wider, tmp_path / "wider", device="cpu", n_boot=5)
    with pytest.raises(ConfigError, match="output directory"):
        train(cont, tmp_path / "first", device="cpu", n_boot=5)


@pytest.mark.parametrize("table, message", [
    ("label_smoothing = 1.0", "label_smoothing"),
    ("ema_decay = -0.1", "ema_decay"),
    ("distill_temperature = 0", "distill_temperature"),
    ("teacher = 'a'\npreset_model = 'b'", "cannot be combined"),
    ("max_minutes = -1", "max_minutes"),
])
def test_train_option_errors(tmp_path, table, message):
    p = tmp_path / "c.toml"
    p.write_text(f"[train]\n{table}\n")
    with pytest.raises(ValueError, match=message):
        load_run_config(p)


def test_every_shipped_run_config_loads(repo_root):
    paths = sorted((repo_root / "configs").glob("*.toml")) + sorted(
        (repo_root / "configs" / "distill").glob("*.toml"))
    runs = {p.relative_to(repo_root / "configs").as_posix(): load_run_config(p) for p in paths
            if p.name != "hitrates.toml"}
    assert "default.toml" in runs and len(runs) >= 6
    # the distillation recipe: members and student share the data split and the input space;
    # the members (one ensemble) also share their pooling, which the student need not
    members = [r for name, r in runs.items() if name.startswith("distill/")]
    student = runs["default.toml"]
    # the student's table holds the members' official split, plus pseudo-labelled training
    # proteins (scripts/pseudo_label_dataset.py)
    from psl.data import load_splits

    theirs = load_splits(members[0].data)
    mine = load_splits(student.data)
    for split in ("val", "test"):
        assert mine[split]["sequence"].tolist() == theirs[split]["sequence"].tolist()
    n = len(theirs["train"])
    assert mine["train"]["sequence"].iloc[:n].tolist() == theirs["train"]["sequence"].tolist()
    assert mine["train"]["source"].iloc[n:].str.startswith("pseudo-label").all()
    for m in members:
        assert m.data == members[0].data
        assert (m.model.encoding, m.model.max_len, m.model.pool) == (
            student.model.encoding, student.model.max_len, members[0].model.pool)
    # the teacher configs/default.toml names is models/ensemble (shipped, its members listed
    # in configs/distill/) + the wide GPU members of scripts/gpu_teachers.sh;
    # scripts/train_default.sh assembles it (or its rebuilt copy) and distills it
    script = (repo_root / "scripts" / "train_default.sh").read_text()
    assert student.train.teacher == "runs/gpu/teacher8"
    assert f"TEACHER=${{TEACHER:-{student.train.teacher}}}" in script
    assert '--teacher "$TEACHER"' in script and "CPU_TEACHER=models/ensemble" in script
    wide = runs["distill/gpu_wide_termini.toml"]
    gpu_script = (repo_root / "scripts" / "gpu_teachers.sh").read_text()
    assert "configs/distill/gpu_wide_termini.toml" in gpu_script
    assert "for s in 0 1 2 3" in gpu_script and "WIDE=(runs/gpu/wide_s0 runs/gpu/wide_s1 " \
        "runs/gpu/wide_s2 runs/gpu/wide_s3)" in script
    assert (wide.model.encoding, wide.model.max_len) == (student.model.encoding,
                                                         student.model.max_len)
    assert wide.model.pool == members[0].model.pool  # one ensemble with models/ensemble
    teacher = json.loads((repo_root / "models" / "ensemble" / "config.json").read_text())
    names = ("member_h64_short", "member_h64", "member_h128", "member_h64_ema")
    assert len(teacher["members"]) == len(names)
    for name, shipped in zip(names, teacher["members"], strict=True):
        assert f"{name} " in script
        cfg = runs[f"distill/{name}.toml"].model
        assert {k: getattr(cfg, k) for k in shipped} == shipped


@pytest.mark.parametrize("key", ["teacher", "init", "preset_model"])
def test_a_missing_checkpoint_in_the_config_is_refused_before_anything_is_written(
        repo_root, tmp_path, key):
    run = load_run_config(repo_root / "configs" / "quick.toml")
    run.train = replace(run.train, **{key: str(tmp_path / "no_such_run")})
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=rf"\[train\] {key}: .*no_such_run: model "
                                         "directory not found"):
        train(run, out, device="cpu")
    assert not out.exists()
    # a directory that is no checkpoint: the same, naming the missing file
    (tmp_path / "no_such_run").mkdir()
    with pytest.raises(ValueError, match=rf"\[train\] {key}: .*weights.pt is missing"):
        train(run, out, device="cpu")
    assert not out.exists()
