"""The documentation: the README is a small landing page whose links resolve, and the API
reference (``make docs``) has an entry for every public class and function."""

from __future__ import annotations

import os
import re
import sys
import zlib
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
README = REPO / "README.md"
INVENTORY = DOCS / "_build" / "html" / "objects.inv"
#: Set by ``make docs`` after building: a missing inventory is then a failure, not a skip.
REQUIRE_BUILD = "INVENTORY_DOCS_BUILT"

_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def apigen() -> ModuleType:
    """``docs/apigen.py``, which decides what the API reference documents."""
    sys.path.insert(0, str(DOCS))
    try:
        import apigen

        return apigen
    finally:
        sys.path.remove(str(DOCS))


def markdown_links(text: str) -> list[str]:
    """The targets of the Markdown links of ``text``, outside code blocks."""
    return _LINK.findall(_FENCE.sub("", text))


def heading_anchors(path: Path) -> set[str]:
    """The anchors GitHub (and MyST's ``myst_heading_anchors``) give the headings of ``path``."""
    anchors = set()
    for line in _FENCE.sub("", path.read_text()).splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            title = re.sub(r"[^\w\- ]", "", title)
            anchors.add(title.replace(" ", "-"))
    return anchors


def read_inventory(path: Path) -> set[str]:
    """The object names in a Sphinx ``objects.inv`` (version 2: a header, then zlib)."""
    header, _, body = path.read_bytes().partition(b"zlib.\n")
    assert header.startswith(b"# Sphinx inventory version 2"), header[:40]
    lines = zlib.decompress(body).decode().splitlines()
    return {line.split(" ", 1)[0] for line in lines if line.strip()}


def newest_source() -> float:
    """When a module of the package last changed."""
    return max(path.stat().st_mtime for path in (REPO / "airflow_provider_inventory").rglob("*.py"))


def test_readme_is_a_landing_page_under_10_kb() -> None:
    text = README.read_text()

    assert README.stat().st_size < 10 * 1024
    for command in ("make demo", "make test"):
        assert command in text


def test_every_relative_link_of_the_readme_resolves() -> None:
    links = [link for link in markdown_links(README.read_text()) if "://" not in link]
    assert any(link.startswith("docs/") for link in links), "the README links into the docs"

    for link in links:
        target, _, anchor = link.partition("#")
        path = (REPO / target) if target else README
        assert path.exists(), f"README links to {target}, which does not exist"
        if anchor:
            assert anchor in heading_anchors(path), f"README links to a missing anchor: {link}"


def test_the_readme_example_is_the_tested_docs_example() -> None:
    """The README's quick example is ``docs/examples/quickstart.py`` verbatim, which
    ``tests/dags/test_docs_examples.py`` runs against the sandbox."""
    blocks = re.findall(r"^```python\n(.*?)^```", README.read_text(), re.MULTILINE | re.DOTALL)

    assert (DOCS / "examples" / "quickstart.py").read_text() in blocks


def test_the_api_reference_covers_every_public_module() -> None:
    """Every module file of the documented packages is in the reference unless it is private, so
    a new module gets its page without editing the docs."""
    gen = apigen()
    package = REPO / gen.PACKAGE
    on_disk = set()
    for short in gen.DOCUMENTED:
        folder = package / short
        files = sorted(folder.rglob("*.py")) if folder.is_dir() else [package / f"{short}.py"]
        for file in files:
            parts = file.relative_to(REPO).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            if not any(part.startswith("_") for part in parts):
                on_disk.add(".".join(parts))

    assert set(gen.public_modules()) == on_disk
    assert f"{gen.PACKAGE}.hooks._host" not in gen.public_modules()


def test_the_built_api_reference_has_every_public_class_and_function() -> None:
    if os.environ.get(REQUIRE_BUILD):
        assert INVENTORY.exists(), f"{INVENTORY} is missing: the docs build did not write it"
    elif not INVENTORY.exists():
        pytest.skip("the documentation is not built (make docs builds it and runs this test)")
    elif INVENTORY.stat().st_mtime < newest_source():
        pytest.skip("the documentation build is older than the code: make docs rebuilds it")
    documented = read_inventory(INVENTORY)
    public = set(apigen().public_objects())

    assert public, "no public objects found"
    assert {"airflow_provider_inventory.hooks.pack.PackHook"} <= public
    assert sorted(public - documented) == []
