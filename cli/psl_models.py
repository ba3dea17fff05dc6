"""``psl train``, ``psl ensemble``, ``psl evaluate``, ``psl predict``, ``psl experiment table1``.

Thin wrappers: the logic lives in :mod:`psl.training` (trainer, ensemble, evaluation),
:mod:`psl.models.inference` and :mod:`psl.experiments.table1`.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
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
)
from psl.choices import INFERENCE_ATTENTION

#: ``psl evaluate --split`` choices (the splits of a model's data config).
EVAL_SPLITS = ("test", "val")
EvalSplit = Literal[EVAL_SPLITS]  # type: ignore[valid-type]

__all__ = ["train_cmd", "ensemble_cmd", "evaluate_cmd", "predict_cmd", "table1_cmd"]

AttentionMode = choice_enum("AttentionMode", INFERENCE_ATTENTION)


@psl_app.command("train", cls=PlainUsageCommand)
@user_errors
def train_cmd(
    config: Path = typer.Option(..., "--config", "-c", help="Run config TOML ([model], [data], "
                                "[train] tables; see configs/)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory: checkpoint "
                             "(weights.pt, config.json, meta.json, metrics.json) and "
                             "epochs.jsonl."),
    device: Device = device_option(),
    seed: int | None = typer.Option(None, "--seed", help="Override [train] seed (init, batch "
                                    "order, dropout)."),
    epochs: int | None = typer.Option(None, "--epochs", help="Override [train] epochs."),
    teacher: str | None = typer.Option(
        None, "--teacher", help="Override [train] teacher: a checkpoint (model or ensemble) to "
        "distill into this model, or a table of class probabilities per training protein "
        "(sha1 of the sequence, accession or id; p_<class> columns: psl predict's output); '' "
        "turns distillation off."),
    max_minutes: float | None = typer.Option(
        None, "--max-minutes", help="Override [train] max_minutes: stop after the epoch during "
        "which this many minutes of training have passed and keep the best epoch so far "
        "(0 = no limit)."),
    init: str | None = typer.Option(
        None, "--init", help="Override [train] init: a checkpoint with the same [model] whose "
        "weights start the training (continue a run that hit its time budget, or fine-tune); "
        "'' = random initialisation."),
    progress: bool = typer.Option(True, "--progress/--no-progress",
                                  help="Show a progress bar on stderr."),
) -> None:
    """Train a model with early stopping on the validation set; print one JSON line per epoch."""
    from dataclasses import replace

    from psl.training.config import load_run_config
    from psl.training.trainer import train

    run = load_run_config(config)
    if seed is not None:
        run.train = replace(run.train, seed=seed)
    if epochs is not None:
        run.train = replace(run.train, epochs=epochs)
    if max_minutes is not None:
        run.train = replace(run.train, max_minutes=max_minutes)
    if teacher is not None:
        run.train = replace(run.train, teacher=teacher)
    if init is not None:
        run.train = replace(run.train, init=init)
    metrics = train(run, out, device=device, progress=progress,
                    on_epoch=lambda rec: typer.echo(json.dumps(rec)))
    t = metrics["test"]
    typer.echo(json.dumps({"best_epoch": metrics["best_epoch"], "test_accuracy": t["accuracy"],
                           "test_macro_f1": t["macro_f1"], "test_mcc": t["mcc"],
                           "out": str(out)}))


@psl_app.command("ensemble", cls=PlainUsageCommand)
@user_errors
def ensemble_cmd(
    members: list[Path] = typer.Argument(..., metavar="MEMBER", help="Two or more checkpoint "
                                         "directories with the same validation and test "
                                         "proteins: the same [data] split (e.g. psl train runs "
                                         "of one config with different --seed) or "
                                         "training_set.tsv files listing the same val/test "
                                         "sequences. An ensemble given as a member adds its "
                                         "members one by one (each model weighs the same)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output checkpoint directory of the "
                             "ensemble (weights.pt, config.json, meta.json, metrics.json)."),
    n_boot: int = typer.Option(1000, "--n-boot", help="Bootstrap resamples for the 95% "
                               "intervals."),
    device: Device = device_option(),
) -> None:
    """Average the probabilities and attention of trained models; score on val and test."""
    from psl.training.ensemble import assemble

    metrics = assemble(members, out, device=device, n_boot=n_boot)
    for m in metrics["members"]:
        typer.echo(json.dumps(m))
    v, t = metrics["val"], metrics["test"]
    typer.echo(json.dumps({"n_members": metrics["n_members"], "val_accuracy": v["accuracy"],
                           "test_accuracy": t["accuracy"], "test_macro_f1": t["macro_f1"],
                           "test_mcc": t["mcc"], "out": str(out)}))


@psl_app.command("evaluate", cls=PlainUsageCommand)
@user_errors
def evaluate_cmd(
    model: Path | None = model_option(),
    split: EvalSplit = typer.Option("test", "--split",
                                    help="test or val: the split of the model's own data config."),
    attention: AttentionMode = typer.Option(
        AttentionMode.learned, "--attention", help="Attention at inference (uniform, permute "
        "and random are the ablations of the learned one)."),
    fasta: Path | None = typer.Option(None, "--fasta", help="Evaluate on this labelled file "
                                      "instead of --split: a FASTA with DeepLoc headers ('>ACC "
                                      "Location-Solubility'), or a CSV/TSV with a location "
                                      "column (DeepLoc 2.0 CSV) or UniProt's 'Subcellular "
                                      "location [CC]' (TSV export); multi-label proteins "
                                      "skipped."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Directory for metrics.json, "
                                    "confusion.csv and confusion.png."),
    seed: int = typer.Option(0, "--seed", help="Seed of the permute/random ablations and of "
                             "the bootstrap."),
    n_boot: int = typer.Option(1000, "--n-boot", help="Bootstrap resamples for the 95% "
                               "intervals."),
    as_json: bool = typer.Option(False, "--json", help="Print the full report as JSON."),
    homology: bool = typer.Option(True, "--homology/--no-homology", help="Score what psl "
                                  "predict prints: the network combined with each protein's "
                                  "homologous nearest reference when the model has a "
                                  "homology transfer (the network alone is reported beside "
                                  "it); --no-homology: score the network alone."),
    device: Device = device_option(),
) -> None:
    """Accuracy, macro-F1, MCC (with 95% bootstrap intervals), per-class precision/recall/F1,
    confusion, and the expected calibration error before/after the checkpoint's temperature."""
    from psl.training.evaluation import evaluate, write_evaluation

    report = evaluate(model, split=split, attention=attention.value, fasta=fasta, seed=seed,
                      n_boot=n_boot, device=device, homology=homology)
    if out is not None:
        write_evaluation(report, out)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    ci = report["ci95"]
    typer.echo(f"{report['source']}: n={report['n']}, attention={attention.value}")
    for k in ("accuracy", "macro_f1", "mcc"):
        typer.echo(f"  {k:9s} {report[k]:.4f}  95% CI [{ci[k][0]:.4f}, {ci[k][1]:.4f}]")
    typer.echo(f"  {'class':22s} {'prec':>6s} {'recall':>6s} {'F1':>6s} {'n':>5s}")
    for c, r in report["per_class"].items():
        typer.echo(f"  {c:22s} {r['precision']:6.3f} {r['recall']:6.3f} {r['f1']:6.3f} "
                   f"{r['support']:5d}")
    cal = report["calibration"]
    typer.echo(f"  ECE (15 bins) raw {cal['ece_raw']:.4f}, temperature-scaled "
               f"{cal['ece_temperature']:.4f} (T = {cal['temperature']:.3f}), as scored "
               f"{cal['ece']:.4f}" + ("" if cal["applied"] else " [no calibration.json: "
                                      "psl calibrate]"))
    hom = report["homology"]
    if hom["applied"]:
        typer.echo(f"  homology transfer: {hom['with_homolog']} of {report['n']} proteins have "
                   f"a homolog among the {hom['references']} references; the network alone: "
                   f"accuracy {hom['network_accuracy']:.4f}, macro_f1 "
                   f"{hom['network_macro_f1']:.4f}")
        if hom["identical_to_reference"]:
            typer.echo(f"  note: {hom['identical_to_reference']} scored proteins are references "
                       "themselves; each was searched among the other references "
                       "(leave-one-out). The model itself may have trained on them.", err=True)


