"""The comparison behind ``changes=True``: sorted runs, snapshots, the guard, read-back."""

from __future__ import annotations

import gzip
import random
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_inventory.exceptions import (
    BadResponseError,
    InventoryConfigError,
    MassDeletionError,
    SnapshotError,
)
from airflow_provider_inventory.records import read_records, write_records
from airflow_provider_inventory.records.changes import (
    ChangeScope,
    ChangeSetBuilder,
    SortedRuns,
    change_set_layout,
    check_max_deleted_fraction,
    snapshot_folder,
)
from airflow_provider_inventory.records.columns import Column, RecordLayout
from airflow_provider_inventory.records.storage import storage_path

SCOPE = ChangeScope("serials", {"connection": "pack_default", "filters": {"product_id": "p1"}})


def record(number: int, version: int = 0) -> dict[str, Any]:
    return {"id": f"sn_{number:05d}", "code": f"C{number}", "version": version}


def run(
    snapshot: Path, records: list[dict[str, Any]], scope: ChangeScope = SCOPE, **kwargs: Any
) -> tuple[list[dict[str, Any]], ChangeSetBuilder]:
    with ChangeSetBuilder(scope, storage_path(str(snapshot)), **kwargs) as builder:
        builder.add_all(records)
        changes = list(builder.changes())
        builder.commit()
    return changes, builder


def test_sorted_runs_merge_many_runs_in_order_keeping_equal_keys_in_listing_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("airflow_provider_inventory.records.changes.MERGE_FAN_IN", 3)
    keys = [f'"{n:04d}"' for n in random.Random(1).sample(range(5000), 500)]
    runs = SortedRuns(str(tmp_path), run_records=7)
    for position, key in enumerate([*keys, keys[0]]):
        runs.add(key, str(position))

    merged = list(runs.merged())

    assert [key for key, _ in merged] == sorted([*keys, keys[0]])
    duplicates = [rest for key, rest in merged if key == keys[0]]
    assert duplicates == ["0", "500"]
    assert len(list(tmp_path.iterdir())) <= 3


def test_changes_of_a_shuffled_listing_spilled_in_many_runs(tmp_path: Path) -> None:
    snapshot = tmp_path / "s.snapshot.gz"
    first = [record(n) for n in range(1000)]
    created, _ = run(snapshot, first, run_records=64)
    assert len(created) == 1000

    second = [record(n, version=1 if n % 100 == 1 else 0) for n in range(1000) if n % 100 != 2]
    second += [record(n) for n in range(1000, 1010)]
    random.Random(2).shuffle(second)
    changes, builder = run(snapshot, second, run_records=64)

    by_kind: dict[str, list[str]] = {"created": [], "updated": [], "deleted": []}
    for change in changes:
        by_kind[change["_change"]].append(change["id"])
    assert by_kind == {
        "created": [f"sn_{n:05d}" for n in range(1000, 1010)],
        "updated": [f"sn_{n:05d}" for n in range(1, 1000, 100)],
        "deleted": [f"sn_{n:05d}" for n in range(2, 1000, 100)],
    }
    assert builder.counts == {"created": 10, "updated": 10, "deleted": 10, "unchanged": 980}
    assert builder.previous_records == 1000
    assert changes[-1] == {"id": "sn_00902", "_change": "deleted", "_seen_at": builder.seen_at}


def test_key_order_of_a_record_is_not_a_change(tmp_path: Path) -> None:
    snapshot = tmp_path / "s.snapshot.gz"
    run(snapshot, [{"id": 7, "a": 1, "b": 2}])

    changes, builder = run(snapshot, [{"b": 2, "a": 1, "id": 7}])

    assert changes == []
    assert builder.counts["unchanged"] == 1


def test_integer_ids_come_back_as_integers_in_tombstones(tmp_path: Path) -> None:
    snapshot = tmp_path / "s.snapshot.gz"
    run(snapshot, [{"id": 10}, {"id": 9}, {"id": "9"}])

    changes, _ = run(snapshot, [{"id": "9"}], max_deleted_fraction=1)

    assert [(c["id"], c["_change"]) for c in changes] == [(10, "deleted"), (9, "deleted")]


def test_duplicate_ids_keep_the_first_record(tmp_path: Path) -> None:
    changes, builder = run(tmp_path / "s.snapshot.gz", [{"id": "a", "v": 1}, {"id": "a", "v": 2}])

    assert [c["v"] for c in changes] == [1]
    assert builder.duplicates == 1


