"""Why validation over-estimates test accuracy on DeepLoc 1.0: homologs of training proteins in
the random validation carve-out, and validation accuracy without them.

    python benchmarks/val_homology.py [NAME=DIR ...] [--k 8] [--novel 0.05] [--out FILE.md]

For every validation and test protein of the official split (``[data]`` defaults: 10%
stratified carve-out, seed 0), the largest share of its distinct k-mers (default k = 8,
standard residues only, I = L as in the kb k-mer index) that one training protein contains:
near-duplicates score close to 1, unrelated proteins close to 0. A protein whose share is at
most ``--novel`` counts as novel.
The official test set was homology-reduced against training, the carve-out was not.

With checkpoints (``NAME=DIR``, models or ensembles trained on that split), each one's accuracy
on all validation proteins and on the novel ones (inferred here) beside its test accuracy (read
from its ``metrics.json``), the mean gap to test and the Spearman rank correlation with test.
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

from _report import emit, run_specs  # noqa: E402  (benchmarks/ is on sys.path)

from kb.index import BASE, kmer_code_table  # noqa: E402

_CODES = kmer_code_table().astype(np.int64)  # the kb index's residue codes (I = L; 255 = other)


def kmer_codes(seq: str, k: int) -> np.ndarray:
    """Sorted distinct codes of the k-mers of ``seq`` made of standard residues (I = L, as in
    the kb k-mer index)."""
    a = _CODES[np.frombuffer(seq.encode(), dtype=np.uint8)]
    if len(a) < k:
        return np.zeros(0, dtype=np.int64)
    w = np.lib.stride_tricks.sliding_window_view(a, k)
    w = w[(w < BASE).all(1)]
    return np.unique(w @ (BASE ** np.arange(k, dtype=np.int64)))


class KmerSharing:
    """Which reference sequences hold each k-mer (sorted codes with their sequence ids)."""

    def __init__(self, references: list[str], k: int = 8):
        if not 1 <= k <= 14:  # 19**14 < 2**63
            raise ValueError(f"k must be in 1..14, got {k}")
        self.k = k
        per = [kmer_codes(s, k) for s in references]
        codes = np.concatenate(per) if per else np.zeros(0, np.int64)
        ids = np.repeat(np.arange(len(per)), [len(p) for p in per])
        order = np.argsort(codes, kind="stable")
        self.codes, self.ids = codes[order], ids[order]

    def best_share(self, seq: str) -> float:
        """Largest fraction of ``seq``'s distinct k-mers found in a single reference (0 if none)."""
        q = kmer_codes(seq, self.k)
        if len(q) == 0:
            return 0.0
        lo = np.searchsorted(self.codes, q, "left")
        hi = np.searchsorted(self.codes, q, "right")
        hits = [self.ids[a:b] for a, b in zip(lo, hi, strict=True) if b > a]
        if not hits:
            return 0.0
        return float(np.bincount(np.concatenate(hits)).max() / len(q))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="*", help="NAME=DIR checkpoints to score")
    ap.add_argument("--k", type=int, default=8, help="k-mer length (default 8)")
    ap.add_argument("--novel", type=float, default=0.05,
                    help="a protein with at most this share is novel (default 0.05)")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--out", type=Path, help="also write the report to this markdown file")
    args = ap.parse_args(argv)

    from psl.data import DataConfig, load_splits

    splits = load_splits(DataConfig())
    sharing = KmerSharing(splits["train"]["sequence"].tolist(), args.k)
    share = {name: np.array([sharing.best_share(s) for s in splits[name]["sequence"]])
             for name in ("val", "test")}
    lines = [f"# Training-set homologs in validation vs test (k = {args.k})", "",
             "Share = the largest fraction of a protein's distinct k-mers found in one training "
             f"protein (official split, {len(splits['train'])} training proteins).", "",
             "| set | proteins | share > 0.5 | share > 0.2 | share > 0.05 | median share |",
             "|---|---|---|---|---|---|"]
    for name, s in share.items():
        lines.append(f"| {name} | {len(s)} | {(s > 0.5).mean():.3f} | {(s > 0.2).mean():.3f} | "
                     f"{(s > 0.05).mean():.3f} | {np.median(s):.3f} |")
    novel = share["val"] <= args.novel
    if args.runs:
        import torch

        from psl.data import EncodedSet
        from psl.models.checkpoint import load_model
        from psl.models.inference import infer

        torch.set_num_threads(args.threads)
        val = splits["val"]
        rows = []
        for name, path in run_specs(args.runs):
            loaded = load_model(path)
            data = EncodedSet(val["sequence"].tolist(), val["label"].tolist(),
                              loaded.config.max_len)
            y = data.labels.numpy()
            ok = infer(loaded.model, data, 64).logits.argmax(1) == y
            test = json.loads((path / "metrics.json").read_text())["test"]["accuracy"]
            rows.append({"run": name, "val": ok.mean(), "novel val": ok[novel].mean(),
                         "test": test})
        df = pd.DataFrame(rows)
        lines += ["", f"Novel validation proteins (share <= {args.novel}): {int(novel.sum())} of "
                  f"{len(novel)}.", "",
                  "| run | val accuracy | novel-val accuracy | test accuracy |",
                  "|---|---|---|---|"]
        lines += [f"| {r.run} | {r.val:.3f} | {r['novel val']:.3f} | {r.test:.3f} |"
                  for _, r in df.iterrows()]
        lines += ["", "| | val | novel val |", "|---|---|---|",
                  f"| mean minus test | {(df.val - df.test).mean():+.3f} | "
                  f"{(df['novel val'] - df.test).mean():+.3f} |",
                  f"| Spearman with test | {df.val.corr(df.test, method='spearman'):.2f} | "
                  f"{df['novel val'].corr(df.test, method='spearman'):.2f} |"]
    emit("\n".join(lines) + "\n", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
