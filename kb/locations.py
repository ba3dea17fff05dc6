"""Map UniProt subcellular-location terms to the 10 DeepLoc classes.

The mapping is a data file shipped with the package (``kb/resources/location_map.tsv``),
generated from UniProt's controlled vocabulary ``subcell.txt`` (``HI`` is-a and ``HP``
part-of links) and the community manual map of top-level terms
(``data/vocab/deeploc_redo_manual_map.csv``) by ``scripts/make_location_map.py``
(which calls :func:`derive_location_map` and :func:`write_location_map`).

Rule for a vocabulary term ``T`` (the ``how`` column of the data file):

1. ``manual``: the *top-level part* of ``T`` (the first comma component of its ``SL`` line,
   i.e. how Swiss-Prot writes it: ``Cytoplasm`` for ``Cytoplasm, cytoskeleton``) is in the
   manual map with a class -> that class.
2. ``manual-none``: the top-level part is in the manual map with an empty class (the map's
   authors deliberately left it unmapped, e.g. ``Cell projection``, ``Endosome``) -> ``None``.
3. ``hierarchy``: otherwise walk ``HI``/``HP`` links upwards, stopping at the anchor terms
   (:data:`ANCHORS`: Cytoplasm, Nucleus, Secreted, ...); exactly one class reached -> that class.
4. ``ambiguous`` (several classes reached) or ``none`` (no anchor reached) -> ``None``.
   Topology (``IT``) and orientation (``IO``) entries of ``subcell.txt`` are not locations:
   ``how = topology`` / ``orientation``, class ``None``.

Resolving a term *as written in an entry* (:meth:`LocationMapper.lookup`), case-insensitively,
with a trailing ``.`` ignored: (a) the whole string against the ``SL`` paths, term names and
synonyms; (b) its last comma component (``Cytoplasm, cytoskeleton`` -> ``cytoskeleton``);
(c) its first comma component. The whole string is tried first because it is the most
specific key (a last component such as ``flagellum`` can be a different vocabulary term
than the path it ends); on the vocabulary's own paths both orders give the same term.
Unknown terms -> ``sl_id`` and ``class`` ``None``.

References: UniProt subcellular location vocabulary (https://www.uniprot.org/locations,
``subcell.txt``); class set of Almagro Armenteros et al., "DeepLoc: prediction of protein
subcellular localization using deep learning", Bioinformatics 33(21):3387, 2017.
"""

from __future__ import annotations

import csv
import io
from collections import deque
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from kb.atomic import atomic_path
from kb.classes import LOCATION_CLASSES, normalize_class
from kb.errors import InputFormatError

__all__ = [
    "ANCHORS",
    "MAP_COLUMNS",
    "MapRow",
    "LocationMatch",
    "LocationMapper",
    "default_mapper",
    "parse_subcell",
    "read_manual_map",
    "derive_location_map",
    "write_location_map",
]

#: Anchor terms of the hierarchy walk and their DeepLoc class.
ANCHORS: dict[str, str] = {
    "Cytoplasm": "Cytoplasm",
    "Nucleus": "Nucleus",
    "Secreted": "Extracellular",
    "Mitochondrion": "Mitochondrion",
    "Cell membrane": "Cell.membrane",
    "Endoplasmic reticulum": "Endoplasmic.reticulum",
    "Plastid": "Plastid",
    "Golgi apparatus": "Golgi.apparatus",
    "Lysosome": "Lysosome/Vacuole",
    "Vacuole": "Lysosome/Vacuole",
    "Peroxisome": "Peroxisome",
}

#: Columns of ``location_map.tsv``.
MAP_COLUMNS = ("term", "sl_id", "kind", "sl_path", "class", "how", "synonyms")
_RESOURCE = "location_map.tsv"


@dataclass(frozen=True, slots=True)
class MapRow:
    """One row of the location map (one vocabulary term).

    Attributes:
        term: the term name (``ID``/``IT``/``IO`` line of ``subcell.txt``).
        sl_id: its accession ``SL-xxxx`` (``None`` for a manual-map term not in the vocabulary).
        kind: ``location``, ``topology`` or ``orientation``.
        sl_path: the ``SL`` line: how the term is written in entries (``Cytoplasm, cytoskeleton``).
        label_class: the DeepLoc class or ``None``.
        how: which rule decided (see the module docstring).
        synonyms: the ``SY`` synonyms.
    """

    term: str
    sl_id: str | None
    kind: str
    sl_path: str
    label_class: str | None
    how: str
    synonyms: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LocationMatch:
    """What a written term resolves to: the vocabulary term's ``sl_id`` and DeepLoc class."""

    sl_id: str | None
    label_class: str | None
    term: str | None  # the vocabulary term matched, None when unknown


