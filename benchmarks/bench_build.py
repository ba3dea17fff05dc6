"""Benchmark ``kb build``: wall time and peak memory at Swiss-Prot scale, and on DeepLoc 2.0.

Measures, in one run on this machine:

1. ``kb build`` of a synthetic Swiss-Prot flat file (``benchmarks/generate_swissprot.py``,
   default 570,000 entries, about 205 M residues; generated once into
   ``benchmarks/generated/`` and reused), run as a subprocess: wall time, peak RSS of the
   largest process (``/usr/bin/time`` ``%M``) and peak RSS summed over the
   process tree (sampled from ``/proc`` every 0.2 s: the parser workers count too).
2. ``kb build`` of the shipped DeepLoc 2.0 CSV (28,303 entries): median of ``--repeats``.
3. Baseline: Biopython's ``Bio.SwissProt.parse`` on the first ``--baseline-entries`` entries of
   the same flat file (parsing only, no database), extrapolated linearly to the full file; and
   ``kb.flatfile.parse`` on the same subset for the parser ratio.

With ``--compare-rev REV`` the full build of an earlier commit (a temporary ``git worktree``)
runs alternately with this one, so the speed-up is measured on the machine as it is during the
run (this shared machine's speed drifts by 10-35 % between sessions).

Targets (from the issues): full build <= 60 s and <= 6 GB RSS on 2 cores; issue 12: <= 40 s
and <= 2 GB.
Results: ``benchmarks/results/build.json`` and ``build.md``. The machine may be shared with
other jobs: timings are noisy, and the report says so.

Usage::

    python benchmarks/bench_build.py                       # full scale (570k entries)
    python benchmarks/bench_build.py --entries 50000        # smaller, quicker
    python benchmarks/bench_build.py --compare-rev 96a2c78  # and the build of that commit
"""

from __future__ import annotations

import argparse
import gc
import gzip
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _machine import cpu_name  # benchmarks/ is on sys.path when run as a script

REPO = Path(__file__).resolve().parents[1]
GENERATED = REPO / "benchmarks" / "generated"
RESULTS = REPO / "benchmarks" / "results"
DEEPLOC2 = REPO / "data" / "deeploc2" / "deeploc2_swissprot.csv.gz"
TARGET_SECONDS = 60.0
TARGET_RSS_GB = 6.0
ISSUE12_SECONDS = 40.0
ISSUE12_RSS_GB = 2.0


def machine() -> dict:
    """CPU, cores, memory and versions of this machine."""
    cpu = cpu_name()
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    import duckdb
    import numba

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": mem_gb,
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "numba": numba.__version__,
        "platform": platform.platform(),
    }


def _tree_pids(root: int) -> list[int]:
    """``root`` and its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(d))
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(children.get(pid, []))
    return pids


def _tree_rss_bytes(pids: list[int]) -> int:
    """Sum of VmRSS over ``pids`` (``statm``: cheap). A page shared by several processes (the
    chunk slot files, libraries) counts once per process."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as fh:
                total += int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            continue
    return total


def _tree_pss_bytes(pids: list[int]) -> int:
    """Sum of PSS over ``pids`` (``smaps_rollup``): shared pages divided among the processes,
    so the sum is the memory the tree holds. Reading it walks the page tables (milliseconds
    for a GB-sized process: ~30 ms of CPU), so it is sampled every 2 s, RSS every 0.2 s."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except (OSError, ValueError, IndexError):
            continue
    return total


def run_measured(cmd: list[str]) -> dict:
    """Run ``cmd`` under ``/usr/bin/time``: wall time, exit code, max RSS of the largest
    process (``%M``: the child and the children it waited for) and of the process tree."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(["/usr/bin/time", "-f", "MAXRSS_KB=%M CPU=%U+%S", *cmd],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = peak_pss = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak, peak_pss
        i = 0
        while not done.is_set():
            pids = _tree_pids(proc.pid)
            peak = max(peak, _tree_rss_bytes(pids))
            if i % 10 == 0:  # every 2 s
                peak_pss = max(peak_pss, _tree_pss_bytes(pids))
            i += 1
            done.wait(0.2)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    done.set()
    th.join()
    err_lines = err.strip().splitlines()
    max_kb, cpu = 0, 0.0
    if err_lines and err_lines[-1].startswith("MAXRSS_KB="):
        rss_part, cpu_part = err_lines.pop().split()
        max_kb = int(rss_part[len("MAXRSS_KB="):])
        cpu = sum(float(x) for x in cpu_part[len("CPU="):].split("+"))
    return {
        "cmd": " ".join(cmd),
        "returncode": proc.returncode,
        "seconds": round(wall, 2),
        # user+sys CPU of the command and the children it waited for (not the processes of a
        # fork server: kb build's parser processes are not in it).
        "cpu_seconds": round(cpu, 1),
        "max_rss_largest_process_gb": round(max_kb / 1024**2, 3),
        "peak_rss_tree_sampled_gb": round(peak / 1024**3, 3),
        "peak_pss_tree_sampled_gb": round(peak_pss / 1024**3, 3),
        "stdout_tail": out.strip().splitlines()[-1:] if out.strip() else [],
        "stderr_tail": err_lines[-3:],
    }


