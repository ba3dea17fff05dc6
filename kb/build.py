"""Build a knowledge-base directory from UniProt flat files, labelled tables or FASTA files.

``build()`` is what ``kb build`` runs. The build goes into a version directory inside a
temporary sibling of the target (``.NAME.tmp-PID-*``); only when everything (DuckDB, sequence
store, k-mer index, ``meta``, ``manifest.json``, ``_SUCCESS`` marker) is written is it
published with one atomic step (:mod:`kb.layout`): an interrupted or failed build never leaves
a directory that looks valid, and ``force`` replaces only a knowledge base (or an empty
directory), never a folder of the user's.

Processes: flat files are parsed by ``workers`` processes when asked (the CLI asks for 2);
library calls default to one process, because worker processes re-import the caller's
``__main__`` script (a plain script without ``if __name__ == "__main__":`` would run again in
each of them). A worker that dies makes the build fail with a message, never loop.
"""

from __future__ import annotations

import datetime as _dt
import gc
import hashlib
import io
import mmap
import multiprocessing
import os
import shutil
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, BinaryIO

from kb import layout
from kb.atomic import public_mode
from kb.errors import InputFormatError, KBError
from kb.flatfile import last_entry_end
from kb.gzipio import GZIP_ERRORS, GZIP_MAGIC, gzip_reader
from kb.layout import sha256_file
from kb.records import Entry
from kb.store import MIN_EVIDENCE, SCHEMA_VERSION, SUCCESS_FILE, KBWriter
from kb.tables import FORMATS, detect_format, read_fasta, read_table

__all__ = ["BuildSummary", "build", "read_entries"]

#: How many skipped-entry messages a summary keeps (the count is always exact).
MAX_KEPT_ERRORS = 100


@dataclass
class BuildSummary:
    """What a build did.

    Attributes:
        db: the knowledge-base directory.
        entries: entries stored.
        residues: residues stored.
        with_location: entries with at least one location row that has a DeepLoc class.
        skipped: malformed entries skipped (reported in ``errors``).
        duplicates: entries skipped because their accession was already stored (first wins).
        errors: messages (file, line, problem) of the first ``MAX_KEPT_ERRORS`` skipped entries.
        seconds: wall time of the build.
        sources: per input: path, format, bytes, sha256, entries, skipped.
    """

    db: Path
    entries: int = 0
    residues: int = 0
    with_location: int = 0
    skipped: int = 0
    duplicates: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    sources: list[dict[str, Any]] = field(default_factory=list)


class _CountingReader(io.RawIOBase):
    """A binary file wrapper that reports how many bytes were read (for the progress bar)."""

    def __init__(self, raw: BinaryIO, on_read: Callable[[int], None], name: str):
        self._raw = raw
        self._on_read = on_read
        self.name = name  # parsers name the file in their messages
        self.sha256 = hashlib.sha256()  # of the bytes as stored, computed in the same pass

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        n = self._raw.readinto(buffer)
        if n:
            self.sha256.update(memoryview(buffer)[:n])
            self._on_read(n)
        return n

    def close(self) -> None:  # the raw file is closed by its owner
        super().close()


def read_entries(
    path: str | Path,
    fmt: str,
    *,
    strict: bool = False,
    errors: list | None = None,
    handle: BinaryIO | None = None,
) -> Iterator[Entry]:
    """Entries of one input file in the given format (``flatfile``, ``table``, ``fasta``).

    Flat files are parsed by :func:`kb.flatfile.parse` (one process; ``build`` parses them in
    worker processes itself, see :func:`_flatfile_batches_parallel`).

    Raises:
        InputFormatError: whole-file problems, or (``strict``) the first malformed entry.
    """
    if fmt == "table":
        return read_table(path, strict=strict, errors=errors, handle=handle)
    if fmt == "fasta":
        return read_fasta(path, strict=strict, errors=errors, handle=handle)
    from kb.flatfile import parse

    return parse(handle if handle is not None else path, strict=strict, errors=errors)


