"""Benchmark: Integrated Gradients seconds per protein with 1 and 2 torch threads, on the machine
as it is (a shared machine: the load average is recorded with every run).

The two settings are interleaved (1, 2, 1, 2, ...) so that both see the same load; the
default of ``psl explain --threads 0`` (:func:`psl.explain.attributions.default_threads`) is
printed beside the measured medians. The same proteins (a seeded sample of the DeepLoc 1.0
test set) and the same model in every run; a one-protein warm-up runs first.

Results: ``benchmarks/results/explain_threads.json`` and ``explain_threads.md``.

Usage::

    python benchmarks/bench_threads.py [--n 8] [--repeats 3] [--n-steps 50] [--model DIR]
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

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _machine import cpu_name  # noqa: E402  (benchmarks/ is on sys.path)

from kb.atomic import atomic_path  # noqa: E402
from psl.experiments.hitrates import select_proteins  # noqa: E402
from psl.explain.attributions import (  # noqa: E402
    IGSettings,
    default_threads,
    explain,
    load_proteins,
)
from psl.models.checkpoint import load_model  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8, help="proteins per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per thread count")
    parser.add_argument("--n-steps", type=int, default=50, help="IG steps")
    parser.add_argument("--model", type=Path, default=REPO / "models" / "default")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    names, seqs, _ = select_proteins(*load_proteins(split="test"), args.n, args.seed)
    model = load_model(args.model).model
    settings = IGSettings(n_steps=args.n_steps)
    explain(model, seqs[:1], names[:1], method="ig", ig=settings)  # warm-up
    runs = []
    for rep in range(args.repeats):
        for threads in (1, 2):
            torch.set_num_threads(threads)
            load = os.getloadavg()[0]
            t0 = time.perf_counter()
            explain(model, seqs, names, method="ig", ig=settings)
            per_protein = (time.perf_counter() - t0) / len(seqs)
            runs.append({"repeat": rep, "threads": threads, "load_average": load,
                         "s_per_protein": per_protein})
            print(f"repeat {rep}, {threads} thread(s): {per_protein:.3f} s/protein "
                  f"(load average {load:.1f})", flush=True)
    medians = {t: statistics.median(r["s_per_protein"] for r in runs if r["threads"] == t)
               for t in (1, 2)}
    result = {
        "machine": {"cpu": cpu_name(), "cpus": os.cpu_count(),
                    "python": platform.python_version(), "torch": torch.__version__},
        "settings": {"n": args.n, "repeats": args.repeats, "n_steps": args.n_steps,
                     "model": str(args.model.relative_to(REPO)
                                  if args.model.is_relative_to(REPO) else args.model)},
        "runs": runs,
        "median_s_per_protein": {str(t): m for t, m in medians.items()},
        "speedup_1_over_2": medians[2] / medians[1],
        "default_threads_now": default_threads(),
    }
    loads = [r["load_average"] for r in runs]
    md = "\n".join([
        "# IG: 1 vs 2 torch threads on a shared machine",
        "",
        f"`python benchmarks/bench_threads.py --n {args.n} --repeats {args.repeats} "
        f"--n-steps {args.n_steps}`; {result['machine']['cpu']}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}; model `{result['settings']['model']}`; load average "
        f"{min(loads):.1f}-{max(loads):.1f} during the runs (interleaved 1, 2, 1, 2, ...).",
        "",
        "| torch threads | median s/protein | runs |",
        "|---:|---:|---|",
        *[f"| {t} | {medians[t]:.3f} | "
          + ", ".join(f"{r['s_per_protein']:.2f}" for r in runs if r["threads"] == t) + " |"
          for t in (1, 2)],
        "",
        f"1 thread is {result['speedup_1_over_2']:.1f}x faster than 2 at this load; "
        f"`psl explain --threads 0` would pick {result['default_threads_now']} now.",
        "",
    ])
    RESULTS.mkdir(parents=True, exist_ok=True)
    for name, text in (("explain_threads.json", json.dumps(result, indent=2) + "\n"),
                       ("explain_threads.md", md)):
        with atomic_path(RESULTS / name) as tmp:
            Path(tmp).write_text(text)
    print(md)


if __name__ == "__main__":
    main()
