"""Tests of kb.flatfile against Biopython, hand-read golden values and malformed real entries."""

from __future__ import annotations

import gzip
import io
import re
from pathlib import Path

import pytest
from Bio import SwissProt

from kb.errors import InputFormatError
from kb.flatfile import (
    FEATURE_TYPES,
    FlatFileError,
    _chunks_of_entries,
    parse,
    parse_subcellular_location,
    read,
)
from kb.records import Feature, Location

SWISSPROT = Path(__file__).resolve().parent / "data" / "swissprot"
SAMPLE = SWISSPROT / "sample_entries.dat.gz"
BAD = SWISSPROT / "bad"


@pytest.fixture(scope="module")
def sample_text() -> str:
    return gzip.decompress(SAMPLE.read_bytes()).decode("utf-8")


@pytest.fixture(scope="module")
def entries():
    errors: list = []
    out = list(parse(SAMPLE, errors=errors))
    assert errors == []
    return out


@pytest.fixture(scope="module")
def by_name(entries):
    return {e.entry_name: e for e in entries}


def biopython_records(text: str) -> list:
    """Biopython's records, one ``SwissProt.read`` per entry.

    ``SwissProt.parse`` on the whole sample stops at entry 165 ("Failed to find ID in first
    line"): the sample merges files, and eight times the next ``ID`` line is glued to the
    previous ``//`` ("//ID   A0A2Z5SLI1_GEOSN ..."). Biopython treats that line as the
    terminator and loses the ID line. Splitting at every ``//`` at a line start and reading
    each record on its own gives Biopython every entry intact.
    """
    records = []
    for chunk in re.split(r"(?m)^//", text):
        chunk = chunk.lstrip("\n")
        if chunk.strip():
            records.append(SwissProt.read(io.StringIO(chunk + "//\n")))
    return records


# ------------------------------------------------------------------------------------------
# Fidelity against Biopython on every real sample entry
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bio(sample_text) -> list:
    return biopython_records(sample_text)


def test_every_sample_entry_matches_biopython(entries, bio):
    assert len(bio) == 208
    assert len(entries) == len(bio)
    for ours, ref in zip(entries, bio, strict=True):
        assert ours.entry_name == ref.entry_name
        assert ours.accession == ref.accessions[0]
        assert ours.secondary_accessions == ref.accessions[1:]
        assert ours.sequence == ref.sequence
        assert len(ours.sequence) == ref.sequence_length
        assert ours.organism == ref.organism.rstrip(".")
        assert ours.taxon_id == int(ref.taxonomy_id[0])
        assert ours.lineage == "; ".join(ref.organism_classification)
        sl = [
            c[len("SUBCELLULAR LOCATION: ") :]
            for c in ref.comments
            if c.startswith("SUBCELLULAR LOCATION: ")
        ]
        assert ours.subcellular_location_text == ("\n".join(sl) if sl else None)
        assert ours.reviewed == {
            "Reviewed": True,
            "STANDARD": True,
            "Unreviewed": False,
            "PRELIMINARY": False,
        }.get(ref.data_class)
        # gene: Biopython's first "Name" (evidence braces stripped)
        names = [g["Name"] for g in ref.gene_name if "Name" in g]
        if names:
            assert ours.gene == names[0].split(" {")[0]
        # protein name: first "RecName: Full=" (else "SubName: Full=") of Biopython's DE text
        m = re.search(r"RecName: Full=([^;{]+)", ref.description) or re.search(
            r"SubName: Full=([^;{]+)", ref.description
        )
        if m:
            assert ours.protein_name == m.group(1).strip()


