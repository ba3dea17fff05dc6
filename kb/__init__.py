"""kb: a local UniProtKB/Swiss-Prot knowledge base (DuckDB + k-mer index + Aho-Corasick).

>>> import kb
>>> kb.build(["uniprot_sprot.dat.gz"], "kb_sprot")          # doctest: +SKIP
>>> hits = kb.open("kb_sprot").search(["PKKKRKV", "SKL"])   # doctest: +SKIP
>>> kb.build_sharded(["uniprot_sprot.dat.gz"], "kb_sprot4", shards=4)  # doctest: +SKIP
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
    TaxonNotFoundError,
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
    "TaxonNotFoundError",
    "FlatFileError",
    "parse_flatfile",
    "LocationMapper",
    "BuildSummary",
    "build",
    "is_complete",
    "open",
    "KnowledgeBase",
    "SearchResult",
    "ShardedKnowledgeBase",
    "ShardError",
    "build_sharded",
]


def __getattr__(name: str):
    # kb.open / kb.KnowledgeBase are imported lazily: kb.api pulls in numba.
    if name == "open":  # single or sharded knowledge base
        from kb import opener

        return opener.open
    if name in ("ShardedKnowledgeBase", "ShardError", "build_sharded"):
        from kb import shards

        return getattr(shards, name)
    if name in ("KnowledgeBase", "SearchResult"):
        from kb import api

        return getattr(api, name)
    raise AttributeError(f"module 'kb' has no attribute {name!r}")
