"""Small helpers the result-table scripts share: ``NAME=DIR`` arguments and writing a report."""

from __future__ import annotations

import sys
from pathlib import Path

from kb.atomic import atomic_path


def run_specs(specs: list[str]) -> list[tuple[str, Path]]:
    """``NAME=DIR`` arguments as ``(name, path)`` pairs (the last ``=`` splits).

    Raises:
        SystemExit: an argument without ``=``.
    """
    out = []
    for spec in specs:
        name, sep, path = spec.rpartition("=")
        if not sep:
            raise SystemExit(f"expected NAME=DIR, got {spec!r}")
        out.append((name, Path(path)))
    return out


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (never half-written)."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def emit(text: str, out: Path | None) -> None:
    """Print ``text`` and, if ``out`` is given, also write it there atomically."""
    sys.stdout.write(text)
    if out is not None:
        write_atomic(out, text)
