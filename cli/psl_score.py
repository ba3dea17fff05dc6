"""``psl score``: hit rates of subsequences against a knowledge base (thin over
:func:`psl.hitrate.score`)."""

from __future__ import annotations

from pathlib import Path

import typer

from cli.apps import choice_enum, psl_app, user_errors, warn_stale
from cli.options import PlainUsageCommand
from psl.choices import EVIDENCE_LEVELS, WEIGHTINGS

__all__ = ["score_cmd"]


Weighting = choice_enum("Weighting", WEIGHTINGS)
Evidence = choice_enum("Evidence", EVIDENCE_LEVELS)


@psl_app.command("score", cls=PlainUsageCommand)
@user_errors
def score_cmd(
    subsequences: Path = typer.Argument(
        ..., metavar="SUBSEQUENCES",
        help="Table of subsequences (.csv, .tsv, .parquet; CSV/TSV may be .gz) with columns "
        "protein (the query protein's id), location (reference class, one of the 10 DeepLoc "
        "classes, any case/separator), subsequence and start (1-based). Optional columns "
        "identify the query protein: seq_hash (MD5 of its sequence, written by 'psl explain' "
        "and 'psl extract'), accession (else protein is taken as the accession) and sequence; "
        "other columns (model, method, ...) pass through.",
        show_default=False,
    ),
    db: Path = typer.Option(..., "--db", help="Knowledge-base directory built by 'kb build'."),
    out: Path | None = typer.Option(
        None, "--out", "-o",
        help="Write the per-row table here (format from the name: .tsv, .csv, .parquet, "
        ".jsonl, text optionally .gz; written atomically); '-' or omitted: stdout. Adds "
        "n_entries, n_hits, n_unannotated, hit_rate.",
    ),
    fmt: str | None = typer.Option(
        None, "--format", "-f", help="Format of --out: tsv, csv, parquet or jsonl (default: "
        "from the --out name; tsv on stdout).", show_default=False,
    ),
    proteins_out: Path | None = typer.Option(
        None, "--proteins",
        help="Also write the per-protein table here: protein, location, the --group-by "
        "columns, hit_rate (mean over the distinct scored subsequences), n_subsequences, "
        "n_scored, and with --null: null_hit_rate, n_null, enrichment, p_value.",
    ),
    weighting: Weighting = typer.Option(
        Weighting.paper, "--weighting",
        help="paper: sum(hit*beta)/|E| with beta = 1/distance (1 at distance 0), the paper's "
        "eqs. 4-5; normalized: sum(hit*beta)/sum(beta) (the research code); none: the plain "
        "fraction of entries with the reference location.",
    ),
    evidence: Evidence = typer.Option(
        Evidence.any, "--evidence",
        help="'experimental' uses only location rows with evidence ECO:0000269 (as DeepLoc did); "
        "'any' uses all of them.",
    ),
    taxon: str | None = typer.Option(
        None, "--taxon",
        help="Only knowledge-base entries of this taxon: an NCBI taxon id (e.g. 9606) or a "
        "lineage element / organism name (e.g. Eukaryota), as in 'kb search'.",
    ),
    keep_self: bool = typer.Option(
        False, "--keep-self",
        help="Keep the query protein's own entry, its isoforms (-N suffix) and entries with an "
        "identical sequence as evidence. By default they are excluded: identical sequences by "
        "the seq_hash (or sequence) column whatever the ids, the entry and isoforms by "
        "accession; without seq_hash/sequence, by accession only (a warning says so).",
    ),
    group_by: list[str] | None = typer.Option(
        None, "--group-by",
        help="Extra input column that defines a group of the per-protein table beside protein "
        "and location (repeat it: --group-by model --group-by method). Default: the columns "
        "model, method, attention, target, label_kind that the input has; '--group-by protein' "
        "groups by protein and location only.",
        show_default=False,
    ),
    null: int = typer.Option(
        0, "--null", min=0,
        help="Null model: R random windows per subsequence (same length, same protein), scored "
        "the same way (e.g. --null 100; 0 = off). Needs --proteins.",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the null model's random draws."),
    scheduler: str | None = typer.Option(
        None, "--scheduler",
        help="Run the knowledge-base search on a Dask cluster: a scheduler address "
        "(tcp://host:8786) or local[:W]; the hit rates are the same. See docs/scale.md.",
    ),
) -> None:
    """Score subsequences by how often knowledge-base entries that contain them share the
    query protein's location (the hit rate), optionally against a random-window null model.

    A summary (rows, proteins, rows scored, mean hit rate, warnings) goes to stderr.
    """
    if null > 0 and proteins_out is None:
        raise ValueError("--null needs --proteins FILE (the null model is per protein)")
    from rich.console import Console

    import kb.opener
    from psl.hitrate.scorer import score
    from psl.tables_io import check_output, read_table, table_format, write_table

    check_output(out, inputs=[subsequences], protected=[db])
    check_output(proteins_out, inputs=[subsequences, out], protected=[db], option="--proteins")
    table_format(out, fmt)  # fail before the work on an unknown output format
    if proteins_out is not None:
        table_format(proteins_out)
    table = read_table(subsequences)
    console = Console(stderr=True)
    from kb.cluster import cluster_client

    with cluster_client(scheduler) as client, \
            kb.opener.open(db, client=client) as knowledge_base:
        warn_stale(knowledge_base)
        with console.status("scoring") as status:
            result = score(
                knowledge_base, table,
                weighting=weighting.value, evidence=evidence.value, taxon=taxon,
                keep_self=keep_self, proteins=proteins_out is not None,
                group_by=group_by or None, null=null, seed=seed, source=subsequences,
                progress=lambda stage: status.update(stage),
            )
    write_table(result.table, out if out is not None else "-", fmt)
    if proteins_out is not None and result.proteins is not None:
        write_table(result.proteins, proteins_out)
    for message in result.warnings:
        typer.echo(f"warning: {message}", err=True)
    typer.echo(result.summary(), err=True)
