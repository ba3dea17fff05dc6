"""k-mer index: build vs a plain-loop window enumeration, search vs brute-force ``str.find``."""

from __future__ import annotations

import errno
import json
import os

import numpy as np
import pytest

from kb.errors import KBNotFoundError
from kb.index import DEFAULT_K, KmerIndex, build_index, write_index
from kb.peptides import prepare_peptides
from kb.seqstore import SequenceStore

STANDARD = "ACDEFGHIKLMNPQRSTVWY"


def brute_force(sequences: list[str], peptide: str, il: bool = False) -> list[tuple[int, int]]:
    """All (entry, 0-based start) of ``peptide``, overlapping ones included, one entry at a time."""
    out = []
    pep = peptide.replace("I", "L") if il else peptide
    for e, seq in enumerate(sequences):
        s = seq.replace("I", "L") if il else seq
        i = s.find(pep)
        while i != -1:
            out.append((e, i))
            i = s.find(pep, i + 1)
    return out


def random_sequences(rng: np.random.Generator, n: int, alphabet: str, max_len: int = 60):
    letters = np.array(list(alphabet))
    return ["".join(rng.choice(letters, size=int(rng.integers(1, max_len)))) for _ in range(n)]


def sample_peptides(rng: np.random.Generator, seqs: list[str], n: int, lo: int, hi: int):
    """Substrings (incl. at the very start / end), boundary-spanning strings and random ones."""
    peps = []
    for _ in range(n):
        s = seqs[int(rng.integers(len(seqs)))]
        length = int(rng.integers(lo, hi + 1))
        kind = rng.integers(5)
        if kind == 0 and len(s) >= length:
            peps.append(s[:length])  # at the very start
        elif kind == 1 and len(s) >= length:
            peps.append(s[len(s) - length:])  # at the very end
        elif kind == 2:  # spans two neighbouring sequences in the concatenated store
            i = int(rng.integers(len(seqs) - 1))
            a, b = seqs[i], seqs[i + 1]
            cut = int(rng.integers(1, length)) if length > 1 else 1
            peps.append(a[-cut:] + b[: max(1, length - cut)])
        elif len(s) >= length:
            a = int(rng.integers(0, len(s) - length + 1))
            peps.append(s[a:a + length])
        else:
            peps.append("".join(rng.choice(list(STANDARD), size=length)))
    return peps


def index_hits(index: KmerIndex, store: SequenceStore, peptides: list[str], il: bool):
    batch = prepare_peptides(peptides)
    hit_off, hits = index.find(store, batch.buf, batch.offsets, il_equivalent=il)
    entry = np.searchsorted(store.offsets, hits, side="right") - 1
    start = hits - store.offsets[entry]
    pairs = list(zip(entry.tolist(), start.tolist(), strict=True))
    return batch, [pairs[hit_off[u]:hit_off[u + 1]] for u in range(len(batch.unique))]


def plain_index(sequences: list[str], k: int) -> dict[str, list[int]]:
    """Reference index: I->L normalised k-mer -> absolute positions (plain Python loop)."""
    text = "*".join(sequences) + "*"
    ref: dict[str, list[int]] = {}
    for p in range(len(text) - k + 1):
        w = text[p:p + k]
        if all(c in STANDARD for c in w):
            ref.setdefault(w.replace("I", "L"), []).append(p)
    return ref


@pytest.mark.parametrize("k", [1, 2, 3, 4])
@pytest.mark.parametrize("n_chunks", [1, 3])
@pytest.mark.parametrize("block", [None, 7])
def test_build_matches_plain_loop(k, n_chunks, block, monkeypatch):
    """``block``: the kernels group windows block by block (2**20 windows); 7 makes every
    chunk span many blocks, so positions of one k-mer come from several blocks."""
    if block is not None:
        monkeypatch.setattr("kb.index._BLOCK", block)
    rng = np.random.default_rng(k * 10 + n_chunks)
    seqs = random_sequences(rng, 60, "ACDILKXB", 25)
    store = SequenceStore.from_sequences(seqs)
    index = build_index(store, k, n_chunks=n_chunks)
    ref = plain_index(seqs, k)
    assert int(index.kmer_offsets[-1]) == sum(len(v) for v in ref.values())
    # Every bucket is ascending and holds exactly the windows of one normalised k-mer.
    text = "*".join(seqs) + "*"
    for b in np.flatnonzero(np.diff(index.kmer_offsets)):
        pos = index.positions[index.kmer_offsets[b]:index.kmer_offsets[b + 1]].tolist()
        kmer = text[pos[0]:pos[0] + k].replace("I", "L")
        assert pos == ref[kmer]