_NO_MATCH = LocationMatch(None, None, None)


def _key(text: str) -> str:
    return " ".join(text.strip().rstrip(".").split()).lower()


class LocationMapper:
    """Resolve written location terms to ``(sl_id, class)`` (rules in the module docstring).

    Arguments:
        rows: the map rows (usually from :meth:`load`).
    """

    def __init__(self, rows: list[MapRow]):
        self.rows = list(rows)
        index: dict[str, MapRow] = {}
        # Priority: SL paths, then names, then synonyms (first one wins on a clash).
        for getter in (
            lambda r: [r.sl_path],
            lambda r: [r.term],
            lambda r: list(r.synonyms),
        ):
            for row in self.rows:
                if row.kind != "location":
                    continue
                for name in getter(row):
                    if name:
                        index.setdefault(_key(name), row)
        self._index = index
        self._cache: dict[str, LocationMatch] = {}

    @classmethod
    def load(cls, path: str | Path | None = None) -> LocationMapper:
        """Load a map file (default: the shipped ``kb/resources/location_map.tsv``).

        Raises:
            InputFormatError: a missing column or a class that is none of the 10.
        """
        if path is None:
            text = resources.files("kb.resources").joinpath(_RESOURCE).read_text("utf-8")
            source = f"kb/resources/{_RESOURCE}"
        else:
            text = Path(path).read_text("utf-8")
            source = str(path)
        return cls(_parse_map(text, source))

    def lookup(self, written: str) -> LocationMatch:
        """Resolve a term as written in an entry (``Cytoplasm, cytoskeleton``).

        Arguments:
            written: the location term path.

        Returns:
            The match; ``LocationMatch(None, None, None)`` for an unknown term.
        """
        hit = self._cache.get(written)
        if hit is not None:
            return hit
        row = self._find(written)
        hit = _NO_MATCH if row is None else LocationMatch(row.sl_id, row.label_class, row.term)
        if len(self._cache) < 1_000_000:
            self._cache[written] = hit
        return hit

    def _find(self, written: str) -> MapRow | None:
        index = self._index
        row = index.get(_key(written))
        if row is not None:
            return row
        parts = [p for p in (_key(p) for p in written.split(",")) if p]
        if len(parts) > 1:
            return index.get(parts[-1]) or index.get(parts[0])
        return None

    def class_of(self, written: str) -> str | None:
        """The DeepLoc class of a written term, or ``None``."""
        return self.lookup(written).label_class


@lru_cache(maxsize=1)
def default_mapper() -> LocationMapper:
    """The mapper of the shipped data file (loaded once)."""
    return LocationMapper.load()


def _parse_map(text: str, source: str) -> list[MapRow]:
    reader = csv.DictReader(io.StringIO(text), delimiter="\t")
    missing = set(MAP_COLUMNS) - set(reader.fieldnames or ())
    if missing:
        raise InputFormatError(f"missing columns {sorted(missing)} in location map", source, 1)
    rows = []
    for line, rec in enumerate(reader, start=2):
        cls_ = rec["class"] or None
        if cls_ is not None and cls_ not in LOCATION_CLASSES:
            raise InputFormatError(f"unknown class {cls_!r} in location map", source, line)
        rows.append(
            MapRow(
                term=rec["term"],
                sl_id=rec["sl_id"] or None,
                kind=rec["kind"],
                sl_path=rec["sl_path"],
                label_class=cls_,
                how=rec["how"],
                synonyms=tuple(s for s in rec["synonyms"].split("|") if s),
            )
        )
    return rows


# --------------------------------------------------------------------------- regeneration


@dataclass(slots=True)
class _SubcellEntry:
    term: str
    sl_id: str
    kind: str
    sl_path: str = ""
    hi: list[str] | None = None
    hp: list[str] | None = None
    synonyms: list[str] | None = None


