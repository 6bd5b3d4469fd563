"""No import circle between the package's modules: each module's imports, read from its source, form no cycle."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The installed package's folders (pyproject's package-dir): runtime, training and export.
PACKAGES = {"sentiment_batch": REPO / "sentiment_batch", "sentiment_batch.train": REPO / "train"}
PACKAGES["sentiment_batch.export"] = REPO / "export"


def module_files() -> dict[str, Path]:
    """Every Python module of the package, and every C extension (its `.c` source: it imports nothing of ours)."""
    modules = {}
    for package, folder in PACKAGES.items():
        for path in sorted([*folder.glob("*.py"), *folder.glob("*.c")]):
            modules[package if path.stem == "__init__" else f"{package}.{path.stem}"] = path
    return modules


def is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported(module: str, path: Path, known: set[str]) -> set[str]:
    """The package modules `module` imports anywhere in its code (functions included), `TYPE_CHECKING` blocks aside."""
    package = module if path.stem == "__init__" else module.rpartition(".")[0]
    found = set()
    if path.suffix != ".py":
        return found
    pending = list(ast.parse(path.read_text(encoding="utf-8")).body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and is_type_checking(node):
            pending += node.orelse
            continue
        pending += list(ast.iter_child_nodes(node))
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            # `from PACKAGE import NAME` imports the module PACKAGE.NAME when there is one, else PACKAGE itself.
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        found |= {name for name in names if name in known}
    return found - {module}


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    return {module: imported(module, path, set(files)) for module, path in files.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_the_graph_sees_the_imports_that_matter():
    graph = import_graph()
    assert "sentiment_batch.scorer" in graph["sentiment_batch.local_engine"]
    assert "sentiment_batch.spark_engine" in graph["sentiment_batch.scoring_cli"]
    assert "sentiment_batch.spark" in graph["sentiment_batch.spark_engine"]  # imported inside a function
    assert "sentiment_batch.bundle" in graph["sentiment_batch.export.exporter"]
    assert "sentiment_batch.scorer" in graph["sentiment_batch"]  # lazily, by name (and under TYPE_CHECKING)
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circle():
    assert cycles(import_graph()) == []


def test_the_runtime_never_imports_training_or_export():
    graph = import_graph()
    runtime = [module for module in graph if not module.startswith(("sentiment_batch.train", "sentiment_batch.export"))]
    assert runtime and all(
        not target.startswith(("sentiment_batch.train", "sentiment_batch.export"))
        for module in runtime
        for target in graph[module]
    )
