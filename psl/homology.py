"""Homology between two protein sets: exclude from training every protein similar to a test one.

The criterion is DeepLoc's partitioning rule (Almagro Armenteros et al. 2017): two proteins are
homologous when their local alignment has at least 30% identity over at least 50% of the
shorter sequence. Identical sequences are reported apart.

Alignment
    Smith-Waterman with BLOSUM62, gap open 11, gap extend 1 (BLAST's protein defaults),
    through ``parasail`` (Daily, BMC Bioinformatics 2016). On the optimal local alignment:
    ``identity = identical columns / alignment columns`` (gaps count as columns) and
    ``coverage = residues of the shorter sequence inside the alignment / its length``.
    A score-only pass (``sw_stats``) rules out most pairs; the traceback is computed only for
    pairs whose identity already passes and whose alignment is long enough to cover.

Prefilter (which pairs are aligned at all)
    Aligning every pair of 28,000 x 2,800 proteins is 10^13 cells. Candidate pairs are those
    sharing at least ``min_hits`` (default 3) exact k-mers (default k = 5, I = L as in the kb
    k-mer index, standard residues only) on the same diagonal band of width ``band``
    (default 16), at most ``max_candidates`` (default 20) refs per query, most words first: a
    homologous pair shares short words along its alignment's diagonal, an unrelated pair only
    scattered ones. It is the two-hit idea of gapped BLAST (Altschul et al., NAR 1997) with
    exact words. The trade-off: smaller ``min_hits`` or ``k`` or a larger ``max_candidates``
    catches more remote homologs at the price of more alignments (with k = 3 and 4 hits, 73%
    of all DeepLoc 2.0 x DeepLoc 1.0 test pairs pass: no filter at all); pairs near 30%
    identity without three conserved 5-residue words on one diagonal are missed, as are short
    chance alignments that pass the criterion (it has no score or length floor).
    ``candidate_pairs(rescore=M)`` (``M`` = 200 in :mod:`psl.transfer` and
    :func:`find_homologs`) ranks the ``M`` refs with the most words by their best ungapped
    segment score on the diagonals of their best band before keeping ``max_candidates``,
    BLAST's second stage: refs with many, often repetitive, word hits otherwise crowd out a
    remote homolog with few.
    ``prefilter=False`` aligns all pairs (the reference the tests compare with);
    ``benchmarks/homology.py`` measures the prefilter's sensitivity on a random sample against
    all-pairs alignment.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numba
import numpy as np
import pandas as pd

from kb.index import BASE, kmer_code_table

__all__ = [
    "KmerIndex",
    "MIN_IDENTITY",
    "MIN_COVERAGE",
    "AlignmentStats",
    "HomologyResult",
    "align",
    "blosum_encode",
    "candidate_pairs",
    "find_homologs",
    "homologous",
    "sequence_sha1",
]

MIN_IDENTITY = 0.30
MIN_COVERAGE = 0.50
#: Prefilter defaults: word length, diagonal band width, words per band, refs kept per query.
K, BAND, MIN_HITS, MAX_CANDIDATES = 5, 16, 3, 20
#: refs with the most words re-ranked by their best ungapped diagonal segment (0 = off)
RESCORE = 200
GAP_OPEN = 11
GAP_EXTEND = 1
_CODES = kmer_code_table().astype(np.int64)  # the kb index's residue codes (I = L; 255 = other)


def sequence_sha1(sequence: str) -> str:
    """Hex SHA-1 of a sequence (upper case, trailing ``*`` dropped): its identity in tables."""
    return hashlib.sha1(sequence.rstrip("*").upper().encode("ascii")).hexdigest()


@dataclass(frozen=True)
class AlignmentStats:
    """The optimal local alignment of two sequences, summarised.

    Attributes:
        score: Smith-Waterman score.
        matches: identical aligned columns.
        length: alignment columns (gaps included).
        span_a, span_b: residues of each sequence inside the alignment.
        identity: ``matches / length``.
        coverage: ``span / length`` of the shorter sequence (of ``a`` on a tie).
    """

    score: int
    matches: int
    length: int
    span_a: int
    span_b: int
    identity: float
    coverage: float


def _matrix():
    import parasail

    return parasail.blosum62


def align(a: str, b: str) -> AlignmentStats:
    """Smith-Waterman alignment (BLOSUM62, gaps 11/1) of ``a`` and ``b`` with traceback."""
    import parasail

    r = parasail.sw_trace_striped_16(a, b, GAP_OPEN, GAP_EXTEND, _matrix())
    tb = r.traceback
    qa, ra = tb.query, tb.ref
    matches = sum(1 for x, y in zip(qa, ra, strict=True) if x == y and x != "-")
    span_a = len(qa) - qa.count("-")
    span_b = len(ra) - ra.count("-")
    length = len(qa)
    short_span, short_len = (span_a, len(a)) if len(a) <= len(b) else (span_b, len(b))
    return AlignmentStats(int(r.score), matches, length, span_a, span_b,
                          matches / length if length else 0.0,
                          short_span / short_len if short_len else 0.0)


def homologous(a: str, b: str, min_identity: float = MIN_IDENTITY,
               min_coverage: float = MIN_COVERAGE) -> AlignmentStats | None:
    """The alignment of ``a`` and ``b`` if it passes both thresholds (they are homologous),
    else None (a score-only pass first; the traceback only where it can pass)."""
    import parasail

    s = parasail.sw_stats_striped_16(a, b, GAP_OPEN, GAP_EXTEND, _matrix())
    if s.length == 0 or s.matches / s.length < min_identity:
        return None
    if s.length < min_coverage * min(len(a), len(b)):  # spans never exceed the length
        return None
    st = align(a, b)
    if st.identity >= min_identity and st.coverage >= min_coverage:
        return st
    return None


def _kmer_codes(seq: str, k: int) -> np.ndarray:
    """Code of the k-mer starting at each position (-1 where it holds a non-standard letter)."""
    a = _CODES[np.frombuffer(seq.upper().encode("ascii"), dtype=np.uint8)]
    if len(a) < k:
        return np.zeros(0, dtype=np.int64)
    w = np.lib.stride_tricks.sliding_window_view(a, k)
    codes = w @ (BASE ** np.arange(k, dtype=np.int64))
    codes[(w >= BASE).any(1)] = -1
    return codes


@numba.njit(cache=True, nogil=True)
def _query_hits(qc, bucket_off, ref_id, ref_pos, ref_len, lq, band, min_hits,
                counts, touched, mark, stamp, out, best, best_band):  # pragma: no cover - numba
    n_ref = len(ref_len)
    base = np.empty(n_ref, dtype=np.int64)
    total = 0
    for j in range(n_ref):
        base[j] = total
        total += (lq + ref_len[j]) // band + 1
    n_touched = 0
    n_out = 0
    for p in range(len(qc)):
        c = qc[p]
        if c < 0:
            continue
        for h in range(bucket_off[c], bucket_off[c + 1]):
            j = ref_id[h]
            key = base[j] + (p - ref_pos[h] + ref_len[j]) // band
            if counts[key] == 0:
                touched[n_touched] = key
                n_touched += 1
            counts[key] += 1
            if counts[key] >= min_hits:
                if mark[j] != stamp:
                    mark[j] = stamp
                    out[n_out] = j
                    n_out += 1
                    best[j] = 0
                if counts[key] > best[j]:
                    best[j] = counts[key]
                    best_band[j] = key - base[j]
    for t in range(n_touched):
        counts[touched[t]] = 0
    return n_out


#: BLOSUM62 as parasail orders it; residues outside it score as X.
_BLOSUM_ALPHABET = "ARNDCQEGHILKMFPSTWYVBZX*"


def _blosum_codes() -> np.ndarray:
    table = np.full(256, _BLOSUM_ALPHABET.index("X"), dtype=np.uint8)
    for i, a in enumerate(_BLOSUM_ALPHABET):
        table[ord(a)] = table[ord(a.lower())] = i
    return table


_BLOSUM_CODES = _blosum_codes()


def _blosum_matrix() -> np.ndarray:
    import parasail

    return np.asarray(parasail.blosum62.matrix, dtype=np.int32)[:24, :24]


def blosum_encode(seq: str) -> np.ndarray:
    """Residue indices into BLOSUM62 (:data:`_BLOSUM_ALPHABET`; other letters as X)."""
    return _BLOSUM_CODES[np.frombuffer(seq.encode("ascii", "replace"), dtype=np.uint8)]


@numba.njit(cache=True, nogil=True)
def _ungapped(q, residues, starts, cand, bands, band, matrix):  # pragma: no cover - numba
    """Best ungapped segment score (max-subarray of substitution scores) on any diagonal of
    each candidate's band ``bands[t]`` (diagonal ``d = q_pos - r_pos + len(r)``)."""
    out = np.zeros(len(cand), dtype=np.int64)
    lq = len(q)
    for t in range(len(cand)):
        j = cand[t]
        r0 = starts[j]
        lr = starts[j + 1] - r0
        best = 0
        for d in range(bands[t] * band, bands[t] * band + band):
            off = d - lr  # q_pos = r_pos + off
            rp = -off if off < 0 else 0
            p = rp + off
            s = 0
            while p < lq and rp < lr:
                s += matrix[q[p], residues[r0 + rp]]
                if s < 0:
                    s = 0
                elif s > best:
                    best = s
                p += 1
                rp += 1
        out[t] = best
    return out


