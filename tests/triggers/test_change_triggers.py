"""Asset-watcher triggers: one event per batch of changes, never for history, never twice."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from airflow.triggers.base import BaseEventTrigger

from airflow_provider_inventory import _compat
from airflow_provider_inventory._compat import ASSET_STATE_STORE_VERSION, airflow_at_least
from airflow_provider_inventory.exceptions import InventoryConfigError
from airflow_provider_inventory.hooks.commercelayer import CommerceLayerHook
from airflow_provider_inventory.sandbox import Sandbox
from airflow_provider_inventory.triggers.changes import (
    ChangeBatch,
    WatcherMark,
    advance,
    fetch_window,
    newest_mark,
    select_changed,
)
from airflow_provider_inventory.triggers.commercelayer import CommerceLayerChangesTrigger
from airflow_provider_inventory.triggers.pack import PackSerialNumberChangesTrigger
from tests.conftest import set_connections
from tests.triggers.drive import MemoryStateStore, Watcher

pytestmark = pytest.mark.sandbox(seed=5, serial_numbers=40, packages=30, stock_locations=3)

FAST = 0.02
T1 = "2025-07-01T00:00:00.000Z"  # after every generated record, before any wall-clock change
T2 = "2025-07-02T00:00:00.000Z"


def packages_watcher(sb: Sandbox, **kwargs: Any) -> CommerceLayerChangesTrigger:
    return CommerceLayerChangesTrigger(resource="packages", poll_interval=FAST, **kwargs)


def changed_packages(sb: Sandbox, batches: list[ChangeBatch]) -> list[str]:
    """Ids the consuming DAG would fetch for ``batches``: listing of the window, then selection."""
    since, before = fetch_window(batches)
    with CommerceLayerHook() as hook:
        listing = hook.list_resources(
            batches[0].resource,
            filters=batches[0].filters,
            updated_since=since,
            updated_before=before,
        )
    return sorted(str(record["id"]) for record in select_changed(batches, listing))


# ---------------------------------------------------------------------- the watermark rules


def test_first_poll_marks_the_newest_timestamp_and_every_id_at_it() -> None:
    mark = newest_mark([("a", T1), ("b", "2025-06-30T00:00:00Z"), ("c", "2025-07-01T00:00:00Z")])

    assert mark == WatcherMark(T1, ("a", "c"))
    assert newest_mark([]) == WatcherMark(None)


def test_a_batch_holds_what_is_past_the_watermark_once() -> None:
    mark = WatcherMark(T1, ("a",))
    stamps = [("a", T1), ("b", "2025-07-01T12:00:00.000Z"), ("b", T2), ("c", T2)]

    batch, after = advance(mark, stamps, "packages") or pytest.fail("expected a batch")

    assert batch == ChangeBatch(
        resource="packages",
        count=2,
        watermark=T2,
        previous_watermark=T1,
        updated_since=T1,
        updated_before="2025-07-02T00:00:00.001Z",
        already_reported_ids=("a",),
        ids_at_watermark=("b", "c"),
    )
    assert after == WatcherMark(T2, ("b", "c"))
    assert advance(after, [("b", T2), ("c", T2)], "packages") is None


def test_a_late_record_in_the_watermarks_millisecond_fires_alone() -> None:
    batch, after = advance(WatcherMark(T1, ("a",)), [("a", T1), ("z", T1)], "packages") or (
        None,
        None,
    )

    assert batch is not None
    assert (batch.count, batch.watermark) == (1, T1)
    assert (batch.already_reported_ids, batch.ids_at_watermark) == (("a",), ("z",))
    assert after == WatcherMark(T1, ("a", "z"))
    assert batch.includes({"id": "z", "updated_at": T1})
    assert not batch.includes({"id": "a", "updated_at": T1})


def test_batch_membership_is_the_window_with_its_boundary_milliseconds_decided_by_id() -> None:
    batch = ChangeBatch("packages", 3, T2, T1, T1, "2025-07-02T00:00:00.001Z", ("a",), ("c",))

    assert batch.includes({"id": "b", "updated_at": "2025-07-01T00:00:00.000Z"})
    assert batch.includes({"id": "a", "updated_at": "2025-07-01T00:00:00.001Z"})
    assert batch.includes({"id": "c", "updated_at": "2025-07-02T02:00:00+02:00"})
    assert not batch.includes({"id": "a", "updated_at": T1})  # an earlier batch's
    assert not batch.includes({"id": "late", "updated_at": T2})  # the next batch's
    assert not batch.includes({"id": "d", "updated_at": "2025-07-02T00:00:00.001Z"})
    assert not batch.includes({"id": "e", "updated_at": "2025-06-30T23:59:59.999Z"})
    assert not batch.includes({"id": "f"})


def test_a_batch_reads_back_from_an_asset_event_extra() -> None:
    batch = ChangeBatch(
        "packages", 1, T2, None, None, "2025-07-02T00:00:00.001Z", (), ("x",), {"name_eq": "n"}
    )
    extra = {"from_trigger": True, "payload": json.loads(json.dumps(batch.to_payload()))}

    assert ChangeBatch.from_payload(extra) == batch
    assert ChangeBatch.from_payload(batch.to_payload()) == batch
    with pytest.raises(InventoryConfigError, match="'watermark'"):
        ChangeBatch.from_payload(
            {"from_trigger": True, "payload": {"resource": "packages", "count": 1}}
        )


def test_fetch_window_spans_every_batch() -> None:
    first = ChangeBatch(
        "packages",
        1,
        T1,
        "2025-06-01T00:00:00.000Z",
        "2025-06-01T00:00:00.000Z",
        "2025-07-01T00:00:00.001Z",
    )
    second = ChangeBatch("packages", 1, T2, T1, T1, "2025-07-02T00:00:00.001Z", ("x",))

    assert fetch_window([second, first]) == ("2025-06-01T00:00:00.000Z", "2025-07-02T00:00:00.001Z")
    with pytest.raises(InventoryConfigError):
        fetch_window([])


# ---------------------------------------------------------------------- identity and arguments


def test_kwargs_are_deterministic_so_the_watcher_identity_is_stable() -> None:
    one = CommerceLayerChangesTrigger(
        resource="packages", filters={"unit_of_length_eq": "cm", "name_start": "L"}
    )
    same = CommerceLayerChangesTrigger(
        resource="packages", filters={"name_start": "L", "unit_of_length_eq": "cm"}
    )
    other = CommerceLayerChangesTrigger(resource="packages", filters={"name_start": "M"})

    path, kwargs = one.serialize()
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert kwargs == {
        "resource": "packages",
        "filters": {"name_start": "L", "unit_of_length_eq": "cm"},
        "commercelayer_conn_id": "commercelayer_default",
        "poll_interval": 60.0,
    }
    assert BaseEventTrigger.hash(path, kwargs) == BaseEventTrigger.hash(*same.serialize())
    assert one.state_key == same.state_key != other.state_key
    slower = CommerceLayerChangesTrigger(
        resource="packages", filters={"unit_of_length_eq": "cm", "name_start": "L"}, poll_interval=5
    )
    assert slower.state_key == one.state_key  # a new interval keeps the watermark
    assert CommerceLayerChangesTrigger(**kwargs).serialize() == (path, kwargs)
    assert isinstance(one, BaseEventTrigger)


def test_pack_changes_trigger_kwargs() -> None:
    trigger = PackSerialNumberChangesTrigger(product_id=["p1", "p2"], poll_interval=30)

    assert trigger.serialize() == (
        "airflow_provider_inventory.triggers.pack.PackSerialNumberChangesTrigger",
        {
            "pack_conn_id": "pack_default",
            "code": None,
            "product_id": ["p1", "p2"],
            "stock_id": None,
            "poll_interval": 30.0,
        },
    )


def test_the_trigger_owns_the_updated_at_window() -> None:
    with pytest.raises(InventoryConfigError, match="updated_at"):
        CommerceLayerChangesTrigger(resource="packages", filters={"updated_at_gt": T1})


# ---------------------------------------------------------------------- Commerce Layer watcher


def test_history_never_fires_and_each_change_batch_fires_once(sandbox_env: Sandbox) -> None:
    first, second, third = (p["id"] for p in sandbox_env.packages()[:3])

    async def scenario() -> list[dict[str, Any]]:
        async with Watcher(packages_watcher(sandbox_env), sandbox_env, "commercelayer") as watcher:
            await watcher.polls()
            assert watcher.events == []  # 30 packages of history, no event

            sandbox_env.update_package(first, name="renamed")
            sandbox_env.update_package(second, height=99.0)
            await watcher.event_count(1)
            await watcher.polls()
            assert len(watcher.events) == 1  # the same change never fires twice

            sandbox_env.update_package(third, name="renamed too")
            created = sandbox_env.add_package(name="brand new")
            await watcher.event_count(2)
            await watcher.polls()
            assert watcher.events[1]["count"] == 2
            assert created["id"] in changed_packages(
                sandbox_env, [ChangeBatch.from_payload(watcher.events[1])]
            )
            return watcher.events

    events = asyncio.run(scenario())

    batches = [ChangeBatch.from_payload(event) for event in events]
    assert [batch.count for batch in batches] == [2, 2]
    assert batches[1].previous_watermark == batches[0].watermark
    assert changed_packages(sandbox_env, batches[:1]) == sorted([first, second])
    assert third in changed_packages(sandbox_env, batches[1:])
    assert len(changed_packages(sandbox_env, batches)) == 4


def test_only_changes_inside_the_filters_fire(sandbox_env: Sandbox) -> None:
    inches = next(p for p in sandbox_env.packages() if p["unit_of_length"] == "in")
    centimetres = next(p for p in sandbox_env.packages() if p["unit_of_length"] == "cm")
    trigger = packages_watcher(sandbox_env, filters={"unit_of_length_eq": "in"})

    async def scenario() -> list[dict[str, Any]]:
        async with Watcher(trigger, sandbox_env, "commercelayer") as watcher:
            await watcher.polls()
            sandbox_env.update_package(centimetres["id"], name="not watched")
            await watcher.polls()
            sandbox_env.update_package(inches["id"], name="watched")
            await watcher.event_count(1)
            return watcher.events

    events = asyncio.run(scenario())

    assert [e["count"] for e in events] == [1]
    assert events[0]["filters"] == {"unit_of_length_eq": "in"}
    assert changed_packages(sandbox_env, [ChangeBatch.from_payload(events[0])]) == [inches["id"]]


def test_a_record_arriving_in_the_watermarks_millisecond_after_the_poll_fires_once(
    sandbox_env: Sandbox,
) -> None:
    first, late = (p["id"] for p in sandbox_env.packages()[:2])

    async def scenario() -> list[dict[str, Any]]:
        async with Watcher(packages_watcher(sandbox_env), sandbox_env, "commercelayer") as watcher:
            await watcher.polls()
            sandbox_env.update_package(first, updated_at=T1)
            await watcher.event_count(1)
            sandbox_env.update_package(late, updated_at=T1)  # same millisecond, seen later
            await watcher.event_count(2)
            await watcher.polls()
            return watcher.events

    events = asyncio.run(scenario())

    batches = [ChangeBatch.from_payload(event) for event in events]
    assert [(b.count, b.watermark) for b in batches] == [(1, T1), (1, T1)]
    assert batches[1].already_reported_ids == (first,)
    assert changed_packages(sandbox_env, batches[:1]) == [first]
    assert changed_packages(sandbox_env, batches[1:]) == [late]


def test_a_restart_with_the_state_store_fires_what_changed_while_down(
    sandbox_env: Sandbox,
) -> None:
    store = MemoryStateStore()
    first, second, third = (p["id"] for p in sandbox_env.packages()[:3])

    def watcher() -> Watcher:
        trigger = packages_watcher(sandbox_env)
        trigger.asset_state_store = store  # type: ignore[assignment]  # as the triggerer does
        return Watcher(trigger, sandbox_env, "commercelayer")

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with watcher() as before:
            await before.polls()
            sandbox_env.update_package(first, name="before the restart")
            await before.event_count(1)
            await before.polls()
        sandbox_env.update_package(second, name="while down")
        sandbox_env.update_package(third, name="while down too")
        async with watcher() as after:
            await after.event_count(1)
            await after.polls()
        return before.events, after.events

    before, after = asyncio.run(scenario())

    assert [e["count"] for e in before] == [1]
    assert [e["count"] for e in after] == [2]  # the first change did not fire again
    assert after[0]["previous_watermark"] == before[0]["watermark"]
    assert changed_packages(sandbox_env, [ChangeBatch.from_payload(after[0])]) == sorted(
        [second, third]
    )
    stored = next(iter(store.values.values()))
    assert stored["watermark"] == after[0]["watermark"]


def test_without_a_state_store_a_restart_starts_from_now(sandbox_env: Sandbox) -> None:
    first, second = (p["id"] for p in sandbox_env.packages()[:2])

    async def scenario() -> list[dict[str, Any]]:
        async with Watcher(packages_watcher(sandbox_env), sandbox_env, "commercelayer") as w:
            await w.polls()
        sandbox_env.update_package(first, name="while down")  # documented: never fires
        async with Watcher(packages_watcher(sandbox_env), sandbox_env, "commercelayer") as w:
            await w.polls()
            sandbox_env.update_package(second, name="after the restart")
            await w.event_count(1)
            await w.polls()
            return w.events

    events = asyncio.run(scenario())

    assert [e["count"] for e in events] == [1]
    assert changed_packages(sandbox_env, [ChangeBatch.from_payload(events[0])]) == [second]


def test_without_a_state_store_the_trigger_warns_and_names_the_release_that_has_one(
    sandbox_env: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    warnings: list[str] = []

    class RecordingLog:
        def warning(self, message: str, *args: Any) -> None:
            warnings.append(message % args)

        def info(self, message: str, *args: Any) -> None:
            pass

    monkeypatch.setattr(CommerceLayerChangesTrigger, "log", RecordingLog())
    monkeypatch.setattr(_compat, "airflow_version_text", lambda: "3.2.2")
    trigger = packages_watcher(sandbox_env)

    assert asyncio.run(trigger._load_mark()) is None
    assert warnings == [
        "No asset state store (the asset state store needs Airflow >= 3.3.0; this is 3.2.2): "
        "the watermark is kept in memory, so after a triggerer restart watching starts again "
        "from now and changes made meanwhile never fire."
    ]


def test_an_empty_watched_set_fires_for_its_first_records(sandbox_env: Sandbox) -> None:
    trigger = packages_watcher(sandbox_env, filters={"name_start": "Fresh"})

    async def scenario() -> list[dict[str, Any]]:
        async with Watcher(trigger, sandbox_env, "commercelayer") as watcher:
            await watcher.polls()
            sandbox_env.add_package(name="Fresh one")
            await watcher.event_count(1)
            return watcher.events

    events = asyncio.run(scenario())

    assert events[0]["count"] == 1
    assert events[0]["previous_watermark"] is None
    assert events[0]["updated_since"] is None


def test_server_errors_delay_a_batch_but_do_not_stop_the_watcher(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connections(sandbox, monkeypatch, commercelayer_extra={"max_attempts": 1})
    package = sandbox.packages()[0]

    async def scenario() -> list[dict[str, Any]]:
        async with Watcher(packages_watcher(sandbox), sandbox, "commercelayer") as watcher:
            await watcher.polls()
            sandbox.inject("status", status=503, times=4, match="/api/packages")
            sandbox.update_package(package["id"], name="changed during an outage")
            await watcher.event_count(1)
            await watcher.polls()
            return watcher.events

    events = asyncio.run(scenario())

    assert [e["count"] for e in events] == [1]
    assert sum(1 for r in sandbox.requests if r.status == 503) == 4


def test_refused_credentials_stop_the_watcher_loudly(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = sandbox.commercelayer_connection()
    connection["password"] = "not-the-secret"
    monkeypatch.setenv("AIRFLOW_CONN_COMMERCELAYER_DEFAULT", json.dumps(connection))

    async def first_event() -> Any:
        return await anext(packages_watcher(sandbox).run())

    with pytest.raises(Exception, match="access token") as raised:
        asyncio.run(first_event())
    assert "not-the-secret" not in str(raised.value)


# ---------------------------------------------------------------------- Airflow's state store


class FakeSupervisor:
    """The triggerer side of the asset state store messages, kept in a dict."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], Any] = {}

    async def asend(self, message: Any) -> Any:
        from airflow.sdk.exceptions import ErrorType
        from airflow.sdk.execution_time.comms import (
            AssetStateStoreResult,
            ErrorResponse,
            GetAssetStateStoreByName,
            SetAssetStateStoreByName,
        )

        key = (message.name, message.key)
        if isinstance(message, SetAssetStateStoreByName):
            self.values[key] = message.value
            return None
        assert isinstance(message, GetAssetStateStoreByName)
        if key in self.values:
            return AssetStateStoreResult(value=self.values[key])
        return ErrorResponse(error=ErrorType.ASSET_STORE_NOT_FOUND)


