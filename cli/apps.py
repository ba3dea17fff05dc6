"""The Typer applications that command modules register on.

Errors are turned into one-line messages and exit codes here (``user_errors``), nowhere else.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer

kb_app = typer.Typer(
    name="kb",
    help="Local UniProtKB/Swiss-Prot knowledge base: build it, search peptides in it, inspect it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts are plain: "[train] seed" is not markup
)
psl_app = typer.Typer(
    name="psl",
    help="Protein subcellular localization: models, explanations, subsequences and hit rates.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts are plain: "[train] seed" is not markup
)
experiment_app = typer.Typer(
    help="Reproduce the research's tables (Table 1: models; Tables 2-3: hit rates).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
psl_app.add_typer(experiment_app, name="experiment")

#: Exit code for bad user input (files, values, options).
EXIT_USER_ERROR = 2

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = EXIT_USER_ERROR) -> typer.Exit:
    """Print ``error: message`` on stderr and return the ``typer.Exit`` to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=code)


def user_errors(func: F) -> F:
    """Decorator for commands: domain errors become one line on stderr and exit code 2.

    ``ValueError`` (all domain errors subclass it), ``FileNotFoundError``, ``PermissionError``,
    ``IsADirectoryError`` and ``EOFError`` are user errors; anything else is a bug and keeps
    its traceback.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ValueError, FileNotFoundError, PermissionError, IsADirectoryError, EOFError) as e:
            msg = str(e) or e.__class__.__name__
            if isinstance(e, FileNotFoundError) and e.filename and str(e.filename) not in msg:
                msg = f"{e.filename}: {msg}"
            raise fail(msg) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]
