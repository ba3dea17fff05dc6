"""The DuckDB knowledge-base store: stream entries into ``kb.duckdb`` and the sequence store.

The schema is a public interface, documented in ``docs/schema.md``:

* ``entries(entry_id, accession PRIMARY KEY, entry_name, reviewed, protein_name, gene,
  organism, taxon_id, lineage, length, sequence, seq_hash)``: ``entry_id`` is 0..n-1, the row
  order of the :class:`~kb.seqstore.SequenceStore`; ``seq_hash`` the hex MD5 of the sequence.
* ``secondary_accessions(secondary, accession)``.
* ``locations(accession, isoform, term, sl_id, class, evidence, topology)``: one row per
  location term; ``class`` from :mod:`kb.locations` (or the dataset label).
* ``features(accession, type, start, "end", description, evidence)``.
* ``meta(key, value)``.

Rows are buffered per column and written through pyarrow tables (no per-row ``INSERT``), in
groups of at least ``insert_rows`` entries: DuckDB writes a large insert straight into the
database file, while many small inserts each go through its write-ahead log and trigger
repeated automatic checkpoints (measured on 570k entries: 1,500-entry inserts took 3-4x the
CPU time of 65,536-entry ones, same rows). A group is inserted by a background thread while
the next one is collected (DuckDB releases the GIL). Duplicate accessions: the first
occurrence wins; later ones are counted and skipped. A finished build has a ``_SUCCESS``
marker file (see :func:`is_complete`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import chain
from operator import attrgetter
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from kb.alphabet import sequence_hash
from kb.errors import KBPathError
from kb.layout import check_manifest, require_knowledge_base, resolve
from kb.locations import LocationMapper, default_mapper
from kb.records import Entry
from kb.seqstore import SequenceStore

__all__ = [
    "DB_FILE",
    "SUCCESS_FILE",
    "MIN_EVIDENCE",
    "EXPERIMENTAL_ECO",
    "SCHEMA_VERSION",
    "Batch",
    "entries_to_batch",
    "KBWriter",
    "is_complete",
    "read_meta",
    "info",
    "stale_sources",
    "connect_read_only",
]

DB_FILE = "kb.duckdb"
SUCCESS_FILE = "_SUCCESS"
#: Accepted values of ``min_evidence``.
MIN_EVIDENCE = ("any", "experimental")
#: ECO code of experimental evidence (DeepLoc's selection rule).
EXPERIMENTAL_ECO = "ECO:0000269"
SCHEMA_VERSION = "1"

_DDL = """
CREATE TABLE entries (
    entry_id INTEGER NOT NULL,
    accession VARCHAR PRIMARY KEY,
    entry_name VARCHAR,
    reviewed BOOLEAN,
    protein_name VARCHAR,
    gene VARCHAR,
    organism VARCHAR,
    taxon_id INTEGER,
    lineage VARCHAR,
    length INTEGER NOT NULL,
    sequence VARCHAR NOT NULL,
    seq_hash VARCHAR NOT NULL
);
CREATE TABLE secondary_accessions (secondary VARCHAR NOT NULL, accession VARCHAR NOT NULL);
CREATE TABLE locations (
    accession VARCHAR NOT NULL,
    isoform VARCHAR,
    term VARCHAR NOT NULL,
    sl_id VARCHAR,
    class VARCHAR,
    evidence VARCHAR,
    topology VARCHAR
);
CREATE TABLE features (
    accession VARCHAR NOT NULL,
    type VARCHAR NOT NULL,
    start INTEGER,
    "end" INTEGER,
    description VARCHAR,
    evidence VARCHAR
);
CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR);
"""

_CHILD_TABLES = ("secondary_accessions", "locations", "features")
_SCHEMAS: dict[str, pa.Schema] = {
    "entries": pa.schema(
        [
            ("entry_id", pa.int32()),
            ("accession", pa.string()),
            ("entry_name", pa.string()),
            ("reviewed", pa.bool_()),
            ("protein_name", pa.string()),
            ("gene", pa.string()),
            ("organism", pa.string()),
            ("taxon_id", pa.int32()),
            ("lineage", pa.string()),
            ("length", pa.int32()),
            ("sequence", pa.string()),
            ("seq_hash", pa.string()),
        ]
    ),
    "secondary_accessions": pa.schema([("secondary", pa.string()), ("accession", pa.string())]),
    "locations": pa.schema(
        [
            ("accession", pa.string()),
            ("isoform", pa.string()),
            ("term", pa.string()),
            ("sl_id", pa.string()),
            ("class", pa.string()),
            ("evidence", pa.string()),
            ("topology", pa.string()),
        ]
    ),
    "features": pa.schema(
        [
            ("accession", pa.string()),
            ("type", pa.string()),
            ("start", pa.int32()),
            ("end", pa.int32()),
            ("description", pa.string()),
            ("evidence", pa.string()),
        ]
    ),
}


@dataclass
class Batch:
    """Entries converted to columns, ready for the database (built in parser workers too).

    Attributes:
        tables: ``entries`` (without ``entry_id``), ``secondary_accessions``, ``locations``,
            ``features``; the child tables carry a ``_row`` column (row of the entry in
            ``entries``) so duplicate entries can be dropped with their rows.
        residues: the sequences joined, each followed by ``*``.
        lengths: sequence lengths (``int64``).
        dropped_locations: location rows removed by ``min_evidence``.
    """

    tables: dict[str, pa.Table]
    residues: bytes
    lengths: np.ndarray
    dropped_locations: int = 0

    def __len__(self) -> int:
        return len(self.lengths)


_ENTRY_FIELDS = attrgetter("accession", "entry_name", "reviewed", "protein_name", "gene",
                           "organism", "taxon_id", "lineage", "sequence")
_LOCATION_FIELDS = attrgetter("term", "isoform", "evidence", "topology", "label_class")
_FEATURE_FIELDS = attrgetter("type", "start", "end", "description", "evidence")
_SECONDARY = attrgetter("secondary_accessions")
_LOCATIONS = attrgetter("locations")
_FEATURES = attrgetter("features")


def _columns(fields: attrgetter, items: list, width: int) -> list:
    """The attributes ``fields`` of every item, one list per attribute."""
    if not items:
        return [[] for _ in range(width)]
    return list(map(list, zip(*map(fields, items), strict=True)))


def _children(entries: list, field: attrgetter, n: int) -> tuple[np.ndarray, list]:
    """A list attribute of every entry flattened, with the row of each item's entry."""
    lists = list(map(field, entries))
    counts = list(map(len, lists))
    rows = np.repeat(np.arange(n, dtype=np.int32), counts) if n else np.zeros(0, np.int32)
    return rows, list(chain.from_iterable(lists))


