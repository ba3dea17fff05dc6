"""k-mer index over a :class:`~kb.seqstore.SequenceStore`: exact peptide search in O(hits).

Layout (a CSR "inverted index", built by a two-pass counting sort in numba):

* Every window of ``k`` residues made only of the 20 standard amino acids gets a key in
  base 19: the 20 letters map to 19 codes because **I and L share one code** (so the same
  index serves exact and I/L-equivalent search; exact mode simply verifies the exact bytes).
  Windows containing a separator ``*`` or a non-standard letter (``BZJUOX``) are not indexed;
  a peptide that has no all-standard window of length ``k`` (or is shorter than ``k``) is
  searched by the Aho-Corasick scanner instead (:mod:`kb.scan`).
* ``kmer_offsets`` (``int64``, ``19**k + 1``): bucket ``b`` holds
  ``kmer_positions[kmer_offsets[b]:kmer_offsets[b + 1]]``.
* ``kmer_positions`` (``int32`` when the store has < 2**31 bytes, else ``int64``): absolute
  start positions of the windows into ``SequenceStore.residues``, ascending within a bucket.

Search (:meth:`KmerIndex.find`): for every peptide of length >= k, the window whose bucket is
the smallest (the rarest k-mer of the peptide) is the anchor; every position of that bucket is
a candidate start. When the peptide has a second window whose bucket is not much larger, the
two sorted buckets are intersected (shifted by the windows' offsets) by a sequential merge,
which removes most candidates without touching the residues; the survivors are verified byte
by byte against the full peptide. The ``*`` separator after
every sequence guarantees that no verified match spans two entries. Two numba passes keep
Python out of the per-hit work: verify candidates into a buffer sized by the anchor buckets
(each candidate is read once), then compact into the preallocated CSR result.

Files in the knowledge-base directory: ``kmer_offsets.npy``, ``kmer_positions.npy`` (loaded
with ``mmap_mode="r"``) and ``kmer_index.json`` (written last: its presence marks a finished
index).
"""

from __future__ import annotations

import errno
import functools
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numba
import numpy as np

from kb.alphabet import AMINO_ACIDS
from kb.atomic import atomic_path
from kb.errors import KBNotFoundError
from kb.seqstore import SequenceStore

__all__ = [
    "DEFAULT_K",
    "KmerIndex",
    "build_index",
    "choose_anchors",
    "saturated_sizes",
    "write_index",
    "kmer_code_table",
    "il_table",
]

#: Default k-mer length (19**5 = 2.5 M buckets; chosen by measurement, see docs/search.md).
DEFAULT_K = 5
#: Number of distinct codes: 20 amino acids with I and L merged.
BASE = 19
_INVALID = 255
_FORMAT_VERSION = 1
_OFFSETS_FILE = "kmer_offsets.npy"
_POSITIONS_FILE = "kmer_positions.npy"
_META_FILE = "kmer_index.json"
_MAX_K = 7  # 19**7 = 894 M buckets (7 GB of offsets): beyond that the table is absurd


def kmer_code_table() -> np.ndarray:
    """Byte -> k-mer code (0..18) lookup; I and L share a code; 255 for anything else."""
    table = np.full(256, _INVALID, dtype=np.uint8)
    code = 0
    for aa in AMINO_ACIDS:
        if aa == "I":
            continue
        table[ord(aa)] = code
        code += 1
    table[ord("I")] = table[ord("L")]
    return table


def il_table(il_equivalent: bool) -> np.ndarray:
    """Byte -> byte map applied to both sides before comparing: identity, or I -> L."""
    table = np.arange(256, dtype=np.uint8)
    if il_equivalent:
        table[ord("I")] = ord("L")
    return table


_CODES = kmer_code_table()


# --------------------------------------------------------------------------- build kernels
# Both passes walk the windows of a chunk of the store into a block of (key, position) pairs,
# group the block by the high bits of the key (a stable counting scatter into ~1,000 groups),
# then count or place the pairs group by group: consecutive pairs then touch a small range of
# the count table and of ``positions`` (cache-resident) instead of one random cache line each
# (the whole table is ~10 MB per chunk, ``positions`` 4 bytes per residue). Measured on the
# full synthetic Swiss-Prot: count 2.3 -> 0.9 s, fill 4-5 -> ~2 s on 2 threads.
_BLOCK = 1 << 20  # pairs per block (16-24 MB of scratch per thread)
_GROUP_BITS = 10  # ~2**10 key groups


