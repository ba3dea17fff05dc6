"""``psl explain``, ``psl extract``, ``psl report`` and ``psl experiment hitrates``.

Thin wrappers: the work is done in :mod:`psl.explain`, :mod:`psl.extract`, :mod:`psl.report`
and :mod:`psl.experiment_hitrates`.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cli.apps import experiment_app, psl_app, user_errors


class Method(str, Enum):
    attention = "attention"
    ig = "ig"


class AttentionMode(str, Enum):
    learned = "learned"
    uniform = "uniform"
    permute = "permute"
    random = "random"


class Target(str, Enum):
    predicted = "predicted"
    true = "true"


class Split(str, Enum):
    test = "test"
    train = "train"
    all = "all"


class LabelKind(str, Enum):
    true = "true"
    predicted = "predicted"
    both = "both"


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
        console=Console(stderr=True),
    )


@psl_app.command("explain")
@user_errors
def explain_command(
    out: Path = typer.Option(..., "--out", "-o", help="Output table (.parquet, .csv, .tsv)."),
    model: Path = typer.Option(
        None, "--model", help="Model checkpoint directory (default: models/default)."
    ),
    fasta: Path = typer.Option(
        None, "--fasta", help="Proteins to explain (FASTA). A DeepLoc header "
        "'>ACC Location-Solubility' gives the true label; other headers give none."
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
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or auto (CUDA if available; "
                               "IG then runs with cuDNN disabled for the RNN backward)."),
) -> None:
    """Per-residue attributions (attention or Integrated Gradients) for each protein.

    Writes one row per residue: protein, position (1-based), residue, score, plus the true
    label, predicted label, confidence, IG convergence delta and class probabilities.
    """
    from psl.explain.attributions import IGSettings, explain
    from psl.models.checkpoint import load_model
    from psl.tables_io import write_table

    names, seqs, labels = _load_proteins(fasta, split)
    if limit is not None:
        names, seqs, labels = names[:limit], seqs[:limit], labels[:limit]
    from psl.models.device import resolve_device

    loaded = load_model(model, device=resolve_device(device))
    with _progress() as bar:
        task = bar.add_task(f"{method.value} ({attention.value})", total=len(seqs))
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
            progress=lambda done: bar.update(task, completed=done),
        )
    write_table(table, out)
    typer.echo(f"{len(seqs)} proteins, {len(table)} residues -> {out}")


def _load_proteins(
    fasta: Path | None, split: Split | None
) -> tuple[list[str], list[str], list[str | None]]:
    from psl.explain.attributions import load_proteins

    if (fasta is None) == (split is None):
        raise ValueError("give exactly one of --fasta FILE or --split test|train|all")
    return load_proteins(fasta=fasta, split=split.value if split is not None else None)


@psl_app.command("extract")
@user_errors
def extract_command(
    attributions: Path = typer.Argument(..., help="Attribution table from 'psl explain'."),
    out: Path = typer.Option(..., "--out", "-o", help="Output table (.tsv, .csv, .parquet)."),
    k: float = typer.Option(
        2.0, "--k", help="A residue is salient above mean + k * std of its protein's scores."
    ),
    window: int = typer.Option(
        5, "--window", min=1, help="Window length around each salient residue (merged when "
        "overlapping or touching, clipped at the ends)."
    ),
    label: LabelKind = typer.Option(
        LabelKind.true, "--label", help="Which label becomes 'location': the true one, the "
        "predicted one, or both (one row per kind; see column label_kind)."
    ),
) -> None:
    """Salient subsequences from per-residue scores, ready for 'psl score'."""
    from psl.explain.extract import extract_subsequences
    from psl.tables_io import read_table, write_table

    table = read_table(attributions)
    subs = extract_subsequences(table, k=k, window=window, label=label.value)
    write_table(subs, out)
    typer.echo(
        f"{len(subs)} subsequences from {subs['protein'].nunique()} proteins "
        f"(of {table['protein'].nunique()}) -> {out}"
    )


@psl_app.command("report")
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


@experiment_app.command("hitrates")
@user_errors
def hitrates_command(
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (tables.md, rows.csv, "
                             "groundtruth.md, hitrates.json, attributions/, scores)."),
    model: list[str] = typer.Option(
        None, "--model", help="Model checkpoint as DIR or NAME=DIR (repeatable; default: the "
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
    split: str = typer.Option(
        None, "--split", help="Proteins: 'model' (each model's own test split; default) or the "
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
) -> None:
    """Tables 2 (IG) and 3 (attention) of the attention study, beside the research's numbers."""
    from psl.experiments.hitrates import IGSettings, load_config, prepare_quick, run_hitrates

    models = [_parse_model(m) for m in model] if model else None
    overrides: dict = {"models": models, "db": db, "limit": limit, "null": null, "seed": seed,
                       "methods": tuple(m.value for m in method) if method else None,
                       "split": split, "ig_limit": ig_limit}
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
    with _progress() as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done)

        result = run_hitrates(exp, out, say=lambda m: bar.console.print(m), progress=progress)
    typer.echo(result["markdown"])
    typer.echo(f"-> {out / 'tables.md'}, {out / 'rows.csv'}, {out / 'groundtruth.md'}")
