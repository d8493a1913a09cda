"""PackSerialNumberSensor in poke, reschedule and deferrable mode, against the sandbox."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_inventory._compat import (
    AirflowException,
    AirflowRescheduleException,
    AirflowSensorTimeout,
    AirflowSkipException,
    PokeReturnValue,
    TaskDeferred,
)
from airflow_provider_inventory.exceptions import AuthenticationError, InventoryConfigError
from airflow_provider_inventory.sandbox import Sandbox
from airflow_provider_inventory.sensors.base import DEFERRAL_GRACE
from airflow_provider_inventory.sensors.pack import PackSerialNumberSensor
from airflow_provider_inventory.triggers.pack import PackSerialNumberTrigger
from tests.conftest import set_connections
from tests.triggers.drive import run_to_end

if TYPE_CHECKING:
    from airflow.sdk import Context

pytestmark = pytest.mark.sandbox(seed=21, serial_numbers=80, packages=0, stock_locations=0)


def sensor(**kwargs: Any) -> PackSerialNumberSensor:
    kwargs.setdefault("poke_interval", 0.02)
    kwargs.setdefault("timeout", 30)
    return PackSerialNumberSensor(task_id="wait_for_serial_numbers", **kwargs)


def shipped(sb: Sandbox) -> dict[str, Any]:
    return next(r for r in sb.serial_numbers() if r["fulfillment_line_id"])


def unshipped(sb: Sandbox) -> dict[str, Any]:
    return next(r for r in sb.serial_numbers() if not r["fulfillment_line_id"])


def by_product(sb: Sandbox, product: str) -> list[dict[str, Any]]:
    return [r for r in sb.serial_numbers() if r["product_id"] == product]


# ---------------------------------------------------------------------- poke mode


def test_poke_returns_the_matching_records_for_xcom(sandbox_env: Sandbox) -> None:
    product = sandbox_env.serial_numbers()[0]["product_id"]
    expected = by_product(sandbox_env, product)

    result = sensor(product_id=product, min_count=len(expected)).poke({})

    assert isinstance(result, PokeReturnValue)
    assert result.is_done
    assert result.xcom_value == expected


def test_poke_is_not_done_below_min_count_or_before_shipping(sandbox_env: Sandbox) -> None:
    product = sandbox_env.serial_numbers()[0]["product_id"]
    count = len(by_product(sandbox_env, product))

    too_few = sensor(product_id=product, min_count=count + 1).poke({})
    not_shipped = sensor(code=unshipped(sandbox_env)["code"], shipped=True).poke({})

    assert (too_few.is_done, too_few.xcom_value) == (False, None)
    assert not not_shipped.is_done


def test_poke_mode_waits_then_returns_the_records(sandbox_env: Sandbox, context: Context) -> None:
    record = unshipped(sandbox_env)
    sandbox_env.schedule(
        2,
        lambda: sandbox_env.update_serial_number(record["id"], fulfillment_line_id="fl_now"),
        match="/v1/",
    )

    result = sensor(code=record["code"], shipped=True).execute(context)

    assert [r["id"] for r in result] == [record["id"]]
    assert result[0]["fulfillment_line_id"] == "fl_now"
    assert sum(1 for r in sandbox_env.requests if r.api == "pack") == 3


def test_poke_mode_times_out(sandbox_env: Sandbox, context: Context) -> None:
    with pytest.raises(AirflowSensorTimeout):
        sensor(code="NO-SUCH-CODE", timeout=0).execute(context)


def test_poke_mode_soft_fail_skips_on_timeout(sandbox_env: Sandbox, context: Context) -> None:
    with pytest.raises(AirflowSkipException):
        sensor(code="NO-SUCH-CODE", timeout=0, soft_fail=True).execute(context)


def test_poke_mode_fails_clearly_on_refused_credentials(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, context: Context
) -> None:
    connection = sandbox.pack_connection()
    connection["password"] = "wrong-pack-token"
    monkeypatch.setenv("AIRFLOW_CONN_PACK_DEFAULT", json.dumps(connection))

    with pytest.raises(AuthenticationError, match="401") as raised:
        sensor(code="X").execute(context)
    assert "wrong-pack-token" not in str(raised.value)


def test_a_sensor_without_filters_fails_clearly_when_it_runs(
    sandbox_env: Sandbox, context: Context
) -> None:
    with pytest.raises(InventoryConfigError, match="code, product_id or stock_id"):
        sensor().execute(context)
    assert sandbox_env.requests == []


def test_bad_thresholds_fail_at_dag_parse_time() -> None:
    with pytest.raises(InventoryConfigError, match="min_count"):
        sensor(code="X", min_count=0)
    with pytest.raises(InventoryConfigError, match="poke_interval"):
        sensor(code="X", deferrable=True, poke_interval=0)


def test_filters_are_templated(sandbox_env: Sandbox) -> None:
    record = shipped(sandbox_env)
    task = sensor(code="{{ params.code }}")

    task.render_template_fields({"params": {"code": record["code"]}})

    assert task.code == record["code"]
    assert task.poke({}).xcom_value == [record]


# ---------------------------------------------------------------------- reschedule mode


def test_reschedule_mode_frees_the_slot_until_met(sandbox_env: Sandbox, context: Context) -> None:
    task = sensor(code="ARRIVES-LATER", mode="reschedule", poke_interval=60)

    with pytest.raises(AirflowRescheduleException):
        task.execute(context)
    sandbox_env.add_serial_number(code="ARRIVES-LATER")
    result = task.execute(context)

    assert [r["code"] for r in result] == ["ARRIVES-LATER"]


def test_reschedule_mode_times_out_from_the_first_try(
    sandbox_env: Sandbox, late_context: Context
) -> None:
    task = sensor(code="NO-SUCH-CODE", mode="reschedule", timeout=600)

    with pytest.raises(AirflowSensorTimeout):
        task.execute(late_context)


# ---------------------------------------------------------------------- deferrable mode


def test_deferrable_succeeds_without_deferring_when_already_met(
    sandbox_env: Sandbox, context: Context
) -> None:
    record = shipped(sandbox_env)

    result = sensor(code=record["code"], shipped=True, deferrable=True).execute(context)

    assert result == [record]


def test_deferrable_defers_to_the_trigger_with_the_deadline(
    sandbox_env: Sandbox, context: Context
) -> None:
    product = sandbox_env.serial_numbers()[0]["product_id"]
    task = sensor(
        product_id=product,
        min_count=500,
        shipped=True,
        deferrable=True,
        poke_interval=15,
        timeout=3600,
        max_consecutive_errors=7,
    )

    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(context)

    trigger = deferred.value.trigger
    assert isinstance(trigger, PackSerialNumberTrigger)
    assert deferred.value.method_name == "execute_complete"
    _, kwargs = trigger.serialize()
    end_time = kwargs.pop("end_time")
    assert before + 3600 <= end_time <= time.time() + 3600
    assert kwargs == {
        "pack_conn_id": "pack_default",
        "code": None,
        "product_id": product,
        "stock_id": None,
        "min_count": 500,
        "shipped": True,
        "poll_interval": 15.0,
        "max_consecutive_errors": 7,
    }
    assert (
        timedelta(seconds=3600) < deferred.value.timeout <= timedelta(seconds=3600) + DEFERRAL_GRACE
    )


def test_deferrable_defers_through_a_transient_first_failure(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, context: Context
) -> None:
    set_connections(sandbox, monkeypatch, pack_extra={"max_attempts": 1})
    sandbox.inject("status", status=503, match="/v1/")

    with pytest.raises(TaskDeferred):
        sensor(code=shipped(sandbox)["code"], deferrable=True).execute(context)


def test_deferrable_fails_at_once_on_refused_credentials(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, context: Context
) -> None:
    connection = sandbox.pack_connection()
    connection["password"] = "wrong-pack-token"
    monkeypatch.setenv("AIRFLOW_CONN_PACK_DEFAULT", json.dumps(connection))

    with pytest.raises(AuthenticationError):
        sensor(code="X", deferrable=True).execute(context)


def test_execute_complete_returns_fresh_records_on_success(
    sandbox_env: Sandbox, context: Context
) -> None:
    record = shipped(sandbox_env)
    task = sensor(code=record["code"], deferrable=True)

    result = task.execute_complete(
        context, {"status": "success", "count": 1, "message": "ok", "end_time": time.time() + 60}
    )

    assert result == [record]


def test_execute_complete_defers_again_if_the_condition_went_away(
    sandbox_env: Sandbox, context: Context
) -> None:
    end_time = time.time() + 60
    task = sensor(code="NO-SUCH-CODE", deferrable=True)

    with pytest.raises(TaskDeferred) as deferred:
        task.execute_complete(
            context, {"status": "success", "count": 1, "message": "ok", "end_time": end_time}
        )

    assert deferred.value.trigger.serialize()[1]["end_time"] == end_time


def test_execute_complete_raises_the_sensor_timeout(sandbox_env: Sandbox, context: Context) -> None:
    task = sensor(code="X", deferrable=True)

    with pytest.raises(AirflowSensorTimeout, match="not met by the deadline"):
        task.execute_complete(
            context,
            {"status": "timeout", "count": 0, "message": "Condition not met by the deadline"},
        )


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (
            {"status": "error", "error_type": "ServerError", "message": "5 checks failed"},
            "5 checks",
        ),
        ({"status": "surprise"}, "unexpected trigger event"),
        (None, "unexpected trigger event"),
    ],
)
def test_execute_complete_fails_clearly_on_error_events(
    sandbox_env: Sandbox, context: Context, event: Any, message: str
) -> None:
    with pytest.raises(AirflowException, match=message):
        sensor(code="X", deferrable=True).execute_complete(context, event)


def test_the_deferred_trigger_and_execute_complete_work_end_to_end(
    sandbox_env: Sandbox, context: Context
) -> None:
    record = unshipped(sandbox_env)
    task = sensor(code=record["code"], shipped=True, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(context)
    sandbox_env.schedule(
        2,
        lambda: sandbox_env.update_serial_number(record["id"], fulfillment_line_id="fl_1"),
        match="/v1/",
    )

    (event,) = run_to_end(deferred.value.trigger)
    result = task.execute_complete(context, event)

    assert [(r["id"], r["fulfillment_line_id"]) for r in result] == [(record["id"], "fl_1")]
