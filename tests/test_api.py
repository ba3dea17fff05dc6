"""kb.open(...).search(...) on a real knowledge base (built from shipped Swiss-Prot entries)
against brute-force ``str.find`` over the ``entries.sequence`` column; filters; locations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from test_index import brute_force

import kb
from kb.api import SEARCH_COLUMNS
from kb.errors import InvalidPeptideError, KBError, KBNotFoundError, TaxonNotFoundError


@pytest.fixture(scope="session")
def kb_dir(tmp_path_factory, test_data):
    from kb.build import build

    directory = tmp_path_factory.mktemp("kb") / "sample"
    build([test_data / "swissprot" / "sample_entries.dat.gz"], directory, progress=False)
    return directory


@pytest.fixture(scope="session")
def knowledge_base(kb_dir):
    with kb.open(kb_dir) as opened:
        yield opened


@pytest.fixture(scope="session")
def entries(knowledge_base):
    """The entries table as pandas (oracle data: sequences straight from DuckDB)."""
    return knowledge_base.con.sql(
        "SELECT entry_id, accession, sequence, taxon_id, organism, lineage, reviewed "
        "FROM entries ORDER BY entry_id"
    ).to_arrow_table().to_pandas()


def sampled_peptides(seqs: list[str], n: int, seed: int) -> list[str]:
    """Peptides of 1..30 aa taken from real sequences (both engines), some absent ones,
    duplicates, lower case, and strings spanning two neighbouring entries."""
    rng = np.random.default_rng(seed)
    peps = []
    for _ in range(n):
        s = seqs[int(rng.integers(len(seqs)))]
        length = int(rng.integers(1, 31))
        if len(s) < length:
            continue
        a = int(rng.integers(0, len(s) - length + 1))
        peps.append(s[a:a + length])
    peps += ["".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), 25)) for _ in range(20)]
    peps += [seqs[3][-4:] + seqs[4][:6], seqs[0][:5], seqs[-1][-7:]]  # span / start / end
    peps += peps[:15] + [p.lower() for p in peps[15:25]]
    return peps


def expected_rows(entries: pd.DataFrame, peptides: list[str], il: bool, keep=None):
    seqs = entries.sequence.tolist()
    rows = []
    for q, pep in enumerate(peptides):
        up = pep.upper()
        for e, s in brute_force(seqs, up, il):
            if keep is None or keep[e]:
                rows.append((up, entries.accession[e], s + 1, s + len(up), q, e))
    return rows


def rows(table: pa.Table) -> list[tuple]:
    return list(zip(*(table.column(c).to_pylist() for c in SEARCH_COLUMNS), strict=True))


@pytest.mark.slow
@pytest.mark.parametrize("il", [False, True])
def test_search_equals_brute_force(knowledge_base, entries, il):
    peptides = sampled_peptides(entries.sequence.tolist(), 400, seed=5 + il)
    result = knowledge_base.search_with_summary(peptides, il_equivalent=il)
    table = result.table
    assert table.column_names == list(SEARCH_COLUMNS)
    assert [f.type for f in table.schema] == [pa.string(), pa.string()] + [pa.int32()] * 4
    expected = expected_rows(entries, peptides, il)
    assert rows(table) == expected  # identical rows, sorted by (query, entry_id, start)
    hit_queries = {r[4] for r in expected}
    assert result.no_hit.tolist() == [q for q in range(len(peptides)) if q not in hit_queries]
    assert table.schema.metadata[b"n_no_hit"] == str(result.n_no_hit).encode()
    assert 0 < result.n_no_hit < len(peptides)
    assert any(len(p) < knowledge_base.index.k for p in peptides)  # scanner path used too


def test_il_equivalent_finds_more(knowledge_base, entries):
    seq = next(s for s in entries.sequence if "I" in s[:40] and "L" in s[:40])
    pep = seq[:40].translate(str.maketrans("IL", "LI"))
    assert knowledge_base.search([pep]).num_rows == len(expected_rows(entries, [pep], False))
    il = knowledge_base.search([pep], il_equivalent=True)
    assert rows(il) == expected_rows(entries, [pep], True)
    assert il.num_rows >= 1


@pytest.mark.parametrize(
    ("taxon", "column", "match"),
    [
        (9606, "taxon_id", lambda v: v == 9606),
        ("9606", "taxon_id", lambda v: v == 9606),
        ("homo sapiens", "organism", lambda v: str(v).startswith("Homo sapiens (")),
        ("Human", "organism", lambda v: "(Human)" in str(v)),
        ("metazoa", "lineage", lambda v: "Metazoa" in str(v).split("; ")),
    ],
)
def test_taxon_filter(knowledge_base, entries, taxon, column, match):
    keep = entries[column].map(match).to_numpy()
    assert 0 < keep.sum() < len(entries)
    peptides = sampled_peptides(entries.sequence.tolist(), 150, seed=9)
    table = knowledge_base.search(peptides, taxon=taxon)
    assert rows(table) == expected_rows(entries, peptides, False, keep)
    np.testing.assert_array_equal(knowledge_base.entry_mask(taxon), keep)


def test_reviewed_only_and_combined_filters(knowledge_base, entries):
    reviewed = (entries.reviewed == True).to_numpy()  # noqa: E712 - NULL counts as unreviewed
    peptides = sampled_peptides(entries.sequence.tolist(), 150, seed=13)
    table = knowledge_base.search(peptides, reviewed_only=True)
    assert rows(table) == expected_rows(entries, peptides, False, reviewed)
    both = reviewed & (entries.taxon_id == 9606).to_numpy()
    table = knowledge_base.search(peptides, reviewed_only=True, taxon=9606)
    assert rows(table) == expected_rows(entries, peptides, False, both)


def test_unknown_taxon_is_an_error(knowledge_base):
    with pytest.raises(TaxonNotFoundError, match="'Nowhereia' matches no entry"):
        knowledge_base.search(["MKV"], taxon="Nowhereia")
    with pytest.raises(KBError, match="matches no entry"):
        knowledge_base.search(["MKV"], taxon=123456789)


def test_with_locations_columns(knowledge_base, entries):
    located = knowledge_base.con.sql(
        "SELECT DISTINCT accession FROM locations WHERE class IS NOT NULL ORDER BY 1"
    ).fetchall()
    acc = located[0][0]
    seq = entries.sequence[entries.accession == acc].iloc[0]
    table = knowledge_base.search([seq[10:30], "WWWWWWWWWWWWWWWW"], with_locations=True)
    assert table.num_rows >= 1
    df = table.to_pandas()
    row = df[df.accession == acc].iloc[0]
    locs = knowledge_base.locations([acc]).to_pandas()
    assert row["classes"] == ";".join(sorted(set(locs["class"].dropna())))
    assert row["terms"] == ";".join(sorted(set(locs["term"])))
    e = entries[entries.accession == acc].iloc[0]
    assert row["organism"] == e.organism and row["taxon_id"] == e.taxon_id


def test_locations(knowledge_base):
    all_locs = knowledge_base.con.sql("SELECT * FROM locations").to_arrow_table().to_pandas()
    accs = sorted(set(all_locs.accession))[:3] + ["NOT_AN_ACCESSION"]
    got = knowledge_base.locations(accs).to_pandas()
    assert list(got.columns) == ["accession", "isoform", "term", "class", "evidence"]
    want = all_locs[all_locs.accession.isin(accs)]
    assert sorted(map(tuple, got[["accession", "term"]].values)) == sorted(
        map(tuple, want[["accession", "term"]].values)
    )
    assert knowledge_base.locations(accs[0]).num_rows == (all_locs.accession == accs[0]).sum()


def test_entry_table_and_accessions(knowledge_base, entries):
    table = knowledge_base.entry_table()
    assert table.column_names == ["accession", "taxon_id", "lineage", "reviewed", "seq_hash"]
    assert table.column("accession").to_pylist() == entries.accession.tolist()
    assert knowledge_base.accessions.to_pylist() == entries.accession.tolist()
    with pytest.raises(ValueError, match="unknown entries column"):
        knowledge_base.entry_table(["accession", "nope"])


def test_as_pandas_and_empty_batch(knowledge_base):
    df = knowledge_base.search(["mkv"], as_pandas=True)
    assert isinstance(df, pd.DataFrame) and list(df.columns) == list(SEARCH_COLUMNS)
    assert (df.peptide == "MKV").all()
    empty = knowledge_base.search_with_summary([])
    assert empty.table.num_rows == 0 and empty.n_queries == 0 and empty.n_no_hit == 0


@pytest.mark.parametrize(
    ("peptides", "message"),
    [
        (["MKV", "MK1V"], r"invalid peptide 'MK1V' \(argument 2\)"),
        (["MKV", ""], r"empty peptide \(argument 2\)"),
        (["MK V"], r"invalid peptide 'MK V' \(argument 1\)"),
        ([None], r"invalid peptide None \(argument 1\): expected a string"),
    ],
)
def test_invalid_peptides(knowledge_base, peptides, message):
    with pytest.raises(InvalidPeptideError, match=message):
        knowledge_base.search(peptides)


def test_open_errors(tmp_path, kb_dir):
    with pytest.raises(KBNotFoundError, match="does not exist"):
        kb.open(tmp_path / "nope")
    with pytest.raises(KBNotFoundError, match=r"missing kb\.duckdb, offsets\.npy"):
        kb.open(tmp_path)
    with kb.open(kb_dir) as opened:
        assert "KnowledgeBase(" in repr(opened)