# --- parallel flat-file parsing -------------------------------------------------------------
#
# The main process reads and decompresses the file and cuts it into chunks of whole entries
# (at "//" lines). Each worker parses a chunk with kb.flatfile.parse_chunk AND converts the entries
# into a columnar kb.store.Batch (pyarrow tables + residue bytes), which is cheap to send back;
# sending Entry objects instead costs more to unpickle in the main process than parsing them.
# At most 2 chunks per worker are in flight, so memory stays bounded. The chunks themselves
# travel through memory-mapped slot files (see _ChunkSlots), not through the pipe.

_CHUNK_BYTES = 8 << 20
#: Size of one chunk slot; a larger chunk (an entry of many megabytes) goes through the pipe.
_SLOT_BYTES = 4 * _CHUNK_BYTES


class _ChunkSlots:
    """A ring of memory-mapped files that carry decompressed chunks to the parser processes.

    Sending 3 GB of text through the executor's pipe costs about as much CPU (pickling,
    pipe writes and reads in 64 KB steps, on both sides) as a third of the parsing; a slot is
    one memory copy in and one out. The files live in a private temporary directory in
    ``/dev/shm`` when it has room (memory: nothing is written back to a disk, which matters
    when the knowledge base is built on a network file system), else in the system's
    temporary directory (``/dev/shm`` is 64 MB in a default Docker container); it is removed
    when the build ends, failed or not.
    """

    def __init__(self, n: int, size: int | None = None):
        self.size = size = size or _SLOT_BYTES
        parent = _slot_directory(n * size)
        _remove_stale_slots(parent)
        self.directory = tempfile.mkdtemp(prefix=f"{_SLOTS_PREFIX}{os.getpid()}-", dir=parent)
        self.paths: list[str] = []
        self._maps: list[mmap.mmap] = []
        try:
            for i in range(n):
                path = os.path.join(self.directory, f"slot-{i}")
                with open(path, "w+b") as fh:
                    fh.truncate(size)
                    self._maps.append(mmap.mmap(fh.fileno(), size))
                self.paths.append(path)
        except BaseException:
            self.close()
            raise

    def put(self, i: int, chunk: bytes) -> bytes | tuple[str, int]:
        """Store ``chunk`` in slot ``i``; returns what a worker passes to :func:`_chunk_of`."""
        if len(chunk) > self.size:
            return chunk
        self._maps[i][: len(chunk)] = chunk
        return self.paths[i], len(chunk)

    def close(self) -> None:
        for m in self._maps:
            m.close()
        self._maps = []
        shutil.rmtree(self.directory, ignore_errors=True)


_SLOTS_PREFIX = "kb-build-chunks-"


def _remove_stale_slots(parent: str | None) -> list[Path]:
    """Remove the slot directories of builds that were killed (``kb-build-chunks-<pid>-*``
    whose process is gone, holding nothing but ``slot-<i>`` files): in ``/dev/shm`` they
    would hold memory until the next reboot."""
    from kb.layout import _pid_alive

    removed = []
    root = Path(parent or tempfile.gettempdir())
    for d in root.glob(f"{_SLOTS_PREFIX}*-*"):
        pid = d.name[len(_SLOTS_PREFIX):].split("-", 1)[0]
        if (pid.isdigit() and not _pid_alive(int(pid)) and d.is_dir() and not d.is_symlink()
                and all(f.name.startswith("slot-") and f.name[5:].isdigit()
                        for f in d.iterdir())):
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed


def _slot_directory(need: int) -> str | None:
    """``/dev/shm`` when it has twice ``need`` bytes free, else ``None`` (the system's
    temporary directory)."""
    try:
        st = os.statvfs("/dev/shm")
    except OSError:
        return None
    return "/dev/shm" if st.f_bavail * st.f_frsize >= 2 * need else None


_WORKER_MAPS: dict[str, mmap.mmap] = {}  # slot file -> its map, per parser process


