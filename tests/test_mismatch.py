"""Mismatch search (kb.mismatch, kb.open(...).search(mismatches=N)) against a brute-force
Hamming distance over every window of every sequence, on random and real sequences."""

from __future__ import annotations

import numpy as np
import pytest
import test_api

from kb.index import build_index
from kb.mismatch import check_mismatches, describe_hits, find_mismatches, seed_plan
from kb.peptides import prepare_peptides
from kb.seqstore import SequenceStore

AA = "ACDEFGHIKLMNPQRSTVWY"


def hamming_hits(seqs: list[str], peptide: str, n: int, il: bool) -> list[tuple]:
    """(entry, 0-based start, mismatches, positions) of every window within n substitutions."""
    fold = (lambda s: s.replace("I", "L")) if il else (lambda s: s)
    pep = fold(peptide)
    out = []
    for e, seq in enumerate(seqs):
        f = fold(seq)
        for s in range(len(seq) - len(pep) + 1):
            pos = [j + 1 for j, c in enumerate(pep) if c != "X" and f[s + j] != c]
            if len(pos) <= n:
                out.append((e, s, len(pos), ";".join(map(str, pos))))
    return out


def random_store(seed: int, n_seqs: int = 60):
    rng = np.random.default_rng(seed)
    letters = np.array(list(AA))
    seqs = []
    for i in range(n_seqs):
        s = "".join(rng.choice(letters, int(rng.integers(1, 200))))
        if i % 7 == 0 and len(s) > 10:  # non-standard residues the index does not hold
            j = int(rng.integers(len(s)))
            s = s[:j] + "XUBZ"[i % 4] + s[j + 1:]
        seqs.append(s)
    # low-complexity stretches give many near-hits
    seqs.append("LLLLLLLLIIIIIIIIIAAAAAAAAAAAKKKKKKK")
    return seqs


def sample(seqs, rng, n, lo=1, hi=20):
    peps = []
    for _ in range(n):
        s = seqs[int(rng.integers(len(seqs)))]
        length = int(rng.integers(lo, hi + 1))
        if len(s) < length:
            continue
        a = int(rng.integers(0, len(s) - length + 1))
        p = list(s[a:a + length])
        for _ in range(int(rng.integers(0, 4))):  # mutate a few positions
            p[int(rng.integers(length))] = AA[int(rng.integers(20))]
        if rng.random() < 0.1:
            p[int(rng.integers(length))] = "X"
        peps.append("".join(p))
    peps += ["LLLLLLLLL", "IIIIL", "KKKKKKKAAAA", "XXXXXX"]
    return peps


def check(seqs, peptides, n, il, use_index):
    store = SequenceStore.from_sequences(seqs)
    index = build_index(store, k=5)
    batch = prepare_peptides(peptides)
    hit_off, hits = find_mismatches(store, index, batch, n, il_equivalent=il,
                                    use_index=use_index)
    starts = np.asarray(store.offsets)
    for u, pep in enumerate(batch.unique):
        got = hits[hit_off[u]:hit_off[u + 1]]
        entry = np.searchsorted(starts, got, side="right") - 1
        got_pairs = list(zip(entry.tolist(), (got - starts[entry]).tolist(), strict=True))
        want = hamming_hits(seqs, pep, n, il)
        assert got_pairs == [(e, s) for e, s, _, _ in want], (pep, n, il)
        if got.shape[0]:
            mm, pos, matched = describe_hits(store, got, batch, np.full(got.shape[0], u), il)
            assert mm.to_pylist() == [m for _, _, m, _ in want]
            assert pos.to_pylist() == [p for _, _, _, p in want]
            assert matched.to_pylist() == [seqs[e][s:s + len(pep)] for e, s, _, _ in want]


@pytest.mark.parametrize("n", [0, 1, 2, 3])
@pytest.mark.parametrize("use_index", [True, False, None])
def test_random_sequences_equal_brute_force(n, use_index):
    seqs = random_store(10 + n)
    rng = np.random.default_rng(100 + n)
    check(seqs, sample(seqs, rng, 40), n, il=bool(n % 2), use_index=use_index)


