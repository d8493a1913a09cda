"""Sphinx configuration: MyST Markdown pages, an API reference generated from the docstrings.

``make docs`` builds with ``-W --keep-going -n``: every warning fails the build, and so does every
cross-reference that does not resolve (nitpicky mode).

No intersphinx: the build must work offline (CI reaches PyPI but not docs sites), so references
to other projects' types (Airflow, requests, pendulum, pyarrow, the standard library...) cannot
resolve. ``nitpick_ignore_regex`` below lists them by package (and by the short names modules
import under ``TYPE_CHECKING``), plus the provider's private modules and type variables; any
other unresolved reference, to this provider's public objects above all, fails the build.

Three small event handlers keep the API reference exact: unqualified names resolve to the one
documented object that has them (``missing-reference``), builtins in annotations are not linked to
an attribute of the same name, and dataclass defaults such as ``<factory>`` do not break signature
parsing.
"""

from __future__ import annotations

import builtins
import importlib
import inspect
import os
import re
import sys
from pathlib import Path
from typing import Any

from sphinx import addnodes
from sphinx.ext import napoleon
from sphinx.util.nodes import make_refnode

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS))
sys.path.insert(0, str(DOCS.parent))

# Importing the operators imports Airflow, which writes an airflow.cfg into AIRFLOW_HOME: a docs
# build never touches the user's Airflow home.
os.environ["AIRFLOW_HOME"] = str(DOCS / "_build" / "airflow-home")
os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"

import apigen  # noqa: E402  (the docs folder is on sys.path only now)

import airflow_provider_inventory  # noqa: E402

project = "airflow-provider-inventory"
author = "The airflow-provider-inventory authors"
copyright = "The airflow-provider-inventory authors"
release = airflow_provider_inventory.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "examples", "README.md"]

# MyST: ``{class}`` roles, ```{literalinclude}``` fences, heading anchors for links between pages.
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# Autodoc: members in source order, signatures with their type hints.
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True  # `clock=time.monotonic`, not an unparsable `<built-in ...>`
autodoc_default_options = {"show-inheritance": True}
python_use_unqualified_type_names = True  # `RecordStream`, linked, not its dotted path
# Google-style sections ("Args:", "Returns:", "Attributes:") of classes and callables, read by
# napoleon next to reST field lists (properties' too). Not of attributes and data: napoleon would
# read the words before a colon of their prose ("How a field is stored: ...") as a type.
napoleon_numpy_docstring = False
napoleon_use_ivar = True  # "Attributes:" as fields: no second description of each attribute
napoleon_use_rtype = False
napoleon_custom_sections = [("Keys", "params_style")]  # the keys of a TypedDict
_NAPOLEON_KINDS = {"module", "class", "exception", "function", "method"}

html_theme = "furo"
html_title = f"airflow-provider-inventory {release}"
html_static_path: list[str] = []

nitpicky = True
# Other projects' objects: there is no intersphinx inventory to resolve them against offline.
_EXTERNAL_PACKAGES = (
    "airflow",
    "requests",
    "urllib3",
    "pendulum",
    "pyarrow",
    "pa",
    "np",
    "fsspec",
    "upath",
    "tenacity",
    "openlineage",
    "sqlalchemy",
    # the standard library
    "collections",
    "concurrent",
    "contextlib",
    "datetime",
    "enum",
    "http",
    "io",
    "logging",
    "os",
    "pathlib",
    "heapq",
    "queue",
    "random",
    "re",
    "socketserver",
    "threading",
    "types",
    "typing",
    "urllib",
)
# The same, named as the modules import them (``from airflow.sdk import Context`` under
# ``TYPE_CHECKING``, so the annotation holds only the short name).
_EXTERNAL_NAMES = (
    "AbstractFileSystem",
    "AirflowException",
    "AirflowSensorTimeout",
    "Asset",
    "Callable",
    "Connection",
    "Context",
    "datetime",
    "ObjectStoragePath",
    "PokeReturnValue",
    "TaskDeferred",
)
nitpick_ignore_regex = [
    (r"py:.*", rf"({'|'.join(_EXTERNAL_PACKAGES)})\..*"),
    (r"py:.*", rf"{'|'.join(_EXTERNAL_NAMES)}"),
    # Internals that signatures mention (settings, the HTTP client, trigger plumbing): private
    # modules are not documented, except the supporting types apigen.SUPPORTING lists.
    (r"py:.*", r"airflow_provider_inventory\.(\w+\.)*_\w+(\..*)?"),
    # Private aliases: a filter value is a string, a list of strings or None (the parameter says
    # which); a trigger's readiness and a fetched page are internal.
    (r"py:.*", r"FilterValue|Readiness|Page|ResourceSchema"),
    # Type variables of generic classes (``PollingTrigger[H, T]``, ``InventoryListOperator[HookT]``).
    (r"py:.*", r"(airflow_provider_inventory\.[\w.]+\.)?(H|T|HookT)"),
]


