"""Data sources: labelled tables/FASTA/knowledge bases, the multi-label rule, homology
exclusion inside the splits, dataset tables and the psl dataset command."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from kb.classes import LOCATION_CLASSES
from kb.errors import InputFormatError
from psl.data import DataConfig, load_splits, read_deeploc, read_source, source_splits
from psl.errors import ConfigError, PslError
from psl.homology import sequence_sha1
from psl.sources import (
    read_dataset,
    read_kb,
    read_labelled,
    target_distribution,
    write_dataset,
)

AA = list("ACDEFGHIKLMNPQRSTVWY")


def _rand(rng, n):
    return "".join(rng.choice(AA, n))


def test_read_labelled_table_multilabel_rules(tmp_path):
    p = tmp_path / "dl2.csv"
    p.write_text("accession,sequence,label,partition\n"
                 "P1,MKVLAAG,Nucleus,0\nP2,MSKLPPP,Cytoplasm|Nucleus,1\n"
                 "P3,MAAWTRKDEL,Endoplasmic reticulum,2\nP4,MKKKRKV,Nucleus|Nucleus,0\n")
    df, counts = read_labelled(p)
    assert df.accession.tolist() == ["P1", "P3", "P4"]
    assert df.location.tolist() == ["Nucleus", "Endoplasmic.reticulum", "Nucleus"]
    assert df.label.tolist() == [LOCATION_CLASSES.index(c) for c in df.location]
    assert counts == {"read": 4, "unlabelled": 0, "multilabel": 1, "multilabel_kept_first": 0,
                      "multilabel_kept_soft": 0, "kept": 3}
    df, counts = read_labelled(p, "first")
    assert df.set_index("accession").location["P2"] == "Cytoplasm"
    assert counts["multilabel_kept_first"] == 1
    df, counts = read_labelled(p, "soft")
    assert df.location.tolist() == ["Nucleus", "Cytoplasm|Nucleus", "Endoplasmic.reticulum",
                                    "Nucleus"]
    assert df.label.tolist() == [0, 1, 5, 0] and counts["multilabel_kept_soft"] == 1
    with pytest.raises(PslError, match="multilabel"):
        read_labelled(p, "all")


def test_read_labelled_says_why_nothing_is_labelled(tmp_path):
    p = tmp_path / "mine.csv"
    p.write_text("Entry,Sequence,Subcellular location\nP1,MKVLAAG,Nucleus\n")
    with pytest.raises(PslError, match="mine.csv.*none of its proteins has a location"):
        read_labelled(p)
    p.write_text("accession,sequence,label\nP1,MKVLAAG,Nucleus|Cytoplasm\n")
    with pytest.raises(PslError, match="all 1 labelled proteins have several.*'soft'"):
        read_labelled(p)
    assert read_labelled(p, "soft")[0].location.tolist() == ["Nucleus|Cytoplasm"]


def test_target_distribution_by_hand():
    assert target_distribution(["Nucleus", "Plastid"]) is None
    q = target_distribution(["Nucleus", "Cytoplasm|Nucleus", "Golgi.apparatus|Nucleus|Cytoplasm"])
    want = np.zeros((3, 10), dtype=np.float32)
    want[0, 0] = 1
    want[1, [1, 0]] = 0.5
    want[2, [7, 0, 1]] = 1 / 3
    np.testing.assert_allclose(q, want, rtol=1e-6)
    with pytest.raises(ValueError):
        target_distribution(["Nucleus|Cytosol"])


def test_soft_multilabel_splits_keep_the_single_label_splits(tmp_path):
    """multilabel = "soft": the single-label train/val/test equal those of "drop"; multi-label
    proteins are training proteins only, a single-label copy of the same sequence wins, and
    one identical to a test protein is removed like any other."""
    rng = np.random.default_rng(5)
    test_seqs = [_rand(rng, 100) for _ in range(2)]
    test = tmp_path / "test.fasta"
    _write_fasta(test, [(f"T{i}", "Nucleus", s, True) for i, s in enumerate(test_seqs)])
    rows = [(f"S{i}", LOCATION_CLASSES[i % 3], _rand(rng, 80)) for i in range(30)]
    rows += [("M1", "Lysosome/Vacuole|Cell membrane", _rand(rng, 70)),
             ("M2", "Golgi apparatus|Nucleus", rows[4][2]),        # same sequence as S4
             ("M3", "Peroxisome|Cytoplasm", test_seqs[0]),         # identical to a test protein
             ("M4", "Golgi apparatus|Lysosome/Vacuole", _rand(rng, 90))]
    rng.shuffle(rows)
    csv = tmp_path / "dl2.csv"
    pd.DataFrame(rows, columns=["accession", "label", "sequence"]).to_csv(csv, index=False)
    drop = DataConfig(sources=[str(csv)], test_set=str(test), val_fraction=0.2, seed=1,
                      exclude_homologs=False)
    soft = DataConfig(sources=[str(csv)], test_set=str(test), val_fraction=0.2, seed=1,
                      exclude_homologs=False, multilabel="soft")
    a, _ = source_splits(drop)
    b, rep = source_splits(soft)
    for k in ("val", "test"):
        assert b[k].accession.tolist() == a[k].accession.tolist()
    n = len(a["train"])
    assert b["train"].accession.tolist()[:n] == a["train"].accession.tolist()
    assert sorted(b["train"].accession.tolist()[n:]) == ["M1", "M4"]
    loc = b["train"].set_index("accession").location
    assert loc["M1"] == "Lysosome/Vacuole|Cell.membrane" and loc["S4"] == rows_loc(rows, "S4")
    assert rep["multilabel_in_train"] == 2
    assert rep["multilabel_removed"] == {"identical_or_homologous": 1}
    # the dataset table keeps the classes; multi-label proteins outside train are refused
    table = tmp_path / "ds.tsv"
    write_dataset(b, table)
    back = read_dataset(table)
    assert back["train"].location.tolist() == b["train"].location.tolist()
    assert back["train"].label.tolist() == b["train"].label.tolist()
    raw = pd.read_csv(table, sep="\t")
    i = int(np.flatnonzero(raw.split.eq("val"))[0])
    raw.loc[i, "location"] = "Nucleus|Cytoplasm"
    raw.to_csv(table, sep="\t", index=False)
    with pytest.raises(InputFormatError, match=f"line {i + 2}.*only training"):
        read_dataset(table)


def rows_loc(rows, acc):
    return next(loc for a, loc, _ in rows if a == acc)


def test_deeploc_dual_label_proteins_join_training_as_soft(tmp_path):
    rng = np.random.default_rng(2)
    fasta = tmp_path / "dl1.fasta"
    recs = [(f"A{i}", LOCATION_CLASSES[i % 2], _rand(rng, 60), False) for i in range(20)]
    recs += [("D1", "Cytoplasm-Nucleus", _rand(rng, 60), False)]
    recs += [("T1", "Nucleus", _rand(rng, 60), True)]
    _write_fasta(fasta, recs)
    cfg = dict(sources=[str(fasta)], test_set=str(fasta), exclude_homologs=False, seed=0)
    drop, _ = source_splits(DataConfig(**cfg))
    soft, _ = source_splits(DataConfig(**cfg, multilabel="soft"))
    assert "D1" not in set(drop["train"].accession)
    assert soft["train"].accession.tolist() == drop["train"].accession.tolist() + ["D1"]
    assert soft["train"].location.iat[-1] == "Cytoplasm|Nucleus"


def test_read_source_parts_of_a_deeploc_fasta_and_other_files(tmp_path):
    rng = np.random.default_rng(3)
    fasta = tmp_path / "dl1.fasta"
    recs = [(f"A{i}", LOCATION_CLASSES[i % 3], _rand(rng, 40), i % 4 == 0) for i in range(12)]
    recs += [("D1", "Cytoplasm-Nucleus", _rand(rng, 40), False)]
    _write_fasta(fasta, recs)
    by_hand = {  # accessions each part should hold, from the records themselves
        "all": [a for a, _, _, _ in recs[:-1]],
        "train": [a for a, _, _, t in recs[:-1] if not t],
        "test": [a for a, _, _, t in recs[:-1] if t],
    }
    for part, accs in by_hand.items():
        df, counts = read_source(fasta, "drop", part=part)
        assert df.accession.tolist() == accs
        assert counts == {"read": 13, "multilabel": int(part != "test"), "kept": len(accs)}
    soft, _ = read_source(fasta, "soft", part="train")
    assert soft.accession.tolist() == by_hand["train"] + ["D1"]
    assert soft.location.iat[-1] == "Cytoplasm|Nucleus"
    assert soft.label.iat[-1] == LOCATION_CLASSES.index("Cytoplasm")
    # Any other labelled file is read whole, whatever the part.
    csv = tmp_path / "x.csv"
    csv.write_text("accession,sequence,label\nQ1,MKVLA,Nucleus\nQ2,MKSKL,Cytoplasm|Nucleus\n")
    for part in ("all", "test"):
        assert read_source(csv, "drop", part=part)[0].accession.tolist() == ["Q1"]
    with pytest.raises(PslError, match="part"):
        read_source(fasta, part="val")


def test_read_labelled_fasta_and_a_flat_file_is_refused(tmp_path, test_data):
    p = tmp_path / "x.fasta.gz"
    with gzip.open(p, "wt") as fh:
        fh.write(">Q1 Peroxisome-U\nMKVLAAGSKL\n>Q2 Cytoplasm-Nucleus-U\nMSKL\n"
                 ">sp|P3|X_HUMAN Protein OS=Homo sapiens OX=9606\nMAAA\n")
    df, counts = read_labelled(p)
    assert df.accession.tolist() == ["Q1"] and counts["multilabel"] == 1
    assert counts["unlabelled"] == 1
    with pytest.raises(PslError, match="kb build"):
        read_labelled(test_data / "swissprot" / "sample_entries.dat.gz")


def test_read_kb_against_the_flat_file(tmp_path, test_data):
    from kb.build import build
    from kb.flatfile import parse
    from kb.locations import default_mapper

    src = test_data / "swissprot" / "sample_entries.dat.gz"
    d = tmp_path / "kb"
    build([src], d, progress=False)
    mapper = default_mapper()
    want = {}
    want_exp = {}
    for e in parse(src):
        classes = {mapper.class_of(loc.term) for loc in e.locations} - {None}
        exp = {mapper.class_of(loc.term) for loc in e.locations
               if "ECO:0000269" in (loc.evidence or "")} - {None}
        if len(classes) == 1:
            want[e.accession] = (classes.pop(), e.sequence)
        if len(exp) == 1:
            want_exp[e.accession] = exp.pop()
    df, counts = read_kb(d)
    assert len(df) > 0 and counts["kept"] == len(df)
    assert dict(zip(df.accession, zip(df.location, df.sequence, strict=True),
                    strict=True)) == want
    exp, _ = read_kb(d, evidence="experimental")
    assert dict(zip(exp.accession, exp.location, strict=True)) == want_exp


def test_uniprot_tsv_export_gets_the_classes_a_knowledge_base_gives(tmp_path, test_data):
    """A UniProt TSV export ('Subcellular location [CC]') of the real sample entries: its
    location terms map to the classes the knowledge base built from the flat file gives."""
    from kb.build import build
    from kb.flatfile import parse

    src = test_data / "swissprot" / "sample_entries.dat.gz"
    entries = [e for e in parse(src) if e.subcellular_location_text]
    tsv = tmp_path / "uniprot.tsv"
    def cc(text):  # the export's one line: each CC block prefixed with its topic
        return " ".join(f"SUBCELLULAR LOCATION: {b}" for b in text.splitlines() if b.strip())

    tsv.write_text("Entry\tEntry Name\tSequence\tSubcellular location [CC]\n" + "".join(
        f"{e.accession}\t{e.entry_name}\t{e.sequence}\t{cc(e.subcellular_location_text)}\n"
        for e in entries))
    build([src], tmp_path / "kb", progress=False)
    want, _ = read_kb(tmp_path / "kb", "soft")
    got, counts = read_labelled(tsv, "soft")
    assert counts["multilabel_kept_soft"] > 0 and len(got) > 20

    def classes(df):
        return {a: set(loc.split("|")) for a, loc in zip(df.accession, df.location, strict=True)}

    assert classes(got) == classes(want)


def _write_fasta(path, rows):
    path.write_text("".join(f">{a} {loc}-U{' test' if t else ''}\n{s}\n" for a, loc, s, t in rows))


def test_source_splits_remove_identical_and_homologous_training_proteins(tmp_path):
    rng = np.random.default_rng(0)
    test_seqs = [_rand(rng, 120) for _ in range(3)]
    test = tmp_path / "test.fasta"
    _write_fasta(test, [(f"T{i}", "Nucleus", s, True) for i, s in enumerate(test_seqs)]
                 + [("TR", "Nucleus", _rand(rng, 50), False)])
    homolog = test_seqs[1][:40] + "W" + test_seqs[1][41:80] + "C" + test_seqs[1][81:]
    train_rows = [("A1", "Nucleus", test_seqs[0]), ("A2", "Cytoplasm", homolog)]
    train_rows += [(f"U{i}", LOCATION_CLASSES[i % 3], _rand(rng, 90)) for i in range(30)]
    train_rows += [("DUP", "Nucleus", train_rows[5][2])]  # same sequence as U3
    csv = tmp_path / "train.csv"
    pd.DataFrame(train_rows, columns=["accession", "location", "sequence"]).to_csv(csv,
                                                                                  index=False)
    data = DataConfig(sources=[str(csv)], test_set=str(test), val_fraction=0.2, seed=3)
    splits, rep = source_splits(data)
    assert rep["identical"] == 1 and rep["homologous"] == 1 and rep["duplicates_removed"] == 1
    assert rep["removed_per_source"][str(csv)] == {"identical": 1, "homologous": 1}
    assert splits["test"].accession.tolist() == ["T0", "T1", "T2"]
    kept = set(splits["train"].accession) | set(splits["val"].accession)
    assert kept == {f"U{i}" for i in range(30)}
    assert not set(splits["train"].accession) & set(splits["val"].accession)
    assert len(splits["val"]) == 6  # 20% of each of the three classes of 10
    # identical-only exclusion keeps the homolog
    splits2, rep2 = source_splits(DataConfig(sources=[str(csv)], test_set=str(test),
                                             exclude_homologs=False))
    assert rep2["identical"] == 1 and "A2" in set(splits2["train"].accession) | set(
        splits2["val"].accession)
    # the dataset table reproduces the splits exactly, sha1 checked
    table = tmp_path / "ds.tsv.gz"
    write_dataset(splits, table)
    back = load_splits(DataConfig(dataset=str(table)))
    for k in ("train", "val", "test"):
        assert back[k].accession.tolist() == splits[k].accession.tolist()
        assert back[k].label.tolist() == splits[k].label.tolist()
        assert back[k].sha1.tolist() == [sequence_sha1(s) for s in splits[k].sequence]
    raw = pd.read_csv(table, sep="\t")
    raw.loc[2, "sequence"] = "MKV"
    bad = tmp_path / "bad.tsv"
    raw.to_csv(bad, sep="\t", index=False)
    with pytest.raises(InputFormatError, match="line 4"):
        read_dataset(bad)


def test_data_config_errors():
    with pytest.raises(ConfigError, match="multilabel"):
        DataConfig(sources=["x"], multilabel="all")
    with pytest.raises(ConfigError, match="dataset"):
        DataConfig(dataset="a.tsv", sources=["x"])
    with pytest.raises(ConfigError, match="not both"):
        DataConfig(path="a.fasta", sources=["x"])
    assert DataConfig(sources="one.csv").sources == ["one.csv"]


def test_dataset_cli(tmp_path):
    from cli.main import psl_app

    rng = np.random.default_rng(1)
    dl1 = read_deeploc()
    test_rows = dl1[dl1.is_test].head(5)
    test = tmp_path / "test.fasta"
    _write_fasta(test, [(a, loc, s, True) for a, loc, s in
                        zip(test_rows.accession, test_rows.location, test_rows.sequence,
                            strict=True)])
    csv = tmp_path / "train.tsv"
    rows = [("X1", "Nucleus", test_rows.sequence.iat[0])]
    rows += [(f"R{i}", LOCATION_CLASSES[i % 2], _rand(rng, 60)) for i in range(10)]
    pd.DataFrame(rows, columns=["accession", "location", "sequence"]).to_csv(csv, sep="\t",
                                                                             index=False)
    cfg = tmp_path / "d.toml"
    cfg.write_text(f'[data]\nsources = ["{csv}"]\ntest_set = "{test}"\nval_fraction = 0.2\n')
    out = tmp_path / "ds.tsv"
    runner = CliRunner()
    res = runner.invoke(psl_app, ["dataset", "-c", str(cfg), "-o", str(out), "--report",
                                  str(tmp_path / "r.json")])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout.strip().splitlines()[-1])
    assert rep["identical"] == 1 and rep["n"] == {"train": 8, "val": 2, "test": 5}
    assert json.loads((tmp_path / "r.json").read_text())["identical"] == 1
    res = runner.invoke(psl_app, ["dataset", "-c", str(cfg), "-o", str(out)])
    assert res.exit_code == 2 and "--force" in res.output


@pytest.mark.parametrize("model", ["default", "ensemble", "fast"])
def test_shipped_models_list_the_proteins_they_trained_on(model):
    """``models/*/training_set.tsv``: the test rows are exactly the official DeepLoc 1.0 test
    proteins (read straight from the FASTA headers), with their sequences' sha1; the
    DeepLoc 1.0 rows of train and val hold the rest minus the 146 Cytoplasm-Nucleus proteins
    (``exclude_dual``); the default's other training rows are the pseudo-labelled proteins of
    its dataset table (same accessions and sha1), none of them a test protein or its
    sequence; sizes as the checkpoint's metrics record them."""
    import hashlib

    repo = Path(__file__).resolve().parents[1]
    table = pd.read_csv(repo / "models" / model / "training_set.tsv", sep="\t")
    with gzip.open(repo / "data" / "deeploc1" / "deeploc_data.fasta.gz", "rt") as fh:
        blocks = fh.read().split(">")[1:]
    records = [(b.split()[0], b.split("\n", 1)[0], "".join(b.split("\n")[1:]))
               for b in blocks]
    test = {a: hashlib.sha1(s.encode()).hexdigest() for a, h, s in records if " test" in h}
    rows = table[table["split"] == "test"]
    assert dict(zip(rows["accession"], rows["sha1"], strict=True)) == test
    dual = {a for a, h, _ in records if " test" not in h and "Cytoplasm-Nucleus" in h}
    rest = {a for a, h, _ in records if " test" not in h} - dual
    dl1 = table["source"] == "data/deeploc1/deeploc_data.fasta.gz"
    assert set(table.loc[dl1 & (table["split"] != "test"), "accession"]) == rest
    added = table[~dl1]
    if model == "default":
        assert len(added) > 0 and (added["split"] == "train").all()
        assert added["source"].str.startswith("pseudo-label of ").all()
        derived = pd.read_csv(repo / "data" / "derived" / "dl1_pseudo8.tsv.gz", sep="\t")
        derived = derived[derived["source"].str.startswith("pseudo-label")]
        assert dict(zip(added["accession"], added["sha1"], strict=True)) == dict(
            zip(derived["accession"], derived["sha1"], strict=True))
        assert not set(added["sha1"]) & set(test.values())
    else:
        assert added.empty
    metrics = json.loads((repo / "models" / model / "metrics.json").read_text())
    if "n_train" in metrics:  # an ensemble records its members, not sizes
        assert (table["split"] == "train").sum() == metrics["n_train"]
        assert (table["split"] == "val").sum() == metrics["n_val"]


def test_config_paths_resolve_from_any_directory_of_a_clone(tmp_path, monkeypatch):
    from psl.data import DEFAULT_DEEPLOC_PATH, project_path

    monkeypatch.chdir(tmp_path)
    assert project_path("data/deeploc1/deeploc_data.fasta.gz") == DEFAULT_DEEPLOC_PATH
    (tmp_path / "data").mkdir()  # the working directory's own file wins
    (tmp_path / "data" / "mine.tsv").write_text("x")
    assert project_path("data/mine.tsv") == Path("data/mine.tsv")
    assert project_path("nowhere/table.tsv.gz") == Path("nowhere/table.tsv.gz")  # as given
    with pytest.raises(Exception, match="nowhere"):
        load_splits(DataConfig(dataset="nowhere/table.tsv.gz"))
