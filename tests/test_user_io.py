"""Issue 10 items 6, 10, 11, 12 on user-shaped inputs, against independent answers:

* 6: ``--out`` never overwrites a command's input or a file inside the knowledge base;
* 10: the output format follows the file name (``.parquet`` is Parquet, ``.csv`` commas, ...),
  ``--format`` overrides, ``-`` is stdout;
* 11: peptide files keep the user's ids and the peptide as written; stdin; a ``peptide``
  header line; a UTF-8 BOM; FASTA peptide files;
* 12: ``kb search --counts`` / ``KnowledgeBase.count`` against brute-force ``str.find`` counts.
"""

from __future__ import annotations

import gzip
import io
import json
import os

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import test_api
from test_api import expected_rows, sampled_peptides
from typer.testing import CliRunner

from cli.main import kb_app, psl_app
from kb.errors import KBError
from kb.tableio import check_output, read_table, table_format, write_table

kb_dir = test_api.kb_dir
entries = test_api.entries
knowledge_base = test_api.knowledge_base
runner = CliRunner()


@pytest.fixture(scope="module")
def peptides(entries):
    return sampled_peptides(entries.sequence.tolist(), 40, seed=77)


def brute_counts(entries: pd.DataFrame, peptide: str, keep=None) -> tuple[int, int]:
    """Occurrences (overlapping) and distinct entries of ``peptide``, by ``str.find``."""
    occ = ent = 0
    for e, seq in enumerate(entries.sequence):
        if keep is not None and not keep[e]:
            continue
        n, at = 0, seq.find(peptide)
        while at >= 0:
            n += 1
            at = seq.find(peptide, at + 1)
        occ += n
        ent += n > 0
    return occ, ent


def hit_rows(frame: pd.DataFrame) -> list[tuple]:
    cols = ["peptide", "accession", "start", "end", "query", "entry_id"]
    return [tuple(r) for r in frame[cols].itertuples(index=False)]


# ------------------------------------------------------------------ 10: format from the name
@pytest.mark.parametrize(
    ("name", "fmt"),
    [("h.tsv", "tsv"), ("h.TXT.gz", "tsv"), ("h.csv", "csv"), ("h.csv.gz", "csv"),
     ("h.parquet", "parquet"), ("h.pq", "parquet"), ("h.jsonl", "jsonl"),
     ("h.jsonl.gz", "jsonl"), ("-", "tsv")],
)
def test_table_format_follows_the_name(name, fmt):
    assert table_format(name) == fmt
    assert table_format(name if name != "-" else "x.tsv", "CSV") == "csv"  # --format overrides


@pytest.mark.parametrize("name", ["hits.parquet", "hits.csv", "hits.csv.gz", "hits.jsonl",
                                  "hits.jsonl.gz", "hits.tsv.gz"])
def test_kb_search_out_format_from_name(kb_dir, entries, peptides, tmp_path, name):
    out = tmp_path / name
    result = runner.invoke(kb_app, ["search", "--db", str(kb_dir), "--out", str(out), *peptides])
    assert result.exit_code == 0, result.output
    raw = out.read_bytes()
    if name.endswith(".gz"):
        assert raw[:2] == b"\x1f\x8b"
        raw = gzip.decompress(raw)
    if name.endswith(".parquet"):
        assert raw[:4] == b"PAR1"  # was TSV text before
        frame = pq.read_table(out).to_pandas()
    elif ".csv" in name:
        assert raw.split(b"\n")[0].count(b",") == 7 and b"\t" not in raw
        frame = pd.read_csv(io.BytesIO(raw))
    elif ".jsonl" in name:
        frame = pd.DataFrame([json.loads(line) for line in raw.decode().splitlines()])
    else:
        frame = pd.read_csv(io.BytesIO(raw), sep="\t")
    assert hit_rows(frame) == expected_rows(entries, peptides, False)
    assert frame.equals(read_table(out)) or hit_rows(read_table(out)) == hit_rows(frame)


def test_format_overrides_name_and_dash_is_stdout(kb_dir, entries, peptides, tmp_path):
    out = tmp_path / "hits.tsv"
    result = runner.invoke(kb_app, ["search", "--db", str(kb_dir), "--out", str(out),
                                    "--format", "csv", *peptides])
    assert result.exit_code == 0, result.output
    assert hit_rows(pd.read_csv(out)) == expected_rows(entries, peptides, False)
    result = runner.invoke(kb_app, ["search", "--db", str(kb_dir), "--out", "-", "-f", "jsonl",
                                    *peptides])
    assert result.exit_code == 0, result.output
    frame = pd.DataFrame([json.loads(line) for line in result.stdout.splitlines()])
    assert hit_rows(frame) == expected_rows(entries, peptides, False)