def entries_to_batch(
    entries: Iterable[Entry], mapper: LocationMapper | None = None, min_evidence: str = "any"
) -> Batch:
    """Convert entries to a columnar :class:`Batch` (location terms mapped to classes).

    Arguments:
        entries: the entries.
        mapper: term -> class mapper (default: the shipped map).
        min_evidence: ``"any"`` or ``"experimental"`` (see :class:`KBWriter`).
    """
    mapper = mapper or default_mapper()
    lookup = mapper.lookup
    experimental_only = min_evidence == "experimental"
    entries = entries if isinstance(entries, list) else list(entries)
    # Columns by transposing attribute tuples (operator.attrgetter + zip run in C): a
    # comprehension per column costs ~10x more per entry.
    n = len(entries)
    (accession, entry_name, reviewed, protein_name, gene, organism, taxon_id, lineage,
     e_seq) = _columns(_ENTRY_FIELDS, entries, 9)
    e_len = list(map(len, e_seq))
    accession_column = pa.array(accession, pa.string())
    cols: dict[str, dict[str, Any]] = {
        "entries": {
            "accession": accession_column,
            "entry_name": entry_name,
            "reviewed": reviewed,
            "protein_name": protein_name,
            "gene": gene,
            "organism": organism,
            "taxon_id": taxon_id,
            "lineage": lineage,
            "length": e_len,
            "sequence": e_seq,
            "seq_hash": list(map(sequence_hash, e_seq)),
        }
    }
    sec_rows, sec = _children(entries, _SECONDARY, n)
    cols["secondary_accessions"] = {
        "secondary": sec,
        "accession": accession_column.take(sec_rows),
        "_row": sec_rows,
    }
    loc_rows, locs = _children(entries, _LOCATIONS, n)
    dropped = 0
    if experimental_only:
        keep = [i for i, x in enumerate(locs)
                if x.label_class is not None
                or (x.evidence is not None and EXPERIMENTAL_ECO in x.evidence)]
        dropped = len(locs) - len(keep)
        loc_rows, locs = loc_rows[keep], [locs[i] for i in keep]
    term, isoform, evidence, topology, label_class = _columns(_LOCATION_FIELDS, locs, 5)
    matched = [None if c is not None else lookup(t)
               for t, c in zip(term, label_class, strict=True)]
    cols["locations"] = {
        "accession": accession_column.take(loc_rows),
        "isoform": isoform,
        "term": term,
        "sl_id": [None if m is None else m.sl_id for m in matched],
        "class": [c if m is None else m.label_class
                  for c, m in zip(label_class, matched, strict=True)],
        "evidence": evidence,
        "topology": topology,
        "_row": loc_rows,
    }
    feat_rows, feats = _children(entries, _FEATURES, n)
    f_type, f_start, f_end, f_desc, f_ev = _columns(_FEATURE_FIELDS, feats, 5)
    cols["features"] = {
        "accession": accession_column.take(feat_rows),
        "type": f_type,
        "start": f_start,
        "end": f_end,
        "description": f_desc,
        "evidence": f_ev,
        "_row": feat_rows,
    }
    tables = {}
    for t, schema in _SCHEMAS.items():
        fields = [f for f in schema if f.name != "entry_id"]
        if t in _CHILD_TABLES:
            fields.append(pa.field("_row", pa.int32()))
        tables[t] = pa.table(cols[t], schema=pa.schema(fields))
    residues = ("*".join(e_seq) + "*").encode("ascii") if e_seq else b""
    return Batch(tables, residues, np.asarray(e_len, dtype=np.int64), dropped)


