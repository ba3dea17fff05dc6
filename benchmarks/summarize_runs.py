"""Tabulate trained checkpoints (psl train / psl ensemble runs): validation and test scores.

    python benchmarks/summarize_runs.py NAME=DIR [NAME=DIR ...] [--out FILE.md]

Reads each checkpoint's ``metrics.json`` (written by ``psl train`` or ``psl ensemble``: val =
the seeded 10% carve-out of the training set, test = the official DeepLoc 1.0 test set) and
``meta.json``, and prints a markdown table: members, parameters, best epoch, val accuracy,
test accuracy / macro-F1 / MCC with 95% bootstrap intervals, and seconds per training epoch.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from _report import emit, run_specs  # benchmarks/ is on sys.path when run as a script


def _ci(rep: dict, key: str) -> str:
    lo, hi = rep["ci95"][key]
    return f"{rep[key]:.3f} [{lo:.3f}, {hi:.3f}]"


def row(name: str, path: Path) -> str:
    m = json.loads((path / "metrics.json").read_text())
    meta = json.loads((path / "meta.json").read_text())
    if "val" not in m or "test" not in m:
        raise SystemExit(f"{path}: metrics.json has no val/test report (unfinished run?)")
    epoch = m.get("best_epoch", "")
    epochs = f"{epoch} of {m['epochs_run']}" if "epochs_run" in m else "-"
    secs = m.get("mean_train_seconds_per_epoch", "-")
    return (f"| {name} | {meta.get('members', 1)} | {meta['n_parameters']:,} | {epochs} | "
            f"{m['val']['accuracy']:.3f} | {_ci(m['test'], 'accuracy')} | "
            f"{_ci(m['test'], 'macro_f1')} | {_ci(m['test'], 'mcc')} | {secs} |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="NAME=DIR pairs")
    ap.add_argument("--out", type=Path, help="also write the table to this markdown file")
    args = ap.parse_args(argv)
    lines = ["| run | members | parameters | best epoch | val accuracy | test accuracy [95% CI] "
             "| test macro-F1 | test MCC | train s/epoch |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, path in run_specs(args.runs):
        lines.append(row(name, path))
    emit("\n".join(lines) + "\n", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
