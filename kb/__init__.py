"""kb: a local UniProtKB/Swiss-Prot knowledge base (DuckDB + k-mer index + Aho-Corasick).

>>> import kb
>>> kb.build(["uniprot_sprot.dat.gz"], "kb_sprot")          # doctest: +SKIP
>>> hits = kb.open("kb_sprot").search(["PKKKRKV", "SKL"])   # doctest: +SKIP
"""

from kb.build import BuildSummary, build
from kb.classes import LOCATION_CLASSES, UnknownLocationError, normalize_class
from kb.errors import (
    InputFormatError,
    InvalidPeptideError,
    KBCorruptError,
    KBError,
    KBNotFoundError,
    KBPathError,
)
from kb.flatfile import FlatFileError
from kb.flatfile import parse as parse_flatfile
from kb.locations import LocationMapper
from kb.store import is_complete

__all__ = [
    "LOCATION_CLASSES",
    "UnknownLocationError",
    "normalize_class",
    "KBError",
    "InputFormatError",
    "InvalidPeptideError",
    "KBNotFoundError",
    "KBCorruptError",
    "KBPathError",
    "FlatFileError",
    "parse_flatfile",
    "LocationMapper",
    "BuildSummary",
    "build",
    "is_complete",
    "open",
    "KnowledgeBase",
    "SearchResult",
]


def __getattr__(name: str):
    # kb.open / kb.KnowledgeBase are imported lazily: kb.api pulls in numba.
    if name in ("open", "KnowledgeBase", "SearchResult"):
        from kb import api

        return getattr(api, name)
    raise AttributeError(f"module 'kb' has no attribute {name!r}")
