"""psl experiment hitrates: statistics against exact oracles, and the quick end-to-end run."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import psl_app
from psl.experiments.hitrates import (
    RESEARCH_TABLE2,
    RESEARCH_TABLE3,
    bootstrap_mean_ci,
    load_config,
    model_test_proteins,
    row_statistics,
    select_proteins,
    sign_flip_p,
)


def test_sign_flip_p_matches_exact_enumeration():
    diff = np.array([0.3, 0.1, -0.05, 0.2, 0.25, 0.15])
    obs = abs(diff.mean())
    flips = [abs(np.dot(s, diff) / len(diff)) >= obs - 1e-12
             for s in itertools.product([-1, 1], repeat=len(diff))]
    exact = float(np.mean(flips))  # all 64 sign patterns
    assert sign_flip_p(diff, n_perm=20000, seed=1) == pytest.approx(exact, abs=0.01)
    assert np.isnan(sign_flip_p(np.array([])))


def test_bootstrap_ci_matches_plain_loop():
    values = np.array([0.0, 0.2, 0.5, 0.9, 1.0, 0.4, 0.3])
    rng = np.random.default_rng(5)
    means = [values[rng.integers(0, len(values), len(values))].mean() for _ in range(500)]
    lo, hi = bootstrap_mean_ci(values, n_boot=500, seed=5)
    assert lo == pytest.approx(np.quantile(means, 0.025))
    assert hi == pytest.approx(np.quantile(means, 0.975))
    assert bootstrap_mean_ci(np.full(5, 0.3), 100) == pytest.approx((0.3, 0.3))


def test_row_statistics_hand_computed():
    p = pd.DataFrame(
        {
            "model": "m",
            "method": "ig",
            "attention": "learned",
            "protein": ["A", "B", "C", "C", "D"],
            "label_kind": ["true", "true", "true", "predicted", "true"],
            "correct": [True, True, False, False, True],
            "hit_rate": [0.5, 1.0, 0.25, 0.0, np.nan],
            "null_hit_rate": [0.25, 0.5, 0.5, 0.0, np.nan],
        }
    )
    selfp = p.assign(hit_rate=[1.0, 1.0, 1.0, 0.5, 1.0])
    rows = row_statistics(p, selfp, ["model", "method", "attention"], 100, 100, 0)
    r = rows.set_index("row")
    assert r.loc["correct prediction", "proteins"] == 2  # D has no scored subsequence
    assert r.loc["correct prediction", "hit_rate"] == pytest.approx(0.75)
    assert r.loc["correct prediction", "null_hit_rate"] == pytest.approx(0.375)
    assert r.loc["correct prediction", "enrichment"] == pytest.approx(2.0)
    assert r.loc["correct prediction", "hit_rate_keep_self"] == pytest.approx(1.0)
    assert r.loc["wrong prediction, true label", "hit_rate"] == pytest.approx(0.25)
    assert r.loc["wrong prediction, predicted label", "hit_rate"] == pytest.approx(0.0)
    assert r.loc["wrong prediction, predicted label", "hit_rate_keep_self"] == 0.5


def test_select_proteins_is_seeded_and_ordered():
    names = [f"P{i}" for i in range(50)]
    a = select_proteins(names, names, names, 10, seed=3)[0]
    assert a == select_proteins(names, names, names, 10, seed=3)[0]
    assert a == sorted(a, key=lambda n: int(n[1:])) and len(set(a)) == 10
    assert select_proteins(names, names, names, None, 0)[0] == names


def test_model_test_proteins_is_the_models_own_test_split():
    official = model_test_proteins({}, "model")
    assert len(official[0]) == 2773  # the DeepLoc 1.0 test partition (no dual labels there)
    same = model_test_proteins({"data": {"split": "official", "seed": 0}}, "model")
    assert sorted(same[0]) == sorted(official[0])
    rnd = model_test_proteins({"data": {"split": "random", "seed": 0}}, "model")
    assert set(rnd[0]) != set(official[0]) and 0.1 < len(rnd[0]) / 13858 < 0.2


def test_config_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[hitrates\n")
    with pytest.raises(ValueError, match="bad.toml: invalid TOML"):
        load_config(bad)
    bad.write_text("[hitrates]\nwhatever = 1\n")
    with pytest.raises(ValueError, match="bad.toml"):
        load_config(bad)
    bad.write_text('[hitrates]\nmethods = ["lime"]\n')
    with pytest.raises(ValueError, match="methods"):
        load_config(bad)
    bad.write_text('[hitrates]\nsplit = "val"\n')
    with pytest.raises(ValueError, match="split"):
        load_config(bad)


def test_quick_run_end_to_end(tmp_path):
    out = tmp_path / "hq"
    res = CliRunner().invoke(
        psl_app,
        ["experiment", "hitrates", "--quick", "--limit", "8", "--n-steps", "2", "--out", str(out)],
    )
    assert res.exit_code == 0, res.output
    md = (out / "tables.md").read_text()
    assert "## Table 2: Integrated Gradients" in md and "## Table 3: attention" in md
    for values in (*RESEARCH_TABLE2.values(), *RESEARCH_TABLE3.values()):
        for v in values:
            assert f"{v:.3f}" in md
    rows = pd.read_csv(out / "rows.csv")
    assert len(rows) == 4 * 3  # (3 attention runs + IG) x 3 rows
    assert set(rows["row"]) == {"correct prediction", "wrong prediction, predicted label",
                                "wrong prediction, true label"}
    assert (rows["proteins"] <= 8).all()
    # Each row's hit rate is the mean of its proteins' hit rates (recomputed here).
    prot = pd.read_parquet(out / "proteins.parquet")
    for r in rows.itertuples():
        kind = "predicted" if r.row == "wrong prediction, predicted label" else "true"
        correct = r.row == "correct prediction"
        sel = prot[(prot.method == r.method) & (prot.attention == r.attention)
                   & (prot.label_kind == kind) & (prot.correct == correct)].hit_rate.dropna()
        assert r.proteins == len(sel)
        if len(sel):
            assert r.hit_rate == pytest.approx(sel.mean())
            assert r.ci_low <= r.hit_rate + 1e-12 and r.hit_rate <= r.ci_high + 1e-12
    # Attribution files per run, and the ground-truth tables.
    assert len(list((out / "attributions").glob("quick.*.parquet"))) == 4
    assert "first 30" in (out / "groundtruth.md").read_text()
    bad = CliRunner().invoke(psl_app, ["experiment", "hitrates", "--model", "x=",
                                       "--out", str(out)])
    assert bad.exit_code == 2 and "NAME=DIR" in bad.output
