"""Entry points of the ``kb`` and ``psl`` console scripts.

Importing the command modules registers their commands on the shared apps.
"""

from __future__ import annotations

import importlib

from cli.apps import kb_app, psl_app

__all__ = ["kb_app", "psl_app"]

_COMMAND_MODULES = (
    "cli.kb_build",
    "cli.kb_search",
    "cli.kb_motif",
    "cli.psl_models",
    "cli.psl_score",
    "cli.psl_explain",
)

for _name in _COMMAND_MODULES:
    try:
        importlib.import_module(_name)
    except ModuleNotFoundError as e:  # a command module not written yet
        if e.name != _name:
            raise
