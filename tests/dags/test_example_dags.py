"""The example DAGs run end to end with ``dag.test()`` against the sandbox."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_inventory.records import read_records
from airflow_provider_inventory.sandbox import Sandbox
from example_dags.example_commercelayer_exports import commercelayer_exports_dag
from example_dags.example_commercelayer_packages import commercelayer_packages_dag
from example_dags.example_inventory_sync import inventory_sync_dag
from example_dags.example_pack_serial_numbers import (
    SANDBOX_PRODUCT_ID,
    pack_serial_numbers_dag,
)
from example_dags.example_pack_shipped_context import pack_shipped_context_dag
from tests.dags.dagruns import EXAMPLE_DAGS, asset_events, run_dag, xcom_value

pytestmark = [
    pytest.mark.sandbox(serial_numbers=3000, packages=300, shipments=3000),
    pytest.mark.usefixtures("airflow_db"),
]

# A daily run for 2025-05-20 covers [2025-05-19, 2025-05-20): inside the sandbox's 90 days.
LOGICAL_DATE = datetime(2025, 5, 20, tzinfo=timezone.utc)
DAY = timedelta(days=1)


@pytest.fixture
def output_dir(sandbox_env: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The examples' ``inventory_output_dir`` Variable, pointed at a fresh directory."""
    monkeypatch.setenv("AIRFLOW_VAR_INVENTORY_OUTPUT_DIR", str(tmp_path))
    return tmp_path