@pytest.mark.parametrize("il", [False, True])
@pytest.mark.parametrize("k", [3, 5])
def test_find_equals_brute_force(il, k):
    rng = np.random.default_rng(1000 + k + il)
    # Skewed small alphabet: many overlapping and repeated occurrences; X and I/L mixed in.
    seqs = random_sequences(rng, 150, "AAAALLIIKX", 50) + random_sequences(rng, 150, STANDARD, 80)
    seqs += ["AAAAAAAAAAAAAAA", "LILILILILILILI", "KAAAAAAAK"]
    store = SequenceStore.from_sequences(seqs)
    index = build_index(store, k)
    peps = sample_peptides(rng, seqs, 400, k, k + 12) + ["A" * k, "LILILIL"[:k], "LLLLLLL"]
    batch, got = index_hits(index, store, peps, il)
    anchors = index.anchors(batch.buf, batch.offsets)[1][:, 0]
    n_checked = 0
    for u, pep in enumerate(batch.unique):
        if anchors[u] < 0:  # no all-standard k-window: served by the scanner instead
            assert got[u] == []
            assert len(pep) < k or any(c not in STANDARD for c in pep)
            continue
        assert got[u] == brute_force(seqs, pep, il), pep
        n_checked += 1
    assert n_checked > 300
    # The sample does contain overlapping repeats and boundary-spanning strings.
    assert any(len(g) > 1 and g[1][1] - g[0][1] < len(p) and g[1][0] == g[0][0]
               for g, p in zip(got, batch.unique, strict=True))


def test_spanning_two_sequences_never_matches():
    seqs = ["MKVLAA", "GIVAPK", "AAGIVA"]
    store = SequenceStore.from_sequences(seqs)
    index = build_index(store, 3)
    batch, got = index_hits(index, store, ["LAAGIV", "AAGIVA", "VLAAGI"], il=False)
    assert got == [[], [(2, 0)], []]


def test_il_mode_versus_exact_mode():
    seqs = ["PEPTIDEKLLK", "PEPTLDEKIIK"]
    store = SequenceStore.from_sequences(seqs)
    index = build_index(store, 3)
    _, exact = index_hits(index, store, ["PEPTIDE", "EKLL"], il=False)
    _, il = index_hits(index, store, ["PEPTIDE", "EKLL"], il=True)
    assert exact == [[(0, 0)], [(0, 6)]]
    assert il == [[(0, 0), (1, 0)], [(0, 6), (1, 6)]]


def test_anchor_is_rarest_window_and_nonstandard_peptides_have_none():
    seqs = ["AAAAAAAAAAWC", "AAAAAAW", "AWAW"]
    store = SequenceStore.from_sequences(seqs)
    index = build_index(store, 2)
    batch = prepare_peptides(["AAAWC", "XXXX", "A", "AXA", "XAWX"])
    off, key = index.anchors(batch.buf, batch.offsets)
    assert off[:, 0].tolist() == [3, -1, -1, -1, 1]  # "WC" is rarer than "AA" and "AW"
    assert off[:, 1].tolist() == [2, -1, -1, -1, -1]  # then "AW" (4) before "AA" (15)
    assert (key[[1, 2, 3]] == -1).all() and key[4, 1] == -1


def test_write_load_roundtrip(tmp_path):
    rng = np.random.default_rng(7)
    seqs = random_sequences(rng, 40, STANDARD, 40)
    store = SequenceStore.from_sequences(seqs)
    info = write_index(store, tmp_path, k=3)
    assert info["k"] == 3 and info["n_buckets"] == 19**3
    assert info["n_positions"] == sum(max(0, len(s) - 2) for s in seqs)
    loaded = KmerIndex.load(tmp_path)
    assert isinstance(loaded.positions, np.memmap) or loaded.positions.base is not None
    ref = build_index(store, 3)
    np.testing.assert_array_equal(loaded.kmer_offsets, ref.kmer_offsets)
    np.testing.assert_array_equal(loaded.positions, ref.positions)
    assert json.loads((tmp_path / "kmer_index.json").read_text())["k"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "kmer_index.json", "kmer_offsets.npy", "kmer_positions.npy"]  # no temporary file left


