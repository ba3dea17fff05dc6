"""Acceptance test (issue 10): a user's own inputs through explain -> extract -> score -> report.

A knowledge base built from the real flat file ``tests/data/swissprot/sample_entries.dat.gz``;
a FASTA with UniProt headers and no labels made from some of its entries (an entry with an
identical twin and isoforms, an entry whose identical twin has another accession, an isoform),
one plain-accession header, and one of the KB's sequences under an accession the KB does not
know. Checked against an independent oracle: the hits recomputed by brute-force ``str.find``
over the flat file's sequences (Biopython's parse) minus the query's own entry, its isoforms
and every identical sequence. The same proteins under plain-accession headers give the same
results. All commands run in-process through the CLI (shipped ``models/fast``, attention).
"""

from __future__ import annotations

import gzip
import re

import pandas as pd
import pytest
from test_flatfile import biopython_records
from typer.testing import CliRunner

from cli.main import psl_app

#: (header id of the UniProt-style FASTA, its plain-accession id, the KB entry whose sequence
#: it has, the rest of the header).
QUERIES = [
    ("sp|P21802|FGFR2_HUMAN", "P21802", "P21802",
     "Fibroblast growth factor receptor 2 OS=Homo sapiens OX=9606 GN=FGFR2 PE=1 SV=1"),
    ("sp|C0HKC1|PA2HB_AGKPC", "C0HKC1", "C0HKC1",
     "Basic phospholipase A2 OS=Agkistrodon piscivorus conanti OX=1928342 PE=1 SV=1"),
    ("sp|P48347|14310_ARATH", "P48347", "P48347",
     "14-3-3-like protein GF14 epsilon OS=Arabidopsis thaliana OX=3702 GN=GRF10 PE=1 SV=1"),
    ("sp|P21802-2|FGFR2-2_HUMAN", "P21802-2", "P21802-2",
     "Isoform 2 of Fibroblast growth factor receptor 2 OS=Homo sapiens OX=9606 GN=FGFR2"),
    ("P04439", "P04439", "P04439", ""),  # a plain accession header in both runs
    # a KB sequence (claudin-1, O95832) under an accession the KB does not have
    ("tr|Q0ZZZ9|Q0ZZZ9_HUMAN", "Q0ZZZ9", "O95832", "Claudin copy OS=Homo sapiens OX=9606"),
]
_ISOFORM = re.compile(r"-\d+$")


@pytest.fixture(scope="module")
def flat_entries(test_data):
    """accession -> sequence, from Biopython's parse of the flat file (the oracle's data)."""
    with gzip.open(test_data / "swissprot" / "sample_entries.dat.gz", "rt") as handle:
        records = biopython_records(handle.read())
    return {r.accessions[0]: r.sequence for r in records}


@pytest.fixture(scope="module")
def kb_dir(tmp_path_factory, test_data):
    from kb.build import build

    directory = tmp_path_factory.mktemp("e2e") / "kb"
    build([test_data / "swissprot" / "sample_entries.dat.gz"], directory, progress=False)
    return directory


def _fasta(path, flat_entries, plain):
    lines = []
    for header_id, plain_id, source, description in QUERIES:
        head = plain_id if plain else f"{header_id} {description}".strip()
        sequence = flat_entries[source]
        lines.append(f">{head}")
        lines.extend(sequence[i : i + 60] for i in range(0, len(sequence), 60))
    path.write_text("\n".join(lines) + "\n")
    return path