def _group_shift(n_buckets: int) -> int:
    return max(0, (int(n_buckets) - 1).bit_length() - _GROUP_BITS)


@numba.njit(cache=True, nogil=True)
def _place_block(c, m, keys, poss, shift, groups, gk, gp, table, positions, fill
                 ):  # pragma: no cover - numba
    """Group the first ``m`` pairs by ``key >> shift`` (stable), then either count them into
    ``table[c]`` or (``fill``) write each position at its key's cursor ``table[c, key]``."""
    n_groups = groups.shape[0] - 1
    for q in range(n_groups + 1):
        groups[q] = 0
    for i in range(m):
        groups[(keys[i] >> shift) + 1] += 1
    for q in range(n_groups):
        groups[q + 1] += groups[q]
    for i in range(m):
        q = keys[i] >> shift
        j = groups[q]
        gk[j] = keys[i]
        if fill:  # (counting needs the grouped keys only)
            gp[j] = poss[i]
        groups[q] = j + 1
    if fill:
        for i in range(m):
            key = gk[i]
            d = table[c, key]
            positions[d] = gp[i]
            table[c, key] = d + 1
    else:
        for i in range(m):
            table[c, gk[i]] += 1


@numba.njit(parallel=True, cache=True)
def _scan_chunks(residues, codes, k, n_buckets, table, positions, fill, block, shift
                 ):  # pragma: no cover - numba
    """Every valid window starting in chunk ``c`` (of ``table.shape[0]`` equal chunks of the
    residues): counted into ``table[c, key]``, or (``fill``) its start written to
    ``positions`` at the cursor ``table[c, key]`` (advanced), in ascending position order."""
    n = residues.shape[0]
    n_chunks = table.shape[0]
    chunk = (n + n_chunks - 1) // n_chunks
    top = n_buckets // 19  # weight of a window's first residue in its key
    n_groups = ((n_buckets - 1) >> shift) + 1
    for c in numba.prange(n_chunks):
        lo = c * chunk
        hi = min(n, lo + chunk)
        keys = np.empty(block, np.int32)
        poss = np.empty(block, positions.dtype)
        gk = np.empty(block, np.int32)
        gp = np.empty(block, positions.dtype)
        groups = np.empty(n_groups + 1, np.int64)
        key = 0
        valid = 0
        m = 0
        stop = min(hi + k - 1, n)
        for p in range(lo, stop):
            cd = codes[residues[p]]
            if cd == 255:
                valid = 0
                key = 0
            else:
                if valid >= k:  # drop the residue that leaves the window (no division)
                    key -= codes[residues[p - k]] * top
                key = key * 19 + cd
                valid += 1
                if valid >= k:
                    keys[m] = key
                    poss[m] = p - k + 1
                    m += 1
                    if m == block:
                        _place_block(c, m, keys, poss, shift, groups, gk, gp, table,
                                     positions, fill)
                        m = 0
        if m:
            _place_block(c, m, keys, poss, shift, groups, gk, gp, table, positions, fill)


@numba.njit(cache=True)
def _cursors(counts, kmer_offsets):  # pragma: no cover - numba
    """Prefix sums: kmer_offsets (CSR) and, in ``counts``, each chunk's write cursor."""
    n_chunks, n_buckets = counts.shape
    total = 0
    for b in range(n_buckets):
        kmer_offsets[b] = total
        for c in range(n_chunks):
            cnt = counts[c, b]
            counts[c, b] = total
            total += cnt
    kmer_offsets[n_buckets] = total


