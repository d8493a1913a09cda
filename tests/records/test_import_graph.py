"""The modules of ``records/`` import each other without a circle (deferred imports included)."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import airflow_provider_inventory.records as records_package

PACKAGE = "airflow_provider_inventory.records"


def runtime_imports(source: str) -> set[str]:
    """The ``records`` modules a module imports at run time, at any depth (not under
    ``if TYPE_CHECKING:``)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(f"{PACKAGE}."):
            found.add(node.module.removeprefix(f"{PACKAGE}."))  # type: ignore[union-attr]
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source))
    return found


def test_records_modules_form_no_import_circle() -> None:
    folder = Path(records_package.__file__).parent
    graph = {
        path.stem: runtime_imports(path.read_text(encoding="utf-8"))
        for path in folder.glob("*.py")
        if path.stem != "__init__"
    }
    assert graph["manifest"] == {"filtering", "format_names"}

    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as error:  # pragma: no cover - the failure message
        raise AssertionError(f"import circle in records/: {error.args[1]}") from None
    assert order.index("changes") > order.index("storage")
    assert order.index("formats") > order.index("changes")
