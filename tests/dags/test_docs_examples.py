"""The documentation's code examples (``docs/examples/``, included into the pages with
``literalinclude``) run end to end with ``dag.test()`` against the sandbox, so they cannot rot."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_inventory.records import read_records
from airflow_provider_inventory.sandbox import Sandbox
from tests.dags.dagruns import REPO, run_dag, xcom_value
from tests.dags.test_example_dags import DAY, LOGICAL_DATE, packages_at, unshipped_of, updated_in

if TYPE_CHECKING:
    from airflow.sdk import DAG

pytestmark = [
    pytest.mark.sandbox(serial_numbers=600, packages=120),
    pytest.mark.usefixtures("airflow_db"),
]

EXAMPLES = REPO / "docs" / "examples"


def load_dag(filename: str, dag_id: str) -> DAG:
    """The DAG ``dag_id`` of ``docs/examples/<filename>``, parsed as Airflow parses DAG files."""
    from airflow_provider_inventory._compat import DagBag

    bag = DagBag(dag_folder=str(EXAMPLES / filename))
    assert bag.import_errors == {}
    assert bag.dag_ids == [dag_id]
    return bag.dags[dag_id]


@pytest.fixture
def output_url(sandbox_env: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The examples' ``INVENTORY_OUTPUT``, a fresh folder (set before the DAG file is parsed)."""
    monkeypatch.setenv("INVENTORY_OUTPUT", f"file://{tmp_path}")
    return f"file://{tmp_path}"


def test_quickstart(sandbox_env: Sandbox, output_url: str) -> None:
    sb = sandbox_env
    product_id = sorted({record["product_id"] for record in sb.serial_numbers()})[0]
    unshipped = unshipped_of(sb, product_id, LOGICAL_DATE - DAY, LOGICAL_DATE)
    packages = packages_at(sb, "milan_wh")
    assert unshipped, "the sandbox should have unshipped serial numbers in the window"

    dag_run = run_dag(
        load_dag("quickstart.py", "inventory"), LOGICAL_DATE, {"product_id": product_id}
    )

    manifest = xcom_value(dag_run, "serials")
    assert manifest["path"] == f"{output_url}/serials/2025-05-19.jsonl"
    assert [record["code"] for record in read_records(manifest)] == [r["code"] for r in unshipped]
    assert {record["id"] for record in xcom_value(dag_run, "packages")} == {
        package["id"] for package in packages
    }
    assert xcom_value(dag_run, "summarise") == (
        f"{len(unshipped)} unshipped serial numbers, {len(packages)} packages"
    )


def test_partitioned_listing(sandbox_env: Sandbox, output_url: str) -> None:
    dag_run = run_dag(load_dag("partitioned_listing.py", "packages_partitioned"), LOGICAL_DATE)

    plan = xcom_value(dag_run, "plan")
    assert 1 < len(plan) <= 8
    manifests = [xcom_value(dag_run, "packages", index) for index in range(len(plan))]
    paths = [manifest["path"] for manifest in manifests]
    assert paths == [
        f"{output_url}/packages/2025-05-20/part-{i}.jsonl.gz" for i in range(len(plan))
    ]
    ids = [record["id"] for manifest in manifests for record in read_records(manifest)]
    assert len(ids) == len(set(ids))
    assert set(ids) == {package["id"] for package in sandbox_env.packages()}


def test_parquet_output(sandbox_env: Sandbox, output_url: str) -> None:
    pytest.importorskip("pyarrow")
    in_window = [
        record
        for record in sandbox_env.serial_numbers()
        if updated_in(record, LOGICAL_DATE - DAY, LOGICAL_DATE)
    ]

    dag_run = run_dag(load_dag("parquet_output.py", "serial_numbers_to_parquet"), LOGICAL_DATE)

    manifest = xcom_value(dag_run, "serial_numbers")
    assert manifest["format"] == "parquet"
    assert manifest["path"] == f"{output_url}/serials/2025-05-19.parquet"
    assert manifest["records"] == len(in_window)
    expected: dict[str, Any] = Counter(record["stock_id"] for record in in_window)
    assert xcom_value(dag_run, "per_stock") == dict(expected)


def test_event_driven_dag_is_scheduled_by_a_watched_asset() -> None:
    from airflow_provider_inventory.triggers.commercelayer import CommerceLayerChangesTrigger

    dag = load_dag("event_driven.py", "on_package_change")

    assets = list(dag.timetable.asset_condition.objects)  # schedule=[asset]: all of them
    assert [asset.uri for asset in assets] == ["commercelayer://yourdomain/packages"]
    (watcher,) = assets[0].watchers
    assert isinstance(watcher.trigger, CommerceLayerChangesTrigger)
    _, kwargs = watcher.trigger.serialize()
    assert kwargs["resource"] == "packages"
    assert kwargs["poll_interval"] == 60