def ensure_flatfile(entries: int, seed: int) -> Path:
    """The generated flat file with ``entries`` entries (generated once, then reused)."""
    GENERATED.mkdir(parents=True, exist_ok=True)
    path = GENERATED / f"swissprot_synth_{entries}_seed{seed}.dat.gz"
    if not path.exists():
        print(f"generating {path} ...", flush=True)
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, str(REPO / "benchmarks/generate_swissprot.py"),
             "--entries", str(entries), "--seed", str(seed), "--out", str(path)],
            check=True,
        )
        print(f"  generated in {time.perf_counter() - t0:.1f} s", flush=True)
    return path


def kb_build_cmd(inputs: list[Path], db: Path, extra: list[str],
                 tree: Path | None = None) -> list[str]:
    """``kb build`` of this checkout, or of the checkout ``tree`` (first on ``sys.path``)."""
    code = "from cli.main import kb_app; kb_app()"
    if tree is not None:
        code = f"import sys; sys.path.insert(0, {str(tree)!r}); {code}"
    return [sys.executable, "-c", code, "build", *map(str, inputs), "--db", str(db),
            "--force", "--no-progress", *extra]


def run_build(cmd: list[str], label: str) -> dict:
    """:func:`run_measured` of a build that must succeed (exits with its error otherwise)."""
    r = run_measured(cmd)
    if r["returncode"] != 0:
        raise SystemExit(f"{label} failed: {r['stderr_tail']}")
    print(f"{label}: {r['seconds']} s", flush=True)
    return r


def add_worktree(rev: str, where: Path) -> Path:
    """A detached ``git worktree`` of ``rev`` (removed by :func:`remove_worktree`)."""
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(where), rev],
                   check=True, capture_output=True)
    return where


def remove_worktree(where: Path) -> None:
    subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(where)],
                   capture_output=True)


def first_entries_text(path: Path, n: int) -> str:
    """The first ``n`` entries of a flat file as text."""
    out: list[str] = []
    count = 0
    with gzip.open(path, "rt") if path.suffix == ".gz" else open(path) as fh:
        for line in fh:
            out.append(line)
            if line.startswith("//"):
                count += 1
                if count >= n:
                    break
    return "".join(out)


def baseline(path: Path, n: int, total_entries: int) -> dict:
    """Biopython vs kb.flatfile parse times on the first ``n`` entries (text in memory)."""
    from Bio import SwissProt

    from kb.flatfile import parse

    text = first_entries_text(path, n)
    t0 = time.perf_counter()
    bio = sum(1 for _ in SwissProt.parse(io.StringIO(text)))
    bio_s = time.perf_counter() - t0
    raw = text.encode()
    t0 = time.perf_counter()
    ours = sum(1 for _ in parse(io.BytesIO(raw)))
    ours_s = time.perf_counter() - t0
    return {
        "entries": n,
        "biopython_entries_parsed": bio,
        "biopython_seconds": round(bio_s, 3),
        "biopython_entries_per_s": round(bio / bio_s),
        "biopython_extrapolated_full_seconds": round(bio_s * total_entries / n, 1),
        "kb_flatfile_entries_parsed": ours,
        "kb_flatfile_seconds": round(ours_s, 3),
        "kb_flatfile_entries_per_s": round(ours / ours_s),
        "parser_speedup_vs_biopython": round(bio_s / ours_s, 2),
    }


def _best_cpu(fn, repeats: int = 3):
    """Best-of-``repeats`` CPU time (process_time: all threads of this process) and result."""
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.process_time()
        out = fn()
        best = min(best, time.process_time() - t0)
    return best, out


