"""PackSerialNumbersOperator against the sandbox: selection, publishing, guards and errors."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import Asset, ObjectStoragePath

from airflow_provider_inventory.exceptions import (
    BadResponseError,
    InventoryConfigError,
    NotFoundError,
)
from airflow_provider_inventory.operators.pack import PackSerialNumbersOperator
from airflow_provider_inventory.records import XComLimitExceededError, read_records
from airflow_provider_inventory.sandbox import Sandbox

pytestmark = pytest.mark.sandbox(serial_numbers=200)


def operator(**kwargs: Any) -> PackSerialNumbersOperator:
    return PackSerialNumbersOperator(task_id="serial_numbers", **kwargs)


def pack_requests(sb: Sandbox) -> list[Any]:
    return [request for request in sb.requests if request.api == "pack"]


def files_in(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.rglob("*") if path.is_file())


def test_xcom_returns_every_record_as_the_api_sent_it(
    sandbox_env: Sandbox, context: dict[str, Any]
) -> None:
    records = operator(per_page=40).execute(context)

    assert records == sandbox_env.serial_numbers()


def test_server_filters_where_and_select(sandbox_env: Sandbox, context: dict[str, Any]) -> None:
    sb = sandbox_env
    products = sorted({record["product_id"] for record in sb.serial_numbers()})[:2]
    stocks = sorted({r["stock_id"] for r in sb.serial_numbers() if r["stock_id"]})[:2]

    records = operator(
        product_id=products,
        where={"fulfillment_line_id": None, "stock_id": [*stocks, None]},
        select=["code", "stock_id"],
    ).execute(context)

    expected = [
        {"code": r["code"], "stock_id": r["stock_id"]}
        for r in sb.serial_numbers()
        if r["product_id"] in products
        and r["fulfillment_line_id"] is None
        and r["stock_id"] in (*stocks, None)
    ]
    assert expected
    assert sorted(records, key=lambda r: r["code"]) == sorted(expected, key=lambda r: r["code"])
    assert {request.query["filter[product_id]"][0] for request in pack_requests(sb)} == set(
        products
    )


def test_record_filter_runs_after_where(sandbox_env: Sandbox, context: dict[str, Any]) -> None:
    seen: list[dict[str, Any]] = []

    def shipped_with_stock(record: dict[str, Any]) -> bool:
        seen.append(record)
        return record["fulfillment_line_id"] is not None

    records = operator(
        where={"stock_id": sorted({r["stock_id"] for r in sandbox_env.serial_numbers()} - {None})},
        record_filter=shipped_with_stock,
    ).execute(context)

    expected = [
        r for r in sandbox_env.serial_numbers() if r["stock_id"] and r["fulfillment_line_id"]
    ]
    assert records == expected
    assert all(record["stock_id"] is not None for record in seen)


def test_file_output_streams_jsonl_and_returns_a_manifest(
    sandbox_env: Sandbox, context: dict[str, Any], tmp_path: Path
) -> None:
    target = tmp_path / "serials" / "2025-05-01.jsonl"
    since, before = "2025-04-01T00:00:00Z", "2025-05-01T00:00:00Z"

    manifest = operator(
        output_path=f"file://{target}", updated_since=since, updated_before=before, per_page=25
    ).execute(context)

    expected = [
        r
        for r in sandbox_env.serial_numbers()
        if "2025-04-01T00:00:00.000Z" <= r["updated_at"] < "2025-05-01T00:00:00.000Z"
    ]
    lines = target.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == expected
    assert manifest == {
        "path": f"file://{target}",
        "records": len(expected),
        "bytes": target.stat().st_size,
        "format": "jsonl",
        "watermark": max(r["updated_at"] for r in expected),
        "window": ["2025-04-01T00:00:00.000Z", "2025-05-01T00:00:00.000Z"],
        "fetched_at": manifest["fetched_at"],
    }
    assert list(read_records(manifest)) == expected
    assert files_in(tmp_path) == ["2025-05-01.jsonl"]


def test_gzip_output(sandbox_env: Sandbox, context: dict[str, Any], tmp_path: Path) -> None:
    target = tmp_path / "serials.jsonl.gz"

    manifest = operator(output_path=str(target), select="id, code").execute(context)

    with gzip.open(target, "rt", encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines]
    assert records == [{"id": r["id"], "code": r["code"]} for r in sandbox_env.serial_numbers()]
    assert manifest["format"] == "jsonl.gz"
    assert manifest["bytes"] == target.stat().st_size
    assert list(read_records(manifest["path"])) == records


def test_memory_filesystem_output(
    sandbox_env: Sandbox, context: dict[str, Any], memory_root: str
) -> None:
    target = ObjectStoragePath(f"{memory_root}/pack/serials.jsonl")

    manifest = operator(output_path=target, where={"fulfillment_line_id": None}).execute(context)

    expected = [r for r in sandbox_env.serial_numbers() if r["fulfillment_line_id"] is None]
    assert manifest["path"] == f"{memory_root}/pack/serials.jsonl"
    assert list(read_records(manifest)) == expected
    assert [p.name for p in target.parent.iterdir()] == ["serials.jsonl"]


def test_failed_listing_leaves_no_file_and_keeps_the_previous_one(
    sandbox_env: Sandbox, context: dict[str, Any], tmp_path: Path
) -> None:
    target = tmp_path / "serials.jsonl"
    first = operator(output_path=str(target), per_page=10).execute(context)
    before = target.read_bytes()
    sandbox_env.add_serial_number(code="NEW123-NEW456-NEW789")
    sandbox_env.inject("malformed_json", after=5)

    with pytest.raises(BadResponseError, match="not valid JSON"):
        operator(output_path=str(target), per_page=10).execute(context)

    assert target.read_bytes() == before
    assert first["records"] == 200
    assert files_in(tmp_path) == ["serials.jsonl"]


def test_failed_first_listing_leaves_nothing(
    sandbox_env: Sandbox, context: dict[str, Any], tmp_path: Path
) -> None:
    sandbox_env.inject("status", status=404, after=3)

    with pytest.raises(NotFoundError, match="HTTP 404"):
        operator(output_path=str(tmp_path / "out" / "serials.jsonl.gz"), per_page=10).execute(
            context
        )

    assert files_in(tmp_path) == []


def test_xcom_guard_fails_before_fetching_everything(
    sandbox_env: Sandbox, context: dict[str, Any]
) -> None:
    with pytest.raises(XComLimitExceededError, match="output_path") as raised:
        operator(per_page=10, max_xcom_records=15).execute(context)

    assert "15" in str(raised.value)
    assert len(pack_requests(sandbox_env)) < 200 // 10


def test_xcom_guard_counts_kept_records_only(sandbox_env: Sandbox, context: dict[str, Any]) -> None:
    shipped = [r for r in sandbox_env.serial_numbers() if r["fulfillment_line_id"]]

    records = operator(
        record_filter=lambda r: r["fulfillment_line_id"] is not None,
        max_xcom_records=len(shipped),
    ).execute(context)

    assert records == shipped


def test_outlet_asset_event_gets_count_and_path(
    sandbox_env: Sandbox, context: dict[str, Any], tmp_path: Path
) -> None:
    asset = Asset(name="serials", uri="file:///serials")
    target = tmp_path / "serials.jsonl"

    manifest = operator(output_path=str(target), outlets=[asset]).execute(context)

    assert context["outlet_events"][asset].extra == {"records": 200, "path": manifest["path"]}


def test_outlet_asset_event_for_xcom_output(sandbox_env: Sandbox, context: dict[str, Any]) -> None:
    asset = Asset(name="serials", uri="file:///serials")

    records = operator(where={"fulfillment_line_id": None}, outlets=[asset]).execute(context)

    assert context["outlet_events"][asset].extra == {"records": len(records), "path": None}


def test_rendered_text_arguments_are_parsed(sandbox_env: Sandbox, context: dict[str, Any]) -> None:
    sb = sandbox_env
    product = sb.serial_numbers()[0]["product_id"]

    records = operator(
        product_id=f"['{product}']",
        where="{'fulfillment_line_id': None}",
        select="['id', 'product_id']",
        per_page="30",
        max_xcom_records="500",
    ).execute(context)

    expected = [
        {"id": r["id"], "product_id": product}
        for r in sb.serial_numbers()
        if r["product_id"] == product and r["fulfillment_line_id"] is None
    ]
    assert records == expected
    assert {request.query["per_page"][0] for request in pack_requests(sb)} == {"30"}


def test_warehouse_and_code_filters(sandbox_env: Sandbox, context: dict[str, Any]) -> None:
    sb = sandbox_env
    warehouse, stocks = next(iter(sb.warehouses().items()))
    record = next(r for r in sb.serial_numbers() if r["stock_id"] in stocks)

    records = operator(
        warehouse_id=warehouse, product_id=record["product_id"], code=record["code"]
    ).execute(context)

    assert records == [record]
    assert pack_requests(sb)[0].path.startswith(f"/v1/warehouses/{warehouse}/products/")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"where": {"shipped": True}}, "where names field the API does not return: 'shipped'"),
        ({"select": ["id", "serial"]}, "select names field the API does not return: 'serial'"),
        ({"where": "fulfillment_line_id is null"}, "where='fulfillment_line_id is null'"),
        ({"where": ["fulfillment_line_id"]}, "where must be a dict"),
        (
            {"updated_since": "2025-05-02", "updated_before": "2025-05-01"},
            "must be earlier than updated_before",
        ),
        ({"updated_since": "yesterday"}, "updated_since='yesterday' is not an ISO-8601"),
        ({"per_page": "many"}, "per_page must be a whole number >= 1"),
        ({"per_page": 0}, "per_page must be a whole number >= 1"),
        ({"product_id": 42}, "product_id must be a string or a list"),
        ({"warehouse_id": "wh_1"}, "warehouse_id needs product_id"),
        ({"max_xcom_records": -1}, "max_xcom_records must be a whole number >= 0"),
        ({"output_path": 42}, "output_path must be a string or an ObjectStoragePath"),
    ],
)
def test_invalid_arguments_fail_before_any_request(
    sandbox_env: Sandbox,
    context: dict[str, Any],
    arguments: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(InventoryConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        operator(**arguments).execute(context)

    assert pack_requests(sandbox_env) == []


def test_record_filter_must_be_callable() -> None:
    with pytest.raises(InventoryConfigError, match="record_filter must be a callable"):
        operator(record_filter={"fulfillment_line_id": None})


def test_hook_errors_propagate_with_their_message(
    sandbox_env: Sandbox, context: dict[str, Any]
) -> None:
    sandbox_env.inject("status", status=401, times=None)

    with pytest.raises(Exception, match="HTTP 401") as raised:
        operator().execute(context)

    assert sandbox_env.pack_token not in str(raised.value)
