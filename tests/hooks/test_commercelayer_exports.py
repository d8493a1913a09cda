"""Commerce Layer exports through the hook, against the sandbox over loopback: equality with
the paged listing, chunking and concurrency, idempotent takeover after a killed process, every
injected fault, and no credentials on the attachment origin."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from airflow_provider_inventory.exceptions import ExportError, InventoryConfigError
from airflow_provider_inventory.hooks._commercelayer_exports import (
    ExportPlan,
    owner_reference,
)
from airflow_provider_inventory.hooks.commercelayer import CommerceLayerHook
from airflow_provider_inventory.sandbox import Sandbox

pytestmark = pytest.mark.sandbox(
    seed=19, serial_numbers=0, packages=30, stock_locations=4, shipments=900, stock_items=400
)

#: Polls of the sandbox's fast exports need no second's wait.
FAST = {"poll_interval": 0.05}
GUARD = 60.0


def export(hook: CommerceLayerHook, resource: str, **kwargs: Any) -> list[dict[str, Any]]:
    with hook.iter_export(resource, **{**FAST, **kwargs}) as stream:
        return list(stream)


def listing(hook: CommerceLayerHook, resource: str, **kwargs: Any) -> list[dict[str, Any]]:
    with hook.iter_resources(resource, **kwargs) as stream:
        return list(stream)


def running(sb: Sandbox) -> list[dict[str, Any]]:
    return [e for e in sb.exports if e["status"] in ("pending", "in_progress")]


@pytest.mark.parametrize(
    ("resource", "filters"),
    [
        ("shipments", {"status_in": ["shipped", "packing", "picking"]}),
        ("stock_items", {"quantity_gteq": 100, "stock_location_code_not_eq": "milan_wh"}),
    ],
)
def test_export_equals_listing_with_filters_and_window(
    sandbox_env: Sandbox, resource: str, filters: dict[str, Any]
) -> None:
    window = {"updated_since": "2025-04-01T00:00:00Z", "updated_before": "2025-05-15T00:00:00Z"}
    with CommerceLayerHook() as hook:
        exported = export(hook, resource, filters=filters, chunk_size=60, **window)
        listed = listing(hook, resource, filters=filters, include=["stock_location"], **window)

    assert len(listed) > 60
    assert [r["id"] for r in exported] == sorted(r["id"] for r in exported)
    assert sorted(r["id"] for r in exported) == sorted(r["id"] for r in listed)
    by_id = {r["id"]: r for r in listed}
    for record in exported:
        expected = dict(by_id[record["id"]])
        expected.pop("stock_location")  # the included record: exports nest only on `include`
        assert record["meta"] is None
        assert {k: v for k, v in record.items() if k != "meta"} == {
            k: v for k, v in expected.items() if k != "meta"
        }
    assert not sandbox_env.exports  # deleted after the download


def test_without_include_the_listing_keys_are_a_subset(sandbox_env: Sandbox) -> None:
    with CommerceLayerHook() as hook:
        exported = export(hook, "shipments", fields=["number", "status"], chunk_size=500)
        listed = listing(hook, "shipments", fields=["number", "status"])
    assert exported == [{**r, "meta": None} for r in sorted(listed, key=lambda r: r["id"])]


def test_several_chunks_at_bounded_concurrency(sandbox_env: Sandbox) -> None:
    sandbox_env.set_exports(speed=2_000)
    with CommerceLayerHook() as hook:
        records = export(hook, "shipments", chunk_size=100, max_concurrent=3)
    assert [r["id"] for r in records] == [s["id"] for s in sandbox_env.shipments()]
    assert sandbox_env.exports_created == 9
    assert 1 < sandbox_env.exports_peak_in_progress <= 3
    creations = [r for r in sandbox_env.requests if r.method == "POST" and r.path == "/api/exports"]
    assert len(creations) == 9


def test_chunks_are_disjoint_id_ranges_of_at_most_chunk_size(sandbox_env: Sandbox) -> None:
    with CommerceLayerHook() as hook:
        plan = hook.plan_export("shipments", reference="plan-test", chunk_size=250)
    ids = [s["id"] for s in sandbox_env.shipments()]
    assert plan.total == 900
    assert len(plan.chunks) == 4
    assert plan.chunks[0] == {"id_lteq": ids[249]}
    assert plan.chunks[1] == {"id_gt": ids[249], "id_lteq": ids[499]}
    assert plan.chunks[3] == {"id_gt": ids[749]}
    assert ExportPlan.from_json(json.loads(json.dumps(plan.to_json()))) == plan
    assert not sandbox_env.exports  # planning creates nothing


def test_attachment_origin_never_sees_credentials(sandbox_env: Sandbox) -> None:
    with CommerceLayerHook() as hook:
        export(hook, "stock_items", chunk_size=200)
    downloads = sandbox_env.attachment_requests
    assert len(downloads) == 2
    for request in downloads:
        assert request.authorization is None
        assert not any("token" in value.lower() for value in request.headers.values())
    api = [r for r in sandbox_env.requests if r.path.startswith("/api/exports")]
    assert api
    assert all(r.authorized for r in api)


def test_no_matching_record_is_an_empty_result(sandbox_env: Sandbox) -> None:
    with CommerceLayerHook() as hook:
        assert export(hook, "shipments", filters={"number_eq": "nope"}) == []
    assert sandbox_env.exports_created == 0


# ---------------------------------------------------------------------- faults


def test_failed_export_names_it_and_interrupts_the_others(sandbox_env: Sandbox) -> None:
    sandbox_env.set_exports(speed=1_000)
    sandbox_env.inject_export_fault("failed")
    with CommerceLayerHook() as hook, pytest.raises(ExportError) as raised:
        export(hook, "shipments", chunk_size=100, max_concurrent=4, reference="af-r")
    message = str(raised.value)
    assert re.search(
        r"Commerce Layer export exp\d{7} \(chunk 1 of 9 of shipments\) failed", message
    )
    assert "query timeout" in message
    assert not running(sandbox_env)
    # The failed export is deleted, so a retry creates it anew and ends exact.
    assert "failed" not in {e["status"] for e in sandbox_env.exports}
    created, kept = sandbox_env.exports_created, len(sandbox_env.exports)  # interrupted ones
    sandbox_env.set_exports(speed=50_000)
    with CommerceLayerHook() as hook:
        records = export(hook, "shipments", chunk_size=100, max_concurrent=4, reference="af-r")
    assert [r["id"] for r in records] == [s["id"] for s in sandbox_env.shipments()]
    assert sandbox_env.exports_created - created == 9 - kept  # the interrupted are restarted


def test_interrupted_export_is_restarted_once(sandbox_env: Sandbox) -> None:
    sandbox_env.inject_export_fault("interrupted")
    with CommerceLayerHook() as hook:
        records = export(hook, "stock_items", chunk_size=150)
    assert [r["id"] for r in records] == [s["id"] for s in sandbox_env.stock_items()]
    assert sandbox_env.exports_created == 3


def test_interrupted_twice_is_an_error_with_errors_log(sandbox_env: Sandbox) -> None:
    sandbox_env.inject_export_fault("interrupted_again")
    with CommerceLayerHook() as hook, pytest.raises(ExportError) as raised:
        export(hook, "stock_items", chunk_size=500)
    message = str(raised.value)
    assert re.search(r"Commerce Layer export exp0000001 \(chunk 1 of 1 of stock_items\)", message)
    assert "interrupted again" in message
    assert "canceling statement" in message
    assert not sandbox_env.exports  # deleted, so that a retry creates it anew


def test_stuck_export_times_out_and_is_interrupted(sandbox_env: Sandbox) -> None:
    sandbox_env.inject_export_fault("stuck")
    with CommerceLayerHook() as hook, pytest.raises(ExportError) as raised:
        export(hook, "stock_items", chunk_size=500, export_timeout=0.5)
    (state,) = sandbox_env.exports
    assert f"export {state['id']}" in str(raised.value)
    assert "export_timeout=0.5 s" in str(raised.value)
    assert state["status"] == "interrupted"


def test_count_that_disagrees_names_both_numbers(sandbox_env: Sandbox) -> None:
    sandbox_env.inject_export_fault("wrong_count")
    with CommerceLayerHook() as hook, pytest.raises(ExportError) as raised:
        export(hook, "stock_items", chunk_size=500)
    assert not sandbox_env.exports  # deleted, so that a retry creates it anew
    assert "export exp0000001 reports" in str(raised.value)
    assert "records_count=400" in str(raised.value)
    assert "holds 399 records" in str(raised.value)


@pytest.mark.parametrize("fault", ["truncated_gzip", "expired_url"])
def test_a_broken_download_is_fetched_again_with_a_fresh_url(
    sandbox_env: Sandbox, fault: str
) -> None:
    sandbox_env.inject_export_fault(fault)
    with CommerceLayerHook() as hook:
        records = export(hook, "stock_items", chunk_size=500)
    assert [r["id"] for r in records] == [s["id"] for s in sandbox_env.stock_items()]
    statuses = [r.status for r in sandbox_env.attachment_requests]
    assert statuses == ([403, 200] if fault == "expired_url" else [200, 200])


@pytest.mark.parametrize("fault", ["truncated_gzip", "expired_url"])
def test_a_download_that_stays_broken_is_a_clear_error(sandbox_env: Sandbox, fault: str) -> None:
    sandbox_env.inject_export_fault(fault, times=10)
    with CommerceLayerHook() as hook, pytest.raises(ExportError) as raised:
        export(hook, "stock_items", chunk_size=500)
    assert not sandbox_env.exports  # deleted, so that a retry creates it anew
    assert "export exp0000001 could not be downloaded after 4 fresh URLs" in str(raised.value)
    assert len(sandbox_env.attachment_requests) == 4


def test_a_type_the_api_refuses_says_to_list(sandbox_env: Sandbox) -> None:
    with CommerceLayerHook() as hook, pytest.raises(InventoryConfigError) as raised:
        export(hook, "packages")
    assert "does not export 'packages'" in str(raised.value)
    assert "CommerceLayerListOperator" in str(raised.value)


def test_a_chunk_over_the_api_maximum(sandbox_env: Sandbox) -> None:
    sandbox_env.set_exports(max_records=50)
    with CommerceLayerHook() as hook, pytest.raises(ExportError) as raised:
        export(hook, "stock_items", chunk_size=100)
    assert "over its maximum" in str(raised.value)
    assert "chunk_size" in str(raised.value)


def test_bad_arguments_fail_before_any_request(sandbox_env: Sandbox) -> None:
    with CommerceLayerHook() as hook:
        for kwargs, match in [
            ({"chunk_size": 10_001}, "chunk_size=10001 is out of range"),
            ({"max_concurrent": 11}, "max_concurrent=11 is out of range"),
            ({"max_concurrent": 0}, "max_concurrent=0 is out of range"),
            ({"filters": {"id_gt": "x"}}, r"'id_gt'\] would clash"),
            ({"filters": {"name_zzz": "x"}}, "name_zzz"),
        ]:
            with pytest.raises(InventoryConfigError, match=match):
                hook.iter_export("shipments", **kwargs)  # type: ignore[arg-type]
    assert not [r for r in sandbox_env.requests if r.api == "commercelayer"]


# ---------------------------------------------------------------------- idempotent retries

_CHILD = """
import sys
from airflow_provider_inventory.hooks.commercelayer import CommerceLayerHook
with CommerceLayerHook() as hook:
    print("started", flush=True)
    with hook.iter_export("shipments", chunk_size=300, max_concurrent=3, reference=sys.argv[1],
                          poll_interval=0.05) as stream:
        for _ in stream:
            pass