def _chunk_of(ref: bytes | tuple[str, int]) -> bytes:
    """Worker: the chunk's bytes (from its slot file, mapped once per process)."""
    if isinstance(ref, bytes):
        return ref
    path, n = ref
    m = _WORKER_MAPS.get(path)
    if m is None:
        with open(path, "rb") as fh:
            m = _WORKER_MAPS[path] = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    return m[:n]


def _decompressed(handle: io.BufferedReader, name: str, size: int) -> Iterator[bytes]:
    """Blocks of about ``size`` decompressed bytes (gzip detected from the magic bytes)."""
    stream = gzip_reader(handle) if handle.peek(2)[:2] == GZIP_MAGIC else handle
    try:
        while block := stream.read(size):
            yield block
    except GZIP_ERRORS as e:
        raise InputFormatError(f"truncated or corrupt gzip data ({e})", name) from None


def _entry_chunks(blocks: Iterator[bytes]) -> Iterator[bytes]:
    """Re-cut decompressed blocks into chunks that end at an entry's ``//`` line.

    A chunk is the previous block's tail plus this block up to its last ``//`` line, joined
    with one copy of the block (not two). A ``//`` line that starts a block is found in a
    later block: the chunk then just ends one entry later.
    """
    carry = b""
    for block in blocks:
        cut = last_entry_end(block)
        if cut == 0:
            carry += block
            continue
        yield b"".join((carry, memoryview(block)[:cut]))
        carry = block[cut:]
    if carry.strip():  # blank lines after the last ``//`` are not an entry
        yield carry


def _pack(e: InputFormatError) -> tuple:
    return (type(e), e.message, e.path, e.line, getattr(e, "entry", None))


def _unpack(packed: tuple, offset: int) -> InputFormatError:
    """Rebuild an error with its chunk-relative line number made absolute."""
    cls, message, path, line, entry = packed
    line = None if line is None else line + offset
    from kb.flatfile import FlatFileError

    if issubclass(cls, FlatFileError):
        return cls(message, path, line, entry)
    return cls(message, path, line)


def _init_worker() -> None:
    """Parser process start: no cyclic GC (the parsed objects are acyclic, see ``build``) and
    the parsing modules imported once."""
    gc.disable()
    import kb.flatfile
    import kb.store  # noqa: F401


def _parse_chunk_to_batch(args: tuple) -> tuple:
    """Worker: parse one chunk and convert it; returns (batch, errors, newlines, fatal)."""
    ref, name, strict, min_evidence, file_start = args
    chunk = _chunk_of(ref)
    from kb.flatfile import parse_chunk
    from kb.store import entries_to_batch

    errors: list = []
    try:
        entries, next_line = parse_chunk(chunk, name, file_start=file_start, strict=strict,
                                         errors=errors)
        batch = entries_to_batch(entries, None, min_evidence)
    except InputFormatError as e:
        return None, [], 0, _pack(e)
    return batch, [_pack(e) for e in errors], next_line - 1, None


def _flatfile_batches_parallel(pool, workers, handle, name, strict, min_evidence, errors,
                               on_batch, slots: _ChunkSlots):
    """Parse a flat file in ``pool`` (of ``workers`` processes); ``on_batch(batch)`` is called
    in file order. ``slots`` holds ``2 * workers`` chunk slots."""
    pending: deque = deque()
    offset = 0
    limit = 2 * workers

    def collect() -> None:
        nonlocal offset
        try:
            batch, errs, newlines, fatal = pending.popleft().result()
        except BrokenProcessPool:
            raise KBError(
                "a flat-file parser process died while starting. Worker processes re-import "
                "the __main__ script: a script that calls kb.build(..., workers=N) with N > 1 "
                "must keep its code under 'if __name__ == \"__main__\":' (or use workers=1, "
                "the library default)") from None
        if fatal is not None:
            raise _unpack(fatal, offset)
        errors.extend(_unpack(e, offset) for e in errs)
        offset += newlines
        on_batch(batch)

    # A chunk's slot is reused ``limit`` chunks later: by then its result has been collected.
    for i, chunk in enumerate(_entry_chunks(_decompressed(handle, name, _CHUNK_BYTES))):
        ref = slots.put(i % limit, chunk)
        del chunk
        pending.append(pool.submit(_parse_chunk_to_batch,
                                   (ref, name, strict, min_evidence, i == 0)))
        if len(pending) >= limit:
            collect()
    while pending:
        collect()


