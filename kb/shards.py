"""Sharded knowledge bases: N ordinary knowledge bases of contiguous entry ranges + a manifest.

Layout of a sharded directory ``DIR``::

    DIR/shards.json        the manifest (format, sources, shards, sizes, sha256 of every file)
    DIR/shard-0000/        an ordinary knowledge base (kb.build of the first entry range)
    DIR/shard-0001/        ...

Entry ``i`` of shard ``s`` is entry ``entry_offset[s] + i`` of the sharded knowledge base,
which is therefore numbered exactly like an unsharded build of the same inputs.

* :func:`build_sharded` (``kb build --shards N`` / ``--shard-residues R``): scans the inputs
  for entry boundaries (:mod:`kb.shardplan`), builds every shard with :func:`kb.build.build`
  (one after the other, or in parallel on a Dask cluster: ``client=``), checks that no
  accession is in two shards, writes the manifest and renames the temporary directory.
* :func:`open_sharded` (what ``kb.open`` calls when ``DIR/shards.json`` exists): checks every
  shard file (present, size, sha256) and returns a :class:`ShardedKnowledgeBase`, a
  :class:`~kb.api.KnowledgeBase` whose search runs shard by shard (in-process, or on the
  cluster with ``client=``) and whose DuckDB connection ``con`` has the views ``entries``,
  ``locations``, ``features``, ``secondary_accessions`` over all shards with global entry ids:
  every SQL-based method of ``KnowledgeBase`` works unchanged.
"""

from __future__ import annotations

import concurrent.futures
import copy
import datetime as _dt
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from kb.api import MISMATCH_COLUMNS, KnowledgeBase, SearchResult
from kb.atomic import public_mode
from kb.build import BuildSummary, build
from kb.errors import KBError, KBNotFoundError
from kb.index import choose_anchors
from kb.mismatch import check_mismatches, describe_hits
from kb.peptides import PeptideBatch, prepare_peptides
from kb.seqstore import SequenceStore
from kb.shardplan import MAX_SHARD_RESIDUES, Piece, plan, scan_input, write_piece
from kb.shardsearch import merge_shard_rows, search_shard, summed_bucket_sizes
from kb.store import MIN_EVIDENCE, is_complete
from kb.tables import FORMATS, detect_format

__all__ = [
    "MANIFEST",
    "ShardError",
    "ShardedKnowledgeBase",
    "build_sharded",
    "build_shard",
    "is_sharded",
    "read_manifest",
    "open_sharded",
    "open_single_on_cluster",
    "info",
]

MANIFEST = "shards.json"
_FORMAT = "psl-kb-shards"
_VERSION = 1
_TABLES = ("entries", "secondary_accessions", "locations", "features")


class ShardError(KBNotFoundError):
    """A shard of a sharded knowledge base that is missing, incomplete or corrupt."""


def is_sharded(path: str | Path) -> bool:
    """Whether ``path`` is a sharded knowledge base (has a ``shards.json`` manifest)."""
    return (Path(path) / MANIFEST).is_file()


