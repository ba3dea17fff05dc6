"""Peptide search with substitutions: every window within ``N`` mismatches (Hamming distance).

Semantics: a window of the store of the peptide's length, inside one entry, is a hit when at
most ``N`` of its positions differ from the peptide. Both sides are compared after the
optional I -> L folding (``il_equivalent``); an ``X`` in the peptide matches any residue and
is never a mismatch; any other letter (``B``, ``Z``, ``U``, ...) matches only itself.

Engine (pigeonhole seeds on the k-mer index of :mod:`kb.index`, then a numba verifier):

* **Seed plan.** The peptide of length ``L`` is cut into contiguous pieces, each with an
  error budget ``e_i``, such that ``sum(e_i + 1) = N + 1``: a window within ``N`` mismatches
  has some piece within its budget (generalised pigeonhole; with all ``e_i = 0`` this is the
  classic ``N + 1`` exact seeds of length ``floor(L / (N + 1))``). Each piece is searched
  through one ``k``-residue window of the index: a piece of ``>= k`` residues through its
  rarest window (budget 0) or its first window, a shorter piece through the window that
  extends it inside the peptide, the extension residues enumerated (19 codes each). The
  buckets of every piece variant within budget are enumerated depth-first in numba; the plan
  (piece lengths and budgets) minimises the number of enumerated buckets and is chosen once
  per peptide length (dynamic programme over cut points).
* **Verification.** Every candidate start is checked against the whole peptide with an early
  exit after ``N + 1`` mismatches (a window holding the ``*`` separator is refused); the
  verified starts of a peptide are sorted and de-duplicated (a window can be found by several
  pieces).
* **Windows the index cannot see.** The index holds only windows of the 20 standard amino
  acids, so windows touching a non-standard store residue (``X``, ``U``, ``B``, ...; about one
  residue in 100,000 in Swiss-Prot) are verified directly for every seeded peptide.
* **Vectorised scan.** Peptides shorter than ``k``, peptides with a non-standard letter
  (``X`` wildcards included), and peptides whose plan would enumerate more candidates than a
  scan reads, are checked at every start of the store (numba, parallel over store chunks).

:func:`find_mismatches` returns the same CSR layout as :meth:`kb.index.KmerIndex.find`;
:func:`describe_hits` gives each hit's mismatch count, mismatch positions and matched window.
"""

from __future__ import annotations

import functools
from math import comb

import numba
import numpy as np
import pyarrow as pa

from kb.index import BASE, KmerIndex, il_table, kmer_code_table
from kb.peptides import PeptideBatch
from kb.seqstore import SEPARATOR, SequenceStore

__all__ = ["MAX_MISMATCHES", "seed_plan", "find_mismatches", "describe_hits", "check_mismatches",
           "nonstandard_positions"]

#: Largest number of substitutions accepted.
MAX_MISMATCHES = 3
_CODES = kmer_code_table()
_X = ord("X")
#: Peptides are processed in chunks whose candidate buffers hold at most this many starts.
_CHUNK_CANDIDATES = 1 << 24


def check_mismatches(mismatches: object) -> int:
    """``mismatches`` as an int in ``0..MAX_MISMATCHES``.

    Raises:
        ValueError: anything else (naming the value and the allowed range).
    """
    if isinstance(mismatches, bool) or not isinstance(mismatches, (int, np.integer)) or not (
        0 <= int(mismatches) <= MAX_MISMATCHES
    ):
        raise ValueError(
            f"mismatches must be an integer in 0..{MAX_MISMATCHES}, got {mismatches!r}"
        )
    return int(mismatches)


def _variants(m: int, e: int) -> int:
    """Strings over the 19 codes within ``e`` substitutions of a given string of length m."""
    return sum(comb(m, j) * (BASE - 1) ** j for j in range(min(e, m) + 1))


def _piece_buckets(length: int, budget: int, k: int) -> int:
    m = min(length, k)
    return _variants(m, budget) * BASE ** (k - m)