def _warm_up_index(k: int) -> None:
    from kb.index import build_index
    from kb.seqstore import SequenceStore

    build_index(SequenceStore.from_sequences(["ACDEFGHIKLMNPQRSTVWY"]), k)


def _tool_version() -> str:
    try:
        return metadata.version("psl-toolkit")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


def build(
    inputs: Sequence[str | Path],
    db: str | Path,
    *,
    force: bool = False,
    min_evidence: str = "any",
    strict: bool = False,
    fmt: str | None = None,
    k: int = 5,
    progress: bool = True,
    workers: int | None = None,
) -> BuildSummary:
    """Build the knowledge base ``db`` from ``inputs`` (formats detected from content).

    Arguments:
        inputs: UniProt flat files, CSV/TSV tables or FASTA files, plain or gzip.
        db: the directory to create (holds ``kb.duckdb``, the sequence store and the index).
        force: replace an existing ``db`` that is a knowledge base or an empty directory
            (atomically, after the new build is complete).
        min_evidence: ``"any"`` or ``"experimental"`` (only ECO:0000269 location rows).
        strict: abort on the first malformed entry instead of skipping it.
        fmt: force the format of every input (``flatfile``, ``table``, ``fasta``).
        k: k-mer length of the search index.
        progress: show a rich progress bar (by bytes read) on stderr.
        workers: flat-file parser processes (default 1: no processes are started; ``kb build``
            passes 2). With more than 1, a calling script must guard its code with
            ``if __name__ == "__main__":`` (the workers re-import it).

    Returns:
        The :class:`BuildSummary`.

    Raises:
        KBError: ``db`` exists and ``force`` is false, ``db`` is not a knowledge base,
            another build created ``db`` meanwhile, or bad options.
        InputFormatError: an empty/truncated/unknown input, no entries at all, or (``strict``)
            a malformed entry. Nothing is written in that case.
        FileNotFoundError: a missing input.
    """
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise RuntimeError(
            "kb.build was called while a worker process re-imports the __main__ script: keep "
            "the script's code under 'if __name__ == \"__main__\":' or use workers=1")
    t0 = time.perf_counter()
    started = _dt.datetime.now(_dt.timezone.utc)
    shown = db
    db = Path(os.path.abspath(db))  # "--db ." has a name and a parent too
    paths = [Path(p) for p in inputs]
    if not paths:
        raise KBError("no input files given")
    if min_evidence not in MIN_EVIDENCE:
        raise KBError(f"min_evidence must be one of {', '.join(MIN_EVIDENCE)}, "
                      f"got {min_evidence!r}", param="min_evidence")
    if fmt is not None and fmt not in FORMATS:
        raise KBError(f"fmt must be one of {', '.join(FORMATS)}, got {fmt!r}", param="fmt")
    replace = db.exists() or db.is_symlink()
    if replace:
        if not force:
            raise KBError("already exists; use force=True to replace it", shown, param="force")
        layout.check_replaceable(db, shown)
    for p in paths:
        if not p.exists():
            raise FileNotFoundError(2, "input file not found", str(p))
        if p.is_dir():
            raise IsADirectoryError(21, "input is a directory", str(p))
    from kb.index import _check_k  # fail on a bad k before reading gigabytes

    _check_k(k)
    formats = [fmt or detect_format(p) for p in paths]
    if workers is None:
        workers = 1  # library calls never start processes unless asked (see module docstring)
    if workers > 1 and _START_METHOD not in multiprocessing.get_all_start_methods():
        workers = 1  # no safe way to start the parser pool here

    if db.parent.exists() and not db.parent.is_dir():
        raise NotADirectoryError(20, "not a directory", str(db.parent))
    db.parent.mkdir(parents=True, exist_ok=True)
    layout.clean_stale(db)
    staging = Path(tempfile.mkdtemp(prefix=layout.tmp_prefix(db), dir=db.parent))
    public_mode(staging, directory=True)  # mkdtemp makes it private; a KB is ordinary
    version_name = layout.new_version_name()
    tmp = staging / version_name
    tmp.mkdir()
    summary = BuildSummary(db=Path(shown))
    # Entries, locations and features are acyclic: reference counting frees them, and the
    # cyclic GC only rescans millions of live objects (20-50% of parse/convert CPU time).
    gc_enabled = gc.isenabled()
    gc.disable()
    try:
        writer = _build_into(
            tmp, paths, formats, summary, min_evidence, strict, k, progress, workers
        )
        summary.seconds = round(time.perf_counter() - t0, 3)
        _finish(tmp, writer, summary, min_evidence, k, started)
        layout.publish(staging, version_name, db, shown, replace=replace)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        if gc_enabled:
            gc.enable()
    summary.seconds = round(time.perf_counter() - t0, 3)
    return summary