# ------------------------------------------------------------------------------ manifest
def _sha256(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _file_facts(directory: Path) -> dict[str, dict[str, Any]]:
    return {
        p.name: {"bytes": p.stat().st_size, "sha256": _sha256(p)}
        for p in sorted(directory.iterdir()) if p.is_file()
    }


def read_manifest(path: str | Path, verify: bool = True) -> dict[str, Any]:
    """The manifest of a sharded knowledge base, every shard checked.

    Arguments:
        path: the sharded directory.
        verify: also check the sha256 of every shard file (sizes and presence are always
            checked); hashing runs in threads, about 1 GB/s per core.

    Raises:
        KBNotFoundError: no directory or no manifest; ShardError: a shard directory or file
            that is missing, unfinished, of the wrong size or with a wrong checksum (named).
    """
    path = Path(path)
    if not path.is_dir():
        raise KBNotFoundError("knowledge-base directory does not exist", path)
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except FileNotFoundError:
        raise KBNotFoundError(f"no {MANIFEST}: not a sharded knowledge base", path) from None
    except json.JSONDecodeError as e:
        raise KBNotFoundError(f"unreadable manifest ({e})", path / MANIFEST) from None
    if manifest.get("format") != _FORMAT or manifest.get("version") != _VERSION:
        raise KBNotFoundError(
            f"not a {_FORMAT} manifest of version {_VERSION} (format "
            f"{manifest.get('format')!r}, version {manifest.get('version')!r})", path / MANIFEST
        )
    to_hash = []
    for shard in manifest["shards"]:
        d = path / shard["name"]
        if not d.is_dir():
            raise ShardError("shard missing (its directory does not exist)", d)
        if not is_complete(d):
            raise ShardError("shard is not a finished knowledge base", d)
        for name, facts in shard["files"].items():
            f = d / name
            if not f.is_file():
                raise ShardError("shard file missing", f)
            size = f.stat().st_size
            if size != facts["bytes"]:
                raise ShardError(f"shard file has {size} bytes, the manifest says "
                                 f"{facts['bytes']} (corrupt or replaced)", f)
            to_hash.append((f, facts["sha256"]))
    if verify and to_hash:
        with concurrent.futures.ThreadPoolExecutor(min(4, os.cpu_count() or 1)) as pool:
            digests = list(pool.map(lambda fe: _sha256(fe[0]), to_hash))
        for (f, expected), got in zip(to_hash, digests, strict=True):
            if got != expected:
                raise ShardError(f"wrong checksum: sha256 {got}, the manifest says {expected}",
                                 f)
    return manifest


# ------------------------------------------------------------------------------ build
def _translate(text: str, pieces: dict[str, tuple[str, int]]) -> str:
    """Rewrite ``PIECE, line N`` in a message into ``INPUT, line N + shift``."""
    for piece, (source, shift) in pieces.items():
        text = re.sub(re.escape(piece) + r"(, line )(\d+)",
                      lambda m, s=source, d=shift: f"{s}{m.group(1)}{int(m.group(2)) + d}", text)
        text = text.replace(piece, source)
    return text


def build_shard(
    name: str, directory: str, pieces: Sequence[Piece], sources: Sequence[str],
    options: dict[str, Any],
) -> dict[str, Any]:
    """Build one shard (``directory/name``) from its pieces with :func:`kb.build.build`.

    Idempotent: the shard is built in a temporary directory and replaces any earlier attempt
    atomically, so a task retried after a worker died gives the same shard. Runs on a Dask
    worker in a cluster build (then the pieces must be readable there).

    Returns:
        The shard's facts for the manifest (counts, files with bytes and sha256) and the
        skipped-entry messages (file names and line numbers of the original inputs).
    """
    out = Path(directory) / name
    work = Path(tempfile.mkdtemp(prefix=f".{name}.inputs-", dir=directory))
    translate: dict[str, tuple[str, int]] = {}
    try:
        files = []
        for i, piece in enumerate(pieces):
            f = work / f"piece-{i}.{piece.fmt}"
            write_piece(piece, f)
            files.append(f)
            translate[str(f)] = (sources[piece.source], piece.line_shift)
        try:
            summary: BuildSummary = build(files, out, force=True, progress=False, **options)
        except KBError as e:  # name the original input and line, not the piece file
            err = copy.copy(e)
            if e.path is not None:
                err.path = _translate(e.path, {k: (v[0], 0) for k, v in translate.items()})
                if e.line is not None and e.path in translate:
                    err.line = e.line + translate[e.path][1]
            err.args = (_translate(str(e), translate),)
            raise err from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "name": name,
        "entries": summary.entries,
        "residues": summary.residues,
        "with_location": summary.with_location,
        "skipped": summary.skipped,
        "duplicates": summary.duplicates,
        "errors": [_translate(m, translate) for m in summary.errors],
        "per_source": [
            {"source": piece.source, "entries": src["entries"], "skipped": src["skipped"],
             "duplicates": src.get("duplicates", 0)}
            for piece, src in zip(pieces, summary.sources, strict=True)
        ],
        "seconds": summary.seconds,
        "files": _file_facts(out),
    }


def _check_cross_shard_duplicates(tmp: Path, names: list[str]) -> None:
    """Raise when an accession is in two shards (an unsharded build keeps the first one)."""
    import duckdb

    con = duckdb.connect()
    try:
        for i, name in enumerate(names):
            con.execute(f"ATTACH '{tmp / name / 'kb.duckdb'}' AS s{i} (READ_ONLY)")
        union = " UNION ALL ".join(
            f"SELECT accession, {i} AS shard FROM s{i}.entries" for i in range(len(names))
        )
        dup = con.execute(
            f"SELECT accession, list(shard ORDER BY shard) FROM ({union}) GROUP BY accession "
            "HAVING count(*) > 1 ORDER BY accession LIMIT 5"
        ).fetchall()
    finally:
        con.close()
    if dup:
        shown = "; ".join(f"{a} in shards {', '.join(map(str, s))}" for a, s in dup)
        raise KBError(
            f"accession(s) in more than one shard ({shown}): a sharded build needs every "
            "accession once across its inputs (an unsharded build keeps the first); remove the "
            "duplicates or build without --shards"
        )


