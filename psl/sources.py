"""Labelled training data beyond the DeepLoc 1.0 FASTA: tables, FASTA files, knowledge bases.

Every reader returns one DataFrame with columns ``accession``, ``sequence``, ``location``
(a class of :data:`kb.classes.LOCATION_CLASSES`), ``label`` (its index) and ``source`` (the
path it came from), one row per single-label protein:

- a labelled CSV/TSV (e.g. ``data/deeploc2/deeploc2_swissprot.csv.gz``: ``accession``,
  ``sequence``, ``label`` with ``|``-separated classes), a UniProt TSV export with
  ``Subcellular location [CC]`` (its terms mapped to classes by :func:`kb.locations.default_mapper`,
  as ``kb build`` maps them) or a labelled FASTA (DeepLoc headers), read through
  :mod:`kb.tables`;
- a knowledge base built with ``kb build`` (through :func:`kb.open`: the entries whose
  locations map to a class; with ``evidence = "experimental"`` only locations with evidence
  ECO:0000269, experimental evidence in the literature).

Multi-label proteins (more than one class): ``multilabel = "drop"`` (default) leaves them out
(as the 146 ``Cytoplasm-Nucleus`` DeepLoc 1.0 proteins are left out); ``"first"`` keeps the
first class listed (for DeepLoc 2.0 that is the file's order, not a primary location);
``"soft"`` keeps all of them: ``location`` lists the classes joined by ``|`` (e.g.
``Lysosome/Vacuole|Cell.membrane``), ``label`` is the first, and training uses the uniform
distribution over the listed classes as a soft target (:func:`target_distribution`). Counts
are returned so they can be reported.

A dataset table (``psl dataset``) records where every protein of a split came from:
``accession``, ``source``, ``sha1`` (of the sequence), ``split``, ``location``, ``sequence``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from kb.atomic import atomic_path
from kb.classes import LOCATION_CLASSES, normalize_class
from kb.errors import InputFormatError
from psl.errors import PslError
from psl.homology import sequence_sha1

__all__ = [
    "MULTILABEL_RULES",
    "LABEL_SEPARATOR",
    "EVIDENCE_RULES",
    "EXPERIMENTAL_EVIDENCE",
    "DATASET_COLUMNS",
    "PSEUDO_LABEL_SOURCE",
    "SOURCE_COLUMNS",
    "annotated",
    "check_rules",
    "read_labelled",
    "read_kb",
    "write_dataset",
    "read_dataset",
    "is_dataset_table",
    "training_set_table",
    "read_training_set",
    "write_training_set",
    "target_distribution",
]

MULTILABEL_RULES = ("drop", "first", "soft")
#: Separator of the classes of a multi-label protein in a ``location`` column.
LABEL_SEPARATOR = "|"
EVIDENCE_RULES = ("any", "experimental")
#: ECO code of experimental evidence (published experiment).
EXPERIMENTAL_EVIDENCE = "ECO:0000269"
DATASET_COLUMNS = ["accession", "source", "sha1", "split", "location", "sequence"]
#: How a dataset table's ``source`` starts for a protein labelled by a model (a teacher's most
#: probable class), not by an annotation: such proteins are never homology-transfer references.
PSEUDO_LABEL_SOURCE = "pseudo-label"
#: Columns of every reader's frame.
SOURCE_COLUMNS = ["accession", "sequence", "location", "label", "source"]


def check_rules(multilabel: str, evidence: str = "any") -> None:
    """Raise :class:`PslError` unless ``multilabel`` and ``evidence`` name known rules."""
    if multilabel not in MULTILABEL_RULES:
        raise PslError(f"[data] multilabel must be one of {MULTILABEL_RULES}, got {multilabel!r}")
    if evidence not in EVIDENCE_RULES:
        raise PslError(f"[data] evidence must be one of {EVIDENCE_RULES}, got {evidence!r}")


def _single_label(rows: list[tuple[str, str, list[str]]], multilabel: str,
                  source: str) -> tuple[pd.DataFrame, dict[str, int]]:
    """Rows (accession, sequence, classes in order) -> one class per protein + counts."""
    keep = []
    n_multi = n_none = 0
    for acc, seq, classes in rows:
        distinct = list(dict.fromkeys(classes))
        if not distinct:
            n_none += 1
            continue
        if len(distinct) > 1:
            n_multi += 1
            if multilabel == "drop":
                continue
        location = LABEL_SEPARATOR.join(distinct) if multilabel == "soft" else distinct[0]
        keep.append((acc, seq.rstrip("*").upper(), location, distinct[0]))
    df = pd.DataFrame(keep, columns=["accession", "sequence", "location", "first"])
    df["label"] = [LOCATION_CLASSES.index(c) for c in df.pop("first")]
    df["source"] = source
    counts = {"read": len(rows), "unlabelled": n_none, "multilabel": n_multi,
              "multilabel_kept_first": n_multi if multilabel == "first" else 0,
              "multilabel_kept_soft": n_multi if multilabel == "soft" else 0,
              "kept": len(df)}
    return df[SOURCE_COLUMNS], counts


def read_labelled(path: str | Path, multilabel: str = "drop"
                  ) -> tuple[pd.DataFrame, dict[str, int]]:
    """Read a labelled CSV/TSV table or FASTA file (format from the content, see kb.tables).

    Arguments:
        path: the file (plain or gzip).
        multilabel: ``drop``, ``first`` or ``soft`` (module docstring).

    Returns:
        ``(frame, counts)``: the single-label proteins and how many were read, unlabelled,
        multi-label and kept.

    Raises:
        InputFormatError: a malformed file (file and line in the message).
        PslError: an unknown rule or no labelled protein.
    """
    from kb.locations import default_mapper
    from kb.tables import detect_format, read_fasta, read_table

    check_rules(multilabel)
    path = Path(path)
    fmt = detect_format(path)
    if fmt not in ("fasta", "table"):
        raise PslError(f"expected a labelled CSV/TSV or FASTA file, found a {fmt} (build a "
                       "knowledge base from it with `kb build` and name its directory)", path)
    reader = read_fasta if fmt == "fasta" else read_table
    class_of = default_mapper().class_of  # UniProt's location terms, as `kb build` maps them
    rows = []
    for e in reader(path, strict=True):
        classes = [c for c in (loc.label_class or class_of(loc.term) for loc in e.locations)
                   if c]
        rows.append((e.accession, e.sequence, classes))
    df, counts = _single_label(rows, multilabel, str(path))
    if df.empty:
        hint = ""
        if counts["unlabelled"] == counts["read"]:
            hint = (": none of its proteins has a location (a table needs a column label, "
                    "location or locations with DeepLoc classes, or UniProt's 'Subcellular "
                    "location [CC]'; a FASTA needs DeepLoc headers '>ACC Location-Solubility')")
        elif multilabel == "drop":
            hint = (f": all {counts['multilabel']} labelled proteins have several classes "
                    "(multilabel = 'drop'); use 'first' or 'soft'")
        raise PslError(f"no labelled protein with a location class{hint}", path)
    return df, counts


def read_kb(path: str | Path, multilabel: str = "drop", evidence: str = "any"
            ) -> tuple[pd.DataFrame, dict[str, int]]:
    """The entries of a knowledge base (``kb build``) whose locations map to a class.

    Uses the public API only: :func:`kb.open`, ``KnowledgeBase.accessions``,
    ``KnowledgeBase.locations`` and ``KnowledgeBase.sequence_arrays``.

    Arguments:
        path: the knowledge-base directory.
        multilabel: ``drop``, ``first`` or ``soft`` (classes in the order ``locations``
            lists them).
        evidence: ``any`` or ``experimental`` (only locations with ECO:0000269).

    Returns:
        ``(frame, counts)`` as :func:`read_labelled`.

    Raises:
        KBError: not a knowledge base.
        PslError: an unknown rule or no labelled entry.
    """
    import kb

    check_rules(multilabel, evidence)
    with kb.open(path) as base:
        accs = base.accessions.to_pylist()
        loc = base.locations(accs).to_pandas()
        loc = loc[loc["class"].notna()]
        if evidence == "experimental":
            loc = loc[loc["evidence"].fillna("").str.contains(EXPERIMENTAL_EVIDENCE,
                                                               regex=False)]
        by_acc = loc.groupby("accession", sort=False)["class"].apply(list).to_dict()
        residues, offsets = base.sequence_arrays()
        rows = [(a, residues[offsets[i]:offsets[i + 1] - 1].tobytes().decode("ascii"),
                 [normalize_class(c) for c in by_acc.get(a, [])])
                for i, a in enumerate(accs)]
    df, counts = _single_label(rows, multilabel, str(path))
    if df.empty:
        raise PslError(f"no entry with a mapped location class (evidence={evidence})", path)
    return df, counts


def write_dataset(splits: dict[str, pd.DataFrame], path: str | Path) -> Path:
    """Write train/val/test as one dataset table (TSV, gzip if the name ends in ``.gz``).

    Columns :data:`DATASET_COLUMNS`; ``source`` defaults to ``""`` where a frame lacks it.
    """
    frames = []
    for name, df in splits.items():
        f = pd.DataFrame({
            "accession": df["accession"].to_numpy(),
            "source": df["source"].to_numpy() if "source" in df else "",
            "sha1": [sequence_sha1(s) for s in df["sequence"]],
            "split": name,
            "location": df["location"].to_numpy(),
            "sequence": df["sequence"].to_numpy(),
        })
        frames.append(f)
    table = pd.concat(frames, ignore_index=True)[DATASET_COLUMNS]
    path = Path(path)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False,
                     compression="gzip" if path.suffix == ".gz" else None)
    return path


def annotated(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of a source or dataset frame whose label is an annotation: those whose
    ``source`` starts with :data:`PSEUDO_LABEL_SOURCE` (a teacher's guess) are left out."""
    if "source" not in frame:
        return frame
    keep = ~frame["source"].astype(str).str.startswith(PSEUDO_LABEL_SOURCE)
    return frame[keep].reset_index(drop=True)


