"""Deferral triggers driven with asyncio against the sandbox: one event, always, and the right one."""

from __future__ import annotations

import asyncio
import importlib
import itertools
import json
import time
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_inventory.exceptions import InventoryConfigError
from airflow_provider_inventory.sandbox import Sandbox
from airflow_provider_inventory.triggers.commercelayer import CommerceLayerResourceTrigger
from airflow_provider_inventory.triggers.pack import (
    PackSerialNumberTrigger,
    serial_number_readiness,
)
from airflow_provider_inventory.triggers.polling import Readiness
from tests.conftest import set_connections
from tests.triggers.drive import GUARD, events_until_done, run_to_end

pytestmark = pytest.mark.sandbox(seed=11, serial_numbers=60, packages=40, stock_locations=3)

FAST = 0.02  # poll interval of the tests' triggers, in seconds


def later() -> float:
    """A deadline the tests never reach (the events they expect come first)."""
    return time.time() + GUARD


def api_requests(sb: Sandbox, api: str) -> list[Any]:
    return [request for request in sb.requests if request.api == api]


def shipped_serial_number(sb: Sandbox) -> dict[str, Any]:
    return next(r for r in sb.serial_numbers() if r["fulfillment_line_id"])


def roundtrip(trigger: Any) -> tuple[str, dict[str, Any]]:
    """Serialize, check it is plain JSON, rebuild from the class path and kwargs, compare."""
    path, kwargs = trigger.serialize()
    assert json.loads(json.dumps(kwargs)) == kwargs
    module, _, name = path.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert rebuilt.serialize() == (path, kwargs)
    return path, kwargs


# ---------------------------------------------------------------------- serialization


def test_pack_trigger_serializes_to_plain_json_kwargs() -> None:
    trigger = PackSerialNumberTrigger(
        code=("AAA-1", "BBB-2", "AAA-1"),
        product_id=" prod_1 ",
        min_count=2,
        shipped=True,
        poll_interval=30,
        end_time=1_750_000_000,
        max_consecutive_errors=4,
    )

    path, kwargs = roundtrip(trigger)

    assert path == "airflow_provider_inventory.triggers.pack.PackSerialNumberTrigger"
    assert kwargs == {
        "pack_conn_id": "pack_default",
        "code": ["AAA-1", "BBB-2"],
        "product_id": "prod_1",
        "stock_id": None,
        "min_count": 2,
        "shipped": True,
        "poll_interval": 30.0,
        "end_time": 1_750_000_000.0,
        "max_consecutive_errors": 4,
    }


def test_commercelayer_trigger_serializes_filters_as_the_api_receives_them() -> None:
    trigger = CommerceLayerResourceTrigger(
        resource="packages",
        filters={
            "unit_of_length_in": ["cm", "in"],
            "metadata_jcont": {"tier": "gold"},
            "created_at_gt": datetime(2025, 5, 1, tzinfo=timezone.utc),
        },
        updated_since="2025-05-02T10:00:00+02:00",
        min_count=3,
        commercelayer_conn_id="cl",
        poll_interval=10,
        end_time=None,
    )

    path, kwargs = roundtrip(trigger)

    assert path.endswith("triggers.commercelayer.CommerceLayerResourceTrigger")
    assert kwargs["filters"] == {
        "created_at_gt": "2025-05-01T00:00:00.000Z",
        "metadata_jcont": '{"tier":"gold"}',
        "unit_of_length_in": "cm,in",
    }
    assert kwargs["updated_since"] == "2025-05-02T08:00:00.000Z"
    assert kwargs["end_time"] is None


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (PackSerialNumberTrigger, "code, product_id or stock_id"),
        (lambda: PackSerialNumberTrigger(code="A", min_count=0), "min_count"),
        (lambda: PackSerialNumberTrigger(code="", min_count=1), "code"),
        (lambda: PackSerialNumberTrigger(code="A", poll_interval=0), "poll_interval"),
        (lambda: PackSerialNumberTrigger(code="A", end_time="soon"), "end_time"),  # type: ignore[arg-type]
        (lambda: PackSerialNumberTrigger(code="A", max_consecutive_errors=0), "max_consecutive"),
        (lambda: CommerceLayerResourceTrigger(resource="Packages"), "resource"),
        (lambda: CommerceLayerResourceTrigger(resource="packages", filters={"name": 1}), "name"),
        (lambda: CommerceLayerResourceTrigger(resource="packages", updated_since="x"), "updated"),
    ],
)
def test_invalid_arguments_name_the_field(build: Any, field: str) -> None:
    with pytest.raises(InventoryConfigError, match=field):
        build()