def test_modern_features_match_biopython(entries, bio):
    n = 0
    for ours, ref in zip(entries, bio, strict=True):
        theirs = [f for f in ref.features if f.type in FEATURE_TYPES]
        assert [f.type for f in ours.features] == [f.type for f in theirs]
        for a, b in zip(ours.features, theirs, strict=True):
            if "description" in b.qualifiers:  # old column format: Biopython keeps raw text
                continue
            n += 1
            assert (a.start, a.end) == (int(b.location.start) + 1, int(b.location.end))
            assert a.description == b.qualifiers.get("note")
            # Biopython drops the blank after a comma in multi-code evidence, unless the
            # qualifier wraps there; compare without blanks
            ev = b.qualifiers.get("evidence")
            assert (a.evidence and a.evidence.replace(" ", "")) == (ev and ev.replace(" ", ""))
    assert n > 200


def test_sample_contains_what_the_fidelity_test_claims(entries):
    # the sample really exercises both review states, old formats and location blocks
    assert sum(e.reviewed is True for e in entries) > 100
    assert sum(e.reviewed is False for e in entries) > 10
    assert sum(e.subcellular_location_text is not None for e in entries) > 100
    assert sum(len(e.secondary_accessions) > 0 for e in entries) > 20


def test_entry_line_numbers_point_at_the_id_line(entries, sample_text):
    lines = sample_text.split("\n")
    for e in entries:
        line = lines[e.line - 1]
        # a normal ID line, or an ID line glued to the previous "//"
        assert line.startswith(f"ID   {e.entry_name} ") or line.startswith(
            f"//ID   {e.entry_name} "
        ), (e.entry_name, e.line, line)
    assert entries[0].line == 1


def test_plain_file_and_handles_give_the_same_entries(entries, sample_text, tmp_path):
    plain = tmp_path / "sample.dat"  # not gzip, whatever the name says
    plain.write_text(sample_text)
    assert list(parse(plain)) == entries
    misnamed = tmp_path / "sample.txt"  # gzip detected by magic bytes, not by name
    misnamed.write_bytes(SAMPLE.read_bytes())
    assert list(parse(misnamed)) == entries
    with open(SAMPLE, "rb") as handle:
        assert list(parse(handle)) == entries
    assert list(parse(io.StringIO(sample_text))) == entries
    crlf = tmp_path / "crlf.dat"  # Windows line ends
    crlf.write_bytes(sample_text.replace("\n", "\r\n").encode())
    assert list(parse(crlf)) == entries
    # a "\r\n" split between two read blocks is still one line end
    blocks = list(_chunks_of_entries(crlf, block_size=4093))
    assert sum(chunk.count(b"\n") for chunk in blocks) == sample_text.count("\n")
    assert b"\r" not in b"".join(blocks)


# ------------------------------------------------------------------------------------------
# Golden values, read by hand from the entry text
# ------------------------------------------------------------------------------------------


def test_modern_locations_with_topology_and_note(by_name):
    # CLD1_HUMAN: "Cell junction, tight junction {ECO:0000269|PubMed:20375010,
    # ECO:0000269|PubMed:23407391}. Cell membrane {ECO:0000269|PubMed:23704991};
    # Multi-pass membrane protein {ECO:0000255}. Basolateral cell membrane
    # {ECO:0000269|PubMed:20375010}. Note=Associates with CD81 ... {ECO:0000269|...}."
    e = by_name["CLD1_HUMAN"]
    assert e.accession == "O95832"
    assert e.gene == "CLDN1"
    assert e.protein_name == "Claudin-1"
    assert e.taxon_id == 9606
    assert e.organism == "Homo sapiens (Human)"
    assert e.locations == [
        Location("Cell junction, tight junction", evidence="ECO:0000269"),
        Location("Cell membrane", evidence="ECO:0000269", topology="Multi-pass membrane protein"),
        Location("Basolateral cell membrane", evidence="ECO:0000269"),
    ]


