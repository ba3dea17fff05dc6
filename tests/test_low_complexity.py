"""SEG low-complexity masking (psl.low_complexity) against NCBI's seg and hand-computed values."""

from __future__ import annotations

import gzip
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from Bio import SeqIO

from psl.low_complexity import seg_mask, seg_segments, window_complexity

DATA = Path(__file__).parent / "data" / "seg"
AA = "ACDEFGHIKLMNPQRSTVWY"


def _fasta(name: str) -> dict[str, str]:
    with gzip.open(DATA / name, "rt") as fh:
        return {r.id: str(r.seq) for r in SeqIO.parse(fh, "fasta")}


def test_masks_equal_ncbi_seg_on_shipped_proteins():
    """The golden masks come from Debian's ncbi-seg (tests/data/seg/README.md): every residue
    it masks, and no other, is masked here."""
    proteins, masked = _fasta("proteins.fasta.gz"), _fasta("ncbi_seg_x.fasta.gz")
    assert len(proteins) == len(masked) == 155
    n_masked = 0
    for name, seq in proteins.items():
        theirs = [c == "x" for c in masked[name]]  # ncbi-seg upper-cases what it keeps
        ours = [False] * len(seq)
        for a, b in seg_segments(seq):
            ours[a:b + 1] = [True] * (b - a + 1)
        assert ours == theirs, name
        out = seg_mask(seq, "#")
        assert [c == "#" for c in out] == theirs
        assert all(a == b for a, b, m in zip(out, seq, theirs, strict=True) if not m)
        n_masked += sum(theirs)
    assert n_masked > 5000  # the golden set does exercise the masking


def _plain_entropy(window: str) -> float:
    counts = Counter(c for c in window.upper() if c in AA)
    total = sum(counts.values())
    return -sum(n / total * math.log2(n / total) for n in counts.values()) if total else 0.0


def test_window_complexity_matches_a_plain_loop():
    rng = np.random.default_rng(3)
    for _ in range(20):
        alphabet = list(rng.choice(list(AA + "XUBZ"), rng.integers(1, 24)))
        seq = "".join(rng.choice(alphabet, rng.integers(1, 80)))
        for w in (1, 5, 12):
            got = window_complexity(seq, w)
            want = [_plain_entropy(seq[s:s + w]) for s in range(len(seq) - w + 1)]
            assert got.shape == (max(len(seq) - w + 1, 0),)
            assert np.allclose(got, want, atol=1e-12)


def test_hand_computed_values():
    assert np.allclose(window_complexity("Q" * 12), [0.0])
    assert np.allclose(window_complexity("QP" * 6), [1.0])
    assert np.allclose(window_complexity("ACDEFGHIKLMN"), [math.log2(12)])
    assert np.allclose(window_complexity("QQQQQQXXXXXX"), [0.0])  # X is not counted
    assert seg_mask("Q" * 67) == "X" * 67
    assert seg_mask("Q" * 11) == "Q" * 11  # shorter than the window: never masked
    tract = "ACDEFGHIKLMNPQRSTVWY" * 5 + "S" * 25
    assert seg_segments(tract) == [(100, 124)]
    assert seg_mask(tract, "#") == tract[:100] + "#" * 25


def test_bad_parameters_are_refused():
    for kw in ({"window": 0}, {"trigger": 2.6, "extension": 2.5}, {"max_trim": -1}):
        with pytest.raises(ValueError):
            seg_segments("ACDEFGHIKLMNPQ", **kw)
    with pytest.raises(ValueError):
        window_complexity("ACD", 0)