def parse_subcell(path: str | Path) -> list[_SubcellEntry]:
    """Parse UniProt's ``subcell.txt`` (lines ID/IT/IO, AC, SL, SY, HI, HP).

    Arguments:
        path: the file.

    Returns:
        One record per vocabulary entry, in file order.

    Raises:
        InputFormatError: an entry without ``AC`` or with a line outside an entry.
    """
    kinds = {"ID": "location", "IT": "topology", "IO": "orientation"}
    out: list[_SubcellEntry] = []
    cur: _SubcellEntry | None = None
    with open(path, encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, start=1):
            code, value = raw[:2], raw[5:].rstrip("\n").strip()
            if code in kinds:
                cur = _SubcellEntry(value.rstrip("."), "", kinds[code], hi=[], hp=[], synonyms=[])
            elif cur is None:
                continue  # header text before the first entry
            elif code == "AC":
                cur.sl_id = value
            elif code == "SL":
                cur.sl_path = (cur.sl_path + " " + value).strip() if cur.sl_path else value
            elif code == "HI":
                cur.hi.append(value.rstrip("."))
            elif code == "HP":
                cur.hp.append(value.rstrip("."))
            elif code == "SY":
                cur.synonyms.extend(s.strip() for s in value.rstrip(".").split(";") if s.strip())
            elif code == "//":
                if not cur.sl_id:
                    raise InputFormatError(f"entry {cur.term!r} has no AC line", path, lineno)
                cur.sl_path = cur.sl_path.rstrip(".")
                out.append(cur)
                cur = None
    return out


def read_manual_map(path: str | Path) -> dict[str, str | None]:
    """Read the manual map CSV (columns ``location``, ``MANUAL_MAP``): term -> class or ``None``.

    Raises:
        InputFormatError: missing columns or a class that is none of the 10.
    """
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        if not {"location", "MANUAL_MAP"} <= set(reader.fieldnames or ()):
            raise InputFormatError("expected columns location, MANUAL_MAP", path, 1)
        out: dict[str, str | None] = {}
        for line, rec in enumerate(reader, start=2):
            value = (rec["MANUAL_MAP"] or "").strip()
            out[rec["location"].strip()] = (
                normalize_class(value, where=f"{path}, line {line}") if value else None
            )
    return out


def _walk(term: str, by_name: dict[str, _SubcellEntry]) -> set[str]:
    """Classes of the anchors reached from ``term`` through HI/HP links (stopping at anchors)."""
    found: set[str] = set()
    seen = {term}
    todo = deque([term])
    while todo:
        name = todo.popleft()
        if name in ANCHORS:
            found.add(ANCHORS[name])
            continue
        entry = by_name.get(name)
        if entry is None:
            continue
        for parent in (*entry.hi, *entry.hp):
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return found


def derive_location_map(subcell: str | Path, manual_map: str | Path) -> list[MapRow]:
    """Derive the location map from ``subcell.txt`` and the manual map (rules: module docstring).

    Arguments:
        subcell: UniProt's ``subcell.txt``.
        manual_map: the community manual map CSV.

    Returns:
        One row per vocabulary entry, plus one per manual-map term absent from the vocabulary.
    """
    entries = parse_subcell(subcell)
    manual = read_manual_map(manual_map)
    manual_lower = {k.lower(): v for k, v in manual.items()}
    by_name = {e.term: e for e in entries if e.kind == "location"}
    rows: list[MapRow] = []
    for e in entries:
        if e.kind != "location":
            rows.append(MapRow(e.term, e.sl_id, e.kind, e.sl_path, None, e.kind, tuple(e.synonyms)))
            continue
        top = e.sl_path.split(",")[0].strip().lower()
        if top in manual_lower:
            cls_ = manual_lower[top]
            how = "manual" if cls_ else "manual-none"
        else:
            classes = _walk(e.term, by_name)
            if len(classes) == 1:
                cls_, how = classes.pop(), "hierarchy"
            else:
                cls_, how = None, ("ambiguous" if classes else "none")
        rows.append(MapRow(e.term, e.sl_id, e.kind, e.sl_path, cls_, how, tuple(e.synonyms)))
    known = {e.term.lower() for e in entries}
    for term, cls_ in manual.items():
        if term.lower() not in known:
            rows.append(
                MapRow(term, None, "location", term, cls_, "manual" if cls_ else "manual-none")
            )
    return rows


def write_location_map(rows: list[MapRow], path: str | Path) -> None:
    """Write map rows as TSV (atomically: temp file in the same directory, then rename)."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(MAP_COLUMNS)
        for r in rows:
            w.writerow(
                [r.term, r.sl_id or "", r.kind, r.sl_path, r.label_class or "", r.how,
                 "|".join(r.synonyms)]
            )
