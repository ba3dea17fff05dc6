"""The psl error hierarchy: user errors are ``ValueError`` subclasses, beside ``kb.errors.KBError``.

The CLI turns every ``ValueError`` into one line and exit code 2 (``cli/apps.py``).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["PslError", "CheckpointError", "ConfigError"]


class PslError(ValueError):
    """A user error in psl: bad input data, configuration or checkpoint.

    Carries the file (and line) when known; ``str(err)`` is ``"FILE[, line N]: message"``.
    ``param`` names the function parameter(s) at fault, as the message does; the CLI shows
    the option's flag in their place (``cli.apps.user_errors``).
    """

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None,
                 *, param: str | tuple[str, ...] | None = None):
        self.path = str(path) if path is not None else None
        self.line = line
        self.param = param
        self.message = message
        where = ""
        if self.path is not None:
            where = self.path + (f", line {line}" if line is not None else "") + ": "
        super().__init__(where + message)


class CheckpointError(PslError):
    """A checkpoint directory that is missing files, or whose files disagree."""


class ConfigError(PslError):
    """An invalid run or experiment configuration (unknown table or key, bad value)."""
