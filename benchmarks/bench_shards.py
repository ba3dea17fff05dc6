"""Benchmark sharded knowledge bases: 1 shard vs N shards in-process vs N shards on a Dask
LocalCluster, on the synthetic Swiss-Prot of ``generate_swissprot.py``.

Same run, same data, same peptides (``bench_search.sample_peptides``: 90 % substrings of
5-30 aa of stored sequences, 10 % random):

* build: ``kb.build`` (the unsharded baseline), ``kb.shards.build_sharded`` with N shards in
  this process, and on a LocalCluster of W worker processes (one thread each);
* search: ``search_with_summary`` of each batch size on the unsharded KB (the baseline), on
  the sharded KB in-process and on the cluster (``kb.open(DIR, client=...)``); median of
  ``--repeats`` runs after one warm-up; every result table is checked equal to the baseline's;
* the cluster workers' resident memory after the searches, index bytes per residue.

Output: ``benchmarks/results/shards.json`` and ``.md``. Wall-clock on a shared machine.

Usage::

    nice -n 10 python benchmarks/bench_shards.py --entries 57000 --sizes 100000 1000000
    nice -n 10 python benchmarks/bench_shards.py --entries 57000 --reuse   # searches only
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_build import GENERATED, ensure_flatfile  # noqa: E402
from bench_search import machine, sample_peptides, timed  # noqa: E402

import kb  # noqa: E402
from kb.shards import build_sharded  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 1e6


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=570_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--chunk-size", type=int, default=50_000,
                    help="distinct peptides per cluster task")
    ap.add_argument("--out", type=Path, default=RESULTS / "shards.json")
    ap.add_argument("--reuse", action="store_true",
                    help="reuse the knowledge bases of the previous run (and its build times)")
    args = ap.parse_args(argv)

    from distributed import Client, LocalCluster

    flat = ensure_flatfile(args.entries, args.seed)
    work = GENERATED / f"shards_{args.entries}_seed{args.seed}"
    previous = json.loads(args.out.read_text()) if args.reuse and args.out.is_file() else {}
    reuse = bool(previous) and previous.get("entries") == args.entries and all(
        (work / d / m).is_file() for d, m in
        (("single", "_SUCCESS"), ("sharded", "shards.json"), ("sharded_cluster", "shards.json")))
    if not reuse:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
    results: dict = {"machine": machine(), "entries": args.entries, "shards": args.shards,
                     "workers": args.workers, "input": flat.name,
                     "input_bytes": flat.stat().st_size, "build": {}, "search": []}
    if reuse:
        for key in ("build", "scan_s", "decompressed_bytes"):
            results[key] = previous[key]
        results["builds_from_run_at_load"] = previous["machine"]["load_average_1_5_15"]

    def build_timed(name, func):
        t0 = time.perf_counter()
        func()
        results["build"][name] = round(time.perf_counter() - t0, 2)
        print(f"build {name}: {results['build'][name]} s", flush=True)

    if not reuse:
        build_timed("single", lambda: kb.build([flat], work / "single", progress=False))
        build_timed(f"{args.shards}_shards_in_process",
                    lambda: build_sharded([flat], work / "sharded", shards=args.shards,
                                          progress=False))
        from kb.shardplan import scan_input

        t0 = time.perf_counter()
        scanned = scan_input(flat, "flatfile", work, "scan.plain")
        results["scan_s"] = round(time.perf_counter() - t0, 2)
        results["decompressed_bytes"] = int(scanned.bounds[-1])
        (work / "scan.plain").unlink()
        print(f"scan (decompress + boundaries): {results['scan_s']} s", flush=True)
    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                           dashboard_address=":0")
    client = Client(cluster)
    try:
        if not reuse:
            build_timed(f"{args.shards}_shards_cluster",
                        lambda: build_sharded([flat], work / "sharded_cluster",
                                              shards=args.shards, client=client, progress=False))
        single = kb.open(work / "single")
        local = kb.open(work / "sharded")
        remote = kb.open(work / "sharded_cluster", client=client, verify=False)
        remote.chunk_size = args.chunk_size
        facts = kb.store.info(work / "single")
        results["residues"] = int(single.store.n_residues)
        results["index_bytes_per_residue"] = round(facts["index_bytes"] / results["residues"], 3)
        results["kb_bytes_per_residue"] = round(facts["total_bytes"] / results["residues"], 3)
        for n in args.sizes:
            peptides = sample_peptides(single.store, n, args.seed)
            row = {"peptides": n}
            base = None
            for name, kb_ in (("single", single), ("in_process", local), ("cluster", remote)):
                kb_.search_with_summary(peptides[:1000])  # warm-up (numba, plugin opens)
                median, times, out = timed(lambda k=kb_, p=peptides: k.search_with_summary(p),
                                           args.repeats)
                row[name] = round(median, 3)
                row[f"{name}_runs"] = [round(t, 3) for t in times]
                if base is None:
                    base = out.table
                    row["rows"] = base.num_rows
                else:
                    row[f"{name}_same_rows"] = bool(out.table.equals(base))
                print(f"{n:>9} peptides {name:>10}: {median:.3f} s", flush=True)
            row["in_process_overhead"] = round(row["in_process"] / row["single"] - 1, 3)
            row["cluster_overhead"] = round(row["cluster"] / row["single"] - 1, 3)
            row["cluster_peptides_per_s"] = round(n / row["cluster"])
            results["search"].append(row)
        results["worker_rss_mb"] = {a: round(v, 1) for a, v in client.run(_rss_mb).items()}
        results["client_rss_mb"] = round(_rss_mb(), 1)
        for k_ in (single, local, remote):
            k_.close()
    finally:
        client.close()
        cluster.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(markdown(results))
    print(markdown(results))
    return 0


def markdown(r: dict) -> str:
    m = r["machine"]
    lines = [
        "# Sharded knowledge base: 1 shard vs shards in-process vs shards on a LocalCluster",
        "",
        f"`python benchmarks/bench_shards.py --entries {r['entries']}` — {r['entries']:,} "
        f"synthetic Swiss-Prot entries ({r.get('residues', 0):,} residues), {r['shards']} "
        f"shards, LocalCluster of {r['workers']} worker processes x 1 thread. Machine: "
        f"{m['cpus']} CPUs, {m['memory_gb']} GB, load average {m['load_average_1_5_15']} at "
        "the start (shared with other jobs).",
        "",
        *([f"Builds measured in an earlier run of the same command (load average "
           f"{r['builds_from_run_at_load']}); searches in this one.", ""]
          if r.get("builds_from_run_at_load") else []),
        "| build | seconds |",
        "|---|---:|",
        *[f"| {k} | {v} |" for k, v in r["build"].items()],
        "",
        "| peptides | rows | 1 shard (s) | shards in-process (s) | shards on cluster (s) | "
        "cluster overhead | cluster peptides/s | same rows |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in r["search"]:
        same = s.get("in_process_same_rows") and s.get("cluster_same_rows")
        lines.append(
            f"| {s['peptides']:,} | {s['rows']:,} | {s['single']} | {s['in_process']} | "
            f"{s['cluster']} | {s['cluster_overhead']:+.0%} | {s['cluster_peptides_per_s']:,} | "
            f"{'yes' if same else 'NO'} |"
        )
    lines += [
        "",
        f"Boundary scan of the input (one sequential pass: gzip decompression, `//` lines, SQ "
        f"lengths, staging copy): {r.get('scan_s')} s for {r.get('decompressed_bytes', 0):,} "
        "decompressed bytes (included in both sharded build times).",
        "",
        f"Index bytes per residue: {r.get('index_bytes_per_residue')}; whole KB bytes per "
        f"residue: {r.get('kb_bytes_per_residue')}. Worker RSS after the searches (MB): "
        f"{', '.join(str(v) for v in r.get('worker_rss_mb', {}).values())}; client RSS "
        f"{r.get('client_rss_mb')} MB.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
