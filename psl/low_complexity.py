"""Low-complexity segments of protein sequences: SEG (Wootton & Federhen, Comput. Chem. 1993).

A poly-Q tract, a proline-rich linker or a run of acidic residues shares many short words with
any other protein rich in the same residues, whatever their ancestry. A homology search that
seeds on such words finds "homologs" that are not (a 67-residue poly-Q query aligns at 100%
identity with a poly-Q-rich nuclear protein). BLAST masks such segments in the query with SEG;
:mod:`psl.transfer` does the same in its prefilter.

Algorithm (NCBI's ``seg``, default parameters ``window = 12``, ``trigger = 2.2``,
``extension = 2.5``, ``max_trim = 100``; the output equals ``ncbi-seg <file> -x`` on the proteins
of ``tests/data/seg``):

1. The complexity of each window of ``window`` residues is the Shannon entropy (bits) of its
   composition over the 20 standard amino acids (other letters are not counted).
2. A window with complexity ``<= trigger`` starts a segment, which extends over the
   neighbouring windows with complexity ``<= extension`` (the raw segment is the residues
   those windows cover).
3. The raw segment is trimmed to its least probable sub-segment: the one whose composition
   has the smallest probability ``P = N(assignments) * N(orders) / 20^len`` among those at
   most ``max_trim`` residues shorter. If a trigger window lies left of the trimmed segment,
   the residues left of it are searched again.
4. The segments are masked.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["SEG_EXTENSION", "SEG_MAX_TRIM", "SEG_TRIGGER", "SEG_WINDOW", "seg_mask",
           "seg_segments", "window_complexity"]

SEG_WINDOW, SEG_TRIGGER, SEG_EXTENSION, SEG_MAX_TRIM = 12, 2.2, 2.5, 100

_AA = "ACDEFGHIKLMNPQRSTVWY"
_INDEX = np.full(256, 20, dtype=np.int64)  # 20: not one of the standard amino acids
for _i, _c in enumerate(_AA):
    _INDEX[ord(_c)] = _INDEX[ord(_c.lower())] = _i
_LN20 = math.log(20.0)


def _codes(seq: str) -> np.ndarray:
    return _INDEX[np.frombuffer(seq.encode("ascii", "replace"), dtype=np.uint8)]


def _lnfac(n: int) -> np.ndarray:
    """``ln(i!)`` for ``i <= max(n, 20)``, rounded to 6 decimals as in seg's table: equally
    probable sub-segments then tie as they do there."""
    return np.round(np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, max(n, 20) + 1)))]),
                    6)


@numba.njit(cache=True)
def _state_entropy(counts):  # pragma: no cover - numba
    """Entropy (bits) of the counts of the 20 amino acids (compared with thresholds only, so
    the order of the sum, which seg takes by decreasing count, does not matter)."""
    total = 0
    for i in range(20):
        total += counts[i]
    if total == 0:
        return 0.0
    ent = 0.0
    for i in range(20):
        c = counts[i]
        if c > 0:
            ent += c * math.log(c / total) / math.log(2.0)
    return abs(ent / total)


@numba.njit(cache=True)
def _entropies(codes, window):  # pragma: no cover - numba
    """Complexity of the window starting at each position (``len - window + 1`` values)."""
    n = len(codes) - window + 1
    out = np.empty(max(n, 0), dtype=np.float64)
    counts = np.zeros(21, dtype=np.int64)
    for p in range(min(window, len(codes))):
        counts[codes[p]] += 1
    for s in range(n):
        if s > 0:
            counts[codes[s - 1]] -= 1
            counts[codes[s + window - 1]] += 1
        out[s] = _state_entropy(counts)
    return out


@numba.njit(cache=True)
def _log_probability(counts, length, lnfac, ln20, sv):  # pragma: no cover - numba
    """``ln P`` of a composition: assignments of the counts to the 20 amino acids times the
    orders of the residues, over ``20^length``. ``sv`` (21 ints) receives seg's state vector,
    the counts in decreasing order and a 0; summing in that order, equal compositions get
    equal values, so ties are broken as in seg."""
    n = 0
    for i in range(20):
        c = counts[i]
        j = n
        while j > 0 and sv[j - 1] < c:
            sv[j] = sv[j - 1]
            j -= 1
        sv[j] = c
        n += 1
    sv[20] = 0
    perm = lnfac[length]
    for c in sv:
        if c == 0:
            break
        perm -= lnfac[c]
    ass = lnfac[20]
    if sv[0] != 0:
        remaining = 20
        run = 1
        for i in range(1, 21):
            if i == 20:
                ass -= lnfac[run]
                break
            if sv[i] == sv[i - 1]:
                run += 1
                continue
            remaining -= run
            ass -= lnfac[run]
            if sv[i] == 0:
                ass -= lnfac[remaining]
                break
            run = 1
    return ass + perm - length * ln20


@numba.njit(cache=True)
def _trim(codes, max_trim, lnfac, ln20):  # pragma: no cover - numba
    """``(left, right)``, inclusive, of the least probable sub-segment of ``codes`` at most
    ``max_trim`` residues shorter (longest first, then leftmost, on ties)."""
    n = len(codes)
    min_len = max(1, n - max_trim)
    best = 1.0
    lo, hi = 0, n - 1
    counts = np.zeros(21, dtype=np.int64)
    sv = np.empty(21, dtype=np.int64)
    for length in range(n, min_len, -1):
        counts[:] = 0
        for p in range(length):
            counts[codes[p]] += 1
        for s in range(n - length + 1):
            if s > 0:
                counts[codes[s - 1]] -= 1
                counts[codes[s + length - 1]] += 1
            prob = _log_probability(counts, length, lnfac, ln20, sv)
            if prob < best:
                best = prob
                lo, hi = s, s + length - 1
    return lo, hi


def window_complexity(seq: str, window: int = SEG_WINDOW) -> np.ndarray:
    """Shannon entropy (bits) of the composition of each window of ``window`` residues over
    the 20 standard amino acids (other letters are not counted); ``len(seq) - window + 1``
    values, empty for a shorter sequence."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    return _entropies(_codes(seq), window)


