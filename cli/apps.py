"""The Typer applications that command modules register on.

Errors are turned into one-line messages and exit codes here (``user_errors``), nowhere else.
"""

from __future__ import annotations

import errno
import functools
import inspect
import re
import sys
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any, TypeVar

import typer
from typer.models import OptionInfo

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


def choice_enum(name: str, values: Sequence[str]) -> type[Enum]:
    """A ``str`` Enum of a library's choice tuple, for a Typer option (members named as values)."""
    return Enum(name, {v: v for v in values}, type=str)  # type: ignore[return-value]


def fail(message: str, code: int = EXIT_USER_ERROR) -> typer.Exit:
    """Print ``error: message`` on stderr and return the ``typer.Exit`` to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=code)


def warn_stale(knowledge_base: Any) -> None:
    """One ``warning:`` line on stderr when a source of an open knowledge base changed since its
    build (:meth:`kb.api.KnowledgeBase.stale_sources`); the commands that read a knowledge base
    (``kb search``, ``psl score``) call it after opening it."""
    stale = [s for s in knowledge_base.stale_sources() if s["status"] == "stale"]
    if stale:
        names = "; ".join(f"{s['path']} ({s['why']})" for s in stale)
        typer.echo(f"warning: knowledge base {knowledge_base.path} is stale: its source "
                   f"changed since the build: {names}; rebuild with 'kb build --force'",
                   err=True)


def _os_error_message(e: OSError) -> str:
    """``PATH: reason`` for an OSError (``PATH -> PATH2`` for a rename), one line."""
    reason = e.strerror or str(e) or e.__class__.__name__
    if e.errno == errno.ENOSPC:
        reason = "no space left on device"
    where = ""
    if e.filename is not None:
        where = str(e.filename)
        if getattr(e, "filename2", None) is not None:
            where += f" -> {e.filename2}"
    if not where or where in reason:
        return reason
    return f"{where}: {reason}"


def _option_flags(func: Callable[..., Any]) -> dict[str, str]:
    """A command's parameter names -> their long option flags (``fmt`` -> ``--format``)."""
    flags = {}
    for name, p in inspect.signature(func).parameters.items():
        if isinstance(p.default, OptionInfo):
            longs = [d.split("/")[0] for d in p.default.param_decls or () if d.startswith("--")]
            flags[name] = longs[0] if longs else "--" + name.replace("_", "-")
    return flags


def _flags_for_params(err: BaseException, message: str, func: Callable[..., Any]) -> str:
    """``message`` with the parameter names that ``err.param`` lists (library errors name
    parameters) replaced by the command's option flags (``fmt`` -> ``--format``;
    ``force=True`` -> ``--force``)."""
    params = getattr(err, "param", None)
    if not params:
        return message
    flags = _option_flags(func)
    own = getattr(err, "message", message)  # the text after "FILE, line N: ", if any
    head, tail = (message[: -len(own)], own) if message.endswith(own) else ("", message)
    for name in (params,) if isinstance(params, str) else params:
        if name in flags:
            tail = re.sub(rf"(?<![\w-]){re.escape(name)}(=True)?\b", flags[name], tail)
    return head + tail


def _is_duckdb_error(e: BaseException) -> bool:
    return type(e).__module__.split(".")[0] in ("duckdb", "_duckdb")


def user_errors(func: F) -> F:
    """Decorator for commands: user errors become one line on stderr and exit code 2.

    User errors: ``ValueError`` (all domain errors subclass it), every ``OSError`` (a missing,
    unreadable, read-only, locked or full path: the message names the path), DuckDB errors
    (first line of the message) and ``EOFError``. Anything else is a bug and keeps its
    traceback.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except OSError as e:
            raise fail(_os_error_message(e)) from None
        except (ValueError, EOFError) as e:
            raise fail(_flags_for_params(e, str(e) or e.__class__.__name__, func)) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as e:
            if _is_duckdb_error(e):
                text = str(e).strip()
                raise fail(text.splitlines()[0] if text else type(e).__name__) from None
            raise

    return wrapper  # type: ignore[return-value]
