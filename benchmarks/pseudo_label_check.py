"""Does a validation gain from pseudo-labelled training proteins come from homologs of the
validation proteins among them?

    python benchmarks/pseudo_label_check.py --model default=models/default \
        --model previous=runs/cand/pool8_h96_t8 [--dataset data/derived/dl1_pseudo8.tsv.gz]

The added proteins of ``--dataset`` (``source`` starting with "pseudo-label") were kept away
from the test set's homologs, not from validation's. Splits the validation proteins by
whether one of the added proteins is identical or homologous to them
(:func:`psl.homology.find_homologs`, >= 30% identity over >= 50% of the shorter) and scores
every ``--model`` on both parts (the network's argmax, as ``psl train`` selects epochs).
Writes benchmarks/results/pseudo_label_check.md and .json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kb.classes import LOCATION_CLASSES  # noqa: E402
from psl.data import DataConfig, EncodedSet, load_splits  # noqa: E402
from psl.homology import find_homologs  # noqa: E402
from psl.metrics import classification_report  # noqa: E402
from psl.models.checkpoint import load_model  # noqa: E402
from psl.models.inference import infer  # noqa: E402
from psl.sources import PSEUDO_LABEL_SOURCE  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", action="append", required=True, help="NAME=DIR (repeatable)")
    ap.add_argument("--dataset", default="data/derived/dl1_pseudo8.tsv.gz")
    ap.add_argument("--out", default=str(RESULTS / "pseudo_label_check"))
    args = ap.parse_args()
    splits = load_splits(DataConfig(dataset=args.dataset))
    val, train = splits["val"], splits["train"]
    added = train[train["source"].astype(str).str.startswith(PSEUDO_LABEL_SOURCE)]
    near = find_homologs(val["sequence"].tolist(), added["sequence"].tolist()).related
    y = val["label"].to_numpy()
    parts = {"all": np.ones(len(y), bool), "no homolog among the added": ~near,
             "a homolog among the added": near}
    result = {"dataset": args.dataset, "validation": int(len(y)), "added": int(len(added)),
              "models": {}}
    for spec in args.model:
        name, _, path = spec.partition("=")
        m = load_model(path)
        pred = infer(m.model, EncodedSet(val["sequence"].tolist(), None,
                                         m.config.max_len)).logits.argmax(1)
        result["models"][name] = {"path": path, **{
            part: {"n": int(mask.sum()), **{k: round(v, 4) for k, v in classification_report(
                y[mask], pred[mask], list(LOCATION_CLASSES), n_boot=0, seed=0).items()
                if k in ("accuracy", "macro_f1")}} for part, mask in parts.items()}}
    lines = ["<!-- Written by: python benchmarks/pseudo_label_check.py (see its docstring) -->",
             "# Validation with and without homologs among the pseudo-labelled proteins", "",
             f"`{args.dataset}`: {result['added']} pseudo-labelled training proteins; "
             f"{result['validation']} validation proteins, {int(near.sum())} of them identical "
             "or homologous to one of those (>= 30% identity over >= 50% of the shorter).", "",
             "| model | " + " | ".join(f"{p} (n = {int(m.sum())})" for p, m in parts.items())
             + " |", "|---|" + "---|" * len(parts)]
    for name, r in result["models"].items():
        lines.append(f"| {name} (`{r['path']}`) | " + " | ".join(
            f"{r[p]['accuracy']:.3f} / {r[p]['macro_f1']:.3f}" for p in parts) + " |")
    lines += ["", "Accuracy / macro-F1 of the network's argmax (before calibration).", ""]
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    out.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
