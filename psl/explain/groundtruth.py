"""Ground truth for explanations: known targeting signals.

Known sorting signals give a direct test of an attribution method, independent of any
knowledge-base hit rate:

- N-terminal signal peptides (secretory pathway: Extracellular, Endoplasmic.reticulum,
  Golgi.apparatus, Cell.membrane, Lysosome/Vacuole) and mitochondrial / chloroplast transit
  peptides (Mitochondrion, Plastid) sit in the first residues: an explanation of those classes
  should put more than the uniform share of its mass in the first ``n_first`` (30) residues.
- C-terminal motifs: ER retention ``[KRHQSA]-[DENQ]-E-L>`` (PROSITE PS00014) and the
  peroxisomal targeting signal 1 ``[STAGCN]-[RKH]-[LIVMAFY]>`` (PROSITE PS00342); the last
  ``n_last`` (10) residues should carry more than the uniform share for ER and Peroxisome.
- Nuclear localization signals: the classical monopartite consensus ``K-[KR]-x-[KR]``
  (Chelsky et al., Mol. Cell. Biol. 9:2487, 1989; SV40 large T ``PKKKRKV`` matches it) and the
  bipartite ``[KR](2)-x(10,12)-[KR](3)`` (Robbins et al., Cell 64:615, 1991).

The motifs are PROSITE patterns found by the knowledge base's motif engine (:mod:`kb.motif`,
the project's one implementation of motif matching); :func:`find_motifs` keeps one occurrence
per start, the longest (what a greedy regular expression reports).

Reported per attribution run and class: the share of attribution mass (absolute scores) in the
first / last residues against the uniform expectation, how often motif residues fall inside
extracted subsequences against the share of the sequence those subsequences cover, and, when
Swiss-Prot ``FT`` features (SIGNAL, TRANSIT, MOTIF) are known for a protein, the residue-level
precision and recall of the extracted subsequences against them.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "MOTIFS",
    "Motif",
    "SIGNAL_CLASSES",
    "find_motifs",
    "find_motifs_many",
    "terminal_mass",
    "motif_coverage",
    "feature_overlap",
    "groundtruth_summary",
]

_RUN_COLUMNS = ("method", "attention", "target")


@dataclass(frozen=True)
class Motif:
    """A sequence motif with the classes it targets to.

    Attributes:
        name: short name (``"ER_retention"``).
        pattern: PROSITE pattern (``>`` anchors it at the C-terminus; syntax in
            :mod:`kb.motif`).
        classes: the location classes the motif is expected in.
        source: where the pattern comes from.
    """

    name: str
    pattern: str
    classes: tuple[str, ...]
    source: str


MOTIFS: tuple[Motif, ...] = (
    Motif("ER_retention", "[KRHQSA]-[DENQ]-E-L>", ("Endoplasmic.reticulum",), "PROSITE PS00014"),
    Motif("PTS1", "[STAGCN]-[RKH]-[LIVMAFY]>", ("Peroxisome",), "PROSITE PS00342"),
    Motif("NLS_monopartite", "K-[KR]-x-[KR]", ("Nucleus",), "Chelsky et al. 1989"),
    Motif("NLS_bipartite", "[KR](2)-x(10,12)-[KR](3)", ("Nucleus",), "Robbins et al. 1991"),
)

#: Classes whose proteins carry an N-terminal (signal or transit) peptide as a rule.
SIGNAL_CLASSES: dict[str, str] = {
    "Extracellular": "signal peptide",
    "Endoplasmic.reticulum": "signal peptide",
    "Golgi.apparatus": "signal peptide",
    "Cell.membrane": "signal peptide",
    "Lysosome/Vacuole": "signal peptide",
    "Mitochondrion": "transit peptide",
    "Plastid": "transit peptide",
}


@functools.lru_cache(maxsize=32)
def _compiled(patterns: tuple[str, ...]) -> list:
    from kb.motif import compile_motifs

    return compile_motifs(list(patterns))


def find_motifs_many(
    sequences: Sequence[str], motifs: tuple[Motif, ...] = MOTIFS
) -> list[list[tuple[str, int, int]]]:
    """Occurrences of the motifs in each sequence (one numba pass over all of them).

    Arguments:
        sequences: upper-case residues.
        motifs: the motifs to look for.

    Returns:
        For each sequence, ``(name, start, end)`` tuples, 1-based inclusive, overlapping
        occurrences included, one per start (the longest), sorted by motif order then start.
    """
    from kb.motif import find_motifs as match
    from kb.seqstore import SequenceStore

    out: list[list[tuple[str, int, int]]] = [[] for _ in sequences]
    if not sequences or not motifs:
        return out
    pat, ent, start, end = match(SequenceStore.from_sequences(list(sequences)),
                                 _compiled(tuple(m.pattern for m in motifs)))
    # rows are sorted by (motif, entry, start, end): the last row of a start is its longest
    last = np.ones(pat.shape[0], dtype=bool)
    if pat.shape[0] > 1:
        last[:-1] = (pat[1:] != pat[:-1]) | (ent[1:] != ent[:-1]) | (start[1:] != start[:-1])
    names = [m.name for m in motifs]
    for p, e, s, t in zip(pat[last].tolist(), ent[last].tolist(), start[last].tolist(),
                          end[last].tolist(), strict=True):
        out[e].append((names[p], s + 1, t))
    return out


def find_motifs(sequence: str, motifs: tuple[Motif, ...] = MOTIFS) -> list[tuple[str, int, int]]:
    """Occurrences of the motifs in one sequence.

    Arguments:
        sequence: upper-case residues.
        motifs: the motifs to look for.

    Returns:
        ``(name, start, end)`` tuples, 1-based inclusive, overlapping occurrences included
        (one per start, the longest), sorted by motif order then start.
    """
    return find_motifs_many([sequence], motifs)[0]


def _run_cols(df: pd.DataFrame) -> list[str]:
    return [c for c in _RUN_COLUMNS if c in df.columns]


def terminal_mass(attributions: pd.DataFrame, n_first: int = 30, n_last: int = 10) -> pd.DataFrame:
    """Share of each protein's attribution mass in its first and last residues.

    Mass is the sum of absolute scores (IG scores can be negative; attention is positive).
    The uniform expectation is the share of the residues the model saw (non-NaN scores) that
    lie in the first / last residues: ``min(n, L) / L`` for an uncropped protein.

    Arguments:
        attributions: per-residue table (``protein, position, score, true_label,
            predicted_label`` and optional run columns ``method/attention/target``).
        n_first: number of N-terminal residues.
        n_last: number of C-terminal residues.

    Returns:
        One row per (run, protein): run columns, ``protein, true_label, predicted_label,
        length, mass_first, expected_first, mass_last, expected_last``.

    Raises:
        ValueError: if ``n_first`` or ``n_last`` is < 1.
    """
    if n_first < 1 or n_last < 1:
        raise ValueError(f"n_first and n_last must be >= 1, got {n_first}, {n_last}")
    keys = [*_run_cols(attributions), "protein"]
    df = attributions[[*keys, "position", "score", "true_label", "predicted_label"]].copy()
    df["abs"] = df["score"].abs()
    df["seen"] = df["score"].notna()
    length = df.groupby(keys, sort=False)["position"].transform("max")
    in_first = df["position"] <= n_first
    in_last = df["position"] > length - n_last
    df["first"] = np.where(in_first, df["abs"], 0.0)
    df["last"] = np.where(in_last, df["abs"], 0.0)
    df["seen_first"] = in_first & df["seen"]
    df["seen_last"] = in_last & df["seen"]
    g = df.groupby(keys, sort=False)
    out = g.agg(
        true_label=("true_label", "first"),
        predicted_label=("predicted_label", "first"),
        length=("position", "max"),
        seen=("seen", "sum"),
        seen_first=("seen_first", "sum"),
        seen_last=("seen_last", "sum"),
        total=("abs", "sum"),
        first=("first", "sum"),
        last=("last", "sum"),
    ).reset_index()
    total = out["total"].where(out["total"] > 0)
    out["mass_first"] = out["first"] / total
    out["mass_last"] = out["last"] / total
    seen = out["seen"].where(out["seen"] > 0)
    out["expected_first"] = out["seen_first"] / seen
    out["expected_last"] = out["seen_last"] / seen
    return out[
        [*keys, "true_label", "predicted_label", "length", "mass_first", "expected_first",
         "mass_last", "expected_last"]
    ]


def _overlap(intervals: pd.DataFrame, segments: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Residues of each interval covered by the (non-overlapping) segments of its protein."""
    iv = intervals.reset_index(drop=True).reset_index(names="_iv")
    m = iv.merge(segments[[*keys, "start", "end"]], on=keys, suffixes=("", "_s"))
    ov = (np.minimum(m["end"], m["end_s"]) - np.maximum(m["start"], m["start_s"]) + 1).clip(
        lower=0
    )
    return ov.groupby(m["_iv"]).sum().reindex(range(len(iv)), fill_value=0)