def _progress(enabled: bool):
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[entries]:,} entries"),
        console=Console(stderr=True),  # stdout stays the caller's (a script's output, a pipe)
        disable=not enabled,
        transient=False,
    )


_START_METHOD = "forkserver"


def _build_into(
    tmp, paths, formats, summary, min_evidence, strict, k, progress, workers
) -> KBWriter:
    pool = None
    if workers > 1 and "flatfile" in formats:
        # Workers come from a fork server, never from this process: forking a process that
        # already runs DuckDB, numba/OpenMP or torch threads can leave a child dead or
        # deadlocked. A ProcessPoolExecutor (unlike multiprocessing.Pool) never restarts a
        # dead worker: the build fails with a message instead of looping forever.
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(_START_METHOD),
                                   initializer=_init_worker)
    writer = None
    slots = None
    warm_up = None
    try:
        if pool is not None:
            slots = _ChunkSlots(2 * workers)
            # Load the k-mer index kernels (numba's cache, its thread pool: ~0.5 s) while the
            # parser processes start, instead of on the critical path after parsing.
            warm_up = threading.Thread(target=_warm_up_index, args=(k,), daemon=True)
            warm_up.start()
        with _progress(progress) as bar:
            t0 = time.perf_counter()
            writer = KBWriter(tmp, min_evidence=min_evidence)
            _read_inputs(writer, pool, slots, workers, bar, paths, formats, summary,
                         min_evidence, strict)
            if pool is not None:  # the parser processes' memory (and the slots') is free
                pool.shutdown(wait=True)  # before the index
                slots.close()
            if writer.n_entries == 0:
                first = "; ".join(summary.errors[:3])
                raise InputFormatError(
                    "no valid entries in the input"
                    + (f" ({summary.skipped} skipped; first: {first})" if summary.skipped else ""),
                    ", ".join(str(p) for p in paths),
                )
            t1 = time.perf_counter()
            bar.add_task("sequence store and k-mer index", total=None, entries=writer.n_entries)
            store = writer.sequence_store()  # the last DuckDB inserts continue meanwhile
            store.save(tmp)  # (file writes: kernel time beside DuckDB's)
            writer.flush()  # the k-mer index runs on every core: DuckDB is done first
            if warm_up is not None:  # never two parallel numba launches at once (numba's
                warm_up.join()  # fallback "workqueue" threading layer would abort)
            from kb.index import write_index

            index_meta = write_index(store, tmp, k)  # positions placed straight into the file
            summary.entries = writer.n_entries
            summary.residues = writer.n_residues
            summary.with_location = writer.count_with_location()
            summary.duplicates = writer.n_duplicates
            writer.write_meta(
                {
                    "location_rows_dropped_by_min_evidence": writer.n_location_rows_dropped,
                    "seconds.read_parse_insert": round(t1 - t0, 3),
                    "workers": workers,
                }
            )
            t2 = time.perf_counter()
        writer.write_meta({f"index.{key}": value for key, value in index_meta.items()})
        writer.write_meta({"seconds.store_and_index": round(t2 - t1, 3)})
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        if slots is not None:
            slots.close()
    return writer


