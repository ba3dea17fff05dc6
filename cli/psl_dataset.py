"""``psl dataset`` (training data from several sources, homologs of the test set removed) and
``psl calibrate`` (temperature / logit offsets of a checkpoint, fitted on validation).

Thin wrappers over :func:`psl.data.source_splits`, :func:`psl.sources.write_dataset` and
:func:`psl.training.calibrate.calibrate`.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from cli.apps import psl_app, user_errors
from cli.options import Device, PlainUsageCommand, ProteinProgress, device_option, model_option

__all__ = ["dataset_cmd", "calibrate_cmd", "transfer_cmd"]


@psl_app.command("dataset", cls=PlainUsageCommand)
@user_errors
def dataset_cmd(
    config: Path = typer.Option(..., "--config", "-c", exists=True, dir_okay=False,
                                help="TOML whose [data] table names sources, test_set, "
                                "multilabel (drop, first, or soft: multi-label proteins "
                                "join training with soft targets), evidence, "
                                "exclude_homologs, min_identity, min_coverage, val_fraction "
                                "and seed (other tables ignored)."),
    out: Path = typer.Option(..., "--out", "-o", help="Dataset table to write (TSV; .gz "
                             "compresses): accession, source, sha1, split, location, sequence. "
                             "Name it as [data] dataset in a run config to train on it."),
    report: Path | None = typer.Option(None, "--report", help="Also write the counts (per "
                                       "source, duplicates, identical and homologous to the "
                                       "test set, seconds) as JSON here."),
    force: bool = typer.Option(False, "--force", help="Replace an existing --out file."),
) -> None:
    """Pool labelled sources, remove every training protein identical or homologous to a test
    protein (>= 30% identity over >= 50% of the shorter, Smith-Waterman), carve validation."""
    from psl.data import DataConfig, source_splits
    from psl.models.checkpoint import write_json_atomic
    from psl.sources import write_dataset
    from psl.training.config import read_toml

    if out.exists() and not force:
        raise ValueError(f"{out} exists; pass --force to replace it")
    table = read_toml(config).get("data", {})
    data = DataConfig(**{k: v for k, v in table.items() if k != "subset"})
    if not data.sources:
        raise ValueError(f"{config}: [data] sources is empty (name at least one labelled file "
                         "or knowledge base)")
    splits, rep = source_splits(data, log=lambda m: typer.echo(m, err=True))
    write_dataset(splits, out)
    rep["out"] = str(out)
    if report is not None:
        write_json_atomic(report, rep)
    typer.echo(json.dumps(rep))


@psl_app.command("calibrate", cls=PlainUsageCommand)
@user_errors
def calibrate_cmd(
    model: Path | None = model_option("calibration.json is written into it."),
    mode: str = typer.Option("temperature", "--mode", help="temperature (one T minimising "
                             "the validation NLL) or temperature+offsets (also per-class "
                             "logit offsets maximising validation macro-F1, kept only if "
                             "they raise macro-F1 in a 5-fold cross-validation on "
                             "validation)."),
    device: Device = device_option(),
) -> None:
    """Fit temperature scaling (and optional per-class offsets) on the model's validation split;
    psl predict / evaluate / explain then print calibrated probabilities."""
    from psl.models.checkpoint import DEFAULT_MODEL_DIR
    from psl.training.calibrate import calibrate

    cal = calibrate(model or DEFAULT_MODEL_DIR, mode, device=device)
    typer.echo(json.dumps(cal.to_dict()))


@psl_app.command("transfer", cls=PlainUsageCommand)
@user_errors
def transfer_cmd(
    model: Path | None = model_option("transfer.json and references.tsv.gz are written "
                                      "into it."),
    references: Path | None = typer.Option(None, "--references", "-r", help="Reference "
                                           "proteins: a dataset table from psl dataset (its "
                                           "train + val splits), a knowledge base from kb "
                                           "build, a DeepLoc FASTA or a labelled CSV/TSV/FASTA "
                                           "(all of it; multi-label proteins left out). "
                                           "Default: the checkpoint's own train + val splits."),
    max_candidates: int = typer.Option(20, "--max-candidates", help="References aligned per "
                                       "protein (Smith-Waterman), the best-ranked by "
                                       "--rescore."),
    rescore: int = typer.Option(200, "--rescore", help="References sharing the most 5-mers "
                                "on one diagonal band that are ranked by their best ungapped "
                                "segment (BLOSUM62) before --max-candidates are aligned; 0 "
                                "ranks by shared 5-mers alone (fewer remote homologs found)."),
    threads: int = typer.Option(2, "--threads", help="Alignment threads."),
    min_bits: float = typer.Option(40.0, "--min-bits", help="Bit score a nearest reference "
                                   "needs, besides >= 30% identity over >= 50% of the "
                                   "shorter sequence, to count as a homolog (40: significant "
                                   "for databases of this size)."),
    mask_low_complexity: bool = typer.Option(True, "--mask-low-complexity/--no-mask-low-"
                                             "complexity", help="Mask each protein's "
                                             "low-complexity segments (SEG: poly-Q tracts, "
                                             "proline-rich linkers) in the 5-mer search, so "
                                             "that they find no references by composition "
                                             "alone; the alignment still uses the whole "
                                             "sequence."),
) -> None:
    """Homology transfer: store reference proteins in the checkpoint and fit, leave-one-out on
    them, how often a protein's nearest reference, when a homolog, shares its class (per
    identity bucket). psl predict / evaluate then combine the network's probabilities with
    each protein's homologous nearest reference (--no-homology: the network alone)."""
    from psl.training.transfer import fit_checkpoint_transfer
    from psl.transfer import SearchSettings

    try:
        settings = SearchSettings(max_candidates=max_candidates, rescore=rescore,
                                  threads=threads, min_bits=min_bits,
                                  mask_low_complexity=mask_low_complexity)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None
    with ProteinProgress("nearest references (leave-one-out)", 0) as bar:
        transfer = fit_checkpoint_transfer(model, references, settings, progress=bar.update)
    info = transfer.info
    if info.get("test_identical"):
        typer.echo(f"warning: {info['test_identical']} proteins of the checkpoint's test split "
                   "are references; psl evaluate leaves a protein's identical references out "
                   "of its search, not their homologs: scores on that split overstate the "
                   "transfer (build references without them: psl dataset)", err=True)
    typer.echo(json.dumps(info))
