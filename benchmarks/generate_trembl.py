"""Write a synthetic UniProtKB/TrEMBL FASTA file (``uniprot_trembl.fasta`` shaped, for benchmarks).

Records look like UniProt's own FASTA download::

    >tr|A0A3Q8CJ17|A0A3Q8CJ17_ECOLX Uncharacterized protein OS=Escherichia coli OX=562 PE=4 SV=1
    MKLVTAGLLAPS...   (60 residues per line)

* **Accessions** are 10-character TrEMBL accessions (``A0A`` + ``[A-Z0-9]{2}[0-9][A-Z]
  [A-Z0-9]{2}[0-9]``), matching UniProt's documented accession regex
  ``[OPQ][0-9][A-Z0-9]{3}[0-9]|[A-NR-Z][0-9]([A-Z][A-Z0-9]{2}[0-9]){1,2}``; entry ``i`` gets a
  unique accession (a bijective scramble of ``i``, so they do not look sequential). The entry
  name is ``ACCESSION_MNEMONIC``, as in TrEMBL.
* **Organisms**: a handful of the species with most TrEMBL entries (bacteria first) with their
  UniProt species mnemonics and NCBI taxon ids; the weights are rough, not release statistics.
* **Header fields**: protein names from a short list ("Uncharacterized protein" most often),
  ``GN=`` (synthetic locus tags) on about 60 % of the records, ``PE=`` with approximate TrEMBL
  proportions (mostly 4 "predicted" and 3 "inferred from homology"), ``SV=`` mostly 1.
* **Lengths**: log-normal with mean about 360 (so 5 M entries hold about 1.8 G residues), a
  wider spread than Swiss-Prot's (TrEMBL has more fragments and long predicted proteins),
  clipped to 20..35,000 (the sampler of ``generate_swissprot.py``).
* **Residues**: i.i.d. draws from an **approximate** UniProtKB/TrEMBL amino-acid composition
  (:data:`TREMBL_COMPOSITION`, percent, normalised; close to the release statistics but not
  copied from a specific release), by inverse CDF on 16-bit uniform integers (about 5 ns per
  residue, 20x faster than ``Generator.choice``; composition quantised to 1/65536).

Fast: everything but the header strings is vectorised numpy, written in batches of 20,000
records (about 7 M residues). The output is **plain** FASTA (no gzip: compressing 2+ GB would
cost minutes for nothing a benchmark needs, and a plain input is read in place by a sharded
build). The file is written to a temporary name and renamed at the end. Deterministic given
``--seed``.

Usage::

    python benchmarks/generate_trembl.py --entries 5000000 \\
        --out benchmarks/generated/trembl_5000000_seed0.fasta
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from generate_swissprot import sample_lengths  # noqa: E402

from kb.atomic import atomic_path  # noqa: E402

#: Approximate amino-acid composition of UniProtKB/TrEMBL (percent; normalised when used).
TREMBL_COMPOSITION: dict[str, float] = {
    "A": 9.03, "R": 5.84, "N": 3.79, "D": 5.47, "C": 1.29, "Q": 3.80, "E": 6.24,
    "G": 7.27, "H": 2.22, "I": 5.53, "L": 9.85, "K": 4.93, "M": 2.33, "F": 3.88,
    "P": 4.87, "S": 6.79, "T": 5.55, "W": 1.30, "Y": 2.88, "V": 6.86,
}  # fmt: skip
MEAN_LENGTH = 360.0
LENGTH_SIGMA = 0.75
MIN_LENGTH, MAX_LENGTH = 20, 35_000
LINE_WIDTH = 60

#: (species mnemonic, OS, OX, relative weight, locus-tag prefix of the synthetic GN=).
ORGANISMS = [
    ("ECOLX", "Escherichia coli", 562, 8.0, "EC"),
    ("KLEPN", "Klebsiella pneumoniae", 573, 5.0, "KP"),
    ("STREE", "Streptococcus pneumoniae", 1313, 4.0, "SP"),
    ("MYCTX", "Mycobacterium tuberculosis", 1773, 4.0, "MT"),
    ("STAAU", "Staphylococcus aureus", 1280, 4.0, "SA"),
    ("SALER", "Salmonella enterica", 28901, 3.0, "SE"),
    ("PSEAI", "Pseudomonas aeruginosa", 287, 3.0, "PA"),
    ("ACIBA", "Acinetobacter baumannii", 470, 2.0, "AB"),
    ("HUMAN", "Homo sapiens", 9606, 1.0, "HS"),
    ("MOUSE", "Mus musculus", 10090, 1.0, "MM"),
    ("DANRE", "Danio rerio", 7955, 1.0, "DR"),
    ("ARATH", "Arabidopsis thaliana", 3702, 1.0, "AT"),
    ("WHEAT", "Triticum aestivum", 4565, 2.0, "TA"),
]  # fmt: skip
#: (protein name, relative weight).
NAMES = [
    ("Uncharacterized protein", 40.0), ("Putative uncharacterized protein", 6.0),
    ("ABC transporter ATP-binding protein", 4.0), ("Histidine kinase", 3.0),
    ("LysR family transcriptional regulator", 3.0), ("MFS transporter", 3.0),
    ("Protein kinase domain-containing protein", 3.0), ("Methyltransferase", 2.0),
    ("Glycosyltransferase", 2.0), ("Hypothetical protein", 2.0),
    ("DNA-directed RNA polymerase subunit beta", 1.0), ("Zinc finger protein", 1.0),
]  # fmt: skip
#: Approximate shares of protein existence levels in TrEMBL (1 protein, 2 transcript,
#: 3 homology, 4 predicted, 5 uncertain).
PE_WEIGHTS = {1: 0.001, 2: 0.018, 3: 0.26, 4: 0.72, 5: 0.001}
SV_WEIGHTS = {1: 0.9, 2: 0.08, 3: 0.02}
GENE_FRACTION = 0.6

_B36 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)
_UPPER = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)
_DIGIT = np.frombuffer(b"0123456789", dtype=np.uint8)
#: Free positions of ``A0A`` + [A-Z0-9]{2}[0-9][A-Z][A-Z0-9]{2}[0-9], last first.
_RADICES = [_DIGIT, _B36, _B36, _UPPER, _DIGIT, _B36, _B36]
ACCESSION_CAPACITY = int(np.prod([len(r) for r in _RADICES], dtype=np.int64))
_SCRAMBLE = 2_654_435_761  # a prime not dividing ACCESSION_CAPACITY: i -> i * p mod C is 1:1


def accessions(first: int, count: int) -> list[str]:
    """The TrEMBL-style accessions of entries ``first .. first + count - 1`` (unique for
    ``i + 1`` < :data:`ACCESSION_CAPACITY`, about 4.4 G)."""
    v = (np.arange(first + 1, first + count + 1, dtype=np.int64) * _SCRAMBLE) % ACCESSION_CAPACITY
    chars = np.empty((count, 10), dtype=np.uint8)
    chars[:, :3] = np.frombuffer(b"A0A", dtype=np.uint8)
    for col, radix in zip(range(9, 2, -1), _RADICES, strict=True):
        v, digit = np.divmod(v, len(radix))
        chars[:, col] = radix[digit]
    return chars.view("S10").ravel().astype(str).tolist()


def _weights(values: list[float]) -> np.ndarray:
    p = np.asarray(values, dtype=np.float64)
    return p / p.sum()


class ResidueSampler:
    """i.i.d. residues of a composition, by inverse CDF on 16-bit uniform integers."""

    def __init__(self, composition: dict[str, float]):
        letters = np.frombuffer("".join(composition).encode(), dtype=np.uint8)
        cdf = np.cumsum(_weights(list(composition.values())))
        slots = np.searchsorted(cdf, (np.arange(1 << 16) + 0.5) / (1 << 16), side="right")
        self.table = letters[np.minimum(slots, len(letters) - 1)]

    def __call__(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` residues (ASCII ``uint8``)."""
        return self.table[rng.integers(0, 1 << 16, size=n, dtype=np.uint16)]


