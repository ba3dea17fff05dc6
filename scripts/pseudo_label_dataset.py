"""A dataset table for distillation on more proteins: the official DeepLoc 1.0 splits of a
checkpoint, plus DeepLoc 2.0 Swiss-Prot proteins labelled by a teacher (pseudo-labels).

    python scripts/pseudo_label_dataset.py --teacher runs/gpu/teacher8 \
        --pool runs/data/dl12_vs_dl1test.tsv.gz --out runs/data/dl1_pseudo8.tsv.gz

- train / val / test: exactly the splits of ``--model`` (default ``models/default``), with
  their Swiss-Prot labels: validation and test stay comparable with that model's.
- extra training proteins: the ``--pool`` dataset table's train + val rows (built by ``psl
  dataset`` with DeepLoc 1.0 test proteins and their homologs removed), minus every sequence
  of the DeepLoc 1.0 file (train, val or test), minus those whose nearest DeepLoc 1.0 test
  protein is a homolog by the transfer's rescored search (``psl.transfer``: it finds homologs
  the pool's exclusion missed). Their location is the teacher's most probable class, not
  Swiss-Prot's (``source`` says so): with ``[train] teacher`` the same teacher's
  probabilities are what the student learns from them (distillation on unlabelled proteins);
  the Swiss-Prot labels of these proteins are not used.

Writes the table atomically and a JSON report (counts) beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kb.classes import LOCATION_CLASSES  # noqa: E402
from psl.data import DataConfig, load_splits, read_deeploc  # noqa: E402
from psl.models.checkpoint import load_model  # noqa: E402
from psl.sources import PSEUDO_LABEL_SOURCE, annotated, read_dataset, write_dataset  # noqa: E402
from psl.training.trainer import teacher_probabilities  # noqa: E402
from psl.transfer import References, SearchSettings, nearest_references  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--teacher", required=True)
    ap.add_argument("--pool", required=True, help="dataset table from psl dataset")
    ap.add_argument("--model", default=str(REPO / "models" / "default"))
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    out = Path(args.out)
    if out.exists():
        sys.exit(f"{out} exists; remove it or choose another --out")

    loaded = load_model(args.model)
    # the checkpoint's annotated splits (a default trained on this script's table has
    # pseudo-labelled training proteins too: they are made again below, not kept)
    splits = {k: annotated(v) for k, v in
              load_splits(DataConfig(**loaded.run_config.get("data", {}))).items()}
    dl1 = read_deeploc(str(REPO / "data" / "deeploc1" / "deeploc_data.fasta.gz"))
    dl1_seqs = set(s.upper() for s in dl1["sequence"])
    pool = read_dataset(args.pool)
    extra = pd.concat([pool["train"], pool["val"]], ignore_index=True)
    n_pool = len(extra)
    extra = extra[~extra["sequence"].str.upper().isin(dl1_seqs)]
    extra = extra.drop_duplicates("sequence").reset_index(drop=True)
    n_new = len(extra)
    test = splits["test"]
    test_refs = References(test["accession"].tolist(), test["location"].tolist(),
                           test["sequence"].tolist(), "DeepLoc 1.0 test")
    hits = nearest_references(extra["sequence"].tolist(), test_refs, SearchSettings())
    extra = extra[~hits.homolog].reset_index(drop=True)
    print(f"pool {n_pool}, not in DeepLoc 1.0 {n_new}, homologous to a test protein by the "
          f"rescored search {int(hits.homolog.sum())}, kept {len(extra)}", flush=True)

    probs = teacher_probabilities(args.teacher, extra["sequence"].tolist(), "cpu", 1.0, 64)
    pseudo = np.asarray(LOCATION_CLASSES)[probs.argmax(1)]
    agree = float((pseudo == extra["location"].to_numpy()).mean())

    extra = pd.DataFrame({"accession": extra["accession"], "sequence": extra["sequence"],
                          "location": pseudo,
                          "source": f"{PSEUDO_LABEL_SOURCE} of {args.teacher} on {args.pool}"})
    dl1_source = "data/deeploc1/deeploc_data.fasta.gz"
    train = pd.concat([splits["train"].assign(source=dl1_source), extra], ignore_index=True)
    table = {"train": train, "val": splits["val"].assign(source=dl1_source),
             "test": splits["test"].assign(source=dl1_source)}
    write_dataset(table, out)
    report = {"teacher": args.teacher, "pool": args.pool, "model": args.model,
              "pool_train_val": n_pool, "not_in_deeploc1": n_new,
              "homologous_to_test_rescored_search": int(hits.homolog.sum()),
              "pseudo_labelled": len(extra),
              "pseudo_label_agrees_with_swissprot": round(agree, 4),
              "pseudo_label_counts": pd.Series(pseudo).value_counts().to_dict(),
              "splits": {k: len(v) for k, v in table.items()}}
    out.with_suffix("").with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