def test_isoform_blocks_and_old_unannotated_style(by_name):
    # FGFR2_HUMAN has one general block and four "[Isoform N]:" blocks, no evidence at all
    e = by_name["FGFR2_HUMAN"]
    assert e.locations == [
        Location("Cell membrane", topology="Single-pass type I membrane protein"),
        Location("Golgi apparatus"),
        Location("Cytoplasmic vesicle"),
        Location(
            "Cell membrane", isoform="Isoform 1", topology="Single-pass type I membrane protein"
        ),
        Location(
            "Cell membrane", isoform="Isoform 3", topology="Single-pass type I membrane protein"
        ),
        Location("Secreted", isoform="Isoform 8"),
        Location("Secreted", isoform="Isoform 13"),
    ]
    assert e.subcellular_location_text.count("\n") == 4  # five blocks


def test_mixed_evidence_codes_and_chain_blocks(by_name):
    # A4_HUMAN: "Cell membrane {ECO:0000269|PubMed:10341243, ..., ECO:0000305|...}" and
    # blocks about chains: "[Soluble APP-beta]: Secreted {ECO:0000269|...}."
    e = by_name["A4_HUMAN"]
    assert e.locations[0] == Location(
        "Cell membrane",
        evidence="ECO:0000269,ECO:0000305",
        topology="Single-pass type I membrane protein",
    )
    assert Location("Secreted", isoform="Soluble APP-beta", evidence="ECO:0000269") in (e.locations)
    assert Location("Cell surface", isoform="Amyloid-beta protein 42") in e.locations


def test_old_parenthesised_qualifier(by_name):
    # "CC   -!- SUBCELLULAR LOCATION: Cytoplasm (Potential)."
    e = next(x for x in by_name.values() if x.accession == "Q51481")
    assert e.locations == [Location("Cytoplasm", evidence="Potential")]
    # "Cell membrane; Multi-pass membrane protein. Endosome. Note=... (By similarity)." :
    # the qualifier belongs to the note, not to a location
    e = next(x for x in by_name.values() if x.accession == "Q13639")
    assert e.locations == [
        Location("Cell membrane", topology="Multi-pass membrane protein"),
        Location("Endosome"),
    ]


def test_orientation_hyphen_wrap_dot_in_braces_and_molecule_prefix(by_name):
    accs = {e.accession: e for e in by_name.values()}
    # "Cell membrane {...}; Lipid-anchor {...}; Cytoplasmic side." (orientation dropped)
    assert Location("Cell membrane", evidence="ECO:0000250", topology="Lipid-anchor") in (
        accs["Q9JJ00"].locations
    )
    # "Lipid-anchor, GPI-\nCC       anchor" wraps after the hyphen
    assert accs["P15711"].locations == [
        Location("Cell membrane", evidence="ECO:0000305", topology="Lipid-anchor, GPI-anchor")
    ]
    # "Secreted {ECO:0000269|Ref.1}." : the dot of "Ref.1" does not end the location
    assert accs["C0HKC4"].locations == [Location("Secreted", evidence="ECO:0000269")]
    # old molecule prefix without brackets: "Surface protein gp120: Virion membrane {...}"
    assert accs["P03378"].locations[0] == Location(
        "Virion membrane",
        isoform="Surface protein gp120",
        evidence="ECO:0000255",
        topology="Peripheral membrane protein",
    )


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "Nucleus (By similarity). Cytoplasm, cytosol (Probable).",
            [
                Location("Nucleus", evidence="By similarity"),
                Location("Cytoplasm, cytosol", evidence="Probable"),
            ],
        ),
        (
            "Membrane; Multi-pass membrane protein (Potential).",
            [Location("Membrane", evidence="Potential", topology="Multi-pass membrane protein")],
        ),
        (
            "[Isoform 2]: Cytoplasm {ECO:0000269|PubMed:123}. Nucleus {ECO:0000250}; "
            "Single-pass membrane protein {ECO:0000255}. Note=Translocates. Into x. "
            "{ECO:0000269}.",
            [
                Location("Cytoplasm", isoform="Isoform 2", evidence="ECO:0000269"),
                Location(
                    "Nucleus",
                    isoform="Isoform 2",
                    evidence="ECO:0000250",
                    topology="Single-pass membrane protein",
                ),
            ],
        ),
        ("SUBCELLULAR LOCATION: Secreted.", [Location("Secreted")]),
        ("Note=Only a note.", []),
    ],
)
def test_parse_subcellular_location_text(text, expected):
    assert parse_subcellular_location(text) == expected


