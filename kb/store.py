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

Rows are buffered per column and written in batches through pyarrow tables (no per-row
``INSERT``). Duplicate accessions: the first occurrence wins; later ones are counted and
skipped. A finished build has a ``_SUCCESS`` marker file (see :func:`is_complete`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from kb.errors import KBNotFoundError
from kb.locations import LocationMapper, default_mapper
from kb.records import Entry
from kb.seqstore import SequenceStore

__all__ = [
    "DB_FILE",
    "SUCCESS_FILE",
    "MIN_EVIDENCE",
    "EXPERIMENTAL_ECO",
    "SCHEMA_VERSION",
    "KBWriter",
    "is_complete",
    "read_meta",
    "info",
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


class KBWriter:
    """Stream entries into a new knowledge-base directory (normally a temporary one).

    Arguments:
        directory: an existing, empty directory.
        min_evidence: ``"any"`` keeps every location row; ``"experimental"`` keeps only rows
            whose evidence contains ``ECO:0000269`` (DeepLoc's rule) and dataset-label rows
            (table/FASTA labels already are curated classes and carry no evidence).
        mapper: the term -> class mapper (default: the shipped map).
        batch_size: entries buffered before a batch is written to DuckDB.

    Raises:
        ValueError: an unknown ``min_evidence``.
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        min_evidence: str = "any",
        mapper: LocationMapper | None = None,
        batch_size: int = 50_000,
    ):
        if min_evidence not in MIN_EVIDENCE:
            raise ValueError(
                f"min_evidence must be one of {', '.join(MIN_EVIDENCE)}, got {min_evidence!r}"
            )
        self.directory = Path(directory)
        self.min_evidence = min_evidence
        self.mapper = mapper or default_mapper()
        self.batch_size = batch_size
        self.con = duckdb.connect(str(self.directory / DB_FILE))
        self.con.execute(_DDL)
        self._seen: set[str] = set()
        self._cols: dict[str, dict[str, list]] = {
            t: {name: [] for name in s.names} for t, s in _SCHEMAS.items()
        }
        self._pending = 0
        self._residue_chunks: list[bytes] = []
        self._lengths: list[int] = []
        self.n_entries = 0
        self.n_residues = 0
        self.n_with_location = 0
        self.n_duplicates = 0
        self.n_location_rows_dropped = 0

    def add(self, entry: Entry) -> bool:
        """Add one entry; returns ``False`` (and counts it) when its accession was seen before."""
        acc = entry.accession
        if acc in self._seen:
            self.n_duplicates += 1
            return False
        self._seen.add(acc)
        seq = entry.sequence
        c = self._cols["entries"]
        c["entry_id"].append(self.n_entries)
        c["accession"].append(acc)
        c["entry_name"].append(entry.entry_name)
        c["reviewed"].append(entry.reviewed)
        c["protein_name"].append(entry.protein_name)
        c["gene"].append(entry.gene)
        c["organism"].append(entry.organism)
        c["taxon_id"].append(entry.taxon_id)
        c["lineage"].append(entry.lineage)
        c["length"].append(len(seq))
        c["sequence"].append(seq)
        c["seq_hash"].append(hashlib.md5(seq.encode("ascii")).hexdigest())
        if entry.secondary_accessions:
            s = self._cols["secondary_accessions"]
            for sec in entry.secondary_accessions:
                s["secondary"].append(sec)
                s["accession"].append(acc)
        mapped = False
        if entry.locations:
            loc = self._cols["locations"]
            experimental_only = self.min_evidence == "experimental"
            lookup = self.mapper.lookup
            for location in entry.locations:
                if location.label_class is not None:
                    sl_id, cls_ = None, location.label_class
                else:
                    if experimental_only and (
                        location.evidence is None or EXPERIMENTAL_ECO not in location.evidence
                    ):
                        self.n_location_rows_dropped += 1
                        continue
                    match = lookup(location.term)
                    sl_id, cls_ = match.sl_id, match.label_class
                mapped = mapped or cls_ is not None
                loc["accession"].append(acc)
                loc["isoform"].append(location.isoform)
                loc["term"].append(location.term)
                loc["sl_id"].append(sl_id)
                loc["class"].append(cls_)
                loc["evidence"].append(location.evidence)
                loc["topology"].append(location.topology)
        if entry.features:
            f = self._cols["features"]
            for feat in entry.features:
                f["accession"].append(acc)
                f["type"].append(feat.type)
                f["start"].append(feat.start)
                f["end"].append(feat.end)
                f["description"].append(feat.description)
                f["evidence"].append(feat.evidence)
        self.n_entries += 1
        self.n_residues += len(seq)
        self.n_with_location += mapped
        self._pending += 1
        if self._pending >= self.batch_size:
            self.flush()
        return True

    def add_all(self, entries: Iterable[Entry]) -> None:
        """Add every entry of an iterable."""
        for e in entries:
            self.add(e)

    def flush(self) -> None:
        """Write the buffered rows to DuckDB and the buffered sequences to the residue chunks."""
        seqs = self._cols["entries"]["sequence"]
        if seqs:
            self._residue_chunks.append(("*".join(seqs) + "*").encode("ascii"))
            self._lengths.extend(self._cols["entries"]["length"])
        for table, schema in _SCHEMAS.items():
            cols = self._cols[table]
            if not cols[schema.names[0]]:
                continue
            batch = pa.table(cols, schema=schema)  # noqa: F841 - read by DuckDB below
            self.con.execute(f"INSERT INTO {table} SELECT * FROM batch")
            self._cols[table] = {name: [] for name in schema.names}
        self._pending = 0

    def sequence_store(self) -> SequenceStore:
        """The sequence store of everything added so far (flushes first)."""
        self.flush()
        residues = np.frombuffer(b"".join(self._residue_chunks), dtype=np.uint8)
        offsets = np.zeros(len(self._lengths) + 1, dtype=np.int64)
        np.cumsum(np.asarray(self._lengths, dtype=np.int64) + 1, out=offsets[1:])
        self._residue_chunks = []
        return SequenceStore(residues, offsets)

    def write_meta(self, meta: dict[str, Any]) -> None:
        """Insert ``meta`` rows (values JSON-encoded unless they are strings)."""
        rows = [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in meta.items()]
        self.con.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", rows)

    def close(self) -> None:
        """Checkpoint and close the DuckDB connection."""
        self.con.execute("CHECKPOINT")
        self.con.close()


def is_complete(directory: str | Path) -> bool:
    """True when ``directory`` holds a finished build (``_SUCCESS`` marker and ``kb.duckdb``)."""
    d = Path(directory)
    return (d / SUCCESS_FILE).is_file() and (d / DB_FILE).is_file()


def _require_complete(directory: str | Path) -> Path:
    d = Path(directory)
    if not d.is_dir():
        raise KBNotFoundError("knowledge-base directory does not exist", d)
    if not is_complete(d):
        raise KBNotFoundError(
            f"not a finished knowledge base (no {SUCCESS_FILE} / {DB_FILE}); run 'kb build'", d
        )
    return d


def read_meta(directory: str | Path) -> dict[str, Any]:
    """The ``meta`` table of a finished build, JSON values decoded.

    Raises:
        KBNotFoundError: the directory is missing or not a finished build.
    """
    d = _require_complete(directory)
    with duckdb.connect(str(d / DB_FILE), read_only=True) as con:
        rows = con.execute("SELECT key, value FROM meta ORDER BY key").fetchall()
    out: dict[str, Any] = {}
    for k, v in rows:
        try:
            out[k] = json.loads(v)
        except (TypeError, json.JSONDecodeError):
            out[k] = v
    return out


def info(directory: str | Path) -> dict[str, Any]:
    """Facts about a finished build: row counts per table, class distribution, sources, sizes.

    Returns:
        ``{"db", "tables": {table: rows}, "classes": {class: entries}, "entries_with_class",
        "sources": [...], "min_evidence", "index": {...}, "files": {name: bytes},
        "index_bytes", "total_bytes", "meta": {...}}``. ``classes`` counts distinct entries per
        class (an entry with two classes counts in both; ``null`` = rows with no class).

    Raises:
        KBNotFoundError: the directory is missing or not a finished build.
    """
    d = _require_complete(directory)
    meta = read_meta(d)
    with duckdb.connect(str(d / DB_FILE), read_only=True) as con:
        tables = {
            t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("entries", "secondary_accessions", "locations", "features", "meta")
        }
        classes = dict(
            con.execute(
                "SELECT coalesce(class, 'null') AS c, count(DISTINCT accession) FROM locations "
                "GROUP BY c ORDER BY 2 DESC, 1"
            ).fetchall()
        )
        with_class = con.execute(
            "SELECT count(DISTINCT accession) FROM locations WHERE class IS NOT NULL"
        ).fetchone()[0]
    files = {p.name: p.stat().st_size for p in sorted(d.iterdir()) if p.is_file()}
    index_bytes = sum(v for k, v in files.items() if k.startswith("kmer_"))
    return {
        "db": str(d),
        "tables": tables,
        "classes": classes,
        "entries_with_class": with_class,
        "sources": meta.get("sources", []),
        "min_evidence": meta.get("min_evidence"),
        "index": {k[len("index.") :]: v for k, v in meta.items() if k.startswith("index.")},
        "files": files,
        "index_bytes": index_bytes,
        "total_bytes": sum(files.values()),
        "meta": meta,
    }