def _invoke(*args):
    res = CliRunner().invoke(psl_app, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return res


def _pipeline(directory, fasta, kb_dir, repo_root):
    directory.mkdir()
    attributions = directory / "attributions.parquet"
    subsequences = directory / "subsequences.csv"
    scores = directory / "scores.tsv"
    proteins = directory / "proteins.csv"
    report = directory / "report.html"
    _invoke("explain", "--model", repo_root / "models" / "fast", "--fasta", fasta,
            "--out", attributions, "--threads", 1)
    extract = _invoke("extract", attributions, "--out", subsequences)  # --label auto
    score = _invoke("score", subsequences, "--db", kb_dir, "--out", scores,
                    "--proteins", proteins, "--null", 3)
    keep = _invoke("score", subsequences, "--db", kb_dir, "--keep-self",
                   "--out", directory / "keep_self.tsv")
    _invoke("report", "-a", attributions, "--scores", scores, "--db", kb_dir, "--out", report)
    return {
        "attributions": pd.read_parquet(attributions),
        "subsequences": pd.read_csv(subsequences),
        "scores": pd.read_csv(scores, sep="\t"),
        "keep_self": pd.read_csv(directory / "keep_self.tsv", sep="\t"),
        "proteins": pd.read_csv(proteins),
        "report": report.read_text(),
        "stderr": extract.stderr + score.stderr + keep.stderr,
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory, flat_entries, kb_dir, repo_root):
    base = tmp_path_factory.mktemp("runs")
    return {
        kind: _pipeline(base / kind, _fasta(base / f"{kind}.fasta", flat_entries, kind == "plain"),
                        kb_dir, repo_root)
        for kind in ("uniprot", "plain")
    }


def _brute_force(subsequence, accession, sequence, flat_entries, keep_self):
    """Entries containing the subsequence, minus (unless keep_self) the query's own entry and
    isoforms and every entry with an identical sequence."""
    own = _ISOFORM.sub("", accession)
    return {
        acc for acc, seq in flat_entries.items()
        if subsequence in seq
        and (keep_self or (seq != sequence and _ISOFORM.sub("", acc) != own))
    }


def test_outputs_are_non_empty_and_unlabelled_proteins_use_the_predicted_label(runs):
    run = runs["uniprot"]
    subs = run["subsequences"]
    assert run["attributions"]["protein"].nunique() == len(QUERIES)
    assert run["attributions"]["true_label"].isna().all()  # no labels in the FASTA
    assert len(subs) > 0 and subs["protein"].nunique() == len(QUERIES)
    assert (subs["label_kind"] == "predicted").all()
    assert (subs["location"] == subs["predicted_label"]).all()
    assert len(run["scores"]) == len(subs) and len(run["proteins"]) == len(QUERIES)
    assert "<html" in run["report"].lower() and "P21802" in run["report"]
    # the identity travels: the id is the accession parsed from the header (kb.fasta), and
    # the sequence hash is the KB's own
    assert sorted(subs["protein"].unique()) == sorted(q[1] for q in QUERIES)
    ids = subs.drop_duplicates("protein").set_index("protein")
    assert ids.loc["P21802", "accession"] == "P21802"
    assert ids.loc["Q0ZZZ9", "accession"] == "Q0ZZZ9"
    assert "no 'seq_hash'" not in run["stderr"] and "nothing is excluded" not in run["stderr"]


@pytest.mark.parametrize("kind", ["uniprot", "plain"])
def test_no_own_entry_or_identical_sequence_counts(runs, flat_entries, kind):
    run = runs[kind]
    # UniProt headers give the accession as id, so both runs key on it
    source_of = {plain_id: (plain_id, source) for _, plain_id, source, _ in QUERIES}
    excluded_somewhere = 0
    for scored, keep in zip(run["scores"].itertuples(index=False),
                            run["keep_self"].itertuples(index=False), strict=True):
        accession, source = source_of[scored.protein]
        sequence = flat_entries[source]
        assert sequence[scored.start - 1 :].startswith(scored.subsequence)
        want = _brute_force(scored.subsequence, accession, sequence, flat_entries, False)
        everything = _brute_force(scored.subsequence, accession, sequence, flat_entries, True)
        assert scored.n_entries + scored.n_unannotated == len(want), scored
        assert keep.n_entries + keep.n_unannotated == len(everything), keep
        excluded_somewhere += len(everything) > len(want)
    assert excluded_somewhere == len(run["scores"])  # every subsequence's own entry is gone


def test_uniprot_headers_give_the_plain_accession_results(runs):
    cols = ["accession", "subsequence", "start", "end", "location", "n_entries", "n_hits",
            "n_unannotated", "hit_rate"]
    a = runs["uniprot"]["scores"][cols].sort_values(cols[:3]).reset_index(drop=True)
    b = runs["plain"]["scores"][cols].sort_values(cols[:3]).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    pa_, pb = runs["uniprot"]["proteins"], runs["plain"]["proteins"]
    assert sorted(pa_["hit_rate"].fillna(-1)) == sorted(pb["hit_rate"].fillna(-1))
    assert sorted(pa_["n_scored"]) == sorted(pb["n_scored"])


def test_without_identity_columns_the_old_failure_is_reproduced_and_warned(runs, kb_dir,
                                                                          tmp_path):
    """The bug this guards against: ids alone (sp|ACC|NAME, as explain wrote them before the
    one FASTA reader) find nothing to exclude."""
    header_of = {plain_id: header_id for header_id, plain_id, _, _ in QUERIES}
    subs = runs["uniprot"]["subsequences"].drop(columns=["accession", "seq_hash"])
    subs["protein"] = subs["protein"].map(header_of)
    path = tmp_path / "ids_only.csv"
    subs.to_csv(path, index=False)
    res = _invoke("score", path, "--db", kb_dir, "--out", tmp_path / "s.tsv")
    got = pd.read_csv(tmp_path / "s.tsv", sep="\t")
    keep = runs["uniprot"]["keep_self"]
    uniprot = got["protein"].str.contains("|", regex=False).to_numpy()
    assert (got["n_entries"] + got["n_unannotated"])[uniprot].tolist() == (
        keep["n_entries"] + keep["n_unannotated"])[uniprot].tolist()
    assert "no 'seq_hash' or 'sequence' column" in res.stderr
    assert "nothing is excluded as their own entry: sp|C0HKC1|PA2HB_AGKPC" in res.stderr
