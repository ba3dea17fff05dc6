"""The DuckDB store and the build (kb.store, kb.build) on real Swiss-Prot entries."""

from __future__ import annotations

import gzip
import hashlib
import importlib
import io
import os
import re

import duckdb
import numpy as np
import pytest
from Bio import SwissProt

from kb.build import build
from kb.errors import InputFormatError, KBError, KBNotFoundError
from kb.seqstore import SequenceStore
from kb.store import DB_FILE, SUCCESS_FILE, KBWriter, info, is_complete, read_meta

# The module, even if kb/__init__ exports the function ``build`` under the same name.
kb_build = importlib.import_module("kb.build")

SAMPLE = "swissprot/sample_entries.dat.gz"


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory, test_data):
    db = tmp_path_factory.mktemp("kb") / "sample"
    summary = build([test_data / SAMPLE], db, progress=False, workers=1)
    return db, summary


@pytest.fixture(scope="module")
def con(sample_db):
    c = duckdb.connect(str(sample_db[0] / DB_FILE), read_only=True)
    yield c
    c.close()


def _rows(con, sql, *params):
    return con.execute(sql, list(params)).fetchall()


def test_summary_counts_match_the_database(sample_db, con):
    db, s = sample_db
    assert is_complete(db)
    # 208 entries in the file (a parser may reject some as malformed: reported, not lost).
    assert s.entries + s.skipped == 208 and s.entries >= 205 and s.duplicates == 0
    assert s.skipped == len(s.errors)
    assert all(SAMPLE.split("/")[-1] in e and ", line " in e for e in s.errors)
    assert _rows(con, "SELECT count(*), sum(length) FROM entries")[0] == (s.entries, s.residues)
    n_with = _rows(con, "SELECT count(DISTINCT accession) FROM locations WHERE class IS NOT NULL")
    assert n_with[0][0] == s.with_location
    ids = [r[0] for r in _rows(con, "SELECT entry_id FROM entries ORDER BY entry_id")]
    assert ids == list(range(s.entries))


def test_sequences_agree_with_biopython_and_the_sequence_store(sample_db, con, test_data):
    db, _ = sample_db
    # Biopython reads each record on its own: the sample glues some "ID" lines to the previous
    # "//" (see tests/test_flatfile.py), which stops SwissProt.parse on the whole file.
    with gzip.open(test_data / SAMPLE, "rt") as fh:
        text = fh.read()
    chunks = [c.lstrip("\n") for c in re.split(r"(?m)^//", text)]
    bio = {}
    for chunk in chunks:
        if chunk.strip():
            rec = SwissProt.read(io.StringIO(chunk + "//\n"))
            bio[rec.accessions[0]] = rec.sequence
    assert len(bio) == 208
    rows = _rows(con, "SELECT entry_id, accession, sequence, length, seq_hash FROM entries")
    store = SequenceStore.load(db)
    assert len(store) == len(rows)
    for entry_id, acc, seq, length, seq_hash in rows:
        assert seq == bio[acc]
        assert store.sequence(entry_id) == seq and length == len(seq)
        assert seq_hash == hashlib.md5(seq.encode()).hexdigest()
    assert store.residues[store.offsets[1:] - 1].tobytes() == b"*" * len(store)


def test_golden_hlaa_human(con):
    """P04439 (HLAA_HUMAN), values read by hand from the entry text."""
    row = _rows(con, "SELECT entry_name, reviewed, gene, organism, taxon_id, length, "
                "protein_name FROM entries WHERE accession = 'P04439'")[0]
    assert row == ("HLAA_HUMAN", True, "HLA-A", "Homo sapiens (Human)", 9606, 365,
                   "HLA class I histocompatibility antigen, A alpha chain")
    sec = [r[0] for r in _rows(con, "SELECT secondary FROM secondary_accessions "
                               "WHERE accession = 'P04439'")]
    assert len(sec) == 135 and {"B1PKZ3", "O02939", "P01891", "Q9UQU7"} <= set(sec)
    locs = _rows(con, "SELECT term, sl_id, class, evidence, topology, isoform FROM locations "
                 "WHERE accession = 'P04439' ORDER BY term")
    assert locs == [
        ("Cell membrane", "SL-0039", "Cell.membrane", "ECO:0000269",
         "Single-pass type I membrane protein", None),
        ("Endoplasmic reticulum membrane", "SL-0097", "Endoplasmic.reticulum", "ECO:0000305",
         "Single-pass type I membrane protein", None),
    ]
    feats = _rows(con, 'SELECT type, start, "end" FROM features WHERE accession = \'P04439\' '
                  "ORDER BY start")
    assert feats == [("SIGNAL", 1, 24), ("TOPO_DOM", 25, 308), ("TRANSMEM", 309, 332),
                     ("TOPO_DOM", 333, 365)]


