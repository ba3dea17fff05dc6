"""Issue 10 (knowledge-base side): trustworthy results on users' own inputs.

Each test reproduces a reported failure (items 3, 4, 5, 7, 8, 9, 13, 14 of the issue) and
checks the fix against an independent oracle: the input rows themselves, ``os.stat`` and
``hashlib``, the file system after the command, a plain script in a subprocess.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

import kb
import kb.api
from cli.main import kb_app
from kb import layout
from kb.errors import InputFormatError, KBCorruptError, KBError
from kb.store import DB_FILE, info, is_complete, read_meta

kb_build = importlib.import_module("kb.build")  # the module (kb.build is the function)
REPO = Path(__file__).resolve().parents[1]
SAMPLE = "swissprot/sample_entries.dat.gz"
runner = CliRunner()


def _run(*args):
    return runner.invoke(kb_app, [str(a) for a in args])


def _one_line_error(res, *needles):
    """Exit 2, one ``error:`` line on stderr naming every needle, no traceback."""
    assert res.exit_code == 2, res.output
    lines = [x for x in res.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert "Traceback" not in res.output
    for needle in needles:
        assert str(needle) in lines[0], (needle, lines[0])
    return lines[0]


def _csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("accession,sequence\n" + "".join(f"{a},{s}\n" for a, s in rows))
    return path


def _deeploc_rows(n: int) -> list[list[str]]:
    """The first ``n`` rows (header first) of the shipped DeepLoc 2.0 CSV."""
    with gzip.open(REPO / "data/deeploc2/deeploc2_swissprot.csv.gz", "rt") as fh:
        return [next(fh).rstrip("\n").split(",") for _ in range(n + 1)]


@pytest.fixture(scope="module")
def deeploc_kb(tmp_path_factory):
    d = tmp_path_factory.mktemp("dl2")
    rows = _deeploc_rows(40)
    src = d / "deeploc2_head.csv"
    src.write_text("".join(",".join(r) + "\n" for r in rows))
    db = d / "kb"
    kb.build([src], db, progress=False)
    return db, rows


# ----------------------------------------------------------------- 3. filters on missing fields
def test_reviewed_only_on_the_deeploc_kb_returns_the_rows(deeploc_kb):
    db, rows = deeploc_kb
    peptide = rows[1][1][10:18]  # a peptide of the first real entry
    want = sum(r[1].count(peptide) for r in rows[1:])  # str.count: non-overlapping, fine here
    with kb.open(db) as k:
        plain = k.search([peptide])
        reviewed = k.search([peptide], reviewed_only=True)
        assert k.provides()["reviewed"] == len(rows) - 1  # every DeepLoc 2.0 entry is Swiss-Prot
    assert plain.num_rows == want >= 1
    assert reviewed.num_rows == plain.num_rows
    res = _run("search", peptide, "--db", db, "--reviewed-only")
    assert res.exit_code == 0, res.output
    assert len(res.stdout.splitlines()) == 1 + want


def test_taxon_on_a_kb_without_taxonomy_is_an_error(deeploc_kb):
    db, rows = deeploc_kb
    with kb.open(db) as k, pytest.raises(KBError, match="this knowledge base has no taxonomy"):
        k.search(["MAAAA"], taxon=9606)
    res = _run("search", "MAAAA", "--db", db, "--taxon", "9606")
    _one_line_error(res, "this knowledge base has no taxonomy", "deeploc2_head.csv")
    res = _run("search", "MAAAA", "--db", db, "--taxon", "Metazoa")
    _one_line_error(res, "no taxonomy")


def test_reviewed_only_without_reviewed_status_is_an_error(tmp_path):
    db = tmp_path / "kb"
    kb.build([_csv(tmp_path / "t.csv", [("P1", "MKVLAAGG")])], db, progress=False)
    with kb.open(db) as k, pytest.raises(KBError, match="has no reviewed status"):
        k.search(["KVL"], reviewed_only=True)
    with kb.open(db) as k:  # no filter: the row is there
        assert k.search(["KVL"]).num_rows == 1


def test_flat_file_provides_reviewed_and_taxonomy(tmp_path, test_data):
    db = tmp_path / "kb"
    kb.build([test_data / SAMPLE], db, progress=False)
    with duckdb.connect(str(db / DB_FILE), read_only=True) as con:
        want = con.execute("SELECT count(*), count(reviewed), count(*) FILTER (WHERE reviewed), "
                           "count(taxon_id) FROM entries").fetchall()[0]
    p = read_meta(db)["provides"]
    assert (p["entries"], p["reviewed_known"], p["reviewed"], p["taxon_id"]) == want
    assert p["taxon_id"] == p["entries"] > 0 and 0 < p["reviewed"] < p["entries"]
    assert read_meta(db)["sources"][0]["provides"] == p


# --------------------------------------------------------------------- 4. truncated KB files
def test_manifest_matches_the_files(deeploc_kb):
    db, _ = deeploc_kb
    version = layout.resolve(db)
    manifest = json.loads((version / layout.MANIFEST_FILE).read_text())["files"]
    assert set(manifest) == set(layout.KB_FILES)
    for name, rec in manifest.items():
        data = (version / name).read_bytes()
        assert rec == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _copy_kb(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst, symlinks=True)
    return dst


def test_truncated_residues_is_an_error_naming_the_file(deeploc_kb, tmp_path):
    db = _copy_kb(deeploc_kb[0], tmp_path / "kb")
    residues = layout.resolve(db) / "residues.u8"
    data = residues.read_bytes()
    residues.write_bytes(data[: len(data) // 2])
    with pytest.raises(KBCorruptError, match="residues.u8"):
        kb.open(db)
    _one_line_error(_run("search", "MAAAA", "--db", db), "residues.u8", "truncated")
    _one_line_error(_run("info", "--db", db), "residues.u8")


def test_info_check_verifies_checksums(deeploc_kb, tmp_path):
    db = _copy_kb(deeploc_kb[0], tmp_path / "kb")
    res = _run("info", "--db", db, "--check")
    n = len(layout.KB_FILES)
    assert res.exit_code == 0 and f"checksums of {n} files match" in res.stdout, res.output
    positions = layout.resolve(db) / "kmer_positions.npy"
    data = bytearray(positions.read_bytes())
    data[-1] ^= 0xFF  # same size: only the checksum sees it
    positions.write_bytes(bytes(data))
    assert _run("info", "--db", db).exit_code == 0
    _one_line_error(_run("info", "--db", db, "--check"), "kmer_positions.npy", "checksum")


# ------------------------------------------------------------------ 5. --force on a user folder
def test_force_refuses_a_folder_that_is_not_a_kb(tmp_path):
    folder = tmp_path / "my_data"
    folder.mkdir()
    src = _csv(folder / "proteins.csv", [("P1", "MKVLAAGG")])
    (folder / "notes.txt").write_text("mine\n")
    res = _run("build", src, "--db", folder, "--force", "--no-progress")
    _one_line_error(res, str(folder), "is not a knowledge base", "proteins.csv")
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt", "proteins.csv"]
    assert (folder / "notes.txt").read_text() == "mine\n"
    # The user's file inside a KB directory makes it a user folder too.
    db = tmp_path / "kb"
    kb.build([src], db, progress=False)
    (db / "results.tsv").write_text("x\n")
    with pytest.raises(KBError, match="is not a knowledge base"):
        kb.build([src], db, progress=False, force=True)
    assert (db / "results.tsv").read_text() == "x\n" and is_complete(db)


def test_force_replaces_a_kb_and_an_empty_directory(tmp_path):
    a = _csv(tmp_path / "a.csv", [("P1", "MKVLAAGG")])
    b = _csv(tmp_path / "b.csv", [("Q1", "MWWWKVL"), ("Q2", "MKVL")])
    db = tmp_path / "kb"
    db.mkdir()
    kb.build([a], db, progress=False, force=True)
    kb.build([b], db, progress=False, force=True)
    with kb.open(db) as k:
        assert k.accessions.to_pylist() == ["Q1", "Q2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "b.csv", "kb"]


# -------------------------------------------------------------------- 7. atomic replacement
def test_layout_keeps_dir_paths_working(deeploc_kb):
    db, rows = deeploc_kb
    assert (db / layout.CURRENT).is_symlink()
    version = layout.resolve(db)
    assert version.parent == db and version.name.startswith("v-")
    with duckdb.connect(str(db / DB_FILE), read_only=True) as con:  # DIR/kb.duckdb still works
        assert con.execute("SELECT count(*) FROM entries").fetchall()[0][0] == len(rows) - 1
    assert info(db)["files"].keys() >= set(layout.KB_FILES)


def test_kill_between_publishing_steps_keeps_the_old_kb(tmp_path, monkeypatch):
    a = _csv(tmp_path / "a.csv", [("P1", "MKVLAAGG")])
    b = _csv(tmp_path / "b.csv", [("Q1", "MWWWKVL")])
    db = tmp_path / "kb"
    kb.build([a], db, progress=False)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # the process dies after the version moved in, before the swap

    monkeypatch.setattr(layout, "_point_current", killed)
    with pytest.raises(KeyboardInterrupt):
        kb.build([b], db, progress=False, force=True)
    monkeypatch.undo()
    with kb.open(db) as k:
        assert k.accessions.to_pylist() == ["P1"]
    stray = [p for p in db.iterdir() if p.name.startswith("v-") and p != layout.resolve(db)]
    assert len(stray) == 1  # the new, never-published version
    # A dead build's temporary sibling and the stray version go with the next build.
    dead = tmp_path / ".kb.tmp-999999999-x"
    dead.mkdir()
    live = tmp_path / f".kb.tmp-{os.getpid()}-y"  # a build still running: kept
    live.mkdir()
    # a user's folders sharing the prefix are never removed: no pid, or files of their own
    mine = tmp_path / ".kb.tmp-notes"
    mine.mkdir()
    theirs = tmp_path / ".kb.old-999999998-z"
    theirs.mkdir()
    (theirs / "thesis.docx").write_text("keep me")
    kb.build([b], db, progress=False, force=True)
    assert not dead.exists() and live.exists() and not stray[0].exists()
    assert mine.is_dir() and (theirs / "thesis.docx").read_text() == "keep me"
    assert [p.name for p in db.iterdir() if p.name.startswith("v-")] == [layout.resolve(db).name]
    with kb.open(db) as k:
        assert k.accessions.to_pylist() == ["Q1"]
    # Inside the knowledge base, only names a build makes count as its own: a user's folder
    # that merely starts with "v-" makes --force refuse, and no clean-up touches it.
    notes = db / "v-notes"
    notes.mkdir()
    (notes / "n.txt").write_text("keep me")
    with pytest.raises(KBError, match="not a knowledge base \\(it holds v-notes\\)"):
        kb.build([a], db, progress=False, force=True)
    layout.clean_stale(db)
    assert (notes / "n.txt").read_text() == "keep me"
    # a version-shaped folder holding a user's file is not removed either
    lookalike = db / "v-20260101T000000-1-abcdef"
    lookalike.mkdir()
    (lookalike / "thesis.docx").write_text("keep me")
    layout.clean_stale(db)
    assert (lookalike / "thesis.docx").read_text() == "keep me"


def test_kill_between_two_renames_of_a_flat_kb_keeps_a_kb(tmp_path, monkeypatch):
    """A knowledge base of the old flat layout is swapped with RENAME_EXCHANGE; a failure of
    the swap itself leaves the old one."""
    a = _csv(tmp_path / "a.csv", [("P1", "MKVLAAGG")])
    flat = tmp_path / "built"
    kb.build([a], flat, progress=False)
    db = tmp_path / "kb"  # the old layout: the files directly in DIR
    import shutil

    shutil.copytree(layout.resolve(flat), db)
    assert is_complete(db) and not (db / layout.CURRENT).exists()
    b = _csv(tmp_path / "b.csv", [("Q1", "MWWWKVL")])
    kb.build([b], db, progress=False, force=True)
    with kb.open(db) as k:
        assert k.accessions.to_pylist() == ["Q1"]
    assert (db / layout.CURRENT).is_symlink()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".kb.")]


def test_an_open_kb_keeps_reading_its_version(tmp_path):
    a = _csv(tmp_path / "a.csv", [("P1", "MKVLAAGG")])
    b = _csv(tmp_path / "b.csv", [("Q1", "MWWWKVL"), ("Q2", "GGKVLW")])
    db = tmp_path / "kb"
    kb.build([a], db, progress=False)
    with kb.open(db) as old:
        kb.build([b], db, progress=False, force=True)
        assert old.search(["KVL"]).column("accession").to_pylist() == ["P1"]
        with kb.open(db) as new:
            assert new.search(["KVL"]).column("accession").to_pylist() == ["Q1", "Q2"]


def test_concurrent_build_into_the_same_new_db_fails_at_the_end(tmp_path, monkeypatch):
    a = _csv(tmp_path / "a.csv", [("P1", "MKVLAAGG")])
    b = _csv(tmp_path / "b.csv", [("Q1", "MWWWKVL")])
    db = tmp_path / "kb"
    real_finish = kb_build._finish

    def finish_while_another_build_wins(*args, **kwargs):
        real_finish(*args, **kwargs)
        monkeypatch.setattr(kb_build, "_finish", real_finish)
        kb.build([b], db, progress=False)  # the second build starts later, finishes first

    monkeypatch.setattr(kb_build, "_finish", finish_while_another_build_wins)
    with pytest.raises(KBError, match="created by another build"):
        kb.build([a], db, progress=False)
    with kb.open(db) as k:
        assert k.accessions.to_pylist() == ["Q1"]  # the finished build was not replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "b.csv", "kb"]


# -------------------------------------------------------------- 8. kb.build from a plain script
def _script_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _readme_python_snippet() -> str:
    """The README's Python snippet, as written (the test breaks when README and code drift)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    after = text.split("The same from Python:", 1)[1]
    return after.split("```python\n", 1)[1].split("```", 1)[0]


