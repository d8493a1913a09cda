"""Every Commerce Layer query the project shows passes the schema checks.

Scans the example DAGs, benchmarks, tests and documentation (Python code blocks of the Markdown
pages) for calls that list Commerce Layer resources (hook methods, operators, sensors, triggers)
and runs each literal ``filters`` / ``sort`` / ``fields`` / ``include`` through
:func:`~airflow_provider_inventory.hooks._commercelayer_query.check_schema`. Calls made to fail
(inside ``pytest.raises``, or marked ``# schema-checks: refused``) or sent unchecked on purpose
(``schema_checks=False``) are left out.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_inventory.hooks._commercelayer_query import check_schema
from airflow_provider_inventory.hooks._commercelayer_schema import api_schema

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("example_dags", "benchmarks", "tests", "airflow_provider_inventory")
DOCUMENTS = ("docs", "README.md", "CHANGELOG.md")
#: Callables whose resource is the first argument or the ``resource`` keyword.
BY_RESOURCE = {
    "iter_resources",
    "list_resources",
    "count",
    "plan_partitions",
    "get_resource",
    "build_query",
    "check_schema",
    "CommerceLayerListOperator",
    "CommerceLayerPartitionPlanOperator",
    "CommerceLayerResourceSensor",
    "CommerceLayerResourceTrigger",
}
#: Callables that always list packages.
PACKAGES = {
    "iter_packages",
    "list_packages",
    "CommerceLayerPackagesOperator",
    "CommerceLayerPackageSensor",
}
QUERY_ARGUMENTS = ("filters", "sort", "fields", "include")
#: A comment marking a query that a test expects the checks to refuse.
REFUSED = "# schema-checks: refused"
_CODE_BLOCK = re.compile(r"```(?:python|py|\{code-block\} python)\n(.*?)```", re.DOTALL)


@dataclass(frozen=True)
class Use:
    """One query found in the project: where, the resource and its literal arguments."""

    where: str
    resource: str
    arguments: dict[str, Any]


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def _unchecked(node: ast.With) -> bool:
    """A ``with`` whose queries are meant to fail or to go out unchecked."""
    for item in node.items:
        call = item.context_expr
        if not isinstance(call, ast.Call):
            continue
        if _name(call.func) == "raises":
            return True
        for keyword in call.keywords:
            value = keyword.value
            if keyword.arg == "schema_checks" and isinstance(value, ast.Constant):
                return value.value is False
    return False


def _literal(node: ast.expr) -> Any:
    if isinstance(node, ast.Dict):  # filter values may be templates or variables: keys matter
        if all(isinstance(key, ast.Constant) for key in node.keys):
            return {key.value: None for key in node.keys if isinstance(key, ast.Constant)}
        raise ValueError("not literal")
    value = ast.literal_eval(node)
    if "{{" in str(value):
        raise ValueError("a template")
    if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
        return ast.literal_eval(value)  # what a rendered template looks like to the operator
    return value


def _resource(call: ast.Call, name: str) -> str | None:
    if name in PACKAGES:
        return "packages"
    candidates = [kw.value for kw in call.keywords if kw.arg == "resource"]
    if not candidates and call.args:
        candidates = [call.args[0]]
    if candidates and isinstance(candidates[0], ast.Constant):
        value = candidates[0].value
        return value if isinstance(value, str) else None
    return None


def _uses(tree: ast.AST, where: str, source: str) -> Iterator[Use]:
    lines = source.splitlines()

    def marked(node: ast.Call) -> bool:
        text = lines[node.lineno - 1 : node.end_lineno or node.lineno]
        return any(REFUSED in line for line in text)

    def visit(node: ast.AST, skipped: bool) -> Iterator[Use]:
        if isinstance(node, ast.With | ast.AsyncWith):
            skipped = skipped or _unchecked(node)  # type: ignore[arg-type]
        if isinstance(node, ast.Call) and not skipped and not marked(node):
            name = _name(node.func)
            if name in BY_RESOURCE or name in PACKAGES:
                yield from _use(node, name, where)
        for child in ast.iter_child_nodes(node):
            yield from visit(child, skipped)

    yield from visit(tree, False)


def _use(call: ast.Call, name: str, where: str) -> Iterator[Use]:
    keywords = {kw.arg: kw.value for kw in call.keywords if kw.arg}
    flag = keywords.get("schema_checks")
    if isinstance(flag, ast.Constant) and flag.value is False:
        return
    resource = _resource(call, name)
    if resource is None or api_schema().get(resource) is None:
        return  # a variable, or a deliberately unknown resource (tested elsewhere)
    arguments = {}
    for argument in QUERY_ARGUMENTS:
        if argument in keywords:
            try:
                arguments[argument] = _literal(keywords[argument])
            except (ValueError, TypeError, SyntaxError):
                continue
    if arguments:
        yield Use(f"{where}:{call.lineno}", resource, arguments)


def project_uses() -> list[Use]:
    """Every literal Commerce Layer query in the project's code and documentation."""
    found: list[Use] = []
    for top in SOURCES:
        for path in sorted((ROOT / top).rglob("*.py")):
            relative = str(path.relative_to(ROOT))
            source = path.read_text(encoding="utf-8")
            found.extend(_uses(ast.parse(source), relative, source))
    for top in DOCUMENTS:
        base = ROOT / top
        pages = sorted(base.rglob("*.md")) if base.is_dir() else [base] if base.exists() else []
        for page in pages:
            for number, block in enumerate(_CODE_BLOCK.findall(page.read_text(encoding="utf-8"))):
                try:
                    tree = ast.parse(block)
                except SyntaxError:
                    continue
                found.extend(_uses(tree, f"{page.relative_to(ROOT)} block {number + 1}", block))
    return found


USES = project_uses()


def test_the_scan_finds_the_projects_queries() -> None:
    places = {use.where.split(":")[0].split(" ")[0] for use in USES}
    assert len(USES) >= 20
    assert any(place.startswith("example_dags/") for place in places)
    if (ROOT / "docs").is_dir():  # not in the sdist
        assert any(place.startswith("docs/") for place in places)
    assert {use.resource for use in USES} >= {"packages", "stock_items"}


@pytest.mark.parametrize("use", USES, ids=[use.where for use in USES])
def test_every_query_of_the_project_passes_the_schema_checks(use: Use) -> None:
    check_schema(use.resource, **use.arguments)