def test_golden_dnjc5_mouse_and_old_style_5ht4r(con):
    """P60904 (modern evidence, a 3-level term path) and Q13639 (old style, no evidence)."""
    locs = _rows(con, "SELECT term, sl_id, class, evidence, topology FROM locations "
                 "WHERE accession = 'P60904' ORDER BY term")
    assert locs == [
        ("Cell membrane", "SL-0039", "Cell.membrane", "ECO:0000250", None),
        ("Cytoplasm, cytosol", "SL-0091", "Cytoplasm", "ECO:0000250", None),
        ("Cytoplasmic vesicle, secretory vesicle, chromaffin granule membrane", "SL-0062",
         "Lysosome/Vacuole", "ECO:0000250", None),
        ("Melanosome", "SL-0161", None, "ECO:0000250", None),
        ("Membrane", "SL-0162", "Cell.membrane", "ECO:0000269", "Lipid-anchor"),
    ]
    assert _rows(con, "SELECT secondary FROM secondary_accessions WHERE accession = 'P60904'") \
        == [("P54101",)]
    locs = _rows(con, "SELECT term, class, evidence, topology FROM locations "
                 "WHERE accession = 'Q13639' ORDER BY term")
    assert locs == [("Cell membrane", "Cell.membrane", None, "Multi-pass membrane protein"),
                    ("Endosome", None, None, None)]
    feats = _rows(con, 'SELECT type, start, "end", evidence FROM features '
                  "WHERE accession = 'Q13639' AND type IN ('TRANSMEM', 'LIPID') ORDER BY start")
    assert len(feats) == 8
    assert feats[0] == ("TRANSMEM", 20, 40, "By similarity")
    assert feats[-1] == ("LIPID", 329, 329, "By similarity")
    assert _rows(con, "SELECT class FROM locations WHERE accession = 'P68308'") == \
        [("Mitochondrion",)]


def test_meta_and_info(sample_db, con, test_data):
    db, s = sample_db
    meta = read_meta(db)
    assert meta["entries"] == s.entries and meta["min_evidence"] == "any"
    assert meta["index.k"] == 5 and meta["k"] == 5
    src = meta["sources"][0]
    raw = (test_data / SAMPLE).read_bytes()
    assert src["sha256"] == hashlib.sha256(raw).hexdigest() and src["bytes"] == len(raw)
    assert src["format"] == "flatfile" and src["skipped"] == s.skipped
    facts = info(db)
    for table, n in facts["tables"].items():
        assert n == _rows(con, f"SELECT count(*) FROM {table}")[0][0]
    n_nuc = _rows(con, "SELECT count(DISTINCT accession) FROM locations WHERE class = 'Nucleus'")
    assert facts["classes"]["Nucleus"] == n_nuc[0][0]
    index_files = [p for p in db.iterdir() if p.name.startswith("kmer_")]
    assert facts["index_bytes"] == sum(p.stat().st_size for p in index_files) > 0


def test_min_evidence_experimental(tmp_path, test_data, con, sample_db):
    db = tmp_path / "exp"
    s = build([test_data / SAMPLE], db, progress=False, min_evidence="experimental", workers=1)
    c = duckdb.connect(str(db / DB_FILE), read_only=True)
    kept = _rows(c, "SELECT accession, term FROM locations WHERE accession IN "
                 "('P04439', 'P60904', 'Q13639', 'P68308') ORDER BY accession")
    assert kept == [("P04439", "Cell membrane"), ("P60904", "Membrane")]
    assert _rows(c, "SELECT count(*) FROM locations WHERE evidence IS NULL "
                 "OR evidence NOT LIKE '%ECO:0000269%'") == [(0,)]
    n_exp = _rows(con, "SELECT count(*) FROM locations WHERE evidence LIKE '%ECO:0000269%'")
    assert _rows(c, "SELECT count(*) FROM locations") == n_exp
    assert read_meta(db)["min_evidence"] == "experimental"
    assert s.with_location < sample_db[1].with_location
    c.close()


