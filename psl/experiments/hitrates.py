"""``psl experiment hitrates``: the attention study's hit-rate tables, with our controls.

For every given model (BiLSTM, BiLSTM-att, BiLSTM-uniform, CNN-BiLSTM large with and without
attention, ...), on all proteins of the DeepLoc 1.0 test set:

1. attributions (:mod:`psl.explain.attributions`): attention ``learned``, ``permute`` and
   ``random`` and Integrated Gradients (target = predicted class);
2. subsequences (:mod:`psl.explain.extract`, mean + k·std, windows of 5), labelled with both
   the true and the predicted location;
3. hit rates against a knowledge base (:func:`psl.hitrate.score`; default: the shipped DeepLoc 2.0
   Swiss-Prot set, 28,303 real proteins), once excluding the query protein and identical
   sequences (our default) and once keeping them (as the research did not exclude them);
4. the research's Table 2 (IG) and Table 3 (attention) layout: rows "correct prediction",
   "wrong prediction, predicted label", "wrong prediction, true label", with the research's
   numbers beside ours, and our columns: proteins scored, 95% bootstrap interval (proteins
   resampled), null-model hit rate, enrichment and a paired sign-flip p-value, and the hit rate
   with self/identical-sequence hits kept;
5. the ground-truth checks of :mod:`psl.explain.groundtruth` per model, run and class.

A row's hit rate is the mean over its proteins of the protein hit rate (the mean over the
protein's subsequences that have at least one knowledge-base entry).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from psl.choices import HITRATE_SPLITS, METHODS
from psl.errors import ConfigError
from psl.explain.attributions import IGSettings, explain, load_proteins
from psl.explain.extract import extract_subsequences
from psl.explain.groundtruth import groundtruth_summary
from psl.tables_io import write_table
from psl.training.config import read_toml

__all__ = [
    "DEFAULT_KB_SOURCE",
    "RESEARCH_TABLE2",
    "RESEARCH_TABLE3",
    "ROW_KINDS",
    "HitrateExperiment",
    "bootstrap_mean_ci",
    "sign_flip_p",
    "row_statistics",
    "run_hitrates",
    "format_tables",
    "load_config",
    "prepare_quick",
    "select_proteins",
    "model_test_proteins",
]

DEFAULT_KB_SOURCE = (
    Path(__file__).resolve().parents[2] / "data" / "deeploc2" / "deeploc2_swissprot.csv.gz"
)

#: The three rows of Tables 2 and 3: (name, label kind, prediction correct).
ROW_KINDS: tuple[tuple[str, str, bool], ...] = (
    ("correct prediction", "true", True),
    ("wrong prediction, predicted label", "predicted", False),
    ("wrong prediction, true label", "true", False),
)
#: The research's Table 2 (IG hit rates), in ROW_KINDS order.
RESEARCH_TABLE2: dict[str, tuple[float, float, float]] = {
    "LSTM": (0.462, 0.083, 0.476),
    "LSTM-att": (0.500, 0.104, 0.500),
}
#: The research's Table 3 (attention hit rates), in ROW_KINDS order.
RESEARCH_TABLE3: dict[str, tuple[float, float, float]] = {
    "LSTM-att": (0.559, 0.097, 0.533),
    "big CNN-LSTM-att": (0.617, 0.101, 0.489),
    "permuted": (0.445, 0.129, 0.393),
    "random": (0.384, 0.127, 0.394),
}


@dataclass
class HitrateExperiment:
    """Settings of one run of the experiment (the ``[hitrates]`` table of a config).

    Attributes:
        models: ``(name, checkpoint directory)`` pairs.
        db: knowledge-base directory; ``None`` = build the shipped DeepLoc 2.0 set into
            ``<out>/kb`` (reused when already there).
        split: proteins explained: ``model`` = each model's own test split (from its run
            config; the official DeepLoc 1.0 test set for the default model), or ``test`` /
            ``train`` / ``all`` of DeepLoc 1.0 (dual-label proteins excepted).
        limit: a seeded random sample of N proteins (quick runs); ``None`` = all.
        attention_modes: attention runs (Table 3).
        methods: which of ``attention`` (Table 3) and ``ig`` (Table 2) to run.
        ig_limit: IG on a seeded sample of N of the proteins (IG costs ~100x attention on CPU);
            ``None`` = all.
        ig: Integrated-Gradients settings (Table 2); ``ig_target`` its target class.
        k, window: extraction threshold and window.
        null: null-model replicates per protein (0 = none).
        n_boot: bootstrap resamples of the 95% intervals.
        n_perm: sign flips of the paired p-value.
        batch_size: proteins per attention batch (IG uses :func:`psl.explain.explain`'s
            CPU default, one protein per batch).
        seed: seed of ablations, null model, bootstrap and sign flips.
        weighting: hit-rate weighting (``psl score --weighting``).
        workers: processes sharing the IG proteins (``psl explain --workers``; learned and
            uniform attention); the results do not depend on it.
    """

    models: list[tuple[str, Path]]
    db: Path | None = None
    split: str = "model"
    limit: int | None = None
    attention_modes: tuple[str, ...] = ("learned", "permute", "random")
    methods: tuple[str, ...] = ("attention", "ig")
    ig_limit: int | None = None
    ig: IGSettings = field(default_factory=IGSettings)
    ig_target: str = "predicted"
    k: float = 2.0
    window: int = 5
    null: int = 20
    n_boot: int = 1000
    n_perm: int = 5000
    batch_size: int = 16
    seed: int = 0
    weighting: str = "paper"
    workers: int = 1

    def __post_init__(self) -> None:
        if not self.models:
            raise ConfigError("give at least one model")
        names = [n for n, _ in self.models]
        if len(set(names)) != len(names):
            raise ConfigError(f"model names must be unique, got {names}")
        if self.split not in HITRATE_SPLITS:
            raise ConfigError(f"split must be one of {', '.join(HITRATE_SPLITS)}, got "
                              f"{self.split!r}", param="split")
        if self.ig_limit is not None and self.ig_limit < 1:
            raise ConfigError(f"ig_limit must be >= 1, got {self.ig_limit}")
        bad = set(self.methods) - set(METHODS)
        if bad or not self.methods:
            raise ConfigError(f"methods must be among {', '.join(METHODS)}; got "
                              f"{list(self.methods)}", param="methods")
        if self.n_boot < 1 or self.n_perm < 1 or self.null < 0:
            raise ConfigError("n_boot and n_perm must be >= 1 and null >= 0")


def load_config(path: str | Path, **overrides: Any) -> HitrateExperiment:
    """Read the ``[hitrates]`` table of a TOML file into a :class:`HitrateExperiment`.

    ``models`` is a table ``{name = "checkpoint dir"}`` (relative paths are taken from the
    repository root); ``[hitrates.ig]`` holds the IG settings. Keyword ``overrides`` that are
    not None replace file values.

    Raises:
        ValueError: invalid TOML, unknown keys or invalid values (file name in the message).
    """
    path = Path(path)
    d = dict(read_toml(path).get("hitrates", {}))
    root = Path(__file__).resolve().parents[2]
    try:
        ig = IGSettings(**d.pop("ig", {}))
        models = [(str(n), p if Path(p).is_absolute() else root / p)
                  for n, p in d.pop("models", {"default": "models/default"}).items()]
        for key in ("attention_modes", "methods"):
            if key in d:
                d[key] = tuple(d[key])
        if d.get("db"):
            d["db"] = Path(d["db"])
        d.update({k: v for k, v in overrides.items() if v is not None})
        if "models" in d:
            models = d.pop("models")
        if "ig" in d:
            ig = d.pop("ig")
        return HitrateExperiment(models=[(n, Path(p)) for n, p in models], ig=ig, **d)
    except TypeError as e:
        raise ConfigError(str(e), path) from None


def model_test_proteins(
    run_config: dict[str, Any], split: str = "model"
) -> tuple[list[str], list[str], list[str | None]]:
    """The proteins to explain for a model: its own test split, or a DeepLoc 1.0 split.

    Arguments:
        run_config: the checkpoint's run config (``LoadedModel.run_config``).
        split: ``model`` (the test split its ``[data]`` table describes; the official test
            set when it has none) or ``test`` / ``train`` / ``all``.

    Returns:
        ``(names, sequences, labels)``.
    """
    if split != "model":
        return load_proteins(split=split)
    data = run_config.get("data")
    if not data:
        return load_proteins(split="test")
    from psl.data import DataConfig, load_splits

    cfg = DataConfig(**{k: v for k, v in data.items() if k != "subset"})
    test = load_splits(cfg)["test"]
    return (test["accession"].tolist(), test["sequence"].tolist(), test["location"].tolist())


def select_proteins(
    names: list[str], seqs: list[str], labels: list[str | None], limit: int | None, seed: int
) -> tuple[list[str], list[str], list[str | None]]:
    """All proteins, or a seeded random sample of ``limit`` of them (kept in input order)."""
    if limit is None or limit >= len(names):
        return names, seqs, labels
    keep = np.sort(np.random.default_rng(seed).permutation(len(names))[:limit])
    return [names[i] for i in keep], [seqs[i] for i in keep], [labels[i] for i in keep]


def prepare_quick(out: str | Path, n_proteins: int = 24, seed: int = 0) -> tuple[Path, Path]:
    """A tiny model (trained for a few seconds) and a tiny knowledge base, for smoke tests.

    The knowledge base holds the DeepLoc 2.0 entries of the first ``n_proteins`` test proteins
    (self hits, to show what keeping them does) and 300 other DeepLoc 2.0 entries.

    Returns:
        ``(model_dir, kb_dir)``.
    """
    from kb.build import build
    from psl.data import DataConfig
    from psl.models.family import ModelConfig
    from psl.training.config import RunConfig, TrainConfig
    from psl.training.trainer import train

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model_dir = out / "quick_model"
    if not (model_dir / "weights.pt").exists():
        run = RunConfig(
            ModelConfig(encoder="cnn_bilstm", conv_kernels=[3], conv_channels=8, pool=4,
                        hidden=8, attention_dim=8, dropout=0.0, max_len=200),
            DataConfig(subset=160, seed=seed),
            TrainConfig(epochs=1, batch_size=32, lr=0.01, seed=seed, threads=0),
        )
        train(run, model_dir, device="cpu", n_boot=10)
    kb_dir = out / "quick_kb"
    if not (kb_dir / "kb.duckdb").exists():
        names, _, _ = select_proteins(*load_proteins(split="test"), n_proteins, seed)
        dl2 = pd.read_csv(DEFAULT_KB_SOURCE)
        mine = dl2[dl2["accession"].isin(set(names))]
        rest = dl2.drop(mine.index).sample(300, random_state=seed)
        src = out / "quick_kb_source.csv"
        write_table(pd.concat([mine, rest]), src)
        build([src], kb_dir, force=True, progress=False)
    return model_dir, kb_dir


def bootstrap_mean_ci(
    values: np.ndarray, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (Efron & Tibshirani 1993).

    Arguments:
        values: the per-protein values (NaN-free).
        n_boot: resamples.
        seed: random seed.
        level: coverage.

    Returns:
        ``(low, high)``; NaNs when ``values`` is empty.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, values.size, size=(n_boot, values.size))
    means = values[idx].mean(1)
    a = (1 - level) / 2
    return float(np.quantile(means, a)), float(np.quantile(means, 1 - a))


def sign_flip_p(diff: np.ndarray, n_perm: int = 5000, seed: int = 0) -> float:
    """Two-sided paired sign-flip permutation p-value of ``mean(diff) = 0``.

    Arguments:
        diff: paired differences (observed minus null hit rate per protein).
        n_perm: random sign flips.
        seed: random seed.

    Returns:
        ``(1 + #{|mean flipped| >= |mean observed|}) / (1 + n_perm)``; NaN when empty.
    """
    diff = np.asarray(diff, dtype=np.float64)
    if diff.size == 0:
        return float("nan")
    rng = np.random.default_rng(seed)
    obs = abs(diff.mean())
    count = 0
    chunk = max(1, 2_000_000 // diff.size)
    done = 0
    while done < n_perm:
        m = min(chunk, n_perm - done)
        signs = rng.integers(0, 2, size=(m, diff.size), dtype=np.int8) * 2 - 1
        count += int((np.abs(signs @ diff / diff.size) >= obs - 1e-12).sum())
        done += m
    return (1 + count) / (1 + n_perm)


def row_statistics(
    proteins: pd.DataFrame,
    proteins_self: pd.DataFrame | None,
    keys: Sequence[str],
    n_boot: int,
    n_perm: int,
    seed: int,
) -> pd.DataFrame:
    """Table rows from per-protein hit rates.

    Arguments:
        proteins: ``psl.hitrate`` per-protein table (``hit_rate``, optional ``null_hit_rate``)
            with the columns ``keys``, ``label_kind`` and ``correct``.
        proteins_self: the same scored with self/identical hits kept (or None).
        keys: the run columns (e.g. ``model, method, attention``).
        n_boot, n_perm, seed: bootstrap, sign-flip and seed.

    Returns:
        One row per (keys, ROW_KINDS row): ``row, proteins, hit_rate, ci_low, ci_high,
        null_hit_rate, enrichment, p_value, hit_rate_keep_self, proteins_keep_self``.
    """
    out = []
    keys = list(keys)
    groups = proteins.groupby(keys, sort=False) if keys else [((), proteins)]
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        for row, kind, correct in ROW_KINDS:
            sel = g[(g["label_kind"] == kind) & (g["correct"].astype(bool) == correct)]
            sel = sel[sel["hit_rate"].notna()]
            hr = sel["hit_rate"].to_numpy(np.float64)
            rec: dict[str, Any] = dict(zip(keys, key, strict=True))
            rec.update(row=row, proteins=int(hr.size),
                       hit_rate=float(hr.mean()) if hr.size else float("nan"))
            rec["ci_low"], rec["ci_high"] = bootstrap_mean_ci(hr, n_boot, seed)
            if "null_hit_rate" in sel.columns:
                both = sel[sel["null_hit_rate"].notna()]
                null = both["null_hit_rate"].to_numpy(np.float64)
                obs = both["hit_rate"].to_numpy(np.float64)
                rec["null_hit_rate"] = float(null.mean()) if null.size else float("nan")
                rec["enrichment"] = (
                    float(obs.mean() / null.mean()) if null.size and null.mean() > 0
                    else float("nan")
                )
                rec["p_value"] = sign_flip_p(obs - null, n_perm, seed)
            if proteins_self is not None:
                s = proteins_self
                for c, v in zip(keys, key, strict=True):
                    s = s[s[c] == v]
                s = s[(s["label_kind"] == kind) & (s["correct"].astype(bool) == correct)]
                s = s[s["hit_rate"].notna()]
                rec["hit_rate_keep_self"] = (
                    float(s["hit_rate"].mean()) if len(s) else float("nan")
                )
                rec["proteins_keep_self"] = int(len(s))
            out.append(rec)
    return pd.DataFrame(out)


def _ensure_kb(db: Path | None, out: Path, say: Callable[[str], None]) -> Path:
    if db is not None:
        return Path(db)
    target = out / "kb"
    if (target / "kb.duckdb").exists():
        return target
    from kb.build import build

    say(f"building the knowledge base from {DEFAULT_KB_SOURCE.name} -> {target}")
    build([DEFAULT_KB_SOURCE], target, force=True, progress=False)
    return target


def _features(kb: Any, accessions: Sequence[str]) -> pd.DataFrame:
    """The SIGNAL, TRANSIT and MOTIF features of the proteins (none for a KB built from a
    table or FASTA)."""
    table = kb.features(accessions, types=("SIGNAL", "TRANSIT", "MOTIF"))
    return table.select(["accession", "type", "start", "end"]).to_pandas()


def run_hitrates(
    exp: HitrateExperiment,
    out: str | Path,
    say: Callable[[str], None] = lambda msg: None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Run the experiment and write its outputs into ``out``.

    Outputs: ``attributions/<model>.<run>.parquet``, ``subsequences.parquet``,
    ``scores.parquet`` / ``scores_keep_self.parquet`` (per subsequence),
    ``proteins.parquet`` (per protein), ``rows.csv`` (all table rows with our columns),
    ``tables.md`` (Tables 2 and 3 beside the research), ``groundtruth.md``, ``hitrates.json``.

    Arguments:
        exp: the settings.
        out: output directory (created).
        say: receives progress messages.
        progress: called with ``(stage, done, total)`` during attributions.

    Returns:
        ``{"rows": DataFrame, "markdown": str, "timings": dict, ...}``.

    Raises:
        ValueError: bad settings; errors of the model, KB or input loading.
    """
    from kb.api import open as open_kb
    from psl.hitrate.scorer import score
    from psl.models.checkpoint import load_model

    out = Path(out)
    (out / "attributions").mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    db = _ensure_kb(exp.db, out, say)
    kb = open_kb(db)
    timings["load"] = time.perf_counter() - t0

    runs: list[tuple[str, str]] = []
    if "attention" in exp.methods:
        runs += [("attention", m) for m in exp.attention_modes]
    if "ig" in exp.methods:
        runs.append(("ig", "learned"))
    all_subs = []
    attributions = {}
    seq_of: dict[str, str] = {}
    n_proteins: dict[str, dict[str, int]] = {}
    t_att = time.perf_counter()
    for model_name, model_dir in exp.models:
        loaded = load_model(model_dir)
        all_names, all_seqs, all_labels = select_proteins(
            *model_test_proteins(loaded.run_config, exp.split), exp.limit, exp.seed
        )
        seq_of.update(zip(all_names, all_seqs, strict=True))
        n_proteins[model_name] = {}
        for method, mode in runs:
            names, seqs, labels = all_names, all_seqs, all_labels
            if method == "ig":
                names, seqs, labels = select_proteins(names, seqs, labels, exp.ig_limit, exp.seed)
            n_proteins[model_name][f"{method}.{mode}"] = len(names)
            stage = f"{model_name}: {method} ({mode}), {len(names)} proteins"
            say(stage)
            t1 = time.perf_counter()
            table = explain(
                loaded.model, seqs, names, labels, method=method, attention=mode,
                target=exp.ig_target, classes=loaded.classes,
                batch_size=exp.batch_size if method == "attention" else None,
                ig=exp.ig, seed=exp.seed,
                progress=(lambda d, s=stage, n=len(seqs): progress(s, d, n)) if progress else None,
                workers=(exp.workers if method == "ig" and mode in ("learned", "uniform")
                         else 1),
            )
            timings[f"{model_name}.{method}.{mode}"] = time.perf_counter() - t1
            table.insert(0, "model", model_name)
            write_table(table, out / "attributions" / f"{model_name}.{method}.{mode}.parquet")
            attributions[(model_name, method, mode)] = table
            subs = extract_subsequences(table, k=exp.k, window=exp.window, label="both")
            subs.insert(0, "model", model_name)
            all_subs.append(subs)
    timings["attributions"] = time.perf_counter() - t_att
    subs = pd.concat(all_subs, ignore_index=True)
    subs["sequence"] = subs["protein"].map(seq_of)
    write_table(subs.drop(columns=["sequence"]), out / "subsequences.parquet")

    group = ["model", "method", "attention", "label_kind", "correct"]
    say(f"scoring {len(subs)} subsequences against {db}")
    t1 = time.perf_counter()
    scored = score(kb, subs, weighting=exp.weighting, proteins=True, group_by=group,
                   null=exp.null, seed=exp.seed)
    timings["score"] = time.perf_counter() - t1
    t1 = time.perf_counter()
    scored_self = score(kb, subs, weighting=exp.weighting, keep_self=True, proteins=True,
                        group_by=group, null=0, seed=exp.seed)
    timings["score_keep_self"] = time.perf_counter() - t1
    for t, name in ((scored.table, "scores"), (scored_self.table, "scores_keep_self")):
        write_table(t.drop(columns=["sequence"]), out / f"{name}.parquet")
    write_table(scored.proteins, out / "proteins.parquet")

    rows = row_statistics(scored.proteins, scored_self.proteins, ["model", "method", "attention"],
                          exp.n_boot, exp.n_perm, exp.seed)
    write_table(rows, out / "rows.csv")

    # Ground truth per model, run and class.
    gt_parts = []
    feats = _features(kb, sorted(seq_of))
    for (model_name, method, mode), table in attributions.items():
        s = subs[(subs.model == model_name) & (subs.method == method) & (subs.attention == mode)
                 & (subs.label_kind == "true")]
        summary = groundtruth_summary(table.drop(columns=["model"]), s.drop(columns=["model"]),
                                      feats if len(feats) else None)
        gt_parts.append((f"{model_name} — {method} ({mode})", summary))
    timings["total"] = time.perf_counter() - t0
    md = format_tables(rows, exp, n_proteins, db, timings)
    gt_md = _format_groundtruth(gt_parts, has_features=len(feats) > 0)
    _write_text(out / "tables.md", md)
    _write_text(out / "groundtruth.md", gt_md)
    meta = {
        "settings": {**asdict(exp), "models": [[n, str(p)] for n, p in exp.models],
                     "db": str(db), "ig": asdict(exp.ig)},
        "proteins": n_proteins,
        "subsequences": int(len(subs)),
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
        "rows": json.loads(rows.to_json(orient="records")),
        "warnings": scored.warnings[:20],
    }
    _write_text(out / "hitrates.json", json.dumps(meta, indent=2) + "\n")
    return {"rows": rows, "markdown": md, "groundtruth": gt_md, "timings": timings,
            "proteins": scored.proteins, "db": db}


def _write_text(path: Path, text: str) -> None:
    from psl.explain.report import write_report

    write_report(text, path)


def _f(x: float, d: int = 3) -> str:
    return "–" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.{d}f}"


