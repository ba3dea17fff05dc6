"""The architecture as a test: no import cycle in kb/psl/cli, and each layer imports only the
layers below it (docs/architecture.md). Imports inside functions count too.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("kb", "psl", "cli")

#: psl's layers: a module may import its own subpackage and lower layers only (the base
#: modules of layer 0 may import each other).
PSL_LAYERS = {
    "psl.errors": 0, "psl.choices": 0, "psl.data": 0, "psl.metrics": 0, "psl.fasta": 0,
    "psl.tables_io": 0, "psl.homology": 0, "psl.low_complexity": 0, "psl.sources": 0,
    "psl.transfer": 0,
    "psl.models": 1, "psl.hitrate": 1,
    "psl.training": 2, "psl.explain": 2,
    "psl.experiments": 3,
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")}


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports (``from a.b import c`` -> ``a.b.c`` when that
    is a module, else ``a.b``)."""
    mods = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in mods
                           else node.module for a in node.names]
            deps.update(t for t in targets if t in mods and t != name)
        graph[name] = deps
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for d in sorted(graph[n]):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if d not in state and (found := visit(d)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def _layer(module: str) -> tuple[str, int] | None:
    for prefix, layer in PSL_LAYERS.items():
        if module == prefix or module.startswith(prefix + "."):
            return prefix, layer
    return None


def test_cycle_detector_finds_a_planted_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_cycle():
    cycle = _cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_kb_imports_neither_psl_nor_cli_and_psl_not_cli():
    bad = [(m, d) for m, deps in import_graph().items() for d in deps
           if (m.startswith("kb") and d.split(".")[0] in ("psl", "cli"))
           or (m.startswith("psl") and d.startswith("cli"))]
    assert bad == []


def test_every_psl_module_has_a_layer():
    missing = [m for m in import_graph() if m.startswith("psl.") and _layer(m) is None]
    assert missing == [], f"add these to PSL_LAYERS and docs/architecture.md: {missing}"


def test_psl_layers_import_downwards_only():
    bad = []
    for m, deps in import_graph().items():
        src = _layer(m)
        if src is None:
            continue
        for d in deps:
            dst = _layer(d)
            # base modules (layer 0) may import each other; above it, only lower layers
            if dst is not None and dst[0] != src[0] and (dst[1] > src[1] or 0 < dst[1] == src[1]):
                bad.append(f"{m} ({src[1]}) imports {d} ({dst[1]})")
    assert bad == []


@pytest.mark.parametrize("module", ["kb", "kb.api", "psl.choices", "psl.hitrate",
                                    "psl.explain.extract", "psl.explain.report", "cli.main"])
def test_torch_free_modules(module):
    code = f"import sys, {module}; sys.exit('torch' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, f"{module} imports torch\n{res.stderr}"


def test_psl_asks_kb_through_methods_not_its_tables():
    """psl runs no SQL and never reaches into a KnowledgeBase's connection or sequence store
    (``docs/architecture.md``: a stage talks to kb through ``KnowledgeBase`` methods)."""
    pattern = re.compile(r"\.(con|store)\b(?!\w)|\bexecute\(|^\s*(import|from) duckdb\b")
    bad = [f"{p.relative_to(REPO)}:{i}: {line.strip()}"
           for p in (REPO / "psl").rglob("*.py")
           for i, line in enumerate(p.read_text().splitlines(), start=1)
           if pattern.search(line.split("#")[0])]
    assert bad == []
