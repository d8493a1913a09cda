"""PackListOperator and serial numbers in context against the sandbox: XCom, typed Parquet
columns per resource, selection, refusals before any request, and lineage names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_inventory.exceptions import InventoryConfigError
from airflow_provider_inventory.operators.pack import PackListOperator, PackSerialNumbersOperator
from airflow_provider_inventory.records import read_records
from airflow_provider_inventory.sandbox import Sandbox

pytestmark = pytest.mark.sandbox(seed=4, serial_numbers=300, packages=0, stock_locations=0)

TIMESTAMP = pa.timestamp("us", tz="UTC")


def pack_requests(sb: Sandbox) -> list[Any]:
    return [request for request in sb.requests if request.api == "pack"]


def test_lists_a_resource_with_filters_and_includes_to_xcom(
    sandbox_env: Sandbox, context: dict[str, Any]
) -> None:
    task = PackListOperator(
        task_id="fulfillments",
        resource="fulfillments",
        filters={"status": "shipped"},
        include=["lines", "warehouse"],
        per_page=30,
    )

    records = task.execute(context)

    expected = [
        r
        for r in sandbox_env.pack_records("fulfillments", include=("lines", "warehouse"))
        if r["status"] == "shipped"
    ]
    assert records == expected
    assert all(r.query["include"] == ["lines,warehouse"] for r in pack_requests(sandbox_env))


def test_fulfillments_to_parquet_with_typed_columns_and_lineage(
    sandbox_env: Sandbox, context: dict[str, Any], tmp_path: Path
) -> None:
    target = tmp_path / "fulfillments.parquet"
    task = PackListOperator(
        task_id="fulfillments",
        resource="fulfillments",
        include="lines,lines.serial_numbers",
        output_path=str(target),
    )

    manifest = task.execute(context)

    schema = pq.read_schema(target)
    assert schema.names == [
        "id",
        "status",
        "warehouse_id",
        "organization_id",
        "release_at",
        "shipped_at",
        "created_at",
        "updated_at",
        "lines",
    ]
    assert schema.field("shipped_at").type == TIMESTAMP
    assert not schema.field("id").nullable
    assert schema.field("lines").type == pa.string()  # JSON text
    expected = sandbox_env.pack_records("fulfillments", include=("lines", "lines.serial_numbers"))
    assert manifest["records"] == len(expected)
    assert [r["id"] for r in read_records(manifest)] == [r["id"] for r in expected]
    lineage = task.get_openlineage_facets_on_complete(None)
    (source,) = lineage.inputs
    assert (source.namespace, source.name) == (
        f"pack://{sandbox_env.organization_id}",
        "fulfillments",
    )
    assert [f.name for f in source.facets["schema"].fields] == schema.names


def test_product_warehouses_parquet_keeps_booleans_and_integers(
    sandbox_env: Sandbox, context: dict[str, Any], tmp_path: Path
) -> None:
    target = tmp_path / "pw.parquet"

    manifest = PackListOperator(
        task_id="pw", resource="product-warehouses", output_path=str(target)
    ).execute(context)

    schema = pq.read_schema(target)
    assert schema.field("needs_serial_number").type == pa.bool_()
    assert schema.field("quantity_on_hand").type == pa.int64()
    assert manifest["records"] == len(sandbox_env.pack_records("product-warehouses"))


def test_where_select_and_rendered_text_arguments(
    sandbox_env: Sandbox, context: dict[str, Any]
) -> None:
    task = PackListOperator(
        task_id="products",
        resource="products",
        filters="{'type': ['standard', 'virtual_bundle']}",
        sort="-name",
        max_workers="2",
        where={"brand_name": [p["brand_name"] for p in sandbox_env.pack_records("products")][:1]},
        select="id,name",
    )

    records = task.execute(context)

    products = sandbox_env.pack_records("products")
    brand = products[0]["brand_name"]
    assert sorted(records, key=lambda r: r["id"]) == sorted(
        ({"id": p["id"], "name": p["name"]} for p in products if p["brand_name"] == brand),
        key=lambda r: r["id"],
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"resource": "orders"}, "not a Pack list resource"),
        ({"resource": "stocks", "filters": {"sku": "x"}}, "no filter\\[sku\\] for stocks"),
        ({"resource": "products", "include": "stocks"}, "include='stocks'"),
        ({"resource": "products", "select": ["colour"]}, "colour"),
        ({"resource": "stocks", "warehouse_id": "wh_1"}, "no warehouse endpoint for stocks"),
    ],
)
def test_invalid_arguments_fail_before_any_request(
    sandbox_env: Sandbox, context: dict[str, Any], arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(InventoryConfigError, match=message):
        PackListOperator(task_id="bad", **arguments).execute(context)
    assert pack_requests(sandbox_env) == []


def test_serial_numbers_with_context_to_parquet(
    sandbox_env: Sandbox, context: dict[str, Any], tmp_path: Path
) -> None:
    target = tmp_path / "serials.parquet"
    standard = [p["id"] for p in sandbox_env.pack_records("products") if p["type"] == "standard"]
    task = PackSerialNumbersOperator(
        task_id="serials",
        product_id=standard,
        max_workers=3,
        expand="product,stock",
        where={"product.type": "standard"},
        output_path=str(target),
    )

    manifest = task.execute(context)

    schema = pq.read_schema(target)
    assert schema.names[-2:] == ["product", "stock"]
    assert schema.field("product").type == pa.string()
    records = list(read_records(manifest))
    expected = [s for s in sandbox_env.serial_numbers() if s["product_id"] in standard]
    assert sorted(r["id"] for r in records) == sorted(s["id"] for s in expected)
    assert all(r["product"]["id"] == r["product_id"] for r in records)
    assert all((r["stock"] is None) == (r["stock_id"] is None) for r in records)


def test_select_reaches_into_an_include(sandbox_env: Sandbox, context: dict[str, Any]) -> None:
    records = PackListOperator(
        task_id="stock",
        resource="product-warehouses",
        include=["product"],
        select=["product_id", "product.name", "quantity_available"],
    ).execute(context)

    expected = [
        {
            "product_id": r["product_id"],
            "product.name": r["product"]["name"],
            "quantity_available": r["quantity_available"],
        }
        for r in sandbox_env.pack_records("product-warehouses", include=("product",))
    ]
    assert records == expected