def _replace_dir(tmp: Path, db: Path) -> None:
    """Rename ``tmp`` to ``db``; an existing ``db`` is moved aside first and removed after."""
    old = None
    if db.exists():
        old = db.parent / f".{db.name}.old-{os.getpid()}-{time.monotonic_ns()}"
        os.replace(db, old)
    try:
        os.replace(tmp, db)
    except BaseException:
        if old is not None:
            os.replace(old, db)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def build_sharded(
    inputs: Sequence[str | Path],
    db: str | Path,
    *,
    shards: int | None = None,
    shard_residues: float | None = None,
    client: Any = None,
    force: bool = False,
    min_evidence: str = "any",
    strict: bool = False,
    fmt: str | None = None,
    k: int = 5,
    progress: bool = True,
    workers: int | None = None,
) -> BuildSummary:
    """Build a sharded knowledge base (see the module docstring).

    Arguments:
        inputs, db, force, min_evidence, strict, fmt, k: as :func:`kb.build.build`.
        shards: number of shards (of about equal residues), or
        shard_residues: the most residues of one shard (each stays under 2^32 anyway).
        client: a ``distributed.Client``: the shards are built in parallel on its workers,
            which must be able to read ``db``'s parent directory (a shared file system).
            Without it the shards are built one after the other in this process.
        progress: a progress bar of shards built.
        workers: parser processes per shard build in this process (a cluster build uses 1
            per task: Dask worker processes cannot start child processes).

    Returns:
        A :class:`~kb.build.BuildSummary` summed over the shards (``sources`` from the scan).

    Raises:
        KBError: bad options, ``db`` exists without ``force``, an accession in two shards.
        InputFormatError: as :func:`kb.build.build` (naming the original input and line).
    """
    t0 = time.perf_counter()
    db = Path(db)
    paths = [Path(p) for p in inputs]
    if not paths:
        raise KBError("no input files given")
    if min_evidence not in MIN_EVIDENCE:
        raise KBError(f"--min-evidence must be one of {', '.join(MIN_EVIDENCE)}, "
                      f"got {min_evidence!r}")
    if fmt is not None and fmt not in FORMATS:
        raise KBError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if db.exists() and not force:
        raise KBError("already exists; use --force to replace it", db)
    if db.exists() and not db.is_dir():
        raise KBError("exists and is not a directory", db)
    for p in paths:
        if not p.exists():
            raise FileNotFoundError(2, "input file not found", str(p))
        if p.is_dir():
            raise IsADirectoryError(21, "input is a directory", str(p))
    from kb.index import _check_k

    _check_k(k)
    if (shards is None) == (shard_residues is None):
        raise KBError("give exactly one of --shards N and --shard-residues R")
    formats = [fmt or detect_format(p) for p in paths]
    db.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{db.name}.tmp-", dir=db.parent))
    public_mode(tmp, directory=True)
    staging = tmp / ".staging"
    staging.mkdir()
    try:
        scanned = [scan_input(p, f, staging, f"input-{i}.plain")
                   for i, (p, f) in enumerate(zip(paths, formats, strict=True))]
        pieces = plan(scanned, shards, shard_residues)
        names = [f"shard-{i:04d}" for i in range(len(pieces))]
        sources = [str(p.resolve()) for p in paths]
        options = {"min_evidence": min_evidence, "strict": strict, "fmt": fmt, "k": k}
        results = _run_shard_builds(names, pieces, tmp, sources, options, client, workers,
                                    progress)
        _check_cross_shard_duplicates(tmp, names)
        shutil.rmtree(staging)
        for leftover in tmp.iterdir():  # temporary dirs of shard builds retried elsewhere
            if leftover.name.startswith("."):
                shutil.rmtree(leftover, ignore_errors=True)
        summary = _summarize(db, scanned, pieces, results)
        summary.seconds = round(time.perf_counter() - t0, 3)
        manifest = _manifest(scanned, pieces, results, summary, min_evidence, k)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
        _replace_dir(tmp, db)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    summary.seconds = round(time.perf_counter() - t0, 3)
    return summary