def test_readme_snippet_runs_as_a_plain_script(tmp_path, test_data):
    # The whole snippet, run as a plain script in a subprocess: kb.build on the shipped sample
    # flat file (standing in for uniprot_sprot.dat.gz), kb search, psl.score on a subsequence
    # table of real entries (standing in for the quick start's subs.tsv), psl.predict.
    import pandas as pd
    from test_flatfile import biopython_records

    snippet = _readme_python_snippet()
    assert '"uniprot_sprot.dat.gz"' in snippet and '"subs.tsv"' in snippet
    src = tmp_path / "uniprot_sprot.dat.gz"
    src.write_bytes((test_data / SAMPLE).read_bytes())
    records = biopython_records(gzip.decompress(src.read_bytes()).decode())
    proteins = {r.accessions[0]: r.sequence for r in records}  # the KB keeps one per accession
    picked = [(a, q) for a, q in proteins.items() if len(q) >= 30][:3]
    pd.DataFrame({
        "protein": [a for a, _ in picked], "location": ["Nucleus"] * 3,
        "subsequence": [q[9:16] for _, q in picked], "start": [10] * 3,
    }).to_csv(tmp_path / "subs.tsv", sep="\t", index=False)
    script = tmp_path / "snippet.py"
    script.write_text(snippet)
    res = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=_script_env(),
                         capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr
    assert is_complete(tmp_path / "kb_sprot")
    assert read_meta(tmp_path / "kb_sprot")["workers"] == 1

    def occurrences(peptide: str) -> int:  # overlapping matches, a plain loop
        return sum(1 for q in proteins.values() for i in range(len(q))
                   if q.startswith(peptide, i))

    want = occurrences("PKKKRKV") + occurrences("SKL")
    # stdout holds only what the script prints (progress bars go to stderr)
    lines = res.stdout.splitlines()
    assert lines[0].startswith(f"{want} occurrences; 3 rows, 3 proteins, "), res.stdout
    assert "MAAWTRKDELPKKKRKVGGSKL" not in res.stdout and "seq1" in res.stdout


