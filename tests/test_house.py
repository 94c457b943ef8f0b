"""The house rules that code review alone would miss (docs/design.md, "Layers and imports").

* The package's import graph — every ``from .``/``from ..``/``import optneuron.…`` statement,
  including lazy ones inside functions — is acyclic and only points down the layer table.
* Every repository file named in a ``*.md`` or ``*.py`` file exists.
* No function outside ``kernels/`` is longer than 80 lines.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import optneuron

PACKAGE = Path(optneuron.__file__).resolve().parent
ROOT = PACKAGE.parent

# Rank of each top-level module or subpackage of optneuron, bottom first (docs/design.md).
# A module may import only modules of a lower rank (or, inside a subpackage, its siblings).
LAYERS = [
    {"validation", "tabular"},
    {"matrices", "smoothing", "packing", "kernels"},
    {"problems", "solution"},
    {"backends"},
    {"layer", "pencils"},
    {"export"},
    {"nn", "nn_trust_region", "categorical", "fused"},
    {"verify_references"},
    {"certify", "verify", "plot", "diagnostics"},
    {"decisions"},
    {"training"},
    {"hybrid"},
    {"sklearn", "demo"},
    {"cli"},
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
FACADE = {"__init__", "__main__"}  # the package's own entry points sit above everything


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Modules of ``optneuron`` that ``path`` imports anywhere (top level or in a function)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("optneuron"):
                continue
            for alias in node.names:  # `from . import certify` imports a submodule
                candidate = f"{target}.{alias.name}"
                found.add(candidate if _exists(candidate) else target)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("optneuron")}
    return found - {name}


def _exists(module: str) -> bool:
    rel = Path(*module.split("."))
    return (ROOT / rel).with_suffix(".py").is_file() or (ROOT / rel / "__init__.py").is_file()


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_module_has_a_layer():
    missing = {_top(m) for m in _graph()} - set(RANK) - FACADE - {"__init__"}
    assert not missing, f"add {sorted(missing)} to the layer table here and in docs/design.md"


def test_imports_point_down_the_layers():
    wrong = []
    for module, targets in _graph().items():
        top = _top(module)
        if top in FACADE or module.endswith("__main__"):
            continue
        for target in targets:
            other = _top(target)
            if other == top:  # inside one subpackage (kernels, backends, cli): see the cycle test
                continue
            if other in FACADE or RANK.get(other, -1) >= RANK[top]:
                wrong.append(f"{module} imports {target}")
    assert not wrong, "imports against the layer order:\n" + "\n".join(sorted(wrong))


def test_import_graph_is_acyclic():
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node, path):
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [node])


def test_the_checker_sees_lazy_and_relative_imports():
    # demo._draw imports plot inside the function; backends/eigen.py uses `from .. import`.
    assert "optneuron.plot" in _imports(PACKAGE / "demo.py")
    assert "optneuron.kernels" in _imports(PACKAGE / "backends" / "eigenpairs.py")
    assert "optneuron.problems" in _imports(PACKAGE / "backends" / "eigen.py")
    assert "optneuron.certify" in _imports(PACKAGE / "__init__.py")
    assert _imports(PACKAGE / "cli" / "demo.py") == {"optneuron.demo"}


# --- files named in the documentation and code -------------------------------------------------

_SOURCES = [
    p for p in ROOT.rglob("*")
    if p.suffix in {".md", ".py"}
    and not any(part.startswith(".") or part == "build" for part in p.relative_to(ROOT).parts)
]
# A repository path: a name with a directory and a known suffix, or any `*.md` name.
_PATH = re.compile(
    r"(?<![\w./~-])((?:[\w-]+/)+[\w.-]+\.(?:py|md|ipynb|json|png|toml)|[\w-]+\.md)\b"
)


def _named_files(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"https?://\S+", "", text)  # URLs point elsewhere
    return set(_PATH.findall(text))


def _resolves(name: str, source: Path) -> bool:
    bases = [source.parent, ROOT, PACKAGE, ROOT / "tests"]
    return any((base / name.lstrip("/")).exists() for base in bases)


@pytest.mark.skipif(not (ROOT / "README.md").is_file(), reason="needs the repository checkout")
def test_every_named_file_exists():
    missing = [
        f"{source.relative_to(ROOT)}: {name}"
        for source in _SOURCES
        for name in sorted(_named_files(source))
        if not _resolves(name, source)
    ]
    assert not missing, "files named but not in the repository:\n" + "\n".join(missing)


def test_the_file_scanner_finds_a_missing_file(tmp_path):
    gone = "NOWHERE" + ".md"  # spelled in two parts so that this file names no missing file
    note = tmp_path / "n.txt"
    note.write_text(f"See {gone} and theory/clarke.md and https://x.org/a/b.md.")
    assert _named_files(note) == {gone, "theory/clarke.md"}
    assert not _resolves(gone, note) and _resolves("theory/clarke.md", note)


# --- function length ---------------------------------------------------------------------------

MAX_LINES = 80


def _long_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        f"{path.relative_to(ROOT)}::{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > MAX_LINES
    ]


_MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "kernels" not in p.relative_to(PACKAGE).parts)


@pytest.mark.parametrize("path", _MODULES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_functions_are_at_most_80_lines(path):
    assert not _long_functions(path)