def _random_block(rng) -> bytes:
    """A SUBCELLULAR LOCATION block as it appears in a flat file (continuation lines
    ``\\nCC       ``), built from real-looking pieces and the awkward ones: dots inside
    braces, evidence after a dot, isoform and old molecule prefixes, notes, stray braces."""
    terms = ["Cytoplasm", "Nucleus", "Cell membrane", "Cytoplasm, cytoskeleton",
             "Mitochondrion inner membrane", "Secreted, extracellular space",
             "Endoplasmic reticulum membrane", "Golgi apparatus, trans-Golgi network",
             "Membrane (lipid-anchor)", "Host cell membrane", "Peroxisome matrix"]
    topo = ["Multi-pass membrane protein", "Single-pass type I membrane protein",
            "Peripheral membrane protein", "GPI-anchor", "Cytoplasmic side"]
    evid = ["{ECO:0000269}", "{ECO:0000269|PubMed:123456}", "{ECO:0000250|UniProtKB:P12345}",
            "{ECO:0000269|Ref.1}", "{ECO:0000255, ECO:0000269|PubMed:1}", "{ECO:1.2}",
            "(By similarity)", "(Probable)", "(Potential)", "", "", ""]
    locs = []
    for _ in range(rng.randint(0, 4)):
        parts = [rng.choice(terms) + (" " + rng.choice(evid)).rstrip()]
        for _ in range(rng.randint(0, 2)):
            parts.append(rng.choice(topo) + (" " + rng.choice(evid)).rstrip())
        locs.append("; ".join(parts) + rng.choice([".", ".", ". " + rng.choice(evid), ""]))
    body = " ".join(locs)
    prefix = rng.choice(["", "", "[Isoform 2]: ", "Surface protein gp120: ", "[Isoform 3]:"])
    note = rng.choice(["", "", " Note=Moves to the nucleus. Binds Foo: bar {ECO:0000269}.",
                       " Note=Stray { brace. Nucleus.", "Note=[Isoform 4]: x."])
    text = "SUBCELLULAR LOCATION: " + prefix + body + note + rng.choice(["", " {", " }."])
    # wrap at random spaces or after a hyphen, as flat files do
    out, line = [], ""
    for word in re.split(r"(?<= )|(?<=-)", text):
        if len(line) + len(word) > rng.randint(20, 70) and line:
            out.append(line.rstrip(" "))
            line = ""
        line += word
    out.append(line.rstrip())
    return "\nCC       ".join(out).encode()


def test_location_cache_equals_parsing_each_block_whole():
    """The flat-file parser caches locations one '.'-separated location at a time; that must
    give exactly what parsing the whole block gives (the oracle: the public
    parse_subcellular_location on the block's text, evidence sources included)."""
    import random

    from kb.flatfile import _SL_CACHE, _subcellular_block

    rng = random.Random(7)
    blocks = [_random_block(rng) for _ in range(3000)]
    sample = gzip.decompress(SAMPLE.read_bytes())
    blocks += [b"SUBCELLULAR LOCATION:" + m for m in re.findall(
        rb"\nCC   -!- SUBCELLULAR LOCATION:(.*?)(?=\nCC   -|\nCC   ---)", sample, re.S)]
    assert len(blocks) > 3100
    _SL_CACHE.clear()
    for _ in range(2):  # cold, then from the cache
        for raw in blocks:
            whole = raw.replace(b"-\nCC       ", b"-").replace(b"\nCC       ", b" ").decode()
            assert _subcellular_block(raw)[1] == tuple(parse_subcellular_location(whole)), raw


