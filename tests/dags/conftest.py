"""Running whole DAGs with ``dag.test()``: a migrated metadata database and DAG bundles.

``dag.test()`` needs a migrated metadata database and finds the DAG it runs in a DAG bundle.
The session fixture :func:`airflow_db` migrates the throwaway database the top-level conftest
configured and declares three local bundles: ``example_dags/`` (the shipped examples),
``docs/examples/`` (the documentation's examples) and ``tests/dags/dag_files/`` (DAGs that exist
only for tests; put test DAG files there, not in test modules). Tests request ``airflow_db`` (or
use it through ``pytestmark``), then use the helpers in :mod:`tests.dags.dagruns` to run a DAG and
read its results.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dags.dagruns import DOCS_EXAMPLES, EXAMPLE_DAGS, TEST_DAGS

LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"


def _bundle(name: str, path: Path) -> dict[str, Any]:
    return {"name": name, "classpath": LOCAL_BUNDLE, "kwargs": {"path": str(path)}}


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[None]:
    """Migrate the test metadata database once and point Airflow's DAG bundles at our DAGs."""
    bundles = [
        _bundle("inventory_examples", EXAMPLE_DAGS),
        _bundle("inventory_docs_examples", DOCS_EXAMPLES),
        _bundle("inventory_test_dags", TEST_DAGS),
    ]
    overrides = {
        "AIRFLOW__CORE__DAGS_FOLDER": str(EXAMPLE_DAGS),
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles),
    }
    saved = {name: os.environ.get(name) for name in overrides}
    os.environ.update(overrides)
    database = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
    if "inventory-airflow-home-" not in database:
        pytest.fail(
            f"Refusing to migrate {database!r}: DAG tests only run against the throwaway "
            f"database tests/conftest.py configures. Unset AIRFLOW_HOME and "
            f"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN before running pytest."
        )
    from airflow.utils import db

    db.initdb()
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