def worker_cpu(path: Path) -> dict:
    """CPU seconds, in this one process, of what the build's parser processes do with the
    whole file (``kb.build._parse_chunk_to_batch`` on every chunk) and of the main process's
    decompression and cutting into chunks."""
    from kb.build import _CHUNK_BYTES, _decompressed, _entry_chunks, _parse_chunk_to_batch

    gc.disable()  # as the parser processes run
    try:
        cut = work = 0.0
        n = 0
        with open(path, "rb") as fh:
            chunks = _entry_chunks(_decompressed(io.BufferedReader(fh, 1 << 20), str(path),
                                                 _CHUNK_BYTES))
            while True:
                t0 = time.process_time()
                chunk = next(chunks, None)
                t1 = time.process_time()
                cut += t1 - t0
                if chunk is None:
                    break
                _parse_chunk_to_batch((chunk, str(path), False, "any", n == 0))
                work += time.process_time() - t1
                n += 1
    finally:
        gc.enable()
    return {"chunks": n, "parse_and_convert_cpu_s": round(work, 1),
            "decompress_and_cut_cpu_s": round(cut, 1)}


def phase_costs(path: Path, n: int, total_entries: int) -> dict:
    """Best-of-3 CPU seconds of each build phase on the first ``n`` entries, scaled linearly to
    ``total_entries``: a load-robust estimate (other jobs inflate wall time much more)."""
    text = first_entries_text(path, n).encode()
    packed = gzip.compress(text, compresslevel=4)
    gc.disable()  # as kb.build does
    try:
        return _phase_costs(text, packed, total_entries)
    finally:
        gc.enable()


def _phase_costs(text: bytes, packed: bytes, total_entries: int) -> dict:
    from kb.flatfile import parse
    from kb.gzipio import gzip_reader
    from kb.index import write_index
    from kb.store import KBWriter, entries_to_batch

    t_gunzip, _ = _best_cpu(lambda: gzip_reader(io.BytesIO(packed)).read())  # as kb.build
    t_parse, entries = _best_cpu(lambda: list(parse(io.BytesIO(text))))
    t_batch, batch = _best_cpu(lambda: entries_to_batch(entries))

    def insert():
        d = Path(tempfile.mkdtemp(prefix="bench_insert_", dir=GENERATED))
        try:
            w = KBWriter(d)
            w.add_batch(batch)
            store = w.sequence_store()
            w.close()
            return store, d
        except BaseException:
            shutil.rmtree(d, ignore_errors=True)
            raise

    t_insert, (store, d) = _best_cpu(lambda: insert(), repeats=1)
    t_index, _ = _best_cpu(lambda: write_index(store, d, 5), repeats=2)
    shutil.rmtree(d, ignore_errors=True)
    scale = total_entries / len(entries)
    costs = {
        "gunzip (main process)": t_gunzip,
        "parse (workers)": t_parse,
        "entries -> columnar batch (workers)": t_batch,
        "DuckDB insert + checkpoint (main process)": t_insert,
        "k-mer index (kb.index, after reading)": t_index,
    }
    out = {k: round(v * scale, 1) for k, v in costs.items()}
    out["_subset_entries"] = len(entries)
    return out


