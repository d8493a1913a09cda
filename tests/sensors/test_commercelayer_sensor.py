"""Commerce Layer sensors in poke, reschedule and deferrable mode, against the sandbox."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_inventory._compat import (
    AirflowException,
    AirflowRescheduleException,
    AirflowSensorTimeout,
    TaskDeferred,
)
from airflow_provider_inventory.exceptions import AuthenticationError, InventoryConfigError
from airflow_provider_inventory.sandbox import Sandbox
from airflow_provider_inventory.sensors.commercelayer import (
    CommerceLayerPackageSensor,
    CommerceLayerResourceSensor,
)
from airflow_provider_inventory.triggers.commercelayer import CommerceLayerResourceTrigger
from tests.triggers.drive import run_to_end

if TYPE_CHECKING:
    from airflow.sdk import Context

pytestmark = pytest.mark.sandbox(seed=31, serial_numbers=0, packages=60, stock_locations=4)


def package_sensor(**kwargs: Any) -> CommerceLayerPackageSensor:
    kwargs.setdefault("poke_interval", 0.02)
    kwargs.setdefault("timeout", 30)
    return CommerceLayerPackageSensor(task_id="wait_for_packages", **kwargs)


def in_location(sb: Sandbox, location_id: str) -> int:
    return sum(1 for p in sb.packages() if p["stock_location_id"] == location_id)


def cl_requests(sb: Sandbox) -> list[Any]:
    return [r for r in sb.requests if r.api == "commercelayer"]


def test_poke_counts_with_one_request_and_returns_the_count(sandbox_env: Sandbox) -> None:
    location = sandbox_env.stock_locations()[0]
    expected = in_location(sandbox_env, location["id"])
    task = package_sensor(filters={"stock_location_code_eq": location["code"]}, min_count=expected)

    result = task.poke({})

    assert (result.is_done, result.xcom_value) == (True, expected)
    (request,) = cl_requests(sandbox_env)
    assert request.query["page[size]"] == ["1"]
    assert request.query["filter[q][stock_location_code_eq]"] == [location["code"]]


def test_resource_sensor_watches_any_resource(sandbox_env: Sandbox) -> None:
    task = CommerceLayerResourceSensor(
        task_id="wait_for_locations", resource="stock_locations", min_count=4, poke_interval=1
    )

    assert task.poke({}).xcom_value == 4
    assert cl_requests(sandbox_env)[0].path == "/api/stock_locations"


def test_poke_mode_waits_for_records_updated_since(sandbox_env: Sandbox, context: Context) -> None:
    package = sandbox_env.packages()[0]
    sandbox_env.schedule(
        2, lambda: sandbox_env.update_package(package["id"], name="touched"), match="/api/"
    )

    result = package_sensor(updated_since="{{ params.since }}", min_count=1)
    result.render_template_fields({"params": {"since": sandbox_env.anchor}})

    assert result.execute(context) == 1
    assert len(cl_requests(sandbox_env)) == 3


def test_poke_mode_times_out(sandbox_env: Sandbox, context: Context) -> None:
    with pytest.raises(AirflowSensorTimeout):
        package_sensor(min_count=1000, timeout=0).execute(context)


def test_reschedule_mode_raises_reschedule_until_met(
    sandbox_env: Sandbox, context: Context, late_context: Context
) -> None:
    task = package_sensor(
        filters={"name_start": "Awaited"}, mode="reschedule", poke_interval=60, timeout=3000
    )

    with pytest.raises(AirflowRescheduleException):
        task.execute(context)
    sandbox_env.add_package(name="Awaited package")
    assert task.execute(context) == 1
    with pytest.raises(AirflowSensorTimeout):
        package_sensor(min_count=1000, mode="reschedule", timeout=600).execute(late_context)


def test_invalid_filters_fail_clearly_before_any_request(
    sandbox_env: Sandbox, context: Context
) -> None:
    with pytest.raises(InventoryConfigError, match="'name_like'"):
        package_sensor(filters={"name_like": "x"}).execute(context)
    with pytest.raises(InventoryConfigError, match="resource"):
        CommerceLayerResourceSensor(task_id="bad", resource="Packages!").execute(context)
    assert cl_requests(sandbox_env) == []


def test_refused_credentials_fail_in_poke_and_deferrable_mode(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, context: Context
) -> None:
    connection = sandbox.commercelayer_connection()
    connection["password"] = "not-the-client-secret"
    monkeypatch.setenv("AIRFLOW_CONN_COMMERCELAYER_DEFAULT", json.dumps(connection))

    for deferrable in (False, True):
        with pytest.raises(AuthenticationError, match="access token") as raised:
            package_sensor(deferrable=deferrable).execute(context)
        assert "not-the-client-secret" not in str(raised.value)


def test_deferrable_mode_defers_then_completes(sandbox_env: Sandbox, context: Context) -> None:
    total = len(sandbox_env.packages())
    task = package_sensor(min_count=total + 1, deferrable=True, timeout=120)

    with pytest.raises(TaskDeferred) as deferred:
        task.execute(context)
    trigger = deferred.value.trigger
    assert isinstance(trigger, CommerceLayerResourceTrigger)
    assert trigger.serialize()[1]["min_count"] == total + 1
    sandbox_env.schedule(1, sandbox_env.add_package, match="/api/")

    (event,) = run_to_end(trigger)

    assert (event["status"], event["count"]) == ("success", total + 1)
    assert task.execute_complete(context, event) == total + 1


def test_deferrable_mode_succeeds_at_once_when_met(sandbox_env: Sandbox, context: Context) -> None:
    assert package_sensor(min_count=10, deferrable=True).execute(context) == 60


def test_execute_complete_timeout_and_error(sandbox_env: Sandbox, context: Context) -> None:
    task = package_sensor(deferrable=True)
    end_time = time.time()

    with pytest.raises(AirflowSensorTimeout, match="wait_for_packages: late"):
        task.execute_complete(
            context, {"status": "timeout", "message": "late", "end_time": end_time}
        )
    with pytest.raises(AirflowException, match="RequestRejectedError"):
        task.execute_complete(
            context,
            {
                "status": "error",
                "error_type": "RequestRejectedError",
                "message": "RequestRejectedError: 400",
            },
        )


def test_package_sensor_is_the_resource_sensor_on_packages() -> None:
    task = package_sensor(filters={"code_start": "LRG"}, min_count=2)

    assert task.resource == "packages"
    assert isinstance(task, CommerceLayerResourceSensor)
    assert set(task.template_fields) == {"resource", "filters", "updated_since"}
