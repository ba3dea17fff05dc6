"""Throughput of the UniProtKB flat-file parser (kb.flatfile) on a synthetic Swiss-Prot file.

Measures, in one run on the same file: gzip decompression alone (the floor), ``parse``
(single process) and, as the baseline, Biopython's ``Bio.SwissProt.parse`` on a subset.
Reports entries/s and MB/s of decompressed text (medians of ``--repeats`` runs) and writes
``benchmarks/results/parse.json`` and ``parse.md`` (``--results-name`` changes the stem).
The machine is shared: timings are noisy.

Usage::

    python benchmarks/bench_parse.py --entries 50000 --repeats 3
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from Bio import SwissProt  # noqa: E402
from generate_swissprot import generate  # noqa: E402

from kb.flatfile import parse  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
GENERATED = REPO / "benchmarks" / "generated"


def _time(fn, repeats: int) -> tuple[float, float, int]:
    """Median wall-clock and CPU seconds (CPU of this process and its threads only)."""
    times, cpu, n = [], [], 0
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        n = fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(times), statistics.median(cpu), n


def _gunzip(path: Path) -> int:
    size = 0
    with gzip.open(path, "rb") as f:
        while block := f.read(1 << 22):
            size += len(block)
    return size


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entries", type=int, default=50_000, help="entries in the generated file")
    ap.add_argument("--biopython-entries", type=int, default=10_000, help="baseline subset")
    ap.add_argument("--repeats", type=int, default=3, help="runs per measurement (median)")
    ap.add_argument("--seed", type=int, default=0, help="generator seed")
    ap.add_argument(
        "--results-name", default="parse", help="results file stem under benchmarks/results/"
    )
    args = ap.parse_args(argv)

    GENERATED.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = GENERATED / f"sp{args.entries}_seed{args.seed}.dat.gz"
    sub = GENERATED / f"sp{args.biopython_entries}_seed{args.seed}.dat.gz"
    for p, n in ((path, args.entries), (sub, args.biopython_entries)):
        if not p.exists():
            print(f"generating {n:,} entries -> {p}", file=sys.stderr)
            generate(p, n, args.seed)
    mb = _gunzip(path) / 1e6
    mb_sub = _gunzip(sub) / 1e6

    def count(it) -> int:
        return sum(1 for _ in it)

    def bio() -> int:
        with gzip.open(sub, "rt") as h:
            return count(SwissProt.parse(h))

    runs = {
        "gunzip only": (lambda: _gunzip(path) and args.entries, path, mb),
        "kb.flatfile.parse": (lambda: count(parse(path)), path, mb),
        "kb.flatfile.parse (subset)": (lambda: count(parse(sub)), sub, mb_sub),
        "Bio.SwissProt.parse (subset, baseline)": (bio, sub, mb_sub),
    }
    rows = []
    for name, (fn, p, size) in runs.items():
        sec, cpu, n = _time(fn, args.repeats)
        rows.append(
            {
                "method": name,
                "file": p.name,
                "entries": n,
                "mb_uncompressed": round(size, 1),
                "median_s": round(sec, 3),
                "median_cpu_s": round(cpu, 3),
                "entries_per_s": round(n / sec),
                "mb_per_s": round(size / sec, 1),
                "us_cpu_per_entry": round(cpu / n * 1e6, 1),
            }
        )
        print(
            f"{name:45s} {n:>8,} entries {sec:8.2f} s {n / sec:>9,.0f}/s {size / sec:7.1f} MB/s"
            f"  cpu {cpu:7.2f} s ({cpu / n * 1e6:.1f} us/entry)"
        )
    ours = next(r for r in rows if r["method"] == "kb.flatfile.parse (subset)")
    base = next(r for r in rows if r["method"].startswith("Bio."))
    speedup = round(base["median_s"] / ours["median_s"], 1)
    speedup_cpu = round(base["median_cpu_s"] / ours["median_cpu_s"], 1)
    print(f"speed-up over Biopython (same subset): {speedup}x wall, {speedup_cpu}x CPU")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    machine = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "note": "shared machine, other jobs running: timings are noisy",
        "load_average_1min_at_end": load,
    }
    result = {
        "machine": machine,
        "repeats": args.repeats,
        "rows": rows,
        "speedup_vs_biopython": speedup,
        "speedup_vs_biopython_cpu": speedup_cpu,
    }
    _atomic_write(RESULTS / f"{args.results_name}.json", json.dumps(result, indent=2) + "\n")
    md = [
        "# Flat-file parser throughput",
        "",
        f"Machine: {machine['platform']}, {machine['cpus']} CPUs, Python {machine['python']} "
        f"({machine['note']}; 1-min load average {load}). Medians of {args.repeats} runs. "
        "MB = decompressed text. CPU = this process and its threads.",
        "",
        "| method | file | entries | MB | median s | entries/s | MB/s | CPU s | CPU us/entry |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        md.append(
            f"| {r['method']} | {r['file']} | {r['entries']:,} | {r['mb_uncompressed']} | "
            f"{r['median_s']} | {r['entries_per_s']:,} | {r['mb_per_s']} | {r['median_cpu_s']} | "
            f"{r['us_cpu_per_entry']} |"
        )
    md += [
        "",
        f"Speed-up over Biopython on the same subset: **{speedup}x** wall clock, "
        f"**{speedup_cpu}x** CPU time.",
        "",
    ]
    _atomic_write(RESULTS / f"{args.results_name}.md", "\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