# -------------------------------------------------------------------------- search kernels
@numba.njit(parallel=True, cache=True)
def _anchors(pep_buf, pep_off, codes, k, sizes, out_off, out_key):  # pragma: no cover
    """Rarest and second-rarest all-standard windows of every peptide.

    ``sizes``: bucket sizes (saturated ``uint16``: 5 MB for k=5, cache-friendlier than the
    offsets). ``out_off[u, r]`` / ``out_key[u, r]``: offset in the peptide and bucket of the
    ``r``-th rarest window (r = 0, 1); -1 where there is none.
    """
    n_buckets = sizes.shape[0]
    for u in numba.prange(pep_off.shape[0] - 1):
        a = pep_off[u]
        length = pep_off[u + 1] - a
        best = -1
        best_key = -1
        best_size = np.int64(1) << 62
        second = -1
        second_key = -1
        second_size = np.int64(1) << 62
        key = 0
        valid = 0
        for j in range(length):
            cd = codes[pep_buf[a + j]]
            if cd == 255:
                valid = 0
                key = 0
            else:
                key = (key * 19 + cd) % n_buckets
                valid += 1
                if valid >= k:
                    size = np.int64(sizes[key])
                    if size < best_size:
                        second, second_key, second_size = best, best_key, best_size
                        best_size = size
                        best = j - k + 1
                        best_key = key
                    elif size < second_size:
                        second_size = size
                        second = j - k + 1
                        second_key = key
        out_off[u, 0] = best
        out_key[u, 0] = best_key
        out_off[u, 1] = second
        out_key[u, 1] = second_key


@numba.njit(inline="always")
def _matches(residues, s, pep_buf, a, length, norm):  # pragma: no cover - numba
    for i in range(length):
        if norm[residues[s + i]] != norm[pep_buf[a + i]]:
            return False
    return True


#: Intersect the two anchor buckets only while the second is at most this many times larger.
_MAX_MERGE_RATIO = 16


@numba.njit(parallel=True, cache=True)
def _verify(residues, kmer_offsets, positions, pep_buf, pep_off, anchor_off, anchor_key, k,
            il_equivalent, norm, cand_off, cand, counts):  # pragma: no cover - numba
    """Pass 1: candidates of every peptide, verified; written into the peptide's slot of
    ``cand`` (sized by its rarest bucket) and counted.

    Candidates are the starts implied by the rarest bucket, intersected (sorted merge, reading
    both buckets sequentially) with those of the second-rarest window when that bucket is not
    much larger; each remaining candidate is verified byte by byte. A peptide that is exactly
    one k-mer needs no verification unless exact mode must tell I from L.
    """
    n = residues.shape[0]
    ord_i = np.uint8(73)
    ord_l = np.uint8(76)
    for u in numba.prange(pep_off.shape[0] - 1):
        key = anchor_key[u, 0]
        c = 0
        if key >= 0:
            a = pep_off[u]
            length = pep_off[u + 1] - a
            j = anchor_off[u, 0]
            w = cand_off[u]
            lo = kmer_offsets[key]
            hi = kmer_offsets[key + 1]
            key2 = anchor_key[u, 1]
            if key2 >= 0 and (kmer_offsets[key2 + 1] - kmer_offsets[key2]) <= (
                _MAX_MERGE_RATIO * (hi - lo) + 64
            ):
                j2 = anchor_off[u, 1]
                t1 = lo
                t2 = kmer_offsets[key2]
                e2 = kmer_offsets[key2 + 1]
                while t1 < hi and t2 < e2:  # branch-free advance: few mispredictions
                    s1 = positions[t1] - j
                    s2 = positions[t2] - j2
                    if s1 == s2 and s1 >= 0 and s1 + length <= n and _matches(
                        residues, s1, pep_buf, a, length, norm
                    ):
                        cand[w + c] = s1
                        c += 1
                    t1 += s1 <= s2
                    t2 += s2 <= s1
            else:
                trust = length == k
                if trust and not il_equivalent:
                    for i in range(length):
                        if pep_buf[a + i] == ord_i or pep_buf[a + i] == ord_l:
                            trust = False
                for t in range(lo, hi):
                    s = positions[t] - j
                    if trust or (s >= 0 and s + length <= n
                                 and _matches(residues, s, pep_buf, a, length, norm)):
                        cand[w + c] = s
                        c += 1
        counts[u] = c