def _run_shard_builds(names, pieces, tmp, sources, options, client, workers, progress):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn("[bold]building shards"), BarColumn(), MofNCompleteColumn(),
                  disable=not progress) as bar:
        task = bar.add_task("shards", total=len(names))
        if client is None:
            results = []
            for name, p in zip(names, pieces, strict=True):
                results.append(build_shard(name, str(tmp), p, sources,
                                           {**options, "workers": workers}))
                bar.advance(task)
            return results
        from kb.cluster import run_tasks

        return run_tasks(
            client, build_shard,
            [(name, str(tmp), p, sources, {**options, "workers": 1})
             for name, p in zip(names, pieces, strict=True)],
            on_done=lambda: bar.advance(task), prefix="kb-build-shard",
        )


def _summarize(db, scanned, pieces, results) -> BuildSummary:
    from kb.build import MAX_KEPT_ERRORS

    summary = BuildSummary(db=db)
    for r in results:
        summary.entries += r["entries"]
        summary.residues += r["residues"]
        summary.with_location += r["with_location"]
        summary.skipped += r["skipped"]
        summary.duplicates += r["duplicates"]
        summary.errors.extend(r["errors"][: max(MAX_KEPT_ERRORS - len(summary.errors), 0)])
    too_big = [r["name"] for r in results if r["residues"] + r["entries"] > MAX_SHARD_RESIDUES]
    if too_big:
        raise KBError(f"shard(s) {', '.join(too_big)} hold 2^32 residues or more: use more shards")
    summary.sources = [
        {"path": str(s.path.resolve()), "format": s.fmt, "bytes": s.size, "sha256": s.sha256,
         "records": s.n_entries, "entries": 0, "duplicates": 0, "skipped": 0}
        for s in scanned
    ]
    for r in results:
        for part in r["per_source"]:
            for key in ("entries", "duplicates", "skipped"):
                summary.sources[part["source"]][key] += part[key]
    return summary


def _manifest(scanned, pieces, results, summary: BuildSummary, min_evidence: str,
              k: int) -> dict[str, Any]:
    from kb.build import _tool_version

    offset = 0
    shards = []
    for ps, r in zip(pieces, results, strict=True):
        shards.append({
            "name": r["name"],
            "entry_offset": offset,
            "entries": r["entries"],
            "residues": r["residues"],
            "ranges": [{"source": p.source, "start": p.start, "end": p.end,
                        "records": p.entries} for p in ps],
            "skipped": r["skipped"],
            "duplicates": r["duplicates"],
            "build_seconds": r["seconds"],
            "files": r["files"],
        })
        offset += r["entries"]
    return {
        "format": _FORMAT,
        "version": _VERSION,
        "tool_version": _tool_version(),
        "built": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "build_seconds": round(summary.seconds, 3),
        "k": k,
        "min_evidence": min_evidence,
        "entries": summary.entries,
        "residues": summary.residues,
        "with_location": summary.with_location,
        "skipped": summary.skipped,
        "duplicates_within_shards": summary.duplicates,
        "sources": summary.sources,
        "shards": shards,
    }


# ------------------------------------------------------------------------------ open
def _union_connection(path: Path, manifest: dict[str, Any]) -> Any:
    """An in-memory DuckDB connection with each shard attached read-only and the views
    ``entries`` (global ``entry_id``), ``locations``, ``features``, ``secondary_accessions``,
    ``shard_meta`` (shard, key, value) and ``meta`` (the first shard's) over all of them."""
    import duckdb

    con = duckdb.connect()
    shards = manifest["shards"]
    for i, shard in enumerate(shards):
        db_file = str(path / shard["name"] / "kb.duckdb").replace("'", "''")
        con.execute(f"ATTACH '{db_file}' AS s{i} (READ_ONLY)")
    for table in _TABLES:
        parts = []
        for i, shard in enumerate(shards):
            if table == "entries":
                parts.append(f"SELECT * REPLACE (CAST(entry_id + {int(shard['entry_offset'])} "
                             f"AS INTEGER) AS entry_id) FROM s{i}.{table}")
            else:
                parts.append(f"SELECT * FROM s{i}.{table}")
        con.execute(f"CREATE VIEW {table} AS " + " UNION ALL ".join(parts))
    con.execute("CREATE VIEW shard_meta AS " + " UNION ALL ".join(
        f"SELECT {i} AS shard, key, value FROM s{i}.meta" for i in range(len(shards))))
    con.execute("CREATE VIEW meta AS SELECT key, value FROM s0.meta")
    return con


