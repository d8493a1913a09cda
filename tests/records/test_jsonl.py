"""JSON Lines publishing: round trips on file:// and memory://, gzip, atomicity, memory, manifests."""

from __future__ import annotations

import gzip
import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_inventory._compat import storage_conn_id
from airflow_provider_inventory.exceptions import InventoryConfigError
from airflow_provider_inventory.records import (
    JsonlWriter,
    RecordSelection,
    Watermark,
    read_records,
    storage_path,
    write_jsonl,
)
from airflow_provider_inventory.sandbox import Sandbox
from airflow_provider_inventory.window import Window

RECORDS: list[dict[str, Any]] = [
    {"id": "sn_1", "code": "AAA", "stock_id": None, "updated_at": "2025-05-01T10:00:00.000Z"},
    {
        "id": "sn_2",
        "code": "Zürich ✓",
        "stock_id": "stk_1",
        "updated_at": "2025-05-03T10:00:00.000Z",
    },
    {"id": "sn_3", "code": "C\nD", "stock_id": "stk_2", "updated_at": "2025-05-02T10:00:00.000Z"},
]


def small_records(count: int) -> Iterator[dict[str, Any]]:
    for number in range(count):
        yield {
            "id": f"sn_{number:08d}",
            "product_id": f"prod_{number % 97:05d}",
            "stock_id": None if number % 3 else f"stk_{number % 13}",
            "fulfillment_line_id": None,
            "code": f"CODE-{number:08d}",
            "created_at": "2025-05-01T10:00:00.000Z",
            "updated_at": "2025-05-02T10:00:00.000Z",
        }


def failing_after(records: Iterator[dict[str, Any]], count: int) -> Iterator[dict[str, Any]]:
    for number, record in enumerate(records):
        if number == count:
            raise ConnectionError("listing failed halfway")
        yield record


def leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


# ---------------------------------------------------------------------- round trips


def test_file_round_trip_is_compact_utf8_jsonl(tmp_path: Path) -> None:
    target = tmp_path / "out" / "nested" / "serials.jsonl"  # parents are created

    manifest = write_jsonl(iter(RECORDS), f"file://{target}")

    raw = target.read_bytes()
    assert raw == b"".join(
        json.dumps(r, separators=(",", ":"), ensure_ascii=False).encode() + b"\n" for r in RECORDS
    )
    assert "Zürich ✓".encode() in raw  # UTF-8, not \\u escapes
    assert raw.count(b"\n") == 3  # the newline inside a value is escaped
    assert list(read_records(manifest)) == RECORDS
    assert manifest["path"] == f"file://{target}"
    assert manifest["records"] == 3
    assert manifest["bytes"] == len(raw)
    assert manifest["format"] == "jsonl"
    assert leftovers(target.parent) == ["serials.jsonl"]