def format_tables(
    rows: pd.DataFrame,
    exp: HitrateExperiment,
    n_proteins: dict[str, dict[str, int]],
    db: Path,
    timings: dict[str, float] | None = None,
) -> str:
    """Markdown: Tables 2 and 3 in the research's layout beside the research's numbers, then
    all rows with our columns."""
    models = [n for n, _ in exp.models]
    lines = [
        "# Hit rates of extracted subsequences (Tables 2 and 3 of the attention study)",
        "",
        f"Proteins explained per model and run: {json.dumps(n_proteins)} (split "
        f"`{exp.split}`; `model` = each model's own test split); knowledge base `{db}`; "
        f"subsequences: mean + {exp.k:g}·std, windows of {exp.window}; IG {exp.ig.n_steps} steps "
        f"({exp.ig.method}), target {exp.ig_target}; weighting `{exp.weighting}`; self and "
        "identical-sequence hits excluded unless stated; null model "
        f"{exp.null} random windows per subsequence; seed {exp.seed}.",
        "",
    ]

    def wide(title: str, research: dict[str, tuple[float, float, float]],
             ours: list[tuple[str, str, str, str]]) -> None:
        head = ["", *[f"research {k}" for k in research], *[c[0] for c in ours]]
        lines.extend([f"## {title}", "", "| " + " | ".join(head) + " |",
                      "|" + "---|" * len(head)])
        for i, (row, _, _) in enumerate(ROW_KINDS):
            cells = [row, *[_f(v[i]) for v in research.values()]]
            for _, model, method, mode in ours:
                r = rows[(rows.model == model) & (rows.method == method)
                         & (rows.attention == mode) & (rows.row == row)]
                cells.append(_f(float(r.hit_rate.iat[0])) if len(r) else "–")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")

    wide("Table 2: Integrated Gradients", RESEARCH_TABLE2,
         [(f"{m} IG", m, "ig", "learned") for m in models])
    wide("Table 3: attention", RESEARCH_TABLE3,
         [(f"{m} {mode}", m, "attention", mode) for m in models for mode in exp.attention_modes])
    cols = ["model", "method", "attention", "row", "proteins", "hit_rate", "ci_low", "ci_high",
            "null_hit_rate", "enrichment", "p_value", "hit_rate_keep_self"]
    cols = [c for c in cols if c in rows.columns]
    lines.extend(["## All rows with our controls", "",
                  "95% CI: percentile bootstrap over proteins; enrichment = hit rate / null-model "
                  "hit rate; p: paired sign-flip test of hit rate vs null per protein; "
                  "keep self: the query protein and identical sequences left in the KB.", "",
                  "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)])
    for rec in rows[cols].itertuples(index=False):
        cells = []
        for c, v in zip(cols, rec, strict=True):
            if c == "p_value":
                cells.append("–" if np.isnan(v) else f"{v:.2g}")
            elif isinstance(v, float):
                cells.append(_f(v))
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    if timings:
        lines.extend(["", "Timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items())])
    return "\n".join(lines) + "\n"


def _format_groundtruth(parts: list[tuple[str, dict[str, pd.DataFrame]]],
                        has_features: bool) -> str:
    lines = [
        "# Ground truth: attribution on known targeting signals",
        "",
        "Terminal mass: share of |attribution| in the first 30 / last 10 residues, mean over the "
        "class's proteins, against the uniform expectation (ratio > 1: more than uniform). "
        "Motifs: share of motif residues inside extracted subsequences (true label) against the "
        "share of the sequence the subsequences cover (ratio > 1: better than random placement).",
        "",
    ]
    if not has_features:
        lines.append("The knowledge base has no Swiss-Prot FT features (SIGNAL/TRANSIT/MOTIF) for "
                     "these proteins: feature precision/recall not computed.\n")
    for title, s in parts:
        lines.extend([f"## {title}", ""])
        t = s["terminal"]
        lines.append("| class | proteins | first 30 | uniform | ratio | last 10 | uniform "
                     "| ratio |\n|---|---|---|---|---|---|---|---|")
        for r in t.itertuples(index=False):
            lines.append(
                f"| {r.true_label} | {r.proteins} | {_f(r.mass_first)} | {_f(r.expected_first)} "
                f"| {_f(r.ratio_first, 2)} | {_f(r.mass_last)} | {_f(r.expected_last)} | "
                f"{_f(r.ratio_last, 2)} |"
            )
        m = s["motifs"]
        m = m[m["in_expected_class"]] if len(m) else m
        if len(m):
            lines.extend(["", "| motif | class | occurrences | covered | expected | ratio |",
                          "|---|---|---|---|---|---|"])
            for r in m.itertuples(index=False):
                lines.append(f"| {r.motif} | {r.true_label} | {r.occurrences} | {_f(r.covered)} "
                             f"| {_f(r.expected)} | {_f(r.ratio, 2)} |")
        f = s["features"]
        if len(f):
            lines.extend(["", "| class | proteins | precision | recall |", "|---|---|---|---|"])
            for r in f.itertuples(index=False):
                lines.append(f"| {r.true_label} | {r.proteins} | {_f(r.precision)} | "
                             f"{_f(r.recall)} |")
        lines.append("")
    return "\n".join(lines)
