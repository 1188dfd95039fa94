"""The import graph of the product code, read with ``ast`` (nothing is imported).

Layers (docs/architecture.md): ``scones_domain`` (functions/shared/, shipped as SharedLayer and
installed with the CLI) is the bottom; the Lambda functions and ``model`` sit on it alone;
``scones`` (the CLI and the local runtime) stands beside the product and uses it. Every
``import`` counts, also one inside a function or under TYPE_CHECKING: a lazy import is still a
dependency.
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


# What each folder may import of the project besides itself (docs/architecture.md): the domain
# imports nothing of the project, the functions and the model only the domain, the CLI's
# folders the ones below them. scones/demo.py and scones/cli.py sit on top and may import any.
MAY_IMPORT = {
    "scones_domain": set(),
    "functions": {"scones_domain"},
    "model": {"scones_domain"},
    "scones.local": set(),
    "scones.serving": {"scones_domain"},
    "scones.workflow": {"model", "scones.local", "scones.serving", "scones_domain"},
    "scones.monitor": {"scones.local", "scones.review", "scones_domain"},
    "scones.scale": {"scones_domain"},
    "scones.retrain": {"model", "scones.local", "scones_domain"},
    "scones.review": {"scones.local", "scones_domain"},
}


def folder_of(module: str) -> str:
    """``scones.<sub>`` for a module of a scones subpackage, else the top-level package."""
    parts = module.split(".")
    sub = ".".join(parts[:2])
    if parts[0] == "scones" and len(parts) > 1 and sub in MODULES and (
            MODULES[sub].name == "__init__.py"):
        return sub
    return parts[0]


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


@pytest.mark.parametrize("folder", sorted(MAY_IMPORT))
def test_each_folder_imports_only_the_folders_below_it(folder):
    # GIVEN every import of the folder's modules, by the folder it lands in
    wrong = {module: {folder_of(t) for t in targets} - MAY_IMPORT[folder] - {folder}
             for module, targets in GRAPH.items() if folder_of(module) == folder}
    # THEN none lands in a folder the table does not allow (one above it, or beside it)
    assert {module: found for module, found in wrong.items() if found} == {}


def test_the_domain_needs_nothing_the_lambda_runtime_lacks():
    # GIVEN every import of scones_domain that is not the standard library or the project
    third_party = {
        m: {i.split(".")[0] for i in imported_names(m, MODULES[m])
            if i and i.split(".")[0] not in sys.stdlib_module_names | PACKAGE_ROOTS.keys()}
        for m in MODULES if top(m) == "scones_domain"
    }
    # THEN it is boto3/botocore only: SharedLayer ships scones_domain as it is
    assert {m: p - LAMBDA_RUNTIME for m, p in third_party.items() if p - LAMBDA_RUNTIME} == {}


def test_no_import_cycle_among_project_modules():
    assert cycles(GRAPH) == []


@pytest.mark.parametrize(("graph", "expected"), [
    ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
])
def test_cycle_finder(graph, expected):
    assert cycles(graph) == expected
