"""``psl explain``, ``psl extract``, ``psl report`` and ``psl experiment hitrates``.

Thin wrappers: the work is done in :mod:`psl.explain.attributions`, :mod:`psl.explain.extract`,
:mod:`psl.explain.report` and :mod:`psl.experiments.hitrates`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer

from cli.apps import choice_enum, experiment_app, psl_app, user_errors
from cli.options import (
    Device,
    PlainUsageCommand,
    ProteinProgress,
    device_option,
    model_option,
    progress_bar,
)
from psl.choices import (
    EXPLAIN_SPLITS,
    HITRATE_SPLITS,
    INFERENCE_ATTENTION,
    LABEL_KINDS,
    METHODS,
    TARGETS,
)

Method = choice_enum("Method", METHODS)
AttentionMode = choice_enum("AttentionMode", INFERENCE_ATTENTION)
Target = choice_enum("Target", TARGETS)

Split = choice_enum("Split", EXPLAIN_SPLITS)
#: ``psl experiment hitrates --split``: each model's own test split, or a DeepLoc 1.0 partition.
HitrateSplit = Literal[HITRATE_SPLITS]  # type: ignore[valid-type]

LabelKind = choice_enum("LabelKind", LABEL_KINDS)


@psl_app.command("explain", cls=PlainUsageCommand)
@user_errors
def explain_command(
    out: Path = typer.Option(..., "--out", "-o", help="Output table (format from the name: "
                             ".parquet, .csv, .tsv, .jsonl, text optionally .gz; '-': stdout)."),
    fmt: str = typer.Option(
        None, "--format", "-f", help="Output format: tsv, csv, parquet or jsonl (default: from "
        "the --out name).", show_default=False,
    ),
    model: Path | None = model_option(),
    fasta: Path = typer.Option(
        None, "--fasta", help="Proteins to explain (FASTA). A DeepLoc header "
        "'>ACC Location-Solubility' gives the true label; other headers give none. The "
        "accession of a UniProt header ('>sp|P12345|NAME_HUMAN ...') and the sequence hash "
        "go into the output, so that 'psl score' excludes the protein's own entry."
    ),
    split: Split = typer.Option(
        None, "--split", help="Explain a partition of the shipped DeepLoc 1.0 data instead of "
        "--fasta (test = the 2,773 official test proteins; the dual-label proteins are skipped)."
    ),
    method: Method = typer.Option(
        Method.attention, "--method", help="attention: the model's attention weights; "
        "ig: Integrated Gradients (Captum), zero-feature baseline."
    ),
    attention: AttentionMode = typer.Option(
        AttentionMode.learned, "--attention", help="Attention used by the model: learned, or "
        "the ablations uniform / permute (each protein's weights shuffled) / random (seeded)."
    ),
    target: Target = typer.Option(
        Target.predicted, "--target", help="IG target class: the predicted or the true label."
    ),
    n_steps: int = typer.Option(50, "--n-steps", min=1, help="IG integration steps."),
    internal_batch_size: int = typer.Option(
        64, "--internal-batch-size", min=1,
        help="IG: at most this many (protein, step) rows per forward/backward (bounds memory; "
        "small chunks are faster on a CPU).",
    ),
    batch_size: int = typer.Option(
        None, "--batch-size", min=1,
        help="Proteins per batch (default: 16 for attention, 1 for IG, the fastest on a CPU).",
    ),
    limit: int = typer.Option(
        None, "--limit", min=1, help="Only the first N proteins (quick looks)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the permute/random ablations."),
    device: Device = device_option("IG on CUDA runs with cuDNN disabled for the RNN backward."),
    threads: int = typer.Option(
        0, "--threads", min=0,
        help="Torch CPU threads; 0 (default) = the free cores: min(cores, max(1, cores - load "
        "average)), since on a busy machine fewer threads run faster.",
    ),
    workers: int = typer.Option(
        1, "--workers", min=1,
        help="Processes sharing the proteins, one torch thread each (CPU; attention learned "
        "or uniform). Same results as one process; for IG on many proteins (each worker takes "
        "a few seconds to start; speeds in docs/explain.md).",
    ),
) -> None:
    """Per-residue attributions (attention or Integrated Gradients) for each protein.

    Writes one row per residue: protein, position (1-based), residue, score, plus the true
    label, predicted label, confidence, IG convergence delta, the protein's accession and
    sequence hash, and class probabilities. Progress (with an ETA) goes to stderr.
    """
    import torch

    from psl.explain.attributions import IGSettings, default_threads, explain
    from psl.models.checkpoint import DEFAULT_MODEL_DIR, load_model
    from psl.tables_io import check_output, table_format, write_table

    check_output(out, inputs=[fasta], protected=[model or DEFAULT_MODEL_DIR])
    table_format(out, fmt)  # fail before the work on an unknown output format
    names, seqs, labels = _load_proteins(fasta, split)
    if limit is not None:
        names, seqs, labels = names[:limit], seqs[:limit], labels[:limit]
    from psl.models.device import resolve_device

    loaded = load_model(model, device=resolve_device(device))
    n_threads = threads or default_threads()
    threads_before = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    label = (f"{method.value} ({attention.value}, {workers} processes)" if workers > 1 else
             f"{method.value} ({attention.value}, {n_threads} thread{'s' * (n_threads > 1)})")
    with ProteinProgress(label, len(seqs)) as bar:
        table = explain(
            loaded.model,
            seqs,
            names,
            labels,
            method=method.value,
            attention=attention.value,
            target=target.value,
            classes=loaded.classes,
            batch_size=batch_size,
            ig=IGSettings(n_steps=n_steps, internal_batch_size=internal_batch_size),
            seed=seed,
            progress=bar.update,
            workers=workers,
        )
    torch.set_num_threads(threads_before)  # in-process callers keep their setting
    table = _calibrated(table, loaded)
    write_table(table, out, fmt)
    typer.echo(f"{len(seqs)} proteins, {len(table)} residues -> {out}", err=True)


def _calibrated(table, loaded):  # noqa: ANN001, ANN202 - pandas frame, LoadedModel
    """Probability and confidence columns with the checkpoint's temperature (not its logit
    offsets: the explained decision is the model's own argmax, which a temperature keeps)."""
    from psl.explain.attributions import probability_columns
    from psl.models.calibration import Calibration

    t = loaded.calibration.temperature
    if t == 1.0 or table.empty:
        return table
    cols = probability_columns(loaded.classes)
    table = table.copy()
    p = Calibration(t).recalibrate_probabilities(table[cols].to_numpy())
    table[cols] = p.astype(table[cols[0]].dtype)
    table["confidence"] = p.max(1).astype(table["confidence"].dtype)
    return table


