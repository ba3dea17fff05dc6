"""What the command modules share: plain usage lines, the ``--device`` option and a protein
progress bar.

Usage lines without braces (``Usage: psl predict [OPTIONS] FASTA``): Typer (0.29) writes a
required argument as ``{fasta}`` in the usage line; commands built with
``cls=PlainUsageCommand`` write ``FASTA`` (required) / ``[PEPTIDE]...`` (optional), the usual
Unix convention, using the argument's ``metavar`` when it has one.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Literal

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from typer.core import TyperArgument, TyperCommand

from psl.choices import DEVICES

__all__ = ["DEVICES", "Device", "PlainUsageCommand", "ProteinProgress", "device_option",
           "model_option", "progress_bar"]

#: Type of a ``--device`` parameter (Typer shows and checks the choices).
Device = Literal[DEVICES]  # type: ignore[valid-type]


def device_option(extra: str = "") -> Any:
    """The ``--device`` option of every command that runs a model: default ``auto``."""
    return typer.Option(
        "auto", "--device",
        help=f"One of {', '.join(DEVICES)} (auto: CUDA if available, else CPU)."
        + (f" {extra}" if extra else ""),
    )


def model_option(extra: str = "") -> Any:
    """The ``--model`` / ``-m`` option of commands that read one checkpoint: default the
    shipped model."""
    return typer.Option(
        None, "--model", "-m",
        help="Checkpoint directory (default: the shipped models/default)."
        + (f" {extra}" if extra else ""),
    )


def _usage_piece(param: TyperArgument) -> str:
    name = (param.metavar or param.name or "").upper().removesuffix("...")
    name = name if param.required else f"[{name}]"
    return name + ("..." if param.nargs != 1 else "")


class PlainUsageCommand(TyperCommand):
    """A Typer command whose usage line names arguments in upper case, without braces."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                pieces.append(_usage_piece(param))
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces


def progress_bar() -> Progress:
    """A transient rich bar on stderr: description, bar, done/total, elapsed, ETA."""
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
        transient=True, console=Console(stderr=True),
    )


class ProteinProgress:
    """Proteins done: a rich bar with an ETA on a terminal; otherwise (a log file, a pipe) a
    plain line on stderr every ``every`` proteins and at the end."""

    def __init__(self, description: str, total: int, every: int | None = None):
        self.description = description
        self.total = total
        self.every = every or max(1, min(100, total // 20))
        self.tty = sys.stderr.isatty()
        self.bar: Progress | None = None
        self.start = time.perf_counter()
        self.reported = 0

    def __enter__(self) -> ProteinProgress:
        self.start = time.perf_counter()
        if self.tty:
            self.bar = progress_bar()
            self.bar.__enter__()
            self.task = self.bar.add_task(self.description, total=self.total)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def update(self, done: int, total: int | None = None) -> None:
        """``done`` proteins of ``total`` (a new total replaces the one given at the start)."""
        if total is not None and total != self.total:
            self.total = total
            self.every = max(1, min(100, total // 20))
            if self.bar is not None:
                self.bar.update(self.task, total=total)
        if self.bar is not None:
            self.bar.update(self.task, completed=done)
            return
        if done - self.reported < self.every and done < self.total:
            return
        self.reported = done
        elapsed = time.perf_counter() - self.start
        eta = elapsed / done * (self.total - done) if done else float("nan")
        typer.echo(f"{self.description}: {done}/{self.total} proteins, {elapsed:.0f} s elapsed, "
                   f"ETA {eta:.0f} s", err=True)