def is_dataset_table(path: str | Path) -> bool:
    """Whether a file (plain or gzip) starts with a dataset table's header (tab-separated
    :data:`DATASET_COLUMNS`); only its first line is read."""
    from kb.tables import open_text

    path = Path(path)
    if not path.is_file():
        return False
    with open_text(path) as fh:
        header = fh.readline().rstrip("\r\n").split("\t")
    return all(c in header for c in DATASET_COLUMNS)


def read_dataset(path: str | Path) -> dict[str, pd.DataFrame]:
    """Read a dataset table back into ``{"train", "val", "test"}`` frames (sha1 checked).

    Raises:
        InputFormatError: missing columns, an unknown split or class, a sha1 that does not
            match its sequence.
    """
    path = Path(path)
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    missing = [c for c in DATASET_COLUMNS if c not in df.columns]
    if missing:
        raise InputFormatError(f"not a dataset table: missing columns {missing}", path)
    bad = ~df["split"].isin(["train", "val", "test"])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputFormatError(f"unknown split {df['split'].iat[i]!r} (train, val or test)",
                               path, i + 2)
    sha = [sequence_sha1(s) for s in df["sequence"]]
    wrong = np.flatnonzero(np.asarray(sha) != df["sha1"].to_numpy())
    if len(wrong):
        i = int(wrong[0])
        raise InputFormatError(f"sha1 of {df['accession'].iat[i]!r} does not match its "
                               "sequence", path, i + 2)
    multi = df["location"].str.contains(LABEL_SEPARATOR, regex=False).to_numpy()
    held_out = np.flatnonzero(multi & (df["split"] != "train").to_numpy())
    if len(held_out):
        i = int(held_out[0])
        raise InputFormatError(f"{df['accession'].iat[i]!r} in the {df['split'].iat[i]} split "
                               f"has several classes ({df['location'].iat[i]}); only training "
                               "proteins may (validation and test are scored single-label)",
                               path, i + 2)
    try:
        locations = [LABEL_SEPARATOR.join(normalize_class(c) for c in loc.split(LABEL_SEPARATOR))
                     for loc in df["location"]]
    except ValueError as e:
        raise InputFormatError(str(e), path) from None
    df["location"] = locations
    df["label"] = [LOCATION_CLASSES.index(loc.split(LABEL_SEPARATOR)[0]) for loc in locations]
    out = {}
    for name in ("train", "val", "test"):
        part = df[df["split"] == name].drop(columns=["split"]).reset_index(drop=True)
        out[name] = part
    return out