class KBWriter:
    """Stream entries into a new knowledge-base directory (normally a temporary one).

    Entries come one at a time (:meth:`add`, buffered and converted per ``batch_size``) or as
    ready :class:`Batch` es (:meth:`add_batch`, e.g. from parser workers). Duplicate
    accessions: the first occurrence wins, later ones are counted in ``n_duplicates``.

    Arguments:
        directory: an existing, empty directory.
        min_evidence: ``"any"`` keeps every location row; ``"experimental"`` keeps only rows
            whose evidence contains ``ECO:0000269`` (DeepLoc's rule) and dataset-label rows
            (table/FASTA labels already are curated classes and carry no evidence).
        mapper: the term -> class mapper (default: the shipped map).
        batch_size: entries buffered by :meth:`add` before they are converted to a batch.
        insert_rows: entries whose rows are collected (as Arrow tables) before they are
            inserted into DuckDB in one statement per table.

    Raises:
        ValueError: an unknown ``min_evidence``.
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        min_evidence: str = "any",
        mapper: LocationMapper | None = None,
        batch_size: int = 20_000,
        insert_rows: int = 65_536,
    ):
        if min_evidence not in MIN_EVIDENCE:
            raise ValueError(
                f"min_evidence must be one of {', '.join(MIN_EVIDENCE)}, got {min_evidence!r}"
            )
        self.directory = Path(directory)
        self.min_evidence = min_evidence
        self.mapper = mapper or default_mapper()
        self.batch_size = batch_size
        self.insert_rows = insert_rows
        self._pending: dict[str, list[pa.Table]] = {t: [] for t in _SCHEMAS}
        self._pending_entries = 0
        # One background thread inserts a group while the caller collects the next one
        # (DuckDB releases the GIL); every other use of ``con`` first waits for it.
        self._inserter = ThreadPoolExecutor(1, thread_name_prefix="kb-insert")
        self._inserting: list[Future] = []
        # One thread: parser processes keep the cores busy (a second DuckDB thread only adds
        # switching); a small memory limit lets DuckDB drop blocks it has written to the file
        # (the k-mer index needs the memory next).
        self.con = duckdb.connect(str(self.directory / DB_FILE),
                                  config={"threads": 1, "memory_limit": "256MB"})
        self.con.execute(_DDL)
        self._seen: set[str] = set()
        self._buffer: list[Entry] = []
        self._residue_chunks: list[bytes] = []
        self._lengths: list[np.ndarray] = []
        self.n_entries = 0
        self.n_residues = 0
        self.n_duplicates = 0
        self.n_location_rows_dropped = 0
        self.n_with_location = 0

    def add(self, entry: Entry) -> None:
        """Add one entry (buffered; converted every ``batch_size`` entries, inserted in groups
        of ``insert_rows``; :meth:`flush` inserts everything)."""
        self._buffer.append(entry)
        if len(self._buffer) >= self.batch_size:
            self._convert_buffer()

    def add_all(self, entries: Iterable[Entry]) -> None:
        """Add every entry of an iterable."""
        for e in entries:
            self.add(e)

    def flush(self) -> None:
        """Convert the buffered entries and insert every collected row into DuckDB."""
        self._convert_buffer()
        self._insert_pending()
        self._wait_insert()

    def _convert_buffer(self) -> None:
        if self._buffer:
            batch = entries_to_batch(self._buffer, self.mapper, self.min_evidence)
            self._buffer = []
            self.add_batch(batch)

    def add_batch(self, batch: Batch) -> None:
        """Write a :class:`Batch`: drop duplicate accessions, number the entries, insert rows."""
        if len(batch) == 0:
            return
        self.n_location_rows_dropped += batch.dropped_locations
        entries = batch.tables["entries"]
        accessions = entries.column("accession").to_pylist()
        seen = self._seen
        residues, lengths = batch.residues, batch.lengths
        child = {t: batch.tables[t] for t in _CHILD_TABLES}
        unique = set(accessions)
        if len(unique) == len(accessions) and seen.isdisjoint(unique):
            seen |= unique
        else:  # duplicates: rare, slow path
            keep = np.zeros(len(accessions), dtype=bool)
            for i, acc in enumerate(accessions):
                if acc not in seen:
                    seen.add(acc)
                    keep[i] = True
            self.n_duplicates += int((~keep).sum())
            entries = entries.filter(pa.array(keep))
            lengths = lengths[keep]
            seqs = entries.column("sequence").to_pylist()
            residues = ("*".join(seqs) + "*").encode("ascii") if seqs else b""
            for t, tab in child.items():
                child[t] = tab.filter(pa.array(keep[tab.column("_row").to_numpy()]))
        n = len(lengths)
        if n == 0:
            return
        locs = child["locations"]
        if locs.num_rows:  # entries (rows of this batch) with a location of a DeepLoc class
            classed = locs.column("_row").to_numpy()[locs.column("class").is_valid().to_numpy(
                zero_copy_only=False)]
            self.n_with_location += int(np.unique(classed).shape[0])
        ids = pa.array(np.arange(self.n_entries, self.n_entries + n, dtype=np.int32))
        self._pending["entries"].append(entries.add_column(0, "entry_id", ids))
        for t, tab in child.items():
            if tab.num_rows:
                self._pending[t].append(tab.drop_columns(["_row"]))
        self._pending_entries += n
        self._residue_chunks.append(residues)
        self._lengths.append(lengths)
        self.n_entries += n
        self.n_residues += int(lengths.sum())
        if self._pending_entries >= self.insert_rows:
            self._insert_pending()

    def _insert_pending(self, wait: bool = True) -> None:
        """Start inserting the collected rows in the background thread (after the previous
        group): one ``INSERT`` per table (see the module docstring). ``wait``: first wait for
        the group in flight (one group at a time bounds the memory); without, the group is
        queued behind it (the last group of a build)."""
        if wait:
            self._wait_insert()
        group = {t: pa.concat_tables(parts) for t, parts in self._pending.items() if parts}
        self._pending = {t: [] for t in _SCHEMAS}
        self._pending_entries = 0
        if group:
            self._inserting.append(self._inserter.submit(self._insert_group, group))

    def _insert_group(self, group: dict[str, pa.Table]) -> None:
        for table, data in group.items():
            self.con.register("_kb_batch", data)
            try:
                self.con.execute(f"INSERT INTO {table} SELECT * FROM _kb_batch")
            finally:
                self.con.unregister("_kb_batch")

    def _wait_insert(self) -> None:
        """Wait for the background inserts (re-raising the first error)."""
        inserting, self._inserting = self._inserting, []
        for done in inserting:
            done.result()

    def count_with_location(self) -> int:
        """Entries with at least one location row that has a DeepLoc class (counted as the
        batches are added: the same as ``SELECT count(DISTINCT accession) FROM locations
        WHERE class IS NOT NULL``, without a pass over the table)."""
        self._convert_buffer()
        return self.n_with_location

    def sequence_store(self) -> SequenceStore:
        """The sequence store of everything added so far. The last rows are still being
        inserted into DuckDB in the background when it returns (:meth:`flush` or the next
        use of ``con`` waits for them), so the store can be written meanwhile."""
        self._convert_buffer()
        self._insert_pending(wait=False)
        residues = np.frombuffer(b"".join(self._residue_chunks), dtype=np.uint8)
        self._residue_chunks = []
        lengths = np.concatenate(self._lengths) if self._lengths else np.zeros(0, np.int64)
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths + 1, out=offsets[1:])
        return SequenceStore(residues, offsets)

    def write_meta(self, meta: dict[str, Any]) -> None:
        """Insert ``meta`` rows (values JSON-encoded unless they are strings)."""
        self.flush()
        rows = [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in meta.items()]
        self.con.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", rows)

    def close(self) -> None:
        """Insert what is left, checkpoint and close the DuckDB connection."""
        self.flush()
        self._inserter.shutdown()
        self.con.execute("CHECKPOINT")
        self.con.close()

    def abort(self) -> None:
        """Close the DuckDB connection without inserting what is left (a failed build)."""
        self._inserter.shutdown(wait=True, cancel_futures=True)
        self.con.close()


def is_complete(directory: str | Path) -> bool:
    """True when ``directory`` holds a finished build (``_SUCCESS`` marker and ``kb.duckdb``
    in the version its ``current`` pointer names, see :mod:`kb.layout`)."""
    v = resolve(directory)
    return (v / SUCCESS_FILE).is_file() and (v / DB_FILE).is_file()


def _require_complete(directory: str | Path) -> Path:
    """The version directory of a finished build (raises :class:`KBNotFoundError`)."""
    return require_knowledge_base(directory)


def connect_read_only(db_file: Path, shown: str | Path | None = None) -> Any:
    """A read-only DuckDB connection; DuckDB errors (a file locked by a writer, not a
    database) become a :class:`~kb.layout.KBPathError` naming the file."""
    try:
        return duckdb.connect(str(db_file), read_only=True)
    except duckdb.Error as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if "lock" in first.lower():
            first = "locked by another process (" + first + ")"
        raise KBPathError(f"cannot open the database: {first}", shown or db_file) from None


def stale_sources(sources: list[dict[str, Any]], checksums: bool = False) -> list[dict[str, Any]]:
    """Sources of a build that changed since (``meta.sources``).

    A source is ``stale`` when its size or modification time (or, with ``checksums``, its
    SHA-256) differs from what the build recorded, ``missing`` when the file is gone.

    Returns:
        One dict per changed source: ``path``, ``status`` (``stale``/``missing``), ``why``.
    """
    out: list[dict[str, Any]] = []
    for src in sources:
        path = Path(src["path"])
        try:
            st = path.stat()
        except OSError:
            out.append({"path": str(path), "status": "missing", "why": "file not found"})
            continue
        why = []
        if "bytes" in src and st.st_size != src["bytes"]:
            why.append(f"size {src['bytes']:,} -> {st.st_size:,} bytes")
        if "mtime" in src and abs(st.st_mtime - float(src["mtime"])) > 1e-3:
            why.append("modified since the build")
        if checksums and not why and "sha256" in src:
            from kb.layout import sha256_file

            if sha256_file(path) != src["sha256"]:
                why.append("sha256 differs")
        if why:
            out.append({"path": str(path), "status": "stale", "why": ", ".join(why)})
    return out


def read_meta(directory: str | Path) -> dict[str, Any]:
    """The ``meta`` table of a finished build, JSON values decoded.

    Raises:
        KBNotFoundError: the directory is missing or not a finished build.
    """
    d = _require_complete(directory)
    with connect_read_only(d / DB_FILE, directory) as con:
        rows = con.execute("SELECT key, value FROM meta ORDER BY key").fetchall()
    out: dict[str, Any] = {}
    for k, v in rows:
        try:
            out[k] = json.loads(v)
        except (TypeError, json.JSONDecodeError):
            out[k] = v
    return out


def info(directory: str | Path, checksums: bool = False) -> dict[str, Any]:
    """Facts about a finished build: row counts per table, class distribution, sources, sizes.

    Arguments:
        directory: the knowledge-base directory.
        checksums: verify the SHA-256 of every knowledge-base file (against its manifest) and
            of every source (``kb info --check``); sizes and times only otherwise.

    Returns:
        ``{"db", "version", "tables": {table: rows}, "classes": {class: entries},
        "entries_with_class", "sources": [...], "stale_sources": [...], "provides": {...},
        "min_evidence", "index": {...}, "files": {name: bytes}, "checked_files": [...],
        "index_bytes", "total_bytes", "meta": {...}}``. ``classes`` counts distinct entries
        per class (an entry with two classes counts in both; ``unmapped`` = entries with a
        location term that maps to no class).

    Raises:
        KBNotFoundError: the directory is missing or not a finished build.
        KBCorruptError: a knowledge-base file differs from the manifest (size; checksum with
            ``checksums``).
    """
    d = _require_complete(directory)
    checked = check_manifest(d, checksums=checksums)
    meta = read_meta(directory)
    with connect_read_only(d / DB_FILE, directory) as con:
        tables = {
            t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("entries", "secondary_accessions", "locations", "features", "meta")
        }
        classes = dict(
            con.execute(
                "SELECT coalesce(class, 'unmapped') AS c, count(DISTINCT accession) FROM locations "
                "GROUP BY c ORDER BY 2 DESC, 1"
            ).fetchall()
        )
        with_class = con.execute(
            "SELECT count(DISTINCT accession) FROM locations WHERE class IS NOT NULL"
        ).fetchone()[0]
    files = {p.name: p.stat().st_size for p in sorted(d.iterdir()) if p.is_file()}
    index_bytes = sum(v for k, v in files.items() if k.startswith("kmer_"))
    sources = meta.get("sources", [])
    return {
        "db": str(directory),
        "version": d.name if d != Path(directory) else None,
        "tables": tables,
        "classes": classes,
        "entries_with_class": with_class,
        "sources": sources,
        "stale_sources": stale_sources(sources, checksums=checksums),
        "provides": meta.get("provides"),
        "checked_files": checked,
        "min_evidence": meta.get("min_evidence"),
        "index": {k[len("index.") :]: v for k, v in meta.items() if k.startswith("index.")},
        "files": files,
        "index_bytes": index_bytes,
        "total_bytes": sum(files.values()),
        "meta": meta,
    }
