"""Benchmark ``kb.open(DIR).search`` at Swiss-Prot scale against Aho-Corasick and PEPMatch.

Knowledge base: built (once, then reused) with ``kb.build`` from the synthetic flat file of
``benchmarks/generate_swissprot.py`` (default 570,000 entries, about 205 M residues; shared
with ``bench_build.py``). Peptides (seeded): 90 % substrings of 5-30 aa sampled uniformly from
the stored sequences, 10 % random sequences of 5-30 aa with Swiss-Prot composition (mostly
absent). For each batch size (10k, 100k, 1M) the script measures, in the same run:

* ``kb search`` through the Python API (``KnowledgeBase.search_with_summary``: validation,
  de-duplication, k-mer search, result table with peptide/accession strings materialised),
  index already loaded; median of ``--repeats`` runs after a warm-up;
* baseline 1: one pyahocorasick automaton over the batch scanned over all residues
  (``kb.scan.scan_store``, the engine of the short-peptide path);
* baseline 2: PEPMatch (exact matching, k=5; its preprocessing of the proteome FASTA timed
  separately), ``Matcher(...).match()`` returning its DataFrame.

The rows themselves are compared across engines: each engine's result, as the sorted set of
distinct (peptide, accession, start) triples, must equal ``kb search``'s (Aho-Corasick: the run
stops otherwise; PEPMatch: recorded as ``pepmatch_rows_identical``). Output:
``benchmarks/results/search.json`` and ``.md`` (``--out`` changes the name). Timings are
wall-clock on a shared machine (other jobs running): noisy.

Usage::

    python benchmarks/bench_search.py                      # full scale
    python benchmarks/bench_search.py --entries 20000 --sizes 1000 10000 \
        --out benchmarks/results/search_rows_check.json    # quick: the row check at small size
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_build import GENERATED, ensure_flatfile  # noqa: E402

import kb  # noqa: E402
from kb.peptides import prepare_peptides  # noqa: E402
from kb.scan import scan_store  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
AMINO = np.frombuffer(b"ACDEFGHIKLMNPQRSTVWY", dtype=np.uint8)


def machine() -> dict:
    import numba

    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    t0 = time.perf_counter()
    total = 0
    for i in range(5_000_000):
        total += i
    loop_s = time.perf_counter() - t0
    return {
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "python_loop_5M_s": round(loop_s, 3),  # a contention gauge to compare runs
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "numba_threads": numba.get_num_threads(),
        "memory_gb": round(mem, 1),
    }


def ensure_kb(entries: int, seed: int) -> tuple[Path, float | None]:
    """The knowledge base of the synthetic flat file (built once, then reused)."""
    from kb.build import build
    from kb.store import is_complete

    db = GENERATED / f"kb_synth_{entries}_seed{seed}"
    if is_complete(db):
        return db, None
    flat = ensure_flatfile(entries, seed)
    print(f"building {db} ...", flush=True)
    t0 = time.perf_counter()
    build([flat], db, force=True, progress=False, workers=min(2, os.cpu_count() or 1))
    return db, round(time.perf_counter() - t0, 1)


def sample_peptides(store, n: int, seed: int, absent_fraction: float = 0.1) -> list[str]:
    """``n`` peptides of 5-30 aa: substrings of stored sequences, plus random ones."""
    rng = np.random.default_rng(seed)
    lengths = store.lengths()
    n_absent = int(round(n * absent_fraction))
    n_present = n - n_absent
    pep_len = rng.integers(5, 31, size=n_present)
    # Entries long enough, chosen proportionally to their length.
    entry = np.searchsorted(np.cumsum(lengths), rng.integers(0, lengths.sum(), n_present),
                            side="right")
    entry = np.minimum(entry, len(lengths) - 1)
    short = lengths[entry] < pep_len
    pep_len[short] = np.maximum(1, np.minimum(pep_len[short], lengths[entry][short]))
    start = store.offsets[entry] + (rng.random(n_present) * (lengths[entry] - pep_len + 1)).astype(
        np.int64)
    data = memoryview(np.ascontiguousarray(store.residues))  # no copy of the residues
    present = [str(data[s:s + m], "ascii") for s, m in zip(start.tolist(), pep_len.tolist(),
                                                          strict=True)]
    absent_len = rng.integers(5, 31, size=n_absent)
    buf = AMINO[rng.integers(0, 20, size=int(absent_len.sum()))].tobytes().decode("ascii")
    ends = np.cumsum(absent_len)
    absent = [buf[e - m:e] for e, m in zip(ends.tolist(), absent_len.tolist(), strict=True)]
    peptides = present + absent
    order = rng.permutation(len(peptides))
    return [peptides[i] for i in order]


def timed(func, repeats: int) -> tuple[float, list[float], object]:
    times = []
    out = None
    for _ in range(repeats):
        out = None
        gc.collect()
        t0 = time.perf_counter()
        out = func()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times, out


def write_fasta(store, accessions: list[str], path: Path) -> None:
    data = bytes(store.residues)
    off = store.offsets.tolist()
    with open(path, "w") as fh:
        for i, acc in enumerate(accessions):
            fh.write(f">sp|{acc}|E{i}_SYNTH Synthetic OS=Synthetic OX=1\n")
            fh.write(data[off[i]:off[i + 1] - 1].decode("ascii"))
            fh.write("\n")


class RowSet:
    """A result as the sorted distinct (peptide, entry, 1-based start) triples, packed into
    int64 keys so that millions of rows compare in numpy (peptides coded by their rank)."""

    def __init__(self, peptides: list[str], n_entries: int, max_start: int):
        self.peptides = pa.array(sorted(set(peptides)))
        self.n_entries = n_entries
        self.span = max_start + 1

    def keys(self, peptides: pa.Array | pa.ChunkedArray, entry: np.ndarray,
             start: np.ndarray) -> np.ndarray:
        code = pc.index_in(peptides, value_set=self.peptides).to_numpy(zero_copy_only=False)
        if np.isnan(code.astype(np.float64)).any():
            raise RuntimeError("a result row names a peptide that was not queried")
        key = (code.astype(np.int64) * self.n_entries + entry.astype(np.int64)) * self.span
        return np.unique(key + start.astype(np.int64))


def kb_rows(rows: RowSet, table: pa.Table) -> np.ndarray:
    return rows.keys(table["peptide"], table["entry_id"].to_numpy(), table["start"].to_numpy())


def aho_corasick_rows(rows: RowSet, uniq: list[str], hit_off: np.ndarray, hits: np.ndarray,
                      offsets: np.ndarray) -> np.ndarray:
    entry = np.searchsorted(offsets, hits, side="right") - 1
    peptide = pa.array(uniq).take(pa.array(np.repeat(np.arange(len(uniq)), np.diff(hit_off))))
    return rows.keys(peptide, entry, hits - offsets[entry] + 1)


def run_pepmatch(fasta: Path, work: Path, peptides: list[str], rows: RowSet,
                 accessions: pa.Array) -> tuple[float, int, np.ndarray]:
    """PEPMatch's time, its number of rows and its row set (accessions mapped to entries)."""
    from pepmatch import Matcher

    with contextlib.redirect_stdout(io.StringIO()):
        t0 = time.perf_counter()
        df = Matcher(peptides, str(fasta), max_mismatches=0, k=5,
                     preprocessed_files_path=str(work)).match()
        seconds = time.perf_counter() - t0
    df = df.filter(df["Matched Sequence"].is_not_null())
    # PEPMatch appends the sequence version to the accession ("P12345.1")
    acc = pc.replace_substring_regex(df["Protein ID"].to_arrow(), r"\.\d+$", "")
    entry = pc.index_in(acc, value_set=accessions)
    if entry.null_count:
        raise RuntimeError("PEPMatch returned an accession that is not in the knowledge base")
    keys = rows.keys(df["Query Sequence"].to_arrow(), entry.to_numpy(zero_copy_only=False),
                     df["Index start"].to_numpy())
    return seconds, df.height, keys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=570_000, help="synthetic KB entries")
    ap.add_argument("--seed", type=int, default=0, help="generator and peptide seed")
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000],
                    help="peptide batch sizes")
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats of kb search")
    ap.add_argument("--ac-max", type=int, default=100_000,
                    help="largest batch also run through the Aho-Corasick baseline")
    ap.add_argument("--pepmatch-max", type=int, default=1_000_000,
                    help="largest batch also run through PEPMatch (0: skip PEPMatch)")
    ap.add_argument("--out", type=Path, default=RESULTS / "search.json", help="JSON results")
    ap.add_argument("--compare-k", type=int, nargs="*", default=[],
                    help="only compare k-mer lengths (in-memory index build time, size, find time "
                         "for 100k peptides of 7-30 aa) and write search_k.json")
    ap.add_argument("--threading-layer", default=None,
                    help="numba threading layer (omp, workqueue, tbb; default: numba's choice)")
    args = ap.parse_args(argv)
    if args.threading_layer:
        import numba

        numba.config.THREADING_LAYER = args.threading_layer

    db, build_s = ensure_kb(args.entries, args.seed)
    if args.compare_k:
        return compare_k(db, args.compare_k, args.seed, args.out.with_name("search_k.json"))
    t0 = time.perf_counter()
    base = kb.open(db)
    open_s = time.perf_counter() - t0
    store = base.store
    index_meta = json.loads((db / "kmer_index.json").read_text())
    n_res = store.n_residues
    print(f"KB {db.name}: {len(base):,} entries, {n_res / 1e6:.1f} M residues, "
          f"k={base.index.k}, index {index_meta['index_bytes'] / 1e9:.2f} GB "
          f"(built in {index_meta['index_seconds']} s); open {open_s:.2f} s", flush=True)
    # Warm-up: numba compilation (cached on disk) and page cache of the memory maps.
    t0 = time.perf_counter()
    base.search(sample_peptides(store, 2000, args.seed + 99))
    np.asarray(store.residues).sum()
    np.asarray(base.index.positions).sum()
    warm_s = time.perf_counter() - t0
    _ = base.accessions

    import numba

    results: dict = {
        "machine": {**machine(), "threading_layer": numba.threading_layer()},
        "kb": {"entries": len(base), "residues": n_res, "k": base.index.k,
               "index_bytes": index_meta["index_bytes"],
               "index_build_s": index_meta["index_seconds"],
               "kb_build_s": build_s, "open_s": round(open_s, 3), "warmup_s": round(warm_s, 2),
               "source": f"benchmarks/generate_swissprot.py --entries {args.entries} "
                         f"--seed {args.seed}"},
        "runs": [],
    }

    pep_dir = None
    fasta = None
    if args.pepmatch_max:
        pep_dir = Path(tempfile.mkdtemp(prefix="pepmatch-", dir=GENERATED))
        fasta = pep_dir / "proteome.fasta"
        write_fasta(store, base.accessions.to_pylist(), fasta)
        from pepmatch import Preprocessor

        with contextlib.redirect_stdout(io.StringIO()):
            t0 = time.perf_counter()
            Preprocessor(str(fasta), preprocessed_files_path=str(pep_dir)).preprocess(k=5)
            prep_s = time.perf_counter() - t0
        results["pepmatch_preprocess_s"] = round(prep_s, 2)
        print(f"PEPMatch preprocessing (k=5): {prep_s:.1f} s", flush=True)

    offsets = np.asarray(store.offsets, dtype=np.int64)
    max_start = int(np.diff(offsets).max())
    accessions = pa.array(base.accessions.to_pylist())
    for n in args.sizes:
        peptides = sample_peptides(store, n, args.seed + n)
        med, times, res = timed(lambda p=peptides: base.search_with_summary(p), args.repeats)
        rows = res.table.num_rows
        row_set = RowSet(peptides, len(base), max_start)
        kb_keys = kb_rows(row_set, res.table)
        run = {"peptides": n, "distinct": len(set(peptides)), "rows": rows,
               "distinct_rows": int(kb_keys.size),
               "no_hit": res.n_no_hit, "kb_search_median_s": round(med, 4),
               "kb_search_times_s": [round(t, 4) for t in times]}
        del res
        t0 = time.perf_counter()
        batch = prepare_peptides(peptides)
        t1 = time.perf_counter()
        base.find(batch)
        t2 = time.perf_counter()
        run["phases_s"] = {"prepare_peptides": round(t1 - t0, 4), "find": round(t2 - t1, 4),
                           "rest_table": round(med - (t2 - t0), 4)}
        del batch
        print(f"{n:>9,} peptides: kb search median {med:.3f} s, {rows:,} rows, "
              f"{run['no_hit']:,} without hit", flush=True)
        if n <= args.ac_max:
            t0 = time.perf_counter()
            uniq = list(dict.fromkeys(peptides))
            hit_off, hits = scan_store(store, uniq)
            ac_s = time.perf_counter() - t0
            counts = dict(zip(uniq, np.diff(hit_off).tolist(), strict=True))
            ac_rows = sum(counts[p] for p in peptides)
            same = np.array_equal(aho_corasick_rows(row_set, uniq, hit_off, hits, offsets),
                                  kb_keys)
            run.update(aho_corasick_s=round(ac_s, 2), aho_corasick_rows=ac_rows,
                       aho_corasick_rows_identical=same,
                       speedup_vs_aho_corasick=round(ac_s / med, 1))
            print(f"           Aho-Corasick scan {ac_s:.2f} s ({ac_rows:,} rows, identical: "
                  f"{same}) -> {ac_s / med:.1f}x", flush=True)
            if ac_rows != rows or not same:
                raise RuntimeError(f"engines disagree: kb search {rows} rows, Aho-Corasick "
                                   f"{ac_rows} rows (same distinct rows: {same})")
        if fasta is not None and n <= args.pepmatch_max:
            pm_s, pm_rows, pm_keys = run_pepmatch(fasta, pep_dir, peptides, row_set, accessions)
            same = np.array_equal(pm_keys, kb_keys)
            run.update(pepmatch_s=round(pm_s, 2), pepmatch_rows=pm_rows,
                       pepmatch_rows_identical=same,
                       speedup_vs_pepmatch=round(pm_s / med, 1))
            print(f"           PEPMatch {pm_s:.2f} s ({pm_rows:,} rows, identical: {same}) -> "
                  f"{pm_s / med:.1f}x", flush=True)
        results["runs"].append(run)
        gc.collect()

    if pep_dir is not None:
        for f in pep_dir.iterdir():
            f.unlink()
        pep_dir.rmdir()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(markdown(results))
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}")
    return 0