def iso(moment: datetime) -> str:
    """The sandbox's timestamp format, which orders like the instants it names."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def updated_in(record: dict[str, Any], since: datetime, before: datetime) -> bool:
    return iso(since) <= record["updated_at"] < iso(before)


def unshipped_of(sb: Sandbox, product_id: str, since: datetime, before: datetime) -> list[dict]:
    return [
        record
        for record in sb.serial_numbers()
        if record["product_id"] == product_id
        and record["fulfillment_line_id"] is None
        and updated_in(record, since, before)
    ]


def packages_at(sb: Sandbox, code: str) -> list[dict]:
    location_id = next(loc["id"] for loc in sb.stock_locations() if loc["code"] == code)
    return [package for package in sb.packages() if package["stock_location_id"] == location_id]


@pytest.mark.parametrize(
    "dag_id",
    [
        "example_pack_serial_numbers",
        "example_commercelayer_packages",
        "example_inventory_sync",
        "example_pack_shipped_context",
        "example_commercelayer_exports",
    ],
)
def test_example_dag_files_parse_cleanly(dag_id: str) -> None:
    from airflow_provider_inventory._compat import DagBag

    bag = DagBag(dag_folder=str(EXAMPLE_DAGS / f"{dag_id}.py"))

    assert bag.import_errors == {}
    assert bag.dag_ids == [dag_id]
    assert bag.dag_warnings == set()


def test_pack_serial_numbers_example(sandbox_env: Sandbox, output_dir: Path) -> None:
    sb = sandbox_env
    assert SANDBOX_PRODUCT_ID in {record["product_id"] for record in sb.serial_numbers()}
    expected = unshipped_of(sb, SANDBOX_PRODUCT_ID, LOGICAL_DATE - DAY, LOGICAL_DATE)
    assert expected, "the sandbox should have unshipped serial numbers in the window"

    dag_run = run_dag(pack_serial_numbers_dag, LOGICAL_DATE)

    manifest = xcom_value(dag_run, "unshipped_serial_numbers")
    final = output_dir / "pack" / "unshipped" / SANDBOX_PRODUCT_ID / "2025-05-19.jsonl"
    assert manifest["path"] == f"file://{final}"
    assert manifest["window"] == ["2025-05-19T00:00:00.000Z", "2025-05-20T00:00:00.000Z"]
    assert list(read_records(manifest)) == expected
    assert manifest["records"] == len(expected)
    assert manifest["watermark"] == max(record["updated_at"] for record in expected)
    summary = xcom_value(dag_run, "summarise")
    assert summary["unshipped"] == len(expected)
    assert sum(summary["per_stock"].values()) == len(expected)


def test_pack_example_consecutive_runs_miss_and_repeat_nothing(
    sandbox_env: Sandbox, output_dir: Path
) -> None:
    sb = sandbox_env
    product_id = sorted({record["product_id"] for record in sb.serial_numbers()})[1]
    conf = {"product_id": product_id}

    first = xcom_value(run_dag(pack_serial_numbers_dag, LOGICAL_DATE, conf), "summarise")
    second = xcom_value(run_dag(pack_serial_numbers_dag, LOGICAL_DATE + DAY, conf), "summarise")

    ids = [record["id"] for run in (first, second) for record in read_records(run["path"])]
    expected = unshipped_of(sb, product_id, LOGICAL_DATE - DAY, LOGICAL_DATE + DAY)
    assert len(ids) == len(set(ids))
    assert set(ids) == {record["id"] for record in expected}
    assert first["window"][1] == second["window"][0]


def test_commercelayer_packages_example(sandbox_env: Sandbox) -> None:
    expected = packages_at(sandbox_env, "milan_wh")

    dag_run = run_dag(commercelayer_packages_dag, LOGICAL_DATE)

    packages = xcom_value(dag_run, "stock_location_packages")
    assert {package["id"] for package in packages} == {package["id"] for package in expected}
    assert {package["stock_location.name"] for package in packages} == {"Milan Warehouse"}
    assert set(packages[0]) == {
        "id",
        "code",
        "length",
        "width",
        "height",
        "unit_of_length",
        "stock_location.name",
    }
    volumes = xcom_value(dag_run, "volume_per_unit")
    for unit, entry in volumes.items():
        of_unit = [package for package in expected if package["unit_of_length"] == unit]
        total = sum(p["length"] * p["width"] * p["height"] for p in of_unit)
        assert entry["packages"] == len(of_unit)
        assert entry["total_volume"] == pytest.approx(total, abs=0.1)
    assert sum(entry["packages"] for entry in volumes.values()) == len(expected)


def test_inventory_sync_example(sandbox_env: Sandbox, output_dir: Path) -> None:
    sb = sandbox_env
    shipped = [
        record
        for record in sb.serial_numbers()
        if record["fulfillment_line_id"] is not None
        and updated_in(record, LOGICAL_DATE - DAY, LOGICAL_DATE)
    ]
    location_packages = packages_at(sb, "berlin_wh")

    dag_run = run_dag(inventory_sync_dag, LOGICAL_DATE, {"stock_location_code": "berlin_wh"})

    pack = xcom_value(dag_run, "shipped_serial_numbers")
    packages = xcom_value(dag_run, "shipping_location_packages")
    assert [record["id"] for record in read_records(pack)] == [r["id"] for r in shipped]
    assert {record["id"] for record in read_records(packages)} == {
        package["id"] for package in location_packages
    }
    assert packages["path"].endswith(
        "/commercelayer/packages/stock_location_code=berlin_wh.jsonl.gz"
    )
    assert packages["format"] == "jsonl.gz"
    events = {event["name"]: event for event in asset_events(dag_run)}
    assert events["inventory_shipped_serial_numbers"]["extra"] == {
        "records": len(shipped),
        "path": pack["path"],
    }
    assert events["inventory_shipping_location_packages"]["extra"] == {
        "records": len(location_packages),
        "path": packages["path"],
    }
    summary = xcom_value(dag_run, "summary")
    assert summary["pack"]["records"] == len(shipped)
    assert summary["commercelayer"]["records"] == len(location_packages)
    assert pack["path"] in summary["text"]
    assert packages["path"] in summary["text"]


def test_pack_shipped_context_example(sandbox_env: Sandbox, output_dir: Path) -> None:
    sb = sandbox_env
    shipped = [
        record
        for record in sb.serial_numbers()
        if record["fulfillment_line_id"] is not None
        and updated_in(record, LOGICAL_DATE - DAY, LOGICAL_DATE)
    ]
    assert shipped, "the sandbox should have shipped serial numbers in the window"
    products = {p["id"]: p for p in sb.pack_records("products")}
    fulfillment_of = {
        line["id"]: fulfillment
        for fulfillment in sb.pack_records("fulfillments", include=("lines",))
        for line in fulfillment["lines"]
    }

    dag_run = run_dag(pack_shipped_context_dag, LOGICAL_DATE)

    summary = xcom_value(dag_run, "join")
    assert summary["rows"] == len(shipped)
    assert summary["unmatched"] == 0
    rows = list(read_records(summary["path"]))
    assert rows == [
        {
            "code": s["code"],
            "product_id": s["product_id"],
            "product_name": products[s["product_id"]]["name"],
            "sku": products[s["product_id"]]["code"],
            "warehouse_id": next(
                (
                    st["warehouse_id"]
                    for st in sb.pack_records("stocks")
                    if st["id"] == s["stock_id"]
                ),
                None,
            ),
            "fulfillment_id": fulfillment_of[s["fulfillment_line_id"]]["id"],
            "shipped_at": fulfillment_of[s["fulfillment_line_id"]]["shipped_at"],
        }
        for s in shipped
    ]
    # Each product and stock was fetched once for the whole listing, not once per serial number.
    organization = f"/v1/organizations/{sb.organization_id}"
    product_requests = [r for r in sb.requests if r.path == f"{organization}/products"]
    assert len(product_requests) == len({s["product_id"] for s in shipped})


def test_commercelayer_exports_example(sandbox_env: Sandbox, output_dir: Path) -> None:
    expected = [
        shipment
        for shipment in sandbox_env.shipments()
        if shipment["status"] != "draft" and updated_in(shipment, LOGICAL_DATE - DAY, LOGICAL_DATE)
    ]
    assert expected, "the sandbox should have shipments updated in the window"

    dag_run = run_dag(commercelayer_exports_dag, LOGICAL_DATE)

    manifest = xcom_value(dag_run, "shipments")
    assert manifest["path"].endswith("/commercelayer/shipments/2025-05-20.jsonl.gz")  # {{ ds }}
    assert [record["id"] for record in read_records(manifest)] == [s["id"] for s in expected]
    assert xcom_value(dag_run, "per_status") == {
        status: sum(1 for s in expected if s["status"] == status)
        for status in sorted({s["status"] for s in expected})
    }
    assert sandbox_env.exports_created == 1
    assert not sandbox_env.exports
