"""Benchmark ``kb.build`` with and without parser processes, optionally against another tree.

Since issue 10 a library call (``kb.build(...)`` from a script or notebook) starts no worker
processes by default (``workers=1``), while ``kb build`` passes ``--workers 2``; every build
also writes a manifest (size and SHA-256 of each file). This measures, in one run:

* for each input (the shipped DeepLoc 2.0 CSV and a synthetic flat file written by
  ``benchmarks/generate_swissprot.py``): the median wall time of ``kb.build`` with
  ``workers=1`` and (flat files only: tables are read in one process) ``workers=2``, each
  build in a fresh subprocess;
* the same with the code of ``--baseline-tree`` (e.g. an export of the commit before the
  change: ``git archive <commit> | tar -x -C /tmp/before``), when given;
* the time spent writing the manifest (``kb.layout.write_manifest`` on the built version).

Results go to ``benchmarks/results/build_modes.json`` and ``build_modes.md``.

Usage::

    python benchmarks/generate_swissprot.py --entries 50000 \\
        --out benchmarks/generated/swissprot_50k.dat.gz
    python benchmarks/bench_build_modes.py --baseline-tree /tmp/before --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _machine import cpu_name  # benchmarks/ is on sys.path when run as a script

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kb.tables import detect_format  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
DEEPLOC2 = REPO / "data" / "deeploc2" / "deeploc2_swissprot.csv.gz"
SYNTHETIC = REPO / "benchmarks" / "generated" / "swissprot_50k.dat.gz"

_BUILD = (
    "import sys, time, kb\n"
    "t = time.perf_counter()\n"
    "kb.build([sys.argv[1]], sys.argv[2], progress=False, workers=int(sys.argv[3]))\n"
    "print(time.perf_counter() - t)\n"
)


def _build_seconds(tree: Path, src: Path, workers: int, work: Path) -> float:
    db = work / "kb"
    shutil.rmtree(db, ignore_errors=True)
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run([sys.executable, "-c", _BUILD, str(src), str(db), str(workers)],
                         env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def _manifest_seconds(work: Path) -> float:
    from kb import layout

    version = layout.resolve(work / "kb")
    t = time.perf_counter()
    layout.write_manifest(version)
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--synthetic", type=Path, default=SYNTHETIC, help="synthetic flat file")
    ap.add_argument("--baseline-tree", type=Path, default=None,
                    help="another source tree to measure the same builds with")
    ap.add_argument("--repeats", type=int, default=3, help="builds per configuration")
    args = ap.parse_args(argv)
    inputs = [("DeepLoc 2.0 CSV (28,303 entries)", DEEPLOC2)]
    if args.synthetic.is_file():
        inputs.append((f"synthetic flat file ({args.synthetic.name})", args.synthetic))
    trees = [("this tree", REPO)]
    if args.baseline_tree is not None:
        trees.append(("baseline tree", args.baseline_tree))
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_build_modes_") as tmp:
        work = Path(tmp)
        for label, src in inputs:
            # Worker processes parse flat files only: a table is read in one process anyway.
            modes = (1, 2) if detect_format(src) == "flatfile" else (1,)
            for workers in modes:
                for tree_label, tree in trees:  # interleaved: both trees see the same load
                    times = [_build_seconds(tree, src, workers, work) for _ in range(args.repeats)]
                    row = {"input": label, "tree": tree_label, "workers": workers,
                           "median_s": round(statistics.median(times), 2),
                           "runs_s": [round(t, 2) for t in times]}
                    if tree is REPO:
                        row["manifest_s"] = round(_manifest_seconds(work), 3)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    result = {"machine": {"cpu": cpu_name(), "cores": os.cpu_count(),
                          "python": platform.python_version()},
              "repeats": args.repeats, "rows": rows,
              "note": "shared machine: other jobs may run; timings are noisy"}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "build_modes.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = [
        "# kb.build: workers=1 (library default) vs workers=2 (`kb build`)", "",
        f"Machine: {result['machine']['cpu']}, {result['machine']['cores']} cores, Python "
        f"{result['machine']['python']}; median of {args.repeats} builds, each in a fresh "
        "process. Command: `python benchmarks/bench_build_modes.py"
        + (" --baseline-tree DIR" if args.baseline_tree else "") + "`. " + result["note"] + ".",
        "", "| input | code | workers | median wall (s) | runs (s) | manifest (s) |",
        "|---|---|---:|---:|---|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['input']} | {r['tree']} | {r['workers']} | {r['median_s']} | "
                     f"{', '.join(map(str, r['runs_s']))} | {r.get('manifest_s', '')} |")
    (RESULTS / "build_modes.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS / 'build_modes.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