def _read_inputs(
    writer, pool, slots, workers, bar, paths, formats, summary, min_evidence, strict
) -> None:
    """Stream every input into ``writer`` (flat files through ``pool`` when given)."""
    total = sum(p.stat().st_size for p in paths)
    task = bar.add_task("reading inputs", total=total, entries=0)

    def on_batch(batch) -> None:
        writer.add_batch(batch)
        bar.update(task, entries=writer.n_entries)

    for path, fmt in zip(paths, formats, strict=True):
        errors: list = []
        before = writer.n_entries
        dup_before = writer.n_duplicates
        with open(path, "rb") as raw:
            counting = _CountingReader(raw, lambda n: bar.advance(task, n), str(path))
            handle = io.BufferedReader(counting, 1 << 20)
            if fmt == "flatfile" and pool is not None:
                _flatfile_batches_parallel(pool, workers, handle, str(path), strict,
                                           min_evidence, errors, on_batch, slots)
            else:
                for i, entry in enumerate(
                    read_entries(path, fmt, strict=strict, errors=errors, handle=handle)
                ):
                    writer.add(entry)
                    if i % 4096 == 0:
                        bar.update(task, entries=writer.n_entries + len(writer._buffer))
                writer.flush()
            if raw.read(1):  # a reader that stopped early: hash the file separately
                digest = sha256_file(path)
            else:
                digest = counting.sha256.hexdigest()
        bar.update(task, entries=writer.n_entries)
        summary.skipped += len(errors)
        room = MAX_KEPT_ERRORS - len(summary.errors)
        summary.errors.extend(str(e) for e in errors[: max(room, 0)])
        st = path.stat()
        summary.sources.append(
            {
                "path": str(path.resolve()),
                "format": fmt,
                "bytes": st.st_size,
                "mtime": st.st_mtime,
                "sha256": digest,
                "entries": writer.n_entries - before,
                "duplicates": writer.n_duplicates - dup_before,
                "skipped": len(errors),
            }
        )


def _finish(tmp: Path, writer: KBWriter, summary: BuildSummary, min_evidence: str, k: int,
            started: _dt.datetime) -> None:
    """Write the build's ``meta`` rows, close the database, then the ``_SUCCESS`` marker."""
    finished = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    first = 0
    for src in summary.sources:
        src["provides"] = _provides(writer, first, first + src["entries"])
        first += src["entries"]
    writer.write_meta(
        {
            "schema_version": SCHEMA_VERSION,
            "tool_version": _tool_version(),
            "build_started": started.isoformat(timespec="seconds"),
            "build_finished": finished,
            "build_seconds": summary.seconds,
            "sources": summary.sources,
            "entries": summary.entries,
            "residues": summary.residues,
            "with_location": summary.with_location,
            "skipped": summary.skipped,
            "duplicates": summary.duplicates,
            "duplicate_policy": "first occurrence wins",
            "min_evidence": min_evidence,
            "k": k,
            "provides": _provides(writer, 0, summary.entries),
        }
    )
    writer.close()
    layout.write_manifest(tmp)
    (tmp / SUCCESS_FILE).write_text(finished + "\n")


def _provides(writer: KBWriter, first: int, end: int) -> dict[str, int]:
    """How many entries ``first <= entry_id < end`` have each optional field (the filters of
    ``kb search`` need to know whether "no match" means "not there" or "not recorded")."""
    row = writer.con.execute(
        "SELECT count(*), count(reviewed), count(*) FILTER (WHERE reviewed), count(taxon_id), "
        "count(lineage), count(organism) FROM entries WHERE entry_id >= ? AND entry_id < ?",
        [first, end],
    ).fetchall()[0]
    keys = ("entries", "reviewed_known", "reviewed", "taxon_id", "lineage", "organism")
    return dict(zip(keys, (int(v) for v in row), strict=True))