def test_features_modern_and_old_formats(by_name):
    accs = {e.accession: e for e in by_name.values()}
    cld1 = accs["O95832"].features
    assert cld1[0] == Feature("TOPO_DOM", 1, 7, "Cytoplasmic", "ECO:0000250")
    assert cld1[1] == Feature("TRANSMEM", 8, 28, "Helical", "ECO:0000255")
    assert sum(f.type == "TRANSMEM" for f in cld1) == 4
    # FT   SIGNAL          1..23  /evidence="ECO:0000255|PROSITE-ProRule:PRU00303"
    assert accs["P0CK95"].features[0] == Feature(
        "SIGNAL", 1, 23, None, "ECO:0000255|PROSITE-ProRule:PRU00303"
    )
    # FT   LIPID           904  /note="GPI-anchor amidated aspartate" /evidence="ECO:0000255"
    assert (
        Feature("LIPID", 904, 904, "GPI-anchor amidated aspartate", "ECO:0000255")
        in accs["P15711"].features
    )
    # old columns: "FT   TRANSIT       1      ?       Mitochondrion (Potential)."
    assert accs["Q8NE62"].features == [Feature("TRANSIT", 1, None, "Mitochondrion", "Potential")]
    # old: "FT   SIGNAL       <1      ?" and "FT   PROPEP        ?     22"
    assert accs["P00981"].features == [
        Feature("SIGNAL", 1, None),
        Feature("PROPEP", None, 22),
    ]
    # old: "FT   TRANSMEM     20     40       1 (By similarity)."
    assert Feature("TRANSMEM", 20, 40, "1", "By similarity") in accs["Q13639"].features
    # 2014-2019 columns: "FT   SIGNAL        1     31       {ECO:0000255|HAMAP-Rule:MF_04083}."
    assert accs["P03378"].features[0] == Feature(
        "SIGNAL", 1, 31, None, "ECO:0000255|HAMAP-Rule:MF_04083"
    )
    # CHAIN, DISULFID, ... are not kept
    assert {f.type for e in by_name.values() for f in e.features} <= {
        "SIGNAL",
        "TRANSIT",
        "PROPEP",
        "TRANSMEM",
        "INTRAMEM",
        "TOPO_DOM",
        "MOTIF",
        "LIPID",
    }


def test_read_single_entry(sample_text, tmp_path):
    first = sample_text[: sample_text.index("\n//\n") + 4]
    p = tmp_path / "one.dat"
    p.write_text(first)
    e = read(p)
    assert e.entry_name == "F2CXE6_HORVD"
    assert e.reviewed is False
    assert e.protein_name == "Plasma membrane intrinsic protein"
    two = tmp_path / "two.dat"
    two.write_text(first + first)
    with pytest.raises(InputFormatError, match="exactly one entry, found 2"):
        read(two)


# ------------------------------------------------------------------------------------------
# Malformed input
# ------------------------------------------------------------------------------------------


def test_bad_id_line_is_skipped_and_neighbours_kept():
    path = BAD / "bad_id_line_in_second_entry.dat"
    errors: list = []
    got = list(parse(path, errors=errors))
    assert [e.accession for e in got] == ["A8EZU1", "D6RDV7"]
    assert [e.line for e in got] == [1, 167]
    assert len(errors) == 1
    err = errors[0]
    assert isinstance(err, FlatFileError)
    assert err.path == str(path) and err.line == 87
    assert "THIS_IS_WRONG" in str(err) and "ID line" in str(err)
    with pytest.raises(FlatFileError) as info:
        list(parse(path, strict=True))
    assert info.value.line == 87
    # the callback form receives the same error
    seen = []
    assert len(list(parse(path, errors=seen.append))) == 2
    assert [s.line for s in seen] == [87]


def test_all_malformed_entries_reported():
    path = BAD / "malformed_entries.dat"
    errors: list = []
    assert list(parse(path, errors=errors)) == []
    assert [e.line for e in errors] == [1, 81]


