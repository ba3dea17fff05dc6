"""Atomic file writes: write to a temporary file beside the target, then rename.

A reader never sees a half-written file, and an interrupted write leaves the old file (or
nothing) in place.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "public_mode"]


def public_mode(path: str | Path, directory: bool = False) -> None:
    """Give a ``mkstemp``/``mkdtemp`` result (private, 0600/0700) the usual permissions of a new
    file or directory (``0666``/``0777`` less the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, (0o777 if directory else 0o666) & ~umask)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s directory; when the block ends without error the
    temporary file gets ordinary permissions and replaces ``path``; otherwise it is removed.

    Raises:
        FileNotFoundError: the destination directory does not exist.
        IsADirectoryError: ``path`` is a directory.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise FileNotFoundError(2, "output directory does not exist", str(directory))
    if path.is_dir():
        raise IsADirectoryError(21, "output path is a directory", str(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        yield Path(tmp)
        public_mode(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
