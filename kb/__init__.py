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
    "open",
    "KnowledgeBase",
]


def __getattr__(name: str):
    # kb.open / kb.KnowledgeBase are imported lazily: kb.api pulls in duckdb, numba and pyarrow.
    if name in ("open", "KnowledgeBase"):
        from kb import api

        return getattr(api, name)
    raise AttributeError(f"module 'kb' has no attribute {name!r}")
