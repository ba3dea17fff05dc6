"""Location-term -> DeepLoc class mapping (kb.locations) against the vocabulary files."""

from __future__ import annotations

import csv
import re
import subprocess
import sys

import pytest

from kb.classes import LOCATION_CLASSES
from kb.errors import InputFormatError
from kb.locations import LocationMapper, default_mapper, derive_location_map, write_location_map

HOWS = {"manual", "manual-none", "hierarchy", "ambiguous", "none", "topology", "orientation"}


@pytest.fixture(scope="module")
def mapper() -> LocationMapper:
    return default_mapper()


def _subcell_terms(path):
    """Independent reading of subcell.txt: (kind code, term, SL path) per entry."""
    out, cur = [], None
    for line in path.read_text().splitlines():
        m = re.match(r"^(ID|IT|IO)   (.*)\.$", line)
        if m:
            cur = [m.group(1), m.group(2), ""]
        elif line.startswith("SL   ") and cur is not None:
            cur[2] = (cur[2] + " " + line[5:].strip()).strip()
        elif line.startswith("//") and cur is not None:
            cur[2] = cur[2].rstrip(".")
            out.append(tuple(cur))
            cur = None
    return out


def test_every_subcell_term_has_a_defined_outcome(mapper, repo_root):
    terms = _subcell_terms(repo_root / "data/vocab/subcell.txt")
    assert len(terms) == 566  # 545 locations + 11 topologies + 10 orientations
    rows = {r.term: r for r in mapper.rows}
    for code, term, sl_path in terms:
        row = rows[term]
        assert row.how in HOWS
        assert row.label_class is None or row.label_class in LOCATION_CLASSES
        if code == "ID":
            # Both the name and the written path resolve to this very term.
            assert mapper.lookup(term).term == term
            assert mapper.lookup(sl_path).term == term
            assert mapper.lookup(sl_path).label_class == row.label_class
            assert (row.label_class is None) == (row.how in {"manual-none", "ambiguous", "none"})
        else:
            assert row.label_class is None and row.how in {"topology", "orientation"}


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("Mitochondrion inner membrane", "Mitochondrion"),
        ("Cell surface", "Extracellular"),
        ("Chromosome", "Nucleus"),
        ("Thylakoid", "Plastid"),
        ("Cytoplasmic vesicle", "Lysosome/Vacuole"),
        ("Secreted", "Extracellular"),
        ("Membrane", "Cell.membrane"),
        ("Cytoplasm, cytoskeleton", "Cytoplasm"),
        ("cytoplasm, CYTOSKELETON.", "Cytoplasm"),  # case-insensitive, trailing dot
        ("Plastid, chloroplast thylakoid membrane", "Plastid"),
        ("Nucleus, nucleolus", "Nucleus"),
        ("Cell inner membrane", "Cell.membrane"),  # hierarchy: HI Cell membrane
        ("Endoplasmic reticulum membrane", "Endoplasmic.reticulum"),
        ("Golgi apparatus, trans-Golgi network", "Golgi.apparatus"),
        ("Peroxisome matrix", "Peroxisome"),
        ("Vacuole membrane", "Lysosome/Vacuole"),
        ("Secreted, cell wall", "Extracellular"),
        ("Cytoplasm, unknown sub-part", "Cytoplasm"),  # falls back to the first component
        ("Cell projection, cilium", None),  # manual map leaves Cell projection unmapped
        ("Host cell membrane", None),
        ("Acidocalcisome", None),
        ("Not a location at all", None),
    ],
)
def test_golden_classes(mapper, written, expected):
    assert mapper.class_of(written) == expected


def test_sl_ids_and_unknown(mapper):
    assert mapper.lookup("Cytoplasm, cytoskeleton").sl_id == "SL-0090"
    assert mapper.lookup("Nucleus").sl_id == "SL-0191"
    assert mapper.lookup("Cell membrane").sl_id == "SL-0039"
    unknown = mapper.lookup("Spaceship hangar")
    assert (unknown.sl_id, unknown.label_class, unknown.term) == (None, None, None)
    # A synonym (SY line) resolves to its term.
    assert mapper.lookup("A-band").term == "A band"


def test_manual_map_rule_matches_the_manual_csv(mapper, repo_root):
    """Terms whose top-level part is a manual-map term carry that term's MANUAL_MAP class."""
    with open(repo_root / "data/vocab/deeploc_redo_manual_map.csv", newline="") as fh:
        manual = {r["location"].lower(): (r["MANUAL_MAP"] or None) for r in csv.DictReader(fh)}
    checked = 0
    for row in mapper.rows:
        if row.kind != "location":
            continue
        top = row.sl_path.split(",")[0].strip().lower()
        if top in manual:
            assert row.label_class == manual[top], row
            checked += 1
    assert checked > 200


def test_hierarchy_rule_matches_the_shipped_walk(mapper, repo_root):
    """Where the hierarchy rule decides, the class equals the walked classes of the vocab CSV."""
    with open(repo_root / "data/vocab/sl_terms_vs_deeploc_classes_2026_01.csv", newline="") as fh:
        walked = {r["term"]: r["hierarchy_walk_classes"] for r in csv.DictReader(fh)}
    hier = [r for r in mapper.rows if r.how == "hierarchy"]
    assert len(hier) > 20
    for row in hier:
        assert walked[row.term] == row.label_class, row
    for row in mapper.rows:
        if row.how == "none":
            assert walked[row.term] == "", row


def test_regeneration_reproduces_the_shipped_file(repo_root, tmp_path):
    rows = derive_location_map(
        repo_root / "data/vocab/subcell.txt", repo_root / "data/vocab/deeploc_redo_manual_map.csv"
    )
    out = tmp_path / "map.tsv"
    write_location_map(rows, out)
    assert out.read_text() == (repo_root / "kb/resources/location_map.tsv").read_text()
    # And the script does the same.
    out2 = tmp_path / "map2.tsv"
    subprocess.run(
        [sys.executable, str(repo_root / "scripts/make_location_map.py"), "--out", str(out2)],
        check=True,
        capture_output=True,
    )
    assert out2.read_text() == out.read_text()


def test_bad_map_file_is_reported_with_line(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text(
        "term\tsl_id\tkind\tsl_path\tclass\thow\tsynonyms\n"
        "Nucleus\tSL-0191\tlocation\tNucleus\tNucleus\tmanual\t\n"
        "Foo\tSL-9\tlocation\tFoo\tNowhere\tmanual\t\n"
    )
    with pytest.raises(InputFormatError, match=r"bad.tsv, line 3: unknown class 'Nowhere'"):
        LocationMapper.load(bad)
    bad.write_text("term\tclass\nNucleus\tNucleus\n")
    with pytest.raises(InputFormatError, match="missing columns"):
        LocationMapper.load(bad)
