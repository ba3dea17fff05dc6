"""Installed as a package (not editable, outside the repository), the tools work: the wheel
carries the default model as package data, `psl predict` and `kb build`/`kb search` run from
any folder, and what needs the repository's data says so in one line.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import venv
from pathlib import Path

import pandas as pd
import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]


def test_package_list_matches_the_source_tree():
    declared = set(tomllib.loads((REPO / "pyproject.toml").read_text())
                   ["tool"]["setuptools"]["packages"])
    on_disk = {".".join(p.parent.relative_to(REPO).parts)
               for pkg in ("kb", "psl", "cli") for p in (REPO / pkg).rglob("__init__.py")}
    assert on_disk <= declared, f"add to [tool.setuptools] packages: {sorted(on_disk - declared)}"
    assert declared - on_disk == {"psl._default_model"}


def _run(cmd: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_runs_outside_the_repository(tmp_path):
    dist = tmp_path / "dist"
    res = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                "-q", "-w", str(dist), str(REPO)], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    (wheel,) = dist.glob("psl_toolkit-*.whl")
    # dependencies come from this interpreter's site-packages; the project itself only from
    # the wheel (the venv's own site-packages precede the system ones)
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    res = _run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps",
                "-q", str(wheel)], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    work = tmp_path / "user"
    work.mkdir()
    where = _run([str(py), "-c", "import psl.models.checkpoint as c, kb; "
                  "print(c.DEFAULT_MODEL_DIR); print(kb.__file__)"], cwd=work)
    model_dir, kb_file = where.stdout.split()
    assert str(env_dir) in kb_file, where.stdout
    assert Path(model_dir) == Path(kb_file).parents[1] / "psl" / "_default_model"

    # psl predict with the packaged default model = the checkout's model, same probabilities
    fasta = work / "mine.fasta"
    fasta.write_text((REPO / "data" / "examples" / "demo_proteins.fasta").read_text())
    res = _run([str(env_dir / "bin" / "psl"), "predict", "mine.fasta", "--device", "cpu"],
               cwd=work)
    assert res.returncode == 0, res.stderr
    got = pd.read_csv(io.StringIO(res.stdout), sep="\t")
    from psl.fasta import read_fasta
    from psl.models import load_model, predict  # the checkout's copy: the oracle

    records = list(read_fasta(fasta))
    want = predict(load_model(REPO / "models" / "default"), [r.sequence for r in records])
    assert list(got["predicted"]) == list(want["predicted"])
    # the packaged homology transfer (transfer.json + references.tsv.gz) came with it
    assert list(got["nearest_reference"]) == list(want["nearest_reference"])
    assert list(got["nearest_is_homolog"]) == list(want["nearest_is_homolog"])

    # kb build / kb search on a user's CSV, from the user's folder
    csv = work / "entries.csv"
    entries = {"P1": "MKDELAAKDEL", "P2": "MPKKKRKVAAKDEL"}
    csv.write_text("accession,sequence,label\n" + "".join(
        f"{acc},{seq},Nucleus\n" for acc, seq in entries.items()))
    kb_bin = str(env_dir / "bin" / "kb")
    res = _run([kb_bin, "build", "entries.csv", "--db", "kbdir"], cwd=work)
    assert res.returncode == 0, res.stderr
    res = _run([kb_bin, "search", "--db", "kbdir", "KDEL"], cwd=work)
    assert res.returncode == 0, res.stderr
    hits = pd.read_csv(io.StringIO(res.stdout), sep="\t")
    want_hits = sorted((acc, i + 1) for acc, seq in entries.items()
                       for i in range(len(seq)) if seq.startswith("KDEL", i))
    assert sorted(zip(hits["accession"], hits["start"], strict=True)) == want_hits

    # what needs the repository's data says where to get it (one line, exit 2)
    res = _run([str(env_dir / "bin" / "psl"), "evaluate", "--device", "cpu"], cwd=work)
    assert res.returncode == 2
    assert "not installed with the package" in res.stderr and "Traceback" not in res.stderr