class ShardedKnowledgeBase(KnowledgeBase):
    """An open sharded knowledge base (see :func:`open_sharded`); the same methods and results
    as :class:`~kb.api.KnowledgeBase` of an unsharded build of the same inputs.

    Attributes:
        path: the sharded directory; manifest: its manifest.
        con: an in-memory DuckDB connection whose views span all shards (global entry ids).
        client: the ``distributed.Client`` searches run on (None: in this process).
        entry_offsets: ``int64``, first global entry id of each shard (and the total at the end).
        store: the concatenated :class:`~kb.seqstore.SequenceStore` (built on first use: it
            reads every shard's residues into memory).
        index: None (each shard has its own).
    """

    def __init__(self, path: Path, manifest: dict[str, Any], client: Any = None,
                 chunk_size: int = 20_000):
        self.manifest = manifest
        self.shard_dirs = [path / s["name"] for s in manifest["shards"]]
        counts = [int(s["entries"]) for s in manifest["shards"]]
        self.entry_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self._store: SequenceStore | None = None
        self._shards: list[KnowledgeBase] | None = None
        self._bucket_sizes: np.ndarray | None = None
        self.client = client
        self.chunk_size = int(chunk_size)
        super().__init__(path, _union_connection(path, manifest), None, None)  # type: ignore
        if client is not None:
            from kb.cluster import register_shard_cache

            register_shard_cache(client)

    @property  # type: ignore[override]
    def store(self) -> SequenceStore:
        """All shards' sequences in one store (concatenated in memory on first use)."""
        if self._store is None:
            stores = [SequenceStore.load(d) for d in self.shard_dirs]
            residues = np.concatenate([np.asarray(s.residues) for s in stores])
            shifts = np.cumsum([0] + [int(s.offsets[-1]) for s in stores[:-1]])
            offsets = np.concatenate(
                [[0]] + [np.asarray(s.offsets[1:]) + sh
                         for s, sh in zip(stores, shifts, strict=True)]
            ).astype(np.int64)
            self._store = SequenceStore(residues, offsets)
        return self._store

    @store.setter
    def store(self, value: SequenceStore | None) -> None:
        if value is not None:
            self._store = value

    @property
    def shards(self) -> list[KnowledgeBase]:
        """The shards opened in this process (on first use)."""
        if self._shards is None:
            from kb.api import open as open_kb

            self._shards = [open_kb(d) for d in self.shard_dirs]
        return self._shards

    def __len__(self) -> int:
        return int(self.entry_offsets[-1])

    def __repr__(self) -> str:
        where = "in-process" if self.client is None else "on a Dask cluster"
        return (f"ShardedKnowledgeBase({str(self.path)!r}, entries={len(self)}, "
                f"shards={len(self.shard_dirs)}, k={self.manifest.get('k')}, {where})")

    def close(self) -> None:
        """Close the DuckDB connections (union and shards)."""
        if self._shards is not None:
            for s in self._shards:
                s.close()
            self._shards = None
        self.con.close()

    def find(self, batch: PeptideBatch, il_equivalent: bool = False):  # noqa: D102
        raise NotImplementedError(
            "find() returns positions into one sequence store; use search() on a sharded "
            "knowledge base"
        )

    @property
    def bucket_sizes(self) -> np.ndarray:
        """The k-mer bucket sizes of the whole knowledge base (the shards' summed; saturated
        ``uint16``, as :func:`kb.index.choose_anchors` takes them): read once from the
        shards' memory-mapped offsets."""
        if self._bucket_sizes is None:
            self._bucket_sizes = summed_bucket_sizes(self.shard_dirs)
        return self._bucket_sizes

    def _shard_parts(self, batch: PeptideBatch, options: dict[str, Any]) -> list[pa.Table]:
        """Per shard, its :data:`kb.shardsearch.SHARD_COLUMNS` (in-process or on the cluster).

        The peptides were validated and de-duplicated once; their k-mer anchors are chosen
        once per peptide (here, or on the cluster once per chunk) from the whole knowledge
        base's bucket sizes (an unsharded build's choice), not once per shard.
        """
        k = int(self.manifest["k"])
        if self.client is not None:
            from kb.cluster import search_on_cluster

            return search_on_cluster(self.client, [str(d) for d in self.shard_dirs], batch,
                                     k, options, self.chunk_size)
        distinct = batch.distinct()
        anchors = None
        if options.get("mismatches") is None:
            anchors = choose_anchors(k, self.bucket_sizes, distinct.buf, distinct.offsets)
        return [search_shard(s, distinct, anchors, **options) for s in self.shards]

    def search_with_summary(
        self,
        peptides: Sequence[str] | PeptideBatch,
        *,
        il_equivalent: bool = False,
        taxon: int | str | None = None,
        reviewed_only: bool = False,
        with_locations: bool = False,
        mismatches: int | None = None,
        **options: Any,
    ) -> SearchResult:
        """As :meth:`KnowledgeBase.search_with_summary`: every shard searches the distinct
        peptides (other keyword options are passed to each shard's search), then the rows are
        merged in global entry order, filtered and expanded to the queries. With
        ``mismatches``, the columns of :data:`kb.api.MISMATCH_COLUMNS` are computed on the
        merged rows from the concatenated store."""
        if mismatches is not None:
            mismatches = check_mismatches(mismatches)
            options["mismatches"] = mismatches
        batch = peptides if isinstance(peptides, PeptideBatch) else prepare_peptides(peptides)
        mask = self.entry_mask(taxon, reviewed_only)  # before the search: a bad taxon fails fast
        parts = (self._shard_parts(batch, {"il_equivalent": il_equivalent, **options})
                 if batch.n_unique else [])
        table, no_hit = merge_shard_rows(batch, parts, self.entry_offsets[:len(parts)].tolist(),
                                         self.accessions, mask)
        if mismatches is not None:
            eid = table.column("entry_id").to_numpy().astype(np.int64)
            starts = (np.asarray(self.store.offsets)[eid]
                      + table.column("start").to_numpy().astype(np.int64) - 1)
            unique = batch.query_unique[table.column("query").to_numpy()]
            for name, column in zip(MISMATCH_COLUMNS, describe_hits(
                    self.store, starts, batch, unique, il_equivalent), strict=True):
                table = table.append_column(name, column)
        if with_locations:
            table = self._add_locations(table, table.column("entry_id").to_numpy())
        table = table.replace_schema_metadata(
            {"n_queries": str(len(batch)), "n_no_hit": str(no_hit.shape[0])}
        )
        return SearchResult(table, len(batch), no_hit)

    def search(self, peptides: Sequence[str] | PeptideBatch, *, as_pandas: bool = False,
               **options: Any) -> pa.Table | Any:
        """As :meth:`KnowledgeBase.search` (same options, same rows)."""
        result = self.search_with_summary(peptides, **options)
        return result.table.to_pandas() if as_pandas else result.table

    def _count(self, batch: PeptideBatch, il_equivalent: bool, mask: np.ndarray | None,
               chunk: int) -> pa.Table:
        """:meth:`KnowledgeBase.count` over the shards: the sum of every shard's counts (an
        entry lies in one shard, so occurrences and distinct entries add up). ``mask`` was
        resolved once over the whole knowledge base (a shard built from inputs without
        taxonomy simply holds no entry of the taxon); each shard counts under its slice."""
        occurrences = np.zeros(len(batch), dtype=np.int64)
        entries = np.zeros(len(batch), dtype=np.int64)
        for s, shard in enumerate(self.shards):
            part_mask = None
            if mask is not None:
                part_mask = mask[self.entry_offsets[s]:self.entry_offsets[s + 1]]
                if not part_mask.any():  # no entry of this shard passes the filters
                    continue
            part = shard._count(batch, il_equivalent, part_mask, chunk)
            occurrences += part.column("occurrences").to_numpy()
            entries += part.column("entries").to_numpy()
        return pa.table({
            "query": pa.array(np.arange(len(batch), dtype=np.int32)),
            "peptide": batch.unique_array().take(pa.array(batch.query_unique)),
            "occurrences": pa.array(occurrences),
            "entries": pa.array(entries),
        })

    def info(self) -> dict[str, Any]:
        """Facts about the sharded knowledge base (see :func:`info`)."""
        return info(self.path, manifest=self.manifest, con=self.con)