@psl_app.command("predict", cls=PlainUsageCommand)
@user_errors
def predict_cmd(
    fasta: Path = typer.Argument(..., metavar="FASTA", help="Protein FASTA file (plain or .gz; "
                                 "'-' reads "
                                 "stdin). UniProt headers give the accession as id."),
    model: Path | None = model_option(),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the table here (format "
                                    "from the name: .tsv, .csv, .parquet, .jsonl, text "
                                    "optionally .gz); '-' or omitted: stdout."),
    fmt: str | None = typer.Option(None, "--format", "-f", help="Output format: tsv, csv, "
                                   "parquet or jsonl (default: from the --out name; tsv on "
                                   "stdout).", show_default=False),
    top_k: int = typer.Option(5, "--top-k", help="Number of top-attention residues reported."),
    batch_size: int = typer.Option(64, "--batch-size", help="Proteins per batch."),
    homology: bool = typer.Option(True, "--homology/--no-homology", help="When the model "
                                  "has a homology transfer (psl transfer; the shipped "
                                  "default has one), combine the network with each "
                                  "protein's nearest reference protein if that is a "
                                  "homolog (>= 30% identity over >= 50% of the shorter), "
                                  "and add the columns network_predicted, "
                                  "nearest_reference, nearest_location, nearest_score, "
                                  "nearest_identity, nearest_is_homolog. --no-homology: the "
                                  "network alone."),
    device: Device = device_option(),
) -> None:
    """Predicted location, the 10 class probabilities and the top attention positions (and,
    with homology transfer, the nearest reference protein)."""
    from psl.fasta import read_fasta
    from psl.models.checkpoint import DEFAULT_MODEL_DIR, load_model
    from psl.models.device import resolve_device
    from psl.models.inference import predict
    from psl.tables_io import check_output, table_format, write_table

    if top_k < 1 or batch_size < 1:
        raise ValueError("--top-k and --batch-size must be >= 1")
    check_output(out, inputs=[fasta], protected=[model or DEFAULT_MODEL_DIR])
    table_format(out, fmt)  # fail before the work on an unknown output format
    dev = resolve_device(device)
    records = read_fasta(fasta)
    loaded = load_model(model, device=dev)
    searching = homology and loaded.transfer is not None
    with ProteinProgress("nearest references", len(records)) if searching else nullcontext() as bar:
        table = predict(loaded, [r.sequence for r in records], ids=[r.id for r in records],
                        batch_size=batch_size, top_k=top_k, device=dev, homology=homology,
                        progress=bar.update if searching else None)
    table = table.round(4)
    if out is not None and str(out) != "-":
        out.parent.mkdir(parents=True, exist_ok=True)
    write_table(table, out if out is not None else "-", fmt)
    if out is not None and str(out) != "-":
        typer.echo(f"{len(table)} predictions written to {out}", err=True)


