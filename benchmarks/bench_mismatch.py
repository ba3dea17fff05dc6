"""Benchmark ``kb.open(DIR).search(peptides, mismatches=N)`` against PEPMatch 1.17.

Knowledge base: the synthetic Swiss-Prot of ``benchmarks/generate_swissprot.py`` (built once
and reused, shared with ``bench_search.py``); ``--entries`` selects a smaller file (a fraction
of full size; the results say which). Peptides (seeded): 90 % windows of 9-15 aa sampled from
the stored sequences with 0..N random substitutions, 10 % random sequences with Swiss-Prot
composition.

For each N the same run measures:

* ours: ``KnowledgeBase.search_with_summary(peptides, mismatches=N)`` (validation,
  de-duplication, seeds, verification and the result table with the mismatch columns), index
  loaded, median of ``--repeats`` after a warm-up;
* PEPMatch 1.17: ``Matcher(peptides, fasta, max_mismatches=N, k=floor(9 / (N + 1)))``
  (its pigeonhole k for the shortest peptide, so its hits are complete), its preprocessing of
  the proteome for that k timed separately;
* the hit sets compared row by row: (peptide, accession, 1-based start) of both engines.

``--million`` also runs 1M peptides with 1 mismatch in a child process that reports its peak
RSS (ours only). Output: ``benchmarks/results/mismatch.json`` and ``.md``.

Usage::

    nice -n 10 python benchmarks/bench_mismatch.py --million           # full size
    python benchmarks/bench_mismatch.py --entries 20000 --peptides 2000  # quick
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from _machine import cpu_name, cpu_seconds  # noqa: E402
from bench_build import GENERATED  # noqa: E402
from bench_search import ensure_kb, machine, timed, write_fasta  # noqa: E402

import kb  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"


AMINO = np.frombuffer(b"ACDEFGHIKLMNPQRSTVWY", dtype=np.uint8)


def mutated_peptides(store, n: int, max_mm: int, seed: int, lo: int = 9, hi: int = 15) -> list[str]:
    """``n`` peptides of lo..hi aa: 90 % stored windows with 0..max_mm substitutions."""
    rng = np.random.default_rng(seed)
    lengths = store.lengths()
    n_rand = n // 10
    n_win = n - n_rand
    plen = rng.integers(lo, hi + 1, size=n_win)
    entry = np.searchsorted(np.cumsum(lengths), rng.integers(0, lengths.sum(), n_win),
                            side="right")
    entry = np.minimum(entry, len(lengths) - 1)
    ok = lengths[entry] >= plen
    entry, plen = entry[ok], plen[ok]
    start = store.offsets[entry] + (rng.random(entry.shape[0]) * (lengths[entry] - plen + 1)
                                    ).astype(np.int64)
    res = np.asarray(store.residues)
    out = []
    for s, m in zip(start.tolist(), plen.tolist(), strict=True):
        p = res[s:s + m].copy()
        for j in rng.choice(m, int(rng.integers(0, max_mm + 1)), replace=False):
            p[j] = AMINO[rng.integers(20)]
        out.append(p.tobytes().decode("ascii"))
    for m in rng.integers(lo, hi + 1, size=n - len(out)).tolist():
        out.append(AMINO[rng.integers(0, 20, m)].tobytes().decode("ascii"))
    return out


def pepmatch_run(fasta: Path, work: Path, peptides: list[str], n: int) -> dict:
    from pepmatch import Matcher, Preprocessor

    k = max(2, 9 // (n + 1))
    with contextlib.redirect_stdout(io.StringIO()):
        t0 = time.perf_counter()
        Preprocessor(str(fasta), preprocessed_files_path=str(work)).preprocess(k=k)
        prep = time.perf_counter() - t0
        t0 = time.perf_counter()
        df = Matcher(peptides, str(fasta), max_mismatches=n, k=k,
                     preprocessed_files_path=str(work)).match()
        seconds = time.perf_counter() - t0
    return {"k": k, "preprocess_s": round(prep, 2), "search_s": round(seconds, 2), "df": df}


def pepmatch_rows(df) -> set[tuple[str, str, int]]:
    df = df.filter(df["Matched Sequence"].is_not_null())
    accs = [(a.split("|")[1] if "|" in a else a).split(".")[0] for a in df["Protein ID"].to_list()]
    return set(zip(df["Query Sequence"].to_list(), accs,
                   [int(x) for x in df["Index start"].to_list()], strict=True))


def child_million(db: Path, seed: int) -> int:
    """Run 1M peptides with 1 mismatch; print JSON with time and peak RSS."""
    with kb.open(db) as base:
        peps = mutated_peptides(base.store, 1_000_000, 1, seed)
        base.search_with_summary(peps[:1000], mismatches=1)  # compile / warm up
        t0 = time.perf_counter()
        cpu0 = cpu_seconds()
        res = base.search_with_summary(peps, mismatches=1)
        sec = time.perf_counter() - t0
        cpu = cpu_seconds() - cpu0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(json.dumps({"peptides": 1_000_000, "rows": res.table.num_rows, "seconds": round(sec, 2),
                      "cpu_s": round(cpu, 2), "peak_rss_gb": round(rss, 2)}))
    return 0


def markdown(r: dict) -> str:
    m = r["machine"]
    lines = [
        "# Mismatch search vs PEPMatch 1.17",
        "",
        f"Command: `{r['command']}`",
        "",
        f"Machine: {m['cpu']}, {m['cpus']} CPUs ({m['numba_threads']} numba threads), "
        f"{m['memory_gb']} GB RAM, load average {m['load_average_1_5_15']}.",
        f"Knowledge base: {r['kb']['entries']:,} entries, {r['kb']['residues']:,} residues "
        f"({r['kb']['fraction_of_full_size']:.0%} of full-size Swiss-Prot).",
        f"Peptides: {r['peptides']:,} of 9-15 aa (90 % stored windows with 0..N substitutions).",
        "",
        "| N | rows | ours: wall (CPU s) | PEPMatch search | PEPMatch k / preprocessing | "
        "speed-up (wall) | hit sets identical |",
        "|---|---|---|---|---|---|---|",
    ]
    spans = []
    for run in r["runs"]:
        pm = run.get("pepmatch", {})
        if run.get("pepmatch_rows_spanning_two_proteins"):
            spans.append(f"N={run['mismatches']}: {run['pepmatch_rows_spanning_two_proteins']}")
        lines.append(
            f"| {run['mismatches']} | {run['rows']:,} | {run['ours_median_s']} s "
            f"({run.get('ours_cpu_s', '-')}) | "
            f"{pm.get('search_s', '-')} s | k={pm.get('k', '-')} / {pm.get('preprocess_s', '-')} s"
            f" | {run.get('speedup', '-')}x | {run.get('identical', '-')} |")
    if spans:
        lines += ["", "Hit sets are compared after removing PEPMatch rows whose window runs past "
                  "the end of the protein into the next one (PEPMatch searches the concatenated "
                  "proteome; not matches within one protein): " + ", ".join(spans) + "."]
    if "million" in r:
        mm = r["million"]
        lines += ["", f"1M peptides, 1 mismatch (ours, separate process): {mm['seconds']} s wall "
                  f"({mm.get('cpu_s', '-')} CPU s), {mm['rows']:,} rows, peak RSS "
                  f"{mm['peak_rss_gb']} GB."]
    lines += ["", f"Our peak RSS in the main process (PEPMatch included): "
              f"{r['peak_rss_gb']} GB.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=570_000, help="synthetic KB entries")
    ap.add_argument("--seed", type=int, default=0, help="generator and peptide seed")
    ap.add_argument("--peptides", type=int, default=10_000, help="peptides per N")
    ap.add_argument("--mismatches", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-pepmatch", action="store_true", help="skip the PEPMatch baseline")
    ap.add_argument("--million", action="store_true", help="also 1M peptides, 1 mismatch")
    ap.add_argument("--child-million", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=RESULTS / "mismatch.json")
    args = ap.parse_args(argv)
    if args.child_million:
        return child_million(args.child_million, args.seed)
    db, _ = ensure_kb(args.entries, args.seed)
    results: dict = {
        "command": "python benchmarks/bench_mismatch.py " + " ".join(argv or sys.argv[1:]),
        "machine": {**machine(), "cpu": cpu_name()},
        "peptides": args.peptides,
        "runs": [],
    }
    with kb.open(db) as base:
        store = base.store
        results["kb"] = {"entries": len(store), "residues": store.n_residues,
                         "fraction_of_full_size": round(store.n_residues / 205e6, 3)}
        work = Path(tempfile.mkdtemp(prefix="pepmatch-mm-", dir=GENERATED))
        fasta = work / "proteome.fasta"
        if not args.no_pepmatch:
            write_fasta(store, base.accessions.to_pylist(), fasta)
        for n in args.mismatches:
            peps = mutated_peptides(store, args.peptides, n, args.seed + n)
            base.search_with_summary(peps[:200], mismatches=n)  # numba warm-up
            cpu0 = cpu_seconds()
            med, times, res = timed(lambda p=peps, n=n: base.search_with_summary(p, mismatches=n),
                                    args.repeats)
            cpu = (cpu_seconds() - cpu0) / args.repeats
            t = res.table
            run = {"mismatches": n, "rows": t.num_rows, "ours_median_s": round(med, 3),
                   "ours_times_s": [round(x, 3) for x in times], "ours_cpu_s": round(cpu, 2)}
            print(f"N={n}: {t.num_rows:,} rows in {med:.3f} s", flush=True)
            if not args.no_pepmatch:
                pm = pepmatch_run(fasta, work, peps, n)
                theirs = pepmatch_rows(pm.pop("df"))
                ours = set(zip(t.column("peptide").to_pylist(), t.column("accession").to_pylist(),
                               t.column("start").to_pylist(), strict=True))
                # PEPMatch concatenates the proteome: a window running past a protein's end
                # continues into the next protein; such rows are not matches in one protein
                lengths = dict(zip(base.accessions.to_pylist(), store.lengths().tolist(),
                                   strict=True))
                spanning = {r for r in theirs - ours if r[2] - 1 + len(r[0]) > lengths[r[1]]}
                run["pepmatch"] = pm
                run["pepmatch_rows"] = len(theirs)
                run["pepmatch_rows_spanning_two_proteins"] = len(spanning)
                run["identical"] = ours == theirs - spanning
                run["only_ours"] = len(ours - theirs)
                run["only_pepmatch"] = len(theirs - ours - spanning)
                run["speedup"] = round(pm["search_s"] / med, 1)
                print(f"  PEPMatch k={pm['k']}: {pm['search_s']} s (+{pm['preprocess_s']} s "
                      f"preprocessing), identical={run['identical']}", flush=True)
            results["runs"].append(run)
    results["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2)
    if args.million:
        out = subprocess.run([sys.executable, __file__, "--child-million", str(db),
                              "--seed", str(args.seed)], capture_output=True, text=True,
                             check=True)
        results["million"] = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"1M peptides: {results['million']}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    args.out.with_suffix(".md").write_text(markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
