"""Write ``training_set.tsv`` into a checkpoint trained before ``psl train`` wrote it.

The splits are rebuilt from the checkpoint's own ``config.json`` ``[data]`` table (seeded,
reproducible: the same code ``psl train`` ran) and checked against the sizes recorded in its
``metrics.json`` (``n_train``, ``n_val``, ``n_test``) before anything is written; an
ensemble records the ``[data]`` its members shared and its val/test sizes. Refuses a
checkpoint that already has the file.

Usage::

    python scripts/write_training_set.py models/default models/ensemble models/fast
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from psl.data import DataConfig, load_splits  # noqa: E402
from psl.sources import write_training_set  # noqa: E402


def main(dirs: list[str]) -> int:
    for d in map(Path, dirs):
        out = d / "training_set.tsv"
        if out.exists():
            print(f"{out}: exists, left as it is", file=sys.stderr)
            return 2
        config = json.loads((d / "config.json").read_text())
        metrics = json.loads((d / "metrics.json").read_text())
        splits = load_splits(DataConfig(**config["data"]))
        sizes = {f"n_{k}": len(v) for k, v in splits.items()}
        recorded = {k: metrics.get(k) for k in sizes if metrics.get(k) is not None}
        for split in ("val", "test"):  # an ensemble records only what it was scored on
            n = (metrics.get(split) or {}).get("n")
            if n is not None:
                recorded.setdefault(f"n_{split}", n)
        if not recorded or any(sizes[k] != v for k, v in recorded.items()):
            print(f"{d}: rebuilt splits {sizes} differ from metrics.json {recorded}; nothing "
                  "written", file=sys.stderr)
            return 2
        write_training_set(splits, out)
        print(f"{out}: {sizes} (matches metrics.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
