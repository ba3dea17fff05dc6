"""Domain errors of the knowledge base. All subclass ``ValueError``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Union

__all__ = [
    "LocatedError",
    "KBError",
    "InputFormatError",
    "InvalidPeptideError",
    "KBNotFoundError",
    "KBCorruptError",
    "KBPathError",
    "ErrorSink",
    "report_error",
]

#: Where readers send the errors of skipped records: a list (appended to), a callable
#: (called with each error) or ``None`` (dropped).
ErrorSink = Union[list, Callable[["KBError"], object], None]  # noqa: UP007


class LocatedError(ValueError):
    """A user error that carries where it happened: the file and line when known
    (``str(err)`` is ``"FILE[, line N]: message"``) and the function parameter(s) at fault.

    ``param`` names the parameter(s), as the message does; the CLI shows the option's flag in
    their place (``cli.apps.user_errors``). The base of :class:`KBError` and of psl's
    ``PslError``.
    """

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None,
                 *, param: str | tuple[str, ...] | None = None):
        self.path = str(path) if path is not None else None
        self.line = line
        self.param = param
        self.message = message
        where = ""
        if self.path is not None:
            where = f"{self.path}"
            if line is not None:
                where += f", line {line}"
            where += ": "
        super().__init__(where + message)


class KBError(LocatedError):
    """Base class of knowledge-base errors; carries the file and line when known."""


class InputFormatError(KBError):
    """An input file that is empty, truncated, of an unknown format, or malformed."""


class InvalidPeptideError(KBError):
    """A peptide that is empty or has letters outside the amino-acid alphabet."""


class KBNotFoundError(KBError):
    """A knowledge-base directory that does not exist or is not a finished build."""


class KBCorruptError(KBError):
    """A knowledge-base file whose size or checksum differs from what the build recorded."""


class TaxonNotFoundError(KBError):
    """A taxon filter (id, lineage element or organism name) that matches no entry."""


class KBPathError(KBError):
    """A knowledge-base path that cannot be used (e.g. a database locked by another process)."""


def report_error(err: KBError, errors: ErrorSink, strict: bool = False) -> None:
    """Raise ``err`` when ``strict``, else hand it to ``errors`` (see :data:`ErrorSink`)."""
    if strict:
        raise err
    if errors is None:
        return
    if callable(errors):
        errors(err)
    else:
        errors.append(err)
