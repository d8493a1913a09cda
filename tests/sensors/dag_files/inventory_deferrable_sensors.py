"""Tests-only DAGs: both sensors deferrable, then a task that uses what they returned.

``tests/dags/test_deferrable_sensor_dag.py`` runs them with ``dag.test()``, which runs the
triggers inline. Params choose what to wait for. The two DAGs differ only in the sensors'
timeout: a generous one for runs that must succeed, a short one for runs that must time out.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, Param, dag, task

from airflow_provider_inventory.sensors.commercelayer import CommerceLayerPackageSensor
from airflow_provider_inventory.sensors.pack import PackSerialNumberSensor


def deferrable_sensors(dag_id: str, timeout: float) -> DAG:
    """Wait for two packages and a shipped serial number, then summarise what the sensors found.

    Args:
        dag_id: the DAG id.
        timeout: the sensors' ``timeout`` in seconds.

    Returns:
        The DAG.
    """
    sensor_args: dict[str, Any] = {"deferrable": True, "poke_interval": 0.05, "timeout": timeout}

    @dag(
        dag_id=dag_id,
        schedule=None,
        params={
            "package_prefix": Param("Awaited", type="string"),
            "serial_code": Param("NO-SUCH-CODE", type="string"),
        },
        tags=["tests"],
    )
    def sensors() -> None:
        packages = CommerceLayerPackageSensor(
            task_id="wait_for_packages",
            filters={"name_start": "{{ params.package_prefix }}"},
            min_count=2,
            **sensor_args,
        )
        serial_numbers = PackSerialNumberSensor(
            task_id="wait_for_serial_number",
            code="{{ params.serial_code }}",
            shipped=True,
            **sensor_args,
        )

        @task
        def summarise(package_count: int, records: list[dict[str, Any]]) -> dict[str, Any]:
            """What the sensors handed over by XCom."""
            return {"packages": package_count, "shipped": [r["code"] for r in records]}

        summarise(packages.output, serial_numbers.output)  # type: ignore[arg-type]

    return sensors()


deferrable_sensors_dag = deferrable_sensors("inventory_test_deferrable_sensors", timeout=120)
quick_timeout_dag = deferrable_sensors("inventory_test_deferrable_sensors_timeout", timeout=1)