def open_sharded(path: str | Path, *, client: Any = None, verify: bool = True,
                 chunk_size: int = 20_000) -> ShardedKnowledgeBase:
    """Open a sharded knowledge base (``kb.open`` calls this for a directory with a manifest).

    Arguments:
        path: the sharded directory.
        client: a ``distributed.Client`` to search on (its workers must read the shards at
            the same path); None: search in this process, shard by shard.
        verify: check the sha256 of every shard file (see :func:`read_manifest`).
        chunk_size: distinct peptides per cluster task.

    Raises:
        KBNotFoundError, ShardError: see :func:`read_manifest`.
    """
    path = Path(path)
    return ShardedKnowledgeBase(path, read_manifest(path, verify=verify), client, chunk_size)


def open_single_on_cluster(path: str | Path, client: Any) -> ShardedKnowledgeBase:
    """An unsharded knowledge base opened for searching on a cluster (as one shard)."""
    from kb.api import _missing_parts
    from kb.store import read_meta

    path = Path(path)
    missing = _missing_parts(path)
    if missing:
        raise KBNotFoundError(
            f"not a finished knowledge base: missing {', '.join(missing)}; run 'kb build'", path
        )
    meta = read_meta(path)
    n = int(np.load(path / "offsets.npy", mmap_mode="r").shape[0]) - 1
    manifest = {
        "format": _FORMAT, "version": _VERSION, "k": meta.get("k"),
        "min_evidence": meta.get("min_evidence"), "sources": meta.get("sources", []),
        "entries": n, "residues": meta.get("residues"),
        "shards": [{"name": ".", "entry_offset": 0, "entries": n,
                    "residues": meta.get("residues"), "files": {}}],
    }
    return ShardedKnowledgeBase(path, manifest, client)


