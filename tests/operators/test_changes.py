"""``changes=True`` on the listing operators, against the sandbox over loopback, for both APIs.

Every case mutates the sandbox between runs and checks the published change set against what
the sandbox holds: exactly the created, updated and deleted records, nothing else.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_inventory.exceptions import (
    BadResponseError,
    InventoryConfigError,
    MassDeletionError,
)
from airflow_provider_inventory.operators.base import InventoryListOperator
from airflow_provider_inventory.operators.commercelayer import CommerceLayerPackagesOperator
from airflow_provider_inventory.operators.pack import PackSerialNumbersOperator
from airflow_provider_inventory.records import read_records
from airflow_provider_inventory.sandbox import Sandbox

pytestmark = pytest.mark.sandbox(serial_numbers=200, packages=120, stock_locations=4)

Records = list[dict[str, Any]]
META = ("_change", "_seen_at")


def pack(**kwargs: Any) -> PackSerialNumbersOperator:
    return PackSerialNumbersOperator(task_id="serials", changes=True, per_page=30, **kwargs)


def packages(**kwargs: Any) -> CommerceLayerPackagesOperator:
    return CommerceLayerPackagesOperator(task_id="packages", changes=True, page_size=20, **kwargs)


def kinds(change_set: Records) -> dict[str, str]:
    """``{id: _change}``, refusing an id that appears twice."""
    result = {record["id"]: record["_change"] for record in change_set}
    assert len(result) == len(change_set)
    return result


def expected_kinds(before: Records, after: Records) -> dict[str, str]:
    old = {record["id"]: record for record in before}
    new = {record["id"]: record for record in after}
    result = dict.fromkeys(old.keys() - new.keys(), "deleted")
    result.update(dict.fromkeys(new.keys() - old.keys(), "created"))
    result.update({i: "updated" for i in new.keys() & old.keys() if new[i] != old[i]})
    return result


def without_meta(record: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in record.items() if key not in META}


def files_in(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


def mutate_serial_numbers(sb: Sandbox) -> None:
    """Two created, two updated, two deleted serial numbers."""
    records = sb.serial_numbers()
    sb.add_serial_number(code="NEW001-AAAAAA-000001")
    sb.add_serial_number(code="NEW002-AAAAAA-000002")
    sb.update_serial_number(records[10]["id"], stock_id="stock_moved")
    sb.update_serial_number(records[20]["id"], fulfillment_line_id="fl_shipped")
    sb.delete_serial_number(records[30]["id"])
    sb.delete_serial_number(records[40]["id"])


def mutate_packages(sb: Sandbox) -> None:
    """Two created, two updated, two deleted packages."""
    records = sb.packages()
    sb.add_package(name="New box", code="NEW-BOX-1")
    sb.add_package(name="New crate", code="NEW-CRATE-2")
    sb.update_package(records[5]["id"], length=99.5)
    sb.update_package(records[6]["id"], name="Renamed")
    sb.delete_package(records[7]["id"])
    sb.delete_package(records[8]["id"])


# ---------------------------------------------------------------------- both APIs

API_CASES = [
    pytest.param(pack, Sandbox.serial_numbers, mutate_serial_numbers, id="pack-serial-numbers"),
    pytest.param(packages, Sandbox.packages, mutate_packages, id="commercelayer-packages"),
]


def listed(sb: Sandbox, records_of: Callable[[Sandbox], Records]) -> Records:
    """The sandbox's records as the operator publishes them (Commerce Layer's flat records
    carry ``stock_location_id`` only when the relationship is included)."""
    records = records_of(sb)
    if records_of is Sandbox.packages:
        return [{k: v for k, v in r.items() if k != "stock_location_id"} for r in records]
    return records


@pytest.mark.parametrize(("make", "records_of", "mutate"), API_CASES)
def test_create_update_delete_between_runs_gives_exactly_those_changes(
    sandbox_env: Sandbox,
    context: dict[str, Any],
    tmp_path: Path,
    make: Callable[..., InventoryListOperator[Any]],
    records_of: Callable[[Sandbox], Records],
    mutate: Callable[[Sandbox], None],
) -> None:
    sb = sandbox_env
    before = listed(sb, records_of)

    first = make(output_path=str(tmp_path / "out" / "first.jsonl")).execute(context)

    assert first["changes"] == {
        "created": len(before),
        "updated": 0,
        "deleted": 0,
        "unchanged": 0,
    }
    assert first["previous_records"] == 0
    first_set = list(read_records(first))
    assert sorted(map(without_meta, first_set), key=lambda r: r["id"]) == sorted(
        before, key=lambda r: r["id"]
    )
    assert {r["_change"] for r in first_set} == {"created"}

    mutate(sb)
    after = listed(sb, records_of)
    started = time.time()
    second = make(output_path=str(tmp_path / "out" / "second.jsonl")).execute(context)

    change_set = list(read_records(second))
    expected = expected_kinds(before, after)
    assert kinds(change_set) == expected
    assert sorted(expected.values()) == ["created"] * 2 + ["deleted"] * 2 + ["updated"] * 2
    current = {record["id"]: record for record in after}
    for record in change_set:
        if record["_change"] == "deleted":
            assert set(record) == {"id", "_change", "_seen_at"}
        else:
            assert without_meta(record) == current[record["id"]]
        assert abs(_epoch(record["_seen_at"]) - started) < 60
    assert second["changes"] == {
        "created": 2,
        "updated": 2,
        "deleted": 2,
        "unchanged": len(before) - 4,
    }
    assert second["previous_records"] == len(before)
    assert second["records"] == 6
    assert second["snapshot"] == first["snapshot"]
    assert (
        Path(second["snapshot"].removeprefix("file://")).parent == tmp_path / "out" / "_snapshots"
    )

    third = make(output_path=str(tmp_path / "out" / "third.jsonl")).execute(context)

    assert third["records"] == 0
    assert third["changes"]["unchanged"] == len(after)


def _epoch(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@pytest.mark.parametrize(("make", "records_of", "mutate"), API_CASES)
def test_parquet_and_jsonl_change_sets_read_back_the_same(
    sandbox_env: Sandbox,
    context: dict[str, Any],
    tmp_path: Path,
    make: Callable[..., InventoryListOperator[Any]],
    records_of: Callable[[Sandbox], Records],
    mutate: Callable[[Sandbox], None],
) -> None:
    pytest.importorskip("pyarrow")
    jsonl_snapshots, parquet_snapshots = tmp_path / "snap-jsonl", tmp_path / "snap-parquet"
    make(output_path=str(tmp_path / "a.jsonl.gz"), snapshot_path=str(jsonl_snapshots)).execute(
        context
    )
    make(output_path=str(tmp_path / "a.parquet"), snapshot_path=str(parquet_snapshots)).execute(
        context
    )
    mutate(sandbox_env)

    as_jsonl = make(
        output_path=str(tmp_path / "b.jsonl.gz"), snapshot_path=str(jsonl_snapshots)
    ).execute(context)
    as_parquet = make(
        output_path=str(tmp_path / "b.parquet"), snapshot_path=str(parquet_snapshots)
    ).execute(context)

    from_jsonl = list(read_records(as_jsonl))
    from_parquet = list(read_records(as_parquet))
    assert len(from_jsonl) == 6
    assert _without_seen_at(from_parquet) == _without_seen_at(from_jsonl)
    assert as_parquet["changes"] == as_jsonl["changes"]
    assert as_parquet["format"] == "parquet"


def _without_seen_at(records: Records) -> Records:
    """The two runs started at different instants; everything else must be equal."""
    return [{k: v for k, v in r.items() if k != "_seen_at"} for r in records]


@pytest.mark.parametrize(("make", "records_of", "mutate"), API_CASES)
def test_mass_deletion_guard_trips_and_publishes_nothing(
    sandbox_env: Sandbox,
    context: dict[str, Any],
    tmp_path: Path,
    make: Callable[..., InventoryListOperator[Any]],
    records_of: Callable[[Sandbox], Records],
    mutate: Callable[[Sandbox], None],
) -> None:
    sb = sandbox_env
    first = make(output_path=str(tmp_path / "first.jsonl")).execute(context)
    snapshot = Path(first["snapshot"].removeprefix("file://"))
    kept = snapshot.read_bytes()
    records = records_of(sb)
    gone = records[: len(records) // 4]
    delete = sb.delete_serial_number if records_of is Sandbox.serial_numbers else sb.delete_package
    for record in gone:
        delete(record["id"])

    with pytest.raises(MassDeletionError) as raised:
        make(output_path=str(tmp_path / "second.jsonl")).execute(context)

    message = str(raised.value)
    assert f"{len(gone):,} of the {len(records):,} records" in message
    assert "max_deleted_fraction=0.2" in message
    assert "Nothing was published" in message
    assert not (tmp_path / "second.jsonl").exists()
    assert snapshot.read_bytes() == kept
    assert files_in(tmp_path) == ["_snapshots/" + snapshot.name, "first.jsonl"]

    allowed = make(output_path=str(tmp_path / "second.jsonl"), max_deleted_fraction="0.3").execute(
        context
    )

    assert allowed["changes"]["deleted"] == len(gone)
    assert kinds(list(read_records(allowed))) == {r["id"]: "deleted" for r in gone}


@pytest.mark.parametrize(("make", "records_of", "mutate"), API_CASES)
def test_a_run_failing_mid_listing_keeps_the_snapshot_and_its_rerun_gives_the_same_changes(
    sandbox_env: Sandbox,
    context: dict[str, Any],
    tmp_path: Path,
    make: Callable[..., InventoryListOperator[Any]],
    records_of: Callable[[Sandbox], Records],
    mutate: Callable[[Sandbox], None],
) -> None:
    sb = sandbox_env
    before = listed(sb, records_of)
    first = make(output_path=str(tmp_path / "first.jsonl")).execute(context)
    snapshot = Path(first["snapshot"].removeprefix("file://"))
    kept = snapshot.read_bytes()
    mutate(sb)
    sb.inject("malformed_json", after=3)

    with pytest.raises(BadResponseError, match="not valid JSON"):
        make(output_path=str(tmp_path / "second.jsonl")).execute(context)

    assert snapshot.read_bytes() == kept
    assert not (tmp_path / "second.jsonl").exists()
    rerun = make(output_path=str(tmp_path / "second.jsonl")).execute(context)
    assert kinds(list(read_records(rerun))) == expected_kinds(before, listed(sb, records_of))


# ---------------------------------------------------------------------- kill -9


CHILD = """
import json, sys
from airflow.sdk.execution_time.context import OutletEventAccessors
from airflow_provider_inventory.operators.pack import PackSerialNumbersOperator
operator = PackSerialNumbersOperator(
    task_id="serials", changes=True, per_page=10, output_path=sys.argv[1]
)
print(json.dumps(operator.execute({"outlet_events": OutletEventAccessors()})), flush=True)
"""


def test_a_run_killed_mid_listing_keeps_the_snapshot_and_its_rerun_gives_the_same_changes(
    sandbox_env: Sandbox, context: dict[str, Any], tmp_path: Path
) -> None:
    sb = sandbox_env
    before = sb.serial_numbers()
    output = tmp_path / "serials.jsonl"
    first = pack(output_path=str(output)).execute(context)
    snapshot = Path(first["snapshot"].removeprefix("file://"))
    kept = snapshot.read_bytes()
    mutate_serial_numbers(sb)
    sb.clear_requests()
    # Every Pack request after the fourth hangs (retries too): the child stops mid-listing.
    stall = sb.inject("delay", seconds=120, after=4, times=None, match="/v1/")

    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(output)],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while stall.skip > 0 or len([r for r in sb.requests if r.api == "pack"]) < 4:
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the child never reached the fifth page"
            time.sleep(0.05)
        time.sleep(0.2)
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate()
    sb.clear_faults()

    assert child.returncode == -signal.SIGKILL
    assert snapshot.read_bytes() == kept
    assert json.loads(output.read_text().splitlines()[0])["_change"] == "created"  # first run's
    rerun = pack(output_path=str(output)).execute(context)
    assert kinds(list(read_records(rerun))) == expected_kinds(before, sb.serial_numbers())
    assert rerun["changes"]["deleted"] == 2


# ---------------------------------------------------------------------- scopes and XCom


def test_two_scopes_never_mix(
    sandbox_env: Sandbox, context: dict[str, Any], tmp_path: Path
) -> None:
    sb = sandbox_env
    products = sorted({r["product_id"] for r in sb.serial_numbers()})[:2]
    snapshots = tmp_path / "snapshots"

    def run(product: str, name: str) -> Any:
        return pack(
            product_id=product, output_path=str(tmp_path / name), snapshot_path=str(snapshots)
        ).execute(context)

    first = [run(product, f"{product}-1.jsonl") for product in products]
    assert first[0]["snapshot"] != first[1]["snapshot"]
    victim = next(r for r in sb.serial_numbers() if r["product_id"] == products[0])
    sb.delete_serial_number(victim["id"])
    sb.add_serial_number(product_id=products[1], code="NEW003-AAAAAA-000003")

    second = [run(product, f"{product}-2.jsonl") for product in products]

    assert kinds(list(read_records(second[0]))) == {victim["id"]: "deleted"}
    assert [r["code"] for r in read_records(second[1])] == ["NEW003-AAAAAA-000003"]
    assert sorted(p.name for p in snapshots.iterdir()) == sorted(
        Path(s["snapshot"]).name for s in second
    )


def test_xcom_change_set_with_snapshot_path(
    sandbox_env: Sandbox, context: dict[str, Any], tmp_path: Path
) -> None:
    sb = sandbox_env
    first = pack(snapshot_path=f"file://{tmp_path}/snapshots/").execute(context)
    assert len(first) == 200
    victim = sb.serial_numbers()[0]
    sb.update_serial_number(victim["id"], code="CHANGED-CODE-0001")

    second = pack(snapshot_path=f"file://{tmp_path}/snapshots/", select=["id", "code"]).execute(
        context
    )
    third = pack(snapshot_path=f"file://{tmp_path}/snapshots/", select=["id", "code"]).execute(
        context
    )

    assert len(second) == 200  # select changes the scope: a new snapshot, all created
    assert third == []
    changed = pack(snapshot_path=f"file://{tmp_path}/snapshots/").execute(context)
    assert [without_meta(r) for r in changed] == [sb.serial_numbers()[0]]
    assert changed[0]["_change"] == "updated"
    assert len(list((tmp_path / "snapshots").iterdir())) == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "set snapshot_path"),
        ({"snapshot_path": "/tmp/x", "updated_since": "2025-01-01"}, "takes no time window"),
        ({"snapshot_path": "/tmp/x", "select": ["code"]}, "add 'id' to select"),
        ({"snapshot_path": "/tmp/x", "max_deleted_fraction": "1.5"}, "from 0 to 1"),
    ],
)
def test_invalid_change_arguments_fail_before_any_request(
    sandbox_env: Sandbox, context: dict[str, Any], kwargs: dict[str, Any], message: str
) -> None:
    sandbox_env.clear_requests()

    with pytest.raises(InventoryConfigError, match=message):
        pack(**kwargs).execute(context)

    assert sandbox_env.requests == []


def test_snapshots_live_beside_the_output_on_object_storage(
    sandbox_env: Sandbox, context: dict[str, Any], memory_root: str
) -> None:
    from airflow.sdk import ObjectStoragePath

    first = pack(output_path=f"{memory_root}/serials/first.jsonl").execute(context)
    sandbox_env.delete_serial_number(sandbox_env.serial_numbers()[0]["id"])
    second = pack(output_path=f"{memory_root}/serials/second.jsonl").execute(context)

    folder = ObjectStoragePath(f"{memory_root}/serials/_snapshots")
    assert [p.name for p in folder.iterdir()] == [ObjectStoragePath(first["snapshot"]).name]
    assert second["snapshot"].startswith(f"{memory_root}/serials/_snapshots/")
    assert [r["_change"] for r in read_records(second)] == ["deleted"]


def test_a_change_set_over_max_xcom_records_publishes_nothing_and_keeps_no_snapshot(
    sandbox_env: Sandbox, context: dict[str, Any], tmp_path: Path
) -> None:
    from airflow_provider_inventory.records import XComLimitExceededError

    with pytest.raises(XComLimitExceededError, match="max_xcom_records=50"):
        pack(snapshot_path=str(tmp_path), max_xcom_records=50).execute(context)

    assert files_in(tmp_path) == []
    assert len(pack(snapshot_path=str(tmp_path)).execute(context)) == 200
