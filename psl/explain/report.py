"""A self-contained HTML report of explanations, subsequences and hit rates.

One file, no network at view time: CSS is inline and plots are inline SVG (matplotlib).

Sections:
1. proteins: true and predicted location and confidence (per attribution run);
2. per protein: the sequence coloured by attribution, one row per run side by side (attention,
   its ablations, IG; red = positive, blue = negative, intensity = score / max |score| of that
   protein and run; non-negative scores such as attention are measured from the protein's
   median so that only residues above it are coloured; residues the model did not see are
   grey), extracted subsequences
   underlined; under each line a track of the known signals: the ground-truth motifs found in
   the sequence (:data:`psl.explain.groundtruth.MOTIFS`: ER retention, PTS1, NLS) and, when the
   protein is in the knowledge base, its annotated features (signal peptide, transit peptide,
   transmembrane and intramembrane regions, propeptides, annotated motifs); and a table
   of the subsequences with their hit rates and the knowledge-base
   entries that contain them (accession, organism, locations, position);
3. hit-rate tables (mean hit rate per run, label kind and correctness) and a bar plot.
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kb.atomic import atomic_path
from psl.errors import PslError
from psl.explain.extract import extract_subsequences
from psl.explain.groundtruth import MOTIFS, find_motifs_many

__all__ = ["build_report", "hit_rate_summary", "write_report", "RUN_COLUMNS", "TRACK_FEATURES",
           "signal_track"]

#: Columns that tell attribution runs apart.
RUN_COLUMNS = ("method", "attention", "target")
_LEVELS = 8
_LINE = 60
_MAX_ENTRIES = 5

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ccc}
h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}
td,th{border:1px solid #ddd;padding:3px 7px;text-align:left}th{background:#f3f3f3}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#1a7f37}.bad{color:#c62828}
.seqs{display:flex;flex-wrap:wrap;gap:22px}
.run{flex:0 0 auto}
.run h4{margin:4px 0;font-size:13px}
pre.seq{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;line-height:1.55;
margin:0;white-space:pre}
pre.seq i{font-style:normal}
pre.seq .ln{color:#999}
pre.seq u{text-decoration:none;border-bottom:2px solid #000}
.u{background:#eee;color:#aaa}
.legend span{display:inline-block;width:18px;height:12px}
.muted{color:#777;font-size:12px}
pre.seq .trk{color:#555}
.t-motif{color:#b35c00;font-weight:600}.t-SIGNAL{color:#1a7f37}.t-TRANSIT{color:#00796b}
.t-TRANSMEM,.t-INTRAMEM{color:#6a1b9a}.t-feat{color:#555}
"""

#: Knowledge-base feature types drawn in the signal track.
TRACK_FEATURES = ("SIGNAL", "TRANSIT", "TRANSMEM", "INTRAMEM", "PROPEP", "MOTIF")


def _level_css() -> str:
    out = []
    for i in range(1, _LEVELS + 1):
        a = i / _LEVELS
        out.append(f".r{i}{{background:rgba(214,39,40,{a:.2f})}}")
        out.append(f".b{i}{{background:rgba(31,119,180,{a:.2f})}}")
    return "\n".join(out)


def _run_key(df: pd.DataFrame) -> pd.Series:
    cols = [c for c in RUN_COLUMNS if c in df.columns]
    if not cols:
        return pd.Series(["scores"] * len(df), index=df.index)
    parts = [df[c].astype(object).fillna("").astype(str) for c in cols]
    key = parts[0]
    for p in parts[1:]:
        key = key.str.cat(p, sep=" ")
    return key.str.replace(r"\s+", " ", regex=True).str.strip()


def _run_label(key: str) -> str:
    words = key.split()
    if words[:1] == ["attention"]:
        return "attention (" + " ".join(words[1:]) + ")"
    if words[:1] == ["ig"]:
        rest = words[1:]
        att = rest[0] if rest else "learned"
        tgt = rest[1] if len(rest) > 1 else "predicted"
        return f"Integrated Gradients (attention {att}, target {tgt})"
    return key


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "–"
    if isinstance(x, float | np.floating):
        return f"{x:.{digits}f}"
    return html.escape(str(x))


