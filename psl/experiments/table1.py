"""``psl experiment table1``: the model table of the attention study, beside the paper's numbers.

Trains every configuration of an experiment TOML (default ``configs/table1/table1.toml``:
BiLSTM with additive vs uniform attention; the token-wise MLP with uniform, trained and
pre-set attention (Wiegreffe & Pinter, "Attention is not not Explanation", EMNLP 2019);
CNN-BiLSTM with small {3,5} and large {3,5,7,11} kernels, with and without attention), scores
each on its test split (accuracy = micro-F1, macro-F1, MCC with 95% bootstrap intervals) and
runs the inference attention ablations (uniform / permute / random) on the attention models.
Writes ``table1.md`` and ``table1.json`` in the output directory, each run in ``runs/NAME``.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kb.atomic import atomic_path
from kb.classes import LOCATION_CLASSES
from psl.data import EncodedSet, load_splits
from psl.errors import ConfigError, PslError
from psl.metrics import classification_report
from psl.models.checkpoint import load_model, write_json_atomic
from psl.models.device import resolve_device
from psl.models.inference import infer
from psl.training.config import RunConfig, read_toml
from psl.training.trainer import train

__all__ = ["DEFAULT_TABLE1_CONFIG", "load_experiment", "run_table1", "format_table1"]

DEFAULT_TABLE1_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "table1" / "table1.toml"
_VARIANT_KEYS = {"name", "label", "paper", "ablations", "preset_from", "model", "train", "data"}


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for table, values in over.items():
        out.setdefault(table, {}).update(values)
    return out


def load_experiment(path: str | Path | None = None, quick: bool = False, seed: int = 0,
                    profile: str = "") -> list[dict[str, Any]]:
    """The variants of an experiment TOML, each with its resolved :class:`RunConfig`.

    Arguments:
        path: experiment TOML (default :data:`DEFAULT_TABLE1_CONFIG`).
        quick: apply the file's ``[quick]`` overrides (same as ``profile="quick"``).
        seed: seed of every run (``[train] seed`` and ``[data] seed``).
        profile: name of an override table of the file (``[quick]``, ``[gpu]``, ...) applied
            on top of ``base`` and each variant; empty = none.

    Returns:
        A list of dicts with ``name``, ``label``, ``paper`` ([micro, macro] or None),
        ``ablations``, ``preset_from`` and ``run`` (a :class:`RunConfig`).

    Raises:
        ValueError: malformed TOML, unknown keys, duplicate names, a ``preset_from`` that
            names no earlier variant, an unknown profile.
    """
    path = Path(path) if path is not None else DEFAULT_TABLE1_CONFIG
    doc = read_toml(path)
    if quick:
        if profile and profile != "quick":
            raise ConfigError(f"quick and profile {profile!r} cannot be combined",
                              param=("quick", "profile"))
        profile = "quick"
    reserved = {"base", "variant"}
    profiles = sorted(k for k, v in doc.items() if k not in reserved and isinstance(v, dict))
    if profile and (profile in reserved or profile not in profiles):
        raise ConfigError(f"{path}: no profile [{profile}] (profiles in the file: {profiles})")
    base = doc.get("base", {})
    variants = doc.get("variant", [])
    if not variants:
        raise ConfigError(f"{path}: no [[variant]] defined")
    seen: list[str] = []
    out = []
    for i, v in enumerate(variants):
        unknown = sorted(set(v) - _VARIANT_KEYS)
        if unknown or "name" not in v:
            raise ConfigError(f"{path}: variant #{i + 1}: needs 'name'; unknown keys {unknown}")
        if v["name"] in seen:
            raise ConfigError(f"{path}: duplicate variant name {v['name']!r}")
        if v.get("preset_from") and v["preset_from"] not in seen:
            raise ConfigError(f"{path}: variant {v['name']!r}: preset_from "
                              f"{v['preset_from']!r} must name an earlier variant")
        cfg = _merge(base, {k: v[k] for k in ("model", "train", "data") if k in v})
        if profile:
            cfg = _merge(cfg, doc[profile])
        cfg = _merge(cfg, {"train": {"seed": seed}, "data": {"seed": seed}})
        try:
            run = RunConfig.from_dict(cfg)
        except (ValueError, TypeError) as e:
            raise ConfigError(f"{path}: variant {v['name']!r}: {e}") from None
        paper = v.get("paper")
        out.append({"name": v["name"], "label": v.get("label", v["name"]),
                    "paper": list(paper) if paper else None,
                    "ablations": list(v.get("ablations", [])),
                    "preset_from": v.get("preset_from", ""), "run": run})
        seen.append(v["name"])
    return out


def run_table1(
    out: str | Path,
    config: str | Path | None = None,
    quick: bool = False,
    device: str = "auto",
    seed: int = 0,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
    n_boot: int = 1000,
    profile: str = "",
    only: Sequence[str] | None = None,
    max_minutes: float | None = None,
) -> str:
    """Train and evaluate every variant, run the ablations, write ``table1.md`` / ``.json``.

    A variant whose run directory already holds a finished run of the same config is not
    trained again, so an interrupted experiment resumes, and variants can be trained in
    separate processes (``only``) and collected into one table by a last call.

    Arguments:
        out: output directory.
        config: experiment TOML (default :data:`DEFAULT_TABLE1_CONFIG`).
        quick: tiny subset / models / epochs (the file's ``[quick]`` table).
        device: ``auto``, ``cpu`` or ``cuda``.
        seed: seed of every run.
        progress: progress bars while training.
        log: called with one line per finished step.
        n_boot: bootstrap resamples (intervals).
        profile: override table of the experiment TOML to apply (e.g. ``gpu``); see
            :func:`load_experiment`.
        only: names of the variants to run (default: all); the table lists just these.
        max_minutes: override every run's ``[train] max_minutes`` (a training-time budget per
            variant; part of the run config, so a later call must pass the same value to
            reuse the runs).

    Returns:
        The markdown table.

    Raises:
        ValueError: a bad config or profile, a name in ``only`` that is no variant, a pre-set
            variant whose source run is neither finished in ``out`` nor among those to run.
    """
    out = Path(out)
    variants = load_experiment(config, quick=quick, seed=seed, profile=profile)
    profile = "quick" if quick else profile
    if max_minutes is not None:
        for v in variants:
            v["run"].train = dataclasses.replace(v["run"].train, max_minutes=max_minutes)
    if only:
        names = [v["name"] for v in variants]
        unknown = [n for n in only if n not in names]
        if unknown:
            raise PslError(f"unknown variant(s) {unknown} (the experiment has {names})",
                           param="only")
        runs_by_name = {v["name"]: v["run"] for v in variants}
        variants = [v for v in variants if v["name"] in set(only)]
        for v in variants:
            src = v["preset_from"]
            if (src and src not in only
                    and _finished_metrics(out / "runs" / src, runs_by_name[src]) is None):
                raise PslError(f"variant {v['name']!r} takes its attention from {src!r}: "
                               f"run {src!r} first (no finished run of it in "
                               f"{out / 'runs' / src})")
    (out / "runs").mkdir(parents=True, exist_ok=True)
    dev = resolve_device(device)
    results: list[dict[str, Any]] = []
    n_b = 200 if quick else n_boot
    for v in variants:
        run: RunConfig = v["run"]
        run_dir = out / "runs" / v["name"]
        if v["preset_from"]:
            run.train.preset_model = str(out / "runs" / v["preset_from"])
        t0 = time.perf_counter()
        metrics = _finished_metrics(run_dir, run)
        if metrics is None:
            metrics = train(run, run_dir, device=str(dev), progress=progress, n_boot=n_b)
        elif log is not None:
            log(f"{v['name']}: reusing the finished run in {run_dir}")
        row = {"name": v["name"], "label": v["label"], "paper": v["paper"],
               "test": {k: metrics["test"][k] for k in ("n", "accuracy", "macro_f1", "mcc",
                                                        "ci95")},
               "best_epoch": metrics["best_epoch"], "epochs_run": metrics["epochs_run"],
               "train_seconds_per_epoch": metrics["mean_train_seconds_per_epoch"],
               "seconds": round(time.perf_counter() - t0, 1), "ablations": {}}
        if v["ablations"]:
            loaded = load_model(run_dir, device=dev)
            test = load_splits(run.data)["test"]
            data = EncodedSet(test["sequence"].tolist(), test["label"].tolist(), run.model.max_len)
            for mode in ["learned", *v["ablations"]]:
                res = infer(loaded.model, data, batch_size=run.train.eval_batch_size,
                            attention=mode, seed=seed, device=dev)
                rep = classification_report(data.labels.numpy(), res.logits.argmax(1),
                                            list(LOCATION_CLASSES), n_boot=0)
                row["ablations"][mode] = {"accuracy": rep["accuracy"],
                                          "macro_f1": rep["macro_f1"]}
        results.append(row)
        if log is not None:
            log(f"{v['name']}: test accuracy {row['test']['accuracy']:.3f}, macro-F1 "
                f"{row['test']['macro_f1']:.3f} ({row['seconds']} s)")
        # rewrite the table after every variant: an interrupted experiment keeps its rows
        md = format_table1(results, quick=quick, config=str(config or DEFAULT_TABLE1_CONFIG),
                           pending=[w["label"] for w in variants[len(results):]],
                           profile=profile)
        write_json_atomic(out / "table1.json", {"quick": quick, "profile": profile,
                                                "seed": seed, "device": str(dev),
                                                "results": results})
        with atomic_path(out / "table1.md") as tmp:
            tmp.write_text(md)
    return md


def _finished_metrics(run_dir: Path, run: RunConfig) -> dict[str, Any] | None:
    """Metrics of a finished earlier run of the same config in ``run_dir`` (else None)."""
    try:
        metrics = json.loads((run_dir / "metrics.json").read_text())
        config = json.loads((run_dir / "config.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if metrics.get("finished") and config == json.loads(json.dumps(run.to_dict())):
        return metrics
    return None


def format_table1(
    results: list[dict[str, Any]], quick: bool = False, config: str = "",
    pending: list[str] | None = None, profile: str = "",
) -> str:
    """Markdown: the paper's F1 micro/macro beside ours (with intervals), then the ablations.

    ``pending`` names variants not run yet (listed under the table); ``profile`` is the
    override table applied (shown in the header).
    """
    lines = [
        "# Table 1: localization models on DeepLoc 1.0" + (" (--quick smoke run)" if quick
                                                          else ""),
        "",
        f"Config: `{config}`" + (f", profile `[{profile}]`" if profile and not quick else "")
        + ". Paper: F1 micro / macro on its random 70/15/15 split. Ours: "
        "test split of the config, accuracy (= micro-F1) and macro-F1 with 95% bootstrap "
        "intervals.",
        "",
        "| Model | paper micro | paper macro | ours micro [95% CI] | ours macro [95% CI] | "
        "MCC | epochs (best) | s/epoch |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        t = r["test"]
        ci = t["ci95"]
        p = [f"{x:.3f}" for x in r["paper"]] if r["paper"] else ["–", "–"]
        lines.append(
            f"| {r['label']} | {p[0]} | {p[1]} | {t['accuracy']:.3f} "
            f"[{ci['accuracy'][0]:.3f}, {ci['accuracy'][1]:.3f}] | {t['macro_f1']:.3f} "
            f"[{ci['macro_f1'][0]:.3f}, {ci['macro_f1'][1]:.3f}] | {t['mcc']:.3f} | "
            f"{r['epochs_run']} ({r['best_epoch']}) | {r['train_seconds_per_epoch']} |"
        )
    if pending:
        lines += ["", "Not run yet: " + ", ".join(pending) + "."]
    abl = [r for r in results if r["ablations"]]
    if abl:
        modes = list(abl[0]["ablations"])
        lines += ["", "## Attention ablations at inference (test split, micro / macro F1)", "",
                  "| Model | " + " | ".join(modes) + " |",
                  "|---|" + "---|" * len(modes)]
        for r in abl:
            cells = [f"{r['ablations'][m]['accuracy']:.3f} / {r['ablations'][m]['macro_f1']:.3f}"
                     for m in modes]
            lines.append(f"| {r['label']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
