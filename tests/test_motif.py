"""PROSITE / regex motif engine (kb.motif) against Python ``re.fullmatch`` over every
(start, end) window of random and real sequences; parser errors; API and CLI."""

from __future__ import annotations

import re

import numpy as np
import pytest
import test_api
from typer.testing import CliRunner

from cli.main import kb_app
from kb.motif import MotifSyntaxError, compile_motif, compile_motifs, find_motifs
from kb.seqstore import SequenceStore

AA = "ACDEFGHIKLMNPQRSTVWY"
PATTERNS = [
    "C-x(2,4)-C", "N-{P}-[ST]-{P}.", "[KRHQSA]-[DENQ]-E-L>", "[STAGCN]-[RKH]-[LIVMAFY]>",
    "<M-x(0,3)-[KR]", "A-[G>]", "[RK](2)-x-[ST]", "G-x(1,3)-{C}(2,3)", "K-[KR]-x(1,2)-K>",
    "P-x(2)-P", "[ST]-x(2)-[DE]", "C-x(2)-C-x(12,13)-H-x(3,5)-H", "x(2)-W-x", "<x(1,2)-P",
    "Y-[DE](0,2)-K",
    # planner paths: a selective segment after variable repeats, fixed length up to a [..>]
    "[KR]-x(1,3)-[RKSAQ]-N-x-[ST]", "H-x(0,2)-W-x(2,3)-C", "G-[G>]", "C-x-[GA>](2)",
]
REGEXES = ["C.{2,4}C", "N[^P][ST][^P]", "^M.?K", "K+R", "[DE]{2,}L$", "A.*W", "GS?G"]


def prosite_to_re(pattern: str) -> tuple[str, bool, bool, str | None]:
    """Independent translation for the oracle: (body regex, start anchor, end anchor,
    body without the last element when that element is '[..>]')."""
    p = "".join(pattern.split()).rstrip(".")
    start = p.startswith("<")
    p = p.removeprefix("<")
    end = p.endswith(">")  # "[G>]" ends with "]"
    p = p.removesuffix(">")
    elements = p.split("-")
    alt = None
    out = []
    for el in elements:
        el = el.replace("x", ".").replace("{", "[^").replace("}", "]")
        el = el.replace("(", "{").replace(")", "}")
        out.append(el)
    if elements[-1].startswith("[") and ">]" in elements[-1]:
        out[-1] = out[-1].replace(">", "")
        alt = "".join(out[:-1])
    return "".join(out), start, end, alt


def oracle(seqs, pattern, syntax="prosite", max_len=None):
    """Every (entry, start, end) whose window re.fullmatch-es the pattern; windows longer than
    ``max_len`` are not tried (the test patterns with a bound cannot match more than 40)."""
    if syntax == "prosite":
        body, a_start, a_end, alt = prosite_to_re(pattern)
    else:
        body, a_start, a_end, alt = pattern.lstrip("^"), pattern.startswith("^"), \
            pattern.endswith("$"), None
        body = body.rstrip("$")
    rx = re.compile(body)
    rx_alt = re.compile(alt) if alt is not None else None
    rows = []
    for e, seq in enumerate(seqs):
        for s in range(len(seq)):
            if a_start and s:
                break
            last = len(seq) if max_len is None else min(len(seq), s + max_len)
            for t in range(s + 1, last + 1):
                if a_end and t != len(seq):
                    continue
                w = seq[s:t]
                if rx.fullmatch(w) or (rx_alt is not None and t == len(seq)
                                       and rx_alt.fullmatch(w)):
                    rows.append((e, s, t))
    return rows


def random_seqs(seed, n=40):
    rng = np.random.default_rng(seed)
    seqs = ["".join(rng.choice(list("ACDEGKNPRSTW"), int(rng.integers(1, 70)))) for _ in range(n)]
    return seqs + ["MCKKC", "SKL", "AG", "A", "KDEL", "NPSTNASA", "XAXCUUC"]


def engine_rows(seqs, patterns, syntax="prosite"):
    motifs = compile_motifs(patterns, syntax)
    pat, ent, start, end = find_motifs(SequenceStore.from_sequences(seqs), motifs)
    got = {p: [] for p in range(len(patterns))}
    for p, e, s, t in zip(pat.tolist(), ent.tolist(), start.tolist(), end.tolist(), strict=True):
        got[p].append((e, s, t))
    return got


@pytest.mark.parametrize("seed", [1, 2])
def test_prosite_equals_re_fullmatch_on_random_sequences(seed):
    seqs = random_seqs(seed)
    got = engine_rows(seqs, PATTERNS)
    for p, pattern in enumerate(PATTERNS):
        assert got[p] == oracle(seqs, pattern), pattern  # no length cap on short sequences


def test_rows_beyond_the_first_output_estimate():
    # more rows than the kernel's first allocation (one per 8 residues, at least 256): the
    # chunk is rerun with room; rows stay sorted by pattern, entry, start, end
    rng = np.random.default_rng(4)
    seqs = random_seqs(4) + ["".join(rng.choice(list(AA), 400))]
    patterns = ["[ST]-x-[RK]", "x(1,2)", "G-[G>]"]
    got = engine_rows(seqs, patterns)
    assert sum(len(v) for v in got.values()) > 1000
    for p, pattern in enumerate(patterns):
        assert got[p] == oracle(seqs, pattern), pattern