@functools.lru_cache(maxsize=4096)
def seed_plan(length: int, mismatches: int, k: int) -> tuple[tuple[int, int, int], ...]:
    """Pieces ``(start, length, budget)`` covering a peptide of ``length`` residues.

    The budgets satisfy ``sum(budget + 1) == mismatches + 1`` (so a window within
    ``mismatches`` substitutions has a piece within its budget) and the plan minimises the
    number of index buckets enumerated (:func:`_piece_buckets`). Needs ``length >= k``.
    """
    units = mismatches + 1
    inf = float("inf")
    # best[i][u]: (cost, plan) covering [0, i) with u units.
    best: list[list[tuple[float, tuple]]] = [[(inf, ())] * (units + 1) for _ in range(length + 1)]
    best[0][0] = (0, ())
    for i in range(length):
        for u in range(units):
            cost, plan = best[i][u]
            if cost == inf:
                continue
            for j in range(i + 1, length + 1):
                for e in range(units - u):
                    c = cost + _piece_buckets(j - i, e, k)
                    if c < best[j][u + e + 1][0]:
                        best[j][u + e + 1] = (c, plan + ((i, j - i, e),))
    return best[length][units][1]


# ---------------------------------------------------------------------------------- kernels
@numba.njit(inline="always")
def _hamming_ok(residues, s, pep_buf, a, length, norm, max_mm):  # pragma: no cover - numba
    """True when the window at ``s`` is within ``max_mm`` mismatches and holds no separator."""
    mm = 0
    for i in range(length):
        r = residues[s + i]
        if r == 42:  # '*'
            return False
        p = pep_buf[a + i]
        if p != 88 and norm[r] != norm[p]:  # 'X' matches anything
            mm += 1
            if mm > max_mm:
                return False
    return True


@numba.njit(cache=True)
def _pick_windows(pep_buf, pep_off, codes, sizes, k, seeds):  # pragma: no cover - numba
    """For pieces of >= k residues with budget 0, the rarest window (seeds[u, i, 3])."""
    for u in range(pep_off.shape[0] - 1):
        a = pep_off[u]
        for i in range(seeds.shape[1]):
            start, length, budget = seeds[u, i, 0], seeds[u, i, 1], seeds[u, i, 2]
            if length < k or budget != 0:
                continue
            best = start
            best_size = np.int64(1) << 62
            for w in range(start, start + length - k + 1):
                key = 0
                for j in range(k):
                    key = key * 19 + codes[pep_buf[a + w + j]]
                if np.int64(sizes[key]) < best_size:
                    best_size = np.int64(sizes[key])
                    best = w
            seeds[u, i, 3] = best


@numba.njit(cache=True)
def _enumerate(pep_buf, a, codes, k, piece_start, piece_len, budget, w, kmer_offsets, out,
               collect, digit, keys, costs):  # pragma: no cover - numba
    """Buckets of the window at ``w`` whose piece positions are within ``budget`` of the
    peptide (other window positions free). Returns (number of positions in them, number of
    buckets); when ``collect``, writes the buckets into ``out``. ``digit``, ``keys``,
    ``costs``: scratch arrays of ``k + 1`` ints (allocated once per thread block)."""
    keys[0] = 0
    costs[0] = 0
    level = 0
    digit[0] = -1
    total = 0
    n_out = 0
    while level >= 0:
        digit[level] += 1
        d = digit[level]
        p = w + level
        constrained = piece_start <= p < piece_start + piece_len
        if constrained:
            limit = 19 if costs[level] < budget else 1
        else:
            limit = 19
        if d >= limit:
            level -= 1
            continue
        if constrained:
            pc = np.int64(codes[pep_buf[a + p]])
            if d == 0:
                code = pc
                c = costs[level]
            else:
                code = d - 1 if d - 1 < pc else d
                c = costs[level] + 1
        else:
            code = d
            c = costs[level]
        key = keys[level] * 19 + code
        if level == k - 1:
            total += kmer_offsets[key + 1] - kmer_offsets[key]
            if collect:
                out[n_out] = key
                n_out += 1
        else:
            level += 1
            keys[level] = key
            costs[level] = c
            digit[level] = -1
    return total, n_out


#: Peptides per parallel block (scratch arrays are allocated once per block).
_BLOCK = 256


