"""Sharded knowledge bases: a 4-shard build gives exactly the rows and hit rates of the
unsharded build of the same inputs (the oracle: the single knowledge base, itself tested
against brute force), in-process and on a 2-worker Dask LocalCluster (worker processes, one
killed mid-search); hand-computed hit rates with an identical sequence in another shard."""

from __future__ import annotations

import gzip
import json
import math
import os

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import kb
from kb.errors import KBError, TaxonNotFoundError
from kb.shardplan import plan, scan_input
from kb.shards import ShardError, build_sharded, open_sharded

SAMPLE = "swissprot/sample_entries.dat.gz"
OPTIONS = [
    {},
    {"il_equivalent": True},
    {"taxon": "Homo sapiens"},
    {"taxon": 9606, "reviewed_only": True},
    {"with_locations": True, "il_equivalent": True},
]


def _deeploc_subset(path, exclude: set[str], n: int = 120):
    """The first ``n`` DeepLoc 2.0 rows whose accession is not in ``exclude`` (a CSV)."""
    frame = pd.read_csv(path, nrows=2000)
    frame = frame[~frame["accession"].isin(exclude)].head(n)
    return frame


@pytest.fixture(scope="module")
def kbs(tmp_path_factory, test_data, repo_root):
    """(single, sharded dir, inputs): the same inputs built unsharded and in 4 shards."""
    d = tmp_path_factory.mktemp("shards")
    flat = test_data / SAMPLE
    text = gzip.decompress(flat.read_bytes()).decode()
    accs = set(a.strip() for line in text.splitlines() if line.startswith("AC   ")
               for a in line[5:].split(";") if a.strip())
    sub = _deeploc_subset(repo_root / "data/deeploc2/deeploc2_swissprot.csv.gz", accs)
    csv = d / "deeploc_subset.csv"
    sub.to_csv(csv, index=False)
    inputs = [flat, csv]
    kb.build(inputs, d / "single", progress=False, workers=1)
    summary = build_sharded(inputs, d / "sharded", shards=4, progress=False, workers=1)
    single = kb.open(d / "single")
    yield single, d / "sharded", inputs, summary
    single.close()


def _peptides(base, n=1500, seed=0):
    """Substrings of stored sequences (3-14 aa, some with I/L swapped) and a few misses."""
    rng = np.random.default_rng(seed)
    peps = []
    for _ in range(n):
        seq = base.store.sequence(int(rng.integers(len(base))))
        length = int(rng.integers(3, 15))
        start = int(rng.integers(0, max(1, len(seq) - length)))
        pep = seq[start : start + length]
        if rng.random() < 0.2:
            pep = pep.replace("I", "L")
        peps.append(pep)
    return peps + ["PEPTIDEWWWK", "XXXXXX", "MK", "W"]


def _score_input(base, n_proteins=25, seed=1):
    """Subsequences of annotated KB proteins, at their positions (psl score input)."""
    rng = np.random.default_rng(seed)
    loc = base.con.sql(
        "SELECT e.accession, e.sequence, min(l.class) AS location FROM entries e "
        "JOIN locations l USING (accession) WHERE l.class IS NOT NULL "
        "GROUP BY ALL ORDER BY e.accession").fetchall()
    rows = []
    for i in rng.choice(len(loc), size=min(n_proteins, len(loc)), replace=False).tolist():
        acc, seq, location = loc[i]
        for _ in range(3):
            length = int(rng.integers(4, 10))
            start = int(rng.integers(0, len(seq) - length))
            rows.append((acc, location, seq[start : start + length], start + 1))
    return pd.DataFrame(rows, columns=["protein", "location", "subsequence", "start"])


