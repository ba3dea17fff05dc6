"""psl train / evaluate / predict / experiment table1, in-process with CliRunner."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import psl_app
from kb.classes import LOCATION_CLASSES
from psl.data import read_deeploc
from psl.models.checkpoint import DEFAULT_MODEL_DIR

runner = CliRunner()


@pytest.fixture(scope="module")
def trained(repo_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "quick"
    res = runner.invoke(psl_app, ["train", "--config", str(repo_root / "configs" / "quick.toml"),
                                  "--out", str(out), "--device", "cpu", "--epochs", "2",
                                  "--no-progress"])
    assert res.exit_code == 0, res.output
    return out, res.output


@pytest.fixture(scope="module")
def fasta_file(tmp_path_factory):
    df = read_deeploc()
    df = df[df.is_test & (df.label >= 0)].head(12)
    p = tmp_path_factory.mktemp("fa") / "proteins.fasta"
    p.write_text("".join(f">{a} {loc}-{sol} test\n{s}\n" for a, loc, sol, s in
                         zip(df.accession, df.location, df.solubility, df.sequence, strict=True)))
    return p, df


def test_train_prints_one_json_line_per_epoch(trained):
    out, output = trained
    lines = [json.loads(x) for x in output.strip().splitlines() if x.startswith("{")]
    assert [r["epoch"] for r in lines[:-1]] == [1, 2]
    assert {"train_loss", "val_accuracy", "val_macro_f1"} <= set(lines[0])
    assert lines[-1]["out"] == str(out)
    assert (out / "weights.pt").is_file() and (out / "metrics.json").is_file()


def test_predict_writes_table(trained, fasta_file, tmp_path):
    out, _ = trained
    fa, df = fasta_file
    tsv = tmp_path / "pred.tsv"
    res = runner.invoke(psl_app, ["predict", str(fa), "--model", str(out), "--out", str(tsv),
                                  "--top-k", "2"])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(tsv, sep="\t")
    assert list(table["id"]) == list(df.accession)
    assert set(table["predicted"]) <= set(LOCATION_CLASSES)
    assert all(len(c.split(";")) == 2 for c in table["top_attention"])
    res = runner.invoke(psl_app, ["predict", str(fa), "--model", str(out)])
    assert res.exit_code == 0 and res.output.startswith("id\tlength\tpredicted")


@pytest.mark.skipif(not (DEFAULT_MODEL_DIR / "weights.pt").is_file(),
                    reason="the default model is not shipped in this checkout")
def test_predict_works_out_of_the_box_with_the_default_model(fasta_file):
    fa, df = fasta_file
    res = runner.invoke(psl_app, ["predict", str(fa)])
    assert res.exit_code == 0, res.output
    rows = res.stdout.strip().splitlines()
    assert len(rows) == 1 + len(df)
    # the shipped model has a homology transfer: the nearest reference comes with each row
    assert "nearest references: 12/12 proteins" in res.stderr
    assert rows[0].split("\t")[-6:] == ["network_predicted", "nearest_reference",
                                        "nearest_location", "nearest_score", "nearest_identity",
                                        "nearest_is_homolog"]
    # the shipped model is good: most of these official test proteins come out right
    pred = [r.split("\t")[2] for r in rows[1:]]
    assert sum(p == t for p, t in zip(pred, df.location, strict=True)) >= len(df) // 2


def test_evaluate_json_and_files(trained, fasta_file, tmp_path):
    out, _ = trained
    res = runner.invoke(psl_app, ["evaluate", "--model", str(out), "--json", "--n-boot", "20",
                                  "--out", str(tmp_path / "ev")])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output)
    assert rep["source"] == "official split, test" and len(rep["per_class"]) == 10
    assert rep["ci95"]["accuracy"][0] <= rep["accuracy"] <= rep["ci95"]["accuracy"][1]
    for f in ("metrics.json", "confusion.csv", "confusion.png"):
        assert (tmp_path / "ev" / f).is_file()
    csv = (tmp_path / "ev" / "confusion.csv").read_text().splitlines()
    assert len(csv) == 11 and sum(sum(map(int, r.split(",")[1:])) for r in csv[1:]) == rep["n"]
    fa, df = fasta_file
    res = runner.invoke(psl_app, ["evaluate", "--model", str(out), "--fasta", str(fa),
                                  "--attention", "permute", "--n-boot", "10"])
    assert res.exit_code == 0, res.output
    assert f"n={len(df)}, attention=permute" in res.output
    # the same proteins as a user's CSV (one multi-label row more, skipped): the same scores
    csv = tmp_path / "mine.csv"
    rows = [f"{a},{s},{loc}\n" for a, s, loc in zip(df.accession, df.sequence, df.location,
                                                    strict=True)]
    csv.write_text("accession,sequence,label\n" + "".join(rows)
                   + "X1,MKVLAAGKDEL,Nucleus|Cytoplasm\n")
    a = json.loads(runner.invoke(psl_app, ["evaluate", "--model", str(out), "--fasta", str(fa),
                                           "--json", "--n-boot", "10"]).output)
    res = runner.invoke(psl_app, ["evaluate", "--model", str(out), "--fasta", str(csv),
                                  "--json", "--n-boot", "10"])
    assert res.exit_code == 0, res.output
    b = json.loads(res.output)
    assert (b["n"], b["accuracy"], b["per_class"]) == (a["n"], a["accuracy"], a["per_class"])
    # a directory (e.g. a knowledge base) is no labelled file: refused, not read as one
    res = runner.invoke(psl_app, ["evaluate", "--model", str(out), "--fasta", str(tmp_path)])
    assert res.exit_code == 2 and "got a directory" in res.output, res.output
    assert "Traceback" not in res.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty FASTA file"),
        (">P1 a protein\n", "record 'P1' has no sequence"),
        (">P1\nMKV\n>P2\nMKV1LL\n", "line 4: invalid letter '1' at sequence position 4"),
        ("MKVLL\n", "not FASTA"),
    ],
)
def test_predict_rejects_bad_fasta(trained, tmp_path, content, message):
    out, _ = trained
    fa = tmp_path / "bad.fasta"
    fa.write_text(content)
    res = runner.invoke(psl_app, ["predict", str(fa), "--model", str(out)])
    assert res.exit_code == 2
    assert res.output.startswith("error: ") and message in res.output
    assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["predict", "missing.fasta"], "missing.fasta"),
        (["evaluate", "--model", "no/such/dir"], "model directory not found"),
        (["train", "--config", "no.toml", "--out", "x"], "no.toml"),
    ],
)
def test_user_errors_exit_2(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(psl_app, args)
    assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output


def test_evaluate_rejects_bad_options(trained):
    out, _ = trained
    res = runner.invoke(psl_app, ["evaluate", "--model", str(out), "--split", "train"])
    assert res.exit_code == 2 and "'train' is not one of 'test', 'val'" in res.output
    res = runner.invoke(psl_app, ["evaluate", "--model", str(out), "--attention", "preset"])
    assert res.exit_code == 2 and "'--attention'" in res.output  # not among the choices


def test_train_rejects_bad_config(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[model]\nencoder = 'transformer'\n")
    res = runner.invoke(psl_app, ["train", "--config", str(cfg), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "encoder must be one of" in res.output


@pytest.mark.slow
def test_table1_quick(tmp_path):
    res = runner.invoke(psl_app, ["experiment", "table1", "--quick", "--out", str(tmp_path),
                                  "--device", "cpu", "--no-progress"])
    assert res.exit_code == 0, res.output
    md = (tmp_path / "table1.md").read_text()
    data = json.loads((tmp_path / "table1.json").read_text())
    names = [r["name"] for r in data["results"]]
    assert names == ["bilstm_att", "bilstm_uniform", "mlp_uniform", "mlp_trained", "mlp_preset",
                     "cnn_small", "cnn_small_att", "cnn_large", "cnn_large_att"]
    assert "| BiLSTM + attention | 0.673 | 0.568 |" in md
    abl = {r["name"]: r["ablations"] for r in data["results"] if r["ablations"]}
    assert set(abl) == {"bilstm_att", "mlp_trained", "cnn_small_att", "cnn_large_att"}
    assert all(set(a) == {"learned", "uniform", "permute", "random"} for a in abl.values())
    # the pre-set MLP was trained with the BiLSTM's attention: its run records the teacher
    cfg = json.loads((tmp_path / "runs" / "mlp_preset" / "config.json").read_text())
    assert cfg["train"]["preset_model"].endswith("bilstm_att")


def test_help_explains_options():
    for cmd in (["train"], ["evaluate"], ["predict"], ["experiment", "table1"]):
        res = runner.invoke(psl_app, [*cmd, "--help"])
        assert res.exit_code == 0 and "--" in res.output


@pytest.mark.slow
def test_table1_only_runs_variants_separately_then_collects(tmp_path):
    base = ["experiment", "table1", "--quick", "--out", str(tmp_path), "--device", "cpu",
            "--no-progress"]
    # the pre-set MLP needs its attention source: refused before anything is trained
    res = runner.invoke(psl_app, [*base, "--only", "mlp_preset"])
    assert res.exit_code == 2 and "run 'bilstm_att' first" in res.output
    res = runner.invoke(psl_app, [*base, "--only", "nope"])
    assert res.exit_code == 2 and "unknown variant(s) ['nope']" in res.output
    res = runner.invoke(psl_app, [*base, "--profile", "gpu"])
    assert res.exit_code == 2 and "cannot be combined" in res.output
    res = runner.invoke(psl_app, [*base[:2], "--profile", "nope", *base[3:]])
    assert res.exit_code == 2 and "no profile [nope]" in res.output and "'gpu'" in res.output

    res = runner.invoke(psl_app, [*base, "--only", "bilstm_att", "--only", "mlp_uniform"])
    assert res.exit_code == 0, res.output
    # a run of another config (here: another time budget) is not a source for the pre-set MLP
    res = runner.invoke(psl_app, [*base, "--only", "mlp_preset", "--max-minutes", "5"])
    assert res.exit_code == 2 and "no finished run of it" in res.output
    budget = tmp_path / "budget"
    for only in ("bilstm_att", "mlp_preset"):  # the same budget in both calls: accepted
        res = runner.invoke(psl_app, [*base[:4], str(budget), *base[5:], "--only", only,
                                      "--max-minutes", "5"])
        assert res.exit_code == 0, res.output
    cfg = json.loads((budget / "runs" / "mlp_preset" / "config.json").read_text())
    assert cfg["train"]["max_minutes"] == 5 and cfg["train"]["preset_model"].endswith(
        "bilstm_att")
    data = json.loads((tmp_path / "table1.json").read_text())
    assert [r["name"] for r in data["results"]] == ["bilstm_att", "mlp_uniform"]
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["bilstm_att", "mlp_uniform"]
    stamp = (tmp_path / "runs" / "bilstm_att" / "weights.pt").stat().st_mtime_ns
    res = runner.invoke(psl_app, [*base, "--only", "mlp_preset", "--only", "bilstm_att"])
    assert res.exit_code == 0, res.output
    assert "bilstm_att: reusing the finished run" in res.output
    assert (tmp_path / "runs" / "bilstm_att" / "weights.pt").stat().st_mtime_ns == stamp
    data = json.loads((tmp_path / "table1.json").read_text())
    # rows keep the experiment's order, whatever the order of --only
    assert [r["name"] for r in data["results"]] == ["bilstm_att", "mlp_preset"]
    assert data["results"][0]["ablations"]["learned"]["accuracy"] == \
        data["results"][0]["test"]["accuracy"]


def test_table1_profiles_override_base_and_keep_variant_keys():
    from psl.experiments.table1 import load_experiment

    plain = {v["name"]: v["run"] for v in load_experiment()}
    gpu = {v["name"]: v["run"] for v in load_experiment(profile="gpu")}
    assert list(plain) == list(gpu)
    for name, run in gpu.items():
        # the [gpu] table of configs/table1/table1.toml
        assert (run.model.max_len, run.model.hidden, run.train.epochs,
                run.train.batch_size) == (1000, 128, 12, 64)
        # what the variant sets survives the profile
        assert (run.model.encoder, run.model.attention, run.model.conv_kernels) == (
            plain[name].model.encoder, plain[name].model.attention,
            plain[name].model.conv_kernels)
        assert plain[name].model.max_len == 400
    quick = load_experiment(quick=True)
    assert quick[0]["run"].data.subset == 160 and quick[0]["run"].model.max_len == 100
