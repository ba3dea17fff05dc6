"""Calibration of a checkpoint: ECE (15 bins) on val and test before/after temperature scaling.

    python benchmarks/calibration.py [--model models/default] [--fit] [--offsets]
                                     [--out benchmarks/results/calibration.md]

With ``--fit`` the temperature (and with ``--offsets`` the per-class logit offsets) is fitted
on the checkpoint's validation split first and stored in its ``calibration.json`` (what
``psl calibrate`` does); the test split is only scored. Prints and writes the validation and
test accuracy, macro-F1, ECE (raw / temperature-scaled / as scored) and per-class test recall.
"""

from __future__ import annotations

import argparse
import json
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
    ap.add_argument("--fit", action="store_true")
    ap.add_argument("--offsets", action="store_true")
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "calibration.md"))
    a = ap.parse_args(argv)
    from psl.training.calibrate import calibrate
    from psl.training.evaluation import evaluate

    t0 = time.perf_counter()
    fit = None
    if a.fit:
        fit = calibrate(a.model, "temperature+offsets" if a.offsets else "temperature",
                        device="cpu").to_dict()
    reports = {s: evaluate(a.model, split=s, n_boot=a.n_boot, device="cpu")
               for s in ("val", "test")}
    secs = time.perf_counter() - t0
    import os

    m = {"cpu": cpu_name(), "cores": os.cpu_count()}
    cmd = "python benchmarks/calibration.py " + " ".join(argv if argv is not None
                                                          else sys.argv[1:])
    lines = [f"# Calibration of `{Path(a.model).name}`", "",
             f"Command: `{cmd.strip()}`  ", f"Machine: {json.dumps(m)}  ",
             f"Seconds: {secs:.1f}", ""]
    if fit is not None:
        lines += [f"Fitted on validation: T = {fit['temperature']:.4f}, offsets = "
                  f"{fit['offsets']}", ""]
    lines += ["| split | n | accuracy | macro-F1 | ECE raw | ECE (T) | ECE as scored | T |",
              "|---|---|---|---|---|---|---|---|"]
    for s, r in reports.items():
        c = r["calibration"]
        lines.append(f"| {s} | {r['n']} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} | "
                     f"{c['ece_raw']:.4f} | {c['ece_temperature']:.4f} | {c['ece']:.4f} | "
                     f"{c['temperature']:.3f} |")
    lines += ["", "Per-class recall on test (as scored):", "",
              "| class | n | recall | precision |", "|---|---|---|---|"]
    for cls, r in reports["test"]["per_class"].items():
        lines.append(f"| {cls} | {r['support']} | {r['recall']:.3f} | {r['precision']:.3f} |")
    md = "\n".join(lines) + "\n"
    print(md)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(a.out) as tmp:
        Path(tmp).write_text(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
