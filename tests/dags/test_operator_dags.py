"""Operators inside a real DAG run: every templated field rendered by Airflow, dynamic mapping."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import pytest

from airflow_provider_inventory.records import read_records
from airflow_provider_inventory.sandbox import Sandbox
from tests.conftest import set_connections
from tests.dags.dag_files.inventory_operator_dags import inventory_operator_templating_dag
from tests.dags.dagruns import run_dag, xcom_value

if TYPE_CHECKING:
    from airflow.models.dagrun import DagRun


# A monthly data interval: the run for 2025-05-01 covers [2025-04-01, 2025-05-01).
LOGICAL_DATE = datetime(2025, 5, 1, tzinfo=timezone.utc)
SINCE, BEFORE = "2025-04-01T00:00:00.000Z", "2025-05-01T00:00:00.000Z"
PARTITIONS = 3


def in_window(record: dict[str, Any]) -> bool:
    return SINCE <= record["updated_at"] < BEFORE


def run_conf(sb: Sandbox, output_dir: Path) -> dict[str, Any]:
    """Values for every templated argument; ids come from the sandbox's data."""
    serials = sb.serial_numbers()
    warehouse, stocks = next(iter(sb.warehouses().items()))
    in_warehouse = next(r for r in serials if r["stock_id"] in stocks)
    packages = sorted(p["id"] for p in sb.packages())
    return {
        "pack_conn_id": "pack_templated",
        "cl_conn_id": "commercelayer_templated",
        "output_dir": f"file://{output_dir}",
        "product_ids": sorted({r["product_id"] for r in serials})[:2],
        "stock_ids": sorted({r["stock_id"] for r in serials if r["stock_id"]})[:3],
        "per_page": 40,
        "where": {"fulfillment_line_id": None},
        "select": ["id", "code", "stock_id"],
        "warehouse_id": warehouse,
        "warehouse_product_id": in_warehouse["product_id"],
        "code": in_warehouse["code"],
        "resource": "packages",
        "partitions": PARTITIONS,
        "filters": {"unit_of_length_eq": "cm"},
        "sort": "-created_at",
        "fields": ["code", "unit_of_length"],
        "include": ["stock_location"],
        "page_size": 9,
        "cl_where": {"stock_location.code": "milan_wh"},
        "cl_select": ["id", "code", "stock_location.code"],
        "partition": {"id_gteq": None, "id_lt": packages[len(packages) // 3]},
        "max_workers": 3,
    }


class TemplatedRun(NamedTuple):
    sandbox: Sandbox
    run: DagRun
    conf: dict[str, Any]
    output_dir: Path


@pytest.fixture(scope="module")
def templated(airflow_db: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TemplatedRun]:
    """One run of the templating DAG, with connections only under the templated ids."""
    output_dir = tmp_path_factory.mktemp("templated")
    with Sandbox(serial_numbers=1000, packages=300) as sb, pytest.MonkeyPatch.context() as mp:
        set_connections(
            sb, mp, pack_conn_id="pack_templated", commercelayer_conn_id="commercelayer_templated"
        )
        conf = run_conf(sb, output_dir)
        run = run_dag(inventory_operator_templating_dag, LOGICAL_DATE, conf)
        yield TemplatedRun(sb, run, conf, output_dir)


def test_pack_arguments_are_templated(templated: TemplatedRun) -> None:
    sandbox, run, conf, tmp_path = templated

    manifest = xcom_value(run, "pack_templated")

    expected = [
        {"id": r["id"], "code": r["code"], "stock_id": r["stock_id"]}
        for r in sandbox.serial_numbers()
        if r["product_id"] in conf["product_ids"]
        and r["stock_id"] in conf["stock_ids"]
        and r["fulfillment_line_id"] is None
        and in_window(r)
    ]
    assert expected
    assert manifest["path"] == f"file://{tmp_path}/pack/2025-04-01.jsonl.gz"
    assert manifest["window"] == [SINCE, BEFORE]
    assert sorted(read_records(manifest), key=lambda r: r["id"]) == sorted(
        expected, key=lambda r: r["id"]
    )
    pages = [r for r in sandbox.requests if r.api == "pack" and "filter[stock_id]" in r.query]
    assert pages
    assert {request.query["per_page"][0] for request in pages} == {"40"}
    warehouse = xcom_value(run, "pack_warehouse")
    assert [record["code"] for record in warehouse] == [conf["code"]]


def test_pack_mapped_over_product_ids(templated: TemplatedRun) -> None:
    sandbox, run, conf, tmp_path = templated

    for index, product_id in enumerate(conf["product_ids"]):
        manifest = xcom_value(run, "pack_per_product", map_index=index)
        expected = [
            r for r in sandbox.serial_numbers() if r["product_id"] == product_id and in_window(r)
        ]
        assert manifest["path"] == f"file://{tmp_path}/per-product/{index}.jsonl"
        assert list(read_records(manifest)) == expected


def test_commercelayer_partitions_equal_the_whole_listing(templated: TemplatedRun) -> None:
    sandbox, run, _, tmp_path = templated

    plan = xcom_value(run, "cl_plan")
    manifests = [xcom_value(run, "cl_partitions", map_index=i) for i in range(len(plan))]

    assert len(plan) == PARTITIONS
    assert [m["path"] for m in manifests] == [
        f"file://{tmp_path}/cl/part-{i}.jsonl" for i in range(PARTITIONS)
    ]
    fetched = [record["id"] for m in manifests for record in read_records(m)]
    expected = [p["id"] for p in sandbox.packages() if p["unit_of_length"] == "cm" and in_window(p)]
    assert all(m["records"] for m in manifests)
    assert len(fetched) == len(set(fetched))
    assert sorted(fetched) == sorted(expected)


def test_commercelayer_arguments_are_templated(templated: TemplatedRun) -> None:
    sandbox, run, conf, _ = templated
    milan = next(loc for loc in sandbox.stock_locations() if loc["code"] == "milan_wh")

    records = xcom_value(run, "cl_templated")

    expected = sorted(
        (
            p
            for p in sandbox.packages()
            if p["unit_of_length"] == "cm"
            and in_window(p)
            and p["stock_location_id"] == milan["id"]
        ),
        key=lambda p: p["created_at"],
        reverse=True,
    )
    assert expected
    assert records == [
        {"id": p["id"], "code": p["code"], "stock_location.code": "milan_wh"} for p in expected
    ]
    listing = [r for r in sandbox.requests if r.query.get("sort") == ["-created_at"]]
    assert listing
    assert {r.query["page[size]"][0] for r in listing} == {"9"}
    assert {r.query["fields[packages]"][0] for r in listing} == {
        "code,unit_of_length,stock_location"
    }
    bound = conf["partition"]["id_lt"]
    one_partition = xcom_value(run, "cl_one_partition")
    assert sorted(r["id"] for r in one_partition) == sorted(
        p["id"] for p in sandbox.packages() if p["id"] < bound
    )
    workers = xcom_value(run, "cl_workers")
    assert sorted(r["id"] for r in workers) == sorted(p["id"] for p in sandbox.packages())