def compare_k(db: Path, ks: list[int], seed: int, out: Path) -> int:
    """Index build time / size and ``find`` time per k on the same store and peptides."""
    from kb.index import build_index

    base = kb.open(db)
    store = base.store
    peptides = [p for p in sample_peptides(store, 120_000, seed + 7) if len(p) >= 7][:100_000]
    batch = prepare_peptides(peptides)
    rows = []
    for k in ks:
        t0 = time.perf_counter()
        index = build_index(store, k)
        build_s = time.perf_counter() - t0
        index.find(store, batch.buf, batch.offsets)  # compile / warm
        med, times, _ = timed(lambda i=index: i.find(store, batch.buf, batch.offsets), 3)
        rows.append({"k": k, "build_s": round(build_s, 2),
                     "index_bytes": int(index.kmer_offsets.nbytes + index.positions.nbytes),
                     "find_100k_median_s": round(med, 4)})
        print(rows[-1], flush=True)
        del index
        gc.collect()
    out.write_text(json.dumps({"machine": machine(), "peptides": len(peptides),
                               "runs": rows}, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


def markdown(results: dict) -> str:
    m, k = results["machine"], results["kb"]
    lines = [
        "# Peptide search benchmark (`benchmarks/bench_search.py`)",
        "",
        f"Machine: {m['processor']}, {m['cpus']} CPUs (numba threads {m['numba_threads']}), "
        f"{m['memory_gb']} GB RAM, Python {m['python']}, numba threading layer "
        f"{m['threading_layer']}; shared machine (other jobs running), timings are noisy: "
        f"load average {m['load_average_1_5_15']}, a 5M-iteration Python loop took "
        f"{m['python_loop_5M_s']} s (a contention gauge to compare runs).",
        f"KB: {k['entries']:,} entries, {k['residues'] / 1e6:.1f} M residues ({k['source']}); "
        f"k={k['k']}, index {k['index_bytes'] / 1e9:.2f} GB built in {k['index_build_s']} s; "
        f"open {k['open_s']} s.",
    ]
    if "pepmatch_preprocess_s" in results:
        lines.append(f"PEPMatch preprocessing (k=5, same proteome): "
                     f"{results['pepmatch_preprocess_s']} s.")
    lines += [
        "",
        "| peptides | rows | no hit | kb search (median s) | Aho-Corasick (s) | vs AC | "
        "PEPMatch (s) | vs PEPMatch | same rows as kb search (AC / PEPMatch) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]

    def same(r: dict, engine: str) -> str:
        v = r.get(f"{engine}_rows_identical")
        return "-" if v is None else ("yes" if v else "**no**")

    for r in results["runs"]:
        lines.append(
            f"| {r['peptides']:,} | {r['rows']:,} | {r['no_hit']:,} | {r['kb_search_median_s']} | "
            f"{r.get('aho_corasick_s', '-')} | {r.get('speedup_vs_aho_corasick', '-')} | "
            f"{r.get('pepmatch_s', '-')} | {r.get('speedup_vs_pepmatch', '-')} | "
            f"{same(r, 'aho_corasick')} / {same(r, 'pepmatch')} |"
        )
    lines += ["", "Same rows: the sorted sets of distinct (peptide, accession, start) triples "
              "are equal (rows of repeated queries collapse; the row counts are compared too)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