# ------------------------------------------------------------------------------ planning
def test_plan_pieces_are_whole_entries_with_line_shifts(test_data, tmp_path):
    flat = test_data / SAMPLE
    text = gzip.decompress(flat.read_bytes())
    scanned = scan_input(flat, "flatfile", tmp_path, "plain")
    assert scanned.plain.read_bytes() == text
    assert scanned.n_entries == text.count(b"\nID   ") + 1
    # weights: the lengths on the entry's ID line(s) (the sample has entries glued with "//ID")
    for i in range(scanned.n_entries):
        entry = text[scanned.bounds[i] : scanned.bounds[i + 1]].decode()
        ids = [line for line in entry.splitlines() if "ID   " in line[:7]]
        assert scanned.weights[i] == sum(int(line.split()[-2]) for line in ids)
    shards = plan([scanned], n_shards=5)
    pieces = [p for ps in shards for p in ps]
    assert b"".join(text[p.start : p.end] for p in pieces) == text  # contiguous, complete
    lines = text.split(b"\n")
    for p in pieces:
        assert text[p.start : p.start + 5] == b"ID   "
        assert text[:p.end].endswith(b"//\n")
        assert lines[p.line_shift] == text[p.start:].split(b"\n", 1)[0]  # piece line 1
    cap = int(scanned.weights.sum() // 7)
    by_residues = plan([scanned], shard_residues=cap)
    for ps in by_residues:
        w = sum(int(scanned.weights[np.searchsorted(scanned.bounds, p.start):
                                    np.searchsorted(scanned.bounds, p.end)].sum()) + p.entries
                for p in ps)
        assert w <= cap or sum(p.entries for p in ps) == 1
    with pytest.raises(KBError, match="only 200 entries"):
        plan([scanned], n_shards=201)


# ------------------------------------------------------------------------------ in-process
def test_sharded_search_equals_single(kbs):
    single, sharded_dir, _, summary = kbs
    manifest = json.loads((sharded_dir / "shards.json").read_text())
    assert len(manifest["shards"]) == 4 and all(s["entries"] > 0 for s in manifest["shards"])
    assert summary.entries == len(single) == manifest["entries"]
    assert summary.residues == single.store.n_residues
    peps = _peptides(single)
    with kb.open(sharded_dir) as sharded:
        assert type(sharded).__name__ == "ShardedKnowledgeBase" and len(sharded) == len(single)
        assert sharded.entry_table().equals(single.entry_table())
        for options in OPTIONS:
            a = single.search_with_summary(peps, **options)
            b = sharded.search_with_summary(peps, **options)
            assert a.table.num_rows > 0
            assert b.table.equals(a.table, check_metadata=True), options
            assert np.array_equal(a.no_hit, b.no_hit)
        accs = single.accessions.to_pylist()[::9]
        assert sharded.locations(accs).equals(single.locations(accs))
        assert np.array_equal(sharded.store.residues, single.store.residues)
        assert np.array_equal(sharded.store.offsets, single.store.offsets)
        facts = sharded.info()
        assert facts["tables"] == {t: n for t, n in kb.store.info(single.path)["tables"].items()
                                   if t != "meta"}
        with pytest.raises(TaxonNotFoundError, match="matches no entry"):
            sharded.search(["MKV"], taxon="Nowhere land")


def test_anchors_chosen_once_are_the_single_builds_and_any_anchor_gives_the_same_rows(kbs):
    from kb.index import choose_anchors
    from kb.peptides import prepare_peptides
    from kb.shardsearch import search_shard

    single, sharded_dir, _, _ = kbs
    batch = prepare_peptides(_peptides(single, n=400, seed=3))
    with kb.open(sharded_dir) as sharded:
        # the summed shard buckets are the unsharded index's buckets
        assert np.array_equal(sharded.bucket_sizes, single.index.bucket_sizes)
        shard = sharded.shards[1]
        d = batch.distinct(50, 250)
        own = search_shard(shard, d)  # the shard's own rarest windows
        for sizes in (sharded.bucket_sizes, np.ones_like(sharded.bucket_sizes)):
            other = search_shard(shard, d, choose_anchors(shard.index.k, sizes, d.buf, d.offsets))
            assert other.equals(own)
        # oracle: brute-force str.find over the shard's entries (exact, no I/L folding)
        raw = np.asarray(shard.store.residues).tobytes().decode("ascii")
        off = np.asarray(shard.store.offsets).tolist()
        seqs = [raw[a:b] for a, b in zip(off[:-1], off[1:], strict=True)]
        expected = []
        for i, p in enumerate(d.unique):
            for e, seq in enumerate(seqs):
                at = seq.find(p)
                while at >= 0:
                    expected.append((d.first + i, at + 1, e))
                    at = seq.find(p, at + 1)
        got = list(zip(*(own.column(c).to_pylist() for c in ("query", "start", "entry_id")),
                       strict=True))
        assert got == expected and len(got) > 0


def test_sharded_mismatches_counts_and_motifs_equal_single(kbs):
    single, sharded_dir, _, _ = kbs
    peps = _peptides(single, n=120, seed=5)
    with kb.open(sharded_dir) as sharded:
        for options in ({"mismatches": 1}, {"mismatches": 2, "il_equivalent": True},
                        {"mismatches": 0, "with_locations": True}):
            a = single.search_with_summary(peps, **options)
            b = sharded.search_with_summary(peps, **options)
            assert a.table.num_rows > 0 and "matched" in a.table.column_names
            assert b.table.equals(a.table, check_metadata=True), options
        # a taxon that some shards do not hold (one of them was built from a table without
        # taxonomy): those shards add nothing, as in the single knowledge base
        taxon = int(single.con.execute(
            "SELECT taxon_id FROM entries WHERE taxon_id IS NOT NULL ORDER BY entry_id LIMIT 1"
        ).fetchone()[0])
        ids = single.con.execute("SELECT entry_id FROM entries WHERE taxon_id = ?",
                                 [taxon]).fetchnumpy()["entry_id"]
        holding = np.unique(np.searchsorted(sharded.entry_offsets, ids, side="right") - 1)
        assert 0 < len(holding) < len(sharded.shards)
        for options in ({}, {"il_equivalent": True}, {"reviewed_only": True}, {"taxon": taxon}):
            assert sharded.count(peps, chunk=50, **options).equals(
                single.count(peps, **options)), options
        patterns = ["N-{P}-[ST]-{P}", "[STAGCN]-[RKH]-[LIVMAFY]>", "C-x(2,4)-C"]
        assert sharded.motif(patterns).equals(single.motif(patterns))


def test_sharded_hit_rates_equal_single(kbs):
    from psl.hitrate.scorer import score

    single, sharded_dir, _, _ = kbs
    table = _score_input(single)
    with kb.open(sharded_dir) as sharded:
        for options in ({}, {"weighting": "normalized", "evidence": "experimental"}):
            a = score(single, table, proteins=True, null=3, seed=7, **options)
            b = score(sharded, table, proteins=True, null=3, seed=7, **options)
            pd.testing.assert_frame_equal(a.table, b.table)
            pd.testing.assert_frame_equal(a.proteins, b.proteins)
            assert (a.table["n_entries"] > 0).any()
    by_path = score(sharded_dir, table)  # a directory is opened single or sharded alike
    pd.testing.assert_frame_equal(by_path.table, score(single, table).table)


def test_identical_sequence_in_another_shard_is_excluded(tmp_path):
    # the hand-computed golden knowledge base of test_hitrate, one entry per shard: the query
    # protein P11111, its isoform and its identical copy A00001 are all in other shards
    from test_hitrate import GOLDEN_KB, S1, S1_KEEP, S3, _golden_input

    from psl.hitrate.scorer import score

    csv = tmp_path / "golden.csv"
    pd.DataFrame(GOLDEN_KB, columns=["accession", "sequence", "label"]).to_csv(csv, index=False)
    build_sharded([csv], tmp_path / "golden", shards=len(GOLDEN_KB), progress=False)
    with kb.open(tmp_path / "golden") as sharded:
        shard_of = {a: int(np.searchsorted(sharded.entry_offsets, i, side="right")) - 1
                    for i, a in enumerate(sharded.accessions.to_pylist())}
        assert shard_of["P11111"] != shard_of["A00001"]
        for keep_self, s1 in ((False, S1), (True, S1_KEEP)):
            t = score(sharded, _golden_input(), keep_self=keep_self).table
            assert t["n_entries"][0] == s1["n_entries"] and t["n_hits"][0] == s1["n_hits"]
            assert t["hit_rate"][0] == pytest.approx(s1["paper"], rel=1e-12)
        assert t["n_entries"][2] >= S3["n_entries"]
        t = score(sharded, _golden_input()).table
        assert t["hit_rate"][2] == pytest.approx(S3["paper"]) and math.isnan(t["hit_rate"][1])


# ------------------------------------------------------------------------------ faults
def test_missing_or_corrupt_shard_is_named(kbs, tmp_path):
    import shutil

    _, sharded_dir, _, _ = kbs
    copy = tmp_path / "copy"
    shutil.copytree(sharded_dir, copy)
    victim = copy / "shard-0002" / "residues.u8"
    data = bytearray(victim.read_bytes())
    data[10] = ord("W") if data[10] != ord("W") else ord("A")
    victim.write_bytes(bytes(data))  # same size, other bytes
    with pytest.raises(ShardError, match="wrong checksum") as err:
        kb.open(copy)
    assert "shard-0002/residues.u8" in str(err.value)
    open_sharded(copy, verify=False).close()  # sizes still match: opens without hashing
    # kb info: sizes only by default; --check hashes every shard file (exit 2, file named)
    from cli.main import kb_app

    ok = CliRunner().invoke(kb_app, ["info", "--db", str(copy)])
    assert ok.exit_code == 0 and "sizes of" in ok.stdout, ok.output
    bad = CliRunner().invoke(kb_app, ["info", "--db", str(copy), "--check"])
    assert bad.exit_code == 2 and "shard-0002/residues.u8" in bad.stderr, bad.output
    assert "wrong checksum" in bad.stderr and "Traceback" not in bad.output
    shutil.rmtree(copy / "shard-0001")
    with pytest.raises(ShardError, match="shard missing") as err:
        kb.open(copy)
    assert "shard-0001" in str(err.value)


def test_accession_in_two_shards_is_refused(tmp_path):
    csv = tmp_path / "dup.csv"
    rows = [(f"A{i:05d}", "MKVLAAGIW" * (i + 1), "Nucleus") for i in range(6)]
    rows.append(("A00001", "MSTTTTTTT", "Cytoplasm"))  # same accession, last shard
    pd.DataFrame(rows, columns=["accession", "sequence", "label"]).to_csv(csv, index=False)
    with pytest.raises(KBError, match="A00001 in shards 0, 2"):
        build_sharded([csv], tmp_path / "dup", shards=3, progress=False)
    assert not (tmp_path / "dup").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["dup.csv"]  # nothing left behind


def test_cli_build_info_search_and_unreachable_scheduler(kbs, tmp_path):
    from cli.main import kb_app

    single, _, inputs, _ = kbs
    runner = CliRunner()
    res = runner.invoke(kb_app, ["build", *map(str, inputs), "--db", str(tmp_path / "s3"),
                                 "--shards", "3", "--no-progress", "--workers", "1"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(kb_app, ["info", "--db", str(tmp_path / "s3")])
    assert res.exit_code == 0 and "shards: 3" in res.output
    peps = _peptides(single, n=40)
    one = runner.invoke(kb_app, ["search", "--db", str(single.path), *peps])
    three = runner.invoke(kb_app, ["search", "--db", str(tmp_path / "s3"), *peps])
    assert one.exit_code == three.exit_code == 0
    assert three.stdout == one.stdout and len(one.stdout.splitlines()) > 40
    res = runner.invoke(kb_app, ["search", "--db", str(tmp_path / "s3"), "MKV",
                                 "--scheduler", "tcp://127.0.0.1:9"])
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the Dask scheduler" in lines[0]


# ------------------------------------------------------------------------------ cluster
@pytest.fixture(scope="module")
def client():
    pytest.importorskip("distributed")
    from kb.cluster import close_client, connect

    c = connect("local:2")  # the local cluster `--scheduler local:2` starts
    yield c
    close_client(c)


@pytest.mark.filterwarnings("ignore")
def test_local_cluster_has_no_memory_limit_on_mapped_shards(client):
    # the workers' RSS counts memory-mapped shard pages: no nanny limit may act on it
    limits = client.run(lambda dask_worker: dask_worker.memory_manager.memory_limit)
    assert len(limits) == 2 and set(limits.values()) == {None}


def _task_numba_threads():
    import numba

    from kb.cluster import _worker_numba_threads

    _worker_numba_threads()
    return numba.get_num_threads()


@pytest.mark.filterwarnings("ignore")
def test_cluster_tasks_run_numba_on_their_workers_task_threads(client):
    # one task thread per worker -> one numba thread per task (not one per core)
    assert client.submit(_task_numba_threads, pure=False).result() == 1


@pytest.mark.filterwarnings("ignore")
def test_cluster_search_and_hit_rates_equal_single(kbs, client):
    from psl.hitrate.scorer import score

    single, sharded_dir, _, _ = kbs
    peps = _peptides(single, n=500, seed=3)
    with kb.open(sharded_dir, client=client) as sharded:
        sharded.chunk_size = 200
        for options in (OPTIONS[3], OPTIONS[4]):
            a = single.search_with_summary(peps, **options)
            b = sharded.search_with_summary(peps, **options)
            assert b.table.equals(a.table, check_metadata=True), options
        table = _score_input(single, n_proteins=10)
        pd.testing.assert_frame_equal(score(single, table).table, score(sharded, table).table)
    opened = client.run(lambda dask_worker: dask_worker.plugins["psl-kb-shard-cache"].opened)
    counts = [n for per_worker in opened.values() for n in per_worker.values()]
    assert counts and set(counts) == {1}  # each worker opened each shard once, for all tasks


@pytest.mark.filterwarnings("ignore")
def test_cluster_build_equals_local_build(kbs, client, tmp_path):
    single, _, inputs, _ = kbs
    plain = tmp_path / "sample.dat"
    plain.write_bytes(gzip.decompress(inputs[0].read_bytes()))  # byte ranges read in place
    build_sharded([plain, inputs[1]], tmp_path / "c4", shards=4, client=client, progress=False)
    with kb.open(tmp_path / "c4") as sharded:
        assert sharded.entry_table().equals(single.entry_table())
        peps = _peptides(single, n=300, seed=5)
        assert sharded.search(peps).equals(single.search(peps), check_metadata=True)


@pytest.mark.filterwarnings("ignore")
def test_worker_killed_mid_search_loses_and_duplicates_nothing(kbs, client):
    from distributed import wait

    from kb.cluster import gather_search, submit_search
    from kb.peptides import prepare_peptides
    from kb.shards import merge_shard_rows

    single, sharded_dir, _, _ = kbs
    peps = _peptides(single, n=1200, seed=11)
    batch = prepare_peptides(peps)
    with kb.open(sharded_dir, client=client) as sharded:
        futures = submit_search(client, [str(d) for d in sharded.shard_dirs], batch,
                                int(sharded.manifest["k"]), {}, chunk_size=40)
        flat = [f for per_shard in futures for f in per_shard]
        wait(flat, return_when="FIRST_COMPLETED")
        pids = client.run(os.getpid)
        os.kill(pids[sorted(pids)[0]], 9)  # SIGKILL one worker process while tasks run
        assert sum(f.done() for f in flat) < len(flat)
        parts = gather_search(client, futures)
        table, no_hit = merge_shard_rows(batch, parts, sharded.entry_offsets[:4].tolist(),
                                         sharded.accessions)
    expected = single.search_with_summary(peps)
    assert table.equals(expected.table.replace_schema_metadata(None))
    assert np.array_equal(no_hit, expected.no_hit)
    client.wait_for_workers(2, timeout=60)
