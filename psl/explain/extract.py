"""Subsequences from per-residue attribution scores.

A residue is *salient* when its score is above ``mean + k * std`` of the scores of its own
protein (population standard deviation). Each salient residue is expanded to a window of
``window`` residues centred on it (clipped at the sequence ends) and overlapping or touching
windows are merged into one subsequence. This is the extraction rule of the research this
toolkit re-examines (salient positions above mean + 2 std, windows of 5 residues), done for all
proteins at once with array operations instead of a loop per protein.

The output is ready for ``psl score``: ``protein, location, subsequence, start, end, score,
label_kind`` (``start``/``end`` 1-based inclusive, ``score`` = sum of the residue scores in the
subsequence, NaN scores of unseen residues counting 0; ``label_kind`` = whether ``location`` is
the ``true`` or the ``predicted`` label), followed by the pass-through columns ``true_label,
predicted_label, correct`` and, when the attribution table has them, ``method``, ``attention``,
``target`` and the protein's identity ``accession`` and ``seq_hash`` (which ``psl score`` uses
to exclude the protein's own entry and identical sequences).

Which label becomes ``location`` (``label``): ``auto`` (default) the true label where the
protein has one, else the predicted one (a user's FASTA has no true labels); ``true``,
``predicted``, or ``both`` (one row per kind). :func:`empty_reason` says why nothing was
extracted.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from psl.choices import LABEL_KINDS
from psl.errors import PslError

__all__ = [
    "ATTRIBUTION_COLUMNS",
    "EXTRACT_COLUMNS",
    "IDENTITY_COLUMNS",
    "LABEL_CHOICES",
    "AttributionTableError",
    "empty_reason",
    "extract_subsequences",
    "salient_segments",
]

#: Columns an attribution table must have (one row per residue).
ATTRIBUTION_COLUMNS = ("protein", "position", "residue", "score", "true_label", "predicted_label")
#: Columns of the extraction output, in order (pass-through columns follow).
EXTRACT_COLUMNS = ("protein", "location", "subsequence", "start", "end", "score", "label_kind")
#: Columns identifying a protein, passed through when the attribution table has them.
IDENTITY_COLUMNS = ("accession", "seq_hash")
#: Choices of ``label`` (``auto``: the true label where there is one, else the predicted one).
LABEL_CHOICES = LABEL_KINDS


class AttributionTableError(PslError):
    """An attribution table that lacks columns or has inconsistent rows."""


def salient_segments(
    protein_id: np.ndarray,
    scores: np.ndarray,
    k: float = 2.0,
    window: int = 5,
) -> tuple[np.ndarray, np.ndarray]:
    """Merged windows around salient residues, for many proteins at once.

    Arguments:
        protein_id: int array (N,), the protein of each residue; residues of one protein are
            contiguous and in sequence order (position 1 first).
        scores: float array (N,), the residue scores; NaN marks a residue the model did not
            see (cropped out of a long sequence): it is left out of the mean and standard
            deviation and is never salient, but windows may extend over it.
        k: threshold in standard deviations above the protein's mean.
        window: window length (odd lengths are centred exactly; an even length has one more
            residue on the right).

    Returns:
        ``(starts, ends)``: int arrays of global row indices (inclusive) of the merged
        segments, sorted; a segment never crosses a protein boundary.

    Raises:
        PslError: ``window < 1`` (``param="window"``), the arrays differ in length, or a
            score is infinite.
    """
    protein_id = np.asarray(protein_id)
    scores = np.asarray(scores, dtype=np.float64)
    if window < 1:
        raise PslError(f"window must be >= 1, got {window}", param="window")
    if protein_id.shape != scores.shape or scores.ndim != 1:
        raise PslError("protein_id and scores must be 1-D arrays of the same length")
    n = scores.size
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if np.isinf(scores).any():
        bad = int(np.flatnonzero(np.isinf(scores))[0])
        raise PslError(f"score at row {bad} is not finite ({scores[bad]})")
    seen = ~np.isnan(scores)  # NaN = a residue the model did not see (cropped): never salient
    vals = np.where(seen, scores, 0.0)
    # Protein blocks: [block_start, block_end) in row indices.
    new_block = np.empty(n, dtype=bool)
    new_block[0] = True
    new_block[1:] = protein_id[1:] != protein_id[:-1]
    block_start = np.flatnonzero(new_block)
    block_len = np.diff(np.append(block_start, n))
    block_of_row = np.cumsum(new_block) - 1
    n_seen = np.maximum(np.add.reduceat(seen.astype(np.int64), block_start), 1)
    means = np.add.reduceat(vals, block_start) / n_seen
    centred = np.where(seen, vals - means[block_of_row], 0.0)
    var = np.add.reduceat(centred * centred, block_start) / n_seen
    thr = means + k * np.sqrt(var)
    salient = seen & (vals > thr[block_of_row])

    # Coverage of the windows by a difference array, clipped to each protein's block.
    left, right = (window - 1) // 2, window // 2
    rows = np.flatnonzero(salient)
    blk = block_of_row[rows]
    lo = np.maximum(rows - left, block_start[blk])
    hi = np.minimum(rows + right, block_start[blk] + block_len[blk] - 1)
    diff = np.zeros(n + 1, dtype=np.int64)
    np.add.at(diff, lo, 1)
    np.add.at(diff, hi + 1, -1)
    covered = np.cumsum(diff[:n]) > 0
    # Runs of covered rows, cut at protein boundaries (touching windows merge into one run).
    prev_covered = np.empty(n, dtype=bool)
    prev_covered[0] = False
    prev_covered[1:] = covered[:-1]
    starts = np.flatnonzero(covered & (~prev_covered | new_block))
    next_covered = np.empty(n, dtype=bool)
    next_covered[-1] = False
    next_covered[:-1] = covered[1:]
    next_new = np.empty(n, dtype=bool)
    next_new[-1] = True
    next_new[:-1] = new_block[1:]
    ends = np.flatnonzero(covered & (~next_covered | next_new))
    return starts.astype(np.int64), ends.astype(np.int64)


def _check_table(table: pd.DataFrame) -> None:
    missing = [c for c in ATTRIBUTION_COLUMNS if c not in table.columns]
    if missing:
        raise AttributionTableError(
            f"attribution table lacks column(s) {', '.join(missing)} "
            f"(expected {', '.join(ATTRIBUTION_COLUMNS)})"
        )


def extract_subsequences(
    table: pd.DataFrame,
    k: float = 2.0,
    window: int = 5,
    label: Literal["auto", "true", "predicted", "both"] = "auto",
) -> pd.DataFrame:
    """Extract salient subsequences from a per-residue attribution table.

    Arguments:
        table: one row per residue with :data:`ATTRIBUTION_COLUMNS` (``position`` 1-based;
            optional ``method``/``attention``/``target`` columns are carried through). When the
            table holds several attribution runs (distinct ``method``/``attention``/``target``),
            each run is treated separately.
        k: threshold in standard deviations above the protein's mean score.
        window: window length around each salient residue.
        label: which label becomes ``location``: ``"auto"`` (the true label where there is
            one, else the predicted one; ``label_kind`` says which), ``"true"``,
            ``"predicted"`` or ``"both"`` (one row per label kind; proteins without a true
            label are skipped for ``true``).

    Returns:
        DataFrame with :data:`EXTRACT_COLUMNS` then ``true_label, predicted_label, correct``,
        the run columns and the :data:`IDENTITY_COLUMNS` present in the input, sorted by run,
        protein and start.

    Raises:
        AttributionTableError: missing columns, or positions of a protein that are not
            1..L without gaps.
        PslError: bad ``k``/``window``/``label`` (``label``: one of
            :data:`psl.choices.LABEL_KINDS`); ``param`` names the parameter.
    """
    if label not in LABEL_KINDS:
        raise PslError(f"label must be one of {', '.join(LABEL_KINDS)}, got {label!r}",
                       param="label")
    if not np.isfinite(k):
        raise PslError(f"k must be a finite number, got {k}", param="k")
    _check_table(table)
    run_cols = [c for c in ("method", "attention", "target") if c in table.columns]
    df = table.sort_values([*run_cols, "protein", "position"], kind="stable").reset_index(
        drop=True
    )
    protein_id = (
        df.groupby([*run_cols, "protein"], sort=False, dropna=False).ngroup().to_numpy(np.int64)
    )
    pos = df["position"].to_numpy(np.int64)
    # Positions must run 1..L within each protein.
    first = np.ones(len(df), dtype=bool)
    first[1:] = protein_id[1:] != protein_id[:-1]
    expected = np.arange(len(df)) - np.maximum.accumulate(np.where(first, np.arange(len(df)), 0))
    bad = np.flatnonzero(pos != expected + 1)
    if bad.size:
        r = int(bad[0])
        raise AttributionTableError(
            f"protein {df['protein'].iat[r]!r}: position {pos[r]} where {expected[r] + 1} was "
            "expected (positions must be 1..L without gaps or duplicates)"
        )
    starts, ends = salient_segments(protein_id, df["score"].to_numpy(), k=k, window=window)
    residues = "".join(df["residue"].astype(str).tolist())
    if len(residues) != len(df):
        raise AttributionTableError("column 'residue' must hold exactly one letter per row")
    csum = np.concatenate([[0.0], np.cumsum(np.nan_to_num(df["score"].to_numpy(np.float64)))])
    seg = df.iloc[starts]
    out = pd.DataFrame(
        {
            "protein": seg["protein"].to_numpy(),
            "subsequence": [residues[s : e + 1] for s, e in zip(starts, ends, strict=True)],
            "start": pos[starts],
            "end": pos[ends],
            "score": csum[ends + 1] - csum[starts],
            "true_label": seg["true_label"].to_numpy(),
            "predicted_label": seg["predicted_label"].to_numpy(),
        }
    )
    out["correct"] = out["true_label"].astype(str) == out["predicted_label"].astype(str)
    id_cols = [c for c in IDENTITY_COLUMNS if c in table.columns]
    for c in [*run_cols, *id_cols]:
        out[c] = seg[c].to_numpy()
    kinds = ["true", "predicted"] if label == "both" else [label]
    parts = []
    for kind in kinds:
        part = out.copy()
        if kind == "auto":
            has_true = _has_label(part["true_label"])
            part["location"] = part["true_label"].where(has_true, part["predicted_label"])
            part["label_kind"] = np.where(has_true, "true", "predicted")
        else:
            part["location"] = part["true_label"] if kind == "true" else part["predicted_label"]
            part["label_kind"] = kind
        part = part[_has_label(part["location"])]
        parts.append(part)
    res = pd.concat(parts, ignore_index=True)
    cols = [*EXTRACT_COLUMNS, "true_label", "predicted_label", "correct", *run_cols, *id_cols]
    return res[cols].reset_index(drop=True)


def _has_label(values: pd.Series) -> np.ndarray:
    return (values.notna() & (values.astype(str).str.strip() != "")).to_numpy(dtype=bool)


def empty_reason(table: pd.DataFrame, k: float = 2.0,
                 label: Literal["auto", "true", "predicted", "both"] = "auto") -> str:
    """Why :func:`extract_subsequences` found no subsequence in ``table`` (for a warning).

    Arguments:
        table: the attribution table; k, label: as given to :func:`extract_subsequences`.

    Returns:
        One sentence naming the cause: no rows, no true label (with ``label="true"``), no
        label at all, or no residue above the threshold.
    """
    if len(table) == 0:
        return "the attribution table has no rows"
    if "true_label" in table.columns and label == "true" and not _has_label(
            table["true_label"]).any():
        return ("no protein has a true label (a FASTA without DeepLoc labels?): use "
                "--label auto or --label predicted")
    labels = [c for c in ("true_label", "predicted_label") if c in table.columns]
    if labels and not any(_has_label(table[c]).any() for c in labels):
        return "no protein has a true or a predicted label"
    return (f"no residue scores above mean + {k:g} * std of its protein (flat or missing "
            "scores?): try a smaller --k")