def _sequences(attributions: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    df = attributions.sort_values([*keys, "position"], kind="stable")
    return (
        df.groupby(keys, sort=False)
        .agg(
            sequence=("residue", lambda s: "".join(s.astype(str))),
            true_label=("true_label", "first"),
            predicted_label=("predicted_label", "first"),
        )
        .reset_index()
    )


def motif_coverage(
    attributions: pd.DataFrame,
    subsequences: pd.DataFrame,
    motifs: tuple[Motif, ...] = MOTIFS,
) -> pd.DataFrame:
    """How much of each motif occurrence lies inside the extracted subsequences.

    Arguments:
        attributions: the per-residue table the subsequences were extracted from.
        subsequences: output of :func:`psl.extract.extract_subsequences` (one label kind, or
            both: segments are de-duplicated per protein).
        motifs: the motifs to look for.

    Returns:
        One row per (run, protein, motif occurrence): run columns, ``protein, true_label,
        predicted_label, motif, start, end, covered`` (share of the motif's residues inside a
        subsequence) and ``expected`` (share of the protein covered by subsequences: the
        coverage a motif placed at random would get).
    """
    keys = [*_run_cols(attributions), "protein"]
    seqs = _sequences(attributions, keys)
    rows = []
    found = find_motifs_many(seqs["sequence"].tolist(), motifs)
    for rec, occurrences in zip(seqs.itertuples(index=False), found, strict=True):
        d = rec._asdict()
        for name, s, e in occurrences:
            rows.append({**{k: d[k] for k in keys}, "motif": name, "start": s, "end": e})
    cols = [*keys, "true_label", "predicted_label", "motif", "start", "end", "covered", "expected"]
    if not rows:
        return pd.DataFrame(columns=cols)
    occ = pd.DataFrame(rows)
    seg = subsequences.drop_duplicates([*keys, "start", "end"])
    occ["covered"] = _overlap(occ, seg, keys).to_numpy() / (occ["end"] - occ["start"] + 1)
    seg_len = (seg["end"] - seg["start"] + 1).groupby([seg[k] for k in keys]).sum()
    seg_len.name = "_covered_len"
    info = seqs.assign(length=seqs["sequence"].str.len()).drop(columns="sequence")
    info = info.merge(seg_len.reset_index(), on=keys, how="left").fillna({"_covered_len": 0})
    info["expected"] = info["_covered_len"] / info["length"]
    occ = occ.merge(info[[*keys, "true_label", "predicted_label", "expected"]], on=keys)
    return occ[cols]


def _merge_intervals(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Union of possibly overlapping intervals per key (rows with start/end)."""
    df = df.sort_values([*keys, "start", "end"]).reset_index(drop=True)
    if df.empty:
        return df[[*keys, "start", "end"]]
    same = (df[keys].shift() == df[keys]).all(axis=1).to_numpy()
    prev_end = df.groupby(keys, sort=False)["end"].cummax().shift().to_numpy()
    new = ~same | (df["start"].to_numpy() > np.nan_to_num(prev_end, nan=-1) + 1)
    grp = np.cumsum(new)
    return (
        df.groupby(grp)
        .agg({**{k: "first" for k in keys}, "start": "min", "end": "max"})
        .reset_index(drop=True)
    )


def feature_overlap(
    subsequences: pd.DataFrame,
    features: pd.DataFrame,
    types: tuple[str, ...] = ("SIGNAL", "TRANSIT", "MOTIF"),
) -> pd.DataFrame:
    """Residue-level precision and recall of extracted subsequences against known features.

    Only proteins with at least one feature of ``types`` (and known start/end) are scored.

    Arguments:
        subsequences: extraction output (``protein, start, end`` and optional run columns).
        features: ``accession, type, start, end`` (e.g. the knowledge base's ``features``
            table); ``accession`` is matched to ``protein``.
        types: feature types that count as ground truth.

    Returns:
        One row per (run, protein): run columns, ``protein, true_label, predicted_label,
        feature_residues, extracted_residues, overlap, precision, recall``.
    """
    run = _run_cols(subsequences)
    keys = [*run, "protein"]
    ft = features[features["type"].isin(types)].dropna(subset=["start", "end"])
    ft = ft.rename(columns={"accession": "protein"})[["protein", "start", "end"]]
    ft = ft.astype({"start": np.int64, "end": np.int64})
    ft = _merge_intervals(ft, ["protein"])
    seg = subsequences.drop_duplicates([*keys, "start", "end"])
    seg = seg[seg["protein"].isin(ft["protein"])]
    per = (
        seg.groupby(keys, sort=False)
        .agg(
            true_label=("true_label", "first"),
            predicted_label=("predicted_label", "first"),
            extracted_residues=("end", "size"),
        )
        .reset_index()
    )
    per["extracted_residues"] = (
        (seg["end"] - seg["start"] + 1).groupby([seg[k] for k in keys], sort=False).sum().to_numpy()
    )
    flen = (ft["end"] - ft["start"] + 1).groupby(ft["protein"]).sum().rename("feature_residues")
    per = per.merge(flen.reset_index(), on="protein")
    ft_run = per[keys].merge(ft, on="protein")
    ft_run["overlap"] = _overlap(ft_run, seg, keys).to_numpy()
    ov = ft_run.groupby(keys, sort=False)["overlap"].sum().reset_index()
    per = per.merge(ov, on=keys, how="left").fillna({"overlap": 0})
    per["precision"] = per["overlap"] / per["extracted_residues"]
    per["recall"] = per["overlap"] / per["feature_residues"]
    return per[
        [*keys, "true_label", "predicted_label", "feature_residues", "extracted_residues",
         "overlap", "precision", "recall"]
    ]


def groundtruth_summary(
    attributions: pd.DataFrame,
    subsequences: pd.DataFrame,
    features: pd.DataFrame | None = None,
    n_first: int = 30,
    n_last: int = 10,
) -> dict[str, pd.DataFrame]:
    """Per run and true class: terminal mass, motif coverage and feature overlap.

    Arguments:
        attributions: per-residue attribution table (one or several runs).
        subsequences: subsequences extracted from it.
        features: optional Swiss-Prot features (``accession, type, start, end``).
        n_first: N-terminal residues for the mass share.
        n_last: C-terminal residues for the mass share.

    Returns:
        ``{"terminal": ..., "motifs": ..., "features": ...}`` DataFrames grouped by run columns
        and ``true_label`` (class); ``features`` is empty when no features are given. Ratios
        ``> 1`` mean more than the uniform (or random-placement) expectation.
    """
    run = _run_cols(attributions)
    by = [*run, "true_label"]
    tm = terminal_mass(attributions, n_first, n_last)
    terminal = (
        tm.groupby(by, sort=True)
        .agg(
            proteins=("protein", "size"),
            mass_first=("mass_first", "mean"),
            expected_first=("expected_first", "mean"),
            mass_last=("mass_last", "mean"),
            expected_last=("expected_last", "mean"),
        )
        .reset_index()
    )
    terminal["ratio_first"] = terminal["mass_first"] / terminal["expected_first"]
    terminal["ratio_last"] = terminal["mass_last"] / terminal["expected_last"]
    terminal["signal"] = terminal["true_label"].map(SIGNAL_CLASSES).fillna("")
    mc = motif_coverage(attributions, subsequences)
    expected_classes = {m.name: set(m.classes) for m in MOTIFS}
    mc["in_expected_class"] = [
        t in expected_classes[m] for t, m in zip(mc["true_label"], mc["motif"], strict=True)
    ]
    motifs = (
        mc.groupby([*run, "motif", "true_label"], sort=True)
        .agg(
            occurrences=("protein", "size"),
            covered=("covered", "mean"),
            expected=("expected", "mean"),
            any_covered=("covered", lambda c: float((c > 0).mean())),
            in_expected_class=("in_expected_class", "first"),
        )
        .reset_index()
    )
    motifs["ratio"] = motifs["covered"] / motifs["expected"].where(motifs["expected"] > 0)
    feats = pd.DataFrame()
    if features is not None and len(features):
        fo = feature_overlap(subsequences.drop_duplicates([*run, "protein", "start", "end"]),
                             features)
        if len(fo):
            feats = (
                fo.groupby(by, sort=True)
                .agg(
                    proteins=("protein", "size"),
                    overlap=("overlap", "sum"),
                    extracted=("extracted_residues", "sum"),
                    feature=("feature_residues", "sum"),
                )
                .reset_index()
            )
            feats["precision"] = feats["overlap"] / feats["extracted"]
            feats["recall"] = feats["overlap"] / feats["feature"]
    return {"terminal": terminal, "motifs": motifs, "features": feats}