def _table(df: pd.DataFrame, numeric_digits: int = 3) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for rec in df.itertuples(index=False):
        cells = []
        for v in rec:
            cls = ' class="n"' if isinstance(v, int | float | np.number) else ""
            cells.append(f"<td{cls}>{_fmt(v, numeric_digits)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _track_line(track: list[tuple[int, int, str, str, str]], lo: int, hi: int) -> str:
    """The signal-track line under residues ``lo..hi-1`` (0-based): each signal's name written
    over its span (``-`` where the name is shorter), coloured by kind, its details in the
    tooltip; empty when no signal overlaps."""
    cells: list[str] = [" "] * (hi - lo)
    used = np.zeros(hi - lo, dtype=bool)
    for start, end, name, kind, title in track:  # 1-based inclusive; earlier ones win
        a, b = max(start - 1, lo), min(end, hi)
        if a >= b:
            continue
        free = [i for i in range(a, b) if not used[i - lo]]
        if not free:
            continue
        text = (name + "-" * (end - start + 1))[a - (start - 1):]
        esc = html.escape(title, quote=True)
        for i in free:
            used[i - lo] = True
            cells[i - lo] = (f'<i class="t-{kind}" title="{esc}">'
                             f"{html.escape(text[i - a])}</i>")
    if not used.any():
        return ""
    return '<span class="ln">      </span><span class="trk">' + "".join(cells) + "</span>"


def signal_track(
    sequences: dict[str, str], kb: Any = None
) -> dict[str, list[tuple[int, int, str, str, str]]]:
    """Known signals of each protein: ``(start, end, name, kind, description)`` tuples.

    Arguments:
        sequences: protein id -> sequence.
        kb: optional open knowledge base: proteins whose id (or the accession in a
            ``db|ACC|NAME`` id) is an entry get its :data:`TRACK_FEATURES` features.

    Returns:
        For each protein, the ground-truth motifs found in its sequence (kind ``motif``,
        found by :mod:`kb.motif`) then its knowledge-base features (kind = feature type),
        1-based inclusive, in that order.
    """
    ids = list(sequences)
    found = find_motifs_many([sequences[p] for p in ids])
    patterns = {m.name: m for m in MOTIFS}
    out: dict[str, list[tuple[int, int, str, str, str]]] = {}
    for p, occ in zip(ids, found, strict=True):
        out[p] = [(s, e, name, "motif",
                   f"{name} {s}-{e}: {patterns[name].pattern} ({patterns[name].source})")
                  for name, s, e in occ]
    if kb is not None and ids:
        acc = {p: (p.split("|")[1] if p.count("|") >= 2 else p).strip() for p in ids}
        feats = kb.features(list(set(acc.values())), TRACK_FEATURES).to_pandas()
        feats = feats.dropna(subset=["start", "end"])
        by_acc = {a: g for a, g in feats.groupby("accession")}
        for p in ids:
            g = by_acc.get(acc[p])
            if g is None:
                continue
            for f in g.itertuples(index=False):
                kind = f.type if f.type in ("SIGNAL", "TRANSIT", "TRANSMEM", "INTRAMEM") \
                    else "feat"
                desc = f" {f.description}" if isinstance(f.description, str) and f.description \
                    else ""
                out[p].append((int(f.start), int(f.end), f.type.lower(), kind,
                               f"{f.type} {int(f.start)}-{int(f.end)}{desc} (UniProt "
                               f"{acc[p]})"))
    return out


def _coloured_sequence(
    rows: pd.DataFrame, marked: np.ndarray,
    track: list[tuple[int, int, str, str, str]] | None = None,
) -> str:
    """``<pre>`` of one protein's residues coloured by score (rows sorted by position), with
    the signal track (:func:`signal_track`) under each line."""
    scores = rows["score"].to_numpy(np.float64)
    residues = rows["residue"].astype(str).to_numpy()
    finite = scores[~np.isnan(scores)]
    # Signed scores (IG) are centred on 0; non-negative ones (attention) on their median, so
    # that a near-uniform attention does not paint every residue: only what stands out is red.
    centre = 0.0 if (finite.size == 0 or finite.min() < 0) else float(np.median(finite))
    if centre > 0:
        scores = np.maximum(scores - centre, 0.0)  # NaN stays NaN
    finite = scores[~np.isnan(scores)]
    scale = float(np.max(np.abs(finite))) if finite.size else 0.0
    lines = []
    for start in range(0, len(residues), _LINE):
        parts = [f'<span class="ln">{start + 1:>5} </span>']
        for i in range(start, min(start + _LINE, len(residues))):
            s = scores[i]
            r = html.escape(residues[i])
            if np.isnan(s):
                cell = f'<i class="u">{r}</i>'
            else:
                lvl = int(np.ceil(abs(s) / scale * _LEVELS)) if scale > 0 else 0
                cls = ("r" if s >= 0 else "b") + str(lvl) if lvl > 0 else ""
                cell = f'<i class="{cls}">{r}</i>' if cls else r
            if marked[i]:
                cell = f"<u>{cell}</u>"
            parts.append(cell)
        lines.append("".join(parts))
        if track:
            under = _track_line(track, start, min(start + _LINE, len(residues)))
            if under:
                lines.append(under)
    return '<pre class="seq">' + "\n".join(lines) + "</pre>"


def hit_rate_summary(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean hit rate of scored subsequences per run, label kind and correctness.

    Arguments:
        scores: output of ``psl score`` (``hit_rate``, ``n_entries`` and the extraction's
            ``label_kind``/``correct``/run columns when present).

    Returns:
        One row per group: ``run, label_kind, correct, subsequences, scored, proteins,
        mean_hit_rate``.
    """
    df = scores.copy()
    df["run"] = _run_key(df)
    by = ["run"] + [c for c in ("label_kind", "correct") if c in df.columns]
    df["_scored"] = df["n_entries"] > 0
    g = df.groupby(by, sort=True, dropna=False)
    out = g.agg(
        subsequences=("subsequence", "size"),
        scored=("_scored", "sum"),
        proteins=("protein", "nunique"),
        mean_hit_rate=("hit_rate", "mean"),
    ).reset_index()
    out["scored"] = out["scored"].astype(int)
    return out


def _bar_svg(summary: pd.DataFrame) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [
        " / ".join(str(v) for v in row if str(v) != "")
        for row in summary.drop(columns=["subsequences", "scored", "proteins", "mean_hit_rate"])
        .astype(str)
        .itertuples(index=False)
    ]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(labels) + 1.0))
    ax.barh(range(len(labels)), summary["mean_hit_rate"].fillna(0).to_numpy(), color="#d62728")
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("mean hit rate of scored subsequences")
    ax.set_xlim(0, 1)
    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.index("<svg") :]


def _kb_entries(kb: Any, peptides: Sequence[str]) -> pd.DataFrame:
    if kb is None or not len(peptides):
        return pd.DataFrame(columns=["peptide", "accession", "organism", "classes", "start"])
    t = kb.search(list(peptides), with_locations=True)
    df = t.to_pandas() if hasattr(t, "to_pandas") else pd.DataFrame(t)
    return df


def build_report(
    attributions: Sequence[pd.DataFrame],
    scores: pd.DataFrame | None = None,
    kb: Any = None,
    proteins: Sequence[str] | None = None,
    max_proteins: int = 50,
    k: float = 2.0,
    window: int = 5,
    title: str = "Explanations report",
) -> str:
    """Render the report as one HTML string.

    Arguments:
        attributions: attribution tables (``psl explain`` outputs; several runs are shown side
            by side per protein).
        scores: optional ``psl score`` output for the subsequences (hit rates).
        kb: optional open knowledge base (``kb.open(DIR)``): the entries that contain each
            subsequence are listed (at most 5 per subsequence).
        proteins: the proteins to show in detail (default: the first ``max_proteins``).
        max_proteins: how many proteins get a detailed section.
        k: extraction threshold (as ``psl extract --k``) for the underlined subsequences.
        window: extraction window (as ``psl extract --window``).
        title: page title.

    Returns:
        The HTML document.

    Raises:
        PslError: no attribution table, or an unknown protein in ``proteins``.
    """
    if not attributions:
        raise PslError("give at least one attribution table")
    if max_proteins < 1:
        raise PslError(f"max_proteins must be >= 1, got {max_proteins}", param="max_proteins")
    att = pd.concat(list(attributions), ignore_index=True)
    att["run"] = _run_key(att)
    runs = list(dict.fromkeys(att["run"]))
    all_proteins = list(dict.fromkeys(att["protein"].astype(str)))
    shown = _shown_proteins(all_proteins, proteins, max_proteins)
    subs = extract_subsequences(att.drop(columns=["run"]), k=k, window=window)
    subs["run"] = _run_key(subs)
    labels = _protein_labels(att, runs[0], all_proteins)
    shown_subs = subs[subs["protein"].astype(str).isin(shown)]
    parts = [
        _header(title, all_proteins, runs, k, window),
        _proteins_section(all_proteins, shown, labels, runs[0]),
        _details_section(
            att, runs, subs, shown_subs, shown, all_proteins, labels, _score_index(scores), kb
        ),
        _hit_rate_section(scores),
        "</body></html>",
    ]
    return "\n".join(parts)


def _shown_proteins(
    all_proteins: list[str], proteins: Sequence[str] | None, max_proteins: int
) -> list[str]:
    """The proteins that get a detailed section (``proteins`` checked against the tables)."""
    if proteins is None:
        return all_proteins[:max_proteins]
    unknown = [p for p in proteins if p not in set(all_proteins)]
    if unknown:
        raise PslError(f"protein(s) not in the attribution tables: {', '.join(unknown)}",
                       param="proteins")
    return list(proteins)


def _protein_labels(att: pd.DataFrame, first_run: str, all_proteins: list[str]) -> dict[str, Any]:
    """Per protein: a row with ``true_label``, ``predicted_label`` and ``confidence``.

    Taken from the first run that has the protein (the first run of the tables if it does).
    """
    first = att.groupby(["run", "protein"], sort=False).agg(
        true_label=("true_label", "first"),
        predicted_label=("predicted_label", "first"),
        confidence=("confidence", "first") if "confidence" in att.columns else ("score", "size"),
    ).reset_index()
    learned = first[first["run"] == first_run].set_index("protein")
    return {
        p: learned.loc[p] if p in learned.index else first[first.protein == p].iloc[0]
        for p in all_proteins
    }


def _header(title: str, all_proteins: list[str], runs: list[str], k: float, window: int) -> str:
    """Document head, title, a one-line summary and the colour legend."""
    return "\n".join([
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_CSS}{_level_css()}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='muted'>{len(all_proteins)} proteins, {len(runs)} attribution run(s): "
        f"{html.escape(', '.join(_run_label(r) for r in runs))}. Subsequences: residues above "
        f"mean + {k:g}·std of their protein, windows of {window}, merged (underlined).</p>",
        "<p class='legend muted'>score: <span class='b8'></span> negative "
        "<span class='r2'></span><span class='r5'></span><span class='r8'></span> positive "
        "(scaled to the protein's max |score|) <span class='u'>&nbsp;X&nbsp;</span> not seen "
        "by the model (cropped)</p>",
    ])


def _proteins_section(
    all_proteins: list[str], shown: list[str], labels: dict[str, Any], first_run: str
) -> str:
    """Section 1: one row per protein (true, predicted, confidence of the first run)."""
    rows = []
    for p in all_proteins:
        r = labels[p]
        ok = str(r.true_label) == str(r.predicted_label)
        mark = '<span class="ok">✔</span>' if ok else '<span class="bad">✘</span>'
        if r.true_label is None or (isinstance(r.true_label, float) and np.isnan(r.true_label)):
            mark = ""
        link = f'<a href="#p-{html.escape(p)}">{html.escape(p)}</a>' if p in shown else (
            html.escape(p))
        rows.append(
            f"<tr><td>{link}</td><td>{_fmt(r.true_label)}</td><td>{_fmt(r.predicted_label)}"
            f" {mark}</td><td class='n'>{_fmt(r.confidence)}</td></tr>"
        )
    return "\n".join([
        "<h2>Proteins</h2><table><tr><th>protein</th><th>true</th><th>predicted</th>"
        f"<th>confidence ({html.escape(_run_label(first_run))})</th></tr>",
        "".join(rows),
        "</table>",
    ])


def _score_index(scores: pd.DataFrame | None) -> dict[tuple[str, str, int, int], Any]:
    """Scored subsequences by (run, protein, start, end); a true-label score wins."""
    score_idx: dict[tuple[str, str, int, int], Any] = {}
    if scores is None or not len(scores):
        return score_idx
    sc = scores.copy()
    sc["run"] = _run_key(sc)
    if "end" not in sc.columns:
        sc["end"] = sc["start"] + sc["subsequence"].str.len() - 1
    if "label_kind" in sc.columns:
        sc = sc.sort_values("label_kind", key=lambda s: s != "true", kind="stable")
    for rec in sc.itertuples(index=False):
        score_idx.setdefault((rec.run, str(rec.protein), int(rec.start), int(rec.end)), rec)
    return score_idx


def _details_section(
    att: pd.DataFrame,
    runs: list[str],
    subs: pd.DataFrame,
    shown_subs: pd.DataFrame,
    shown: list[str],
    all_proteins: list[str],
    labels: dict[str, Any],
    score_idx: dict[tuple[str, str, int, int], Any],
    kb: Any,
) -> str:
    """Section 2: per shown protein, its coloured sequences and its subsequences table."""
    entries = _kb_entries(kb, shown_subs["subsequence"].unique().tolist())
    by_pep = {p: g for p, g in entries.groupby("peptide")} if len(entries) else {}
    first = att[att["protein"].astype(str).isin(shown)].sort_values("position")
    first = first.drop_duplicates(["protein", "position"])
    seqs = first.groupby(first["protein"].astype(str), sort=False)["residue"].agg(
        lambda r: "".join(r.astype(str)))
    tracks = signal_track({p: seqs[p] for p in shown if p in seqs.index}, kb)
    parts = ["<h2>Proteins in detail</h2>"]
    if len(shown) < len(all_proteins):
        parts.append(f"<p class='muted'>{len(shown)} of {len(all_proteins)} proteins shown.</p>")
    for p in shown:
        r = labels[p]
        parts.append(
            f"<h3 id='p-{html.escape(p)}'>{html.escape(p)} — true {_fmt(r.true_label)}, "
            f"predicted {_fmt(r.predicted_label)} ({_fmt(r.confidence)})</h3><div class='seqs'>"
        )
        parts.extend(_run_sequences(att, subs, runs, p, tracks.get(p)))
        parts.append("</div>")
        if tracks.get(p):
            known = "; ".join(html.escape(t[4]) for t in tracks[p])
            parts.append(f"<p class='muted'>Known signals: {known}</p>")
        ps = shown_subs[(shown_subs["protein"].astype(str) == p)]
        ps = ps.drop_duplicates(["run", "start", "end"])
        if len(ps):
            parts.append(_subsequence_table(ps, p, score_idx, by_pep, kb))
    return "\n".join(parts)


def _run_sequences(
    att: pd.DataFrame, subs: pd.DataFrame, runs: list[str], p: str,
    track: list[tuple[int, int, str, str, str]] | None = None,
) -> list[str]:
    """One coloured sequence per run of protein ``p``, its subsequences underlined, the signal
    track under each line."""
    out = []
    for run in runs:
        rows = att[(att["run"] == run) & (att["protein"].astype(str) == p)]
        if rows.empty:
            continue
        rows = rows.sort_values("position")
        marked = np.zeros(len(rows), dtype=bool)
        ps = subs[(subs["run"] == run) & (subs["protein"].astype(str) == p)]
        for s, e in zip(ps["start"], ps["end"], strict=True):
            marked[s - 1 : e] = True
        extra = ""
        if "delta" in rows.columns and rows["delta"].notna().any():
            extra = f" <span class='muted'>IG delta {rows['delta'].iat[0]:.2g}</span>"
        out.append(
            f"<div class='run'><h4>{html.escape(_run_label(run))}{extra}</h4>"
            f"{_coloured_sequence(rows, marked, track)}</div>"
        )
    return out


def _subsequence_table(
    ps: pd.DataFrame,
    p: str,
    score_idx: dict[tuple[str, str, int, int], Any],
    by_pep: dict[str, pd.DataFrame],
    kb: Any,
) -> str:
    """Protein ``p``'s subsequences with their hit rates and the KB entries containing them."""
    trs = []
    for rec in ps.itertuples(index=False):
        hit = score_idx.get((rec.run, p, int(rec.start), int(rec.end)))
        hr = _fmt(getattr(hit, "hit_rate", None)) if hit is not None else "–"
        ne = _fmt(getattr(hit, "n_entries", None)) if hit is not None else "–"
        trs.append(
            f"<tr><td>{html.escape(_run_label(rec.run))}</td><td><code>"
            f"{html.escape(rec.subsequence)}</code></td><td class='n'>{rec.start}–"
            f"{rec.end}</td><td class='n'>{rec.score:.3g}</td><td class='n'>{ne}</td>"
            f"<td class='n'>{hr}</td><td>{_entries_cell(by_pep.get(rec.subsequence), p, kb)}"
            "</td></tr>"
        )
    return (
        "<table><tr><th>run</th><th>subsequence</th><th>position</th><th>score</th>"
        "<th>KB entries</th><th>hit rate</th><th>matching KB entries (accession; "
        "organism; locations; position)</th></tr>" + "".join(trs) + "</table>"
    )


def _entries_cell(ents: pd.DataFrame | None, p: str, kb: Any) -> str:
    """The KB entries (other than ``p``) that contain a subsequence, at most ``_MAX_ENTRIES``."""
    if ents is None:
        return "–" if kb is None else "none"
    ents = ents[ents["accession"].astype(str) != p]
    lst = [
        f"{html.escape(str(e.accession))} ({_fmt(e.organism)}; "
        f"{_fmt(e.classes)}; at {int(e.start)})"
        for e in ents.head(_MAX_ENTRIES).itertuples(index=False)
    ]
    more = len(ents) - _MAX_ENTRIES
    ent_html = "<br>".join(lst) + (f"<br>… {more} more" if more > 0 else "")
    return ent_html or "none (besides the protein itself)"


def _hit_rate_section(scores: pd.DataFrame | None) -> str:
    """Section 3: mean hit rates per run, label kind and correctness, and a bar plot."""
    parts = ["<h2>Hit rates</h2>"]
    if scores is not None and len(scores):
        summ = hit_rate_summary(scores)
        summ["run"] = summ["run"].map(_run_label)
        parts.append(_table(summ))
        parts.append(_bar_svg(summ))
    else:
        parts.append("<p class='muted'>No scores given (psl report --scores FILE).</p>")
    return "\n".join(parts)


def write_report(document: str, path: str | Path) -> Path:
    """Write the HTML atomically (temporary file in the same directory, then renamed).

    Raises:
        FileNotFoundError: the destination directory does not exist.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(document, encoding="utf-8")
    return path
