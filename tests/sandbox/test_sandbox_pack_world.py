"""The sandbox's Pack world: consistent with the serial numbers, deterministic, strict."""

from __future__ import annotations

import pytest
import requests

from airflow_provider_inventory.sandbox import Sandbox

from .conftest import pack_session


def test_the_world_is_consistent_with_the_serial_numbers() -> None:
    sb = Sandbox(seed=2, serial_numbers=900)
    serials = sb.serial_numbers()
    products = {p["id"]: p for p in sb.pack_records("products")}
    stocks = {s["id"]: s for s in sb.pack_records("stocks")}
    warehouses = sb.warehouses()
    fulfillments = sb.pack_records("fulfillments", include=("lines", "lines.serial_numbers"))
    lines = {line["id"]: (f, line) for f in fulfillments for line in f["lines"]}

    assert len(products) == 5
    assert len(stocks) == 20
    for serial in serials:
        assert serial["product_id"] in products
        if serial["stock_id"] is not None:
            stock = stocks[serial["stock_id"]]
            assert stock["product_id"] == serial["product_id"]
            assert stock["id"] in warehouses[stock["warehouse_id"]]
        if serial["fulfillment_line_id"] is not None:
            fulfillment, line = lines[serial["fulfillment_line_id"]]
            assert fulfillment["status"] == "shipped"
            assert fulfillment["shipped_at"] >= serial["updated_at"]
            assert line["product_id"] == serial["product_id"]
            assert line["serial_numbers"] == [serial]
            if serial["stock_id"] is not None:
                assert fulfillment["warehouse_id"] == stocks[serial["stock_id"]]["warehouse_id"]
    unshipped = [s for s in serials if s["fulfillment_line_id"] is None and s["stock_id"]]
    for stock in stocks.values():
        assert stock["quantity_on_hand"] == sum(s["stock_id"] == stock["id"] for s in unshipped)
    assert {f["status"] for f in fulfillments} > {"shipped", "pending"}


def test_the_world_is_deterministic_per_seed() -> None:
    one, two = Sandbox(seed=3, serial_numbers=200), Sandbox(seed=3, serial_numbers=200)
    for resource in ("products", "stocks", "product-warehouses", "fulfillments"):
        assert one.pack_records(resource) == two.pack_records(resource)
    assert one.pack_records("products") != Sandbox(seed=4).pack_records("products")


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("products", {"filter[sku]": "x"}, "unsupported filter 'filter[sku]'"),
        ("fulfillments", {"include": "lines,customer"}, "unsupported include 'customer'"),
        ("products", {"sort": "-price"}, "unsupported sort '-price'"),
        ("stocks", {"query": "x"}, "query is not supported here"),
        ("stocks", {"per_page": "500"}, "per_page must be between 1 and 100"),
        ("stocks", {"cursor": "nope"}, "invalid cursor 'nope'"),
    ],
)
def test_what_pack_does_not_document_answers_400(
    path: str, params: dict[str, str], message: str
) -> None:
    with Sandbox(seed=0, serial_numbers=50) as sb:
        response = pack_session(sb).get(
            f"{sb.url}/v1/organizations/{sb.organization_id}/{path}", params=params, timeout=5
        )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == message


def test_single_records_and_unknown_warehouses() -> None:
    with Sandbox(seed=0, serial_numbers=50) as sb:
        session = pack_session(sb)
        base = f"{sb.url}/v1/organizations/{sb.organization_id}"
        product = sb.pack_records("products")[0]
        assert session.get(f"{base}/products/{product['id']}", timeout=5).json() == {
            "data": product
        }
        assert session.get(f"{base}/products/nope", timeout=5).status_code == 404
        assert session.get(f"{base}/stocks/{product['id']}", timeout=5).status_code == 404
        missing = session.get(f"{sb.url}/v1/warehouses/wh_nope/products", timeout=5)
        assert missing.status_code == 404
        unauthorized = requests.get(f"{base}/products", timeout=5)
        assert unauthorized.status_code == 401


def test_faults_apply_to_the_new_endpoints() -> None:
    with Sandbox(seed=0, serial_numbers=50) as sb:
        path = f"/v1/organizations/{sb.organization_id}/fulfillments"
        sb.inject("status", status=503, match=path)
        session = pack_session(sb)
        assert session.get(sb.url + path, timeout=5).status_code == 503
        assert session.get(sb.url + path, timeout=5).status_code == 200


def test_the_world_belongs_to_the_sandboxs_organization() -> None:
    with Sandbox(seed=0, serial_numbers=50, organization_id="org_elsewhere") as sb:
        warehouse = next(iter(sb.warehouses()))
        url = f"{sb.url}/v1/warehouses/{warehouse}/products"
        session = pack_session(sb)
        ours = session.get(
            url, params={"filter[organization_id]": "org_elsewhere", "include": "organization"}
        ).json()["data"]
        others = session.get(url, params={"filter[organization_id]": "org_sandbox"}).json()
    assert ours == sb.pack_records("products", warehouse_id=warehouse, include=("organization",))
    assert ours
    assert {p["organization"]["id"] for p in ours} == {"org_elsewhere"}
    assert "organization_id" not in ours[0]
    assert others["data"] == []
    assert {f["organization_id"] for f in sb.pack_records("fulfillments")} == {"org_elsewhere"}
