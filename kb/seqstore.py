"""All residues of a knowledge base in one ``uint8`` array, with per-entry offsets.

Layout (the contract between the build, the k-mer index and the scanners):

* ``residues``: the ASCII codes of every entry's sequence, in entry order, each sequence
  followed by one separator byte ``SEPARATOR`` (``b"*"``, never a valid residue). A match
  can therefore never span two neighbouring sequences.
* ``offsets``: ``int64`` array of length ``n + 1``; entry ``i`` occupies
  ``residues[offsets[i] : offsets[i + 1] - 1]`` (the last byte of its slot is the separator).

Entry ``i`` is the row with ``entry_id = i`` in the DuckDB ``entries`` table.
On disk: ``DIR/residues.u8`` (raw bytes) and ``DIR/offsets.npy``; both are memory-mapped on
load.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["SEPARATOR", "SequenceStore"]

SEPARATOR = ord("*")
_RESIDUES = "residues.u8"
_OFFSETS = "offsets.npy"


@dataclass(frozen=True)
class SequenceStore:
    """Concatenated sequences (see module docstring for the layout)."""

    residues: np.ndarray  # uint8, total length = sum(len) + n
    offsets: np.ndarray  # int64, n + 1

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_residues(self) -> int:
        """Number of residues, separators not counted."""
        return int(self.residues.shape[0] - len(self))

    def lengths(self) -> np.ndarray:
        """Sequence length of every entry (``int64``)."""
        return np.diff(self.offsets) - 1

    def sequence(self, i: int) -> str:
        """The sequence of entry ``i`` as a string."""
        return self.residues[self.offsets[i] : self.offsets[i + 1] - 1].tobytes().decode("ascii")

    @classmethod
    def from_sequences(cls, sequences: Iterable[str]) -> SequenceStore:
        """Build a store in memory from an iterable of upper-case sequences."""
        seqs = list(sequences)
        lengths = np.fromiter((len(s) + 1 for s in seqs), dtype=np.int64, count=len(seqs))
        offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        residues = np.frombuffer(("*".join(seqs) + "*").encode("ascii"), dtype=np.uint8).copy()
        if len(seqs) == 0:
            residues = np.zeros(0, dtype=np.uint8)
        return cls(residues, offsets)

    def save(self, directory: str | Path) -> None:
        """Write ``residues.u8`` and ``offsets.npy`` into ``directory``."""
        directory = Path(directory)
        self.residues.tofile(directory / _RESIDUES)
        np.save(directory / _OFFSETS, self.offsets)

    @classmethod
    def load(cls, directory: str | Path, mmap: bool = True) -> SequenceStore:
        """Load (memory-mapped by default) a store written by :meth:`save`."""
        directory = Path(directory)
        offsets = np.load(directory / _OFFSETS, mmap_mode="r" if mmap else None)
        path = directory / _RESIDUES
        if path.stat().st_size == 0:
            residues = np.zeros(0, dtype=np.uint8)
        elif mmap:
            residues = np.memmap(path, dtype=np.uint8, mode="r")
        else:
            residues = np.fromfile(path, dtype=np.uint8)
        return cls(residues, offsets)
