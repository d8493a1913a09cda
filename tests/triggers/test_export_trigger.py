"""CommerceLayerExportTrigger driven with asyncio against the sandbox: serialisation, a run
twice over, the deadline, transient and permanent failures."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from airflow_provider_inventory.hooks.commercelayer import CommerceLayerHook
from airflow_provider_inventory.sandbox import Sandbox
from airflow_provider_inventory.triggers.commercelayer import CommerceLayerExportTrigger
from tests.conftest import set_connections
from tests.triggers.drive import run_to_end

pytestmark = pytest.mark.sandbox(seed=7, packages=10, stock_locations=3, shipments=300)


def planned_trigger(resource: str = "shipments", **kwargs: Any) -> CommerceLayerExportTrigger:
    with CommerceLayerHook() as hook:
        plan = hook.plan_export(resource, reference="af-trigger-test", chunk_size=100)
    return CommerceLayerExportTrigger(
        plan=plan.to_json(), max_concurrent=2, poll_interval=0.05, **kwargs
    )


def test_serialises_to_json_and_runs_twice_without_duplicates(sandbox_env: Sandbox) -> None:
    trigger = planned_trigger()
    classpath, kwargs = trigger.serialize()
    assert (
        classpath == "airflow_provider_inventory.triggers.commercelayer.CommerceLayerExportTrigger"
    )
    again = CommerceLayerExportTrigger(**json.loads(json.dumps(kwargs)))

    first = run_to_end(trigger)
    second = run_to_end(again)  # a triggerer restart runs the same kwargs again

    (event,) = first
    (repeated,) = second
    assert [e["id"] for e in repeated["exports"]] == [e["id"] for e in event["exports"]]
    assert event["status"] == "success"
    assert json.loads(json.dumps(event)) == event
    assert [e["records_count"] for e in event["exports"]] == [100, 100, 100]
    assert {e["attachment_url"] for e in event["exports"]} == {None}  # no presigned URL stored
    assert sandbox_env.exports_created == 3
    assert sandbox_env.exports_peak_in_progress <= 2


def test_the_deadline_ends_with_a_timeout_naming_the_exports(sandbox_env: Sandbox) -> None:
    sandbox_env.inject_export_fault("stuck")
    (event,) = run_to_end(planned_trigger(end_time=time.time() + 0.5))
    assert event["status"] == "timeout"
    stuck = next(e for e in sandbox_env.exports if e["status"] in ("pending", "in_progress"))
    assert stuck["id"] in event["export_ids"]
    assert f"export {stuck['id']}" in event["message"]


def test_a_type_the_api_refuses_is_an_error_event(sandbox_env: Sandbox) -> None:
    sandbox_env.set_exports(exportable=frozenset())
    (event,) = run_to_end(planned_trigger())
    assert event["status"] == "error"
    assert event["error_type"] == "InventoryConfigError"
    assert "CommerceLayerListOperator" in event["message"]


def test_transient_failures_are_polled_again(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connections(sandbox, monkeypatch, commercelayer_extra={"max_attempts": 1})
    trigger = planned_trigger()
    sandbox.inject("status", status=503, times=2, match="/api/exports")
    (event,) = run_to_end(trigger)
    assert event["status"] == "success"
    assert sandbox.exports_created == 3