def _segments(codes: np.ndarray, offset: int, window: int, trigger: float, extension: float,
              max_trim: int, lnfac: np.ndarray, out: list[tuple[int, int]]) -> None:
    if window > len(codes):
        return
    h = _entropies(codes, window)  # h[s]: the window starting at s
    down = (window + 1) // 2 - 1
    up = window - down
    # seg indexes a window by its centre c = s + down, for c in [down, len - up]
    last = len(codes) - up
    low_limit = down
    triggers = np.flatnonzero(h <= trigger) + down
    t = 0
    while t < len(triggers):
        i = int(triggers[t])
        t += 1
        if i < low_limit:
            continue
        lo = i
        while lo - 1 >= low_limit and h[lo - 1 - down] <= extension:
            lo -= 1
        hi = i
        while hi + 1 <= last and h[hi + 1 - down] <= extension:
            hi += 1
        left, right = lo - down, hi + up - 1
        a, b = _trim(codes[left:right + 1], max_trim, lnfac, _LN20)
        left, right = left + a, left + b
        if i + up - 1 < left:  # a trigger window left of the trimmed segment
            start = lo - down
            _segments(codes[start:left], offset + start, window, trigger, extension,
                      max_trim, lnfac, out)
        out.append((left + offset, right + offset))
        low_limit = min(hi, right + down) + 1
        while t < len(triggers) and triggers[t] < low_limit:
            t += 1


def seg_segments(seq: str, window: int = SEG_WINDOW, trigger: float = SEG_TRIGGER,
                 extension: float = SEG_EXTENSION,
                 max_trim: int = SEG_MAX_TRIM) -> list[tuple[int, int]]:
    """Low-complexity segments of ``seq`` as 0-based inclusive ``(start, end)`` pairs, in
    order, overlapping ones merged (module docstring).

    Raises:
        ValueError: ``window < 1``, ``trigger > extension`` or ``max_trim < 0``.
    """
    if window < 1 or trigger > extension or max_trim < 0:
        raise ValueError(f"need window >= 1, trigger <= extension and max_trim >= 0 (got "
                         f"{window}, {trigger}, {extension}, {max_trim})")
    raw: list[tuple[int, int]] = []
    _segments(_codes(seq), 0, window, trigger, extension, max_trim, _lnfac(len(seq)), raw)
    merged: list[tuple[int, int]] = []
    for a, b in raw:
        if merged and merged[-1][1] >= a:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def seg_mask(seq: str, mask_char: str = "X", **params) -> str:
    """``seq`` with the residues of its low-complexity segments (:func:`seg_segments`, which
    takes ``params``) replaced by ``mask_char``."""
    segs = seg_segments(seq, **params)
    if not segs:
        return seq
    chars = list(seq)
    for a, b in segs:
        chars[a:b + 1] = mask_char * (b - a + 1)
    return "".join(chars)