def test_unguarded_script_with_workers_fails_fast(tmp_path, test_data):
    src = tmp_path / "in.dat.gz"
    src.write_bytes((test_data / SAMPLE).read_bytes())
    script = tmp_path / "workers.py"
    script.write_text('import kb\nkb.build(["in.dat.gz"], "kb2", workers=2)\n')
    res = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=_script_env(),
                         capture_output=True, text=True, timeout=240)
    assert res.returncode != 0
    assert "if __name__ ==" in res.stderr
    assert not (tmp_path / "kb2").exists()


# ------------------------------------------------------------------- 9. one-line path errors
def test_db_under_a_regular_file(tmp_path):
    src = _csv(tmp_path / "t.csv", [("P1", "MKVL")])
    under = tmp_path / "t.csv" / "kb"
    _one_line_error(_run("build", src, "--db", under, "--no-progress"), "t.csv")
    _one_line_error(_run("info", "--db", under), "t.csv")
    _one_line_error(_run("search", "KVL", "--db", under), "t.csv")


def test_read_only_directory(tmp_path, monkeypatch):
    src = _csv(tmp_path / "t.csv", [("P1", "MKVL")])

    def denied(*args, dir=None, **kwargs):  # root ignores chmod: simulate EACCES
        raise PermissionError(13, "Permission denied", str(dir))

    monkeypatch.setattr("tempfile.mkdtemp", denied)
    _one_line_error(_run("build", src, "--db", tmp_path / "kb", "--no-progress"),
                    "Permission denied", str(tmp_path))