def test_duplicates_first_wins(tmp_path):
    a = tmp_path / "a.csv"
    a.write_text("accession,sequence,label\nP1,MKV,Nucleus\nP2,MAA,\n")
    b = tmp_path / "b.tsv"
    b.write_text("Entry\tSequence\tlabel\nP2\tMWW\tCytoplasm\nP3\tMCC\tNucleus\n")
    s = build([a, b], tmp_path / "db", progress=False)
    assert (s.entries, s.duplicates) == (3, 1)
    c = duckdb.connect(str(tmp_path / "db" / DB_FILE), read_only=True)
    assert _rows(c, "SELECT accession, sequence FROM entries ORDER BY entry_id") == [
        ("P1", "MKV"), ("P2", "MAA"), ("P3", "MCC")]
    # the dropped duplicate's label does not count: P1 and P3 have a location, P2 has none
    n_with = _rows(c, "SELECT count(DISTINCT accession) FROM locations WHERE class IS NOT NULL")
    assert s.with_location == n_with[0][0] == 2
    c.close()


@pytest.mark.parametrize("failing", ["kb.index.write_index", "kb.seqstore.SequenceStore.save"])
def test_failure_in_the_middle_leaves_nothing(tmp_path, test_data, monkeypatch, failing):
    """A failure while the sequence store or the k-mer index (placed straight into its
    memory-mapped file) is written leaves nothing behind."""
    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(failing, boom)
    db = tmp_path / "db"
    with pytest.raises(RuntimeError, match="disk on fire"):
        build([test_data / SAMPLE], db, progress=False, workers=1)
    assert list(tmp_path.iterdir()) == []
    # With --force, a failed rebuild keeps the old, complete KB.
    monkeypatch.undo()
    csv_file = tmp_path / "t.csv"
    csv_file.write_text("accession,sequence\nP1,MKV\n")
    build([csv_file], db, progress=False)
    monkeypatch.setattr(failing, boom)
    with pytest.raises(RuntimeError):
        build([test_data / SAMPLE], db, progress=False, force=True, workers=1)
    assert is_complete(db) and read_meta(db)["entries"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db", "t.csv"]


def test_existing_dir_needs_force(tmp_path):
    csv_file = tmp_path / "t.csv"
    csv_file.write_text("accession,sequence\nP1,MKV\n")
    db = tmp_path / "db"
    db.mkdir()
    with pytest.raises(KBError, match="already exists; use force=True"):
        build([csv_file], db, progress=False)
    build([csv_file], db, progress=False, force=True)
    assert is_complete(db) and (db / SUCCESS_FILE).is_file()
    assert SequenceStore.load(db).sequence(0) == "MKV"


def test_bad_input_writes_nothing(tmp_path):
    empty = tmp_path / "empty.dat"
    empty.write_text("")
    with pytest.raises(InputFormatError, match="empty input"):
        build([empty], tmp_path / "db", progress=False)
    assert not (tmp_path / "db").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.dat"]


def test_not_complete_is_reported(tmp_path):
    with pytest.raises(KBNotFoundError, match="does not exist"):
        info(tmp_path / "nope")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / DB_FILE).write_bytes(b"")
    assert not is_complete(tmp_path / "half")
    with pytest.raises(KBNotFoundError, match="not a finished knowledge base"):
        read_meta(tmp_path / "half")


def test_sequence_store_offsets_from_batches(tmp_path):
    """Several DuckDB batches: offsets and residues equal SequenceStore.from_sequences."""
    rng = np.random.default_rng(7)
    seqs = ["".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), size=rng.integers(1, 40)))
            for _ in range(250)]
    table = tmp_path / "t.tsv"
    table.write_text("accession\tsequence\n" + "".join(f"A{i}\t{s}\n" for i, s in
                                                       enumerate(seqs)))
    monkey_writer = kb_build.KBWriter

    class Small(monkey_writer):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw, batch_size=17)

    kb_build.KBWriter = Small
    try:
        build([table], tmp_path / "db", progress=False)
    finally:
        kb_build.KBWriter = monkey_writer
    got = SequenceStore.load(tmp_path / "db")
    want = SequenceStore.from_sequences(seqs)
    assert np.array_equal(got.offsets, want.offsets)
    assert np.array_equal(np.asarray(got.residues), want.residues)