@pytest.mark.parametrize("code", [errno.ENODEV, errno.EPERM])
def test_write_index_where_files_cannot_be_mapped(tmp_path, monkeypatch, code):
    """A file system that cannot map a file for writing (some FUSE mounts: ENODEV): the
    positions are filled in memory and written instead, the same files; any other error of
    the map is the user's to see."""
    rng = np.random.default_rng(3)
    store = SequenceStore.from_sequences(random_sequences(rng, 30, STANDARD, 40))

    def no_map(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(np.lib.format, "open_memmap", no_map)
    if code == errno.EPERM:
        with pytest.raises(PermissionError):
            write_index(store, tmp_path, k=3)
        return
    write_index(store, tmp_path, k=3)
    monkeypatch.undo()  # (loading maps the files)
    ref = build_index(store, 3)
    loaded = KmerIndex.load(tmp_path)
    np.testing.assert_array_equal(loaded.positions, ref.positions)
    np.testing.assert_array_equal(loaded.kmer_offsets, ref.kmer_offsets)


def test_int64_positions_equal_int32(monkeypatch):
    """Stores of 2**31 residues or more get int64 cursors and positions (UniProtKB-sized
    single knowledge bases); the kernels are the same: on a small store, forced to int64,
    they give the int32 result, across many blocks."""
    import kb.index as ki

    monkeypatch.setattr(ki, "_BLOCK", 11)
    rng = np.random.default_rng(11)
    store = SequenceStore.from_sequences(random_sequences(rng, 80, "ACDILKXB", 30))
    residues, cursors, offsets = ki._counted(store, 3, 2)
    ref = np.empty(int(offsets[-1]), dtype=np.int32)
    ki._fill(residues, 3, cursors, ref)
    counts64 = np.zeros((2, 19**3), dtype=np.int64)
    shift = ki._group_shift(19**3)
    ki._scan_chunks(residues, ki._CODES, 3, 19**3, counts64, np.empty(0, np.int64), False,
                    11, shift)
    offsets64 = np.empty(19**3 + 1, dtype=np.int64)
    ki._cursors(counts64, offsets64)
    np.testing.assert_array_equal(offsets64, offsets)
    got = np.empty(int(offsets64[-1]), dtype=np.int64)
    ki._scan_chunks(residues, ki._CODES, 3, 19**3, counts64, got, True, 11, shift)
    np.testing.assert_array_equal(got, ref)


def test_write_index_without_any_window(tmp_path):
    """No indexable window (too short, or non-standard letters): an empty positions file
    (an empty file cannot be memory-mapped while it is filled) that loads and finds nothing."""
    store = SequenceStore.from_sequences(["AC", "XBXBX", "AXC"])
    info = write_index(store, tmp_path, k=3)
    assert info["n_positions"] == 0
    loaded = KmerIndex.load(tmp_path)
    assert loaded.positions.shape == (0,) and int(loaded.kmer_offsets[-1]) == 0


def test_load_refuses_incomplete_or_foreign_index(tmp_path):
    store = SequenceStore.from_sequences(["ACDEFGH"])
    with pytest.raises(KBNotFoundError, match="kmer_index.json missing"):
        KmerIndex.load(tmp_path)
    write_index(store, tmp_path, k=2)
    meta = json.loads((tmp_path / "kmer_index.json").read_text())
    meta["format_version"] = 999
    (tmp_path / "kmer_index.json").write_text(json.dumps(meta))
    with pytest.raises(KBNotFoundError, match="another format"):
        KmerIndex.load(tmp_path)


@pytest.mark.parametrize("k", [0, 8, 2.5, True])
def test_bad_k_is_rejected(k, tmp_path):
    with pytest.raises(ValueError, match="k-mer length"):
        build_index(SequenceStore.from_sequences(["ACD"]), k)


def test_write_index_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_index(SequenceStore.from_sequences(["ACD"]), tmp_path / "nope", k=2)


def test_empty_store_and_empty_batch():
    store = SequenceStore.from_sequences([])
    index = build_index(store, 2)
    assert index.positions.shape == (0,) and DEFAULT_K == 5
    batch = prepare_peptides(["ACD"])
    hit_off, hits = index.find(store, batch.buf, batch.offsets)
    assert hit_off.tolist() == [0, 0] and hits.shape == (0,)
    empty = prepare_peptides([])
    hit_off, hits = index.find(store, empty.buf, empty.offsets)
    assert hit_off.tolist() == [0]