def test_full_disk_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    src = _csv(tmp_path / "t.csv", [("P1", "MKVL")])

    def full(self, directory):
        raise OSError(28, "No space left on device", str(Path(directory) / "residues.u8"))

    monkeypatch.setattr("kb.seqstore.SequenceStore.save", full)
    _one_line_error(_run("build", src, "--db", tmp_path / "kb", "--no-progress"),
                    "no space left on device", "residues.u8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]


def test_full_disk_at_the_index_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    """The k-mer positions are filled through a memory map of their file: its blocks are
    reserved first, so a full disk is an error there, not a SIGBUS while a page is written."""
    import kb.index

    src = _csv(tmp_path / "t.csv", [("P1", "MKVLAAGIW"), ("P2", "MSTTTPKKKRKV")])
    reserved = []

    def full(fd, offset, length):
        reserved.append(length)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(kb.index.os, "posix_fallocate", full, raising=False)
    _one_line_error(_run("build", src, "--db", tmp_path / "kb", "--no-progress"),
                    "no space left on device", "kmer_positions.npy")
    assert reserved and reserved[0] > 4 * 10  # the whole positions file, header included
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]


def test_db_dot(tmp_path, monkeypatch):
    src = _csv(tmp_path / "t.csv", [("P1", "MKVL")])
    monkeypatch.chdir(tmp_path)
    _one_line_error(_run("build", src, "--db", ".", "--no-progress"), "already exists")
    _one_line_error(_run("build", src, "--db", ".", "--force", "--no-progress"),
                    "is not a knowledge base", "t.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]
    _one_line_error(_run("info", "--db", "."), "not a finished knowledge base")


def test_locked_database(deeploc_kb, tmp_path):
    db = _copy_kb(deeploc_kb[0], tmp_path / "kb")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
         "print('open', flush=True); time.sleep(60)", str(db / DB_FILE)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        _one_line_error(_run("search", "MAAAA", "--db", db), "kb.duckdb", "locked")
        _one_line_error(_run("info", "--db", db), "kb.duckdb", "locked")
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()


# ---------------------------------------------------------------------------- 13. stale sources
def test_stale_source_is_reported(tmp_path):
    src = _csv(tmp_path / "t.csv", [("P1", "MKVLAAGG")])
    db = tmp_path / "kb"
    kb.build([src], db, progress=False)
    with kb.open(db) as k:
        assert k.stale_sources() == []
    assert "-- stale" not in _run("info", "--db", db).stdout
    res = _run("search", "KVL", "--db", db)
    assert res.exit_code == 0 and "warning" not in res.stderr
    with open(src, "a") as fh:
        fh.write("P2,MWWW\n")
    with kb.open(db) as k:
        (stale,) = k.stale_sources()
    assert stale["status"] == "stale" and stale["path"] == str(src.resolve())
    res = _run("info", "--db", db)
    assert res.exit_code == 0 and "-- stale: size " in res.stdout, res.output
    res = _run("search", "KVL", "--db", db)
    assert res.exit_code == 0
    warnings = [x for x in res.stderr.splitlines() if x.startswith("warning:")]
    assert len(warnings) == 1 and "stale" in warnings[0] and "t.csv" in warnings[0]


def test_same_size_and_time_change_needs_the_checksum(tmp_path):
    src = _csv(tmp_path / "t.csv", [("P1", "MKVLAAGG")])
    db = tmp_path / "kb"
    kb.build([src], db, progress=False)
    st = src.stat()
    src.write_text(src.read_text().replace("MKVLAAGG", "MKVLAAGW"))
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns))
    with kb.open(db) as k:
        assert k.stale_sources() == []
        assert [s["why"] for s in k.stale_sources(checksums=True)] == ["sha256 differs"]
    res = _run("info", "--db", db, "--check")
    assert res.exit_code == 0 and "stale: sha256 differs" in res.stdout, res.output
    src.unlink()
    assert "-- missing: file not found" in _run("info", "--db", db).stdout