@experiment_app.command("table1", cls=PlainUsageCommand)
@user_errors
def table1_cmd(
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (runs/, table1.md, "
                             "table1.json)."),
    config: Path | None = typer.Option(None, "--config", "-c", help="Experiment TOML listing "
                                       "the variants (default: configs/table1/table1.toml)."),
    quick: bool = typer.Option(False, "--quick", help="Tiny subset, tiny models, few epochs "
                               "(minutes on CPU; for tests and smoke runs)."),
    device: Device = device_option(),
    seed: int = typer.Option(0, "--seed", help="Seed of every run."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress output."),
    profile: str = typer.Option("", "--profile", help="Override table of the experiment TOML "
                                "to apply on top of every variant, e.g. 'gpu' (full-size "
                                "models for a GPU); --quick is --profile quick."),
    only: list[str] | None = typer.Option(None, "--only", help="Run only this variant "
                                          "(repeatable); the table lists just these. Finished "
                                          "runs in OUT/runs are reused, so variants can be "
                                          "trained in parallel processes and collected by a "
                                          "last call."),
    max_minutes: float | None = typer.Option(
        None, "--max-minutes", help="Training-time budget per variant in minutes (overrides "
        "[train] max_minutes; pass the same value again to reuse finished runs)."),
) -> None:
    """Train and evaluate every Table 1 configuration plus the inference attention ablations."""
    from psl.experiments.table1 import run_table1

    md = run_table1(out, config=config, quick=quick, device=device, seed=seed,
                    progress=progress, log=lambda s: typer.echo(s, err=True), profile=profile,
                    only=only or None, max_minutes=max_minutes)
    typer.echo(md)