def fasta_block(headers: list[bytes], residues: np.ndarray, lengths: np.ndarray,
                width: int = LINE_WIDTH) -> bytes:
    """FASTA records: each header line, then its residues in lines of ``width``.

    Arguments:
        headers: header lines (``>...\\n``), one per record.
        residues: all records' residues, concatenated (``uint8``).
        lengths: residues per record (each >= 1).
    """
    hdr = np.frombuffer(b"".join(headers), dtype=np.uint8)
    hdr_len = np.fromiter(map(len, headers), dtype=np.int64, count=len(headers))
    lines = (lengths + width - 1) // width
    size = hdr_len + lengths + lines
    start = np.concatenate([[0], np.cumsum(size)[:-1]])
    out = np.full(int(size.sum()), ord("\n"), dtype=np.uint8)
    hdr_start = np.concatenate([[0], np.cumsum(hdr_len)[:-1]])
    out[np.repeat(start - hdr_start, hdr_len) + np.arange(hdr.shape[0])] = hdr
    res_start = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    k = np.arange(residues.shape[0], dtype=np.int64) - np.repeat(res_start, lengths)
    out[np.repeat(start + hdr_len, lengths) + k + k // width] = residues
    return out.tobytes()


class _Generator:
    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.residues = ResidueSampler(TREMBL_COMPOSITION)
        self.p_org = _weights([o[3] for o in ORGANISMS])
        self.p_name = _weights([w for _, w in NAMES])
        self.pe = list(PE_WEIGHTS)
        self.p_pe = _weights(list(PE_WEIGHTS.values()))
        self.sv = list(SV_WEIGHTS)
        self.p_sv = _weights(list(SV_WEIGHTS.values()))
        # Per organism: "_MNEMONIC " and " OS=... OX=..." (the constant parts of a header).
        self.suffix = [f"_{o[0]} " for o in ORGANISMS]
        self.species = [f" OS={o[1]} OX={o[2]}" for o in ORGANISMS]

    def batch(self, first: int, count: int) -> tuple[bytes, int]:
        """``count`` records starting at entry ``first``: (FASTA bytes, residues)."""
        rng = self.rng
        lengths = sample_lengths(rng, count, MEAN_LENGTH, LENGTH_SIGMA, MIN_LENGTH, MAX_LENGTH)
        residues = self.residues(rng, int(lengths.sum()))
        org = rng.choice(len(ORGANISMS), size=count, p=self.p_org).tolist()
        name = rng.choice(len(NAMES), size=count, p=self.p_name).tolist()
        gene = (rng.random(count) < GENE_FRACTION).tolist()
        locus = rng.integers(1, 100_000, size=count).tolist()
        pe = rng.choice(self.pe, size=count, p=self.p_pe).tolist()
        sv = rng.choice(self.sv, size=count, p=self.p_sv).tolist()
        headers = [
            (f">tr|{a}|{a}{self.suffix[o]}{NAMES[n][0]}{self.species[o]}"
             + (f" GN={ORGANISMS[o][4]}_{g:05d}" if has else "")
             + f" PE={e} SV={v}\n").encode()
            for a, o, n, has, g, e, v in zip(accessions(first, count), org, name, gene, locus,
                                             pe, sv, strict=True)
        ]
        return fasta_block(headers, residues, lengths), int(lengths.sum())


def generate(
    out: str | Path,
    entries: int = 5_000_000,
    seed: int = 0,
    *,
    batch: int = 20_000,
    progress: bool = False,
) -> tuple[Path, int]:
    """Write ``entries`` synthetic TrEMBL records to the plain FASTA file ``out``.

    Arguments:
        out: output path (written to a temporary name, renamed at the end).
        entries: number of records.
        seed: random seed (same seed and ``entries``, same file; ``batch`` too).
        batch: records generated per vectorised batch.
        progress: print progress to stderr.

    Returns:
        The output path and the number of residues written.

    Raises:
        ValueError: ``entries`` < 1 or more than the unique accessions available.
    """
    if entries < 1 or entries >= ACCESSION_CAPACITY:
        raise ValueError(f"entries must be between 1 and {ACCESSION_CAPACITY:,}, got {entries}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    gen = _Generator(seed)
    t0 = time.perf_counter()
    total = 0
    with atomic_path(out) as tmp, open(tmp, "wb") as fh:
        for first in range(0, entries, batch):
            data, n = gen.batch(first, min(batch, entries - first))
            fh.write(data)
            total += n
            if progress:
                done = min(first + batch, entries)
                print(f"\r{done:,}/{entries:,} records, {total / 1e6:,.0f} M residues  "
                      f"{time.perf_counter() - t0:.0f}s", end="", file=sys.stderr)
    if progress:
        print(file=sys.stderr)
    return out, total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entries", type=int, default=5_000_000, help="number of records")
    ap.add_argument("--seed", type=int, default=0, help="random seed")
    ap.add_argument("--out", type=Path, default=None,
                    help="output FASTA (plain); default "
                         "benchmarks/generated/trembl_ENTRIES_seedSEED.fasta")
    args = ap.parse_args(argv)
    out = args.out or REPO / "benchmarks" / "generated" / (
        f"trembl_{args.entries}_seed{args.seed}.fasta")
    t0 = time.perf_counter()
    path, residues = generate(out, args.entries, args.seed, progress=True)
    print(f"wrote {args.entries:,} records, {residues:,} residues to {path} "
          f"({path.stat().st_size / 1e6:,.1f} MB) in {time.perf_counter() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
