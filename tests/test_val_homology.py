"""benchmarks/val_homology.py: the k-mer share of a protein against a reference set equals a
brute-force computation with Python sets."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from val_homology import KmerSharing, kmer_codes  # noqa: E402

AA = "ACDEFGHIKLMNPQRSTVWY"


def _kmers(s: str, k: int) -> set[str]:
    s = s.replace("I", "L")  # the kb index's codes merge I and L
    return {s[i:i + k] for i in range(len(s) - k + 1) if all(c in AA for c in s[i:i + k])}


def _best_share(q: str, refs: list[str], k: int) -> float:
    mine = _kmers(q, k)
    if not mine:
        return 0.0
    return max((len(mine & _kmers(r, k)) / len(mine) for r in refs), default=0.0)


def test_best_share_matches_brute_force():
    rng = np.random.default_rng(3)
    letters = list(AA) + ["X"]  # non-standard letters break k-mers
    base = ["".join(rng.choice(letters, int(n))) for n in rng.integers(1, 60, 25)]
    refs = base[:15]
    # queries: mutated copies of references (shared k-mers), fresh sequences, short ones
    queries = []
    for r in base[:10]:
        s = list(r)
        for i in rng.integers(0, len(s), max(1, len(s) // 8)):
            s[i] = str(rng.choice(list(AA)))
        queries.append("".join(s))
    queries += base[15:] + ["ACD", "", "XXXXXXXXXX"]
    for k in (3, 5):
        sharing = KmerSharing(refs, k)
        for q in queries:
            assert sharing.best_share(q) == pytest.approx(_best_share(q, refs, k)), (q, k)
    assert KmerSharing(refs, 4).best_share(refs[0] * 1) == (1.0 if _kmers(refs[0], 4) else 0.0)


def test_kmer_codes_are_distinct_per_kmer():
    assert len(kmer_codes("ACDACDACD", 3)) == 3  # ACD, CDA, DAC
    assert len(kmer_codes("AXAAA", 2)) == 1       # only AA
    assert np.array_equal(kmer_codes("KIV", 3), kmer_codes("KLV", 3))  # I = L
    with pytest.raises(ValueError, match="k must be"):
        KmerSharing(["ACD"], 15)