@numba.njit(parallel=True, cache=True)
def _count(pep_buf, pep_off, codes, k, seeds, kmer_offsets, caps):  # pragma: no cover
    dummy = np.empty(0, dtype=np.int64)
    n = pep_off.shape[0] - 1
    for blk in numba.prange((n + _BLOCK - 1) // _BLOCK):
        digit = np.empty(k + 1, dtype=np.int64)
        keys = np.empty(k + 1, dtype=np.int64)
        costs = np.empty(k + 1, dtype=np.int64)
        for u in range(blk * _BLOCK, min(n, (blk + 1) * _BLOCK)):
            a = pep_off[u]
            total = 0
            for i in range(seeds.shape[1]):
                if seeds[u, i, 1] == 0:
                    continue
                t, _ = _enumerate(pep_buf, a, codes, k, seeds[u, i, 0], seeds[u, i, 1],
                                  seeds[u, i, 2], seeds[u, i, 3], kmer_offsets, dummy, False,
                                  digit, keys, costs)
                total += t
            caps[u] = total


@numba.njit(parallel=True, cache=True)
def _seed_verify(residues, kmer_offsets, positions, pep_buf, pep_off, codes, k, seeds, norm,
                 max_mm, nonstd, cap_off, cand, counts, max_buckets):  # pragma: no cover
    """Verified, sorted, distinct hit starts of each peptide into its slot of ``cand``."""
    n = residues.shape[0]
    n_pep = pep_off.shape[0] - 1
    for blk in numba.prange((n_pep + _BLOCK - 1) // _BLOCK):
        digit = np.empty(k + 1, dtype=np.int64)
        keys = np.empty(k + 1, dtype=np.int64)
        costs = np.empty(k + 1, dtype=np.int64)
        buckets = np.empty(max_buckets, dtype=np.int64)
        for u in range(blk * _BLOCK, min(n_pep, (blk + 1) * _BLOCK)):
            a = pep_off[u]
            length = pep_off[u + 1] - a
            w0 = cap_off[u]
            c = 0
            for i in range(seeds.shape[1]):
                if seeds[u, i, 1] == 0:
                    continue
                _, nb = _enumerate(pep_buf, a, codes, k, seeds[u, i, 0], seeds[u, i, 1],
                                   seeds[u, i, 2], seeds[u, i, 3], kmer_offsets, buckets, True,
                                   digit, keys, costs)
                off = seeds[u, i, 3]
                for b in range(nb):
                    key = buckets[b]
                    for t in range(kmer_offsets[key], kmer_offsets[key + 1]):
                        s = np.int64(positions[t]) - off
                        if s >= 0 and s + length <= n and _hamming_ok(
                            residues, s, pep_buf, a, length, norm, max_mm
                        ):
                            cand[w0 + c] = s
                            c += 1
            # windows touching a residue the index does not hold
            prev = np.int64(-1)
            for j in range(nonstd.shape[0]):
                q = nonstd[j]
                lo = max(q - length + 1, prev + 1, 0)
                for s in range(lo, q + 1):
                    if s + length <= n and _hamming_ok(residues, s, pep_buf, a, length, norm,
                                                       max_mm):
                        cand[w0 + c] = s
                        c += 1
                prev = q
            seg = cand[w0:w0 + c]
            seg.sort()
            d = 0
            for t in range(c):
                if t == 0 or seg[t] != seg[t - 1]:
                    seg[d] = seg[t]
                    d += 1
            counts[u] = d


@numba.njit(cache=True)
def _nonstd_count(residues, pep_buf, a, length, norm, max_mm, nonstd):  # pragma: no cover
    n = residues.shape[0]
    c = 0
    prev = np.int64(-1)
    for j in range(nonstd.shape[0]):
        q = nonstd[j]
        lo = max(q - length + 1, prev + 1, 0)
        for s in range(lo, q + 1):
            if s + length <= n and _hamming_ok(residues, s, pep_buf, a, length, norm, max_mm):
                c += 1
        prev = q
    return c


@numba.njit(parallel=True, cache=True)
def _nonstd_counts(residues, pep_buf, pep_off, norm, max_mm, nonstd, caps):  # pragma: no cover
    for u in numba.prange(pep_off.shape[0] - 1):
        a = pep_off[u]
        caps[u] += _nonstd_count(residues, pep_buf, a, pep_off[u + 1] - a, norm, max_mm, nonstd)


@numba.njit(parallel=True, cache=True)
def _scan_chunks(residues, pep_buf, a, length, norm, max_mm, n_chunks, out, counts,
                 write):  # pragma: no cover - numba
    """Every start of the store checked against one peptide, parallel over store chunks."""
    n = residues.shape[0] - length + 1
    if n <= 0:
        return
    chunk = (n + n_chunks - 1) // n_chunks
    for c in numba.prange(n_chunks):
        lo = c * chunk
        hi = min(n, lo + chunk)
        w = counts[c] if write else 0
        cnt = 0
        for s in range(lo, hi):
            if _hamming_ok(residues, s, pep_buf, a, length, norm, max_mm):
                if write:
                    out[w + cnt] = s
                cnt += 1
        if not write:
            counts[c] = cnt


@numba.njit(parallel=True, cache=True)
def _compact(cand, cap_off, hit_off, hits):  # pragma: no cover - numba
    for u in numba.prange(hit_off.shape[0] - 1):
        a = cap_off[u]
        w = hit_off[u]
        for t in range(hit_off[u + 1] - w):
            hits[w + t] = cand[a + t]


# ------------------------------------------------------------------------------- search
def nonstandard_positions(store: SequenceStore) -> np.ndarray:
    """Absolute positions of the residues the k-mer index does not hold (``X``, ``U``, ...)."""
    res = np.asarray(store.residues)
    bad = (_CODES[res] == 255) & (res != SEPARATOR)
    return np.flatnonzero(bad).astype(np.int64)


def _scan_one(store: SequenceStore, buf: np.ndarray, a: int, length: int, norm: np.ndarray,
              mismatches: int) -> np.ndarray:
    residues = np.asarray(store.residues)
    n_chunks = max(1, min(64, residues.shape[0] // 65536 + 1))
    counts = np.zeros(n_chunks, dtype=np.int64)
    _scan_chunks(residues, buf, a, length, norm, mismatches, n_chunks, counts, counts, False)
    starts = np.zeros(n_chunks, dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    out = np.empty(int(counts.sum()), dtype=np.int64)
    if out.shape[0]:
        _scan_chunks(residues, buf, a, length, norm, mismatches, n_chunks, out, starts, True)
    return out


def find_mismatches(
    store: SequenceStore,
    index: KmerIndex,
    batch: PeptideBatch,
    mismatches: int,
    *,
    il_equivalent: bool = False,
    use_index: bool | None = None,
    nonstandard: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Every window within ``mismatches`` substitutions of each distinct peptide of ``batch``.

    Arguments:
        store: the sequence store the index was built on.
        index: its k-mer index.
        batch: the validated peptides.
        mismatches: 0..:data:`MAX_MISMATCHES`.
        il_equivalent: fold I -> L on both sides before comparing.
        use_index: force the seeded path (True) or the scan (False) for every peptide that
            the seeded path can serve; None (default) chooses per peptide by cost.
        nonstandard: absolute positions of the store residues the index does not hold
            (computed when omitted; cache it across calls).

    Returns:
        ``(hit_offsets, hits)``: CSR over the distinct peptides; absolute start positions
        into ``store.residues``, ascending and distinct within each peptide.

    Raises:
        ValueError: ``mismatches`` out of range.
    """
    mismatches = check_mismatches(mismatches)
    k = index.k
    norm = il_table(il_equivalent)
    buf, off = batch.buf, batch.offsets
    n = batch.n_unique
    lengths = np.diff(off)
    residues = np.asarray(store.residues)
    if nonstandard is None:
        nonstandard = nonstandard_positions(store)
    # Which peptides go through the index.
    standard = np.ones(n, dtype=bool)
    if buf.shape[0]:
        bad_byte = _CODES[buf] == 255
        owner = np.repeat(np.arange(n), lengths)
        standard[np.unique(owner[bad_byte])] = False
    seeded = standard & (lengths >= k)
    n_res = max(1, residues.shape[0])
    mean_bucket = index.positions.shape[0] / index.n_buckets
    width = mismatches + 1
    seeds = np.zeros((n, width, 5), dtype=np.int64)
    for length in np.unique(lengths[seeded]).tolist():
        plan = seed_plan(int(length), mismatches, k)
        cost = sum(_piece_buckets(s, e, k) for _, s, e in plan)
        rows = np.flatnonzero(seeded & (lengths == length))
        if use_index is None and cost * (1 + 4 * mean_bucket) > n_res:
            seeded[rows] = False
            continue
        if use_index is False:
            seeded[rows] = False
            continue
        for i, (start, size, budget) in enumerate(plan):
            window = start if size >= k else min(start, int(length) - k)
            seeds[rows, i] = (start, size, budget, window, _piece_buckets(size, budget, k))
    groups: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (peptides, CSR, hits)
    idx = np.flatnonzero(seeded)
    if idx.shape[0]:
        sub_off = np.zeros(idx.shape[0] + 1, dtype=np.int64)
        np.cumsum(lengths[idx], out=sub_off[1:])
        sub_buf = _gather(buf, off, idx, sub_off)
        sub_seeds = np.ascontiguousarray(seeds[idx])
        _pick_windows(sub_buf, sub_off, _CODES, index.bucket_sizes, k, sub_seeds)
        caps = np.zeros(idx.shape[0], dtype=np.int64)
        offsets = np.asarray(index.kmer_offsets)
        _count(sub_buf, sub_off, _CODES, k, sub_seeds, offsets, caps)
        if nonstandard.shape[0]:
            _nonstd_counts(residues, sub_buf, sub_off, norm, mismatches, nonstandard, caps)
        cum = np.cumsum(caps)
        lo = 0
        while lo < idx.shape[0]:  # chunks of peptides whose candidate buffers fit
            base = cum[lo - 1] if lo else 0
            hi = max(int(np.searchsorted(cum, base + _CHUNK_CANDIDATES, side="right")), lo + 1)
            part_off = sub_off[lo:hi + 1] - sub_off[lo]
            part_buf = sub_buf[sub_off[lo]:sub_off[hi]]
            cap_off = np.zeros(hi - lo + 1, dtype=np.int64)
            np.cumsum(caps[lo:hi], out=cap_off[1:])
            cand = np.empty(int(cap_off[-1]), dtype=np.int64)
            counts = np.zeros(hi - lo, dtype=np.int64)
            _seed_verify(residues, offsets, index.positions, part_buf, part_off, _CODES, k,
                         sub_seeds[lo:hi], norm, mismatches, nonstandard, cap_off, cand, counts,
                         max(1, int(sub_seeds[lo:hi, :, 4].max())))
            part_hit_off = np.zeros(hi - lo + 1, dtype=np.int64)
            np.cumsum(counts, out=part_hit_off[1:])
            part_hits = np.empty(int(part_hit_off[-1]), dtype=np.int64)
            if part_hits.shape[0]:
                _compact(cand, cap_off, part_hit_off, part_hits)
            groups.append((idx[lo:hi], part_hit_off, part_hits))
            lo = hi
    for u in np.flatnonzero(~seeded).tolist():
        h = _scan_one(store, buf, int(off[u]), int(lengths[u]), norm, mismatches)
        groups.append((np.array([u], dtype=np.int64), np.array([0, h.shape[0]], np.int64), h))
    counts = np.zeros(n, dtype=np.int64)
    for peps, g_off, _ in groups:
        counts[peps] = np.diff(g_off)
    hit_off = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=hit_off[1:])
    hits = np.empty(int(hit_off[-1]), dtype=np.int64)
    for peps, g_off, g_hits in groups:
        if g_hits.shape[0]:
            _scatter(peps, g_off, g_hits, hit_off, hits)
    return hit_off, hits


@numba.njit(parallel=True, cache=True)
def _scatter(which, src_off, src, dst_off, dst):  # pragma: no cover - numba
    """Copy group ``i``'s hits (CSR ``src``) into peptide ``which[i]``'s slot of ``dst``."""
    for i in numba.prange(which.shape[0]):
        u = which[i]
        a = src_off[i]
        w = dst_off[u]
        for t in range(src_off[i + 1] - a):
            dst[w + t] = src[a + t]


@numba.njit(cache=True)
def _gather_kernel(buf, off, idx, sub_off, out):  # pragma: no cover - numba
    for j in range(idx.shape[0]):
        a = off[idx[j]]
        w = sub_off[j]
        for t in range(sub_off[j + 1] - w):
            out[w + t] = buf[a + t]


def _gather(buf: np.ndarray, off: np.ndarray, idx: np.ndarray, sub_off: np.ndarray) -> np.ndarray:
    out = np.empty(int(sub_off[-1]), dtype=np.uint8)
    _gather_kernel(buf, off, idx, sub_off, out)
    return out


# --------------------------------------------------------------------------- hit columns
@numba.njit(parallel=True, cache=True)
def _describe(residues, starts, pep_buf, pep_a, pep_len, norm, n_mm, pos_len, pos_buf,
              pos_off, match_off, match_buf, fill):  # pragma: no cover - numba
    for i in numba.prange(starts.shape[0]):
        s = starts[i]
        a = pep_a[i]
        length = pep_len[i]
        mm = 0
        w = pos_off[i] if fill else 0
        chars = 0
        for j in range(length):
            r = residues[s + j]
            p = pep_buf[a + j]
            if fill:
                match_buf[match_off[i] + j] = r
            if p != 88 and norm[r] != norm[p]:
                if mm > 0:
                    if fill:
                        pos_buf[w + chars] = 59  # ';'
                    chars += 1
                mm += 1
                v = j + 1
                nd = 1
                t = v
                while t >= 10:
                    t //= 10
                    nd += 1
                if fill:
                    for q in range(nd):
                        pos_buf[w + chars + nd - 1 - q] = 48 + v % 10
                        v //= 10
                chars += nd
        n_mm[i] = mm
        pos_len[i] = chars


def describe_hits(
    store: SequenceStore, starts: np.ndarray, batch: PeptideBatch, unique: np.ndarray,
    il_equivalent: bool = False,
) -> tuple[pa.Array, pa.Array, pa.Array]:
    """Per hit: mismatch count, 1-based mismatch positions (``;``-separated) and the window.

    Arguments:
        store: the sequence store.
        starts: absolute start of each hit (``int64``).
        batch: the peptides.
        unique: index of each hit's distinct peptide in ``batch``.
        il_equivalent: whether I and L were folded when searching.

    Returns:
        ``(mismatches int32, mismatch_positions string, matched string)`` arrays.
    """
    residues = np.asarray(store.residues)
    norm = il_table(il_equivalent)
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    unique = np.asarray(unique, dtype=np.int64)
    pep_a = batch.offsets[unique]
    pep_len = batch.lengths[unique]
    m = starts.shape[0]
    n_mm = np.zeros(m, dtype=np.int32)
    pos_len = np.zeros(m, dtype=np.int64)
    empty8 = np.zeros(0, dtype=np.uint8)
    empty64 = np.zeros(1, dtype=np.int64)
    if m:
        _describe(residues, starts, batch.buf, pep_a, pep_len, norm, n_mm, pos_len, empty8,
                  empty64, empty64, empty8, False)
    pos_off = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(pos_len, out=pos_off[1:])
    match_off = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(pep_len, out=match_off[1:])
    pos_buf = np.empty(int(pos_off[-1]), dtype=np.uint8)
    match_buf = np.empty(int(match_off[-1]), dtype=np.uint8)
    if m:
        _describe(residues, starts, batch.buf, pep_a, pep_len, norm, n_mm, pos_len, pos_buf,
                  pos_off, match_off, match_buf, True)
    return (pa.array(n_mm), _strings(pos_off, pos_buf), _strings(match_off, match_buf))


def _strings(offsets: np.ndarray, data: np.ndarray) -> pa.Array:
    if offsets[-1] < 2**31:
        return pa.Array.from_buffers(pa.string(), offsets.shape[0] - 1,
                                     [None, pa.py_buffer(offsets.astype(np.int32)),
                                      pa.py_buffer(data)])
    return pa.Array.from_buffers(pa.large_string(), offsets.shape[0] - 1,
                                 [None, pa.py_buffer(offsets), pa.py_buffer(data)])
