"""Calibration of a checkpoint: ECE (15 bins) on val and test, raw / temperature-scaled /
with per-class logit offsets, and per-class test recall; everything fitted on val only.

    python benchmarks/calibration.py [--model models/default] [--n-boot 200]
                                     [--out benchmarks/results/calibration.md]

One inference pass over the checkpoint's validation and test splits; then, from the logits:
the temperature (and separately temperature + per-class logit offsets) fitted on validation
exactly as ``psl calibrate`` does (``psl.training.calibrate.fit_calibration``; the offsets
only where a 5-fold cross-validation on validation says they help), the offsets kept
regardless (as before that check), and the
accuracy, macro-F1, ECE and per-class recall of the raw, temperature-scaled and offset
predictions on both splits. The checkpoint is not modified (``psl calibrate`` stores a
calibration).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _machine import cpu_name  # noqa: E402

from kb.atomic import atomic_path  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(REPO / "models" / "default"))
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "calibration.md"))
    a = ap.parse_args(argv)
    import torch

    from kb.classes import LOCATION_CLASSES
    from psl.data import DataConfig, EncodedSet, load_splits
    from psl.metrics import classification_report, expected_calibration_error
    from psl.models.calibration import Calibration, fit_logit_offsets, softmax
    from psl.models.checkpoint import load_model
    from psl.models.inference import infer
    from psl.training.calibrate import fit_calibration

    torch.set_num_threads(2)
    t0 = time.perf_counter()
    loaded = load_model(a.model)
    splits = load_splits(DataConfig(**loaded.run_config.get("data", {})))
    logits, labels = {}, {}
    for s in ("val", "test"):
        data = EncodedSet(splits[s]["sequence"].tolist(), splits[s]["label"].tolist(),
                          loaded.config.max_len)
        logits[s] = infer(loaded.model, data, batch_size=64).logits
        labels[s] = data.labels.numpy()
    t_infer = time.perf_counter() - t0
    cals = {"raw": Calibration(),
            "temperature": fit_calibration(logits["val"], labels["val"], False),
            "temperature+offsets": fit_calibration(logits["val"], labels["val"], True)}
    # the offsets as fitted before the cross-validation check (kept whatever it says)
    t_val = cals["temperature"].temperature
    unchecked = Calibration(t_val, fit_logit_offsets(logits["val"] / t_val, labels["val"]))
    cals["offsets, unchecked"] = unchecked
    rows, recall = [], {}
    for name, cal in cals.items():
        for s in ("val", "test"):
            z = cal.apply(logits[s])
            rep = classification_report(labels[s], z.argmax(1), list(LOCATION_CLASSES),
                                        n_boot=a.n_boot)
            ece = expected_calibration_error(softmax(z), labels[s])
            rows.append((name, s, rep, ece))
            if s == "test":
                recall[name] = {c: r["recall"] for c, r in rep["per_class"].items()}
    secs = time.perf_counter() - t0
    cmd = "python benchmarks/calibration.py " + " ".join(argv if argv is not None
                                                          else sys.argv[1:])
    t = cals["temperature"]
    o = cals["temperature+offsets"]
    lines = [f"# Calibration of `{Path(a.model).name}`", "",
             f"Command: `{cmd.strip()}`  ",
             f"Machine: {cpu_name()}, {os.cpu_count()} cores (shared)  ",
             f"Seconds: {secs:.0f} (inference {t_infer:.0f})", "",
             f"Fitted on validation (n = {len(labels['val'])}): temperature T = "
             f"{t.temperature:.4f}; offsets (after T) = "
             f"{[round(b, 2) for b in unchecked.offsets]} (class order of kb.classes). "
             f"5-fold cross-validation of the offsets on validation: macro-F1 "
             f"{o.info['offsets_cv']['macro_f1_without']:.4f} without, "
             f"{o.info['offsets_cv']['macro_f1_with']:.4f} with -> "
             f"{'kept' if o.info['offsets_kept'] else 'not kept'} by `temperature+offsets` "
             "(`offsets, unchecked` = kept regardless, as before the check).", "",
             "| calibration | split | n | accuracy [95% CI] | macro-F1 | MCC | ECE (15 bins) |",
             "|---|---|---|---|---|---|---|"]
    for name, s, rep, ece in rows:
        ci = rep["ci95"].get("accuracy", [float("nan")] * 2)
        lines.append(f"| {name} | {s} | {rep['n']} | {rep['accuracy']:.4f} [{ci[0]:.3f}, "
                     f"{ci[1]:.3f}] | {rep['macro_f1']:.4f} | {rep['mcc']:.4f} | {ece:.4f} |")
    lines += ["", "Per-class recall on test:", "",
              "| class | n | raw (= temperature) | temperature+offsets | offsets, unchecked |",
              "|---|---|---|---|---|"]
    support = {c: r["support"] for c, r in rows[1][2]["per_class"].items()}
    for c in LOCATION_CLASSES:
        lines.append(f"| {c} | {support[c]} | {recall['raw'][c]:.3f} | "
                     f"{recall['temperature+offsets'][c]:.3f} | "
                     f"{recall['offsets, unchecked'][c]:.3f} |")
    md = "\n".join(lines) + "\n"
    print(md)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(a.out) as tmp:
        Path(tmp).write_text(md)
    with atomic_path(Path(a.out).with_suffix(".json")) as tmp:
        Path(tmp).write_text(json.dumps({
            "model": str(a.model), "seconds": round(secs, 1),
            "fits": {k: v.to_dict() for k, v in cals.items()},
            "rows": [{"calibration": n, "split": s, "accuracy": r["accuracy"],
                      "macro_f1": r["macro_f1"], "mcc": r["mcc"], "ece": e,
                      "ci95": r["ci95"], "per_class": r["per_class"]}
                     for n, s, r, e in rows]}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