# The API reference is regenerated before every build (see apigen.py), so a fresh clone has it
# and a new public module gets its page.
apigen.write_api_pages(DOCS / "api")


def _resolve_short_name(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    """Resolve a Python reference by its unqualified name when exactly one documented object has
    it (annotations imported under ``TYPE_CHECKING`` keep only the short name, and docstrings
    written for readers of the source say ``PollingTrigger`` rather than the full path)."""
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip("~.")
    objects = env.get_domain("py").objects
    if target.startswith(f"{apigen.PACKAGE}."):
        # A re-export (``airflow_provider_inventory.records.Watermark``): where it is defined.
        where, short = target.rsplit(".", 1)
        found = [n for n in objects if n.startswith(f"{where}.") and n.endswith(f".{short}")]
    else:
        found = [n for n in objects if n == target or n.endswith(f".{target}")]
    found = [name for name in found if not objects[name].aliased]
    if len(found) != 1:
        found = _inherited(node, target, objects)
    if len(found) != 1:
        return None
    entry = objects[found[0]]
    return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id, contnode)


def _google_sections(  # noqa: PLR0917  (the signature of a Sphinx event handler)
    app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    if what in _NAPOLEON_KINDS:
        napoleon._process_docstring(app, what, name, obj, options, lines)
    elif what == "property":  # its sections ("Raises:"), without reading its prose as a type
        napoleon._process_docstring(app, "method", name, obj, options, lines)


def _builtins_are_builtins(app: Any, doctree: Any) -> None:
    """Type annotations ``bytes``, ``dict``... name the builtins, not an attribute that happens to
    be called ``bytes`` (Sphinx's fuzzy search would link ``bytes`` to ``Manifest.bytes``)."""
    for node in doctree.findall(addnodes.pending_xref):
        if node.get("refdomain") == "py" and node.get("reftarget") in _BUILTIN_NAMES:
            node.attributes.pop("refspecific", None)


_BUILTIN_NAMES = frozenset(name for name in dir(builtins) if not name.startswith("_"))


def _parsable_defaults(  # noqa: PLR0917  (the signature of a Sphinx event handler)
    app: Any, what: str, name: str, obj: Any, options: Any, signature: str | None, ret: str | None
) -> tuple[str | None, str | None]:
    """Defaults whose repr is not Python (a dataclass field's ``<factory>``) shown as ``...``;
    Sphinx otherwise cannot parse the signature and links ``dict[str`` as a type."""
    if signature:
        signature = _REPR_DEFAULT.sub("=...", signature)
    return signature, ret


_REPR_DEFAULT = re.compile(r"\s*=\s*<[^<>]*>")


def _inherited(node: Any, target: str, objects: dict[str, Any]) -> list[str]:
    """``:meth:`close``` in a class's docstring: the member of the nearest documented base."""
    module, owner = node.get("py:module"), node.get("py:class")
    if not (module and owner):
        return []
    try:
        cls = getattr(importlib.import_module(module), owner.split(".")[0])
    except (ImportError, AttributeError):
        return []
    for base in inspect.getmro(cls) if inspect.isclass(cls) else ():
        name = f"{base.__module__}.{base.__qualname__}.{target}"
        if name in objects:
            return [name]
    return []


def setup(app: Any) -> dict[str, Any]:
    # napoleon, but for the kinds of _NAPOLEON_KINDS only.
    for listener in list(app.events.listeners.get("autodoc-process-docstring", [])):
        if listener.handler is napoleon._process_docstring:
            app.disconnect(listener.id)
    app.connect("autodoc-process-docstring", _google_sections)
    app.connect("missing-reference", _resolve_short_name)
    app.connect("doctree-read", _builtins_are_builtins)
    app.connect("autodoc-process-signature", _parsable_defaults)
    return {"parallel_read_safe": True}
