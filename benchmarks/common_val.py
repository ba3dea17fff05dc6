"""Validate candidates trained on different data on the same proteins: the DeepLoc 1.0
validation carve-out minus every protein any candidate trained on.

    python benchmarks/common_val.py --val-from runs/cand/dl1_termini \
        NAME=DIR [NAME=DIR ...] [--out benchmarks/results/common_val.md]

``--val-from``: a checkpoint whose ``training_set.tsv`` names the validation proteins (split
``val``; the DeepLoc 1.0 carve-out). Every ``NAME=DIR`` with a ``training_set.tsv`` removes its
``train`` proteins (by sequence SHA-1); a checkpoint without one (the older default) trained on
the same official DeepLoc 1.0 split, so its training proteins are already outside the
carve-out. The remaining proteins are written as a labelled FASTA (DeepLoc headers) and every
checkpoint is scored on them with :func:`psl.training.evaluate` (``psl evaluate --fasta``).
Validation only: no test protein is read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEEPLOC1 = REPO / "data" / "deeploc1" / "deeploc_data.fasta.gz"


def main(argv: list[str] | None = None) -> int:
    from kb.fasta import read_fasta
    from psl.homology import sequence_sha1
    from psl.training import evaluate

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", help="NAME=DIR checkpoints")
    ap.add_argument("--val-from", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks/results/common_val.md")
    ap.add_argument("--fasta-out", type=Path, default=Path("runs/common_val.fasta"))
    args = ap.parse_args(argv)
    named = [m.split("=", 1) for m in args.models]
    val = pd.read_csv(args.val_from / "training_set.tsv", sep="\t")
    val = val[val["split"] == "val"]
    keep = set(val["sha1"])
    removed = {}
    for name, d in named:
        ts = Path(d) / "training_set.tsv"
        if ts.is_file():
            t = pd.read_csv(ts, sep="\t")
            seen = set(t.loc[t["split"] == "train", "sha1"])
            removed[name] = len(keep & seen)
            keep -= seen
    records = [r for r in read_fasta(DEEPLOC1) if sequence_sha1(r.sequence) in keep]
    args.fasta_out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.fasta_out, "w") as fh:
        for r in records:
            fh.write(f">{r.header}\n{r.sequence}\n")
    rows = [(name, evaluate(d, fasta=str(args.fasta_out), n_boot=1000)) for name, d in named]
    lines = [
        "# Candidates on common validation proteins",
        "",
        f"`python benchmarks/common_val.py --val-from {args.val_from} "
        + " ".join(f"{n}={d}" for n, d in named) + "`",
        "",
        f"DeepLoc 1.0 validation carve-out ({len(val)} proteins, from "
        f"`{args.val_from}/training_set.tsv`) minus the training proteins of every candidate "
        f"(removed per candidate: {json.dumps(removed)}): **{len(records)} proteins**.",
        "",
        "| model | accuracy [95% CI] | macro-F1 | min class recall |",
        "|---|---|---|---|",
    ]
    for name, rep in rows:
        ci = rep["ci95"]["accuracy"]
        low = min(c["recall"] for c in rep["per_class"].values() if c["support"] > 0)
        lines.append(f"| {name} | {rep['accuracy']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}] | "
                     f"{rep['macro_f1']:.3f} | {low:.2f} |")
    text = "\n".join(lines) + "\n"
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
