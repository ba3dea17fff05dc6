"""HTML report: content on hand-made inputs, CLI, and a headless-Chromium screenshot check."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import psl_app
from psl.explain.report import build_report, hit_rate_summary, write_report


def _attr(method: str, attention: str, scores: list[float], name="P1", seq=None):
    seq = seq or "MKVLAAGIVGSTRPQWEDCASKL"[: len(scores)]
    return pd.DataFrame(
        {
            "protein": name,
            "position": range(1, len(seq) + 1),
            "residue": list(seq),
            "score": scores,
            "method": method,
            "attention": attention,
            "target": "predicted" if method == "ig" else "",
            "true_label": "Peroxisome",
            "predicted_label": "Nucleus",
            "confidence": 0.61,
            "delta": 1e-4 if method == "ig" else np.nan,
        }
    )


def _inputs():
    n = 23
    att = [1.0 / n] * n
    att[21] = 0.5  # the K of the C-terminal SKL
    ig = [0.01] * n
    ig[3] = -0.8  # strongly negative L4
    ig[22] = 0.9
    unseen = [np.nan] * 3 + [0.1] * (n - 3)
    tables = [
        _attr("attention", "learned", att),
        _attr("ig", "learned", ig),
        _attr("attention", "permute", unseen),
    ]
    scores = pd.DataFrame(
        {
            "protein": ["P1", "P1"],
            "location": ["Peroxisome", "Nucleus"],
            "subsequence": ["ASKL", "ASKL"],
            "start": [20, 20],
            "end": [23, 23],
            "score": [0.5, 0.5],
            "label_kind": ["true", "predicted"],
            "correct": [False, False],
            "method": ["attention", "attention"],
            "attention": ["learned", "learned"],
            "target": ["", ""],
            "n_entries": [4, 4],
            "n_hits": [3, 0],
            "n_unannotated": [0, 0],
            "hit_rate": [0.75, 0.0],
        }
    )
    return tables, scores


def test_report_content():
    tables, scores = _inputs()
    doc = build_report(tables, scores, title="T<1>")
    assert doc.startswith("<!DOCTYPE html>") and doc.rstrip().endswith("</html>")
    assert "T&lt;1&gt;" in doc  # escaped
    # No resource is fetched at view time.
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", doc)
    assert "<svg" in doc  # inline plot
    # The strongest attention residue (K22) is at the top level and underlined as part of
    # the extracted subsequence; the strongest negative IG residue is dark blue.
    assert '<u><i class="r8">K</i></u>' in doc
    assert '<i class="b8">L</i>' in doc
    # Residues the model did not see are grey.
    assert doc.count('<i class="u">') == 3
    # Hit rate of the true-label row is shown for the subsequence.
    assert "<code>ASKL</code>" in doc and "0.750" in doc
    assert "Peroxisome" in doc and "Nucleus" in doc and "0.610" in doc
    with pytest.raises(ValueError, match="not in the attribution"):
        build_report(tables, proteins=["nope"])
    with pytest.raises(ValueError):
        build_report([])


def test_hit_rate_summary_hand_computed():
    _, scores = _inputs()
    s = hit_rate_summary(scores).set_index("label_kind")
    assert s.loc["true", "mean_hit_rate"] == 0.75 and s.loc["predicted", "mean_hit_rate"] == 0.0
    assert (s["scored"] == 1).all()


def test_report_cli(tmp_path):
    tables, scores = _inputs()
    paths = []
    for i, t in enumerate(tables):
        p = tmp_path / f"a{i}.parquet"
        t.to_parquet(p)
        paths += ["--attributions", str(p)]
    scores.to_csv(tmp_path / "s.tsv", sep="\t", index=False)
    out = tmp_path / "r.html"
    res = CliRunner().invoke(psl_app, ["report", *paths, "--scores", str(tmp_path / "s.tsv"),
                                       "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "ASKL" in out.read_text()
    res = CliRunner().invoke(psl_app, ["report", "-a", str(tmp_path / "missing.parquet"),
                                       "--out", str(out)])
    assert res.exit_code == 2 and "error:" in res.output and "Traceback" not in res.output


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None, reason="headless Chromium (Debian 'chromium') absent")
def test_report_renders_in_headless_chromium(tmp_path):
    import matplotlib.image as mpimg

    tables, scores = _inputs()
    html_path = write_report(build_report(tables, scores), tmp_path / "report.html")
    shot = tmp_path / "shot.png"
    cmd = [
        _chromium(), "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,900",
        f"--screenshot={shot}", html_path.resolve().as_uri(),
    ]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    img = mpimg.imread(shot)
    assert img.shape[:2] == (900, 1200)
    rgb = img[..., :3]
    # The page is not blank: dark text, and the attribution colours are painted (strong red
    # and strong blue pixels).
    assert (rgb.sum(-1) < 0.6).mean() > 0.005
    red = (rgb[..., 0] > 0.7) & (rgb[..., 1] < 0.35) & (rgb[..., 2] < 0.35)
    blue = (rgb[..., 2] > 0.55) & (rgb[..., 0] < 0.3)
    assert red.sum() > 50 and blue.sum() > 50


def _track_cells(doc: str, kind: str) -> list[str]:
    return re.findall(rf'<i class="t-{kind}" title="([^"]*)">', doc)


def test_signal_track_shows_motifs_and_kb_features(tmp_path_factory, test_data):
    import kb
    from kb.build import build
    from psl.explain.groundtruth import find_motifs

    tables, _ = _inputs()
    doc = build_report(tables)
    # the demo protein ends in the PTS1 SKL (21-23): one track cell per residue, per run
    cells = _track_cells(doc, "motif")
    assert ("PTS1", 21, 23) in find_motifs("MKVLAAGIVGSTRPQWEDCASKL")
    assert len(cells) == 3 * 3 and all(c.startswith("PTS1 21-23: [STAGCN]") for c in cells)
    assert "Known signals: PTS1 21-23" in doc

    directory = tmp_path_factory.mktemp("kb_report") / "kb"
    build([test_data / "swissprot" / "sample_entries.dat.gz"], directory, progress=False)
    with kb.open(directory) as base:
        feats = base.features(base.accessions.to_pylist(), ["SIGNAL"]).to_pandas()
        f = feats.dropna(subset=["start", "end"]).iloc[0]
        eid = base.accessions.to_pylist().index(f.accession)
        seq = base.store.sequence(eid)
        att = _attr("ig", "learned", [0.1] * len(seq), name=f"sp|{f.accession}|X_HUMAN",
                    seq=seq)
        doc = build_report([att], kb=base)
    cells = _track_cells(doc, "SIGNAL")
    assert len(cells) == int(f.end) - int(f.start) + 1
    assert cells[0].startswith(f"SIGNAL {int(f.start)}-{int(f.end)}")
    assert f"(UniProt {f.accession})" in cells[0]
