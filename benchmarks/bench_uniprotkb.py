"""UniProtKB-shaped run, scaled down: a sharded build and a 1M-peptide search on a LocalCluster.

1. Input: ``generate_trembl.py`` writes N synthetic TrEMBL FASTA records (default 5 M, about
   1.8 G residues: TrEMBL headers, length distribution and approximate composition) into the
   git-ignored ``benchmarks/generated/`` (``--reuse``: an existing file of the same N and
   seed is reused; the generator is deterministic).
2. Build: ``kb.shards.build_sharded(..., shards=S, client=client)`` on a LocalCluster of W
   worker processes (one thread each; default 8 shards of about 225 M residues on 2
   workers). Recorded: wall time (the boundary scan included; the scan alone is timed again
   after the build), per-shard build seconds, entries, residues and bytes, the index (k-mer
   files) bytes per residue, the whole knowledge base's bytes per residue, and the **peak
   RSS of every worker process** (and of this client) during the build, sampled every 0.5 s
   with psutil in a thread.
3. Search: P peptides (default 1,000,000; ``bench_search.sample_peptides``: 90 % substrings
   of 5-30 aa of stored sequences, 10 % random) with ``kb.open(DIR, client=client)``: median
   of ``--repeats`` runs after a 1,000-peptide warm-up (which opens the shards on the
   workers), peptides per second, peak worker RSS during the searches, worker and client RSS
   after.
4. Check: the first ``--compare`` peptides (default 100,000) searched on the cluster and
   in-process (``kb.open(DIR)``, shard by shard) must give equal tables.

Prints the machine, sizes and medians; writes ``benchmarks/results/uniprotkb.json`` and
``.md`` (``--out`` elsewhere for trial runs). Disk: the input is about 0.47 GB and the
knowledge base about 2.2 GB per million entries (5.6 bytes per residue + 25 MB per shard);
the run refuses to start without 3.5 GB per million entries free. Memory: Dask's memory
monitor is off by default (``--worker-memory-limit``, see ``--help``). The knowledge base is
kept for ``--reuse`` (searches only, build numbers from the previous JSON of ``--out``);
``--clean`` removes it and the input at the end.

Usage::

    nice -n 10 python benchmarks/bench_uniprotkb.py          # full size: ~15-25 min, ~13 GB
    nice -n 10 python benchmarks/bench_uniprotkb.py --entries 100000 --peptides 100000 \\
        --out /tmp/uniprotkb-bench/small.json                             # a trial run
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from _machine import cpu_name, cpu_seconds  # noqa: E402
from bench_search import machine, sample_peptides, timed  # noqa: E402
from generate_trembl import generate  # noqa: E402

import kb  # noqa: E402
from kb.atomic import atomic_path  # noqa: E402
from kb.shards import MANIFEST, build_sharded  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
GENERATED = REPO / "benchmarks" / "generated"
#: Rough disk use per entry (mean 360 residues): the FASTA input, the knowledge base.
INPUT_BYTES_PER_ENTRY = 470
KB_BYTES_PER_ENTRY = 3000  # 2.2 GB per million measured; margin for the build


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 1e6


class PeakRSS:
    """Peak resident memory (MB) of some processes, sampled in a thread every ``interval`` s."""

    def __init__(self, pids: dict[str, int], interval: float = 0.5):
        import psutil

        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.peak = dict.fromkeys(pids, 0.0)
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            for name, proc in self.procs.items():
                try:
                    self.peak[name] = max(self.peak[name], proc.memory_info().rss / 1e6)
                except Exception:  # noqa: BLE001 - a worker restarted: keep what was seen
                    pass
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def result(self) -> dict[str, float]:
        return {name: round(v, 1) for name, v in self.peak.items()}


def _worker_pids(client) -> dict[str, int]:
    return {f"worker {i}": pid for i, (_, pid) in
            enumerate(sorted(client.run(os.getpid).items()))}


def _shard_sizes(manifest: dict) -> list[dict]:
    rows = []
    for s in manifest["shards"]:
        files = s["files"]
        rows.append({
            "name": s["name"], "entries": s["entries"], "residues": s["residues"],
            "bytes": sum(f["bytes"] for f in files.values()),
            "index_bytes": sum(f["bytes"] for n, f in files.items() if n.startswith("kmer_")),
            "build_seconds": s.get("build_seconds"),
        })
    return rows


def _check_disk(work: Path, need: int) -> None:
    free = shutil.disk_usage(work).free
    if free < need:
        raise SystemExit(f"error: the run needs about {need / 1e9:.1f} GB in {work}, only "
                         f"{free / 1e9:.1f} GB free (use --work elsewhere or fewer --entries)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=5_000_000, help="synthetic TrEMBL records")
    ap.add_argument("--seed", type=int, default=0, help="seed of the input and the peptides")
    ap.add_argument("--shards", type=int, default=8, help="number of shards")
    ap.add_argument("--workers", type=int, default=2,
                    help="LocalCluster worker processes (1 thread each)")
    ap.add_argument("--peptides", type=int, default=1_000_000, help="peptides searched")
    ap.add_argument("--compare", type=int, default=100_000,
                    help="peptides also searched in-process to check the rows")
    ap.add_argument("--repeats", type=int, default=2, help="timed searches (median)")
    ap.add_argument("--chunk-size", type=int, default=50_000,
                    help="distinct peptides per cluster task")
    ap.add_argument("--worker-memory-limit", default="0",
                    help="Dask memory_limit of each worker: 0 (default) turns Dask's memory "
                         "monitor off, because the memory-mapped shard pages a worker touched "
                         "count in its RSS (page cache the OS can reclaim) and would make Dask "
                         "pause or kill a worker that merely has its shards cached; 'auto' is "
                         "Dask's default (total memory / workers), as 'kb search --scheduler "
                         "local' uses")
    ap.add_argument("--work", type=Path, default=GENERATED,
                    help="directory of the generated input and knowledge base")
    ap.add_argument("--out", type=Path, default=RESULTS / "uniprotkb.json",
                    help="results JSON (a .md is written next to it)")
    ap.add_argument("--reuse", action="store_true",
                    help="reuse the generated input, and the knowledge base with the build "
                         "numbers of the previous --out, when they match")
    ap.add_argument("--clean", action="store_true",
                    help="remove the generated input and knowledge base at the end")
    args = ap.parse_args(argv)

    from distributed import Client, LocalCluster

    args.work.mkdir(parents=True, exist_ok=True)
    fasta = args.work / f"trembl_{args.entries}_seed{args.seed}.fasta"
    db = args.work / f"uniprotkb_{args.entries}_seed{args.seed}_{args.shards}shards"
    previous = json.loads(args.out.read_text()) if args.reuse and args.out.is_file() else {}
    reuse_kb = (args.reuse and (db / MANIFEST).is_file()
                and previous.get("entries") == args.entries
                and previous.get("shards") == args.shards and "build" in previous)
    reuse_input = args.reuse and fasta.is_file()
    need = ((0 if reuse_input else INPUT_BYTES_PER_ENTRY)
            + (0 if reuse_kb else KB_BYTES_PER_ENTRY)) * args.entries
    _check_disk(args.work, need)

    results: dict = {"machine": {**machine(), "cpu": cpu_name()}, "entries": args.entries,
                     "seed": args.seed, "shards": args.shards, "workers": args.workers,
                     "peptides": args.peptides, "repeats": args.repeats,
                     "chunk_size": args.chunk_size}
    print(f"machine: {results['machine']}", flush=True)
    if reuse_input:
        results["input"] = {"generate_s": None}
        print(f"reusing {fasta}", flush=True)
    else:
        t0 = time.perf_counter()
        generate(fasta, args.entries, args.seed, progress=True)
        results["input"] = {"generate_s": round(time.perf_counter() - t0, 2)}
        print(f"generated {fasta} in {results['input']['generate_s']} s", flush=True)
    results["input"].update(file=fasta.name, bytes=fasta.stat().st_size)

    limit = int(args.worker_memory_limit) if args.worker_memory_limit.isdigit() else \
        args.worker_memory_limit
    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                           dashboard_address=":0", memory_limit=limit)
    client = Client(cluster)
    try:
        pids = _worker_pids(client)
        limits = {w["memory_limit"] for w in client.scheduler_info()["workers"].values()}
        results["worker_memory_limit_gb"] = round(max(limits) / 1e9, 1) if max(limits) else None
        if reuse_kb:
            results["build"] = previous["build"]
            results["builds_from_run_at_load"] = previous["machine"]["load_average_1_5_15"]
            print(f"reusing {db} (build numbers of {args.out})", flush=True)
        else:
            results["build"] = build(fasta, db, args, client, pids)
        manifest = json.loads((db / MANIFEST).read_text())
        results["residues"] = int(manifest["residues"])
        results["input"]["residues"] = int(manifest["residues"])
        results["sizes"] = sizes(manifest)
        print(f"sizes: {json.dumps(results['sizes'])}", flush=True)
        results["search"] = search(db, args, client, pids)
    finally:
        client.close()
        cluster.close()
    if args.clean:
        shutil.rmtree(db)
        fasta.unlink()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out) as tmp:
        Path(tmp).write_text(json.dumps(results, indent=1) + "\n")
    text = markdown(results)
    with atomic_path(args.out.with_suffix(".md")) as tmp:
        Path(tmp).write_text(text)
    print(text)
    return 0


def build(fasta: Path, db: Path, args, client, pids: dict[str, int]) -> dict:
    """The sharded build on the cluster, its peak RSS, and the boundary scan alone."""
    from kb.shardplan import scan_input

    cpu0 = cpu_seconds()
    with PeakRSS({**pids, "client": os.getpid()}) as rss:
        t0 = time.perf_counter()
        summary = build_sharded([fasta], db, shards=args.shards, client=client, force=True,
                                progress=True)
        wall = time.perf_counter() - t0
    out = {"wall_s": round(wall, 2), "client_cpu_s": round(cpu_seconds() - cpu0, 2),
           "peak_rss_mb": rss.result(), "entries": summary.entries,
           "residues": summary.residues, "skipped": summary.skipped}
    print(f"build: {out}", flush=True)
    t0 = time.perf_counter()
    scan_input(fasta, "fasta", args.work, "unused.plain")  # a plain input is read in place
    out["scan_s"] = round(time.perf_counter() - t0, 2)
    print(f"boundary scan alone: {out['scan_s']} s", flush=True)
    return out


def sizes(manifest: dict) -> dict:
    shards = _shard_sizes(manifest)
    residues = int(manifest["residues"])
    total = sum(s["bytes"] for s in shards)
    index = sum(s["index_bytes"] for s in shards)
    return {"total_bytes": total, "index_bytes": index,
            "index_bytes_per_residue": round(index / residues, 3),
            "kb_bytes_per_residue": round(total / residues, 3), "per_shard": shards}


def search(db: Path, args, client, pids: dict[str, int]) -> dict:
    """The cluster search (median of repeats), RSS, and the in-process check on a subset."""
    out: dict = {}
    t0 = time.perf_counter()
    local = kb.open(db)  # checks every shard file's size and sha256
    out["open_verify_s"] = round(time.perf_counter() - t0, 2)
    t0 = time.perf_counter()
    peptides = sample_peptides(local.store, args.peptides, args.seed)
    local._store = None  # the concatenated residues (GBs): only needed for sampling here
    out["sample_s"] = round(time.perf_counter() - t0, 2)
    print(f"opened (sha256 verified) in {out['open_verify_s']} s; sampled "
          f"{len(peptides):,} peptides in {out['sample_s']} s", flush=True)
    remote = kb.open(db, client=client, verify=False)
    remote.chunk_size = args.chunk_size
    try:
        t0 = time.perf_counter()
        remote.search_with_summary(peptides[:1000])  # warm-up: workers open the shards
        out["warmup_s"] = round(time.perf_counter() - t0, 2)
        with PeakRSS({**pids, "client": os.getpid()}) as rss:
            median, times, result = timed(lambda: remote.search_with_summary(peptides),
                                          args.repeats)
        out.update(median_s=round(median, 3), runs=[round(t, 3) for t in times],
                   peptides_per_s=round(len(peptides) / median), rows=result.table.num_rows,
                   no_hit=int(result.no_hit.shape[0]), peak_rss_mb=rss.result())
        del result
        print(f"search {len(peptides):,} peptides on the cluster: {out['median_s']} s "
              f"({out['peptides_per_s']:,}/s), {out['rows']:,} rows", flush=True)
        subset = peptides[:args.compare]
        t0 = time.perf_counter()
        on_cluster = remote.search_with_summary(subset)
        cluster_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        in_process = local.search_with_summary(subset)
        in_process_s = time.perf_counter() - t0
        out["compare"] = {"peptides": len(subset), "rows": on_cluster.table.num_rows,
                          "same_rows": bool(on_cluster.table.equals(in_process.table)),
                          "cluster_s": round(cluster_s, 3),
                          "in_process_s": round(in_process_s, 3)}
        print(f"check {len(subset):,} peptides: {out['compare']}", flush=True)
        del on_cluster, in_process
        rss_after = client.run(_rss_mb)
        out["worker_rss_after_mb"] = {name: round(rss_after[a], 1) for name, a in zip(
            pids, sorted(rss_after), strict=True)}
        out["client_rss_mb"] = round(_rss_mb(), 1)
    finally:
        remote.close()
        local.close()
    return out


def markdown(r: dict) -> str:
    m, b, s, z = r["machine"], r["build"], r["search"], r["sizes"]
    gb = 1e9
    peak_b = ", ".join(f"{k} {v:,.0f}" for k, v in b["peak_rss_mb"].items())
    peak_s = ", ".join(f"{k} {v:,.0f}" for k, v in s["peak_rss_mb"].items())
    after = ", ".join(f"{k} {v:,.0f}" for k, v in s["worker_rss_after_mb"].items())
    c = s["compare"]
    lines = [
        "# UniProtKB-shaped run, scaled down: sharded build and search on a LocalCluster",
        "",
        f"`python benchmarks/bench_uniprotkb.py --entries {r['entries']} --shards {r['shards']} "
        f"--workers {r['workers']} --peptides {r['peptides']}` — {r['entries']:,} synthetic "
        f"TrEMBL FASTA records (`benchmarks/generate_trembl.py`, seed {r['seed']}): "
        f"{r['residues']:,} residues, {r['input']['bytes'] / gb:.2f} GB of plain FASTA"
        + (f", generated in {r['input']['generate_s']} s" if r["input"]["generate_s"] else "")
        + f". LocalCluster of {r['workers']} worker processes x 1 thread (Dask memory limit: "
        + (f"{r['worker_memory_limit_gb']} GB each" if r["worker_memory_limit_gb"] else "none")
        + f"). Machine: {m['cpu']}, {m['cpus']} CPUs, "
        f"{m['memory_gb']} GB, load average {m['load_average_1_5_15']} at the start.",
        "",
        *([f"Build measured in an earlier run of the same command (load average "
           f"{r['builds_from_run_at_load']}); searches in this one.", ""]
          if r.get("builds_from_run_at_load") else []),
        "| build | |",
        "|---|---:|",
        f"| wall time, {r['shards']} shards on the cluster (scan included) | {b['wall_s']} s |",
        f"| of which the boundary scan (timed alone) | {b['scan_s']} s |",
        f"| knowledge base on disk | {z['total_bytes'] / gb:.2f} GB "
        f"({z['kb_bytes_per_residue']} bytes/residue) |",
        f"| k-mer index | {z['index_bytes'] / gb:.2f} GB "
        f"(**{z['index_bytes_per_residue']} bytes/residue**) |",
        f"| peak RSS during the build (MB) | {peak_b} |",
        "",
        "| shard | entries | residues | GB | index GB | build s |",
        "|---|---:|---:|---:|---:|---:|",
        *[f"| {p['name']} | {p['entries']:,} | {p['residues']:,} | {p['bytes'] / gb:.2f} | "
          f"{p['index_bytes'] / gb:.2f} | {p['build_seconds']} |" for p in z["per_shard"]],
        "",
        "| search | |",
        "|---|---:|",
        f"| {r['peptides']:,} peptides on the cluster, median of {r['repeats']} | "
        f"**{s['median_s']} s** (runs {s['runs']}) |",
        f"| peptides per second | **{s['peptides_per_s']:,}** |",
        f"| rows; peptides without a hit | {s['rows']:,}; {s['no_hit']:,} |",
        f"| peak RSS during the searches (MB) | {peak_s} |",
        f"| worker RSS after (MB); client RSS | {after}; {s['client_rss_mb']:,.0f} |",
        f"| open with sha256 check of every shard file (in-process) | {s['open_verify_s']} s |",
        f"| {c['peptides']:,} peptides: cluster vs in-process (shard by shard) | "
        f"{c['cluster_s']} s vs {c['in_process_s']} s, {c['rows']:,} rows, same rows: "
        f"{'yes' if c['same_rows'] else 'NO'} |",
        "",
        "RSS counts the memory-mapped shard pages a process has touched (shared with the page "
        "cache), so it overstates the private memory of a worker.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
