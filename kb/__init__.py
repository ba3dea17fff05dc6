"""kb: a local UniProtKB/Swiss-Prot knowledge base (DuckDB + k-mer index + Aho-Corasick)."""

from kb.classes import LOCATION_CLASSES, UnknownLocationError, normalize_class
from kb.errors import InputFormatError, InvalidPeptideError, KBError, KBNotFoundError

__all__ = [
    "LOCATION_CLASSES",
    "UnknownLocationError",
    "normalize_class",
    "KBError",
    "InputFormatError",
    "InvalidPeptideError",
    "KBNotFoundError",
]
