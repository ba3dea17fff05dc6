"""The on-disk layout of a knowledge-base directory: versions, the ``current`` pointer, the
manifest, and the atomic replacement of one build by the next.

A knowledge base ``DIR`` is a small directory::

    DIR/
      current -> v-20261130T041502-12345-ab12cd   (symlink: the version readers open)
      v-20261130T041502-12345-ab12cd/             (one finished build: kb.duckdb, residues.u8,
                                                   offsets.npy, kmer_*, manifest.json, _SUCCESS)
      kb.duckdb -> current/kb.duckdb              (one link per file of a version, so that
      residues.u8 -> current/residues.u8           DIR/kb.duckdb keeps working for any client)
      ...

* A build writes the version into a hidden sibling ``.DIR.tmp-PID-*`` and publishes it with
  one atomic step: a new ``DIR`` is renamed into place as a whole (failing, not replacing, when
  another build created ``DIR`` meanwhile); an existing ``DIR`` gets the new version moved in
  and ``current`` replaced by one ``rename`` of a new symlink. A kill at any moment leaves
  ``DIR`` pointing at one complete version (the old or the new).
* Readers (:func:`resolve`) read ``current`` once and open every file from that version.
* Versions that ``current`` no longer names, and ``.DIR.tmp-PID-*`` siblings of builds whose
  process is gone, are removed by the next build (:func:`clean_stale`).
* ``manifest.json`` records the size and SHA-256 of every file of the version
  (:func:`write_manifest`); :func:`check_manifest` compares sizes (cheap, on every open) or
  checksums (``kb info --check``).
* Directories built before this layout (the files directly in ``DIR``) are still read; they
  are replaced with ``renameat2(RENAME_EXCHANGE)`` where Linux offers it, else by two renames.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import datetime as _dt
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kb.errors import KBCorruptError, KBError, KBNotFoundError

__all__ = [
    "sha256_file",
    "CURRENT",
    "MANIFEST_FILE",
    "resolve",
    "is_knowledge_base",
    "check_replaceable",
    "new_version_name",
    "publish",
    "clean_stale",
    "write_manifest",
    "check_manifest",
]

CURRENT = "current"
MANIFEST_FILE = "manifest.json"
SUCCESS_FILE = "_SUCCESS"
DB_FILE = "kb.duckdb"
_VERSION_PREFIX = "v-"
#: Exactly the names :func:`new_version_name` and :func:`_point_current` make.
_VERSION_NAME = re.compile(r"v-[0-9]{8}T[0-9]{6}-[0-9]+-[0-9a-f]{6}")
_TMP_LINK = re.compile(r"\.tmp-current-[0-9]+-[0-9a-f]{6}")
_LOCK_FILE = ".lock"
#: Files a build writes into a version (besides the manifest and marker).
KB_FILES = ("kb.duckdb", "residues.u8", "offsets.npy", "kmer_offsets.npy",
            "kmer_positions.npy", "kmer_index.json")


# ---------------------------------------------------------------------------------- readers
def resolve(directory: str | Path) -> Path:
    """The directory holding the files of the version ``directory`` currently names.

    For a directory of the versioned layout, ``directory/<target of current>``; for one built
    before it, ``directory`` itself. The pointer is read once, so a caller that opens every
    file from the returned path sees one consistent build even while another replaces it.
    """
    d = Path(directory)
    link = d / CURRENT
    if link.is_symlink():
        return d / os.readlink(link)
    return d


def _known_name(name: str) -> bool:
    return (name in KB_FILES or name in (CURRENT, MANIFEST_FILE, SUCCESS_FILE, _LOCK_FILE)
            or name == DB_FILE + ".wal" or bool(_VERSION_NAME.fullmatch(name))
            or bool(_TMP_LINK.fullmatch(name)))


def is_knowledge_base(directory: str | Path) -> bool:
    """True when ``directory`` is a finished knowledge base holding nothing but its own files
    (so that replacing it loses nothing of the user's)."""
    d = Path(directory)
    if not d.is_dir():
        return False
    v = resolve(d)
    if not ((v / SUCCESS_FILE).is_file() and (v / DB_FILE).is_file()):
        return False
    return all(_known_name(p.name) for p in d.iterdir())


def check_replaceable(directory: Path, shown: str | Path) -> None:
    """Raise unless ``directory`` may be replaced by ``kb build --force``: an empty directory
    or a knowledge base (see :func:`is_knowledge_base`).

    Raises:
        KBError: naming the path and what it holds.
    """
    if not directory.is_dir():
        raise KBError("exists and is not a directory; refusing to replace it", shown)
    names = sorted(p.name for p in directory.iterdir())
    if not names or is_knowledge_base(directory):
        return
    foreign = [n for n in names if not _known_name(n)] or names
    listed = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
    raise KBError(
        f"is not a knowledge base (it holds {listed}); force=True replaces only a directory "
        "made by a knowledge-base build: choose another db or remove it yourself",
        shown, param=("force", "db"),
    )


# --------------------------------------------------------------------------------- manifest
def sha256_file(path: str | Path, chunk: int = 1 << 22) -> str:
    """Hex SHA-256 of a file's bytes (as stored, i.e. of the ``.gz`` for a gzip file)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def write_manifest(version: Path) -> dict[str, Any]:
    """Write ``manifest.json``: size and SHA-256 of every file of the finished ``version``
    (written after every other file except the ``_SUCCESS`` marker)."""
    paths = [p for p in sorted(version.iterdir())
             if p.is_file() and p.name not in (MANIFEST_FILE, SUCCESS_FILE)]
    with ThreadPoolExecutor(2) as pool:  # hashlib releases the GIL: two files at a time
        digests = list(pool.map(sha256_file, paths))
    files = {p.name: {"bytes": p.stat().st_size, "sha256": d}
             for p, d in zip(paths, digests, strict=True)}
    manifest = {"manifest_version": 1, "files": files}
    (version / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def check_manifest(version: Path, checksums: bool = False) -> list[str]:
    """Compare the files of ``version`` with its manifest.

    Arguments:
        version: a version directory (see :func:`resolve`).
        checksums: also compare SHA-256 (reads every file); sizes only otherwise.

    Returns:
        The names of the files checked (empty when the build has no manifest: built before
        manifests existed).

    Raises:
        KBCorruptError: a missing file or one whose size (or checksum) differs, naming it.
    """
    path = version / MANIFEST_FILE
    if not path.is_file():
        return []
    files = json.loads(path.read_text())["files"]
    for name, want in files.items():
        f = version / name
        if not f.is_file():
            raise KBCorruptError(f"{name} is missing; rebuild the knowledge base", version)
        size = f.stat().st_size
        if size != want["bytes"]:
            raise KBCorruptError(
                f"{name} has {size:,} bytes, the build wrote {want['bytes']:,} (truncated or "
                "modified); rebuild the knowledge base", f)
        if checksums and sha256_file(f) != want["sha256"]:
            raise KBCorruptError(
                f"{name} checksum differs from the build's (modified or corrupt); rebuild the "
                "knowledge base", f)
    return list(files)


# --------------------------------------------------------------------------------- building
def new_version_name() -> str:
    """A fresh version directory name: time, process id and a random part."""
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    return f"{_VERSION_PREFIX}{now}-{os.getpid()}-{secrets.token_hex(3)}"


def tmp_prefix(db: Path) -> str:
    """Prefix of the temporary sibling a build of ``db`` writes into (``.DIR.tmp-PID-``)."""
    return f".{db.name}.tmp-{os.getpid()}-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _owner_pid(name: str, marker: str) -> int | None:
    rest = name.split(marker, 1)[1]
    head = rest.split("-", 1)[0]
    return int(head) if head.isdigit() else None


def clean_stale(db: Path) -> list[Path]:
    """Remove what interrupted builds of ``db`` left: ``.DIR.tmp-*`` / ``.DIR.old-*`` siblings
    whose process is gone, and (inside a versioned ``db``, under its lock) versions and
    temporary links ``current`` does not name.

    Returns:
        The paths removed.
    """
    removed = _clean_siblings(db)
    if (db / CURRENT).is_symlink():
        with _locked(db):
            removed += _clean_versions(db)
    return removed


def _clean_siblings(db: Path) -> list[Path]:
    removed: list[Path] = []
    parent = db.parent
    if parent.is_dir():
        for p in parent.iterdir():
            for marker in (f".{db.name}.tmp-", f".{db.name}.old-"):
                if p.name.startswith(marker) and _left_by_a_build(p, marker):
                    shutil.rmtree(p, ignore_errors=True)
                    removed.append(p)
    return removed


def _left_by_a_build(p: Path, marker: str) -> bool:
    """True only for what a build made and its process left: a real directory named
    ``MARKER<pid>-...`` whose process is gone, holding nothing but knowledge-base files (a
    user's folder that happens to share the prefix is never removed)."""
    pid = _owner_pid(p.name, marker)
    if pid is None or _pid_alive(pid) or p.is_symlink() or not p.is_dir():
        return False
    return all(_known_name(q.name) for q in p.iterdir())


def _clean_versions(db: Path) -> list[Path]:
    """Versions and temporary links of ``db`` that ``current`` does not name (caller holds
    the lock)."""
    removed: list[Path] = []
    current = os.readlink(db / CURRENT)
    for p in db.iterdir():
        if p.name == current:
            continue
        if _TMP_LINK.fullmatch(p.name) and p.is_symlink():
            p.unlink(missing_ok=True)
        elif (_VERSION_NAME.fullmatch(p.name) and p.is_dir() and not p.is_symlink()
              and all(_known_name(q.name) or (q.name.startswith(".") and q.name.endswith(".tmp"))
                      for q in p.iterdir())):
            shutil.rmtree(p, ignore_errors=True)
        else:  # not something a build makes: a user's file or folder stays
            continue
        removed.append(p)
    return removed


@contextlib.contextmanager
def _locked(db: Path) -> Iterator[None]:
    """Serialise the publishing step of builds into the same ``db`` (POSIX ``flock``)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(db / _LOCK_FILE, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _point_current(db: Path, version_name: str) -> None:
    """Make ``db/current`` name ``version_name`` with one atomic rename of a new symlink."""
    tmp_link = db / f".tmp-{CURRENT}-{os.getpid()}-{secrets.token_hex(3)}"
    os.symlink(version_name, tmp_link)
    try:
        os.replace(tmp_link, db / CURRENT)
    except BaseException:
        tmp_link.unlink(missing_ok=True)
        raise


def _link_files(db: Path, version: Path) -> None:
    """``db/NAME -> current/NAME`` for every file of ``version`` (kept across versions)."""
    for p in version.iterdir():
        link = db / p.name
        if p.is_file() and not link.is_symlink() and not link.exists():
            os.symlink(f"{CURRENT}/{p.name}", link)


_RENAME_EXCHANGE = 2


def _rename_exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2``); False where unsupported."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    rc = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def publish(staging: Path, version_name: str, db: Path, shown: str | Path,
            replace: bool = False) -> None:
    """Make the finished build ``staging/version_name`` the current version of ``db``.

    ``staging`` is the build's temporary sibling of ``db``; it is gone afterwards.

    * ``db`` does not exist: ``staging`` gets the pointer and links and is renamed to ``db``;
      if another build created ``db`` meanwhile the rename fails and so does this build (also
      when ``db`` exists now but ``replace`` is false: it did not exist when the build began).
    * ``db`` is a versioned knowledge base: the version is moved in and ``current`` switched
      atomically (under a lock against concurrent publishers); the old version is removed.
    * ``db`` is an older, flat knowledge base or an empty directory: the two are swapped with
      ``RENAME_EXCHANGE`` (or, where unavailable, two renames) and the old one removed.

    Raises:
        KBError: ``db`` appeared meanwhile (a concurrent build).
    """
    version = staging / version_name
    if not replace or (not db.exists() and not db.is_symlink()):
        _point_current(staging, version_name)
        _link_files(staging, version)
        try:
            os.rename(staging, db)
        except OSError as e:
            if e.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR, errno.ENOTDIR):
                raise KBError(
                    "was created by another build while this one ran; this build is discarded "
                    "(use force=True to replace it)", shown, param="force") from None
            raise
        return
    if (db / CURRENT).is_symlink():
        with _locked(db):
            os.rename(version, db / version_name)
            _point_current(db, version_name)
            _link_files(db, db / version_name)
            _clean_versions(db)
        shutil.rmtree(staging, ignore_errors=True)
        return
    # A flat (pre-versioned) knowledge base or an empty directory: swap whole directories.
    _point_current(staging, version_name)
    _link_files(staging, version)
    if _rename_exchange(staging, db):
        shutil.rmtree(staging, ignore_errors=True)  # now holds the old knowledge base
        return
    old = db.parent / f".{db.name}.old-{os.getpid()}-{secrets.token_hex(3)}"
    os.replace(db, old)
    try:
        os.replace(staging, db)
    except BaseException:
        os.replace(old, db)
        raise
    shutil.rmtree(old, ignore_errors=True)


def require_knowledge_base(directory: str | Path) -> Path:
    """The version directory of a finished knowledge base (see :func:`resolve`).

    Raises:
        KBNotFoundError: ``directory`` is missing or not a finished build.
    """
    d = Path(directory)
    if not d.is_dir():
        raise KBNotFoundError("knowledge-base directory does not exist", d)
    v = resolve(d)
    if not ((v / SUCCESS_FILE).is_file() and (v / DB_FILE).is_file()):
        raise KBNotFoundError(
            f"not a finished knowledge base (no {SUCCESS_FILE} / {DB_FILE}); run 'kb build'", d
        )
    return v
