"""``kb motif``: PROSITE patterns (or a regular-expression subset) in a knowledge base or a FASTA.

A thin wrapper over :meth:`kb.api.KnowledgeBase.motif` and :func:`kb.motif.motifs_in_fasta`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from cli.apps import kb_app, user_errors
from cli.kb_search import _FORMAT_HELP, _OUT_HELP, check_format, write_rows
from cli.options import PlainUsageCommand

__all__ = ["motif_cmd"]


@kb_app.command(
    "motif", cls=PlainUsageCommand,
    help="Find every match of sequence motifs (PROSITE patterns) in the knowledge base or in a "
    "FASTA file.\n\n"
    "One row per (pattern, entry, start, end) whose substring matches the whole pattern, "
    "overlapping and variable-length matches included (C-x(2,4)-C gives one row per valid "
    "end): motif, accession, start, end (1-based, inclusive), match, and entry_id with --db. "
    "PROSITE syntax: x, [ABC], {ABC}, repeats (n) and (n,m), '<' / '>' anchors (also [G>]), "
    "optional trailing period. A summary goes to stderr. Syntax details: docs/motif.md.",
)
@user_errors
def motif_cmd(
    patterns: list[str] | None = typer.Argument(
        None, help="Patterns, e.g. 'N-{P}-[ST]-{P}' (quote them in the shell). Combined with "
        "--input if both are given.", show_default=False),
    db: Path | None = typer.Option(None, "--db", help="Knowledge-base directory built by "
                                   "'kb build'."),
    fasta: Path | None = typer.Option(None, "--fasta", help="Search this FASTA file (plain or "
                                      ".gz) instead of a knowledge base."),
    input_file: Path | None = typer.Option(
        None, "--input", "-i", help="File of patterns (plain or .gz), one per line; blank lines "
        "and '#' comments skipped."),
    syntax: str = typer.Option("prosite", "--syntax", help="Pattern syntax: prosite, or regex "
                               "(residue letters, ., [..], [^..], ?, *, +, {n}, {n,}, {n,m}, "
                               "^, $)."),
    out: Path | None = typer.Option(None, "--out", "-o", help=_OUT_HELP),
    fmt: str | None = typer.Option(None, "--format", "-f", help=_FORMAT_HELP,
                                   show_default=False),
    taxon: str | None = typer.Option(None, "--taxon", help="With --db: only entries of this "
                                     "taxon (id or lineage/organism name)."),
    reviewed_only: bool = typer.Option(False, "--reviewed-only",
                                       help="With --db: only reviewed (Swiss-Prot) entries."),
) -> None:
    """``kb motif`` (help text in the decorator)."""
    from kb.tableio import check_output

    check_output(out, inputs=[input_file, fasta], protected=[db])
    check_format(fmt, out)
    from kb.motif import compile_motifs, motifs_in_fasta, read_patterns

    if (db is None) == (fasta is None):
        raise ValueError("give exactly one of --db or --fasta")
    if fasta is not None and (taxon is not None or reviewed_only):
        raise ValueError("--taxon and --reviewed-only need --db")
    pats = list(patterns or [])
    if input_file is not None:
        pats += read_patterns(input_file)
    if not pats:
        raise ValueError("no patterns given (PATTERN arguments or --input FILE)")
    compile_motifs(pats, syntax)  # bad patterns fail before any work
    from rich.console import Console

    with Console(stderr=True).status(f"matching {len(pats)} pattern(s)"):
        if fasta is not None:
            if not fasta.is_file():
                raise FileNotFoundError(2, "FASTA file not found", str(fasta))
            table = motifs_in_fasta(fasta, pats, syntax)
        else:
            import kb.api

            with kb.api.open(db) as knowledge_base:
                table = knowledge_base.motif(pats, syntax=syntax, taxon=taxon,
                                             reviewed_only=reviewed_only)
    write_rows(table, out, fmt)
    found = set(table.column("motif").unique().to_pylist())
    missing = [p for p in dict.fromkeys(pats) if p not in found]
    msg = f"{len(pats)} pattern(s): {table.num_rows} match(es); {len(missing)} without a match"
    if missing:
        msg += ": " + ", ".join(missing[:10]) + (f", ... (+{len(missing) - 10})"
                                                 if len(missing) > 10 else "")
    typer.echo(msg, err=True)
