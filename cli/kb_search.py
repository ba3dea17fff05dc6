"""``kb search`` (peptides in a built knowledge base) and ``kb scan`` (peptides in any FASTA).

Thin wrappers over :meth:`kb.api.KnowledgeBase.search_with_summary` and
:func:`kb.scan.scan_fasta`; this module only gathers the peptides and writes the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import typer

from cli.apps import kb_app, user_errors, warn_stale
from cli.options import PlainUsageCommand
from kb.tableio import TABLE_FORMATS

__all__ = ["search_cmd", "scan_cmd", "write_rows", "FORMATS"]

#: Output formats of ``--format``.
FORMATS = TABLE_FORMATS

_PEPTIDES_HELP = (
    "Peptides to search (any case; letters of the amino-acid alphabet only). Combined with "
    "--input if both are given."
)
_INPUT_HELP = (
    "File of peptides (plain or .gz; '-' reads stdin): one per line (blank lines and '#' "
    "comments skipped; a first line 'peptide' is a header), a CSV/TSV table with a 'peptide' "
    "column and optionally an id column (query_id, id, name, ...), or FASTA (id from the "
    "header). Ids go to the query_id column, the peptide as written to input_peptide."
)
_OUT_HELP = (
    "Write the rows to this file (atomically; format from the name: .tsv, .csv, .parquet, "
    ".jsonl, text formats optionally .gz); '-' or omitted: stdout. Never one of the inputs or "
    "a file inside the knowledge base."
)
_FORMAT_HELP = (
    "Output format: tsv, csv, parquet or jsonl (default: from the --out name; tsv on stdout)."
)
_SCHEDULER_HELP = (
    "Search on a Dask cluster: a scheduler address (tcp://host:8786) or local[:W] (W local "
    "worker processes, default 2). Each worker keeps the shards it opened memory-mapped; the "
    "rows are the same as in-process. See docs/scale.md."
)
_IL_HELP = "Let I and L match each other (mass spectrometry cannot tell them apart)."


def check_format(fmt: str | None, out: Path | None) -> str:
    """The output format (``--format``, else from ``--out``'s name, else tsv), checked before
    any work is done.

    Raises:
        InputFormatError: unknown format, or an ``--out`` name of no known format.
    """
    from kb.tableio import table_format

    return table_format(out, fmt)


def write_rows(table: pa.Table, out: Path | None, fmt: str | None) -> None:
    """Write ``table`` to ``out`` (atomically) or stdout (``None`` or ``-``), in ``fmt`` or the
    format of ``out``'s name (:func:`kb.tableio.write_table`)."""
    from kb.tableio import write_table

    write_table(table, out if out is not None else "-", fmt)


@dataclass
class Queries:
    """The peptides of a command: validated batch, as written, and the user's ids."""

    batch: object
    inputs: list[str]
    ids: list[str | None] | None


def _gather(peptides: list[str] | None, input_file: Path | None) -> Queries:
    """Validated peptides from arguments and/or an input file (``-``: stdin)."""
    from kb.peptides import prepare_peptides, read_peptide_input

    args = [p.strip() for p in peptides or []]
    if input_file is None:
        if not args:
            raise ValueError("no peptides given (PEPTIDE arguments or --input FILE)")
        return Queries(prepare_peptides(args), args, None)
    got = read_peptide_input(input_file)
    file_batch = prepare_peptides(got.peptides, source=got.source, lines=got.lines)
    if not args:
        if not got.peptides:
            raise ValueError(f"{got.source}: no peptides in the file")
        return Queries(file_batch, got.peptides, got.ids)
    prepare_peptides(args)  # validate the arguments with their own positions
    ids = None if got.ids is None else [None] * len(args) + list(got.ids)
    return Queries(prepare_peptides(args + file_batch.peptides), args + got.peptides, ids)


def _summary(n_queries: int, n_distinct: int, n_rows: int, no_hit_peptides: list[str]) -> str:
    msg = (f"{n_queries} peptide(s) ({n_distinct} distinct): {n_rows} occurrence(s); "
           f"{len(no_hit_peptides)} peptide(s) without a hit")
    if no_hit_peptides:
        shown = ", ".join(no_hit_peptides[:10])
        more = f", ... (+{len(no_hit_peptides) - 10})" if len(no_hit_peptides) > 10 else ""
        msg += f": {shown}{more}"
    return msg


@kb_app.command(
    "search", cls=PlainUsageCommand,
    help="Find every occurrence of peptides in the knowledge base.\n\n"
    "One row per occurrence: peptide, accession, start, end (1-based, inclusive), query (index "
    "of the peptide in the input), entry_id, query_id (the input's id, empty without one), "
    "input_peptide (as written). With --counts: one row per query instead. Peptides without a "
    "hit are counted in a summary on stderr.",
)
@user_errors
def search_cmd(
    peptides: list[str] | None = typer.Argument(None, help=_PEPTIDES_HELP, show_default=False,
                                                metavar="PEPTIDE"),
    db: Path = typer.Option(..., "--db", help="Knowledge-base directory built by 'kb build'."),
    input_file: Path | None = typer.Option(None, "--input", "-i", help=_INPUT_HELP),
    out: Path | None = typer.Option(None, "--out", "-o", help=_OUT_HELP),
    fmt: str | None = typer.Option(None, "--format", "-f", help=_FORMAT_HELP,
                                   show_default=False),
    il_equivalent: bool = typer.Option(False, "--il-equivalent", help=_IL_HELP),
    counts: bool = typer.Option(
        False, "--counts", help="One row per query instead of per occurrence: query_id, "
        "peptide, input_peptide, occurrences (all, overlapping included), entries (distinct "
        "entries), query; memory grows with the number of queries, not of occurrences."),
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
    scheduler: str | None = typer.Option(
        None, "--scheduler", help=_SCHEDULER_HELP),
    mismatches: int | None = typer.Option(
        None, "--mismatches", "-m", help="Also report windows within N substitutions "
        "(N = 0..3; Hamming distance, after I/L folding with --il-equivalent; an X in a peptide "
        "matches any residue). Adds the columns mismatches, mismatch_positions (1-based, "
        "';'-separated) and matched (the window). Without it: exact occurrences only.",
        show_default=False),
) -> None:
    """``kb search`` (help text in the decorator)."""
    from kb.tableio import check_output

    check_output(out, inputs=[input_file], protected=[db])
    check_format(fmt, out)
    if counts and with_locations:
        raise ValueError("--counts and --with-locations do not go together (one row per query)")
    from rich.console import Console

    import kb.opener
    from kb.peptides import query_columns

    if mismatches is not None:
        from kb.mismatch import check_mismatches

        check_mismatches(mismatches)
        if counts:
            raise ValueError("--counts and --mismatches do not go together yet (counts are of "
                             "exact occurrences)")
    queries = _gather(peptides, input_file)
    batch = queries.batch
    console = Console(stderr=True)
    from kb.cluster import cluster_client

    with cluster_client(scheduler) as client, \
            kb.opener.open(db, client=client) as knowledge_base:
        warn_stale(knowledge_base)
        with console.status(f"searching {len(batch)} peptide(s)"):
            if counts:
                table = knowledge_base.count(batch, il_equivalent=il_equivalent, taxon=taxon,
                                             reviewed_only=reviewed_only)
            else:
                result = knowledge_base.search_with_summary(
                    batch, il_equivalent=il_equivalent, taxon=taxon,
                    reviewed_only=reviewed_only, with_locations=with_locations,
                    mismatches=mismatches,
                )
                table = result.table
    table = query_columns(table, queries.inputs, queries.ids)
    if counts:
        import numpy as np

        table = table.select(["query_id", "peptide", "input_peptide", "occurrences", "entries",
                              "query"])
        n_rows = int(np.asarray(table.column("occurrences")).sum())
        no_hit_idx = np.flatnonzero(np.asarray(table.column("occurrences")) == 0)
    else:
        n_rows, no_hit_idx = table.num_rows, result.no_hit
    write_rows(table, out, fmt)
    no_hit = [batch.peptides[i] for i in no_hit_idx]
    typer.echo(_summary(len(batch), batch.n_unique, n_rows, no_hit), err=True)


@kb_app.command(
    "scan", cls=PlainUsageCommand,
    help="Find every occurrence of peptides in a FASTA file, without building a knowledge "
    "base.\n\nStreams the FASTA once through an Aho-Corasick automaton of all peptides. One "
    "row per occurrence: peptide, accession, start, end (1-based, inclusive), query, record "
    "(index of the FASTA record), query_id, input_peptide. A summary goes to stderr.",
)
@user_errors
def scan_cmd(
    peptides: list[str] | None = typer.Argument(None, help=_PEPTIDES_HELP, show_default=False,
                                                metavar="PEPTIDE"),
    fasta: Path = typer.Option(..., "--fasta", help="Proteome FASTA (plain or .gz); accession = "
                               "the field between the first two '|' (sp|ACC|NAME), else the "
                               "first word of the header."),
    input_file: Path | None = typer.Option(None, "--input", "-i", help=_INPUT_HELP),
    out: Path | None = typer.Option(None, "--out", "-o", help=_OUT_HELP),
    fmt: str | None = typer.Option(None, "--format", "-f", help=_FORMAT_HELP,
                                   show_default=False),
    il_equivalent: bool = typer.Option(False, "--il-equivalent", help=_IL_HELP),
) -> None:
    """``kb scan`` (help text in the decorator)."""
    from kb.tableio import check_output

    check_output(out, inputs=[fasta, input_file])
    check_format(fmt, out)
    import numpy as np
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from kb.peptides import query_columns
    from kb.scan import scan_fasta

    queries = _gather(peptides, input_file)
    batch = queries.batch
    if not fasta.is_file():
        raise FileNotFoundError(2, "FASTA file not found", str(fasta))
    with Progress(SpinnerColumn(), TextColumn("{task.description}: {task.completed:,} residues"),
                  TimeElapsedColumn(), console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(f"scanning {fasta.name}", total=None)
        table, n_records = scan_fasta(
            fasta, batch, il_equivalent, progress=lambda n: progress.advance(task, n)
        )
    table = query_columns(table, queries.inputs, queries.ids)
    write_rows(table, out, fmt)
    has_hit = np.zeros(len(batch), dtype=bool)
    has_hit[table.column("query").to_numpy()] = True
    no_hit = [batch.peptides[i] for i in np.flatnonzero(~has_hit)]
    typer.echo(f"{n_records} FASTA record(s); "
               + _summary(len(batch), batch.n_unique, table.num_rows, no_hit), err=True)
