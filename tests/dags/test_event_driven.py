"""The event-driven example: its watcher fires once per change batch, its DAG fetches exactly it.

The scheduler and the triggerer cannot run here, so the test plays both: it drives the example's
own watcher trigger with asyncio while the sandbox changes packages, then runs the example DAG
with ``dag.test()`` for each event. ``dag.test()`` cannot attach asset events to a run, so the
events go in through the run's conf (``change_events``), the DAG's documented fallback; the path
through ``triggering_asset_events`` is checked separately with Airflow's own accessor.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

import pytest
from airflow.triggers.base import BaseEventTrigger

from airflow_provider_inventory.sandbox import Sandbox
from airflow_provider_inventory.triggers.changes import ChangeBatch
from airflow_provider_inventory.triggers.commercelayer import CommerceLayerChangesTrigger
from example_dags.example_event_driven import PACKAGES, change_batches, event_driven_dag
from tests.dags.dagruns import run_dag, xcom_value
from tests.triggers.drive import Watcher

pytestmark = [
    pytest.mark.sandbox(seed=51, serial_numbers=0, packages=40, stock_locations=3),
    pytest.mark.usefixtures("airflow_db"),
]

LOGICAL_DATE = datetime(2025, 6, 2, tzinfo=timezone.utc)


def example_trigger(poll_interval: float) -> CommerceLayerChangesTrigger:
    """The example's watcher trigger, polling faster."""
    (watcher,) = PACKAGES.watchers
    trigger = watcher.trigger
    assert isinstance(trigger, CommerceLayerChangesTrigger)
    _, kwargs = trigger.serialize()
    return CommerceLayerChangesTrigger(**{**kwargs, "poll_interval": poll_interval})


def fetched(payloads: list[dict[str, Any]]) -> dict[str, str]:
    """Run the example DAG for ``payloads``: id -> updated_at of the packages it fetched."""
    dag_run = run_dag(event_driven_dag, LOGICAL_DATE, {"change_events": payloads})
    packages = xcom_value(dag_run, "changed_packages")
    summary = xcom_value(dag_run, "summarise")
    assert summary["packages"] == len(packages)
    ids = [package["id"] for package in packages]
    assert len(ids) == len(set(ids))
    return {package["id"]: package["updated_at"] for package in packages}


def current(sb: Sandbox, ids: set[str]) -> dict[str, str]:
    return {p["id"]: p["updated_at"] for p in sb.packages() if p["id"] in ids}


def test_the_example_schedules_on_a_watched_asset() -> None:
    (watcher,) = PACKAGES.watchers

    assert isinstance(watcher.trigger, BaseEventTrigger)
    assert watcher.trigger.serialize()[1]["resource"] == "packages"
    condition: Any = event_driven_dag.timetable.asset_condition
    assert list(condition.objects) == [PACKAGES]


def test_each_change_batch_fires_once_and_the_dag_fetches_exactly_it(sandbox_env: Sandbox) -> None:
    sb = sandbox_env
    old = [p["id"] for p in sb.packages()[:4]]

    async def watch() -> list[dict[str, Any]]:
        async with Watcher(example_trigger(0.02), sb, "commercelayer") as watcher:
            await watcher.polls()
            assert watcher.events == []  # 40 packages of history: no event

            sb.update_package(old[0], name="first batch")
            sb.update_package(old[1], height=12.5)
            sb.add_package(name="created in the first batch")
            await watcher.event_count(1)
            await watcher.polls()

            sb.update_package(old[2], name="second batch")
            await watcher.event_count(2)
            await watcher.polls()
            return watcher.events

    first, second = asyncio.run(watch())

    created = next(p["id"] for p in sb.packages() if p["name"] == "created in the first batch")
    assert (first["count"], second["count"]) == (3, 1)
    assert first["watermark"] == second["previous_watermark"]
    assert fetched([first]) == current(sb, {old[0], old[1], created})
    assert fetched([second]) == current(sb, {old[2]})
    assert fetched([first, second]) == current(sb, {old[0], old[1], old[2], created})


def test_a_package_changed_again_belongs_to_its_latest_batch_only(sandbox_env: Sandbox) -> None:
    sb = sandbox_env
    one, two = (p["id"] for p in sb.packages()[:2])

    async def watch() -> list[dict[str, Any]]:
        async with Watcher(example_trigger(0.02), sb, "commercelayer") as watcher:
            await watcher.polls()
            sb.update_package(one, name="changed")
            sb.update_package(two, name="changed")
            await watcher.event_count(1)
            sb.update_package(one, name="changed again")
            await watcher.event_count(2)
            await watcher.polls()
            return watcher.events

    first, second = asyncio.run(watch())

    assert (first["count"], second["count"]) == (2, 1)
    assert fetched([first]) == current(sb, {two})  # fetched late: `one` moved on
    assert fetched([second]) == current(sb, {one})


def test_runs_read_their_batches_from_triggering_asset_events() -> None:
    from airflow.sdk.api.datamodels._generated import AssetReferenceAssetEventDagRun
    from airflow.sdk.execution_time.comms import AssetEventDagRunReferenceResult
    from airflow.sdk.execution_time.context import TriggeringAssetEventsAccessor

    batches = [
        ChangeBatch(
            "packages",
            1,
            "2025-07-02T00:00:00.000Z",
            "2025-07-01T00:00:00.000Z",
            "2025-07-01T00:00:00.000Z",
            "2025-07-02T00:00:00.001Z",
            ("a",),
            ("b",),
        ),
        ChangeBatch(
            "packages",
            2,
            "2025-07-01T00:00:00.000Z",
            None,
            None,
            "2025-07-01T00:00:00.001Z",
            (),
            ("a", "c"),
        ),
    ]
    events = TriggeringAssetEventsAccessor.build(
        AssetEventDagRunReferenceResult(
            asset=AssetReferenceAssetEventDagRun(name=PACKAGES.name, uri=PACKAGES.uri, extra={}),
            extra={"from_trigger": True, "payload": batch.to_payload()},
            source_task_id=None,
            source_dag_id=None,
            source_run_id=None,
            source_map_index=None,
            source_aliases=[],
            timestamp=datetime.now(timezone.utc),
        )
        for batch in batches
    )

    assert change_batches(events, {}) == batches[::-1]  # oldest first
    assert change_batches(None, {"change_events": [batches[0].to_payload()]}) == batches[:1]
    with pytest.raises(ValueError, match="change_events"):
        change_batches(TriggeringAssetEventsAccessor.build([]), {})
