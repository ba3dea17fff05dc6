"""Benchmark of ``psl.hitrate.score``: 100k subsequences, search timed apart from scoring.

For each knowledge base (the shipped DeepLoc 2.0 set, built under ``benchmarks/generated/`` if
missing, plus any ``--kb DIR``, e.g. the full-size synthetic Swiss-Prot of the search
benchmark), the script

1. draws ``--n`` subsequences (5-15 residues, random KB proteins, random start, random
   reference location; seeded) and writes them to ``benchmarks/generated/``;
2. times ``kb.search`` of their distinct peptides alone (median of ``--repeats``);
3. times ``score()`` end to end (median of ``--repeats``), split into the stages it reports:
   before the search (input checks, DuckDB look-ups), the search, and the vectorised scoring;
   "beyond the search" = total - search;
4. runs the plain-Python reference (:mod:`psl.hitrate.reference`) on the first
   ``--reference-n`` rows with the same occurrences, checks it agrees, and scales its time to
   ``--n`` rows (the baseline, measured in the same run);
5. optionally times the null model (``--null R``) on the first ``--null-rows`` rows.

Results: ``benchmarks/results/hitrate.json`` and ``hitrate.md``. Timings are wall-clock on a
shared machine (other jobs may run): medians, noisy.

Usage::

    python benchmarks/bench_hitrate.py [--kb DIR ...] [--n 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _machine import cpu_name  # noqa: E402  (benchmarks/ is on sys.path)

from kb.api import open as open_kb  # noqa: E402
from kb.classes import LOCATION_CLASSES  # noqa: E402
from kb.store import is_complete  # noqa: E402
from psl.hitrate.reference import reference_hit_rates  # noqa: E402
from psl.hitrate.scorer import score  # noqa: E402
from psl.tables_io import write_table  # noqa: E402

GENERATED = REPO / "benchmarks" / "generated"
RESULTS = REPO / "benchmarks" / "results"
DEEPLOC2 = REPO / "data" / "deeploc2" / "deeploc2_swissprot.csv.gz"


def machine() -> dict:
    mem = ""
    try:
        with open("/proc/meminfo") as fh:
            mem = fh.readline().split(":")[1].strip()
    except OSError:
        pass
    cpu = cpu_name()
    import duckdb

    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory": mem,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "duckdb": duckdb.__version__,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def deeploc_kb() -> Path:
    path = GENERATED / "kb_deeploc2"
    if not is_complete(path):
        from kb.build import build

        GENERATED.mkdir(parents=True, exist_ok=True)
        print(f"building {path} from {DEEPLOC2.name} ...", flush=True)
        build([DEEPLOC2], path, force=True, progress=True)
    return path


def make_subsequences(kb, n: int, seed: int) -> pd.DataFrame:
    """``n`` windows of 5-15 residues from random KB proteins, random reference classes."""
    rng = np.random.default_rng(seed)
    offsets = np.asarray(kb.store.offsets)
    lengths = np.diff(offsets) - 1
    eligible = np.flatnonzero(lengths >= 15)
    entry = rng.choice(eligible, size=n)
    length = rng.integers(5, 16, size=n)
    start0 = rng.integers(0, lengths[entry] - length + 1)
    residues = np.asarray(kb.store.residues)
    first = offsets[entry] + start0
    subs = np.empty(n, dtype=object)
    for L in range(5, 16):
        sel = np.flatnonzero(length == L)
        chars = residues[first[sel][:, None] + np.arange(L)]
        subs[sel] = np.ascontiguousarray(chars).view(f"S{L}").reshape(-1).astype(str)
    accessions = kb.accessions.take(entry).to_numpy(zero_copy_only=False)
    return pd.DataFrame({
        "protein": accessions,
        "location": rng.choice(np.asarray(LOCATION_CLASSES, dtype=object), size=n),
        "subsequence": subs,
        "start": start0 + 1,
    })


def timed_score(kb, table, **kwargs) -> tuple[dict, object]:
    stamps: list[tuple[str, float]] = []
    t0 = time.perf_counter()
    res = score(kb, table, progress=lambda s: stamps.append((s, time.perf_counter())), **kwargs)
    t1 = time.perf_counter()
    at = {name.split()[0]: t for name, t in stamps}
    total = t1 - t0
    search = at["scoring"] - at["searching"]
    return {
        "total_s": total,
        "before_search_s": at["searching"] - t0,
        "search_s": search,
        "scoring_after_search_s": t1 - at["scoring"],
        "beyond_search_s": total - search,
    }, res


def reference_run(kb, table: pd.DataFrame, got: pd.DataFrame) -> dict:
    """Plain-Python reference on ``table`` (same search), checked against ``got``.

    Timed in two parts: converting the search result and the entries' locations into the
    dicts the reference reads ("input"), and the reference loop itself ("loop").
    """
    peptides = sorted(set(table["subsequence"]))
    hits = kb.search(peptides)
    t0 = time.perf_counter()
    occurrences: dict[str, list[tuple[int, int]]] = {p: [] for p in peptides}
    for qi, e, s in zip(hits.column("query").to_pylist(), hits.column("entry_id").to_pylist(),
                        hits.column("start").to_pylist(), strict=True):
        occurrences[peptides[qi]].append((e, s))
    cur = kb.con.cursor()
    needed = sorted({e for occ in occurrences.values() for e, _ in occ})
    classes: dict[int, set[str]] = {e: set() for e in needed}
    for e, c in cur.execute(
        "SELECT e.entry_id, l.class FROM entries e JOIN locations l USING (accession) "
        "WHERE l.class IS NOT NULL AND e.entry_id IN (SELECT unnest(?))", [needed]
    ).fetchall():
        classes[e].add(c)
    entries = {
        i: (a, s, frozenset(classes[i]))
        for i, a, s in cur.execute(
            "SELECT entry_id, accession, sequence FROM entries "
            "WHERE entry_id IN (SELECT unnest(?))", [needed]).fetchall()
    }
    prot = dict(cur.execute(
        "SELECT accession, sequence FROM entries WHERE accession IN (SELECT unnest(?))",
        [sorted(set(table["protein"]))],
    ).fetchall())
    items = [(p, prot.get(p), loc, sub, int(t)) for p, loc, sub, t in zip(
        table["protein"], table["location"], table["subsequence"], table["start"], strict=True)]
    input_s = time.perf_counter() - t0
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        want = reference_hit_rates(items, occurrences, entries)
        times.append(time.perf_counter() - t0)
    cur.close()
    ref_rate = np.array([w["hit_rate"] for w in want])
    ref_n = np.array([w["n_entries"] for w in want])
    agree = bool(
        np.array_equal(ref_n, got["n_entries"].to_numpy())
        and np.allclose(ref_rate, got["hit_rate"].to_numpy(), rtol=1e-12, equal_nan=True)
    )
    loop_s = statistics.median(times)
    return {"rows": len(items), "occurrences": hits.num_rows, "input_s": input_s,
            "loop_median_s": loop_s, "median_s": input_s + loop_s, "agrees": agree}


def bench_kb(path: Path, n: int, repeats: int, reference_n: int, null: int, null_rows: int,
             seed: int) -> dict:
    kb = open_kb(path)
    info = {"kb": str(path.relative_to(REPO) if path.is_relative_to(REPO) else path),
            "entries": len(kb), "residues": int(kb.store.n_residues)}
    table = make_subsequences(kb, n, seed)
    write_table(table, GENERATED / f"hitrate_subsequences_{path.name}.parquet")
    peptides = list(dict.fromkeys(table["subsequence"]))
    info.update(subsequences=n, distinct_peptides=len(peptides))
    print(f"{info['kb']}: {len(kb):,} entries, {n:,} subsequences", flush=True)

    kb.search(peptides[:100])  # warm-up (numba compilation, memory maps)
    search_times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        hits = kb.search(peptides)
        search_times.append(time.perf_counter() - t0)
    info["occurrences"] = hits.num_rows
    info["search_only_median_s"] = statistics.median(search_times)
    print(f"  search alone: {info['search_only_median_s']:.3f} s, "
          f"{hits.num_rows:,} occurrences", flush=True)

    # cold: the first call on this KB object reads the entries' location classes (cached
    # per KB object afterwards); warm: the median of the next calls
    cold, res = timed_score(kb, table)
    info["score_cold"] = cold
    runs = []
    for _ in range(repeats):
        stages, res = timed_score(kb, table)
        runs.append(stages)
    info["score"] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    info["rows_scored"] = int((res.table["n_entries"] > 0).sum())
    info["mean_hit_rate"] = float(np.nanmean(res.table["hit_rate"]))
    print("  score() cold: " + ", ".join(f"{k} {v:.3f}" for k, v in cold.items()), flush=True)
    print("  score() warm: " + ", ".join(f"{k} {v:.3f}" for k, v in info["score"].items()),
          flush=True)

    sub = table.iloc[:reference_n].reset_index(drop=True)
    ref = reference_run(kb, sub, res.table.iloc[:reference_n].reset_index(drop=True))
    ref["scaled_to_n_s"] = ref["median_s"] * n / ref["rows"]
    info["reference"] = ref
    info["speedup_scoring_vs_reference"] = ref["scaled_to_n_s"] / info["score"]["beyond_search_s"]
    print(f"  reference on {ref['rows']:,} rows: {ref['median_s']:.3f} s "
          f"(input {ref['input_s']:.3f} s + loop {ref['loop_median_s']:.3f} s) "
          f"(scaled to {n:,}: {ref['scaled_to_n_s']:.2f} s), agrees: {ref['agrees']}",
          flush=True)

    if null > 0:
        nt = table.iloc[:null_rows]
        stages, res = timed_score(kb, nt, proteins=True, null=null, seed=seed)
        info["null_model"] = {"rows": len(nt), "replicates": null,
                              "random_windows": len(nt) * null, "peptides": res.n_peptides,
                              **stages}
        print(f"  null model ({len(nt):,} rows x {null}): {stages['total_s']:.2f} s "
              f"(search {stages['search_s']:.2f} s)", flush=True)
    kb.close()
    return info


def write_results(results: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "hitrate.json").write_text(json.dumps(results, indent=2) + "\n")
    m = results["machine"]
    lines = [
        "# Hit-rate scoring benchmark",
        "",
        f"Machine: {m['cpu']}, {m['cpus']} CPUs, {m['memory']}, Python {m['python']}, "
        f"NumPy {m['numpy']}, DuckDB {m['duckdb']}. Shared machine (load average at start "
        f"{m['load_average_at_start']}): timings are noisy medians of {results['repeats']} "
        "runs.",
        "",
        f"Command: `{results['command']}`",
        "",
        "| knowledge base | entries | subsequences | occurrences | search alone (s) | "
        "score() total, warm (s) | beyond search, warm (s) | beyond search, cold (s) | "
        "of which scoring after search (s) | reference (input + loop), scaled (s) | "
        "speed-up (warm) | agrees |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results["runs"]:
        s = r["score"]
        ref = r["reference"]
        lines.append(
            f"| {r['kb']} | {r['entries']:,} | {r['subsequences']:,} | {r['occurrences']:,} | "
            f"{r['search_only_median_s']:.3f} | {s['total_s']:.3f} | {s['beyond_search_s']:.3f} "
            f"| {r['score_cold']['beyond_search_s']:.3f} "
            f"| {s['scoring_after_search_s']:.3f} | {ref['scaled_to_n_s']:.2f} "
            f"({ref['rows']:,} rows: {ref['input_s']:.3f} + {ref['loop_median_s']:.3f}) | "
            f"{r['speedup_scoring_vs_reference']:.0f}x | {ref['agrees']} |"
        )
    for r in results["runs"]:
        if "null_model" in r:
            nm = r["null_model"]
            lines.append("")
            lines.append(
                f"Null model on {r['kb']}: {nm['rows']:,} rows x {nm['replicates']} replicates "
                f"= {nm['random_windows']:,} random windows ({nm['peptides']:,} distinct "
                f"peptides searched): {nm['total_s']:.2f} s in all, search {nm['search_s']:.2f} s,"
                f" beyond search {nm['beyond_search_s']:.2f} s."
            )
    lines += [
        "",
        "\"beyond search\" = score() total minus its search stage: input checks, DuckDB "
        "look-ups (query proteins, their isoforms and identical sequences), the entry location "
        "bitmasks and the scoring kernel. \"cold\" = the first call on a freshly opened KB "
        "object, which also reads every entry's location classes (one DuckDB aggregate, then "
        "cached on that object); \"warm\" = the median of the following calls. "
        "The reference is the plain-Python loop of "
        "`psl/hitrate/reference.py` over the same search result; its time includes building "
        "its input dicts (occurrences per peptide; entry accessions, sequences and classes from "
        "DuckDB) and is split as input + loop; it runs on --reference-n rows (default: all of "
        "them; scaled linearly to --n otherwise). Speed-up = reference / beyond search (warm).",
    ]
    (RESULTS / "hitrate.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kb", action="append", type=Path, default=[],
                    help="extra knowledge-base directory (repeatable); benchmarks/generated/ "
                    "dirs holding kb.duckdb are picked up too")
    ap.add_argument("--n", type=int, default=100_000, help="subsequences (default 100000)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--reference-n", type=int, default=None,
                    help="rows scored by the plain-Python reference, scaled to --n "
                    "(default: all --n rows)")
    ap.add_argument("--null", type=int, default=100, help="null replicates (0: skip)")
    ap.add_argument("--null-rows", type=int, default=1_000, help="rows for the null timing")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-deeploc", action="store_true", help="skip the DeepLoc 2.0 KB")
    args = ap.parse_args(argv)

    kbs = [] if args.no_deeploc else [deeploc_kb()]
    for p in args.kb:
        if p.resolve() not in [k.resolve() for k in kbs]:
            kbs.append(p)
    if GENERATED.is_dir():
        for p in sorted(GENERATED.iterdir()):
            if p.is_dir() and is_complete(p) and p.resolve() not in [k.resolve() for k in kbs]:
                kbs.append(p)
    results = {"machine": machine(), "repeats": args.repeats,
               "command": " ".join(["python benchmarks/bench_hitrate.py", *(argv or sys.argv[1:])]),
               "runs": []}
    for p in kbs:
        reference_n = args.n if args.reference_n is None else min(args.reference_n, args.n)
        results["runs"].append(bench_kb(p, args.n, args.repeats, reference_n, args.null,
                                        args.null_rows, args.seed))
        write_results(results)
    print(f"wrote {RESULTS / 'hitrate.json'} and {RESULTS / 'hitrate.md'}")


if __name__ == "__main__":
    main()
