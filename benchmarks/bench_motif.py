"""Benchmark ``kb.open(DIR).motif(patterns)``: 100 PROSITE patterns over the synthetic Swiss-Prot.

Patterns: ``benchmarks/prosite_patterns.txt`` (the project's localisation signals, PROSITE PTM
sites, domain signatures and short linear motifs). Knowledge base: the synthetic flat file of
``benchmarks/generate_swissprot.py`` (shared with ``bench_search.py``; ``--entries`` for a
fraction of full size).

Measured in the same run:

* ours over all residues: ``KnowledgeBase.motif(patterns)`` (compilation, the numba kernel and
  the result table with the matched substrings), median of ``--repeats`` after a warm-up;
* baseline, Python ``re`` with overlapped matching: for each pattern, ``re.finditer`` of the
  lookahead ``(?=(REGEX))`` over the concatenated sequences (``*``-separated, anchors as
  look-arounds on the separator), on the first ``--re-entries`` entries (the baseline is
  slow); ours is timed on the same entries for the speed-up;
* correctness on those entries: for every pattern, the set of match starts of both engines
  (``re`` reports one match per start, we report every end) must be equal.

Output: ``benchmarks/results/motif.json`` and ``.md``.

Usage::

    nice -n 10 python benchmarks/bench_motif.py                    # full size
    python benchmarks/bench_motif.py --entries 20000 --re-entries 5000   # quick
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from _machine import cpu_name, cpu_seconds  # noqa: E402
from bench_search import ensure_kb, machine, timed  # noqa: E402

import kb  # noqa: E402
from kb.motif import compile_motifs, find_motifs, read_patterns  # noqa: E402
from kb.seqstore import SequenceStore  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"


PATTERNS = REPO / "benchmarks" / "prosite_patterns.txt"


def prosite_regex(pattern: str) -> str:
    """PROSITE -> Python regex over ``*``-separated sequences (no match crosses a ``*``)."""
    p = pattern.rstrip(".")
    start = p.startswith("<")
    p = p.removeprefix("<")
    end = p.endswith(">")
    p = p.removesuffix(">")
    out = []
    for el in p.split("-"):
        m = re.fullmatch(r"(x|[A-Z]|\[[A-Z>]+\]|\{[A-Z]+\})(?:\((\d+)(?:,(\d+))?\))?", el)
        assert m, el
        core, lo, hi = m.groups()
        if core == "x":
            cls = "[^*]"
        elif core.startswith("{"):
            cls = f"[^*{core[1:-1]}]"
        elif core.startswith("[") and ">" in core:
            cls = f"(?:[{core[1:-1].replace('>', '')}]|(?=\\*))"
        else:
            cls = core
        rep = "" if lo is None else (f"{{{lo}}}" if hi is None else f"{{{lo},{hi}}}")
        out.append(cls + rep)
    body = "".join(out)
    return ("(?<=\\*)" if start else "") + body + ("(?=\\*)" if end else "")


def re_starts(text: str, patterns: list[str]) -> list[np.ndarray]:
    out = []
    for p in patterns:
        rx = re.compile(f"(?=({prosite_regex(p)}))")
        out.append(np.fromiter((m.start() for m in rx.finditer(text)), dtype=np.int64))
    return out


def markdown(r: dict) -> str:
    m = r["machine"]
    return "\n".join([
        "# PROSITE motif search",
        "",
        f"Command: `{r['command']}`",
        "",
        f"Machine: {m['cpu']}, {m['cpus']} CPUs ({m['numba_threads']} numba threads), "
        f"{m['memory_gb']} GB RAM, load average {m['load_average_1_5_15']}.",
        f"Knowledge base: {r['kb']['entries']:,} entries, {r['kb']['residues']:,} residues "
        f"({r['kb']['fraction_of_full_size']:.0%} of full-size Swiss-Prot); "
        f"{r['patterns']} patterns (`benchmarks/prosite_patterns.txt`).",
        "",
        "| what | residues | rows | ours: wall (CPU s) | Python re, overlapped: wall (CPU s) | "
        "speed-up (wall) | same starts |",
        "|---|---|---|---|---|---|---|",
        f"| all entries, `KnowledgeBase.motif` (table included) | {r['kb']['residues']:,} | "
        f"{r['full']['rows']:,} | {r['full']['median_s']} s ({r['full'].get('cpu_s', '-')}) |"
        " | | |",
        f"| first {r['subset']['entries']:,} entries, `find_motifs` | "
        f"{r['subset']['residues']:,} | {r['subset']['rows']:,} | "
        f"{r['subset']['ours_median_s']} s ({r['subset'].get('ours_cpu_s', '-')}) | "
        f"{r['subset']['re_s']} s ({r['subset'].get('re_cpu_s', '-')}) | "
        f"{r['subset']['speedup']}x | {r['subset']['same_starts']} |",
        "",
        f"Peak RSS of the process: {r['peak_rss_gb']} GB.",
        "",
    ])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=570_000, help="synthetic KB entries")
    ap.add_argument("--seed", type=int, default=0, help="generator seed")
    ap.add_argument("--re-entries", type=int, default=28_500,
                    help="entries (from the first) for the Python re baseline")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=RESULTS / "motif.json")
    args = ap.parse_args(argv)
    db, _ = ensure_kb(args.entries, args.seed)
    patterns = read_patterns(PATTERNS)
    results: dict = {
        "command": "python benchmarks/bench_motif.py " + " ".join(argv or sys.argv[1:]),
        "machine": {**machine(), "cpu": cpu_name()},
        "patterns": len(patterns),
    }
    with kb.open(db) as base:
        store = base.store
        results["kb"] = {"entries": len(store), "residues": store.n_residues,
                         "fraction_of_full_size": round(store.n_residues / 205e6, 3)}
        base.motif(patterns[:3])  # numba warm-up
        cpu0 = cpu_seconds()
        med, times, table = timed(lambda: base.motif(patterns), args.repeats)
        cpu = (cpu_seconds() - cpu0) / args.repeats
        results["full"] = {"rows": table.num_rows, "median_s": round(med, 3),
                           "times_s": [round(t, 3) for t in times], "cpu_s": round(cpu, 2)}
        print(f"all residues: {table.num_rows:,} rows in {med:.2f} s", flush=True)
        n_sub = min(args.re_entries, len(store))
        end = int(store.offsets[n_sub])
        sub = SequenceStore(np.ascontiguousarray(store.residues[:end]),
                            np.ascontiguousarray(store.offsets[:n_sub + 1]))
    motifs = compile_motifs(patterns)
    cpu0 = cpu_seconds()
    med_sub, _, hits = timed(lambda: find_motifs(sub, motifs), args.repeats)
    cpu_sub = (cpu_seconds() - cpu0) / args.repeats
    text = "*" + sub.residues.tobytes().decode("ascii")
    t0 = time.perf_counter()
    cpu0 = cpu_seconds()
    theirs = re_starts(text, patterns)
    re_s = time.perf_counter() - t0
    re_cpu = cpu_seconds() - cpu0
    pat, ent, start, _ = hits
    abs_start = np.asarray(sub.offsets)[ent] + start + 1  # +1: the leading '*'
    same = all(
        np.array_equal(np.unique(abs_start[pat == p]), theirs[p]) for p in range(len(patterns))
    )
    results["subset"] = {"entries": n_sub, "residues": sub.n_residues, "rows": int(pat.shape[0]),
                         "ours_median_s": round(med_sub, 3), "ours_cpu_s": round(cpu_sub, 2),
                         "re_s": round(re_s, 2), "re_cpu_s": round(re_cpu, 2),
                         "speedup": round(re_s / med_sub, 1), "same_starts": same}
    print(f"subset: ours {med_sub:.3f} s, re {re_s:.1f} s, same starts: {same}", flush=True)
    results["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    args.out.with_suffix(".md").write_text(markdown(results))
    print(markdown(results))
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