def info(directory: str | Path, *, manifest: dict[str, Any] | None = None,
         con: Any = None, checksums: bool = False) -> dict[str, Any]:
    """Facts about a sharded knowledge base, shaped like :func:`kb.store.info` plus
    ``shards`` (name, entries, residues, bytes per shard) and ``checked_files`` (the shard
    files whose sizes, and with ``checksums`` SHA-256, match the manifest).

    Raises:
        ShardError: a shard file missing, or of the wrong size or (``checksums``) checksum.
    """
    directory = Path(directory)
    if manifest is None or checksums:
        manifest = read_manifest(directory, verify=checksums)
    own = con is None
    con = con if con is not None else _union_connection(directory, manifest)
    try:
        tables = {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in _TABLES}
        classes = dict(con.execute(
            "SELECT coalesce(class, 'null') AS c, count(DISTINCT accession) FROM locations "
            "GROUP BY c ORDER BY 2 DESC, 1").fetchall())
        with_class = con.execute(
            "SELECT count(DISTINCT accession) FROM locations WHERE class IS NOT NULL"
        ).fetchall()[0][0]
        index_meta = dict(con.execute(
            "SELECT key, value FROM meta WHERE key LIKE 'index.%' AND key <> 'index.n_positions'"
        ).fetchall())
        positions = con.execute(
            "SELECT sum(CAST(value AS BIGINT)) FROM shard_meta WHERE key = 'index.n_positions'"
        ).fetchall()[0][0]
    finally:
        if own:
            con.close()
    files = {}
    for s in manifest["shards"]:
        for name, facts in s["files"].items():
            files[f"{s['name']}/{name}"] = facts["bytes"]
    index_meta = {k[len("index."):]: _json_or_str(v) for k, v in index_meta.items()}
    index_meta["n_positions"] = int(positions or 0)
    return {
        "db": str(directory),
        "tables": tables,
        "classes": classes,
        "entries_with_class": with_class,
        "sources": manifest["sources"],
        "min_evidence": manifest.get("min_evidence"),
        "index": index_meta,
        "files": files,
        "index_bytes": sum(v for k, v in files.items() if "/kmer_" in k),
        "total_bytes": sum(files.values()),
        "checked_files": sorted(files),
        "shards": [{"name": s["name"], "entries": s["entries"], "residues": s["residues"],
                    "bytes": sum(f["bytes"] for f in s["files"].values())}
                   for s in manifest["shards"]],
        "meta": {k: v for k, v in manifest.items() if k not in ("shards", "sources")},
    }


def _json_or_str(value: str) -> Any:
    try:
        return json.loads(value)
    except (TypeError, json.JSONDecodeError):
        return value