@pytest.mark.parametrize("bad", [None, 1.5, {"x": 1}, True])
def test_a_record_without_a_usable_id_is_refused(tmp_path: Path, bad: Any) -> None:
    with pytest.raises(BadResponseError, match="Record 2 has id"):
        run(tmp_path / "s.snapshot.gz", [{"id": "a"}, {"id": bad}])


def test_guard_counts_against_the_previous_snapshot_and_keeps_it(tmp_path: Path) -> None:
    snapshot = tmp_path / "s.snapshot.gz"
    run(snapshot, [record(n) for n in range(10)])
    kept = snapshot.read_bytes()

    with pytest.raises(MassDeletionError, match=r"3 of the 10 records .*\(30\.0%\)"):
        run(snapshot, [record(n) for n in range(3, 10)])
    assert snapshot.read_bytes() == kept
    assert [p.name for p in tmp_path.iterdir()] == ["s.snapshot.gz"]

    changes, _ = run(snapshot, [record(n) for n in range(3, 10)], max_deleted_fraction=0.3)
    assert [c["_change"] for c in changes] == ["deleted"] * 3


def test_snapshot_of_another_scope_is_refused(tmp_path: Path) -> None:
    snapshot = tmp_path / "s.snapshot.gz"
    run(snapshot, [record(1)])

    with pytest.raises(SnapshotError, match="belongs to another scope"):
        run(snapshot, [record(1)], scope=ChangeScope("serials", {"connection": "other"}))


def test_damaged_snapshot_is_refused(tmp_path: Path) -> None:
    snapshot = tmp_path / "s.snapshot.gz"
    run(snapshot, [record(n) for n in range(5)])
    lines = gzip.decompress(snapshot.read_bytes()).splitlines(keepends=True)
    snapshot.write_bytes(gzip.compress(b"".join(lines[:-1])))

    with pytest.raises(SnapshotError, match="damaged"):
        run(snapshot, [record(n) for n in range(5)])


def test_change_set_layout_makes_room_for_tombstones() -> None:
    layout = RecordLayout(
        ("id", "code"),
        {"id": Column("id", "string", False), "code": Column("code", "string", False)},
    )

    changed = change_set_layout(layout)

    assert changed.fields == ("id", "code", "_change", "_seen_at")
    assert changed.declared["id"].nullable is False
    assert changed.declared["code"].nullable is True
    assert changed.declared["_seen_at"] == Column("_seen_at", "timestamp", False)


def test_parquet_tombstones_read_back_as_written(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    snapshot = tmp_path / "s.snapshot.gz"
    run(snapshot, [record(n) for n in range(10)])
    changes, _ = run(snapshot, [record(n, version=n % 2) for n in range(1, 10)])
    layout = change_set_layout(RecordLayout())

    for name in ("c.parquet", "c.jsonl"):
        write_records(changes, str(tmp_path / name), layout=layout)
        assert list(read_records(str(tmp_path / name))) == changes


@pytest.mark.parametrize(
    ("value", "expected"), [(None, 0.2), ("", 0.2), ("0.5", 0.5), (1, 1.0), (0, 0.0)]
)
def test_max_deleted_fraction(value: Any, expected: float) -> None:
    assert check_max_deleted_fraction(value) == expected


@pytest.mark.parametrize("value", ["-0.1", 2, "lots", True])
def test_max_deleted_fraction_out_of_range(value: Any) -> None:
    with pytest.raises(InventoryConfigError, match="max_deleted_fraction"):
        check_max_deleted_fraction(value)


def test_scope_file_name_is_readable_and_keyed() -> None:
    other = ChangeScope("serials", {"connection": "pack_default", "filters": {"product_id": "p2"}})

    assert SCOPE.file_name.startswith("serials-")
    assert SCOPE.file_name.endswith(".snapshot.gz")
    assert SCOPE.file_name != other.file_name
    assert ChangeScope("a/b c", {}).file_name.startswith("a_b_c-")


def test_snapshot_folder_accepts_a_trailing_slash(tmp_path: Path) -> None:
    assert str(snapshot_folder(f"file://{tmp_path}/snaps/")) == f"file://{tmp_path}/snaps"


def test_changed_records_keep_the_listings_key_order(tmp_path: Path) -> None:
    snapshot = tmp_path / "s.snapshot.gz"
    run(snapshot, [{"id": "a", "z": 1, "b": {"y": 1, "x": 2}}])

    changes, _ = run(
        snapshot, [{"id": "a", "z": 2, "b": {"y": 1, "x": 2}}, {"id": "c", "extra": 1}]
    )

    assert [list(change) for change in changes] == [
        ["id", "z", "b", "_change", "_seen_at"],
        ["id", "extra", "_change", "_seen_at"],
    ]