def test_regex_equals_re_fullmatch():
    seqs = random_seqs(3) + ["DDEEL", "KKKR", "GSG", "GG"]
    got = engine_rows(seqs, REGEXES, "regex")
    for p, pattern in enumerate(REGEXES):
        assert got[p] == oracle(seqs, pattern, "regex"), pattern


def test_prosite_on_real_sequences(repo_root):
    import pandas as pd

    seqs = pd.read_csv(repo_root / "data/deeploc2/deeploc2_swissprot.csv.gz",
                       nrows=60).sequence.tolist()
    patterns = PATTERNS[:4] + ["[ST]-x-[RK]", "<M"]
    got = engine_rows(seqs, patterns)
    for p, pattern in enumerate(patterns):
        assert got[p] == oracle(seqs, pattern, max_len=40), pattern
    assert len(got[1]) > 20  # N-glycosylation sites do occur


@pytest.mark.parametrize(
    ("pattern", "syntax", "position", "reason"),
    [
        ("[KR-x", "prosite", 1, "never closed"),
        ("x(4,2)", "prosite", 3, "maximum is smaller"),
        ("A-1-C", "prosite", 3, "expected an element"),
        ("A-[KB@]", "prosite", 6, "not a residue letter"),
        ("A--C", "prosite", 3, "expected an element"),
        ("A-C>-D", "prosite", 4, "must end the pattern"),
        ("A-[G>]-C", "prosite", 6, "only allowed in the last element"),
        ("AC", "prosite", 2, "expected '-'"),
        ("A(2", "prosite", 2, "never closed"),
        ("", "prosite", 1, "empty pattern"),
        ("A|C", "regex", 2, "not supported"),
        ("C.{4,2}C", "regex", 4, "maximum is smaller"),
        ("A**", "regex", 3, "quantifier must follow"),
    ],
)
def test_bad_patterns_name_the_position(pattern, syntax, position, reason):
    with pytest.raises(MotifSyntaxError) as info:
        compile_motif(pattern, syntax)
    assert info.value.position == position
    assert reason in str(info.value) and repr(pattern) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_unknown_syntax():
    with pytest.raises(ValueError, match="syntax must be one of prosite, regex"):
        compile_motif("A", "glob")


# ------------------------------------------------------------------ API and CLI on a real KB
kb_dir = test_api.kb_dir
runner = CliRunner()


def test_api_motif_equals_oracle(kb_dir):
    import kb

    with kb.open(kb_dir) as opened:
        ent = opened.con.sql("SELECT accession, sequence, taxon_id FROM entries ORDER BY "
                             "entry_id").to_arrow_table().to_pandas()
        table = opened.motif(["N-{P}-[ST]-{P}", "[ST]-x-[RK]>"], taxon=9606)
    assert table.column_names == ["motif", "accession", "start", "end", "match", "entry_id"]
    seqs = ent.sequence.tolist()
    want = []
    for pattern in ["N-{P}-[ST]-{P}", "[ST]-x-[RK]>"]:
        for e, s, t in oracle(seqs, pattern, max_len=40):
            if ent.taxon_id[e] == 9606:
                want.append((pattern, ent.accession[e], s + 1, t, seqs[e][s:t], e))
    got = list(zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True))
    assert got == want and want


def test_cli_motif_db_and_fasta(kb_dir, tmp_path):
    import kb

    with kb.open(kb_dir) as opened:
        seqs = [opened.store.sequence(i) for i in range(5)]
        accs = opened.accessions.to_pylist()[:5]
    fasta = tmp_path / "p.fasta"
    fasta.write_text("".join(f">sp|{a}|X_HUMAN Desc OS=Homo sapiens OX=9606\n{s}\n"
                             for a, s in zip(accs, seqs, strict=True)))
    res = runner.invoke(kb_app, ["motif", "--fasta", str(fasta), "C-x(2,4)-C"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0].split("\t") == ["motif", "accession", "start", "end", "match"]
    want = [f"C-x(2,4)-C\t{accs[e]}\t{s + 1}\t{t}\t{seqs[e][s:t]}"
            for e, s, t in oracle(seqs, "C-x(2,4)-C", max_len=40)]
    assert lines[1:] == want and want
    pat_file = tmp_path / "patterns.txt"
    pat_file.write_text("# signals\nC-x(2,4)-C\n")
    res_db = runner.invoke(kb_app, ["motif", "--db", str(kb_dir), "-i", str(pat_file)])
    assert res_db.exit_code == 0, res_db.output
    assert [ln.rsplit("\t", 1)[0] for ln in res_db.stdout.splitlines()[1:len(want) + 1]] == want
    bad = runner.invoke(kb_app, ["motif", "--db", str(kb_dir), "x(4,2)"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
    assert bad.stderr.strip() == ("error: bad pattern 'x(4,2)' at position 3: repeat (4,2): the "
                                  "maximum is smaller than the minimum")
    both = runner.invoke(kb_app, ["motif", "--db", str(kb_dir), "--fasta", str(fasta), "C"])
    assert both.exit_code == 2 and "exactly one of --db or --fasta" in both.stderr
