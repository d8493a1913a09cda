"""The provider is discoverable by Airflow with both connection types and their form fields."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_inventory import get_provider_info

PACKAGE = "airflow-provider-inventory"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def providers_manager():  # type: ignore[no-untyped-def]
    from airflow.providers_manager import ProvidersManager

    return ProvidersManager()


def test_provider_is_discovered(providers_manager) -> None:  # type: ignore[no-untyped-def]
    assert PACKAGE in providers_manager.providers
    assert providers_manager.providers[PACKAGE].data["name"] == get_provider_info()["name"]


@pytest.mark.parametrize(
    ("conn_type", "hook_class", "hook_name"),
    [
        ("pack", "airflow_provider_inventory.hooks.pack.PackHook", "Pack"),
        (
            "commercelayer",
            "airflow_provider_inventory.hooks.commercelayer.CommerceLayerHook",
            "Commerce Layer",
        ),
    ],
)
def test_connection_types_registered(providers_manager, conn_type, hook_class, hook_name) -> None:  # type: ignore[no-untyped-def]
    hook_info = providers_manager.hooks[conn_type]
    assert hook_info is not None, f"{conn_type} hook failed to import"
    assert hook_info.hook_class_name == hook_class
    assert hook_info.hook_name == hook_name
    assert hook_info.package_name == PACKAGE
    module_name, class_name = hook_class.rsplit(".", 1)
    hook_cls = getattr(__import__(module_name, fromlist=[class_name]), class_name)
    assert hook_cls.conn_type == conn_type
    assert hook_cls.hook_name == hook_name


def test_pack_form_fields(providers_manager) -> None:  # type: ignore[no-untyped-def]
    behaviour = providers_manager.field_behaviours["pack"]
    assert behaviour["relabeling"]["password"] == "API token"
    assert "port" in behaviour["hidden_fields"]
    widgets = providers_manager.connection_form_widgets
    for field in ("organization_id", "auth_scheme", "read_timeout", "max_attempts"):
        assert f"extra__pack__{field}" in widgets


def test_pack_form_marks_organization_id_required() -> None:
    """Every Pack listing needs it: the form says so (label, description, non-null schema)."""
    pack = next(
        c for c in get_provider_info()["connection-types"] if c["connection-type"] == "pack"
    )
    field = pack["conn-fields"]["organization_id"]

    assert field["schema"] == {"type": "string", "minLength": 1}
    assert "required" in field["label"].lower()
    assert field["description"].startswith("Required")
    assert "organization_id" in pack["ui-field-behaviour"]["placeholders"]


def test_commercelayer_form_fields(providers_manager) -> None:  # type: ignore[no-untyped-def]
    behaviour = providers_manager.field_behaviours["commercelayer"]
    assert behaviour["relabeling"]["login"] == "Client ID"
    assert behaviour["relabeling"]["password"] == "Client secret"
    widgets = providers_manager.connection_form_widgets
    for field in ("scope", "auth_url", "rate_limit_average", "rate_limit_burst", "read_timeout"):
        assert f"extra__commercelayer__{field}" in widgets


def test_airflow_cli_lists_provider(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path)}
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)  # it prints a banner line on stdout
    airflow = os.path.join(os.path.dirname(sys.executable), "airflow")
    listed = subprocess.run(
        [airflow, "providers", "list", "--output", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    # Airflow 3.0 logs to stdout too: the JSON is the line that starts with a list of objects.
    table = next(line for line in listed.stdout.splitlines() if line.startswith("[{"))
    packages = {row["package_name"] for row in json.loads(table)}
    assert PACKAGE in packages


def test_package_import_is_cheap() -> None:
    """Provider discovery imports the package on every Airflow process start: keep it bare."""
    code = (
        "import sys, airflow_provider_inventory;"
        "heavy = [m for m in ('airflow', 'requests', 'urllib3', 'pendulum') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_package_metadata_points_at_the_readme_and_carries_the_license() -> None:
    """Installed metadata: one version, the README as documentation, the provider classifiers."""
    from importlib.metadata import metadata

    import airflow_provider_inventory

    meta = metadata(PACKAGE)
    urls = dict(entry.split(", ", 1) for entry in meta.get_all("Project-URL") or [])
    assert meta["Version"] == airflow_provider_inventory.__version__
    assert urls["Documentation"] == airflow_provider_inventory.DOCUMENTATION_URL
    assert get_provider_info()["documentation-url"] == urls["Documentation"]
    assert {"Source", "Changelog"} <= set(urls)
    assert "Framework :: Apache Airflow :: Provider" in meta.get_all("Classifier")
    assert "airflow-provider" in (meta["Keywords"] or "")
    assert meta["License-Expression"] == "Apache-2.0"


def ci_python_versions() -> set[str]:
    """The Python versions CI runs the suite on: the ``PYTHON=pythonX.Y`` interpreter ``.ci/run``
    names (``make`` builds the newest release's virtualenv with ``$(PYTHON)``) and the Makefile's
    ``LOWEST_PYTHON_VERSION`` (the lowest release's virtualenv)."""
    text = (REPO / ".ci" / "run").read_text() + (REPO / "Makefile").read_text()
    newest = re.findall(r"^\s*(?:export\s+)?PYTHON\s*[?:]?=\s*python(3\.\d+)\s*$", text, re.M)
    lowest = re.findall(r"^LOWEST_PYTHON_VERSION\s*[?:]?=\s*(3\.\d+)\s*$", text, re.M)
    return {*newest, *lowest}


def test_the_classifiers_list_exactly_the_python_versions_ci_tests() -> None:
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    prefix = "Programming Language :: Python :: 3."
    listed = {c.rsplit(" :: ", 1)[1] for c in project["classifiers"] if c.startswith(prefix)}
    tested = ci_python_versions()

    assert tested, ".ci/run names no interpreter: export PYTHON=python3.X there"
    assert listed == tested
