"""What the command modules share: plain usage lines and the ``--device`` option.

Usage lines without braces (``Usage: psl predict [OPTIONS] FASTA``): Typer (0.29) writes a
required argument as ``{fasta}`` in the usage line; commands built with
``cls=PlainUsageCommand`` write ``FASTA`` (required) / ``[PEPTIDE]...`` (optional), the usual
Unix convention, using the argument's ``metavar`` when it has one.
"""

from __future__ import annotations

from typing import Any, Literal

import typer
from typer.core import TyperArgument, TyperCommand

from psl.choices import DEVICES

__all__ = ["DEVICES", "Device", "PlainUsageCommand", "device_option"]

#: Type of a ``--device`` parameter (Typer shows and checks the choices).
Device = Literal[DEVICES]  # type: ignore[valid-type]


def device_option(extra: str = "") -> Any:
    """The ``--device`` option of every command that runs a model: default ``auto``."""
    return typer.Option(
        "auto", "--device",
        help=f"One of {', '.join(DEVICES)} (auto: CUDA if available, else CPU)."
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
