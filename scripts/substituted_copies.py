"""A dataset table with substituted copies of the training proteins, and a teacher table that
labels originals and copies alike: distillation on more inputs than the labelled ones.

    python scripts/substituted_copies.py --dataset data/derived/dl1_pseudo8.tsv.gz \
        --teacher runs/gpu/teacher8 --rate 0.2 --seed 0 \
        --out runs/data/dl1_pseudo8_subst20.tsv.gz \
        --teacher-table runs/data/teacher8_subst20.tsv.gz

- Every training row of ``--dataset`` gets one copy (accession ``ACC~s<percent>``) in which
  ``--rate`` of its standard residues are substituted: residue ``a`` becomes ``b != a`` with
  probability proportional to ``p_b * 2^(S_ab / 2)``, the conditional that BLOSUM62's scores
  imply (``S = 2 log2(q_ab / (p_a p_b))``), ``p`` the training proteins' composition.
  Non-standard letters are kept. Seeded: the same arguments give the same copies.
- A copy's ``location`` is the teacher's most probable class (``source`` says so); val and
  test are those of ``--dataset``, untouched.
- ``--teacher-table`` holds the teacher's probabilities (``sha1`` of the sequence,
  ``accession``, ``p_<class>``; one row per distinct sequence) for every training row,
  originals and copies, for ``[train] teacher``: the teacher runs once. It is keyed by the
  sequence because a dataset may list an accession twice (DeepLoc 1.0's and DeepLoc 2.0's
  sequence of it).

Both outputs are written atomically; an existing output is refused before anything runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kb.classes import LOCATION_CLASSES  # noqa: E402
from psl.homology import sequence_sha1  # noqa: E402
from psl.sources import read_dataset, write_dataset  # noqa: E402
from psl.tables_io import write_table  # noqa: E402
from psl.training.trainer import teacher_probabilities  # noqa: E402

AMINO = "ACDEFGHIKLMNPQRSTVWY"


def substitution_matrix(sequences: list[str]) -> np.ndarray:
    """``20 x 20`` row-stochastic matrix ``P[a, b]``, zero on the diagonal, from BLOSUM62 and
    the composition of ``sequences``."""
    from Bio.Align import substitution_matrices

    blosum = substitution_matrices.load("BLOSUM62")
    counts = np.zeros(20)
    lut = np.full(256, -1, dtype=np.int64)
    lut[np.frombuffer(AMINO.encode(), dtype=np.uint8)] = np.arange(20)
    for s in sequences:
        codes = lut[np.frombuffer(s.upper().encode(), dtype=np.uint8)]
        counts += np.bincount(codes[codes >= 0], minlength=20)
    p = counts / counts.sum()
    score = np.array([[blosum[a][b] for b in AMINO] for a in AMINO], dtype=np.float64)
    w = p[None, :] * 2.0 ** (score / 2.0)
    np.fill_diagonal(w, 0.0)
    return w / w.sum(1, keepdims=True)


_INDEX = {a: i for i, a in enumerate(AMINO)}


def substitute(seq: str, rate: float, matrix: np.ndarray, rng: np.random.Generator) -> str:
    """``seq`` with ``round(rate * n)`` of its ``n`` standard residues substituted (positions
    drawn without replacement, each new residue drawn from ``matrix``'s row)."""
    chars = list(seq.upper())
    standard = [i for i, c in enumerate(chars) if c in _INDEX]
    k = int(round(rate * len(standard)))
    if k == 0:
        return "".join(chars)
    cum = np.cumsum(matrix, axis=1)
    for pos, u in zip(rng.choice(standard, size=k, replace=False), rng.random(k), strict=True):
        row = cum[_INDEX[chars[pos]]]
        chars[pos] = AMINO[min(int(np.searchsorted(row, u * row[-1], side="right")), 19)]
    return "".join(chars)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", required=True, help="dataset table (psl dataset / "
                    "scripts/pseudo_label_dataset.py) whose training rows are copied")
    ap.add_argument("--teacher", required=True, help="model or ensemble directory that "
                    "labels the copies and gives every training row's probabilities")
    ap.add_argument("--rate", type=float, default=0.2, help="fraction of the standard "
                    "residues substituted in a copy (0 < rate < 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True, help="the dataset table to write")
    ap.add_argument("--teacher-table", required=True, help="the teacher table to write")
    args = ap.parse_args()
    for path in (args.out, args.teacher_table):
        if Path(path).exists():
            sys.exit(f"{path} exists; remove it or choose another name")
    if not 0.0 < args.rate < 1.0:
        sys.exit(f"--rate must be between 0 and 1, got {args.rate}")

    splits = read_dataset(args.dataset)
    train = splits["train"].reset_index(drop=True)
    matrix = substitution_matrix(train["sequence"].tolist())
    rng = np.random.default_rng(args.seed)
    tag = f"~s{round(args.rate * 100)}"
    copies = pd.DataFrame({
        "accession": train["accession"] + tag,
        "sequence": [substitute(s, args.rate, matrix, rng) for s in train["sequence"]],
    })
    both = pd.concat([train[["accession", "sequence"]], copies], ignore_index=True)
    t = time.perf_counter()
    probs = teacher_probabilities(args.teacher, both["sequence"].tolist(), "cpu", 1.0, 64)
    print(f"teacher on {len(both)} sequences: {time.perf_counter() - t:.0f} s", flush=True)
    copies["location"] = np.asarray(LOCATION_CLASSES)[probs[len(train):].argmax(1)]
    copies["source"] = (f"substituted copy ({args.rate:.0%}, seed {args.seed}) labelled by "
                        f"{args.teacher}")
    agree = float((copies["location"].to_numpy() == train["location"].to_numpy()).mean())
    print(f"copies whose teacher label equals the original's label: {agree:.4f}")

    table = pd.DataFrame(probs, columns=[f"p_{c}" for c in LOCATION_CLASSES])
    table.insert(0, "sha1", [sequence_sha1(s) for s in both["sequence"]])
    table.insert(1, "accession", both["accession"].to_numpy())
    table = table.drop_duplicates("sha1").reset_index(drop=True)
    Path(args.teacher_table).parent.mkdir(parents=True, exist_ok=True)
    write_table(table, args.teacher_table)
    splits["train"] = pd.concat([train, copies], ignore_index=True)
    write_dataset(splits, args.out)
    print(f"wrote {args.out} ({len(splits['train'])} training rows) and {args.teacher_table}")


if __name__ == "__main__":
    main()
