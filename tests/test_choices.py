"""psl.choices: one spelling of each choice, shared by the library's checks and the CLI options."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

import psl.choices as ch
from cli.main import kb_app, psl_app
from cli.psl_explain import AttentionMode, HitrateSplit, LabelKind, Method, Split, Target
from cli.psl_score import Evidence, Weighting


def test_library_modules_use_the_same_tuples():
    from psl.explain import attributions
    from psl.hitrate import scorer
    from psl.models import device, family

    assert family.ATTENTION_MODES is ch.ATTENTION_MODES
    assert device.DEVICES is ch.DEVICES
    # no module spells its own copy: the very tuples of psl.choices
    assert attributions.METHODS is ch.METHODS
    assert attributions.ATTENTION_CHOICES is ch.INFERENCE_ATTENTION
    assert attributions.TARGETS is ch.TARGETS
    assert scorer.WEIGHTINGS is ch.WEIGHTINGS
    assert scorer.EVIDENCE_LEVELS is ch.EVIDENCE_LEVELS
    assert ch.HITRATE_SPLITS == ("model", *ch.EXPLAIN_SPLITS)


@pytest.mark.parametrize("enum, values", [
    (Method, ch.METHODS), (AttentionMode, ch.INFERENCE_ATTENTION), (Target, ch.TARGETS),
    (LabelKind, ch.LABEL_KINDS), (Weighting, ch.WEIGHTINGS), (Evidence, ch.EVIDENCE_LEVELS),
    (Split, ch.EXPLAIN_SPLITS),
])
def test_cli_enums_are_the_library_tuples(enum, values):
    assert tuple(m.value for m in enum) == values
    assert all(enum(v) == v for v in values)  # str Enum: a member equals its value


def test_help_lists_the_choices():
    res = CliRunner().invoke(psl_app, ["score", "--help"], terminal_width=200)
    assert res.exit_code == 0
    assert all(w in res.output for w in ch.WEIGHTINGS)


def test_library_error_names_the_parameter_and_the_cli_the_flag(tmp_path):
    from kb.build import build
    from kb.errors import KBError

    db = tmp_path / "db"
    db.mkdir()
    src = tmp_path / "x.fasta"
    src.write_text(">sp|P12345|X_HUMAN test OS=Homo sapiens OX=9606\nMKV\n")
    with pytest.raises(KBError, match=r"fmt must be one of") as e:
        build([src], db, fmt="xml")
    assert e.value.param == "fmt"
    with pytest.raises(KBError, match=r"already exists; use force=True to replace it"):
        build([src], db)
    res = CliRunner().invoke(kb_app, ["build", str(src), "--db", str(db), "--no-progress"])
    assert res.exit_code == 2
    assert res.stderr.strip() == f"error: {db}: already exists; use --force to replace it"


def test_a_parameter_name_inside_the_path_is_not_replaced(tmp_path):
    from cli.apps import user_errors
    from psl.errors import PslError

    app = typer.Typer()

    @app.command()
    @user_errors
    def cmd(split: str = typer.Option("test", "--split")) -> None:
        raise PslError(f"split must be 'test' or 'val', got {split!r}", tmp_path / "split",
                       param="split")

    res = CliRunner().invoke(app, ["--split", "x"])
    assert res.exit_code == 2
    assert res.stderr.strip() == (f"error: {tmp_path / 'split'}: --split must be 'test' or "
                                  "'val', got 'x'")


def test_hitrate_split_literal_is_the_library_tuple():
    from typing import get_args

    assert get_args(HitrateSplit) == ch.HITRATE_SPLITS


@pytest.mark.parametrize("devices", [ch.DEVICES, ("auto", "cpu", "cuda", "mps")])
def test_device_help_is_built_from_the_tuple(monkeypatch, devices):
    # the --device help names exactly the library's devices, whatever they are
    import cli.options

    monkeypatch.setattr(cli.options, "DEVICES", devices)
    help_text = cli.options.device_option().help
    assert help_text.startswith(f"One of {', '.join(devices)} ")


def test_explain_splits_are_what_load_proteins_accepts(monkeypatch):
    from psl.errors import PslError
    from psl.explain import attributions

    seen = []
    monkeypatch.setattr(attributions, "read_deeploc", lambda *a: seen.append(a) or _deeploc())
    for split in ch.EXPLAIN_SPLITS:
        names, _, _ = attributions.load_proteins(split=split)
        assert names == {"test": ["T1"], "train": ["R1"], "all": ["T1", "R1"]}[split]
    with pytest.raises(PslError) as e:
        attributions.load_proteins(split="val")
    assert e.value.param == "split"
    # the CLI: the same three values, and the library's message with the flag
    res = CliRunner().invoke(psl_app, ["explain", "--split", "val", "--out", "-"])
    assert res.exit_code == 2 and "'val' is not one of 'test', 'train', 'all'" in res.output


def _deeploc():
    import pandas as pd

    return pd.DataFrame({"accession": ["T1", "R1", "D1"], "sequence": ["MKV", "MAA", "MWW"],
                         "location": ["Nucleus", "Cytoplasm", "Cytoplasm-Nucleus"],
                         "is_test": [True, False, False]})
