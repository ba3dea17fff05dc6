"""Write a synthetic UniProtKB/Swiss-Prot flat file in the real format (for benchmarks).

Entries have every line type of a real entry (ID, AC with secondary accessions, DT, DE, GN,
OS, OC, OX, RN..RL references, CC topics including SUBCELLULAR LOCATION in the modern
``{ECO:...}`` style and the old ``(By similarity)`` style, isoform blocks, DR, PE, KW, FT
features (SIGNAL, TRANSIT, TRANSMEM/TOPO_DOM, ...), SQ with 60 residues per line in blocks of
10, ``//``). Location terms, topologies and orientations come from UniProt's controlled
vocabulary ``data/vocab/subcell.txt``. Sequence lengths are log-normal (mean about 360, so
the default 570,000 entries hold about 205 M residues, like Swiss-Prot) and residues follow
the Swiss-Prot amino-acid composition. The ``CRC64`` field is a deterministic 64-bit hash,
not the real CRC64 (no reader here checks it). Output is gzip when the name ends in ``.gz``.
Deterministic given ``--seed``.

Usage::

    python benchmarks/generate_swissprot.py --entries 50000 --out benchmarks/generated/sp50k.dat.gz
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SUBCELL = REPO / "data" / "vocab" / "subcell.txt"

#: Amino-acid composition of UniProtKB/Swiss-Prot (percent; release statistics).
SWISSPROT_COMPOSITION: dict[str, float] = {
    "A": 8.25, "R": 5.53, "N": 4.06, "D": 5.45, "C": 1.37, "Q": 3.93, "E": 6.75,
    "G": 7.07, "H": 2.27, "I": 5.96, "L": 9.66, "K": 5.84, "M": 2.42, "F": 3.86,
    "P": 4.70, "S": 6.56, "T": 5.34, "W": 1.08, "Y": 2.92, "V": 6.87,
}  # fmt: skip
#: Residue masses (Da, in a chain) for the MW field.
_MASS = {
    "A": 71.08, "R": 156.19, "N": 114.10, "D": 115.09, "C": 103.14, "Q": 128.13,
    "E": 129.12, "G": 57.05, "H": 137.14, "I": 113.16, "L": 113.16, "K": 128.17,
    "M": 131.19, "F": 147.18, "P": 97.12, "S": 87.08, "T": 101.10, "W": 186.21,
    "Y": 163.18, "V": 99.13,
}  # fmt: skip
LENGTH_SIGMA = 0.62
MEAN_LENGTH = 360.0
MIN_LENGTH, MAX_LENGTH = 5, 35_000

ORGANISMS = [
    ("HUMAN", "Homo sapiens (Human).", 9606,
     "Eukaryota; Metazoa; Chordata; Craniata; Vertebrata; Euteleostomi; Mammalia; "
     "Eutheria; Euarchontoglires; Primates; Haplorrhini; Catarrhini; Hominidae; Homo"),
    ("MOUSE", "Mus musculus (Mouse).", 10090,
     "Eukaryota; Metazoa; Chordata; Craniata; Vertebrata; Euteleostomi; Mammalia; "
     "Eutheria; Euarchontoglires; Glires; Rodentia; Myomorpha; Muroidea; Muridae; Murinae; "
     "Mus; Mus"),
    ("YEAST", "Saccharomyces cerevisiae (strain ATCC 204508 / S288c) (Baker's yeast).", 559292,
     "Eukaryota; Fungi; Dikarya; Ascomycota; Saccharomycotina; Saccharomycetes; "
     "Saccharomycetales; Saccharomycetaceae; Saccharomyces"),
    ("ARATH", "Arabidopsis thaliana (Mouse-ear cress).", 3702,
     "Eukaryota; Viridiplantae; Streptophyta; Embryophyta; Tracheophyta; Spermatophyta; "
     "Magnoliopsida; eudicotyledons; Gunneridae; Pentapetalae; rosids; malvids; "
     "Brassicales; Brassicaceae; Camelineae; Arabidopsis"),
    ("ECOLI", "Escherichia coli (strain K12).", 83333,
     "Bacteria; Pseudomonadota; Gammaproteobacteria; Enterobacterales; "
     "Enterobacteriaceae; Escherichia"),
    ("DROME", "Drosophila melanogaster (Fruit fly).", 7227,
     "Eukaryota; Metazoa; Ecdysozoa; Arthropoda; Hexapoda; Insecta; Pterygota; "
     "Neoptera; Endopterygota; Diptera; Brachycera; Muscomorpha; Ephydroidea; "
     "Drosophilidae; Drosophila; Sophophora"),
]  # fmt: skip
EVIDENCE = ["ECO:0000269|PubMed:{p}", "ECO:0000250|UniProtKB:{a}", "ECO:0000255",
            "ECO:0000305", "ECO:0000269|PubMed:{p}, ECO:0000305|PubMed:{q}",
            "ECO:0000256|ARBA:ARBA00004141", "ECO:0000269|Ref.1"]  # fmt: skip
QUALIFIERS = ["By similarity", "Probable", "Potential"]
OTHER_TOPICS = ["CATALYTIC ACTIVITY", "SUBUNIT", "TISSUE SPECIFICITY", "PTM", "DOMAIN",
                "INDUCTION", "DISEASE", "MISCELLANEOUS"]  # fmt: skip
OTHER_FEATURES = ["DOMAIN", "REGION", "MOD_RES", "DISULFID", "BINDING", "VARIANT",
                  "CONFLICT", "HELIX", "STRAND", "TURN", "COMPBIAS", "CARBOHYD"]  # fmt: skip
WORDS = (
    "protein binds regulates transport membrane complex activity cellular signaling "
    "required for the of in and to with plays a role during development response stress "
    "kinase substrate catalyzes hydrolysis mitochondrial nuclear export import degradation"
).split()
DR_DBS = ["EMBL", "RefSeq", "AlphaFoldDB", "SMR", "STRING", "PaxDb", "Ensembl", "KEGG",
          "eggNOG", "InterPro", "Pfam", "PROSITE", "GO", "Proteomes", "Gene3D"]  # fmt: skip
KEYWORDS = ["Membrane", "Transmembrane", "Transmembrane helix", "Signal", "Nucleus",
            "Cytoplasm", "Reference proteome", "Phosphoprotein", "Glycoprotein",
            "Disulfide bond", "Hydrolase", "Transferase", "Transit peptide",
            "Mitochondrion"]  # fmt: skip


def load_vocabulary(path: Path = SUBCELL) -> tuple[list[str], list[str], list[str]]:
    """Location term paths (``SL`` lines of ``ID`` records), topologies (``IT``) and
    orientations (``IO``) of UniProt's ``subcell.txt``."""
    terms, topologies, orientations = [], [], []
    kind = None
    for line in path.read_text().splitlines():
        code, value = line[:2], line[5:].strip().rstrip(".")
        if code == "ID":
            kind = "ID"
        elif code == "IT":
            kind = None
            topologies.append(value)
        elif code == "IO":
            kind = None
            orientations.append(value)
        elif code == "SL" and kind == "ID":
            terms.append(value)
            kind = None
    return terms, topologies, orientations


