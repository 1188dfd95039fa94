"""The model package's imports form a DAG that points from the commands down to the steps
(fast: reads the sources with ast, imports nothing)."""

from __future__ import annotations

import ast
from pathlib import Path

MODEL = Path(__file__).resolve().parents[2] / "model"
MODULES = sorted(p.stem for p in MODEL.glob("*.py") if p.stem != "__init__")


def project_imports(module: str) -> list[tuple[str, bool]]:
    """(imported model module, imported inside a function or class?) for every import."""
    found = []
    for node in ast.walk(ast.parse((MODEL / f"{module}.py").read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "model":
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("model."):
            names = [node.module.split(".")[1]]
        elif isinstance(node, ast.Import):
            names = [a.name.split(".")[1] for a in node.names if a.name.startswith("model.")]
        else:
            continue
        found += [(name, node.col_offset > 0) for name in names if name in MODULES]
    return found


GRAPH = {module: {name for name, _ in project_imports(module)} for module in MODULES}


def test_the_imports_have_no_cycle():
    # GIVEN every model module's imports WHEN they are walked depth-first THEN none comes back
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        for target in GRAPH[module]:
            assert target not in path, f"import cycle: {' -> '.join((*path, target))}"
            if target not in done:
                visit(target, (*path, target))
        done.add(module)

    for module in MODULES:
        visit(module, (module,))


def test_the_shipped_serving_code_and_the_command_line_are_the_ends_of_the_graph():
    # inference.py is copied into the artifact as code/inference.py: it stands alone
    assert GRAPH["inference"] == set()
    # the command line sits on top: no module imports it
    assert [module for module in MODULES if "cli" in GRAPH[module]] == []


def test_each_step_imports_no_later_step_and_only_at_module_level():
    # GIVEN the steps in pipeline order, and the pipeline above them
    steps = ["data", "augment", "train", "calibrate", "package"]
    assert {"train", "calibrate", "package"} <= GRAPH["pipeline"]
    # THEN a step never imports a step after it (nor the pipeline)
    for index, step in enumerate(steps):
        later = {*steps[index + 1 :], "pipeline"}
        assert not GRAPH[step] & later, f"{step} imports {GRAPH[step] & later}"
    # AND outside the command line no import hides inside a function
    hidden = {(module, name) for module in MODULES if module != "cli"
              for name, nested in project_imports(module) if nested}
    assert hidden == set()