def write_results(results: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "build.json").write_text(json.dumps(results, indent=1) + "\n")
    m = results["machine"]
    full = results.get("full_build")
    lines = [
        "# `kb build` benchmark",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB RAM; Python "
        f"{m['python']}, DuckDB {m['duckdb']}, numba {m['numba']}. Run at {results['date']}. "
        "The machine is shared with other jobs: timings are noisy.",
        "",
    ]
    if full:
        f = full
        lines += [
            f"## Synthetic Swiss-Prot flat file: {f['entries']:,} entries "
            f"({f.get('residues', 0):,} residues, {f['input_mb']:,.0f} MB gzip)",
            "",
            "| measure | value | target |",
            "|---|---|---|",
            f"| wall time (median of {len(f.get('seconds_runs', [f['seconds']]))}: "
            f"{', '.join(str(x) for x in f.get('seconds_runs', [f['seconds']]))}) | "
            f"{f['seconds']:.1f} s | <= {TARGET_SECONDS:.0f} s (issue 12: "
            f"<= {ISSUE12_SECONDS:.0f} s) |",
            f"| CPU time counted by `/usr/bin/time` (user+sys; the main process: the parser "
            f"processes come from a fork server and are not counted) | "
            f"{f['cpu_seconds']:.1f} s | |",
            f"| load average before the run (1 min) | {f['load_before']:.1f} | |",
            f"| peak RSS, largest process | {f['max_rss_largest_process_gb']:.2f} GB | "
            f"<= {TARGET_RSS_GB:.0f} GB (issue 12: <= {ISSUE12_RSS_GB:.0f} GB) |",
            f"| peak RSS, whole process tree (sampled; a page shared by several processes counts "
            f"once per process) | {f['peak_rss_tree_sampled_gb']:.2f} GB | |",
            f"| peak PSS, whole process tree (sampled; shared pages divided among the processes: "
            f"the memory the build holds) | {f.get('peak_pss_tree_sampled_gb', 0):.2f} GB | "
            f"issue 12: <= {ISSUE12_RSS_GB:.0f} GB |",
            f"| KB size on disk | {f.get('db_mb', 0):,.0f} MB | |",
            "",
            f"Command: `{f['cmd_short']}`",
            "",
        ]
        prev = results.get("previous_build")
        if prev:
            lines += [
                f"Same run, alternating with the build of commit `{prev['rev']}` (a git "
                f"worktree): **{prev['median_seconds']:.1f} s** median "
                f"({', '.join(str(x) for x in prev['seconds'])}), peak RSS "
                f"{prev['max_rss_largest_process_gb']:.2f} GB; this build is "
                f"{prev['median_seconds'] / f['seconds']:.2f}x as fast.",
                "",
            ]
        if f.get("phases"):
            lines += ["Phases (from the build's meta): "
                      + ", ".join(f"{k} {v} s" for k, v in f["phases"].items()), ""]
    wc = results.get("worker_cpu_full_file")
    if wc:
        lines += [
            "### The parser processes' work on the whole file, in one process",
            "",
            f"`kb.build._parse_chunk_to_batch` on all {wc['chunks']} chunks: "
            f"**{wc['parse_and_convert_cpu_s']} s** of CPU (parse + conversion to columns); "
            f"decompression and cutting into chunks (the main process's share): "
            f"{wc['decompress_and_cut_cpu_s']} s.",
            "",
        ]
    pc = results.get("phase_cpu_seconds_scaled")
    if pc:
        parts = {k: v for k, v in pc.items() if not k.startswith("_")}
        lines += [
            f"### CPU seconds per phase (best of 3 on the first {pc['_subset_entries']:,} "
            "entries, scaled to the full file)",
            "",
            "| phase | CPU s |",
            "|---|---|",
            *[f"| {k} | {v} |" for k, v in parts.items()],
            f"| **sum** | **{sum(parts.values()):.1f}** |",
            "",
            "Best-of-3 CPU times are much less inflated by other jobs than the wall time above; "
            "with the phases spread over 2 cores (parse and conversion in 2 workers, "
            "decompression and DuckDB in the main process, the index on 2 numba threads) the "
            "sum divided by 2 estimates the wall time on an idle 2-core machine.",
            "",
        ]
    b = results.get("baseline")
    if b:
        lines += [
            f"## Baseline: parsing the first {b['entries']:,} entries (text in memory)",
            "",
            "| parser | seconds | entries/s | extrapolated to full file |",
            "|---|---|---|---|",
            f"| Biopython `SwissProt.parse` | {b['biopython_seconds']} | "
            f"{b['biopython_entries_per_s']:,} | {b['biopython_extrapolated_full_seconds']} s |",
            f"| `kb.flatfile.parse` (1 process) | {b['kb_flatfile_seconds']} | "
            f"{b['kb_flatfile_entries_per_s']:,} | |",
            "",
            f"Parser speed-up over Biopython: {b['parser_speedup_vs_biopython']}x. "
            + (f"Full `kb build` (parse + DuckDB + sequence store + k-mer index) vs Biopython "
               f"parse alone (extrapolated): {results['build_vs_biopython_parse']}x."
               if results.get("build_vs_biopython_parse") else ""),
            "",
        ]
    d = results.get("deeploc2_build")
    if d:
        lines += [
            "## DeepLoc 2.0 CSV (28,303 entries)",
            "",
            f"`kb build data/deeploc2/deeploc2_swissprot.csv.gz`: median {d['median_seconds']} s "
            f"over {len(d['seconds'])} runs ({d['seconds']}); peak RSS "
            f"{d['max_rss_largest_process_gb']:.2f} GB.",
            "",
        ]
    (RESULTS / "build.md").write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=570_000, help="synthetic flat-file entries")
    ap.add_argument("--seed", type=int, default=0, help="generator seed")
    ap.add_argument("--baseline-entries", type=int, default=20_000,
                    help="entries parsed by the Biopython baseline")
    ap.add_argument("--repeats", type=int, default=3, help="DeepLoc 2.0 build repetitions")
    ap.add_argument("--workers", type=int, default=None, help="kb build --workers")
    ap.add_argument("--skip-full", action="store_true", help="skip the synthetic full build")
    ap.add_argument("--full-repeats", type=int, default=3,
                    help="full builds (median reported)")
    ap.add_argument("--compare-rev", default=None,
                    help="also build with this git revision, alternating with this checkout")
    args = ap.parse_args(argv)

    results: dict = {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M UTC",
                                                                  time.gmtime())}
    print(json.dumps(results["machine"]), flush=True)
    extra = ["--workers", str(args.workers)] if args.workers else []
    work = Path(tempfile.mkdtemp(prefix="bench_build_", dir=GENERATED if GENERATED.exists()
                                 else None))
    try:
        if not args.skip_full:
            flat = ensure_flatfile(args.entries, args.seed)
            db = work / "full"
            tree = add_worktree(args.compare_rev, work / "old") if args.compare_rev else None
            runs, old_runs = [], []
            load_before = os.getloadavg()[0]
            try:
                for i in range(args.full_repeats):
                    shutil.rmtree(db, ignore_errors=True)
                    runs.append(run_build(kb_build_cmd([flat], db, extra), f"full build {i + 1}"))
                    if tree is not None:
                        old_runs.append(run_build(
                            kb_build_cmd([flat], work / "old_db", extra, tree),
                            f"  {args.compare_rev} build {i + 1}"))
                        shutil.rmtree(work / "old_db", ignore_errors=True)
            finally:
                if tree is not None:
                    remove_worktree(tree)
            if tree is not None:
                results["previous_build"] = {
                    "rev": args.compare_rev,
                    "seconds": [o["seconds"] for o in old_runs],
                    "median_seconds": statistics.median(o["seconds"] for o in old_runs),
                    "max_rss_largest_process_gb": max(o["max_rss_largest_process_gb"]
                                                      for o in old_runs),
                }
            r = dict(runs[-1])
            r["seconds_runs"] = [x["seconds"] for x in runs]
            r["seconds"] = statistics.median(r["seconds_runs"])
            r["cpu_seconds"] = statistics.median(x["cpu_seconds"] for x in runs)
            r["max_rss_largest_process_gb"] = max(x["max_rss_largest_process_gb"] for x in runs)
            r["peak_rss_tree_sampled_gb"] = max(x["peak_rss_tree_sampled_gb"] for x in runs)
            r["peak_pss_tree_sampled_gb"] = max(x["peak_pss_tree_sampled_gb"] for x in runs)
            r["load_before"] = load_before
            from kb.store import read_meta

            meta = read_meta(db)
            r.update(
                entries=meta["entries"],
                residues=meta["residues"],
                input_mb=round(flat.stat().st_size / 1e6, 1),
                db_mb=round(sum(p.stat().st_size for p in db.iterdir()) / 1e6, 1),
                cmd_short=f"kb build {flat.relative_to(REPO)} --db DIR --force --no-progress "
                + " ".join(extra),
                phases={"read+parse+insert": meta.get("seconds.read_parse_insert"),
                        "sequence store+index": meta.get("seconds.store_and_index"),
                        "of which index": meta.get("index.index_seconds")},
            )
            results["full_build"] = r
            print(f"full build: {r['seconds']} s, largest process "
                  f"{r['max_rss_largest_process_gb']} GB, tree RSS "
                  f"{r['peak_rss_tree_sampled_gb']} GB, tree PSS "
                  f"{r['peak_pss_tree_sampled_gb']} GB", flush=True)
            shutil.rmtree(db, ignore_errors=True)
            b = baseline(flat, min(args.baseline_entries, args.entries), meta["entries"])
            results["baseline"] = b
            results["worker_cpu_full_file"] = worker_cpu(flat)
            print(f"parser-process work, one process: {results['worker_cpu_full_file']}",
                  flush=True)
            results["phase_cpu_seconds_scaled"] = phase_costs(
                flat, min(args.baseline_entries, args.entries), meta["entries"])
            print(f"phase CPU (scaled): {results['phase_cpu_seconds_scaled']}", flush=True)
            results["build_vs_biopython_parse"] = round(
                b["biopython_extrapolated_full_seconds"] / r["seconds"], 2)
            print(f"baseline: {b}", flush=True)
        times, rss = [], []
        for i in range(args.repeats):
            r = run_measured(kb_build_cmd([DEEPLOC2], work / f"deeploc2_{i}", extra))
            if r["returncode"] != 0:
                print(r, file=sys.stderr)
                return 1
            times.append(r["seconds"])
            rss.append(r["max_rss_largest_process_gb"])
        results["deeploc2_build"] = {
            "seconds": times,
            "median_seconds": round(statistics.median(times), 2),
            "max_rss_largest_process_gb": max(rss),
        }
        print(f"deeploc2 build: median {statistics.median(times):.2f} s {times}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    write_results(results)
    print(f"wrote {RESULTS / 'build.json'} and build.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

