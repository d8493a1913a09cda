"""Any type of the bundled Commerce Layer schema, served generically (``Sandbox.add_resources``):
attributes, sorts, filters and includes follow the schema, anything else is a 400."""

from __future__ import annotations

import pytest

from airflow_provider_inventory.sandbox import Sandbox
from airflow_provider_inventory.sandbox.resources import sample_records

from .conftest import cl_all, cl_session


@pytest.fixture
def stocked(sb: Sandbox) -> Sandbox:
    location = sb.stock_locations()[0]
    sb.add_resources("skus", sample_records("skus", 2))
    sb.add_resources(
        "stock_items",
        sample_records("stock_items", 6, sku_id="s-00000001", stock_location_id=location["id"]),
    )
    return sb


def test_records_come_back_with_the_schema_attributes(stocked: Sandbox) -> None:
    session = cl_session(stocked)
    items = cl_all(session, f"{stocked.url}/api/stock_items", {"sort": "-quantity"})

    assert [item["attributes"]["quantity"] for item in items] == [5, 4, 3, 2, 1, 0]
    assert set(items[0]["attributes"]) == {
        "created_at", "metadata", "quantity", "reference", "reference_origin", "sku_code",
        "updated_at",
    }  # fmt: skip
    assert "sku_id" not in items[0]["attributes"]  # a relationship, not an attribute


def test_filters_reach_through_to_one_relationships(stocked: Sandbox) -> None:
    session = cl_session(stocked)
    code = stocked.stock_locations()[0]["code"]
    url = f"{stocked.url}/api/stock_items"

    assert len(cl_all(session, url, {"filter[q][sku_code_eq]": "code-1"})) == 6
    assert cl_all(session, url, {"filter[q][sku_code_eq]": "code-0"}) == []
    assert len(cl_all(session, url, {"filter[q][stock_location_code_eq]": code})) == 6
    assert len(cl_all(session, url, {"filter[q][quantity_gteq]": "4"})) == 2


def test_included_records_are_served(stocked: Sandbox) -> None:
    session = cl_session(stocked)
    response = session.get(
        f"{stocked.url}/api/stock_items", params={"include": "sku", "page[size]": "1"}, timeout=5
    )
    document = response.json()
    assert document["data"][0]["relationships"]["sku"]["data"] == {
        "type": "skus",
        "id": "s-00000001",
    }
    assert [(r["type"], r["id"]) for r in document["included"]] == [("skus", "s-00000001")]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"filter[q][quantyty_gt]": "1"}, "FILTER_NOT_ALLOWED"),
        ({"sort": "sku_code"}, "INVALID_SORT_CRITERIA"),  # not sortable in the schema
        ({"include": "event_stores"}, "INVALID_INCLUDE"),  # not includable in the schema
        ({"fields[stock_items]": "quantiy"}, "INVALID_FIELD"),
    ],
)
def test_unknown_names_are_a_400(stocked: Sandbox, params: dict[str, str], code: str) -> None:
    response = cl_session(stocked).get(f"{stocked.url}/api/stock_items", params=params, timeout=5)
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == code


def test_unknown_types_are_not_found_and_not_stored(sb: Sandbox) -> None:
    response = cl_session(sb).get(f"{sb.url}/api/stock_itemz", timeout=5)
    assert response.status_code == 404
    with pytest.raises(KeyError):
        sb.add_resources("stock_itemz", [{"id": "x"}])
    assert sb.resources("shipments") == []