# ----------------------------------------------------------------------------- 14. messages
def test_no_valid_entries_shows_the_first_reasons(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("accession,sequence\nP1,MK1V\nP 2,MKV\n")
    with pytest.raises(InputFormatError) as err:
        kb.build([bad], tmp_path / "kb", progress=False)
    msg = str(err.value)
    assert "(2 skipped; first: " in msg
    assert f"{bad}, line 2: invalid sequence letter" in msg
    assert f"{bad}, line 3: invalid accession" in msg
    _one_line_error(_run("build", bad, "--db", tmp_path / "kb", "--no-progress"),
                    "line 2: invalid sequence letter")


def test_latin1_text_is_decoded_not_replaced(tmp_path, test_data):
    text = gzip.decompress((test_data / SAMPLE).read_bytes())
    first_de = text.index(b"\nDE   ") + 1
    end = text.index(b"\n", first_de)
    line = text[first_de:end]
    latin = line.replace(b"Full=", b"Full=Caf\xe9 ", 1)  # a Latin-1 byte, not UTF-8
    src = tmp_path / "latin1.dat"
    src.write_bytes(text[:first_de] + latin + text[end:])
    db = tmp_path / "kb"
    kb.build([src], db, progress=False)
    with duckdb.connect(str(db / DB_FILE), read_only=True) as con:
        names = [r[0] for r in con.execute(
            "SELECT protein_name FROM entries WHERE entry_id = 0").fetchall()]
        replaced = con.execute("SELECT count(*) FROM entries WHERE "
                               "contains(protein_name, '\ufffd')").fetchall()[0][0]
    assert names[0].startswith("Café ") and replaced == 0
    csv_src = tmp_path / "latin1.csv"
    csv_src.write_bytes(b"accession,sequence,protein_name\nP1,MKVL,Caf\xe9\nP2,MKV,cr\xc3\xa8me\n")
    kb.build([csv_src], tmp_path / "kb2", progress=False)
    with duckdb.connect(str(tmp_path / "kb2" / DB_FILE), read_only=True) as con:
        got = [r[0] for r in con.execute("SELECT protein_name FROM entries ORDER BY 1")
               .fetchall()]
    assert got == ["Café", "crème"]


def test_info_says_unmapped(tmp_path, test_data):
    db = tmp_path / "kb"
    kb.build([test_data / SAMPLE], db, progress=False)
    with duckdb.connect(str(db / DB_FILE), read_only=True) as con:
        n = con.execute("SELECT count(DISTINCT accession) FROM locations "
                        "WHERE class IS NULL").fetchall()[0][0]
    assert n > 0
    res = _run("info", "--db", db)
    assert res.exit_code == 0
    assert "unmapped" in res.stdout and "null" not in res.stdout
    assert any(x.split() == ["unmapped", str(n)] for x in res.stdout.splitlines())