@numba.njit(cache=True)
def _window_codes(a, starts, k, base):  # pragma: no cover - numba
    """Code, sequence and start of every k-mer of standard residues inside one sequence of
    the concatenation ``a`` (residue codes; sequence ``j`` is ``a[starts[j]:starts[j+1]]``)."""
    n_max = max(len(a) - k + 1, 0)
    codes = np.empty(n_max, dtype=np.int64)
    ids = np.empty(n_max, dtype=np.int64)
    pos = np.empty(n_max, dtype=np.int64)
    top = base ** (k - 1)
    n = 0
    for j in range(len(starts) - 1):
        code = 0
        run = 0  # standard residues in a row
        for p in range(starts[j], starts[j + 1]):
            c = a[p]
            if c >= base:
                run = 0
                code = 0
                continue
            code = (code // base) + c * top if run >= k else code + c * base ** run
            run += 1
            if run >= k:
                codes[n] = code
                ids[n] = j
                pos[n] = p - starts[j] - k + 1
                n += 1
    return codes[:n], ids[:n], pos[:n]


@numba.njit(cache=True)
def _bucket_order(codes, n_codes):  # pragma: no cover - numba
    """Counting sort: bucket offsets of each code and the stable order of ``codes``."""
    off = np.zeros(n_codes + 1, dtype=np.int64)
    for c in codes:
        off[c + 1] += 1
    for c in range(n_codes):
        off[c + 1] += off[c]
    fill = off[:-1].copy()
    order = np.empty(len(codes), dtype=np.int64)
    for i in range(len(codes)):
        c = codes[i]
        order[fill[c]] = i
        fill[c] += 1
    return off, order


@dataclass(frozen=True)
class KmerIndex:
    """Every standard-residue k-mer of a protein set, grouped by code: the ref side of
    :func:`candidate_pairs`.

    Attributes:
        k: word length.
        bucket_off: ``BASE**k + 1`` offsets: the words of code ``c`` are ``bucket_off[c]`` to
            ``bucket_off[c + 1]`` of ``ref_id`` / ``ref_pos``.
        ref_id, ref_pos: sequence index and 0-based start of each word (stable by sequence,
            then position, within a code).
        ref_len: length of each sequence.
        residues, starts: the sequences concatenated as BLOSUM62 indices
            (:func:`blosum_encode`), sequence ``j`` at ``starts[j]:starts[j + 1]`` (for the
            ungapped rescoring of ``candidate_pairs(rescore=...)``).
    """

    k: int
    bucket_off: np.ndarray
    ref_id: np.ndarray
    ref_pos: np.ndarray
    ref_len: np.ndarray
    residues: np.ndarray
    starts: np.ndarray

    @classmethod
    def build(cls, refs: Sequence[str], k: int = K) -> KmerIndex:
        """Index ``refs`` (upper-cased; I = L; words with other letters skipped)."""
        if not 1 <= k <= 8:
            raise ValueError(f"need 1 <= k <= 8, got {k}")
        ref_len = np.array([len(s) for s in refs], dtype=np.int64)
        starts = np.zeros(len(refs) + 1, dtype=np.int64)
        np.cumsum(ref_len, out=starts[1:])
        joined = "".join(refs).upper()
        a = _CODES[np.frombuffer(joined.encode("ascii"), dtype=np.uint8)]
        codes, ids, pos = _window_codes(a, starts, k, BASE)
        off, order = _bucket_order(codes, BASE ** k)
        return cls(k, off, ids[order], pos[order], ref_len, blosum_encode(joined), starts)


def candidate_pairs(
    queries: Sequence[str], refs: Sequence[str], k: int = K, band: int = BAND,
    min_hits: int = MIN_HITS, max_candidates: int = MAX_CANDIDATES,
    progress: Callable[[int], None] | None = None, index: KmerIndex | None = None,
    rescore: int = 0, threads: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs ``(query i, ref j)`` with ``>= min_hits`` shared k-mers on one diagonal band.

    Arguments:
        queries, refs: sequences (refs are indexed; use the smaller set as refs).
        k: word length (I = L; words with non-standard letters are skipped).
        band: width of the diagonal bands (``(i_pos - j_pos + len_j) // band``).
        min_hits: words needed in one band.
        max_candidates: keep at most this many refs per query, those with the most words in
            one band (0 = all).
        progress: called with the number of queries done, now and then.
        index: :meth:`KmerIndex.build` of ``refs`` with this ``k`` (built here if None; pass
            one to search the same refs many times).
        rescore: if > 0, the ``rescore`` refs with the most words are ranked by their best
            ungapped segment score (BLOSUM62) on the diagonals of their best band, BLAST's
            second stage, before ``max_candidates`` are kept: refs with many (often
            repetitive) word hits no longer crowd out a remote homolog with few.
        threads: queries are split over this many threads (the kernels release the GIL).

    Returns:
        Three int64 arrays: query index, ref index and the rank key (the ref's largest word
        count in one band; with ``rescore``, its ungapped score); sorted by query, then by
        decreasing key (then word count), then by ref.

    Raises:
        ValueError: ``k`` outside 1..8, ``band``, ``min_hits`` or ``threads`` < 1, a negative
            ``rescore``, an ``index`` of other refs.
    """
    if not 1 <= k <= 8 or band < 1 or min_hits < 1 or threads < 1 or rescore < 0:
        raise ValueError(f"need 1 <= k <= 8, band >= 1, min_hits >= 1, threads >= 1 and "
                         f"rescore >= 0 (got {k}, {band}, {min_hits}, {threads}, {rescore})")
    if index is None:
        index = KmerIndex.build(refs, k)
    elif index.k != k or len(index.ref_len) != len(refs):
        raise ValueError(f"the index was built with k = {index.k} over {len(index.ref_len)} "
                         f"sequences, not k = {k} over {len(refs)}")
    n = len(queries)
    if not len(refs) or not n:
        z = np.zeros(0, np.int64)
        return z, z.copy(), z.copy()
    matrix = _blosum_matrix() if rescore else None
    done = [0]

    def part(lo: int, hi: int) -> tuple[list, list, list]:
        ref_len = index.ref_len
        lq_max = max((len(queries[i]) for i in range(lo, hi)), default=0)
        size = int(((lq_max + ref_len) // band + 1).sum())
        counts = np.zeros(max(size, 1), dtype=np.int32)
        touched = np.zeros(max(size, 1), dtype=np.int64)
        mark = np.full(len(ref_len), -1, dtype=np.int64)
        out = np.zeros(len(ref_len), dtype=np.int64)
        best = np.zeros(len(ref_len), dtype=np.int64)
        best_band = np.zeros(len(ref_len), dtype=np.int64)
        qi: list[np.ndarray] = []
        rj: list[np.ndarray] = []
        keys: list[np.ndarray] = []
        for i in range(lo, hi):
            s = queries[i]
            m = _query_hits(_kmer_codes(s, k), index.bucket_off, index.ref_id, index.ref_pos,
                            ref_len, len(s), band, min_hits, counts, touched, mark, i, out,
                            best, best_band)
            if m:
                j = out[:m].copy()
                key = best[j]
                order = np.lexsort((j, -key))
                if rescore:
                    j = j[order[:rescore]]
                    words = best[j]
                    key = _ungapped(blosum_encode(s), index.residues, index.starts, j,
                                    best_band[j], band, matrix)
                    order = np.lexsort((j, -words, -key))
                if max_candidates:
                    order = order[:max_candidates]
                qi.append(np.full(len(order), i, dtype=np.int64))
                rj.append(j[order])
                keys.append(key[order])
            if progress is not None:
                done[0] += 1
                if done[0] % 500 == 0:
                    progress(done[0])
        return qi, rj, keys

    if threads == 1 or n < 2 * threads:
        parts = [part(0, n)]
    else:
        from concurrent.futures import ThreadPoolExecutor

        cuts = np.linspace(0, n, threads + 1).astype(int)
        with ThreadPoolExecutor(max_workers=threads) as pool:
            parts = list(pool.map(part, cuts[:-1], cuts[1:]))
    qi = [a for p in parts for a in p[0]]
    if not qi:
        z = np.zeros(0, np.int64)
        return z, z.copy(), z.copy()
    return (np.concatenate(qi), np.concatenate([a for p in parts for a in p[1]]),
            np.concatenate([a for p in parts for a in p[2]]))


@dataclass
class HomologyResult:
    """What :func:`find_homologs` found.

    Attributes:
        pairs: one row per related (query, ref) pair: ``query``, ``ref`` (indices), ``kind``
            (``identical`` or ``homolog``), ``identity``, ``coverage``.
        related: bool per query: identical or homologous to at least one ref.
        identical: bool per query: identical to a ref (a subset of ``related``).
        n_candidates: pairs aligned (after the prefilter).
        seconds: wall time of prefilter and alignment.
    """

    pairs: pd.DataFrame
    related: np.ndarray
    identical: np.ndarray
    n_candidates: int
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def n_identical(self) -> int:
        """Queries identical to a ref."""
        return int(self.identical.sum())

    @property
    def n_homologous(self) -> int:
        """Queries homologous (not identical) to a ref."""
        return int((self.related & ~self.identical).sum())


def find_homologs(
    queries: Sequence[str],
    refs: Sequence[str],
    min_identity: float = MIN_IDENTITY,
    min_coverage: float = MIN_COVERAGE,
    prefilter: bool = True,
    k: int = K,
    band: int = BAND,
    min_hits: int = MIN_HITS,
    max_candidates: int = MAX_CANDIDATES,
    stop_at_first: bool = True,
    rescore: int = RESCORE,
    progress: Callable[[str, int, int], None] | None = None,
) -> HomologyResult:
    """Which queries are identical or homologous to some ref (see the module docstring).

    Arguments:
        queries: e.g. the training proteins.
        refs: e.g. the test proteins.
        min_identity, min_coverage: the homology thresholds (30% over 50% of the shorter).
        prefilter: align only the :func:`candidate_pairs` (False: all pairs).
        k, band, min_hits, max_candidates: prefilter settings (:func:`candidate_pairs`).
        rescore: refs with the most words re-ranked by their best ungapped diagonal segment
            before ``max_candidates`` are kept (:func:`candidate_pairs`; 0: ranked by words,
            as before the eleventh session, which missed more remote homologs).
        stop_at_first: stop aligning a query once one ref is found related (enough to exclude
            it; ``pairs`` then lists one related ref per query besides identical ones).
        progress: called as ``progress(stage, done, total)``.

    Returns:
        A :class:`HomologyResult`.

    Raises:
        ValueError: thresholds outside [0, 1].
    """
    if not (0.0 <= min_identity <= 1.0 and 0.0 <= min_coverage <= 1.0):
        raise ValueError(f"min_identity and min_coverage must be in [0, 1], got "
                         f"{min_identity}, {min_coverage}")
    queries = [s.rstrip("*").upper() for s in queries]
    refs = [s.rstrip("*").upper() for s in refs]
    t0 = time.perf_counter()
    rows: list[tuple[int, int, str, float, float]] = []
    ref_by_seq: dict[str, int] = {}
    for j, s in enumerate(refs):
        ref_by_seq.setdefault(s, j)
    identical = np.zeros(len(queries), dtype=bool)
    for i, s in enumerate(queries):
        j = ref_by_seq.get(s)
        if j is not None:
            identical[i] = True
            rows.append((i, j, "identical", 1.0, 1.0))
    related = identical.copy()
    if prefilter:
        qi, rj, _ = candidate_pairs(
            queries, refs, k, band, min_hits, max_candidates,
            progress=(lambda d: progress("prefilter", d, len(queries))) if progress else None,
            rescore=rescore)
    else:
        qi = np.repeat(np.arange(len(queries), dtype=np.int64), len(refs))
        rj = np.tile(np.arange(len(refs), dtype=np.int64), len(queries))
    t1 = time.perf_counter()
    todo = ~identical[qi] if stop_at_first else np.ones(len(qi), dtype=bool)
    qi, rj = qi[todo], rj[todo]
    for n, (i, j) in enumerate(zip(qi.tolist(), rj.tolist(), strict=True)):
        if stop_at_first and related[i]:
            continue
        if queries[i] == refs[j]:
            continue  # already listed as identical
        st = homologous(queries[i], refs[j], min_identity, min_coverage)
        if st is not None:
            related[i] = True
            rows.append((i, j, "homolog", st.identity, st.coverage))
        if progress is not None and (n + 1) % 2000 == 0:
            progress("align", n + 1, len(qi))
    t2 = time.perf_counter()
    pairs = pd.DataFrame(rows, columns=["query", "ref", "kind", "identity", "coverage"])
    pairs = pairs.sort_values(["query", "ref"], kind="stable").reset_index(drop=True)
    return HomologyResult(pairs, related, identical, int(len(qi)),
                          {"prefilter": round(t1 - t0, 2), "align": round(t2 - t1, 2)})