def test_grouped_inserts_equal_one_insert_per_batch(tmp_path, test_data, monkeypatch):
    """Rows collected over many batches and inserted in groups (``insert_rows``) are the rows,
    in the same physical order, of one DuckDB insert per batch (what the writer did before)."""
    def writer_with(insert_rows):
        class Writer(KBWriter):
            def __init__(self, *a, **kw):
                super().__init__(*a, **kw, batch_size=7, insert_rows=insert_rows)
        return Writer

    tables = ("entries", "secondary_accessions", "locations", "features")
    rows = {}
    for name, insert_rows in (("each", 1), ("grouped", 50), ("once", 10**9)):
        monkeypatch.setattr(kb_build, "KBWriter", writer_with(insert_rows))
        build([test_data / SAMPLE], tmp_path / name, progress=False)
        con = duckdb.connect(str(tmp_path / name / DB_FILE), read_only=True)
        rows[name] = {t: con.execute(f"SELECT * FROM {t}").fetchall() for t in tables}
        con.close()
    assert len(rows["each"]["entries"]) > 50  # several groups
    assert [r[0] for r in rows["each"]["entries"]] == list(range(len(rows["each"]["entries"])))
    assert rows["grouped"] == rows["each"]
    assert rows["once"] == rows["each"]


@pytest.mark.parametrize(("chunk_bytes", "slot_bytes"),
                         [(1 << 16, 1 << 20), (1 << 23, 1 << 25), (1 << 16, 1 << 12)])
def test_parallel_build_equals_single_process(tmp_path, test_data, sample_db, monkeypatch,
                                              chunk_bytes, slot_bytes):
    """workers=2 (chunks parsed and converted in worker processes) == workers=1, row for row,
    including skipped-entry messages with absolute line numbers across chunk boundaries.
    Chunks travel through slot files, or (larger than a slot) through the pipe."""
    monkeypatch.setattr(kb_build, "_CHUNK_BYTES", chunk_bytes)
    monkeypatch.setattr(kb_build, "_SLOT_BYTES", slot_bytes)
    inputs = [test_data / SAMPLE, *sorted((test_data / "swissprot/bad").glob("*.dat"))]
    one = build(inputs, tmp_path / "one", progress=False, workers=1)
    two = build(inputs, tmp_path / "two", progress=False, workers=2)
    assert (two.entries, two.residues, two.with_location, two.skipped, two.errors) == (
        one.entries, one.residues, one.with_location, one.skipped, one.errors)
    assert one.skipped > 0
    a = duckdb.connect(str(tmp_path / "one" / DB_FILE), read_only=True)
    b = duckdb.connect(str(tmp_path / "two" / DB_FILE), read_only=True)
    for table in ("entries", "secondary_accessions", "locations", "features"):
        q = f"SELECT * FROM {table} ORDER BY ALL"
        assert a.execute(q).fetchall() == b.execute(q).fetchall(), table
    a.close()
    b.close()
    assert np.array_equal(np.asarray(SequenceStore.load(tmp_path / "one").residues),
                          np.asarray(SequenceStore.load(tmp_path / "two").residues))


