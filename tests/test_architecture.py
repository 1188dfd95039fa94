"""The import graph of the product code, read with ``ast`` (nothing is imported).

Layers: ``scones_domain`` (functions/shared/, shipped as SharedLayer and installed with the
CLI) is the bottom; the Lambda functions sit on it alone; ``model`` may use it; ``scones`` (the
CLI and the local runtime) may use all three. Every ``import`` counts, also one inside a function
or under TYPE_CHECKING: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE_ROOTS = {  # project package -> the folder that holds it
    "scones_domain": REPO_ROOT / "functions" / "shared",
    "scones": REPO_ROOT,
    "model": REPO_ROOT,
}
# What the Lambda runtime has besides the standard library, and all the layer may assume.
LAMBDA_RUNTIME = {"boto3", "botocore"}


def module_files() -> dict[str, Path]:
    """Module name -> file, for every module of the project packages and every function
    (``functions.<name>.app``)."""
    modules = {}
    for package, root in PACKAGE_ROOTS.items():
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    for path in sorted((REPO_ROOT / "functions").glob("*/app.py")):
        modules[f"functions.{path.parent.name}.app"] = path
    return modules


MODULES = module_files()


def imported_names(name: str, path: Path) -> Iterator[str]:
    """Every absolute module name ``path`` imports (``from a import b`` yields ``a.b`` and
    ``a``: b may be a module or a name defined in a)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def project_module(imported: str) -> str | None:
    """The project module an imported name lands in (the longest known prefix), or None."""
    parts = imported.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in MODULES:
            return ".".join(parts[:end])
    return None


def dependencies() -> dict[str, set[str]]:
    """Module -> the project modules it imports (itself excluded)."""
    graph = {}
    for name, path in MODULES.items():
        targets = {project_module(i) for i in imported_names(name, path)}
        graph[name] = {t for t in targets if t and t != name}
    return graph


GRAPH = dependencies()


def top(module: str) -> str:
    return module.split(".")[0]


def imports_of(layer: str) -> dict[str, set[str]]:
    """Module of ``layer`` -> the project packages it imports."""
    return {m: {top(t) for t in targets} for m, targets in GRAPH.items() if top(m) == layer}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(graph)))
    try:
        for node in sorted(graph):
            if node not in index:
                visit(node)
    finally:
        sys.setrecursionlimit(limit)
    return found


def test_the_graph_covers_every_layer():
    layers = {top(m) for m in MODULES}
    assert layers == {"scones_domain", "scones", "model", "functions"}
    # a sanity check of the reader: known edges are seen
    assert "scones_domain.errors" in GRAPH["scones_domain.events"]
    assert "scones_domain.monitoring.captures" in GRAPH["functions.monitor_captures.app"]


def test_the_domain_imports_neither_the_cli_nor_the_model():
    wrong = {m: packages & {"scones", "model", "functions"}
             for m, packages in imports_of("scones_domain").items()}
    assert {m: p for m, p in wrong.items() if p} == {}


def test_the_domain_needs_nothing_the_lambda_runtime_lacks():
    # GIVEN every import of scones_domain that is not the standard library or the project
    third_party = {
        m: {i.split(".")[0] for i in imported_names(m, MODULES[m])
            if i and i.split(".")[0] not in sys.stdlib_module_names | PACKAGE_ROOTS.keys()}
        for m in MODULES if top(m) == "scones_domain"
    }
    # THEN it is boto3/botocore only: SharedLayer ships scones_domain as it is
    assert {m: p - LAMBDA_RUNTIME for m, p in third_party.items() if p - LAMBDA_RUNTIME} == {}


def test_functions_import_only_the_domain_among_project_packages():
    wrong = {m: packages - {"scones_domain"} for m, packages in imports_of("functions").items()}
    assert {m: p for m, p in wrong.items() if p} == {}


def test_the_model_does_not_import_the_cli():
    wrong = {m: packages & {"scones", "functions"} for m, packages in imports_of("model").items()}
    assert {m: p for m, p in wrong.items() if p} == {}


def test_no_import_cycle_among_project_modules():
    assert cycles(GRAPH) == []


@pytest.mark.parametrize(("graph", "expected"), [
    ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
])
def test_cycle_finder(graph, expected):
    assert cycles(graph) == expected
