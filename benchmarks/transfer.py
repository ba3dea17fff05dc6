"""Homology transfer (psl/transfer.py) against the network alone, in the same run.

    python benchmarks/transfer.py [--model models/default] [--repeats 3] [--n-boot 1000]
        [--sensitivity-n 200]

What it measures, for a checkpoint with ``transfer.json`` (``psl transfer``):

- the official test split scored three ways: the network alone (the baseline), the nearest
  reference's class alone, and the two combined (what ``psl predict`` prints); accuracy,
  macro-F1, MCC with 95% bootstrap intervals, per-class recall, ECE;
- the same on the test proteins whose nearest reference is a homolog (>= 30% identity over
  >= 50% of the shorter, DeepLoc's partition rule, and >= 40 bits: homologs DeepLoc's own
  partition left in) and on the others, and on the validation proteins without a homolog in
  the training split (each searched among the references other than itself);
- with SEG masking on, what it changes on the test proteins (searched again without it);
- the search's sensitivity: on ``--sensitivity-n`` random test proteins (seed 0), how many
  have a homolog among the 30 best-scoring references when aligned with every reference
  (parasail, exhaustive), and how many of those the prefiltered search finds;
- the leave-one-out fit: seconds, and whether a refit reproduces the stored table;
- ``predict`` throughput on the test proteins (fresh model per run, so the k-mer index build
  is included), network alone vs with the transfer: median of ``--repeats``.

Writes benchmarks/results/transfer.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _report import emit, write_atomic  # noqa: E402  (benchmarks/ is on sys.path)

from kb.classes import LOCATION_CLASSES  # noqa: E402
from psl.data import DataConfig, load_splits  # noqa: E402
from psl.homology import find_homologs, homologous  # noqa: E402
from psl.low_complexity import seg_segments  # noqa: E402
from psl.metrics import classification_report, expected_calibration_error  # noqa: E402
from psl.models.checkpoint import load_model  # noqa: E402
from psl.models.inference import network_probabilities, predict  # noqa: E402
from psl.transfer import bit_score, fit_transfer, nearest_references  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
K = len(LOCATION_CLASSES)


def scores(y: np.ndarray, probs: np.ndarray, n_boot: int) -> dict:
    pred = probs.argmax(1)
    r = classification_report(y, pred, list(LOCATION_CLASSES), n_boot=n_boot, seed=0)
    return {"n": int(len(y)), "accuracy": r["accuracy"], "macro_f1": r["macro_f1"],
            "mcc": r["mcc"], "ci95": r["ci95"],
            "recall": {c: v["recall"] for c, v in r["per_class"].items()},
            "ece": expected_calibration_error(probs, y)}


def three_ways(y, network, hits, transfer, n_boot) -> dict:
    knn = np.full_like(network, 1.0 / K)
    ok = hits.ref >= 0
    knn[ok] = 0.0
    knn[np.flatnonzero(ok), transfer.references.labels[hits.ref[ok]]] = 1.0
    return {"network": scores(y, network, n_boot),
            "nearest_reference": scores(y, knn, n_boot),
            "combined": scores(y, transfer.combine(network, hits), n_boot)}


def dev_scores(val, train, tf, network_probs, n_boot) -> dict:
    """The validation proteins without a training homolog, each searched among the references
    other than itself. rescore=0 here: the set the tenth to twelfth sessions' rules were
    written on (459 proteins)."""
    rel = find_homologs(val["sequence"].tolist(), train["sequence"].tolist(), rescore=0).related
    novel = val[~rel]
    vh = tf.search(novel["sequence"].tolist(), exclude_identical=True)
    out = three_ways(novel["label"].to_numpy(), network_probs(novel), vh, tf, n_boot)
    out["with_homolog"] = int(vh.homolog.sum())
    return out


def throughput(model: str, seqs: list[str], repeats: int) -> dict:
    """``predict`` on ``seqs`` (a fresh model per run: the k-mer index build is included),
    network alone and with the transfer: proteins/s, median of ``repeats``."""
    speed = {}
    for name, hom in (("network alone", False), ("with homology transfer", True)):
        times = []
        for _ in range(repeats):
            m = load_model(model)
            t = time.perf_counter()
            predict(m, seqs, homology=hom)
            times.append(time.perf_counter() - t)
        speed[name] = round(len(seqs) / statistics.median(times), 1)
        print(f"{name}: {speed[name]} proteins/s (median of {repeats})")
    return speed


def masking_effect(test, hits, tf) -> dict:
    """The test proteins whose homologous nearest reference the SEG masking changes: searched
    again without it, how many lose or gain one, and of those that lose it, how many aligned
    mostly (> 50% of the query's aligned residues) inside the query's SEG segments, and how
    often the lost homolog's class was the protein's."""
    import parasail

    seqs = [s.upper() for s in test["sequence"]]
    off = nearest_references(seqs, tf.references,
                             replace(tf.settings, mask_low_complexity=False))
    lost = np.flatnonzero(off.homolog & ~hits.homolog)
    gained = np.flatnonzero(hits.homolog & ~off.homolog)
    inside = 0
    for i in lost:
        res = parasail.sw_trace_striped_32(seqs[i], tf.references.sequences[off.ref[i]],
                                           11, 1, parasail.blosum62)
        end = res.end_query
        start = end - sum(c != "-" for c in res.traceback.query) + 1
        masked = np.zeros(len(seqs[i]), dtype=bool)
        for a, b in seg_segments(seqs[i]):
            masked[a:b + 1] = True
        inside += bool(masked[start:end + 1].mean() > 0.5)
    y = test["label"].to_numpy()
    labels = tf.references.labels
    return {"homolog_without_masking": int(off.homolog.sum()),
            "homolog_with_masking": int(hits.homolog.sum()),
            "lost": int(len(lost)), "gained": int(len(gained)),
            "lost_aligned_mostly_in_seg_segments": inside,
            "lost_homolog_class_right": int((labels[off.ref[lost]] == y[lost]).sum()),
            "gained_homolog_class_right": int((labels[hits.ref[gained]] == y[gained]).sum())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=str(REPO / "models" / "default"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--sensitivity-n", type=int, default=200)
    ap.add_argument("--out", default=str(RESULTS / "transfer"))
    ap.add_argument("--dev-only", action="store_true", help="only the validation proteins "
                    "without a training homolog and predict's speed, printed (no test score "
                    "is computed, nothing is written): what a rule is decided on")
    args = ap.parse_args()

    loaded = load_model(args.model)
    tf = loaded.transfer
    if tf is None:
        sys.exit(f"{args.model} has no transfer.json: run psl transfer --model {args.model}")
    splits = load_splits(DataConfig(**loaded.run_config.get("data", {})))
    test, val, train = splits["test"], splits["val"], splits["train"]
    refs = tf.references
    machine = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
               "python": platform.python_version(), "threads": tf.settings.threads}
    print(f"machine: {machine}; references {len(refs)}, test {len(test)}, val {len(val)}")

    def network_probs(df):
        return network_probabilities(loaded, df["sequence"].tolist())

    if args.dev_only:
        dev = {"val_without_training_homolog": dev_scores(val, train, tf, network_probs,
                                                          args.n_boot),
               "proteins_per_second": throughput(args.model, test["sequence"].tolist(),
                                                 args.repeats)}
        print(json.dumps(dev, indent=1))
        return
    # --- test: three ways, then without the homologs DeepLoc's partition left in
    y = test["label"].to_numpy()
    hits = tf.search(test["sequence"].tolist())
    net = network_probs(test)
    shown = Path(args.model).resolve()
    shown = shown.relative_to(REPO) if shown.is_relative_to(REPO) else shown
    result = {"machine": machine, "model": str(shown), "references": len(refs),
              "settings": tf.settings.__dict__, "test": three_ways(y, net, hits, tf, args.n_boot)}
    homolog = hits.homolog
    result["test_nearest_is_homolog"] = int(homolog.sum())
    for key, part in (("test_with_homolog", homolog), ("test_without_homolog", ~homolog)):
        result[key] = three_ways(y[part], net[part], hits.take(part), tf, args.n_boot)

    result["val_without_training_homolog"] = dev_scores(val, train, tf, network_probs,
                                                        args.n_boot)

    if tf.settings.mask_low_complexity:
        result["masking"] = masking_effect(test, hits, tf)
        print(f"masking: {result['masking']}")

    # --- sensitivity of the prefiltered search against exhaustive alignment
    import parasail

    rng = np.random.default_rng(0)
    sample = rng.choice(len(test), min(args.sensitivity_n, len(test)), replace=False)
    exhaustive = 0
    t = time.perf_counter()
    for i in sample:
        q = test["sequence"].iat[i]
        sc = np.array([parasail.sw_striped_16(q, r, 11, 1, parasail.blosum62).score
                       for r in refs.sequences])
        top = [j for j in np.argsort(-sc, kind="stable")[:30] if bit_score(sc[j]) >= 40]
        exhaustive += any(homologous(q, refs.sequences[j]) is not None for j in top)
    found = int((hits.homolog[sample]).sum())
    result["sensitivity"] = {"proteins": int(len(sample)), "exhaustive_with_homolog": exhaustive,
                             "search_with_homolog": found,
                             "exhaustive_seconds": round(time.perf_counter() - t, 1)}
    print(f"sensitivity: {result['sensitivity']}")

    # --- the leave-one-out fit, redone
    t = time.perf_counter()
    refit = fit_transfer(refs, tf.settings, tf.edges, tf.alpha)
    result["fit_seconds"] = round(time.perf_counter() - t, 1)
    result["refit_reproduces_table"] = bool(np.allclose(refit.table, tf.table, atol=1e-12))

    result["proteins_per_second"] = throughput(args.model, test["sequence"].tolist(),
                                               args.repeats)

    out = Path(args.out)
    write_atomic(out.with_suffix(".json"), json.dumps(result, indent=1) + "\n")
    emit(markdown(result), out.with_suffix(".md"))


def markdown(r: dict) -> str:
    def row(name, s):
        ci = s["ci95"]
        return (f"| {name} | {s['n']} | {s['accuracy']:.3f} [{ci['accuracy'][0]:.3f}, "
                f"{ci['accuracy'][1]:.3f}] | {s['macro_f1']:.3f} | {s['mcc']:.3f} | "
                f"{s['recall']['Lysosome/Vacuole']:.2f} | {s['recall']['Peroxisome']:.2f} | "
                f"{s['recall']['Golgi.apparatus']:.2f} | {s['ece']:.3f} |")

    lines = [
        "<!-- Written by: python benchmarks/transfer.py (see its docstring) -->",
        "# Homology transfer beside the network",
        "",
        f"Model `{r['model']}`, {r['references']} references, search {r['settings']}; machine "
        f"{r['machine']}.",
        "",
        "| scored | proteins | accuracy [95% CI] | macro-F1 | MCC | recall Lys/Vac | recall "
        "Perox | recall Golgi | ECE |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key, title in (("test", "test"),
                       ("test_with_homolog", "test, nearest reference a homolog"),
                       ("test_without_homolog", "test, nearest reference not a homolog"),
                       ("val_without_training_homolog", "validation without a training homolog")):
        for way, label in (("network", "network alone"), ("nearest_reference",
                           "nearest reference's class alone"), ("combined", "combined")):
            lines.append(row(f"{title}: {label}", r[key][way]))
    sp = r["proteins_per_second"]
    lines += [
        "",
        f"Test proteins whose nearest reference is a homolog (>= 30% identity over >= 50% of "
        f"the shorter, >= {r['settings']['min_bits']:g} bits): {r['test_nearest_is_homolog']}.",
        "",
        f"Sensitivity of the search: of {r['sensitivity']['proteins']} random test proteins, "
        f"{r['sensitivity']['exhaustive_with_homolog']} have a homolog among the 30 "
        f"best-scoring references when aligned with all {r['references']} (exhaustive, "
        f"{r['sensitivity']['exhaustive_seconds']} s); the prefiltered search finds one for "
        f"{r['sensitivity']['search_with_homolog']}.",
        "",
    ]
    if "masking" in r:
        m = r["masking"]
        lines += [
            f"Low-complexity masking (SEG, the query's segments seed no word): test proteins "
            f"with a homologous nearest reference {m['homolog_without_masking']} without it, "
            f"{m['homolog_with_masking']} with it; {m['lost']} lose theirs (for "
            f"{m['lost_aligned_mostly_in_seg_segments']} more than half of the aligned query "
            f"lies in its SEG segments; the lost homolog's class was right for "
            f"{m['lost_homolog_class_right']}), {m['gained']} gain one (right for "
            f"{m['gained_homolog_class_right']}).",
            "",
        ]
    lines += [
        f"Leave-one-out fit: {r['fit_seconds']} s; a refit reproduces the stored table: "
        f"{r['refit_reproduces_table']}.",
        "",
        "`predict` on the test proteins (fresh model per run; the k-mer index build included): "
        + ", ".join(f"{k} {v} proteins/s" for k, v in sp.items()) + ".",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