def training_set_table(splits: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """``accession``, ``source``, ``sha1``, ``split`` of every protein of the splits.

    Written into a checkpoint as ``training_set.tsv`` so anyone can evaluate it on proteins
    it never saw.
    """
    frames = [pd.DataFrame({
        "accession": df["accession"].to_numpy(),
        "source": df["source"].to_numpy() if "source" in df else "",
        "sha1": [sequence_sha1(s) for s in df["sequence"]],
        "split": name,
    }) for name, df in splits.items()]
    return pd.concat(frames, ignore_index=True)


def read_training_set(checkpoint: str | Path) -> pd.DataFrame | None:
    """A checkpoint's ``training_set.tsv`` (all columns as strings), or None without one."""
    path = Path(checkpoint) / "training_set.tsv"
    if not path.is_file():
        return None
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


def write_training_set(splits: dict[str, pd.DataFrame], path: str | Path,
                       init: str | Path | None = None) -> Path:
    """Write :func:`training_set_table` as TSV (atomically).

    Arguments:
        splits: the run's splits.
        path: the TSV to write.
        init: the checkpoint the run started from (``[train] init``): the proteins it trained
            on are in this model's weights too, so its ``training_set.tsv`` train rows that
            are not already train rows here are added (split ``train``, source
            ``init <checkpoint>: <source>``).
    """
    path = Path(path)
    table = training_set_table(splits)
    seen = read_training_set(init) if init is not None else None
    if seen is not None:
        seen = seen[(seen["split"] == "train")
                    & ~seen["sha1"].isin(table.loc[table["split"] == "train", "sha1"])]
        seen = seen.assign(source=[f"init {init}: {x}" for x in seen["source"]])
        table = pd.concat([table, seen[table.columns]], ignore_index=True)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False)
    return path


def target_distribution(locations: list[str] | pd.Series) -> np.ndarray | None:
    """Soft training targets: the uniform distribution over each protein's classes.

    Arguments:
        locations: ``location`` values; a multi-label one lists its classes joined by ``|``.

    Returns:
        An ``N x C`` float32 array (rows sum to 1; a single-label row is one-hot), or ``None``
        when every protein has one class (plain labels suffice).

    Raises:
        ValueError: a class that is not one of :data:`kb.classes.LOCATION_CLASSES`.
    """
    locations = list(locations)
    if not any(LABEL_SEPARATOR in loc for loc in locations):
        return None
    q = np.zeros((len(locations), len(LOCATION_CLASSES)), dtype=np.float32)
    for i, loc in enumerate(locations):
        classes = list(dict.fromkeys(loc.split(LABEL_SEPARATOR)))
        q[i, [LOCATION_CLASSES.index(c) for c in classes]] = 1.0 / len(classes)
    return q
