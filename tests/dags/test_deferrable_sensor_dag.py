"""``dag.test()`` runs a DAG of deferrable sensors end to end: defer, trigger, resume, XCom.

The DAG lives in ``tests/sensors/dag_files/`` (tests-only); this module adds that folder to the
DAG bundles the ``airflow_db`` fixture declares, for its own tests only.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from airflow_provider_inventory.sandbox import Sandbox
from tests.dags.dagruns import run_dag, xcom_value
from tests.sensors.dag_files.inventory_deferrable_sensors import (
    deferrable_sensors_dag,
    quick_timeout_dag,
)

pytestmark = [
    pytest.mark.sandbox(seed=41, serial_numbers=50, packages=20, stock_locations=2),
    pytest.mark.usefixtures("airflow_db"),
]

DAG_FILES = Path(__file__).resolve().parents[1] / "sensors" / "dag_files"
BUNDLES = "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"
LOGICAL_DATE = datetime(2025, 5, 20, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def sensor_dag_bundle(airflow_db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bundles of ``airflow_db`` plus one for the tests-only sensor DAG."""
    bundles = json.loads(os.environ[BUNDLES])
    bundles.append(
        {
            "name": "inventory_sensor_test_dags",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(DAG_FILES)},
        }
    )
    monkeypatch.setenv(BUNDLES, json.dumps(bundles))


def task_states(dag_run: object) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}  # type: ignore[attr-defined]


def test_deferrable_sensors_wait_resume_and_hand_over_their_results(sandbox_env: Sandbox) -> None:
    record = next(r for r in sandbox_env.serial_numbers() if not r["fulfillment_line_id"])

    def add_packages() -> None:
        sandbox_env.add_package(name="Awaited one")
        sandbox_env.add_package(name="Awaited two")

    def ship() -> None:
        sandbox_env.update_serial_number(record["id"], fulfillment_line_id="fl_shipped")

    # Each sensor checks on the worker (1), defers, its trigger polls (2) and then sees it (3).
    sandbox_env.schedule(2, add_packages, match="/api/")
    sandbox_env.schedule(2, ship, match="/v1/")

    dag_run = run_dag(deferrable_sensors_dag, LOGICAL_DATE, {"serial_code": record["code"]})

    assert xcom_value(dag_run, "wait_for_packages") == 2
    (shipped,) = xcom_value(dag_run, "wait_for_serial_number")
    assert (shipped["id"], shipped["fulfillment_line_id"]) == (record["id"], "fl_shipped")
    assert xcom_value(dag_run, "summarise") == {"packages": 2, "shipped": [record["code"]]}
    # Worker check, two trigger polls, then the worker's fresh check after resuming.
    assert sum(1 for r in sandbox_env.requests if r.api == "pack") == 4
    assert sum(1 for r in sandbox_env.requests if r.api == "commercelayer") == 4


def test_a_deferred_sensor_times_out_and_fails_its_task(sandbox_env: Sandbox) -> None:
    shipped = next(r for r in sandbox_env.serial_numbers() if r["fulfillment_line_id"])
    conf = {"package_prefix": "Never", "serial_code": shipped["code"]}

    dag_run = run_dag(quick_timeout_dag, LOGICAL_DATE, conf, succeed=False)

    assert dag_run.state == "failed"
    assert task_states(dag_run) == {
        "wait_for_packages": "failed",
        "wait_for_serial_number": "success",
        "summarise": "upstream_failed",
    }