@pytest.mark.skipif(
    not airflow_at_least(ASSET_STATE_STORE_VERSION),
    reason="Airflow's asset state store (and its accessors) arrived in Airflow 3.3",
)
def test_the_watermark_goes_to_every_asset_the_trigger_serves(
    sandbox_env: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk import Asset
    from airflow.sdk.execution_time import task_runner
    from airflow.sdk.execution_time.context import AssetStateStoreAccessors

    supervisor = FakeSupervisor()
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", supervisor, raising=False)
    assets = [
        Asset(name="packages_a", uri="commercelayer://a/packages"),
        Asset(name="packages_b", uri="commercelayer://b/packages"),
    ]
    package = sandbox_env.packages()[0]

    def watcher() -> Watcher:
        trigger = packages_watcher(sandbox_env)
        trigger.asset_state_store = AssetStateStoreAccessors(inlets=assets)  # as the triggerer
        return Watcher(trigger, sandbox_env, "commercelayer")

    async def scenario() -> list[dict[str, Any]]:
        async with watcher() as first:
            await first.polls()
            sandbox_env.update_package(package["id"], name="changed")
            await first.event_count(1)
            await first.polls()
        async with watcher() as restarted:
            await restarted.polls()
            return first.events + restarted.events

    events = asyncio.run(scenario())

    assert [e["count"] for e in events] == [1]
    stored = {name: value["watermark"] for (name, _), value in supervisor.values.items()}
    assert stored == {"packages_a": events[0]["watermark"], "packages_b": events[0]["watermark"]}


# ---------------------------------------------------------------------- Pack watcher


def test_pack_watcher_fires_once_per_batch_of_serial_number_changes(sandbox_env: Sandbox) -> None:
    product = sandbox_env.serial_numbers()[0]["product_id"]
    other = next(r for r in sandbox_env.serial_numbers() if r["product_id"] != product)
    mine = [r for r in sandbox_env.serial_numbers() if r["product_id"] == product]
    trigger = PackSerialNumberChangesTrigger(product_id=product, poll_interval=FAST)

    async def scenario() -> list[dict[str, Any]]:
        async with Watcher(trigger, sandbox_env, "pack") as watcher:
            await watcher.polls()
            sandbox_env.update_serial_number(other["id"], fulfillment_line_id="fl_elsewhere")
            await watcher.polls()
            sandbox_env.update_serial_number(mine[0]["id"], fulfillment_line_id="fl_shipped")
            sandbox_env.add_serial_number(product_id=product, code="NEW-SERIAL-1")
            await watcher.event_count(1)
            await watcher.polls()
            return watcher.events

    events = asyncio.run(scenario())

    assert len(events) == 1
    batch = ChangeBatch.from_payload(events[0])
    assert (batch.resource, batch.count) == ("serial_numbers", 2)
    from airflow_provider_inventory.hooks.pack import PackHook

    with PackHook() as hook:
        listing = hook.list_serial_numbers(
            **batch.filters, updated_since=batch.updated_since, updated_before=batch.updated_before
        )
    changed = sorted(r["code"] for r in select_changed([batch], listing))
    assert changed == sorted([mine[0]["code"], "NEW-SERIAL-1"])