def test_serial_number_readiness_counts_and_judges_shipping() -> None:
    records: list[dict[str, Any]] = [
        {"id": "a", "fulfillment_line_id": "fl_1"},
        {"id": "b", "fulfillment_line_id": None},
    ]

    assert serial_number_readiness(records, min_count=2, shipped=False) == Readiness(
        True, 2, "2 matching serial number(s), at least 2 wanted", records
    )
    not_shipped = serial_number_readiness(records, min_count=1, shipped=True)
    assert not not_shipped.met
    assert not_shipped.detail.endswith("1 of them not shipped yet")
    assert not serial_number_readiness(records, min_count=3, shipped=False).met


# ---------------------------------------------------------------------- Pack outcomes


def test_pack_trigger_succeeds_with_one_event_when_matches_exist(sandbox_env: Sandbox) -> None:
    record = shipped_serial_number(sandbox_env)
    trigger = PackSerialNumberTrigger(
        code=record["code"], shipped=True, poll_interval=FAST, end_time=later()
    )

    events = run_to_end(trigger)

    assert events == [
        {
            "status": "success",
            "count": 1,
            "message": "1 matching serial number(s), at least 1 wanted, 0 of them not shipped yet",
            "end_time": trigger.end_time,
        }
    ]
    assert len(api_requests(sandbox_env, "pack")) == 1


def test_pack_trigger_waits_for_serial_numbers_created_later(sandbox_env: Sandbox) -> None:
    product = sandbox_env.serial_numbers()[0]["product_id"]
    existing = sum(1 for r in sandbox_env.serial_numbers() if r["product_id"] == product)

    def create_two() -> None:
        for suffix in ("1", "2"):
            sandbox_env.add_serial_number(product_id=product, code=f"LATE-{suffix}")

    sandbox_env.schedule(3, create_two, match="/v1/")
    trigger = PackSerialNumberTrigger(
        product_id=product, min_count=existing + 2, poll_interval=FAST, end_time=later()
    )

    events = run_to_end(trigger)

    assert [(e["status"], e["count"]) for e in events] == [("success", existing + 2)]
    assert len(api_requests(sandbox_env, "pack")) >= 4  # three polls saw too few, one enough


def test_pack_trigger_with_shipped_waits_until_every_match_shipped(sandbox_env: Sandbox) -> None:
    record = sandbox_env.add_serial_number(code="SHIP-ME")
    sandbox_env.schedule(
        2,
        lambda: sandbox_env.update_serial_number(record["id"], fulfillment_line_id="fl_new"),
        match="/v1/",
    )

    events = run_to_end(
        PackSerialNumberTrigger(code="SHIP-ME", shipped=True, poll_interval=FAST, end_time=later())
    )

    assert [e["status"] for e in events] == ["success"]
    assert len(api_requests(sandbox_env, "pack")) == 3


def test_pack_trigger_times_out_with_the_last_state(sandbox_env: Sandbox) -> None:
    trigger = PackSerialNumberTrigger(
        code="NO-SUCH-CODE", poll_interval=FAST, end_time=time.time() + 0.2
    )

    events = run_to_end(trigger)

    assert len(events) == 1
    assert events[0]["status"] == "timeout"
    assert events[0]["count"] == 0
    assert "0 matching serial number(s), at least 1 wanted" in events[0]["message"]
    assert "deadline" in events[0]["message"]