def _load_proteins(
    fasta: Path | None, split: Split | None
) -> tuple[list[str], list[str], list[str | None]]:
    from psl.explain.attributions import load_proteins

    return load_proteins(fasta=fasta, split=split.value if split is not None else None)


@psl_app.command("extract", cls=PlainUsageCommand)
@user_errors
def extract_command(
    attributions: Path = typer.Argument(
        ..., metavar="ATTRIBUTIONS", help="Attribution table from 'psl explain'."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output table (format from the name: "
                             ".tsv, .csv, .parquet, .jsonl, text optionally .gz; '-': stdout)."),
    fmt: str = typer.Option(
        None, "--format", "-f", help="Output format: tsv, csv, parquet or jsonl (default: from "
        "the --out name).", show_default=False,
    ),
    k: float = typer.Option(
        2.0, "--k", help="A residue is salient above mean + k * std of its protein's scores."
    ),
    window: int = typer.Option(
        5, "--window", min=1, help="Window length around each salient residue (merged when "
        "overlapping or touching, clipped at the ends)."
    ),
    label: LabelKind = typer.Option(
        LabelKind.auto, "--label", help="Which label becomes 'location': auto = the true one "
        "where the protein has one, else the predicted one (a FASTA without labels); true; "
        "predicted; or both (one row per kind). Column label_kind says which."
    ),
) -> None:
    """Salient subsequences from per-residue scores, ready for 'psl score' (the protein's
    accession and sequence hash are passed through). An empty result is a warning on stderr
    saying why."""
    from psl.explain.extract import empty_reason, extract_subsequences
    from psl.tables_io import check_output, read_table, table_format, write_table

    check_output(out, inputs=[attributions])
    table_format(out, fmt)
    table = read_table(attributions)
    subs = extract_subsequences(table, k=k, window=window, label=label.value)
    if len(subs) == 0:
        typer.echo(f"warning: no subsequence extracted: {empty_reason(table, k, label.value)}",
                   err=True)
    write_table(subs, out, fmt)
    typer.echo(
        f"{len(subs)} subsequences from {subs['protein'].nunique()} proteins "
        f"(of {table['protein'].nunique()}) -> {out}",
        err=True,
    )


@psl_app.command("report", cls=PlainUsageCommand)
@user_errors
def report_command(
    attributions: list[Path] = typer.Option(
        ..., "--attributions", "-a", help="Attribution tables from 'psl explain' (repeat the "
        "option or list several files; runs are shown side by side)."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output HTML file."),
    scores: Path = typer.Option(
        None, "--scores", help="Hit rates of the subsequences ('psl score' output)."
    ),
    db: Path = typer.Option(
        None, "--db", help="Knowledge-base directory: list the entries containing each "
        "subsequence."
    ),
    protein: list[str] = typer.Option(
        None, "--protein", help="Show these proteins in detail (repeatable; default: the first "
        "--max-proteins)."
    ),
    max_proteins: int = typer.Option(
        50, "--max-proteins", min=1, help="Proteins shown in detail when --protein is not given."
    ),
    k: float = typer.Option(2.0, "--k", help="Extraction threshold (as 'psl extract --k')."),
    window: int = typer.Option(5, "--window", min=1, help="Extraction window length."),
    title: str = typer.Option("Explanations report", "--title", help="Page title."),
) -> None:
    """A self-contained HTML report: sequences coloured by attribution, subsequences, hit rates."""
    from psl.explain.report import build_report, write_report
    from psl.tables_io import read_table

    tables = [read_table(p) for p in attributions]
    score_table = read_table(scores) if scores is not None else None
    kb = None
    if db is not None:
        from kb.api import open as open_kb

        kb = open_kb(db)
    document = build_report(
        tables, score_table, kb=kb, proteins=protein or None, max_proteins=max_proteins,
        k=k, window=window, title=title,
    )
    write_report(document, out)
    typer.echo(f"report -> {out} ({len(document) / 1e6:.1f} MB)")


def _parse_model(spec: str) -> tuple[str, Path]:
    name, sep, path = spec.partition("=")
    if not sep:
        p = Path(spec)
        return p.name or str(p), p
    if not name or not path:
        raise ValueError(f"--model expects DIR or NAME=DIR, got {spec!r}")
    return name, Path(path)


@experiment_app.command("hitrates", cls=PlainUsageCommand)
@user_errors
def hitrates_command(
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (tables.md, rows.csv, "
                             "groundtruth.md, hitrates.json, attributions/, scores)."),
    model: list[str] = typer.Option(
        None, "--model", "-m", help="Model checkpoint as DIR or NAME=DIR (repeatable; default: the "
        "[hitrates.models] of the config, i.e. models/default)."
    ),
    config: Path = typer.Option(
        Path(__file__).resolve().parents[1] / "configs" / "hitrates.toml", "--config", "-c",
        help="Experiment TOML ([hitrates] table: split, attention modes, k, window, null, IG "
        "settings, models)."
    ),
    db: Path = typer.Option(
        None, "--db", help="Knowledge-base directory from 'kb build' (default: build the shipped "
        "DeepLoc 2.0 Swiss-Prot set, 28,303 proteins, into OUT/kb once)."
    ),
    split: HitrateSplit | None = typer.Option(
        None, "--split",
        help="Proteins: 'model' (each model's own test split; default) or the "
        "DeepLoc 1.0 'test' / 'train' / 'all'."
    ),
    limit: int = typer.Option(
        None, "--limit", min=1, help="A seeded random sample of N test proteins."
    ),
    ig_limit: int = typer.Option(
        None, "--ig-limit", min=1, help="IG on a seeded sample of N of them only (IG costs "
        "~100x attention on CPU)."
    ),
    n_steps: int = typer.Option(None, "--n-steps", min=1, help="Override the IG steps."),
    method: list[Method] = typer.Option(
        None, "--method", help="Run only these attribution methods (repeatable: attention for "
        "Table 3, ig for Table 2; default: both)."
    ),
    null: int = typer.Option(None, "--null", min=0, help="Override the null-model replicates."),
    seed: int = typer.Option(None, "--seed", help="Override the seed."),
    quick: bool = typer.Option(
        False, "--quick", help="Smoke run: a tiny model trained for a few seconds, a tiny KB, "
        "24 proteins, 4 IG steps."
    ),
    workers: int = typer.Option(
        None, "--workers", min=1,
        help="Override [hitrates] workers: processes sharing the IG proteins (as 'psl explain "
        "--workers'; same results).",
    ),
) -> None:
    """Tables 2 (IG) and 3 (attention) of the attention study, beside the research's numbers."""
    from psl.experiments.hitrates import IGSettings, load_config, prepare_quick, run_hitrates

    models = [_parse_model(m) for m in model] if model else None
    overrides: dict = {"models": models, "db": db, "limit": limit, "null": null, "seed": seed,
                       "methods": tuple(m.value for m in method) if method else None,
                       "split": split, "ig_limit": ig_limit, "workers": workers}
    out.mkdir(parents=True, exist_ok=True)
    if quick:
        mdir, kdir = prepare_quick(out, n_proteins=limit or 24, seed=seed or 0)
        overrides.update(models=models or [("quick", mdir)], db=db or kdir, split=split or "test",
                         limit=limit or 24, null=3 if null is None else null, n_boot=200,
                         n_perm=500, ig=IGSettings(n_steps=n_steps or 4, internal_batch_size=256))
    exp = load_config(config, **overrides)
    if n_steps is not None and not quick:
        exp.ig = IGSettings(n_steps=n_steps, internal_batch_size=exp.ig.internal_batch_size,
                            method=exp.ig.method)
    with progress_bar() as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done)

        result = run_hitrates(exp, out, say=lambda m: bar.console.print(m), progress=progress)
    typer.echo(result["markdown"])
    typer.echo(f"-> {out / 'tables.md'}, {out / 'rows.csv'}, {out / 'groundtruth.md'}")