@pytest.fixture(scope="module")
def good_entry(sample_text) -> str:
    """The real entry CHS3_BROFI (third in the sample), ending with its '//' line."""
    start = sample_text.index("ID   CHS3_BROFI")
    return sample_text[start : sample_text.index("\n//\n", start) + 4]


def _line_no(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


@pytest.mark.parametrize(
    "mutate, needle, message",
    [
        # one residue less: lengths disagree (reported at the SQ line)
        (lambda t: t.replace("MAPAMEEIRQ", "MAPAMEEIR", 1), "SQ   ", "sequence length"),
        # a digit inside the sequence
        (lambda t: t.replace("MAPAMEEIRQ", "MAPAMEE1RQ", 1), "MAPAMEE1RQ", "invalid character"),
        # a garbage accession
        (lambda t: t.replace("AC   O23729;", "AC   NOT_AN_ACC;", 1), "AC   ", "accession"),
        # no SQ line (reported at the end of the entry)
        (lambda t: re.sub(r"SQ   SEQUENCE[^\n]*\n", "", t), "//", "missing SQ"),
        # an FT line after the sequence
        (lambda t: t.replace("\n//\n", "\nFT   CHAIN 1..2\n//\n"), "FT   CHAIN 1..2", "sequence"),
    ],
)
def test_malformed_entry_between_good_ones(good_entry, tmp_path, mutate, needle, message):
    bad = mutate(good_entry)
    assert bad != good_entry
    text = good_entry + bad + good_entry
    path = tmp_path / "mixed.dat"
    path.write_text(text)
    errors: list = []
    got = list(parse(path, errors=errors))
    assert [e.entry_name for e in got] == ["CHS3_BROFI", "CHS3_BROFI"]
    n = good_entry.count("\n")
    assert [e.line for e in got] == [1, n + bad.count("\n") + 1]
    assert len(errors) == 1 and message in errors[0].message
    expected_line = n + _line_no(bad, needle)
    if needle == "//":
        expected_line = n + bad.count("\n")  # the '//' line of the bad entry
    assert errors[0].line == expected_line
    assert errors[0].path == str(path)
    with pytest.raises(FlatFileError) as info:
        list(parse(path, strict=True))
    assert info.value.line == expected_line


def test_missing_terminator_recovers_next_entry(good_entry, tmp_path):
    unterminated = good_entry[: -len("//\n")]
    path = tmp_path / "glued.dat"
    path.write_text(good_entry + unterminated + good_entry)
    errors: list = []
    got = list(parse(path, errors=errors))
    assert len(got) == 2  # first and third; the second lost its '//' and is reported
    n = good_entry.count("\n")
    assert got[1].line == 1 + n + (n - 1)
    assert len(errors) == 1 and "'//'" in errors[0].message


def test_entry_truncated_at_end_of_file(good_entry, tmp_path):
    path = tmp_path / "trunc.dat"
    path.write_text(good_entry + good_entry[:300])
    with pytest.raises(InputFormatError, match="truncated at end of file") as info:
        list(parse(path))
    assert info.value.line == good_entry.count("\n") + 1


def test_empty_and_non_uniprot_inputs(tmp_path):
    empty = tmp_path / "empty.dat"
    empty.write_bytes(b"")
    with pytest.raises(InputFormatError, match="empty input"):
        list(parse(empty))
    blank = tmp_path / "blank.dat.gz"
    blank.write_bytes(gzip.compress(b"\n\n  \n"))
    with pytest.raises(InputFormatError, match="empty input"):
        list(parse(blank))
    fasta = tmp_path / "seqs.fasta"
    fasta.write_text(">sp|P12345|X_HUMAN test\nMKV\n")
    with pytest.raises(InputFormatError, match="not a UniProt flat file") as info:
        list(parse(fasta))
    assert info.value.line == 1 and info.value.path == str(fasta)
    with pytest.raises(InputFormatError, match="no such file"):
        list(parse(tmp_path / "missing.dat"))


def test_truncated_gzip_names_the_file(tmp_path):
    data = SAMPLE.read_bytes()
    cut = tmp_path / "cut.dat.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFormatError, match="truncated or corrupt gzip") as info:
        list(parse(cut))
    assert info.value.path == str(cut)
    assert "\n" not in str(info.value)



def test_chunk_split_into_entries_matches_a_line_by_line_reference():
    """Entry texts and first line numbers of a chunk (fast path for the usual '//' + 'ID'
    layout, general path for blank lines between entries and glued '//ID' lines) against a
    plain loop over the lines."""
    import random

    from kb.flatfile import _entries_of_chunk

    def reference(chunk: bytes, first: int):
        out, cur, start = [], [], None
        for no, ln in enumerate(chunk.split(b"\n"), start=first):
            if ln.startswith(b"//"):
                out.append((b"\n".join(cur), start))
                cur, start = [], None
                rest = ln[2:]
                if rest.startswith(b"ID   "):  # glued "//ID   ..." starts the next entry
                    cur, start = [rest], no
            elif ln or cur:
                if start is None:
                    start = no
                cur.append(ln)
        return out, start  # start: line of a trailing entry without '//' (or None)

    rng = random.Random(3)
    for _ in range(300):
        entries = [b"\n".join([b"ID   E%d   Reviewed;   3 AA." % i]
                              + [b"CC   line %d" % j for j in range(rng.randint(0, 4))]
                              + [b"SQ   SEQUENCE   3 AA;", b"     MKV"])
                   for i in range(rng.randint(1, 6))]
        seps = [rng.choice([b"\n//\n", b"\n//\n", b"\n//\n\n", b"\n//"]) for _ in entries]
        chunk = b"".join(e + sep for e, sep in zip(entries, seps, strict=True))
        if rng.random() < 0.2:
            chunk += entries[0]  # truncated: no '//' after the last entry
        first = rng.randint(1, 1000)
        spans, truncated, _ = _entries_of_chunk(chunk, first, "x")
        want, trailing = reference(chunk, first)
        assert [(chunk[a:b], line) for a, b, line in spans] == want, chunk
        assert (truncated.line if truncated else None) == trailing, chunk


def test_note_start_equals_the_look_behind_regular_expression():
    import random

    from kb.flatfile import _note_start

    note = re.compile(r"(?:^|(?<=[\s.]))Note=")
    rng = random.Random(11)
    pieces = ["Note=", "Note=", "xNote=", " ", ".", "\u00a0", "\t", "Cytoplasm", "{ECO:1}",
              ";", "aNote", "=", "N"]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 8))) for _ in range(5000)]
    for text in texts:
        m = note.search(text)
        assert _note_start(text) == (m.start() if m else -1), repr(text)


def test_parse_chunk_equals_parse_and_checks_the_file_start(sample_text):
    """What the build's parser processes call: the same entries and errors as parse() on the
    same bytes (CRLF included); a file that does not start with an ID line is refused."""
    from kb.flatfile import parse_chunk

    data = sample_text.encode().replace(b"\n", b"\r\n")
    want_errors: list = []
    want = list(parse(io.BytesIO(data), errors=want_errors))
    got_errors: list = []
    got, next_line = parse_chunk(data, "<stream>", file_start=True, errors=got_errors)
    assert got == want and [str(e) for e in got_errors] == [str(e) for e in want_errors]
    assert next_line == sample_text.count("\n") + 1
    with pytest.raises(InputFormatError, match=r"line 2: not a UniProt flat file"):
        parse_chunk(b"\n>sp|P1|X\nMKV\n", "x.dat", file_start=True)
    with pytest.raises(InputFormatError, match="empty input"):
        parse_chunk(b"\n\n", "x.dat", file_start=True)
