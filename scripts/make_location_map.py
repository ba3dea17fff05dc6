"""Regenerate ``kb/resources/location_map.tsv`` from the vocabulary files in ``data/vocab/``.

Usage: ``python scripts/make_location_map.py [--subcell FILE] [--manual-map FILE] [--out FILE]``.
The rules are documented in :mod:`kb.locations`.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from kb.locations import derive_location_map, write_location_map

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, derive the map and write it; print a count per rule."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--subcell", type=Path, default=REPO / "data/vocab/subcell.txt",
                   help="UniProt subcell.txt (default: data/vocab/subcell.txt)")
    p.add_argument("--manual-map", type=Path,
                   default=REPO / "data/vocab/deeploc_redo_manual_map.csv",
                   help="manual map CSV with columns location, MANUAL_MAP")
    p.add_argument("--out", type=Path, default=REPO / "kb/resources/location_map.tsv",
                   help="output TSV (written atomically)")
    args = p.parse_args(argv)
    rows = derive_location_map(args.subcell, args.manual_map)
    write_location_map(rows, args.out)
    counts = Counter(r.how for r in rows)
    summary = ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))
    print(f"wrote {len(rows)} rows to {args.out}: {summary}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
