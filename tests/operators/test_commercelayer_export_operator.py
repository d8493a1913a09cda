"""CommerceLayerExportOperator against the sandbox: deferral through a real trigger run whose
events serialise, polling on the worker, files with the same manifest as the list operator,
and a failure that interrupts the task's exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_inventory._compat import TaskDeferred
from airflow_provider_inventory.exceptions import ExportError, InventoryConfigError
from airflow_provider_inventory.operators.commercelayer import (
    CommerceLayerExportOperator,
    CommerceLayerListOperator,
)
from airflow_provider_inventory.records import read_records
from airflow_provider_inventory.sandbox import Sandbox
from airflow_provider_inventory.triggers.commercelayer import CommerceLayerExportTrigger
from tests.triggers.drive import run_to_end

pytestmark = pytest.mark.sandbox(
    seed=23, serial_numbers=0, packages=10, stock_locations=3, shipments=700, stock_items=50
)


@pytest.fixture
def task_context(context: dict[str, Any]) -> dict[str, Any]:
    """The operator's context plus the task instance fields an export reference is made of."""
    ti = SimpleNamespace(dag_id="exports", run_id="manual__1", task_id="shipments", map_index=-1)
    return {**context, "ti": ti}


def export_task(**kwargs: Any) -> CommerceLayerExportOperator:
    return CommerceLayerExportOperator(
        **{"task_id": "shipments", "resource": "shipments", "poll_interval": 0.05, **kwargs}
    )


def listed(context: dict[str, Any], **kwargs: Any) -> list[dict[str, Any]]:
    records = CommerceLayerListOperator(
        task_id="list", resource="shipments", max_xcom_records=100_000, **kwargs
    ).execute(context)
    assert isinstance(records, list)
    return records


def test_deferral_through_a_real_trigger_run(
    sandbox_env: Sandbox, task_context: dict[str, Any]
) -> None:
    sandbox_env.set_exports(speed=2_000)
    filters = {"status_not_eq": "draft"}
    task = export_task(
        filters=filters,
        chunk_size=150,
        max_concurrent=2,
        deferrable=True,
        select=["id", "number", "status", "stock_location_id"],
        max_xcom_records=100_000,
    )

    with pytest.raises(TaskDeferred) as deferred:
        task.execute(task_context)

    classpath, kwargs = deferred.value.trigger.serialize()
    assert classpath.endswith("triggers.commercelayer.CommerceLayerExportTrigger")
    assert sandbox_env.exports_created == 2  # the worker started the first ones only
    trigger = CommerceLayerExportTrigger(**json.loads(json.dumps(kwargs)))
    (event,) = run_to_end(trigger)
    assert event["status"] == "success"
    event = json.loads(json.dumps(event))
    assert sandbox_env.exports_peak_in_progress <= 2

    # The task resumes on a fresh instance, as Airflow builds one from the DAG.
    resumed = export_task(
        filters=filters,
        chunk_size=150,
        max_concurrent=2,
        deferrable=True,
        select=["id", "number", "status", "stock_location_id"],
        max_xcom_records=100_000,
    )
    records = resumed.execute_complete(task_context, event)

    expected = listed(
        task_context,
        filters=filters,
        include=["stock_location"],
        select=["id", "number", "status", "stock_location_id"],
    )
    assert records == expected
    assert sandbox_env.exports_created == len(kwargs["plan"]["chunks"])
    assert not sandbox_env.exports  # deleted once downloaded


def test_polling_on_the_worker_writes_the_same_file(
    sandbox_env: Sandbox, task_context: dict[str, Any], tmp_path: Path
) -> None:
    window = {"updated_since": "2025-04-01T00:00:00Z", "updated_before": "2025-06-01T00:00:00Z"}
    manifest = export_task(
        deferrable=False,
        chunk_size=200,
        where={"currency_code": ["EUR", "USD"]},
        output_path=str(tmp_path / "shipments.jsonl.gz"),
        **window,
    ).execute(task_context)
    listing = CommerceLayerListOperator(
        task_id="list",
        resource="shipments",
        include=["stock_location"],
        select=None,
        where={"currency_code": ["EUR", "USD"]},
        output_path=str(tmp_path / "listing.jsonl.gz"),
        **window,
    ).execute(task_context)

    assert isinstance(manifest, dict)
    assert isinstance(listing, dict)
    assert manifest["records"] == listing["records"] > 0
    assert (manifest["format"], manifest["window"]) == (listing["format"], listing["window"])
    exported = {r["id"]: r for r in read_records(manifest["path"])}
    for record in read_records(listing["path"]):
        record.pop("stock_location")
        assert exported[record["id"]] == {**record, "meta": None}
    assert not sandbox_env.exports


def test_exports_complete_at_once_are_read_without_deferring(
    sandbox_env: Sandbox, task_context: dict[str, Any]
) -> None:
    sandbox_env.set_exports(start_delay=0.0, speed=1e9)  # complete as soon as created
    records = export_task(
        resource="stock_items", deferrable=True, max_xcom_records=100_000
    ).execute(task_context)
    assert [r["id"] for r in records] == [s["id"] for s in sandbox_env.stock_items()]
    assert sandbox_env.exports_created == 1


def test_a_failure_event_interrupts_the_exports_and_names_them(
    sandbox_env: Sandbox, task_context: dict[str, Any]
) -> None:
    sandbox_env.set_exports(speed=50)
    sandbox_env.inject_export_fault("failed")
    task = export_task(chunk_size=100, max_concurrent=3, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(task_context)
    sandbox_env.set_exports(speed=5_000)

    (event,) = run_to_end(deferred.value.trigger)

    assert event["status"] == "error"
    with pytest.raises(ExportError) as raised:
        export_task(chunk_size=100, deferrable=True).execute_complete(task_context, event)
    assert re.search(
        r"Commerce Layer export exp\d{7} \(chunk \d+ of 7 of shipments\) failed", str(raised.value)
    )
    assert "failed" not in {e["status"] for e in sandbox_env.exports}  # deleted for the retry
    assert all(e["status"] not in ("pending", "in_progress") for e in sandbox_env.exports)


def test_an_unexportable_type_fails_the_task_clearly(
    sandbox_env: Sandbox, task_context: dict[str, Any]
) -> None:
    for deferrable in (True, False):
        with pytest.raises(InventoryConfigError, match="Use CommerceLayerListOperator"):
            export_task(resource="packages", deferrable=deferrable).execute(task_context)


def test_arguments_are_checked_before_any_request(
    sandbox_env: Sandbox, task_context: dict[str, Any]
) -> None:
    for kwargs, match in [
        ({"chunk_size": "20000"}, "chunk_size=20000 is out of range"),
        ({"max_concurrent": 12}, "max_concurrent=12 is out of range"),
        ({"poll_interval": "soon"}, "poll_interval must be a positive number"),
        ({"where": "{not a dict"}, "where="),
    ]:
        with pytest.raises(InventoryConfigError, match=match):
            export_task(deferrable=True, **kwargs).execute(task_context)
    assert not [r for r in sandbox_env.requests if r.api == "commercelayer"]


def test_on_kill_interrupts_the_running_exports(
    sandbox_env: Sandbox, task_context: dict[str, Any]
) -> None:
    sandbox_env.set_exports(speed=10)
    task = export_task(chunk_size=100, max_concurrent=3, deferrable=True)
    with pytest.raises(TaskDeferred):
        task.execute(task_context)
    assert {e["status"] for e in sandbox_env.exports} <= {"pending", "in_progress"}

    task.on_kill()

    assert {e["status"] for e in sandbox_env.exports} == {"interrupted"}
