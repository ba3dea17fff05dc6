"""``kb search`` (peptides in a built knowledge base) and ``kb scan`` (peptides in any FASTA).

Thin wrappers over :meth:`kb.api.KnowledgeBase.search_with_summary` and
:func:`kb.scan.scan_fasta`; this module only gathers the peptides and writes the rows.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pyarrow as pa
import typer

from cli.apps import kb_app, user_errors
from kb.atomic import atomic_path

__all__ = ["search_cmd", "scan_cmd", "write_rows", "FORMATS"]

#: Output formats of ``--format``.
FORMATS = ("tsv", "csv", "parquet", "jsonl")

_PEPTIDES_HELP = (
    "Peptides to search (any case; letters of the amino-acid alphabet only). Combined with "
    "--input if both are given."
)
_INPUT_HELP = (
    "File of peptides (plain or .gz): one per line (blank lines and '#' comments skipped), or a "
    "CSV/TSV table with a 'peptide' column."
)
_OUT_HELP = "Write the rows to this file (atomically) instead of stdout."
_FORMAT_HELP = "Output format: tsv, csv, parquet (needs --out) or jsonl."
_IL_HELP = "Let I and L match each other (mass spectrometry cannot tell them apart)."


def _format_bytes(table: pa.Table, fmt: str) -> bytes:
    import pyarrow.csv as pcsv

    buf = io.BytesIO()
    if fmt == "tsv":
        try:
            pcsv.write_csv(table, buf, pcsv.WriteOptions(delimiter="\t", quoting_style="none",
                                                          quoting_header="none"))
        except pa.ArrowInvalid:  # a value holds a tab or a newline: quote what needs it
            buf = io.BytesIO()
            pcsv.write_csv(table, buf, pcsv.WriteOptions(delimiter="\t"))
    elif fmt == "csv":
        pcsv.write_csv(table, buf)
    elif fmt == "jsonl":
        if table.num_rows:
            table.to_pandas().to_json(buf, orient="records", lines=True)
    else:  # parquet
        import pyarrow.parquet as pq

        pq.write_table(table, buf)
    return buf.getvalue()


def check_format(fmt: str, out: Path | None) -> str:
    """The output format, lower-cased, checked before any work is done.

    Raises:
        ValueError: unknown format, or parquet without ``out``.
    """
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt == "parquet" and out is None:
        raise ValueError("--format parquet needs --out FILE (binary output)")
    return fmt


def write_rows(table: pa.Table, out: Path | None, fmt: str) -> None:
    """Write ``table`` as ``fmt`` to ``out`` (atomically: temp file + ``os.replace``) or stdout.

    Raises:
        ValueError: unknown format, or parquet without ``out``.
    """
    fmt = check_format(fmt, out)
    data = _format_bytes(table, fmt)
    if out is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    out = Path(out)
    if out.is_dir():
        raise IsADirectoryError(21, "--out is a directory", str(out))
    with atomic_path(out) as tmp:
        tmp.write_bytes(data)


def _gather(peptides: list[str] | None, input_file: Path | None):
    """Validated :class:`~kb.peptides.PeptideBatch` from arguments and/or an input file."""
    from kb.peptides import prepare_peptides, read_peptides

    args = list(peptides or [])
    if input_file is None:
        if not args:
            raise ValueError("no peptides given (PEPTIDE arguments or --input FILE)")
        return prepare_peptides(args)
    from_file, lines = read_peptides(input_file)
    file_batch = prepare_peptides(from_file, source=input_file, lines=lines)
    if not args:
        if not from_file:
            raise ValueError(f"{input_file}: no peptides in the file")
        return file_batch
    prepare_peptides(args)  # validate the arguments with their own positions
    return prepare_peptides(args + file_batch.peptides)


def _summary(n_queries: int, n_distinct: int, n_rows: int, no_hit_peptides: list[str]) -> str:
    msg = (f"{n_queries} peptide(s) ({n_distinct} distinct): {n_rows} occurrence(s); "
           f"{len(no_hit_peptides)} peptide(s) without a hit")
    if no_hit_peptides:
        shown = ", ".join(no_hit_peptides[:10])
        more = f", ... (+{len(no_hit_peptides) - 10})" if len(no_hit_peptides) > 10 else ""
        msg += f": {shown}{more}"
    return msg


@kb_app.command(
    "search",
    help="Find every occurrence of peptides in the knowledge base.\n\n"
    "One row per occurrence: peptide, accession, start, end (1-based, inclusive), query (index "
    "of the peptide in the input), entry_id. Peptides without a hit are counted in a summary "
    "on stderr.",
)
@user_errors
def search_cmd(
    peptides: list[str] | None = typer.Argument(None, help=_PEPTIDES_HELP, show_default=False),
    db: Path = typer.Option(..., "--db", help="Knowledge-base directory built by 'kb build'."),
    input_file: Path | None = typer.Option(None, "--input", "-i", help=_INPUT_HELP),
    out: Path | None = typer.Option(None, "--out", "-o", help=_OUT_HELP),
    fmt: str = typer.Option("tsv", "--format", "-f", help=_FORMAT_HELP),
    il_equivalent: bool = typer.Option(False, "--il-equivalent", help=_IL_HELP),
    taxon: str | None = typer.Option(
        None, "--taxon", help="Only entries of this taxon: an NCBI taxon id (e.g. 9606), or a "
        "name matched case-insensitively against the lineage elements (e.g. Metazoa) and the "
        "organism (e.g. 'Homo sapiens' or Human)."),
    reviewed_only: bool = typer.Option(False, "--reviewed-only",
                                       help="Only reviewed (Swiss-Prot) entries."),
    with_locations: bool = typer.Option(
        False, "--with-locations", help="Add entry columns (entry_name, protein_name, organism, "
        "taxon_id, reviewed) and the entry's locations: classes (DeepLoc classes) and terms "
        "(subcellular-location terms), ';'-separated."),
    mismatches: int | None = typer.Option(
        None, "--mismatches", "-m", help="Also report windows within N substitutions "
        "(N = 0..3; Hamming distance, after I/L folding with --il-equivalent; an X in a peptide "
        "matches any residue). Adds the columns mismatches, mismatch_positions (1-based, "
        "';'-separated) and matched (the window). Without it: exact occurrences only.",
        show_default=False),
) -> None:
    """``kb search`` (help text in the decorator)."""
    check_format(fmt, out)
    from rich.console import Console

    import kb.api

    if mismatches is not None:
        from kb.mismatch import check_mismatches

        check_mismatches(mismatches)
    batch = _gather(peptides, input_file)
    console = Console(stderr=True)
    with kb.api.open(db) as knowledge_base:
        with console.status(f"searching {len(batch)} peptide(s)"):
            result = knowledge_base.search_with_summary(
                batch, il_equivalent=il_equivalent, taxon=taxon, reviewed_only=reviewed_only,
                with_locations=with_locations, mismatches=mismatches,
            )
    write_rows(result.table, out, fmt)
    no_hit = [batch.peptides[i] for i in result.no_hit]
    typer.echo(_summary(len(batch), batch.n_unique, result.table.num_rows, no_hit), err=True)


@kb_app.command(
    "scan",
    help="Find every occurrence of peptides in a FASTA file, without building a knowledge "
    "base.\n\nStreams the FASTA once through an Aho-Corasick automaton of all peptides. One "
    "row per occurrence: peptide, accession, start, end (1-based, inclusive), query, record "
    "(index of the FASTA record). A summary goes to stderr.",
)
@user_errors
def scan_cmd(
    peptides: list[str] | None = typer.Argument(None, help=_PEPTIDES_HELP, show_default=False),
    fasta: Path = typer.Option(..., "--fasta", help="Proteome FASTA (plain or .gz); accession = "
                               "the field between the first two '|' (sp|ACC|NAME), else the "
                               "first word of the header."),
    input_file: Path | None = typer.Option(None, "--input", "-i", help=_INPUT_HELP),
    out: Path | None = typer.Option(None, "--out", "-o", help=_OUT_HELP),
    fmt: str = typer.Option("tsv", "--format", "-f", help=_FORMAT_HELP),
    il_equivalent: bool = typer.Option(False, "--il-equivalent", help=_IL_HELP),
) -> None:
    """``kb scan`` (help text in the decorator)."""
    check_format(fmt, out)
    import numpy as np
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from kb.scan import scan_fasta

    batch = _gather(peptides, input_file)
    if not fasta.is_file():
        raise FileNotFoundError(2, "FASTA file not found", str(fasta))
    with Progress(SpinnerColumn(), TextColumn("{task.description}: {task.completed:,} residues"),
                  TimeElapsedColumn(), console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(f"scanning {fasta.name}", total=None)
        table, n_records = scan_fasta(
            fasta, batch, il_equivalent, progress=lambda n: progress.advance(task, n)
        )
    write_rows(table, out, fmt)
    has_hit = np.zeros(len(batch), dtype=bool)
    has_hit[table.column("query").to_numpy()] = True
    no_hit = [batch.peptides[i] for i in np.flatnonzero(~has_hit)]
    typer.echo(f"{n_records} FASTA record(s); "
               + _summary(len(batch), batch.n_unique, table.num_rows, no_hit), err=True)