def test_a_trigger_started_after_its_deadline_still_checks_once(sandbox_env: Sandbox) -> None:
    record = shipped_serial_number(sandbox_env)
    past = time.time() - 60

    met = run_to_end(PackSerialNumberTrigger(code=record["code"], end_time=past))
    unmet = run_to_end(PackSerialNumberTrigger(code="NO-SUCH-CODE", end_time=past))

    assert [e["status"] for e in met] == ["success"]
    assert [e["status"] for e in unmet] == ["timeout"]
    assert len(api_requests(sandbox_env, "pack")) == 2


def test_running_the_same_trigger_twice_gives_the_same_event(sandbox_env: Sandbox) -> None:
    record = shipped_serial_number(sandbox_env)
    trigger = PackSerialNumberTrigger(code=record["code"], poll_interval=FAST, end_time=later())
    _, kwargs = trigger.serialize()

    first = run_to_end(trigger)
    second = run_to_end(PackSerialNumberTrigger(**kwargs))

    assert first == second
    assert [e["status"] for e in first] == ["success"]


def test_an_authentication_failure_is_one_error_event_without_the_token(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = sandbox.pack_connection()
    connection["password"] = "wrong-and-secret-token"
    monkeypatch.setenv("AIRFLOW_CONN_PACK_DEFAULT", json.dumps(connection))

    events = run_to_end(PackSerialNumberTrigger(code="X", poll_interval=FAST, end_time=later()))

    assert [(e["status"], e["error_type"]) for e in events] == [("error", "AuthenticationError")]
    assert "401" in events[0]["message"]
    assert "wrong-and-secret-token" not in json.dumps(events)
    assert len(api_requests(sandbox, "pack")) == 1  # not retried: retrying cannot help


def test_a_missing_connection_is_an_error_event(sandbox: Sandbox) -> None:
    events = run_to_end(PackSerialNumberTrigger(pack_conn_id="nowhere", code="X", end_time=later()))

    assert [e["status"] for e in events] == ["error"]
    assert "nowhere" in events[0]["message"]


def test_rides_out_a_burst_of_server_errors(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connections(sandbox, monkeypatch, pack_extra={"max_attempts": 1})
    record = shipped_serial_number(sandbox)
    sandbox.inject("status", status=503, times=3, match="/v1/")

    events = run_to_end(
        PackSerialNumberTrigger(
            code=record["code"], poll_interval=FAST, end_time=later(), max_consecutive_errors=4
        )
    )

    assert [e["status"] for e in events] == ["success"]
    assert [r.status for r in api_requests(sandbox, "pack")] == [503, 503, 503, 200]


def test_the_error_budget_is_for_failures_in_a_row(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connections(sandbox, monkeypatch, pack_extra={"max_attempts": 1})
    sandbox.inject("status", status=502, times=2, match="/v1/")
    sandbox.inject("status", status=500, times=2, after=3, match="/v1/")
    sandbox.schedule(7, lambda: sandbox.add_serial_number(code="AFTER-BURSTS"), match="/v1/")

    events = run_to_end(
        PackSerialNumberTrigger(
            code="AFTER-BURSTS", poll_interval=FAST, end_time=later(), max_consecutive_errors=3
        )
    )

    assert [e["status"] for e in events] == ["success"]
    assert [r.status for r in api_requests(sandbox, "pack")] == [
        502,
        502,
        200,
        500,
        500,
        200,
        200,
        200,
    ]


def test_gives_up_after_max_consecutive_errors(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connections(sandbox, monkeypatch, pack_extra={"max_attempts": 1})
    sandbox.inject("status", status=503, times=None, match="/v1/")

    events = run_to_end(
        PackSerialNumberTrigger(
            code="X", poll_interval=FAST, end_time=later(), max_consecutive_errors=3
        )
    )

    assert [(e["status"], e["error_type"]) for e in events] == [("error", "ServerError")]
    assert "3 checks in a row failed" in events[0]["message"]
    assert "HTTP 503" in events[0]["message"]
    assert len(api_requests(sandbox, "pack")) == 3


@pytest.mark.sandbox(seed=11, serial_numbers=60, packages=0, stock_locations=0, latency=0.5)
def test_the_event_loop_keeps_running_while_a_check_waits(sandbox_env: Sandbox) -> None:
    record = shipped_serial_number(sandbox_env)
    trigger = PackSerialNumberTrigger(code=record["code"], poll_interval=FAST, end_time=later())

    async def tick_while(trigger_run: asyncio.Task[list[dict[str, Any]]]) -> list[float]:
        ticks = [time.monotonic()]
        while not trigger_run.done():
            await asyncio.sleep(0.01)
            ticks.append(time.monotonic())
        return ticks

    async def main() -> tuple[list[dict[str, Any]], list[float]]:
        trigger_run = asyncio.create_task(events_until_done(trigger))
        ticks = await tick_while(trigger_run)
        return trigger_run.result(), ticks

    events, ticks = asyncio.run(main())

    assert [e["status"] for e in events] == ["success"]
    assert len(ticks) > 20  # the ticker ran all through the half-second request
    assert max(b - a for a, b in itertools.pairwise(ticks)) < 0.2


# ---------------------------------------------------------------------- Commerce Layer outcomes


def test_commercelayer_trigger_counts_with_one_request_per_poll(sandbox_env: Sandbox) -> None:
    centimetres = sum(1 for p in sandbox_env.packages() if p["unit_of_length"] == "cm")
    sandbox_env.schedule(
        2, lambda: sandbox_env.add_package(unit_of_length="cm"), match="/api/packages"
    )
    trigger = CommerceLayerResourceTrigger(
        resource="packages",
        filters={"unit_of_length_eq": "cm"},
        min_count=centimetres + 1,
        poll_interval=FAST,
        end_time=later(),
    )

    events = run_to_end(trigger)

    assert [(e["status"], e["count"]) for e in events] == [("success", centimetres + 1)]
    requests = api_requests(sandbox_env, "commercelayer")
    assert len(requests) == 3
    assert all(r.query["page[size]"] == ["1"] for r in requests)  # counts, never listings
    assert all(r.query["filter[q][unit_of_length_eq]"] == ["cm"] for r in requests)


def test_commercelayer_trigger_counts_only_records_updated_since(sandbox_env: Sandbox) -> None:
    package = sandbox_env.packages()[0]
    sandbox_env.schedule(
        1, lambda: sandbox_env.update_package(package["id"], name="touched"), match="/api/"
    )

    events = run_to_end(
        CommerceLayerResourceTrigger(
            resource="packages",
            updated_since=sandbox_env.anchor,
            poll_interval=FAST,
            end_time=later(),
        )
    )

    assert [(e["status"], e["count"]) for e in events] == [("success", 1)]


def test_commercelayer_refused_credentials_are_an_error_event_without_the_secret(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = sandbox.commercelayer_connection()
    connection["password"] = "wrong-and-secret-client-secret"
    monkeypatch.setenv("AIRFLOW_CONN_COMMERCELAYER_DEFAULT", json.dumps(connection))

    events = run_to_end(CommerceLayerResourceTrigger(resource="packages", end_time=later()))

    assert [(e["status"], e["error_type"]) for e in events] == [("error", "AuthenticationError")]
    assert "wrong-and-secret-client-secret" not in json.dumps(events)


def test_commercelayer_rejected_filter_is_an_error_event(sandbox_env: Sandbox) -> None:
    sandbox_env.clear_requests()
    events = run_to_end(
        CommerceLayerResourceTrigger(  # schema-checks: refused
            resource="packages", filters={"colour_eq": "red"}, end_time=later()
        )
    )

    # Refused against the bundled schema, before any request.
    assert [(e["status"], e["error_type"]) for e in events] == [("error", "InventoryConfigError")]
    assert "colour" in events[0]["message"]
    assert [r for r in sandbox_env.requests if r.api == "commercelayer"] == []


def test_commercelayer_trigger_without_schema_checks_sends_the_filter(sandbox_env: Sandbox) -> None:
    trigger = CommerceLayerResourceTrigger(
        resource="packages", filters={"colour_eq": "red"}, end_time=later(), schema_checks=False
    )
    assert trigger.serialize()[1]["schema_checks"] is False
    events = run_to_end(trigger)

    # Sent as given: the strict sandbox answers 400.
    assert [(e["status"], e["error_type"]) for e in events] == [("error", "RequestRejectedError")]
    assert "colour" in events[0]["message"]