def test_plain_and_relative_local_paths_become_absolute_file_uris(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    manifest = write_jsonl(RECORDS, "exports/serials.jsonl")

    assert manifest["path"] == f"file://{tmp_path}/exports/serials.jsonl"
    assert list(read_records(tmp_path / "exports" / "serials.jsonl")) == RECORDS


def test_memory_round_trip(memory_root: str) -> None:
    path = f"{memory_root}/inventory/serials.jsonl"

    manifest = write_jsonl(iter(RECORDS), path)

    stored = ObjectStoragePath(path)
    assert stored.read_bytes().decode().splitlines() == [
        json.dumps(r, separators=(",", ":"), ensure_ascii=False) for r in RECORDS
    ]
    assert manifest["path"] == path
    assert manifest["bytes"] == stored.size()
    assert list(read_records(manifest)) == RECORDS
    assert [p.name for p in ObjectStoragePath(f"{memory_root}/inventory/").iterdir()] == [
        "serials.jsonl"
    ]


@pytest.mark.parametrize("where", ["file", "memory"])
def test_gzip_round_trip(where: str, tmp_path: Path, memory_root: str) -> None:
    base = f"file://{tmp_path}" if where == "file" else memory_root
    path = f"{base}/serials.jsonl.gz"
    records = list(small_records(5_000))

    manifest = write_jsonl(records, path)

    compressed = ObjectStoragePath(path).read_bytes()
    assert compressed[:2] == b"\x1f\x8b"  # gzip magic
    assert gzip.decompress(compressed).count(b"\n") == 5_000
    assert manifest["format"] == "jsonl.gz"
    assert manifest["bytes"] == len(compressed)
    assert manifest["bytes"] < len(gzip.decompress(compressed)) / 4
    assert list(read_records(path)) == records


def test_empty_listing_still_commits_a_valid_empty_file(tmp_path: Path) -> None:
    plain = write_jsonl([], tmp_path / "empty.jsonl")
    packed = write_jsonl([], tmp_path / "empty.jsonl.gz")

    assert (plain["records"], plain["bytes"]) == (0, 0)
    assert (tmp_path / "empty.jsonl").read_bytes() == b""
    assert gzip.decompress((tmp_path / "empty.jsonl.gz").read_bytes()) == b""
    assert packed["records"] == 0
    assert list(read_records(packed)) == []


def test_overwrites_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "serials.jsonl"
    target.write_text("old content\n")

    write_jsonl(RECORDS[:1], target)

    assert list(read_records(target)) == RECORDS[:1]


def test_lone_surrogates_are_escaped_not_lost(tmp_path: Path) -> None:
    records = [{"id": "1", "code": "bad \ud800 text"}, {"id": "2", "code": "fine"}]

    write_jsonl(records, tmp_path / "s.jsonl")

    assert list(read_records(tmp_path / "s.jsonl")) == records


# ---------------------------------------------------------------------- atomicity


@pytest.mark.parametrize("name", ["serials.jsonl", "serials.jsonl.gz"])
def test_failure_halfway_leaves_no_final_and_no_temp_file(tmp_path: Path, name: str) -> None:
    target = tmp_path / name
    seen_temp: list[int] = []

    def source() -> Iterator[dict[str, Any]]:
        yield from failing_after(small_records(50_000), 40_000)

    def spy(records: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for number, record in enumerate(records):
            if number == 39_999:
                # data is really streaming to a hidden temporary sibling, not the final name
                temps = [p for p in tmp_path.iterdir() if p.name.startswith(f".{name}.tmp-")]
                seen_temp.append(temps[0].stat().st_size)
                assert not target.exists()
            yield record

    with pytest.raises(ConnectionError, match="halfway"):
        write_jsonl(spy(source()), target)

    assert seen_temp
    assert seen_temp[0] > 0
    assert leftovers(tmp_path) == []


def test_failure_keeps_the_previous_file_intact(tmp_path: Path) -> None:
    target = tmp_path / "serials.jsonl"
    write_jsonl(RECORDS, target)
    before = target.read_bytes()

    with pytest.raises(ConnectionError):
        write_jsonl(failing_after(small_records(10), 5), target)

    assert target.read_bytes() == before
    assert leftovers(tmp_path) == ["serials.jsonl"]


def test_failure_on_memory_store_leaves_nothing(memory_root: str) -> None:
    with pytest.raises(ConnectionError):
        write_jsonl(failing_after(small_records(100), 50), f"{memory_root}/s.jsonl.gz")

    assert not ObjectStoragePath(f"{memory_root}/s.jsonl.gz").exists()
    folder = ObjectStoragePath(f"{memory_root}/")
    assert not folder.exists() or list(folder.iterdir()) == []


def test_an_unserialisable_record_aborts_with_its_position(tmp_path: Path) -> None:
    records: list[dict[str, Any]] = [{"id": "1"}, {"id": "2", "when": object()}]

    with pytest.raises(TypeError, match="Record 2 cannot be written as JSON"):
        write_jsonl(records, tmp_path / "s.jsonl")

    assert leftovers(tmp_path) == []


# ---------------------------------------------------------------------- memory independence


def test_memory_stays_flat_for_200k_records(tmp_path: Path) -> None:
    # gzip exercises the whole chain (buffer -> compressor -> counting sink -> file); the plain
    # path shares the buffer, and tracing allocations is slow, so one run covers both.
    target = tmp_path / "big.jsonl.gz"
    code = "CODE-0001"

    def tiny_records() -> Iterator[dict[str, Any]]:
        for number in range(200_000):
            yield {"id": number, "code": code}

    tracemalloc.start()
    try:
        manifest = write_jsonl(tiny_records(), target)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert manifest["records"] == 200_000
    assert target.stat().st_size == manifest["bytes"]
    # ~6 MB of JSON, ~40 MB as a list of dicts; a bounded buffer keeps the peak far below both
    assert peak < 2.5 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
    assert sum(1 for _ in read_records(manifest)) == 200_000


# ---------------------------------------------------------------------- the writer API


def test_writer_counters_advance_while_streaming(tmp_path: Path) -> None:
    target = tmp_path / "s.jsonl"
    progress: list[tuple[int, int]] = []

    with JsonlWriter(target) as writer:
        for record in small_records(30_000):
            writer.write(record)
            if writer.records % 10_000 == 0:
                progress.append((writer.records, writer.bytes))
        manifest = writer.commit()

    assert [records for records, _ in progress] == [10_000, 20_000, 30_000]
    assert 0 < progress[0][1] < progress[1][1] < progress[2][1] <= manifest["bytes"]
    assert writer.manifest == manifest
    assert writer.bytes == target.stat().st_size == manifest["bytes"]


def test_writer_commits_on_clean_exit_and_records_window_and_watermark(tmp_path: Path) -> None:
    watermark = Watermark()
    window = Window.of("2025-05-01T00:00:00Z", "2025-06-01T00:00:00Z")

    with JsonlWriter(tmp_path / "s.jsonl", window=window, watermark=watermark) as writer:
        writer.write_many(watermark.track(RECORDS))

    assert writer.manifest is not None
    assert writer.manifest["records"] == 3
    assert writer.manifest["watermark"] == "2025-05-03T10:00:00.000Z"
    assert writer.manifest["window"] == ["2025-05-01T00:00:00.000Z", "2025-06-01T00:00:00.000Z"]
    assert writer.manifest["fetched_at"].endswith("Z")
    json.dumps(writer.manifest)  # XCom-safe


def test_writer_aborts_on_exception_inside_the_block(tmp_path: Path) -> None:
    def run_failing_task() -> JsonlWriter:
        with JsonlWriter(tmp_path / "s.jsonl") as writer:
            writer.write_many(small_records(1000))
            holder.append(writer)
            raise KeyError("operator failed")

    holder: list[JsonlWriter] = []
    with pytest.raises(KeyError):
        run_failing_task()

    writer = holder[0]

    assert writer.manifest is None
    assert leftovers(tmp_path) == []


def test_writer_misuse_is_reported(tmp_path: Path) -> None:
    writer = JsonlWriter(tmp_path / "s.jsonl")
    with pytest.raises(RuntimeError, match="not open; use it in a `with` block"):
        writer.write({"id": "1"})
    assert leftovers(tmp_path) == []  # nothing is created before the block

    with writer:
        writer.write({"id": "1"})
        writer.commit()
        with pytest.raises(RuntimeError, match="already committed"):
            writer.write({"id": "2"})
        with pytest.raises(RuntimeError, match="already committed"):
            writer.commit()
    with pytest.raises(RuntimeError, match="already opened"), writer:
        pass
    assert list(read_records(tmp_path / "s.jsonl")) == [{"id": "1"}]


@pytest.mark.parametrize(
    ("output_path", "message"),
    [
        ("", "output_path is empty"),
        ("   ", "output_path is empty"),
        ("file:///tmp/exports/", "names a directory"),
        (42, "output_path must be a string, a pathlib path or an ObjectStoragePath"),
        (
            "ftp://host/x.jsonl",
            "output_path=.*no filesystem is registered for the 'ftp' scheme.*"
            "fsspec implementation / provider that registers the scheme.*attach a filesystem",
        ),
    ],
)
def test_bad_output_paths_fail_before_anything_is_written(output_path: Any, message: str) -> None:
    with pytest.raises(InventoryConfigError, match=message):
        JsonlWriter(output_path)


def test_an_existing_directory_is_refused_at_open(tmp_path: Path) -> None:
    (tmp_path / "exports").mkdir()
    writer = JsonlWriter(tmp_path / "exports")

    with pytest.raises(InventoryConfigError, match="is an existing directory; name a file"):
        writer.open()

    assert leftovers(tmp_path / "exports") == []


def test_storage_path_keeps_connection_ids() -> None:
    path = storage_path("s3://aws_prod@bucket/inventory/serials.jsonl.gz")

    assert storage_conn_id(path) == "aws_prod"
    assert str(path) == "s3://aws_prod@bucket/inventory/serials.jsonl.gz"


# ---------------------------------------------------------------------- read_records


def test_read_records_accepts_every_input_form(tmp_path: Path) -> None:
    target = tmp_path / "serials.jsonl.gz"
    manifest = write_jsonl(RECORDS, target)

    forms: list[Any] = [
        manifest,
        dict(manifest),
        manifest["path"],
        str(target),
        target,
        ObjectStoragePath(manifest["path"]),
    ]
    for form in forms:
        assert list(read_records(form)) == RECORDS, form


def test_read_records_streams_and_closes_early(tmp_path: Path) -> None:
    target = tmp_path / "s.jsonl"
    write_jsonl(small_records(10_000), target)

    iterator = read_records(target)
    first = next(iterator)
    iterator.close()  # type: ignore[attr-defined]

    assert first["id"] == "sn_00000000"


def test_read_records_skips_blank_lines_and_names_bad_lines(tmp_path: Path) -> None:
    target = tmp_path / "hand.jsonl"
    target.write_text('{"id": "1"}\n\n  \n{"id": "2"}\n{oops}\n')

    iterator = read_records(target)
    assert next(iterator) == {"id": "1"}
    assert next(iterator) == {"id": "2"}
    with pytest.raises(ValueError, match=r"Line 5 of file://.*hand\.jsonl is not valid JSON"):
        next(iterator)

    target.write_text('{"id": "1"}\n[1, 2]')  # last line without newline
    with pytest.raises(ValueError, match=r"Line 2 .* is a JSON list, not an object"):
        list(read_records(target))


def test_read_records_rejects_a_mapping_without_a_path() -> None:
    with pytest.raises(InventoryConfigError, match="without a 'path' string"):
        read_records({"records": 3})


# ---------------------------------------------------------------------- end to end over HTTP


@pytest.mark.sandbox(seed=21, serial_numbers=260, packages=0, stock_locations=0)
def test_pack_listing_to_file_and_back(sandbox_env: Sandbox, tmp_path: Path) -> None:
    from airflow_provider_inventory.hooks.pack import PackHook

    expected = sandbox_env.serial_numbers()
    stock_id = expected[0]["stock_id"]
    selection = RecordSelection.build(
        where={"stock_id": stock_id},
        select=["id", "code", "updated_at"],
        known_fields={
            "id",
            "product_id",
            "stock_id",
            "fulfillment_line_id",
            "code",
            "created_at",
            "updated_at",
        },
    )
    watermark = Watermark()

    with PackHook() as hook:
        manifest = write_jsonl(
            selection.apply(watermark.track(hook.iter_serial_numbers(per_page=50))),
            tmp_path / "serials.jsonl.gz",
            watermark=watermark,
        )

    kept = [
        {"id": r["id"], "code": r["code"], "updated_at": r["updated_at"]}
        for r in expected
        if r["stock_id"] == stock_id
    ]
    assert list(read_records(manifest)) == kept
    assert manifest["records"] == len(kept)
    assert watermark.seen == 260  # every fetched record, not only the kept ones
    assert manifest["watermark"] == max(r["updated_at"] for r in expected)