def wrap(prefix: str, text: str, width: int = 75, indent: str = "") -> str:
    """Greedy word wrap into flat-file lines ``prefix + text`` of at most 5 + width chars."""
    lines, cur = [], ""
    for w in text.split(" "):
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = indent + w
        else:
            cur = f"{cur} {w}" if cur else w
    lines.append(cur)
    return "".join(f"{prefix}{ln}\n" for ln in lines)


def _accession(i: int) -> str:
    """Unique primary accession of pattern [OPQ][0-9][A-Z0-9]{3}[0-9] for i < 1.4 M."""
    b36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    q, r = divmod(i, 3)
    d1, q = q % 10, q // 10
    d2, q = q % 10, q // 10
    c = [b36[(q // 36**k) % 36] for k in range(3)]
    return f"{'OPQ'[r]}{d1}{''.join(c)}{d2}"


def _secondary(j: int) -> str:
    """Unique secondary accession of pattern [A-NR-Z][0-9][A-Z][A-Z0-9]{2}[0-9]."""
    letters = "ABCDEFGHIJKLMNRSTUVWXYZ"
    b36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    a, j = letters[j % 23], j // 23
    d1, j = j % 10, j // 10
    c1, j = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[j % 26], j // 26
    c2, j = b36[j % 36], j // 36
    c3, j = b36[j % 36], j // 36
    return f"{a}{d1}{c1}{c2}{c3}{j % 10}"


def sample_lengths(
    rng: np.random.Generator,
    count: int,
    mean: float = MEAN_LENGTH,
    sigma: float = LENGTH_SIGMA,
    low: int = MIN_LENGTH,
    high: int = MAX_LENGTH,
) -> np.ndarray:
    """``count`` log-normal sequence lengths (``int64``) of the given mean (before clipping
    to ``[low, high]``); ``sigma`` is the standard deviation of the log."""
    mu = float(np.log(mean) - sigma**2 / 2)
    return np.clip(np.rint(rng.lognormal(mu, sigma, size=count)), low, high).astype(np.int64)


def format_sequence(seq: bytes) -> bytes:
    """The SQ block body: 5 spaces, 60 residues per line in blocks of 10."""
    n = len(seq)
    k = np.arange(n)
    r = k % 60
    nlines = (n + 59) // 60
    pos = (k // 60) * 71 + 5 + r + r // 10
    last_r = (n - 1) % 60
    total = (nlines - 1) * 71 + 5 + last_r + last_r // 10 + 2
    out = np.full(total, ord(" "), dtype=np.uint8)
    out[pos] = np.frombuffer(seq, dtype=np.uint8)
    ends = np.arange(1, nlines) * 71 - 1
    out[ends] = ord("\n")
    out[-1] = ord("\n")
    return out.tobytes()


class _Generator:
    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.terms, self.topologies, self.orientations = load_vocabulary()
        letters = list(SWISSPROT_COMPOSITION)
        p = np.array([SWISSPROT_COMPOSITION[a] for a in letters])
        self.letters = np.frombuffer("".join(letters).encode(), dtype=np.uint8)
        self.p = p / p.sum()
        self.mass = np.array([_MASS[a] for a in letters])
        self.secondary = 0

    # --- text pieces ----------------------------------------------------------------------
    def _evidence(self) -> str:
        rng = self.rng
        ev = EVIDENCE[rng.integers(len(EVIDENCE))]
        return ev.format(
            p=int(rng.integers(1_000_000, 40_000_000)),
            q=int(rng.integers(1_000_000, 40_000_000)),
            a=_accession(int(rng.integers(1_000_000))),
        )

    def _sentence(self, n: int) -> str:
        idx = self.rng.integers(len(WORDS), size=n)
        s = " ".join(WORDS[i] for i in idx)
        return s[0].upper() + s[1:] + "."

    def subcellular_block(self, isoform: str | None, modern: bool) -> str:
        rng = self.rng
        locs = []
        for _ in range(int(rng.integers(1, 4))):
            term = self.terms[rng.integers(len(self.terms))]
            parts = [term]
            if rng.random() < 0.3:
                parts.append(self.topologies[rng.integers(len(self.topologies))])
                if rng.random() < 0.3:
                    parts.append(self.orientations[rng.integers(len(self.orientations))])
            if modern:
                parts = [f"{p} {{{self._evidence()}}}" if rng.random() < 0.8 else p for p in parts]
            elif rng.random() < 0.5:
                parts[-1] += f" ({QUALIFIERS[rng.integers(3)]})"
            locs.append("; ".join(parts) + ".")
        text = " ".join(locs)
        if rng.random() < 0.3:
            note = self._sentence(int(rng.integers(5, 25)))
            text += f" Note={note}"
            if modern:
                text += f" {{{self._evidence()}}}."
        if isoform:
            text = f"[{isoform}]: {text}"
        return wrap("CC       ", "-!- SUBCELLULAR LOCATION: " + text)[9:].replace(
            "-!- ", "CC   -!- ", 1
        )

    def entry(self, i: int, seq: bytes, mw: float) -> str:
        rng = self.rng
        n = len(seq)
        org = ORGANISMS[rng.integers(len(ORGANISMS))]
        reviewed = rng.random() < 0.95
        status = "Reviewed;" if reviewed else "Unreviewed;"
        name = f"S{i:07d}_{org[0]}"
        out = [f"ID   {name:<24}{status}{n:>{21 - len(status)}} AA.\n"]
        acc = [_accession(i)]
        for _ in range(int(rng.integers(0, 4)) if rng.random() < 0.3 else 0):
            acc.append(_secondary(self.secondary))
            self.secondary += 1
        out.append(wrap("AC   ", " ".join(a + ";" for a in acc)))
        out.append(
            "DT   01-JAN-1990, integrated into UniProtKB/Swiss-Prot.\n"
            "DT   01-JAN-1990, sequence version 1.\n"
            f"DT   28-JAN-2026, entry version {int(rng.integers(1, 200))}.\n"
        )
        ev = f" {{{self._evidence()}}}" if rng.random() < 0.5 else ""
        out.append(f"DE   RecName: Full=Synthetic protein {i}{ev};\n")
        if rng.random() < 0.3:
            out.append(f"DE   AltName: Full=Synthetic factor {i % 997};\n")
        if rng.random() < 0.9:
            out.append(f"GN   Name=SYN{i}{ev}; Synonyms=SY{i % 9973};\n")
        out.append(f"OS   {org[1]}\n")
        out.append(wrap("OC   ", org[3] + "."))
        out.append(f"OX   NCBI_TaxID={org[2]};\n")
        for r in range(int(rng.integers(1, 8))):
            pm = int(rng.integers(1_000_000, 40_000_000))
            out.append(
                f"RN   [{r + 1}]\nRP   NUCLEOTIDE SEQUENCE [MRNA].\n"
                f"RX   PubMed={pm}; DOI=10.1000/synthetic.{pm};\n"
                "RA   Smith J., Doe A., Garcia M., Chen L., Novak P., Ito K.;\n"
                + wrap("RT   ", '"' + self._sentence(int(rng.integers(6, 20)))[:-1] + '.";')
                + f"RL   J. Synth. Biol. {int(rng.integers(1, 99))}:{pm % 900 + 1}-"
                f"{pm % 900 + 12}({int(rng.integers(1980, 2026))}).\n"
            )
        out.append(wrap("CC       ", "-!- FUNCTION: " + self._sentence(int(rng.integers(8, 40))))
                   .replace("CC       -!- ", "CC   -!- ", 1))  # fmt: skip
        if rng.random() < 0.7:
            modern = rng.random() < 0.75
            out.append(self.subcellular_block(None, modern))
            if rng.random() < 0.1:
                for k in range(int(rng.integers(1, 3))):
                    out.append(self.subcellular_block(f"Isoform {k + 2}", modern))
        for _ in range(int(rng.integers(0, 4))):
            topic = OTHER_TOPICS[rng.integers(len(OTHER_TOPICS))]
            text = f"-!- {topic}: " + self._sentence(int(rng.integers(8, 50)))
            out.append(wrap("CC       ", text).replace("CC       -!- ", "CC   -!- ", 1))
        out.append(
            "CC   -!- SIMILARITY: Belongs to the synthetic protein family.\n"
            "CC   ---------------------------------------------------------------------------\n"
            "CC   Copyrighted by the UniProt Consortium, see https://www.uniprot.org/terms\n"
            "CC   Distributed under the Creative Commons Attribution (CC BY 4.0) License\n"
            "CC   ---------------------------------------------------------------------------\n"
        )
        k = int(rng.integers(8, 45))
        dbs, ids = rng.integers(len(DR_DBS), size=k), rng.integers(1_000_000, size=k)
        out.extend(
            f"DR   {DR_DBS[d]}; {DR_DBS[d][:3].upper()}{x:06d}; -.\n"
            for d, x in zip(dbs, ids, strict=True)
        )
        out.append(f"PE   {1 if reviewed else 3}: Evidence at protein level;\n")
        kws = sorted({KEYWORDS[k] for k in rng.integers(len(KEYWORDS), size=4)})
        out.append(wrap("KW   ", "; ".join(kws) + "."))
        out.append(self.features(n))
        crc = zlib.crc32(seq) << 32 | zlib.adler32(seq)
        out.append(f"SQ   SEQUENCE {n:>5} AA;  {int(mw):>6} MW;  {crc:016X} CRC64;\n")
        return "".join(out)

    def features(self, n: int) -> str:
        rng = self.rng
        out = []
        start = 1
        if n > 60 and rng.random() < 0.2:
            end = int(rng.integers(15, 35))
            out.append(f"FT   SIGNAL          1..{end}\n"
                       f"FT                   /evidence=\"{self._evidence()}\"\n")  # fmt: skip
            start = end + 1
        elif n > 100 and rng.random() < 0.08:
            end = int(rng.integers(20, 60))
            out.append(f"FT   TRANSIT         1..{end}\n"
                       "FT                   /note=\"Mitochondrion\"\n"
                       "FT                   /evidence=\"ECO:0000255\"\n")  # fmt: skip
            start = end + 1
        out.append(f"FT   CHAIN           {start}..{n}\n"
                   f"FT                   /note=\"Synthetic protein\"\n"
                   f"FT                   /id=\"PRO_{rng.integers(1e10):010d}\"\n")  # fmt: skip
        k = int(rng.integers(1, 8))
        seg = (n - start + 1) // k
        if seg >= 40 and rng.random() < 0.2:  # k helices with topological domains between
            pos = start
            for h in range(k):
                a = start + h * seg + seg // 2 - 10
                side = "Cytoplasmic" if h % 2 else "Extracellular"
                out.append(
                    f"FT   TOPO_DOM        {pos}..{a - 1}\n"
                    f'FT                   /note="{side}"\n'
                    'FT                   /evidence="ECO:0000255"\n'
                    f"FT   TRANSMEM        {a}..{a + 20}\n"
                    'FT                   /note="Helical"\n'
                    'FT                   /evidence="ECO:0000255"\n'
                )
                pos = a + 21
            if pos <= n:
                side = "Extracellular" if k % 2 else "Cytoplasmic"
                out.append(f"FT   TOPO_DOM        {pos}..{n}\n"
                           f'FT                   /note="{side}"\n')  # fmt: skip
        k = int(rng.integers(0, 24))  # features the parser skips
        kinds = rng.integers(len(OTHER_FEATURES), size=k)
        starts = rng.integers(1, n + 1, size=k)
        spans = rng.integers(0, 40, size=k)
        notes = rng.random(size=k) < 0.6
        for kind, a, span, has_note in zip(kinds, starts, spans, notes, strict=True):
            b = min(n, int(a + span))
            loc = f"{a}..{b}" if b > a else f"{a}"
            out.append(f"FT   {OTHER_FEATURES[kind]:<16}{loc}\n")
            if has_note:
                out.append(f'FT                   /note="{self._sentence(3)[:-1]}"\n')
            out.append('FT                   /evidence="ECO:0000255"\n')
        if rng.random() < 0.1:
            a = int(rng.integers(1, max(n - 5, 2)))
            out.append(f"FT   MOTIF           {a}..{min(a + 4, n)}\n"
                       "FT                   /note=\"Nuclear localization signal\"\n")  # fmt: skip
        return "".join(out)

    def batch(self, first: int, count: int) -> bytes:
        rng = self.rng
        lengths = sample_lengths(rng, count)
        codes = rng.choice(len(self.letters), size=int(lengths.sum()), p=self.p)
        residues = self.letters[codes].tobytes()
        mws = np.add.reduceat(self.mass[codes], np.r_[0, np.cumsum(lengths)[:-1]]) + 18.02
        out = []
        pos = 0
        for k in range(count):
            seq = residues[pos : pos + lengths[k]]
            pos += int(lengths[k])
            out.append(self.entry(first + k, seq, float(mws[k])).encode())
            out.append(format_sequence(seq))
            out.append(b"//\n")
        return b"".join(out)


def generate(
    out: str | os.PathLike,
    entries: int = 570_000,
    seed: int = 0,
    *,
    batch: int = 5_000,
    compresslevel: int = 4,
    progress: bool = False,
) -> Path:
    """Write ``entries`` synthetic Swiss-Prot entries to ``out`` (gzip if it ends in ``.gz``).

    The file is written to a temporary name in the same directory and renamed at the end.

    Args:
        out: output path.
        entries: number of entries.
        seed: random seed (same seed, same file).
        batch: entries generated per vectorised batch.
        compresslevel: gzip level for ``.gz`` outputs.
        progress: print progress to stderr.

    Returns:
        The output path.

    Raises:
        ValueError: ``entries`` < 1 or more than the 1.4 M unique accessions available.
    """
    if entries < 1 or entries > 1_400_000:
        raise ValueError(f"entries must be between 1 and 1,400,000, got {entries}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    gen = _Generator(seed)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=out.name + ".", suffix=".tmp")
    t0 = time.perf_counter()
    try:
        with os.fdopen(fd, "wb") as raw:
            sink = (
                gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=compresslevel, mtime=0)
                if out.name.endswith(".gz")
                else raw
            )
            for first in range(0, entries, batch):
                sink.write(gen.batch(first, min(batch, entries - first)))
                if progress:
                    done = min(first + batch, entries)
                    print(f"\r{done:,}/{entries:,} entries  {time.perf_counter() - t0:.0f}s",
                          end="", file=sys.stderr)  # fmt: skip
            if sink is not raw:
                sink.close()
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if progress:
        print(file=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entries", type=int, default=570_000, help="number of entries")
    ap.add_argument("--seed", type=int, default=0, help="random seed")
    ap.add_argument(
        "--out",
        default=str(REPO / "benchmarks" / "generated" / "swissprot_synthetic.dat.gz"),
        help="output file; gzip when it ends in .gz",
    )
    ap.add_argument("--level", type=int, default=4, help="gzip compression level (1-9)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    path = generate(args.out, args.entries, args.seed, compresslevel=args.level, progress=True)
    print(f"wrote {args.entries:,} entries to {path} ({path.stat().st_size / 1e6:.1f} MB) in "
          f"{time.perf_counter() - t0:.1f}s")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