def test_real_sequences_equal_brute_force(repo_root):
    import pandas as pd

    df = pd.read_csv(repo_root / "data/deeploc2/deeploc2_swissprot.csv.gz", nrows=150)
    seqs = df.sequence.tolist()
    rng = np.random.default_rng(7)
    peps = sample(seqs, rng, 25, lo=8, hi=15)
    for n in (1, 3):
        check(seqs, peps, n, il=n == 3, use_index=True)


def test_seed_plan_is_a_pigeonhole_cover():
    for length in range(5, 40):
        for n in range(4):
            plan = seed_plan(length, n, 5)
            assert sum(e + 1 for _, _, e in plan) == n + 1
            assert plan[0][0] == 0
            assert sum(s for _, s, _ in plan) == length
            for (a, s, _), (b, _, _) in zip(plan, plan[1:], strict=False):
                assert a + s == b
    # classic pigeonhole when pieces are long: N + 1 exact seeds
    assert [e for _, _, e in seed_plan(30, 2, 5)] == [0, 0, 0]


@pytest.mark.parametrize("bad", [-1, 4, 1.5, "2", True])
def test_bad_mismatch_counts_are_refused(bad):
    with pytest.raises(ValueError, match="mismatches must be an integer in 0..3"):
        check_mismatches(bad)


# ------------------------------------------------------------------ API and CLI on a real KB
kb_dir = test_api.kb_dir  # the real sample knowledge base, built once per session


@pytest.fixture(scope="session")
def sample_kb(kb_dir):
    return kb_dir


def test_api_search_with_mismatches_and_filters(sample_kb):
    import kb
    from kb.api import MISMATCH_COLUMNS, SEARCH_COLUMNS

    with kb.open(sample_kb) as opened:
        ent = opened.con.sql("SELECT entry_id, accession, sequence, taxon_id, reviewed FROM "
                             "entries ORDER BY entry_id").to_arrow_table().to_pandas()
        seqs = ent.sequence.tolist()
        rng = np.random.default_rng(3)
        peps = sample(seqs, rng, 30, lo=6, hi=14) + [sample(seqs, rng, 1, 9, 9)[0].lower()]
        keep = (ent.taxon_id == 9606).to_numpy()
        table = opened.search(peps, mismatches=2, il_equivalent=True, taxon=9606,
                              with_locations=True)
        assert table.column_names[:9] == list(SEARCH_COLUMNS + MISMATCH_COLUMNS)
        assert "classes" in table.column_names
        want = []
        for q, p in enumerate(peps):
            for e, s, m, pos in hamming_hits(seqs, p.upper(), 2, True):
                if keep[e]:
                    want.append((p.upper(), ent.accession[e], s + 1, s + len(p), q, e, m, pos,
                                 seqs[e][s:s + len(p)]))
        cols = list(SEARCH_COLUMNS + MISMATCH_COLUMNS)
        got = list(zip(*(table.column(c).to_pylist() for c in cols), strict=True))
        assert got == want and len(want) > 30
        # mismatches=None keeps exact search and its columns
        assert opened.search(peps).column_names == list(SEARCH_COLUMNS)
        with pytest.raises(ValueError, match="mismatches must be"):
            opened.search(peps, mismatches=5)


def test_cli_search_mismatches(sample_kb):
    from typer.testing import CliRunner

    import kb
    from cli.main import kb_app

    with kb.open(sample_kb) as opened:
        seq = opened.store.sequence(2)
    pep = seq[10:20]
    mutated = pep[:3] + ("A" if pep[3] != "A" else "C") + pep[4:]
    result = CliRunner().invoke(kb_app, ["search", "--db", str(sample_kb), mutated,
                                         "--mismatches", "1"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    header = lines[0].split("\t")
    assert header[6:9] == ["mismatches", "mismatch_positions", "matched"]
    row = dict(zip(header, lines[1].split("\t"), strict=True))
    assert (row["mismatches"], row["mismatch_positions"], row["matched"]) == ("1", "4", pep)
    bad = CliRunner().invoke(kb_app, ["search", "--db", str(sample_kb), pep, "-m", "4"])
    assert bad.exit_code == 2 and "mismatches must be an integer in 0..3" in bad.stderr
