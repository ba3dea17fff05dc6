"""Would an ensemble of these checkpoints help? Every combination of two or more, scored on the
validation split they share (mean of the members' probabilities; validation only, no test
protein is read).

    python benchmarks/val_ensembles.py --dataset runs/data/dl12_vs_dl1test.tsv.gz \
        NAME=DIR [NAME=DIR ...] [--out benchmarks/results/val_ensembles.md]

``--dataset``: a dataset table (``psl dataset``) whose ``val`` split every checkpoint was
validated on; each checkpoint's ``training_set.tsv`` is checked to list exactly these
validation proteins (by sequence SHA-1), so no member trained on one of them.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from _report import emit, run_specs  # benchmarks/ is on sys.path when run as a script

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    from kb.classes import LOCATION_CLASSES
    from psl.data import DataConfig, EncodedSet, load_splits
    from psl.homology import sequence_sha1
    from psl.metrics import accuracy, macro_f1
    from psl.models.calibration import softmax
    from psl.models.checkpoint import load_model
    from psl.models.inference import infer

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", help="NAME=DIR checkpoints (two or more)")
    ap.add_argument("--dataset", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks/results/val_ensembles.md")
    args = ap.parse_args(argv)
    named = run_specs(args.models)
    if len(named) < 2:
        ap.error("give at least two NAME=DIR checkpoints")
    val = load_splits(DataConfig(dataset=str(args.dataset)))["val"]
    want = sorted(sequence_sha1(s) for s in val["sequence"])
    y = val["label"].to_numpy()
    n_classes = len(LOCATION_CLASSES)
    lys = LOCATION_CLASSES.index("Lysosome/Vacuole")
    probs = {}
    for name, d in named:
        ts = pd.read_csv(Path(d) / "training_set.tsv", sep="\t")
        if sorted(ts.loc[ts["split"] == "val", "sha1"]) != want:
            raise SystemExit(f"{d}: its validation proteins are not those of {args.dataset}")
        m = load_model(d)
        res = infer(m.model, EncodedSet(val["sequence"].tolist(), None, m.config.max_len), 64)
        probs[name] = softmax(res.logits)

    def score(names: tuple[str, ...]) -> str:
        p = np.mean([probs[k] for k in names], 0).argmax(1)
        recall = [(p[y == c] == c).mean() for c in range(n_classes)]
        return (f"| {' + '.join(names)} | {len(names)} | {accuracy(y, p):.3f} | "
                f"{macro_f1(y, p, n_classes):.3f} | {recall[lys]:.2f} | {min(recall):.2f} |")

    lines = [
        "# Ensembles on a shared validation split",
        "",
        f"`python benchmarks/val_ensembles.py --dataset {args.dataset} "
        + " ".join(args.models) + "`",
        "",
        f"Validation split of `{args.dataset}`: {len(val)} proteins. Ensemble = mean of the "
        "members' probabilities (uncalibrated).",
        "",
        "| members | n | val accuracy | val macro-F1 | Lysosome/Vacuole recall "
        "| min class recall |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in range(1, len(named) + 1):
        lines += [score(c) for c in itertools.combinations([n for n, _ in named], r)]
    emit("\n".join(lines) + "\n", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