def test_parallel_strict_and_truncated(tmp_path, test_data, monkeypatch):
    monkeypatch.setattr(kb_build, "_CHUNK_BYTES", 1 << 16)
    bad = sorted((test_data / "swissprot/bad").glob("*.dat"))
    with pytest.raises(InputFormatError) as one:
        build([test_data / SAMPLE, *bad], tmp_path / "a", progress=False, strict=True, workers=1)
    with pytest.raises(InputFormatError) as two:
        build([test_data / SAMPLE, *bad], tmp_path / "b", progress=False, strict=True, workers=2)
    assert str(one.value) == str(two.value) and ", line " in str(two.value)
    data = (test_data / SAMPLE).read_bytes()
    cut = tmp_path / "cut.dat.gz"
    cut.write_bytes(data[: int(len(data) * 0.8)])
    with pytest.raises(InputFormatError, match="cut.dat.gz: truncated or corrupt gzip"):
        build([cut], tmp_path / "c", progress=False, workers=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.dat.gz"]


def test_mapped_classes_agree_with_deeploc1_labels(con, repo_root):
    """Independent check of the term -> class mapping: for every sample entry that is also in
    DeepLoc 1.0 (14 accessions), DeepLoc's label is among the classes we map its terms to."""
    labels = {}
    with gzip.open(repo_root / "data/deeploc1/deeploc_data.fasta.gz", "rt") as fh:
        for line in fh:
            if line.startswith(">"):
                acc, label = line[1:].split()[:2]
                labels[acc] = label.rsplit("-", 1)[0]
    rows = _rows(con, "SELECT accession, list(DISTINCT class) FROM locations "
                 "WHERE class IS NOT NULL AND isoform IS NULL GROUP BY accession")
    overlap = [(acc, classes, labels[acc]) for acc, classes in rows if acc in labels]
    assert len(overlap) == 14
    for acc, classes, label in overlap:
        assert set(label.split("-")) <= set(classes), (acc, classes, label)


@pytest.mark.parametrize("workers", [1, 2])
def test_blank_lines_after_the_last_entry_are_not_an_entry(tmp_path, test_data, sample_db,
                                                           workers):
    """A flat file ending in blank lines after its last ``//`` builds like the original."""
    import gzip

    text = gzip.decompress((test_data / SAMPLE).read_bytes()) + b"\n\n  \n"
    padded = tmp_path / "padded.dat"
    padded.write_bytes(text)
    ref = build([test_data / SAMPLE], tmp_path / "ref", progress=False, workers=1)
    got = build([padded], tmp_path / "got", progress=False, workers=workers)
    assert (got.entries, got.residues, got.skipped) == (ref.entries, ref.residues, ref.skipped)


@pytest.mark.parametrize("fail", [True, False])
def test_chunk_slot_files_are_removed_after_a_parallel_build(tmp_path, test_data, monkeypatch,
                                                              fail):
    """The slot files (in a private temporary directory) are gone after the build, failed or
    not; a failed build leaves nothing next to the target either."""
    slots = tmp_path / "slots"
    slots.mkdir()
    monkeypatch.setattr(kb_build, "_slot_directory", lambda need: str(slots))
    used = []
    real = kb_build._ChunkSlots.put

    def put(self, i, chunk):
        used.append(self.directory)
        return real(self, i, chunk)

    monkeypatch.setattr(kb_build._ChunkSlots, "put", put)
    if fail:
        def boom(*args, **kwargs):
            raise RuntimeError("disk on fire")

        monkeypatch.setattr("kb.index.write_index", boom)
        with pytest.raises(RuntimeError, match="disk on fire"):
            build([test_data / SAMPLE], tmp_path / "db", progress=False, workers=2)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["slots"]
    else:
        build([test_data / SAMPLE], tmp_path / "db", progress=False, workers=2)
    assert used and all(str(slots) in d for d in used)  # the chunks went through slot files
    assert list(slots.iterdir()) == []


def test_slot_directories_of_killed_builds_are_removed(tmp_path, test_data, monkeypatch):
    """A killed build cannot remove its slot directory (in /dev/shm: memory until reboot);
    the next parallel build removes those of dead processes, and nothing else."""
    monkeypatch.setattr(kb_build, "_slot_directory", lambda need: str(tmp_path))
    dead = tmp_path / "kb-build-chunks-999999999-abc"
    dead.mkdir()
    (dead / "slot-0").write_bytes(b"x" * 10)
    alive = tmp_path / f"kb-build-chunks-{os.getpid()}-def"  # a build still running
    alive.mkdir()
    mine = tmp_path / "kb-build-chunks-999999998-ghi"  # a user's file inside: kept
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    other = tmp_path / "kb-build-chunks-notes"
    other.mkdir()
    build([test_data / SAMPLE], tmp_path / "db", progress=False, workers=2)
    assert not dead.exists() and alive.is_dir() and other.is_dir()
    assert (mine / "notes.txt").read_text() == "keep me"
