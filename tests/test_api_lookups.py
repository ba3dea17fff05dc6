"""The ``KnowledgeBase`` lookups psl's hit rates use (class masks, entry ids by accession and by
sequence hash, isoform groups, features, the sequence arrays), on a knowledge base built from
the shipped Swiss-Prot flat file, against independent oracles: Biopython's parse of the same
file, ``hashlib.md5``, and plain loops over tables read with DuckDB."""

from __future__ import annotations

import gzip
import hashlib
import re

import duckdb
import numpy as np
import pytest
from test_flatfile import biopython_records as biopython_records_of

import kb
from kb.alphabet import sequence_hash
from kb.classes import LOCATION_CLASSES


@pytest.fixture(scope="module")
def kb_dir(tmp_path_factory, test_data):
    from kb.build import build

    directory = tmp_path_factory.mktemp("lookups") / "kb"
    build([test_data / "swissprot" / "sample_entries.dat.gz"], directory, progress=False)
    return directory


@pytest.fixture(scope="module")
def knowledge_base(kb_dir):
    with kb.open(kb_dir) as opened:
        yield opened


@pytest.fixture(scope="module")
def tables(kb_dir):
    """Oracle data read with a separate DuckDB connection, as pandas."""
    con = duckdb.connect(str(kb_dir / "kb.duckdb"), read_only=True)
    try:
        return {name: con.sql(f"SELECT * FROM {name}").df()
                for name in ("entries", "locations", "features")}
    finally:
        con.close()


@pytest.fixture(scope="module")
def biopython_records(test_data):
    with gzip.open(test_data / "swissprot" / "sample_entries.dat.gz", "rt") as handle:
        return biopython_records_of(handle.read())


def test_sequence_hash_is_what_the_kb_stores(knowledge_base, tables, biopython_records):
    by_accession = tables["entries"].set_index("accession")
    for record in biopython_records:
        want = hashlib.md5(record.sequence.encode("ascii")).hexdigest()
        assert knowledge_base.sequence_hash(record.sequence.lower() + "*") == want
        assert by_accession.loc[record.accessions[0], "seq_hash"] == want
        # the one function: kb.store, kb.api and psl (explain, score) all hash with it
        assert sequence_hash(" " + record.sequence.lower() + "*\n") == want
    for sequence, stored in zip(tables["entries"]["sequence"], tables["entries"]["seq_hash"],
                                strict=True):
        assert sequence_hash(sequence) == stored


def test_entry_ids_by_accession(knowledge_base, tables):
    entries = tables["entries"]
    accessions = entries["accession"].tolist()
    rng = np.random.default_rng(0)
    asked = [accessions[i] for i in rng.permutation(len(accessions))[:50]]
    asked += ["P99999", None, " " + accessions[3] + " ", accessions[5].lower()]
    got = knowledge_base.entry_ids(asked)
    want = []
    for a in asked:
        rows = entries[entries["accession"] == (a.strip() if a else a)]
        want.append(int(rows["entry_id"].iloc[0]) if len(rows) else -1)
    assert got.dtype == np.int64 and got.tolist() == want
    assert got[-1] == -1  # accessions are case-sensitive


def test_entry_ids_by_hash_finds_identical_sequences(knowledge_base, tables, biopython_records):
    entries = tables["entries"].sort_values("entry_id")
    first_with = {}
    for entry_id, sequence in zip(entries["entry_id"], entries["sequence"], strict=True):
        first_with.setdefault(hashlib.md5(sequence.encode()).hexdigest(), int(entry_id))
    hashes = [hashlib.md5(r.sequence.encode()).hexdigest() for r in biopython_records]
    hashes += [hashlib.md5(b"MSTW").hexdigest(), None]
    got = knowledge_base.entry_ids_by_hash(hashes)
    assert got.tolist() == [first_with.get(h, -1) if h else -1 for h in hashes]
    assert got[-2] == -1
    # the shipped file has identical sequences under different accessions: one entry id
    twins = entries[entries.duplicated("seq_hash", keep=False)]
    assert len(twins) >= 2
    for _, group in twins.groupby("seq_hash"):
        ids = knowledge_base.entry_ids_by_hash([h.upper() for h in group["seq_hash"]])
        assert set(ids.tolist()) == {int(group["entry_id"].min())}


def test_isoform_groups(knowledge_base, tables):
    entries = tables["entries"].sort_values("entry_id")
    bases = [re.sub(r"-\d+$", "", a) for a in entries["accession"]]
    groups = knowledge_base.isoform_groups()
    assert groups.shape == (len(entries),)
    # same group exactly when the accession without isoform suffix is the same (plain loop)
    for i in range(len(bases)):
        for j in range(len(bases)):
            assert (groups[i] == groups[j]) == (bases[i] == bases[j])
    assert any(a.endswith("-2") for a in entries["accession"])  # the case is exercised
    iso = entries["accession"].tolist().index("P21802-2")
    got = knowledge_base.isoform_group_ids(["P21802", "P21802-7", "P99999", None])
    assert got.tolist() == [groups[iso], groups[iso], -1, -1]
    assert knowledge_base.isoform_groups() is groups  # cached


@pytest.mark.parametrize("evidence", ["any", "experimental"])
def test_class_masks(knowledge_base, tables, evidence):
    entries, locations = tables["entries"], tables["locations"]
    entry_of = dict(zip(entries["accession"], entries["entry_id"], strict=True))
    want = np.zeros(len(entries), dtype=np.int64)
    for accession, klass, evid in zip(locations["accession"], locations["class"],
                                      locations["evidence"], strict=True):
        if not isinstance(klass, str) or klass not in LOCATION_CLASSES:
            continue
        if evidence == "experimental" and "ECO:0000269" not in (
                evid if isinstance(evid, str) else ""):
            continue
        want[entry_of[accession]] |= 1 << LOCATION_CLASSES.index(klass)
    got = knowledge_base.class_masks(evidence)
    assert got.dtype == np.uint16 and (want > 0).sum() > 20
    np.testing.assert_array_equal(got, want)
    assert knowledge_base.class_masks(evidence) is got  # cached on the object
    with pytest.raises(ValueError, match="unknown evidence level 'all'"):
        knowledge_base.class_masks("all")


def test_features(knowledge_base, tables):
    features = tables["features"]
    accessions = sorted(set(features["accession"]))[:5] + ["P99999"]
    got = knowledge_base.features(accessions, types=["SIGNAL", "MOTIF", "TRANSMEM"]).to_pandas()
    want = features[features["accession"].isin(accessions)
                    & features["type"].isin(["SIGNAL", "MOTIF", "TRANSMEM"])]
    key = ["accession", "type", "start", "end", "description"]
    assert len(got) == len(want) > 0
    assert sorted(map(tuple, got[key].astype(str).to_numpy())) == sorted(
        map(tuple, want[key].astype(str).to_numpy()))
    assert knowledge_base.features().num_rows == len(features)


def test_sequence_arrays(knowledge_base, tables):
    residues, offsets = knowledge_base.sequence_arrays()
    entries = tables["entries"].sort_values("entry_id")
    assert offsets.dtype == np.int64 and offsets.shape == (len(entries) + 1,)
    for i, sequence in enumerate(entries["sequence"]):
        assert residues[offsets[i]: offsets[i + 1] - 1].tobytes().decode() == sequence
