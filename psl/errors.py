"""The psl error hierarchy: user errors are ``ValueError`` subclasses, beside ``kb.errors.KBError``.

The CLI turns every ``ValueError`` into one line and exit code 2 (``cli/apps.py``).
"""

from __future__ import annotations

from kb.errors import LocatedError

__all__ = ["PslError", "CheckpointError", "ConfigError"]


class PslError(LocatedError):
    """A user error in psl: bad input data, configuration or checkpoint (a ``ValueError``
    that carries the file, line and parameter when known, like ``kb.errors.KBError``)."""


class CheckpointError(PslError):
    """A checkpoint directory that is missing files, or whose files disagree."""


class ConfigError(PslError):
    """An invalid run or experiment configuration (unknown table or key, bad value)."""
