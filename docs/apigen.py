"""The API reference's source: every public module of the documented packages, found by walking them.

``conf.py`` calls :func:`write_api_pages` before each build, so a new public module (or a new
class or function in one) gets its page without anyone editing the docs; ``tests/test_docs.py``
uses :func:`public_objects` to check that the built inventory (``objects.inv``) has an entry for
each of them. A module or package is public when no component of its dotted name starts with
``_``; its public objects are the classes and functions it defines (not those it imports), named
in its ``__all__`` when it has one, else every name without a leading ``_``. These are the
objects Sphinx's ``automodule`` with ``:members:`` documents, so the two always agree.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from pathlib import Path

PACKAGE = "airflow_provider_inventory"
#: The documented packages and modules, in the order of the API reference.
DOCUMENTED = (
    "hooks",
    "operators",
    "sensors",
    "triggers",
    "records",
    "exceptions",
    "assets",
    "sandbox",
    "jsonapi",
    "window",
)
#: Private modules whose objects public signatures return or accept (a hook's listing returns a
#: ``RecordStream``; ``Record`` is what every listing yields): documented on their own page.
SUPPORTING = (
    "_http.stream",
    "_types",
)


def _is_public(name: str) -> bool:
    return not any(part.startswith("_") for part in name.split("."))


def public_modules() -> list[str]:
    """The dotted names of the public modules and packages of :data:`DOCUMENTED`, sorted."""
    names: list[str] = []
    for short in DOCUMENTED:
        module = importlib.import_module(f"{PACKAGE}.{short}")
        names.append(module.__name__)
        if hasattr(module, "__path__"):
            for info in pkgutil.walk_packages(module.__path__, prefix=f"{module.__name__}."):
                if _is_public(info.name):
                    names.append(info.name)
    return sorted(names, key=lambda name: (DOCUMENTED.index(name.split(".")[1]), name))


def public_objects() -> Iterator[str]:
    """The dotted names of the public classes and functions defined in :func:`public_modules`."""
    for name in public_modules():
        module = importlib.import_module(name)
        exported = getattr(module, "__all__", None)
        for attribute, value in vars(module).items():
            if not (inspect.isclass(value) or inspect.isfunction(value)):
                continue
            if getattr(value, "__module__", None) != name:
                continue  # imported here, documented where it is defined
            if attribute.startswith("_") or (exported is not None and attribute not in exported):
                continue
            yield f"{name}.{attribute}"


def _title(name: str) -> str:
    return f"``{name.removeprefix(PACKAGE + '.')}``"


def _module_page(name: str) -> str:
    title = _title(name)
    return (
        f"{title}\n{'=' * len(title)}\n\n"
        f".. automodule:: {name}\n"
        "   :members:\n"
        "   :undoc-members:\n"
        "   :ignore-module-all:\n"
        "   :show-inheritance:\n"
    )


def _index_page(modules: list[str], supporting: list[str]) -> str:
    title = "API reference"
    return (
        f"{title}\n{'=' * len(title)}\n\n"
        "Generated from the docstrings of every public module (no component of its name starts "
        "with ``_``). Classes and functions are listed where they are defined; packages such as "
        ":mod:`airflow_provider_inventory.records` re-export the most used ones.\n\n"
        ".. toctree::\n"
        "   :maxdepth: 1\n\n"
        + "".join(f"   {name}\n" for name in modules)
        + "\nSupporting types\n----------------\n\n"
        "Objects of private modules that public signatures return or accept: use them as "
        "documented here, but import them from where the public modules expose them.\n\n"
        ".. toctree::\n"
        "   :maxdepth: 1\n\n" + "".join(f"   {name}\n" for name in supporting)
    )


def write_api_pages(folder: Path) -> list[str]:
    """Write ``index.rst`` and one ``<module>.rst`` per public module into ``folder``.

    Files whose content is unchanged are not rewritten (Sphinx would rebuild them), and pages of
    modules that no longer exist are removed.

    :returns: the documented module names.
    """
    folder.mkdir(parents=True, exist_ok=True)
    modules = public_modules()
    supporting = [f"{PACKAGE}.{name}" for name in SUPPORTING]
    pages = {f"{name}.rst": _module_page(name) for name in [*modules, *supporting]}
    pages["index.rst"] = _index_page(modules, supporting)
    for stale in folder.glob("*.rst"):
        if stale.name not in pages:
            stale.unlink()
    for filename, text in pages.items():
        path = folder / filename
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
    return modules
