"""Benchmark of the localization models on CPU: inference throughput, training step cost, and
the shipped default model's accuracy on the official DeepLoc 1.0 test set.

Baseline measured in the same run: a BiLSTM with additive attention running over all 1000
positions without pooling (the research code's architecture, hidden 128 per direction), on the
same proteins, batch size and threads.

    python benchmarks/bench_models.py [--n 256] [--batch-size 64] [--threads 2] [--repeats 3]
        [--skip-accuracy] [--also NAME=DIR ...]

``--also`` times further checkpoints in the same run (e.g. ``ensemble=models/ensemble``).

Writes benchmarks/results/bench_models.json and .md. Timings on a shared machine are noisy.
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
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from psl.data import EncodedSet, official_split, read_deeploc  # noqa: E402
from psl.models.checkpoint import DEFAULT_MODEL_DIR, load_model  # noqa: E402
from psl.models.family import LocalizationModel, ModelConfig  # noqa: E402
from psl.models.inference import infer  # noqa: E402
from psl.training.evaluation import evaluate  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"


def timed(fn, repeats: int) -> float:
    """Median wall seconds of ``fn()`` over ``repeats`` runs (after one warm-up)."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def train_step_seconds(model: LocalizationModel, data: EncodedSet, batch_size: int) -> float:
    """Seconds of one pass of forward + backward + Adam step over ``data``."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    model.train()
    t = time.perf_counter()
    for _, b, y in data.batches(batch_size, shuffle=True, seed=0):
        loss = F.cross_entropy(model(b.tokens, b.mask).logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=256, help="proteins timed (official test set)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-accuracy", action="store_true", help="skip the full test-set score")
    ap.add_argument("--also", action="append", default=[], metavar="NAME=DIR",
                    help="also time this checkpoint (repeatable)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    df = read_deeploc()
    test = official_split(df)["test"].sample(n=args.n, random_state=0)
    if (DEFAULT_MODEL_DIR / "weights.pt").is_file():
        ours = load_model(DEFAULT_MODEL_DIR).model
        ours_name = "shipped default model"
    else:
        ours = LocalizationModel(ModelConfig()).eval()
        ours_name = "default config (untrained)"
    base_cfg = ModelConfig(encoding="onehot+blosum62", encoder="bilstm", pool=1, hidden=128,
                           attention_dim=128, max_len=1000)
    base = LocalizationModel(base_cfg).eval()
    data = EncodedSet(test["sequence"].tolist(), test["label"].tolist(), 1000)
    n_res = int(data.lengths.sum())

    models = [(ours_name, ours), ("baseline: BiLSTM-128 over 1000 positions", base)]
    for spec in args.also:
        name, sep, path = spec.partition("=")
        if not sep:
            ap.error(f"--also expects NAME=DIR, got {spec!r}")
        models.append((name, load_model(path).model))
    rows = {}
    for name, model in models:
        sec = timed(lambda m=model: infer(m, data, batch_size=args.batch_size), args.repeats)
        tr = train_step_seconds(model, data, 32)
        rows[name] = {
            "inference_seconds": round(sec, 3),
            "proteins_per_second": round(len(data) / sec, 1),
            "train_seconds_per_1000_proteins": round(1000 * tr / len(data), 2),
            "parameters": sum(p.numel() for p in model.parameters()),
        }
        print(f"{name}: {rows[name]}", flush=True)
    result = {
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpus": os.cpu_count(), "torch": torch.__version__,
                    "threads": torch.get_num_threads()},
        "sizes": {"proteins": len(data), "residues_after_crop": n_res, "max_len": 1000,
                  "batch_size": args.batch_size, "repeats": args.repeats},
        "models": rows,
        "speedup_vs_baseline": round(
            rows[ours_name]["proteins_per_second"]
            / rows["baseline: BiLSTM-128 over 1000 positions"]["proteins_per_second"], 2),
        "note": "medians of wall time on a shared 2-core machine: noisy",
    }
    if not args.skip_accuracy and (DEFAULT_MODEL_DIR / "weights.pt").is_file():
        rep = evaluate(None, split="test", n_boot=1000, device="cpu")
        result["default_model_official_test"] = {
            k: rep[k] for k in ("n", "accuracy", "macro_f1", "mcc", "ci95")}
        print("official test:", result["default_model_official_test"], flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_models.json").write_text(json.dumps(result, indent=2) + "\n")
    md = ["# bench_models", "", f"Machine: {result['machine']}", "",
          f"Sizes: {result['sizes']}", "",
          "| model | proteins/s (inference) | train s / 1000 proteins | parameters |",
          "|---|---|---|---|"]
    for name, r in rows.items():
        md.append(f"| {name} | {r['proteins_per_second']} | "
                  f"{r['train_seconds_per_1000_proteins']} | {r['parameters']} |")
    md += ["", f"Speed-up of inference vs baseline: {result['speedup_vs_baseline']}x", ""]
    if "default_model_official_test" in result:
        t = result["default_model_official_test"]
        md.append("Default model, official DeepLoc test set (n={n}): accuracy {a:.3f} "
                  "[{al:.3f}, {ah:.3f}], macro-F1 {f:.3f} [{fl:.3f}, {fh:.3f}], MCC {m:.3f} "
                  "[{ml:.3f}, {mh:.3f}] (95% bootstrap)".format(
                      n=t["n"], a=t["accuracy"], al=t["ci95"]["accuracy"][0],
                      ah=t["ci95"]["accuracy"][1], f=t["macro_f1"], fl=t["ci95"]["macro_f1"][0],
                      fh=t["ci95"]["macro_f1"][1], m=t["mcc"], ml=t["ci95"]["mcc"][0],
                      mh=t["ci95"]["mcc"][1]))
    md.append("")
    md.append(result["note"])
    (RESULTS / "bench_models.md").write_text("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