def test_write_table_round_trip_all_formats(tmp_path):
    frame = pd.DataFrame({"subsequence": ["NA", "MKV"], "start": [1, 20], "score": [0.5, 1.25],
                          "ok": [True, False], "note": ["a, b\tc", 'say "hi"']})
    for name in ("t.tsv", "t.csv", "t.csv.gz", "t.parquet", "t.jsonl", "t.jsonl.gz"):
        back = read_table(write_table(frame, tmp_path / name))
        assert back["subsequence"].tolist() == ["NA", "MKV"], name
        assert back["start"].tolist() == [1, 20] and back["score"].tolist() == [0.5, 1.25]
        assert back["note"].tolist() == ["a, b\tc", 'say "hi"'], name
    plain = frame.drop(columns="note")
    write_table(plain, tmp_path / "plain.csv")
    assert (tmp_path / "plain.csv").read_text() == (
        "subsequence,start,score,ok\nNA,1,0.5,true\nMKV,20,1.25,false\n")  # no quotes needed


# ---------------------------------------------------------------- 6: --out is never an input
def test_kb_search_refuses_to_overwrite_its_input_or_the_kb(kb_dir, tmp_path, monkeypatch):
    infile = tmp_path / "peps.txt"
    infile.write_text("MKV\nPEPTIDE\n")
    before = infile.read_bytes()
    result = runner.invoke(kb_app, ["search", "--db", str(kb_dir), "--input", str(infile),
                                    "--out", str(infile)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and str(infile) in result.stderr
    assert "would overwrite the input" in result.stderr
    assert infile.read_bytes() == before
    # the same file through a relative path and through a symlink
    monkeypatch.chdir(tmp_path)
    os.symlink(infile, tmp_path / "link.txt")
    for out in ("peps.txt", "./sub/../peps.txt", "link.txt"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        result = runner.invoke(kb_app, ["search", "--db", str(kb_dir), "-i", "peps.txt",
                                        "-o", out])
        assert result.exit_code == 2 and "would overwrite the input" in result.stderr, out
    assert infile.read_bytes() == before
    duck = kb_dir / "kb.duckdb"
    size = duck.stat().st_size
    result = runner.invoke(kb_app, ["search", "--db", str(kb_dir), "MKV", "--out", str(duck)])
    assert result.exit_code == 2
    assert f"--out {duck} is inside {kb_dir}" in result.stderr
    assert duck.stat().st_size == size
    with test_api.kb.open(kb_dir) as opened:  # still a working knowledge base
        assert len(opened) > 0


def test_kb_scan_refuses_to_overwrite_its_fasta(tmp_path):
    fasta = tmp_path / "proteome.fasta"
    fasta.write_text(">sp|P1|X_HUMAN x OS=Homo sapiens OX=9606\nMKVLAA\n")
    before = fasta.read_bytes()
    result = runner.invoke(kb_app, ["scan", "--fasta", str(fasta), "MKV", "--out", str(fasta)])
    assert result.exit_code == 2 and f"would overwrite the input {fasta}" in result.stderr
    assert fasta.read_bytes() == before


def test_check_output_names_both_paths(tmp_path):
    a = tmp_path / "a.tsv"
    a.write_text("x\n")
    with pytest.raises(KBError, match=f"--out {a} would overwrite the input {a}"):
        check_output(a, inputs=[None, "-", a])
    os.link(a, tmp_path / "hard.tsv")
    with pytest.raises(KBError, match="would overwrite the input"):
        check_output(tmp_path / "hard.tsv", inputs=[a])
    check_output(tmp_path / "b.tsv", inputs=[a], protected=[tmp_path / "kb"])
    check_output("-", inputs=["-"])
    check_output(None, inputs=[a])


@pytest.mark.parametrize(
    ("argv", "make"),
    [
        (["predict", "{f}", "--out", "{f}"], "fasta"),
        (["extract", "{f}", "--out", "{f}"], "table"),
        (["score", "{f}", "--db", "{kb}", "--out", "{f}"], "table"),
        (["score", "{f}", "--db", "{kb}", "--out", "{kb}/kb.duckdb"], "table"),
        (["explain", "--fasta", "{f}", "--out", "{f}"], "fasta"),
    ],
)
def test_psl_commands_refuse_to_overwrite_their_input(kb_dir, tmp_path, argv, make):
    f = tmp_path / ("in.fasta" if make == "fasta" else "in.tsv")
    f.write_text(">P1\nMKVLAA\n" if make == "fasta" else
                 "protein\tlocation\tsubsequence\tstart\nP1\tNucleus\tMKV\t1\n")
    before = f.read_bytes()
    args = [a.format(f=f, kb=kb_dir) for a in argv]
    result = runner.invoke(psl_app, args)
    assert result.exit_code == 2, result.output
    assert "would overwrite the input" in result.stderr or "is inside" in result.stderr
    assert str(f) in result.stderr or str(kb_dir) in result.stderr
    assert f.read_bytes() == before


# ------------------------------------------------------------------- 11: peptide inputs
def test_table_ids_and_written_peptides_are_kept(kb_dir, entries, peptides, tmp_path):
    infile = tmp_path / "peps.csv"
    infile.write_bytes(b"\xef\xbb\xbf" + ("id,Peptide,note\n" + "".join(
        f"q{i}, {p.lower()} ,x\n" for i, p in enumerate(peptides))).encode())
    out = tmp_path / "hits.parquet"
    result = runner.invoke(kb_app, ["search", "--db", str(kb_dir), "-i", str(infile),
                                    "-o", str(out)])
    assert result.exit_code == 0, result.output
    frame = pq.read_table(out).to_pandas()
    assert hit_rows(frame) == expected_rows(entries, peptides, False)
    assert frame["query_id"].tolist() == [f"q{q}" for q in frame["query"]]
    assert frame["input_peptide"].tolist() == [peptides[q].lower() for q in frame["query"]]


def test_stdin_header_line_and_fasta_inputs(kb_dir, entries, peptides, tmp_path):
    expected = expected_rows(entries, peptides, False)
    text = "peptide\n" + "\n".join(peptides) + "\n"  # 'peptide' is a header, not PEPTIDE
    result = runner.invoke(kb_app, ["search", "--db", str(kb_dir), "--input", "-"], input=text)
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.stdout), sep="\t", keep_default_na=False)
    assert hit_rows(frame) == expected
    assert f"{len(peptides)} peptide(s)" in result.stderr
    fasta = tmp_path / "peps.fasta"
    fasta.write_text("".join(f">sp|PEP{i}|N_HUMAN d\n{p}\n" for i, p in enumerate(peptides)))
    result = runner.invoke(kb_app, ["search", "--db", str(kb_dir), "--input", str(fasta)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.stdout), sep="\t", keep_default_na=False)
    assert hit_rows(frame) == [r for r in expected]
    assert frame["query_id"].tolist() == [f"PEP{q}" for q in frame["query"]]


def test_read_peptide_input_forms(tmp_path):
    from kb.peptides import read_peptide_input

    (tmp_path / "a.txt").write_bytes(b"\xef\xbb\xbfPeptide\n mkv \nPEPTIDE\n")
    got = read_peptide_input(tmp_path / "a.txt")
    assert (got.peptides, got.lines, got.ids) == (["mkv", "PEPTIDE"], [2, 3], None)
    (tmp_path / "b.tsv").write_text("query_id\tpeptide\nA\tMKV\n\nB\tAAA\n")
    got = read_peptide_input(tmp_path / "b.tsv")
    assert (got.peptides, got.lines, got.ids) == (["MKV", "AAA"], [2, 4], ["A", "B"])
    (tmp_path / "c.txt").write_text("PEPTIDE\nMKV\n")  # no header: PEPTIDE is a peptide
    assert read_peptide_input(tmp_path / "c.txt").peptides == ["PEPTIDE", "MKV"]


# ------------------------------------------------------------------------- 12: counts
def test_count_api_equals_brute_force(knowledge_base, entries, peptides):
    table = knowledge_base.count(peptides, chunk=7)  # several chunks
    assert table.column_names == ["query", "peptide", "occurrences", "entries"]
    got = list(zip(table.column("occurrences").to_pylist(), table.column("entries").to_pylist(),
                   strict=True))
    assert got == [brute_counts(entries, p.upper()) for p in peptides]
    assert table.column("peptide").to_pylist() == [p.upper() for p in peptides]
    assert any(o > e > 0 for o, e in got) or any(o > 0 for o, _ in got)
    keep = (entries.taxon_id == 9606).to_numpy()
    filtered = knowledge_base.count(peptides, taxon=9606, chunk=1000)
    assert filtered.column("occurrences").to_pylist() == [
        brute_counts(entries, p.upper(), keep)[0] for p in peptides]


def test_count_of_a_repetitive_peptide(knowledge_base, entries):
    """Overlapping occurrences counted (``AA`` in ``AAAA`` is 3) and entries counted once."""
    seqs = entries.sequence.tolist()
    pep = "AA"
    occ, ent = brute_counts(entries, pep)
    assert occ > ent  # the sample has repeats
    table = knowledge_base.count([pep, "A", pep.lower()])
    assert table.column("occurrences").to_pylist() == [occ, sum(s.count("A") for s in seqs), occ]
    assert table.column("entries").to_pylist()[0] == ent


def test_kb_search_counts_one_row_per_query(kb_dir, entries, peptides, tmp_path):
    infile = tmp_path / "peps.tsv"
    infile.write_text("name\tpeptide\n" + "".join(f"n{i}\t{p}\n" for i, p in enumerate(peptides)))
    out = tmp_path / "counts.csv"
    result = runner.invoke(kb_app, ["search", "--db", str(kb_dir), "-i", str(infile), "--counts",
                                    "-o", str(out)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out, keep_default_na=False)
    assert frame.columns.tolist() == ["query_id", "peptide", "input_peptide", "occurrences",
                                      "entries", "query"]
    assert frame["query_id"].tolist() == [f"n{i}" for i in range(len(peptides))]
    assert list(zip(frame.occurrences, frame.entries, strict=True)) == [
        brute_counts(entries, p.upper()) for p in peptides]
    n_no_hit = int((frame.occurrences == 0).sum())
    assert f"{int(frame.occurrences.sum())} occurrence(s); {n_no_hit} peptide(s) without" \
        in result.stderr
    assert np.all(frame["peptide"] == frame["input_peptide"].str.upper())


# ------------------------------------------------------------------ 17: consistent commands
def _commands():
    import typer

    for name, app in (("kb", kb_app), ("psl", psl_app)):
        stack = [((name,), typer.main.get_command(app))]
        while stack:
            path, cmd = stack.pop()
            if hasattr(cmd, "commands"):
                stack.extend((path + (n,), c) for n, c in cmd.commands.items())
            else:
                yield app, path, cmd


COMMANDS = sorted(_commands(), key=lambda c: c[1])
# kb build's usage line is fixed in cli/kb_build.py (another branch): cls=PlainUsageCommand
@pytest.mark.parametrize(
    ("app", "path", "cmd"),
    COMMANDS,
    ids=[" ".join(c[1]) for c in COMMANDS],
)
def test_usage_lines_have_no_braces(app, path, cmd):
    usage = runner.invoke(app, [*path[1:], "--help"]).output.splitlines()[0]
    assert usage.startswith(f"Usage: {' '.join(path)}")
    assert "{" not in usage and "}" not in usage, usage


def _choices(app, path, option) -> set[str]:
    """The choices of an option, as the command states them when given a bad value."""
    import re

    out = runner.invoke(app, [*path[1:], option, "no-such-value"]).output
    m = re.search(r"is not one of (.*?)\.?\s*$", " ".join(out.split()))
    assert m, out
    return set(re.findall(r"'([^']*)'", m.group(1)))


def test_device_model_and_split_options_agree():
    devices, models, splits = {}, {}, {}
    for app, path, cmd in COMMANDS:
        for p in cmd.params:
            if "--device" in p.opts:
                devices[path] = (p.default, frozenset(_choices(app, path, "--device")))
            if "--model" in p.opts:
                models[path] = tuple(p.opts)
            if "--split" in p.opts:
                splits[path] = _choices(app, path, "--split")
    assert len(devices) >= 6
    assert set(devices.values()) == {("auto", frozenset({"auto", "cpu", "cuda"}))}, devices
    assert all("-m" in opts for opts in models.values()), models
    explain = splits[("psl", "explain")]
    assert explain == {"test", "train", "all"}
    assert splits[("psl", "experiment", "hitrates")] == {"model"} | explain
    assert splits[("psl", "evaluate")] == {"test", "val"}  # the model's own data-config splits


def test_readme_quick_start_writes_under_an_ignored_folder(repo_root):
    import re
    import shlex

    text = (repo_root / "README.md").read_text()
    block = text.split("## Quick start", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    written = []
    for line in block.splitlines():
        words = shlex.split(line, comments=True)
        for opt, value in zip(words, words[1:], strict=False):
            if opt in ("--out", "-o", "--db", "--proteins"):
                written.append(value)
    assert len(written) >= 8
    assert all(w.startswith("out/") for w in written), written
    ignored = [g.strip() for g in (repo_root / ".gitignore").read_text().splitlines()]
    assert "/out/" in ignored
    assert not re.search(r"(?m)^out/", (repo_root / ".gitignore").read_text())


@pytest.mark.parametrize("command", ["predict", "explain"])
def test_out_inside_the_default_model_is_refused_without_model_option(command, tmp_path):
    """With no --model the shipped default is read: an --out inside it is refused as well."""
    from cli.main import psl_app
    from psl.models.checkpoint import DEFAULT_MODEL_DIR

    fasta = tmp_path / "p.fasta"
    fasta.write_text(">sp|P1|X_HUMAN x OS=Homo sapiens OX=9606\nMKVLAAGIVGSKL\n")
    target = DEFAULT_MODEL_DIR / "predictions.tsv"
    argv = ([command, str(fasta)] if command == "predict" else
            [command, "--fasta", str(fasta), "--method", "attention"]) + ["--out", str(target)]
    result = CliRunner().invoke(psl_app, argv)
    assert result.exit_code == 2, result.output
    assert f"is inside {DEFAULT_MODEL_DIR}" in result.stderr
    assert not target.exists()
