"""Entry points of the ``kb`` and ``psl`` console scripts.

Importing the command modules registers their commands on the shared apps.
"""

from __future__ import annotations

from cli import kb_build, kb_motif, kb_search, psl_dataset, psl_explain, psl_models, psl_score  # noqa: F401
from cli.apps import kb_app, psl_app

__all__ = ["kb_app", "psl_app"]
