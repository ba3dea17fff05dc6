"""``kb build`` and ``kb info``: thin commands over kb.build.build and kb.store.info."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path

import typer

from cli.apps import kb_app, user_errors
from cli.options import PlainUsageCommand

#: How many skipped-entry messages ``kb build`` prints (all are counted).
SHOWN_ERRORS = 10


class MinEvidence(str, Enum):
    any = "any"
    experimental = "experimental"


class InputFormat(str, Enum):
    flatfile = "flatfile"
    table = "table"
    fasta = "fasta"


@kb_app.command("build", cls=PlainUsageCommand)
@user_errors
def build_command(
    inputs: list[Path] = typer.Argument(
        ...,
        help="Input files, plain or .gz: UniProtKB flat files (uniprot_sprot.dat.gz), CSV/TSV "
        "tables with accession, sequence and location columns (UniProt TSV export, DeepLoc 2.0 "
        "CSV) or FASTA (UniProt or DeepLoc headers). The format is detected from the content.",
        show_default=False, metavar="INPUT",
    ),
    db: Path = typer.Option(
        ..., "--db", help="Knowledge-base directory to create (kb.duckdb + sequence store + index)."
    ),
    force: bool = typer.Option(
        False, "--force", help="Replace an existing --db knowledge base (atomically, after the new "
        "build is complete). A directory that is not a knowledge base is never replaced."
    ),
    min_evidence: MinEvidence = typer.Option(
        MinEvidence.any,
        "--min-evidence",
        help="'experimental' keeps only location rows with evidence ECO:0000269 (DeepLoc's rule; "
        "dataset labels of tables/FASTA are kept); 'any' keeps all.",
    ),
    strict: bool = typer.Option(
        False, "--strict", help="Abort on the first malformed entry instead of skipping it."
    ),
    fmt: InputFormat | None = typer.Option(
        None, "--format", help="Force the input format instead of detecting it from the content."
    ),
    k: int = typer.Option(5, "--k", min=1, help="k-mer length of the peptide search index."),
    workers: int | None = typer.Option(
        None,
        "--workers",
        min=1,
        help="Flat-file parser processes (default: 2 when the machine has 2 or more CPUs).",
    ),
    progress: bool = typer.Option(
        True, "--progress/--no-progress", help="Show a progress bar (by bytes read) on stderr."
    ),
    shards: int | None = typer.Option(
        None, "--shards", min=1,
        help="Build a sharded knowledge base: N shards (ordinary knowledge bases of contiguous "
        "entry ranges of about equal residues) plus a manifest (shards.json). Searches give the "
        "same rows as an unsharded build. See docs/scale.md.",
    ),
    shard_residues: float | None = typer.Option(
        None, "--shard-residues", min=1,
        help="Build a sharded knowledge base whose shards hold at most R residues each (e.g. "
        "2e9); instead of --shards.",
    ),
    scheduler: str | None = typer.Option(
        None, "--scheduler",
        help="Build the shards in parallel on a Dask cluster: a scheduler address "
        "(tcp://host:8786) or local[:W] (W local worker processes, default 2). The workers must "
        "read and write --db's parent directory. Needs --shards or --shard-residues.",
    ),
) -> None:
    """Build a local knowledge base from UniProt flat files, labelled tables or FASTA.

    The build goes to a temporary directory and is published in one atomic step when
    complete: an interrupted build never leaves a directory that looks valid, and readers
    see the old or the new knowledge base, never a mix.

    Malformed entries are skipped and counted (file and line reported) unless --strict.
    """
    import os

    from kb.build import build

    if workers is None:
        workers = min(2, os.cpu_count() or 1)
    options = dict(force=force, min_evidence=min_evidence.value, strict=strict,
                   fmt=fmt.value if fmt is not None else None, k=k, progress=progress,
                   workers=workers)
    if shards is not None or shard_residues is not None:
        from kb.cluster import cluster_client
        from kb.shards import build_sharded

        with cluster_client(scheduler) as client:
            s = build_sharded(inputs, db, shards=shards, shard_residues=shard_residues,
                              client=client, **options)
    elif scheduler is not None:
        raise ValueError("--scheduler needs --shards N or --shard-residues R")
    else:
        s = build(inputs, db, **options)
    for msg in s.errors[:SHOWN_ERRORS]:
        typer.echo(f"skipped: {msg}", err=True)
    if s.skipped > SHOWN_ERRORS:
        typer.echo(f"skipped: ... and {s.skipped - SHOWN_ERRORS} more", err=True)
    typer.echo(
        f"built {s.db}: {s.entries:,} entries, {s.residues:,} residues, "
        f"{s.with_location:,} with a mapped location, {s.skipped:,} skipped, "
        f"{s.duplicates:,} duplicate accessions ignored, {s.seconds:.1f} s"
    )


@kb_app.command("info")
@user_errors
def info_command(
    db: Path = typer.Option(..., "--db", help="Knowledge-base directory (made by 'kb build')."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
    check: bool = typer.Option(
        False, "--check", help="Verify the SHA-256 of every knowledge-base file (against the "
        "build's manifest) and of every source file (reads them all); exit 2 on a mismatch."),
) -> None:
    """Show a knowledge base: rows per table, class distribution, sources, index size.

    Sizes of the knowledge-base files are always checked against the build's manifest; a
    source file whose size or time (with --check: checksum) changed since the build is
    marked 'stale'.
    """
    from kb.shards import info as sharded_info
    from kb.shards import is_sharded
    from kb.store import info

    facts = sharded_info(db, checksums=check) if is_sharded(db) else info(db, checksums=check)
    if as_json:
        typer.echo(json.dumps(facts, indent=1, sort_keys=True, default=str))
        return
    meta = facts["meta"]
    lines = [f"knowledge base {facts['db']} (built {meta.get('build_finished', '?')}, "
             f"tool {meta.get('tool_version', '?')}, min evidence {facts['min_evidence']})"]
    if facts.get("version"):
        lines.append(f"version: {facts['version']}")
    lines.append("tables:")
    lines += [f"  {t:<22}{n:>12,}" for t, n in facts["tables"].items()]
    lines.append(f"entries per class ({facts['entries_with_class']:,} entries with a class):")
    lines += [f"  {c:<22}{n:>12,}" for c, n in facts["classes"].items()]
    provides = facts.get("provides")
    if provides:
        lines.append(
            f"fields: reviewed status {provides['reviewed_known']:,} "
            f"({provides['reviewed']:,} reviewed), taxon id {provides['taxon_id']:,}, "
            f"lineage {provides['lineage']:,}, organism {provides['organism']:,} "
            f"of {provides['entries']:,} entries")
    changed = {s["path"]: s for s in facts.get("stale_sources", [])}
    lines.append("sources:")
    for src in facts["sources"]:
        state = changed.get(src["path"])
        note = f" -- {state['status']}: {state['why']}" if state else ""
        lines.append(
            f"  {src['path']} [{src['format']}] {src['entries']:,} entries, "
            f"{src['skipped']:,} skipped, sha256 {src['sha256']}{note}"
        )
    idx = facts["index"]
    lines.append(
        f"index: k={idx.get('k', '?')}, {idx.get('n_positions', 0):,} positions, "
        f"{facts['index_bytes'] / 1e6:,.1f} MB; total on disk {facts['total_bytes'] / 1e6:,.1f} MB"
    )
    if "shards" in facts:
        lines.append(f"shards: {len(facts['shards'])}")
        lines += [f"  {x['name']:<14}{x['entries']:>12,} entries{x['residues']:>16,} residues"
                  f"{x['bytes'] / 1e6:>12,.1f} MB" for x in facts["shards"]]
    if facts.get("checked_files"):
        what = "sizes and checksums" if check else "sizes"
        lines.append(f"check: {what} of {len(facts['checked_files'])} files match the manifest")
    else:
        lines.append("check: no manifest (built before manifests were recorded)")
    typer.echo("\n".join(lines))
