"""Sensitivity of the homology prefilter: all-pairs alignment vs prefiltered, on a sample.

    python benchmarks/homology.py [--n 30] [--seed 0] [--out benchmarks/results/homology.md]

Draws ``--n`` random single-label DeepLoc 2.0 Swiss-Prot proteins, aligns each against every
official DeepLoc 1.0 test protein (Smith-Waterman, BLOSUM62, 11/1; the all-pairs reference)
and with the default k-mer prefilter (psl.homology), and reports how many of the proteins
that all-pairs alignment calls homologous (>= 30% identity over >= 50% of the shorter) the
prefilter finds, with the length of the alignments it misses, and the time of both.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _machine import cpu_name  # noqa: E402

from kb.atomic import atomic_path  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "homology.md"))
    a = ap.parse_args(argv)
    from psl.data import read_deeploc
    from psl.homology import align, find_homologs
    from psl.sources import read_labelled

    dl1 = read_deeploc()
    test = dl1[dl1["is_test"] & (dl1["label"] >= 0)]["sequence"].tolist()
    dl2, _ = read_labelled(REPO / "data" / "deeploc2" / "deeploc2_swissprot.csv.gz")
    sample = dl2.sample(a.n, random_state=a.seed)["sequence"].tolist()
    t0 = time.perf_counter()
    full = find_homologs(sample, test, prefilter=False, stop_at_first=False)
    t_full = time.perf_counter() - t0
    t0 = time.perf_counter()
    fast = find_homologs(sample, test)
    t_fast = time.perf_counter() - t0
    missed = [int(i) for i in (full.related & ~fast.related).nonzero()[0]]
    miss_len = []
    for i in missed:
        rows = full.pairs[full.pairs["query"] == i]
        miss_len.append(max(align(sample[i], test[j]).length for j in rows["ref"]))
    res = {
        "machine": {"cpu": cpu_name(), "cores": os.cpu_count()},
        "n_sample": a.n, "n_test": len(test), "seed": a.seed,
        "related_all_pairs": int(full.related.sum()),
        "identical": full.n_identical,
        "related_prefiltered": int(fast.related.sum()),
        "false_positives": int((fast.related & ~full.related).sum()),
        "missed": len(missed), "missed_alignment_columns": miss_len,
        "pairs_aligned_all": len(sample) * len(test), "pairs_aligned_prefiltered":
            fast.n_candidates,
        "seconds_all_pairs": round(t_full, 1), "seconds_prefiltered": round(t_fast, 1),
    }
    cmd = "python benchmarks/homology.py " + " ".join(argv if argv is not None else sys.argv[1:])
    md = "\n".join([
        "# Homology prefilter: sensitivity against all-pairs alignment", "",
        f"Command: `{cmd.strip()}`  ", f"Machine: {res['machine']}", "",
        f"{a.n} random single-label DeepLoc 2.0 Swiss-Prot proteins against the {len(test)} "
        "official DeepLoc 1.0 test proteins (>= 30% identity over >= 50% of the shorter).", "",
        "| | all pairs | prefiltered |", "|---|---|---|",
        f"| proteins related to a test protein | {res['related_all_pairs']} | "
        f"{res['related_prefiltered']} |",
        f"| pairs aligned | {res['pairs_aligned_all']} | {res['pairs_aligned_prefiltered']} |",
        f"| seconds | {res['seconds_all_pairs']} | {res['seconds_prefiltered']} |", "",
        f"Identical: {res['identical']}. Missed by the prefilter: {res['missed']} (longest "
        f"passing alignment of each, in columns: {miss_len}). False positives: "
        f"{res['false_positives']} (impossible by construction: every call is an alignment).",
        "", "```json", json.dumps(res, indent=1), "```", ""])
    print(md)
    with atomic_path(a.out) as tmp:
        Path(tmp).write_text(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
