"""``psl score`` in-process with CliRunner: outputs, exit codes and one-line errors."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from test_hitrate import GOLDEN_KB, P11111_PAPER, S1, S3, X1
from typer.testing import CliRunner

from cli.main import psl_app


@pytest.fixture(scope="module")
def golden_db(tmp_path_factory):
    from kb.build import build

    directory = tmp_path_factory.mktemp("cli_golden")
    csv_path = directory / "kb.csv"
    pd.DataFrame(GOLDEN_KB, columns=["accession", "sequence", "label"]).to_csv(csv_path,
                                                                              index=False)
    build([csv_path], directory / "kb", progress=False)
    return directory / "kb"


@pytest.fixture()
def subsequences(tmp_path):
    path = tmp_path / "subs.csv"
    pd.DataFrame({
        "protein": ["P11111", "P11111", "P11111", "X99999"],
        "location": ["Nucleus", "nucleus", "NUCLEUS", "Cytoplasm"],
        "subsequence": ["WHKW", "LLE", "TWH", "WHKW"],
        "start": [4, 8, 3, 1],
        "method": ["ig", "ig", "ig", "ig"],
    }).to_csv(path, index=False)
    return path


def _run(*args):
    return CliRunner().invoke(psl_app, ["score", *map(str, args)])


def test_score_writes_rows_and_proteins(golden_db, subsequences, tmp_path):
    out, prot = tmp_path / "rows.tsv", tmp_path / "prot.csv"
    res = _run(subsequences, "--db", golden_db, "--out", out, "--proteins", prot)
    assert res.exit_code == 0, res.output
    rows = pd.read_csv(out, sep="\t")
    assert rows.columns.tolist() == ["protein", "location", "subsequence", "start", "method",
                                     "n_entries", "n_hits", "n_unannotated", "hit_rate"]
    assert rows["hit_rate"][0] == pytest.approx(S1["paper"])
    assert math.isnan(rows["hit_rate"][1])
    assert rows["hit_rate"][2] == pytest.approx(S3["paper"])
    assert rows["hit_rate"][3] == pytest.approx(X1["paper"])
    proteins = pd.read_csv(prot)
    assert proteins.columns.tolist()[:3] == ["protein", "location", "method"]  # by default
    proteins = proteins.set_index("protein")
    assert proteins.loc["P11111", "hit_rate"] == pytest.approx(P11111_PAPER)
    assert proteins.loc["P11111", "n_scored"] == 2
    assert "4 rows, 2 proteins, 3 rows scored, mean hit rate" in res.stderr
    assert res.stdout == ""


def test_score_to_stdout_with_weighting(golden_db, subsequences):
    res = _run(subsequences, "--db", golden_db, "--weighting", "normalized")
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0].split("\t")[-4:] == ["n_entries", "n_hits", "n_unannotated", "hit_rate"]
    assert float(lines[1].split("\t")[-1]) == pytest.approx(S1["normalized"])


def test_score_null_and_group_by_parquet(golden_db, subsequences, tmp_path):
    prot = tmp_path / "prot.parquet"
    args = [subsequences, "--db", golden_db, "--out", tmp_path / "r.parquet", "--proteins", prot,
            "--null", 25, "--seed", 3, "--group-by", "method"]
    res = _run(*args)
    assert res.exit_code == 0, res.output
    first = pd.read_parquet(prot)
    assert first.columns.tolist() == ["protein", "location", "method", "hit_rate",
                                      "n_subsequences", "n_scored", "null_hit_rate", "n_null",
                                      "enrichment", "p_value"]
    p = first.set_index("protein").loc["P11111"]
    assert 0 < p["p_value"] <= 1 and p["n_null"] <= 25
    assert "warning: 1 protein(s) have no known sequence" in res.stderr  # X99999
    assert _run(*args).exit_code == 0
    pd.testing.assert_frame_equal(first, pd.read_parquet(prot))  # seeded: same result


def test_score_position_mismatch_is_a_warning(golden_db, tmp_path):
    path = tmp_path / "s.tsv"
    path.write_text("protein\tlocation\tsubsequence\tstart\nP11111\tNucleus\tTWH\t5\n")
    res = _run(path, "--db", golden_db)
    assert res.exit_code == 0, res.output
    assert "warning: 1 row(s) have a subsequence that is not at its start" in res.stderr
    # and: no seq_hash column, so identification by accession only (warned)
    assert "warning: the input has no 'seq_hash' or 'sequence' column" in res.stderr
    assert "2 warnings" in res.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("protein,location,subsequence,start\nP11111,Nucleus,WHKW,4\nP11111,Nowhere,TWH,3\n",
         "s.csv, row 2: unknown location 'Nowhere'"),
        ("protein,location,subsequence,start\nP11111,Nucleus,WH*W,4\n",
         "s.csv, row 1: subsequence has letters outside the amino-acid alphabet: 'WH*W'"),
        ("protein,location,start\nP11111,Nucleus,4\n",
         "s.csv: missing column(s) subsequence (columns present: protein, location, start)"),
        ("protein,location,subsequence,start\nP11111,Nucleus,WHKW,-4\n",
         "s.csv, row 1: start must be a 1-based position (an integer >= 1), got -4"),
        ("", "s.csv: empty table (no header line)"),
    ],
)
def test_score_bad_input_exit_2_one_line(golden_db, tmp_path, content, message):
    path = tmp_path / "s.csv"
    path.write_text(content)
    res = _run(path, "--db", golden_db)
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {path.parent / message}")
    assert "Traceback" not in res.output


def test_score_list_typed_parquet_column_exit_2_one_line(golden_db, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "s.parquet"
    pq.write_table(pa.table({"protein": ["P11111"], "location": ["Nucleus"],
                             "subsequence": [["WHKW"]], "start": [4]}), path)
    res = _run(path, "--db", golden_db)
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.output
    assert lines[0].startswith(f"error: {path}: column 'subsequence' holds ")


def test_score_empty_input_warns(golden_db, tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("protein,location,subsequence,start,seq_hash\n")
    res = _run(path, "--db", golden_db)
    assert res.exit_code == 0
    assert "warning: the input has no rows: nothing to score" in res.stderr


def test_score_bad_options_exit_2(golden_db, subsequences, tmp_path):
    res = _run(subsequences, "--db", golden_db, "--null", 10)
    assert res.exit_code == 2
    assert "error: --null needs --proteins FILE" in res.stderr
    res = _run(subsequences, "--db", tmp_path / "nokb")
    assert res.exit_code == 2 and res.stderr.startswith("error: ")
    res = _run(subsequences, "--db", golden_db, "--out", tmp_path / "x.xlsx")
    assert res.exit_code == 2 and "unknown table format" in res.stderr
    res = _run(tmp_path / "missing.csv", "--db", golden_db)
    assert res.exit_code == 2 and "missing.csv" in res.stderr
    res = _run(subsequences, "--db", golden_db, "--weighting", "beta")
    assert res.exit_code == 2 and "beta" in res.stderr
    res = _run(subsequences, "--db", golden_db, "--group-by", "model", "--proteins",
               tmp_path / "p.csv")
    assert res.exit_code == 2 and "group-by column(s) model not in the input" in res.stderr


def test_score_help_explains_every_option():
    res = CliRunner().invoke(psl_app, ["score", "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    for option in ("--db", "--out", "--proteins", "--weighting", "--evidence", "--taxon",
                   "--keep-self", "--group-by", "--null", "--seed"):
        assert option in res.output
    assert "ECO:0000269" in res.output and "1-based" in res.output


def test_score_warns_once_when_the_kb_source_changed(tmp_path, subsequences):
    # A knowledge base built from a temporary copy of the golden input, then that input edited:
    # `psl score` still scores (the same rows as before) but says on stderr, in one line, which
    # source changed, like `kb search` does.
    from kb.build import build

    src = tmp_path / "kb.csv"
    pd.DataFrame(GOLDEN_KB, columns=["accession", "sequence", "label"]).to_csv(src, index=False)
    db = tmp_path / "kb"
    build([src], db, progress=False)
    fresh = _run(subsequences, "--db", db)
    assert fresh.exit_code == 0, fresh.output
    assert not [x for x in fresh.stderr.splitlines() if "stale" in x]
    with open(src, "a") as fh:
        fh.write("P77777,MWWWKKK,Nucleus\n")
    res = _run(subsequences, "--db", db)
    assert res.exit_code == 0, res.output
    stale = [x for x in res.stderr.splitlines() if "stale" in x]
    assert len(stale) == 1 and stale[0].startswith("warning: knowledge base ")
    assert str(src.resolve()) in stale[0] and "kb build --force" in stale[0]
    assert res.stdout == fresh.stdout  # the warning goes to stderr only
