"""Every command answers --help, and every option of every command carries a help text."""

import pytest
import typer
from typer.testing import CliRunner

from cli.main import kb_app, psl_app

runner = CliRunner()


def _commands():
    for name, app in (("kb", kb_app), ("psl", psl_app)):
        root = typer.main.get_command(app)
        stack = [((name,), root)]
        while stack:
            path, cmd = stack.pop()
            if hasattr(cmd, "commands"):
                stack.extend((path + (n,), c) for n, c in cmd.commands.items())
            else:
                yield app, path, cmd


COMMANDS = list(_commands())


@pytest.mark.parametrize("app,path,cmd", COMMANDS, ids=[" ".join(c[1]) for c in COMMANDS])
def test_help_documents_every_option(app, path, cmd):
    result = runner.invoke(app, [*path[1:], "--help"])
    assert result.exit_code == 0, result.output
    options = [p for p in cmd.params if getattr(p, "param_type_name", "") == "option"]
    assert options, "every command has at least --help-worthy options"
    undocumented = [p.name for p in options if not (getattr(p, "help", "") or "").strip()]
    assert undocumented == []
    assert (cmd.help or "").strip(), f"{' '.join(path)} has no description"


def test_bracketed_words_in_help_are_shown_verbatim():
    result = runner.invoke(psl_app, ["train", "--help"])
    assert "[train] seed" in " ".join(result.output.split())


def test_expected_commands_exist():
    names = {" ".join(p) for _, p, _ in COMMANDS}
    for expected in ("kb build", "kb info", "kb search", "kb scan", "psl train", "psl evaluate",
                     "psl predict", "psl score", "psl explain", "psl extract", "psl report",
                     "psl experiment table1", "psl experiment hitrates"):
        assert expected in names
