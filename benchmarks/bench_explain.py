"""Benchmark of explanations: attention and Integrated Gradients throughput, and the pipeline.

On a seeded sample of ``--n`` DeepLoc 1.0 test proteins (real lengths), with the default model
(``models/default``; when it is absent, a randomly initialised model of ``configs/default.toml``:
same architecture, so the same speed):

1. ``psl.explain.explain`` attention (learned), batched;
2. ``psl.explain.explain`` IG (``--n-steps``, default 50), batched: ``--batch-size`` proteins
   per call,
   ``--internal-batch-size`` (protein, step) rows per forward/backward; every setting of
   ``--sweep`` is timed;
3. the baseline, measured in the same run: IG one protein at a time (``batch_size=1``) on the
   first ``--baseline-n`` proteins, scaled to ``--n``;
4. ``psl.explain.extract`` on the IG table, and ``psl.hitrate.score`` of the subsequences against a
   knowledge base (``--db``; default ``benchmarks/generated/kb_deeploc2`` if built);
5. an estimate of the full test set (2,773 proteins) pipeline time from the per-protein rates.

A warm-up call of each method runs first (one-off initialisation is not timed).

Results: ``benchmarks/results/explain.json`` and ``explain.md``. Wall-clock medians of
``--repeats`` runs on a shared machine (other jobs may run: noisy; the load average is printed).

Usage::

    python benchmarks/bench_explain.py [--n 64] [--n-steps 50] [--repeats 1] [--model DIR]
        [--name STEM]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _machine import cpu_name  # noqa: E402  (benchmarks/ is on sys.path)

from kb.atomic import atomic_path  # noqa: E402
from psl.experiments.hitrates import select_proteins  # noqa: E402
from psl.explain.attributions import IGSettings, explain, load_proteins  # noqa: E402
from psl.explain.extract import extract_subsequences  # noqa: E402
from psl.models.checkpoint import DEFAULT_MODEL_DIR, load_model  # noqa: E402
from psl.models.family import LocalizationModel, ModelConfig  # noqa: E402
from psl.training.config import read_toml  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
DEFAULT_DB = REPO / "benchmarks" / "generated" / "kb_deeploc2"
N_TEST = 2773


def machine() -> dict:
    cpu = cpu_name()
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "load_average": os.getloadavg(),
    }


def timed(fn, repeats: int):
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


class _CaptumOnly(torch.nn.Module):
    """The model without its stem methods: ``explain`` then runs Captum on the input."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model
        self.config = model.config

    def embed(self, tokens):
        return self.model.embed(tokens)

    def forward_from_embedded(self, *args, **kwargs):
        return self.model.forward_from_embedded(*args, **kwargs)

    def forward(self, *args, **kwargs):
        return self.model(*args, **kwargs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=64, help="proteins (seeded test-set sample)")
    ap.add_argument("--n-steps", type=int, default=50)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--sweep", default="256,1024",
                    help="internal batch sizes to time (comma-separated; 0 = unbounded)")
    ap.add_argument("--baseline-n", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2,
                    help="also time IG in this many worker processes (1 = skip)")
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--db", type=Path, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--name", default="explain",
                    help="results file stem under benchmarks/results (default: explain)")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    model_dir = args.model or DEFAULT_MODEL_DIR
    if (model_dir / "weights.pt").exists():
        model = load_model(model_dir).model
        model_desc = str(model_dir.relative_to(REPO) if model_dir.is_relative_to(REPO)
                         else model_dir)
    else:
        cfg = read_toml(REPO / "configs" / "default.toml")["model"]
        model = LocalizationModel(ModelConfig.from_dict(cfg)).eval()
        model_desc = "random init of configs/default.toml (models/default absent)"
    n_params = sum(p.numel() for p in model.parameters())
    names, seqs, labels = select_proteins(*load_proteins(split="test"), args.n, args.seed)
    lengths = [len(s) for s in seqs]
    kept = [min(x, model.config.max_len) for x in lengths]
    info = {
        "machine": machine(),
        "model": model_desc,
        "parameters": n_params,
        "proteins": len(seqs),
        "mean_length": sum(lengths) / len(lengths),
        "mean_kept_length": sum(kept) / len(kept),
        "n_steps": args.n_steps,
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "command": "python benchmarks/bench_explain.py " + " ".join(sys.argv[1:]),
    }
    print(json.dumps(info, indent=1))
    res: dict = {"info": info}

    # Warm-up (first-call initialisation of the oneDNN kernels and Captum's import).
    explain(model, seqs[:2], names[:2], labels[:2], method="attention")
    explain(model, seqs[:2], names[:2], labels[:2], method="ig", ig=IGSettings(n_steps=2))

    t_att, att = timed(lambda: explain(model, seqs, names, labels, method="attention",
                                       batch_size=args.batch_size), args.repeats)
    res["attention_s"] = t_att
    print(f"attention: {t_att:.2f} s, {len(seqs) / t_att:.1f} proteins/s")

    sweep = {}
    ig_table = None
    for ibs in [int(x) for x in args.sweep.split(",")]:
        settings = IGSettings(n_steps=args.n_steps, internal_batch_size=ibs or None)
        t, table = timed(lambda s=settings: explain(model, seqs, names, labels, method="ig",
                                                    batch_size=args.batch_size, ig=s),
                         args.repeats)
        sweep[str(ibs or "unbounded")] = {"seconds": t, "proteins_per_s": len(seqs) / t,
                                          "max_abs_delta": float(table.delta.abs().max())}
        print(f"IG internal_batch_size={ibs or 'unbounded'}: {t:.2f} s, "
              f"{len(seqs) / t:.2f} proteins/s, max |delta| {table.delta.abs().max():.2g}")
        ig_table = table
    res["ig_sweep"] = sweep
    best = min(sweep.values(), key=lambda v: v["seconds"])

    nb = min(args.baseline_n, len(seqs))
    settings = IGSettings(n_steps=args.n_steps, internal_batch_size=None)
    t_base, _ = timed(lambda: explain(model, seqs[:nb], names[:nb], labels[:nb], method="ig",
                                      batch_size=1, ig=settings), args.repeats)
    base_rate = nb / t_base
    res["baseline_one_at_a_time"] = {"proteins": nb, "seconds": t_base,
                                     "proteins_per_s": base_rate}
    print(f"baseline (one protein at a time, {nb} proteins): {t_base:.2f} s, "
          f"{base_rate:.2f} proteins/s -> speed-up {best['proteins_per_s'] / base_rate:.1f}x")

    # The same IG through Captum on the input (the path before IG ran through the model's
    # affine stem): the baseline of the stem speed-up, measured in this run.
    t_cap, cap_table = timed(lambda: explain(_CaptumOnly(model), seqs[:nb], names[:nb],
                                             labels[:nb], method="ig", batch_size=1,
                                             ig=settings), args.repeats)
    res["captum_one_at_a_time"] = {"proteins": nb, "seconds": t_cap,
                                   "proteins_per_s": nb / t_cap}
    print(f"Captum on the input (one protein at a time): {t_cap:.2f} s, {nb / t_cap:.2f} "
          f"proteins/s -> stem speed-up {t_cap / t_base:.2f}x")
    # The same IG with every batch through the model's general (padded) path: the baseline
    # of the unpadded path (sixth session), measured in this run.
    model._encode = model._encode_padded  # (an instance attribute shadows the method)
    try:
        t_pad, _ = timed(lambda: explain(model, seqs[:nb], names[:nb], labels[:nb],
                                         method="ig", batch_size=1, ig=settings), args.repeats)
    finally:
        del model._encode
    res["padded_path_one_at_a_time"] = {"proteins": nb, "seconds": t_pad,
                                        "proteins_per_s": nb / t_pad}
    print(f"general (padded) path (one protein at a time): {t_pad:.2f} s, {nb / t_pad:.2f} "
          f"proteins/s -> unpadded-path speed-up {t_pad / t_base:.2f}x")
    # Worker processes (one torch thread each), start-up included.
    if args.workers > 1:
        t_w, w_table = timed(lambda: explain(model, seqs, names, labels, method="ig",
                                             batch_size=1, ig=settings, workers=args.workers),
                             args.repeats)
        res["workers"] = {"workers": args.workers, "proteins": len(seqs), "seconds": t_w,
                          "proteins_per_s": len(seqs) / t_w}
        print(f"IG in {args.workers} worker processes ({len(seqs)} proteins, start-up "
              f"included): {t_w:.2f} s, {len(seqs) / t_w:.2f} proteins/s")

    t_ext, subs = timed(lambda: extract_subsequences(ig_table, label="both"), max(3, args.repeats))
    res["extract_s"] = t_ext
    print(f"extract: {t_ext:.3f} s for {len(ig_table)} residues -> {len(subs)} subsequences")

    db = args.db or DEFAULT_DB
    t_score = None
    if (db / "kb.duckdb").exists():
        from kb.api import open as open_kb
        from psl.hitrate.scorer import score

        kb = open_kb(db)
        t_score, _ = timed(lambda: score(kb, subs, proteins=True, group_by=["label_kind"]),
                           max(3, args.repeats))
        print(f"score: {t_score:.3f} s ({len(subs)} subsequences, {db})")
    res["score_s"] = t_score
    res["score_db"] = str(db) if t_score is not None else None

    per_protein = (t_att + best["seconds"] + t_ext + (t_score or 0.0)) / len(seqs)
    res["full_test_set_estimate_s"] = {
        "attention": t_att / len(seqs) * N_TEST,
        "ig": best["seconds"] / len(seqs) * N_TEST,
        "extract_and_score": (t_ext + (t_score or 0.0)) / len(seqs) * N_TEST,
        "pipeline": per_protein * N_TEST,
    }
    print("full test set estimate (s):", json.dumps(res["full_test_set_estimate_s"]))

    RESULTS.mkdir(parents=True, exist_ok=True)
    with atomic_path(RESULTS / f"{args.name}.json") as tmp:
        tmp.write_text(json.dumps(res, indent=2) + "\n")
    m = info["machine"]
    lines = [
        "# Explanation benchmark",
        "",
        f"Machine: {m['cpu']}, {m['cpus']} CPUs, torch {m['torch']} ({m['torch_threads']} "
        f"threads), Python {m['python']}; load average at start {m['load_average']} (shared "
        "machine: other jobs ran, timings are noisy).",
        "",
        f"Command: `{info['command']}`",
        "",
        f"Model: {model_desc} ({n_params:,} parameters). {len(seqs)} DeepLoc 1.0 test proteins "
        f"(seeded sample), mean length {info['mean_length']:.0f} ({info['mean_kept_length']:.0f}"
        f" after cropping). Medians of {args.repeats} run(s).",
        "",
        "| stage | seconds | proteins/s |",
        "|---|---:|---:|",
        f"| attention (learned), batched | {t_att:.2f} | {len(seqs) / t_att:.1f} |",
    ]
    for k, v in sweep.items():
        lines.append(f"| IG {args.n_steps} steps, batch {args.batch_size}, internal batch {k} | "
                     f"{v['seconds']:.2f} | {v['proteins_per_s']:.2f} |")
    lines += [
        f"| IG one protein at a time ({nb} proteins; the `psl explain` default) | "
        f"{t_base:.2f} | {base_rate:.2f} |",
        f"| baseline: the same through Captum on the input (before the stem path) | "
        f"{t_cap:.2f} | {nb / t_cap:.2f} |",
        f"| baseline: the same through the model's general (padded) path (before the "
        f"unpadded path) | {t_pad:.2f} | {nb / t_pad:.2f} |",
    ]
    if "workers" in res:
        w = res["workers"]
        lines.append(f"| IG one protein at a time in {w['workers']} worker processes "
                     f"({w['proteins']} proteins, start-up included; `--workers "
                     f"{w['workers']}`) | {w['seconds']:.2f} | {w['proteins_per_s']:.2f} |")
    lines += [
        f"| extract (both labels) | {t_ext:.3f} | {len(seqs) / t_ext:.0f} |",
    ]
    if t_score is not None:
        lines.append(f"| score vs `{db.name}` | {t_score:.3f} | {len(seqs) / t_score:.0f} |")
    est = res["full_test_set_estimate_s"]
    lines += [
        "",
        f"Batched IG speed-up over one protein at a time: "
        f"{best['proteins_per_s'] / base_rate:.1f}x.",
        "",
        f"Full test set ({N_TEST} proteins) estimated from these rates: attention "
        f"{est['attention'] / 60:.1f} min, IG {est['ig'] / 60:.1f} min, extract + score "
        f"{est['extract_and_score'] / 60:.2f} min; pipeline {est['pipeline'] / 60:.1f} min.",
        "",
    ]
    with atomic_path(RESULTS / f"{args.name}.md") as tmp:
        tmp.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