@numba.njit(parallel=True, cache=True)
def _compact(cand, cand_off, hit_off, hits):  # pragma: no cover - numba
    """Pass 2: copy each peptide's verified positions into the preallocated CSR result."""
    for u in numba.prange(hit_off.shape[0] - 1):
        a = cand_off[u]
        w = hit_off[u]
        for t in range(hit_off[u + 1] - w):
            hits[w + t] = cand[a + t]


def choose_anchors(k: int, bucket_sizes: np.ndarray, pep_buf: np.ndarray,
                   pep_off: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two rarest windows of every peptide by ``bucket_sizes`` (see
    :meth:`KmerIndex.anchors`).

    Any all-standard window is a correct anchor (candidates are verified); the sizes only make
    the search cheaper. A sharded knowledge base picks the anchors once for all its shards
    from the summed sizes of the shards' buckets: the single build's sizes.
    """
    n = pep_off.shape[0] - 1
    anchor_off = np.empty((n, 2), dtype=np.int64)
    anchor_key = np.empty((n, 2), dtype=np.int64)
    if n:
        _anchors(pep_buf, pep_off, _CODES, k, bucket_sizes, anchor_off, anchor_key)
    return anchor_off, anchor_key


def saturated_sizes(sizes: np.ndarray) -> np.ndarray:
    """Bucket sizes saturated at 65535 (``uint16``), as :func:`choose_anchors` takes them."""
    return np.minimum(sizes, 65535).astype(np.uint16)


# ------------------------------------------------------------------------------ the index
@dataclass(frozen=True)
class KmerIndex:
    """A k-mer CSR index (see the module docstring for the layout)."""

    k: int
    kmer_offsets: np.ndarray  # int64, 19**k + 1
    positions: np.ndarray  # int32 or int64

    @functools.cached_property
    def bucket_sizes(self) -> np.ndarray:
        """Size of every bucket, saturated at 65535 (``uint16``; for picking rare windows)."""
        return saturated_sizes(np.diff(self.kmer_offsets))

    @property
    def n_buckets(self) -> int:
        """Number of k-mer buckets (``19**k``)."""
        return int(self.kmer_offsets.shape[0] - 1)

    def anchors(self, pep_buf: np.ndarray, pep_off: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The two rarest indexed windows of every peptide.

        Arguments:
            pep_buf: concatenated upper-case peptides (``uint8`` ASCII).
            pep_off: ``int64`` offsets, length ``n + 1``.

        Returns:
            ``(offset_in_peptide, bucket)``, two ``(n, 2)`` ``int64`` arrays: column 0 the
            rarest window, column 1 the second rarest; -1 where there is none. A peptide with
            ``bucket[:, 0] == -1`` has no all-standard window of length ``k`` and must be
            searched by :mod:`kb.scan`.
        """
        return choose_anchors(self.k, self.bucket_sizes, pep_buf, pep_off)

    def find(
        self,
        store: SequenceStore,
        pep_buf: np.ndarray,
        pep_off: np.ndarray,
        *,
        il_equivalent: bool = False,
        anchors: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """All occurrences of a batch of peptides in ``store`` (the store this index was built on).

        Arguments:
            store: the sequence store the index was built from.
            pep_buf: concatenated upper-case peptides (``uint8`` ASCII).
            pep_off: ``int64`` offsets into ``pep_buf``, length ``n + 1``.
            il_equivalent: if true, I and L match each other.
            anchors: the result of :meth:`anchors` (computed when omitted).

        Returns:
            ``(hit_offsets, hits)``: ``hit_offsets`` (``int64``, ``n + 1``) is a CSR over
            peptides; ``hits`` holds absolute start positions into ``store.residues``,
            ascending within each peptide. Peptides without an anchor (see :meth:`anchors`)
            get no hits here.
        """
        anchor_off, anchor_key = anchors if anchors is not None else self.anchors(pep_buf, pep_off)
        n = pep_off.shape[0] - 1
        norm = il_table(il_equivalent)
        # Candidates per peptide <= size of its rarest bucket (0 without an anchor).
        has = anchor_key[:, 0] >= 0
        sizes = np.zeros(n, dtype=np.int64)
        keys = anchor_key[has, 0]
        sizes[has] = self.kmer_offsets[keys + 1] - self.kmer_offsets[keys]
        cand_off = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(sizes, out=cand_off[1:])
        cand = np.empty(int(cand_off[-1]), dtype=np.int64)
        counts = np.zeros(n, dtype=np.int64)
        if cand.shape[0]:
            _verify(store.residues, self.kmer_offsets, self.positions, pep_buf, pep_off,
                    anchor_off, anchor_key, self.k, bool(il_equivalent), norm, cand_off, cand,
                    counts)
        hit_off = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=hit_off[1:])
        hits = np.empty(int(hit_off[-1]), dtype=np.int64)
        if hits.shape[0]:
            _compact(cand, cand_off, hit_off, hits)
        return hit_off, hits

    @classmethod
    def load(cls, directory: str | Path, mmap: bool = True) -> KmerIndex:
        """Load an index written by :func:`write_index` (memory-mapped by default).

        Raises:
            KBNotFoundError: if the index files are missing or of another format version.
        """
        directory = Path(directory)
        meta_path = directory / _META_FILE
        if not meta_path.is_file():
            raise KBNotFoundError(
                f"no k-mer index ({_META_FILE} missing); rebuild the knowledge base", directory
            )
        meta = json.loads(meta_path.read_text())
        if meta.get("format_version") != _FORMAT_VERSION or meta.get("alphabet") != _alphabet_id():
            raise KBNotFoundError(
                f"k-mer index of another format ({meta_path.name}: {meta}); rebuild the "
                "knowledge base",
                directory,
            )
        mode = "r" if mmap else None
        offsets = np.load(directory / _OFFSETS_FILE, mmap_mode=mode)
        positions = np.load(directory / _POSITIONS_FILE, mmap_mode=mode)
        return cls(int(meta["k"]), offsets, positions)


def _alphabet_id() -> str:
    return "20aa-IL-merged-base19"


def _check_k(k: int) -> None:
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 1 <= k <= _MAX_K:
        raise ValueError(f"k-mer length k must be an integer in 1..{_MAX_K}, got {k!r}")


def _counted(store: SequenceStore, k: int, n_chunks: int | None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The counting pass: ``(residues, cursors, kmer_offsets)``; ``cursors[c, b]`` is where
    chunk ``c`` writes its first window of bucket ``b``."""
    _check_k(k)
    n_buckets = BASE**k
    if n_chunks is None:
        n_chunks = min(8, numba.get_num_threads())
    n_chunks = max(1, int(n_chunks))
    residues = np.ascontiguousarray(store.residues)
    # per-chunk counts, later write cursors: int32 where every position fits (half the memory)
    small = residues.shape[0] < 2**31 - 1
    counts = np.zeros((n_chunks, n_buckets), dtype=np.int32 if small else np.int64)
    if residues.shape[0]:
        _scan_chunks(residues, _CODES, k, n_buckets, counts, np.empty(0, counts.dtype), False,
                     _BLOCK, _group_shift(n_buckets))
    kmer_offsets = np.empty(n_buckets + 1, dtype=np.int64)
    _cursors(counts, kmer_offsets)
    return residues, counts, kmer_offsets


def _fill(residues: np.ndarray, k: int, cursors: np.ndarray, positions: np.ndarray) -> None:
    if positions.shape[0]:
        n_buckets = cursors.shape[1]
        _scan_chunks(residues, _CODES, k, n_buckets, cursors, positions, True, _BLOCK,
                     _group_shift(n_buckets))


def build_index(store: SequenceStore, k: int = DEFAULT_K, n_chunks: int | None = None) -> KmerIndex:
    """Build the k-mer index of ``store`` in memory (two-pass parallel counting sort).

    Arguments:
        store: the sequences to index.
        k: k-mer length (1..7).
        n_chunks: number of independent chunks counted in parallel (default: numba's thread
            count, at most 8); the result does not depend on it.

    Returns:
        The :class:`KmerIndex`.

    Raises:
        ValueError: if ``k`` is out of range.
    """
    residues, cursors, kmer_offsets = _counted(store, k, n_chunks)
    positions = np.empty(int(kmer_offsets[-1]), dtype=cursors.dtype)
    _fill(residues, k, cursors, positions)
    return KmerIndex(k, kmer_offsets, positions)


def _save_npy_atomic(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array)


def _mapped_npy(path: Path, dtype: np.dtype, n: int) -> np.memmap | None:
    """A writable memory map of a new ``.npy`` file of ``n`` values at ``path``, or ``None``
    when ``n`` is 0 (an empty file cannot be mapped) or the file system does not map files
    for writing (some FUSE mounts: ``ENODEV``, ``EINVAL``, ``EOPNOTSUPP``)."""
    if n == 0:
        return None
    try:
        return np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(n,))
    except OSError as e:
        if e.errno in (errno.ENODEV, errno.EINVAL, errno.EOPNOTSUPP):
            return None
        raise


def _reserve(path: Path) -> None:
    """Allocate the disk blocks of a (sparse) file before it is filled through a memory map:
    a full disk is then an ``OSError`` here (a clean one-line error, the build cleaned up)
    instead of a SIGBUS killing the process while a page is written."""
    if hasattr(os, "posix_fallocate"):  # Linux; elsewhere the map is filled as it is
        with open(path, "r+b") as fh:
            try:
                os.posix_fallocate(fh.fileno(), 0, os.fstat(fh.fileno()).st_size)
            except OSError as e:  # name the file (posix_fallocate's error has no name)
                raise OSError(e.errno, e.strerror, str(path)) from None


def write_index(store: SequenceStore, directory: str | Path, k: int = DEFAULT_K,
                n_chunks: int | None = None) -> dict[str, Any]:
    """Build the k-mer index of ``store`` and write it into ``directory`` (atomically per file).

    The positions are placed straight into their file (a memory map of its temporary file):
    no second copy of the 4-bytes-per-residue array and no separate write (1.5-2 s of kernel
    time at Swiss-Prot scale). ``kmer_index.json`` is written last; an interrupted build leaves
    no JSON and :meth:`KmerIndex.load` refuses the directory.

    Arguments:
        store: the sequence store (entry order = ``entry_id``).
        directory: the knowledge-base directory (must exist).
        k: k-mer length (default :data:`DEFAULT_K`).
        n_chunks: as for :func:`build_index`.

    Returns:
        A dict of facts for the build's ``meta`` table: ``k``, ``n_buckets``,
        ``n_positions``, ``positions_dtype``, ``index_bytes``, ``index_seconds``.

    Raises:
        ValueError: if ``k`` is out of range.
        FileNotFoundError: if ``directory`` does not exist.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(2, "knowledge-base directory does not exist", str(directory))
    t0 = time.perf_counter()
    meta_path = directory / _META_FILE
    meta_path.unlink(missing_ok=True)
    residues, cursors, kmer_offsets = _counted(store, k, n_chunks)
    n_positions = int(kmer_offsets[-1])
    dtype = cursors.dtype  # of the positions too
    with atomic_path(directory / _POSITIONS_FILE) as tmp:
        positions = _mapped_npy(tmp, dtype, n_positions)
        if positions is None:  # empty, or a file system that cannot map files for writing
            positions = np.empty(n_positions, dtype=dtype)
            _fill(residues, k, cursors, positions)
            with open(tmp, "wb") as fh:
                np.save(fh, positions)
        else:
            _reserve(tmp)
            _fill(residues, k, cursors, np.asarray(positions))
            # written back before the file is published: on a network file system another
            # node (a Dask worker opening this shard) would otherwise not see the pages yet
            positions.flush()
        del positions
    del cursors
    _save_npy_atomic(directory / _OFFSETS_FILE, kmer_offsets)
    info: dict[str, Any] = {
        "k": int(k),
        "n_buckets": int(kmer_offsets.shape[0] - 1),
        "n_positions": n_positions,
        "positions_dtype": str(dtype),
        "index_bytes": int(kmer_offsets.nbytes + n_positions * dtype.itemsize),
        "index_seconds": round(time.perf_counter() - t0, 3),
    }
    meta = {"format_version": _FORMAT_VERSION, "alphabet": _alphabet_id(), **info}
    with atomic_path(meta_path) as tmp, open(tmp, "w") as fh:
        json.dump(meta, fh, indent=1)
    return info