"""


def test_a_killed_task_retried_creates_no_export_again(sandbox_env: Sandbox) -> None:
    sandbox_env.set_exports(speed=100)  # 300 records: 3 s per export, the child is killed first
    reference = owner_reference("dag", "run", "task", -1)
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, reference],
        env={**os.environ},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + GUARD
        while sandbox_env.exports_created < 3:
            assert child.poll() is None, "the child ended before creating its exports"
            assert time.monotonic() < deadline, "the child created no exports"
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait(GUARD)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert len(running(sandbox_env)) == 3  # left running by the killed process
    sandbox_env.set_exports(speed=50_000)
    sandbox_env.clear_requests()

    with CommerceLayerHook() as hook:
        records = export(hook, "shipments", chunk_size=300, max_concurrent=3, reference=reference)

    assert [r["id"] for r in records] == [s["id"] for s in sandbox_env.shipments()]
    assert sandbox_env.exports_created == 3
    assert not [r for r in sandbox_env.requests if r.method == "POST"]
    assert not sandbox_env.exports


def test_a_retry_with_another_query_cleans_up_the_leftovers(sandbox_env: Sandbox) -> None:
    sandbox_env.set_exports(speed=100)
    reference = owner_reference("dag", "run", "other", -1)
    with CommerceLayerHook() as hook:
        plan = hook.plan_export("shipments", reference=reference, chunk_size=300)
        hook.advance_exports(plan, 2)
        assert len(running(sandbox_env)) == 2
        sandbox_env.set_exports(speed=50_000)
        records = export(
            hook, "shipments", reference=reference, chunk_size=500, filters={"status_eq": "draft"}
        )
    assert sorted(r["id"] for r in records) == sorted(
        s["id"] for s in sandbox_env.shipments() if s["status"] == "draft"
    )
    assert sandbox_env.exports_created == 3
    assert not running(sandbox_env)
    assert not sandbox_env.exports


def test_polls_are_spaced_by_the_estimated_completion(sandbox_env: Sandbox) -> None:
    sandbox_env.set_exports(speed=200)  # 400 records: one export of about 2 s
    with CommerceLayerHook() as hook:
        records = export(hook, "stock_items", chunk_size=500)  # poll_interval 0.05 s
    assert len(records) == 400
    polls = [r for r in sandbox_env.requests if r.path == "/api/exports" and r.method == "GET"]
    # Polling every 0.05 s would take about 40 rounds; the estimate makes it a handful (the
    # first lookup for earlier exports is one of them).
    assert len(polls) < 15
