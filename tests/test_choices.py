"""psl.choices: one spelling of each choice, shared by the library's checks and the CLI options."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

import psl.choices as ch
from cli.main import kb_app, psl_app
from cli.psl_explain import AttentionMode, LabelKind, Method, Target
from cli.psl_score import Evidence, Weighting


def test_library_modules_use_the_same_tuples():
    from psl.explain import attributions
    from psl.hitrate import scorer
    from psl.models import device, family

    assert family.ATTENTION_MODES is ch.ATTENTION_MODES
    assert device.DEVICES is ch.DEVICES
    # modules that still spell their own tuple must agree with psl.choices
    assert attributions.METHODS == ch.METHODS
    assert attributions.ATTENTION_CHOICES == ch.INFERENCE_ATTENTION
    assert attributions.TARGETS == ch.TARGETS
    assert scorer.WEIGHTINGS == ch.WEIGHTINGS
    assert scorer.EVIDENCE_LEVELS == ch.EVIDENCE_LEVELS


@pytest.mark.parametrize("enum, values", [
    (Method, ch.METHODS), (AttentionMode, ch.INFERENCE_ATTENTION), (Target, ch.TARGETS),
    (LabelKind, ch.LABEL_KINDS), (Weighting, ch.WEIGHTINGS), (Evidence, ch.EVIDENCE_LEVELS),
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
